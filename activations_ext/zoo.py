"""The activation classes and gated MLPs of model zoos, for :func:`convert`.

Two tables, each row naming a class by its module path and name:

- ``ACTIVATIONS``: a zoo's activation modules (``transformers.activations``,
  ``timm.layers.activations``) and the spec row (with parameters) that
  computes the same function (``UNSUPPORTED``: those no kernel computes,
  left alone with the reason);
- ``GATED_MLPS``: MLP classes whose forward is ``down(act(gate) * up)``
  (separate projections or one fused ``gate_up`` projection), fused into
  our gated operator.

A row is used only when its package is already imported (nothing is
imported here, and nothing depends on the package), and only when the
class's ``forward`` is the one the row was written for: its fingerprint
(the names, constants and variables of its code object, which do not
depend on the Python version) must match. Otherwise the module is left
alone and listed as skipped, so that a future release of the package never
gets a silently different model. An instance whose ``forward`` was replaced
(a hub kernel) is skipped too.

A conversion changes the module's class, not the module: the converted
class is a subclass of the original with our forward, so the very same
object, children, parameters and hooks stay, ``isinstance`` still holds, and
:func:`revert` sets the original class back.
"""

from __future__ import annotations

import functools
import hashlib
import sys
import types
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F

from . import functional as AF
from .spec import BIAS_ACT_FORMS, SPECS, get_spec

__all__ = ["ACTIVATIONS", "GATED_MLPS", "fingerprint"]


def fingerprint(fn: Callable) -> str:
    """A digest of a function's code that changes when its body does: the
    names it uses, its constants and variables, recursively for nested
    functions. Line numbers and bytecode (which differ between Python
    versions) are left out."""

    def parts(code: types.CodeType):
        yield repr(code.co_names)
        yield repr(code.co_varnames)
        yield repr(code.co_argcount)
        for c in code.co_consts:
            if isinstance(c, types.CodeType):
                yield from parts(c)
            elif not isinstance(c, str) or not c.startswith(("\n", " ")):  # docstrings aside
                yield repr(c)

    fn = getattr(fn, "__func__", fn)
    h = hashlib.sha256("\x00".join(parts(fn.__code__)).encode())
    return h.hexdigest()[:16]


# ------------------------------------------------------------ activations


@dataclass(frozen=True)
class ZooActivation:
    """A zoo's activation class and the spec row computing its function.

    Attributes:
        module: the class's module path (``transformers.activations``).
        name: the class name.
        spec: our spec row's name.
        params: the row's parameters, or a function of the module instance
            giving them.
        note: how the zoo's formula relates to ours (the README's table).
        clip: attribute names (min, max) of a clamp applied after.
        check: for classes whose forward calls a function the constructor
            picked (``self.act``): None when the instance's is one we
            compute, else why not.
    """

    module: str
    name: str
    spec: str
    params: Any = field(default_factory=dict)
    note: str = ""
    clip: Optional[Tuple[str, str]] = None
    check: Optional[Callable[[torch.nn.Module], Optional[str]]] = None

    @property
    def package(self) -> str:
        return self.module.split(".", 1)[0]

    def params_for(self, module: torch.nn.Module) -> Dict[str, Any]:
        return dict(self.params(module) if callable(self.params) else self.params)


_TANH = {"approximate": "tanh"}
_TF = "transformers.activations"
_TIMM = "timm.layers.activations"


def _calls(*choices: Callable[[torch.nn.Module], Any]) -> Callable[[torch.nn.Module], Optional[str]]:
    """A check that the instance's ``act`` is one of ``choices(module)``."""

    def check(module: torch.nn.Module) -> Optional[str]:
        act = getattr(module, "act", None)
        for choice in choices:
            want = choice(module)
            if act is want or act == want:
                return None
            if isinstance(act, functools.partial) and isinstance(want, functools.partial):
                if act.func is want.func and act.args == want.args and act.keywords == want.keywords:
                    return None
        return f"its act ({act!r}) is not a function activations_ext computes"

    return check


_GELU_MODES = _calls(lambda m: F.gelu, lambda m: getattr(m, "_gelu_python", None))
_GELU_TANH_MODES = _calls(
    lambda m: functools.partial(F.gelu, approximate="tanh"), lambda m: getattr(m, "_gelu_tanh_python", None)
)

