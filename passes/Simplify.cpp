// simplify: constant folding and the algebraic identities that are exact under the language's
// semantics, for expressions and loop-level statements.
//
// Folding evaluates exactly as compiled code does at run time: integers wrap at their width,
// `//` and `%` follow Python (and x // 0 == x % 0 == 0), f32 arithmetic is done in f32, min/max
// propagate NaN. Nothing is folded whose run-time result could differ in any bit: transcendental
// functions and float `**` are left alone (libm and LLVM's expansions may differ in the last ulp),
// `x + 0.0` stays (it turns -0.0 into +0.0), `x * 0` only folds for integers. `x ** 2.0` becomes
// `x * x`, the correctly rounded square.
//
// Integer `+ - *` form a ring even with wrapping, so they are rewritten into a canonical linear
// form: terms in order of first appearance, positive ones first, the constant last
// (`(i + 1) - 1` -> `i`, `(i * 2) * 3` -> `i * 6`, `N - 1 - i` -> `N - i - 1`).
#include "ir/ExprEqual.h"
#include "ir/IRVisitor.h"
#include "ir/IntArith.h"
#include "passes/Pipeline.h"
#include "runtime/FloatFormat.h"
#include "support/Check.h"
#include "tdsl/Tensor.h"

#include <cmath>
#include <optional>

