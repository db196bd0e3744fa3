// Hand-built loop nests compiled for the host and run: symbolic extents, stack and heap buffers,
// predicated and vector memory accesses, vector reductions, control flow, and the JIT's use
// from several threads.
#include "LlvmTestUtil.h"

#include "runtime/Arena.h"
#include "runtime/KernelAbi.h"
#include "support/Check.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <numeric>
#include <thread>
#include <vector>

namespace tdsl::test {
namespace {

LoweredFunc addKernel(const std::string &name = "add") {
  Var n = symbolVar("N");
  Buffer a = makeBuffer("a", DType::F32, {ir::ref(n)}, BufferRole::Input);
  Buffer b = makeBuffer("b", DType::F32, {ir::ref(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {ir::ref(n)}, BufferRole::Output);
  return elementwiseKernel(name, {a, b},
                           {{y, [](const std::vector<Expr> &v) { return add(v[0], v[1]); }}}, 1, n);
}

void checkAdd(const codegen::CompiledCpuKernel &kernel, int64_t n) {
  std::vector<float> a(n), b(n), y(n, -1.0f);
  for (int64_t i = 0; i < n; ++i) {
    a[i] = float(i) * 0.5f;
    b[i] = float(n - i);
  }
  runKernel(kernel, {a.data(), b.data(), y.data()}, {n});
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(y[i], a[i] + b[i]) << "at " << i << " of " << n;
}

TEST(LlvmExec, ElementwiseAddOverSymbolicN) {
  auto kernel = codegen::compileForHost(addKernel());
  ASSERT_NE(kernel->entry(), nullptr);
  for (int64_t n : {0, 1, 7, 16, 17, 1000, 4099})
    checkAdd(*kernel, n);
}

TEST(LlvmExec, SameFunctionCompiledTwiceGivesTwoKernels) {
  LoweredFunc f = addKernel();
  auto first = codegen::compileForHost(f);
  auto second = codegen::compileForHost(f);
  EXPECT_NE(first->entry(), second->entry());
  checkAdd(*first, 33);
  first.reset(); // The second kernel does not depend on the first one's JIT.
  checkAdd(*second, 33);
}

TEST(LlvmExec, CompilesFromSeveralThreads) {
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t, &ok] {
      auto kernel = codegen::compileForHost(addKernel("add" + std::to_string(t)));
      std::vector<float> a(100, 1.0f), b(100, float(t)), y(100);
      runKernel(*kernel, {a.data(), b.data(), y.data()}, {100});
      ok[t] = std::all_of(y.begin(), y.end(), [&](float v) { return v == 1.0f + float(t); });
    });
  for (std::thread &th : threads)
    th.join();
  EXPECT_EQ(ok, std::vector<int>(4, 1));
}

/// y[i] = sum_j x[i, j], accumulating in a one-element stack buffer.
TEST(LlvmExec, RowSumsWithStackAccumulator) {
  Var m = symbolVar("M"), k = symbolVar("K");
  Buffer x = makeBuffer("x", DType::F64, {ir::ref(m), ir::ref(k)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F64, {ir::ref(m)}, BufferRole::Output);
  Buffer acc = makeBuffer("acc", DType::F64, {}, BufferRole::Intermediate);
  Var i = loopVar("i"), j = loopVar("j");
  Expr zero = i64(0);
  Stmt inner =
      For::make(j, ir::ref(k), ForKind::Serial,
                Store::make(acc, zero,
                            add(Load::make(acc, zero),
                                Load::make(x, add(mul(ir::ref(i), ir::ref(k)), ir::ref(j))))));
  Stmt body = Allocate::make(acc, MemoryScope::Stack,
                             Block::make({Store::make(acc, zero, floatImm(0.0, DType::F64)), inner,
                                          Store::make(y, ir::ref(i), Load::make(acc, zero))}));
  LoweredFunc f{"row_sums", {x, y}, {m, k}, For::make(i, ir::ref(m), ForKind::Serial, body)};
  auto kernel = codegen::compileForHost(f);
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{3, 5}, {1, 0}, {0, 4}, {17, 33}}) {
    std::vector<double> xs(rows * cols), ys(rows, -1);
    std::iota(xs.begin(), xs.end(), 1.0);
    runKernel(*kernel, {xs.data(), ys.data()}, {rows, cols});
    for (int64_t r = 0; r < rows; ++r) {
      double want = 0;
      for (int64_t c = 0; c < cols; ++c)
        want += xs[r * cols + c];
      EXPECT_EQ(ys[r], want) << "row " << r << " of " << rows << "x" << cols;
    }
  }
  // The accumulator lives in a register after optimization.
  EXPECT_EQ(codegen::emitLlvmIr(f).find("alloca"), std::string::npos);
}

/// t = a * 2 in a heap buffer, then y = t + 1 (reversed, so t is really read back).
LoweredFunc heapKernel() {
  Var n = symbolVar("N");
  Buffer a = makeBuffer("a", DType::I32, {ir::ref(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::I32, {ir::ref(n)}, BufferRole::Output);
  Buffer t = makeBuffer("t", DType::I32, {ir::ref(n)}, BufferRole::Intermediate);
  Var i = loopVar("i"), j = loopVar("j");
  Expr reversed = sub(sub(ir::ref(n), i64(1)), ir::ref(j));
  Stmt body = Allocate::make(
      t, MemoryScope::Heap,
      Block::make({For::make(i, ir::ref(n), ForKind::Serial,
                             Store::make(t, ir::ref(i),
                                         mul(Load::make(a, ir::ref(i)), intImm(2, DType::I32)))),
                   For::make(j, ir::ref(n), ForKind::Parallel,
                             Store::make(y, ir::ref(j),
                                         add(Load::make(t, reversed), intImm(1, DType::I32))))}));
  return LoweredFunc{"heap", {a, y}, {n}, body};
}

TEST(LlvmExec, HeapIntermediate) {
  auto kernel = codegen::compileForHost(heapKernel());
  for (int64_t size : {0, 1, 15, 1000}) {
    std::vector<int32_t> as(size), ys(size);
    std::iota(as.begin(), as.end(), -5);
    runKernel(*kernel, {as.data(), ys.data()}, {size});
    for (int64_t k = 0; k < size; ++k)
      EXPECT_EQ(ys[k], as[size - 1 - k] * 2 + 1);
  }
}

/// With a runtime, the heap buffer comes from its arena: the second call allocates nothing.
TEST(LlvmExec, HeapIntermediateComesFromTheCallsArena) {
  auto kernel = codegen::compileForHost(heapKernel());
  runtime::Arena arena;
  for (int call = 0; call < 3; ++call) {
    std::vector<int32_t> as(1000), ys(1000);
    std::iota(as.begin(), as.end(), call);
    runtime::CallRuntime rt{nullptr, 1, &arena};
    int64_t size = 1000;
    kernel->entry()(std::vector<void *>{as.data(), ys.data()}.data(), &size, &rt);
    EXPECT_EQ(ys[0], as[999] * 2 + 1);
    EXPECT_EQ(arena.stats().systemAllocations, 1);
    EXPECT_EQ(arena.stats().inUseBytes, 0u);
    EXPECT_EQ(arena.stats().peakBytes, 4000u);
    EXPECT_EQ(rt.failedBytes.load(), 0u);
  }
}

/// An intermediate of more bytes than any allocation can have (its i64 size exceeds PTRDIFF_MAX):
/// the code that needs it is skipped rather than run on a null pointer, and the call's runtime
/// holds the size for the caller to report.
TEST(LlvmExec, AFailedHeapAllocationSkipsItsBody) {
  auto kernel = codegen::compileForHost(heapKernel());
  runtime::Arena arena;
  runtime::CallRuntime rt{nullptr, 1, &arena};
  const int64_t size = int64_t{3} << 60; // 3 << 62 bytes of i32.
  int32_t a = 5, y = -7;
  kernel->entry()(std::vector<void *>{&a, &y}.data(), &size, &rt);
  EXPECT_EQ(rt.failedBytes.load(), uint64_t{3} << 62);
  EXPECT_EQ(y, -7);
  EXPECT_EQ(arena.stats().systemAllocations, 0);
}

/// A stack buffer of symbolic size inside a loop: its memory is given back every iteration (the
/// loop would otherwise take 80 MB of stack).
TEST(LlvmExec, DynamicStackAllocationInLoop) {
  Var n = symbolVar("N"), r = symbolVar("R");
  Buffer a = makeBuffer("a", DType::I64, {ir::ref(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::I64, {ir::ref(r)}, BufferRole::Output);
  Buffer tmp = makeBuffer("tmp", DType::I64, {ir::ref(n)}, BufferRole::Intermediate);
  Var rep = loopVar("rep"), i = loopVar("i");
  Expr last = sub(ir::ref(n), i64(1));
  Stmt body = Allocate::make(
      tmp, MemoryScope::Stack,
      Block::make(
          {For::make(i, ir::ref(n), ForKind::Serial,
                     Store::make(tmp, ir::ref(i), add(Load::make(a, ir::ref(i)), ir::ref(rep)))),
           Store::make(y, ir::ref(rep), Load::make(tmp, last))}));
  auto kernel = codegen::compileForHost(
      LoweredFunc{"dyn_stack", {a, y}, {n, r}, For::make(rep, ir::ref(r), ForKind::Serial, body)});
  const int64_t size = 1000, reps = 10000;
  std::vector<int64_t> as(size, 3), ys(reps);
  as[size - 1] = 40;
  runKernel(*kernel, {as.data(), ys.data()}, {size, reps});
  for (int64_t k = 0; k < reps; ++k)
    ASSERT_EQ(ys[k], 40 + k);
}

/// y[i] = (i + 1 < N) ? a[i + 1] : 0 with `a` ending at an unreadable page: a load that ignored
/// its predicate would fault. Scalar (branch), contiguous vector (masked load) and strided
/// vector (masked gather) forms.
void checkPredicatedLoads(const codegen::LlvmCodeGenOptions &options) {
  for (int form = 0; form < 3; ++form) {
    const int lanes = form == 0 ? 1 : 8;
    const int64_t stride = form == 2 ? 2 : 1;
    Var n = symbolVar("N");
    Buffer a = makeBuffer("a", DType::F32, {ir::ref(n)}, BufferRole::Input);
    Buffer y = makeBuffer("y", DType::F32, {ir::ref(n)}, BufferRole::Output);
    Var i = loopVar("i");
    Expr index, next, extent, limit;
    if (lanes == 1) {
      index = ir::ref(i);
      next = add(ir::ref(i), i64(1));
      extent = ir::ref(n);
      limit = ir::ref(n);
    } else {
      // Lane l handles element i * 8 + l and reads element (i * 8 + l + 1) * stride.
      index = Ramp::make(mul(ir::ref(i), i64(lanes)), i64(1), lanes);
      next = Ramp::make(mul(add(mul(ir::ref(i), i64(lanes)), i64(1)), i64(stride)), i64(stride),
                        lanes);
      extent = bin(BinaryOp::FloorDiv, add(ir::ref(n), i64(lanes - 1)), i64(lanes));
      limit = Broadcast::make(ir::ref(n), lanes);
    }
    Expr inBounds = bin(BinaryOp::Lt, next, limit);
    Expr storeOk = lanes == 1 ? nullptr : bin(BinaryOp::Lt, index, limit);
    Stmt body = For::make(i, extent, ForKind::Serial,
                          Store::make(y, index, Load::make(a, next, inBounds), storeOk));
    auto kernel = codegen::compileForHost(LoweredFunc{"shift", {a, y}, {n}, body}, options);
    const int64_t size = 13;
    GuardedBuffer as(size * sizeof(float)), ys(size * sizeof(float));
    for (int64_t k = 0; k < size; ++k)
      as.as<float>()[k] = float(k * 10);
    runKernel(*kernel, {as.as<float>(), ys.as<float>()}, {size});
    for (int64_t k = 0; k < size; ++k) {
      int64_t src = (k + 1) * stride;
      EXPECT_EQ(ys.as<float>()[k], src < size ? float(src * 10) : 0.0f)
          << "form " << form << " at " << k;
    }
  }
}

TEST(LlvmExec, PredicatedLoadsNeverTouchMemory) { checkPredicatedLoads({}); }
// The baseline has no masked loads or gathers: LLVM expands them into a branch per lane.
TEST(LlvmExec, PredicatedLoadsNeverTouchMemoryOnBaseline) { checkPredicatedLoads(baselineX86()); }

/// A scalar predicated store, a masked vector store and a scatter (stride -1: reversal).
void checkStores(const codegen::LlvmCodeGenOptions &options) {
  Var n = symbolVar("N");
  Buffer a = makeBuffer("a", DType::I32, {ir::ref(n)}, BufferRole::Input);
  Buffer evens = makeBuffer("evens", DType::I32, {ir::ref(n)}, BufferRole::Output);
  Buffer twice = makeBuffer("twice", DType::I32, {ir::ref(n)}, BufferRole::Output);
  Buffer reversed = makeBuffer("reversed", DType::I32, {ir::ref(n)}, BufferRole::Output);
  Var i = loopVar("i"), j = loopVar("j"), k = loopVar("k");
  Expr x = Load::make(a, ir::ref(i));
  Stmt scalar =
      For::make(i, ir::ref(n), ForKind::Serial,
                Store::make(evens, ir::ref(i), x,
                            bin(BinaryOp::Eq, bin(BinaryOp::Mod, x, intImm(2, DType::I32)),
                                intImm(0, DType::I32))));
  Expr idx = Ramp::make(mul(ir::ref(j), i64(8)), i64(1), 8);
  Expr pred = bin(BinaryOp::Lt, idx, Broadcast::make(ir::ref(n), 8));
  Stmt masked = For::make(
      j, bin(BinaryOp::FloorDiv, add(ir::ref(n), i64(7)), i64(8)), ForKind::Vectorized,
      Store::make(twice, idx,
                  mul(Load::make(a, idx, pred), Broadcast::make(intImm(2, DType::I32), 8)), pred));
  Expr fwd = Ramp::make(mul(ir::ref(k), i64(4)), i64(1), 4);
  Expr back = Ramp::make(sub(sub(ir::ref(n), i64(1)), mul(ir::ref(k), i64(4))), i64(-1), 4);
  Stmt scatter = For::make(k, bin(BinaryOp::FloorDiv, ir::ref(n), i64(4)), ForKind::Serial,
                           Store::make(reversed, back, Load::make(a, fwd)));
  auto kernel = codegen::compileForHost(
      LoweredFunc{
          "stores", {a, evens, twice, reversed}, {n}, Block::make({scalar, masked, scatter})},
      options);
  const int64_t size = 12; // Multiple of 4 (the scatter), not of 8 (the masked store).
  GuardedBuffer as(size * 4), ev(size * 4), tw(size * 4), rv(size * 4);
  for (int64_t q = 0; q < size; ++q) {
    as.as<int32_t>()[q] = int32_t(q * 3 - 7);
    ev.as<int32_t>()[q] = -1;
  }
  runKernel(*kernel, {as.as<int32_t>(), ev.as<int32_t>(), tw.as<int32_t>(), rv.as<int32_t>()},
            {size});
  for (int64_t q = 0; q < size; ++q) {
    int32_t v = as.as<int32_t>()[q];
    EXPECT_EQ(ev.as<int32_t>()[q], refMod(v, 2) == 0 ? v : -1) << q;
    EXPECT_EQ(tw.as<int32_t>()[q], 2 * v) << q;
    EXPECT_EQ(rv.as<int32_t>()[size - 1 - q], v) << q;
  }
}

TEST(LlvmExec, PredicatedAndScatteredStores) { checkStores({}); }
TEST(LlvmExec, PredicatedAndScatteredStoresOnBaseline) { checkStores(baselineX86()); }

/// Rows of `lanes` elements reduced with VectorReduce over a stride-1 ramp load.
template <typename T>
std::vector<T> reduceRows(DType dtype, ReduceOp op, int lanes, std::vector<T> xs) {
  const int64_t rows = static_cast<int64_t>(xs.size()) / lanes;
  Var r = symbolVar("R");
  Buffer x = makeBuffer("x", dtype, {mul(ir::ref(r), i64(lanes))}, BufferRole::Input);
  Buffer y = makeBuffer("y", dtype, {ir::ref(r)}, BufferRole::Output);
  Var i = loopVar("i");
  Expr row = Load::make(x, Ramp::make(mul(ir::ref(i), i64(lanes)), i64(1), lanes));
  auto kernel = codegen::compileForHost(
      LoweredFunc{"reduce",
                  {x, y},
                  {r},
                  For::make(i, ir::ref(r), ForKind::Serial,
                            Store::make(y, ir::ref(i), VectorReduce::make(op, row)))});
  std::vector<T> ys(rows);
  runKernel(*kernel, {xs.data(), ys.data()}, {rows});
  return ys;
}

TEST(LlvmExec, VectorReduceFloat) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int lanes : {8, 16}) {
    // Row 0: small integers (every summation order is exact); row 1: a NaN; row 2: zeros of
    // both signs.
    std::vector<float> xs(3 * lanes);
    for (int l = 0; l < lanes; ++l) {
      xs[l] = float((l % 5) - 2 + (l == 3 ? 7 : 0));
      xs[lanes + l] = l == lanes / 2 ? nan : float(l);
      xs[2 * lanes + l] = l % 2 ? -0.0f : 0.0f;
    }
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Max, ReduceOp::Min}) {
      std::vector<float> ys = reduceRows<float>(DType::F32, op, lanes, xs);
      for (int row = 0; row < 3; ++row) {
        float want = op == ReduceOp::Sum    ? -0.0f
                     : op == ReduceOp::Prod ? 1.0f
                     : op == ReduceOp::Max  ? -std::numeric_limits<float>::infinity()
                                            : std::numeric_limits<float>::infinity();
        for (int l = 0; l < lanes; ++l) {
          float v = xs[row * lanes + l];
          want = op == ReduceOp::Sum    ? want + v
                 : op == ReduceOp::Prod ? want * v
                 : op == ReduceOp::Max  ? refMaximum(want, v)
                                        : refMinimum(want, v);
        }
        EXPECT_TRUE(sameValue(ys[row], want)) << "op " << int(op) << " row " << row << " lanes "
                                              << lanes << ": got " << ys[row] << ", want " << want;
      }
    }
  }
}

TEST(LlvmExec, VectorReduceIntAndBool) {
  for (int lanes : {8, 16}) {
    std::vector<int32_t> xs(2 * lanes);
    for (int l = 0; l < lanes; ++l) {
      xs[l] = l * 7 - 20;
      xs[lanes + l] = l == 2 ? std::numeric_limits<int32_t>::min() : 1 << l; // Sum wraps.
    }
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Max, ReduceOp::Min}) {
      std::vector<int32_t> ys = reduceRows<int32_t>(DType::I32, op, lanes, xs);
      for (int row = 0; row < 2; ++row) {
        int32_t want = op == ReduceOp::Sum    ? 0
                       : op == ReduceOp::Prod ? 1
                       : op == ReduceOp::Max  ? std::numeric_limits<int32_t>::min()
                                              : std::numeric_limits<int32_t>::max();
        for (int l = 0; l < lanes; ++l) {
          int32_t v = xs[row * lanes + l];
          want = op == ReduceOp::Sum    ? refAdd(want, v)
                 : op == ReduceOp::Prod ? refMul(want, v)
                 : op == ReduceOp::Max  ? std::max(want, v)
                                        : std::min(want, v);
        }
        EXPECT_EQ(ys[row], want) << "op " << int(op) << " row " << row << " lanes " << lanes;
      }
    }
    std::vector<uint8_t> bs(3 * lanes, 0);
    for (int l = 0; l < lanes; ++l)
      bs[lanes + l] = 1;
    bs[2 * lanes + 5] = 1;
    EXPECT_EQ(reduceRows<uint8_t>(DType::Bool, ReduceOp::Max, lanes, bs),
              (std::vector<uint8_t>{0, 1, 1}));
    EXPECT_EQ(reduceRows<uint8_t>(DType::Bool, ReduceOp::Min, lanes, bs),
              (std::vector<uint8_t>{0, 1, 0}));
  }
}

