// The reference interpreter: naive loops over the tensor IR in f64 (integers exact in i64).
// It is the oracle every compiled path is tested against, so it favours obviousness over speed.
#pragma once

#include "ir/Kernel.h"
#include "tdsl/Tensor.h"

#include <vector>

namespace tdsl::ir {

/// Runs `kernel` on `inputs` (in the kernel's input order, shapes already checked by
/// bindSymbols). Arithmetic is f64; each stored value is rounded to its tensor's dtype. Float
/// outputs come back as F64 tensors (holding values of the output's dtype); integer and bool
/// outputs keep their dtype.
///
/// With `roundEachF32`, every f32 operation's result (arithmetic, math functions, each step of a
/// reduction, f32 literals) is rounded to f32 as compiled code computes it, math functions
/// correctly rounded: a model of f32 arithmetic rather than of the exact result, used to tell
/// f32's own rounding (cancellation, a floor or `%` at its jump) from a compiler bug. A nonzero
/// `mathFunctionUlps` then moves the result of every f32 math function that libraries compute
/// approximately (exp, log, sin, tanh, erf, rsqrt, ...; not sqrt, floor or abs) that many ulps
/// up (or down, when negative): the results of another conforming math library, such as CUDA's,
/// whose `cosf` and `expf` are within 2 ulps.
///
/// Throws RuntimeError E093 when a gather met an index out of range (ir::throwIfGatherFailed).
std::vector<Tensor> interpret(const Kernel &kernel, const std::vector<Tensor> &inputs,
                              bool roundEachF32 = false, int mathFunctionUlps = 0);

} // namespace tdsl::ir