namespace tdsl::passes {
namespace {

using namespace ir;

const IntImm *intConst(const Expr &e) {
  const IntImm *imm = as<IntImm>(e);
  return imm && !imm->type.isVector() ? imm : nullptr;
}
const FloatImm *floatConst(const Expr &e) {
  const FloatImm *imm = as<FloatImm>(e);
  return imm && !imm->type.isVector() ? imm : nullptr;
}
bool isIntConst(const Expr &e, int64_t value) {
  const IntImm *imm = intConst(e);
  return imm && imm->value == value;
}
bool isFloatConst(const Expr &e, double value) {
  const FloatImm *imm = floatConst(e);
  return imm && imm->value == value && std::signbit(imm->value) == std::signbit(value);
}

Stmt noop() { return Block::make({}); }
bool isNoop(const Stmt &s) {
  const Block *b = as<Block>(s);
  return b && b->stmts.empty();
}

// ---------------------------------------------------------------------------------------------
// Constant folding.

uint64_t intPow(int64_t base, int64_t exp) {
  if (exp < 0)
    return base == 1 ? 1 : base == -1 ? (exp % 2 == 0 ? 1 : static_cast<uint64_t>(-1)) : 0;
  uint64_t result = 1, b = static_cast<uint64_t>(base);
  for (uint64_t e = static_cast<uint64_t>(exp); e != 0; e >>= 1) {
    if (e & 1)
      result *= b;
    b *= b;
  }
  return result;
}

Expr foldIntBinary(BinaryOp op, Type t, int64_t a, int64_t b) {
  auto ua = static_cast<uint64_t>(a), ub = static_cast<uint64_t>(b);
  auto num = [&](uint64_t v) { return IntImm::make(t, wrapInt(t.dtype, v)); };
  auto boolean = [&](bool v) { return boolImm(v); };
  switch (op) {
  case BinaryOp::Add:
    return num(ua + ub);
  case BinaryOp::Sub:
    return num(ua - ub);
  case BinaryOp::Mul:
    return num(ua * ub);
  case BinaryOp::FloorDiv:
    return num(static_cast<uint64_t>(floorDiv(a, b)));
  case BinaryOp::Mod:
    return num(static_cast<uint64_t>(floorMod(a, b)));
  case BinaryOp::Pow:
    return num(intPow(a, b));
  case BinaryOp::Min:
    return num(static_cast<uint64_t>(std::min(a, b)));
  case BinaryOp::Max:
    return num(static_cast<uint64_t>(std::max(a, b)));
  case BinaryOp::Eq:
    return boolean(a == b);
  case BinaryOp::Ne:
    return boolean(a != b);
  case BinaryOp::Lt:
    return boolean(a < b);
  case BinaryOp::Le:
    return boolean(a <= b);
  case BinaryOp::Gt:
    return boolean(a > b);
  case BinaryOp::Ge:
    return boolean(a >= b);
  case BinaryOp::And:
    return boolean(a && b);
  case BinaryOp::Or:
    return boolean(a || b);
  case BinaryOp::Div:
    return nullptr;
  }
  return nullptr;
}

/// IEEE 754-2019 maximum / minimum: NaN propagates, -0 < +0.
template <typename F> F ieeeMax(F a, F b) {
  if (std::isnan(a) || std::isnan(b))
    return a + b;
  if (a == 0 && b == 0)
    return std::signbit(a) ? b : a;
  return a > b ? a : b;
}
template <typename F> F ieeeMin(F a, F b) {
  if (std::isnan(a) || std::isnan(b))
    return a + b;
  if (a == 0 && b == 0)
    return std::signbit(a) ? a : b;
  return a < b ? a : b;
}

/// Folds a binary float operation computed in `F` (float for f32, double for f64).
template <typename F> Expr foldFloatBinary(BinaryOp op, Type t, F a, F b) {
  auto num = [&](F v) { return FloatImm::make(t, static_cast<double>(v)); };
  switch (op) {
  case BinaryOp::Add:
    return num(a + b);
  case BinaryOp::Sub:
    return num(a - b);
  case BinaryOp::Mul:
    return num(a * b);
  case BinaryOp::Div:
    return num(a / b);
  case BinaryOp::FloorDiv: {
    F q = a / b;
    return num(std::floor(q));
  }
  case BinaryOp::Mod: {
    F r = std::fmod(a, b);
    if (r != 0 && ((r < 0) != (b < 0)))
      r += b;
    return num(r);
  }
  case BinaryOp::Min:
    return num(ieeeMin(a, b));
  case BinaryOp::Max:
    return num(ieeeMax(a, b));
  case BinaryOp::Eq:
    return boolImm(a == b);
  case BinaryOp::Ne:
    return boolImm(a != b);
  case BinaryOp::Lt:
    return boolImm(a < b);
  case BinaryOp::Le:
    return boolImm(a <= b);
  case BinaryOp::Gt:
    return boolImm(a > b);
  case BinaryOp::Ge:
    return boolImm(a >= b);
  case BinaryOp::Pow: // libm's pow is not correctly rounded everywhere: leave it to run time.
  case BinaryOp::And:
  case BinaryOp::Or:
    return nullptr;
  }
  return nullptr;
}

Expr foldBinary(BinaryOp op, const Expr &a, const Expr &b) {
  if (const IntImm *x = intConst(a))
    if (const IntImm *y = intConst(b))
      return foldIntBinary(op, a->type, x->value, y->value);
  if (const FloatImm *x = floatConst(a))
    if (const FloatImm *y = floatConst(b)) {
      if (a->type.dtype == DType::F32)
        return foldFloatBinary<float>(op, a->type, static_cast<float>(x->value),
                                      static_cast<float>(y->value));
      if (a->type.dtype == DType::F64)
        return foldFloatBinary<double>(op, a->type, x->value, y->value);
    }
  return nullptr;
}

/// `v` of float dtype `from` rounded to float dtype `to`, or nullopt where one correct rounding
/// cannot be done here without a double rounding.
std::optional<double> roundFloat(double v, DType from, DType to) {
  switch (to) {
  case DType::F64:
    return v;
  case DType::F32:
    return static_cast<double>(static_cast<float>(v));
  case DType::F16:
  case DType::BF16: {
    if (from == DType::F64 && static_cast<double>(static_cast<float>(v)) != v && !std::isnan(v))
      return std::nullopt;
    auto f = static_cast<float>(v);
    return to == DType::F16 ? halfToFloat(floatToHalf(f)) : bfloat16ToFloat(floatToBFloat16(f));
  }
  default:
    TDSL_UNREACHABLE("not a float type");
  }
}

Expr foldCast(Type to, const Expr &a) {
  if (to.isVector())
    return nullptr;
  if (const IntImm *x = intConst(a)) {
    int64_t v = x->value;
    if (to.isBool())
      return boolImm(v != 0);
    if (to.isInt())
      return IntImm::make(to, wrapInt(to.dtype, static_cast<uint64_t>(v)));
    // Integer to float: one rounding. Through f32 only where the value is exact in f32.
    if (to.dtype == DType::F64)
      return FloatImm::make(to, static_cast<double>(v));
    if (to.dtype == DType::F32)
      return FloatImm::make(to, static_cast<double>(static_cast<float>(v)));
    if (v >= -(int64_t{1} << 24) && v <= (int64_t{1} << 24))
      if (std::optional<double> r = roundFloat(static_cast<double>(v), DType::F32, to.dtype))
        return FloatImm::make(to, *r);
    return nullptr;
  }
  if (const FloatImm *x = floatConst(a)) {
    double v = x->value;
    if (to.isBool())
      return boolImm(v != 0); // NaN != 0.
    if (to.isInt())
      return IntImm::make(to, runtime::doubleToIntSaturating(v, to.dtype));
    if (std::optional<double> r = roundFloat(v, a->type.dtype, to.dtype))
      return FloatImm::make(to, *r);
  }
  return nullptr;
}

/// Folds the intrinsics whose results are exact or correctly rounded everywhere.
Expr foldCall(Intrinsic fn, const Expr &a) {
  if (const IntImm *x = intConst(a)) {
    auto v = static_cast<uint64_t>(x->value);
    if (fn == Intrinsic::Abs)
      return IntImm::make(a->type, wrapInt(a->type.dtype, x->value < 0 ? 0 - v : v));
    if (fn == Intrinsic::Relu)
      return IntImm::make(a->type, std::max<int64_t>(x->value, 0));
    return nullptr;
  }
  const FloatImm *x = floatConst(a);
  if (!x || (a->type.dtype != DType::F32 && a->type.dtype != DType::F64))
    return nullptr;
  double v = x->value;
  bool f32 = a->type.dtype == DType::F32;
  switch (fn) {
  case Intrinsic::Abs:
    return FloatImm::make(a->type, std::fabs(v));
  case Intrinsic::Relu:
    return FloatImm::make(a->type, ieeeMax(v, 0.0));
  case Intrinsic::Floor:
    return FloatImm::make(a->type, std::floor(v));
  case Intrinsic::Ceil:
    return FloatImm::make(a->type, std::ceil(v));
  case Intrinsic::Round:
    return FloatImm::make(a->type, std::nearbyint(v)); // Half to even in the default mode.
  case Intrinsic::Sqrt:
    return FloatImm::make(a->type, f32 ? static_cast<double>(std::sqrt(static_cast<float>(v)))
                                       : std::sqrt(v));
  default:
    return nullptr;
  }
}

// ---------------------------------------------------------------------------------------------
// Linear forms of integer arithmetic.

/// constant + sum(coefficient * term), coefficients wrapping like the type.
struct Linear {
  std::vector<std::pair<Expr, uint64_t>> terms;
  uint64_t constant = 0;

