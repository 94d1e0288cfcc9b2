"""The gated operators (gated, swiglu, geglu, reglu, gated_split, glu) and
GatedMLP, against eager torch: ``act(gate) * up`` written with torch's ops."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import DTYPES, assert_matches_reference, make_input, perturbed_spread
from torch.utils._python_dispatch import TorchDispatchMode

import activations_ext.functional as AF
from activations_ext import nn as ann
from activations_ext.spec import BIAS_ACT_FORMS

ops = torch.ops.activations_ext
ACTS = sorted(AF.GATED_ACTS)


def _alpha(act):
    param = AF.GATED_ACTS[act]
    return None if param is None else param[1]


def eager(gate, up, act, alpha=None, precise=False):
    """The eager form: torch's activation, then a multiply. `precise` takes
    the spec table's float64 reference of the activation instead (torch's
    own formulas cancel in places, even in float64)."""
    a = 0.0 if alpha is None else alpha
    if alpha is None and AF.GATED_ACTS[act] is not None:
        a = AF.GATED_ACTS[act][1]
    form = BIAS_ACT_FORMS[act]
    if precise and form.spec is not None:
        return form.spec.reference64(gate, **form.act_params(a)) * up
    return form.reference(gate, a) * up


def _up(shape, dtype, device):
    # Ordinary values with zeros, infinities and NaN at positions that meet
    # the gate's hard values (inf * 0: silu(-inf) * up, relu(-x) * inf).
    u = make_input(shape, dtype, device, seed=1, scale=2.0, specials=False)
    flat = u.view(-1)
    for i, v in zip(range(0, flat.numel(), 5), [0.0, math.inf, -math.inf, math.nan, 3.0, -0.0]):
        flat[i] = v
    return u


# ------------------------------------------------------------------ accuracy


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("act", ACTS)
def test_forward_matches_eager(act, dtype, device):
    gate = make_input((8, 67), dtype, device)
    up = _up((8, 67), dtype, device)
    ours = AF.gated(gate, up, act)
    theirs = eager(gate, up, act)
    ref = eager(gate.double(), up.double(), act, precise=True)
    assert_matches_reference(ours, theirs, ref, dtype, what=f"gated {act} forward")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("act", ACTS)
def test_backward_matches_eager(act, dtype, device):
    gate = make_input((6, 45), dtype, device, nan=False)
    up = make_input((6, 45), dtype, device, seed=3, scale=2.0, specials=False)
    g = make_input((6, 45), dtype, device, seed=4, specials=False)

    def grads(fn, a, b, gg):
        a = a.detach().clone().requires_grad_(True)
        b = b.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            return torch.autograd.grad(fn(a, b), (a, b), gg)

    ours = grads(lambda a, b: AF.gated(a, b, act), gate, up, g)
    theirs = grads(lambda a, b: eager(a, b, act), gate, up, g)
    precise = lambda a, b: eager(a, b, act, precise=True)  # noqa: E731
    g64, u64 = gate.double(), up.double()
    refs = grads(precise, g64, u64, g.double())
    # Near a zero of act' (gelu's and mish's), the conditioning in gate.
    spread = perturbed_spread(lambda t: grads(precise, t, u64, g.double())[0], g64, dtype)
    for name, o, t, r, sp in zip(("grad_gate", "grad_up"), ours, theirs, refs, (spread, None)):
        assert_matches_reference(o, t, r, dtype, what=f"gated {act} {name}", spread=sp)


EXACT_ACTS = [a for a in ACTS if BIAS_ACT_FORMS[a].spec is not None and BIAS_ACT_FORMS[a].spec.exact]


@pytest.mark.parametrize("dtype", (torch.float32, torch.float64), ids=str)
@pytest.mark.parametrize("act", EXACT_ACTS)
def test_forward_is_eager_bit_for_bit_where_the_activation_is(act, dtype, device):
    # An activation bit-identical to torch's, then one rounding of the
    # product, as eager's multiply: the same bits in float32 and float64.
    gate = make_input((5, 301), dtype, device)
    up = _up((5, 301), dtype, device)
    torch.testing.assert_close(AF.gated(gate, up, act), eager(gate, up, act), rtol=0, atol=0, equal_nan=True)


def test_float16_overflow_of_the_product_is_inf(device):
    gate = torch.tensor([300.0, -300.0, 300.0], dtype=torch.float16, device=device)
    up = torch.tensor([300.0, 300.0, -300.0], dtype=torch.float16, device=device)
    out = AF.swiglu(gate, up)
    assert out[0].item() == math.inf and out[2].item() == -math.inf
    assert out[1].item() == 0.0


def test_named_forms(device):
    g = make_input((4, 33), torch.float32, device, specials=False)
    u = make_input((4, 33), torch.float32, device, seed=2, specials=False)
    assert torch.equal(AF.swiglu(g, u), AF.gated(g, u, "silu"))
    assert torch.equal(AF.reglu(g, u), AF.gated(g, u, "relu"))
    assert torch.equal(AF.geglu(g, u), AF.gated(g, u, "gelu"))
    assert torch.equal(AF.geglu(g, u, approximate="tanh"), AF.gated(g, u, "gelu_tanh"))
    torch.testing.assert_close(AF.geglu(g, u, approximate="tanh"), F.gelu(g, approximate="tanh") * u)
    torch.testing.assert_close(AF.gated(g, u, "leaky_relu", alpha=0.2), F.leaky_relu(g, 0.2) * u)
    torch.testing.assert_close(AF.gated(g, u, "softplus", alpha=2.0), F.softplus(g, beta=2.0) * u)


# -------------------------------------------------------------------- shapes


def _layouts(device):
    base = make_input((6, 10, 16), torch.float32, device, specials=False)
    other = make_input((6, 10, 16), torch.float32, device, seed=5, specials=False)
    yield "0-d", base[0, 0, 0], other[0, 0, 0]
    yield "empty", base[:0], other[:0]
    yield "odd", base.reshape(-1)[:997], other.reshape(-1)[:997]
    yield "transposed", base.transpose(0, 2), other.transpose(0, 2)
    yield "mixed", base.transpose(0, 2), other.transpose(0, 2).contiguous()
    yield "halves", base[..., :8], base[..., 8:]
    yield "strided-rows", base[:, ::2], other[:, ::2]
    yield "expanded", base[:1].expand(6, 10, 16), other
    yield "misaligned", base.reshape(-1)[1:901], other.reshape(-1)[3:903]
    cl = make_input((2, 8, 5, 7), torch.float32, device, specials=False)
    cl2 = make_input((2, 8, 5, 7), torch.float32, device, seed=7, specials=False)
    yield "channels_last", cl.to(memory_format=torch.channels_last), cl2.to(memory_format=torch.channels_last)


@pytest.mark.parametrize("case", range(10))
def test_layouts_give_the_contiguous_result(case, device):
    name, g, u = list(_layouts(device))[case]
    out = AF.swiglu(g, u)
    assert out.shape == g.shape, name
    assert torch.equal(out, AF.swiglu(g.contiguous(), u.contiguous())), name
    ga, gu = ops.gated_backward(torch.ones_like(g), g, u, "silu", 0.0)
    ca, cu = ops.gated_backward(torch.ones_like(g).contiguous(), g.contiguous(), u.contiguous(), "silu", 0.0)
    assert torch.equal(ga, ca) and torch.equal(gu, cu), name


def test_dense_layout_is_kept(device):
    g = make_input((2, 8, 5, 7), torch.float32, device).to(memory_format=torch.channels_last)
    u = torch.randn_like(g)
    assert AF.swiglu(g, u).is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("dim", [0, 1, 2, -1])
@pytest.mark.parametrize("order", ["gate_up", "up_gate"])
def test_gated_split_matches_chunks(dim, order, dtype, device):
    x = make_input((4, 6, 34), dtype, device, specials=False)
    first, second = x.chunk(2, dim)
    gate, up = (first, second) if order == "gate_up" else (second, first)
    assert torch.equal(AF.gated_split(x, "gelu", dim=dim, order=order), AF.gated(gate, up, "gelu"))
    xr = x.detach().clone().requires_grad_(True)
    xe = x.detach().clone().requires_grad_(True)
    go = torch.randn_like(gate)
    (gx,) = torch.autograd.grad(AF.gated_split(xr, "gelu", dim=dim, order=order), xr, go)
    a, b = xe.chunk(2, dim)
    if order == "up_gate":
        a, b = b, a
    (ge,) = torch.autograd.grad(AF.gated(a, b, "gelu"), xe, go)
    assert torch.equal(gx, ge)


def test_gated_split_of_a_non_contiguous_input(device):
    x = make_input((34, 6), torch.float32, device, specials=False).t()
    assert torch.equal(AF.gated_split(x), AF.swiglu(*x.contiguous().chunk(2, -1)))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_glu_matches_torch(dim, dtype, device):
    x = make_input((4, 6, 10), dtype, device)
    ours, theirs = AF.glu(x, dim), F.glu(x, dim)
    ref = F.glu(x.double(), dim)
    assert_matches_reference(ours, theirs, ref, dtype, what="glu")
    module = ann.GLU(dim)
    assert isinstance(module, torch.nn.GLU) and repr(module) == repr(torch.nn.GLU(dim))
    torch.testing.assert_close(module(x), ours, rtol=0, atol=0, equal_nan=True)


# ------------------------------------------------------------ differentiation

GRAD_ACTS = [
    a for a in ACTS if a not in ("relu", "hardtanh", "relu6", "threshold", "hardshrink", "softshrink")
]


def _pair_inputs(shape=(3, 7)):
    # Away from the kinks of the piecewise activations.
    g = torch.rand(shape, dtype=torch.float64) * 4 - 2
    g = torch.where(g.abs() < 0.1, g + 0.3, g)
    return g.requires_grad_(True), torch.randn(shape, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("act", ACTS)
def test_gradcheck_and_gradgradcheck(act):
    g, u = _pair_inputs()
    fn = lambda a, b: AF.gated(a, b, act)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (g, u), check_forward_ad=True, check_batched_grad=True)
    assert torch.autograd.gradgradcheck(fn, (g, u), check_fwd_over_rev=True, check_rev_over_rev=True)


@pytest.mark.parametrize("order", ["gate_up", "up_gate"])
@pytest.mark.parametrize("act", ["silu", "gelu_tanh", "sigmoid", "elu"])
def test_gated_split_gradcheck(act, order):
    x = torch.randn(3, 4, 6, dtype=torch.float64, requires_grad=True)
    fn = lambda t: AF.gated_split(t, act, dim=1, order=order)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,), check_forward_ad=True, check_batched_grad=True)
    assert torch.autograd.gradgradcheck(fn, (x,), check_fwd_over_rev=True)


def test_third_order_matches_eager():
    g, u = _pair_inputs((5,))
    outs = []
    for fn in (AF.swiglu, lambda a, b: F.silu(a) * b):
        y = fn(g, u).sum()
        (d1,) = torch.autograd.grad(y, g, create_graph=True)
        (d2,) = torch.autograd.grad(d1.sum(), g, create_graph=True)
        (d3,) = torch.autograd.grad(d2.sum(), (g,))
        outs.append(torch.stack([d1.detach(), d2.detach(), d3]))
    torch.testing.assert_close(outs[0], outs[1])


def test_torch_func_transforms():
    from torch.func import grad, hessian, jacfwd, jacrev, jvp, vmap

    gb = torch.randn(5, 4, 6, dtype=torch.float64)
    ub = torch.randn(5, 4, 6, dtype=torch.float64)
    ours = lambda a, b: AF.geglu(a, b).sum()  # noqa: E731
    theirs = lambda a, b: (F.gelu(a) * b).sum()  # noqa: E731
    torch.testing.assert_close(vmap(AF.geglu)(gb, ub), F.gelu(gb) * ub)
    torch.testing.assert_close(
        vmap(AF.geglu, in_dims=(1, None))(gb, ub[:, 0]), F.gelu(gb.movedim(1, 0)) * ub[:, 0]
    )
    torch.testing.assert_close(
        vmap(grad(ours, argnums=(0, 1)))(gb, ub), vmap(grad(theirs, argnums=(0, 1)))(gb, ub)
    )
    a, b = gb[0, 0], ub[0, 0]
    torch.testing.assert_close(hessian(ours)(a, b), hessian(theirs)(a, b))
    torch.testing.assert_close(jacfwd(jacrev(ours))(a, b), hessian(theirs)(a, b))
    t = torch.randn_like(a)
    torch.testing.assert_close(
        jvp(lambda x: AF.geglu(x, b), (a,), (t,)), jvp(lambda x: F.gelu(x) * b, (a,), (t,))
    )
    xs = torch.randn(3, 4, 8, dtype=torch.float64)
    split = lambda x: AF.gated_split(x, "silu", dim=0).sum()  # noqa: E731
    split_ref = lambda x: (F.silu(x.chunk(2, 0)[0]) * x.chunk(2, 0)[1]).sum()  # noqa: E731
    torch.testing.assert_close(vmap(grad(split))(xs), vmap(grad(split_ref))(xs))
    torch.testing.assert_close(
        hessian(lambda x: AF.glu(x).sum())(xs[0, 0]), hessian(lambda x: F.glu(x).sum())(xs[0, 0])
    )


def test_vmap_errors_use_the_example_shapes():
    from torch.func import vmap

    with pytest.raises(ValueError, match=r"gate has shape \[5, 6\] but up has shape \[4, 6\]"):
        vmap(AF.swiglu, in_dims=(1, None))(torch.randn(5, 4, 6), torch.randn(4, 6))
    with pytest.raises(RuntimeError, match="odd"):
        vmap(lambda x: AF.gated_split(x, dim=0))(torch.randn(2, 3, 4))


def test_opcheck():
    g = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    u = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    go = torch.randn(4, 6, dtype=torch.float64)
    x = torch.randn(4, 8, dtype=torch.float64, requires_grad=True)
    torch.library.opcheck(ops.gated.default, (g, u, "silu", 0.0))
    torch.library.opcheck(ops.gated.default, (g, u, "softplus", 2.0))
    torch.library.opcheck(ops.gated_backward.default, (go, g.detach(), u.detach(), "gelu", 0.0))
    torch.library.opcheck(
        ops.gated_backward_.default, (go, g.detach().clone(), u.detach().clone(), "tanh", 0.0)
    )
    torch.library.opcheck(ops.gated_split.default, (x, "silu", 0.0, -1, False))
    torch.library.opcheck(ops.gated_split.default, (x, "sigmoid", 0.0, 0, True))
    torch.library.opcheck(
        ops.gated_split_backward.default,
        (torch.randn(4, 4, dtype=torch.float64), x.detach(), "silu", 0.0, 1, True),
    )


def test_compile_and_export_match_eager():
    g = torch.randn(8, 16, requires_grad=True)
    u = torch.randn(8, 16, requires_grad=True)
    fn = torch.compile(lambda a, b: AF.swiglu(a, b) * 2, fullgraph=True)
    y = fn(g, u)
    torch.testing.assert_close(y, F.silu(g) * u * 2)
    (dg,) = torch.autograd.grad(y.sum(), g)
    torch.testing.assert_close(dg, torch.autograd.grad((F.silu(g) * u * 2).sum(), g)[0])
    split = torch.compile(lambda t: AF.gated_split(t, "gelu"), fullgraph=True, dynamic=True)
    for n in (6, 10):
        t = torch.randn(3, n)
        torch.testing.assert_close(split(t), F.gelu(t[:, : n // 2]) * t[:, n // 2 :])

    class M(torch.nn.Module):
        def forward(self, t):
            return AF.glu(t) + AF.reglu(t[..., :3], t[..., 3:])

    ep = torch.export.export(M(), (torch.randn(4, 6),))
    t = torch.randn(4, 6)
    torch.testing.assert_close(ep.module()(t), F.glu(t) + F.relu(t[..., :3]) * t[..., 3:])


class Recorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls.append(str(func))
        return func(*args, **(kwargs or {}))


def _ours_only(calls):
    return [c for c in calls if c not in ("aten.detach.default", "aten.alias.default", "aten.slice.Tensor")]


def test_one_operator_each_way():
    g = torch.randn(4, 6, requires_grad=True)
    u = torch.randn(4, 6, requires_grad=True)
    with Recorder() as rec:
        y = AF.swiglu(g, u)
    assert _ours_only(rec.calls) == ["activations_ext.gated.default"]
    go = torch.ones_like(y)
    with Recorder() as rec:
        torch.autograd.grad(y, (g, u), go)
    assert _ours_only(rec.calls) == ["activations_ext.gated_backward.default"]
    x = torch.randn(4, 12, requires_grad=True)
    with Recorder() as rec:
        y = AF.gated_split(x)
    assert _ours_only(rec.calls) == ["activations_ext.gated_split.default"]
    go = torch.ones_like(y)
    with Recorder() as rec:
        torch.autograd.grad(y, x, go)
    # One gradient of x's shape, written directly: no cat, no zeros.
    assert _ours_only(rec.calls) == ["activations_ext.gated_split_backward.default"]


def test_autograd_keeps_only_gate_and_up():
    def saved_bytes(fn, *args):
        total = []

        def pack(t):
            total.append(t.numel() * t.element_size())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            fn(*args)
        return sum(total)

    g = torch.randn(64, 32, requires_grad=True) * 1
    u = torch.randn(64, 32, requires_grad=True) * 1
    ours = saved_bytes(AF.swiglu, g, u)
    theirs = saved_bytes(lambda a, b: F.silu(a) * b, g, u)
    assert ours == 2 * g.numel() * 4
    assert ours * 3 == theirs * 2


def test_autocast_runs_in_the_dtype_received():
    g, u = torch.randn(4, 8), torch.randn(4, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert AF.swiglu(g, u).dtype == (F.silu(g) * u).dtype == torch.float32
        assert AF.swiglu(g.bfloat16(), u.bfloat16()).dtype == torch.bfloat16


# ---------------------------------------------------------- inplace_backward


def _projections():
    torch.manual_seed(1)
    return torch.nn.Linear(8, 16), torch.nn.Linear(8, 16), torch.randn(4, 8)


def test_inplace_backward_gives_the_same_gradients():
    lin1, lin2, x = _projections()
    ref = torch.autograd.grad(
        (F.silu(lin1(x)) * lin2(x)).square().sum(), (lin1.weight, lin2.weight, lin1.bias)
    )
    gate, up = lin1(x), lin2(x)
    y = AF.swiglu(gate, up, inplace_backward=True)
    ours = torch.autograd.grad(y.square().sum(), (lin1.weight, lin2.weight, lin1.bias))
    for o, r in zip(ours, ref):
        torch.testing.assert_close(o, r)


def test_inplace_backward_overwrites_and_protects_gate_and_up():
    lin1, lin2, x = _projections()
    gate, up = lin1(x), lin2(x)
    earlier = gate.pow(2)  # saves gate; its backward runs after the gating's
    y = AF.swiglu(gate, up, inplace_backward=True)
    v0 = gate._version
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        (y.sum() + earlier.sum()).backward()
    assert gate._version > v0


@pytest.mark.parametrize("kw", [{"retain_graph": True}, {"create_graph": True}])
def test_inplace_backward_refuses_graphs_that_need_the_inputs(kw):
    lin1, lin2, x = _projections()
    y = AF.swiglu(lin1(x), lin2(x), inplace_backward=True)
    with pytest.raises(RuntimeError, match="inplace_backward=True"):
        torch.autograd.grad(y.sum(), lin1.weight, **kw)


def test_inplace_backward_refuses_leaves():
    g = torch.randn(3, requires_grad=True)
    with pytest.raises(ValueError, match="not a leaf"):
        AF.swiglu(g, torch.randn(3) * 1, inplace_backward=True)
    with pytest.raises(ValueError, match="up"):
        AF.swiglu(g * 1, torch.randn(3), inplace_backward=True)
    # Without autograd there is nothing to overwrite.
    with torch.no_grad():
        AF.swiglu(g, torch.randn(3), inplace_backward=True)


# --------------------------------------------------------------------- errors


def test_bad_input_errors():
    f, d = torch.randn(3), torch.randn(3, dtype=torch.float64)
    with pytest.raises(TypeError, match="gate has dtype Float but up has dtype Double"):
        AF.swiglu(f, d)
    with pytest.raises(ValueError, match=r"gate has shape \[3\] but up has shape \[4\]"):
        AF.swiglu(f, torch.randn(4))
    with pytest.raises(ValueError, match="gate has shape"):
        AF.swiglu(torch.randn(3, 1), torch.randn(3, 4))  # no broadcasting
    with pytest.raises(TypeError, match="up"):
        AF.swiglu(f, torch.ones(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="unknown act 'rrelu'"):
        AF.gated(f, f, "rrelu")
    with pytest.raises(ValueError, match="takes no alpha"):
        AF.gated(f, f, "silu", alpha=1.0)
    with pytest.raises(ValueError, match="approximate"):
        AF.geglu(f, f, approximate="fast")
    with pytest.raises(RuntimeError, match="odd"):
        AF.gated_split(torch.randn(2, 5))
    with pytest.raises(RuntimeError, match="odd"):
        AF.glu(torch.randn(3, 4), dim=0)
    with pytest.raises(RuntimeError, match="0-d"):
        AF.glu(torch.tensor(1.0))
    with pytest.raises(IndexError):
        AF.gated_split(torch.randn(2, 4), dim=2)
    with pytest.raises(ValueError, match="order"):
        AF.gated_split(torch.randn(2, 4), order="first")
    with pytest.raises(ValueError, match="unknown act"):
        ann.GatedMLP(4, 8, act="swish")


def test_bad_input_errors_when_traced():
    fn = torch.compile(AF.swiglu, fullgraph=True, backend="eager")
    with pytest.raises(Exception, match="gate has dtype Float but up has dtype Double"):
        fn(torch.randn(3), torch.randn(3, dtype=torch.float64))
    split = torch.compile(AF.gated_split, fullgraph=True, backend="eager")
    with pytest.raises(Exception, match="odd"):
        split(torch.randn(2, 5))


# ------------------------------------------------------------------ GatedMLP


class LlamaStyleMLP(torch.nn.Module):
    """The Llama MLP written by hand, as transformers writes it."""

    def __init__(self, hidden, inter, act=F.silu, bias=False):
        super().__init__()
        self.gate_proj = torch.nn.Linear(hidden, inter, bias=bias)
        self.up_proj = torch.nn.Linear(hidden, inter, bias=bias)
        self.down_proj = torch.nn.Linear(inter, hidden, bias=bias)
        self.act_fn = act

    def forward(self, x):
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))


@pytest.mark.parametrize("inplace_backward", [False, True])
@pytest.mark.parametrize(
    "act,fn,bias", [("silu", F.silu, False), ("gelu_tanh", lambda t: F.gelu(t, approximate="tanh"), True)]
)
def test_gated_mlp_matches_a_hand_built_mlp(act, fn, bias, inplace_backward):
    torch.manual_seed(0)
    ref = LlamaStyleMLP(16, 40, fn, bias)
    ours = ann.GatedMLP(16, 40, act=act, bias=bias, inplace_backward=inplace_backward)
    assert ours.load_state_dict(ref.state_dict(), strict=False).missing_keys == []
    assert set(ours.state_dict()) == set(ref.state_dict())
    ref2 = LlamaStyleMLP(16, 40, fn, bias)
    ref2.load_state_dict(ours.state_dict())
    x = torch.randn(2, 5, 16)
    torch.testing.assert_close(ours(x), ref(x))
    opt_a = torch.optim.SGD(ours.parameters(), lr=0.1)
    opt_b = torch.optim.SGD(ref.parameters(), lr=0.1)
    for model, opt in ((ours, opt_a), (ref, opt_b)):
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
    for (name, p), (_, q) in zip(ours.named_parameters(), ref.named_parameters()):
        torch.testing.assert_close(p, q, msg=name)


def test_gated_mlp_matches_transformers_llama_mlp():
    transformers = pytest.importorskip("transformers")
    from transformers.models.llama.modeling_llama import LlamaMLP

    config = transformers.LlamaConfig(hidden_size=32, intermediate_size=64, hidden_act="silu")
    ref = LlamaMLP(config)
    ours = ann.GatedMLP(32, 64)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3, 32)
    torch.testing.assert_close(ours(x), ref(x))
