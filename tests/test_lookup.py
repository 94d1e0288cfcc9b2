"""float16 and bfloat16 forwards and backwards by lookup (ActParams::lookup,
csrc/cpu/schedule.cpp).

From 65536 elements on, the CPU forwards of the activations that cost more
than a load per element take their results from a table of the forward's
value at every 16-bit input, built by the computed loop itself, and the
backwards whose gradient is g times a factor of the saved value look that
factor up. A looked-up result must have the computed loop's bits for every
activation and parameter set of the spec table, contiguous, at an offset,
strided and (forward) in place; NaN where the computed loop gives NaN, with
its sign and payload too for a forward (whose table the same loop fills). A
backward's table comes from another loop, and where two NaNs meet in one
multiplication (NaN input and NaN factor), which one's payload and sign the
result keeps depends on the operand order the compiler chose there. A child
process computes every call (``ACTIVATIONS_EXT_LOOKUP=0``); this one looks
up wherever the scheduler does, and another child wherever the kernels can
(``ACTIVATIONS_EXT_LOOKUP=all``: with the AVX-512 kernels the scheduler looks
up only a few). Every parameter set of every activation builds its own table (more of
them than the cache holds, so older ones are evicted and rebuilt), on two
threads, whose two halves of a call ask for the same table at once.
"""

from __future__ import annotations

import pytest
import torch
from conftest import HALF_DTYPES, SPECS, call
from test_streaming import _child_results

import activations_ext.functional as AF

N = 65536  # every bit pattern; the scheduler's kLookupMin


def _patterns(dtype):
    """All 65536 values of a 16-bit dtype (every NaN and infinity among them), in bit order."""
    return torch.arange(-(2**15), 2**15, dtype=torch.int32).to(torch.int16).view(dtype)


def _layouts(dtype):
    x = _patterns(dtype)
    shifted = torch.cat([x[-1:], x])[1:]  # one element into its storage
    strided = torch.stack([x, x.flip(0)], dim=1)[:, 0]
    assert not strided.is_contiguous()
    return {"contiguous": x, "offset": shifted, "strided": strided}


def results():
    """Every forward and backward here, keyed by activation, parameters, dtype and layout."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    out = {}
    try:
        for dtype in HALF_DTYPES:
            d = str(dtype).split(".")[1]
            gen = torch.Generator().manual_seed(0)
            grad = (torch.randn(N, generator=gen, dtype=torch.float64) * 3).to(dtype)
            for spec in SPECS:
                if spec.weight:
                    continue
                for case in spec.param_cases:
                    params = {**spec.params, **case}
                    key = f"{spec.name}/{sorted(case.items())}/{d}"
                    for layout, x in _layouts(dtype).items():
                        xr = x.requires_grad_(True)
                        y = call(spec, spec.ours, xr, params)
                        (gx,) = torch.autograd.grad(y, xr, grad)
                        out[f"{key}/{layout}/forward"] = y.detach().contiguous()
                        out[f"{key}/{layout}/backward"] = gx.contiguous()
                    if spec.has_inplace:
                        y = _patterns(dtype)
                        spec.ours(y, **params, inplace=True)
                        out[f"{key}/inplace/forward"] = y
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    return _child_results(tmp_path_factory, module="test_lookup", ACTIVATIONS_EXT_LOOKUP="0")


@pytest.fixture(scope="module")
def looked_up_everywhere(tmp_path_factory):
    return _child_results(tmp_path_factory, module="test_lookup", ACTIVATIONS_EXT_LOOKUP="all")


def _same(key, a, b):
    """Bit for bit; a backward's NaNs only as NaN (see the module's docstring)."""
    same = a.view(torch.int16) == b.view(torch.int16)
    if key.endswith("/backward"):
        same |= a.isnan() & b.isnan()
    return a.dtype == b.dtype and bool(same.all())


def test_looked_up_results_give_the_computed_bits(computed):
    looked_up = results()
    assert sorted(looked_up) == sorted(computed)
    bad = [k for k in looked_up if not _same(k, looked_up[k], computed[k])]
    assert not bad, f"{len(bad)} of {len(looked_up)} differ when looked up, e.g. {bad[:5]}"


def test_every_lookup_the_kernels_can_take_gives_the_computed_bits(computed, looked_up_everywhere):
    assert sorted(looked_up_everywhere) == sorted(computed)
    bad = [k for k in computed if not _same(k, looked_up_everywhere[k], computed[k])]
    assert not bad, f"{len(bad)} of {len(computed)} differ when looked up, e.g. {bad[:5]}"


def parameter_bits_results():
    """ELU's forward and backward over all 65536 patterns of each 16-bit dtype with alpha 0.0,
    -0.0, 0.0, -0.0 in turn: whole (looked up, where the process looks up) and in pieces of 4096
    elements (below the lookup's threshold: computed)."""
    out = {}
    for dtype in HALF_DTYPES:
        x = _patterns(dtype)
        grad = torch.ones_like(x)
        for i, alpha in enumerate((0.0, -0.0, 0.0, -0.0)):
            for how, parts in (("whole", [x]), ("pieces", x.split(4096))):
                ys, gs = [], []
                for c in parts:
                    c = c.clone().requires_grad_(True)
                    y = AF.elu(c, alpha=alpha)
                    (g,) = torch.autograd.grad(y, c, grad[: c.numel()])
                    ys.append(y.detach())
                    gs.append(g)
                out[(str(dtype), i, how)] = (torch.cat(ys).view(torch.int16), torch.cat(gs).view(torch.int16))
    return out


@pytest.fixture(scope="module")
def parameter_bits(tmp_path_factory):
    return _child_results(
        tmp_path_factory,
        module="test_lookup",
        function="parameter_bits_results",
        ACTIVATIONS_EXT_LOOKUP="all",
    )


@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_tables_are_kept_apart_by_parameter_bits(parameter_bits, dtype):
    """ELU's alpha of 0.0 and -0.0 give zeros of opposite signs below 0, in the forward and in the
    backward's factor: a table keyed by the parameter's value instead of its bits would return
    one's results for the other. Looking up wherever the kernels can (a child process with
    ``ACTIVATIONS_EXT_LOOKUP=all``), each whole call must give the bits of the same call in
    pieces."""
    res = parameter_bits
    for i in range(4):
        whole, pieces = res[(str(dtype), i, "whole")], res[(str(dtype), i, "pieces")]
        assert torch.equal(whole[0], pieces[0]) and torch.equal(whole[1], pieces[1]), i
    for k in (0, 1):
        assert not torch.equal(res[(str(dtype), 0, "whole")][k], res[(str(dtype), 1, "whole")][k])
