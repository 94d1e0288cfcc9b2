"""The benchmark report: its wiring on the committed results, and its quick mode.

The committed Intel run (``bench/results/cpu-intel-xeon-processor-2c``) pins the
wiring from results.json to the verdicts: each claim's rule inputs are read
back as the committed report shows them, each verdict is the committed one,
and re-rendering gives the committed verdict section. The report's text
follows the experiments' configuration, and ``--threads auto`` and
``--baseline-python`` are checked on fakes (no second torch is built).

Then ``python -m bench.report --quick`` runs once (a few minutes) into a
temporary folder and what it wrote is inspected. No timing is asserted.
"""

from __future__ import annotations

import copy
import csv
import inspect
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from activations_ext.spec import SPECS  # noqa: E402
from bench import baseline as B  # noqa: E402
from bench import experiments as E  # noqa: E402
from bench import machine  # noqa: E402
from bench import report as R  # noqa: E402
from bench import verdicts as V  # noqa: E402

SECTIONS = [
    "## 1. The claims: verdicts",
    "### How the verdicts are decided",
    "## 2. Our kernels against PyTorch",
    "### 2.1 The copy ceiling",
    "### 2.2 Forward, float32",
    "### 2.2 Backward, float32",
    "### 2.2 Forward, bfloat16",
    "### 2.2 Backward, bfloat16",
    "### 2.3 In place: no allocation",
    "### 2.4 Per-call cost",
    "### 2.5 The speed targets",
    "### 2.6 A training step of an MLP",
    "### 2.7 What backward keeps",
    "### 2.8 Gated MLP activations",
    "### 2.9 Real models",
    "### 2.10 Fused bias + activation",
    "## 3. The experiments behind the verdicts",
    "### Claim 1(a)",
    "### Claim 1(b)",
    "### Claim 1(c)",
    "### Claim 2",
    "### Claim 4",
    "### Claim 5",
    "### Claim 6",
    "### Claim 7",
    "### Claim 8",
    "### Claim 9",
    "### Claim 10",
    "### Claim 11",
    "### Claim 12",
    "## 4. Raw data",
]
CLAIMS = ["1(a)", "1(b)", "1(c)", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"]


def _env():
    return dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )


# --------------------------------------------------------------------------
# The committed run: from results.json to the verdicts
# --------------------------------------------------------------------------

COMMITTED = ROOT / "bench" / "results" / "cpu-intel-xeon-processor-2c"

# The verdicts the committed results give, as the committed report.md states
# them. Written out on purpose: a change in how the numbers reach the rules
# (a ratio turned upside down, two arguments swapped) changes one of them. A
# deliberate change of a rule changes this table and the re-rendered report
# together.
COMMITTED_VERDICTS = {
    "1(a)": V.NOT,
    "1(b)": V.NOT,
    "1(c)": V.HOLDS,
    "2": V.HOLDS,
    "3": V.HOLDS,
    "4": V.PART,
    "5": V.HOLDS,
    "6": V.HOLDS,
    "7": V.HOLDS,
    "8": V.HOLDS,
    "9": V.PART,
    "10": V.PART,
    "11": V.PART,
    "12": V.PART,
}


@pytest.fixture(scope="module")
def committed():
    return json.loads((COMMITTED / "results.json").read_text())


def _fmt(pairs):
    """(label, number) pairs as the verdict table prints them."""
    return [(label, R.fmt_num(v)) for label, v in pairs]


def _verdict_section(text: str) -> str:
    return text[text.index("## 1. The claims: verdicts") : text.index("## 2. ")]


def _table_rows(text: str):
    """claim -> (verdict, the numbers cell) of the verdict table in a report.md."""
    rows = {}
    for line in _verdict_section(text).splitlines():
        cells = line[2:-2].split(" | ") if line.startswith("| ") else []
        if len(cells) == 4 and cells[0] in CLAIMS:
            rows[cells[0]] = (cells[2].strip("*"), cells[3])
    return rows


def _median(v):
    return statistics.median(v)


# Every committed full report (one per kind of processor) with its verdicts, written out as above.
# The numbers below are pinned on the Intel run alone; the others are checked for their wiring.
REPORT_VERDICTS = {
    COMMITTED.name: COMMITTED_VERDICTS,
    # AMD EPYC (AVX2 only): torch's Sigmoid kernels cost more here than on the Xeon, so 1(a) differs
    "cpu-amd-epyc-2c": {**COMMITTED_VERDICTS, "1(a)": V.PART},
    # AMD EPYC Zen 5 (AVX-512): 1(a) as on the other EPYC; 3 in part because the 10-layer MLP's zeros at
    # epoch 30 came to 0.3496, just under the rule's 0.35 (0.351 on the AVX2 EPYC); 5 in part because our
    # ELU backward at 1M float32 took 0.88x our LeakyReLU backward's time there (both near the copy's cost)
    "cpu-amd-epyc-zen5-2c": {**COMMITTED_VERDICTS, "1(a)": V.PART, "3": V.PART, "5": V.PART},
}
REPORT_RUNS = [ROOT / "bench" / "results" / name for name in REPORT_VERDICTS]


def test_every_committed_report_has_its_verdicts_pinned():
    on_disk = {p.parent.name for p in (ROOT / "bench" / "results").glob("cpu-*/report.md")}
    assert on_disk == set(REPORT_VERDICTS)


@pytest.mark.parametrize("folder", REPORT_RUNS, ids=lambda p: p.name)
def test_committed_verdicts_are_pinned(folder):
    res = json.loads((folder / "results.json").read_text())
    pinned = REPORT_VERDICTS[folder.name]
    assert res["mode"] == "full"
    verdicts = R.build_verdicts(res)
    assert {v.claim: v.verdict for v in verdicts} == pinned
    # as the committed report and raw data state them
    rows = _table_rows((folder / "report.md").read_text())
    assert {c: verdict for c, (verdict, _) in rows.items()} == pinned
    assert {v["claim"]: v["verdict"] for v in res["verdicts"]} == pinned


@pytest.mark.parametrize("folder", REPORT_RUNS, ids=lambda p: p.name)
def test_committed_verdict_section_is_rendered_again(folder):
    """The verdict table (each verdict beside its numbers) and the rules, as committed."""
    res = json.loads((folder / "results.json").read_text())
    text = (folder / "report.md").read_text()
    assert R.verdict_section(R.build_verdicts(res)).strip() == _verdict_section(text).strip()
    # the header names the processor the numbers come from
    assert res["environment"]["cpu_model"] in text[: text.index("## 1. ")]


