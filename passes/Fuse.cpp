// fuse: inlining and fused groups on the normalized tensor IR (policy: docs/fusion.md).
//
// Two steps, in definition order:
//  1. Inlining. An elementwise definition is substituted into its readers when that costs no
//     extra work (one read per element, at the reader's own indices) or when its value is cheap
//     (a few operations, no transcendental call) so that recomputing it at every read beats a
//     round trip through memory. Everything else is materialized. Outputs are always stored;
//     a cheap output is also inlined into its readers.
//  2. Grouping. Consecutive remaining definitions join one group when they share their leading
//     index extents and every read between members happens at the reader's own leading indices
//     (softmax's max, sum and quotient all work on row i). The group runs one loop over the
//     shared dims; an intermediate read only inside its group lives per shared iteration (a row,
//     or a scalar) instead of as a whole tensor, so the row stays in cache between passes.
#include "passes/Fuse.h"

#include "ir/Affine.h"
#include "ir/ExprEqual.h"
#include "ir/IRPrinter.h"
#include "ir/IRVisitor.h"
#include "passes/Contraction.h"
#include "passes/Pipeline.h"
#include "passes/Scan.h"
#include "support/Check.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

namespace tdsl::passes {

using namespace ir;

// ---------------------------------------------------------------------------------------------
// Analyses.

namespace {

class CostCounter : public IRVisitor {
public:
  ExprCost cost;

protected:
  void visitUnary(const Unary *n) override {
    cost.ops += 1;
    IRVisitor::visitUnary(n);
  }
  void visitBinary(const Binary *n) override {
    switch (n->op) {
    case BinaryOp::Div:
    case BinaryOp::FloorDiv:
    case BinaryOp::Mod:
      cost.ops += 4;
      break;
    case BinaryOp::Pow: {
      const FloatImm *exponent = as<FloatImm>(n->b);
      if (exponent && exponent->value == 2.0) { // Becomes x * x (see simplify).
        cost.ops += 1;
        break;
      }
      if (n->type.isFloat())
        expensive("**");
      cost.ops += 8;
      break;
    }
    default:
      cost.ops += 1;
    }
    IRVisitor::visitBinary(n);
  }
  void visitCall(const Call *n) override {
    switch (n->fn) {
    case Intrinsic::Relu:
    case Intrinsic::Abs:
    case Intrinsic::Floor:
    case Intrinsic::Ceil:
    case Intrinsic::Round:
      cost.ops += 1;
      break;
    case Intrinsic::Sqrt:
    case Intrinsic::Rsqrt:
      cost.ops += 4;
      break;
    default:
      expensive(std::string(intrinsicName(n->fn)));
      cost.ops += 16;
    }
    IRVisitor::visitCall(n);
  }
  void visitSelect(const Select *n) override {
    cost.ops += 1;
    IRVisitor::visitSelect(n);
  }
  void visitCast(const Cast *n) override {
    cost.ops += 1;
    IRVisitor::visitCast(n);
  }
  void visitAccess(const Access *n) override {
    cost.ops += 1; // The index arithmetic is loop-invariant or folded into addressing.
    visit(n->fallback);
  }
  void visitReduce(const Reduce *n) override {
    cost.ops += 1;
    visit(n->body);
  }

private:
  void expensive(std::string name) {
    if (cost.transcendental.empty())
      cost.transcendental = std::move(name);
  }
};

class AccessCollector : public IRVisitor {
public:
  std::vector<const Access *> accesses;

protected:
  void visitAccess(const Access *n) override {
    accesses.push_back(n);
    IRVisitor::visitAccess(n);
  }
};

} // namespace

std::vector<const Access *> accessesIn(const Expr &e) {
  AccessCollector c;
  c.visit(e);
  return c.accesses;
}

ExprCost exprCost(const Expr &e) {
  CostCounter c;
  c.visit(e);
  return c.cost;
}

AccessStride strideOf(const Access &access, const Var &var) {
  bool symbolic = false;
  int64_t stride = 0;
  const std::vector<Expr> &shape = access.buffer->shape;
  for (size_t k = 0; k < access.indices.size(); ++k) {
    if (!usesAny(access.indices[k], {var}))
      continue;
    std::optional<AffineExpr> a = toAffine(access.indices[k]);
    // `i // 2`, `W * i`: no constant step per iteration.
    bool linear = a && std::none_of(a->terms.begin(), a->terms.end(), [&](const auto &t) {
                    return !t.first.isVar() && t.first.mentions(var);
                  });
    if (!linear)
      return AccessStride::Strided;
    auto it = a->terms.find(var);
    if (it == a->terms.end())
      continue;
    int64_t step = it->second;
    for (size_t m = k + 1; m < shape.size(); ++m) {
      const IntImm *dim = as<IntImm>(shape[m]);
      if (!dim) {
        symbolic = true;
        break;
      }
      step *= dim->value;
    }
    stride += step;
  }
  if (symbolic)
    return AccessStride::Strided;
  if (stride == 0)
    return AccessStride::Uniform;
  return stride == 1 ? AccessStride::Contiguous : AccessStride::Strided;
}

const Reduce *topReduce(const Definition &def) {
  if (const Cast *c = as<Cast>(def.value))
    return as<Reduce>(c->a);
  return as<Reduce>(def.value);
}

StrideCount countStrides(const std::vector<const Access *> &accesses, const Var &v) {
  StrideCount c;
  for (const Access *a : accesses) {
    AccessStride s = strideOf(*a, v);
    if (s == AccessStride::Contiguous)
      ++c.contiguous;
    if (s == AccessStride::Strided && c.strided++ == 0)
      c.stridedName = a->buffer->name;
  }
  return c;
}

/// Reduction axes of at most this many points are too short to vectorize along.
constexpr int64_t kShortReduction = 4;

VectorChoice preferredVectorAxis(const Definition &def) {
  const Reduce *r = topReduce(def);
  std::vector<const Access *> accesses = accessesIn(def.value);
  const Var *spatial = def.indices.empty() ? nullptr : &def.indices.back().var;
  bool spatialOk = spatial != nullptr;
  if (r && spatial)
    for (const IterVar &axis : r->axes)
      spatialOk &= !usesAny(axis.extent, {*spatial}); // A triangular extent is per lane.
  if (r && isArgReduction(r->op)) {
    // A (value, position) pair a lane along k, the lanes combined at the end; across outputs
    // the pairs would be a strip of lanes each, which this schedule does not build.
    const Var &k = r->axes.back().var;
    StrideCount alongK = countStrides(accesses, k);
    if (alongK.strided == 0 && alongK.contiguous > 0)
      return {VectorAxis::Reduction, "reads are contiguous in " + k->name +
                                         ": a (value, position) pair a lane, the lanes combined"};
    return {VectorAxis::None, std::string(reduceName(r->op)) +
                                  " is a scalar (value, index) loop: " +
                                  (alongK.strided ? alongK.stridedName + " is strided in " + k->name
                                                  : "no read is contiguous in " + k->name)};
  }
  if (!r) {
    if (!spatial)
      return {VectorAxis::None, "a single value"};
    return {VectorAxis::Spatial, "stores are contiguous in " + (*spatial)->name};
  }
  const Var &k = r->axes.back().var;
  StrideCount alongK = countStrides(accesses, k);
  if (spatialOk) {
    StrideCount alongJ = countStrides(accesses, *spatial);
    if (alongJ.strided == 0)
      return {VectorAxis::Spatial,
              "stores and reads are contiguous or invariant in " + (*spatial)->name};
    // A reduction over a few points (2 x 2 pooling, the channels of a pixel) fills no vector
    // along its axis; along j, its reads together cover whole vectors (passes/Transpose.h).
    const IntImm *short_ = as<IntImm>(r->axes.back().extent);
    if (short_ && short_->value <= kShortReduction)
      return {VectorAxis::Spatial, "stores are contiguous in " + (*spatial)->name + " and " +
                                       k->name + " has " + std::to_string(short_->value) +
                                       " points (" + alongJ.stridedName + " is read in blocks)"};
    if (alongK.strided == 0 && alongK.contiguous > 0)
      return {VectorAxis::Reduction, "reads are contiguous in " + k->name + " but " +
                                         alongJ.stridedName + " is strided in " + (*spatial)->name};
    return {VectorAxis::Spatial, "stores are contiguous in " + (*spatial)->name + " (" +
                                     alongJ.stridedName + " is gathered)"};
  }
  if (alongK.strided == 0)
    return {VectorAxis::Reduction, "reads are contiguous or invariant in " + k->name};
  return {VectorAxis::None, alongK.stridedName + " is strided in " + k->name};
}

// ---------------------------------------------------------------------------------------------
// Inlining.

namespace {

/// The variable an index is exactly (`i`, or a form like `i + 0`), or null.
const VarNode *plainVar(const Expr &index) {
  if (const VarRef *v = as<VarRef>(index))
    return v->var.get();
  std::optional<AffineExpr> a = toAffine(index);
  if (!a || a->constant != 0 || a->terms.size() != 1 || a->terms.begin()->second != 1 ||
      !a->terms.begin()->first.isVar())
    return nullptr;
  return a->terms.begin()->first.var().get();
}

/// A read of one definition by a later one.
struct Use {
  size_t consumer;
  const Access *access;
  bool plain;          // Distinct iteration variables of the reader, no `??`.
  bool broadcast;      // Some iteration variable of the reader does not appear in the indices.
  std::string missing; // The first such variable.
};

/// Every read of `buffer` in `def`, each with the iteration variables around it.
class UseFinder : public IRVisitor {
public:
  UseFinder(const Buffer &buffer, const Definition &def, size_t index)
      : buffer(buffer), consumer(index) {
    for (const IterVar &iv : def.indices)
      scope.push_back(iv.var);
  }
  std::vector<Use> uses;

protected:
  void visitReduce(const Reduce *n) override {
    size_t mark = scope.size();
    for (const IterVar &iv : n->axes)
      scope.push_back(iv.var);
    visit(n->body);
    scope.resize(mark);
  }
  void visitAccess(const Access *n) override {
    IRVisitor::visitAccess(n);
    if (n->buffer != buffer)
      return;
    Use use{consumer, n, !n->fallback, false, {}};
    std::set<const VarNode *> seen;
    for (const Expr &i : n->indices) {
      const VarNode *v = plainVar(i);
      bool inScope = false;
      for (const Var &s : scope)
        inScope |= s.get() == v;
      use.plain &= v && inScope && seen.insert(v).second;
    }
    for (const Var &v : scope) {
      bool used = false;
      for (const Expr &i : n->indices)
        used |= usesAny(i, {v});
      if (!used && !use.broadcast) {
        use.broadcast = true;
        use.missing = v->name;
      }
    }
    uses.push_back(use);
  }

private:
  const Buffer &buffer;
  size_t consumer;
  std::vector<Var> scope;
};

/// Gives every read without a `??` default one (zero), so that evaluating the expression at
/// indices outside the producer's domain reads nothing out of bounds.
class DefaultAdder : public IRMutator {
protected:
  Expr visitAccess(const Access *n, const Expr &self) override {
    Expr e = IRMutator::visitAccess(n, self);
    const Access *a = as<Access>(e);
    if (a->fallback)
      return e;
    Expr zero = a->type.isFloat() ? FloatImm::make(a->type, 0.0) : IntImm::make(a->type, 0);
    return Access::make(a->buffer, a->indices, zero);
  }
};

/// The extents of a definition's index variables and reduction axes.
class ExtentCollector : public IRVisitor {
public:
  explicit ExtentCollector(const Definition &def) {
    for (const IterVar &iv : def.indices)
      extents[iv.var.get()] = iv.extent;
    visit(def.value);
  }
  std::map<const VarNode *, Expr> extents;

protected:
  void visitReduce(const Reduce *n) override {
    for (const IterVar &iv : n->axes)
      extents[iv.var.get()] = iv.extent;
    IRVisitor::visitReduce(n);
  }
};

/// Replaces every read of `producer` by its value at the read's indices, in `consumer`.
class Inliner : public IRMutator {
public:
  Inliner(const Definition &producer, const Definition &consumer)
      : producer(producer), extents(ExtentCollector(consumer).extents) {}

protected:
  Expr visitAccess(const Access *n, const Expr &self) override {
    Expr e = IRMutator::visitAccess(n, self);
    const Access *a = as<Access>(e);
    if (a->buffer != producer.target)
      return e;
    std::vector<std::pair<Var, Expr>> renames;
    for (size_t k = 0; k < a->indices.size(); ++k)
      renames.emplace_back(producer.indices[k].var, a->indices[k]);
    Expr value = substitute(producer.value, renames);
    if (!a->fallback)
      return value;
    // `t[i - 1] ?? 0.0` with t inlined: the producer's value where i - 1 is inside t, else 0.
    Expr inBounds;
    auto conjoin = [&](Expr c) {
      inBounds = inBounds ? Binary::make(BinaryOp::And, inBounds, c) : c;
    };
    for (size_t k = 0; k < a->indices.size(); ++k) {
      const Expr &i = a->indices[k];
      const Expr &dim = producer.target->shape[k];
      // An index that is an iteration variable is >= 0, and < dim when its extent is dim.
      const VarNode *v = plainVar(i);
      auto it = v ? extents.find(v) : extents.end();
      if (it == extents.end())
        conjoin(Binary::make(BinaryOp::Le, intImm(0), i));
      if (it == extents.end() || !structurallyEqual(it->second, dim))
        conjoin(Binary::make(BinaryOp::Lt, i, dim));
    }
    value = DefaultAdder().mutate(value);
    return inBounds ? Select::make(inBounds, value, a->fallback) : value;
  }

private:
  const Definition &producer;
  std::map<const VarNode *, Expr> extents;
};

std::string nameList(const std::vector<std::string> &names) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i)
    s += (i ? ", " : "") + names[i];
  return s;
}

