"""CUDA-only checks: alignment, the strided and per-channel kernel paths,
streams, determinism and (opt-in) tensors of more than 2^31 elements. The
conformance tests of the other files also run on the GPU when one is present
(their `device` fixture includes cuda)."""

from __future__ import annotations

import os

import pytest
import torch
from conftest import ALL_CASES, DTYPES, SPECS, assert_matches_reference, call, make_input, perturbed_spread

import activations_ext
import activations_ext.functional as AF

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU"),
]


def test_build_has_cuda_kernels():
    assert activations_ext.has_cuda_kernels()


def _check(spec, params, x, what):
    w = spec.make_weight(x)
    ours = call(spec, spec.ours, x, params, w)
    theirs = call(spec, spec.reference, x, params, w)
    ref = call(spec, spec.reference, x.double(), params, None if w is None else w.double())
    assert_matches_reference(ours, theirs, ref, x.dtype, exact=spec.exact, what=f"{spec.name} {what}")


@pytest.mark.parametrize("offset", [1, 2, 3, 5], ids=lambda o: f"offset{o}")
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("spec,params", ALL_CASES)
def test_misaligned_and_odd_sizes(spec, params, dtype, offset):
    # Storage offsets that break 16-byte alignment, sizes with vector tails.
    base = make_input((3 * 4099 + offset,), dtype, "cuda")
    x = base[offset:].view(3, 4099)
    _check(spec, params, x, f"offset {offset}")
    if spec.has_inplace:
        y = base.clone()[offset:].view(3, 4099)  # in place on a misaligned view
        expected = call(spec, spec.reference, y.clone(), params)
        spec.ours(y, **params, inplace=True)
        torch.testing.assert_close(y, expected, equal_nan=True)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_strided_kernels(spec):
    x = make_input((64, 48, 10), torch.float32, "cuda")[:, ::3, 1:]
    _check(spec, dict(spec.params), x, "strided")
    g = torch.randn_like(x)
    xr = x.clone().requires_grad_(True)
    xo = x.clone().requires_grad_(True)
    w = spec.make_weight(x)
    (go,) = torch.autograd.grad(call(spec, spec.ours, xo, dict(spec.params), w), xo, g)
    (gt,) = torch.autograd.grad(call(spec, spec.reference, xr, dict(spec.params), w), xr, g)
    torch.testing.assert_close(go, gt, equal_nan=True)


def _reduction_tolerance(ref, scale, dtype):
    """How far a per-channel sum from our kernels may be from its float64
    reference (PReLU's weight gradient, bias_act's bias gradient).

    Each term is computed in the kernel's opmath (float32 for float32 and the
    half types) with an error of a few rounding steps of its size, the terms
    are summed in double (red_t in kernels.cu), and the sum is rounded once to
    the dtype. Hence half a rounding step of the dtype relative to the sum,
    plus 8 opmath rounding steps of `scale`, the sum of the terms' magnitudes
    (a worst-case bound, so it holds whatever the signs). Twice torch's own
    error would be no yardstick: eager torch adds the bias and rounds every
    term in bfloat16, and on channels whose terms cancel its bias gradient is
    off by 100% and more. This bound fails a result 1% off in float32 and in
    bfloat16 alike.
    """
    opmath = torch.float64 if dtype == torch.float64 else torch.float32
    return 0.5 * torch.finfo(dtype).eps * ref.abs() + 8 * torch.finfo(opmath).eps * scale


def _assert_reduction_close(ours, ref, scale, dtype, what):
    ours, ref, scale = ours.detach().double().cpu(), ref.detach().double().cpu(), scale.double().cpu()
    err = (ours - ref).abs()
    tol = _reduction_tolerance(ref, scale, dtype)
    bad = ~(err <= tol)
    if bad.any():
        i = int(bad.flatten().nonzero()[0])
        o, r, t = (float(v.flatten()[i]) for v in (ours, ref, tol))
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {bad.numel()} sums beyond the bound, e.g. [{i}]: "
            f"ours {o:.9g}, reference {r:.9g}, allowed difference {t:.3g}"
        )


def _uniform(shape, dtype, device, seed, low=-3.0, high=3.0):
    # Uniform values, not make_input's normal ones: with x + bias within
    # [-4, 4], torch's float32 GELU is accurate to about 1e-3 relative
    # everywhere (its 1 + erf(x / sqrt 2) cancels only further out), so the
    # accuracy rule, measured against torch's error, stays tight.
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=gen, dtype=torch.float64) * (high - low) + low).to(dtype).to(device)