  void addTerm(const Expr &term, uint64_t coefficient) {
    for (auto &[t, c] : terms)
      if (structurallyEqual(t, term)) {
        c += coefficient;
        return;
      }
    terms.emplace_back(term, coefficient);
  }

  void add(const Expr &e, uint64_t scale) {
    if (const IntImm *imm = intConst(e)) {
      constant += scale * static_cast<uint64_t>(imm->value);
    } else if (const Binary *b = as<Binary>(e); b && b->op == BinaryOp::Add) {
      add(b->a, scale);
      add(b->b, scale);
    } else if (b && b->op == BinaryOp::Sub) {
      add(b->a, scale);
      add(b->b, 0 - scale);
    } else if (b && b->op == BinaryOp::Mul && intConst(b->b)) {
      add(b->a, scale * static_cast<uint64_t>(intConst(b->b)->value));
    } else if (b && b->op == BinaryOp::Mul && intConst(b->a)) {
      add(b->b, scale * static_cast<uint64_t>(intConst(b->a)->value));
    } else if (const Unary *u = as<Unary>(e); u && u->op == UnaryOp::Neg) {
      add(u->a, 0 - scale);
    } else {
      addTerm(e, scale);
    }
  }

  Expr build(Type t) const {
    // u8 coefficients read as i8 so that `x - 1` stays `x - 1` rather than `x + 255`.
    DType d = t.dtype == DType::U8 ? DType::I8 : t.dtype;
    auto constant = [&](int64_t v) { return IntImm::make(t, v); };
    auto scaled = [&](const Expr &term, int64_t c) {
      return c == 1 ? term : mul(term, constant(c));
    };
    Expr result;
    std::vector<std::pair<Expr, int64_t>> negative;
    for (const auto &[term, raw] : terms) {
      int64_t c = wrapInt(d, raw);
      if (c == 0)
        continue;
      if (c < 0 && c != intMin(d)) {
        negative.emplace_back(term, -c);
        continue;
      }
      Expr s = scaled(term, c);
      result = result ? ir::add(result, s) : s;
    }
    int64_t k = wrapInt(d, this->constant);
    if (!result && !negative.empty() && k != 0) { // `5 - i` rather than `-i + 5`.
      result = constant(k);
      k = 0;
    }
    for (const auto &[term, c] : negative) {
      Expr s = scaled(term, c);
      result = result ? sub(result, s) : Unary::make(UnaryOp::Neg, s);
    }
    if (!result)
      return constant(k);
    if (k > 0 || k == intMin(d))
      return ir::add(result, constant(k));
    if (k < 0)
      return sub(result, constant(-k));
    return result;
  }
};

/// The canonical form of integer `+ - *` and negation, or `e` itself if it is already canonical.
Expr canonicalizeLinear(const Expr &e) {
  Linear lin;
  lin.add(e, 1);
  Expr built = lin.build(e->type);
  return structurallyEqual(built, e) ? e : built;
}

bool isLinearOp(const Expr &e) {
  if (e->type.isVector() || !e->type.isInt())
    return false;
  if (const Binary *b = as<Binary>(e))
    return b->op == BinaryOp::Add || b->op == BinaryOp::Sub || b->op == BinaryOp::Mul;
  const Unary *u = as<Unary>(e);
  return u && u->op == UnaryOp::Neg;
}

// ---------------------------------------------------------------------------------------------

class Simplifier : public IRMutator {
protected:
  Expr visitUnary(const Unary *n, const Expr &self) override {
    Expr a = mutate(n->a);
    if (const IntImm *x = intConst(a)) {
      if (n->op == UnaryOp::Not)
        return boolImm(x->value == 0);
      return IntImm::make(a->type, wrapInt(a->type.dtype, 0 - static_cast<uint64_t>(x->value)));
    }
    if (const FloatImm *x = floatConst(a))
      return FloatImm::make(a->type, -x->value);
    if (const Unary *inner = as<Unary>(a); inner && inner->op == n->op)
      return inner->a; // --x and not not x.
    Expr e = a == n->a ? self : Unary::make(n->op, a);
    return isLinearOp(e) ? canonicalizeLinear(e) : e;
  }

