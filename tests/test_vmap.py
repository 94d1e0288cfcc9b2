"""torch.func.vmap over every operator: one call per batch (activations_ext/_vmap.py).

The fallback (a loop over the examples) is disabled for the whole module, so
an operator without a batching rule fails here. Each result is compared bit
for bit with a per-example Python loop of the same operator: the same
kernels run on the same values.
"""

from __future__ import annotations

import pytest
import torch
from torch.func import vmap

import activations_ext.functional as AF
from activations_ext import _vmap
from activations_ext import nn as ann

A = torch.ops.activations_ext
B = 3  # the batch size

# Operator name -> its scalar arguments (non-default values where there are any).
UNARY = {
    "relu": (),
    "sigmoid": (),
    "leaky_relu": (0.2, False),
    "elu": (0.7, 1.0, 1.0, False),
    "tanh": (),
    "gelu": ("tanh",),
    "silu": (),
    "softplus": (2.0, 5.0),
    "mish": (),
    "selu": (),
    "hardswish": (),
    "hardsigmoid": (),
    "softsign": (),
    "relu6": (),
    "hardtanh": (-0.3, 2.5),
    "logsigmoid": (),
    "tanhshrink": (),
    "softshrink": (0.5,),
    "hardshrink": (0.5,),
    "threshold": (0.5, -2.0),
    "quick_gelu": (),
    "relu_squared": (),
}
INPLACE = {
    "relu_": (),
    "leaky_relu_": (0.2,),
    "elu_": (0.7, 1.0, 1.0),
    "silu_": (),
    "mish_": (),
    "selu_": (),
    "hardswish_": (),
    "hardsigmoid_": (),
    "relu6_": (),
    "hardtanh_": (-0.5, 0.5),
    "threshold_": (0.1, 3.0),
}
BACKWARD = {
    "relu_backward": (),
    "sigmoid_backward": (),
    "tanh_backward": (),
    "leaky_relu_backward": (0.2, False),
    "elu_backward": (0.7, 1.0, 1.0, False),
    "gelu_backward": ("none",),
    "silu_backward": (),
    "softplus_backward": (1.0, 20.0),
    "mish_backward": (),
    "hardswish_backward": (),
    "hardsigmoid_backward": (),
    "softsign_backward": (),
    # RReLU's training operators are elementwise in two tensors too.
    "rrelu_noise": (),
    "rrelu_with_noise": (),
    "relu6_backward": (),
    "hardtanh_backward": (-1.0, 1.0),
    "logsigmoid_backward": (),
    "tanhshrink_backward": (),
    "softshrink_backward": (0.5,),
    "hardshrink_backward": (0.5,),
    "threshold_backward": (0.5, -2.0),
    "quick_gelu_backward": (),
    "relu_squared_backward": (),
}
CHANNEL_OPS = ("prelu", "prelu_backward", "prelu_count", "bias_act", "bias_act_backward", "bias_act_count")
GATED_OPS = ("gated", "gated_backward", "gated_backward_", "gated_split", "gated_split_backward")


@pytest.fixture(autouse=True, scope="module")
def no_vmap_fallback():
    """An operator without a batching rule raises instead of looping."""
    enabled = torch._C._functorch._is_vmap_fallback_enabled()
    torch._C._functorch._set_vmap_fallback_enabled(False)
    yield
    torch._C._functorch._set_vmap_fallback_enabled(enabled)


def _registered_ops():
    return sorted(
        s.name.split("::", 1)[1]
        for s in torch._C._jit_get_all_schemas()
        if s.name.startswith("activations_ext::")
    )


def _randn(*shape, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed + 7 * len(shape) + sum(shape))
    return (torch.randn(shape, generator=gen, dtype=torch.float64) * 3).to(dtype)


def _weight(*shape, seed=0):
    gen = torch.Generator().manual_seed(seed + 11 * len(shape) + sum(shape))
    return torch.rand(shape, generator=gen) * 0.5 - 0.1


