"""The verdict rules of the benchmark report, on made-up numbers.

Every condition of every rule has a case that comes out differently without
it, and every threshold comparison a case exactly at the threshold, so that
dropping a condition, swapping an argument or turning ``>=`` into ``>`` (or
``>`` into ``>=``) fails a test. Values at a threshold are built from the
constants (or from powers of two) so that the comparison is exact.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import verdicts as V  # noqa: E402

# --------------------------------------------------------------------------
# Claim 1: speed-up
# --------------------------------------------------------------------------


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
        (None, V.NOT),
    ],
)
def test_speedup_thresholds(ratio, expected):
    assert _speed(ratio) == expected


def test_speedup_lower_bound_can_confirm_but_not_refute():
    assert _speed(5.0, lower_bound=True) == V.HOLDS
    # Sigmoid never reached the target while ReLU did: ReLU is faster, by an unknown factor.
    assert _speed(1.0, lower_bound=True) == V.PART


def test_speedup_without_a_ratio_is_not_confirmed_by_a_lower_bound():
    assert _speed(math.nan, lower_bound=True) == V.NOT
    assert _speed(None, lower_bound=True) == V.NOT


def test_speedup_without_relu_reaching_the_target():
    assert _speed(10.0, relu_measured=False) == V.NOT
    assert _speed(1.0, lower_bound=True, relu_measured=False) == V.NOT


def test_speedup_keeps_its_evidence():
    v = V.speedup("1(z)", "title", 2.0, [("R", 2.0), ("other", 3.0)])
    assert (v.claim, v.title, v.evidence, v.rule) == (
        "1(z)",
        "title",
        [("R", 2.0), ("other", 3.0)],
        V.SPEED_RULE,
    )


# --------------------------------------------------------------------------
# Claim 2: vanishing gradients, saturation
# --------------------------------------------------------------------------


def test_vanishing():
    # vanishes and saturates
    assert V.vanishing(1e-7, 0.03, 0.3, 0.0).verdict == V.HOLDS
    # vanishes, never saturates: the derivative's 0.25 bound alone
    assert V.vanishing(1e-7, 0.03, 0.01, 0.0).verdict == V.PART
    # sigmoid attenuates, but not 10x more than ReLU
    assert V.vanishing(5e-3, 1e-2, 0.01, 0.0).verdict == V.NOT
    # no attenuation worth the name, but saturation
    assert V.vanishing(0.5, 0.6, 0.5, 0.0).verdict == V.PART


def test_vanishing_needs_a_small_attenuation_not_only_a_smaller_one():
    # 20x smaller than ReLU's, but the first layer still gets 5% of the last one's gradient
    assert V.vanishing(0.05, 1.0, 0.0, 0.0).verdict == V.NOT


def test_vanishing_thresholds_are_inclusive():
    # A exactly at the bound, and far below ReLU's
    assert V.vanishing(V.VANISH_MAX_ATTENUATION, 1.0, 0.0, 0.0).verdict == V.PART
    # exactly VANISH_VS_RELU times smaller than ReLU's (powers of two: exact products)
    a = 2.0**-10
    assert V.vanishing(a, V.VANISH_VS_RELU * a, 0.0, 0.0).verdict == V.PART
    assert V.vanishing(a, V.VANISH_VS_RELU * a * (1 - 1e-9), 0.0, 0.0).verdict == V.NOT
    # saturated share exactly at the minimum, no vanishing
    assert V.vanishing(0.5, 0.6, V.SATURATED_MIN, 0.0).verdict == V.PART
    assert V.vanishing(0.5, 0.6, V.SATURATED_MIN - 1e-9, 0.0).verdict == V.NOT


def test_vanishing_judges_saturation_by_its_maximum_not_at_init():
    assert V.vanishing(0.5, 0.6, 0.3, 0.0).verdict == V.PART
    assert V.vanishing(0.5, 0.6, 0.0, 0.3).verdict == V.NOT


def test_vanishing_cites_its_numbers():
    v = V.vanishing(1e-7, 0.03, 0.3, 0.001)
    assert v.numbers() == [1e-7, 0.03, 0.001, 0.3]


def test_vanishing_states_the_bound_it_was_measured_with():
    v = V.vanishing(1e-7, 0.03, 0.3, 0.001, bound=4.0)
    assert "|x| > 4" in v.title and "|x| > 4" in v.rule
    assert [label for label, _ in v.evidence][2:] == [
        "Sigmoid inputs |x|>4, init",
        "Sigmoid inputs |x|>4, max in training",
    ]
    assert "|x| > 5" not in v.title + v.rule
    assert V.vanishing(1e-7, 0.03, 0.3, 0.001).rule == V.VANISH_RULE
    assert f"|x| > {V.SATURATION_ABS_INPUT:g}" in V.VANISH_RULE


# --------------------------------------------------------------------------
# Claim 3: sparsity
# --------------------------------------------------------------------------


def test_sparsity():
    assert V.sparsity({"a": 0.5, "b": 0.42, "c": 0.6}).verdict == V.HOLDS
    assert V.sparsity({"a": 0.5, "b": 0.2}).verdict == V.PART
    assert V.sparsity({"a": 0.05, "b": 0.9}).verdict == V.NOT
    edge = V.SPARSITY_CENTRE + V.SPARSITY_TOLERANCE
    assert V.sparsity({"a": edge}).verdict == V.HOLDS
    assert V.sparsity({"a": edge + 0.01}).verdict == V.NOT
    low = V.SPARSITY_CENTRE - V.SPARSITY_TOLERANCE
    assert V.sparsity({"a": low}).verdict == V.HOLDS
    assert V.sparsity({"a": low - 0.01}).verdict == V.NOT


def test_sparsity_without_measurements_does_not_hold():
    assert V.sparsity({}).verdict == V.NOT


# --------------------------------------------------------------------------
# Claim 4: dying units
# --------------------------------------------------------------------------


def test_dying():
    # ReLU dies at the high rate, LeakyReLU far less stuck
    assert V.dying(0.05, 0.6, 0.1).verdict == V.HOLDS
    # ReLU dies, but LeakyReLU's units end up just as negative
    assert V.dying(0.05, 0.6, 0.5).verdict == V.PART
    # the high rate kills no more than the normal one, and LeakyReLU is stuck too
    assert V.dying(0.5, 0.55, 0.5).verdict == V.NOT


def test_dying_without_dead_relu_units_does_not_hold():
    """No ReLU unit dies: the claim's premise is not shown, and LeakyReLU's 0
    stuck units keep nothing alive (0 <= 0.5 x 0 is no evidence)."""
    assert V.dying(0.0, 0.0, 0.0).verdict == V.NOT
    # a few die, below the bar: LeakyReLU doing better is not "keeping them alive" either
    assert V.dying(0.0, 0.1, 0.0).verdict == V.NOT


def test_dying_needs_enough_dead_units_at_the_high_rate():
    # 15% more dead than at the normal rate, but only 15% dead
    assert V.dying(0.0, V.DEAD_HIGH_MIN - 0.05, 0.0).verdict == V.NOT
    # exactly at the minimum: both halves count
    assert V.dying(0.0, V.DEAD_HIGH_MIN, 0.0).verdict == V.HOLDS


def test_dying_needs_a_rise_over_the_normal_rate():
    # many dead at the high rate, as many at the normal one: not the high rate's doing
    assert V.dying(0.5, 0.55, 0.0).verdict == V.PART
    # exactly DEAD_RISE_MIN more
    normal = 0.25
    assert V.dying(normal, normal + V.DEAD_RISE_MIN, 0.0).verdict == V.HOLDS


def test_dying_leaky_share_is_compared_with_relu_at_the_high_rate():
    # exactly at the limit
    assert V.dying(0.0, 0.5, V.LEAKY_KEEPS_ALIVE_MAX_SHARE * 0.5).verdict == V.HOLDS
    assert V.dying(0.0, 0.5, V.LEAKY_KEEPS_ALIVE_MAX_SHARE * 0.5 + 1e-9).verdict == V.PART
    # below half of ReLU's share at the high rate, above half of it at the normal rate
    assert V.dying(0.05, 0.6, 0.1).verdict == V.HOLDS


def test_dying_cites_its_numbers_in_order():
    v = V.dying(0.05, 0.6, 0.1)
    assert v.evidence == [
        ("ReLU dead, normal lr", 0.05),
        ("ReLU dead, high lr", 0.6),
        ("LeakyReLU stuck negative, high lr", 0.1),
    ]


def test_dying_keeps_extra_evidence():
    v = V.dying(0.05, 0.6, 0.1, [("error", 0.3)])
    assert ("error", 0.3) in v.evidence


def test_dying_rule_says_what_no_dying_gives():
    assert f"fewer than {V.DEAD_HIGH_MIN:.0%} of ReLU's units die" in V.DYING_RULE


# --------------------------------------------------------------------------
# Claim 5: ELU's cost
# --------------------------------------------------------------------------


def test_elu_cost():
    assert V.elu_cost({"a": 1.5, "b": 1.2}).verdict == V.HOLDS
    assert V.elu_cost({"a": 1.5, "b": 0.9}).verdict == V.PART
    assert V.elu_cost({"a": 1.0, "b": 0.95}).verdict == V.NOT
    assert V.elu_cost({"a": V.COST_RATIO_MIN}).verdict == V.HOLDS
    assert V.elu_cost({"a": V.COST_RATIO_MIN - 1e-9}).verdict == V.NOT
    assert V.elu_cost({}).verdict == V.NOT


# --------------------------------------------------------------------------
# Claim 6: PReLU's slopes
# --------------------------------------------------------------------------


def test_prelu():
    assert V.prelu_learns({"x": 0.2, "y": 0.001}).verdict == V.HOLDS
    assert V.prelu_learns({"x": 0.02}).verdict == V.PART
    assert V.prelu_learns({"x": 0.001}).verdict == V.NOT
    assert V.prelu_learns({}).verdict == V.NOT


def test_prelu_thresholds_are_inclusive():
    assert V.prelu_learns({"x": V.SLOPE_MOVED}).verdict == V.HOLDS
    assert V.prelu_learns({"x": V.SLOPE_MOVED - 1e-9}).verdict == V.PART
    assert V.prelu_learns({"x": V.SLOPE_MOVED_A_LITTLE}).verdict == V.PART
    assert V.prelu_learns({"x": V.SLOPE_MOVED_A_LITTLE - 1e-9}).verdict == V.NOT


def test_prelu_states_the_initial_slope():
    v = V.prelu_learns({"x": 0.2}, [("median slope, x", 0.3)], init=0.1)
    assert "initial 0.1" in v.title and "|slope - 0.1|" in v.rule
    assert v.evidence == [("median |a-0.1|, x", 0.2), ("median slope, x", 0.3)]
    assert V.prelu_learns({"x": 0.2}).rule == V.PRELU_RULE
    assert f"|slope - {V.PRELU_INIT:g}|" in V.PRELU_RULE


# --------------------------------------------------------------------------
# Claim 7: the article's experiment
# --------------------------------------------------------------------------


def _article(sig, relu, leaky):
    return V.article({"sigmoid": sig, "relu": relu, "leaky_relu": leaky})


def test_article():
    relu = [0.20, 0.18, 0.19, 0.21, 0.20]
    slow = [0.50, 0.45, 0.55, 0.48, 0.52]
    assert _article(slow, relu, relu).verdict == V.HOLDS
    # LeakyReLU far from ReLU
    far = [0.40] * 5
    assert _article(slow, relu, far).verdict == V.PART
    # Sigmoid as fast as ReLU, and LeakyReLU off
    assert _article(relu, relu, far).verdict == V.NOT


def test_article_needs_most_seeds():
    relu = [0.2] * 5
    # higher on average (one seed very bad) but above ReLU in only 2 of 5 seeds
    sig = [2.0, 0.3, 0.19, 0.19, 0.19]
    v = _article(sig, relu, relu)
    assert v.verdict == V.PART
    assert dict(v.evidence)["seeds with Sigmoid > ReLU"] == pytest.approx(0.4)


def test_article_needs_a_higher_mean_loss():
    relu = [0.25] * 4
    # above ReLU in every seed, by 10%: not slow enough
    assert _article([0.275] * 4, relu, relu).verdict == V.PART
    # exactly SIGMOID_SLOWER_LOSS_RATIO times ReLU's (1.25 x 0.25 is exact)
    assert _article([V.SIGMOID_SLOWER_LOSS_RATIO * 0.25] * 4, relu, relu).verdict == V.HOLDS


def test_article_seed_share_threshold_is_inclusive():
    relu = [0.25] * 5
    v = _article([1.0, 1.0, 1.0, 1.0, 0.25], relu, relu)  # 4 of 5 = 0.8
    assert dict(v.evidence)["seeds with Sigmoid > ReLU"] == V.SIGMOID_SLOWER_SEED_SHARE
    assert v.verdict == V.HOLDS


def test_article_a_tie_is_not_a_slower_seed():
    relu = [0.25] * 5
    # equal to ReLU in two seeds: above it in 3 of 5 only
    v = _article([1.0, 1.0, 1.0, 0.25, 0.25], relu, relu)
    assert dict(v.evidence)["seeds with Sigmoid > ReLU"] == pytest.approx(0.6)
    assert v.verdict == V.PART


def test_article_tracks_within_ten_percent():
    # ReLU's loss the same in every seed (std 0): 4% off tracks by the relative half alone
    relu = [0.25] * 4
    assert _article([1.0] * 4, relu, [0.26] * 4).verdict == V.HOLDS
    assert _article([1.0] * 4, relu, [0.3] * 4).verdict == V.PART


def test_article_tracks_on_both_sides():
    # LeakyReLU much better than ReLU is not tracking it either
    relu = [0.25] * 4
    assert _article([1.0] * 4, relu, [0.24] * 4).verdict == V.HOLDS
    assert _article([1.0] * 4, relu, [0.1] * 4).verdict == V.PART


def test_article_tracks_within_one_standard_deviation():
    # ReLU's mean 0.5 and std exactly 0.25 over seeds; LeakyReLU 0.25 off: far beyond
    # 10% of the mean, exactly one standard deviation
    relu = [0.25, 0.5, 0.75]
    sig = [2.0] * 3
    v = _article(sig, relu, [0.75] * 3)
    assert dict(v.evidence)["ReLU std over seeds"] == 0.25
    assert v.verdict == V.HOLDS
    assert _article(sig, relu, [0.76] * 3).verdict == V.PART


def test_article_cites_its_numbers():
    v = _article([0.5, 0.7], [0.2, 0.2], [0.3, 0.1])
    ev = dict(v.evidence)
    assert ev["final loss Sigmoid (mean)"] == pytest.approx(0.6)
    assert ev["final loss ReLU (mean)"] == pytest.approx(0.2)
    assert ev["final loss LeakyReLU (mean)"] == pytest.approx(0.2)
    assert ev["Sigmoid / ReLU"] == pytest.approx(3.0)
    assert ev["seeds"] == 2


# --------------------------------------------------------------------------


def test_rule_texts_state_the_thresholds():
    rules = V.all_rules()
    assert set(rules) == {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"}
    assert f"{V.FRIENDLIER_GAIN_MIN:g} above" in rules["10"] and f"{V.FAILED_RUN_ACCURACY:g}" in rules["10"]
    assert f"{V.STABLER_SPREAD_RATIO:g}x" in rules["10"] and f"{V.STABLER_SPREAD_FLOOR:g}" in rules["10"]
    assert f"ReLU's - {V.SHALLOW_ACC_SLACK:g}" in rules["11"]
    assert f"{V.SPARSE_MIN_ZEROS:.0%}" in rules["12"] and f"at least {V.SPARSE_GAP_MIN:g}" in rules["12"]
    assert f"{V.DEAD_HIGH_MIN:.0%}" in rules["9"] and f"{V.LEAKY_KEEPS_ALIVE_MAX_SHARE:g}x" in rules["9"]
    assert f"{V.COLLAPSE_MAX_REL_ERROR:g}" in rules["8"] and f"{V.LINEAR_ACC_SLACK:g}" in rules["8"]
    assert f"{V.RELU_GAIN_MIN:g}" in rules["8"]
    assert f"{V.SPEEDUP_HOLDS_AT:g}" in rules["1"] and f"{V.SPEEDUP_MEASURABLE:g}" in rules["1"]
    assert f"{V.VANISH_MAX_ATTENUATION:g}" in rules["2"] and f"{V.SATURATED_MIN:.0%}" in rules["2"]
    assert f"{V.SPARSITY_CENTRE:g} +- {V.SPARSITY_TOLERANCE:g}" in rules["3"]
    assert f"{V.DEAD_HIGH_MIN:.0%}" in rules["4"] and f"{V.DEAD_RISE_MIN:.0%}" in rules["4"]
    assert f"{V.LEAKY_KEEPS_ALIVE_MAX_SHARE:g}x" in rules["4"]
    assert f"{V.COST_RATIO_MIN:g}" in rules["5"]
    assert f"{V.SLOPE_MOVED:g}" in rules["6"] and f"{V.SLOPE_MOVED_A_LITTLE:g}" in rules["6"]
    assert (
        f"{V.SIGMOID_SLOWER_LOSS_RATIO:g}" in rules["7"]
        and f"{V.SIGMOID_SLOWER_SEED_SHARE:.0%}" in rules["7"]
    )
    assert f"{V.LEAKY_TRACKS_REL:.0%}" in rules["7"]


def _collapse(err=1e-7, linear=0.61, logistic=0.6, relu=0.97):
    return V.linear_collapse([err, err / 2], [linear] * 2, [logistic] * 2, [relu] * 2, [0.6, 0.61])


def test_linear_collapse_holds_when_all_three_readings_do():
    v = _collapse()
    assert v.claim == "8" and v.verdict == V.HOLDS
    ev = dict(v.evidence)
    assert ev["product of weights vs output (max rel. error)"] == pytest.approx(1e-7)
    assert ev["accuracy, ReLU (mean)"] == pytest.approx(0.97)
    assert ev["seeds"] == 2


@pytest.mark.parametrize(
    "kw",
    [
        {"err": 1e-2},  # not one linear map
        {"linear": 0.7},  # better than any linear classifier
        {"relu": 0.7},  # the non-linearity did not help
    ],
)
def test_linear_collapse_holds_in_part_when_one_reading_fails(kw):
    assert _collapse(**kw).verdict == V.PART


def test_linear_collapse_does_not_hold_when_no_reading_does():
    assert _collapse(err=1.0, linear=0.9, relu=0.9).verdict == V.NOT


@pytest.mark.parametrize(
    "base,large,leaky,verdict",
    [
        (0.0, 0.5, 0.1, V.HOLDS),  # ReLU dies at the large scale, LeakyReLU keeps them alive
        (0.45, 0.5, 0.1, V.PART),  # dead already at 1x: large weights add little
        (0.0, 0.5, 0.4, V.PART),  # LeakyReLU stuck as often
        (0.0, 0.1, 0.0, V.NOT),  # nothing dies
    ],
)
def test_large_init_rule(base, large, leaky, verdict):
    v = V.large_init(base, large, leaky)
    assert v.claim == "9" and v.verdict == verdict
    assert dict(v.evidence)["ReLU dead at end, largest scale"] == large


def _cond(relu, leaky, name="offset"):
    return V.Condition(name, relu, leaky)


@pytest.mark.parametrize(
    "relu,leaky,friendlier,stabler,better",
    [
        ([0.9, 0.92, 0.91], [0.95, 0.96, 0.94], True, False, True),  # more accurate
        ([0.5, 0.95, 0.95], [0.8, 0.78, 0.82], False, True, True),  # fewer failed runs, not more accurate
        ([0.8, 0.9, 1.0], [0.88, 0.9, 0.92], False, True, True),  # a quarter of the spread
        ([0.9, 0.9, 0.9], [0.9, 0.9, 0.9], False, False, False),  # no difference
        ([0.9, 0.901, 0.9], [0.9, 0.9, 0.9], False, False, False),  # ReLU steady already: nothing to steady
        ([0.95, 0.96, 0.94], [0.96, 0.97, 0.5], False, False, False),  # a failed run
        ([0.8, 0.9, 1.0], [0.86, 0.87, 0.88], False, True, False),  # steadier, but 0.03 less accurate
    ],
)
def test_negative_data_condition(relu, leaky, friendlier, stabler, better):
    c = _cond(relu, leaky)
    assert (c.friendlier(), c.stabler(), c.better()) == (friendlier, stabler, better)


def test_negative_data_counts_the_conditions():
    good = _cond([0.9, 0.92, 0.91], [0.95, 0.96, 0.94], "negative_bias")
    same = _cond([0.9, 0.9, 0.9], [0.9, 0.9, 0.9], "imbalance")
    assert V.negative_data([good, good]).verdict == V.HOLDS
    v = V.negative_data([good, same])
    assert v.claim == "10" and v.verdict == V.PART
    ev = dict(v.evidence)
    assert ev["negative_bias: balanced accuracy ReLU"] == pytest.approx(0.91)
    assert ev["negative_bias: failed runs ReLU"] == 0
    assert V.negative_data([same]).verdict == V.NOT
    assert V.negative_data([]).verdict == V.NOT


@pytest.mark.parametrize(
    "sig,relu,sig_lr,relu_lr,verdict",
    [
        (0.95, 0.96, 0.01, 0.1, V.HOLDS),  # within 0.02, at a lower rate
        (0.95, 0.96, 0.3, 0.1, V.PART),  # usable, at a higher rate
        (0.80, 0.96, 0.01, 0.1, V.PART),  # lower rate, not usable
        (0.80, 0.96, 0.3, 0.03, V.NOT),
        (0.95, 0.96, 0.1, 0.1, V.PART),  # the same rate is not lower
    ],
)
def test_shallow_sigmoid_rule(sig, relu, sig_lr, relu_lr, verdict):
    v = V.shallow_sigmoid(sig, relu, sig_lr, relu_lr)
    assert v.claim == "11" and v.verdict == verdict
    assert dict(v.evidence)["best rate Sigmoid"] == sig_lr


def test_sparse_overfitting_rule():
    relu = [0.05, 0.06, 0.04]
    gaps = {
        "relu": relu,
        "sigmoid": [0.07, 0.08, 0.06],  # 0.02 more in every seed: beyond the spread
        "gelu": [0.051, 0.061, 0.041],  # consistent, but 0.001 is below the minimum effect
        "tanh": [0.10, 0.04, 0.03],  # 0.0067 more on average, spread far wider
    }
    v = V.sparse_overfitting(0.4, gaps)
    assert v.claim == "12" and v.verdict == V.PART
    assert dict(v.evidence)["gap sigmoid - ReLU (mean)"] == pytest.approx(0.02)
    assert V.sparse_overfitting(0.4, {"relu": relu, "sigmoid": gaps["sigmoid"]}).verdict == V.HOLDS
    assert (
        V.sparse_overfitting(0.4, {"relu": relu, "gelu": gaps["gelu"], "tanh": gaps["tanh"]}).verdict == V.NOT
    )
    # ReLU not sparse: nothing to credit
    assert V.sparse_overfitting(0.1, {"relu": relu, "sigmoid": gaps["sigmoid"]}).verdict == V.NOT


def test_unknown_verdict_is_rejected():
    with pytest.raises(ValueError):
        V.Verdict("1", "t", "maybe")
