// Parallel loops in the LLVM backend: hand-built loop IR with Parallel loops (elementwise, per-row
// reductions, allocations inside and outside the body, captured lets and outer counters, nested
// parallel loops), compared with the same IR run serially, bit for bit, on 1, 2, 3 and 7 threads.
#include "LlvmTestUtil.h"

#include "codegen/llvm/ParallelFor.h"
#include "ir/IRVisitor.h"
#include "runtime/KernelAbi.h"
#include "runtime/ThreadPool.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace tdsl::test {
namespace {

using runtime::CallRuntime;
using runtime::ThreadPool;

/// Passes when `text` contains `needle`; on failure prints the text.
::testing::AssertionResult contains(const std::string &text, const std::string &needle) {
  if (text.find(needle) != std::string::npos)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "no \"" << needle << "\" in:\n" << text;
}

/// Every loop of `s` with kind `from` turned into `to` (the serial twin of a parallel function).
Stmt withLoopKind(const Stmt &s, ForKind from, ForKind to) {
  class Rewrite final : public IRMutator {
  public:
    ForKind from, to;
    Rewrite(ForKind f, ForKind t) : from(f), to(t) {}
    Stmt visitFor(const For *n, const Stmt &self) override {
      Stmt body = mutate(n->body);
      if (n->kind != from && body == n->body)
        return self;
      return For::make(n->var, n->extent, n->kind == from ? to : n->kind, body);
    }
  };
  return Rewrite(from, to).mutate(s);
}

LoweredFunc serialTwin(LoweredFunc f) {
  f.name += "_serial";
  f.body = withLoopKind(f.body, ForKind::Parallel, ForKind::Serial);
  return f;
}

/// A private pool of 8 threads: more than this machine may have, so 7 threads really split 7 ways.
ThreadPool &testPool() {
  static ThreadPool pool(8);
  return pool;
}

void runWithThreads(const codegen::CompiledCpuKernel &kernel, std::vector<void *> buffers,
                    std::vector<int64_t> symbols, int threads) {
  CallRuntime rt{&testPool(), threads};
  kernel.entry()(buffers.data(), symbols.data(), threads == 0 ? nullptr : &rt);
}

std::vector<float> randomFloats(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist;
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(gen);
  return v;
}

/// Runs `parallel` (with no runtime, then 1, 2, 3, 7 threads) and its serial twin on the same
/// inputs, and expects byte-identical outputs. `buffers` gives each parameter's element count
/// and byte size; inputs are filled with random data.
void expectSameAsSerial(const LoweredFunc &parallel, const std::vector<int64_t> &symbols,
                        const std::vector<std::pair<int64_t, int>> &bufferSizes) {
  auto compiledParallel = codegen::compileForHost(parallel);
  auto compiledSerial = codegen::compileForHost(serialTwin(parallel));
  std::vector<std::vector<unsigned char>> inputs;
  size_t numInputs = 0;
  for (const Buffer &p : parallel.params)
    numInputs += p->role == BufferRole::Input;
  auto fresh = [&](unsigned seedBase) {
    std::vector<std::vector<unsigned char>> data;
    for (size_t i = 0; i < bufferSizes.size(); ++i) {
      auto [count, bytes] = bufferSizes[i];
      std::vector<unsigned char> raw(static_cast<size_t>(count * bytes), 0xAB);
      if (i < numInputs && !raw.empty()) {
        std::vector<float> values = randomFloats(raw.size() / 4 + 1, seedBase + unsigned(i));
        std::memcpy(raw.data(), values.data(), raw.size());
      }
      data.push_back(std::move(raw));
    }
    return data;
  };
  auto pointers = [](std::vector<std::vector<unsigned char>> &data) {
    std::vector<void *> p;
    for (auto &d : data)
      p.push_back(d.data());
    return p;
  };
  std::vector<std::vector<unsigned char>> expected = fresh(7);
  runWithThreads(*compiledSerial, pointers(expected), symbols, 0);
  for (int threads : {0, 1, 2, 3, 7}) {
    std::vector<std::vector<unsigned char>> got = fresh(7);
    runWithThreads(*compiledParallel, pointers(got), symbols, threads);
    for (size_t i = numInputs; i < got.size(); ++i)
      EXPECT_TRUE(got[i] == expected[i])
          << parallel.params[i]->name << " differs from the serial result with " << threads
          << " threads";
  }
}

// y[i] = exp(a[i]) * b[i] + 2.5 over a parallel i.
LoweredFunc elementwise(const Var &n) {
  Buffer a = makeBuffer("a", DType::F32, {ir::ref(n)}, BufferRole::Input);
  Buffer b = makeBuffer("b", DType::F32, {ir::ref(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {ir::ref(n)}, BufferRole::Output);
  LoweredFunc f = elementwiseKernel("ew", {a, b},
                                    {{y,
                                      [](const std::vector<Expr> &v) {
                                        return add(mul(Call::make(Intrinsic::Exp, {v[0]}), v[1]),
                                                   floatImm(2.5));
                                      }}},
                                    1, n);
  f.body = withLoopKind(f.body, ForKind::Serial, ForKind::Parallel);
  return f;
}

TEST(ParallelFor, ElementwiseMatchesSerialOnAnyThreadCount) {
  Var n = symbolVar("N");
  LoweredFunc f = elementwise(n);
  for (int64_t size : {0, 1, 2, 7, 100, 4099})
    expectSameAsSerial(f, {size}, {{size, 4}, {size, 4}, {size, 4}});
}

TEST(ParallelFor, UsesThePoolsThreads) {
  ThreadPool pool(3);
  Var n = symbolVar("N");
  auto kernel = codegen::compileForHost(elementwise(n));
  std::vector<float> a(64, 0.0f), b(64, 1.0f), y(64);
  CallRuntime rt{&pool, 3};
  std::vector<void *> buffers{a.data(), b.data(), y.data()};
  int64_t size = 64;
  kernel->entry()(buffers.data(), &size, &rt);
  EXPECT_EQ(pool.startedWorkers(), 2);
  EXPECT_EQ(y, std::vector<float>(64, 3.5f));
}

/// y[i] = sum_j x[i, j] with a per-row stack accumulator (allocated inside the parallel body).
LoweredFunc rowSums(const Var &m, const Var &k) {
  Buffer x = makeBuffer("x", DType::F32, {ir::ref(m), ir::ref(k)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {ir::ref(m)}, BufferRole::Output);
  Buffer acc = makeBuffer("acc", DType::F32, {}, BufferRole::Intermediate);
  Var i = loopVar("i"), j = loopVar("j");
  Expr zero = i64(0);
  Stmt inner =
      For::make(j, ir::ref(k), ForKind::Serial,
                Store::make(acc, zero,
                            add(Load::make(acc, zero),
                                Load::make(x, add(mul(ir::ref(i), ir::ref(k)), ir::ref(j))))));
  Stmt body = Allocate::make(acc, MemoryScope::Stack,
                             Block::make({Store::make(acc, zero, floatImm(0.0)), inner,
                                          Store::make(y, ir::ref(i), Load::make(acc, zero))}));
  return LoweredFunc{"row_sums", {x, y}, {m, k}, For::make(i, ir::ref(m), ForKind::Parallel, body)};
}

TEST(ParallelFor, PerRowReductionMatchesSerial) {
  Var m = symbolVar("M"), k = symbolVar("K");
  LoweredFunc f = rowSums(m, k);
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 5}, {3, 0}, {7, 33}, {64, 257}})
    expectSameAsSerial(f, {rows, cols}, {{rows * cols, 4}, {rows, 4}});
}

/// Each row reversed through a heap buffer allocated per iteration of the parallel loop, then
/// scaled by a let-bound factor and offset by the outer serial loop's counter (captured values).
TEST(ParallelFor, NestedHeapAllocationAndCapturedValues) {
  Var m = symbolVar("M"), k = symbolVar("K"), reps = symbolVar("R");
  Buffer x = makeBuffer("x", DType::F32, {ir::ref(m), ir::ref(k)}, BufferRole::Input);
  Buffer y =
      makeBuffer("y", DType::F32, {ir::ref(reps), ir::ref(m), ir::ref(k)}, BufferRole::Output);
  Buffer tmp = makeBuffer("tmp", DType::F32, {ir::ref(k)}, BufferRole::Intermediate);
  Var r = loopVar("r"), i = loopVar("i"), j = loopVar("j"), j2 = loopVar("j2");
  Var scale = makeVar("scale", Type::scalar(DType::F32), VarKind::Let);
  Var flag = makeVar("flag", Type::boolean(), VarKind::Let);
  Expr row = mul(ir::ref(i), ir::ref(k));
  Expr outRow = mul(add(mul(ir::ref(r), ir::ref(m)), ir::ref(i)), ir::ref(k));
  Expr reversed = sub(sub(ir::ref(k), i64(1)), ir::ref(j2));
  Expr offset = Cast::make(Type::scalar(DType::F32), ir::ref(r));
  Stmt perRow = Allocate::make(
      tmp, MemoryScope::Heap,
      Block::make(
          {For::make(j, ir::ref(k), ForKind::Serial,
                     Store::make(tmp, ir::ref(j),
                                 mul(Load::make(x, add(row, ir::ref(j))), ir::ref(scale)))),
           For::make(j2, ir::ref(k), ForKind::Serial,
                     Store::make(y, add(outRow, ir::ref(j2)),
                                 Select::make(ir::ref(flag), add(Load::make(tmp, reversed), offset),
                                              floatImm(-1.0))))}));
  Stmt body =
      For::make(r, ir::ref(reps), ForKind::Serial,
                LetStmt::make(scale, mul(offset, floatImm(0.5)),
                              LetStmt::make(flag, bin(BinaryOp::Ne, ir::ref(r), i64(1)),
                                            For::make(i, ir::ref(m), ForKind::Parallel, perRow))));
  LoweredFunc f{"captures", {x, y}, {m, k, reps}, body};
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {5, 3}, {33, 17}})
    expectSameAsSerial(f, {rows, cols, 3}, {{rows * cols, 4}, {3 * rows * cols, 4}});
  // And against values computed here.
  auto kernel = codegen::compileForHost(f);
  std::vector<float> xs = randomFloats(6, 1), ys(2 * 6);
  std::vector<void *> buffers{xs.data(), ys.data()};
  runWithThreads(*kernel, buffers, {2, 3, 2}, 2);
  for (int64_t rr = 0; rr < 2; ++rr)
    for (int64_t ii = 0; ii < 2; ++ii)
      for (int64_t jj = 0; jj < 3; ++jj) {
        float want = rr == 1 ? -1.0f : xs[ii * 3 + (2 - jj)] * (float(rr) * 0.5f) + float(rr);
        EXPECT_EQ(ys[(rr * 2 + ii) * 3 + jj], want) << rr << " " << ii << " " << jj;
      }
}

