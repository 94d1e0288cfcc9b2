"""torch.autocast: each of our operators gets the dtypes torch's activation
of the same name gets (torch runs PReLU in the autocast dtype, Softplus in
float32 on CUDA, the rest in whatever dtype arrives) and the same values,
and a mixed-precision training step with our modules matches one with
torch's.

Without a GPU, the CUDA policy is still checked on FakeTensors placed on
CUDA, which carry dtypes but no data; the value checks need a GPU."""

from __future__ import annotations

import contextlib
import copy

import pytest
import torch
from conftest import ALL_CASES, SPECS, assert_matches_reference, call, make_input, reference_forward
from models import activations_of, build, example_input
from torch._subclasses.fake_tensor import FakeTensorMode

import activations_ext.functional as AF
from activations_ext import convert
from activations_ext import nn as ann
from activations_ext.monitor import DeadUnitMonitor

HAS_CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a GPU")

# (device, autocast dtype): CPU autocast takes bfloat16 (its default) and float16.
AUTOCAST = [
    pytest.param("cpu", torch.bfloat16, id="cpu-bf16"),
    pytest.param("cpu", torch.float16, id="cpu-fp16"),
    pytest.param("cuda", torch.float16, id="cuda-fp16", marks=needs_cuda),
    pytest.param("cuda", torch.bfloat16, id="cuda-bf16", marks=needs_cuda),
]
INPUT_DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.float64)
SPEC_OF = {s.torch_module: s for s in SPECS}


def _outcome(fn, *args):
    """fn(*args), or the exception it raised (torch's and ours are compared)."""
    try:
        return fn(*args)
    except Exception as e:
        return e


def _weights(spec, x):
    """PReLU weights to try: float32 (a model's parameter) and the input's dtype."""
    if not spec.weight:
        return [None]
    w = spec.make_weight(x.float())
    return [w, w.to(x.dtype)] if x.dtype != torch.float32 else [w]


def _assert_same_outcome(ours, theirs, what):
    if isinstance(theirs, Exception):
        assert isinstance(ours, Exception), f"{what}: torch raises ({theirs}) but ours returned"
        return False
    assert not isinstance(ours, Exception), f"{what}: ours raises but torch does not: {ours}"
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype}, torch gives {theirs.dtype}"
    assert ours.shape == theirs.shape and ours.device == theirs.device, what
    return True


# ------------------------------------------------------------ registrations


def _aten_has(op, key):
    try:
        return torch._C._dispatch_has_kernel_for_dispatch_key(f"aten::{op}", key)
    except RuntimeError:
        pytest.skip(f"torch has no aten::{op} to compare with")


@pytest.mark.parametrize("key", ["AutocastCPU", "AutocastCUDA"])
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_autocast_kernels_exactly_where_torch_has_them(spec, key):
    has = torch._C._dispatch_has_kernel_for_dispatch_key
    assert has(f"activations_ext::{spec.forward_op}", key) == _aten_has(spec.name, key)
    # In-place and backward operators run in the dtypes they get, as torch's do.
    for op in filter(None, (spec.inplace_op, spec.backward_op)):
        assert not has(f"activations_ext::{op}", key), op


# ------------------------------------------------ forward: dtypes and values


@pytest.mark.parametrize("amp_device,amp_dtype", AUTOCAST)
@pytest.mark.parametrize("spec,params", ALL_CASES)
def test_autocast_forward_matches_torch(spec, params, amp_device, amp_dtype):
    for dtype in INPUT_DTYPES:
        x = make_input((3, 4, 67), dtype, amp_device)
        for w in _weights(spec, x):
            what = f"{spec.name} input {dtype} weight {None if w is None else w.dtype}"
            with torch.autocast(amp_device, dtype=amp_dtype):
                ours = _outcome(call, spec, spec.ours, x, params, w)
                theirs = _outcome(call, spec, spec.reference, x, params, w)
            if not _assert_same_outcome(ours, theirs, what):
                continue
            # The op ran in its output's dtype: compare against float64 math
            # on the inputs rounded to that dtype.
            run = theirs.dtype
            ref, spread = reference_forward(spec, x.to(run), params, None if w is None else w.to(run))
            assert_matches_reference(ours, theirs, ref, run, exact=spec.exact, what=what, spread=spread)


