"""The registered operators: loads the C++ library and adds fake kernels.

The operators live in the torch library namespace ``activations_ext`` and are
reached as ``torch.ops.activations_ext.<name>``. Their CPU and CUDA kernels
and their autograd are registered in C++ (csrc/); the fake (meta) kernels
that ``torch.compile`` and ``torch.export`` trace with are registered here.
The fake kernels allocate exactly as the real ones do, so traced shapes,
strides and dtypes match eager.
"""

from __future__ import annotations

import torch

from . import _C  # noqa: F401  (loading the library registers the operators)

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _check_float(t: torch.Tensor, op: str, what: str = "input") -> None:
    if t.dtype not in _FLOAT_DTYPES:
        raise TypeError(
            f"activations_ext.{op}: {what} must be a floating-point tensor (float16, bfloat16, "
            f"float32 or float64), but got {t.dtype}. Convert it first, e.g. with .float()."
        )


def _check_pair(g: torch.Tensor, s: torch.Tensor, op: str) -> None:
    _check_float(g, op, "grad_output")
    _check_float(s, op, "saved tensor")
    if g.dtype != s.dtype or g.shape != s.shape:
        raise ValueError(
            f"activations_ext.{op}: grad_output ({g.dtype}, {tuple(g.shape)}) and saved tensor "
            f"({s.dtype}, {tuple(s.shape)}) must have the same dtype and shape"
        )


def _check_prelu(x: torch.Tensor, w: torch.Tensor, op: str) -> None:
    _check_float(x, op)
    _check_float(w, op, "weight")
    if w.dtype != x.dtype:
        raise TypeError(f"activations_ext.{op}: weight has dtype {w.dtype} but input has dtype {x.dtype}")
    if w.dim() > 1:
        raise ValueError(
            f"activations_ext.{op}: weight must be a scalar or 1-d tensor, but got {w.dim()} dims"
        )
    if w.numel() != 1:
        channels = x.shape[1] if x.dim() >= 2 else 1
        if x.dim() == 0 or w.numel() != channels:
            raise ValueError(
                f"activations_ext.{op}: weight has {w.numel()} elements, but it must have 1 or as many as "
                f"the input's channels (size of dim 1) = {channels}"
            )


def _channel_like(x: torch.Tensor, dim: int, param_numel: int) -> torch.Tensor:
    # Mirrors channel_input() in csrc/ops.cpp: layouts the kernels cannot walk
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


@torch.library.register_fake("activations_ext::relu")
def _relu_fake(x):
    _check_float(x, "relu")
    return torch.empty_like(x)


@torch.library.register_fake("activations_ext::relu_")
def _relu_inplace_fake(x):
    _check_float(x, "relu_")
    return None


@torch.library.register_fake("activations_ext::relu_backward")
def _relu_backward_fake(g, y):
    _check_pair(g, y, "relu_backward")
    return torch.empty_like(y)


@torch.library.register_fake("activations_ext::sigmoid")
def _sigmoid_fake(x):
    _check_float(x, "sigmoid")
    return torch.empty_like(x)


@torch.library.register_fake("activations_ext::sigmoid_backward")
def _sigmoid_backward_fake(g, y):
    _check_pair(g, y, "sigmoid_backward")
    return torch.empty_like(y)


@torch.library.register_fake("activations_ext::leaky_relu")
def _leaky_relu_fake(x, negative_slope=0.01, save_output=False):
    _check_float(x, "leaky_relu")
    return torch.empty_like(x)


@torch.library.register_fake("activations_ext::leaky_relu_")
def _leaky_relu_inplace_fake(x, negative_slope=0.01):
    _check_float(x, "leaky_relu_")
    return None


@torch.library.register_fake("activations_ext::leaky_relu_backward")
def _leaky_relu_backward_fake(g, saved, negative_slope, saved_is_output):
    _check_pair(g, saved, "leaky_relu_backward")
    return torch.empty_like(saved)


@torch.library.register_fake("activations_ext::elu")
def _elu_fake(x, alpha=1.0, scale=1.0, input_scale=1.0, save_output=False):
    _check_float(x, "elu")
    return torch.empty_like(x)


@torch.library.register_fake("activations_ext::elu_")
def _elu_inplace_fake(x, alpha=1.0, scale=1.0, input_scale=1.0):
    _check_float(x, "elu_")
    return None


@torch.library.register_fake("activations_ext::elu_backward")
def _elu_backward_fake(g, saved, alpha, scale, input_scale, saved_is_output):
    _check_pair(g, saved, "elu_backward")
    return torch.empty_like(saved)


@torch.library.register_fake("activations_ext::prelu")
def _prelu_fake(x, weight):
    _check_prelu(x, weight, "prelu")
    return _prelu_like(x, weight)


