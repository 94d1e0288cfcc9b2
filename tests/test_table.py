"""The spec table against every layer of the package.

`activations_ext.spec.SPECS` is the source the Python side derives from;
the operators are registered from csrc/. Here every row is walked through
every layer, and every registered operator back to a row, so that an
activation added in one place but not another fails with the layer named:
its operators, their fake, autograd, CPU, CUDA and batching kernels, the
dead-unit monitor, convert, bias_act, the functional and module, the README.
"""

from __future__ import annotations

import pathlib

import pytest
import torch
from torch._library.simple_registry import singleton
from torch._subclasses.fake_tensor import FakeTensorMode

import activations_ext
import activations_ext.functional as AF
from activations_ext import monitor
from activations_ext import nn as ann
from activations_ext.monitor import DeadUnitMonitor
from activations_ext.ops import _bias_act_reference
from activations_ext.spec import BIAS_ACT_FORMS, SPECS, elementwise_operators

A = torch.ops.activations_ext

# Operators of no single row: bias_act and the dead-unit monitor's counting forms.
EXTRAS = {
    "bias_act",
    "bias_act_backward",
    "bias_act_count",
    "prelu_count",
    "rrelu_noise",
    "rrelu_with_noise",
    "gated",
    "gated_backward",
    "gated_backward_",
    "gated_split",
    "gated_split_backward",
}
GATED_FUNCTIONS = {"GATED_ACTS", "gated", "gated_split", "geglu", "glu", "reglu", "swiglu"}

REGISTERED = sorted(
    s.name.split("::", 1)[1]
    for s in torch._C._jit_get_all_schemas()
    if s.name.startswith("activations_ext::")
)

README = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()


def _ids(specs):
    return [s.name for s in specs]


# ---------------------------------------------------------------- operators


def test_every_registered_operator_belongs_to_a_row_or_the_extras():
    from_table = {op for s in SPECS for op in s.operators}
    assert set(REGISTERED) - from_table - EXTRAS == set(), "registered, but in no spec row"
    assert from_table - set(REGISTERED) == set(), "in the spec table, but not registered"
    assert EXTRAS <= set(REGISTERED)


@pytest.mark.parametrize("op", REGISTERED)
def test_every_operator_has_every_kernel(op):
    qualname = f"activations_ext::{op}"
    entry = singleton.find(qualname)
    assert entry.fake_impl.kernel is not None, f"{op}: no fake kernel (activations_ext/ops.py)"
    keys = ["CPU", "Autograd", "FuncTorchBatched"] + (["CUDA"] if activations_ext.has_cuda_kernels() else [])
    for key in keys:
        assert torch._C._dispatch_has_kernel_for_dispatch_key(qualname, key), f"{op}: no {key} kernel"


def _scalars(op, spec):
    """Valid arguments after the tensors: the schema's defaults, else the
    activation's, else 1.0 / False."""
    out = []
    for arg in getattr(A, op).default._schema.arguments:
        if str(arg.type) == "Tensor":
            continue
        if arg.has_default_value():
            out.append(arg.default_value)
        elif arg.name in spec.params:
            out.append(spec.params[arg.name])
        else:
            out.append({"float": 1.0, "bool": False}[str(arg.type)])
    return out


@pytest.mark.parametrize("op", sorted(elementwise_operators()))
def test_fake_kernel_traces_like_the_operator(op):
    """Each elementwise operator's fake kernel gives what the operator gives
    (shape, dtype, strides), on a channels_last input."""
    kind, spec = elementwise_operators()[op]
    fn = getattr(A, op).default
    x = torch.randn(2, 3, 4, 5).contiguous(memory_format=torch.channels_last)
    tensors = (x,) if kind != "backward" else (torch.randn(2, 3, 4, 5), x)
    args = (*tensors, *_scalars(op, spec))
    mode = FakeTensorMode()
    fake_args = [mode.from_tensor(a) if isinstance(a, torch.Tensor) else a for a in args]
    with mode:
        fake = fn(*fake_args)
    real = fn(*[a.clone() if isinstance(a, torch.Tensor) else a for a in args])
    if kind == "inplace":
        assert fake is None and real is None
        return
    assert (fake.shape, fake.dtype, fake.stride()) == (real.shape, real.dtype, real.stride())


@pytest.mark.parametrize("spec", SPECS, ids=_ids(SPECS))
def test_backward_saves_what_the_row_says(spec):
    """The backward schema names its saved tensor as csrc/table.h's row
    does: ``result`` for the output, ``self``/``saved`` for the input."""
    saved = getattr(A, spec.backward_op).default._schema.arguments[1].name
    if spec.saves == "output":
        assert saved == "result"
    else:
        assert spec.saves == "input" and saved in ("self", "saved")


# ---------------------------------------------------- functional and module


def test_public_names_follow_the_table():
    assert set(AF.__all__) == {s.name for s in SPECS} | {"BIAS_ACTS", "bias_act"} | GATED_FUNCTIONS
    assert set(ann.__all__) == {s.module_name for s in SPECS} | {"LinearAct", "GLU", "GatedMLP"}
    for name in AF.__all__:
        assert hasattr(AF, name), name
    for name in ann.__all__:
        assert hasattr(ann, name), name
    # A function or class written without a row in the table:
    public_functions = {
        n for n, v in vars(AF).items() if callable(v) and getattr(v, "__module__", None) == AF.__name__
    }
    public_classes = {n for n, v in vars(ann).items() if isinstance(v, type) and v.__module__ == ann.__name__}
    assert {n for n in public_functions if not n.startswith("_")} <= set(AF.__all__)
    assert {n for n in public_classes if not n.startswith("_")} <= set(ann.__all__)


