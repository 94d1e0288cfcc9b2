// The interface between the operators (ops.cpp: checks, allocation, memory
// layout) and the kernels (cpu/kernels.cpp, cuda/kernels.cu). Kernels see raw
// pointers, element counts and byte strides, never tensors, so the kernel
// files compile against the lean c10 headers only.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <c10/macros/Macros.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Exception.h>
#include <c10/util/Half.h>

#include <cstdint>
#include <string>

#include "activations.h"

namespace activations_ext {

// A tensor seen as [outer][channels][inner] in memory, the view that
// per-channel operations (PReLU, bias_act) need: contiguous inputs have
// inner = prod(sizes after the channel dim); inputs whose channel dim is
// innermost (channels-last, or (N, C) rows) have inner = 1; a single shared
// parameter is outer = 1, channels = 1, inner = numel.
struct ChannelShape {
  int64_t outer = 1;
  int64_t channels = 1;
  int64_t inner = 1;
};

// Calls f(scalar_t{}) for the four floating dtypes the operators accept
// (ops.cpp has rejected every other dtype with a user-facing error).
template <typename F>
inline void dispatch_float_types(c10::ScalarType dtype, const F& f) {
  switch (dtype) {
    case c10::ScalarType::Float:
      f(float{});
      break;
    case c10::ScalarType::Double:
      f(double{});
      break;
    case c10::ScalarType::Half:
      f(c10::Half{});
      break;
    case c10::ScalarType::BFloat16:
      f(c10::BFloat16{});
      break;
    default:
      TORCH_INTERNAL_ASSERT(false, "activations_ext: unexpected dtype ", dtype);
  }
}

// The operands of a gated operator: `rows` rows of `len` contiguous
// elements each; row r of operand k starts at base_k + r * row_stride[k]
// bytes. Operand order: the outputs, then the inputs (forward: out, gate,
// up; backward: grad_gate, grad_up, grad_output, gate, up). Dense operands
// with equal strides are one row over memory; the halves of a contiguous
// tensor split along a dimension are rows with the whole tensor's stride.
struct GatedRows {
  int64_t rows = 1;
  int64_t len = 0;
  int64_t row_stride[5] = {0, 0, 0, 0, 0};
};

namespace cpu {

// One table per instruction set (DEFAULT, AVX2, AVX512), built from the same
// source. Strides are in bytes; a stride equal to the element size means
// contiguous and takes the vectorized path. All loops are serial: the caller
// splits the work with at::parallel_for.
struct KernelTable {
  const char* name;
  // out[i] = act(in[i]) for i < n.
  void (*forward)(const ActParams& p, c10::ScalarType dtype, char* out,
                  const char* in, int64_t n, int64_t s_out, int64_t s_in);
  // gin[i] = act'(saved[i]) * g[i] (in ATen's formula and order).
  void (*backward)(const ActParams& p, c10::ScalarType dtype, bool from_output,
                   char* gin, const char* g, const char* saved, int64_t n,
                   int64_t s_gin, int64_t s_g, int64_t s_saved);
  // out = op(x, w) for the per-channel operation `p` (PReLU or bias_act)
  // over `rows` contiguous rows of `len` elements, the first being
  // row `row0` of the tensor: with channels == 0 each row takes the `len`
  // parameters w[0..len), else row r the one parameter
  // w[(row0 + r) % channels]. One call per thread's share, not per row: a
  // row can be as short as a channel count (64 for PReLU on (N, 64)).
  void (*channel_forward_rows)(const ChannelParams& p, c10::ScalarType dtype,
                               char* out, const char* x, const char* w,
                               int64_t row0, int64_t rows, int64_t len,
                               int64_t channels);
  // gin[i] = d op / dx over n contiguous elements, with the parameter w[i]
  // when `per_element`, else w[0]; unless `acc` is null, the
  // parameter-gradient terms are added into the double accumulators `acc`:
  // into acc[i] when `per_element`, else into acc[0].
  void (*channel_backward)(const ChannelParams& p, c10::ScalarType dtype,
                           char* gin, const char* g, const char* x,
                           const char* w, int64_t n, bool per_element,
                           double* acc);
  // The gated operators over n contiguous elements:
  // out = act(gate) * up.
  void (*gated_forward)(const ActParams& p, c10::ScalarType dtype, char* out,
                        const char* gate, const char* up, int64_t n);
  // grad_gate = g * up * act'(gate), grad_up = g * act(gate), act(gate)
  // recomputed. The outputs may be gate and up themselves.
  void (*gated_backward)(const ActParams& p, c10::ScalarType dtype,
                         char* grad_gate, char* grad_up, const char* g,
                         const char* gate, const char* up, int64_t n);
};

// The table for the best instruction set that this processor supports and
// that ATen's own dispatch would pick (so ATEN_CPU_CAPABILITY=avx2 or
// =default selects a lower one, as it does for torch's kernels).
const KernelTable& kernels();
// The table for loops bound by memory, not arithmetic (the piecewise-linear
// activations in float32 and float64): kernels()'s, except that where it is
// AVX512 this is AVX2's.
// 256-bit loads and stores move those loops' bytes at least as fast, and on
// AMD's Zen 4, which splits each 512-bit operation in two, faster: a
// float32 ReLU backward over 1M elements (operands in the L3) took 154-157
// us with 256-bit registers against 165-168 us with 512-bit ones, one
// core, side by side; through the operator, ours/ATen went from 1.08-1.10
// to 0.99-1.01. ATen runs these activations' kernels (threshold,
// leaky_relu, hardtanh, the shrinks) on AVX2 on AVX-512 processors too.
// ACTIVATIONS_EXT_NARROW=0 keeps them on kernels(); the bits are the same.
const KernelTable& narrow_kernels();

// Whether kernels() is the AVX512 table (whose computed loops look up less:
// see looks_up in cpu/schedule.cpp).
bool kernels_are_avx512();

// An on/off switch read from the environment: on unless the variable
// `name` is set to "0" (ACTIVATIONS_EXT_NARROW, ACTIVATIONS_EXT_HW_BF16).
bool env_switch_on(const char* name);

namespace DEFAULT {
const KernelTable& kernel_table();
}
#if defined(ACTEXT_HAVE_AVX2)
namespace AVX2 {
const KernelTable& kernel_table();
}
#endif
#if defined(ACTEXT_HAVE_AVX512)
namespace AVX512 {
const KernelTable& kernel_table();
}
#endif

}  // namespace cpu

namespace cuda {

// Largest rank a strided launch takes (after the operands' dimensions are
// coalesced); matches TensorIterator's limit.
constexpr int kMaxDims = 25;

// An elementwise problem over up to three operands (0: output, 1 and 2:
// inputs) with arbitrary strides. Dimension 0 is the fastest; strides are in
// bytes.
struct StridedPlan {
  int ndim = 0;
  int64_t sizes[kMaxDims];
  int64_t strides[3][kMaxDims];
};

// Every launcher runs on the current stream of `device`, under a device
// guard, and checks the launch. `n` counts elements.
void forward_dense(const ActParams& p, c10::ScalarType dtype, void* out,
                   const void* in, int64_t n, c10::DeviceIndex device);
void forward_strided(const ActParams& p, c10::ScalarType dtype, void* out,
                     const void* in, const StridedPlan& plan, int64_t n,
                     c10::DeviceIndex device);
void backward_dense(const ActParams& p, c10::ScalarType dtype, bool from_output,
                    void* gin, const void* g, const void* saved, int64_t n,
                    c10::DeviceIndex device);
void backward_strided(const ActParams& p, c10::ScalarType dtype,
                      bool from_output, void* gin, const void* g,
                      const void* saved, const StridedPlan& plan, int64_t n,
                      c10::DeviceIndex device);
// A per-channel operation (PReLU, bias_act) over dense operands with the
// same strides, laid out as `shape`.
void channel_forward(const ChannelParams& p, c10::ScalarType dtype, void* out,
                     const void* x, const void* w, const ChannelShape& shape,
                     c10::DeviceIndex device);
// Writes gin and, unless `gw` is null, the parameter gradient gw
// (shape.channels elements; double counts when p.count_active). `workspace`
// holds channel_workspace_bytes(...) bytes of device memory for the per-block
// partial sums, which are reduced in a fixed order (deterministic).
void channel_backward(const ChannelParams& p, c10::ScalarType dtype, void* gin,
                      void* gw, const void* g, const void* x, const void* w,
                      const ChannelShape& shape, void* workspace,
                      c10::DeviceIndex device);
int64_t channel_workspace_bytes(const ChannelShape& shape,
                                c10::DeviceIndex device);
// The gated operators over `rows` (operand order as GatedRows says).
void gated_forward(const ActParams& p, c10::ScalarType dtype, void* out,
                   const void* gate, const void* up, const GatedRows& rows,
                   c10::DeviceIndex device);
void gated_backward(const ActParams& p, c10::ScalarType dtype, void* grad_gate,
                    void* grad_up, const void* g, const void* gate,
                    const void* up, const GatedRows& rows,
                    c10::DeviceIndex device);

}  // namespace cuda

// Build facts for Python.
bool built_with_cuda();
std::string cpu_kernel_isa();

}  // namespace activations_ext
