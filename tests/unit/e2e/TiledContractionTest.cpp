// Contractions at shapes large enough for the tiling pass's blocks (several k blocks and n
// blocks, row and column remainders) match the interpreter, give bit-identical results with one
// and two threads, and run their epilogue on the finished sums. So do row chains (contractions
// inside a fused group, run per block of rows), which keep only windows of a block in memory.
#include "api/Numerics.h"
#include "tdsl/tdsl.h"
#include "tests/unit/common/ApiTestSupport.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <string>

namespace {

using namespace tdsl;
using namespace tdsl::testing_support;

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
kernel conv_same(x: f32[B, C, H, W], w: f32[O, C, 3, 3]) -> y: f32[B, O, H, W] {
    y[n, o, h, q] = sum(x[n, c, h + r - 1, q + s - 1] ?? 0.0 * w[o, c, r, s] for c, r, s)
}
kernel conv_relu_pool(x: f32[B, C, H, W], w: f32[O, C, 3, 3], bias: f32[O], pos: f32[P, Q])
        -> y: f32[B, O, P, Q] {
    a[n, o, h < H, q < W] = relu(sum(x[n, c, h + r - 1, q + s - 1] ?? 0.0 * w[o, c, r, s]
                                     for c, r, s) + bias[o])
    y[n, o, p, q] = max(a[n, o, 2 * p + r, 2 * q + s] ?? 0.0 for r < 2, s < 2) + pos[p, q]
}
kernel shifted_lhs(a: f32[M, K], b: f32[K, N]) -> c: f32[M, N] {
    c[i, j] = sum(a[i, k + 1] ?? 0.0 * b[k, j] for k)
}
kernel bmm(a: f32[B, M, K], b: f32[B, K, N]) -> c: f32[B, M, N] {
    c = a @ b
}
kernel bmm_shifted(a: f32[B, M, K], b: f32[B, K, W]) -> c: f32[B, M, W - 1] {
    c[d, i, j] = sum(a[d, i, k] * b[d, k, j + 1] for k)
}
kernel bmm_tn(a: f32[B, K, M], b: f32[B, K, N]) -> c: f32[B, M, N] {
    c[d, i, j] = sum(a[d, k, i] * b[d, k, j] for k)
}
kernel attention(q: f32[B, T, E], k: f32[B, T, E], v: f32[B, T, E]) -> o: f32[B, T, E] {
    s[b, t, u] = sum(q[b, t, e] * k[b, u, e] for e) * rsqrt(f32(E))
    p[b, t, u] = exp(s[b, t, u] - max(s[b, t, w] for w))
    o[b, t, e] = sum(p[b, t, u] * v[b, u, e] for u) / sum(p[b, t, u] for u)
}
kernel causal(q: f32[B, T, E], k: f32[B, T, E], v: f32[B, T, E]) -> o: f32[B, T, E] {
    s[b, t, u] = where(u <= t, sum(q[b, t, e] * k[b, u, e] for e) * rsqrt(f32(E)), -inf)
    p[b, t, u] = exp(s[b, t, u] - max(s[b, t, w] for w))
    o[b, t, e] = sum(p[b, t, u] * v[b, u, e] for u) / sum(p[b, t, u] for u)
}
kernel mlp(x: f32[M, D], w1: f32[D, F], w2: f32[F, D]) -> y: f32[M, D] {
    h = x @ w1
    a = 0.5 * h * (1 + tanh(0.7978845608 * (h + 0.044715 * h * h * h)))
    y = a @ w2
}
)";

Module compile(int threads) { return compileWithThreads(kSource, "tiled.tdsl", threads); }

