"""Micro benchmarks of the save_output=True mode: memory kept, and time.

For LeakyReLU and ELU in a Linear -> activation stack (bench/memory.py):
torch.nn's modules, ours by default, and ours with ``save_output=True``.
The bytes autograd keeps and the peak tensor memory of forward + backward go
into ``extra_info`` (they are exact counts, not timings); the benchmark
times forward + backward. The report measures the same configurations, plus
the process peak, each in a fresh process.
"""

from __future__ import annotations

import pytest
import torch

from activations_ext.spec import SPECS
from bench.machine import pick_device
from bench.memory import MODES, StackConfig, build_stack, peak_tensor_bytes, saved_storages

DEVICE = pick_device()
CONFIG = StackConfig(batch=1024, width=1024, depth=4)
CASES = [pytest.param(s.name, m, id=f"{s.name}-{m}") for s in SPECS if s.save_output_mode for m in MODES]


@pytest.mark.parametrize("activation,mode", CASES)
def test_saved_memory(benchmark, activation, mode):
    model = build_stack(activation, mode, CONFIG, DEVICE)
    x = torch.randn(CONFIG.batch, CONFIG.width, device=DEVICE, requires_grad=True)
    _, count, nbytes = saved_storages(lambda: model(x))

    def step():
        model(x).sum().backward()

    _, peak = peak_tensor_bytes(step, DEVICE)
    benchmark.group = f"saved memory {activation}"
    benchmark.extra_info.update(
        {"saved_storages": count, "saved_bytes": nbytes, "peak_tensor_bytes": peak, "config": CONFIG.__dict__}
    )
    benchmark(step)
