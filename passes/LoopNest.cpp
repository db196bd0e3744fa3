// Loop-level programs from normalized tensor IR, in two forms:
//  - buildLoopNest: the plain form. Every definition becomes one nest of serial loops over its
//    domain, in order; a reduction accumulates into a one-element stack buffer inside that nest;
//    tensor accesses become loads at flat row-major indices. The CUDA backend maps these nests.
//  - lowerScheduled: a fused kernel under its CPU schedule. Each fused group becomes one nest of
//    shared loops (the outermost parallel when the schedule says so, rows blocked when a heap
//    slice needs amortizing), inside which each member has its own nest; group-local values live
//    in lets, stack slices or heap slices instead of whole tensors. A vectorized axis of extent E
//    and W lanes becomes `for j.outer in [0, (E + W - 1) // W)` around
//    `for j.inner in [0, W) vectorized` and a guard `j < E` (left out when W divides a constant
//    E); a reduction vectorized along its own axis accumulates in a W-lane stack vector that one
//    VectorReduce finishes. `passes::vectorize` then turns the Vectorized loops into vectors.
// An argmax or argmin is a scalar (value, index) pair in both forms (argReduction).
#include "ir/ExprEqual.h"
#include "ir/IRVisitor.h"
#include "passes/Pipeline.h"
#include "passes/Scan.h"
#include "passes/Schedule.h"
#include "passes/Tile.h"
#include "support/Check.h"

#include <limits>
#include <map>
#include <optional>

namespace tdsl::passes {
namespace {

using namespace ir;

/// `e` when `outer` is `e // d` and `inner` is `e % d` for the tensor's next dim `d`, else null.
Expr splitOf(const Expr &outer, const Expr &inner, const Expr &dim) {
  const Binary *q = as<Binary>(outer), *r = as<Binary>(inner);
  if (!q || !r || q->op != BinaryOp::FloorDiv || r->op != BinaryOp::Mod)
    return nullptr;
  ExprEqual same;
  return same(q->a, r->a) && same(q->b, r->b) && same(q->b, dim) ? q->a : nullptr;
}

/// The flat row-major index of `indices` into a tensor of `shape`: ((i0 * d1) + i1) * d2 + ...
/// A pair `e // d, e % d` over a dim d (flatten's `x[i // W, i % W]`) is e itself: the access
/// only runs in bounds, and d == 0 leaves the tensor no element to read.
Expr flatIndex(const std::vector<Expr> &shape, const std::vector<Expr> &indices) {
  TDSL_CHECK(shape.size() == indices.size()) << "index count differs from rank";
  if (indices.empty())
    return intImm(0);
  Expr flat = indices[0];
  Expr before; // The flat index of the indices before k - 1; null for none.
  for (size_t k = 1; k < indices.size(); ++k) {
    Expr next;
    if (Expr e = splitOf(indices[k - 1], indices[k], shape[k]))
      next = before ? add(mul(mul(before, shape[k - 1]), shape[k]), e) : e;
    else
      next = add(mul(flat, shape[k]), indices[k]);
    before = flat;
    flat = next;
  }
  return flat;
}

/// The identity of a reduction: the value reducing zero points gives.
Expr identity(ReduceOp op, Type t) {
  if (t.isBool()) {
    TDSL_CHECK(op == ReduceOp::Max || op == ReduceOp::Min) << "sum or product of bool";
    return boolImm(op == ReduceOp::Min);
  }
  bool isFloat = t.isFloat();
  switch (op) {
  case ReduceOp::Sum:
  case ReduceOp::Mean:
    return isFloat ? FloatImm::make(t, 0.0) : IntImm::make(t, 0);
  case ReduceOp::Prod:
    return isFloat ? FloatImm::make(t, 1.0) : IntImm::make(t, 1);
  case ReduceOp::Max:
    if (isFloat)
      return FloatImm::make(t, -std::numeric_limits<double>::infinity());
    return IntImm::make(t, intMin(t.dtype));
  case ReduceOp::Min:
    if (isFloat)
      return FloatImm::make(t, std::numeric_limits<double>::infinity());
    return IntImm::make(t, intMax(t.dtype));
  case ReduceOp::ArgMax:
  case ReduceOp::ArgMin:
    break; // A (value, index) pair: see argReduction.
  }
  TDSL_UNREACHABLE("no identity for this reduction");
}

/// One step of a reduction: the accumulator combined with one more value.
Expr combine(ReduceOp op, Expr acc, Expr value) {
  bool isBool = acc->type.isBool();
  switch (op) {
  case ReduceOp::Sum:
  case ReduceOp::Mean:
    return add(std::move(acc), std::move(value));
  case ReduceOp::Prod:
    return mul(std::move(acc), std::move(value));
  case ReduceOp::Max:
    return Binary::make(isBool ? BinaryOp::Or : BinaryOp::Max, std::move(acc), std::move(value));
  case ReduceOp::Min:
    return Binary::make(isBool ? BinaryOp::And : BinaryOp::Min, std::move(acc), std::move(value));
  case ReduceOp::ArgMax:
  case ReduceOp::ArgMin:
    break; // A (value, index) pair: see argReduction.
  }
  TDSL_UNREACHABLE("no single combine for this reduction");
}

/// The reduction's result from its accumulated value: Mean divides by the number of points
/// (zero points give 0 / 0 = NaN); f16/bf16 targets round once, here.
Expr finish(const Reduce *r, Expr acc, const std::vector<Expr> &extents, Type storeType) {
  if (r->op == ReduceOp::Mean) {
    // A triangular extent may be negative at some points: they have no points.
    auto points = [&](size_t k) {
      return usesIndexVars(r->axes[k].extent) ? Binary::make(BinaryOp::Max, extents[k], intImm(0))
                                              : extents[k];
    };
    Expr count = points(0);
    for (size_t k = 1; k < extents.size(); ++k)
      count = mul(count, points(k));
    acc = Binary::make(BinaryOp::Div, acc, Cast::make(r->type, count));
  }
  return storeType != r->type ? Cast::make(storeType, acc) : acc;
}

/// How a group-local definition is read: a slice buffer indexed by the dims after the shared
/// ones, or a let-bound value.
struct LocalRef {
  Buffer slice;
  Var let;
  size_t shared = 0;
  /// A Window (see Storage::Window): the slice holds rows from `rowBase` on, and is indexed by
  /// the dims from `shared` on, the one at `rowAt` among them less rowBase.
  Expr rowBase;
  size_t rowAt = 0;
  /// A sliding window (see slideWindows) holds only the `ring` rows still read: row r at
  /// r mod ring, whatever the block.
  int64_t ring = 0;
  /// In a split chain's chunk (see RowWindow::colBase): the last dim less colBase.
  Expr colBase;
  /// Where row `row` of the tensor lies in the window.
  Expr rowIn(const Expr &row) const {
    return ring ? Binary::make(BinaryOp::Mod, row, intImm(ring)) : sub(row, rowBase);
  }
  /// Indices of the window's dims (from `shared` on) moved to where they lie in it.
  void moveIntoWindow(std::vector<Expr> &indices) const {
    indices[rowAt] = rowIn(indices[rowAt]);
    if (colBase)
      indices.back() = sub(indices.back(), colBase);
  }
};
using LocalMap = std::map<const BufferNode *, LocalRef>;

/// Lowers the expressions of one definition: index variables to the loop values bound to them,
/// accesses to loads (group-local ones to their slice or let), `??` to predicated loads.
class ExprLowering : public IRMutator {
public:
  struct Binding {
    Var index;
    Expr value;  // Lowered; always in [0, extent) where it is used.
    Expr extent; // Lowered.
  };
  std::vector<Binding> bindings;
  const LocalMap *locals = nullptr;

  /// A fresh loop counter named like the index variable it replaces, bound to it.
  Var bindLoop(const IterVar &iv) {
    Var loop = makeVar(iv.var->name, Type::i64(), VarKind::Loop);
    bindings.push_back(Binding{iv.var, ir::ref(loop), mutate(iv.extent)});
    return loop;
  }
  void bindValue(const Var &index, Expr value, Expr extent) {
    bindings.push_back(Binding{index, std::move(value), std::move(extent)});
  }
  /// Binds an already bound index variable to another value (the next vector lane's).
  void rebind(const Var &index, Expr value) {
    for (size_t k = bindings.size(); k-- > 0;)
      if (bindings[k].index == index) {
        bindings[k].value = std::move(value);
        return;
      }
    TDSL_UNREACHABLE("rebinding an unbound index variable");
  }
  void unbind(const Var &index) {
    for (size_t k = bindings.size(); k-- > 0;)
      if (bindings[k].index == index) {
        bindings.erase(bindings.begin() + static_cast<std::ptrdiff_t>(k));
        return;
      }
    TDSL_UNREACHABLE("unbinding an unbound index variable");
  }

protected:
  Expr visitVarRef(const VarRef *n, const Expr &self) override {
    if (n->var->kind != VarKind::Index)
      return self;
    for (size_t k = bindings.size(); k-- > 0;)
      if (bindings[k].index == n->var)
        return bindings[k].value;
    TDSL_CHECK(false) << "index variable " << n->var->name << " is not bound by a loop";
    return self;
  }

  Expr visitAccess(const Access *n, const Expr &self) override {
    std::vector<Expr> indices;
    for (const Expr &i : n->indices)
      indices.push_back(mutate(i));
    Buffer buffer = n->buffer;
    std::vector<Expr> shape = n->buffer->shape;
    Expr flat;
    if (locals) {
      auto it = locals->find(n->buffer.get());
      if (it != locals->end()) {
        const LocalRef &local = it->second;
        TDSL_CHECK(indices.size() >= local.shared) << "local read with too few indices";
        if (local.let) {
          TDSL_CHECK(!n->fallback || indices.size() == local.shared) << "local let with a default";
          return ir::ref(local.let);
        }
        buffer = local.slice;
        if (local.rowBase) {
          // The bounds below stay the whole tensor's: only the rows in memory move.
          std::vector<Expr> inWindow(indices.begin() + static_cast<std::ptrdiff_t>(local.shared),
                                     indices.end());
          local.moveIntoWindow(inWindow);
          flat = flatIndex(local.slice->shape, inWindow);
        } else {
          indices.erase(indices.begin(),
                        indices.begin() + static_cast<std::ptrdiff_t>(local.shared));
          shape = local.slice->shape;
        }
      }
    }
    if (!flat)
      flat = flatIndex(shape, indices);
    if (!n->fallback)
      return Load::make(buffer, flat);
    // `x[i - 1] ?? 0.0`: the load happens only where every index is in bounds; the predicate
    // keeps it from touching memory elsewhere.
    Expr inBounds;
    for (size_t k = 0; k < indices.size(); ++k) {
      auto conjoin = [&](Expr c) {
        inBounds = inBounds ? Binary::make(BinaryOp::And, inBounds, c) : c;
      };
      // A check that the loop's own range already guarantees is left out: for `i + c` with i
      // in [0, extent), `0 <= i + c` when c >= 0 and `i + c < dim` when c <= 0, extent == dim.
      std::optional<LoopOffset> lo = loopOffset(indices[k]);
      if (!lo || lo->offset < 0)
        conjoin(Binary::make(BinaryOp::Le, intImm(0), indices[k]));
      if (!lo || lo->offset > 0 || !structurallyEqual(lo->extent, shape[k]))
        conjoin(Binary::make(BinaryOp::Lt, indices[k], shape[k]));
    }
    Expr fallback = mutate(n->fallback);
    if (!inBounds)
      return Load::make(buffer, flat);
    return Select::make(inBounds, Load::make(buffer, flat, inBounds), fallback);
  }

