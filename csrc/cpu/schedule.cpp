// CPU work split across threads (see schedule.h).
#include "schedule.h"

#include <ATen/Parallel.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>

namespace activations_ext {
namespace cpu {
namespace {

// at::parallel_for grain: chunks of 32K elements, ATen's own choice for
// elementwise loops.
constexpr int64_t kGrain = at::internal::GRAIN_SIZE;

// The activations that evaluate an exp, erf, log or a division per element
// cost several times a copy, so a second thread pays for its start-up well
// below 32K elements: they split from 4K (torch's MKL-backed tanh splits
// from 2K). The piecewise-linear ones keep ATen's grain.
constexpr int64_t kCostlyGrain = 4096;

bool is_costly(Act act) {
  switch (act) {
    case Act::Sigmoid:
    case Act::ELU:
    case Act::Tanh:
    case Act::GELU:
    case Act::GELUTanh:
    case Act::SiLU:
    case Act::Softplus:
    case Act::Mish:
    case Act::Softsign:
    case Act::LogSigmoid:
    case Act::Tanhshrink:
    case Act::QuickGELU:
      return true;
    default:
      return false;
  }
}

int64_t grain(Act act) { return is_costly(act) ? kCostlyGrain : kGrain; }

// The one-tensor loops of `act` in `dtype`: bound by memory where the
// activation keeps ATen's grain and the type is float or double (see
// narrow_kernels()). float16 and bfloat16 stay on kernels(): their
// conversions take fewer instructions in 512-bit registers, and on the AVX2
// table the piecewise-linear bfloat16 forwards went from 0.57-0.64x
// torch's time to 0.73-0.80x (Zen 4, 256K-4M elements).
bool is_wide(c10::ScalarType dtype) {
  return dtype == c10::ScalarType::Float || dtype == c10::ScalarType::Double;
}

const KernelTable& elementwise_kernels(Act act, c10::ScalarType dtype) {
  return is_wide(dtype) && grain(act) == kGrain ? narrow_kernels() : kernels();
}

// The last-level cache's size: sysfs's, as lscpu reports it (under a
// hypervisor sysconf may give the host's instead, 64 MB where the guest
// sees 8), else sysconf's, else 8 MB.
int64_t last_level_cache_bytes() {
  for (int index = 4; index >= 2; --index) {
    const std::string dir =
        "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index);
    std::ifstream size(dir + "/size");
    std::string text;
    if (!(size >> text) || text.empty()) {
      continue;
    }
    char* end = nullptr;
    const long long v = std::strtoll(text.c_str(), &end, 10);
    if (end == text.c_str() || v <= 0) {
      continue;
    }
    const int64_t unit = *end == 'K' ? 1024 : *end == 'M' ? 1024 * 1024 : 1;
    return static_cast<int64_t>(v) * unit;
  }
  long llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (llc <= 0) {
    llc = sysconf(_SC_LEVEL2_CACHE_SIZE);
  }
  return llc > 0 ? static_cast<int64_t>(llc) : int64_t{8} << 20;
}

// A normal store reads each line of the output into the cache before
// writing it. Once the operands outgrow the last-level cache, those reads
// come from memory: a tensor's worth of traffic more, a third of a
// forward's, and they evict the inputs. Such outputs are streamed instead
// (ActParams::stream): from half the cache's size, where input and output
// together fill it, and only where the kernel is bound by memory, not by
// arithmetic: float32 and float64 results of the piecewise-linear
// activations (those of ATen's grain, see grain()), forward and backward.
// Measured on a 2-core AMD EPYC (Zen 1, 8 MB of L3), out of place, median
// of 100 calls, three runs each way: float32 ReLU, LeakyReLU and Hardtanh
// forward at 1M-4M elements 0.6-0.7x the cached stores' time, backward
// 0.65-0.85x. Where stores come apart in time, after an exp or a
// bfloat16 conversion, the write-combining buffers drain half-filled and
// streaming loses: Sigmoid forward 1.1-1.4x, bfloat16 LeakyReLU 1.3-1.6x,
// the gated forward at 2048 x 2816 1.7x; those never stream. In place the
// lines are in the cache already and streaming only pushes them out (ReLU
// at 1M: 0.07 -> 0.26 ms), so in-place calls never stream either.
// ACTIVATIONS_EXT_STREAM_BYTES overrides the threshold (0: every call that
// may stream; a negative value: never).
int64_t stream_threshold() {
  static const int64_t bytes = [] {
    if (const char* env = std::getenv("ACTIVATIONS_EXT_STREAM_BYTES")) {
      char* end = nullptr;
      const long long v = std::strtoll(env, &end, 10);
      if (end != env && *end == '\0') {
        return v < 0 ? std::numeric_limits<int64_t>::max()
                     : static_cast<int64_t>(v);
      }
    }
    return last_level_cache_bytes() / 2;
  }();
  return bytes;
}

// p, streaming when the kernel may (see above) and its output (out_bytes,
// not overlapping its operands) is at least stream_threshold().
ActParams streamed(const ActParams& p, c10::ScalarType dtype, int64_t out_bytes,
                   bool in_place) {
  ActParams q = p;
  q.stream = is_wide(dtype) && !in_place && grain(p.act) == kGrain &&
             out_bytes >= stream_threshold();
  return q;
}

// float16 and bfloat16 forwards of the activations that cost more than a
// lookup take their results from a table of every input's value (see
// lookup_table in cpu/kernels.cpp; the bits are the computed ones), from
// kLookupMin elements on: building a table computes the forward 65536
// times, which a call of that size repays even the first time. Measured on
// one core of an AMD EPYC Zen 4 at 1M bfloat16 elements, the lookup takes
// about 310 us; computed, GELU took 660 us, Tanh 620, SiLU 495, ELU 445,
// Sigmoid 440 (float16: 360). Not Softsign (one division, 160 us), nor the
// piecewise-linear ones, whose loops store without rounding.
// Their backwards look up the gradient's factor where the functor allows
// it (kBackwardScales: ELU, GELU, SiLU, Mish, Softplus, LogSigmoid,
// Tanhshrink, QuickGELU); the others (Sigmoid and Tanh, from their output,
// and Softsign) compute. In a stand-alone loop over 1M bfloat16
// elements (one core, same processor), LogSigmoid's backward took 383 us
// looked up against 513 computed (AVX2: 410 against 785), GELU's 382
// against 753 (AVX2: 414 against 1777).
// Only below stream_threshold(): beyond the cache, where every call also
// faults in its new output's pages, the loops are bound by memory, and
// there the lookup's 2-byte stores measured no faster than the computed
// loops, or slower (16M bfloat16 elements, two threads: Sigmoid 13.4 ms
// against 12.1, SiLU and Tanh equal, GELU 13.1 against 13.8; at 4M, 8 MB,
// Sigmoid 1.0 against 0.95 ms, GELU 0.80 against 1.44).
// A backward only where its three operands together stay below that size:
// at 4M bfloat16 elements (24 MB of operands) the lookup measured slower
// for LogSigmoid (1.53 against 1.13 ms) and Softplus (1.66 against 1.29),
// while at 1M it is faster for all of them (LogSigmoid 252 against 281 us,
// Softplus 259 against 316, GELU 249 against 412; two threads).
// ACTIVATIONS_EXT_LOOKUP=0 turns it off (see lookup_mode below).
constexpr int64_t kLookupMin = 65536;

// A forward only where the computed loop costs clearly more than the
// lookup's. Sigmoid, SiLU, ELU and QuickGELU compute: on an AMD EPYC Zen 4
// their computed bfloat16 forwards took 440-510 us per 1M elements on one
// core, against 316-571 us for the lookup as it then stored (one 2-byte
// store per element, the same code measuring either at two times of one
// session); on a Zen 5, with the lookup building whole registers (see
// lookup_block in cpu/kernels.cpp), SiLU's lookup and computed forwards
// both took 177-179 us on two threads. GELU computes too where the
// AVX-512 kernels take it from tables of polynomials (VecMathFloat::gelu):
// on one core of a Zen 5, 1M bfloat16 elements, 230 us computed from the
// float table and 345 looked up (torch: 225); with the shorter table of
// gelu_narrow, 0.90x torch's time on two threads.
// With the AVX-512 kernels the computed loops have caught up with the
// lookup elsewhere too (since their per-register steps are inlined, see
// ACTEXT_LAMBDA_INLINE in cpu/kernels.cpp), while the lookup, bound by its
// loads, gains less from a second thread. On a Zen 5, bfloat16, the
// lookup's time over the computed one's, one thread / two threads, at 1M
// elements (256K alike):
//   backward: ELU 1.12 / 1.48, LogSigmoid 1.04 / 1.53, SiLU 0.84 / 1.28,
//     Softplus 0.86 / 1.30, GELU 0.86 / 1.18, QuickGELU 0.76 / 1.10,
//     Tanhshrink 0.73 / 1.09, GELU tanh 0.60 / 0.90, Mish 0.56 / 0.80;
//   forward: Tanh 0.98 / 1.45, GELU tanh 0.91 / 1.40, Tanhshrink 0.95 /
//     1.36, Mish 0.84 / 1.26, LogSigmoid 0.57 / 0.85, Softplus 0.53 / 0.82
// (float16, two threads: the same order, the lookup 5-15% better). So
// with AVX-512 only the last few look up: the backwards of Mish, GELU tanh
// and Tanhshrink, the forwards of LogSigmoid and Softplus. On the
// AVX2 table, everything that may: there the lookup took 0.2-0.75x the
// computed loop's time in every one of those cells.
enum class Direction { kForward, kBackward };

bool may_look_up(Act act) { return is_costly(act) && act != Act::Softsign; }

bool looks_up(Act act, Direction direction) {
  if (!may_look_up(act)) {
    return false;
  }
  if (kernels_are_avx512()) {
    return direction == Direction::kBackward
               ? act == Act::Mish || act == Act::GELUTanh ||
                     act == Act::Tanhshrink
               : act == Act::LogSigmoid || act == Act::Softplus;
  }
  const bool cheap_forward = act == Act::Sigmoid || act == Act::SiLU ||
                             act == Act::ELU || act == Act::QuickGELU;
  return direction == Direction::kBackward || !cheap_forward;
}

// ACTIVATIONS_EXT_LOOKUP: unset, the choice above; "0", never; "all",
// wherever the kernel can (for the tests, and for comparing the two).
enum class LookupMode { kNever, kScheduled, kAlways };

LookupMode lookup_mode() {
  static const LookupMode mode = [] {
    const char* env = std::getenv("ACTIVATIONS_EXT_LOOKUP");
    if (env == nullptr) {
      return LookupMode::kScheduled;
    }
    const std::string value(env);
    return value == "0"     ? LookupMode::kNever
           : value == "all" ? LookupMode::kAlways
                            : LookupMode::kScheduled;
  }();
  return mode;
}

bool lookup_wanted(Act act, Direction direction) {
  switch (lookup_mode()) {
    case LookupMode::kNever:
      return false;
    case LookupMode::kAlways:
      return may_look_up(act);
    default:
      return looks_up(act, direction);
  }
}

// p, looking up its results where the kernel may (see above) over n
// elements of dtype in `direction`, its operands counted against the
// cache (the forward's output; the backward's three operands).
ActParams with_lookup(const ActParams& p, c10::ScalarType dtype, int64_t n,
                      Direction direction) {
  ActParams q = p;
  const int64_t operands = direction == Direction::kForward ? 1 : 3;
  const int64_t bytes = operands * n * c10::elementSize(dtype);
  q.lookup = !is_wide(dtype) && n >= kLookupMin && bytes < stream_threshold() &&
             lookup_wanted(p.act, direction);
  return q;
}

}  // namespace

void forward_dense(const ActParams& params, c10::ScalarType dtype, char* out,
                   const char* in, int64_t n, int64_t es) {
  const auto& k = elementwise_kernels(params.act, dtype);
  const ActParams p = with_lookup(streamed(params, dtype, n * es, out == in),
                                  dtype, n, Direction::kForward);
  at::parallel_for(0, n, grain(p.act), [&](int64_t b, int64_t e) {
    k.forward(p, dtype, out + b * es, in + b * es, e - b, es, es);
  });
}

void forward_strided(const ActParams& params, c10::ScalarType dtype,
                     at::TensorIteratorBase& iter) {
  const auto& k = elementwise_kernels(params.act, dtype);
  const ActParams p =
      with_lookup(params, dtype, iter.numel(), Direction::kForward);
  iter.for_each(
      [&](char** data, const int64_t* strides, int64_t size0, int64_t size1) {
        for (int64_t j = 0; j < size1; ++j) {
          k.forward(p, dtype, data[0] + j * strides[2],
                    data[1] + j * strides[3], size0, strides[0], strides[1]);
        }
      },
      kGrain);
}

void backward_dense(const ActParams& params, c10::ScalarType dtype,
                    bool from_output, char* gin, const char* g,
                    const char* saved, int64_t n, int64_t es) {
  const auto& k = elementwise_kernels(params.act, dtype);
  const ActParams p =
      with_lookup(streamed(params, dtype, n * es, gin == g || gin == saved),
                  dtype, n, Direction::kBackward);
  at::parallel_for(0, n, grain(p.act), [&](int64_t b, int64_t e) {
    k.backward(p, dtype, from_output, gin + b * es, g + b * es, saved + b * es,
               e - b, es, es, es);
  });
}

void backward_strided(const ActParams& params, c10::ScalarType dtype,
                      bool from_output, at::TensorIteratorBase& iter) {
  const auto& k = elementwise_kernels(params.act, dtype);
  const ActParams p =
      with_lookup(params, dtype, iter.numel(), Direction::kBackward);
  iter.for_each(
      [&](char** data, const int64_t* strides, int64_t size0, int64_t size1) {
        for (int64_t j = 0; j < size1; ++j) {
          k.backward(p, dtype, from_output, data[0] + j * strides[3],
                     data[1] + j * strides[4], data[2] + j * strides[5], size0,
                     strides[0], strides[1], strides[2]);
        }
      },
      kGrain);
}

void channel_forward(const ChannelParams& p, c10::ScalarType dtype,
                     const ChannelShape& sh, char* o, const char* xp,
                     const char* wp, int64_t es) {
  const auto& k = kernels();
  const int64_t n = sh.outer * sh.channels * sh.inner;
  if (sh.channels == 1) {
    // One parameter for the whole tensor: each thread's share is one row.
    at::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
      k.channel_forward_rows(p, dtype, o + b * es, xp + b * es, wp, 0, 1, e - b,
                             1);
    });
  } else if (sh.inner > 1) {
    // Rows of `inner` elements, each with one parameter.
    const int64_t rows = sh.outer * sh.channels;
    const int64_t grain = std::max<int64_t>(1, kGrain / sh.inner);
    at::parallel_for(0, rows, grain, [&](int64_t b, int64_t e) {
      const int64_t off = b * sh.inner * es;
      k.channel_forward_rows(p, dtype, o + off, xp + off, wp, b, e - b,
                             sh.inner, sh.channels);
    });
  } else {
    // Rows of `channels` elements, one parameter per element.
    const int64_t grain = std::max<int64_t>(1, kGrain / sh.channels);
    at::parallel_for(0, sh.outer, grain, [&](int64_t b, int64_t e) {
      const int64_t off = b * sh.channels * es;
      k.channel_forward_rows(p, dtype, o + off, xp + off, wp, b, e - b,
                             sh.channels, 0);
    });
  }
}

