// The math of every activation, written once.
//
// Each activation is a small functor with `forward(x)` and the derivative
// `backward(grad, saved)`. The functors are templates over the compute type T:
// the CUDA kernels instantiate them with float/double, the CPU kernels with
// float/double and with at::vec::Vectorized<float/double>. Elementary
// functions and branch-free selection go through Math<T>, which this header
// defines for scalars (host and device) and cpu/vec_math.h for vectors.
//
// Half and bfloat16 tensors are computed in float (T = float) and rounded
// once when stored, as ATen does with its opmath type.
#pragma once

#include <c10/macros/Macros.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "table.h"

// The CPU kernels are compiled once per instruction set. Everything they
// instantiate from this header must then live in a namespace of its own,
// otherwise the linker could keep the AVX-512 copy of an inline function and
// call it from the baseline kernels. cpu/kernels.cpp defines ACTEXT_ISA.
#ifndef ACTEXT_ISA
#define ACTEXT_ISA generic
#endif

// Every functor method and math helper below is forced inline. They are
// small, but GCC left some out of line in the CPU kernels (tanh, erfc,
// softplus, sigmoid_pair, the bias_act functors), each then a call per SIMD
// register through the PLT with its operands spilled to memory: half of
// LogSigmoid's backward time went there.
#if defined(__CUDACC__)
#define ACTEXT_INLINE __forceinline__
#elif defined(__GNUC__) || defined(__clang__)
#define ACTEXT_INLINE __attribute__((__always_inline__)) inline
#else
#define ACTEXT_INLINE inline
#endif
#define ACTEXT_FN C10_HOST_DEVICE ACTEXT_INLINE

