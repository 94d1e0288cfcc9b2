// The CUDA launchers of a build without CUDA (a CPU-only torch, no nvcc, or
// ACTIVATIONS_EXT_CPU_ONLY=1): setup.py compiles this file instead of
// kernels.cu, so the choice is made here once rather than at every call.
// The CUDA dispatch key has no kernels in such a build, so these are reached
// only by a CUDA tensor that got past the dispatcher some other way.
#include "../kernels.h"

namespace activations_ext {
namespace {

[[noreturn]] void no_cuda() {
  TORCH_CHECK(false,
              "activations_ext was built without CUDA kernels; rebuild it "
              "with a CUDA-enabled torch and nvcc available");
}

}  // namespace

bool built_with_cuda() { return false; }

namespace cuda {

void forward_dense(const ActParams&, c10::ScalarType, void*, const void*,
                   int64_t, c10::DeviceIndex) {
  no_cuda();
}
void forward_strided(const ActParams&, c10::ScalarType, void*, const void*,
                     const StridedPlan&, int64_t, c10::DeviceIndex) {
  no_cuda();
}
void backward_dense(const ActParams&, c10::ScalarType, bool, void*, const void*,
                    const void*, int64_t, c10::DeviceIndex) {
  no_cuda();
}
void backward_strided(const ActParams&, c10::ScalarType, bool, void*,
                      const void*, const void*, const StridedPlan&, int64_t,
                      c10::DeviceIndex) {
  no_cuda();
}
void channel_forward(const ChannelParams&, c10::ScalarType, void*, const void*,
                     const void*, const ChannelShape&, c10::DeviceIndex) {
  no_cuda();
}
void channel_backward(const ChannelParams&, c10::ScalarType, void*, void*,
                      const void*, const void*, const void*,
                      const ChannelShape&, void*, c10::DeviceIndex) {
  no_cuda();
}
int64_t channel_workspace_bytes(const ChannelShape&, c10::DeviceIndex) {
  no_cuda();
}
void gated_forward(const ActParams&, c10::ScalarType, void*, const void*,
                   const void*, const GatedRows&, c10::DeviceIndex) {
  no_cuda();
}
void gated_backward(const ActParams&, c10::ScalarType, void*, void*,
                    const void*, const void*, const void*, const GatedRows&,
                    c10::DeviceIndex) {
  no_cuda();
}

}  // namespace cuda
}  // namespace activations_ext
