"""convert() on the models people run: HuggingFace transformers models built
from small configs (nothing downloaded). Skipped where transformers is not
installed; the Makefile's test environment installs the pinned release."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import activations_ext
from activations_ext import zoo

transformers = pytest.importorskip("transformers")

VOCAB = 96


def _llama():
    cfg = transformers.LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    return transformers.LlamaForCausalLM(cfg)


def _gemma():
    cfg = transformers.GemmaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=8,
        hidden_activation="gelu_pytorch_tanh",
    )
    return transformers.GemmaForCausalLM(cfg)


def _qwen2():
    cfg = transformers.Qwen2Config(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    return transformers.Qwen2ForCausalLM(cfg)


def _phi3():
    cfg = transformers.Phi3Config(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        pad_token_id=0,
    )
    return transformers.Phi3ForCausalLM(cfg)


def _gpt2():
    cfg = transformers.GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=64)
    return transformers.GPT2LMHeadModel(cfg)


def _bert():
    cfg = transformers.BertConfig(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64
    )
    return transformers.BertModel(cfg)


def _t5():
    cfg = transformers.T5Config(
        vocab_size=VOCAB,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        feed_forward_proj="gated-gelu",
        decoder_start_token_id=0,
    )
    return transformers.T5ForConditionalGeneration(cfg)


def _clip():
    cfg = transformers.CLIPTextConfig(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4
    )
    return transformers.CLIPTextModel(cfg)


def _modernbert():
    cfg = transformers.ModernBertConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        cls_token_id=1,
        sep_token_id=2,
    )
    return transformers.ModernBertModel(cfg)


MODELS = {
    "llama": _llama,
    "gemma": _gemma,
    "qwen2": _qwen2,
    "phi3": _phi3,
    "gpt2": _gpt2,
    "bert": _bert,
    "t5": _t5,
    "clip": _clip,
    "modernbert": _modernbert,
}
GATED = {"llama", "gemma", "qwen2", "phi3", "t5", "modernbert"}


def _build(name, dtype=torch.float32):
    torch.manual_seed(0)
    model = MODELS[name]().to(dtype)
    model.eval()  # no dropout: outputs comparable
    return model


def _inputs(name):
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(3, VOCAB, (2, 7), generator=gen)
    if name == "t5":
        return {"input_ids": ids, "decoder_input_ids": ids[:, :5]}
    return {"input_ids": ids}


def _output(model, name, inputs):
    out = model(**inputs)
    return out.logits if hasattr(out, "logits") and out.logits is not None else out.last_hidden_state


class Recorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls.append(func.name())
        return func(*args, **(kwargs or {}))


# What an activation computed by torch would run (forward or backward).
TORCH_ACTIVATION_OPS = {
    f"aten::{n}"
    for n in (
        "silu",
        "silu_backward",
        "gelu",
        "gelu_backward",
        "relu",
        "threshold_backward",
        "sigmoid",
        "sigmoid_backward",
        "tanh",
        "tanh_backward",
        "hardswish",
        "hardsigmoid",
        "mish",
        "erf",
    )
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_convert_leaves_no_known_activation_and_matches(name):
    model = _build(name)
    ref = copy.deepcopy(model)
    keys = list(model.state_dict())
    model, summary = activations_ext.convert(model)
    assert not summary.skipped, str(summary)
    known = set(zoo.known_activation_classes()) | set(zoo.known_mlp_classes())
    known |= {s.torch_module for s in activations_ext.SPECS}
    left = [(n, type(m)) for n, m in model.named_modules() if type(m) in known]
    assert not left, left
    assert list(model.state_dict()) == keys

    inputs = _inputs(name)
    with Recorder() as rec:
        out = _output(model, name, inputs)
    with Recorder() as rec_ref:
        ref_out = _output(ref, name, inputs)
    assert not TORCH_ACTIVATION_OPS & set(rec.calls), sorted(TORCH_ACTIVATION_OPS & set(rec.calls))
    n_mlp = sum(isinstance(m, zoo.known_mlp_classes()) for m in model.modules())
    fused = rec.calls.count("activations_ext::gated") + rec.calls.count("activations_ext::gated_split")
    assert fused == n_mlp and (n_mlp > 0) == (name in GATED)
    # The product act(gate) * up is one of the fused operators now.
    assert rec_ref.calls.count("aten::mul.Tensor") - rec.calls.count("aten::mul.Tensor") >= n_mlp
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)

    # Gradients against a float64 copy: the converted model's error of the
    # original's own size (float32 rounding, amplified alike through the
    # layers, differs in which elements it hits: a factor, not equality).
    ref64 = copy.deepcopy(ref).double()
    grads = {}
    for label, m in (("ours", model), ("torch", ref), ("f64", ref64)):
        m.zero_grad(set_to_none=True)
        y = _output(m, name, inputs)
        (y.double() ** 2).mean().backward()
        grads[label] = {n: p.grad.double() for n, p in m.named_parameters() if p.grad is not None}
    assert grads["ours"].keys() == grads["torch"].keys()
    for n, g64 in grads["f64"].items():
        err_ours = (grads["ours"][n] - g64).abs().max()
        err_torch = (grads["torch"][n] - g64).abs().max()
        assert err_ours <= 4 * err_torch + 1e-5 * g64.abs().max() + 1e-12, (n, err_ours, err_torch)

    with Recorder() as rec:
        y = _output(model, name, inputs)
        y.square().mean().backward()
    assert not TORCH_ACTIVATION_OPS & set(rec.calls), sorted(TORCH_ACTIVATION_OPS & set(rec.calls))

    model, back = activations_ext.revert(model)
    assert [type(m) for m in model.modules()] == [type(m) for m in ref.modules()]
    assert len(back) == len(summary)
    assert list(model.state_dict()) == keys


@pytest.mark.parametrize("name", ["llama", "t5"])
def test_optimizer_steps_track_the_unconverted_model(name):
    model = _build(name)
    ref = copy.deepcopy(model)
    model, _ = activations_ext.convert(model)
    inputs = _inputs(name)
    opts = [torch.optim.SGD(m.parameters(), lr=0.5) for m in (model, ref)]
    for _ in range(3):
        for m, opt in zip((model, ref), opts):
            opt.zero_grad()
            _output(m, name, inputs).square().mean().backward()
            opt.step()
    for (n, p), (_, q) in zip(model.named_parameters(), ref.named_parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5, msg=n)


@pytest.mark.parametrize("name", ["llama", "phi3", "t5"])
def test_bfloat16_models(name):
    model = _build(name, torch.bfloat16)
    ref = copy.deepcopy(model)
    model, summary = activations_ext.convert(model)
    assert not summary.skipped
    inputs = _inputs(name)
    torch.testing.assert_close(_output(model, name, inputs), _output(ref, name, inputs), rtol=0.05, atol=0.05)


def test_t5_keeps_wo_in_float32():
    model = _build("t5")
    for layer in model.modules():
        if type(layer).__name__ == "T5DenseGatedActDense":
            layer.wi_0.bfloat16()
            layer.wi_1.bfloat16()
    ref = copy.deepcopy(model)
    model, _ = activations_ext.convert(model)
    mlp = next(m for m in model.modules() if isinstance(m, zoo.known_mlp_classes()))
    x = torch.randn(2, 3, 32, dtype=torch.bfloat16)
    ref_mlp = next(m for m in ref.modules() if type(m).__name__ == "T5DenseGatedActDense")
    assert mlp(x).dtype == ref_mlp(x).dtype == torch.float32
    torch.testing.assert_close(mlp(x), ref_mlp(x), rtol=0.02, atol=0.02)


def test_gradient_checkpointing():
    model = _build("llama")
    model.train()
    model.config.use_cache = False
    ref = copy.deepcopy(model)
    model, _ = activations_ext.convert(model)
    model.gradient_checkpointing_enable()
    inputs = _inputs("llama")
    for m in (model, ref):
        _output(m, "llama", inputs).square().mean().backward()
    for (n, p), (_, q) in zip(model.named_parameters(), ref.named_parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, msg=n)


def test_generate_gives_the_same_tokens():
    model = _build("llama")
    ref = copy.deepcopy(model)
    model, _ = activations_ext.convert(model)
    ids = _inputs("llama")["input_ids"]
    with torch.inference_mode():
        ours = model.generate(ids, max_new_tokens=6, do_sample=False, pad_token_id=0)
        theirs = ref.generate(ids, max_new_tokens=6, do_sample=False, pad_token_id=0)
    assert torch.equal(ours, theirs)


def test_compile_adds_no_graph_break():
    model = _build("llama")
    ref = copy.deepcopy(model)
    model, _ = activations_ext.convert(model)
    ids = _inputs("llama")["input_ids"]
    ours = torch._dynamo.explain(model)(ids)
    torch._dynamo.reset()
    theirs = torch._dynamo.explain(ref)(ids)
    torch._dynamo.reset()
    assert ours.graph_break_count <= theirs.graph_break_count


@pytest.mark.parametrize("python", [False, True])
def test_gelu_tanh_both_modes(python):
    from transformers.activations import GELUTanh

    act = GELUTanh(use_gelu_tanh_python=python)
    x = torch.randn(64, dtype=torch.float64) * 4
    want = act(x)
    converted, summary = activations_ext.convert(act)
    assert len(summary) == 1
    with Recorder() as rec:
        got = converted(x)
    assert rec.calls == ["activations_ext::gelu"]
    torch.testing.assert_close(got, want)


def test_hooks_on_children_still_fire():
    model = _build("llama")
    model, _ = activations_ext.convert(model)
    seen = []
    mlp = model.model.layers[0].mlp
    mlp.up_proj.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    model(**_inputs("llama"))
    assert seen == [torch.Size([2, 7, 64])]


def test_fallback_when_gate_and_up_differ():
    model = _build("llama")
    ref = copy.deepcopy(model)
    model, _ = activations_ext.convert(model)
    for m in (model, ref):
        m.model.layers[0].mlp.up_proj.register_forward_hook(lambda mod, i, o: o.double())
    x = torch.randn(2, 3, 32)
    mlp, ref_mlp = model.model.layers[0].mlp, ref.model.layers[0].mlp
    with pytest.raises(RuntimeError):  # the original fails on the down projection too
        ref_mlp(x)
    with pytest.raises(RuntimeError, match="dtype"):
        mlp(x)
    mlp.down_proj.double()
    ref_mlp.down_proj.double()
    torch.testing.assert_close(mlp(x), ref_mlp(x))


def test_changed_forward_is_left_alone(monkeypatch):
    from transformers.models.llama.modeling_llama import LlamaMLP

    def forward(self, x):  # a future release's different MLP
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x) * 2)

    monkeypatch.setattr(LlamaMLP, "forward", forward)
    model = _build("llama")
    model, summary = activations_ext.convert(model)
    reasons = [r.reason for r in summary.skipped if r.old is LlamaMLP]
    assert len(reasons) == 2 and all("not the one activations_ext knows" in r for r in reasons)
    assert type(model.model.layers[0].mlp) is LlamaMLP


def test_instance_forward_replaced_is_left_alone():
    model = _build("llama")
    mlp = model.model.layers[0].mlp
    mlp.forward = lambda x: x  # as a hub kernel would
    model, summary = activations_ext.convert(model)
    assert any("replaced on the instance" in r.reason for r in summary.skipped)


def test_converted_models_pickle_and_keep_isinstance():
    from transformers.models.llama.modeling_llama import LlamaMLP

    model, _ = activations_ext.convert(_build("llama"))
    assert isinstance(model.model.layers[0].mlp, LlamaMLP)
    again = pickle.loads(pickle.dumps(model))
    ids = _inputs("llama")["input_ids"]
    torch.testing.assert_close(again(ids).logits, model(ids).logits)


@pytest.mark.parametrize("package", ["transformers", "timm"])
def test_every_row_resolves_and_matches_the_pinned_release(package):
    import importlib

    if package == "timm":
        _timm()
    for row in zoo.ACTIVATIONS + zoo.GATED_MLPS:
        if row.package != package:
            continue
        cls = getattr(importlib.import_module(row.module), row.name)
        assert zoo.fingerprint(cls.forward) == zoo._FINGERPRINTS[f"{row.module}.{row.name}"], row.name


def test_readme_shows_the_activation_table():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert zoo.mapping_table() in readme


# ----------------------------------------------------------------------- timm


def _timm():
    return pytest.importorskip("timm")


@pytest.mark.parametrize("name", ["convnext_atto", "efficientnet_b0", "mobilenetv3_small_100", "regnety_002"])
def test_timm_models(name):
    timm = _timm()
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, num_classes=10).eval()
    ref = copy.deepcopy(model)
    keys = list(model.state_dict())
    model, summary = activations_ext.convert(model)
    assert len(summary) > 0 and not summary.skipped, str(summary)
    known = set(zoo.known_activation_classes()) | {s.torch_module for s in activations_ext.SPECS}
    assert not [n for n, m in model.named_modules() if type(m) in known]
    x = torch.randn(2, 3, 64, 64)
    with Recorder() as rec:
        out = model(x)
        out.square().mean().backward()
    assert not TORCH_ACTIVATION_OPS & set(rec.calls), sorted(TORCH_ACTIVATION_OPS & set(rec.calls))
    torch.testing.assert_close(out, ref(x), rtol=1e-4, atol=1e-5)
    # Parameter gradients against a float64 copy, as for the transformers models.
    ref64 = copy.deepcopy(ref).double()
    grads = {}
    for label, m, inp in (("ours", model, x), ("torch", ref, x), ("f64", ref64, x.double())):
        m.zero_grad(set_to_none=True)
        (m(inp).double() ** 2).mean().backward()
        grads[label] = {n: p.grad.double() for n, p in m.named_parameters() if p.grad is not None}
    assert grads["ours"].keys() == grads["torch"].keys() == grads["f64"].keys()
    for n, g64 in grads["f64"].items():
        err_ours = (grads["ours"][n] - g64).abs().max()
        err_torch = (grads["torch"][n] - g64).abs().max()
        assert err_ours <= 4 * err_torch + 1e-5 * g64.abs().max() + 1e-12, (n, err_ours, err_torch)
    assert list(model.state_dict()) == keys
    model, _ = activations_ext.revert(model)
    assert [type(m) for m in model.modules()] == [type(m) for m in ref.modules()]


@pytest.mark.parametrize(
    "make",
    [
        lambda layers: layers.SwiGLU(16, 32),
        lambda layers: layers.GluMlp(16, 32, act_layer=torch.nn.Sigmoid),
        lambda layers: layers.GluMlp(16, 32, act_layer=torch.nn.SiLU, gate_last=False),
        lambda layers: layers.GluMlp(16, 32, act_layer=torch.nn.GELU, use_conv=True),
    ],
    ids=["swiglu", "glu-gate-last", "glu-gate-first", "glu-conv"],
)
def test_timm_gated_mlps(make):
    timm = _timm()
    torch.manual_seed(0)
    mlp = make(timm.layers).eval()
    ref = copy.deepcopy(mlp)
    mlp, summary = activations_ext.convert(mlp)
    assert summary.replaced[0].name == "" and not summary.skipped
    x = torch.randn(2, 16, 4, 4) if isinstance(mlp.fc2, torch.nn.Conv2d) else torch.randn(3, 5, 16)
    with Recorder() as rec:
        y = mlp(x)
    assert sum(c.startswith("activations_ext::gated") for c in rec.calls) == 1
    torch.testing.assert_close(y, ref(x))


# ------------------------------------------- each zoo activation class alone


def _zoo_instances():
    """(row, instance) for every activation row whose package imports, in
    each of the class's modes."""
    import importlib

    out = []
    for row in zoo.ACTIVATIONS:
        try:
            cls = getattr(importlib.import_module(row.module), row.name)
        except ImportError:
            continue
        if row.name == "ClippedGELUActivation":
            variants = [cls(min=-10.0, max=10.0), cls(min=-0.1, max=3.0)]
        elif row.name == "GELUActivation":
            variants = [cls(), cls(use_gelu_python=True)]
        elif row.name == "GELUTanh" and row.package == "transformers":
            variants = [cls(), cls(use_gelu_tanh_python=True)]
        else:
            variants = [cls()]
        out += [(row, v) for v in variants]
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16], ids=str)
def test_each_zoo_activation_meets_the_accuracy_rule(dtype):
    """Our replacement's error against a float64 reference is at most twice
    the original class's own, in its dtype (conftest's accuracy rule)."""
    from conftest import assert_matches_reference, make_input

    from activations_ext.spec import get_spec

    x_all = make_input((4, 40), dtype)
    for row, original in _zoo_instances():
        x = x_all
        if row.spec == "hardswish":
            # torch's hardswish (ours) computes x * (x + 3) first: inf above
            # max / 6, where timm's formula is finite (the README's table).
            big = torch.finfo(dtype).max / 8
            x = torch.where(x.abs() > big, torch.zeros_like(x), x)
        if get_spec(row.spec).weight:
            original = original.to(dtype)
        converted = copy.deepcopy(original)
        converted, summary = activations_ext.convert(converted)
        assert len(summary) == 1, (row.name, str(summary))
        with torch.no_grad():
            ours = converted(x.clone())
            theirs = original(x.clone())
            params = row.params_for(original)
            spec = get_spec(row.spec)
            x64 = x.double()
            if spec.weight:
                ref = spec.reference64(x64, original.weight.double())
            else:
                ref = spec.reference64(x64, **params)
            if row.clip is not None:
                ref = ref.clamp(*(getattr(original, a) for a in row.clip))
        assert_matches_reference(ours, theirs, ref, dtype, what=f"{row.module}.{row.name}")
