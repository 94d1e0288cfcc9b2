"""The operators' argument checks, for the fake kernels.

The C++ operators check their arguments in csrc/checks.cpp. The fake kernels
that ``torch.compile`` and ``torch.export`` trace with (``ops.py``) call the
very same C++ functions through ``activations_ext._C``, so a bad input
raises the same exception type with the same message whether it runs or is
traced. The C++ checks compare shapes as SymInts: with symbolic shapes that
records a guard instead of specializing the trace to one size.

The last three functions mirror checks the C++ operators make inline
(csrc/ops.cpp, csrc/launch.cpp) rather than in csrc/checks.cpp.
"""

from __future__ import annotations

from typing import Optional

import torch

from . import _C


def check_float(t: Optional[torch.Tensor], op: str, what: str = "input") -> None:
    """A defined, strided, floating-point (float16/bfloat16/float32/float64)
    tensor; ``what`` names it in the message ("input", "weight", ...)."""
    if t is None:
        raise ValueError(f"activations_ext.{op}: {what} is an undefined tensor")
    _C._check_float(t, op, what)


def check_pair(a: torch.Tensor, b: torch.Tensor, op: str, a_name: str, b_name: str) -> None:
    """Backward operands: both floating point, with the same dtype, device
    and shape."""
    _C._check_pair(a, b, op, a_name, b_name)


def check_prelu(x: torch.Tensor, w: torch.Tensor, op: str) -> None:
    """PReLU's input and weight: the weight has one element or one per
    channel of dim 1, and the input's dtype and device."""
    _C._check_prelu(x, w, op)


def check_bias_act(
    x: torch.Tensor,
    bias: Optional[torch.Tensor],
    act: str,
    dim: int,
    alpha: float,
    gain: float,
    clamp: Optional[float],
    op: str,
) -> None:
    """bias_act's arguments: a known activation whose scalar parameter
    ``alpha`` is valid for it (Softplus's beta non-zero), ``clamp >= 0``, and
    a bias (when given) that is 1-d with ``input.shape[dim]`` elements of the
    input's dtype and device. Any ``gain`` is valid."""
    _C._check_bias_act(x, bias, act, int(dim), float(alpha), float(gain), clamp, op)


def check_gelu_approximate(approximate: str, op: str) -> None:
    """gelu's ``approximate``: 'none' or 'tanh'."""
    _C._check_gelu_approximate(approximate, op)


def check_softplus_beta(beta: float, op: str) -> None:
    """Softplus's beta: non-zero."""
    _C._check_softplus_beta(float(beta), op)


def check_act_params(name: str, p0: float, p1: float, x: torch.Tensor, op: str) -> None:
    """The parameters of a row of the C++ parameter table (csrc/table.h) for
    an input like ``x``: hardtanh's ``min_val <= max_val``, softshrink's
    ``lambd`` in [0, the dtype's largest value]."""
    _C._check_act_params(name, float(p0), float(p1), x, op)


def check_celu_alpha(alpha: float, op: str) -> None:
    """CELU's alpha: non-zero (torch's RuntimeError; CELU divides by it)."""
    if alpha == 0:
        raise RuntimeError(f"activations_ext.{op}: alpha cannot be 0 for CELU (it divides by alpha)")


def check_save_output(param: float, op: str, name: str) -> None:
    """``save_output=True`` needs the parameter ``name`` (a slope, an alpha) >= 0."""
    _C._check_save_output(float(param), op, name)


def check_unit_dim(x: torch.Tensor, dim: int, op: str) -> int:
    """The unit dimension of the dead-unit counting operators, wrapped."""
    return _C._check_unit_dim(x, int(dim), op)


def check_prelu_count_dim(x: torch.Tensor, w: torch.Tensor, dim: int, op: str) -> None:
    """prelu_count: a weight per channel counts along dim 1 only."""
    _C._check_prelu_count_dim(x, w, int(dim), op)


def check_backward_from_output(param: float, name: str) -> None:
    """A backward from the output (after an in-place forward) needs a
    parameter >= 0; ``name`` is the activation as torch's message spells it
    ("leakyReLu", "elu"). The message is torch's own."""
    if not param >= 0.0:
        raise RuntimeError(
            f"In-place {name} backward calculation is triggered with a negative slope which is not "
            f"supported. This is caused by calling in-place forward function with a negative slope, "
            f"please call out-of-place version instead."
        )


def check_bias_grad(bias: Optional[torch.Tensor], bias_grad: bool, op: str) -> None:
    """bias_act_backward: a bias gradient needs a bias."""
    if bias_grad and bias is None:
        raise ValueError(f"activations_ext.{op}: bias_grad=True needs a bias")


def check_no_internal_overlap(x: torch.Tensor) -> None:
    """An in-place operand whose elements do not share memory (an expanded
    tensor does), with ATen's message (at::assert_no_internal_overlap)."""
    from torch.fx.experimental.symbolic_shapes import free_unbacked_symbols

    # 1 is MemOverlap::Yes; "too hard to tell" passes, as in ATen.
    if not free_unbacked_symbols(x) and torch._debug_has_internal_overlap(x) == 1:
        raise RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to a single "
            "memory location. Please clone() the tensor before performing the operation."
        )


def check_gated(gate: torch.Tensor, up: torch.Tensor, act: str, alpha: float, op: str) -> None:
    """The gated operators' operands: gate and up floating point with the
    same dtype, device and shape, and an activation bias_act accepts."""
    _C._check_gated(gate, up, act, float(alpha), op)


def check_gated_split(x: torch.Tensor, dim: int, op: str) -> int:
    """gated_split's input: at least one dimension and an even size along
    ``dim``. Returns ``dim`` wrapped."""
    return _C._check_gated_split(x, int(dim), op)
