"""The benchmark report: the article's claims, and our kernels against PyTorch.

    python -m bench.report [--quick] [--out DIR] [--baseline-python PYTHON] [--threads auto|N]

writes ``bench/results/<machine-tag>/report.md`` (or ``DIR/report.md``), the
PNG figures it embeds, and the raw data (``results.json``, ``kernels.csv``).
Every number in report.md is computed here from those measurements; the
verdict rules are in bench/verdicts.py.

The device is picked automatically (the GPU when there is one). On a CPU
shared with other work, ``--threads auto`` (the default) runs on one thread
when a probe finds the cores busy (see bench/machine.py), and the header says
so. ``--baseline-python`` adds the kernel measurements under a second torch
installation (see bench/baseline.py).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from tqdm import tqdm

from bench import bias_act_bench as B
from bench import experiments as E
from bench import gated as G
from bench import kernels as K
from bench import memory as M
from bench import percall as PC
from bench import plots as P
from bench import step as S
from bench import verdicts as V
from bench import zoo as Z
from bench.machine import (
    choose_threads,
    contention_probe,
    describe_libraries,
    environment,
    machine_tag,
    pick_clock,
    pick_device,
    processor_name,
)

ROOT = Path(__file__).resolve().parent.parent

# The per-element comparison of activations (claims 1(a) and 5).
COMPARE_ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu", "elu")
COMPARE_SIZE = K.MIB

# The core issue's speed targets for our kernels (ours / torch's time).
TARGET_LARGE_SIZES = (K.MIB, 16 * K.MIB)
TARGET_LARGE = 1.05
TARGET_ELU_FORWARD = 0.5
# Per call, on one thread: there a call's whole cost is on the calling
# thread, which the thread CPU clock times apart from the machine's other work.
TARGET_PERCALL_THREADS = 1
TARGET_CALL_FWD_SIZES = (K.KIB, 16 * K.KIB)
TARGET_CALL_FWD = 1.05
TARGET_MODULE_FWD_SIZES = (K.KIB,)
TARGET_MODULE_FWD = 1.05
TARGET_FWD_BWD_SIZES = (K.KIB,)
TARGET_FWD_BWD = 1.05

KRIZHEVSKY = (
    "The 6x figure comes from Krizhevsky, Sutskever and Hinton (2012), Figure 1: a four-layer convolutional "
    "network with ReLUs reached 25% training error on CIFAR-10 six times faster (in iterations) than the same "
    "network with tanh, each with its own tuned learning rate. It compares ReLU with tanh, not Sigmoid, and "
    "counts iterations to an error target, not time per step."
)


CLOCK_NOTES = {
    "thread CPU time": (
        "thread CPU time (user + system, page faults included) of the measuring thread: with one torch thread "
        "all of a call's work runs there, and this clock leaves out the time other processes held the core"
    ),
    "wall clock": "wall clock (after synchronising the device)",
}

# --------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------


def fmt_time(seconds: float) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_num(v: Any, digits: int = 3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isinf(v):
            return "never" if v > 0 else "-inf"
        if math.isnan(v):
            return "n/a"
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
            return f"{v:.2e}"
        return f"{v:.{digits}g}"
    return str(v)


def fmt_ratio(q: Optional[Mapping[str, float]]) -> str:
    if not q:
        return "n/a"
    return f"{q['median']:.2f} [{q['p25']:.2f}-{q['p75']:.2f}]"


def fmt_pct(v: float) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.0f}%"


def mib(b: float) -> str:
    return f"{b / 2**20:.1f}"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def _median(v: Sequence[float]) -> float:
    return K.quantiles(list(v))["median"]


def _mean(v: Sequence[float]) -> float:
    v = list(v)
    return sum(v) / len(v) if v else math.nan


def _std(v: Sequence[float]) -> float:
    v = list(v)
    if len(v) < 2:
        return 0.0
    m = _mean(v)
    return math.sqrt(sum((a - m) ** 2 for a in v) / (len(v) - 1))


# --------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------


class Progress:
    def __init__(self, total: int, enabled: bool = True) -> None:
        self.bar = tqdm(total=total, unit="job", dynamic_ncols=True, disable=not enabled, file=sys.stderr)

    def __call__(self, label: str) -> None:
        self.bar.set_description(label[:60])
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def run(args: argparse.Namespace) -> Dict[str, Any]:
    device = pick_device()
    threads, probe, threads_why = choose_threads(args.threads, device)
    torch.set_num_threads(threads)
    quick = args.quick
    kcfg = K.KernelConfig.preset(quick, device, compile=not args.no_compile)
    ecfg = E.ExperimentConfig.preset(quick)
    scfg = S.StepConfig.preset(quick, device)
    mcfg = M.StackConfig.preset(quick, device)
    gcfg = G.GatedConfig.preset(quick, device, compile=not args.no_compile)
    zcfg = Z.ZooConfig.preset(quick, device, compile=not args.no_compile)
    bcfg = B.BiasActConfig.preset(quick)
    tasks = K.plan(kcfg)
    n_step = 1 + sum(2 if a.ours_module_cls is not None else 1 for a in K.activations())
    n_gated = len(gcfg.shapes) * len(gcfg.dtypes) * 2 + 1 + len(Z.MODELS)
    total = (
        len(tasks)
        + 2
        + n_step
        + 1
        + n_gated
        + bcfg.cells()
        + sum(ecfg.runs().values())
        + (1 if args.baseline_python else 0)
        + 1
    )
    progress = Progress(total, enabled=not args.no_progress)
    t_start = time.perf_counter()
    results: Dict[str, Any] = {
        "environment": environment(device),
        "mode": "quick" if quick else "full",
        "threads": threads,
        "threads_why": threads_why,
        "clock": pick_clock(device)[1],
        "probe_start": probe,
    }
    t0 = time.perf_counter()
    runner = K.KernelRunner(kcfg, device)
    rows = []
    for task in tasks:
        progress(f"kernels: {task.kind} {task.activation or ''} {task.dtype} {K.size_label(task.n)}")
        rows.append(runner.run(task))
    results["kernels"] = {"rows": rows, **runner.info(), "seconds": time.perf_counter() - t0}

    compare = []
    for impl in ("native", "ours"):
        progress(f"activation comparison ({impl})")
        compare.append(
            K.compare_activations(
                COMPARE_ACTIVATIONS, impl, COMPARE_SIZE, "float32", device, rounds=kcfg.rounds
            )
        )
    results["compare"] = compare

    t0 = time.perf_counter()
    results["step"] = S.run_steps(scfg, device, progress=progress)
    results["step"]["seconds"] = time.perf_counter() - t0

    progress("saved-tensor memory (fresh processes)")
    t0 = time.perf_counter()
    results["saved_memory"] = {"config": mcfg.__dict__, "rows": M.run_saved_memory(mcfg, threads=threads)}
    results["saved_memory"]["seconds"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    results["gated"] = G.run_gated(gcfg, device, progress)
    results["gated"]["seconds"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    results["zoo"] = Z.run_zoo(zcfg, device, progress)
    results["zoo"]["seconds"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    results["bias_act"] = B.run_bias_act(bcfg, device, progress)
    results["bias_act"]["seconds"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    results["experiments"] = E.run_all(ecfg, device, progress)
    results["experiments"]["seconds"] = time.perf_counter() - t0

    if args.baseline_python:
        progress("kernels under " + args.baseline_python)
        results.update(measure_baseline(args.baseline_python, args.out, quick, threads, device, progress))
    results["probe_end"] = contention_probe(threads=probe["threads"])
    results["seconds"] = time.perf_counter() - t_start
    progress("writing the report")
    progress.close()
    return results


def measure_baseline(
    python: str,
    out_dir: Path,
    quick: bool,
    threads: int,
    device: torch.device,
    progress: Optional[Progress] = None,
) -> Dict[str, Any]:
    """``--baseline-python``: the kernel measurements under ``python``'s torch
    (bench/baseline.py), as the results' ``baseline``, or why they failed as
    ``baseline_error``: a failed second torch costs its columns, not the report."""
    from bench.baseline import run_baseline

    def on_progress(line: str) -> None:
        if progress is not None:
            progress.bar.set_description(f"torch {python}: {line}"[-60:])

    t0 = time.perf_counter()
    out: Dict[str, Any] = {}
    try:
        out["baseline"] = run_baseline(
            python,
            out_dir / "baseline-kernels.json",
            quick=quick,
            threads=threads,
            cpu_only=device.type == "cpu",
            log=progress.bar.write if progress is not None else print,
            on_progress=on_progress,
        )
    except Exception as exc:
        out["baseline_error"] = f"{type(exc).__name__}: {exc}"
    out["baseline_seconds"] = time.perf_counter() - t0
    return out


# --------------------------------------------------------------------------
# From results to the numbers the verdicts and tables need
# --------------------------------------------------------------------------

# Where each experiment's settings are named in ExperimentConfig.
CONFIG_PREFIX = {
    "article": "article_",
    "time_to_target": "ttt_",
    "gradient_norms": "grad_",
    "dying_units": "dying_",
}


def exp_config(exp: Mapping[str, Any], name: str) -> Dict[str, Any]:
    """Experiment ``name``'s configuration as recorded in the results; a setting
    results written before it was recorded lack is its default (what they ran with)."""
    return {**E.config_defaults(CONFIG_PREFIX[name]), **exp[name]["config"]}


def digits_data(exp: Mapping[str, Any], name: str) -> Dict[str, int]:
    """The shape of the digits data experiment ``name`` trained on."""
    return dict(exp[name].get("data") or E.DIGITS)


def compare_ratio(
    compare: Mapping[str, Any], num: str, den: str, kinds=("forward", "backward")
) -> Dict[str, float]:
    """``num``'s time over ``den``'s, per round (paired), forward + backward by default."""
    t = compare["times"]
    a = K.per_round_total(t, [f"{num}/{k}" for k in kinds])
    b = K.per_round_total(t, [f"{den}/{k}" for k in kinds])
    return K.paired_ratio(a, b)


def step_ratio(step: Mapping[str, Any], num: str, den: str) -> Optional[Dict[str, float]]:
    t = step["times"]
    if num not in t or den not in t:
        return None
    return K.paired_ratio(t[num], t[den])


def compare_run(res: Mapping[str, Any], impl: str) -> Mapping[str, Any]:
    """The interleaved activation comparison of ``impl`` ('native': torch's kernels, 'ours')."""
    return next(c for c in res["compare"] if c["impl"] == impl)


def article_finals(exp: Mapping[str, Any]) -> Dict[str, List[float]]:
    out: Dict[str, List[float]] = {}
    for r in sorted(exp["article"]["runs"], key=lambda r: r["seed"]):
        out.setdefault(r["activation"], []).append(r["final_loss"])
    return out


def grad_summary(exp: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Per activation: attenuation first/last at each checkpoint, saturation, zeros (medians over seeds)."""
    out: Dict[str, Dict[str, Any]] = {}
    runs = exp["gradient_norms"]["runs"]
    for act in dict.fromkeys(r["activation"] for r in runs):
        rs = [r for r in runs if r["activation"] == act]
        epochs = [p["epoch"] for p in rs[0]["points"]]
        att, sat, zeros, err = {}, {}, {}, {}
        for i, e in enumerate(epochs):
            att[e] = _median([r["points"][i]["grad_norms"][0] / r["points"][i]["grad_norms"][-1] for r in rs])
            sat[e] = _median([_mean(r["points"][i]["saturated"]) for r in rs])
            zeros[e] = _median([_mean(r["points"][i]["zeros"]) for r in rs])
            err[e] = _median([r["points"][i]["error"] for r in rs])
        out[act] = {"epochs": epochs, "attenuation": att, "saturated": sat, "zeros": zeros, "error": err}
    return out


def dying_summary(exp: Mapping[str, Any]) -> Dict[Tuple[str, str], Dict[str, float]]:
    out = {}
    runs = exp["dying_units"]["runs"]
    for r0 in runs:
        key = (r0["activation"], r0["lr_label"])
        if key in out:
            continue
        rs = [r for r in runs if (r["activation"], r["lr_label"]) == key]
        out[key] = {
            "lr": r0["lr"],
            "dead_end": _median([_mean(r["dead"][-1]) for r in rs]),
            "dead_max": _median([max(_mean(d) for d in r["dead"]) for r in rs]),
            "error_end": _median([r["errors"][-1] for r in rs]),
            "seeds": len(rs),
        }
    return out


def _layers(exp: Mapping[str, Any], name: str) -> str:
    """'10-layer MLP': the Linear layers of experiment ``name``'s network."""
    return f"{exp_config(exp, name)['depth'] + 1}-layer MLP"


def prelu_init(exp: Mapping[str, Any]) -> float:
    """PReLU's initial slope (one setting for every experiment, carried in each one's config)."""
    return exp_config(exp, "article")["prelu_init"]


def prelu_sources(exp: Mapping[str, Any]) -> Dict[str, List[float]]:
    out: Dict[str, List[float]] = {}
    width = exp_config(exp, "article")["width"]
    for r in exp["article"]["runs"]:
        out.setdefault(f"article net ({width} slopes)", []).extend(r["prelu_slopes"])
    for r in exp["gradient_norms"]["runs"]:
        out.setdefault(f"{_layers(exp, 'gradient_norms')}, digits", []).extend(r["prelu_slopes"])
    for r in exp["dying_units"]["runs"]:
        out.setdefault(f"{_layers(exp, 'dying_units')}, digits, {r['lr_label']} lr", []).extend(
            r["prelu_slopes"]
        )
    return {k: v for k, v in out.items() if v}


# --------------------------------------------------------------------------
# The inputs of each claim's rule. Each function returns the keyword arguments
# its rule in bench/verdicts.py is called with, read from results.json alone,
# so that the tests can check them on the committed results: a ratio turned
# upside down or two arguments swapped shows up there, not only as a verdict
# that no longer matches its evidence.
# --------------------------------------------------------------------------


def kernel_speed_inputs(res: Mapping[str, Any]) -> Dict[str, Any]:
    """Claim 1(a): R = Sigmoid's time / ReLU's, forward + backward of torch's kernels
    (R > 1: ReLU is faster)."""
    native, ours = compare_run(res, "native"), compare_run(res, "ours")
    size = K.size_label(native["n"])
    ratio = compare_ratio(native, "sigmoid", "relu")["median"]
    return {
        "ratio": ratio,
        "evidence": [
            (f"Sigmoid/ReLU, torch kernels, {size} fp32", ratio),
            (f"Sigmoid/ReLU, our kernels, {size} fp32", compare_ratio(ours, "sigmoid", "relu")["median"]),
            (f"tanh/ReLU, torch kernels, {size} fp32", compare_ratio(native, "tanh", "relu")["median"]),
        ],
    }


def step_speed_inputs(res: Mapping[str, Any]) -> Dict[str, Any]:
    """Claim 1(b): R = the Sigmoid network's training step time / the ReLU network's, torch.nn modules."""
    step = res["step"]
    ratio = step_ratio(step, "sigmoid/native", "relu/native")["median"]
    ours = step_ratio(step, "sigmoid/ours", "relu/ours")
    tanh = step_ratio(step, "tanh/native", "relu/native")
    return {
        "ratio": ratio,
        "evidence": [
            ("Sigmoid/ReLU step, torch.nn", ratio),
            ("Sigmoid/ReLU step, ours", ours["median"] if ours else None),
            ("tanh/ReLU step, torch.nn", tanh["median"] if tanh else None),
        ],
    }


def time_to_target_inputs(res: Mapping[str, Any]) -> Dict[str, Any]:
    """Claim 1(c): R = Sigmoid's median epochs to the target / ReLU's, each at its best rate.
    When Sigmoid never got there, R = the epoch budget / ReLU's epochs, a lower bound."""
    ttt = res["experiments"]["time_to_target"]
    summ, tcfg = ttt["summary"], ttt["config"]
    relu, sig = summ["relu"], summ["sigmoid"]
    lower = not sig["reached"]
    if relu["reached"]:
        ratio = (tcfg["max_epochs"] if lower else sig["median_epochs"]) / relu["median_epochs"]
    else:
        ratio = math.nan
    evidence: List[Tuple[str, Any]] = [
        ("ReLU epochs (best lr)", relu["median_epochs"]),
        ("Sigmoid epochs (best lr)", sig["median_epochs"]),
        ("Sigmoid/ReLU epochs" + (" (lower bound)" if lower else ""), ratio),
    ]
    if relu["reached"] and sig["reached"]:
        evidence.append(("Sigmoid/ReLU seconds", sig["median_seconds"] / relu["median_seconds"]))
    if "tanh" in summ:
        t = summ["tanh"]
        evidence.append(("tanh epochs (best lr)", t["median_epochs"]))
        if relu["reached"] and t["reached"]:
            evidence.append(("tanh/ReLU epochs", t["median_epochs"] / relu["median_epochs"]))
    return {"ratio": ratio, "evidence": evidence, "lower_bound": lower, "relu_measured": relu["reached"]}


def vanishing_inputs(res: Mapping[str, Any]) -> Dict[str, Any]:
    """Claim 2: first/last gradient-norm ratio A of Sigmoid and ReLU at initialisation; Sigmoid's
    saturated share at initialisation and at its highest."""
    exp = res["experiments"]
    g = grad_summary(exp)
    sig, relu = g["sigmoid"], g["relu"]
    e0 = sig["epochs"][0]
    return {
        "a_sigmoid": sig["attenuation"][e0],
        "a_relu": relu["attenuation"][e0],
        "saturated_max": max(sig["saturated"].values()),
        "saturated_init": sig["saturated"][e0],
        "bound": exp_config(exp, "gradient_norms")["saturation_bound"],
    }


def sparsity_inputs(res: Mapping[str, Any]) -> Dict[str, Any]:
    """Claim 3: ReLU's share of exact zeros in the deep MLP and in the article's net."""
    exp = res["experiments"]
    relu = grad_summary(exp)["relu"]
    first, last = relu["epochs"][0], relu["epochs"][-1]
    art = [r for r in exp["article"]["runs"] if r["activation"] == "relu"]
    mlp = _layers(exp, "gradient_norms")
    return {
        "fractions": {
            f"{mlp}, init": relu["zeros"][first],
            f"{mlp}, epoch {last}": relu["zeros"][last],
            "article net, init": _median([r["zero_fraction_init"] for r in art]),
            "article net, end": _median([r["zero_fraction_final"] for r in art]),
        }
    }


def dying_inputs(res: Mapping[str, Any]) -> Dict[str, Any]:
    """Claim 4: ReLU's dead share at the end at the normal and the high rate, LeakyReLU's stuck
    share at the high rate."""
    d = dying_summary(res["experiments"])
    extra = [
        ("train error ReLU, high lr", d[("relu", "high")]["error_end"]),
        ("train error LeakyReLU, high lr", d[("leaky_relu", "high")]["error_end"]),
    ]
    for act in ("prelu", "elu"):
        if (act, "high") in d:
            extra.append((f"{act} stuck negative, high lr", d[(act, "high")]["dead_end"]))
    return {
        "relu_dead_normal": d[("relu", "normal")]["dead_end"],
        "relu_dead_high": d[("relu", "high")]["dead_end"],
        "leaky_stuck_high": d[("leaky_relu", "high")]["dead_end"],
        "extra": extra,
    }


def elu_cost_inputs(res: Mapping[str, Any]) -> Dict[str, Any]:
    """Claim 5: ELU's time / LeakyReLU's, forward and backward, torch's kernels and ours (> 1: ELU costs more)."""
    ratios = {}
    for impl, who in (("native", "torch"), ("ours", "ours")):
        cmp_ = compare_run(res, impl)
        for kind in ("forward", "backward"):
            r = compare_ratio(cmp_, "elu", "leaky_relu", (kind,))
            ratios[f"ELU/LeakyReLU {kind}, {who}"] = r["median"]
    return {"ratios": ratios}


def prelu_inputs(res: Mapping[str, Any]) -> Dict[str, Any]:
    """Claim 6: per experiment, the median distance of PReLU's learned slopes from the initial one."""
    exp = res["experiments"]
    src, init = prelu_sources(exp), prelu_init(exp)
    return {
        "median_shift": {k: _median([abs(a - init) for a in vals]) for k, vals in src.items()},
        "extra": [(f"median slope, {k}", _median(vals)) for k, vals in src.items()],
        "init": init,
    }


def article_inputs(res: Mapping[str, Any]) -> Dict[str, Any]:
    """Claim 7: the final loss of each activation in the article's experiment, per seed in seed order."""
    return {"final_losses": article_finals(res["experiments"])}


def build_verdicts(res: Mapping[str, Any]) -> List[V.Verdict]:
    size = K.size_label(compare_run(res, "native")["n"])
    verdicts: List[V.Verdict] = []

    v = V.speedup(
        "1(a)",
        "ReLU 6x faster than Sigmoid, read as: time per element of the activation kernels (forward + backward)",
        **kernel_speed_inputs(res),
    )
    v.note = f"R: torch's kernels, forward + backward at {size} float32 elements, paired rounds."
    verdicts.append(v)

    cfg = res["step"]["config"]
    v = V.speedup(
        "1(b)",
        "ReLU 6x faster than Sigmoid, read as: time per training step of a network",
        **step_speed_inputs(res),
    )
    v.note = (
        f"R: MLP {cfg['in_features']}-{cfg['width']}x{cfg['depth']}-{cfg['classes']}, batch {cfg['batch']}, "
        "torch.nn modules, paired rounds."
    )
    verdicts.append(v)

    ttt = res["experiments"]["time_to_target"]
    summ, tcfg = ttt["summary"], ttt["config"]
    v = V.speedup(
        "1(c)",
        "ReLU 6x faster than Sigmoid, read as: epochs and seconds to a training-error target, learning rate "
        "tuned per activation",
        **time_to_target_inputs(res),
    )
    edge = [
        a for a, s in summ.items() if s["reached"] and s["best_lr"] in (min(tcfg["lrs"]), max(tcfg["lrs"]))
    ]
    v.note = (
        f"R: median epochs over {len(tcfg['seeds'])} seed(s) to {tcfg['target_error']:.0%} training error on "
        f"digits, each activation at its best learning rate of {list(tcfg['lrs'])}."
        + (f" Best rate at the edge of the grid for: {', '.join(edge)}." if edge else "")
    )
    verdicts.append(v)

    verdicts.append(V.vanishing(**vanishing_inputs(res)))
    verdicts.append(V.sparsity(**sparsity_inputs(res)))
    verdicts.append(V.dying(**dying_inputs(res)))
    v = V.elu_cost(**elu_cost_inputs(res))
    v.note = f"At {size} float32 elements."
    verdicts.append(v)
    verdicts.append(V.prelu_learns(**prelu_inputs(res)))
    verdicts.append(V.article(**article_inputs(res)))
    verdicts += [
        rule(**inputs(res))
        for name, (_, inputs, rule, _) in LATER_CLAIMS.items()
        if name in res["experiments"]
    ]
    return verdicts


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------


IMPL_LABELS = {
    "ours": "ours",
    "native": "torch",
    "compiled": "torch.compile(torch)",
    "prealloc": "copy, preallocated",
    "alloc": "copy, new output",
}


def kernel_index(rows: Sequence[Mapping[str, Any]]) -> Dict[Tuple, Mapping[str, Any]]:
    return {(r["kind"], r["activation"], r["dtype"], r["n"]): r for r in rows}


def write_csv(res: Mapping[str, Any], path: Path) -> None:
    sources = [("main", res["environment"]["torch"], res["kernels"]["rows"])]
    if "baseline" in res:
        sources.append(("baseline", res["baseline"]["environment"]["torch"], res["baseline"]["rows"]))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "source",
                "torch",
                "kind",
                "activation",
                "dtype",
                "n",
                "impl",
                "median_s",
                "p25_s",
                "p75_s",
                "gbps",
                "rounds",
                "threads",
            ]
        )
        for source, tv, rows in sources:
            for r in rows:
                for impl, samples in r["times"].items():
                    q = K.quantiles(samples)
                    w.writerow(
                        [source, tv, r["kind"], r["activation"] or "", r["dtype"], r["n"], impl]
                        + [f"{q['median']:.9g}", f"{q['p25']:.9g}", f"{q['p75']:.9g}"]
                        + [f"{r['bytes'] / q['median'] / 1e9:.4g}", len(samples), r.get("threads") or ""]
                    )


