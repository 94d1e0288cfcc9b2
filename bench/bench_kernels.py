"""Micro benchmarks (pytest-benchmark): our kernels against torch's.

    pytest bench --benchmark-only                  # everything
    pytest bench --benchmark-only -k "relu and 1M"  # a subset

Every activation of the spec table, forward and backward, float32 and
bfloat16, 1K, 1M and 16M elements, ours and torch's (the spec table's
reference), and the in-place forms. The cases are the report's own
(bench/kernels.py); pytest-benchmark groups ours and torch's side by side.
Benchmarks record times; they never assert them.
"""

from __future__ import annotations

import pytest

from bench.kernels import (
    DTYPES,
    KIB,
    MIB,
    activations,
    backward_case,
    bytes_moved,
    forward_case,
    size_label,
)
from bench.machine import pick_device

DEVICE = pick_device()
SIZES = [KIB, MIB, 16 * MIB]
SPEC_ACTS = [a for a in activations() if a.in_spec]
INPLACE_ACTS = [a for a in SPEC_ACTS if a.inplace]
IMPLS = ["ours", "native"]


def _params(acts):
    return [
        pytest.param(a, dtype, n, impl, id=f"{a.name}-{dtype}-{size_label(n)}-{impl}")
        for a in acts
        for dtype in DTYPES
        for n in SIZES
        for impl in IMPLS
    ]


def _run(benchmark, kind, act, dtype, n, impl, fn):
    benchmark.group = f"{kind} {act.name} {dtype} {size_label(n)}"
    benchmark.extra_info.update(
        {
            "activation": act.name,
            "dtype": dtype,
            "n": n,
            "impl": impl,
            "bytes": bytes_moved(kind, n, DTYPES[dtype]),
        }
    )
    benchmark(fn)


@pytest.mark.parametrize("act,dtype,n,impl", _params(SPEC_ACTS))
def test_forward(benchmark, act, dtype, n, impl):
    _run(benchmark, "forward", act, dtype, n, impl, forward_case(act, impl, n, DTYPES[dtype], DEVICE))


@pytest.mark.parametrize("act,dtype,n,impl", _params(SPEC_ACTS))
def test_backward(benchmark, act, dtype, n, impl):
    _run(benchmark, "backward", act, dtype, n, impl, backward_case(act, impl, n, DTYPES[dtype], DEVICE))


@pytest.mark.parametrize("act,dtype,n,impl", _params(INPLACE_ACTS))
def test_forward_inplace(benchmark, act, dtype, n, impl):
    fn = forward_case(act, impl, n, DTYPES[dtype], DEVICE, inplace=True)
    _run(benchmark, "inplace", act, dtype, n, impl, fn)