def _check_per_channel(shape, channels_last, dtype, device):
    x = _uniform(shape, dtype, device, seed=0)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    g = _uniform(shape, dtype, device, seed=1, low=-1.0, high=1.0)
    C = shape[1]
    others = [d for d in range(x.dim()) if d != 1]
    what = f"{tuple(shape)} {dtype}{' channels_last' if channels_last else ''}"
    for shared in (False, True):
        w = _uniform((1 if shared else C,), dtype, device, seed=2, low=-0.1, high=0.4)
        runs = []
        for fn, xt, wt, gt in (
            (AF.prelu, x, w, g),
            (torch.nn.functional.prelu, x, w, g),
            (torch.nn.functional.prelu, x.double(), w.double(), g.double()),
        ):
            xt = xt.detach().clone().requires_grad_(True)
            wt = wt.detach().clone().requires_grad_(True)
            y = fn(xt, wt)
            runs.append((y,) + torch.autograd.grad(y, (xt, wt), gt))
        (y, gx, gw), (y_t, gx_t, _), (y_r, gx_r, gw_r) = runs
        kind = "shared" if shared else "per channel"
        assert_matches_reference(y, y_t, y_r, dtype, exact=True, what=f"prelu {kind} {what} forward")
        assert_matches_reference(gx, gx_t, gx_r, dtype, exact=True, what=f"prelu {kind} {what} grad_input")
        # The weight gradient's terms are g * x where x < 0.
        terms = (g.double() * x.double()).abs() * (x < 0)
        scale = terms.sum() if shared else terms.sum(dim=others)
        _assert_reduction_close(
            gw, gw_r, scale.reshape(gw_r.shape), dtype, f"prelu {kind} {what} grad_weight"
        )

    b = _uniform((C,), dtype, device, seed=3, low=-1.0, high=1.0)
    shape_b = [1] * x.dim()
    shape_b[1] = C
    runs = []
    for fn, xt, bt, gt in (
        (lambda t, c: AF.bias_act(t, c, "gelu", dim=1), x, b, g),
        (lambda t, c: torch.nn.functional.gelu(t + c.view(shape_b)), x, b, g),
        (lambda t, c: torch.nn.functional.gelu(t + c.view(shape_b)), x.double(), b.double(), g.double()),
    ):
        xt = xt.detach().clone().requires_grad_(True)
        bt = bt.detach().clone().requires_grad_(True)
        y = fn(xt, bt)
        runs.append((y,) + torch.autograd.grad(y, (xt, bt), gt))
    (y, gx, gb), (y_t, gx_t, _), (y_r, gx_r, gb_r) = runs
    if channels_last:
        assert y.is_contiguous(memory_format=torch.channels_last)
    # Near the zeros of GELU and of its derivative (-0.75) no float formula
    # keeps its relative accuracy: the rule allows the reference's own
    # change under one rounding step of x + bias there.
    z = x.double() + b.double().view(shape_b)

    def gelu_grad(t):
        t = t.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            return torch.autograd.grad(torch.nn.functional.gelu(t), t, g.double())[0]

    spread_y = perturbed_spread(torch.nn.functional.gelu, z, dtype)
    spread_gx = perturbed_spread(gelu_grad, z, dtype)
    assert_matches_reference(y, y_t, y_r, dtype, what=f"bias_act {what} forward", spread=spread_y)
    assert_matches_reference(gx, gx_t, gx_r, dtype, what=f"bias_act {what} grad_input", spread=spread_gx)
    # The bias gradient's terms are g * gelu'(x + bias), |gelu'| < 1.13, each
    # computed to a few rounding steps of |g|.
    scale = 1.13 * g.double().abs().sum(dim=others)
    _assert_reduction_close(gb, gb_r, scale, dtype, f"bias_act {what} grad_bias")


@pytest.mark.parametrize(
    "shape,channels_last",
    [
        ((7, 3, 33, 17), False),
        ((7, 3, 33, 17), True),
        ((1000, 700), False),
        ((2, 70000, 3), False),
        ((5, 1), False),
    ],
    ids=str,
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_per_channel_kernels(shape, channels_last, dtype):
    """PReLU and bias_act, forward and backward: both reduction kernels
    (channel planes, channel-innermost rows), more channels than a grid's y
    dimension. Outputs and input gradients follow the accuracy rule (PReLU
    bit for bit); the weight and bias gradients are held to the error bound
    of a sum of float32 terms (`_reduction_tolerance`)."""
    _check_per_channel(shape, channels_last, dtype, "cuda")


def test_reductions_are_deterministic():
    x = torch.randn(64, 96, 33, 33, device="cuda")
    w = torch.rand(96, device="cuda", requires_grad=True)
    b = torch.randn(96, device="cuda", requires_grad=True)
    first = None
    for _ in range(3):
        gw = torch.autograd.grad(AF.prelu(x, w).sum(), w)[0]
        gb = torch.autograd.grad(AF.bias_act(x, b, "silu").sum(), b)[0]
        if first is None:
            first = (gw, gb)
        assert torch.equal(gw, first[0]) and torch.equal(gb, first[1])


def test_runs_on_the_current_stream():
    s = torch.cuda.Stream()
    x = torch.randn(1 << 22, device="cuda")
    with torch.cuda.stream(s):
        y = AF.silu(x)
        z = AF.gelu(y)
    s.synchronize()
    torch.testing.assert_close(z, torch.nn.functional.gelu(torch.nn.functional.silu(x)))


def test_second_device_guard():
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two GPUs")
    x = torch.randn(1000, device="cuda:1")
    torch.testing.assert_close(AF.relu(x), torch.relu(x))


@pytest.mark.skipif(
    os.environ.get("ACTIVATIONS_EXT_BIG") != "1", reason="set ACTIVATIONS_EXT_BIG=1 (needs ~20 GB)"
)
@pytest.mark.parametrize("name", ["relu", "sigmoid", "gelu"])
def test_more_than_2_to_31_elements(name):
    n = 2**31 + 17
    x = torch.empty(n, device="cuda", dtype=torch.float16)
    x.uniform_(-4, 4)
    f = getattr(AF, name)
    ref = getattr(torch.nn.functional, name) if name != "sigmoid" else torch.sigmoid
    y = f(x)
    for sl in (slice(0, 4096), slice(n - 4096, n), slice(2**31 - 100, 2**31 + 17)):
        torch.testing.assert_close(y[sl], ref(x[sl]))
    del y
    g = torch.ones_like(x)
    xg = x.requires_grad_(True)
    (gx,) = torch.autograd.grad(f(xg), xg, g)
    xs = x[n - 4096 :].detach().clone().requires_grad_(True)
    (gs,) = torch.autograd.grad(ref(xs), xs, g[n - 4096 :])
    torch.testing.assert_close(gx[n - 4096 :], gs)
