// CPU kernels, compiled once per instruction set.
//
// setup.py builds this file three times: with no flags (DEFAULT), with
// -mavx2 -mfma (AVX2) and with -mavx512* (AVX512), each time defining
// CPU_CAPABILITY and CPU_CAPABILITY_<ISA> the way ATen's own build does, so
// that at::vec::Vectorized is a real SIMD register (without those defines it
// silently stays scalar). cpu/dispatch.cpp picks one table at run time.
//
// These loops are memory-bound for ReLU and LeakyReLU (read x, write y: the
// bytes of two tensors) and close to it for Sigmoid and ELU, where one exp
// per element costs about as much as the memory traffic on two cores.
#ifndef CPU_CAPABILITY
#define CPU_CAPABILITY DEFAULT
#endif
#define ACTEXT_ISA CPU_CAPABILITY

#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>
#include <c10/macros/Macros.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Exception.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include "../kernels.h"
#include "vec_math.h"

// The lambdas that run per register (the functor applied to a register,
// the loop bodies around it) are forced inline too, as the functors are
// (see ACTEXT_INLINE in activations.h): GCC left some of them out of line,
// a call per register that, with GELU's coefficient tables reloaded at each
// call, cost bias_act's GELU forward 1.8x the plain GELU's time.
#if defined(__GNUC__) || defined(__clang__)
#define ACTEXT_LAMBDA_INLINE __attribute__((always_inline))
#else
#define ACTEXT_LAMBDA_INLINE
#endif

namespace activations_ext {
namespace cpu {
namespace CPU_CAPABILITY {
namespace {

using at::vec::Vectorized;

template <typename scalar_t>
constexpr bool kReduced = std::is_same_v<scalar_t, c10::Half> ||
                          std::is_same_v<scalar_t, c10::BFloat16>;

// Compute type: float for float/half/bfloat16, double for double.
template <typename scalar_t>
using acc_t =
    std::conditional_t<std::is_same_v<scalar_t, double>, double, float>;

// Elements per step of the contiguous loops: one Vectorized<scalar_t>.
template <typename scalar_t>
constexpr int64_t kStep = Vectorized<scalar_t>::size();

// Applies `f` to full-register chunks of [0, n) and then to the tail, with
// `count` the number of valid lanes (== kStep except in the tail).
template <typename scalar_t, typename F>
inline void for_each_step(int64_t n, const F& f) {
  constexpr int64_t W = kStep<scalar_t>;
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    f(i, W);
  }
  if (i < n) {
    f(i, n - i);
  }
}

// ---------------------------------------- bfloat16 <-> float, in registers
//
// A bfloat16 value is the high half of a float's bits, so widening is a
// shift and narrowing a rounding of the low half away. ATen's conversions
// keep the elements in order, which costs lane-crossing operations each way
// (a zero-extension and an extract to widen, a permute after the packing to
// narrow). Loops whose lanes are independent and whose every operand is
// widened the same way can instead take a register apart "unpacked"
// (vpunpcklwd and vpunpckhwd with zero, one operation per float register):
// a = elements 0-3 of every 8-element (128-bit) lane, b = elements 4-7.
// vpackusdw works within 128-bit lanes the same way, so packing the two
// back restores the order by itself. Unpacked: map_steps (every forward and
// backward), the gated and per-channel forwards. In order: wherever a lane
// meets data laid out in order (a looked-up factor, a per-lane sum).
//
// Rounding to nearest even, one rounding for every path, on every
// processor: where it has AVX512_BF16 (AMD Zen 4 and later, Intel Cooper
// Lake and Sapphire Rapids and later), one vcvtne2ps2bf16 per pair of float
// registers; elsewhere, or where a register holds a float denormal (which
// the instruction flushes to zero), the same rounding in integer operations
// (ATen's sequence), with a NaN keeping its sign and payload, quieted, as
// the instruction does (ATen's gives 0xffff; NaN either way). So a result's
// bits never depend on its neighbours or the path. On a 2-core AMD EPYC
// Zen 5, 1M elements on one core, the instruction took Sigmoid's forward
// from 283-291 to 217-245 us, Hardswish's from 107 to 72-88.
// ACTIVATIONS_EXT_HW_BF16=0 turns it off (for comparing the two). The AVX512
// object is compiled with -mavx512bf16 for this alone: no other code of
// ours, and none of ATen's headers, uses those instructions.
#if defined(CPU_CAPABILITY_AVX512) && defined(__AVX512BF16__)
const bool kHwBf16 = __builtin_cpu_supports("avx512bf16") &&
                     env_switch_on("ACTIVATIONS_EXT_HW_BF16");
#endif

#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
template <typename scalar_t>
constexpr bool kUnpacks = std::is_same_v<scalar_t, c10::BFloat16>;
#else
template <typename scalar_t>
constexpr bool kUnpacks = false;
#endif

#if defined(CPU_CAPABILITY_AVX512)
using RegI = __m512i;
using RegF = __m512;
C10_ALWAYS_INLINE RegF unpack_lo(RegI v) {
  return _mm512_castsi512_ps(_mm512_unpacklo_epi16(_mm512_setzero_si512(), v));
}
C10_ALWAYS_INLINE RegF unpack_hi(RegI v) {
  return _mm512_castsi512_ps(_mm512_unpackhi_epi16(_mm512_setzero_si512(), v));
}
// One register of bfloat16 from the low halves of lo's and hi's lanes:
// unpacked (see above), or in order from in-order registers.
template <bool kInOrder>
C10_ALWAYS_INLINE RegI pack_halves(RegI lo, RegI hi) {
  const RegI v = _mm512_packus_epi32(lo, hi);
  if constexpr (kInOrder) {
    return _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7),
                                    v);
  }
  return v;
}
#elif defined(CPU_CAPABILITY_AVX2)
using RegI = __m256i;
using RegF = __m256;
C10_ALWAYS_INLINE RegF unpack_lo(RegI v) {
  return _mm256_castsi256_ps(_mm256_unpacklo_epi16(_mm256_setzero_si256(), v));
}
C10_ALWAYS_INLINE RegF unpack_hi(RegI v) {
  return _mm256_castsi256_ps(_mm256_unpackhi_epi16(_mm256_setzero_si256(), v));
}
template <bool kInOrder>
C10_ALWAYS_INLINE RegI pack_halves(RegI lo, RegI hi) {
  const RegI v = _mm256_packus_epi32(lo, hi);
  if constexpr (kInOrder) {
    return _mm256_permute4x64_epi64(v, 0xD8);
  }
  return v;
}
#endif

#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
// The same arithmetic at either width, in GCC's vector extensions: lanes
// of 32-bit unsigned integers (a logical shift) and of floats.
using LanesU32 = uint32_t __attribute__((vector_size(sizeof(RegI))));
using LanesF32 = float __attribute__((vector_size(sizeof(RegF))));

// Each lane's high half, in its low half.
C10_ALWAYS_INLINE RegI high_halves(RegF x) { return (RegI)((LanesU32)x >> 16); }

// Each lane rounded to bfloat16 (nearest even), in its low half; NaN
// keeps its sign and payload, quieted.
C10_ALWAYS_INLINE RegI round_halves(RegF x) {
  const LanesU32 u = (LanesU32)x;
  const LanesU32 hi = u >> 16;
  const LanesU32 rounded = (u + 0x7fff + (hi & 1)) >> 16;
  const LanesF32 f = (LanesF32)x;
  return (RegI)(f == f ? rounded : (hi | 0x40));
}

// bfloat16 from the float registers a and b, both unpacked or both in
// order (kInOrder). kExact: every lane holds a bfloat16 value exactly (the
// result of an op that only picks an operand or a constant; see
// kForwardPicks in activations.h), so the high halves are taken as they
// are, NaN payloads included, as a bitwise select would keep them.
template <bool kExact, bool kInOrder>
C10_ALWAYS_INLINE RegI narrow_bf16(RegF a, RegF b) {
  if constexpr (kExact) {
    return pack_halves<kInOrder>(high_halves(a), high_halves(b));
  } else {
#if defined(CPU_CAPABILITY_AVX512) && defined(__AVX512BF16__)
    constexpr int kDenormal = 0x20;  // vfpclassps: a denormal of either sign
    if (kHwBf16 && _kortestz_mask16_u8(_mm512_fpclass_ps_mask(a, kDenormal),
                                       _mm512_fpclass_ps_mask(b, kDenormal))) {
      // a's 16 results below b's. Unpacked, their 64-bit quarters hold
      // elements 0-3, 8-11, 16-19, 24-27 (a), then 4-7, 12-15, ... (b).
      const RegI v = (__m512i)_mm512_cvtne2ps_pbh(b, a);
      if constexpr (kInOrder) {
        return v;
      }
      return _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 4, 1, 5, 2, 6, 3, 7),
                                      v);
    }
#endif
    return pack_halves<kInOrder>(round_halves(a), round_halves(b));
  }
}
#endif