/// Where a read meets its reader's rows: the read's first index that moves, `dim`, is the
/// reader's first index `i` plus a constant, plus multiples of the reader's reduction axes of
/// constant extent, so it reads rows `i + below` to `i + above` (`ix[i + r, j]` over r < 3:
/// rows i to i + 2). The indices before `dim` are constants or shapes (a channel).
struct RowReach {
  size_t dim = 0;
  int64_t below = 0, above = 0;
};

std::optional<RowReach> rowReach(const Access &a, const Definition &reader) {
  if (reader.indices.empty())
    return std::nullopt;
  const Var &row = reader.indices[0].var;
  const Reduce *r = topReduce(reader);
  for (size_t k = 0; k < a.indices.size(); ++k) {
    std::optional<AffineExpr> e = toAffine(a.indices[k]);
    if (!e)
      return std::nullopt;
    if (e->onlySymbols())
      continue;
    auto it = e->terms.find(row);
    if (it == e->terms.end() || it->second != 1)
      return std::nullopt;
    RowReach reach{k, e->constant, e->constant};
    for (const auto &[atom, coefficient] : e->terms) {
      if (atom == Atom(row))
        continue;
      const IterVar *axis = nullptr;
      for (size_t x = 0; r && x < r->axes.size(); ++x)
        if (atom.isVar() && atom.var() == r->axes[x].var)
          axis = &r->axes[x];
      const IntImm *extent = axis ? as<IntImm>(axis->extent) : nullptr;
      if (!extent || extent->value < 1)
        return std::nullopt;
      int64_t far = coefficient * (extent->value - 1);
      reach.below += std::min<int64_t>(0, far);
      reach.above += std::max<int64_t>(0, far);
    }
    return reach;
  }
  return std::nullopt;
}

