"""DeadUnitMonitor: per-unit counts fused into the forward kernels."""

from __future__ import annotations

import pytest
import torch
from test_dispatch import Recorder, _names
from torch.utils._python_dispatch import TorchDispatchMode

import activations_ext.functional as AF
from activations_ext import nn as ann
from activations_ext.monitor import DeadUnitMonitor
from activations_ext.spec import SPECS


class SizeRecorder(TorchDispatchMode):
    """Records each operator with the largest tensor argument it reads."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        sizes = [
            a.numel() for a in torch.utils._pytree.tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)
        ]
        self.calls.append((func, max(sizes, default=0)))
        return func(*args, **(kwargs or {}))


def _module(spec):
    return (
        spec.module(5)
        if spec.weight
        else spec.module(**dict(spec.param_cases[-1]) if spec.name == "gelu" else {})
    )


def _active_per_unit(x, dim):
    """Elements with a positive pre-activation per unit along `dim`."""
    return (x > 0).sum(dim=[d for d in range(x.dim()) if d != dim])


# Units of SHAPES (5 along each unit dim) that the batches below leave dead,
# and one that is active in a single element of the first batch only. The
# set is not mirror-symmetric, so a flipped or shifted count vector names
# other units.
DEAD = [0, 3]
ACTIVE_ONCE = 4


def _batches(shape, dim, device):
    """Two batches of pre-activations: unit 0 negative throughout, unit 3
    exactly zero (a pre-activation of 0 is inactive), unit 4 positive in one
    element of the first batch (active once is not dead)."""
    gen = torch.Generator().manual_seed(sum(shape) + dim)
    batches = []
    for b in range(2):
        x = torch.randn(shape, generator=gen)
        units = x.movedim(dim, 0)  # a view: writes land in x
        units[0] = -units[0].abs() - 0.1
        units[3] = 0.0
        units[ACTIVE_ONCE] = -units[ACTIVE_ONCE].abs() - 0.1
        if b == 0:
            units[(ACTIVE_ONCE,) + (0,) * (x.dim() - 2) + (1,)] = 0.5
        batches.append(x.to(device))
    return batches


SHAPES = [((6, 5), 1), ((4, 5, 3, 2), 1), ((3, 7, 5), 2)]


@pytest.mark.parametrize("shape,dim", SHAPES, ids=str)
@pytest.mark.parametrize("spec", [s for s in SPECS if s.monitored], ids=lambda s: s.name)
def test_counts_outputs_and_gradients(spec, shape, dim, device):
    module = _module(spec).to(device)
    if spec.weight and dim != 1:
        module = spec.module(1).to(device)  # a shared weight counts along any dim
    x1, x2 = _batches(shape, dim, device)
    x1.requires_grad_(True)
    y_plain = [module(x1), module(x2)]
    (g_plain,) = torch.autograd.grad(y_plain[0].sum(), x1)
    monitor = DeadUnitMonitor(module)
    with monitor:
        y = [module(x1), module(x2)]
    (g,) = torch.autograd.grad(y[0].sum(), x1)
    for ours, plain in zip(y, y_plain):
        torch.testing.assert_close(ours, plain, rtol=0, atol=0)
    torch.testing.assert_close(g, g_plain)
    (name,) = monitor.results()
    res = monitor.results()[name]
    assert res["fused"] and res["batches"] == 2 and res["unit_dim"] == dim
    expected = _active_per_unit(x1, dim) + _active_per_unit(x2, dim)
    assert expected[ACTIVE_ONCE] == 1
    assert torch.equal(monitor.records[name].active_per_unit, expected)
    assert res["units"] == shape[dim]
    assert res["dead_unit_indices"] == DEAD
    assert res["dead_units"] == len(DEAD) and res["dead_fraction"] == pytest.approx(len(DEAD) / shape[dim])
    expected_per_batch = [1.0 - float((x > 0).sum()) / x.numel() for x in (x1, x2)]
    assert res["inactive_fraction_per_batch"] == pytest.approx(expected_per_batch)


def _prelu_inputs(shape, dim, device, channels_last=False):
    # Dead units 1 and 2 along `dim` (one of them exact zeros and a NaN,
    # neither of which is active) next to live ones.
    gen = torch.Generator().manual_seed(len(shape) + dim)
    x = torch.randn(shape, generator=gen)
    units = x.movedim(dim, 0)
    units[1] = -units[1].abs()
    units[2] = 0.0
    units[(2,) + (0,) * (x.dim() - 1)] = -0.0
    units[(2,) + (-1,) * (x.dim() - 1)] = float("nan")
    x = x.to(device)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


@pytest.mark.parametrize(
    "shape,dim,per_channel,channels_last",
    [
        ((4, 5, 3, 2), 1, True, False),
        ((4, 5, 3, 2), 1, True, True),
        ((6, 5), 1, True, False),
        ((4, 5, 3, 2), 1, False, False),
        ((4, 5, 3, 2), 0, False, False),
        ((3, 7, 5), 2, False, False),
        ((3, 7, 5), -1, False, False),
    ],
    ids=str,
)
def test_prelu_count_operator(shape, dim, per_channel, channels_last, device):
    """prelu_count: the output of prelu, and per unit along `dim` how many
    inputs were positive; its gradients are prelu's."""
    x = _prelu_inputs(shape, dim % len(shape), device, channels_last).requires_grad_(True)
    channels = shape[1] if per_channel else 1
    w = torch.linspace(0.1, 0.3, channels, device=device).requires_grad_(True)
    y, counts = torch.ops.activations_ext.prelu_count(x, w, dim)
    expected = _active_per_unit(x.detach(), dim % len(shape))
    assert counts.dtype == torch.int64 and not counts.requires_grad
    assert torch.equal(counts, expected), (counts, expected)
    assert counts[1] == 0 and counts[2] == 0 and int(counts.count_nonzero()) == counts.numel() - 2
    y_ref = AF.prelu(x, w)
    torch.testing.assert_close(y, torch.nn.functional.prelu(x, w), rtol=0, atol=0, equal_nan=True)
    g = torch.randn_like(y)
    grads = torch.autograd.grad(y, (x, w), g)
    grads_ref = torch.autograd.grad(y_ref, (x, w), g)
    for a, b in zip(grads, grads_ref):
        torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)


