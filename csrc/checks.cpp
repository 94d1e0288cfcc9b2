// Argument checks (see checks.h).
#include "checks.h"

#include "table.h"

#include <c10/core/SymBool.h>
#include <c10/core/WrapDimMinimal.h>
#include <c10/util/Exception.h>

#include <limits>
#include <string>

namespace activations_ext {
namespace {

// A symbolic comparison resolved (with a guard when tracing symbolically).
bool holds(const c10::SymBool& b) { return b.guard_bool(__FILE__, __LINE__); }

bool same_shape(const at::Tensor& a, const at::Tensor& b) {
  const auto sa = a.sym_sizes();
  const auto sb = b.sym_sizes();
  if (sa.size() != sb.size()) {
    return false;
  }
  for (size_t i = 0; i < sa.size(); ++i) {
    if (!holds(sa[i].sym_eq(sb[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

void check_float(const at::Tensor& t, const char* op, const char* what) {
  TORCH_CHECK_VALUE(t.defined(), "activations_ext.", op, ": ", what,
                    " is an undefined tensor");
  TORCH_CHECK_VALUE(t.layout() == at::kStrided, "activations_ext.", op, ": ",
                    what, " must be a dense (strided) tensor, but got layout ",
                    t.layout());
  const auto dt = t.scalar_type();
  TORCH_CHECK_TYPE(dt == at::kFloat || dt == at::kDouble || dt == at::kHalf ||
                       dt == at::kBFloat16,
                   "activations_ext.", op, ": ", what,
                   " must be a floating-point tensor (float16, bfloat16, "
                   "float32 or float64), but got ",
                   dt, ". Convert it first, e.g. with .float().");
}

void check_pair(const at::Tensor& a, const at::Tensor& b, const char* op,
                const char* a_name, const char* b_name) {
  check_float(a, op, a_name);
  check_float(b, op, b_name);
  TORCH_CHECK_TYPE(a.scalar_type() == b.scalar_type(), "activations_ext.", op,
                   ": ", a_name, " has dtype ", a.scalar_type(), " but ",
                   b_name, " has dtype ", b.scalar_type());
  TORCH_CHECK(a.device() == b.device(), "activations_ext.", op, ": ", a_name,
              " is on ", a.device(), " but ", b_name, " is on ", b.device());
  TORCH_CHECK_VALUE(same_shape(a, b), "activations_ext.", op, ": ", a_name,
                    " has shape ", a.sym_sizes(), " but ", b_name,
                    " has shape ", b.sym_sizes());
}

void check_prelu(const at::Tensor& x, const at::Tensor& w, const char* op) {
  check_float(x, op, "input");
  check_float(w, op, "weight");
  TORCH_CHECK_TYPE(w.scalar_type() == x.scalar_type(), "activations_ext.", op,
                   ": weight has dtype ", w.scalar_type(),
                   " but input has dtype ", x.scalar_type(),
                   "; they must match");
  TORCH_CHECK(w.device() == x.device(), "activations_ext.", op,
              ": weight is on ", w.device(), " but input is on ", x.device(),
              "; move them to the same device");
  TORCH_CHECK_VALUE(w.dim() <= 1, "activations_ext.", op,
                    ": weight must be a scalar or 1-d tensor, but got ",
                    w.dim(), " dimensions");
  if (!holds(w.sym_numel().sym_eq(1))) {
    TORCH_CHECK_VALUE(x.dim() > 0, "activations_ext.", op,
                      ": a 0-d input takes a weight of one element, but got ",
                      w.sym_numel());
    const c10::SymInt channels = x.dim() >= 2 ? x.sym_size(1) : c10::SymInt(1);
    TORCH_CHECK_VALUE(holds(w.sym_numel().sym_eq(channels)), "activations_ext.",
                      op, ": weight has ", w.sym_numel(),
                      " elements, but it must have 1 or as many as the "
                      "input's channels (size of dim 1) = ",
                      channels);
  }
}

Act check_gelu_approximate(c10::string_view approximate, const char* op) {
  if (approximate == "none") {
    return Act::GELU;
  }
  if (approximate == "tanh") {
    return Act::GELUTanh;
  }
  TORCH_CHECK_VALUE(false, "activations_ext.", op,
                    ": approximate must be 'none' or 'tanh', but got '",
                    std::string(approximate), "'");
}

void check_softplus_beta(double beta, const char* op) {
  TORCH_CHECK_VALUE(beta != 0.0, "activations_ext.", op,
                    ": beta must be non-zero");
}

void check_save_output(double param, const char* op, const char* name) {
  TORCH_CHECK_VALUE(param >= 0, "activations_ext.", op,
                    ": save_output=True needs ", name,
                    " >= 0 (the output then has the input's sign), but got ",
                    name, "=", param);
}

int64_t check_unit_dim(const at::Tensor& x, int64_t dim, const char* op) {
  TORCH_CHECK_VALUE(x.dim() > 0, "activations_ext.", op,
                    ": counting per unit needs an input with at least one "
                    "dimension");
  return c10::maybe_wrap_dim(dim, x.dim());
}

void check_prelu_count_dim(const at::Tensor& x, const at::Tensor& w,
                           int64_t dim, const char* op) {
  const int64_t d = check_unit_dim(x, dim, op);
  if (!holds(w.sym_numel().sym_eq(1))) {
    TORCH_CHECK_VALUE(d == 1, "activations_ext.", op,
                      ": a per-channel weight counts along dim 1, but got dim ",
                      dim);
  }
}

void check_act_params(Act act, double p0, double p1, at::ScalarType dtype,
                      const char* op) {
  if (act == Act::Hardtanh) {
    TORCH_CHECK_VALUE(!(p0 > p1), "activations_ext.", op,
                      ": min_val cannot be greater than max_val, but got "
                      "min_val=",
                      p0, " and max_val=", p1);
  } else if (act == Act::Softshrink) {
    double largest = std::numeric_limits<float>::max();
    if (dtype == at::kDouble) {
      largest = std::numeric_limits<double>::max();
    } else if (dtype == at::kHalf) {
      largest = 65504.0;
    } else if (dtype == at::kBFloat16) {
      largest = 3.3895313892515355e38;
    }
    TORCH_CHECK(p0 >= 0 && p0 <= largest, "activations_ext.", op,
                ": lambd must be in [0, ", largest, "] for input dtype ", dtype,
                ", but got lambd=", p0);
  }
}

ActParams bias_act_params(c10::string_view act, double alpha, const char* op) {
  constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
  constexpr double kSeluScale = 1.0507009873554804934193349852946;
  const std::string a(act);
  ActParams p;
#define ACTEXT_SIMPLE_NAME(name, enumerator, functor, saves, inplace) \
  if (a == #name) {                                                   \
    p.act = Act::enumerator;                                          \
    return p;                                                         \
  }
  ACTEXT_SIMPLE_ACTIVATIONS(ACTEXT_SIMPLE_NAME)
#undef ACTEXT_SIMPLE_NAME
#define ACTEXT_PARAM_NAME(name, enumerator, functor, saves, inplace, params) \
  if (a == #name) {                                                          \
    const struct {                                                           \
      bool offered;                                                          \
      double p0, p1;                                                         \
    } v{ACTEXT_P_BIAS_ACT_##params};                                         \
    TORCH_CHECK_VALUE(v.offered, "activations_ext.", op, ": act '", a,       \
                      "' takes two parameters without defaults, and "        \
                      "bias_act's alpha carries one");                       \
    check_act_params(Act::enumerator, v.p0, v.p1, at::kFloat, op);           \
    p.act = Act::enumerator;                                                 \
    p.alpha = v.p0;                                                          \
    p.scale = v.p1;                                                          \
    return p;                                                                \
  }
  ACTEXT_PARAM_ACTIVATIONS(ACTEXT_PARAM_NAME)
#undef ACTEXT_PARAM_NAME
  if (a == "leaky_relu") {
    p.act = Act::LeakyReLU;
    p.alpha = alpha;
  } else if (a == "elu") {
    p.act = Act::ELU;
    p.alpha = alpha;
  } else if (a == "celu") {
    // celu(x, alpha) = elu(x, alpha, 1, 1 / alpha), as torch computes it.
    TORCH_CHECK(alpha != 0, "activations_ext.", op,
                ": alpha cannot be 0 for CELU (it divides by alpha)");
    p.act = Act::ELU;
    p.alpha = alpha;
    p.input_scale = 1.0 / alpha;
  } else if (a == "selu") {
    p.act = Act::ELU;
    p.alpha = kSeluAlpha;
    p.scale = kSeluScale;
  } else if (a == "gelu") {
    p.act = Act::GELU;
  } else if (a == "gelu_tanh") {
    p.act = Act::GELUTanh;
  } else if (a == "softplus") {
    check_softplus_beta(alpha, op);
    p.act = Act::Softplus;
    p.alpha = alpha;
    p.threshold = 20.0;
  } else if (a == "linear") {
    p.act = Act::Linear;
  } else {
#define ACTEXT_SIMPLE_LIST(name, act, functor, saves, inplace) #name ", "
#define ACTEXT_PARAM_LIST(name, act, functor, saves, inplace, params) \
  ACTEXT_IF_BIAS_ACT_##params(#name ", ")
    TORCH_CHECK_VALUE(false, "activations_ext.", op, ": unknown act '", a,
                      "'; expected one of ",
                      ACTEXT_SIMPLE_ACTIVATIONS(ACTEXT_SIMPLE_LIST)
                          ACTEXT_PARAM_ACTIVATIONS(ACTEXT_PARAM_LIST)
                      "leaky_relu, elu, celu, selu, gelu, gelu_tanh, "
                      "softplus, linear");
#undef ACTEXT_PARAM_LIST
#undef ACTEXT_SIMPLE_LIST
  }
  return p;
}

ActParams check_bias_act(const at::Tensor& x,
                         const std::optional<at::Tensor>& bias,
                         c10::string_view act, int64_t dim, double alpha,
                         std::optional<double> clamp, const char* op) {
  check_float(x, op, "input");
  const ActParams p = bias_act_params(act, alpha, op);
  if (clamp.has_value()) {
    TORCH_CHECK_VALUE(*clamp >= 0, "activations_ext.", op,
                      ": clamp must be >= 0, but got ", *clamp);
  }
  if (bias.has_value() && bias->defined()) {
    const at::Tensor& b = *bias;
    check_float(b, op, "bias");
    TORCH_CHECK_VALUE(x.dim() > 0, "activations_ext.", op,
                      ": a bias needs an input with at least one dimension");
    const int64_t d = c10::maybe_wrap_dim(dim, x.dim());
    TORCH_CHECK_TYPE(b.scalar_type() == x.scalar_type(), "activations_ext.", op,
                     ": bias has dtype ", b.scalar_type(),
                     " but input has dtype ", x.scalar_type());
    TORCH_CHECK(b.device() == x.device(), "activations_ext.", op,
                ": bias is on ", b.device(), " but input is on ", x.device());
    TORCH_CHECK_VALUE(
        b.dim() == 1 && holds(b.sym_size(0).sym_eq(x.sym_size(d))),
        "activations_ext.", op, ": bias must be 1-d with ", x.sym_size(d),
        " elements (input.shape[", d, "]), but got shape ", b.sym_sizes());
  }
  return p;
}

ActParams check_gated(const at::Tensor& gate, const at::Tensor& up,
                      c10::string_view act, double alpha, const char* op) {
  check_pair(gate, up, op, "gate", "up");
  return bias_act_params(act, alpha, op);
}

int64_t check_gated_split(const at::Tensor& x, int64_t dim, const char* op) {
  check_float(x, op, "input");
  TORCH_CHECK(x.dim() > 0, "activations_ext.", op,
              ": a 0-d input cannot be split into two halves");
  const int64_t d = c10::maybe_wrap_dim(dim, x.dim());
  TORCH_CHECK(holds((x.sym_size(d) % 2).sym_eq(0)), "activations_ext.", op,
              ": input.shape[", d, "] is ", x.sym_size(d),
              ", which is odd; the split needs an even size along dim");
  return d;
}

}  // namespace activations_ext
