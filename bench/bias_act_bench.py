"""Fused bias + activation against eager (`x + b`, then torch's activation)
and, optionally, torch.compile of the eager form, forward and
forward+backward, for every `act` bias_act takes.

    python bench/bias_act_bench.py [--shapes 4096x256,1024x1024] [--acts relu,gelu,...]
                                   [--no-compile] [--json out.json] [--md out.md]

Inputs are rows x features with the bias along the features, float32 and
bfloat16; the forward runs on inputs that do not require gradients, the
forward+backward computes the gradients of both the input and the bias. The
variants are timed interleaved, round after round, in this one process
(their order shuffled each round), so that their ratios share the machine's
state; each cell is the median of the per-round ratios, with the
interquartile range. On a GPU the times come from CUDA events.

Targets (fused/eager): forward at most ``TARGETS['fwd']``, forward+backward
at most ``TARGETS['fwd+bwd']``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import activations_ext.functional as AF  # noqa: E402
from activations_ext.ops import _bias_act_reference  # noqa: E402
from bench.kernels import paired_ratio  # noqa: E402
from bench.machine import call_timer, describe_libraries, environment, pick_device  # noqa: E402

TARGETS = {"fwd": 0.6, "fwd+bwd": 0.8}
# 1M elements as 4096 rows of 256 features and as 1024 of 1024, and 16M.
DEFAULT_SHAPES = "4096x256,1024x1024,4096x4096"


def _parse_shapes(text: str) -> List[Tuple[int, int]]:
    shapes = []
    for s in text.split(","):
        r, f = (int(v) for v in s.lower().split("x"))
        shapes.append((r, f))
    return shapes


@dataclass
class BiasActConfig:
    """What bias_act is measured on. The report leaves torch.compile out:
    a compilation per cell costs more than its whole section."""

    shapes: List[Tuple[int, int]] = field(default_factory=lambda: _parse_shapes(DEFAULT_SHAPES))
    acts: List[str] = field(default_factory=lambda: list(AF.BIAS_ACTS))
    dtypes: List[str] = field(default_factory=lambda: ["float32", "bfloat16"])
    rounds: int = 11
    compile: bool = False

    @classmethod
    def preset(cls, quick: bool) -> BiasActConfig:
        if quick:
            return cls(shapes=[(1024, 256)], acts=["relu", "sigmoid", "gelu"], dtypes=["float32"], rounds=3)
        return cls()

    def cells(self) -> int:
        return len(self.shapes) * len(self.acts) * len(self.dtypes) * 2


def run_bias_act(
    cfg: BiasActConfig, device, progress: Optional[Callable[[str], None]] = None
) -> Dict[str, Any]:
    """Every cell of ``cfg``, with the configuration and the targets."""
    rows = []
    for act in cfg.acts:
        for dtype in cfg.dtypes:
            for shape in cfg.shapes:
                for backward in (False, True):
                    r = time_cell(
                        act, getattr(torch, dtype), shape, backward, cfg.rounds, cfg.compile, device
                    )
                    rows.append(r)
                    if progress is not None:
                        progress(_line(r))
    return {"config": asdict(cfg), "targets": TARGETS, "rows": rows}


def _variants(x, b, act: str, backward: bool, compile: bool) -> Dict[str, Callable[[], Any]]:
    alpha = AF.BIAS_ACTS[act][1] if AF.BIAS_ACTS[act] else None

    def fused():
        return AF.bias_act(x, b, act, dim=1)

    def eager():
        return _bias_act_reference(x, b, act, 1, alpha, 1.0, None)

    fns = {"fused": fused, "eager": eager}
    if compile:
        fns["compiled"] = torch.compile(eager, dynamic=False)
    if not backward:
        return fns
    g = torch.randn(x.shape, dtype=x.dtype, device=x.device)

    def with_backward(f):
        def run():
            torch.autograd.grad(f(), (x, b), g)

        return run

    return {k: with_backward(f) for k, f in fns.items()}


def time_cell(
    act: str, dtype: torch.dtype, shape: Tuple[int, int], backward: bool, rounds: int, compile: bool, device
) -> Dict[str, Any]:
    """One row: every variant's per-round times and the fused/other ratios."""
    rows, feats = shape
    gen = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(rows, feats, generator=gen, dtype=torch.float32).to(device=device, dtype=dtype)
    b = torch.randn(feats, generator=gen, dtype=torch.float32).to(device=device, dtype=dtype)
    x.requires_grad_(backward)
    b.requires_grad_(backward)
    fns = _variants(x, b, act, backward, compile)
    timed = call_timer(device)
    for f in fns.values():  # warm up (and compile)
        f()
        f()
    times: Dict[str, List[float]] = {k: [] for k in fns}
    order = list(fns)
    rng = random.Random(0)
    for _ in range(rounds):
        rng.shuffle(order)
        for k in order:
            times[k].append(timed(fns[k]))
    row: Dict[str, Any] = {
        "act": act,
        "dtype": str(dtype).replace("torch.", ""),
        "shape": list(shape),
        "elements": rows * feats,
        "pass": "fwd+bwd" if backward else "fwd",
        "times": times,
    }
    for k in fns:
        if k != "fused":
            row[f"fused/{k}"] = paired_ratio(times["fused"], times[k])
    row["target"] = TARGETS[row["pass"]]
    row["met"] = row["fused/eager"]["median"] <= row["target"]
    return row


