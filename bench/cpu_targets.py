"""Ours against torch's CPU kernels in every cell: each activation of the
spec table, forward and backward, float32 and bfloat16, 16K to 16M elements,
under the processor's best instruction set and again forced to AVX2 (once
only where AVX2 is the best, as on an AMD EPYC of the Zen 3 generation).

    python -m bench.cpu_targets [--quick] [--out DIR] [--isa best,avx2]

Each ISA runs in its own process: ``ATEN_CPU_CAPABILITY=avx2`` moves ATen's
kernels and ours (we follow ATen's choice), ``MKL_ENABLE_INSTRUCTIONS=AVX2``
and ``ONEDNN_MAX_CPU_ISA=AVX2`` move torch's MKL- and oneDNN-backed
functions. Every cell is the median of per-round ratios of interleaved rounds
(ours and torch's timed alternately in a random order each round) with the
interquartile range; a copy of the same size into a new tensor (``clone``,
which allocates its output as our forward and backward do), timed in the same
process, gives the bandwidth ceiling. Writes ``cpu-targets.json`` (every sample) and
``cpu-targets.md`` (the grids and the cells that miss a target).

Targets (a cell is ours/torch time):
- every cell at most ``MAX_RATIO``;
- where torch runs below ``SLOW_SHARE`` of the copy bandwidth, at most
  ``SLOW_MAX_RATIO``.

"Torch runs below half the copy bandwidth" is judged on the kernels, not on
the fixed cost of the call: each (activation, direction, dtype) and the copy
are also timed at ``PATH_N`` elements, where a call is all fixed cost
(dispatcher, allocation, and for a backward the autograd engine: 35-40 us
here, more than the whole kernel at 16K). A cell's kernel time is its time
less that fixed cost, and torch's kernel bandwidth is compared with the
copy's, computed the same way. Without this, every backward at 16K and 256K
would count as slow and be held to 0.6x, a ratio no kernel can reach when
both sides spend most of the call in the same engine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import torch

from bench import kernels as K
from bench.machine import (
    CPU_ISA_SWITCHES,
    describe_libraries,
    environment,
    machine_tag,
    processor_name,
)

MAX_RATIO = 1.05
SLOW_SHARE = 0.5
SLOW_MAX_RATIO = 0.6
SIZES = [16 * K.KIB, 256 * K.KIB, K.MIB, 4 * K.MIB, 16 * K.MIB]
PATH_N = K.KIB  # a call's fixed cost: see the module's docstring
DTYPES = ["float32", "bfloat16"]
ISA_ENV = {
    "best": {},
    "avx2": dict(zip(CPU_ISA_SWITCHES, ("avx2", "AVX2", "AVX2"))),
}
# What ATen reports (torch.backends.cpu.get_cpu_capability()) under each forced ISA.
FORCED_CAPABILITY = {"avx2": "AVX2"}
ROOT = Path(__file__).resolve().parent.parent


def tasks(sizes: Sequence[int], dtypes: Sequence[str], only: Optional[Sequence[str]] = None) -> List[K.Task]:
    acts = [a.name for a in K.activations() if a.in_spec and a.ours is not None]
    acts = [a for a in acts if not only or a in only]
    out = []
    for dtype in dtypes:
        for n in sizes:
            out.append(K.Task("copy", dtype, n))
            out += [K.Task(kind, dtype, n, a) for a in acts for kind in ("forward", "backward")]
    return out


def measure_here(config: Mapping[str, Any], progress: bool) -> Dict[str, Any]:
    """This process's ISA: every task of ``config``."""
    kcfg = K.KernelConfig.preset(False, torch.device("cpu"), compile=False)
    kcfg.rounds, kcfg.min_time_s = config["rounds"], config["min_time_s"]
    runner = K.KernelRunner(kcfg, torch.device("cpu"))
    plan = tasks([PATH_N] + list(config["sizes"]), config["dtypes"], config.get("only"))
    rows = []
    for i, t in enumerate(plan):
        if progress:
            print(
                f"[{i + 1}/{len(plan)}] {t.kind} {t.activation or ''} {t.dtype} {t.n}",
                file=sys.stderr,
                flush=True,
            )
        rows.append(runner.run(t))
    return {"environment": environment(torch.device("cpu")), "rows": rows}