/// The largest row offset a stencil may read its producer at: the halo is recomputed per block.
constexpr int64_t kMaxHalo = 8;

constexpr int64_t kCheapOps = 8;     // At most this many operations, none transcendental.
constexpr int64_t kBroadcastOps = 3; // Recomputed along a broadcast dim only up to this.
/// A cheap producer read across rows is kept for a window when recomputing it at every read
/// costs more than this many times computing it once, storing it and loading it at each read.
constexpr int64_t kWindowPays = 2;

/// Whether every read site of `p` is a stencil across rows that fuseStencils can serve from a
/// window of p (a reader over at least two dims, not a contraction, reading p's first index at
/// its own first index plus a constant of at most kMaxHalo), some of them at other rows; then
/// the rows read, else nullopt.
std::optional<RowReach> stencilReads(const Definition &p, const std::vector<const Use *> &sites,
                                     const std::vector<Definition> &defs) {
  if (p.indices.size() < 2 || topReduce(p))
    return std::nullopt;
  RowReach rows;
  for (const Use *s : sites) {
    const Definition &reader = defs[s->consumer];
    std::string notWhy;
    std::optional<RowReach> reach = rowReach(*s->access, reader);
    if (reader.indices.size() < 2 || findContraction(reader, notWhy) || !reach || reach->dim != 0 ||
        reach->below < -kMaxHalo || reach->above > kMaxHalo)
      return std::nullopt;
    rows.below = std::min(rows.below, reach->below);
    rows.above = std::max(rows.above, reach->above);
  }
  if (rows.below == 0 && rows.above == 0)
    return std::nullopt; // Every read at the reader's own rows: grouping serves those.
  return rows;
}