def header_section(res: Mapping[str, Any], tag: str) -> str:
    env = res["environment"]
    pe, ps = res["probe_end"], res["probe_start"]
    lines = [
        f"# Activation functions: the article's claims, and our kernels against PyTorch (`{tag}`)",
        "",
        f"Produced by `{env['command']}` in {res['seconds'] / 60:.1f} min ({res['mode']} mode), {env['date_utc']}.",
        "",
        table(
            ["", ""],
            [
                ["device", f"{env['device']}: {env['device_name']}"],
                ["processor", f"{processor_name(env)}, {env['cpu_count']} cores"],
                [
                    "torch",
                    f"{env['torch']}" + (f" (CUDA {env['torch_cuda']})" if env.get("torch_cuda") else ""),
                ],
                ["threads used", res["threads_why"]],
                ["clock", CLOCK_NOTES.get(res["clock"], res["clock"])],
                [
                    "our CPU kernels",
                    env["cpu_kernel_isa"] + f" (torch's CPU capability: {env['torch_cpu_capability']})",
                ],
                [
                    "torch's CPU libraries",
                    describe_libraries(env["torch_cpu_libraries"]) if "torch_cpu_libraries" in env else "n/a",
                ],
                ["python", f"{env['python']} on {env['platform']}"],
                [
                    "load average at start / end",
                    f"{ps['load_average'][0]:.2f} / {pe['load_average'][0]:.2f}"
                    if ps.get("load_average")
                    else "n/a",
                ],
                [
                    "contention probe at end",
                    f"64K copy {pe['copy_64k_us_all_threads']:.1f} µs on {pe['threads']} thread(s), "
                    f"{pe['copy_64k_us_one_thread']:.1f} µs on one"
                    + (" (cores busy with other work)" if pe["contended"] else ""),
                ],
            ],
        ),
        "",
        "This machine is shared: other people's compilers and test runs may use its cores during the run, so "
        "absolute times are noisy. Every comparison is therefore measured interleaved in one process (each round "
        "times every contender once, in a shuffled order), and quoted as the median of the per-round ratios with "
        "the interquartile range in brackets. Raw samples are in `results.json` and `kernels.csv`.",
        "",
    ]
    if "baseline" in res:
        b = res["baseline"]["environment"]
        lines += [
            f"Kernel tables also carry the same measurements under torch {b['torch']} "
            f"(`{b['executable']}`, with a copy of this package built for it), run in their own process; "
            "their ratios are paired within that process.",
            "",
        ]
    if "baseline_error" in res:
        lines += [f"The measurements under the second torch failed: `{res['baseline_error'][:300]}`", ""]
    return "\n".join(lines)


