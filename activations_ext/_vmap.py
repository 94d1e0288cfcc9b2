"""Batching rules, so that ``torch.func.vmap`` runs every operator once per batch.

Without a rule, vmap calls an operator once per example (the fallback loop).
A rule gets the operands with their batch dimension exposed (``in_dims``
says where, None for an operand that is the same for every example) and
makes one call of the same operator on the whole batch:

- pointwise operators (forward, in place, backward) treat the batch
  dimension as one more dimension of the tensor;
- the operators with a per-channel parameter or result (PReLU's weight,
  bias_act's bias, the dead-unit counts) merge the batch dimension with the
  channel dimension: B examples of C channels become one call with B * C
  channels, the parameter is reshaped to B * C elements, and the per-channel
  results (weight and bias gradients, counts) come back as [B, C].

The same kernels run on the same values as in a per-example loop, so the
elementwise results are the same bit for bit. The per-channel sums (weight
and bias gradients) are grouped by the kernels from the shape they are
given: on the CPU the grouping is the per-example one as long as an example
fits in one of the per-channel tasks (csrc/cpu/schedule.cpp); beyond that,
and on CUDA, the float64 partials are grouped differently and the sums can
differ from a loop's in the last bit. Counts are exact either way.

Errors that depend on the shapes are raised with the per-example shapes, as
the per-example call would raise them.
"""

from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import torch

from . import _C  # noqa: F401  (loading the library defines the operators)
from .spec import elementwise_operators

if not hasattr(torch.library, "register_vmap"):
    raise ImportError(
        f"activations_ext needs torch.library.register_vmap (torch >= 2.4) to register its vmap "
        f"batching rules, but torch {torch.__version__} does not have it; upgrade torch"
    )

_ops = torch.ops.activations_ext
_lib = torch.library.Library("activations_ext", "FRAGMENT")

Shape = Sequence[int]


def _front(t: torch.Tensor, bdim: Optional[int], batch: int) -> torch.Tensor:
    """``t`` with its batch dimension first; an unbatched ``t`` is expanded to
    the batch size (a view, no copy)."""
    if bdim is None:
        return t.unsqueeze(0).expand(batch, *t.shape)
    return t.movedim(bdim, 0)


def _example_shape(t: torch.Tensor, bdim: Optional[int]) -> tuple:
    """The shape of one example of ``t``."""
    shape = tuple(t.shape)
    return shape if bdim is None else shape[:bdim] + shape[bdim + 1 :]


def _rows(t: torch.Tensor, bdim: Optional[int], batch: int, numel: int) -> torch.Tensor:
    """A parameter as [batch, numel]: one row per example."""
    return _front(t, bdim, batch).reshape(batch, numel)


def _merge(xb: torch.Tensor, shape: Shape, dim: int) -> torch.Tensor:
    """[B, *shape] -> ``shape`` with ``shape[dim]`` replaced by B * shape[dim]
    (batch-major), so that channel c of example b is channel b * C + c."""
    batch = xb.shape[0]
    return xb.movedim(0, dim).reshape(*shape[:dim], batch * shape[dim], *shape[dim + 1 :])


def _unmerge(y: torch.Tensor, shape: Shape, dim: int, batch: int) -> torch.Tensor:
    """The inverse of _merge, with the batch dimension at ``dim``."""
    return y.reshape(*shape[:dim], batch, shape[dim], *shape[dim + 1 :])


def _wrap_dim(dim: int, ndim: int) -> int:
    if not -ndim <= dim < ndim:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], but got {dim})"
        )
    return dim % ndim


def _check_same_shape(op: str, a: Shape, b: Shape, a_name: str, b_name: str) -> None:
    if tuple(a) != tuple(b):
        raise ValueError(
            f"activations_ext.{op}: {a_name} has shape {list(a)} but {b_name} has shape {list(b)}"
        )


# ----------------------------------------------------------------- pointwise


def _pointwise(name: str, op: Callable) -> Callable:
    # Batch-agnostic: the batch dimension is one more dimension of the input,
    # and the output has the input's shape.
    def rule(info, in_dims, x, *args):
        return op(x, *args), in_dims[0]

    return rule


def _inplace(name: str, op: Callable) -> Callable:
    def rule(info, in_dims, x, *args):
        # vmap calls a rule only when some operand is batched, and these
        # operators have one tensor, so this holds whenever vmap calls it;
        # it keeps the rule from writing one example's result over a tensor
        # all examples share if it is ever called otherwise.
        if in_dims[0] is None:
            raise RuntimeError(
                f"vmap: activations_ext.{name}(self, *extra_args) is not possible because `self` is not "
                f"being vmapped over; use the out-of-place operator activations_ext.{name[:-1]} instead"
            )
        op(x, *args)
        return None, None

    return rule