// float16 or bfloat16 from two in-order float registers (kExact: see
// narrow_bf16).
template <typename scalar_t, bool kExact = false>
C10_ALWAYS_INLINE Vectorized<scalar_t> narrow_in_order(
    const Vectorized<float>& a, const Vectorized<float>& b) {
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
  if constexpr (std::is_same_v<scalar_t, c10::BFloat16>) {
    return narrow_bf16<kExact, true>(a, b);
  }
#endif
  return at::vec::convert_from_float<scalar_t>(a, b);
}

// Stores one register at p, 32-byte (AVX2) or 64-byte (AVX-512) aligned,
// with a non-temporal store: the line goes to memory without being read
// into the cache first (a normal store of a line not in the cache reads it,
// one extra tensor's worth of traffic) and without evicting the inputs.
// Meant for outputs larger than the last-level cache (ActParams::stream);
// a kernel that used it ends with stream_fence(). Without SIMD: a plain
// store.
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
constexpr bool kCanStream = true;
#else
constexpr bool kCanStream = false;
#endif

template <typename scalar_t>
C10_ALWAYS_INLINE void stream_store(scalar_t* p,
                                    const Vectorized<scalar_t>& v) {
#if defined(CPU_CAPABILITY_AVX512)
  if constexpr (std::is_same_v<scalar_t, float>) {
    _mm512_stream_ps(p, v);
  } else if constexpr (std::is_same_v<scalar_t, double>) {
    _mm512_stream_pd(p, v);
  } else {
    _mm512_stream_si512(reinterpret_cast<__m512i*>(p), v);
  }
#elif defined(CPU_CAPABILITY_AVX2)
  if constexpr (std::is_same_v<scalar_t, float>) {
    _mm256_stream_ps(p, v);
  } else if constexpr (std::is_same_v<scalar_t, double>) {
    _mm256_stream_pd(p, v);
  } else {
    _mm256_stream_si256(reinterpret_cast<__m256i*>(p), v);
  }
#else
  v.store(p);
#endif
}

