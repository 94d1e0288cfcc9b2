"""Our kernels against torch's: time per call, GB/s, and the copy ceiling.

One place for the measured cases, used three ways:

- by the report (``python -m bench.report``) for its kernel tables;
- by the micro benchmarks (``pytest bench --benchmark-only``), which time the
  same callables with pytest-benchmark;
- as a script run *by path* under another torch (``python bench/kernels.py
  --out result.json``) with a copy of the package built for that torch on
  ``PYTHONPATH`` (see ``bench/baseline.py``). Run by path, this folder, not the
  repository root, is first on ``sys.path``, so the in-place build of the
  checkout does not shadow that copy. That is why this file imports only
  torch, activations_ext and ``bench/machine.py``.

Measurement rules:

- Both sides allocate their outputs per call, as user code does; the
  allocation-free figures are the in-place rows (``kind == "inplace"``) and
  the preallocated copy.
- Every comparison is interleaved: each round times every implementation once,
  in a shuffled order, so that a slow spell on a shared machine hits all of
  them. Ratios are taken per round (paired) and summarised by their median.
- Bytes moved: forward reads x and writes y (2N elements); backward reads the
  incoming gradient and the saved tensor and writes the input gradient (3N).
  These kernels are memory-bound, so GB/s against the machine's copy speed
  (measured in the same run) says how close to the ceiling they run.
- The per-call cases (``PERCALL_KINDS``: functional forward, module forward,
  forward + backward, at small sizes) are what a call costs beyond its
  kernel: Python, the dispatcher, autograd. Each is measured on one torch
  thread and on two (``Task.threads``, recorded in the row), since the thread
  count changes both torch's path (parallel regions) and the clock.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import random
import statistics
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

import activations_ext
import activations_ext.functional as AF
from activations_ext import nn as ann
from activations_ext.spec import SPECS, ActivationSpec

try:
    from bench.machine import environment, pick_clock, pick_device
except ImportError:  # run by path: bench/ itself is on sys.path
    from machine import environment, pick_clock, pick_device  # type: ignore[no-redef]

COLS = 256  # inputs are (N / COLS, COLS): PReLU then has COLS channels
KIB, MIB = 1024, 1024 * 1024
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def size_label(n: int) -> str:
    """1024 -> '1K', 16777216 -> '16M'."""
    for unit, div in (("G", 1 << 30), ("M", MIB), ("K", KIB)):
        if n >= div and n % div == 0:
            return f"{n // div}{unit}"
    return str(n)


# --------------------------------------------------------------------------
# The activations measured: every row of the spec table (and torch.tanh as the
# baseline of the "ReLU vs tanh" comparisons if the table had no tanh).
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Activation:
    """One activation as the benchmarks see it: ours and torch's side by side.

    ``ours`` is None when the library does not provide it (then only torch's
    is measured). ``in_spec`` tells the spec table's rows from extras.
    """

    name: str
    native: Callable[..., torch.Tensor]
    ours: Optional[Callable[..., torch.Tensor]]
    native_module_cls: type
    ours_module_cls: Optional[type]
    params: Mapping[str, float] = field(default_factory=dict)
    weight: bool = False
    inplace: bool = False
    in_spec: bool = True
    spec: Optional[ActivationSpec] = None

    def has(self, impl: str) -> bool:
        return impl != "ours" or self.ours is not None

    def fn(self, impl: str) -> Callable[..., torch.Tensor]:
        if impl == "ours":
            if self.ours is None:
                raise ValueError(f"activations_ext has no {self.name}")
            return self.ours
        return self.native

    def call(self, impl: str, x: torch.Tensor, w: Optional[torch.Tensor] = None, **kw) -> torch.Tensor:
        if self.weight:
            return self.fn(impl)(x, w)
        return self.fn(impl)(x, **self.params, **kw)

    def module(self, impl: str, width: int, init: Optional[float] = None) -> torch.nn.Module:
        """A fresh module (``impl`` 'ours' or 'native'); PReLU gets ``width`` slopes, each ``init``
        (torch's default when None)."""
        cls = self.ours_module_cls if impl == "ours" else self.native_module_cls
        if cls is None:
            raise ValueError(f"activations_ext.nn has no module for {self.name}")
        if self.weight:
            return cls(num_parameters=width) if init is None else cls(num_parameters=width, init=init)
        return cls(**self.params)

    def make_weight(self, x: torch.Tensor) -> Optional[torch.Tensor]:
        if not self.weight:
            return None
        if self.spec is not None:
            return self.spec.make_weight(x)
        return torch.full((x.shape[1],), 0.25, dtype=x.dtype, device=x.device)


def _from_spec(spec: ActivationSpec) -> Activation:
    return Activation(
        name=spec.name,
        native=spec.reference,
        ours=spec.ours,
        native_module_cls=spec.torch_module,
        ours_module_cls=spec.module,
        params=dict(spec.params),
        weight=spec.weight,
        inplace=spec.has_inplace,
        spec=spec,
    )


def activations() -> List[Activation]:
    """The spec table's activations, then torch's tanh unless the table has it.

    The tanh row uses our ``functional.tanh`` / ``nn.Tanh`` as soon as the
    library has them.
    """
    acts = [_from_spec(s) for s in SPECS]
    if not any(a.name == "tanh" for a in acts):
        acts.append(
            Activation(
                name="tanh",
                native=torch.tanh,
                ours=getattr(AF, "tanh", None),
                native_module_cls=torch.nn.Tanh,
                ours_module_cls=getattr(ann, "Tanh", None),
                in_spec=False,
            )
        )
    return acts


def get_activation(name: str) -> Activation:
    for a in activations():
        if a.name == name:
            return a
    raise KeyError(name)


# --------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    fns: Mapping[str, Callable[[], Any]],
    device: torch.device,
    rounds: int = 15,
    min_time_s: float = 2e-3,
    warmup: int = 2,
    seed: int = 0,
    clock: Optional[Callable[[], float]] = None,
) -> Dict[str, List[float]]:
    """Seconds per call of each callable, one sample per round, interleaved.

    Each sample repeats the call enough times to last ``min_time_s``; each
    round visits every callable once in a fresh random order. Garbage
    collection is paused while timing. The clock is
    :func:`bench.machine.pick_clock`'s unless given.
    """
    clock = clock or pick_clock(device)[0]
    rng = random.Random(seed)
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    reps: Dict[str, int] = {}
    for name in names:
        synchronize(device)
        t0 = clock()
        fns[name]()
        synchronize(device)
        one = max(clock() - t0, 1e-7)
        reps[name] = int(min(10000, max(1, math.ceil(min_time_s / one))))
    samples: Dict[str, List[float]] = {name: [] for name in names}
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            rng.shuffle(names)
            for name in names:
                fn, k = fns[name], reps[name]
                synchronize(device)
                t0 = clock()
                for _ in range(k):
                    fn()
                synchronize(device)
                samples[name].append((clock() - t0) / k)
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


