"""torch.func and forward-mode AD: every operator gives torch's answer under
grad, vjp, jacrev, jvp, jacfwd, hessian, forward_ad and vmap (with vmap's
per-example fallback disabled, so that a missing batching rule fails instead
of quietly looping)."""

from __future__ import annotations

import pytest
import torch
import torch.autograd.forward_ad as fwAD
from conftest import ALL_CASES, SPECS
from torch.func import functional_call, grad, hessian, jacfwd, jacrev, jvp, vjp, vmap

import activations_ext.functional as AF
from activations_ext import nn as ann

# Activations whose derivatives are continuous, so that Jacobians and
# Hessians at random points compare without kinks.
SMOOTH = {"sigmoid", "tanh", "gelu", "silu", "softplus", "mish", "elu", "selu"}


@pytest.fixture(autouse=True)
def _no_vmap_fallback():
    torch._C._functorch._set_vmap_fallback_enabled(False)
    yield
    torch._C._functorch._set_vmap_fallback_enabled(True)


def _points(shape=(4, 6), seed=0, device="cpu"):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * 2
    x = x + 0.1 * x.sign()  # away from the kink at 0
    x = torch.where((x.abs() - 3).abs() < 0.1, x + 0.3, x)  # and from hardswish's
    return x.to(device)


def _fns(spec, params, x):
    """Ours and torch's as functions of the input alone."""
    if spec.weight:
        w = spec.make_weight(x).double()
        return (lambda t: spec.ours(t, w)), (lambda t: spec.reference(t, w))
    # torch's float64 result where it is accurate, else the spec's precise
    # formula (CELU's torch backward rounds 1 / alpha to float).
    return (lambda t: spec.ours(t, **params)), (lambda t: spec.reference64(t, **params))


def _close(a, b):
    torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("spec,params", ALL_CASES)
def test_grad_and_vjp(spec, params, device):
    x = _points(device=device)
    ours, theirs = _fns(spec, params, x)
    _close(grad(lambda t: ours(t).square().sum())(x), grad(lambda t: theirs(t).square().sum())(x))
    v = _points(seed=1, device=device)
    y_o, f_o = vjp(ours, x)
    y_t, f_t = vjp(theirs, x)
    _close(y_o, y_t)
    _close(f_o(v)[0], f_t(v)[0])


@pytest.mark.parametrize("spec,params", ALL_CASES)
def test_jvp_and_forward_ad(spec, params, device):
    x = _points(device=device)
    v = _points(seed=2, device=device)
    ours, theirs = _fns(spec, params, x)
    y_o, t_o = jvp(ours, (x,), (v,))
    y_t, t_t = jvp(theirs, (x,), (v,))
    _close(y_o, y_t)
    _close(t_o, t_t)
    assert t_o.abs().sum() > 0 or t_t.abs().sum() == 0
    with fwAD.dual_level():
        out = fwAD.unpack_dual(ours(fwAD.make_dual(x, v)))
        assert out.tangent is not None, "no tangent"
        _close(out.tangent, t_t)


@pytest.mark.parametrize("spec,params", ALL_CASES)
def test_vmap(spec, params, device):
    x = _points((5, 4, 6), device=device)
    ours, theirs = _fns(spec, params, x[0])
    _close(vmap(ours)(x), theirs(x) if not spec.weight else torch.stack([theirs(t) for t in x]))
    # vmap of the gradient: per-example gradients
    g_o = vmap(grad(lambda t: ours(t).square().sum()))(x)
    g_t = torch.stack([grad(lambda t: theirs(t).square().sum())(t) for t in x])
    _close(g_o, g_t)


@pytest.mark.parametrize("spec,params", [c for c in ALL_CASES if c.values[0].name in SMOOTH])
def test_jacobians_and_hessian(spec, params, device):
    x = _points((7,), device=device)
    ours, theirs = _fns(spec, params, x)
    _close(jacrev(ours)(x), jacrev(theirs)(x))
    _close(jacfwd(ours)(x), jacfwd(theirs)(x))
    _close(hessian(lambda t: ours(t).sum())(x), hessian(lambda t: theirs(t).sum())(x))
    _close(jacfwd(jacfwd(ours))(x), jacfwd(jacfwd(theirs))(x))


