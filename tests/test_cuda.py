"""CUDA-only checks: alignment, the strided and per-channel kernel paths,
streams, determinism and (opt-in) tensors of more than 2^31 elements. The
conformance tests of the other files also run on the GPU when one is present
(their `device` fixture includes cuda)."""

from __future__ import annotations

import os

import pytest
import torch
from conftest import ALL_CASES, DTYPES, SPECS, assert_matches_reference, call, make_input

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
    """PReLU and bias_act backward: both reduction kernels (channel planes,
    channel-innermost rows), more channels than a grid's y dimension."""
    x = make_input(shape, dtype, "cuda", specials=False)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    C = shape[1]
    for shared in (False, True):
        w = torch.rand(1 if shared else C, device="cuda", dtype=dtype).requires_grad_(True)
        xo = x.clone().requires_grad_(True)
        xr = x.clone().requires_grad_(True)
        g = torch.randn_like(x)
        go = torch.autograd.grad(AF.prelu(xo, w), (xo, w), g)
        gr = torch.autograd.grad(torch.nn.functional.prelu(xr.double(), w.double()), (xr, w), g.double())
        tol = {"rtol": 2e-2, "atol": 2e-2} if dtype == torch.bfloat16 else {"rtol": 1e-5, "atol": 1e-4}
        torch.testing.assert_close(go[0].double(), gr[0].double(), **tol)
        scale = g.double().abs().sum().item() / max(C, 1) + 1
        torch.testing.assert_close(go[1].double(), gr[1].double(), rtol=1e-2, atol=1e-3 * scale)
    b = torch.randn(C, device="cuda", dtype=dtype, requires_grad=True)
    xo = x.clone().requires_grad_(True)
    y = AF.bias_act(xo, b, "gelu", dim=1)
    gx, gb = torch.autograd.grad(y, (xo, b), torch.ones_like(y))
    shape_b = [1] * x.dim()
    shape_b[1] = C
    xr = x.double().requires_grad_(True)
    br = b.double().detach().requires_grad_(True)
    yr = torch.nn.functional.gelu(xr + br.view(shape_b))
    gxr, gbr = torch.autograd.grad(yr, (xr, br), torch.ones_like(yr))
    torch.testing.assert_close(gb.double(), gbr, rtol=2e-2, atol=2e-2 * (x.numel() / C) ** 0.5)


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
