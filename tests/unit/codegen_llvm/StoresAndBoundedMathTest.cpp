// Two speed paths of the CPU backend and their contracts: streaming (non-temporal) stores for
// large outputs that the kernel never reads back, and cos of a value known to lie in [-1, 1]
// (cos(cos(x)), cos(tanh(x))) through a short polynomial instead of libmvec's range reduction.
#include "LlvmTestUtil.h"

#include "codegen/llvm/LlvmOptions.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace tdsl::test {
namespace {

Expr callFn(Intrinsic fn, Expr x) { return Call::make(fn, {std::move(x)}); }

/// y = a * 3 in 16 lanes; with `readBack`, z = y + 1 reads y again in the same kernel.
LoweredFunc scaleKernel(bool readBack) {
  Var n = symbolVar("N");
  Var i = loopVar("i");
  Buffer a = makeBuffer("a", DType::F32, {ir::ref(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {ir::ref(n)}, BufferRole::Output);
  Buffer z = makeBuffer("z", DType::F32, {ir::ref(n)}, BufferRole::Output);
  Expr index = Ramp::make(mul(ir::ref(i), i64(16)), i64(1), 16);
  std::vector<Stmt> stores{
      Store::make(y, index, mul(Load::make(a, index), Broadcast::make(floatImm(3.0), 16)))};
  LoweredFunc f;
  f.name = "scale";
  f.params = {a, y};
  if (readBack) {
    stores.push_back(
        Store::make(z, index, add(Load::make(y, index), Broadcast::make(floatImm(1.0), 16))));
    f.params.push_back(z);
  }
  f.symbols = {n};
  f.body = For::make(i, bin(BinaryOp::FloorDiv, ir::ref(n), i64(16)), ForKind::Serial,
                     Block::make(stores));
  return f;
}

TEST(StreamingStores, LargeWriteOnlyOutputsGetNonTemporalStoresAndAFence) {
  std::string ir = codegen::emitLlvmIr(scaleKernel(false), /*optimized=*/false, x86V4());
  EXPECT_EQ(occurrences(ir, "!nontemporal"), 1u) << ir;
  EXPECT_NE(ir.find("@llvm.x86.sse.sfence"), std::string::npos) << ir;
  // The streaming store is aligned to the whole vector; the plain one stays beside it.
  EXPECT_NE(ir.find("align 64, !nontemporal"), std::string::npos) << ir;
  EXPECT_NE(ir.find("store <16 x float> %"), std::string::npos) << ir;
}

TEST(StreamingStores, AnOutputReadBackByTheKernelStaysInCache) {
  std::string ir = codegen::emitLlvmIr(scaleKernel(true), /*optimized=*/false, x86V4());
  // y is loaded again: only z, never read, may stream.
  EXPECT_EQ(occurrences(ir, "!nontemporal"), 1u) << ir;
  EXPECT_NE(ir.find("store <16 x float> %"), std::string::npos);
}

TEST(StreamingStores, ResultsAreTheSameAlignedOrNot) {
  // 4M + 16 f32 outputs (just over 16 MiB): streaming when the address is 64-byte aligned; at an
  // offset of one element every store is plain. Both must give a * 3 exactly.
  const int64_t n = (int64_t{1} << 22) + 16;
  auto kernel = codegen::compileForHost(scaleKernel(false));
  std::vector<float> a(static_cast<size_t>(n));
  std::mt19937 rng(7);
  std::normal_distribution<float> dist;
  for (float &v : a)
    v = dist(rng);
  for (size_t offset : {size_t{0}, size_t{1}}) {
    size_t bytes = (static_cast<size_t>(n) + 16) * sizeof(float);
    std::unique_ptr<float, decltype(&std::free)> memory(
        static_cast<float *>(std::aligned_alloc(64, bytes)), &std::free);
    float *y = memory.get() + offset;
    runKernel(*kernel, {a.data(), y}, {n});
    size_t wrong = 0;
    for (int64_t i = 0; i < n; ++i)
      wrong += y[i] != a[static_cast<size_t>(i)] * 3.0f;
    EXPECT_EQ(wrong, 0u) << "offset " << offset;
  }
}

/// s = sin(x) and c = cos(sin(x)), 16 lanes.
LoweredFunc cosOfSinKernel() {
  Var n = symbolVar("N");
  Buffer x = makeBuffer("x", DType::F32, {ir::ref(n)}, BufferRole::Input);
  Buffer s = makeBuffer("s", DType::F32, {ir::ref(n)}, BufferRole::Output);
  Buffer c = makeBuffer("c", DType::F32, {ir::ref(n)}, BufferRole::Output);
  return elementwiseKernel(
      "cos_of_sin", {x},
      {{s, [](const std::vector<Expr> &v) { return callFn(Intrinsic::Sin, v[0]); }},
       {c,
        [](const std::vector<Expr> &v) {
          return callFn(Intrinsic::Cos, callFn(Intrinsic::Sin, v[0]));
        }}},
      16, n);
}

TEST(BoundedCos, CosOfABoundedValueCallsNoLibmvecCos) {
  std::string ir = codegen::emitLlvmIr(cosOfSinKernel(), /*optimized=*/false, x86V4());
  EXPECT_EQ(occurrences(ir, "v_cosf("), 0u) << ir;
  EXPECT_GE(occurrences(ir, "v_sinf("), 2u) << ir;
  EXPECT_GE(occurrences(ir, "@llvm.fma.v16f32("), 5u) << ir;
}

TEST(BoundedCos, CosOfAnUnboundedValueStillCallsLibmvec) {
  Var n = symbolVar("N");
  Buffer x = makeBuffer("x", DType::F32, {ir::ref(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {ir::ref(n)}, BufferRole::Output);
  std::string ir = codegen::emitLlvmIr(
      elementwiseKernel("cos_of_exp", {x},
                        {{y,
                          [](const std::vector<Expr> &v) {
                            return callFn(Intrinsic::Cos, callFn(Intrinsic::Exp, v[0]));
                          }}},
                        16, n),
      /*optimized=*/false, x86V4());
  EXPECT_NE(ir.find("v_cosf("), std::string::npos) << ir;
}

/// ulps of `got` from the exact `exact`, for f32 results in (0.5, 1] (cos on [-1, 1] >= 0.54).
double ulps(float got, long double exact) {
  long double ulp = std::ldexp(1.0L, -24); // The ulp of [0.5, 1); cos(1) = 0.54.
  return static_cast<double>(fabsl(static_cast<long double>(got) - exact) / ulp);
}

// The accuracy of the polynomial on its actual inputs: c is compared with cosl of the same s
// (sin is the same libmvec call, same bits, in both outputs). Every f32 in [-1, 1] is reached
// densely by s = sin(x) for x in [-pi/2, pi/2]; the edges and NaN are checked exactly.
TEST(BoundedCos, WithinOneUlpOfTheExactCosine) {
  const size_t samples = 1 << 20;
  std::vector<float> x;
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(-1.5707963267948966, 1.5707963267948966);
  for (float edge : {0.0f, -0.0f, 1.5707964f, -1.5707964f, 1e-20f, -1e-20f, NAN, INFINITY})
    x.push_back(edge);
  while (x.size() < samples)
    x.push_back(static_cast<float>(u(rng)));
  const int64_t n = static_cast<int64_t>(x.size());
  auto kernel = codegen::compileForHost(cosOfSinKernel());
  std::vector<float> s(x.size()), c(x.size());
  runKernel(*kernel, {x.data(), s.data(), c.data()}, {n});
  double worst = 0, at = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(s[i])) {
      EXPECT_TRUE(std::isnan(c[i])) << "x = " << x[i];
      continue;
    }
    double e = ulps(c[i], cosl(static_cast<long double>(s[i])));
    if (e > worst) {
      worst = e;
      at = s[i];
    }
  }
  EXPECT_LE(worst, 1.0) << "at cos(" << at << ")";
  RecordProperty("max_ulp", std::to_string(worst));
  EXPECT_EQ(c[0], 1.0f); // cos(sin(0)) = cos(0) exactly.
}

} // namespace
} // namespace tdsl::test