ACTIVATIONS: Tuple[ZooActivation, ...] = (
    ZooActivation(_TF, "GELUActivation", "gelu", note="erf form, both modes", check=_GELU_MODES),
    ZooActivation(
        _TF, "NewGELUActivation", "gelu", _TANH, "tanh form (transformers computes it in the input dtype)"
    ),
    ZooActivation(
        _TF, "FastGELUActivation", "gelu", _TANH, "tanh form; its constant 0.7978845608 is sqrt(2/pi)"
    ),
    ZooActivation(_TF, "AccurateGELUActivation", "gelu", _TANH, "tanh form"),
    ZooActivation(_TF, "GELUTanh", "gelu", _TANH, "tanh form, both modes", check=_GELU_TANH_MODES),
    ZooActivation(_TF, "QuickGELUActivation", "quick_gelu", note="x * sigmoid(1.702 x)"),
    ZooActivation(_TF, "SiLUActivation", "silu"),
    ZooActivation(_TF, "ReLUSquaredActivation", "relu_squared"),
    ZooActivation(_TF, "MishActivation", "mish", check=_calls(lambda m: F.mish)),
    ZooActivation(_TF, "ClippedGELUActivation", "gelu", note="erf form, then clipped", clip=("min", "max")),
    ZooActivation(_TIMM, "GELU", "gelu"),
    ZooActivation(_TIMM, "GELUTanh", "gelu", _TANH),
    ZooActivation(_TIMM, "QuickGELU", "quick_gelu"),
    ZooActivation(_TIMM, "Sigmoid", "sigmoid", note="`inplace=True` overwrites the input, as timm's does"),
    ZooActivation(_TIMM, "Tanh", "tanh", note="`inplace=True` overwrites the input, as timm's does"),
    ZooActivation(_TIMM, "Swish", "silu"),
    ZooActivation(_TIMM, "Mish", "mish"),
    ZooActivation(
        _TIMM,
        "HardSwish",
        "hardswish",
        note="torch's hardswish: overflows to inf for x above a sixth of the dtype's largest value, where timm's "
        "x * relu6(x + 3) / 6 does not",
    ),
    ZooActivation(_TIMM, "HardSigmoid", "hardsigmoid"),
    ZooActivation(_TIMM, "PReLU", "prelu", note="the same weight Parameter"),
)
"""The zoo activation classes we compute."""

UNSUPPORTED: Tuple[Tuple[str, str, str], ...] = (
    (_TF, "LaplaceActivation", "no kernel of ours computes its erf-based Laplace function"),
    (_TF, "SqrtSoftplusActivation", "no kernel of ours computes sqrt(softplus(x))"),
    (_TF, "XIELUActivation", "its two parameters are learned; no kernel of ours computes it"),
    (_TIMM, "HardMish", "no kernel of ours computes hard mish"),
)
"""Zoo activation classes convert() recognizes and leaves alone, with the reason."""


