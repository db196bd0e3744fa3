// transposeInRegisters (see Transpose.h).
//
//   for j in [0, 16) { y[ramp(j * N + i0, 1, 16)] = x[ramp(i0 * M + j, M, 16)] }
// becomes
//   let x.row0 = x[ramp(i0 * M, 1, 16)] ... let x.row15 = x[ramp(i0 * M + 15 * M, 1, 16)]
//   four rounds of 16 shuffles, the last giving x.col0 ... x.col15
//   y[ramp(i0, 1, 16)] = x.col0; ...; y[ramp(15 * N + i0, 1, 16)] = x.col15
#include "passes/Transpose.h"

#include "ir/IRVisitor.h"
#include "passes/ExprEqual.h"
#include "passes/Pipeline.h"

#include <bit>

namespace tdsl::passes {
namespace {

using namespace ir;

/// The unconditional reads of a loop body: not below an if, a select, a nested loop or an
/// allocation, so the loop evaluates each at every step.
class UnconditionalLoads : public IRVisitor {
public:
  std::vector<const Load *> loads;

protected:
  void visitLoad(const Load *n) override {
    loads.push_back(n);
    IRVisitor::visitLoad(n);
  }
  void visitSelect(const Select *n) override { visit(n->cond); }
  void visitIfThenElse(const IfThenElse *n) override { visit(n->cond); }
  void visitFor(const For *) override {}
  void visitAllocate(const Allocate *) override {}
};

/// A read `ramp(base, stride, W)` whose base advances by one element per step of `c`.
bool walksAcross(const Load *load, const Var &c, int width) {
  const Ramp *ramp = as<Ramp>(load->index);
  if (load->predicate || !ramp || ramp->lanes != width || usesAny(ramp->stride, {c}))
    return false;
  if (const IntImm *stride = as<IntImm>(ramp->stride); stride && stride->value == 1)
    return false;
  Expr step = simplify(sub(substitute(ramp->base, {{c, add(ir::ref(c), intImm(1))}}), ramp->base));
  const IntImm *one = as<IntImm>(step);
  return one && one->value == 1;
}

/// Lane l of the perfect shuffle of two vectors' halves: lanes 2p and 2p + 1 are lane p of a
/// and of b, from the lower halves (`upper` false) or the upper ones.
std::vector<int> interleave(int width, bool upper) {
  std::vector<int> indices;
  int offset = upper ? width / 2 : 0;
  for (int p = 0; p < width / 2; ++p) {
    indices.push_back(offset + p);
    indices.push_back(width + offset + p);
  }
  return indices;
}

class Transposer : public IRMutator {
protected:
  Stmt visitFor(const For *n, const Stmt &self) override {
    Stmt body = mutate(n->body);
    const IntImm *extent = as<IntImm>(n->extent);
    int width = extent ? static_cast<int>(extent->value) : 0;
    if (n->kind != ForKind::Serial || width < 2 || !std::has_single_bit(unsigned(width)))
      return body == n->body ? self : For::make(n->var, n->extent, n->kind, body);
    if (const IfThenElse *branch = as<IfThenElse>(body);
        branch && branch->elseCase && !usesAny(branch->cond, {n->var})) {
      // Unswitch, with a fresh counter for the second copy.
      Var other = makeVar(n->var->name, n->var->type, VarKind::Loop);
      Stmt elseCase = substitute(branch->elseCase, {{n->var, ir::ref(other)}});
      return IfThenElse::make(branch->cond, transpose(n->var, width, branch->thenCase),
                              transpose(other, width, elseCase));
    }
    return transpose(n->var, width, body);
  }

private:
  /// `for c in [0, width) body`, with its reads across transposed when there are any.
  Stmt transpose(const Var &c, int width, const Stmt &body) {
    UnconditionalLoads finder;
    finder.visit(body);
    std::vector<const Load *> blocks;
    for (const Load *load : finder.loads) {
      bool seen = false;
      for (const Load *b : blocks)
        seen |= structurallyEqual(b->index, load->index) && b->buffer == load->buffer;
      if (!seen && walksAcross(load, c, width))
        blocks.push_back(load);
    }
    if (blocks.empty())
      return For::make(c, intImm(width), ForKind::Serial, body);

    std::vector<Stmt> steps;
    std::vector<std::pair<Var, Expr>> lets; // In order; each may use the ones before.
    std::vector<std::vector<Var>> columns;
    for (const Load *load : blocks) {
      const Ramp *ramp = as<Ramp>(load->index);
      Expr base = simplify(substitute(ramp->base, {{c, intImm(0)}}));
      std::vector<Var> rows;
      for (int r = 0; r < width; ++r) {
        Var row = makeVar(load->buffer->name + ".row", load->type, VarKind::Let);
        Expr start = simplify(add(base, mul(ramp->stride, intImm(r))));
        lets.emplace_back(row, Load::make(load->buffer, Ramp::make(start, intImm(1), width)));
        rows.push_back(row);
      }
      for (int round = 1; round < width; round *= 2) {
        std::vector<Var> next;
        for (int p = 0; p < width; ++p) {
          Var v = makeVar(load->buffer->name + (round * 2 == width ? ".col" : ".t"), load->type,
                          VarKind::Let);
          lets.emplace_back(v, Shuffle::make(ir::ref(rows[p / 2]), ir::ref(rows[p / 2 + width / 2]),
                                             interleave(width, p % 2 == 1)));
          next.push_back(v);
        }
        rows = std::move(next);
      }
      columns.push_back(std::move(rows));
    }
    for (int step = 0; step < width; ++step) {
      LoadReplacer replace(blocks, columns, step);
      Stmt unrolled = replace.mutate(body);
      steps.push_back(substitute(unrolled, {{c, intImm(step)}}));
    }
    Stmt out = Block::make(std::move(steps));
    for (size_t k = lets.size(); k-- > 0;)
      out = LetStmt::make(lets[k].first, lets[k].second, out);
    return out;
  }

  /// Each transposed read becomes the column of one step.
  class LoadReplacer : public IRMutator {
  public:
    LoadReplacer(const std::vector<const Load *> &blocks,
                 const std::vector<std::vector<Var>> &columns, int step)
        : blocks(blocks), columns(columns), step(step) {}

  protected:
    Expr visitLoad(const Load *n, const Expr &self) override {
      for (size_t b = 0; b < blocks.size(); ++b)
        if (blocks[b]->buffer == n->buffer && !n->predicate &&
            structurallyEqual(blocks[b]->index, n->index))
          return ir::ref(columns[b][static_cast<size_t>(step)]);
      return IRMutator::visitLoad(n, self);
    }

  private:
    const std::vector<const Load *> &blocks;
    const std::vector<std::vector<Var>> &columns;
    int step;
  };
};

} // namespace

Stmt transposeInRegisters(const Stmt &s) { return Transposer().mutate(s); }

} // namespace tdsl::passes
