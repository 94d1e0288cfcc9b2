"""Drop-in modules: the torch.nn activations, computed by our kernels.

Each class subclasses its torch.nn counterpart, so it takes the same
constructor arguments with the same defaults, prints the same ``repr``, has
the same parameters and ``state_dict`` keys (a checkpoint saved with either
loads into the other), and still passes ``isinstance(m, torch.nn.ReLU)``
checks in existing code. Only ``forward`` differs: it calls
:mod:`activations_ext.functional`.

``LeakyReLU`` and ``ELU`` also take the keyword ``save_output`` (see
:mod:`activations_ext.functional`), shown in the repr only when set.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import functional as F


class ReLU(torch.nn.ReLU):
    """``torch.nn.ReLU`` on our kernels.

    Example:
        >>> m = ReLU(inplace=True)
        >>> m
        ReLU(inplace=True)
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input, inplace=self.inplace)


class Sigmoid(torch.nn.Sigmoid):
    """``torch.nn.Sigmoid`` on our kernels."""

    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input)


def _save_output_repr(base: str, save_output: bool) -> str:
    return f"{base}, save_output=True" if save_output else base


class LeakyReLU(torch.nn.LeakyReLU):
    """``torch.nn.LeakyReLU(negative_slope=0.01, inplace=False)`` on our kernels."""

    def __init__(
        self, negative_slope: float = 1e-2, inplace: bool = False, *, save_output: bool = False
    ) -> None:
        super().__init__(negative_slope, inplace)
        if save_output and negative_slope < 0:
            raise ValueError(f"LeakyReLU: save_output=True needs negative_slope >= 0, got {negative_slope}")
        self.save_output = save_output

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope, self.inplace, save_output=self.save_output)

    def extra_repr(self) -> str:
        return _save_output_repr(super().extra_repr(), self.save_output)


class ELU(torch.nn.ELU):
    """``torch.nn.ELU(alpha=1.0, inplace=False)`` on our kernels."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False, *, save_output: bool = False) -> None:
        super().__init__(alpha, inplace)
        if save_output and alpha < 0:
            raise ValueError(f"ELU: save_output=True needs alpha >= 0, got {alpha}")
        self.save_output = save_output

    def forward(self, input: Tensor) -> Tensor:
        return F.elu(input, self.alpha, self.inplace, save_output=self.save_output)

    def extra_repr(self) -> str:
        return _save_output_repr(super().extra_repr(), self.save_output)


class PReLU(torch.nn.PReLU):
    """``torch.nn.PReLU(num_parameters=1, init=0.25)`` on our kernels.

    The parameter is ``weight`` with ``num_parameters`` elements, as in torch.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.prelu(input, self.weight)


__all__ = ["ELU", "LeakyReLU", "PReLU", "ReLU", "Sigmoid"]