  Expr visitReduce(const Reduce *, const Expr &) override {
    TDSL_UNREACHABLE("lowering requires a normalized kernel (a nested reduction remains)");
  }

private:
  /// An index of the form `value + offset` (offset constant) for a bound value, with its extent.
  struct LoopOffset {
    Expr extent;
    int64_t offset;
  };
  std::optional<LoopOffset> loopOffset(const Expr &index) const {
    for (size_t k = bindings.size(); k-- > 0;) {
      const Binding &b = bindings[k];
      if (!b.value)
        continue;
      Expr diff = simplify(sub(index, b.value));
      if (const IntImm *d = as<IntImm>(diff))
        return LoopOffset{b.extent, d->value};
    }
    return std::nullopt;
  }
};

/// Whether `value` beats `best` for an argmax (argmin): value > best (value < best), or, for
/// floats, value is NaN and best is not. A tie or a later NaN does not beat: the first position
/// wins, as in NumPy.
Expr argBeats(ReduceOp op, const Expr &value, const Expr &best) {
  bool isMax = op == ReduceOp::ArgMax;
  if (!value->type.isFloat())
    return Binary::make(isMax ? BinaryOp::Gt : BinaryOp::Lt, value, best);
  // v > best, or v is NaN and best is not, is: best is not NaN and not v <= best (two compares
  // where the plain form takes three and two mask operations, in every vector step).
  return Binary::make(
      BinaryOp::And, Binary::make(BinaryOp::Eq, best, best),
      Unary::make(UnaryOp::Not, Binary::make(isMax ? BinaryOp::Le : BinaryOp::Ge, value, best)));
}

/// An argmax (argmin) as a scalar (value, index) pair in two one-element stack buffers:
///   best = 0; at = -1
///   for k: let v = body; if (at < 0 or v beats best) { best = v; at = k }
///   target[index] = at
/// where `v beats best` is v > best (v < best), or, for floats, v is NaN and best is not: a tie
/// or a later NaN keeps the first position, as NumPy does. `best` starts at 0 only so that no
/// load reads uninitialized memory. GroupLowering::vectorArgReduction is the form with a pair a
/// lane.
Stmt argReduction(ExprLowering &lw, const Reduce *r, const std::string &name, const Buffer &target,
                  const Expr &index, Type storeType) {
  Type t = r->body->type;
  Buffer best = makeBuffer(name + ".best", t.dtype, {intImm(1)}, BufferRole::Intermediate);
  Buffer at = makeBuffer(name + ".at", DType::I64, {intImm(1)}, BufferRole::Intermediate);
  Expr zero = intImm(0);
  const IterVar &axis = r->axes.front();
  Var loop = lw.bindLoop(axis);
  Expr extent = lw.bindings.back().extent;
  Var v = makeVar(name + ".v", t, VarKind::Let);
  Expr value = ir::ref(v), bestValue = Load::make(best, zero);
  Expr take = Binary::make(BinaryOp::Or, Binary::make(BinaryOp::Lt, Load::make(at, zero), zero),
                           argBeats(r->op, value, bestValue));
  Stmt update = IfThenElse::make(
      take, Block::make({Store::make(best, zero, value), Store::make(at, zero, ir::ref(loop))}));
  Stmt scan =
      For::make(loop, extent, ForKind::Serial, LetStmt::make(v, lw.mutate(r->body), update));
  lw.unbind(axis.var);
  Expr result = Load::make(at, zero);
  if (storeType != result->type)
    result = Cast::make(storeType, result);
  Stmt init = Block::make(
      {Store::make(best, zero, t.isFloat() ? FloatImm::make(t, 0.0) : IntImm::make(t, 0)),
       Store::make(at, zero, intImm(-1))});
  return Allocate::make(
      best, MemoryScope::Stack,
      Allocate::make(at, MemoryScope::Stack,
                     Block::make({init, scan, Store::make(target, index, result)})));
}

/// A loop split for W lanes: `outer` over (E + W - 1) // W, the vectorized `inner` (a fresh
/// variable per use), and the guard `outer * W + inner < E` when E may not be a multiple of W.
struct VectorSplit {
  Var outer;
  Expr outerExtent;
  Expr extent;
  int lanes;
  bool guarded;
  std::string name;

  VectorSplit(const std::string &name, const Expr &extent, int lanes)
      : extent(extent), lanes(lanes), name(name) {
    outer = makeVar(name + ".outer", Type::i64(), VarKind::Loop);
    outerExtent =
        simplify(Binary::make(BinaryOp::FloorDiv, add(extent, intImm(lanes - 1)), intImm(lanes)));
    Expr simplified = simplify(extent);
    const IntImm *e = as<IntImm>(simplified);
    guarded = !(e && e->value % lanes == 0);
  }
  Var newInner() const { return makeVar(name + ".inner", Type::i64(), VarKind::Loop); }
  Expr value(const Var &inner) const {
    return add(mul(ir::ref(outer), intImm(lanes)), ir::ref(inner));
  }
  /// `for inner in [0, W) vectorized { if (value < E) body }`.
  Stmt innerLoop(const Var &inner, Stmt body, bool guard = true) const {
    if (guarded && guard)
      body = IfThenElse::make(Binary::make(BinaryOp::Lt, value(inner), extent), body);
    return For::make(inner, intImm(lanes), ForKind::Vectorized, body);
  }
};

/// A prefix reduction (see Scan.h) along the definition's index j, the innermost loop here:
///   acc = identity; for k in [0, offset - 1): acc = combine(acc, body)
///   for j: { if (j + offset - 1 >= 0) acc = combine(acc, body at k = j + offset - 1)
///            target[index] = finish(acc) }                    (mean: over max(j + offset, 0))
/// With `lanes` W > 1, j runs in blocks of W: the block's new points (the identity past the end
/// and where k < 0) fill a W-lane buffer, which log2(W) shifted combines turn into its own prefix
/// (lane l combines lane l - 2^s, for s = 0, 1, ...); lane l of the result is then the carry
/// combined with it, and the result's last lane, broadcast, becomes the next carry (a vector,
/// so the loop-carried path is one permute). The association depends only on W.
template <typename IndexFn>
Stmt scanNest(ExprLowering &lw, const Reduce *r, const ScanAxis &scan, const IterVar &j, int lanes,
              const std::string &name, const Buffer &target, IndexFn &&storeIndex, Type storeType) {
  Type t = r->type;
  Expr zero = intImm(0);
  Buffer acc = makeBuffer(name + ".acc", t.dtype, {intImm(1)}, BufferRole::Intermediate);
  const IterVar &k = r->axes.front();
  Expr offset = lw.mutate(scan.offset);
  Expr before = simplify(sub(offset, intImm(1))); // k's points before j = 0.
  auto body = [&](Expr kValue, Expr kExtent) {
    lw.bindValue(k.var, std::move(kValue), std::move(kExtent));
    Expr value = lw.mutate(r->body);
    lw.unbind(k.var);
    return value;
  };
  auto accumulate = [&](Expr value) {
    return Store::make(acc, zero, combine(r->op, Load::make(acc, zero), std::move(value)));
  };
  Var k0 = makeVar(k.var->name, Type::i64(), VarKind::Loop);
  Stmt prologue = For::make(k0, before, ForKind::Serial, accumulate(body(ir::ref(k0), before)));
  const IntImm *c = as<IntImm>(before);
  bool kMayBeNegative = !(c && c->value >= 0);
  Expr extent = lw.mutate(j.extent);
  Expr kExtent = add(extent, before);
  Stmt loop;
  if (lanes <= 1) {
    Var jl = makeVar(j.var->name, Type::i64(), VarKind::Loop);
    lw.bindValue(j.var, ir::ref(jl), extent);
    Expr kj = add(ir::ref(jl), before);
    Stmt step = accumulate(body(kj, kExtent));
    if (kMayBeNegative)
      step = IfThenElse::make(Binary::make(BinaryOp::Le, zero, kj), step);
    Expr result =
        finish(r, Load::make(acc, zero), std::vector<Expr>{add(ir::ref(jl), offset)}, storeType);
    loop = For::make(jl, extent, ForKind::Serial,
                     Block::make({step, Store::make(target, storeIndex(), result)}));
    lw.unbind(j.var);
  } else {
    VectorSplit split(j.var->name, extent, lanes);
    Buffer block = makeBuffer(name + ".block", t.dtype, {intImm(lanes)}, BufferRole::Intermediate);
    Buffer carry = makeBuffer(name + ".carry", t.dtype, {intImm(lanes)}, BufferRole::Intermediate);
    lw.bindings.push_back({j.var, nullptr, extent});
    Var fillLane = split.newInner();
    Expr jv = split.value(fillLane);
    lw.bindings.back().value = jv;
    Expr kj = add(jv, before);
    Expr inRange = Binary::make(BinaryOp::Lt, jv, extent);
    if (kMayBeNegative)
      inRange = Binary::make(BinaryOp::And, inRange, Binary::make(BinaryOp::Le, zero, kj));
    Expr laneIndex = ir::ref(fillLane);
    Stmt fill = For::make(
        fillLane, intImm(lanes), ForKind::Vectorized,
        Block::make({Store::make(block, laneIndex, identity(r->op, t)),
                     IfThenElse::make(inRange, Store::make(block, laneIndex, body(kj, kExtent)))}));
    std::vector<Stmt> steps{fill};
    Expr all = Ramp::make(zero, intImm(1), lanes);
    // What the shifts bring in: the identity, but -0.0 for a float sum (x + -0.0 is x for every
    // x, and the carry added last fixes the sign of an all-zero prefix, as 0.0 would). LLVM
    // lowers a shift in of +0.0 to vexpandps, which is microcoded on Zen 4 (3x slower scans).
    bool floatSum = t.isFloat() && (r->op == ReduceOp::Sum || r->op == ReduceOp::Mean);
    Expr shiftedIn = floatSum ? FloatImm::make(t, -0.0) : identity(r->op, t);
    Expr identities = Broadcast::make(shiftedIn, lanes);
    for (int shift = 1; shift < lanes; shift *= 2) {
      std::vector<int> from(static_cast<size_t>(lanes));
      for (int l = 0; l < lanes; ++l) // A window of (identities, v): one lane rotation.
        from[static_cast<size_t>(l)] = lanes + l - shift;
      Expr v = Load::make(block, all);
      steps.push_back(
          Store::make(block, all, combine(r->op, v, Shuffle::make(identities, v, from))));
    }
    // The carry stays a vector (every lane the last lane of the block before): one permute on
    // the loop-carried path instead of an extract and a broadcast.
    steps.push_back(
        Store::make(block, all, combine(r->op, Load::make(carry, all), Load::make(block, all))));
    Expr scanned = Load::make(block, all);
    steps.push_back(Store::make(
        carry, all,
        Shuffle::make(scanned, scanned, std::vector<int>(static_cast<size_t>(lanes), lanes - 1))));
    Var outLane = split.newInner();
    lw.bindings.back().value = split.value(outLane);
    Expr result = finish(r, Load::make(block, ir::ref(outLane)),
                         std::vector<Expr>{add(split.value(outLane), offset)}, storeType);
    steps.push_back(split.innerLoop(outLane, Store::make(target, storeIndex(), result)));
    lw.unbind(j.var);
    loop = Allocate::make(
        block, MemoryScope::Stack,
        Allocate::make(
            carry, MemoryScope::Stack,
            Block::make({Store::make(carry, all, Broadcast::make(Load::make(acc, zero), lanes)),
                         For::make(split.outer, split.outerExtent, ForKind::Serial,
                                   Block::make(std::move(steps)))})));
  }
  return Allocate::make(acc, MemoryScope::Stack,
                        Block::make({Store::make(acc, zero, identity(r->op, t)), prologue, loop}));
}

/// A prefix reduction along j (see Scan.h) vectorized across the innermost index q instead (j is
/// not innermost: a scan down columns): one accumulator per value of q, in a heap row,
///   acc[q] = identity; for k in [0, offset - 1): acc[q] = combine(acc[q], body)
///   for j: for q: { if (j + offset - 1 >= 0) acc[q] = combine(acc[q], body at k = j + offset - 1)
///                   target[.., j, .., q] = finish(acc[q]) }       (q in blocks of W lanes)
/// Each accumulator combines its points in order of k, as the scalar scan does.
template <typename IndexFn>
Stmt scanAcross(ExprLowering &lw, const Reduce *r, const ScanAxis &scan, const IterVar &j,
                const IterVar &q, int lanes, const std::string &name, const Buffer &target,
                IndexFn &&storeIndex, Type storeType) {
  Type t = r->type;
  Expr zero = intImm(0);
  const IterVar &k = r->axes.front();
  Expr offset = lw.mutate(scan.offset);
  Expr before = simplify(sub(offset, intImm(1)));
  Expr qExtent = lw.mutate(q.extent);
  Buffer acc = makeBuffer(name + ".acc", t.dtype, {qExtent}, BufferRole::Intermediate);
  lw.bindings.push_back({q.var, nullptr, qExtent});
  // `build` gives the statement at one value of q (bound in lw) and its accumulator index.
  auto overQ = [&](auto &&build) {
    VectorSplit split(q.var->name, qExtent, lanes);
    Var lane = split.newInner();
    Expr at = split.value(lane);
    lw.rebind(q.var, at);
    Stmt body = build(at);
    return For::make(split.outer, split.outerExtent, ForKind::Serial, split.innerLoop(lane, body));
  };
  auto body = [&](Expr kValue, Expr kExtent) {
    lw.bindValue(k.var, std::move(kValue), std::move(kExtent));
    Expr value = lw.mutate(r->body);
    lw.unbind(k.var);
    return value;
  };
  auto accumulate = [&](const Expr &at, Expr value) {
    return Store::make(acc, at, combine(r->op, Load::make(acc, at), std::move(value)));
  };
  Stmt init = overQ([&](const Expr &at) { return Store::make(acc, at, identity(r->op, t)); });
  Var k0 = makeVar(k.var->name, Type::i64(), VarKind::Loop);
  Stmt prologue =
      For::make(k0, before, ForKind::Serial,
                overQ([&](const Expr &at) { return accumulate(at, body(ir::ref(k0), before)); }));
  const IntImm *c = as<IntImm>(before);
  Expr extent = lw.mutate(j.extent);
  Var jl = makeVar(j.var->name, Type::i64(), VarKind::Loop);
  lw.bindValue(j.var, ir::ref(jl), extent);
  Expr kj = add(ir::ref(jl), before);
  Stmt step = overQ([&](const Expr &at) {
    Stmt update = accumulate(at, body(kj, add(extent, before)));
    if (!(c && c->value >= 0))
      update = IfThenElse::make(Binary::make(BinaryOp::Le, zero, kj), update);
    Expr result =
        finish(r, Load::make(acc, at), std::vector<Expr>{add(ir::ref(jl), offset)}, storeType);
    return Block::make({update, Store::make(target, storeIndex(), result)});
  });
  lw.unbind(j.var);
  lw.unbind(q.var);
  return Allocate::make(
      acc, MemoryScope::Heap,
      Block::make({init, prologue, For::make(jl, extent, ForKind::Serial, step)}));
}

// ---------------------------------------------------------------------------------------------
// The plain form.

/// Lowers one definition to its plain nest.
Stmt lowerPlain(const Definition &def) {
  ExprLowering lw;
  std::vector<Var> loops;
  std::vector<Expr> extents, targetIndices;
  for (const IterVar &iv : def.indices) {
    loops.push_back(lw.bindLoop(iv));
    extents.push_back(lw.bindings.back().extent);
    targetIndices.push_back(ir::ref(loops.back()));
  }
  Expr index = flatIndex(def.target->shape, targetIndices);

  Stmt inner;
  const Cast *rounding = as<Cast>(def.value);
  const Reduce *r = as<Reduce>(rounding ? rounding->a : def.value);
  if (std::optional<ScanAxis> scan = recognizeScan(def)) {
    // The scanned index j becomes the innermost loop.
    ExprLowering outer;
    std::vector<Var> others;
    std::vector<Expr> otherExtents;
    for (size_t k = 0; k < def.indices.size(); ++k)
      if (k != scan->index) {
        others.push_back(outer.bindLoop(def.indices[k]));
        otherExtents.push_back(outer.bindings.back().extent);
      }
    auto storeIndex = [&] {
      std::vector<Expr> idx;
      for (const IterVar &iv : def.indices)
        idx.push_back(outer.mutate(ir::ref(iv.var)));
      return flatIndex(def.target->shape, idx);
    };
    inner = scanNest(outer, r, *scan, def.indices[scan->index], 1, def.target->name, def.target,
                     storeIndex, def.value->type);
    for (size_t k = others.size(); k-- > 0;)
      inner = For::make(others[k], otherExtents[k], ForKind::Serial, inner);
    return inner;
  }
  if (r && isArgReduction(r->op)) {
    inner = argReduction(lw, r, def.target->name, def.target, index, def.value->type);
  } else if (r) {
    // acc = identity; for axes: acc = combine(acc, body); target[index] = finish(acc).
    Buffer acc =
        makeBuffer(def.target->name + ".acc", r->type.dtype, {intImm(1)}, BufferRole::Intermediate);
    Expr zero = intImm(0);
    std::vector<Var> axes;
    std::vector<Expr> axisExtents;
    for (const IterVar &axis : r->axes) {
      axes.push_back(lw.bindLoop(axis));
      axisExtents.push_back(lw.bindings.back().extent);
    }
    Stmt update = Store::make(acc, zero, combine(r->op, Load::make(acc, zero), lw.mutate(r->body)));
    for (size_t k = axes.size(); k-- > 0;)
      update = For::make(axes[k], axisExtents[k], ForKind::Serial, update);
    Expr result = finish(r, Load::make(acc, zero), axisExtents, def.value->type);
    inner = Allocate::make(acc, MemoryScope::Stack,
                           Block::make({Store::make(acc, zero, identity(r->op, r->type)), update,
                                        Store::make(def.target, index, result)}));
  } else {
    inner = Store::make(def.target, index, lw.mutate(def.value));
  }
  for (size_t k = loops.size(); k-- > 0;)
    inner = For::make(loops[k], extents[k], ForKind::Serial, inner);
  return inner;
}

// ---------------------------------------------------------------------------------------------
// The scheduled form.

class GroupLowering {
public:
  GroupLowering(const FusedKernel &fused, const FusedGroup &group, const GroupSchedule &gs)
      : fused(fused), group(group), gs(gs), defs(fused.kernel.defs) {}

