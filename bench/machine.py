"""What the measurements ran on: device, processor, torch, threads, and a tag
for the results folder (``bench/results/<tag>/``)."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import sys
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import torch


def pick_device() -> torch.device:
    """The device every experiment runs on: the first GPU when there is one."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def _cpuinfo_fields() -> Dict[str, str]:
    """The first processor's fields of ``/proc/cpuinfo`` (empty elsewhere)."""
    fields: Dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
    except OSError:
        pass
    return fields


def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux)."""
    return _cpuinfo_fields().get("model name") or platform.processor() or platform.machine() or "unknown-cpu"


def zen_generation(family: int, model: int) -> Optional[str]:
    """AMD's Zen generation of a processor family and model number, as AMD's
    family 17h-1Ah documents number them; None for other families."""
    if family == 0x17:
        return "zen1" if model < 0x30 else "zen2"  # Zen+ (0x08, 0x18) counted as Zen
    if family == 0x19:
        zen4 = 0x10 <= model <= 0x1F or 0x60 <= model <= 0x7F or 0xA0 <= model <= 0xAF
        return "zen4" if zen4 else "zen3"
    if family == 0x1A:
        return "zen5"
    return None


def cpu_microarch() -> Optional[str]:
    """The processor's generation where its model name does not tell it:
    AMD's virtual machines often report a bare "AMD EPYC" for Zen 1 to Zen 4,
    whose vector units and so whose results differ a lot. None when unknown."""
    fields = _cpuinfo_fields()
    if fields.get("vendor_id") != "AuthenticAMD":
        return None
    try:
        return zen_generation(int(fields["cpu family"]), int(fields["model"]))
    except (KeyError, ValueError):
        return None


def processor_name(env: Mapping[str, Any]) -> str:
    """A saved environment's processor as the reports print it: the model
    name, and the generation where the environment recorded one."""
    name = str(env.get("cpu_model"))
    arch = env.get("cpu_microarch")
    return f"{name} ({arch.replace('zen', 'Zen ')})" if arch else name


def _slug(text: str) -> str:
    text = re.sub(r"\((r|tm|c)\)", "", text.lower())
    # The clock after "@" is left out: the same processor model reports it
    # on some machines and not on others, and its results belong together.
    text = re.sub(r"\s*@.*$", "", text.strip())
    text = re.sub(r"\bcpu$", "", text.strip())
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or "unknown"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model()


def run_meta(device: torch.device) -> Dict[str, Any]:
    """Device, torch, threads and date of a standalone benchmark's run, kept with its results."""
    return {
        "device": (
            device_name(device)
            if device.type == "cuda"
            else processor_name({"cpu_model": cpu_model(), "cpu_microarch": cpu_microarch()})
        ),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(),
    }


def measured_on(meta: Mapping[str, Any]) -> str:
    """The line that heads a standalone benchmark's Markdown: what ``run_meta`` recorded."""
    return (
        f"Measured on {meta['device']}, torch {meta['torch']}, {meta['threads']} threads, {meta['date']}.\n\n"
    )


def machine_tag(device: torch.device) -> str:
    """``cuda-<gpu>`` on a GPU, ``cpu-<model>-<cores>c`` otherwise, with the
    generation after the model (``cpu-amd-epyc-zen4-2c``) where the model
    name carries no number to tell generations apart."""
    if device.type == "cuda":
        return "cuda-" + _slug(torch.cuda.get_device_name(device))
    return cpu_tag(cpu_model(), cpu_microarch(), os.cpu_count())


def cpu_tag(model: str, microarch: Optional[str], cores: Optional[int]) -> str:
    name = _slug(model)
    if microarch and not re.search(r"\d", name):
        name = f"{name}-{microarch}"
    return f"cpu-{name}-{cores}c"