  Expr visitBinary(const Binary *n, const Expr &self) override {
    Expr a = mutate(n->a), b = mutate(n->b);
    if (Expr folded = foldBinary(n->op, a, b))
      return folded;
    Expr e = a == n->a && b == n->b ? self : Binary::make(n->op, a, b);
    if (isLinearOp(e))
      return canonicalizeLinear(e);
    if (Expr identity = applyIdentity(n->op, a, b))
      return identity;
    return e;
  }

  Expr visitSelect(const Select *n, const Expr &self) override {
    Expr c = mutate(n->cond), a = mutate(n->a), b = mutate(n->b);
    if (const IntImm *cond = intConst(c))
      return cond->value ? a : b;
    if (structurallyEqual(a, b))
      return a;
    return c == n->cond && a == n->a && b == n->b ? self : Select::make(c, a, b);
  }

  Expr visitCast(const Cast *n, const Expr &self) override {
    Expr a = mutate(n->a);
    if (a->type == n->type)
      return a;
    if (Expr folded = foldCast(n->type, a))
      return folded;
    return a == n->a ? self : Cast::make(n->type, a);
  }

  Expr visitCall(const Call *n, const Expr &self) override {
    Expr e = IRMutator::visitCall(n, self);
    const Call *c = as<Call>(e);
    if (Expr folded = foldCall(c->fn, c->args[0]))
      return folded;
    return e;
  }

  Expr visitLoad(const Load *n, const Expr &self) override {
    Expr index = mutate(n->index), pred = mutate(n->predicate);
    if (const IntImm *p = intConst(pred)) {
      if (!p->value) // A load whose predicate is false reads nothing and yields 0.
        return n->type.isFloat() ? FloatImm::make(n->type, 0.0) : IntImm::make(n->type, 0);
      pred = nullptr;
    }
    return index == n->index && pred == n->predicate ? self : Load::make(n->buffer, index, pred);
  }

  Stmt visitFor(const For *n, const Stmt &self) override {
    Expr extent = mutate(n->extent);
    if (const IntImm *e = intConst(extent)) {
      if (e->value <= 0)
        return noop();
      // GPU loops keep their structure even with one iteration: the mapping depends on it.
      if (e->value == 1 && n->kind != ForKind::GpuBlock && n->kind != ForKind::GpuThread)
        return mutate(substitute(n->body, {{n->var, intImm(0)}}));
    }
    Stmt body = mutate(n->body);
    if (isNoop(body))
      return noop();
    return extent == n->extent && body == n->body ? self : For::make(n->var, extent, n->kind, body);
  }

  Stmt visitBlock(const Block *n, const Stmt &self) override {
    std::vector<Stmt> stmts;
    bool changed = false;
    for (const Stmt &s : n->stmts) {
      Stmt m = mutate(s);
      changed |= m != s;
      if (!isNoop(m))
        stmts.push_back(m);
    }
    return changed ? Block::make(std::move(stmts)) : self;
  }

