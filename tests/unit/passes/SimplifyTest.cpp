// simplify: folding that matches run-time semantics bit for bit (wrapping integers, Python floor
// division, f32 arithmetic in f32, NaN-propagating min/max), the identities that are exact, the
// linear form of integer index arithmetic, and statement cleanup.
#include "KernelBuilder.h"
#include "ir/IRPrinter.h"
#include "passes/Pipeline.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>

namespace {

using namespace tdsl;
using namespace tdsl::testing_passes;

std::string simplified(const Expr &e) { return toString(passes::simplify(e)); }

Expr i32(int64_t value) { return intImm(value, DType::I32); }
Expr f64(double value) { return floatImm(value, DType::F64); }
Expr sym(const char *name) { return VarRef::make(makeVar(name, Type::i64(), VarKind::Symbol)); }
Expr loopVar(const char *name) { return VarRef::make(makeVar(name, Type::i64(), VarKind::Loop)); }

int64_t intValue(const Expr &e) {
  const IntImm *imm = as<IntImm>(e);
  EXPECT_NE(imm, nullptr) << toString(e) << " is not an integer constant";
  return imm ? imm->value : 0;
}
double floatValue(const Expr &e) {
  const FloatImm *imm = as<FloatImm>(e);
  EXPECT_NE(imm, nullptr) << toString(e) << " is not a float constant";
  return imm ? imm->value : 0;
}

TEST(SimplifyFold, FloorDivisionAndModuloFollowPython) {
  auto fold = [](BinaryOp op, int64_t a, int64_t b) {
    return intValue(passes::simplify(bin(op, i64(a), i64(b))));
  };
  EXPECT_EQ(fold(BinaryOp::FloorDiv, 7, 2), 3);
  EXPECT_EQ(fold(BinaryOp::FloorDiv, -7, 2), -4);
  EXPECT_EQ(fold(BinaryOp::FloorDiv, 7, -2), -4);
  EXPECT_EQ(fold(BinaryOp::FloorDiv, -7, -2), 3);
  EXPECT_EQ(fold(BinaryOp::FloorDiv, -8, 2), -4);
  EXPECT_EQ(fold(BinaryOp::Mod, 7, 2), 1);
  EXPECT_EQ(fold(BinaryOp::Mod, -7, 2), 1);
  EXPECT_EQ(fold(BinaryOp::Mod, 7, -2), -1);
  EXPECT_EQ(fold(BinaryOp::Mod, -7, -2), -1);
  EXPECT_EQ(fold(BinaryOp::Mod, -8, 2), 0);
  // Division by zero gives 0, and the most negative value // -1 wraps.
  EXPECT_EQ(fold(BinaryOp::FloorDiv, 5, 0), 0);
  EXPECT_EQ(fold(BinaryOp::Mod, 5, 0), 0);
  constexpr int64_t min64 = std::numeric_limits<int64_t>::min();
  EXPECT_EQ(fold(BinaryOp::FloorDiv, min64, -1), min64);
  EXPECT_EQ(fold(BinaryOp::Mod, min64, -1), 0);
}

TEST(SimplifyFold, IntegersWrapAtTheirWidth) {
  EXPECT_EQ(simplified(add(i32(2147483647), i32(1))), "-2147483648:i32");
  EXPECT_EQ(simplified(mul(i32(65536), i32(65536))), "0:i32");
  EXPECT_EQ(simplified(Unary::make(UnaryOp::Neg, i32(-2147483648))), "-2147483648:i32");
  EXPECT_EQ(simplified(bin(BinaryOp::FloorDiv, i32(-2147483648), i32(-1))), "-2147483648:i32");
  EXPECT_EQ(simplified(add(i64(std::numeric_limits<int64_t>::max()), i64(1))),
            "-9223372036854775808");
  EXPECT_EQ(simplified(call(Intrinsic::Abs, i32(-2147483648))), "-2147483648:i32");
}

TEST(SimplifyFold, IntegerPowerBySquaringWithTheNegativeExponentRule) {
  auto pow = [](int64_t a, int64_t b) {
    return intValue(passes::simplify(bin(BinaryOp::Pow, i64(a), i64(b))));
  };
  EXPECT_EQ(pow(2, 10), 1024);
  EXPECT_EQ(pow(-3, 3), -27);
  EXPECT_EQ(pow(5, 0), 1);
  EXPECT_EQ(pow(2, 64), 0); // Wraps.
  EXPECT_EQ(pow(3, -1), 0);
  EXPECT_EQ(pow(1, -7), 1);
  EXPECT_EQ(pow(-1, -3), -1);
  EXPECT_EQ(pow(-1, -4), 1);
  EXPECT_EQ(pow(0, -1), 0);
  EXPECT_EQ(simplified(bin(BinaryOp::Pow, i32(3), i32(21))), "1870418611:i32"); // 3^21 mod 2^32.
}

TEST(SimplifyFold, F32ArithmeticRoundsToF32) {
  // 2^24 + 1 is not representable in f32: the sum rounds back to 2^24.
  EXPECT_EQ(floatValue(passes::simplify(add(f32(16777216.0), f32(1.0)))), 16777216.0);
  EXPECT_EQ(floatValue(passes::simplify(add(f64(16777216.0), f64(1.0)))), 16777217.0);
  EXPECT_EQ(floatValue(passes::simplify(bin(BinaryOp::Div, f32(1.0), f32(3.0)))),
            static_cast<double>(1.0f / 3.0f));
  EXPECT_EQ(floatValue(passes::simplify(bin(BinaryOp::Div, f64(1.0), f64(3.0)))), 1.0 / 3.0);
}

TEST(SimplifyFold, FloatFloorDivisionAndModulo) {
  auto fold = [](BinaryOp op, double a, double b) {
    return floatValue(passes::simplify(bin(op, f32(a), f32(b))));
  };
  EXPECT_EQ(fold(BinaryOp::FloorDiv, -7.0, 2.0), -4.0);
  EXPECT_EQ(fold(BinaryOp::Mod, -7.0, 2.0), 1.0);
  EXPECT_EQ(fold(BinaryOp::Mod, 7.0, -2.0), -1.0);
  EXPECT_EQ(fold(BinaryOp::Mod, 5.5, 2.0), 1.5);
  EXPECT_TRUE(std::isnan(fold(BinaryOp::Mod, 1.0, 0.0)));
  EXPECT_EQ(fold(BinaryOp::FloorDiv, 1.0, 0.0), std::numeric_limits<double>::infinity());
}

TEST(SimplifyFold, MinMaxPropagateNaNAndOrderSignedZeros) {
  double nan = std::numeric_limits<double>::quiet_NaN();
  auto fold = [](BinaryOp op, double a, double b) {
    return floatValue(passes::simplify(bin(op, f32(a), f32(b))));
  };
  EXPECT_TRUE(std::isnan(fold(BinaryOp::Max, nan, 1.0)));
  EXPECT_TRUE(std::isnan(fold(BinaryOp::Min, 1.0, nan)));
  EXPECT_FALSE(std::signbit(fold(BinaryOp::Max, -0.0, 0.0)));
  EXPECT_FALSE(std::signbit(fold(BinaryOp::Max, 0.0, -0.0)));
  EXPECT_TRUE(std::signbit(fold(BinaryOp::Min, 0.0, -0.0)));
  EXPECT_TRUE(std::signbit(fold(BinaryOp::Min, -0.0, 0.0)));
  EXPECT_EQ(fold(BinaryOp::Max, -2.0, 3.0), 3.0);
  EXPECT_FALSE(std::signbit(floatValue(passes::simplify(call(Intrinsic::Relu, f32(-0.0))))));
  EXPECT_TRUE(std::isnan(floatValue(passes::simplify(call(Intrinsic::Relu, f32(nan))))));
}

TEST(SimplifyFold, ComparisonsAndLogic) {
  double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(simplified(bin(BinaryOp::Lt, i64(3), i64(4))), "true");
  EXPECT_EQ(simplified(bin(BinaryOp::Ne, f32(nan), f32(nan))), "true");
  EXPECT_EQ(simplified(bin(BinaryOp::Eq, f32(nan), f32(nan))), "false");
  EXPECT_EQ(simplified(Unary::make(UnaryOp::Not, boolImm(false))), "true");
  Expr c = bin(BinaryOp::Lt, loopVar("i"), sym("N"));
  EXPECT_EQ(simplified(bin(BinaryOp::And, boolImm(true), c)), "i < N");
  EXPECT_EQ(simplified(bin(BinaryOp::And, c, boolImm(false))), "false");
  EXPECT_EQ(simplified(bin(BinaryOp::Or, c, boolImm(false))), "i < N");
  EXPECT_EQ(simplified(bin(BinaryOp::Or, boolImm(true), c)), "true");
}

TEST(SimplifyFold, CastsOfConstants) {
  Type i32t = Type::scalar(DType::I32), f32t = Type::scalar(DType::F32);
  double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(simplified(Cast::make(f32t, i64(3))), "3.0");
  EXPECT_EQ(simplified(Cast::make(i32t, f32(2.75))), "2:i32");
  EXPECT_EQ(simplified(Cast::make(i32t, f32(-2.75))), "-2:i32");
  EXPECT_EQ(simplified(Cast::make(i32t, f64(1e10))), "2147483647:i32");
  EXPECT_EQ(simplified(Cast::make(i32t, f64(-1e300))), "-2147483648:i32");
  EXPECT_EQ(simplified(Cast::make(i32t, f32(nan))), "0:i32");
  EXPECT_EQ(simplified(Cast::make(Type::i64(), f64(1e19))), "9223372036854775807");
  EXPECT_EQ(simplified(Cast::make(i32t, i64(int64_t{1} << 31))), "-2147483648:i32");
  EXPECT_EQ(simplified(Cast::make(Type::boolean(), f32(0.5))), "true");
  EXPECT_EQ(simplified(Cast::make(Type::boolean(), f32(nan))), "true");
  EXPECT_EQ(simplified(Cast::make(Type::boolean(), i64(0))), "false");
  EXPECT_EQ(simplified(Cast::make(f32t, boolImm(true))), "1.0");
  EXPECT_EQ(floatValue(passes::simplify(Cast::make(f32t, f64(0.1)))), static_cast<double>(0.1f));
  // f16 rounds to nearest even: 2049 lies between 2048 and 2050 and goes to 2048.
  EXPECT_EQ(simplified(Cast::make(Type::scalar(DType::F16), f32(2049.0))), "2048.0:f16");
  EXPECT_EQ(simplified(Cast::make(Type::scalar(DType::F16), f32(65520.0))), "inf:f16");
  EXPECT_EQ(simplified(Cast::make(Type::scalar(DType::BF16), f32(257.0))), "256.0:bf16");
  // Not folded where one rounding cannot be guaranteed here: f64 -> f16 of an inexact f32.
  Expr f64ToF16 = Cast::make(Type::scalar(DType::F16), f64(0.1));
  EXPECT_EQ(passes::simplify(f64ToF16), f64ToF16);
}

TEST(SimplifyFold, TranscendentalsAndFloatPowAreLeftToRunTime) {
  Expr e = call(Intrinsic::Exp, f32(1.0));
  EXPECT_EQ(passes::simplify(e), e);
  Expr p = bin(BinaryOp::Pow, f32(2.0), f32(0.5));
  EXPECT_EQ(passes::simplify(p), p);
  EXPECT_EQ(floatValue(passes::simplify(call(Intrinsic::Sqrt, f32(2.0)))),
            static_cast<double>(std::sqrt(2.0f)));
  EXPECT_EQ(simplified(call(Intrinsic::Round, f32(2.5))), "2.0");
  EXPECT_EQ(simplified(call(Intrinsic::Round, f32(-3.5))), "-4.0");
  EXPECT_EQ(simplified(call(Intrinsic::Floor, f32(-0.5))), "-1.0");
}

TEST(SimplifyIdentity, OnlyExactFloatIdentities) {
  Buffer x = makeBuffer("x", DType::F32, {}, BufferRole::Input);
  Expr load = Load::make(x, i64(0));
  EXPECT_EQ(simplified(mul(load, f32(1.0))), "x[0]");
  EXPECT_EQ(simplified(mul(f32(1.0), load)), "x[0]");
  EXPECT_EQ(simplified(bin(BinaryOp::Div, load, f32(1.0))), "x[0]");
  EXPECT_EQ(simplified(sub(load, f32(0.0))), "x[0]");
  EXPECT_EQ(simplified(add(load, f32(-0.0))), "x[0]");
  // -0.0 + 0.0 is +0.0, and 0 * inf is NaN: these stay.
  EXPECT_EQ(simplified(add(load, f32(0.0))), "x[0] + 0.0");
  EXPECT_EQ(simplified(mul(load, f32(0.0))), "x[0] * 0.0");
  EXPECT_EQ(simplified(sub(load, f32(-0.0))), "x[0] - -0.0");
}

TEST(SimplifyIdentity, IntegerIdentities) {
  Expr i = loopVar("i");
  EXPECT_EQ(simplified(add(i, i64(0))), "i");
  EXPECT_EQ(simplified(add(i64(0), i)), "i");
  EXPECT_EQ(simplified(mul(i, i64(1))), "i");
  EXPECT_EQ(simplified(mul(i64(0), i)), "0");
  EXPECT_EQ(simplified(bin(BinaryOp::FloorDiv, i, i64(1))), "i");
  EXPECT_EQ(simplified(bin(BinaryOp::Mod, i, i64(1))), "0");
  EXPECT_EQ(simplified(bin(BinaryOp::Max, i, i)), "i");
}

TEST(SimplifyLinear, CollectsConstantsAndCoefficients) {
  Expr i = loopVar("i"), j = loopVar("j"), N = sym("N"), D = sym("D");
  EXPECT_EQ(simplified(sub(add(i, i64(1)), i64(1))), "i");
  EXPECT_EQ(simplified(mul(mul(i, i64(2)), i64(3))), "i * 6");
  EXPECT_EQ(simplified(sub(mul(add(i, i64(2)), i64(3)), i64(6))), "i * 3");
  EXPECT_EQ(simplified(sub(sub(N, i64(1)), i)), "N - i - 1");
  EXPECT_EQ(simplified(sub(i, i)), "0");
  EXPECT_EQ(simplified(add(sub(i64(5), i), i)), "5");
  EXPECT_EQ(simplified(sub(i64(5), i)), "5 - i");
  EXPECT_EQ(simplified(sub(i64(0), i)), "-i");
  EXPECT_EQ(simplified(add(add(i, j), sub(i, j))), "i * 2");
  EXPECT_EQ(simplified(add(mul(add(i, i64(1)), D), sub(j, D))), "(i + 1) * D + j - D");
  // Already canonical: the same node comes back.
  Expr flat = add(mul(i, D), j);
  EXPECT_EQ(passes::simplify(flat), flat);
}

TEST(SimplifyLinear, I32CoefficientsWrap) {
  Expr x = VarRef::make(makeVar("x", Type::scalar(DType::I32), VarKind::Let));
  EXPECT_EQ(simplified(mul(mul(x, i32(65536)), i32(65536))), "0:i32");
  EXPECT_EQ(simplified(add(add(x, i32(2147483647)), i32(1))), "x + -2147483648:i32");
}

TEST(SimplifyLinear, SmallIntegersWrapAtTheirWidth) {
  Type u8 = Type::scalar(DType::U8), i8 = Type::scalar(DType::I8), i16 = Type::scalar(DType::I16);
  EXPECT_EQ(simplified(add(intImm(200, DType::U8), intImm(100, DType::U8))), "44:u8");
  EXPECT_EQ(simplified(mul(intImm(100, DType::I8), intImm(3, DType::I8))), "44:i8");
  EXPECT_EQ(simplified(Unary::make(UnaryOp::Neg, intImm(-128, DType::I8))), "-128:i8");
  EXPECT_EQ(simplified(Unary::make(UnaryOp::Neg, intImm(1, DType::U8))), "255:u8");
  EXPECT_EQ(simplified(add(intImm(32767, DType::I16), intImm(1, DType::I16))), "-32768:i16");
  EXPECT_EQ(simplified(bin(BinaryOp::FloorDiv, intImm(250, DType::U8), intImm(100, DType::U8))),
            "2:u8");
  EXPECT_EQ(simplified(bin(BinaryOp::Lt, intImm(3, DType::U8), intImm(200, DType::U8))), "true");
  EXPECT_EQ(simplified(Cast::make(u8, f32(-3.5))), "0:u8");
  EXPECT_EQ(simplified(Cast::make(u8, f64(1e10))), "255:u8");
  EXPECT_EQ(simplified(Cast::make(i8, f32(200.0))), "127:i8");
  EXPECT_EQ(simplified(Cast::make(i16, f32(std::numeric_limits<float>::quiet_NaN()))), "0:i16");
  EXPECT_EQ(simplified(Cast::make(u8, intImm(-5, DType::I8))), "251:u8");
  EXPECT_EQ(simplified(Cast::make(i8, intImm(200, DType::U8))), "-56:i8");
  // A u8 coefficient or constant above 127 reads as a subtraction, as in i8.
  Expr x = VarRef::make(makeVar("x", u8, VarKind::Let));
  EXPECT_EQ(simplified(sub(add(x, intImm(3, DType::U8)), intImm(4, DType::U8))), "x - 1:u8");
  EXPECT_EQ(simplified(mul(x, intImm(255, DType::U8))), "-x");
}

TEST(SimplifySelect, ConstantConditionPicksAnArm) {
  Expr i = loopVar("i");
  EXPECT_EQ(simplified(Select::make(boolImm(true), i, i64(7))), "i");
  EXPECT_EQ(simplified(Select::make(bin(BinaryOp::Lt, i64(3), i64(2)), i, i64(7))), "7");
  EXPECT_EQ(simplified(Select::make(bin(BinaryOp::Lt, i, i64(2)), i, i)), "i");
}

TEST(SimplifyLoad, ConstantPredicates) {
  Buffer x = makeBuffer("x", DType::F32, {sym("N")}, BufferRole::Input);
  Expr i = loopVar("i");
  EXPECT_EQ(simplified(Load::make(x, i, boolImm(true))), "x[i]");
  EXPECT_EQ(simplified(Load::make(x, i, bin(BinaryOp::Le, i64(0), i64(2)))), "x[i]");
  EXPECT_EQ(simplified(Load::make(x, i, boolImm(false))), "0.0");
}

TEST(SimplifyIdempotent, SecondRunReturnsTheSameNodes) {
  Expr i = loopVar("i"), N = sym("N");
  for (Expr e : {sub(sub(N, i64(1)), i), add(mul(add(i, i64(2)), i64(3)), N),
                 sub(i64(0), mul(i, i64(4))), add(i64(-3), sub(N, i))}) {
    Expr once = passes::simplify(e);
    EXPECT_EQ(passes::simplify(once), once) << toString(e) << " -> " << toString(once);
  }
}

// ---------------------------------------------------------------------------------------------
// Statements.

class SimplifyStmt : public testing::Test {
protected:
  Var N = makeVar("N", Type::i64(), VarKind::Symbol);
  Buffer y = makeBuffer("y", DType::F32, {VarRef::make(N)}, BufferRole::Output);
  Var i = makeVar("i", Type::i64(), VarKind::Loop);

