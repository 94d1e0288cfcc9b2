"""torch.export.export of models built from our modules: the exported
program keeps our operators, runs, equals eager (for other batch sizes too),
decomposes to core ATen, trains, and saves and loads."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from models import build, every_activation, example_input, forward_backward
from torch.export import Dim

import activations_ext
from activations_ext.spec import SPECS

MODEL_NAMES = ["resnet", "transformer"]
# Our operators each converted model must show in its exported graph (the
# ResNet's in-place ReLUs stay in place: relu_).
EXPECTED_OPS = {
    "resnet": {"relu_", "prelu", "leaky_relu"},
    "transformer": {"gelu", "elu", "leaky_relu", "prelu", "sigmoid", "silu"},
}
ATEN_ACTIVATIONS = tuple(f"aten.{s.name}" for s in SPECS) + ("aten._prelu",)


def _converted(name, train=False):
    model, _ = activations_ext.convert(build(name))
    return model.train(train)


def _targets(program):
    return [str(n.target) for n in program.graph.nodes if n.op == "call_function"]


def _our_ops(program):
    return {t.split(".")[1] for t in _targets(program) if t.startswith("activations_ext.")}


@pytest.mark.parametrize("strict", [False, True], ids=["non-strict", "strict"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_exported_model_runs_and_equals_eager(name, strict):
    model = _converted(name)
    batch = Dim("batch", min=2, max=64)
    program = torch.export.export(
        model, (example_input(name, batch=4),), dynamic_shapes=({0: batch},), strict=strict
    )
    assert _our_ops(program) == EXPECTED_OPS[name]
    assert not [t for t in _targets(program) if t.startswith(ATEN_ACTIVATIONS)]
    exported = program.module()
    for b in (4, 7):
        x = example_input(name, batch=b, seed=b)
        assert torch.equal(exported(x), model(x))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_exported_program_decomposes_to_core_aten(name):
    model = _converted(name)
    x = example_input(name)
    program = torch.export.export(model, (x,)).run_decompositions()
    targets = _targets(program)
    # Our operators are kept whole; an in-place one becomes a functional call.
    assert _our_ops(program) == EXPECTED_OPS[name] - {"relu_"}
    if "relu_" in EXPECTED_OPS[name]:
        assert any("auto_functionalized" in t for t in targets)
    torch.testing.assert_close(program.module()(x), model(x))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_exported_program_saves_and_loads(name):
    model = _converted(name)
    x = example_input(name)
    buf = io.BytesIO()
    torch.export.save(torch.export.export(model, (x,)), buf)
    buf.seek(0)
    loaded = torch.export.load(buf)
    assert _our_ops(loaded) == EXPECTED_OPS[name]
    assert torch.equal(loaded.module()(x), model(x))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_exported_training_graph_trains_like_eager(name):
    """Exported in training mode (batch norm updating its statistics), the
    program's module gives eager's outputs, gradients and buffers."""
    model = _converted(name, train=True)
    x = example_input(name)
    exported = torch.export.export(copy.deepcopy(model), (x,)).module()
    y, g = forward_backward(model, x)
    y_ex, g_ex = forward_backward(exported, x)
    torch.testing.assert_close(y_ex, y)
    assert list(g_ex) == list(g)
    for n in g:
        torch.testing.assert_close(g_ex[n], g[n], msg=n)
    for (n, b), b_ex in zip(model.named_buffers(), exported.buffers()):
        torch.testing.assert_close(b_ex, b, msg=n)


def test_every_activation_exports():
    """Every activation of the table in one model: the exported program keeps
    each of our forward operators, calls none of torch's activations, and
    equals eager for other batch sizes."""
    model = every_activation().eval()
    program = torch.export.export(model, (torch.randn(4, 16),), dynamic_shapes=({0: Dim("batch", min=2)},))
    assert _our_ops(program) == {s.forward_op for s in SPECS}
    assert not [t for t in _targets(program) if t.startswith(ATEN_ACTIVATIONS)]
    exported = program.module()
    for b in (3, 9):
        x = torch.randn(b, 16)
        assert torch.equal(exported(x), model(x))
