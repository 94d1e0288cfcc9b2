"""Memory: what autograd keeps, and the peak of a forward and backward pass.

The ``save_output=True`` mode of LeakyReLU and ELU keeps the activation's
output for backward instead of its input. In a Linear -> activation ->
Linear stack the next Linear keeps that output anyway, so the activation
adds no tensor of its own. Three measurements show it:

- the unique storages autograd holds after the forward pass, seen through
  ``torch.autograd.graph.saved_tensors_hooks`` (count and bytes);
- the peak of live tensor memory during forward + backward (the CUDA
  allocator's statistics on a GPU; the profiler's allocation events on the
  CPU);
- the process peak: on the CPU the peak resident set size (``VmHWM``, reset
  through ``/proc/self/clear_refs`` once the inputs exist), on a GPU the
  allocator's peak. Measured first, in a fresh process per configuration
  (``python -m bench.memory ...``), so that no earlier allocation is reused;
  on the CPU that process runs with glibc's mmap threshold fixed at 1 MiB, so
  that freed tensors go back to the system at once.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from bench.kernels import DTYPES, get_activation
from bench.machine import pick_device

ROOT = Path(__file__).resolve().parent.parent

MODES = ("native", "ours", "ours_save_output")
MODE_LABELS = {
    "native": "torch.nn",
    "ours": "ours (default: saves input)",
    "ours_save_output": "ours, save_output=True",
}


def peak_tensor_bytes(fn: Callable[[], Any], device: torch.device) -> Tuple[Any, int]:
    """Runs ``fn`` and returns (its result, the peak of tensor memory it had
    allocated at any point, above what was allocated before it started)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        start = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        out = fn()
        torch.cuda.synchronize(device)
        return out, torch.cuda.max_memory_allocated(device) - start
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    live = peak = 0
    for e in events:
        live += e.nbytes()  # negative for a free
        peak = max(peak, live)
    return out, peak


def saved_storages(fn: Callable[[], Any]) -> Tuple[Any, int, int]:
    """Runs ``fn`` (a forward pass) and returns (its result, the number of
    unique storages autograd saved for backward, their total bytes)."""
    storages: Dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, len(storages), sum(storages.values())


@dataclass
class StackConfig:
    """A Linear -> activation -> ... -> Linear stack and its input batch."""

    batch: int
    width: int
    depth: int  # number of activations
    dtype: str = "float32"

    @classmethod
    def preset(cls, quick: bool, device: torch.device) -> StackConfig:
        if quick:
            return cls(batch=1024, width=512, depth=4)
        if device.type == "cuda":
            return cls(batch=16384, width=4096, depth=8)
        return cls(batch=4096, width=1024, depth=8)

    @property
    def activation_bytes(self) -> int:
        """Bytes of one (batch, width) tensor."""
        return self.batch * self.width * torch.empty((), dtype=DTYPES[self.dtype]).element_size()


def build_stack(activation: str, mode: str, config: StackConfig, device: torch.device) -> torch.nn.Module:
    act = get_activation(activation)
    layers: List[torch.nn.Module] = []
    for _ in range(config.depth):
        layers.append(torch.nn.Linear(config.width, config.width))
        if mode == "native":
            layers.append(act.module("native", config.width))
        elif mode == "ours":
            layers.append(act.module("ours", config.width))
        elif mode == "ours_save_output":
            layers.append(act.ours_module_cls(**act.params, save_output=True))
        else:
            raise ValueError(mode)
    layers.append(torch.nn.Linear(config.width, config.width))
    torch.manual_seed(0)
    return torch.nn.Sequential(*layers).to(device=device, dtype=DTYPES[config.dtype])


def _rss_bytes(field: str) -> Optional[int]:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def measure_in_this_process(activation: str, mode: str, config: StackConfig) -> Dict[str, Any]:
    """All three measurements of one configuration (call in a fresh process
    for a meaningful process peak)."""
    device = pick_device()
    model = build_stack(activation, mode, config, device)
    x = torch.randn(config.batch, config.width, device=device, dtype=DTYPES[config.dtype], requires_grad=True)
    gc.collect()
    out: Dict[str, Any] = {"activation": activation, "mode": mode, "config": asdict(config)}

    # 1. the process peak over forward + backward, first, while nothing has been freed yet
    def step():
        model(x).sum().backward()

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        torch.cuda.synchronize(device)
        out["process_peak_bytes"] = torch.cuda.max_memory_allocated(device) - base
        out["process_peak_method"] = "torch.cuda.max_memory_allocated above the start"
    elif _reset_peak_rss():
        base = _rss_bytes("VmRSS")
        step()
        out["process_peak_bytes"] = _rss_bytes("VmHWM") - base
        out["process_peak_method"] = (
            "peak resident set size (VmHWM) above the resident size before the pass"
            + (
                ", glibc's mmap threshold fixed at " + os.environ["MALLOC_MMAP_THRESHOLD_"] + " bytes"
                if "MALLOC_MMAP_THRESHOLD_" in os.environ
                else ""
            )
        )
    else:
        import resource

        base = _rss_bytes("VmRSS") or 0
        step()
        maxrss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["process_peak_bytes"] = maxrss_kib * 1024 - base
        out["process_peak_method"] = "ru_maxrss above the resident size before the pass"
    x.grad = None
    model.zero_grad(set_to_none=True)
    gc.collect()

    # 2. what autograd keeps
    y, count, nbytes = saved_storages(lambda: model(x))
    out["saved_storages"] = count
    out["saved_bytes"] = nbytes
    del y
    x.grad = None
    model.zero_grad(set_to_none=True)
    gc.collect()

    # 3. peak of live tensor memory, from the allocations themselves
    _, peak = peak_tensor_bytes(step, device)
    out["peak_tensor_bytes"] = peak
    return out


def run_saved_memory(config: StackConfig, parallel: int = 2, threads: int = 0) -> List[Dict[str, Any]]:
    """Every (activation with a save_output mode, mode) in its own fresh process."""
    from activations_ext.spec import SPECS

    jobs = [(s.name, m) for s in SPECS if s.save_output_mode for m in MODES]
    results: List[Dict[str, Any]] = []
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    # A fixed mmap threshold turns off glibc's adaptive one: every tensor of
    # 1 MiB or more is then mapped on allocation and unmapped when freed, so
    # the resident set follows the live tensors instead of the heap's history.
    env["MALLOC_MMAP_THRESHOLD_"] = str(1 << 20)
    running: List[Tuple[Tuple[str, str], subprocess.Popen]] = []

    def finish(job, proc):
        stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"bench.memory {job} failed:\n{stderr[-2000:]}")
        results.append(json.loads(stdout.strip().splitlines()[-1]))

    for job in jobs:
        cmd = [sys.executable, "-m", "bench.memory", "--activation", job[0], "--mode", job[1]]
        cmd += ["--batch", str(config.batch), "--width", str(config.width), "--depth", str(config.depth)]
        cmd += ["--dtype", config.dtype, "--threads", str(threads)]
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        running.append((job, proc))
        if len(running) >= parallel:
            finish(*running.pop(0))
    for job, proc in running:
        finish(job, proc)
    order = {j: i for i, j in enumerate(jobs)}
    results.sort(key=lambda r: order[(r["activation"], r["mode"])])
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description="Memory of one Linear->activation stack configuration (JSON line)."
    )
    p.add_argument("--activation", required=True)
    p.add_argument("--mode", choices=MODES, required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--depth", type=int, required=True)
    p.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a = p.parse_args(argv)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    result = measure_in_this_process(a.activation, a.mode, StackConfig(a.batch, a.width, a.depth, a.dtype))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
