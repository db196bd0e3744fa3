// contraction: which definitions are GEMMs in disguise. See Contraction.h.
#include "passes/Contraction.h"

#include "ir/Affine.h"
#include "ir/ExprEqual.h"
#include "ir/IRPrinter.h"
#include "ir/IRVisitor.h"
#include "passes/Fuse.h"

#include <algorithm>
#include <set>

namespace tdsl::passes {
namespace {

using namespace ir;

/// Index variables read by an expression; whether it has a reduction or a non-f32 read. A `??`
/// default is fine: packing evaluates each factor at its own indices, defaults included.
class FactorScan : public IRVisitor {
public:
  std::set<const VarNode *> vars;
  bool unsupported = false;

protected:
  void visitVarRef(const VarRef *n) override {
    if (n->var->kind == VarKind::Index)
      vars.insert(n->var.get());
  }
  void visitAccess(const Access *n) override {
    unsupported |= n->buffer->dtype != DType::F32;
    IRVisitor::visitAccess(n);
  }
  void visitReduce(const Reduce *) override { unsupported = true; }
};

bool readsIndexVar(const Expr &e) {
  FactorScan s;
  s.visit(e);
  return !s.vars.empty();
}

} // namespace

std::optional<Contraction> findContraction(const Definition &def, std::string &why) {
  const Reduce *r = as<Reduce>(def.value);
  if (!r || r->op != ReduceOp::Sum) {
    why = "not a sum";
    return std::nullopt;
  }
  if (def.target->dtype != DType::F32 || r->type != Type::scalar(DType::F32)) {
    why = "not f32";
    return std::nullopt;
  }
  const Binary *prod = as<Binary>(r->body);
  if (!prod || prod->op != BinaryOp::Mul) {
    why = "the summand is not a product";
    return std::nullopt;
  }
  if (def.indices.size() < 2) {
    why = "fewer than two output indices";
    return std::nullopt;
  }
  for (const IterVar &axis : r->axes)
    if (readsIndexVar(axis.extent)) {
      why = "a reduction extent depends on an index";
      return std::nullopt;
    }
  FactorScan a, b;
  a.visit(prod->a);
  b.visit(prod->b);
  if (a.unsupported || b.unsupported) {
    why = "a factor has a reduction or a non-f32 read";
    return std::nullopt;
  }
  Contraction c;
  c.def = &def;
  c.n = def.indices.size() - 1;
  const VarNode *nVar = def.indices[c.n].var.get();
  bool aN = a.vars.count(nVar) != 0, bN = b.vars.count(nVar) != 0;
  if (aN == bN) {
    why = "the last index is read by both factors or by neither";
    return std::nullopt;
  }
  // rhs reads n; swapping the factors of a product is exact.
  c.lhs = bN ? prod->a : prod->b;
  c.rhs = bN ? prod->b : prod->a;
  const std::set<const VarNode *> &lv = bN ? a.vars : b.vars;
  const std::set<const VarNode *> &rv = bN ? b.vars : a.vars;
  for (size_t p = 0; p < c.n; ++p) {
    const VarNode *v = def.indices[p].var.get();
    if (lv.count(v) && !rv.count(v))
      c.m.push_back(p);
    else {
      c.outer.push_back(p);
      c.lhsReadsOuter |= lv.count(v) != 0;
    }
  }
  if (c.m.empty()) {
    why = "no output index is read by one factor only besides the last (a matrix-vector "
          "product is memory bound)";
    return std::nullopt;
  }
  c.k = r->axes;
  return c;
}

} // namespace tdsl::passes

