// DType names, parsing, sizes and classes.
#include "tdsl/DType.h"

#include <gtest/gtest.h>

namespace tdsl {
namespace {

constexpr DType kAll[] = {DType::F16, DType::BF16, DType::F32, DType::F64, DType::I32,
                          DType::I64, DType::Bool, DType::U8,  DType::I8,  DType::I16};

TEST(DType, NamesRoundTrip) {
  for (DType t : kAll)
    EXPECT_EQ(parseDType(dtypeName(t)), t) << dtypeName(t);
  EXPECT_EQ(dtypeName(DType::BF16), "bf16");
  EXPECT_EQ(dtypeName(DType::Bool), "bool");
}

TEST(DType, ParseRejectsUnknownNames) {
  for (std::string_view name : {"", "f", "float", "F32", "f32 ", "int32", "u16", "b1"})
    EXPECT_EQ(parseDType(name), std::nullopt) << name;
}

TEST(DType, SizesAndClasses) {
  EXPECT_EQ(byteSize(DType::F16), 2);
  EXPECT_EQ(byteSize(DType::BF16), 2);
  EXPECT_EQ(byteSize(DType::F32), 4);
  EXPECT_EQ(byteSize(DType::F64), 8);
  EXPECT_EQ(byteSize(DType::I32), 4);
  EXPECT_EQ(byteSize(DType::I64), 8);
  EXPECT_EQ(byteSize(DType::Bool), 1);
  EXPECT_EQ(byteSize(DType::U8), 1);
  EXPECT_EQ(byteSize(DType::I8), 1);
  EXPECT_EQ(byteSize(DType::I16), 2);
  for (DType t : kAll) {
    EXPECT_FALSE(isFloat(t) && isInt(t));
    EXPECT_EQ(t == DType::Bool, !isFloat(t) && !isInt(t));
  }
  EXPECT_EQ(computeType(DType::F16), DType::F32);
  EXPECT_EQ(computeType(DType::BF16), DType::F32);
  EXPECT_EQ(computeType(DType::F64), DType::F64);
  EXPECT_EQ(computeType(DType::I32), DType::I32);
  EXPECT_EQ(computeType(DType::Bool), DType::Bool);
}

TEST(DType, IntegerRangesAndWrapping) {
  EXPECT_EQ(intMin(DType::U8), 0);
  EXPECT_EQ(intMax(DType::U8), 255);
  EXPECT_EQ(intMin(DType::I8), -128);
  EXPECT_EQ(intMax(DType::I16), 32767);
  EXPECT_EQ(intMin(DType::I32), INT32_MIN);
  EXPECT_EQ(intMin(DType::I64), INT64_MIN);
  EXPECT_EQ(intMax(DType::I64), INT64_MAX);
  EXPECT_EQ(wrapInt(DType::U8, uint64_t(-1)), 255);
  EXPECT_EQ(wrapInt(DType::U8, 300), 44);
  EXPECT_EQ(wrapInt(DType::I8, 200), -56);
  EXPECT_EQ(wrapInt(DType::I16, 40000), -25536);
  EXPECT_EQ(wrapInt(DType::I32, uint64_t(1) << 32), 0);
  EXPECT_EQ(wrapInt(DType::Bool, 256), 1);
}

} // namespace
} // namespace tdsl
