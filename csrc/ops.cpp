// Operator schemas and their CPU/CUDA implementations.
//
// Everything device-independent lives here: argument checks with messages a
// user can act on, output allocation (the output keeps the input's memory
// format, as torch's does), and the choice between the dense path (every
// operand non-overlapping and dense with the same strides: one flat loop over
// memory) and the strided path (TensorIterator only plans the layout; our
// kernels run the loops). Kernels get raw pointers (kernels.h).
#include <ATen/Dispatch.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/Parallel.h>
#include <ATen/TensorIterator.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>
#include <c10/core/WrapDimMinimal.h>
#include <torch/library.h>

#include <optional>
#include <vector>

#include "kernels.h"

namespace activations_ext {
namespace {

using at::Tensor;

// at::parallel_for grain: chunks of 32K elements, ATen's own choice for
// elementwise loops.
constexpr int64_t kGrain = at::internal::GRAIN_SIZE;

// --------------------------------------------------------------- checks

void check_float(const Tensor& t, const char* op, const char* what) {
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

// Backward operands: same dtype, device and shape as each other.
void check_pair(const Tensor& a, const Tensor& b, const char* op,
                const char* a_name, const char* b_name) {
  check_float(a, op, a_name);
  check_float(b, op, b_name);
  TORCH_CHECK_TYPE(a.scalar_type() == b.scalar_type(), "activations_ext.", op,
                   ": ", a_name, " has dtype ", a.scalar_type(), " but ",
                   b_name, " has dtype ", b.scalar_type());
  TORCH_CHECK(a.device() == b.device(), "activations_ext.", op, ": ", a_name,
              " is on ", a.device(), " but ", b_name, " is on ", b.device());
  TORCH_CHECK_VALUE(a.sizes() == b.sizes(), "activations_ext.", op, ": ",
                    a_name, " has shape ", a.sizes(), " but ", b_name,
                    " has shape ", b.sizes());
}

bool same_dense_layout(const Tensor& a, const Tensor& b) {
  return a.is_non_overlapping_and_dense() && a.strides() == b.strides();
}

char* ptr(const Tensor& t) { return static_cast<char*>(t.data_ptr()); }

const char* cptr(const Tensor& t) {
  return static_cast<const char*>(t.const_data_ptr());
}

#if defined(ACTEXT_WITH_CUDA)
cuda::StridedPlan plan_of(const at::TensorIteratorBase& iter) {
  cuda::StridedPlan plan;
  TORCH_CHECK(iter.ndim() <= cuda::kMaxDims,
              "activations_ext: CUDA tensors with more than ", cuda::kMaxDims,
              " non-mergeable dimensions are not supported");
  plan.ndim = static_cast<int>(iter.ndim());
  for (int d = 0; d < plan.ndim; ++d) {
    plan.sizes[d] = iter.shape()[d];
    for (int k = 0; k < iter.ntensors(); ++k) {
      plan.strides[k][d] = iter.strides(k)[d];
    }
  }
  return plan;
}
#endif

[[noreturn, maybe_unused]] void no_cuda() {
  TORCH_CHECK(false,
              "activations_ext was built without CUDA kernels; rebuild it "
              "with a CUDA-enabled torch and nvcc available");
}

// An iterator over `out` and the inputs that only plans the loop: our kernels
// run it. `out` is allocated by the caller (so fake kernels can allocate the
// same way) and may alias an input exactly (in-place ops).
at::TensorIterator make_iter(const Tensor& out,
                             std::initializer_list<Tensor> ins) {
  at::TensorIteratorConfig config;
  config.set_check_mem_overlap(true)
      .check_all_same_dtype(true)
      .resize_outputs(false)
      .add_output(out);
  for (const auto& t : ins) {
    config.add_const_input(t);
  }
  return config.build();
}

// ----------------------------------------------------- unary activations

// out = act(x); `out` either is `x` (in place) or was allocated like it.
void run_forward(const ActParams& p, const Tensor& out, const Tensor& x) {
  const int64_t n = x.numel();
  if (n == 0) {
    return;
  }
  const auto dtype = x.scalar_type();
  if (same_dense_layout(x, out)) {
    if (x.is_cuda()) {
#if defined(ACTEXT_WITH_CUDA)
      cuda::forward_dense(p, dtype, ptr(out), cptr(x), n, x.device().index());
      return;
#else
      no_cuda();
#endif
    }
    const auto& k = cpu::kernels();
    const int64_t es = x.element_size();
    char* o = ptr(out);
    const char* i = cptr(x);
    at::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
      k.forward(p, dtype, o + b * es, i + b * es, e - b, es, es);
    });
    return;
  }
  auto iter = make_iter(out, {x});
  if (x.is_cuda()) {
#if defined(ACTEXT_WITH_CUDA)
    cuda::forward_strided(p, dtype, iter.data_ptr(0), iter.data_ptr(1),
                          plan_of(iter), n, x.device().index());
    return;
#else
    no_cuda();
#endif
  }
  const auto& k = cpu::kernels();
  iter.for_each(
      [&](char** data, const int64_t* strides, int64_t size0, int64_t size1) {
        for (int64_t j = 0; j < size1; ++j) {
          k.forward(p, dtype, data[0] + j * strides[2],
                    data[1] + j * strides[3], size0, strides[0], strides[1]);
        }
      },
      kGrain);
}

Tensor forward(const Tensor& x, const ActParams& p, const char* op) {
  check_float(x, op, "input");
  // Dense inputs keep their strides (channels_last stays channels_last);
  // others get the memory format torch would suggest.
  Tensor out = at::empty_like(x);
  run_forward(p, out, x);
  return out;
}

void forward_(const Tensor& x, const ActParams& p, const char* op) {
  check_float(x, op, "input");
  // Same error as torch for expanded inputs whose elements share memory.
  at::assert_no_internal_overlap(x);
  run_forward(p, x, x);
}

Tensor backward(const Tensor& g, const Tensor& saved, const ActParams& p,
                bool from_output, const char* op) {
  check_pair(g, saved, op, "grad_output", "saved tensor");
  Tensor gin = at::empty_like(saved);
  const int64_t n = gin.numel();
  if (n == 0) {
    return gin;
  }
  const auto dtype = g.scalar_type();
  if (same_dense_layout(saved, gin) && same_dense_layout(g, gin)) {
    if (g.is_cuda()) {
#if defined(ACTEXT_WITH_CUDA)
      cuda::backward_dense(p, dtype, from_output, ptr(gin), cptr(g),
                           cptr(saved), n, g.device().index());
      return gin;
#else
      no_cuda();
#endif
    }
    const auto& k = cpu::kernels();
    const int64_t es = g.element_size();
    char* o = ptr(gin);
    const char* gp = cptr(g);
    const char* sp = cptr(saved);
    at::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
      k.backward(p, dtype, from_output, o + b * es, gp + b * es, sp + b * es,
                 e - b, es, es, es);
    });
    return gin;
  }
  auto iter = make_iter(gin, {g, saved});
  if (g.is_cuda()) {
#if defined(ACTEXT_WITH_CUDA)
    cuda::backward_strided(p, dtype, from_output, iter.data_ptr(0),
                           iter.data_ptr(1), iter.data_ptr(2), plan_of(iter), n,
                           g.device().index());
    return gin;
#else
    no_cuda();
#endif
  }
  const auto& k = cpu::kernels();
  iter.for_each(
      [&](char** data, const int64_t* strides, int64_t size0, int64_t size1) {
        for (int64_t j = 0; j < size1; ++j) {
          k.backward(p, dtype, from_output, data[0] + j * strides[3],
                     data[1] + j * strides[4], data[2] + j * strides[5], size0,
                     strides[0], strides[1], strides[2]);
        }
      },
      kGrain);
  return gin;
}

