// CUDA kernels. They include only c10 headers (no torch/extension.h, no
// ATen/cuda/CUDAContext.h): a file like this compiles in seconds.
//
// Elementwise kernels are memory-bound: a forward reads x and writes y (2N
// elements moved), a backward reads grad and the saved tensor and writes
// grad_input (3N). The goal is the device's copy bandwidth, which needs
// 16-byte loads and stores (LDG.E.128/STG.E.128), enough bytes in flight
// (a grid of one full wave, every thread striding over the rest) and no
// local memory. Half and bfloat16 are computed in float and rounded once.
// All indexing is 64-bit: tensors of more than 2^31 elements work.
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Exception.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <type_traits>

#include "../kernels.h"

namespace activations_ext {
namespace cuda {
namespace {

constexpr int kThreads = 256;

template <typename scalar_t>
struct OpmathOf {
  using type = float;
};
template <>
struct OpmathOf<double> {
  using type = double;
};
template <typename scalar_t>
using opmath_t = typename OpmathOf<scalar_t>::type;

// PReLU's weight gradient is summed in double whatever the dtype: the sums
// run over whole channels, and double arithmetic is cheap next to the memory
// traffic of a memory-bound kernel.
using red_t = double;

// Elements per 16-byte vector.
template <typename scalar_t>
constexpr int kVec = 16 / sizeof(scalar_t);

template <typename scalar_t>
struct alignas(16) Pack {
  scalar_t v[kVec<scalar_t>];
};

int sm_count(c10::DeviceIndex device) {
  static int counts[256] = {};
  static std::once_flag flags[256];
  const int d = static_cast<int>(device);
  TORCH_CHECK(d >= 0 && d < 256, "activations_ext: bad CUDA device index ", d);
  std::call_once(flags[d], [d] {
    int n = 0;
    C10_CUDA_CHECK(
        cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, d));
    counts[d] = n;
  });
  return counts[d];
}

// Enough blocks for a few waves (8 blocks of 256 threads fill an SM on
// Ampere and Hopper when registers allow; several waves keep the tail short
// when they do not), or fewer blocks when there is less work. Threads stride
// over the rest.
int grid_for(int64_t items, c10::DeviceIndex device) {
  const int64_t blocks = (items + kThreads - 1) / kThreads;
  const int64_t cap = static_cast<int64_t>(sm_count(device)) * 32;
  return static_cast<int>(std::max<int64_t>(1, std::min(blocks, cap)));
}

cudaStream_t stream_of(c10::DeviceIndex device) {
  return c10::cuda::getCurrentCUDAStream(device).stream();
}

// How a dense range of n elements splits for 16-byte access: `head` scalar
// elements up to the first 16-byte boundary, `n_vec` full vectors, then a
// scalar tail. Vectorized only when every pointer has the same offset from a
// 16-byte boundary; otherwise everything is scalar (still coalesced).
struct VecSplit {
  bool vec = false;
  int64_t head = 0;
  int64_t n_vec = 0;
};

template <typename scalar_t>
VecSplit split_for(int64_t n, std::initializer_list<const void*> ptrs) {
  VecSplit s;
  const auto first = reinterpret_cast<uintptr_t>(*ptrs.begin());
  for (const void* p : ptrs) {
    if (reinterpret_cast<uintptr_t>(p) % 16 != first % 16) {
      return s;
    }
  }
  if (first % sizeof(scalar_t) != 0) {
    return s;
  }
  s.vec = true;
  s.head = std::min<int64_t>(n, ((16 - first % 16) % 16) / sizeof(scalar_t));
  s.n_vec = (n - s.head) / kVec<scalar_t>;
  return s;
}

// ------------------------------------------------------------ elementwise
//
// out[i] = f(in_0[i], ..., in_{K-1}[i]): the forward (K = 1: x) and the
// backward (K = 2: grad, saved) run the same kernels, so a fix to the
// vectorization, the head/tail split or the indexing is made once.

// The K input pointers, passed by value to the kernels.
template <typename T, int K>
struct Inputs {
  T p[K];
};

// f evaluated in the compute type on element i of every input.
template <typename scalar_t, int K, typename F>
__device__ __forceinline__ scalar_t
apply_at(const F& f, const Inputs<const scalar_t*, K>& in, int64_t i) {
  using acc_t = opmath_t<scalar_t>;
  acc_t v[K];
#pragma unroll
  for (int k = 0; k < K; ++k) {
    v[k] = static_cast<acc_t>(in.p[k][i]);
  }
  return static_cast<scalar_t>(f(v));
}

// The activation's forward and backward as functions of an array of K
// compute-type values.
template <typename Op>
struct ForwardFn {
  Op op;
  template <typename T>
  __device__ __forceinline__ T operator()(const T (&v)[1]) const {
    return op.forward(v[0]);
  }
};
template <typename Op>
struct BackwardFn {
  Op op;
  template <typename T>
  __device__ __forceinline__ T operator()(const T (&v)[2]) const {
    return op.backward(v[0], v[1]);
  }
};

// Dense operands with the same alignment: every thread first handles at
// most one head and one tail element, then strides over the 16-byte
// vectors in between (one LDG.E.128 per input, one STG.E.128).
template <typename scalar_t, int K, typename F>
__global__ void __launch_bounds__(kThreads)
    map_kernel(F f, scalar_t* out, Inputs<const scalar_t*, K> in, int64_t n,
               int64_t head, int64_t n_vec) {
  using acc_t = opmath_t<scalar_t>;
  constexpr int N = kVec<scalar_t>;
  const int64_t tid =
      static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t body_end = head + n_vec * N;
  if (tid < head) {
    out[tid] = apply_at<scalar_t, K>(f, in, tid);
  }
  if (body_end + tid < n) {
    out[body_end + tid] = apply_at<scalar_t, K>(f, in, body_end + tid);
  }
  auto* vout = reinterpret_cast<Pack<scalar_t>*>(out + head);
  for (int64_t v = tid; v < n_vec; v += stride) {
    Pack<scalar_t> packs[K];
#pragma unroll
    for (int k = 0; k < K; ++k) {
      packs[k] = reinterpret_cast<const Pack<scalar_t>*>(in.p[k] + head)[v];
    }
    Pack<scalar_t> r;
#pragma unroll
    for (int j = 0; j < N; ++j) {
      acc_t vals[K];
#pragma unroll
      for (int k = 0; k < K; ++k) {
        vals[k] = static_cast<acc_t>(packs[k].v[j]);
      }
      r.v[j] = static_cast<scalar_t>(f(vals));
    }
    vout[v] = r;
  }
}

// Dense operands whose alignments differ: one element per thread and step
// (still coalesced).
template <typename scalar_t, int K, typename F>
__global__ void __launch_bounds__(kThreads)
    map_scalar_kernel(F f, scalar_t* out, Inputs<const scalar_t*, K> in,
                      int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       i < n; i += stride) {
    out[i] = apply_at<scalar_t, K>(f, in, i);
  }
}

// Byte offsets of element `linear` (in the plan's dimension order, dim 0
// fastest) for the first `nargs` operands.
template <int nargs>
__device__ __forceinline__ void plan_offsets(const StridedPlan& p,
                                             int64_t linear,
                                             int64_t (&off)[nargs]) {
#pragma unroll
  for (int k = 0; k < nargs; ++k) {
    off[k] = 0;
  }
  for (int d = 0; d < p.ndim; ++d) {
    const int64_t size = p.sizes[d];
    const int64_t idx = linear % size;
    linear /= size;
#pragma unroll
    for (int k = 0; k < nargs; ++k) {
      off[k] += idx * p.strides[k][d];
    }
  }
}

// Any strides: the plan gives each operand's byte offset (operand 0 is the
// output).
template <typename scalar_t, int K, typename F>
__global__ void __launch_bounds__(kThreads)
    map_strided_kernel(F f, char* out, Inputs<const char*, K> in,
                       StridedPlan plan, int64_t n) {
  using acc_t = opmath_t<scalar_t>;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       i < n; i += stride) {
    int64_t off[K + 1];
    plan_offsets<K + 1>(plan, i, off);
    acc_t vals[K];
#pragma unroll
    for (int k = 0; k < K; ++k) {
      vals[k] = static_cast<acc_t>(
          *reinterpret_cast<const scalar_t*>(in.p[k] + off[k + 1]));
    }
    *reinterpret_cast<scalar_t*>(out + off[0]) = static_cast<scalar_t>(f(vals));
  }
}

