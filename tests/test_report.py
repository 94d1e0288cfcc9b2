"""The benchmark report's quick mode produces every section, figure and verdict.

Runs ``python -m bench.report --quick`` once (about a minute) into a temporary
folder and inspects what it wrote. No timing is asserted.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from activations_ext.spec import SPECS  # noqa: E402
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
    "## 3. The experiments behind the verdicts",
    "### Claim 1(a)",
    "### Claim 1(b)",
    "### Claim 1(c)",
    "### Claim 2",
    "### Claim 4",
    "### Claim 5",
    "### Claim 6",
    "### Claim 7",
    "## 4. Raw data",
]
CLAIMS = ["1(a)", "1(b)", "1(c)", "2", "3", "4", "5", "6", "7"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )
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
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )
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
