"""Drop-in modules: same constructor, repr, parameters and state_dict as torch.nn."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from conftest import SPECS

from activations_ext import nn as ann


def _module_args(spec):
    if spec.name == "prelu":
        return [{}, {"num_parameters": 6, "init": 0.1}]
    base = spec.required_kwargs
    if spec.has_inplace:
        return (
            [base, {**base, **{k: v for k, v in spec.param_cases[1].items()}, "inplace": True}]
            if len(spec.param_cases) > 1
            else [base, {**base, "inplace": True}]
        )
    return [base]


MODULE_CASES = [pytest.param(s, a, id=f"{s.name}-{a}") for s in SPECS for a in _module_args(s)]


@pytest.mark.parametrize("spec,kwargs", MODULE_CASES)
def test_module_matches_torch_module(spec, kwargs):
    ours, theirs = spec.module(**kwargs), spec.torch_module(**kwargs)
    if spec.random_in_training:  # compared in eval (tests/test_rrelu.py: training)
        ours.eval(), theirs.eval()
    assert repr(ours) == repr(theirs)
    assert isinstance(ours, spec.torch_module)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = torch.randn(4, 6, 5)
    torch.testing.assert_close(ours(x.clone()), theirs(x.clone()))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_state_dict_round_trips_both_ways(spec):
    kwargs = {"num_parameters": 6} if spec.weight else spec.required_kwargs
    theirs = spec.torch_module(**kwargs)
    if spec.weight:
        with torch.no_grad():
            theirs.weight.uniform_(-0.3, 0.6)
    ours = spec.module(**kwargs)
    ours.load_state_dict(theirs.state_dict())
    back = spec.torch_module(**kwargs)
    back.load_state_dict(ours.state_dict())
    for a, b in zip(theirs.state_dict().values(), back.state_dict().values()):
        assert torch.equal(a, b)
    buf = io.BytesIO()
    torch.save(ours.state_dict(), buf)
    buf.seek(0)
    theirs.load_state_dict(torch.load(buf))


def _mlp(act_factory):
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(12, 16),
        act_factory("a"),
        torch.nn.Linear(16, 16),
        act_factory("b"),
        torch.nn.Linear(16, 3),
    )


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_model_with_our_modules_equals_torch_model(spec):
    def factory(module_cls):
        return lambda _: module_cls(16) if spec.weight else module_cls(**spec.required_kwargs)

    ours = _mlp(factory(spec.module))
    theirs = _mlp(factory(spec.torch_module))
    if spec.random_in_training:
        ours.eval(), theirs.eval()
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(32, 12)
    yo, yt = ours(x), theirs(x)
    torch.testing.assert_close(yo, yt)
    yo.square().sum().backward()
    yt.square().sum().backward()
    for (name, po), pt in zip(ours.named_parameters(), theirs.parameters()):
        torch.testing.assert_close(po.grad, pt.grad, msg=name)


def test_save_output_shows_in_repr_only_when_set():
    assert repr(ann.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(ann.LeakyReLU(0.2, save_output=True)) == "LeakyReLU(negative_slope=0.2, save_output=True)"
    assert repr(ann.ELU(save_output=True)) == "ELU(alpha=1.0, save_output=True)"
    with pytest.raises(ValueError):
        ann.LeakyReLU(-0.1, save_output=True)


def test_whole_model_pickles():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), ann.PReLU(4), ann.ReLU(inplace=True))
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    x = torch.randn(2, 3)
    torch.testing.assert_close(loaded(x), model(x))
    assert type(loaded[1]) is ann.PReLU
    assert copy.deepcopy(model)[2].inplace
