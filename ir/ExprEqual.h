// Structural equality of expressions, used by normalize (to compute identical reductions once),
// simplify (to merge equal terms), other passes and the LLVM code generator (to recognize a
// loop's tail). Header-only: it is small.
#pragma once

#include "ir/IR.h"

#include <bit>
#include <cstdint>
#include <utility>
#include <vector>

namespace tdsl::ir {

/// Compares two expressions node by node. Variables compare by identity, except pairs recorded
/// in `renaming` (a variable of the left side and the one it stands for on the right); the axes of
/// two Reduce nodes being compared are paired while their bodies are compared, so reductions equal
/// up to the names of their own axes are equal. Float constants compare by their bits.
class ExprEqual {
public:
  std::vector<std::pair<Var, Var>> renaming;

  bool operator()(const Expr &a, const Expr &b) { return equal(a, b); }

  bool equal(const Expr &a, const Expr &b) {
    if (a == b && renaming.empty())
      return true;
    if (!a || !b)
      return !a && !b;
    if (a->kind != b->kind || a->type != b->type)
      return false;
    switch (a->kind) {
    case ExprKind::IntImm:
      return a->as<IntImm>()->value == b->as<IntImm>()->value;
    case ExprKind::FloatImm:
      return std::bit_cast<uint64_t>(a->as<FloatImm>()->value) ==
             std::bit_cast<uint64_t>(b->as<FloatImm>()->value);
    case ExprKind::VarRef:
      return sameVar(a->as<VarRef>()->var, b->as<VarRef>()->var);
    case ExprKind::Unary: {
      const Unary *x = a->as<Unary>(), *y = b->as<Unary>();
      return x->op == y->op && equal(x->a, y->a);
    }
    case ExprKind::Binary: {
      const Binary *x = a->as<Binary>(), *y = b->as<Binary>();
      return x->op == y->op && equal(x->a, y->a) && equal(x->b, y->b);
    }
    case ExprKind::Call: {
      const Call *x = a->as<Call>(), *y = b->as<Call>();
      return x->fn == y->fn && equalAll(x->args, y->args);
    }
    case ExprKind::Select: {
      const Select *x = a->as<Select>(), *y = b->as<Select>();
      return equal(x->cond, y->cond) && equal(x->a, y->a) && equal(x->b, y->b);
    }
    case ExprKind::Cast:
      return equal(a->as<Cast>()->a, b->as<Cast>()->a);
    case ExprKind::Access: {
      const Access *x = a->as<Access>(), *y = b->as<Access>();
      return x->buffer == y->buffer && equalAll(x->indices, y->indices) &&
             equal(x->fallback, y->fallback);
    }
    case ExprKind::Reduce: {
      const Reduce *x = a->as<Reduce>(), *y = b->as<Reduce>();
      if (x->op != y->op || x->axes.size() != y->axes.size())
        return false;
      for (size_t k = 0; k < x->axes.size(); ++k)
        if (!equal(x->axes[k].extent, y->axes[k].extent))
          return false;
      size_t mark = renaming.size();
      for (size_t k = 0; k < x->axes.size(); ++k)
        renaming.emplace_back(x->axes[k].var, y->axes[k].var);
      bool same = equal(x->body, y->body);
      renaming.resize(mark);
      return same;
    }
    case ExprKind::Load: {
      const Load *x = a->as<Load>(), *y = b->as<Load>();
      return x->buffer == y->buffer && equal(x->index, y->index) &&
             equal(x->predicate, y->predicate);
    }
    case ExprKind::Ramp: {
      const Ramp *x = a->as<Ramp>(), *y = b->as<Ramp>();
      return x->lanes == y->lanes && equal(x->base, y->base) && equal(x->stride, y->stride);
    }
    case ExprKind::Broadcast: {
      const Broadcast *x = a->as<Broadcast>(), *y = b->as<Broadcast>();
      return x->lanes == y->lanes && equal(x->value, y->value);
    }
    case ExprKind::VectorReduce: {
      const VectorReduce *x = a->as<VectorReduce>(), *y = b->as<VectorReduce>();
      return x->op == y->op && equal(x->value, y->value);
    }
    case ExprKind::Shuffle: {
      const Shuffle *x = a->as<Shuffle>(), *y = b->as<Shuffle>();
      return x->indices == y->indices && equal(x->a, y->a) && equal(x->b, y->b);
    }
    case ExprKind::WarpShuffle: {
      const WarpShuffle *x = a->as<WarpShuffle>(), *y = b->as<WarpShuffle>();
      return x->xorMask == y->xorMask && equal(x->value, y->value);
    }
    case ExprKind::BufferAligned: {
      const BufferAligned *x = a->as<BufferAligned>(), *y = b->as<BufferAligned>();
      return x->buffer == y->buffer && x->bytes == y->bytes;
    }
    }
    return false;
  }

private:
  bool sameVar(const Var &a, const Var &b) const {
    // The innermost pairing wins: search from the back.
    for (auto it = renaming.rbegin(); it != renaming.rend(); ++it)
      if (it->first == a || it->second == b)
        return it->first == a && it->second == b;
    return a == b;
  }

  bool equalAll(const std::vector<Expr> &a, const std::vector<Expr> &b) {
    if (a.size() != b.size())
      return false;
    for (size_t k = 0; k < a.size(); ++k)
      if (!equal(a[k], b[k]))
        return false;
    return true;
  }
};

/// Structural equality with variables compared by identity.
inline bool structurallyEqual(const Expr &a, const Expr &b) { return ExprEqual{}(a, b); }

} // namespace tdsl::ir