// Launches the dense kernels: vectorized when every pointer has the same
// offset from a 16-byte boundary.
template <typename scalar_t, int K, typename F>
void launch_dense(const F& f, void* out, Inputs<const void*, K> in, int64_t n,
                  c10::DeviceIndex device, cudaStream_t stream) {
  Inputs<const scalar_t*, K> typed;
  for (int k = 0; k < K; ++k) {
    typed.p[k] = static_cast<const scalar_t*>(in.p[k]);
  }
  auto* o = static_cast<scalar_t*>(out);
  VecSplit s;
  if constexpr (K == 1) {
    s = split_for<scalar_t>(n, {out, in.p[0]});
  } else {
    s = split_for<scalar_t>(n, {out, in.p[0], in.p[1]});
  }
  if (s.vec) {
    const int64_t items = std::max<int64_t>(s.n_vec, kVec<scalar_t>);
    map_kernel<scalar_t, K><<<grid_for(items, device), kThreads, 0, stream>>>(
        f, o, typed, n, s.head, s.n_vec);
  } else {
    map_scalar_kernel<scalar_t, K>
        <<<grid_for(n, device), kThreads, 0, stream>>>(f, o, typed, n);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <typename scalar_t, int K, typename F>
void launch_strided(const F& f, void* out, Inputs<const void*, K> in,
                    const StridedPlan& plan, int64_t n, c10::DeviceIndex device,
                    cudaStream_t stream) {
  Inputs<const char*, K> bytes;
  for (int k = 0; k < K; ++k) {
    bytes.p[k] = static_cast<const char*>(in.p[k]);
  }
  map_strided_kernel<scalar_t, K><<<grid_for(n, device), kThreads, 0, stream>>>(
      f, static_cast<char*>(out), bytes, plan, n);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// ------------------------------------------------- per-channel parameters

// out = op.forward(x, w[c]) with c = (i / inner) % C. Vectorized when all
// elements of a vector share a channel (inner % kVec == 0) or run through
// consecutive channels without wrapping (inner == 1, C % kVec == 0).
template <typename scalar_t, bool kVectorized, typename Op>
__global__ void __launch_bounds__(kThreads)
    channel_forward_kernel(Op op, scalar_t* out, const scalar_t* x,
                           const scalar_t* w, int64_t n, int64_t C,
                           int64_t inner) {
  using acc_t = opmath_t<scalar_t>;
  constexpr int N = kVec<scalar_t>;
  const int64_t tid =
      static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  if constexpr (kVectorized) {
    const auto* vx = reinterpret_cast<const Pack<scalar_t>*>(x);
    auto* vout = reinterpret_cast<Pack<scalar_t>*>(out);
    const bool one_channel = inner % N == 0;
    for (int64_t v = tid; v < n / N; v += stride) {
      const int64_t c0 = (v * N / inner) % C;
      Pack<scalar_t> p = vx[v];
#pragma unroll
      for (int k = 0; k < N; ++k) {
        const acc_t wv = static_cast<acc_t>(w[one_channel ? c0 : c0 + k]);
        p.v[k] =
            static_cast<scalar_t>(op.forward(static_cast<acc_t>(p.v[k]), wv));
      }
      vout[v] = p;
    }
  } else {
    for (int64_t i = tid; i < n; i += stride) {
      const acc_t wv = static_cast<acc_t>(w[(i / inner) % C]);
      out[i] = static_cast<scalar_t>(op.forward(static_cast<acc_t>(x[i]), wv));
    }
  }
}

// Deterministic block sum of `v` over all threads of the block; the result
// is valid in every thread. `buf` holds blockDim.x * blockDim.y values.
__device__ red_t block_sum(red_t v, red_t* buf) {
  const int t = threadIdx.x + threadIdx.y * blockDim.x;
  const int nt = blockDim.x * blockDim.y;
  buf[t] = v;
  __syncthreads();
  for (int s = nt / 2; s > 0; s >>= 1) {
    if (t < s) {
      buf[t] += buf[t + s];
    }
    __syncthreads();
  }
  const red_t total = buf[0];
  __syncthreads();
  return total;
}

// Channel planes: block (bx, by) takes channel c = by (striding by
// gridDim.y) and the bx-th of gridDim.x chunks of that channel's
// outer * inner elements. Coalesced when inner is large. Writes gin and,
// when `partial` is not null, the block's parameter-gradient sum.
template <typename scalar_t, typename Op>
__global__ void __launch_bounds__(kThreads)
    channel_backward_planes_kernel(Op op, scalar_t* gin, const scalar_t* g,
                                   const scalar_t* x, const scalar_t* w,
                                   red_t* partial, int64_t outer, int64_t C,
                                   int64_t inner) {
  using acc_t = opmath_t<scalar_t>;
  __shared__ red_t buf[kThreads];
  const int64_t plane = outer * inner;
  const int64_t chunk = (plane + gridDim.x - 1) / gridDim.x;
  const int64_t k0 = static_cast<int64_t>(blockIdx.x) * chunk;
  const int64_t k1 = k0 + chunk < plane ? k0 + chunk : plane;
  for (int64_t c = blockIdx.y; c < C; c += gridDim.y) {
    const acc_t wv = static_cast<acc_t>(w[c]);
    red_t sum = 0;
    for (int64_t k = k0 + threadIdx.x; k < k1; k += blockDim.x) {
      const int64_t o = k / inner;
      const int64_t i = (o * C + c) * inner + (k - o * inner);
      const acc_t gv = static_cast<acc_t>(g[i]);
      const acc_t xv = static_cast<acc_t>(x[i]);
      const acc_t gi = op.grad_input(gv, xv, wv);
      gin[i] = static_cast<scalar_t>(gi);
      sum += static_cast<red_t>(op.grad_param(gv, xv, wv, gi));
    }
    if (partial != nullptr) {
      const red_t total = block_sum(sum, buf);
      if (threadIdx.x == 0) {
        partial[blockIdx.x * C + c] = total;
      }
    }
  }
}

// Channels innermost (inner == 1): blocks of 32 channels x 8 rows; block
// (bx, by) takes channels [32 bx, 32 bx + 32) over the by-th of gridDim.y
// chunks of rows. Consecutive threads read consecutive channels.
constexpr int kTileC = 32;
constexpr int kTileR = kThreads / kTileC;

template <typename scalar_t, typename Op>
__global__ void __launch_bounds__(kThreads)
    channel_backward_rows_kernel(Op op, scalar_t* gin, const scalar_t* g,
                                 const scalar_t* x, const scalar_t* w,
                                 red_t* partial, int64_t rows, int64_t C) {
  using acc_t = opmath_t<scalar_t>;
  __shared__ red_t buf[kTileR][kTileC];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kTileC + threadIdx.x;
  const int64_t chunk = (rows + gridDim.y - 1) / gridDim.y;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * chunk;
  const int64_t r1 = r0 + chunk < rows ? r0 + chunk : rows;
  red_t sum = 0;
  if (c < C) {
    const acc_t wv = static_cast<acc_t>(w[c]);
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kTileR) {
      const int64_t i = r * C + c;
      const acc_t gv = static_cast<acc_t>(g[i]);
      const acc_t xv = static_cast<acc_t>(x[i]);
      const acc_t gi = op.grad_input(gv, xv, wv);
      gin[i] = static_cast<scalar_t>(gi);
      sum += static_cast<red_t>(op.grad_param(gv, xv, wv, gi));
    }
  }
  if (partial == nullptr) {
    return;
  }
  buf[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    red_t total = 0;
    for (int k = 0; k < kTileR; ++k) {
      total += buf[k][threadIdx.x];
    }
    partial[blockIdx.y * C + c] = total;
  }
}

// gw[c] = sum over chunks of partial[chunk * C + c], in chunk order.
template <typename scalar_t>
__global__ void __launch_bounds__(kThreads)
    channel_reduce_kernel(scalar_t* gw, const red_t* partial, int64_t chunks,
                          int64_t C) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       c < C; c += stride) {
    red_t s = 0;
    for (int64_t k = 0; k < chunks; ++k) {
      s += partial[k * C + c];
    }
    gw[c] = static_cast<scalar_t>(s);
  }
}