def _stack(outs):
    if isinstance(outs[0], tuple):
        return tuple(torch.stack(parts) for parts in zip(*outs))
    return torch.stack(outs)


def _assert_same(got, want):
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, tuple) else (want,)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        assert torch.equal(g, w), (g, w)


def check(fn, operands, in_dims):
    """vmap(fn) against a loop. ``operands`` hold their examples along dim 0
    where ``in_dims`` is not None (vmap gets them with the batch moved to
    that dim, in memory), and are shared by all examples where it is None."""
    args = [t if d is None else t.movedim(0, d).contiguous() for t, d in zip(operands, in_dims)]
    got = vmap(fn, in_dims=tuple(in_dims))(*args)
    batch = next(t.shape[0] for t, d in zip(operands, in_dims) if d is not None)
    want = _stack([fn(*[t if d is None else t[b] for t, d in zip(operands, in_dims)]) for b in range(batch)])
    _assert_same(got, want)


def check_nested(fn, operands, batched):
    """vmap(vmap(fn)) against two loops. ``batched[i]`` is (outer, inner):
    whether operand i has examples of that level (leading dims, outer first)."""
    outer = tuple(0 if o else None for o, _ in batched)
    inner = tuple(0 if i else None for _, i in batched)
    got = vmap(vmap(fn, in_dims=inner), in_dims=outer)(*operands)
    n_outer = next(t.shape[0] for t, (o, _) in zip(operands, batched) if o)
    n_inner = next(t.shape[1 if o else 0] for t, (o, i) in zip(operands, batched) if i)
    rows = []
    for a in range(n_outer):
        row_args = [t[a] if o else t for t, (o, _) in zip(operands, batched)]
        rows.append(
            _stack([fn(*[t[b] if i else t for t, (_, i) in zip(row_args, batched)]) for b in range(n_inner)])
        )
    _assert_same(got, _stack(rows))


# ------------------------------------------------------------------ coverage


def test_every_operator_has_a_batching_rule():
    ops = _registered_ops()
    assert len(ops) >= 34
    has = torch._C._dispatch_has_kernel_for_dispatch_key
    for op in ops:
        assert has(f"activations_ext::{op}", "FuncTorchBatched"), op
    assert sorted(_vmap.RULES) == ops


def test_every_operator_is_tested_here():
    tested = set(UNARY) | set(INPLACE) | set(BACKWARD) | set(CHANNEL_OPS) | set(GATED_OPS)
    assert tested == set(_registered_ops())


def test_fallback_is_disabled():
    """The module's premise: an operator without a rule raises under vmap."""
    lib = torch.library.Library("activations_ext_vmap_test", "FRAGMENT")
    lib.define("double(Tensor x) -> Tensor")
    lib.impl("double", lambda x: x * 2, "CPU")
    with pytest.raises(RuntimeError, match="vmap fallback which is currently disabled"):
        vmap(torch.ops.activations_ext_vmap_test.double)(torch.randn(B, 2))


# ----------------------------------------------------------------- pointwise


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("in_dim", [0, 1, -1])
def test_unary(name, in_dim):
    op, args = getattr(A, name), UNARY[name]
    check(lambda x: op(x, *args), [_randn(B, 4, 5)], [in_dim])


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_0d_examples_and_nested(name):
    op, args = getattr(A, name), UNARY[name]
    check(lambda x: op(x, *args), [_randn(B)], [0])
    check_nested(lambda x: op(x, *args), [_randn(2, B, 5)], [(True, True)])


@pytest.mark.parametrize("name", sorted(BACKWARD))
@pytest.mark.parametrize("in_dims", [(0, 0), (1, -1), (None, 0), (0, None)], ids=str)
def test_backward(name, in_dims):
    op, args = getattr(A, name), BACKWARD[name]
    g, s = _randn(B, 4, 5, seed=1), _randn(B, 4, 5, seed=2)
    operands = [t if d is not None else t[0] for t, d in zip((g, s), in_dims)]
    check(lambda g, s: op(g, s, *args), operands, list(in_dims))


