// Autograd for every operator, in C++, registered for the Autograd dispatch
// key: plain autograd Nodes for the out-of-place ReLU, Sigmoid, LeakyReLU and
// ELU (the hot path), torch::autograd::Function's for everything else.
//
// Why C++ rather than torch.library.register_autograd: the per-call cost.
// Measured on this project's 2-core machine at 1K elements, a Python
// register_autograd path costs about 1.8x torch's native forward+backward,
// a C++ Function about 1.1x; small layers should not get slower with us.
// register_autograd also refuses operators that mutate their input, and the
// in-place variants here need mark_dirty.
//
// Each forward Function calls the operator below autograd; its backward calls
// our backward operator through the dispatcher, and each backward operator
// has a Function of its own, so gradients exist to second order (and beyond:
// the double-backward formulas are differentiable ATen expressions).
// Forward-mode AD and torch.func transforms are not supported.
#include <ATen/ATen.h>
#include <ATen/ExpandUtils.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/saved_variable.h>
#include <torch/library.h>

namespace activations_ext {
namespace {

using at::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::Function;
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

ACTEXT_OP(relu_op, "relu", Tensor(const Tensor&))
ACTEXT_OP(relu_inplace_op, "relu_", void(const Tensor&))
ACTEXT_OP(relu_bwd_op, "relu_backward", Tensor(const Tensor&, const Tensor&))
ACTEXT_OP(sigmoid_op, "sigmoid", Tensor(const Tensor&))
ACTEXT_OP(sigmoid_bwd_op, "sigmoid_backward",
          Tensor(const Tensor&, const Tensor&))
ACTEXT_OP(leaky_op, "leaky_relu", Tensor(const Tensor&, double, bool))
ACTEXT_OP(leaky_inplace_op, "leaky_relu_", void(const Tensor&, double))
ACTEXT_OP(leaky_bwd_op, "leaky_relu_backward",
          Tensor(const Tensor&, const Tensor&, double, bool))
ACTEXT_OP(elu_op, "elu", Tensor(const Tensor&, double, double, double, bool))
ACTEXT_OP(elu_inplace_op, "elu_", void(const Tensor&, double, double, double))
ACTEXT_OP(elu_bwd_op, "elu_backward",
          Tensor(const Tensor&, const Tensor&, double, double, double, bool))
ACTEXT_OP(prelu_op, "prelu", Tensor(const Tensor&, const Tensor&))
using PreluBackwardSig = std::tuple<Tensor, Tensor>(const Tensor&,
                                                    const Tensor&,
                                                    const Tensor&);
ACTEXT_OP(prelu_bwd_op, "prelu_backward", PreluBackwardSig)
using Unary = Tensor(const Tensor&);
using UnaryInplace = void(const Tensor&);
using UnaryBackward = Tensor(const Tensor&, const Tensor&);
ACTEXT_OP(tanh_op, "tanh", Unary)
ACTEXT_OP(tanh_bwd_op, "tanh_backward", UnaryBackward)
ACTEXT_OP(gelu_op, "gelu", Tensor(const Tensor&, c10::string_view))
ACTEXT_OP(gelu_bwd_op, "gelu_backward",
          Tensor(const Tensor&, const Tensor&, c10::string_view))
ACTEXT_OP(silu_op, "silu", Unary)
ACTEXT_OP(silu_inplace_op, "silu_", UnaryInplace)
ACTEXT_OP(silu_bwd_op, "silu_backward", UnaryBackward)
ACTEXT_OP(softplus_op, "softplus", Tensor(const Tensor&, double, double))
ACTEXT_OP(softplus_bwd_op, "softplus_backward",
          Tensor(const Tensor&, const Tensor&, double, double))
ACTEXT_OP(mish_op, "mish", Unary)
ACTEXT_OP(mish_inplace_op, "mish_", UnaryInplace)
ACTEXT_OP(mish_bwd_op, "mish_backward", UnaryBackward)
ACTEXT_OP(selu_op, "selu", Unary)
ACTEXT_OP(selu_inplace_op, "selu_", UnaryInplace)
ACTEXT_OP(hardswish_op, "hardswish", Unary)
ACTEXT_OP(hardswish_inplace_op, "hardswish_", UnaryInplace)
ACTEXT_OP(hardswish_bwd_op, "hardswish_backward", UnaryBackward)
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
#undef ACTEXT_OP

// True when autograd must record this call.
template <typename... T>
bool needs_grad(const T&... ts) {
  return at::GradMode::is_enabled() &&
         (... || (ts.defined() && ts.requires_grad()));
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

Tensor undefined() { return Tensor(); }

// ----------------------------------------------- lean nodes (hot path)
//
// torch::autograd::Function is general (dirty and non-differentiable
// outputs, views, a dictionary of saved values), and its bookkeeping cost
// about 2 us per call forward and as much backward here, 1.3-1.4x torch's
// own forward+backward at 1K elements. The out-of-place ReLU, Sigmoid,
// LeakyReLU and ELU, the calls every network makes, therefore record a
// plain autograd Node, as torch's generated code does: it saves one tensor
// and its scalar parameters and calls our backward operator (through the
// dispatcher, so a graph of the backward is recorded when one is wanted).

// Nodes are reference counted with c10::intrusive_ptr in recent torch and
// with std::shared_ptr in older releases (2.4 among them); both are handled.
template <typename N>
auto make_node() {
  if constexpr (std::is_base_of_v<c10::intrusive_ptr_target, N>) {
    return c10::make_intrusive<N>();
  } else {
    return std::make_shared<N>();
  }
}

template <typename Params>
struct ActivationNode : torch::autograd::Node {
  using BackwardFn = Tensor (*)(const Tensor&, const Tensor&, const Params&);
  torch::autograd::SavedVariable saved;
  Params params;
  BackwardFn backward = nullptr;
  const char* op_name = "";

  variable_list apply(variable_list&& grads) override {
    if (!grads[0].defined()) {
      return {Tensor()};
    }
    return {backward(grads[0], saved.unpack(self_pointer(this)), params)};
  }
  std::string name() const override { return op_name; }
  void release_variables() override { saved.reset_data(); }

  // The owning pointer to this node, which SavedVariable::unpack wants so
  // that a saved output comes back attached to the graph.
  template <typename Self>
  static auto self_pointer(Self* self) {
    if constexpr (std::is_base_of_v<c10::intrusive_ptr_target, Self>) {
      return c10::intrusive_ptr<torch::autograd::Node>::reclaim_copy(self);
    } else {
      return self->shared_from_this();
    }
  }
};

// y = fwd(), recorded with a node that saves y (saves_output) or x.
template <typename Params, typename Fwd>
Tensor record_activation(const Tensor& x, Fwd&& fwd, bool saves_output,
                         const Params& params,
                         typename ActivationNode<Params>::BackwardFn backward,
                         const char* op_name) {
  Tensor y = below_autograd(fwd);
  auto node = make_node<ActivationNode<Params>>();
  node->set_next_edges(torch::autograd::collect_next_edges(x));
  node->params = params;
  node->backward = backward;
  node->op_name = op_name;
  torch::autograd::set_history(y, node);
  node->saved = saves_output ? torch::autograd::SavedVariable(y, true)
                             : torch::autograd::SavedVariable(x, false);
  return y;
}

struct NoParams {};
struct SlopeParams {
  double slope;
  bool from_output;
};
struct EluParams {
  double alpha, scale, input_scale;
  bool from_output;
};

// -------------------------------------------------------------------- ReLU

struct ReluInplaceFn : Function<ReluInplaceFn> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x) {
    below_autograd([&] { relu_inplace_op(x); });
    ctx->mark_dirty({x});
    ctx->save_for_backward({x});
    return x;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {relu_bwd_op(grads[0], ctx->get_saved_variables()[0])};
  }
};

// d(relu_backward)/d(grad) is relu_backward itself; the saved output only
// selects, so its gradient is zero.
struct ReluBackwardFn : Function<ReluBackwardFn> {
  static Tensor forward(AutogradContext* ctx, const Tensor& g,
                        const Tensor& y) {
    Tensor gi = below_autograd([&] { return relu_bwd_op(g, y); });
    ctx->save_for_backward({y});
    return gi;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {relu_bwd_op(grads[0], ctx->get_saved_variables()[0]), undefined()};
  }
};

Tensor relu_autograd(const Tensor& x) {
  if (!needs_grad(x)) {
    return below_autograd([&] { return relu_op(x); });
  }
  return record_activation(
      x, [&] { return relu_op(x); }, true, NoParams{},
      [](const Tensor& g, const Tensor& y, const NoParams&) {
        return relu_bwd_op(g, y);
      },
      "ReluBackward");
}

void relu_inplace_autograd(const Tensor& x) {
  if (!needs_grad(x)) {
    below_autograd([&] { relu_inplace_op(x); });
    torch::autograd::impl::bump_version(x);
    return;
  }
  ReluInplaceFn::apply(x);
}

Tensor relu_backward_autograd(const Tensor& g, const Tensor& y) {
  if (!needs_grad(g, y)) {
    return below_autograd([&] { return relu_bwd_op(g, y); });
  }
  return ReluBackwardFn::apply(g, y);
}

// ----------------------------------------------------------------- Sigmoid

// gi = g * (1 - y) * y:  d/dg = (1 - y) * y,  d/dy = g * (1 - 2y).
struct SigmoidBackwardFn : Function<SigmoidBackwardFn> {
  static Tensor forward(AutogradContext* ctx, const Tensor& g,
                        const Tensor& y) {
    Tensor gi = below_autograd([&] { return sigmoid_bwd_op(g, y); });
    ctx->save_for_backward({g, y});
    return gi;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor& g = saved[0];
    const Tensor& y = saved[1];
    const Tensor& gg = grads[0];
    return {sigmoid_bwd_op(gg, y), gg * g * (1 - 2 * y)};
  }
};

Tensor sigmoid_autograd(const Tensor& x) {
  if (!needs_grad(x)) {
    return below_autograd([&] { return sigmoid_op(x); });
  }
  return record_activation(
      x, [&] { return sigmoid_op(x); }, true, NoParams{},
      [](const Tensor& g, const Tensor& y, const NoParams&) {
        return sigmoid_bwd_op(g, y);
      },
      "SigmoidBackward");
}

Tensor sigmoid_backward_autograd(const Tensor& g, const Tensor& y) {
  if (!needs_grad(g, y)) {
    return below_autograd([&] { return sigmoid_bwd_op(g, y); });
  }
  return SigmoidBackwardFn::apply(g, y);
}

// --------------------------------------------------------------- LeakyReLU

struct LeakyReluInplaceFn : Function<LeakyReluInplaceFn> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, double slope) {
    below_autograd([&] { leaky_inplace_op(x, slope); });
    ctx->mark_dirty({x});
    ctx->save_for_backward({x});
    ctx->saved_data["slope"] = slope;
    return x;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    // Raises for a negative slope, as torch's in-place backward does.
    return {leaky_bwd_op(grads[0], ctx->get_saved_variables()[0],
                         ctx->saved_data["slope"].toDouble(), true),
            undefined()};
  }
};

