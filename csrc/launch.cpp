// The operators' bodies below argument handling (see launch.h).
#include "launch.h"

#include <ATen/Dispatch.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/TensorIterator.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros_like.h>

#include <cstdint>
#include <optional>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "cpu/schedule.h"
#include "kernels.h"

namespace activations_ext {
namespace {

using at::Tensor;

bool same_dense_layout(const Tensor& a, const Tensor& b) {
  return a.is_non_overlapping_and_dense() && a.strides() == b.strides();
}

char* ptr(const Tensor& t) { return static_cast<char*>(t.data_ptr()); }

const char* cptr(const Tensor& t) {
  return static_cast<const char*>(t.const_data_ptr());
}

// The loop TensorIterator planned, for the CUDA strided kernels.
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

// out = act(x); `out` either is `x` (in place) or was allocated like it.
void run_forward(const ActParams& p, const Tensor& out, const Tensor& x) {
  const int64_t n = x.numel();
  if (n == 0) {
    return;
  }
  const auto dtype = x.scalar_type();
  if (same_dense_layout(x, out)) {
    if (x.is_cuda()) {
      cuda::forward_dense(p, dtype, ptr(out), cptr(x), n, x.device().index());
    } else {
      cpu::forward_dense(p, dtype, ptr(out), cptr(x), n, x.element_size());
    }
    return;
  }
  auto iter = make_iter(out, {x});
  if (x.is_cuda()) {
    cuda::forward_strided(p, dtype, iter.data_ptr(0), iter.data_ptr(1),
                          plan_of(iter), n, x.device().index());
  } else {
    cpu::forward_strided(p, dtype, iter);
  }
}

}  // namespace

// A new CPU output of at least kHugeOutput bytes, before anything touches
// it, is advised into transparent huge pages (madvise MADV_HUGEPAGE on the
// 2 MB-aligned part of its memory), which Linux then maps 2 MB at a time
// where it allows them (THP "madvise" or "always"; with "never", or
// elsewhere, the advice changes nothing). glibc maps blocks of 32 MB and
// more afresh for every allocation and unmaps them when freed, so each call
// that writes such an output pays for its pages on first touch, a fault per
// 4 KB page, and at these sizes those faults were most of a memory-bound
// call's time: on a 2-core AMD EPYC Zen 5 (THP "madvise"), ReLU's forward
// over 16M float32 took 24 ms with small pages and 6 ms with huge ones
// (torch's THP_MEM_ALLOC_ENABLE=1 does the same for all of its
// allocations). The memory is still c10's allocation, counted and freed as
// any other; only how the kernel backs it changes. Below 32 MB glibc keeps
// freed blocks for reuse, already backed, so the advice is left out there.
// ACTIVATIONS_EXT_HUGE_PAGES=0 turns it off (for comparison).
Tensor fresh(Tensor t) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr int64_t kHugeOutput = int64_t{32} << 20;
  static const bool on = cpu::env_switch_on("ACTIVATIONS_EXT_HUGE_PAGES");
  const int64_t bytes = static_cast<int64_t>(t.storage().nbytes());
  if (on && t.is_cpu() && bytes >= kHugeOutput) {
    constexpr std::uintptr_t kHuge = std::uintptr_t{2} << 20;
    const auto begin =
        reinterpret_cast<std::uintptr_t>(t.storage().mutable_data());
    const std::uintptr_t lo = (begin + kHuge - 1) & ~(kHuge - 1);
    const std::uintptr_t hi = (begin + bytes) & ~(kHuge - 1);
    if (hi > lo) {
      // Only advice: a failure (no THP in this kernel) changes nothing.
      (void)madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
    }
  }
#endif
  return t;
}

Tensor unary_forward(const Tensor& x, const ActParams& p,
                     bool contiguous_on_cpu) {
  // Dense inputs keep their strides (channels_last stays channels_last);
  // others get the memory format torch would suggest.
  Tensor out = fresh((contiguous_on_cpu && x.is_cpu())
                         ? at::empty_like(x, at::MemoryFormat::Contiguous)
                         : at::empty_like(x));
  run_forward(p, out, x);
  return out;
}

void unary_forward_(const Tensor& x, const ActParams& p) {
  // Same error as torch for expanded inputs whose elements share memory.
  at::assert_no_internal_overlap(x);
  run_forward(p, x, x);
}