@pytest.mark.parametrize("name", sorted(BACKWARD))
def test_backward_nested(name):
    op, args = getattr(A, name), BACKWARD[name]
    g, s = _randn(2, B, 5, seed=1), _randn(2, 5, seed=2)
    check_nested(lambda g, s: op(g, s, *args), [g, s], [(True, True), (True, False)])


def test_backward_examples_of_different_shapes_are_rejected():
    with pytest.raises(ValueError, match=r"grad_output has shape \[4, 5\] but saved tensor has shape \[5\]"):
        vmap(A.relu_backward, in_dims=(0, None))(_randn(B, 4, 5), _randn(5))


# ------------------------------------------------------------------ in place


@pytest.mark.parametrize("name", sorted(INPLACE))
@pytest.mark.parametrize("in_dim", [0, 1, -1])
def test_inplace_on_a_copy(name, in_dim):
    op, args = getattr(A, name), INPLACE[name]

    def fn(x):
        y = x.clone()
        assert op(y, *args) is None
        return y

    check(fn, [_randn(B, 4, 5)], [in_dim])


@pytest.mark.parametrize("name", sorted(INPLACE))
@pytest.mark.parametrize("in_dim", [0, 1, -1])
def test_inplace_mutates_the_batched_input(name, in_dim):
    """The batched tensor vmap is given is modified in place, example by
    example as a loop would modify each one."""
    op, args = getattr(A, name), INPLACE[name]
    x = _randn(B, 4, 5)
    want = x.clone()
    for b in range(B):
        op(want[b], *args)
    arg = x.movedim(0, in_dim).contiguous()

    def fn(t):
        op(t, *args)
        return t

    out = vmap(fn, in_dims=in_dim)(arg)
    _assert_same(out, want)
    _assert_same(arg.movedim(in_dim, 0), want)


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_nested(name):
    op, args = getattr(A, name), INPLACE[name]

    def fn(x):
        op(x, *args)
        return x

    check_nested(fn, [_randn(2, B, 5)], [(True, True)])


def test_inplace_rule_refuses_an_unbatched_self():
    # vmap only calls a rule when an operand is batched, and the in-place
    # operators have one tensor; the rule still refuses to write into a
    # tensor shared by all examples.
    with pytest.raises(RuntimeError, match=r"activations_ext\.relu_\(self, \*extra_args\) is not possible"):
        _vmap.RULES["relu_"](None, (None,), torch.randn(3))


# --------------------------------------------------------------------- PReLU

# (example shape, weight shape): per channel of dim 1, shared as [1] and as
# a 0-d tensor, and 1-d and 0-d examples (one channel).
PRELU_CASES = [
    ((4, 5, 6), (5,)),
    ((4, 5), (5,)),
    ((4, 5, 6), (1,)),
    ((4, 5, 6), ()),
    ((7,), (1,)),
    ((), ()),
]
# (input's in_dim, weight's in_dim)
PRELU_DIMS = [(0, None), (1, None), (-1, None), (0, 0), (1, 0), (-1, 0), (None, 0), (0, -1)]


def _prelu_operands(x_shape, w_shape, in_dims, seed=0):
    x = _randn(*((B,) + x_shape if in_dims[0] is not None else x_shape), seed=seed)
    w = _weight(*((B,) + w_shape if in_dims[1] is not None else w_shape), seed=seed)
    return x, w


def _valid_dims(shape, in_dims):
    # A 0-d example has no dim 1 or -1 to put the batch at (beyond -1 = 0).
    return all(d is None or -len(shape) - 1 <= d <= len(shape) for d in in_dims)


@pytest.mark.parametrize("x_shape,w_shape", PRELU_CASES, ids=str)
@pytest.mark.parametrize("in_dims", PRELU_DIMS, ids=str)
def test_prelu(x_shape, w_shape, in_dims):
    if in_dims[1] == -1 and not w_shape:
        in_dims = (in_dims[0], 0)
    if not _valid_dims(x_shape, in_dims):
        pytest.skip("no such dim in a 0-d example")
    check(A.prelu, list(_prelu_operands(x_shape, w_shape, in_dims)), list(in_dims))


