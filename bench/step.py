"""A training step of an MLP: our modules against torch.nn's, per activation.

The same network (same initial weights) is built twice, once with
``activations_ext.nn`` modules and once with ``torch.nn`` ones; their steps
(forward, cross-entropy, backward, SGD update) are timed interleaved, and the
peak tensor memory of one step is measured for each.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Optional

import torch

from bench.kernels import Activation, activations, measure
from bench.memory import peak_tensor_bytes


@dataclass
class StepConfig:
    batch: int
    width: int
    depth: int  # hidden layers, each Linear -> activation
    in_features: int
    classes: int
    rounds: int
    min_time_s: float

    @classmethod
    def preset(cls, quick: bool, device: torch.device) -> StepConfig:
        if device.type == "cuda":
            return cls(8192, 4096, 4, 1024, 10, rounds=5 if quick else 15, min_time_s=0.02)
        if quick:
            return cls(batch=256, width=256, depth=3, in_features=256, classes=10, rounds=5, min_time_s=0.01)
        return cls(batch=512, width=512, depth=4, in_features=512, classes=10, rounds=12, min_time_s=0.05)


def make_mlp(act: Activation, impl: str, config: StepConfig) -> torch.nn.Sequential:
    layers: List[torch.nn.Module] = []
    width_in = config.in_features
    for _ in range(config.depth):
        layers += [torch.nn.Linear(width_in, config.width), act.module(impl, config.width)]
        width_in = config.width
    layers.append(torch.nn.Linear(width_in, config.classes))
    return torch.nn.Sequential(*layers)


def make_step(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor) -> Callable[[], None]:
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), target).backward()
        opt.step()

    return step


def run_steps(
    config: StepConfig, device: torch.device, names: Optional[List[str]] = None, progress=None
) -> Dict[str, Any]:
    """Per-step times of every activation's network, ours and torch.nn's, all
    interleaved in one measurement (so that both ours/torch.nn and, say,
    Sigmoid/ReLU ratios are paired), and each network's peak tensor memory."""
    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(config.batch, config.in_features, generator=gen, device=device)
    target = torch.randint(0, config.classes, (config.batch,), generator=gen, device=device)
    steps: Dict[str, Callable[[], None]] = {}
    for act in activations():
        if names is not None and act.name not in names:
            continue
        torch.manual_seed(0)
        native = make_mlp(act, "native", config).to(device)
        steps[f"{act.name}/native"] = make_step(native, x, target)
        if act.ours_module_cls is not None:
            ours = make_mlp(act, "ours", config).to(device)
            ours.load_state_dict(copy.deepcopy(native.state_dict()))
            steps[f"{act.name}/ours"] = make_step(ours, x, target)
    if progress is not None:
        progress("training steps")
    times = measure(steps, device, rounds=config.rounds, min_time_s=config.min_time_s, warmup=2)
    peaks = {}
    for key, step in steps.items():
        if progress is not None:
            progress("peak memory " + key)
        _, peaks[key] = peak_tensor_bytes(step, device)
    return {"config": asdict(config), "times": times, "peak_bytes": peaks}
