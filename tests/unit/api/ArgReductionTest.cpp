// argmax / argmin vectorized along a contiguous row (a (value, position) pair a lane, the lanes
// combined at the end) give NumPy's answers exactly: the first of equal values, the first NaN
// over every number, -inf and the dtype's lowest integer found where they are the answer, -1
// for an empty row. Rows of lengths around the vector widths put each case in the unmasked
// steps, the masked remainder and the combine of lanes; the interpreter is the reference.
#include "tdsl/tdsl.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace tdsl;

constexpr const char *kSource = R"(
kernel argmax_rows(x: f32[B, V]) -> y: i64[B] {
    y[b] = argmax(x[b, v] for v)
}
kernel argmin_rows(x: f32[B, V]) -> y: i64[B] {
    y[b] = argmin(x[b, v] for v)
}
kernel argmax_ints(x: i32[B, V]) -> y: i64[B] {
    y[b] = argmax(x[b, v] for v)
}
kernel argmin_ints(x: i32[B, V]) -> y: i64[B] {
    y[b] = argmin(x[b, v] for v)
}
)";

/// Rows of `length` from a few values, so that ties are common, with the specials planted.
template <typename T>
Tensor rows(int64_t count, int64_t length, const std::vector<T> &specials, DType dtype,
            uint32_t seed) {
  Tensor t = Tensor::zeros({count, length}, dtype);
  T *data = static_cast<T *>(t.data());
  std::mt19937 rng(seed);
  for (int64_t i = 0; i < count * length; ++i)
    data[i] = static_cast<T>(static_cast<int>(rng() % 5) - 2);
  // Row r gets special values at positions picked by the seed, several rows each.
  for (int64_t r = 0; r < count && length > 0; ++r)
    for (size_t s = 0; s < specials.size(); ++s)
      if ((r + static_cast<int64_t>(s)) % 3 == 0)
        data[r * length + static_cast<int64_t>(rng() % static_cast<uint32_t>(length))] =
            specials[s];
  return t;
}

void expectSame(const Kernel &k, const Tensor &x, const std::string &what) {
  Tensor got = k({x})[0], want = k.interpret({x})[0];
  ASSERT_EQ(got.shape(), want.shape());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.nbytes()), 0) << what;
}

TEST(ArgReduction, VectorizedMatchesTheInterpreterOnTiesNaNsAndInfinities) {
  JitOptions options;
  options.threads = 1;
  Module module = Jit(options).compile(kSource);
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> floatSpecials = {nan, inf, -inf, nan, -0.0f, 3.0f, 3.0f};
  const std::vector<int32_t> intSpecials = {std::numeric_limits<int32_t>::min(),
                                            std::numeric_limits<int32_t>::max(), 7, 7};
  for (int64_t length : {0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 257}) {
    for (uint32_t seed : {1u, 2u, 3u}) {
      std::string what = "V=" + std::to_string(length) + " seed " + std::to_string(seed);
      Tensor f = rows<float>(24, length, floatSpecials, DType::F32, seed);
      expectSame(module.kernel("argmax_rows"), f, "argmax " + what);
      expectSame(module.kernel("argmin_rows"), f, "argmin " + what);
      Tensor i = rows<int32_t>(24, length, intSpecials, DType::I32, seed);
      expectSame(module.kernel("argmax_ints"), i, "argmax i32 " + what);
      expectSame(module.kernel("argmin_ints"), i, "argmin i32 " + what);
    }
  }
}

TEST(ArgReduction, RowsOfOnlyTheLowestValueGiveTheFirstPosition) {
  JitOptions options;
  options.threads = 1;
  Module module = Jit(options).compile(kSource);
  for (int64_t length : {1, 5, 16, 40}) {
    Tensor f = Tensor::zeros({2, length}, DType::F32);
    Tensor i = Tensor::zeros({2, length}, DType::I32);
    for (int64_t k = 0; k < 2 * length; ++k) {
      static_cast<float *>(f.data())[k] = -std::numeric_limits<float>::infinity();
      static_cast<int32_t *>(i.data())[k] = std::numeric_limits<int32_t>::min();
    }
    for (const Tensor *t : {&f, &i}) {
      Tensor got = module.kernel(t == &f ? "argmax_rows" : "argmax_ints")({*t})[0];
      EXPECT_EQ(static_cast<const int64_t *>(got.data())[0], 0) << "V=" << length;
      EXPECT_EQ(static_cast<const int64_t *>(got.data())[1], 0) << "V=" << length;
    }
  }
}

TEST(ArgReduction, ExplainSaysTheRowIsVectorized) {
  Module module = Jit().compile(kSource);
  EXPECT_NE(module.kernel("argmax_rows").explain().find("a (value, position) pair a lane"),
            std::string::npos)
      << module.kernel("argmax_rows").explain();
}

} // namespace
