"""Drop-in modules: the torch.nn activations, computed by our kernels.

Each class subclasses its torch.nn counterpart, so it takes the same
constructor arguments with the same defaults, prints the same ``repr``, has
the same parameters and ``state_dict`` keys (a checkpoint saved with either
loads into the other), and still passes ``isinstance(m, torch.nn.ReLU)``
checks in existing code. Only ``forward`` differs: it calls
:mod:`activations_ext.functional`.

``LeakyReLU`` and ``ELU`` also take the keyword ``save_output`` (see
:mod:`activations_ext.functional`), shown in the repr only when set. Every
activation module can be watched by :class:`activations_ext.monitor.DeadUnitMonitor`.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from . import eager as _eager
from . import functional as F
from . import spec as _spec


class _Monitorable:
    """Routes forward through a DeadUnitMonitor while one is watching this
    module (activations_ext.monitor); otherwise straight to the kernel."""

    _dead_unit_monitor = None

    def forward(self, input: Tensor) -> Tensor:
        hook = self._dead_unit_monitor
        if hook is not None:
            return hook(self, input)
        return self._plain_forward(input)


class ReLU(_Monitorable, torch.nn.ReLU):
    """``torch.nn.ReLU`` on our kernels.

    Example:
        >>> m = ReLU(inplace=True)
        >>> m
        ReLU(inplace=True)
    """

    def _plain_forward(self, input: Tensor) -> Tensor:
        return F.relu(input, inplace=self.inplace)


class Sigmoid(_Monitorable, torch.nn.Sigmoid):
    """``torch.nn.Sigmoid`` on our kernels."""

    def _plain_forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input)


def _save_output_repr(base: str, save_output: bool) -> str:
    return f"{base}, save_output=True" if save_output else base


class LeakyReLU(_Monitorable, torch.nn.LeakyReLU):
    """``torch.nn.LeakyReLU(negative_slope=0.01, inplace=False)`` on our kernels."""

    def __init__(
        self, negative_slope: float = 1e-2, inplace: bool = False, *, save_output: bool = False
    ) -> None:
        super().__init__(negative_slope, inplace)
        if save_output and negative_slope < 0:
            raise ValueError(f"LeakyReLU: save_output=True needs negative_slope >= 0, got {negative_slope}")
        self.save_output = save_output

    def _plain_forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope, self.inplace, save_output=self.save_output)

    def extra_repr(self) -> str:
        return _save_output_repr(super().extra_repr(), self.save_output)


class ELU(_Monitorable, torch.nn.ELU):
    """``torch.nn.ELU(alpha=1.0, inplace=False)`` on our kernels."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False, *, save_output: bool = False) -> None:
        super().__init__(alpha, inplace)
        if save_output and alpha < 0:
            raise ValueError(f"ELU: save_output=True needs alpha >= 0, got {alpha}")
        self.save_output = save_output

    def _plain_forward(self, input: Tensor) -> Tensor:
        return F.elu(input, self.alpha, self.inplace, save_output=self.save_output)

    def extra_repr(self) -> str:
        return _save_output_repr(super().extra_repr(), self.save_output)


class PReLU(_Monitorable, torch.nn.PReLU):
    """``torch.nn.PReLU(num_parameters=1, init=0.25)`` on our kernels.

    The parameter is ``weight`` with ``num_parameters`` elements, as in torch.
    """

    def _plain_forward(self, input: Tensor) -> Tensor:
        return F.prelu(input, self.weight)


class Tanh(_Monitorable, torch.nn.Tanh):
    """``torch.nn.Tanh`` on our kernels."""

    def _plain_forward(self, input: Tensor) -> Tensor:
        return F.tanh(input)


class GELU(_Monitorable, torch.nn.GELU):
    """``torch.nn.GELU(approximate='none')`` on our kernels."""

    def _plain_forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, self.approximate)


class SiLU(_Monitorable, torch.nn.SiLU):
    """``torch.nn.SiLU(inplace=False)`` on our kernels."""

    def _plain_forward(self, input: Tensor) -> Tensor:
        return F.silu(input, self.inplace)


class Softplus(_Monitorable, torch.nn.Softplus):
    """``torch.nn.Softplus(beta=1.0, threshold=20.0)`` on our kernels."""

    def _plain_forward(self, input: Tensor) -> Tensor:
        return F.softplus(input, self.beta, self.threshold)


class Mish(_Monitorable, torch.nn.Mish):
    """``torch.nn.Mish(inplace=False)`` on our kernels."""

    def _plain_forward(self, input: Tensor) -> Tensor:
        return F.mish(input, self.inplace)


