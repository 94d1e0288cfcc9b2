"""Fused bias + activation vs eager (`x + b` then the activation) vs
torch.compile of the eager form, forward and forward+backward.

    python bench/bias_act_bench.py [--sizes 20,24] [--acts relu,gelu,...] [--json out.json]

Inputs are rows x features (1024 features, the bias along them), float32 and
bfloat16. Every cell is the median of repeated calls; the three variants are
timed interleaved, round after round, in this one process, so their ratios
share the machine's state. On a GPU the times come from CUDA events.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import activations_ext.functional as AF  # noqa: E402
from activations_ext.ops import _bias_act_reference  # noqa: E402

FEATURES = 1024


def _variants(x, b, act, alpha, backward):
    a = alpha if act in ("leaky_relu", "elu", "softplus") else None

    def fused():
        return AF.bias_act(x, b, act, dim=1, alpha=a)

    def eager():
        return _bias_act_reference(x, b, act, 1, alpha, 1.0, None)

    compiled = torch.compile(eager, dynamic=False)
    fns = {"fused": fused, "eager": eager, "compiled": compiled}
    if not backward:
        return fns
    g = torch.randn(x.shape, dtype=x.dtype, device=x.device)

    def with_backward(f):
        def run():
            y = f()
            torch.autograd.grad(y, (x, b), g)

        return run

    return {k: with_backward(f) for k, f in fns.items()}


def _time(fn, device, reps):
    if device == "cuda":
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        return a.elapsed_time(b) / 1e3
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench(sizes, acts, dtypes, device, rounds):
    rows = []
    for act in acts:
        alpha = {"leaky_relu": 0.01, "elu": 1.0, "softplus": 1.0}.get(act, 0.0)
        for dtype in dtypes:
            for e in sizes:
                n = 1 << e
                x = torch.randn(n // FEATURES, FEATURES, device=device, dtype=dtype)
                b = torch.randn(FEATURES, device=device, dtype=dtype)
                for backward in (False, True):
                    xr, br = x.detach().requires_grad_(backward), b.detach().requires_grad_(backward)
                    fns = _variants(xr, br, act, alpha, backward)
                    for f in fns.values():  # warm up (and compile)
                        f()
                        f()
                    times = {k: [] for k in fns}
                    for _ in range(rounds):
                        for k, f in fns.items():
                            times[k].append(_time(f, device, 1))
                    med = {k: statistics.median(v) for k, v in times.items()}
                    row = {
                        "act": act,
                        "dtype": str(dtype).replace("torch.", ""),
                        "elements": n,
                        "pass": "fwd+bwd" if backward else "fwd",
                        **{f"{k}_ms": v * 1e3 for k, v in med.items()},
                        "fused/eager": med["fused"] / med["eager"],
                        "fused/compiled": med["fused"] / med["compiled"],
                    }
                    rows.append(row)
                    print(
                        f"{act:<11}{row['dtype']:<9}{n:>10}  {row['pass']:<8}"
                        f"{row['fused_ms']:>9.3f}{row['eager_ms']:>9.3f}{row['compiled_ms']:>9.3f}"
                        f"{row['fused/eager']:>8.2f}{row['fused/compiled']:>8.2f}",
                        flush=True,
                    )
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="20,24", help="log2 of the element counts")
    ap.add_argument("--acts", default="relu,leaky_relu,gelu,silu,tanh,elu")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name()
        if device == "cuda"
        else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
    }
    print(json.dumps(meta))
    print(
        f"{'act':<11}{'dtype':<9}{'elements':>10}  {'pass':<8}{'fused':>9}{'eager':>9}{'compiled':>9}{'f/e':>8}{'f/c':>8}"
    )
    rows = bench(
        [int(s) for s in args.sizes.split(",")],
        args.acts.split(","),
        [getattr(torch, d) for d in args.dtypes.split(",")],
        device,
        args.rounds,
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
