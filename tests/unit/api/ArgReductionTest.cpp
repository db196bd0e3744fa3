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

/// Rows of `length` where each row holds one case: random ties, a NaN first, in the middle or
/// last (with a later NaN too), all values equal, the infinities planted among ties, -0 beside
/// +0, or the best value first or last.
Tensor cases(int64_t count, int64_t length, uint32_t seed) {
  Tensor t = Tensor::zeros({count, length}, DType::F32);
  float *data = static_cast<float *>(t.data());
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::mt19937 rng(seed);
  auto at = [&](int64_t r, int64_t k) -> float & { return data[r * length + k]; };
  for (int64_t r = 0; r < count; ++r) {
    for (int64_t k = 0; k < length; ++k)
      at(r, k) = static_cast<float>(static_cast<int>(rng() % 7) - 3);
    if (length == 0)
      continue;
    int64_t middle = length / 2, last = length - 1;
    switch (r % 10) {
    case 1:
      at(r, 0) = nan, at(r, last) = nan;
      break;
    case 2:
      at(r, middle) = nan, at(r, last) = nan;
      break;
    case 3:
      at(r, last) = nan;
      break;
    case 4:
      for (int64_t k = 0; k < length; ++k)
        at(r, k) = 1.5f;
      break;
    case 5:
      at(r, middle) = inf, at(r, last) = -inf, at(r, 0) = -inf;
      break;
    case 6:
      for (int64_t k = 0; k < length; ++k)
        at(r, k) = k % 2 ? 0.0f : -0.0f;
      break;
    case 7:
      at(r, last) = 100.0f, at(r, 0) = -100.0f;
      break;
    case 8:
      for (int64_t k = 0; k < length; ++k)
        at(r, k) = -inf;
      break;
    default:
      break;
    }
  }
  return t;
}

/// The kernels of `source` on `inputs`, compiled for `cpuLevel` (with bounds checks when
/// `checked`), against the interpreter, output by output.
void expectLevelMatches(const char *source, const std::string &kernel,
                        const std::vector<Tensor> &inputs, const std::string &cpuLevel,
                        bool checked, const std::string &what) {
  JitOptions options;
  options.threads = 1;
  options.target.cpuLevel = cpuLevel;
  options.boundsChecks = checked;
  Module module = Jit(options).compile(source);
  std::vector<Tensor> got = module.kernel(kernel)(inputs);
  std::vector<Tensor> want = module.kernel(kernel).interpret(inputs);
  ASSERT_EQ(got.size(), want.size());
  for (size_t o = 0; o < got.size(); ++o) {
    ASSERT_EQ(got[o].shape(), want[o].shape());
    EXPECT_EQ(std::memcmp(got[o].data(), want[o].data(), got[o].nbytes()), 0)
        << what << " output " << o << " at " << cpuLevel;
  }
}

// Rows that fit in half of L3's share of a thread run in two passes (the row's maximum, then
// the first position that holds it); longer rows run as one pass with a (value, step) pair a
// lane. Both, at both CPU levels, with lengths around the 16-, 32- and 64-point steps of each.
TEST(ArgReduction, BothPassesMatchTheInterpreterAtBothCpuLevels) {
  for (const std::string level : {"x86-64-v3", "x86-64-v4"})
    for (int64_t length : {0, 1, 3, 17, 31, 32, 33, 63, 64, 65, 127, 129, 4097}) {
      Tensor x = cases(30, length, static_cast<uint32_t>(length) + 7);
      std::string what = "V=" + std::to_string(length);
      expectLevelMatches(kSource, "argmax_rows", {x}, level, false, "argmax " + what);
      expectLevelMatches(kSource, "argmin_rows", {x}, level, false, "argmin " + what);
    }
  // Half of the named levels' 32 MiB L3 (one thread) is 4194304 f32.
  for (const std::string level : {"x86-64-v3", "x86-64-v4"})
    for (int64_t length : {4194304, 4194305}) {
      Tensor x = cases(2, length, 11);
      std::string what = "V=" + std::to_string(length);
      expectLevelMatches(kSource, "argmax_rows", {x}, level, false, "argmax " + what);
      expectLevelMatches(kSource, "argmin_rows", {x}, level, false, "argmin " + what);
    }
}

TEST(ArgReduction, TheSearchReadsOnlyTheRowUnderBoundsChecks) {
  for (int64_t length : {0, 1, 17, 64, 65, 100})
    expectLevelMatches(kSource, "argmax_rows", {cases(10, length, 5)}, "x86-64-v4", true,
                       "argmax V=" + std::to_string(length));
}

// Every dtype argmax takes, through casts of an f32 row with ties, NaNs and infinities (the
// float dtypes) or an i32 row (the integer ones, values in every dtype's range), and a body
// reading two rows, whose two passes read both.
TEST(ArgReduction, EveryDtypeMatchesTheInterpreterAtBothCpuLevels) {
  const char *source = R"(
kernel floats(x: f32[B, V]) -> (a: i64[B], b: i64[B], c: i64[B], d: i64[B], e: i64[B], f: i64[B]) {
    a[r] = argmax(f64(x[r, v]) for v)
    b[r] = argmin(f64(x[r, v]) for v)
    c[r] = argmax(f16(x[r, v]) for v)
    d[r] = argmin(f16(x[r, v]) for v)
    e[r] = argmax(bf16(x[r, v]) for v)
    f[r] = argmin(bf16(x[r, v]) for v)
}
kernel ints(n: i32[B, V]) -> (a: i64[B], b: i64[B], c: i64[B], d: i64[B], e: i64[B], f: i64[B], g: i64[B], h: i64[B]) {
    a[r] = argmax(i8(n[r, v]) for v)
    b[r] = argmin(i8(n[r, v]) for v)
    c[r] = argmax(u8(n[r, v] + 3) for v)
    d[r] = argmin(u8(n[r, v] + 3) for v)
    e[r] = argmax(i16(n[r, v]) for v)
    f[r] = argmin(i16(n[r, v]) for v)
    g[r] = argmax(i64(n[r, v]) for v)
    h[r] = argmin(i64(n[r, v]) for v)
}
kernel two_rows(x: f32[B, V], y: f32[B, V]) -> (a: i64[B], b: i64[B]) {
    a[r] = argmax(x[r, v] + y[r, v] for v)
    b[r] = argmin(x[r, v] * y[r, v] for v)
}
)";
  for (const std::string level : {"x86-64-v3", "x86-64-v4"})
    for (int64_t length : {0, 1, 3, 17, 33, 65, 129, 4097}) {
      std::string what = "V=" + std::to_string(length);
      Tensor x = cases(30, length, 3), y = cases(30, length, 4);
      expectLevelMatches(source, "floats", {x}, level, false, what);
      expectLevelMatches(source, "two_rows", {x, y}, level, false, what);
      Tensor n = rows<int32_t>(30, length, {-3, 3, 3}, DType::I32, 9);
      expectLevelMatches(source, "ints", {n}, level, false, what);
    }
}

TEST(ArgReduction, ExplainSaysTheRowIsVectorized) {
  Module module = Jit().compile(kSource);
  EXPECT_NE(module.kernel("argmax_rows").explain().find("a (value, position) pair a lane"),
            std::string::npos)
      << module.kernel("argmax_rows").explain();
}

} // namespace
