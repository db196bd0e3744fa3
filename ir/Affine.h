// Affine forms of i64 expressions and the static bounds proofs sema needs: every access must be
// proven in bounds for every point of its domain, with the shapes as symbols.
#pragma once

#include "ir/IR.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tdsl::ir {

/// constant + sum(coefficient * variable), over index variables and shape symbols.
struct AffineExpr {
  int64_t constant = 0;
  std::map<Var, int64_t> terms; // No zero coefficients.

  bool isConstant() const { return terms.empty(); }
  bool operator==(const AffineExpr &) const = default;
  AffineExpr operator+(const AffineExpr &o) const;
  AffineExpr operator-(const AffineExpr &o) const;
  AffineExpr operator*(int64_t k) const;
  /// "N - i - 1": positive terms first, symbols before other variables, then by name, the
  /// constant last.
  std::string str() const;
};

/// The affine form of an i64 expression, or nullopt when it is not affine (a product of two
/// variables, a floor division, a load, ...). Overflowing coefficients also give nullopt.
std::optional<AffineExpr> toAffine(const Expr &e);
Expr toExpr(const AffineExpr &a);

/// The largest / smallest value of `e` over the domain (each variable in [0, extent - 1]), as
/// an affine form over the remaining variables (normally just the symbols).
AffineExpr maxOverDomain(const AffineExpr &e, const std::vector<IterVar> &domain);
AffineExpr minOverDomain(const AffineExpr &e, const std::vector<IterVar> &domain);

/// Whether `e >= 0` holds for every integer value of the symbols that satisfies every
/// assumption (`a >= 0` for each). Sound (true only when proven); complete enough for the
/// language's examples: sums of nonnegative terms and Fourier–Motzkin elimination.
bool provedNonNegative(const AffineExpr &e, const std::vector<AffineExpr> &assumptions);

} // namespace tdsl::ir