PROVISIONAL = (
    "**Quick mode: every verdict below is provisional.** It rests on one seed or a few, a few epochs and "
    "short timings, and can differ from what the full run (`make bench`) finds; the rules are the full "
    "run's."
)


def verdict_section(verdicts: Sequence[V.Verdict], provisional: bool = False) -> str:
    """The verdict table; ``provisional`` (a quick run) says so in the table and above it."""
    rows = []
    for v in verdicts:
        nums = "; ".join(f"{label} = {fmt_num(val)}" for label, val in v.evidence)
        if v.note:
            nums += f". {v.note}"
        rows.append([v.claim, v.title, f"**{v.verdict}**" + (" (provisional)" if provisional else ""), nums])
    out = [
        "## 1. The claims: verdicts",
        "",
        *([PROVISIONAL, ""] if provisional else []),
        table(["#", "claim", "verdict", "measured numbers it rests on"], rows),
        "",
        KRIZHEVSKY,
        "",
        "### How the verdicts are decided",
        "",
        "The rules are code (`bench/verdicts.py`, unit-tested in `tests/test_verdicts.py`); this is their text:",
        "",
    ]
    # The text each verdict was decided by (1(a)-(c) share one rule), so that
    # settings read from the results (claim 2's bound, claim 6's initial slope)
    # are the ones printed.
    rules = {v.claim.split("(")[0]: v.rule for v in verdicts}
    for claim, rule in rules.items():
        out.append(f"- **{claim}**: {rule}")
    out.append("")
    return "\n".join(out)