// How the backward splits the work; a function of the shape and the
// device's SM count only, so results are reproducible run to run.
struct ChannelPlan {
  bool rows = false;  // channel_backward_rows_kernel (inner == 1, C > 1)
  dim3 grid;
  int64_t chunks = 1;  // partial sums per channel
};

ChannelPlan channel_plan(const ChannelShape& sh, c10::DeviceIndex device) {
  ChannelPlan p;
  const int64_t target_blocks = static_cast<int64_t>(sm_count(device)) * 8;
  if (sh.inner == 1 && sh.channels > 1) {
    p.rows = true;
    const int64_t ctiles = (sh.channels + kTileC - 1) / kTileC;
    // At least 64 rows per block, and about one wave of blocks overall.
    const int64_t by_rows = std::max<int64_t>(1, sh.outer / 64);
    const int64_t by_wave = std::max<int64_t>(1, target_blocks / ctiles);
    p.chunks = std::min<int64_t>({by_rows, by_wave, 65535});
    p.grid =
        dim3(static_cast<unsigned>(ctiles), static_cast<unsigned>(p.chunks));
  } else {
    const int64_t plane = sh.outer * sh.inner;
    const int64_t cy = std::min<int64_t>(sh.channels, 65535);
    const int64_t by_work = std::max<int64_t>(1, plane / (kThreads * 16));
    const int64_t by_wave = std::max<int64_t>(1, target_blocks / cy);
    p.chunks = std::min<int64_t>({by_work, by_wave, 1 << 20});
    p.grid = dim3(static_cast<unsigned>(p.chunks), static_cast<unsigned>(cy));
  }
  return p;
}