// Linear in grad; the saved tensor only selects the slope.
struct LeakyReluBackwardFn : Function<LeakyReluBackwardFn> {
  static Tensor forward(AutogradContext* ctx, const Tensor& g, const Tensor& s,
                        double slope, bool from_output) {
    Tensor gi =
        below_autograd([&] { return leaky_bwd_op(g, s, slope, from_output); });
    ctx->save_for_backward({s});
    ctx->saved_data["slope"] = slope;
    ctx->saved_data["from_output"] = from_output;
    return gi;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {leaky_bwd_op(grads[0], ctx->get_saved_variables()[0],
                         ctx->saved_data["slope"].toDouble(),
                         ctx->saved_data["from_output"].toBool()),
            undefined(), undefined(), undefined()};
  }
};

Tensor leaky_autograd(const Tensor& x, double slope, bool save_output) {
  if (!needs_grad(x)) {
    return below_autograd([&] { return leaky_op(x, slope, save_output); });
  }
  const bool from_output = save_output && can_save_output(x);
  return record_activation(
      x, [&] { return leaky_op(x, slope, save_output); }, from_output,
      SlopeParams{slope, from_output},
      [](const Tensor& g, const Tensor& s, const SlopeParams& p) {
        return leaky_bwd_op(g, s, p.slope, p.from_output);
      },
      "LeakyReluBackward");
}