ActParams relu_params() { return ActParams{Act::ReLU}; }
ActParams sigmoid_params() { return ActParams{Act::Sigmoid}; }
ActParams leaky_params(double slope) {
  return ActParams{Act::LeakyReLU, slope};
}
ActParams elu_params(double alpha, double scale, double input_scale) {
  return ActParams{Act::ELU, alpha, scale, input_scale};
}

Tensor relu(const Tensor& x) { return forward(x, relu_params(), "relu"); }
void relu_(const Tensor& x) { forward_(x, relu_params(), "relu_"); }
Tensor relu_backward(const Tensor& g, const Tensor& y) {
  return backward(g, y, relu_params(), true, "relu_backward");
}

Tensor sigmoid(const Tensor& x) {
  return forward(x, sigmoid_params(), "sigmoid");
}
Tensor sigmoid_backward(const Tensor& g, const Tensor& y) {
  return backward(g, y, sigmoid_params(), true, "sigmoid_backward");
}

void check_save_output(double param, const char* op, const char* name) {
  TORCH_CHECK_VALUE(param >= 0, "activations_ext.", op,
                    ": save_output=True needs ", name,
                    " >= 0 (the output then "
                    "has the input's sign), but got ",
                    name, "=", param);
}

Tensor leaky_relu(const Tensor& x, double slope, bool save_output) {
  if (save_output) {
    check_save_output(slope, "leaky_relu", "negative_slope");
  }
  return forward(x, leaky_params(slope), "leaky_relu");
}
void leaky_relu_(const Tensor& x, double slope) {
  forward_(x, leaky_params(slope), "leaky_relu_");
}
Tensor leaky_relu_backward(const Tensor& g, const Tensor& saved, double slope,
                           bool saved_is_output) {
  // Same condition and message as torch's in-place leaky_relu_ backward.
  TORCH_CHECK(!saved_is_output || slope >= 0.0,
              "In-place leakyReLu backward calculation is triggered with a "
              "negative slope which is not supported. This is caused by "
              "calling in-place forward function with a negative slope, "
              "please call out-of-place version instead.");
  return backward(g, saved, leaky_params(slope), saved_is_output,
                  "leaky_relu_backward");
}

