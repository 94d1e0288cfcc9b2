"""The table of supported activations, which tests and benchmarks loop over.

Adding an activation means: a functor in csrc/activations.h, its operators
in csrc/ops.cpp and csrc/autograd.cpp, a function in functional.py, a module
in nn.py, and one row here. The tests and benchmarks then cover it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

import torch
import torch.nn.functional as TF

from . import functional as F
from . import nn


@dataclass(frozen=True)
class ActivationSpec:
    """One supported activation.

    Attributes:
        name: the functional's name in ``activations_ext.functional``.
        ours: our functional.
        reference: torch's functional with the same signature.
        module, torch_module: our drop-in module and the torch.nn class it replaces.
        params: scalar parameters with torch's defaults, in signature order.
        saves: what backward keeps by default, as torch does: "output" or "input".
        forward_op, backward_op: our operator names in torch.ops.activations_ext.
        inplace_op: the in-place operator, or None when there is no in-place form.
        weight: whether the activation takes a tensor parameter (PReLU's weight).
        save_output_mode: whether ``save_output=True`` is offered.
        param_cases: parameter sets the tests sweep (negative and zero values included).
        exact: whether results are bit-identical to torch's (no rounding in the math).
        inplace_copies_input: whether the in-place variant, when autograd records
            it, copies its input first (its derivative needs the input; torch
            copies too). Otherwise in place saves the output.
        grad_kinks: inputs where torch's own gradient differs between its
            versions and devices (hardswish at -3 and 3); gradient comparisons
            move them off the kink.
        precise: a float64 formula of the same function for the tests'
            reference, where torch's own float64 loses accuracy (its gelu
            writes 1 + erf(x / sqrt 2), which cancels to 0 below x = -8).
            None: torch's float64 result is the reference.
    """

    name: str
    ours: Callable[..., torch.Tensor]
    reference: Callable[..., torch.Tensor]
    module: type
    torch_module: type
    params: Mapping[str, float]
    saves: str
    forward_op: str
    backward_op: str
    inplace_op: Optional[str] = None
    weight: bool = False
    save_output_mode: bool = False
    param_cases: Sequence[Mapping[str, Any]] = field(default_factory=lambda: ({},))
    exact: bool = False
    grad_kinks: Sequence[float] = ()
    inplace_copies_input: bool = False
    precise: Optional[Callable[..., torch.Tensor]] = None

    @property
    def reference64(self) -> Callable[..., torch.Tensor]:
        """The function the tests' float64 reference is computed with."""
        return self.precise or self.reference

    @property
    def has_inplace(self) -> bool:
        return self.inplace_op is not None

    def make_weight(self, x: torch.Tensor, per_channel: bool = True) -> Optional[torch.Tensor]:
        """A weight for ``x`` (PReLU only): one per channel of dim 1, or one shared."""
        if not self.weight:
            return None
        channels = x.shape[1] if (per_channel and x.dim() >= 2) else 1
        gen = torch.Generator().manual_seed(channels)
        w = torch.rand(channels, generator=gen, dtype=torch.float64) * 0.5 - 0.1
        return w.to(dtype=x.dtype, device=x.device)