// ------------------------------------------------------------------ gated

template <typename Op>
struct GatedForwardFn {
  GatedOp<Op> op;
  template <typename T>
  __device__ __forceinline__ void operator()(const T (&in)[2],
                                             T (&out)[1]) const {
    out[0] = op.forward(in[0], in[1]);
  }
};
template <typename Op>
struct GatedBackwardFn {
  GatedOp<Op> op;
  template <typename T>
  __device__ __forceinline__ void operator()(const T (&in)[3],
                                             T (&out)[2]) const {
    op.backward(in[0], in[1], in[2], out[0], out[1]);
  }
};

// One element or one 16-byte vector (N elements) at element e of row r of
// every operand: all inputs are read before any output is written, so an
// output may be an input (inplace_backward).
template <typename scalar_t, int N, int NOUT, int NIN, typename F>
__device__ __forceinline__ void gated_step(const F& f,
                                           const Inputs<char*, NOUT>& out,
                                           const Inputs<const char*, NIN>& in,
                                           const GatedRows& R, int64_t r,
                                           int64_t e) {
  using acc_t = opmath_t<scalar_t>;
  using Chunk = std::conditional_t<N == 1, scalar_t, Pack<scalar_t>>;
  const int64_t byte = e * static_cast<int64_t>(sizeof(scalar_t));
  Chunk cin[NIN];
#pragma unroll
  for (int k = 0; k < NIN; ++k) {
    cin[k] = *reinterpret_cast<const Chunk*>(in.p[k] +
                                             r * R.row_stride[NOUT + k] + byte);
  }
  Chunk cout[NOUT];
#pragma unroll
  for (int j = 0; j < N; ++j) {
    acc_t a[NIN];
    acc_t o[NOUT];
#pragma unroll
    for (int k = 0; k < NIN; ++k) {
      if constexpr (N == 1) {
        a[k] = static_cast<acc_t>(cin[k]);
      } else {
        a[k] = static_cast<acc_t>(cin[k].v[j]);
      }
    }
    f(a, o);
#pragma unroll
    for (int m = 0; m < NOUT; ++m) {
      if constexpr (N == 1) {
        cout[m] = static_cast<scalar_t>(o[m]);
      } else {
        cout[m].v[j] = static_cast<scalar_t>(o[m]);
      }
    }
  }
#pragma unroll
  for (int m = 0; m < NOUT; ++m) {
    *reinterpret_cast<Chunk*>(out.p[m] + r * R.row_stride[m] + byte) = cout[m];
  }
}

