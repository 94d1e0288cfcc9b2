// Autograd for every operator, the way ATen's generated VariableType kernels
// do it: the Autograd kernel runs the operator below autograd, records a
// plain autograd Node (set_history / rebase_history) and, when an input
// carries a forward-mode tangent, computes the output's tangent
// (_fw_grad / _set_fw_grad). Unlike torch::autograd::Function, which is
// refused under torch.func transforms by design, such kernels work under
// grad, vjp, jacrev, jvp, jacfwd and hessian.
//
// One mechanism serves every operator:
// - a forward operator's Node calls our backward operator; its forward
//   tangent is that same backward operator applied to the input's tangent
//   (for an elementwise activation, f'(x) * t is what backward computes
//   from the incoming gradient t);
// - a backward operator B(g, s) = g * f'(s) has a Node of its own: in g it
//   is linear (B itself), in s it needs d f'(s) / ds, which each family
//   writes as a composite of our operators and ATen arithmetic (`second`
//   below), itself differentiable. So gradients of any order, and forward
//   AD of the backward operators (hessian = jacfwd(jacrev(f))), come from
//   our own operators.
//
// Each activation is a family: a small struct naming its operators and
// scalar parameters; the templates below do the rest.
#include <ATen/ATen.h>
#include <ATen/ExpandUtils.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/VariableTypeUtils.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/graph_task.h>
#include <torch/csrc/autograd/saved_variable.h>
#include <torch/library.h>

#include "activations.h"
#include "table.h"

#include <cmath>
#include <string>

