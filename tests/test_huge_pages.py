"""Large CPU outputs are advised into transparent huge pages (fresh() in csrc/launch.cpp).

An output of 32 MB or more, new and untouched, gets madvise(MADV_HUGEPAGE) on the 2 MB-aligned part
of its memory, which /proc/self/smaps shows as the "hg" flag of the mapping that holds it; smaller
outputs, in-place calls and ACTIVATIONS_EXT_HUGE_PAGES=0 leave the memory as it was. The advice
never changes a result.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import activations_ext.functional as AF

SMAPS = Path("/proc/self/smaps")
pytestmark = pytest.mark.skipif(not SMAPS.exists(), reason="no /proc/self/smaps (not Linux)")

BIG = (32 << 20) // 4 + 4096  # float32 elements: just over 32 MB


def _advised(t: torch.Tensor) -> bool:
    """Whether the mapping holding the middle of t's memory carries MADV_HUGEPAGE."""
    addr = t.data_ptr() + t.numel() * t.element_size() // 2
    inside = False
    for line in SMAPS.read_text().splitlines():
        head = line.split()[0]
        if "-" in head and not head.endswith(":"):
            lo, hi = (int(v, 16) for v in head.split("-"))
            inside = lo <= addr < hi
        elif inside and line.startswith("VmFlags:"):
            return "hg" in line.split()[1:]
    raise AssertionError("no mapping holds the tensor")


def test_large_outputs_are_advised_and_small_ones_are_not():
    x = torch.randn(BIG)
    g = torch.randn(BIG)
    y = AF.relu(x)
    assert torch.equal(y, torch.relu(x))
    assert _advised(y)
    xr = x.clone().requires_grad_(True)
    (gx,) = torch.autograd.grad(AF.silu(xr), xr, g)
    assert _advised(gx)
    gate, up = torch.randn(BIG), torch.randn(BIG)
    assert _advised(AF.swiglu(gate, up))
    assert not _advised(x)  # torch's own allocation, untouched by us
    small = AF.relu(torch.randn(1 << 20))  # 4 MB
    assert not _advised(small)


def test_the_switch_turns_it_off(tmp_path):
    code = (
        "import sys, torch; sys.path.insert(0, sys.argv[1]); import test_huge_pages as t; "
        "import activations_ext.functional as AF; "
        "y = AF.relu(torch.randn(t.BIG)); print(int(t._advised(y)))"
    )
    env = dict(os.environ, ACTIVATIONS_EXT_HUGE_PAGES="0")
    out = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == "0"
