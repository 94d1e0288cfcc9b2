"""Fused bias + activation and LinearAct against the eager torch composition."""

from __future__ import annotations

import pytest
import torch
from conftest import DTYPES, make_input
from test_dispatch import Recorder, _names

import activations_ext.functional as AF
from activations_ext import nn as ann
from activations_ext.functional import BIAS_ACTS
from activations_ext.ops import _bias_act_reference as reference

ACTS = sorted(BIAS_ACTS)
ops = torch.ops.activations_ext

LAYOUTS = [
    ("rows_dim1", (33, 20), 1, None),
    ("rows_dim-1", (7, 5, 20), -1, None),
    ("nchw", (3, 6, 5, 7), 1, None),
    ("nhwc", (3, 6, 5, 7), 1, torch.channels_last),
    ("dim2", (3, 4, 6, 5), 2, None),
    ("dim0", (6, 9), 0, None),
]


def _tolerance(dtype):
    return {"rtol": 2e-2, "atol": 2e-2} if dtype in (torch.float16, torch.bfloat16) else {}


def _inputs(shape, dim, memory_format, dtype, device, seed=0):
    x = make_input(shape, dtype, device, seed=seed, specials=False)
    if memory_format is not None:
        x = x.contiguous(memory_format=memory_format)
    b = make_input((shape[dim],), dtype, device, seed=seed + 1, specials=False)
    return x, b


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda p: p[0])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("act", ACTS)
def test_forward_and_backward_match_eager(act, dtype, layout, device):
    _, shape, dim, memory_format = layout
    x, b = _inputs(shape, dim, memory_format, dtype, device)
    alpha = None if BIAS_ACTS[act] is None else 0.2
    results = []
    for fn in ("ours", "ref"):
        xr = x.detach().clone().requires_grad_(True)
        br = b.detach().clone().requires_grad_(True)
        if fn == "ours":
            y = AF.bias_act(xr, br, act, dim=dim, alpha=alpha, gain=1.5)
        else:
            a = 0.0 if alpha is None else alpha
            # The reference in float64, cast back: eager rounding in low precision
            # differs from ours (we add the bias in float, not in the dtype).
            y = reference(xr.double(), br.double(), act, dim, a, 1.5, None).to(dtype)
        g = make_input(y.shape, dtype, device, seed=5, specials=False)
        gx, gb = torch.autograd.grad(y, (xr, br), g)
        results.append((y, gx, gb))
    (y, gx, gb), (yr, gxr, gbr) = results
    if memory_format is not None:
        assert y.is_contiguous(memory_format=memory_format)
    torch.testing.assert_close(y, yr, **_tolerance(dtype))
    torch.testing.assert_close(gx, gxr, **_tolerance(dtype))
    # The bias gradient sums many terms: compare in proportion to their size.
    scale = gxr.double().abs().sum(dim=[d for d in range(x.dim()) if d != dim % x.dim()]).max().item() + 1
    tol = (2e-2 if dtype in (torch.float16, torch.bfloat16) else 1e-5) * scale
    torch.testing.assert_close(gb.double(), gbr.double(), rtol=0, atol=tol)


@pytest.mark.parametrize("act", ACTS)
def test_clamp_and_no_bias(act, device):
    x = make_input((8, 12), torch.float64, device, specials=False) * 3
    alpha = None if BIAS_ACTS[act] is None else 0.3
    a = 0.0 if alpha is None else alpha
    for bias in (None, torch.linspace(-1, 1, 12, dtype=torch.float64, device=device)):
        xr = x.clone().requires_grad_(True)
        xo = x.clone().requires_grad_(True)
        y = AF.bias_act(xo, bias, act, dim=1, alpha=alpha, gain=2.0, clamp=0.7)
        yr = reference(xr, bias, act, 1, a, 2.0, 0.7)
        torch.testing.assert_close(y, yr)
        assert y.abs().max() <= 0.7
        g = torch.randn_like(y)
        torch.testing.assert_close(torch.autograd.grad(y, xo, g)[0], torch.autograd.grad(yr, xr, g)[0])


@pytest.mark.parametrize("act", ACTS)
def test_gradcheck_and_gradgradcheck(act, device):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 5, generator=gen, dtype=torch.float64).to(device)
    b = torch.randn(4, generator=gen, dtype=torch.float64).to(device)
    # Keep x + b away from the activations' kinks (0, and +-3 for hardswish).
    z = x + b.view(1, -1, 1)
    x = x + 0.25 * torch.sign(z) * (z.abs() < 0.25) + 0.3 * ((z.abs() - 3).abs() < 0.3)
    x.requires_grad_(True)
    b.requires_grad_(True)
    alpha = None if BIAS_ACTS[act] is None else 0.2

    def f(x, b):
        return AF.bias_act(x, b, act, dim=1, alpha=alpha, gain=1.3)

    assert torch.autograd.gradcheck(f, (x, b))
    assert torch.autograd.gradgradcheck(f, (x, b))


def test_bias_gradient_only_when_needed(device):
    x = torch.randn(5, 4, device=device, requires_grad=True)
    b = torch.randn(4, device=device)
    y = AF.bias_act(x, b, "gelu", dim=1)
    (gx,) = torch.autograd.grad(y.sum(), x)
    assert gx.shape == x.shape and b.grad is None


def test_runs_only_our_operators(device):
    x = torch.randn(6, 8, device=device, requires_grad=True)
    b = torch.randn(8, device=device, requires_grad=True)
    with Recorder() as rec:
        y = AF.bias_act(x, b, "silu", dim=1)
    assert _names(rec.calls) == ["activations_ext.bias_act.default"]
    g = torch.ones_like(y)
    with Recorder() as rec:
        torch.autograd.grad(y, (x, b), g)
    assert _names(rec.calls) == ["activations_ext.bias_act_backward.default"]


