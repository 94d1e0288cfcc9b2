"""The per-call table alone: what a call costs beyond its kernel, ours against torch's.

    python -m bench.percall [--threads 1 2] [--sizes 1024 16384 262144] [--json out.json]

Functional forward, module forward and forward + backward of every
activation of the spec table, float32, measured as the report's section 2.4
measures them (bench/kernels.py: interleaved rounds, medians of per-round
ratios), and printed as the same tables. It measures whatever
``activations_ext`` is imported, so that one machine can time two builds
(an older commit built elsewhere, say) one after the other. With ``-m`` the
current folder comes first on ``sys.path``; to measure another build, run it
from outside the checkout (``PYTHONPATH=<build>:<checkout> python -m
bench.percall``) or by path (``PYTHONPATH=<build> python bench/percall.py``),
and check the ``activations_ext`` line of the header.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

try:
    from bench import kernels as K
    from bench.machine import environment, pick_device, processor_name
except ImportError:  # run by path: bench/ itself is on sys.path
    import kernels as K  # type: ignore[no-redef]
    from machine import environment, pick_device, processor_name  # type: ignore[no-redef]


def cell(row: Optional[Mapping[str, Any]]) -> str:
    """'ours/torch [IQR] (ours µs / torch µs)' of one per-call row."""
    if row is None:
        return "-"
    st = K.row_stats(row)
    q = st["ratio"].get("ours/native")
    t = st["time"]
    if not q or "ours" not in t:
        return "-"
    us = f"{t['ours']['median'] * 1e6:.1f}/{t['native']['median'] * 1e6:.1f}"
    return f"{q['median']:.2f} [{q['p25']:.2f}-{q['p75']:.2f}] ({us})"


def percall_tables(
    index: Mapping[Tuple[str, str, int, int], Mapping[str, Any]],
    acts: Sequence[str],
    sizes: Sequence[int],
    threads: Sequence[int],
) -> List[str]:
    """One markdown table per thread count: rows = activation, columns = kind@size."""
    out: List[str] = []
    cols = [(kind, n) for kind in K.PERCALL_KINDS for n in sizes]
    head = ["activation"] + [f"{K.KIND_LABELS[kind]} {K.size_label(n)}" for kind, n in cols]
    for t in threads:
        rows = [[a] + [cell(index.get((kind, a, n, t))) for kind, n in cols] for a in acts]
        clocks = sorted({r.get("clock", "?") for (_, _, _, rt), r in index.items() if rt == t})
        out += [
            f"**{t} thread{'s' if t != 1 else ''}** ({', '.join(clocks) or 'not measured'}):",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "|".join(" --- " for _ in head) + "|",
        ]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        out.append("")
    return out


LEGEND = (
    "Each cell: median of per-round ours/torch [interquartile range] (median µs per call, ours/torch). "
    "functional fwd: `activations_ext.functional.<name>(x, **params)` against `torch.nn.functional`'s, "
    "a new output per call; module fwd: our `nn` module against torch's, each built once (PReLU: one slope "
    "per channel); fwd+bwd: the functional forward, then `torch.autograd.grad`, the graph built anew each call."
)


def run(
    sizes: Sequence[int],
    threads: Sequence[int],
    rounds: int,
    min_time_s: float,
    progress: bool = True,
) -> Dict[str, Any]:
    device = pick_device()
    config = K.KernelConfig.preset(False, device, compile=False)
    config.rounds, config.min_time_s = rounds, min_time_s
    config.percall_sizes, config.percall_threads = list(sizes), list(threads)
    runner = K.KernelRunner(config, device)
    tasks = K.percall_plan(sizes, threads)
    rows = []
    t0 = time.perf_counter()
    for i, task in enumerate(tasks, 1):
        if progress:
            print(
                f"\r[{i}/{len(tasks)}] {task.kind} {task.activation} {K.size_label(task.n)} "
                f"{task.threads}t".ljust(60),
                end="",
                file=sys.stderr,
                flush=True,
            )
        rows.append(runner.run(task))
    if progress:
        print(file=sys.stderr)
    import activations_ext

    env = environment(device)
    env["activations_ext_version"] = activations_ext.__version__
    return {
        "environment": env,
        "config": {
            "sizes": list(sizes),
            "threads": list(threads),
            "rounds": rounds,
            "min_time_s": min_time_s,
        },
        "rows": rows,
        "seconds": time.perf_counter() - t0,
    }


def render(res: Mapping[str, Any]) -> str:
    env = res["environment"]
    cfg = res["config"]
    acts = list(dict.fromkeys(r["activation"] for r in res["rows"]))
    run = f"{env['date_utc']}; {cfg['rounds']} interleaved rounds per cell, float32, {res['seconds']:.0f} s"
    if env.get("load_average"):
        run += f"; load average at the end {env['load_average'][0]:.2f}"
    lines = [
        f"processor: {processor_name(env)}, {env['cpu_count']} cores"
        + (f"; device: {env['device_name']}" if env["device"] != "cpu" else ""),
        f"torch {env['torch']}; activations_ext {env['activations_ext_version']} from {env['activations_ext_file']}",
        run,
        "",
        LEGEND,
        "",
    ]
    lines += percall_tables(K.percall_index(res["rows"]), acts, cfg["sizes"], cfg["threads"])
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--threads", type=int, nargs="+", default=list(K.PERCALL_THREADS), help="torch thread counts"
    )
    p.add_argument("--sizes", type=int, nargs="+", default=list(K.PERCALL_SIZES), help="elements per input")
    p.add_argument("--rounds", type=int, default=15, help="interleaved rounds per cell")
    p.add_argument("--min-time-s", type=float, default=5e-3, help="least duration of one sample")
    p.add_argument("--json", default=None, help="also write the rows and the environment here")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    res = run(args.sizes, args.threads, args.rounds, args.min_time_s, progress=not args.no_progress)
    print(render(res))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