def _pair(name: str, op: Callable, a_name: str = "grad_output", b_name: str = "saved tensor") -> Callable:
    # backward(grad_output, saved, *scalars): elementwise in both tensors
    # (so are RReLU's rrelu_noise and rrelu_with_noise).
    def rule(info, in_dims, g, saved, *args):
        batch = info.batch_size
        _check_same_shape(
            name,
            _example_shape(g, in_dims[0]),
            _example_shape(saved, in_dims[1]),
            a_name,
            b_name,
        )
        return op(_front(g, in_dims[0], batch), _front(saved, in_dims[1], batch), *args), 0

    return rule


# --------------------------------------------------------------------- PReLU


def _prelu_weight_numel(op: str, x_shape: Shape, w_shape: Shape) -> int:
    """Checks one example's weight against its input as check_prelu() in
    csrc/checks.cpp does; returns the weight's number of elements."""
    if len(w_shape) > 1:
        raise ValueError(
            f"activations_ext.{op}: weight must be a scalar or 1-d tensor, but got {len(w_shape)} dimensions"
        )
    k = math.prod(w_shape)
    if k != 1:
        if not x_shape:
            raise ValueError(f"activations_ext.{op}: a 0-d input takes a weight of one element, but got {k}")
        channels = x_shape[1] if len(x_shape) >= 2 else 1
        if k != channels:
            raise ValueError(
                f"activations_ext.{op}: weight has {k} elements, but it must have 1 or as many as the "
                f"input's channels (size of dim 1) = {channels}"
            )
    return k


def _prelu_layout(xb: torch.Tensor, shape: Shape, k: int) -> torch.Tensor:
    """[B, *shape] arranged so that one prelu call with a weight of B * k
    elements (example-major) applies each example's weight to it.

    A shared weight (k == 1): [1, B, n], the examples as channels. A weight
    per channel: the batch merged into dim 1, [N, B * C, ...].
    """
    batch = xb.shape[0]
    if k == 1:
        return xb.reshape(1, batch, math.prod(shape))
    return _merge(xb, shape, 1)


def _prelu_restore(y: torch.Tensor, shape: Shape, k: int, batch: int) -> tuple:
    """The inverse of _prelu_layout: (tensor, its batch dimension)."""
    if k == 1:
        return y.reshape(batch, *shape), 0
    return _unmerge(y, shape, 1, batch), 1


def _prelu_rule(info, in_dims, x, weight):
    x_dim, w_dim = in_dims
    batch = info.batch_size
    shape = _example_shape(x, x_dim)
    k = _prelu_weight_numel("prelu", shape, _example_shape(weight, w_dim))
    if w_dim is None:
        if k == 1:  # one weight for everything: pointwise
            return _ops.prelu.default(x, weight), x_dim
        # The examples join the outer dimension; the channels stay at dim 1.
        xb = x.movedim(x_dim, 0).reshape(batch * shape[0], *shape[1:])
        return _ops.prelu.default(xb, weight).reshape(batch, *shape), 0
    xm = _prelu_layout(_front(x, x_dim, batch), shape, k)
    y = _ops.prelu.default(xm, _rows(weight, w_dim, batch, k).reshape(batch * k))
    return _prelu_restore(y, shape, k, batch)


def _prelu_backward_rule(info, in_dims, g, x, weight):
    # The weight gradient is a sum over one example, so it is per example
    # whenever anything is batched, even with a weight all examples share.
    g_dim, x_dim, w_dim = in_dims
    batch = info.batch_size
    shape = _example_shape(x, x_dim)
    w_shape = _example_shape(weight, w_dim)
    k = _prelu_weight_numel("prelu_backward", shape, w_shape)
    _check_same_shape("prelu_backward", _example_shape(g, g_dim), shape, "grad_output", "input")
    gm = _prelu_layout(_front(g, g_dim, batch), shape, k)
    xm = _prelu_layout(_front(x, x_dim, batch), shape, k)
    wm = _rows(weight, w_dim, batch, k).reshape(batch * k)
    gi, gw = _ops.prelu_backward.default(gm, xm, wm)
    gi, gi_dim = _prelu_restore(gi, shape, k, batch)
    return (gi, gw.reshape(batch, *w_shape)), (gi_dim, 0)


def _unit_dim(op: str, shape: Shape, dim: int) -> int:
    if not shape:
        raise ValueError(
            f"activations_ext.{op}: counting per unit needs an input with at least one dimension"
        )
    return _wrap_dim(dim, len(shape))


