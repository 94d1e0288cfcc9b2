"""Eager calls enter the dispatcher directly (activations_ext._C), and every
kind of tracing still sees torch.ops: torch.compile, torch.export,
torch.fx, __torch_function__ overrides (tensor subclasses,
TorchFunctionMode) and TorchDispatchMode."""

from __future__ import annotations

import pytest
import torch
from conftest import ALL_CASES, SPECS, call, make_input
from test_dispatch import Recorder
from torch.overrides import TorchFunctionMode

import activations_ext
import activations_ext.functional as AF
from activations_ext import nn as ann

ops = torch.ops.activations_ext


def _inputs(spec, inplace=False):
    x = make_input((3, 4, 5), torch.float32, specials=False)
    return x, spec.make_weight(x)


def _ours(spec, params, x, w, inplace=False):
    if spec.weight:
        return spec.ours(x, w)
    if inplace:
        return spec.ours(x, **params, inplace=True)
    return spec.ours(x, **params)


class _Raising:
    """Stands in for a torch.ops overload: any call through it fails."""

    def __call__(self, *args, **kwargs):
        raise AssertionError("the eager call went through torch.ops")


@pytest.fixture
def no_torch_ops(monkeypatch):
    """Makes every torch.ops handle the functional module holds raise."""
    for name in dir(AF):
        if name.startswith("_") and isinstance(getattr(AF, name), torch._ops.OpOverload):
            monkeypatch.setattr(AF, name, _Raising())


@pytest.mark.parametrize("spec,params", ALL_CASES)
def test_eager_calls_take_the_direct_path(spec, params, no_torch_ops):
    x, w = _inputs(spec)
    y = _ours(spec, params, x, w)
    assert torch.equal(y, call(spec, spec.reference, x, params, w)) or not spec.exact
    if spec.has_inplace and all(v >= 0 for v in params.values() if isinstance(v, float)):
        t = x.clone()
        assert _ours(spec, params, t, w, inplace=True) is t


def test_bias_act_takes_the_direct_path(no_torch_ops):
    x = torch.randn(4, 3)
    AF.bias_act(x, torch.randn(3), act="gelu", dim=-1)


class _Seen(TorchFunctionMode):
    """Records the functions it sees and changes nothing; being active, it
    also forces the torch.ops path."""

    def __init__(self):
        super().__init__()
        self.funcs = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.funcs.append(func)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("spec,params", ALL_CASES)
def test_direct_path_equals_torch_ops(spec, params):
    """Bit for bit the same results and gradients as the torch.ops path
    (which a TorchFunctionMode forces)."""
    x, w = _inputs(spec)
    x.requires_grad_(True)
    y_fast = _ours(spec, params, x, w)
    (g_fast,) = torch.autograd.grad(y_fast.sum(), x)
    with _Seen():
        y_ops = _ours(spec, params, x, w)
        (g_ops,) = torch.autograd.grad(y_ops.sum(), x)
    assert torch.equal(y_fast, y_ops)
    assert torch.equal(g_fast, g_ops)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_bad_input_gives_the_same_error_either_way(spec):
    x = torch.ones(3, 4, dtype=torch.int32)
    w = torch.ones(4, dtype=torch.int32) if spec.weight else None
    with pytest.raises(TypeError) as fast:
        call(spec, spec.ours, x, dict(spec.params), w)
    with _Seen(), pytest.raises(TypeError) as slow:
        call(spec, spec.ours, x, dict(spec.params), w)
    assert str(fast.value) == str(slow.value)


@pytest.mark.parametrize("spec,params", ALL_CASES)
def test_torch_function_mode_sees_our_operator(spec, params):
    x, w = _inputs(spec)
    with _Seen() as mode:
        _ours(spec, params, x, w)
    assert getattr(ops, spec.forward_op).default in mode.funcs


class _Logged(torch.Tensor):
    """A tensor subclass that records the functions called on it."""

    calls: list = []

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        cls.calls.append(func)
        return super().__torch_function__(func, types, args, kwargs or {})


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_tensor_subclass_override_is_honoured(spec):
    x, w = _inputs(spec)
    _Logged.calls = []
    y = _ours(spec, dict(spec.params), x.as_subclass(_Logged), w)
    assert isinstance(y, _Logged)
    assert getattr(ops, spec.forward_op).default in _Logged.calls


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_torch_dispatch_mode_sees_our_operator(spec):
    x, w = _inputs(spec)
    with Recorder() as mode:
        _ours(spec, dict(spec.params), x, w)
    assert getattr(ops, spec.forward_op).default in mode.calls


def _every_activation_model():
    layers = []
    for spec in SPECS:
        layers.append(spec.module(num_parameters=4) if spec.weight else spec.module(**spec.params))
    return torch.nn.Sequential(*layers)


def test_fx_symbolic_trace_records_our_operators():
    gm = torch.fx.symbolic_trace(_every_activation_model())
    targets = {n.target for n in gm.graph.nodes if n.op == "call_function"}
    for spec in SPECS:
        assert getattr(ops, spec.forward_op).default in targets, spec.name
    x = torch.randn(2, 4, 3)
    model = _every_activation_model()
    assert torch.equal(torch.fx.symbolic_trace(model)(x), model(x))


def test_compile_traces_our_operators_without_graph_breaks():
    torch._dynamo.reset()
    model = _every_activation_model()
    explanation = torch._dynamo.explain(model)(torch.randn(2, 4, 3))
    assert explanation.graph_break_count == 0
    assert explanation.graph_count == 1
    text = "".join(str(g.graph) for g in explanation.graphs)
    assert "activations_ext" in text


def test_export_keeps_our_operators():
    model = _every_activation_model().eval()
    program = torch.export.export(model, (torch.randn(2, 4, 3),))
    targets = {str(n.target) for n in program.graph.nodes if n.op == "call_function"}
    for spec in SPECS:
        assert f"activations_ext.{spec.forward_op}.default" in targets, spec.name


def test_modules_take_the_direct_path(no_torch_ops):
    x = torch.randn(2, 4, 3)
    for spec in SPECS:
        m = spec.module(num_parameters=4) if spec.weight else spec.module(**spec.params)
        m(x)
    ann.LinearAct(3, 5, act="gelu")(x)
    assert activations_ext.has_cuda_kernels() in (True, False)