def _gelu_precise(x: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    # x * Phi(x) through erfc, and the tanh form as x * sigmoid(2u)
    # (1 + tanh(u) = 2 sigmoid(2u)): neither cancels for negative x.
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
        return x * torch.sigmoid(2.0 * inner)
    return 0.5 * x * torch.special.erfc(-x * math.sqrt(0.5))


SPECS: tuple[ActivationSpec, ...] = (
    ActivationSpec(
        name="relu",
        ours=F.relu,
        reference=TF.relu,
        module=nn.ReLU,
        torch_module=torch.nn.ReLU,
        params={},
        saves="output",
        forward_op="relu",
        backward_op="relu_backward",
        inplace_op="relu_",
        exact=True,
    ),
    ActivationSpec(
        name="sigmoid",
        ours=F.sigmoid,
        reference=torch.sigmoid,
        module=nn.Sigmoid,
        torch_module=torch.nn.Sigmoid,
        params={},
        saves="output",
        forward_op="sigmoid",
        backward_op="sigmoid_backward",
    ),
    ActivationSpec(
        name="leaky_relu",
        ours=F.leaky_relu,
        reference=TF.leaky_relu,
        module=nn.LeakyReLU,
        torch_module=torch.nn.LeakyReLU,
        params={"negative_slope": 0.01},
        saves="input",
        forward_op="leaky_relu",
        backward_op="leaky_relu_backward",
        inplace_op="leaky_relu_",
        save_output_mode=True,
        param_cases=({}, {"negative_slope": 0.2}, {"negative_slope": 0.0}, {"negative_slope": -0.5}),
        exact=True,
    ),
    ActivationSpec(
        name="prelu",
        ours=F.prelu,
        reference=TF.prelu,
        module=nn.PReLU,
        torch_module=torch.nn.PReLU,
        params={},
        saves="input",
        forward_op="prelu",
        backward_op="prelu_backward",
        weight=True,
        exact=True,
    ),
    ActivationSpec(
        name="elu",
        ours=F.elu,
        reference=TF.elu,
        module=nn.ELU,
        torch_module=torch.nn.ELU,
        params={"alpha": 1.0},
        saves="input",
        forward_op="elu",
        backward_op="elu_backward",
        inplace_op="elu_",
        save_output_mode=True,
        param_cases=({}, {"alpha": 0.5}, {"alpha": 0.0}, {"alpha": -0.7}),
    ),
    ActivationSpec(
        name="tanh",
        ours=F.tanh,
        reference=torch.tanh,
        module=nn.Tanh,
        torch_module=torch.nn.Tanh,
        params={},
        saves="output",
        forward_op="tanh",
        backward_op="tanh_backward",
    ),
    ActivationSpec(
        name="gelu",
        ours=F.gelu,
        reference=TF.gelu,
        module=nn.GELU,
        torch_module=torch.nn.GELU,
        params={"approximate": "none"},
        saves="input",
        forward_op="gelu",
        backward_op="gelu_backward",
        param_cases=({}, {"approximate": "tanh"}),
        precise=lambda x, approximate="none": _gelu_precise(x, approximate),
    ),
    ActivationSpec(
        name="silu",
        ours=F.silu,
        reference=TF.silu,
        module=nn.SiLU,
        torch_module=torch.nn.SiLU,
        params={},
        saves="input",
        forward_op="silu",
        backward_op="silu_backward",
        inplace_op="silu_",
        inplace_copies_input=True,
    ),
    ActivationSpec(
        name="softplus",
        ours=F.softplus,
        reference=TF.softplus,
        module=nn.Softplus,
        torch_module=torch.nn.Softplus,
        params={"beta": 1.0, "threshold": 20.0},
        saves="input",
        forward_op="softplus",
        backward_op="softplus_backward",
        param_cases=({}, {"beta": 2.0, "threshold": 5.0}, {"beta": 0.5}, {"beta": -1.0}),
    ),
    ActivationSpec(
        name="mish",
        ours=F.mish,
        reference=TF.mish,
        module=nn.Mish,
        torch_module=torch.nn.Mish,
        params={},
        saves="input",
        forward_op="mish",
        backward_op="mish_backward",
        inplace_op="mish_",
        inplace_copies_input=True,
    ),
    ActivationSpec(
        name="selu",
        ours=F.selu,
        reference=TF.selu,
        module=nn.SELU,
        torch_module=torch.nn.SELU,
        params={},
        saves="input",
        forward_op="selu",
        backward_op="elu_backward",
        inplace_op="selu_",
    ),
    ActivationSpec(
        name="hardswish",
        ours=F.hardswish,
        reference=TF.hardswish,
        module=nn.Hardswish,
        torch_module=torch.nn.Hardswish,
        params={},
        saves="input",
        forward_op="hardswish",
        backward_op="hardswish_backward",
        inplace_op="hardswish_",
        inplace_copies_input=True,
        exact=True,
        grad_kinks=(-3.0, 3.0),
    ),
)

_BY_NAME = {s.name: s for s in SPECS}


def get_spec(name: str) -> ActivationSpec:
    """The spec of activation ``name`` (e.g. ``"leaky_relu"``)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown activation {name!r}; supported: {sorted(_BY_NAME)}") from None
