"""Determinism: the same inputs give bitwise-identical outputs and gradients
every run, including PReLU's weight gradient (a reduction), whatever the
number of CPU threads and with torch.use_deterministic_algorithms(True)."""

from __future__ import annotations

import contextlib

import pytest
import torch
from conftest import SPECS, call, make_input
from models import build, example_input, forward_backward

import activations_ext

# Layouts that take each of PReLU's reduction paths: channels with an inner
# extent (N, C, H, W), channels innermost (channels_last, (N, C) rows), one
# shared weight. Each is large enough to be split across threads.
LAYOUTS = {
    "nchw": lambda dev: make_input((16, 24, 40, 40), torch.float32, dev, specials=False),
    "channels_last": lambda dev: make_input((16, 24, 40, 40), torch.float32, dev, specials=False).contiguous(
        memory_format=torch.channels_last
    ),
    "rows": lambda dev: make_input((2048, 300), torch.float32, dev, specials=False),
}


@contextlib.contextmanager
def _threads(n):
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _run(spec, x, shared_weight):
    x = x.detach().clone().requires_grad_(True)
    w = spec.make_weight(x, per_channel=not shared_weight)
    if w is not None:
        w.requires_grad_(True)
    y = call(spec, spec.ours, x, dict(spec.params), w)
    g = torch.linspace(-1.0, 1.0, y.numel(), device=y.device).view_as(y)
    y.backward(g)
    return [y.detach(), x.grad] + ([] if w is None else [w.grad])


def _assert_bitwise_equal(runs, what):
    first = runs[0]
    for i, other in enumerate(runs[1:], 1):
        for k, (a, b) in enumerate(zip(first, other)):
            assert torch.equal(a, b), f"{what}: run {i} differs in result {k}"


CASES = [(s, layout, False) for s in SPECS for layout in LAYOUTS] + [
    (s, layout, True) for s in SPECS if s.weight for layout in LAYOUTS
]


@pytest.mark.parametrize(
    "spec,layout,shared",
    [pytest.param(*c, id=f"{c[0].name}-{c[1]}{'-shared' if c[2] else ''}") for c in CASES],
)
def test_outputs_and_gradients_are_bitwise_reproducible(spec, layout, shared, device):
    x = LAYOUTS[layout](device)
    if device == "cpu":
        runs = []
        for n in (1, 2, 3, 2):
            with _threads(n):
                runs.append(_run(spec, x, shared))
    else:
        runs = [_run(spec, x, shared) for _ in range(3)]
    _assert_bitwise_equal(runs, f"{spec.name} {layout}")
    if spec.weight:  # the weight gradient is a real sum, not all zeros
        assert float(runs[0][2].abs().min()) > 0


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_ops_run_under_deterministic_algorithms(spec, device):
    x = LAYOUTS["nchw"](device)
    expected = _run(spec, x, False)
    old = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        got = _run(spec, x, False)
    finally:
        torch.use_deterministic_algorithms(old)
    _assert_bitwise_equal([expected, got], spec.name)


@pytest.mark.parametrize("name", ["resnet", "transformer"])
def test_converted_model_trains_bitwise_reproducibly(name):
    runs = []
    for _ in range(2):
        model, _ = activations_ext.convert(build(name))
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        for step in range(2):
            opt.zero_grad()
            y, _ = forward_backward(model, example_input(name, seed=step))
            opt.step()
        runs.append([y] + [p.detach().clone() for p in model.parameters()])
    _assert_bitwise_equal(runs, name)
