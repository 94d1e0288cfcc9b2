"""Gradients against torch's, gradcheck/gradgradcheck, and what backward saves."""

from __future__ import annotations

import pytest
import torch
from conftest import ALL_CASES, DTYPES, SPECS, assert_matches_reference, call, make_input, reference_grads

import activations_ext.functional as AF
from activations_ext.spec import get_spec


def _grads(spec, fn, x, params, w, g):
    x = x.detach().clone().requires_grad_(True)
    w = None if w is None else w.detach().clone().requires_grad_(True)
    y = call(spec, fn, x, params, w)
    inputs = (x,) if w is None else (x, w)
    grads = torch.autograd.grad(y, inputs, g)
    return y, grads


def _check_grads(spec, params, x, what=""):
    for kink in spec.grad_kinks:
        x = torch.where(x == kink, torch.full_like(x, kink + 0.5), x)
    w = spec.make_weight(x)
    g = make_input(x.shape, x.dtype, x.device, seed=7, specials=False)
    _, ours = _grads(spec, spec.ours, x, params, w, g)
    _, theirs = _grads(spec, spec.reference, x, params, w, g)
    ref, spreads = reference_grads(spec, x, params, w, g)
    names = ("grad_input", "grad_weight")
    for name, o, t, r, sp in zip(names, ours, theirs, ref, spreads):
        exact = spec.exact and name == "grad_input"
        assert_matches_reference(
            o, t, r, x.dtype, exact=exact, what=f"{spec.name}{params} {name} {what}", spread=sp
        )


