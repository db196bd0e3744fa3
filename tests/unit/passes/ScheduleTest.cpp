// schedule and lowerScheduled: the decisions for AVX-512 and AVX2 targets (vector axis, lanes,
// accumulators, parallel loops and their run-time switch, row blocks, local places), their
// printed form, and the loop nests the scheduled lowering builds from them.
#include "passes/Schedule.h"
#include "SampleKernels.h"
#include "ir/IRPrinter.h"
#include "ir/IRVisitor.h"
#include "ir/Verifier.h"
#include "passes/Pipeline.h"

#include <gtest/gtest.h>

namespace {

using namespace tdsl;
using namespace tdsl::testing_passes;
using passes::CpuTarget;
using passes::LocalPlace;
using passes::VectorAxis;

CpuTarget avx512(int threads = 4) {
  CpuTarget t = passes::cpuTargetForLevel("x86-64-v4");
  t.threads = threads;
  return t;
}
CpuTarget avx2(int threads = 4) {
  CpuTarget t = passes::cpuTargetForLevel("x86-64-v3");
  t.threads = threads;
  return t;
}

passes::ScheduledKernel scheduled(const Kernel &k, const CpuTarget &t) {
  verify(k);
  return passes::scheduleKernel(k, t);
}

/// A kernel y[i, j] = f(x[i, j]) (or, with `reduce`, y[i] = sum(f(x[i, k]) for k)) over the
/// given dims, in `dtype`; f = exp when `costly`, else x * 2.
Kernel simpleKernel(std::vector<Expr> dims, DType dtype, bool reduceRows, bool costly = false) {
  KernelBuilder b("simple");
  Buffer x = b.input("x", dtype, dims);
  std::vector<Expr> outDims = dims;
  if (reduceRows)
    outDims.pop_back();
  Buffer y = b.output("y", dtype, outDims);
  Var i = idx("i"), j = idx("j");
  auto f = [&](Expr e) {
    return costly ? call(Intrinsic::Exp, e) : mul(e, FloatImm::make(Type::scalar(dtype), 2.0));
  };
  if (reduceRows)
    b.def(y, {i}, reduce(ReduceOp::Sum, {{j, dims[1]}}, f(at(x, {v(i), v(j)}))));
  else
    b.def(y, {i, j}, f(at(x, {v(i), v(j)})));
  return b.kernel;
}

Expr symbol(const std::string &name) {
  return VarRef::make(makeVar(name, Type::i64(), VarKind::Symbol));
}

/// Kernel symbols for literal-free dims built with `symbol`.
Kernel withSymbols(Kernel k) {
  for (const Buffer &b : k.inputs)
    for (const Expr &d : b->shape)
      if (const VarRef *r = as<VarRef>(d)) {
        bool known = false;
        for (const Var &s : k.symbols)
          known |= s == r->var;
        if (!known)
          k.symbols.push_back(r->var);
      }
  return k;
}

TEST(CpuTargetLevels, NamedLevelsAreFixed) {
  CpuTarget v4 = passes::cpuTargetForLevel("x86-64-v4");
  EXPECT_EQ(v4.name, "x86-64-v4");
  EXPECT_EQ(v4.vectorBits, 512);
  EXPECT_EQ(v4.lanes(4), 16);
  CpuTarget v3 = passes::cpuTargetForLevel("x86-64-v3");
  EXPECT_EQ(v3.name, "x86-64-v3");
  EXPECT_EQ(v3.lanes(4), 8);
  EXPECT_EQ(v3.lanes(8), 4);
  EXPECT_EQ(passes::cpuTargetForLevel("pentium").name, "");
}

TEST(Schedule, SoftmaxOnAvx512) {
  passes::ScheduledKernel s = scheduled(softmaxKernel(), avx512());
  ASSERT_EQ(s.schedule.groups.size(), 1u);
  const passes::GroupSchedule &g = s.schedule.groups[0];
  ASSERT_EQ(g.members.size(), 4u); // e.max0, e, y.sum0, y
  EXPECT_EQ(g.members[0].vector, VectorAxis::Reduction);
  EXPECT_EQ(g.members[0].lanes, 64); // 4 accumulators of 16 lanes.
  EXPECT_EQ(g.members[1].vector, VectorAxis::Spatial);
  EXPECT_EQ(g.members[1].lanes, 16); // exp: one vector width.
  EXPECT_EQ(g.members[2].lanes, 64);
  EXPECT_EQ(g.members[3].vector, VectorAxis::Spatial);
  EXPECT_EQ(g.members[0].place, LocalPlace::Stack);
  EXPECT_EQ(g.members[1].place, LocalPlace::Heap);
  EXPECT_EQ(g.members[3].place, LocalPlace::None);
  EXPECT_EQ(g.sharedLanes, 0);
  // Shapes are symbols: parallel only when the work turns out large, at run time.
  EXPECT_TRUE(g.parallel);
  ASSERT_NE(g.parallelIf, nullptr);
  EXPECT_EQ(toString(g.parallelIf), "N * D * 33 >= 262144");
  ASSERT_NE(g.rowsPerBlock, nullptr);
  EXPECT_EQ(toString(g.rowsPerBlock), "max(1, min(64, 524288 // (D * 12 + 8)))");
}

TEST(Schedule, SoftmaxOnAvx2HasHalfTheLanesAndSmallerBlocks) {
  passes::ScheduledKernel s = scheduled(softmaxKernel(), avx2());
  const passes::GroupSchedule &g = s.schedule.groups[0];
  EXPECT_EQ(g.members[0].lanes, 32);
  EXPECT_EQ(g.members[1].lanes, 8);
  EXPECT_EQ(toString(g.rowsPerBlock), "max(1, min(64, 262144 // (D * 12 + 8)))");
}

TEST(Schedule, PrintsOneLinePerGroupAndMember) {
  passes::ScheduledKernel s = scheduled(softmaxKernel(), avx512());
  EXPECT_EQ(passes::toString(s.fused, s.schedule),
            "schedule softmax for x86-64-v4: 512-bit vectors, 4 threads, L2 1024 KiB\n"
            "  group 0 (e.max0, e, y.sum0, y): parallel over i when N * D * 33 >= 262144 (shapes "
            "known at run time), else serial; blocks of max(1, min(64, 524288 // (D * 12 + 8))) "
            "rows (half of L2 1024 KiB per block, at most 64): a heap slice per block\n"
            "    e.max0: vectorize reduction k by 16: reads are contiguous in k but x is strided "
            "in i; 4 accumulators of 16 lanes hide the add latency; local: stack\n"
            "    e: vectorize j by 16: stores are contiguous in j; local: heap\n"
            "    y.sum0: vectorize reduction k by 16: reads are contiguous in k but e is strided "
            "in i; 4 accumulators of 16 lanes hide the add latency; local: stack\n"
            "    y: vectorize j by 16: stores are contiguous in j\n");
}

TEST(Schedule, OneThreadNeverRunsInParallel) {
  passes::ScheduledKernel s = scheduled(softmaxKernel(), avx512(1));
  EXPECT_FALSE(s.schedule.groups[0].parallel);
  EXPECT_EQ(s.schedule.groups[0].parallelReason, "serial: one thread");
}

TEST(Schedule, KnownShapesDecideParallelismAtCompileTime) {
  Kernel small = simpleKernel({i64(64), i64(64)}, DType::F32, false);
  passes::ScheduledKernel s = scheduled(small, avx512());
  EXPECT_FALSE(s.schedule.groups[0].parallel);
  EXPECT_EQ(s.schedule.groups[0].parallelReason, "serial: work 12288 < 262144");

  Kernel big = simpleKernel({i64(1024), i64(1024)}, DType::F32, false);
  s = scheduled(big, avx512());
  EXPECT_TRUE(s.schedule.groups[0].parallel);
  EXPECT_EQ(s.schedule.groups[0].parallelIf, nullptr);
  EXPECT_EQ(s.schedule.groups[0].parallelReason, "parallel over i: work 3145728 >= 262144");
}

TEST(Schedule, ElementwiseGroupsVectorizeTheInnermostSharedLoop) {
  Kernel k = withSymbols(simpleKernel({symbol("N"), symbol("D")}, DType::F32, false));
  passes::ScheduledKernel s = scheduled(k, avx512());
  EXPECT_EQ(s.schedule.groups[0].sharedLanes, 16);
  EXPECT_EQ(s.schedule.groups[0].sharedReason,
            "vectorize j by 16: elementwise, stores contiguous in j");
  s = scheduled(k, avx2());
  EXPECT_EQ(s.schedule.groups[0].sharedLanes, 8);
}

TEST(Schedule, LanesFollowTheWidestElement) {
  Kernel k = withSymbols(simpleKernel({symbol("N"), symbol("D")}, DType::F64, false));
  EXPECT_EQ(scheduled(k, avx512()).schedule.groups[0].sharedLanes, 8);
  EXPECT_EQ(scheduled(k, avx2()).schedule.groups[0].sharedLanes, 4);
  // f16 is computed in f32: 16 lanes, and the reduction accumulates 4 vectors of them.
  Kernel half = rowsum16Kernel();
  passes::ScheduledKernel s = scheduled(half, avx512());
  EXPECT_EQ(s.schedule.groups[0].members[0].vector, VectorAxis::Reduction);
  EXPECT_EQ(s.schedule.groups[0].members[0].lanes, 64);
}

TEST(Schedule, TranscendentalReductionsUseOneAccumulator) {
  Kernel k = withSymbols(simpleKernel({symbol("N"), symbol("D")}, DType::F32, true, true));
  passes::ScheduledKernel s = scheduled(k, avx512());
  EXPECT_EQ(s.schedule.groups[0].members[0].vector, VectorAxis::Reduction);
  EXPECT_EQ(s.schedule.groups[0].members[0].lanes, 16);
}

TEST(Schedule, SmallConstantExtentsStayScalar) {
  Kernel k = withSymbols(simpleKernel({symbol("N"), i64(3)}, DType::F32, false));
  passes::ScheduledKernel s = scheduled(k, avx512());
  EXPECT_EQ(s.schedule.groups[0].sharedLanes, 0);
  EXPECT_EQ(s.schedule.groups[0].sharedReason, "not vectorized: extent 3 is below 16 lanes");
  Kernel r = withSymbols(simpleKernel({symbol("N"), i64(40)}, DType::F32, true));
  s = scheduled(r, avx512());
  EXPECT_EQ(s.schedule.groups[0].members[0].lanes, 16); // 40 < 4 * 16: one accumulator.
}

TEST(Schedule, MatmulVectorizesItsColumnsWithTheReductionInside) {
  passes::ScheduledKernel s = scheduled(matmulKernel(), avx512());
  const passes::MemberSchedule &c = s.schedule.groups[0].members[0];
  EXPECT_EQ(c.vector, VectorAxis::Spatial);
  // b is strided along k: the accumulators of a strip of 4096 columns live in L1.
  EXPECT_EQ(c.lanes, 16);
  EXPECT_EQ(c.strip, 4096);
  EXPECT_EQ(s.schedule.groups[0].parallelReason,
            "parallel over i when M * N * K * 5 >= 262144 (shapes known at run time), else "
            "serial");
}

TEST(Schedule, ReductionsToOneValueOfOneAxisStaySerial) {
  passes::ScheduledKernel s = scheduled(normalizeTotalKernel(), avx512());
  ASSERT_EQ(s.schedule.groups.size(), 2u);
  EXPECT_FALSE(s.schedule.groups[0].parallel);
  EXPECT_EQ(s.schedule.groups[0].parallelReason,
            "serial: no loop to split (a reduction to one value of one axis, or not vectorized "
            "along its last, stays serial)");
}

/// t = sum(x[i, j] for i, j)
Kernel totalOfTwoAxesKernel() {
  KernelBuilder b("total2");
  Expr N = b.sym("N"), D = b.sym("D");
  Buffer x = b.input("x", DType::F32, {N, D});
  Buffer t = b.output("t", DType::F32, {});
  Var i = idx("i"), j = idx("j");
  b.def(t, {}, reduce(ReduceOp::Sum, {{i, N}, {j, D}}, at(x, {v(i), v(j)})));
  return b.kernel;
}

TEST(Schedule, ReductionsToOneValueOfSeveralAxesSplitTheirFirstIntoChunks) {
  passes::ScheduledKernel s = scheduled(totalOfTwoAxesKernel(), avx512(4));
  ASSERT_EQ(s.schedule.groups.size(), 1u);
  const passes::GroupSchedule &g = s.schedule.groups[0];
  EXPECT_TRUE(g.parallel);
  EXPECT_EQ(g.members[0].chunks, 32);
  EXPECT_EQ(g.parallelReason, "parallel over 32 chunks of i when N * D * 3 >= 262144 (shapes "
                              "known at run time), else serial");
  // The same split on one thread, so that the result's bits do not depend on the threads.
  EXPECT_EQ(scheduled(totalOfTwoAxesKernel(), avx512(1)).schedule.groups[0].members[0].chunks, 32);
}

// ---------------------------------------------------------------------------------------------
// Scheduled lowering.

struct LoopCounts : IRVisitor {
  int parallel = 0, vectorized = 0, ifs = 0, heap = 0, stack = 0, lets = 0;
  std::vector<int> lanes;

protected:
  void visitFor(const For *n) override {
    parallel += n->kind == ForKind::Parallel;
    if (n->kind == ForKind::Vectorized) {
      ++vectorized;
      lanes.push_back(static_cast<int>(as<IntImm>(n->extent)->value));
    }
    IRVisitor::visitFor(n);
  }
  void visitIfThenElse(const IfThenElse *n) override {
    ++ifs;
    IRVisitor::visitIfThenElse(n);
  }
  void visitAllocate(const Allocate *n) override {
    heap += n->scope == MemoryScope::Heap;
    stack += n->scope == MemoryScope::Stack;
    IRVisitor::visitAllocate(n);
  }
  void visitLetStmt(const LetStmt *n) override {
    ++lets;
    IRVisitor::visitLetStmt(n);
  }
};

LoopCounts lowered(const Kernel &k, const CpuTarget &t, std::string *text = nullptr) {
  passes::ScheduledKernel s = scheduled(k, t);
  LoweredFunc f = passes::lowerScheduled(s.fused, s.schedule);
  verify(f);
  if (text)
    *text = toString(passes::simplify(f.body));
  LoopCounts c;
  c.visit(f.body);
  return c;
}

TEST(LowerScheduled, AChunkedTotalReducesEachChunkInParallelThenCombinesThemInOrder) {
  std::string text;
  LoopCounts c = lowered(totalOfTwoAxesKernel(), avx512(2), &text);
  EXPECT_EQ(c.parallel, 1);
  EXPECT_EQ(c.heap, 2); // The chunks' partial sums, in the parallel and the serial copy.
  EXPECT_NE(text.find("allocate t.parts: f32[2048] heap\n"
                      "    for t.chunk in [0, 32) parallel\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("for i in [0, max(0, min((N + 31) // 32, N - t.chunk * ((N + 31) // 32)))) "
                      "serial\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("for t.chunk in [0, 32) serial\n"), std::string::npos) << text;
}

TEST(LowerScheduled, SoftmaxIsOneBlockedRowNestInParallelAndSerialCopies) {
  std::string text;
  LoopCounts c = lowered(softmaxKernel(), avx512(), &text);
  EXPECT_EQ(c.parallel, 1);
  EXPECT_EQ(c.heap, 2); // The row of e, once in each copy.
  // Per copy: max (init, update), e, sum (init, update), y.
  EXPECT_EQ(c.vectorized, 12);
  EXPECT_EQ(text.rfind("if (N * D * 33 >= 262144)\n", 0), 0u) << text;
  EXPECT_NE(text.find("  let i.rows = max(1, min(64, 524288 // (D * 12 + 8)))\n"
                      "    for i.block in [0, (N + i.rows - 1) // i.rows) parallel\n"
                      "      allocate e: f32[D] heap\n"
                      "        for i in [0, min(i.rows, N - i.block * i.rows)) serial\n"
                      "          allocate e.max0: f32 stack\n"
                      "            allocate y.sum0: f32 stack\n"
                      "              allocate e.max0.acc: f32[64] stack\n"
                      "                for k.inner in [0, 64) vectorized\n"
                      "                  e.max0.acc[k.inner] = -inf\n"
                      "                for k.outer in [0, (D + 63) // 64) serial\n"
                      "                  for k.inner in [0, 64) vectorized\n"
                      "                    if (k.outer * 64 + k.inner < D)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("e.max0[0] = vector_max(e.max0.acc[ramp(0, 1, 64)])"), std::string::npos)
      << text;
  EXPECT_NE(text.find("e[j.outer * 16 + j.inner] = exp(x[(i.block * i.rows + i) * D + "
                      "j.outer * 16 + j.inner] - e.max0[0])"),
            std::string::npos)
      << text;
}

TEST(LowerScheduled, KnownMultipleOfTheLanesNeedsNoGuard) {
  std::string text;
  LoopCounts c = lowered(simpleKernel({i64(1024), i64(1024)}, DType::F32, false), avx512(), &text);
  EXPECT_EQ(c.parallel, 1);
  EXPECT_EQ(c.ifs, 0);
  EXPECT_EQ(c.lanes, std::vector<int>{16});
  EXPECT_EQ(text, "for i in [0, 1024) parallel\n"
                  "  for j.outer in [0, 64) serial\n"
                  "    for j.inner in [0, 16) vectorized\n"
                  "      y[i * 1024 + j.outer * 16 + j.inner] = "
                  "x[i * 1024 + j.outer * 16 + j.inner] * 2.0\n");
}

// A matmul goes to the tiling pass (tests/lit/tile/ checks its nest): packed panels (A only when
// its rows are a multiple of 4 KiB apart), a block of 14 x 32 accumulators and one of 8 x 32 for
// a short last panel, not the generic vector accumulator per block of columns.
TEST(LowerScheduled, MatmulIsLoweredByTheTilingPass) {
  std::string text;
  LoopCounts c = lowered(matmulKernel(), avx512(1), &text);
  EXPECT_EQ(c.parallel, 0);
  EXPECT_NE(text.find("allocate tile.acc: f32[448] stack"), std::string::npos) << text;
  EXPECT_NE(text.find("allocate tile.acc: f32[256] stack"), std::string::npos) << text;
  EXPECT_NE(text.find("let a.in.place = K * 4 % 4096 != 0"), std::string::npos) << text;
  EXPECT_NE(text.find("allocate tile.a: f32[select(a.in.place, 1, m.panels * 14 * k.step)] heap"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("c.acc"), std::string::npos) << text;
}

TEST(LowerScheduled, LayernormMeansDivideTheVectorSum) {
  std::string text;
  LoopCounts c = lowered(layernormKernel(), avx2(1), &text);
  EXPECT_EQ(c.parallel, 0);
  EXPECT_EQ(c.heap, 0);
  EXPECT_NE(text.find("mu[0] = vector_sum(mu.acc[ramp(0, 1, 32)]) / f32(D)"), std::string::npos)
      << text;
  EXPECT_NE(text.find("for j.inner in [0, 8) vectorized"), std::string::npos) << text;
}

TEST(LowerScheduled, F16ReductionRoundsOnceAfterTheVectorSum) {
  std::string text;
  lowered(rowsum16Kernel(), avx512(1), &text);
  EXPECT_NE(text.find("y[i] = f16(vector_sum(y.acc[ramp(0, 1, 64)]))"), std::string::npos) << text;
}

TEST(LowerScheduled, StencilDefaultsStayPredicated) {
  std::string text;
  lowered(blur3Kernel(), avx512(1), &text);
  // The row above is checked; the column is in range by the loop and its guard.
  EXPECT_NE(text.find("x[(i - 1) * W + j.outer * 16 + j.inner] if (0 <= i - 1)"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("0 <= j.outer"), std::string::npos) << text;
}

TEST(LowerKernelForCpu, RunsEveryPassInOrderWithVerifiers) {
  std::vector<std::string> passes;
  passes::PassLog log;
  log.afterTensorPass = [&](const std::string &name, const Kernel &) { passes.push_back(name); };
  log.afterLoopPass = [&](const std::string &name, const LoweredFunc &f) {
    verify(f);
    passes.push_back(name);
  };
  LoweredFunc f = passes::lowerKernel(softmaxKernel(), avx512(), log);
  EXPECT_EQ(passes,
            (std::vector<std::string>{"normalize", "fuse", "lower-scheduled", "simplify",
                                      "vectorize", "simplify", "hoist-gather-indices",
                                      "hoist-allocations", "transpose-in-registers", "simplify"}));
  // After vectorize, the lanes are vectors.
  EXPECT_NE(toString(f).find("ramp("), std::string::npos);
  EXPECT_EQ(toString(f).find(" vectorized"), std::string::npos);
}

TEST(LowerKernelForCpu, PlainLoweringIsUnchangedForTheGpu) {
  EXPECT_EQ(toString(passes::lowerKernel(matmulKernel())).find("vectorized"), std::string::npos);
  EXPECT_EQ(toString(passes::lowerKernel(matmulKernel())).find("parallel"), std::string::npos);
}

} // namespace
