"""Shared fixtures and references for the test suite.

The torch reference of every activation lives in the spec table
(``activations_ext.spec.SPECS[i].reference``); this file holds the inputs that
hurt and the accuracy rule the tests apply.
"""

from __future__ import annotations

import math

import pytest
import torch

import activations_ext  # noqa: F401  (registers the operators)
from activations_ext.spec import SPECS

DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
HALF_DTYPES = (torch.float16, torch.bfloat16)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def pytest_generate_tests(metafunc):
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", DEVICES)


def spec_params(spec):
    """pytest params over (spec, parameter set), with readable ids."""
    out = []
    for case in spec.param_cases:
        pid = spec.name + ("" if not case else "-" + "-".join(f"{k}={v}" for k, v in case.items()))
        out.append(pytest.param(spec, dict(case), id=pid))
    return out


ALL_CASES = [p for s in SPECS for p in spec_params(s)]
SPEC_IDS = [s.name for s in SPECS]


def call(spec, fn, x, params, weight=None, **kw):
    """Calls a functional of `spec` (ours or torch's) with its parameters."""
    if spec.weight:
        return fn(x, weight)
    return fn(x, **params, **kw)


def hard_values(dtype: torch.dtype) -> torch.Tensor:
    """Values that break naive kernels: signed zeros, infinities, NaN, tiny and
    huge magnitudes, points where exp over- or underflows in this dtype, and
    points just around zero."""
    finfo = torch.finfo(dtype)
    vals = [
        0.0,
        -0.0,
        math.inf,
        -math.inf,
        math.nan,
        finfo.tiny,
        -finfo.tiny,
        finfo.max,
        -finfo.max,
        1e-8,
        -1e-8,
        1e-3,
        -1e-3,
        0.5,
        -0.5,
        1.0,
        -1.0,
        5.0,
        -5.0,
        11.0,
        -11.0,
        12.0,
        -12.0,
        17.0,
        -17.0,
        30.0,
        -30.0,
        88.0,
        -88.0,
        89.0,
        -89.0,
        104.0,
        -104.0,
        200.0,
        -200.0,
        710.0,
        -710.0,
        -745.0,
    ]
    vals = [v for v in vals if math.isnan(v) or math.isinf(v) or abs(v) <= finfo.max]
    return torch.tensor(vals, dtype=torch.float64).to(dtype)


def make_input(shape, dtype, device="cpu", seed=0, scale=3.0, specials=True, nan=True) -> torch.Tensor:
    """Random values of `shape`, with the hard values written over the first
    elements when `specials` is true (NaN among them unless `nan` is false)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * scale
    x = x.to(dtype)
    if specials and x.numel() > 0:
        hv = hard_values(dtype)
        if not nan:
            hv = hv[~hv.isnan()]
        k = min(hv.numel(), x.numel())
        x.view(-1)[:k] = hv[:k]
    return x.to(device)


def max_rel_error(y: torch.Tensor, ref: torch.Tensor, dtype: torch.dtype, mask=None) -> float:
    """Largest |y - ref| / max(|ref|, tiny) over finite reference values
    (and where `mask` is true)."""
    y = y.double().cpu()
    ref = ref.double().cpu()
    keep = torch.isfinite(ref)
    if mask is not None:
        keep &= mask
    if not keep.any():
        return 0.0
    floor = torch.finfo(dtype).tiny
    err = (y[keep] - ref[keep]).abs() / ref[keep].abs().clamp_min(floor)
    return float(err.max())


def assert_matches_reference(ours, theirs, ref, dtype, exact=False, what="", nan_subset=False):
    """Our result against torch's, both judged against a float64 reference.

    - NaN exactly where torch has NaN, except where torch's NaN is a defect
      (the float64 reference is not NaN): there we must match the reference
      (`nan_subset`: wherever torch has NaN we may give another value);
      infinities equal;
    - `exact`: bit-identical to torch (up to the sign of zero);
    - otherwise our worst relative error is at most twice torch's own in the
      same dtype, plus one rounding step of the dtype (so that a torch result
      that happens to be exact does not demand exactness from us); in float64,
      where torch's result is the reference, within 1e-9 relative of it.
    """
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, what
    o = ours.detach().cpu().double()
    t = theirs.detach().cpu().double()
    r = ref.detach().cpu().double()
    # We never give NaN where torch does not. Where torch gives NaN but the
    # float64 reference does not (a defect of torch's kernel, e.g. its float32
    # gelu(+inf) on the CPU), ours must equal the reference instead.
    assert not (o.isnan() & ~t.isnan()).any(), f"{what}: NaN where torch has none"
    torch_defect = t.isnan() & ~r.isnan()
    fixed = torch_defect & ~o.isnan()
    if fixed.any():
        close = (o[fixed] == r[fixed]) | (
            (o[fixed] - r[fixed]).abs() <= 4 * torch.finfo(dtype).eps * r[fixed].abs()
        )
        assert close.all(), f"{what}: where torch gives NaN, ours differs from the reference"
        t = torch.where(fixed, o, t)
    if not nan_subset:
        assert torch.equal(o.isnan() | fixed, t.isnan() | fixed), f"{what}: NaN positions differ from torch"
    both_inf = torch.isinf(t) & torch.isinf(r)
    torch.testing.assert_close(
        o[both_inf], t[both_inf], rtol=0, atol=0, equal_nan=True, msg=f"{what}: infinities differ from torch"
    )
    # Where only one of torch's result and the reference overflowed, ours must
    # match one of them within a few rounding steps.
    one_inf = (torch.isinf(t) ^ torch.isinf(r)) & ~t.isnan()
    if one_inf.any():
        tol = 4 * torch.finfo(dtype).eps
        near_t = (o[one_inf] == t[one_inf]) | ((o[one_inf] - t[one_inf]).abs() <= tol * t[one_inf].abs())
        near_r = (o[one_inf] - r[one_inf]).abs() <= tol * r[one_inf].abs()
        assert (near_t | near_r).all(), f"{what}: results near overflow differ from torch and the reference"
    finite = torch.isfinite(t) & torch.isfinite(r)
    if exact:
        torch.testing.assert_close(o, t, rtol=0, atol=0, equal_nan=True, msg=f"{what}: not bit-exact")
        return
    if dtype == torch.float64:
        # The float64 reference is torch's own float64 result: demand close
        # agreement (output-based derivatives such as tanh's 1 - y^2 amplify
        # last-bit differences of the forward near saturation), except for
        # magnitudes below 1e-300, where torch's own formulas underflow.
        keep = finite & ((o.abs() > 1e-300) | (t.abs() > 1e-300))
        e = max_rel_error(o, t, dtype, keep)
        assert e <= 1e-9, f"{what}: max rel difference from torch {e:.3g} in float64"
        return
    eps = torch.finfo(dtype).eps
    # Where torch gives NaN for a finite reference (overflow inside its
    # formula) we give NaN too (checked above); compare everywhere else.
    e_ours = max_rel_error(o, r, dtype, finite)
    e_torch = max_rel_error(t, r, dtype, finite)
    assert e_ours <= 2 * e_torch + eps, f"{what}: our max rel error {e_ours:.3g} vs torch's {e_torch:.3g}"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
