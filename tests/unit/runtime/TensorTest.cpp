// Tensors: allocation, shapes and their errors, views, element access with the language's
// conversions for every dtype, scalars and seeded random data.
#include "tdsl/Tensor.h"
#include "runtime/FloatFormat.h"
#include "tdsl/Diagnostics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <set>

// The allocation-failure test asks for 2^60 bytes; AddressSanitizer must return null for it
// rather than abort.
#if defined(__SANITIZE_ADDRESS__)
#define TDSL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TDSL_ASAN 1
#endif
#endif
#ifdef TDSL_ASAN
extern "C" const char *__asan_default_options() { return "allocator_may_return_null=1"; }
#endif

namespace tdsl {
namespace {

constexpr DType kAll[] = {DType::F16, DType::BF16, DType::F32, DType::F64,
                          DType::I32, DType::I64,  DType::Bool};
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();

/// The message of the RuntimeError `f` throws ("" if none).
template <typename F> std::string errorOf(F f) {
  try {
    f();
  } catch (const RuntimeError &e) {
    return e.what();
  }
  return "";
}

TEST(Tensor, ZerosIsAlignedZeroFilledAndOwned) {
  for (DType t : kAll) {
    Tensor x = Tensor::zeros({3, 5}, t);
    EXPECT_TRUE(x.defined());
    EXPECT_TRUE(x.ownsData());
    EXPECT_EQ(x.dtype(), t);
    EXPECT_EQ(x.rank(), 2);
    EXPECT_EQ(x.numel(), 15);
    EXPECT_EQ(x.nbytes(), size_t(15 * byteSize(t)));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(x.data()) % 64, 0u);
    for (int64_t i = 0; i < 15; ++i)
      EXPECT_EQ(x.at(i), 0.0);
    const auto *bytes = x.data<const unsigned char>();
    for (size_t i = 0; i < x.nbytes(); ++i)
      EXPECT_EQ(bytes[i], 0);
  }
}

TEST(Tensor, LargeTensorsStartOnAHugePageBoundary) {
  // 4 MiB and more: 2 MiB aligned, so transparent huge pages can back the whole tensor.
  Tensor large = Tensor::zeros({int64_t{1} << 20}, DType::F32);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(large.data()) % (uintptr_t{2} << 20), 0u);
  Tensor small = Tensor::zeros({1000}, DType::F32);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small.data()) % 64, 0u);
}

TEST(Tensor, CopiesShareStorage) {
  Tensor a = Tensor::zeros({4}, DType::F32);
  Tensor b = a;
  b.set(2, 7.0);
  EXPECT_EQ(a.at(2), 7.0);
  EXPECT_EQ(a.data(), b.data());
}

TEST(Tensor, ScalarsAndEmptyTensors) {
  Tensor s = Tensor::zeros({}, DType::F64);
  EXPECT_EQ(s.rank(), 0);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(s.nbytes(), 8u);
  EXPECT_EQ(s.typeString(), "f64");
  Tensor e = Tensor::zeros({3, 0, 2}, DType::I32);
  EXPECT_EQ(e.numel(), 0);
  EXPECT_EQ(e.nbytes(), 0u);
  EXPECT_TRUE(e.defined());
  EXPECT_NE(e.data(), nullptr);
  // An empty dimension makes the rest irrelevant, however large.
  EXPECT_EQ(Tensor::zeros({0, kInt64Max, kInt64Max}, DType::F64).numel(), 0);
  EXPECT_FALSE(Tensor().defined());
}

TEST(Tensor, TypeString) {
  EXPECT_EQ(Tensor::zeros({4, 8}, DType::F32).typeString(), "f32[4, 8]");
  EXPECT_EQ(Tensor::zeros({7}, DType::BF16).typeString(), "bf16[7]");
  EXPECT_EQ(Tensor::zeros({1, 2, 3, 4}, DType::Bool).typeString(), "bool[1, 2, 3, 4]");
  EXPECT_EQ(Tensor::scalar(3, DType::I64).typeString(), "i64");
}