/// An intermediate allocated outside the parallel loops, written by one and read by the next;
/// and a parallel loop nested in a parallel loop (it runs serially inside its chunk).
TEST(ParallelFor, SharedIntermediateAndNestedParallelLoops) {
  Var m = symbolVar("M"), k = symbolVar("K");
  Buffer x = makeBuffer("x", DType::F32, {ir::ref(m), ir::ref(k)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {ir::ref(m), ir::ref(k)}, BufferRole::Output);
  Buffer t = makeBuffer("t", DType::F32, {ir::ref(m), ir::ref(k)}, BufferRole::Intermediate);
  Var i = loopVar("i"), j = loopVar("j"), i2 = loopVar("i2"), j2 = loopVar("j2");
  Expr at = add(mul(ir::ref(i), ir::ref(k)), ir::ref(j));
  // y[i2, j2] = t[m-1-i2, j2] + 1: reads rows another chunk wrote.
  Expr mirrored = add(mul(sub(sub(ir::ref(m), i64(1)), ir::ref(i2)), ir::ref(k)), ir::ref(j2));
  Stmt body = Allocate::make(
      t, MemoryScope::Heap,
      Block::make(
          {For::make(
               i, ir::ref(m), ForKind::Parallel,
               For::make(j, ir::ref(k), ForKind::Parallel,
                         Store::make(t, at, Call::make(Intrinsic::Tanh, {Load::make(x, at)})))),
           For::make(i2, ir::ref(m), ForKind::Parallel,
                     For::make(j2, ir::ref(k), ForKind::Serial,
                               Store::make(y, add(mul(ir::ref(i2), ir::ref(k)), ir::ref(j2)),
                                           add(Load::make(t, mirrored), floatImm(1.0)))))}));
  LoweredFunc f{"shared", {x, y}, {m, k}, body};
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {4, 9}, {31, 65}})
    expectSameAsSerial(f, {rows, cols}, {{rows * cols, 4}, {rows * cols, 4}});
}

