// How far a compiled result may be from the reference interpreter's, and how to say how far it
// is. Shared by `tdsl run --check` and the end-to-end tests so both judge alike.
#pragma once

#include "runtime/Convert.h"
#include "tdsl/Tensor.h"

#include <string>

namespace tdsl {

/// Relative tolerance for a result stored in `dtype`: a few hundred ulps of that type, since
/// reductions are reassociated and the reference computes in f64.
double relativeTolerance(DType dtype);

/// Every element within rtol * (|reference| + max |reference|) of the reference (NaN matching
/// NaN, infinities matching exactly); integers and bools exactly equal.
bool withinTolerance(const Tensor &actual, const Tensor &reference);

/// "max abs error 1.2e-07, max rel error 3.4e-07, max ulp 2 (at [3, 1])"
std::string describe(const runtime::ErrorStats &stats, const std::vector<int64_t> &shape);

} // namespace tdsl