Tensor elu(const Tensor& x, double alpha, double scale, double input_scale,
           bool save_output) {
  if (save_output) {
    check_save_output(alpha, "elu", "alpha");
  }
  return forward(x, elu_params(alpha, scale, input_scale), "elu");
}
void elu_(const Tensor& x, double alpha, double scale, double input_scale) {
  forward_(x, elu_params(alpha, scale, input_scale), "elu_");
}
Tensor elu_backward(const Tensor& g, const Tensor& saved, double alpha,
                    double scale, double input_scale, bool saved_is_output) {
  TORCH_CHECK(!saved_is_output || alpha >= 0.0,
              "In-place elu backward calculation is triggered with a negative "
              "slope which is not supported. This is caused by calling "
              "in-place forward function with a negative slope, please call "
              "out-of-place version instead.");
  return backward(g, saved, elu_params(alpha, scale, input_scale),
                  saved_is_output, "elu_backward");
}

// ------------------------------------------------------------ modern set

ActParams simple_params(Act act) { return ActParams{act}; }

Tensor tanh(const Tensor& x) {
  return forward(x, simple_params(Act::Tanh), "tanh");
}
Tensor tanh_backward(const Tensor& g, const Tensor& y) {
  return backward(g, y, simple_params(Act::Tanh), true, "tanh_backward");
}

