"""In-place variants: same results, same errors and same autograd as torch's."""

from __future__ import annotations

import pytest
import torch
from conftest import DTYPES, SPECS, make_input

INPLACE = [s for s in SPECS if s.has_inplace]
INPLACE_CASES = [pytest.param(s, dict(c), id=f"{s.name}-{c}") for s in INPLACE for c in s.param_cases]


def _inplace(spec, fn, x, params):
    return fn(x, **params, inplace=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("spec,params", INPLACE_CASES)
def test_inplace_modifies_and_returns_input(spec, params, dtype, device):
    x = make_input((5, 7, 9), dtype, device)
    expected = spec.reference(x.clone(), **params)
    version = x._version
    y = _inplace(spec, spec.ours, x, params)
    assert y is x
    assert x._version > version
    torch.testing.assert_close(
        x, expected, equal_nan=True, rtol=0 if spec.exact else None, atol=0 if spec.exact else None
    )


NONCONTIG = {
    "sliced_step": lambda t: t[:, ::2],
    "transposed": lambda t: t.t(),
    "offset_by_one": lambda t: t.view(-1)[1:-1],
    "column": lambda t: t[:, 3],
}


@pytest.mark.parametrize("layout", sorted(NONCONTIG))
@pytest.mark.parametrize("spec", INPLACE, ids=lambda s: s.name)
def test_inplace_on_views_touches_only_the_view(spec, layout, device):
    base = make_input((64, 33), torch.float32, device, specials=False)
    ours_base, torch_base = base.clone(), base.clone()
    _inplace(spec, spec.ours, NONCONTIG[layout](ours_base), dict(spec.params))
    _inplace(spec, spec.reference, NONCONTIG[layout](torch_base), dict(spec.params))
    torch.testing.assert_close(ours_base, torch_base)


@pytest.mark.parametrize("spec", INPLACE, ids=lambda s: s.name)
def test_inplace_on_noncontiguous_input_allocates_nothing_large(spec):
    """In place on a strided view works without a temporary full-size copy."""
    base = torch.randn(2048, 1024)
    view = base[:, ::2]  # 1M elements, not contiguous
    _inplace(spec, spec.ours, view, dict(spec.params))  # warm up
    with torch.profiler.profile(
        activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True
    ) as prof:
        _inplace(spec, spec.ours, view, dict(spec.params))
    allocated = sum(max(e.cpu_memory_usage, 0) for e in prof.events())
    assert allocated < view.numel() * view.element_size() // 16, allocated


@pytest.mark.parametrize("spec,params", INPLACE_CASES)
def test_inplace_autograd_matches_torch(spec, params, device):
    results = []
    for fn in (spec.ours, spec.reference):
        leaf = make_input((6, 5), torch.float64, device, specials=False).requires_grad_(True)
        x = leaf * 1.5  # a non-leaf, so in-place is allowed
        y = _inplace(spec, fn, x, params)
        g = make_input((6, 5), torch.float64, device, seed=3, specials=False)
        try:
            (grad,) = torch.autograd.grad(y, leaf, g)
            results.append(("ok", grad))
        except RuntimeError as e:
            results.append(("raised", str(e)))
    assert results[0][0] == results[1][0], results
    if results[0][0] == "ok":
        torch.testing.assert_close(results[0][1], results[1][1])
    else:
        # Only a negative slope/alpha makes torch's in-place backward raise.
        assert "negative slope" in results[0][1] and "negative slope" in results[1][1]


@pytest.mark.parametrize("spec", INPLACE, ids=lambda s: s.name)
def test_inplace_on_view_of_graph_tensor(spec, device):
    grads = []
    for fn in (spec.ours, spec.reference):
        leaf = make_input((8, 6), torch.float64, device, specials=False).requires_grad_(True)
        x = leaf.clone()
        _inplace(spec, fn, x[2:5], dict(spec.params))
        (x * torch.arange(48.0, dtype=torch.float64, device=device).view(8, 6)).sum().backward()
        grads.append(leaf.grad)
    torch.testing.assert_close(grads[0], grads[1])


def _raises_like_torch(spec, make):
    kinds = []
    for fn in (spec.ours, spec.reference):
        x = make()
        try:
            _inplace(spec, fn, x, dict(spec.params))
            kinds.append(None)
        except RuntimeError as e:
            kinds.append(type(e))
    assert kinds[1] is not None, "torch itself does not raise here"
    assert kinds[0] is kinds[1], kinds


@pytest.mark.parametrize("spec", INPLACE, ids=lambda s: s.name)
def test_inplace_on_leaf_requiring_grad_raises(spec, device):
    _raises_like_torch(spec, lambda: torch.randn(4, device=device, requires_grad=True))


@pytest.mark.parametrize("spec", INPLACE, ids=lambda s: s.name)
def test_inplace_on_multi_output_view_raises(spec, device):
    def make():
        a = torch.randn(2, 3, device=device, requires_grad=True) * 2
        return a.unbind(0)[0]

    _raises_like_torch(spec, make)


@pytest.mark.parametrize("spec", INPLACE, ids=lambda s: s.name)
def test_inplace_on_expanded_input_raises(spec, device):
    if spec.name == "threshold":
        # torch's threshold_ writes through the shared memory of an expanded
        # tensor without a word (each element's result then depends on the
        # order of the writes); ours raises as torch's other in-place
        # activations do.
        x = torch.randn(1, 4, device=device).expand(3, 4)
        with pytest.raises(RuntimeError, match="more than one element"):
            spec.ours(x, **spec.params, inplace=True)
        return
    _raises_like_torch(spec, lambda: torch.randn(1, 4, device=device).expand(3, 4))


@pytest.mark.parametrize("spec", INPLACE, ids=lambda s: s.name)
def test_inplace_without_grad_on_leaf_is_allowed(spec, device):
    w = torch.randn(10, device=device, requires_grad=True)
    expected = spec.reference(w.detach().clone(), **spec.params)
    with torch.no_grad():
        _inplace(spec, spec.ours, w, dict(spec.params))
    torch.testing.assert_close(w.detach(), expected)
