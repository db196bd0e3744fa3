// transposeInRegisters (see Transpose.h).
//
//   for j in [0, 16) { y[ramp(j * N + i0, 1, 16)] = x[ramp(i0 * M + j, M, 16)] }
// becomes
//   let x.row0 = x[ramp(i0 * M, 1, 16)] ... let x.row15 = x[ramp(i0 * M + 15 * M, 1, 16)]
//   four rounds of 16 shuffles, the last giving x.col0 ... x.col15
//   y[ramp(i0, 1, 16)] = x.col0; ...; y[ramp(15 * N + i0, 1, 16)] = x.col15
// and, where the stride equals the loop's extent (2 x 2 pooling, short rows),
//   for s in [0, 2) { acc = max(acc, x[ramp(b + s, 2, 16)]) }
// becomes two contiguous loads of the 32 elements, one shuffle per step picking its lanes.
#include "passes/Transpose.h"

#include "ir/ExprEqual.h"
#include "ir/IRVisitor.h"
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

/// How the reads of `for c in [0, E)` at `ramp(base, stride, W)`, base advancing by one element
/// per step, cover memory: a square block of W rows of W (stride != E, W == E a power of two),
/// or E x W consecutive elements (stride == E).
enum class Shape : uint8_t { None, Square, Interleaved };

/// Interleaved blocks of up to 4 (2 x 2 pooling, RGB, RGBA): each step's column takes E - 1
/// shuffles.
constexpr int kMaxInterleaved = 4;

Shape blockOf(const Load *load, const Var &c, int extent) {
  const Ramp *ramp = as<Ramp>(load->index);
  if (load->predicate || !ramp || usesAny(ramp->stride, {c}))
    return Shape::None;
  const IntImm *stride = as<IntImm>(ramp->stride);
  if (stride && stride->value == 1)
    return Shape::None;
  Expr step = simplify(sub(substitute(ramp->base, {{c, add(ir::ref(c), intImm(1))}}), ramp->base));
  const IntImm *one = as<IntImm>(step);
  if (!one || one->value != 1)
    return Shape::None;
  if (stride && stride->value == extent && extent <= kMaxInterleaved)
    return Shape::Interleaved;
  if (ramp->lanes == extent && std::has_single_bit(unsigned(extent)))
    return Shape::Square;
  return Shape::None;
}

/// The distinct reads of `body` that form blocks across `c`.
std::vector<const Load *> blockReads(const Stmt &body, const Var &c, int extent) {
  UnconditionalLoads finder;
  finder.visit(body);
  std::vector<const Load *> blocks;
  for (const Load *load : finder.loads) {
    bool seen = false;
    for (const Load *b : blocks)
      seen |= structurallyEqual(b->index, load->index) && b->buffer == load->buffer;
    if (!seen && blockOf(load, c, extent) != Shape::None)
      blocks.push_back(load);
  }
  return blocks;
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
    if (n->kind != ForKind::Serial || width < 2 || width > 64)
      return body == n->body ? self : For::make(n->var, n->extent, n->kind, body);
    if (const IfThenElse *branch = as<IfThenElse>(body);
        branch && branch->elseCase && !usesAny(branch->cond, {n->var}) &&
        !blockReads(branch->thenCase, n->var, width).empty()) {
      // Unswitch (the vectorizer's remainder guard), with a fresh counter for the second copy.
      Var other = makeVar(n->var->name, n->var->type, VarKind::Loop);
      Stmt elseCase = substitute(branch->elseCase, {{n->var, ir::ref(other)}});
      return IfThenElse::make(branch->cond, transpose(n->var, width, branch->thenCase),
                              transpose(other, width, elseCase));
    }
    return transpose(n->var, width, body);
  }

