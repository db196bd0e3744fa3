// A reduction to one value over several axes runs in parallel as fixed chunks of its first axis,
// combined in order (passes/Schedule.h, MemberSchedule::chunks): on two threads and with shapes
// large enough to run in parallel, it matches the interpreter, gives the same bits on every call
// and on one thread, and covers every row once when the rows do not divide into the chunks.
#include "tdsl/tdsl.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>

namespace {

using namespace tdsl;

constexpr const char *kSource = R"(
kernel totals(x: f32[N, D]) -> (s: f32, m: f32, hi: f32) {
    s = sum(x[i, j] for i, j)
    m = mean(x[i, j] * x[i, j] for i, j)
    hi = max(x[i, j] for i, j)
}
kernel count(x: i32[N, D]) -> c: i64 {
    c = sum(i64(x[i, j]) for i, j)
}
)";

Tensor random(int64_t rows, int64_t cols, uint32_t seed) {
  Tensor t = Tensor::zeros({rows, cols}, DType::F32);
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  for (int64_t k = 0; k < rows * cols; ++k)
    static_cast<float *>(t.data())[k] = normal(rng);
  return t;
}

/// The one value of a 0-d result, which the interpreter may give in f64.
double scalar(const Tensor &t) {
  return t.dtype() == DType::F64 ? static_cast<const double *>(t.data())[0]
                                 : static_cast<const float *>(t.data())[0];
}

TEST(ChunkedTotal, MatchesTheInterpreterAndRepeatsItsBitsOnTwoThreads) {
  JitOptions options;
  options.threads = 2;
  Module module = Jit(options).compile(kSource);
  Kernel totals = module.kernel("totals");
  Kernel oneThread = Jit(JitOptions{Target::cpu(), 1}).compile(kSource).kernel("totals");
  EXPECT_NE(totals.explain().find("parallel over 32 chunks of i"), std::string::npos)
      << totals.explain();
  // 32 chunks: 1, 7 and 9 rows leave chunks empty, 1001 leaves the last one short.
  for (int64_t rows : {1, 7, 9, 1001}) {
    Tensor x = random(rows, 300000 / rows + 3, static_cast<uint32_t>(rows));
    std::vector<Tensor> got = totals({x}), want = totals.interpret({x});
    std::vector<Tensor> again = totals({x}), serial = oneThread({x});
    for (size_t o = 0; o < got.size(); ++o) {
      double g = scalar(got[o]), w = scalar(want[o]);
      EXPECT_NEAR(g, w, 1e-4 * (std::fabs(w) + std::sqrt(static_cast<double>(x.numel()))))
          << "output " << o << ", " << rows << " rows";
      EXPECT_EQ(std::memcmp(got[o].data(), again[o].data(), got[o].nbytes()), 0)
          << "output " << o << ", " << rows << " rows";
      EXPECT_EQ(std::memcmp(got[o].data(), serial[o].data(), got[o].nbytes()), 0)
          << "output " << o << ", " << rows << " rows, one thread";
    }
  }
}

TEST(ChunkedTotal, IntegerSumsAreExact) {
  JitOptions options;
  options.threads = 2;
  Module module = Jit(options).compile(kSource);
  Kernel count = module.kernel("count");
  for (int64_t rows : {3, 8, 1001}) {
    Tensor x = Tensor::zeros({rows, 1000}, DType::I32);
    for (int64_t k = 0; k < x.numel(); ++k)
      static_cast<int32_t *>(x.data())[k] = static_cast<int32_t>(k % 13) - 6 + (k % 1000 == 0);
    Tensor got = count({x})[0], want = count.interpret({x})[0];
    EXPECT_EQ(static_cast<const int64_t *>(got.data())[0],
              static_cast<const int64_t *>(want.data())[0])
        << rows << " rows";
  }
}

} // namespace