void leaky_inplace_autograd(const Tensor& x, double slope) {
  if (!needs_grad(x)) {
    below_autograd([&] { leaky_inplace_op(x, slope); });
    torch::autograd::impl::bump_version(x);
    return;
  }
  LeakyReluInplaceFn::apply(x, slope);
}

Tensor leaky_backward_autograd(const Tensor& g, const Tensor& s, double slope,
                               bool from_output) {
  if (!needs_grad(g, s)) {
    return below_autograd(
        [&] { return leaky_bwd_op(g, s, slope, from_output); });
  }
  return LeakyReluBackwardFn::apply(g, s, slope, from_output);
}

// --------------------------------------------------------------------- ELU

void save_elu_params(AutogradContext* ctx, double alpha, double scale,
                     double input_scale) {
  ctx->saved_data["alpha"] = alpha;
  ctx->saved_data["scale"] = scale;
  ctx->saved_data["input_scale"] = input_scale;
}

Tensor elu_bwd_saved(AutogradContext* ctx, const Tensor& g, const Tensor& s,
                     bool from_output) {
  return elu_bwd_op(g, s, ctx->saved_data["alpha"].toDouble(),
                    ctx->saved_data["scale"].toDouble(),
                    ctx->saved_data["input_scale"].toDouble(), from_output);
}