  /// For a group with Windows (group.halo): the schedules of every group, where the groups
  /// before it that compute its windows (and theirs, when they nest) find theirs.
  void computeProducers(const std::vector<GroupSchedule> &schedules) { all = &schedules; }

  /// The nest of a Window's producer over rows [begin, begin + count), serial, storing into its
  /// windows in `windows` and reading its own producers' there.
  Stmt lowerRows(Expr begin, Expr count, const LocalMap &windows) {
    rowRange = {{}, std::move(begin), std::move(count), nullptr, nullptr};
    external = windows;
    return lowerNest(false);
  }

  /// The nest over one block of a row chain's rows, serial, with the chain's windows.
  Stmt lowerBlock(const RowBlock &block) {
    rowRange = {block.fixed, block.begin, block.count, block.colBegin, block.colCount};
    for (const auto &[buffer, w] : block.windows) {
      LocalRef window;
      window.slice = w.slice;
      window.shared = w.drop;
      window.rowBase = w.rowBase;
      window.rowAt = w.row;
      window.colBase = w.colBase;
      external[buffer] = window;
    }
    return lowerNest(false);
  }

  Stmt lower() {
    if (!gs.parallel || !gs.parallelIf)
      return lowerNest(gs.parallel);
    // The work is known only at run time: a parallel and a serial copy of the nest.
    ExprLowering lw;
    Expr cond = lw.mutate(gs.parallelIf);
    return IfThenElse::make(cond, lowerNest(true), lowerNest(false));
  }

private:
  const FusedKernel &fused;
  const FusedGroup &group;
  const GroupSchedule &gs;
  const std::vector<Definition> &defs;

  const std::vector<GroupSchedule> *all = nullptr;
  /// Of lowerRows and lowerBlock: the shared dims before the rows at these points, the first
  /// row and the count.
  struct {
    std::vector<Expr> fixed;
    Expr begin, count;
    /// Of a split chain's chunk: the columns (the dim after the rows, every member's last).
    Expr colBegin, colCount;
  } rowRange;
  LocalMap external; // Of lowerRows and lowerBlock: the windows.

  // Per copy of the nest.
  bool parallelNest = false;
  LocalMap locals;
  std::vector<Buffer> stackSlices, heapSlices;
  std::vector<Expr> sharedValues, sharedExtents;

  Stmt lowerNest(bool parallel) {
    parallelNest = parallel;
    size_t shared = group.sharedDims;
    const Definition &first = defs[group.members.front()];
    ExprLowering symbolic; // Extents are over the symbols only.
    sharedExtents.clear();
    sharedValues.assign(shared, nullptr);
    for (size_t k = 0; k < shared; ++k)
      sharedExtents.push_back(symbolic.mutate(first.indices[k].extent));

    // Fresh slices and lets for the group-local definitions.
    locals.clear();
    stackSlices.clear();
    heapSlices.clear();
    for (size_t m = 0; m < group.members.size(); ++m) {
      const Definition &d = defs[group.members[m]];
      LocalPlace place = gs.members[m].place;
      if (place == LocalPlace::None)
        continue;
      LocalRef ref;
      ref.shared = shared;
      if (place == LocalPlace::Value) {
        ref.let = makeVar(d.target->name, Type::scalar(d.target->dtype), VarKind::Let);
      } else {
        std::vector<Expr> rest;
        for (size_t k = shared; k < d.indices.size(); ++k)
          rest.push_back(symbolic.mutate(d.indices[k].extent));
        ref.slice = makeBuffer(d.target->name, d.target->dtype, rest, BufferRole::Intermediate,
                               d.target->span);
        (place == LocalPlace::Stack ? stackSlices : heapSlices).push_back(ref.slice);
      }
      locals[d.target.get()] = ref;
    }
    locals.insert(external.begin(), external.end());

    if (shared == 0)
      return pointBody();
    if (gs.tile)
      return tiledNest(parallel);

    // Shared loops from the inside out; the body is built last, once every value is bound.
    std::vector<Var> vars(shared);
    std::optional<VectorSplit> split;
    Var splitInner;
    size_t rowDim = rowRange.fixed.size();
    auto extentOf = [&](size_t k) {
      return k == rowDim && rowRange.count ? rowRange.count : sharedExtents[k];
    };
    auto valueOf = [&](size_t k, Expr value) {
      return k == rowDim && rowRange.begin ? add(rowRange.begin, value) : value;
    };
    for (size_t k = 0; k < shared; ++k) {
      const IterVar &iv = first.indices[k];
      if (k < rowDim && rowRange.fixed[k]) {
        sharedValues[k] = rowRange.fixed[k];
      } else if (k + 1 == shared && gs.sharedLanes > 1) {
        split.emplace(iv.var->name, extentOf(k), gs.sharedLanes);
        splitInner = split->newInner();
        sharedValues[k] = valueOf(k, split->value(splitInner));
      } else if (k == 0 && gs.rowsPerBlock) {
        continue; // Bound below, with the block loop.
      } else {
        vars[k] = makeVar(iv.var->name, Type::i64(), VarKind::Loop);
        sharedValues[k] = valueOf(k, ir::ref(vars[k]));
      }
    }

    // Row blocks: i = i.block * rows + i.row.
    Var rowsVar, block, row;
    Expr rows;
    if (gs.rowsPerBlock) {
      TDSL_CHECK(!(split && shared == 1)) << "rows blocked along a vectorized axis";
      rows = symbolic.mutate(gs.rowsPerBlock);
      if (!as<IntImm>(rows)) {
        rowsVar = makeVar(first.indices[0].var->name + ".rows", Type::i64(), VarKind::Let);
        rows = ir::ref(rowsVar);
      }
      std::string name = first.indices[0].var->name;
      block = makeVar(name + ".block", Type::i64(), VarKind::Loop);
      row = makeVar(name, Type::i64(), VarKind::Loop);
      sharedValues[0] = add(mul(ir::ref(block), rows), ir::ref(row));
    }
    // A window's producer nested in another's (group.halo without row blocks) is computed by
    // the reader at the end of the chain, which slides every level's window along its rows.
    std::optional<SlidingWindows> windows;
    if (group.halo && gs.rowsPerBlock)
      windows = slideWindows(mul(ir::ref(block), rows), rows, sharedValues[0]);

    Stmt body = pointBody();
    for (size_t k = shared; k-- > 0;) {
      if (k < rowDim && rowRange.fixed[k])
        continue; // A point of the block.
      bool outermost = k == 0 && !gs.rowsPerBlock;
      ForKind kind = outermost && parallel ? ForKind::Parallel : ForKind::Serial;
      if (split && k + 1 == shared) {
        body =
            For::make(split->outer, split->outerExtent, kind, split->innerLoop(splitInner, body));
      } else if (k == 0 && gs.rowsPerBlock) {
        Expr left = sub(sharedExtents[0], mul(ir::ref(block), rows));
        if (windows)
          body = Block::make({windows->step, body});
        body = For::make(row, Binary::make(BinaryOp::Min, rows, left), ForKind::Serial, body);
        if (windows)
          body = Block::make({windows->prologue, body});
        for (size_t h = heapSlices.size(); h-- > 0;)
          body = Allocate::make(heapSlices[h], MemoryScope::Heap, body);
        Expr blocks =
            Binary::make(BinaryOp::FloorDiv, add(sharedExtents[0], sub(rows, intImm(1))), rows);
        body = For::make(block, blocks, parallel ? ForKind::Parallel : ForKind::Serial, body);
        if (rowsVar)
          body = LetStmt::make(rowsVar, symbolic.mutate(gs.rowsPerBlock), body);
      } else {
        body = For::make(vars[k], extentOf(k), kind, body);
      }
    }
    if (!gs.rowsPerBlock && rowRange.count) // Once per block of the reader's or chain's rows.
      for (size_t h = heapSlices.size(); h-- > 0;)
        body = Allocate::make(heapSlices[h], MemoryScope::Heap, body);
    else
      TDSL_CHECK(heapSlices.empty() || gs.rowsPerBlock) << "a heap slice without row blocks";
    return body;
  }

  /// The shared loops tiled for locality (see LocalityTile): the shared loops in order, with
  /// `across` stepping by its tile and the vector axis by its lanes (the outermost loop parallel);
  /// inside, `across` within its tile, then the lanes. A full tile runs a loop of constant extent
  /// (passes/Transpose.h turns its strided reads into an in-register transpose); the last, partial
  /// one runs the rest.
  Stmt tiledNest(bool parallel) {
    const LocalityTile &t = *gs.tile;
    size_t shared = group.sharedDims, v = shared - 1, u = t.across;
    TDSL_CHECK(u < v && gs.sharedLanes > 1 && !gs.rowsPerBlock) << "a locality tile without lanes";
    const Definition &first = defs[group.members.front()];
    auto name = [&](size_t k) { return first.indices[k].var->name; };
    std::vector<Var> loops(shared);
    for (size_t k = 0; k < shared; ++k)
      if (k != v) {
        loops[k] = makeVar(name(k) + (k == u ? ".tile" : ""), Type::i64(), VarKind::Loop);
        sharedValues[k] = ir::ref(loops[k]);
      }
    VectorSplit split(name(v), sharedExtents[v], gs.sharedLanes);
    Expr start = mul(ir::ref(loops[u]), intImm(t.acrossTile));
    Expr rest = sub(sharedExtents[u], start);
    auto tileBody = [&](Expr acrossExtent) {
      Var across = makeVar(name(u), Type::i64(), VarKind::Loop);
      Var lane = split.newInner();
      sharedValues[u] = add(start, ir::ref(across));
      sharedValues[v] = split.value(lane);
      return For::make(across, std::move(acrossExtent), ForKind::Serial,
                       split.innerLoop(lane, pointBody()));
    };
    Stmt body = IfThenElse::make(Binary::make(BinaryOp::Le, intImm(t.acrossTile), rest),
                                 tileBody(intImm(t.acrossTile)), tileBody(rest));
    for (size_t k = shared; k-- > 0;) {
      ForKind kind = k == 0 && parallel ? ForKind::Parallel : ForKind::Serial;
      if (k == v) {
        body = For::make(split.outer, split.outerExtent, kind, body);
        continue;
      }
      Expr extent = sharedExtents[k];
      if (k == u)
        extent = Binary::make(BinaryOp::FloorDiv, add(extent, intImm(t.acrossTile - 1)),
                              intImm(t.acrossTile));
      body = For::make(loops[k], extent, kind, body);
    }
    return body;
  }

