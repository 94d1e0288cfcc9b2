// How CPU work is split across threads: the elementwise loops in chunks of
// ATen's grain, and the per-channel operations (PReLU, bias_act, the
// dead-unit counts) in tasks chosen from the shape alone, so that their
// parameter-gradient sums are bitwise reproducible whatever the thread
// count. The kernels themselves (cpu/kernels.cpp) are serial.
#pragma once

#include <ATen/TensorIterator.h>

#include <vector>

#include "../kernels.h"

namespace activations_ext {
namespace cpu {

// out = act(in) over n dense elements of es bytes.
void forward_dense(const ActParams& p, c10::ScalarType dtype, char* out,
                   const char* in, int64_t n, int64_t es);
// The same over the layout `iter` (output 0, input 1) plans.
void forward_strided(const ActParams& p, c10::ScalarType dtype,
                     at::TensorIteratorBase& iter);

// gin = g * act'(saved) over n dense elements.
void backward_dense(const ActParams& p, c10::ScalarType dtype, bool from_output,
                    char* gin, const char* g, const char* saved, int64_t n,
                    int64_t es);
// The same over the layout `iter` (output 0, inputs g and saved) plans.
void backward_strided(const ActParams& p, c10::ScalarType dtype,
                      bool from_output, at::TensorIteratorBase& iter);

// out = op(x, w) over the [outer][channels][inner] view `sh`.
void channel_forward(const ChannelParams& p, c10::ScalarType dtype,
                     const ChannelShape& sh, char* out, const char* x,
                     const char* w, int64_t es);

// gi = d op / dx and, when `sums` is given, the parameter gradient per
// channel (in double), summed in an order fixed by the shape.
void channel_backward(const ChannelParams& p, c10::ScalarType dtype,
                      const ChannelShape& sh, char* gi, const char* g,
                      const char* x, const char* w, int64_t es,
                      std::vector<double>* sums);

// The gated operators over `rows` (byte strides; operand order as
// GatedRows says), in parallel chunks of ATen's grain.
void gated_forward(const ActParams& p, c10::ScalarType dtype,
                   const GatedRows& rows, int64_t es, char* out,
                   const char* gate, const char* up);
void gated_backward(const ActParams& p, c10::ScalarType dtype,
                    const GatedRows& rows, int64_t es, char* grad_gate,
                    char* grad_up, const char* g, const char* gate,
                    const char* up);

}  // namespace cpu
}  // namespace activations_ext
