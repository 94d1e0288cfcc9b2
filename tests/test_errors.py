"""Bad input gets a Python exception that names the problem."""

from __future__ import annotations

import math
import re

import pytest
import torch
from conftest import SPECS, call
from torch._subclasses.fake_tensor import FakeTensorMode

import activations_ext.functional as AF
from activations_ext.spec import elementwise_operators

ops = torch.ops.activations_ext

BAD_DTYPES = [torch.int32, torch.int64, torch.uint8, torch.bool, torch.complex64]


@pytest.mark.parametrize("dtype", BAD_DTYPES, ids=str)
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_non_float_inputs_are_rejected(spec, dtype, device):
    x = torch.ones(4, 3, device=device).to(dtype)
    w = torch.ones(3, device=device).to(dtype) if spec.weight else None
    with pytest.raises(TypeError, match="floating-point"):
        call(spec, spec.ours, x, dict(spec.params), w)
    if spec.has_inplace:
        with pytest.raises(TypeError, match="floating-point"):
            spec.ours(x, **spec.params, inplace=True)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_backward_operator_checks_its_operands(spec, device):
    op = getattr(ops, spec.backward_op)
    g = torch.randn(4, 3, device=device)
    extra = {
        "leaky_relu_backward": (0.01, False),
        "elu_backward": (1.0, 1.0, 1.0, False),
        "prelu_backward": (torch.ones(1, device=device),),
        "gelu_backward": ("none",),
    }.get(spec.backward_op, tuple(spec.params.values()))
    with pytest.raises(ValueError, match="shape"):
        op(g, torch.randn(4, 2, device=device), *extra)
    with pytest.raises(TypeError, match="dtype"):
        op(g, torch.randn(4, 3, device=device, dtype=torch.float64), *extra)


def test_prelu_weight_size_must_be_one_or_channels(device):
    x = torch.randn(2, 3, 4, device=device)
    with pytest.raises(ValueError, match=r"weight has 2 elements.*= 3"):
        AF.prelu(x, torch.ones(2, device=device))
    with pytest.raises(ValueError, match="weight has 4 elements"):
        AF.prelu(torch.randn(4, device=device), torch.ones(4, device=device))
    with pytest.raises(ValueError, match="0-d input"):
        AF.prelu(torch.tensor(1.0, device=device), torch.ones(3, device=device))
    with pytest.raises(ValueError, match="scalar or 1-d"):
        AF.prelu(x, torch.ones(3, 1, device=device))


def test_prelu_weight_dtype_must_match(device):
    x = torch.randn(2, 3, device=device)
    with pytest.raises(TypeError, match="weight has dtype torch.float64|weight has dtype Double"):
        AF.prelu(x, torch.ones(3, dtype=torch.float64, device=device))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_prelu_weight_device_must_match():
    x = torch.randn(2, 3, device="cuda")
    with pytest.raises(RuntimeError, match="same device"):
        AF.prelu(x, torch.ones(3))


def test_sparse_input_is_rejected():
    x = torch.randn(3, 3).to_sparse()
    with pytest.raises((ValueError, NotImplementedError, RuntimeError)):
        AF.relu(x)


def test_leaky_relu_inplace_negative_slope_backward_raises():
    x = torch.randn(5, requires_grad=True) * 1
    y = AF.leaky_relu(x, -0.5, inplace=True)
    with pytest.raises(RuntimeError, match="negative slope"):
        y.sum().backward()


# ------------------------------------------- the same errors run and traced


def _message(exc: BaseException) -> str:
    # With TORCH_SHOW_CPP_STACKTRACES=1, C++ errors carry their stack after the message.
    return re.split(r"\nException raised from ", str(exc), maxsplit=1)[0]


def _outcome(fn):
    try:
        fn()
    except Exception as exc:
        return type(exc), _message(exc)
    return None


def _x(*shape, dtype=torch.float32):
    return torch.randn(shape).to(dtype)