Act gelu_act(c10::string_view approximate, const char* op) {
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

Tensor gelu(const Tensor& x, c10::string_view approximate) {
  return forward(x, simple_params(gelu_act(approximate, "gelu")), "gelu");
}
Tensor gelu_backward(const Tensor& g, const Tensor& x,
                     c10::string_view approximate) {
  return backward(g, x, simple_params(gelu_act(approximate, "gelu_backward")),
                  false, "gelu_backward");
}

Tensor silu(const Tensor& x) {
  return forward(x, simple_params(Act::SiLU), "silu");
}
void silu_(const Tensor& x) { forward_(x, simple_params(Act::SiLU), "silu_"); }
Tensor silu_backward(const Tensor& g, const Tensor& x) {
  return backward(g, x, simple_params(Act::SiLU), false, "silu_backward");
}

ActParams softplus_params(double beta, double threshold, const char* op) {
  TORCH_CHECK_VALUE(beta != 0.0, "activations_ext.", op,
                    ": beta must be non-zero");
  ActParams p{Act::Softplus, beta};
  p.threshold = threshold;
  return p;
}
Tensor softplus(const Tensor& x, double beta, double threshold) {
  return forward(x, softplus_params(beta, threshold, "softplus"), "softplus");
}
Tensor softplus_backward(const Tensor& g, const Tensor& x, double beta,
                         double threshold) {
  return backward(g, x, softplus_params(beta, threshold, "softplus_backward"),
                  false, "softplus_backward");
}

Tensor mish(const Tensor& x) {
  return forward(x, simple_params(Act::Mish), "mish");
}
void mish_(const Tensor& x) { forward_(x, simple_params(Act::Mish), "mish_"); }
Tensor mish_backward(const Tensor& g, const Tensor& x) {
  return backward(g, x, simple_params(Act::Mish), false, "mish_backward");
}

// SELU is ELU with torch's constants; its backward is elu_backward.
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;
Tensor selu(const Tensor& x) {
  return forward(x, elu_params(kSeluAlpha, kSeluScale, 1.0), "selu");
}
void selu_(const Tensor& x) {
  forward_(x, elu_params(kSeluAlpha, kSeluScale, 1.0), "selu_");
}

Tensor hardswish(const Tensor& x) {
  return forward(x, simple_params(Act::Hardswish), "hardswish");
}
void hardswish_(const Tensor& x) {
  forward_(x, simple_params(Act::Hardswish), "hardswish_");
}
Tensor hardswish_backward(const Tensor& g, const Tensor& x) {
  return backward(g, x, simple_params(Act::Hardswish), false,
                  "hardswish_backward");
}

// -------------------------------------------- per-channel: PReLU, bias_act

// x seen as [outer][channels][inner] in memory along `dim`, or nothing if
// its layout is none of: one shared parameter (any dense layout),
// contiguous, or dense with `dim` innermost (channels_last, transposed
// (N, L, C) data, (N, C) rows).
std::optional<ChannelShape> channel_shape(const Tensor& x, int64_t dim,
                                          int64_t param_numel) {
  const int64_t n = x.numel();
  if (param_numel == 1) {
    if (!x.is_non_overlapping_and_dense()) {
      return std::nullopt;
    }
    return ChannelShape{1, 1, n};
  }
  const int64_t c = x.size(dim);
  if (x.is_contiguous()) {
    int64_t outer = 1;
    for (int64_t d = 0; d < dim; ++d) {
      outer *= x.size(d);
    }
    return ChannelShape{outer, c, n / (outer * c)};
  }
  if (x.is_non_overlapping_and_dense() && x.stride(dim) == 1) {
    return ChannelShape{n / c, c, 1};
  }
  return std::nullopt;
}

// The input in a layout channel_shape() accepts (a copy only for exotic
// ones); `g`, if given, is brought to the same strides.
Tensor channel_input(const Tensor& x, int64_t dim, int64_t param_numel,
                     ChannelShape& shape) {
  auto s = channel_shape(x, dim, param_numel);
  if (s) {
    shape = *s;
    return x;
  }
  Tensor xc = x.contiguous();
  shape = *channel_shape(xc, dim, param_numel);
  return xc;
}

// out = op(x, w) for every element; x non-empty.
Tensor channel_forward(const Tensor& x_in, const Tensor& w_in, int64_t dim,
                       const ChannelParams& p) {
  ChannelShape sh;
  Tensor x = channel_input(x_in, dim, w_in.numel(), sh);
  Tensor w = w_in.contiguous();
  Tensor out = at::empty_like(x);
  const int64_t n = x.numel();
  const auto dtype = x.scalar_type();
  if (x.is_cuda()) {
#if defined(ACTEXT_WITH_CUDA)
    cuda::channel_forward(p, dtype, ptr(out), cptr(x), cptr(w), sh,
                          x.device().index());
    return out;
#else
    no_cuda();
#endif
  }
  const auto& k = cpu::kernels();
  const int64_t es = x.element_size();
  char* o = ptr(out);
  const char* xp = cptr(x);
  const char* wp = cptr(w);
  if (sh.channels == 1) {
    at::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
      k.channel_forward(p, dtype, o + b * es, xp + b * es, wp, e - b, es, es,
                        0);
    });
  } else if (sh.inner > 1) {
    // Rows of `inner` elements, each with one parameter.
    const int64_t rows = sh.outer * sh.channels;
    const int64_t grain = std::max<int64_t>(1, kGrain / sh.inner);
    at::parallel_for(0, rows, grain, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t off = r * sh.inner * es;
        k.channel_forward(p, dtype, o + off, xp + off,
                          wp + (r % sh.channels) * es, sh.inner, es, es, 0);
      }
    });
  } else {
    // Rows of `channels` elements, one parameter per element.
    const int64_t grain = std::max<int64_t>(1, kGrain / sh.channels);
    at::parallel_for(0, sh.outer, grain, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t off = r * sh.channels * es;
        k.channel_forward(p, dtype, o + off, xp + off, wp, sh.channels, es, es,
                          es);
      }
    });
  }
  return out;
}