  /// The windows of a chain of stencils (group.halo, and the halo of each producer group that
  /// reads a window in turn), slid along the reader's rows: before the first row of a block,
  /// each level computes its rows that row needs but the last; at each row, each level, the
  /// farthest first, computes its next row (Halide's sliding window, inside a block). A level's
  /// window is a ring of the rows still read, its reach plus one (Halide's folded storage): a
  /// row computed replaces one no longer read, so the rows in use stay in cache however many
  /// rows a block has.
  struct SlidingWindows {
    Stmt prologue, step;
  };
  /// For the block of `rows` rows from `start`, the reader at row `row`: each level's window
  /// (a heap slice of the block, a ring of its reach's rows), made readable to the level after
  /// it.
  SlidingWindows slideWindows(const Expr &start, const Expr &rows, const Expr &row) {
    size_t g = static_cast<size_t>(&group - fused.groups.data());
    TDSL_CHECK(all && g >= 1 && rows) << "a window without its producer or row blocks";
    struct Level {
      size_t group;
      int64_t below = 0, above = 0; // The rows read, from the reader's row, through the chain.
      LocalMap windows;             // This level's, then those it reads.
    };
    std::vector<Level> levels;
    for (size_t reader = g; fused.groups[reader].halo; --reader) {
      const FusedGroup::Halo &halo = *fused.groups[reader].halo;
      Level level{reader - 1, halo.below, halo.above, {}};
      if (!levels.empty()) {
        level.below += levels.back().below;
        level.above += levels.back().above;
      }
      levels.push_back(level);
      TDSL_CHECK(reader >= 1) << "a halo without the group before it";
      if (reader == 1)
        break;
    }
    ExprLowering symbolic;
    for (Level &level : levels) {
      for (size_t q : fused.groups[level.group].members) {
        const Definition &p = defs[q];
        if (fused.storage[q] != Storage::Window)
          continue; // Local to a row of its group: lowerRows allocates it.
        LocalRef window;
        window.ring = level.above - level.below + 1;
        std::vector<Expr> shape{intImm(window.ring)};
        for (size_t k = 1; k < p.indices.size(); ++k)
          shape.push_back(symbolic.mutate(p.indices[k].extent));
        window.slice = makeBuffer(p.target->name, p.target->dtype, shape, BufferRole::Intermediate,
                                  p.target->span);
        window.rowBase = add(start, intImm(level.below));
        heapSlices.push_back(window.slice);
        level.windows[p.target.get()] = window;
        if (&level == &levels.front())
          locals[p.target.get()] = window; // The reader's.
      }
    }
    for (size_t l = 0; l + 1 < levels.size(); ++l)
      levels[l].windows.insert(levels[l + 1].windows.begin(), levels[l + 1].windows.end());

    std::vector<Stmt> prologue, step;
    for (size_t l = levels.size(); l-- > 0;) {
      const Level &level = levels[l];
      const FusedGroup &producer = fused.groups[level.group];
      // The producers share their first dim (a group's shared loop), so one range serves all.
      Expr height = symbolic.mutate(defs[producer.members.front()].indices[0].extent);
      auto rowsOf = [&](Expr begin, Expr count) {
        GroupLowering lowering(fused, producer, (*all)[level.group]);
        return lowering.lowerRows(std::move(begin), std::move(count), level.windows);
      };
      Expr begin = Binary::make(BinaryOp::Max, intImm(0), add(start, intImm(level.below)));
      Expr end = Binary::make(BinaryOp::Min, height, add(start, intImm(level.above)));
      prologue.push_back(rowsOf(begin, Binary::make(BinaryOp::Max, intImm(0), sub(end, begin))));
      // One row, none past the producer's last: a loop of at most one iteration rather than an
      // `if`, so that code generation, prefetching the next row of a gather's index read, sees
      // the loop that bounds the read.
      Expr next = add(row, intImm(level.above));
      Expr one = Binary::make(BinaryOp::Min, intImm(1), sub(height, next));
      step.push_back(rowsOf(next, Binary::make(BinaryOp::Max, intImm(0), one)));
    }
    return {Block::make(prologue), Block::make(step)};
  }

  /// The members at one shared point (one row): stack slices around every member's nest, lets
  /// around the members after them.
  Stmt pointBody() {
    std::vector<Stmt> nests(group.members.size());
    std::vector<Expr> lets(group.members.size());
    for (size_t m = 0, end; m < group.members.size(); m = end) {
      end = m + 1;
      while (end < group.members.size() && sharesLoop(m, end))
        ++end;
      if (end - m > 1) {
        nests[m] = siblingLoop(m, end);
        continue;
      }
      const Definition &d = defs[group.members[m]];
      ExprLowering lw = sharedLowering(d);
      if (gs.members[m].place == LocalPlace::Value)
        lets[m] = lw.mutate(d.value);
      else
        nests[m] = memberNest(lw, d, gs.members[m]);
    }
    Stmt body = Block::make({});
    for (size_t m = group.members.size(); m-- > 0;) {
      const Definition &d = defs[group.members[m]];
      if (lets[m])
        body = LetStmt::make(locals.at(d.target.get()).let, lets[m], body);
      else if (nests[m])
        body = Block::make({nests[m], body});
    }
    for (size_t s = stackSlices.size(); s-- > 0;)
      body = Allocate::make(stackSlices[s], MemoryScope::Stack, body);
    return body;
  }

  /// The extent of a member's last dim, `whole`, or of a split chain's chunk of it; the value of
  /// the dim at `inChunk` within that.
  Expr columns(const Expr &whole) const { return rowRange.colCount ? rowRange.colCount : whole; }
  Expr column(const Expr &inChunk) const {
    return rowRange.colBegin ? add(rowRange.colBegin, inChunk) : inChunk;
  }

  /// A member's expressions with the shared dims bound to this point's values.
  ExprLowering sharedLowering(const Definition &d) {
    ExprLowering lw;
    lw.locals = &locals;
    for (size_t k = 0; k < group.sharedDims; ++k)
      lw.bindValue(d.indices[k].var, sharedValues[k], sharedExtents[k]);
    return lw;
  }

  /// Whether member `m` runs in the vector loop of members `first` to `m - 1`: all elementwise
  /// over one own dim of the same extent, vectorized alike, and `m` reads none of them (a read
  /// at another point of the dim would find it not yet computed). Siblings that read the same
  /// rows (Harris's gradients, or its three products' row sums) then load them once.
  bool sharesLoop(size_t first, size_t m) const {
    auto alone = [&](size_t k) {
      const Definition &d = defs[group.members[k]];
      const MemberSchedule &ms = gs.members[k];
      return !topReduce(d) && !ms.scan && ms.place != LocalPlace::Value &&
             ms.vector == VectorAxis::Spatial && d.indices.size() == group.sharedDims + 1;
    };
    const Definition &d = defs[group.members[m]], &head = defs[group.members[first]];
    if (!alone(first) || !alone(m) || gs.members[m].lanes != gs.members[first].lanes ||
        !structurallyEqual(d.indices.back().extent, head.indices.back().extent))
      return false;
    for (const Access *a : accessesIn(d.value))
      for (size_t k = first; k < m; ++k)
        if (a->buffer == defs[group.members[k]].target)
          return false;
    return true;
  }

  /// Members `first` to `end - 1` (see sharesLoop): one vector loop over their own dim, each
  /// point storing every member's value in order.
  Stmt siblingLoop(size_t first, size_t end) {
    const Definition &head = defs[group.members[first]];
    ExprLowering symbolic = sharedLowering(head);
    const IterVar &iv = head.indices.back();
    VectorSplit split(iv.var->name, columns(symbolic.mutate(iv.extent)), gs.members[first].lanes);
    Var lane = split.newInner();
    std::vector<Stmt> stores;
    for (size_t m = first; m < end; ++m) {
      const Definition &d = defs[group.members[m]];
      ExprLowering lw = sharedLowering(d);
      lw.bindValue(d.indices.back().var, column(split.value(lane)), split.extent);
      auto [target, drop, window] = storeTarget(d);
      std::vector<Expr> idx;
      for (size_t k = drop; k < d.indices.size(); ++k)
        idx.push_back(lw.mutate(ir::ref(d.indices[k].var)));
      if (window)
        window->moveIntoWindow(idx);
      stores.push_back(Store::make(target, flatIndex(target->shape, idx), lw.mutate(d.value)));
    }
    return For::make(split.outer, split.outerExtent, ForKind::Serial,
                     split.innerLoop(lane, Block::make(stores)));
  }

  /// Where a member stores: its tensor, its slice (indexed by the dims after `drop`), or its
  /// window (every dim, the first at its place in the window).
  struct StoreTarget {
    Buffer buffer;
    size_t drop = 0;
    const LocalRef *window = nullptr;
  };
  StoreTarget storeTarget(const Definition &d) const {
    auto it = locals.find(d.target.get());
    if (it == locals.end())
      return {d.target, 0, nullptr};
    if (it->second.rowBase)
      return {it->second.slice, it->second.shared, &it->second};
    return {it->second.slice, group.sharedDims, nullptr};
  }

  /// One member's nest over its own dims (after the shared ones) and its reduction.
  Stmt memberNest(ExprLowering &lw, const Definition &d, const MemberSchedule &ms) {
    size_t shared = group.sharedDims;
    auto [target, drop, window] = storeTarget(d);
    // The flat index of the member's point in its target, under the loops bound when called.
    auto storeIndex = [&, drop = drop, &target = target, window = window]() { // clang < 16.
      std::vector<Expr> idx;
      for (size_t k = drop; k < d.indices.size(); ++k)
        idx.push_back(lw.mutate(ir::ref(d.indices[k].var)));
      if (window)
        window->moveIntoWindow(idx);
      return flatIndex(target->shape, idx);
    };
    const Reduce *r = topReduce(d);
    if (ms.scan) {
      // The scanned index j is the innermost loop, after the member's other dims, or the one
      // inside them but the last, which is vectorized.
      TDSL_CHECK(ms.scan->index >= shared) << "a scan along a shared dim";
      bool across = ms.vector == VectorAxis::Spatial;
      std::vector<Var> loops;
      std::vector<Expr> extents;
      std::vector<Var> bound;
      for (size_t k = shared; k < d.indices.size() - (across ? 1 : 0); ++k)
        if (k != ms.scan->index) {
          loops.push_back(lw.bindLoop(d.indices[k]));
          extents.push_back(lw.bindings.back().extent);
          bound.push_back(d.indices[k].var);
        }
      Stmt inner = across ? scanAcross(lw, r, *ms.scan, d.indices[ms.scan->index], d.indices.back(),
                                       ms.lanes, d.target->name, target, storeIndex, d.value->type)
                          : scanNest(lw, r, *ms.scan, d.indices[ms.scan->index], ms.lanes,
                                     d.target->name, target, storeIndex, d.value->type);
      for (size_t k = loops.size(); k-- > 0;) {
        inner = For::make(loops[k], extents[k], ForKind::Serial, inner);
        lw.unbind(bound[k]);
      }
      return inner;
    }
    bool spatial = ms.vector == VectorAxis::Spatial;
    TDSL_CHECK(spatial || !rowRange.colCount) << "a split chain's chunk along a scalar nest";
    size_t serialEnd = spatial ? d.indices.size() - 1 : d.indices.size();

    std::vector<Var> loops;
    std::vector<Expr> extents;
    for (size_t k = shared; k < serialEnd; ++k) {
      loops.push_back(lw.bindLoop(d.indices[k]));
      extents.push_back(lw.bindings.back().extent);
    }

    Stmt inner;
    if (spatial) {
      const IterVar &iv = d.indices.back();
      VectorSplit split(iv.var->name, columns(lw.mutate(iv.extent)), ms.lanes);
      lw.bindings.push_back({iv.var, nullptr, split.extent});
      auto withLane = [&](const Var &lane, auto &&build) {
        lw.bindings.back().value = column(split.value(lane));
        return build();
      };
      TDSL_CHECK(!r || !rowRange.colCount) << "a reduction in a split chain's chunk";
      if (!r) {
        Var lane = split.newInner();
        Stmt store = withLane(lane, [&, &target = target] {
          return Store::make(target, storeIndex(), lw.mutate(d.value));
        });
        inner = For::make(split.outer, split.outerExtent, ForKind::Serial,
                          split.innerLoop(lane, store));
      } else if (ms.strip) {
        inner = stripReduction(lw, d, r, split, ms, target, storeIndex);
      } else {
        inner = spatialReduction(lw, d, r, split, target, storeIndex);
      }
      lw.unbind(iv.var);
    } else if (r && ms.vector == VectorAxis::Reduction && isArgReduction(r->op)) {
      inner = vectorArgReduction(lw, d, r, ms, target, storeIndex());
    } else if (r && ms.vector == VectorAxis::Reduction && ms.chunks > 1) {
      inner = chunkedReduction(lw, d, r, ms.lanes, ms.chunks, target, storeIndex());
    } else if (r && ms.vector == VectorAxis::Reduction) {
      inner = vectorReduction(lw, d, r, ms.lanes, target, storeIndex());
    } else if (r) {
      inner = scalarReduction(lw, d, r, target, storeIndex());
    } else {
      inner = Store::make(target, storeIndex(), lw.mutate(d.value));
    }
    for (size_t k = loops.size(); k-- > 0;) {
      inner = For::make(loops[k], extents[k], ForKind::Serial, inner);
      lw.unbind(d.indices[shared + k].var);
    }
    return inner;
  }

