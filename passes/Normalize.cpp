// normalize: hoists reductions out of expressions into definitions of their own, so that the loop
// nest builder only ever sees a definition that is elementwise or one whole reduction.
//
// `y[i, j] = x[i, j] / sum(x[i, k] for k)` becomes
//     y.sum0[i] = sum(x[i, k] for k)
//     y[i, j]   = x[i, j] / y.sum0[i]
// The hoisted definition's domain is the reduction's free index variables, in scope order: the
// enclosing definition's indices, then the axes of enclosing reductions from the outside in.
// Reductions are hoisted innermost first, so an inner reduction that uses an outer one's axis is
// computed once per value of that axis (the outer reduction then reads it like any tensor).
// Within one definition, a reduction structurally equal to one hoisted before (up to the names of
// its own axes and of the hoisted domain) reuses it: `x / sum(x) * sum(x)` sums once.
#include "ir/ExprEqual.h"
#include "ir/IRPrinter.h"
#include "ir/IRVisitor.h"
#include "passes/Pipeline.h"
#include "support/Check.h"

#include <map>
#include <string>

namespace tdsl::passes {
namespace {

using namespace ir;

/// The index variables an expression uses, each once, in the order first met.
class IndexVarCollector : public IRVisitor {
public:
  std::vector<Var> vars;

protected:
  void visitVarRef(const VarRef *n) override {
    if (n->var->kind != VarKind::Index)
      return;
    for (const Var &v : vars)
      if (v == n->var)
        return;
    vars.push_back(n->var);
  }
};

/// Rewrites one definition's value, appending the hoisted definitions to `hoisted` in the order
/// they must run.
class ReductionHoister : public IRMutator {
public:
  ReductionHoister(const Definition &def, std::vector<Definition> &hoisted)
      : def(def), hoisted(hoisted), scope(def.indices) {}

  /// The value of the definition with every reduction hoisted, except a top-level one (or one
  /// under a single top-level Cast, the rounding into f16/bf16 storage) which stays in place with
  /// only its body rewritten.
  Expr rewriteValue(const Expr &value) {
    if (const Reduce *r = value->as<Reduce>())
      return rewriteReduceBody(r, value);
    if (const Cast *c = value->as<Cast>())
      if (const Reduce *r = c->a->as<Reduce>()) {
        Expr inner = rewriteReduceBody(r, c->a);
        return inner == c->a ? value : Cast::make(c->type, inner);
      }
    return mutate(value);
  }

protected:
  Expr visitReduce(const Reduce *n, const Expr &self) override {
    return hoist(rewriteReduceBody(n, self));
  }

private:
  const Definition &def;
  std::vector<Definition> &hoisted;
  /// Index variables bound around the current point, outermost first.
  std::vector<IterVar> scope;
  const size_t firstOwnHoisted = hoisted.size();
  std::map<ReduceOp, int> counters;

  Expr rewriteReduceBody(const Reduce *n, const Expr &self) {
    size_t mark = scope.size();
    scope.insert(scope.end(), n->axes.begin(), n->axes.end());
    Expr body = mutate(n->body);
    scope.resize(mark);
    return body == n->body ? self : Reduce::make(n->op, n->axes, body);
  }

  /// Moves reduction `e` into a definition of its own and returns the access that replaces it.
  Expr hoist(const Expr &e) {
    const Reduce *r = e->as<Reduce>();
    IndexVarCollector used;
    used.visit(e);
    // The free variables in scope order, each given a fresh variable for the new domain.
    std::vector<IterVar> domain;
    std::vector<Expr> useIndices;
    std::vector<std::pair<Var, Expr>> renames;
    for (const IterVar &iv : scope) {
      bool isUsed = false;
      for (const Var &v : used.vars)
        isUsed |= v == iv.var;
      if (!isUsed)
        continue;
      Var fresh = makeVar(iv.var->name, iv.var->type, VarKind::Index);
      domain.push_back(IterVar{fresh, substitute(iv.extent, renames)});
      useIndices.push_back(ir::ref(iv.var));
      renames.emplace_back(iv.var, ir::ref(fresh));
    }
    for (const Var &v : used.vars) {
      bool inScope = false;
      for (const IterVar &iv : scope)
        inScope |= v == iv.var;
      for (const IterVar &axis : r->axes)
        inScope |= v == axis.var;
      TDSL_CHECK(inScope) << "index variable " << v->name << " used outside its domain in "
                          << def.target->name;
    }
    Expr value = substitute(e, renames);

    // An equal reduction hoisted before from this definition is reused.
    for (size_t k = firstOwnHoisted; k < hoisted.size(); ++k)
      if (sameDefinition(hoisted[k], domain, value))
        return Access::make(hoisted[k].target, std::move(useIndices));

    std::vector<Expr> shape;
    for (const IterVar &iv : domain)
      shape.push_back(iv.extent);
    std::string name =
        def.target->name + "." + std::string(reduceName(r->op)) + std::to_string(counters[r->op]++);
    Buffer buffer = makeBuffer(std::move(name), r->type.dtype, std::move(shape),
                               BufferRole::Intermediate, def.target->span);
    hoisted.push_back(Definition{buffer, std::move(domain), value, def.span});
    return Access::make(buffer, std::move(useIndices));
  }

  static bool sameDefinition(const Definition &d, const std::vector<IterVar> &domain,
                             const Expr &value) {
    if (d.indices.size() != domain.size())
      return false;
    ExprEqual eq;
    for (size_t k = 0; k < domain.size(); ++k)
      if (!eq(d.indices[k].extent, domain[k].extent))
        return false;
    for (size_t k = 0; k < domain.size(); ++k)
      eq.renaming.emplace_back(d.indices[k].var, domain[k].var);
    return eq(d.value, value);
  }
};

} // namespace

// Requires: a verified tensor-level kernel.
// Breaks: nothing. Keeps: the kernel's meaning, its inputs, outputs and symbols, the order of its
// definitions (hoisted ones are inserted right before their user), and every reduction-free
// definition unchanged.
// Gives: each definition's value is reduction-free, or one Reduce (possibly under one Cast) whose
// body is reduction-free.
Kernel normalize(const Kernel &kernel) {
  Kernel result = kernel;
  result.defs.clear();
  for (const Definition &def : kernel.defs) {
    std::vector<Definition> hoisted;
    ReductionHoister hoister(def, hoisted);
    Expr value = hoister.rewriteValue(def.value);
    for (Definition &h : hoisted)
      result.defs.push_back(std::move(h));
    Definition rewritten = def;
    rewritten.value = value;
    result.defs.push_back(std::move(rewritten));
  }
  return result;
}

} // namespace tdsl::passes