@torch.library.register_fake("activations_ext::prelu_backward")
def _prelu_backward_fake(g, x, weight):
    _check_prelu(x, weight, "prelu_backward")
    _check_pair(g, x, "prelu_backward")
    return _prelu_like(x, weight), torch.empty(weight.shape, dtype=weight.dtype, device=weight.device)


# ----------------------------------------------------------------- modern set


def _unary_fake(op: str):
    def fake(x, *args):
        _check_float(x, op)
        return torch.empty_like(x)

    return fake


def _inplace_fake(op: str):
    def fake(x, *args):
        _check_float(x, op)
        return None

    return fake


def _backward_fake(op: str):
    def fake(g, saved, *args):
        _check_pair(g, saved, op)
        return torch.empty_like(saved)

    return fake


for _name in ("tanh", "gelu", "silu", "softplus", "mish", "selu", "hardswish"):
    torch.library.register_fake(f"activations_ext::{_name}")(_unary_fake(_name))
for _name in ("silu_", "mish_", "selu_", "hardswish_"):
    torch.library.register_fake(f"activations_ext::{_name}")(_inplace_fake(_name))
for _name in (
    "tanh_backward",
    "gelu_backward",
    "silu_backward",
    "softplus_backward",
    "mish_backward",
    "hardswish_backward",
):
    torch.library.register_fake(f"activations_ext::{_name}")(_backward_fake(_name))


def _check_bias(x, bias, dim, op):
    _check_float(x, op)
    if bias is None:
        return
    _check_float(bias, op, "bias")
    if x.dim() == 0:
        raise ValueError(f"activations_ext.{op}: a bias needs an input with at least one dimension")
    if bias.dtype != x.dtype:
        raise TypeError(f"activations_ext.{op}: bias has dtype {bias.dtype} but input has dtype {x.dtype}")
    d = dim % x.dim()
    if bias.dim() != 1 or bias.shape[0] != x.shape[d]:
        raise ValueError(
            f"activations_ext.{op}: bias must be 1-d with {x.shape[d]} elements (input.shape[{d}]), "
            f"but got shape {tuple(bias.shape)}"
        )


@torch.library.register_fake("activations_ext::bias_act")
def _bias_act_fake(x, bias, act, dim, alpha, gain, clamp):
    _check_bias(x, bias, dim, "bias_act")
    if bias is None:
        return _channel_like(x, 0, 1)
    return _channel_like(x, dim % x.dim(), bias.numel())


@torch.library.register_fake("activations_ext::bias_act_backward")
def _bias_act_backward_fake(g, x, bias, act, dim, alpha, gain, clamp, bias_grad):
    _check_bias(x, bias, dim, "bias_act_backward")
    _check_pair(g, x, "bias_act_backward")
    gi = _channel_like(x, 0, 1) if bias is None else _channel_like(x, dim % x.dim(), bias.numel())
    gb = torch.empty_like(bias) if bias_grad else x.new_empty((0,))
    return gi, gb


def _bias_act_reference(x, bias, act, dim, alpha, gain, clamp):
    """bias_act written with torch's ops (the reference for tests and for
    its second derivative)."""
    F = torch.nn.functional
    if bias is not None:
        shape = [1] * x.dim()
        shape[dim % x.dim()] = -1
        x = x + bias.view(shape)
    fns = {
        "linear": lambda t: t,
        "relu": F.relu,
        "sigmoid": torch.sigmoid,
        "leaky_relu": lambda t: F.leaky_relu(t, alpha),
        "elu": lambda t: F.elu(t, alpha),
        "selu": F.selu,
        "tanh": torch.tanh,
        "gelu": F.gelu,
        "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
        "silu": F.silu,
        "softplus": lambda t: F.softplus(t, alpha),
        "mish": F.mish,
        "hardswish": F.hardswish,
    }
    y = fns[act](x) * gain
    if clamp is not None:
        y = y.clamp(-clamp, clamp)
    return y


# ------------------------------------------------- forward with unit counts


@torch.library.register_fake("activations_ext::bias_act_count")
def _bias_act_count_fake(x, bias, act, dim, alpha):
    _check_bias(x, bias, dim, "bias_act_count")
    y = _channel_like(x, dim % x.dim(), bias.numel())
    return y, x.new_empty((bias.numel(),), dtype=torch.int64)


@torch.library.register_fake("activations_ext::prelu_count")
def _prelu_count_fake(x, weight, dim):
    _check_prelu(x, weight, "prelu_count")
    units = x.shape[dim % x.dim()]
    y = _channel_like(x, dim % x.dim(), units)
    return y, x.new_empty((units,), dtype=torch.int64)
