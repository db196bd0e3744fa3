// Affine forms over atoms, in canonical form: equal shape expressions have equal forms (so that
// dims compare as values), and a form's printing and its expression do not depend on pointers.
// Constant divisors are divided out where exact ((2 * H + 1) // 2 == H); symbolic ones stay in
// their atoms, since `x // W` cannot be simplified without knowing W != 0.
#include "ir/Affine.h"

#include "ir/IntArith.h"
#include "support/Check.h"

#include <algorithm>
#include <numeric>
#include <tuple>

namespace tdsl::ir {

// --- Atoms --------------------------------------------------------------------------------------

struct Atom::Node {
  std::vector<Atom> factors;
  AffineExpr num, den;
};

Atom::Atom(Var var) : kind_(Kind::Var), var_(std::move(var)) {
  TDSL_CHECK(var_) << "an atom of a null variable";
}

Atom::Atom(Kind kind, std::shared_ptr<const Node> node) : kind_(kind), node_(std::move(node)) {}

Atom Atom::product(std::vector<Atom> factors) {
  TDSL_CHECK(!factors.empty()) << "a product of no factors";
  for (const Atom &f : factors)
    TDSL_CHECK(f.kind() != Kind::Product) << "a product nested in a product";
  if (factors.size() == 1)
    return factors[0];
  std::sort(factors.begin(), factors.end());
  return Atom(Kind::Product, std::make_shared<const Node>(Node{std::move(factors), {}, {}}));
}

std::vector<Atom> Atom::asFactors() const {
  return kind_ == Kind::Product ? node_->factors : std::vector<Atom>{*this};
}

Atom Atom::division(Kind kind, AffineExpr num, AffineExpr den) {
  TDSL_CHECK(kind == Kind::FloorDiv || kind == Kind::Mod) << "a division atom of another kind";
  TDSL_CHECK(den.isConstant() ? den.constant >= 2 : den.onlySymbols())
      << "a divisor that is neither a constant >= 2 nor shape symbols: " << den.str();
  return Atom(kind, std::make_shared<const Node>(Node{{}, std::move(num), std::move(den)}));
}

const Var &Atom::var() const {
  TDSL_CHECK(isVar()) << "var() of a " << str();
  return var_;
}

const std::vector<Atom> &Atom::factors() const {
  TDSL_CHECK(kind_ == Kind::Product) << "factors() of " << str();
  return node_->factors;
}

const AffineExpr &Atom::num() const {
  TDSL_CHECK(kind_ == Kind::FloorDiv || kind_ == Kind::Mod) << "num() of " << str();
  return node_->num;
}

const AffineExpr &Atom::den() const {
  TDSL_CHECK(kind_ == Kind::FloorDiv || kind_ == Kind::Mod) << "den() of " << str();
  return node_->den;
}

bool Atom::onlySymbols() const {
  switch (kind_) {
  case Kind::Var:
    return var_->kind == VarKind::Symbol;
  case Kind::Product:
    return std::all_of(node_->factors.begin(), node_->factors.end(),
                       [](const Atom &f) { return f.onlySymbols(); });
  case Kind::FloorDiv:
  case Kind::Mod:
    return node_->num.onlySymbols() && node_->den.onlySymbols();
  }
  return false;
}

bool Atom::mentions(const Var &v) const {
  switch (kind_) {
  case Kind::Var:
    return var_ == v;
  case Kind::Product:
    return std::any_of(node_->factors.begin(), node_->factors.end(),
                       [&](const Atom &f) { return f.mentions(v); });
  case Kind::FloorDiv:
  case Kind::Mod:
    return node_->num.mentions(v) || node_->den.mentions(v);
  }
  return false;
}

namespace {

/// An operand of `*`, `//` or `%` as printed: parenthesized unless a variable or a constant.
std::string operandStr(const AffineExpr &a) {
  bool single = a.isConstant() || (a.constant == 0 && a.terms.size() == 1 &&
                                   a.terms.begin()->second == 1 && a.terms.begin()->first.isVar());
  return single ? a.str() : "(" + a.str() + ")";
}

/// An atom, printed as `name`, as a factor of a product or a scaled term: divisions are
/// parenthesized.
std::string factorStr(const Atom &a, const std::string &name) {
  bool division = a.kind() == Atom::Kind::FloorDiv || a.kind() == Atom::Kind::Mod;
  return division ? "(" + name + ")" : name;
}

/// A product's factors with their names, in printing order (by name), which does not depend on
/// pointers. Each name is printed once: printing nested atoms again, in a comparison or for the
/// output, would cost time exponential in their depth.
std::vector<std::pair<std::string, Atom>> printedFactors(const Atom &a) {
  std::vector<std::pair<std::string, Atom>> factors;
  for (const Atom &f : a.factors())
    factors.emplace_back(f.str(), f);
  std::stable_sort(factors.begin(), factors.end(),
                   [](const auto &x, const auto &y) { return x.first < y.first; });
  return factors;
}

} // namespace

std::string Atom::str() const {
  switch (kind_) {
  case Kind::Var:
    return var_->name;
  case Kind::Product: {
    std::string s;
    for (const auto &[name, f] : printedFactors(*this))
      s += (s.empty() ? "" : " * ") + factorStr(f, name);
    return s;
  }
  case Kind::FloorDiv:
  case Kind::Mod:
    return operandStr(node_->num) + (kind_ == Kind::FloorDiv ? " // " : " % ") +
           operandStr(node_->den);
  }
  return "";
}

bool operator==(const Atom &a, const Atom &b) {
  if (a.kind_ != b.kind_)
    return false;
  switch (a.kind_) {
  case Atom::Kind::Var:
    return a.var_ == b.var_;
  case Atom::Kind::Product:
    return a.node_ == b.node_ || a.node_->factors == b.node_->factors;
  case Atom::Kind::FloorDiv:
  case Atom::Kind::Mod:
    return a.node_ == b.node_ || (a.node_->num == b.node_->num && a.node_->den == b.node_->den);
  }
  return false;
}

std::strong_ordering operator<=>(const Atom &a, const Atom &b) {
  if (a.kind_ != b.kind_)
    return a.kind_ <=> b.kind_;
  if (a.kind_ == Atom::Kind::Var)
    return std::compare_three_way{}(a.var_.get(), b.var_.get());
  if (a.node_ == b.node_)
    return std::strong_ordering::equal;
  if (a.kind_ == Atom::Kind::Product)
    return a.node_->factors <=> b.node_->factors;
  if (auto c = a.node_->num <=> b.node_->num; c != 0)
    return c;
  return a.node_->den <=> b.node_->den;
}

std::strong_ordering operator<=>(const AffineExpr &a, const AffineExpr &b) {
  // One pass over both (nested atoms are compared once, not once per direction).
  if (auto c = a.constant <=> b.constant; c != 0)
    return c;
  auto x = a.terms.begin(), y = b.terms.begin();
  for (; x != a.terms.end() && y != b.terms.end(); ++x, ++y) {
    if (auto c = x->first <=> y->first; c != 0)
      return c;
    if (auto c = x->second <=> y->second; c != 0)
      return c;
  }
  return a.terms.size() <=> b.terms.size();
}

// --- Checked arithmetic on forms ------------------------------------------------------------

namespace {

/// Adds k * atom to `terms`, dropping a coefficient that becomes zero; false on overflow.
bool addTerm(std::map<Atom, int64_t> &terms, const Atom &atom, int64_t k) {
  if (k == 0)
    return true;
  auto [it, inserted] = terms.emplace(atom, k);
  if (!inserted) {
    if (__builtin_add_overflow(it->second, k, &it->second))
      return false;
    if (it->second == 0)
      terms.erase(it);
  }
  return true;
}

} // namespace

std::optional<AffineExpr> scaled(const AffineExpr &a, int64_t k) {
  if (k == 0)
    return AffineExpr{};
  AffineExpr r;
  if (__builtin_mul_overflow(a.constant, k, &r.constant))
    return std::nullopt;
  for (const auto &[atom, c] : a.terms) {
    int64_t p;
    if (__builtin_mul_overflow(c, k, &p))
      return std::nullopt;
    r.terms.emplace(atom, p);
  }
  return r;
}

std::optional<AffineExpr> addScaled(const AffineExpr &a, const AffineExpr &b, int64_t k) {
  std::optional<AffineExpr> kb = scaled(b, k);
  if (!kb)
    return std::nullopt;
  AffineExpr r = a;
  if (__builtin_add_overflow(r.constant, kb->constant, &r.constant))
    return std::nullopt;
  for (const auto &[atom, c] : kb->terms)
    if (!addTerm(r.terms, atom, c))
      return std::nullopt;
  return r;
}

namespace {

/// For a divisor `c` >= 2: `a` split into c * A + B, B's coefficients and constant in [0, c).
std::pair<AffineExpr, AffineExpr> splitByConstant(const AffineExpr &a, int64_t c) {
  AffineExpr quotient, rest;
  quotient.constant = floorDiv(a.constant, c);
  rest.constant = floorMod(a.constant, c);
  for (const auto &[atom, k] : a.terms) {
    if (int64_t q = floorDiv(k, c))
      quotient.terms.emplace(atom, q);
    if (int64_t r = floorMod(k, c))
      rest.terms.emplace(atom, r);
  }
  return {quotient, rest};
}

/// `rest` (a split's B, with terms) and `c` divided by the gcd of c and B's coefficients:
/// B // c == B' // c' and B % c == g * (B' % c') + B.constant % g.
int64_t commonFactor(const AffineExpr &rest, int64_t c) {
  int64_t g = c;
  for (const auto &[atom, k] : rest.terms)
    g = std::gcd(g, k);
  return g;
}

AffineExpr dividedBy(const AffineExpr &a, int64_t g) {
  AffineExpr r{a.constant / g, {}};
  for (const auto &[atom, k] : a.terms)
    r.terms.emplace(atom, k / g);
  return r;
}

enum class DivOp { FloorDiv, Mod };

std::optional<AffineExpr> divide(const AffineExpr &a, const AffineExpr &b, DivOp op) {
  if (!b.isConstant()) {
    if (!b.onlySymbols())
      return std::nullopt;
    if (a == AffineExpr{})
      return AffineExpr{}; // 0 // d == 0 % d == 0 for every d, 0 included.
    return AffineExpr::of(
        Atom::division(op == DivOp::FloorDiv ? Atom::Kind::FloorDiv : Atom::Kind::Mod, a, b));
  }
  int64_t c = b.constant;
  if (c == 0)
    return AffineExpr{}; // x // 0 == x % 0 == 0.
  if (c < 0) {
    // a // -c == (-a) // c and a % -c == -((-a) % c), as Python floors.
    std::optional<AffineExpr> negA = scaled(a, -1);
    if (!negA || c == INT64_MIN)
      return std::nullopt;
    std::optional<AffineExpr> r = divide(*negA, AffineExpr{-c, {}}, op);
    return r && op == DivOp::Mod ? scaled(*r, -1) : r;
  }
  if (c == 1)
    return op == DivOp::FloorDiv ? a : AffineExpr{};
  // (n // d + k) // c == (n + k * d) // (d * c) for d, c >= 1: `H // 2 // 2` is `H // 4`.
  if (op == DivOp::FloorDiv && a.terms.size() == 1 && a.terms.begin()->second == 1) {
    const Atom &inner = a.terms.begin()->first;
    int64_t d =
        inner.kind() == Atom::Kind::FloorDiv && inner.den().isConstant() ? inner.den().constant : 0;
    int64_t dc;
    if (d >= 2 && !__builtin_mul_overflow(d, c, &dc))
      if (std::optional<AffineExpr> n = addScaled(inner.num(), AffineExpr{a.constant, {}}, d))
        return divide(*n, AffineExpr{dc, {}}, op);
  }
  auto [quotient, rest] = splitByConstant(a, c);
  if (rest.isConstant()) // 0 <= rest < c
    return op == DivOp::FloorDiv ? quotient : rest;
  int64_t g = commonFactor(rest, c);
  AffineExpr reduced = dividedBy(rest, g);
  AffineExpr den{c / g, {}};
  if (op == DivOp::FloorDiv)
    return addScaled(quotient, AffineExpr::of(Atom::division(Atom::Kind::FloorDiv, reduced, den)));
  AffineExpr mod = AffineExpr::of(Atom::division(Atom::Kind::Mod, reduced, den));
  std::optional<AffineExpr> r = scaled(mod, g);
  if (r)
    r->constant = rest.constant % g;
  return r;
}

} // namespace

std::optional<AffineExpr> multiply(const AffineExpr &a, const AffineExpr &b) {
  if (a.isConstant())
    return scaled(b, a.constant);
  if (b.isConstant())
    return scaled(a, b.constant);
  // (ca + A)(cb + B) == cb * (ca + A) + ca * B + A * B.
  std::optional<AffineExpr> r = scaled(a, b.constant);
  if (!r)
    return std::nullopt;
  r = addScaled(*r, AffineExpr{0, b.terms}, a.constant);
  if (!r)
    return std::nullopt;
  for (const auto &[x, cx] : a.terms) {
    for (const auto &[y, cy] : b.terms) {
      std::vector<Atom> factors = x.asFactors();
      std::vector<Atom> more = y.asFactors();
      factors.insert(factors.end(), more.begin(), more.end());
      // Index variables stay linear: `W * i` is a term, `i * j` is not.
      size_t dependent = std::count_if(factors.begin(), factors.end(),
                                       [](const Atom &f) { return !f.onlySymbols(); });
      int64_t k;
      if (dependent > 1 || __builtin_mul_overflow(cx, cy, &k) ||
          !addTerm(r->terms, Atom::product(std::move(factors)), k))
        return std::nullopt;
    }
  }
  return r;
}

std::optional<AffineExpr> floorDivide(const AffineExpr &a, const AffineExpr &b) {
  return divide(a, b, DivOp::FloorDiv);
}

std::optional<AffineExpr> remainder(const AffineExpr &a, const AffineExpr &b) {
  return divide(a, b, DivOp::Mod);
}

namespace {

/// Terms in printing order, which reads naturally and does not depend on pointers: positive
/// terms before negative ones (`W - S + 1`), shape symbols before other variables, then by name.
struct NamedTerm {
  bool negative, notSymbol;
  std::string name; // The atom printed, once (see printedFactors).
  Atom atom;
  int64_t coefficient;
};

std::vector<NamedTerm> orderedTerms(const AffineExpr &a) {
  std::vector<NamedTerm> terms;
  for (const auto &[atom, c] : a.terms)
    terms.push_back({c < 0, !atom.onlySymbols(), atom.str(), atom, c});
  std::stable_sort(terms.begin(), terms.end(), [](const NamedTerm &x, const NamedTerm &y) {
    return std::tie(x.negative, x.notSymbol, x.name) < std::tie(y.negative, y.notSymbol, y.name);
  });
  return terms;
}

// toAffine's walk: nullopt on anything that has no form or on overflow.
std::optional<AffineExpr> affineOf(const Expr &e) {
  if (!e || e->type != Type::i64())
    return std::nullopt;
  if (const IntImm *imm = e->as<IntImm>())
    return AffineExpr{imm->value, {}};
  if (const VarRef *ref = e->as<VarRef>())
    return AffineExpr::of(ref->var);
  if (const Unary *u = e->as<Unary>()) {
    if (u->op != UnaryOp::Neg)
      return std::nullopt;
    auto a = affineOf(u->a);
    return a ? scaled(*a, -1) : std::nullopt;
  }
  if (const Binary *b = e->as<Binary>()) {
    auto x = affineOf(b->a);
    auto y = x ? affineOf(b->b) : std::nullopt;
    if (!y)
      return std::nullopt;
    switch (b->op) {
    case BinaryOp::Add:
      return addScaled(*x, *y);
    case BinaryOp::Sub:
      return addScaled(*x, *y, -1);
    case BinaryOp::Mul:
      return multiply(*x, *y);
    case BinaryOp::FloorDiv:
      return floorDivide(*x, *y);
    case BinaryOp::Mod:
      return remainder(*x, *y);
    default:
      return std::nullopt;
    }
  }
  return std::nullopt;
}

Expr atomExpr(const Atom &a) {
  switch (a.kind()) {
  case Atom::Kind::Var:
    return ref(a.var());
  case Atom::Kind::Product: {
    Expr out;
    for (const auto &[name, f] : printedFactors(a))
      out = out ? mul(out, atomExpr(f)) : atomExpr(f);
    return out;
  }
  case Atom::Kind::FloorDiv:
  case Atom::Kind::Mod:
    return Binary::make(a.kind() == Atom::Kind::FloorDiv ? BinaryOp::FloorDiv : BinaryOp::Mod,
                        toExpr(a.num()), toExpr(a.den()));
  }
  TDSL_UNREACHABLE("unknown atom kind");
}

} // namespace

// --- Affine forms -------------------------------------------------------------------------------

bool AffineExpr::isLinear() const {
  return std::all_of(terms.begin(), terms.end(), [](const auto &t) { return t.first.isVar(); });
}

bool AffineExpr::onlySymbols() const {
  return std::all_of(terms.begin(), terms.end(),
                     [](const auto &t) { return t.first.onlySymbols(); });
}

bool AffineExpr::mentions(const Var &v) const {
  return std::any_of(terms.begin(), terms.end(),
                     [&](const auto &t) { return t.first.mentions(v); });
}

AffineExpr AffineExpr::operator+(const AffineExpr &o) const {
  std::optional<AffineExpr> r = addScaled(*this, o);
  TDSL_CHECK(r) << "affine arithmetic overflows";
  return *r;
}

AffineExpr AffineExpr::operator-(const AffineExpr &o) const { return *this + o * -1; }

AffineExpr AffineExpr::operator*(int64_t k) const {
  std::optional<AffineExpr> r = scaled(*this, k);
  TDSL_CHECK(r) << "affine arithmetic overflows";
  return *r;
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
  for (const NamedTerm &t : orderedTerms(*this)) {
    // `2 * (H // 2)`, and `-(K // 2)` rather than `-K // 2`, which means (-K) // 2.
    int64_t c = t.coefficient;
    bool bare = (c == 1 || c == -1) && !(c < 0 && out.empty());
    append(c, bare ? t.name : factorStr(t.atom, t.name));
  }
  if (constant != 0 || out.empty())
    append(constant, "");
  return out;
}

std::optional<AffineExpr> toAffine(const Expr &e) { return affineOf(e); }

Expr toExpr(const AffineExpr &a) {
  Expr out;
  auto term = [](int64_t mag, const Atom &atom) -> Expr {
    return mag == 1 ? atomExpr(atom) : mul(intImm(mag), atomExpr(atom));
  };
  for (const NamedTerm &t : orderedTerms(a)) {
    const Atom &atom = t.atom;
    int64_t c = t.coefficient;
    if (!out) {
      out = c == -1 ? Unary::make(UnaryOp::Neg, atomExpr(atom)) : term(c, atom);
    } else if (c > 0) {
      out = add(out, term(c, atom));
    } else if (c != INT64_MIN) {
      out = sub(out, term(-c, atom));
    } else {
      out = add(out, term(c, atom));
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
  for (const auto &[atom, c] : e.terms) {
    auto it = std::find_if(domain.begin(), domain.end(), [&atom = atom](const IterVar &iv) {
      return atom.isVar() && iv.var == atom.var();
    });
    if (it == domain.end()) {
      for (const IterVar &iv : domain)
        TDSL_CHECK(!atom.mentions(iv.var))
            << "min/maxOverDomain of " << atom.str() << ", which depends on " << iv.var->name;
      TDSL_CHECK(addTerm(r.terms, atom, c)) << "affine arithmetic overflows";
      continue;
    }
    // v ranges over [0, extent - 1]: the extreme is at the top end when the coefficient's sign
    // agrees with the direction, else at 0 (which contributes nothing).
    if ((c > 0) != wantMax)
      continue;
    std::optional<AffineExpr> extent = toAffine(it->extent);
    TDSL_CHECK(extent) << "an extent without an affine form: " << it->var->name;
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

namespace {

std::optional<AffineExpr> substituteAtom(const Atom &a, const Var &v, const AffineExpr &value) {
  if (!a.mentions(v))
    return AffineExpr::of(a);
  switch (a.kind()) {
  case Atom::Kind::Var:
    return value;
  case Atom::Kind::Product: {
    std::optional<AffineExpr> r = AffineExpr{1, {}};
    for (const Atom &f : a.factors()) {
      std::optional<AffineExpr> x = substituteAtom(f, v, value);
      r = r && x ? multiply(*r, *x) : std::nullopt;
    }
    return r;
  }
  case Atom::Kind::FloorDiv:
  case Atom::Kind::Mod: {
    std::optional<AffineExpr> n = substitute(a.num(), v, value);
    std::optional<AffineExpr> d = substitute(a.den(), v, value);
    if (!n || !d)
      return std::nullopt;
    return a.kind() == Atom::Kind::FloorDiv ? floorDivide(*n, *d) : remainder(*n, *d);
  }
  }
  return std::nullopt;
}

} // namespace

std::optional<AffineExpr> substitute(const AffineExpr &e, const Var &v, const AffineExpr &value) {
  std::optional<AffineExpr> r = AffineExpr{e.constant, {}};
  for (const auto &[atom, c] : e.terms) {
    std::optional<AffineExpr> x = substituteAtom(atom, v, value);
    r = r && x ? addScaled(*r, *x, c) : std::nullopt;
  }
  return r;
}

} // namespace tdsl::ir