def _valid_scalars(op: str) -> list:
    """Valid values for an operator's scalar arguments without defaults (a
    backward's): the activation's defaults, else 1.0 / False."""
    spec = elementwise_operators()[op][1]
    out = []
    for arg in getattr(ops, op).default._schema.arguments[2:]:
        if arg.name in spec.params:
            out.append(spec.params[arg.name])
        else:
            out.append({"float": 1.0, "bool": False}[str(arg.type)])
    return out


def _elementwise_cases():
    cases = []
    for op, (kind, _) in elementwise_operators().items():
        if kind == "forward":
            for dtype in (torch.int32, torch.bool, torch.complex64):
                cases.append((op, f"input-{dtype}", lambda dtype=dtype: (_x(4, 3, dtype=dtype),)))
        elif kind == "inplace":
            cases.append((op, "input-int", lambda: (_x(4, 3, dtype=torch.int64),)))
            cases.append((op, "expanded", lambda: (_x(3).expand(4, 3),)))
        else:

            def pair(g, s, op=op):
                return lambda: (g(), s(), *_valid_scalars(op))

            cases += [
                (op, "grad-int", pair(lambda: _x(4, 3, dtype=torch.int32), lambda: _x(4, 3))),
                (op, "saved-int", pair(lambda: _x(4, 3), lambda: _x(4, 3, dtype=torch.int32))),
                (op, "dtypes", pair(lambda: _x(4, 3), lambda: _x(4, 3, dtype=torch.float64))),
                (op, "shapes", pair(lambda: _x(4, 3), lambda: _x(4, 2))),
                (op, "dims", pair(lambda: _x(4, 3), lambda: _x(12))),
            ]
    return cases


def _w(*shape, dtype=torch.float32):
    return torch.rand(shape).to(dtype)


_BAD_WEIGHTS = [
    ("x-int", lambda: (_x(2, 3, 4, dtype=torch.int32), _w(3))),
    ("w-int", lambda: (_x(2, 3, 4), _w(3, dtype=torch.int64))),
    ("w-dtype", lambda: (_x(2, 3, 4), _w(3, dtype=torch.float64))),
    ("w-size", lambda: (_x(2, 3, 4), _w(2))),
    ("w-2d", lambda: (_x(2, 3, 4), _w(3, 1))),
    ("w-1d-input", lambda: (_x(4), _w(4))),
    ("w-0d-input", lambda: (torch.tensor(1.0), _w(3))),
    ("w-int-size", lambda: (_x(2, 3, 4), _w(2, dtype=torch.int32))),
]


def _bias_act_args(x, bias, act="relu", dim=1, alpha=0.0, gain=1.0, clamp=None):
    return (x, bias, act, dim, alpha, gain, clamp)


_BAD_BIAS_ACT = [
    ("x-int", lambda: _bias_act_args(_x(2, 3, dtype=torch.int32), _w(3))),
    ("x-int-no-bias", lambda: _bias_act_args(_x(2, 3, dtype=torch.int32), None)),
    ("bias-int", lambda: _bias_act_args(_x(2, 3), _w(3, dtype=torch.int32))),
    ("bias-dtype", lambda: _bias_act_args(_x(2, 3), _w(3, dtype=torch.float64))),
    ("bias-size", lambda: _bias_act_args(_x(2, 3), _w(2))),
    ("bias-2d", lambda: _bias_act_args(_x(2, 3), _w(3, 1))),
    ("bias-dim", lambda: _bias_act_args(_x(2, 3, 4), _w(3), dim=-1)),
    ("bias-0d-input", lambda: _bias_act_args(torch.tensor(1.0), _w(1))),
    ("dim-range", lambda: _bias_act_args(_x(2, 3), _w(3), dim=2)),
    ("dim-range-negative", lambda: _bias_act_args(_x(2, 3), _w(3), dim=-3)),
    ("act", lambda: _bias_act_args(_x(2, 3), _w(3), act="bogus")),
    ("act-no-bias", lambda: _bias_act_args(_x(2, 3), None, act="gelu_erf")),
    ("clamp", lambda: _bias_act_args(_x(2, 3), _w(3), clamp=-1.0)),
    ("clamp-fraction", lambda: _bias_act_args(_x(2, 3), _w(3), clamp=-0.123456789)),
    ("clamp-nan", lambda: _bias_act_args(_x(2, 3), _w(3), clamp=math.nan)),
    ("softplus-beta", lambda: _bias_act_args(_x(2, 3), _w(3), act="softplus", alpha=0.0)),
    # The order of the checks: input, act, clamp, bias.
    ("x-int-and-act", lambda: _bias_act_args(_x(2, 3, dtype=torch.int32), _w(3), act="bogus")),
    ("act-and-clamp", lambda: _bias_act_args(_x(2, 3), _w(3), act="bogus", clamp=-1.0)),
    ("clamp-and-bias", lambda: _bias_act_args(_x(2, 3), _w(2), clamp=-1.0)),
]