def test_claim_1a_inputs(committed):
    k = R.kernel_speed_inputs(committed)
    assert R.fmt_num(k["ratio"]) == "1.09"
    assert _fmt(k["evidence"]) == [
        ("Sigmoid/ReLU, torch kernels, 1M fp32", "1.09"),
        ("Sigmoid/ReLU, our kernels, 1M fp32", "1.22"),
        ("tanh/ReLU, torch kernels, 1M fp32", "1.03"),
    ]
    # R is Sigmoid's time over ReLU's: from the raw samples, Sigmoid's kernels take
    # longer, so R > 1 means ReLU is faster.
    t = R.compare_run(committed, "native")["times"]
    sig = _median(t["sigmoid/forward"]) + _median(t["sigmoid/backward"])
    relu = _median(t["relu/forward"]) + _median(t["relu/backward"])
    assert sig > relu and k["ratio"] > 1
    assert k["ratio"] == pytest.approx(sig / relu, rel=0.1)


def test_claim_1b_inputs(committed):
    k = R.step_speed_inputs(committed)
    assert R.fmt_num(k["ratio"]) == "0.981"
    assert _fmt(k["evidence"]) == [
        ("Sigmoid/ReLU step, torch.nn", "0.981"),
        ("Sigmoid/ReLU step, ours", "1.01"),
        ("tanh/ReLU step, torch.nn", "0.996"),
    ]
    t = committed["step"]["times"]
    assert k["ratio"] == pytest.approx(_median(t["sigmoid/native"]) / _median(t["relu/native"]), rel=0.05)


def test_claim_1c_inputs(committed):
    k = R.time_to_target_inputs(committed)
    summ = committed["experiments"]["time_to_target"]["summary"]
    assert (summ["relu"]["median_epochs"], summ["sigmoid"]["median_epochs"]) == (4, 41)
    assert k["ratio"] == 41 / 4  # Sigmoid's epochs over ReLU's: > 1, ReLU got there first
    assert (k["lower_bound"], k["relu_measured"]) == (False, True)
    assert _fmt(k["evidence"]) == [
        ("ReLU epochs (best lr)", "4"),
        ("Sigmoid epochs (best lr)", "41"),
        ("Sigmoid/ReLU epochs", "10.2"),
        ("Sigmoid/ReLU seconds", "21.6"),
        ("tanh epochs (best lr)", "4"),
        ("tanh/ReLU epochs", "1"),
    ]


def test_claim_1c_lower_bound_when_sigmoid_never_gets_there(committed):
    res = copy.deepcopy(committed)
    summ = res["experiments"]["time_to_target"]["summary"]
    summ["sigmoid"].update(reached=False, median_epochs=math.inf, median_seconds=math.inf)
    k = R.time_to_target_inputs(res)
    budget = res["experiments"]["time_to_target"]["config"]["max_epochs"]
    assert k["lower_bound"] and k["ratio"] == budget / 4
    assert ("Sigmoid/ReLU epochs (lower bound)", budget / 4) in k["evidence"]
    summ["relu"].update(reached=False)
    k = R.time_to_target_inputs(res)
    assert not k["relu_measured"] and math.isnan(k["ratio"])


def test_claim_2_inputs(committed):
    k = R.vanishing_inputs(committed)
    shown = {name: R.fmt_num(k[name]) for name in ("a_sigmoid", "a_relu", "saturated_max", "saturated_init")}
    assert shown == {
        "a_sigmoid": "8.85e-08",
        "a_relu": "0.0294",
        "saturated_max": "0.206",
        "saturated_init": "2.80e-05",
    }
    assert k["bound"] == 5.0
    # A is the first layer's gradient norm over the last one's, at initialisation
    runs = committed["experiments"]["gradient_norms"]["runs"]
    first_over_last = _median(
        [
            r["points"][0]["grad_norms"][0] / r["points"][0]["grad_norms"][-1]
            for r in runs
            if r["activation"] == "sigmoid"
        ]
    )
    assert runs[0]["points"][0]["epoch"] == 0
    assert k["a_sigmoid"] == pytest.approx(first_over_last)
    assert k["a_sigmoid"] < k["a_relu"] < 1


def test_claim_3_inputs(committed):
    k = R.sparsity_inputs(committed)
    assert _fmt(k["fractions"].items()) == [
        ("10-layer MLP, init", "0.476"),
        ("10-layer MLP, epoch 30", "0.35"),
        ("article net, init", "0.472"),
        ("article net, end", "0.544"),
    ]


def test_claim_4_inputs(committed):
    k = R.dying_inputs(committed)
    shown = {name: R.fmt_num(k[name]) for name in ("relu_dead_normal", "relu_dead_high", "leaky_stuck_high")}
    assert shown == {"relu_dead_normal": "0.0723", "relu_dead_high": "0.643", "leaky_stuck_high": "0.404"}
    # each is its own activation and rate, from the raw per-epoch shares
    runs = committed["experiments"]["dying_units"]["runs"]

    def dead_end(act, rate):
        return _median(
            [statistics.mean(r["dead"][-1]) for r in runs if (r["activation"], r["lr_label"]) == (act, rate)]
        )

    assert k["relu_dead_normal"] == pytest.approx(dead_end("relu", "normal"))
    assert k["relu_dead_high"] == pytest.approx(dead_end("relu", "high"))
    assert k["leaky_stuck_high"] == pytest.approx(dead_end("leaky_relu", "high"))
    assert _fmt(k["extra"]) == [
        ("train error ReLU, high lr", "0.745"),
        ("train error LeakyReLU, high lr", "0.0924"),
        ("prelu stuck negative, high lr", "0.0605"),
        ("elu stuck negative, high lr", "0.375"),
    ]


def test_claim_5_inputs(committed):
    k = R.elu_cost_inputs(committed)
    assert _fmt(k["ratios"].items()) == [
        ("ELU/LeakyReLU forward, torch", "3.07"),
        ("ELU/LeakyReLU backward, torch", "1.24"),
        ("ELU/LeakyReLU forward, ours", "1.41"),
        ("ELU/LeakyReLU backward, ours", "1.22"),
    ]
    # ELU's time over LeakyReLU's: > 1 means ELU costs more
    for impl, who in (("native", "torch"), ("ours", "ours")):
        t = R.compare_run(committed, impl)["times"]
        for kind in ("forward", "backward"):
            direct = _median(t[f"elu/{kind}"]) / _median(t[f"leaky_relu/{kind}"])
            # the paired median of per-round ratios, not the ratio of medians: close, not equal
            assert k["ratios"][f"ELU/LeakyReLU {kind}, {who}"] == pytest.approx(direct, rel=0.15)