namespace tdsl::passes {
namespace {

using namespace ir;

/// `d`'s domain is `first`'s: the same number of indices, with structurally equal extents (a
/// group may share only its leading dims, e.g. `x @ w` [N, K] with `t + x` [N, M]).
bool sameDomain(const Definition &d, const Definition &first) {
  if (d.indices.size() != first.indices.size())
    return false;
  for (size_t i = 0; i < d.indices.size(); ++i)
    if (!structurallyEqual(d.indices[i].extent, first.indices[i].extent))
      return false;
  return true;
}

/// Every access of `e` to one of `buffers` reads at exactly `def`'s own indices, in order.
bool readsAtOwnIndices(const Expr &e, const Definition &def,
                       const std::set<const BufferNode *> &buffers) {
  for (const Access *a : accessesIn(e)) {
    if (!buffers.count(a->buffer.get()))
      continue;
    if (a->indices.size() != def.indices.size())
      return false;
    for (size_t i = 0; i < a->indices.size(); ++i) {
      const VarRef *v = as<VarRef>(a->indices[i]);
      if (!v || v->var != def.indices[i].var)
        return false;
    }
  }
  return true;
}

/// Why contraction `c` of a group over `sharedDims` shared dims cannot be tiled over a block of
/// the last shared dim's rows, or empty when it can: the rows must be its only m index and the
/// shared dims before them its outer indices, so a block is one smaller GEMM.
std::string rowChainBreak(const Contraction &c, size_t sharedDims) {
  std::vector<size_t> outer(sharedDims - 1);
  for (size_t p = 0; p + 1 < sharedDims; ++p)
    outer[p] = p;
  if (c.m != std::vector<size_t>{sharedDims - 1} || c.outer != outer)
    return c.def->target->name + "'s rows are not its only m index after its outer indices";
  return "";
}

} // namespace

std::optional<TiledGroup> matchTiledGroup(const FusedKernel &fused, const FusedGroup &group,
                                          std::string &why) {
  const std::vector<Definition> &defs = fused.kernel.defs;
  const Definition &first = defs[group.members.front()];
  std::optional<Contraction> c = findContraction(first, why);
  if (!c)
    return std::nullopt;
  TiledGroup tg;
  tg.contraction = *c;
  tg.storeContraction = fused.storage[group.members.front()] != Storage::Local;
  if (tg.storeContraction)
    tg.partial = first.target;
  std::set<const BufferNode *> locals{first.target.get()};
  for (size_t m = 1; m < group.members.size(); ++m) {
    const Definition &d = defs[group.members[m]];
    if (topReduce(d) || !sameDomain(d, first)) {
      why = d.target->name + " is not elementwise over the contraction's domain";
      return std::nullopt;
    }
    for (const Access *a : accessesIn(d.value))
      if (a->fallback) {
        why = d.target->name + " has a ?? default";
        return std::nullopt;
      }
    if (!readsAtOwnIndices(d.value, d, locals)) {
      why = d.target->name + " reads the group at other indices";
      return std::nullopt;
    }
    locals.insert(d.target.get());
    tg.epilogue.push_back(group.members[m]);
    if (!tg.partial && fused.storage[group.members[m]] != Storage::Local &&
        d.target->dtype == DType::F32)
      tg.partial = d.target;
  }
  if (!tg.partial) {
    why = "no f32 tensor of the group to keep partial sums in";
    return std::nullopt;
  }
  return tg;
}

FusedKernel isolateContractions(const FusedKernel &fused) {
  FusedKernel out = fused;
  out.groups.clear();
  const std::vector<Definition> &defs = fused.kernel.defs;
  std::vector<size_t> groupOf(defs.size());
  std::vector<size_t> chainDecision; // Per chain, its decision's index.
  for (const FusedGroup &g : fused.groups) {
    std::string why;
    if (g.members.size() == 1 || matchTiledGroup(fused, g, why)) {
      out.groups.push_back(g);
      for (size_t m : g.members)
        groupOf[m] = out.groups.size() - 1;
      continue;
    }
    // Each contraction alone; the runs of members between contractions stay together.
    FusedGroup run;
    run.sharedDims = g.sharedDims;
    auto flush = [&] {
      if (run.members.empty())
        return;
      out.groups.push_back(run);
      for (size_t m : run.members)
        groupOf[m] = out.groups.size() - 1;
      run.members.clear();
    };
    size_t firstPart = out.groups.size();
    bool split = false;
    std::string notChain;
    for (size_t m : g.members) {
      std::string notWhy;
      if (std::optional<Contraction> c = findContraction(defs[m], notWhy)) {
        flush();
        run.members.push_back(m);
        flush();
        split = true;
        out.decisions.push_back(defs[m].target->name +
                                ": a group of its own: a tiled contraction (its group is not " +
                                "one contraction with an epilogue: " + why + ")");
        if (notChain.empty())
          notChain = rowChainBreak(*c, g.sharedDims);
      } else {
        run.members.push_back(m);
      }
    }
    flush();
    if (!split)
      continue;
    if (g.sharedDims == 0 || !notChain.empty()) {
      if (g.sharedDims > 0)
        out.decisions.push_back(defs[g.members.front()].target->name + " to " +
                                defs[g.members.back()].target->name +
                                ": not one row chain: " + notChain);
      continue;
    }
    out.chains.push_back(RowChain{firstPart, out.groups.size() - 1, g.sharedDims - 1});
    chainDecision.push_back(out.decisions.size());
    out.decisions.push_back(defs[g.members.front()].target->name + " to " +
                            defs[g.members.back()].target->name +
                            ": one row chain: its groups run per block of " +
                            defs[g.members.front()].indices[g.sharedDims - 1].var->name +
                            ", each contraction tiled over the block's rows");
  }
  // A local value read from another group is a window of its chain's rows when that group is in
  // the same chain (fusion grouped them, so it is read at the reader's own rows), else stored
  // whole.
  auto chainOf = [&](size_t group) -> std::optional<size_t> {
    for (size_t c = 0; c < out.chains.size(); ++c)
      if (out.chains[c].first <= group && group <= out.chains[c].last)
        return c;
    return std::nullopt;
  };
  for (size_t q = 0; q < defs.size(); ++q) {
    if (out.storage[q] != Storage::Local)
      continue;
    std::optional<size_t> chain = chainOf(groupOf[q]);
    std::string outside, inside;
    for (size_t r = q + 1; r < defs.size(); ++r) {
      bool reads = false;
      for (const Access *a : accessesIn(defs[r].value))
        reads |= a->buffer == defs[q].target;
      if (!reads || groupOf[r] == groupOf[q])
        continue;
      std::string &names = chain && chainOf(groupOf[r]) == chain ? inside : outside;
      names += (names.empty() ? "" : ", ") + defs[r].target->name;
    }
    if (!outside.empty()) {
      out.storage[q] = Storage::Tensor;
      out.decisions.push_back(defs[q].target->name + ": stored whole: read by " + outside +
                              " in another group");
    } else if (!inside.empty()) {
      const RowChain &c = out.chains[*chain];
      out.storage[q] = Storage::Window;
      out.decisions.push_back(defs[q].target->name + ": a window of the row chain of groups " +
                              std::to_string(c.first) + " to " + std::to_string(c.last) +
                              " (per block of " + defs[q].indices[c.rowDim].var->name +
                              "): read by " + inside +
                              " at its own rows, not stored whole where the chain runs");
    }
  }
  // A chain across whose groups no value is read saves nothing.
  std::vector<RowChain> kept;
  for (size_t c = 0; c < out.chains.size(); ++c) {
    bool windows = false;
    for (size_t g = out.chains[c].first; g <= out.chains[c].last; ++g)
      for (size_t m : out.groups[g].members)
        windows |= out.storage[m] == Storage::Window;
    std::string &decision = out.decisions[chainDecision[c]];
    if (windows)
      kept.push_back(out.chains[c]);
    else
      decision = decision.substr(0, decision.find(": ")) +
                 ": not one row chain: no value is read across its groups at their rows";
  }
  out.chains = std::move(kept);
  return out;
}

} // namespace tdsl::passes

