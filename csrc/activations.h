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

// The CPU kernels are compiled once per instruction set. Everything they
// instantiate from this header must then live in a namespace of its own,
// otherwise the linker could keep the AVX-512 copy of an inline function and
// call it from the baseline kernels. cpu/kernels.cpp defines ACTEXT_ISA.
#ifndef ACTEXT_ISA
#define ACTEXT_ISA generic
#endif

namespace activations_ext {

// Which activation a kernel computes. ops.cpp and the kernels agree on these.
enum class Act : int32_t {
  ReLU = 0,
  Sigmoid = 1,
  LeakyReLU = 2,
  ELU = 3,
};

// Scalar parameters as the operator schemas pass them. `alpha` is the slope
// of LeakyReLU and the alpha of ELU; `scale` and `input_scale` are ELU's
// (torch's elu has both; SELU is ELU with both set).
struct ActParams {
  Act act = Act::ReLU;
  double alpha = 0.0;
  double scale = 1.0;
  double input_scale = 1.0;
};

inline namespace ACTEXT_ISA {

template <typename T>
struct Math;

template <>
struct Math<float> {
  static C10_HOST_DEVICE float exp(float x) {
#if defined(__CUDA_ARCH__)
    return ::expf(x);
#else
    return std::exp(x);
#endif
  }
  static C10_HOST_DEVICE float expm1(float x) {
#if defined(__CUDA_ARCH__)
    return ::expm1f(x);
#else
    return std::expm1(x);
#endif
  }
  static C10_HOST_DEVICE float select(bool c, float a, float b) {
    return c ? a : b;
  }
};

template <>
struct Math<double> {
  static C10_HOST_DEVICE double exp(double x) {
#if defined(__CUDA_ARCH__)
    return ::exp(x);
#else
    return std::exp(x);
#endif
  }
  static C10_HOST_DEVICE double expm1(double x) {
#if defined(__CUDA_ARCH__)
    return ::expm1(x);
#else
    return std::expm1(x);
#endif
  }
  static C10_HOST_DEVICE double select(bool c, double a, double b) {
    return c ? a : b;
  }
};

// Every functor below keeps its parameters in the compute type `acc_t`
// (float for float/half/bfloat16, double for double). `backward(g, s)` takes
// the upstream gradient and the saved tensor; `kSavesOutput` says which one
// torch saves. The comparisons are written so that NaN inputs take the same
// branch as in ATen's CPU kernels.

// relu(x) = x <= 0 ? 0 : x.  NaN is not <= 0, so it passes through.
// Backward uses the output, as torch does: 0 where y <= 0 (so at x = 0 too).
template <typename acc_t>
struct ReluOp {
  static constexpr bool kSavesOutput = true;
  template <typename T>
  C10_HOST_DEVICE T forward(T x) const {
    return Math<T>::select(x <= T(0), T(0), x);
  }
  template <typename T>
  C10_HOST_DEVICE T backward(T g, T y) const {
    return Math<T>::select(y <= T(0), T(0), g);
  }
};

// sigmoid(x) = 1 / (1 + exp(-x)). exp(-x) overflows to inf for x < -88
// (float), giving exactly 0, never NaN; no fast-math, so float16's
// subnormal results (sigmoid(-12) ~ 6.1e-6) survive the final rounding.
// Backward uses the output: g * (1 - y) * y, in ATen's order.
template <typename acc_t>
struct SigmoidOp {
  static constexpr bool kSavesOutput = true;
  template <typename T>
  C10_HOST_DEVICE T forward(T x) const {
    return T(1) / (T(1) + Math<T>::exp(T(0) - x));
  }
  template <typename T>
  C10_HOST_DEVICE T backward(T g, T y) const {
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
  C10_HOST_DEVICE T forward(T x) const {
    return Math<T>::select(x > T(0), x, x * T(slope));
  }
  template <typename T>
  C10_HOST_DEVICE T backward(T g, T s) const {
    return Math<T>::select(s > T(0), g, g * T(slope));
  }
};

// elu(x) = x > 0 ? scale * x : alpha * scale * expm1(input_scale * x).
// expm1 keeps full relative accuracy just below zero, where exp(x) - 1 would
// cancel. Backward from the input:
//   x > 0 ? g * scale : g * input_scale * alpha * scale * exp(input_scale * x)
template <typename acc_t>
struct EluOp {
  static constexpr bool kSavesOutput = false;
  acc_t negcoef;     // alpha * scale
  acc_t poscoef;     // scale
  acc_t negiptcoef;  // input_scale
  template <typename T>
  C10_HOST_DEVICE T forward(T x) const {
    return Math<T>::select(x > T(0), x * T(poscoef),
                           Math<T>::expm1(x * T(negiptcoef)) * T(negcoef));
  }
  template <typename T>
  C10_HOST_DEVICE T backward(T g, T x) const {
    return Math<T>::select(
        x > T(0), g * T(poscoef),
        g * T(negiptcoef) * T(negcoef) * Math<T>::exp(x * T(negiptcoef)));
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
  C10_HOST_DEVICE T backward(T g, T y) const {
    return Math<T>::select(y > T(0), g * T(poscoef),
                           g * T(negiptcoef) * (y + T(negcoef)));
  }
};

// prelu(x, w) = x > 0 ? x : w * x, with w taken per channel. The input
// gradient is leaky_relu's with slope w; the weight gradient sums
// x > 0 ? 0 : x * g over everything but the channel.
struct PreluMath {
  template <typename T>
  static C10_HOST_DEVICE T forward(T x, T w) {
    return Math<T>::select(x > T(0), x, w * x);
  }
  template <typename T>
  static C10_HOST_DEVICE T grad_input(T g, T x, T w) {
    return Math<T>::select(x > T(0), g, w * g);
  }
  template <typename T>
  static C10_HOST_DEVICE T grad_weight_term(T g, T x) {
    return Math<T>::select(x > T(0), T(0), x * g);
  }
};

// Call `f(op)` with the functor for `p`, its parameters cast to acc_t the way
// ATen casts them (each to acc_t first, products in acc_t).
template <typename acc_t, typename F>
inline void with_forward_op(const ActParams& p, F&& f) {
  switch (p.act) {
    case Act::ReLU:
      f(ReluOp<acc_t>{});
      break;
    case Act::Sigmoid:
      f(SigmoidOp<acc_t>{});
      break;
    case Act::LeakyReLU:
      f(LeakyReluOp<acc_t>{static_cast<acc_t>(p.alpha)});
      break;
    case Act::ELU:
      f(EluOp<acc_t>{static_cast<acc_t>(p.alpha) * static_cast<acc_t>(p.scale),
                     static_cast<acc_t>(p.scale),
                     static_cast<acc_t>(p.input_scale)});
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

}  // namespace ACTEXT_ISA
}  // namespace activations_ext