def environment(device: torch.device) -> Dict[str, Any]:
    """Everything a reader needs to place a number: saved with every result."""
    import activations_ext

    env: Dict[str, Any] = {
        "device": str(device),
        "device_name": device_name(device),
        "cpu_model": cpu_model(),
        "cpu_microarch": cpu_microarch(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "activations_ext_file": activations_ext.__file__,
        "cpu_kernel_isa": activations_ext.cpu_kernel_isa(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "command": " ".join(
            [os.path.basename(sys.executable)] + list(getattr(sys, "orig_argv", sys.argv))[1:]
        ),
        "executable": sys.executable,
    }
    env["torch_cpu_libraries"] = torch_cpu_libraries()
    try:
        env["load_average"] = list(os.getloadavg())
    except OSError:
        pass
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        env["gpu_capability"] = f"{props.major}.{props.minor}"
    return env


# The switches that steer torch's CPU functions: ATen's own kernels, and the
# MKL (vector math: tanh and others on Intel) and oneDNN (GELU, ...) ones.
CPU_ISA_SWITCHES = ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA")


def torch_cpu_libraries() -> Dict[str, Any]:
    """What torch's CPU functions run on in this process: MKL and oneDNN (built
    in and enabled or not, their versions) and the switches set."""
    cfg = torch.__config__.show()
    return {
        "mkl": torch.backends.mkl.is_available(),
        "mkldnn": torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled,
        "build": [
            ln.strip(" -") for ln in cfg.splitlines() if "Math Kernel Library" in ln or "MKL-DNN v" in ln
        ],
        "switches": {k: os.environ[k] for k in CPU_ISA_SWITCHES if k in os.environ},
    }


def describe_libraries(lib: Mapping[str, Any]) -> str:
    """One line for a report: MKL and oneDNN, and any switch set."""
    parts = [f"MKL {'yes' if lib.get('mkl') else 'no'}", f"oneDNN {'yes' if lib.get('mkldnn') else 'no'}"]
    parts += list(lib.get("build", []))
    sw = lib.get("switches") or {}
    parts.append("switches: " + (", ".join(f"{k}={v}" for k, v in sw.items()) if sw else "none"))
    return "; ".join(parts)


CONTENTION_FACTOR = 3.0


def is_contended(threads: int, multi_us: float, single_us: float) -> bool:
    """The probe's decision: the copy on ``threads`` threads took more than
    ``CONTENTION_FACTOR`` times as long as on one (never with one thread)."""
    return threads > 1 and multi_us > CONTENTION_FACTOR * single_us


def contention_probe(reps: int = 40, threads: Optional[int] = None) -> Dict[str, Any]:
    """Whether other processes are using this machine's cores right now.

    A 64K-element copy is timed with torch's threads and with one thread. On
    an idle machine the two are close; when another process occupies a core,
    every multi-threaded region waits for the descheduled thread (a scheduler
    time slice, milliseconds), and the multi-threaded copy becomes many times
    slower than the single-threaded one. ``threads``: the count to probe
    with (default: torch's current one).
    """
    import statistics
    import time

    current = torch.get_num_threads()
    threads = threads or current
    x = torch.randn(1 << 16)
    out = torch.empty_like(x)

    def median_us() -> float:
        out.copy_(x)
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            out.copy_(x)
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts) * 1e6

    torch.set_num_threads(threads)
    try:
        multi = median_us()
        torch.set_num_threads(1)
        single = median_us()
    finally:
        torch.set_num_threads(current)
    return {
        "threads": threads,
        "copy_64k_us_all_threads": multi,
        "copy_64k_us_one_thread": single,
        "contended": is_contended(threads, multi, single),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def choose_threads(
    arg: str, device: torch.device, probe: Optional[Dict[str, Any]] = None
) -> Tuple[int, Dict[str, Any], str]:
    """The thread count to run with, the probe it rests on, and why.

    ``arg``: 'auto' or a number (``--threads``); ``probe``: a result of
    :func:`contention_probe` (by default one is taken now)."""
    probe = contention_probe() if probe is None else probe
    default = torch.get_num_threads()
    if arg != "auto":
        n = int(arg)
        return n, probe, f"{n} (set with --threads; torch's default here is {default})"
    if device.type == "cpu" and probe["contended"]:
        why = (
            f"1: at the start a 64K-element copy took {probe['copy_64k_us_all_threads']:.0f} µs on torch's "
            f"{default} threads against {probe['copy_64k_us_one_thread']:.1f} µs on one, so other work was "
            "occupying cores and every multi-threaded region would wait on it (--threads auto)"
        )
        return 1, probe, why
    return default, probe, f"{default} (torch's default; the start-up probe found the cores free)"


def pick_clock(device: torch.device) -> Tuple[Callable[[], float], str]:
    """The clock timings are read from, and its name.

    On the CPU with one torch thread, all the work of a call (autograd's
    backward included) runs on the calling thread, so the thread's CPU time
    (user + system, page faults included) is its cost, and unlike the wall
    clock it leaves out the time other processes held the core. Otherwise
    (several threads, or a GPU, timed with synchronisation) the wall clock.
    """
    import time

    if device.type == "cpu" and torch.get_num_threads() == 1:
        return time.thread_time, "thread CPU time"
    return time.perf_counter, "wall clock"


def call_timer(device: torch.device) -> Callable[[Callable[[], Any]], float]:
    """A function that runs ``fn()`` once and returns its time in seconds:
    CUDA events around it on a GPU, the wall clock on the CPU."""
    import time

    if device.type == "cuda":

        def timed(fn):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            return a.elapsed_time(b) / 1e3

        return timed

    def timed(fn):
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    return timed
