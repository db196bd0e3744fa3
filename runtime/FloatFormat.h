// Correctly rounded conversions between binary floating-point formats (f16, bf16, f32, f64),
// done on bit patterns with integer arithmetic so that every machine and every compiler flag
// gives the same bits. Tensor::set, .npy I/O and the conversion helpers are built on it.
#pragma once

#include "tdsl/DType.h"

#include <cstdint>

namespace tdsl::runtime {

/// An IEEE-754-style binary format: sign bit, `expBits` of biased exponent, `fracBits` of
/// fraction. All-ones exponent is inf/NaN; zero exponent is zero/subnormal.
struct FloatFormat {
  int expBits;
  int fracBits;
};
inline constexpr FloatFormat kHalf{5, 10};
inline constexpr FloatFormat kBFloat16{8, 7};
inline constexpr FloatFormat kSingle{8, 23};
inline constexpr FloatFormat kDouble{11, 52};

/// Encodes (-1)^negative * magnitude * 2^exp2 in `format`, rounding to nearest, ties to even;
/// too large gives inf, too small gives a subnormal or a signed zero.
uint64_t encodeFloat(FloatFormat format, bool negative, uint64_t magnitude, int exp2);

/// Re-encodes `bits` of format `from` in format `to` with one rounding (to nearest even). A NaN
/// stays a NaN of the same sign with its top payload bits kept and the quiet bit set.
uint64_t convertFloatBits(FloatFormat from, FloatFormat to, uint64_t bits);

/// One rounding from double (no double rounding through float).
uint16_t doubleToHalf(double value);
uint16_t doubleToBFloat16(double value);
float doubleToFloat(double value);
/// The format's value nearest to `value` (one rounding), as bits of `format`.
uint64_t int64ToFloatBits(FloatFormat format, int64_t value);

/// Float -> integer as the language's cast: truncate toward zero, saturate, NaN -> 0.
int64_t doubleToIntSaturating(double value, DType to);

} // namespace tdsl::runtime
