"""The rules that turn measured numbers into verdicts on the article's claims.

Each rule is a function of plain numbers (no torch, no measurement), so that
the rules can be read, printed into the report, and unit-tested on made-up
inputs (tests/test_verdicts.py). The thresholds are the module constants
below; each rule's text is built from them, so the report states exactly
what the code applies.

Verdicts: ``holds``, ``holds only in part``, ``does not hold on this evidence``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

HOLDS = "holds"
PART = "holds only in part"
NOT = "does not hold on this evidence"
VERDICTS = (HOLDS, PART, NOT)

# Claim 1: "ReLU networks are 6x faster than Sigmoid networks".
CLAIMED_SPEEDUP = 6.0
SPEEDUP_HOLDS_AT = 4.0  # within a factor 1.5 of the claimed 6x
SPEEDUP_MEASURABLE = 1.1  # ReLU at least 10% faster: "faster, but not 6x"

# Claim 2: sigmoid gradients vanish in a deep MLP; sigmoid units saturate.
VANISH_MAX_ATTENUATION = 1e-2  # first layer's gradient norm / last layer's, sigmoid, at init
VANISH_VS_RELU = 10.0  # and at least this many times smaller than ReLU's
SATURATED_MIN = 0.10  # share of sigmoid inputs with |x| > bound at some point of training
SATURATION_ABS_INPUT = 5.0  # the article's "|x| > 5": sigmoid'(5) = 0.0066 (the experiment's default bound)

# Claim 3: about half of ReLU's outputs are exactly 0.
SPARSITY_CENTRE = 0.5
SPARSITY_TOLERANCE = 0.15

# Claim 4: high learning rates kill ReLU units; LeakyReLU keeps them alive.
DEAD_HIGH_MIN = 0.20  # ReLU's dead fraction at the high rate, at the end
DEAD_RISE_MIN = 0.10  # and at least this much above the normal rate's
LEAKY_KEEPS_ALIVE_MAX_SHARE = 0.5  # LeakyReLU's stuck share <= this x ReLU's dead share

# Claim 5: ELU costs more than LeakyReLU.
COST_RATIO_MIN = 1.1

# Claim 6: PReLU learns its slopes.
PRELU_INIT = 0.25  # torch.nn.PReLU's initial slope (the experiments' default)
SLOPE_MOVED = 0.05  # median |slope - initial| in some experiment
SLOPE_MOVED_A_LITTLE = 0.01

# Claim 7: the article's experiment.
SIGMOID_SLOWER_LOSS_RATIO = 1.25  # mean final loss, sigmoid / relu
SIGMOID_SLOWER_SEED_SHARE = 0.8  # sigmoid's final loss above relu's in this share of seeds
LEAKY_TRACKS_REL = 0.10  # |mean leaky - mean relu| <= this x mean relu (or one relu std)

# Claim 8: without an activation, the layers collapse into one linear map
COLLAPSE_MAX_REL_ERROR = 1e-4  # the product of the weights reproduces the network's outputs this closely
LINEAR_ACC_SLACK = 0.02  # the stack's accuracy <= the best linear classifier's + this
RELU_GAIN_MIN = 0.15  # and ReLU's accuracy >= the stack's + this

# Claim 10: on data that drive hidden inputs negative, LeakyReLU is friendlier and more stable than ReLU.
FAILED_RUN_ACCURACY = 0.75  # a run whose held-out balanced accuracy is below this failed
FRIENDLIER_GAIN_MIN = 0.01  # LeakyReLU's mean balanced accuracy >= ReLU's + this
STABLER_SPREAD_RATIO = 0.5  # or its spread over seeds <= this x ReLU's ...
STABLER_SPREAD_FLOOR = 0.01  # ... when ReLU's spread is at least this (else there is nothing to steady)

# Claim 11: Sigmoid can still be used in a shallow network (LeNet-5), at a lower learning rate.
SHALLOW_ACC_SLACK = 0.02  # Sigmoid's test accuracy at its best rate >= ReLU's at its best - this

# Claim 12: ReLU's sparsity reduces overfitting.
SPARSE_MIN_ZEROS = 0.2  # ReLU's share of exact zeros that makes it the sparse network
SPARSE_GAP_MIN = 0.01  # and the other's train-test accuracy gap exceeds ReLU's by at least this on average


@dataclass
class Verdict:
    claim: str  # e.g. "1(a)"
    title: str
    verdict: str
    evidence: List[Tuple[str, object]] = field(default_factory=list)  # (label, number or text)
    rule: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}")

    def numbers(self) -> List[float]:
        return [v for _, v in self.evidence if isinstance(v, (int, float)) and not isinstance(v, bool)]


def _count(flags: Sequence[bool]) -> str:
    if all(flags):
        return HOLDS
    if any(flags):
        return PART
    return NOT


# --------------------------------------------------------------------------


SPEED_RULE = (
    f"R = Sigmoid's cost / ReLU's cost. Holds if R >= {SPEEDUP_HOLDS_AT:g} (within a factor 1.5 of the "
    f"claimed {CLAIMED_SPEEDUP:g}x); holds only in part if {SPEEDUP_MEASURABLE:g} <= R < {SPEEDUP_HOLDS_AT:g} "
    f"(ReLU faster, not {CLAIMED_SPEEDUP:g}x); does not hold if R < {SPEEDUP_MEASURABLE:g}. When Sigmoid never "
    "reached the target, R is a lower bound (epoch budget / ReLU's epochs): it can confirm, not refute; "
    "when ReLU never reached it, the claim does not hold on this evidence."
)


def speedup(
    claim: str,
    title: str,
    ratio: float,
    evidence: List[Tuple[str, object]],
    lower_bound: bool = False,
    relu_measured: bool = True,
) -> Verdict:
    """Claim 1, one reading: ``ratio`` = Sigmoid's time (or epochs) / ReLU's."""
    if not relu_measured or ratio is None or math.isnan(ratio):
        v = NOT
    elif ratio >= SPEEDUP_HOLDS_AT:
        v = HOLDS
    elif lower_bound or ratio >= SPEEDUP_MEASURABLE:
        v = PART
    else:
        v = NOT
    return Verdict(claim, title, v, evidence, SPEED_RULE)


def vanish_rule(bound: float = SATURATION_ABS_INPUT) -> str:
    return (
        "A = (gradient norm of the first Linear layer's weight) / (that of the last), at initialisation, median "
        f"over seeds. Vanishing: Sigmoid's A <= {VANISH_MAX_ATTENUATION:g} and at least {VANISH_VS_RELU:g}x "
        f"smaller than ReLU's. Saturation: at some recorded point of training at least {SATURATED_MIN:.0%} of "
        f"Sigmoid's inputs have |x| > {bound:g}. Holds if both; holds only in part if one; does not hold if "
        "neither."
    )


VANISH_RULE = vanish_rule()


def vanishing(
    a_sigmoid: float,
    a_relu: float,
    saturated_max: float,
    saturated_init: float,
    bound: float = SATURATION_ABS_INPUT,
) -> Verdict:
    """``bound``: the |input| above which the experiment counted a unit as saturated (text only)."""
    vanish = a_sigmoid <= VANISH_MAX_ATTENUATION and a_sigmoid * VANISH_VS_RELU <= a_relu
    saturate = saturated_max >= SATURATED_MIN
    return Verdict(
        "2",
        f"Sigmoid saturates (|x| > {bound:g}), so its gradients vanish in deep networks; ReLU's do not",
        _count([vanish, saturate]),
        [
            ("A Sigmoid, init", a_sigmoid),
            ("A ReLU, init", a_relu),
            (f"Sigmoid inputs |x|>{bound:g}, init", saturated_init),
            (f"Sigmoid inputs |x|>{bound:g}, max in training", saturated_max),
        ],
        vanish_rule(bound),
    )


SPARSITY_RULE = (
    f"Each measured fraction of exact zeros in ReLU outputs counts if it lies within {SPARSITY_CENTRE:g} +- "
    f"{SPARSITY_TOLERANCE:g}. Holds if all do; holds only in part if some do; does not hold if none does."
)


def sparsity(fractions: Mapping[str, float]) -> Verdict:
    low, high = SPARSITY_CENTRE - SPARSITY_TOLERANCE, SPARSITY_CENTRE + SPARSITY_TOLERANCE
    flags = [low <= v <= high for v in fractions.values()]
    return Verdict(
        "3",
        "ReLU activations are sparse: about half the units are exactly 0",
        _count(flags) if flags else NOT,
        list(fractions.items()),
        SPARSITY_RULE,
    )


# "LeakyReLU keeps them alive" is a statement about the units the high rate
# kills: when ReLU has (almost) no dead units there is nothing to keep alive,
# and LeakyReLU's low stuck share is no evidence for it. So that half also
# needs ReLU's dead share at the high rate to reach DEAD_HIGH_MIN, and with no
# dying at all the claim does not hold on this evidence (rather than holding
# in part by 0 <= 0.5 x 0).
DYING_RULE = (
    f"ReLU dies: at the high learning rate at least {DEAD_HIGH_MIN:.0%} of ReLU's hidden units are dead "
    f"(input <= 0 for every training example) at the end of training, and at least {DEAD_RISE_MIN:.0%} of the "
    "units more than at the normal rate. LeakyReLU keeps them alive: at the high rate at least "
    f"{DEAD_HIGH_MIN:.0%} of ReLU's units are dead (there are units to keep alive) and LeakyReLU's share of units "
    f"stuck on the negative side is at most {LEAKY_KEEPS_ALIVE_MAX_SHARE:g}x ReLU's dead share. Medians over "
    "seeds, mean over hidden layers. Holds if both; holds only in part if one; does not hold if neither, hence "
    f"whenever fewer than {DEAD_HIGH_MIN:.0%} of ReLU's units die at the high rate."
)


def dying(
    relu_dead_normal: float,
    relu_dead_high: float,
    leaky_stuck_high: float,
    extra: Optional[List[Tuple[str, object]]] = None,
) -> Verdict:
    dies = relu_dead_high >= DEAD_HIGH_MIN and relu_dead_high >= relu_dead_normal + DEAD_RISE_MIN
    alive = (
        relu_dead_high >= DEAD_HIGH_MIN and leaky_stuck_high <= LEAKY_KEEPS_ALIVE_MAX_SHARE * relu_dead_high
    )
    return Verdict(
        "4",
        "High learning rates kill ReLU units; LeakyReLU (0.01) keeps them alive",
        _count([dies, alive]),
        [
            ("ReLU dead, normal lr", relu_dead_normal),
            ("ReLU dead, high lr", relu_dead_high),
            ("LeakyReLU stuck negative, high lr", leaky_stuck_high),
        ]
        + list(extra or []),
        DYING_RULE,
    )


COST_RULE = (
    f"Each ELU / LeakyReLU time ratio (forward and backward, ours and torch's, paired rounds) counts if it is "
    f">= {COST_RATIO_MIN:g}. Holds if all do; holds only in part if some do; does not hold if none does."
)


def elu_cost(ratios: Mapping[str, float]) -> Verdict:
    flags = [r >= COST_RATIO_MIN for r in ratios.values()]
    return Verdict(
        "5",
        "ELU costs somewhat more compute than LeakyReLU",
        _count(flags) if flags else NOT,
        list(ratios.items()),
        COST_RULE,
    )


def prelu_rule(init: float = PRELU_INIT) -> str:
    return (
        f"Median |slope - {init:g}| after training, per experiment. Holds if some experiment's is >= "
        f"{SLOPE_MOVED:g}; holds only in part if the largest is in [{SLOPE_MOVED_A_LITTLE:g}, {SLOPE_MOVED:g}); "
        "does not hold below."
    )


PRELU_RULE = prelu_rule()


def prelu_learns(
    median_shift: Mapping[str, float],
    extra: Optional[List[Tuple[str, object]]] = None,
    init: float = PRELU_INIT,
) -> Verdict:
    """``median_shift[experiment]``: median |slope - init| after training; ``init`` the initial slope."""
    top = max(median_shift.values()) if median_shift else 0.0
    v = HOLDS if top >= SLOPE_MOVED else PART if top >= SLOPE_MOVED_A_LITTLE else NOT
    return Verdict(
        "6",
        f"PReLU learns its negative slope (initial {init:g})",
        v,
        [(f"median |a-{init:g}|, {k}", s) for k, s in median_shift.items()] + list(extra or []),
        prelu_rule(init),
    )


ARTICLE_RULE = (
    f"Sigmoid slower: mean final loss of Sigmoid / ReLU >= {SIGMOID_SLOWER_LOSS_RATIO:g} and Sigmoid's final "
    f"loss above ReLU's in at least {SIGMOID_SLOWER_SEED_SHARE:.0%} of seeds (same data and initial weights "
    f"per seed). LeakyReLU tracks ReLU: |mean final loss LeakyReLU - ReLU| <= {LEAKY_TRACKS_REL:.0%} of ReLU's "
    "or <= one standard deviation of ReLU's over seeds. Holds if both; holds only in part if one; does not "
    "hold if neither."
)


def _mean(v: Sequence[float]) -> float:
    return sum(v) / len(v)


def _std(v: Sequence[float]) -> float:
    if len(v) < 2:
        return 0.0
    m = _mean(v)
    return math.sqrt(sum((a - m) ** 2 for a in v) / (len(v) - 1))


def article(final_losses: Mapping[str, Sequence[float]]) -> Verdict:
    """``final_losses[activation]`` lists final losses per seed, in the same seed order."""
    sig, relu, leaky = final_losses["sigmoid"], final_losses["relu"], final_losses["leaky_relu"]
    ratio = _mean(sig) / _mean(relu)
    share = sum(1 for s, r in zip(sig, relu) if s > r) / len(sig)
    slower = ratio >= SIGMOID_SLOWER_LOSS_RATIO and share >= SIGMOID_SLOWER_SEED_SHARE
    gap = abs(_mean(leaky) - _mean(relu))
    tracks = gap <= max(LEAKY_TRACKS_REL * _mean(relu), _std(relu))
    return Verdict(
        "7",
        "The article's experiment: Sigmoid's loss falls slowly; ReLU's fast; LeakyReLU tracks ReLU",
        _count([slower, tracks]),
        [
            ("final loss Sigmoid (mean)", _mean(sig)),
            ("final loss ReLU (mean)", _mean(relu)),
            ("final loss LeakyReLU (mean)", _mean(leaky)),
            ("Sigmoid / ReLU", ratio),
            ("seeds with Sigmoid > ReLU", share),
            ("ReLU std over seeds", _std(relu)),
            ("seeds", len(sig)),
        ],
        ARTICLE_RULE,
    )


COLLAPSE_RULE = (
    "Three readings of the claim, on the article's circle data: (i) the weights of the network without an "
    "activation, multiplied out, reproduce its outputs to within "
    f"{COLLAPSE_MAX_REL_ERROR:g} of their largest magnitude (it is one linear map), in every seed; (ii) its mean "
    f"accuracy is at most the best linear classifier's (logistic regression on the inputs) + {LINEAR_ACC_SLACK:g} "
    f"(depth adds nothing); (iii) the same network with ReLU, from the same initial weights, is at least "
    f"{RELU_GAIN_MIN:g} more accurate on average (the non-linearity is what fits the data). Holds if all three; "
    "holds only in part if some; does not hold if none."
)


def linear_collapse(
    collapse_errors: Sequence[float],
    linear_accuracy: Sequence[float],
    logistic_accuracy: Sequence[float],
    relu_accuracy: Sequence[float],
    majority_accuracy: Sequence[float],
) -> Verdict:
    """Claim 8, per seed (same seed order in each list)."""
    one_map = max(collapse_errors) <= COLLAPSE_MAX_REL_ERROR
    no_better = _mean(linear_accuracy) <= _mean(logistic_accuracy) + LINEAR_ACC_SLACK
    relu_fits = _mean(relu_accuracy) >= _mean(linear_accuracy) + RELU_GAIN_MIN
    return Verdict(
        "8",
        "Without an activation, any number of layers is one linear map and cannot fit non-linear data",
        _count([one_map, no_better, relu_fits]),
        [
            ("product of weights vs output (max rel. error)", max(collapse_errors)),
            ("accuracy, no activation (mean)", _mean(linear_accuracy)),
            ("accuracy, logistic regression (mean)", _mean(logistic_accuracy)),
            ("accuracy, ReLU (mean)", _mean(relu_accuracy)),
            ("accuracy, majority class (mean)", _mean(majority_accuracy)),
            ("seeds", len(collapse_errors)),
        ],
        COLLAPSE_RULE,
    )


INIT_RULE = (
    f"ReLU dies of large initial weights: at the largest initial scale at least {DEAD_HIGH_MIN:.0%} of ReLU's "
    f"hidden units are dead at the end of training (one learning rate for every scale), and at least {DEAD_RISE_MIN:.0%} "
    "of the units more than at 1x Kaiming. LeakyReLU keeps them alive: at the largest scale at least "
    f"{DEAD_HIGH_MIN:.0%} of ReLU's units are dead and LeakyReLU's share stuck on the negative side is at most "
    f"{LEAKY_KEEPS_ALIVE_MAX_SHARE:g}x ReLU's dead share. Medians over seeds, mean over hidden layers (the "
    "thresholds of claim 4). Holds if both; holds only in part if one; does not hold if neither."
)


def large_init(
    relu_dead_base: float,
    relu_dead_large: float,
    leaky_stuck_large: float,
    extra: Optional[List[Tuple[str, object]]] = None,
) -> Verdict:
    """Claim 9: ReLU's dead share at 1x and at the largest scale, LeakyReLU's stuck share there."""
    dies = relu_dead_large >= DEAD_HIGH_MIN and relu_dead_large >= relu_dead_base + DEAD_RISE_MIN
    alive = (
        relu_dead_large >= DEAD_HIGH_MIN
        and leaky_stuck_large <= LEAKY_KEEPS_ALIVE_MAX_SHARE * relu_dead_large
    )
    return Verdict(
        "9",
        "Too-large initial weights kill ReLU units; LeakyReLU keeps them alive",
        _count([dies, alive]),
        [
            ("ReLU dead at end, 1x Kaiming", relu_dead_base),
            ("ReLU dead at end, largest scale", relu_dead_large),
            ("LeakyReLU stuck at end, largest scale", leaky_stuck_large),
        ]
        + list(extra or []),
        INIT_RULE,
    )


NEGATIVE_RULE = (
    "On each condition that drives the hidden units' inputs negative (every condition but the article's "
    "standard data), from the same initial weights per seed: LeakyReLU is friendlier if its mean held-out "
    f"balanced accuracy is at least {FRIENDLIER_GAIN_MIN:g} above ReLU's; more stable if fewer of its runs fail "
    f"(balanced accuracy below {FAILED_RUN_ACCURACY:g}) or its standard deviation over seeds is at most "
    f"{STABLER_SPREAD_RATIO:g}x ReLU's (when ReLU's is at least {STABLER_SPREAD_FLOOR:g}). LeakyReLU does better "
    f"on a condition if it is friendlier or more stable there, and neither {FRIENDLIER_GAIN_MIN:g} less accurate "
    "nor failing more often. Holds if it does better on every such condition; holds only in part if on some; "
    "does not hold if on none."
)


@dataclass
class Condition:
    """One condition of claim 10: per seed (same seed order), each activation's held-out balanced accuracy."""

    name: str
    relu: Sequence[float]
    leaky: Sequence[float]

    def failed(self, v: Sequence[float]) -> int:
        return sum(1 for a in v if a < FAILED_RUN_ACCURACY)

    def gain(self) -> float:
        return _mean(self.leaky) - _mean(self.relu)

    def friendlier(self) -> bool:
        return self.gain() >= FRIENDLIER_GAIN_MIN

    def stabler(self) -> bool:
        if self.failed(self.leaky) < self.failed(self.relu):
            return True
        return _std(self.relu) >= STABLER_SPREAD_FLOOR and _std(self.leaky) <= STABLER_SPREAD_RATIO * _std(
            self.relu
        )

    def better(self) -> bool:
        worse = self.gain() <= -FRIENDLIER_GAIN_MIN or self.failed(self.leaky) > self.failed(self.relu)
        return (self.friendlier() or self.stabler()) and not worse


