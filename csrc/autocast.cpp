// Autocast kernels: under torch.autocast our operators cast their inputs
// exactly as torch casts the native activation of the same name, so a model
// built from our modules gets the same dtypes (and so the same numerics) as
// one built from torch.nn's.
//
// What torch does (ATen's autocast_mode.h, as in torch 2.13 and 2.14):
//
//   operator   AutocastCPU            AutocastCUDA
//   prelu      lower precision        lower precision
//   softplus   runs in its input's    float32
//              dtype
//   relu_squared  (torch.square(torch.relu(x)) in models: square is pow)
//              its input's dtype      float32
//   others     run in their input's dtype (no autocast kernel: relu,
//              sigmoid, leaky_relu, elu, gelu, silu, tanh, mish, selu,
//              hardswish, every in-place and every backward operator)
//
// bias_act has no torch counterpart. It stands in for the bias add of a
// Linear or a convolution (LinearAct is nn.Linear followed by an
// activation), which torch's autocast runs in lower precision, so it does
// too: the bias, a float32 parameter, meets the lower-precision product.
// (With act="softplus" on CUDA its output therefore stays in the autocast
// dtype, where Linear followed by Softplus gives float32.)
//
// The dead-unit monitor's counting forwards stand in for a module's own
// forward, so they cast as that does: prelu_count as prelu; bias_act_count
// (a plain activation with a zero bias made in the input's dtype) not at
// all.
//
// "Lower precision" casts every floating-point tensor argument except
// float64 ones to the autocast dtype (bfloat16 or float16); "float32" casts
// them to float32. An operator with no row here falls through to its
// ordinary kernel, as torch's pointwise activations do. A new operator that
// torch casts needs a row in kRules; the tests compare every activation in
// the spec table with torch under autocast and fail for a missing row.
//
// The casts go through at::autocast::cached_cast, torch's own: within one
// autocast region a float32 leaf parameter (PReLU's weight) is cast once and
// reused, and gradients flow back to it in float32.
#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <torch/library.h>

namespace activations_ext {
namespace {

enum class Cast {
  kLowerPrecision,  // to torch.get_autocast_dtype(device)
  kFloat32,
};

struct AutocastRule {
  const char* op;  // operator name in the activations_ext namespace
  c10::DeviceType device;
  Cast cast;
};

constexpr AutocastRule kRules[] = {
    {"prelu", c10::DeviceType::CPU, Cast::kLowerPrecision},
    {"prelu", c10::DeviceType::CUDA, Cast::kLowerPrecision},
    {"softplus", c10::DeviceType::CUDA, Cast::kFloat32},
    // Squared ReLU has no torch operator: models write it as
    // square(relu(x)), and CUDA autocast runs square (pow) in float32.
    {"relu_squared", c10::DeviceType::CUDA, Cast::kFloat32},
    {"bias_act", c10::DeviceType::CPU, Cast::kLowerPrecision},
    {"bias_act", c10::DeviceType::CUDA, Cast::kLowerPrecision},
    {"prelu_count", c10::DeviceType::CPU, Cast::kLowerPrecision},
    {"prelu_count", c10::DeviceType::CUDA, Cast::kLowerPrecision},
};

// One boxed kernel serves every operator: it casts the tensor arguments on
// the stack, then calls the operator again with this autocast key excluded,
// which reaches the autograd and backend kernels.
template <c10::DeviceType Device, Cast Policy>
void autocast_kernel(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(
      at::autocast::get_autocast_dispatch_key_from_device_type(Device));
  const at::ScalarType to = Policy == Cast::kFloat32
                                ? at::kFloat
                                : at::autocast::get_autocast_dtype(Device);
  const size_t num_args = op.schema().arguments().size();
  for (auto it = stack->end() - num_args; it != stack->end(); ++it) {
    if (it->isTensor()) {
      *it = at::autocast::cached_cast(to, it->toTensor(), Device);
    }
  }
  op.callBoxed(stack);
}

template <c10::DeviceType Device>
torch::CppFunction kernel_for(Cast cast) {
  switch (cast) {
    case Cast::kLowerPrecision:
      return torch::CppFunction::makeFromBoxedFunction<
          &autocast_kernel<Device, Cast::kLowerPrecision>>();
    case Cast::kFloat32:
      return torch::CppFunction::makeFromBoxedFunction<
          &autocast_kernel<Device, Cast::kFloat32>>();
  }
  TORCH_INTERNAL_ASSERT(false, "unknown autocast policy");
}

template <c10::DeviceType Device>
void register_rules(torch::Library& m) {
  for (const auto& rule : kRules) {
    if (rule.device == Device) {
      m.impl(rule.op, kernel_for<Device>(rule.cast));
    }
  }
}

}  // namespace
}  // namespace activations_ext

// Registered in every build: the CUDA kernels only ever cast CUDA tensors,
// and a CPU-only build then still reports (and tests) the CUDA policy.
TORCH_LIBRARY_IMPL(activations_ext, AutocastCPU, m) {
  activations_ext::register_rules<c10::DeviceType::CPU>(m);
}

TORCH_LIBRARY_IMPL(activations_ext, AutocastCUDA, m) {
  activations_ext::register_rules<c10::DeviceType::CUDA>(m);
}