struct InlineDecision {
  bool inlineIt = false;
  std::string reason;
};

InlineDecision decideInline(const Definition &p, const std::vector<Use> &uses,
                            const std::vector<Definition> &defs, StencilWindows windows) {
  bool isOutput = p.target->role == BufferRole::Output;
  // Distinct read sites: equal reads in one reader are computed once (CSE), so count once.
  std::vector<const Use *> sites;
  for (const Use &u : uses) {
    bool dup = false;
    for (const Use *s : sites) {
      if (s->consumer != u.consumer || s->access->indices.size() != u.access->indices.size())
        continue;
      ExprEqual eq;
      bool same = eq(s->access->fallback, u.access->fallback);
      for (size_t k = 0; same && k < u.access->indices.size(); ++k)
        same = eq(s->access->indices[k], u.access->indices[k]);
      dup |= same;
    }
    if (!dup)
      sites.push_back(&u);
  }
  std::vector<std::string> readers;
  for (const Use *s : sites)
    if (std::find(readers.begin(), readers.end(), defs[s->consumer].target->name) == readers.end())
      readers.push_back(defs[s->consumer].target->name);
  std::string into = "into " + nameList(readers);

  ExprCost cost = exprCost(p.value);
  bool cheap = cost.transcendental.empty() && cost.ops <= kCheapOps;
  const Use *broadcast = nullptr;
  bool allPlain = true;
  for (const Use *s : sites) {
    if (s->broadcast && !broadcast)
      broadcast = s;
    allPlain &= s->plain;
  }
  std::string costText = cost.transcendental.empty()
                             ? std::to_string(cost.ops) + " ops"
                             : std::to_string(cost.ops) + " ops, calls " + cost.transcendental;

  if (!isOutput && sites.size() == 1 && allPlain && !broadcast)
    return {true, "inlined " + into + ": read once per element at its own indices"};
  if (cheap && !broadcast && !isOutput && windows == StencilWindows::On) {
    // Recomputed at every read, or computed once per element into a window (fuseStencils),
    // then stored and loaded at each read.
    int64_t n = static_cast<int64_t>(sites.size());
    int64_t recomputed = n * cost.ops, windowed = cost.ops + 1 + n;
    std::optional<RowReach> rows = stencilReads(p, sites, defs);
    if (rows && recomputed > kWindowPays * windowed)
      return {false, "materialized for a window: read at " + std::to_string(n) + " places (" +
                         nameList(readers) + ") at rows " + std::to_string(rows->below) + " to +" +
                         std::to_string(rows->above) + " of theirs; recomputed there " +
                         std::to_string(recomputed) + " ops, from a window " +
                         std::to_string(windowed) + " (" + costText + ", a store, " +
                         std::to_string(n) + " loads)"};
  }
  if (cheap && (!broadcast || cost.ops <= kBroadcastOps)) {
    std::string why = "cheap (" + costText + ")";
    if (sites.size() > 1)
      why += ", recomputed at " + std::to_string(sites.size()) + " reads";
    if (broadcast)
      why += ", recomputed along " + broadcast->missing;
    return {true, "inlined " + into + ": " + why + (isOutput ? "; also stored (an output)" : "")};
  }
  std::string where = isOutput ? "stored (an output); " : "materialized: ";
  if (broadcast)
    return {false, where + "read broadcast along " + broadcast->missing + " by " +
                       defs[broadcast->consumer].target->name + " and costs " + costText};
  if (sites.size() > 1)
    return {false, where + "read at " + std::to_string(sites.size()) + " places (" +
                       nameList(readers) + ") and costs " + costText};
  return {false, where + "read by " + nameList(readers) + ", recomputing costs " + costText};
}