// CPU backward. With `sums` (the parameter gradient, in double) the work is
// split into a fixed set of tasks, chosen from the shape only and never from
// the thread count, each summing its part into its own partial; partials
// are then added in a fixed order. So the result is bitwise reproducible,
// and the partials are far smaller than the input (at most 1/8 of it,
// usually a few KB).
void channel_backward_cpu(const ChannelParams& p, at::ScalarType dtype,
                          const ChannelShape& sh, char* gi, const char* g,
                          const char* x, const char* w, int64_t es,
                          std::vector<double>* sums) {
  const auto& k = cpu::kernels();
  const int64_t n = sh.outer * sh.channels * sh.inner;
  const int64_t C = sh.channels;
  auto run = [&](char* gi_, const char* g_, const char* x_, const char* w_,
                 int64_t len, int64_t s_w, double* acc) {
    k.channel_backward(p, dtype, gi_, g_, x_, w_, len, es, es, es, s_w,
                       sums ? acc : nullptr);
  };
  if (C == 1) {
    const int64_t chunks = (n + kGrain - 1) / kGrain;
    std::vector<double> part(chunks, 0.0);
    at::parallel_for(0, chunks, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t lo = t * kGrain;
        const int64_t off = lo * es;
        run(gi + off, g + off, x + off, w, std::min(kGrain, n - lo), 0,
            &part[t]);
      }
    });
    if (sums) {
      double s = 0;
      for (auto v : part) {
        s += v;
      }
      (*sums)[0] = s;
    }
    return;
  }
  if (sh.inner > 1) {
    // Task (oc, c): channel c over a run of `per` consecutive outer indices.
    const int64_t per = std::min(
        sh.outer, std::max<int64_t>(1, (kGrain + sh.inner - 1) / sh.inner));
    const int64_t n_oc = (sh.outer + per - 1) / per;
    std::vector<double> part(n_oc * C, 0.0);
    at::parallel_for(0, n_oc * C, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t oc = t / C;
        const int64_t c = t % C;
        const int64_t o_end = std::min(sh.outer, (oc + 1) * per);
        for (int64_t o = oc * per; o < o_end; ++o) {
          const int64_t off = ((o * C + c) * sh.inner) * es;
          run(gi + off, g + off, x + off, w + c * es, sh.inner, 0, &part[t]);
        }
      }
    });
    if (sums) {
      for (int64_t c = 0; c < C; ++c) {
        double s = 0;
        for (int64_t oc = 0; oc < n_oc; ++oc) {
          s += part[oc * C + c];
        }
        (*sums)[c] = s;
      }
    }
    return;
  }
  // inner == 1: rows of C elements. Task (rc, cb): a block of at most
  // kChanBlock channels over `per` consecutive rows; partials per row chunk.
  constexpr int64_t kChanBlock = 1024;
  const int64_t cblocks = (C + kChanBlock - 1) / kChanBlock;
  const int64_t cb_len = std::min(C, kChanBlock);
  const int64_t per = std::min(sh.outer, std::max<int64_t>(1, kGrain / cb_len));
  const int64_t n_rc = (sh.outer + per - 1) / per;
  std::vector<double> part(sums ? n_rc * C : 0, 0.0);
  at::parallel_for(0, n_rc * cblocks, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t rc = t / cblocks;
      const int64_t c0 = (t % cblocks) * kChanBlock;
      const int64_t len = std::min(kChanBlock, C - c0);
      const int64_t r_end = std::min(sh.outer, (rc + 1) * per);
      for (int64_t r = rc * per; r < r_end; ++r) {
        const int64_t off = (r * C + c0) * es;
        run(gi + off, g + off, x + off, w + c0 * es, len, es,
            sums ? &part[rc * C + c0] : nullptr);
      }
    }
  });
  if (sums) {
    for (int64_t c = 0; c < C; ++c) {
      double s = 0;
      for (int64_t rc = 0; rc < n_rc; ++rc) {
        s += part[rc * C + c];
      }
      (*sums)[c] = s;
    }
  }
}

// (grad_input, grad_param); grad_param is empty (0 elements) unless
// `param_grad`. x non-empty.
std::tuple<Tensor, Tensor> channel_backward(const Tensor& g_in,
                                            const Tensor& x_in,
                                            const Tensor& w_in, int64_t dim,
                                            const ChannelParams& p,
                                            bool param_grad) {
  ChannelShape sh;
  Tensor x = channel_input(x_in, dim, w_in.numel(), sh);
  Tensor w = w_in.contiguous();
  // The kernels walk grad_output with the input's strides.
  Tensor g = g_in;
  if (g.strides() != x.strides() || !g.is_non_overlapping_and_dense()) {
    g = at::empty_like(x);
    g.copy_(g_in);
  }
  Tensor gi = at::empty_like(x);
  Tensor gw = param_grad
                  ? at::empty(w_in.sizes(), w_in.options().memory_format(
                                                at::MemoryFormat::Contiguous))
                  : at::empty({0}, w_in.options());
  const auto dtype = x.scalar_type();
  if (x.is_cuda()) {
#if defined(ACTEXT_WITH_CUDA)
    const auto dev = x.device().index();
    Tensor ws;
    if (param_grad) {
      ws = at::empty({cuda::channel_workspace_bytes(sh, dev)},
                     x.options().dtype(at::kByte));
    }
    cuda::channel_backward(p, dtype, ptr(gi), param_grad ? ptr(gw) : nullptr,
                           cptr(g), cptr(x), cptr(w), sh,
                           param_grad ? ws.data_ptr() : nullptr, dev);
    return {gi, gw};
#else
    no_cuda();
#endif
  }
  std::vector<double> sums(param_grad ? w.numel() : 0, 0.0);
  channel_backward_cpu(p, dtype, sh, ptr(gi), cptr(g), cptr(x), cptr(w),
                       x.element_size(), param_grad ? &sums : nullptr);
  if (param_grad) {
    // C (or 1) values: written on the host.
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, dtype,
                                    "channel_backward_param", [&] {
                                      auto* out = gw.data_ptr<scalar_t>();
                                      for (size_t c = 0; c < sums.size(); ++c) {
                                        out[c] = static_cast<scalar_t>(sums[c]);
                                      }
                                    });
  }
  return {gi, gw};
}