def negative_data(
    conditions: Sequence[Condition], extra: Optional[List[Tuple[str, object]]] = None
) -> Verdict:
    """Claim 10, on the negative-heavy conditions (the standard one left out by the caller)."""
    evidence: List[Tuple[str, object]] = []
    for c in conditions:
        evidence += [
            (f"{c.name}: balanced accuracy ReLU", _mean(c.relu)),
            (f"{c.name}: LeakyReLU", _mean(c.leaky)),
            (f"{c.name}: std ReLU", _std(c.relu)),
            (f"{c.name}: std LeakyReLU", _std(c.leaky)),
            (f"{c.name}: failed runs ReLU", c.failed(c.relu)),
            (f"{c.name}: failed runs LeakyReLU", c.failed(c.leaky)),
        ]
    return Verdict(
        "10",
        "On data with many negative inputs LeakyReLU is friendlier and more stable than ReLU",
        _count([c.better() for c in conditions]) if conditions else NOT,
        evidence + list(extra or []),
        NEGATIVE_RULE,
    )


SHALLOW_RULE = (
    "LeNet-5 on digits, each activation at the learning rate of its grid with the best median validation "
    "accuracy. Usable: Sigmoid's median test accuracy there is at least ReLU's - "
    f"{SHALLOW_ACC_SLACK:g}. At a lower rate: Sigmoid's best rate is below ReLU's. Holds if both; holds only in "
    "part if one; does not hold if neither."
)