/// 8-lane vector code in a parallel loop (Ramp loads and stores, a masked remainder).
TEST(ParallelFor, VectorBodyMatchesSerial) {
  Var n = symbolVar("N");
  Buffer a = makeBuffer("a", DType::F32, {ir::ref(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {ir::ref(n)}, BufferRole::Output);
  Var i = loopVar("i");
  Expr index = Ramp::make(mul(ir::ref(i), i64(8)), i64(1), 8);
  Expr mask = bin(BinaryOp::Lt, index, Broadcast::make(ir::ref(n), 8));
  Expr value = mul(Load::make(a, index, mask), Broadcast::make(floatImm(3.0), 8));
  Stmt body = For::make(i, bin(BinaryOp::FloorDiv, add(ir::ref(n), i64(7)), i64(8)),
                        ForKind::Parallel, Store::make(y, index, value, mask));
  LoweredFunc f{"vec", {a, y}, {n}, body};
  for (int64_t size : {1, 8, 13, 1000})
    expectSameAsSerial(f, {size}, {{size, 4}, {size, 4}});
}

TEST(ParallelFor, IrCallsTheRuntimeWithAnOutlinedBody) {
  Var n = symbolVar("N");
  std::string ir = codegen::emitLlvmIr(elementwise(n), /*optimized=*/false);
  EXPECT_TRUE(contains(ir, "declare void @tdsl_parallel_for(ptr, i64, ptr, ptr)"));
  EXPECT_TRUE(contains(ir, "call void @tdsl_parallel_for(ptr %runtime"));
  EXPECT_TRUE(contains(ir, "define internal void @ew.body.i.par(ptr noalias nocapture readonly "
                           "%closure, i64 %begin, i64 %end)"));
  EXPECT_TRUE(contains(ir, "define internal void @ew.body.i.par.body(ptr noalias %y, "
                           "ptr noalias readonly %a, ptr noalias readonly %b, ptr %runtime, "
                           "i64 range(i64 0, 9223372036854775807) %begin"));
}

TEST(ParallelFor, OutlinedBodyVectorizesWithoutAliasChecks) {
  Var n = symbolVar("N");
  Buffer a = makeBuffer("a", DType::F32, {ir::ref(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {ir::ref(n)}, BufferRole::Output);
  LoweredFunc f = elementwiseKernel(
      "scale", {a}, {{y, [](const std::vector<Expr> &v) { return mul(v[0], floatImm(3.0)); }}}, 1,
      n);
  f.body = withLoopKind(f.body, ForKind::Serial, ForKind::Parallel);
  std::string ir = codegen::emitLlvmIr(f);
  EXPECT_TRUE(contains(ir, "fmul <"));
  // The buffers stay noalias inside the outlined body: no runtime overlap test.
  EXPECT_FALSE(contains(ir, "vector.memcheck"));
  EXPECT_FALSE(contains(ir, "@scale.body.i.par.body")); // Inlined into the trampoline.
}

TEST(ParallelFor, CapturesAreTheFreeNamesInFirstUseOrder) {
  Var n = symbolVar("N"), k = symbolVar("K");
  Buffer a = makeBuffer("a", DType::F32, {ir::ref(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {ir::ref(n)}, BufferRole::Output);
  Buffer tmp = makeBuffer("tmp", DType::F32, {ir::ref(k)}, BufferRole::Intermediate);
  Var i = loopVar("i"), j = loopVar("j");
  Var s = makeVar("s", Type::scalar(DType::F32), VarKind::Let);
  Stmt inner = LetStmt::make(
      s, Load::make(a, ir::ref(i)),
      Allocate::make(tmp, MemoryScope::Stack,
                     Block::make({For::make(j, ir::ref(k), ForKind::Serial,
                                            Store::make(tmp, ir::ref(j), ir::ref(s))),
                                  Store::make(y, ir::ref(i), Load::make(tmp, i64(0)))})));
  auto loop = For::make(i, ir::ref(n), ForKind::Parallel, inner);
  codegen::LoopCaptures c = codegen::findCaptures(*loop->as<For>());
  ASSERT_EQ(c.buffers.size(), 2u);
  EXPECT_EQ(c.buffers[0], a);
  EXPECT_EQ(c.buffers[1], y);
  ASSERT_EQ(c.vars.size(), 1u); // K (the size of tmp); not i, s or j.
  EXPECT_EQ(c.vars[0], k);
}

} // namespace
} // namespace tdsl::test