def _ms(v: Sequence[float]) -> str:
    return f"{statistics.median(v) * 1e3:.3f}"


def _ratio(q: Dict[str, float]) -> str:
    return f"{q['median']:.2f} ({q['p25']:.2f}-{q['p75']:.2f})"


def _line(r: Dict[str, Any]) -> str:
    shape = "x".join(map(str, r["shape"]))
    others = "  ".join(f"{k} {_ratio(v)}" for k, v in r.items() if k.startswith("fused/"))
    return (
        f"{r['act']:<13}{r['dtype']:<9}{shape:>10}  {r['pass']:<8} fused {_ms(r['times']['fused'])} ms  "
        f"{others}  {'met' if r['met'] else 'MISSED'}"
    )


def table_lines(rows: Sequence[Dict[str, Any]]) -> List[str]:
    """The table of cells (markdown lines), then a line naming the worst misses."""
    compiled = any("fused/compiled" in r for r in rows)
    head = ["act", "dtype", "rows x features", "pass", "fused ms", "eager ms"]
    head += ["compiled ms"] if compiled else []
    head += ["fused/eager (IQR)"] + (["fused/compiled (IQR)"] if compiled else []) + ["target"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["act"], r["dtype"], " x ".join(map(str, r["shape"])), r["pass"]]
        cells += [_ms(r["times"]["fused"]), _ms(r["times"]["eager"])]
        cells += [_ms(r["times"]["compiled"])] if compiled else []
        ratio = _ratio(r["fused/eager"])
        cells += [ratio if r["met"] else f"**{ratio}**"]
        cells += [_ratio(r["fused/compiled"])] if compiled else []
        cells += [f"<= {r['target']:g}: {'met' if r['met'] else 'missed'}"]
        lines.append("| " + " | ".join(cells) + " |")
    missed = sorted((r for r in rows if not r["met"]), key=lambda r: -r["fused/eager"]["median"])
    worst = [
        f"{r['act']} {r['dtype']} {' x '.join(map(str, r['shape']))} {r['pass']} {r['fused/eager']['median']:.2f}"
        for r in missed[:8]
    ]
    return lines + ["", "Worst missed cells (fused/eager): " + ("; ".join(worst) if worst else "none") + "."]


def describe(cfg: Mapping[str, Any], rows: Sequence[Dict[str, Any]]) -> str:
    """The paragraph above the table: what a cell is, the targets, the count met."""
    met = sum(r["met"] for r in rows)
    return (
        f"Cells: the median of per-round ratios over {cfg['rounds']} interleaved rounds (interquartile range in "
        "brackets). 'eager' is `x + b` then torch's activation (`activations_ext.ops._bias_act_reference`); "
        "the forward runs without gradients, forward+backward computes the input's and the bias's. Targets "
        f"(fused/eager): forward <= {TARGETS['fwd']:g}, forward+backward <= {TARGETS['fwd+bwd']:g}. "
        f"Met: {met} of {len(rows)} cells."
    )


def markdown(res: Dict[str, Any]) -> str:
    env, rows = res["environment"], res["rows"]
    compiled = any("fused/compiled" in r for r in rows)
    return "\n".join(
        [
            "# bias_act: fused against eager" + (" and torch.compile" if compiled else ""),
            "",
            f"Measured by `{env['command']}` on {env['date_utc']}: {env['device_name']} ({env['cpu_count']} cores; "
            f"our kernels: {env['cpu_kernel_isa']}, ATen: {env['torch_cpu_capability']}), torch {env['torch']}, "
            f"{env['torch_threads']} threads; torch's CPU libraries: {describe_libraries(env['torch_cpu_libraries'])}.",
            "",
            describe(res["config"], rows),
            "",
            *table_lines(rows),
            "",
        ]
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", default=DEFAULT_SHAPES, help="comma-separated rows x features")
    ap.add_argument("--acts", default=",".join(AF.BIAS_ACTS), help="comma-separated (default: every act)")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--no-compile", action="store_true", help="leave torch.compile of the eager form out")
    ap.add_argument("--json", default=None)
    ap.add_argument("--md", default=None)
    args = ap.parse_args(argv)
    device = pick_device()
    acts = args.acts.split(",")
    unknown = [a for a in acts if a not in AF.BIAS_ACTS]
    if unknown:
        ap.error(f"unknown act(s) {unknown}; expected among {sorted(AF.BIAS_ACTS)}")
    try:
        shapes = _parse_shapes(args.shapes)
    except ValueError:
        ap.error(f"--shapes: {args.shapes!r} is not a list of ROWSxFEATURES")
    cfg = BiasActConfig(shapes, acts, args.dtypes.split(","), args.rounds, not args.no_compile)
    res: Dict[str, Any] = {"environment": environment(device)}
    res.update(run_bias_act(cfg, device, progress=lambda s: print(s, flush=True)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    if args.md:
        with open(args.md, "w") as f:
            f.write(markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
