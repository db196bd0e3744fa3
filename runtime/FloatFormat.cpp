// Bit-level float format conversions and the public f16/bf16 helpers of tdsl/Tensor.h.
#include "runtime/FloatFormat.h"

#include "tdsl/Tensor.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace tdsl::runtime {

namespace {

uint64_t lowMask(int bits) { return bits >= 64 ? ~uint64_t(0) : (uint64_t(1) << bits) - 1; }

/// x / 2^shift rounded to nearest, ties to even (shift >= 1).
uint64_t shiftRightRoundEven(uint64_t x, int shift) {
  if (shift > 64)
    return 0; // x < 2^64 <= half of 2^shift
  if (shift == 64)
    return x > (uint64_t(1) << 63) ? 1 : 0; // An exact tie rounds to the even 0.
  uint64_t quotient = x >> shift;
  uint64_t remainder = x & lowMask(shift);
  uint64_t half = uint64_t(1) << (shift - 1);
  if (remainder > half || (remainder == half && (quotient & 1)))
    ++quotient;
  return quotient;
}

uint64_t doubleBits(double value) { return std::bit_cast<uint64_t>(value); }

} // namespace

uint64_t encodeFloat(FloatFormat format, bool negative, uint64_t magnitude, int exp2) {
  const uint64_t sign = uint64_t(negative) << (format.expBits + format.fracBits);
  if (magnitude == 0)
    return sign;
  const int bias = (1 << (format.expBits - 1)) - 1;
  const int minExponent = 1 - bias;
  const uint64_t infinity = sign | (lowMask(format.expBits) << format.fracBits);
  // Unbiased exponent of the leading bit. Rounding can only raise it, so the early exit is exact.
  int exponent = exp2 + std::bit_width(magnitude) - 1;
  if (exponent > bias)
    return infinity;
  // Express the value in units of the last fraction bit (the quantum) of the result.
  const int quantumExp = (exponent < minExponent ? minExponent : exponent) - format.fracBits;
  const int shift = quantumExp - exp2;
  uint64_t units = shift <= 0 ? magnitude << -shift : shiftRightRoundEven(magnitude, shift);
  if (exponent < minExponent)
    // Subnormal: the units are the fraction field; rounding up to 2^fracBits lands exactly on
    // the encoding of the smallest normal number.
    return sign | units;
  if (units == (uint64_t(1) << (format.fracBits + 1))) {
    units >>= 1;
    if (++exponent > bias)
      return infinity;
  }
  return sign | (uint64_t(exponent + bias) << format.fracBits) | (units & lowMask(format.fracBits));
}

uint64_t convertFloatBits(FloatFormat from, FloatFormat to, uint64_t bits) {
  const bool negative = (bits >> (from.expBits + from.fracBits)) & 1;
  const uint64_t exponentField = (bits >> from.fracBits) & lowMask(from.expBits);
  const uint64_t fraction = bits & lowMask(from.fracBits);
  const int bias = (1 << (from.expBits - 1)) - 1;
  if (exponentField == lowMask(from.expBits)) {
    uint64_t special =
        (uint64_t(negative) << (to.expBits + to.fracBits)) | (lowMask(to.expBits) << to.fracBits);
    if (fraction == 0)
      return special; // Infinity.
    uint64_t payload = to.fracBits >= from.fracBits ? fraction << (to.fracBits - from.fracBits)
                                                    : fraction >> (from.fracBits - to.fracBits);
    return special | payload | (uint64_t(1) << (to.fracBits - 1));
  }
  if (exponentField == 0)
    return encodeFloat(to, negative, fraction, 1 - bias - from.fracBits);
  return encodeFloat(to, negative, fraction | (uint64_t(1) << from.fracBits),
                     int(exponentField) - bias - from.fracBits);
}

uint16_t doubleToHalf(double value) {
  return uint16_t(convertFloatBits(kDouble, kHalf, doubleBits(value)));
}

uint16_t doubleToBFloat16(double value) {
  return uint16_t(convertFloatBits(kDouble, kBFloat16, doubleBits(value)));
}

float doubleToFloat(double value) {
  // In range, the hardware conversion rounds to nearest even too (tested to agree); outside it
  // (and for NaN) C++ leaves the result undefined, so use the bit-level path.
  if (std::fabs(value) <= double(std::numeric_limits<float>::max()))
    return static_cast<float>(value);
  return std::bit_cast<float>(uint32_t(convertFloatBits(kDouble, kSingle, doubleBits(value))));
}

uint64_t int64ToFloatBits(FloatFormat format, int64_t value) {
  // The magnitude of INT64_MIN is 2^63, which fits an unsigned 64-bit integer.
  uint64_t magnitude = value < 0 ? uint64_t(0) - uint64_t(value) : uint64_t(value);
  return encodeFloat(format, value < 0, magnitude, 0);
}

int64_t doubleToIntSaturating(double value, DType to) {
  if (std::isnan(value))
    return 0;
  const double v = std::trunc(value);
  // Both bounds are powers of two, exact as doubles (intMax(i64) itself is not).
  if (v >= std::ldexp(1.0, 8 * byteSize(to) - (to == DType::U8 ? 0 : 1)))
    return intMax(to);
  if (v <= double(intMin(to)))
    return intMin(to);
  return static_cast<int64_t>(v);
}

} // namespace tdsl::runtime

namespace tdsl {

using runtime::convertFloatBits;

uint16_t floatToHalf(float value) {
  return uint16_t(
      convertFloatBits(runtime::kSingle, runtime::kHalf, std::bit_cast<uint32_t>(value)));
}

float halfToFloat(uint16_t bits) {
  return std::bit_cast<float>(uint32_t(convertFloatBits(runtime::kHalf, runtime::kSingle, bits)));
}

uint16_t floatToBFloat16(float value) {
  return uint16_t(
      convertFloatBits(runtime::kSingle, runtime::kBFloat16, std::bit_cast<uint32_t>(value)));
}

float bfloat16ToFloat(uint16_t bits) {
  // Widening bf16 -> f32 is exact and is a shift, except that a signalling NaN is quietened like
  // every other conversion here.
  return std::bit_cast<float>(
      uint32_t(convertFloatBits(runtime::kBFloat16, runtime::kSingle, bits)));
}

} // namespace tdsl