def kernel_tables(res: Mapping[str, Any], out_dir: Path, figures: List[str]) -> str:
    kern = res["kernels"]
    rows = kern["rows"]
    idx = kernel_index(rows)
    base_idx = kernel_index(res["baseline"]["rows"]) if "baseline" in res else {}
    btorch = res["baseline"]["environment"]["torch"] if "baseline" in res else None
    mtorch = res["environment"]["torch"]
    cfg = kern["config"]
    acts = [a.name for a in K.activations()]
    out = [
        "## 2. Our kernels against PyTorch",
        "",
        f"Inputs are standard-normal tensors of shape (N/{K.COLS}, {K.COLS}) (PReLU: {K.COLS} channels). Both sides "
        "allocate their output per call, as user code does. Forward moves 2N elements (read x, write y), backward "
        "3N (read the incoming gradient and the saved tensor, write the input gradient); GB/s = bytes / median "
        "time, and '% copy' compares it with a copy into a preallocated tensor of the same size, measured in the "
        f"same run: the ceiling for a pass that reads and writes memory once. {cfg['rounds']} interleaved rounds per "
        "cell; ratio = median [interquartile range] of per-round ours/torch. Backward is timed through autograd "
        "(`torch.autograd.grad` on a kept graph), so it includes the engine's per-call cost. "
        + (
            "tanh is torch's own (the library has no Tanh yet)."
            if K.get_activation("tanh").ours is None
            else ""
        ),
        "",
        "### 2.1 The copy ceiling",
        "",
    ]
    crow = []
    for dt in cfg["dtypes"]:
        for n in sorted({r["n"] for r in rows if r["kind"] == "copy" and r["dtype"] == dt}):
            st = K.row_stats(idx[("copy", None, dt, n)])
            crow.append(
                [
                    dt,
                    K.size_label(n),
                    fmt_time(st["time"]["prealloc"]["median"]),
                    f"{st['gbps']['prealloc']:.1f}",
                    fmt_time(st["time"]["alloc"]["median"]),
                    f"{st['gbps']['alloc']:.1f}",
                    fmt_ratio(st["ratio"].get("alloc/prealloc")),
                ]
            )
    out += [
        table(["dtype", "N", "copy (prealloc)", "GB/s", "copy (new output)", "GB/s", "new/prealloc"], crow),
        "",
        "A new output of more than about 1 MB is fresh memory from the system on every call here: its pages are "
        "faulted in on first touch. The 'new/prealloc' column measures that cost; where it is large it weighs on "
        "both sides of every allocating comparison below alike.",
        "",
    ]
    compile_note = ""
    if cfg["compile"]:
        fails = kern.get("compile_failures") or {}
        spent = sum((kern.get("compile_s") or {}).values())
        compile_note = (
            f"torch.compile column: torch's functional compiled with `dynamic=True`, once per activation and "
            f"dtype ({spent:.0f} s of compiling in all, budget {cfg['compile_budget_s']:.0f} s)"
            + (f"; failed for {', '.join(sorted(fails))}" if fails else "")
            + "."
        )
    else:
        compile_note = "torch.compile column: not measured in this mode."
    for dt in cfg["dtypes"]:
        for kind in ("forward", "backward"):
            trs = []
            for a in acts:
                for n in cfg["sizes"]:
                    r = idx.get((kind, a, dt, n))
                    if r is None:
                        continue
                    st = K.row_stats(r)
                    cst = K.row_stats(idx[("copy", None, dt, n)])
                    copy_gbps = cst["gbps"]["prealloc"]
                    t = st["time"]
                    cells = [
                        a,
                        K.size_label(n),
                        fmt_time(t["ours"]["median"]) if "ours" in t else "-",
                        fmt_time(t["native"]["median"]),
                        fmt_ratio(st["ratio"].get("ours/native")),
                        f"{st['gbps']['ours']:.1f} ({fmt_pct(100 * st['gbps']['ours'] / copy_gbps)})"
                        if "ours" in t
                        else "-",
                        f"{st['gbps']['native']:.1f} ({fmt_pct(100 * st['gbps']['native'] / copy_gbps)})",
                        (
                            fmt_time(t["compiled"]["median"])
                            + " / "
                            + fmt_ratio(st["ratio"].get("compiled/native"))
                        )
                        if "compiled" in t
                        else (r["skipped"].get("compiled", "-")[:40] if cfg["compile"] else "-"),
                    ]
                    if base_idx:
                        br = base_idx.get((kind, a, dt, n))
                        if br is not None:
                            bst = K.row_stats(br)
                            cells += [
                                fmt_time(bst["time"]["native"]["median"]),
                                fmt_ratio(bst["ratio"].get("ours/native")),
                                f"{_median(r['times']['native']) / bst['time']['native']['median']:.2f}",
                            ]
                        else:
                            cells += ["-", "-", "-"]
                    trs.append(cells)
            head = [
                "activation",
                "N",
                "ours",
                f"torch {mtorch}",
                "ours/torch",
                "ours GB/s (% copy)",
                "torch GB/s (% copy)",
                "torch.compile / ratio to torch",
            ]
            if base_idx:
                head += [f"torch {btorch}", f"ours/torch under {btorch}", f"torch {mtorch} / torch {btorch}"]
            out += [f"### 2.2 {kind.capitalize()}, {dt}", "", table(head, trs), ""]
    out += [compile_note, ""]
    for dt in cfg["dtypes"]:
        name = f"throughput-{dt}.png"
        P.throughput(
            rows,
            dt,
            out_dir / name,
            {**IMPL_LABELS, "baseline_native": f"torch {btorch}", "baseline_ours": f"ours under {btorch}"},
            res["baseline"]["rows"] if "baseline" in res else None,
        )
        figures.append(name)
        out += [f"![throughput {dt}]({name})", ""]
    if base_idx:
        out += [
            f"The third-from-last columns time torch {btorch}'s kernels; the last column divides torch {mtorch}'s time "
            f"by torch {btorch}'s (times from two processes, so only indicative). In the figures, dashed lines are "
            f"torch {btorch}'s own and our kernels built for it.",
            "",
        ]

    # in place
    ip = []
    for dt in cfg["dtypes"]:
        for n in cfg["inplace_sizes"]:
            for a in acts:
                r = idx.get(("inplace", a, dt, n))
                if r is None:
                    continue
                st = K.row_stats(r)
                fwd = idx.get(("forward", a, dt, n))
                cells = [
                    a,
                    dt,
                    K.size_label(n),
                    fmt_time(st["time"]["ours"]["median"]),
                    fmt_time(st["time"]["native"]["median"]),
                ]
                cells.append(fmt_ratio(st["ratio"].get("ours/native")))
                if fwd is not None:
                    fst = K.row_stats(fwd)
                    cells.append(f"{fst['time']['ours']['median'] / st['time']['ours']['median']:.2f}")
                    cells.append(f"{fst['time']['native']['median'] / st['time']['native']['median']:.2f}")
                else:
                    cells += ["-", "-"]
                if base_idx and ("inplace", a, dt, n) in base_idx:
                    cells.append(
                        fmt_ratio(K.row_stats(base_idx[("inplace", a, dt, n)])["ratio"].get("ours/native"))
                    )
                ip.append(cells)
    head = [
        "activation",
        "dtype",
        "N",
        "ours in place",
        "torch in place",
        "ours/torch",
        "ours: allocating / in place",
        "torch: allocating / in place",
    ]
    if base_idx:
        head.append(f"ours/torch under {btorch}")
    out += [
        "### 2.3 In place: no allocation",
        "",
        "`inplace=True` on both sides, the same tensor modified again every call (the kernels do the same work "
        "whatever the values). The last columns divide the allocating forward's time (from 2.2) by the in-place "
        "one: the cost of a fresh output, page faults included.",
        "",
        table(head, ip),
        "",
    ]

    # per-call cost
    out += [
        "### 2.4 Per-call cost: functional, module, forward + backward",
        "",
        "Small float32 inputs, where a call's cost is Python, the dispatcher and autograd rather than the kernel. "
        + PC.LEGEND
        + (
            " Each case is measured under `torch.set_num_threads(n)` for n = "
            + ", ".join(str(t) for t in cfg["percall_threads"])
            + ", whatever the run's own setting: the thread count changes the path (parallel regions) and the "
            "clock (thread CPU time on one thread, the wall clock on more, where a descheduled thread shows as a "
            "long round)."
            if cfg.get("percall_threads")
            else ""
        ),
        "",
    ]
    out += _percall_section(res, rows, cfg)
    if base_idx:
        out += [f"The same under torch {btorch} (its own process):", ""]
        out += _percall_section(res, res["baseline"]["rows"], res["baseline"].get("config", cfg))
    out += targets_section(res, idx, base_idx, btorch)
    return "\n".join(out)


def _percall_sizes(cfg: Mapping[str, Any]) -> List[int]:
    """The per-call sizes of a configuration. Results written before the
    functional and module cases measured forward + backward alone, at ``overhead_sizes``."""
    return list(cfg.get("percall_sizes") or cfg.get("overhead_sizes") or [])


def _percall_section(
    res: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], cfg: Mapping[str, Any]
) -> List[str]:
    pidx = K.percall_index(rows, res.get("threads"))
    threads = sorted({t for (_, _, _, t) in pidx})
    if not threads:
        return ["Not measured in this run.", ""]
    out = PC.percall_tables(pidx, [s.name for s in K.SPECS], _percall_sizes(cfg), threads)
    if not any(r.get("threads") for r in rows if r["kind"] in K.PERCALL_KINDS):
        n = res.get("threads")
        out += [f"These rows predate the per-case thread count: they ran on the run's {n} thread(s).", ""]
    return out


def targets_section(res, idx, base_idx, btorch) -> List[str]:
    """The core issue's speed targets, checked against this run."""
    mtorch = res["environment"]["torch"]
    cfg = res["kernels"]["config"]

    def worst(index, kinds, sizes, acts=None):
        vals = []
        for (kind, a, dt, n), r in index.items():
            if kind in kinds and n in sizes and (acts is None or a in acts) and "ours" in r["times"]:
                q = K.row_stats(r)["ratio"].get("ours/native")
                if q:
                    vals.append((q["median"], f"{a} {kind} {dt} {K.size_label(n)}"))
        return max(vals) if vals else None

    spec_names = [s.name for s in K.SPECS]
    checks = [
        (
            f"each forward and backward at {', '.join(K.size_label(n) for n in TARGET_LARGE_SIZES)}: ours/torch <= {TARGET_LARGE:g}",
            ("forward", "backward"),
            TARGET_LARGE_SIZES,
            spec_names,
            TARGET_LARGE,
        ),
        (
            f"ELU forward at those sizes: ours/torch <= {TARGET_ELU_FORWARD:g}",
            ("forward",),
            TARGET_LARGE_SIZES,
            ["elu"],
            TARGET_ELU_FORWARD,
        ),
    ]
    rows = []
    for label, kinds, sizes, acts, limit in checks:
        cells = [label]
        for index in [idx] + ([base_idx] if base_idx else []):
            w = worst(index, kinds, sizes, acts)
            if w is None:
                cells.append("not measured in this mode")
            else:
                cells.append(f"{w[0]:.2f} ({w[1]}): {'met' if w[0] <= limit else 'not met'}")
        rows.append(cells)
    t = TARGET_PERCALL_THREADS
    on = f"{t} thread{'s' if t != 1 else ''}"
    percall_checks = [
        ("functional forward", "call_fwd", TARGET_CALL_FWD_SIZES, TARGET_CALL_FWD),
        ("module forward", "module_fwd", TARGET_MODULE_FWD_SIZES, TARGET_MODULE_FWD),
        ("forward + backward", "fwd_bwd", TARGET_FWD_BWD_SIZES, TARGET_FWD_BWD),
    ]
    pidxs = [K.percall_index(res["kernels"]["rows"], res.get("threads"))]
    if base_idx:
        pidxs.append(K.percall_index(res["baseline"]["rows"], res.get("threads")))
    for what, kind, sizes, limit in percall_checks:
        cells = [
            f"per call, {what} at {', '.join(K.size_label(n) for n in sizes)}, {on}: ours/torch <= {limit:g}"
        ]
        for pidx in pidxs:
            w = K.worst_ratio(pidx, (kind,), sizes, t, spec_names)
            if w is None:
                cells.append("not measured in this run")
            else:
                _, a, n = w[1]
                verdict = "met" if w[0] <= limit else "not met"
                cells.append(f"{w[0]:.2f} ({a} {K.KIND_LABELS[kind]} {K.size_label(n)}): {verdict}")
        rows.append(cells)
    head = ["target (median of paired ratios)", f"worst case against torch {mtorch}"]
    if base_idx:
        head.append(f"worst case against torch {btorch}")
    return [
        "### 2.5 The speed targets for our kernels",
        "",
        f"Sizes measured in this run: {', '.join(K.size_label(n) for n in cfg['sizes'])}; per call: "
        f"{', '.join(K.size_label(n) for n in _percall_sizes(cfg))}. Each cell names the worst case "
        "(the largest median ratio) among the activations of the spec table.",
        "",
        table(head, rows),
        "",
    ]


