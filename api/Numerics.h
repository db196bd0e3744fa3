// How far a compiled result may be from the reference interpreter's, and how to say how far it
// is. Shared by `tdsl run --check` and the end-to-end tests so both judge alike.
#pragma once

#include "runtime/Convert.h"
#include "tdsl/Tensor.h"
#include "tdsl/tdsl.h"

#include <string>
#include <vector>

namespace tdsl {

/// Relative tolerance for a result stored in `dtype`: a few hundred ulps of that type, since
/// reductions are reassociated and the reference computes in f64.
double relativeTolerance(DType dtype);

/// Every element within rtol * (|reference| + max |reference|) of the reference (NaN matching
/// NaN, infinities matching exactly); integers and bools exactly equal.
bool withinTolerance(const Tensor &actual, const Tensor &reference);

/// The tolerance withinTolerance(actual, reference) applies, in words: "exact" for integers and
/// bools, else "|error| <= 0.0002 * (|reference| + 1.5)" (a NaN must match a NaN, an infinity
/// itself).
std::string describeTolerance(const Tensor &actual, const Tensor &reference);

/// withinTolerance, judging at f32's precision when `asF32` (an f64 result computed from narrower
/// floats carries their rounding: compiled code rounds every f32 operation, the interpreter only
/// its stores).
bool withinTolerance(const Tensor &actual, const Tensor &reference, bool asF32);

/// Whether output `output` of `kernel` on `inputs` (whose interpreted result is `reference`) is
/// too ill-conditioned to judge by withinTolerance: the interpreter's own result moves past the
/// tolerance when every float input moves by a few ulps of its dtype (all up, or alternately up
/// and down). Compiled code rounds its f32 intermediates where the interpreter keeps f64, which
/// is a perturbation of that size, so such an output (catastrophic cancellation, a floor or `%`
/// next to its jump, a comparison of nearly equal values) may differ without a compiler bug.
bool illConditioned(const Kernel &kernel, const std::vector<Tensor> &inputs,
                    const std::vector<Tensor> &reference, size_t output, bool asF32 = false);

/// Whether output `output` of `kernel` on `inputs` depends on the last bits of its math functions:
/// the f32 model (Kernel::interpretRoundingF32) moves past the tolerance when every approximate
/// math function's result (exp, cos, tanh, ...) moves by the 2 ulps that conforming libraries
/// differ by (CUDA's `cosf` and `expf` are within 2 ulps; the CPU's vector functions within 1).
/// Such an output (say `%` of a large quotient by a value divided by `cos(t) * t + 3` near 0)
/// differs between math libraries without a compiler bug.
bool mathFunctionSensitive(const Kernel &kernel, const std::vector<Tensor> &inputs, size_t output,
                           bool asF32 = false);

/// Why compiled output `output` (`actual`), outside the tolerance of the f64 reference
/// `reference`, is still no compiler bug: "f32 rounding" when it is within the tolerance of
/// Kernel::interpretRoundingF32 (f32 arithmetic, step by step, gives it), "ill-conditioned" or
/// "math-function rounding" as above; "" when none holds (a mismatch to report).
std::string excuseForMismatch(const Kernel &kernel, const std::vector<Tensor> &inputs,
                              const Tensor &actual, const std::vector<Tensor> &reference,
                              size_t output, bool asF32 = false);

/// "max abs error 1.2e-07, max rel error 3.4e-07, max ulp 2 (at [3, 1])"
std::string describe(const runtime::ErrorStats &stats, const std::vector<int64_t> &shape);

} // namespace tdsl
