"""Small real-world models built from torch.nn only, as users' models are.

The integration tests convert them to our activations and check that
everything users do with a model (train, autocast, compile, export,
distribute, save) still works and gives torch's results.
"""

from __future__ import annotations

import torch
from torch import nn

from activations_ext.spec import SPECS

TORCH_ACTIVATIONS = tuple(s.torch_module for s in SPECS)
OUR_ACTIVATIONS = tuple(s.module for s in SPECS)


class BasicBlock(nn.Module):
    """ResNet's basic block: two 3x3 convolutions with batch norm, an in-place
    ReLU, and a residual add (through a 1x1 convolution when the shape
    changes)."""

    def __init__(self, cin: int, cout: int, stride: int = 1, act: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        # The activation after the residual add (ResNet's is ReLU(inplace=True)).
        self.out_act = act if act is not None else nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return self.out_act(out)


class ResNet(nn.Module):
    """A ResNet-style CNN for 3x16x16 images: a stem, three blocks (one
    downsampling, one ending in a per-channel PReLU), and a small head."""

    def __init__(self, classes: int = 5, width: int = 8) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)
        )
        self.layers = nn.Sequential(
            BasicBlock(width, width),
            BasicBlock(width, 2 * width, stride=2),
            BasicBlock(2 * width, 2 * width, act=nn.PReLU(2 * width, init=0.2)),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * width, 16), nn.LeakyReLU(0.1), nn.Linear(16, classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.layers(self.stem(x))))


class EncoderBlock(nn.Module):
    """A pre-norm Transformer encoder block: self-attention and an MLP, each
    with a residual connection."""

    def __init__(self, dim: int, heads: int, hidden: int, act: nn.Module) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), act, nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class TinyTransformer(nn.Module):
    """A Transformer encoder over token ids: embeddings, four blocks with
    different activations (kept in a ModuleList), a sigmoid gate, and a
    ModuleDict of heads. Gives one score per sequence."""

    def __init__(self, vocab: int = 40, dim: int = 32, heads: int = 4, hidden: int = 64, length: int = 12):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.randn(1, length, dim) * 0.02)
        acts = [nn.GELU(), nn.ELU(alpha=0.7), nn.LeakyReLU(0.05), nn.PReLU(init=0.1)]
        self.blocks = nn.ModuleList(EncoderBlock(dim, heads, hidden, act) for act in acts)
        self.norm = nn.LayerNorm(dim)
        self.gate = nn.Linear(dim, dim)
        self.gate_act = nn.Sigmoid()
        self.heads = nn.ModuleDict(
            {
                "tokens": nn.Linear(dim, vocab),
                "score": nn.Sequential(nn.Linear(dim, 16), nn.SiLU(), nn.Linear(16, 1)),
            }
        )

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids) + self.pos[:, : ids.shape[1]]
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        x = x * self.gate_act(self.gate(x))
        return self.heads["tokens"](x).mean((1, 2)) + self.heads["score"](x.mean(1)).squeeze(-1)


def resnet_input(batch: int = 4, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, 16, 16, generator=gen)


def transformer_input(batch: int = 3, length: int = 12, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 40, (batch, length), generator=gen)


MODELS = {
    "resnet": (ResNet, resnet_input),
    "transformer": (TinyTransformer, transformer_input),
}


def build(name: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return MODELS[name][0]()


def example_input(name: str, **kw) -> torch.Tensor:
    return MODELS[name][1](**kw)


def activations_of(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, TORCH_ACTIVATIONS)]


def forward_backward(model: nn.Module, x: torch.Tensor):
    """Output and the gradients of every parameter (by name) for the loss
    ``output.square().sum()`` (a loss whose gradient is not constant)."""
    model.zero_grad(set_to_none=True)
    y = model(x)
    y.float().square().sum().backward()
    return y.detach(), {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def every_activation(width: int = 16, inplace: bool = False, seed: int = 0) -> nn.Module:
    """A stack of Linear layers with one of our modules of every spec case
    (every activation, each parameter set of the table) between them; with
    `inplace`, the in-place form wherever there is one."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for spec in SPECS:
        for params in spec.param_cases:
            layers.append(nn.Linear(width, width))
            kwargs = dict(params)
            if spec.weight:
                kwargs["num_parameters"] = width
            # In place needs a non-negative slope or alpha (torch's rule too).
            if inplace and spec.has_inplace and all(v >= 0 for v in params.values() if isinstance(v, float)):
                kwargs["inplace"] = True
            # A module that is random in training joins in its evaluation form.
            layers.append(spec.module(**kwargs).eval() if spec.random_in_training else spec.module(**kwargs))
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)
