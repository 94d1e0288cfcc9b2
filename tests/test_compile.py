"""torch.compile: models built from our modules compile with fullgraph=True
(no graph breaks) and match eager, forward and backward."""

from __future__ import annotations

import pytest
import torch

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