def _prelu_count_rule(info, in_dims, x, weight, dim):
    # Counts are per unit along `dim` and per example: the batch is merged
    # with the units into dim 1 of [outer, B * U, inner], where every unit
    # gets its example's weight (a per-channel weight, which prelu_count
    # takes along dim 1 only).
    x_dim, w_dim = in_dims[:2]
    batch = info.batch_size
    shape = _example_shape(x, x_dim)
    k = _prelu_weight_numel("prelu_count", shape, _example_shape(weight, w_dim))
    d = _unit_dim("prelu_count", shape, dim)
    if k != 1 and d != 1:
        raise ValueError(
            f"activations_ext.prelu_count: a per-channel weight counts along dim 1, but got dim {dim}"
        )
    units = shape[d]
    xb = _front(x, x_dim, batch).movedim(0, d)
    xm = xb.reshape(math.prod(shape[:d]), batch * units, math.prod(shape[d + 1 :]))
    wm = _rows(weight, w_dim, batch, k).expand(batch, units).reshape(batch * units)
    y, counts = _ops.prelu_count.default(xm, wm, 1)
    return (_unmerge(y, shape, d, batch), counts.reshape(batch, units)), (d, 0)


# ------------------------------------------------------------------ bias_act


def _bias_dim(op: str, shape: Shape, b_shape: Shape, dim: int) -> int:
    """Checks one example's bias against its input as check_bias_act() in
    csrc/checks.cpp does; returns the bias dimension, normalized."""
    if not shape:
        raise ValueError(f"activations_ext.{op}: a bias needs an input with at least one dimension")
    d = _wrap_dim(dim, len(shape))
    if len(b_shape) != 1 or b_shape[0] != shape[d]:
        raise ValueError(
            f"activations_ext.{op}: bias must be 1-d with {shape[d]} elements (input.shape[{d}]), "
            f"but got shape {list(b_shape)}"
        )
    return d


def _bias_act_rule(info, in_dims, x, bias, act, dim, alpha, gain, clamp):
    x_dim, b_dim = in_dims[:2]
    batch = info.batch_size
    if bias is None:  # pointwise; `dim` is not used
        return _ops.bias_act.default(x, None, act, dim, alpha, gain, clamp), x_dim
    shape = _example_shape(x, x_dim)
    d = _bias_dim("bias_act", shape, _example_shape(bias, b_dim), dim)
    if b_dim is None:
        return _ops.bias_act.default(x.movedim(x_dim, 0), bias, act, d + 1, alpha, gain, clamp), 0
    xm = _merge(_front(x, x_dim, batch), shape, d)
    bm = _rows(bias, b_dim, batch, shape[d]).reshape(-1)
    y = _ops.bias_act.default(xm, bm, act, d, alpha, gain, clamp)
    return _unmerge(y, shape, d, batch), d


def _bias_act_backward_rule(info, in_dims, g, x, bias, act, dim, alpha, gain, clamp, bias_grad):
    # grad_bias is a sum over one example: per example ([B, C]) whenever
    # anything is batched. Without bias_grad it is the operator's empty
    # tensor, the same for every example.
    g_dim, x_dim, b_dim = in_dims[:3]
    batch = info.batch_size
    shape = _example_shape(x, x_dim)
    _check_same_shape("bias_act_backward", _example_shape(g, g_dim), shape, "grad_output", "input")
    gf = _front(g, g_dim, batch)
    xf = _front(x, x_dim, batch)
    if bias is None:
        gi, gb = _ops.bias_act_backward.default(gf, xf, None, act, dim, alpha, gain, clamp, bias_grad)
        return (gi, gb), (0, None)
    d = _bias_dim("bias_act_backward", shape, _example_shape(bias, b_dim), dim)
    if b_dim is None and not bias_grad:
        gi, gb = _ops.bias_act_backward.default(gf, xf, bias, act, d + 1, alpha, gain, clamp, False)
        return (gi, gb), (0, None)
    bm = _rows(bias, b_dim, batch, shape[d]).reshape(-1)
    gi, gb = _ops.bias_act_backward.default(
        _merge(gf, shape, d), _merge(xf, shape, d), bm, act, d, alpha, gain, clamp, bias_grad
    )
    gi = _unmerge(gi, shape, d, batch)
    if bias_grad:
        return (gi, gb.reshape(batch, shape[d])), (d, 0)
    return (gi, gb), (d, None)


def _bias_act_count_rule(info, in_dims, x, bias, act, dim, alpha):
    # Counts per unit along `dim`, per example: batch and units merged.
    x_dim, b_dim = in_dims[:2]
    batch = info.batch_size
    shape = _example_shape(x, x_dim)
    d = _unit_dim("bias_act_count", shape, dim)
    _bias_dim("bias_act_count", shape, _example_shape(bias, b_dim), dim)
    xm = _merge(_front(x, x_dim, batch), shape, d)
    bm = _rows(bias, b_dim, batch, shape[d]).reshape(-1)
    y, counts = _ops.bias_act_count.default(xm, bm, act, d, alpha)
    return (_unmerge(y, shape, d, batch), counts.reshape(batch, shape[d])), (d, 0)


