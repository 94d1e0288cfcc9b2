"""bfloat16 rounding by the processor's own instruction (narrow_bf16, csrc/cpu/kernels.cpp).

Where the processor has AVX512_BF16 and the AVX512 kernels run, float results are rounded to
bfloat16 by vcvtne2ps2bf16 instead of integer operations. The two round alike except that the
instruction flushes float denormals to zero (so registers holding one take the integer path) and
keeps a NaN's sign and payload, quieted, which the integer sequence here does too (ATen's gives
0xffff). Every activation and parameter set of the spec table, forward and backward, over all 65536
bfloat16 inputs (bfloat16 denormals among them, whose products with a slope or a gradient are float
denormals) must give the bits, NaNs included, of a child process that rounds with integer
operations (``ACTIVATIONS_EXT_HW_BF16=0``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import test_lookup
import torch
from test_streaming import _child_results

import activations_ext.functional as AF


def _has_hw_bf16():
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return " avx512_bf16" in flags and torch.backends.cpu.get_cpu_capability() == "AVX512"


needs_hw = pytest.mark.skipif(
    not _has_hw_bf16(),
    reason="the processor has no AVX512_BF16 (or ATen runs below AVX512): one rounding only",
)


@needs_hw
def test_hardware_rounding_gives_the_software_bits(tmp_path_factory):
    hw = {k: v for k, v in test_lookup.results().items() if v.dtype == torch.bfloat16}
    sw = _child_results(tmp_path_factory, module="test_lookup", ACTIVATIONS_EXT_HW_BF16="0")
    sw = {k: v for k, v in sw.items() if v.dtype == torch.bfloat16}
    assert hw and sorted(hw) == sorted(sw)
    bad = []
    for k in hw:
        a, b = hw[k], sw[k]
        if not torch.equal(a.view(torch.int16), b.view(torch.int16)):
            bad.append(k)
    assert not bad, f"{len(bad)} of {len(hw)} differ with the hardware rounding, e.g. {bad[:5]}"


def test_denormal_results_are_not_flushed():
    """A register whose results include float denormals rounds them as torch does (to bfloat16
    denormals, not zero), whichever rounding the processor takes."""
    tiny = torch.tensor([2.0**-130, -(2.0**-131), 2.0**-120, -(2.0**-126)] * 16, dtype=torch.bfloat16)
    for slope in (0.01, 0.5):
        ours = AF.leaky_relu(tiny, negative_slope=slope)
        ref = torch.nn.functional.leaky_relu(tiny, negative_slope=slope)
        assert torch.equal(ours.view(torch.int16), ref.view(torch.int16)), slope
    # Denormals scattered among normal values, so that most registers hold one or two.
    x = (torch.randn(4096, generator=torch.Generator().manual_seed(0)) * 1e-36).to(torch.bfloat16)
    assert (x.float().abs() < 2.0**-126).any() and (x.float().abs() >= 2.0**-126).any()
    for slope in (0.25, 3.0):
        ours = AF.leaky_relu(x, negative_slope=slope)
        ref = torch.nn.functional.leaky_relu(x, negative_slope=slope)
        assert torch.equal(ours.view(torch.int16), ref.view(torch.int16)), slope
