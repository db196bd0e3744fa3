// The bounds prover (see BoundsProver.h). Sema proves every access in bounds with the shapes as
// symbols: proveNonNegative bounds the goal (`sub` for the lower end, `dim - 1 - sub` for the
// upper) over the statement's domain, then asks whether `bound >= 0` follows from the
// assumptions (symbols >= 0, extents >= 1, ...).
//
// The core is Fourier–Motzkin elimination over the integers: it refutes `bound <= -1` together
// with the assumptions. It is sound (a "proved" is a proof) and gives up, answering false, when
// the system grows too large or a coefficient would overflow. The atoms of shape arithmetic are
// unknowns of their own, and the prover adds what it knows about each:
//  - a product of nonnegative factors with known lower bounds: (a - la)(b - lb) >= 0, linear in
//    the atoms a, b and ab (`H * W >= H` when W >= 1);
//  - `n // d` for d >= 1: d * q <= n <= d * q + d - 1 (d * q is a product atom when d is a
//    symbol); `n % d == n - d * (n // d)`;
//  - for symbols d >= 1, n is also split into d * A + B, so that `n // d == A + B // d` and
//    `n % d == B % d`, and `B // d`, `B % d` are bounded by B's sign
//    (`(H * W - 1) // W == H - 1`).
// These facts need side conditions ("d >= 1"), proven by the same machinery one level deeper.
// Over the domain, `n // d` is bounded by `min(n) // d` and `max(n) // d` (floor division by
// d >= 0 is monotone), `n % d` by [0, d - 1]. Facts about `// d` need d >= 1, so the prover
// splits on each symbol that divides: in the case W = 0 it substitutes 0 (`i // 0 == 0`; extents
// such as H * W become 0, so the domain is empty), in the case W >= 1 it assumes so.
#include "ir/BoundsProver.h"

#include "ir/IntArith.h"
#include "support/Check.h"

#include <algorithm>
#include <numeric>
#include <set>