Tensor unary_backward(const Tensor& g, const Tensor& saved, const ActParams& p,
                      bool from_output) {
  Tensor gin = fresh(at::empty_like(saved));
  const int64_t n = gin.numel();
  if (n == 0) {
    return gin;
  }
  const auto dtype = g.scalar_type();
  if (same_dense_layout(saved, gin) && same_dense_layout(g, gin)) {
    if (g.is_cuda()) {
      cuda::backward_dense(p, dtype, from_output, ptr(gin), cptr(g),
                           cptr(saved), n, g.device().index());
    } else {
      cpu::backward_dense(p, dtype, from_output, ptr(gin), cptr(g), cptr(saved),
                          n, g.element_size());
    }
    return gin;
  }
  auto iter = make_iter(gin, {g, saved});
  if (g.is_cuda()) {
    cuda::backward_strided(p, dtype, from_output, iter.data_ptr(0),
                           iter.data_ptr(1), iter.data_ptr(2), plan_of(iter), n,
                           g.device().index());
  } else {
    cpu::backward_strided(p, dtype, from_output, iter);
  }
  return gin;
}

namespace {

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

}  // namespace

Tensor channel_forward(const Tensor& x_in, const Tensor& w_in, int64_t dim,
                       const ChannelParams& p) {
  if (x_in.numel() == 0) {
    return at::empty_like(x_in);
  }
  ChannelShape sh;
  Tensor x = channel_input(x_in, dim, w_in.numel(), sh);
  Tensor w = w_in.contiguous();
  Tensor out = fresh(at::empty_like(x));
  const auto dtype = x.scalar_type();
  if (x.is_cuda()) {
    cuda::channel_forward(p, dtype, ptr(out), cptr(x), cptr(w), sh,
                          x.device().index());
  } else {
    cpu::channel_forward(p, dtype, sh, ptr(out), cptr(x), cptr(w),
                         x.element_size());
  }
  return out;
}