class SELU(_Monitorable, torch.nn.SELU):
    """``torch.nn.SELU(inplace=False)`` on our kernels."""

    def _plain_forward(self, input: Tensor) -> Tensor:
        return F.selu(input, self.inplace)


class Hardswish(_Monitorable, torch.nn.Hardswish):
    """``torch.nn.Hardswish(inplace=False)`` on our kernels."""

    def _plain_forward(self, input: Tensor) -> Tensor:
        return F.hardswish(input, self.inplace)


class Hardsigmoid(_Monitorable, torch.nn.Hardsigmoid):
    """``torch.nn.Hardsigmoid(inplace=False)`` on our kernels."""

    def _plain_forward(self, input: Tensor) -> Tensor:
        return F.hardsigmoid(input, self.inplace)


class Softsign(_Monitorable, torch.nn.Softsign):
    """``torch.nn.Softsign()`` on our kernels."""

    def _plain_forward(self, input: Tensor) -> Tensor:
        return F.softsign(input)


class ReLU6(_Monitorable, torch.nn.ReLU6):
    """``torch.nn.ReLU6(inplace=False)`` on our kernels."""

    def _plain_forward(self, input: Tensor) -> Tensor:
        return F.relu6(input, self.inplace)


class Hardtanh(_Monitorable, torch.nn.Hardtanh):
    """``torch.nn.Hardtanh(min_val=-1.0, max_val=1.0, inplace=False)`` on our kernels."""

    def _plain_forward(self, input: Tensor) -> Tensor:
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)


class CELU(_Monitorable, torch.nn.CELU):
    """``torch.nn.CELU(alpha=1.0, inplace=False)`` on our kernels."""

    def _plain_forward(self, input: Tensor) -> Tensor:
        return F.celu(input, self.alpha, self.inplace)


class LogSigmoid(_Monitorable, torch.nn.LogSigmoid):
    """``torch.nn.LogSigmoid()`` on our kernels."""

    def _plain_forward(self, input: Tensor) -> Tensor:
        return F.logsigmoid(input)


class Tanhshrink(_Monitorable, torch.nn.Tanhshrink):
    """``torch.nn.Tanhshrink()`` on our kernels."""

    def _plain_forward(self, input: Tensor) -> Tensor:
        return F.tanhshrink(input)


class Softshrink(_Monitorable, torch.nn.Softshrink):
    """``torch.nn.Softshrink(lambd=0.5)`` on our kernels."""

    def _plain_forward(self, input: Tensor) -> Tensor:
        return F.softshrink(input, self.lambd)


class Hardshrink(_Monitorable, torch.nn.Hardshrink):
    """``torch.nn.Hardshrink(lambd=0.5)`` on our kernels."""

    def _plain_forward(self, input: Tensor) -> Tensor:
        return F.hardshrink(input, self.lambd)


class Threshold(_Monitorable, torch.nn.Threshold):
    """``torch.nn.Threshold(threshold, value, inplace=False)`` on our kernels."""

    def _plain_forward(self, input: Tensor) -> Tensor:
        return F.threshold(input, self.threshold, self.value, self.inplace)


class RReLU(_Monitorable, torch.nn.RReLU):
    """``torch.nn.RReLU(lower=1/8, upper=1/3, inplace=False)`` on our kernels:
    random slopes in training mode, their mean in evaluation (see
    :func:`activations_ext.functional.rrelu`)."""

    def _plain_forward(self, input: Tensor) -> Tensor:
        return F.rrelu(input, self.lower, self.upper, self.training, self.inplace)


class QuickGELU(_Monitorable, _eager.QuickGELU):
    """QuickGELU, ``x * sigmoid(1.702 x)``, on our kernels. torch.nn has no
    such class; this subclasses :class:`activations_ext.eager.QuickGELU`,
    its form in torch's ops, which :func:`activations_ext.revert` restores."""

    def _plain_forward(self, input: Tensor) -> Tensor:
        return F.quick_gelu(input)


class ReLUSquared(_Monitorable, _eager.ReLUSquared):
    """Squared ReLU, ``relu(x) ** 2``, on our kernels. torch.nn has no such
    class; this subclasses :class:`activations_ext.eager.ReLUSquared`."""

    def _plain_forward(self, input: Tensor) -> Tensor:
        return F.relu_squared(input)