namespace tdsl::ir {

// --- Fourier–Motzkin ------------------------------------------------------------------------

namespace {

/// sum(coeffs[i] * x_i) + constant >= 0, over unknowns numbered 0..n-1.
struct Constraint {
  std::vector<int64_t> coeffs;
  int64_t constant = 0;
};

constexpr size_t kMaxConstraints = 2000;

/// Divides the variable coefficients by their gcd and floors the constant: sound for integer
/// solutions, and it makes the system smaller and tighter.
void normalize(Constraint &c) {
  int64_t g = 0;
  for (int64_t a : c.coeffs)
    g = std::gcd(g, a < 0 ? -a : a);
  if (g <= 1)
    return;
  for (int64_t &a : c.coeffs)
    a /= g;
  c.constant = floorDiv(c.constant, g);
}

bool isTrivial(const Constraint &c) {
  return std::all_of(c.coeffs.begin(), c.coeffs.end(), [](int64_t a) { return a == 0; });
}

/// Keeps one constraint per coefficient vector (the tightest). Returns false when a constant
/// constraint is violated, i.e. the system is infeasible.
bool addConstraint(std::map<std::vector<int64_t>, int64_t> &set, Constraint c) {
  normalize(c);
  if (isTrivial(c))
    return c.constant >= 0;
  auto [it, inserted] = set.emplace(c.coeffs, c.constant);
  if (!inserted)
    it->second = std::min(it->second, c.constant);
  return true;
}

/// p * |n[v]| + n * p[v], eliminating v; nullopt on overflow (the combination is then dropped,
/// which only weakens the system and so keeps the proof sound).
std::optional<Constraint> combine(const Constraint &p, const Constraint &n, size_t v) {
  int64_t kp = -n.coeffs[v], kn = p.coeffs[v]; // Both positive.
  Constraint r;
  r.coeffs.resize(p.coeffs.size());
  for (size_t i = 0; i < p.coeffs.size(); ++i) {
    int64_t a, b;
    if (__builtin_mul_overflow(p.coeffs[i], kp, &a) ||
        __builtin_mul_overflow(n.coeffs[i], kn, &b) || __builtin_add_overflow(a, b, &r.coeffs[i]))
      return std::nullopt;
  }
  int64_t a, b;
  if (__builtin_mul_overflow(p.constant, kp, &a) || __builtin_mul_overflow(n.constant, kn, &b) ||
      __builtin_add_overflow(a, b, &r.constant))
    return std::nullopt;
  r.coeffs[v] = 0;
  return r;
}

/// Whether the system has no integer solution (proven); false means "maybe feasible".
bool provedInfeasible(std::map<std::vector<int64_t>, int64_t> set, size_t numVars) {
  std::vector<bool> eliminated(numVars, false);
  for (size_t round = 0; round < numVars; ++round) {
    // Pick the variable whose elimination generates the fewest constraints.
    size_t best = numVars, bestCost = 0;
    for (size_t v = 0; v < numVars; ++v) {
      if (eliminated[v])
        continue;
      size_t pos = 0, neg = 0;
      for (const auto &[coeffs, constant] : set) {
        pos += coeffs[v] > 0;
        neg += coeffs[v] < 0;
      }
      size_t cost = pos * neg;
      if (best == numVars || cost < bestCost) {
        best = v;
        bestCost = cost;
      }
    }
    if (best == numVars)
      break;
    eliminated[best] = true;
    std::vector<Constraint> pos, neg;
    std::map<std::vector<int64_t>, int64_t> next;
    for (const auto &[coeffs, constant] : set) {
      Constraint c{coeffs, constant};
      if (coeffs[best] > 0)
        pos.push_back(std::move(c));
      else if (coeffs[best] < 0)
        neg.push_back(std::move(c));
      else
        next.emplace(coeffs, constant);
    }
    if (next.size() + pos.size() * neg.size() > kMaxConstraints)
      return false;
    for (const Constraint &p : pos)
      for (const Constraint &n : neg)
        if (auto c = combine(p, n, best))
          if (!addConstraint(next, std::move(*c)))
            return true;
    set = std::move(next);
  }
  // Every variable is gone; what remains are constants, checked as they were added.
  return false;
}

/// Whether `system` (each form >= 0) has no integer solution, its atoms taken as unknowns.
bool provedInfeasible(const std::vector<AffineExpr> &system) {
  std::map<Atom, size_t> index;
  for (const AffineExpr &a : system)
    for (const auto &[atom, c] : a.terms)
      index.emplace(atom, index.size());
  std::map<std::vector<int64_t>, int64_t> set;
  for (const AffineExpr &a : system) {
    Constraint c{std::vector<int64_t>(index.size(), 0), a.constant};
    for (const auto &[atom, k] : a.terms)
      c.coeffs[index.at(atom)] = k;
    if (!addConstraint(set, std::move(c)))
      return true;
  }
  return provedInfeasible(std::move(set), index.size());
}

// --- Facts about atoms ------------------------------------------------------------------------

/// Facts are found up to this depth of nested side conditions ("d >= 1" to know `n // d`).
constexpr int kMaxDepth = 2;
/// At most this many atoms get facts in one system.
constexpr size_t kMaxAtoms = 24;
/// Fourier–Motzkin runs allowed for one proveNonNegative, over all its cases.
constexpr int kBudget = 400;

/// One case of a proof: its assumptions, and memoized answers to the side conditions that facts
/// need. Every Fourier–Motzkin run counts against the shared budget.
struct CaseContext {
  std::vector<AffineExpr> assumptions;
  int &budget;
  std::map<std::pair<AffineExpr, int>, bool> memo;
};

bool nonNegative(CaseContext &ctx, const AffineExpr &goal, int depth);

bool sideCondition(CaseContext &ctx, const std::optional<AffineExpr> &goal, int depth) {
  if (!goal)
    return false;
  auto key = std::make_pair(*goal, depth);
  auto it = ctx.memo.find(key);
  if (it != ctx.memo.end())
    return it->second;
  bool r = nonNegative(ctx, *goal, depth);
  ctx.memo.emplace(std::move(key), r);
  return r;
}

std::optional<AffineExpr> plus(const std::optional<AffineExpr> &a, int64_t k) {
  return a ? addScaled(*a, AffineExpr{k, {}}) : std::nullopt;
}

std::optional<AffineExpr> minus(const AffineExpr &a, const AffineExpr &b) {
  return addScaled(a, b, -1);
}

/// For a divisor that is one term with coefficient 1 (a monomial `d`): `a` split into
/// d * A + B, B's terms not multiples of d. Otherwise A = 0 and B = a.
std::pair<AffineExpr, AffineExpr> splitByMonomial(const AffineExpr &a, const AffineExpr &d) {
  if (d.constant != 0 || d.terms.size() != 1 || d.terms.begin()->second != 1)
    return {AffineExpr{}, a};
  std::vector<Atom> monomial = d.terms.begin()->first.asFactors();
  AffineExpr quotient, rest{a.constant, {}};
  for (const auto &[atom, k] : a.terms) {
    std::vector<Atom> factors = atom.asFactors();
    bool divisible = true;
    for (const Atom &m : monomial) {
      auto it = std::find(factors.begin(), factors.end(), m);
      if (it == factors.end()) {
        divisible = false;
        break;
      }
      factors.erase(it);
    }
    // Distinct atoms give distinct quotients: nothing adds up, nothing overflows.
    if (!divisible)
      rest.terms.emplace(atom, k);
    else if (factors.empty())
      quotient.constant = k;
    else
      quotient.terms.emplace(Atom::product(std::move(factors)), k);
  }
  return {quotient, rest};
}

using Facts = std::vector<std::optional<AffineExpr>>;

/// `a == b` as two facts.
void equal(Facts &facts, const std::optional<AffineExpr> &a, const AffineExpr &b) {
  if (!a)
    return;
  facts.push_back(minus(*a, b));
  facts.push_back(minus(b, *a));
}

void productFacts(CaseContext &ctx, const Atom &p, int depth, Facts &facts) {
  const std::vector<Atom> &fs = p.factors();
  auto lower = [&](const AffineExpr &x) -> std::optional<int64_t> {
    if (sideCondition(ctx, plus(x, -1), depth + 1))
      return 1;
    if (sideCondition(ctx, x, depth + 1))
      return 0;
    return std::nullopt;
  };
  for (size_t k = 0; k < fs.size(); ++k) {
    if (k > 0 && fs[k] == fs[k - 1])
      continue;
    std::vector<Atom> others = fs;
    others.erase(others.begin() + static_cast<std::ptrdiff_t>(k));
    AffineExpr x = AffineExpr::of(fs[k]), rest = AffineExpr::of(Atom::product(others));
    std::optional<int64_t> lx = lower(x), lr = lower(rest);
    if (!lx || !lr)
      continue;
    // (x - lx)(rest - lr) >= 0: p - lx * rest - lr * x + lx * lr >= 0.
    std::optional<AffineExpr> f = addScaled(AffineExpr::of(p), rest, -*lx);
    f = f ? addScaled(*f, x, -*lr) : std::nullopt;
    facts.push_back(plus(f, *lx * *lr));
  }
}

/// Facts about `q == b // d` (`isDiv`) or `q == b % d` from the sign of b, for d >= 1.
void restFacts(CaseContext &ctx, const AffineExpr &q, const AffineExpr &b, const AffineExpr &d,
               bool isDiv, int depth, Facts &facts) {
  if (sideCondition(ctx, b, depth + 1)) {
    // 0 <= b: 0 <= b // d <= b, and b % d <= b; both exact when b <= d - 1.
    bool small = sideCondition(ctx, plus(minus(d, b), -1), depth + 1);
    if (isDiv) {
      facts.push_back(q);
      facts.push_back(minus(b, q));
      if (small)
        facts.push_back(scaled(q, -1));
    } else {
      facts.push_back(minus(b, q));
      if (small)
        facts.push_back(minus(q, b));
    }
  } else if (sideCondition(ctx, plus(scaled(b, -1), -1), depth + 1)) {
    // b <= -1: b <= b // d <= -1, and b % d >= d + b; both exact when b >= -d.
    bool small = sideCondition(ctx, addScaled(d, b), depth + 1);
    std::optional<AffineExpr> dPlusB = addScaled(d, b);
    if (isDiv) {
      facts.push_back(minus(q, b));
      facts.push_back(plus(scaled(q, -1), -1));
      if (small)
        facts.push_back(plus(q, 1));
    } else if (dPlusB) {
      facts.push_back(minus(q, *dPlusB));
      if (small)
        facts.push_back(minus(*dPlusB, q));
    }
  }
}

void divisionFacts(CaseContext &ctx, const Atom &a, int depth, Facts &facts) {
  const AffineExpr q = AffineExpr::of(a), &n = a.num(), &d = a.den();
  bool isDiv = a.kind() == Atom::Kind::FloorDiv;
  if (d.isConstant()) {
    int64_t c = d.constant;
    if (isDiv) {
      // c * q <= n <= c * q + c - 1.
      facts.push_back(addScaled(n, q, -c));
      std::optional<AffineExpr> cq = scaled(q, c);
      facts.push_back(cq ? plus(minus(*cq, n), c - 1) : std::nullopt);
    } else {
      // 0 <= r <= c - 1 and r == n - c * (n // c).
      facts.push_back(q);
      facts.push_back(plus(scaled(q, -1), c - 1));
      if (std::optional<AffineExpr> quotient = floorDivide(n, d))
        equal(facts, addScaled(n, *quotient, -c), q);
    }
    return;
  }
  if (!sideCondition(ctx, plus(d, -1), depth + 1))
    return;
  // d * (n // d) <= n <= d * (n // d) + d - 1, and n % d == n - d * (n // d).
  std::optional<AffineExpr> quotientAtom = isDiv ? q : floorDivide(n, d);
  std::optional<AffineExpr> dq = quotientAtom ? multiply(d, *quotientAtom) : std::nullopt;
  if (dq && isDiv) {
    std::optional<AffineExpr> top = addScaled(*dq, d);
    facts.push_back(minus(n, *dq));
    facts.push_back(top ? plus(minus(*top, n), -1) : std::nullopt);
  } else if (dq) {
    equal(facts, minus(n, *dq), q);
  }
  auto [quotient, rest] = splitByMonomial(n, d);
  if (!isDiv) {
    facts.push_back(q);
    facts.push_back(plus(minus(d, q), -1));
  }
  if (quotient == AffineExpr{}) {
    restFacts(ctx, q, n, d, isDiv, depth, facts);
    return;
  }
  // n == d * A + B with d != 0: n // d == A + B // d and n % d == B % d.
  std::optional<AffineExpr> restQ = isDiv ? floorDivide(rest, d) : remainder(rest, d);
  if (!restQ)
    return;
  equal(facts, isDiv ? addScaled(quotient, *restQ) : restQ, q);
  if (!restQ->isConstant())
    restFacts(ctx, *restQ, rest, d, isDiv, depth, facts);
}

void collectAtoms(const AffineExpr &a, std::set<Atom> &seen, std::vector<Atom> &work) {
  for (const auto &[atom, c] : a.terms)
    if (!atom.isVar() && seen.insert(atom).second)
      work.push_back(atom);
}

bool nonNegative(CaseContext &ctx, const AffineExpr &goal, int depth) {
  if (goal.isConstant())
    return goal.constant >= 0;
  if (--ctx.budget < 0)
    return false;
  std::vector<AffineExpr> system = ctx.assumptions;
  // The negated goal: -goal - 1 >= 0. When that overflows nothing can be proven.
  std::optional<AffineExpr> negated = plus(scaled(goal, -1), -1);
  if (!negated)
    return false;
  system.push_back(*negated);
  std::set<Atom> seen;
  std::vector<Atom> work;
  for (const AffineExpr &a : system)
    collectAtoms(a, seen, work);
  // Facts cost side conditions: only when the atoms alone do not suffice.
  if (provedInfeasible(system))
    return true;
  if (!work.empty() && depth < kMaxDepth) {
    for (size_t k = 0; k < work.size() && k < kMaxAtoms; ++k) {
      Facts facts;
      if (work[k].kind() == Atom::Kind::Product)
        productFacts(ctx, work[k], depth, facts);
      else
        divisionFacts(ctx, work[k], depth, facts);
      for (const std::optional<AffineExpr> &f : facts) {
        if (!f)
          continue;
        system.push_back(*f);
        collectAtoms(*f, seen, work);
      }
    }
    return provedInfeasible(system);
  }
  return false;
}

// --- Bounds over the domain -------------------------------------------------------------------

using Domain = std::vector<std::pair<Var, AffineExpr>>; // Each variable with its extent.

bool mentionsDomain(const Atom &a, const Domain &domain) {
  return std::any_of(domain.begin(), domain.end(),
                     [&](const auto &d) { return a.mentions(d.first); });
}

/// The least and greatest values of a form over the domain.
struct Range {
  AffineExpr least, greatest;
};

std::optional<Range> range(CaseContext &ctx, const AffineExpr &e, const Domain &domain,
                           std::string &unbounded);

/// The range of a nonlinear atom over the domain. Both ends come from one range of each operand,
/// so nested atoms cost time linear in their depth.
std::optional<Range> atomRange(CaseContext &ctx, const Atom &a, const Domain &domain,
                               std::string &unbounded) {
  auto fail = [&]() -> std::optional<Range> {
    if (unbounded.empty())
      unbounded = a.str();
    return std::nullopt;
  };
  if (a.kind() == Atom::Kind::Product) {
    // One factor depends on the domain; the others are symbols, whose sign decides.
    std::vector<Atom> symbols;
    std::optional<Atom> dependent;
    for (const Atom &f : a.factors()) {
      if (mentionsDomain(f, domain))
        dependent = f;
      else
        symbols.push_back(f);
    }
    AffineExpr s = AffineExpr::of(Atom::product(symbols));
    bool nonNegativeS = sideCondition(ctx, s, 1);
    if (!nonNegativeS && !sideCondition(ctx, scaled(s, -1), 1))
      return fail();
    std::optional<Range> r = range(ctx, AffineExpr::of(*dependent), domain, unbounded);
    if (!r)
      return std::nullopt;
    std::optional<AffineExpr> lo = multiply(s, r->least), hi = multiply(s, r->greatest);
    if (!lo || !hi)
      return std::nullopt;
    return nonNegativeS ? Range{*lo, *hi} : Range{*hi, *lo};
  }
  const AffineExpr &d = a.den();
  bool isDiv = a.kind() == Atom::Kind::FloorDiv;
  // Floor division by d >= 0 is monotone (d == 0 gives 0 throughout); n % d lies in [0, d - 1]
  // for d >= 1.
  std::optional<AffineExpr> needed = isDiv ? std::optional(d) : plus(d, -1);
  if (!d.isConstant() && !sideCondition(ctx, needed, 1))
    return fail();
  std::optional<Range> n = range(ctx, a.num(), domain, unbounded);
  if (!n)
    return std::nullopt;
  if (isDiv) {
    std::optional<AffineExpr> lo = floorDivide(n->least, d), hi = floorDivide(n->greatest, d);
    return lo && hi ? std::optional(Range{*lo, *hi}) : std::nullopt;
  }
  // Exactly n where n stays within [0, d - 1].
  if (sideCondition(ctx, n->least, 1) && sideCondition(ctx, plus(minus(d, n->greatest), -1), 1))
    return n;
  std::optional<AffineExpr> top = plus(d, -1);
  return top ? std::optional(Range{AffineExpr{}, *top}) : std::nullopt;
}

std::optional<Range> range(CaseContext &ctx, const AffineExpr &e, const Domain &domain,
                           std::string &unbounded) {
  Range r{AffineExpr{e.constant, {}}, AffineExpr{e.constant, {}}};
  for (const auto &[atom, c] : e.terms) {
    auto it = std::find_if(domain.begin(), domain.end(), [&atom = atom](const auto &d) {
      return atom.isVar() && atom.var() == d.first;
    });
    std::optional<Range> t;
    if (it != domain.end()) {
      // v ranges over [0, extent - 1].
      std::optional<AffineExpr> top = plus(it->second, -1);
      if (!top)
        return std::nullopt;
      t = Range{AffineExpr{}, *top};
    } else if (!mentionsDomain(atom, domain)) {
      t = Range{AffineExpr::of(atom), AffineExpr::of(atom)};
    } else {
      t = atomRange(ctx, atom, domain, unbounded);
    }
    if (!t)
      return std::nullopt;
    // A negative coefficient swaps the ends.
    std::optional<AffineExpr> lo = addScaled(r.least, c > 0 ? t->least : t->greatest, c);
    std::optional<AffineExpr> hi = addScaled(r.greatest, c > 0 ? t->greatest : t->least, c);
    if (!lo || !hi)
      return std::nullopt;
    r = Range{std::move(*lo), std::move(*hi)};
  }
  return r;
}

// --- Cases
// ----------------------------------------------------------------------------------------

void collectVars(const Atom &a, std::vector<Var> &out) {
  if (a.isVar()) {
    if (std::find(out.begin(), out.end(), a.var()) == out.end())
      out.push_back(a.var());
  } else if (a.kind() == Atom::Kind::Product) {
    for (const Atom &f : a.factors())
      collectVars(f, out);
  } else {
    for (const AffineExpr *x : {&a.num(), &a.den()})
      for (const auto &[atom, c] : x->terms)
        collectVars(atom, out);
  }
}

/// Every variable that a non-constant divisor in `e` mentions.
void collectDivisors(const AffineExpr &e, std::vector<Var> &out) {
  for (const auto &[atom, c] : e.terms) {
    if (atom.kind() == Atom::Kind::Product) {
      for (const Atom &f : atom.factors())
        collectDivisors(AffineExpr::of(f), out);
    } else if (!atom.isVar()) {
      collectDivisors(atom.num(), out);
      collectDivisors(atom.den(), out);
      for (const auto &[d, k] : atom.den().terms)
        collectVars(d, out);
    }
  }
}

/// The split covers at most this many symbols (3^4 cases).
constexpr size_t kMaxSplit = 4;

struct Case {
  AffineExpr goal;
  Domain domain;
  std::vector<AffineExpr> assumptions;
  std::string when;
  std::vector<Var> zero;
};

Proof proveCase(const Case &c, int &budget) {
  CaseContext ctx{c.assumptions, budget, {}};
  Proof p;
  p.when = c.when;
  p.zero = c.zero;
  // A case the assumptions exclude holds vacuously (W = 0 empties a domain of extent H * W).
  if (!c.when.empty() && provedInfeasible(c.assumptions)) {
    p.proved = true;
    return p;
  }
  // A triangular extent (`k < j + 1`) bounds one variable by others. The variables are then
  // eliminated one at a time, the last first (an extent names only variables before its own),
  // so that `j - k` over k <= j is bounded by j - j = 0 before j is.
  bool triangular = false;
  for (const auto &[v, extent] : c.domain)
    for (const auto &[atom, coefficient] : extent.terms)
      triangular |= mentionsDomain(atom, c.domain);
  if (!triangular) {
    if (std::optional<Range> r = range(ctx, c.goal, c.domain, p.unbounded))
      p.least = r->least;
  } else {
    std::optional<AffineExpr> least = c.goal;
    for (size_t k = c.domain.size(); least && k-- > 0;) {
      std::optional<Range> r = range(ctx, *least, Domain{c.domain[k]}, p.unbounded);
      least = r ? std::optional(r->least) : std::nullopt;
    }
    p.least = least;
  }
  p.proved = p.least && nonNegative(ctx, *p.least, 0);
  return p;
}

Proof proveCases(const Case &c, const std::vector<Var> &split, size_t k, int &budget) {
  if (k == split.size())
    return proveCase(c, budget);
  const Var &s = split[k];
  CaseContext probe{c.assumptions, budget, {}};
  AffineExpr sym = AffineExpr::of(s);
  if (nonNegative(probe, sym - AffineExpr{1, {}}, kMaxDepth))
    return proveCases(c, split, k + 1, budget); // Already >= 1: nothing to split.
  auto named = [&](const std::string &what) {
    return c.when + (c.when.empty() ? "" : " and ") + s->name + what;
  };
  // s >= 1, s == 0, and s <= -1 unless the assumptions exclude it. The usual case, s >= 1, goes
  // unnamed in `when`: a failure there needs no qualifier.
  Case positive = c;
  positive.assumptions.push_back(sym - AffineExpr{1, {}});
  Proof p = proveCases(positive, split, k + 1, budget);
  if (!p.proved)
    return p;
  Case zero{AffineExpr{}, {}, {}, named(" = 0"), c.zero};
  zero.zero.push_back(s);
  std::optional<AffineExpr> goal = substitute(c.goal, s, AffineExpr{});
  bool ok = goal.has_value();
  zero.goal = goal.value_or(AffineExpr{});
  for (const auto &[v, extent] : c.domain) {
    std::optional<AffineExpr> x = substitute(extent, s, AffineExpr{});
    ok &= x.has_value();
    zero.domain.emplace_back(v, x.value_or(AffineExpr{}));
  }
  for (const AffineExpr &a : c.assumptions) {
    std::optional<AffineExpr> x = substitute(a, s, AffineExpr{});
    ok &= x.has_value();
    zero.assumptions.push_back(x.value_or(AffineExpr{}));
  }
  if (!ok) {
    Proof failed;
    failed.when = zero.when;
    failed.zero = zero.zero;
    failed.unbounded = c.goal.str();
    return failed;
  }
  p = proveCases(zero, split, k + 1, budget);
  if (!p.proved || nonNegative(probe, sym, kMaxDepth))
    return p;
  Case negative = c;
  negative.assumptions.push_back(sym * -1 - AffineExpr{1, {}});
  negative.when = named(" <= -1");
  return proveCases(negative, split, k + 1, budget);
}

} // namespace

AffineExpr Proof::inCase(const AffineExpr &a) const {
  AffineExpr r = a;
  for (const Var &v : zero)
    r = substitute(r, v, AffineExpr{}).value_or(r);
  return r;
}

Proof proveNonNegative(const AffineExpr &e, const std::vector<IterVar> &domain,
                       const std::vector<AffineExpr> &assumptions) {
  Case c{e, {}, assumptions, "", {}};
  std::vector<Var> split;
  collectDivisors(e, split);
  for (const IterVar &iv : domain) {
    std::optional<AffineExpr> extent = toAffine(iv.extent);
    TDSL_CHECK(extent) << "an extent without an affine form: " << iv.var->name;
    collectDivisors(*extent, split);
    c.domain.emplace_back(iv.var, *extent);
  }
  for (const AffineExpr &a : assumptions)
    collectDivisors(a, split);
  std::stable_sort(split.begin(), split.end(),
                   [](const Var &a, const Var &b) { return a->name < b->name; });
  if (split.size() > kMaxSplit)
    split.resize(kMaxSplit);
  int budget = kBudget;
  return proveCases(c, split, 0, budget);
}

bool provedNonNegative(const AffineExpr &e, const std::vector<AffineExpr> &assumptions) {
  return proveNonNegative(e, {}, assumptions).proved;
}

} // namespace tdsl::ir
