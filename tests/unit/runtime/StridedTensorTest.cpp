// Strided and read-only views: element access in row-major order whatever the strides, copies,
// the byte range, and the errors of views that cannot be made or written.
#include "tdsl/Diagnostics.h"
#include "tdsl/Tensor.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <unistd.h>

namespace tdsl {
namespace {

std::string errorOf(const std::function<void()> &f) {
  try {
    f();
  } catch (const RuntimeError &e) {
    return e.what();
  }
  return "";
}

TEST(StridedTensor, TransposedViewReadsInLogicalOrder) {
  // A 2x3 row-major buffer seen as its 3x2 transpose.
  std::vector<float> buffer = {0, 1, 2, 3, 4, 5};
  Tensor t = Tensor::view(buffer.data(), {3, 2}, DType::F32, {1, 3});
  EXPECT_FALSE(t.isContiguous());
  EXPECT_EQ(t.strides(), (std::vector<int64_t>{1, 3}));
  const float expected[] = {0, 3, 1, 4, 2, 5};
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(t.at(i), expected[i]) << i;
  t.set(1, 30); // Element [0, 1]: buffer[3].
  EXPECT_EQ(buffer[3], 30);
  Tensor dense = t.contiguous();
  EXPECT_TRUE(dense.isContiguous());
  EXPECT_TRUE(dense.ownsData());
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(dense.at(i), t.at(i));
  EXPECT_EQ(t.typeString(), "f32[3, 2]");
}

TEST(StridedTensor, RowMajorStridesAreContiguous) {
  std::vector<int32_t> buffer(12);
  EXPECT_TRUE(Tensor::view(buffer.data(), {3, 4}, DType::I32, {4, 1}).isContiguous());
  // A dim of extent 1 may have any stride; an empty tensor any strides.
  EXPECT_TRUE(Tensor::view(buffer.data(), {3, 1, 4}, DType::I32, {4, 99, 1}).isContiguous());
  EXPECT_TRUE(Tensor::view(buffer.data(), {0, 4}, DType::I32, {7, 7}).isContiguous());
  EXPECT_FALSE(Tensor::view(buffer.data(), {3, 2}, DType::I32, {4, 2}).isContiguous());
  EXPECT_EQ(Tensor::zeros({2, 3, 4}, DType::F32).strides(), (std::vector<int64_t>{12, 4, 1}));
}

TEST(StridedTensor, BroadcastAndReversedViews) {
  std::vector<int64_t> row = {10, 20, 30};
  Tensor broadcast = Tensor::view(row.data(), {4, 3}, DType::I64, {0, 1});
  for (int i = 0; i < 12; ++i)
    EXPECT_EQ(broadcast.atInt(i), row[size_t(i % 3)]);
  // data points at element 0, the buffer's last: a negative stride walks back.
  Tensor reversed = Tensor::view(row.data() + 2, {3}, DType::I64, {-1});
  EXPECT_EQ(reversed.atInt(0), 30);
  EXPECT_EQ(reversed.atInt(2), 10);
  auto [low, high] = reversed.byteRange();
  EXPECT_EQ(low, reinterpret_cast<const char *>(row.data()));
  EXPECT_EQ(high, reinterpret_cast<const char *>(row.data() + 3));
  auto [bLow, bHigh] = broadcast.byteRange();
  EXPECT_EQ(bHigh - bLow, 3 * 8);
}

TEST(StridedTensor, CopyFromBetweenLayoutsOfEveryElementSize) {
  for (DType dtype : {DType::U8, DType::F16, DType::F32, DType::F64}) {
    Tensor source = Tensor::randn({5, 7}, dtype, 3);
    std::vector<uint64_t> storage(5 * 7 * 2);
    // Every other column of a 5x14 buffer, rows reversed.
    Tensor strided =
        Tensor::view(reinterpret_cast<char *>(storage.data()) + 4 * 14 * byteSize(dtype), {5, 7},
                     dtype, {-14, 2});
    strided.copyFrom(source);
    for (int64_t i = 0; i < 35; ++i)
      ASSERT_EQ(strided.at(i), source.at(i)) << dtypeName(dtype) << " " << i;
    Tensor back = Tensor::zeros({5, 7}, dtype);
    back.copyFrom(strided);
    for (int64_t i = 0; i < 35; ++i)
      ASSERT_EQ(back.at(i), source.at(i));
  }
}

TEST(StridedTensor, ReadOnlyViewsRefuseWrites) {
  const std::vector<float> buffer = {1, 2, 3};
  Tensor t = Tensor::view(buffer.data(), {3}, DType::F32);
  EXPECT_TRUE(t.readOnly());
  EXPECT_EQ(t.at(2), 3);
  EXPECT_NE(errorOf([&] { t.set(0, 5); }).find("read-only"), std::string::npos);
  EXPECT_NE(errorOf([&] { t.setInt(0, 5); }).find("read-only"), std::string::npos);
  EXPECT_NE(errorOf([&] { t.copyFrom(Tensor::zeros({3}, DType::F32)); }).find("read-only"),
            std::string::npos);
  EXPECT_EQ(t.contiguous().data(), t.data()); // Contiguous: the view itself.
}

TEST(StridedTensor, InvalidStridesThrow) {
  float x = 0;
  EXPECT_NE(errorOf([&] {
              Tensor::view(&x, {2, 2}, DType::F32, {1});
            }).find("one stride per dim"),
            std::string::npos);
  const int64_t huge = std::numeric_limits<int64_t>::max() / 2;
  EXPECT_NE(errorOf([&] { Tensor::view(&x, {4}, DType::F32, {huge}); }).find("overflow"),
            std::string::npos);
  EXPECT_NE(errorOf([&] {
              Tensor::view(&x, {2}, DType::F32, {std::numeric_limits<int64_t>::min()});
            }).find("overflow"),
            std::string::npos);
}

TEST(StridedTensor, WithOwnerReleasesOnceWithTheLastCopy) {
  int released = 0;
  std::vector<float> buffer(4);
  {
    Tensor a = Tensor::view(buffer.data(), {4}, DType::F32)
                   .withOwner(std::shared_ptr<void>(nullptr, [&](void *) { ++released; }));
    EXPECT_TRUE(a.ownsData());
    Tensor b = a;
    a = Tensor();
    EXPECT_EQ(released, 0);
  }
  EXPECT_EQ(released, 1);
}

TEST(StridedTensor, WriteNpyWritesTheLogicalOrder) {
  std::vector<int32_t> buffer = {0, 1, 2, 3, 4, 5};
  Tensor t = Tensor::view(buffer.data(), {3, 2}, DType::I32, {1, 3});
  std::string path = (std::filesystem::temp_directory_path() /
                      ("tdsl_strided_" + std::to_string(::getpid()) + ".npy"))
                         .string();
  writeNpy(path, t);
  Tensor read = readNpy(path);
  std::remove(path.c_str());
  ASSERT_EQ(read.shape(), t.shape());
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(read.atInt(i), t.atInt(i));
}

} // namespace
} // namespace tdsl