struct EluInplaceFn : Function<EluInplaceFn> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, double alpha,
                        double scale, double input_scale) {
    below_autograd([&] { elu_inplace_op(x, alpha, scale, input_scale); });
    ctx->mark_dirty({x});
    ctx->save_for_backward({x});
    save_elu_params(ctx, alpha, scale, input_scale);
    return x;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    // Raises for a negative alpha, as torch's in-place backward does.
    return {elu_bwd_saved(ctx, grads[0], ctx->get_saved_variables()[0], true),
            undefined(), undefined(), undefined()};
  }
};

// gi is linear in g. Its derivative in the saved tensor s (zero where s > 0):
//   from the output: g * input_scale
//   from the input:  input_scale * elu_backward(g, x)   (the exp term again)
struct EluBackwardFn : Function<EluBackwardFn> {
  static Tensor forward(AutogradContext* ctx, const Tensor& g, const Tensor& s,
                        double alpha, double scale, double input_scale,
                        bool from_output) {
    Tensor gi = below_autograd([&] {
      return elu_bwd_op(g, s, alpha, scale, input_scale, from_output);
    });
    ctx->save_for_backward({g, s});
    save_elu_params(ctx, alpha, scale, input_scale);
    ctx->saved_data["from_output"] = from_output;
    return gi;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor& g = saved[0];
    const Tensor& s = saved[1];
    const Tensor& gg = grads[0];
    const bool from_output = ctx->saved_data["from_output"].toBool();
    const double input_scale = ctx->saved_data["input_scale"].toDouble();
    Tensor dg = elu_bwd_saved(ctx, gg, s, from_output);
    Tensor ds = from_output
                    ? gg * g * input_scale
                    : gg * elu_bwd_saved(ctx, g, s, false) * input_scale;
    ds = ds.masked_fill(s > 0, 0);
    return {dg, ds, undefined(), undefined(), undefined(), undefined()};
  }
};

Tensor elu_autograd(const Tensor& x, double alpha, double scale,
                    double input_scale, bool save_output) {
  if (!needs_grad(x)) {
    return below_autograd(
        [&] { return elu_op(x, alpha, scale, input_scale, save_output); });
  }
  const bool from_output = save_output && can_save_output(x);
  return record_activation(
      x, [&] { return elu_op(x, alpha, scale, input_scale, save_output); },
      from_output, EluParams{alpha, scale, input_scale, from_output},
      [](const Tensor& g, const Tensor& s, const EluParams& p) {
        return elu_bwd_op(g, s, p.alpha, p.scale, p.input_scale, p.from_output);
      },
      "EluBackward");
}

void elu_inplace_autograd(const Tensor& x, double alpha, double scale,
                          double input_scale) {
  if (!needs_grad(x)) {
    below_autograd([&] { elu_inplace_op(x, alpha, scale, input_scale); });
    torch::autograd::impl::bump_version(x);
    return;
  }
  EluInplaceFn::apply(x, alpha, scale, input_scale);
}