// Orders the non-temporal stores before whatever follows (they are weakly
// ordered; the thread pool's join alone does not promise it).
C10_ALWAYS_INLINE void stream_fence() {
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
  _mm_sfence();
#endif
}

// The elements before p's first register-aligned address (fewer than a
// register), or -1 where p is not aligned to its element size.
template <typename scalar_t>
inline int64_t stream_head(const scalar_t* p) {
  constexpr auto kAlign = sizeof(Vectorized<scalar_t>);
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  if (addr % sizeof(scalar_t) != 0) {
    return -1;
  }
  return static_cast<int64_t>(((kAlign - addr % kAlign) % kAlign) /
                              sizeof(scalar_t));
}

// Whether an op's forward (backward) result is exact in every floating type:
// its kForwardPicks (kBackwardPicks), absent meaning no.
template <typename Op>
constexpr bool kExactForward = requires { requires Op::kForwardPicks; };
template <typename Op>
constexpr bool kExactBackward = requires { requires Op::kBackwardPicks; };

// Loads `count` elements at p as compute-type registers (two of them for
// half/bfloat16, whose register holds twice the lanes of a float one).
template <typename scalar_t>
struct Lanes {
  using V = Vectorized<scalar_t>;
  using F = Vectorized<acc_t<scalar_t>>;
  F a, b;  // b is used only for half/bfloat16
  // Always inlined, as are store, apply and load_all: GCC otherwise keeps
  // some of them out of line in the AVX2 bfloat16 loops (the partial load
  // makes them large), a call per register that cost those loops up to 2x.
  // kUnpack: a bfloat16 register unpacked (see narrow_bf16); stored with
  // kUnpack too.
  template <bool kUnpack = false>
  C10_ALWAYS_INLINE static Lanes load(const scalar_t* p, int64_t count) {
    Lanes l;
    V v = count == V::size() ? V::loadu(p) : V::loadu(p, count);
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
    if constexpr (kUnpack && kUnpacks<scalar_t>) {
      l.a = unpack_lo(v);
      l.b = unpack_hi(v);
      return l;
    }
#endif
    if constexpr (kReduced<scalar_t>) {
      auto [x0, x1] = at::vec::convert_to_float<scalar_t>(v);
      l.a = x0;
      l.b = x1;
    } else {
      l.a = v;
    }
    return l;
  }
  // kExact: every lane holds a value of scalar_t exactly (see narrow_bf16).
  // kStream: a full register goes out through stream_store (p aligned).
  template <bool kExact = false, bool kStream = false, bool kUnpack = false>
  C10_ALWAYS_INLINE void store(scalar_t* p, int64_t count) const {
    V v;
    if constexpr (kUnpack && kUnpacks<scalar_t>) {
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
      v = narrow_bf16<kExact, false>(a, b);
#endif
    } else if constexpr (kReduced<scalar_t>) {
      v = narrow_in_order<scalar_t, kExact>(a, b);
    } else {
      v = a;
    }
    if (count == V::size()) {
      if constexpr (kStream) {
        stream_store(p, v);
      } else {
        v.store(p);
      }
    } else {
      v.store(p, count);
    }
  }
};

// Strided operands are gathered into a small stack buffer, run through the
// contiguous kernel and scattered back, so every layout gets the same
// (vectorized) arithmetic and thus bit-identical results.
constexpr int64_t kBufElems = 512;

template <typename scalar_t>
inline bool is_contig(int64_t stride) {
  return stride == static_cast<int64_t>(sizeof(scalar_t));
}

template <typename scalar_t>
inline void gather(scalar_t* dst, const char* src, int64_t stride, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    dst[i] = *reinterpret_cast<const scalar_t*>(src + i * stride);
  }
}

template <typename scalar_t>
inline void scatter(char* dst, int64_t stride, const scalar_t* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    *reinterpret_cast<scalar_t*>(dst + i * stride) = src[i];
  }
}

// --------------------------------------------- elementwise, one body
//
// out[i] = f(in_0[i], ..., in_{K-1}[i]): the forward (K = 1: x) and the
// backward (K = 2: grad, saved) run the same loops, so a fix to the
// vectorization or the strided handling is made once.

// f applied register by register to K loaded operands.
template <typename scalar_t, size_t K, typename F>
C10_ALWAYS_INLINE Lanes<scalar_t> apply(
    const F& f, const std::array<Lanes<scalar_t>, K>& in) {
  Lanes<scalar_t> r;
  [&]<size_t... I>(std::index_sequence<I...>) ACTEXT_LAMBDA_INLINE {
    r.a = f(in[I].a...);
    if constexpr (kReduced<scalar_t>) {
      r.b = f(in[I].b...);
    }
  }(std::make_index_sequence<K>{});
  return r;
}

template <typename scalar_t, size_t K>
C10_ALWAYS_INLINE std::array<Lanes<scalar_t>, K> load_all(
    const std::array<const scalar_t*, K>& in, int64_t i, int64_t count) {
  std::array<Lanes<scalar_t>, K> l;
  for (size_t k = 0; k < K; ++k) {
    l[k] = Lanes<scalar_t>::template load<true>(in[k] + i, count);
  }
  return l;
}

