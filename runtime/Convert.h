// Tensor conversions and comparisons for the command line and the tests: change a tensor's dtype,
// print a short summary, and measure how far a result is from a reference.
#pragma once

#include "tdsl/Tensor.h"

#include <cstdint>
#include <string>

namespace tdsl::runtime {

/// A new owned tensor holding `t`'s elements converted to `dtype` as the language's casts do
/// (one rounding to nearest even for floats; float -> int truncates and saturates, NaN -> 0;
/// int -> int exact, wrapping when narrowing; x -> bool is x != 0).
Tensor convertTo(const Tensor &t, DType dtype);

/// One line for the CLI: `f32[4, 8]  values [0.1234, -1.5, ...]  checksum 12.3456` with the
/// first (up to) 6 values and the sum of all elements in f64.
std::string summarize(const Tensor &t);

/// Whether every element satisfies |actual - expected| <= atol + rtol * |expected| (as
/// numpy.allclose), NaN matching NaN and infinities matching exactly; integer and bool tensors
/// compare exactly. Shapes must be equal; dtypes may differ. On failure `report` (if given) gets
/// the number of mismatches and the worst one; on success it is cleared.
bool allClose(const Tensor &actual, const Tensor &expected, double rtol, double atol,
              std::string *report = nullptr);

/// Largest errors of `actual` against `reference` over all elements.
struct ErrorStats {
  double maxAbs = 0;
  /// |a - r| / |r|; infinite where r == 0 and a != 0.
  double maxRel = 0;
  /// Distance in units in the last place of the ACTUAL tensor's dtype, after rounding the
  /// reference to that dtype (so a correctly rounded result scores 0). For integer tensors, |a -
  /// r|.
  int64_t maxUlp = 0;
  /// The element with the largest absolute error (the first such), -1 when all are equal.
  int64_t worstIndex = -1;
};

/// Compares element by element (shapes must match, else RuntimeError). NaN against NaN counts as
/// equal; NaN against a number is an infinite error of INT64_MAX ulps.
ErrorStats compare(const Tensor &actual, const Tensor &reference);

} // namespace tdsl::runtime
