"""Swap the torch.nn activations of an existing model for ours, and back.

    model, summary = activations_ext.convert(model)    # torch.nn.ReLU -> activations_ext.nn.ReLU, ...
    print(summary)
    model, summary = activations_ext.revert(model)     # and back

Which classes are swapped comes from the spec table
(:data:`activations_ext.SPECS`: ``spec.torch_module`` <-> ``spec.module``), so
an activation added there is converted too. Only modules whose class is
exactly a torch.nn activation class are replaced (exactly one of ours, for
:func:`revert`); subclasses someone wrote are left alone and listed as
skipped, since their ``forward`` may do more than the activation.

A replacement carries the module's whole state over: hyperparameters
(``inplace``, ``negative_slope``, ``alpha``, ...), the training flag, hooks,
and the very same ``Parameter`` objects (PReLU's ``weight``), so values,
device, dtype and ``requires_grad`` are unchanged and an optimizer built
before the conversion keeps updating them. Options of ours that torch lacks
(``save_output``) take their defaults on :func:`convert` and are dropped on
:func:`revert`; they change memory use, not results.

Model zoos: when ``transformers`` or ``timm`` is imported, their activation
classes (``transformers.activations``: GELUActivation, NewGELUActivation,
QuickGELUActivation, SiLUActivation, ...; ``timm.layers.activations``: GELU,
Sigmoid, Swish, HardSigmoid, PReLU, ...) are converted too, and their gated
MLPs (LlamaMLP, Qwen2MLP, GemmaMLP, Phi3MLP, T5DenseGatedActDense,
ModernBertMLP, timm's SwiGLU and GluMlp, ...) get a forward that runs
``act(gate) * up`` as our fused gated operator. These keep the module object and change its class to a
subclass with our forward (:mod:`activations_ext.zoo` holds the tables and
the rules); :func:`revert` sets the original class back.

Activations passed as plain functions (``nn.TransformerEncoderLayer``'s
default ``activation="relu"`` is ``torch.nn.functional.relu``) are not
modules and are not replaced: pass ``activations_ext.functional.relu`` (or a
module of ours) where the model is built. The summary lists such attributes
so they are easy to find.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple

import torch

from . import zoo
from .spec import SPECS

__all__ = ["ConversionSummary", "Replacement", "convert", "revert"]


@dataclass(frozen=True)
class Replacement:
    """One module swapped (or left alone) at ``name`` in the model.

    Attributes:
        name: the qualified name in the model (``"layer1.0.relu"``; ``""``
            for the model itself).
        old: the class found there.
        new: the class put there, or ``None`` when the module was skipped.
        reason: why it was skipped (empty for a replacement).
    """

    name: str
    old: type
    new: type | None = None
    reason: str = ""


@dataclass(frozen=True)
class ConversionSummary:
    """What :func:`convert` or :func:`revert` did.

    Attributes:
        replaced: the modules swapped, in the order ``named_modules`` walks
            them, each under the first name it is reached by (a module used
            in several places is replaced by one module, used in all of them).
        skipped: subclasses of the swapped classes, left alone.
        functions: attributes holding a torch activation *function* (for
            example ``TransformerEncoderLayer.activation``), left alone: pass
            ours where the model is built.
    """

    replaced: Tuple[Replacement, ...] = ()
    skipped: Tuple[Replacement, ...] = ()
    functions: Tuple[Tuple[str, str], ...] = ()

    def __len__(self) -> int:
        return len(self.replaced)

    def counts(self) -> Dict[str, int]:
        """Replacements per class, e.g. ``{"ReLU": 17, "PReLU": 2}``."""
        out: Dict[str, int] = {}
        for r in self.replaced:
            out[r.old.__name__] = out.get(r.old.__name__, 0) + 1
        return out

    def __str__(self) -> str:
        lines = [f"replaced {len(self.replaced)} module(s)"]
        lines += [f"  {r.name or '<model>'}: {_qualname(r.old)} -> {_qualname(r.new)}" for r in self.replaced]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} module(s)")
            lines += [f"  {r.name or '<model>'}: {_qualname(r.old)} ({r.reason})" for r in self.skipped]
        if self.functions:
            lines.append(f"left {len(self.functions)} activation function(s) alone (not modules)")
            lines += [f"  {name}: {fn}" for name, fn in self.functions]
        return "\n".join(lines)


def convert(model: torch.nn.Module) -> Tuple[torch.nn.Module, ConversionSummary]:
    """Replaces every torch.nn activation module we implement with ours.

    Walks the whole module tree (``Sequential``, ``ModuleList``,
    ``ModuleDict``, plain attributes, at any depth) and changes ``model`` in
    place; deep-copy it first to keep the original. Outputs, gradients and
    ``state_dict`` keys are unchanged: a checkpoint of either loads into the
    other.

    Args:
        model: any ``torch.nn.Module``; it may itself be an activation.

    Returns:
        ``(model, summary)``: the model (a new object only when ``model``
        itself was replaced) and a :class:`ConversionSummary`.

    Example:
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(inplace=True))
        >>> model, summary = convert(model)
        >>> model[1]
        ReLU(inplace=True)
        >>> type(model[1]).__module__
        'activations_ext.nn'
        >>> summary.counts()
        {'ReLU': 1}
    """
    return _swap(model, {s.torch_module: s.module for s in SPECS}, "convert")


def revert(model: torch.nn.Module) -> Tuple[torch.nn.Module, ConversionSummary]:
    """Replaces every module of ours with the torch.nn class it stands in for.

    The inverse of :func:`convert`, with the same rules (in place, exact
    classes only, same ``Parameter`` objects).
    """
    return _swap(model, {s.module: s.torch_module for s in SPECS}, "revert")


def _qualname(cls) -> str:
    if cls is None:
        return "-"
    if getattr(torch.nn, cls.__name__, None) is cls:  # torch.nn.ReLU, not torch.nn.modules.activation.ReLU
        return f"torch.nn.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _swap(
    model: torch.nn.Module, mapping: Dict[type, type], what: str
) -> Tuple[torch.nn.Module, ConversionSummary]:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"activations_ext.{what}: expected a torch.nn.Module, but got {type(model).__name__}")
    if isinstance(model, torch.jit.ScriptModule):
        raise TypeError(
            f"activations_ext.{what}: cannot change a TorchScript module ({type(model).__name__}); "
            f"{what} the Python model before scripting it"
        )
    replaced: List[Replacement] = []
    skipped: List[Replacement] = []
    functions: List[Tuple[str, str]] = []
    done: Dict[int, torch.nn.Module] = {}  # id(module) -> what replaces it; shared modules stay shared
    torch_functions = _torch_activation_functions()

    def visit(module: torch.nn.Module, name: str) -> torch.nn.Module:
        if id(module) in done:  # reached before under another name
            return done[id(module)]
        zoo_old = type(module)
        zoo_new, why = zoo.convert_module(module) if what == "convert" else (zoo.revert_module(module), "")
        if zoo_new is not None:
            replaced.append(Replacement(name, zoo_old, zoo_new))
            done[id(module)] = module
            for child_name, child in list(module._modules.items()):
                if child is not None:
                    module._modules[child_name] = visit(child, _join(name, child_name))
            return module
        if why:
            skipped.append(Replacement(name, zoo_old, reason=why))
        new_cls = mapping.get(type(module))
        if new_cls is not None:
            done[id(module)] = _rebuild(module, new_cls)
            replaced.append(Replacement(name, type(module), new_cls))
            return done[id(module)]
        done[id(module)] = module
        base = next((cls for cls in mapping if isinstance(module, cls)), None)
        if base is not None and not isinstance(module, tuple(mapping.values())):
            skipped.append(Replacement(name, type(module), reason=f"a subclass of {_qualname(base)}"))
        if what == "convert":
            for attr, value in vars(module).items():
                fn_name = torch_functions.get(id(value))
                if fn_name is not None:
                    functions.append((_join(name, attr), fn_name))
        for child_name, child in list(module._modules.items()):
            if child is not None:
                module._modules[child_name] = visit(child, _join(name, child_name))
        return module

    root = visit(model, "")
    return root, ConversionSummary(tuple(replaced), tuple(skipped), tuple(functions))


# Constructor arguments without defaults (Threshold's), for the
# default-constructed instances _rebuild takes attributes from.
_REQUIRED = {cls: s.required_kwargs for s in SPECS for cls in (s.torch_module, s.module) if s.required_params}


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _rebuild(old: torch.nn.Module, new_cls: type) -> torch.nn.Module:
    """An instance of ``new_cls`` holding ``old``'s state.

    A default-constructed ``new_cls`` supplies the attributes only it has
    (our ``save_output``); everything ``old`` holds (hyperparameters,
    parameter and buffer dicts, hooks, the training flag) is then taken over
    as is, so parameters stay the same objects. Attributes that only ``old``'s
    class defines in its constructor are dropped.
    """
    fresh = new_cls(**_REQUIRED.get(new_cls, {}))
    own = set(vars(type(old)(**_REQUIRED.get(type(old), {})))) - set(vars(fresh))
    state = {k: v for k, v in vars(old).items() if k not in own}
    new = new_cls.__new__(new_cls)
    new.__dict__.update(vars(fresh))
    new.__dict__.update(state)
    return new


def _torch_activation_functions() -> Dict[int, str]:
    # The torch functions our functionals stand in for, by identity.
    out: Dict[int, str] = {}
    for spec in SPECS:
        ref: Callable = spec.reference
        out[id(ref)] = f"{getattr(ref, '__module__', None) or 'torch'}.{ref.__name__}"
    return out