def shallow_sigmoid(
    sigmoid_accuracy: float,
    relu_accuracy: float,
    sigmoid_lr: float,
    relu_lr: float,
    extra: Optional[List[Tuple[str, object]]] = None,
) -> Verdict:
    """Claim 11: test accuracy of each at its best learning rate, and those rates."""
    usable = sigmoid_accuracy >= relu_accuracy - SHALLOW_ACC_SLACK
    lower = sigmoid_lr < relu_lr
    return Verdict(
        "11",
        "In a shallow network (LeNet-5) Sigmoid can still be used, with a lower learning rate",
        _count([usable, lower]),
        [
            ("test accuracy Sigmoid, best rate", sigmoid_accuracy),
            ("test accuracy ReLU, best rate", relu_accuracy),
            ("best rate Sigmoid", sigmoid_lr),
            ("best rate ReLU", relu_lr),
        ]
        + list(extra or []),
        SHALLOW_RULE,
    )


SPARSE_RULE = (
    "Little data, trained to fit it; per seed the same training subset and initial weights for every "
    "activation. Gap = training accuracy - test accuracy. ReLU is the sparse network if at least "
    f"{SPARSE_MIN_ZEROS:.0%} of its hidden outputs on the test images are exactly 0. Against each other activation, "
    "ReLU overfits less if the mean over seeds of (its gap - ReLU's gap), paired by seed, is at least "
    f"{SPARSE_GAP_MIN:g} and exceeds the standard deviation of those differences (beyond the spread). Holds if ReLU is sparse and overfits less than every "
    "other activation; holds only in part if than some; does not hold if than none (or if ReLU is not sparse)."
)


