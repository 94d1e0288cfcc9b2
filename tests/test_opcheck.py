"""torch.library.opcheck on every operator: schema, fake kernels, autograd
registration and AOT dispatch. A registered operator without samples here
fails `test_every_operator_has_samples`."""

from __future__ import annotations

import pytest
import torch
from conftest import make_input

ops = torch.ops.activations_ext


def _x(device, shape=(3, 4, 5), rg=False, seed=0, cl=False):
    t = make_input(shape, torch.float32, device, seed=seed, specials=False)
    if cl:
        t = t.contiguous(memory_format=torch.channels_last)
    return t.requires_grad_(rg)


# Arguments after the tensors, per operator (one sample each).
_UNARY = {
    "relu": [()],
    "sigmoid": [()],
    "leaky_relu": [(0.2, False), (0.2, True)],
    "elu": [(0.7, 1.0, 1.0, False), (1.6732, 1.0507, 1.0, True), (0.5, 2.0, 0.5, False)],
    "tanh": [()],
    "gelu": [("none",), ("tanh",)],
    "silu": [()],
    "softplus": [(1.0, 20.0), (2.0, 1.0), (-0.5, 3.0)],
    "mish": [()],
    "selu": [()],
    "hardswish": [()],
    "hardsigmoid": [()],
    "softsign": [()],
    "relu6": [()],
    "hardtanh": [(-1.0, 1.0), (-0.3, 2.5)],
    "logsigmoid": [()],
    "tanhshrink": [()],
    "softshrink": [(0.5,), (0.0,)],
    "hardshrink": [(0.5,), (-1.0,)],
    "threshold": [(0.5, -2.0), (-1.0, 20.0)],
    "quick_gelu": [()],
    "relu_squared": [()],
}
_INPLACE = {
    "relu_": [()],
    "leaky_relu_": [(0.3,)],
    "elu_": [(0.9, 1.0, 1.0), (1.6732, 1.0507, 1.0)],
    "silu_": [()],
    "mish_": [()],
    "selu_": [()],
    "hardswish_": [()],
    "hardsigmoid_": [()],
    "relu6_": [()],
    "hardtanh_": [(-0.5, 0.5)],
    "threshold_": [(0.1, 3.0)],
}
# Backward operators: (what the saved tensor is, extra arguments).
_BACKWARD = {
    "relu_backward": [("relu", ())],
    "sigmoid_backward": [("sigmoid", ())],
    "tanh_backward": [("tanh", ())],
    "leaky_relu_backward": [("input", (0.2, False)), ("leaky", (0.2, True))],
    "elu_backward": [("input", (0.7, 1.0, 1.0, False)), ("elu", (0.7, 1.0, 1.0, True))],
    "gelu_backward": [("input", ("none",)), ("input", ("tanh",))],
    "silu_backward": [("input", ())],
    "softplus_backward": [("input", (1.0, 20.0)), ("input", (2.0, 1.0))],
    "mish_backward": [("input", ())],
    "hardswish_backward": [("input", ())],
    "hardsigmoid_backward": [("input", ())],
    "softsign_backward": [("input", ())],
    "relu6_backward": [("input", ())],
    "hardtanh_backward": [("input", (-1.0, 1.0))],
    "logsigmoid_backward": [("input", ())],
    "tanhshrink_backward": [("input", ())],
    "softshrink_backward": [("input", (0.5,))],
    "hardshrink_backward": [("input", (0.5,))],
    "threshold_backward": [("input", (0.5, -2.0))],
    "quick_gelu_backward": [("input", ())],
    "relu_squared_backward": [("input", ())],
}


def _saved(kind, device, rg):
    x = _x(device, seed=2)
    if kind == "input":
        return x.requires_grad_(rg)
    y = {
        "relu": torch.relu,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "leaky": lambda t: torch.nn.functional.leaky_relu(t, 0.2),
        "elu": lambda t: torch.nn.functional.elu(t, 0.7),
    }[kind](x)
    return y.detach().requires_grad_(rg)


