"""Eager PyTorch forms of the activations torch.nn has no class for.

QuickGELU (CLIP's, timm's and transformers' ``x * sigmoid(1.702 x)``) and
squared ReLU (Primer's, transformers' ``relu2``) are written in models as a
few torch ops. These are those forms, computed by torch's own kernels: the
native baseline that our ``activations_ext.nn.QuickGELU`` and
``ReLUSquared`` (which subclass them) are tested and timed against, and
what :func:`activations_ext.revert` puts back.
"""

from __future__ import annotations

import torch
from torch import Tensor

QUICK_GELU_SCALE = 1.702
"""The sigmoid's input scale in QuickGELU."""


def quick_gelu(input: Tensor) -> Tensor:
    """``input * sigmoid(1.702 * input)`` with torch's ops."""
    return input * torch.sigmoid(QUICK_GELU_SCALE * input)


def relu_squared(input: Tensor) -> Tensor:
    """``relu(input) ** 2`` with torch's ops."""
    return torch.square(torch.relu(input))


class QuickGELU(torch.nn.Module):
    """``x * sigmoid(1.702 x)`` with torch's ops."""

    def forward(self, input: Tensor) -> Tensor:
        return quick_gelu(input)


class ReLUSquared(torch.nn.Module):
    """``relu(x) ** 2`` with torch's ops."""

    def forward(self, input: Tensor) -> Tensor:
        return relu_squared(input)


__all__ = ["QUICK_GELU_SCALE", "QuickGELU", "ReLUSquared", "quick_gelu", "relu_squared"]
