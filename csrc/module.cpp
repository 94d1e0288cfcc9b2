// The Python module activations_ext._C. Importing it loads this library,
// whose static initializers register the operators with the dispatcher.
//
// Besides two questions about the build, it offers each forward operator as
// a direct entry into the dispatcher for eager calls. torch.ops spends about
// 1.7 us per call in Python (OpOverload.__call__ and its argument handling)
// before any C++ runs, which is most of an activation's time on a small
// tensor; these entries parse their few arguments in C and call the
// operator's typed dispatcher handle, so autograd, autocast, dispatch modes
// and fake tensors all apply exactly as through torch.ops. They decline
// (returning NotImplemented, and the caller then takes torch.ops) whenever
// Python-level tracing must see the call: an argument that is not a tensor
// or that overrides __torch_function__, or an active TorchFunctionMode.
// The functional wrappers also skip them while TorchScript compiles or
// torch.compile traces.
#include <Python.h>
#include <torch/csrc/Exceptions.h>
#include <torch/csrc/autograd/python_variable.h>

#include <ATen/PythonTorchFunctionTLS.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <optional>
#include <string>

#include "checks.h"
#include "kernels.h"
#include "table.h"

namespace {

using at::Tensor;

PyObject* has_cuda_kernels(PyObject*, PyObject*) {
  return PyBool_FromLong(activations_ext::built_with_cuda() ? 1 : 0);
}

PyObject* cpu_kernel_isa(PyObject*, PyObject*) {
  const std::string name = activations_ext::cpu_kernel_isa();
  return PyUnicode_FromString(name.c_str());
}

// ------------------------------------------------------------ argument parsing
//
// Each returns false where the argument is not what the fast path takes;
// the call then declines and torch.ops handles it (with its own errors).

// A torch.Tensor or nn.Parameter (not a subclass, which may override
// __torch_function__), with no TorchFunctionMode active.
bool tensor_arg(PyObject* o, Tensor& out) {
  if (!THPVariable_CheckExact(o) || at::impl::torch_function_mode_enabled()) {
    return false;
  }
  out = THPVariable_Unpack(o);
  return true;
}

bool optional_tensor_arg(PyObject* o, std::optional<Tensor>& out) {
  if (o == Py_None) {
    out = std::nullopt;
    return true;
  }
  Tensor t;
  if (!tensor_arg(o, t)) {
    return false;
  }
  out = std::move(t);
  return true;
}

bool double_arg(PyObject* o, double& v) {
  if (PyFloat_CheckExact(o)) {
    v = PyFloat_AS_DOUBLE(o);
    return true;
  }
  if (PyLong_CheckExact(o)) {
    v = PyLong_AsDouble(o);
    if (v == -1.0 && PyErr_Occurred()) {
      PyErr_Clear();
      return false;
    }
    return true;
  }
  return false;
}

bool optional_double_arg(PyObject* o, std::optional<double>& v) {
  if (o == Py_None) {
    v = std::nullopt;
    return true;
  }
  double d = 0;
  if (!double_arg(o, d)) {
    return false;
  }
  v = d;
  return true;
}

bool bool_arg(PyObject* o, bool& v) {
  if (o != Py_True && o != Py_False) {
    return false;
  }
  v = o == Py_True;
  return true;
}

bool int_arg(PyObject* o, int64_t& v) {
  if (!PyLong_CheckExact(o)) {
    return false;
  }
  v = PyLong_AsLongLong(o);
  if (v == -1 && PyErr_Occurred()) {
    PyErr_Clear();
    return false;
  }
  return true;
}

bool str_arg(PyObject* o, std::string& v) {
  if (!PyUnicode_CheckExact(o)) {
    return false;
  }
  Py_ssize_t n = 0;
  const char* s = PyUnicode_AsUTF8AndSize(o, &n);
  if (s == nullptr) {
    PyErr_Clear();
    return false;
  }
  v.assign(s, static_cast<size_t>(n));
  return true;
}

// The operator's typed handle (each entry keeps its own in a static).
template <typename Sig>
c10::TypedOperatorHandle<Sig> op_handle(const char* name) {
  return c10::Dispatcher::singleton()
      .findSchemaOrThrow(name, "")
      .template typed<Sig>();
}

// Runs `f` with the GIL released, as torch's own bindings do.
template <typename F>
decltype(auto) without_gil(F&& f) {
  struct Release {
    PyThreadState* state = PyEval_SaveThread();
    ~Release() { PyEval_RestoreThread(state); }
  } release;
  return f();
}

PyObject* declined() { Py_RETURN_NOTIMPLEMENTED; }

PyObject* wrap(Tensor t) { return THPVariable_Wrap(std::move(t)); }

// The same object back, for in-place operators (as torch's return input).
PyObject* same(PyObject* o) {
  Py_INCREF(o);
  return o;
}

// ------------------------------------------------------------------ entries
//
// The arguments are positional, in the operator schema's order, all given
// (the functional wrappers fill in the defaults).

#define ACTEXT_CHECK_NARGS(n) \
  if (nargs != (n)) {         \
    return declined();        \
  }

// op(Tensor self) -> Tensor
#define ACTEXT_UNARY_ENTRY(fn, name)                                 \
  PyObject* fn(PyObject*, PyObject* const* args, Py_ssize_t nargs) { \
    HANDLE_TH_ERRORS                                                 \
    ACTEXT_CHECK_NARGS(1)                                            \
    Tensor x;                                                        \
    if (!tensor_arg(args[0], x)) {                                   \
      return declined();                                             \
    }                                                                \
    static const auto op =                                           \
        op_handle<Tensor(const Tensor&)>("activations_ext::" name);  \
    return wrap(without_gil([&] { return op.call(x); }));            \
    END_HANDLE_TH_ERRORS                                             \
  }

// op_(Tensor(a!) self) -> (), returning self
#define ACTEXT_UNARY_INPLACE_ENTRY(fn, name)                         \
  PyObject* fn(PyObject*, PyObject* const* args, Py_ssize_t nargs) { \
    HANDLE_TH_ERRORS                                                 \
    ACTEXT_CHECK_NARGS(1)                                            \
    Tensor x;                                                        \
    if (!tensor_arg(args[0], x)) {                                   \
      return declined();                                             \
    }                                                                \
    static const auto op =                                           \
        op_handle<void(const Tensor&)>("activations_ext::" name);    \
    without_gil([&] { op.call(x); });                                \
    return same(args[0]);                                            \
    END_HANDLE_TH_ERRORS                                             \
  }

#define ACTEXT_SIMPLE_ENTRIES(name, act, functor, saves, inplace) \
  ACTEXT_UNARY_ENTRY(name, #name)                                 \
  ACTEXT_IF_INPLACE(inplace, ACTEXT_UNARY_INPLACE_ENTRY(name##_, #name "_"))
ACTEXT_SIMPLE_ACTIVATIONS(ACTEXT_SIMPLE_ENTRIES)
#undef ACTEXT_SIMPLE_ENTRIES
ACTEXT_UNARY_ENTRY(selu, "selu")
ACTEXT_UNARY_INPLACE_ENTRY(selu_, "selu_")

// The parameter table's rows: (x, p0[, p1]). Fills p0 and p1 from the
// arguments after the tensor; false where one is not a number.
bool param_args(PyObject* const* args, int count, double& p0, double& p1) {
  return double_arg(args[1], p0) && (count < 2 || double_arg(args[2], p1));
}

#define ACTEXT_PARAM_ENTRY(fn, name, params, inplace)                      \
  PyObject* fn(PyObject*, PyObject* const* args, Py_ssize_t nargs) {       \
    HANDLE_TH_ERRORS                                                       \
    constexpr int count = ACTEXT_P_COUNT_##params;                         \
    ACTEXT_CHECK_NARGS(1 + count)                                          \
    Tensor x;                                                              \
    double p0 = 0, p1 = 0;                                                 \
    if (!tensor_arg(args[0], x) || !param_args(args, count, p0, p1)) {     \
      return declined();                                                   \
    }                                                                      \
    (void)p1;                                                              \
    if constexpr (inplace) {                                               \
      static const auto op =                                               \
          op_handle<void(const Tensor& ACTEXT_P_TYPES_##params)>(          \
              "activations_ext::" name);                                   \
      without_gil([&] { op.call(x ACTEXT_P_ARGS_##params); });             \
      return same(args[0]);                                                \
    } else {                                                               \
      static const auto op =                                               \
          op_handle<Tensor(const Tensor& ACTEXT_P_TYPES_##params)>(        \
              "activations_ext::" name);                                   \
      return wrap(                                                         \
          without_gil([&] { return op.call(x ACTEXT_P_ARGS_##params); })); \
    }                                                                      \
    END_HANDLE_TH_ERRORS                                                   \
  }
#define ACTEXT_PARAM_ENTRIES(name, act, functor, saves, inplace, params) \
  ACTEXT_PARAM_ENTRY(name, #name, params, false)                         \
  ACTEXT_IF_INPLACE(inplace,                                             \
                    ACTEXT_PARAM_ENTRY(name##_, #name "_", params, true))
ACTEXT_PARAM_ACTIVATIONS(ACTEXT_PARAM_ENTRIES)
#undef ACTEXT_PARAM_ENTRIES
#undef ACTEXT_PARAM_ENTRY

PyObject* leaky_relu(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  HANDLE_TH_ERRORS
  ACTEXT_CHECK_NARGS(3)
  Tensor x;
  double slope = 0;
  bool save_output = false;
  if (!tensor_arg(args[0], x) || !double_arg(args[1], slope) ||
      !bool_arg(args[2], save_output)) {
    return declined();
  }
  static const auto op = op_handle<Tensor(const Tensor&, double, bool)>(
      "activations_ext::leaky_relu");
  return wrap(without_gil([&] { return op.call(x, slope, save_output); }));
  END_HANDLE_TH_ERRORS
}

PyObject* leaky_relu_(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  HANDLE_TH_ERRORS
  ACTEXT_CHECK_NARGS(2)
  Tensor x;
  double slope = 0;
  if (!tensor_arg(args[0], x) || !double_arg(args[1], slope)) {
    return declined();
  }
  static const auto op =
      op_handle<void(const Tensor&, double)>("activations_ext::leaky_relu_");
  without_gil([&] { op.call(x, slope); });
  return same(args[0]);
  END_HANDLE_TH_ERRORS
}

PyObject* elu(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  HANDLE_TH_ERRORS
  ACTEXT_CHECK_NARGS(5)
  Tensor x;
  double alpha = 0, scale = 0, input_scale = 0;
  bool save_output = false;
  if (!tensor_arg(args[0], x) || !double_arg(args[1], alpha) ||
      !double_arg(args[2], scale) || !double_arg(args[3], input_scale) ||
      !bool_arg(args[4], save_output)) {
    return declined();
  }
  static const auto op =
      op_handle<Tensor(const Tensor&, double, double, double, bool)>(
          "activations_ext::elu");
  return wrap(without_gil(
      [&] { return op.call(x, alpha, scale, input_scale, save_output); }));
  END_HANDLE_TH_ERRORS
}

PyObject* elu_(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  HANDLE_TH_ERRORS
  ACTEXT_CHECK_NARGS(4)
  Tensor x;
  double alpha = 0, scale = 0, input_scale = 0;
  if (!tensor_arg(args[0], x) || !double_arg(args[1], alpha) ||
      !double_arg(args[2], scale) || !double_arg(args[3], input_scale)) {
    return declined();
  }
  static const auto op = op_handle<void(const Tensor&, double, double, double)>(
      "activations_ext::elu_");
  without_gil([&] { op.call(x, alpha, scale, input_scale); });
  return same(args[0]);
  END_HANDLE_TH_ERRORS
}

PyObject* gelu(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  HANDLE_TH_ERRORS
  ACTEXT_CHECK_NARGS(2)
  Tensor x;
  std::string approximate;
  if (!tensor_arg(args[0], x) || !str_arg(args[1], approximate)) {
    return declined();
  }
  static const auto op = op_handle<Tensor(const Tensor&, c10::string_view)>(
      "activations_ext::gelu");
  return wrap(without_gil([&] { return op.call(x, approximate); }));
  END_HANDLE_TH_ERRORS
}

PyObject* softplus(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  HANDLE_TH_ERRORS
  ACTEXT_CHECK_NARGS(3)
  Tensor x;
  double beta = 0, threshold = 0;
  if (!tensor_arg(args[0], x) || !double_arg(args[1], beta) ||
      !double_arg(args[2], threshold)) {
    return declined();
  }
  static const auto op = op_handle<Tensor(const Tensor&, double, double)>(
      "activations_ext::softplus");
  return wrap(without_gil([&] { return op.call(x, beta, threshold); }));
  END_HANDLE_TH_ERRORS
}

PyObject* prelu(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  HANDLE_TH_ERRORS
  ACTEXT_CHECK_NARGS(2)
  Tensor x;
  Tensor w;
  if (!tensor_arg(args[0], x) || !tensor_arg(args[1], w)) {
    return declined();
  }
  static const auto op =
      op_handle<Tensor(const Tensor&, const Tensor&)>("activations_ext::prelu");
  return wrap(without_gil([&] { return op.call(x, w); }));
  END_HANDLE_TH_ERRORS
}

// RReLU's training operators: (x, uniform) and (x, noise).
#define ACTEXT_TWO_TENSOR_ENTRY(fn)                                         \
  PyObject* fn(PyObject*, PyObject* const* args, Py_ssize_t nargs) {        \
    HANDLE_TH_ERRORS                                                        \
    ACTEXT_CHECK_NARGS(2)                                                   \
    Tensor a;                                                               \
    Tensor b;                                                               \
    if (!tensor_arg(args[0], a) || !tensor_arg(args[1], b)) {               \
      return declined();                                                    \
    }                                                                       \
    static const auto op = op_handle<Tensor(const Tensor&, const Tensor&)>( \
        "activations_ext::" #fn);                                           \
    return wrap(without_gil([&] { return op.call(a, b); }));                \
    END_HANDLE_TH_ERRORS                                                    \
  }
ACTEXT_TWO_TENSOR_ENTRY(rrelu_noise)
ACTEXT_TWO_TENSOR_ENTRY(rrelu_with_noise)
#undef ACTEXT_TWO_TENSOR_ENTRY

PyObject* bias_act(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  HANDLE_TH_ERRORS
  ACTEXT_CHECK_NARGS(7)
  Tensor x;
  std::optional<Tensor> bias;
  std::string act;
  int64_t dim = 0;
  double alpha = 0, gain = 0;
  std::optional<double> clamp;
  if (!tensor_arg(args[0], x) || !optional_tensor_arg(args[1], bias) ||
      !str_arg(args[2], act) || !int_arg(args[3], dim) ||
      !double_arg(args[4], alpha) || !double_arg(args[5], gain) ||
      !optional_double_arg(args[6], clamp)) {
    return declined();
  }
  static const auto op = op_handle<Tensor(
      const Tensor&, const std::optional<Tensor>&, c10::string_view, int64_t,
      double, double, std::optional<double>)>("activations_ext::bias_act");
  return wrap(without_gil(
      [&] { return op.call(x, bias, act, dim, alpha, gain, clamp); }));
  END_HANDLE_TH_ERRORS
}

#undef ACTEXT_CHECK_NARGS
#undef ACTEXT_UNARY_ENTRY
#undef ACTEXT_UNARY_INPLACE_ENTRY

// ------------------------------------------------------------ the checks
//
// The argument checks of checks.h, for the fake kernels (activations_ext
// ._checks): traced calls raise exactly what eager calls raise. Tensors
// here may be fake or of any subclass.

const Tensor& any_tensor(PyObject* o, const char* what) {
  if (!THPVariable_Check(o)) {
    throw c10::TypeError(
        {__func__, __FILE__, static_cast<uint32_t>(__LINE__)},
        std::string("activations_ext: ") + what + " must be a tensor");
  }
  return THPVariable_Unpack(o);
}

std::optional<Tensor> any_optional_tensor(PyObject* o, const char* what) {
  if (o == Py_None) {
    return std::nullopt;
  }
  return any_tensor(o, what);
}

std::string any_str(PyObject* o) {
  std::string s;
  TORCH_CHECK_TYPE(str_arg(o, s), "activations_ext: expected a str");
  return s;
}

double any_double(PyObject* o) {
  double d = 0;
  TORCH_CHECK_TYPE(double_arg(o, d), "activations_ext: expected a float");
  return d;
}

int64_t any_int(PyObject* o) {
  int64_t v = 0;
  TORCH_CHECK_TYPE(int_arg(o, v), "activations_ext: expected an int");
  return v;
}

std::optional<double> any_optional_double(PyObject* o) {
  std::optional<double> v;
  TORCH_CHECK_TYPE(optional_double_arg(o, v),
                   "activations_ext: expected a float or None");
  return v;
}

#define ACTEXT_CHECK_ARGS(n)                                             \
  TORCH_CHECK_TYPE(nargs == (n), "activations_ext: a check takes ", (n), \
                   " arguments, got ", nargs)

PyObject* check_float_py(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  HANDLE_TH_ERRORS
  ACTEXT_CHECK_ARGS(3);
  activations_ext::check_float(any_tensor(args[0], "the tensor"),
                               any_str(args[1]).c_str(),
                               any_str(args[2]).c_str());
  Py_RETURN_NONE;
  END_HANDLE_TH_ERRORS
}

PyObject* check_pair_py(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  HANDLE_TH_ERRORS
  ACTEXT_CHECK_ARGS(5);
  activations_ext::check_pair(
      any_tensor(args[0], "the first tensor"),
      any_tensor(args[1], "the second tensor"), any_str(args[2]).c_str(),
      any_str(args[3]).c_str(), any_str(args[4]).c_str());
  Py_RETURN_NONE;
  END_HANDLE_TH_ERRORS
}

PyObject* check_prelu_py(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  HANDLE_TH_ERRORS
  ACTEXT_CHECK_ARGS(3);
  activations_ext::check_prelu(any_tensor(args[0], "input"),
                               any_tensor(args[1], "weight"),
                               any_str(args[2]).c_str());
  Py_RETURN_NONE;
  END_HANDLE_TH_ERRORS
}

// (x, bias, act, dim, alpha, gain, clamp, op)
PyObject* check_bias_act_py(PyObject*, PyObject* const* args,
                            Py_ssize_t nargs) {
  HANDLE_TH_ERRORS
  ACTEXT_CHECK_ARGS(8);
  activations_ext::check_bias_act(
      any_tensor(args[0], "input"), any_optional_tensor(args[1], "bias"),
      any_str(args[2]), any_int(args[3]), any_double(args[4]),
      any_optional_double(args[6]), any_str(args[7]).c_str());
  Py_RETURN_NONE;
  END_HANDLE_TH_ERRORS
}

// (gate, up, act, alpha, op)
PyObject* check_gated_py(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  HANDLE_TH_ERRORS
  ACTEXT_CHECK_ARGS(5);
  activations_ext::check_gated(any_tensor(args[0], "gate"),
                               any_tensor(args[1], "up"), any_str(args[2]),
                               any_double(args[3]), any_str(args[4]).c_str());
  Py_RETURN_NONE;
  END_HANDLE_TH_ERRORS
}

// (x, dim, op) -> dim wrapped
PyObject* check_gated_split_py(PyObject*, PyObject* const* args,
                               Py_ssize_t nargs) {
  HANDLE_TH_ERRORS
  ACTEXT_CHECK_ARGS(3);
  return PyLong_FromLongLong(activations_ext::check_gated_split(
      any_tensor(args[0], "input"), any_int(args[1]),
      any_str(args[2]).c_str()));
  END_HANDLE_TH_ERRORS
}

PyObject* check_gelu_approximate_py(PyObject*, PyObject* const* args,
                                    Py_ssize_t nargs) {
  HANDLE_TH_ERRORS
  ACTEXT_CHECK_ARGS(2);
  activations_ext::check_gelu_approximate(any_str(args[0]),
                                          any_str(args[1]).c_str());
  Py_RETURN_NONE;
  END_HANDLE_TH_ERRORS
}

// (name, p0, p1, tensor, op): the parameters of the parameter-table row
// `name`, for an input of the tensor's dtype.
PyObject* check_act_params_py(PyObject*, PyObject* const* args,
                              Py_ssize_t nargs) {
  HANDLE_TH_ERRORS
  ACTEXT_CHECK_ARGS(5);
  const std::string name = any_str(args[0]);
  const Tensor t = any_tensor(args[3], "the tensor");
#define ACTEXT_PARAM_CHECK(row, act, functor, saves, inplace, params)        \
  if (name == #row) {                                                        \
    activations_ext::check_act_params(                                       \
        activations_ext::Act::act, any_double(args[1]), any_double(args[2]), \
        t.scalar_type(), any_str(args[4]).c_str());                          \
    Py_RETURN_NONE;                                                          \
  }
  ACTEXT_PARAM_ACTIVATIONS(ACTEXT_PARAM_CHECK)
#undef ACTEXT_PARAM_CHECK
  TORCH_CHECK_VALUE(false, "activations_ext: no parameter-table row ", name);
  END_HANDLE_TH_ERRORS
}

PyObject* check_softplus_beta_py(PyObject*, PyObject* const* args,
                                 Py_ssize_t nargs) {
  HANDLE_TH_ERRORS
  ACTEXT_CHECK_ARGS(2);
  activations_ext::check_softplus_beta(any_double(args[0]),
                                       any_str(args[1]).c_str());
  Py_RETURN_NONE;
  END_HANDLE_TH_ERRORS
}

PyObject* check_save_output_py(PyObject*, PyObject* const* args,
                               Py_ssize_t nargs) {
  HANDLE_TH_ERRORS
  ACTEXT_CHECK_ARGS(3);
  activations_ext::check_save_output(
      any_double(args[0]), any_str(args[1]).c_str(), any_str(args[2]).c_str());
  Py_RETURN_NONE;
  END_HANDLE_TH_ERRORS
}

// Returns the wrapped dim.
PyObject* check_unit_dim_py(PyObject*, PyObject* const* args,
                            Py_ssize_t nargs) {
  HANDLE_TH_ERRORS
  ACTEXT_CHECK_ARGS(3);
  const int64_t d = activations_ext::check_unit_dim(
      any_tensor(args[0], "input"), any_int(args[1]), any_str(args[2]).c_str());
  return PyLong_FromLongLong(d);
  END_HANDLE_TH_ERRORS
}

// (x, w, dim, op)
PyObject* check_prelu_count_dim_py(PyObject*, PyObject* const* args,
                                   Py_ssize_t nargs) {
  HANDLE_TH_ERRORS
  ACTEXT_CHECK_ARGS(4);
  activations_ext::check_prelu_count_dim(
      any_tensor(args[0], "input"), any_tensor(args[1], "weight"),
      any_int(args[2]), any_str(args[3]).c_str());
  Py_RETURN_NONE;
  END_HANDLE_TH_ERRORS
}
#undef ACTEXT_CHECK_ARGS

#define ACTEXT_FAST(fn)                                                      \
  {#fn, reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(fn)), \
   METH_FASTCALL,                                                            \
   "Eager entry into activations_ext::" #fn                                  \
   "; NotImplemented where torch.ops must take the call."}

PyMethodDef methods[] = {
    {"has_cuda_kernels", has_cuda_kernels, METH_NOARGS,
     "Whether this build contains the CUDA kernels."},
    {"cpu_kernel_isa", cpu_kernel_isa, METH_NOARGS,
     "The instruction set of the CPU kernels in use: DEFAULT, AVX2 or "
     "AVX512."},
#define ACTEXT_SIMPLE_METHODS(name, act, functor, saves, inplace) \
  ACTEXT_FAST(name), ACTEXT_IF_INPLACE(inplace, ACTEXT_FAST(name##_), )
    ACTEXT_SIMPLE_ACTIVATIONS(ACTEXT_SIMPLE_METHODS)
#define ACTEXT_PARAM_METHODS(name, act, functor, saves, inplace, params) \
  ACTEXT_SIMPLE_METHODS(name, act, functor, saves, inplace)
        ACTEXT_PARAM_ACTIVATIONS(ACTEXT_PARAM_METHODS)
#undef ACTEXT_PARAM_METHODS
#undef ACTEXT_SIMPLE_METHODS
            ACTEXT_FAST(selu),
    ACTEXT_FAST(selu_),
    ACTEXT_FAST(leaky_relu),
    ACTEXT_FAST(leaky_relu_),
    ACTEXT_FAST(elu),
    ACTEXT_FAST(elu_),
    ACTEXT_FAST(gelu),
    ACTEXT_FAST(softplus),
    ACTEXT_FAST(prelu),
    ACTEXT_FAST(rrelu_noise),
    ACTEXT_FAST(rrelu_with_noise),
    ACTEXT_FAST(bias_act),
#define ACTEXT_CHECK_METHOD(name)                                              \
  {"_" #name,                                                                  \
   reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(name##_py)), \
   METH_FASTCALL, "The argument check " #name " of csrc/checks.h."}
    ACTEXT_CHECK_METHOD(check_float),
    ACTEXT_CHECK_METHOD(check_pair),
    ACTEXT_CHECK_METHOD(check_prelu),
    ACTEXT_CHECK_METHOD(check_bias_act),
    ACTEXT_CHECK_METHOD(check_gelu_approximate),
    ACTEXT_CHECK_METHOD(check_softplus_beta),
    ACTEXT_CHECK_METHOD(check_act_params),
    ACTEXT_CHECK_METHOD(check_save_output),
    ACTEXT_CHECK_METHOD(check_unit_dim),
    ACTEXT_CHECK_METHOD(check_prelu_count_dim),
    ACTEXT_CHECK_METHOD(check_gated),
    ACTEXT_CHECK_METHOD(check_gated_split),
#undef ACTEXT_CHECK_METHOD
    {nullptr, nullptr, 0, nullptr}};
#undef ACTEXT_FAST

PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, methods};

}  // namespace

extern "C" PyMODINIT_FUNC PyInit__C(void) {
  return PyModule_Create(&module_def);
}
