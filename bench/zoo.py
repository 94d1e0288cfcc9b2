"""Real models: a training step of small but real configurations, converted
(``activations_ext.convert``) against unconverted against ``torch.compile``
of the unconverted model.

    python -m bench.zoo [--quick] [--json out.json]

The models are built from configs (nothing downloaded): a Llama-style causal
LM and a BERT-mini-sized encoder from transformers, timm's convnext_atto and
mobilenetv3_small_100. A model is left out when its package is not installed
(the report says which). The three variants start from the same weights;
their steps (zero_grad, forward, loss, backward, SGD step) are timed
interleaved, round after round, and each cell is the median. Peak memory:
the peak of live tensor memory during one step above what existed before it.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Optional

import torch

import activations_ext
from bench.machine import measured_on, pick_device, run_meta
from bench.memory import peak_tensor_bytes


@dataclass
class ZooConfig:
    rounds: int = 10
    compile: bool = True
    # language models
    vocab: int = 2048
    seq: int = 256
    batch: int = 4
    # vision models
    image: int = 128
    image_batch: int = 16

    @classmethod
    def preset(cls, quick: bool, device: torch.device, compile: bool = True) -> ZooConfig:
        if quick:
            return cls(rounds=2, compile=False, vocab=256, seq=32, batch=2, image=64, image_batch=2)
        if device.type == "cuda":
            return cls(rounds=20, compile=compile, batch=32, image_batch=128, image=224)
        return cls(compile=compile)


def _llama(cfg: ZooConfig):
    import transformers

    c = transformers.LlamaConfig(
        vocab_size=cfg.vocab,
        hidden_size=512,
        intermediate_size=1408,
        num_hidden_layers=4,
        num_attention_heads=8,
        num_key_value_heads=4,
        max_position_embeddings=max(cfg.seq, 64),
    )
    return transformers.LlamaForCausalLM(c), "llama (4 layers, hidden 512, intermediate 1408, SwiGLU)"


def _bert(cfg: ZooConfig):
    import transformers

    c = transformers.BertConfig(
        vocab_size=cfg.vocab,
        hidden_size=256,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=1024,
        max_position_embeddings=max(cfg.seq, 64),
    )
    return transformers.BertForMaskedLM(c), "bert-mini (4 layers, hidden 256, intermediate 1024, GELU)"


def _timm(name: str, label: str):
    def make(cfg: ZooConfig):
        import timm

        return timm.create_model(name, pretrained=False, num_classes=100), label

    return make


MODELS: Dict[str, Callable[[ZooConfig], Any]] = {
    "llama": _llama,
    "bert": _bert,
    "convnext_atto": _timm("convnext_atto", "timm convnext_atto (GELU)"),
    "mobilenetv3_small_100": _timm(
        "mobilenetv3_small_100", "timm mobilenetv3_small_100 (Hardswish, Hardsigmoid)"
    ),
}
PACKAGES = {
    "llama": "transformers",
    "bert": "transformers",
    "convnext_atto": "timm",
    "mobilenetv3_small_100": "timm",
}


def _available(package: str) -> Optional[str]:
    try:
        __import__(package)
    except Exception as e:  # ImportError, or a broken dependency of it
        return f"{package} not importable ({type(e).__name__}: {e})"
    return None


def _batch(name: str, cfg: ZooConfig, device) -> Dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    if PACKAGES[name] == "transformers":
        ids = torch.randint(0, cfg.vocab, (cfg.batch, cfg.seq), generator=gen).to(device)
        return {"input_ids": ids, "labels": ids}
    x = torch.randn(cfg.image_batch, 3, cfg.image, cfg.image, generator=gen).to(device)
    y = torch.randint(0, 100, (cfg.image_batch,), generator=gen).to(device)
    return {"x": x, "y": y}


def _loss(model, name: str, batch) -> torch.Tensor:
    if PACKAGES[name] == "transformers":
        return model(**batch).loss
    return torch.nn.functional.cross_entropy(model(batch["x"]), batch["y"])


def _clock(device) -> Callable[[Callable[[], Any]], float]:
    def timed(fn):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - t

    return timed


def run_model(name: str, cfg: ZooConfig, device) -> Dict[str, Any]:
    torch.manual_seed(0)
    base, label = MODELS[name](cfg)
    base = base.to(device).train()
    # No dropout: the variants do the same arithmetic.
    for m in base.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    converted, summary = activations_ext.convert(copy.deepcopy(base))
    models: Dict[str, torch.nn.Module] = {"converted": converted, "unconverted": base}
    if cfg.compile:
        models["compiled"] = torch.compile(copy.deepcopy(base))
    batch = _batch(name, cfg, device)
    opts = {k: torch.optim.SGD(m.parameters(), lr=1e-3) for k, m in models.items()}

    def step_of(k):
        m, opt = models[k], opts[k]

        def step():
            opt.zero_grad(set_to_none=True)
            _loss(m, name, batch).backward()
            opt.step()

        return step

    steps = {k: step_of(k) for k in models}
    for s in steps.values():  # warm up (and compile)
        s()
        s()
    timed = _clock(device)
    times: Dict[str, List[float]] = {k: [] for k in steps}
    for _ in range(cfg.rounds):
        for k, s in steps.items():
            times[k].append(timed(s))
    peaks = {}
    for k in ("converted", "unconverted"):
        gc.collect()
        _, peaks[k] = peak_tensor_bytes(steps[k], device)
    med = {k: statistics.median(v) for k, v in times.items()}
    row: Dict[str, Any] = {
        "model": name,
        "label": label,
        "replaced": summary.counts(),
        "skipped": [f"{r.name}: {r.reason}" for r in summary.skipped],
        "times": times,
        "peak_bytes": peaks,
        "converted/unconverted": med["converted"] / med["unconverted"],
        # The profiler sometimes records no allocation event at all (a peak
        # of 0): the ratio is then not a number, not an error.
        "peak converted/unconverted": peaks["converted"] / peaks["unconverted"]
        if peaks["unconverted"] > 0
        else float("nan"),
    }
    if "compiled" in med:
        row["converted/compiled"] = med["converted"] / med["compiled"]
    gc.collect()
    return row


def run_zoo(cfg: ZooConfig, device, progress: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    rows, missing = [], {}
    for name in MODELS:
        if progress:
            progress(f"real models: {name}")
        why = _available(PACKAGES[name])
        if why:
            missing[name] = why
            continue
        rows.append(run_model(name, cfg, device))
    return {"config": asdict(cfg), "rows": rows, "missing": missing}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--json", default=None)
    p.add_argument("--md", default=None, help="also write the report's section")
    a = p.parse_args(argv)
    device = pick_device()
    res = run_zoo(ZooConfig.preset(a.quick, device, compile=not a.no_compile), device, print)
    res["meta"] = run_meta(device)
    for r in res["rows"]:
        ratios = "  ".join(f"{k}={v:.3f}" for k, v in r.items() if "/" in k)
        print(f"{r['model']:<24}{statistics.median(r['times']['converted']) * 1e3:9.1f} ms  {ratios}")
    for k, v in res["missing"].items():
        print(f"{k}: left out, {v}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    if a.md:
        write_md(res, a.md)
    return 0


def write_md(res: Dict[str, Any], path: str) -> None:
    from pathlib import Path

    from bench.report import zoo_section

    Path(path).write_text(measured_on(res["meta"]) + zoo_section({"zoo": res}))


if __name__ == "__main__":
    raise SystemExit(main())