def _act_call(row: ZooActivation, module: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    spec = get_spec(row.spec)
    fn = spec.ours
    if spec.weight:
        return lambda x: fn(x, module.weight)
    params = row.params_for(module)
    inplace = bool(getattr(module, "inplace", False))
    if row.clip is not None:
        lo, hi = (getattr(module, a) for a in row.clip)
        return lambda x: torch.clip(fn(x, **params), lo, hi)
    if inplace and spec.has_inplace:
        return lambda x: fn(x, **params, inplace=True)
    if inplace:  # the module's contract: the input, overwritten
        return lambda x: x.copy_(fn(x, **params))
    return lambda x: fn(x, **params)


# ------------------------------------------------------------- gated MLPs


@dataclass(frozen=True)
class GatedMLPClass:
    """An MLP class computing ``down(act(gate) * up)``.

    Attributes:
        module, name: the class.
        form: ``'separate'`` (gate and up projections) or ``'split'`` (one
            projection whose output's halves along the last dim are gate
            and up, gate first).
        gate, up: the projections' attribute names (``split``: ``gate`` is
            the fused projection, ``up`` unused).
        down: the output projection.
        act: the activation module's attribute.
        post: modules applied to ``act(gate) * up`` before ``down``
            (dropout, a norm), in order.
        after: modules applied to ``down``'s output.
        cast_to_down: cast the product to ``down.weight``'s dtype when it
            differs (T5 keeps ``wo`` in float32), as the original does.
        order: ``split``: which half is the gate, ``'gate_up'`` (first) or
            ``'up_gate'``, or a function of the instance giving it.
        dim: ``split``: the dimension halved, or a function of the instance.
    """

    module: str
    name: str
    form: str
    gate: str
    up: str
    down: str
    act: str
    post: Tuple[str, ...] = ()
    after: Tuple[str, ...] = ()
    cast_to_down: bool = False
    order: Any = "gate_up"
    dim: Any = -1

    def order_for(self, module: torch.nn.Module) -> str:
        return self.order(module) if callable(self.order) else self.order

    def dim_for(self, module: torch.nn.Module) -> int:
        return self.dim(module) if callable(self.dim) else self.dim

    @property
    def package(self) -> str:
        return self.module.split(".", 1)[0]


def _llama_like(model: str, cls: str, act: str = "act_fn") -> GatedMLPClass:
    return GatedMLPClass(
        f"transformers.models.{model}.modeling_{model}",
        cls,
        "separate",
        "gate_proj",
        "up_proj",
        "down_proj",
        act,
    )


GATED_MLPS: Tuple[GatedMLPClass, ...] = (
    _llama_like("llama", "LlamaMLP"),
    _llama_like("mistral", "MistralMLP"),
    _llama_like("qwen2", "Qwen2MLP"),
    _llama_like("qwen3", "Qwen3MLP"),
    _llama_like("gemma", "GemmaMLP"),
    _llama_like("gemma2", "Gemma2MLP"),
    _llama_like("olmo", "OlmoMLP"),
    _llama_like("olmo2", "Olmo2MLP"),
    _llama_like("granite", "GraniteMLP"),
    GatedMLPClass(
        "transformers.models.phi3.modeling_phi3",
        "Phi3MLP",
        "split",
        "gate_up_proj",
        "",
        "down_proj",
        "activation_fn",
    ),
    GatedMLPClass(
        "transformers.models.t5.modeling_t5",
        "T5DenseGatedActDense",
        "separate",
        "wi_0",
        "wi_1",
        "wo",
        "act",
        post=("dropout",),
        cast_to_down=True,
    ),
    GatedMLPClass(
        "transformers.models.modernbert.modeling_modernbert",
        "ModernBertMLP",
        "split",
        "Wi",
        "",
        "Wo",
        "act",
        post=("drop",),
    ),
    GatedMLPClass(
        "timm.layers.mlp",
        "SwiGLU",
        "separate",
        "fc1_g",
        "fc1_x",
        "fc2",
        "act",
        post=("drop1", "norm"),
        after=("drop2",),
    ),
    GatedMLPClass(
        "timm.layers.mlp",
        "GluMlp",
        "split",
        "fc1",
        "",
        "fc2",
        "act",
        post=("drop1", "norm"),
        after=("drop2",),
        order=lambda m: "up_gate" if m.gate_last else "gate_up",
        dim=lambda m: m.chunk_dim,
    ),
)
"""The gated MLP classes we fuse."""


# ------------------------------------------------------------- conversion

_KINDS = {"act": ACTIVATIONS, "mlp": GATED_MLPS}
_CONVERTED: Dict[type, type] = {}  # original class -> converted subclass
_ORIGINAL_ATTR = "_activations_ext_original"
_ROW_ATTR = "_activations_ext_row"
_GATED_ATTR = "_activations_ext_gated"  # an instance's (act, alpha), set by convert


def _resolve(row) -> Optional[type]:
    """The row's class, if its package and module are already imported."""
    if row.package not in sys.modules:
        return None
    mod = sys.modules.get(row.module)
    cls = getattr(mod, row.name, None) if mod is not None else None
    return cls if isinstance(cls, type) else None


def _rows() -> Dict[type, Tuple[str, int]]:
    out: Dict[type, Tuple[str, int]] = {}
    for kind, table in _KINDS.items():
        for i, row in enumerate(table):
            cls = _resolve(row)
            if cls is not None:
                out[cls] = (kind, i)
    return out


def _class_name(kind: str, i: int) -> str:
    return f"Converted_{kind}_{i}_{_KINDS[kind][i].name}"


def __getattr__(name: str) -> type:
    # Converted classes are made on first use and live in this module under
    # these names, so that a pickled converted model loads again.
    if name.startswith("Converted_"):
        _, kind, i, _rest = name.split("_", 3)
        row = _KINDS[kind][int(i)]
        import importlib

        cls = getattr(importlib.import_module(row.module), row.name)
        return _converted_class(cls, kind, int(i))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _act_forward(self, input):
    row = ACTIVATIONS[type(self).__dict__[_ROW_ATTR]]
    return _act_call(row, self)(input)


def _fusable(g: torch.Tensor, u: torch.Tensor) -> bool:
    return (
        type(g) is torch.Tensor
        and type(u) is torch.Tensor
        and g.dtype == u.dtype
        and g.dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16)
        and g.shape == u.shape
        and g.device == u.device
    )