def test_prelu_count_needs_dim_1_for_a_weight_per_channel(device):
    x = torch.randn(3, 7, 5, device=device)
    with pytest.raises(ValueError, match="counts along dim 1"):
        torch.ops.activations_ext.prelu_count(x, torch.rand(7, device=device), 2)


def test_dead_channels_along_dim_1(device):
    """A convolutional net: dead channels along dim 1, non-ReLU activations
    (ELU, GELU) counted in bias_act's kernel and PReLU in prelu_count's."""
    torch.manual_seed(0)
    conv1, conv2 = torch.nn.Conv2d(3, 6, 3), torch.nn.Conv2d(6, 6, 1)
    with torch.no_grad():
        conv1.bias.fill_(0.5)
        conv1.bias[[0, 2, 5]] = -100.0  # these channels can never activate
        conv2.bias.fill_(0.5)
        conv2.bias[[1, 4]] = -100.0
    model = torch.nn.Sequential(conv1, ann.ELU(), conv2, ann.PReLU(6), ann.GELU()).to(device)
    x = torch.randn(4, 3, 9, 9, device=device)
    monitor = DeadUnitMonitor(model)
    with monitor:
        with Recorder() as rec:
            y = model(x)
    ours = [n for n in _names(rec.calls) if "activations_ext" in n]
    assert ours == [
        "activations_ext.bias_act_count.default",
        "activations_ext.prelu_count.default",
        "activations_ext.bias_act_count.default",
    ]
    with torch.no_grad():
        pre = {"1": conv1(x)}
        pre["3"] = conv2(torch.nn.functional.elu(pre["1"]))
        pre["4"] = torch.nn.functional.prelu(pre["3"], model[3].weight)
        torch.testing.assert_close(y, torch.nn.functional.gelu(pre["4"]))
    expected_dead = {"1": [0, 2, 5], "3": [1, 4], "4": [1, 4]}
    res = monitor.results()
    for name, dead in expected_dead.items():
        assert res[name]["fused"] and res[name]["unit_dim"] == 1 and res[name]["units"] == 6
        assert torch.equal(monitor.records[name].active_per_unit, _active_per_unit(pre[name], 1)), name
        assert res[name]["dead_unit_indices"] == dead, name
        inactive = float((pre[name] <= 0).sum()) / pre[name].numel()
        assert res[name]["inactive_fraction"] == pytest.approx(inactive), name