TEST(Tensor, NegativeDimensionsAreErrors) {
  EXPECT_EQ(errorOf([] {
              Tensor::zeros({4, -1}, DType::F32);
            }),
            "invalid tensor shape f32[4, -1]: dimensions must not be negative");
  int dummy = 0;
  EXPECT_NE(errorOf([&] { Tensor::view(&dummy, {-3}, DType::I32); }), "");
  EXPECT_NE(errorOf([] { Tensor::randn({-1}, DType::F32, 1); }), "");
}

TEST(Tensor, OverflowingSizesAreErrors) {
  EXPECT_EQ(errorOf([] {
              Tensor::zeros({int64_t(1) << 40, int64_t(1) << 40}, DType::F32);
            }),
            "tensor f32[1099511627776, 1099511627776] is too large: its size in bytes "
            "overflows 64 bits");
  // The element count fits but the byte count does not.
  EXPECT_NE(errorOf([] { Tensor::zeros({kInt64Max / 4}, DType::F64); }), "");
  EXPECT_NE(errorOf([] { Tensor::zeros({kInt64Max}, DType::Bool); }), "");
  int dummy = 0;
  EXPECT_NE(errorOf([&] { Tensor::view(&dummy, {kInt64Max, 2}, DType::I32); }), "");
}

TEST(Tensor, AllocationFailureIsARuntimeError) {
  EXPECT_EQ(errorOf([] { Tensor::zeros({int64_t(1) << 58}, DType::F32); }),
            "cannot allocate 1152921504606846976 bytes for f32[288230376151711744]");
}

TEST(Tensor, ViewsUseCallerMemory) {
  float buffer[6] = {1, 2, 3, 4, 5, 6};
  Tensor v = Tensor::view(buffer, {2, 3}, DType::F32);
  EXPECT_FALSE(v.ownsData());
  EXPECT_TRUE(v.defined());
  EXPECT_EQ(v.data(), buffer);
  EXPECT_EQ(v.at(4), 5.0);
  v.set(0, -1.5);
  EXPECT_EQ(buffer[0], -1.5f);
  EXPECT_TRUE(Tensor::view(nullptr, {0}, DType::F32).defined());
  EXPECT_EQ(errorOf([] { Tensor::view(nullptr, {2}, DType::F32); }),
            "cannot make a view of f32[2] over null data");
}

TEST(Tensor, IndexOutOfRangeIsAnError) {
  Tensor x = Tensor::zeros({2, 2}, DType::F32);
  EXPECT_EQ(errorOf([&] { x.at(4); }),
            "element index 4 is out of range for f32[2, 2] (4 elements)");
  EXPECT_NE(errorOf([&] { x.at(-1); }), "");
  EXPECT_NE(errorOf([&] { x.set(4, 1); }), "");
  EXPECT_NE(errorOf([&] { x.atInt(9); }), "");
  EXPECT_NE(errorOf([&] { x.setInt(-2, 1); }), "");
  EXPECT_NE(errorOf([] { Tensor().at(0); }), "");
}

TEST(Tensor, FloatSetRoundsToNearestEven) {
  Tensor f32 = Tensor::zeros({1}, DType::F32);
  f32.set(0, 0.1);
  EXPECT_EQ(f32.at(0), double(0.1f));
  EXPECT_EQ(f32.data<float>()[0], 0.1f);
  f32.set(0, 1e300);
  EXPECT_EQ(f32.at(0), INFINITY);

  Tensor f16 = Tensor::zeros({1}, DType::F16);
  f16.set(0, 0.1);
  EXPECT_EQ(f16.data<uint16_t>()[0], 0x2e66);
  f16.set(0, 65520);
  EXPECT_EQ(f16.at(0), INFINITY);
  f16.set(0, 1e-8);
  EXPECT_EQ(f16.at(0), 0.0);
  f16.set(0, -2.5);
  EXPECT_EQ(f16.at(0), -2.5);
  f16.set(0, 1.0 + 0x1p-11 + 0x1p-40); // One rounding from double: up, not to even.
  EXPECT_EQ(f16.data<uint16_t>()[0], 0x3c01);

  Tensor bf16 = Tensor::zeros({2}, DType::BF16);
  bf16.set(0, 1.00390625); // 1 + 2^-8: tie to even, 1.
  bf16.set(1, 1.01171875); // 1 + 3 * 2^-8: tie to even, 1 + 2^-6.
  EXPECT_EQ(bf16.at(0), 1.0);
  EXPECT_EQ(bf16.at(1), 1.015625);

  Tensor f64 = Tensor::zeros({1}, DType::F64);
  f64.set(0, 0.1);
  EXPECT_EQ(f64.at(0), 0.1);
  for (Tensor t : {f16, bf16, f32, f64}) {
    t.set(0, NAN);
    EXPECT_TRUE(std::isnan(t.at(0)));
    t.set(0, -0.0);
    EXPECT_TRUE(std::signbit(t.at(0)));
  }
}