// Two registers per iteration, all loaded before either is stored (safe in
// place, since element i is only read and written at i): the independent
// exp/division chains of the two overlap. Worth about 5% on the exp-bound
// activations here. kExact: f's results are exact in scalar_t (see
// narrow_bf16). kStream: full registers are streamed (out register-aligned).
//
// f and the operand pointers are copied into locals first, and f holds its
// functor by value (the callers capture it so): read through references,
// they could be aliased by the stores to `out` (a float parameter such as
// Hardshrink's lambd has the output's type), so GCC reloaded the pointers
// and the parameters, and broadcast them again, for every register; with
// the pointers' loads waiting behind the stores, that cost the cheap
// activations with a parameter up to 1.2x torch's time.
template <typename scalar_t, size_t K, bool kExact, bool kStream, typename F>
void map_steps(const F& f_ref, scalar_t* out,
               const std::array<const scalar_t*, K>& in_ref, int64_t n) {
  const F f = f_ref;
  const std::array<const scalar_t*, K> in = in_ref;
  constexpr int64_t W = kStep<scalar_t>;
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const auto a = load_all<scalar_t, K>(in, i, W);
    const auto b = load_all<scalar_t, K>(in, i + W, W);
    apply<scalar_t, K>(f, a).template store<kExact, kStream, true>(out + i, W);
    apply<scalar_t, K>(f, b).template store<kExact, kStream, true>(out + i + W,
                                                                   W);
  }
  for (; i < n; i += W) {
    const int64_t count = std::min(W, n - i);
    apply<scalar_t, K>(f, load_all<scalar_t, K>(in, i, count))
        .template store<kExact, kStream, true>(out + i, count);
  }
}

// map_steps over [0, n). With `stream` (ActParams::stream), the elements
// before out's first aligned register take one partial step and the rest
// are streamed.
template <typename scalar_t, size_t K, bool kExact = false, typename F>
void map_contig(const F& f, scalar_t* out,
                const std::array<const scalar_t*, K>& in, int64_t n,
                bool stream = false) {
  if constexpr (kCanStream) {
    const int64_t head = stream ? std::min(n, stream_head(out)) : -1;
    if (head >= 0) {
      if (head > 0) {
        apply<scalar_t, K>(f, load_all<scalar_t, K>(in, 0, head))
            .template store<kExact, false, true>(out, head);
      }
      std::array<const scalar_t*, K> rest;
      for (size_t k = 0; k < K; ++k) {
        rest[k] = in[k] + head;
      }
      map_steps<scalar_t, K, kExact, true>(f, out + head, rest, n - head);
      stream_fence();
      return;
    }
  }
  map_steps<scalar_t, K, kExact, false>(f, out, in, n);
}

// Any strides (bytes): contiguous operands go straight to map_contig;
// otherwise each operand is gathered into a stack buffer, the contiguous
// body runs, and the result is scattered back, so every layout gets the
// same vectorized arithmetic and bit-identical results.
template <typename scalar_t, size_t K, bool kExact, typename F>
void map_loop(const F& f, char* out, int64_t s_out,
              const std::array<const char*, K>& in,
              const std::array<int64_t, K>& s_in, int64_t n, bool stream) {
  bool contig = is_contig<scalar_t>(s_out);
  for (size_t k = 0; k < K; ++k) {
    contig = contig && is_contig<scalar_t>(s_in[k]);
  }
  if (contig) {
    std::array<const scalar_t*, K> ptrs;
    for (size_t k = 0; k < K; ++k) {
      ptrs[k] = reinterpret_cast<const scalar_t*>(in[k]);
    }
    map_contig<scalar_t, K, kExact>(f, reinterpret_cast<scalar_t*>(out), ptrs,
                                    n, stream);
    return;
  }
  scalar_t buf[K][kBufElems];
  std::array<const scalar_t*, K> ptrs;
  for (size_t k = 0; k < K; ++k) {
    ptrs[k] = buf[k];
  }
  for (int64_t i = 0; i < n; i += kBufElems) {
    const int64_t m = std::min(kBufElems, n - i);
    for (size_t k = 0; k < K; ++k) {
      gather(buf[k], in[k] + i * s_in[k], s_in[k], m);
    }
    map_contig<scalar_t, K, kExact>(f, buf[0], ptrs, m);
    scatter(out + i * s_out, s_out, buf[0], m);
  }
}

// ------------------------------------- 16-bit forwards and backwards by lookup
//
// A float16 or bfloat16 input has 65536 possible values, so a forward can
// be computed once for each of them and then looked up: one load per
// element instead of tens of operations (GELU's erfc, the exp and the
// conversions). The table is the vectorized loop's own output over every
// bit pattern, in order, so a looked-up result has exactly the bits the
// loop gives (its lanes never depend on their neighbours, see
// erfc_gauss), NaN payloads included. Scalar loads of the table's
// entries beat 512-bit and 256-bit gathers: in a stand-alone loop over 1M
// elements in the cache, on one core of an AMD EPYC Zen 4, 311 us against
// 352-366 us (AVX-512 gathers) and 372 us (AVX2 gathers); on a Zen 5, 214
// us (the entries inserted into registers, see lookup_block) against
// 304-389 us with gathers. The computed bfloat16 GELU takes about 660 us
// on the Zen 4, torch's 455-465 us.
// A backward whose gradient is g times a factor of the saved value alone
// (kBackwardScales) looks that factor up the same way, as a float: the
// table holds backward(1, s) for every s, and g * table[s] is the computed
// backward's float result, rounded once as it is. (Its NaNs stay NaN, but
// where a NaN input meets a NaN factor in one multiplication, the payload
// and sign kept depend on the operand order the compiler chose in each
// loop, so those may differ from the computed loop's.)
// The scheduler asks for it (ActParams::lookup) where that pays: see
// with_lookup in schedule.cpp.
constexpr int64_t kPatterns = 65536;

