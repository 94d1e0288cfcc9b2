"""The verdict rules of the benchmark report, on made-up numbers."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import verdicts as V  # noqa: E402


def _speed(ratio, **kw):
    return V.speedup("1(x)", "t", ratio, [("R", ratio)], **kw).verdict


@pytest.mark.parametrize(
    "ratio,expected",
    [
        (6.0, V.HOLDS),
        (V.SPEEDUP_HOLDS_AT, V.HOLDS),
        (V.SPEEDUP_HOLDS_AT - 0.01, V.PART),
        (1.5, V.PART),
        (V.SPEEDUP_MEASURABLE, V.PART),
        (1.05, V.NOT),
        (0.9, V.NOT),
        (math.nan, V.NOT),
    ],
)
def test_speedup_thresholds(ratio, expected):
    assert _speed(ratio) == expected


def test_speedup_lower_bound_can_confirm_but_not_refute():
    assert _speed(5.0, lower_bound=True) == V.HOLDS
    # Sigmoid never reached the target while ReLU did: ReLU is faster, by an unknown factor.
    assert _speed(1.0, lower_bound=True) == V.PART


def test_speedup_without_relu_reaching_the_target():
    assert _speed(10.0, relu_measured=False) == V.NOT


def test_vanishing():
    # vanishes and saturates
    assert V.vanishing(1e-7, 0.03, 0.3, 0.0).verdict == V.HOLDS
    # vanishes, never saturates: the derivative's 0.25 bound alone
    assert V.vanishing(1e-7, 0.03, 0.01, 0.0).verdict == V.PART
    # sigmoid attenuates, but not 10x more than ReLU
    assert V.vanishing(5e-3, 1e-2, 0.01, 0.0).verdict == V.NOT
    # no attenuation worth the name, but saturation
    assert V.vanishing(0.5, 0.6, 0.5, 0.0).verdict == V.PART


def test_vanishing_cites_its_numbers():
    v = V.vanishing(1e-7, 0.03, 0.3, 0.001)
    assert v.numbers() == [1e-7, 0.03, 0.001, 0.3]


def test_sparsity():
    assert V.sparsity({"a": 0.5, "b": 0.42, "c": 0.6}).verdict == V.HOLDS
    assert V.sparsity({"a": 0.5, "b": 0.2}).verdict == V.PART
    assert V.sparsity({"a": 0.05, "b": 0.9}).verdict == V.NOT
    edge = V.SPARSITY_CENTRE + V.SPARSITY_TOLERANCE
    assert V.sparsity({"a": edge}).verdict == V.HOLDS
    assert V.sparsity({"a": edge + 0.01}).verdict == V.NOT


def test_dying():
    # ReLU dies at the high rate, LeakyReLU far less stuck
    assert V.dying(0.05, 0.6, 0.1).verdict == V.HOLDS
    # ReLU dies, but LeakyReLU's units end up just as negative
    assert V.dying(0.05, 0.6, 0.5).verdict == V.PART
    # no dying at all; LeakyReLU trivially "alive" (0 <= 0.5 * 0)
    assert V.dying(0.0, 0.0, 0.0).verdict == V.PART
    # the high rate kills no more than the normal one, and LeakyReLU is stuck too
    assert V.dying(0.5, 0.55, 0.5).verdict == V.NOT


def test_dying_keeps_extra_evidence():
    v = V.dying(0.05, 0.6, 0.1, [("error", 0.3)])
    assert ("error", 0.3) in v.evidence


def test_elu_cost():
    assert V.elu_cost({"a": 1.5, "b": 1.2}).verdict == V.HOLDS
    assert V.elu_cost({"a": 1.5, "b": 0.9}).verdict == V.PART
    assert V.elu_cost({"a": 1.0, "b": 0.95}).verdict == V.NOT
    assert V.elu_cost({"a": V.COST_RATIO_MIN}).verdict == V.HOLDS


def test_prelu():
    assert V.prelu_learns({"x": 0.2, "y": 0.001}).verdict == V.HOLDS
    assert V.prelu_learns({"x": 0.02}).verdict == V.PART
    assert V.prelu_learns({"x": 0.001}).verdict == V.NOT


def test_article():
    relu = [0.20, 0.18, 0.19, 0.21, 0.20]
    slow = [0.50, 0.45, 0.55, 0.48, 0.52]
    assert V.article({"sigmoid": slow, "relu": relu, "leaky_relu": relu}).verdict == V.HOLDS
    # LeakyReLU far from ReLU
    far = [0.40] * 5
    assert V.article({"sigmoid": slow, "relu": relu, "leaky_relu": far}).verdict == V.PART
    # Sigmoid as fast as ReLU, and LeakyReLU off
    assert V.article({"sigmoid": relu, "relu": relu, "leaky_relu": far}).verdict == V.NOT


def test_article_needs_most_seeds():
    relu = [0.2] * 5
    # higher on average (one seed very bad) but above ReLU in only 2 of 5 seeds
    sig = [2.0, 0.3, 0.19, 0.19, 0.19]
    v = V.article({"sigmoid": sig, "relu": relu, "leaky_relu": relu})
    assert v.verdict == V.PART
    assert dict(v.evidence)["seeds with Sigmoid > ReLU"] == pytest.approx(0.4)


def test_rule_texts_state_the_thresholds():
    rules = V.all_rules()
    assert set(rules) == {"1", "2", "3", "4", "5", "6", "7"}
    assert f"{V.SPEEDUP_HOLDS_AT:g}" in rules["1"] and f"{V.SPEEDUP_MEASURABLE:g}" in rules["1"]
    assert f"{V.VANISH_MAX_ATTENUATION:g}" in rules["2"]
    assert f"{V.COST_RATIO_MIN:g}" in rules["5"]
    assert f"{V.SIGMOID_SLOWER_LOSS_RATIO:g}" in rules["7"]


def test_unknown_verdict_is_rejected():
    with pytest.raises(ValueError):
        V.Verdict("1", "t", "maybe")
