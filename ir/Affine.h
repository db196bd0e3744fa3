// Affine forms of i64 index and shape expressions, the language of the bounds proofs sema needs
// (ir/BoundsProver.h). A form is affine over atoms: variables, and the nonlinear terms of shape
// arithmetic (`H * W`, `H // 2`, `i % W`), which the prover treats as unknowns it knows facts
// about.
#pragma once

#include "ir/IR.h"

#include <compare>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tdsl::ir {

struct AffineExpr;

/// An unknown of an affine form: a variable, or one of these nonlinear terms:
///  - Product: two or more factors, each a variable, FloorDiv or Mod (`H * W`, `W * i`); at most
///    one factor depends on a variable other than a shape symbol.
///  - FloorDiv, Mod: `num // den` and `num % den`, floored as Python does (and `x // 0 == 0`,
///    `x % 0 == 0`, as everywhere in tdsl). `den` is a constant >= 2, or a non-constant form of
///    shape symbols only. A constant divisor has been divided out of `num` where it could be:
///    its coefficients and constant lie in [0, den) and share no factor with it.
class Atom {
public:
  enum class Kind : uint8_t { Var, Product, FloorDiv, Mod };

  Atom(Var var); // NOLINT(google-explicit-constructor): every variable is an atom.
  /// One or more non-Product factors multiplied (one factor is itself).
  static Atom product(std::vector<Atom> factors);
  static Atom division(Kind kind, AffineExpr num, AffineExpr den);
  /// A Product's factors, or the atom itself.
  std::vector<Atom> asFactors() const;

  Kind kind() const { return kind_; }
  bool isVar() const { return kind_ == Kind::Var; }
  const Var &var() const;                   // Kind::Var.
  const std::vector<Atom> &factors() const; // Kind::Product, sorted.
  const AffineExpr &num() const;            // Kind::FloorDiv, Kind::Mod.
  const AffineExpr &den() const;            // Kind::FloorDiv, Kind::Mod.

  /// Whether every variable inside is a shape symbol.
  bool onlySymbols() const;
  /// Whether `v` occurs inside.
  bool mentions(const Var &v) const;
  /// "H", "H * W", "(N + 1) // 2", "i % W".
  std::string str() const;

  friend bool operator==(const Atom &a, const Atom &b);
  /// Structural, variables by identity: the order of an AffineExpr's terms.
  friend std::strong_ordering operator<=>(const Atom &a, const Atom &b);

private:
  struct Node;
  Atom(Kind kind, std::shared_ptr<const Node> node);
  Kind kind_;
  Var var_;
  std::shared_ptr<const Node> node_;
};

/// constant + sum(coefficient * atom), over index variables, shape symbols and atoms of them.
struct AffineExpr {
  int64_t constant = 0;
  std::map<Atom, int64_t> terms; // No zero coefficients.

  static AffineExpr of(const Atom &a) { return AffineExpr{0, {{a, 1}}}; }
  bool isConstant() const { return terms.empty(); }
  /// Whether every atom is a variable: the form is affine in the plain sense.
  bool isLinear() const;
  bool onlySymbols() const;
  bool mentions(const Var &v) const;
  bool operator==(const AffineExpr &) const = default;
  friend std::strong_ordering operator<=>(const AffineExpr &a, const AffineExpr &b);
  AffineExpr operator+(const AffineExpr &o) const;
  AffineExpr operator-(const AffineExpr &o) const;
  AffineExpr operator*(int64_t k) const;
  /// "N - i - 1": positive terms first, symbols before other variables, then by name, the
  /// constant last.
  std::string str() const;
};

/// The affine form of an i64 expression, or nullopt when it has none: a load, a product of two
/// terms that both depend on index variables, a division by something other than an integer or
/// shape symbols, or coefficients that overflow.
std::optional<AffineExpr> toAffine(const Expr &e);
Expr toExpr(const AffineExpr &a);

/// a * k, a + k * b, a * b, a // b, a % b, and `e` with `v` replaced by `value`, as canonical
/// forms; nullopt on overflow, or where toAffine would give nullopt.
std::optional<AffineExpr> scaled(const AffineExpr &a, int64_t k);
std::optional<AffineExpr> addScaled(const AffineExpr &a, const AffineExpr &b, int64_t k = 1);
std::optional<AffineExpr> multiply(const AffineExpr &a, const AffineExpr &b);
std::optional<AffineExpr> floorDivide(const AffineExpr &a, const AffineExpr &b);
std::optional<AffineExpr> remainder(const AffineExpr &a, const AffineExpr &b);
std::optional<AffineExpr> substitute(const AffineExpr &e, const Var &v, const AffineExpr &value);

/// The largest / smallest value of `e` over the domain (each variable in [0, extent - 1]), as
/// an affine form over the remaining variables (normally just the symbols). Requires every
/// domain variable in `e` to be a term of its own (not inside an atom).
AffineExpr maxOverDomain(const AffineExpr &e, const std::vector<IterVar> &domain);
AffineExpr minOverDomain(const AffineExpr &e, const std::vector<IterVar> &domain);

} // namespace tdsl::ir
