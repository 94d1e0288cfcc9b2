"""The accuracy rule itself (conftest.accuracy_failure) rejects wrong answers.

Each case takes our real result on the suite's hard inputs, scales it by a
factor (a deliberately wrong kernel) and checks that the rule fails it,
while the unchanged result passes. The functions are those where torch
itself rounds some values to zero among the hard inputs (silu and sigmoid at
-89, tanh's gradient at 11, sigmoid's gradient at 17): a rule on the
maximum error over the tensor would let every element be off by up to 200%
there.
"""

from __future__ import annotations

import pytest
import torch
from conftest import (
    ACCURACY_EPS,
    accuracy_failure,
    call,
    hard_values,
    make_input,
    reference_forward,
    reference_grads,
)

from activations_ext.spec import get_spec

CASES = [
    ("silu", {}),
    ("sigmoid", {}),
    ("gelu", {}),
    ("gelu", {"approximate": "tanh"}),
    ("tanh", {}),
    ("mish", {}),
]
DTYPES = [torch.float32, torch.bfloat16, torch.float16]


def _inputs(dtype):
    # The hard values in every position, then random values.
    hv = hard_values(dtype)
    hv = hv[~hv.isnan()]
    return torch.cat([hv, make_input((4096,), dtype, seed=3, nan=False)])


def _forward(spec, params, x):
    ref, spread = reference_forward(spec, x, params)
    return call(spec, spec.ours, x, params), call(spec, spec.reference, x, params), ref, spread


def _grad(spec, params, x):
    g = make_input(x.shape, x.dtype, seed=7, specials=False)

    def grad(fn):
        t = x.detach().clone().requires_grad_(True)
        return torch.autograd.grad(call(spec, fn, t, params), t, g)[0]

    (ref,), (spread,) = reference_grads(spec, x, params, None, g)
    return grad(spec.ours), grad(spec.reference), ref, spread


def _factors(dtype):
    # 0.5 and 0.9 in every dtype; in float32 a 0.1% error too.
    return (0.5, 0.9, 0.999) if dtype == torch.float32 else (0.5, 0.9)


@pytest.mark.parametrize("which", ["forward", "gradient"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name,params", CASES, ids=lambda c: str(c))
def test_rule_rejects_scaled_results(name, params, dtype, which):
    spec = get_spec(name)
    x = _inputs(dtype)
    ours, theirs, ref, spread = (_forward if which == "forward" else _grad)(spec, params, x)
    assert accuracy_failure(ours, theirs, ref, dtype, spread=spread) is None
    for factor in _factors(dtype):
        wrong = (ours.double() * factor).to(dtype)
        assert accuracy_failure(wrong, theirs, ref, dtype, spread=spread) is not None, factor


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_rule_rejects_one_wrong_element(dtype):
    # A single element off by 10% among thousands of right ones.
    spec = get_spec("silu")
    x = _inputs(dtype)
    ours, theirs, ref, spread = _forward(spec, {}, x)
    i = int(((ref.abs() > 0.5) & ref.isfinite()).nonzero()[0])
    wrong = ours.clone()
    wrong[i] = (wrong[i].double() * 1.1).to(dtype)
    failure = accuracy_failure(wrong, theirs, ref, dtype, spread=spread)
    assert failure is not None and f"({i},)" in failure


def test_rule_checks_nan_positions_and_infinities():
    spec = get_spec("silu")
    x = _inputs(torch.float32)
    ours, theirs, ref, spread = _forward(spec, {}, x)
    finite = int(ours.isfinite().nonzero()[5])
    with_nan = ours.clone()
    with_nan[finite] = torch.nan
    assert "NaN" in accuracy_failure(with_nan, theirs, ref, torch.float32, spread=spread)
    inf_at = int(theirs.isinf().nonzero()[0])
    flipped = ours.clone()
    flipped[inf_at] = -flipped[inf_at]
    assert "infinities" in accuracy_failure(flipped, theirs, ref, torch.float32, spread=spread)


def test_rule_demands_bit_exactness_where_asked():
    spec = get_spec("relu")
    x = _inputs(torch.float32)
    ours, theirs, ref, _ = _forward(spec, {}, x)
    assert accuracy_failure(ours, theirs, ref, torch.float32, exact=True) is None
    nudged = ours.clone()
    j = int(((ours > 1) & ours.isfinite()).nonzero()[0])
    nudged[j] = torch.nextafter(nudged[j], torch.tensor(torch.inf))
    assert "bit-exact" in accuracy_failure(nudged, theirs, ref, torch.float32, exact=True)


def test_spread_is_the_conditioning_of_the_function():
    # The input allowance moves the reference by about c * eps * |x f'(x)|:
    # the change of f when its input is off by c rounding steps. Where f is
    # well conditioned (|x f'| ~ |f|) that is a few eps of the result.
    spec = get_spec("gelu")
    x = torch.tensor([-3.0, -1.0, 0.5, 2.0, 4.0])
    ref, spread = reference_forward(spec, x, {})
    x64 = x.double().requires_grad_(True)
    (slope,) = torch.autograd.grad(spec.reference64(x64).sum(), x64)
    c_eps = ACCURACY_EPS[torch.float32] * torch.finfo(torch.float32).eps
    expected = c_eps * (x.double() * slope).abs()
    torch.testing.assert_close(spread, expected, rtol=1e-3, atol=0)
    assert (spread[2:] <= 2 * c_eps * ref[2:].abs()).all()