class LinearAct(torch.nn.Linear):
    """A Linear layer whose bias add and activation run as one fused pass.

    ``y = clamp(act(x @ weight.T + bias) * gain)``: the matrix product runs
    without the bias, then :func:`activations_ext.functional.bias_act` adds
    the bias and applies the activation in one pass over memory (forward and
    backward). Parameters and ``state_dict`` keys are ``weight`` and ``bias``,
    shaped as ``torch.nn.Linear``'s, so a Linear's state loads into it and
    back. Results equal ``nn.Sequential(nn.Linear(...), activation)`` within
    float rounding (the bias is added after the product, not inside it).

    Example:
        >>> layer = LinearAct(16, 32, act="gelu")
        >>> layer.load_state_dict(torch.nn.Linear(16, 32).state_dict())
        <All keys matched successfully>
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        act: str = "relu",
        bias: bool = True,
        device=None,
        dtype=None,
        *,
        alpha: Optional[float] = None,
        gain: Optional[float] = None,
        clamp: Optional[float] = None,
    ) -> None:
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        if act not in F.BIAS_ACTS:
            raise ValueError(f"LinearAct: unknown act {act!r}; expected one of {sorted(F.BIAS_ACTS)}")
        if alpha is not None and F.BIAS_ACTS[act] is None:
            raise ValueError(f"LinearAct: act={act!r} takes no alpha, but got alpha={alpha}")
        self.act = act
        self.alpha = alpha
        self.gain = gain
        self.clamp = clamp

    def forward(self, input: Tensor) -> Tensor:
        y = torch.nn.functional.linear(input, self.weight)
        return F.bias_act(y, self.bias, self.act, dim=-1, alpha=self.alpha, gain=self.gain, clamp=self.clamp)

    def extra_repr(self) -> str:
        extra = f", act={self.act!r}"
        for name in ("alpha", "gain", "clamp"):
            value = getattr(self, name)
            if value is not None:
                extra += f", {name}={value}"
        return super().extra_repr() + extra


class GLU(torch.nn.GLU):
    """``torch.nn.GLU`` on our fused kernels: first half * sigmoid(second
    half) along ``dim``, the halves read in place."""

    def forward(self, input: Tensor) -> Tensor:
        return F.glu(input, self.dim)


class GatedMLP(torch.nn.Module):
    """The gated MLP of Llama-style models:
    ``down_proj(act(gate_proj(x)) * up_proj(x))``, the gating fused
    (:func:`activations_ext.functional.gated`).

    Children ``gate_proj`` and ``up_proj`` (hidden -> intermediate) and
    ``down_proj`` (intermediate -> hidden) are ``torch.nn.Linear``s with the
    names and shapes of transformers' ``LlamaMLP``, so its state_dict loads
    into this module and back.

    Args:
        hidden_size, intermediate_size: the layer's widths.
        act: any of ``GATED_ACTS`` (``'silu'``: SwiGLU, ``'gelu'`` or
            ``'gelu_tanh'``: GeGLU).
        bias: whether the three projections have biases.
        alpha: the activation's scalar parameter, if it has one.
        inplace_backward: the gating's backward writes its gradients over
            the projections' outputs (see ``gated``), lowering the peak
            memory of training.
    """

    def __init__(
        self,
        hidden_size: int,
        intermediate_size: int,
        act: str = "silu",
        bias: bool = False,
        device=None,
        dtype=None,
        *,
        alpha: Optional[float] = None,
        inplace_backward: bool = False,
    ) -> None:
        super().__init__()
        F._act_alpha("GatedMLP", act, alpha)
        kw = {"bias": bias, "device": device, "dtype": dtype}
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.gate_proj = torch.nn.Linear(hidden_size, intermediate_size, **kw)
        self.up_proj = torch.nn.Linear(hidden_size, intermediate_size, **kw)
        self.down_proj = torch.nn.Linear(intermediate_size, hidden_size, **kw)
        self.act = act
        self.alpha = alpha
        self.inplace_backward = inplace_backward

    def forward(self, x: Tensor) -> Tensor:
        h = F.gated(self.gate_proj(x), self.up_proj(x), self.act, self.alpha, self.inplace_backward)
        return self.down_proj(h)

    def extra_repr(self) -> str:
        extra = f"act={self.act!r}"
        if self.alpha is not None:
            extra += f", alpha={self.alpha}"
        if self.inplace_backward:
            extra += ", inplace_backward=True"
        return extra


# Modules a DeadUnitMonitor watches: those of the spec table's monitored rows.
_MONITORABLE = tuple(s.module for s in _spec.SPECS if s.monitored)

__all__ = [s.module_name for s in _spec.SPECS] + ["GLU", "GatedMLP", "LinearAct"]
