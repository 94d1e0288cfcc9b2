"""activations_ext: activation functions as hand-written C++ and CUDA kernels.

    import activations_ext.functional as AF
    from activations_ext import nn as ann

    y = AF.relu(x)                          # same results as torch.nn.functional.relu
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), ann.LeakyReLU(0.1))
    model, summary = activations_ext.convert(existing_model)   # torch.nn activations -> ours

The kernels are torch operators (``torch.ops.activations_ext.*``) with CPU and
CUDA implementations, autograd to second order and fake kernels for
``torch.compile``/``torch.export``.
"""

from __future__ import annotations

import torch  # noqa: F401  (loads libtorch, which our library links against)

from ._build_check import check_built_torch, load_error

# Before the library is loaded: built for another torch, it fails to load
# without saying why, or loads and misbehaves.
check_built_torch()
try:
    from . import _C
except (ImportError, OSError) as e:
    raise load_error(e) from e

# ops registers the fake kernels, _vmap the batching rules.
from . import _vmap, functional, monitor, nn, ops  # noqa: E402, F401
from .convert import ConversionSummary, convert, revert  # noqa: E402
from .spec import SPECS, ActivationSpec, get_spec  # noqa: E402

__version__ = "0.1.0"


def has_cuda_kernels() -> bool:
    """Whether this build of the extension contains the CUDA kernels."""
    return bool(_C.has_cuda_kernels())


def cpu_kernel_isa() -> str:
    """The instruction set the CPU kernels run with here: DEFAULT, AVX2 or AVX512.

    It follows torch's own choice, so ``ATEN_CPU_CAPABILITY=avx2`` (set before
    the first call) selects the AVX2 kernels on an AVX-512 machine.
    """
    return _C.cpu_kernel_isa()


__all__ = [
    "SPECS",
    "ActivationSpec",
    "ConversionSummary",
    "convert",
    "cpu_kernel_isa",
    "functional",
    "get_spec",
    "has_cuda_kernels",
    "monitor",
    "nn",
    "revert",
]
