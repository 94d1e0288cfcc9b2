// Math<T> for at::vec::Vectorized<float> and Vectorized<double>, so that the
// functors of activations.h run on whole SIMD registers. Included only by
// cpu/kernels.cpp, which is compiled once per instruction set.
#pragma once

#include <ATen/cpu/vec/vec.h>

#include <limits>

#include "../activations.h"
#include "gelu_tables.h"

namespace activations_ext {
inline namespace ACTEXT_ISA {

template <typename scalar_t>
struct VecMath {
  using V = at::vec::Vectorized<scalar_t>;
  ACTEXT_INLINE static V exp(const V& x) { return x.exp(); }
  ACTEXT_INLINE static V expm1(const V& x) { return x.expm1(); }
  ACTEXT_INLINE static V tanh(const V& x) { return x.tanh(); }
  ACTEXT_INLINE static V erf(const V& x) { return x.erf(); }
  ACTEXT_INLINE static V erfc(const V& x) { return x.erfc(); }
  ACTEXT_INLINE static V exp_nonpos(const V& x) { return x.exp(); }
  ACTEXT_INLINE static V recip12(const V& d) { return V(scalar_t(1)) / d; }
  ACTEXT_INLINE static V abs(const V& x) { return x.abs(); }
  struct ErfGauss {
    V erf;
    V gauss;
  };
  ACTEXT_INLINE static ErfGauss erf_gauss(const V& a) {
    return {a.erf(), (V(0) - a * a).exp()};
  }
  ACTEXT_INLINE static ErfGauss erfc_gauss(const V& a) {
    return {a.erfc(), (V(0) - a * a).exp()};
  }
  ACTEXT_INLINE static V softplus(const V& z) {
    return at::vec::clamp_min(z, V(0)) + (V(0) - z.abs()).exp().log1p();
  }
  ACTEXT_INLINE static V gelu(const V& x) {
    return GeluByErfc<VecMath, V>::value(x);
  }
  ACTEXT_INLINE static V gelu_slope(const V& x) {
    return GeluByErfc<VecMath, V>::slope(x);
  }
  ACTEXT_INLINE static V gelu_narrow(const V& x) { return gelu(x); }
  // One max (min) instruction each; the operand order keeps NaN.
  ACTEXT_INLINE static V max0(const V& x) {
    return at::vec::clamp_min(x, V(0));
  }
  ACTEXT_INLINE static V clamp(const V& x, const V& lo, const V& hi) {
    return at::vec::clamp_max(at::vec::clamp_min(x, lo), hi);
  }
  // Comparisons of Vectorized give all-ones lanes where true.
  ACTEXT_INLINE static V select(const V& mask, const V& a, const V& b) {
    return V::blendv(b, a, mask);
  }
};

// float: ATen's vectorized expm1 (SLEEF's) costs about three exps, which
// made ELU run at a third of Sigmoid's speed. This one reduces
// x = k*ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2, exact products
// for |k| <= 127), evaluates expm1(r) = r + r^2 * (1/2 + r * P(r)) with a
// degree-4 P fitted to float precision (0.8 ulp on the interval), and
// rebuilds expm1(x) = 2^k * expm1(r) + (2^k - 1) with one fused
// multiply-add, so the result keeps full relative accuracy near zero (k = 0)
// and stays within about 2 ulp elsewhere.
// Inputs below -87 give -1 (the exact answer rounds to it); inputs above 88
// give +inf (exact overflow is at 88.72); NaN stays NaN.
struct VecMathFloat : VecMath<float> {
  using I = at::vec::Vectorized<int32_t>;

#if defined(CPU_CAPABILITY_AVX512)
  // 1 / d for d in [1, 8] (or NaN, which stays NaN): the 14-bit estimate
  // (vrcp14ps) and one Newton step, r + r (1 - d r), which squares its
  // error to below 2^-27, so the result is within an ulp of 1 / d. A
  // division costs several times more here, and the logistic functions
  // (1 / (1 + e)) and erfc (1 / (1 + t/2)) spend much of their time in it.
  ACTEXT_INLINE static V recip12(const V& d) {
    const V r(_mm512_rcp14_ps(d));
    return at::vec::fmadd(r, at::vec::fnmadd(d, r, V(1.0f)), r);
  }
#endif

  // 2^k for integral k in [-126, 127], built in the exponent field.
  ACTEXT_INLINE static V pow2(const V& k) {
    return at::vec::cast<float>(
        (at::vec::convert_to_int_of_same_size(k) + I(127)) * I(1 << 23));
  }

  // x = k * ln2 + r with k integral and |r| <= ln2 / 2, ln2 split in two
  // (Cody and Waite) so that k * ln2_hi is exact for |k| <= 127.
  struct Ln2Split {
    V k;
    V r;
  };
  ACTEXT_INLINE static Ln2Split reduce_ln2(const V& x) {
    const V k = (x * V(1.44269504088896341f)).round();
    V r = at::vec::fmadd(k, V(-0.693359375f), x);
    r = at::vec::fmadd(k, V(2.12194440e-4f), r);
    return {k, r};
  }

  // exp(x) for x <= 0, inline (ATen's exp is an out-of-line SLEEF call):
  // x = k*ln2 + r, then exp_reduced. Results in the subnormal range are
  // rounded once; below -104 it gives 0; NaN stays NaN.
  ACTEXT_INLINE static V exp_nonpos(const V& x_in) {
    const auto [k, r] = reduce_ln2(at::vec::clamp_min(x_in, V(-104.0f)));
    return exp_reduced(k, r);
  }

  // exp(k ln2 + r) for |r| <= ln2/2 (and a little beyond), k integral in
  // [-150, 0]: exp(r) = 1 + r + r^2 * P(r) with Cephes' degree-5 P for expf
  // (about 1 ulp), evaluated in Estrin's order (three independent pairs,
  // then r^2): the functions built on it are bound by the latency of their
  // dependency chains more than by their operation count, and Horner's
  // order made this one six fmas deep. Then 2^k applied (see scale2k).
  ACTEXT_INLINE static V exp_reduced(const V& k, const V& r) {
    const V r2 = r * r;
    const V p01 = at::vec::fmadd(V(1.6666665459e-1f), r, V(5.0000001201e-1f));
    const V p23 = at::vec::fmadd(V(8.3334519073e-3f), r, V(4.1665795894e-2f));
    const V p45 = at::vec::fmadd(V(1.9875691500e-4f), r, V(1.3981999507e-3f));
    const V p = at::vec::fmadd(at::vec::fmadd(p45, r2, p23), r2, p01);
    return scale2k(at::vec::fmadd(p, r2, r) + V(1.0f), k);
  }

  // er * 2^k for er in [0.7, 1.5] and integral k in [-150, 0], rounded once
  // into the subnormal range too.
  ACTEXT_INLINE static V scale2k(const V& er, const V& k) {
#if defined(CPU_CAPABILITY_AVX512)
    // One instruction (vscalefps).
    return V(_mm512_scalef_ps(er, k));
#elif defined(CPU_CAPABILITY_AVX2)
    // 2^k as one normal float needs k >= -126. Below, 2^k is applied as
    // 2^k1 * 2^(k - k1) with k1 = -126, both factors normal. Such lanes are
    // rare (exp below 1e-38), so a register takes that longer path only when
    // one of its lanes needs it: one compare and a well-predicted branch
    // instead of five more operations on every register.
    const V lo(-126.0f);
    if (C10_LIKELY(_mm256_movemask_ps(k < lo) == 0)) {
      return er * pow2(k);
    }
    const V k1 = at::vec::clamp_min(k, lo);
    return (er * pow2(k1)) * pow2(k - k1);
#else
    const V k1 = at::vec::clamp_min(k, V(-126.0f));
    return (er * pow2(k1)) * pow2(k - k1);
#endif
  }

  // erfc(t) for t >= 0, inline (SLEEF's erfc costs about three times the
  // whole GELU here), with full relative accuracy down to the subnormal
  // range: erfc(t) = u exp(-t^2 + c(u)) with u = 1 / (1 + t/2) and c a
  // degree-9 polynomial (the Chebyshev fit of Numerical Recipes' erfcc,
  // relative error below 1.2e-7 everywhere). The exponent is never formed
  // as one rounded float, which would cost up to 8 ulp at t = 4: t^2 is
  // split exactly (t2 + t2_err, by an fma), and the reduction by k ln2 is
  // applied to -t2 first, where it is exact, before c and t2_err are
  // added. About 3 ulp in all. Above 10.5 the result underflows to 0; NaN
  // stays NaN.
  ACTEXT_INLINE static V erfc_nonneg(const V& t_in) {
    const V t = at::vec::clamp_max(t_in, V(10.5f));
    const V u = recip12(at::vec::fmadd(V(0.5f), t, V(1.0f)));
    // c in Estrin's order (five pairs, then u^2 and u^4): four fmas deep
    // instead of nine (see exp_reduced).
    const V u2 = u * u;
    const V u4 = u2 * u2;
    const V c01 = at::vec::fmadd(V(1.00002368f), u, V(-1.26551223f));
    const V c23 = at::vec::fmadd(V(0.09678418f), u, V(0.37409196f));
    const V c45 = at::vec::fmadd(V(0.27886807f), u, V(-0.18628806f));
    const V c67 = at::vec::fmadd(V(1.48851587f), u, V(-1.13520398f));
    const V c89 = at::vec::fmadd(V(0.17087277f), u, V(-0.82215223f));
    const V c =
        at::vec::fmadd(at::vec::fmadd(c89, u4, at::vec::fmadd(c67, u2, c45)),
                       u4, at::vec::fmadd(c23, u2, c01));
    const V t2 = t * t;
    const V t2_err = at::vec::fmsub(t, t, t2);  // t^2 = t2 + t2_err exactly
    const V k = ((c - t2) * V(1.44269504088896341f)).round();
    V r = at::vec::fmadd(k, V(-0.693359375f), V(0.0f) - t2);
    r = r + c;
    r = at::vec::fmadd(k, V(2.12194440e-4f), r);
    r = r - t2_err;
    return u * exp_reduced(k, r);
  }

  // erfc(a) for any a: erfc(-a) = 2 - erfc(a).
  ACTEXT_INLINE static V erfc_any(const V& a) {
    const V e = erfc_nonneg(a.abs());
    return V::blendv(e, V(2.0f) - e, a < V(0.0f));
  }

  // Whether every lane of a is at most kErfcNear (false where one is NaN).
  static constexpr float kErfcNear = 3.0f;
  ACTEXT_INLINE static bool all_near(const V& a) {
#if defined(CPU_CAPABILITY_AVX512)
    return _mm512_cmp_ps_mask(a, V(kErfcNear), _CMP_LE_OQ) == 0xFFFF;
#elif defined(CPU_CAPABILITY_AVX2)
    return _mm256_movemask_ps(_mm256_cmp_ps(a, V(kErfcNear), _CMP_LE_OQ)) ==
           0xFF;
#else
    (void)a;
    return false;
#endif
  }

  struct ErfGauss {
    V erf;    // or erfc
    V gauss;  // exp(-a^2)
  };

  // erfc(a) and exp(-a^2) in the lanes where a <= kErfcNear (GELU's inputs
  // from -4.24 up), sharing one exp: erfc(|a|) = t Q(u) exp(-a^2) with
  // t = 1 / (1 + 0.35 |a|), u = 1 - t = 0.35 |a| t and Q of degree 6 in
  // Horner's order, fitted for relative error on |a| in [0, 3] (8e-8 with
  // its float coefficients; in u, Q(0) = 1 and the terms are small where
  // erfc is near 1, so its rounding stays below an ulp there). a^2 is never
  // rounded on its own: the exponential's argument reduction takes it inside
  // one fnmadd, so exp(-a^2) keeps its relative accuracy (rounding a^2 first
  // would cost up to 4 ulp at a = 3). About 3.4 ulp in all (erfc_nonneg's
  // form: 3.5), at two thirds of its time on AVX2, and the Gaussian comes
  // free. Fusing the square into the reduction, rather than splitting it
  // (a2 + a2_err) and correcting exp(-a2) after, took GELU's forward from
  // 980 to 867 us (AVX2) and 664 to 634 us (AVX-512) per 1M float32 on one
  // core of an AMD EPYC Zen 4, with the same errors.
  // Where a < -3, 2 - erfc(|a|) needs only absolute accuracy, which Q keeps
  // beyond its interval (t Q(u) exp(-a^2) < 1e-4 there; at |a| = 10.5,
  // u = 0.79 and Q(u) = 0.25, the fitted function's own value).
  ACTEXT_INLINE static ErfGauss erfc_gauss_near(const V& a) {
    // Clamped, as erfc_nonneg's argument, where erfc(|a|) and exp(-a^2)
    // underflow to 0: an infinite a (GELU's x = +inf) would make u NaN.
    const V ax = at::vec::clamp_max(a.abs(), V(10.5f));
    const V pa = V(0.35f) * ax;
    const V t = recip12(pa + V(1.0f));
    const V u = pa * t;
    V q(-0.20446087419986725f);
    q = at::vec::fmadd(q, u, V(0.42360252141952515f));
    q = at::vec::fmadd(q, u, V(0.20784421265125275f));
    q = at::vec::fmadd(q, u, V(-1.7253303527832031f));
    q = at::vec::fmadd(q, u, V(2.715259075164795f));
    q = at::vec::fmadd(q, u, V(-2.223937749862671f));
    q = at::vec::fmadd(q, u, V(1.0f));
    // exp(-a^2) = 2^k exp(r): k from the rounded square, and
    // r = -a^2 - k ln2 with the square never rounded on its own (one fnmadd
    // of the exact k * ln2_hi, ln2 split as reduce_ln2 does). |a| <= 10.5
    // keeps k >= -159, within every scale2k's range.
    const V k = ((ax * V(-1.44269504088896341f)) * ax).round();
    V r = at::vec::fnmadd(ax, ax, k * V(-0.693359375f));
    r = at::vec::fmadd(k, V(2.12194440e-4f), r);
    const V gauss = exp_reduced(k, r);
    const V e = (t * q) * gauss;
    return {V::blendv(e, V(2.0f) - e, a < V(0.0f)), gauss};
  }

  // erfc(a) and exp(-a^2) for any a, both inline: the shorter form in the
  // lanes that allow it, the full one in the others (a > kErfcNear or NaN).
  // Chosen lane by lane, so that an element's result never depends on its
  // neighbours in the register (vmap, strides and offsets give the same
  // bits); a register computes both only when some lane needs the full form.
  ACTEXT_INLINE static ErfGauss erfc_gauss(const V& a) {
    const ErfGauss near = erfc_gauss_near(a);
    if (C10_LIKELY(all_near(a))) {
      return near;
    }
    const V use_near = a <= V(kErfcNear);
    return {V::blendv(erfc_any(a), near.erf, use_near),
            V::blendv(exp_nonpos(V(0.0f) - a * a), near.gauss, use_near)};
  }
  // erfc alone: once inlined, the unused Gaussian is dropped.
  ACTEXT_INLINE static V erfc(const V& a) { return erfc_gauss(a).erf; }

  // erf, as ATen's (Abramowitz and Stegun 7.1.26, the formula torch's and
  // oneDNN's GELU use) but with the exp inline, and returning exp(-a^2) too
  // so GELU's backward gets its Gaussian for free.
  ACTEXT_INLINE static ErfGauss erf_gauss(const V& a) {
    const V ax = a.abs();
    const V t = V(1.0f) / at::vec::fmadd(V(0.3275911f), ax, V(1.0f));
    V r(1.061405429f);
    r = at::vec::fmadd(r, t, V(-1.453152027f));
    r = at::vec::fmadd(r, t, V(1.421413741f));
    r = at::vec::fmadd(r, t, V(-0.284496736f));
    r = at::vec::fmadd(r, t, V(0.254829592f));
    const V gauss = exp_nonpos(V(0.0f) - a * a);
    const V e = at::vec::fmadd(V(0.0f) - gauss * t, r, V(1.0f));
    return {V::blendv(e, V(0.0f) - e, a < V(0.0f)), gauss};
  }
  ACTEXT_INLINE static V erf(const V& a) { return erf_gauss(a).erf; }

  // GELU and its derivative. AVX-512: from the tables of gelu_tables.h (see
  // tools/fit_gelu_tables.py), for z = |x| < 8:
  //   gelu(x)  = x * (x < 0 ? Q(z) : 1 - Q(z)),  Q(z) = erfc(z / sqrt 2) / 2
  //   gelu'(x) = x < 0 ? -E(z) : 1 + E(z),       E(z) = z pdf(z) - Q(z)
  // each a polynomial of degree 7 on one of 32 pieces of z, its 8
  // coefficients picked from two registers each (vpermt2ps). Q and E keep
  // their relative accuracy (within 1.8 and 0.8 float epsilons over the
  // whole range, the second relative to E's conditioning near its zero),
  // so the negative side is as accurate as the erfc form: no cancellation.
  // About 25 operations a register against the erfc form's 40 (which needs
  // a reciprocal, a polynomial and an exp). x <= -8 (results below 1e-15 of
  // x) takes the erfc form, lane by lane, in the registers that hold one;
  // so does the derivative at x = +inf.
  ACTEXT_INLINE static V gelu_erfc(const V& x) {
    return GeluByErfc<VecMathFloat, V>::value(x);
  }
  ACTEXT_INLINE static V gelu_slope_erfc(const V& x) {
    return GeluByErfc<VecMathFloat, V>::slope(x);
  }
#if defined(CPU_CAPABILITY_AVX512)
  // The piece i = floor(4 z) and the variable s = (i + 1) - 4 z in [0, 1],
  // both exact: 4 z - 1/2 rounded to an integer by adding 1.5 * 2^23, whose
  // low bits then hold i (vpermt2ps reads the low 5). A tie rounds to either
  // neighbour; s is then 0 or 1, both ends of a fitted piece. z is clamped
  // below 8 (piece 31), NaN kept.
  struct GeluPiece {
    __m512i index;
    V s;
  };
  ACTEXT_INLINE static GeluPiece gelu_piece(const V& x) {
    const V z = at::vec::clamp_max(x.abs(), V(0x1.fffffep+2f));
    const V m = at::vec::fmadd(z, V(4.0f), V(-0.5f)) + V(12582912.0f);
    const V s = at::vec::fnmadd(z, V(4.0f), m - V(12582911.0f));
    return {_mm512_castps_si512(m), s};
  }
  template <int kTerms>
  ACTEXT_INLINE static V gelu_poly(const float (&c)[kTerms][32],
                                   const GeluPiece& p) {
    const float* base = &c[0][0];
    const auto coeff = [&](int d) {
      return V(_mm512_permutex2var_ps(_mm512_load_ps(base + 32 * d), p.index,
                                      _mm512_load_ps(base + 32 * d + 16)));
    };
    V q = coeff(kTerms - 1);
    for (int d = kTerms - 2; d >= 0; --d) {
      q = at::vec::fmadd(q, p.s, coeff(d));
    }
    return q;
  }
  // x * Phi(x) from the Q table `c`; the erfc form where x <= -8.
  template <int kTerms>
  ACTEXT_INLINE static V gelu_from(const float (&c)[kTerms][32], const V& x) {
    const V q = gelu_poly(c, gelu_piece(x));
    const __mmask16 neg = _mm512_cmp_ps_mask(x, V(0.0f), _CMP_LT_OQ);
    V y = x * V(_mm512_mask_blend_ps(neg, V(1.0f) - q, q));
    const __mmask16 far = _mm512_cmp_ps_mask(x, V(-kGeluTableEnd), _CMP_LE_OQ);
    if (C10_UNLIKELY(far != 0)) {
      y = _mm512_mask_blend_ps(far, y, gelu_erfc(x));
    }
    return y;
  }
  ACTEXT_INLINE static V gelu(const V& x) { return gelu_from(kGeluTail, x); }
  // For results rounded to float16 or bfloat16: the degree-5 table, within
  // 2^-14 relative, so that only the final rounding shows.
  ACTEXT_INLINE static V gelu_narrow(const V& x) {
    return gelu_from(kGeluTailNarrow, x);
  }
  ACTEXT_INLINE static V gelu_slope(const V& x) {
    const V e = gelu_poly(kGeluSlope, gelu_piece(x));
    const __mmask16 neg = _mm512_cmp_ps_mask(x, V(0.0f), _CMP_LT_OQ);
    V d = _mm512_mask_blend_ps(neg, V(1.0f) + e, V(0.0f) - e);
    // x = +inf too: there the erfc form's x * pdf(x) is NaN, as torch's.
    const __mmask16 far =
        _mm512_cmp_ps_mask(x, V(-kGeluTableEnd), _CMP_LE_OQ) |
        _mm512_cmp_ps_mask(x, V(std::numeric_limits<float>::infinity()),
                           _CMP_EQ_OQ);
    if (C10_UNLIKELY(far != 0)) {
      d = _mm512_mask_blend_ps(far, d, gelu_slope_erfc(x));
    }
    return d;
  }
#else
  ACTEXT_INLINE static V gelu(const V& x) { return gelu_erfc(x); }
  ACTEXT_INLINE static V gelu_narrow(const V& x) { return gelu_erfc(x); }
  ACTEXT_INLINE static V gelu_slope(const V& x) { return gelu_slope_erfc(x); }
#endif

  ACTEXT_INLINE static V expm1(const V& x_in) {
    // clamp_min/clamp_max keep NaN (and are much cheaper than minimum/maximum).
    const auto [k, r] = reduce_ln2(
        at::vec::clamp_max(at::vec::clamp_min(x_in, V(-87.0f)), V(88.0f)));
    V p(1.977888314286247e-4f);
    p = at::vec::fmadd(p, r, V(1.3933555455878377e-3f));
    p = at::vec::fmadd(p, r, V(8.333500474691391e-3f));
    p = at::vec::fmadd(p, r, V(4.166647791862488e-2f));
    p = at::vec::fmadd(p, r, V(1.666666567325592e-1f));
    const V q = at::vec::fmadd(p, r, V(0.5f));
    const V em1 = at::vec::fmadd(r * r, q, r);
    const V t = pow2(k);
    const V res = at::vec::fmadd(t, em1, t - V(1.0f));
    return V::blendv(res, V(std::numeric_limits<float>::infinity()),
                     x_in > V(88.0f));
  }

  // tanh. SLEEF's vectorized tanh costs about four exps here. Near zero
  // (|x| < 0.625) the odd polynomial of Cephes' tanhf (0.7 ulp on that
  // interval); elsewhere 1 - 2e / (1 + e) with e = exp(-2|x|) <= 0.29: the
  // subtracted term carries all the rounding error and is small, so the
  // result is within about half an ulp near saturation, where the
  // derivative 1 - y^2 (torch's tanh backward, from the output) would
  // magnify any error of y. The sign is copied back from x; NaN stays NaN.
  ACTEXT_INLINE static V tanh(const V& x) {
    const V a = x.abs();
    const V z = x * x;
    V p(-5.70498872745e-3f);
    p = at::vec::fmadd(p, z, V(2.06390887954e-2f));
    p = at::vec::fmadd(p, z, V(-5.37397155531e-2f));
    p = at::vec::fmadd(p, z, V(1.33314422036e-1f));
    p = at::vec::fmadd(p, z, V(-3.33332819422e-1f));
    const V small = at::vec::fmadd(p * z, x, x);
    const V e = exp_nonpos(V(0.0f) - (a + a));  // exp(-2|x|)
    // 1 + e is in [1, 1.3]: recip12 in place of a division.
    const V big_abs = V(1.0f) - (e + e) * recip12(V(1.0f) + e);
    const V big = V::blendv(big_abs, V(0.0f) - big_abs, x < V(0.0f));
    return V::blendv(big, small, a < V(0.625f));
  }

  // log(1 + exp(z)) = max(z, 0) + log1p(u) with u = exp(-|z|) in (0, 1].
  // log1p(u) = 2 atanh(s) with s = u / (2 + u) in (0, 1/3], and
  // atanh(s) = s + s * q(s^2), q a degree-5 polynomial fitted on that
  // interval: no cancellation for small u. The rounding of 2 + u and of the
  // division would cost s (and the result) about 1.5 ulp, so both errors are
  // recovered exactly (Fast2Sum for 2 + u, an fma for the division's
  // remainder) and added back as a small correction ds, scaled by an
  // approximation of 1 / (2 + u) good to 4% (enough for a term that small).
  // About 1 ulp in all, at half the cost of SLEEF's log1p.
  ACTEXT_INLINE static V softplus(const V& z) {
    const V u = exp_nonpos(V(0.0f) - z.abs());
    const V d = V(2.0f) + u;
    const V d_err = (V(2.0f) - d) + u;  // 2 + u = d + d_err exactly
    const V s = u * recip12(d);         // faithful; rem below recovers the rest
    const V rem = at::vec::fmadd(V(0.0f) - s, d, u);  // u - s * d, exactly
    const V ds = (rem - s * d_err) * ((V(5.0f) - d) * V(1.0f / 6.0f));
    const V t = s * s;
    V q(0.12141706049442291f);
    q = at::vec::fmadd(q, t, V(0.1071559265255928f));
    q = at::vec::fmadd(q, t, V(0.14308378100395203f));
    q = at::vec::fmadd(q, t, V(0.19999434053897858f));
    q = at::vec::fmadd(q, t, V(0.3333333730697632f));
    q = q * t;
    const V two_s = s + s;
    V log1p_u = at::vec::fmadd(two_s, q, ds + ds) + two_s;
    // Below 2^-24, log1p(u) rounds to u; taking u itself also avoids halving
    // subnormal u (s = u / 2), which would drop its last bit.
    log1p_u = V::blendv(log1p_u, u, u < V(5.9604645e-8f));
    return at::vec::clamp_min(z, V(0.0f)) + log1p_u;
  }
};

template <>
struct Math<at::vec::Vectorized<float>> : VecMathFloat {};
template <>
struct Math<at::vec::Vectorized<double>> : VecMath<double> {};

}  // namespace ACTEXT_ISA
}  // namespace activations_ext