Tensor elu_backward_autograd(const Tensor& g, const Tensor& s, double alpha,
                             double scale, double input_scale,
                             bool from_output) {
  if (!needs_grad(g, s)) {
    return below_autograd([&] {
      return elu_bwd_op(g, s, alpha, scale, input_scale, from_output);
    });
  }
  return EluBackwardFn::apply(g, s, alpha, scale, input_scale, from_output);
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

struct PreluFn : Function<PreluFn> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x,
                        const Tensor& w) {
    Tensor y = below_autograd([&] { return prelu_op(x, w); });
    ctx->save_for_backward({x, w});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    auto [gi, gw] = prelu_bwd_op(grads[0], saved[0], saved[1]);
    return {gi, gw};
  }
};

// gi = x > 0 ? g : w * g;  gw = sum(x > 0 ? 0 : x * g). With upstream
// gradients (ggi, ggw) for (gi, gw):
//   d/dg = x > 0 ? ggi : w * ggi + ggw * x
//   d/dx = x > 0 ? 0 : ggw * g
//   d/dw = sum(x > 0 ? 0 : ggi * g)
struct PreluBackwardFn : Function<PreluBackwardFn> {
  static variable_list forward(AutogradContext* ctx, const Tensor& g,
                               const Tensor& x, const Tensor& w) {
    auto [gi, gw] = below_autograd([&] { return prelu_bwd_op(g, x, w); });
    ctx->save_for_backward({g, x, w});
    return {gi, gw};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor& g = saved[0];
    const Tensor& x = saved[1];
    const Tensor& w = saved[2];
    const Tensor& ggi = grads[0];
    const Tensor& ggw = grads[1];
    const Tensor pos = x > 0;
    const Tensor wb = weight_for_broadcast(w, x);
    Tensor dg;
    Tensor dx;
    Tensor dw;
    if (ggi.defined()) {
      dg = at::where(pos, ggi, ggi * wb);
      dw = sum_to_weight((ggi * g).masked_fill(pos, 0), w, x);
    }
    if (ggw.defined()) {
      const Tensor ggwb = weight_for_broadcast(ggw, x);
      Tensor term = (ggwb * x).masked_fill(pos, 0);
      dg = dg.defined() ? dg + term : term;
      dx = (ggwb * g).masked_fill(pos, 0);
    }
    return {dg, dx, dw};
  }
};

Tensor prelu_autograd(const Tensor& x, const Tensor& w) {
  if (!needs_grad(x, w)) {
    return below_autograd([&] { return prelu_op(x, w); });
  }
  return PreluFn::apply(x, w);
}

std::tuple<Tensor, Tensor> prelu_backward_autograd(const Tensor& g,
                                                   const Tensor& x,
                                                   const Tensor& w) {
  if (!needs_grad(g, x, w)) {
    return below_autograd([&] { return prelu_bwd_op(g, x, w); });
  }
  auto out = PreluBackwardFn::apply(g, x, w);
  return {out[0], out[1]};
}

// ------------------------------------------------------------ modern set
//
// The backward operators of the activations below have their own autograd
// (for second order) registered from Python (activations_ext/ops.py), with
// torch's composite formulas. A first-order backward must not pay for a
// trip through Python, so it calls them below autograd unless a graph of
// the backward is being built (create_graph, i.e. grad mode on).

template <typename F>
decltype(auto) call_backward_op(F&& f) {
  if (at::GradMode::is_enabled()) {
    return f();
  }
  return below_autograd(std::forward<F>(f));
}

// Activations without scalar parameters that save one tensor.
#define ACTEXT_SIMPLE_ACT(Name, fwd, bwd, saves_output)                        \
  struct Name : Function<Name> {                                               \
    static Tensor forward(AutogradContext* ctx, const Tensor& x) {             \
      Tensor y = below_autograd([&] { return fwd(x); });                       \
      ctx->save_for_backward({(saves_output) ? y : x});                        \
      return y;                                                                \
    }                                                                          \
    static variable_list backward(AutogradContext* ctx, variable_list grads) { \
      const Tensor s = ctx->get_saved_variables()[0];                          \
      return {call_backward_op([&] { return bwd(grads[0], s); })};             \
    }                                                                          \
  };

ACTEXT_SIMPLE_ACT(TanhFn, tanh_op, tanh_bwd_op, true)
ACTEXT_SIMPLE_ACT(SiluFn, silu_op, silu_bwd_op, false)
ACTEXT_SIMPLE_ACT(MishFn, mish_op, mish_bwd_op, false)
ACTEXT_SIMPLE_ACT(HardswishFn, hardswish_op, hardswish_bwd_op, false)
#undef ACTEXT_SIMPLE_ACT

