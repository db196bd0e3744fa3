// Tensors with more than 2^31 elements index correctly: flat indices past INT32_MAX reach the
// right bytes in elementwise code, in row reductions and in a full reduction. Bool tensors keep
// the memory at 2 GiB per tensor; the interpreter would take minutes at this size, so the
// expected values come from a pattern that is cheap to compute.
#include "tdsl/tdsl.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <new>
#include <set>
#include <vector>

namespace {

using namespace tdsl;

const char *kSource = R"(
kernel flip(x: bool[R, C]) -> y: bool[R, C] {
    y[i, j] = not x[i, j]
}
kernel any_in_row(x: bool[R, C]) -> s: bool[R] {
    s[i] = max(x[i, j] for j)
}
kernel count(x: bool[R, C]) -> c: i64 {
    c = sum(i64(x[i, j]) for i, j)
}
)";

// 65537 x 32771 = 2,147,713,027 elements, 229,379 past INT32_MAX.
constexpr int64_t kRows = 65537, kCols = 32771;
constexpr int64_t kElements = kRows * kCols;
static_assert(kElements > (int64_t{1} << 31));

// Set elements: a few below 2^31 and several above, the last one included.
const int64_t kSet[] = {0,
                        12345,
                        (int64_t{1} << 31) - 1,
                        int64_t{1} << 31,
                        (int64_t{1} << 31) + 4097,
                        kElements - kCols,
                        kElements - 1};

TEST(LargeTensor, IndicesPastInt32Max) {
  Tensor x;
  try {
    x = Tensor::zeros({kRows, kCols}, DType::Bool);
  } catch (const std::bad_alloc &) {
    GTEST_SKIP() << "cannot allocate 2 GiB for the input on this machine";
  } catch (const RuntimeError &) {
    GTEST_SKIP() << "cannot allocate 2 GiB for the input on this machine";
  }
  auto *bytes = static_cast<uint8_t *>(x.data());
  for (int64_t flat : kSet)
    bytes[flat] = 1;

  JitOptions options;
  options.diskCache = false;
  Module module = Jit(options).compile(kSource, "large.tdsl");

  {
    std::vector<Tensor> out = module.kernel("flip")({x});
    const auto *y = static_cast<const uint8_t *>(out[0].data());
    for (int64_t flat : kSet)
      EXPECT_EQ(y[flat], 0) << "flip at flat index " << flat;
    for (int64_t flat : {int64_t{1}, (int64_t{1} << 31) + 1, kElements - 2})
      EXPECT_EQ(y[flat], 1) << "flip at flat index " << flat;
    // Exactly the set elements are 0 (memchr: fast even in a debug build).
    std::vector<int64_t> zeros;
    for (const uint8_t *p = y, *end = y + kElements;
         (p = static_cast<const uint8_t *>(std::memchr(p, 0, end - p))); ++p)
      zeros.push_back(p - y);
    EXPECT_EQ(zeros, std::vector<int64_t>(std::begin(kSet), std::end(kSet)));
  }
  {
    std::vector<Tensor> out = module.kernel("any_in_row")({x});
    const auto *s = static_cast<const uint8_t *>(out[0].data());
    std::set<int64_t> rows;
    for (int64_t flat : kSet)
      rows.insert(flat / kCols);
    for (int64_t r = 0; r < kRows; ++r)
      EXPECT_EQ(s[r], rows.count(r) ? 1 : 0) << "row " << r;
  }
  {
    std::vector<Tensor> out = module.kernel("count")({x});
    EXPECT_EQ(*static_cast<const int64_t *>(out[0].data()), static_cast<int64_t>(std::size(kSet)));
  }
}

} // namespace