def step_and_memory(res: Mapping[str, Any], out_dir: Path, figures: List[str]) -> str:
    step = res["step"]
    c = step["config"]
    acts = list(dict.fromkeys(k.split("/")[0] for k in step["times"]))
    rows = []
    for a in acts:
        tn = step["times"].get(f"{a}/native")
        to = step["times"].get(f"{a}/ours")
        rows.append(
            [
                a,
                fmt_time(_median(to)) if to else "-",
                fmt_time(_median(tn)),
                fmt_ratio(step_ratio(step, f"{a}/ours", f"{a}/native")) if to else "-",
                fmt_ratio(step_ratio(step, f"{a}/native", "relu/native")),
                mib(step["peak_bytes"][f"{a}/ours"]) if to else "-",
                mib(step["peak_bytes"][f"{a}/native"]),
            ]
        )
    P.step_times_paired(step, out_dir / "step.png")
    figures.append("step.png")
    out = [
        "### 2.6 A training step of an MLP: our modules against torch.nn",
        "",
        f"MLP {c['in_features']} -> ({c['width']} -> activation) x {c['depth']} -> {c['classes']}, batch {c['batch']}, "
        "float32, cross-entropy, SGD; the same initial weights for both. All networks' steps are timed interleaved "
        f"in one measurement ({c['rounds']} rounds). Peak memory: the peak of live tensor memory during one step "
        "above what existed before it (the profiler's allocation events on the CPU; the CUDA allocator's peak on a GPU).",
        "",
        table(
            [
                "activation",
                "ours",
                "torch.nn",
                "ours/torch.nn",
                "torch.nn: this / ReLU",
                "peak MiB ours",
                "peak MiB torch.nn",
            ],
            rows,
        ),
        "",
        "![training step](step.png)",
        "",
    ]
    mem = res["saved_memory"]
    mc = mem["config"]
    mrows = []
    for r in mem["rows"]:
        mrows.append(
            [
                r["activation"],
                M.MODE_LABELS[r["mode"]],
                r["saved_storages"],
                mib(r["saved_bytes"]),
                mib(r["peak_tensor_bytes"]),
                mib(r["process_peak_bytes"]),
            ]
        )
    P.saved_memory(mem["rows"], out_dir / "memory.png", M.MODE_LABELS)
    figures.append("memory.png")
    method = mem["rows"][0]["process_peak_method"]
    one = mc["batch"] * mc["width"] * 4
    out += [
        "### 2.7 What backward keeps: `save_output=True`",
        "",
        f"Stack: (Linear({mc['width']}, {mc['width']}) -> activation) x {mc['depth']} -> Linear, input ({mc['batch']}, "
        f"{mc['width']}) {mc['dtype']}; one activation tensor is {mib(one)} MiB. Saved: unique storages held by autograd "
        "after the forward pass (`saved_tensors_hooks`). Peak tensor memory: as in 2.6, over forward + backward. "
        f"Process peak: {method}, each configuration in a fresh process.",
        "",
        table(
            ["activation", "mode", "saved storages", "saved MiB", "peak tensor MiB", "process peak MiB"],
            mrows,
        ),
        "",
        "![saved memory](memory.png)",
        "",
    ]
    return "\n".join(out)


# The gated operators' targets (ours against eager act(gate) * up).
GATED_TARGETS = {
    "fwd": 0.6,
    "fwd+bwd": 0.6,
    "compiled": 1.0,
    "saved": 2 / 3,
    "peak": 0.9,
    "peak_inplace": 0.8,
}


def _met(ok: bool) -> str:
    return "met" if ok else "missed"


def gated_section(res: Mapping[str, Any], out_dir: Path, figures: List[str]) -> str:
    out = ["### 2.8 Gated MLP activations: SwiGLU fused", ""]
    gated = res.get("gated")
    if not gated:
        return "\n".join(out + ["Not measured in this run (its results predate the gated operators).", ""])
    rows = gated["rows"]
    has = {v for r in rows for v in r["times"]}
    variants = [v for v in ("ours", "eager", "compiled", "liger") if v in has]
    head = ["tokens x intermediate", "dtype", "pass"] + [f"{v} ms" for v in variants]
    head += [f"ours/{v}" for v in variants if v != "ours"] + ["ours GB/s", "copy GB/s", "target"]
    trs = []
    for r in rows:
        med = {v: _median(r["times"][v]) for v in variants if v in r["times"]}
        ratios = [fmt_num(med["ours"] / med[v]) if v in med else "-" for v in variants if v != "ours"]
        ok = med["ours"] / med["eager"] <= GATED_TARGETS[r["pass"]]
        if "compiled" in med:
            ok = ok and med["ours"] <= med["compiled"] * GATED_TARGETS["compiled"]
        trs.append(
            [f"{r['tokens']} x {r['intermediate']}", r["dtype"], r["pass"]]
            + [fmt_time(med[v]) if v in med else "-" for v in variants]
            + ratios
            + [fmt_num(r["ours_gbps"]), fmt_num(r["copy_gbps"]), _met(ok)]
        )
    P.gated_times(rows, out_dir / "gated.png")
    figures.append("gated.png")
    sv = gated["saved"]
    saved_ratio = sv["ours"]["bytes"] / sv["eager"]["bytes"] if sv["eager"]["bytes"] > 0 else float("nan")
    mem = {m["mode"]: m for m in gated["mlp_memory"]}
    hidden, inter, tokens = gated["config"]["mlp"]
    eager_peak = mem["eager"]["peak_tensor_bytes"]
    mrows = []
    for mode, label, key in (
        ("eager", "eager LlamaMLP form", None),
        ("ours", "GatedMLP", "peak"),
        ("ours_inplace_backward", "GatedMLP(inplace_backward=True)", "peak_inplace"),
    ):
        m = mem[mode]
        ratio = m["peak_tensor_bytes"] / eager_peak if eager_peak > 0 else float("nan")
        mrows.append(
            [
                label,
                m["saved_storages"],
                mib(m["saved_bytes"]),
                mib(m["peak_tensor_bytes"]),
                fmt_num(ratio),
                "-" if key is None else f"<= {GATED_TARGETS[key]:g}: {_met(ratio <= GATED_TARGETS[key])}",
            ]
        )
    cfg = gated["config"]
    out += [
        "`activations_ext.functional.swiglu(gate, up)` (one pass forward, one pass for both gradients) against eager "
        "`F.silu(gate) * up` and `torch.compile` of that eager form"
        + (", and Liger-Kernel's `LigerSiLUMulFunction`" if gated.get("liger") else "")
        + f". Medians of {cfg['rounds']} interleaved rounds; forward+backward computes both gradients. GB/s counts "
        "the bytes the fused kernels move (3N forward, 8N forward+backward); the copy moves 2N of the same N in the "
        f"same rounds. Target: at most {GATED_TARGETS['fwd']:g}x eager time and no slower than torch.compile.",
        "",
        table(head, trs),
        "",
        "![gated](gated.png)",
        "",
        f"What autograd keeps for the gating alone ({cfg['shapes'][0][0]} x {cfg['shapes'][0][1]} float32): ours "
        f"{sv['ours']['storages']} tensors, {mib(sv['ours']['bytes'])} MiB (gate and up); eager "
        f"{sv['eager']['storages']} tensors, {mib(sv['eager']['bytes'])} MiB (gate, silu(gate), up): "
        f"{fmt_num(saved_ratio)}x (target {GATED_TARGETS['saved']:.3g}: {_met(saved_ratio <= GATED_TARGETS['saved'] + 1e-9)}).",
        "",
        f"A training step (`zero_grad()`, forward, backward) of a Llama-style MLP, hidden {hidden}, intermediate "
        f"{inter}, {tokens} tokens, float32, no biases: the peak of live tensor memory above what existed before "
        "the step (measured as in 2.6; the weights' gradients are allocated in the step, alike in every mode); "
        "saved: unique storages autograd holds after the forward.",
        "",
        table(["MLP", "saved storages", "saved MiB", "peak MiB", "peak / eager", "target"], mrows),
        "",
    ]
    return "\n".join(out)


def bias_act_section(res: Mapping[str, Any]) -> str:
    out = ["### 2.10 Fused bias + activation: bias_act against eager", ""]
    ba = res.get("bias_act")
    if not ba:
        return "\n".join(out + ["Not measured in this run (its results predate this section).", ""])
    shapes = ", ".join(f"{r} x {f}" for r, f in ba["config"]["shapes"])
    out += [
        "`activations_ext.functional.bias_act(x, b, act, dim=1)` (one pass forward; one pass backward, which "
        "reduces the bias gradient inside it and keeps only x and b) against eager `x + b` then torch's "
        f"activation, for every act measured here, on inputs of rows x features ({shapes}). "
        + B.describe(ba["config"], ba["rows"]),
        "",
        *B.table_lines(ba["rows"]),
        "",
    ]
    return "\n".join(out)


def zoo_section(res: Mapping[str, Any]) -> str:
    out = ["### 2.9 Real models: converted against unconverted", ""]
    zoo = res.get("zoo")
    if not zoo:
        return "\n".join(out + ["Not measured in this run (its results predate this section).", ""])
    c = zoo["config"]
    out += [
        "Small but real configurations built from their configs (no weights downloaded), training in float32: "
        f"the language models on {c['batch']} sequences of {c['seq']} tokens with a vocabulary of {c['vocab']} "
        f"(cross-entropy over the vocabulary: the logits are {c['batch']} x {c['seq']} x {c['vocab']}), the vision "
        f"models on {c['image_batch']} images of 3 x {c['image']} x {c['image']} with 100 classes. A step is "
        "zero_grad, forward, loss, backward and an SGD step; the variants start from the same weights and are "
        f"timed interleaved ({c['rounds']} rounds, medians). Converted: `activations_ext.convert` (its "
        "activations and gated MLPs). Peak: the peak of live tensor memory in one step (as in 2.6).",
        "",
    ]
    head = ["model", "replaced", "converted", "unconverted"]
    compiled = any("compiled" in r["times"] for r in zoo["rows"])
    head += (["compile(unconverted)"] if compiled else []) + ["converted/unconverted"]
    head += (["converted/compiled"] if compiled else []) + [
        "peak MiB converted",
        "peak MiB unconverted",
        "peak ratio",
    ]
    rows = []
    for r in zoo["rows"]:
        t = {k: _median(v) for k, v in r["times"].items()}
        rep = ", ".join(f"{k} x{v}" for k, v in r["replaced"].items())
        row = [r["label"], rep, fmt_time(t["converted"]), fmt_time(t["unconverted"])]
        if compiled:
            row.append(fmt_time(t["compiled"]) if "compiled" in t else "-")
        row.append(fmt_num(r["converted/unconverted"]))
        if compiled:
            row.append(fmt_num(r["converted/compiled"]) if "converted/compiled" in r else "-")
        row += [
            mib(r["peak_bytes"]["converted"]),
            mib(r["peak_bytes"]["unconverted"]),
            fmt_num(r["peak converted/unconverted"]),
        ]
        rows.append(row)
    out += [table(head, rows), ""]
    for name, why in zoo.get("missing", {}).items():
        out.append(f"- {name}: left out, {why}.")
    skipped = [f"{r['label']}: {s}" for r in zoo["rows"] for s in r["skipped"]]
    out += [f"- skipped by convert: {s}" for s in skipped]
    out.append("")
    return "\n".join(out)