def test_prelu_with_float32_weight_and_half_input_runs_under_autocast():
    """A bfloat16 activation reaching a PReLU whose weight is float32 (the
    usual case in a mixed-precision model) works as torch's does."""
    x = torch.randn(4, 3, 5).bfloat16()
    w = torch.full((3,), 0.25, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = torch.ops.activations_ext.prelu(x, w)
        ref = torch.nn.functional.prelu(x, w)
    assert y.dtype == torch.bfloat16
    assert torch.equal(y, ref)
    y.float().sum().backward()
    assert w.grad.dtype == torch.float32 and float(w.grad.abs().sum()) > 0
    # Outside autocast the dtypes must agree, as in torch.
    with pytest.raises(TypeError, match="weight has dtype Float but input has dtype BFloat16"):
        torch.ops.activations_ext.prelu(x, w)
    with pytest.raises(RuntimeError):
        torch.nn.functional.prelu(x, w)


# ----------------------------------------------------------------- backward


@pytest.mark.parametrize("amp_device,amp_dtype", AUTOCAST)
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_autocast_gradients_match_torch(spec, amp_device, amp_dtype):
    params = dict(spec.params)
    base = make_input((4, 6, 33), torch.float32, amp_device, specials=False)
    w0 = spec.make_weight(base)
    grads = []
    for fn in (spec.ours, spec.reference):
        x = base.clone().requires_grad_(True)
        w = None if w0 is None else w0.clone().requires_grad_(True)
        with torch.autocast(amp_device, dtype=amp_dtype):
            y = call(spec, fn, x, params, w)
        (y.float() * torch.linspace(-1, 2, y.numel(), device=amp_device).view_as(y)).sum().backward()
        grads.append((y, x.grad, None if w is None else w.grad))
    (y, gx, gw), (y_ref, gx_ref, gw_ref) = grads
    assert y.dtype == y_ref.dtype
    assert gx.dtype == gx_ref.dtype == torch.float32
    tol = {"rtol": 2 * torch.finfo(y.dtype).eps, "atol": 1e-6}
    torch.testing.assert_close(gx, gx_ref, **tol)
    if gw is not None:
        assert gw.dtype == gw_ref.dtype == torch.float32
        # A sum over 4*33 products rounded to the autocast dtype: both results
        # are that rounding of nearly the same sum.
        torch.testing.assert_close(gw, gw_ref, rtol=2 * torch.finfo(y.dtype).eps, atol=1e-3)


# ------------------------------------------------- bias_act and LinearAct


def _linear_then_activation(act):
    """torch's nn.Linear followed by the torch activation ``act`` names."""
    if act == "linear":
        return torch.nn.Identity()
    if act == "gelu_tanh":
        return torch.nn.GELU(approximate="tanh")
    return next(s.torch_module() for s in SPECS if s.name == act)


def test_bias_act_casts_like_the_bias_add_it_replaces():
    has = torch._C._dispatch_has_kernel_for_dispatch_key
    for key in ("AutocastCPU", "AutocastCUDA"):
        assert has("activations_ext::bias_act", key)
        assert not has("activations_ext::bias_act_backward", key)
        # torch casts a Linear (and so its bias) to the autocast dtype too.
        assert has("aten::linear", key)


@pytest.mark.parametrize("amp_device,amp_dtype", AUTOCAST)
@pytest.mark.parametrize("act", sorted(AF.BIAS_ACTS))
def test_linear_act_under_autocast_matches_linear_then_activation(act, amp_device, amp_dtype):
    """LinearAct (a float32 bias meeting a lower-precision product) trains
    under autocast as nn.Linear followed by the activation does."""
    torch.manual_seed(0)
    ours = ann.LinearAct(16, 32, act=act).to(amp_device)
    theirs = torch.nn.Sequential(torch.nn.Linear(16, 32), _linear_then_activation(act)).to(amp_device)
    theirs[0].load_state_dict(ours.state_dict())
    x = torch.randn(64, 16, device=amp_device)
    with torch.autocast(amp_device, dtype=amp_dtype):
        y, y_ref = ours(x), theirs(x)
    # Softplus alone runs in float32 on CUDA; LinearAct's output stays in
    # the autocast dtype (see csrc/autocast.cpp).
    assert y.dtype == amp_dtype
    if not (amp_device == "cuda" and act == "softplus"):
        assert y_ref.dtype == amp_dtype
    eps = torch.finfo(amp_dtype).eps
    scale = float(y_ref.detach().float().abs().max())
    torch.testing.assert_close(y.float(), y_ref.float(), rtol=4 * eps, atol=4 * eps * scale)
    weights = torch.linspace(-1, 1, y.numel(), device=amp_device).view_as(y)
    (y.float() * weights).sum().backward()
    (y_ref.float() * weights).sum().backward()
    for p, p_ref in zip(ours.parameters(), theirs[0].parameters()):
        assert p.grad.dtype == torch.float32
        g_scale = float(p_ref.grad.abs().max())
        assert g_scale > 0
        # Rounding differences near a kink (ReLU's 0) move a few terms of
        # the sum: about 2% of the largest gradient in bfloat16.
        torch.testing.assert_close(p.grad, p_ref.grad, rtol=0, atol=0.05 * g_scale)


# ------------------------------------------------- the dead-unit monitor


@pytest.mark.parametrize("amp_device,amp_dtype", AUTOCAST)
def test_monitored_model_under_autocast_gives_the_unmonitored_outputs(amp_device, amp_dtype):
    """The monitor's counting forwards cast as the modules' own forwards do,
    so watching a mixed-precision model changes nothing it computes."""
    torch.manual_seed(0)
    model, _ = convert(
        torch.nn.Sequential(
            torch.nn.Linear(8, 16),
            torch.nn.PReLU(16),
            torch.nn.Linear(16, 16),
            torch.nn.GELU(),
            torch.nn.Linear(16, 16),
            torch.nn.PReLU(),
            torch.nn.Linear(16, 16),
            torch.nn.LeakyReLU(0.1),
            torch.nn.ReLU(inplace=True),
        )
    )
    model = model.to(amp_device)
    x = torch.randn(32, 8, device=amp_device)
    with torch.autocast(amp_device, dtype=amp_dtype):
        expected = model(x)
        with DeadUnitMonitor(model) as monitor:
            y = model(x)
    assert y.dtype == expected.dtype == amp_dtype
    torch.testing.assert_close(y, expected, rtol=0, atol=0)
    results = monitor.results()
    assert sorted(results) == ["1", "3", "5", "7", "8"]
    assert all(r["batches"] == 1 for r in results.values())


# ------------------------------------------- the CUDA policy, without a GPU


@contextlib.contextmanager
def _cuda_autocast_without_gpu(dtype):
    """What torch.autocast("cuda") sets up, done directly: torch.autocast
    turns itself off when no GPU is present."""
    enabled, old_dtype = torch.is_autocast_enabled("cuda"), torch.get_autocast_dtype("cuda")
    torch.set_autocast_enabled("cuda", True)
    torch.set_autocast_dtype("cuda", dtype)
    torch.autocast_increment_nesting()
    try:
        yield
    finally:
        if torch.autocast_decrement_nesting() == 0:
            torch.clear_autocast_cache()
        torch.set_autocast_enabled("cuda", enabled)
        torch.set_autocast_dtype("cuda", old_dtype)


@pytest.mark.parametrize("amp_dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_cuda_autocast_dtypes_match_torch_on_fake_tensors(spec, amp_dtype):
    params = dict(spec.param_cases[-1])
    with FakeTensorMode():
        for dtype in INPUT_DTYPES:
            x = torch.empty(2, 3, 5, device="cuda", dtype=dtype)
            weights = (
                [None]
                if not spec.weight
                else [torch.empty(3, device="cuda", dtype=d) for d in {torch.float32, dtype}]
            )
            for w in weights:
                what = f"{spec.name} input {dtype} weight {None if w is None else w.dtype}"
                with _cuda_autocast_without_gpu(amp_dtype):
                    ours = _outcome(call, spec, spec.ours, x, params, w)
                    theirs = _outcome(call, spec, spec.reference, x, params, w)
                _assert_same_outcome(ours, theirs, what)
    assert not torch.is_autocast_enabled("cuda")


# ------------------------------------------------- mixed-precision training


@pytest.mark.parametrize("amp_device,amp_dtype", AUTOCAST)
@pytest.mark.parametrize("name", ["resnet", "transformer"])
def test_mixed_precision_training_matches_torch(name, amp_device, amp_dtype):
    torch_model = build(name).to(amp_device)
    exact = all(SPEC_OF[type(m)].exact for m in activations_of(torch_model))
    our_model, _ = convert(copy.deepcopy(torch_model))
    results = []
    for model in (torch_model, our_model):
        opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
        scaler = torch.amp.GradScaler(amp_device, enabled=amp_dtype == torch.float16)
        outputs = []
        for step in range(3):
            x = example_input(name, seed=20 + step).to(amp_device)
            opt.zero_grad()
            with torch.autocast(amp_device, dtype=amp_dtype):
                y = model(x)
                loss = (y.float() - 0.5).square().mean()
            assert torch.isfinite(loss)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            outputs.append(y.detach())
        results.append((outputs, model))
    (ref_out, ref_model), (out, model) = results
    for a, b in zip(out, ref_out):
        assert a.dtype == b.dtype == amp_dtype
    if exact and amp_device == "cpu":  # ReLU, LeakyReLU, PReLU: the first forward is bitwise torch's
        assert torch.equal(out[0], ref_out[0])
    torch.testing.assert_close(out[0], ref_out[0], rtol=4 * torch.finfo(amp_dtype).eps, atol=1e-3)
    ref_params = dict(ref_model.named_parameters())
    for n, p in model.named_parameters():
        assert p.dtype == torch.float32, n
        torch.testing.assert_close(p, ref_params[n], rtol=1e-2, atol=2e-3, msg=n)