// In-place variants of activations whose derivative needs the input (SiLU,
// Mish, Hardswish): when autograd records the call, the input is copied
// first (as torch does), since the operation overwrites it.
#define ACTEXT_INPLACE_COPY_ACT(Name, inplace, bwd)                            \
  struct Name : Function<Name> {                                               \
    static Tensor forward(AutogradContext* ctx, const Tensor& x) {             \
      Tensor original = x.clone();                                             \
      below_autograd([&] { inplace(x); });                                     \
      ctx->mark_dirty({x});                                                    \
      ctx->save_for_backward({original});                                      \
      return x;                                                                \
    }                                                                          \
    static variable_list backward(AutogradContext* ctx, variable_list grads) { \
      const Tensor s = ctx->get_saved_variables()[0];                          \
      return {call_backward_op([&] { return bwd(grads[0], s); })};             \
    }                                                                          \
  };

ACTEXT_INPLACE_COPY_ACT(SiluInplaceFn, silu_inplace_op, silu_bwd_op)
ACTEXT_INPLACE_COPY_ACT(MishInplaceFn, mish_inplace_op, mish_bwd_op)
ACTEXT_INPLACE_COPY_ACT(HardswishInplaceFn, hardswish_inplace_op,
                        hardswish_bwd_op)
#undef ACTEXT_INPLACE_COPY_ACT

template <typename Fn, typename Op>
Tensor unary_autograd(const Tensor& x, Op&& op) {
  if (!needs_grad(x)) {
    return below_autograd([&] { return op(x); });
  }
  return Fn::apply(x);
}

template <typename Fn, typename Op>
void inplace_autograd(const Tensor& x, Op&& op) {
  if (!needs_grad(x)) {
    below_autograd([&] { op(x); });
    torch::autograd::impl::bump_version(x);
    return;
  }
  Fn::apply(x);
}

Tensor tanh_autograd(const Tensor& x) {
  return unary_autograd<TanhFn>(x, [](const Tensor& t) { return tanh_op(t); });
}
Tensor silu_autograd(const Tensor& x) {
  return unary_autograd<SiluFn>(x, [](const Tensor& t) { return silu_op(t); });
}
Tensor mish_autograd(const Tensor& x) {
  return unary_autograd<MishFn>(x, [](const Tensor& t) { return mish_op(t); });
}
Tensor hardswish_autograd(const Tensor& x) {
  return unary_autograd<HardswishFn>(
      x, [](const Tensor& t) { return hardswish_op(t); });
}
void silu_inplace_autograd(const Tensor& x) {
  inplace_autograd<SiluInplaceFn>(x,
                                  [](const Tensor& t) { silu_inplace_op(t); });
}
void mish_inplace_autograd(const Tensor& x) {
  inplace_autograd<MishInplaceFn>(x,
                                  [](const Tensor& t) { mish_inplace_op(t); });
}
void hardswish_inplace_autograd(const Tensor& x) {
  inplace_autograd<HardswishInplaceFn>(
      x, [](const Tensor& t) { hardswish_inplace_op(t); });
}

struct GeluFn : Function<GeluFn> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x,
                        c10::string_view approximate) {
    Tensor y = below_autograd([&] { return gelu_op(x, approximate); });
    ctx->save_for_backward({x});
    ctx->saved_data["approximate"] = std::string(approximate);
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const Tensor x = ctx->get_saved_variables()[0];
    const std::string approximate =
        ctx->saved_data["approximate"].toStringRef();
    return {
        call_backward_op([&] { return gelu_bwd_op(grads[0], x, approximate); }),
        undefined()};
  }
};

Tensor gelu_autograd(const Tensor& x, c10::string_view approximate) {
  if (!needs_grad(x)) {
    return below_autograd([&] { return gelu_op(x, approximate); });
  }
  return GeluFn::apply(x, approximate);
}

struct SoftplusFn : Function<SoftplusFn> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, double beta,
                        double threshold) {
    Tensor y = below_autograd([&] { return softplus_op(x, beta, threshold); });
    ctx->save_for_backward({x});
    ctx->saved_data["beta"] = beta;
    ctx->saved_data["threshold"] = threshold;
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const Tensor x = ctx->get_saved_variables()[0];
    const double beta = ctx->saved_data["beta"].toDouble();
    const double threshold = ctx->saved_data["threshold"].toDouble();
    return {call_backward_op(
                [&] { return softplus_bwd_op(grads[0], x, beta, threshold); }),
            undefined(), undefined()};
  }
};

