"""Functional activations with torch.nn.functional's signatures and results.

Each function calls one of our registered operators
(``torch.ops.activations_ext.*``), whose CPU and CUDA kernels are ours, and
whose autograd is registered in C++ (first and higher order, forward
mode, ``torch.func`` transforms). ``inplace=True``
modifies and returns ``input``, raising where torch raises (a leaf that
requires grad, a view autograd still needs, an expanded tensor).

Memory-saving mode: ``leaky_relu(..., save_output=True)`` and
``elu(..., save_output=True)`` keep the activation's *output* for backward
instead of its input. When the next layer saves that output anyway (a
Linear or a convolution does), one tensor fewer is kept alive per
activation. It needs ``negative_slope >= 0`` / ``alpha >= 0`` and takes
effect for float32/float64 inputs (half-precision inputs keep saving their
input: an output-based ELU derivative loses too much precision there).
Modifying the output in place afterwards then makes backward raise, as
autograd does for any saved tensor.

Eager calls enter the dispatcher directly (``activations_ext._C``), which
saves the ~1.7 us that ``torch.ops``' Python call path costs; whenever
tracing must see the call (``torch.compile``, ``torch.export``,
TorchScript, ``torch.fx``, ``__torch_function__`` overrides and
TorchFunctionMode) they go through ``torch.ops`` as before. Both reach the
same operators, so autograd, autocast, ``torch.func`` transforms, dispatch
modes and fake tensors behave the same either way.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from . import _C as _fast
from . import _checks
from . import ops as _ops  # noqa: F401  (registers the operators)
from . import spec as _spec

_lib = torch.ops.activations_ext
_relu = _lib.relu.default
_relu_ = _lib.relu_.default
_sigmoid = _lib.sigmoid.default
_leaky_relu = _lib.leaky_relu.default
_leaky_relu_ = _lib.leaky_relu_.default
_elu = _lib.elu.default
_elu_ = _lib.elu_.default
_prelu = _lib.prelu.default
_tanh = _lib.tanh.default
_gelu = _lib.gelu.default
_silu = _lib.silu.default
_silu_ = _lib.silu_.default
_softplus = _lib.softplus.default
_mish = _lib.mish.default
_mish_ = _lib.mish_.default
_selu = _lib.selu.default
_selu_ = _lib.selu_.default
_hardswish = _lib.hardswish.default
_hardswish_ = _lib.hardswish_.default
_hardsigmoid = _lib.hardsigmoid.default
_hardsigmoid_ = _lib.hardsigmoid_.default
_softsign = _lib.softsign.default
_relu6 = _lib.relu6.default
_relu6_ = _lib.relu6_.default
_hardtanh = _lib.hardtanh.default
_hardtanh_ = _lib.hardtanh_.default
_logsigmoid = _lib.logsigmoid.default
_tanhshrink = _lib.tanhshrink.default
_softshrink = _lib.softshrink.default
_hardshrink = _lib.hardshrink.default
_threshold = _lib.threshold.default
_threshold_ = _lib.threshold_.default
_quick_gelu = _lib.quick_gelu.default
_relu_squared = _lib.relu_squared.default
_rrelu_noise = _lib.rrelu_noise.default
_rrelu_with_noise = _lib.rrelu_with_noise.default
_bias_act = _lib.bias_act.default
_gated = _lib.gated.default
_gated_split = _lib.gated_split.default


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """ReLU, ``max(x, 0)``, elementwise; NaN stays NaN. Like ``F.relu``.

    Args:
        input: a float16/bfloat16/float32/float64 tensor of any shape.
        inplace: modify ``input`` and return it.

    Example:
        >>> relu(torch.tensor([-1.0, 0.0, 2.0]))
        tensor([0., 0., 2.])
    """
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out = _fast.relu_(input) if inplace else _fast.relu(input)
        if out is not NotImplemented:
            return out
    if inplace:
        _relu_(input)
        return input
    return _relu(input)


def sigmoid(input: Tensor) -> Tensor:
    """Logistic sigmoid ``1 / (1 + exp(-x))``. Like ``torch.sigmoid``.

    Example:
        >>> sigmoid(torch.tensor([0.0]))
        tensor([0.5000])
    """
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out = _fast.sigmoid(input)
        if out is not NotImplemented:
            return out
    return _sigmoid(input)


def leaky_relu(
    input: Tensor, negative_slope: float = 0.01, inplace: bool = False, *, save_output: bool = False
) -> Tensor:
    """LeakyReLU, ``x if x > 0 else negative_slope * x``. Like ``F.leaky_relu``.

    The gradient at 0 is ``negative_slope``, as in torch.

    Args:
        input: a floating-point tensor of any shape.
        negative_slope: slope for ``x <= 0``.
        inplace: modify ``input`` and return it (backward then raises for a
            negative slope, as torch's does).
        save_output: memory-saving mode (see the module docstring).

    Example:
        >>> leaky_relu(torch.tensor([-1.0, 2.0]), 0.1)
        tensor([-0.1000,  2.0000])
    """
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out = (
            _fast.leaky_relu_(input, negative_slope)
            if inplace
            else _fast.leaky_relu(input, negative_slope, save_output)
        )
        if out is not NotImplemented:
            return out
    if inplace:
        _leaky_relu_(input, negative_slope)
        return input
    return _leaky_relu(input, negative_slope, save_output)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False, *, save_output: bool = False) -> Tensor:
    """ELU, ``x if x > 0 else alpha * (exp(x) - 1)``. Like ``F.elu``.

    Args:
        input: a floating-point tensor of any shape.
        alpha: scale of the negative part.
        inplace: modify ``input`` and return it (backward then raises for a
            negative alpha, as torch's does).
        save_output: memory-saving mode (see the module docstring).

    Example:
        >>> elu(torch.tensor([-1.0, 2.0]))
        tensor([-0.6321,  2.0000])
    """
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out = (
            _fast.elu_(input, alpha, 1.0, 1.0) if inplace else _fast.elu(input, alpha, 1.0, 1.0, save_output)
        )
        if out is not NotImplemented:
            return out
    if inplace:
        _elu_(input, alpha, 1.0, 1.0)
        return input
    return _elu(input, alpha, 1.0, 1.0, save_output)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """PReLU, ``x if x > 0 else weight[c] * x`` with ``c`` the channel (dim 1).

    Like ``F.prelu``: ``weight`` has one element (shared) or as many as
    ``input.shape[1]``; inputs of fewer than 2 dims have one channel. The
    weight gradient is reduced inside the kernel, deterministically.

    Example:
        >>> prelu(torch.tensor([[-1.0, 2.0]]), torch.tensor([0.25]))
        tensor([[-0.2500,  2.0000]])
    """
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out = _fast.prelu(input, weight)
        if out is not NotImplemented:
            return out
    return _prelu(input, weight)


def tanh(input: Tensor) -> Tensor:
    """Hyperbolic tangent. Like ``torch.tanh``; backward keeps the output.

    Example:
        >>> tanh(torch.tensor([0.0, 100.0]))
        tensor([0., 1.])
    """
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out = _fast.tanh(input)
        if out is not NotImplemented:
            return out
    return _tanh(input)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """GELU, ``x * Phi(x)``; ``approximate='tanh'`` uses the tanh formula.
    Like ``F.gelu``.

    Example:
        >>> gelu(torch.tensor([1.0]))
        tensor([0.8413])
    """
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out = _fast.gelu(input, approximate)
        if out is not NotImplemented:
            return out
    return _gelu(input, approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """SiLU (swish), ``x * sigmoid(x)``. Like ``F.silu``.

    In place with autograd recording, the input is copied first (its
    derivative needs it), as torch does.
    """
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out = _fast.silu_(input) if inplace else _fast.silu(input)
        if out is not NotImplemented:
            return out
    if inplace:
        _silu_(input)
        return input
    return _silu(input)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """Softplus, ``log(1 + exp(beta * x)) / beta``, linear where
    ``beta * x > threshold``. Like ``F.softplus``.

    Example:
        >>> softplus(torch.tensor([0.0]))
        tensor([0.6931])
    """
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out = _fast.softplus(input, beta, threshold)
        if out is not NotImplemented:
            return out
    return _softplus(input, beta, threshold)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """Mish, ``x * tanh(softplus(x))``. Like ``F.mish``."""
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out = _fast.mish_(input) if inplace else _fast.mish(input)
        if out is not NotImplemented:
            return out
    if inplace:
        _mish_(input)
        return input
    return _mish(input)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """SELU, ``scale * elu(x, alpha)`` with torch's constants. Like ``F.selu``."""
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out = _fast.selu_(input) if inplace else _fast.selu(input)
        if out is not NotImplemented:
            return out
    if inplace:
        _selu_(input)
        return input
    return _selu(input)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """Hardswish, ``x * relu6(x + 3) / 6``. Like ``F.hardswish``."""
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out = _fast.hardswish_(input) if inplace else _fast.hardswish(input)
        if out is not NotImplemented:
            return out
    if inplace:
        _hardswish_(input)
        return input
    return _hardswish(input)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """Hardsigmoid, ``relu6(x + 3) / 6``. Like ``F.hardsigmoid``; the
    gradient is 1/6 strictly inside (-3, 3) and 0 elsewhere, as torch's.

    Example:
        >>> hardsigmoid(torch.tensor([-4.0, 0.0, 1.5]))
        tensor([0.0000, 0.5000, 0.7500])
    """
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out = _fast.hardsigmoid_(input) if inplace else _fast.hardsigmoid(input)
        if out is not NotImplemented:
            return out
    if inplace:
        _hardsigmoid_(input)
        return input
    return _hardsigmoid(input)


def softsign(input: Tensor) -> Tensor:
    """Softsign, ``x / (1 + |x|)``. Like ``F.softsign``.

    Example:
        >>> softsign(torch.tensor([-1.0, 3.0]))
        tensor([-0.5000,  0.7500])
    """
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out = _fast.softsign(input)
        if out is not NotImplemented:
            return out
    return _softsign(input)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """ReLU6, ``min(max(x, 0), 6)``. Like ``F.relu6``; the gradient is 0 at
    0 and at 6, as torch's.

    Example:
        >>> relu6(torch.tensor([-1.0, 3.0, 7.0]))
        tensor([0., 3., 6.])
    """
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out = _fast.relu6_(input) if inplace else _fast.relu6(input)
        if out is not NotImplemented:
            return out
    if inplace:
        _relu6_(input)
        return input
    return _relu6(input)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """HardTanh, ``min(max(x, min_val), max_val)``. Like ``F.hardtanh``:
    ``min_val > max_val`` is a ValueError; the gradient is 0 at both ends.

    Example:
        >>> hardtanh(torch.tensor([-2.0, 0.5, 2.0]))
        tensor([-1.0000,  0.5000,  1.0000])
    """
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out = _fast.hardtanh_(input, min_val, max_val) if inplace else _fast.hardtanh(input, min_val, max_val)
        if out is not NotImplemented:
            return out
    if inplace:
        _hardtanh_(input, min_val, max_val)
        return input
    return _hardtanh(input, min_val, max_val)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """CELU, ``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``. Like
    ``F.celu``, and computed as torch does, as ``elu(x, alpha)`` with input
    scale ``1 / alpha``; alpha = 0 is a RuntimeError.

    Example:
        >>> celu(torch.tensor([-1.0, 2.0]), alpha=2.0)
        tensor([-0.7869,  2.0000])
    """
    if alpha == 0:
        _checks.check_celu_alpha(alpha, "celu_" if inplace else "celu")
    inv_alpha = 1.0 / alpha
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out = (
            _fast.elu_(input, alpha, 1.0, inv_alpha)
            if inplace
            else _fast.elu(input, alpha, 1.0, inv_alpha, False)
        )
        if out is not NotImplemented:
            return out
    if inplace:
        _elu_(input, alpha, 1.0, inv_alpha)
        return input
    return _elu(input, alpha, 1.0, inv_alpha, False)


def logsigmoid(input: Tensor) -> Tensor:
    """LogSigmoid, ``log(sigmoid(x)) = -softplus(-x)``. Like ``F.logsigmoid``,
    without overflow or underflow: ``logsigmoid(-100) = -100`` and
    ``logsigmoid(100) = -exp(-100)``, not 0.

    Example:
        >>> logsigmoid(torch.tensor([0.0]))
        tensor([-0.6931])
    """
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out = _fast.logsigmoid(input)
        if out is not NotImplemented:
            return out
    return _logsigmoid(input)


def tanhshrink(input: Tensor) -> Tensor:
    """Tanhshrink, ``x - tanh(x)``. Like ``F.tanhshrink``, but accurate near
    0, where the difference cancels (torch's loses every digit there).

    Example:
        >>> tanhshrink(torch.tensor([1e-3]))
        tensor([3.3333e-10])
    """
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out = _fast.tanhshrink(input)
        if out is not NotImplemented:
            return out
    return _tanhshrink(input)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """Softshrink, ``x - lambd`` above ``lambd``, ``x + lambd`` below
    ``-lambd``, else 0. Like ``F.softshrink``: a negative ``lambd`` is a
    RuntimeError.

    Example:
        >>> softshrink(torch.tensor([-1.0, 0.2, 1.0]))
        tensor([-0.5000,  0.0000,  0.5000])
    """
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out = _fast.softshrink(input, lambd)
        if out is not NotImplemented:
            return out
    return _softshrink(input, lambd)


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """Hardshrink, ``x`` where ``|x| > lambd``, else 0. Like ``F.hardshrink``
    (which accepts a negative ``lambd``: then every element is kept).

    Example:
        >>> hardshrink(torch.tensor([-1.0, 0.2, 1.0]))
        tensor([-1.,  0.,  1.])
    """
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out = _fast.hardshrink(input, lambd)
        if out is not NotImplemented:
            return out
    return _hardshrink(input, lambd)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """Threshold, ``x if x > threshold else value``. Like ``F.threshold``.

    In place with autograd recording, the input is copied first (the
    gradient needs it), as torch does.

    Example:
        >>> threshold(torch.tensor([-1.0, 0.5, 2.0]), 0.5, -3.0)
        tensor([-3., -3.,  2.])
    """
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out = (
            _fast.threshold_(input, threshold, value) if inplace else _fast.threshold(input, threshold, value)
        )
        if out is not NotImplemented:
            return out
    if inplace:
        _threshold_(input, threshold, value)
        return input
    return _threshold(input, threshold, value)


def rrelu(
    input: Tensor,
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
    inplace: bool = False,
) -> Tensor:
    """Randomized leaky ReLU. Like ``F.rrelu``: ``lower > upper`` is a
    RuntimeError.

    In evaluation (``training=False``) it is ``leaky_relu`` with slope
    ``(lower + upper) / 2``, bit for bit torch's. In training each element
    ``x <= 0`` gets its own slope drawn uniformly from ``[lower, upper]``
    with torch's default generator (``torch.manual_seed`` reproduces a run;
    the draws are not torch's own, which no one can match), and backward
    uses the same slopes: ``uniform_`` draws, then our kernels compute the
    noise (1 where ``x > 0``) and ``x * noise``. Autograd keeps only the
    noise. ``inplace=True`` in training writes the result into ``input``
    (a copy after the kernel).

    Example:
        >>> rrelu(torch.tensor([-1.0, 2.0]))
        tensor([-0.2292,  2.0000])
    """
    eager = not torch.jit.is_scripting() and not torch.compiler.is_compiling()
    if not lower <= upper:
        raise RuntimeError(
            f"activations_ext.rrelu: lower must be <= upper (the slopes are drawn from [lower, upper]), "
            f"but got lower={lower} and upper={upper}"
        )
    if not training:
        out = leaky_relu(input, (lower + upper) / 2, inplace)
    else:
        if isinstance(input, Tensor) and not input.is_floating_point():
            _checks.check_float(input, "rrelu", "input")  # before uniform_ raises its own error
        uniform = torch.empty_like(input).uniform_(lower, upper)
        noise = _fast.rrelu_noise(input, uniform) if eager else NotImplemented
        if noise is NotImplemented:
            noise = _rrelu_noise(input, uniform)
        out = _fast.rrelu_with_noise(input, noise) if eager else NotImplemented
        if out is NotImplemented:
            out = _rrelu_with_noise(input, noise)
        if inplace:
            return input.copy_(out)
    # torch's CPU rrelu returns a contiguous tensor whatever the layout.
    if not inplace and isinstance(out, Tensor) and out.device.type == "cpu" and not out.is_contiguous():
        out = out.contiguous()
    return out


def quick_gelu(input: Tensor) -> Tensor:
    """QuickGELU, ``x * sigmoid(1.702 x)`` (CLIP's GELU approximation).

    Example:
        >>> quick_gelu(torch.tensor([0.0, 1.0]))
        tensor([0.0000, 0.8458])
    """
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out = _fast.quick_gelu(input)
        if out is not NotImplemented:
            return out
    return _quick_gelu(input)


def relu_squared(input: Tensor) -> Tensor:
    """Squared ReLU, ``relu(x) ** 2`` (Primer's activation).

    Example:
        >>> relu_squared(torch.tensor([-1.0, 3.0]))
        tensor([0., 9.])
    """
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out = _fast.relu_squared(input)
        if out is not NotImplemented:
            return out
    return _relu_squared(input)


BIAS_ACTS: dict = {f.act: f.param for f in _spec.BIAS_ACT_FORMS.values()}
"""bias_act's activations, from the spec table: act name -> (name of the
scalar parameter ``alpha`` stands for, its torch default), or None when the
activation has none."""


def _act_alpha(fn: str, act: str, alpha: Optional[float]) -> float:
    """``alpha`` for ``act``, one of ``BIAS_ACTS``: torch's default when None,
    an error for an activation without a scalar parameter."""
    if act not in BIAS_ACTS:
        raise ValueError(f"{fn}: unknown act {act!r}; expected one of {sorted(BIAS_ACTS)}")
    param = BIAS_ACTS[act]
    if param is None:
        if alpha is not None:
            raise ValueError(f"{fn}: act={act!r} takes no alpha, but got alpha={alpha}")
        return 0.0
    return float(param[1] if alpha is None else alpha)


def bias_act(
    input: Tensor,
    bias: Optional[Tensor] = None,
    act: str = "relu",
    dim: int = 1,
    alpha: Optional[float] = None,
    gain: Optional[float] = None,
    clamp: Optional[float] = None,
) -> Tensor:
    """Fused bias + activation: ``clamp(act(input + bias) * gain)`` in one pass.

    Args:
        input: a floating-point tensor, e.g. (N, C, H, W) or (N, features).
        bias: a 1-d tensor of ``input.shape[dim]`` elements, or None.
        act: any of ``BIAS_ACTS``: the spec table's activations without a
            tensor parameter, ``'gelu_tanh'`` and ``'linear'`` (bias only).
        dim: the dimension the bias runs along (1 for NCHW, -1 for (N, F)).
        alpha: the activation's scalar parameter (LeakyReLU's negative_slope,
            ELU's alpha, Softplus's beta); torch's default when None. An error
            for activations without one.
        gain: multiplies the activation's output (default 1).
        clamp: when given, the output is clamped to ``[-clamp, clamp]`` (the
            gradient is zero where the clamp is active).

    The backward computes the input gradient in one pass and reduces the bias
    gradient from it inside the kernel; it keeps the input and the bias (not
    the output), and recomputes ``input + bias``.

    Example:
        >>> x = torch.randn(8, 4)
        >>> y = bias_act(x, torch.zeros(4), act="gelu", dim=-1)
    """
    alpha = _act_alpha("bias_act", act, alpha)
    gain = 1.0 if gain is None else float(gain)
    if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
        out = _fast.bias_act(input, bias, act, dim, alpha, gain, clamp)
        if out is not NotImplemented:
            return out
    return _bias_act(input, bias, act, dim, alpha, gain, clamp)


# ---------------------------------------------------------------------- gated

GATED_ACTS = BIAS_ACTS
"""The gated operators' activations (those of ``bias_act``): act name ->
(name of the scalar parameter ``alpha`` stands for, its torch default), or
None."""


def gated(
    gate: Tensor,
    up: Tensor,
    act: str = "silu",
    alpha: Optional[float] = None,
    inplace_backward: bool = False,
) -> Tensor:
    """``act(gate) * up`` in one pass: the gated MLP's activation (SwiGLU for
    ``act='silu'``, GeGLU for ``'gelu'``, ReGLU for ``'relu'``).

    Args:
        gate, up: tensors of the same shape, dtype (float16, bfloat16,
            float32, float64) and device, any strides. Unlike eager
            ``act(gate) * up`` there is no broadcasting or type promotion: a
            mismatch is an error naming both.
        act: any of ``GATED_ACTS`` (the spec table's activations without a
            tensor parameter, ``'gelu_tanh'`` and ``'linear'``).
        alpha: the activation's scalar parameter (LeakyReLU's slope, ELU's
            alpha, Softplus's beta); torch's default when None.
        inplace_backward: the backward writes the two gradients over the
            storage of ``gate`` and ``up`` instead of allocating them (lower
            peak memory). ``gate`` and ``up`` must be results of recorded
            operations (not leaves); any later use of them raises autograd's
            in-place error, and ``create_graph=True`` or
            ``retain_graph=True`` raise.

    The forward reads gate and up once and writes the output once; float16
    and bfloat16 are computed in float32 and rounded once. The backward
    computes ``grad_gate = grad * up * act'(gate)`` and
    ``grad_up = grad * act(gate)`` in one pass, recomputing ``act(gate)``:
    autograd keeps only gate and up.

    Example:
        >>> h = gated(gate_proj(x), up_proj(x), act="silu")
    """
    alpha = _act_alpha("gated", act, alpha)
    return _gated(gate, up, act, alpha, bool(inplace_backward))


def swiglu(gate: Tensor, up: Tensor, inplace_backward: bool = False) -> Tensor:
    """``silu(gate) * up`` (Llama, Mistral, Qwen); see :func:`gated`."""
    return _gated(gate, up, "silu", 0.0, bool(inplace_backward))


def geglu(gate: Tensor, up: Tensor, approximate: str = "none", inplace_backward: bool = False) -> Tensor:
    """``gelu(gate, approximate) * up`` (Gemma, T5 v1.1); see :func:`gated`."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"geglu: approximate must be 'none' or 'tanh', but got {approximate!r}")
    return _gated(gate, up, "gelu" if approximate == "none" else "gelu_tanh", 0.0, bool(inplace_backward))


def reglu(gate: Tensor, up: Tensor, inplace_backward: bool = False) -> Tensor:
    """``relu(gate) * up``; see :func:`gated`."""
    return _gated(gate, up, "relu", 0.0, bool(inplace_backward))


def gated_split(
    input: Tensor,
    act: str = "silu",
    dim: int = -1,
    order: str = "gate_up",
    alpha: Optional[float] = None,
) -> Tensor:
    """``act(first half) * second half`` of ``input`` along ``dim`` (vLLM's
    ``silu_and_mul`` convention; ``order='up_gate'`` for the reverse), for a
    fused ``gate_up_proj`` output. The halves are read in place, never
    copied, and the backward writes one gradient of ``input``'s shape
    directly. An odd size along ``dim`` is an error."""
    if order not in ("gate_up", "up_gate"):
        raise ValueError(f"gated_split: order must be 'gate_up' or 'up_gate', but got {order!r}")
    alpha = _act_alpha("gated_split", act, alpha)
    return _gated_split(input, act, alpha, int(dim), order == "up_gate")


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """GLU, ``first half * sigmoid(second half)`` along ``dim``. Like
    ``F.glu``."""
    return _gated_split(input, "sigmoid", 0.0, int(dim), True)


__all__ = [s.name for s in _spec.SPECS] + [
    "BIAS_ACTS",
    "GATED_ACTS",
    "bias_act",
    "gated",
    "gated_split",
    "geglu",
    "glu",
    "reglu",
    "swiglu",
]
