"""The report's figures, drawn from the raw results (never from typed numbers)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bench.kernels import quantiles, size_label  # noqa: E402

COLORS = {
    "sigmoid": "tab:red",
    "tanh": "tab:orange",
    "relu": "tab:blue",
    "leaky_relu": "tab:green",
    "prelu": "tab:purple",
    "elu": "tab:brown",
    "gelu": "tab:pink",
}
IMPL_STYLE = {
    "ours": dict(color="tab:blue", marker="o"),
    "native": dict(color="tab:orange", marker="s"),
    "compiled": dict(color="tab:green", marker="^"),
    "baseline_native": dict(color="tab:red", marker="x", linestyle="--"),
    "baseline_ours": dict(color="tab:cyan", marker="+", linestyle="--"),
}


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _median(v: Sequence[float]) -> float:
    return quantiles(v)["median"]


THROUGHPUT_COLS = 6  # three activations a row


def throughput(
    rows: Sequence[Mapping[str, Any]],
    dtype: str,
    path: Path,
    labels: Mapping[str, str],
    baseline_rows: Optional[Sequence[Mapping[str, Any]]] = None,
) -> Path:
    """GB/s against size, forward and backward, per activation, with the copy ceiling: a grid of
    ``THROUGHPUT_COLS`` panels a row (each activation's forward beside its backward), so that the figure
    stays readable whatever the number of activations."""
    acts: List[str] = []
    for r in rows:
        if r["kind"] == "forward" and r["activation"] not in acts:
            acts.append(r["activation"])
    copy = {r["n"]: r for r in rows if r["kind"] == "copy" and r["dtype"] == dtype}
    sizes = sorted(copy)
    panels = [(act, kind) for act in acts for kind in ("forward", "backward")]
    ncols = min(THROUGHPUT_COLS, max(1, len(panels)))
    nrows = max(1, -(-len(panels) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.0 * ncols, 2.6 * nrows + 0.8), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for i, (act, kind) in enumerate(panels):
        col = i % ncols
        ax = axes[i // ncols][col]
        sel = sorted(
            (r for r in rows if r["kind"] == kind and r["activation"] == act and r["dtype"] == dtype),
            key=lambda r: r["n"],
        )
        series: Dict[str, List[tuple]] = {}
        for r in sel:
            for impl, samples in r["times"].items():
                series.setdefault(impl, []).append((r["n"], r["bytes"] / _median(samples) / 1e9))
        if baseline_rows:
            for r in baseline_rows:
                if r["kind"] == kind and r["activation"] == act and r["dtype"] == dtype:
                    for impl, samples in r["times"].items():
                        series.setdefault("baseline_" + impl, []).append(
                            (r["n"], r["bytes"] / _median(samples) / 1e9)
                        )
        for impl, pts in series.items():
            pts.sort()
            ax.plot(
                [p[0] for p in pts], [p[1] for p in pts], label=labels.get(impl, impl), **IMPL_STYLE[impl]
            )
        for ckind, style in (("prealloc", "-"), ("alloc", ":")):
            ys = [copy[n]["bytes"] / _median(copy[n]["times"][ckind]) / 1e9 for n in sizes]
            ax.plot(sizes, ys, color="black", linestyle=style, linewidth=1, label=labels.get(ckind, ckind))
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes)
        ax.set_xticklabels([size_label(n) for n in sizes], rotation=45, fontsize=7)
        ax.set_title(f"{act} {kind}", fontsize=9)
        ax.grid(alpha=0.3)
        if col == 0:
            ax.set_ylabel("GB/s")
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(
        handles, names, loc="lower center", ncol=min(len(names), 4), fontsize=9, bbox_to_anchor=(0.5, 0.0)
    )
    fig.suptitle(f"Throughput vs size, {dtype} (black: copy ceiling, same run)", fontsize=11)
    height = fig.get_size_inches()[1]
    fig.tight_layout(rect=(0, 0.7 / height, 1, 1 - 0.35 / height))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def article_losses(result: Mapping[str, Any], path: Path) -> Path:
    """Mean training loss per epoch with a +-1 std band over seeds."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    by_act: Dict[str, List[List[float]]] = {}
    for r in result["runs"]:
        by_act.setdefault(r["activation"], []).append(r["losses"])
    for act, curves in by_act.items():
        n = len(curves)
        epochs = list(range(1, len(curves[0]) + 1))
        mean = [sum(c[i] for c in curves) / n for i in range(len(epochs))]
        std = [
            math.sqrt(sum((c[i] - mean[i]) ** 2 for c in curves) / max(1, n - 1)) if n > 1 else 0.0
            for i in range(len(epochs))
        ]
        color = COLORS.get(act)
        ax.plot(epochs, mean, color=color, label=f"{act} (n={n})")
        ax.fill_between(
            epochs,
            [m - s for m, s in zip(mean, std)],
            [m + s for m, s in zip(mean, std)],
            color=color,
            alpha=0.2,
        )
    ax.set_xlabel("epoch (full batch)")
    ax.set_ylabel("BCE loss")
    ax.set_title("The article's experiment: mean +- std over seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def grad_norms(result: Mapping[str, Any], path: Path, bound: float) -> Path:
    """Per-layer gradient norms at initialisation and at the end; the share of inputs with |x| > ``bound``."""
    runs = result["runs"]
    acts = list(dict.fromkeys(r["activation"] for r in runs))
    epochs = [p["epoch"] for p in runs[0]["points"]]
    first, last = epochs[0], epochs[-1]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, epoch in ((axes[0], first), (axes[1], last)):
        for act in acts:
            per_seed = [
                next(p for p in r["points"] if p["epoch"] == epoch)["grad_norms"]
                for r in runs
                if r["activation"] == act
            ]
            layers = range(1, len(per_seed[0]) + 1)
            med = [_median([s[i] for s in per_seed]) for i in range(len(per_seed[0]))]
            ax.plot(list(layers), med, marker="o", color=COLORS.get(act), label=act)
        ax.set_yscale("log")
        ax.set_xlabel("Linear layer (1 = input side)")
        ax.set_ylabel("||dL/dW|| (median over seeds)")
        ax.set_title("at initialisation" if epoch == 0 else f"after {epoch} epochs")
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    ax = axes[2]
    for act in acts:
        rs = [r for r in runs if r["activation"] == act]
        ys = [
            _median([sum(r["points"][i]["saturated"]) / len(r["points"][i]["saturated"]) for r in rs])
            for i in range(len(epochs))
        ]
        ax.plot(epochs, ys, marker="o", color=COLORS.get(act), label=act)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"share of activation inputs with |x| > {bound:g}")
    ax.set_title("saturation (mean over hidden layers)")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def dead_units(result: Mapping[str, Any], path: Path) -> Path:
    """Dead (ReLU) / stuck-negative (others) share of hidden units over training."""
    runs = result["runs"]
    labels = list(dict.fromkeys(r["lr_label"] for r in runs))
    acts = list(dict.fromkeys(r["activation"] for r in runs))
    fig, axes = plt.subplots(1, len(labels), figsize=(6 * len(labels), 4.5), sharey=True, squeeze=False)
    for ax, label in zip(axes[0], labels):
        lr = next(r["lr"] for r in runs if r["lr_label"] == label)
        for act in acts:
            rs = [r for r in runs if r["activation"] == act and r["lr_label"] == label]
            n_epochs = len(rs[0]["dead"])
            ys = [_median([sum(r["dead"][e]) / len(r["dead"][e]) for r in rs]) for e in range(n_epochs)]
            ax.plot(range(n_epochs), ys, marker=".", color=COLORS.get(act), label=act)
        ax.set_title(f"{label} learning rate ({lr:g}, Adam)")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("units with input <= 0 for every example")
    axes[0][0].legend(fontsize=8)
    return _save(fig, path)


def time_to_target(result: Mapping[str, Any], path: Path) -> Path:
    """Training error per epoch at each activation's best learning rate, every seed."""
    summary, runs, cfg = result["summary"], result["runs"], result["config"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for act, s in summary.items():
        for i, r in enumerate(x for x in runs if x["activation"] == act and x["lr"] == s["best_lr"]):
            ax.plot(
                range(1, len(r["errors"]) + 1),
                r["errors"],
                color=COLORS.get(act),
                alpha=0.8,
                label=f"{act}, lr {s['best_lr']:g}" if i == 0 else None,
            )
    ax.axhline(cfg["target_error"], color="black", linestyle="--", linewidth=1, label="target")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training error")
    ax.set_title("Digits: training error at each activation's best learning rate")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _save(fig, path)


def prelu_slopes(slopes: Mapping[str, Sequence[float]], path: Path, init: float) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, values in slopes.items():
        if values:
            ax.hist(values, bins=40, alpha=0.5, label=f"{label} (n={len(values)})")
    ax.axvline(init, color="black", linestyle="--", linewidth=1, label=f"initial {init:g}")
    ax.set_xlabel("learned slope a")
    ax.set_ylabel("count")
    ax.set_title("PReLU slopes after training")
    ax.legend(fontsize=8)
    return _save(fig, path)


def step_times_paired(step: Mapping[str, Any], path: Path) -> Path:
    """Median step time per activation, torch.nn's and ours (keys '<activation>/<impl>')."""
    times = step["times"]
    acts = list(dict.fromkeys(k.split("/")[0] for k in times))
    fig, ax = plt.subplots(figsize=(7, 4))
    for j, impl in enumerate(("native", "ours")):
        ys = [_median(times[f"{a}/{impl}"]) * 1e3 if f"{a}/{impl}" in times else 0.0 for a in acts]
        label = "torch.nn" if impl == "native" else "ours"
        ax.bar([i + (j - 0.5) * 0.38 for i in range(len(acts))], ys, width=0.38, label=label)
    ax.set_xticks(range(len(acts)))
    ax.set_xticklabels(acts)
    ax.set_ylabel("ms per training step (median)")
    ax.set_title("MLP training step per activation")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    return _save(fig, path)


def saved_memory(rows: Sequence[Mapping[str, Any]], path: Path, mode_labels: Mapping[str, str]) -> Path:
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    keys = [
        ("saved_bytes", "saved by autograd (MiB)"),
        ("peak_tensor_bytes", "peak tensor memory (MiB)"),
        ("process_peak_bytes", "process peak (MiB)"),
    ]
    acts = list(dict.fromkeys(r["activation"] for r in rows))
    modes = list(dict.fromkeys(r["mode"] for r in rows))
    for ax, (key, title) in zip(axes, keys):
        for j, mode in enumerate(modes):
            ys = [
                next(r[key] for r in rows if r["activation"] == a and r["mode"] == mode) / 2**20 for a in acts
            ]
            ax.bar(
                [i + (j - 1) * 0.27 for i in range(len(acts))],
                ys,
                width=0.27,
                label=mode_labels.get(mode, mode),
            )
        ax.set_xticks(range(len(acts)))
        ax.set_xticklabels(acts)
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=7)
    return _save(fig, path)


def gated_times(rows: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Median time of each gated variant, relative to eager, per shape, dtype and pass."""
    variants = [v for v in ("ours", "compiled", "liger") if any(v in r["times"] for r in rows)]
    labels = [f"{r['tokens']}x{r['intermediate']}\n{r['dtype']} {r['pass']}" for r in rows]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(rows)), 4.0))
    width = 0.8 / len(variants)
    for j, v in enumerate(variants):
        ys = [
            _median(r["times"][v]) / _median(r["times"]["eager"]) if v in r["times"] else float("nan")
            for r in rows
        ]
        style = IMPL_STYLE.get(v, {})
        ax.bar(
            [i + (j - (len(variants) - 1) / 2) * width for i in range(len(rows))],
            ys,
            width=width,
            label=v,
            color=style.get("color"),
        )
    ax.axhline(1.0, color="tab:orange", linewidth=1, label="eager act(gate) * up")
    ax.axhline(0.6, color="grey", linewidth=1, linestyle="--", label="0.6x target")
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylabel("time / eager time")
    ax.set_title("SwiGLU: fused gated operator against eager and torch.compile", fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7)
    return _save(fig, path)


def linear_collapse(result: Mapping[str, Any], path: Path) -> Path:
    """Training accuracy per seed: majority class, logistic regression, the
    stack without an activation, the same stack with ReLU."""
    runs = sorted(result["runs"], key=lambda r: r["seed"])
    keys = [
        ("majority_accuracy", "majority class", "tab:gray"),
        ("logistic_accuracy", "logistic regression", "tab:green"),
        ("none_accuracy", "no activation", "tab:red"),
        ("relu_accuracy", "ReLU", "tab:blue"),
    ]
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(keys)
    for j, (key, label, color) in enumerate(keys):
        xs = [i + (j - (len(keys) - 1) / 2) * width for i in range(len(runs))]
        ax.bar(xs, [r[key] for r in runs], width=width, label=label, color=color)
    ax.set_xticks(range(len(runs)))
    ax.set_xticklabels([f"seed {r['seed']}" for r in runs])
    ax.set_ylim(0.4, 1.0)
    ax.set_ylabel("training accuracy")
    ax.set_title("Circle data: layers without an activation fit no better than one linear map", fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7)
    return _save(fig, path)


def large_init(summary: Mapping[Any, Mapping[str, float]], path: Path) -> Path:
    """Dead (ReLU) or stuck share at the end of training against the initial weight scale."""
    fig, ax = plt.subplots(figsize=(6, 4))
    acts = list(dict.fromkeys(a for a, _ in summary))
    for act in acts:
        scales = sorted(sc for a, sc in summary if a == act)
        ax.plot(
            scales,
            [summary[(act, sc)]["dead_end"] for sc in scales],
            marker="o",
            color=COLORS.get(act),
            label=act,
        )
    ax.set_xscale("log")
    ax.set_xlabel("initial weight scale (x Kaiming-normal)")
    ax.set_ylabel("dead / stuck units at end (mean over layers)")
    ax.set_title("Large initialisation: dead ReLU units against the stuck units of the others", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def negative_data(
    groups: Mapping[Any, Sequence[Mapping[str, Any]]], conditions: Sequence[str], path: Path
) -> Path:
    """Held-out balanced accuracy per seed, ReLU beside LeakyReLU, per condition."""
    acts = list(dict.fromkeys(a for _, a in groups))
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / max(len(acts), 1)
    for j, act in enumerate(acts):
        for i, cond in enumerate(conditions):
            rs = groups.get((cond, act), [])
            x0 = i + (j - (len(acts) - 1) / 2) * width
            xs = [x0 + (k / max(len(rs) - 1, 1) - 0.5) * width * 0.6 for k in range(len(rs))]
            ax.scatter(
                xs,
                [r["balanced_accuracy"] for r in rs],
                s=14,
                color=COLORS.get(act),
                label=act if i == 0 else None,
            )
            if rs:
                ax.hlines(
                    _median([r["balanced_accuracy"] for r in rs]),
                    x0 - width / 2,
                    x0 + width / 2,
                    color=COLORS.get(act),
                )
    ax.set_xticks(range(len(conditions)))
    ax.set_xticklabels(conditions)
    ax.set_ylabel("held-out balanced accuracy")
    ax.set_xlabel("condition (dots: seeds; line: median)")
    ax.set_title("Data that push hidden inputs negative: ReLU against LeakyReLU", fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    return _save(fig, path)


def lenet(result: Mapping[str, Any], summary: Mapping[str, Mapping[str, Any]], path: Path) -> Path:
    """Left: best validation accuracy against the learning rate. Right: the
    validation accuracy per epoch at each activation's best rate (median over seeds)."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for act, s in summary.items():
        lrs = sorted(s["by_lr"])
        a1.plot(lrs, [s["by_lr"][lr]["val_best"] for lr in lrs], marker="o", color=COLORS.get(act), label=act)
        curves = [
            r["val_accuracy"] for r in result["runs"] if r["activation"] == act and r["lr"] == s["best_lr"]
        ]
        med = [_median([c[e] for c in curves]) for e in range(len(curves[0]))]
        a2.plot(range(1, len(med) + 1), med, color=COLORS.get(act), label=f"{act}, lr {s['best_lr']:g}")
    a1.set_xscale("log")
    a1.set_xlabel("learning rate (SGD, momentum)")
    a1.set_ylabel("best validation accuracy (median over seeds)")
    a2.set_xlabel("epoch")
    a2.set_ylabel("validation accuracy (median over seeds)")
    for ax in (a1, a2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("LeNet-5 on digits: Sigmoid against ReLU", fontsize=10)
    return _save(fig, path)


def sparsity(groups: Mapping[str, Sequence[Mapping[str, Any]]], path: Path) -> Path:
    """The train-test accuracy gap per activation (dots: seeds; bar: mean), each
    labelled with its share of exact zeros."""
    fig, ax = plt.subplots(figsize=(7, 4))
    acts = list(groups)
    for i, act in enumerate(acts):
        gaps = [r["train_accuracy"] - r["test_accuracy"] for r in groups[act]]
        ax.bar(i, sum(gaps) / len(gaps), width=0.6, color=COLORS.get(act), alpha=0.35)
        xs = [i + (k / max(len(gaps) - 1, 1) - 0.5) * 0.3 for k in range(len(gaps))]
        ax.scatter(xs, gaps, color=COLORS.get(act), s=16)
    ax.set_xticks(range(len(acts)))
    zeros = [sum(r["zero_fraction"] for r in groups[a]) / len(groups[a]) for a in acts]
    ax.set_xticklabels([f"{a}\n{100 * z:.0f}% zeros" for a, z in zip(acts, zeros)], fontsize=8)
    ax.set_ylabel("training accuracy - test accuracy")
    ax.set_title("Little data: overfitting per activation, next to its sparsity", fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)