// ---------------------------------------------------------------------------------------------
// Box reductions separated by rows.

/// Whether `e` reads `row` and `axis` only together, as `row + axis` (each with coefficient one)
/// inside a subscript: then `e` is a function of the row `row + axis` and not of either alone.
class RowShiftCheck : public IRVisitor {
public:
  RowShiftCheck(Var row, Var axis) : row(std::move(row)), axis(std::move(axis)) {}
  bool together = true;

protected:
  void visitVarRef(const VarRef *n) override { together &= n->var != row && n->var != axis; }
  void visitAccess(const Access *n) override {
    for (const Expr &index : n->indices) {
      if (!usesAny(index, {row, axis}))
        continue;
      std::optional<AffineExpr> a = toAffine(index);
      bool shifted = a && a->terms.count(Atom(row)) && a->terms.at(Atom(row)) == 1 &&
                     a->terms.count(Atom(axis)) && a->terms.at(Atom(axis)) == 1;
      for (const auto &[atom, coefficient] : a ? a->terms : std::map<Atom, int64_t>{})
        shifted &= atom.isVar() || (!atom.mentions(row) && !atom.mentions(axis));
      together &= shifted;
    }
    visit(n->fallback);
  }

private:
  Var row, axis;
};

/// A box reduction's rows reduced first: `d[i, j] = sum(f(i + r, j, s) for r < R, s < S)`
/// becomes `d.row[i, j] = f(i, j, 0) + ... + f(i, j, S - 1)` over R - 1 more rows, then
/// `d[i, j] = d.row[i, j] + ... + d.row[i + R - 1, j]`: R * S evaluations of f become S, and R
/// loads. The reduction is reassociated (allowed for floats: docs/numerics.md); the points of
/// a row are combined in their order, the rows in theirs, so the bits do not depend on the
/// schedule.
struct RowSplit {
  Definition rows, columns;
  std::string reason;
};

/// The most points either part may unroll (the row reach of a window is at most kMaxHalo).
constexpr int64_t kMaxRowPoints = 9;

BinaryOp combineOp(ReduceOp op) {
  switch (op) {
  case ReduceOp::Sum:
    return BinaryOp::Add;
  case ReduceOp::Max:
    return BinaryOp::Max;
  default:
    return BinaryOp::Min;
  }
}

