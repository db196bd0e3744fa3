// The reference interpreter: naive loops over the tensor IR in f64 (integers exact in i64).
// It is the oracle every compiled path is tested against, so it favours obviousness over speed.
#pragma once

#include "ir/Kernel.h"
#include "tdsl/Tensor.h"

#include <vector>

namespace tdsl::ir {

/// Runs `kernel` on `inputs` (in the kernel's input order, shapes already checked by
/// bindSymbols). Float outputs come back as F64 tensors holding the unrounded f64 results
/// (a Cast to a narrower float inside the IR still rounds); integer and bool outputs keep their
/// dtype.
std::vector<Tensor> interpret(const Kernel &kernel, const std::vector<Tensor> &inputs);

} // namespace tdsl::ir