private:
  using Lets = std::vector<std::pair<Var, Expr>>; // In order; each may use the ones before.

  static Var let(Lets &lets, const std::string &name, Expr value) {
    Var v = makeVar(name, value->type, VarKind::Let);
    lets.emplace_back(v, std::move(value));
    return v;
  }

  /// Rows r of the square block, row r the contiguous W elements at base + r * stride; then
  /// log2 W rounds of perfect shuffles, after which vector c holds column c.
  static std::vector<Var> square(Lets &lets, const Load *load, const Expr &base, int width) {
    const Ramp *ramp = as<Ramp>(load->index);
    const std::string &name = load->buffer->name;
    std::vector<Var> rows;
    for (int r = 0; r < width; ++r) {
      Expr start = simplify(add(base, mul(ramp->stride, intImm(r))));
      rows.push_back(
          let(lets, name + ".row", Load::make(load->buffer, Ramp::make(start, intImm(1), width))));
    }
    for (int round = 1; round < width; round *= 2) {
      std::vector<Var> next;
      for (int p = 0; p < width; ++p)
        next.push_back(let(lets, name + (round * 2 == width ? ".col" : ".t"),
                           Shuffle::make(ir::ref(rows[p / 2]), ir::ref(rows[p / 2 + width / 2]),
                                         interleave(width, p % 2 == 1))));
      rows = std::move(next);
    }
    return rows;
  }

  /// The E x W consecutive elements from base in E contiguous loads of W; step c takes lanes
  /// c, c + E, c + 2E, ...: from the first two vectors in one shuffle, then one more shuffle per
  /// further vector its lanes reach.
  static std::vector<Var> interleaved(Lets &lets, const Load *load, const Expr &base, int extent) {
    int lanes = load->type.lanes;
    const std::string &name = load->buffer->name;
    std::vector<Var> parts;
    for (int k = 0; k < extent; ++k) {
      Expr start = simplify(add(base, intImm(int64_t{k} * lanes)));
      parts.push_back(
          let(lets, name + ".part", Load::make(load->buffer, Ramp::make(start, intImm(1), lanes))));
    }
    std::vector<Var> columns;
    for (int c = 0; c < extent; ++c) {
      std::vector<int> from(static_cast<size_t>(lanes)); // Source element of each lane.
      for (int l = 0; l < lanes; ++l)
        from[static_cast<size_t>(l)] = l * extent + c;
      std::vector<int> first;
      for (int src : from)
        first.push_back(src < 2 * lanes ? src : 0);
      Expr column = Shuffle::make(ir::ref(parts[0]), ir::ref(parts[1]), first);
      for (int k = 2; k < extent; ++k) {
        std::vector<int> pick;
        bool reaches = false;
        for (int l = 0; l < lanes; ++l) {
          int src = from[static_cast<size_t>(l)];
          bool here = src >= k * lanes && src < (k + 1) * lanes;
          reaches |= here;
          pick.push_back(here ? lanes + src - k * lanes : l);
        }
        if (reaches)
          column = Shuffle::make(column, ir::ref(parts[static_cast<size_t>(k)]), pick);
      }
      columns.push_back(let(lets, name + ".col", column));
    }
    return columns;
  }

  /// `for c in [0, width) body`, with its block reads replaced when there are any.
  Stmt transpose(const Var &c, int width, const Stmt &body) {
    std::vector<const Load *> blocks = blockReads(body, c, width);
    if (blocks.empty())
      return For::make(c, intImm(width), ForKind::Serial, body);

    Lets lets;
    std::vector<std::vector<Var>> columns;
    for (const Load *load : blocks) {
      Expr base = simplify(substitute(as<Ramp>(load->index)->base, {{c, intImm(0)}}));
      columns.push_back(blockOf(load, c, width) == Shape::Square
                            ? square(lets, load, base, width)
                            : interleaved(lets, load, base, width));
    }
    std::vector<Stmt> steps;
    for (int step = 0; step < width; ++step) {
      LoadReplacer replace(blocks, columns, step);
      steps.push_back(substitute(replace.mutate(body), {{c, intImm(step)}}));
    }
    Stmt out = Block::make(std::move(steps));
    for (size_t k = lets.size(); k-- > 0;)
      out = LetStmt::make(lets[k].first, lets[k].second, out);
    return out;
  }

  /// Each block read becomes the column of one step.
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