def _samples(device):
    samples = []
    for rg in (False, True):
        for name, cases in _UNARY.items():
            for extra in cases:
                samples.append((name, (_x(device, rg=rg), *extra)))
                samples.append((name, (_x(device, (2, 3, 4, 5), rg=rg, cl=True), *extra)))
        for name, cases in _BACKWARD.items():
            for kind, extra in cases:
                samples.append((name, (_x(device, rg=rg, seed=1), _saved(kind, device, rg), *extra)))
        w = lambda n, rg=rg: torch.rand(n, device=device).requires_grad_(rg)  # noqa: E731
        samples += [
            ("prelu", (_x(device, rg=rg), w(4))),
            ("prelu", (_x(device, (2, 4, 3, 3), rg=rg, cl=True), w(4))),
            ("prelu", (_x(device, rg=rg), w(1))),
            ("prelu_backward", (_x(device, rg=rg, seed=1), _x(device, seed=2, rg=rg), w(4))),
            ("prelu_backward", (_x(device, rg=rg, seed=1), _x(device, seed=2, rg=rg), w(1))),
            ("bias_act", (_x(device, rg=rg), w(4), "gelu", 1, 0.0, 1.0, None)),
            ("bias_act", (_x(device, rg=rg), w(5), "leaky_relu", -1, 0.2, 1.41, 2.0)),
            ("bias_act", (_x(device, (2, 4, 3, 3), rg=rg, cl=True), w(4), "silu", 1, 0.0, 1.0, None)),
            ("bias_act", (_x(device, rg=rg), None, "tanh", 1, 0.0, 2.0, None)),
            (
                "bias_act_backward",
                (_x(device, rg=rg, seed=1), _x(device, seed=2, rg=rg), w(4), "elu", 1, 1.0, 1.0, None, True),
            ),
            (
                "bias_act_backward",
                (
                    _x(device, rg=rg, seed=1),
                    _x(device, seed=2, rg=rg),
                    w(5),
                    "sigmoid",
                    2,
                    0.0,
                    2.0,
                    0.5,
                    True,
                ),
            ),
            (
                "bias_act_backward",
                (
                    _x(device, rg=rg, seed=1),
                    _x(device, seed=2, rg=rg),
                    None,
                    "relu",
                    1,
                    0.0,
                    1.0,
                    None,
                    False,
                ),
            ),
        ]
    # In-place operators take inputs that do not require grad here (a leaf
    # that requires grad cannot be modified in place).
    for name, cases in _INPLACE.items():
        for extra in cases:
            samples.append((name, (_x(device), *extra)))
            samples.append((name, (_x(device, (2, 3, 4, 5), cl=True), *extra)))
    # The dead-unit monitor's counting forwards return counts, which have no
    # gradient; their inputs do not require grad.
    samples += [
        ("bias_act_count", (_x(device), torch.rand(4, device=device), "relu", 1, 0.0)),
        ("bias_act_count", (_x(device, (2, 4, 3, 3), cl=True), torch.rand(4, device=device), "gelu", 1, 0.0)),
        ("prelu_count", (_x(device), torch.rand(4, device=device), 1)),
        ("prelu_count", (_x(device), torch.rand(1, device=device), 2)),
        # RReLU's training operators: the draws and the noise carry no gradient.
        ("rrelu_noise", (_x(device), torch.rand(3, 4, 5, device=device))),
        ("rrelu_noise", (_x(device, (2, 3, 4, 5), cl=True), torch.rand(2, 3, 4, 5, device=device))),
        ("rrelu_with_noise", (_x(device, rg=True), torch.rand(3, 4, 5, device=device) + 0.1)),
        # The gated operators (their in-place backward on inputs that do not
        # require grad, as the other in-place operators).
        ("gated_backward_", (_x(device, seed=1), _x(device, seed=2), _x(device, seed=3), "silu", 0.0)),
        ("gated", (_x(device), _x(device, seed=1), "leaky_relu", 0.2, True)),
    ]
    for rg in (False, True):
        samples += [
            ("gated", (_x(device, rg=rg), _x(device, seed=1, rg=rg), "silu", 0.0)),
            (
                "gated",
                (
                    _x(device, (2, 3, 4, 5), rg=rg, cl=True),
                    _x(device, (2, 3, 4, 5), seed=1, rg=rg, cl=True),
                    "gelu_tanh",
                    0.0,
                ),
            ),
            (
                "gated_backward",
                (_x(device, rg=rg), _x(device, seed=1, rg=rg), _x(device, seed=2, rg=rg), "gelu", 0.0),
            ),
            ("gated_split", (_x(device, (3, 4, 6), rg=rg), "silu", 0.0, -1, False)),
            ("gated_split", (_x(device, (4, 3, 5), rg=rg), "sigmoid", 0.0, 0, True)),
            (
                "gated_split_backward",
                (_x(device, (3, 4, 3), rg=rg), _x(device, (3, 4, 6), seed=1, rg=rg), "silu", 0.0, 2, False),
            ),
        ]
    return samples


def _registered_operators():
    names = {s.name for s in torch._C._jit_get_all_schemas() if s.name.startswith("activations_ext::")}
    return sorted(n.split("::", 1)[1] for n in names)


def test_every_operator_has_samples():
    covered = {name for name, _ in _samples("cpu")}
    missing = [op for op in _registered_operators() if op not in covered]
    assert not missing, f"operators without opcheck samples: {missing}"
    assert len(_registered_operators()) >= 34


def _ids(samples):
    return [f"{name}-{i}" for i, (name, _) in enumerate(samples)]


@pytest.mark.parametrize("index", range(len(_samples("cpu"))), ids=_ids(_samples("cpu")))
def test_opcheck(index, device):
    name, args = _samples(device)[index]
    torch.library.opcheck(getattr(ops, name).default, args)
