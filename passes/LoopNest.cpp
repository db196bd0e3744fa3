// buildLoopNest: the first loop-level program of a normalized kernel. Every definition becomes
// one nest of serial loops over its domain, in order; a reduction accumulates into a one-element
// stack buffer inside that nest; tensor accesses become loads at flat row-major indices. Later
// passes (tiling, vectorization, GPU mapping) reshape these nests; this one only makes them.
#include "ir/IRVisitor.h"
#include "passes/ExprEqual.h"
#include "passes/Pipeline.h"
#include "support/Check.h"

#include <limits>
#include <optional>

namespace tdsl::passes {
namespace {

using namespace ir;

/// The flat row-major index of `indices` into a tensor of `shape`: ((i0 * d1) + i1) * d2 + ...
Expr flatIndex(const std::vector<Expr> &shape, const std::vector<Expr> &indices) {
  TDSL_CHECK(shape.size() == indices.size()) << "index count differs from rank";
  if (indices.empty())
    return intImm(0);
  Expr flat = indices[0];
  for (size_t k = 1; k < indices.size(); ++k)
    flat = add(mul(flat, shape[k]), indices[k]);
  return flat;
}

/// The identity of a reduction: the value reducing zero points gives.
Expr identity(ReduceOp op, Type t) {
  if (t.isBool()) {
    TDSL_CHECK(op == ReduceOp::Max || op == ReduceOp::Min) << "sum or product of bool";
    return boolImm(op == ReduceOp::Min);
  }
  bool isFloat = t.isFloat();
  bool is32 = t.dtype == DType::I32;
  switch (op) {
  case ReduceOp::Sum:
  case ReduceOp::Mean:
    return isFloat ? FloatImm::make(t, 0.0) : IntImm::make(t, 0);
  case ReduceOp::Prod:
    return isFloat ? FloatImm::make(t, 1.0) : IntImm::make(t, 1);
  case ReduceOp::Max:
    if (isFloat)
      return FloatImm::make(t, -std::numeric_limits<double>::infinity());
    return IntImm::make(t, is32 ? std::numeric_limits<int32_t>::min()
                                : std::numeric_limits<int64_t>::min());
  case ReduceOp::Min:
    if (isFloat)
      return FloatImm::make(t, std::numeric_limits<double>::infinity());
    return IntImm::make(t, is32 ? std::numeric_limits<int32_t>::max()
                                : std::numeric_limits<int64_t>::max());
  }
  TDSL_UNREACHABLE("unknown reduction");
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
  }
  TDSL_UNREACHABLE("unknown reduction");
}

/// Lowers one definition to its loop nest.
class DefinitionLowering : public IRMutator {
public:
  Stmt lower(const Definition &def) {
    std::vector<Var> loops;
    std::vector<Expr> extents, targetIndices;
    for (const IterVar &iv : def.indices) {
      loops.push_back(bind(iv));
      extents.push_back(bindings.back().extent);
      targetIndices.push_back(ir::ref(loops.back()));
    }
    Expr index = flatIndex(def.target->shape, targetIndices);

    Stmt inner;
    const Cast *rounding = as<Cast>(def.value);
    const Reduce *reduce = as<Reduce>(rounding ? rounding->a : def.value);
    if (reduce) {
      inner = lowerReduction(def.target, index, reduce, rounding ? rounding->type : reduce->type);
    } else {
      inner = Store::make(def.target, index, mutate(def.value));
    }
    for (size_t k = loops.size(); k-- > 0;)
      inner = For::make(loops[k], extents[k], ForKind::Serial, inner);
    return inner;
  }

protected:
  Expr visitVarRef(const VarRef *n, const Expr &self) override {
    if (n->var->kind != VarKind::Index)
      return self;
    for (const auto &b : bindings)
      if (b.index == n->var)
        return ir::ref(b.loop);
    TDSL_CHECK(false) << "index variable " << n->var->name << " is not bound by a loop";
    return self;
  }

  Expr visitAccess(const Access *n, const Expr &self) override {
    std::vector<Expr> indices;
    for (const Expr &i : n->indices)
      indices.push_back(mutate(i));
    Expr flat = flatIndex(n->buffer->shape, indices);
    if (!n->fallback)
      return Load::make(n->buffer, flat);
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
      if (!lo || lo->offset > 0 || !structurallyEqual(*lo->extent, n->buffer->shape[k]))
        conjoin(Binary::make(BinaryOp::Lt, indices[k], n->buffer->shape[k]));
    }
    Expr fallback = mutate(n->fallback);
    if (!inBounds)
      return Load::make(n->buffer, flat);
    return Select::make(inBounds, Load::make(n->buffer, flat, inBounds), fallback);
  }

