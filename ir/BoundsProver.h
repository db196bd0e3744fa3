// The static bounds proofs sema needs: every access must be proven in bounds for every point of
// its domain, with the shapes as symbols (the algorithm is described in BoundsProver.cpp).
#pragma once

#include "ir/Affine.h"

#include <optional>
#include <string>
#include <vector>

namespace tdsl::ir {

/// The outcome of proving `e >= 0` over a domain. The prover splits on the symbols that divide
/// (`i // W`: W is 0, or >= 1, or <= -1 where the assumptions allow it), so a failure names the
/// case it happened in.
struct Proof {
  bool proved = false;
  /// When not proved: the case ("W = 0"; empty where every split symbol is >= 1, or without a
  /// split), and the least value of `e`
  /// over the domain found there, or nullopt when `unbounded` (an atom whose divisor may be
  /// negative) could not be bounded.
  std::string when;
  std::optional<AffineExpr> least;
  std::string unbounded;
  /// Symbols that are 0 in that case.
  std::vector<Var> zero;
  /// `a` in the failing case: the symbols that are 0 there substituted.
  AffineExpr inCase(const AffineExpr &a) const;
};

/// Whether `e >= 0` holds at every point of `domain` (each variable in [0, extent - 1]) for
/// every integer value of the other variables that satisfies every assumption (`a >= 0` for
/// each). Sound (proved only when proven); complete enough for the language's examples: sums of
/// nonnegative terms, Fourier–Motzkin elimination over the atoms, facts about products, floor
/// division and remainder, and monotone bounds of `//` over the domain.
Proof proveNonNegative(const AffineExpr &e, const std::vector<IterVar> &domain,
                       const std::vector<AffineExpr> &assumptions);
/// proveNonNegative over no domain.
bool provedNonNegative(const AffineExpr &e, const std::vector<AffineExpr> &assumptions);

} // namespace tdsl::ir