  /// Binds the reduction axes to fresh serial loops; returns them with their extents.
  static void bindAxes(ExprLowering &lw, const std::vector<IterVar> &axes, std::vector<Var> &loops,
                       std::vector<Expr> &extents) {
    for (const IterVar &axis : axes) {
      loops.push_back(lw.bindLoop(axis));
      extents.push_back(lw.bindings.back().extent);
    }
  }

  static Stmt wrapSerial(Stmt body, const std::vector<Var> &loops, const std::vector<Expr> &extents,
                         size_t count) {
    for (size_t k = count; k-- > 0;)
      body = For::make(loops[k], extents[k], ForKind::Serial, body);
    return body;
  }

  /// acc = identity; for axes: acc = combine(acc, body); target[index] = finish(acc).
  Stmt scalarReduction(ExprLowering &lw, const Definition &d, const Reduce *r, const Buffer &target,
                       const Expr &index) {
    if (isArgReduction(r->op))
      return argReduction(lw, r, d.target->name, target, index, d.value->type);
    Buffer acc =
        makeBuffer(d.target->name + ".acc", r->type.dtype, {intImm(1)}, BufferRole::Intermediate);
    Expr zero = intImm(0);
    std::vector<Var> loops;
    std::vector<Expr> extents;
    bindAxes(lw, r->axes, loops, extents);
    Stmt update = Store::make(acc, zero, combine(r->op, Load::make(acc, zero), lw.mutate(r->body)));
    update = wrapSerial(update, loops, extents, loops.size());
    for (const IterVar &axis : r->axes)
      lw.unbind(axis.var);
    Expr result = finish(r, Load::make(acc, zero), extents, d.value->type);
    return Allocate::make(acc, MemoryScope::Stack,
                          Block::make({Store::make(acc, zero, identity(r->op, r->type)), update,
                                       Store::make(target, index, result)}));
  }

  /// `for k.outer: acc[k.inner] op= body` (the inner loop vectorized, guarded): the reduction's
  /// last axis k, split for W lanes, into a W-lane accumulator.
  static Stmt accumulateAlong(ExprLowering &lw, const Reduce *r, const VectorSplit &split,
                              const Buffer &acc) {
    const IterVar &k = r->axes.back();
    Var lane = split.newInner();
    lw.bindValue(k.var, split.value(lane), split.extent);
    Expr laneIndex = ir::ref(lane);
    Stmt update =
        Store::make(acc, laneIndex, combine(r->op, Load::make(acc, laneIndex), lw.mutate(r->body)));
    lw.unbind(k.var);
    return For::make(split.outer, split.outerExtent, ForKind::Serial,
                     split.innerLoop(lane, update));
  }

  /// The innermost reduction axis k split for W lanes into a W-lane accumulator:
  ///   acc[k.inner] = identity (vectorized); for k.outer: acc[k.inner] op= body (vectorized,
  ///   guarded); target[index] = finish(vector_op(acc[ramp(0, 1, W)])).
  Stmt vectorReduction(ExprLowering &lw, const Definition &d, const Reduce *r, int lanes,
                       const Buffer &target, const Expr &index) {
    Type t = r->type;
    Buffer acc =
        makeBuffer(d.target->name + ".acc", t.dtype, {intImm(lanes)}, BufferRole::Intermediate);
    std::vector<Var> loops;
    std::vector<Expr> extents;
    std::vector<IterVar> outerAxes(r->axes.begin(), r->axes.end() - 1);
    bindAxes(lw, outerAxes, loops, extents);
    const IterVar &k = r->axes.back();
    VectorSplit split(k.var->name, lw.mutate(k.extent), lanes);
    extents.push_back(split.extent);

    Var initLane = split.newInner();
    Stmt init = For::make(initLane, intImm(lanes), ForKind::Vectorized,
                          Store::make(acc, ir::ref(initLane), identity(r->op, t)));
    Stmt update = accumulateAlong(lw, r, split, acc);
    update = wrapSerial(update, loops, extents, loops.size());
    for (const IterVar &axis : outerAxes)
      lw.unbind(axis.var);

    ReduceOp vop = r->op == ReduceOp::Mean ? ReduceOp::Sum : r->op;
    Expr all = Load::make(acc, Ramp::make(intImm(0), intImm(1), lanes));
    Expr result = finish(r, VectorReduce::make(vop, all), extents, d.value->type);
    return Allocate::make(acc, MemoryScope::Stack,
                          Block::make({init, update, Store::make(target, index, result)}));
  }

  /// A reduction to one value over axes i, ..., k split along its first axis i into P chunks
  /// (see MemberSchedule::chunks), each reduced as vectorReduction does into its own W lanes of
  /// a heap buffer (by a parallel task in the parallel nest), then the chunks combined in order:
  ///   for p in [0, P) parallel: acc[lane] = identity
  ///     for i in [p * C, min(N, p * C + C)): ...: for k.outer: acc[k.inner] op= body
  ///     parts[p * W + lane] = acc[lane]                        (C = (N + P - 1) // P)
  ///   all[lane] = identity; for p: all[lane] op= parts[p * W + lane]
  ///   target[index] = finish(vector_op(all[ramp(0, 1, W)]))
  Stmt chunkedReduction(ExprLowering &lw, const Definition &d, const Reduce *r, int lanes,
                        int chunks, const Buffer &target, const Expr &index) {
    Type t = r->type;
    const std::string &name = d.target->name;
    Buffer parts = makeBuffer(name + ".parts", t.dtype, {intImm(int64_t{chunks} * lanes)},
                              BufferRole::Intermediate);
    Buffer acc = makeBuffer(name + ".acc", t.dtype, {intImm(lanes)}, BufferRole::Intermediate);
    Buffer all = makeBuffer(name + ".all", t.dtype, {intImm(lanes)}, BufferRole::Intermediate);
    const IterVar &first = r->axes.front();
    Expr extent = lw.mutate(first.extent);
    Var part = makeVar(name + ".chunk", Type::i64(), VarKind::Loop);
    Expr size =
        simplify(Binary::make(BinaryOp::FloorDiv, add(extent, intImm(chunks - 1)), intImm(chunks)));
    Expr begin = mul(ir::ref(part), size);
    Expr count = Binary::make(BinaryOp::Max, intImm(0),
                              Binary::make(BinaryOp::Min, size, sub(extent, begin)));
    Var row = makeVar(first.var->name, Type::i64(), VarKind::Loop);
    lw.bindValue(first.var, add(begin, ir::ref(row)), extent);
    std::vector<Var> loops;
    std::vector<Expr> middleExtents;
    std::vector<IterVar> middle(r->axes.begin() + 1, r->axes.end() - 1);
    bindAxes(lw, middle, loops, middleExtents);
    const IterVar &k = r->axes.back();
    VectorSplit split(k.var->name, lw.mutate(k.extent), lanes);
    std::vector<Expr> extents{extent}; // Of every axis, for the mean's count.
    extents.insert(extents.end(), middleExtents.begin(), middleExtents.end());
    extents.push_back(split.extent);

    auto lanesOf = [&](const Buffer &b, Expr value) {
      Var lane = split.newInner();
      return For::make(lane, intImm(lanes), ForKind::Vectorized,
                       Store::make(b, ir::ref(lane), value));
    };
    Stmt update = accumulateAlong(lw, r, split, acc);
    update = wrapSerial(update, loops, middleExtents, loops.size());
    update = For::make(row, count, ForKind::Serial, update);
    lw.unbind(first.var);
    for (const IterVar &axis : middle)
      lw.unbind(axis.var);

    Var saveLane = split.newInner();
    Stmt save =
        For::make(saveLane, intImm(lanes), ForKind::Vectorized,
                  Store::make(parts, add(mul(ir::ref(part), intImm(lanes)), ir::ref(saveLane)),
                              Load::make(acc, ir::ref(saveLane))));
    Stmt task = Allocate::make(acc, MemoryScope::Stack,
                               Block::make({lanesOf(acc, identity(r->op, t)), update, save}));
    Stmt tasks =
        For::make(part, intImm(chunks), parallelNest ? ForKind::Parallel : ForKind::Serial, task);

    Var q = makeVar(name + ".chunk", Type::i64(), VarKind::Loop);
    Var addLane = split.newInner();
    Stmt gather = For::make(
        q, intImm(chunks), ForKind::Serial,
        For::make(addLane, intImm(lanes), ForKind::Vectorized,
                  Store::make(all, ir::ref(addLane),
                              combine(r->op, Load::make(all, ir::ref(addLane)),
                                      Load::make(parts, add(mul(ir::ref(q), intImm(lanes)),
                                                            ir::ref(addLane)))))));
    ReduceOp vop = r->op == ReduceOp::Mean ? ReduceOp::Sum : r->op;
    Expr total = Load::make(all, Ramp::make(intImm(0), intImm(1), lanes));
    Expr result = finish(r, VectorReduce::make(vop, total), extents, d.value->type);
    Stmt combineParts = Allocate::make(all, MemoryScope::Stack,
                                       Block::make({lanesOf(all, identity(r->op, t)), gather,
                                                    Store::make(target, index, result)}));
    return Allocate::make(parts, MemoryScope::Heap, Block::make({tasks, combineParts}));
  }

  /// An argmax (argmin) along a contiguous k with a (value, step) pair a lane, each lane
  /// scanning its positions in order as argReduction does, then the lanes combined:
  ///   best[l] = lowest (highest) value; at[l] = 0                  (over l, vectorized)
  ///   for k.outer: let v = body; if (v beats best[l]) { best[l] = v; at[l] = k.outer }
  ///   for l: let p = at[l] * W + l
  ///          if (p < K and (at < 0 or best[l] beats best or (best[l] ties best and
  ///          p < at))) { best = best[l]; at = p };  target[index] = at
  /// A lane keeps the step of its best value, not its position: the step is the same in every
  /// lane (one broadcast a step, no per-lane position arithmetic), and it is kept in 32 bits
  /// when k has fewer than 2^31 steps (half the registers and blends of 64-bit positions), else
  /// in 64; docs/performance.md has what it gained.
  /// A lane starts holding its first position with the lowest value: its first value either
  /// ties that (and the position is right) or beats it, so no step tests for a first pair. A
  /// lane whose first position is past K held none. Within a lane positions rise, so its pair
  /// is that lane's first winner; across lanes the smallest position breaks ties (two NaNs
  /// tie), which gives the scalar loop's answer, and -1 when K is 0.
  /// With MemberSchedule::twoPassIf, argSearch where it holds.
  Stmt vectorArgReduction(ExprLowering &lw, const Definition &d, const Reduce *r,
                          const MemberSchedule &ms, const Buffer &target, const Expr &index) {
    const IntImm *always = as<IntImm>(ms.twoPassIf);
    if (always && always->value)
      return argSearch(lw, d, r, ms.searchLanes, ms.searchVectors, target, index);
    Stmt pairs = vectorArgPairs(lw, d, r, ms.lanes, target, index);
    if (!ms.twoPassIf)
      return pairs;
    return IfThenElse::make(lw.mutate(ms.twoPassIf),
                            argSearch(lw, d, r, ms.searchLanes, ms.searchVectors, target, index),
                            pairs);
  }

  /// vectorArgReduction's one pass, with the steps in 32 bits when they fit.
  Stmt vectorArgPairs(ExprLowering &lw, const Definition &d, const Reduce *r, int lanes,
                      const Buffer &target, const Expr &index) {
    const IterVar &k = r->axes.front();
    VectorSplit narrow(k.var->name, lw.mutate(k.extent), lanes);
    Expr fits =
        Binary::make(BinaryOp::Le, narrow.outerExtent, intImm(std::numeric_limits<int32_t>::max()));
    Stmt steps32 = vectorArgSteps(lw, d, r, narrow, DType::I32, target, index);
    VectorSplit wide(k.var->name, lw.mutate(k.extent), lanes);
    Stmt steps64 = vectorArgSteps(lw, d, r, wide, DType::I64, target, index);
    return IfThenElse::make(simplify(fits), steps32, steps64);
  }