def test_bad_arguments(device):
    x = torch.randn(4, 6, device=device)
    with pytest.raises(ValueError, match="unknown act"):
        AF.bias_act(x, None, "swishy")
    with pytest.raises(ValueError, match="takes no alpha"):
        AF.bias_act(x, None, "relu", alpha=0.1)
    with pytest.raises(ValueError, match="6 elements"):
        AF.bias_act(x, torch.zeros(5, device=device), "relu", dim=1)
    with pytest.raises(TypeError, match="dtype"):
        AF.bias_act(x, torch.zeros(6, dtype=torch.float64, device=device), "relu", dim=1)
    with pytest.raises(TypeError, match="floating-point"):
        AF.bias_act(x.long(), None, "relu")
    with pytest.raises(ValueError, match="clamp"):
        AF.bias_act(x, None, "relu", clamp=-1.0)


@pytest.mark.parametrize("rg", [False, True])
def test_opcheck(rg, device):
    x = torch.randn(4, 6, 3, device=device, requires_grad=rg)
    b = torch.randn(6, device=device, requires_grad=rg)
    torch.library.opcheck(ops.bias_act.default, (x, b, "gelu_tanh", 1, 0.0, 1.2, 2.0))
    torch.library.opcheck(ops.bias_act.default, (x, None, "leaky_relu", 1, 0.1, 1.0, None))
    g = torch.randn(4, 6, 3, device=device, requires_grad=rg)
    torch.library.opcheck(ops.bias_act_backward.default, (g, x, b, "elu", 1, 1.0, 1.0, None, True))


@pytest.mark.parametrize("act", ["relu", "gelu", "leaky_relu", "linear"])
def test_linear_act_matches_linear_then_activation(act, device):
    torch.manual_seed(0)
    ref_act = {"relu": torch.nn.ReLU(), "gelu": torch.nn.GELU(), "leaky_relu": torch.nn.LeakyReLU(0.01)}.get(
        act, torch.nn.Identity()
    )
    linear = torch.nn.Linear(12, 20).to(device)
    fused = ann.LinearAct(12, 20, act=act).to(device)
    fused.load_state_dict(linear.state_dict())
    back = torch.nn.Linear(12, 20).to(device)
    back.load_state_dict(fused.state_dict())
    assert torch.equal(back.weight, linear.weight)
    x = torch.randn(7, 3, 12, device=device)
    y, yr = fused(x), ref_act(linear(x))
    torch.testing.assert_close(y, yr)
    y.square().sum().backward()
    yr.square().sum().backward()
    torch.testing.assert_close(fused.weight.grad, linear.weight.grad)
    torch.testing.assert_close(fused.bias.grad, linear.bias.grad)
    assert f"act='{act}'" in repr(fused)


def test_linear_act_without_bias_and_compiled():
    torch._dynamo.reset()
    layer = ann.LinearAct(8, 4, act="silu", bias=False)
    assert layer.bias is None and list(layer.state_dict()) == ["weight"]
    x = torch.randn(5, 8)
    model = torch.nn.Sequential(ann.LinearAct(8, 16, act="gelu"), ann.LinearAct(16, 2, act="tanh", clamp=0.9))
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(x), model(x))
    torch.testing.assert_close(layer(x), torch.nn.functional.silu(x @ layer.weight.t()))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize(
    "shape,dim", [((40000, 3), 1), ((64, 5, 130), 1), ((9, 64), 1), ((3, 70001), 0)], ids=str
)
def test_per_channel_rows_split_across_threads_bit_exact(shape, dim, dtype, device):
    # Per-channel rows numerous enough that the CPU splits them between
    # threads mid-tensor (a share that starts at a row whose channel is not
    # 0), one kernel call per share: PReLU (dim 1) and a bias_act ReLU
    # (dim 0, rows of 70001 elements with one bias each) bit for bit torch's.
    x = make_input(shape, dtype, device, seed=3)
    c = shape[dim]
    w = torch.linspace(-0.5, 0.75, c, dtype=torch.float32).to(dtype).to(device)
    if dim == 1:
        ours, theirs = AF.prelu(x, w), torch.nn.functional.prelu(x, w)
    else:
        ours, theirs = AF.bias_act(x, w, act="relu", dim=0), torch.relu(x + w[:, None])
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64], ids=str)
@pytest.mark.parametrize("offset", [0, 1], ids=lambda o: f"offset{o}")
def test_single_parameter_prelu_split_across_threads_bit_exact(offset, dtype, device):
    # One weight for the whole tensor: each thread's share of the 200003
    # elements (several of ATen's 32K grains) is one row of the per-channel
    # kernel; a storage offset of one element puts every share's start off a
    # register boundary. Bit for bit torch's, forward and backward.
    b1 = make_input((200003 + offset,), dtype, device, seed=5, nan=False).requires_grad_(True)
    b2 = b1.detach().clone().requires_grad_(True)
    x1, x2 = b1[offset:], b2[offset:]
    w = torch.tensor([-0.3], dtype=dtype, device=device)
    w1 = w.clone().requires_grad_(True)
    w2 = w.clone().requires_grad_(True)
    ours, theirs = AF.prelu(x1, w1), torch.nn.functional.prelu(x2, w2)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0, equal_nan=True)
    g = make_input(x1.shape, dtype, device, seed=6)
    ours.backward(g)
    theirs.backward(g)
    torch.testing.assert_close(b1.grad, b2.grad, rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(w1.grad, w2.grad, equal_nan=True)