def _channel_cases():
    cases = []
    for name, make in _BAD_WEIGHTS:
        cases.append(("prelu", name, make))
        cases.append(("prelu_backward", name, lambda make=make: (torch.randn(make()[0].shape), *make())))
        cases.append(("prelu_count", name, lambda make=make: (*make(), 1)))
    cases += [
        ("prelu_backward", "grad-shape", lambda: (_x(2, 3, 5), _x(2, 3, 4), _w(3))),
        ("prelu_backward", "grad-dtype", lambda: (_x(2, 3, 4, dtype=torch.float64), _x(2, 3, 4), _w(3))),
        ("prelu_backward", "grad-int", lambda: (_x(2, 3, 4, dtype=torch.int32), _x(2, 3, 4), _w(3))),
        ("prelu_backward", "weight-then-grad", lambda: (_x(2, 3, 5), _x(2, 3, 4), _w(2))),
        ("prelu_count", "per-channel-dim-2", lambda: (_x(2, 3, 4), _w(3), 2)),
        ("prelu_count", "per-channel-dim-minus-1", lambda: (_x(2, 3, 4), _w(3), -1)),
        ("prelu_count", "dim-range", lambda: (_x(2, 3, 4), _w(1), 3)),
        ("prelu_count", "0d-input", lambda: (torch.tensor(1.0), _w(1), 0)),
        ("prelu_count", "weight-then-dim", lambda: (_x(2, 3, 4), _w(3, dtype=torch.float64), 2)),
    ]
    for name, make in _BAD_BIAS_ACT:
        cases.append(("bias_act", name, make))

        def backward(make=make, bias_grad=False):
            x, *rest = make()
            return (torch.randn(x.shape), x, *rest, bias_grad)

        cases.append(("bias_act_backward", name, backward))
        if name not in ("x-int-no-bias", "act-no-bias", "bias-0d-input") and "clamp" not in name:
            cases.append(("bias_act_count", name, lambda make=make: make()[:5]))
    cases += [
        ("bias_act_backward", "grad-shape", lambda: (_x(2, 4), *_bias_act_args(_x(2, 3), _w(3)), False)),
        (
            "bias_act_backward",
            "grad-dtype",
            lambda: (_x(2, 3).double(), *_bias_act_args(_x(2, 3), _w(3)), False),
        ),
        ("bias_act_backward", "bias-grad", lambda: (_x(2, 3), *_bias_act_args(_x(2, 3), None), True)),
        ("bias_act_backward", "bias-then-grad", lambda: (_x(2, 4), *_bias_act_args(_x(2, 3), _w(2)), False)),
        ("bias_act_count", "0d-input", lambda: (torch.tensor(1.0), _w(1), "relu", 0, 0.0)),
        ("bias_act_count", "0d-int-input", lambda: (torch.tensor(1), _w(1), "relu", 0, 0.0)),
        ("bias_act_count", "dim-range", lambda: (_x(2, 3), _w(3), "relu", 2, 0.0)),
    ]
    return cases


