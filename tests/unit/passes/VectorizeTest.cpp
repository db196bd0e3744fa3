// vectorize: the loop IR it makes from the shapes the schedule emits (an elementwise loop split
// into a guarded vector loop, a reduction into a vector accumulator) and from the statements that
// may sit inside a vectorized loop (lets, selects, casts, predicated loads, branches, inner loops,
// per-iteration allocations), checked as printed text and with the verifier; and the loops it must
// refuse (a scalar accumulator, nested vectorized loops).
#include "passes/Vectorize.h"
#include "ir/IRPrinter.h"
#include "ir/Verifier.h"
#include "passes/Pipeline.h"
#include "support/Check.h"

#include <gtest/gtest.h>

#include <functional>

namespace {

using namespace tdsl;
using namespace tdsl::ir;

Var symbol(const std::string &name) { return makeVar(name, Type::i64(), VarKind::Symbol); }
Var loop(const std::string &name) { return makeVar(name, Type::i64(), VarKind::Loop); }
Expr i64(int64_t v) { return intImm(v); }
Expr f32(double v) { return floatImm(v, DType::F32); }
Expr bin(BinaryOp op, Expr a, Expr b) { return Binary::make(op, std::move(a), std::move(b)); }
Expr v(const Var &var) { return ir::ref(var); }

/// A function over the given buffers and symbols whose body is `body`, simplified as the
/// pipeline gives it to vectorize.
LoweredFunc func(const std::string &name, std::vector<Buffer> params, std::vector<Var> symbols,
                 Stmt body) {
  LoweredFunc f;
  f.name = name;
  f.params = std::move(params);
  f.symbols = std::move(symbols);
  f.body = passes::simplify(body);
  verify(f);
  return f;
}

/// Vectorizes, verifies, and prints.
std::string vectorized(LoweredFunc f) {
  f.body = passes::vectorize(f.body);
  verify(f);
  return toString(f);
}

/// The schedule's split of an axis of extent `extent` into W lanes: `outer` serial, `inner`
/// vectorized, guarded by `outer * W + inner < extent` unless `guard` is false; `body` gets the
/// index `outer * W + inner` and the lane `inner`.
Stmt splitLoop(const std::string &name, Expr extent, int lanes, bool guard,
               const std::function<Stmt(Expr, Expr)> &body) {
  Var outer = loop(name + ".outer"), inner = loop(name + ".inner");
  Expr index = add(mul(v(outer), i64(lanes)), v(inner));
  Stmt s = body(index, v(inner));
  if (guard)
    s = IfThenElse::make(bin(BinaryOp::Lt, index, extent), s);
  Expr trips = bin(BinaryOp::FloorDiv, add(extent, i64(lanes - 1)), i64(lanes));
  return For::make(outer, trips, ForKind::Serial,
                   For::make(inner, i64(lanes), ForKind::Vectorized, s));
}

TEST(Vectorize, ElementwiseRemainderIsSplitIntoAnUnmaskedAndAMaskedBody) {
  Var N = symbol("N");
  Buffer x = makeBuffer("x", DType::F32, {v(N)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {v(N)}, BufferRole::Output);
  Stmt body = splitLoop("j", v(N), 16, true, [&](Expr j, Expr) {
    return Store::make(y, j, Call::make(Intrinsic::Exp, {Load::make(x, j)}));
  });
  EXPECT_EQ(vectorized(func("ew", {x, y}, {N}, body)),
            "func ew(x: f32[N], y: f32[N]) symbols(N)\n"
            "  for j.outer in [0, (N + 15) // 16) serial\n"
            "    if (j.outer * 16 + 16 <= N)\n"
            "      y[ramp(j.outer * 16, 1, 16)] = exp(x[ramp(j.outer * 16, 1, 16)])\n"
            "    else\n"
            "      y[ramp(j.outer * 16, 1, 16)] = exp(x[ramp(j.outer * 16, 1, 16)] if "
            "(ramp(j.outer * 16, 1, 16) < broadcast(N, 16))) if (ramp(j.outer * 16, 1, 16) < "
            "broadcast(N, 16))\n");
}

TEST(Vectorize, ExactMultipleHasNoGuardAndNoMasks) {
  Buffer x = makeBuffer("x", DType::F32, {i64(4), i64(32)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {i64(4), i64(32)}, BufferRole::Output);
  Var i = loop("i");
  Stmt body =
      For::make(i, i64(4), ForKind::Serial, splitLoop("j", i64(32), 8, false, [&](Expr j, Expr) {
                  Expr at = add(mul(v(i), i64(32)), j);
                  return Store::make(y, at, mul(Load::make(x, at), f32(2.0)));
                }));
  EXPECT_EQ(vectorized(func("scale", {x, y}, {}, body)),
            "func scale(x: f32[4, 32], y: f32[4, 32])\n"
            "  for i in [0, 4) serial\n"
            "    for j.outer in [0, 4) serial\n"
            "      y[ramp(i * 32 + j.outer * 8, 1, 8)] = x[ramp(i * 32 + j.outer * 8, 1, 8)] * "
            "2.0:<8 x f32>\n");
}

TEST(Vectorize, ReductionIntoAVectorAccumulatorBlendsItsRemainder) {
  // y[i] = sum(x[i, k] for k): acc[k.inner] initialised, updated, then reduced across lanes.
  Var N = symbol("N"), D = symbol("D");
  Buffer x = makeBuffer("x", DType::F32, {v(N), v(D)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {v(N)}, BufferRole::Output);
  Buffer acc = makeBuffer("y.acc", DType::F32, {i64(16)}, BufferRole::Intermediate);
  Var i = loop("i"), init = loop("k.init");
  Stmt update = splitLoop("k", v(D), 16, true, [&](Expr k, Expr lane) {
    return Store::make(acc, lane,
                       add(Load::make(acc, lane), Load::make(x, add(mul(v(i), v(D)), k))));
  });
  Stmt body = For::make(
      i, v(N), ForKind::Serial,
      Allocate::make(
          acc, MemoryScope::Stack,
          Block::make(
              {For::make(init, i64(16), ForKind::Vectorized, Store::make(acc, v(init), f32(0.0))),
               update,
               Store::make(y, v(i),
                           VectorReduce::make(ReduceOp::Sum,
                                              Load::make(acc, Ramp::make(i64(0), i64(1), 16))))})));
  EXPECT_EQ(vectorized(func("rowsum", {x, y}, {N, D}, body)),
            "func rowsum(x: f32[N, D], y: f32[N]) symbols(N, D)\n"
            "  for i in [0, N) serial\n"
            "    allocate y.acc: f32[16] stack\n"
            "      y.acc[ramp(0, 1, 16)] = 0.0:<16 x f32>\n"
            "      for k.outer in [0, (D + 15) // 16) serial\n"
            "        if (k.outer * 16 + 16 <= D)\n"
            "          y.acc[ramp(0, 1, 16)] = y.acc[ramp(0, 1, 16)] + x[ramp(i * D + k.outer * "
            "16, 1, 16)]\n"
            "        else\n"
            "          y.acc[ramp(0, 1, 16)] = select(ramp(k.outer * 16, 1, 16) < broadcast(D, "
            "16), select(ramp(k.outer * 16, 1, 16) < broadcast(D, 16), y.acc[ramp(0, 1, 16)], "
            "0.0:<16 x f32>) + (x[ramp(i * D + k.outer * 16, 1, 16)] if (ramp(k.outer * 16, 1, "
            "16) < broadcast(D, 16))), y.acc[ramp(0, 1, 16)])\n"
            "      y[i] = vector_sum(y.acc[ramp(0, 1, 16)])\n");
}

TEST(Vectorize, ScalarAccumulatorIsAnInternalError) {
  Var N = symbol("N");
  Buffer x = makeBuffer("x", DType::F32, {v(N)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {}, BufferRole::Output);
  Buffer acc = makeBuffer("y.acc", DType::F32, {i64(1)}, BufferRole::Intermediate);
  Stmt update = splitLoop("k", v(N), 16, true, [&](Expr k, Expr) {
    return Store::make(acc, i64(0), add(Load::make(acc, i64(0)), Load::make(x, k)));
  });
  Stmt body = Allocate::make(acc, MemoryScope::Stack,
                             Block::make({Store::make(acc, i64(0), f32(0.0)), update,
                                          Store::make(y, i64(0), Load::make(acc, i64(0)))}));
  LoweredFunc f = func("total", {x, y}, {N}, body);
  try {
    (void)passes::vectorize(f.body);
    FAIL() << "expected an internal error";
  } catch (const InternalError &e) {
    EXPECT_NE(std::string(e.what()).find("scalar accumulator"), std::string::npos) << e.what();
  }
}

TEST(Vectorize, NestedVectorizedLoopsAreAnInternalError) {
  Buffer y = makeBuffer("y", DType::F32, {i64(8), i64(8)}, BufferRole::Output);
  Var i = loop("i"), j = loop("j");
  Stmt body = For::make(i, i64(8), ForKind::Vectorized,
                        For::make(j, i64(8), ForKind::Vectorized,
                                  Store::make(y, add(mul(v(i), i64(8)), v(j)), f32(1.0))));
  EXPECT_THROW((void)passes::vectorize(body), InternalError);
}

TEST(Vectorize, UniformValuesStayScalarAndAreBroadcastWhereTheyMeetLanes) {
  // y[i, j] = where(x[i, j] > b[i], f32(j) * s, -x[i, j]) with a let of a lane value.
  Buffer x = makeBuffer("x", DType::F32, {i64(3), i64(8)}, BufferRole::Input);
  Buffer b = makeBuffer("b", DType::F32, {i64(3)}, BufferRole::Input);
  Buffer s = makeBuffer("s", DType::F32, {}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {i64(3), i64(8)}, BufferRole::Output);
  Var i = loop("i"), j = loop("j"), t = makeVar("t", Type::scalar(DType::F32), VarKind::Let);
  Expr at = add(mul(v(i), i64(8)), v(j));
  Stmt inner =
      LetStmt::make(t, Load::make(x, at),
                    Store::make(y, at,
                                Select::make(bin(BinaryOp::Gt, v(t), Load::make(b, v(i))),
                                             mul(Cast::make(Type::scalar(DType::F32), v(j)),
                                                 Load::make(s, i64(0))),
                                             Unary::make(UnaryOp::Neg, v(t)))));
  Stmt body =
      For::make(i, i64(3), ForKind::Serial, For::make(j, i64(8), ForKind::Vectorized, inner));
  EXPECT_EQ(vectorized(func("mix", {x, b, s, y}, {}, body)),
            "func mix(x: f32[3, 8], b: f32[3], s: f32, y: f32[3, 8])\n"
            "  for i in [0, 3) serial\n"
            "    let t = x[ramp(i * 8, 1, 8)]\n"
            "      y[ramp(i * 8, 1, 8)] = select(t > broadcast(b[i], 8), f32(ramp(0, 1, 8)) * "
            "broadcast(s[0], 8), -t)\n");
}

TEST(Vectorize, FallbackLoadsKeepTheirPredicateAndGainTheRemainderMask) {
  // y[j] = x[j - 1] ?? 0.0, as buildLoopNest lowers `??`.
  Var N = symbol("N");
  Buffer x = makeBuffer("x", DType::F32, {v(N)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {v(N)}, BufferRole::Output);
  Stmt body = splitLoop("j", v(N), 4, true, [&](Expr j, Expr) {
    Expr before = sub(j, i64(1));
    Expr inBounds = bin(BinaryOp::Le, i64(0), before);
    return Store::make(y, j, Select::make(inBounds, Load::make(x, before, inBounds), f32(0.0)));
  });
  std::string text = vectorized(func("shift", {x, y}, {N}, body));
  EXPECT_NE(text.find("if (j.outer * 4 + 4 <= N)\n"
                      "      y[ramp(j.outer * 4, 1, 4)] = select(0:<4 x i64> <= ramp(j.outer * 4 - "
                      "1, 1, 4), x[ramp(j.outer * 4 - 1, 1, 4)] if (0:<4 x i64> <= ramp(j.outer * "
                      "4 - 1, 1, 4)), 0.0:<4 x f32>)\n"),
            std::string::npos)
      << text;
  // The masked body's load is predicated on both the bounds check and the remainder.
  EXPECT_NE(text.find("if (0:<4 x i64> <= ramp(j.outer * 4 - 1, 1, 4) and ramp(j.outer * 4, 1, "
                      "4) < broadcast(N, 4))"),
            std::string::npos)
      << text;
}

TEST(Vectorize, UniformLoadUnderAMaskHappensOnlyIfSomeLaneIsActive) {
  Var N = symbol("N");
  Buffer x = makeBuffer("x", DType::F32, {v(N)}, BufferRole::Input);
  Buffer c = makeBuffer("c", DType::F32, {i64(1)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {v(N)}, BufferRole::Output);
  Var j = loop("j");
  // if (x[j] > 0) y[j] = c[0]: the branch depends on the lane, so it becomes a mask.
  Stmt body = For::make(j, i64(4), ForKind::Vectorized,
                        IfThenElse::make(bin(BinaryOp::Gt, Load::make(x, v(j)), f32(0.0)),
                                         Store::make(y, v(j), Load::make(c, i64(0)))));
  EXPECT_EQ(vectorized(func("pick", {x, c, y}, {N}, body)),
            "func pick(x: f32[N], c: f32[1], y: f32[N]) symbols(N)\n"
            "  let cond = x[ramp(0, 1, 4)] > 0.0:<4 x f32>\n"
            "    y[ramp(0, 1, 4)] = broadcast(c[0] if (vector_max(cond)), 4) if (cond)\n");
}

TEST(Vectorize, BranchWithElseBecomesTwoComplementaryMasks) {
  Buffer x = makeBuffer("x", DType::I32, {i64(8)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::I32, {i64(8)}, BufferRole::Output);
  Var j = loop("j");
  Expr xj = Load::make(x, v(j));
  Stmt body = For::make(j, i64(8), ForKind::Vectorized,
                        IfThenElse::make(bin(BinaryOp::Lt, v(j), i64(3)), Store::make(y, v(j), xj),
                                         Store::make(y, v(j), mul(xj, intImm(2, DType::I32)))));
  EXPECT_EQ(vectorized(func("branch", {x, y}, {}, body)),
            "func branch(x: i32[8], y: i32[8])\n"
            "  y[ramp(0, 1, 8)] = (x[ramp(0, 1, 8)] if (ramp(0, 1, 8) < 3:<8 x i64>)) if (ramp(0, "
            "1, 8) < 3:<8 x i64>)\n"
            "  y[ramp(0, 1, 8)] = (x[ramp(0, 1, 8)] if (not ramp(0, 1, 8) < 3:<8 x i64>)) * 2:<8 x "
            "i32> if (not ramp(0, 1, 8) < 3:<8 x i64>)\n");
}

TEST(Vectorize, InnerReductionLoopWithAPrivateAccumulatorPerLane) {
  // Column sums: y[j] = sum(x[k, j] for k), with j vectorized and the one-element accumulator
  // allocated inside the vectorized loop, so each lane has its own.
  Var N = symbol("N");
  Buffer x = makeBuffer("x", DType::F32, {v(N), i64(8)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {i64(8)}, BufferRole::Output);
  Buffer acc = makeBuffer("y.acc", DType::F32, {i64(1)}, BufferRole::Intermediate);
  Var j = loop("j"), k = loop("k");
  Stmt body = For::make(
      j, i64(8), ForKind::Vectorized,
      Allocate::make(
          acc, MemoryScope::Stack,
          Block::make({Store::make(acc, i64(0), f32(0.0)),
                       For::make(k, v(N), ForKind::Serial,
                                 Store::make(acc, i64(0),
                                             add(Load::make(acc, i64(0)),
                                                 Load::make(x, add(mul(v(k), i64(8)), v(j)))))),
                       Store::make(y, v(j), Load::make(acc, i64(0)))})));
  EXPECT_EQ(vectorized(func("colsum", {x, y}, {N}, body)),
            "func colsum(x: f32[N, 8], y: f32[8]) symbols(N)\n"
            "  allocate y.acc: f32[8] stack\n"
            "    y.acc[ramp(0, 1, 8)] = 0.0:<8 x f32>\n"
            "    for k in [0, N) serial\n"
            "      y.acc[ramp(0, 1, 8)] = y.acc[ramp(0, 1, 8)] + x[ramp(k * 8, 1, 8)]\n"
            "    y[ramp(0, 1, 8)] = y.acc[ramp(0, 1, 8)]\n");
}

TEST(Vectorize, InnerLoopWhoseTripCountDependsOnTheLaneRunsTheLongestMasked) {
  // y[j] = sum(x[k] for k < j + 1): a triangular reduction per lane.
  Buffer x = makeBuffer("x", DType::F32, {i64(4)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {i64(4)}, BufferRole::Output);
  Buffer acc = makeBuffer("y.acc", DType::F32, {i64(1)}, BufferRole::Intermediate);
  Var j = loop("j"), k = loop("k");
  Stmt body = For::make(
      j, i64(4), ForKind::Vectorized,
      Allocate::make(
          acc, MemoryScope::Stack,
          Block::make({Store::make(acc, i64(0), f32(0.0)),
                       For::make(k, add(v(j), i64(1)), ForKind::Serial,
                                 Store::make(acc, i64(0),
                                             add(Load::make(acc, i64(0)), Load::make(x, v(k))))),
                       Store::make(y, v(j), Load::make(acc, i64(0)))})));
  EXPECT_EQ(vectorized(func("prefix", {x, y}, {}, body)),
            "func prefix(x: f32[4], y: f32[4])\n"
            "  allocate y.acc: f32[4] stack\n"
            "    y.acc[ramp(0, 1, 4)] = 0.0:<4 x f32>\n"
            "    let k.extent = ramp(1, 1, 4)\n"
            "      for k in [0, vector_max(k.extent)) serial\n"
            "        y.acc[ramp(0, 1, 4)] = select(broadcast(k, 4) < k.extent, select(broadcast(k, "
            "4) < k.extent, y.acc[ramp(0, 1, 4)], 0.0:<4 x f32>) + broadcast(x[k] if "
            "(vector_max(broadcast(k, 4) < k.extent)), 4), y.acc[ramp(0, 1, 4)])\n"
            "    y[ramp(0, 1, 4)] = y.acc[ramp(0, 1, 4)]\n");
}

TEST(Vectorize, StridedAndReversedIndicesBecomeRampsOfThatStride) {
  Buffer x = makeBuffer("x", DType::F64, {i64(64)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F64, {i64(8)}, BufferRole::Output);
  Var j = loop("j");
  Stmt body = For::make(
      j, i64(8), ForKind::Vectorized,
      Store::make(y, sub(i64(7), v(j)),
                  add(Load::make(x, mul(v(j), i64(8))), Load::make(x, sub(i64(63), v(j))))));
  EXPECT_EQ(vectorized(func("strided", {x, y}, {}, body)),
            "func strided(x: f64[64], y: f64[8])\n"
            "  y[ramp(7, -1, 8)] = x[ramp(0, 8, 8)] + x[ramp(63, -1, 8)]\n");
}

TEST(Vectorize, SymbolicWidthStaysASerialLoop) {
  Var N = symbol("N");
  Buffer y = makeBuffer("y", DType::F32, {v(N)}, BufferRole::Output);
  Var j = loop("j");
  Stmt body = For::make(j, v(N), ForKind::Vectorized, Store::make(y, v(j), f32(1.0)));
  EXPECT_EQ(vectorized(func("fill", {y}, {N}, body)), "func fill(y: f32[N]) symbols(N)\n"
                                                      "  for j in [0, N) serial\n"
                                                      "    y[j] = 1.0\n");
}

TEST(Vectorize, UnchangedWithoutVectorizedLoops) {
  Var N = symbol("N");
  Buffer y = makeBuffer("y", DType::F32, {v(N)}, BufferRole::Output);
  Var j = loop("j");
  Stmt body = For::make(j, v(N), ForKind::Serial, Store::make(y, v(j), f32(1.0)));
  EXPECT_EQ(passes::vectorize(body), body);
}

} // namespace
