// The Python module activations_ext._C. Importing it loads this library,
// whose static initializers register the operators with the dispatcher; the
// operators are then reached through torch.ops.activations_ext. The module
// itself only answers two questions about the build.
#include <Python.h>

#include <string>

#include "kernels.h"

namespace {

PyObject* has_cuda_kernels(PyObject*, PyObject*) {
  return PyBool_FromLong(activations_ext::built_with_cuda() ? 1 : 0);
}

PyObject* cpu_kernel_isa(PyObject*, PyObject*) {
  const std::string name = activations_ext::cpu_kernel_isa();
  return PyUnicode_FromString(name.c_str());
}

PyMethodDef methods[] = {
    {"has_cuda_kernels", has_cuda_kernels, METH_NOARGS,
     "Whether this build contains the CUDA kernels."},
    {"cpu_kernel_isa", cpu_kernel_isa, METH_NOARGS,
     "The instruction set of the CPU kernels in use: DEFAULT, AVX2 or "
     "AVX512."},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, methods};

}  // namespace

extern "C" PyMODINIT_FUNC PyInit__C(void) {
  return PyModule_Create(&module_def);
}