Tensor softplus_autograd(const Tensor& x, double beta, double threshold) {
  if (!needs_grad(x)) {
    return below_autograd([&] { return softplus_op(x, beta, threshold); });
  }
  return SoftplusFn::apply(x, beta, threshold);
}

// SELU is ELU with torch's constants: the same Functions, so its backward
// is elu_backward (from the input; from the output in place).
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;

struct SeluFn : Function<SeluFn> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x) {
    Tensor y = below_autograd([&] { return selu_op(x); });
    ctx->save_for_backward({x});
    save_elu_params(ctx, kSeluAlpha, kSeluScale, 1.0);
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {elu_bwd_saved(ctx, grads[0], ctx->get_saved_variables()[0], false)};
  }
};

struct SeluInplaceFn : Function<SeluInplaceFn> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x) {
    below_autograd([&] { selu_inplace_op(x); });
    ctx->mark_dirty({x});
    ctx->save_for_backward({x});
    save_elu_params(ctx, kSeluAlpha, kSeluScale, 1.0);
    return x;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {elu_bwd_saved(ctx, grads[0], ctx->get_saved_variables()[0], true)};
  }
};

Tensor selu_autograd(const Tensor& x) {
  return unary_autograd<SeluFn>(x, [](const Tensor& t) { return selu_op(t); });
}
void selu_inplace_autograd(const Tensor& x) {
  inplace_autograd<SeluInplaceFn>(x,
                                  [](const Tensor& t) { selu_inplace_op(t); });
}

// ---------------------------------------------------------------- bias_act

// Saves the input and the bias (the bias is tiny and the input is usually
// kept by the layer before anyway); backward recomputes x + bias.
struct BiasActFn : Function<BiasActFn> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x,
                        const std::optional<Tensor>& bias, c10::string_view act,
                        int64_t dim, double alpha, double gain,
                        std::optional<double> clamp) {
    Tensor y = below_autograd(
        [&] { return bias_act_op(x, bias, act, dim, alpha, gain, clamp); });
    const Tensor b = bias.has_value() ? *bias : Tensor();
    ctx->save_for_backward({x, b});
    ctx->saved_data["act"] = std::string(act);
    ctx->saved_data["dim"] = dim;
    ctx->saved_data["alpha"] = alpha;
    ctx->saved_data["gain"] = gain;
    ctx->saved_data["clamp"] =
        clamp.has_value() ? c10::IValue(*clamp) : c10::IValue();
    ctx->saved_data["bias_grad"] = b.defined() && b.requires_grad();
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor& x = saved[0];
    const std::optional<Tensor> b =
        saved[1].defined() ? std::optional<Tensor>(saved[1]) : std::nullopt;
    const std::string act = ctx->saved_data["act"].toStringRef();
    const int64_t dim = ctx->saved_data["dim"].toInt();
    const double alpha = ctx->saved_data["alpha"].toDouble();
    const double gain = ctx->saved_data["gain"].toDouble();
    const auto& civ = ctx->saved_data["clamp"];
    const std::optional<double> clamp =
        civ.isNone() ? std::nullopt : std::optional<double>(civ.toDouble());
    const bool bias_grad = ctx->saved_data["bias_grad"].toBool();
    auto [gx, gb] = call_backward_op([&] {
      return bias_act_bwd_op(grads[0], x, b, act, dim, alpha, gain, clamp,
                             bias_grad);
    });
    return {gx,          bias_grad ? gb : undefined(),
            undefined(), undefined(),
            undefined(), undefined(),
            undefined()};
  }
};

Tensor bias_act_autograd(const Tensor& x, const std::optional<Tensor>& bias,
                         c10::string_view act, int64_t dim, double alpha,
                         double gain, std::optional<double> clamp) {
  const bool bias_rg =
      bias.has_value() && bias->defined() && bias->requires_grad();
  if (!at::GradMode::is_enabled() || !(x.requires_grad() || bias_rg)) {
    return below_autograd(
        [&] { return bias_act_op(x, bias, act, dim, alpha, gain, clamp); });
  }
  return BiasActFn::apply(x, bias, act, dim, alpha, gain, clamp);
}

