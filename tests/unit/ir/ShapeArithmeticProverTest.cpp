// Shape arithmetic in affine forms: canonical forms of `*`, `//` and `%`, and the bounds proofs
// over them that the language's examples need (flatten, maxpool2, strided outputs), with the
// proofs the prover must refuse.
#include "ir/Affine.h"
#include "ir/BoundsProver.h"
#include "ir/IRPrinter.h"

#include <gtest/gtest.h>

namespace tdsl::ir {
namespace {

struct Vars {
  Var N = makeVar("N", Type::i64(), VarKind::Symbol);
  Var H = makeVar("H", Type::i64(), VarKind::Symbol);
  Var W = makeVar("W", Type::i64(), VarKind::Symbol);
  Var C = makeVar("C", Type::i64(), VarKind::Symbol);
  Var K = makeVar("K", Type::i64(), VarKind::Symbol);
  Var S = makeVar("S", Type::i64(), VarKind::Symbol);
  Var i = makeVar("i", Type::i64(), VarKind::Index);
  Var j = makeVar("j", Type::i64(), VarKind::Index);
  Var h = makeVar("h", Type::i64(), VarKind::Index);
  Var r = makeVar("r", Type::i64(), VarKind::Index);
};

Expr div(Expr a, Expr b) { return Binary::make(BinaryOp::FloorDiv, std::move(a), std::move(b)); }
Expr mod(Expr a, Expr b) { return Binary::make(BinaryOp::Mod, std::move(a), std::move(b)); }
Expr v(const Var &x) { return ir::ref(x); }
Expr lit(int64_t c) { return intImm(c); }

AffineExpr aff(const Expr &e) {
  auto a = toAffine(e);
  EXPECT_TRUE(a.has_value()) << toString(e);
  return a.value_or(AffineExpr{});
}

/// The proof sema asks for, both ends: 0 <= sub <= dim - 1 over `domain`, assuming every symbol
/// >= 0 and every extent >= 1. Returns the failing end's proof, or a proved one.
Proof bounds(const Expr &subscript, const Expr &dim, const std::vector<IterVar> &domain,
             const std::vector<Var> &symbols) {
  std::vector<AffineExpr> assumptions;
  for (const Var &s : symbols)
    assumptions.push_back(aff(v(s)));
  for (const IterVar &iv : domain)
    assumptions.push_back(aff(sub(iv.extent, lit(1))));
  Proof lower = proveNonNegative(aff(subscript), domain, assumptions);
  if (!lower.proved)
    return lower;
  return proveNonNegative(aff(sub(sub(dim, lit(1)), subscript)), domain, assumptions);
}

bool inBounds(const Expr &subscript, const Expr &dim, const std::vector<IterVar> &domain,
              const std::vector<Var> &symbols) {
  return bounds(subscript, dim, domain, symbols).proved;
}

TEST(ShapeArithmetic, CanonicalFormsOfDivisionByConstants) {
  Vars s;
  EXPECT_EQ(aff(div(add(v(s.N), lit(1)), lit(2))).str(), "(N + 1) // 2");
  // Multiples of the divisor come out: (2H + 1) // 2 == H, (N - 1) // 2 == (N + 1) // 2 - 1.
  EXPECT_EQ(aff(div(add(mul(lit(2), v(s.H)), lit(1)), lit(2))), aff(v(s.H)));
  EXPECT_EQ(aff(div(sub(v(s.N), lit(1)), lit(2))),
            aff(sub(div(add(v(s.N), lit(1)), lit(2)), lit(1))));
  // Divisions by constants nest: (H // 2 + 1) // 2 == (H + 2) // 4.
  EXPECT_EQ(aff(div(add(div(v(s.H), lit(2)), lit(1)), lit(2))),
            aff(div(add(v(s.H), lit(2)), lit(4))));
  // A common factor of numerator and divisor cancels: (2H) // 4 == H // 2.
  EXPECT_EQ(aff(div(mul(lit(2), v(s.H)), lit(4))), aff(div(v(s.H), lit(2))));
  EXPECT_EQ(aff(mod(add(mul(lit(2), v(s.H)), lit(1)), lit(4))).str(), "2 * (H % 2) + 1");
  // By 1, 0 and negative constants, as Python floors (and x // 0 == x % 0 == 0 in tdsl).
  EXPECT_EQ(aff(div(v(s.i), lit(1))), aff(v(s.i)));
  EXPECT_EQ(aff(mod(v(s.i), lit(1))), AffineExpr{});
  EXPECT_EQ(aff(div(v(s.i), lit(0))), AffineExpr{});
  EXPECT_EQ(aff(div(v(s.i), lit(-2))), aff(div(Unary::make(UnaryOp::Neg, v(s.i)), lit(2))));
  EXPECT_EQ(aff(mod(lit(-7), lit(3))), (AffineExpr{2, {}}));
  EXPECT_EQ(aff(mod(lit(7), lit(-3))), (AffineExpr{-2, {}}));
}

TEST(ShapeArithmetic, CanonicalFormsOfProductsAndSymbolicDivisors) {
  Vars s;
  // Products distribute and commute; they print by name, not by pointer.
  EXPECT_EQ(aff(mul(add(v(s.H), lit(1)), v(s.W))), aff(add(mul(v(s.W), v(s.H)), v(s.W))));
  EXPECT_EQ(aff(mul(v(s.W), v(s.H))).str(), "H * W");
  EXPECT_EQ(aff(mul(mul(v(s.C), v(s.W)), v(s.H))).str(), "C * H * W");
  EXPECT_EQ(aff(mul(lit(3), div(v(s.H), lit(2)))).str(), "3 * (H // 2)");
  EXPECT_EQ(aff(div(v(s.i), mul(v(s.H), v(s.W)))).str(), "i // (H * W)");
  EXPECT_EQ(aff(mod(div(v(s.i), v(s.W)), v(s.H))).str(), "(i // W) % H");
  // A symbolic divisor stays: (W * H) // W is H only when W != 0. Zero divided is zero.
  EXPECT_FALSE(aff(div(mul(v(s.W), v(s.H)), v(s.W))) == aff(v(s.H)));
  EXPECT_EQ(aff(div(lit(0), v(s.W))), AffineExpr{});
  // Index variables stay linear.
  EXPECT_TRUE(toAffine(mul(v(s.W), v(s.i))).has_value());
  EXPECT_FALSE(toAffine(mul(div(v(s.i), lit(2)), v(s.j))).has_value());
  EXPECT_FALSE(toAffine(div(v(s.N), add(v(s.i), lit(1)))).has_value());
}

TEST(ShapeArithmetic, FormsRoundTripThroughExpressions) {
  Vars s;
  for (const Expr &e : {div(add(v(s.N), lit(1)), lit(2)), mul(v(s.H), v(s.W)),
                        sub(v(s.H), mul(lit(2), div(v(s.H), lit(2)))),
                        add(mul(v(s.W), v(s.i)), mod(v(s.j), v(s.W))),
                        div(sub(mul(v(s.H), v(s.W)), lit(1)), v(s.W)),
                        mul(div(v(s.H), lit(2)), div(v(s.W), lit(2)))}) {
    AffineExpr a = aff(e);
    EXPECT_EQ(aff(toExpr(a)), a) << a.str();
  }
}

TEST(ShapeArithmetic, OverflowGivesNullopt) {
  Vars s;
  Expr big = mul(lit(INT64_MAX / 2), v(s.H));
  EXPECT_FALSE(toAffine(mul(big, mul(lit(4), v(s.W)))).has_value());
  EXPECT_FALSE(toAffine(div(v(s.i), lit(INT64_MIN))).has_value());
  EXPECT_FALSE(toAffine(mod(add(add(big, big), big), lit(-3))).has_value());
}

TEST(ShapeArithmetic, ProvesFlatten) {
  Vars s;
  // y: [H * W], y[i] = x[i // W, i % W] with x: [H, W]. When W = 0 the domain is empty.
  std::vector<IterVar> domain{{s.i, mul(v(s.H), v(s.W))}};
  EXPECT_TRUE(inBounds(div(v(s.i), v(s.W)), v(s.H), domain, {s.H, s.W}));
  EXPECT_TRUE(inBounds(mod(v(s.i), v(s.W)), v(s.W), domain, {s.H, s.W}));
  // Column-major and three dims: divisors that are other symbols, or products of them.
  EXPECT_TRUE(inBounds(div(v(s.i), v(s.H)), v(s.W), domain, {s.H, s.W}));
  std::vector<IterVar> three{{s.i, mul(mul(v(s.C), v(s.H)), v(s.W))}};
  EXPECT_TRUE(inBounds(div(v(s.i), mul(v(s.H), v(s.W))), v(s.C), three, {s.C, s.H, s.W}));
  EXPECT_TRUE(inBounds(mod(div(v(s.i), v(s.W)), v(s.H)), v(s.H), three, {s.C, s.H, s.W}));
}

TEST(ShapeArithmetic, ProvesPoolingAndStridedOutputs) {
  Vars s;
  // maxpool2: h < H // 2, r < 2 reads 2h + r <= H - 1 (odd H included).
  std::vector<IterVar> pool{{s.h, div(v(s.H), lit(2))}, {s.r, lit(2)}};
  EXPECT_TRUE(inBounds(add(mul(lit(2), v(s.h)), v(s.r)), v(s.H), pool, {s.H}));
  // A symbolic window: h < H // K, r < K reads K * h + r <= H - 1.
  std::vector<IterVar> window{{s.h, div(v(s.H), v(s.K))}, {s.r, v(s.K)}};
  EXPECT_TRUE(inBounds(add(mul(v(s.K), v(s.h)), v(s.r)), v(s.H), window, {s.H, s.K}));
  // Every other element, rounding up: i < (N + 1) // 2 reads 2i <= N - 1.
  std::vector<IterVar> half{{s.i, div(add(v(s.N), lit(1)), lit(2))}};
  EXPECT_TRUE(inBounds(mul(lit(2), v(s.i)), v(s.N), half, {s.N}));
  // Upsampling: i < 2H reads i // 2 <= H - 1; depth to space: 4c + 2 (i % 2) + j % 2 < C.
  EXPECT_TRUE(inBounds(div(v(s.i), lit(2)), v(s.H), {{s.i, mul(lit(2), v(s.H))}}, {s.H}));
  std::vector<IterVar> shuffle{{s.h, div(v(s.C), lit(4))}, {s.i, v(s.N)}, {s.j, v(s.N)}};
  Expr channel =
      add(add(mul(lit(4), v(s.h)), mul(lit(2), mod(v(s.i), lit(2)))), mod(v(s.j), lit(2)));
  EXPECT_TRUE(inBounds(channel, v(s.C), shuffle, {s.C, s.N}));
}

TEST(ShapeArithmetic, FactsAboutSymbolsAlone) {
  Vars s;
  std::vector<AffineExpr> symbols{aff(v(s.H)), aff(v(s.W)), aff(v(s.N))};
  AffineExpr half = aff(div(v(s.H), lit(2)));
  EXPECT_TRUE(provedNonNegative(half, symbols));
  EXPECT_TRUE(provedNonNegative(aff(v(s.H)) - half * 2, symbols));
  EXPECT_FALSE(provedNonNegative(aff(v(s.H)) - half * 2 - AffineExpr{1, {}}, symbols));
  EXPECT_TRUE(
      provedNonNegative(aff(div(add(v(s.N), lit(1)), lit(2))) - aff(div(v(s.N), lit(2))), symbols));
  // H * W >= H needs W >= 1; (H * W - 1) // W == H - 1 for W >= 1.
  AffineExpr hw = aff(mul(v(s.H), v(s.W)));
  EXPECT_FALSE(provedNonNegative(hw - aff(v(s.H)), symbols));
  std::vector<AffineExpr> positiveW = symbols;
  positiveW.push_back(aff(v(s.W)) - AffineExpr{1, {}});
  EXPECT_TRUE(provedNonNegative(hw - aff(v(s.H)), positiveW));
  AffineExpr q = aff(div(sub(mul(v(s.H), v(s.W)), lit(1)), v(s.W)));
  EXPECT_TRUE(provedNonNegative(q - aff(v(s.H)) + AffineExpr{1, {}}, positiveW));
  EXPECT_TRUE(provedNonNegative(aff(v(s.H)) - AffineExpr{1, {}} - q, positiveW));
  // With W = 0 allowed, the quotient is 0: not H - 1.
  EXPECT_FALSE(provedNonNegative(q - aff(v(s.H)) + AffineExpr{1, {}}, symbols));
  // 0 <= i % W <= W - 1 only for W >= 1 (i % 0 == 0).
  AffineExpr rem = aff(mod(v(s.N), v(s.W)));
  EXPECT_TRUE(provedNonNegative(rem, symbols));
  EXPECT_FALSE(provedNonNegative(aff(v(s.W)) - AffineExpr{1, {}} - rem, symbols));
  EXPECT_TRUE(provedNonNegative(aff(v(s.W)) - AffineExpr{1, {}} - rem, positiveW));
}

TEST(ShapeArithmetic, RefusesWhatCanGoOutOfBounds) {
  Vars s;
  // x[i % W] with x: [W] and i < N reads x[0] when W = 0: the proof names that case.
  Proof wrap = bounds(mod(v(s.i), v(s.W)), v(s.W), {{s.i, v(s.N)}}, {s.N, s.W});
  EXPECT_FALSE(wrap.proved);
  EXPECT_EQ(wrap.when, "W = 0");
  // Dividing by the wrong symbol, one element too many, or rounding the wrong way.
  std::vector<IterVar> flat{{s.i, mul(v(s.H), v(s.W))}};
  EXPECT_FALSE(inBounds(div(v(s.i), v(s.H)), v(s.H), flat, {s.H, s.W}));
  std::vector<IterVar> over{{s.i, add(mul(v(s.H), v(s.W)), lit(1))}};
  EXPECT_FALSE(inBounds(div(v(s.i), v(s.W)), v(s.H), over, {s.H, s.W}));
  std::vector<IterVar> up{{s.h, div(add(v(s.H), lit(1)), lit(2))}, {s.r, lit(2)}};
  EXPECT_FALSE(inBounds(add(mul(lit(2), v(s.h)), v(s.r)), v(s.H), up, {s.H}));
  EXPECT_FALSE(inBounds(mod(v(s.i), lit(3)), lit(2), {{s.i, v(s.N)}}, {s.N}));
  // A "same" window needs its default: i + k - K // 2 goes below 0.
  std::vector<IterVar> same{{s.i, v(s.N)}, {s.r, v(s.K)}};
  Proof start = bounds(sub(add(v(s.i), v(s.r)), div(v(s.K), lit(2))), v(s.N), same, {s.N, s.K});
  EXPECT_FALSE(start.proved);
  ASSERT_TRUE(start.least.has_value());
  EXPECT_EQ(start.least->str(), "-(K // 2)");
  // A strided window reads past the end when the stride S is 0 (one output, K reads).
  std::vector<IterVar> strided{{s.i, add(div(sub(v(s.N), v(s.K)), v(s.S)), lit(1))}, {s.r, v(s.K)}};
  Proof stride = bounds(add(mul(v(s.S), v(s.i)), v(s.r)), v(s.N), strided, {s.N, s.K, s.S});
  EXPECT_FALSE(stride.proved);
  EXPECT_EQ(stride.when, "S = 0");
  // Without symbols >= 0 the split has a negative case, where `// W` cannot be bounded.
  Proof negative = proveNonNegative(aff(div(v(s.i), v(s.W))), {{s.i, v(s.N)}}, {});
  EXPECT_FALSE(negative.proved);
  EXPECT_EQ(negative.when, "W <= -1");
  EXPECT_EQ(negative.unbounded, "i // W");
}

TEST(ShapeArithmetic, NestedAtomsCostTimePolynomialInTheirDepth) {
  // Printing, comparing and bounding nested atoms once took time exponential in their depth
  // (both ends of a remainder's numerator bounded separately, names printed twice per level):
  // 150 levels would never finish.
  Vars s;
  Expr e = v(s.i);
  for (int k = 0; k < 150; ++k)
    e = add(mod(e, add(v(s.W), lit(k))), div(v(s.H), lit(2)));
  AffineExpr a = aff(e);
  EXPECT_EQ(aff(toExpr(a)), a);
  EXPECT_FALSE(a.str().empty());
  std::vector<IterVar> domain{{s.i, mul(v(s.H), v(s.W))}};
  EXPECT_TRUE(inBounds(mod(e, v(s.W)), v(s.W), domain, {s.H, s.W}));
  EXPECT_FALSE(inBounds(e, v(s.W), domain, {s.H, s.W}));
}

TEST(ShapeArithmetic, HostileFormsTerminate) {
  // Deeply nested divisions by many symbols, with huge coefficients: the prover must stop and
  // stay sound, not crash or blow up.
  std::vector<Var> xs;
  for (int k = 0; k < 8; ++k)
    xs.push_back(makeVar("S" + std::to_string(k), Type::i64(), VarKind::Symbol));
  Var i = makeVar("i", Type::i64(), VarKind::Index);
  Expr e = v(i);
  for (int k = 0; k < 8; ++k)
    e = add(mod(div(e, v(xs[k])), add(v(xs[(k + 3) % 8]), lit(k + 2))),
            mul(lit(INT64_MAX / 64), v(xs[k])));
  std::optional<AffineExpr> a = toAffine(e);
  std::vector<AffineExpr> assumptions;
  for (const Var &x : xs)
    assumptions.push_back(aff(v(x)));
  if (a)
    (void)proveNonNegative(*a, {{i, mul(v(xs[0]), v(xs[1]))}}, assumptions);
  SUCCEED();
}

// Triangular domains: r's extent names j (r <= j, r < j - 2). The prover eliminates r first, so
// j - r is bounded by j - j = 0, and refuses what crosses the triangle.
TEST(ShapeArithmetic, TriangularDomains) {
  Vars s;
  std::vector<IterVar> upTo{{s.j, v(s.N)}, {s.r, add(v(s.j), lit(1))}};
  EXPECT_TRUE(inBounds(v(s.r), v(s.N), upTo, {s.N}));
  EXPECT_TRUE(inBounds(sub(v(s.j), v(s.r)), v(s.N), upTo, {s.N}));
  EXPECT_TRUE(inBounds(sub(sub(v(s.N), lit(1)), v(s.r)), v(s.N), upTo, {s.N}));
  EXPECT_FALSE(inBounds(add(v(s.r), lit(1)), v(s.N), upTo, {s.N}));
  EXPECT_FALSE(inBounds(sub(v(s.r), lit(1)), v(s.N), upTo, {s.N}));
  // Lagged: r < j - 2 has points only where j >= 3, so r + 2 stays below N.
  std::vector<IterVar> lagged{{s.j, v(s.N)}, {s.r, sub(v(s.j), lit(2))}};
  EXPECT_TRUE(inBounds(add(v(s.r), lit(2)), v(s.N), lagged, {s.N}));
  EXPECT_FALSE(inBounds(add(v(s.r), lit(4)), v(s.N), lagged, {s.N}));
  // Two levels: h <= r <= j.
  std::vector<IterVar> nested{
      {s.j, v(s.N)}, {s.r, add(v(s.j), lit(1))}, {s.h, add(v(s.r), lit(1))}};
  EXPECT_TRUE(inBounds(sub(v(s.j), v(s.h)), v(s.N), nested, {s.N}));
  EXPECT_FALSE(inBounds(sub(v(s.r), v(s.j)), v(s.N), nested, {s.N}));
}

} // namespace
} // namespace tdsl::ir
