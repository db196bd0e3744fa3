// What the CUDA printer knows of the ranges of a kernel's i64 index arithmetic: which variables
// hold it (symbols, loop counters, lets of it), which are non-negative, and which lie below a
// constant bound (threads, loops of constant extent, lets of them). The printer uses it to print
// index arithmetic with plain C operators, and shared memory offsets in int arithmetic.
#pragma once

#include "ir/IR.h"

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <unordered_set>

namespace tdsl::codegen {

/// Whether `e` is an integer constant > 0.
bool isPositiveConstant(const ir::Expr &e);

class IndexRanges {
public:
  /// Forgets every variable (a new kernel).
  void clear();

  /// `var` holds index arithmetic, non-negative, below `bound` when one is given.
  void addCounter(const ir::Var &var, std::optional<int64_t> bound = std::nullopt);
  /// `var` holds `value`: index arithmetic where `value` is, with its range.
  void addLet(const ir::Var &var, const ir::Expr &value);

  /// i64 arithmetic over index variables and constants (+ - * // % min max, negation, select):
  /// it stays far from overflow (it computes positions inside tensors).
  bool isIndexArith(const ir::Expr &e);
  bool isNonNegative(const ir::Expr &e) const;
  /// An exclusive bound on the non-negative index `e` when one is known (bounded variables,
  /// constants, + * // % of them; `x % c` of any non-negative x), else nullopt.
  std::optional<int64_t> bound(const ir::Expr &e) const;

private:
  std::unordered_set<const ir::VarNode *> indexVars_, nonNegative_;
  std::unordered_map<const ir::VarNode *, int64_t> bounds_;
  std::unordered_map<const ir::ExprNode *, bool> indexMemo_;
};

} // namespace tdsl::codegen