// What a table depends on: the activation and its parameters, by their
// bits (an alpha of -0.0 gives other signs of zero than 0.0).
using LookupKey = std::array<uint64_t, 5>;

inline LookupKey lookup_key(const ActParams& p) {
  return {static_cast<uint64_t>(p.act), std::bit_cast<uint64_t>(p.alpha),
          std::bit_cast<uint64_t>(p.scale),
          std::bit_cast<uint64_t>(p.input_scale),
          std::bit_cast<uint64_t>(p.threshold)};
}

// The tables of one dtype and direction (E: uint16_t for forward results,
// float for backward factors), newest last, at most kMaxTables (the oldest
// goes first): 128 or 256 KB each. A caller holds its table by shared_ptr,
// so an eviction by another thread never frees one in use.
template <typename E>
struct LookupCache {
  static constexpr size_t kMaxTables = 16;
  std::mutex mutex;
  std::vector<std::pair<LookupKey, std::shared_ptr<const std::vector<E>>>>
      tables;
};

template <typename scalar_t, typename E>
LookupCache<E>& lookup_cache() {
  static LookupCache<E> cache;
  return cache;
}

// p's table for scalar_t, filled on first use by build(patterns, table):
// patterns holds the 65536 values of scalar_t in bit order. Built under
// the lock: a second thread asking for it meanwhile waits for it instead
// of building its own.
template <typename scalar_t, typename E, typename Build>
std::shared_ptr<const std::vector<E>> lookup_table(const ActParams& p,
                                                   const Build& build) {
  LookupCache<E>& cache = lookup_cache<scalar_t, E>();
  const LookupKey key = lookup_key(p);
  std::lock_guard<std::mutex> lock(cache.mutex);
  for (const auto& [k, table] : cache.tables) {
    if (k == key) {
      return table;
    }
  }
  std::vector<uint16_t> patterns(kPatterns);
  for (int64_t i = 0; i < kPatterns; ++i) {
    patterns[i] = static_cast<uint16_t>(i);
  }
  auto table = std::make_shared<std::vector<E>>(kPatterns);
  build(reinterpret_cast<const scalar_t*>(patterns.data()), table->data());
  if (cache.tables.size() == LookupCache<E>::kMaxTables) {
    cache.tables.erase(cache.tables.begin());
  }
  cache.tables.emplace_back(key, table);
  return table;
}

// The bits of the element at p (copied, never read as a uint16_t object).
C10_ALWAYS_INLINE uint16_t bits_at(const char* p) {
  uint16_t bits;
  std::memcpy(&bits, p, sizeof bits);
  return bits;
}

// A 16-bit element's bits, read through a pointer that may alias the
// tensor's own type (c10::Half or c10::BFloat16).
using Bits16 = uint16_t __attribute__((may_alias));

// dst[j] = table[bits of the element at src + j * stride] for j < m.
// Contiguous elements are read through Bits16 in a loop the compiler
// vectorizes, building whole registers from the table's loads (GCC
// inserts each loaded entry into a vector register and stores the
// register) rather than storing one element at a time. On an AMD EPYC
// Zen 5, through the operator, 1M bfloat16 elements: LogSigmoid's backward
// 580 -> 315 us on one core; on two threads, SiLU's 374-440 -> 177 us,
// GELU's 442-470 -> 164 us (computed: 233-295 us), where the
// element-by-element form had made every looked-up backward slower than
// the computed one.
template <typename E>
C10_ALWAYS_INLINE void lookup_block(const E* __restrict table,
                                    E* __restrict dst, const char* src,
                                    int64_t stride, int64_t m) {
  if (stride == sizeof(uint16_t)) {
    const Bits16* __restrict bits = reinterpret_cast<const Bits16*>(src);
    for (int64_t j = 0; j < m; ++j) {
      dst[j] = table[bits[j]];
    }
  } else {
    for (int64_t j = 0; j < m; ++j) {
      dst[j] = table[bits_at(src + j * stride)];
    }
  }
}

// out[i] = table[bits of in[i]], any strides (bytes); in place too, each
// block of kBufElems being looked up into a buffer before any of it is
// written.
inline void lookup_forward(const uint16_t* table, char* out, const char* in,
                           int64_t n, int64_t s_out, int64_t s_in) {
  alignas(64) uint16_t buf[kBufElems];
  for (int64_t i = 0; i < n; i += kBufElems) {
    const int64_t m = std::min(kBufElems, n - i);
    lookup_block(table, buf, in + i * s_in, s_in, m);
    if (s_out == sizeof(uint16_t)) {
      std::memcpy(out + i * s_out, buf, m * sizeof(uint16_t));
    } else {
      for (int64_t j = 0; j < m; ++j) {
        std::memcpy(out + (i + j) * s_out, &buf[j], sizeof(uint16_t));
      }
    }
  }
}

