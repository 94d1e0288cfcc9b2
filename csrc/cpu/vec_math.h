// Math<T> for at::vec::Vectorized<float> and Vectorized<double>, so that the
// functors of activations.h run on whole SIMD registers. Included only by
// cpu/kernels.cpp, which is compiled once per instruction set.
#pragma once

#include <ATen/cpu/vec/vec.h>

#include <limits>

#include "../activations.h"

namespace activations_ext {
inline namespace ACTEXT_ISA {

template <typename scalar_t>
struct VecMath {
  using V = at::vec::Vectorized<scalar_t>;
  static V exp(const V& x) { return x.exp(); }
  static V expm1(const V& x) { return x.expm1(); }
  // Comparisons of Vectorized give all-ones lanes where true.
  static V select(const V& mask, const V& a, const V& b) {
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

  // 2^k for integral k in [-126, 127], built in the exponent field.
  static V pow2(const V& k) {
    return at::vec::cast<float>(
        (at::vec::convert_to_int_of_same_size(k) + I(127)) * I(1 << 23));
  }

  static V expm1(const V& x_in) {
    // clamp_min/clamp_max keep NaN (and are much cheaper than minimum/maximum).
    const V x =
        at::vec::clamp_max(at::vec::clamp_min(x_in, V(-87.0f)), V(88.0f));
    const V k = (x * V(1.44269504088896341f)).round();
    V r = at::vec::fmadd(k, V(-0.693359375f), x);
    r = at::vec::fmadd(k, V(2.12194440e-4f), r);
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
};

template <>
struct Math<at::vec::Vectorized<float>> : VecMathFloat {};
template <>
struct Math<at::vec::Vectorized<double>> : VecMath<double> {};

}  // namespace ACTEXT_ISA
}  // namespace activations_ext