  Expr visitReduce(const Reduce *, const Expr &) override {
    TDSL_UNREACHABLE("buildLoopNest requires a normalized kernel (a nested reduction remains)");
  }

private:
  struct Binding {
    Var index, loop;
    Expr extent; // Lowered.
  };
  std::vector<Binding> bindings;

  /// A fresh loop counter named like the index variable it replaces.
  Var bind(const IterVar &iv) {
    Var loop = makeVar(iv.var->name, Type::i64(), VarKind::Loop);
    bindings.push_back(Binding{iv.var, loop, mutate(iv.extent)});
    return loop;
  }

  /// An index of the form `loop + offset` (offset constant), with the loop's extent.
  struct LoopOffset {
    const Expr *extent;
    int64_t offset;
  };
  std::optional<LoopOffset> loopOffset(const Expr &index) const {
    Expr e = simplify(index); // Canonical: `i`, `i + 3` or `i - 3`.
    int64_t offset = 0;
    if (const Binary *b = as<Binary>(e);
        b && as<IntImm>(b->b) && (b->op == BinaryOp::Add || b->op == BinaryOp::Sub)) {
      int64_t c = as<IntImm>(b->b)->value;
      if (b->op == BinaryOp::Sub && c == std::numeric_limits<int64_t>::min())
        return std::nullopt;
      offset = b->op == BinaryOp::Add ? c : -c;
      e = b->a;
    }
    const VarRef *v = as<VarRef>(e);
    if (!v)
      return std::nullopt;
    for (const Binding &b : bindings)
      if (b.loop == v->var)
        return LoopOffset{&b.extent, offset};
    return std::nullopt;
  }

  /// acc = identity; for axes: acc = combine(acc, body); target[index] = finish(acc).
  Stmt lowerReduction(const Buffer &target, const Expr &index, const Reduce *r, Type storeType) {
    Buffer acc =
        makeBuffer(target->name + ".acc", r->type.dtype, {intImm(1)}, BufferRole::Intermediate);
    Expr zero = intImm(0);
    std::vector<Var> loops;
    std::vector<Expr> extents;
    for (const IterVar &axis : r->axes) {
      loops.push_back(bind(axis));
      extents.push_back(bindings.back().extent);
    }
    Stmt update = Store::make(acc, zero, combine(r->op, Load::make(acc, zero), mutate(r->body)));
    for (size_t k = loops.size(); k-- > 0;)
      update = For::make(loops[k], extents[k], ForKind::Serial, update);

    Expr result = Load::make(acc, zero);
    if (r->op == ReduceOp::Mean) { // Zero points give 0 / 0 = NaN.
      Expr count = extents[0];
      for (size_t k = 1; k < extents.size(); ++k)
        count = mul(count, extents[k]);
      result = Binary::make(BinaryOp::Div, result, Cast::make(r->type, count));
    }
    if (storeType != r->type)
      result = Cast::make(storeType, result);
    Stmt body = Block::make({Store::make(acc, zero, identity(r->op, r->type)), update,
                             Store::make(target, index, result)});
    return Allocate::make(acc, MemoryScope::Stack, body);
  }
};

} // namespace

// Requires: a normalized kernel (see normalize).
// Gives: a loop-level function whose params are the inputs then the outputs. Each definition is a
// perfect nest of Serial loops (fresh Loop variables named like its indices) around one Store, or,
// for a reduction, around a Stack Allocate of a one-element accumulator holding: the identity
// store, a nest of Serial loops over the reduction axes updating it, and the final store. Each
// intermediate buffer is allocated on the heap around its definition and everything after it.
// Accesses with a fallback become Select(inBounds, Load(predicate = inBounds), fallback).
// Keeps: the order of definitions. Does not simplify (index arithmetic is left as built).
LoweredFunc buildLoopNest(const Kernel &kernel) {
  LoweredFunc func;
  func.name = kernel.name;
  func.params = kernel.inputs;
  func.params.insert(func.params.end(), kernel.outputs.begin(), kernel.outputs.end());
  func.symbols = kernel.symbols;

  std::vector<Stmt> nests;
  for (const Definition &def : kernel.defs)
    nests.push_back(DefinitionLowering().lower(def));
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

} // namespace tdsl::passes