def sparse_overfitting(
    relu_zeros: float,
    gaps: Mapping[str, Sequence[float]],
    extra: Optional[List[Tuple[str, object]]] = None,
) -> Verdict:
    """Claim 12: ``gaps[activation]`` per seed (same seed order), ``gaps['relu']`` among them."""
    relu = gaps["relu"]
    evidence: List[Tuple[str, object]] = [("ReLU zeros", relu_zeros), ("gap ReLU (mean)", _mean(relu))]
    flags = []
    for name, gap in gaps.items():
        if name == "relu":
            continue
        d = [g - r for g, r in zip(gap, relu)]
        flags.append(_mean(d) >= SPARSE_GAP_MIN and _mean(d) > _std(d))
        evidence += [(f"gap {name} - ReLU (mean)", _mean(d)), ("its std", _std(d))]
    sparse = relu_zeros >= SPARSE_MIN_ZEROS
    return Verdict(
        "12",
        "ReLU's sparsity (exact zeros) reduces overfitting",
        _count(flags) if sparse and flags else NOT,
        evidence + list(extra or []),
        SPARSE_RULE,
    )


def all_rules() -> Dict[str, str]:
    """Every rule's text, by claim."""
    return {
        "1": SPEED_RULE,
        "2": VANISH_RULE,
        "3": SPARSITY_RULE,
        "4": DYING_RULE,
        "5": COST_RULE,
        "6": PRELU_RULE,
        "7": ARTICLE_RULE,
        "8": COLLAPSE_RULE,
        "9": INIT_RULE,
        "10": NEGATIVE_RULE,
        "11": SHALLOW_RULE,
        "12": SPARSE_RULE,
    }