TEST(Tensor, IntSetTruncatesAndSaturates) {
  Tensor i32 = Tensor::zeros({1}, DType::I32);
  const std::pair<double, int64_t> i32Cases[] = {{2.9, 2},
                                                 {-2.9, -2},
                                                 {NAN, 0},
                                                 {1e300, 2147483647},
                                                 {-1e300, -2147483648},
                                                 {INFINITY, 2147483647},
                                                 {-INFINITY, -2147483648},
                                                 {-0.5, 0}};
  for (auto [value, expected] : i32Cases) {
    i32.set(0, value);
    EXPECT_EQ(i32.atInt(0), expected) << value;
    EXPECT_EQ(i32.at(0), double(expected));
  }
  Tensor i64 = Tensor::zeros({1}, DType::I64);
  const std::pair<double, int64_t> i64Cases[] = {
      {9.3e18, kInt64Max}, {-9.3e18, kInt64Min}, {0x1p62, int64_t(1) << 62}, {NAN, 0}};
  for (auto [value, expected] : i64Cases) {
    i64.set(0, value);
    EXPECT_EQ(i64.atInt(0), expected) << value;
  }
}

TEST(Tensor, BoolStoresZeroOrOne) {
  Tensor b = Tensor::zeros({1}, DType::Bool);
  const std::pair<double, int> cases[] = {{0.5, 1}, {0, 0}, {-0.0, 0}, {-3, 1}, {NAN, 1}};
  for (auto [value, expected] : cases) {
    b.set(0, value);
    EXPECT_EQ(b.data<uint8_t>()[0], expected) << value;
    EXPECT_EQ(b.at(0), double(expected));
    EXPECT_EQ(b.atInt(0), expected);
  }
  b.setInt(0, 42);
  EXPECT_EQ(b.data<uint8_t>()[0], 1);
  b.data<uint8_t>()[0] = 7; // Foreign memory may hold other bytes: any nonzero byte is true.
  EXPECT_EQ(b.at(0), 1.0);
  EXPECT_EQ(b.atInt(0), 1);
}

TEST(Tensor, IntegerAccessIsExact) {
  Tensor i64 = Tensor::zeros({2}, DType::I64);
  i64.setInt(0, (int64_t(1) << 53) + 1);
  i64.setInt(1, kInt64Min);
  EXPECT_EQ(i64.atInt(0), (int64_t(1) << 53) + 1);
  EXPECT_EQ(i64.atInt(1), kInt64Min);
  Tensor i32 = Tensor::zeros({1}, DType::I32);
  i32.setInt(0, (int64_t(1) << 32) + 5); // Narrowing wraps, like an integer cast.
  EXPECT_EQ(i32.atInt(0), 5);
  i32.setInt(0, kInt64Min);
  EXPECT_EQ(i32.atInt(0), 0);
  i32.setInt(0, -7);
  EXPECT_EQ(i32.atInt(0), -7);
}