@pytest.mark.parametrize("x_shape,w_shape", PRELU_CASES, ids=str)
@pytest.mark.parametrize(
    "in_dims",
    [(0, 0, None), (1, 1, None), (0, 0, 0), (-1, 1, 0), (None, None, 0), (0, None, None), (None, 0, 0)],
    ids=str,
)
def test_prelu_backward(x_shape, w_shape, in_dims):
    """The weight gradient is per example whenever anything is batched, even
    with one weight for all examples."""
    if not _valid_dims(x_shape, in_dims):
        pytest.skip("no such dim in a 0-d example")
    x, w = _prelu_operands(x_shape, w_shape, in_dims[1:])
    g = _randn(*((B,) + x_shape if in_dims[0] is not None else x_shape), seed=5)
    check(A.prelu_backward, [g, x, w], list(in_dims))


def test_prelu_backward_float64():
    x, w = _randn(B, 6, 5, 9, dtype=torch.float64), _weight(B, 5).double()
    check(A.prelu_backward, [torch.randn_like(x), x, w], [0, 0, 0])
    check(A.prelu_backward, [torch.randn_like(x), x, w[0, :1]], [0, 0, None])


@pytest.mark.parametrize(
    "x_shape,w_shape,dim",
    [
        ((4, 5, 6), (5,), 1),
        ((4, 5, 6), (1,), 1),
        ((4, 5, 6), (1,), 0),
        ((4, 5, 6), (), 2),
        ((4, 5, 6), (1,), -1),
        ((7,), (1,), 0),
    ],
    ids=str,
)
@pytest.mark.parametrize("in_dims", [(0, None), (1, 0), (None, 0), (-1, -1)], ids=str)
def test_prelu_count(x_shape, w_shape, dim, in_dims):
    """Counts per unit along `dim` and per example."""
    if in_dims[1] == -1 and not w_shape:
        in_dims = (in_dims[0], 0)
    x, w = _prelu_operands(x_shape, w_shape, in_dims)
    check(lambda x, w: A.prelu_count(x, w, dim), [x, w], list(in_dims))


def test_prelu_nested():
    x = _randn(2, B, 4, 5, 6)
    check_nested(A.prelu, [x, _weight(2, B, 5)], [(True, True), (True, True)])
    check_nested(A.prelu, [x, _weight(2, 5)], [(True, True), (True, False)])
    check_nested(A.prelu, [x, _weight(B, 1)], [(True, True), (False, True)])
    check_nested(
        A.prelu_backward, [torch.randn_like(x), x, _weight(2, 5)], [(True, True)] * 2 + [(True, False)]
    )
    check_nested(lambda x, w: A.prelu_count(x, w, 2), [x, _weight(2, B, 1)], [(True, True), (True, True)])


def test_prelu_errors_name_the_example_shapes():
    with pytest.raises(ValueError, match=r"weight has 6 elements, but .* channels \(size of dim 1\) = 5"):
        vmap(A.prelu)(_randn(B, 4, 5), _weight(B, 6))
    with pytest.raises(ValueError, match="a per-channel weight counts along dim 1, but got dim 0"):
        vmap(A.prelu_count, in_dims=(0, None, None))(_randn(B, 4, 5), _weight(5), 0)


def test_functional_and_module_prelu():
    x = _randn(B, 4, 5, 6)
    check(ann.PReLU(5), [x], [0])
    check(AF.prelu, [x, _weight(B, 5)], [0, 0])


# ------------------------------------------------------------------ bias_act

# (act, alpha, gain, clamp)
BIAS_ACT_PARAMS = [("gelu", 0.0, 1.0, None), ("leaky_relu", 0.2, 2**0.5, 1.5)]
# (example shape, dim)
BIAS_ACT_SHAPES = [((4, 5, 6), 1), ((4, 5, 6), -1), ((4, 5), -1), ((4, 5), 0)]