TEST(LlvmExec, VectorReduceHalfSumsInF32) {
  std::vector<uint16_t> xs(16);
  for (int l = 0; l < 16; ++l)
    xs[l] = refToHalf(l == 0 ? 2048.0 : 1.0); // In f16, 2048 + 1 == 2048: f32 keeps every 1.
  std::vector<uint16_t> ys = reduceRows<uint16_t>(DType::F16, ReduceOp::Sum, 16, xs);
  EXPECT_EQ(ys[0], refToHalf(2048.0 + 15.0));
}

/// Let, if/else and a select: y[i] = i odd ? -a[i] : (a[i] > 0 ? a[i] : 0) * 3.
TEST(LlvmExec, LetIfThenElseAndSelect) {
  Var n = symbolVar("N");
  Buffer a = makeBuffer("a", DType::I64, {ir::ref(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::I64, {ir::ref(n)}, BufferRole::Output);
  Var i = loopVar("i"), v = makeVar("v", Type::i64(), VarKind::Let);
  Expr odd = bin(BinaryOp::Eq, bin(BinaryOp::Mod, ir::ref(i), i64(2)), i64(1));
  Expr positive = Select::make(bin(BinaryOp::Gt, ir::ref(v), i64(0)), ir::ref(v), i64(0));
  Stmt body = LetStmt::make(
      v, Load::make(a, ir::ref(i)),
      IfThenElse::make(odd, Store::make(y, ir::ref(i), Unary::make(UnaryOp::Neg, ir::ref(v))),
                       Store::make(y, ir::ref(i), mul(positive, i64(3)))));
  auto kernel = codegen::compileForHost(
      LoweredFunc{"control", {a, y}, {n}, For::make(i, ir::ref(n), ForKind::Unrolled, body)});
  std::vector<int64_t> as = {5, -5, -3, 3, 0, 9, 11}, ys(as.size());
  runKernel(*kernel, {as.data(), ys.data()}, {int64_t(as.size())});
  for (size_t k = 0; k < as.size(); ++k)
    EXPECT_EQ(ys[k], k % 2 ? -as[k] : std::max<int64_t>(as[k], 0) * 3) << k;
}

/// A 0-d output written once, with a constant-size stack array and no symbols at all.
TEST(LlvmExec, NoSymbolsAndConstantStackArray) {
  Buffer out = makeBuffer("out", DType::I32, {}, BufferRole::Output);
  Buffer tmp = makeBuffer("tmp", DType::I32, {i64(32)}, BufferRole::Intermediate);
  Var i = loopVar("i"), j = loopVar("j");
  Stmt body = Allocate::make(
      tmp, MemoryScope::Stack,
      Block::make(
          {For::make(
               i, i64(32), ForKind::Serial,
               Store::make(tmp, ir::ref(i),
                           Cast::make(Type::scalar(DType::I32), mul(ir::ref(i), ir::ref(i))))),
           Store::make(out, i64(0), intImm(0, DType::I32)),
           For::make(j, i64(32), ForKind::Serial,
                     Store::make(out, i64(0),
                                 add(Load::make(out, i64(0)), Load::make(tmp, ir::ref(j)))))}));
  auto kernel = codegen::compileForHost(LoweredFunc{"sum_squares", {out}, {}, body});
  int32_t result = -1;
  runKernel(*kernel, {&result});
  EXPECT_EQ(result, 31 * 32 * 63 / 6);
}

TEST(LlvmExec, GpuLoopIsAnInternalError) {
  Var n = symbolVar("N"), i = loopVar("i");
  Buffer y = makeBuffer("y", DType::F32, {ir::ref(n)}, BufferRole::Output);
  LoweredFunc f{
      "gpu",
      {y},
      {n},
      For::make(i, ir::ref(n), ForKind::GpuBlock, Store::make(y, ir::ref(i), floatImm(1.0)))};
  EXPECT_THROW(codegen::compileForHost(f), InternalError);
}

TEST(LlvmExec, UnboundVariableIsAnInternalError) {
  Var n = symbolVar("N"), stray = symbolVar("M"), i = loopVar("i");
  Buffer y = makeBuffer("y", DType::I64, {ir::ref(n)}, BufferRole::Output);
  LoweredFunc f{
      "stray",
      {y},
      {n},
      For::make(i, ir::ref(n), ForKind::Serial, Store::make(y, ir::ref(i), ir::ref(stray)))};
  EXPECT_THROW(codegen::compileForHost(f), InternalError);
}

} // namespace
} // namespace tdsl::test
