// mapToGpu on hand-built loop nests, checked on the printed loop IR, and the launches that the
// CUDA backend and the launcher read off a func lowered for the GPU.
#include "passes/GpuMap.h"
#include "ir/GpuFunc.h"
#include "ir/IRPrinter.h"
#include "ir/Verifier.h"
#include "passes/GpuSchedule.h"
#include "support/Check.h"

#include <gtest/gtest.h>

namespace tdsl::passes {
namespace {

using namespace ir;

Var symbol(const std::string &name) { return makeVar(name, Type::i64(), VarKind::Symbol); }
Var loopVar(const std::string &name) { return makeVar(name, Type::i64(), VarKind::Loop); }

/// y[i, j] = a[i, j] + b[i, j] over f32[N, D].
LoweredFunc elementwiseAdd() {
  Var n = symbol("N"), d = symbol("D"), i = loopVar("i"), j = loopVar("j");
  std::vector<Expr> shape = {ir::ref(n), ir::ref(d)};
  Buffer a = makeBuffer("a", DType::F32, shape, BufferRole::Input);
  Buffer b = makeBuffer("b", DType::F32, shape, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, shape, BufferRole::Output);
  Expr idx = add(mul(ir::ref(i), ir::ref(d)), ir::ref(j));
  Stmt store = Store::make(y, idx, add(Load::make(a, idx), Load::make(b, idx)));
  Stmt body =
      For::make(i, ir::ref(n), ForKind::Serial, For::make(j, ir::ref(d), ForKind::Serial, store));
  return LoweredFunc{"add", {a, b, y}, {n, d}, body};
}

/// y[i] = sum(x[i, k] for k), the way buildLoopNest writes a reduction.
LoweredFunc rowSum() {
  Var n = symbol("N"), d = symbol("D"), i = loopVar("i"), k = loopVar("k");
  Buffer x = makeBuffer("x", DType::F32, {ir::ref(n), ir::ref(d)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {ir::ref(n)}, BufferRole::Output);
  Buffer acc = makeBuffer("y.acc", DType::F32, {intImm(1)}, BufferRole::Intermediate);
  Expr acc0 = Load::make(acc, intImm(0));
  Stmt reduce = For::make(
      k, ir::ref(d), ForKind::Serial,
      Store::make(acc, intImm(0),
                  add(acc0, Load::make(x, add(mul(ir::ref(i), ir::ref(d)), ir::ref(k))))));
  Stmt body = Allocate::make(acc, MemoryScope::Stack,
                             Block::make({Store::make(acc, intImm(0), floatImm(0.0)), reduce,
                                          Store::make(y, ir::ref(i), acc0)}));
  return LoweredFunc{"rowsum", {x, y}, {n, d}, For::make(i, ir::ref(n), ForKind::Serial, body)};
}

TEST(GpuMap, FlattensTwoDimensionalNest) {
  LoweredFunc mapped = mapToGpu(elementwiseAdd());
  verify(mapped);
  EXPECT_EQ(toString(mapped.body), "for block in [0, (N * D + 255) // 256) gpu_block\n"
                                   "  for thread in [0, 256) gpu_thread\n"
                                   "    let flat = block * 256 + thread\n"
                                   "      if (flat < N * D)\n"
                                   "        let i = flat // D\n"
                                   "          let j = flat - i * D\n"
                                   "            y[i * D + j] = a[i * D + j] + b[i * D + j]\n");
}

TEST(GpuMap, OneLoopNeedsNoDivision) {
  Var n = symbol("N"), i = loopVar("i");
  Buffer x = makeBuffer("x", DType::F32, {ir::ref(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {ir::ref(n)}, BufferRole::Output);
  Stmt body = For::make(i, ir::ref(n), ForKind::Serial,
                        Store::make(y, ir::ref(i), Load::make(x, ir::ref(i))));
  LoweredFunc mapped = mapToGpu(LoweredFunc{"copy", {x, y}, {n}, body}, 128);
  verify(mapped);
  EXPECT_EQ(toString(mapped.body), "for block in [0, (N + 127) // 128) gpu_block\n"
                                   "  for thread in [0, 128) gpu_thread\n"
                                   "    let i = block * 128 + thread\n"
                                   "      if (i < N)\n"
                                   "        y[i] = x[i]\n");
}

TEST(GpuMap, ConstantExtentsFold) {
  Var i = loopVar("i"), j = loopVar("j"), k = loopVar("k");
  Buffer y = makeBuffer("y", DType::F32, {intImm(2), intImm(3), intImm(4)}, BufferRole::Output);
  Expr idx = add(mul(add(mul(ir::ref(i), intImm(3)), ir::ref(j)), intImm(4)), ir::ref(k));
  Stmt body = For::make(
      i, intImm(2), ForKind::Serial,
      For::make(j, intImm(3), ForKind::Serial,
                For::make(k, intImm(4), ForKind::Serial, Store::make(y, idx, floatImm(1.0)))));
  LoweredFunc mapped = mapToGpu(LoweredFunc{"ones", {y}, {}, body});
  verify(mapped);
  EXPECT_EQ(toString(mapped.body), "for block in [0, 1) gpu_block\n"
                                   "  for thread in [0, 256) gpu_thread\n"
                                   "    let flat = block * 256 + thread\n"
                                   "      if (flat < 24)\n"
                                   "        let i = flat // 12\n"
                                   "          let j = (flat - i * 12) // 4\n"
                                   "            let k = flat - i * 12 - j * 4\n"
                                   "              y[(i * 3 + j) * 4 + k] = 1.0\n");
}

TEST(GpuMap, ReductionStaysSerialInsideEachThread) {
  LoweredFunc mapped = mapToGpu(rowSum());
  verify(mapped);
  EXPECT_EQ(toString(mapped.body), "for block in [0, (N + 255) // 256) gpu_block\n"
                                   "  for thread in [0, 256) gpu_thread\n"
                                   "    let i = block * 256 + thread\n"
                                   "      if (i < N)\n"
                                   "        allocate y.acc: f32[1] stack\n"
                                   "          y.acc[0] = 0.0\n"
                                   "          for k in [0, D) serial\n"
                                   "            y.acc[0] = y.acc[0] + x[i * D + k]\n"
                                   "          y[i] = y.acc[0]\n");
}

TEST(GpuMap, ScalarDefinitionRunsOnOneThread) {
  Buffer x = makeBuffer("x", DType::F32, {}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {}, BufferRole::Output);
  Stmt body = Store::make(y, intImm(0), mul(Load::make(x, intImm(0)), floatImm(2.0)));
  LoweredFunc mapped = mapToGpu(LoweredFunc{"twice", {x, y}, {}, body});
  verify(mapped);
  EXPECT_EQ(toString(mapped.body), "for block in [0, 1) gpu_block\n"
                                   "  for thread in [0, 1) gpu_thread\n"
                                   "    y[0] = x[0] * 2.0\n");
}

TEST(GpuMap, NestReadingWhatItWritesRunsOnOneThread) {
  // y[i] = y[i - 1] + 1 carries a dependence between iterations.
  Var n = symbol("N"), i = loopVar("i");
  Buffer y = makeBuffer("y", DType::F32, {ir::ref(n)}, BufferRole::Output);
  Stmt body =
      For::make(i, ir::ref(n), ForKind::Serial,
                Store::make(y, ir::ref(i),
                            add(Load::make(y, sub(ir::ref(i), intImm(1)),
                                           Binary::make(BinaryOp::Gt, ir::ref(i), intImm(0))),
                                floatImm(1.0))));
  LoweredFunc mapped = mapToGpu(LoweredFunc{"scan", {y}, {n}, body});
  verify(mapped);
  EXPECT_EQ(toString(mapped.body), "for block in [0, 1) gpu_block\n"
                                   "  for thread in [0, 1) gpu_thread\n"
                                   "    for i in [0, N) serial\n"
                                   "      y[i] = (y[i - 1] if (i > 0)) + 1.0\n");
}

TEST(GpuMap, EachTopLevelNestIsOneLaunchInOrder) {
  LoweredFunc add = elementwiseAdd();
  // Two nests inside a heap allocation and a load-free let: each launch repeats them around its
  // gpu_block loop, where the launcher reads them (ir/GpuFunc.h).
  Var total = makeVar("total", Type::i64(), VarKind::Let);
  Buffer tmp = makeBuffer("tmp", DType::F32, {intImm(4)}, BufferRole::Intermediate);
  LoweredFunc f{"two", add.params, add.symbols, nullptr};
  f.body =
      Allocate::make(tmp, MemoryScope::Heap,
                     LetStmt::make(total, mul(ir::ref(add.symbols[0]), ir::ref(add.symbols[1])),
                                   Block::make({add.body, add.body})));
  LoweredFunc gpu = scheduleForGpu(mapToGpu(f, 64));
  verify(gpu);
  std::vector<const GpuLaunch *> launches = gpuLaunches(gpu);
  ASSERT_EQ(launches.size(), 2u);
  EXPECT_EQ(launches[0]->name, "two_k0");
  EXPECT_EQ(launches[1]->name, "two_k1");
  EXPECT_EQ(launches[0]->schedule, GpuScheduleKind::Generic);
  EXPECT_EQ(toString(launchBlocks(launches[0])), "(N * D + 63) // 64");
  EXPECT_EQ(toString(launchThreads(launches[0])), "64");
  ASSERT_EQ(launchLets(launches[0]).size(), 1u);
  EXPECT_EQ(launchLets(launches[0])[0].first, total);
  ASSERT_EQ(launchHeap(launches[1]).size(), 1u);
  EXPECT_EQ(launchHeap(launches[1])[0], tmp);
  EXPECT_EQ(gpuHeapBuffers(gpu), std::vector<Buffer>{tmp});
  EXPECT_EQ(blockLoop(launches[0])->as<For>()->kind, ForKind::GpuBlock);
}

TEST(GpuMap, MappingTwiceIsTheIdentity) {
  LoweredFunc once = mapToGpu(rowSum());
  LoweredFunc twice = mapToGpu(once);
  EXPECT_EQ(once.body, twice.body);
}

TEST(GpuMap, MappedNestsAreNoLaunches) {
  // Launches are the GPU schedule's (scheduleForGpu); mapToGpu only maps nests.
  EXPECT_THROW(gpuLaunches(mapToGpu(elementwiseAdd())), InternalError);
}

TEST(GpuMap, RejectsBadThreadCounts) {
  EXPECT_THROW((void)mapToGpu(elementwiseAdd(), 0), InternalError);
  EXPECT_THROW((void)mapToGpu(elementwiseAdd(), 2048), InternalError);
}

} // namespace
} // namespace tdsl::passes