// The operands as GatedRows. With kVectorized every row of every operand
// starts on a 16-byte boundary: threads stride over the rows' whole
// vectors, then over the rows' last len % N elements one by one; otherwise
// over single elements. 64-bit indices; one row skips the division.
template <typename scalar_t, int NOUT, int NIN, bool kVectorized, typename F>
__global__ void __launch_bounds__(kThreads)
    gated_kernel(F f, Inputs<char*, NOUT> out, Inputs<const char*, NIN> in,
                 GatedRows R) {
  constexpr int N = kVectorized ? kVec<scalar_t> : 1;
  const int64_t tid =
      static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t per_row = R.len / N;
  const int64_t items = R.rows * per_row;
  for (int64_t v = tid; v < items; v += stride) {
    int64_t r = 0;
    int64_t c = v;
    if (R.rows != 1) {
      r = v / per_row;
      c = v - r * per_row;
    }
    gated_step<scalar_t, N, NOUT, NIN>(f, out, in, R, r, c * N);
  }
  if constexpr (kVectorized) {
    const int64_t tail = R.len - per_row * N;
    if (tail > 0) {
      for (int64_t t = tid; t < R.rows * tail; t += stride) {
        const int64_t r = t / tail;
        gated_step<scalar_t, 1, NOUT, NIN>(f, out, in, R, r,
                                           per_row * N + (t - r * tail));
      }
    }
  }
}

