"""Watch for dead units while a model trains.

The article this project measures tells users to detect dying ReLUs by
watching the fraction of zero activations. ``DeadUnitMonitor`` does that for
every activation module of ours in a model:

    from activations_ext.monitor import DeadUnitMonitor

    with DeadUnitMonitor(model) as monitor:
        for x, y in loader:
            loss_fn(model(x), y).backward()
            ...
    print(monitor.table())          # per module: inactive fraction, dead units
    monitor.results()               # the same as a plain dict
    monitor.plot("dead_units.png")  # inactive fraction per batch

For each module it records, per batch, the fraction of elements whose
pre-activation is <= 0 (the outputs that are exactly zero for ReLU, the
negative region for LeakyReLU, PReLU, ELU and the others), and per unit how
many elements were active (pre-activation > 0). A unit that was never active
over everything seen is dead. A unit is dim 1 for inputs of 4 or 5 dims
(convolution channels) and the last dim otherwise (Linear features,
(batch, time, feature) sequences); ``unit_dims`` sets it per module.

The counting is fused into the forward kernel (the same pass that computes
the activation also counts per unit); with the monitor stopped, modules run
exactly as before. Counts stay on the model's device until read, so
monitoring adds no host synchronisation per batch. Two cases count in a
separate pass instead: in-place modules (the counts come from the output,
as the input is overwritten) and a PReLU with one weight per channel whose
unit dim is not 1. Monitoring is meant for eager mode.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Union

import torch
from torch import Tensor

from . import nn as ann
from .spec import BIAS_ACT_FORMS, SPECS, ActivationSpec, get_spec

_ops = torch.ops.activations_ext


# Our monitored classes and the spec rows they implement.
_SPEC_OF = {s.module: s for s in SPECS if s.monitored}


def _spec_of(module: torch.nn.Module) -> Optional[ActivationSpec]:
    """The spec row of one of our modules (or of a subclass of one)."""
    for cls in type(module).__mro__:
        spec = _SPEC_OF.get(cls)
        if spec is not None:
            return spec
    return None


def _params(module: torch.nn.Module, spec: ActivationSpec) -> Dict[str, object]:
    # A torch.nn module keeps each parameter under its functional's name.
    return {name: getattr(module, name) for name in spec.params}


def _bias_act_form(module: torch.nn.Module):
    """(act, alpha) for bias_act's counting forward, or None if the module
    cannot use it (a tensor parameter, or a parameter value bias_act does
    not take, such as a Softplus threshold other than 20)."""
    spec = _spec_of(module)
    if spec is None:
        return None
    params = _params(module, spec)
    for form in BIAS_ACT_FORMS.values():
        if form.activation == spec.name and all(params[k] == v for k, v in form.fixed.items()):
            return form.act, (0.0 if form.alpha is None else float(params[form.alpha]))
    return None


@functools.cache
def _act_at_zero(name: str, params: tuple) -> float:
    spec = get_spec(name)
    zero = torch.zeros((), dtype=torch.float64)
    if spec.weight:
        return float(spec.reference64(zero, spec.make_weight(zero, per_channel=False)))
    return float(spec.reference64(zero, **dict(params)))


def _output_threshold(module: torch.nn.Module) -> float:
    """act(0) with the module's parameters: the output above which the
    pre-activation was positive (a monitored activation increases through 0)."""
    spec = _spec_of(module)
    return _act_at_zero(spec.name, tuple(_params(module, spec).items()))


def default_unit_dim(x: Tensor) -> int:
    """Channels (dim 1) for 4-d and 5-d inputs, the last dim otherwise."""
    return 1 if x.dim() in (4, 5) else x.dim() - 1


@dataclass
class _Record:
    name: str
    kind: str
    unit_dim: Optional[int] = None
    fused: bool = True
    batches: int = 0
    elements: List[int] = field(default_factory=list)
    active: List[Tensor] = field(default_factory=list)  # per batch, on device
    active_per_unit: Optional[Tensor] = None  # int64, summed over batches

    def add(self, counts: Tensor, numel: int) -> None:
        counts = counts.detach()
        self.batches += 1
        self.elements.append(numel)
        self.active.append(counts.sum())
        if self.active_per_unit is None or self.active_per_unit.shape != counts.shape:
            self.active_per_unit = counts.clone()
        else:
            self.active_per_unit += counts


class DeadUnitMonitor:
    """Records inactive fractions and dead units of our activation modules.

    Args:
        model: any module; every activation module of ours inside it (at any
            depth) is watched.
        unit_dims: optional overrides of the unit dim, keyed by the module's
            qualified name (as in ``model.named_modules()``) or the module.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self, model: torch.nn.Module, unit_dims: Optional[Dict[Union[str, torch.nn.Module], int]] = None
    ):
        self.model = model
        overrides = dict(unit_dims or {})
        self._watched = []
        for name, module in model.named_modules():
            if isinstance(module, ann._MONITORABLE):
                dim = overrides.get(name, overrides.get(module))
                self._watched.append((name or type(module).__name__, module, dim))
        self.records: Dict[str, _Record] = {
            name: _Record(name, type(m).__name__, dim) for name, m, dim in self._watched
        }

    # -------------------------------------------------------------- control

    def start(self) -> DeadUnitMonitor:
        for name, module, _ in self._watched:
            module._dead_unit_monitor = _Hook(self.records[name])
        return self

    def stop(self) -> None:
        for _, module, _ in self._watched:
            module.__dict__.pop("_dead_unit_monitor", None)

    def __enter__(self) -> DeadUnitMonitor:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget everything recorded so far."""
        for name, rec in self.records.items():
            self.records[name] = _Record(name, rec.kind, rec.unit_dim)
            for n, module, _ in self._watched:
                if n == name and "_dead_unit_monitor" in module.__dict__:
                    module._dead_unit_monitor = _Hook(self.records[name])

    # -------------------------------------------------------------- results

    def results(self) -> Dict[str, dict]:
        """Per module: kind, unit dim, batches seen, inactive fraction per
        batch (and overall), units, dead units (never active) and their
        indices, and whether the count was fused into the kernel."""
        out = {}
        for name, rec in self.records.items():
            per_batch = [1.0 - float(a) / n if n else 0.0 for a, n in zip(rec.active, rec.elements)]
            total = sum(rec.elements)
            active_total = sum(float(a) for a in rec.active)
            if rec.active_per_unit is not None:
                dead = (rec.active_per_unit == 0).nonzero().flatten().tolist()
                units = rec.active_per_unit.numel()
            else:
                dead, units = [], 0
            out[name] = {
                "kind": rec.kind,
                "unit_dim": rec.unit_dim,
                "batches": rec.batches,
                "inactive_fraction": (1.0 - active_total / total) if total else 0.0,
                "inactive_fraction_per_batch": per_batch,
                "units": units,
                "dead_units": len(dead),
                "dead_fraction": len(dead) / units if units else 0.0,
                "dead_unit_indices": dead,
                "fused": rec.fused,
            }
        return out

    def table(self) -> str:
        """The results as a Markdown table."""
        rows = [
            "| module | kind | batches | inactive fraction | dead units |",
            "| --- | --- | --- | --- | --- |",
        ]
        for name, r in self.results().items():
            rows.append(
                f"| {name} | {r['kind']} | {r['batches']} | {r['inactive_fraction']:.3f} | "
                f"{r['dead_units']}/{r['units']} |"
            )
        return "\n".join(rows)

    def plot(self, path: Optional[str] = None):
        """Inactive fraction per batch, one line per module (needs
        matplotlib). Saves to `path` when given; returns the figure."""
        import matplotlib

        if path is not None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        for name, r in self.results().items():
            label = f"{name} ({r['kind']}, {r['dead_units']}/{r['units']} dead)"
            ax.plot(r["inactive_fraction_per_batch"], label=label)
        ax.set_xlabel("batch")
        ax.set_ylabel("fraction of pre-activations <= 0")
        ax.set_ylim(0, 1)
        ax.legend(fontsize="small")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=120)
        return fig


class _Hook:
    """Called by a watched module's forward instead of its usual body."""

    __slots__ = ("record",)

    def __init__(self, record: _Record):
        self.record = record

    def __call__(self, module: torch.nn.Module, input: Tensor) -> Tensor:
        rec = self.record
        if input.dim() == 0:
            return module._plain_forward(input)
        dim = rec.unit_dim if rec.unit_dim is not None else default_unit_dim(input)
        dim = dim % input.dim()
        rec.unit_dim = dim
        units = input.shape[dim]
        inplace = getattr(module, "inplace", False)
        form = _bias_act_form(module)
        if not inplace and form is not None:
            act, alpha = form
            bias = torch.zeros(units, dtype=input.dtype, device=input.device)
            y, counts = _ops.bias_act_count.default(input, bias, act, dim, alpha)
        elif isinstance(module, ann.PReLU) and (module.weight.numel() == 1 or dim == 1):
            y, counts = _ops.prelu_count.default(input, module.weight, dim)
        else:
            # A separate pass: from the input when it is intact, else from
            # the output (every activation here increases through act(0)).
            rec.fused = False
            if inplace:
                y = module._plain_forward(input)
                mask = y > _output_threshold(module)
            else:
                mask = input > 0
                y = module._plain_forward(input)
            counts = mask.sum(dim=[d for d in range(input.dim()) if d != dim])
        rec.add(counts, input.numel())
        return y


__all__ = ["DeadUnitMonitor", "default_unit_dim"]