  /// An argmax (argmin) along a contiguous k in two passes over the row: its maximum
  /// (minimum) m, as a max reduction finds it with W = S * V lanes, then the first position
  /// holding m, in the row the first pass left in the cache, W points a step:
  ///   ext[l] = lowest; for k.outer: ext[l] = max(ext[l], body)          (over l < W, vectorized)
  ///   let m = vector_max(ext); at = -1
  ///   for k.outer in [0, K // W): if (at < 0) {
  ///     near[l] = max(body at s + l, s + V + l, ..., s + (S - 1) * V + l) == m  (l < V,
  ///     vectorized) if (any(near)) first(s) }                                    (s = k.outer * W)
  ///   if (at < 0) first(K // W * W), guarded by K
  ///   first(s): hit[l] = body at s + l == m; if (any(hit)) at = s + min(hit[l] ? l : W)
  /// so a step costs S - 1 maxima and one compare. Without NaNs the step's maximum is a plain
  /// one (a NaN makes m NaN). A float maximum m that is NaN makes the search one for the first
  /// NaN (body != body), W points a step. -0 and +0 compare equal, so the first of either is
  /// found. The answer is the first position of the row's best value, as the pair a lane finds
  /// it, and -1 for no points (the search has no step).
  Stmt argSearch(ExprLowering &lw, const Definition &d, const Reduce *r, int vectorLanes,
                 int vectors, const Buffer &target, const Expr &index) {
    Type t = r->body->type;
    const std::string &name = d.target->name;
    const IterVar &k = r->axes.front();
    bool isMax = r->op == ReduceOp::ArgMax;
    ReduceOp extremeOp = isMax ? ReduceOp::Max : ReduceOp::Min;
    int lanes = vectorLanes * vectors;
    VectorSplit split(k.var->name, lw.mutate(k.extent), lanes);
    Expr zero = intImm(0), extent = split.extent;
    auto bodyAt = [&](const Expr &position) {
      lw.bindValue(k.var, position, extent);
      Expr value = lw.mutate(r->body);
      lw.unbind(k.var);
      return value;
    };
    auto laneBuffer = [&](const std::string &suffix, DType dtype, int count) {
      return makeBuffer(name + suffix, dtype, {intImm(count)}, BufferRole::Intermediate);
    };
    auto all = [&](const Buffer &b, int count) {
      return Load::make(b, Ramp::make(zero, intImm(1), count));
    };
    auto overLanes = [&](int count, auto &&build) {
      Var lane = split.newInner();
      return For::make(lane, intImm(count), ForKind::Vectorized, build(ir::ref(lane)));
    };

    // The first pass.
    Buffer extreme = laneBuffer(".ext", t.dtype, lanes);
    Stmt init = overLanes(
        lanes, [&](const Expr &l) { return Store::make(extreme, l, identity(extremeOp, t)); });
    Var scanLane = split.newInner();
    Stmt scan = For::make(
        split.outer, split.outerExtent, ForKind::Serial,
        split.innerLoop(scanLane,
                        Store::make(extreme, ir::ref(scanLane),
                                    combine(extremeOp, Load::make(extreme, ir::ref(scanLane)),
                                            bodyAt(split.value(scanLane))))));
    Var m = makeVar(name + ".m", t, VarKind::Let);
    Expr mValue = ir::ref(m);

    // The search.
    Buffer at = laneBuffer(".at", DType::I64, 1);
    Buffer hit = laneBuffer(".hit", DType::Bool, lanes);
    Buffer first = laneBuffer(".first", DType::I32, lanes);
    Buffer near = laneBuffer(".near", DType::Bool, vectorLanes);
    Expr notFound = Binary::make(BinaryOp::Lt, Load::make(at, zero), zero);
    // `at` takes the first of positions [start, start + W) (those below K when `guarded`) where
    // `isBest` holds, if any.
    auto firstFrom = [&](const Expr &start, bool guarded, auto &&isBest) {
      Stmt test = overLanes(lanes, [&](const Expr &l) {
        Expr position = add(start, l);
        Stmt store = Store::make(hit, l, isBest(bodyAt(position)));
        return guarded ? IfThenElse::make(Binary::make(BinaryOp::Lt, position, extent), store)
                       : store;
      });
      if (guarded)
        test = Block::make(
            {overLanes(lanes, [&](const Expr &l) { return Store::make(hit, l, boolImm(false)); }),
             test});
      Stmt position = overLanes(lanes, [&](const Expr &l) {
        return Store::make(first, l,
                           Select::make(Load::make(hit, l), Cast::make(Type::scalar(DType::I32), l),
                                        IntImm::make(Type::scalar(DType::I32), lanes)));
      });
      Expr found =
          add(start, Cast::make(Type::i64(), VectorReduce::make(ReduceOp::Min, all(first, lanes))));
      return Block::make(
          {test, IfThenElse::make(VectorReduce::make(ReduceOp::Max, all(hit, lanes)),
                                  Block::make({position, Store::make(at, zero, found)}))});
    };
    auto equalsM = [&](const Expr &v) { return Binary::make(BinaryOp::Eq, v, mValue); };
    Expr start = mul(ir::ref(split.outer), intImm(lanes));

    // Steps of W points with no NaN: the step's maximum, then a compare.
    auto plainBest = [&](const Expr &a, const Expr &b) {
      if (!t.isFloat())
        return combine(extremeOp, a, b);
      return Select::make(Binary::make(isMax ? BinaryOp::Gt : BinaryOp::Lt, a, b), a, b);
    };
    // The step's S vectors combined pairwise (a tree: the latency of log2(S) maxima), each
    // value a let named after the vectors it covers (v0, v1, v0_1, ...).
    Stmt stepTest = overLanes(vectorLanes, [&](const Expr &l) {
      std::vector<std::pair<Var, Expr>> lets;
      std::vector<std::pair<int, int>> covers; // Of each value of `level`.
      std::vector<Expr> level;
      auto bind = [&](const std::string &suffix, Expr value) {
        lets.emplace_back(makeVar(name + suffix, t, VarKind::Let), std::move(value));
        return ir::ref(lets.back().first);
      };
      for (int v = 0; v < vectors; ++v) {
        Expr position = add(start, add(intImm(int64_t{v} * vectorLanes), l));
        level.push_back(bind(".v" + std::to_string(v), bodyAt(position)));
        covers.emplace_back(v, v);
      }
      while (level.size() > 1) {
        std::vector<Expr> next;
        std::vector<std::pair<int, int>> nextCovers;
        for (size_t i = 0; i + 1 < level.size(); i += 2) {
          std::pair<int, int> both{covers[i].first, covers[i + 1].second};
          next.push_back(bind(".v" + std::to_string(both.first) + "_" + std::to_string(both.second),
                              plainBest(level[i], level[i + 1])));
          nextCovers.push_back(both);
        }
        if (level.size() % 2) {
          next.push_back(level.back());
          nextCovers.push_back(covers.back());
        }
        level = std::move(next);
        covers = std::move(nextCovers);
      }
      Stmt test = Store::make(near, l, equalsM(level.front()));
      for (size_t i = lets.size(); i-- > 0;)
        test = LetStmt::make(lets[i].first, lets[i].second, test);
      return test;
    });
    Expr wholeSteps = simplify(Binary::make(BinaryOp::FloorDiv, extent, intImm(lanes)));
    Stmt steps = For::make(
        split.outer, wholeSteps, ForKind::Serial,
        IfThenElse::make(
            notFound,
            Block::make({stepTest,
                         IfThenElse::make(VectorReduce::make(ReduceOp::Max, all(near, vectorLanes)),
                                          firstFrom(start, false, equalsM))})));
    Stmt find = Block::make(
        {steps,
         IfThenElse::make(notFound, firstFrom(mul(wholeSteps, intImm(lanes)), true, equalsM))});
    if (!split.guarded)
      find = steps;
    find = Allocate::make(near, MemoryScope::Stack, find);
    if (t.isFloat()) {
      Stmt nanSteps =
          For::make(split.outer, split.outerExtent, ForKind::Serial,
                    IfThenElse::make(notFound, firstFrom(start, split.guarded, [](const Expr &v) {
                                       return Binary::make(BinaryOp::Ne, v, v);
                                     })));
      find = IfThenElse::make(Binary::make(BinaryOp::Ne, mValue, mValue), nanSteps, find);
    }
    find = Allocate::make(hit, MemoryScope::Stack, Allocate::make(first, MemoryScope::Stack, find));

    Expr result = Load::make(at, zero);
    if (d.value->type != result->type)
      result = Cast::make(d.value->type, result);
    Stmt second = Allocate::make(
        at, MemoryScope::Stack,
        Block::make({Store::make(at, zero, intImm(-1)), find, Store::make(target, index, result)}));
    return Allocate::make(
        extreme, MemoryScope::Stack,
        Block::make(
            {init, scan,
             LetStmt::make(m, VectorReduce::make(extremeOp, all(extreme, lanes)), second)}));
  }

  /// vectorArgReduction with the steps kept as `stepType`, which holds every step of `split`.
  Stmt vectorArgSteps(ExprLowering &lw, const Definition &d, const Reduce *r,
                      const VectorSplit &split, DType stepType, const Buffer &target,
                      const Expr &index) {
    Type t = r->body->type;
    int lanes = split.lanes;
    const std::string &name = d.target->name;
    Buffer best = makeBuffer(name + ".best", t.dtype, {intImm(lanes)}, BufferRole::Intermediate);
    Buffer at = makeBuffer(name + ".at", stepType, {intImm(lanes)}, BufferRole::Intermediate);
    Expr zero = intImm(0), none = intImm(-1);
    Expr tZero = t.isFloat() ? FloatImm::make(t, 0.0) : IntImm::make(t, 0);
    Expr lowest = identity(r->op == ReduceOp::ArgMax ? ReduceOp::Max : ReduceOp::Min, t);
    const IterVar &k = r->axes.front();

    Var initLane = split.newInner();
    Stmt init = For::make(
        initLane, intImm(lanes), ForKind::Vectorized,
        Block::make({Store::make(best, ir::ref(initLane), lowest),
                     Store::make(at, ir::ref(initLane), IntImm::make(Type::scalar(stepType), 0))}));
    Var lane = split.newInner();
    Expr laneIndex = ir::ref(lane);
    Expr step = ir::ref(split.outer);
    if (stepType != DType::I64)
      step = Cast::make(Type::scalar(stepType), step);
    lw.bindValue(k.var, split.value(lane), split.extent);
    Var v = makeVar(name + ".v", t, VarKind::Let);
    Expr take = argBeats(r->op, ir::ref(v), Load::make(best, laneIndex));
    Stmt update =
        LetStmt::make(v, lw.mutate(r->body),
                      IfThenElse::make(take, Block::make({Store::make(best, laneIndex, ir::ref(v)),
                                                          Store::make(at, laneIndex, step)})));
    lw.unbind(k.var);
    Stmt scan =
        For::make(split.outer, split.outerExtent, ForKind::Serial, split.innerLoop(lane, update));

    // The lanes in turn, into one pair.
    Buffer bestAll = makeBuffer(name + ".best1", t.dtype, {intImm(1)}, BufferRole::Intermediate);
    Buffer atAll = makeBuffer(name + ".at1", DType::I64, {intImm(1)}, BufferRole::Intermediate);
    Var l = makeVar(name + ".lane", Type::i64(), VarKind::Loop);
    Var lv = makeVar(name + ".lv", t, VarKind::Let);
    Var li = makeVar(name + ".li", Type::i64(), VarKind::Let);
    Expr cur = Load::make(bestAll, zero), curAt = Load::make(atAll, zero);
    Expr laneValue = ir::ref(lv), lanePosition = ir::ref(li);
    Expr laneStep = Load::make(at, ir::ref(l));
    if (stepType != DType::I64)
      laneStep = Cast::make(Type::i64(), laneStep);
    Expr ties = Binary::make(BinaryOp::Eq, laneValue, cur);
    if (t.isFloat())
      ties =
          Binary::make(BinaryOp::Or, ties,
                       Binary::make(BinaryOp::And, Binary::make(BinaryOp::Ne, laneValue, laneValue),
                                    Binary::make(BinaryOp::Ne, cur, cur)));
    Expr wins = Binary::make(
        BinaryOp::Or,
        Binary::make(BinaryOp::Or, Binary::make(BinaryOp::Lt, curAt, zero),
                     argBeats(r->op, laneValue, cur)),
        Binary::make(BinaryOp::And, ties, Binary::make(BinaryOp::Lt, lanePosition, curAt)));
    Stmt pick = IfThenElse::make(
        Binary::make(BinaryOp::And, Binary::make(BinaryOp::Lt, lanePosition, split.extent), wins),
        Block::make(
            {Store::make(bestAll, zero, laneValue), Store::make(atAll, zero, lanePosition)}));
    Stmt combine = For::make(
        l, intImm(lanes), ForKind::Serial,
        LetStmt::make(lv, Load::make(best, ir::ref(l)),
                      LetStmt::make(li, add(mul(laneStep, intImm(lanes)), ir::ref(l)), pick)));
    Expr result = curAt;
    if (d.value->type != result->type)
      result = Cast::make(d.value->type, result);
    Stmt finish =
        Allocate::make(bestAll, MemoryScope::Stack,
                       Allocate::make(atAll, MemoryScope::Stack,
                                      Block::make({Store::make(bestAll, zero, tZero),
                                                   Store::make(atAll, zero, none), combine,
                                                   Store::make(target, index, result)})));
    return Allocate::make(
        best, MemoryScope::Stack,
        Allocate::make(at, MemoryScope::Stack, Block::make({init, scan, finish})));
  }