def test_claim_6_inputs(committed):
    k = R.prelu_inputs(committed)
    assert k["init"] == 0.25
    assert _fmt(k["median_shift"].items()) == [
        ("article net (16 slopes)", "0.785"),
        ("10-layer MLP, digits", "0.0465"),
        ("5-layer MLP, digits, normal lr", "0.0366"),
        ("5-layer MLP, digits, high lr", "0.267"),
    ]
    assert _fmt(k["extra"]) == [
        ("median slope, article net (16 slopes)", "-0.325"),
        ("median slope, 10-layer MLP, digits", "0.282"),
        ("median slope, 5-layer MLP, digits, normal lr", "0.285"),
        ("median slope, 5-layer MLP, digits, high lr", "-0.0158"),
    ]


def test_claim_7_inputs(committed):
    finals = R.article_inputs(committed)["final_losses"]
    runs = committed["experiments"]["article"]["runs"]
    seeds = committed["experiments"]["article"]["config"]["seeds"]
    for act in ("sigmoid", "relu", "leaky_relu"):
        # in seed order, so that the rule pairs each seed's Sigmoid with its ReLU
        by_seed = {r["seed"]: r["final_loss"] for r in runs if r["activation"] == act}
        assert finals[act] == [by_seed[s] for s in sorted(seeds)]
    shown = {a: R.fmt_num(statistics.mean(finals[a])) for a in ("sigmoid", "relu", "leaky_relu")}
    assert shown == {"sigmoid": "0.522", "relu": "0.19", "leaky_relu": "0.189"}