namespace activations_ext {
namespace {

using at::Tensor;
using torch::autograd::Node;
using torch::autograd::SavedVariable;
using torch::autograd::variable_list;

// ------------------------------------------------ dispatcher entry points

template <typename Sig>
c10::TypedOperatorHandle<Sig> handle(const char* name) {
  return c10::Dispatcher::singleton()
      .findSchemaOrThrow(name, "")
      .template typed<Sig>();
}

#define ACTEXT_OP(fn, name, sig)                                  \
  template <typename... Args>                                     \
  decltype(auto) fn(Args&&... args) {                             \
    static const auto op = handle<sig>("activations_ext::" name); \
    return op.call(std::forward<Args>(args)...);                  \
  }

using Unary = Tensor(const Tensor&);
using UnaryInplace = void(const Tensor&);
using UnaryBackward = Tensor(const Tensor&, const Tensor&);
#define ACTEXT_SIMPLE_HANDLES(name, act, functor, saves, inplace)          \
  ACTEXT_OP(name##_op, #name, Unary)                                       \
  ACTEXT_IF_INPLACE(inplace,                                               \
                    ACTEXT_OP(name##_inplace_op, #name "_", UnaryInplace)) \
  ACTEXT_OP(name##_bwd_op, #name "_backward", UnaryBackward)
ACTEXT_SIMPLE_ACTIVATIONS(ACTEXT_SIMPLE_HANDLES)
#undef ACTEXT_SIMPLE_HANDLES
#define ACTEXT_PARAM_HANDLES(name, act, functor, saves, inplace, params)     \
  ACTEXT_OP(name##_op, #name, Tensor(const Tensor& ACTEXT_P_TYPES_##params)) \
  ACTEXT_IF_INPLACE(inplace,                                                 \
                    ACTEXT_OP(name##_inplace_op, #name "_",                  \
                              void(const Tensor& ACTEXT_P_TYPES_##params)))  \
  ACTEXT_OP(name##_bwd_op, #name "_backward",                                \
            Tensor(const Tensor&, const Tensor& ACTEXT_P_TYPES_##params))
ACTEXT_PARAM_ACTIVATIONS(ACTEXT_PARAM_HANDLES)
#undef ACTEXT_PARAM_HANDLES
ACTEXT_OP(leaky_op, "leaky_relu", Tensor(const Tensor&, double, bool))
ACTEXT_OP(leaky_inplace_op, "leaky_relu_", void(const Tensor&, double))
ACTEXT_OP(leaky_bwd_op, "leaky_relu_backward",
          Tensor(const Tensor&, const Tensor&, double, bool))
ACTEXT_OP(elu_op, "elu", Tensor(const Tensor&, double, double, double, bool))
ACTEXT_OP(elu_inplace_op, "elu_", void(const Tensor&, double, double, double))
ACTEXT_OP(elu_bwd_op, "elu_backward",
          Tensor(const Tensor&, const Tensor&, double, double, double, bool))
ACTEXT_OP(selu_op, "selu", Unary)
ACTEXT_OP(selu_inplace_op, "selu_", UnaryInplace)
ACTEXT_OP(gelu_op, "gelu", Tensor(const Tensor&, c10::string_view))
ACTEXT_OP(gelu_bwd_op, "gelu_backward",
          Tensor(const Tensor&, const Tensor&, c10::string_view))
ACTEXT_OP(softplus_op, "softplus", Tensor(const Tensor&, double, double))
ACTEXT_OP(softplus_bwd_op, "softplus_backward",
          Tensor(const Tensor&, const Tensor&, double, double))
ACTEXT_OP(rrelu_noise_op, "rrelu_noise", UnaryBackward)
ACTEXT_OP(rrelu_with_noise_op, "rrelu_with_noise", UnaryBackward)
ACTEXT_OP(prelu_op, "prelu", Tensor(const Tensor&, const Tensor&))
using PreluBackwardSig = std::tuple<Tensor, Tensor>(const Tensor&,
                                                    const Tensor&,
                                                    const Tensor&);
ACTEXT_OP(prelu_bwd_op, "prelu_backward", PreluBackwardSig)
using BiasActSig = Tensor(const Tensor&, const std::optional<Tensor>&,
                          c10::string_view, int64_t, double, double,
                          std::optional<double>);
using BiasActBackwardSig = std::tuple<Tensor, Tensor>(
    const Tensor&, const Tensor&, const std::optional<Tensor>&,
    c10::string_view, int64_t, double, double, std::optional<double>, bool);
ACTEXT_OP(bias_act_op, "bias_act", BiasActSig)
ACTEXT_OP(bias_act_bwd_op, "bias_act_backward", BiasActBackwardSig)
using CountSig = std::tuple<Tensor, Tensor>(const Tensor&, const Tensor&,
                                            c10::string_view, int64_t, double);
ACTEXT_OP(bias_act_count_op, "bias_act_count", CountSig)
using PreluCountSig = std::tuple<Tensor, Tensor>(const Tensor&, const Tensor&,
                                                 int64_t);
ACTEXT_OP(prelu_count_op, "prelu_count", PreluCountSig)
using GatedSig = Tensor(const Tensor&, const Tensor&, c10::string_view, double,
                        bool);
ACTEXT_OP(gated_op, "gated", GatedSig)
using GatedBackwardSig = std::tuple<Tensor, Tensor>(const Tensor&,
                                                    const Tensor&,
                                                    const Tensor&,
                                                    c10::string_view, double);
ACTEXT_OP(gated_bwd_op, "gated_backward", GatedBackwardSig)
using GatedBackwardInplaceSig = void(const Tensor&, const Tensor&,
                                     const Tensor&, c10::string_view, double);
ACTEXT_OP(gated_bwd_inplace_op, "gated_backward_", GatedBackwardInplaceSig)
using GatedSplitSig = Tensor(const Tensor&, c10::string_view, double, int64_t,
                             bool);
ACTEXT_OP(gated_split_op, "gated_split", GatedSplitSig)
using GatedSplitBackwardSig = Tensor(const Tensor&, const Tensor&,
                                     c10::string_view, double, int64_t, bool);
ACTEXT_OP(gated_split_bwd_op, "gated_split_backward", GatedSplitBackwardSig)
#undef ACTEXT_OP

// ----------------------------------------------------------------- helpers

bool grad_mode() { return at::GradMode::is_enabled(); }

// True when autograd must record this call.
bool needs_grad(const Tensor& t) { return t.defined() && t.requires_grad(); }

// The forward-mode tangent of `t` (undefined when it has none).
Tensor tangent(const Tensor& t) {
  return t.defined() ? t._fw_grad(/*level=*/0) : Tensor();
}

// `t` without its tangent, for the tangent formulas (as the generated
// kernels' toNonOptPrimal): a formula evaluated on a dual tensor would give
// a tangent that has a tangent of its own.
Tensor primal(const Tensor& t) {
  return (t.defined() && t._fw_grad(/*level=*/0).defined())
             ? t._fw_primal(/*level=*/0)
             : t;
}

// Runs `f` with the Autograd key (and ADInplaceOrView) skipped.
template <typename F>
decltype(auto) below_autograd(F&& f) {
  at::AutoDispatchBelowADInplaceOrView guard;
  return f();
}

// Saving the output instead of the input (memory-saving mode) is exact for
// float32/float64; in half precision the output-based ELU derivative loses
// too much, so those keep the input.
bool can_save_output(const Tensor& x) {
  return x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble;
}

// a + b where either may be undefined (an undefined tensor is zero).
Tensor add_defined(const Tensor& a, const Tensor& b) {
  if (!a.defined()) {
    return b;
  }
  if (!b.defined()) {
    return a;
  }
  return a + b;
}

// Nodes are reference counted with c10::intrusive_ptr in recent torch and
// with std::shared_ptr in older releases; both are handled.
template <typename N>
auto make_node() {
  if constexpr (std::is_base_of_v<c10::intrusive_ptr_target, N>) {
    return c10::make_intrusive<N>();
  } else {
    return std::make_shared<N>();
  }
}

// The owning pointer to a node, which SavedVariable::unpack wants so that a
// saved output comes back attached to the graph.
template <typename Self>
auto self_pointer(Self* self) {
  if constexpr (std::is_base_of_v<c10::intrusive_ptr_target, Self>) {
    return c10::intrusive_ptr<Node>::reclaim_copy(self);
  } else {
    return self->shared_from_this();
  }
}

// The error for an in-place call on a tensor autograd cannot rewrite
// (a leaf that requires grad, a view of one), as torch's in-place ops give.
void check_inplace(const Tensor& x, bool requires_grad) {
  torch::autograd::check_inplace(x, requires_grad);
}

// ------------------------------------------------------------ the families
//
// A family names its operators and parameters:
//   P                           the scalar parameters (forward arguments)
//   kName                       for the Node's name
//   forward(x, p), inplace(x, p)  the operators (inplace only if kInplace)
//   backward(g, s, p, from_output)  the backward operator: g * f'(s)
//   second(h, s, p, from_output)   h * d f'(s) / ds, differentiable; an
//                               undefined tensor where it is zero
//   from_output(x, p)           whether the forward saves its output
//   kInplace, kInplaceCopiesInput  in-place form; whether, when recorded,
//                               it keeps a copy of its input (its
//                               derivative needs the input) rather than
//                               its output
// Derivatives at the kinks follow torch's formulas.

constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1/sqrt(2 pi)
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kGeluKappa = 0.044715;

struct NoParams {};

struct LeakyParams {
  double slope;
  bool save_output;
};
struct LeakyReluFamily {
  using P = LeakyParams;
  static constexpr const char* kName = "LeakyReluBackward";
  static constexpr bool kInplace = true;
  static constexpr bool kInplaceCopiesInput = false;
  static Tensor forward(const Tensor& x, const P& p) {
    return leaky_op(x, p.slope, p.save_output);
  }
  static void inplace(const Tensor& x, const P& p) {
    leaky_inplace_op(x, p.slope);
  }
  // Raises for a negative slope from the output, as torch's in-place
  // backward does.
  static Tensor backward(const Tensor& g, const Tensor& s, const P& p,
                         bool from_output) {
    return leaky_bwd_op(g, s, p.slope, from_output);
  }
  static Tensor second(const Tensor&, const Tensor&, const P&, bool) {
    return Tensor();
  }
  static bool from_output(const Tensor& x, const P& p) {
    return p.save_output && can_save_output(x);
  }
};

struct EluParams {
  double alpha, scale, input_scale;
  bool save_output;
};
// ELU, and SELU (ELU with torch's constants, its own forward operators).
template <bool kSelu>
struct EluFamilyT {
  using P = EluParams;
  static constexpr const char* kName = kSelu ? "SeluBackward" : "EluBackward";
  static constexpr bool kInplace = true;
  static constexpr bool kInplaceCopiesInput = false;
  static Tensor forward(const Tensor& x, const P& p) {
    if constexpr (kSelu) {
      return selu_op(x);
    } else {
      return elu_op(x, p.alpha, p.scale, p.input_scale, p.save_output);
    }
  }
  static void inplace(const Tensor& x, const P& p) {
    if constexpr (kSelu) {
      selu_inplace_op(x);
    } else {
      elu_inplace_op(x, p.alpha, p.scale, p.input_scale);
    }
  }
  static Tensor backward(const Tensor& g, const Tensor& s, const P& p,
                         bool from_output) {
    return elu_bwd_op(g, s, p.alpha, p.scale, p.input_scale, from_output);
  }
  // Zero where s > 0. Below: from the output, g * input_scale * (y + a s) in
  // y is g * input_scale; from the input, the exp term times input_scale
  // again.
  static Tensor second(const Tensor& h, const Tensor& s, const P& p,
                       bool from_output) {
    Tensor d = from_output
                   ? h * p.input_scale
                   : backward(h, s, p, /*from_output=*/false) * p.input_scale;
    return d.masked_fill(s > 0, 0);
  }
  static bool from_output(const Tensor& x, const P& p) {
    return !kSelu && p.save_output && can_save_output(x);
  }
};
using EluFamily = EluFamilyT<false>;
using SeluFamily = EluFamilyT<true>;
EluParams selu_params() { return {kSeluAlpha, kSeluScale, 1.0, false}; }

// f''(x) of gelu, exact or tanh form.
Tensor gelu_second(const Tensor& x, bool tanh_form) {
  if (!tanh_form) {
    // d/dx (Phi(x) + x phi(x)) = phi(x) (2 - x^2)
    const Tensor pdf = at::exp(-0.5 * x * x) * kInvSqrt2Pi;
    return pdf * (2 - x * x);
  }
  // f = x s(2u), u = sqrt(2/pi) (x + k x^3); with q = s (1 - s):
  // f'' = q (4 u' + 4 x (1 - 2 s) u'^2 + 2 x u'').
  const Tensor x2 = x * x;
  const Tensor u = kSqrt2OverPi * (x + kGeluKappa * x2 * x);
  const Tensor du = kSqrt2OverPi * (1 + 3 * kGeluKappa * x2);
  const Tensor d2u = (kSqrt2OverPi * 6 * kGeluKappa) * x;
  const Tensor s = sigmoid_op(2 * u);
  const Tensor q = s * (1 - s);
  return q * (4 * du + 4 * x * (1 - 2 * s) * du * du + 2 * x * d2u);
}

struct GeluParams {
  std::string approximate;
};
struct GeluFamily {
  using P = GeluParams;
  static constexpr const char* kName = "GeluBackward";
  static constexpr bool kInplace = false;
  static constexpr bool kInplaceCopiesInput = false;
  static Tensor forward(const Tensor& x, const P& p) {
    return gelu_op(x, p.approximate);
  }
  static void inplace(const Tensor&, const P&) {}
  static Tensor backward(const Tensor& g, const Tensor& x, const P& p, bool) {
    return gelu_bwd_op(g, x, p.approximate);
  }
  static Tensor second(const Tensor& h, const Tensor& x, const P& p, bool) {
    return h * gelu_second(x, p.approximate == "tanh");
  }
  static bool from_output(const Tensor&, const P&) { return false; }
};

// silu'' = s (1 - s) (2 + x (1 - 2 s)), s = sigmoid(x).
Tensor silu_second(const Tensor& x) {
  const Tensor s = sigmoid_op(x);
  return s * (1 - s) * (2 + x * (1 - 2 * s));
}

// softplus'' = beta s (1 - s), s = sigmoid(beta x); 0 where beta x > threshold.
Tensor softplus_second(const Tensor& x, double beta, double threshold) {
  const Tensor z = x * beta;
  const Tensor s = sigmoid_op(z);
  return (beta * s * (1 - s)).masked_fill(z > threshold, 0);
}

struct SoftplusParams {
  double beta, threshold;
};
struct SoftplusFamily {
  using P = SoftplusParams;
  static constexpr const char* kName = "SoftplusBackward";
  static constexpr bool kInplace = false;
  static constexpr bool kInplaceCopiesInput = false;
  static Tensor forward(const Tensor& x, const P& p) {
    return softplus_op(x, p.beta, p.threshold);
  }
  static void inplace(const Tensor&, const P&) {}
  static Tensor backward(const Tensor& g, const Tensor& x, const P& p, bool) {
    return softplus_bwd_op(g, x, p.beta, p.threshold);
  }
  static Tensor second(const Tensor& h, const Tensor& x, const P& p, bool) {
    return h * softplus_second(x, p.beta, p.threshold);
  }
  static bool from_output(const Tensor&, const P&) { return false; }
};

// mish = x t, t = tanh(softplus(x)), t' = s (1 - t^2) with s = sigmoid(x):
// mish'' = 2 s (1 - t^2) + x s (1 - t^2) ((1 - s) - 2 t s).
Tensor mish_second(const Tensor& x) {
  const Tensor s = sigmoid_op(x);
  const Tensor t = tanh_op(softplus_op(x, 1.0, 20.0));
  const Tensor w = s * (1 - t * t);
  return 2 * w + x * w * ((1 - s) - 2 * t * s);
}

// hardswish'' = 1/3 on (-3, 3), 0 elsewhere (torch's formula).
Tensor hardswish_second(const Tensor& x) {
  return at::where(at::logical_and(x > -3.0, x < 3.0),
                   at::scalar_tensor(1.0 / 3.0, x.options()),
                   at::scalar_tensor(0.0, x.options()));
}

// The second derivatives of the table's activations: h * d f'(s) / ds for
// the saved tensor s (the output where backward keeps it), written with our
// operators and ATen arithmetic so that they are differentiable in turn;
// undefined where they are zero.
template <Act A>
Tensor second_of(const Tensor& h, const Tensor& s);
template <>
Tensor second_of<Act::ReLU>(const Tensor&, const Tensor&) {
  return Tensor();
}
// g * y * (1 - y) in y: g * (1 - 2y).
template <>
Tensor second_of<Act::Sigmoid>(const Tensor& h, const Tensor& y) {
  return h * (1 - 2 * y);
}
// g * (1 - y^2) in y: -2 g y.
template <>
Tensor second_of<Act::Tanh>(const Tensor& h, const Tensor& y) {
  return -2 * h * y;
}
template <>
Tensor second_of<Act::SiLU>(const Tensor& h, const Tensor& x) {
  return h * silu_second(x);
}
template <>
Tensor second_of<Act::Mish>(const Tensor& h, const Tensor& x) {
  return h * mish_second(x);
}
template <>
Tensor second_of<Act::Hardswish>(const Tensor& h, const Tensor& x) {
  return h * hardswish_second(x);
}

// hardsigmoid'' = 0 (piecewise linear), kept attached to the graph as
// torch's is.
template <>
Tensor second_of<Act::Hardsigmoid>(const Tensor& h, const Tensor&) {
  return h * 0.0;
}
// softsign'' = -2 sign(x) / (1 + |x|)^3.
template <>
Tensor second_of<Act::Softsign>(const Tensor& h, const Tensor& x) {
  const Tensor d = x.abs() + 1;
  return h * (-2 * x.sign()) / (d * d * d);
}

// relu6'' = 0 (piecewise linear), attached to the graph.
template <>
Tensor second_of<Act::ReLU6>(const Tensor& h, const Tensor&) {
  return h * 0.0;
}
// logsigmoid' = sigmoid(-x), so logsigmoid'' = -s (1 - s), s = sigmoid(x).
template <>
Tensor second_of<Act::LogSigmoid>(const Tensor& h, const Tensor& x) {
  const Tensor s = sigmoid_op(x);
  return h * (-(s * (1 - s)));
}
// tanhshrink' = tanh^2, so tanhshrink'' = 2 t (1 - t^2), t = tanh(x).
template <>
Tensor second_of<Act::Tanhshrink>(const Tensor& h, const Tensor& x) {
  const Tensor t = tanh_op(x);
  return h * (2 * t * (1 - t * t));
}
// quick_gelu' = s + k x s (1 - s) with s = sigmoid(k x), k = 1.702:
// quick_gelu'' = k s (1 - s) (2 + k x (1 - 2 s)).
template <>
Tensor second_of<Act::QuickGELU>(const Tensor& h, const Tensor& x) {
  constexpr double k = 1.702;
  const Tensor s = sigmoid_op(x * k);
  return h * (k * s * (1 - s) * (2 + k * x * (1 - 2 * s)));
}
// relu_squared' = 2 relu(x), so relu_squared'' = 2 where x > 0, else 0.
template <>
Tensor second_of<Act::ReLUSquared>(const Tensor& h, const Tensor& x) {
  return (2 * h).masked_fill(x <= 0, 0);
}

// The family of each table row.
#define ACTEXT_SIMPLE_FAMILY(name, act, functor, saves, kind)                  \
  struct name##_family {                                                       \
    using P = NoParams;                                                        \
    static constexpr const char* kName = #name "_backward";                    \
    static constexpr bool kInplace = ACTEXT_HAS_INPLACE_##kind;                \
    static constexpr bool kInplaceCopiesInput = ACTEXT_INPLACE_COPIES_##kind;  \
    static Tensor forward(const Tensor& x, const P&) { return name##_op(x); }  \
    static void inplace(const Tensor& x, const P&) {                           \
      ACTEXT_IF_INPLACE(kind, name##_inplace_op(x);)                           \
      (void)x;                                                                 \
    }                                                                          \
    static Tensor backward(const Tensor& g, const Tensor& s, const P&, bool) { \
      return name##_bwd_op(g, s);                                              \
    }                                                                          \
    static Tensor second(const Tensor& h, const Tensor& s, const P&, bool) {   \
      return second_of<Act::act>(h, s);                                        \
    }                                                                          \
    static bool from_output(const Tensor&, const P&) {                         \
      return ACTEXT_SAVES_OUTPUT_##saves;                                      \
    }                                                                          \
  };
ACTEXT_SIMPLE_ACTIVATIONS(ACTEXT_SIMPLE_FAMILY)
#undef ACTEXT_SIMPLE_FAMILY

// The family of each row of the parameter table: its (one or two) float
// parameters, in schema order. Every row is piecewise linear: the second
// derivative is zero, kept attached to the graph as torch's is.
struct TwoParams {
  double a = 0.0;
  double b = 0.0;
};
#define ACTEXT_PARAM_FAMILY(name, act, functor, saves, kind, params)          \
  struct name##_family {                                                      \
    using P = TwoParams;                                                      \
    static constexpr const char* kName = #name "_backward";                   \
    static constexpr bool kInplace = ACTEXT_HAS_INPLACE_##kind;               \
    static constexpr bool kInplaceCopiesInput = ACTEXT_INPLACE_COPIES_##kind; \
    static Tensor forward(const Tensor& x, const P& p) {                      \
      return name##_op(x ACTEXT_P_FIELDS_##params);                           \
    }                                                                         \
    static void inplace(const Tensor& x, const P& p) {                        \
      ACTEXT_IF_INPLACE(kind, name##_inplace_op(x ACTEXT_P_FIELDS_##params);) \
      (void)x;                                                                \
      (void)p;                                                                \
    }                                                                         \
    static Tensor backward(const Tensor& g, const Tensor& s, const P& p,      \
                           bool) {                                            \
      return name##_bwd_op(g, s ACTEXT_P_FIELDS_##params);                    \
    }                                                                         \
    static Tensor second(const Tensor& h, const Tensor&, const P&, bool) {    \
      return h * 0.0;                                                         \
    }                                                                         \
    static bool from_output(const Tensor&, const P&) { return false; }        \
  };
ACTEXT_PARAM_ACTIVATIONS(ACTEXT_PARAM_FAMILY)
#undef ACTEXT_PARAM_FAMILY

// ------------------------------------------------- the generic mechanism

// The Node of a forward operator: saves the input or the output and its
// parameters; backward is the family's backward operator, called through
// the dispatcher (so that, with create_graph, it records its own Node).
template <typename Fam>
struct ForwardNode : Node {
  SavedVariable saved;
  typename Fam::P params;
  bool from_output = false;

  variable_list apply(variable_list&& grads) override {
    if (!grads[0].defined()) {
      return {Tensor()};
    }
    const Tensor s = saved.unpack(self_pointer(this));
    return {Fam::backward(grads[0], s, params, from_output)};
  }
  std::string name() const override { return Fam::kName; }
  void release_variables() override { saved.reset_data(); }
};

// The Node of a backward operator B(g, s) = g * f'(s): d/dg is B, d/ds is
// the family's second derivative.
template <typename Fam>
struct BackwardNode : Node {
  SavedVariable g;
  SavedVariable s;
  typename Fam::P params;
  bool from_output = false;

  variable_list apply(variable_list&& grads) override {
    const Tensor& gg = grads[0];
    if (!gg.defined()) {
      return {Tensor(), Tensor()};
    }
    const auto self = self_pointer(this);
    const Tensor s_ = s.unpack(self);
    Tensor dg;
    Tensor ds;
    if (should_compute_output(0)) {
      dg = Fam::backward(gg, s_, params, from_output);
    }
    if (should_compute_output(1)) {
      ds = Fam::second(gg * g.unpack(self), s_, params, from_output);
    }
    return {dg, ds};
  }
  std::string name() const override {
    return std::string(Fam::kName) + "Backward";
  }
  void release_variables() override {
    g.reset_data();
    s.reset_data();
  }
};

template <typename Fam>
Tensor forward_autograd(const Tensor& x, const typename Fam::P& p) {
  const bool record = grad_mode() && needs_grad(x);
  const Tensor xt = tangent(x);
  Tensor y = below_autograd([&] { return Fam::forward(x, p); });
  if (!record && !xt.defined()) {
    return y;
  }
  const bool from_output = Fam::from_output(x, p);
  if (record) {
    auto node = make_node<ForwardNode<Fam>>();
    node->set_next_edges(torch::autograd::collect_next_edges(x));
    node->params = p;
    node->from_output = from_output;
    torch::autograd::set_history(y, node);
    node->saved =
        from_output ? SavedVariable(y, true) : SavedVariable(x, false);
  }
  if (xt.defined()) {
    y._set_fw_grad(
        Fam::backward(xt, from_output ? y : primal(x), p, from_output),
        /*level=*/0, /*is_inplace_op=*/false);
  }
  return y;
}

template <typename Fam>
void inplace_autograd(const Tensor& x, const typename Fam::P& p) {
  const bool record = grad_mode() && needs_grad(x);
  const Tensor xt = tangent(x);
  if (!record && !xt.defined()) {
    below_autograd([&] { Fam::inplace(x, p); });
    torch::autograd::increment_version(x);
    return;
  }
  check_inplace(x, record);
  // A derivative that needs the input keeps a copy of it (as torch does);
  // one that needs only the output reads x after the operation.
  Tensor original;
  if (Fam::kInplaceCopiesInput) {
    original = x.clone();
  }
  decltype(make_node<ForwardNode<Fam>>()) node;
  if (record) {
    node = make_node<ForwardNode<Fam>>();
    node->set_next_edges(torch::autograd::collect_next_edges(x));
    node->params = p;
    node->from_output = !Fam::kInplaceCopiesInput;
  }
  // Computed before x changes: its formula needs the input.
  const Tensor new_tangent =
      (xt.defined() && Fam::kInplaceCopiesInput)
          ? Fam::backward(xt, primal(original), p, /*from_output=*/false)
          : Tensor();
  below_autograd([&] { Fam::inplace(x, p); });
  torch::autograd::increment_version(x);
  if (node) {
    torch::autograd::rebase_history(x, node);
    node->saved = Fam::kInplaceCopiesInput
                      ? SavedVariable(original, false)
                      : SavedVariable(x, true, x.is_view());
  }
  if (xt.defined()) {
    const Tensor t =
        Fam::kInplaceCopiesInput
            ? new_tangent
            : Fam::backward(xt, primal(x), p, /*from_output=*/true);
    // The tangent is updated in place, as in-place operations must.
    xt.copy_(t);
  }
}

template <typename Fam>
Tensor backward_autograd(const Tensor& g, const Tensor& s,
                         const typename Fam::P& p, bool from_output) {
  const bool record = grad_mode() && (needs_grad(g) || needs_grad(s));
  const Tensor gt = tangent(g);
  const Tensor st = tangent(s);
  Tensor gi =
      below_autograd([&] { return Fam::backward(g, s, p, from_output); });
  if (!record && !gt.defined() && !st.defined()) {
    return gi;
  }
  if (record) {
    auto node = make_node<BackwardNode<Fam>>();
    node->set_next_edges(torch::autograd::collect_next_edges(g, s));
    node->params = p;
    node->from_output = from_output;
    torch::autograd::set_history(gi, node);
    node->g = SavedVariable(g, false);
    node->s = SavedVariable(s, false);
  }
  if (gt.defined() || st.defined()) {
    const Tensor g_p = primal(g);
    const Tensor s_p = primal(s);
    Tensor t = gt.defined() ? Fam::backward(gt, s_p, p, from_output) : Tensor();
    if (st.defined()) {
      t = add_defined(t, Fam::second(g_p * st, s_p, p, from_output));
    }
    if (!t.defined()) {
      t = at::zeros_like(gi);
    }
    gi._set_fw_grad(t, /*level=*/0, /*is_inplace_op=*/false);
  }
  return gi;
}

// ------------------------------------------------ the unary registrations

#define ACTEXT_SIMPLE_AUTOGRAD(name, act, functor, saves, inplace)        \
  Tensor name##_autograd(const Tensor& x) {                               \
    return forward_autograd<name##_family>(x, {});                        \
  }                                                                       \
  ACTEXT_IF_INPLACE(                                                      \
      inplace, void name##_inplace_autograd(const Tensor& x) {            \
        inplace_autograd<name##_family>(x, {});                           \
      })                                                                  \
  Tensor name##_backward_autograd(const Tensor& g, const Tensor& s) {     \
    return backward_autograd<name##_family>(g, s, {},                     \
                                            ACTEXT_SAVES_OUTPUT_##saves); \
  }
ACTEXT_SIMPLE_ACTIVATIONS(ACTEXT_SIMPLE_AUTOGRAD)
#undef ACTEXT_SIMPLE_AUTOGRAD

#define ACTEXT_PARAM_AUTOGRAD(name, act, functor, saves, inplace, params)    \
  Tensor name##_autograd(const Tensor& x ACTEXT_P_DECL_##params) {           \
    return forward_autograd<name##_family>(x, {ACTEXT_P_INIT_##params});     \
  }                                                                          \
  ACTEXT_IF_INPLACE(                                                         \
      inplace,                                                               \
      void name##_inplace_autograd(const Tensor& x ACTEXT_P_DECL_##params) { \
        inplace_autograd<name##_family>(x, {ACTEXT_P_INIT_##params});        \
      })                                                                     \
  Tensor name##_backward_autograd(const Tensor& g,                           \
                                  const Tensor& s ACTEXT_P_DECL_##params) {  \
    return backward_autograd<name##_family>(g, s, {ACTEXT_P_INIT_##params},  \
                                            false);                          \
  }
ACTEXT_PARAM_ACTIVATIONS(ACTEXT_PARAM_AUTOGRAD)
#undef ACTEXT_PARAM_AUTOGRAD

Tensor leaky_autograd(const Tensor& x, double slope, bool save_output) {
  return forward_autograd<LeakyReluFamily>(x, {slope, save_output});
}
void leaky_inplace_autograd(const Tensor& x, double slope) {
  inplace_autograd<LeakyReluFamily>(x, {slope, false});
}
Tensor leaky_backward_autograd(const Tensor& g, const Tensor& s, double slope,
                               bool from_output) {
  return backward_autograd<LeakyReluFamily>(g, s, {slope, false}, from_output);
}
Tensor elu_autograd(const Tensor& x, double alpha, double scale,
                    double input_scale, bool save_output) {
  return forward_autograd<EluFamily>(x,
                                     {alpha, scale, input_scale, save_output});
}
void elu_inplace_autograd(const Tensor& x, double alpha, double scale,
                          double input_scale) {
  inplace_autograd<EluFamily>(x, {alpha, scale, input_scale, false});
}
Tensor elu_backward_autograd(const Tensor& g, const Tensor& s, double alpha,
                             double scale, double input_scale,
                             bool from_output) {
  return backward_autograd<EluFamily>(g, s, {alpha, scale, input_scale, false},
                                      from_output);
}
Tensor selu_autograd(const Tensor& x) {
  return forward_autograd<SeluFamily>(x, selu_params());
}
void selu_inplace_autograd(const Tensor& x) {
  inplace_autograd<SeluFamily>(x, selu_params());
}
Tensor gelu_autograd(const Tensor& x, c10::string_view approximate) {
  return forward_autograd<GeluFamily>(x, {std::string(approximate)});
}
Tensor gelu_backward_autograd(const Tensor& g, const Tensor& x,
                              c10::string_view approximate) {
  return backward_autograd<GeluFamily>(g, x, {std::string(approximate)}, false);
}
Tensor softplus_autograd(const Tensor& x, double beta, double threshold) {
  return forward_autograd<SoftplusFamily>(x, {beta, threshold});
}
Tensor softplus_backward_autograd(const Tensor& g, const Tensor& x, double beta,
                                  double threshold) {
  return backward_autograd<SoftplusFamily>(g, x, {beta, threshold}, false);
}

// ------------------------------------------------------------------- PReLU

// The weight viewed so that it broadcasts against x along dim 1: shape
// [1, C, 1, ...] (C may be 1). Written with symbolic sizes so the double
// backward also traces under torch.compile with dynamic shapes.
Tensor weight_for_broadcast(const Tensor& w, const Tensor& x) {
  if (x.dim() == 0) {
    return w.reshape({});
  }
  std::vector<int64_t> shape(x.dim(), 1);
  shape[x.dim() >= 2 ? 1 : 0] = -1;
  return w.reshape(shape);
}

// Sums a tensor shaped like x down to the weight's shape.
Tensor sum_to_weight(const Tensor& t, const Tensor& w, const Tensor& x) {
  const Tensor wb = weight_for_broadcast(w, x);
  return at::sum_to(t, wb.sym_sizes()).reshape_symint(w.sym_sizes());
}

// y_t = (x > 0 ? x_t : w x_t) + (x > 0 ? 0 : x w_t), from primals.
Tensor prelu_tangent(const Tensor& x, const Tensor& w, const Tensor& xt,
                     const Tensor& wt) {
  Tensor t;
  if (xt.defined()) {
    t = std::get<0>(prelu_bwd_op(xt, x, w));
  }
  if (wt.defined()) {
    t = add_defined(t, (x * weight_for_broadcast(wt, x)).masked_fill(x > 0, 0));
  }
  return t;
}

// ----------------------------------------------------- RReLU (training)

// The noise is a random draw: not differentiable. Its inputs may carry
// gradients (an input x that requires grad), but the draws must not.
void check_constant_noise(const Tensor& t, const char* op, const char* what) {
  TORCH_CHECK(!needs_grad(t) && !tangent(t).defined(), "activations_ext.", op,
              ": ", what,
              " must not require grad (RReLU's noise is a random draw, not "
              "differentiable)");
}

Tensor rrelu_noise_autograd(const Tensor& x, const Tensor& u) {
  check_constant_noise(u, "rrelu_noise", "uniform");
  // Piecewise constant in x: no gradient, no tangent.
  return below_autograd([&] { return rrelu_noise_op(x, u); });
}

// y = x * noise: linear in x, so its gradient is the same operator applied
// to the incoming gradient (and its double backward comes for free).
struct NoiseMulNode : Node {
  SavedVariable noise;
  variable_list apply(variable_list&& grads) override {
    if (!grads[0].defined()) {
      return {Tensor(), Tensor()};
    }
    return {rrelu_with_noise_op(grads[0], noise.unpack(self_pointer(this))),
            Tensor()};
  }
  std::string name() const override { return "RreluWithNoiseBackward"; }
  void release_variables() override { noise.reset_data(); }
};

Tensor rrelu_with_noise_autograd(const Tensor& x, const Tensor& noise) {
  check_constant_noise(noise, "rrelu_with_noise", "noise");
  const bool record = grad_mode() && needs_grad(x);
  const Tensor xt = tangent(x);
  Tensor y = below_autograd([&] { return rrelu_with_noise_op(x, noise); });
  if (record) {
    auto node = make_node<NoiseMulNode>();
    node->set_next_edges(torch::autograd::collect_next_edges(x, noise));
    torch::autograd::set_history(y, node);
    node->noise = SavedVariable(noise, false);
  }
  if (xt.defined()) {
    y._set_fw_grad(rrelu_with_noise_op(xt, noise), /*level=*/0,
                   /*is_inplace_op=*/false);
  }
  return y;
}

struct PreluNode : Node {
  SavedVariable x;
  SavedVariable w;
  variable_list apply(variable_list&& grads) override {
    if (!grads[0].defined()) {
      return {Tensor(), Tensor()};
    }
    const auto self = self_pointer(this);
    auto [gi, gw] = prelu_bwd_op(grads[0], x.unpack(self), w.unpack(self));
    return {should_compute_output(0) ? gi : Tensor(),
            should_compute_output(1) ? gw : Tensor()};
  }
  std::string name() const override { return "PreluBackward"; }
  void release_variables() override {
    x.reset_data();
    w.reset_data();
  }
};

// gi = x > 0 ? g : w * g;  gw = sum(x > 0 ? 0 : x * g). With upstream
// gradients (ggi, ggw) for (gi, gw):
//   d/dg = x > 0 ? ggi : w * ggi + ggw * x
//   d/dx = x > 0 ? 0 : ggw * g
//   d/dw = sum(x > 0 ? 0 : ggi * g)
struct PreluBackwardNode : Node {
  SavedVariable g;
  SavedVariable x;
  SavedVariable w;
  variable_list apply(variable_list&& grads) override {
    const auto self = self_pointer(this);
    const Tensor g_ = g.unpack(self);
    const Tensor x_ = x.unpack(self);
    const Tensor w_ = w.unpack(self);
    const Tensor& ggi = grads[0];
    const Tensor& ggw = grads[1];
    const Tensor pos = x_ > 0;
    Tensor dg;
    Tensor dx;
    Tensor dw;
    if (ggi.defined()) {
      dg = std::get<0>(prelu_bwd_op(ggi, x_, w_));
      dw = sum_to_weight((ggi * g_).masked_fill(pos, 0), w_, x_);
    }
    if (ggw.defined()) {
      const Tensor ggwb = weight_for_broadcast(ggw, x_);
      dg = add_defined(dg, (ggwb * x_).masked_fill(pos, 0));
      dx = (ggwb * g_).masked_fill(pos, 0);
    }
    return {dg, dx, dw};
  }
  std::string name() const override { return "PreluBackwardBackward"; }
  void release_variables() override {
    g.reset_data();
    x.reset_data();
    w.reset_data();
  }
};

Tensor prelu_autograd(const Tensor& x, const Tensor& w) {
  const bool record = grad_mode() && (needs_grad(x) || needs_grad(w));
  const Tensor xt = tangent(x);
  const Tensor wt = tangent(w);
  Tensor y = below_autograd([&] { return prelu_op(x, w); });
  if (record) {
    auto node = make_node<PreluNode>();
    node->set_next_edges(torch::autograd::collect_next_edges(x, w));
    torch::autograd::set_history(y, node);
    node->x = SavedVariable(x, false);
    node->w = SavedVariable(w, false);
  }
  if (xt.defined() || wt.defined()) {
    y._set_fw_grad(prelu_tangent(primal(x), primal(w), xt, wt), /*level=*/0,
                   /*is_inplace_op=*/false);
  }
  return y;
}

std::tuple<Tensor, Tensor> prelu_backward_autograd(const Tensor& g,
                                                   const Tensor& x,
                                                   const Tensor& w) {
  const bool record =
      grad_mode() && (needs_grad(g) || needs_grad(x) || needs_grad(w));
  const Tensor gt = tangent(g);
  const Tensor xt = tangent(x);
  const Tensor wt = tangent(w);
  auto [gi, gw] = below_autograd([&] { return prelu_bwd_op(g, x, w); });
  if (record) {
    auto node = make_node<PreluBackwardNode>();
    node->set_next_edges(torch::autograd::collect_next_edges(g, x, w));
    torch::autograd::set_history(torch::autograd::flatten_tensor_args(gi, gw),
                                 node);
    node->g = SavedVariable(g, false);
    node->x = SavedVariable(x, false);
    node->w = SavedVariable(w, false);
  }
  if (gt.defined() || xt.defined() || wt.defined()) {
    const Tensor g_p = primal(g);
    const Tensor x_p = primal(x);
    const Tensor w_p = primal(w);
    const Tensor pos = x_p > 0;
    // gi_t = x > 0 ? g_t : w g_t + w_t g;  gw_t = sum(x > 0 ? 0 : x_t g + x
    // g_t)
    Tensor gi_t;
    Tensor gw_term;
    if (gt.defined()) {
      gi_t = std::get<0>(prelu_bwd_op(gt, x_p, w_p));
      gw_term = x_p * gt;
    }
    if (wt.defined()) {
      gi_t = add_defined(
          gi_t, (weight_for_broadcast(wt, x_p) * g_p).masked_fill(pos, 0));
    }
    if (xt.defined()) {
      gw_term = add_defined(gw_term, xt * g_p);
    }
    if (!gi_t.defined()) {
      gi_t = at::zeros_like(gi);
    }
    gi._set_fw_grad(gi_t, /*level=*/0, /*is_inplace_op=*/false);
    const Tensor gw_t =
        gw_term.defined() ? sum_to_weight(gw_term.masked_fill(pos, 0), w_p, x_p)
                          : at::zeros_like(gw);
    gw._set_fw_grad(gw_t, /*level=*/0, /*is_inplace_op=*/false);
  }
  return {gi, gw};
}

// ---------------------------------------------------------------- bias_act

// f''(z) of bias_act's activation `act` (parameter alpha, as bias_act takes
// it), or undefined where it is zero.
Tensor act_second(const Tensor& z, const std::string& act, double alpha) {
  if (act == "relu" || act == "leaky_relu" || act == "linear") {
    return Tensor();
  }
  if (act == "sigmoid") {
    const Tensor s = sigmoid_op(z);
    return s * (1 - s) * (1 - 2 * s);
  }
  if (act == "tanh") {
    const Tensor t = tanh_op(z);
    return -2 * t * (1 - t * t);
  }
  if (act == "elu" || act == "selu" || act == "celu") {
    const EluParams p = act == "elu" ? EluParams{alpha, 1.0, 1.0, false}
                        : act == "celu"
                            ? EluParams{alpha, 1.0, 1.0 / alpha, false}
                            : selu_params();
    return EluFamily::second(at::ones_like(z), z, p, false);
  }
  if (act == "gelu" || act == "gelu_tanh") {
    return gelu_second(z, act == "gelu_tanh");
  }
  if (act == "softplus") {
    return softplus_second(z, alpha, 20.0);
  }
  // The table's activations whose backward keeps the input: their second
  // derivative is already written in terms of it.
#define ACTEXT_SIMPLE_INPUT_SECOND(name, enumerator, functor, saves, inplace) \
  if (!ACTEXT_SAVES_OUTPUT_##saves && act == #name) {                         \
    return second_of<Act::enumerator>(at::ones_like(z), z);                   \
  }
  ACTEXT_SIMPLE_ACTIVATIONS(ACTEXT_SIMPLE_INPUT_SECOND)
#undef ACTEXT_SIMPLE_INPUT_SECOND
  // The parameter table's rows are piecewise linear.
#define ACTEXT_PARAM_SECOND(name, enumerator, functor, saves, inplace, params) \
  if (act == #name) {                                                          \
    return Tensor();                                                           \
  }
  ACTEXT_PARAM_ACTIVATIONS(ACTEXT_PARAM_SECOND)
#undef ACTEXT_PARAM_SECOND
  TORCH_CHECK_VALUE(false, "activations_ext.bias_act: unknown act '", act, "'");
}

struct BiasActParams {
  std::string act;
  int64_t dim = 0;
  double alpha = 0.0;
  double gain = 1.0;
  std::optional<double> clamp;
};

std::optional<Tensor> opt(const Tensor& t) {
  return t.defined() ? std::optional<Tensor>(t) : std::nullopt;
}

// A per-channel tensor (the bias) viewed to broadcast against x along dim.
Tensor bias_for_broadcast(const Tensor& b, const Tensor& x, int64_t dim) {
  std::vector<int64_t> shape(x.dim(), 1);
  shape[c10::maybe_wrap_dim(dim, x.dim())] = -1;
  return b.reshape(shape);
}

// Sums a tensor shaped like x to one value per channel along dim.
Tensor sum_to_bias(const Tensor& t, const Tensor& b, const Tensor& x,
                   int64_t dim) {
  const Tensor bb = bias_for_broadcast(b, x, dim);
  return at::sum_to(t, bb.sym_sizes()).reshape_symint(b.sym_sizes());
}

// z = x + bias (broadcast), and where the clamp holds the output constant.
Tensor pre_activation(const Tensor& x, const Tensor& b, int64_t dim) {
  return b.defined() ? x + bias_for_broadcast(b, x, dim) : x;
}

// d(input gradient)/dz times h: h * gain * f''(z), zero where the clamp is
// active (as the first derivative is).
Tensor bias_act_second(const Tensor& h, const Tensor& x, const Tensor& b,
                       const BiasActParams& p) {
  const Tensor z = pre_activation(x, b, p.dim);
  const Tensor f2 = act_second(z, p.act, p.alpha);
  if (!f2.defined()) {
    return Tensor();
  }
  Tensor d = h * p.gain * f2;
  if (p.clamp.has_value()) {
    const Tensor y =
        bias_act_op(x, opt(b), p.act, p.dim, p.alpha, p.gain, std::nullopt);
    d = d.masked_fill(y.abs() > *p.clamp, 0);
  }
  return d;
}

struct BiasActNode : Node {
  SavedVariable x;
  SavedVariable b;
  BiasActParams p;
  bool bias_grad = false;
  variable_list apply(variable_list&& grads) override {
    if (!grads[0].defined()) {
      return {Tensor(), Tensor()};
    }
    const auto self = self_pointer(this);
    const Tensor b_ = b.unpack(self);
    const bool want_b = bias_grad && should_compute_output(1);
    auto [gx, gb] = bias_act_bwd_op(grads[0], x.unpack(self), opt(b_), p.act,
                                    p.dim, p.alpha, p.gain, p.clamp, want_b);
    return {gx, want_b ? gb : Tensor()};
  }
  std::string name() const override { return "BiasActBackward"; }
  void release_variables() override {
    x.reset_data();
    b.reset_data();
  }
};

// (gx, gb) = (g * J, sum of g * J over all but dim). Upstream (ggx, ggb)
// combine into one gradient of gx: ggx + ggb broadcast. Then
//   d/dg = bias_act_backward(that, x, b)
//   d/dx = that * g * gain * f''(z);  d/db = its sum per channel.
struct BiasActBackwardNode : Node {
  SavedVariable g;
  SavedVariable x;
  SavedVariable b;
  BiasActParams p;
  bool bias_grad = false;
  variable_list apply(variable_list&& grads) override {
    const auto self = self_pointer(this);
    const Tensor g_ = g.unpack(self);
    const Tensor x_ = x.unpack(self);
    const Tensor b_ = b.unpack(self);
    Tensor total = grads[0];
    if (bias_grad && grads[1].defined() && b_.defined()) {
      total = add_defined(
          total, bias_for_broadcast(grads[1], x_, p.dim).expand_as(x_));
    }
    if (!total.defined()) {
      return {Tensor(), Tensor(), Tensor()};
    }
    Tensor dg;
    if (should_compute_output(0)) {
      dg = std::get<0>(bias_act_bwd_op(total, x_, opt(b_), p.act, p.dim,
                                       p.alpha, p.gain, p.clamp, false));
    }
    Tensor dx;
    Tensor db;
    if (should_compute_output(1) || should_compute_output(2)) {
      dx = bias_act_second(total * g_, x_, b_, p);
      if (dx.defined() && b_.defined() && should_compute_output(2)) {
        db = sum_to_bias(dx, b_, x_, p.dim);
      }
    }
    return {dg, dx, db};
  }
  std::string name() const override { return "BiasActBackwardBackward"; }
  void release_variables() override {
    g.reset_data();
    x.reset_data();
    b.reset_data();
  }
};

Tensor bias_act_autograd(const Tensor& x, const std::optional<Tensor>& bias,
                         c10::string_view act, int64_t dim, double alpha,
                         double gain, std::optional<double> clamp) {
  const Tensor b = bias.has_value() ? *bias : Tensor();
  const bool record = grad_mode() && (needs_grad(x) || needs_grad(b));
  const Tensor xt = tangent(x);
  const Tensor bt = tangent(b);
  Tensor y = below_autograd(
      [&] { return bias_act_op(x, bias, act, dim, alpha, gain, clamp); });
  if (!record && !xt.defined() && !bt.defined()) {
    return y;
  }
  BiasActParams p{std::string(act), dim, alpha, gain, clamp};
  if (record) {
    auto node = make_node<BiasActNode>();
    node->set_next_edges(torch::autograd::collect_next_edges(x, b));
    node->p = p;
    node->bias_grad = needs_grad(b);
    torch::autograd::set_history(y, node);
    node->x = SavedVariable(x, false);
    node->b = SavedVariable(b, false);
  }
  if (xt.defined() || bt.defined()) {
    // y_t = J (x_t + b_t): the input gradient formula applied to the tangent.
    const Tensor x_p = primal(x);
    Tensor zt = xt;
    if (bt.defined()) {
      zt = add_defined(zt, bias_for_broadcast(bt, x_p, dim).expand_as(x_p));
    }
    y._set_fw_grad(std::get<0>(bias_act_bwd_op(zt, x_p, opt(primal(b)), act,
                                               dim, alpha, gain, clamp, false)),
                   /*level=*/0, /*is_inplace_op=*/false);
  }
  return y;
}

std::tuple<Tensor, Tensor> bias_act_backward_autograd(
    const Tensor& g, const Tensor& x, const std::optional<Tensor>& bias,
    c10::string_view act, int64_t dim, double alpha, double gain,
    std::optional<double> clamp, bool bias_grad) {
  const Tensor b = bias.has_value() ? *bias : Tensor();
  const bool record =
      grad_mode() && (needs_grad(g) || needs_grad(x) || needs_grad(b));
  const Tensor gt = tangent(g);
  const Tensor xt = tangent(x);
  const Tensor bt = tangent(b);
  auto [gx, gb] = below_autograd([&] {
    return bias_act_bwd_op(g, x, bias, act, dim, alpha, gain, clamp, bias_grad);
  });
  if (!record && !gt.defined() && !xt.defined() && !bt.defined()) {
    return {gx, gb};
  }
  BiasActParams p{std::string(act), dim, alpha, gain, clamp};
  if (record) {
    auto node = make_node<BiasActBackwardNode>();
    node->set_next_edges(torch::autograd::collect_next_edges(g, x, b));
    node->p = p;
    node->bias_grad = bias_grad;
    if (bias_grad) {
      torch::autograd::set_history(torch::autograd::flatten_tensor_args(gx, gb),
                                   node);
    } else {
      // The second output is an empty placeholder: not differentiable.
      node->add_input_metadata(gx);
      torch::autograd::impl::set_gradient_edge(gx, {node, 0});
      node->add_input_metadata(Node::undefined_input());
    }
    node->g = SavedVariable(g, false);
    node->x = SavedVariable(x, false);
    node->b = SavedVariable(b, false);
  }
  if (gt.defined() || xt.defined() || bt.defined()) {
    // gx_t = J g_t + g * gain * f''(z) * (x_t + b_t);  gb_t = its sum.
    const Tensor g_p = primal(g);
    const Tensor x_p = primal(x);
    const Tensor b_p = primal(b);
    Tensor t;
    if (gt.defined()) {
      t = std::get<0>(bias_act_bwd_op(gt, x_p, opt(b_p), act, dim, alpha, gain,
                                      clamp, false));
    }
    Tensor zt = xt;
    if (bt.defined()) {
      zt = add_defined(zt, bias_for_broadcast(bt, x_p, dim).expand_as(x_p));
    }
    if (zt.defined()) {
      t = add_defined(t, bias_act_second(g_p * zt, x_p, b_p, p));
    }
    if (!t.defined()) {
      t = at::zeros_like(gx);
    }
    gx._set_fw_grad(t, /*level=*/0, /*is_inplace_op=*/false);
    if (bias_grad) {
      gb._set_fw_grad(sum_to_bias(t, b_p, x_p, dim), /*level=*/0,
                      /*is_inplace_op=*/false);
    }
  }
  return {gx, gb};
}

// ------------------------------------- forward with per-unit counts
//
// The counts are not differentiable; the output's gradient is the plain
// activation's (bias_act_backward without a bias gradient, prelu_backward).

struct CountNode : Node {
  SavedVariable x;
  SavedVariable w;
  bool prelu = false;
  BiasActParams p;
  variable_list apply(variable_list&& grads) override {
    const auto self = self_pointer(this);
    if (!grads[0].defined()) {
      return {Tensor(), Tensor()};
    }
    if (prelu) {
      auto [gi, gw] = prelu_bwd_op(grads[0], x.unpack(self), w.unpack(self));
      return {gi, should_compute_output(1) ? gw : Tensor()};
    }
    auto [gx, gb] =
        bias_act_bwd_op(grads[0], x.unpack(self), w.unpack(self), p.act, p.dim,
                        p.alpha, 1.0, std::nullopt, false);
    return {gx, Tensor()};
  }
  std::string name() const override {
    return prelu ? "PreluCountBackward" : "BiasActCountBackward";
  }
  void release_variables() override {
    x.reset_data();
    w.reset_data();
  }
};

// Records `node` for the first output only; the counts get no history.
template <typename N>
void set_first_output_history(const Tensor& y, const Tensor& counts,
                              const N& node) {
  node->add_input_metadata(y);
  torch::autograd::impl::set_gradient_edge(y, {node, 0});
  (void)counts;
}

std::tuple<Tensor, Tensor> bias_act_count_autograd(const Tensor& x,
                                                   const Tensor& bias,
                                                   c10::string_view act,
                                                   int64_t dim, double alpha) {
  const bool record = grad_mode() && needs_grad(x);
  const Tensor xt = tangent(x);
  auto [y, counts] = below_autograd(
      [&] { return bias_act_count_op(x, bias, act, dim, alpha); });
  BiasActParams p{std::string(act), dim, alpha, 1.0, std::nullopt};
  if (record) {
    auto node = make_node<CountNode>();
    // Only the input gets a gradient (the monitor's bias is a constant).
    node->set_next_edges(torch::autograd::collect_next_edges(x, Tensor()));
    node->p = p;
    set_first_output_history(y, counts, node);
    node->x = SavedVariable(x, false);
    node->w = SavedVariable(bias, false);
  }
  if (xt.defined()) {
    y._set_fw_grad(
        std::get<0>(bias_act_bwd_op(xt, primal(x), bias, act, dim, alpha, 1.0,
                                    std::nullopt, false)),
        /*level=*/0, /*is_inplace_op=*/false);
  }
  return {y, counts};
}

std::tuple<Tensor, Tensor> prelu_count_autograd(const Tensor& x,
                                                const Tensor& w, int64_t dim) {
  const bool record = grad_mode() && (needs_grad(x) || needs_grad(w));
  const Tensor xt = tangent(x);
  const Tensor wt = tangent(w);
  auto [y, counts] = below_autograd([&] { return prelu_count_op(x, w, dim); });
  if (record) {
    auto node = make_node<CountNode>();
    node->set_next_edges(torch::autograd::collect_next_edges(x, w));
    node->prelu = true;
    set_first_output_history(y, counts, node);
    node->x = SavedVariable(x, false);
    node->w = SavedVariable(w, false);
  }
  if (xt.defined() || wt.defined()) {
    y._set_fw_grad(prelu_tangent(primal(x), primal(w), xt, wt), /*level=*/0,
                   /*is_inplace_op=*/false);
  }
  return {y, counts};
}

// ------------------------------------------------------------------- gated
//
// out = f(a) * u (a: gate, u: up). gated_backward(g, a, u) gives both first
// derivatives in one pass: (ga, gu) = (f'(a) g u, f(a) g). Everything of
// higher order is composed of our differentiable operators and act_second
// (f''). With upstream (Ha, Hu) on (ga, gu):
//   d/dg = f'(a) u Ha + f(a) Hu
//   d/da = f''(a) g u Ha + f'(a) g Hu
//   d/du = f'(a) g Ha
// each f'(a) v w term being gated_backward(v, a, w)'s first output.

struct GatedArgs {
  std::string act;
  double alpha = 0.0;
};

// f'(a) * v * w.
Tensor slope_term(const Tensor& v, const Tensor& a, const Tensor& w,
                  const GatedArgs& p) {
  return std::get<0>(gated_bwd_op(v, a, w, p.act, p.alpha));
}

std::tuple<Tensor, Tensor, Tensor> gated_backward_vjp(
    const Tensor& Ha, const Tensor& Hu, const Tensor& g, const Tensor& a,
    const Tensor& u, const GatedArgs& p, bool want_g, bool want_a,
    bool want_u) {
  Tensor dg;
  Tensor da;
  Tensor du;
  if (want_g) {
    if (Ha.defined()) {
      dg = slope_term(Ha, a, u, p);
    }
    if (Hu.defined()) {
      dg = add_defined(dg, gated_op(a, Hu, p.act, p.alpha, false));
    }
  }
  if (want_a) {
    if (Ha.defined()) {
      const Tensor f2 = act_second(a, p.act, p.alpha);
      if (f2.defined()) {
        da = f2 * g * u * Ha;
      }
    }
    if (Hu.defined()) {
      da = add_defined(da, slope_term(g, a, Hu, p));
    }
  }
  if (want_u && Ha.defined()) {
    du = slope_term(g, a, Ha, p);
  }
  return {dg, da, du};
}

// out's tangent: f'(a) u a_t + f(a) u_t.
Tensor gated_tangent(const Tensor& a, const Tensor& u, const Tensor& at_,
                     const Tensor& ut, const GatedArgs& p) {
  Tensor t;
  if (at_.defined()) {
    t = slope_term(at_, a, u, p);
  }
  if (ut.defined()) {
    t = add_defined(t, gated_op(a, ut, p.act, p.alpha, false));
  }
  return t;
}

// (ga, gu)'s tangents:
//   ga_t = f'(a) u g_t + f'(a) g u_t + f''(a) g u a_t
//   gu_t = f(a) g_t + f'(a) g a_t
std::pair<Tensor, Tensor> gated_backward_tangent(
    const Tensor& g, const Tensor& a, const Tensor& u, const Tensor& gt,
    const Tensor& at_, const Tensor& ut, const GatedArgs& p) {
  Tensor ta;
  Tensor tu;
  if (gt.defined()) {
    std::tie(ta, tu) = gated_bwd_op(gt, a, u, p.act, p.alpha);
  }
  if (ut.defined()) {
    ta = add_defined(ta, slope_term(g, a, ut, p));
  }
  if (at_.defined()) {
    const Tensor f2 = act_second(a, p.act, p.alpha);
    if (f2.defined()) {
      ta = add_defined(ta, f2 * g * u * at_);
    }
    tu = add_defined(tu, slope_term(g, a, at_, p));
  }
  return {ta, tu};
}

Tensor defined_or_zeros(const Tensor& t, const Tensor& like) {
  return t.defined() ? t : at::zeros_like(like);
}

// inplace_backward overwrites gate and up with their gradients: refused for
// a leaf or a view of one, whose values the caller still owns.
void check_overwritable(const Tensor& t, const char* name) {
  const bool leafish = t.is_leaf() || (t.is_view() && t._base().is_leaf());
  TORCH_CHECK_VALUE(!leafish,
                    "activations_ext.gated: inplace_backward=True "
                    "overwrites ",
                    name, " with its gradient, so ", name,
                    " must be the result of an operation autograd recorded "
                    "(a layer's output), not a leaf tensor or a view of one");
}

struct GatedNode : Node {
  SavedVariable gate;
  SavedVariable up;
  GatedArgs p;
  bool inplace_backward = false;
  variable_list apply(variable_list&& grads) override {
    if (!grads[0].defined()) {
      return {Tensor(), Tensor()};
    }
    const auto self = self_pointer(this);
    const Tensor a = gate.unpack(self);
    const Tensor u = up.unpack(self);
    if (inplace_backward) {
      TORCH_CHECK(!at::GradMode::is_enabled(),
                  "activations_ext.gated: inplace_backward=True writes the "
                  "gradients over gate and up, which a graph of the backward "
                  "(create_graph=True) would still need; use "
                  "inplace_backward=False for higher-order gradients");
      TORCH_CHECK(!torch::autograd::get_current_graph_task_keep_graph(),
                  "activations_ext.gated: inplace_backward=True writes the "
                  "gradients over gate and up, so the graph cannot be run "
                  "again (retain_graph=True); use inplace_backward=False");
      gated_bwd_inplace_op(grads[0], a, u, p.act, p.alpha);
      return {a.detach(), u.detach()};
    }
    auto [ga, gu] = gated_bwd_op(grads[0], a, u, p.act, p.alpha);
    return {should_compute_output(0) ? ga : Tensor(),
            should_compute_output(1) ? gu : Tensor()};
  }
  std::string name() const override { return "GatedBackward"; }
  void release_variables() override {
    gate.reset_data();
    up.reset_data();
  }
};

struct GatedBackwardNode : Node {
  SavedVariable g;
  SavedVariable gate;
  SavedVariable up;
  GatedArgs p;
  variable_list apply(variable_list&& grads) override {
    if (!grads[0].defined() && !grads[1].defined()) {
      return {Tensor(), Tensor(), Tensor()};
    }
    const auto self = self_pointer(this);
    auto [dg, da, du] = gated_backward_vjp(
        grads[0], grads[1], g.unpack(self), gate.unpack(self), up.unpack(self),
        p, should_compute_output(0), should_compute_output(1),
        should_compute_output(2));
    return {dg, da, du};
  }
  std::string name() const override { return "GatedBackwardBackward"; }
  void release_variables() override {
    g.reset_data();
    gate.reset_data();
    up.reset_data();
  }
};

Tensor gated_autograd(const Tensor& gate, const Tensor& up,
                      c10::string_view act, double alpha,
                      bool inplace_backward) {
  const bool record = grad_mode() && (needs_grad(gate) || needs_grad(up));
  const Tensor at_ = tangent(gate);
  const Tensor ut = tangent(up);
  Tensor y = below_autograd(
      [&] { return gated_op(gate, up, act, alpha, inplace_backward); });
  if (!record && !at_.defined() && !ut.defined()) {
    return y;
  }
  const GatedArgs p{std::string(act), alpha};
  if (record) {
    if (inplace_backward) {
      check_overwritable(gate, "gate");
      check_overwritable(up, "up");
    }
    auto node = make_node<GatedNode>();
    node->set_next_edges(torch::autograd::collect_next_edges(gate, up));
    node->p = p;
    node->inplace_backward = inplace_backward;
    torch::autograd::set_history(y, node);
    node->gate = SavedVariable(gate, false);
    node->up = SavedVariable(up, false);
  }
  if (at_.defined() || ut.defined()) {
    y._set_fw_grad(gated_tangent(primal(gate), primal(up), at_, ut, p),
                   /*level=*/0, /*is_inplace_op=*/false);
  }
  return y;
}

std::tuple<Tensor, Tensor> gated_backward_autograd(const Tensor& g,
                                                   const Tensor& gate,
                                                   const Tensor& up,
                                                   c10::string_view act,
                                                   double alpha) {
  const bool record =
      grad_mode() && (needs_grad(g) || needs_grad(gate) || needs_grad(up));
  const Tensor gt = tangent(g);
  const Tensor at_ = tangent(gate);
  const Tensor ut = tangent(up);
  auto [ga, gu] =
      below_autograd([&] { return gated_bwd_op(g, gate, up, act, alpha); });
  if (!record && !gt.defined() && !at_.defined() && !ut.defined()) {
    return {ga, gu};
  }
  const GatedArgs p{std::string(act), alpha};
  if (record) {
    auto node = make_node<GatedBackwardNode>();
    node->set_next_edges(torch::autograd::collect_next_edges(g, gate, up));
    node->p = p;
    torch::autograd::set_history(torch::autograd::flatten_tensor_args(ga, gu),
                                 node);
    node->g = SavedVariable(g, false);
    node->gate = SavedVariable(gate, false);
    node->up = SavedVariable(up, false);
  }
  if (gt.defined() || at_.defined() || ut.defined()) {
    auto [ta, tu] = gated_backward_tangent(primal(g), primal(gate), primal(up),
                                           gt, at_, ut, p);
    ga._set_fw_grad(defined_or_zeros(ta, ga), /*level=*/0,
                    /*is_inplace_op=*/false);
    gu._set_fw_grad(defined_or_zeros(tu, gu), /*level=*/0,
                    /*is_inplace_op=*/false);
  }
  return {ga, gu};
}

// The in-place backward is a step of GatedNode's backward, never part of a
// differentiated graph; it bumps gate's and up's version counters, so a
// later use of either raises autograd's in-place error.
void gated_backward_inplace_autograd(const Tensor& g, const Tensor& gate,
                                     const Tensor& up, c10::string_view act,
                                     double alpha) {
  TORCH_CHECK(
      !(grad_mode() && (needs_grad(g) || needs_grad(gate) || needs_grad(up))),
      "activations_ext.gated_backward_ is not differentiable");
  below_autograd([&] { gated_bwd_inplace_op(g, gate, up, act, alpha); });
  torch::autograd::increment_version(gate);
  torch::autograd::increment_version(up);
}

struct SplitArgs {
  GatedArgs p;
  int64_t dim = 0;
  bool up_first = false;
};

// (gate, up) halves of t along dim.
std::pair<Tensor, Tensor> halves(const Tensor& t, const SplitArgs& s) {
  const int64_t h = t.size(s.dim) / 2;
  Tensor first = t.narrow(s.dim, 0, h);
  Tensor second = t.narrow(s.dim, h, h);
  return s.up_first ? std::make_pair(second, first)
                    : std::make_pair(first, second);
}

// The tensor of the input's shape whose (gate, up) halves are (ta, tu).
Tensor join(const Tensor& ta, const Tensor& tu, const SplitArgs& s) {
  return s.up_first ? at::cat({tu, ta}, s.dim) : at::cat({ta, tu}, s.dim);
}

struct GatedSplitNode : Node {
  SavedVariable x;
  SplitArgs s;
  variable_list apply(variable_list&& grads) override {
    if (!grads[0].defined()) {
      return {Tensor()};
    }
    return {gated_split_bwd_op(grads[0], x.unpack(self_pointer(this)), s.p.act,
                               s.p.alpha, s.dim, s.up_first)};
  }
  std::string name() const override { return "GatedSplitBackward"; }
  void release_variables() override { x.reset_data(); }
};

struct GatedSplitBackwardNode : Node {
  SavedVariable g;
  SavedVariable x;
  SplitArgs s;
  variable_list apply(variable_list&& grads) override {
    if (!grads[0].defined()) {
      return {Tensor(), Tensor()};
    }
    const auto self = self_pointer(this);
    const Tensor g_ = g.unpack(self);
    const Tensor x_ = x.unpack(self);
    auto [Ha, Hu] = halves(grads[0], s);
    auto [a, u] = halves(x_, s);
    auto [dg, da, du] =
        gated_backward_vjp(Ha, Hu, g_, a, u, s.p, should_compute_output(0),
                           should_compute_output(1), should_compute_output(1));
    Tensor dx;
    if (should_compute_output(1) && (da.defined() || du.defined())) {
      dx = join(defined_or_zeros(da, a), defined_or_zeros(du, u), s);
    }
    return {dg, dx};
  }
  std::string name() const override { return "GatedSplitBackwardBackward"; }
  void release_variables() override {
    g.reset_data();
    x.reset_data();
  }
};

SplitArgs split_args(const Tensor& x, c10::string_view act, double alpha,
                     int64_t dim, bool up_first) {
  return {{std::string(act), alpha},
          c10::maybe_wrap_dim(dim, std::max<int64_t>(x.dim(), 1)),
          up_first};
}

Tensor gated_split_autograd(const Tensor& x, c10::string_view act, double alpha,
                            int64_t dim, bool up_first) {
  const bool record = grad_mode() && needs_grad(x);
  const Tensor xt = tangent(x);
  Tensor y = below_autograd(
      [&] { return gated_split_op(x, act, alpha, dim, up_first); });
  if (!record && !xt.defined()) {
    return y;
  }
  const SplitArgs s = split_args(x, act, alpha, dim, up_first);
  if (record) {
    auto node = make_node<GatedSplitNode>();
    node->set_next_edges(torch::autograd::collect_next_edges(x));
    node->s = s;
    torch::autograd::set_history(y, node);
    node->x = SavedVariable(x, false);
  }
  if (xt.defined()) {
    auto [a, u] = halves(primal(x), s);
    auto [at_, ut] = halves(xt, s);
    y._set_fw_grad(gated_tangent(a, u, at_, ut, s.p), /*level=*/0,
                   /*is_inplace_op=*/false);
  }
  return y;
}

Tensor gated_split_backward_autograd(const Tensor& g, const Tensor& x,
                                     c10::string_view act, double alpha,
                                     int64_t dim, bool up_first) {
  const bool record = grad_mode() && (needs_grad(g) || needs_grad(x));
  const Tensor gt = tangent(g);
  const Tensor xt = tangent(x);
  Tensor gx = below_autograd(
      [&] { return gated_split_bwd_op(g, x, act, alpha, dim, up_first); });
  if (!record && !gt.defined() && !xt.defined()) {
    return gx;
  }
  const SplitArgs s = split_args(x, act, alpha, dim, up_first);
  if (record) {
    auto node = make_node<GatedSplitBackwardNode>();
    node->set_next_edges(torch::autograd::collect_next_edges(g, x));
    node->s = s;
    torch::autograd::set_history(gx, node);
    node->g = SavedVariable(g, false);
    node->x = SavedVariable(x, false);
  }
  if (gt.defined() || xt.defined()) {
    auto [a, u] = halves(primal(x), s);
    Tensor at_;
    Tensor ut;
    if (xt.defined()) {
      std::tie(at_, ut) = halves(xt, s);
    }
    auto [ta, tu] = gated_backward_tangent(primal(g), a, u, gt, at_, ut, s.p);
    gx._set_fw_grad(join(defined_or_zeros(ta, a), defined_or_zeros(tu, u), s),
                    /*level=*/0, /*is_inplace_op=*/false);
  }
  return gx;
}

}  // namespace
}  // namespace activations_ext

TORCH_LIBRARY_IMPL(activations_ext, Autograd, m) {
  using namespace activations_ext;
#define ACTEXT_SIMPLE_REGISTER(name, act, functor, saves, inplace)         \
  m.impl(#name, &name##_autograd);                                         \
  ACTEXT_IF_INPLACE(inplace, m.impl(#name "_", &name##_inplace_autograd);) \
  m.impl(#name "_backward", &name##_backward_autograd);
  ACTEXT_SIMPLE_ACTIVATIONS(ACTEXT_SIMPLE_REGISTER)
#define ACTEXT_PARAM_REGISTER(name, act, functor, saves, inplace, params) \
  ACTEXT_SIMPLE_REGISTER(name, act, functor, saves, inplace)
  ACTEXT_PARAM_ACTIVATIONS(ACTEXT_PARAM_REGISTER)
#undef ACTEXT_PARAM_REGISTER
#undef ACTEXT_SIMPLE_REGISTER
  m.impl("leaky_relu", &leaky_autograd);
  m.impl("leaky_relu_", &leaky_inplace_autograd);
  m.impl("leaky_relu_backward", &leaky_backward_autograd);
  m.impl("elu", &elu_autograd);
  m.impl("elu_", &elu_inplace_autograd);
  m.impl("elu_backward", &elu_backward_autograd);
  m.impl("selu", &selu_autograd);
  m.impl("selu_", &selu_inplace_autograd);
  m.impl("gelu", &gelu_autograd);
  m.impl("gelu_backward", &gelu_backward_autograd);
  m.impl("softplus", &softplus_autograd);
  m.impl("softplus_backward", &softplus_backward_autograd);
  m.impl("rrelu_noise", &rrelu_noise_autograd);
  m.impl("rrelu_with_noise", &rrelu_with_noise_autograd);
  m.impl("prelu", &prelu_autograd);
  m.impl("prelu_backward", &prelu_backward_autograd);
  m.impl("prelu_count", &prelu_count_autograd);
  m.impl("bias_act", &bias_act_autograd);
  m.impl("bias_act_backward", &bias_act_backward_autograd);
  m.impl("bias_act_count", &bias_act_count_autograd);
  m.impl("gated", &gated_autograd);
  m.impl("gated_backward", &gated_backward_autograd);
  m.impl("gated_backward_", &gated_backward_inplace_autograd);
  m.impl("gated_split", &gated_split_autograd);
  m.impl("gated_split_backward", &gated_split_backward_autograd);
}