@pytest.mark.parametrize("spec", SPECS, ids=_ids(SPECS))
def test_functional_and_module(spec):
    assert spec.ours is getattr(AF, spec.name)
    assert issubclass(spec.module, spec.torch_module) and spec.module.__module__ == "activations_ext.nn"
    # The monitor and bias_act read the parameters off the module by name.
    module = spec.module(**spec.required_kwargs)
    for name, default in spec.params.items():
        assert getattr(module, name) == default, name


@pytest.mark.parametrize("spec", SPECS, ids=_ids(SPECS))
def test_readme_lists_it(spec):
    assert f"`{spec.name}(input" in README, "README: the functional"
    assert f"`{spec.module_name}`" in README, "README: the module"


# ------------------------------------------------------------------ convert


@pytest.mark.parametrize("spec", SPECS, ids=_ids(SPECS))
def test_convert_maps_it_both_ways(spec):
    model, summary = activations_ext.convert(torch.nn.Sequential(spec.torch_module(**spec.required_kwargs)))
    assert type(model[0]) is spec.module and len(summary) == 1
    model, summary = activations_ext.revert(model)
    assert type(model[0]) is spec.torch_module and len(summary) == 1


# ----------------------------------------------------------------- bias_act


@pytest.mark.parametrize("spec", SPECS, ids=_ids(SPECS))
def test_bias_act_takes_it_where_it_can(spec):
    """bias_act takes every activation without a tensor parameter and with
    at most one scalar parameter, ``alpha`` standing for a float one."""
    if spec.weight:
        assert not spec.bias_act
        return
    if len(spec.params) <= 1:
        assert spec.bias_act
    if not spec.bias_act:
        return
    assert spec.name in AF.BIAS_ACTS
    floats = [k for k, v in spec.params.items() if isinstance(v, float)]
    if not floats:
        assert spec.bias_act_alpha is None and AF.BIAS_ACTS[spec.name] is None
        return
    if spec.bias_act_alpha is None:
        # Several parameters and none singled out (Hardtanh's range):
        # bias_act computes torch's defaults.
        assert len(floats) > 1 and AF.BIAS_ACTS[spec.name] is None
        return
    assert spec.bias_act_alpha in floats
    assert AF.BIAS_ACTS[spec.name] == (spec.bias_act_alpha, spec.params[spec.bias_act_alpha])


@pytest.mark.parametrize("act", list(BIAS_ACT_FORMS))
def test_bias_act_computes_every_form(act):
    """The C++ operator knows each act of the table and computes the
    activation the table says (its torch reference)."""
    x = torch.randn(6, 5, dtype=torch.float64) * 3
    bias = torch.randn(5, dtype=torch.float64)
    form = BIAS_ACT_FORMS[act]
    alpha = None if form.alpha is None else 0.3
    y = AF.bias_act(x, bias, act, dim=-1, alpha=alpha)
    reference = _bias_act_reference(x, bias, act, -1, 0.0 if alpha is None else alpha, 1.0, None)
    torch.testing.assert_close(y, reference)
    if form.spec is not None:
        expected = form.spec.reference(x + bias, **form.act_params(0.0 if alpha is None else alpha))
        torch.testing.assert_close(y, expected)


# ------------------------------------------------------- dead-unit monitor


def _grid():
    fine = torch.tensor([1e-3, 1e-6, 1e-12], dtype=torch.float64)
    return torch.cat([torch.linspace(-8, 8, 801, dtype=torch.float64), fine, -fine, torch.zeros(1)])


@pytest.mark.parametrize("spec", SPECS, ids=_ids(SPECS))
def test_monitor_watches_it_with_a_threshold(spec):
    """A monitored activation's module is watched, its output threshold
    act(0) separates the inactive region (pre-activation <= 0) from the
    rest, and a monitor run counts it, fused where bias_act or prelu_count
    can take it, from the output in place."""
    if not spec.monitored:
        assert spec.module not in ann._MONITORABLE
        return
    assert spec.module in ann._MONITORABLE
    module = spec.module(**spec.required_kwargs).double()
    x = _grid()
    with torch.no_grad():
        y = module(x)
    threshold = monitor._output_threshold(module)
    assert ((y > threshold) == (x > 0)).all(), "not increasing through act(0)"
    if spec.bias_act:
        assert monitor._bias_act_form(module) is not None, "no fused counting form"

    variants = [(spec.module(**spec.required_kwargs), True)]
    if spec.has_inplace:
        variants.append((spec.module(inplace=True), False))
    for m, fused in variants:
        model = torch.nn.Sequential(m)
        rows = x.reshape(-1, 1).repeat(1, 3).float()
        with DeadUnitMonitor(model) as mon, torch.no_grad():
            model(rows.clone())
        result = mon.results()["0"]
        assert result["batches"] == 1 and result["fused"] == fused
        expected = 1.0 - float((rows > 0).sum()) / rows.numel()
        assert result["inactive_fraction"] == pytest.approx(expected)
