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
// A second table, ACTEXT_PARAM_ACTIVATIONS below, holds the activations
// with one or two float parameters that need no handling beyond a check.
// The older parametric ones (leaky_relu, elu, selu, gelu, softplus: saved
// output modes, string parameters, torch's special in-place errors) and
// the per-channel ones (prelu, bias_act) are written out in ops.cpp and
// autograd.cpp.
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
  X(softsign, Softsign, SoftsignOp, Input, NoInplace)                   \
  X(relu6, ReLU6, Relu6Op, Input, InplaceSavesOutput)                   \
  X(logsigmoid, LogSigmoid, LogsigmoidOp, Input, NoInplace)             \
  X(tanhshrink, Tanhshrink, TanhshrinkOp, Input, NoInplace)             \
  X(quick_gelu, QuickGELU, QuickGeluOp, Input, NoInplace)               \
  X(relu_squared, ReLUSquared, ReluSquaredOp, Input, NoInplace)

// The activations with float parameters:
//
//   X(name, Act, Functor, saves, inplace, params)
//     params   PARAM1(a, default_a), PARAM2(a, default_a, b, default_b) or
//              PARAM2_REQUIRED(a, b): the schema's float arguments, as torch
//              names them, with torch's defaults. They travel in ActParams'
//              alpha and scale, and initialize the functor in that order.
//   The forward is name(Tensor self, float a[, float b]) -> Tensor, the
//   backward name_backward(Tensor grad_output, Tensor self, float a[,
//   float b]) -> Tensor. Each row's parameter checks are
//   check_act_params() in checks.cpp; being piecewise linear, every row's
//   second derivative is zero.
#define ACTEXT_PARAM_ACTIVATIONS(X)                               \
  X(hardtanh, Hardtanh, HardtanhOp, Input, InplaceSavesOutput,    \
    PARAM2(min_val, -1.0, max_val, 1.0))                          \
  X(softshrink, Softshrink, SoftshrinkOp, Input, NoInplace,       \
    PARAM1(lambd, 0.5))                                           \
  X(hardshrink, Hardshrink, HardshrinkOp, Input, NoInplace,       \
    PARAM1(lambd, 0.5))                                           \
  X(threshold, Threshold, ThresholdOp, Input, InplaceCopiesInput, \
    PARAM2_REQUIRED(threshold, value))

// What a row's params expand to, by use (ACTEXT_P_<use>_##params):
//   SCHEMA, SCHEMA_BWD  the schema's arguments, with and without defaults
//   DECL, ARGS          C++ parameters (p0, p1) and the call's arguments
//   TYPES               their types, for an operator handle's signature
//   FIELDS              the same arguments read from a TwoParams `p`
//   INIT                ActParams' alpha (and scale) from p0 (and p1)
//   CAST                the functor's fields from an ActParams `p`
//   COUNT               how many there are
#define ACTEXT_P_SCHEMA_PARAM1(a, da) ", float " #a "=" #da
#define ACTEXT_P_SCHEMA_PARAM2(a, da, b, db) \
  ", float " #a "=" #da ", float " #b "=" #db
#define ACTEXT_P_SCHEMA_PARAM2_REQUIRED(a, b) ", float " #a ", float " #b
#define ACTEXT_P_SCHEMA_BWD_PARAM1(a, da) ", float " #a
#define ACTEXT_P_SCHEMA_BWD_PARAM2(a, da, b, db) ", float " #a ", float " #b
#define ACTEXT_P_DECL_PARAM1(...) , double p0
#define ACTEXT_P_DECL_PARAM2(...) , double p0, double p1
#define ACTEXT_P_ARGS_PARAM1(...) , p0
#define ACTEXT_P_ARGS_PARAM2(...) , p0, p1
#define ACTEXT_P_TYPES_PARAM1(...) , double
#define ACTEXT_P_TYPES_PARAM2(...) , double, double
#define ACTEXT_P_FIELDS_PARAM1(...) , p.a
#define ACTEXT_P_FIELDS_PARAM2(...) , p.a, p.b
#define ACTEXT_P_INIT_PARAM1(...) p0, 0.0
#define ACTEXT_P_INIT_PARAM2(...) p0, p1
#define ACTEXT_P_CAST_PARAM1(...) static_cast<acc_t>(p.alpha)
#define ACTEXT_P_CAST_PARAM2(...) \
  static_cast<acc_t>(p.alpha), static_cast<acc_t>(p.scale)
#define ACTEXT_P_COUNT_PARAM1(...) 1
#define ACTEXT_P_COUNT_PARAM2(...) 2
// PARAM2_REQUIRED differs from PARAM2 only in its schema's missing defaults
// and in bias_act (below); its other uses are PARAM2's.
#define ACTEXT_P_SCHEMA_BWD_PARAM2_REQUIRED(a, b) \
  ACTEXT_P_SCHEMA_BWD_PARAM2(a, 0, b, 0)
#define ACTEXT_P_DECL_PARAM2_REQUIRED(...) ACTEXT_P_DECL_PARAM2()
#define ACTEXT_P_ARGS_PARAM2_REQUIRED(...) ACTEXT_P_ARGS_PARAM2()
#define ACTEXT_P_TYPES_PARAM2_REQUIRED(...) ACTEXT_P_TYPES_PARAM2()
#define ACTEXT_P_FIELDS_PARAM2_REQUIRED(...) ACTEXT_P_FIELDS_PARAM2()
#define ACTEXT_P_INIT_PARAM2_REQUIRED(...) ACTEXT_P_INIT_PARAM2()
#define ACTEXT_P_CAST_PARAM2_REQUIRED(...) ACTEXT_P_CAST_PARAM2()
#define ACTEXT_P_COUNT_PARAM2_REQUIRED(...) ACTEXT_P_COUNT_PARAM2()
// bias_act's parameters for a row: PARAM1 takes bias_act's alpha, PARAM2
// keeps torch's defaults (alpha unused), PARAM2_REQUIRED has no defaults and
// is not offered (`offered` false: checks.cpp refuses it).
#define ACTEXT_P_BIAS_ACT_PARAM1(a, da) true, alpha, 0.0
#define ACTEXT_P_BIAS_ACT_PARAM2(a, da, b, db) true, da, db
#define ACTEXT_P_BIAS_ACT_PARAM2_REQUIRED(a, b) false, 0.0, 0.0
#define ACTEXT_IF_BIAS_ACT_PARAM1(a, da) ACTEXT_KEEP
#define ACTEXT_IF_BIAS_ACT_PARAM2(a, da, b, db) ACTEXT_KEEP
#define ACTEXT_IF_BIAS_ACT_PARAM2_REQUIRED(a, b) ACTEXT_DROP
#define ACTEXT_KEEP(...) __VA_ARGS__
#define ACTEXT_DROP(...)

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
