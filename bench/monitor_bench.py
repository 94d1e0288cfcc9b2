"""What watching for dead units costs: forward time with and without a
DeadUnitMonitor, and against counting with forward hooks in Python.

    python bench/monitor_bench.py [--rounds 21] [--json out.json]

Two models: an MLP (batch 512, width 1024, 6 ReLU layers) and a small CNN
(batch 32, 64 channels at 56x56, 4 LeakyReLU layers). Three forward passes
(under torch.no_grad) are timed interleaved, round after round, in this one
process: unmonitored, monitored (the per-unit count fused into our kernels),
and a forward hook that counts the same thing with torch ops (the usual way).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from activations_ext import nn as ann  # noqa: E402
from activations_ext.monitor import DeadUnitMonitor, default_unit_dim  # noqa: E402
from bench.machine import run_meta  # noqa: E402


def mlp():
    layers = []
    for _ in range(6):
        layers += [torch.nn.Linear(1024, 1024), ann.ReLU()]
    return torch.nn.Sequential(*layers), torch.randn(512, 1024)


def cnn():
    layers = [torch.nn.Conv2d(3, 64, 3, padding=1), ann.LeakyReLU(0.1)]
    for _ in range(3):
        layers += [torch.nn.Conv2d(64, 64, 3, padding=1), ann.LeakyReLU(0.1)]
    return torch.nn.Sequential(*layers), torch.randn(32, 3, 56, 56)


def hook_counter(model):
    """The same counts with forward hooks and torch ops (a separate pass)."""
    counts = []

    def hook(module, inputs, output):
        x = inputs[0]
        dim = default_unit_dim(x)
        counts.append((x > 0).sum(dim=[d for d in range(x.dim()) if d != dim]))

    return [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, ann._MONITORABLE)]


def bench(name, model, x, rounds):
    model.eval()
    monitor = DeadUnitMonitor(model)

    def plain():
        model(x)

    def monitored():
        monitor.start()
        try:
            model(x)
        finally:
            monitor.stop()

    def hooked():
        handles = hook_counter(model)
        try:
            model(x)
        finally:
            for h in handles:
                h.remove()

    fns = {"plain": plain, "monitored": monitored, "hooks": hooked}
    with torch.no_grad():
        for f in fns.values():
            f()
            f()
        times = {k: [] for k in fns}
        for _ in range(rounds):
            for k, f in fns.items():
                t = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t)
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    ratios = [m / p for m, p in zip(times["monitored"], times["plain"])]
    row = {
        "model": name,
        **{f"{k}_ms": v for k, v in med.items()},
        "monitored/plain": statistics.median(ratios),
        "hooks/plain": statistics.median([h / p for h, p in zip(times["hooks"], times["plain"])]),
    }
    print(
        f"{name:<5}{med['plain']:>10.2f}{med['monitored']:>12.2f}{med['hooks']:>10.2f}"
        f"{row['monitored/plain']:>12.3f}{row['hooks/plain']:>10.3f}",
        flush=True,
    )
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.manual_seed(0)
    meta = run_meta(torch.device("cpu"))
    print(json.dumps(meta))
    print(f"{'model':<5}{'plain ms':>10}{'monitored':>12}{'hooks':>10}{'mon/plain':>12}{'hooks/pl':>10}")
    rows = [bench("mlp", *mlp(), args.rounds), bench("cnn", *cnn(), args.rounds)]
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
