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


# The accuracy rule's slack beyond twice torch's own error, in rounding steps
# of the dtype: of the output (relative to |ref|, floored at the smallest
# normal, whose eps multiple is the smallest subnormal step) and of the input
# (see `perturbed_spread`). float32 kernels evaluate polynomials of a few
# ulp; float16 and bfloat16 are computed in float and rounded once, so a
# tie rounded the other way from torch's is all they may add.
ACCURACY_EPS = {torch.float32: 4, torch.float16: 2, torch.bfloat16: 2}


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


def _describe(bad, o, t, r, limit=4):
    idx = bad.nonzero()[:limit].tolist()
    flat = [tuple(i) for i in idx]
    parts = [f"at {i}: ours {o[i].item():.9g}, torch {t[i].item():.9g}, ref {r[i].item():.9g}" for i in flat]
    more = int(bad.sum()) - len(flat)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def perturbed_spread(fn, x64: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """How far fn moves, per element, when its float64 input moves by
    ACCURACY_EPS rounding steps of `dtype` (x (1 +- c eps)): the part of an error that
    stems from the function's own conditioning, not from the kernel. It
    matters only near a zero of fn with a non-zero slope (gelu's and mish's
    gradients near -0.75 and -1.19), where any float formula loses its
    relative accuracy and torch's is right or wrong by luck."""
    h = ACCURACY_EPS.get(dtype, 0) * torch.finfo(dtype).eps
    with torch.no_grad():
        base = fn(x64)
        spread = torch.maximum((fn(x64 * (1 + h)) - base).abs(), (fn(x64 * (1 - h)) - base).abs())
    return torch.nan_to_num(spread, nan=0.0, posinf=0.0)


def reference_forward(spec, x, params, w=None):
    """The float64 reference of `spec`'s forward at `x` and its conditioning
    spread (see `perturbed_spread`)."""
    w64 = None if w is None else w.double()
    fn = lambda t: call(spec, spec.reference64, t, params, w64)  # noqa: E731
    x64 = x.detach().double()
    return fn(x64), perturbed_spread(fn, x64, x.dtype)


def reference_grads(spec, x, params, w, g):
    """Float64 reference gradients (input, then weight) of `spec` at `x` for
    the incoming gradient `g`, each with its conditioning spread in `x`."""
    w64 = None if w is None else w.detach().double()

    def grads(t):
        t = t.detach().clone().requires_grad_(True)
        wt = None if w64 is None else w64.clone().requires_grad_(True)
        with torch.enable_grad():
            y = call(spec, spec.reference64, t, params, wt)
            inputs = (t,) if wt is None else (t, wt)
            return torch.autograd.grad(y, inputs, g.double())

    x64 = x.detach().double()
    refs = grads(x64)
    spreads = []
    for i in range(len(refs)):
        spreads.append(perturbed_spread(lambda t, i=i: grads(t)[i], x64, x.dtype))
    return refs, spreads


def accuracy_failure(ours, theirs, ref, dtype, exact=False, nan_subset=False, spread=None):
    """Why `ours` fails the accuracy rule against torch's result `theirs` and
    the float64 reference `ref` (in `dtype`), or None when it passes.

    Per element:
    - NaN exactly where torch has NaN, except where torch's NaN is a defect
      (the float64 reference is not NaN): there ours must match the
      reference. `nan_subset` allows a number wherever torch gives NaN
      (documented exceptions only);
    - infinities equal to torch's; where only one of torch and the reference
      overflowed, ours within a few rounding steps of one of them;
    - `exact`: bit-identical to torch (up to the sign of zero);
    - float64 (where torch's result is the reference): within 1e-9 relative
      of torch's, except below 1e-300 where torch's own formulas underflow;
    - otherwise |ours - ref| <= 2 |torch - ref| + c * eps * max(|ref|, tiny)
      with c = ACCURACY_EPS[dtype] (+ `spread`, the reference's own change
      when the input moves by c rounding steps, where given: see
      `perturbed_spread`). Compared element by
      element, so that torch rounding some value to zero (an error of 100%
      there) never licenses an error anywhere else.
    """
    if ours.dtype != theirs.dtype or ours.shape != theirs.shape:
        return f"dtype/shape {ours.dtype} {tuple(ours.shape)} against torch's {theirs.dtype} {tuple(theirs.shape)}"
    o = ours.detach().cpu().double()
    t = theirs.detach().cpu().double()
    r = ref.detach().cpu().double()
    if o.shape != r.shape:
        return f"shape {tuple(o.shape)} against the reference's {tuple(r.shape)}"
    bad = o.isnan() & ~t.isnan()
    if bad.any():
        return "NaN where torch has none " + _describe(bad, o, t, r)
    tol4 = 4 * torch.finfo(dtype).eps
    torch_defect = t.isnan() & ~r.isnan()
    fixed = torch_defect & ~o.isnan()
    if fixed.any():
        bad = fixed & ~((o == r) | ((o - r).abs() <= tol4 * r.abs()))
        if bad.any():
            return "where torch gives NaN, ours differs from the reference " + _describe(bad, o, t, r)
        t = torch.where(fixed, o, t)
    if not nan_subset:
        bad = o.isnan() != t.isnan()
        if bad.any():
            return "NaN positions differ from torch " + _describe(bad, o, t, r)
    both_inf = torch.isinf(t) & torch.isinf(r)
    bad = both_inf & (o != t)
    if bad.any():
        return "infinities differ from torch " + _describe(bad, o, t, r)
    one_inf = (torch.isinf(t) ^ torch.isinf(r)) & ~t.isnan()
    if one_inf.any():
        near_t = (o == t) | ((o - t).abs() <= tol4 * t.abs())
        near_r = (o - r).abs() <= tol4 * r.abs()
        bad = one_inf & ~(near_t | near_r)
        if bad.any():
            return "results near overflow differ from torch and the reference " + _describe(bad, o, t, r)
    finite = torch.isfinite(t) & torch.isfinite(r)
    if exact:
        bad = ~((o == t) | (o.isnan() & t.isnan()))
        if bad.any():
            return "not bit-exact " + _describe(bad, o, t, r)
        return None
    extra = 0.0 if spread is None else spread.detach().cpu().double()
    if dtype == torch.float64:
        # Where torch's float64 result is the reference, ours must agree
        # with it closely (output-based derivatives such as tanh's 1 - y^2
        # magnify last-bit differences of the forward near saturation);
        # magnitudes below 1e-300, where torch's formulas underflow, are
        # left out.
        keep = finite & ((o.abs() > 1e-300) | (r.abs() > 1e-300))
        allowed = 2 * (t - r).abs() + 1e-9 * r.abs() + extra
        bad = keep & ~((o - r).abs() <= allowed)
        if bad.any():
            return "float64 result differs from the reference by more than 1e-9 relative " + _describe(
                bad, o, t, r
            )
        return None
    finfo = torch.finfo(dtype)
    c = ACCURACY_EPS[dtype]
    allowed = 2 * (t - r).abs() + c * finfo.eps * r.abs().clamp_min(finfo.tiny) + extra
    bad = finite & ~((o - r).abs() <= allowed)
    if bad.any():
        return "error beyond twice torch's own (per element) " + _describe(bad, o, t, r)
    return None


def assert_matches_reference(ours, theirs, ref, dtype, exact=False, what="", nan_subset=False, spread=None):
    """Asserts the accuracy rule (`accuracy_failure`) for our result against torch's."""
    failure = accuracy_failure(ours, theirs, ref, dtype, exact=exact, nan_subset=nan_subset, spread=spread)
    assert failure is None, f"{what}: {failure}"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
