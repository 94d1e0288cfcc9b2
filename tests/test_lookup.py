"""float16 and bfloat16 forwards by lookup (ActParams::lookup, csrc/cpu/schedule.cpp).

From 65536 elements on, the CPU forwards of the activations that cost more
than a load per element take their results from a table of the forward's
value at every 16-bit input, built by the computed loop itself. A looked-up
result must have the computed loop's bits, NaN payloads included, for every
activation and parameter set of the spec table, contiguous, at an offset,
strided and in place. A child process computes every call
(``ACTIVATIONS_EXT_LOOKUP=0``); this one looks up wherever the scheduler
does. Every parameter set of every activation builds its own table (more of
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
    """Every forward here, keyed by activation, parameters, dtype and layout, as int16 bits."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    out = {}
    try:
        for dtype in HALF_DTYPES:
            d = str(dtype).split(".")[1]
            for spec in SPECS:
                if spec.weight:
                    continue
                for case in spec.param_cases:
                    params = {**spec.params, **case}
                    key = f"{spec.name}/{sorted(case.items())}/{d}"
                    for layout, x in _layouts(dtype).items():
                        y = call(spec, spec.ours, x, params)
                        out[f"{key}/{layout}"] = y.contiguous().view(torch.int16)
                    if spec.has_inplace:
                        y = _patterns(dtype)
                        spec.ours(y, **params, inplace=True)
                        out[f"{key}/inplace"] = y.view(torch.int16)
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    return _child_results(tmp_path_factory, module="test_lookup", ACTIVATIONS_EXT_LOOKUP="0")


def test_looked_up_forwards_give_the_computed_bits(computed):
    looked_up = results()
    assert sorted(looked_up) == sorted(computed)
    bad = [k for k in looked_up if not torch.equal(looked_up[k], computed[k])]
    assert not bad, f"{len(bad)} of {len(looked_up)} differ when looked up, e.g. {bad[:5]}"


@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_tables_are_kept_apart_by_parameter_bits(dtype):
    """ELU's alpha of 0.0 and -0.0 give zeros of opposite signs below 0: a table keyed by the
    parameter's value instead of its bits would return one's results for the other. Each call
    over all 65536 patterns (looked up) must give the bits of the same call in pieces of 4096
    elements (below the lookup's threshold: computed)."""
    x = _patterns(dtype)
    seen = {}
    for alpha in (0.0, -0.0, 0.0, -0.0):
        y = AF.elu(x, alpha=alpha).view(torch.int16)
        pieces = torch.cat([AF.elu(c, alpha=alpha) for c in x.split(4096)]).view(torch.int16)
        assert torch.equal(y, pieces), alpha
        seen[str(alpha)] = y
    assert not torch.equal(seen["0.0"], seen["-0.0"])