  Stmt store(Expr index, double value) { return Store::make(y, std::move(index), f32(value)); }
};

TEST_F(SimplifyStmt, LoopOfZeroIterationsIsRemoved) {
  Stmt s = Block::make(
      {For::make(i, sub(i64(2), i64(2)), ForKind::Serial, store(v(i), 1.0)), store(i64(0), 2.0)});
  EXPECT_EQ(toString(passes::simplify(s)), "y[0] = 2.0\n");
}

TEST_F(SimplifyStmt, LoopOfOneIterationBecomesItsBody) {
  Stmt s = For::make(i, i64(1), ForKind::Serial, store(add(v(i), i64(3)), 1.0));
  EXPECT_EQ(toString(passes::simplify(s)), "y[3] = 1.0\n");
  // A GPU loop keeps its structure.
  Stmt gpu = For::make(i, i64(1), ForKind::GpuThread, store(v(i), 1.0));
  EXPECT_EQ(passes::simplify(gpu), gpu);
}

TEST_F(SimplifyStmt, ConstantConditionsPickABranch) {
  Stmt s =
      IfThenElse::make(bin(BinaryOp::Lt, i64(1), i64(2)), store(i64(0), 1.0), store(i64(0), 2.0));
  EXPECT_EQ(toString(passes::simplify(s)), "y[0] = 1.0\n");
  Stmt t = IfThenElse::make(boolImm(false), store(i64(0), 1.0));
  Stmt u = Block::make({t, store(i64(1), 3.0)});
  EXPECT_EQ(toString(passes::simplify(u)), "y[1] = 3.0\n");
}

TEST_F(SimplifyStmt, StoresWithConstantPredicates) {
  Stmt s = Block::make({Store::make(y, i64(0), f32(1.0), boolImm(false)),
                        Store::make(y, i64(1), f32(2.0), boolImm(true))});
  EXPECT_EQ(toString(passes::simplify(s)), "y[1] = 2.0\n");
}

TEST_F(SimplifyStmt, NestedBlocksFlattenAndEmptyAllocationsGo) {
  Buffer t = makeBuffer("t", DType::F32, {i64(4)}, BufferRole::Intermediate);
  Stmt empty = For::make(i, i64(0), ForKind::Serial, store(v(i), 1.0));
  Stmt s = Block::make({Allocate::make(t, MemoryScope::Heap, empty),
                        For::make(i, VarRef::make(N), ForKind::Serial,
                                  Block::make({store(add(v(i), i64(0)), 1.0), empty}))});
  EXPECT_EQ(toString(passes::simplify(s)), "for i in [0, N) serial\n"
                                           "  y[i] = 1.0\n");
}

TEST_F(SimplifyStmt, UnchangedStatementIsReturnedAsIs) {
  Stmt s = For::make(i, VarRef::make(N), ForKind::Serial, store(v(i), 1.0));
  EXPECT_EQ(passes::simplify(s), s);
}

} // namespace