@pytest.mark.parametrize("folder", REPORT_RUNS, ids=lambda p: p.name)
def test_rerender_of_the_committed_results_gives_the_committed_verdicts(tmp_path, folder):
    """``--rerender`` from results.json alone: the committed verdict table and rules,
    the second torch's measurements written out again."""
    shutil.copy(folder / "results.json", tmp_path / "results.json")
    proc = subprocess.run(
        [sys.executable, "-m", "bench.report", "--rerender", "--out", str(tmp_path)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (tmp_path / "report.md").read_text()
    committed_text = (folder / "report.md").read_text()
    assert _verdict_section(text) == _verdict_section(committed_text)
    assert _table_rows(text) == _table_rows(committed_text)
    written = json.loads((tmp_path / "baseline-kernels.json").read_text())
    assert written == json.loads((folder / "baseline-kernels.json").read_text())


# --------------------------------------------------------------------------
# The report's text follows the experiments' configuration
# --------------------------------------------------------------------------


@pytest.fixture
def no_figures(monkeypatch):
    """The text alone: the plotting functions do nothing."""
    for name, f in vars(R.P).items():
        if inspect.isfunction(f) and f.__module__ == R.P.__name__ and not name.startswith("_"):
            monkeypatch.setattr(R.P, name, lambda *a, **k: None)


def _text(res, tmp_path):
    verdicts = R.build_verdicts(res)
    return R.verdict_section(verdicts) + R.experiments_section(res, verdicts, tmp_path, [])


def test_text_states_the_configured_experiment(committed, tmp_path, no_figures):
    res = copy.deepcopy(committed)
    exp = res["experiments"]
    exp["article"]["config"].update(points=500, width=8)
    exp["linear_collapse"]["config"].update(points=500, width=8)
    exp["negative_data"]["config"].update(width=8)
    exp["gradient_norms"]["config"].update(saturation_bound=3.0, depth=6)
    for name in ("article", "time_to_target", "gradient_norms", "dying_units"):
        exp[name]["config"]["prelu_init"] = 0.5
    for name in ("time_to_target", "gradient_norms", "dying_units"):
        exp[name]["data"] = {"images": 1500, "features": 60, "classes": 9}
    for name in ("large_init", "lenet", "sparsity"):
        exp[name]["data"].update(images=1500, features=60, classes=9)
    text = _text(res, tmp_path)
    for expected in (
        "500 points",
        "Linear(2,8) -> activation -> Linear(8,1)",
        "|x| > 3",
        "Sigmoid inputs |x|>3",
        "initial 0.5",
        "|slope - 0.5|",
        "median abs(a - 0.5)",
        "article net (8 slopes)",
        "7-layer MLP, digits",
        "7-layer MLP, init",
        "8x8 digits (1500 images",
        "every one of the 1500 training images",
        "MLP 60 -> (",
        "(60 -> 64 x 6 -> 9)",
        "-> 9, Adam",
    ):
        assert expected in text, expected
    for typed_in in (
        "1000 points",
        "Linear(2,16)",
        "|x| > 5",
        "|x|>5",
        "initial 0.25",
        "|a-0.25|",
        "a - 0.25",
        "1797",
        "MLP 64 ->",
        "(64 ->",
        "10-layer",
    ):
        assert typed_in not in text, typed_in


def test_results_without_the_settings_read_their_defaults(committed, tmp_path, no_figures):
    """Results written before these settings were recorded ran with the defaults."""
    res = copy.deepcopy(committed)
    for name, keys in (
        ("article", ("points", "width", "prelu_init")),
        ("gradient_norms", ("saturation_bound", "prelu_init")),
        ("time_to_target", ("prelu_init",)),
        ("dying_units", ("prelu_init",)),
    ):
        for k in keys:
            res["experiments"][name]["config"].pop(k, None)
    for name in ("time_to_target", "gradient_norms", "dying_units"):
        res["experiments"][name].pop("data", None)
    text = _text(res, tmp_path)
    for expected in (
        "1000 points",
        "Linear(2,16) -> activation -> Linear(16,1)",
        "|x| > 5",
        "initial 0.25",
        "median abs(a - 0.25)",
        "8x8 digits (1797 images",
        "every one of the 1797 training images",
    ):
        assert expected in text, expected
    defaults = E.config_defaults("article_")
    assert (defaults["points"], defaults["width"], defaults["prelu_init"]) == (1000, 16, V.PRELU_INIT)
    assert E.config_defaults("grad_")["saturation_bound"] == V.SATURATION_ABS_INPUT


# --------------------------------------------------------------------------
# --threads auto
# --------------------------------------------------------------------------


def _probe(contended, threads=2, multi=40.0, single=5.0):
    return {
        "threads": threads,
        "copy_64k_us_all_threads": multi,
        "copy_64k_us_one_thread": single,
        "contended": contended,
        "load_average": None,
    }


def test_threads_auto_is_the_default():
    assert R.parser().parse_args([]).threads == "auto"
    assert R.parser().parse_args(["--threads", "3"]).threads == "3"


def test_threads_auto_takes_one_thread_when_the_cores_are_busy():
    cpu = torch.device("cpu")
    n, probe, why = machine.choose_threads("auto", cpu, _probe(True))
    assert n == 1 and probe["contended"]
    assert why.startswith("1: ") and "40 µs" in why and "5.0 µs" in why and "(--threads auto)" in why


def test_threads_auto_keeps_torchs_default_on_free_cores_or_a_gpu():
    default = torch.get_num_threads()
    n, _, why = machine.choose_threads("auto", torch.device("cpu"), _probe(False))
    assert n == default and "torch's default" in why
    # on a GPU the kernels do not run on the CPU's threads
    n, _, _ = machine.choose_threads("auto", torch.device("cuda"), _probe(True))
    assert n == default


def test_threads_set_by_hand_ignore_the_probe():
    n, _, why = machine.choose_threads("3", torch.device("cpu"), _probe(True))
    assert n == 3 and "set with --threads" in why


def test_probe_decision():
    f = machine.CONTENTION_FACTOR
    assert machine.is_contended(2, f * 10.0 + 0.1, 10.0)
    assert not machine.is_contended(2, f * 10.0, 10.0)
    assert not machine.is_contended(1, 100.0 * f, 1.0)  # one thread waits on nobody


@pytest.mark.parametrize("multi_us,contended", [(40.0, True), (6.0, False)])
def test_probe_sees_a_load(monkeypatch, multi_us, contended):
    """A fake clock stands in for a busy core: each timed copy on two threads takes
    ``multi_us``, on one thread 5 µs."""
    now = [0.0]

    def clock():
        now[0] += (multi_us if torch.get_num_threads() > 1 else 5.0) * 1e-6
        return now[0]

    monkeypatch.setattr(time, "perf_counter", clock)
    p = machine.contention_probe(reps=5, threads=2)
    assert p["copy_64k_us_all_threads"] == pytest.approx(multi_us)
    assert p["copy_64k_us_one_thread"] == pytest.approx(5.0)
    assert p["contended"] is contended
    n, _, _ = machine.choose_threads("auto", torch.device("cpu"), p)
    assert n == (1 if contended else torch.get_num_threads())


@pytest.mark.parametrize(
    "family, model, zen",
    [(0x17, 0x01, "zen1"), (0x17, 0x31, "zen2"), (0x19, 0x01, "zen3"), (0x19, 0x11, "zen4"),
     (0x19, 0xA0, "zen4"), (0x19, 0x21, "zen3"), (0x1A, 0x02, "zen5"), (0x06, 0x55, None)],
)  # fmt: skip
def test_amd_generations_from_family_and_model(family, model, zen):
    assert machine.zen_generation(family, model) == zen


def test_a_bare_model_name_gets_its_generation_in_the_results_folder():
    """AMD's virtual machines report "AMD EPYC" for Zen 1 to Zen 4: their results must not share a
    folder. A model name with a number already tells them apart."""
    assert machine.cpu_tag("AMD EPYC", "zen4", 2) == "cpu-amd-epyc-zen4-2c"
    assert machine.cpu_tag("AMD EPYC 7B13", "zen3", 2) == "cpu-amd-epyc-7b13-2c"
    assert machine.cpu_tag("Intel(R) Xeon(R) Processor @ 2.60GHz", None, 2) == "cpu-intel-xeon-processor-2c"
    assert machine.processor_name({"cpu_model": "AMD EPYC", "cpu_microarch": "zen4"}) == "AMD EPYC (Zen 4)"
    assert machine.processor_name({"cpu_model": "AMD EPYC"}) == "AMD EPYC"


def test_a_standalone_benchmark_records_where_it_ran():
    """bench/gated.py, bench/zoo.py and bench/monitor_bench.py keep ``run_meta`` with their results
    and head their Markdown with ``measured_on`` of it."""
    import datetime

    meta = machine.run_meta(torch.device("cpu"))
    assert meta["device"].startswith(machine.cpu_model())
    assert meta["torch"] == torch.__version__ and meta["threads"] == torch.get_num_threads()
    when = datetime.datetime.fromisoformat(meta["date"])
    assert (
        when.tzinfo is not None
        and abs(when - datetime.datetime.now(datetime.timezone.utc)).total_seconds() < 60
    )
    head = machine.measured_on({**meta, "threads": 7})
    assert head == f"Measured on {meta['device']}, torch {torch.__version__}, 7 threads, {meta['date']}.\n\n"


def test_probe_measures_and_decides():
    before = torch.get_num_threads()
    p = machine.contention_probe(reps=3, threads=2)
    assert torch.get_num_threads() == before
    assert p["threads"] == 2 and p["copy_64k_us_all_threads"] > 0 and p["copy_64k_us_one_thread"] > 0
    assert p["contended"] == machine.is_contended(
        2, p["copy_64k_us_all_threads"], p["copy_64k_us_one_thread"]
    )


# --------------------------------------------------------------------------
# --baseline-python
# --------------------------------------------------------------------------


def test_baseline_python_option():
    assert R.parser().parse_args([]).baseline_python is None
    assert R.parser().parse_args(["--baseline-python", "v/bin/python"]).baseline_python == "v/bin/python"


def test_baseline_measurements_or_their_failure_go_into_the_results(monkeypatch, tmp_path):
    calls = []

    def fake(python, out_json, **kw):
        calls.append((python, out_json, kw))
        return {"rows": [], "environment": {"torch": "9.9"}}

    monkeypatch.setattr(B, "run_baseline", fake)
    got = R.measure_baseline("other/python", tmp_path, True, 2, torch.device("cpu"))
    assert got["baseline"] == {"rows": [], "environment": {"torch": "9.9"}} and "baseline_error" not in got
    python, out_json, kw = calls[0]
    assert (python, out_json) == ("other/python", tmp_path / "baseline-kernels.json")
    assert (kw["quick"], kw["threads"], kw["cpu_only"]) == (True, 2, True)

    def broken(*a, **k):
        raise RuntimeError("no torch there")

    monkeypatch.setattr(B, "run_baseline", broken)
    got = R.measure_baseline("other/python", tmp_path, False, 1, torch.device("cpu"))
    assert got["baseline_error"] == "RuntimeError: no torch there" and "baseline" not in got


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A stand-in checkout for bench/baseline.py: a few sources, a fake pip and torch."""
    root = tmp_path / "checkout"
    for f, text in {
        "setup.py": "# setup\n",
        "pyproject.toml": "[project]\n",
        "README.md": "readme\n",
        "csrc/ops.cpp": "// kernels\n",
        "activations_ext/__init__.py": "",
    }.items():
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).write_text(text)
    monkeypatch.setattr(B, "ROOT", root)
    monkeypatch.setattr(B, "torch_version", lambda python: "2.99.0+cpu")
    pip_calls = []

    def run(cmd, env=None, capture_output=False, text=False, **kw):
        pip_calls.append((cmd, env))
        Path(cmd[cmd.index("--target") + 1]).mkdir(parents=True)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(B, "subprocess", types.SimpleNamespace(run=run, PIPE=subprocess.PIPE))
    return root, pip_calls


def test_baseline_builds_a_private_copy_once(checkout):
    root, pip_calls = checkout
    site = B.build_for(sys.executable, cpu_only=True, log=lambda s: None)
    base = site.parent
    assert base.parent == root / "build" / "baseline" and base.name.startswith("torch-2.99.0-cpu-")
    cmd, env = pip_calls[0]
    assert cmd[:4] == [sys.executable, "-m", "pip", "install"]
    assert {"--no-build-isolation", "--no-deps"} <= set(cmd)
    assert cmd[cmd.index("--target") + 1] == str(site) and cmd[-1] == str(base / "src")
    assert env["ACTIVATIONS_EXT_CPU_ONLY"] == "1"
    assert (base / "src" / "csrc" / "ops.cpp").read_text() == "// kernels\n"
    assert (base / "src" / "activations_ext" / "__init__.py").exists()
    # unchanged sources: the build is reused
    assert B.build_for(sys.executable, cpu_only=True, log=lambda s: None) == site and len(pip_calls) == 1
    # the readme is not part of what is built
    (root / "README.md").write_text("edited\n")
    assert B.build_for(sys.executable, cpu_only=True, log=lambda s: None) == site and len(pip_calls) == 1
    # a changed kernel: a new build, and the old one goes
    (root / "csrc" / "ops.cpp").write_text("// faster kernels\n")
    new = B.build_for(sys.executable, cpu_only=True, log=lambda s: None)
    assert new != site and len(pip_calls) == 2 and not base.exists()


def test_baseline_build_failure_is_an_error(checkout, monkeypatch):
    def failing(cmd, **kw):
        return subprocess.CompletedProcess(cmd, 1, "compiler said no", "")

    monkeypatch.setattr(B, "subprocess", types.SimpleNamespace(run=failing, PIPE=subprocess.PIPE))
    with pytest.raises(RuntimeError, match="compiler said no"):
        B.build_for(sys.executable, cpu_only=False, log=lambda s: None)


class _FakeKernelRun:
    """bench/kernels.py run by the second python: writes its JSON, streams progress lines."""

    calls: list = []
    imported_from = None
    returncode = 0

    def __init__(self, cmd, env=None, cwd=None, stderr=None, text=False):
        type(self).calls.append((cmd, env, cwd))
        out = Path(cmd[cmd.index("--out") + 1])
        out.write_text(
            json.dumps({"rows": [], "environment": {"activations_ext_file": str(self.imported_from)}})
        )
        self.stderr = iter(
            ["[1/2] forward relu float32 1024\n", "a warning\n", "[2/2] backward relu float32 1024\n"]
        )

    def wait(self):
        return self.returncode


def test_baseline_measures_under_the_other_python_with_its_build(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "activations_ext").mkdir(parents=True)
    monkeypatch.setattr(B, "build_for", lambda python, cpu_only, log: site)
    fake = type(
        "Run", (_FakeKernelRun,), {"calls": [], "imported_from": site / "activations_ext" / "__init__.py"}
    )
    monkeypatch.setattr(B, "subprocess", types.SimpleNamespace(Popen=fake, PIPE=subprocess.PIPE))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "python").symlink_to(sys.executable)
    lines = []
    out = B.run_baseline(
        "venv/bin/python",
        tmp_path / "b.json",
        quick=True,
        threads=2,
        log=lambda s: None,
        on_progress=lines.append,
    )
    assert out["rows"] == []
    cmd, env, cwd = fake.calls[0]
    # absolute, not resolved: a virtual environment's python must stay the link it is
    assert cmd[0] == os.path.join(os.getcwd(), "venv", "bin", "python")
    assert cmd[1] == str(B.ROOT / "bench" / "kernels.py")
    assert cmd[cmd.index("--threads") + 1] == "2" and "--quick" in cmd and "--no-compile" in cmd
    assert env["PYTHONPATH"] == str(site) and cwd == str(site)
    assert lines == ["[1/2] forward relu float32 1024", "[2/2] backward relu float32 1024"]
    B.run_baseline("venv/bin/python", tmp_path / "b.json", quick=False, threads=1, log=lambda s: None)
    assert "--quick" not in fake.calls[1][0]


def test_baseline_refuses_a_run_that_imported_another_build(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.setattr(B, "build_for", lambda python, cpu_only, log: site)
    fake = type(
        "Run", (_FakeKernelRun,), {"calls": [], "imported_from": ROOT / "activations_ext" / "__init__.py"}
    )
    monkeypatch.setattr(B, "subprocess", types.SimpleNamespace(Popen=fake, PIPE=subprocess.PIPE))
    with pytest.raises(RuntimeError, match="not the build in"):
        B.run_baseline(sys.executable, tmp_path / "b.json", quick=True, threads=1, log=lambda s: None)
    failing = type("Run", (fake,), {"returncode": 1})
    monkeypatch.setattr(B, "subprocess", types.SimpleNamespace(Popen=failing, PIPE=subprocess.PIPE))
    with pytest.raises(RuntimeError, match="a warning"):
        B.run_baseline(sys.executable, tmp_path / "b.json", quick=True, threads=1, log=lambda s: None)


def test_baseline_columns_in_the_report(committed, tmp_path, no_figures):
    """The committed run has the second torch: its columns, and the header says where they come from."""
    btorch = committed["baseline"]["environment"]["torch"]
    header = R.header_section(committed, "tag")
    assert f"Kernel tables also carry the same measurements under torch {btorch}" in header
    tables = R.kernel_tables(committed, tmp_path, [])
    assert f"| torch {btorch} | ours/torch under {btorch} |" in tables
    without = {k: v for k, v in committed.items() if k != "baseline"}
    assert btorch not in R.kernel_tables(without, tmp_path, []) and btorch not in R.header_section(
        without, "tag"
    )
    failed = dict(without, baseline_error="RuntimeError: no torch there")
    assert (
        "The measurements under the second torch failed: `RuntimeError: no torch there`"
        in R.header_section(failed, "tag")
    )


def _section(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end)]


def _md_tables(text: str):
    """The markdown tables of ``text``, each as (heading line before it, header, rows)."""
    out, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("| ") and (i == 0 or not lines[i - 1].startswith("|")):
            head = line[2:-2].split(" | ")
            rows = []
            for row in lines[i + 2 :]:
                if not row.startswith("| "):
                    break
                rows.append(row[2:-2].split(" | "))
            caption = next((ln for ln in reversed(lines[:i]) if ln.strip()), "")
            out.append((caption, head, rows))
    return out


PERCALL_CELL = re.compile(r"^\d+\.\d\d \[\d+\.\d\d-\d+\.\d\d\] \(\d+\.\d/\d+\.\d\)$")


def test_percall_section_of_results_before_the_thread_count(committed, tmp_path, no_figures):
    """Results that measured forward + backward alone, at the run's thread count
    (before the thread count was recorded): they fill that column, and the
    one-thread targets are not measured."""
    committed = copy.deepcopy(committed)
    for kern in (committed["kernels"], committed.get("baseline", {})):
        if "rows" not in kern:
            continue
        kern["rows"] = [
            r
            for r in kern["rows"]
            if r["kind"] not in R.K.PERCALL_KINDS
            or (r["kind"] == "fwd_bwd" and r.get("threads") == committed["threads"] and r["n"] == R.K.KIB)
        ]
        for r in kern["rows"]:
            r.pop("threads", None)
        kern["config"]["percall_threads"] = []
        kern["config"]["percall_sizes"] = [R.K.KIB]
    text = R.kernel_tables(committed, tmp_path, [])
    section = _section(text, "### 2.4 Per-call cost", "### 2.5")
    assert f"they ran on the run's {committed['threads']} thread(s)" in section
    (caption, head, rows), *_ = _md_tables(section)
    assert caption.startswith(f"**{committed['threads']} threads**")
    assert head == ["activation", "functional fwd 1K", "module fwd 1K", "fwd+bwd 1K"]
    # Activations added since that run have no measurements there.
    measured = {r["activation"] for r in committed["kernels"]["rows"] if r["kind"] == "fwd_bwd"}
    assert measured
    assert all(r[1] == r[2] == "-" and PERCALL_CELL.match(r[3]) for r in rows if r[0] in measured)
    assert all(r[1:] == ["-", "-", "-"] for r in rows if r[0] not in measured)
    targets = text[text.index("### 2.5") :]
    assert targets.count("not measured in this run") == 3 * 2  # three targets, two torches


# --------------------------------------------------------------------------
# The quick report
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    env = _env()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.report", "--quick", "--out", str(out), "--no-progress", "--no-compile"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return out


def test_every_section_is_there_in_order(report):
    text = (report / "report.md").read_text()
    positions = [text.find(s) for s in SECTIONS]
    missing = [s for s, p in zip(SECTIONS, positions) if p < 0]
    assert not missing, missing
    assert positions == sorted(positions), "sections out of order"
    # the verdict table comes first, before any kernel table
    assert text.index("| # | claim | verdict |") < text.index("### 2.1")


def test_every_figure_is_written_and_embedded(report):
    text = (report / "report.md").read_text()
    embedded = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    expected = {
        "throughput-float32.png",
        "throughput-bfloat16.png",
        "step.png",
        "memory.png",
        "time-to-target.png",
        "grad-norms.png",
        "dead-units.png",
        "prelu-slopes.png",
        "article-losses.png",
        "linear-collapse.png",
        "large-init.png",
        "negative-data.png",
        "lenet.png",
        "sparsity.png",
    }
    assert expected <= set(embedded)
    for name in embedded:
        data = (report / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, name


def test_every_verdict_row_has_numbers(report):
    res = json.loads((report / "results.json").read_text())
    rows = {v["claim"]: v for v in res["verdicts"]}
    assert list(rows) == CLAIMS
    for claim, v in rows.items():
        assert v["verdict"] in V.VERDICTS, claim
        numbers = [x for _, x in v["evidence"] if isinstance(x, (int, float)) and not isinstance(x, bool)]
        assert numbers, f"claim {claim} cites no number"
        assert any(math.isfinite(x) for x in numbers), claim
        assert v["rule"], claim
    # the table in report.md shows each verdict next to its numbers
    text = (report / "report.md").read_text()
    for claim, v in rows.items():
        line = next(ln for ln in text.splitlines() if ln.startswith(f"| {claim} |"))
        assert f"**{v['verdict']}**" in line
        assert re.search(r"= -?\d", line), line


def test_raw_data_carries_the_environment(report):
    res = json.loads((report / "results.json").read_text())
    env = res["environment"]
    for key in ("device_name", "torch", "torch_threads", "date_utc", "command", "cpu_count"):
        assert env[key] not in (None, ""), key
    assert res["threads"] >= 1
    assert res["experiments"]["article"]["config"]["seeds"]
    assert len(res["experiments"]["article"]["config"]["seeds"]) >= 5


def test_kernel_csv_covers_the_spec_table(report):
    with open(report / "kernels.csv") as f:
        rows = list(csv.DictReader(f))
    seen = {(r["kind"], r["activation"], r["dtype"], r["impl"]) for r in rows}
    for spec in SPECS:
        for dtype in ("float32", "bfloat16"):
            for kind in ("forward", "backward"):
                for impl in ("ours", "native"):
                    assert (kind, spec.name, dtype, impl) in seen, (kind, spec.name, dtype, impl)
    assert all(float(r["median_s"]) > 0 for r in rows)
    assert {r["impl"] for r in rows if r["kind"] == "copy"} == {"prealloc", "alloc"}


def test_percall_table_covers_every_activation_kind_size_and_thread_count(report):
    """2.4: one table per thread count, a ratio with both medians in every cell."""
    res = json.loads((report / "results.json").read_text())
    cfg = res["kernels"]["config"]
    quick = R.K.KernelConfig.preset(True, torch.device(res["environment"]["device"]))
    assert cfg["percall_sizes"] == quick.percall_sizes and set(quick.percall_sizes) >= {1024, 16384}
    assert cfg["percall_threads"] == [1, 2]
    text = _section((report / "report.md").read_text(), "### 2.4 Per-call cost", "### 2.5")
    tables = _md_tables(text)
    assert [caption.split("**")[1] for caption, _, _ in tables] == ["1 thread", "2 threads"]
    expected_cols = [
        f"{label} {R.K.size_label(n)}"
        for label in ("functional fwd", "module fwd", "fwd+bwd")
        for n in quick.percall_sizes
    ]
    for caption, head, rows in tables:
        assert head == ["activation"] + expected_cols, caption
        assert [r[0] for r in rows] == [s.name for s in SPECS], caption
        for r in rows:
            bad = [(col, c) for col, c in zip(head[1:], r[1:]) if not PERCALL_CELL.match(c)]
            assert not bad, (caption, r[0], bad)
    # the rows behind them carry their thread count, and one thread is timed by its CPU time
    per = [r for r in res["kernels"]["rows"] if r["kind"] in ("call_fwd", "module_fwd", "fwd_bwd")]
    assert {r["threads"] for r in per} == {1, 2}
    assert len(per) == 3 * len(SPECS) * len(quick.percall_sizes) * 2
    if res["environment"]["device"] == "cpu":
        assert {r["clock"] for r in per if r["threads"] == 1} == {"thread CPU time"}
    assert tables[0][0].startswith("**1 thread** (")


def test_targets_name_the_percall_targets(report):
    text = _section((report / "report.md").read_text(), "### 2.5 The speed targets", "### 2.6")
    rows = {r[0]: r[1:] for _, _, rs in _md_tables(text) for r in rs}
    for what, sizes, limit in (
        ("functional forward", R.TARGET_CALL_FWD_SIZES, R.TARGET_CALL_FWD),
        ("module forward", R.TARGET_MODULE_FWD_SIZES, R.TARGET_MODULE_FWD),
        ("forward + backward", R.TARGET_FWD_BWD_SIZES, R.TARGET_FWD_BWD),
    ):
        label = (
            f"per call, {what} at {', '.join(R.K.size_label(n) for n in sizes)}, "
            f"{R.TARGET_PERCALL_THREADS} thread: ours/torch <= {limit:g}"
        )
        assert label in rows, (label, list(rows))
        assert re.match(r"^\d+\.\d\d \(\w+ [a-z+ ]+ \d+K\): (met|not met)$", rows[label][0]), rows[label]
    assert (R.TARGET_CALL_FWD, R.TARGET_MODULE_FWD, R.TARGET_FWD_BWD) == (1.05, 1.05, 1.05)
    assert (R.TARGET_CALL_FWD_SIZES, R.TARGET_MODULE_FWD_SIZES, R.TARGET_FWD_BWD_SIZES) == (
        (1024, 16384),
        (1024,),
        (1024,),
    )


def test_save_output_mode_saves_less(report):
    """Not a timing: the count of tensors autograd keeps is exact."""
    res = json.loads((report / "results.json").read_text())
    by = {(r["activation"], r["mode"]): r for r in res["saved_memory"]["rows"]}
    depth = res["saved_memory"]["config"]["depth"]
    for spec in SPECS:
        if spec.save_output_mode:
            default, saving = by[(spec.name, "ours")], by[(spec.name, "ours_save_output")]
            assert default["saved_storages"] - saving["saved_storages"] == depth
            assert saving["saved_bytes"] < default["saved_bytes"]


def test_rerender_rebuilds_the_same_report_from_the_raw_data(report, tmp_path):
    """Every number in report.md comes from results.json: rendering again from
    the raw data alone gives the same text."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(report, copy)
    (copy / "report.md").unlink()
    env = _env()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.report", "--rerender", "--out", str(copy)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (copy / "report.md").read_text() == (report / "report.md").read_text()


def test_raw_data_records_the_settings_the_text_reads(report):
    exp = json.loads((report / "results.json").read_text())["experiments"]
    assert (exp["article"]["config"]["points"], exp["article"]["config"]["width"]) == (1000, 16)
    assert exp["gradient_norms"]["config"]["saturation_bound"] == V.SATURATION_ABS_INPUT
    for name in ("article", "time_to_target", "gradient_norms", "dying_units"):
        assert exp[name]["config"]["prelu_init"] == V.PRELU_INIT, name
    # the shape older results are read with is the data's own
    for name in ("time_to_target", "gradient_norms", "dying_units"):
        assert exp[name]["data"] == E.DIGITS, name


def test_threads_auto_follows_the_probe(report):
    """The quick run leaves --threads at its default, auto."""
    res = json.loads((report / "results.json").read_text())
    if res["environment"]["device"] == "cpu" and res["probe_start"]["contended"]:
        assert res["threads"] == 1 and res["threads_why"].endswith("(--threads auto)")
    else:
        assert (
            res["threads_why"]
            == f"{res['threads']} (torch's default; the start-up probe found the cores free)"
        )
    assert f"| threads used | {res['threads_why']} |" in (report / "report.md").read_text()


def test_committed_claims_render_again(tmp_path):
    """bench/claims.py: the committed claims.md is what its claims.json renders to."""
    shutil.copy(COMMITTED / "claims" / "claims.json", tmp_path / "claims.json")
    proc = subprocess.run(
        [sys.executable, "-m", "bench.claims", "--out", str(tmp_path), "--rerender"],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "claims.md").read_text() == (COMMITTED / "claims" / "claims.md").read_text()
    for fig in ("linear-collapse.png", "large-init.png", "negative-data.png", "lenet.png", "sparsity.png"):
        assert (tmp_path / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_quick_verdicts_are_marked_provisional(report, committed):
    """A quick run's verdicts say in the table itself that they are provisional; a full run's do not."""
    res = json.loads((report / "results.json").read_text())
    assert res["mode"] == "quick"
    assert [v["provisional"] for v in res["verdicts"]] == [True] * len(CLAIMS)
    text = _verdict_section((report / "report.md").read_text())
    assert R.PROVISIONAL in text
    for claim in CLAIMS:
        line = next(ln for ln in text.splitlines() if ln.startswith(f"| {claim} |"))
        assert "** (provisional) |" in line, line
    full = R.verdict_section(R.build_verdicts(committed))
    assert "provisional" not in full


def test_cpu_targets_cells_take_the_target_the_copy_bandwidth_gives():
    """bench/cpu_targets.py: a cell's target is 1.05x torch's time, or 0.6x where torch runs below half the
    bandwidth of a copy into a new tensor of the same size; the grid marks the cells that miss."""
    from bench import cpu_targets as C

    n, b = 1 << 20, 8 << 20

    def row(kind, act, times):
        return {"kind": kind, "activation": act, "dtype": "float32", "n": n, "bytes": b, "times": times}

    copy = row("copy", None, {"prealloc": [1e-4] * 5, "alloc": [2e-4] * 5})  # 40 GB/s into a new tensor
    fast = row("forward", "relu", {"ours": [2.2e-4] * 5, "native": [2e-4] * 5})  # torch at copy speed
    slow = row("forward", "gelu", {"ours": [5e-4] * 5, "native": [1e-3] * 5})  # torch at a fifth of it
    cells = {c["activation"]: c for c in C.cells({"rows": [copy, fast, slow]})}
    assert cells["relu"]["target"] == C.MAX_RATIO and not cells["relu"]["met"]  # 1.1x
    assert cells["gelu"]["target"] == C.SLOW_MAX_RATIO and cells["gelu"]["met"]  # 0.5x
    assert cells["gelu"]["copy_gbps"] == pytest.approx(b / 2e-4 / 1e9)
    grid = C.grid(list(cells.values()), "forward", "float32")
    assert "| relu | **1.10** |" in grid and "| gelu | 0.50* |" in grid


def test_cpu_targets_judge_slowness_on_the_kernel_not_the_fixed_cost_of_a_call():
    """A backward whose time is mostly the autograd engine's fixed cost (the same call at PATH_N elements)
    is not a slow kernel, even though its bandwidth over the whole call is below half the copy's; one whose
    kernel part is slow still is. The PATH_N rows themselves get no cell."""
    from bench import cpu_targets as C

    n, b = 1 << 14, 3 << 16  # a 16K float32 backward moves 192 KiB

    def row(kind, act, size, nbytes, times):
        return {
            "kind": kind,
            "activation": act,
            "dtype": "float32",
            "n": size,
            "bytes": nbytes,
            "times": times,
        }

    rows = [
        row("copy", None, C.PATH_N, 8 << 10, {"prealloc": [1e-6] * 5, "alloc": [2e-6] * 5}),
        row("copy", None, n, 2 << 16, {"prealloc": [3e-6] * 5, "alloc": [5e-6] * 5}),  # kernel: 3 us
        # relu: 60 us of fixed cost and 3 us of kernel; whole call at 3 GB/s against the copy's 26.
        row("backward", "relu", C.PATH_N, 12 << 10, {"ours": [60e-6] * 5, "native": [60e-6] * 5}),
        row("backward", "relu", n, b, {"ours": [64e-6] * 5, "native": [63e-6] * 5}),
        # gelu: the same fixed cost, and a kernel of 40 us.
        row("backward", "gelu", C.PATH_N, 12 << 10, {"ours": [60e-6] * 5, "native": [60e-6] * 5}),
        row("backward", "gelu", n, b, {"ours": [90e-6] * 5, "native": [100e-6] * 5}),
    ]
    cells = {c["activation"]: c for c in C.cells({"rows": rows})}
    assert set(cells) == {"relu", "gelu"} and all(c["n"] == n for c in cells.values())
    assert cells["relu"]["native_gbps"] < C.SLOW_SHARE * cells["relu"]["copy_gbps"]
    assert cells["relu"]["target"] == C.MAX_RATIO and cells["relu"]["met"]
    assert cells["relu"]["native_fixed_us"] == pytest.approx(60.0)
    assert cells["gelu"]["target"] == C.SLOW_MAX_RATIO and not cells["gelu"]["met"]
    assert cells["gelu"]["native_kernel_gbps"] == pytest.approx(b / 40e-6 / 1e9)


@pytest.mark.parametrize("best_isa, runs", [("AVX2", ["best"]), ("AVX512", ["best", "avx2"])])
def test_cpu_targets_forces_avx2_only_where_the_processor_has_more(monkeypatch, tmp_path, best_isa, runs):
    """Each ISA is measured in a child process; where the best ISA is AVX2 already (an AMD EPYC) the
    forced-AVX2 child would measure the same kernels again and is skipped."""
    from bench import cpu_targets as C

    children = []

    def fake_run(cmd, env, **kwargs):
        isa = cmd[cmd.index("--child") + 1]
        children.append((isa, env.get("ATEN_CPU_CAPABILITY")))
        kernel = best_isa if isa == "best" else "AVX2"
        out = {"environment": {"cpu_kernel_isa": kernel, "torch_cpu_capability": kernel}, "rows": []}
        return types.SimpleNamespace(stdout=json.dumps(out))

    monkeypatch.setattr(C.subprocess, "run", fake_run)
    monkeypatch.setattr(C, "render", lambda res: "rendered")
    assert C.main(["--out", str(tmp_path), "--quick", "--no-progress"]) == 0
    assert [isa for isa, _ in children] == runs
    assert dict(children).get("avx2", "avx2") == "avx2"  # the forced child runs under the switch
    assert list(json.loads((tmp_path / "cpu-targets.json").read_text())["isas"]) == runs


def test_cpu_targets_child_refuses_an_avx2_run_that_is_not_on_avx2(monkeypatch, capsys):
    """A forced-AVX2 child whose switches did not reach ATen would label its cells AVX2 wrongly."""
    from bench import cpu_targets as C

    monkeypatch.setattr(C.torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.setattr(C, "measure_here", lambda *a: pytest.fail("measured under the wrong ISA"))
    with pytest.raises(SystemExit):
        C.main(["--child", "avx2", "--quick"])
    assert "found ATen on AVX512" in capsys.readouterr().err


CPU_TARGET_RUNS = sorted(p.parent for p in (ROOT / "bench" / "results").glob("cpu-*/cpu-targets.json"))


def test_both_kinds_of_processor_have_cpu_targets_committed():
    names = [p.name for p in CPU_TARGET_RUNS]
    assert COMMITTED.name in names and any(n.startswith("cpu-amd-epyc") for n in names)


@pytest.mark.parametrize("folder", CPU_TARGET_RUNS, ids=lambda p: p.name)
def test_committed_cpu_targets_are_what_their_data_renders(folder):
    """Each committed cpu-targets.md is exactly what bench/cpu_targets.py renders from the committed
    cpu-targets.json (every sample), with the fixed-cost rows that decide which cells count as slow
    kernels, and with AVX2 measured: forced where the processor has AVX-512, as its best ISA where
    AVX2 is all it has."""
    from bench import cpu_targets as C

    data = json.loads((folder / "cpu-targets.json").read_text())
    best = data["isas"]["best"]["environment"]["cpu_kernel_isa"]
    assert set(data["isas"]) == ({"best"} if best == "AVX2" else {"best", "avx2"})
    for res in data["isas"].values():
        sizes = {r["n"] for r in res["rows"]}
        assert C.PATH_N in sizes and set(data["config"]["sizes"]) <= sizes
    assert (folder / "cpu-targets.md").read_text() == C.render(data)


def test_throughput_figure_is_a_grid_whatever_the_number_of_activations(tmp_path):
    """The throughput figure lays its panels out THROUGHPUT_COLS a row (it was one row of two panels per
    activation, 8250 pixels wide for 25 of them): the committed kernel rows give a figure taller than wide."""
    import struct

    from bench import plots as P

    rows = json.loads((COMMITTED / "results.json").read_text())["kernels"]["rows"]
    acts = {r["activation"] for r in rows if r["kind"] == "forward"}
    assert len(acts) >= 20
    path = P.throughput(rows, "float32", tmp_path / "t.png", {})
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    assert width <= 110 * 3.0 * P.THROUGHPUT_COLS + 1 and height > width
