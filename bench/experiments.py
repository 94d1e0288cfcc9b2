"""Training experiments behind the article's claims.

- :func:`article` -- the article's own experiment (claim 7): 1000 points of a
  2-D standard normal, label 1 outside the unit circle, Linear(2,16) ->
  activation -> Linear(16,1) -> Sigmoid, BCE, Adam lr 0.01, 100 full-batch
  epochs, over several seeds (the defaults of :class:`ExperimentConfig`).
  Also the source of ReLU sparsity (claim 3) and PReLU slopes (claim 6) in a
  small net.
- :func:`time_to_target` -- claim 1(c): epochs and seconds until the training
  error on scikit-learn's 8x8 digits reaches a target, each activation with
  its learning rate picked from a grid.
- :func:`gradient_norms` -- claim 2: per-layer gradient norms of a 10-layer
  MLP at initialisation and during training; the share of saturated units.
- :func:`dying_units` -- claim 4: the fraction of dead units over training at
  a normal and a high learning rate.

The networks use our modules (``activations_ext.nn``; an activation the
spec table lacks would fall back to torch.nn's). Everything runs on the
device :func:`bench.machine.pick_device` picks. Data loading, model
initialisation and batch order are seeded; the seeds are in the results.

Each experiment's result carries its configuration (and, on digits, the
shape of the data), so that the report describes what was run from the
results alone.
"""

from __future__ import annotations

import functools
import math
import statistics
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

from activations_ext.monitor import DeadUnitMonitor
from bench.kernels import Activation, get_activation
from bench.machine import pick_clock
from bench.verdicts import PRELU_INIT, SATURATION_ABS_INPUT

Tick = Callable[[str], None]

# scikit-learn's 8x8 digits as the package ships them. Results record the
# shape of the data they were trained on; this stands in for results written
# before they did.
DIGITS = {"images": 1797, "features": 64, "classes": 10}