def experiments_section(
    res: Mapping[str, Any], verdicts: Sequence[V.Verdict], out_dir: Path, figures: List[str]
) -> str:
    exp = res["experiments"]
    vd = {v.claim: v for v in verdicts}
    out = ["## 3. The experiments behind the verdicts", ""]

    # claim 1
    native_cmp = next(c for c in res["compare"] if c["impl"] == "native")
    ours_cmp = next(c for c in res["compare"] if c["impl"] == "ours")
    n = native_cmp["n"]
    rows = []
    for a in COMPARE_ACTIVATIONS:
        cells = [a]
        for cmp_ in (native_cmp, ours_cmp):
            t = cmp_["times"]
            if f"{a}/forward" not in t:
                cells += ["-", "-", "-"]
                continue
            f, b = _median(t[f"{a}/forward"]), _median(t[f"{a}/backward"])
            cells += [f"{f / n * 1e9:.3f}", f"{b / n * 1e9:.3f}", fmt_ratio(compare_ratio(cmp_, a, "relu"))]
        rows.append(cells)
    out += [
        f"### Claim 1(a): time per element of the activation kernels ({vd['1(a)'].verdict})",
        "",
        f"{K.size_label(n)} float32 elements; all five activations' forward and backward interleaved in one "
        "measurement per implementation; 'vs ReLU' = median [IQR] of per-round (forward + backward) ratios.",
        "",
        table(
            [
                "activation",
                "torch fwd ns/elem",
                "torch bwd ns/elem",
                "torch: vs ReLU",
                "ours fwd ns/elem",
                "ours bwd ns/elem",
                "ours: vs ReLU",
            ],
            rows,
        ),
        "",
        "Zeros do not make a dense kernel cheaper: every element is read and written whatever its value, so "
        "ReLU's sparsity cannot cut the activation's own cost, and exp-based kernels cost more only where the "
        "pass is not limited by memory.",
        "",
        f"### Claim 1(b): time per training step ({vd['1(b)'].verdict})",
        "",
        "See 2.6: the column 'torch.nn: this / ReLU' is the per-step cost relative to ReLU's network.",
        "",
    ]
    ttt = exp["time_to_target"]
    tc = ttt["config"]
    td = digits_data(exp, "time_to_target")
    grid_rows = []
    for a, s in ttt["summary"].items():
        for lr, p in s["per_lr"].items():
            grid_rows.append(
                [
                    a,
                    lr,
                    fmt_num(p["median_epochs"]),
                    fmt_time(p["median_seconds"]) if math.isfinite(p["median_seconds"]) else "never",
                    f"{p['reached']}/{p['runs']}",
                    fmt_time(p["seconds_per_epoch"]),
                    "**best**" if float(lr) == s["best_lr"] else "",
                ]
            )
    P.time_to_target(ttt, out_dir / "time-to-target.png")
    figures.append("time-to-target.png")
    out += [
        f"### Claim 1(c): epochs and seconds to a training-error target ({vd['1(c)'].verdict})",
        "",
        f"scikit-learn's 8x8 digits ({td['images']} images, standardised), MLP {td['features']} -> ({tc['width']} -> "
        f"activation) x {tc['depth']} -> {td['classes']} with our modules, SGD with momentum {tc['momentum']:g}, batch {tc['batch']}, seeds {tc['seeds']}, at "
        f"most {tc['max_epochs']} epochs; target: training error <= {tc['target_error']:.0%}. Median over seeds "
        "('never' when the median run did not reach the target); seconds count training only, not the per-epoch "
        "evaluation, on the clock named in the header.",
        "",
        table(
            [
                "activation",
                "learning rate",
                "median epochs",
                "median seconds",
                "seeds reaching it",
                "s/epoch",
                "",
            ],
            grid_rows,
        ),
        "",
        "![time to target](time-to-target.png)",
        "",
    ]

    # claim 2 and 3
    g = grad_summary(exp)
    gc_ = exp_config(exp, "gradient_norms")
    gd = digits_data(exp, "gradient_norms")
    bound = gc_["saturation_bound"]
    P.grad_norms(exp["gradient_norms"], out_dir / "grad-norms.png", bound)
    figures.append("grad-norms.png")
    rows = []
    for a, s in g.items():
        e0, e1 = s["epochs"][0], s["epochs"][-1]
        rows.append(
            [
                a,
                fmt_num(s["attenuation"][e0]),
                fmt_num(s["attenuation"][e1]),
                fmt_num(s["saturated"][e0]),
                fmt_num(max(s["saturated"].values())),
                fmt_num(s["zeros"][e0]),
                fmt_num(s["zeros"][e1]),
                fmt_num(s["error"][e1]),
            ]
        )
    out += [
        f"### Claim 2: vanishing gradients ({vd['2'].verdict}); claim 3: sparsity ({vd['3'].verdict})",
        "",
        f"Digits, MLP with {gc_['depth'] + 1} Linear layers ({gd['features']} -> {gc_['width']} x {gc_['depth']} -> "
        f"{gd['classes']}), PyTorch's default "
        f"initialisation, Adam lr {gc_['lr']:g}, batch {gc_['batch']}, {gc_['epochs']} epochs, seeds {gc_['seeds']}. "
        "Gradient norms are of the full-data loss with respect to each Linear layer's weight. A = first layer's / "
        f"last layer's. Saturated: share of activation inputs with |x| > {bound:g}. Zeros: share of outputs exactly 0. "
        "Medians over seeds, means over hidden layers.",
        "",
        table(
            [
                "activation",
                "A at init",
                f"A at epoch {e1}",
                "saturated at init",
                "saturated, max",
                "zeros at init",
                f"zeros at epoch {e1}",
                f"train error at epoch {e1}",
            ],
            rows,
        ),
        "",
        "![gradient norms](grad-norms.png)",
        "",
    ]

    # claim 4
    d = dying_summary(exp)
    dc = exp["dying_units"]["config"]
    dd = digits_data(exp, "dying_units")
    P.dead_units(exp["dying_units"], out_dir / "dead-units.png")
    figures.append("dead-units.png")
    rows = [
        [
            a,
            lab,
            f"{s['lr']:g}",
            fmt_num(s["dead_end"]),
            fmt_num(s["dead_max"]),
            fmt_num(s["error_end"]),
            s["seeds"],
        ]
        for (a, lab), s in d.items()
    ]
    out += [
        f"### Claim 4: dying units ({vd['4'].verdict})",
        "",
        f"Digits, MLP {dd['features']} -> ({dc['width']} -> activation) x {dc['depth']} -> {dd['classes']}, Adam at a "
        "normal and a high learning "
        f"rate ({dc['lrs']}), batch {dc['batch']}, {dc['epochs']} epochs, seeds {dc['seeds']}. A unit counts as dead when "
        f"its input is <= 0 for every one of the {dd['images']} training images (measured with forward hooks after each "
        "epoch): for ReLU it then outputs 0 and gets no gradient; for the others it is stuck on the negative "
        "side but still passes a gradient.",
        "",
        table(
            [
                "activation",
                "lr",
                "value",
                "dead/stuck at end",
                "max during training",
                "train error at end",
                "seeds",
            ],
            rows,
        ),
        "",
        "![dead units](dead-units.png)",
        "",
    ]

    # claim 5
    out += [
        f"### Claim 5: ELU against LeakyReLU ({vd['5'].verdict})",
        "",
        "From the interleaved comparison of claim 1(a): "
        + "; ".join(f"{k} = {fmt_num(v)}" for k, v in vd["5"].evidence)
        + ".",
        "",
    ]

    # claim 6
    src, init = prelu_sources(exp), prelu_init(exp)
    P.prelu_slopes(src, out_dir / "prelu-slopes.png", init)
    figures.append("prelu-slopes.png")
    rows = []
    for k, vals in src.items():
        q = K.quantiles(vals)
        rows.append(
            [
                k,
                len(vals),
                fmt_num(min(vals)),
                fmt_num(q["p25"]),
                fmt_num(q["median"]),
                fmt_num(q["p75"]),
                fmt_num(max(vals)),
                fmt_num(_median([abs(a - init) for a in vals])),
            ]
        )
    out += [
        f"### Claim 6: where PReLU's slopes end up ({vd['6'].verdict})",
        "",
        f"Per-channel PReLU (one slope per unit, initial {init:g}), pooled over seeds.",
        "",
        table(["network", "slopes", "min", "25%", "median", "75%", "max", f"median abs(a - {init:g})"], rows),
        "",
        "![PReLU slopes](prelu-slopes.png)",
        "",
    ]

    # claim 7
    art = exp["article"]
    ac = exp_config(exp, "article")
    w = ac["width"]
    P.article_losses(art, out_dir / "article-losses.png")
    figures.append("article-losses.png")
    rows = []
    for a in ac["activations"]:
        rs = [r for r in art["runs"] if r["activation"] == a]
        finals = [r["final_loss"] for r in rs]
        half = [r["losses"][len(r["losses"]) // 2] for r in rs]
        rows.append(
            [
                a,
                f"{_mean(finals):.4f} +- {_std(finals):.4f}",
                f"{_mean(half):.4f}",
                f"{_mean([r['accuracy'] for r in rs]):.3f}",
                fmt_time(_median([r["seconds"] for r in rs])),
            ]
        )
    out += [
        f"### Claim 7: the article's experiment ({vd['7'].verdict})",
        "",
        f"As in the article: {ac['points']} points of a 2-D standard normal, label 1 when x1^2 + x2^2 > 1; "
        f"Linear(2,{w}) -> activation -> Linear({w},1) -> Sigmoid; BCE; Adam lr {ac['lr']:g}; {ac['epochs']} full-batch epochs. Seeds "
        f"{ac['seeds']} (each seed draws its own data and initial weights, the same for every activation). "
        "The article compares Sigmoid, ReLU and LeakyReLU(0.01); tanh, PReLU and ELU are extra.",
        "",
        table(
            [
                "activation",
                "final loss (mean +- std)",
                f"loss at epoch {ac['epochs'] // 2 + 1} (mean)",
                "accuracy (mean)",
                "time per run",
            ],
            rows,
        ),
        "",
        "![loss curves](article-losses.png)",
        "",
    ]
    for name, (claim, _, _, section) in LATER_CLAIMS.items():
        if name in exp:
            out += section(exp[name], vd[claim], out_dir, figures)
    return "\n".join(out)


def init_summary(result: Mapping[str, Any]) -> Dict[Tuple[str, float], Dict[str, float]]:
    """(activation, scale) -> medians over seeds of the layer-mean dead share at init and end, and the error."""
    groups: Dict[Tuple[str, float], List[Mapping[str, Any]]] = {}
    for r in result["runs"]:
        groups.setdefault((r["activation"], r["scale"]), []).append(r)
    return {
        k: {
            "dead_init": _median([_mean(r["dead_init"]) for r in rs]),
            "dead_end": _median([_mean(r["dead_end"]) for r in rs]),
            "error_end": _median([r["error_end"] for r in rs]),
            "seeds": len(rs),
        }
        for k, rs in groups.items()
    }


def init_inputs(res: Mapping[str, Any]) -> Dict[str, Any]:
    """Claim 9: ReLU's dead share at the end at 1x and at the largest scale, LeakyReLU's stuck share there."""
    result = res["experiments"]["large_init"]
    d = init_summary(result)
    scales = sorted(result["config"]["scales"])
    lo, hi = scales[0], scales[-1]
    extra = [(f"ReLU dead at init, x{hi:g}", d[("relu", hi)]["dead_init"])]
    extra.append((f"train error ReLU, x{hi:g}", d[("relu", hi)]["error_end"]))
    extra.append((f"train error LeakyReLU, x{hi:g}", d[("leaky_relu", hi)]["error_end"]))
    for act in ("prelu", "elu"):
        if (act, hi) in d:
            extra.append((f"{act} stuck at end, x{hi:g}", d[(act, hi)]["dead_end"]))
    return {
        "relu_dead_base": d[("relu", lo)]["dead_end"],
        "relu_dead_large": d[("relu", hi)]["dead_end"],
        "leaky_stuck_large": d[("leaky_relu", hi)]["dead_end"],
        "extra": extra,
    }


def init_section(
    result: Mapping[str, Any], verdict: V.Verdict, out_dir: Path, figures: List[str]
) -> List[str]:
    c, dd = result["config"], result["data"]
    d = init_summary(result)
    P.large_init(d, out_dir / "large-init.png")
    figures.append("large-init.png")
    rows = [
        [
            a,
            f"x{sc:g}",
            fmt_pct(100 * s["dead_init"]),
            fmt_pct(100 * s["dead_end"]),
            fmt_pct(100 * s["error_end"]),
            s["seeds"],
        ]
        for (a, sc), s in d.items()
    ]
    return [
        f"### Claim 9: large initial weights and dying units ({verdict.verdict})",
        "",
        f"The article (section 2.2) says ReLU units die when the initial weights are too large as well as when "
        f"the learning rate is too high (claim 4). Claim 4's digits MLP ({dd['features']} -> ({c['width']} -> "
        f"activation) x {c['depth']} -> {dd['classes']}), plain {c['optimizer'].upper()} at lr {c['lr']:g} (a rate that suits 1x), batch "
        f"{c['batch']}, {c['epochs']} epochs, seeds {c['seeds']}; every Linear's weights drawn from Kaiming-normal "
        f"(fan-in, ReLU's gain) times a scale of {list(c['scales'])}, biases zero. Dead (ReLU) or stuck (the "
        "others): input <= 0 for every training image, counted by the dead-unit monitor; mean over hidden "
        "layers, median over seeds. Scaling the weights changes no unit's sign at initialisation (ReLU is "
        "positively homogeneous), so what dies, dies in training: with plain SGD the gradients, and so the "
        "steps, grow with the weights (Adam's steps would not, which is why this experiment does not use it).",
        "",
        table(
            ["activation", "initial scale", "dead/stuck at init", "at end", "train error at end", "seeds"],
            rows,
        ),
        "",
        "![large initialisation](large-init.png)",
        "",
    ]


def collapse_inputs(res: Mapping[str, Any]) -> Dict[str, Any]:
    """Claim 8: per seed, in seed order."""
    runs = sorted(res["experiments"]["linear_collapse"]["runs"], key=lambda r: r["seed"])
    return {
        "collapse_errors": [r["collapse_rel_error"] for r in runs],
        "linear_accuracy": [r["none_accuracy"] for r in runs],
        "logistic_accuracy": [r["logistic_accuracy"] for r in runs],
        "relu_accuracy": [r["relu_accuracy"] for r in runs],
        "majority_accuracy": [r["majority_accuracy"] for r in runs],
    }


def collapse_section(
    result: Mapping[str, Any], verdict: V.Verdict, out_dir: Path, figures: List[str]
) -> List[str]:
    c = result["config"]
    runs = result["runs"]
    P.linear_collapse(result, out_dir / "linear-collapse.png")
    figures.append("linear-collapse.png")

    def ms(key: str) -> str:
        v = [r[key] for r in runs]
        return f"{_mean(v):.3f} +- {_std(v):.3f}"

    rows = [
        ["majority class", ms("majority_accuracy"), "-"],
        ["logistic regression on (x1, x2)", ms("logistic_accuracy"), "-"],
        [f"{c['depth'] + 1} Linear layers, no activation", ms("none_accuracy"), ms("none_loss")],
        [f"{c['depth'] + 1} Linear layers, ReLU between", ms("relu_accuracy"), ms("relu_loss")],
    ]
    worst = max(r["collapse_rel_error"] for r in runs)
    return [
        f"### Claim 8: without an activation, layers collapse into one linear map ({verdict.verdict})",
        "",
        f"The article's circle data ({c['points']} points of a 2-D standard normal, label 1 outside the unit "
        f"circle); Linear(2,{c['width']}), then {c['depth'] - 1} x Linear({c['width']},{c['width']}), then "
        f"Linear({c['width']},1), with and without ReLU between the layers (the same initial weights); "
        f"BCE on the logits, Adam lr {c['lr']:g}, {c['epochs']} full-batch epochs; seeds {c['seeds']}. The best "
        "linear classifier is scikit-learn's logistic regression on the two inputs. The weights of the network "
        "without an activation, multiplied out (W = W_L ... W_1, in float64), reproduce its logits to "
        f"{worst:.2g} of their largest magnitude at worst: it computes one affine map, whatever its depth.",
        "",
        table(["model", "training accuracy (mean +- std)", "final loss (mean +- std)"], rows),
        "",
        "![linear collapse](linear-collapse.png)",
        "",
    ]


def negative_groups(result: Mapping[str, Any]) -> Dict[Tuple[str, str], List[Mapping[str, Any]]]:
    """(condition, activation) -> its runs in seed order."""
    groups: Dict[Tuple[str, str], List[Mapping[str, Any]]] = {}
    for r in sorted(result["runs"], key=lambda r: r["seed"]):
        groups.setdefault((r["condition"], r["activation"]), []).append(r)
    return groups


def negative_inputs(res: Mapping[str, Any]) -> Dict[str, Any]:
    """Claim 10: per negative-heavy condition, each activation's held-out balanced accuracy per seed."""
    result = res["experiments"]["negative_data"]
    g = negative_groups(result)

    def acc(cond: str, act: str) -> List[float]:
        return [r["balanced_accuracy"] for r in g[(cond, act)]]

    conditions = [
        V.Condition(c, acc(c, "relu"), acc(c, "leaky_relu"))
        for c in result["config"]["conditions"]
        if c != "standard"
    ]
    extra: List[Tuple[str, object]] = []
    if ("standard", "relu") in g:
        extra = [
            ("standard: ReLU", _mean(acc("standard", "relu"))),
            ("standard: LeakyReLU", _mean(acc("standard", "leaky_relu"))),
        ]
    return {"conditions": conditions, "extra": extra}


NEGATIVE_CONDITIONS = {
    "standard": "the article's data",
    "offset": "every input moved by {offset:g} on both axes",
    "negative_bias": "every hidden bias starts at {bias:g}",
    "imbalance": "class 1 only outside the circle that leaves {positive_share:.0%} of the points",
}


def negative_section(
    result: Mapping[str, Any], verdict: V.Verdict, out_dir: Path, figures: List[str]
) -> List[str]:
    c = result["config"]
    g = negative_groups(result)
    P.negative_data(g, list(c["conditions"]), out_dir / "negative-data.png")
    figures.append("negative-data.png")
    rows = []
    for (cond, act), rs in g.items():
        acc = [r["balanced_accuracy"] for r in rs]
        loss = [r["final_loss"] for r in rs]
        rows.append(
            [
                cond,
                act,
                fmt_pct(100 * _mean([r["positive_share"] for r in rs])),
                fmt_pct(100 * _mean([r["negative_inputs_init"] for r in rs])),
                fmt_pct(100 * _mean([r["dead_init"] for r in rs])),
                fmt_pct(100 * _mean([r["dead_end"] for r in rs])),
                f"{_mean(acc):.3f} +- {_std(acc):.3f}",
                f"{min(acc):.3f}",
                sum(1 for a in acc if a < V.FAILED_RUN_ACCURACY),
                f"{_mean(loss):.3f} +- {_std(loss):.3f}",
            ]
        )
    described = "; ".join(
        f"**{k}**: {NEGATIVE_CONDITIONS[k].format(**c)}" for k in c["conditions"] if k in NEGATIVE_CONDITIONS
    )
    return [
        f"### Claim 10: data with many negative inputs ({verdict.verdict})",
        "",
        "The article (sections 3.1 and 4.3) says that when the data hold many negative samples, or under "
        "extreme distributions, LeakyReLU is friendlier and more stable than ReLU. The article's network "
        f"(Linear(2,{c['width']}) -> activation -> Linear({c['width']},1)) on its circle data ({c['points']} "
        "training points, as many held out), under conditions that push the hidden units' inputs below zero: "
        f"{described}. BCE on the logits, Adam lr {c['lr']:g}, {c['epochs']} full-batch epochs, seeds "
        f"{c['seeds']}, the same initial weights for both activations in each seed. Balanced accuracy (the "
        "mean of the two classes' recalls, so that predicting the majority class scores 0.5) on the held-out "
        "points; dead: a hidden unit whose input is <= 0 for every training point. The offset makes the data "
        "negative and adds a constant to each unit's input, so that many units see inputs of one sign only "
        "(those on the negative side are dead for ReLU from the start); the negative bias puts most hidden "
        "inputs below zero; the imbalance leaves the inputs as they are and tests the 'extreme distribution' "
        "reading.",
        "",
        table(
            [
                "condition",
                "activation",
                "class 1",
                "hidden inputs <= 0 at init",
                "dead at init",
                "dead at end",
                "balanced accuracy (mean +- std)",
                "worst seed",
                f"failed (< {V.FAILED_RUN_ACCURACY:g})",
                "training loss (mean +- std)",
            ],
            rows,
        ),
        "",
        "![negative-heavy data](negative-data.png)",
        "",
    ]


def lenet_inputs(res: Mapping[str, Any]) -> Dict[str, Any]:
    """Claim 11: each activation's test accuracy and learning rate at its best rate."""
    result = res["experiments"]["lenet"]
    s = E.summarize_lenet(result)
    target = result["config"]["target_accuracy"]
    extra: List[Tuple[str, object]] = [
        (f"epochs to {target:.0%} validation, {a}", s[a]["epochs_to_target"] or "not reached")
        for a in ("sigmoid", "relu")
    ]
    lrs = sorted(result["config"]["lrs"])
    edge = [a for a in ("sigmoid", "relu") if len(lrs) > 1 and s[a]["best_lr"] in (lrs[0], lrs[-1])]
    if edge:
        extra.append(("best rate at the edge of the grid", ", ".join(edge)))
    return {
        "sigmoid_accuracy": s["sigmoid"]["test"],
        "relu_accuracy": s["relu"]["test"],
        "sigmoid_lr": s["sigmoid"]["best_lr"],
        "relu_lr": s["relu"]["best_lr"],
        "extra": extra,
    }


def lenet_section(
    result: Mapping[str, Any], verdict: V.Verdict, out_dir: Path, figures: List[str]
) -> List[str]:
    c, d = result["config"], result["data"]
    s = E.summarize_lenet(result)
    P.lenet(result, s, out_dir / "lenet.png")
    figures.append("lenet.png")
    rows = []
    for act, summ in s.items():
        for lr, cell in sorted(summ["by_lr"].items()):
            mark = " (best)" if lr == summ["best_lr"] else ""
            rows.append(
                [
                    act,
                    f"{lr:g}{mark}",
                    f"{cell['val_best']:.3f}",
                    f"{cell['test']:.3f}",
                    cell["epochs_to_target"] if cell["epochs_to_target"] is not None else "not reached",
                    cell["seeds"],
                ]
            )
    return [
        f"### Claim 11: Sigmoid in a shallow network ({verdict.verdict})",
        "",
        "The article (sections 3.1 and 5) says Sigmoid can still be used in shallow networks such as LeNet-5, "
        "with a lower learning rate and careful initialisation. LeNet-5 (two 5x5 convolutions with 2x2 average "
        "pooling, then 120, 84 and 10 units, the activation after every layer but the last) with Xavier-uniform "
        f"weights and zero biases, on scikit-learn's digits ({d['images']} images): each 8x8 image repeated 4x "
        "along both axes to LeNet-5's 32x32 input (zero padding to 32x32 would leave the 5x5 filters of the "
        "first layer mostly on empty border), split 60/20/20 into training, validation and test per seed. "
        f"SGD with momentum {c['momentum']:g}, batch {c['batch']}, {c['epochs']} epochs, learning rates "
        f"{list(c['lrs'])}, seeds {c['seeds']}. Per run the test accuracy is read at the epoch of its best "
        "validation accuracy; per activation and rate, medians over seeds; each activation's best rate is the "
        f"one with the best median validation accuracy. Epochs to {c['target_accuracy']:.0%}: the median over "
        "seeds of the first epoch whose validation accuracy reaches it (not reached when half the seeds or "
        "more never do).",
        "",
        table(
            [
                "activation",
                "learning rate",
                "best validation accuracy",
                "test accuracy",
                f"epochs to {c['target_accuracy']:.0%}",
                "seeds",
            ],
            rows,
        ),
        "",
        "![LeNet-5](lenet.png)",
        "",
    ]


def sparse_groups(result: Mapping[str, Any]) -> Dict[str, List[Mapping[str, Any]]]:
    """activation -> its runs in seed order."""
    groups: Dict[str, List[Mapping[str, Any]]] = {}
    for r in sorted(result["runs"], key=lambda r: r["seed"]):
        groups.setdefault(r["activation"], []).append(r)
    return groups


def sparse_inputs(res: Mapping[str, Any]) -> Dict[str, Any]:
    """Claim 12: per activation, the train-test gap per seed; ReLU's share of zeros."""
    g = sparse_groups(res["experiments"]["sparsity"])
    return {
        "relu_zeros": _median([r["zero_fraction"] for r in g["relu"]]),
        "gaps": {a: [r["train_accuracy"] - r["test_accuracy"] for r in rs] for a, rs in g.items()},
        "extra": [
            (f"test accuracy {a} (mean)", _mean([r["test_accuracy"] for r in rs])) for a, rs in g.items()
        ],
    }


def sparse_section(
    result: Mapping[str, Any], verdict: V.Verdict, out_dir: Path, figures: List[str]
) -> List[str]:
    c, d = result["config"], result["data"]
    g = sparse_groups(result)
    P.sparsity(g, out_dir / "sparsity.png")
    figures.append("sparsity.png")

    def ms(
        rs: Sequence[Mapping[str, Any]], f: Callable[[Mapping[str, Any]], float], spec: str = ".3f"
    ) -> str:
        v = [f(r) for r in rs]
        return f"{_mean(v):{spec}} +- {_std(v):{spec}}"

    rows = [
        [
            a,
            fmt_pct(100 * _mean([r["zero_fraction"] for r in rs])),
            ms(rs, lambda r: r["train_accuracy"]),
            ms(rs, lambda r: r["test_accuracy"]),
            ms(rs, lambda r: r["train_accuracy"] - r["test_accuracy"]),
            ms(rs, lambda r: r["train_loss"], ".2g"),
            ms(rs, lambda r: r["test_loss"], ".2g"),
        ]
        for a, rs in g.items()
    ]
    pair = []
    if "relu" in g and "leaky_relu" in g:
        diff = [
            (lk["train_accuracy"] - lk["test_accuracy"]) - (r["train_accuracy"] - r["test_accuracy"])
            for lk, r in zip(g["leaky_relu"], g["relu"])
        ]
        pair = [
            "ReLU and LeakyReLU differ only in ReLU's zeros (LeakyReLU passes 0.01x the negative inputs): "
            f"LeakyReLU's gap minus ReLU's, paired by seed, is {_mean(diff):+.4f} +- {_std(diff):.4f}.",
            "",
        ]
    return [
        f"### Claim 12: sparsity and overfitting ({verdict.verdict})",
        "",
        "The article (section 1.2) says ReLU's sparsity (negative inputs give exactly 0) reduces the risk of "
        f"overfitting. Little data: {d['train']} of the {d['images']} digits for training (a different random "
        f"subset per seed), the other {d['test']} for testing. An MLP {d['features']} -> ({c['width']} -> "
        f"activation) x {c['depth']} -> {d['classes']}, Adam lr {c['lr']:g}, batch {c['batch']}, {c['epochs']} "
        f"epochs, seeds {c['seeds']}, the same initial weights for every "
        "activation in a seed. Zeros: the share of hidden outputs on the test images that are exactly 0, mean "
        "over layers. Gap: training accuracy - test accuracy.",
        "",
        table(
            [
                "activation",
                "zeros",
                "training accuracy",
                "test accuracy",
                "gap (mean +- std)",
                "training loss",
                "test loss",
            ],
            rows,
        ),
        "",
        *pair,
        "![sparsity and overfitting](sparsity.png)",
        "",
    ]


# The claims whose experiments results written before them lack: experiment
# -> (claim, the rule's inputs, the rule, the section), in the report's order.
LATER_CLAIMS = {
    "linear_collapse": ("8", collapse_inputs, V.linear_collapse, collapse_section),
    "large_init": ("9", init_inputs, V.large_init, init_section),
    "negative_data": ("10", negative_inputs, V.negative_data, negative_section),
    "lenet": ("11", lenet_inputs, V.shallow_sigmoid, lenet_section),
    "sparsity": ("12", sparse_inputs, V.sparse_overfitting, sparse_section),
}


def _relative_to_checkout(env: Dict[str, Any]) -> None:
    """Paths inside this checkout are kept relative to it (the raw data travels)."""
    prefix = str(ROOT) + "/"
    for k, v in env.items():
        if isinstance(v, str) and prefix in v:
            env[k] = v.replace(prefix, "")


def write_report(res: Dict[str, Any], out_dir: Path, tag: str) -> Path:
    _relative_to_checkout(res["environment"])
    if "baseline" in res:
        _relative_to_checkout(res["baseline"]["environment"])
    figures: List[str] = []
    verdicts = build_verdicts(res)
    provisional = res.get("mode") == "quick"
    res["verdicts"] = [
        {
            "claim": v.claim,
            "title": v.title,
            "verdict": v.verdict,
            "evidence": v.evidence,
            "note": v.note,
            "rule": v.rule,
            "provisional": provisional,
        }
        for v in verdicts
    ]
    parts = [
        header_section(res, tag),
        verdict_section(verdicts, provisional),
        kernel_tables(res, out_dir, figures),
        step_and_memory(res, out_dir, figures),
        gated_section(res, out_dir, figures),
        zoo_section(res),
        bias_act_section(res),
        experiments_section(res, verdicts, out_dir, figures),
    ]
    raw = ["results.json", "kernels.csv"] + (["baseline-kernels.json"] if "baseline" in res else [])
    parts.append(
        "## 4. Raw data\n\n"
        + "\n".join(f"- `{f}`" for f in raw)
        + f"\n- figures: {', '.join(f'`{f}`' for f in figures)}\n\n"
        "`results.json` holds every sample behind every number above, with the environment (device, torch, "
        "threads, date, command line) and the configuration of each experiment (seeds included).\n"
    )
    res["figures"] = figures
    path = out_dir / "report.md"
    path.write_text("\n".join(parts))
    with open(out_dir / "results.json", "w") as f:
        json.dump(res, f, default=_json_default)
    if "baseline" in res:  # the second torch's own output, paths made relative as above
        with open(out_dir / "baseline-kernels.json", "w") as f:
            json.dump(res["baseline"], f, default=_json_default)
    write_csv(res, out_dir / "kernels.csv")
    return path


def _json_default(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, float) and math.isinf(o):
        return str(o)
    raise TypeError(type(o))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a one-minute version (CI and smoke tests)")
    p.add_argument(
        "--out", type=Path, default=None, help="output folder (default bench/results/<machine-tag>)"
    )
    p.add_argument(
        "--baseline-python", default=None, help="also measure the kernels under this python's torch"
    )
    p.add_argument("--threads", default="auto", help="'auto' (default) or a number of torch threads")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile column")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--rerender",
        action="store_true",
        help="measure nothing: write report.md and the figures again from the results.json in the output folder",
    )
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(argv)
    device = pick_device()
    tag = machine_tag(device)
    args.out = args.out or ROOT / "bench" / "results" / tag
    args.out.mkdir(parents=True, exist_ok=True)
    if args.rerender:
        res = json.loads((args.out / "results.json").read_text())
        path = write_report(res, args.out, res.get("tag", tag))
        print(f"wrote {path} from {args.out / 'results.json'}")
        return 0
    res = run(args)
    res["tag"] = tag
    path = write_report(res, args.out, tag)
    print(f"wrote {path} ({res['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