// CPU backward. With `sums` (the parameter gradient, in double) the work is
// split into a fixed set of tasks, chosen from the shape only and never from
// the thread count, each summing its part into its own partial; partials
// are then added in a fixed order. So the result is bitwise reproducible,
// and the partials are far smaller than the input (at most 1/8 of it,
// usually a few KB).
void channel_backward(const ChannelParams& p, c10::ScalarType dtype,
                      const ChannelShape& sh, char* gi, const char* g,
                      const char* x, const char* w, int64_t es,
                      std::vector<double>* sums) {
  const auto& k = kernels();
  const int64_t n = sh.outer * sh.channels * sh.inner;
  const int64_t C = sh.channels;
  auto run = [&](char* gi_, const char* g_, const char* x_, const char* w_,
                 int64_t len, bool per_element, double* acc) {
    k.channel_backward(p, dtype, gi_, g_, x_, w_, len, per_element,
                       sums ? acc : nullptr);
  };
  if (C == 1) {
    const int64_t chunks = (n + kGrain - 1) / kGrain;
    std::vector<double> part(chunks, 0.0);
    at::parallel_for(0, chunks, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t lo = t * kGrain;
        const int64_t off = lo * es;
        run(gi + off, g + off, x + off, w, std::min(kGrain, n - lo), false,
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
          run(gi + off, g + off, x + off, w + c * es, sh.inner, false,
              &part[t]);
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
        run(gi + off, g + off, x + off, w + c0 * es, len, true,
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

namespace {

// Calls f(r, c, m) for pieces (row r, elements [c, c + m)) of a rows x len
// problem, in parallel chunks of about kGrain elements.
template <typename F>
void for_row_pieces(const GatedRows& R, const F& f) {
  at::parallel_for(0, R.rows * R.len, kGrain, [&](int64_t b, int64_t e) {
    while (b < e) {
      const int64_t r = b / R.len;
      const int64_t c = b % R.len;
      const int64_t m = std::min(R.len - c, e - b);
      f(r, c, m);
      b += m;
    }
  });
}

}  // namespace

void gated_forward(const ActParams& p, c10::ScalarType dtype,
                   const GatedRows& rows, int64_t es, char* out,
                   const char* gate, const char* up) {
  const auto& k = kernels();
  const int64_t* rs = rows.row_stride;
  for_row_pieces(rows, [&](int64_t r, int64_t c, int64_t m) {
    k.gated_forward(p, dtype, out + r * rs[0] + c * es,
                    gate + r * rs[1] + c * es, up + r * rs[2] + c * es, m);
  });
}

void gated_backward(const ActParams& p, c10::ScalarType dtype,
                    const GatedRows& rows, int64_t es, char* grad_gate,
                    char* grad_up, const char* g, const char* gate,
                    const char* up) {
  const auto& k = kernels();
  const int64_t* rs = rows.row_stride;
  for_row_pieces(rows, [&](int64_t r, int64_t c, int64_t m) {
    k.gated_backward(p, dtype, grad_gate + r * rs[0] + c * es,
                     grad_up + r * rs[1] + c * es, g + r * rs[2] + c * es,
                     gate + r * rs[3] + c * es, up + r * rs[4] + c * es, m);
  });
}

}  // namespace cpu
}  // namespace activations_ext
