#include "ir/IRVisitor.h"

#include "support/Check.h"

namespace tdsl::ir {

void IRVisitor::visit(const Expr &e) {
  if (!e)
    return;
  switch (e->kind) {
#define TDSL_EXPR_NODE(Name)                                                                       \
  case ExprKind::Name:                                                                             \
    return visit##Name(static_cast<const Name *>(e.get()));
#include "ir/IRNodes.def"
  }
}

void IRVisitor::visit(const Stmt &s) {
  if (!s)
    return;
  switch (s->kind) {
#define TDSL_STMT_NODE(Name)                                                                       \
  case StmtKind::Name:                                                                             \
    return visit##Name(static_cast<const Name *>(s.get()));
#include "ir/IRNodes.def"
  }
}

void IRVisitor::visitIntImm(const IntImm *) {}
void IRVisitor::visitFloatImm(const FloatImm *) {}
void IRVisitor::visitVarRef(const VarRef *) {}
void IRVisitor::visitUnary(const Unary *n) { visit(n->a); }
void IRVisitor::visitBinary(const Binary *n) {
  visit(n->a);
  visit(n->b);
}
void IRVisitor::visitCall(const Call *n) {
  for (const Expr &a : n->args)
    visit(a);
}
void IRVisitor::visitSelect(const Select *n) {
  visit(n->cond);
  visit(n->a);
  visit(n->b);
}
void IRVisitor::visitCast(const Cast *n) { visit(n->a); }
void IRVisitor::visitAccess(const Access *n) {
  for (const Expr &i : n->indices)
    visit(i);
  visit(n->fallback);
}
void IRVisitor::visitReduce(const Reduce *n) {
  for (const IterVar &iv : n->axes)
    visit(iv.extent);
  visit(n->body);
}
void IRVisitor::visitLoad(const Load *n) {
  visit(n->index);
  visit(n->predicate);
}
void IRVisitor::visitRamp(const Ramp *n) {
  visit(n->base);
  visit(n->stride);
}
void IRVisitor::visitBroadcast(const Broadcast *n) { visit(n->value); }
void IRVisitor::visitVectorReduce(const VectorReduce *n) { visit(n->value); }
void IRVisitor::visitShuffle(const Shuffle *n) {
  visit(n->a);
  visit(n->b);
}
void IRVisitor::visitWarpShuffle(const WarpShuffle *n) { visit(n->value); }
void IRVisitor::visitBufferAligned(const BufferAligned *) {}
void IRVisitor::visitFor(const For *n) {
  visit(n->extent);
  visit(n->body);
}
void IRVisitor::visitBlock(const Block *n) {
  for (const Stmt &s : n->stmts)
    visit(s);
}
void IRVisitor::visitStore(const Store *n) {
  visit(n->index);
  visit(n->value);
  visit(n->predicate);
}
void IRVisitor::visitAllocate(const Allocate *n) {
  for (const Expr &d : n->buffer->shape)
    visit(d);
  visit(n->body);
}
void IRVisitor::visitLetStmt(const LetStmt *n) {
  visit(n->value);
  visit(n->body);
}
void IRVisitor::visitIfThenElse(const IfThenElse *n) {
  visit(n->cond);
  visit(n->thenCase);
  visit(n->elseCase);
}
void IRVisitor::visitBarrier(const Barrier *) {}
void IRVisitor::visitGpuIntrinsic(const GpuIntrinsic *n) {
  for (const Expr &e : n->offsets)
    visit(e);
}
void IRVisitor::visitGpuLaunch(const GpuLaunch *n) {
  visit(n->body);
  if (n->condition)
    visit(n->condition);
}

Expr IRMutator::mutate(const Expr &e) {
  if (!e)
    return e;
  switch (e->kind) {
#define TDSL_EXPR_NODE(Name)                                                                       \
  case ExprKind::Name:                                                                             \
    return visit##Name(static_cast<const Name *>(e.get()), e);
#include "ir/IRNodes.def"
  }
  TDSL_UNREACHABLE("unknown expression kind");
}

Stmt IRMutator::mutate(const Stmt &s) {
  if (!s)
    return s;
  switch (s->kind) {
#define TDSL_STMT_NODE(Name)                                                                       \
  case StmtKind::Name:                                                                             \
    return visit##Name(static_cast<const Name *>(s.get()), s);
#include "ir/IRNodes.def"
  }
  TDSL_UNREACHABLE("unknown statement kind");
}

Expr IRMutator::visitIntImm(const IntImm *, const Expr &self) { return self; }
Expr IRMutator::visitFloatImm(const FloatImm *, const Expr &self) { return self; }
Expr IRMutator::visitVarRef(const VarRef *, const Expr &self) { return self; }

Expr IRMutator::visitUnary(const Unary *n, const Expr &self) {
  Expr a = mutate(n->a);
  return a == n->a ? self : Unary::make(n->op, a);
}
Expr IRMutator::visitBinary(const Binary *n, const Expr &self) {
  Expr a = mutate(n->a), b = mutate(n->b);
  return a == n->a && b == n->b ? self : Binary::make(n->op, a, b);
}
Expr IRMutator::visitCall(const Call *n, const Expr &self) {
  std::vector<Expr> args;
  bool changed = false;
  for (const Expr &a : n->args) {
    args.push_back(mutate(a));
    changed |= args.back() != a;
  }
  return changed ? Call::make(n->fn, std::move(args)) : self;
}
Expr IRMutator::visitSelect(const Select *n, const Expr &self) {
  Expr c = mutate(n->cond), a = mutate(n->a), b = mutate(n->b);
  return c == n->cond && a == n->a && b == n->b ? self : Select::make(c, a, b);
}
Expr IRMutator::visitCast(const Cast *n, const Expr &self) {
  Expr a = mutate(n->a);
  return a == n->a ? self : Cast::make(n->type, a);
}
Expr IRMutator::visitAccess(const Access *n, const Expr &self) {
  std::vector<Expr> indices;
  bool changed = false;
  for (const Expr &i : n->indices) {
    indices.push_back(mutate(i));
    changed |= indices.back() != i;
  }
  Expr fallback = mutate(n->fallback);
  changed |= fallback != n->fallback;
  return changed ? Access::make(n->buffer, std::move(indices), fallback) : self;
}
Expr IRMutator::visitReduce(const Reduce *n, const Expr &self) {
  std::vector<IterVar> axes;
  bool changed = false;
  for (const IterVar &iv : n->axes) {
    axes.push_back(IterVar{iv.var, mutate(iv.extent)});
    changed |= axes.back().extent != iv.extent;
  }
  Expr body = mutate(n->body);
  changed |= body != n->body;
  return changed ? Reduce::make(n->op, std::move(axes), body) : self;
}
Expr IRMutator::visitLoad(const Load *n, const Expr &self) {
  Expr index = mutate(n->index), pred = mutate(n->predicate);
  return index == n->index && pred == n->predicate ? self : Load::make(n->buffer, index, pred);
}
Expr IRMutator::visitRamp(const Ramp *n, const Expr &self) {
  Expr base = mutate(n->base), stride = mutate(n->stride);
  return base == n->base && stride == n->stride ? self : Ramp::make(base, stride, n->lanes);
}
Expr IRMutator::visitBroadcast(const Broadcast *n, const Expr &self) {
  Expr v = mutate(n->value);
  return v == n->value ? self : Broadcast::make(v, n->lanes);
}
Expr IRMutator::visitVectorReduce(const VectorReduce *n, const Expr &self) {
  Expr v = mutate(n->value);
  return v == n->value ? self : VectorReduce::make(n->op, v);
}
Expr IRMutator::visitShuffle(const Shuffle *n, const Expr &self) {
  Expr a = mutate(n->a), b = mutate(n->b);
  return a == n->a && b == n->b ? self : Shuffle::make(a, b, n->indices);
}
Expr IRMutator::visitWarpShuffle(const WarpShuffle *n, const Expr &self) {
  Expr value = mutate(n->value);
  return value == n->value ? self : WarpShuffle::make(value, n->xorMask);
}
Expr IRMutator::visitBufferAligned(const BufferAligned *, const Expr &self) { return self; }

Stmt IRMutator::visitFor(const For *n, const Stmt &self) {
  Expr extent = mutate(n->extent);
  Stmt body = mutate(n->body);
  return extent == n->extent && body == n->body ? self : For::make(n->var, extent, n->kind, body);
}
Stmt IRMutator::visitBlock(const Block *n, const Stmt &self) {
  std::vector<Stmt> stmts;
  bool changed = false;
  for (const Stmt &s : n->stmts) {
    stmts.push_back(mutate(s));
    changed |= stmts.back() != s;
  }
  return changed ? Block::make(std::move(stmts)) : self;
}
Stmt IRMutator::visitStore(const Store *n, const Stmt &self) {
  Expr index = mutate(n->index), value = mutate(n->value), pred = mutate(n->predicate);
  return index == n->index && value == n->value && pred == n->predicate
             ? self
             : Store::make(n->buffer, index, value, pred);
}
Stmt IRMutator::visitAllocate(const Allocate *n, const Stmt &self) {
  Stmt body = mutate(n->body);
  return body == n->body ? self : Allocate::make(n->buffer, n->scope, body);
}
Stmt IRMutator::visitLetStmt(const LetStmt *n, const Stmt &self) {
  Expr value = mutate(n->value);
  Stmt body = mutate(n->body);
  return value == n->value && body == n->body ? self : LetStmt::make(n->var, value, body);
}
Stmt IRMutator::visitIfThenElse(const IfThenElse *n, const Stmt &self) {
  Expr cond = mutate(n->cond);
  Stmt thenCase = mutate(n->thenCase), elseCase = mutate(n->elseCase);
  return cond == n->cond && thenCase == n->thenCase && elseCase == n->elseCase
             ? self
             : IfThenElse::make(cond, thenCase, elseCase);
}
Stmt IRMutator::visitBarrier(const Barrier *, const Stmt &self) { return self; }
Stmt IRMutator::visitGpuIntrinsic(const GpuIntrinsic *n, const Stmt &self) {
  std::vector<Expr> offsets;
  bool changed = false;
  for (const Expr &e : n->offsets) {
    offsets.push_back(mutate(e));
    changed |= offsets.back() != e;
  }
  return changed ? GpuIntrinsic::make(n->op, n->buffers, std::move(offsets), n->immediate) : self;
}
Stmt IRMutator::visitGpuLaunch(const GpuLaunch *n, const Stmt &self) {
  Stmt body = mutate(n->body);
  Expr condition = mutate(n->condition);
  return body == n->body && condition == n->condition
             ? self
             : GpuLaunch::make(n->name, n->schedule, n->details, body, condition, n->blocksPerSm);
}

namespace {
class Substituter : public IRMutator {
public:
  explicit Substituter(const std::vector<std::pair<Var, Expr>> &r) : replacements(r) {}

protected:
  Expr visitVarRef(const VarRef *n, const Expr &self) override {
    for (const auto &[var, value] : replacements)
      if (var == n->var)
        return value;
    return self;
  }

private:
  const std::vector<std::pair<Var, Expr>> &replacements;
};
} // namespace

namespace {
class VarUseFinder : public IRVisitor {
public:
  explicit VarUseFinder(const std::vector<Var> &vars) : vars(vars) {}
  bool found = false;

protected:
  void visitVarRef(const VarRef *n) override {
    for (const Var &v : vars)
      found |= v == n->var;
  }

private:
  const std::vector<Var> &vars;
};
} // namespace

bool usesAny(const Expr &e, const std::vector<Var> &vars) {
  VarUseFinder finder(vars);
  finder.visit(e);
  return finder.found;
}
bool usesAny(const Stmt &s, const std::vector<Var> &vars) {
  VarUseFinder finder(vars);
  finder.visit(s);
  return finder.found;
}

namespace {
class IndexVarFinder : public IRVisitor {
public:
  bool found = false;

protected:
  void visitVarRef(const VarRef *n) override { found |= n->var->kind == VarKind::Index; }
};
} // namespace

bool usesIndexVars(const Expr &e) {
  IndexVarFinder f;
  f.visit(e);
  return f.found;
}

Expr substitute(const Expr &e, const std::vector<std::pair<Var, Expr>> &replacements) {
  return Substituter(replacements).mutate(e);
}
Stmt substitute(const Stmt &s, const std::vector<std::pair<Var, Expr>> &replacements) {
  return Substituter(replacements).mutate(s);
}

} // namespace tdsl::ir
