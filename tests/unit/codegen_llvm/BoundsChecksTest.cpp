// `--checks=bounds`: with LlvmCodeGenOptions::boundsChecks, every load and store is checked
// against its buffer's extent; a violation reports the kernel, buffer, index and bound and
// aborts before the access. In-bounds code (scalar, vector, predicated, parallel) is unaffected.
#include "LlvmTestUtil.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

namespace tdsl::test {
namespace {

codegen::LlvmCodeGenOptions checked() {
  codegen::LlvmCodeGenOptions options;
  options.boundsChecks = true;
  return options;
}

/// y[i] = a[i + shift] for i < N, over buffers of N elements: out of bounds when shift != 0.
LoweredFunc shifted(int64_t shift, int lanes, ForKind kind = ForKind::Serial) {
  Var n = symbolVar("N");
  Buffer a = makeBuffer("a", DType::F32, {ir::ref(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {ir::ref(n)}, BufferRole::Output);
  Var i = loopVar("i");
  Expr index = ir::ref(i), extent = ir::ref(n);
  if (lanes > 1) {
    index = Ramp::make(mul(ir::ref(i), i64(lanes)), i64(1), lanes);
    extent = bin(BinaryOp::FloorDiv, ir::ref(n), i64(lanes));
  }
  Expr offset = lanes > 1 ? Broadcast::make(i64(shift), lanes) : i64(shift);
  Expr shiftedIndex = add(index, offset);
  return LoweredFunc{"shifted", {a, y}, {n},
                     For::make(i, extent, kind, Store::make(y, index, Load::make(a, shiftedIndex)))};
}

TEST(BoundsChecks, InBoundsCodeRunsUnchanged) {
  for (int lanes : {1, 8})
    for (ForKind kind : {ForKind::Serial, ForKind::Parallel}) {
      auto kernel = codegen::compileForHost(shifted(0, lanes, kind), checked());
      std::vector<float> a(64), y(64, -1.0f);
      std::iota(a.begin(), a.end(), 0.0f);
      runKernel(*kernel, {a.data(), y.data()}, {64});
      EXPECT_EQ(y, a) << lanes << " lanes";
    }
}

TEST(BoundsChecks, ScalarLoadPastTheEndIsReported) {
  auto kernel = codegen::compileForHost(shifted(1, 1), checked());
  std::vector<float> a(5), y(5);
  EXPECT_DEATH(runKernel(*kernel, {a.data(), y.data()}, {5}),
               "bounds check failed: kernel shifted, buffer a: index 5 is outside \\[0, 5\\)");
}

TEST(BoundsChecks, VectorLoadBeforeTheStartIsReported) {
  auto kernel = codegen::compileForHost(shifted(-3, 8), checked());
  std::vector<float> a(16), y(16);
  // The first lane out of bounds is reported: index -3 of the first vector.
  EXPECT_DEATH(runKernel(*kernel, {a.data(), y.data()}, {16}),
               "buffer a: index -3 is outside \\[0, 16\\)");
}

TEST(BoundsChecks, StoreInAParallelLoopIsReported) {
  Var n = symbolVar("N");
  Buffer y = makeBuffer("y", DType::I32, {ir::ref(n)}, BufferRole::Output);
  Var i = loopVar("i");
  // y[2 * i] = 1 for i < N: past the end from i = ceil(N / 2).
  LoweredFunc f{"evens", {y}, {n},
                For::make(i, ir::ref(n), ForKind::Parallel,
                          Store::make(y, mul(ir::ref(i), i64(2)), intImm(1, DType::I32)))};
  auto kernel = codegen::compileForHost(f, checked());
  std::vector<int32_t> ys(7);
  EXPECT_DEATH(runKernel(*kernel, {ys.data()}, {7}),
               "kernel evens, buffer y: index (8|10|12) is outside \\[0, 7\\)");
}

TEST(BoundsChecks, MaskedLanesAreNotChecked) {
  // A predicated load reads a[i + 1] only where i + 1 < N (a `??` default): never reported.
  Var n = symbolVar("N");
  Buffer a = makeBuffer("a", DType::F32, {ir::ref(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {ir::ref(n)}, BufferRole::Output);
  Var i = loopVar("i");
  Expr next = add(ir::ref(i), i64(1));
  Expr load = Load::make(a, next, bin(BinaryOp::Lt, next, ir::ref(n)));
  auto kernel = codegen::compileForHost(
      LoweredFunc{"next", {a, y}, {n}, For::make(i, ir::ref(n), ForKind::Serial,
                                                 Store::make(y, ir::ref(i), load))},
      checked());
  std::vector<float> as = {1, 2, 3}, ys(3);
  runKernel(*kernel, {as.data(), ys.data()}, {3});
  EXPECT_EQ(ys, (std::vector<float>{2, 3, 0}));
}

} // namespace
} // namespace tdsl::test
