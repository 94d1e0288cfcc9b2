// Operator schemas and argument handling, side by side: each operator's
// definition and its implementation's registration sit together, so one
// glance shows its whole surface. The bodies below the checks live in
// launch.cpp; the checks in checks.cpp (shared with the fake kernels).
//
// The activations without parameters come from the table in table.h; the
// others are written out here with their parameter handling.
#include <ATen/MemoryOverlap.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros.h>
#include <c10/core/WrapDimMinimal.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <torch/library.h>
#include <torch/version.h>

#include <optional>
#include <string>

#include "checks.h"
#include "kernels.h"
#include "launch.h"
#include "table.h"

namespace activations_ext {
namespace {

using at::Tensor;

// Torch's SELU constants: SELU is ELU with these, and its backward is
// elu_backward.
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;

// --------------------------------------------- activations of the table

template <Act A>
Tensor simple_forward(const Tensor& x, const char* op) {
  check_float(x, op, "input");
  // torch's CPU log_sigmoid returns a contiguous tensor whatever the
  // input's layout (its CUDA kernel keeps the layout); so does ours.
  return unary_forward(x, ActParams{A}, A == Act::LogSigmoid);
}

template <Act A>
void simple_forward_(const Tensor& x, const char* op) {
  check_float(x, op, "input");
  unary_forward_(x, ActParams{A});
}

template <Act A, bool kFromOutput>
Tensor simple_backward(const Tensor& g, const Tensor& saved, const char* op) {
  check_pair(g, saved, op, "grad_output", "saved tensor");
  return unary_backward(g, saved, ActParams{A}, kFromOutput);
}

#define ACTEXT_SIMPLE_IMPL(name, act, functor, saves, inplace)                \
  Tensor name(const Tensor& x) { return simple_forward<Act::act>(x, #name); } \
  ACTEXT_IF_INPLACE(                                                          \
      inplace, void name##_(const Tensor& x) {                                \
        simple_forward_<Act::act>(x, #name "_");                              \
      })                                                                      \
  Tensor name##_backward(const Tensor& g, const Tensor& s) {                  \
    return simple_backward<Act::act, ACTEXT_SAVES_OUTPUT_##saves>(            \
        g, s, #name "_backward");                                             \
  }
ACTEXT_SIMPLE_ACTIVATIONS(ACTEXT_SIMPLE_IMPL)
#undef ACTEXT_SIMPLE_IMPL

// ------------------------------------- activations of the parameter table

// torch's CPU kernels take some parameters rounded to a float16/bfloat16
// input's dtype (hardshrink's lambd, forward and backward; softshrink's in
// backward, and from torch 2.14 in forward too, where 2.13 computes
// x - lambd with the float lambd), and others in float. Ours round where
// the torch we are built against does, so that the elements next to
// +-lambd land on torch's side and x - lambd is torch's.
#if TORCH_VERSION_MAJOR > 2 || \
    (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 14)
constexpr bool kSoftshrinkForwardRounds = true;
#else
constexpr bool kSoftshrinkForwardRounds = false;
#endif
ActParams rounded_as_torch(ActParams p, at::ScalarType dtype, bool backward) {
  const bool rounds =
      p.act == Act::Hardshrink ||
      (p.act == Act::Softshrink && (backward || kSoftshrinkForwardRounds));
  if (rounds && dtype == at::kHalf) {
    p.alpha = static_cast<float>(c10::Half(static_cast<float>(p.alpha)));
  } else if (rounds && dtype == at::kBFloat16) {
    p.alpha = static_cast<float>(c10::BFloat16(static_cast<float>(p.alpha)));
  }
  return p;
}

#define ACTEXT_PARAM_IMPL(name, act, functor, saves, inplace, params)       \
  Tensor name(const Tensor& x ACTEXT_P_DECL_##params) {                     \
    check_float(x, #name, "input");                                         \
    const ActParams p{Act::act, ACTEXT_P_INIT_##params};                    \
    check_act_params(Act::act, p.alpha, p.scale, x.scalar_type(), #name);   \
    return unary_forward(x, rounded_as_torch(p, x.scalar_type(), false));   \
  }                                                                         \
  ACTEXT_IF_INPLACE(                                                        \
      inplace, void name##_(const Tensor& x ACTEXT_P_DECL_##params) {       \
        check_float(x, #name "_", "input");                                 \
        const ActParams p{Act::act, ACTEXT_P_INIT_##params};                \
        check_act_params(Act::act, p.alpha, p.scale, x.scalar_type(),       \
                         #name "_");                                        \
        unary_forward_(x, rounded_as_torch(p, x.scalar_type(), false));     \
      })                                                                    \
  Tensor name##_backward(const Tensor& g,                                   \
                         const Tensor& s ACTEXT_P_DECL_##params) {          \
    check_pair(g, s, #name "_backward", "grad_output", "saved tensor");     \
    const ActParams p{Act::act, ACTEXT_P_INIT_##params};                    \
    check_act_params(Act::act, p.alpha, p.scale, s.scalar_type(),           \
                     #name "_backward");                                    \
    return unary_backward(g, s, rounded_as_torch(p, s.scalar_type(), true), \
                          false);                                           \
  }
ACTEXT_PARAM_ACTIVATIONS(ACTEXT_PARAM_IMPL)
#undef ACTEXT_PARAM_IMPL

// ------------------------------------------------------------- LeakyReLU

ActParams leaky_params(double slope) {
  return ActParams{Act::LeakyReLU, slope};
}

Tensor leaky_relu(const Tensor& x, double slope, bool save_output) {
  check_float(x, "leaky_relu", "input");
  if (save_output) {
    check_save_output(slope, "leaky_relu", "negative_slope");
  }
  return unary_forward(x, leaky_params(slope));
}
void leaky_relu_(const Tensor& x, double slope) {
  check_float(x, "leaky_relu_", "input");
  unary_forward_(x, leaky_params(slope));
}
Tensor leaky_relu_backward(const Tensor& g, const Tensor& saved, double slope,
                           bool saved_is_output) {
  check_pair(g, saved, "leaky_relu_backward", "grad_output", "saved tensor");
  // Same condition and message as torch's in-place leaky_relu_ backward.
  TORCH_CHECK(!saved_is_output || slope >= 0.0,
              "In-place leakyReLu backward calculation is triggered with a "
              "negative slope which is not supported. This is caused by "
              "calling in-place forward function with a negative slope, "
              "please call out-of-place version instead.");
  return unary_backward(g, saved, leaky_params(slope), saved_is_output);
}

// ------------------------------------------------------------- ELU, SELU

ActParams elu_params(double alpha, double scale, double input_scale) {
  return ActParams{Act::ELU, alpha, scale, input_scale};
}

Tensor elu(const Tensor& x, double alpha, double scale, double input_scale,
           bool save_output) {
  check_float(x, "elu", "input");
  if (save_output) {
    check_save_output(alpha, "elu", "alpha");
  }
  return unary_forward(x, elu_params(alpha, scale, input_scale));
}
void elu_(const Tensor& x, double alpha, double scale, double input_scale) {
  check_float(x, "elu_", "input");
  unary_forward_(x, elu_params(alpha, scale, input_scale));
}
Tensor elu_backward(const Tensor& g, const Tensor& saved, double alpha,
                    double scale, double input_scale, bool saved_is_output) {
  check_pair(g, saved, "elu_backward", "grad_output", "saved tensor");
  TORCH_CHECK(!saved_is_output || alpha >= 0.0,
              "In-place elu backward calculation is triggered with a negative "
              "slope which is not supported. This is caused by calling "
              "in-place forward function with a negative slope, please call "
              "out-of-place version instead.");
  return unary_backward(g, saved, elu_params(alpha, scale, input_scale),
                        saved_is_output);
}

Tensor selu(const Tensor& x) {
  check_float(x, "selu", "input");
  return unary_forward(x, elu_params(kSeluAlpha, kSeluScale, 1.0));
}
void selu_(const Tensor& x) {
  check_float(x, "selu_", "input");
  unary_forward_(x, elu_params(kSeluAlpha, kSeluScale, 1.0));
}

// ------------------------------------------------------------------- GELU

Tensor gelu(const Tensor& x, c10::string_view approximate) {
  check_float(x, "gelu", "input");
  return unary_forward(x,
                       ActParams{check_gelu_approximate(approximate, "gelu")});
}
Tensor gelu_backward(const Tensor& g, const Tensor& x,
                     c10::string_view approximate) {
  check_pair(g, x, "gelu_backward", "grad_output", "saved tensor");
  return unary_backward(
      g, x, ActParams{check_gelu_approximate(approximate, "gelu_backward")},
      false);
}

// --------------------------------------------------------------- Softplus

ActParams softplus_params(double beta, double threshold) {
  ActParams p{Act::Softplus, beta};
  p.threshold = threshold;
  return p;
}
Tensor softplus(const Tensor& x, double beta, double threshold) {
  check_float(x, "softplus", "input");
  check_softplus_beta(beta, "softplus");
  return unary_forward(x, softplus_params(beta, threshold));
}
Tensor softplus_backward(const Tensor& g, const Tensor& x, double beta,
                         double threshold) {
  check_pair(g, x, "softplus_backward", "grad_output", "saved tensor");
  check_softplus_beta(beta, "softplus_backward");
  return unary_backward(g, x, softplus_params(beta, threshold), false);
}

// ---------------------------------------------------- RReLU's training mode

// noise = x > 0 ? 1 : uniform, shaped like x (uniform holds the draws).
Tensor rrelu_noise(const Tensor& x, const Tensor& uniform) {
  check_pair(x, uniform, "rrelu_noise", "input", "uniform");
  return unary_backward(uniform, x, ActParams{Act::RReLUNoise}, false);
}

// x * noise, RReLU's training forward and (with the gradient for x) its
// backward.
Tensor rrelu_with_noise(const Tensor& x, const Tensor& noise) {
  check_pair(x, noise, "rrelu_with_noise", "input", "noise");
  return unary_backward(noise, x, ActParams{Act::NoiseMul}, false);
}

// ------------------------------------------------------------------ PReLU

const ChannelParams kPrelu{ChannelKind::PReLU};

// PReLU's channel is dim 1 (dim 0 for inputs of fewer than two dims).
int64_t prelu_dim(const Tensor& x) { return x.dim() >= 2 ? 1 : 0; }

Tensor prelu(const Tensor& x, const Tensor& w) {
  check_prelu(x, w, "prelu");
  return channel_forward(x, w, prelu_dim(x), kPrelu);
}

std::tuple<Tensor, Tensor> prelu_backward(const Tensor& g, const Tensor& x,
                                          const Tensor& w) {
  check_prelu(x, w, "prelu_backward");
  check_pair(g, x, "prelu_backward", "grad_output", "input");
  return channel_backward(g, x, w, prelu_dim(x), kPrelu, true);
}

// y = op(x, w) with per-unit counts along `dim`: the weight has one element
// (any dim) or one per channel of dim 1 (then dim must be 1).
std::tuple<Tensor, Tensor> prelu_count(const Tensor& x, const Tensor& w,
                                       int64_t dim) {
  check_prelu(x, w, "prelu_count");
  check_prelu_count_dim(x, w, dim, "prelu_count");
  const int64_t d = check_unit_dim(x, dim, "prelu_count");
  if (w.numel() == 1) {
    return channel_forward_count(x, w.reshape({1}).expand({x.size(d)}), d,
                                 kPrelu);
  }
  return channel_forward_count(x, w, 1, kPrelu);
}

// --------------------------------------------------------------- bias_act

// bias_act: y = clamp(act(x + bias) * gain) in one pass. `act` names an
// activation of the spec table without a tensor parameter, or 'linear' or
// 'gelu_tanh'; `alpha` is its scalar parameter (the Python wrapper fills in
// torch's default and rejects it for activations without one).
struct BiasActArgs {
  Tensor bias;  // 1 element (zero) when no bias was given
  int64_t dim = 0;
  ChannelParams p;
};

BiasActArgs bias_act_args(const Tensor& x, const std::optional<Tensor>& bias,
                          c10::string_view act, int64_t dim, double alpha,
                          double gain, std::optional<double> clamp,
                          const char* op) {
  BiasActArgs a;
  a.p.kind = ChannelKind::BiasAct;
  a.p.act = check_bias_act(x, bias, act, dim, alpha, clamp, op);
  a.p.gain = gain;
  if (clamp.has_value()) {
    a.p.has_clamp = true;
    a.p.clamp = *clamp;
  }
  if (bias.has_value() && bias->defined()) {
    a.dim = c10::maybe_wrap_dim(dim, x.dim());
    a.bias = *bias;
  } else {
    a.bias = at::zeros({1}, x.options());
  }
  return a;
}

Tensor bias_act(const Tensor& x, const std::optional<Tensor>& bias,
                c10::string_view act, int64_t dim, double alpha, double gain,
                std::optional<double> clamp) {
  const auto a =
      bias_act_args(x, bias, act, dim, alpha, gain, clamp, "bias_act");
  return channel_forward(x, a.bias, a.dim, a.p);
}

std::tuple<Tensor, Tensor> bias_act_backward(const Tensor& g, const Tensor& x,
                                             const std::optional<Tensor>& bias,
                                             c10::string_view act, int64_t dim,
                                             double alpha, double gain,
                                             std::optional<double> clamp,
                                             bool bias_grad) {
  const auto a =
      bias_act_args(x, bias, act, dim, alpha, gain, clamp, "bias_act_backward");
  check_pair(g, x, "bias_act_backward", "grad_output", "input");
  const bool has_bias = bias.has_value() && bias->defined();
  TORCH_CHECK_VALUE(!bias_grad || has_bias,
                    "activations_ext.bias_act_backward: bias_grad=True needs "
                    "a bias");
  return channel_backward(g, x, a.bias, a.dim, a.p, bias_grad);
}

// bias_act (gain 1, no clamp) with per-unit counts along `dim`; `bias` has
// size(dim) elements (zeros for a plain activation).
std::tuple<Tensor, Tensor> bias_act_count(const Tensor& x, const Tensor& bias,
                                          c10::string_view act, int64_t dim,
                                          double alpha) {
  const int64_t d = check_unit_dim(x, dim, "bias_act_count");
  const auto a = bias_act_args(x, bias, act, d, alpha, 1.0, std::nullopt,
                               "bias_act_count");
  return channel_forward_count(x, a.bias, a.dim, a.p);
}

// ------------------------------------------------------------------ gated

// act(gate) * up, and both gradients in one pass (launch.cpp, kernels).
Tensor gated(const Tensor& gate, const Tensor& up, c10::string_view act,
             double alpha, bool /*inplace_backward: autograd's*/) {
  const ActParams p = check_gated(gate, up, act, alpha, "gated");
  Tensor out = gated_empty(gate, up);
  gated_forward_into(out, gate, up, p);
  return out;
}

std::tuple<Tensor, Tensor> gated_backward(const Tensor& g, const Tensor& gate,
                                          const Tensor& up,
                                          c10::string_view act, double alpha) {
  const ActParams p = check_gated(gate, up, act, alpha, "gated_backward");
  check_pair(g, gate, "gated_backward", "grad_output", "gate");
  Tensor grad_gate = gated_empty(gate, up);
  Tensor grad_up = gated_empty(gate, up);
  gated_backward_into(grad_gate, grad_up, g, gate, up, p);
  return {grad_gate, grad_up};
}

// The gradients written over gate and up (inplace_backward).
void gated_backward_(const Tensor& g, const Tensor& gate, const Tensor& up,
                     c10::string_view act, double alpha) {
  const ActParams p = check_gated(gate, up, act, alpha, "gated_backward_");
  check_pair(g, gate, "gated_backward_", "grad_output", "gate");
  at::assert_no_internal_overlap(gate);
  at::assert_no_internal_overlap(up);
  at::assert_no_overlap(gate, up);
  gated_backward_into(gate, up, g, gate, up, p);
}

// The halves of x along d: (gate, up), in the order up_first says. Views:
// nothing is copied.
std::pair<Tensor, Tensor> split_halves(const Tensor& x, int64_t d,
                                       bool up_first) {
  const int64_t h = x.size(d) / 2;
  Tensor first = x.narrow(d, 0, h);
  Tensor second = x.narrow(d, h, h);
  return up_first ? std::make_pair(second, first)
                  : std::make_pair(first, second);
}

Tensor gated_split(const Tensor& x, c10::string_view act, double alpha,
                   int64_t dim, bool up_first) {
  const int64_t d = check_gated_split(x, dim, "gated_split");
  const ActParams p = bias_act_params(act, alpha, "gated_split");
  auto [gate, up] = split_halves(x, d, up_first);
  Tensor out = fresh(at::empty(gate.sizes(), x.options()));
  gated_forward_into(out, gate, up, p);
  return out;
}

// One gradient of x's shape, its two halves written directly.
Tensor gated_split_backward(const Tensor& g, const Tensor& x,
                            c10::string_view act, double alpha, int64_t dim,
                            bool up_first) {
  const int64_t d = check_gated_split(x, dim, "gated_split_backward");
  const ActParams p = bias_act_params(act, alpha, "gated_split_backward");
  auto [gate, up] = split_halves(x, d, up_first);
  check_pair(g, gate, "gated_split_backward", "grad_output", "half of input");
  Tensor gx = fresh(at::empty(x.sizes(), x.options()));
  auto [grad_gate, grad_up] = split_halves(gx, d, up_first);
  gated_backward_into(grad_gate, grad_up, g, gate, up, p);
  return gx;
}

}  // namespace

std::string cpu_kernel_isa() { return cpu::kernels().name; }

}  // namespace activations_ext

// Schemas. In-place variants return nothing (the form torch.compile's
// functionalization and torch.export accept for mutating custom ops); the
// Python functional returns the mutated input, as torch's do.
TORCH_LIBRARY(activations_ext, m) {
  m.set_python_module("activations_ext.ops");
#define ACTEXT_SIMPLE_DEF(name, act, functor, saves, inplace)             \
  m.def(#name "(Tensor self) -> Tensor");                                 \
  ACTEXT_IF_INPLACE(inplace, m.def(#name "_(Tensor(a!) self) -> ()");)    \
  m.def(#name                                                             \
        "_backward(Tensor grad_output, Tensor " ACTEXT_SAVED_NAME_##saves \
        ") -> Tensor");
  ACTEXT_SIMPLE_ACTIVATIONS(ACTEXT_SIMPLE_DEF)
#undef ACTEXT_SIMPLE_DEF
#define ACTEXT_PARAM_DEF(name, act, functor, saves, inplace, params)           \
  m.def(#name "(Tensor self" ACTEXT_P_SCHEMA_##params ") -> Tensor");          \
  ACTEXT_IF_INPLACE(                                                           \
      inplace,                                                                 \
      m.def(#name "_(Tensor(a!) self" ACTEXT_P_SCHEMA_##params ") -> ()");)    \
  m.def(                                                                       \
      #name                                                                    \
      "_backward(Tensor grad_output, Tensor self" ACTEXT_P_SCHEMA_BWD_##params \
      ") -> Tensor");
  ACTEXT_PARAM_ACTIVATIONS(ACTEXT_PARAM_DEF)
#undef ACTEXT_PARAM_DEF
  m.def(
      "leaky_relu(Tensor self, float negative_slope=0.01, "
      "bool save_output=False) -> Tensor");
  m.def("leaky_relu_(Tensor(a!) self, float negative_slope=0.01) -> ()");
  m.def(
      "leaky_relu_backward(Tensor grad_output, Tensor saved, "
      "float negative_slope, bool saved_is_output) -> Tensor");
  m.def(
      "elu(Tensor self, float alpha=1.0, float scale=1.0, "
      "float input_scale=1.0, bool save_output=False) -> Tensor");
  m.def(
      "elu_(Tensor(a!) self, float alpha=1.0, float scale=1.0, "
      "float input_scale=1.0) -> ()");
  m.def(
      "elu_backward(Tensor grad_output, Tensor saved, float alpha, "
      "float scale, float input_scale, bool saved_is_output) -> Tensor");
  m.def("selu(Tensor self) -> Tensor");
  m.def("selu_(Tensor(a!) self) -> ()");
  m.def("gelu(Tensor self, str approximate='none') -> Tensor");
  m.def(
      "gelu_backward(Tensor grad_output, Tensor self, str approximate) -> "
      "Tensor");
  m.def(
      "softplus(Tensor self, float beta=1.0, float threshold=20.0) -> Tensor");
  m.def(
      "softplus_backward(Tensor grad_output, Tensor self, float beta, "
      "float threshold) -> Tensor");
  m.def("rrelu_noise(Tensor self, Tensor uniform) -> Tensor");
  m.def("rrelu_with_noise(Tensor self, Tensor noise) -> Tensor");
  m.def("prelu(Tensor self, Tensor weight) -> Tensor");
  m.def(
      "prelu_backward(Tensor grad_output, Tensor self, Tensor weight) "
      "-> (Tensor, Tensor)");
  m.def(
      "prelu_count(Tensor input, Tensor weight, int dim) -> (Tensor, Tensor)");
  m.def(
      "bias_act(Tensor input, Tensor? bias, str act, int dim, float alpha, "
      "float gain, float? clamp) -> Tensor");
  m.def(
      "bias_act_backward(Tensor grad_output, Tensor input, Tensor? bias, "
      "str act, int dim, float alpha, float gain, float? clamp, "
      "bool bias_grad) -> (Tensor, Tensor)");
  m.def(
      "bias_act_count(Tensor input, Tensor bias, str act, int dim, "
      "float alpha) -> (Tensor, Tensor)");
  m.def(
      "gated(Tensor gate, Tensor up, str act, float alpha, "
      "bool inplace_backward=False) -> Tensor");
  m.def(
      "gated_backward(Tensor grad_output, Tensor gate, Tensor up, str act, "
      "float alpha) -> (Tensor, Tensor)");
  m.def(
      "gated_backward_(Tensor grad_output, Tensor(a!) gate, Tensor(b!) up, "
      "str act, float alpha) -> ()");
  m.def(
      "gated_split(Tensor input, str act, float alpha, int dim, "
      "bool up_first) -> Tensor");
  m.def(
      "gated_split_backward(Tensor grad_output, Tensor input, str act, "
      "float alpha, int dim, bool up_first) -> Tensor");
}

// One implementation serves both devices: it branches on the tensors'
// device only to call the CPU schedule or the CUDA launchers (launch.cpp).
#define ACTEXT_IMPL_ALL(m)                                              \
  ACTEXT_SIMPLE_ACTIVATIONS(ACTEXT_SIMPLE_REGISTER)                     \
  ACTEXT_PARAM_ACTIVATIONS(ACTEXT_PARAM_REGISTER)                       \
  m.impl("leaky_relu", &activations_ext::leaky_relu);                   \
  m.impl("leaky_relu_", &activations_ext::leaky_relu_);                 \
  m.impl("leaky_relu_backward", &activations_ext::leaky_relu_backward); \
  m.impl("elu", &activations_ext::elu);                                 \
  m.impl("elu_", &activations_ext::elu_);                               \
  m.impl("elu_backward", &activations_ext::elu_backward);               \
  m.impl("selu", &activations_ext::selu);                               \
  m.impl("selu_", &activations_ext::selu_);                             \
  m.impl("gelu", &activations_ext::gelu);                               \
  m.impl("gelu_backward", &activations_ext::gelu_backward);             \
  m.impl("softplus", &activations_ext::softplus);                       \
  m.impl("softplus_backward", &activations_ext::softplus_backward);     \
  m.impl("rrelu_noise", &activations_ext::rrelu_noise);                 \
  m.impl("rrelu_with_noise", &activations_ext::rrelu_with_noise);       \
  m.impl("prelu", &activations_ext::prelu);                             \
  m.impl("prelu_backward", &activations_ext::prelu_backward);           \
  m.impl("prelu_count", &activations_ext::prelu_count);                 \
  m.impl("bias_act", &activations_ext::bias_act);                       \
  m.impl("bias_act_backward", &activations_ext::bias_act_backward);     \
  m.impl("bias_act_count", &activations_ext::bias_act_count);           \
  m.impl("gated", &activations_ext::gated);                             \
  m.impl("gated_backward", &activations_ext::gated_backward);           \
  m.impl("gated_backward_", &activations_ext::gated_backward_);         \
  m.impl("gated_split", &activations_ext::gated_split);                 \
  m.impl("gated_split_backward", &activations_ext::gated_split_backward)
#define ACTEXT_SIMPLE_REGISTER(name, act, functor, saves, inplace)          \
  m.impl(#name, &activations_ext::name);                                    \
  ACTEXT_IF_INPLACE(inplace, m.impl(#name "_", &activations_ext::name##_);) \
  m.impl(#name "_backward", &activations_ext::name##_backward);
#define ACTEXT_PARAM_REGISTER(name, act, functor, saves, inplace, params) \
  ACTEXT_SIMPLE_REGISTER(name, act, functor, saves, inplace)

TORCH_LIBRARY_IMPL(activations_ext, CPU, m) { ACTEXT_IMPL_ALL(m); }

// A build without CUDA kernels registers nothing for CUDA tensors (the
// dispatcher then says so); cuda/stub.cpp holds that build's launchers.
TORCH_LIBRARY_IMPL(activations_ext, CUDA, m) {
  if (activations_ext::built_with_cuda()) {
    ACTEXT_IMPL_ALL(m);
  }
}
#undef ACTEXT_PARAM_REGISTER
#undef ACTEXT_SIMPLE_REGISTER
#undef ACTEXT_IMPL_ALL
