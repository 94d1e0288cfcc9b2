"""torch.compile: models built from our modules compile with fullgraph=True
(no graph breaks), with static and dynamic shapes, and match eager, forward
and backward."""

from __future__ import annotations

import copy

import pytest
import torch
from models import build, every_activation, example_input, forward_backward
from torch._dynamo.testing import CompileCounterWithBackend

import activations_ext
from activations_ext import nn as ann


class Net(torch.nn.Module):
    def __init__(self, inplace=False):
        super().__init__()
        self.l1 = torch.nn.Linear(10, 16)
        self.a1 = ann.ReLU(inplace=inplace)
        self.l2 = torch.nn.Linear(16, 16)
        self.a2 = ann.LeakyReLU(0.1, inplace=inplace)
        self.l3 = torch.nn.Linear(16, 16)
        self.a3 = ann.PReLU(16)
        self.l4 = torch.nn.Linear(16, 16)
        self.a4 = ann.ELU(0.8, inplace=inplace)
        self.l5 = torch.nn.Linear(16, 16)
        self.a5 = ann.LeakyReLU(0.05, save_output=True)
        self.l6 = torch.nn.Linear(16, 1)
        self.a6 = ann.Sigmoid()

    def forward(self, x):
        x = self.a1(self.l1(x))
        x = self.a2(self.l2(x))
        x = self.a3(self.l3(x))
        x = self.a4(self.l4(x))
        x = self.a5(self.l5(x))
        return self.a6(self.l6(x))


def _run(model, x):
    model.zero_grad()
    y = model(x)
    y.sum().backward()
    return y.detach(), [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize(
    "backend,dynamic,inplace",
    [("inductor", False, False), ("aot_eager", True, False), ("aot_eager", False, True)],
)
def test_compiled_model_matches_eager(backend, dynamic, inplace):
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = Net(inplace=inplace)
    compiled = torch.compile(model, backend=backend, fullgraph=True, dynamic=dynamic)
    for batch in (8, 5):
        x = torch.randn(batch, 10)
        y_e, g_e = _run(model, x)
        y_c, g_c = _run(compiled, x)
        torch.testing.assert_close(y_c, y_e)
        for a, b in zip(g_c, g_e):
            torch.testing.assert_close(a, b)


def test_compiled_functional_inplace_on_input():
    import activations_ext.functional as AF

    torch._dynamo.reset()

    def f(x):
        y = x * 2
        AF.relu(y, inplace=True)
        return AF.elu(y, inplace=True) + 1

    compiled = torch.compile(f, backend="aot_eager", fullgraph=True)
    x = torch.randn(6, 7)
    torch.testing.assert_close(compiled(x), f(x))


# ------------------------------------------- whole models, converted to ours


def _compiled_forward_backward(compiled, x):
    y, grads = forward_backward(compiled, x)
    return y, {n.removeprefix("_orig_mod."): g for n, g in grads.items()}


MODEL_CASES = [
    pytest.param("resnet", "aot_eager", True, id="resnet-aot_eager-dynamic"),
    pytest.param("transformer", "aot_eager", True, id="transformer-aot_eager-dynamic"),
    pytest.param("resnet", "inductor", False, id="resnet-inductor"),
    pytest.param("transformer", "inductor", True, id="transformer-inductor-dynamic"),
]


@pytest.mark.parametrize("name,backend,dynamic", MODEL_CASES)
def test_converted_model_compiles_whole_and_matches_eager(name, backend, dynamic):
    """A ResNet-style CNN (in-place ReLUs after residual adds, batch norm in
    training mode) and a Transformer encoder, converted to our modules,
    compile into one graph forward and backward; with dynamic=True other
    batch sizes reuse it (no recompilation)."""
    torch._dynamo.reset()
    eager, _ = activations_ext.convert(build(name))
    model = copy.deepcopy(eager)
    counter = CompileCounterWithBackend(backend)
    compiled = torch.compile(model, backend=counter, fullgraph=True, dynamic=dynamic)
    frames = []
    for batch in (4, 6, 9) if dynamic else (4,):
        x = example_input(name, batch=batch)
        y_e, g_e = forward_backward(eager, x)
        y_c, g_c = _compiled_forward_backward(compiled, x)
        frames.append(counter.frame_count)
        torch.testing.assert_close(y_c, y_e, rtol=1e-4, atol=1e-5)
        assert list(g_c) == list(g_e)
        for n in g_e:
            torch.testing.assert_close(g_c[n], g_e[n], rtol=1e-4, atol=1e-5, msg=n)
    assert frames[0] >= 1 and frames == [frames[0]] * len(frames), f"recompiled: {frames}"
    for (n, b_c), b_e in zip(model.named_buffers(), eager.buffers()):
        torch.testing.assert_close(b_c, b_e, msg=n)


def test_converted_model_compiles_under_autocast():
    torch._dynamo.reset()
    eager, _ = activations_ext.convert(build("transformer"))
    compiled = torch.compile(copy.deepcopy(eager), backend="aot_eager", fullgraph=True)
    x = example_input("transformer")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y_e, g_e = forward_backward(eager, x)
        y_c, g_c = _compiled_forward_backward(compiled, x)
    assert y_c.dtype == y_e.dtype == torch.bfloat16
    torch.testing.assert_close(y_c, y_e)
    for n in g_e:
        assert g_c[n].dtype == torch.float32
        torch.testing.assert_close(g_c[n], g_e[n], rtol=2e-2, atol=1e-3, msg=n)


# ----------------------------------------------------- every activation


@pytest.mark.parametrize("inplace", [False, True], ids=["out-of-place", "inplace"])
def test_every_activation_compiles_with_inductor(inplace):
    """Every activation of the table, each parameter set, in one model:
    inductor compiles it into one graph (fullgraph), forward and backward,
    with dynamic batch sizes, and matches eager."""
    torch._dynamo.reset()
    eager = every_activation(inplace=inplace)
    model = copy.deepcopy(eager)
    counter = CompileCounterWithBackend("inductor")
    compiled = torch.compile(model, backend=counter, fullgraph=True, dynamic=True)
    frames = []
    for batch in (5, 8):
        x = torch.randn(batch, 16)
        y_e, g_e = forward_backward(eager, x)
        y_c, g_c = _compiled_forward_backward(compiled, x)
        frames.append(counter.frame_count)
        torch.testing.assert_close(y_c, y_e, rtol=1e-4, atol=1e-5)
        for n in g_e:
            torch.testing.assert_close(g_c[n], g_e[n], rtol=1e-4, atol=1e-5, msg=n)
    assert frames[0] >= 1 and frames == [frames[0]] * len(frames), f"recompiled: {frames}"