// gin[i] = g[i] * table[bits of s[i]], any strides, in place on g or s
// too: kBufElems elements at a time, their factors looked up into a buffer
// first (one scalar load each), then multiplied with g's registers and
// stored as the computed loop stores (rounded once). Whole registers are
// read from the buffer, so it starts zeroed: the lanes past a short
// block's end are multiplied and dropped, never stored.
template <typename scalar_t>
void lookup_backward(const float* table, char* gin, const char* g,
                     const char* s, int64_t n, int64_t s_gin, int64_t s_g,
                     int64_t s_s) {
  using L = Lanes<scalar_t>;
  using F = Vectorized<float>;
  constexpr int64_t W = F::size();
  static_assert(kStep<scalar_t> == 2 * W && kBufElems % (2 * W) == 0);
  alignas(64) float d[kBufElems] = {};
  scalar_t g_buf[kBufElems];
  scalar_t out_buf[kBufElems];
  const bool contig = is_contig<scalar_t>(s_gin) && is_contig<scalar_t>(s_g);
  for (int64_t i = 0; i < n; i += kBufElems) {
    const int64_t m = std::min(kBufElems, n - i);
    lookup_block(table, d, s + i * s_s, s_s, m);
    const scalar_t* gp = g_buf;
    scalar_t* out = out_buf;
    if (contig) {
      gp = reinterpret_cast<const scalar_t*>(g + i * s_g);
      out = reinterpret_cast<scalar_t*>(gin + i * s_gin);
    } else {
      gather(g_buf, g + i * s_g, s_g, m);
    }
    for (int64_t j = 0; j < m; j += 2 * W) {
      const int64_t count = std::min(2 * W, m - j);
      const L gl = L::load(gp + j, count);
      L r;
      r.a = gl.a * F::loadu(d + j);
      r.b = gl.b * F::loadu(d + j + W);
      r.store(out + j, count);
    }
    if (!contig) {
      scatter(gin + i * s_gin, s_gin, out_buf, m);
    }
  }
}

// Whether a forward takes the lookup: float16 and bfloat16 only, and not
// where the result only picks an operand (those loops need no table).
template <typename scalar_t, typename Op>
constexpr bool kLooksUp = kReduced<scalar_t> && !kExactForward<Op>;
// Whether a backward does: float16 and bfloat16, where backward(g, s) is
// g * backward(1, s) bit for bit (see kBackwardScales in activations.h).
template <typename scalar_t, typename Op>
constexpr bool kLooksUpBackward =
    kReduced<scalar_t> && requires { requires Op::kBackwardScales; };

template <typename scalar_t>
void forward_typed(const ActParams& p, char* out, const char* in, int64_t n,
                   int64_t s_out, int64_t s_in) {
  with_forward_op<acc_t<scalar_t>>(p, [&](const auto& op) {
    using Op = std::decay_t<decltype(op)>;
    // The functor by value (see map_steps). float16 and bfloat16 results
    // take the functor's forward_narrow where it has one: a cheaper
    // evaluation, still well within the rounding to 8 or 11 bits.
    const auto f = [op](const auto& x) ACTEXT_LAMBDA_INLINE {
      if constexpr (kReduced<scalar_t> && requires { op.forward_narrow(x); }) {
        return op.forward_narrow(x);
      } else {
        return op.forward(x);
      }
    };
    if constexpr (kLooksUp<scalar_t, Op>) {
      if (p.lookup) {
        const auto table = lookup_table<scalar_t, uint16_t>(
            p, [&](const scalar_t* patterns, uint16_t* values) {
              map_contig<scalar_t, 1>(f, reinterpret_cast<scalar_t*>(values),
                                      {patterns}, kPatterns);
            });
        lookup_forward(table->data(), out, in, n, s_out, s_in);
        return;
      }
    }
    map_loop<scalar_t, 1, kExactForward<Op>>(f, out, s_out, {in}, {s_in}, n,
                                             p.stream);
  });
}

template <typename scalar_t>
void backward_typed(const ActParams& p, bool from_output, char* gin,
                    const char* g, const char* s, int64_t n, int64_t s_gin,
                    int64_t s_g, int64_t s_s) {
  with_backward_op<acc_t<scalar_t>>(p, from_output, [&](const auto& op) {
    using Op = std::decay_t<decltype(op)>;
    if constexpr (kLooksUpBackward<scalar_t, Op>) {
      if (p.lookup) {
        const auto table = lookup_table<scalar_t, float>(
            p, [&](const scalar_t* patterns, float* factors) {
              using F = Vectorized<float>;
              const F one(1.0f);
              for (int64_t i = 0; i < kPatterns; i += kStep<scalar_t>) {
                const auto x =
                    Lanes<scalar_t>::load(patterns + i, kStep<scalar_t>);
                op.backward(one, x.a).store(factors + i);
                op.backward(one, x.b).store(factors + i + F::size());
              }
            });
        lookup_backward<scalar_t>(table->data(), gin, g, s, n, s_gin, s_g, s_s);
        return;
      }
    }
    map_loop<scalar_t, 2, kExactBackward<Op>>(
        [op](const auto& gv, const auto& sv)
            ACTEXT_LAMBDA_INLINE { return op.backward(gv, sv); },
        gin, s_gin, {g, s}, {s_g, s_s}, n, p.stream);
  });
}

// ---------------------------------------------------- per-channel params

