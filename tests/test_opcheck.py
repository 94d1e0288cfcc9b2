"""torch.library.opcheck on every operator: schema, fake kernels, autograd
registration and AOT dispatch."""

from __future__ import annotations

import pytest
import torch
from conftest import make_input

ops = torch.ops.activations_ext


def _samples(device):
    def x(shape=(3, 4, 5), rg=False, seed=0, cl=False):
        t = make_input(shape, torch.float32, device, seed=seed, specials=False)
        if cl:
            t = t.contiguous(memory_format=torch.channels_last)
        return t.requires_grad_(rg)

    y = torch.sigmoid(x())
    samples = []
    for rg in (False, True):
        samples += [
            (ops.relu.default, (x(rg=rg),)),
            (ops.sigmoid.default, (x(rg=rg),)),
            (ops.leaky_relu.default, (x(rg=rg), 0.2, False)),
            (ops.leaky_relu.default, (x(rg=rg), 0.2, True)),
            (ops.elu.default, (x(rg=rg), 0.7, 1.0, 1.0, False)),
            (ops.elu.default, (x(rg=rg), 1.6732, 1.0507, 1.0, True)),
            (ops.prelu.default, (x(rg=rg), torch.rand(4, device=device).requires_grad_(rg))),
            (
                ops.prelu.default,
                (x((2, 4, 3, 3), rg=rg, cl=True), torch.rand(4, device=device).requires_grad_(rg)),
            ),
            (ops.prelu.default, (x(rg=rg), torch.rand(1, device=device).requires_grad_(rg))),
            (ops.relu_backward.default, (x(rg=rg, seed=1), y)),
            (ops.sigmoid_backward.default, (x(rg=rg, seed=1), y.requires_grad_(rg))),
            (ops.leaky_relu_backward.default, (x(rg=rg, seed=1), x(seed=2), 0.2, False)),
            (ops.elu_backward.default, (x(rg=rg, seed=1), x(seed=2, rg=rg), 0.7, 1.0, 1.0, False)),
            (ops.elu_backward.default, (x(rg=rg, seed=1), x(seed=2, rg=rg), 0.7, 1.0, 1.0, True)),
            (ops.prelu_backward.default, (x(rg=rg, seed=1), x(seed=2, rg=rg), torch.rand(4, device=device))),
        ]
    # In-place operators take inputs that do not require grad here (a
    # leaf that requires grad cannot be modified in place).
    samples += [
        (ops.relu_.default, (x(),)),
        (ops.leaky_relu_.default, (x(), 0.3)),
        (ops.elu_.default, (x(), 0.9, 1.0, 1.0)),
    ]
    return samples


def _ids(samples):
    return [f"{op._name.split('::')[1]}-{i}" for i, (op, _) in enumerate(samples)]


@pytest.mark.parametrize("index", range(len(_samples("cpu"))), ids=_ids(_samples("cpu")))
def test_opcheck(index, device):
    op, args = _samples(device)[index]
    torch.library.opcheck(op, args)