  Stmt visitStore(const Store *n, const Stmt &self) override {
    Expr index = mutate(n->index), value = mutate(n->value), pred = mutate(n->predicate);
    if (const IntImm *p = intConst(pred)) {
      if (!p->value)
        return noop();
      pred = nullptr;
    }
    return index == n->index && value == n->value && pred == n->predicate
               ? self
               : Store::make(n->buffer, index, value, pred);
  }

  Stmt visitAllocate(const Allocate *n, const Stmt &self) override {
    Stmt body = mutate(n->body);
    if (isNoop(body))
      return noop();
    return body == n->body ? self : Allocate::make(n->buffer, n->scope, body);
  }

  Stmt visitLetStmt(const LetStmt *n, const Stmt &self) override {
    Expr value = mutate(n->value);
    Stmt body = mutate(n->body);
    if (isNoop(body))
      return noop();
    return value == n->value && body == n->body ? self : LetStmt::make(n->var, value, body);
  }

  Stmt visitIfThenElse(const IfThenElse *n, const Stmt &self) override {
    Expr cond = mutate(n->cond);
    if (const IntImm *c = intConst(cond)) {
      if (c->value)
        return mutate(n->thenCase);
      return n->elseCase ? mutate(n->elseCase) : noop();
    }
    Stmt thenCase = mutate(n->thenCase);
    Stmt elseCase = mutate(n->elseCase);
    if (elseCase && isNoop(elseCase))
      elseCase = nullptr;
    if (isNoop(thenCase) && !elseCase)
      return noop();
    if (isNoop(thenCase))
      return IfThenElse::make(Unary::make(UnaryOp::Not, cond), elseCase);
    return cond == n->cond && thenCase == n->thenCase && elseCase == n->elseCase
               ? self
               : IfThenElse::make(cond, thenCase, elseCase);
  }

private:
  /// Identities of operations with one constant operand (and a few more) that hold for every
  /// value, NaN and signed zeros included. Null when none applies.
  static Expr applyIdentity(BinaryOp op, const Expr &a, const Expr &b) {
    Type t = a->type;
    if (t.isVector())
      return nullptr;
    if (t.isBool()) {
      bool isAnd = op == BinaryOp::And, isOr = op == BinaryOp::Or;
      for (auto [x, y] : {std::pair{a, b}, std::pair{b, a}})
        if (const IntImm *c = intConst(x)) {
          if (isAnd)
            return c->value ? y : x;
          if (isOr)
            return c->value ? x : y;
        }
      if ((isAnd || isOr) && structurallyEqual(a, b))
        return a;
      return nullptr;
    }
    if (t.isInt()) {
      if (op == BinaryOp::FloorDiv && isIntConst(b, 1))
        return a;
      if (op == BinaryOp::Mod && (isIntConst(b, 1) || isIntConst(b, -1)))
        return IntImm::make(t, 0);
      if ((op == BinaryOp::Min || op == BinaryOp::Max) && structurallyEqual(a, b))
        return a;
      return nullptr;
    }
    // Floats: x * 1 = x, x / 1 = x, x - (+0) = x and x + (-0) = x exactly; x + 0 is not
    // (-0 + 0 = +0).
    if (op == BinaryOp::Mul && isFloatConst(b, 1.0))
      return a;
    if (op == BinaryOp::Mul && isFloatConst(a, 1.0))
      return b;
    if (op == BinaryOp::Div && isFloatConst(b, 1.0))
      return a;
    if (op == BinaryOp::Sub && isFloatConst(b, 0.0))
      return a;
    if (op == BinaryOp::Add && isFloatConst(b, -0.0))
      return a;
    if (op == BinaryOp::Add && isFloatConst(a, -0.0))
      return b;
    // x ** 2.0 is x * x: the square of an f32 or f64 is exact before its one rounding, which is
    // what a correctly rounded pow gives (LLVM rewrites scalar pow(x, 2.0) the same way); doing
    // it here spares vector code a call to a vector pow.
    if (op == BinaryOp::Pow && isFloatConst(b, 2.0))
      return Binary::make(BinaryOp::Mul, a, a);
    return nullptr;
  }
};

} // namespace

// Requires: well-typed IR of either level. Breaks: nothing.
// Keeps: the value of every expression bit for bit, and every store and load that can happen;
// statements that can do nothing (a loop of zero iterations, `if (false)`) are removed, and a
// loop of one iteration (not mapped to the GPU) is replaced by its body with the counter at 0.
Expr simplify(const Expr &e) { return Simplifier().mutate(e); }
Stmt simplify(const Stmt &s) { return Simplifier().mutate(s); }

} // namespace tdsl::passes