def cells(result: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """One entry per (activation, kind, dtype, n), n in the sizes: ratio quantiles, torch's GB/s, the copy's
    GB/s, both again without the fixed cost of a call (the rows at ``PATH_N``, where present), the target."""

    def median(r: Mapping[str, Any], impl: str) -> float:
        return K.quantiles(r["times"][impl])["median"]

    def kernel_gbps(nbytes: int, t: float, fixed: float) -> float:
        # All fixed cost (or noise beyond it): no kernel time to speak of, so never "slow".
        return nbytes / (t - fixed) / 1e9 if t > fixed else math.inf

    path = {(r["kind"], r["activation"], r["dtype"]): r for r in result["rows"] if r["n"] == PATH_N}
    copy = {(r["dtype"], r["n"]): r for r in result["rows"] if r["kind"] == "copy" and r["n"] != PATH_N}
    out = []
    for r in result["rows"]:
        if r["kind"] == "copy" or r["n"] == PATH_N:
            continue
        st = K.row_stats(r)
        q = st["ratio"]["ours/native"]
        native_gbps = st["gbps"]["native"]
        c = copy.get((r["dtype"], r["n"]))
        copy_t = median(c, "alloc") if c else math.nan
        copy_gbps = c["bytes"] / copy_t / 1e9 if c else math.nan
        p, pc = path.get((r["kind"], r["activation"], r["dtype"])), path.get(("copy", None, r["dtype"]))
        fixed = median(p, "native") if p else 0.0
        copy_fixed = median(pc, "alloc") if pc else 0.0
        native_kgbps = kernel_gbps(r["bytes"], st["time"]["native"]["median"], fixed)
        copy_kgbps = kernel_gbps(c["bytes"], copy_t, copy_fixed) if c else math.nan
        slow = native_kgbps < SLOW_SHARE * copy_kgbps
        target = SLOW_MAX_RATIO if slow else MAX_RATIO
        out.append(
            {
                "activation": r["activation"],
                "kind": r["kind"],
                "dtype": r["dtype"],
                "n": r["n"],
                "ratio": q,
                "native_gbps": native_gbps,
                "ours_gbps": st["gbps"]["ours"],
                "copy_gbps": copy_gbps,
                "native_fixed_us": fixed * 1e6,
                "native_kernel_gbps": native_kgbps,
                "copy_kernel_gbps": copy_kgbps,
                "target": target,
                "met": q["median"] <= target,
            }
        )
    return out


def grid(cs: Sequence[Mapping[str, Any]], kind: str, dtype: str) -> str:
    """activation x size: ours/torch median (a cell that misses its target in bold; * where torch runs below
    half the copy bandwidth, so that the target is 0.6)."""
    sizes = sorted({c["n"] for c in cs})
    acts = list(dict.fromkeys(c["activation"] for c in cs))
    idx = {(c["activation"], c["kind"], c["dtype"], c["n"]): c for c in cs}
    lines = ["| activation | " + " | ".join(K.size_label(n) for n in sizes) + " |"]
    lines.append("|---" * (len(sizes) + 1) + "|")
    for a in acts:
        row = []
        for n in sizes:
            c = idx.get((a, kind, dtype, n))
            if c is None:
                row.append("-")
                continue
            txt = f"{c['ratio']['median']:.2f}{'*' if c['target'] < MAX_RATIO else ''}"
            row.append(txt if c["met"] else f"**{txt}**")
        lines.append(f"| {a} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def render(res: Mapping[str, Any]) -> str:
    parts = [
        "# Ours against torch on the CPU: every activation, size, direction and dtype",
        "",
        f"Measured by `{res['command']}`. Cells: median of per-round ratios ours/torch over "
        f"{res['config']['rounds']} interleaved rounds (the IQR of every cell is in cpu-targets.json). Target: "
        f"<= {MAX_RATIO:g}; cells marked * are those where torch's kernel runs below {SLOW_SHARE:.0%} of the "
        f"copy's bandwidth in the same run, with the target <= {SLOW_MAX_RATIO:g} (kernel: a call's time less "
        f"the fixed cost of the same call at {K.size_label(PATH_N)} elements, so that the autograd engine's "
        "cost, which both sides pay, does not count as a slow kernel). Cells that miss their target are in "
        "bold.",
        "",
    ]
    for isa, result in res["isas"].items():
        env = result["environment"]
        cs = cells(result)
        missed = sorted((c for c in cs if not c["met"]), key=lambda c: -c["ratio"]["median"] / c["target"])
        parts += [
            f"## ISA: {isa} (ours: {env['cpu_kernel_isa']}, ATen: {env['torch_cpu_capability']})",
            "",
            f"Processor: {processor_name(env)}; torch {env['torch']}, {env['torch_threads']} threads; torch's CPU "
            f"libraries: {describe_libraries(env['torch_cpu_libraries'])}. Met: {sum(c['met'] for c in cs)} of "
            f"{len(cs)} cells.",
            "",
        ]
        for dtype in res["config"]["dtypes"]:
            for kind in ("forward", "backward"):
                parts += [f"### {kind}, {dtype}", "", grid(cs, kind, dtype), ""]
        if missed:
            parts += [
                "### Cells that miss their target (worst first)",
                "",
                "| activation | kind | dtype | n | ours/torch (IQR) | target | torch GB/s | ours GB/s | copy GB/s "
                f"| torch's fixed cost (us, at {K.size_label(PATH_N)}) |",
                "|---|---|---|---|---|---|---|---|---|---|",
            ]
            for c in missed:
                q = c["ratio"]
                parts.append(
                    f"| {c['activation']} | {c['kind']} | {c['dtype']} | {K.size_label(c['n'])} | "
                    f"{q['median']:.2f} ({q['p25']:.2f}-{q['p75']:.2f}) | {c['target']:g} | "
                    f"{c['native_gbps']:.1f} | {c['ours_gbps']:.1f} | {c['copy_gbps']:.1f} | "
                    f"{c['native_fixed_us']:.1f} |"
                )
            parts.append("")
    return "\n".join(parts)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=None, help="folder for cpu-targets.{json,md}")
    p.add_argument("--quick", action="store_true", help="two sizes, float32, 5 rounds")
    p.add_argument("--isa", default="best,avx2", help=f"comma-separated among {sorted(ISA_ENV)}")
    p.add_argument("--only", default="", help="comma-separated activations (default: all)")
    p.add_argument("--rounds", type=int, default=11)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--rerender", action="store_true", help="measure nothing: render OUT/cpu-targets.json again"
    )
    p.add_argument("--child", default="", help=argparse.SUPPRESS)  # internal: measure this ISA here only
    a = p.parse_args(argv)
    if a.rerender:
        out = a.out or ROOT / "bench" / "results" / machine_tag(torch.device("cpu"))
        (out / "cpu-targets.md").write_text(render(json.loads((out / "cpu-targets.json").read_text())))
        print(f"wrote {out / 'cpu-targets.md'}")
        return 0
    config = {
        "sizes": [16 * K.KIB, K.MIB] if a.quick else SIZES,
        "dtypes": ["float32"] if a.quick else DTYPES,
        "rounds": 5 if a.quick else a.rounds,
        "min_time_s": 2e-3,
        "only": [s for s in a.only.split(",") if s],
    }
    if a.child:
        # The child measures the ISA it is named after, or says why it cannot.
        want = FORCED_CAPABILITY.get(a.child)
        got = torch.backends.cpu.get_cpu_capability()
        if want is not None and got != want:
            p.error(f"the {a.child} run found ATen on {got}: {ISA_ENV[a.child]} did not take effect")
        json.dump(measure_here(config, not a.no_progress), sys.stdout)
        return 0
    isas = [s for s in a.isa.split(",") if s]
    unknown = sorted(set(isas) - set(ISA_ENV))
    if unknown:
        p.error(f"--isa must be among {sorted(ISA_ENV)}; got {unknown}")
    res: Dict[str, Any] = {
        "command": " ".join(
            ["python -m bench.cpu_targets"] + list(argv if argv is not None else sys.argv[1:])
        ),
        "config": config,
        "isas": {},
    }
    for isa in isas:
        best = res["isas"].get("best", {}).get("environment", {})
        forced = FORCED_CAPABILITY.get(isa)
        if forced is not None and best.get("cpu_kernel_isa") == best.get("torch_cpu_capability") == forced:
            # AVX2 is this processor's best (an AMD EPYC, say): the forced run would repeat it.
            print("the best ISA here is AVX2: no separate forced-AVX2 run", file=sys.stderr)
            continue
        cmd = [sys.executable, "-m", "bench.cpu_targets", "--child", isa] + (["--quick"] if a.quick else [])
        cmd += ["--rounds", str(a.rounds), "--only", a.only] + (["--no-progress"] if a.no_progress else [])
        env = dict(os.environ, **ISA_ENV[isa])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        proc = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True)
        res["isas"][isa] = json.loads(proc.stdout)
    out = a.out or ROOT / "bench" / "results" / machine_tag(torch.device("cpu"))
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "cpu-targets.json", "w") as f:
        json.dump(res, f, default=str)
    (out / "cpu-targets.md").write_text(render(res))
    print(f"wrote {out / 'cpu-targets.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