_PARAM_CASES = [
    ("leaky_relu", "save-output", lambda: (_x(4, 3), -0.5, True)),
    ("leaky_relu", "save-output-nan", lambda: (_x(4, 3), math.nan, True)),
    ("elu", "save-output", lambda: (_x(4, 3), -0.7, 1.0, 1.0, True)),
    ("leaky_relu_backward", "from-output", lambda: (_x(4, 3), _x(4, 3), -0.5, True)),
    ("elu_backward", "from-output", lambda: (_x(4, 3), _x(4, 3), -0.7, 1.0, 1.0, True)),
    ("softplus", "beta", lambda: (_x(4, 3), 0.0)),
    ("softplus", "beta-negative-zero", lambda: (_x(4, 3), -0.0, 5.0)),
    ("softplus_backward", "beta", lambda: (_x(4, 3), _x(4, 3), 0.0, 20.0)),
    ("gelu", "approximate", lambda: (_x(4, 3), "bogus")),
    ("gelu_backward", "approximate", lambda: (_x(4, 3), _x(4, 3), "Tanh")),
    # The order of the checks: the tensors, then the parameters.
    ("leaky_relu", "input-then-save-output", lambda: (_x(4, 3, dtype=torch.int32), -0.5, True)),
    ("elu", "input-then-save-output", lambda: (_x(4, 3, dtype=torch.int32), -0.7, 1.0, 1.0, True)),
    ("softplus", "input-then-beta", lambda: (_x(4, 3, dtype=torch.int32), 0.0)),
    ("gelu", "input-then-approximate", lambda: (_x(4, 3, dtype=torch.int32), "bogus")),
    ("gelu_backward", "pair-then-approximate", lambda: (_x(4, 3), _x(4, 2), "bogus")),
    ("softplus_backward", "pair-then-beta", lambda: (_x(4, 3), _x(4, 2), 0.0, 20.0)),
    ("leaky_relu_backward", "pair-then-from-output", lambda: (_x(4, 3), _x(3), -0.5, True)),
    ("hardtanh", "min-above-max", lambda: (_x(4, 3), 1.0, -1.0)),
    ("hardtanh_", "min-above-max", lambda: (_x(4, 3), 1.0, -1.0)),
    ("hardtanh_backward", "min-above-max", lambda: (_x(4, 3), _x(4, 3), 1.0, -1.0)),
    ("softshrink", "negative-lambd", lambda: (_x(4, 3), -0.5)),
    ("softshrink", "nan-lambd", lambda: (_x(4, 3), math.nan)),
    ("softshrink", "lambd-beyond-float16", lambda: (_x(4, 3, dtype=torch.float16), 1e5)),
    ("softshrink_backward", "negative-lambd", lambda: (_x(4, 3), _x(4, 3), -0.5)),
    ("rrelu_noise", "shape", lambda: (_x(4, 3), _x(4, 2))),
    ("rrelu_noise", "dtype", lambda: (_x(4, 3), _x(4, 3, dtype=torch.float64))),
    ("rrelu_with_noise", "shape", lambda: (_x(4, 3), _x(3))),
    ("rrelu_with_noise", "integer", lambda: (_x(4, 3, dtype=torch.int32), _x(4, 3))),
    ("gated", "shape", lambda: (_x(4, 3), _x(4, 2), "silu", 0.0)),
    ("gated", "dtype", lambda: (_x(4, 3), _x(4, 3, dtype=torch.float64), "silu", 0.0)),
    ("gated", "integer-up", lambda: (_x(4, 3), _x(4, 3, dtype=torch.int32), "silu", 0.0)),
    ("gated", "act", lambda: (_x(4, 3), _x(4, 3), "rrelu", 0.0)),
    ("gated", "softplus-beta", lambda: (_x(4, 3), _x(4, 3), "softplus", 0.0)),
    ("gated_backward", "grad-shape", lambda: (_x(4, 2), _x(4, 3), _x(4, 3), "silu", 0.0)),
    ("gated_backward", "pair-then-act", lambda: (_x(4, 3), _x(4, 3), _x(3), "bogus", 0.0)),
    (
        "gated_backward_",
        "grad-dtype",
        lambda: (_x(4, 3, dtype=torch.float64), _x(4, 3), _x(4, 3), "silu", 0.0),
    ),
    ("gated_backward_", "expanded", lambda: (_x(4, 3), _x(1, 3).expand(4, 3), _x(4, 3), "silu", 0.0)),
    ("gated_split", "odd", lambda: (_x(4, 3), "silu", 0.0, -1, False)),
    ("gated_split", "0d", lambda: (torch.tensor(1.0), "silu", 0.0, 0, False)),
    ("gated_split", "dim-range", lambda: (_x(4, 2), "silu", 0.0, 2, False)),
    ("gated_split", "integer", lambda: (_x(4, 2, dtype=torch.int32), "silu", 0.0, -1, False)),
    ("gated_split", "act", lambda: (_x(4, 2), "bogus", 0.0, -1, False)),
    ("gated_split_backward", "grad-shape", lambda: (_x(4, 2), _x(4, 2), "silu", 0.0, -1, False)),
    ("gated_split_backward", "odd", lambda: (_x(4, 1), _x(4, 3), "silu", 0.0, -1, False)),
]