void check_prelu(const Tensor& x, const Tensor& w, const char* op) {
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
  if (w.numel() != 1) {
    TORCH_CHECK_VALUE(x.dim() > 0, "activations_ext.", op,
                      ": a 0-d input takes a weight of one element, but got ",
                      w.numel());
    const int64_t channels = x.dim() >= 2 ? x.size(1) : 1;
    TORCH_CHECK_VALUE(w.numel() == channels, "activations_ext.", op,
                      ": weight has ", w.numel(),
                      " elements, but it must have 1 or as many as the "
                      "input's channels (size of dim 1) = ",
                      channels);
  }
}

const ChannelParams kPrelu{ChannelKind::PReLU};

Tensor prelu(const Tensor& x, const Tensor& w) {
  check_prelu(x, w, "prelu");
  if (x.numel() == 0) {
    return at::empty_like(x);
  }
  return channel_forward(x, w, x.dim() >= 2 ? 1 : 0, kPrelu);
}

std::tuple<Tensor, Tensor> prelu_backward(const Tensor& g, const Tensor& x,
                                          const Tensor& w) {
  check_prelu(x, w, "prelu_backward");
  check_pair(g, x, "prelu_backward", "grad_output", "input");
  if (x.numel() == 0) {
    return {at::empty_like(x), at::zeros_like(w, at::MemoryFormat::Contiguous)};
  }
  return channel_backward(g, x, w, x.dim() >= 2 ? 1 : 0, kPrelu, true);
}

// bias_act: y = clamp(act(x + bias) * gain) in one pass. `act` names an
// activation of the spec table without a tensor parameter, or 'linear' or
// 'gelu_tanh'; `alpha` is its scalar parameter (the Python wrapper fills in
// torch's default and rejects it for activations without one).
ActParams bias_act_params(c10::string_view act, double alpha) {
  const std::string a(act);
  if (a == "relu") return ActParams{Act::ReLU};
  if (a == "sigmoid") return ActParams{Act::Sigmoid};
  if (a == "leaky_relu") return ActParams{Act::LeakyReLU, alpha};
  if (a == "elu") return elu_params(alpha, 1.0, 1.0);
  if (a == "selu") return elu_params(kSeluAlpha, kSeluScale, 1.0);
  if (a == "tanh") return ActParams{Act::Tanh};
  if (a == "gelu") return ActParams{Act::GELU};
  if (a == "gelu_tanh") return ActParams{Act::GELUTanh};
  if (a == "silu") return ActParams{Act::SiLU};
  if (a == "softplus") return softplus_params(alpha, 20.0, "bias_act");
  if (a == "mish") return ActParams{Act::Mish};
  if (a == "hardswish") return ActParams{Act::Hardswish};
  if (a == "linear") return ActParams{Act::Linear};
  TORCH_CHECK_VALUE(false, "activations_ext.bias_act: unknown act '", a,
                    "'; expected one of relu, sigmoid, leaky_relu, elu, "
                    "selu, tanh, gelu, gelu_tanh, silu, softplus, mish, "
                    "hardswish, linear");
}

struct BiasActArgs {
  Tensor bias;  // 1 element (zero) when no bias was given
  int64_t dim = 0;
  ChannelParams p;
};

