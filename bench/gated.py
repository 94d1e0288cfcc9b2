"""Gated MLP activations: our fused ``gated`` against eager ``act(gate) * up``
and ``torch.compile`` of the eager form, at the shapes of LLM MLPs.

    python -m bench.gated [--quick] [--json out.json]

Three measurements:

- time: forward, and forward + backward (both gradients), of SwiGLU on
  tokens x intermediate tensors, float32 and bfloat16. The variants are timed
  interleaved, round after round, in one process, so their ratios share the
  machine's state; each cell is the median. The bytes moved (3N forward, 5N
  backward, 8N both: N elements each of gate, up, output and the gradients)
  over the time give GB/s, next to a copy (N elements read, N written) timed
  in the same rounds;
- what autograd keeps for backward (unique storages through
  ``saved_tensors_hooks``): ours keeps gate and up, eager also act(gate);
- the peak of live tensor memory in one training step (``zero_grad()``,
  forward, backward) of a Llama-style MLP
  (``down_proj(act(gate_proj(x)) * up_proj(x))``): the hand-written eager
  module, our ``GatedMLP``, and ``GatedMLP(inplace_backward=True)``.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F

import activations_ext.functional as AF
from activations_ext import nn as ann
from bench.machine import call_timer, measured_on, pick_device, run_meta
from bench.memory import peak_tensor_bytes, saved_storages

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


@dataclass
class GatedConfig:
    shapes: List[Tuple[int, int]] = field(default_factory=lambda: [(2048, 2816), (4096, 5632)])
    dtypes: List[str] = field(default_factory=lambda: ["float32", "bfloat16"])
    rounds: int = 15
    compile: bool = True
    # The training-step memory: hidden, intermediate, tokens (float32).
    mlp: Tuple[int, int, int] = (1024, 2816, 2048)

    @classmethod
    def preset(cls, quick: bool, device: torch.device, compile: bool = True) -> GatedConfig:
        if quick:
            return cls(shapes=[(256, 704)], rounds=3, compile=False, mlp=(128, 352, 256))
        if device.type == "cuda":
            return cls(shapes=[(2048, 2816), (4096, 5632), (16384, 14336)], rounds=30, compile=compile)
        return cls(compile=compile)


def _liger() -> Optional[Callable]:
    try:
        from liger_kernel.ops.swiglu import LigerSiLUMulFunction
    except Exception:
        return None
    return LigerSiLUMulFunction.apply


def _variants(gate, up, backward: bool, compile: bool, device: torch.device) -> Dict[str, Callable[[], Any]]:
    def ours():
        return AF.swiglu(gate, up)

    def eager():
        return F.silu(gate) * up

    fns: Dict[str, Callable[[], Any]] = {"ours": ours, "eager": eager}
    if compile:
        fns["compiled"] = torch.compile(eager, dynamic=False)
    liger = _liger() if device.type == "cuda" else None
    if liger is not None:
        fns["liger"] = lambda: liger(gate, up)
    if not backward:
        return fns
    g = torch.randn_like(gate)

    def with_backward(f):
        def run():
            torch.autograd.grad(f(), (gate, up), g)

        return run

    return {k: with_backward(f) for k, f in fns.items()}


def time_row(tokens: int, inter: int, dtype: str, backward: bool, cfg: GatedConfig, device) -> Dict[str, Any]:
    torch.manual_seed(0)
    dt = DTYPES[dtype]
    gate = torch.randn(tokens, inter, device=device, dtype=dt).requires_grad_(backward)
    up = torch.randn(tokens, inter, device=device, dtype=dt).requires_grad_(backward)
    fns = _variants(gate, up, backward, cfg.compile, device)
    src = torch.randn(tokens, inter, device=device, dtype=dt)
    dst = torch.empty_like(src)
    fns["copy"] = lambda: dst.copy_(src)
    timed = call_timer(device)
    for f in fns.values():  # warm up (and compile)
        f()
        f()
    times: Dict[str, List[float]] = {k: [] for k in fns}
    for _ in range(cfg.rounds):
        for k, f in fns.items():
            times[k].append(timed(f))
    n = tokens * inter
    es = src.element_size()
    moved = (8 if backward else 3) * n * es
    med = {k: statistics.median(v) for k, v in times.items()}
    row: Dict[str, Any] = {
        "tokens": tokens,
        "intermediate": inter,
        "dtype": dtype,
        "pass": "fwd+bwd" if backward else "fwd",
        "times": times,
        "bytes_moved": moved,
        "ours_gbps": moved / med["ours"] / 1e9,
        "copy_gbps": 2 * n * es / med["copy"] / 1e9,
    }
    for k in fns:
        if k not in ("ours", "copy"):
            row[f"ours/{k}"] = med["ours"] / med[k]
    return row


class LlamaStyleMLP(torch.nn.Module):
    """The eager gated MLP, as transformers' LlamaMLP writes it."""

    def __init__(self, hidden: int, inter: int):
        super().__init__()
        self.gate_proj = torch.nn.Linear(hidden, inter, bias=False)
        self.up_proj = torch.nn.Linear(hidden, inter, bias=False)
        self.down_proj = torch.nn.Linear(inter, hidden, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


def mlp_memory(cfg: GatedConfig, device) -> List[Dict[str, Any]]:
    hidden, inter, tokens = cfg.mlp
    torch.manual_seed(0)
    ref = LlamaStyleMLP(hidden, inter).to(device)
    x = torch.randn(tokens, hidden, device=device)
    models = {
        "eager": ref,
        "ours": ann.GatedMLP(hidden, inter).to(device),
        "ours_inplace_backward": ann.GatedMLP(hidden, inter, inplace_backward=True).to(device),
    }
    rows = []
    for mode, model in models.items():
        if model is not ref:
            model.load_state_dict(ref.state_dict())

        def step(m=model):
            # A training step as optimizers run it: the gradients set to
            # None first (zero_grad's default), so the weights' gradients
            # are allocated in the step, the same in every mode.
            m.zero_grad(set_to_none=True)
            m(x).square().mean().backward()

        step()  # warm-up
        model.zero_grad(set_to_none=True)
        gc.collect()
        _, peak = peak_tensor_bytes(step, device)
        model.zero_grad(set_to_none=True)
        _, count, nbytes = saved_storages(lambda m=model: m(x))
        rows.append({"mode": mode, "peak_tensor_bytes": peak, "saved_storages": count, "saved_bytes": nbytes})
        model.zero_grad(set_to_none=True)
        gc.collect()
    return rows


def activation_saved(cfg: GatedConfig, device) -> Dict[str, Any]:
    """Bytes autograd keeps for the gating alone (the first shape, float32)."""
    tokens, inter = cfg.shapes[0]
    out = {}
    for name, fn in (("ours", AF.swiglu), ("eager", lambda a, b: F.silu(a) * b)):
        gate = torch.randn(tokens, inter, device=device, requires_grad=True) * 1
        up = torch.randn(tokens, inter, device=device, requires_grad=True) * 1
        _, count, nbytes = saved_storages(lambda f=fn, a=gate, b=up: f(a, b))
        out[name] = {"storages": count, "bytes": nbytes}
    out["tensor_bytes"] = tokens * inter * 4
    return out


def run_gated(cfg: GatedConfig, device, progress: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    rows = []
    for tokens, inter in cfg.shapes:
        for dtype in cfg.dtypes:
            for backward in (False, True):
                if progress:
                    progress(f"gated: {tokens}x{inter} {dtype} {'fwd+bwd' if backward else 'fwd'}")
                rows.append(time_row(tokens, inter, dtype, backward, cfg, device))
    if progress:
        progress("gated: saved tensors and MLP memory")
    return {
        "config": asdict(cfg),
        "rows": rows,
        "liger": _liger() is not None and device.type == "cuda",
        "saved": activation_saved(cfg, device),
        "mlp_memory": mlp_memory(cfg, device),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--json", default=None)
    p.add_argument("--md", default=None, help="also write the report's section (and its figure, next to it)")
    a = p.parse_args(argv)
    device = pick_device()
    cfg = GatedConfig.preset(a.quick, device, compile=not a.no_compile)
    res = run_gated(cfg, device, progress=lambda s: print(s, flush=True))
    for r in res["rows"]:
        ratios = "  ".join(f"{k}={v:.2f}" for k, v in r.items() if k.startswith("ours/"))
        print(
            f"{r['tokens']}x{r['intermediate']} {r['dtype']:<9}{r['pass']:<8} "
            f"ours {statistics.median(r['times']['ours']) * 1e3:8.3f} ms  {ratios}  "
            f"{r['ours_gbps']:.1f} GB/s (copy {r['copy_gbps']:.1f})"
        )
    print(json.dumps({"saved": res["saved"], "mlp_memory": res["mlp_memory"]}))
    res["meta"] = run_meta(device)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    if a.md:
        from pathlib import Path

        from bench.report import gated_section

        md = Path(a.md)
        text = gated_section({"gated": res}, md.parent, [])
        md.write_text(measured_on(res["meta"]) + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