ERROR_CASES = _elementwise_cases() + _channel_cases() + _PARAM_CASES


def test_every_operator_has_error_cases():
    registered = {
        s.name.split("::", 1)[1]
        for s in torch._C._jit_get_all_schemas()
        if s.name.startswith("activations_ext::")
    }
    assert {op for op, _, _ in ERROR_CASES} == registered


@pytest.mark.parametrize(
    "op,make", [pytest.param(op, make, id=f"{op}-{name}") for op, name, make in ERROR_CASES]
)
def test_fake_kernels_raise_what_the_operators_raise(op, make):
    """Each bad input raises the same exception with the same message
    eagerly (CPU) and under FakeTensorMode, as torch.compile and
    torch.export trace."""
    fn = getattr(ops, op).default
    args = make()
    eager = _outcome(lambda: fn(*args))
    assert eager is not None, f"activations_ext.{op} accepted the bad input"
    mode = FakeTensorMode()
    fake_args = [mode.from_tensor(a) if isinstance(a, torch.Tensor) else a for a in args]
    with mode:
        fake = _outcome(lambda: fn(*fake_args))
    assert fake == eager


@pytest.mark.parametrize(
    "name,args",
    [
        ("hardtanh", {"min_val": 1.0, "max_val": -1.0}),
        ("softshrink", {"lambd": -0.5}),
        ("rrelu", {"lower": 0.5, "upper": 0.1}),
        ("rrelu", {"lower": 0.5, "upper": 0.1, "training": True}),
        ("celu", {"alpha": 0.0}),
    ],
    ids=str,
)
def test_bad_parameters_raise_torchs_exception_naming_the_parameter(name, args, device):
    x = torch.randn(4, 3, device=device)
    with pytest.raises(Exception) as theirs:
        getattr(torch.nn.functional, name)(x, **args)
    with pytest.raises(type(theirs.value)) as ours:
        getattr(AF, name)(x, **args)
    assert any(p in str(ours.value) for p in args if p != "training"), str(ours.value)


def test_hardshrink_takes_a_negative_lambd_as_torch_does(device):
    x = torch.randn(4, 3, device=device)
    assert torch.equal(AF.hardshrink(x, -1.0), torch.nn.functional.hardshrink(x, -1.0))
    assert torch.equal(AF.hardshrink(x, -1.0), x)