BiasActArgs bias_act_args(const Tensor& x, const std::optional<Tensor>& bias,
                          c10::string_view act, int64_t dim, double alpha,
                          double gain, std::optional<double> clamp,
                          const char* op) {
  check_float(x, op, "input");
  BiasActArgs a;
  a.p.kind = ChannelKind::BiasAct;
  a.p.act = bias_act_params(act, alpha);
  a.p.gain = gain;
  if (clamp.has_value()) {
    TORCH_CHECK_VALUE(*clamp >= 0, "activations_ext.", op,
                      ": clamp must be >= 0, but got ", *clamp);
    a.p.has_clamp = true;
    a.p.clamp = *clamp;
  }
  if (bias.has_value() && bias->defined()) {
    const Tensor& b = *bias;
    check_float(b, op, "bias");
    TORCH_CHECK_VALUE(x.dim() > 0, "activations_ext.", op,
                      ": a bias needs an input with at least one dimension");
    a.dim = c10::maybe_wrap_dim(dim, x.dim());
    TORCH_CHECK_TYPE(b.scalar_type() == x.scalar_type(), "activations_ext.", op,
                     ": bias has dtype ", b.scalar_type(),
                     " but input has dtype ", x.scalar_type());
    TORCH_CHECK(b.device() == x.device(), "activations_ext.", op,
                ": bias is on ", b.device(), " but input is on ", x.device());
    TORCH_CHECK_VALUE(b.dim() == 1 && b.size(0) == x.size(a.dim),
                      "activations_ext.", op, ": bias must be 1-d with ",
                      x.size(a.dim), " elements (input.shape[", a.dim,
                      "]), but got shape ", b.sizes());
    a.bias = b;
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
  if (x.numel() == 0) {
    return at::empty_like(x);
  }
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
  if (x.numel() == 0) {
    return {at::empty_like(x),
            bias_grad ? at::zeros_like(a.bias) : at::empty({0}, x.options())};
  }
  return channel_backward(g, x, a.bias, a.dim, a.p, bias_grad);
}

// ------------------------------------------ forward with per-unit counts

// y = op(x, w) and, per channel along `dim`, how many elements have a
// positive pre-activation: one pass (the dead-unit monitor's fused count).
// Runs on the backward kernels, which already reduce per channel; x stands
// in for the unused incoming gradient. `w` has size(dim) elements.
std::tuple<Tensor, Tensor> channel_forward_count(const Tensor& x_in,
                                                 const Tensor& w_in,
                                                 int64_t dim, ChannelParams p) {
  p.count_active = true;
  const int64_t units = w_in.numel();
  Tensor counts = at::empty({units}, x_in.options().dtype(at::kLong));
  if (x_in.numel() == 0) {
    counts.zero_();
    return {at::empty_like(x_in), counts};
  }
  ChannelShape sh;
  Tensor x = channel_input(x_in, dim, units, sh);
  Tensor w = w_in.contiguous();
  Tensor y = at::empty_like(x);
  const auto dtype = x.scalar_type();
  if (x.is_cuda()) {
#if defined(ACTEXT_WITH_CUDA)
    const auto dev = x.device().index();
    Tensor sums = at::empty({units}, x.options().dtype(at::kDouble));
    Tensor ws = at::empty({cuda::channel_workspace_bytes(sh, dev)},
                          x.options().dtype(at::kByte));
    cuda::channel_backward(p, dtype, ptr(y), ptr(sums), cptr(x), cptr(x),
                           cptr(w), sh, ws.data_ptr(), dev);
    counts.copy_(sums);
    return {y, counts};
#else
    no_cuda();
#endif
  }
  std::vector<double> sums(units, 0.0);
  channel_backward_cpu(p, dtype, sh, ptr(y), cptr(x), cptr(x), cptr(w),
                       x.element_size(), &sums);
  auto* c = counts.data_ptr<int64_t>();
  for (int64_t u = 0; u < units; ++u) {
    c[u] = static_cast<int64_t>(sums[u]);
  }
  return {y, counts};
}

int64_t unit_dim(const Tensor& x, int64_t dim, const char* op) {
  TORCH_CHECK_VALUE(x.dim() > 0, "activations_ext.", op,
                    ": counting per unit needs an input with at least one "
                    "dimension");
  return c10::maybe_wrap_dim(dim, x.dim());
}

// bias_act (gain 1, no clamp) with per-unit counts along `dim`; `bias` has
// size(dim) elements (zeros for a plain activation).
std::tuple<Tensor, Tensor> bias_act_count(const Tensor& x, const Tensor& bias,
                                          c10::string_view act, int64_t dim,
                                          double alpha) {
  const int64_t d = unit_dim(x, dim, "bias_act_count");
  const auto a = bias_act_args(x, bias, act, d, alpha, 1.0, std::nullopt,
                               "bias_act_count");
  return channel_forward_count(x, a.bias, a.dim, a.p);
}

// prelu with per-unit counts along `dim`: the weight has one element (any
// dim) or one per channel of dim 1 (then dim must be 1).
std::tuple<Tensor, Tensor> prelu_count(const Tensor& x, const Tensor& w,
                                       int64_t dim) {
  check_prelu(x, w, "prelu_count");
  const int64_t d = unit_dim(x, dim, "prelu_count");
  if (w.numel() == 1) {
    return channel_forward_count(x, w.reshape({1}).expand({x.size(d)}), d,
                                 kPrelu);
  }
  TORCH_CHECK_VALUE(d == 1,
                    "activations_ext.prelu_count: a per-channel "
                    "weight counts along dim 1, but got dim ",
                    dim);
  return channel_forward_count(x, w, 1, kPrelu);
}

}  // namespace

bool built_with_cuda() {
#if defined(ACTEXT_WITH_CUDA)
  return true;
#else
  return false;
#endif
}

std::string cpu_kernel_isa() { return cpu::kernels().name; }

}  // namespace activations_ext