# ---------------------------------------------------------------------- gated


def _gated_backward_rule(info, in_dims, g, gate, up, act, alpha):
    batch = info.batch_size
    shape = _example_shape(gate, in_dims[1])
    _check_same_shape("gated_backward", shape, _example_shape(up, in_dims[2]), "gate", "up")
    _check_same_shape("gated_backward", _example_shape(g, in_dims[0]), shape, "grad_output", "gate")
    ga, gu = _ops.gated_backward.default(
        _front(g, in_dims[0], batch),
        _front(gate, in_dims[1], batch),
        _front(up, in_dims[2], batch),
        act,
        alpha,
    )
    return (ga, gu), (0, 0)


def _gated_backward_inplace_rule(info, in_dims, g, gate, up, act, alpha):
    # Writes over gate and up: each must be batched (one example's gradient
    # cannot be written over a tensor all examples share).
    if in_dims[1] is None or in_dims[2] is None:
        raise RuntimeError(
            "vmap: activations_ext.gated_backward_ writes over gate and up, so both must be vmapped over; "
            "use activations_ext.gated_backward instead"
        )
    batch = info.batch_size
    _check_same_shape(
        "gated_backward_", _example_shape(gate, in_dims[1]), _example_shape(up, in_dims[2]), "gate", "up"
    )
    _check_same_shape(
        "gated_backward_",
        _example_shape(g, in_dims[0]),
        _example_shape(gate, in_dims[1]),
        "grad_output",
        "gate",
    )
    _ops.gated_backward_.default(
        _front(g, in_dims[0], batch), gate.movedim(in_dims[1], 0), up.movedim(in_dims[2], 0), act, alpha
    )
    return None, None


def _split_dim(op: str, shape: Shape, dim: int) -> int:
    """gated_split's dimension within one example, checked as
    check_gated_split() in csrc/checks.cpp checks it."""
    if not shape:
        raise RuntimeError(f"activations_ext.{op}: a 0-d input cannot be split into two halves")
    d = _wrap_dim(dim, len(shape))
    if shape[d] % 2:
        raise RuntimeError(
            f"activations_ext.{op}: input.shape[{d}] is {shape[d]}, which is odd; the split needs an even "
            f"size along dim"
        )
    return d


def _gated_split_rule(info, in_dims, x, act, alpha, dim, up_first):
    d = _split_dim("gated_split", _example_shape(x, in_dims[0]), dim)
    return _ops.gated_split.default(x.movedim(in_dims[0], 0), act, alpha, d + 1, up_first), 0


def _gated_split_backward_rule(info, in_dims, g, x, act, alpha, dim, up_first):
    batch = info.batch_size
    shape = _example_shape(x, in_dims[1])
    d = _split_dim("gated_split_backward", shape, dim)
    half = list(shape)
    half[d] //= 2
    _check_same_shape(
        "gated_split_backward", _example_shape(g, in_dims[0]), half, "grad_output", "half of input"
    )
    gx = _ops.gated_split_backward.default(
        _front(g, in_dims[0], batch), _front(x, in_dims[1], batch), act, alpha, d + 1, up_first
    )
    return gx, 0


# -------------------------------------------------------------- registration

# The activations of the spec table without a tensor parameter: one rule per
# kind of operator.
_ELEMENTWISE = {
    "forward": _pointwise,
    "inplace": _inplace,
    "backward": _pair,
}

RULES: dict = {
    **{
        name: _ELEMENTWISE[kind](name, getattr(_ops, name).default)
        for name, (kind, _) in elementwise_operators().items()
    },
    # RReLU's training mode: the draws are torch's uniform_ (whose own rule
    # honours vmap's randomness=), then these two elementwise operators.
    "rrelu_noise": _pair("rrelu_noise", _ops.rrelu_noise.default, "input", "uniform"),
    "rrelu_with_noise": _pair("rrelu_with_noise", _ops.rrelu_with_noise.default, "input", "noise"),
    "prelu": _prelu_rule,
    "prelu_backward": _prelu_backward_rule,
    "prelu_count": _prelu_count_rule,
    "bias_act": _bias_act_rule,
    "bias_act_backward": _bias_act_backward_rule,
    "bias_act_count": _bias_act_count_rule,
    "gated": _pair("gated", _ops.gated.default, "gate", "up"),
    "gated_backward": _gated_backward_rule,
    "gated_backward_": _gated_backward_inplace_rule,
    "gated_split": _gated_split_rule,
    "gated_split_backward": _gated_split_backward_rule,
}
"""The batching rule of every operator, by operator name."""

for _name, _rule in RULES.items():
    torch.library.register_vmap(f"activations_ext::{_name}", _rule, lib=_lib)
