// Row chains (a fused group split around its contractions, run per block of rows) at shapes with
// several blocks, a last partial block, several k blocks of the second product and empty extents:
// they match the interpreter, give the same bits on one and two threads, and keep only windows of
// a block's rows in memory (Kernel::profile's intermediate bytes).
#include "api/Numerics.h"
#include "tdsl/tdsl.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace {

using namespace tdsl;

const char *kSource = R"(
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

Module compile(int threads) {
  JitOptions options;
  options.threads = threads;
  options.diskCache = false;
  return Jit(options).compile(kSource, "row_chains.tdsl");
}

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

std::vector<Tensor> qkv(int64_t b, int64_t t, int64_t e, uint64_t seed) {
  return {Tensor::randn({b, t, e}, DType::F32, seed),
          Tensor::randn({b, t, e}, DType::F32, seed + 1),
          Tensor::randn({b, t, e}, DType::F32, seed + 2)};
}

TEST(RowChain, AttentionAtOddShapes) {
  // Blocks of 56 rows: T = 57 and 100 end in a partial block, T = 300 also sums p·v in two k
  // blocks (through the window of o.sum0); B = 1 splits the blocks over threads, B = 5 the batches.
  Module one = compile(1), two = compile(2);
  uint64_t seed = 1;
  for (const auto &[b, t, e] : std::vector<std::array<int64_t, 3>>{{2, 1, 8},
                                                                   {2, 3, 5},
                                                                   {3, 17, 7},
                                                                   {1, 57, 64},
                                                                   {5, 100, 16},
                                                                   {1, 300, 33},
                                                                   {0, 4, 4},
                                                                   {2, 0, 4},
                                                                   {2, 4, 0}}) {
    SCOPED_TRACE("B=" + std::to_string(b) + ", T=" + std::to_string(t) +
                 ", E=" + std::to_string(e));
    expectMatches(one, two, "attention", qkv(b, t, e, seed));
    expectMatches(one, two, "causal", qkv(b, t, e, seed + 3));
    seed += 6;
  }
}

TEST(RowChain, MlpChainedAndWhole) {
  // Small weights: chained; M = 57, D = F = 300: the weights cost more than the windows save, so
  // the hidden layer is stored whole (the schedule's run-time test), with the same results.
  Module one = compile(1), two = compile(2);
  uint64_t seed = 100;
  for (const auto &[m, d, f] : std::vector<std::array<int64_t, 3>>{
           {1, 1, 1}, {3, 5, 7}, {100, 17, 33}, {130, 64, 600}, {57, 300, 300}, {0, 3, 3}}) {
    SCOPED_TRACE("M=" + std::to_string(m) + ", D=" + std::to_string(d) +
                 ", F=" + std::to_string(f));
    expectMatches(one, two, "mlp",
                  {Tensor::randn({m, d}, DType::F32, seed),
                   Tensor::randn({d, f}, DType::F32, seed + 1),
                   Tensor::randn({f, d}, DType::F32, seed + 2)});
    seed += 3;
  }
}

TEST(RowChain, AttentionKeepsOnlyWindowsInMemory) {
  // Whole scores and probabilities would be 2 x 4 x 512 x 512 floats (8 MiB); the chain holds per
  // thread a window of 56 rows of each (2 x 112 KiB) and k and v packed for one batch (2 x 128
  // KiB).
  Module two = compile(2);
  ProfileOptions options;
  options.runs = 1;
  options.warmup = 0;
  options.roofline = false;
  Profile profile = two.kernel("attention").profile(qkv(4, 512, 64, 7), options);
  EXPECT_GT(profile.intermediateBytes, 0);
  EXPECT_LT(profile.intermediateBytes, int64_t{2} << 20);
}

} // namespace