@pytest.mark.parametrize("spec", [s for s in SPECS if s.has_inplace], ids=lambda s: s.name)
def test_inplace_forms_under_transforms(spec, device):
    x = _points(device=device)
    params = dict(spec.params)

    def ours(t):
        t = t * 1.5
        spec.ours(t, inplace=True, **params)
        return t

    def theirs(t):
        return spec.reference(t * 1.5, **params)

    _close(grad(lambda t: ours(t).square().sum())(x), grad(lambda t: theirs(t).square().sum())(x))
    v = _points(seed=3, device=device)
    _close(jvp(ours, (x,), (v,))[1], jvp(theirs, (x,), (v,))[1])
    _close(vmap(ours)(x), theirs(x))


def test_prelu_weight_as_an_argument(device):
    x = _points((3, 4, 5), device=device)
    w = torch.tensor([0.25, -0.1, 0.3, 0.05], dtype=torch.float64, device=device)
    F = torch.nn.functional
    for argnums in (0, 1, (0, 1)):
        a = grad(lambda t, u: AF.prelu(t, u).square().sum(), argnums=argnums)(x, w)
        b = grad(lambda t, u: F.prelu(t, u).square().sum(), argnums=argnums)(x, w)
        torch.utils._pytree.tree_map(_close, a, b)
    tw = torch.randn_like(w)
    tx = torch.randn_like(x)
    _close(jvp(AF.prelu, (x, w), (tx, tw))[1], jvp(F.prelu, (x, w), (tx, tw))[1])
    # vmap over the weight (one per example) and over the input
    ws = torch.rand(6, 4, dtype=torch.float64, device=device)
    _close(vmap(AF.prelu, in_dims=(None, 0))(x, ws), torch.stack([F.prelu(x, u) for u in ws]))
    _close(
        vmap(jacrev(AF.prelu, argnums=1), in_dims=(None, 0))(x, ws),
        torch.stack([jacrev(F.prelu, argnums=1)(x, u) for u in ws]),
    )
    _close(
        hessian(lambda u: AF.prelu(x, u).pow(3).sum())(w), hessian(lambda u: F.prelu(x, u).pow(3).sum())(w)
    )


@pytest.mark.parametrize("act", ["gelu", "leaky_relu", "silu", "tanh", "sigmoid", "softplus"])
def test_bias_act_with_the_bias(act, device):
    from activations_ext.ops import _bias_act_reference

    x = _points((3, 4, 5), device=device)
    b = torch.linspace(-0.5, 0.5, 4, dtype=torch.float64, device=device)
    alpha = {"leaky_relu": 0.2, "softplus": 1.0}.get(act)
    kw = dict(act=act, dim=1, alpha=alpha, gain=1.3, clamp=None)

    def ours(t, u):
        return AF.bias_act(t, u, **kw)

    def theirs(t, u):
        return _bias_act_reference(t, u, act, 1, 0.0 if alpha is None else alpha, 1.3, None)

    for argnums in (0, 1):
        _close(
            grad(lambda t, u: ours(t, u).square().sum(), argnums=argnums)(x, b),
            grad(lambda t, u: theirs(t, u).square().sum(), argnums=argnums)(x, b),
        )
    tx, tb = torch.randn_like(x), torch.randn_like(b)
    _close(jvp(ours, (x, b), (tx, tb))[1], jvp(theirs, (x, b), (tx, tb))[1])
    bs = torch.randn(6, 4, dtype=torch.float64, device=device)
    _close(vmap(ours, in_dims=(None, 0))(x, bs), torch.stack([theirs(x, u) for u in bs]))
    if act != "leaky_relu":
        _close(
            hessian(lambda u: ours(x, u).sum(), argnums=0)(b),
            hessian(lambda u: theirs(x, u).sum(), argnums=0)(b),
        )


def test_per_sample_gradients_of_a_model(device):
    torch.manual_seed(0)

    def model(act_cls, prelu_cls):
        return torch.nn.Sequential(
            torch.nn.Linear(6, 8), act_cls(), torch.nn.Linear(8, 8), prelu_cls(8), torch.nn.Linear(8, 1)
        ).to(device, torch.float64)

    ours = model(ann.SiLU, ann.PReLU)
    theirs = model(torch.nn.SiLU, torch.nn.PReLU)
    theirs.load_state_dict(ours.state_dict())
    data = torch.randn(10, 6, dtype=torch.float64, device=device)
    target = torch.randn(10, 1, dtype=torch.float64, device=device)

    def per_sample(m):
        params = {k: v.detach() for k, v in m.named_parameters()}

        def loss(p, x, y):
            return (functional_call(m, p, (x.unsqueeze(0),)) - y).square().sum()

        return vmap(grad(loss), in_dims=(None, 0, 0))(params, data, target)

    g_o, g_t = per_sample(ours), per_sample(theirs)
    assert g_o.keys() == g_t.keys()
    for k in g_o:
        _close(g_o[k], g_t[k])
