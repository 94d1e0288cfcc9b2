"""Claims of README.md that no other test checks, one test per claim.

Each docstring quotes the README sentence it checks, and each test first
asserts that the sentence is still in the README: rewording a claim then
means revisiting its test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import make_input

import activations_ext.functional as AF
from activations_ext.spec import SPECS

ROOT = Path(__file__).resolve().parents[1]


def _normalized(text: str) -> str:
    return " ".join(text.split())


def _assert_quoted_in_readme(doc: str) -> None:
    """The indented block after "The README says:" in `doc` appears in
    README.md (line breaks and indentation aside)."""
    match = re.search(r"The README says:\n\n((?:[ \t]+\S.*\n)+)", doc)
    assert match, "the docstring quotes no README sentence"
    quote = _normalized(textwrap.dedent(match.group(1)))
    readme = _normalized((ROOT / "README.md").read_text())
    assert quote in readme, f"README.md no longer says: {quote!r}"


def _with_threads(n, fn):
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        return fn()
    finally:
        torch.set_num_threads(old)


# Layouts for bias_act's reduction: channel planes, channels innermost
# (channels_last and (N, C) rows), and a single bias element over 2M inputs,
# where a sum split by thread count (as torch's own sum is) changes bits.
BIAS_LAYOUTS = {
    "nchw": ((16, 24, 40, 40), 1, None),
    "channels_last": ((16, 24, 40, 40), 1, torch.channels_last),
    "rows": ((2048, 300), -1, None),
    "one_bias_element": ((1 << 21, 1), 1, None),
}


@pytest.mark.parametrize("layout", list(BIAS_LAYOUTS))
def test_bias_act_bias_gradient_is_reproducible_bit_for_bit(layout):
    """The README says:

        Its backward produces the input gradient in one pass and reduces the
        bias gradient inside the kernel (in a fixed order: reproducible bit for
        bit).

    On the CPU: the same inputs, one and two threads, several runs."""
    _assert_quoted_in_readme(test_bias_act_bias_gradient_is_reproducible_bit_for_bit.__doc__)
    shape, dim, memory_format = BIAS_LAYOUTS[layout]
    x = make_input(shape, torch.float32, specials=False)
    if memory_format is not None:
        x = x.contiguous(memory_format=memory_format)
    b = make_input((shape[dim],), torch.float32, seed=1, specials=False)
    g = make_input(shape, torch.float32, seed=2, specials=False)

    def run():
        xr = x.detach().clone().requires_grad_(True)
        br = b.detach().clone().requires_grad_(True)
        y = AF.bias_act(xr, br, "gelu", dim=dim)
        return [y.detach()] + list(torch.autograd.grad(y, (xr, br), g))

    runs = [_with_threads(n, run) for n in (1, 2, 1, 2)]
    for i, other in enumerate(runs[1:], 1):
        for name, a, c in zip(("output", "grad_input", "grad_bias"), runs[0], other):
            assert torch.equal(a, c), f"{layout}: run {i} differs in {name}"
    assert float(runs[0][2].abs().min()) > 0  # real sums, not all zeros


def _away_from_kinks(shape, seed, device="cpu"):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    x = x + 0.2 * x.sign()  # nothing within 0.2 of 0
    x = torch.where(((x.abs() - 3).abs() < 0.2), x + 0.5, x)  # nor of hardswish's -3 and 3
    return x.to(device)


def _third_order(spec, fn, params, device):
    """Second- and third-order gradients of `fn` through its first-order
    vector-Jacobian product.

    The inputs are x, the incoming gradient g and (PReLU) the weight w.
    Returns, for each input k, the second derivative (of sum(first * v) in
    input k) and either the third-order gradients of sum(second_k * u) in
    every input, or None when second_k carries no graph."""
    x = _away_from_kinks((2, 3, 4), 1, device).requires_grad_(True)
    g = _away_from_kinks((2, 3, 4), 2, device).requires_grad_(True)
    if spec.weight:
        w = spec.make_weight(x).double().requires_grad_(True)
        inputs, wrt, y = (x, g, w), (x, w), fn(x, w)
    else:
        inputs, wrt, y = (x, g), (x,), fn(x, **params)
    first = torch.autograd.grad(y, wrt, g, create_graph=True)
    live = [(f, _away_from_kinks(f.shape, 3 + i, device)) for i, f in enumerate(first) if f.requires_grad]
    second = torch.autograd.grad(
        [f for f, _ in live],
        inputs,
        [v for _, v in live],
        create_graph=True,
        allow_unused=True,
        materialize_grads=True,
    )
    out = []
    for k, s in enumerate(second):
        third = None
        if s.requires_grad:
            u = _away_from_kinks(s.shape, 10 + k, device)
            third = torch.autograd.grad(
                s, inputs, u, retain_graph=True, allow_unused=True, materialize_grads=True
            )
        out.append((s, third))
    return out


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_double_backward_is_differentiable(spec, device):
    """The README says:

        Gradients of any order: each backward operator has its own autograd,
        whose second derivative is written with our operators, so
        gradgradcheck passes and third-order gradients equal torch's.

    Third-order gradients in float64 against torch's own, through every
    input of the first-order product (input, incoming gradient, PReLU's
    weight). A second derivative without a graph stands for zeros, which is
    what it is for the piecewise linear activations; for the others it must
    carry a graph (a detached one would silently count as a constant in an
    expression that also depends on the input in another way)."""
    _assert_quoted_in_readme(test_every_double_backward_is_differentiable.__doc__)
    params = dict(spec.params)
    ours = _third_order(spec, spec.ours, params, device)
    try:
        theirs = _third_order(spec, spec.reference, params, device)
    except RuntimeError as e:
        # torch has no double backward for some (hardsigmoid_backward): ours
        # must still give one, here of a piecewise linear function, zero.
        assert "not implemented" in str(e), e
        for _second, t_o in ours:
            for t in t_o or ():
                assert not t.any()
        return
    for k, ((s_o, t_o), (s_t, t_t)) in enumerate(zip(ours, theirs)):
        torch.testing.assert_close(s_o.detach(), s_t.detach(), msg=f"second derivative in input {k}")
        assert not (t_o is None and t_t is not None), f"second derivative in input {k} has no graph"
        zeros = [torch.zeros_like(i) for i in (t_o or t_t or [])]
        for i, (a, c) in enumerate(zip(t_o or zeros, t_t or zeros)):
            torch.testing.assert_close(a, c, msg=f"third derivative, inputs {k} then {i}")
    # The case a detached second derivative gets wrong without an error.
    x = _away_from_kinks((5,), 4, device).requires_grad_(True)

    def mixed(fn):
        y = fn(x, w) if spec.weight else fn(x, **params)
        (d1,) = torch.autograd.grad(y.sum(), x, create_graph=True)
        if not d1.requires_grad:  # piecewise linear: the second derivative is 0
            return 2 * x.detach()
        (d2,) = torch.autograd.grad(d1.sum(), x, create_graph=True, allow_unused=True, materialize_grads=True)
        return torch.autograd.grad(d2.sum() + (x * x).sum(), x)[0]

    w = spec.make_weight(x.unsqueeze(0), per_channel=False)
    w = None if w is None else w.double()
    torch.testing.assert_close(mixed(spec.ours), mixed(spec.reference))


@pytest.mark.parametrize("inplace", [False, True], ids=["out_of_place", "in_place"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16], ids=str)
def test_hardswish_gradient_at_minus_3_and_3_follows_the_device(dtype, inplace, device):
    """The README says:

        Torch's own kernels disagree with each other in a few places; there we
        follow the CPU or CUDA kernel of the device we run on (Hardswish's
        gradient at exactly -3 and 3)

    Ours against torch's on the same device, bit for bit, with the two
    points at the start, in the middle (vectorized loops) and in the tail."""
    _assert_quoted_in_readme(test_hardswish_gradient_at_minus_3_and_3_follows_the_device.__doc__)
    at = [0, 1, 500, 501, 1025, 1026]
    x = torch.linspace(-4.0, 4.0, 1027, dtype=torch.float64)
    for i in at:
        x[i] = -3.0 if i % 2 == 0 else 3.0
    x = x.to(dtype=dtype, device=device)
    g = torch.linspace(0.5, 1.5, x.numel(), dtype=dtype, device=device)
    grads = []
    for fn in (lambda t: AF.hardswish(t, inplace=inplace), torch.nn.functional.hardswish):
        leaf = x.clone().requires_grad_(True)
        t = leaf * 1.0 if inplace else leaf  # in place needs a non-leaf
        (gx,) = torch.autograd.grad(fn(t), leaf, g)
        grads.append(gx)
    kinks = (x == -3.0) | (x == 3.0)  # in float16/bfloat16 neighbours of the set points round to them too
    assert bool(kinks[at].all())
    torch.testing.assert_close(grads[0][kinks], grads[1][kinks], rtol=0, atol=0)
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0)


def _setup_py(**env_vars):
    """`python setup.py --name` with the ACTIVATIONS_EXT_* variables given
    (and no others): setup.py decides about the CUDA kernels when it is
    loaded, so this runs that decision without compiling anything."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTIVATIONS_EXT_")}
    env.update(env_vars)
    return subprocess.run(
        [sys.executable, "setup.py", "--name"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_require_cuda_makes_a_cpu_only_build_an_error():
    """The README says:

        `ACTIVATIONS_EXT_REQUIRE_CUDA=1` makes a CPU-only build an error.

    A build that would be CPU-only (the CUDA kernels switched off, or a
    torch without CUDA) stops before compiling, with a message that names
    the variable and why the CUDA kernels cannot be built; without the
    variable the same setup.py runs."""
    _assert_quoted_in_readme(test_require_cuda_makes_a_cpu_only_build_an_error.__doc__)
    plain = _setup_py(ACTIVATIONS_EXT_CPU_ONLY="1")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.strip().splitlines()[-1] == "activations_ext"
    cases = [({"ACTIVATIONS_EXT_CPU_ONLY": "1"}, "ACTIVATIONS_EXT_CPU_ONLY=True")]
    if torch.version.cuda is None:  # this torch cannot build CUDA kernels at all
        cases.append(({}, "torch.version.cuda=None"))
    for other_vars, reason in cases:
        failed = _setup_py(ACTIVATIONS_EXT_REQUIRE_CUDA="1", **other_vars)
        assert failed.returncode != 0, other_vars
        assert "ACTIVATIONS_EXT_REQUIRE_CUDA=1 but the CUDA kernels cannot be built" in failed.stderr
        assert reason in failed.stderr, failed.stderr
        assert "activations_ext" not in failed.stdout