template <typename scalar_t, int NOUT, int NIN, typename F>
void launch_gated(const F& f, Inputs<void*, NOUT> out,
                  Inputs<const void*, NIN> in, const GatedRows& R,
                  c10::DeviceIndex device) {
  const cudaStream_t stream = stream_of(device);
  Inputs<char*, NOUT> o;
  Inputs<const char*, NIN> i;
  bool vec = true;
  for (int m = 0; m < NOUT; ++m) {
    o.p[m] = static_cast<char*>(out.p[m]);
    vec = vec && reinterpret_cast<uintptr_t>(o.p[m]) % 16 == 0 &&
          (R.rows == 1 || R.row_stride[m] % 16 == 0);
  }
  for (int k = 0; k < NIN; ++k) {
    i.p[k] = static_cast<const char*>(in.p[k]);
    vec = vec && reinterpret_cast<uintptr_t>(i.p[k]) % 16 == 0 &&
          (R.rows == 1 || R.row_stride[NOUT + k] % 16 == 0);
  }
  if (vec) {
    const int64_t items = std::max<int64_t>(R.rows * (R.len / kVec<scalar_t>),
                                            R.rows * (R.len % kVec<scalar_t>));
    gated_kernel<scalar_t, NOUT, NIN, true>
        <<<grid_for(std::max<int64_t>(items, 1), device), kThreads, 0,
           stream>>>(f, o, i, R);
  } else {
    gated_kernel<scalar_t, NOUT, NIN, false>
        <<<grid_for(R.rows * R.len, device), kThreads, 0, stream>>>(f, o, i, R);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

// ------------------------------------------------------------ entry points

void forward_dense(const ActParams& p, c10::ScalarType dtype, void* out,
                   const void* in, int64_t n, c10::DeviceIndex device) {
  c10::cuda::CUDAGuard guard(device);
  const cudaStream_t stream = stream_of(device);
  dispatch_float_types(dtype, [&](auto tag) {
    using scalar_t = decltype(tag);
    with_forward_op<opmath_t<scalar_t>>(p, [&](const auto& op) {
      using Op = std::decay_t<decltype(op)>;
      launch_dense<scalar_t, 1>(ForwardFn<Op>{op}, out, {{in}}, n, device,
                                stream);
    });
  });
}

void forward_strided(const ActParams& p, c10::ScalarType dtype, void* out,
                     const void* in, const StridedPlan& plan, int64_t n,
                     c10::DeviceIndex device) {
  c10::cuda::CUDAGuard guard(device);
  const cudaStream_t stream = stream_of(device);
  dispatch_float_types(dtype, [&](auto tag) {
    using scalar_t = decltype(tag);
    with_forward_op<opmath_t<scalar_t>>(p, [&](const auto& op) {
      using Op = std::decay_t<decltype(op)>;
      launch_strided<scalar_t, 1>(ForwardFn<Op>{op}, out, {{in}}, plan, n,
                                  device, stream);
    });
  });
}

void backward_dense(const ActParams& p, c10::ScalarType dtype, bool from_output,
                    void* gin, const void* g, const void* saved, int64_t n,
                    c10::DeviceIndex device) {
  c10::cuda::CUDAGuard guard(device);
  const cudaStream_t stream = stream_of(device);
  dispatch_float_types(dtype, [&](auto tag) {
    using scalar_t = decltype(tag);
    with_backward_op<opmath_t<scalar_t>>(p, from_output, [&](const auto& op) {
      using Op = std::decay_t<decltype(op)>;
      launch_dense<scalar_t, 2>(BackwardFn<Op>{op}, gin, {{g, saved}}, n,
                                device, stream);
    });
  });
}

void backward_strided(const ActParams& p, c10::ScalarType dtype,
                      bool from_output, void* gin, const void* g,
                      const void* saved, const StridedPlan& plan, int64_t n,
                      c10::DeviceIndex device) {
  c10::cuda::CUDAGuard guard(device);
  const cudaStream_t stream = stream_of(device);
  dispatch_float_types(dtype, [&](auto tag) {
    using scalar_t = decltype(tag);
    with_backward_op<opmath_t<scalar_t>>(p, from_output, [&](const auto& op) {
      using Op = std::decay_t<decltype(op)>;
      launch_strided<scalar_t, 2>(BackwardFn<Op>{op}, gin, {{g, saved}}, plan,
                                  n, device, stream);
    });
  });
}

void channel_forward(const ChannelParams& p, c10::ScalarType dtype, void* out,
                     const void* x, const void* w, const ChannelShape& sh,
                     c10::DeviceIndex device) {
  c10::cuda::CUDAGuard guard(device);
  const cudaStream_t stream = stream_of(device);
  const int64_t n = sh.outer * sh.channels * sh.inner;
  dispatch_float_types(dtype, [&](auto tag) {
    using scalar_t = decltype(tag);
    constexpr int N = kVec<scalar_t>;
    auto* o = static_cast<scalar_t*>(out);
    const auto* xp = static_cast<const scalar_t*>(x);
    const auto* wp = static_cast<const scalar_t*>(w);
    const bool aligned = reinterpret_cast<uintptr_t>(out) % 16 == 0 &&
                         reinterpret_cast<uintptr_t>(x) % 16 == 0;
    const bool vec_ok =
        aligned && n % N == 0 &&
        (sh.inner % N == 0 || (sh.inner == 1 && sh.channels % N == 0));
    with_channel_op<opmath_t<scalar_t>>(p, [&](const auto& op) {
      if (vec_ok) {
        channel_forward_kernel<scalar_t, true>
            <<<grid_for(n / N, device), kThreads, 0, stream>>>(
                op, o, xp, wp, n, sh.channels, sh.inner);
      } else {
        channel_forward_kernel<scalar_t, false>
            <<<grid_for(n, device), kThreads, 0, stream>>>(
                op, o, xp, wp, n, sh.channels, sh.inner);
      }
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
}

int64_t channel_workspace_bytes(const ChannelShape& sh,
                                c10::DeviceIndex device) {
  const ChannelPlan plan = channel_plan(sh, device);
  return plan.chunks * sh.channels * static_cast<int64_t>(sizeof(red_t));
}

void channel_backward(const ChannelParams& p, c10::ScalarType dtype, void* gin,
                      void* gw, const void* g, const void* x, const void* w,
                      const ChannelShape& sh, void* workspace,
                      c10::DeviceIndex device) {
  c10::cuda::CUDAGuard guard(device);
  const cudaStream_t stream = stream_of(device);
  const ChannelPlan plan = channel_plan(sh, device);
  dispatch_float_types(dtype, [&](auto tag) {
    using scalar_t = decltype(tag);
    auto* gi = static_cast<scalar_t*>(gin);
    const auto* gp = static_cast<const scalar_t*>(g);
    const auto* xp = static_cast<const scalar_t*>(x);
    const auto* wp = static_cast<const scalar_t*>(w);
    auto* partial = gw == nullptr ? nullptr : static_cast<red_t*>(workspace);
    with_channel_op<opmath_t<scalar_t>>(p, [&](const auto& op) {
      if (plan.rows) {
        channel_backward_rows_kernel<scalar_t>
            <<<plan.grid, dim3(kTileC, kTileR), 0, stream>>>(
                op, gi, gp, xp, wp, partial, sh.outer, sh.channels);
      } else {
        channel_backward_planes_kernel<scalar_t>
            <<<plan.grid, kThreads, 0, stream>>>(
                op, gi, gp, xp, wp, partial, sh.outer, sh.channels, sh.inner);
      }
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
    if (gw != nullptr && p.count_active) {
      // Counts are kept in double: exact, whatever the tensor's dtype.
      channel_reduce_kernel<red_t>
          <<<grid_for(sh.channels, device), kThreads, 0, stream>>>(
              static_cast<red_t*>(gw), partial, plan.chunks, sh.channels);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    } else if (gw != nullptr) {
      channel_reduce_kernel<scalar_t>
          <<<grid_for(sh.channels, device), kThreads, 0, stream>>>(
              static_cast<scalar_t*>(gw), partial, plan.chunks, sh.channels);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
  });
}

void gated_forward(const ActParams& p, c10::ScalarType dtype, void* out,
                   const void* gate, const void* up, const GatedRows& rows,
                   c10::DeviceIndex device) {
  c10::cuda::CUDAGuard guard(device);
  dispatch_float_types(dtype, [&](auto tag) {
    using scalar_t = decltype(tag);
    with_forward_op<opmath_t<scalar_t>>(p, [&](const auto& op) {
      using Op = std::decay_t<decltype(op)>;
      launch_gated<scalar_t, 1, 2>(GatedForwardFn<Op>{{op}}, {{out}},
                                   {{gate, up}}, rows, device);
    });
  });
}

void gated_backward(const ActParams& p, c10::ScalarType dtype, void* grad_gate,
                    void* grad_up, const void* g, const void* gate,
                    const void* up, const GatedRows& rows,
                    c10::DeviceIndex device) {
  c10::cuda::CUDAGuard guard(device);
  dispatch_float_types(dtype, [&](auto tag) {
    using scalar_t = decltype(tag);
    with_forward_op<opmath_t<scalar_t>>(p, [&](const auto& op) {
      using Op = std::decay_t<decltype(op)>;
      launch_gated<scalar_t, 2, 3>(GatedBackwardFn<Op>{{op}},
                                   {{grad_gate, grad_up}}, {{g, gate, up}},
                                   rows, device);
    });
  });
}

}  // namespace cuda
}  // namespace activations_ext

namespace activations_ext {
bool built_with_cuda() { return true; }
}  // namespace activations_ext