@dataclass
class ExperimentConfig:
    # claim 7: the article's experiment
    article_seeds: List[int]
    article_points: int = 1000  # per seed
    article_width: int = 16  # hidden units
    article_epochs: int = 100
    article_lr: float = 0.01
    article_activations: Tuple[str, ...] = ("sigmoid", "relu", "leaky_relu", "tanh", "prelu", "elu")
    # claim 1(c): time to a training-error target on digits
    ttt_activations: Tuple[str, ...] = ("relu", "sigmoid", "tanh")
    ttt_lrs: Tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0)
    ttt_seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    ttt_max_epochs: int = 50
    ttt_target_error: float = 0.02
    ttt_width: int = 128
    ttt_depth: int = 4
    ttt_batch: int = 32
    ttt_momentum: float = 0.9
    # claim 2: gradient norms in a deep MLP
    grad_activations: Tuple[str, ...] = ("sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu")
    grad_depth: int = 9  # hidden layers: 10 Linear layers in all
    grad_width: int = 64
    grad_lr: float = 1e-3
    grad_batch: int = 64
    grad_epochs: int = 30
    grad_checkpoints: Tuple[int, ...] = (0, 1, 2, 5, 10, 20, 30)
    grad_seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    grad_saturation_bound: float = SATURATION_ABS_INPUT  # saturated: |activation input| > this
    # claim 4: dying units
    dying_activations: Tuple[str, ...] = ("relu", "leaky_relu", "prelu", "elu")
    dying_lrs: Dict[str, float] = field(default_factory=lambda: {"normal": 1e-3, "high": 3e-2})
    dying_width: int = 128
    dying_depth: int = 4
    dying_batch: int = 32
    dying_epochs: int = 20
    dying_seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    # claim 8: without an activation, the layers collapse into one linear map
    collapse_seeds: List[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    collapse_points: int = 1000
    collapse_width: int = 16
    collapse_depth: int = 4  # hidden layers: depth + 1 Linear layers in all
    collapse_epochs: int = 300
    collapse_lr: float = 0.01
    # claim 9: large initial weights and dying units
    init_activations: Tuple[str, ...] = ("relu", "leaky_relu", "prelu", "elu")
    init_scales: Tuple[float, ...] = (1.0, 3.0, 10.0)  # x Kaiming-normal (fan-in, gain for ReLU)
    init_optimizer: str = "sgd"  # plain SGD: Adam's steps do not grow with the weights' scale
    init_lr: float = 0.01
    init_width: int = 128
    init_depth: int = 4
    init_batch: int = 32
    init_epochs: int = 20
    init_seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    # claim 10: data that drive most hidden inputs negative
    negative_activations: Tuple[str, ...] = ("relu", "leaky_relu")
    negative_conditions: Tuple[str, ...] = ("standard", "offset", "negative_bias", "imbalance")
    negative_offset: float = -3.0  # "offset": added to both input coordinates
    negative_bias: float = -2.0  # "negative_bias": every hidden unit's initial bias
    negative_positive_share: float = 0.05  # "imbalance": share of class 1 (outside a wider circle)
    negative_points: int = 1000  # training points; as many held out
    negative_width: int = 16
    negative_epochs: int = 300
    negative_lr: float = 0.01
    negative_seeds: List[int] = field(default_factory=lambda: list(range(10)))
    # claim 11: Sigmoid in a shallow network (LeNet-5 on digits)
    lenet_activations: Tuple[str, ...] = ("sigmoid", "relu")
    lenet_lrs: Tuple[float, ...] = (0.003, 0.01, 0.03, 0.1, 0.3)
    lenet_momentum: float = 0.9
    lenet_batch: int = 32
    lenet_epochs: int = 20
    lenet_seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    lenet_target_accuracy: float = 0.95  # epochs to reach this validation accuracy are reported
    # claim 12: sparsity and overfitting with little data
    sparse_activations: Tuple[str, ...] = ("relu", "leaky_relu", "sigmoid", "tanh", "gelu")
    sparse_train_images: int = 300  # the rest of digits is the test set
    sparse_width: int = 256
    sparse_depth: int = 2
    sparse_lr: float = 1e-3
    sparse_batch: int = 32
    sparse_epochs: int = 150
    sparse_seeds: List[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    # every experiment
    prelu_init: float = PRELU_INIT  # PReLU's initial slope

    @classmethod
    def preset(cls, quick: bool) -> ExperimentConfig:
        if not quick:
            return cls(article_seeds=list(range(10)))
        return cls(
            article_seeds=list(range(5)),
            ttt_lrs=(0.03, 0.3),
            ttt_seeds=[0],
            ttt_max_epochs=6,
            grad_activations=("sigmoid", "tanh", "relu", "prelu"),
            grad_epochs=3,
            grad_checkpoints=(0, 1, 3),
            grad_seeds=[0],
            dying_epochs=4,
            dying_seeds=[0],
            collapse_seeds=[0, 1],
            collapse_epochs=60,
            init_activations=("relu", "leaky_relu"),
            init_scales=(1.0, 10.0),
            init_epochs=3,
            init_seeds=[0],
            negative_epochs=150,
            negative_seeds=[0, 1, 2],
            lenet_lrs=(0.01, 0.1),
            lenet_epochs=3,
            lenet_seeds=[0],
            sparse_activations=("relu", "sigmoid", "gelu"),
            sparse_epochs=30,
            sparse_seeds=[0, 1],
        )

    def runs(self) -> Dict[str, int]:
        """Number of training runs per experiment (for the progress bar)."""
        return {
            "article": len(self.article_seeds) * len(self.article_activations),
            "time_to_target": len(self.ttt_activations) * len(self.ttt_lrs) * len(self.ttt_seeds),
            "gradient_norms": len(self.grad_activations) * len(self.grad_seeds),
            "dying_units": len(self.dying_activations) * len(self.dying_lrs) * len(self.dying_seeds),
            "linear_collapse": 2 * len(self.collapse_seeds),
            "large_init": len(self.init_activations) * len(self.init_scales) * len(self.init_seeds),
            "negative_data": len(self.negative_activations)
            * len(self.negative_conditions)
            * len(self.negative_seeds),
            "lenet": len(self.lenet_activations) * len(self.lenet_lrs) * len(self.lenet_seeds),
            "sparsity": len(self.sparse_activations) * len(self.sparse_seeds),
        }


# --------------------------------------------------------------------------
# Models and what we read out of them
# --------------------------------------------------------------------------


def impl_for(act: Activation) -> str:
    """Our module when the library has one, else torch.nn's."""
    return "ours" if act.ours_module_cls is not None else "native"


def make_mlp(
    act: Activation,
    in_features: int,
    width: int,
    depth: int,
    out_features: int,
    prelu_init: float = PRELU_INIT,
) -> Tuple[torch.nn.Sequential, List[torch.nn.Module]]:
    """Linear -> act, ``depth`` times, then a Linear: the model and its hidden activation modules."""
    layers: List[torch.nn.Module] = []
    hidden: List[torch.nn.Module] = []
    w_in = in_features
    for _ in range(depth):
        module = act.module(impl_for(act), width, init=prelu_init)
        layers += [torch.nn.Linear(w_in, width), module]
        hidden.append(module)
        w_in = width
    layers.append(torch.nn.Linear(w_in, out_features))
    return torch.nn.Sequential(*layers), hidden


def seeded_mlp(
    act: Activation,
    seed: int,
    x: torch.Tensor,
    width: int,
    depth: int,
    classes: int,
    config: ExperimentConfig,
    device: torch.device,
    init: Optional[Callable[[torch.nn.Module], None]] = None,
) -> Tuple[torch.nn.Sequential, List[torch.nn.Module], torch.Generator]:
    """How every seeded run starts: ``make_mlp`` for inputs ``x`` with its weights drawn under
    ``torch.manual_seed(seed)`` (then changed by ``init``, if given) and moved to ``device``, and the
    batch-order generator of the same seed."""
    torch.manual_seed(seed)
    model, hidden = make_mlp(act, x.shape[1], width, depth, classes, config.prelu_init)
    if init is not None:
        init(model)
    return model.to(device), hidden, torch.Generator().manual_seed(seed)


def linear_layers(model: torch.nn.Module) -> List[torch.nn.Linear]:
    return [m for m in model.modules() if isinstance(m, torch.nn.Linear)]


@torch.no_grad()
def hidden_io(
    model: torch.nn.Module, hidden: Sequence[torch.nn.Module], x: torch.Tensor
) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """The (input, output) of every hidden activation module for the batch ``x``."""
    seen: List[Tuple[torch.Tensor, torch.Tensor]] = []
    hooks = [
        m.register_forward_hook(lambda _m, i, o: seen.append((i[0].detach(), o.detach()))) for m in hidden
    ]
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()
    return seen


def dead_unit_fractions(
    model: torch.nn.Module, hidden: Sequence[torch.nn.Module], x: torch.Tensor
) -> List[float]:
    """Per hidden layer, the fraction of units whose input is <= 0 for every row of ``x``.

    For ReLU such a unit outputs exactly 0 for all of ``x`` and gets no
    gradient from it: it is dead. For LeakyReLU, PReLU and ELU the same units
    are stuck on the negative side but still pass a gradient. Measured with
    the library's ``DeadUnitMonitor`` (its per-unit count is fused into our
    forward kernels); layers that are not our modules are measured with a
    forward hook instead.
    """
    names = {id(m): n for n, m in model.named_modules()}
    monitor = DeadUnitMonitor(model)
    with torch.no_grad(), monitor:
        model(x)
    watched = monitor.results()
    out: List[float] = []
    hooked = None
    for i, m in enumerate(hidden):
        r = watched.get(names.get(id(m), ""))
        if r is not None:
            out.append(float(r["dead_fraction"]))
        else:
            if hooked is None:
                hooked = hidden_io(model, hidden, x)
            out.append(float((hooked[i][0] <= 0).all(dim=0).float().mean()))
    return out


def zero_fractions(model: torch.nn.Module, hidden: Sequence[torch.nn.Module], x: torch.Tensor) -> List[float]:
    """Per hidden layer, the fraction of activation outputs that are exactly 0."""
    return [float((out == 0).float().mean()) for _, out in hidden_io(model, hidden, x)]


def saturated_fractions(
    model: torch.nn.Module,
    hidden: Sequence[torch.nn.Module],
    x: torch.Tensor,
    bound: float = SATURATION_ABS_INPUT,
) -> List[float]:
    """Per hidden layer, the fraction of activation inputs with ``|x| > bound``."""
    return [float((pre.abs() > bound).float().mean()) for pre, _ in hidden_io(model, hidden, x)]


def prelu_slopes(hidden: Sequence[torch.nn.Module]) -> List[float]:
    return [
        float(v) for m in hidden if isinstance(m, torch.nn.PReLU) for v in m.weight.detach().flatten().cpu()
    ]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_epoch(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    batch: int,
    gen: torch.Generator,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> Tuple[float, float]:
    """One epoch of minibatch training in a seeded order: (seconds, mean loss)."""
    clock = pick_clock(x.device)[0]
    synchronize(x.device)
    t0 = clock()
    perm = torch.randperm(x.shape[0], generator=gen).to(x.device)
    total = torch.zeros((), device=x.device)
    for i in range(0, x.shape[0], batch):
        idx = perm[i : i + batch]
        loss = loss_fn(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.detach() * idx.numel()
    synchronize(x.device)
    return clock() - t0, float(total) / x.shape[0]


@torch.no_grad()
def error_rate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((model(x).argmax(dim=1) != y).float().mean())


def load_digits(device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8x8 digits (shipped with the package: see ``DIGITS``), standardised."""
    from sklearn.datasets import load_digits as _load

    d = _load()
    x = torch.tensor(d.data, dtype=torch.float32)
    x = (x - x.mean(dim=0)) / (x.std(dim=0) + 1e-6)
    return x.to(device), torch.tensor(d.target, dtype=torch.long, device=device)


def data_shape(x: torch.Tensor, y: torch.Tensor) -> Dict[str, int]:
    """What a digits experiment trained on, as ``DIGITS`` spells it."""
    return {"images": x.shape[0], "features": x.shape[1], "classes": int(y.max()) + 1}


# --------------------------------------------------------------------------
# Claim 7: the article's experiment
# --------------------------------------------------------------------------


def circle_data(seed: int, device: torch.device, points: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``points`` points of a 2-D standard normal; label 1 outside the unit circle."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(points, 2, generator=gen)
    y = (x[:, 0] ** 2 + x[:, 1] ** 2 > 1).float().unsqueeze(1)
    return x.to(device), y.to(device)


def article(config: ExperimentConfig, device: torch.device, tick: Tick) -> Dict[str, Any]:
    from activations_ext import nn as ann

    runs = []
    for seed in config.article_seeds:
        x, y = circle_data(seed, device, config.article_points)
        for name in config.article_activations:
            tick(f"article {name} seed {seed}")
            act = get_activation(name)
            torch.manual_seed(1000 + seed)  # same Linear weights for every activation of this seed
            w = config.article_width
            hidden = act.module(impl_for(act), w, init=config.prelu_init)
            model = torch.nn.Sequential(
                torch.nn.Linear(2, w), hidden, torch.nn.Linear(w, 1), ann.Sigmoid()
            ).to(device)
            zeros_init = zero_fractions(model, [hidden], x)[0]
            opt = torch.optim.Adam(model.parameters(), lr=config.article_lr)
            loss_fn = torch.nn.BCELoss()
            losses = []
            clock = pick_clock(device)[0]
            synchronize(device)
            t0 = clock()
            for _ in range(config.article_epochs):
                opt.zero_grad()
                loss = loss_fn(model(x), y)
                loss.backward()
                opt.step()
                losses.append(loss.detach())
            synchronize(device)
            seconds = clock() - t0
            with torch.no_grad():
                final = float(loss_fn(model(x), y))
                acc = float(((model(x) > 0.5).float() == y).float().mean())
            runs.append(
                {
                    "activation": name,
                    "seed": seed,
                    "losses": [float(v) for v in losses],  # loss before each update; epoch 1 = initial
                    "final_loss": final,
                    "accuracy": acc,
                    "seconds": seconds,
                    "zero_fraction_init": zeros_init,
                    "zero_fraction_final": zero_fractions(model, [hidden], x)[0],
                    "prelu_slopes": prelu_slopes([hidden]),
                }
            )
    return {"config": _sub(config, "article_"), "runs": runs}


# --------------------------------------------------------------------------
# Claim 1(c): epochs and seconds to a training-error target
# --------------------------------------------------------------------------


def time_to_target(config: ExperimentConfig, device: torch.device, tick: Tick) -> Dict[str, Any]:
    x, y = load_digits(device)
    classes = data_shape(x, y)["classes"]
    loss_fn = torch.nn.functional.cross_entropy
    runs = []
    for name in config.ttt_activations:
        act = get_activation(name)
        for lr in config.ttt_lrs:
            for seed in config.ttt_seeds:
                tick(f"time-to-target {name} lr {lr} seed {seed}")
                model, _, gen = seeded_mlp(
                    act, seed, x, config.ttt_width, config.ttt_depth, classes, config, device
                )
                opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=config.ttt_momentum)
                errors, seconds, reached = [], 0.0, None
                for epoch in range(1, config.ttt_max_epochs + 1):
                    dt, loss = train_epoch(model, opt, x, y, config.ttt_batch, gen, loss_fn)
                    seconds += dt
                    err = error_rate(model, x, y) if math.isfinite(loss) else 1.0
                    errors.append(err)
                    if err <= config.ttt_target_error:
                        reached = epoch
                        break
                    if not math.isfinite(loss):
                        break  # diverged: it will not reach the target
                runs.append(
                    {
                        "activation": name,
                        "lr": lr,
                        "seed": seed,
                        "epochs_to_target": reached,
                        "seconds_to_target": seconds if reached else None,
                        "seconds_per_epoch": seconds / len(errors),
                        "errors": errors,
                        "diverged": not math.isfinite(loss),
                    }
                )
    return {
        "config": _sub(config, "ttt_"),
        "data": data_shape(x, y),
        "runs": runs,
        "summary": summarize_time_to_target(runs, config),
    }


def _median(values: Sequence[float]) -> float:
    v = sorted(values)
    if not v:
        return math.nan
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


def summarize_time_to_target(runs: List[Dict[str, Any]], config: ExperimentConfig) -> Dict[str, Any]:
    """Per activation and learning rate: the median epochs to target over seeds
    (a run that never reaches it counts as infinitely many); the best rate is
    the one with the fewest, ties going to the fewer seconds."""
    out: Dict[str, Any] = {}
    for name in config.ttt_activations:
        per_lr = {}
        for lr in config.ttt_lrs:
            rs = [r for r in runs if r["activation"] == name and r["lr"] == lr]
            epochs = [r["epochs_to_target"] if r["epochs_to_target"] else math.inf for r in rs]
            secs = [r["seconds_to_target"] if r["seconds_to_target"] else math.inf for r in rs]
            per_lr[lr] = {
                "median_epochs": _median(epochs),
                "median_seconds": _median(secs),
                "reached": sum(1 for r in rs if r["epochs_to_target"]),
                "runs": len(rs),
                "seconds_per_epoch": _median([r["seconds_per_epoch"] for r in rs]),
            }
        best_lr = min(
            config.ttt_lrs, key=lambda lr: (per_lr[lr]["median_epochs"], per_lr[lr]["median_seconds"])
        )
        best = per_lr[best_lr]
        out[name] = {
            "per_lr": {str(k): v for k, v in per_lr.items()},
            "best_lr": best_lr,
            "median_epochs": best["median_epochs"],
            "median_seconds": best["median_seconds"],
            "reached": best["reached"] > 0 and math.isfinite(best["median_epochs"]),
            "seconds_per_epoch": best["seconds_per_epoch"],
        }
    return out


# --------------------------------------------------------------------------
# Claim 2: gradient norms per layer (and claim 3's sparsity in a deep net)
# --------------------------------------------------------------------------


def _layer_grad_norms(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> List[float]:
    model.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    norms = [float(lin.weight.grad.norm()) for lin in linear_layers(model)]
    model.zero_grad(set_to_none=True)
    return norms


def gradient_norms(config: ExperimentConfig, device: torch.device, tick: Tick) -> Dict[str, Any]:
    x, y = load_digits(device)
    classes = data_shape(x, y)["classes"]
    loss_fn = torch.nn.functional.cross_entropy
    runs = []
    for name in config.grad_activations:
        act = get_activation(name)
        for seed in config.grad_seeds:
            tick(f"gradient norms {name} seed {seed}")
            model, hidden, gen = seeded_mlp(
                act, seed, x, config.grad_width, config.grad_depth, classes, config, device
            )
            opt = torch.optim.Adam(model.parameters(), lr=config.grad_lr)
            points = []
            for epoch in range(0, config.grad_epochs + 1):
                if epoch > 0:
                    train_epoch(model, opt, x, y, config.grad_batch, gen, loss_fn)
                if epoch in config.grad_checkpoints:
                    points.append(
                        {
                            "epoch": epoch,
                            "grad_norms": _layer_grad_norms(model, x, y),
                            "saturated": saturated_fractions(model, hidden, x, config.grad_saturation_bound),
                            "zeros": zero_fractions(model, hidden, x),
                            "error": error_rate(model, x, y),
                        }
                    )
            runs.append(
                {"activation": name, "seed": seed, "points": points, "prelu_slopes": prelu_slopes(hidden)}
            )
    return {"config": _sub(config, "grad_"), "data": data_shape(x, y), "runs": runs}


# --------------------------------------------------------------------------
# Claim 4: dead units at a normal and a high learning rate
# --------------------------------------------------------------------------


def dying_units(config: ExperimentConfig, device: torch.device, tick: Tick) -> Dict[str, Any]:
    x, y = load_digits(device)
    classes = data_shape(x, y)["classes"]
    loss_fn = torch.nn.functional.cross_entropy
    runs = []
    for name in config.dying_activations:
        act = get_activation(name)
        for label, lr in config.dying_lrs.items():
            for seed in config.dying_seeds:
                tick(f"dead units {name} {label} lr seed {seed}")
                model, hidden, gen = seeded_mlp(
                    act, seed, x, config.dying_width, config.dying_depth, classes, config, device
                )
                opt = torch.optim.Adam(model.parameters(), lr=lr)
                dead = [dead_unit_fractions(model, hidden, x)]
                errors = [error_rate(model, x, y)]
                for _ in range(config.dying_epochs):
                    train_epoch(model, opt, x, y, config.dying_batch, gen, loss_fn)
                    dead.append(dead_unit_fractions(model, hidden, x))
                    errors.append(error_rate(model, x, y))
                runs.append(
                    {
                        "activation": name,
                        "lr_label": label,
                        "lr": lr,
                        "seed": seed,
                        "dead": dead,  # [epoch][layer], epoch 0 = initialisation
                        "errors": errors,
                        "prelu_slopes": prelu_slopes(hidden),
                    }
                )
    return {"config": _sub(config, "dying_"), "data": data_shape(x, y), "runs": runs}


# --------------------------------------------------------------------------
# Claim 8: without an activation, any number of layers is one linear map
# --------------------------------------------------------------------------


def collapsed_map(model: torch.nn.Sequential) -> Tuple[torch.Tensor, torch.Tensor]:
    """(W, b) of the single affine map a stack of Linear layers computes,
    multiplied out in float64: y = x @ W.T + b."""
    w = b = None
    for layer in linear_layers(model):
        lw, lb = layer.weight.detach().double(), layer.bias.detach().double()
        if w is None:
            w, b = lw, lb
        else:
            w, b = lw @ w, lw @ b + lb
    return w, b


def linear_collapse(config: ExperimentConfig, device: torch.device, tick: Tick) -> Dict[str, Any]:
    """The article's circle data, a deep MLP without activations against the
    same MLP with ReLU (same initial weights), against the best linear
    classifier (logistic regression on the inputs) and the majority class."""
    from sklearn.linear_model import LogisticRegression

    from activations_ext import nn as ann

    runs = []
    w, depth = config.collapse_width, config.collapse_depth
    for seed in config.collapse_seeds:
        x, y = circle_data(seed, device, config.collapse_points)
        xs, ys = x.cpu().double().numpy(), y.cpu().flatten().numpy()
        logistic = LogisticRegression().fit(xs, ys)
        run: Dict[str, Any] = {
            "seed": seed,
            "logistic_accuracy": float(logistic.score(xs, ys)),
            "majority_accuracy": float(max(ys.mean(), 1 - ys.mean())),
        }
        for name in ("none", "relu"):
            tick(f"linear collapse {name} seed {seed}")
            torch.manual_seed(2000 + seed)  # the same Linear weights with and without the activation
            layers: List[torch.nn.Module] = []
            w_in = 2
            for _ in range(depth):
                layers.append(torch.nn.Linear(w_in, w))
                if name == "relu":
                    layers.append(ann.ReLU())
                w_in = w
            layers.append(torch.nn.Linear(w_in, 1))
            model = torch.nn.Sequential(*layers).to(device)
            opt = torch.optim.Adam(model.parameters(), lr=config.collapse_lr)
            loss_fn = torch.nn.BCEWithLogitsLoss()
            for _ in range(config.collapse_epochs):
                opt.zero_grad()
                loss_fn(model(x), y).backward()
                opt.step()
            with torch.no_grad():
                logits = model(x)
                run[f"{name}_loss"] = float(loss_fn(logits, y))
                run[f"{name}_accuracy"] = float(((logits > 0).float() == y).float().mean())
                if name == "none":
                    wm, bm = collapsed_map(model)
                    mapped = x.double() @ wm.T + bm
                    scale = float(logits.double().abs().max())
                    run["collapse_rel_error"] = float((mapped - logits.double()).abs().max()) / max(
                        scale, 1e-30
                    )
        runs.append(run)
    return {"config": _sub(config, "collapse_"), "runs": runs}


# --------------------------------------------------------------------------
# Claim 9: too-large initial weights kill ReLU units
# --------------------------------------------------------------------------


@torch.no_grad()
def _scaled_kaiming(model: torch.nn.Module, scale: float) -> None:
    """Kaiming-normal weights (for ReLU) times ``scale`` and zero biases in every Linear of ``model``."""
    for layer in linear_layers(model):
        torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        layer.weight.mul_(scale)
        layer.bias.zero_()


def large_init(config: ExperimentConfig, device: torch.device, tick: Tick) -> Dict[str, Any]:
    """Claim 4's digits MLP, the layers' weights drawn from Kaiming-normal
    (ReLU's gain) times each scale, biases zero, trained with plain SGD at a
    rate that suits 1x: dead (ReLU) or stuck (the others) units at
    initialisation and after training. Scaling the weights changes no unit's
    sign at initialisation (ReLU is positively homogeneous), so any extra
    death comes from training: with SGD the gradients, and so the steps,
    grow with the weights (Adam's would not)."""
    x, y = load_digits(device)
    classes = data_shape(x, y)["classes"]
    loss_fn = torch.nn.functional.cross_entropy
    runs = []
    for name in config.init_activations:
        act = get_activation(name)
        for scale in config.init_scales:
            for seed in config.init_seeds:
                tick(f"large init {name} x{scale:g} seed {seed}")
                model, hidden, gen = seeded_mlp(
                    act,
                    seed,
                    x,
                    config.init_width,
                    config.init_depth,
                    classes,
                    config,
                    device,
                    init=functools.partial(_scaled_kaiming, scale=scale),
                )
                if config.init_optimizer == "sgd":
                    opt = torch.optim.SGD(model.parameters(), lr=config.init_lr)
                else:
                    opt = torch.optim.Adam(model.parameters(), lr=config.init_lr)
                dead_init = dead_unit_fractions(model, hidden, x)
                for _ in range(config.init_epochs):
                    train_epoch(model, opt, x, y, config.init_batch, gen, loss_fn)
                runs.append(
                    {
                        "activation": name,
                        "scale": scale,
                        "seed": seed,
                        "dead_init": dead_init,  # per hidden layer
                        "dead_end": dead_unit_fractions(model, hidden, x),
                        "error_end": error_rate(model, x, y),
                    }
                )
    return {"config": _sub(config, "init_"), "data": data_shape(x, y), "runs": runs}


# --------------------------------------------------------------------------
# Claim 10: data that drive most hidden inputs negative
# --------------------------------------------------------------------------


def negative_data_set(
    condition: str, config: ExperimentConfig, seed: int, device: torch.device
) -> Tuple[torch.Tensor, torch.Tensor]:
    """The circle data of one condition: "standard" and "negative_bias" are the
    article's; "offset" moves every point by ``offset`` on both axes (the
    labels stay those of the unshifted points); "imbalance" labels 1 only
    outside the circle that leaves ``positive_share`` of the points outside."""
    x, y = circle_data(seed, device, config.negative_points)
    if condition == "offset":
        x = x + config.negative_offset
    elif condition == "imbalance":
        # P(|x|^2 > r^2) = exp(-r^2 / 2) for a 2-D standard normal
        r2 = -2.0 * math.log(config.negative_positive_share)
        y = ((x**2).sum(dim=1) > r2).float().unsqueeze(1)
    elif condition not in ("standard", "negative_bias"):
        raise ValueError(f"unknown condition {condition!r}")
    return x, y


def balanced_accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Mean over the two classes of the share of each class predicted right."""
    pred = (logits > 0).float()
    recalls = [float((pred[y == c] == c).float().mean()) for c in (0.0, 1.0) if bool((y == c).any())]
    return sum(recalls) / len(recalls)


def negative_data(config: ExperimentConfig, device: torch.device, tick: Tick) -> Dict[str, Any]:
    """The article's network (Linear(2, w) -> activation -> Linear(w, 1)) on
    circle data under conditions that drive most hidden inputs negative, ReLU
    against LeakyReLU from the same initial weights: final loss, balanced
    accuracy on held-out points of the same distribution, the share of hidden
    units dead (input <= 0 for every training point) at initialisation."""
    runs = []
    w = config.negative_width
    for condition in config.negative_conditions:
        for seed in config.negative_seeds:
            x, y = negative_data_set(condition, config, seed, device)
            xt, yt = negative_data_set(condition, config, 50_000 + seed, device)
            for name in config.negative_activations:
                tick(f"negative data {condition} {name} seed {seed}")
                act = get_activation(name)
                torch.manual_seed(3000 + seed)  # same weights for both activations of this seed
                hidden = act.module(impl_for(act), w, init=config.prelu_init)
                first = torch.nn.Linear(2, w)
                if condition == "negative_bias":
                    with torch.no_grad():
                        first.bias.fill_(config.negative_bias)
                model = torch.nn.Sequential(first, hidden, torch.nn.Linear(w, 1)).to(device)
                opt = torch.optim.Adam(model.parameters(), lr=config.negative_lr)
                loss_fn = torch.nn.BCEWithLogitsLoss()
                with torch.no_grad():
                    pre = first(x)
                negative_init = float((pre <= 0).float().mean())
                dead_init = float((pre <= 0).all(dim=0).float().mean())
                for _ in range(config.negative_epochs):
                    opt.zero_grad()
                    loss_fn(model(x), y).backward()
                    opt.step()
                with torch.no_grad():
                    logits, test_logits = model(x), model(xt)
                    dead_end = float((first(x) <= 0).all(dim=0).float().mean())
                runs.append(
                    {
                        "condition": condition,
                        "activation": name,
                        "seed": seed,
                        "positive_share": float(y.mean()),
                        "negative_inputs_init": negative_init,  # share of hidden inputs <= 0
                        "dead_init": dead_init,  # share of hidden units with input <= 0 everywhere
                        "dead_end": dead_end,
                        "final_loss": float(loss_fn(logits, y)),
                        "test_loss": float(loss_fn(test_logits, yt)),
                        "balanced_accuracy": balanced_accuracy(test_logits, yt),
                        "train_balanced_accuracy": balanced_accuracy(logits, y),
                    }
                )
    return {"config": _sub(config, "negative_"), "runs": runs}


# --------------------------------------------------------------------------
# Claim 11: Sigmoid in a shallow network (LeNet-5 on digits)
# --------------------------------------------------------------------------


def lenet5(act: Activation, prelu_init: float = PRELU_INIT) -> torch.nn.Sequential:
    """LeCun's LeNet-5 on a 32x32 image: two 5x5 convolutions with 2x2
    average pooling, then 120, 84 and 10 units; the activation after every
    layer but the last. Xavier-uniform weights and zero biases (the careful
    initialisation a Sigmoid network needs; the same for every activation)."""

    def a(width: int) -> torch.nn.Module:
        return act.module(impl_for(act), width, init=prelu_init)

    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 5),
        a(6),
        torch.nn.AvgPool2d(2),
        torch.nn.Conv2d(6, 16, 5),
        a(16),
        torch.nn.AvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(16 * 5 * 5, 120),
        a(120),
        torch.nn.Linear(120, 84),
        a(84),
        torch.nn.Linear(84, 10),
    )
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.xavier_uniform_(m.weight)
            torch.nn.init.zeros_(m.bias)
    return model


def digit_images(device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    """Digits as 1 x 32 x 32 images: each 8x8 image (standardised as
    :func:`load_digits` does) repeated 4x along both axes."""
    x, y = load_digits(device)
    img = x.view(-1, 1, 8, 8)
    return img.repeat_interleave(4, dim=2).repeat_interleave(4, dim=3).contiguous(), y


def split(n: int, seed: int, shares: Sequence[float]) -> List[torch.Tensor]:
    """A seeded random partition of range(n) into parts of the given shares (the last takes the rest)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    out, start = [], 0
    for share in shares[:-1]:
        stop = start + int(round(share * n))
        out.append(perm[start:stop])
        start = stop
    out.append(perm[start:])
    return out


def lenet(config: ExperimentConfig, device: torch.device, tick: Tick) -> Dict[str, Any]:
    """LeNet-5 on digits (60% train, 20% validation, 20% test; one split per
    seed), Sigmoid against ReLU, SGD with momentum over a learning-rate grid:
    validation and test accuracy after every epoch."""
    x, y = digit_images(device)
    loss_fn = torch.nn.functional.cross_entropy
    runs = []
    for seed in config.lenet_seeds:
        tr, va, te = (i.to(device) for i in split(x.shape[0], seed, (0.6, 0.2, 0.2)))
        for name in config.lenet_activations:
            act = get_activation(name)
            for lr in config.lenet_lrs:
                tick(f"lenet {name} lr {lr:g} seed {seed}")
                torch.manual_seed(4000 + seed)
                model = lenet5(act, config.prelu_init).to(device)
                opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=config.lenet_momentum)
                gen = torch.Generator().manual_seed(seed)
                val, test, loss = [], [], []
                for _ in range(config.lenet_epochs):
                    loss.append(train_epoch(model, opt, x[tr], y[tr], config.lenet_batch, gen, loss_fn)[1])
                    val.append(1 - error_rate(model, x[va], y[va]))
                    test.append(1 - error_rate(model, x[te], y[te]))
                runs.append(
                    {
                        "activation": name,
                        "lr": lr,
                        "seed": seed,
                        "train_loss": loss,  # mean loss per epoch
                        "val_accuracy": val,  # after each epoch
                        "test_accuracy": test,
                    }
                )
    return {
        "config": _sub(config, "lenet_"),
        "data": {**data_shape(x.flatten(1), y), "image": list(x.shape[1:])},
        "runs": runs,
    }


def summarize_lenet(result: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Per activation: the learning rate with the best median (over seeds) of
    the best validation accuracy; at that rate the median test accuracy at
    each run's best validation epoch and the median epochs to the target."""
    target = result["config"]["target_accuracy"]
    groups: Dict[Tuple[str, float], List[Mapping[str, Any]]] = {}
    for r in result["runs"]:
        groups.setdefault((r["activation"], r["lr"]), []).append(r)
    per: Dict[str, Dict[float, Dict[str, Any]]] = {}
    for (name, lr), rs in groups.items():
        best = [max(r["val_accuracy"]) for r in rs]
        at = [r["test_accuracy"][r["val_accuracy"].index(max(r["val_accuracy"]))] for r in rs]
        reach = [next((i + 1 for i, a in enumerate(r["val_accuracy"]) if a >= target), None) for r in rs]
        reached = [e for e in reach if e is not None]
        per.setdefault(name, {})[lr] = {
            "val_best": _median(best),
            "test": _median(at),
            "epochs_to_target": _median(reached) if len(reached) * 2 > len(reach) else None,
            "seeds": len(rs),
        }
    out: Dict[str, Dict[str, Any]] = {}
    for name, by_lr in per.items():
        lr = max(sorted(by_lr), key=lambda k: by_lr[k]["val_best"])
        out[name] = {"best_lr": lr, **by_lr[lr], "by_lr": by_lr}
    return out


# --------------------------------------------------------------------------
# Claim 12: sparsity and overfitting with little data
# --------------------------------------------------------------------------


def sparsity(config: ExperimentConfig, device: torch.device, tick: Tick) -> Dict[str, Any]:
    """A wide MLP trained long on a few hundred digits (a different random
    subset per seed, the rest held out): train and test accuracy and loss, and
    the share of exact zeros in the hidden activations on the test images."""
    x, y = load_digits(device)
    classes = data_shape(x, y)["classes"]
    loss_fn = torch.nn.functional.cross_entropy
    share = config.sparse_train_images / x.shape[0]
    runs = []
    for seed in config.sparse_seeds:
        tr, te = (i.to(device) for i in split(x.shape[0], 5000 + seed, (share, 1 - share)))
        for name in config.sparse_activations:
            tick(f"sparsity {name} seed {seed}")
            act = get_activation(name)
            model, hidden, gen = seeded_mlp(
                act, seed, x, config.sparse_width, config.sparse_depth, classes, config, device
            )
            opt = torch.optim.Adam(model.parameters(), lr=config.sparse_lr)
            for _ in range(config.sparse_epochs):
                train_epoch(model, opt, x[tr], y[tr], config.sparse_batch, gen, loss_fn)
            with torch.no_grad():
                train_loss = float(loss_fn(model(x[tr]), y[tr]))
                test_loss = float(loss_fn(model(x[te]), y[te]))
            runs.append(
                {
                    "activation": name,
                    "seed": seed,
                    "train_accuracy": 1 - error_rate(model, x[tr], y[tr]),
                    "test_accuracy": 1 - error_rate(model, x[te], y[te]),
                    "train_loss": train_loss,
                    "test_loss": test_loss,
                    "zero_fraction": statistics.fmean(zero_fractions(model, hidden, x[te])),
                }
            )
    return {
        "config": _sub(config, "sparse_"),
        "data": {**data_shape(x, y), "train": len(tr), "test": len(te)},
        "runs": runs,
    }


# Settings every experiment uses: each experiment's config carries them.
SHARED = ("prelu_init",)


def _sub(config: ExperimentConfig, prefix: str) -> Dict[str, Any]:
    d = asdict(config)
    return {
        **{k[len(prefix) :]: v for k, v in d.items() if k.startswith(prefix)},
        **{k: d[k] for k in SHARED},
    }


def config_defaults(prefix: str) -> Dict[str, Any]:
    """One experiment's settings that have defaults, named as in its results' config.

    Results written before a setting was recorded ran with its default; the
    report reads a missing setting from here."""
    out: Dict[str, Any] = {}
    for f in fields(ExperimentConfig):
        if f.default is MISSING or not (f.name.startswith(prefix) or f.name in SHARED):
            continue
        out[f.name[len(prefix) :] if f.name.startswith(prefix) else f.name] = f.default
    return out


def run_all(config: ExperimentConfig, device: torch.device, tick: Optional[Tick] = None) -> Dict[str, Any]:
    tick = tick or (lambda _label: None)
    return {
        "article": article(config, device, tick),
        "time_to_target": time_to_target(config, device, tick),
        "gradient_norms": gradient_norms(config, device, tick),
        "dying_units": dying_units(config, device, tick),
        "linear_collapse": linear_collapse(config, device, tick),
        "large_init": large_init(config, device, tick),
        "negative_data": negative_data(config, device, tick),
        "lenet": lenet(config, device, tick),
        "sparsity": sparsity(config, device, tick),
    }
