"""The table of supported activations: the Python side's single source.

Each row names an activation's operators and holds its data: torch's
reference and ``torch.nn`` class, parameters and defaults, what backward
saves, its in-place form, its parameter checks, whether ``bias_act`` and the
dead-unit monitor take it. The rest of the package derives from the table:
the fake kernels and batching rules of its operators (``ops.py``,
``_vmap.py``), ``functional.BIAS_ACTS`` and bias_act's reference, the
monitor's modules and thresholds, ``convert``'s class map and the
``__all__`` of ``functional`` and ``nn``. The tests and benchmarks loop over
it, and ``tests/test_table.py`` fails when a layer lacks an entry.

Our functional and module of a row are looked up by name
(``activations_ext.functional.<name>``, ``activations_ext.nn.<torch class
name>``) on first use: they are written by hand, since their signatures and
docstrings are the public API, and this module imports neither.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as TF

from . import _checks, eager

# checks(op, args): an activation's parameter checks, given an operator's
# name and its arguments by schema name (or, for bias_act, the activation's
# parameters with bias_act's alpha in its place).
ParamChecks = Callable[[str, Mapping[str, Any]], None]


@dataclass(frozen=True)
class ActivationSpec:
    """One supported activation.

    Attributes:
        name: the functional's name in ``activations_ext.functional``.
        reference: torch's functional with the same signature.
        torch_module: the torch.nn class our module (of the same class
            name, in ``activations_ext.nn``) replaces.
        params: scalar parameters with torch's defaults, in signature order;
            the torch.nn module keeps each under the same attribute name.
        saves: what backward keeps by default, as torch does: "output" or "input".
        forward_op, backward_op: our operator names in torch.ops.activations_ext.
        inplace_op: the in-place operator, or None when there is no in-place form.
        weight: whether the activation takes a tensor parameter (PReLU's weight).
        save_output_mode: whether ``save_output=True`` is offered.
        param_cases: parameter sets the tests sweep (negative and zero values included).
        exact: whether results are bit-identical to torch's (no rounding in the math).
        inplace_copies_input: whether the in-place variant, when autograd records
            it, copies its input first (its derivative needs the input; torch
            copies too). Otherwise in place saves the output.
        grad_kinks: inputs where torch's own gradient differs between its
            versions and devices (hardswish at -3 and 3); gradient comparisons
            move them off the kink.
        precise: a float64 formula of the same function for the tests'
            reference, where torch's own float64 loses accuracy (its gelu
            writes 1 + erf(x / sqrt 2), which cancels to 0 below x = -8).
            None: torch's float64 result is the reference.
        check_params: the parameter checks the C++ operators make before
            their tensor checks (see ``ParamChecks``); None when there are none.
        bias_act: whether ``bias_act`` computes it as ``act=name`` (every
            activation without a tensor parameter does).
        bias_act_alpha: the parameter bias_act's ``alpha`` stands for; the
            other parameters keep their defaults there.
        monitored: whether the dead-unit monitor watches its modules. Its
            inactive region is a pre-activation <= 0, and it increases
            through 0, so that from the output, ``y > act(0)`` means active.
        required_params: torch's functional and module take the parameters
            without defaults (Threshold); ``params`` then holds the values
            the tests use where they need one set.
        cpu_output_contiguous: its forward returns a contiguous tensor for
            CPU inputs of any layout, as torch's CPU kernel does (LogSigmoid);
            otherwise the output keeps a dense input's strides.
        random_in_training: its module draws random numbers in training
            mode (RReLU); the table's operators are its evaluation form,
            which the spec-driven tests check (modules in ``eval()``).
    """

    name: str
    reference: Callable[..., torch.Tensor]
    torch_module: type
    params: Mapping[str, Any]
    saves: str
    forward_op: str
    backward_op: str
    inplace_op: Optional[str] = None
    weight: bool = False
    save_output_mode: bool = False
    param_cases: Sequence[Mapping[str, Any]] = field(default_factory=lambda: ({},))
    exact: bool = False
    grad_kinks: Sequence[float] = ()
    inplace_copies_input: bool = False
    precise: Optional[Callable[..., torch.Tensor]] = None
    check_params: Optional[ParamChecks] = None
    bias_act: bool = True
    bias_act_alpha: Optional[str] = None
    monitored: bool = True
    required_params: bool = False
    cpu_output_contiguous: bool = False
    random_in_training: bool = False

    @property
    def ours(self) -> Callable[..., torch.Tensor]:
        """Our functional, ``activations_ext.functional.<name>``."""
        from . import functional

        try:
            return getattr(functional, self.name)
        except AttributeError:
            raise AttributeError(
                f"activations_ext.functional has no function {self.name!r} for the spec row {self.name!r}"
            ) from None

    @property
    def module_name(self) -> str:
        """Our module's class name: torch's (so that its repr is torch's too)."""
        return self.torch_module.__name__

    @property
    def module(self) -> type:
        """Our drop-in module, ``activations_ext.nn.<module_name>``."""
        from . import nn

        try:
            return getattr(nn, self.module_name)
        except AttributeError:
            raise AttributeError(
                f"activations_ext.nn has no class {self.module_name!r} for the spec row {self.name!r}"
            ) from None

    @property
    def reference64(self) -> Callable[..., torch.Tensor]:
        """The function the tests' float64 reference is computed with."""
        return self.precise or self.reference

    @property
    def required_kwargs(self) -> Dict[str, Any]:
        """What a call of its functional or constructor of its module must
        pass: ``params`` where torch's have no defaults (Threshold), else nothing."""
        return dict(self.params) if self.required_params else {}

    @property
    def has_inplace(self) -> bool:
        return self.inplace_op is not None

    @property
    def operators(self) -> Tuple[str, ...]:
        """Its operators: forward, backward and, if any, in place."""
        return (self.forward_op, self.backward_op) + ((self.inplace_op,) if self.inplace_op else ())

    def make_weight(self, x: torch.Tensor, per_channel: bool = True) -> Optional[torch.Tensor]:
        """A weight for ``x`` (PReLU only): one per channel of dim 1, or one shared."""
        if not self.weight:
            return None
        channels = x.shape[1] if (per_channel and x.dim() >= 2) else 1
        gen = torch.Generator().manual_seed(channels)
        w = torch.rand(channels, generator=gen, dtype=torch.float64) * 0.5 - 0.1
        return w.to(dtype=x.dtype, device=x.device)


@dataclass(frozen=True)
class BiasActForm:
    """One activation ``bias_act`` computes: ``act(input + bias)``.

    Attributes:
        act: its name, bias_act's ``act`` argument.
        activation: the spec row it computes, or None (``'linear'``: the
            bias alone).
        alpha: the row's parameter bias_act's ``alpha`` stands for, or None.
        fixed: the row's other parameters, at the values this form computes.
    """

    act: str
    activation: Optional[str]
    alpha: Optional[str] = None
    fixed: Mapping[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> Optional[ActivationSpec]:
        return None if self.activation is None else get_spec(self.activation)

    @property
    def param(self) -> Optional[Tuple[str, float]]:
        """(name, torch default) of the parameter ``alpha`` stands for."""
        if self.alpha is None:
            return None
        return self.alpha, self.spec.params[self.alpha]

    def act_params(self, alpha: float) -> Dict[str, Any]:
        """The activation's parameters for bias_act's ``alpha``."""
        out = dict(self.fixed)
        if self.alpha is not None:
            out[self.alpha] = alpha
        return out

    def reference(self, x: torch.Tensor, alpha: float) -> torch.Tensor:
        """``act(x)`` with torch's functional."""
        if self.activation is None:
            return x
        return self.spec.reference(x, **self.act_params(alpha))

    def check_params(self, op: str, alpha: float) -> None:
        """The activation's parameter checks, with ``alpha`` in its place."""
        spec = self.spec
        if spec is not None and spec.check_params is not None:
            spec.check_params(op, self.act_params(alpha))


# ----------------------------------------------------- parameter checks


def _leaky_relu_checks(op: str, args: Mapping[str, Any]) -> None:
    if args.get("save_output"):
        _checks.check_save_output(args["negative_slope"], op, "negative_slope")
    if args.get("saved_is_output"):
        _checks.check_backward_from_output(args["negative_slope"], "leakyReLu")


def _elu_checks(op: str, args: Mapping[str, Any]) -> None:
    if args.get("save_output"):
        _checks.check_save_output(args["alpha"], op, "alpha")
    if args.get("saved_is_output"):
        _checks.check_backward_from_output(args["alpha"], "elu")


def _gelu_checks(op: str, args: Mapping[str, Any]) -> None:
    _checks.check_gelu_approximate(args["approximate"], op)


def _softplus_checks(op: str, args: Mapping[str, Any]) -> None:
    _checks.check_softplus_beta(args["beta"], op)


def _table_checks(name: str, first: str, second: Optional[str] = None) -> ParamChecks:
    """The checks of a row of the C++ parameter table (csrc/table.h), whose
    parameters are ``first`` (and ``second``)."""

    def checks(op: str, args: Mapping[str, Any]) -> None:
        x = next((t for t in args.values() if isinstance(t, torch.Tensor)), None)
        if x is None:  # bias_act's check of the parameters alone
            x = torch.empty(0)
        p1 = args[second] if second is not None else 0.0
        _checks.check_act_params(name, args[first], p1, x, op)

    return checks


def _tanhshrink_precise(x: torch.Tensor) -> torch.Tensor:
    # x - tanh(x) cancels near 0; there the Taylor series
    # sum_k 2^(2k) (2^(2k) - 1) |B_2k| / (2k)! x^(2k-1) over k >= 2 (the
    # tanh series without its first term), to 24 terms: below |x| = 0.5 the
    # terms shrink by (2x / pi)^2 < 0.11 each.
    z = x * x
    series = torch.zeros_like(x)
    for c in reversed(_TANHSHRINK_SERIES):
        series = series * z + c
    small = x * z * series
    return torch.where(x.abs() < 0.5, small, x - torch.tanh(x))


def _tanh_series_coefficients(terms: int) -> Tuple[float, ...]:
    # The coefficients of x^3, x^5, ... of x - tanh(x), from the Bernoulli
    # numbers (exact rationals, then rounded).
    from fractions import Fraction

    n_max = 2 * terms + 2
    bern = [Fraction(0)] * (n_max + 1)
    bern[0] = Fraction(1)
    for m in range(1, n_max + 1):
        bern[m] = -sum(math.comb(m + 1, k) * bern[k] for k in range(m)) / (m + 1)
    out = []
    for k in range(2, terms + 2):
        n = 2 * k
        c = Fraction(2**n * (2**n - 1)) * abs(bern[n]) / math.factorial(n)
        out.append(float(c if k % 2 == 0 else -c))
    return tuple(out)


_TANHSHRINK_SERIES = _tanh_series_coefficients(24)


def _quick_gelu_precise(x: torch.Tensor) -> torch.Tensor:
    # Beyond |x| = 500 sigmoid(1.702 x) is 0 or 1 in float64, so this is the
    # same function there; but its autograd gives the derivative (1 or 0)
    # where x * sigmoid(1.702 x)'s overflows to inf * 0 = NaN (|x| > 1e308).
    return torch.where(x.abs() > 500, torch.relu(x), eager.quick_gelu(x))


def _celu_precise(x: torch.Tensor, alpha: float = 1.0, inplace: bool = False) -> torch.Tensor:
    return torch.where(x > 0, x, alpha * torch.expm1(x / alpha))


def _celu_checks(op: str, args: Mapping[str, Any]) -> None:
    _checks.check_celu_alpha(args["alpha"], op)


def _gelu_precise(x: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    # x * Phi(x) through erfc, and the tanh form as x * sigmoid(2u)
    # (1 + tanh(u) = 2 sigmoid(2u)): neither cancels for negative x.
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
        return x * torch.sigmoid(2.0 * inner)
    return 0.5 * x * torch.special.erfc(-x * math.sqrt(0.5))


# ---------------------------------------------------------------- the table

SPECS: tuple[ActivationSpec, ...] = (
    ActivationSpec(
        name="relu",
        reference=TF.relu,
        torch_module=torch.nn.ReLU,
        params={},
        saves="output",
        forward_op="relu",
        backward_op="relu_backward",
        inplace_op="relu_",
        exact=True,
    ),
    ActivationSpec(
        name="sigmoid",
        reference=torch.sigmoid,
        torch_module=torch.nn.Sigmoid,
        params={},
        saves="output",
        forward_op="sigmoid",
        backward_op="sigmoid_backward",
    ),
    ActivationSpec(
        name="leaky_relu",
        reference=TF.leaky_relu,
        torch_module=torch.nn.LeakyReLU,
        params={"negative_slope": 0.01},
        saves="input",
        forward_op="leaky_relu",
        backward_op="leaky_relu_backward",
        inplace_op="leaky_relu_",
        save_output_mode=True,
        param_cases=({}, {"negative_slope": 0.2}, {"negative_slope": 0.0}, {"negative_slope": -0.5}),
        exact=True,
        check_params=_leaky_relu_checks,
        bias_act_alpha="negative_slope",
    ),
    ActivationSpec(
        name="prelu",
        reference=TF.prelu,
        torch_module=torch.nn.PReLU,
        params={},
        saves="input",
        forward_op="prelu",
        backward_op="prelu_backward",
        weight=True,
        exact=True,
        bias_act=False,
    ),
    ActivationSpec(
        name="elu",
        reference=TF.elu,
        torch_module=torch.nn.ELU,
        params={"alpha": 1.0},
        saves="input",
        forward_op="elu",
        backward_op="elu_backward",
        inplace_op="elu_",
        save_output_mode=True,
        param_cases=({}, {"alpha": 0.5}, {"alpha": 0.0}, {"alpha": -0.7}),
        check_params=_elu_checks,
        bias_act_alpha="alpha",
    ),
    ActivationSpec(
        name="tanh",
        reference=torch.tanh,
        torch_module=torch.nn.Tanh,
        params={},
        saves="output",
        forward_op="tanh",
        backward_op="tanh_backward",
    ),
    ActivationSpec(
        name="gelu",
        reference=TF.gelu,
        torch_module=torch.nn.GELU,
        params={"approximate": "none"},
        saves="input",
        forward_op="gelu",
        backward_op="gelu_backward",
        param_cases=({}, {"approximate": "tanh"}),
        precise=lambda x, approximate="none": _gelu_precise(x, approximate),
        check_params=_gelu_checks,
    ),
    ActivationSpec(
        name="silu",
        reference=TF.silu,
        torch_module=torch.nn.SiLU,
        params={},
        saves="input",
        forward_op="silu",
        backward_op="silu_backward",
        inplace_op="silu_",
        inplace_copies_input=True,
    ),
    ActivationSpec(
        name="softplus",
        reference=TF.softplus,
        torch_module=torch.nn.Softplus,
        params={"beta": 1.0, "threshold": 20.0},
        saves="input",
        forward_op="softplus",
        backward_op="softplus_backward",
        param_cases=({}, {"beta": 2.0, "threshold": 5.0}, {"beta": 0.5}, {"beta": -1.0}),
        check_params=_softplus_checks,
        bias_act_alpha="beta",
    ),
    ActivationSpec(
        name="mish",
        reference=TF.mish,
        torch_module=torch.nn.Mish,
        params={},
        saves="input",
        forward_op="mish",
        backward_op="mish_backward",
        inplace_op="mish_",
        inplace_copies_input=True,
    ),
    ActivationSpec(
        name="selu",
        reference=TF.selu,
        torch_module=torch.nn.SELU,
        params={},
        saves="input",
        forward_op="selu",
        backward_op="elu_backward",
        inplace_op="selu_",
    ),
    ActivationSpec(
        name="hardswish",
        reference=TF.hardswish,
        torch_module=torch.nn.Hardswish,
        params={},
        saves="input",
        forward_op="hardswish",
        backward_op="hardswish_backward",
        inplace_op="hardswish_",
        inplace_copies_input=True,
        exact=True,
        grad_kinks=(-3.0, 3.0),
    ),
    ActivationSpec(
        name="hardsigmoid",
        reference=TF.hardsigmoid,
        torch_module=torch.nn.Hardsigmoid,
        params={},
        saves="input",
        forward_op="hardsigmoid",
        backward_op="hardsigmoid_backward",
        inplace_op="hardsigmoid_",
        inplace_copies_input=True,
        exact=True,
        # Its output rounds to act(0) = 1/2 for inputs of magnitude below
        # about 1e-7, so the sign of the pre-activation cannot be read back
        # from it; and its zero-gradient region is |x| >= 3, not x <= 0.
        monitored=False,
    ),
    ActivationSpec(
        name="softsign",
        reference=TF.softsign,
        torch_module=torch.nn.Softsign,
        params={},
        saves="input",
        forward_op="softsign",
        backward_op="softsign_backward",
    ),
    ActivationSpec(
        name="relu6",
        reference=TF.relu6,
        torch_module=torch.nn.ReLU6,
        params={},
        saves="input",
        forward_op="relu6",
        backward_op="relu6_backward",
        inplace_op="relu6_",
        exact=True,
    ),
    ActivationSpec(
        name="hardtanh",
        reference=TF.hardtanh,
        torch_module=torch.nn.Hardtanh,
        params={"min_val": -1.0, "max_val": 1.0},
        saves="input",
        forward_op="hardtanh",
        backward_op="hardtanh_backward",
        inplace_op="hardtanh_",
        param_cases=({}, {"min_val": -0.3, "max_val": 2.5}, {"min_val": 0.25, "max_val": 0.75}),
        exact=True,
        check_params=_table_checks("hardtanh", "min_val", "max_val"),
        # Its inactive (zero-gradient) regions are the saturated ends.
        monitored=False,
    ),
    ActivationSpec(
        name="celu",
        reference=TF.celu,
        torch_module=torch.nn.CELU,
        params={"alpha": 1.0},
        saves="input",
        # torch computes celu(x, alpha) as elu(x, alpha, 1, 1 / alpha), and
        # so do we: its operators are ELU's.
        forward_op="elu",
        backward_op="elu_backward",
        inplace_op="elu_",
        param_cases=({}, {"alpha": 0.5}, {"alpha": 2.0}, {"alpha": -0.7}),
        # torch's float64 backward rounds 1 / alpha to float (1e-8 off where
        # alpha is not a float); ours and the reference take it exactly.
        precise=_celu_precise,
        check_params=_celu_checks,
        bias_act_alpha="alpha",
    ),
    ActivationSpec(
        name="logsigmoid",
        reference=TF.logsigmoid,
        torch_module=torch.nn.LogSigmoid,
        params={},
        saves="input",
        forward_op="logsigmoid",
        backward_op="logsigmoid_backward",
        cpu_output_contiguous=True,
    ),
    ActivationSpec(
        name="tanhshrink",
        reference=TF.tanhshrink,
        torch_module=torch.nn.Tanhshrink,
        params={},
        saves="input",
        forward_op="tanhshrink",
        backward_op="tanhshrink_backward",
        precise=_tanhshrink_precise,
    ),
    ActivationSpec(
        name="softshrink",
        reference=TF.softshrink,
        torch_module=torch.nn.Softshrink,
        params={"lambd": 0.5},
        saves="input",
        forward_op="softshrink",
        backward_op="softshrink_backward",
        param_cases=({}, {"lambd": 0.3}, {"lambd": 0.0}, {"lambd": 2.0}),
        exact=True,
        check_params=_table_checks("softshrink", "lambd"),
        bias_act_alpha="lambd",
        # Its inactive region is [-lambd, lambd].
        monitored=False,
    ),
    ActivationSpec(
        name="hardshrink",
        reference=TF.hardshrink,
        torch_module=torch.nn.Hardshrink,
        params={"lambd": 0.5},
        saves="input",
        forward_op="hardshrink",
        backward_op="hardshrink_backward",
        param_cases=({}, {"lambd": 0.3}, {"lambd": 0.0}, {"lambd": -1.0}),
        exact=True,
        check_params=_table_checks("hardshrink", "lambd"),
        bias_act_alpha="lambd",
        monitored=False,
    ),
    ActivationSpec(
        name="threshold",
        reference=TF.threshold,
        torch_module=torch.nn.Threshold,
        params={"threshold": 0.5, "value": -2.0},
        saves="input",
        forward_op="threshold",
        backward_op="threshold_backward",
        inplace_op="threshold_",
        inplace_copies_input=True,
        param_cases=(
            {"threshold": 0.5, "value": -2.0},
            {"threshold": 0.1, "value": 20.0},
            {"threshold": -1.0, "value": -1.0},
        ),
        exact=True,
        check_params=_table_checks("threshold", "threshold", "value"),
        # torch's threshold has no defaults, and bias_act's alpha carries
        # one parameter.
        bias_act=False,
        monitored=False,
        required_params=True,
    ),
    ActivationSpec(
        name="rrelu",
        reference=TF.rrelu,
        torch_module=torch.nn.RReLU,
        params={"lower": 1.0 / 8, "upper": 1.0 / 3},
        saves="input",
        # Evaluation: leaky_relu with the mean slope, torch's own form. The
        # training mode (random slopes) runs rrelu_noise and rrelu_with_noise;
        # tests/test_rrelu.py covers it.
        forward_op="leaky_relu",
        backward_op="leaky_relu_backward",
        inplace_op="leaky_relu_",
        param_cases=({}, {"lower": 0.1, "upper": 0.1}, {"lower": 0.0, "upper": 0.5}),
        exact=True,
        # Random in training; bias_act computes leaky_relu with the mean.
        bias_act=False,
        random_in_training=True,
        # Its negative slopes are drawn from [lower, upper]: no inactive region.
        monitored=False,
        cpu_output_contiguous=True,
    ),
    ActivationSpec(
        name="quick_gelu",
        reference=eager.quick_gelu,
        precise=_quick_gelu_precise,
        torch_module=eager.QuickGELU,
        params={},
        saves="input",
        forward_op="quick_gelu",
        backward_op="quick_gelu_backward",
    ),
    ActivationSpec(
        name="relu_squared",
        reference=eager.relu_squared,
        torch_module=eager.ReLUSquared,
        params={},
        saves="input",
        forward_op="relu_squared",
        backward_op="relu_squared_backward",
        # Not bit-exact: torch's square(relu(x)) backward overflows to inf
        # near the float32 limit on some paths (2 g x in another order).
    ),
)

_BY_NAME = {s.name: s for s in SPECS}


def get_spec(name: str) -> ActivationSpec:
    """The spec of activation ``name`` (e.g. ``"leaky_relu"``)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown activation {name!r}; supported: {sorted(_BY_NAME)}") from None


# bias_act's activations beyond the table's rows: GELU's tanh form (a
# parameter value rather than a parameter alpha could carry) and the bias
# alone.
_BIAS_ACT_EXTRAS = (
    BiasActForm("gelu_tanh", "gelu", fixed={"approximate": "tanh"}),
    BiasActForm("linear", None),
)

BIAS_ACT_FORMS: Dict[str, BiasActForm] = {
    **{
        s.name: BiasActForm(
            s.name,
            s.name,
            s.bias_act_alpha,
            {k: v for k, v in s.params.items() if k != s.bias_act_alpha},
        )
        for s in SPECS
        if s.bias_act
    },
    **{f.act: f for f in _BIAS_ACT_EXTRAS},
}
"""bias_act's activations by ``act`` name: every row with ``bias_act``, then the extras."""


def elementwise_operators() -> Dict[str, Tuple[str, ActivationSpec]]:
    """The operators of the activations without a tensor parameter, by name:
    ``(kind, spec)`` with kind "forward", "inplace" or "backward".

    An operator two rows share (SELU's backward is ``elu_backward``) belongs
    to the row it is named after, whose parameter checks it makes.
    """
    out: Dict[str, Tuple[str, ActivationSpec]] = {}
    for spec in SPECS:
        if spec.weight:
            continue
        kinds = (("forward", spec.forward_op), ("inplace", spec.inplace_op), ("backward", spec.backward_op))
        for kind, op in kinds:
            if op is None:
                continue
            # Named after the row (CELU's operators are ELU's, SELU's
            # backward is ELU's).
            owner = op in (spec.name, f"{spec.name}_", f"{spec.name}_backward")
            if op not in out or owner:
                out[op] = (kind, spec)
    return out
