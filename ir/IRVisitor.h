// Walking and rewriting IR. IRVisitor recurses into every child; IRMutator rebuilds a node only
// when one of its children changed, and otherwise returns the original node.
#pragma once

#include "ir/IR.h"

namespace tdsl::ir {

class IRVisitor {
public:
  virtual ~IRVisitor() = default;
  void visit(const Expr &e);
  void visit(const Stmt &s);

protected:
#define TDSL_EXPR_NODE(Name) virtual void visit##Name(const Name *node);
#define TDSL_STMT_NODE(Name) virtual void visit##Name(const Name *node);
#include "ir/IRNodes.def"
};

class IRMutator {
public:
  virtual ~IRMutator() = default;
  virtual Expr mutate(const Expr &e);
  virtual Stmt mutate(const Stmt &s);

protected:
#define TDSL_EXPR_NODE(Name) virtual Expr visit##Name(const Name *node, const Expr &self);
#define TDSL_STMT_NODE(Name) virtual Stmt visit##Name(const Name *node, const Stmt &self);
#include "ir/IRNodes.def"
};

/// Whether `e` (or `s`) reads any of `vars` (pointer identity).
bool usesAny(const Expr &e, const std::vector<Var> &vars);
bool usesAny(const Stmt &s, const std::vector<Var> &vars);
/// Whether `e` reads an index variable (a reduction extent that does is triangular: `k < j + 1`).
bool usesIndexVars(const Expr &e);

/// Replaces variables by expressions (pointer identity), e.g. to inline or re-index.
Expr substitute(const Expr &e, const std::vector<std::pair<Var, Expr>> &replacements);
Stmt substitute(const Stmt &s, const std::vector<std::pair<Var, Expr>> &replacements);

} // namespace tdsl::ir
