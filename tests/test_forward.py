"""Forward results against torch.nn.functional on the inputs that hurt."""

from __future__ import annotations

import pytest
import torch
from conftest import ALL_CASES, DTYPES, SPECS, assert_matches_reference, call, make_input, reference_forward

SHAPES = [(), (0,), (3, 0, 2), (1,), (1023,), (1025,), (7, 33), (2, 3, 5, 7)]


def _check(spec, params, x, what=""):
    w = spec.make_weight(x)
    ours = call(spec, spec.ours, x, params, w)
    theirs = call(spec, spec.reference, x, params, w)
    ref, spread = reference_forward(spec, x, params, w)
    assert_matches_reference(
        ours, theirs, ref, x.dtype, exact=spec.exact, what=f"{spec.name}{params} {what}", spread=spread
    )
    return ours, theirs


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("spec,params", ALL_CASES)
def test_forward_matches_torch(spec, params, dtype, shape, device):
    x = make_input(shape, dtype, device)
    ours, theirs = _check(spec, params, x, str(shape))
    assert ours.device == x.device


@pytest.mark.parametrize("spec,params", ALL_CASES)
def test_large_odd_size(spec, params, device):
    # Over a million elements: several parallel chunks, a vector tail.
    x = make_input((1000003,), torch.float32, device, seed=1)
    _check(spec, params, x)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_hard_value_in_every_lane(spec, dtype, device):
    # Each hard value at every position of a SIMD register and of the tail.
    from conftest import hard_values

    hv = hard_values(dtype)
    x = hv.repeat(67).roll(5).reshape(-1).to(device)
    _check(spec, dict(spec.params), x)


LAYOUTS = {
    "transposed": lambda x: x.transpose(0, 1),
    "sliced_step": lambda x: x[:, ::2],
    "channels_last": lambda x: x.contiguous(memory_format=torch.channels_last),
    "channels_last_sliced": lambda x: x.contiguous(memory_format=torch.channels_last)[:, :, 1:],
    "offset_by_one": lambda x: x.reshape(-1)[1:-6].reshape(-1, 7),
    "expanded": lambda x: x[:1].expand(5, *x.shape[1:]),
    "permuted_nlc": lambda x: x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_layouts(spec, dtype, layout, device):
    base = make_input((4, 6, 5, 7), dtype, device)
    x = LAYOUTS[layout](base)
    ours, theirs = _check(spec, dict(spec.params), x, layout)
    if x.is_contiguous(memory_format=torch.channels_last) or x.is_contiguous():
        # Dense inputs keep their memory format, as torch's outputs do.
        assert ours.stride() == theirs.stride()


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_channels_last_3d(spec, device):
    x = make_input((2, 3, 4, 5, 6), torch.float32, device).contiguous(memory_format=torch.channels_last_3d)
    ours, theirs = _check(spec, dict(spec.params), x)
    if spec.cpu_output_contiguous and x.device.type == "cpu":
        assert ours.is_contiguous() and ours.stride() == theirs.stride()
    else:
        assert ours.is_contiguous(memory_format=torch.channels_last_3d)


def test_sigmoid_half_keeps_subnormals(device):
    x = torch.tensor([-12.0, -15.0, -16.0, -17.5, 12.0, 0.0], dtype=torch.float16, device=device)
    from activations_ext.functional import sigmoid

    y = sigmoid(x)
    assert torch.equal(y, torch.sigmoid(x))
    assert 5e-6 < float(y[0]) < 7e-6  # sigmoid(-12) ~ 6.1e-6, a float16 subnormal
    assert float(y[1]) > 0


def test_sigmoid_extremes_never_nan(device):
    from activations_ext.functional import sigmoid

    for dtype in DTYPES:
        big = torch.finfo(dtype).max
        x = torch.tensor([-big, big, -torch.inf, torch.inf, -1e4, 1e4], dtype=dtype, device=device)
        y = sigmoid(x)
        assert not y.isnan().any(), dtype
        assert torch.equal(y, torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0], dtype=dtype, device=device))


@pytest.mark.parametrize("spec,params", ALL_CASES)
def test_nan_in_nan_out(spec, params, device):
    for dtype in DTYPES:
        x = torch.full((37,), torch.nan, dtype=dtype, device=device)
        y = call(spec, spec.ours, x, params, spec.make_weight(x))
        assert y.isnan().all(), (spec.name, dtype)


@pytest.mark.parametrize("spec,params", ALL_CASES)
def test_deterministic(spec, params, device):
    x = make_input((3, 5, 17, 19), torch.float32, device)
    w = spec.make_weight(x)
    a = call(spec, spec.ours, x, params, w)
    b = call(spec, spec.ours, x, params, w)
    assert torch.equal(a.view(-1).view(torch.int32), b.view(-1).view(torch.int32))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_gelu_on_both_sides_of_the_short_erfc(dtype, device):
    # The CPU kernel takes a shorter erfc in the lanes with x >= -3 sqrt(2)
    # (about -4.24) and the full one in the others: a dense sweep across that
    # edge (registers of one kind and mixed ones), over the whole range, and
    # with infinities next to ordinary values, forward and backward.
    from test_backward import _check_grads

    from activations_ext.spec import get_spec

    spec = get_spec("gelu")
    edge = torch.linspace(-4.5, -4.0, 20011, dtype=torch.float64)
    wide = torch.linspace(-12.0, 12.0, 40009, dtype=torch.float64)
    specials = torch.tensor([float("inf"), -float("inf"), 3e38, -3e38, 0.0, -0.0, 1e-30, -1e-30])
    x = torch.cat([edge, wide, specials.repeat(5), wide.flip(0)[:997]]).to(dtype).to(device)
    params = dict(spec.params)
    _check(spec, params, x, "sweep")
    _check_grads(spec, params, x[x.isfinite()], "sweep")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("name", ["gelu", "geglu"])
def test_gelu_element_never_depends_on_its_neighbours(name, dtype, device):
    # The CPU kernel picks its erfc form lane by lane: an element's result is
    # the same bits whether the other lanes of its register are ordinary
    # values or far in the tail (x < -4.24, or NaN), and at any offset.
    import activations_ext.functional as AF

    fn = {"gelu": AF.gelu, "geglu": lambda t: AF.geglu(t, torch.ones_like(t))}[name]
    x = make_input((4099,), dtype, device, seed=11, specials=False) * 2
    alone = fn(x)
    mixed = x.clone()
    mixed[::5] = -9.0
    mixed[2::7] = float("nan")
    keep = torch.ones_like(x, dtype=torch.bool)
    keep[::5] = False
    keep[2::7] = False
    assert torch.equal(fn(mixed)[keep], alone[keep])
    assert torch.equal(fn(x[3:]), alone[3:])