  /// The innermost index j vectorized in a reduction, the reduction loops inside its blocks:
  ///   for j.outer: acc[j.inner] = identity; for axes: acc[j.inner] op= body;
  ///                target[.., j] = finish(acc[j.inner])        (each over j.inner, vectorized)
  template <typename IndexFn>
  Stmt spatialReduction(ExprLowering &lw, const Definition &d, const Reduce *r,
                        const VectorSplit &split, const Buffer &target, IndexFn &&storeIndex) {
    const IterVar &iv = d.indices.back();
    Type t = r->type;
    int lanes = split.lanes;
    Buffer acc =
        makeBuffer(d.target->name + ".acc", t.dtype, {intImm(lanes)}, BufferRole::Intermediate);

    Var initLane = split.newInner();
    Stmt init = For::make(initLane, intImm(lanes), ForKind::Vectorized,
                          Store::make(acc, ir::ref(initLane), identity(r->op, t)));

    std::vector<Var> loops;
    std::vector<Expr> extents;
    bindAxes(lw, r->axes, loops, extents);
    Var lane = split.newInner();
    lw.rebind(iv.var, split.value(lane));
    Stmt update = Store::make(acc, ir::ref(lane),
                              combine(r->op, Load::make(acc, ir::ref(lane)), lw.mutate(r->body)));
    update = wrapSerial(split.innerLoop(lane, update), loops, extents, loops.size());
    for (const IterVar &axis : r->axes)
      lw.unbind(axis.var);

    Var outLane = split.newInner();
    lw.rebind(iv.var, split.value(outLane));
    Expr result = finish(r, Load::make(acc, ir::ref(outLane)), extents, d.value->type);
    Stmt out = split.innerLoop(outLane, Store::make(target, storeIndex(), result));

    Stmt body = Allocate::make(acc, MemoryScope::Stack, Block::make({init, update, out}));
    return For::make(split.outer, split.outerExtent, ForKind::Serial, body);
  }
  /// The index j vectorized in a reduction whose reads are strided along the reduction, with
  /// the accumulators of a strip of S values of j in a stack buffer:
  ///   for j.strip: acc[0, S) = identity; for axes: for j.outer: acc[j.outer * W + j.inner] op=
  ///                body; for j.outer: target[.., j] = finish(acc[...])     (over j.inner,
  ///                vectorized)
  /// with j = j.strip * S + j.outer * W + j.inner, so each step of the reduction reads S
  /// consecutive values of j. Each accumulator sums its points in order, as in the plain nest.
  /// In a parallel copy of the nest the strips run in parallel, narrowed (S at most the
  /// buffer's size) so that every thread gets one.
  template <typename IndexFn>
  Stmt stripReduction(ExprLowering &lw, const Definition &d, const Reduce *r,
                      const VectorSplit &whole, const MemberSchedule &ms, const Buffer &target,
                      IndexFn &&storeIndex) {
    const IterVar &iv = d.indices.back();
    Type t = r->type;
    Buffer acc =
        makeBuffer(d.target->name + ".acc", t.dtype, {intImm(ms.strip)}, BufferRole::Intermediate);
    auto ceilDiv = [](const Expr &a, const Expr &b) {
      return Binary::make(BinaryOp::FloorDiv, add(a, sub(b, intImm(1))), b);
    };
    bool parallel = parallelNest && ms.stripThreads > 1;
    Var widthVar = makeVar(iv.var->name + ".width", Type::i64(), VarKind::Let);
    Expr width = parallel ? ir::ref(widthVar) : intImm(ms.strip);
    Var stripVar = makeVar(iv.var->name + ".strip", Type::i64(), VarKind::Loop);
    Expr start = mul(ir::ref(stripVar), width);
    Expr rest = Binary::make(BinaryOp::Min, width, sub(whole.extent, start));
    // One pass over the strip's vectors: `build` gives the statement at one lane's accumulator.
    auto overStrip = [&](auto &&build) {
      VectorSplit split(iv.var->name, rest, whole.lanes);
      Var lane = split.newInner();
      Expr at = split.value(lane);
      lw.rebind(iv.var, add(start, at));
      Stmt body = build(at);
      return For::make(split.outer, split.outerExtent, ForKind::Serial,
                       split.innerLoop(lane, body));
    };

    Stmt init = overStrip([&](const Expr &at) { return Store::make(acc, at, identity(r->op, t)); });
    std::vector<Var> loops;
    std::vector<Expr> extents;
    bindAxes(lw, r->axes, loops, extents);
    Stmt update = overStrip([&](const Expr &at) {
      return Store::make(acc, at, combine(r->op, Load::make(acc, at), lw.mutate(r->body)));
    });
    update = wrapSerial(update, loops, extents, loops.size());
    for (const IterVar &axis : r->axes)
      lw.unbind(axis.var);
    Stmt out = overStrip([&](const Expr &at) {
      return Store::make(target, storeIndex(),
                         finish(r, Load::make(acc, at), extents, d.value->type));
    });
    Stmt nest = For::make(
        stripVar, ceilDiv(whole.extent, width), parallel ? ForKind::Parallel : ForKind::Serial,
        Allocate::make(acc, MemoryScope::Stack, Block::make({init, update, out})));
    if (!parallel)
      return nest;
    Expr lanes = intImm(whole.lanes);
    Expr perThread = mul(ceilDiv(ceilDiv(whole.extent, intImm(ms.stripThreads)), lanes), lanes);
    Expr narrowed = Binary::make(BinaryOp::Min, intImm(ms.strip), perThread);
    return LetStmt::make(widthVar, Binary::make(BinaryOp::Max, lanes, narrowed), nest);
  }
};

/// The first `count` dims of `d`, before a row chain's or a consumer tile's rows: their
/// extents, their number of points, and the indices of a point numbered row-major.
struct LeadingDims {
  std::vector<Expr> extents;
  Expr points = intImm(1);
  LeadingDims(const Definition &d, size_t count) {
    ExprLowering symbolic;
    for (size_t k = 0; k < count; ++k) {
      extents.push_back(symbolic.mutate(d.indices[k].extent));
      points = mul(points, extents.back());
    }
  }
  std::vector<Expr> indicesOf(Expr point) const {
    std::vector<Expr> indices(extents.size());
    for (size_t k = extents.size(); k-- > 0;) {
      indices[k] = k == 0 ? point : Binary::make(BinaryOp::Mod, point, extents[k]);
      point = Binary::make(BinaryOp::FloorDiv, point, extents[k]);
    }
    return indices;
  }
};

/// Which loop of a row chain runs in parallel: none, the points of the dims before the rows, or
/// the blocks of rows of each point.
enum class ChainThreads : uint8_t { Serial, Points, Blocks };

/// The groups of `chain` per block of its rows (see RowChain):
///   for point in [0, points of the dims before the rows)      (parallel: Points)
///     pack each contraction's B operand whole (see packTiledOperand)
///     for block in [0, blocks of rows)                        (parallel: Blocks)
///       allocate the chain's windows ([rows, dims after the rows] each)
///       each group in turn over the block's rows: a contraction tiled (lowerTiledRows), the
///       others as their nests
/// Split (see ChainSchedule::chunkColumns), the windows hold one chunk of their columns, and
/// inside a block:
///       for chunk in [0, chunks of the last contraction's k)    (serial, in order)
///         each group but the last over the block's rows and the chunk's columns (a contraction:
///         its n block that is the chunk), then the last contraction's k block that is the chunk
Stmt lowerChain(const FusedKernel &fused, const Schedule &sched, const RowChain &chain,
                ChainThreads threads, bool split) {
  const std::vector<Definition> &defs = fused.kernel.defs;
  const ChainSchedule &cs = sched.chains[static_cast<size_t>(&chain - fused.chains.data())];
  const Definition &first = defs[fused.groups[chain.first].members.front()];
  ExprLowering symbolic;
  LeadingDims lead(first, chain.rowDim);
  Expr height = symbolic.mutate(first.indices[chain.rowDim].extent);
  std::string name = first.indices[chain.rowDim].var->name;
  Var rowsVar = makeVar(name + ".rows", Type::i64(), VarKind::Let);
  Var point = makeVar(name + ".point", Type::i64(), VarKind::Loop);
  Var block = makeVar(name + ".block", Type::i64(), VarKind::Loop);
  Var startVar = makeVar(name + ".start", Type::i64(), VarKind::Let);
  Var countVar = makeVar(name + ".count", Type::i64(), VarKind::Let);
  Expr rows = ir::ref(rowsVar);
  // Of a split chain: the windows' columns (the last contraction's k) and their chunks.
  const Definition &last = defs[fused.groups[chain.last].members.front()];
  Var widthVar = makeVar("chunk.width", Type::i64(), VarKind::Let);
  Var chunk = makeVar("chunk", Type::i64(), VarKind::Loop);
  Var colBeginVar = makeVar("chunk.begin", Type::i64(), VarKind::Let);
  Var colCountVar = makeVar("chunk.count", Type::i64(), VarKind::Let);
  Expr columns = split ? symbolic.mutate(topReduce(last)->axes.front().extent) : nullptr;

  RowBlock rb;
  rb.fixed = lead.indicesOf(ir::ref(point));
  rb.begin = ir::ref(startVar);
  rb.count = ir::ref(countVar);
  if (split) {
    rb.chunk = ir::ref(chunk);
    rb.chunkWidth = ir::ref(widthVar);
    rb.colBegin = ir::ref(colBeginVar);
    rb.colCount = ir::ref(colCountVar);
  }
  std::vector<Buffer> windows;
  for (size_t g = chain.first; g <= chain.last; ++g)
    for (size_t m : fused.groups[g].members) {
      if (fused.storage[m] != Storage::Window)
        continue;
      const Definition &d = defs[m];
      std::vector<Expr> shape{rows};
      for (size_t k = chain.rowDim + 1; k < d.indices.size(); ++k)
        shape.push_back(split && k + 1 == d.indices.size() ? rb.chunkWidth
                                                           : symbolic.mutate(d.indices[k].extent));
      Buffer slice = makeBuffer(d.target->name, d.target->dtype, shape, BufferRole::Intermediate,
                                d.target->span);
      rb.windows[d.target.get()] = RowWindow{slice, chain.rowDim, rb.begin, 0, rb.colBegin};
      windows.push_back(slice);
    }
  std::vector<Stmt> packs, groups;
  std::vector<Buffer> packed;
  ForKind packKind = threads == ChainThreads::Blocks ? ForKind::Parallel : ForKind::Serial;
  for (size_t g = chain.first; g <= chain.last; ++g) {
    std::string why;
    if (matchTiledGroup(fused, fused.groups[g], why)) {
      if (split)
        rb.chunkAxis = g == chain.last ? RowBlock::ChunkAxis::K : RowBlock::ChunkAxis::N;
      PackedOperand b = packTiledOperand(fused, fused.groups[g], sched.target, rb, packKind);
      packs.push_back(b.pack);
      packed.push_back(b.buffer);
      groups.push_back(lowerTiledRows(fused, fused.groups[g], sched.target, rb, b.buffer));
    } else {
      // Serial over the block's rows: the block loop is the parallel one, and blocks the rows.
      GroupSchedule serial = sched.groups[g];
      serial.parallel = false;
      serial.parallelIf = nullptr;
      serial.rowsPerBlock = nullptr;
      serial.tile.reset();
      groups.push_back(GroupLowering(fused, fused.groups[g], serial).lowerBlock(rb));
    }
  }
  Stmt body = Block::make(groups);
  if (split) {
    Expr begin = mul(ir::ref(chunk), rb.chunkWidth);
    body = LetStmt::make(colCountVar,
                         Binary::make(BinaryOp::Min, rb.chunkWidth, sub(columns, begin)), body);
    body = LetStmt::make(colBeginVar, begin, body);
    // At least one chunk: with no columns, the last contraction still stores its zero sums.
    Expr chunks =
        Binary::make(BinaryOp::Max, intImm(1),
                     Binary::make(BinaryOp::FloorDiv, add(columns, sub(rb.chunkWidth, intImm(1))),
                                  rb.chunkWidth));
    body = For::make(chunk, chunks, ForKind::Serial, body);
  }
  for (size_t w = windows.size(); w-- > 0;)
    body = Allocate::make(windows[w], MemoryScope::Heap, body);
  body = LetStmt::make(countVar, Binary::make(BinaryOp::Min, rows, sub(height, ir::ref(startVar))),
                       body);
  body = LetStmt::make(startVar, mul(ir::ref(block), rows), body);
  Expr blocks = Binary::make(BinaryOp::FloorDiv, add(height, sub(rows, intImm(1))), rows);
  body = For::make(block, blocks,
                   threads == ChainThreads::Blocks ? ForKind::Parallel : ForKind::Serial, body);
  packs.push_back(body);
  body = Block::make(packs);
  for (size_t b = packed.size(); b-- > 0;)
    body = Allocate::make(packed[b], MemoryScope::Heap, body);
  body = For::make(point, lead.points,
                   threads == ChainThreads::Points ? ForKind::Parallel : ForKind::Serial, body);
  if (split)
    body = LetStmt::make(widthVar, symbolic.mutate(cs.chunkColumns), body);
  return LetStmt::make(rowsVar, symbolic.mutate(split ? cs.splitRows : cs.rowsPerBlock), body);
}

/// The consumer group `g` of a ConsumerTile per tile, each computing its rows of the tiled
/// contraction before it first:
///   for tile in [0, points of the fixed dims x blocks of rows)   (parallel: `parallel`)
///     allocate the producer's windows (its dims after the fixed ones, of the row only the
///       rows a tile reads)
///     the contraction over its rows the tile reads (lowerTiledOuterBlock), all m and n
///     the group over the tile's rows (GroupLowering::lowerBlock), reading the windows
Stmt lowerTiles(const FusedKernel &fused, const Schedule &sched, size_t g, bool parallel) {
  const std::vector<Definition> &defs = fused.kernel.defs;
  const TileSchedule &ts = *sched.groups[g].tiles;
  const ConsumerTile &tile = ts.tile;
  const Definition &reader = defs[fused.groups[g].members.front()];
  const Definition &producer = defs[fused.groups[tile.producer].members.front()];
  ExprLowering symbolic;
  LeadingDims lead(reader, tile.fixedDims);
  Expr height = symbolic.mutate(reader.indices[tile.rowDim].extent);
  Expr producerHeight = symbolic.mutate(producer.indices[tile.rowDim].extent);
  std::string name = reader.indices[tile.rowDim].var->name;
  Var rowsVar = makeVar(name + ".rows", Type::i64(), VarKind::Let);
  Var blocksVar = makeVar(name + ".blocks", Type::i64(), VarKind::Let);
  Var tileVar = makeVar(name + ".tile", Type::i64(), VarKind::Loop);
  Var startVar = makeVar(name + ".start", Type::i64(), VarKind::Let);
  Var countVar = makeVar(name + ".count", Type::i64(), VarKind::Let);
  Var fromVar =
      makeVar(producer.indices[tile.rowDim].var->name + ".from", Type::i64(), VarKind::Let);
  Var toVar = makeVar(producer.indices[tile.rowDim].var->name + ".to", Type::i64(), VarKind::Let);
  Expr rows = ir::ref(rowsVar), blocks = ir::ref(blocksVar);

  // The tile's point of the fixed dims, row-major, and its block.
  std::vector<Expr> fixed =
      lead.indicesOf(Binary::make(BinaryOp::FloorDiv, ir::ref(tileVar), blocks));
  Expr start = ir::ref(startVar), count = ir::ref(countVar);
  Expr from = ir::ref(fromVar), to = ir::ref(toVar);

  OuterBlock ob;
  ob.fixed = fixed;
  ob.begin = from;
  ob.count = Binary::make(BinaryOp::Max, intImm(0), sub(to, from));
  std::vector<Buffer> windows;
  for (size_t m : fused.groups[tile.producer].members) {
    if (fused.storage[m] != Storage::Window)
      continue;
    const Definition &d = defs[m];
    std::vector<Expr> shape;
    for (size_t k = tile.fixedDims; k < d.indices.size(); ++k)
      shape.push_back(k == tile.rowDim ? add(mul(sub(rows, intImm(1)), intImm(tile.stride)),
                                             intImm(tile.hi - tile.lo + 1))
                                       : symbolic.mutate(d.indices[k].extent));
    Buffer slice = makeBuffer(d.target->name, d.target->dtype, shape, BufferRole::Intermediate,
                              d.target->span);
    ob.windows[d.target.get()] =
        RowWindow{slice, tile.fixedDims, from, tile.rowDim - tile.fixedDims, nullptr};
    windows.push_back(slice);
  }
  RowBlock rb;
  rb.fixed = fixed;
  rb.fixed.resize(tile.rowDim); // The dims between the fixed ones and the row: looped.
  rb.begin = start;
  rb.count = count;
  rb.windows = ob.windows;
  GroupSchedule serial = sched.groups[g];
  serial.parallel = false;
  serial.parallelIf = nullptr;
  serial.rowsPerBlock = nullptr;
  serial.tile.reset();
  Stmt body =
      Block::make({lowerTiledOuterBlock(fused, fused.groups[tile.producer], sched.target, ob),
                   GroupLowering(fused, fused.groups[g], serial).lowerBlock(rb)});
  for (size_t w = windows.size(); w-- > 0;)
    body = Allocate::make(windows[w], MemoryScope::Heap, body);
  // The producer rows the tile's rows read, inside the producer.
  Expr last = add(mul(sub(add(start, count), intImm(1)), intImm(tile.stride)), intImm(tile.hi + 1));
  body = LetStmt::make(toVar, Binary::make(BinaryOp::Min, producerHeight, last), body);
  body = LetStmt::make(
      fromVar,
      Binary::make(BinaryOp::Max, intImm(0), add(mul(start, intImm(tile.stride)), intImm(tile.lo))),
      body);
  body = LetStmt::make(countVar, Binary::make(BinaryOp::Min, rows, sub(height, start)), body);
  body = LetStmt::make(startVar, mul(Binary::make(BinaryOp::Mod, ir::ref(tileVar), blocks), rows),
                       body);
  body = For::make(tileVar, mul(lead.points, blocks),
                   parallel ? ForKind::Parallel : ForKind::Serial, body);
  body = LetStmt::make(
      blocksVar, Binary::make(BinaryOp::FloorDiv, add(height, sub(rows, intImm(1))), rows), body);
  return LetStmt::make(rowsVar, symbolic.mutate(ts.rowsPerTile), body);
}

} // namespace

// Requires: a normalized kernel (see normalize).
// Gives: a loop-level function whose params are the inputs, the outputs, then the gather checks'
// results. Each definition is a
// perfect nest of Serial loops (fresh Loop variables named like its indices) around one Store, or,
// for a reduction, around a Stack Allocate of a one-element accumulator holding: the identity
// store, a nest of Serial loops over the reduction axes updating it, and the final store (an
// argmax or argmin: two such accumulators, the value and the index; see argReduction). Each
// intermediate buffer is allocated on the heap around its definition and everything after it.
// Accesses with a fallback become Select(inBounds, Load(predicate = inBounds), fallback).
// Keeps: the order of definitions. Does not simplify (index arithmetic is left as built).
LoweredFunc buildLoopNest(const Kernel &kernel) {
  LoweredFunc func;
  func.name = kernel.name;
  func.params = kernel.inputs;
  func.params.insert(func.params.end(), kernel.outputs.begin(), kernel.outputs.end());
  for (const GatherCheck &c : kernel.checks)
    func.params.push_back(c.result);
  func.symbols = kernel.symbols;

  std::vector<Stmt> nests;
  for (const Definition &def : kernel.defs)
    nests.push_back(lowerPlain(def));
  // From the back: an intermediate's Allocate wraps its own nest and every later one.
  Stmt rest = Block::make({});
  for (size_t k = kernel.defs.size(); k-- > 0;) {
    rest = Block::make({nests[k], rest});
    if (kernel.defs[k].target->role == BufferRole::Intermediate)
      rest = Allocate::make(kernel.defs[k].target, MemoryScope::Heap, rest);
  }
  func.body = rest;
  return func;
}

// Requires: `fused` from fuse() of a normalized kernel, `sched` from schedule() of it.
// Gives: one nest per group, in order (see the top of this file); intermediates stored whole are
// allocated on the heap around their group and everything after it. Loops are Serial except the
// schedule's Parallel outer loops and Vectorized lane loops (constant extent W, innermost, with
// only stores, lets and ifs inside). Keeps: the order of definitions and, within each vector
// accumulator lane, the order of a reduction's points. Does not simplify.
LoweredFunc lowerScheduled(const FusedKernel &fused, const Schedule &sched) {
  const Kernel &kernel = fused.kernel;
  TDSL_CHECK(sched.groups.size() == fused.groups.size()) << "schedule for another fusion";
  LoweredFunc func;
  func.name = kernel.name;
  func.params = kernel.inputs;
  func.params.insert(func.params.end(), kernel.outputs.begin(), kernel.outputs.end());
  for (const GatherCheck &c : kernel.checks)
    func.params.push_back(c.result);
  func.symbols = kernel.symbols;

  TDSL_CHECK(sched.chains.size() == fused.chains.size()) << "schedule for another fusion";
  std::vector<Stmt> nests;
  size_t nextChain = 0;
  for (size_t g = 0; g < fused.groups.size(); ++g) {
    // A contraction and its epilogue are lowered as a tiled GEMM (passes/Tile.h).
    const FusedGroup &group = fused.groups[g];
    if (nextChain < fused.chains.size() && fused.chains[nextChain].first == g) {
      const RowChain &chain = fused.chains[nextChain];
      const ChainSchedule &cs = sched.chains[nextChain++];
      // Without the chain: each group as usual, the windows stored whole.
      std::vector<Stmt> whole;
      for (size_t w = chain.first; w <= chain.last; ++w) {
        Stmt tiled = lowerTiledGroup(fused, fused.groups[w], sched.target);
        whole.push_back(tiled ? tiled
                              : GroupLowering(fused, fused.groups[w], sched.groups[w]).lower());
      }
      Stmt unchained = Block::make(whole);
      for (size_t w = chain.last + 1; w-- > chain.first;)
        for (size_t m = fused.groups[w].members.size(); m-- > 0;) {
          size_t d = fused.groups[w].members[m];
          if (fused.storage[d] == Storage::Window)
            unchained = Allocate::make(kernel.defs[d].target, MemoryScope::Heap, unchained);
        }
      ExprLowering lw;
      // The chain with its threads (see ChainSchedule), plain or split.
      auto chained = [&](bool split) {
        Stmt nest = lowerChain(fused, sched, chain, ChainThreads::Blocks, split);
        if (cs.parallelPoints)
          nest =
              IfThenElse::make(lw.mutate(cs.parallelPoints),
                               lowerChain(fused, sched, chain, ChainThreads::Points, split), nest);
        if (!cs.parallel)
          nest = lowerChain(fused, sched, chain, ChainThreads::Serial, split);
        else if (cs.parallelIf)
          nest = IfThenElse::make(lw.mutate(cs.parallelIf), nest,
                                  lowerChain(fused, sched, chain, ChainThreads::Serial, split));
        return nest;
      };
      // Where the plain chain does not pay: split, when it can be, else the groups whole.
      const IntImm *known = as<IntImm>(cs.pays);
      Stmt otherwise = cs.chunkColumns ? chained(true) : unchained;
      Stmt nest = otherwise;
      if (!known || known->value)
        nest = known ? chained(false)
                     : IfThenElse::make(lw.mutate(cs.pays), chained(false), otherwise);
      nests.push_back(nest);
      for (; g < chain.last; ++g)
        nests.push_back(Block::make({}));
    } else if (hasWindows(fused, group)) {
      // Computed inside its reader's blocks (slideWindows) or tiles (lowerTiles).
      nests.push_back(Block::make({}));
    } else if (const std::optional<TileSchedule> &ts = sched.groups[g].tiles) {
      Stmt nest = lowerTiles(fused, sched, g, ts->parallel);
      if (ts->parallel && ts->parallelIf)
        nest = IfThenElse::make(ExprLowering().mutate(ts->parallelIf), nest,
                                lowerTiles(fused, sched, g, false));
      nests.push_back(nest);
    } else if (Stmt tiled = lowerTiledGroup(fused, group, sched.target)) {
      nests.push_back(tiled);
    } else {
      GroupLowering lowering(fused, group, sched.groups[g]);
      if (group.halo)
        lowering.computeProducers(sched.groups);
      nests.push_back(lowering.lower());
    }
  }
  // The whole intermediates of a group, allocated around its nest and every later one; a
  // chain's nest (at its first group) writes those of all its groups.
  std::vector<std::vector<Buffer>> allocated(fused.groups.size());
  for (size_t g = 0; g < fused.groups.size(); ++g) {
    size_t at = g;
    for (const RowChain &chain : fused.chains)
      if (chain.first <= g && g <= chain.last)
        at = chain.first;
    for (size_t m : fused.groups[g].members) {
      const Definition &d = kernel.defs[m];
      if (d.target->role == BufferRole::Intermediate && fused.storage[m] == Storage::Tensor)
        allocated[at].push_back(d.target);
    }
  }
  Stmt rest = Block::make({});
  for (size_t g = fused.groups.size(); g-- > 0;) {
    rest = Block::make({nests[g], rest});
    for (size_t b = allocated[g].size(); b-- > 0;)
      rest = Allocate::make(allocated[g][b], MemoryScope::Heap, rest);
  }
  func.body = rest;
  return func;
}

} // namespace tdsl::passes
