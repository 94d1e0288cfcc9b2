"""GPU kernel benchmark: ours vs native vs torch.compile, against the copy ceiling.

    python bench/gpu_bench.py --out results.json [--sizes 20,24,26,28] [--quick]

For every activation in the spec table, forward and backward, float32 and
bfloat16, at 2^20, 2^24, 2^26 and 2^28 elements: the median time (CUDA
events through triton.testing.do_bench when Triton is there, else our own
event loop), the achieved bandwidth (forward moves 2N elements, backward
3N) and its fraction of a device-to-device copy measured in the same run.
Each ours/native pair is measured twice, interleaved, and both ratios are
kept, so the spread is visible. Sizes up to 2^20 are launch-bound and are
also timed as CUDA-graph replays. torch.compile of the native function runs
at 2^26 only (compile time). bias_act is compared with the eager form
(`x + b` then the activation) and with its compiled form.

Without a GPU it runs a small dry run on the CPU (for testing the script).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import activations_ext  # noqa: E402
import activations_ext.functional as AF  # noqa: E402
from activations_ext.ops import _bias_act_reference  # noqa: E402
from activations_ext.spec import SPECS  # noqa: E402


def _timer(device):
    if device == "cuda":
        try:
            from triton.testing import do_bench

            return lambda fn: do_bench(fn, warmup=25, rep=100, return_mode="median")
        except Exception:  # noqa: BLE001  (Triton missing or too old: our own loop)
            pass

        def events(fn, reps=50):
            for _ in range(5):
                fn()
            times = []
            for _ in range(reps):
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                fn()
                b.record()
                b.synchronize()
                times.append(a.elapsed_time(b))
            return statistics.median(times)

        return events

    def host(fn, reps=10):
        fn()
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1e3)
        return statistics.median(times)

    return host


def _graph_timer(fn, device):
    """Median ms per call of `fn` replayed from a CUDA graph of 20 calls."""
    if device != "cuda":
        return None
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(20):
            fn()
    timer = _timer(device)
    return timer(graph.replay) / 20


def _fwd_fn(spec, fn, x, w):
    params = dict(spec.params)
    return (lambda: fn(x, w)) if spec.weight else (lambda: fn(x, **params))


def _copy_fn(x, y):
    return lambda: y.copy_(x)


def _bias_act_fns(x, b, act, alpha):
    fused = lambda: AF.bias_act(x, b, act, dim=1, alpha=alpha if act == "leaky_relu" else None)  # noqa: E731
    eager = lambda: _bias_act_reference(x, b, act, 1, alpha, 1.0, None)  # noqa: E731
    return fused, eager


def _grad_fn(spec, fn, x, w, g):
    params = dict(spec.params)
    xr = x.detach().requires_grad_(True)
    y = fn(xr, w) if spec.weight else fn(xr, **params)
    return lambda: torch.autograd.grad(y, xr, g, retain_graph=True)


def run(sizes, dtypes, device, quick):
    timer = _timer(device)
    results = {"rows": [], "copy": {}, "bias_act": []}
    for e in sizes:
        n = 1 << e
        x = torch.randn(n, device=device)
        ms = timer(_copy_fn(x, torch.empty_like(x)))
        results["copy"][str(e)] = {"ms": ms, "GBps": 2 * n * 4 / ms / 1e6}
    for spec in SPECS:
        for dtype in dtypes:
            for e in sizes:
                n = 1 << e
                x = torch.randn(n, device=device, dtype=dtype)
                g = torch.randn(n, device=device, dtype=dtype)
                w = spec.make_weight(x.view(-1, 1)) if spec.weight else None
                ours_f = _fwd_fn(spec, spec.ours, x, w)
                nat_f = _fwd_fn(spec, spec.reference, x, w)
                row = {"act": spec.name, "dtype": str(dtype), "log2n": e}
                pairs = []
                for _ in range(2):  # interleaved twice: the spread of the ratio
                    pairs.append((timer(ours_f), timer(nat_f)))
                row["fwd_ours_ms"] = min(p[0] for p in pairs)
                row["fwd_native_ms"] = min(p[1] for p in pairs)
                row["fwd_ratios"] = [p[0] / p[1] for p in pairs]
                ob = _grad_fn(spec, spec.ours, x, w, g)
                nb = _grad_fn(spec, spec.reference, x, w, g)
                pairs = [(timer(ob), timer(nb)) for _ in range(2)]
                row["bwd_ours_ms"] = min(p[0] for p in pairs)
                row["bwd_native_ms"] = min(p[1] for p in pairs)
                row["bwd_ratios"] = [p[0] / p[1] for p in pairs]
                es = x.element_size()
                row["fwd_GBps"] = 2 * n * es / row["fwd_ours_ms"] / 1e6
                row["bwd_GBps"] = 3 * n * es / row["bwd_ours_ms"] / 1e6
                copy = results["copy"][str(e)]["GBps"]
                row["fwd_pct_copy"] = 100 * row["fwd_GBps"] / copy
                row["bwd_pct_copy"] = 100 * row["bwd_GBps"] / copy
                if e <= 20 and device == "cuda":
                    row["fwd_graph_ours_ms"] = _graph_timer(ours_f, device)
                    row["fwd_graph_native_ms"] = _graph_timer(nat_f, device)
                if e == 26 and not quick:
                    try:
                        compiled = torch.compile(nat_f)
                        compiled()
                        row["fwd_compiled_native_ms"] = timer(compiled)
                    except Exception as exc:  # noqa: BLE001  (report, do not stop the run)
                        row["fwd_compiled_native_error"] = repr(exc)[:200]
                results["rows"].append(row)
                print(json.dumps(row), flush=True)
    for act in ("relu", "gelu", "silu", "leaky_relu"):
        for dtype in dtypes:
            for e in sizes[:2] if quick else sizes:
                rows, feats = (1 << e) // 1024, 1024
                x = torch.randn(rows, feats, device=device, dtype=dtype)
                b = torch.randn(feats, device=device, dtype=dtype)
                alpha = 0.01 if act == "leaky_relu" else 0.0
                fused, eager = _bias_act_fns(x, b, act, alpha)
                row = {"act": act, "dtype": str(dtype), "log2n": e}
                row["fused_ms"], row["eager_ms"] = timer(fused), timer(eager)
                row["fused_over_eager"] = row["fused_ms"] / row["eager_ms"]
                if not quick:
                    try:
                        comp = torch.compile(eager)
                        comp()
                        row["compiled_ms"] = timer(comp)
                        row["fused_over_compiled"] = row["fused_ms"] / row["compiled_ms"]
                    except Exception as exc:  # noqa: BLE001
                        row["compiled_error"] = repr(exc)[:200]
                results["bias_act"].append(row)
                print(json.dumps(row), flush=True)
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--sizes", default="20,24,26,28")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    sizes = [int(s) for s in args.sizes.split(",")]
    if device == "cpu":
        sizes = [min(s, 16) for s in sizes[:2]]
    dtypes = [torch.float32, torch.bfloat16]
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "has_cuda_kernels": activations_ext.has_cuda_kernels(),
        "commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "sizes_log2": sizes,
    }
    print(json.dumps(meta), flush=True)
    results = run(sizes, dtypes, device, args.quick or device == "cpu")
    results["meta"] = meta
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    # The short table at the end of the log.
    print(
        f"\n{'act':<12}{'dtype':<16}{'2^n':>4}{'fwd %copy':>10}{'bwd %copy':>10}{'fwd ratio':>16}{'bwd ratio':>16}"
    )
    for r in results["rows"]:
        if r["log2n"] >= 26 or device == "cpu":
            fr = "/".join(f"{v:.2f}" for v in r["fwd_ratios"])
            br = "/".join(f"{v:.2f}" for v in r["bwd_ratios"])
            print(
                f"{r['act']:<12}{r['dtype']:<16}{r['log2n']:>4}{r['fwd_pct_copy']:>10.1f}"
                f"{r['bwd_pct_copy']:>10.1f}{fr:>16}{br:>16}"
            )


if __name__ == "__main__":
    main()