@pytest.mark.parametrize("shape", [(), (0,), (1025,), (4, 3, 5, 5), (6, 9)], ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("spec,params", ALL_CASES)
def test_backward_matches_torch(spec, params, dtype, shape, device):
    # NaN inputs are left out: torch's own backward gives NaN or not depending
    # on whether an element lands in a SIMD register or in the scalar tail.
    x = make_input(shape, dtype, device, nan=False)
    _check_grads(spec, params, x, str(shape))


@pytest.mark.parametrize("layout", ["channels_last", "transposed", "sliced"])
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_backward_layouts(spec, layout, device):
    x = make_input((3, 8, 5, 6), torch.float32, device, nan=False)
    x = {
        "channels_last": lambda t: t.contiguous(memory_format=torch.channels_last),
        "transposed": lambda t: t.transpose(2, 3),
        "sliced": lambda t: t[:, :, ::2],
    }[layout](x)
    _check_grads(spec, dict(spec.params), x, layout)


# The CPU kernels store these results in float16/bfloat16 without a rounding
# conversion (kForwardPicks, kBackwardPicks in csrc/activations.h): each is an
# operand or a constant, so it must be torch's bit for bit. The accuracy rule
# alone would pass a result one rounding step off (a flag set on an op that
# rounds), so these are compared exactly, on a tail that is not a whole
# register, strided too, with infinities and NaN in the gradient.
PICKS = {
    "forward": ["relu", "relu6", "hardshrink"],
    "backward": ["relu", "relu6", "hardtanh", "softshrink", "hardshrink", "threshold"],
}


def _same_bits_up_to_nan(o, t):
    return bool(((o == t) | (o.isnan() & t.isnan())).all())


@pytest.mark.parametrize("strided", [False, True], ids=["contiguous", "strided"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("direction,name", [(d, n) for d, names in PICKS.items() for n in names])
def test_picking_results_are_torchs_bit_for_bit(direction, name, dtype, strided, device):
    spec = get_spec(name)
    params = dict(spec.params)
    x = make_input((2 * 1031,), dtype, device, nan=direction == "forward")
    g = make_input(x.shape, dtype, device, seed=7)
    if strided:
        x, g = x[::2], g[::2]
    else:
        x, g = x[:1031], g[:1031]
    if direction == "forward":
        assert _same_bits_up_to_nan(call(spec, spec.ours, x, params), call(spec, spec.reference, x, params))
        return
    (ours,) = _grads(spec, spec.ours, x, params, None, g)[1]
    (theirs,) = _grads(spec, spec.reference, x, params, None, g)[1]
    assert _same_bits_up_to_nan(ours, theirs), name


def _away_from_kinks(shape, device, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    x = x + 0.2 * x.sign()  # no point within 0.2 of the kink at 0
    return x.to(device)


@pytest.mark.parametrize("spec,params", ALL_CASES)
def test_gradcheck(spec, params, device):
    x = _away_from_kinks((2, 3, 4), device).requires_grad_(True)
    if spec.weight:
        w = spec.make_weight(x).double().requires_grad_(True)
        assert torch.autograd.gradcheck(lambda a, b: spec.ours(a, b), (x, w))
        return
    assert torch.autograd.gradcheck(lambda a: spec.ours(a, **params), (x,))


@pytest.mark.parametrize("spec,params", ALL_CASES)
def test_gradgradcheck(spec, params, device):
    x = _away_from_kinks((2, 3, 4), device, seed=1).requires_grad_(True)
    if spec.weight:
        for shared in (False, True):
            w = spec.make_weight(x, per_channel=not shared).double().requires_grad_(True)
            assert torch.autograd.gradgradcheck(lambda a, b: spec.ours(a, b), (x, w))
        return
    assert torch.autograd.gradgradcheck(lambda a: spec.ours(a, **params), (x,))


@pytest.mark.parametrize("spec", [s for s in SPECS if s.save_output_mode], ids=lambda s: s.name)
def test_gradgradcheck_save_output(spec, device):
    x = _away_from_kinks((3, 4), device, seed=2).requires_grad_(True)
    assert torch.autograd.gradgradcheck(lambda a: spec.ours(a, save_output=True), (x,))


def test_gradient_at_zero_follows_torch(device):
    x = torch.zeros(4, dtype=torch.float64, device=device)
    for spec in SPECS:
        for params in spec.param_cases:
            w = spec.make_weight(x)
            _, ours = _grads(spec, spec.ours, x, params, w, torch.ones_like(x))
            _, theirs = _grads(spec, spec.reference, x, params, w, torch.ones_like(x))
            for o, t in zip(ours, theirs):
                if spec.precise is not None:
                    # Where torch's float64 formula is off (CELU's backward
                    # rounds 1 / alpha to float), the branch taken is what
                    # must agree.
                    torch.testing.assert_close(o, t, rtol=1e-7, atol=0, msg=str((spec.name, params)))
                else:
                    assert torch.equal(o, t), (spec.name, params)


@pytest.mark.parametrize("spec,params", ALL_CASES)
def test_modifying_output_in_place_behaves_like_torch(spec, params, device):
    """ReLU and Sigmoid save their output, the others their input (as torch):
    `y += 1` after the activation must break backward exactly when it breaks
    torch's."""
    outcomes = []
    for fn in (spec.ours, spec.reference):
        x = make_input((4, 3, 5), torch.float32, device, specials=False).requires_grad_(True)
        w = spec.make_weight(x)
        y = call(spec, fn, x, params, w)
        y.add_(1.0)
        try:
            y.sum().backward()
            outcomes.append(("ok", x.grad.clone()))
        except RuntimeError as e:
            assert "modified by an inplace operation" in str(e)
            outcomes.append(("raised", None))
    assert outcomes[0][0] == outcomes[1][0], f"{spec.name}: ours {outcomes[0][0]}, torch {outcomes[1][0]}"
    if outcomes[0][0] == "ok":
        torch.testing.assert_close(outcomes[0][1], outcomes[1][1])


def _saved_ptrs(fn):
    ptrs = []

    def pack(t):
        ptrs.append(t.untyped_storage().data_ptr())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, ptrs


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_saves_what_torch_saves(spec, device):
    x = make_input((8, 3, 4), torch.float32, device, specials=False).requires_grad_(True)
    w = spec.make_weight(x)
    y, ptrs = _saved_ptrs(lambda: call(spec, spec.ours, x, dict(spec.params), w))
    expected = y if spec.saves == "output" else x
    assert expected.untyped_storage().data_ptr() in ptrs


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("spec", [s for s in SPECS if s.save_output_mode], ids=lambda s: s.name)
def test_save_output_mode(spec, dtype, device):
    x = make_input((16, 9), dtype, device, specials=False).requires_grad_(True)
    y, ptrs = _saved_ptrs(lambda: spec.ours(x, save_output=True))
    exact_dtype = dtype in (torch.float32, torch.float64)
    # float32/float64 keep the output; half precision keeps the input.
    assert (y if exact_dtype else x).untyped_storage().data_ptr() in ptrs
    assert (x if exact_dtype else y).untyped_storage().data_ptr() not in ptrs
    g = make_input(x.shape, dtype, device, seed=3, specials=False)
    (gx,) = torch.autograd.grad(y, x, g)
    _, (gt,) = _grads(spec, spec.reference, x, dict(spec.params), None, g)
    torch.testing.assert_close(gx, gt)


def test_save_output_rejects_negative_parameters():
    x = torch.randn(5)
    with pytest.raises(ValueError, match="negative_slope >= 0"):
        AF.leaky_relu(x, -0.1, save_output=True)
    with pytest.raises(ValueError, match="alpha >= 0"):
        AF.elu(x, -0.5, save_output=True)


def test_save_output_frees_one_tensor_per_activation():
    """Linear -> LeakyReLU -> Linear: the second Linear keeps the activation's
    output anyway, so saving the output instead of the input removes a tensor."""
    torch.manual_seed(0)
    lin1, lin2 = torch.nn.Linear(64, 64), torch.nn.Linear(64, 64)
    x = torch.randn(32, 64)

    def count(save_output):
        storages = set()

        def pack(t):
            storages.add(t.untyped_storage().data_ptr())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            lin2(AF.leaky_relu(lin1(x), 0.1, save_output=save_output)).sum()
        return len(storages)

    assert count(True) == count(False) - 1


def test_prelu_weight_gradient_is_reproducible():
    x = make_input((7, 5, 33, 31), torch.float32, specials=False)
    for shared in (True, False):
        w = torch.rand(1 if shared else 5).requires_grad_(True)
        grads = []
        for threads in (1, 2, 1):
            torch.set_num_threads(threads)
            try:
                (gw,) = torch.autograd.grad(AF.prelu(x, w).sum(), w)
            finally:
                torch.set_num_threads(2)
            grads.append(gw)
        for gw in grads[1:]:
            assert torch.equal(gw, grads[0])


def _boundary_points(spec, params):
    # The parameters' values and their negatives, and the fixed kinks.
    vals = {0.0, 3.0, -3.0, 6.0, 1.0, -1.0}
    for v in {**spec.params, **params}.values():
        if isinstance(v, float):
            vals |= {v, -v}
    return sorted(vals)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16], ids=str)
@pytest.mark.parametrize("spec,params", ALL_CASES)
def test_gradient_at_the_boundaries_follows_torch(spec, params, dtype, device):
    """Exactly at the kinks (hardtanh's min_val and max_val, threshold's
    threshold, the shrinks' +-lambd, relu6's 0 and 6): torch's gradient,
    hence its convention of which side the boundary belongs to."""
    if spec.weight:
        return
    x = torch.tensor(_boundary_points(spec, params), dtype=dtype, device=device)
    if spec.grad_kinks:  # torch's own differ between devices and versions there
        x = x[~torch.isin(x, torch.tensor(spec.grad_kinks, dtype=dtype, device=device))]
    g = torch.ones_like(x)
    _, ours = _grads(spec, spec.ours, x, params, None, g)
    _, theirs = _grads(spec, spec.reference, x, params, None, g)
    if spec.precise is not None or not spec.exact:
        torch.testing.assert_close(ours[0], theirs[0], msg=str((spec.name, params, x.tolist())))
    else:
        assert torch.equal(ours[0], theirs[0]), (spec.name, params, x.tolist(), ours[0], theirs[0])
