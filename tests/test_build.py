"""What the build contains: CPU kernels for every instruction set, and the
CUDA kernels whenever the build was meant to have them."""

from __future__ import annotations

import os
import platform
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
    from conftest import DTYPES, SPECS, assert_matches_reference, call, make_input, reference_forward
    for spec in SPECS:
        for params in spec.param_cases:
            for dtype in DTYPES:
                for shape in [(3, 1031), (2, 5, 7, 3)]:
                    base = make_input(shape, dtype)
                    strided = base.clone().t() if base.dim() == 2 else base.transpose(1, 3)
                    for x, what in ((base, spec.name), (strided, spec.name + " strided")):
                        w = spec.make_weight(x)
                        ref, spread = reference_forward(spec, x, params, w)
                        assert_matches_reference(call(spec, spec.ours, x, params, w),
                                                 call(spec, spec.reference, x, params, w),
                                                 ref, dtype, exact=spec.exact, what=what, spread=spread)
    print(activations_ext.cpu_kernel_isa())
    """
)


def _processor_flags() -> set:
    """The instruction-set flags of this processor (Linux /proc/cpuinfo)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


# What each of our kernel tables needs from the processor (csrc/cpu/dispatch.cpp).
_ISA_NEEDS = {
    "default": set(),
    "avx2": {"avx2", "fma", "f16c"},
    "avx512": {"avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq"},
}


def _best_supported(capability: str, flags: set) -> str:
    """The table our dispatch must pick when torch is asked for `capability`:
    the requested one if the processor has it, else the best one below."""
    order = ["default", "avx2", "avx512"]
    for isa in reversed(order[: order.index(capability) + 1]):
        if _ISA_NEEDS[isa] <= flags:
            return isa.upper()
    return "DEFAULT"


def test_best_supported_steps_down():
    avx2_only = _ISA_NEEDS["avx2"] | {"sse4_2"}
    assert _best_supported("avx512", avx2_only) == "AVX2"
    assert _best_supported("avx512", _ISA_NEEDS["avx512"]) == "AVX512"
    assert _best_supported("avx2", _ISA_NEEDS["avx512"]) == "AVX2"
    assert _best_supported("avx2", set()) == "DEFAULT"
    assert _best_supported("default", _ISA_NEEDS["avx512"]) == "DEFAULT"


_ISA_ONLY = "import activations_ext; print(activations_ext.cpu_kernel_isa())"


def _run_with_capability(code: str, capability: str) -> str:
    env = dict(os.environ, ATEN_CPU_CAPABILITY=capability)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip().splitlines()[-1]


@pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")),
    reason="x86-64 Linux builds carry several ISAs",
)
@pytest.mark.parametrize("capability", ["default", "avx2", "avx512"])
def test_each_instruction_set_matches_torch(capability):
    """Runs the conformance check with torch and us forced to one instruction
    set (ATEN_CPU_CAPABILITY), in a fresh process.

    Where the processor lacks that instruction set, torch still reports it
    (and its kernels would fault), while our dispatch steps down to the best
    table the processor has: the subprocess then only checks that choice and
    runs no kernel at all, torch's included."""
    flags = _processor_flags()
    expected = _best_supported(capability, flags)
    if not _ISA_NEEDS[capability] <= flags:
        assert _run_with_capability(_ISA_ONLY, capability) == expected
        return
    used = _run_with_capability(_ISA_CHECK.format(tests=str(TESTS)), capability)
    assert used == expected