std::optional<RowSplit> splitBoxByRows(const Definition &d) {
  const Reduce *r = as<Reduce>(d.value);
  if (!r || d.indices.size() < 2 || r->type.isBool() ||
      (r->op != ReduceOp::Sum && r->op != ReduceOp::Max && r->op != ReduceOp::Min))
    return std::nullopt;
  std::vector<int64_t> extents;
  for (const IterVar &axis : r->axes) {
    const IntImm *e = as<IntImm>(axis.extent);
    if (!e || e->value < 1)
      return std::nullopt;
    extents.push_back(e->value);
  }
  const Var &row = d.indices[0].var;
  for (size_t a = 0; a < r->axes.size(); ++a) {
    int64_t rowPoints = extents[a], pointsPerRow = 1;
    for (size_t b = 0; b < extents.size(); ++b)
      pointsPerRow *= b == a ? 1 : extents[b];
    if (rowPoints < 2 || rowPoints > kMaxHalo + 1 || pointsPerRow < 2 ||
        pointsPerRow > kMaxRowPoints)
      continue;
    RowShiftCheck check(row, r->axes[a].var);
    check.visit(r->body);
    if (!check.together)
      continue;
    // Costs per point of d: each evaluation of f and its combine, a store and a load per row.
    int64_t f = exprCost(r->body).ops + 1;
    int64_t whole = rowPoints * pointsPerRow * f;
    int64_t split = pointsPerRow * f + 1 + 2 * rowPoints - 1;
    if (split >= whole)
      continue;

    // The rows: f at every point of the other axes, in their order, at its own row index.
    std::vector<IterVar> indices;
    std::vector<std::pair<Var, Expr>> renames{{r->axes[a].var, intImm(0)}};
    for (size_t k = 0; k < d.indices.size(); ++k) {
      const IterVar &iv = d.indices[k];
      Expr extent = k == 0 ? simplify(add(iv.extent, intImm(rowPoints - 1))) : iv.extent;
      indices.push_back(IterVar{makeVar(iv.var->name, iv.var->type, VarKind::Index), extent});
      renames.emplace_back(iv.var, ir::ref(indices.back().var));
    }
    BinaryOp op = combineOp(r->op);
    Expr rowValue;
    std::vector<int64_t> point(extents.size(), 0);
    for (int64_t n = 0; n < pointsPerRow; ++n) {
      std::vector<std::pair<Var, Expr>> at = renames;
      for (size_t b = 0; b < extents.size(); ++b)
        if (b != a)
          at.emplace_back(r->axes[b].var, intImm(point[b]));
      Expr term = simplify(substitute(r->body, at));
      rowValue = rowValue ? Binary::make(op, rowValue, term) : term;
      for (size_t b = extents.size(); b-- > 0;) { // The next point, the last axis fastest.
        if (b == a)
          continue;
        if (++point[b] < extents[b])
          break;
        point[b] = 0;
      }
    }
    std::vector<Expr> shape;
    for (const IterVar &iv : indices)
      shape.push_back(iv.extent);
    Buffer rows = makeBuffer(d.target->name + ".row", r->type.dtype, shape,
                             BufferRole::Intermediate, d.target->span);

    // The columns: rows i to i + R - 1 of it.
    Expr columnValue;
    for (int64_t k = 0; k < rowPoints; ++k) {
      std::vector<Expr> at;
      for (const IterVar &iv : d.indices)
        at.push_back(ir::ref(iv.var));
      if (k)
        at[0] = add(at[0], intImm(k));
      Expr term = Access::make(rows, at);
      columnValue = columnValue ? Binary::make(op, columnValue, term) : term;
    }
    std::string reason = "reduced by rows first: " + rows->name + " reduces " +
                         std::to_string(pointsPerRow) + " points of each row, " + d.target->name +
                         " " + std::to_string(rowPoints) + " rows of it (" + r->axes[a].var->name +
                         "); " + std::to_string(whole) + " ops a point became " +
                         std::to_string(split);
    return RowSplit{Definition{rows, indices, rowValue, d.span},
                    Definition{d.target, d.indices, columnValue, d.span}, reason};
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Grouping.

/// How many leading indices of `a` are `def`'s own leading index variables, in order.
size_t leadingPrefix(const Access &a, const Definition &def) {
  size_t n = 0;
  while (n < a.indices.size() && n < def.indices.size() &&
         plainVar(a.indices[n]) == def.indices[n].var.get())
    ++n;
  return n;
}

/// The most leading dims a definition can share with others and still keep its vectorizable
/// axis inside its own nest.
size_t maxShared(const Definition &def) {
  if (std::optional<ScanAxis> scan = recognizeScan(def)) // Its scanned index runs innermost.
    return scan->index;
  if (topReduce(def) && preferredVectorAxis(def).axis == VectorAxis::Spatial)
    return def.indices.size() - 1;
  return def.indices.size();
}

} // namespace

FusedKernel fuse(const Kernel &kernel, StencilWindows windows) {
  FusedKernel result;
  std::vector<Definition> defs = kernel.defs;
  std::vector<std::string> decisions;

  // Liveness, from the back: outputs, and whatever a live definition reads.
  std::vector<bool> kept(defs.size(), false);
  for (size_t q = defs.size(); q-- > 0;) {
    kept[q] = defs[q].target->role == BufferRole::Output;
    for (size_t r = q + 1; r < defs.size() && !kept[q]; ++r)
      if (kept[r])
        for (const Access *a : accessesIn(defs[r].value))
          kept[q] = kept[q] || a->buffer == defs[q].target;
  }

  // The partial reductions of box reductions split by rows: each kept for a window.
  std::set<const BufferNode *> rowParts;
  for (size_t p = 0; p < defs.size(); ++p) {
    if (!kept[p]) {
      decisions.push_back(defs[p].target->name + ": removed: nothing that is kept reads it");
      continue;
    }
    if (std::optional<RowSplit> split;
        windows == StencilWindows::On && (split = splitBoxByRows(defs[p]))) {
      decisions.push_back(defs[p].target->name + ": " + split->reason);
      rowParts.insert(split->rows.target.get());
      defs[p] = split->columns;
      defs.insert(defs.begin() + static_cast<std::ptrdiff_t>(p), split->rows);
      kept.insert(kept.begin() + static_cast<std::ptrdiff_t>(p), true);
    }
    const Definition &d = defs[p];
    const std::string &name = d.target->name;
    bool isOutput = d.target->role == BufferRole::Output;
    std::vector<Use> uses;
    for (size_t q = p + 1; q < defs.size(); ++q) {
      if (!kept[q])
        continue;
      UseFinder finder(d.target, defs[q], q);
      finder.visit(defs[q].value);
      uses.insert(uses.end(), finder.uses.begin(), finder.uses.end());
    }
    if (topReduce(d)) {
      decisions.push_back(name + ": kept: a reduction, computed once per point of its " +
                          std::to_string(d.indices.size()) + "-d domain");
      continue;
    }
    if (uses.empty()) {
      TDSL_CHECK(isOutput) << "live intermediate " << name << " without readers";
      decisions.push_back(name + ": stored: an output");
      continue;
    }
    if (rowParts.count(d.target.get())) {
      decisions.push_back(name + ": materialized for a window: its rows are read " +
                          std::to_string(uses.size()) + " times by " +
                          defs[uses.front().consumer].target->name);
      continue;
    }
    InlineDecision decision = decideInline(d, uses, defs, windows);
    decisions.push_back(name + ": " + decision.reason);
    if (!decision.inlineIt)
      continue;
    std::set<size_t> consumers;
    for (const Use &u : uses)
      consumers.insert(u.consumer);
    for (size_t q : consumers)
      defs[q].value = Inliner(d, defs[q]).mutate(defs[q].value);
    if (!isOutput)
      kept[p] = false;
  }

  result.kernel = kernel;
  result.kernel.defs.clear();
  for (size_t p = 0; p < defs.size(); ++p)
    if (kept[p])
      result.kernel.defs.push_back(defs[p]);
  const std::vector<Definition> &live = result.kernel.defs;

  // Groups, greedily over consecutive definitions.
  std::vector<size_t> groupOf(live.size());
  std::map<const BufferNode *, size_t> producedBy; // The group of each definition placed.
  for (size_t q = 0; q < live.size(); ++q) {
    const Definition &d = live[q];
    const std::string &name = d.target->name;
    if (!result.groups.empty()) {
      FusedGroup &g = result.groups.back();
      const Definition &first = live[g.members.front()];
      size_t limit = std::min(g.sharedDims, maxShared(d));
      size_t l = 0;
      while (l < limit && structurallyEqual(d.indices[l].extent, first.indices[l].extent))
        ++l;
      std::string why;
      bool related = false, dependent = false;
      std::string blocker;
      for (const Access *a : accessesIn(d.value)) {
        bool isMember = false;
        for (size_t m : g.members)
          isMember |= live[m].target == a->buffer;
        size_t prefix = leadingPrefix(*a, d);
        if (isMember) {
          if (prefix < l && blocker.empty())
            blocker = a->buffer->name;
          l = std::min(l, prefix);
          if (!dependent)
            why = "reads " + a->buffer->name + " at its own leading index";
          related = dependent = true;
          continue;
        }
        // A sibling: reads the same tensor rows as a member.
        for (size_t m : g.members)
          for (const Access *b : accessesIn(live[m].value))
            if (b->buffer == a->buffer && !related && prefix >= 1 &&
                leadingPrefix(*b, live[m]) >= 1) {
              related = true;
              why = "reads the same rows of " + a->buffer->name + " as " + live[m].target->name;
            }
        // A stencil sibling: reads rows near its own of a tensor that one earlier group computes
        // together with (or as) a tensor a member reads near its rows (Harris's box sums of
        // ix * ix, iy * iy and ix * iy), so the rows both need are computed for both at once.
        auto source = producedBy.find(a->buffer.get());
        for (size_t m : g.members)
          for (const Access *b : accessesIn(live[m].value)) {
            auto other = producedBy.find(b->buffer.get());
            bool sameSource = b->buffer == a->buffer ||
                              (source != producedBy.end() && other != producedBy.end() &&
                               source->second == other->second);
            std::optional<RowReach> here = rowReach(*a, d), there = rowReach(*b, live[m]);
            if (!related && sameSource && here && there && here->dim == there->dim) {
              related = true;
              why = "reads rows near its own of " + a->buffer->name + ", as " +
                    live[m].target->name + " does of " + b->buffer->name;
            }
          }
      }
      if (l >= 1 && related) {
        g.sharedDims = l;
        g.members.push_back(q);
        groupOf[q] = result.groups.size() - 1;
        producedBy[d.target.get()] = groupOf[q];
        decisions.push_back(name + ": joins group " + std::to_string(result.groups.size() - 1) +
                            " (" + std::to_string(l) + " shared dim" + (l > 1 ? "s" : "") +
                            "): " + why);
        continue;
      }
      std::string reason;
      if (!blocker.empty())
        reason = "reads " + blocker + " at another leading index";
      else if (g.sharedDims == 0 || maxShared(d) == 0)
        reason = g.sharedDims == 0 ? "the previous group has no loop to share"
                                   : "it has no loop to share";
      else if (l == 0)
        reason = "its leading extents differ from the group's";
      else
        reason = "shares no data with group " + std::to_string(result.groups.size() - 1);
      decisions.push_back(name + ": starts group " + std::to_string(result.groups.size()) + ": " +
                          reason);
    } else {
      decisions.push_back(name + ": starts group 0");
    }
    FusedGroup g;
    g.members.push_back(q);
    g.sharedDims = maxShared(d);
    result.groups.push_back(g);
    groupOf[q] = result.groups.size() - 1;
    producedBy[d.target.get()] = groupOf[q];
  }

  // Storage: an intermediate read only inside its own group lives per shared iteration.
  result.storage.assign(live.size(), Storage::Tensor);
  for (size_t q = 0; q < live.size(); ++q) {
    const Definition &d = live[q];
    if (d.target->role == BufferRole::Output)
      continue;
    std::string outside;
    for (size_t r = q + 1; r < live.size() && outside.empty(); ++r)
      for (const Access *a : accessesIn(live[r].value))
        if (a->buffer == d.target && groupOf[r] != groupOf[q])
          outside = live[r].target->name;
    const FusedGroup &g = result.groups[groupOf[q]];
    if (outside.empty() && g.sharedDims >= 1) {
      result.storage[q] = Storage::Local;
      size_t rest = d.indices.size() - g.sharedDims;
      decisions.push_back(
          d.target->name + ": local to group " + std::to_string(groupOf[q]) + ": " +
          (rest == 0 ? std::string("one value") : std::to_string(rest) + "-d slice") +
          " per shared iteration");
    } else if (!outside.empty()) {
      decisions.push_back(d.target->name + ": stored whole: read by " + outside +
                          " in another group");
    } else {
      decisions.push_back(d.target->name + ": stored whole: its group shares no loop");
    }
  }
  result.decisions = std::move(decisions);
  return result;
}

namespace {

/// Whether the members of group `p` can be Windows of group `p + 1`, and with which halo; `why`
/// says why not.
std::optional<FusedGroup::Halo> stencilHalo(const FusedKernel &fused, size_t p, std::string &why) {
  const std::vector<Definition> &defs = fused.kernel.defs;
  const FusedGroup &producers = fused.groups[p];
  const FusedGroup &consumers = fused.groups[p + 1];
  std::set<const BufferNode *> produced;
  for (size_t q : producers.members) {
    const Definition &producer = defs[q];
    if (producers.sharedDims < 1 || topReduce(producer) ||
        producer.target->role != BufferRole::Intermediate || producer.indices.size() < 2 ||
        (fused.storage[q] != Storage::Tensor && fused.storage[q] != Storage::Local))
      return std::nullopt; // Not elementwise intermediates over shared rows. Producers that read
                           // a window themselves nest: theirs is computed per block of the rows
                           // this window needs. A member local to its row stays so.
    if (fused.storage[q] == Storage::Tensor)
      produced.insert(producer.target.get());
  }
  if (produced.empty())
    return std::nullopt;
  if (consumers.halo || consumers.sharedDims < 1) {
    why = "its readers share no rows";
    return std::nullopt;
  }
  FusedGroup::Halo halo;
  bool allElementwise = true;
  for (size_t m : consumers.members) {
    std::string notWhy;
    if (findContraction(defs[m], notWhy)) {
      why = defs[m].target->name + " is a tiled contraction";
      return std::nullopt;
    }
    allElementwise &= !topReduce(defs[m]) && defs[m].indices.size() == consumers.sharedDims;
    for (const Access *a : accessesIn(defs[m].value)) {
      if (!produced.count(a->buffer.get()))
        continue;
      std::optional<RowReach> reach = rowReach(*a, defs[m]);
      if (!reach || reach->dim != 0 || reach->below < -kMaxHalo || reach->above > kMaxHalo) {
        why = defs[m].target->name + " reads " + a->buffer->name +
              " at rows that are not its own plus a constant";
        return std::nullopt;
      }
      halo.below = std::min(halo.below, reach->below);
      halo.above = std::max(halo.above, reach->above);
    }
  }
  if (allElementwise && consumers.sharedDims == 1) {
    why = "its readers' only loop is their vector axis";
    return std::nullopt;
  }
  for (size_t g = p + 2; g < fused.groups.size(); ++g)
    for (size_t m : fused.groups[g].members)
      for (const Access *a : accessesIn(defs[m].value))
        if (produced.count(a->buffer.get())) {
          why = "read by " + defs[m].target->name + " too";
          return std::nullopt;
        }
  return halo;
}

} // namespace

FusedKernel fuseStencils(const FusedKernel &fused) {
  FusedKernel out = fused;
  auto inChain = [&](size_t g) {
    return std::any_of(out.chains.begin(), out.chains.end(),
                       [&](const RowChain &c) { return c.first <= g && g <= c.last; });
  };
  for (size_t p = 0; p + 1 < out.groups.size(); ++p) {
    if (inChain(p) || inChain(p + 1)) // A chain's groups run per block of their own rows.
      continue;
    std::string why;
    std::optional<FusedGroup::Halo> halo = stencilHalo(out, p, why);
    if (!halo)
      continue;
    out.groups[p + 1].halo = halo;
    std::string reader = out.kernel.defs[out.groups[p + 1].members.front()].target->name;
    for (size_t q : out.groups[p].members) {
      if (out.storage[q] != Storage::Tensor)
        continue;
      out.storage[q] = Storage::Window;
      out.decisions.push_back(out.kernel.defs[q].target->name + ": computed per block of " +
                              reader + "'s rows with a halo of rows " +
                              std::to_string(halo->below) + " to +" + std::to_string(halo->above) +
                              " (a stencil across rows), not stored whole");
    }
  }
  return out;
}

bool hasWindows(const FusedKernel &fused, const FusedGroup &group) {
  return std::any_of(group.members.begin(), group.members.end(),
                     [&](size_t m) { return fused.storage[m] == Storage::Window; });
}

std::string toString(const FusedKernel &fused) {
  // The definitions print as the tensor stage does, one line each after the header.
  std::vector<std::string> lines;
  std::istringstream text(ir::toString(fused.kernel));
  for (std::string line; std::getline(text, line);)
    lines.push_back(line);
  TDSL_CHECK(lines.size() == fused.kernel.defs.size() + 1) << "a definition printed on two lines";
  std::string out = lines[0] + "\n";
  for (size_t g = 0; g < fused.groups.size(); ++g) {
    const FusedGroup &group = fused.groups[g];
    out += "  group " + std::to_string(g) + ": " + std::to_string(group.sharedDims) +
           " shared dim" + (group.sharedDims == 1 ? "" : "s") + "\n";
    for (size_t m : group.members)
      out += "  " + lines[m + 1] +
             (fused.storage[m] == Storage::Local    ? "  [local]"
              : fused.storage[m] == Storage::Window ? "  [window]"
                                                    : "") +
             "\n";
  }
  out += "  decisions:\n";
  for (const std::string &d : fused.decisions)
    out += "    " + d + "\n";
  return out;
}

} // namespace tdsl::passes