// Schemas. In-place variants return nothing (the form torch.compile's
// functionalization and torch.export accept for mutating custom ops); the
// Python functional returns the mutated input, as torch's do.
TORCH_LIBRARY(activations_ext, m) {
  m.set_python_module("activations_ext.ops");
  m.def("relu(Tensor self) -> Tensor");
  m.def("relu_(Tensor(a!) self) -> ()");
  m.def("relu_backward(Tensor grad_output, Tensor result) -> Tensor");
  m.def("sigmoid(Tensor self) -> Tensor");
  m.def("sigmoid_backward(Tensor grad_output, Tensor result) -> Tensor");
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
  m.def("prelu(Tensor self, Tensor weight) -> Tensor");
  m.def(
      "prelu_backward(Tensor grad_output, Tensor self, Tensor weight) "
      "-> (Tensor, Tensor)");
  m.def("tanh(Tensor self) -> Tensor");
  m.def("tanh_backward(Tensor grad_output, Tensor result) -> Tensor");
  m.def("gelu(Tensor self, str approximate='none') -> Tensor");
  m.def(
      "gelu_backward(Tensor grad_output, Tensor self, str approximate) -> "
      "Tensor");
  m.def("silu(Tensor self) -> Tensor");
  m.def("silu_(Tensor(a!) self) -> ()");
  m.def("silu_backward(Tensor grad_output, Tensor self) -> Tensor");
  m.def(
      "softplus(Tensor self, float beta=1.0, float threshold=20.0) -> Tensor");
  m.def(
      "softplus_backward(Tensor grad_output, Tensor self, float beta, "
      "float threshold) -> Tensor");
  m.def("mish(Tensor self) -> Tensor");
  m.def("mish_(Tensor(a!) self) -> ()");
  m.def("mish_backward(Tensor grad_output, Tensor self) -> Tensor");
  m.def("selu(Tensor self) -> Tensor");
  m.def("selu_(Tensor(a!) self) -> ()");
  m.def("hardswish(Tensor self) -> Tensor");
  m.def("hardswish_(Tensor(a!) self) -> ()");
  m.def("hardswish_backward(Tensor grad_output, Tensor self) -> Tensor");
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
      "prelu_count(Tensor input, Tensor weight, int dim) -> (Tensor, Tensor)");
}

// The same implementations serve both devices: they branch on the tensors'
// device only to call the CPU or the CUDA kernels.
#define ACTEXT_IMPL_ALL(m)                                              \
  m.impl("relu", &activations_ext::relu);                               \
  m.impl("relu_", &activations_ext::relu_);                             \
  m.impl("relu_backward", &activations_ext::relu_backward);             \
  m.impl("sigmoid", &activations_ext::sigmoid);                         \
  m.impl("sigmoid_backward", &activations_ext::sigmoid_backward);       \
  m.impl("leaky_relu", &activations_ext::leaky_relu);                   \
  m.impl("leaky_relu_", &activations_ext::leaky_relu_);                 \
  m.impl("leaky_relu_backward", &activations_ext::leaky_relu_backward); \
  m.impl("elu", &activations_ext::elu);                                 \
  m.impl("elu_", &activations_ext::elu_);                               \
  m.impl("elu_backward", &activations_ext::elu_backward);               \
  m.impl("prelu", &activations_ext::prelu);                             \
  m.impl("prelu_backward", &activations_ext::prelu_backward);           \
  m.impl("tanh", &activations_ext::tanh);                               \
  m.impl("tanh_backward", &activations_ext::tanh_backward);             \
  m.impl("gelu", &activations_ext::gelu);                               \
  m.impl("gelu_backward", &activations_ext::gelu_backward);             \
  m.impl("silu", &activations_ext::silu);                               \
  m.impl("silu_", &activations_ext::silu_);                             \
  m.impl("silu_backward", &activations_ext::silu_backward);             \
  m.impl("softplus", &activations_ext::softplus);                       \
  m.impl("softplus_backward", &activations_ext::softplus_backward);     \
  m.impl("mish", &activations_ext::mish);                               \
  m.impl("mish_", &activations_ext::mish_);                             \
  m.impl("mish_backward", &activations_ext::mish_backward);             \
  m.impl("selu", &activations_ext::selu);                               \
  m.impl("selu_", &activations_ext::selu_);                             \
  m.impl("hardswish", &activations_ext::hardswish);                     \
  m.impl("hardswish_", &activations_ext::hardswish_);                   \
  m.impl("hardswish_backward", &activations_ext::hardswish_backward);   \
  m.impl("bias_act", &activations_ext::bias_act);                       \
  m.impl("bias_act_backward", &activations_ext::bias_act_backward);     \
  m.impl("bias_act_count", &activations_ext::bias_act_count);           \
  m.impl("prelu_count", &activations_ext::prelu_count)

TORCH_LIBRARY_IMPL(activations_ext, CPU, m) { ACTEXT_IMPL_ALL(m); }

#if defined(ACTEXT_WITH_CUDA)
TORCH_LIBRARY_IMPL(activations_ext, CUDA, m) { ACTEXT_IMPL_ALL(m); }
#endif
