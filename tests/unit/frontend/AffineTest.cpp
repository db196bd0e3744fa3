// Affine forms and the bounds prover: the proofs sema relies on (conv2d, stencils, reversal) and
// the ones it must refuse.
#include "ir/Affine.h"
#include "ir/BoundsProver.h"

#include <gtest/gtest.h>

namespace tdsl::ir {
namespace {

struct Vars {
  Var N = makeVar("N", Type::i64(), VarKind::Symbol);
  Var H = makeVar("H", Type::i64(), VarKind::Symbol);
  Var R = makeVar("R", Type::i64(), VarKind::Symbol);
  Var i = makeVar("i", Type::i64(), VarKind::Index);
  Var h = makeVar("h", Type::i64(), VarKind::Index);
  Var r = makeVar("r", Type::i64(), VarKind::Index);
};

AffineExpr lit(int64_t c) { return AffineExpr{c, {}}; }
AffineExpr v(const Var &x, int64_t k = 1) { return AffineExpr{0, {{x, k}}}; }
AffineExpr aff(const Expr &e) {
  auto a = toAffine(e);
  EXPECT_TRUE(a.has_value());
  return a.value_or(AffineExpr{});
}

/// Whether `sub` indexes a dim of size `dim` in bounds over `domain`, under sema's assumptions.
bool inBounds(const AffineExpr &sub, const AffineExpr &dim, const std::vector<IterVar> &domain,
              const std::vector<Var> &symbols) {
  std::vector<AffineExpr> assumptions;
  for (const Var &s : symbols)
    assumptions.push_back(v(s));
  for (const IterVar &iv : domain)
    assumptions.push_back(aff(iv.extent) - lit(1));
  return provedNonNegative(minOverDomain(sub, domain), assumptions) &&
         provedNonNegative(dim - lit(1) - maxOverDomain(sub, domain), assumptions);
}

TEST(Affine, ToAffineOfSumsAndScaledTerms) {
  Vars s;
  // 2 * (i + 1) - N + -(3 * h)
  Expr e = add(sub(mul(intImm(2), add(ir::ref(s.i), intImm(1))), ir::ref(s.N)),
               Unary::make(UnaryOp::Neg, mul(ir::ref(s.h), intImm(3))));
  AffineExpr a = aff(e);
  EXPECT_EQ(a.constant, 2);
  EXPECT_EQ(a.terms.at(s.i), 2);
  EXPECT_EQ(a.terms.at(s.N), -1);
  EXPECT_EQ(a.terms.at(s.h), -3);
  EXPECT_EQ(a.str(), "2 * i - N - 3 * h + 2");
}

TEST(Affine, CancellingTermsDisappear) {
  Vars s;
  AffineExpr a = aff(sub(add(ir::ref(s.N), ir::ref(s.i)), ir::ref(s.N)));
  EXPECT_EQ(a, v(s.i));
  EXPECT_EQ(a.str(), "i");
  EXPECT_EQ((v(s.N) - v(s.N)).str(), "0");
}

TEST(Affine, NonAffineExpressionsAreRejected) {
  Vars s;
  // Index variables stay linear: no products of two, no division by one.
  EXPECT_FALSE(toAffine(mul(ir::ref(s.i), ir::ref(s.h))).has_value());
  EXPECT_FALSE(toAffine(Binary::make(BinaryOp::FloorDiv, ir::ref(s.N), ir::ref(s.i))).has_value());
  EXPECT_FALSE(toAffine(Binary::make(BinaryOp::Mod, ir::ref(s.h), ir::ref(s.i))).has_value());
  EXPECT_FALSE(toAffine(intImm(1, DType::I32)).has_value());
  EXPECT_FALSE(toAffine(floatImm(1.0)).has_value());
}

TEST(Affine, OverflowGivesNullopt) {
  Vars s;
  EXPECT_FALSE(toAffine(add(intImm(INT64_MAX), intImm(1))).has_value());
  EXPECT_FALSE(toAffine(mul(intImm(2), mul(intImm(INT64_MAX), ir::ref(s.i)))).has_value());
}

TEST(Affine, PrintsPositiveTermsFirstThenSymbolsThenConstant) {
  Vars s;
  EXPECT_EQ((v(s.H) * -1 + v(s.N) + lit(1)).str(), "N - H + 1");
  EXPECT_EQ((v(s.i) + v(s.N) * -1 + v(s.R) * -2).str(), "i - N - 2 * R");
  EXPECT_EQ((v(s.N) - v(s.i) - lit(1)).str(), "N - i - 1");
  EXPECT_EQ((v(s.H) - v(s.R) + lit(1)).str(), "H - R + 1");
  EXPECT_EQ((v(s.i) * -1).str(), "-i");
  EXPECT_EQ(lit(-4).str(), "-4");
}

TEST(Affine, ToExprRoundTrips) {
  Vars s;
  for (const AffineExpr &a : {v(s.N) - v(s.i) - lit(1), v(s.i) * -1 + lit(3), lit(0), lit(-7),
                              v(s.N) * 2 + v(s.h) * -3, v(s.i) * INT64_MIN + lit(INT64_MIN)})
    EXPECT_EQ(aff(toExpr(a)), a) << a.str();
}

TEST(Affine, MaxAndMinOverDomain) {
  Vars s;
  std::vector<IterVar> domain{{s.i, ir::ref(s.N)}};
  // i + 1 over i in [0, N - 1]: [1, N].
  EXPECT_EQ(maxOverDomain(v(s.i) + lit(1), domain), v(s.N));
  EXPECT_EQ(minOverDomain(v(s.i) + lit(1), domain), lit(1));
  // N - 1 - i: [0, N - 1].
  EXPECT_EQ(maxOverDomain(v(s.N) - lit(1) - v(s.i), domain), v(s.N) - lit(1));
  EXPECT_EQ(minOverDomain(v(s.N) - lit(1) - v(s.i), domain), lit(0));
  // Variables outside the domain are kept.
  EXPECT_EQ(maxOverDomain(v(s.h) + v(s.i) * 2, domain), v(s.h) + v(s.N) * 2 - lit(2));
}

TEST(Affine, ProvesConvWindowInBounds) {
  Vars s;
  // h < H - R + 1, r < R: h + r stays within [0, H - 1].
  std::vector<IterVar> domain{{s.h, toExpr(v(s.H) - v(s.R) + lit(1))}, {s.r, ir::ref(s.R)}};
  EXPECT_TRUE(inBounds(v(s.h) + v(s.r), v(s.H), domain, {s.H, s.R}));
  EXPECT_FALSE(inBounds(v(s.h) + v(s.r) + lit(1), v(s.H), domain, {s.H, s.R}));
}

TEST(Affine, StencilNeedsItsExtent) {
  Vars s;
  std::vector<IterVar> full{{s.i, ir::ref(s.N)}};
  std::vector<IterVar> shorter{{s.i, toExpr(v(s.N) - lit(1))}};
  EXPECT_TRUE(inBounds(v(s.i), v(s.N), full, {s.N}));
  EXPECT_FALSE(inBounds(v(s.i) + lit(1), v(s.N), full, {s.N}));
  EXPECT_TRUE(inBounds(v(s.i) + lit(1), v(s.N), shorter, {s.N}));
  EXPECT_FALSE(inBounds(v(s.i) - lit(1), v(s.N), full, {s.N}));
  EXPECT_TRUE(inBounds(v(s.N) - lit(1) - v(s.i), v(s.N), full, {s.N}));
}

TEST(Affine, ConstantSubscriptsNeedANonEmptyDim) {
  Vars s;
  // x[0] with x: [N] is not provable (N may be 0); inside a loop over N it is.
  EXPECT_FALSE(inBounds(lit(0), v(s.N), {}, {s.N}));
  EXPECT_TRUE(inBounds(lit(0), v(s.N), {{s.i, ir::ref(s.N)}}, {s.N}));
  EXPECT_TRUE(inBounds(lit(2), lit(3), {}, {}));
  EXPECT_FALSE(inBounds(lit(3), lit(3), {}, {}));
}

TEST(Affine, StridedAccessUsesTheScaledExtent) {
  Vars s;
  // y[i] = x[2 * i] with i < N and x: [2 * N]: max 2N - 2 <= 2N - 1.
  std::vector<IterVar> domain{{s.i, ir::ref(s.N)}};
  EXPECT_TRUE(inBounds(v(s.i) * 2, v(s.N) * 2, domain, {s.N}));
  EXPECT_TRUE(inBounds(v(s.i) * 2 + lit(1), v(s.N) * 2, domain, {s.N}));
  EXPECT_FALSE(inBounds(v(s.i) * 2 + lit(2), v(s.N) * 2, domain, {s.N}));
}

TEST(Affine, FourierMotzkinChainsAssumptions) {
  Vars s;
  // From N - H >= 0 and H - R >= 2 and R >= 0 follows N - 2 >= 0, but not N - 3 >= 0.
  std::vector<AffineExpr> assumptions{v(s.N) - v(s.H), v(s.H) - v(s.R) - lit(2), v(s.R)};
  EXPECT_TRUE(provedNonNegative(v(s.N) - lit(2), assumptions));
  EXPECT_FALSE(provedNonNegative(v(s.N) - lit(3), assumptions));
  // Integer tightening: 2N >= 1 means N >= 1 over the integers.
  EXPECT_TRUE(provedNonNegative(v(s.N) - lit(1), {v(s.N) * 2 - lit(1)}));
  EXPECT_FALSE(provedNonNegative(v(s.N), {}));
  EXPECT_TRUE(provedNonNegative(lit(0), {}));
  EXPECT_FALSE(provedNonNegative(lit(-1), {}));
}

TEST(Affine, ContradictoryAssumptionsProveAnything) {
  Vars s;
  EXPECT_TRUE(provedNonNegative(v(s.N) * -1 - lit(5), {v(s.N) - lit(1), v(s.N) * -1}));
}

TEST(Affine, HugeCoefficientsDoNotOverflowTheProver) {
  Vars s;
  std::vector<AffineExpr> assumptions{v(s.N) * INT64_MAX - lit(1), v(s.H) * (INT64_MAX - 1),
                                      v(s.N) * -3 + v(s.H) * 5};
  // Must terminate without crashing; the answer only has to be sound.
  EXPECT_FALSE(provedNonNegative(v(s.N) * -1 - lit(1), {v(s.N)}));
  (void)provedNonNegative(v(s.N) * INT64_MIN + v(s.H), assumptions);
  (void)provedNonNegative(v(s.N) + lit(INT64_MIN), assumptions);
}

TEST(Affine, GivesUpOnHugeSystems) {
  // 40 variables with many pairwise constraints: the prover must stop, not blow up.
  std::vector<Var> xs;
  for (int k = 0; k < 40; ++k)
    xs.push_back(makeVar("x" + std::to_string(k), Type::i64(), VarKind::Symbol));
  std::vector<AffineExpr> assumptions;
  for (int a = 0; a < 40; ++a)
    for (int b = a + 1; b < 40; b += 3)
      assumptions.push_back(v(xs[a]) * (a + 1) - v(xs[b]) * (b + 2) + lit(a - b));
  (void)provedNonNegative(v(xs[0]) - v(xs[39]), assumptions);
  SUCCEED();
}

} // namespace
} // namespace tdsl::ir
