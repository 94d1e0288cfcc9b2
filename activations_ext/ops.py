"""The registered operators: loads the C++ library and adds fake kernels.

The operators live in the torch library namespace ``activations_ext`` and are
reached as ``torch.ops.activations_ext.<name>``. Their CPU and CUDA kernels
and their autograd are registered in C++ (csrc/); the fake (meta) kernels
that ``torch.compile`` and ``torch.export`` trace with are registered here.
The fake kernels allocate exactly as the real ones do, so traced shapes,
strides and dtypes match eager, and check their arguments as the real ones
do (``_checks``), so bad input fails the same way traced as run.

The activations without a tensor parameter share one fake kernel per kind of
operator (forward, in place, backward), registered from the spec table;
PReLU, bias_act and the counting operators have their own.
"""

from __future__ import annotations

from typing import Any, Callable, Dict

import torch

from . import _C  # noqa: F401  (loading the library registers the operators)
from ._checks import (
    check_bias_act,
    check_bias_grad,
    check_float,
    check_gated,
    check_gated_split,
    check_no_internal_overlap,
    check_pair,
    check_prelu,
    check_prelu_count_dim,
    check_unit_dim,
)
from .spec import BIAS_ACT_FORMS, ActivationSpec, elementwise_operators

_lib = torch.ops.activations_ext


def _channel_like(x: torch.Tensor, dim: int, param_numel: int) -> torch.Tensor:
    # Mirrors channel_input() in csrc/launch.cpp: layouts the kernels cannot walk
    # are made contiguous first, and the output follows the layout used.
    if x.numel() == 0:
        return torch.empty_like(x)
    if param_numel == 1:
        ok = _is_dense(x)
    else:
        ok = x.is_contiguous() or (_is_dense(x) and x.stride(dim) == 1)
    return torch.empty_like(x) if ok else torch.empty_like(x, memory_format=torch.contiguous_format)