def _mlp_forward(self, x):
    row = GATED_MLPS[type(self).__dict__[_ROW_ATTR]]
    act_name, alpha = self.__dict__.get(_GATED_ATTR, (None, None))
    act = getattr(self, row.act)
    if row.form == "split":
        y = getattr(self, row.gate)(x)
        d = row.dim_for(self)
        order = row.order_for(self)
        if act_name is not None and y.dim() > 0 and y.shape[d] % 2 == 0 and _fusable(y, y):
            h = AF.gated_split(y, act_name, dim=d, order=order, alpha=alpha)
        else:
            first, second = y.chunk(2, dim=d)
            g, u = (first, second) if order == "gate_up" else (second, first)
            h = act(g) * u
    else:
        g = getattr(self, row.gate)(x)
        u = getattr(self, row.up)(x)
        if act_name is not None and _fusable(g, u):
            h = AF.gated(g, u, act_name, alpha)
        else:
            h = act(g) * u
    for name in row.post:
        h = getattr(self, name)(h)
    down = getattr(self, row.down)
    if row.cast_to_down:
        w = down.weight
        if isinstance(w, torch.Tensor) and h.dtype != w.dtype and w.dtype != torch.int8:
            h = h.to(w.dtype)
    out = down(h)
    for name in row.after:
        out = getattr(self, name)(out)
    return out


def _converted_class(cls: type, kind: str, i: int) -> type:
    new = _CONVERTED.get(cls)
    if new is None:
        name = _class_name(kind, i)
        new = type(
            name,
            (cls,),
            {
                "forward": _act_forward if kind == "act" else _mlp_forward,
                "__module__": __name__,
                "__qualname__": name,
                _ORIGINAL_ATTR: cls,
                _ROW_ATTR: i,
            },
        )
        _CONVERTED[cls] = new
        globals()[name] = new
    return new


def gated_act_of(module: torch.nn.Module) -> Optional[Tuple[str, Optional[float]]]:
    """The gated operators' ``(act, alpha)`` computing ``module``'s
    activation, or None."""
    cls = type(module)
    cls = cls.__dict__.get(_ORIGINAL_ATTR, cls)
    rows = _rows()
    if cls in rows and rows[cls][0] == "act":
        row = ACTIVATIONS[rows[cls][1]]
        if row.clip is not None:
            return None
        params = row.params_for(module)
        name = "gelu_tanh" if row.spec == "gelu" and params.get("approximate") == "tanh" else row.spec
        return (name, None) if name in AF.GATED_ACTS and not (set(params) - {"approximate"}) else None
    for spec in SPECS:
        if cls not in (spec.torch_module, spec.module) or spec.name not in BIAS_ACT_FORMS:
            continue
        form = BIAS_ACT_FORMS[spec.name]
        if spec.name == "gelu":
            return ("gelu_tanh" if module.approximate == "tanh" else "gelu", None)
        values = {k: getattr(module, k, v) for k, v in spec.params.items() if k != "inplace"}
        if any(values.get(k) != v for k, v in form.fixed.items()):
            return None
        if form.alpha is None:
            return (spec.name, None)
        return (spec.name, float(values[form.alpha]))
    return None


def convert_module(module: torch.nn.Module) -> Tuple[Optional[type], str]:
    """Converts ``module`` in place when a row recognizes its exact class:
    ``(its new class, "")``, or ``(None, why it was left alone)`` for a
    recognized class that could not be converted, or ``(None, "")``."""
    found = _rows().get(type(module))
    if found is None:
        for mod, name, why in UNSUPPORTED:
            if getattr(sys.modules.get(mod), name, None) is type(module):
                return None, why
        return None, ""
    kind, i = found
    row = _KINDS[kind][i]
    cls = type(module)
    if "forward" in module.__dict__:
        return None, "its forward was replaced on the instance (a hub kernel?); left as it is"
    got = fingerprint(cls.forward)
    if got != _FINGERPRINTS.get(f"{row.module}.{row.name}"):
        return None, (
            f"its forward is not the one activations_ext knows (fingerprint {got}; a different "
            f"{row.package} release, or a kernel replaced it); left as it is"
        )
    if kind == "act" and row.check is not None:
        why = row.check(module)
        if why:
            return None, why
    if kind == "mlp":
        act = gated_act_of(getattr(module, row.act))
        if act is None:
            return None, f"its activation {type(getattr(module, row.act)).__name__} has no gated kernel"
        module.__dict__[_GATED_ATTR] = act
    module.__class__ = _converted_class(cls, kind, i)
    return module.__class__, ""


