"""Our kernels really run: every functional call dispatches exactly our
forward operator, and its backward exactly our backward operator, with no
ATen operator computing the activation."""

from __future__ import annotations

import pytest
import torch
from conftest import SPECS, call, make_input
from torch.utils._python_dispatch import TorchDispatchMode

ops = torch.ops.activations_ext


class Recorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls.append(func)
        return func(*args, **(kwargs or {}))


# ATen calls that move no activation math (autograd bookkeeping).
HARMLESS = {torch.ops.aten.detach.default, torch.ops.aten.alias.default}


def _names(calls):
    return [str(c) for c in calls if c not in HARMLESS]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_forward_and_backward_run_only_our_operators(spec, device):
    x = make_input((4, 5, 6), torch.float32, device, specials=False).requires_grad_(True)
    w = spec.make_weight(x)
    if w is not None:
        w.requires_grad_(True)
    with Recorder() as rec:
        y = call(spec, spec.ours, x, dict(spec.params), w)
    assert _names(rec.calls) == [f"activations_ext.{spec.forward_op}.default"]

    g = torch.randn_like(y)
    inputs = (x,) if w is None else (x, w)
    with Recorder() as rec:
        torch.autograd.grad(y, inputs, g)
    assert _names(rec.calls) == [f"activations_ext.{spec.backward_op}.default"]


@pytest.mark.parametrize("spec", [s for s in SPECS if s.has_inplace], ids=lambda s: s.name)
def test_inplace_runs_only_our_inplace_operator(spec, device):
    leaf = torch.randn(3, 4, device=device, requires_grad=True)
    x = leaf * 2
    with Recorder() as rec:
        spec.ours(x, **spec.params, inplace=True)
    expected = [f"activations_ext.{spec.inplace_op}.default"]
    if spec.inplace_copies_input:
        expected.insert(0, "aten.clone.default")  # the saved input, as torch does
    assert _names(rec.calls) == expected
    with Recorder() as rec:
        torch.autograd.grad(x, leaf, torch.ones_like(x))
    assert f"activations_ext.{spec.backward_op}.default" in _names(rec.calls)
    assert not any(n.startswith("aten.") and spec.name in n for n in _names(rec.calls))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_modules_call_our_operators(spec, device):
    m = spec.module(6) if spec.weight else spec.module(**spec.required_kwargs)
    m = m.to(device)
    if spec.random_in_training:  # its training operators: tests/test_rrelu.py
        m.eval()
    x = torch.randn(2, 6, 3, device=device)
    with Recorder() as rec:
        m(x)
    assert _names(rec.calls) == [f"activations_ext.{spec.forward_op}.default"]


def test_every_spec_operator_has_cpu_and_autograd_kernels():
    has = torch._C._dispatch_has_kernel_for_dispatch_key
    for spec in SPECS:
        for op in filter(None, (spec.forward_op, spec.backward_op, spec.inplace_op)):
            name = f"activations_ext::{op}"
            assert has(name, "CPU"), name
            assert has(name, "Autograd") or has(name, "AutogradCPU"), name
