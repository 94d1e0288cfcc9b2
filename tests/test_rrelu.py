"""RReLU's training mode: random slopes drawn with torch's generator.

Its evaluation form (leaky_relu with the mean slope) is a spec row and gets
every spec-driven test; torch's own random draws cannot be matched, so the
training mode is checked here for what it promises: slopes in range with
the right mean, backward using the very slopes of the forward,
reproducibility under torch.manual_seed whatever the thread count, vmap's
randomness modes, compile, and the operators' own checks."""

from __future__ import annotations

import pytest
import torch

import activations_ext.functional as AF
from activations_ext import convert
from activations_ext import nn as ann

ops = torch.ops.activations_ext


def _x(n=20000, seed=0, device="cpu", dtype=torch.float32):
    # Seeds far from the ones given to torch.manual_seed below: the same
    # seed would make x's normals and the slopes' uniforms one stream.
    gen = torch.Generator().manual_seed(1_000_003 + seed)
    return (torch.randn(n, generator=gen, dtype=torch.float64) * 3).to(device=device, dtype=dtype)


@pytest.mark.parametrize("lower,upper", [(1 / 8, 1 / 3), (0.0, 0.5), (0.2, 0.2)])
def test_slopes_in_range_with_the_right_mean(lower, upper, device):
    torch.manual_seed(0)
    x = _x(device=device, dtype=torch.float64)
    y = AF.rrelu(x, lower, upper, training=True)
    neg = x < 0
    assert torch.equal(y[~neg], x[~neg])
    slopes = y[neg] / x[neg]
    assert float(slopes.min()) >= lower - 1e-12 and float(slopes.max()) <= upper + 1e-12
    n = int(neg.sum())
    se = (upper - lower) / (12**0.5) / n**0.5
    assert abs(float(slopes.mean()) - (lower + upper) / 2) <= 6 * se + 1e-12
    if upper > lower:
        assert float(slopes.std()) > 0.5 * (upper - lower) / (12**0.5)  # spread, not one slope


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16], ids=str)
def test_backward_uses_the_forward_slopes(dtype, device):
    torch.manual_seed(1)
    x = _x(4096, device=device, dtype=dtype).requires_grad_(True)
    y = AF.rrelu(x, training=True)
    (g,) = torch.autograd.grad(y.sum(), x)
    # grad = noise, and y = x * noise with the same rounding.
    assert torch.equal(g * x.detach(), y.detach())
    assert torch.equal(g[x.detach() > 0], torch.ones_like(g[x.detach() > 0]))


def test_reproducible_under_manual_seed_whatever_the_thread_count():
    x = _x(100_003)
    threads = torch.get_num_threads()
    outs = []
    try:
        for n in (1, max(2, threads)):
            torch.set_num_threads(n)
            torch.manual_seed(123)
            outs.append(AF.rrelu(x, training=True))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(outs[0], outs[1])
    assert not torch.equal(AF.rrelu(x, training=True), AF.rrelu(x, training=True))


def test_nan_in_nan_out_and_special_values(device):
    x = torch.tensor([float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 2.0], device=device)
    y = AF.rrelu(x, 0.25, 0.25, training=True)
    ref = torch.nn.functional.rrelu(
        x, 0.25, 0.25, training=True
    )  # a fixed slope: torch's draws do not matter
    torch.testing.assert_close(y, ref, equal_nan=True, rtol=0, atol=0)


def test_bad_bounds_raise_like_torch():
    x = torch.randn(5)
    for training in (False, True):
        with pytest.raises(RuntimeError):
            torch.nn.functional.rrelu(x, 0.5, 0.1, training=training)
        with pytest.raises(RuntimeError, match="lower must be <= upper"):
            AF.rrelu(x, 0.5, 0.1, training=training)
    with pytest.raises(TypeError, match="floating-point"):
        AF.rrelu(torch.arange(4), training=True)


def test_inplace_training(device):
    torch.manual_seed(2)
    leaf = _x(1000, device=device).requires_grad_(True)
    x = leaf.clone()
    out = AF.rrelu(x, training=True, inplace=True)
    assert out is x
    (g,) = torch.autograd.grad(x.sum(), leaf)
    assert torch.equal(g * leaf.detach(), x.detach())
    with pytest.raises(RuntimeError, match="leaf"):
        AF.rrelu(_x(10).requires_grad_(True), training=True, inplace=True)