std::tuple<Tensor, Tensor> channel_backward(const Tensor& g_in,
                                            const Tensor& x_in,
                                            const Tensor& w_in, int64_t dim,
                                            const ChannelParams& p,
                                            bool param_grad) {
  if (x_in.numel() == 0) {
    return {at::empty_like(x_in),
            param_grad ? at::zeros_like(w_in, at::MemoryFormat::Contiguous)
                       : at::empty({0}, w_in.options())};
  }
  ChannelShape sh;
  Tensor x = channel_input(x_in, dim, w_in.numel(), sh);
  Tensor w = w_in.contiguous();
  // The kernels walk grad_output with the input's strides.
  Tensor g = g_in;
  if (g.strides() != x.strides() || !g.is_non_overlapping_and_dense()) {
    g = at::empty_like(x);
    g.copy_(g_in);
  }
  Tensor gi = fresh(at::empty_like(x));
  Tensor gw = param_grad
                  ? at::empty(w_in.sizes(), w_in.options().memory_format(
                                                at::MemoryFormat::Contiguous))
                  : at::empty({0}, w_in.options());
  const auto dtype = x.scalar_type();
  if (x.is_cuda()) {
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
  }
  std::vector<double> sums(param_grad ? w.numel() : 0, 0.0);
  cpu::channel_backward(p, dtype, sh, ptr(gi), cptr(g), cptr(x), cptr(w),
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

std::tuple<Tensor, Tensor> channel_forward_count(const Tensor& x_in,
                                                 const Tensor& w_in,
                                                 int64_t dim, ChannelParams p) {
  // Runs on the backward kernels, which already reduce per channel; x
  // stands in for the unused incoming gradient.
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
  Tensor y = fresh(at::empty_like(x));
  const auto dtype = x.scalar_type();
  if (x.is_cuda()) {
    const auto dev = x.device().index();
    Tensor sums = at::empty({units}, x.options().dtype(at::kDouble));
    Tensor ws = at::empty({cuda::channel_workspace_bytes(sh, dev)},
                          x.options().dtype(at::kByte));
    cuda::channel_backward(p, dtype, ptr(y), ptr(sums), cptr(x), cptr(x),
                           cptr(w), sh, ws.data_ptr(), dev);
    counts.copy_(sums);
    return {y, counts};
  }
  std::vector<double> sums(units, 0.0);
  cpu::channel_backward(p, dtype, sh, ptr(y), cptr(x), cptr(x), cptr(w),
                        x.element_size(), &sums);
  auto* c = counts.data_ptr<int64_t>();
  for (int64_t u = 0; u < units; ++u) {
    c[u] = static_cast<int64_t>(sums[u]);
  }
  return {y, counts};
}

// ------------------------------------------------------------------ gated

namespace {

// Rows shorter than this are not worth a kernel call each: such layouts are
// copied to contiguous memory instead.
constexpr int64_t kMinRowLen = 64;

// Dims [k, ndim) of t are row-major contiguous (size-1 dims ignored).
bool inner_contiguous(const Tensor& t, int64_t k) {
  int64_t expected = 1;
  for (int64_t d = t.dim() - 1; d >= k; --d) {
    if (t.size(d) == 1) {
      continue;
    }
    if (t.stride(d) != expected) {
      return false;
    }
    expected *= t.size(d);
  }
  return true;
}

// Dims [0, k) of t collapse into one dimension; its stride (elements) in rs.
bool outer_collapses(const Tensor& t, int64_t k, int64_t& rs) {
  rs = 0;
  bool first = true;
  int64_t expected = 0;
  for (int64_t d = k - 1; d >= 0; --d) {
    if (t.size(d) == 1) {
      continue;
    }
    if (first) {
      rs = t.stride(d);
      expected = rs * t.size(d);
      first = false;
    } else if (t.stride(d) != expected) {
      return false;
    } else {
      expected *= t.size(d);
    }
  }
  return true;
}

// The operands (outputs first, all of one shape and dtype, n > 0) as
// GatedRows, or nothing if some layout is neither of the two that
// GatedRows describes.
std::optional<GatedRows> gated_rows(const std::vector<Tensor>& ts) {
  const Tensor& t0 = ts[0];
  const int64_t n = t0.numel();
  const int64_t es = t0.element_size();
  GatedRows r;
  bool dense = true;
  for (const auto& t : ts) {
    dense = dense && same_dense_layout(t, t0);
  }
  if (dense) {
    r.rows = 1;
    r.len = n;
    return r;
  }
  for (int64_t k = 0; k < t0.dim(); ++k) {
    int64_t len = 1;
    for (int64_t d = k; d < t0.dim(); ++d) {
      len *= t0.size(d);
    }
    if (len < kMinRowLen && len < n) {
      break;
    }
    bool ok = true;
    for (size_t i = 0; ok && i < ts.size(); ++i) {
      int64_t rs = 0;
      ok = inner_contiguous(ts[i], k) && outer_collapses(ts[i], k, rs);
      r.row_stride[i] = rs * es;
    }
    if (ok) {
      r.rows = n / len;
      r.len = len;
      return r;
    }
  }
  return std::nullopt;
}

void gated_run(const ActParams& p, const std::vector<Tensor>& outs,
               const std::vector<Tensor>& ins) {
  const int64_t n = outs[0].numel();
  if (n == 0) {
    return;
  }
  std::vector<Tensor> all(outs);
  all.insert(all.end(), ins.begin(), ins.end());
  auto rows = gated_rows(all);
  if (!rows) {
    // Any other layout: contiguous copies in, contiguous results copied out.
    std::vector<Tensor> co;
    std::vector<Tensor> ci;
    for (const auto& t : outs) {
      co.push_back(at::empty(t.sizes(), t.options()));
    }
    for (const auto& t : ins) {
      ci.push_back(t.contiguous());
    }
    gated_run(p, co, ci);
    for (size_t i = 0; i < outs.size(); ++i) {
      outs[i].copy_(co[i]);
    }
    return;
  }
  const auto dtype = outs[0].scalar_type();
  const bool cuda = outs[0].is_cuda();
  const int64_t es = outs[0].element_size();
  if (outs.size() == 1) {
    if (cuda) {
      cuda::gated_forward(p, dtype, ptr(outs[0]), cptr(ins[0]), cptr(ins[1]),
                          *rows, outs[0].device().index());
    } else {
      cpu::gated_forward(p, dtype, *rows, es, ptr(outs[0]), cptr(ins[0]),
                         cptr(ins[1]));
    }
    return;
  }
  if (cuda) {
    cuda::gated_backward(p, dtype, ptr(outs[0]), ptr(outs[1]), cptr(ins[0]),
                         cptr(ins[1]), cptr(ins[2]), *rows,
                         outs[0].device().index());
  } else {
    cpu::gated_backward(p, dtype, *rows, es, ptr(outs[0]), ptr(outs[1]),
                        cptr(ins[0]), cptr(ins[1]), cptr(ins[2]));
  }
}

}  // namespace

Tensor gated_empty(const Tensor& gate, const Tensor& up) {
  if (same_dense_layout(gate, up)) {
    return fresh(at::empty_like(gate));
  }
  return fresh(at::empty(gate.sizes(), gate.options()));
}

void gated_forward_into(const Tensor& out, const Tensor& gate, const Tensor& up,
                        const ActParams& p) {
  gated_run(p, {out}, {gate, up});
}

void gated_backward_into(const Tensor& grad_gate, const Tensor& grad_up,
                         const Tensor& g, const Tensor& gate, const Tensor& up,
                         const ActParams& p) {
  gated_run(p, {grad_gate, grad_up}, {g, gate, up});
}

}  // namespace activations_ext
