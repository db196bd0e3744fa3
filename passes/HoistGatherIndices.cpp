#include "passes/HoistGatherIndices.h"

#include "ir/ExprEqual.h"
#include "ir/IRVisitor.h"

namespace tdsl::passes {
namespace {

using namespace ir;

/// The variables that loops and lets bind inside a statement.
class BoundInside : public IRVisitor {
public:
  std::vector<Var> vars;

protected:
  void visitFor(const For *n) override {
    vars.push_back(n->var);
    IRVisitor::visitFor(n);
  }
  void visitLetStmt(const LetStmt *n) override {
    vars.push_back(n->var);
    IRVisitor::visitLetStmt(n);
  }
};

/// The index reads that may move out of a loop (see hoistGatherIndices), each once.
class IndexReads : public IRVisitor {
public:
  explicit IndexReads(std::vector<Var> bound) : bound(std::move(bound)) {}
  std::vector<Expr> found;

protected:
  void visitLoad(const Load *n) override {
    if (depth > 0 && !n->predicate && n->type.lanes == 1 && n->buffer->role == BufferRole::Input &&
        !usesAny(n->index, bound)) {
      Expr read = Load::make(n->buffer, n->index);
      for (const Expr &f : found)
        if (structurallyEqual(f, read))
          return;
      found.push_back(read);
      return;
    }
    ++depth;
    visit(n->index);
    --depth;
    visit(n->predicate);
  }

private:
  std::vector<Var> bound;
  int depth = 0; // Inside the index of a load.
};

/// Replaces every expression structurally equal to `from` by `to`.
class ReplaceRead : public IRMutator {
public:
  ReplaceRead(Expr from, Expr to) : from(std::move(from)), to(std::move(to)) {}
  Expr mutate(const Expr &e) override {
    if (e && structurallyEqual(e, from))
      return to;
    return IRMutator::mutate(e);
  }
  using IRMutator::mutate;

private:
  Expr from, to;
};

class Hoist : public IRMutator {
protected:
  Stmt visitFor(const For *n, const Stmt &self) override {
    Stmt body = mutate(n->body);
    Stmt loop = body == n->body ? self : For::make(n->var, n->extent, n->kind, body);
    if (n->kind != ForKind::Serial)
      return loop;
    BoundInside inside;
    inside.visit(body);
    inside.vars.push_back(n->var);
    IndexReads reads(inside.vars);
    reads.visit(body);
    if (reads.found.empty())
      return loop;
    std::vector<std::pair<Var, Expr>> lets;
    for (const Expr &read : reads.found) {
      const auto *load = read->as<Load>();
      Var v = makeVar(load->buffer->name + ".index", read->type, VarKind::Let);
      body = ReplaceRead(read, ref(v)).mutate(body);
      lets.emplace_back(v, Load::make(load->buffer, load->index,
                                      Binary::make(BinaryOp::Lt, intImm(0), n->extent)));
    }
    loop = For::make(n->var, n->extent, n->kind, body);
    for (size_t k = lets.size(); k-- > 0;)
      loop = LetStmt::make(lets[k].first, lets[k].second, loop);
    return loop;
  }
};

} // namespace

Stmt hoistGatherIndices(const Stmt &s) { return Hoist().mutate(s); }

} // namespace tdsl::passes
