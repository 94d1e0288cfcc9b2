// Argument checks, one implementation for every path: the operators' CPU
// and CUDA implementations call them, and so do the fake kernels that
// torch.compile and torch.export trace with (through activations_ext._C),
// so a bad input raises the same exception with the same message whether
// it is run or traced. Shapes are compared as SymInts, so that tracing with
// dynamic shapes records guards instead of specializing.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <string>

#include "activations.h"

namespace activations_ext {

// A defined, strided, floating-point (float16/bfloat16/float32/float64)
// tensor; `what` names it in the message ("input", "weight", ...).
void check_float(const at::Tensor& t, const char* op, const char* what);

// Backward operands: both floating point, with the same dtype, device and
// shape.
void check_pair(const at::Tensor& a, const at::Tensor& b, const char* op,
                const char* a_name, const char* b_name);

// PReLU's input and weight: the weight has one element or one per channel
// of dim 1, and the input's dtype and device.
void check_prelu(const at::Tensor& x, const at::Tensor& w, const char* op);

// bias_act's arguments: a known activation, clamp >= 0, and a bias (when
// given) that is 1-d with input.shape[dim] elements of the input's dtype and
// device. Returns the activation's parameters.
ActParams check_bias_act(const at::Tensor& x,
                         const std::optional<at::Tensor>& bias,
                         c10::string_view act, int64_t dim, double alpha,
                         std::optional<double> clamp, const char* op);

// gelu's `approximate`: 'none' or 'tanh'.
Act check_gelu_approximate(c10::string_view approximate, const char* op);

// softplus's beta: non-zero.
void check_softplus_beta(double beta, const char* op);

// The parameters of a row of table.h's parameter table (p1 unused by
// one-parameter rows), for an input of dtype `dtype`: hardtanh's
// min_val <= max_val (ValueError, as torch's F.hardtanh), softshrink's
// lambd in [0, the dtype's largest value] (RuntimeError, as torch's).
// torch checks nothing else (hardshrink takes a negative lambd).
void check_act_params(Act act, double p0, double p1, at::ScalarType dtype,
                      const char* op);

// save_output=True needs a parameter (slope, alpha) >= 0.
void check_save_output(double param, const char* op, const char* name);

// The unit dimension of the dead-unit counting operators, wrapped.
int64_t check_unit_dim(const at::Tensor& x, int64_t dim, const char* op);

// prelu_count: a per-channel weight counts along dim 1 only.
void check_prelu_count_dim(const at::Tensor& x, const at::Tensor& w,
                           int64_t dim, const char* op);

// The activations bias_act (and the gated operators) accept, by name.
ActParams bias_act_params(c10::string_view act, double alpha, const char* op);

// The gated operators' operands: gate and up floating point with the same
// dtype, device and shape, and an activation bias_act accepts. Returns its
// parameters.
ActParams check_gated(const at::Tensor& gate, const at::Tensor& up,
                      c10::string_view act, double alpha, const char* op);

// gated_split's input: at least one dimension, an even size along dim.
// Returns dim wrapped.
int64_t check_gated_split(const at::Tensor& x, int64_t dim, const char* op);

}  // namespace activations_ext
