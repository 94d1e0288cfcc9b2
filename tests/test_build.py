"""What the build contains: CPU kernels for every instruction set, and the
CUDA kernels whenever the build was meant to have them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import activations_ext
from activations_ext.spec import SPECS

TESTS = Path(__file__).resolve().parent


def _all_ops():
    return [op for s in SPECS for op in filter(None, (s.forward_op, s.backward_op, s.inplace_op))]


@pytest.mark.skipif(
    os.environ.get("ACTIVATIONS_EXT_EXPECT_CUDA") != "1",
    reason="set ACTIVATIONS_EXT_EXPECT_CUDA=1 where the build must contain CUDA kernels (CI does)",
)
def test_cuda_kernels_were_built():
    assert activations_ext.has_cuda_kernels()
    for op in _all_ops():
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"activations_ext::{op}", "CUDA"), op


def test_has_cuda_kernels_agrees_with_registrations():
    registered = all(
        torch._C._dispatch_has_kernel_for_dispatch_key(f"activations_ext::{op}", "CUDA") for op in _all_ops()
    )
    assert activations_ext.has_cuda_kernels() == registered


_ISA_CHECK = textwrap.dedent(
    """
    import sys, torch
    sys.path.insert(0, {tests!r})
    import activations_ext
    from conftest import DTYPES, SPECS, assert_matches_reference, call, make_input
    assert activations_ext.cpu_kernel_isa() == torch.backends.cpu.get_cpu_capability().upper(), (
        activations_ext.cpu_kernel_isa(), torch.backends.cpu.get_cpu_capability())
    for spec in SPECS:
        for params in spec.param_cases:
            for dtype in DTYPES:
                for shape in [(3, 1031), (2, 5, 7, 3)]:
                    x = make_input(shape, dtype)
                    w = spec.make_weight(x)
                    ours = call(spec, spec.ours, x, params, w)
                    theirs = call(spec, spec.reference, x, params, w)
                    ref = call(spec, spec.reference, x.double(), params, None if w is None else w.double())
                    assert_matches_reference(ours, theirs, ref, dtype, exact=spec.exact, what=spec.name,
                                             nan_subset=True)
                    xs = x.clone().t() if x.dim() == 2 else x.transpose(1, 3)
                    assert_matches_reference(call(spec, spec.ours, xs, params, spec.make_weight(xs)),
                                             call(spec, spec.reference, xs, params, spec.make_weight(xs)),
                                             call(spec, spec.reference, xs.double(), params,
                                                  None if w is None else spec.make_weight(xs).double()),
                                             dtype, exact=spec.exact, what=spec.name + " strided",
                                             nan_subset=True)
    print(activations_ext.cpu_kernel_isa())
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="x86 Linux builds carry several ISAs")
@pytest.mark.parametrize("capability", ["default", "avx2", "avx512"])
def test_each_instruction_set_matches_torch(capability):
    """Runs the conformance check with torch and us forced to one instruction
    set (ATEN_CPU_CAPABILITY), in a fresh process. Where torch's kernel for
    that instruction set gives NaN for an input that is not NaN (its baseline
    gelu(+inf)), ours may give the right value instead."""
    env = dict(os.environ, ATEN_CPU_CAPABILITY=capability)
    proc = subprocess.run(
        [sys.executable, "-c", _ISA_CHECK.format(tests=str(TESTS))],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    used = proc.stdout.strip().splitlines()[-1]
    if capability == "default":
        assert used == "DEFAULT"
