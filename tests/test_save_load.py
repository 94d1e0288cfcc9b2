"""torch.save / torch.load of whole models using our modules, and of their
state_dicts (which load into the torch.nn model as well)."""

from __future__ import annotations

import copy

import pytest
import torch
from models import OUR_ACTIVATIONS, build, example_input, forward_backward

import activations_ext

MODEL_NAMES = ["resnet", "transformer"]


def _modules_by_name(model):
    return {n: (type(m), repr(m)) for n, m in model.named_modules()}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_whole_model_saves_and_loads(name, tmp_path):
    model, _ = activations_ext.convert(build(name))
    forward_backward(model, example_input(name, seed=3))  # some batch-norm statistics, some grads
    path = tmp_path / "model.pt"
    torch.save(model, path)
    # A whole model is a pickle of its classes: load it only from files you trust.
    loaded = torch.load(path, weights_only=False)

    assert _modules_by_name(loaded) == _modules_by_name(model)
    assert any(isinstance(m, OUR_ACTIVATIONS) for m in loaded.modules())
    for (n, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), n
    x = example_input(name)
    y, g = forward_backward(model, x)
    y_l, g_l = forward_backward(loaded, x)
    assert torch.equal(y_l, y)
    for n in g:
        assert torch.equal(g_l[n], g[n]), n


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_state_dict_file_loads_into_ours_and_torchs(name, tmp_path):
    model, _ = activations_ext.convert(build(name, seed=0))
    model.eval()
    path = tmp_path / "state.pt"
    torch.save(model.state_dict(), path)
    state = torch.load(path, weights_only=True)

    ours, _ = activations_ext.convert(build(name, seed=1))
    theirs = build(name, seed=2)
    for target in (ours, theirs):
        target.load_state_dict(state)
        target.eval()
    x = example_input(name)
    expected = model(x)
    assert torch.equal(ours(x), expected)
    torch.testing.assert_close(theirs(x), expected)


def test_deepcopy_keeps_our_modules_and_their_options():
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 4), activations_ext.nn.LeakyReLU(0.2, inplace=True, save_output=False)
    )
    model.append(activations_ext.nn.ELU(0.5, save_output=True))
    clone = copy.deepcopy(model)
    assert _modules_by_name(clone) == _modules_by_name(model)
    assert clone[2].save_output and clone[1].inplace
    x = torch.randn(3, 4)
    assert torch.equal(clone(x), model(x))