def quantiles(values: Sequence[float]) -> Dict[str, float]:
    """Median and interquartile range of ``values``."""
    v = sorted(values)
    if not v:
        return {"median": math.nan, "p25": math.nan, "p75": math.nan}
    if len(v) == 1:
        return {"median": v[0], "p25": v[0], "p75": v[0]}
    q = statistics.quantiles(v, n=4, method="inclusive")
    return {"median": statistics.median(v), "p25": q[0], "p75": q[2]}


def paired_ratio(num: Sequence[float], den: Sequence[float]) -> Dict[str, float]:
    """Per-round ratios num/den (the two were timed in the same round), summarised."""
    return quantiles([a / b for a, b in zip(num, den) if b > 0])


# --------------------------------------------------------------------------
# The measured cases. Each builds its inputs once and returns a callable.
# --------------------------------------------------------------------------


def make_input(
    n: int, dtype: torch.dtype, device: torch.device, seed: int = 0, requires_grad: bool = False
) -> torch.Tensor:
    """Standard-normal input of ``n`` elements shaped (n / COLS, COLS)."""
    gen = torch.Generator(device=device).manual_seed(seed)
    shape = (max(1, n // COLS), COLS) if n >= COLS else (n,)
    x = torch.randn(shape, generator=gen, device=device, dtype=torch.float32).to(dtype)
    return x.requires_grad_(requires_grad)


class CompiledNative:
    """``torch.compile`` of torch's functionals, once per activation and dtype.

    Compiled with ``dynamic=True`` so that one compilation serves every size.
    The compile time (the first forward and backward) is charged to a budget;
    past it, compiled cases are skipped (and say so).
    """

    def __init__(self, budget_s: float) -> None:
        # The compiled backward would otherwise donate its saved buffers, which
        # forbids running it again on a kept graph (retain_graph=True), as
        # backward_case does; without donation it allocates its output per
        # call, like the other contenders.
        import torch._functorch.config as functorch_config

        if hasattr(functorch_config, "donated_buffer"):
            functorch_config.donated_buffer = False
        # Every compiled activation shares this module's code object, so
        # dynamo counts them all (x dtypes x grad modes) against one cache;
        # give it room, and make running out an error rather than a silent
        # fallback to eager (which would put eager times in the column).
        import torch._dynamo.config as dynamo_config

        for name, value in (
            ("recompile_limit", 1024),
            ("cache_size_limit", 1024),
            ("fail_on_recompile_limit_hit", True),
        ):
            if hasattr(dynamo_config, name):
                current = getattr(dynamo_config, name)
                setattr(
                    dynamo_config,
                    name,
                    max(current, value) if isinstance(value, int) and not isinstance(value, bool) else value,
                )
        self.budget_s = budget_s
        self.spent_s = 0.0
        self.compile_s: Dict[str, float] = {}
        self._fns: Dict[Tuple[str, str], Callable] = {}
        self.failures: Dict[str, str] = {}

    def get(
        self, act: Activation, dtype: torch.dtype, device: torch.device
    ) -> Tuple[Optional[Callable], str]:
        key = (act.name, str(dtype))
        if key in self._fns:
            return self._fns[key], ""
        if act.name in self.failures:
            return None, self.failures[act.name]
        if self.spent_s >= self.budget_s:
            return None, f"compile budget of {self.budget_s:.0f} s spent"

        def native(x, w=None):
            return act.call("native", x, w)

        fn = torch.compile(native, dynamic=True)
        t0 = time.perf_counter()
        try:
            for requires_grad in (False, True):  # inference and training graphs
                x = make_input(4 * COLS, dtype, device, requires_grad=requires_grad)
                w = act.make_weight(x)
                if w is not None and requires_grad:
                    w.requires_grad_(True)
                y = fn(x, w)
                if requires_grad:
                    y.sum().backward()
            synchronize(device)
        except Exception as exc:  # a missing compiler, an unsupported dtype...
            self.failures[act.name] = f"torch.compile failed: {type(exc).__name__}: {str(exc)[:120]}"
            return None, self.failures[act.name]
        finally:
            spent = time.perf_counter() - t0
            self.spent_s += spent
            self.compile_s[f"{act.name}/{dtype}"] = spent
        self._fns[key] = fn
        return fn, ""


def forward_case(
    act: Activation,
    impl: str,
    n: int,
    dtype: torch.dtype,
    device: torch.device,
    inplace: bool = False,
    fn=None,
) -> Callable[[], Any]:
    """One forward call of ``impl`` ('ours', 'native' or a given ``fn``), new output per call
    (or in place, modifying the same input each call)."""
    x = make_input(n, dtype, device)
    w = act.make_weight(x)
    if fn is not None:
        return lambda: fn(x, w)
    if inplace:
        f = act.fn(impl)
        return lambda: f(x, **act.params, inplace=True)
    return lambda: act.call(impl, x, w)


def backward_case(
    act: Activation, impl: str, n: int, dtype: torch.dtype, device: torch.device, fn=None
) -> Callable[[], Any]:
    """One backward call through autograd (input gradient, and the weight's for
    PReLU), on a graph built once and kept (``retain_graph``)."""
    x = make_input(n, dtype, device, requires_grad=True)
    w = act.make_weight(x)
    if w is not None:
        w.requires_grad_(True)
    y = fn(x, w) if fn is not None else act.call(impl, x, w)
    g = make_input(n, dtype, device, seed=1).reshape(y.shape)
    inputs = (x,) if w is None else (x, w)
    return lambda: torch.autograd.grad(y, inputs, g, retain_graph=True)


def fwd_bwd_case(
    act: Activation, impl: str, n: int, dtype: torch.dtype, device: torch.device
) -> Callable[[], Any]:
    """Forward and backward, graph built per call: the per-call cost at small sizes."""
    x = make_input(n, dtype, device, requires_grad=True)
    w = act.make_weight(x)
    if w is not None:
        w.requires_grad_(True)
    g = make_input(n, dtype, device, seed=1).reshape(x.shape)
    inputs = (x,) if w is None else (x, w)
    return lambda: torch.autograd.grad(act.call(impl, x, w), inputs, g)


def module_case(
    act: Activation, impl: str, n: int, dtype: torch.dtype, device: torch.device
) -> Callable[[], Any]:
    """One forward call of a module built once (ours or torch.nn's), new output per call.

    PReLU's module has one slope per channel of the input's dim 1, as its
    functional case's weight; that weight requires grad, as a module's
    parameter does, so both sides record the autograd node."""
    x = make_input(n, dtype, device)
    m = act.module(impl, x.shape[1] if x.dim() > 1 else 1).to(device=device, dtype=dtype)
    return lambda: m(x)


def copy_cases(n: int, dtype: torch.dtype, device: torch.device) -> Dict[str, Callable[[], Any]]:
    """The ceiling: a copy into a preallocated tensor, and one into a new tensor."""
    x = make_input(n, dtype, device)
    out = torch.empty_like(x)
    return {"prealloc": lambda: out.copy_(x), "alloc": lambda: x.clone()}


# --------------------------------------------------------------------------
# The sweep
# --------------------------------------------------------------------------


# The per-call cases: what a call costs beyond its kernel.
PERCALL_KINDS = ("call_fwd", "module_fwd", "fwd_bwd")
KIND_LABELS = {"call_fwd": "functional fwd", "module_fwd": "module fwd", "fwd_bwd": "fwd+bwd"}
PERCALL_SIZES = (KIB, 16 * KIB, 256 * KIB)
PERCALL_THREADS = (1, 2)
PERCALL_DTYPE = "float32"


@dataclass
class KernelConfig:
    sizes: List[int]
    dtypes: List[str]
    rounds: int
    min_time_s: float
    compile: bool
    compile_budget_s: float
    inplace_sizes: List[int]
    percall_sizes: List[int]
    percall_threads: List[int] = field(default_factory=lambda: list(PERCALL_THREADS))

    @classmethod
    def preset(cls, quick: bool, device: torch.device, compile: bool = True) -> KernelConfig:
        if quick:
            return cls(
                sizes=[KIB, MIB],
                dtypes=["float32", "bfloat16"],
                rounds=5,
                min_time_s=1e-3,
                compile=False,
                compile_budget_s=0.0,
                inplace_sizes=[MIB],
                percall_sizes=[KIB, 16 * KIB],
            )
        largest = 256 * MIB if device.type == "cuda" else 16 * MIB
        sizes = [KIB, 16 * KIB, 256 * KIB, MIB, 4 * MIB, 16 * MIB]
        if largest > 16 * MIB:
            sizes += [64 * MIB, largest]
        return cls(
            sizes=sizes,
            dtypes=["float32", "bfloat16"],
            rounds=15,
            min_time_s=5e-3,
            compile=compile,
            compile_budget_s=180.0,
            inplace_sizes=[MIB, largest],
            percall_sizes=list(PERCALL_SIZES),
        )


@dataclass(frozen=True)
class Task:
    kind: str  # copy | forward | backward | inplace | call_fwd | module_fwd | fwd_bwd
    dtype: str
    n: int
    activation: Optional[str] = None
    threads: Optional[int] = None  # torch threads for this task; None: the run's setting


def percall_plan(sizes: Sequence[int], threads: Sequence[int], dtype: str = PERCALL_DTYPE) -> List[Task]:
    """The per-call cases of every activation of the spec table, one task per
    kind, size and thread count."""
    acts = [a for a in activations() if a.in_spec and a.ours is not None]
    return [
        Task(kind, dtype, n, a.name, t)
        for t in threads
        for n in sizes
        for kind in PERCALL_KINDS
        for a in acts
    ]


def plan(config: KernelConfig) -> List[Task]:
    tasks: List[Task] = []
    acts = activations()
    for dtype in config.dtypes:
        for n in config.sizes:
            tasks.append(Task("copy", dtype, n))
            for a in acts:
                tasks.append(Task("forward", dtype, n, a.name))
                tasks.append(Task("backward", dtype, n, a.name))
        for n in config.inplace_sizes:
            if n not in config.sizes:
                tasks.append(Task("copy", dtype, n))
            for a in acts:
                if a.inplace and a.ours is not None:
                    tasks.append(Task("inplace", dtype, n, a.name))
    return tasks + percall_plan(config.percall_sizes, config.percall_threads)


def bytes_moved(kind: str, n: int, dtype: torch.dtype) -> int:
    size = torch.empty((), dtype=dtype).element_size()
    return (3 if kind in ("backward",) else 5 if kind == "fwd_bwd" else 2) * n * size


@contextmanager
def num_threads(n: Optional[int]):
    """torch's thread count set to ``n`` (None: left alone) for the block, restored after."""
    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class KernelRunner:
    """Runs the tasks of a :class:`KernelConfig`; one row (a dict) per task."""

    def __init__(self, config: KernelConfig, device: torch.device) -> None:
        self.config = config
        self.device = device
        self.compiled = CompiledNative(config.compile_budget_s) if config.compile else None

    def run(self, task: Task) -> Dict[str, Any]:
        # The clock is picked under the task's thread count: thread CPU time
        # on one thread, the wall clock on several (the other threads' work
        # would be missing from the measuring thread's CPU time).
        with num_threads(task.threads):
            return self._run(task)

    def _run(self, task: Task) -> Dict[str, Any]:
        dtype = DTYPES[task.dtype]
        dev = self.device
        row: Dict[str, Any] = asdict(task)
        row["bytes"] = bytes_moved(task.kind, task.n, dtype)
        skipped: Dict[str, str] = {}
        if task.kind == "copy":
            fns = copy_cases(task.n, dtype, dev)
        else:
            act = get_activation(task.activation)
            impls = [i for i in ("ours", "native") if act.has(i)]
            if task.kind in ("forward", "call_fwd"):
                fns = {i: forward_case(act, i, task.n, dtype, dev) for i in impls}
            elif task.kind == "module_fwd":
                impls = [i for i in impls if i == "native" or act.ours_module_cls is not None]
                fns = {i: module_case(act, i, task.n, dtype, dev) for i in impls}
            elif task.kind == "backward":
                fns = {i: backward_case(act, i, task.n, dtype, dev) for i in impls}
            elif task.kind == "inplace":
                fns = {i: forward_case(act, i, task.n, dtype, dev, inplace=True) for i in impls}
            elif task.kind == "fwd_bwd":
                fns = {i: fwd_bwd_case(act, i, task.n, dtype, dev) for i in impls}
            else:
                raise ValueError(task.kind)
            if self.compiled is not None and task.kind in ("forward", "backward"):
                cfn, why = self.compiled.get(act, dtype, dev)
                if cfn is None:
                    skipped["compiled"] = why
                else:
                    case = forward_case if task.kind == "forward" else backward_case
                    try:
                        fns["compiled"] = case(act, "native", task.n, dtype, dev, fn=cfn)
                    except Exception as exc:  # a compiled case that cannot run is skipped, and says why
                        skipped["compiled"] = f"compiled case failed: {type(exc).__name__}: {str(exc)[:100]}"
        try:
            row["times"] = measure(fns, dev, rounds=self.config.rounds, min_time_s=self.config.min_time_s)
        except Exception as exc:
            if "compiled" not in fns:
                raise
            skipped["compiled"] = f"compiled case failed: {type(exc).__name__}: {str(exc)[:100]}"
            del fns["compiled"]
            row["times"] = measure(fns, dev, rounds=self.config.rounds, min_time_s=self.config.min_time_s)
        row["skipped"] = skipped
        row["clock"] = pick_clock(dev)[1]
        del fns
        gc.collect()
        return row

    def info(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"config": asdict(self.config)}
        if self.compiled is not None:
            out["compile_s"] = dict(self.compiled.compile_s)
            out["compile_failures"] = dict(self.compiled.failures)
        return out


def run_all(
    config: KernelConfig,
    device: torch.device,
    progress: Optional[Callable[[Task], None]] = None,
    tasks: Optional[Sequence[Task]] = None,
) -> Dict[str, Any]:
    """Runs ``tasks`` (default: the config's whole plan)."""
    runner = KernelRunner(config, device)
    rows = []
    for task in plan(config) if tasks is None else tasks:
        if progress is not None:
            progress(task)
        rows.append(runner.run(task))
    return {"rows": rows, **runner.info()}


# --------------------------------------------------------------------------
# Summaries the report and the micro benchmarks share
# --------------------------------------------------------------------------


def row_stats(row: Mapping[str, Any]) -> Dict[str, Any]:
    """Median time, GB/s, and paired ratios against torch's ('native') of one row."""
    out: Dict[str, Any] = {"time": {}, "gbps": {}, "ratio": {}}
    times = row["times"]
    for impl, samples in times.items():
        q = quantiles(samples)
        out["time"][impl] = q
        out["gbps"][impl] = row["bytes"] / q["median"] / 1e9 if q["median"] > 0 else math.nan
    base = "prealloc" if row["kind"] == "copy" else "native"
    for impl, samples in times.items():
        if impl != base and base in times:
            out["ratio"][f"{impl}/{base}"] = paired_ratio(samples, times[base])
    return out


def percall_index(
    rows: Sequence[Mapping[str, Any]], default_threads: Optional[int] = None
) -> Dict[Tuple[str, str, int, int], Mapping[str, Any]]:
    """The per-call rows (float32) by (kind, activation, n, threads). Rows
    written before the thread count was recorded ran on ``default_threads``."""
    out = {}
    for r in rows:
        if r["kind"] in PERCALL_KINDS and r["dtype"] == PERCALL_DTYPE:
            threads = r.get("threads") or default_threads
            if threads is not None:
                out[(r["kind"], r["activation"], r["n"], threads)] = r
    return out


def worst_ratio(
    index: Mapping[Tuple[str, str, int, int], Mapping[str, Any]],
    kinds: Sequence[str],
    sizes: Sequence[int],
    threads: int,
    acts: Optional[Sequence[str]] = None,
) -> Optional[Tuple[float, Tuple[str, str, int]]]:
    """The largest median ours/torch among the per-call cells selected, with its
    (kind, activation, n); None when none of them was measured."""
    vals = []
    for (kind, a, n, t), r in index.items():
        if kind in kinds and n in sizes and t == threads and (acts is None or a in acts):
            q = row_stats(r)["ratio"].get("ours/native")
            if q:
                vals.append((q["median"], (kind, a, n)))
    return max(vals) if vals else None


def compare_activations(
    names: Sequence[str],
    impl: str,
    n: int,
    dtype: str,
    device: torch.device,
    rounds: int = 15,
    min_time_s: float = 3e-3,
) -> Dict[str, Any]:
    """Forward and backward of several activations, all interleaved in one
    measurement, so that ratios *between activations* are paired too.
    Keys of ``times``: ``"<activation>/forward"`` and ``"<activation>/backward"``."""
    fns: Dict[str, Callable[[], Any]] = {}
    for name in names:
        act = get_activation(name)
        if act.has(impl):
            fns[f"{name}/forward"] = forward_case(act, impl, n, DTYPES[dtype], device)
            fns[f"{name}/backward"] = backward_case(act, impl, n, DTYPES[dtype], device)
    times = measure(fns, device, rounds=rounds, min_time_s=min_time_s)
    return {"impl": impl, "n": n, "dtype": dtype, "times": times, "clock": pick_clock(device)[1]}


def per_round_total(times: Mapping[str, Sequence[float]], keys: Sequence[str]) -> List[float]:
    """Per-round sums of several series measured in the same rounds."""
    return [sum(vals) for vals in zip(*(times[k] for k in keys))]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Kernel timings of activations_ext against torch (JSON).")
    parser.add_argument("--out", required=True, help="where to write the JSON")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile column")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--only", default="", help="comma-separated activations (default: all)")
    parser.add_argument("--sizes", default="", help="comma-separated element counts (default: the preset's)")
    parser.add_argument("--table", action="store_true", help="also print a markdown summary")
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = pick_device()
    config = KernelConfig.preset(args.quick, device, compile=not args.no_compile)
    if args.sizes:
        config.sizes = [int(s) for s in args.sizes.split(",")]
        config.inplace_sizes = [n for n in config.inplace_sizes if n in config.sizes]
    only = [a for a in args.only.split(",") if a]
    tasks = plan(config)
    if only:
        config.percall_sizes = []
        tasks = [t for t in plan(config) if t.activation is None or t.activation in only]
    t0 = time.perf_counter()

    def progress(task: Task) -> None:
        i = progress.count = getattr(progress, "count", 0) + 1
        print(
            f"[{i}/{len(tasks)}] {task.kind} {task.activation or ''} {task.dtype} {task.n}", file=sys.stderr
        )

    result = run_all(config, device, progress, tasks)
    result["environment"] = environment(device)
    result["environment"]["activations_ext_version"] = activations_ext.__version__
    result["clock"] = pick_clock(device)[1]
    result["elapsed_s"] = time.perf_counter() - t0
    with open(args.out, "w") as f:
        json.dump(result, f)
    if args.table:
        print(summary_table(result))
    return 0


def summary_table(result: Mapping[str, Any]) -> str:
    """Markdown: per row, ours/native (median of paired rounds, with its
    interquartile range), torch's GB/s and the copy's in the same run."""
    copy = {
        (r["dtype"], r["n"]): row_stats(r)["gbps"].get("prealloc")
        for r in result["rows"]
        if r["kind"] == "copy"
    }
    env = result.get("environment", {})
    lines = [
        f"Processor: {env.get('device_name') or env.get('cpu_model')} ({env.get('cpu_model')}); "
        f"torch {env.get('torch')}, {env.get('torch_threads')} threads",
        "",
        "| activation | kind | dtype | n | ours/native (IQR) | native GB/s | copy GB/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        if r["kind"] not in ("forward", "backward", "inplace"):
            continue
        st = row_stats(r)
        q = st["ratio"].get("ours/native")
        if not q:
            continue
        lines.append(
            f"| {r['activation']} | {r['kind']} | {r['dtype']} | {r['n']} | {q['median']:.2f} "
            f"({q['p25']:.2f}-{q['p75']:.2f}) | {st['gbps'].get('native', math.nan):.1f} | "
            f"{(copy.get((r['dtype'], r['n'])) or math.nan):.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