def revert_module(module: torch.nn.Module) -> Optional[type]:
    """Sets a converted module's original class back; returns it (None if
    ``module`` was not converted here)."""
    original = type(module).__dict__.get(_ORIGINAL_ATTR)
    if original is None:
        return None
    module.__dict__.pop(_GATED_ATTR, None)
    module.__class__ = original
    return original


def is_converted(cls: type) -> bool:
    return _ORIGINAL_ATTR in cls.__dict__


def known_activation_classes() -> Tuple[type, ...]:
    """The zoo activation classes of the imported packages."""
    return tuple(c for c, (k, _) in _rows().items() if k == "act")


def known_mlp_classes() -> Tuple[type, ...]:
    return tuple(c for c, (k, _) in _rows().items() if k == "mlp")


def mapping_table() -> str:
    """The README's table of the zoo activation classes (markdown)."""
    lines = ["| class | computed by | note |", "| --- | --- | --- |"]
    for row in ACTIVATIONS:
        params = row.params if not callable(row.params) else {}
        args = ", ".join(f"{k}={v!r}" for k, v in params.items())
        clip = f", then clip to [{row.clip[0]}, {row.clip[1]}]" if row.clip else ""
        lines.append(f"| `{row.module}.{row.name}` | `{row.spec}({args})`{clip} | {row.note} |")
    return "\n".join(lines)


_FINGERPRINTS: Mapping[str, str] = {
    # transformers 5.23.0
    "transformers.activations.GELUActivation": "f94f0768a7e42c0f",
    "transformers.activations.NewGELUActivation": "49f961bafa4b15e0",
    "transformers.activations.FastGELUActivation": "47c6e22d1e4dd956",
    "transformers.activations.AccurateGELUActivation": "a7356a93b689b663",
    "transformers.activations.GELUTanh": "f94f0768a7e42c0f",
    "transformers.activations.QuickGELUActivation": "ebf3c490a0df6e56",
    "transformers.activations.SiLUActivation": "866e176f68cbda4e",
    "transformers.activations.ReLUSquaredActivation": "926f79b0394cbce9",
    "transformers.activations.MishActivation": "f94f0768a7e42c0f",
    "transformers.activations.ClippedGELUActivation": "c14fe7aeabccd3df",
    "transformers.models.llama.modeling_llama.LlamaMLP": "8faa524ed7e2006d",
    "transformers.models.mistral.modeling_mistral.MistralMLP": "8faa524ed7e2006d",
    "transformers.models.qwen2.modeling_qwen2.Qwen2MLP": "8faa524ed7e2006d",
    "transformers.models.qwen3.modeling_qwen3.Qwen3MLP": "8faa524ed7e2006d",
    "transformers.models.gemma.modeling_gemma.GemmaMLP": "8faa524ed7e2006d",
    "transformers.models.gemma2.modeling_gemma2.Gemma2MLP": "8faa524ed7e2006d",
    "transformers.models.olmo.modeling_olmo.OlmoMLP": "8faa524ed7e2006d",
    "transformers.models.olmo2.modeling_olmo2.Olmo2MLP": "8faa524ed7e2006d",
    "transformers.models.granite.modeling_granite.GraniteMLP": "8faa524ed7e2006d",
    "transformers.models.phi3.modeling_phi3.Phi3MLP": "541faaa16cd9b1e6",
    "transformers.models.t5.modeling_t5.T5DenseGatedActDense": "a4712aab1df66dd5",
    "transformers.models.modernbert.modeling_modernbert.ModernBertMLP": "7e4c1a31c8077fd8",
    # timm 1.0.31
    "timm.layers.activations.GELU": "c5a7d67af459dba9",
    "timm.layers.activations.GELUTanh": "bc62d96de9eaf975",
    "timm.layers.activations.QuickGELU": "fc63ddc5b3aa8f01",
    "timm.layers.activations.Sigmoid": "4c55dabcf5f2c4a7",
    "timm.layers.activations.Tanh": "e104357f5a31143d",
    "timm.layers.activations.Swish": "3b302e5b878a8be7",
    "timm.layers.activations.Mish": "165171ff41e32cf7",
    "timm.layers.activations.HardSwish": "51d9171c2814d8e9",
    "timm.layers.activations.HardSigmoid": "b41c3134132b225a",
    "timm.layers.activations.PReLU": "b2f7074f5bacc92b",
    "timm.layers.mlp.SwiGLU": "8fd12d3af7e67ab2",
    "timm.layers.mlp.GluMlp": "e8005a2b6aceb72e",
}
"""``module.name`` -> fingerprint of the class's forward in the pinned release."""