def _prelu_like(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return _channel_like(x, 1 if x.dim() >= 2 else 0, w.numel())


def _is_dense(x: torch.Tensor) -> bool:
    # c10's is_non_overlapping_and_dense: strides, sorted, are the running
    # products of the sizes (dims of size 0 or 1 do not count).
    dims = sorted((d for d in range(x.dim()) if x.shape[d] >= 2), key=x.stride)
    expected = 1
    for d in dims:
        if x.stride(d) != expected:
            return False
        expected *= x.shape[d]
    return True


# ------------------------------------------- activations of the spec table


def _arguments(op: str) -> Callable[..., Dict[str, Any]]:
    """Binds a fake kernel's arguments to their schema names. The dispatcher
    leaves out trailing arguments equal to their defaults; the schema
    supplies them."""
    schema = getattr(_lib, op).default._schema
    names = [a.name for a in schema.arguments]
    defaults = {a.name: a.default_value for a in schema.arguments if a.has_default_value()}

    def bind(*args, **kwargs) -> Dict[str, Any]:
        out = dict(defaults)
        out.update(zip(names, args))
        out.update(kwargs)
        return out

    return bind


def _param_checks(op: str, spec: ActivationSpec) -> Callable[..., None]:
    if spec.check_params is None:
        return lambda *args, **kwargs: None
    bind = _arguments(op)
    return lambda *args, **kwargs: spec.check_params(op, bind(*args, **kwargs))


# The C++ operators check their tensors first, then their parameters.


def _forward_fake(op: str, spec: ActivationSpec) -> Callable:
    params = _param_checks(op, spec)

    contiguous_on_cpu = spec.cpu_output_contiguous

    def fake(x, *args, **kwargs):
        check_float(x, op, "input")
        params(x, *args, **kwargs)
        if contiguous_on_cpu and x.device.type == "cpu":
            return torch.empty_like(x, memory_format=torch.contiguous_format)
        return torch.empty_like(x)

    return fake


def _inplace_fake(op: str, spec: ActivationSpec) -> Callable:
    params = _param_checks(op, spec)

    def fake(x, *args, **kwargs):
        check_float(x, op, "input")
        params(x, *args, **kwargs)
        check_no_internal_overlap(x)
        return None

    return fake


def _backward_fake(op: str, spec: ActivationSpec) -> Callable:
    params = _param_checks(op, spec)

    def fake(g, saved, *args, **kwargs):
        check_pair(g, saved, op, "grad_output", "saved tensor")
        params(g, saved, *args, **kwargs)
        return torch.empty_like(saved)

    return fake


_FAKES = {"forward": _forward_fake, "inplace": _inplace_fake, "backward": _backward_fake}

for _op, (_kind, _spec) in elementwise_operators().items():
    torch.library.register_fake(f"activations_ext::{_op}")(_FAKES[_kind](_op, _spec))


# ----------------------------------------------------- RReLU's training mode


@torch.library.register_fake("activations_ext::rrelu_noise")
def _rrelu_noise_fake(x, uniform):
    check_pair(x, uniform, "rrelu_noise", "input", "uniform")
    return torch.empty_like(x)


@torch.library.register_fake("activations_ext::rrelu_with_noise")
def _rrelu_with_noise_fake(x, noise):
    check_pair(x, noise, "rrelu_with_noise", "input", "noise")
    return torch.empty_like(x)


# ---------------------------------------------------------------------- PReLU


@torch.library.register_fake("activations_ext::prelu")
def _prelu_fake(x, weight):
    check_prelu(x, weight, "prelu")
    return _prelu_like(x, weight)


@torch.library.register_fake("activations_ext::prelu_backward")
def _prelu_backward_fake(g, x, weight):
    check_prelu(x, weight, "prelu_backward")
    check_pair(g, x, "prelu_backward", "grad_output", "input")
    return _prelu_like(x, weight), torch.empty(weight.shape, dtype=weight.dtype, device=weight.device)


# ------------------------------------------------------------------- bias_act


def _bias_act_like(x, bias, dim):
    if bias is None:
        return _channel_like(x, 0, 1)
    return _channel_like(x, dim % x.dim(), bias.numel())


@torch.library.register_fake("activations_ext::bias_act")
def _bias_act_fake(x, bias, act, dim, alpha, gain, clamp):
    check_bias_act(x, bias, act, dim, alpha, gain, clamp, "bias_act")
    return _bias_act_like(x, bias, dim)


@torch.library.register_fake("activations_ext::bias_act_backward")
def _bias_act_backward_fake(g, x, bias, act, dim, alpha, gain, clamp, bias_grad):
    check_bias_act(x, bias, act, dim, alpha, gain, clamp, "bias_act_backward")
    check_pair(g, x, "bias_act_backward", "grad_output", "input")
    check_bias_grad(bias, bias_grad, "bias_act_backward")
    gb = torch.empty_like(bias) if bias_grad else x.new_empty((0,))
    return _bias_act_like(x, bias, dim), gb


def _bias_act_reference(x, bias, act, dim, alpha, gain, clamp):
    """bias_act written with torch's ops, for the tests and benchmarks: the
    activation is the spec table's reference (``BIAS_ACT_FORMS``)."""
    if bias is not None:
        shape = [1] * x.dim()
        shape[dim % x.dim()] = -1
        x = x + bias.view(shape)
    y = BIAS_ACT_FORMS[act].reference(x, alpha) * gain
    if clamp is not None:
        y = y.clamp(-clamp, clamp)
    return y


# ------------------------------------------------- forward with unit counts


@torch.library.register_fake("activations_ext::bias_act_count")
def _bias_act_count_fake(x, bias, act, dim, alpha):
    d = check_unit_dim(x, dim, "bias_act_count")
    check_bias_act(x, bias, act, d, alpha, 1.0, None, "bias_act_count")
    y = _channel_like(x, d, bias.numel())
    return y, x.new_empty((bias.numel(),), dtype=torch.int64)


@torch.library.register_fake("activations_ext::prelu_count")
def _prelu_count_fake(x, weight, dim):
    check_prelu(x, weight, "prelu_count")
    check_prelu_count_dim(x, weight, dim, "prelu_count")
    d = check_unit_dim(x, dim, "prelu_count")
    units = x.shape[d]
    y = _channel_like(x, d, units)
    return y, x.new_empty((units,), dtype=torch.int64)


# ---------------------------------------------------------------------- gated


def _gated_like(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    # Mirrors gated_empty() in csrc/launch.cpp: like gate when gate and up are
    # dense with the same strides, contiguous otherwise.
    if _is_dense(gate) and gate.stride() == up.stride():
        return torch.empty_like(gate)
    return torch.empty(gate.shape, dtype=gate.dtype, device=gate.device)


def _half_shape(x: torch.Tensor, d: int) -> list:
    shape = list(x.shape)
    shape[d] = shape[d] // 2
    return shape


@torch.library.register_fake("activations_ext::gated")
def _gated_fake(gate, up, act, alpha, inplace_backward=False):
    check_gated(gate, up, act, alpha, "gated")
    return _gated_like(gate, up)


@torch.library.register_fake("activations_ext::gated_backward")
def _gated_backward_fake(g, gate, up, act, alpha):
    check_gated(gate, up, act, alpha, "gated_backward")
    check_pair(g, gate, "gated_backward", "grad_output", "gate")
    return _gated_like(gate, up), _gated_like(gate, up)


@torch.library.register_fake("activations_ext::gated_backward_")
def _gated_backward_inplace_fake(g, gate, up, act, alpha):
    check_gated(gate, up, act, alpha, "gated_backward_")
    check_pair(g, gate, "gated_backward_", "grad_output", "gate")
    check_no_internal_overlap(gate)
    check_no_internal_overlap(up)
    return None


@torch.library.register_fake("activations_ext::gated_split")
def _gated_split_fake(x, act, alpha, dim, up_first):
    d = check_gated_split(x, dim, "gated_split")
    check_gated(x, x, act, alpha, "gated_split")
    return x.new_empty(_half_shape(x, d))


@torch.library.register_fake("activations_ext::gated_split_backward")
def _gated_split_backward_fake(g, x, act, alpha, dim, up_first):
    d = check_gated_split(x, dim, "gated_split_backward")
    check_gated(x, x, act, alpha, "gated_split_backward")
    check_pair(g, x.narrow(d, 0, x.shape[d] // 2), "gated_split_backward", "grad_output", "half of input")
    return torch.empty(x.shape, dtype=x.dtype, device=x.device)