// out = op.forward(x, w): one parameter for the whole range (per_element
// false, w[0]) or one per element (w[i]), on map_contig's loop (two
// registers per iteration, the functor held by value). One register per
// iteration, bias_act's GELU forward took 1.5x the plain GELU's time over
// 1024 x 1024 float32 elements on one core of an AMD EPYC Zen 5 (389
// against 261 us), its table lookups and polynomial a chain that one
// register alone leaves waiting.
template <typename scalar_t, typename Op>
void channel_forward_contig(const Op op, scalar_t* out, const scalar_t* x,
                            const scalar_t* w, bool per_element, int64_t n) {
  using A = acc_t<scalar_t>;
  if (!per_element) {
    const Vectorized<A> wv(static_cast<A>(w[0]));
    map_contig<scalar_t, 1>(
        [op, wv](const auto& xv)
            ACTEXT_LAMBDA_INLINE { return op.forward(xv, wv); },
        out, {x}, n);
    return;
  }
  map_contig<scalar_t, 2>(
      [op](const auto& xv, const auto& wv)
          ACTEXT_LAMBDA_INLINE { return op.forward(xv, wv); },
      out, {x, w}, n);
}

// gin = op.grad_input(g, x, w); when `acc` is given, the parameter-gradient
// terms op.grad_param(...) are added to it in double, lane by lane (the
// float-to-double conversion and add vectorize) and the lanes summed at the
// end: no float rounding builds up over a channel, whose sum often cancels.
// Into acc[0] for a single parameter, into acc[i] for one per element.
template <typename scalar_t, typename Op>
void channel_backward_contig(const Op op, scalar_t* gin, const scalar_t* g,
                             const scalar_t* x, const scalar_t* w,
                             bool per_element, int64_t n, double* acc) {
  using A = acc_t<scalar_t>;
  using L = Lanes<scalar_t>;
  using VA = Vectorized<A>;
  constexpr int64_t kLanes = kReduced<scalar_t> ? 2 * VA::size() : VA::size();
  const VA w0(per_element ? A(0) : static_cast<A>(w[0]));
  double lane_sums[kLanes] = {};
  for_each_step<scalar_t>(
      n, [&](int64_t i, int64_t count) ACTEXT_LAMBDA_INLINE {
        const L gl = L::load(g + i, count);
        const L xl = L::load(x + i, count);
        const L wl = per_element ? L::load(w + i, count) : L{w0, w0};
        L gi;
        gi.a = op.grad_input(gl.a, xl.a, wl.a);
        if constexpr (kReduced<scalar_t>) {
          gi.b = op.grad_input(gl.b, xl.b, wl.b);
        }
        gi.store(gin + i, count);
        if (acc == nullptr) {
          return;
        }
        A terms[kLanes];
        op.grad_param(gl.a, xl.a, wl.a, gi.a).store(terms);
        if constexpr (kReduced<scalar_t>) {
          op.grad_param(gl.b, xl.b, wl.b, gi.b).store(terms + VA::size());
        }
        // Full steps take branch-free loops of constant length, which the
        // compiler turns into float-to-double conversions and vector adds.
        if (count == kLanes) {
          double* dst = per_element ? acc + i : lane_sums;
          for (int64_t k = 0; k < kLanes; ++k) {
            dst[k] += static_cast<double>(terms[k]);
          }
        } else {
          // The tail: lanes past `count` hold terms of zero-filled inputs.
          double* dst = per_element ? acc + i : lane_sums;
          for (int64_t k = 0; k < count; ++k) {
            dst[k] += static_cast<double>(terms[k]);
          }
        }
      });
  if (acc != nullptr && !per_element) {
    double s = 0;
    for (int64_t k = 0; k < kLanes; ++k) {
      s += lane_sums[k];
    }
    acc[0] += s;
  }
}

// ------------------------------------------------------------------ gated

// out = act(gate) * up over n contiguous elements.
template <typename scalar_t>
void gated_forward_typed(const ActParams& p, char* out, const char* gate,
                         const char* up, int64_t n) {
  with_forward_op<acc_t<scalar_t>>(p, [&](const auto& op) {
    const GatedOp<std::decay_t<decltype(op)>> gop{op};
    map_contig<scalar_t, 2>(
        [gop](const auto& a, const auto& u)
            ACTEXT_LAMBDA_INLINE { return gop.forward(a, u); },
        reinterpret_cast<scalar_t*>(out),
        {reinterpret_cast<const scalar_t*>(gate),
         reinterpret_cast<const scalar_t*>(up)},
        n);
  });
}