def test_prelu_per_channel_on_another_unit_dim(device):
    """A PReLU with one weight per channel (dim 1) whose units are the last
    dim counts in a separate pass, from the input."""
    module = ann.PReLU(7).to(device)
    x = _prelu_inputs((3, 7, 5), 2, device)
    with DeadUnitMonitor(module) as monitor:
        y = module(x)
    torch.testing.assert_close(y, torch.nn.functional.prelu(x, module.weight), rtol=0, atol=0, equal_nan=True)
    (res,) = monitor.results().values()
    assert not res["fused"] and res["unit_dim"] == 2 and res["units"] == 5
    assert res["dead_unit_indices"] == [1, 2]
    (rec,) = monitor.records.values()
    assert torch.equal(rec.active_per_unit, _active_per_unit(x, 2))


def test_finds_dead_units_and_costs_nothing_when_stopped(device):
    torch.manual_seed(0)
    lin = torch.nn.Linear(8, 6).to(device)
    with torch.no_grad():
        lin.bias[[1, 4]] = -100.0  # these two units can never activate
    act = ann.ReLU()
    model = torch.nn.Sequential(lin, act)
    x = torch.randn(32, 8, device=device)
    monitor = DeadUnitMonitor(model)
    with monitor:
        with SizeRecorder() as sizes:
            model(x)
        model(x)
    res = monitor.results()["1"]
    assert res["dead_unit_indices"] == [1, 4]
    assert res["dead_fraction"] == pytest.approx(2 / 6)
    # Monitored: one fused operator; nothing else reads an activation-sized
    # tensor (the rest is bookkeeping on the 6 per-unit counts).
    ours = [str(f) for f, _ in sizes.calls if "activations_ext" in str(f)]
    assert ours == ["activations_ext.bias_act_count.default"]
    big = [str(f) for f, n in sizes.calls if n >= x.numel() and "activations_ext" not in str(f)]
    assert big == ["aten.addmm.default"] or big == ["aten.linear.default"], big
    # Stopped: exactly the plain operator again.
    with Recorder() as rec:
        model(x)
    assert [n for n in _names(rec.calls) if "activations_ext" in n] == ["activations_ext.relu.default"]
    assert "|" in monitor.table()


def test_inplace_and_unit_dim_override(device):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), ann.ReLU(inplace=True), ann.LeakyReLU(0.1))
    model = model.to(device)
    x = torch.randn(2, 3, 8, 8, device=device)
    monitor = DeadUnitMonitor(model, unit_dims={"2": 3})
    with monitor:
        y = model(x)
    res = monitor.results()
    assert not res["1"]["fused"] and res["1"]["units"] == 4  # in place: counted from the output
    assert res["2"]["fused"] and res["2"]["unit_dim"] == 3 and res["2"]["units"] == 6
    conv = model[0](x)
    assert res["1"]["inactive_fraction"] == pytest.approx(float((conv <= 0).sum()) / conv.numel())
    torch.testing.assert_close(y, torch.nn.functional.leaky_relu(torch.relu(conv), 0.1))


def test_reset_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), ann.ELU(), torch.nn.Linear(4, 4), ann.PReLU(4))
    monitor = DeadUnitMonitor(model)
    with monitor:
        for _ in range(3):
            model(torch.randn(5, 4))
        monitor.reset()
        model(torch.randn(5, 4))
    assert all(r["batches"] == 1 for r in monitor.results().values())
    monitor.plot(str(tmp_path / "dead.png"))
    assert (tmp_path / "dead.png").stat().st_size > 1000
