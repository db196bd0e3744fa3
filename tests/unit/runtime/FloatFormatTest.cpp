// f16 / bf16 conversions: every half and bf16 bit pattern, round-to-nearest-even at every tie,
// overflow, subnormals, NaN, single rounding from double and from int64.
#include "runtime/FloatFormat.h"
#include "tdsl/Tensor.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace tdsl {
namespace {

using namespace runtime;

uint32_t bitsOf(float f) { return std::bit_cast<uint32_t>(f); }
float floatOf(uint32_t bits) { return std::bit_cast<float>(bits); }

/// The value of half `bits` from the definition of the format.
double referenceHalf(uint16_t bits) {
  const int sign = bits >> 15, exponent = (bits >> 10) & 31, fraction = bits & 1023;
  double magnitude = exponent == 0    ? std::ldexp(fraction, -24)
                     : exponent == 31 ? (fraction ? NAN : INFINITY)
                                      : std::ldexp(1024 + fraction, exponent - 25);
  return sign ? -magnitude : magnitude;
}

TEST(Half, DecodesEveryBitPatternExactly) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = halfToFloat(uint16_t(h));
    const double expected = referenceHalf(uint16_t(h));
    if (std::isnan(expected)) {
      ASSERT_TRUE(std::isnan(f)) << h;
      ASSERT_EQ(std::signbit(f), bool(h & 0x8000)) << h;
    } else {
      ASSERT_EQ(double(f), expected) << h;
      ASSERT_EQ(std::signbit(f), bool(h & 0x8000)) << h; // -0.0 stays negative.
    }
  }
}

TEST(Half, EveryBitPatternRoundTripsThroughFloat) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const uint16_t back = floatToHalf(halfToFloat(uint16_t(h)));
    const bool nan = (h & 0x7c00) == 0x7c00 && (h & 0x03ff);
    // A NaN comes back quiet, with its sign and payload: exact for quiet NaNs.
    ASSERT_EQ(back, nan ? (h | 0x0200) : h) << h;
  }
}

TEST(BFloat16, EveryBitPatternRoundTripsThroughFloat) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = bfloat16ToFloat(uint16_t(b));
    const bool nan = (b & 0x7f80) == 0x7f80 && (b & 0x007f);
    if (!nan) {
      ASSERT_EQ(bitsOf(f), b << 16) << b; // bf16 is the top half of an f32.
    }
    ASSERT_EQ(floatToBFloat16(f), nan ? (b | 0x0040) : b) << b;
  }
}

/// Checks round-to-nearest-even of `narrow` at the midpoint between each pair of neighbours of
/// a 16-bit format (exactly representable in f32), and one f32 ulp either side of it.
template <typename Narrow, typename Widen>
void checkTies(Narrow narrow, Widen widen, uint16_t largestFinite) {
  for (uint32_t h = 0; h < largestFinite; ++h) {
    for (uint16_t sign : {uint16_t(0), uint16_t(0x8000)}) {
      const uint16_t lo = uint16_t(h | sign), hi = uint16_t((h + 1) | sign);
      const float mid = widen(lo) + (widen(hi) - widen(lo)) / 2; // No overflow near the top.
      ASSERT_NE(mid, widen(lo));
      ASSERT_EQ(narrow(mid), (h & 1) ? hi : lo) << h;
      ASSERT_EQ(narrow(std::nextafter(mid, widen(lo))), lo) << h;
      ASSERT_EQ(narrow(std::nextafter(mid, widen(hi))), hi) << h;
      ASSERT_EQ(narrow(widen(lo)), lo);
    }
  }
}

TEST(Half, RoundsToNearestEvenAtEveryTie) { checkTies(floatToHalf, halfToFloat, 0x7bff); }

TEST(BFloat16, RoundsToNearestEvenAtEveryTie) {
  checkTies(floatToBFloat16, bfloat16ToFloat, 0x7f7f);
}

