"""bench/bias_act_bench.py: what it measures and how it judges the targets."""

from __future__ import annotations

import json

import pytest
import torch

import activations_ext.functional as AF
from bench import bias_act_bench as B

CPU = torch.device("cpu")


@pytest.mark.parametrize("backward", [False, True])
def test_a_cell_times_both_variants_and_judges_its_target(backward):
    r = B.time_cell("sigmoid", torch.float32, (8, 16), backward, 3, False, CPU)
    assert set(r["times"]) == {"fused", "eager"}
    assert all(len(v) == 3 and min(v) > 0 for v in r["times"].values())
    ratios = sorted(a / b for a, b in zip(r["times"]["fused"], r["times"]["eager"]))
    assert r["fused/eager"]["median"] == pytest.approx(ratios[1])
    assert r["target"] == (0.8 if backward else 0.6)
    assert r["met"] == (r["fused/eager"]["median"] <= r["target"])
    assert r["pass"] == ("fwd+bwd" if backward else "fwd")


def test_every_act_is_measured_by_default(tmp_path, monkeypatch):
    seen = []

    def fake_cell(act, dtype, shape, backward, rounds, compile, device):
        seen.append((act, str(dtype), tuple(shape), backward))
        t = [1.0, 1.0]
        return {
            "act": act,
            "dtype": str(dtype).replace("torch.", ""),
            "shape": list(shape),
            "elements": shape[0] * shape[1],
            "pass": "fwd+bwd" if backward else "fwd",
            "times": {"fused": [0.5, 0.7], "eager": t},
            "fused/eager": {"median": 0.6 if backward else 0.9, "p25": 0.5, "p75": 0.7},
            "target": B.TARGETS["fwd+bwd" if backward else "fwd"],
            "met": backward,
        }

    monkeypatch.setattr(B, "time_cell", fake_cell)
    out = tmp_path / "b.json"
    md = tmp_path / "b.md"
    assert (
        B.main(
            ["--shapes", "4x8", "--dtypes", "float32", "--no-compile", "--json", str(out), "--md", str(md)]
        )
        == 0
    )
    assert [a for a, *_ in seen] == [a for a in AF.BIAS_ACTS for _ in (0, 1)]
    res = json.loads(out.read_text())
    assert len(res["rows"]) == 2 * len(AF.BIAS_ACTS)
    text = md.read_text()
    n = len(AF.BIAS_ACTS)
    assert f"Met: {n} of {2 * n} cells." in text
    # a missed forward is bold and named among the worst
    assert "**0.90 (0.50-0.70)**" in text and "<= 0.6: missed" in text
    assert "Worst missed cells (fused/eager): relu float32 4 x 8 fwd 0.90" in text
    assert res["environment"]["cpu_model"] in text


def test_bad_arguments_are_refused():
    with pytest.raises(SystemExit):
        B.main(["--acts", "relu,nosuch"])
    with pytest.raises(SystemExit):
        B.main(["--shapes", "4096"])


def test_presets():
    full = B.BiasActConfig.preset(False)
    assert full.acts == list(AF.BIAS_ACTS) and full.dtypes == ["float32", "bfloat16"]
    assert (4096, 256) in full.shapes and not full.compile
    assert full.cells() == len(full.shapes) * len(AF.BIAS_ACTS) * 2 * 2
    quick = B.BiasActConfig.preset(True)
    assert quick.cells() < 10


def test_report_section_renders_the_run_or_says_it_is_missing():
    from bench import report as R

    assert "Not measured in this run" in R.bias_act_section({})
    cfg = B.BiasActConfig(shapes=[(8, 16)], acts=["relu", "sigmoid"], dtypes=["float32"], rounds=3)
    res = {"bias_act": B.run_bias_act(cfg, CPU)}
    text = R.bias_act_section(res)
    assert text.startswith("### 2.10 Fused bias + activation")
    assert "rows x features (8 x 16)" in text
    assert (
        text.count("| relu | float32 | 8 x 16 |") == 2 and text.count("| sigmoid | float32 | 8 x 16 |") == 2
    )
    met = sum(r["met"] for r in res["bias_act"]["rows"])
    assert f"Met: {met} of 4 cells." in text
