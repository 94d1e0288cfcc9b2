"""activations_ext.convert / revert on real models: every torch.nn activation
is swapped for ours (and back) at any depth, with the same hyperparameters
and parameters, and the model trains exactly as before."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as TF
from conftest import ALL_CASES, SPECS
from models import OUR_ACTIVATIONS, TORCH_ACTIVATIONS, activations_of, build, example_input, forward_backward
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import activations_ext
import activations_ext.functional as AF
from activations_ext import convert, revert
from activations_ext import nn as ann

SPEC_OF = {s.torch_module: s for s in SPECS}
MODEL_NAMES = ["resnet", "transformer"]
HYPERPARAMETERS = (
    "inplace",
    "negative_slope",
    "alpha",
    "num_parameters",
    "init",
    "approximate",
    "beta",
    "threshold",
)
# torch's operators for the activations we implement: none may run in a converted model.
ATEN_ACTIVATIONS = tuple(f"aten.{s.name}" for s in SPECS) + ("aten._prelu",)

EXPECTED_COUNTS = {
    "resnet": {"ReLU": 6, "PReLU": 1, "LeakyReLU": 1},
    "transformer": {"GELU": 1, "ELU": 1, "LeakyReLU": 1, "PReLU": 1, "Sigmoid": 1, "SiLU": 1},
}


class OpRecorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.names = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(str(func))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_convert_replaces_every_activation_keeping_hyperparameters(name):
    original = build(name)
    before = {n: m for n, m in original.named_modules() if isinstance(m, TORCH_ACTIVATIONS)}
    params_before = dict(original.named_parameters())

    converted, summary = convert(original)

    assert converted is original
    assert summary.counts() == EXPECTED_COUNTS[name]
    assert [r.name for r in summary.replaced] == list(before)
    after = dict(converted.named_modules())
    for n, old in before.items():
        new = after[n]
        assert type(new) is SPEC_OF[type(old)].module, n
        assert repr(new) == repr(old), n
        assert new.training == old.training
        for attr in HYPERPARAMETERS:
            if hasattr(old, attr):
                assert getattr(new, attr) == getattr(old, attr), (n, attr)
    assert not [n for n, m in converted.named_modules() if type(m) in TORCH_ACTIVATIONS]
    # The very same Parameter objects: an optimizer built earlier still holds them.
    for n, p in converted.named_parameters():
        assert p is params_before[n], n
    assert list(dict(converted.named_parameters())) == list(params_before)


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_converted_model_gives_same_outputs_and_gradients(name, train):
    original = build(name).train(train)
    exact = all(SPEC_OF[type(m)].exact for m in activations_of(original))
    converted, _ = convert(copy.deepcopy(original))
    x = example_input(name)

    y_ref, g_ref = forward_backward(original, x)
    with OpRecorder() as rec:
        y, g = forward_backward(converted, x)

    assert any(n.startswith("activations_ext.") for n in rec.names)
    assert not [n for n in rec.names if n.startswith(ATEN_ACTIVATIONS)]
    if exact:  # ReLU, LeakyReLU and PReLU forward are bit-exact
        assert torch.equal(y, y_ref)
    torch.testing.assert_close(y, y_ref)
    assert list(g) == list(g_ref)
    total = sum(float(t.abs().sum()) for t in g_ref.values())
    assert total > 1.0, "gradients too small for the comparison to mean anything"
    for n in g_ref:
        torch.testing.assert_close(g[n], g_ref[n], rtol=1e-4, atol=1e-5, msg=n)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_optimizer_steps_give_same_parameters(name):
    original = build(name)
    converted, _ = convert(copy.deepcopy(original))
    start = copy.deepcopy(original.state_dict())
    for model in (original, converted):
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        for step in range(3):
            opt.zero_grad()
            model(example_input(name, seed=10 + step)).square().mean().backward()
            opt.step()
    ref, ours = original.state_dict(), converted.state_dict()
    assert list(ours) == list(ref)
    moved = [k for k in ref if ref[k].is_floating_point() and not torch.equal(ref[k], start[k])]
    assert len(moved) > len(ref) // 2, "training did not change the parameters"
    for k in ref:
        torch.testing.assert_close(ours[k], ref[k], rtol=1e-4, atol=1e-5, msg=k)


def test_optimizer_built_before_conversion_keeps_training_prelu():
    model = nn.Sequential(nn.Linear(4, 6), nn.PReLU(6, init=0.3), nn.Linear(6, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model, _ = convert(model)
    w0 = model[1].weight.detach().clone()
    opt.zero_grad()
    model(-torch.ones(8, 4) * torch.arange(1.0, 5.0)).sum().backward()
    opt.step()
    assert type(model[1]) is ann.PReLU
    assert not torch.equal(model[1].weight, w0)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_state_dict_loads_both_ways(name):
    original = build(name, seed=0).eval()
    converted, _ = convert(build(name, seed=1).eval())
    converted.load_state_dict(original.state_dict())
    x = example_input(name)
    torch.testing.assert_close(converted(x), original(x))

    back = build(name, seed=2)
    back.load_state_dict(converted.state_dict())
    assert list(back.state_dict()) == list(original.state_dict())
    for k, v in original.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_revert_restores_the_torch_model(name):
    original = build(name)
    model, converted = convert(copy.deepcopy(original))
    model, reverted = revert(model)
    assert len(reverted) == len(converted)
    assert [r.name for r in reverted.replaced] == [r.name for r in converted.replaced]
    types = {n: type(m) for n, m in model.named_modules()}
    assert types == {n: type(m) for n, m in original.named_modules()}
    assert repr(model) == repr(original)
    assert not [n for n, m in model.named_modules() if isinstance(m, OUR_ACTIVATIONS)]
    x = example_input(name)
    torch.testing.assert_close(model(x), original(x))


@pytest.mark.parametrize("spec,params", ALL_CASES)
def test_convert_covers_every_activation_in_the_spec_table(spec, params):
    kwargs = {"num_parameters": 3, "init": 0.3} if spec.weight else dict(params)
    reference = nn.Sequential(nn.Linear(3, 3), spec.torch_module(**kwargs))
    if spec.random_in_training:
        reference.eval()
    model, summary = convert(copy.deepcopy(reference))
    assert type(model[1]) is spec.module
    assert summary.counts() == {spec.torch_module.__name__: 1}
    for k, v in kwargs.items():
        assert getattr(model[1], k) == v
    x = torch.randn(5, 3)
    torch.testing.assert_close(model(x), reference(x))
    model, _ = revert(model)
    assert type(model[1]) is spec.torch_module


def test_parameters_keep_value_device_dtype_and_requires_grad(device):
    model = nn.Sequential(nn.Linear(3, 3), nn.PReLU(3, init=0.4)).to(device=device, dtype=torch.float64)
    model[1].weight.requires_grad_(False)
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64))
    weight = model[1].weight
    model, _ = convert(model)
    w = model[1].weight
    assert w is weight
    assert w.device.type == device and w.dtype == torch.float64 and not w.requires_grad
    assert w.tolist() == [0.1, -0.2, 0.3]
    model, _ = revert(model)
    assert model[1].weight is weight and type(model[1]) is nn.PReLU


def test_shared_module_stays_shared():
    act = nn.ELU(alpha=0.5)
    model = nn.Sequential(nn.Linear(4, 4), act, nn.Linear(4, 4), act)
    model, summary = convert(model)
    assert model[1] is model[3]
    assert type(model[1]) is ann.ELU and model[1].alpha == 0.5
    assert [r.name for r in summary.replaced] == ["1"]


def test_model_that_is_itself_an_activation():
    new, summary = convert(nn.LeakyReLU(0.3, inplace=True))
    assert type(new) is ann.LeakyReLU and new.inplace and new.negative_slope == 0.3
    assert summary.replaced[0].name == ""
    back, _ = revert(new)
    assert type(back) is nn.LeakyReLU and back.inplace


def test_subclasses_users_wrote_are_left_alone():
    class ClippedReLU(nn.ReLU):
        def forward(self, x):
            return super().forward(x).clamp(max=1.0)

    model = nn.Sequential(ClippedReLU(), nn.ReLU(), nn.ModuleDict({"a": ClippedReLU()}))
    model, summary = convert(model)
    assert type(model[0]) is ClippedReLU and type(model[2]["a"]) is ClippedReLU
    assert type(model[1]) is ann.ReLU
    assert [r.name for r in summary.skipped] == ["0", "2.a"]
    assert "ClippedReLU" in str(summary)
    x = torch.randn(10) * 3
    assert float(model[0](x).max()) <= 1.0


def test_hooks_and_training_flag_carry_over():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU()).eval()
    seen = []
    handle = model[1].register_forward_hook(lambda m, i, o: seen.append(type(m)))
    model, _ = convert(model)
    model(torch.randn(2, 4))
    assert seen == [ann.ReLU]
    assert not model[1].training
    handle.remove()
    model(torch.randn(2, 4))
    assert seen == [ann.ReLU]


def test_revert_drops_options_torch_does_not_have():
    model = nn.Sequential(ann.LeakyReLU(0.1, save_output=True), ann.ELU(save_output=True))
    model, _ = revert(model)
    assert repr(model[0]) == repr(nn.LeakyReLU(0.1)) and not hasattr(model[0], "save_output")
    assert repr(model[1]) == repr(nn.ELU()) and not hasattr(model[1], "save_output")
    model, _ = convert(model)
    assert model[0].save_output is False


def test_summary_lists_activation_functions_left_alone():
    layer = nn.TransformerEncoderLayer(16, 2, 32)  # activation="relu" is torch.nn.functional.relu
    _, summary = convert(layer)
    assert summary.functions == (("activation", "torch.nn.functional.relu"),)
    assert "torch.nn.functional.relu" in str(summary)
    assert len(summary) == 0


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
def test_bad_input_is_rejected_with_a_clear_error():
    with pytest.raises(TypeError, match="expected a torch.nn.Module, but got str"):
        convert("model")
    with pytest.raises(TypeError, match="TorchScript"):
        revert(torch.jit.script(nn.Sequential(nn.Linear(2, 2), nn.ReLU())))


@pytest.mark.parametrize("mode", ["train", "eval", "inference"])
def test_our_function_as_transformer_activation(mode):
    """nn.TransformerEncoderLayer(activation=activations_ext.functional.relu):
    torch's results, computed by our kernel in training and inference."""
    torch.manual_seed(0)
    reference = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, activation=TF.relu, batch_first=True)
    ours = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, activation=AF.relu, batch_first=True)
    ours.load_state_dict(reference.state_dict())
    for m in (reference, ours):
        m.train(mode == "train")
    x = torch.randn(3, 5, 16)
    with torch.inference_mode(mode == "inference"), OpRecorder() as rec:
        y = ours(x)
    assert "activations_ext.relu.default" in rec.names
    with torch.inference_mode(mode == "inference"):
        torch.testing.assert_close(y, reference(x))


def test_converted_module_activation_in_transformer_layer():
    torch.manual_seed(0)
    reference = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, activation=nn.ReLU(), batch_first=True)
    model, summary = convert(copy.deepcopy(reference))
    assert type(model.activation) is ann.ReLU and summary.counts() == {"ReLU": 1}
    x = torch.randn(3, 5, 16)
    with OpRecorder() as rec:
        y = model(x)
    assert "activations_ext.relu.default" in rec.names
    torch.testing.assert_close(y, reference(x))


def test_convert_is_exported():
    assert activations_ext.convert is convert and activations_ext.revert is revert