TEST(Half, OverflowUnderflowAndSpecials) {
  EXPECT_EQ(floatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(floatToHalf(65519.996f), 0x7bff); // Below the midpoint to 2^16.
  EXPECT_EQ(floatToHalf(65520.0f), 0x7c00);   // The tie rounds to even: infinity.
  EXPECT_EQ(floatToHalf(1e10f), 0x7c00);
  EXPECT_EQ(floatToHalf(-1e10f), 0xfc00);
  EXPECT_EQ(floatToHalf(INFINITY), 0x7c00);
  EXPECT_EQ(floatToHalf(-INFINITY), 0xfc00);
  EXPECT_EQ(floatToHalf(std::ldexp(1.0f, -24)), 0x0001); // Smallest subnormal.
  EXPECT_EQ(floatToHalf(std::ldexp(1.0f, -25)), 0x0000); // Half of it: tie to even 0.
  EXPECT_EQ(floatToHalf(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  EXPECT_EQ(floatToHalf(-std::ldexp(1.0f, -26)), 0x8000);   // Signed zero.
  EXPECT_EQ(floatToHalf(std::ldexp(1023.5f, -24)), 0x0400); // Rounds up into the normals.
  EXPECT_EQ(floatToHalf(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(floatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(floatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(halfToFloat(0x3555), 0x1.554p-2f);
}

TEST(Half, NanStaysAQuietNanWithItsSign) {
  EXPECT_EQ(floatToHalf(floatOf(0x7fc00000)), 0x7e00);
  EXPECT_EQ(floatToHalf(floatOf(0xffc00000)), 0xfe00);
  // A signalling NaN whose payload lies below the half's fraction must not become infinity.
  EXPECT_EQ(floatToHalf(floatOf(0x7f800001)), 0x7e00);
  EXPECT_EQ(floatToHalf(floatOf(0x7fa00000)), 0x7f00); // Top payload bits kept.
  EXPECT_EQ(floatToBFloat16(floatOf(0x7f800001)), 0x7fc0);
  EXPECT_EQ(floatToBFloat16(floatOf(0xff812345)), 0xffc1);
  EXPECT_TRUE(std::isnan(halfToFloat(0x7c01)));
  EXPECT_EQ(bitsOf(halfToFloat(0x7c01)), 0x7fc02000u); // Quietened when widened.
}

TEST(BFloat16, OverflowAndSubnormals) {
  EXPECT_EQ(floatToBFloat16(std::numeric_limits<float>::max()), 0x7f80); // Rounds up to inf.
  EXPECT_EQ(floatToBFloat16(floatOf(0x7f7f7fff)), 0x7f7f);
  EXPECT_EQ(floatToBFloat16(floatOf(0x00000001)), 0x0000);
  EXPECT_EQ(floatToBFloat16(floatOf(0x00008000)), 0x0000); // Tie to even.
  EXPECT_EQ(floatToBFloat16(floatOf(0x00018000)), 0x0002); // Tie to even, upwards.
  EXPECT_EQ(floatToBFloat16(floatOf(0x007fffff)), 0x0080); // Into the smallest normal.
  EXPECT_EQ(floatToBFloat16(1.00390625f), 0x3f80);         // 1 + 2^-8: tie, even is 1.
  EXPECT_EQ(floatToBFloat16(1.01171875f), 0x3f82);         // 1 + 3 * 2^-8: tie, even is up.
}

TEST(FloatFormat, DoubleNarrowsWithOneRounding) {
  // Just above the half tie between 1 and 1 + 2^-10: through f32 the excess is lost and the
  // tie goes to even (1.0); rounded once it goes up.
  const double d = 1.0 + 0x1p-11 + 0x1p-40;
  EXPECT_EQ(floatToHalf(float(d)), 0x3c00);
  EXPECT_EQ(doubleToHalf(d), 0x3c01);
  EXPECT_EQ(doubleToBFloat16(1.0 + 0x1p-8 + 0x1p-40), 0x3f81);
  EXPECT_EQ(doubleToFloat(1.0 + 0x1p-24 + 0x1p-40), 1.0f + 0x1p-23f);
  EXPECT_EQ(doubleToFloat(1.0 + 0x1p-24), 1.0f);
  EXPECT_EQ(doubleToFloat(1e300), INFINITY);
  EXPECT_EQ(doubleToFloat(-1e300), -INFINITY);
  EXPECT_EQ(doubleToFloat(1e-300), 0.0f);
  EXPECT_EQ(doubleToFloat(0x1p-149), std::numeric_limits<float>::denorm_min());
  EXPECT_EQ(doubleToFloat(0x1p-150), 0.0f);
  EXPECT_EQ(doubleToFloat(0x1.8p-150), std::numeric_limits<float>::denorm_min());
  EXPECT_TRUE(std::isnan(doubleToFloat(NAN)));
  EXPECT_EQ(doubleToHalf(std::numeric_limits<double>::denorm_min()), 0);
  EXPECT_EQ(doubleToHalf(-1e300), 0xfc00);
}

TEST(FloatFormat, DoubleToFloatAgreesWithTheHardware) {
  // The hardware conversion rounds to nearest even as well: compare over a spread of doubles.
  uint64_t x = 0x123456789abcdefULL;
  for (int i = 0; i < 200000; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    double d = std::bit_cast<double>(x);
    if (std::isnan(d) || std::fabs(d) > 1e39 || std::fabs(d) < 1e-46)
      d = std::ldexp(double(x >> 11), int(x % 300) - 200); // Bring it near the f32 range.
    ASSERT_EQ(bitsOf(doubleToFloat(d)), bitsOf(static_cast<float>(d))) << d;
  }
}

#ifdef __FLT16_MAX__
// The compiler's _Float16 conversions (libgcc / compiler-rt) are an independent reference.
TEST(Half, AgreesWithTheCompilersFloat16) {
  for (uint64_t bits = 0; bits < (uint64_t(1) << 32); bits += 65521) {
    const float f = floatOf(uint32_t(bits));
    const auto expected = std::bit_cast<uint16_t>(static_cast<_Float16>(f));
    if (std::isnan(f)) {
      ASSERT_TRUE(std::isnan(halfToFloat(floatToHalf(f))));
    } else {
      ASSERT_EQ(floatToHalf(f), expected) << bits;
    }
  }
  uint64_t x = 42;
  for (int i = 0; i < 100000; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    const double d = std::ldexp(double(x >> 11), int(x % 60) - 90); // Around the half range.
    ASSERT_EQ(doubleToHalf(d), std::bit_cast<uint16_t>(static_cast<_Float16>(d))) << d;
  }
}
#endif

TEST(FloatFormat, Int64RoundsOnce) {
  EXPECT_EQ(int64ToFloatBits(kSingle, (1 << 24) + 1), bitsOf(16777216.0f)); // Tie to even.
  EXPECT_EQ(int64ToFloatBits(kSingle, (1 << 24) + 3), bitsOf(16777220.0f));
  EXPECT_EQ(int64ToFloatBits(kSingle, std::numeric_limits<int64_t>::min()), 0xdf000000u);
  EXPECT_EQ(int64ToFloatBits(kSingle, std::numeric_limits<int64_t>::max()), 0x5f000000u);
  EXPECT_EQ(int64ToFloatBits(kDouble, (int64_t(1) << 53) + 1),
            std::bit_cast<uint64_t>(9007199254740992.0));
  EXPECT_EQ(int64ToFloatBits(kHalf, 65519), 0x7bffu);
  EXPECT_EQ(int64ToFloatBits(kHalf, 65520), 0x7c00u);
  EXPECT_EQ(int64ToFloatBits(kHalf, -2049), 0xe800u); // -2048: tie to even.
  EXPECT_EQ(int64ToFloatBits(kHalf, 0), 0u);
  EXPECT_EQ(int64ToFloatBits(kBFloat16, 257), 0x4380u); // 256.
  EXPECT_EQ(int64ToFloatBits(kBFloat16, 259), 0x4382u); // 260.
}

TEST(FloatFormat, FloatToIntTruncatesAndSaturates) {
  EXPECT_EQ(doubleToIntSaturating(2.9, DType::I32), 2);
  EXPECT_EQ(doubleToIntSaturating(-2.9, DType::I32), -2);
  EXPECT_EQ(doubleToIntSaturating(NAN, DType::I32), 0);
  EXPECT_EQ(doubleToIntSaturating(INFINITY, DType::I32), std::numeric_limits<int32_t>::max());
  EXPECT_EQ(doubleToIntSaturating(-INFINITY, DType::I32), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(doubleToIntSaturating(2147483647.9, DType::I32), 2147483647);
  EXPECT_EQ(doubleToIntSaturating(-2147483648.9, DType::I32), -2147483647 - 1);
  EXPECT_EQ(doubleToIntSaturating(-2147483649.0, DType::I32), -2147483647 - 1);
  EXPECT_EQ(doubleToIntSaturating(9.3e18, DType::I64), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(doubleToIntSaturating(-9.3e18, DType::I64), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(doubleToIntSaturating(-9223372036854775808.0, DType::I64),
            std::numeric_limits<int64_t>::min());
  EXPECT_EQ(doubleToIntSaturating(0x1p62, DType::I64), int64_t(1) << 62);
  EXPECT_EQ(doubleToIntSaturating(NAN, DType::I64), 0);
  EXPECT_EQ(doubleToIntSaturating(-0.5, DType::I64), 0);
  EXPECT_EQ(doubleToIntSaturating(255.9, DType::U8), 255);
  EXPECT_EQ(doubleToIntSaturating(256.0, DType::U8), 255);
  EXPECT_EQ(doubleToIntSaturating(-0.9, DType::U8), 0);
  EXPECT_EQ(doubleToIntSaturating(-3.0, DType::U8), 0);
  EXPECT_EQ(doubleToIntSaturating(127.5, DType::I8), 127);
  EXPECT_EQ(doubleToIntSaturating(-128.9, DType::I8), -128);
  EXPECT_EQ(doubleToIntSaturating(-1e9, DType::I16), -32768);
  EXPECT_EQ(doubleToIntSaturating(32767.9, DType::I16), 32767);
  EXPECT_EQ(doubleToIntSaturating(NAN, DType::I8), 0);
}

} // namespace
} // namespace tdsl
