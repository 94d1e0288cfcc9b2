// The operators' bodies below argument handling: output allocation (the
// output keeps the input's memory format, as torch's does), the choice
// between the dense path (every operand non-overlapping and dense with the
// same strides: one flat loop over memory) and the strided path
// (TensorIterator only plans the layout; our kernels run the loops), and
// the call into the CPU schedule or the CUDA launchers. Arguments have been
// checked (checks.h).
#pragma once

#include <ATen/core/Tensor.h>

#include <tuple>

#include "kernels.h"

namespace activations_ext {

// y = act(x), allocated like x (contiguous instead for CPU tensors when
// `contiguous_on_cpu`, where torch's CPU kernel allocates so).
at::Tensor unary_forward(const at::Tensor& x, const ActParams& p,
                         bool contiguous_on_cpu = false);
// x = act(x).
void unary_forward_(const at::Tensor& x, const ActParams& p);
// grad_input = g * act'(saved), allocated like saved.
at::Tensor unary_backward(const at::Tensor& g, const at::Tensor& saved,
                          const ActParams& p, bool from_output);

// y = op(x, w) with one parameter per slice of `dim` (or one shared).
at::Tensor channel_forward(const at::Tensor& x, const at::Tensor& w,
                           int64_t dim, const ChannelParams& p);
// (grad_input, grad_param); grad_param has 0 elements unless `param_grad`.
std::tuple<at::Tensor, at::Tensor> channel_backward(
    const at::Tensor& g, const at::Tensor& x, const at::Tensor& w, int64_t dim,
    const ChannelParams& p, bool param_grad);
// (y, counts): the forward and, per slice of `dim`, how many elements have a
// positive pre-activation (int64).
std::tuple<at::Tensor, at::Tensor> channel_forward_count(const at::Tensor& x,
                                                         const at::Tensor& w,
                                                         int64_t dim,
                                                         ChannelParams p);

// The gated operators. Outputs are allocated by gated_empty(gate, up): like
// gate when gate and up are dense with the same strides, contiguous
// otherwise.
at::Tensor gated_empty(const at::Tensor& gate, const at::Tensor& up);
// t, a new output that nothing has touched yet, with its memory advised into
// transparent huge pages where it is large (see launch.cpp).
at::Tensor fresh(at::Tensor t);
// out = act(gate) * up into `out` (same shape; any of the layouts below).
void gated_forward_into(const at::Tensor& out, const at::Tensor& gate,
                        const at::Tensor& up, const ActParams& p);
// (grad_gate, grad_up) = (g * up * act'(gate), g * act(gate)) into the given
// tensors, which may be gate and up themselves.
void gated_backward_into(const at::Tensor& grad_gate, const at::Tensor& grad_up,
                         const at::Tensor& g, const at::Tensor& gate,
                         const at::Tensor& up, const ActParams& p);

}  // namespace activations_ext
