// Affine forms and the bounds prover. Sema proves every access in bounds with the shapes as
// symbols: it bounds a subscript over the statement's domain (each variable in [0, extent - 1])
// with min/maxOverDomain, then asks provedNonNegative whether `bound >= 0` follows from the
// assumptions (symbols >= 0, extents >= 1, ...). The prover is Fourier–Motzkin elimination over
// the integers: it refutes `e <= -1` together with the assumptions. It is sound (a "true" is a
// proof) and gives up, answering false, when the system grows too large or a coefficient would
// overflow.
#include "ir/Affine.h"

#include "support/Check.h"

#include <algorithm>
#include <cstdlib>
#include <numeric>

namespace tdsl::ir {

namespace {

int64_t checkedAdd(int64_t a, int64_t b) {
  int64_t r;
  TDSL_CHECK(!__builtin_add_overflow(a, b, &r)) << "affine arithmetic overflows";
  return r;
}

int64_t checkedMul(int64_t a, int64_t b) {
  int64_t r;
  TDSL_CHECK(!__builtin_mul_overflow(a, b, &r)) << "affine arithmetic overflows";
  return r;
}

/// Adds k * (var) to `terms`, dropping a coefficient that becomes zero.
void addTerm(std::map<Var, int64_t> &terms, const Var &var, int64_t k) {
  if (k == 0)
    return;
  auto [it, inserted] = terms.emplace(var, k);
  if (!inserted) {
    it->second = checkedAdd(it->second, k);
    if (it->second == 0)
      terms.erase(it);
  }
}

/// Terms in printing order, which reads naturally and does not depend on pointers: positive
/// terms before negative ones (`W - S + 1`), shape symbols before other variables, then by name.
std::vector<std::pair<Var, int64_t>> orderedTerms(const AffineExpr &a) {
  std::vector<std::pair<Var, int64_t>> terms(a.terms.begin(), a.terms.end());
  std::stable_sort(terms.begin(), terms.end(), [](const auto &x, const auto &y) {
    bool xn = x.second < 0, yn = y.second < 0;
    if (xn != yn)
      return yn;
    bool xs = x.first->kind == VarKind::Symbol, ys = y.first->kind == VarKind::Symbol;
    if (xs != ys)
      return xs;
    return x.first->name < y.first->name;
  });
  return terms;
}

// toAffine's walk: nullopt on anything that is not affine or on overflow.
std::optional<AffineExpr> affineOf(const Expr &e) {
  if (!e || e->type != Type::i64())
    return std::nullopt;
  if (const IntImm *imm = e->as<IntImm>())
    return AffineExpr{imm->value, {}};
  if (const VarRef *ref = e->as<VarRef>())
    return AffineExpr{0, {{ref->var, 1}}};
  auto scaled = [](const AffineExpr &a, int64_t k) -> std::optional<AffineExpr> {
    AffineExpr r;
    if (__builtin_mul_overflow(a.constant, k, &r.constant))
      return std::nullopt;
    if (k == 0)
      return AffineExpr{};
    for (const auto &[v, c] : a.terms) {
      int64_t p;
      if (__builtin_mul_overflow(c, k, &p))
        return std::nullopt;
      r.terms.emplace(v, p);
    }
    return r;
  };
  auto summed = [](const AffineExpr &a, const AffineExpr &b) -> std::optional<AffineExpr> {
    AffineExpr r = a;
    if (__builtin_add_overflow(r.constant, b.constant, &r.constant))
      return std::nullopt;
    for (const auto &[v, c] : b.terms) {
      auto [it, inserted] = r.terms.emplace(v, c);
      if (!inserted) {
        if (__builtin_add_overflow(it->second, c, &it->second))
          return std::nullopt;
        if (it->second == 0)
          r.terms.erase(it);
      }
    }
    return r;
  };
  if (const Unary *u = e->as<Unary>()) {
    if (u->op != UnaryOp::Neg)
      return std::nullopt;
    auto a = affineOf(u->a);
    return a ? scaled(*a, -1) : std::nullopt;
  }
  if (const Binary *b = e->as<Binary>()) {
    if (b->op != BinaryOp::Add && b->op != BinaryOp::Sub && b->op != BinaryOp::Mul)
      return std::nullopt;
    auto x = affineOf(b->a);
    auto y = affineOf(b->b);
    if (!x || !y)
      return std::nullopt;
    if (b->op == BinaryOp::Add)
      return summed(*x, *y);
    if (b->op == BinaryOp::Sub) {
      auto negY = scaled(*y, -1);
      return negY ? summed(*x, *negY) : std::nullopt;
    }
    if (x->isConstant())
      return scaled(*y, x->constant);
    if (y->isConstant())
      return scaled(*x, y->constant);
    return std::nullopt;
  }
  return std::nullopt;
}

// --- Fourier–Motzkin ------------------------------------------------------------------------

/// sum(coeffs[i] * x_i) + constant >= 0, over variables numbered 0..n-1.
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
  // floor(constant / g) for g > 0.
  int64_t q = c.constant / g;
  if (c.constant % g != 0 && c.constant < 0)
    --q;
  c.constant = q;
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

} // namespace

AffineExpr AffineExpr::operator+(const AffineExpr &o) const {
  AffineExpr r = *this;
  r.constant = checkedAdd(constant, o.constant);
  for (const auto &[v, c] : o.terms)
    addTerm(r.terms, v, c);
  return r;
}

AffineExpr AffineExpr::operator-(const AffineExpr &o) const { return *this + o * -1; }

AffineExpr AffineExpr::operator*(int64_t k) const {
  AffineExpr r;
  if (k == 0)
    return r;
  r.constant = checkedMul(constant, k);
  for (const auto &[v, c] : terms)
    r.terms.emplace(v, checkedMul(c, k));
  return r;
}

std::string AffineExpr::str() const {
  std::string out;
  auto append = [&](int64_t c, const std::string &name) {
    bool first = out.empty();
    // |c| as an unsigned value so that INT64_MIN prints correctly.
    uint64_t mag = c < 0 ? uint64_t(0) - uint64_t(c) : uint64_t(c);
    if (first)
      out += c < 0 ? "-" : "";
    else
      out += c < 0 ? " - " : " + ";
    if (name.empty())
      out += std::to_string(mag);
    else if (mag == 1)
      out += name;
    else
      out += std::to_string(mag) + " * " + name;
  };
  for (const auto &[v, c] : orderedTerms(*this))
    append(c, v->name);
  if (constant != 0 || out.empty())
    append(constant, "");
  return out;
}

std::optional<AffineExpr> toAffine(const Expr &e) { return affineOf(e); }

Expr toExpr(const AffineExpr &a) {
  Expr out;
  auto term = [](int64_t mag, const Var &v) -> Expr {
    return mag == 1 ? ref(v) : mul(intImm(mag), ref(v));
  };
  for (const auto &[v, c] : orderedTerms(a)) {
    if (!out) {
      out = c == -1 ? Unary::make(UnaryOp::Neg, ref(v)) : term(c, v);
    } else if (c > 0) {
      out = add(out, term(c, v));
    } else if (c != INT64_MIN) {
      out = sub(out, term(-c, v));
    } else {
      out = add(out, term(c, v));
    }
  }
  if (!out)
    return intImm(a.constant);
  if (a.constant > 0)
    out = add(out, intImm(a.constant));
  else if (a.constant < 0 && a.constant != INT64_MIN)
    out = sub(out, intImm(-a.constant));
  else if (a.constant == INT64_MIN)
    out = add(out, intImm(a.constant));
  return out;
}

namespace {
/// The value of `e` at the corner of the domain that maximizes it (`wantMax`) or minimizes it.
AffineExpr extremeOverDomain(const AffineExpr &e, const std::vector<IterVar> &domain,
                             bool wantMax) {
  AffineExpr r;
  r.constant = e.constant;
  for (const auto &[v, c] : e.terms) {
    auto it = std::find_if(domain.begin(), domain.end(),
                           [&v = v](const IterVar &iv) { return iv.var == v; });
    if (it == domain.end()) {
      addTerm(r.terms, v, c);
      continue;
    }
    // v ranges over [0, extent - 1]: the extreme is at the top end when the coefficient's sign
    // agrees with the direction, else at 0 (which contributes nothing).
    if ((c > 0) != wantMax)
      continue;
    std::optional<AffineExpr> extent = toAffine(it->extent);
    TDSL_CHECK(extent) << "non-affine extent of " << v->name;
    r = r + (*extent - AffineExpr{1, {}}) * c;
  }
  return r;
}
} // namespace

AffineExpr maxOverDomain(const AffineExpr &e, const std::vector<IterVar> &domain) {
  return extremeOverDomain(e, domain, /*wantMax=*/true);
}

AffineExpr minOverDomain(const AffineExpr &e, const std::vector<IterVar> &domain) {
  return extremeOverDomain(e, domain, /*wantMax=*/false);
}

bool provedNonNegative(const AffineExpr &e, const std::vector<AffineExpr> &assumptions) {
  if (e.isConstant())
    return e.constant >= 0;
  // Number the variables of the goal and the assumptions.
  std::vector<Var> vars;
  auto indexOf = [&](const Var &v) {
    auto it = std::find(vars.begin(), vars.end(), v);
    if (it != vars.end())
      return size_t(it - vars.begin());
    vars.push_back(v);
    return vars.size() - 1;
  };
  for (const auto &[v, c] : e.terms)
    indexOf(v);
  for (const AffineExpr &a : assumptions)
    for (const auto &[v, c] : a.terms)
      indexOf(v);
  auto toConstraint = [&](const AffineExpr &a) {
    Constraint c{std::vector<int64_t>(vars.size(), 0), a.constant};
    for (const auto &[v, k] : a.terms)
      c.coeffs[indexOf(v)] = k;
    return c;
  };
  std::map<std::vector<int64_t>, int64_t> set;
  for (const AffineExpr &a : assumptions)
    if (!addConstraint(set, toConstraint(a)))
      return true; // The assumptions alone are contradictory: anything follows.
  // The negated goal: -e - 1 >= 0. Negating may overflow; then we cannot prove anything.
  Constraint goal{std::vector<int64_t>(vars.size(), 0), 0};
  for (const auto &[v, k] : e.terms) {
    if (k == INT64_MIN)
      return false;
    goal.coeffs[indexOf(v)] = -k;
  }
  if (e.constant == INT64_MIN || __builtin_sub_overflow(-e.constant, 1, &goal.constant))
    return false;
  if (!addConstraint(set, goal))
    return true;
  return provedInfeasible(std::move(set), vars.size());
}

} // namespace tdsl::ir