// ------------------------------------- forward with per-unit counts
//
// The counts are not differentiable; the output's gradient is the plain
// activation's (bias_act_backward without a bias gradient, prelu_backward).

struct BiasActCountFn : Function<BiasActCountFn> {
  static variable_list forward(AutogradContext* ctx, const Tensor& x,
                               const Tensor& bias, c10::string_view act,
                               int64_t dim, double alpha) {
    auto [y, counts] = below_autograd(
        [&] { return bias_act_count_op(x, bias, act, dim, alpha); });
    ctx->mark_non_differentiable({counts});
    ctx->save_for_backward({x, bias});
    ctx->saved_data["act"] = std::string(act);
    ctx->saved_data["dim"] = dim;
    ctx->saved_data["alpha"] = alpha;
    return {y, counts};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const std::string act = ctx->saved_data["act"].toStringRef();
    const int64_t dim = ctx->saved_data["dim"].toInt();
    const double alpha = ctx->saved_data["alpha"].toDouble();
    auto [gx, gb] = call_backward_op([&] {
      return bias_act_bwd_op(grads[0], saved[0], saved[1], act, dim, alpha, 1.0,
                             std::nullopt, false);
    });
    return {gx, undefined(), undefined(), undefined(), undefined()};
  }
};

std::tuple<Tensor, Tensor> bias_act_count_autograd(const Tensor& x,
                                                   const Tensor& bias,
                                                   c10::string_view act,
                                                   int64_t dim, double alpha) {
  if (!needs_grad(x)) {
    return below_autograd(
        [&] { return bias_act_count_op(x, bias, act, dim, alpha); });
  }
  auto out = BiasActCountFn::apply(x, bias, act, dim, alpha);
  return {out[0], out[1]};
}

struct PreluCountFn : Function<PreluCountFn> {
  static variable_list forward(AutogradContext* ctx, const Tensor& x,
                               const Tensor& w, int64_t dim) {
    auto [y, counts] =
        below_autograd([&] { return prelu_count_op(x, w, dim); });
    ctx->mark_non_differentiable({counts});
    ctx->save_for_backward({x, w});
    return {y, counts};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    auto [gi, gw] = prelu_bwd_op(grads[0], saved[0], saved[1]);
    return {gi, gw, undefined()};
  }
};

std::tuple<Tensor, Tensor> prelu_count_autograd(const Tensor& x,
                                                const Tensor& w, int64_t dim) {
  if (!needs_grad(x, w)) {
    return below_autograd([&] { return prelu_count_op(x, w, dim); });
  }
  auto out = PreluCountFn::apply(x, w, dim);
  return {out[0], out[1]};
}

}  // namespace
}  // namespace activations_ext

TORCH_LIBRARY_IMPL(activations_ext, Autograd, m) {
  using namespace activations_ext;
  m.impl("relu", &relu_autograd);
  m.impl("relu_", &relu_inplace_autograd);
  m.impl("relu_backward", &relu_backward_autograd);
  m.impl("sigmoid", &sigmoid_autograd);
  m.impl("sigmoid_backward", &sigmoid_backward_autograd);
  m.impl("leaky_relu", &leaky_autograd);
  m.impl("leaky_relu_", &leaky_inplace_autograd);
  m.impl("leaky_relu_backward", &leaky_backward_autograd);
  m.impl("elu", &elu_autograd);
  m.impl("elu_", &elu_inplace_autograd);
  m.impl("elu_backward", &elu_backward_autograd);
  m.impl("prelu", &prelu_autograd);
  m.impl("prelu_backward", &prelu_backward_autograd);
  m.impl("tanh", &tanh_autograd);
  m.impl("gelu", &gelu_autograd);
  m.impl("silu", &silu_autograd);
  m.impl("silu_", &silu_inplace_autograd);
  m.impl("softplus", &softplus_autograd);
  m.impl("mish", &mish_autograd);
  m.impl("mish_", &mish_inplace_autograd);
  m.impl("selu", &selu_autograd);
  m.impl("selu_", &selu_inplace_autograd);
  m.impl("hardswish", &hardswish_autograd);
  m.impl("hardswish_", &hardswish_inplace_autograd);
  m.impl("bias_act", &bias_act_autograd);
  m.impl("bias_act_count", &bias_act_count_autograd);
  m.impl("prelu_count", &prelu_count_autograd);
}