def _bias_act_operands(shape, dim, batched, bias, seed=0):
    """(input, bias) for the given example shape; ``batched`` per operand;
    bias: "none" or "tensor"."""
    x = _randn(*((B,) + shape if batched[0] else shape), seed=seed)
    if bias == "none":
        return x, None
    c = shape[dim]
    return x, _randn(*((B, c) if batched[1] else (c,)), seed=seed + 3)


@pytest.mark.parametrize("params", BIAS_ACT_PARAMS, ids=lambda p: p[0])
@pytest.mark.parametrize("shape,dim", BIAS_ACT_SHAPES, ids=str)
@pytest.mark.parametrize(
    "in_dims",
    [(0, None), (1, None), (-1, None), (0, 0), (1, 0), (None, 0), (-1, -1), (0, "no bias")],
    ids=str,
)
def test_bias_act(params, shape, dim, in_dims):
    act, alpha, gain, clamp = params
    no_bias = in_dims[1] == "no bias"
    x, bias = _bias_act_operands(
        shape, dim, (in_dims[0] is not None, in_dims[1] is not None), "none" if no_bias else "tensor"
    )
    if no_bias:
        check(lambda x: A.bias_act(x, None, act, dim, alpha, gain, clamp), [x], [in_dims[0]])
    else:
        check(lambda x, b: A.bias_act(x, b, act, dim, alpha, gain, clamp), [x, bias], list(in_dims))


@pytest.mark.parametrize("params", BIAS_ACT_PARAMS, ids=lambda p: p[0])
@pytest.mark.parametrize("shape,dim", BIAS_ACT_SHAPES, ids=str)
@pytest.mark.parametrize(
    "in_dims",
    [(0, 0, None), (1, -1, None), (0, 0, 0), (None, None, 0), (None, 0, None), (0, None, -1)],
    ids=str,
)
@pytest.mark.parametrize("bias_grad", [True, False])
def test_bias_act_backward(params, shape, dim, in_dims, bias_grad):
    """grad_bias is per example whenever anything is batched."""
    act, alpha, gain, clamp = params
    x, bias = _bias_act_operands(shape, dim, (in_dims[1] is not None, in_dims[2] is not None), "tensor")
    g = _randn(*((B,) + shape if in_dims[0] is not None else shape), seed=9)

    def fn(g, x, b):
        return A.bias_act_backward(g, x, b, act, dim, alpha, gain, clamp, bias_grad)

    check(fn, [g, x, bias], list(in_dims))


@pytest.mark.parametrize("in_dims", [(0, 0), (1, -1), (None, 0), (0, None)], ids=str)
def test_bias_act_backward_without_bias(in_dims):
    shape = (4, 5, 6)
    g = _randn(*((B,) + shape if in_dims[0] is not None else shape), seed=9)
    x = _randn(*((B,) + shape if in_dims[1] is not None else shape))
    check(
        lambda g, x: A.bias_act_backward(g, x, None, "silu", 1, 0.0, 1.0, None, False), [g, x], list(in_dims)
    )


@pytest.mark.parametrize("shape,dim", BIAS_ACT_SHAPES, ids=str)
@pytest.mark.parametrize("in_dims", [(0, None), (1, 0), (None, 0), (-1, -1)], ids=str)
@pytest.mark.parametrize("act,alpha", [("relu", 0.0), ("elu", 0.5)])
def test_bias_act_count(shape, dim, in_dims, act, alpha):
    """Counts per unit along `dim` and per example, including where only the
    bias differs between examples (it moves the pre-activations)."""
    x, bias = _bias_act_operands(shape, dim, (in_dims[0] is not None, in_dims[1] is not None), "tensor")
    check(lambda x, b: A.bias_act_count(x, b, act, dim, alpha), [x, bias], list(in_dims))


