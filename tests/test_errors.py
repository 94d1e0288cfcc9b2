"""Bad input gets a Python exception that names the problem."""

from __future__ import annotations

import pytest
import torch
from conftest import SPECS, call

import activations_ext.functional as AF

ops = torch.ops.activations_ext

BAD_DTYPES = [torch.int32, torch.int64, torch.uint8, torch.bool, torch.complex64]


@pytest.mark.parametrize("dtype", BAD_DTYPES, ids=str)
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_non_float_inputs_are_rejected(spec, dtype, device):
    x = torch.ones(4, 3, device=device).to(dtype)
    w = torch.ones(3, device=device).to(dtype) if spec.weight else None
    with pytest.raises(TypeError, match="floating-point"):
        call(spec, spec.ours, x, dict(spec.params), w)
    if spec.has_inplace:
        with pytest.raises(TypeError, match="floating-point"):
            spec.ours(x, **spec.params, inplace=True)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_backward_operator_checks_its_operands(spec, device):
    op = getattr(ops, spec.backward_op)
    g = torch.randn(4, 3, device=device)
    extra = {
        "leaky_relu_backward": (0.01, False),
        "elu_backward": (1.0, 1.0, 1.0, False),
        "prelu_backward": (torch.ones(1, device=device),),
        "gelu_backward": ("none",),
        "softplus_backward": (1.0, 20.0),
    }.get(spec.backward_op, ())
    with pytest.raises(ValueError, match="shape"):
        op(g, torch.randn(4, 2, device=device), *extra)
    with pytest.raises(TypeError, match="dtype"):
        op(g, torch.randn(4, 3, device=device, dtype=torch.float64), *extra)


def test_prelu_weight_size_must_be_one_or_channels(device):
    x = torch.randn(2, 3, 4, device=device)
    with pytest.raises(ValueError, match=r"weight has 2 elements.*= 3"):
        AF.prelu(x, torch.ones(2, device=device))
    with pytest.raises(ValueError, match="weight has 4 elements"):
        AF.prelu(torch.randn(4, device=device), torch.ones(4, device=device))
    with pytest.raises(ValueError, match="0-d input"):
        AF.prelu(torch.tensor(1.0, device=device), torch.ones(3, device=device))
    with pytest.raises(ValueError, match="scalar or 1-d"):
        AF.prelu(x, torch.ones(3, 1, device=device))


def test_prelu_weight_dtype_must_match(device):
    x = torch.randn(2, 3, device=device)
    with pytest.raises(TypeError, match="weight has dtype torch.float64|weight has dtype Double"):
        AF.prelu(x, torch.ones(3, dtype=torch.float64, device=device))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_prelu_weight_device_must_match():
    x = torch.randn(2, 3, device="cuda")
    with pytest.raises(RuntimeError, match="same device"):
        AF.prelu(x, torch.ones(3))


def test_sparse_input_is_rejected():
    x = torch.randn(3, 3).to_sparse()
    with pytest.raises((ValueError, NotImplementedError, RuntimeError)):
        AF.relu(x)


def test_leaky_relu_inplace_negative_slope_backward_raises():
    x = torch.randn(5, requires_grad=True) * 1
    y = AF.leaky_relu(x, -0.5, inplace=True)
    with pytest.raises(RuntimeError, match="negative slope"):
        y.sum().backward()
