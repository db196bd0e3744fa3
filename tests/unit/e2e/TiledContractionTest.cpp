// Contractions at shapes large enough for the tiling pass's blocks (several k blocks and n
// blocks, row and column remainders) match the interpreter, give bit-identical results with one
// and two threads, and run their epilogue on the finished sums.
#include "api/Numerics.h"
#include "tdsl/tdsl.h"

#include <gtest/gtest.h>

#include <cstring>

namespace {

using namespace tdsl;

const char *kSource = R"(
kernel mm(a: f32[M, K], b: f32[K, N]) -> c: f32[M, N] {
    c[i, j] = sum(a[i, k] * b[k, j] for k)
}
kernel mm_nt_bias_relu(a: f32[M, K], b: f32[N, K], bias: f32[N]) -> y: f32[M, N] {
    y[i, j] = relu(sum(a[i, k] * b[j, k] for k) + bias[j])
}
kernel conv(x: f32[B, C, H, W], w: f32[O, C, 3, 3]) -> y: f32[B, O, H - 2, W - 2] {
    y[n, o, h, q] = sum(x[n, c, h + r, q + s] * w[o, c, r, s] for c, r, s)
}
)";

Module compile(int threads) {
  JitOptions options;
  options.threads = threads;
  options.diskCache = false;
  return Jit(options).compile(kSource, "tiled.tdsl");
}

void expectMatches(const std::string &name, const std::vector<Tensor> &inputs) {
  Module one = compile(1), two = compile(2);
  std::vector<Tensor> a = one.kernel(name)(inputs);
  std::vector<Tensor> b = two.kernel(name)(inputs);
  std::vector<Tensor> ref = one.kernel(name).interpret(inputs);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(withinTolerance(a[0], ref[0]))
      << name << ": " << describe(runtime::compare(a[0], ref[0]), a[0].shape());
  ASSERT_EQ(a[0].nbytes(), b[0].nbytes());
  EXPECT_EQ(std::memcmp(a[0].data(), b[0].data(), a[0].nbytes()), 0)
      << name << ": one and two threads differ";
}

TEST(TiledContraction, MatmulWithSeveralBlocksAndRemainders) {
  // K = 700: three k blocks of the 288 maximum; N = 1000: three n blocks; M = 45: 14-row
  // panels with a remainder of 3.
  expectMatches("mm", {Tensor::randn({45, 700}, DType::F32, 1), Tensor::randn({700, 1000},
                                                                               DType::F32, 2)});
}

TEST(TiledContraction, TransposedOperandWithEpilogueAcrossKBlocks) {
  // The partial sums of the first k blocks live in y; relu and the bias apply once, at the end.
  expectMatches("mm_nt_bias_relu", {Tensor::randn({33, 600}, DType::F32, 3),
                                    Tensor::randn({77, 600}, DType::F32, 4),
                                    Tensor::randn({77}, DType::F32, 5)});
}

TEST(TiledContraction, Conv2dInIndexForm) {
  expectMatches("conv", {Tensor::randn({2, 40, 12, 21}, DType::F32, 6),
                         Tensor::randn({17, 40, 3, 3}, DType::F32, 7)});
}

} // namespace
