// Binding shape symbols at call time: values, and the exact text of every caller error.
#include "ir/Shapes.h"
#include "IrTestUtil.h"
#include "ir/IRPrinter.h"

#include <gtest/gtest.h>

#include <limits>

namespace tdsl::ir {
namespace {

using namespace test;

/// The message of the RuntimeError that `f` throws, or "" when it does not throw.
template <typename F> std::string runtimeError(F f) {
  try {
    f();
  } catch (const RuntimeError &e) {
    return e.what();
  }
  return "";
}

/// conv2d(x: f32[B, C, H, W], w: f32[O, C, R, S]) -> y: f32[B, O, H - R + 1, W - S + 1]
Kernel conv2d() {
  KernelBuilder kb("conv2d");
  Var b = kb.sym("B"), c = kb.sym("C"), h = kb.sym("H"), w = kb.sym("W");
  Var o = kb.sym("O"), r = kb.sym("R"), s = kb.sym("S");
  kb.input("x", DType::F32, {vr(b), vr(c), vr(h), vr(w)});
  kb.input("w", DType::F32, {vr(o), vr(c), vr(r), vr(s)});
  kb.output("y", DType::F32,
            {vr(b), vr(o), add(sub(vr(h), vr(r)), imm(1)), add(sub(vr(w), vr(s)), imm(1))});
  return kb.k;
}

TEST(Shapes, BindsSymbolsAndEvaluatesOutputShapes) {
  Kernel k = conv2d();
  std::vector<int64_t> v = bindSymbols(k, {{2, 3, 8, 9}, {4, 3, 3, 2}});
  EXPECT_EQ(v, (std::vector<int64_t>{2, 3, 8, 9, 4, 3, 2}));
  EXPECT_EQ(evalShape(k.outputs[0], k.symbols, v), (std::vector<int64_t>{2, 4, 6, 8}));
}

TEST(Shapes, RankMismatch) {
  KernelBuilder kb("softmax");
  Var n = kb.sym("N"), d = kb.sym("D");
  kb.input("x", DType::F32, {vr(n), vr(d)});
  EXPECT_EQ(runtimeError([&] {
              bindSymbols(kb.k, {{3, 4, 5}});
            }),
            "input x: expected f32[N, D] (rank 2), got shape [3, 4, 5]");
}

TEST(Shapes, LiteralDimMismatch) {
  KernelBuilder kb("rgb");
  Var n = kb.sym("N");
  kb.input("x", DType::F32, {vr(n), imm(3)});
  EXPECT_EQ(runtimeError([&] { bindSymbols(kb.k, {{5, 3}}); }), "");
  EXPECT_EQ(runtimeError([&] {
              bindSymbols(kb.k, {{5, 4}});
            }),
            "input x: expected f32[N, 3], got shape [5, 4] (dim 1 is 4, not 3)");
}

TEST(Shapes, SymbolDisagreementNamesBothInputs) {
  Kernel k = conv2d();
  EXPECT_EQ(runtimeError([&] {
              bindSymbols(k, {{2, 3, 8, 9}, {4, 5, 3, 2}});
            }),
            "inputs x and w disagree on C: x: f32[B, C, H, W] has C = 3 (shape [2, 3, 8, 9]), "
            "w: f32[O, C, R, S] has C = 5 (shape [4, 5, 3, 2])");
  // A symbol repeated within one input.
  KernelBuilder kb("square");
  Var n = kb.sym("N");
  kb.input("a", DType::F64, {vr(n), vr(n)});
  EXPECT_EQ(runtimeError([&] {
              bindSymbols(kb.k, {{2, 3}});
            }),
            "inputs a and a disagree on N: a: f64[N, N] has N = 2 (shape [2, 3]), a: f64[N, N] "
            "has N = 3 (shape [2, 3])");
}

TEST(Shapes, NegativeOutputDim) {
  EXPECT_EQ(runtimeError([&] {
              bindSymbols(conv2d(), {{1, 1, 1, 5}, {1, 1, 4, 1}});
            }),
            "output y would have dim H - R + 1 = -2 for H=1, R=4");
  // Zero is a valid (empty) dim.
  EXPECT_EQ(runtimeError([&] { bindSymbols(conv2d(), {{1, 1, 3, 5}, {1, 1, 4, 1}}); }), "");
}

/// flatten(x: f32[H, Z], w: f32[W]) -> y: f32[(H + 1) // 2 * W], with t[i < H * W * W] inside.
Kernel shapeArithmetic() {
  KernelBuilder kb("flatten");
  Var h = kb.sym("H"), z = kb.sym("Z"), w = kb.sym("W");
  Buffer x = kb.input("x", DType::F32, {vr(h), vr(z)});
  kb.input("w", DType::F32, {vr(w)});
  Buffer y =
      kb.output("y", DType::F32, {mul(bin(BinaryOp::FloorDiv, add(vr(h), imm(1)), imm(2)), vr(w))});
  Buffer t = KernelBuilder::temp("t", DType::F32, {mul(mul(vr(h), vr(w)), vr(w))});
  Var i = KernelBuilder::index("i");
  kb.def(t, {i}, fimm(1.0));
  kb.def(y, {i}, fimm(2.0));
  (void)x;
  return kb.k;
}

TEST(Shapes, OutputDimsWithDivisionsAndProducts) {
  Kernel k = shapeArithmetic();
  std::vector<int64_t> v = bindSymbols(k, {{7, 0}, {3}});
  EXPECT_EQ(evalShape(k.outputs[0], k.symbols, v), (std::vector<int64_t>{12}));
  ASSERT_EQ(nonlinearExtents(k).size(), 2u);
  EXPECT_EQ(toString(nonlinearExtents(k)[0]), "H * W * W");
}

TEST(Shapes, ShapeArithmeticThatOverflowsIsRefused) {
  // The proofs assume exact integers: a dim or an extent that wraps is an error, not a shape.
  Kernel k = shapeArithmetic();
  int64_t big = int64_t(1) << 32;
  EXPECT_EQ(runtimeError([&] {
              bindSymbols(k, {{2 * big, 0}, {big}});
            }),
            "output y would have dim (H + 1) // 2 * W, which overflows 64 bits for H=8589934592, "
            "W=4294967296");
  EXPECT_EQ(runtimeError([&] {
              bindSymbols(k, {{1, 0}, {big}});
            }),
            "kernel flatten would loop over H * W * W points, which overflows 64 bits for H=1, "
            "W=4294967296");
}

TEST(Shapes, WrongInputCountAndNegativeDims) {
  Kernel k = conv2d();
  EXPECT_EQ(runtimeError([&] {
              bindSymbols(k, {{2, 3, 8, 9}});
            }),
            "kernel conv2d takes 2 inputs, got 1");
  EXPECT_EQ(runtimeError([&] {
              bindSymbols(k, {{2, -3, 8, 9}, {4, 3, 3, 2}});
            }),
            "input x: expected f32[B, C, H, W], got shape [2, -3, 8, 9] with a negative dim");
}

TEST(Shapes, EvalIntFollowsPythonSemantics) {
  Var a = makeVar("a", Type::i64(), VarKind::Symbol),
      b = makeVar("b", Type::i64(), VarKind::Symbol);
  std::vector<Var> vars{a, b};
  auto eval = [&](const Expr &e, int64_t va, int64_t vb) { return evalInt(e, vars, {va, vb}); };
  Expr fd = bin(BinaryOp::FloorDiv, vr(a), vr(b)), md = bin(BinaryOp::Mod, vr(a), vr(b));
  EXPECT_EQ(eval(fd, -7, 2), -4);
  EXPECT_EQ(eval(md, -7, 2), 1);
  EXPECT_EQ(eval(fd, 7, -2), -4);
  EXPECT_EQ(eval(md, 7, -2), -1);
  EXPECT_EQ(eval(fd, 7, 0), 0);
  EXPECT_EQ(eval(md, 7, 0), 0);
  int64_t lo = std::numeric_limits<int64_t>::min();
  EXPECT_EQ(eval(fd, lo, -1), lo);
  EXPECT_EQ(eval(md, lo, -1), 0);
  EXPECT_EQ(eval(bin(BinaryOp::Min, vr(a), vr(b)), 3, -2), -2);
  EXPECT_EQ(eval(bin(BinaryOp::Max, vr(a), vr(b)), 3, -2), 3);
  EXPECT_EQ(eval(Select::make(bin(BinaryOp::Lt, vr(a), vr(b)), imm(10), imm(20)), 1, 2), 10);
  EXPECT_EQ(eval(add(mul(vr(a), imm(2)), Unary::make(UnaryOp::Neg, vr(b))), 5, 3), 7);
  EXPECT_EQ(eval(sub(vr(a), imm(1)), lo, 0), std::numeric_limits<int64_t>::max()); // Wraps.
  // Casts between integer types wrap; bool is 0 or 1.
  EXPECT_EQ(eval(cast(DType::I64, cast(DType::I32, vr(a))), (int64_t(1) << 32) + 7, 0), 7);
  EXPECT_EQ(eval(cast(DType::I64, cast(DType::Bool, vr(a))), -5, 0), 1);
}

} // namespace
} // namespace tdsl::ir
