// Autograd for every operator, as C++ torch::autograd::Function's registered
// for the Autograd dispatch key.
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

// -------------------------------------------------------------------- ReLU

struct ReluFn : Function<ReluFn> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x) {
    Tensor y = below_autograd([&] { return relu_op(x); });
    ctx->save_for_backward({y});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {relu_bwd_op(grads[0], ctx->get_saved_variables()[0])};
  }
};

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
  return ReluFn::apply(x);
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

struct SigmoidFn : Function<SigmoidFn> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x) {
    Tensor y = below_autograd([&] { return sigmoid_op(x); });
    ctx->save_for_backward({y});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {sigmoid_bwd_op(grads[0], ctx->get_saved_variables()[0])};
  }
};

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
  return SigmoidFn::apply(x);
}

Tensor sigmoid_backward_autograd(const Tensor& g, const Tensor& y) {
  if (!needs_grad(g, y)) {
    return below_autograd([&] { return sigmoid_bwd_op(g, y); });
  }
  return SigmoidBackwardFn::apply(g, y);
}

// --------------------------------------------------------------- LeakyReLU

struct LeakyReluFn : Function<LeakyReluFn> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, double slope,
                        bool save_output) {
    Tensor y = below_autograd([&] { return leaky_op(x, slope, save_output); });
    const bool from_output = save_output && can_save_output(x);
    ctx->save_for_backward({from_output ? y : x});
    ctx->saved_data["slope"] = slope;
    ctx->saved_data["from_output"] = from_output;
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {leaky_bwd_op(grads[0], ctx->get_saved_variables()[0],
                         ctx->saved_data["slope"].toDouble(),
                         ctx->saved_data["from_output"].toBool()),
            undefined(), undefined()};
  }
};

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
  return LeakyReluFn::apply(x, slope, save_output);
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

struct EluFn : Function<EluFn> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, double alpha,
                        double scale, double input_scale, bool save_output) {
    Tensor y = below_autograd(
        [&] { return elu_op(x, alpha, scale, input_scale, save_output); });
    const bool from_output = save_output && can_save_output(x);
    ctx->save_for_backward({from_output ? y : x});
    save_elu_params(ctx, alpha, scale, input_scale);
    ctx->saved_data["from_output"] = from_output;
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {elu_bwd_saved(ctx, grads[0], ctx->get_saved_variables()[0],
                          ctx->saved_data["from_output"].toBool()),
            undefined(), undefined(), undefined(), undefined()};
  }
};

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
  return EluFn::apply(x, alpha, scale, input_scale, save_output);
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
}
