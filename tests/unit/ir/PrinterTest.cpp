// The stable text forms of both IR levels: exact strings, since golden tests depend on them.
#include "IrTestUtil.h"
#include "ir/IRPrinter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace tdsl::ir {
namespace {

using namespace test;

Kernel softmaxKernel() {
  KernelBuilder kb("softmax");
  Var n = kb.sym("N"), d = kb.sym("D");
  Buffer x = kb.input("x", DType::F32, {vr(n), vr(d)});
  Buffer y = kb.output("y", DType::F32, {vr(n), vr(d)});
  Buffer e = KernelBuilder::temp("e", DType::F32, {vr(n), vr(d)});
  {
    Var i = KernelBuilder::index("i"), j = KernelBuilder::index("j"), k = KernelBuilder::index("k");
    Expr mx = reduceOver(ReduceOp::Max, {{k, vr(d)}}, at(x, {vr(i), vr(k)}));
    kb.def(e, {i, j}, call(Intrinsic::Exp, sub(at(x, {vr(i), vr(j)}), mx)));
  }
  {
    // Fresh variables with the same names: each definition is its own scope.
    Var i = KernelBuilder::index("i"), j = KernelBuilder::index("j"), k = KernelBuilder::index("k");
    Expr s = reduceOver(ReduceOp::Sum, {{k, vr(d)}}, at(e, {vr(i), vr(k)}));
    kb.def(y, {i, j}, bin(BinaryOp::Div, at(e, {vr(i), vr(j)}), s));
  }
  return kb.k;
}

TEST(Printer, SoftmaxKernel) {
  EXPECT_EQ(toString(softmaxKernel()),
            "kernel softmax(x: f32[N, D]) -> (y: f32[N, D])\n"
            "  e[i < N, j < D]: f32 = exp(x[i, j] - max(x[i, k] for k < D))\n"
            "  y[i < N, j < D]: f32 = e[i, j] / sum(e[i, k] for k < D)\n");
}

TEST(Printer, ConvKernelWithAffineOutputDimsAndScalar) {
  KernelBuilder kb("conv1d");
  Var h = kb.sym("H"), r = kb.sym("R");
  Buffer x = kb.input("x", DType::F32, {vr(h)});
  Buffer w = kb.input("w", DType::F32, {vr(r)});
  Buffer y = kb.output("y", DType::F32, {add(sub(vr(h), vr(r)), imm(1))});
  Buffer t = kb.output("total", DType::F64, {});
  Var i = KernelBuilder::index("i"), q = KernelBuilder::index("q");
  kb.def(y, {i},
         reduceOver(ReduceOp::Sum, {{q, vr(r)}}, mul(at(x, {add(vr(i), vr(q))}), at(w, {vr(q)}))));
  Var k = KernelBuilder::index("k");
  kb.def(t, {}, reduceOver(ReduceOp::Sum, {{k, vr(h)}}, cast(DType::F64, at(x, {vr(k)}))));
  EXPECT_EQ(toString(kb.k),
            "kernel conv1d(x: f32[H], w: f32[R]) -> (y: f32[H - R + 1], total: f64)\n"
            "  y[i < H - R + 1]: f32 = sum(x[i + q] * w[q] for q < R)\n"
            "  total: f64 = sum(f64(x[k]) for k < H)\n");
}

TEST(Printer, Precedence) {
  Var av = makeVar("a", Type::i64(), VarKind::Index),
      bv = makeVar("b", Type::i64(), VarKind::Index),
      cv = makeVar("c", Type::i64(), VarKind::Index);
  Expr a = vr(av), b = vr(bv), c = vr(cv);
  EXPECT_EQ(toString(mul(add(a, b), c)), "(a + b) * c");
  EXPECT_EQ(toString(add(a, mul(b, c))), "a + b * c");
  EXPECT_EQ(toString(sub(sub(a, b), c)), "a - b - c");
  EXPECT_EQ(toString(sub(a, sub(b, c))), "a - (b - c)");
  EXPECT_EQ(toString(bin(BinaryOp::FloorDiv, a, mul(b, c))), "a // (b * c)");
  EXPECT_EQ(toString(bin(BinaryOp::Mod, bin(BinaryOp::FloorDiv, a, b), c)), "a // b % c");
  EXPECT_EQ(toString(bin(BinaryOp::Pow, a, bin(BinaryOp::Pow, b, c))), "a ** b ** c");
  EXPECT_EQ(toString(bin(BinaryOp::Pow, bin(BinaryOp::Pow, a, b), c)), "(a ** b) ** c");
  Expr negA = Unary::make(UnaryOp::Neg, a);
  EXPECT_EQ(toString(bin(BinaryOp::Pow, negA, imm(2))), "(-a) ** 2");
  EXPECT_EQ(toString(Unary::make(UnaryOp::Neg, bin(BinaryOp::Pow, a, imm(2)))), "-a ** 2");
  EXPECT_EQ(toString(Unary::make(UnaryOp::Neg, negA)), "-(-a)");
  EXPECT_EQ(toString(Unary::make(UnaryOp::Neg, add(a, b))), "-(a + b)");
  EXPECT_EQ(toString(sub(a, imm(-3))), "a - -3");
  EXPECT_EQ(toString(mul(a, negA)), "a * -a");
  Expr lt = bin(BinaryOp::Lt, a, b), eq = bin(BinaryOp::Eq, lt, boolImm(true));
  EXPECT_EQ(toString(eq), "(a < b) == true");
  Expr both = bin(BinaryOp::And, lt, bin(BinaryOp::Or, eq, boolImm(false)));
  EXPECT_EQ(toString(both), "a < b and ((a < b) == true or false)");
  EXPECT_EQ(toString(Unary::make(UnaryOp::Not, both)),
            "not (a < b and ((a < b) == true or false))");
  EXPECT_EQ(toString(Unary::make(UnaryOp::Not, lt)), "not a < b");
  EXPECT_EQ(toString(bin(BinaryOp::Max, add(a, b), bin(BinaryOp::Min, a, c))),
            "max(a + b, min(a, c))");
  EXPECT_EQ(toString(mul(Select::make(lt, a, b), c)), "select(a < b, a, b) * c");
}

TEST(Printer, Literals) {
  EXPECT_EQ(toString(imm(3)), "3");
  EXPECT_EQ(toString(imm(-3)), "-3");
  EXPECT_EQ(toString(imm(3, DType::I32)), "3:i32");
  EXPECT_EQ(toString(boolImm(true)), "true");
  EXPECT_EQ(toString(fimm(1.0)), "1.0");
  EXPECT_EQ(toString(fimm(0.5)), "0.5");
  EXPECT_EQ(toString(fimm(static_cast<float>(0.1))), "0.1"); // Shortest form that reads back.
  EXPECT_EQ(toString(fimm(0.1, DType::F64)), "0.1:f64");
  EXPECT_EQ(toString(fimm(1.0 / 3.0, DType::F64)), "0.3333333333333333:f64");
  EXPECT_EQ(toString(fimm(static_cast<float>(1.0 / 3.0))), "0.33333334");
  EXPECT_EQ(toString(fimm(static_cast<float>(1e-5))), "1e-05");
  EXPECT_EQ(toString(fimm(1e20)), "1e+20");
  EXPECT_EQ(toString(fimm(-0.0)), "-0.0");
  EXPECT_EQ(toString(fimm(100.0, DType::F16)), "100.0:f16");
  EXPECT_EQ(toString(fimm(std::numeric_limits<double>::infinity())), "inf");
  EXPECT_EQ(toString(fimm(-std::numeric_limits<double>::infinity())), "-inf");
  EXPECT_EQ(toString(fimm(std::nan(""))), "nan");
  EXPECT_EQ(toString(IntImm::make(Type{DType::I32, 16}, 7)), "7:<16 x i32>");
  // Casts name the target dtype; a float cast of a symbol.
  Var n = makeVar("N", Type::i64(), VarKind::Symbol);
  EXPECT_EQ(toString(cast(DType::F32, vr(n))), "f32(N)");
  EXPECT_EQ(toString(call(Intrinsic::Rsqrt, add(cast(DType::F32, vr(n)), fimm(1e-5f)))),
            "rsqrt(f32(N) + 1e-05)");
}

TEST(Printer, AccessFallback) {
  Var n = makeVar("N", Type::i64(), VarKind::Symbol);
  Var i = makeVar("i", Type::i64(), VarKind::Index);
  Buffer x = makeBuffer("x", DType::F32, {vr(n)}, BufferRole::Input);
  Expr left = at(x, {sub(vr(i), imm(1))}, fimm(0.0));
  EXPECT_EQ(toString(left), "x[i - 1] ?? 0.0");
  EXPECT_EQ(toString(add(left, at(x, {vr(i)}))), "x[i - 1] ?? 0.0 + x[i]");
  EXPECT_EQ(toString(at(x, {vr(i)}, fimm(-1.0))), "x[i] ?? (-1.0)");
  EXPECT_EQ(toString(at(x, {vr(i)}, at(x, {imm(0)}))), "x[i] ?? (x[0])");
  Var c = makeVar("c", Type::scalar(DType::F32), VarKind::Let);
  EXPECT_EQ(toString(at(x, {vr(i)}, vr(c))), "x[i] ?? c");
}

TEST(Printer, ShadowedNamesAreDisambiguated) {
  Var n = makeVar("N", Type::i64(), VarKind::Symbol);
  Buffer x = makeBuffer("x", DType::F32, {vr(n), vr(n)}, BufferRole::Input);
  Var k1 = makeVar("k", Type::i64(), VarKind::Index),
      k2 = makeVar("k", Type::i64(), VarKind::Index);
  Expr inner = reduceOver(ReduceOp::Sum, {{k2, vr(n)}}, at(x, {vr(k1), vr(k2)}));
  Expr outer = reduceOver(ReduceOp::Max, {{k1, vr(n)}}, inner);
  EXPECT_EQ(toString(outer), "max(sum(x[k, k.1] for k.1 < N) for k < N)");
  // Sibling scopes reuse the plain name.
  Expr k1sum = reduceOver(ReduceOp::Sum, {{k1, vr(n)}}, at(x, {vr(k1), vr(k1)}));
  Expr k2sum = reduceOver(ReduceOp::Sum, {{k2, vr(n)}}, at(x, {vr(k2), vr(k2)}));
  EXPECT_EQ(toString(add(k1sum, k2sum)), "sum(x[k, k] for k < N) + sum(x[k, k] for k < N)");
  // Free variables that merely share a name are told apart.
  EXPECT_EQ(toString(add(vr(k1), vr(k2))), "k + k.1");
}

LoweredFunc scaleFunc() {
  Var n = makeVar("N", Type::i64(), VarKind::Symbol);
  Buffer x = makeBuffer("x", DType::F32, {vr(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {vr(n)}, BufferRole::Output);
  Buffer acc = makeBuffer("acc", DType::F32, {imm(16)}, BufferRole::Intermediate);
  Var io = makeVar("i.outer", Type::i64(), VarKind::Loop);
  Var base = makeVar("base", Type::i64(), VarKind::Let);
  Expr ramp = Ramp::make(vr(base), imm(1), 16);
  Stmt vec = Store::make(y, ramp, mul(Load::make(x, ramp), Broadcast::make(fimm(2.0), 16)));
  Stmt outer = For::make(io, bin(BinaryOp::FloorDiv, vr(n), imm(16)), ForKind::Parallel,
                         LetStmt::make(base, mul(vr(io), imm(16)), vec));
  Var i = makeVar("i", Type::i64(), VarKind::Loop);
  Expr idx = add(mul(bin(BinaryOp::FloorDiv, vr(n), imm(16)), imm(16)), vr(i));
  Expr inBounds = bin(BinaryOp::Lt, idx, vr(n));
  Stmt tail = For::make(i, imm(16), ForKind::Serial,
                        IfThenElse::make(inBounds, Store::make(acc, vr(i), Load::make(x, idx)),
                                         Store::make(acc, vr(i), fimm(0.0))));
  // A second loop over a different variable also called `i`: sibling scopes keep the name.
  Var i2 = makeVar("i", Type::i64(), VarKind::Loop);
  Expr lanes = Ramp::make(imm(0), imm(1), 16);
  Expr pred = bin(BinaryOp::Lt, lanes, Broadcast::make(vr(n), 16));
  Stmt sum =
      For::make(i2, imm(1), ForKind::Serial,
                Store::make(y, imm(0),
                            add(Load::make(y, imm(0)),
                                VectorReduce::make(ReduceOp::Sum, Load::make(acc, lanes, pred)))));
  Stmt body =
      Block::make({outer, Allocate::make(acc, MemoryScope::Stack, Block::make({tail, sum}))});
  return LoweredFunc{"scale", {x, y}, {n}, body};
}

TEST(Printer, LoopLevelFunction) {
  EXPECT_EQ(toString(scaleFunc()),
            "func scale(x: f32[N], y: f32[N]) symbols(N)\n"
            "  for i.outer in [0, N // 16) parallel\n"
            "    let base = i.outer * 16\n"
            "      y[ramp(base, 1, 16)] = x[ramp(base, 1, 16)] * broadcast(2.0, 16)\n"
            "  allocate acc: f32[16] stack\n"
            "    for i in [0, 16) serial\n"
            "      if (N // 16 * 16 + i < N)\n"
            "        acc[i] = x[N // 16 * 16 + i]\n"
            "      else\n"
            "        acc[i] = 0.0\n"
            "    for i in [0, 1) serial\n"
            "      y[0] = y[0] + vector_sum(acc[ramp(0, 1, 16)] if (ramp(0, 1, 16) < "
            "broadcast(N, 16)))\n");
}

TEST(Printer, PredicatedLoadAndStoreAndIndent) {
  Var n = makeVar("N", Type::i64(), VarKind::Symbol);
  Buffer x = makeBuffer("x", DType::F32, {vr(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {vr(n)}, BufferRole::Output);
  Expr p = bin(BinaryOp::Lt, imm(3), vr(n));
  Stmt s = Store::make(y, imm(3), add(Load::make(x, imm(3), p), fimm(1.0)), p);
  EXPECT_EQ(toString(s), "y[3] = (x[3] if (3 < N)) + 1.0 if (3 < N)\n");
  EXPECT_EQ(toString(s, 2), "    y[3] = (x[3] if (3 < N)) + 1.0 if (3 < N)\n");
  Stmt bare = Store::make(y, imm(0), Load::make(x, imm(0), p), p);
  EXPECT_EQ(toString(bare), "y[0] = (x[0] if (3 < N)) if (3 < N)\n");
}

TEST(Printer, LetShadowingReadsCorrectly) {
  Var a = makeVar("v", Type::i64(), VarKind::Let), b = makeVar("v", Type::i64(), VarKind::Let);
  Buffer y = makeBuffer("y", DType::I64, {imm(1)}, BufferRole::Output);
  Stmt s = LetStmt::make(
      a, imm(1), LetStmt::make(b, add(vr(a), imm(1)), Store::make(y, imm(0), add(vr(a), vr(b)))));
  EXPECT_EQ(toString(s), "let v = 1\n"
                         "  let v.1 = v + 1\n"
                         "    y[0] = v + v.1\n");
}

TEST(Printer, Names) {
  EXPECT_EQ(opName(BinaryOp::FloorDiv), "//");
  EXPECT_EQ(opName(UnaryOp::Not), "not");
  EXPECT_EQ(intrinsicName(Intrinsic::Sigmoid), "sigmoid");
  EXPECT_EQ(reduceName(ReduceOp::Mean), "mean");
  EXPECT_EQ(forKindName(ForKind::GpuThread), "gpu_thread");
  EXPECT_EQ(forKindName(ForKind::Vectorized), "vectorized");
}

} // namespace
} // namespace tdsl::ir
