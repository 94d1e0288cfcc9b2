// The table of activations without scalar parameters, from which their
// operator schemas, CPU/CUDA registrations, autograd registration and eager
// entry points are generated (ops.cpp, autograd.cpp, module.cpp). Adding
// such an activation is a functor in activations.h, its Act, and one row
// here (and, in autograd.cpp, its second derivative).
//
//   X(name, Act, Functor, saves, inplace)
//     name     the operator: name(Tensor self) -> Tensor, and
//              name_backward(Tensor grad_output, Tensor <saved>) -> Tensor;
//              also bias_act's name for it
//     Act      its enumerator in activations.h
//     Functor  its functor template in activations.h
//     saves    what backward keeps, as torch does: Output (the schema calls
//              it `result`) or Input (`self`)
//     inplace  the in-place form name_(Tensor(a!) self) -> (): NoInplace,
//              InplaceSavesOutput (its derivative needs only the output) or
//              InplaceCopiesInput (autograd keeps a copy of the input)
//
// Activations with scalar parameters (leaky_relu, elu, selu, gelu,
// softplus) and per-channel ones (prelu, bias_act) are written out in
// ops.cpp and autograd.cpp: their parameter handling is their own.
//
// This header is included by activations.h (for the functor dispatch), so
// it holds macros only.
#pragma once

#define ACTEXT_SIMPLE_ACTIVATIONS(X)                                    \
  X(relu, ReLU, ReluOp, Output, InplaceSavesOutput)                     \
  X(sigmoid, Sigmoid, SigmoidOp, Output, NoInplace)                     \
  X(tanh, Tanh, TanhOp, Output, NoInplace)                              \
  X(silu, SiLU, SiluOp, Input, InplaceCopiesInput)                      \
  X(mish, Mish, MishOp, Input, InplaceCopiesInput)                      \
  X(hardswish, Hardswish, HardswishOp, Input, InplaceCopiesInput)       \
  X(hardsigmoid, Hardsigmoid, HardsigmoidOp, Input, InplaceCopiesInput) \
  X(softsign, Softsign, SoftsignOp, Input, NoInplace)

// Expands its arguments only for rows with an in-place form.
#define ACTEXT_IF_INPLACE_NoInplace(...)
#define ACTEXT_IF_INPLACE_InplaceSavesOutput(...) __VA_ARGS__
#define ACTEXT_IF_INPLACE_InplaceCopiesInput(...) __VA_ARGS__
#define ACTEXT_IF_INPLACE(inplace, ...) ACTEXT_IF_INPLACE_##inplace(__VA_ARGS__)

// The name of the saved tensor in the backward schema, and whether it is
// the output.
#define ACTEXT_SAVED_NAME_Output "result"
#define ACTEXT_SAVED_NAME_Input "self"
#define ACTEXT_SAVES_OUTPUT_Output true
#define ACTEXT_SAVES_OUTPUT_Input false
#define ACTEXT_INPLACE_COPIES_NoInplace false
#define ACTEXT_INPLACE_COPIES_InplaceSavesOutput false
#define ACTEXT_INPLACE_COPIES_InplaceCopiesInput true
#define ACTEXT_HAS_INPLACE_NoInplace false
#define ACTEXT_HAS_INPLACE_InplaceSavesOutput true
#define ACTEXT_HAS_INPLACE_InplaceCopiesInput true
