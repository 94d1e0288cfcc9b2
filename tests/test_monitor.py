"""DeadUnitMonitor: per-unit counts fused into the forward kernels."""

from __future__ import annotations

import pytest
import torch
from test_dispatch import Recorder, _names
from torch.utils._python_dispatch import TorchDispatchMode

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


def _expected_active(x, module, dim):
    pre = x
    return (pre > 0).sum(dim=[d for d in range(x.dim()) if d != dim])


SHAPES = [((6, 5), 1), ((4, 5, 3, 2), 1), ((3, 7, 5), 2)]


@pytest.mark.parametrize("shape,dim", SHAPES, ids=str)
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_counts_outputs_and_gradients(spec, shape, dim, device):
    module = _module(spec).to(device)
    if spec.weight and dim != 1:
        module = spec.module(1).to(device)  # a shared weight counts along any dim
    x = torch.randn(*shape, device=device, dtype=torch.float64 if False else torch.float32)
    x = x.requires_grad_(True)
    y_plain = module(x)
    (g_plain,) = torch.autograd.grad(y_plain.sum(), x)
    monitor = DeadUnitMonitor(module)
    with monitor:
        y = module(x)
        y2 = module(x * -1.0)
    (g,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(y, y_plain, rtol=0, atol=0)
    torch.testing.assert_close(g, g_plain)
    (res,) = monitor.results().values()
    assert res["fused"] and res["batches"] == 2 and res["unit_dim"] == dim
    active = _expected_active(x, module, dim) + _expected_active(-x, module, dim)
    assert res["units"] == shape[dim]
    assert res["dead_units"] == int((active == 0).sum())
    expected_first = 1.0 - float((x > 0).sum()) / x.numel()
    assert res["inactive_fraction_per_batch"][0] == pytest.approx(expected_first)
    assert y2.shape == x.shape


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