namespace tdsl::passes {
namespace {

using namespace ir;

bool inChain(const FusedKernel &fused, size_t g) {
  for (const RowChain &c : fused.chains)
    if (c.first <= g && g <= c.last)
      return true;
  return false;
}

/// The rows [lo, hi] that `index` reads past `stride * row` (stride > 0, from `row`'s
/// coefficient), when the rest of `index` is constants and `axes` of constant extent; else
/// nullopt.
struct RowOffsets {
  int64_t stride = 0, lo = 0, hi = 0;
};
std::optional<RowOffsets> rowOffsets(const Expr &index, const Var &row,
                                     const std::vector<IterVar> &axes) {
  std::optional<AffineExpr> form = toAffine(index);
  if (!form)
    return std::nullopt;
  RowOffsets o{0, form->constant, form->constant};
  for (const auto &[atom, coefficient] : form->terms) {
    if (!atom.isVar())
      return std::nullopt;
    if (atom.var() == row) {
      o.stride = coefficient;
      continue;
    }
    const Var var = atom.var(); // A named copy: lambdas may not capture structured bindings
                                // before clang 16.
    auto axis =
        std::find_if(axes.begin(), axes.end(), [&](const IterVar &a) { return a.var == var; });
    const IntImm *extent = axis == axes.end() ? nullptr : as<IntImm>(axis->extent);
    if (!extent || extent->value < 1)
      return std::nullopt;
    int64_t reach = coefficient * (extent->value - 1);
    o.lo += std::min<int64_t>(0, reach);
    o.hi += std::max<int64_t>(0, reach);
  }
  if (o.stride < 1)
    return std::nullopt;
  return o;
}

} // namespace

std::optional<ConsumerTile> findConsumerTile(const FusedKernel &fused, size_t consumer,
                                             std::string &why) {
  const std::vector<Definition> &defs = fused.kernel.defs;
  if (consumer == 0 || consumer >= fused.groups.size()) {
    why = "no group before it";
    return std::nullopt;
  }
  ConsumerTile tile;
  tile.consumer = consumer;
  tile.producer = consumer - 1;
  const FusedGroup &pg = fused.groups[tile.producer], &cg = fused.groups[consumer];
  if (inChain(fused, tile.producer) || inChain(fused, consumer) || cg.halo) {
    why = "in a row chain or a stencil window";
    return std::nullopt;
  }
  std::optional<TiledGroup> tg = matchTiledGroup(fused, pg, why);
  if (!tg)
    return std::nullopt;
  const Contraction &c = tg->contraction;
  // Stored tensors of the producer, all intermediates.
  std::set<const BufferNode *> stored;
  for (size_t m : pg.members) {
    if (fused.storage[m] == Storage::Local)
      continue;
    if (defs[m].target->role != BufferRole::Intermediate) {
      why = defs[m].target->name + " is an output";
      return std::nullopt;
    }
    stored.insert(defs[m].target.get());
  }
  std::set<size_t> members(cg.members.begin(), cg.members.end());
  std::set<const BufferNode *> consumerTargets;
  for (size_t m : cg.members) {
    consumerTargets.insert(defs[m].target.get());
    std::string notWhy;
    if (fused.storage[m] == Storage::Window || findContraction(defs[m], notWhy)) {
      why = defs[m].target->name + " is a window or a contraction";
      return std::nullopt;
    }
  }
  for (size_t r = pg.members.back() + 1; r < defs.size(); ++r) {
    if (members.count(r))
      continue;
    for (const Access *a : accessesIn(defs[r].value))
      if (stored.count(a->buffer.get())) {
        why = "read by " + defs[r].target->name + " outside the next group";
        return std::nullopt;
      }
  }
  // The outer indices: the fixed dims, then the row.
  if (c.outer.empty()) {
    why = "no outer index to block";
    return std::nullopt;
  }
  tile.rowDim = c.outer.back();
  tile.fixedDims = c.outer.size() - 1;
  for (size_t i = 0; i < tile.fixedDims; ++i)
    if (c.outer[i] != i) {
      why = "its outer indices are not leading dims and one row";
      return std::nullopt;
    }
  const Definition &first = defs[cg.members.front()];
  const size_t shared = tile.rowDim + 1;
  bool offsetsSeen = false;
  for (size_t m : cg.members) {
    const Definition &d = defs[m];
    bool spatialReduction = topReduce(d) && preferredVectorAxis(d).axis == VectorAxis::Spatial;
    if (d.indices.size() < shared + (spatialReduction ? 1 : 0)) {
      why = d.target->name + " cannot share its dims up to the row";
      return std::nullopt;
    }
    for (size_t k = 0; k < shared; ++k)
      if (!structurallyEqual(d.indices[k].extent, first.indices[k].extent)) {
        why = d.target->name + "'s leading extents differ from its group's";
        return std::nullopt;
      }
    std::vector<IterVar> axes;
    if (const Reduce *r = topReduce(d))
      axes = r->axes;
    for (const Access *a : accessesIn(d.value)) {
      bool producer = stored.count(a->buffer.get()) != 0;
      if (!producer && !consumerTargets.count(a->buffer.get()))
        continue;
      // A member read at its own leading indices; the producer at the fixed dims only.
      size_t own = producer ? tile.fixedDims : shared;
      if (a->indices.size() < shared) {
        why = d.target->name + " reads " + a->buffer->name + " with fewer indices";
        return std::nullopt;
      }
      for (size_t k = 0; k < own; ++k) {
        const VarRef *v = as<VarRef>(a->indices[k]);
        if (!v || v->var != d.indices[k].var ||
            (producer && !structurallyEqual(c.def->indices[k].extent, d.indices[k].extent))) {
          why = d.target->name + " reads " + a->buffer->name + " at other leading indices";
          return std::nullopt;
        }
      }
      if (!producer)
        continue;
      std::optional<RowOffsets> o =
          rowOffsets(a->indices[tile.rowDim], d.indices[tile.rowDim].var, axes);
      if (!o || (offsetsSeen && o->stride != tile.stride)) {
        why = d.target->name + " reads " + a->buffer->name + "'s rows other than at a stride " +
              "of its own row plus constant offsets";
        return std::nullopt;
      }
      tile.lo = offsetsSeen ? std::min(tile.lo, o->lo) : o->lo;
      tile.hi = offsetsSeen ? std::max(tile.hi, o->hi) : o->hi;
      tile.stride = o->stride;
      offsetsSeen = true;
    }
  }
  // A few rows per row of the consumer: what a block recomputes of its neighbours' stays small.
  constexpr int64_t kMaxStride = 8, kMaxReach = 16;
  if (!offsetsSeen || tile.stride > kMaxStride || tile.hi - tile.lo >= kMaxReach) {
    why = "not read at a few rows per row of the next group";
    return std::nullopt;
  }
  return tile;
}

FusedKernel tileContractionConsumers(const FusedKernel &fused) {
  FusedKernel out = fused;
  const std::vector<Definition> &defs = out.kernel.defs;
  for (size_t g = 1; g < out.groups.size(); ++g) {
    std::string why;
    std::optional<ConsumerTile> tile = findConsumerTile(out, g, why);
    if (!tile)
      continue;
    FusedGroup &cg = out.groups[g];
    cg.sharedDims = std::max(cg.sharedDims, tile->rowDim + 1);
    const Definition &reader = defs[cg.members.front()];
    const Definition &producer = defs[out.groups[tile->producer].members.front()];
    std::string fixed;
    for (size_t k = 0; k < tile->fixedDims; ++k)
      fixed += (k == 0 ? "" : ", ") + producer.indices[k].var->name;
    auto offset = [](int64_t v) {
      return v < 0 ? " - " + std::to_string(-v) : " + " + std::to_string(v);
    };
    std::string row = producer.indices[tile->rowDim].var->name;
    std::string at = (tile->stride == 1 ? "" : std::to_string(tile->stride) + " * ") +
                     reader.indices[tile->rowDim].var->name;
    for (size_t m : out.groups[tile->producer].members) {
      if (out.storage[m] == Storage::Local)
        continue;
      out.storage[m] = Storage::Window;
      out.decisions.push_back(
          defs[m].target->name + ": a window of group " + std::to_string(g) + "'s tiles (per " +
          (fixed.empty() ? std::string() : "point of " + fixed + " and ") + "block of " +
          reader.indices[tile->rowDim].var->name + "): read only there, at " + row + " = " + at +
          offset(tile->lo) + " to " + at + offset(tile->hi) +
          ", so the tiled contraction computes those rows for each tile, not stored whole");
    }
    out.decisions.push_back(reader.target->name + " to " + defs[cg.members.back()].target->name +
                            ": group " + std::to_string(g) + " shares " +
                            std::to_string(cg.sharedDims) + " dims, up to the rows of its tiles");
  }
  return out;
}

} // namespace tdsl::passes
