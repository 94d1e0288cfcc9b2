// Picks the CPU kernel table for this processor at run time.
//
// We follow ATen's own choice (at::get_cpu_capability(), which honours
// ATEN_CPU_CAPABILITY=default|avx2|avx512), so our kernels and torch's use
// the same instruction set, and we check the processor ourselves as well: a
// table is only used where every instruction it was compiled for exists.
#include <ATen/Version.h>

#include <cstdlib>
#include <string>

#include "../kernels.h"

namespace activations_ext {
namespace cpu {
namespace {

[[maybe_unused]] bool has_avx2() {
#if defined(__x86_64__) || defined(_M_X64)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
#else
  return false;
#endif
}

[[maybe_unused]] bool has_avx512() {
#if defined(__x86_64__) || defined(_M_X64)
  return has_avx2() && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}

const KernelTable& pick() {
  const std::string aten = at::get_cpu_capability();
#if defined(ACTEXT_HAVE_AVX512)
  if (aten == "AVX512" && has_avx512()) {
    return AVX512::kernel_table();
  }
#endif
#if defined(ACTEXT_HAVE_AVX2)
  if ((aten == "AVX512" || aten == "AVX2") && has_avx2()) {
    return AVX2::kernel_table();
  }
#endif
  return DEFAULT::kernel_table();
}

}  // namespace

const KernelTable& kernels() {
  static const KernelTable& table = pick();
  return table;
}

bool kernels_are_avx512() {
#if defined(ACTEXT_HAVE_AVX512)
  return &kernels() == &AVX512::kernel_table();
#else
  return false;
#endif
}

bool env_switch_on(const char* name) {
  const char* env = std::getenv(name);
  return env == nullptr || std::string(env) != "0";
}

// ACTIVATIONS_EXT_NARROW=0 keeps them on kernels() (for comparing the two).
const KernelTable& narrow_kernels() {
  static const KernelTable& table = []() -> const KernelTable& {
#if defined(ACTEXT_HAVE_AVX512) && defined(ACTEXT_HAVE_AVX2)
    if (env_switch_on("ACTIVATIONS_EXT_NARROW") &&
        &kernels() == &AVX512::kernel_table()) {
      return AVX2::kernel_table();
    }
#endif
    return kernels();
  }();
  return table;
}

}  // namespace cpu
}  // namespace activations_ext
