// buildLoopNest: the printed loop IR of hand-built kernels (one serial nest per definition, heap
// intermediates, stack accumulators with type-correct identities, predicated `??` loads), and
// lowerKernel: the passes in order, the PassLog hooks, the verifier between steps.
#include "SampleKernels.h"
#include "ir/IRPrinter.h"
#include "ir/Verifier.h"
#include "passes/Pipeline.h"
#include "support/Check.h"

#include <gtest/gtest.h>

namespace {

using namespace tdsl;
using namespace tdsl::testing_passes;

std::string loops(const Kernel &k) {
  LoweredFunc f = passes::buildLoopNest(passes::normalize(k));
  verify(f);
  return toString(f);
}

TEST(BuildLoopNest, Matmul) {
  EXPECT_EQ(loops(matmulKernel()),
            "func matmul(a: f32[M, K], b: f32[K, N], c: f32[M, N]) symbols(M, K, N)\n"
            "  for i in [0, M) serial\n"
            "    for j in [0, N) serial\n"
            "      allocate c.acc: f32[1] stack\n"
            "        c.acc[0] = 0.0\n"
            "        for k in [0, K) serial\n"
            "          c.acc[0] = c.acc[0] + a[i * K + k] * b[k * N + j]\n"
            "        c[i * N + j] = c.acc[0]\n");
}

TEST(BuildLoopNest, SoftmaxIntermediatesWrapTheRestOfTheProgram) {
  EXPECT_EQ(loops(softmaxKernel()), "func softmax(x: f32[N, D], y: f32[N, D]) symbols(N, D)\n"
                                    "  allocate e.max0: f32[N] heap\n"
                                    "    for i in [0, N) serial\n"
                                    "      allocate e.max0.acc: f32[1] stack\n"
                                    "        e.max0.acc[0] = -inf\n"
                                    "        for k in [0, D) serial\n"
                                    "          e.max0.acc[0] = max(e.max0.acc[0], x[i * D + k])\n"
                                    "        e.max0[i] = e.max0.acc[0]\n"
                                    "    allocate e: f32[N, D] heap\n"
                                    "      for i in [0, N) serial\n"
                                    "        for j in [0, D) serial\n"
                                    "          e[i * D + j] = exp(x[i * D + j] - e.max0[i])\n"
                                    "      allocate y.sum0: f32[N] heap\n"
                                    "        for i in [0, N) serial\n"
                                    "          allocate y.sum0.acc: f32[1] stack\n"
                                    "            y.sum0.acc[0] = 0.0\n"
                                    "            for k in [0, D) serial\n"
                                    "              y.sum0.acc[0] = y.sum0.acc[0] + e[i * D + k]\n"
                                    "            y.sum0[i] = y.sum0.acc[0]\n"
                                    "        for i in [0, N) serial\n"
                                    "          for j in [0, D) serial\n"
                                    "            y[i * D + j] = e[i * D + j] / y.sum0[i]\n");
}

TEST(BuildLoopNest, FreshLoopVariablesPerDefinition) {
  LoweredFunc f = passes::buildLoopNest(passes::normalize(softmaxKernel()));
  const Allocate *outer = as<Allocate>(f.body);
  ASSERT_NE(outer, nullptr);
  const Block *block = as<Block>(outer->body);
  ASSERT_NE(block, nullptr);
  const For *first = as<For>(block->stmts[0]);
  const Allocate *second = as<Allocate>(block->stmts[1]);
  ASSERT_TRUE(first && second);
  const For *secondLoop =
      as<For>(as<Block>(second->body) ? as<Block>(second->body)->stmts[0] : second->body);
  ASSERT_NE(secondLoop, nullptr);
  EXPECT_EQ(first->var->name, secondLoop->var->name);
  EXPECT_NE(first->var, secondLoop->var);
  EXPECT_EQ(first->var->kind, VarKind::Loop);
}

TEST(BuildLoopNest, F16ReductionAccumulatesInF32AndRoundsOnce) {
  EXPECT_EQ(loops(rowsum16Kernel()), "func rowsum16(x: f16[N, D], y: f16[N]) symbols(N, D)\n"
                                     "  for i in [0, N) serial\n"
                                     "    allocate y.acc: f32[1] stack\n"
                                     "      y.acc[0] = 0.0\n"
                                     "      for k in [0, D) serial\n"
                                     "        y.acc[0] = y.acc[0] + f32(x[i * D + k])\n"
                                     "      y[i] = f16(y.acc[0])\n");
}

TEST(BuildLoopNest, FallbacksBecomePredicatedLoadsCheckingOnlyWhatCanFail) {
  // i - 1 can only fall below 0 and i + 1 can only pass H: one check each.
  EXPECT_EQ(loops(blur3Kernel()),
            "func blur3(x: f32[H, W], y: f32[H, W]) symbols(H, W)\n"
            "  for i in [0, H) serial\n"
            "    for j in [0, W) serial\n"
            "      y[i * W + j] = (select(0 <= i - 1, x[(i - 1) * W + j] if (0 <= i - 1), 0.0) + "
            "x[i * W + j] + select(i + 1 < H, x[(i + 1) * W + j] if (i + 1 < H), 0.0)) / 3.0\n");
}

TEST(BuildLoopNest, FallbackWithUnknownIndexChecksBothBounds) {
  // y[i] = x[2 * i] ?? -1.0, and z[i] = x[i] ?? 0.0 over a loop shorter than x.
  KernelBuilder b("gather");
  Expr N = b.sym("N"), M = b.sym("M");
  Buffer x = b.input("x", DType::F32, {N});
  Buffer y = b.output("y", DType::F32, {N});
  Buffer z = b.output("z", DType::F32, {M});
  Var i = idx("i"), i2 = idx("i");
  b.def(y, {i}, at(x, {mul(i64(2), v(i))}, f32(-1.0)));
  b.def(z, {i2}, at(x, {v(i2)}, f32(0.0)));
  EXPECT_EQ(loops(b.kernel),
            "func gather(x: f32[N], y: f32[N], z: f32[M]) symbols(N, M)\n"
            "  for i in [0, N) serial\n"
            "    y[i] = select(0 <= 2 * i and 2 * i < N, x[2 * i] if (0 <= 2 * i and 2 * i < N), "
            "-1.0)\n"
            "  for i in [0, M) serial\n"
            "    z[i] = select(i < N, x[i] if (i < N), 0.0)\n");
}

TEST(BuildLoopNest, ScalarIntermediateIsIndexedAtZero) {
  EXPECT_EQ(loops(normalizeTotalKernel()), "func normalize_total(x: f32[N], y: f32[N]) symbols(N)\n"
                                           "  allocate y.sum0: f32 heap\n"
                                           "    allocate y.sum0.acc: f32[1] stack\n"
                                           "      y.sum0.acc[0] = 0.0\n"
                                           "      for k in [0, N) serial\n"
                                           "        y.sum0.acc[0] = y.sum0.acc[0] + x[k]\n"
                                           "      y.sum0[0] = y.sum0.acc[0]\n"
                                           "    for i in [0, N) serial\n"
                                           "      y[i] = x[i] / y.sum0[0]\n");
}

TEST(BuildLoopNest, BoolAndIntegerIdentities) {
  EXPECT_EQ(loops(boolReduceKernel()),
            "func anyall(x: i64[N, D], any: bool[N], all: bool[N], top: i64[N], low: i64[N]) "
            "symbols(N, D)\n"
            "  for i in [0, N) serial\n"
            "    allocate any.acc: bool[1] stack\n"
            "      any.acc[0] = false\n"
            "      for k in [0, D) serial\n"
            "        any.acc[0] = any.acc[0] or x[i * D + k] > 0\n"
            "      any[i] = any.acc[0]\n"
            "  for i in [0, N) serial\n"
            "    allocate all.acc: bool[1] stack\n"
            "      all.acc[0] = true\n"
            "      for k in [0, D) serial\n"
            "        all.acc[0] = all.acc[0] and x[i * D + k] > 0\n"
            "      all[i] = all.acc[0]\n"
            "  for i in [0, N) serial\n"
            "    allocate top.acc: i64[1] stack\n"
            "      top.acc[0] = -9223372036854775808\n"
            "      for k in [0, D) serial\n"
            "        top.acc[0] = max(top.acc[0], x[i * D + k])\n"
            "      top[i] = top.acc[0]\n"
            "  for i in [0, N) serial\n"
            "    allocate low.acc: i64[1] stack\n"
            "      low.acc[0] = 9223372036854775807\n"
            "      for k in [0, D) serial\n"
            "        low.acc[0] = min(low.acc[0], x[i * D + k])\n"
            "      low[i] = low.acc[0]\n");
}

TEST(BuildLoopNest, I32MaxStartsAtTheMostNegativeI32) {
  KernelBuilder b("imax");
  Expr N = b.sym("N");
  Buffer x = b.input("x", DType::I32, {N});
  Buffer y = b.output("y", DType::I32, {});
  Var k = idx("k");
  b.def(y, {}, reduce(ReduceOp::Max, {{k, N}}, at(x, {v(k)})));
  EXPECT_EQ(loops(b.kernel), "func imax(x: i32[N], y: i32) symbols(N)\n"
                             "  allocate y.acc: i32[1] stack\n"
                             "    y.acc[0] = -2147483648:i32\n"
                             "    for k in [0, N) serial\n"
                             "      y.acc[0] = max(y.acc[0], x[k])\n"
                             "    y[0] = y.acc[0]\n");
}

TEST(BuildLoopNest, MeanDividesByThePointCount) {
  std::string text = loops(reduceKindsKernel());
  EXPECT_NE(text.find("      avg[i] = avg.acc[0] / f64(A * B)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("        for b in [0, B) serial\n"
                      "          s.acc[0] = s.acc[0] + x[(i * A + a) * B + b]\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("p.acc[0] = 1.0:f64\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lo.acc[0] = inf:f64\n"), std::string::npos) << text;
}

TEST(BuildLoopNest, ParamsAreInputsThenOutputs) {
  LoweredFunc f = passes::buildLoopNest(layernormKernel());
  Kernel k = layernormKernel();
  ASSERT_EQ(f.params.size(), 4u);
  EXPECT_EQ(f.params[0]->name, "x");
  EXPECT_EQ(f.params[3]->name, "y");
  EXPECT_EQ(f.params[3]->role, BufferRole::Output);
  ASSERT_EQ(f.symbols.size(), 2u);
  EXPECT_EQ(f.name, "layernorm3");
}

TEST(BuildLoopNest, RejectsAKernelThatIsNotNormalized) {
  EXPECT_THROW((void)passes::buildLoopNest(softmaxKernel()), InternalError);
}

// ---------------------------------------------------------------------------------------------
// lowerKernel.

TEST(LowerKernel, RunsThePassesInOrderAndLogsEach) {
  std::vector<std::string> seen;
  passes::PassLog log;
  log.afterTensorPass = [&](const std::string &pass, const Kernel &k) {
    seen.push_back(pass + ":" + std::to_string(k.defs.size()));
  };
  log.afterLoopPass = [&](const std::string &pass, const LoweredFunc &) { seen.push_back(pass); };
  LoweredFunc f = passes::lowerKernel(softmaxKernel(), log);
  // fuse: the CPU's inlining decisions (softmax keeps all four definitions).
  EXPECT_EQ(seen,
            (std::vector<std::string>{"normalize:4", "fuse:4", "build-loop-nest", "simplify"}));
  verify(f);
}

TEST(LowerKernel, SimplifiesConstantShapes) {
  // x: f32[4, 1]; y[i, j] = x[i, j - 1] ?? 2.0: the loop over j has one iteration and j - 1 is
  // always out of bounds, so the whole select folds to the fallback.
  KernelBuilder b("consts");
  Buffer x = b.input("x", DType::F32, {i64(4), i64(1)});
  Buffer y = b.output("y", DType::F32, {i64(4), i64(1)});
  Var i = idx("i"), j = idx("j");
  b.def(y, {i, j}, mul(at(x, {v(i), sub(v(j), i64(1))}, f32(2.0)), f32(1.0)));
  EXPECT_EQ(toString(passes::lowerKernel(b.kernel)), "func consts(x: f32[4, 1], y: f32[4, 1])\n"
                                                     "  for i in [0, 4) serial\n"
                                                     "    y[i] = 2.0\n");
}

TEST(LowerKernel, ZeroSizedDefinitionDisappears) {
  KernelBuilder b("empty");
  Expr N = b.sym("N");
  Buffer x = b.input("x", DType::F32, {N});
  Buffer t = b.temp("t", DType::F32, {i64(0)});
  Buffer y = b.output("y", DType::F32, {N});
  Var i = idx("i"), j = idx("j");
  b.def(t, {i}, f32(1.0));
  b.def(y, {j}, at(x, {v(j)}));
  LoweredFunc built = passes::buildLoopNest(passes::normalize(b.kernel));
  built.body = passes::simplify(built.body);
  EXPECT_EQ(toString(built), "func empty(x: f32[N], y: f32[N]) symbols(N)\n"
                             "  allocate t: f32[0] heap\n"
                             "    for j in [0, N) serial\n"
                             "      y[j] = x[j]\n");
  // lowerKernel drops the unused t altogether (the CPU's fusion removes what nothing reads).
  EXPECT_EQ(toString(passes::lowerKernel(b.kernel)), "func empty(x: f32[N], y: f32[N]) symbols(N)\n"
                                                     "  for j in [0, N) serial\n"
                                                     "    y[j] = x[j]\n");
}

TEST(LowerKernel, InvalidInputIsReportedAsSuch) {
  KernelBuilder b("bad");
  Expr N = b.sym("N");
  Buffer x = b.input("x", DType::F32, {N});
  b.output("y", DType::F32, {N}); // Never defined.
  try {
    (void)passes::lowerKernel(b.kernel);
    FAIL() << "expected an InternalError";
  } catch (const InternalError &e) {
    EXPECT_NE(std::string(e.what()).find("given to lowerKernel"), std::string::npos) << e.what();
  }
}

} // namespace
