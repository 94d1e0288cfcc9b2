"""Streamed stores on the CPU (ActParams::stream, csrc/cpu/schedule.cpp).

Out-of-place float32 and float64 results of the piecewise-linear
activations, forward and backward, of at least half the last-level cache
are written with non-temporal stores, from the output's first
register-aligned element on, the elements before it by one partial step.
The streamed kernels must give the cached kernels' bits. A child process
streams every call that may stream (``ACTIVATIONS_EXT_STREAM_BYTES=0``);
this process, whose tensors here are far below the threshold, streams none.
Every activation runs, so that one that must not stream but did would
show too if its bits moved. On two threads the second thread's piece of
the output starts a few elements past a register boundary (the head) and
both pieces end in a partial register (the tail).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import SPECS, call, make_input

import activations_ext.functional as AF

HERE = Path(__file__).resolve().parent
DTYPES = [torch.float32, torch.float64]
# Above two of ATen's 32K grains, so split in two; the second piece starts
# at element 32774, 24 bytes past a 32- and a 64-byte boundary.
N = 65547
OFFSETS = (0, 1)  # the input's elements off a register boundary


def _at(offset, dtype, seed, n=N):
    """n elements starting `offset` elements into a fresh allocation."""
    return make_input((offset + n,), dtype, seed=seed, nan=False)[offset:]


def results():
    """Every kernel's output here, on two threads, keyed by what was called."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    out = {}
    try:
        for dtype in DTYPES:
            d = str(dtype).split(".")[1]
            for off in OFFSETS:
                for spec in SPECS:
                    params = dict(spec.params)
                    x = _at(off, dtype, 0).requires_grad_(True)
                    w = spec.make_weight(x)
                    y = call(spec, spec.ours, x, params, w)
                    # The gradient at another offset than the input's.
                    g = _at((off + 1) % 4, dtype, 7)
                    (gx,) = torch.autograd.grad(y, x, g)
                    out[f"{spec.name}/{d}/{off}/forward"] = y.detach()
                    out[f"{spec.name}/{d}/{off}/backward"] = gx
    finally:
        torch.set_num_threads(threads)
    return out


def _same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and bool(((a == b) | (a.isnan() & b.isnan())).all())


def _child_results(tmp_path_factory, module="test_streaming", function="results", **env):
    """`module`.`function`() (a test module here) of a child process run with `env` added to
    the environment."""
    path = tmp_path_factory.mktemp(module) / "results.pt"
    code = (
        "import importlib, sys, torch; sys.path.insert(0, sys.argv[1]); "
        "t = importlib.import_module(sys.argv[3]); torch.save(getattr(t, sys.argv[4])(), sys.argv[2])"
    )
    env = dict(os.environ, **env)
    subprocess.run(
        [sys.executable, "-c", code, str(HERE), str(path), module, function], env=env, check=True, timeout=600
    )
    return torch.load(path)


@pytest.fixture(scope="module")
def streamed(tmp_path_factory):
    return _child_results(tmp_path_factory, ACTIVATIONS_EXT_STREAM_BYTES="0")


def test_streamed_kernels_give_the_cached_kernels_bits(streamed):
    cached = results()
    assert sorted(cached) == sorted(streamed)
    bad = [k for k in cached if not _same_bits(cached[k], streamed[k])]
    assert not bad, f"{len(bad)} of {len(cached)} differ when streamed, e.g. {bad[:5]}"


def test_memory_bound_activations_give_the_same_bits_on_either_table(tmp_path_factory):
    """On an AVX-512 processor the float32 and float64 loops of the piecewise-linear activations
    run the AVX2 table (narrow_kernels(), csrc/kernels.h); ACTIVATIONS_EXT_NARROW=0 keeps them on
    the AVX512 table. Both give the same bits, so where a processor runs them does not change a
    result. (Elsewhere both settings are the same table.)"""
    narrow = results()
    wide = _child_results(tmp_path_factory, ACTIVATIONS_EXT_NARROW="0")
    assert sorted(narrow) == sorted(wide)
    bad = [k for k in narrow if not _same_bits(narrow[k], wide[k])]
    assert not bad, f"{len(bad)} of {len(narrow)} differ on the AVX512 table, e.g. {bad[:5]}"


def test_a_large_output_at_the_default_threshold_is_right():
    # 40 MB out of place: at least half the last-level cache on the
    # project's machines, so streamed there, forward and backward.
    x = make_input((10 * 2**20 + 17,), torch.float32, nan=False)[1:]
    assert torch.equal(AF.relu(x), torch.relu(x))
    xr = x.clone().requires_grad_(True)
    g = make_input(x.shape, torch.float32, seed=3, nan=False)
    (ours,) = torch.autograd.grad(AF.leaky_relu(xr, 0.2), xr, g)
    (theirs,) = torch.autograd.grad(torch.nn.functional.leaky_relu(xr, 0.2), xr, g)
    assert torch.equal(ours, theirs)