void expectMatches(Module &one, Module &two, const std::string &name,
                   const std::vector<Tensor> &inputs) {
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

void expectMatches(const std::string &name, const std::vector<Tensor> &inputs) {
  Module one = compile(1), two = compile(2);
  expectMatches(one, two, name, inputs);
}

/// `name` (a[B, M, K] or a[B, K, M] with b[B, K, N]) at each shape, against the interpreter and
/// bit-identical on one and two threads.
void expectBatchedMatches(const std::string &name, bool transposed,
                          const std::vector<std::array<int64_t, 4>> &shapes) {
  Module one = compile(1), two = compile(2);
  uint64_t seed = 10;
  for (const auto &[b, m, k, n] : shapes) {
    SCOPED_TRACE(name + " B=" + std::to_string(b) + ", M=" + std::to_string(m) +
                 ", K=" + std::to_string(k) + ", N=" + std::to_string(n));
    std::vector<int64_t> aShape =
        transposed ? std::vector<int64_t>{b, k, m} : std::vector<int64_t>{b, m, k};
    expectMatches(
        one, two, name,
        {Tensor::randn(aShape, DType::F32, seed), Tensor::randn({b, k, n}, DType::F32, seed + 1)});
    seed += 2;
  }
}

TEST(TiledContraction, MatmulWithSeveralBlocksAndRemainders) {
  // K = 700: three k blocks of the 288 maximum; N = 1000: three n blocks; M = 45: 14-row
  // panels with a remainder of 3.
  expectMatches(
      "mm", {Tensor::randn({45, 700}, DType::F32, 1), Tensor::randn({700, 1000}, DType::F32, 2)});
}

TEST(TiledContraction, TransposedOperandWithEpilogueAcrossKBlocks) {
  // The partial sums of the first k blocks live in y; relu and the bias apply once, at the end.
  expectMatches("mm_nt_bias_relu",
                {Tensor::randn({33, 600}, DType::F32, 3), Tensor::randn({77, 600}, DType::F32, 4),
                 Tensor::randn({77}, DType::F32, 5)});
}

TEST(TiledContraction, Conv2dInIndexForm) {
  expectMatches("conv", {Tensor::randn({2, 40, 12, 21}, DType::F32, 6),
                         Tensor::randn({17, 40, 3, 3}, DType::F32, 7)});
}

TEST(TiledContraction, ZeroPaddedConvolutionAtOddShapes) {
  // The border is packed as zeros; H, W of 1, 3, 17 and odd; C of 1 and 3 (K = 9, 27) and 40
  // (K = 360: two k blocks); O at every remainder of the 14-row panels; W = 600: two n blocks;
  // empty extents.
  Module one = compile(1), two = compile(2);
  uint64_t seed = 20;
  const std::vector<std::array<int64_t, 5>> shapes = {
      {1, 1, 1, 1, 1},   {2, 3, 3, 3, 5},   {1, 1, 17, 17, 14}, {2, 3, 17, 5, 15},
      {1, 40, 6, 33, 9}, {1, 3, 1, 17, 29}, {1, 1, 2, 600, 3},  {3, 3, 5, 1, 22},
      {0, 3, 5, 5, 4},   {1, 0, 5, 5, 4},   {1, 3, 0, 5, 4},    {1, 3, 5, 0, 4},
      {1, 3, 5, 5, 0}};
  for (const auto &[b, c, h, w, o] : shapes) {
    SCOPED_TRACE("B=" + std::to_string(b) + ", C=" + std::to_string(c) + ", H=" +
                 std::to_string(h) + ", W=" + std::to_string(w) + ", O=" + std::to_string(o));
    expectMatches(one, two, "conv_same",
                  {Tensor::randn({b, c, h, w}, DType::F32, seed),
                   Tensor::randn({o, c, 3, 3}, DType::F32, seed + 1)});
    // Pooled over every 2 x 2 block, odd sizes reading the border's default.
    expectMatches(one, two, "conv_relu_pool",
                  {Tensor::randn({b, c, h, w}, DType::F32, seed),
                   Tensor::randn({o, c, 3, 3}, DType::F32, seed + 1),
                   Tensor::randn({o}, DType::F32, seed + 2),
                   Tensor::randn({(h + 1) / 2, (w + 1) / 2}, DType::F32, seed + 3)});
    seed += 4;
  }
}

TEST(TiledContraction, ZeroPaddedConvolutionAndPoolingAtAvx2) {
  // The 6 x 16 micro-kernel, and the pooling's guarded stride-2 reads as AVX2 masked loads.
  Target avx2 = Target::cpu();
  avx2.cpuLevel = "x86-64-v3";
  Module module = Jit(avx2).compile(kSource, "tiled.tdsl");
  std::vector<Tensor> inputs = {
      Tensor::randn({2, 3, 9, 21}, DType::F32, 50), Tensor::randn({7, 3, 3, 3}, DType::F32, 51),
      Tensor::randn({7}, DType::F32, 52), Tensor::randn({5, 11}, DType::F32, 53)};
  std::vector<Tensor> out = module.kernel("conv_relu_pool")(inputs);
  std::vector<Tensor> ref = module.kernel("conv_relu_pool").interpret(inputs);
  EXPECT_TRUE(withinTolerance(out[0], ref[0]))
      << describe(runtime::compare(out[0], ref[0]), out[0].shape());
}

TEST(TiledContraction, ZeroPaddedConvolutionAtEveryOutputChannelRemainder) {
  // O from 1 to 30: every remainder of the 14-row panels, with and without the 8-row kernel.
  Module one = compile(1), two = compile(2);
  for (int64_t o = 1; o <= 30; ++o) {
    SCOPED_TRACE("O=" + std::to_string(o));
    expectMatches(one, two, "conv_same",
                  {Tensor::randn({1, 2, 4, 19}, DType::F32, 40 + static_cast<uint64_t>(o)),
                   Tensor::randn({o, 2, 3, 3}, DType::F32, 80 + static_cast<uint64_t>(o))});
  }
}

TEST(TiledContraction, LhsWithDefaultIsPackedWithIt) {
  // The m-factor's `??` is evaluated while packing A (never read in place): M = 45 and 8 (the
  // 14- and 8-row kernels), K = 300 (two k blocks), the last column of a read as 0.
  Module one = compile(1), two = compile(2);
  expectMatches(
      one, two, "shifted_lhs",
      {Tensor::randn({45, 300}, DType::F32, 30), Tensor::randn({300, 33}, DType::F32, 31)});
  expectMatches(one, two, "shifted_lhs",
                {Tensor::randn({8, 5}, DType::F32, 32), Tensor::randn({5, 1}, DType::F32, 33)});
}

TEST(TiledContraction, BatchedSmallProductsAtEveryRowRemainder) {
  // A read in place (rows K floats apart); M from 1 to 30 covers every remainder of the 14-row
  // panels, with the 8-row kernel for remainders up to 8 and the 14-row one above.
  std::vector<std::array<int64_t, 4>> shapes;
  for (int64_t m = 1; m <= 30; ++m)
    shapes.push_back({m % 3 == 0 ? 3 : 1, m, m % 2 ? 17 : 64, m % 4 ? 33 : 64});
  expectBatchedMatches("bmm", false, shapes);
}

TEST(TiledContraction, BatchedOddShapes) {
  // Batches of 1, 3, 17; extents 1, 3, 17, 63, 64, 65, 129; K = 300 (two k blocks); K = 1024
  // (rows 4 KiB apart: A packed); empty extents.
  expectBatchedMatches("bmm", false,
                       {{1, 1, 1, 1},
                        {3, 3, 3, 3},
                        {17, 17, 17, 17},
                        {3, 63, 65, 64},
                        {1, 64, 64, 64},
                        {3, 65, 63, 65},
                        {1, 129, 129, 17},
                        {17, 8, 1, 129},
                        {2, 22, 300, 40},
                        {2, 30, 1024, 20},
                        {0, 4, 4, 4},
                        {2, 0, 4, 4},
                        {2, 5, 0, 4},
                        {2, 5, 4, 0}});
}

TEST(TiledContraction, BatchedWithRhsInPlaceAtEveryRemainder) {
  // B read in place when N is whole 32-column panels and B of a batch is one KC x NC block
  // (KC and NC of the host: at least 288 and 448 with AVX-512, more with AVX2): N = 32, 64, 96
  // with M and K of 1, 3, 17, 65 and every row remainder; N = 2048 and K = 2000 are blocked and
  // packed.
  std::vector<std::array<int64_t, 4>> shapes;
  for (int64_t m : {1, 3, 17, 65})
    for (int64_t k : {1, 3, 17, 65})
      shapes.push_back({m == k ? 3 : 1, m, k, 32 * (1 + (m + k) % 3)});
  for (int64_t m = 1; m <= 15; ++m)
    shapes.push_back({2, m, 64, 64});
  shapes.push_back({1, 5, 64, 2048});
  shapes.push_back({1, 5, 2000, 64});
  shapes.push_back({2, 5, 0, 64});
  expectBatchedMatches("bmm", false, shapes);
}

TEST(TiledContraction, BatchedWithShiftedRhsInPlace) {
  // b[d, k, j + 1]: B in place at an offset, rows W floats apart for N = W - 1 columns (in
  // place when W - 1 is a multiple of 32), else packed.
  Module one = compile(1), two = compile(2);
  uint64_t seed = 40;
  for (const auto &[b, m, k, w] : std::vector<std::array<int64_t, 4>>{
           {3, 17, 65, 65}, {1, 64, 64, 65}, {2, 3, 17, 33}, {1, 9, 3, 64}, {2, 1, 1, 2}}) {
    SCOPED_TRACE("B=" + std::to_string(b) + ", M=" + std::to_string(m) +
                 ", K=" + std::to_string(k) + ", W=" + std::to_string(w));
    expectMatches(one, two, "bmm_shifted",
                  {Tensor::randn({b, m, k}, DType::F32, seed),
                   Tensor::randn({b, k, w}, DType::F32, seed + 1)});
    seed += 2;
  }
}

TEST(TiledContraction, BatchedWithTransposedLhsIsPacked) {
  // a[d, k, i] is strided along k: never read in place.
  expectBatchedMatches("bmm_tn", true, {{3, 64, 64, 64}, {2, 17, 65, 33}, {1, 9, 3, 1}});
}

std::vector<Tensor> qkv(int64_t b, int64_t t, int64_t e, uint64_t seed) {
  return {Tensor::randn({b, t, e}, DType::F32, seed),
          Tensor::randn({b, t, e}, DType::F32, seed + 1),
          Tensor::randn({b, t, e}, DType::F32, seed + 2)};
}

TEST(TiledContraction, RowChainAttentionAtOddShapes) {
  // Blocks of 56 rows: T = 57 ends in a block of one row, T = 300 in a partial block and sums
  // p·v in two k blocks (through the window of o.sum0); B = 1 splits the blocks over threads,
  // B = 4 the batches.
  Module one = compile(1), two = compile(2);
  uint64_t seed = 1;
  for (const auto &[b, t, e] : std::vector<std::array<int64_t, 3>>{
           {2, 1, 8}, {2, 3, 5}, {4, 57, 16}, {1, 300, 33}, {0, 4, 4}, {2, 0, 4}, {2, 4, 0}}) {
    SCOPED_TRACE("B=" + std::to_string(b) + ", T=" + std::to_string(t) +
                 ", E=" + std::to_string(e));
    expectMatches(one, two, "attention", qkv(b, t, e, seed));
    expectMatches(one, two, "causal", qkv(b, t, e, seed + 3));
    seed += 6;
  }
}

TEST(TiledContraction, RowChainMlpChainedAndWhole) {
  // Small weights: chained; M = 57, D = F = 300: the weights cost more than the windows save, so
  // the hidden layer is stored whole (the schedule's run-time test), with the same results.
  Module one = compile(1), two = compile(2);
  uint64_t seed = 100;
  for (const auto &[m, d, f] : std::vector<std::array<int64_t, 3>>{
           {1, 1, 1}, {3, 5, 7}, {100, 17, 33}, {70, 32, 300}, {57, 300, 300}, {0, 3, 3}}) {
    SCOPED_TRACE("M=" + std::to_string(m) + ", D=" + std::to_string(d) +
                 ", F=" + std::to_string(f));
    expectMatches(one, two, "mlp",
                  {Tensor::randn({m, d}, DType::F32, seed),
                   Tensor::randn({d, f}, DType::F32, seed + 1),
                   Tensor::randn({f, d}, DType::F32, seed + 2)});
    seed += 3;
  }
}

TEST(TiledContraction, RowChainMlpSplitAlongItsReduction) {
  // D > 112 (twice the plain chain's 56 rows): the weights cost more than whole windows save, so
  // the chain runs split along y's k: per block of rows (196 at D = 512), per chunk of the hidden
  // columns (416 at D = 130, 128 at D = 512), h and a one chunk wide, y summed chunk by chunk.
  // Shapes: M of 1, 3, 17 and a remainder of the blocks (250 = 196 + 54), F of one column, a
  // remainder of the chunks (300 = 2 x 128 + 44, 129 = 128 + 1, 1000 = 2 x 416 + 168), empty M.
  Module one = compile(1), two = compile(2);
  uint64_t seed = 200;
  for (const auto &[m, d, f] : std::vector<std::array<int64_t, 3>>{{1, 130, 1},
                                                                   {3, 130, 17},
                                                                   {17, 131, 3},
                                                                   {17, 130, 1000},
                                                                   {40, 512, 300},
                                                                   {250, 512, 129},
                                                                   {0, 130, 5}}) {
    SCOPED_TRACE("M=" + std::to_string(m) + ", D=" + std::to_string(d) +
                 ", F=" + std::to_string(f));
    std::vector<Tensor> in{Tensor::randn({m, d}, DType::F32, seed),
                           Tensor::randn({d, f}, DType::F32, seed + 1),
                           Tensor::randn({f, d}, DType::F32, seed + 2)};
    expectInterpreterAndThreadsAgree(one.kernel("mlp"), two.kernel("mlp"), in, "mlp");
    seed += 3;
  }
}

/// One timed run, no warm-up and no roofline: a profile for its intermediate bytes.
ProfileOptions oneRun() {
  ProfileOptions options;
  options.runs = 1;
  options.warmup = 0;
  options.roofline = false;
  return options;
}

TEST(TiledContraction, RowChainMlpSplitKeepsOnlyTilesInMemory) {
  // The bench's MLP: a whole hidden layer h and a would be 2 x 1024 x 2048 floats (16 MiB); split,
  // each thread holds a block of about 200 rows of 128 columns of each (2 x 100 KiB), and the
  // weights are packed once (2 x 4 MiB of panels, with the blocks' panels of a).
  Module two = compile(2);
  Profile profile = two.kernel("mlp").profile({Tensor::randn({1024, 512}, DType::F32, 1),
                                               Tensor::randn({512, 2048}, DType::F32, 2),
                                               Tensor::randn({2048, 512}, DType::F32, 3)},
                                              oneRun());
  EXPECT_GT(profile.intermediateBytes, 0);
  EXPECT_LT(profile.intermediateBytes, int64_t{512} << 10);
  EXPECT_GE(profile.packedPanelBytes, int64_t{8} << 20);
  EXPECT_LT(profile.packedPanelBytes, int64_t{9} << 20);
}

TEST(TiledContraction, RowChainAttentionKeepsOnlyWindowsInMemory) {
  // Whole scores and probabilities would be 2 x 4 x 512 x 512 floats (8 MiB); the chain holds per
  // thread a window of 56 rows of each (2 x 112 KiB) and k and v packed for one batch (2 x 128
  // KiB).
  Module two = compile(2);
  Profile profile = two.kernel("attention").profile(qkv(4, 512, 64, 7), oneRun());
  EXPECT_GT(profile.intermediateBytes, 0);
  EXPECT_LT(profile.intermediateBytes, int64_t{2} << 20);
  EXPECT_GT(profile.packedPanelBytes, 0);
  EXPECT_LT(profile.packedPanelBytes, int64_t{1} << 20);
}

} // namespace