def test_bias_act_nested():
    x, bias = _randn(2, B, 4, 5, 6), _randn(2, B, 6)
    check_nested(lambda x, b: A.bias_act(x, b, "gelu", -1, 0.0, 1.0, None), [x, bias], [(True, True)] * 2)
    check_nested(
        lambda x, b: A.bias_act(x, b, "relu", 1, 0.0, 1.0, None),
        [x, _randn(2, 5)],
        [(True, True), (True, False)],
    )
    g = torch.randn_like(x)
    check_nested(
        lambda g, x, b: A.bias_act_backward(g, x, b, "mish", 2, 0.0, 1.0, None, True),
        [g, x, bias],
        [(True, True), (True, True), (True, True)],
    )
    check_nested(
        lambda x, b: A.bias_act_count(x, b, "relu", 0, 0.0), [x, _randn(B, 4)], [(True, True), (False, True)]
    )


def test_bias_act_errors_name_the_example_shapes():
    with pytest.raises(
        ValueError, match=r"bias must be 1-d with 5 elements \(input.shape\[1\]\), but got shape \[6\]"
    ):
        vmap(lambda x, b: A.bias_act(x, b, "relu", 1, 0.0, 1.0, None))(_randn(B, 4, 5), _randn(B, 6))
    with pytest.raises(IndexError, match="Dimension out of range"):
        vmap(lambda x, b: A.bias_act_count(x, b, "relu", 2, 0.0))(_randn(B, 4, 5), _randn(B, 5))


def test_functional_bias_act():
    x, bias = _randn(B, 4, 5), _randn(B, 5)
    check(lambda x, b: AF.bias_act(x, b, act="leaky_relu", dim=-1, alpha=0.1), [x, bias], [0, 0])


# ---------------------------------------------------------------------- gated


@pytest.mark.parametrize("in_dims", [(0, 0), (1, 0), (0, None), (None, 2)])
def test_gated(in_dims):
    ops = torch.ops.activations_ext
    check(
        lambda a, b: ops.gated(a, b, "silu", 0.0),
        [_randn(3, 4, 5), _randn(3, 4, 5, seed=1)[0] if in_dims[1] is None else _randn(3, 4, 5, seed=1)]
        if in_dims[0] is not None
        else [_randn(4, 5), _randn(3, 4, 5, seed=1)],
        in_dims,
    )


@pytest.mark.parametrize("in_dims", [(0, 0, 0), (None, 1, 0), (2, None, None)])
def test_gated_backward(in_dims):
    ops = torch.ops.activations_ext
    operands = [
        _randn(3, 4, 5, seed=k) if d is not None else _randn(4, 5, seed=k) for k, d in enumerate(in_dims)
    ]
    check(lambda g, a, b: ops.gated_backward(g, a, b, "gelu", 0.0), operands, in_dims)


def test_gated_backward_inplace():
    ops = torch.ops.activations_ext
    g, a, b = _randn(3, 4, 5), _randn(3, 4, 5, seed=1), _randn(3, 4, 5, seed=2)
    want = ops.gated_backward(g, a, b, "tanh", 0.0)
    a2, b2 = a.clone(), b.clone()
    vmap(lambda x, y, z: (ops.gated_backward_(x, y, z, "tanh", 0.0), y)[1])(g, a2, b2)
    _assert_same((a2, b2), want)
    with pytest.raises(RuntimeError, match="both must be vmapped over"):
        vmap(lambda y, z: ops.gated_backward_(g[0], y, z, "tanh", 0.0), in_dims=(0, None))(
            a.clone(), b[0].clone()
        )


@pytest.mark.parametrize("dim", [0, -1])
@pytest.mark.parametrize("in_dim", [0, 2])
def test_gated_split(dim, in_dim):
    ops = torch.ops.activations_ext
    check(lambda x: ops.gated_split(x, "silu", 0.0, dim, dim == 0), [_randn(3, 4, 6)], (in_dim,))
    check(
        lambda g, x: ops.gated_split_backward(g, x, "silu", 0.0, dim, False),
        [_randn(3, 2, 6) if dim == 0 else _randn(3, 4, 3), _randn(3, 4, 6, seed=1)],
        (in_dim, 0),
    )
