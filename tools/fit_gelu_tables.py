"""Writes csrc/cpu/gelu_tables.h: GELU's forward and derivative as 32 pieces
of polynomials, for the AVX-512 kernels (see VecMathFloat::gelu in
csrc/cpu/vec_math.h).

With z = |x| and Q(z) = Phi(-z) = erfc(z / sqrt 2) / 2 (the normal
distribution's lower tail):

    gelu(x)  = x * Phi(x)              = x * (x < 0 ? Q(z) : 1 - Q(z))
    gelu'(x) = Phi(x) + x * pdf(x)     = x < 0 ? -E(z) : 1 + E(z)
    with E(z) = z pdf(z) - Q(z)

so one table of Q serves the forward and one of E the backward, each with
its relative accuracy where the result is small (the negative side); a
third, shorter table of Q serves the float16 and bfloat16 forwards. The
piece of z is i = floor(4 z) for z in [0, 8), and the polynomial's variable
s = (i + 1) - 4 z in [0, 1]: both exact in float (4 z is, and the kernel
forms s with one fma). Q and |E| fall with z, so in s every term of the
polynomial has the sign of the first: Horner's rule adds no cancellation,
and float evaluation keeps about an ulp.

Each piece is fitted by weighted least squares on Chebyshev nodes,
reweighted toward minimax in relative error, then its coefficients are rounded to float and the whole
evaluation is replayed in float (fma rounding emulated in double) on a grid
of float inputs. The script fails if any piece comes out worse than the
bounds below.

    python tools/fit_gelu_tables.py            # writes the header (clang-formatted)
    python tools/fit_gelu_tables.py --check    # only reports the errors
"""

from __future__ import annotations

import argparse
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

DEGREE = 7
# The forward of float16 and bfloat16 results, rounded to 8 or 11 bits: a
# shorter polynomial, within NARROW_BOUND relative (a sixteenth of float16's
# epsilon), so that the rounding to the narrow type is all that shows.
NARROW_DEGREE = 5
NARROW_BOUND = 2.0**-14
PIECES = 32
SCALE = 4  # pieces per unit of z
MAGIC = np.float32(12582912.0)  # 1.5 * 2^23: adding it rounds to an integer
EPS = 2.0**-23
# Worst error of each table's float evaluation, in float epsilons, relative
# to |Q(z)| for Q and to |E(z)| + z |E'(z)| for E: near E's zero the
# derivative is ill-conditioned (gelu'(x) moves by about z |E'(z)| eps when x
# moves by one rounding step), and the accuracy rule allows for that.
BOUND_EPS = 2.0

HEADER = Path(__file__).resolve().parent.parent / "csrc" / "cpu" / "gelu_tables.h"