TEST(Tensor, SmallIntegersSaturateFromFloatsAndWrapFromIntegers) {
  struct Case {
    DType dtype;
    double value;
    int64_t fromFloat;
    int64_t wide;
    int64_t wrapped;
  };
  const Case cases[] = {{DType::U8, 300.5, 255, 300, 44},
                        {DType::U8, -2.5, 0, -1, 255},
                        {DType::U8, NAN, 0, 256, 0},
                        {DType::I8, 200.0, 127, 200, -56},
                        {DType::I8, -1e9, -128, -129, 127},
                        {DType::I16, 4e4, 32767, 40000, -25536},
                        {DType::I16, -32768.9, -32768, 65535, -1}};
  for (const Case &c : cases) {
    Tensor t = Tensor::zeros({1}, c.dtype);
    t.set(0, c.value);
    EXPECT_EQ(t.atInt(0), c.fromFloat) << dtypeName(c.dtype) << " " << c.value;
    EXPECT_EQ(t.at(0), double(c.fromFloat));
    t.setInt(0, c.wide);
    EXPECT_EQ(t.atInt(0), c.wrapped) << dtypeName(c.dtype) << " " << c.wide;
  }
  EXPECT_EQ(Tensor::zeros({3}, DType::I16).nbytes(), 6u);
  EXPECT_EQ(Tensor::zeros({3}, DType::U8).typeString(), "u8[3]");
}

TEST(Tensor, SetIntOnFloatsRoundsOnce) {
  Tensor f32 = Tensor::zeros({1}, DType::F32);
  f32.setInt(0, (1 << 24) + 1);
  EXPECT_EQ(f32.at(0), 16777216.0);
  f32.setInt(0, kInt64Min);
  EXPECT_EQ(f32.at(0), -0x1p63);
  Tensor f16 = Tensor::zeros({1}, DType::F16);
  f16.setInt(0, 65519);
  EXPECT_EQ(f16.at(0), 65504.0);
  f16.setInt(0, 70000);
  EXPECT_EQ(f16.at(0), INFINITY);
  Tensor bf16 = Tensor::zeros({1}, DType::BF16);
  bf16.setInt(0, 259);
  EXPECT_EQ(bf16.at(0), 260.0);
  Tensor f64 = Tensor::zeros({1}, DType::F64);
  f64.setInt(0, (int64_t(1) << 53) + 1);
  EXPECT_EQ(f64.at(0), 0x1p53);
}

TEST(Tensor, AtIntOnFloatsCastsToI64) {
  Tensor f = Tensor::zeros({3}, DType::F32);
  f.set(0, 2.7);
  f.set(1, -2.7);
  f.set(2, NAN);
  EXPECT_EQ(f.atInt(0), 2);
  EXPECT_EQ(f.atInt(1), -2);
  EXPECT_EQ(f.atInt(2), 0);
}

TEST(Tensor, ScalarConvertsToItsDtype) {
  EXPECT_EQ(Tensor::scalar(2.5, DType::F16).at(0), 2.5);
  EXPECT_EQ(Tensor::scalar(1e10, DType::I32).atInt(0), 2147483647);
  EXPECT_EQ(Tensor::scalar(-3.9, DType::I64).atInt(0), -3);
  EXPECT_EQ(Tensor::scalar(0.1, DType::F32).at(0), double(0.1f));
  EXPECT_EQ(Tensor::scalar(2, DType::Bool).atInt(0), 1);
  EXPECT_EQ(Tensor::scalar(0.1, DType::BF16).data<uint16_t>()[0], floatToBFloat16(0.1f));
  Tensor s = Tensor::scalar(1, DType::F64);
  EXPECT_EQ(s.rank(), 0);
  EXPECT_TRUE(s.ownsData());
}

bool sameBytes(const Tensor &a, const Tensor &b) {
  return a.nbytes() == b.nbytes() && std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
}

TEST(Tensor, RandnIsReproducible) {
  for (DType t : kAll) {
    Tensor a = Tensor::randn({17, 33}, t, 7);
    EXPECT_TRUE(sameBytes(a, Tensor::randn({17, 33}, t, 7))) << dtypeName(t);
    EXPECT_FALSE(sameBytes(a, Tensor::randn({17, 33}, t, 8))) << dtypeName(t);
  }
}