// (grad_gate, grad_up) from (g, gate, up) over n contiguous elements. Every
// operand of a step is loaded before either result is stored, so the
// outputs may be gate and up themselves (inplace_backward). Two steps per
// iteration, as map_contig does, to overlap the activations' chains.
template <typename scalar_t>
void gated_backward_typed(const ActParams& p, char* grad_gate, char* grad_up,
                          const char* g, const char* gate, const char* up,
                          int64_t n) {
  using L = Lanes<scalar_t>;
  constexpr int64_t W = kStep<scalar_t>;
  auto* o0 = reinterpret_cast<scalar_t*>(grad_gate);
  auto* o1 = reinterpret_cast<scalar_t*>(grad_up);
  const auto* gp = reinterpret_cast<const scalar_t*>(g);
  const auto* ap = reinterpret_cast<const scalar_t*>(gate);
  const auto* up_ = reinterpret_cast<const scalar_t*>(up);
  with_forward_op<acc_t<scalar_t>>(p, [&](const auto& op) {
    const GatedOp<std::decay_t<decltype(op)>> gop{op};
    auto step = [&](const L& gl, const L& al, const L& ul, L& r0, L& r1)
                    ACTEXT_LAMBDA_INLINE {
                      gop.backward(gl.a, al.a, ul.a, r0.a, r1.a);
                      if constexpr (kReduced<scalar_t>) {
                        gop.backward(gl.b, al.b, ul.b, r0.b, r1.b);
                      }
                    };
    int64_t i = 0;
    // Unpacked, as map_steps loads and stores (see narrow_bf16).
    const auto load = [](const scalar_t* p, int64_t count) {
      return L::template load<true>(p, count);
    };
    const auto store = [](const L& r, scalar_t* p, int64_t count) {
      r.template store<false, false, true>(p, count);
    };
    for (; i + 2 * W <= n; i += 2 * W) {
      const L g0 = load(gp + i, W), a0 = load(ap + i, W), u0 = load(up_ + i, W);
      const L g1 = load(gp + i + W, W), a1 = load(ap + i + W, W),
              u1 = load(up_ + i + W, W);
      L r0, r1, s0, s1;
      step(g0, a0, u0, r0, r1);
      step(g1, a1, u1, s0, s1);
      store(r0, o0 + i, W);
      store(r1, o1 + i, W);
      store(s0, o0 + i + W, W);
      store(s1, o1 + i + W, W);
    }
    for (; i < n; i += W) {
      const int64_t count = std::min(W, n - i);
      const L gl = load(gp + i, count), al = load(ap + i, count),
              ul = load(up_ + i, count);
      L r0, r1;
      step(gl, al, ul, r0, r1);
      store(r0, o0 + i, count);
      store(r1, o1 + i, count);
    }
  });
}

// ------------------------------------------------------------- entry points

void forward(const ActParams& p, c10::ScalarType dtype, char* out,
             const char* in, int64_t n, int64_t s_out, int64_t s_in) {
  dispatch_float_types(dtype, [&](auto tag) {
    forward_typed<decltype(tag)>(p, out, in, n, s_out, s_in);
  });
}

void backward(const ActParams& p, c10::ScalarType dtype, bool from_output,
              char* gin, const char* g, const char* s, int64_t n, int64_t s_gin,
              int64_t s_g, int64_t s_s) {
  dispatch_float_types(dtype, [&](auto tag) {
    backward_typed<decltype(tag)>(p, from_output, gin, g, s, n, s_gin, s_g,
                                  s_s);
  });
}

void channel_forward_rows(const ChannelParams& p, c10::ScalarType dtype,
                          char* out, const char* x, const char* w, int64_t row0,
                          int64_t rows, int64_t len, int64_t channels) {
  dispatch_float_types(dtype, [&](auto tag) {
    using scalar_t = decltype(tag);
    auto* o = reinterpret_cast<scalar_t*>(out);
    const auto* xs = reinterpret_cast<const scalar_t*>(x);
    const auto* ws = reinterpret_cast<const scalar_t*>(w);
    with_channel_op<acc_t<scalar_t>>(p, [&](const auto& op) {
      for (int64_t r = 0; r < rows; ++r) {
        const scalar_t* wr = channels == 0 ? ws : ws + (row0 + r) % channels;
        channel_forward_contig(op, o + r * len, xs + r * len, wr, channels == 0,
                               len);
      }
    });
  });
}

void channel_backward(const ChannelParams& p, c10::ScalarType dtype, char* gin,
                      const char* g, const char* x, const char* w, int64_t n,
                      bool per_element, double* acc) {
  dispatch_float_types(dtype, [&](auto tag) {
    using scalar_t = decltype(tag);
    with_channel_op<acc_t<scalar_t>>(p, [&](const auto& op) {
      channel_backward_contig(op, reinterpret_cast<scalar_t*>(gin),
                              reinterpret_cast<const scalar_t*>(g),
                              reinterpret_cast<const scalar_t*>(x),
                              reinterpret_cast<const scalar_t*>(w), per_element,
                              n, acc);
    });
  });
}

void gated_forward(const ActParams& p, c10::ScalarType dtype, char* out,
                   const char* gate, const char* up, int64_t n) {
  dispatch_float_types(dtype, [&](auto tag) {
    gated_forward_typed<decltype(tag)>(p, out, gate, up, n);
  });
}

void gated_backward(const ActParams& p, c10::ScalarType dtype, char* grad_gate,
                    char* grad_up, const char* g, const char* gate,
                    const char* up, int64_t n) {
  dispatch_float_types(dtype, [&](auto tag) {
    gated_backward_typed<decltype(tag)>(p, grad_gate, grad_up, g, gate, up, n);
  });
}

#define ACTEXT_STR2(x) #x
#define ACTEXT_STR(x) ACTEXT_STR2(x)

}  // namespace

const KernelTable& kernel_table() {
  static const KernelTable table{ACTEXT_STR(CPU_CAPABILITY),
                                 &forward,
                                 &backward,
                                 &channel_forward_rows,
                                 &channel_backward,
                                 &gated_forward,
                                 &gated_backward};
  return table;
}

}  // namespace CPU_CAPABILITY
}  // namespace cpu
}  // namespace activations_ext
