"""Functional activations with torch.nn.functional's signatures and results.

Each function calls one of our registered operators
(``torch.ops.activations_ext.*``), whose CPU and CUDA kernels are ours, and
whose autograd is a C++ ``torch::autograd::Function``. ``inplace=True``
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

Forward-mode AD and ``torch.func`` transforms are not supported.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import ops as _ops  # noqa: F401  (registers the operators)

_lib = torch.ops.activations_ext
_relu = _lib.relu.default
_relu_ = _lib.relu_.default
_sigmoid = _lib.sigmoid.default
_leaky_relu = _lib.leaky_relu.default
_leaky_relu_ = _lib.leaky_relu_.default
_elu = _lib.elu.default
_elu_ = _lib.elu_.default
_prelu = _lib.prelu.default


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """ReLU, ``max(x, 0)``, elementwise; NaN stays NaN. Like ``F.relu``.

    Args:
        input: a float16/bfloat16/float32/float64 tensor of any shape.
        inplace: modify ``input`` and return it.

    Example:
        >>> relu(torch.tensor([-1.0, 0.0, 2.0]))
        tensor([0., 0., 2.])
    """
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
    return _prelu(input, weight)


__all__ = ["elu", "leaky_relu", "prelu", "relu", "sigmoid"]