def q_tail(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def pdf(z: float) -> float:
    return math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def e_slope(z: float) -> float:
    return z * pdf(z) - q_tail(z)


def q_scale(z: float) -> float:
    return abs(q_tail(z))


def e_scale(z: float) -> float:
    return abs(e_slope(z)) + z * abs(pdf(z) * (2.0 - z * z))


def fma32(a, b, c) -> np.float32:
    # a * b is exact in double for float a, b; the sum rounds twice, which a
    # replay this size never distinguishes from one rounding.
    return np.float32(np.float64(a) * np.float64(b) + np.float64(c))


def horner(coeffs, s) -> np.float32:
    p = coeffs[-1]
    for c in reversed(coeffs[:-1]):
        p = fma32(p, s, c)
    return p


def piece_and_variable(z: np.float32):
    """The kernel's index arithmetic, in float."""
    a = np.float32(np.float64(z) * SCALE - 0.5)  # fma(z, 4, -0.5)
    m = np.float32(a + MAGIC)
    i = int(m - MAGIC)
    s = np.float32((i + 1) - np.float64(z) * SCALE)  # fnmadd(z, 4, i + 1): exact
    return i, s


def fit_piece(fun, i: int, degree: int) -> list[np.float32]:
    k = np.arange(160)
    s = 0.5 + 0.5 * np.cos(np.pi * (k + 0.5) / len(k))
    y = np.array([fun((i + 1 - v) / SCALE) for v in s])
    w = 1.0 / np.maximum(np.abs(y), 1e-30)
    vander = np.vander(s, degree + 1, increasing=True)
    c = np.linalg.lstsq(vander * w[:, None], y * w, rcond=None)[0]
    for _ in range(30):
        r = np.abs((vander @ c - y) * w)
        ww = w * np.sqrt(r / r.max() + 1e-3)
        c = np.linalg.lstsq(vander * ww[:, None], y * ww, rcond=None)[0]
    return [np.float32(v) for v in c]


def worst_error(fun, scale, i: int, coeffs) -> float:
    lo, hi = i / SCALE, (i + 1) / SCALE
    zs = np.linspace(lo, hi, 3001, dtype=np.float64).astype(np.float32)
    worst = 0.0
    for z in zs:
        j, s = piece_and_variable(z)
        if j != i:
            continue
        ref = fun(float(z))
        worst = max(worst, abs(float(horner(coeffs, s)) - ref) / scale(float(z)))
    return worst / EPS


def build(name: str, fun, scale, degree: int = DEGREE, bound: float = BOUND_EPS):
    table, errors = [], []
    for i in range(PIECES):
        coeffs = fit_piece(fun, i, degree)
        table.append(coeffs)
        errors.append(worst_error(fun, scale, i, coeffs))
    print(f"{name}: worst {max(errors):.2f} eps (piece {int(np.argmax(errors))})")
    if max(errors) > bound:
        raise SystemExit(f"{name}: a piece exceeds {bound} eps: " + ", ".join(f"{e:.2f}" for e in errors))
    return table


def c_array(name: str, table) -> str:
    rows = []
    degree = len(table[0]) - 1
    for d in range(degree + 1):
        vals = [re.sub(r"\.?0*p", "p", float(table[i][d]).hex()) + "f" for i in range(PIECES)]
        lines = ["      " + ", ".join(vals[j : j + 4]) + "," for j in range(0, PIECES, 4)]
        rows.append("    {\n" + "\n".join(lines) + "\n    },")
    return (
        f"alignas(64) inline constexpr float {name}[{degree + 1}][{PIECES}] = {{\n"
        + "\n".join(rows)
        + "\n};\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="report the errors, write nothing")
    args = ap.parse_args()
    q = build("Q (forward)", q_tail, q_scale)
    e = build("E (derivative)", e_slope, e_scale)
    q_narrow = build("Q (float16/bfloat16 forward)", q_tail, q_scale, NARROW_DEGREE, NARROW_BOUND / EPS)
    if args.check:
        return
    text = (
        "// Generated by tools/fit_gelu_tables.py: do not edit.\n"
        "// GELU on AVX-512 (VecMathFloat::gelu, gelu_slope in vec_math.h): for\n"
        f"// z = |x| in [0, {PIECES // SCALE}), piece i = floor({SCALE} z), s = (i + 1) - {SCALE} z,\n"
        "// table[d][i] the coefficient of s^d of\n"
        f"//   kGeluTail:       Q(z) = erfc(z / sqrt 2) / 2, degree {DEGREE}\n"
        f"//   kGeluSlope:      E(z) = z pdf(z) - Q(z), degree {DEGREE}\n"
        f"//   kGeluTailNarrow: Q(z) within {NARROW_BOUND:g} relative, degree {NARROW_DEGREE}\n"
        "#pragma once\n\n"
        "namespace activations_ext {\n\n"
        f"inline constexpr float kGeluTableEnd = {PIECES // SCALE}.0f;\n\n"
        + c_array("kGeluTail", q)
        + "\n"
        + c_array("kGeluSlope", e)
        + "\n"
        + c_array("kGeluTailNarrow", q_narrow)
        + "\n}  // namespace activations_ext\n"
    )
    HEADER.write_text(text)
    # In the repository's style (make lint checks csrc/ with clang-format).
    fmt = shutil.which("clang-format", path=str(Path(sys.executable).parent)) or shutil.which("clang-format")
    if fmt is None:
        raise SystemExit("clang-format not found (pip install clang-format)")
    subprocess.run([fmt, "-i", str(HEADER)], check=True)
    print(f"wrote {HEADER}")


if __name__ == "__main__":
    main()
