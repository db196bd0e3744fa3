// convertTo, summarize, allClose and compare.
#include "runtime/Convert.h"
#include "runtime/FloatFormat.h"
#include "tdsl/Diagnostics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace tdsl::runtime {
namespace {

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

Tensor make(std::vector<int64_t> shape, DType dtype, std::initializer_list<double> values) {
  Tensor t = Tensor::zeros(std::move(shape), dtype);
  int64_t i = 0;
  for (double v : values)
    t.set(i++, v);
  return t;
}

TEST(ConvertTo, FloatsRoundOnceToNearestEven) {
  Tensor x = Tensor::randn({3, 7}, DType::F64, 1);
  Tensor h = convertTo(x, DType::F16);
  EXPECT_EQ(h.typeString(), "f16[3, 7]");
  EXPECT_TRUE(h.ownsData());
  for (int64_t i = 0; i < x.numel(); ++i)
    EXPECT_EQ(h.data<uint16_t>()[i], doubleToHalf(x.at(i)));
  Tensor f = convertTo(make({2}, DType::F32, {0.1, -1e-3}), DType::BF16);
  EXPECT_EQ(f.data<uint16_t>()[0], floatToBFloat16(0.1f));
  EXPECT_EQ(convertTo(f, DType::F32).at(0), double(bfloat16ToFloat(floatToBFloat16(0.1f))));
}

TEST(ConvertTo, FloatToIntTruncatesSaturatesAndZeroesNan) {
  Tensor i = convertTo(make({5}, DType::F64, {2.9, -2.9, NAN, 1e20, -INFINITY}), DType::I32);
  EXPECT_EQ(i.atInt(0), 2);
  EXPECT_EQ(i.atInt(1), -2);
  EXPECT_EQ(i.atInt(2), 0);
  EXPECT_EQ(i.atInt(3), 2147483647);
  EXPECT_EQ(i.atInt(4), -2147483648);
  Tensor b = convertTo(make({3}, DType::F32, {0, -0.5, NAN}), DType::Bool);
  EXPECT_EQ(b.atInt(0), 0);
  EXPECT_EQ(b.atInt(1), 1);
  EXPECT_EQ(b.atInt(2), 1);
}

TEST(ConvertTo, IntegersAreExact) {
  Tensor big = Tensor::zeros({3}, DType::I64);
  big.setInt(0, (int64_t(1) << 53) + 1);
  big.setInt(1, kInt64Max);
  big.setInt(2, (int64_t(1) << 32) + 7);
  Tensor copy = convertTo(big, DType::I64);
  EXPECT_EQ(copy.atInt(0), (int64_t(1) << 53) + 1); // Not through a double.
  EXPECT_EQ(copy.atInt(1), kInt64Max);
  EXPECT_EQ(convertTo(big, DType::I32).atInt(2), 7); // Narrowing wraps.
  EXPECT_EQ(convertTo(big, DType::F64).at(0), 0x1p53);
  EXPECT_EQ(convertTo(big, DType::F32).at(1), 0x1p63);
  Tensor b = make({2}, DType::Bool, {1, 0});
  Tensor f = convertTo(b, DType::F32);
  EXPECT_EQ(f.at(0), 1.0);
  EXPECT_EQ(f.at(1), 0.0);
  EXPECT_EQ(convertTo(make({1}, DType::I32, {-4}), DType::Bool).atInt(0), 1);
}

TEST(ConvertTo, ScalarsAndEmptyTensors) {
  EXPECT_EQ(convertTo(Tensor::scalar(3.5, DType::F32), DType::I64).typeString(), "i64");
  EXPECT_EQ(convertTo(Tensor::zeros({0, 4}, DType::F32), DType::F16).typeString(), "f16[0, 4]");
}

TEST(Summarize, ShowsTypeFirstValuesAndChecksum) {
  Tensor x = Tensor::zeros({4, 8}, DType::F32);
  for (int64_t i = 0; i < 32; ++i)
    x.set(i, i * 0.5 - 1);
  EXPECT_EQ(summarize(x), "f32[4, 8]  values [-1, -0.5, 0, 0.5, 1, 1.5, ...]  checksum 216");
  EXPECT_EQ(summarize(make({3}, DType::F64, {0.123456789, -1.5e-7, 2e10})),
            "f64[3]  values [0.123457, -1.5e-07, 2e+10]  checksum 2e+10");
  EXPECT_EQ(summarize(Tensor::scalar(2.5, DType::F16)), "f16  values [2.5]  checksum 2.5");
  EXPECT_EQ(summarize(make({2}, DType::I64, {-7, 3})), "i64[2]  values [-7, 3]  checksum -4");
  EXPECT_EQ(summarize(make({3}, DType::Bool, {1, 0, 1})),
            "bool[3]  values [true, false, true]  checksum 2");
  EXPECT_EQ(summarize(Tensor::zeros({0}, DType::F32)), "f32[0]  values []  checksum 0");
  EXPECT_EQ(summarize(make({2}, DType::F32, {NAN, INFINITY})),
            "f32[2]  values [nan, inf]  checksum nan");
}

TEST(AllClose, UsesNumpysTolerance) {
  Tensor expected = make({2, 2}, DType::F64, {1, 100, 0, -5});
  std::string report = "stale";
  EXPECT_TRUE(allClose(expected, expected, 0, 0, &report));
  EXPECT_EQ(report, "");
  Tensor near = make({2, 2}, DType::F64, {1.000001, 100.01, 1e-9, -5});
  EXPECT_TRUE(allClose(near, expected, 1e-4, 1e-8));
  EXPECT_FALSE(allClose(near, expected, 1e-5, 1e-8, &report));
  EXPECT_EQ(report, "1 of 4 elements differ (rtol 1e-05, atol 1e-08); worst at [0, 1]: actual "
                    "100.01, expected 100");
  Tensor far = make({2, 2}, DType::F32, {2, 100, 0, -6});
  EXPECT_FALSE(allClose(far, expected, 1e-3, 1e-3, &report));
  EXPECT_EQ(report, "2 of 4 elements differ (rtol 0.001, atol 0.001); worst at [0, 0]: actual "
                    "2, expected 1");
}

TEST(AllClose, NanMatchesNanAndInfinitiesMatchExactly) {
  Tensor a = make({3}, DType::F32, {NAN, INFINITY, -INFINITY});
  EXPECT_TRUE(allClose(a, make({3}, DType::F64, {NAN, INFINITY, -INFINITY}), 1e-5, 1e-8));
  EXPECT_FALSE(allClose(a, make({3}, DType::F64, {1, INFINITY, -INFINITY}), 1, 1));
  EXPECT_FALSE(allClose(a, make({3}, DType::F64, {NAN, -INFINITY, -INFINITY}), 1, 1));
  EXPECT_FALSE(allClose(a, make({3}, DType::F64, {NAN, 1e300, -INFINITY}), 1, 1));
  std::string report;
  EXPECT_FALSE(allClose(make({1}, DType::F32, {1}), make({1}, DType::F32, {NAN}), 1, 1, &report));
  EXPECT_EQ(report,
            "1 of 1 elements differ (rtol 1, atol 1); worst at [0]: actual 1, expected nan");
}

TEST(AllClose, IntegersCompareExactly) {
  Tensor a = make({3}, DType::I32, {1, 2, 3});
  EXPECT_TRUE(allClose(a, make({3}, DType::I64, {1, 2, 3}), 0, 0));
  EXPECT_FALSE(allClose(a, make({3}, DType::I32, {1, 2, 4}), 0.5, 10));
  EXPECT_FALSE(allClose(a, make({3}, DType::F64, {1, 2, 3.0001}), 0.5, 10));
  Tensor big = Tensor::zeros({1}, DType::I64);
  big.setInt(0, (int64_t(1) << 53) + 1);
  Tensor big2 = Tensor::zeros({1}, DType::I64);
  big2.setInt(0, int64_t(1) << 53);
  EXPECT_FALSE(allClose(big, big2, 0, 0)); // Equal as doubles, not as integers.
  EXPECT_TRUE(allClose(make({2}, DType::Bool, {1, 0}), make({2}, DType::Bool, {1, 0}), 0, 0));
}

TEST(AllClose, ShapeMismatch) {
  std::string report;
  EXPECT_FALSE(
      allClose(Tensor::zeros({4}, DType::F32), Tensor::zeros({5}, DType::F32), 1, 1, &report));
  EXPECT_EQ(report, "shape mismatch: f32[4] against expected f32[5]");
  EXPECT_FALSE(allClose(Tensor::zeros({1}, DType::F32), Tensor::zeros({}, DType::F32), 1, 1));
}

TEST(Compare, UlpsAreCountedInTheActualDtype) {
  // A correctly rounded f32 result of an f64 reference is 0 ulps off.
  ErrorStats exact = compare(make({1}, DType::F32, {0.1}), make({1}, DType::F64, {0.1}));
  EXPECT_EQ(exact.maxUlp, 0);
  EXPECT_GT(exact.maxAbs, 0);
  EXPECT_EQ(exact.worstIndex, 0);
  Tensor next = Tensor::zeros({1}, DType::F32);
  next.data<float>()[0] = std::nextafter(0.1f, 1.0f);
  EXPECT_EQ(compare(next, make({1}, DType::F64, {0.1})).maxUlp, 1);
  // In f16, 1 + 2^-10 is one ulp above 1.
  EXPECT_EQ(compare(make({1}, DType::F16, {1.0 + 0x1p-10}), make({1}, DType::F64, {1})).maxUlp, 1);
  EXPECT_EQ(compare(make({1}, DType::BF16, {2}), make({1}, DType::F32, {1})).maxUlp, 128);
  // Across zero: from the smallest negative to the smallest positive subnormal is 2 ulps.
  EXPECT_EQ(compare(make({1}, DType::F16, {-0x1p-24}), make({1}, DType::F64, {0x1p-24})).maxUlp, 2);
  EXPECT_EQ(compare(make({1}, DType::F32, {-0.0}), make({1}, DType::F32, {0.0})).maxUlp, 0);
  // Overflow to infinity is one ulp past the largest finite value.
  ErrorStats overflow = compare(make({1}, DType::F16, {INFINITY}), make({1}, DType::F64, {65504}));
  EXPECT_EQ(overflow.maxUlp, 1);
  EXPECT_EQ(overflow.maxAbs, INFINITY);
}

TEST(Compare, AbsoluteRelativeAndWorstIndex) {
  ErrorStats s =
      compare(make({2, 2}, DType::F64, {1, 2.5, 0, 4}), make({2, 2}, DType::F64, {1, 2, 0.5, 4}));
  EXPECT_EQ(s.maxAbs, 0.5);
  EXPECT_EQ(s.maxRel, 1.0);   // |0 - 0.5| / 0.5
  EXPECT_EQ(s.worstIndex, 1); // The first element with the largest absolute error.
  EXPECT_EQ(compare(make({1}, DType::F64, {1}), make({1}, DType::F64, {0})).maxRel, INFINITY);
  ErrorStats same = compare(make({3}, DType::F32, {1, 2, 3}), make({3}, DType::F32, {1, 2, 3}));
  EXPECT_EQ(same.maxAbs, 0);
  EXPECT_EQ(same.maxRel, 0);
  EXPECT_EQ(same.maxUlp, 0);
  EXPECT_EQ(same.worstIndex, -1);
}

TEST(Compare, NanMatchesNanOnly) {
  ErrorStats both = compare(make({2}, DType::F32, {NAN, 1}), make({2}, DType::F64, {NAN, 1}));
  EXPECT_EQ(both.maxUlp, 0);
  EXPECT_EQ(both.worstIndex, -1);
  ErrorStats one = compare(make({2}, DType::F32, {1, NAN}), make({2}, DType::F64, {1, 1}));
  EXPECT_EQ(one.maxAbs, INFINITY);
  EXPECT_EQ(one.maxRel, INFINITY);
  EXPECT_EQ(one.maxUlp, kInt64Max);
  EXPECT_EQ(one.worstIndex, 1);
}

TEST(Compare, IntegersAreExact) {
  Tensor a = Tensor::zeros({3}, DType::I64);
  a.setInt(0, (int64_t(1) << 53) + 1);
  a.setInt(1, -4);
  a.setInt(2, kInt64Max);
  Tensor r = Tensor::zeros({3}, DType::I64);
  r.setInt(0, int64_t(1) << 53);
  r.setInt(1, -1);
  r.setInt(2, std::numeric_limits<int64_t>::min());
  ErrorStats s = compare(a, r);
  EXPECT_EQ(s.maxUlp, kInt64Max); // Saturated: the distance is 2^64 - 1.
  EXPECT_EQ(s.worstIndex, 2);
  r.setInt(2, kInt64Max);
  s = compare(a, r);
  EXPECT_EQ(s.maxUlp, 3);
  EXPECT_EQ(s.maxAbs, 3);
  EXPECT_EQ(s.worstIndex, 1);
  // Against a float reference, the reference is cast to the integer type first.
  EXPECT_EQ(compare(make({1}, DType::I32, {2}), make({1}, DType::F64, {2.75})).maxUlp, 0);
  EXPECT_EQ(compare(make({1}, DType::I32, {2}), make({1}, DType::F64, {2.75})).maxAbs, 0.75);
  EXPECT_EQ(compare(make({2}, DType::Bool, {1, 0}), make({2}, DType::Bool, {0, 0})).maxUlp, 1);
}

TEST(Compare, ShapeMismatchIsAnError) {
  EXPECT_THROW(compare(Tensor::zeros({2}, DType::F32), Tensor::zeros({3}, DType::F32)),
               RuntimeError);
}

} // namespace
} // namespace tdsl::runtime
