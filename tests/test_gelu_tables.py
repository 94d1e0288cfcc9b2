"""GELU's float32 forward and derivative over their whole range, densely.

On AVX-512 processors both come from 32 pieces of polynomials in |x| < 8
(csrc/cpu/gelu_tables.h, tools/fit_gelu_tables.py) and the erfc form
beyond; elsewhere from the erfc form everywhere. The suite's other tests see
a few thousand random inputs; here every piece is swept (its ends, where
the index arithmetic rounds, included), and the accuracy rule holds per
element against torch and the float64 reference.
"""

from __future__ import annotations

import pytest
import torch
from conftest import accuracy_failure, call, reference_forward, reference_grads

from activations_ext.spec import get_spec

SPEC = get_spec("gelu")


def _sweep() -> torch.Tensor:
    # 200,000 points over [-9, 9], the pieces' ends k / 4 and the float
    # neighbours of each end, and the switch to the erfc form at -8.
    grid = torch.linspace(-9.0, 9.0, 200_001, dtype=torch.float32)
    ends = torch.arange(-40, 41, dtype=torch.float32) / 4
    up = torch.nextafter(ends, torch.full_like(ends, float("inf")))
    down = torch.nextafter(ends, torch.full_like(ends, -float("inf")))
    edge = [float.fromhex(h) for h in ("0x1.fffffep2", "0x1.000002p3")]
    edge = torch.tensor([-8.0, 8.0] + edge + [-v for v in edge])
    return torch.cat([grid, ends, up, down, edge])


def _positions(x: torch.Tensor):
    # The same values in every position of a SIMD register, and in the tail.
    yield x
    yield x[1:]
    yield x[3:-5].flip(0).contiguous()


@pytest.mark.parametrize("which", ["forward", "gradient"])
def test_gelu_float32_dense(which):
    for x in _positions(_sweep()):
        if which == "forward":
            ours = call(SPEC, SPEC.ours, x, {})
            theirs = call(SPEC, SPEC.reference, x, {})
            ref, spread = reference_forward(SPEC, x, {})
        else:
            g = torch.ones_like(x)

            def grad(fn, x=x, g=g):
                t = x.clone().requires_grad_(True)
                return torch.autograd.grad(call(SPEC, fn, t, {}), t, g)[0]

            ours, theirs = grad(SPEC.ours), grad(SPEC.reference)
            (ref,), (spread,) = reference_grads(SPEC, x, {}, None, g)
        assert accuracy_failure(ours, theirs, ref, torch.float32, spread=spread) is None


def test_gelu_float32_same_bits_in_every_position():
    # A lane's result never depends on its neighbours (the erfc form is
    # chosen lane by lane where some lane of a register needs it).
    x = _sweep()
    y = SPEC.ours(x)
    for shift in (1, 5, 13):
        assert torch.equal(SPEC.ours(x[shift:]), y[shift:])
    t = x.clone().requires_grad_(True)
    (d,) = torch.autograd.grad(SPEC.ours(t).sum(), t)
    t = x[7:].clone().requires_grad_(True)
    (d7,) = torch.autograd.grad(SPEC.ours(t).sum(), t)
    assert torch.equal(d7, d[7:])


def test_gelu_float32_special_values():
    x = torch.tensor([float("inf"), -float("inf"), float("nan"), 0.0, -0.0, -8.0, 8.0, -100.0])
    y = SPEC.ours(x)
    # +inf: inf (torch's NaN there is its defect: inf * (1 + erf(inf)) / 2).
    assert y[0].item() == float("inf")
    assert y[1].isnan() and y[2].isnan()
    assert y[3].item() == 0.0 and not y[3].signbit() and y[4].signbit()
    # gelu(-8) = -8 Phi(-8), about -5.0e-15 (torch's float32 gives -0); the
    # erfc form there, whose rounded argument -x / sqrt(2) costs about
    # x^2 / 2 half-ulps.
    assert abs(y[5].item() / (-8 * 6.220960574271819e-16) - 1) < 4e-6
    assert y[6].item() == 8.0 and y[7].item() == 0.0
    t = x.clone().requires_grad_(True)
    (d,) = torch.autograd.grad(SPEC.ours(t).sum(), t)
    t2 = x.clone().requires_grad_(True)
    (d_torch,) = torch.autograd.grad(torch.nn.functional.gelu(t2).sum(), t2)
    # NaN where torch's is (x = +inf: inf * pdf; x = -inf, NaN), 0.5 at zero.
    assert torch.equal(d.isnan(), d_torch.isnan())
    assert d[3].item() == 0.5 and d[4].item() == 0.5
    assert d[6].item() == 1.0 and d[7].item() == 0.0


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_gelu_every_narrow_value(dtype):
    # Every bit pattern of the type (the shorter polynomial of the float16
    # and bfloat16 forwards, and the float table of their derivatives).
    x = torch.arange(-(2**15), 2**15, dtype=torch.int32).to(torch.int16).view(dtype)
    ours = SPEC.ours(x)
    ref, spread = reference_forward(SPEC, x, {})
    assert accuracy_failure(ours, SPEC.reference(x), ref, dtype, spread=spread) is None
    keep = ~x.isnan()
    x = x[keep]
    g = torch.ones_like(x)
    t = x.clone().requires_grad_(True)
    (d,) = torch.autograd.grad(SPEC.ours(t), t, g)
    t = x.clone().requires_grad_(True)
    (d_torch,) = torch.autograd.grad(SPEC.reference(t), t, g)
    (ref,), (spread,) = reference_grads(SPEC, x, {}, None, g)
    assert accuracy_failure(d, d_torch, ref, dtype, spread=spread) is None
