// The ranges of a CUDA kernel's index arithmetic (see IndexRanges.h).
#include "codegen/cuda/IndexRanges.h"

#include <algorithm>

namespace tdsl::codegen {

using namespace ir;

bool isPositiveConstant(const Expr &e) {
  const IntImm *i = as<IntImm>(e);
  return i && i->value > 0;
}

void IndexRanges::clear() {
  indexVars_.clear();
  nonNegative_.clear();
  bounds_.clear();
  indexMemo_.clear();
}

void IndexRanges::addCounter(const Var &var, std::optional<int64_t> bound) {
  indexVars_.insert(var.get());
  nonNegative_.insert(var.get());
  if (bound)
    bounds_[var.get()] = *bound;
}

void IndexRanges::addLet(const Var &var, const Expr &value) {
  if (!isIndexArith(value))
    return;
  indexVars_.insert(var.get());
  if (isNonNegative(value)) {
    nonNegative_.insert(var.get());
    if (std::optional<int64_t> b = bound(value))
      bounds_[var.get()] = *b;
  }
}

bool IndexRanges::isIndexArith(const Expr &e) {
  if (e->type != Type::i64())
    return false;
  auto it = indexMemo_.find(e.get());
  if (it != indexMemo_.end())
    return it->second;
  bool result = false;
  if (const IntImm *c = as<IntImm>(e)) {
    // Index arithmetic is printed with C's signed operators, whose overflow the compiler may
    // assume away: a constant as large as 2^32 (a subscript like 2^63 - 1) could overflow, so
    // its arithmetic wraps explicitly instead.
    result = c->value > -(int64_t(1) << 32) && c->value < (int64_t(1) << 32);
  } else if (const VarRef *v = as<VarRef>(e)) {
    result = indexVars_.count(v->var.get()) > 0;
  } else if (const Binary *b = as<Binary>(e)) {
    result = (b->op == BinaryOp::Add || b->op == BinaryOp::Sub || b->op == BinaryOp::Mul ||
              b->op == BinaryOp::FloorDiv || b->op == BinaryOp::Mod || b->op == BinaryOp::Min ||
              b->op == BinaryOp::Max) &&
             isIndexArith(b->a) && isIndexArith(b->b);
  } else if (const Unary *u = as<Unary>(e)) {
    result = u->op == UnaryOp::Neg && isIndexArith(u->a);
  } else if (const Select *s = as<Select>(e)) {
    result = isIndexArith(s->a) && isIndexArith(s->b);
  }
  indexMemo_[e.get()] = result;
  return result;
}

bool IndexRanges::isNonNegative(const Expr &e) const {
  if (const IntImm *i = as<IntImm>(e))
    return i->value >= 0;
  if (const VarRef *v = as<VarRef>(e))
    return nonNegative_.count(v->var.get()) > 0;
  if (const Binary *b = as<Binary>(e)) {
    switch (b->op) {
    case BinaryOp::Add:
    case BinaryOp::Mul:
    case BinaryOp::FloorDiv:
    case BinaryOp::Min:
      return b->type.isInt() && isNonNegative(b->a) && isNonNegative(b->b);
    case BinaryOp::Mod:
      return b->type.isInt() && isNonNegative(b->b);
    case BinaryOp::Max:
      return b->type.isInt() && (isNonNegative(b->a) || isNonNegative(b->b));
    default:
      return false;
    }
  }
  if (const Select *s = as<Select>(e))
    return isNonNegative(s->a) && isNonNegative(s->b);
  if (const Cast *c = as<Cast>(e))
    return c->type.isInt() && c->a->type.isBool();
  return false;
}

std::optional<int64_t> IndexRanges::bound(const Expr &e) const {
  constexpr int64_t kCap = int64_t(1) << 40; // Bounds past it are not needed.
  if (const IntImm *i = as<IntImm>(e))
    return i->value >= 0 && i->value < kCap ? std::optional<int64_t>(i->value + 1) : std::nullopt;
  if (const VarRef *v = as<VarRef>(e)) {
    auto it = bounds_.find(v->var.get());
    return it == bounds_.end() ? std::nullopt : std::optional<int64_t>(it->second);
  }
  const Binary *b = as<Binary>(e);
  if (!b || !b->type.isInt())
    return std::nullopt;
  if (b->op == BinaryOp::Mod && isNonNegative(b->a) && isPositiveConstant(b->b))
    return as<IntImm>(b->b)->value;
  std::optional<int64_t> x = bound(b->a), y = bound(b->b);
  if (!x || !y)
    return std::nullopt;
  int64_t r = 0;
  switch (b->op) {
  case BinaryOp::Add:
    r = *x + *y;
    break;
  case BinaryOp::Mul:
    if (*y > 0 && *x > kCap / *y)
      return std::nullopt;
    r = *x * *y;
    break;
  case BinaryOp::FloorDiv:
    if (!isPositiveConstant(b->b))
      return std::nullopt;
    r = *x;
    break;
  case BinaryOp::Min:
  case BinaryOp::Max:
    r = std::max(*x, *y);
    break;
  default:
    return std::nullopt;
  }
  return r < kCap ? std::optional<int64_t>(r) : std::nullopt;
}

} // namespace tdsl::codegen