def test_operators_pass_opcheck_and_gradcheck():
    x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    u = torch.empty(3, 5, dtype=torch.float64).uniform_(0.1, 0.3)
    noise = ops.rrelu_noise(x.detach(), u)
    assert torch.equal(noise, torch.where(x.detach() > 0, torch.ones_like(u), u))
    torch.library.opcheck(ops.rrelu_noise.default, (x.detach(), u))
    torch.library.opcheck(ops.rrelu_with_noise.default, (x, noise))
    assert torch.autograd.gradcheck(lambda t: ops.rrelu_with_noise(t, noise), (x,))
    assert torch.autograd.gradgradcheck(lambda t: ops.rrelu_with_noise(t, noise), (x,))
    with pytest.raises(RuntimeError, match="must not require grad"):
        ops.rrelu_with_noise(x, noise.clone().requires_grad_(True))
    with pytest.raises(ValueError, match="shape"):
        ops.rrelu_with_noise(x, noise[:2])


def test_forward_ad_and_torch_func(device):
    x = _x(64, device=device, dtype=torch.float64)
    t = torch.randn_like(x)
    torch.manual_seed(3)
    y, yt = torch.func.jvp(lambda a: AF.rrelu(a, training=True), (x,), (t,))
    # The tangent is t * noise with the forward's noise: noise = y / x.
    torch.testing.assert_close(yt * x, y * t, rtol=1e-12, atol=1e-12)
    torch.manual_seed(3)
    g = torch.func.grad(lambda a: AF.rrelu(a, training=True).sum())(x)
    torch.testing.assert_close(g * x, y, rtol=0, atol=0)


def test_vmap_randomness_modes():
    x = _x(6 * 50).view(6, 50)
    f = lambda a: AF.rrelu(a, training=True)  # noqa: E731
    with pytest.raises(RuntimeError, match="randomness"):
        torch.func.vmap(f)(x)
    rows = x[0].expand(6, 50).clone()
    torch.manual_seed(4)
    same = torch.func.vmap(f, randomness="same")(rows)
    assert all(torch.equal(same[0], same[i]) for i in range(6))
    torch.manual_seed(4)
    different = torch.func.vmap(f, randomness="different")(rows)
    assert not torch.equal(different[0], different[1])
    neg = rows[0] < 0
    slopes = different[:, neg] / rows[:, neg]
    assert float(slopes.min()) >= 1 / 8 - 1e-6 and float(slopes.max()) <= 1 / 3 + 1e-6


def test_compiled_backward_uses_the_forward_slopes():
    x = _x(512).requires_grad_(True)

    def fwd(a):
        return AF.rrelu(a, training=True) * 2.0

    # Inductor's partitioner may recompute cheap forward ops in backward; the
    # draws (aten::uniform_, tagged nondeterministic_seeded) it never does,
    # so backward sees the forward's slopes.
    compiled = torch.compile(fwd, fullgraph=True)
    torch.manual_seed(5)
    y = compiled(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    assert torch.equal(g * x.detach(), y.detach())  # g = 2 noise, y = 2 x noise


def test_module_training_and_eval_and_convert():
    m = ann.RReLU(0.1, 0.3)
    assert repr(m) == repr(torch.nn.RReLU(0.1, 0.3))
    x = _x(1000)
    torch.manual_seed(6)
    y_train = m(x)
    neg = x < 0
    slopes = y_train[neg] / x[neg]
    assert float(slopes.min()) >= 0.1 - 1e-6 and float(slopes.max()) <= 0.3 + 1e-6
    m.eval()
    assert torch.equal(m(x), torch.nn.RReLU(0.1, 0.3).eval()(x))
    model, summary = convert(torch.nn.Sequential(torch.nn.RReLU(0.1, 0.3, inplace=True)))
    assert type(model[0]) is ann.RReLU and model[0].inplace and model[0].lower == 0.1


def test_training_runs_our_operators(device):
    from test_dispatch import Recorder, _names

    m = ann.RReLU().to(device)
    x = torch.randn(2, 6, 3, device=device)
    with Recorder() as rec:
        m(x)
    ours = [n for n in _names(rec.calls) if n.startswith("activations_ext.")]
    assert ours == ["activations_ext.rrelu_noise.default", "activations_ext.rrelu_with_noise.default"]