namespace activations_ext {

// Which activation a kernel computes. ops.cpp and the kernels agree on these.
enum class Act : int32_t {
  ReLU = 0,
  Sigmoid = 1,
  LeakyReLU = 2,
  ELU = 3,  // SELU too: ELU with alpha and scale set
  Tanh = 4,
  GELU = 5,
  GELUTanh = 6,
  SiLU = 7,
  Softplus = 8,
  Mish = 9,
  Hardswish = 10,
  Linear = 11,  // the identity: bias_act with act='linear'
  Hardsigmoid = 12,
  Softsign = 13,
  ReLU6 = 14,
  LogSigmoid = 15,
  Tanhshrink = 16,
  QuickGELU = 17,
  ReLUSquared = 18,
  Hardtanh = 19,
  Softshrink = 20,
  Hardshrink = 21,
  Threshold = 22,
  // RReLU's training mode, as two-operand kernels (see RreluNoiseOp).
  RReLUNoise = 23,
  NoiseMul = 24,
};

// Scalar parameters as the operator schemas pass them. `alpha` is the slope
// of LeakyReLU, the alpha of ELU and the beta of Softplus; `scale` and
// `input_scale` are ELU's (torch's elu has both; SELU is ELU with both set);
// `threshold` is Softplus's. The rows of table.h's parameter table keep
// their first parameter in `alpha` and their second in `scale`.
struct ActParams {
  Act act = Act::ReLU;
  double alpha = 0.0;
  double scale = 1.0;
  double input_scale = 1.0;
  double threshold = 20.0;
  // Set by the CPU scheduler, not by an operator: the output is at least
  // the size of the last-level cache, so the kernels write it with
  // non-temporal stores (see stream_store in cpu/kernels.cpp).
  bool stream = false;
  // Set by the CPU scheduler: a float16 or bfloat16 forward takes its
  // results from a table of this activation's value at every 16-bit input
  // (see lookup_forward in cpu/kernels.cpp).
  bool lookup = false;
};

// Operations with a per-channel parameter (see PreluChannelOp, BiasActOp).
enum class ChannelKind : int32_t { PReLU = 0, BiasAct = 1 };

struct ChannelParams {
  ChannelKind kind = ChannelKind::PReLU;
  ActParams act;           // BiasAct: the activation
  double gain = 1.0;       // BiasAct: output scale
  bool has_clamp = false;  // BiasAct: clamp the output to [-clamp, clamp]
  double clamp = 0.0;
  // Forward that also counts, per channel, the elements whose
  // pre-activation is > 0 (the dead-unit monitor). It runs through the
  // backward kernels (which already reduce per channel) with CountingOp.
  bool count_active = false;
};

inline namespace ACTEXT_ISA {

template <typename T>
struct Math;

// Scalar elementary functions: the C library's on the host, CUDA's on the
// device (no fast-math variants).
#if defined(__CUDA_ARCH__)
#define ACTEXT_SCALAR_FN(name, f_float, f_double)               \
  static ACTEXT_FN float name(float x) { return ::f_float(x); } \
  static ACTEXT_FN double name(double x) { return ::f_double(x); }
#else
#define ACTEXT_SCALAR_FN(name, f_float, f_double)               \
  static ACTEXT_FN float name(float x) { return std::name(x); } \
  static ACTEXT_FN double name(double x) { return std::name(x); }
#endif

struct ScalarMath {
  ACTEXT_SCALAR_FN(exp, expf, exp)
  ACTEXT_SCALAR_FN(expm1, expm1f, expm1)
  ACTEXT_SCALAR_FN(tanh, tanhf, tanh)
  ACTEXT_SCALAR_FN(erf, erff, erf)
  ACTEXT_SCALAR_FN(erfc, erfcf, erfc)
  ACTEXT_SCALAR_FN(log1p, log1pf, log1p)
  ACTEXT_SCALAR_FN(abs, fabsf, fabs)
  template <typename T>
  static ACTEXT_FN T select(bool c, T a, T b) {
    return c ? a : b;
  }
  // max(x, 0) and min(max(x, lo), hi), NaN passing through.
  template <typename T>
  static ACTEXT_FN T max0(T x) {
    return x <= T(0) ? T(0) : x;
  }
  template <typename T>
  static ACTEXT_FN T clamp(T x, T lo, T hi) {
    x = x < lo ? lo : x;
    return x > hi ? hi : x;
  }
  // erf(a) and exp(-a^2) together (the vector version shares one exp).
  template <typename T>
  struct ErfGauss {
    T erf;
    T gauss;
  };
  template <typename T>
  static ACTEXT_FN ErfGauss<T> erf_gauss(T a) {
    return {erf(a), exp(-a * a)};
  }
  // erfc(a) and exp(-a^2) together.
  template <typename T>
  static ACTEXT_FN ErfGauss<T> erfc_gauss(T a) {
    return {erfc(a), exp(-a * a)};
  }
  // exp(x) for x <= 0 (the vector version has a cheaper inline one).
  template <typename T>
  static ACTEXT_FN T exp_nonpos(T x) {
    return exp(x);
  }
  // 1 / d for d in [1, 2] or NaN (the AVX-512 version refines the
  // processor's reciprocal estimate instead of dividing).
  template <typename T>
  static ACTEXT_FN T recip12(T d) {
    return T(1) / d;
  }
  // log(1 + exp(z)) without overflow: max(z, 0) + log1p(exp(-|z|)).
  template <typename T>
  static ACTEXT_FN T softplus(T z) {
    return (z > T(0) ? z : T(0)) + log1p(exp(-abs(z)));
  }
  template <typename T>
  static ACTEXT_FN T gelu(T x);
  template <typename T>
  static ACTEXT_FN T gelu_slope(T x);
  // gelu for results rounded to float16 or bfloat16 (the AVX-512 vector
  // version evaluates a shorter polynomial).
  template <typename T>
  static ACTEXT_FN T gelu_narrow(T x) {
    return gelu(x);
  }
};
#undef ACTEXT_SCALAR_FN

// gelu(x) = x * Phi(x) = x/2 * erfc(-x / sqrt(2)), and its derivative
// Phi(x) + x * pdf(x), from the erfc of the math M (ScalarMath, or the
// vector math of cpu/vec_math.h). ATen writes gelu as
// x/2 * (1 + erf(x / sqrt(2))), which cancels for x < 0 (1 + erf(-2) keeps
// only a few correct bits); erfc keeps full relative accuracy in the tail.
// exp(-(x / sqrt 2)^2) = exp(-x^2 / 2): one exp for the erfc and the pdf.
template <typename M, typename T>
struct GeluByErfc {
  static ACTEXT_FN T value(T x) {
    return x * T(0.5) * M::erfc(x * T(-0.70710678118654752440));
  }
  static ACTEXT_FN T slope(T x) {
    const auto eg = M::erfc_gauss(x * T(-0.70710678118654752440));
    const T cdf = T(0.5) * eg.erf;
    const T pdf = T(0.39894228040143267794) * eg.gauss;  // 1/sqrt(2 pi)
    return cdf + x * pdf;
  }
};
template <typename T>
ACTEXT_FN T ScalarMath::gelu(T x) {
  return GeluByErfc<ScalarMath, T>::value(x);
}
template <typename T>
ACTEXT_FN T ScalarMath::gelu_slope(T x) {
  return GeluByErfc<ScalarMath, T>::slope(x);
}

template <>
struct Math<float> : ScalarMath {};
template <>
struct Math<double> : ScalarMath {};

// Every functor below keeps its parameters in the compute type `acc_t`
// (float for float/half/bfloat16, double for double). `backward(g, s)` takes
// the upstream gradient and the saved tensor; `kSavesOutput` says which one
// torch saves. The comparisons are written so that NaN inputs take the same
// branch as in ATen's CPU kernels. `kForwardPicks` (`kBackwardPicks`): the
// forward's (backward's) result is always one of its operands or 0, 1 or 6,
// which every floating type holds exactly, so the CPU kernels store it in
// half/bfloat16 without a rounding conversion. `kBackwardScales`:
// backward(g, s) is g * backward(1, s), bit for bit (the gradient's factor
// is a function of s alone and multiplies g last), so the CPU kernels may
// look that factor up for half/bfloat16 s (see lookup_backward in
// cpu/kernels.cpp).

// relu(x) = x <= 0 ? 0 : x.  NaN is not <= 0, so it passes through.
// Backward uses the output, as torch does: 0 where y <= 0 (so at x = 0 too).
template <typename acc_t>
struct ReluOp {
  static constexpr bool kSavesOutput = true;
  static constexpr bool kForwardPicks = true;
  static constexpr bool kBackwardPicks = true;
  template <typename T>
  ACTEXT_FN T forward(T x) const {
    return Math<T>::max0(x);
  }
  template <typename T>
  ACTEXT_FN T backward(T g, T y) const {
    return Math<T>::select(y <= T(0), T(0), g);
  }
};

// The logistic function's two halves, s = sigmoid(z) and 1 - s, each without
// cancellation or overflow: with e = exp(-|z|) <= 1, they are 1 / (1 + e)
// and e / (1 + e), in the order the sign of z gives.
template <typename T>
struct SigmoidPair {
  T s;
  T one_minus_s;
};
template <typename T>
ACTEXT_FN SigmoidPair<T> sigmoid_pair(T z) {
  const T e = Math<T>::exp_nonpos(T(0) - Math<T>::abs(z));
  const T r = Math<T>::recip12(T(1) + e);
  const T er = e * r;
  const auto pos = z > T(0);
  return {Math<T>::select(pos, r, er), Math<T>::select(pos, er, r)};
}

// sigmoid(x) = 1 / (1 + exp(-x)), computed as (x > 0 ? 1 : e) / (1 + e)
// with e = exp(-|x|): the exponential never overflows, and a true division
// (not sigmoid_pair's refined reciprocal) keeps y within an ulp near 1,
// where the backward's 1 - y would magnify any error of y. No fast-math, so
// float16's subnormal results (sigmoid(-12) ~ 6.1e-6) survive the final
// rounding.
// Backward uses the output: g * (1 - y) * y, in ATen's order.
template <typename acc_t>
struct SigmoidOp {
  static constexpr bool kSavesOutput = true;
  template <typename T>
  ACTEXT_FN T forward(T x) const {
    if constexpr (std::is_same_v<acc_t, double>) {
      // float64 stays torch's formula: exp(-x) overflows below -709 and y is
      // 0 there, as torch's (not e^x, a subnormal), so that products such as
      // GLU's a * sigmoid(b) stay torch's too.
      return T(1) / (T(1) + Math<T>::exp(T(0) - x));
    } else {
      const T e = Math<T>::exp_nonpos(T(0) - Math<T>::abs(x));
      return Math<T>::select(x > T(0), T(1), e) / (T(1) + e);
    }
  }
  template <typename T>
  ACTEXT_FN T backward(T g, T y) const {
    return g * (T(1) - y) * y;
  }
};

// leaky_relu(x) = x > 0 ? x : x * slope. Its derivative reads only the sign
// of the saved tensor, and for slope >= 0 the output has the input's sign
// (y > 0 exactly where x > 0), so the same backward serves a saved input or
// a saved output. Gradient at 0 is the slope, as in torch.
template <typename acc_t>
struct LeakyReluOp {
  static constexpr bool kSavesOutput = false;
  acc_t slope;
  template <typename T>
  ACTEXT_FN T forward(T x) const {
    return Math<T>::select(x > T(0), x, x * T(slope));
  }
  template <typename T>
  ACTEXT_FN T backward(T g, T s) const {
    return Math<T>::select(s > T(0), g, g * T(slope));
  }
};

// elu(x) = x > 0 ? scale * x : alpha * scale * expm1(input_scale * x).
// expm1 keeps full relative accuracy just below zero, where exp(x) - 1 would
// cancel. Backward from the input:
//   g * (x > 0 ? scale : input_scale * alpha * scale * exp(input_scale * x))
// (g multiplied last, so that the factor can be looked up: kBackwardScales).
template <typename acc_t>
struct EluOp {
  static constexpr bool kSavesOutput = false;
  static constexpr bool kBackwardScales = true;
  acc_t negcoef;     // alpha * scale
  acc_t poscoef;     // scale
  acc_t negiptcoef;  // input_scale
  template <typename T>
  ACTEXT_FN T forward(T x) const {
    return Math<T>::select(x > T(0), x * T(poscoef),
                           Math<T>::expm1(x * T(negiptcoef)) * T(negcoef));
  }
  template <typename T>
  ACTEXT_FN T backward(T g, T x) const {
    const T z = x * T(negiptcoef);
    // With input_scale > 0 the exponential is needed only where z <= 0:
    // the cheaper exp_nonpos of min(z, 0) (the other lanes are discarded).
    const T e = negiptcoef > acc_t(0)
                    ? Math<T>::exp_nonpos(T(0) - Math<T>::max0(T(0) - z))
                    : Math<T>::exp(z);
    return g * Math<T>::select(x > T(0), T(poscoef),
                               T(negiptcoef) * T(negcoef) * e);
  }
};

// ELU's backward from its output, used by the in-place variant and the
// memory-saving mode. Valid for alpha >= 0, where y <= 0 exactly when x <= 0:
//   y > 0 ? g * scale : g * input_scale * (y + alpha * scale)
template <typename acc_t>
struct EluFromOutputOp {
  acc_t negcoef;
  acc_t poscoef;
  acc_t negiptcoef;
  template <typename T>
  ACTEXT_FN T backward(T g, T y) const {
    return Math<T>::select(y > T(0), g * T(poscoef),
                           g * T(negiptcoef) * (y + T(negcoef)));
  }
};

// tanh, saving the output as torch does: d/dx = 1 - y^2.
template <typename acc_t>
struct TanhOp {
  static constexpr bool kSavesOutput = true;
  template <typename T>
  ACTEXT_FN T forward(T x) const {
    return Math<T>::tanh(x);
  }
  template <typename T>
  ACTEXT_FN T backward(T g, T y) const {
    return g * (T(1) - y * y);
  }
};

// gelu(x) = x * Phi(x), d/dx = Phi(x) + x * pdf(x): see GeluByErfc. The
// AVX-512 kernels take both from tables of polynomials (VecMathFloat::gelu).
template <typename acc_t>
struct GeluOp {
  static constexpr bool kSavesOutput = false;
  static constexpr bool kBackwardScales = true;
  template <typename T>
  ACTEXT_FN T forward(T x) const {
    return Math<T>::gelu(x);
  }
  // The forward of float16 and bfloat16 tensors on the CPU (forward_typed in
  // cpu/kernels.cpp).
  template <typename T>
  ACTEXT_FN T forward_narrow(T x) const {
    return Math<T>::gelu_narrow(x);
  }
  template <typename T>
  ACTEXT_FN T backward(T g, T x) const {
    return g * Math<T>::gelu_slope(x);
  }
};

// gelu(x, approximate='tanh') = x/2 * (1 + tanh(u)) with
// u = sqrt(2/pi) (x + 0.044715 x^3). Since (1 + tanh(u)) / 2 = sigmoid(2u),
// it is x * sigmoid(2u): no cancellation where tanh(u) nears -1 (x < -3),
// where torch's form keeps only a few correct bits. Likewise
// 1 - tanh(u)^2 = 4 s (1 - s) in the derivative
//   d/dx = s + 2 x s (1 - s) sqrt(2/pi) (1 + 3 * 0.044715 x^2).
template <typename acc_t>
struct GeluTanhOp {
  static constexpr bool kSavesOutput = false;
  static constexpr bool kBackwardScales = true;
  static constexpr acc_t kBeta = acc_t(0.79788456080286535588);  // sqrt(2/pi)
  static constexpr acc_t kKappa = acc_t(0.044715);
  template <typename T>
  ACTEXT_FN T forward(T x) const {
    const T inner = T(kBeta) * (x + T(kKappa) * (x * x * x));
    return x * sigmoid_pair(inner + inner).s;
  }
  template <typename T>
  ACTEXT_FN T backward(T g, T x) const {
    const T x_sq = x * x;
    const T inner = T(kBeta) * (x + T(kKappa) * (x_sq * x));
    const auto p = sigmoid_pair(inner + inner);
    const T inner_derivative = T(kBeta) * (T(1) + T(3) * T(kKappa) * x_sq);
    return g * (p.s + (x + x) * p.s * p.one_minus_s * inner_derivative);
  }
};

// silu(x) = x * sigmoid(x), both halves of the logistic from sigmoid_pair
// (in float64 from torch's 1 / (1 + exp(-x)), for the reason SigmoidOp
// gives). d/dx = s * (1 + x * (1 - s)) with s = sigmoid(x), which the
// backward computes before multiplying g (kBackwardScales).
template <typename acc_t>
struct SiluOp {
  static constexpr bool kSavesOutput = false;
  static constexpr bool kBackwardScales = true;
  template <typename T>
  ACTEXT_FN static SigmoidPair<T> logistic(T x) {
    if constexpr (std::is_same_v<acc_t, double>) {
      const T s = T(1) / (T(1) + Math<T>::exp(T(0) - x));
      return {s, T(1) - s};
    } else {
      return sigmoid_pair(x);
    }
  }
  template <typename T>
  ACTEXT_FN T forward(T x) const {
    return x * logistic(x).s;
  }
  template <typename T>
  ACTEXT_FN T backward(T g, T x) const {
    const auto p = logistic(x);
    return g * (p.s * (T(1) + x * p.one_minus_s));
  }
  // For the gated operators' backward: the value and the derivative from
  // one logistic (the plain backward would compute it twice).
  template <typename T>
  ACTEXT_FN void gated_backward(T x, T g, T& y, T& d) const {
    const auto p = logistic(x);
    y = x * p.s;
    d = g * p.s * (T(1) + x * p.one_minus_s);
  }
};

// softplus(x) = log(1 + exp(beta x)) / beta, or x where beta x > threshold
// (the division done as a product with 1 / beta).
// The log(1 + exp(.)) never overflows (Math::softplus). d/dx =
// sigmoid(beta x) = s / (1 + e) with e = exp(-|beta x|) and s = 1 above
// zero, e below: one exp, one division, never inf / inf (whatever the
// threshold) and accurate down to the subnormal range.
template <typename acc_t>
struct SoftplusOp {
  static constexpr bool kSavesOutput = false;
  static constexpr bool kBackwardScales = true;
  acc_t beta;
  acc_t threshold;
  acc_t inv_beta;
  template <typename T>
  ACTEXT_FN T forward(T x) const {
    const T z = x * T(beta);
    return Math<T>::select(z > T(threshold), x,
                           Math<T>::softplus(z) * T(inv_beta));
  }
  template <typename T>
  ACTEXT_FN T backward(T g, T x) const {
    const T z = x * T(beta);
    const T e = Math<T>::exp_nonpos(T(0) - Math<T>::abs(z));
    const T s = Math<T>::select(z > T(0), T(1), e) * Math<T>::recip12(T(1) + e);
    return Math<T>::select(z > T(threshold), g, g * s);
  }
};

// mish(x) = x * tanh(softplus(x)). With e = exp(x) and n = e (e + 2),
// tanh(log(1 + e)) = n / (n + 2): one exp and one division. e is taken at
// min(x, 20), where n / (n + 2) is already 1 in double, so it never
// overflows. d/dx = t + x * sigmoid(x) * (1 - t^2) with t = n / (n + 2).
template <typename acc_t>
struct MishOp {
  static constexpr bool kSavesOutput = false;
  static constexpr bool kBackwardScales = true;
  template <typename T>
  ACTEXT_FN T tanh_softplus(T e) const {
    const T n = e * (e + T(2));
    return n / (n + T(2));
  }
  template <typename T>
  ACTEXT_FN T clamped_exp(T x) const {
    return Math<T>::exp(Math<T>::select(x > T(20), T(20), x));
  }
  template <typename T>
  ACTEXT_FN T forward(T x) const {
    return x * tanh_softplus(clamped_exp(x));
  }
  template <typename T>
  ACTEXT_FN T backward(T g, T x) const {
    const T e = clamped_exp(x);
    const T t = tanh_softplus(e);
    const T s = e / (e + T(1));
    return g * (t + x * s * (T(1) - t * t));
  }
};

// hardswish(x) = x * min(max(x + 3, 0), 6) / 6, in ATen's order.
// d/dx = 0 below -3, x/3 + 1/2 up to 3, 1 above. torch's CPU and CUDA
// kernels differ at the two kinks and in the last step of the forward (CPU
// divides by 6, CUDA multiplies by 1/6); we follow each device's.
template <typename acc_t>
struct HardswishOp {
  static constexpr bool kSavesOutput = false;
  template <typename T>
  ACTEXT_FN T forward(T x) const {
    const T r = Math<T>::clamp(x + T(3), T(0), T(6));
#if defined(__CUDA_ARCH__)
    return x * r * T(acc_t(1) / acc_t(6));
#else
    return x * r / T(6);
#endif
  }
  template <typename T>
  ACTEXT_FN T backward(T g, T x) const {
#if defined(__CUDA_ARCH__)
    const auto zero = x < T(-3);
    const auto inside = x <= T(3);
#else
    const auto zero = x <= T(-3);
    const auto inside = x < T(3);
#endif
    return Math<T>::select(
        zero, T(0), Math<T>::select(inside, g * ((x / T(3)) + T(0.5)), g));
  }
};

// hardsigmoid(x) = min(max(x + 3, 0), 6) / 6, in ATen's order (its CUDA
// kernel multiplies by 1/6). d/dx = 1/6 strictly inside (-3, 3), else 0,
// on both devices, as torch's kernels.
template <typename acc_t>
struct HardsigmoidOp {
  static constexpr bool kSavesOutput = false;
  template <typename T>
  ACTEXT_FN T forward(T x) const {
    const T r = Math<T>::clamp(x + T(3), T(0), T(6));
#if defined(__CUDA_ARCH__)
    return r * T(acc_t(1) / acc_t(6));
#else
    return r / T(6);
#endif
  }
  template <typename T>
  ACTEXT_FN T backward(T g, T x) const {
    // torch's kernels multiply by the float constant 1/6, in every dtype.
    const auto inside = (x > T(-3)) & (x < T(3));
    return Math<T>::select(inside, g * T(acc_t(1.0f / 6.0f)), T(0));
  }
};

// softsign(x) = x / (1 + |x|), torch's formula (so softsign(+-inf) is NaN
// there as here). d/dx = 1 / (1 + |x|)^2, NaN at +-inf as torch's (whose
// gradient goes through inf / inf there): x - x is 0, or NaN at +-inf.
template <typename acc_t>
struct SoftsignOp {
  static constexpr bool kSavesOutput = false;
  template <typename T>
  ACTEXT_FN T forward(T x) const {
    return x / (Math<T>::abs(x) + T(1));
  }
  template <typename T>
  ACTEXT_FN T backward(T g, T x) const {
    const T d = Math<T>::abs(x) + T(1);
    return g / (d * d) + (x - x);
  }
};

// relu6(x) = min(max(x, 0), 6), NaN passing through (torch's hardtanh(x, 0,
// 6)). d/dx = 0 where x <= 0 or x >= 6, as torch's hardtanh_backward; the
// same test on the output gives the same answer, so the in-place form saves
// its output, as torch's does.
template <typename acc_t>
struct Relu6Op {
  static constexpr bool kSavesOutput = false;
  static constexpr bool kForwardPicks = true;
  static constexpr bool kBackwardPicks = true;
  template <typename T>
  ACTEXT_FN T forward(T x) const {
    return Math<T>::clamp(x, T(0), T(6));
  }
  template <typename T>
  ACTEXT_FN T backward(T g, T s) const {
    return Math<T>::select((s <= T(0)) | (s >= T(6)), T(0), g);
  }
};

// logsigmoid(x) = -softplus(-x) = min(x, 0) - log1p(exp(-|x|)) (torch's
// formula), neither overflowing nor flushing: logsigmoid(-100) = -100 and
// logsigmoid(100) = -exp(-100), a float subnormal. d/dx = sigmoid(-x) =
// 1 - sigmoid(x), each half of the logistic computed without cancellation.
template <typename acc_t>
struct LogsigmoidOp {
  static constexpr bool kSavesOutput = false;
  static constexpr bool kBackwardScales = true;
  template <typename T>
  ACTEXT_FN T forward(T x) const {
    return T(0) - Math<T>::softplus(T(0) - x);
  }
  template <typename T>
  ACTEXT_FN T backward(T g, T x) const {
    return g * sigmoid_pair(x).one_minus_s;
  }
};

// tanhshrink(x) = x - tanh(x). Below |x| = 1 the difference cancels (torch
// computes it as written and loses every digit near 0); there it is
// x^3 P(x^2), P the Chebyshev fit of (x - tanh x) / x^3 on [0, 1] (degree 7
// in float, 16 in double; about 2 ulp in all). From 1 up it is
// (|x| - 1) + 2e / (1 + e) with e = exp(-2|x|), the sum of two
// non-negative terms, so nothing cancels, and the sign copied from x.
// d/dx = tanh(x)^2.
template <typename acc_t>
struct TanhshrinkOp {
  static constexpr bool kSavesOutput = false;
  static constexpr bool kBackwardScales = true;
  template <typename T>
  ACTEXT_FN static T poly(T z) {
    if constexpr (std::is_same_v<acc_t, double>) {
      T p(8.538161901212156e-09);
      p = p * z + T(-9.364144622965759e-08);
      p = p * z + T(5.122767150793262e-07);
      p = p * z + T(-1.9216974143833895e-06);
      p = p * z + T(5.777484136865915e-06);
      p = p * z + T(-1.541627724102249e-05);
      p = p * z + T(3.8991741215043214e-05);
      p = p * z + T(-9.67910218266933e-05);
      p = p * z + T(0.0002390884367049363);
      p = p * z + T(-0.0005900175685254319);
      p = p * z + T(0.0014558326516768139);
      p = p * z + T(-0.003592127823422879);
      p = p * z + T(0.008863235512566054);
      p = p * z + T(-0.021869488535296695);
      p = p * z + T(0.053968253968231523);
      p = p * z + T(-0.1333333333333331);
      return p * z + T(0.3333333333333333);
    } else {
      T p(-0.00014279318565968424f);
      p = p * z + T(0.0009235008619725704f);
      p = p * z + T(-0.0032068034633994102f);
      p = p * z + T(0.008697847835719585f);
      p = p * z + T(-0.021829549223184586f);
      p = p * z + T(0.05396341532468796f);
      p = p * z + T(-0.13333310186862946f);
      return p * z + T(0.3333333432674408f);
    }
  }
  template <typename T>
  ACTEXT_FN T forward(T x) const {
    const T a = Math<T>::abs(x);
    const T z = x * x;
    // x * (z * P): z * P stays normal where x^3 is subnormal, so the
    // result is rounded once.
    const T small = x * (z * poly(z));
    const T e = Math<T>::exp_nonpos(T(0) - (a + a));
    const T big_abs = (a - T(1)) + (e + e) * Math<T>::recip12(T(1) + e);
    const T big = Math<T>::select(x < T(0), T(0) - big_abs, big_abs);
    return Math<T>::select(a < T(1), small, big);
  }
  template <typename T>
  ACTEXT_FN T backward(T g, T x) const {
    const T t = Math<T>::tanh(x);
    return g * (t * t);
  }
};

// quick_gelu(x) = x * sigmoid(1.702 x) (CLIP's and timm's QuickGELU).
// d/dx = s + 1.702 x s (1 - s), s = sigmoid(1.702 x), both halves of the
// logistic without cancellation.
template <typename acc_t>
struct QuickGeluOp {
  static constexpr bool kSavesOutput = false;
  static constexpr bool kBackwardScales = true;
  static constexpr acc_t kK = acc_t(1.702);
  template <typename T>
  ACTEXT_FN T forward(T x) const {
    return x * sigmoid_pair(x * T(kK)).s;
  }
  template <typename T>
  ACTEXT_FN T backward(T g, T x) const {
    const auto p = sigmoid_pair(x * T(kK));
    // x times the rest: k x overflows for |x| > 2e38, where s (1 - s) is 0.
    return g * (p.s + x * (T(kK) * p.s * p.one_minus_s));
  }
};

// relu_squared(x) = relu(x)^2 (Primer's squared ReLU). d/dx = 2 relu(x),
// NaN passing through as torch's square(relu(x)) gives.
template <typename acc_t>
struct ReluSquaredOp {
  static constexpr bool kSavesOutput = false;
  template <typename T>
  ACTEXT_FN T forward(T x) const {
    const T r = Math<T>::max0(x);
    return r * r;
  }
  template <typename T>
  ACTEXT_FN T backward(T g, T x) const {
    return g * T(2) * Math<T>::max0(x);
  }
};

// hardtanh(x) = min(max(x, min_val), max_val), NaN passing through.
// d/dx = 0 where x <= min_val or x >= max_val (torch's hardtanh_backward);
// the output gives the same answer, so the in-place form saves it.
template <typename acc_t>
struct HardtanhOp {
  static constexpr bool kSavesOutput = false;
  static constexpr bool kBackwardPicks = true;
  acc_t lo;
  acc_t hi;
  template <typename T>
  ACTEXT_FN T forward(T x) const {
    return Math<T>::clamp(x, T(lo), T(hi));
  }
  template <typename T>
  ACTEXT_FN T backward(T g, T s) const {
    return Math<T>::select((s <= T(lo)) | (s >= T(hi)), T(0), g);
  }
};

// softshrink(x) = x - lambd above lambd, x + lambd below -lambd, else
// x * 0 (so NaN stays NaN and -0 keeps its sign, as torch's kernel).
// d/dx = 0 on [-lambd, lambd], else 1.
template <typename acc_t>
struct SoftshrinkOp {
  static constexpr bool kSavesOutput = false;
  static constexpr bool kBackwardPicks = true;
  acc_t lambd;
  template <typename T>
  ACTEXT_FN T forward(T x) const {
    const T l(lambd);
    return Math<T>::select(x > l, x - l,
                           Math<T>::select(x < T(0) - l, x + l, x * T(0)));
  }
  template <typename T>
  ACTEXT_FN T backward(T g, T x) const {
    const T l(lambd);
    return Math<T>::select((x >= T(0) - l) & (x <= l), T(0), g);
  }
};

// hardshrink(x) = 0 on [-lambd, lambd], else x (a negative lambd keeps
// every element, as torch's). d/dx = 0 on that interval, else 1.
template <typename acc_t>
struct HardshrinkOp {
  static constexpr bool kSavesOutput = false;
  static constexpr bool kForwardPicks = true;
  static constexpr bool kBackwardPicks = true;
  acc_t lambd;
  template <typename T>
  ACTEXT_FN T forward(T x) const {
    const T l(lambd);
    return Math<T>::select((x >= T(0) - l) & (x <= l), T(0), x);
  }
  template <typename T>
  ACTEXT_FN T backward(T g, T x) const {
    const T l(lambd);
    return Math<T>::select((x >= T(0) - l) & (x <= l), T(0), g);
  }
};

// threshold(x) = x <= threshold ? value : x (torch's strict x > threshold
// keeps x; NaN stays NaN). d/dx = 0 where x <= threshold, else 1: it needs
// the input (the output cannot tell value from a kept x), so the in-place
// form copies it.
template <typename acc_t>
struct ThresholdOp {
  static constexpr bool kSavesOutput = false;
  static constexpr bool kBackwardPicks = true;
  acc_t threshold;
  acc_t value;
  template <typename T>
  ACTEXT_FN T forward(T x) const {
    return Math<T>::select(x <= T(threshold), T(value), x);
  }
  template <typename T>
  ACTEXT_FN T backward(T g, T x) const {
    return Math<T>::select(x <= T(threshold), T(0), g);
  }
};

// RReLU in training mode: a slope per element drawn uniformly from
// [lower, upper] where x <= 0. The draws are torch's (uniform_ with its
// generator); these two functors run through the two-operand kernels (the
// backward kernels, which compute backward(a, b) elementwise):
//   RreluNoiseOp  noise = x > 0 ? 1 : u     from (u, x), torch's noise
//   NoiseMulOp    y = x * noise             from (x, noise), also the
//                 gradient g * noise
// Their forward(x) is never called; it exists for the functor dispatch.
template <typename acc_t>
struct RreluNoiseOp {
  static constexpr bool kSavesOutput = false;
  static constexpr bool kBackwardPicks = true;
  template <typename T>
  ACTEXT_FN T forward(T x) const {
    return x;
  }
  template <typename T>
  ACTEXT_FN T backward(T u, T x) const {
    return Math<T>::select(x > T(0), T(1), u);
  }
};

template <typename acc_t>
struct NoiseMulOp {
  static constexpr bool kSavesOutput = false;
  template <typename T>
  ACTEXT_FN T forward(T x) const {
    return x;
  }
  template <typename T>
  ACTEXT_FN T backward(T a, T noise) const {
    return a * noise;
  }
};

// The identity (bias_act's 'linear').
template <typename acc_t>
struct LinearOp {
  static constexpr bool kSavesOutput = false;
  static constexpr bool kForwardPicks = true;
  static constexpr bool kBackwardPicks = true;
  template <typename T>
  ACTEXT_FN T forward(T x) const {
    return x;
  }
  template <typename T>
  ACTEXT_FN T backward(T g, T) const {
    return g;
  }
};

// Operations with one parameter per channel (a slice of a chosen dim):
// PReLU's weight and bias_act's bias. Each has forward(x, w), the input
// gradient grad_input(g, x, w), and the term of the parameter's gradient
// that is summed over everything but the channel.

// prelu(x, w) = x > 0 ? x : w * x. The input gradient is leaky_relu's with
// slope w; the weight gradient sums x > 0 ? 0 : x * g.
struct PreluChannelOp {
  template <typename T>
  ACTEXT_FN T forward(T x, T w) const {
    return Math<T>::select(x > T(0), x, w * x);
  }
  template <typename T>
  ACTEXT_FN T grad_input(T g, T x, T w) const {
    return Math<T>::select(x > T(0), g, w * g);
  }
  template <typename T>
  ACTEXT_FN T grad_param(T g, T x, T /*w*/, T /*gi*/) const {
    return Math<T>::select(x > T(0), T(0), x * g);
  }
  template <typename T>
  ACTEXT_FN T pre_activation(T x, T /*w*/) const {
    return x;
  }
};

// bias_act: y = clamp(act(x + b) * gain, -c, c). Backward recomputes
// z = x + b from the saved input and bias (nothing else is kept), and the
// bias gradient is the sum of the input gradient. Where the clamp is active
// the gradient is 0 (as torch.clamp's, whose bounds are inclusive).
// Activations whose derivative torch writes with the output (ReLU, Sigmoid,
// Tanh) get it from act(z).
template <typename Op, typename acc_t>
struct BiasActOp {
  Op op;
  acc_t gain;
  acc_t clamp;
  bool has_clamp;
  template <typename T>
  ACTEXT_FN T clamped(T y) const {
    if (!has_clamp) {
      return y;
    }
    y = Math<T>::select(y < T(-clamp), T(-clamp), y);
    return Math<T>::select(y > T(clamp), T(clamp), y);
  }
  template <typename T>
  ACTEXT_FN T forward(T x, T b) const {
    return clamped(op.forward(x + b) * T(gain));
  }
  template <typename T>
  ACTEXT_FN T grad_input(T g, T x, T b) const {
    const T z = x + b;
    T d;
    if constexpr (Op::kSavesOutput) {
      d = op.backward(g * T(gain), op.forward(z));
    } else {
      d = op.backward(g * T(gain), z);
    }
    if (has_clamp) {
      const T y = op.forward(z) * T(gain);
      d = Math<T>::select(y < T(-clamp), T(0), d);
      d = Math<T>::select(y > T(clamp), T(0), d);
    }
    return d;
  }
  template <typename T>
  ACTEXT_FN T grad_param(T /*g*/, T /*x*/, T /*b*/, T gi) const {
    return gi;
  }
  template <typename T>
  ACTEXT_FN T pre_activation(T x, T b) const {
    return x + b;
  }
};

// A channel operation's forward, shaped as a backward so that it runs on the
// backward kernels: "grad_input" is the output, and the per-channel "grad
// param" sum counts the elements whose pre-activation is positive (the
// incoming gradient is ignored).
template <typename Op>
struct CountingOp {
  Op op;
  template <typename T>
  ACTEXT_FN T forward(T x, T w) const {
    return op.forward(x, w);
  }
  template <typename T>
  ACTEXT_FN T grad_input(T /*g*/, T x, T w) const {
    return op.forward(x, w);
  }
  template <typename T>
  ACTEXT_FN T grad_param(T /*g*/, T x, T w, T /*y*/) const {
    return Math<T>::select(op.pre_activation(x, w) > T(0), T(1), T(0));
  }
};

// The gated operators: out = act(gate) * up, and from (g, gate, up) both
// gradients, act(gate) recomputed (nothing but gate and up is kept):
//   grad_gate = act'(gate) * (g * up),  grad_up = g * act(gate).
// Activations whose derivative torch writes with the output (ReLU, Sigmoid,
// Tanh) get it from the recomputed act(gate), as bias_act does.
// An activation may offer its own gated_forward(x) and
// gated_backward(x, g, y, d) (value and g * derivative together), where
// sharing the work beats its plain forward and backward.
template <typename Op>
struct GatedOp {
  Op op;
  template <typename T>
  ACTEXT_FN T forward(T a, T u) const {
    if constexpr (requires { op.gated_forward(a); }) {
      return op.gated_forward(a) * u;
    } else {
      return op.forward(a) * u;
    }
  }
  template <typename T>
  ACTEXT_FN void backward(T g, T a, T u, T& ga, T& gu) const {
    if constexpr (requires(T& r) { op.gated_backward(a, g, r, r); }) {
      T y;
      op.gated_backward(a, g * u, y, ga);
      gu = g * y;
      return;
    }
    const T y = op.forward(a);
    gu = g * y;
    if constexpr (Op::kSavesOutput) {
      ga = op.backward(g * u, y);
    } else {
      ga = op.backward(g * u, a);
    }
  }
};

// Call `f(op)` with the functor for `p`, its parameters cast to acc_t the way
// ATen casts them (each to acc_t first, products in acc_t).
template <typename acc_t, typename F>
inline void with_forward_op(const ActParams& p, F&& f) {
  switch (p.act) {
#define ACTEXT_SIMPLE_CASE(name, act, functor, saves, inplace) \
  case Act::act:                                               \
    f(functor<acc_t>{});                                       \
    break;
    ACTEXT_SIMPLE_ACTIVATIONS(ACTEXT_SIMPLE_CASE)
#undef ACTEXT_SIMPLE_CASE
#define ACTEXT_PARAM_CASE(name, act, functor, saves, inplace, params) \
  case Act::act:                                                      \
    f(functor<acc_t>{ACTEXT_P_CAST_##params});                        \
    break;
    ACTEXT_PARAM_ACTIVATIONS(ACTEXT_PARAM_CASE)
#undef ACTEXT_PARAM_CASE
    case Act::LeakyReLU:
      f(LeakyReluOp<acc_t>{static_cast<acc_t>(p.alpha)});
      break;
    case Act::ELU:
      f(EluOp<acc_t>{static_cast<acc_t>(p.alpha) * static_cast<acc_t>(p.scale),
                     static_cast<acc_t>(p.scale),
                     static_cast<acc_t>(p.input_scale)});
      break;
    case Act::GELU:
      f(GeluOp<acc_t>{});
      break;
    case Act::GELUTanh:
      f(GeluTanhOp<acc_t>{});
      break;
    case Act::Softplus:
      f(SoftplusOp<acc_t>{static_cast<acc_t>(p.alpha),
                          static_cast<acc_t>(p.threshold),
                          static_cast<acc_t>(1.0 / p.alpha)});
      break;
    case Act::Linear:
      f(LinearOp<acc_t>{});
      break;
    case Act::RReLUNoise:
      f(RreluNoiseOp<acc_t>{});
      break;
    case Act::NoiseMul:
      f(NoiseMulOp<acc_t>{});
      break;
  }
}

// Same for the backward; `from_output` says that the saved tensor is the
// forward's output (only ELU's formula changes with it).
template <typename acc_t, typename F>
inline void with_backward_op(const ActParams& p, bool from_output, F&& f) {
  if (p.act == Act::ELU && from_output) {
    f(EluFromOutputOp<acc_t>{
        static_cast<acc_t>(p.alpha) * static_cast<acc_t>(p.scale),
        static_cast<acc_t>(p.scale), static_cast<acc_t>(p.input_scale)});
  } else {
    with_forward_op<acc_t>(p, f);
  }
}

// Call `f(op)` with the channel functor for `p`.
template <typename acc_t, typename F>
inline void with_channel_op(const ChannelParams& p, F&& f) {
  auto call = [&](const auto& op) {
    using Op = std::decay_t<decltype(op)>;
    if (p.count_active) {
      f(CountingOp<Op>{op});
    } else {
      f(op);
    }
  };
  if (p.kind == ChannelKind::PReLU) {
    call(PreluChannelOp{});
    return;
  }
  with_forward_op<acc_t>(p.act, [&](const auto& op) {
    using Op = std::decay_t<decltype(op)>;
    call(BiasActOp<Op, acc_t>{op, static_cast<acc_t>(p.gain),
                              static_cast<acc_t>(p.clamp), p.has_clamp});
  });
}

}  // namespace ACTEXT_ISA
}  // namespace activations_ext