uint64_t fnv1a(const Tensor &t) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  const auto *bytes = t.data<const unsigned char>();
  for (size_t i = 0; i < t.nbytes(); ++i)
    hash = (hash ^ bytes[i]) * 0x100000001b3ULL;
  return hash;
}

// The same seed must give the same bits on every machine: these values are pinned. The
// generator uses only integer arithmetic, IEEE + - * / sqrt and no libm, so a change here means
// the generator changed (and every recorded random input with it).
TEST(Tensor, RandnIsPinnedAcrossMachines) {
  // Also reproduced bit for bit by a separate Python implementation of the same algorithm.
  Tensor f64 = Tensor::randn({4}, DType::F64, 1);
  EXPECT_EQ(f64.at(0), 0x1.e267c87ac62ebp+0);
  EXPECT_EQ(f64.at(1), 0x1.84abd879d0e18p-3);
  EXPECT_EQ(f64.at(2), 0x1.4d55c9633557cp+0);
  EXPECT_EQ(f64.at(3), -0x1.e8d0b0399ee9cp+0);
  EXPECT_EQ(fnv1a(Tensor::randn({1000}, DType::F64, 1)), 7815890660913049764ULL);
  EXPECT_EQ(fnv1a(Tensor::randn({1000}, DType::F32, 2)), 11271225097865618134ULL);
  EXPECT_EQ(fnv1a(Tensor::randn({1000}, DType::I32, 3)), 2320013411413118816ULL);
  EXPECT_EQ(fnv1a(Tensor::randn({1000}, DType::Bool, 4)), 3743577601113744073ULL);
}

TEST(Tensor, RandnFloatsAreStandardNormal) {
  const int64_t n = 200000;
  Tensor x = Tensor::randn({n}, DType::F64, 123);
  double sum = 0, sumSquares = 0;
  int64_t within1 = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = x.at(i);
    sum += v;
    sumSquares += v * v;
    within1 += std::fabs(v) < 1;
  }
  const double mean = sum / n, variance = sumSquares / n - mean * mean;
  EXPECT_NEAR(mean, 0, 0.01);
  EXPECT_NEAR(variance, 1, 0.015);
  EXPECT_NEAR(double(within1) / n, 0.6827, 0.005);
}

TEST(Tensor, RandnNarrowFloatsAreTheF64StreamRounded) {
  Tensor f64 = Tensor::randn({500}, DType::F64, 9);
  Tensor f32 = Tensor::randn({500}, DType::F32, 9);
  Tensor f16 = Tensor::randn({500}, DType::F16, 9);
  Tensor bf16 = Tensor::randn({500}, DType::BF16, 9);
  for (int64_t i = 0; i < 500; ++i) {
    EXPECT_EQ(f32.data<float>()[i], runtime::doubleToFloat(f64.at(i)));
    EXPECT_EQ(f16.data<uint16_t>()[i], runtime::doubleToHalf(f64.at(i)));
    EXPECT_EQ(bf16.data<uint16_t>()[i], runtime::doubleToBFloat16(f64.at(i)));
  }
}

TEST(Tensor, RandnIntegersAreUniformInMinus8To8) {
  for (DType t : {DType::I32, DType::I64}) {
    Tensor x = Tensor::randn({17000}, t, 5);
    int counts[17] = {};
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t v = x.atInt(i);
      ASSERT_GE(v, -8);
      ASSERT_LE(v, 8);
      ++counts[v + 8];
    }
    for (int c : counts)
      EXPECT_NEAR(c, 1000, 150);
  }
}

TEST(Tensor, RandnBoolsAreFairCoins) {
  Tensor x = Tensor::randn({10000}, DType::Bool, 11);
  int64_t trues = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    ASSERT_LE(x.data<uint8_t>()[i], 1);
    trues += x.atInt(i);
  }
  EXPECT_NEAR(trues, 5000, 250);
}

} // namespace
} // namespace tdsl
