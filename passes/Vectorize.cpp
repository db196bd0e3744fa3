// vectorize: loops of kind Vectorized become vector code whose lanes run in lock-step.
//
// The loop counter `v` of `for v in [0, W) vectorized` becomes the vector ramp(0, 1, W), and the
// body is rewritten bottom-up: an expression that does not depend on `v` stays scalar (computed
// once and broadcast where it meets a vector), one that does becomes a W-lane vector. Integer
// index arithmetic keeps ramps as ramps (`b + ramp(0, 1, W)` -> `ramp(b, 1, W)`, `ramp * c` ->
// `ramp(base * c, stride * c)`), so a flat index affine in `v` with unit stride stays a ramp of
// stride 1, which the backends turn into one contiguous vector access; any other vector index is
// a gather or scatter.
//
// Control flow that depends on `v` cannot stay control flow: it becomes a lane predicate carried
// down to every load and store below it (a load under a false lane never touches memory). The
// remainder guard the schedule emits, `if (base + v < E)`, is recognised and split into
// `if (base + W <= E) { unmasked body } else { masked body }`, so the main iterations carry no
// masks. Memory allocated inside the loop is private to each iteration, so it is widened to one
// copy per lane (lane l of element i at i * W + l). Inner serial loops run with the lanes in
// lock-step; when their trip count differs between lanes they run the longest and mask the rest.
#include "passes/Vectorize.h"

#include "ir/IRPrinter.h"
#include "ir/IRVisitor.h"
#include "passes/Pipeline.h"
#include "support/Check.h"

#include <algorithm>
#include <unordered_map>

namespace tdsl::passes {
namespace {

using namespace ir;

/// More lanes than this is a schedule bug, not a vector (LLVM's limits are far above).
constexpr int64_t maxLanes = 1024;

const IntImm *scalarInt(const Expr &e) {
  const IntImm *imm = as<IntImm>(e);
  return imm && !imm->type.isVector() ? imm : nullptr;
}

/// The scalar held by every lane of `e` (a Broadcast or a vector immediate), or null.
Expr uniformValue(const Expr &e) {
  if (!e->type.isVector())
    return nullptr;
  if (const Broadcast *b = as<Broadcast>(e))
    return b->value;
  if (const IntImm *i = as<IntImm>(e))
    return IntImm::make(e->type.element(), i->value);
  if (const FloatImm *f = as<FloatImm>(e))
    return FloatImm::make(e->type.element(), f->value);
  return nullptr;
}

/// `e` in every one of `lanes` lanes; constants become vector immediates.
Expr broadcast(const Expr &e, int lanes) {
  if (e->type.isVector()) {
    TDSL_CHECK(e->type.lanes == lanes) << "vectorize: a " << e->type.str() << " value meets "
                                       << lanes << " lanes: " << toString(e);
    return e;
  }
  if (const IntImm *i = as<IntImm>(e))
    return IntImm::make(e->type.withLanes(lanes), i->value);
  if (const FloatImm *f = as<FloatImm>(e))
    return FloatImm::make(e->type.withLanes(lanes), f->value);
  return Broadcast::make(e, lanes);
}

Expr zeroOf(Type t) { return t.isFloat() ? FloatImm::make(t, 0.0) : IntImm::make(t, 0); }

Expr conjoin(const Expr &a, const Expr &b) {
  if (!a)
    return b;
  if (!b)
    return a;
  return Binary::make(BinaryOp::And, a, b);
}

/// True when any lane of `pred` holds (`pred` itself when it is scalar).
Expr anyLane(const Expr &pred) {
  if (!pred || !pred->type.isVector())
    return pred;
  return VectorReduce::make(ReduceOp::Max, pred); // Max of bools is or.
}

/// ramp(base, stride, lanes) with its scalar parts simplified; a zero stride is a broadcast.
Expr makeRamp(const Expr &base, const Expr &stride, int lanes) {
  Expr b = simplify(base), s = simplify(stride);
  if (const IntImm *imm = scalarInt(s); imm && imm->value == 0)
    return broadcast(b, lanes);
  return Ramp::make(b, s, lanes);
}

/// `a op b` where at least one side may be a vector; integer + - * of ramps and uniform values
/// stay ramps (exact: wrapping integer arithmetic is a ring).
Expr widenBinary(BinaryOp op, const Expr &a, const Expr &b) {
  if (!a->type.isVector() && !b->type.isVector())
    return Binary::make(op, a, b);
  int lanes = a->type.isVector() ? a->type.lanes : b->type.lanes;
  if (a->type.isInt() && (op == BinaryOp::Add || op == BinaryOp::Sub || op == BinaryOp::Mul)) {
    const Ramp *ra = as<Ramp>(a), *rb = as<Ramp>(b);
    Expr ua = a->type.isVector() ? uniformValue(a) : a;
    Expr ub = b->type.isVector() ? uniformValue(b) : b;
    Expr zero = IntImm::make(a->type.element(), 0);
    if (ra && ub) {
      if (op == BinaryOp::Add)
        return makeRamp(add(ra->base, ub), ra->stride, lanes);
      if (op == BinaryOp::Sub)
        return makeRamp(sub(ra->base, ub), ra->stride, lanes);
      return makeRamp(mul(ra->base, ub), mul(ra->stride, ub), lanes);
    }
    if (ua && rb) {
      if (op == BinaryOp::Add)
        return makeRamp(add(ua, rb->base), rb->stride, lanes);
      if (op == BinaryOp::Sub)
        return makeRamp(sub(ua, rb->base), sub(zero, rb->stride), lanes);
      return makeRamp(mul(ua, rb->base), mul(ua, rb->stride), lanes);
    }
    if (ra && rb && op != BinaryOp::Mul)
      return makeRamp(Binary::make(op, ra->base, rb->base),
                      Binary::make(op, ra->stride, rb->stride), lanes);
  }
  return Binary::make(op, broadcast(a, lanes), broadcast(b, lanes));
}

/// Comparisons flipped so that the operands can swap sides: `a < b` is `b > a`.
BinaryOp swapSides(BinaryOp op) {
  switch (op) {
  case BinaryOp::Lt:
    return BinaryOp::Gt;
  case BinaryOp::Le:
    return BinaryOp::Ge;
  case BinaryOp::Gt:
    return BinaryOp::Lt;
  case BinaryOp::Ge:
    return BinaryOp::Le;
  default:
    return op;
  }
}

/// A scalar condition that holds exactly when every lane of `cond` holds, for conjunctions of
/// comparisons between an i64 ramp of constant stride and a uniform value (the remainder guard
/// `ramp(base, 1, W) < E` gives `base + W <= E`); null for anything else.
Expr allLanes(const Expr &cond) {
  if (!cond->type.isVector())
    return cond;
  if (Expr u = uniformValue(cond))
    return u;
  const Binary *b = as<Binary>(cond);
  if (!b)
    return nullptr;
  if (b->op == BinaryOp::And) {
    Expr x = allLanes(b->a), y = allLanes(b->b);
    return x && y ? Binary::make(BinaryOp::And, x, y) : nullptr;
  }
  BinaryOp op = b->op;
  const Ramp *ramp = as<Ramp>(b->a);
  Expr bound = uniformValue(b->b);
  if (!ramp) {
    ramp = as<Ramp>(b->b);
    bound = uniformValue(b->a);
    op = swapSides(op);
  }
  if (!ramp || !bound || ramp->type.dtype != DType::I64)
    return nullptr;
  const IntImm *stride = scalarInt(ramp->stride);
  if (!stride || stride->value == 0)
    return nullptr;
  Expr first = ramp->base;
  Expr last = add(ramp->base, intImm(stride->value * (ramp->lanes - 1)));
  Expr lowest = stride->value > 0 ? first : last, highest = stride->value > 0 ? last : first;
  switch (op) {
  case BinaryOp::Lt:
    if (stride->value == 1) // `base + W <= E` reads as the guard it replaces.
      return Binary::make(BinaryOp::Le, add(ramp->base, intImm(ramp->lanes)), bound);
    return Binary::make(BinaryOp::Lt, highest, bound);
  case BinaryOp::Le:
    return Binary::make(BinaryOp::Le, highest, bound);
  case BinaryOp::Gt:
    return Binary::make(BinaryOp::Gt, lowest, bound);
  case BinaryOp::Ge:
    return Binary::make(BinaryOp::Ge, lowest, bound);
  default:
    return nullptr;
  }
}

bool readsMemory(const Expr &e) {
  struct Finder : IRVisitor {
    bool found = false;
    void visitLoad(const Load *) override { found = true; }
  } finder;
  finder.visit(e);
  return finder.found;
}

/// Rewrites the body of one vectorized loop.
class BodyVectorizer {
public:
  BodyVectorizer(const Var &loopVar, int lanes,
                 std::unordered_map<const BufferNode *, int64_t> stackSizes)
      : loopVar(loopVar), lanes(lanes), stackSizes(std::move(stackSizes)) {
    vars[loopVar.get()] = Ramp::make(intImm(0), intImm(1), lanes);
  }

  Stmt run(const Stmt &body) { return stmt(body); }

private:
  const Var loopVar;
  const int lanes;
  /// The lanes for which the statement being rewritten runs (vector bool), or null for all.
  Expr predicate;
  /// The loop counter and the let-bound variables that became vectors, by their new values.
  std::unordered_map<const VarNode *, Expr> vars;
  /// Buffers allocated inside the loop, by their widened (one copy per lane) replacements.
  std::unordered_map<const BufferNode *, Buffer> privates;
  /// Element counts of the stack buffers of constant size in scope.
  std::unordered_map<const BufferNode *, int64_t> stackSizes;

  std::string where() const { return "vectorized loop " + loopVar->name; }

  // ---- Expressions: the result is a vector exactly when the value differs between lanes.

  Expr expr(const Expr &e) {
    switch (e->kind) {
    case ExprKind::IntImm:
    case ExprKind::FloatImm:
      return e;
    case ExprKind::VarRef: {
      auto it = vars.find(e->as<VarRef>()->var.get());
      return it != vars.end() ? it->second : e;
    }
    case ExprKind::Unary: {
      const Unary *n = e->as<Unary>();
      Expr a = expr(n->a);
      return a == n->a ? e : Unary::make(n->op, a);
    }
    case ExprKind::Binary: {
      const Binary *n = e->as<Binary>();
      Expr a = expr(n->a), b = expr(n->b);
      return a == n->a && b == n->b ? e : widenBinary(n->op, a, b);
    }
    case ExprKind::Call: {
      const Call *n = e->as<Call>();
      Expr a = expr(n->args[0]);
      return a == n->args[0] ? e : Call::make(n->fn, {a});
    }
    case ExprKind::Select: {
      const Select *n = e->as<Select>();
      Expr c = expr(n->cond), a = expr(n->a), b = expr(n->b);
      if (c == n->cond && a == n->a && b == n->b)
        return e;
      if (c->type.isVector() || a->type.isVector() || b->type.isVector())
        return Select::make(broadcast(c, lanes), broadcast(a, lanes), broadcast(b, lanes));
      return Select::make(c, a, b);
    }
    case ExprKind::Cast: {
      const Cast *n = e->as<Cast>();
      Expr a = expr(n->a);
      return a == n->a ? e : Cast::make(n->type.withLanes(a->type.lanes), a);
    }
    case ExprKind::Load:
      return load(e->as<Load>(), e);
    case ExprKind::Ramp:
    case ExprKind::Broadcast:
    case ExprKind::VectorReduce:
    case ExprKind::Shuffle:
      // Vectors the schedule made itself are fine as long as they do not depend on the lanes.
      TDSL_CHECK(!dependsOnLanes(e))
          << "vectorize: nested vectorization in " << where() << ": " << toString(e);
      return e;
    case ExprKind::WarpShuffle:
    case ExprKind::BufferAligned:
      break;
    case ExprKind::Access:
    case ExprKind::Reduce:
      break;
    }
    TDSL_UNREACHABLE("vectorize: tensor-level or GPU node in loop IR");
  }

  bool dependsOnLanes(const Expr &e) {
    struct Finder : IRVisitor {
      const BodyVectorizer &self;
      bool found = false;
      explicit Finder(const BodyVectorizer &s) : self(s) {}
      void visitVarRef(const VarRef *n) override { found |= self.vars.count(n->var.get()) > 0; }
      void visitLoad(const Load *n) override {
        found |= self.privates.count(n->buffer.get()) > 0;
        IRVisitor::visitLoad(n);
      }
    } finder(*this);
    finder.visit(e);
    return finder.found;
  }

  /// The index of lane-private copies: element i of lane l lives at i * lanes + l.
  Expr privateIndex(const Expr &index) {
    Expr scaled = widenBinary(BinaryOp::Mul, index, intImm(lanes));
    return widenBinary(BinaryOp::Add, scaled, Ramp::make(intImm(0), intImm(1), lanes));
  }

  /// Whether every lane of `index` lies inside a stack buffer of known size, so that reading
  /// or writing all lanes is safe and a masked access can become a blend.
  bool allLanesInStack(const Buffer &buffer, const Expr &index) const {
    auto it = stackSizes.find(buffer.get());
    const Ramp *ramp = as<Ramp>(index);
    if (it == stackSizes.end() || !ramp)
      return false;
    const IntImm *base = scalarInt(ramp->base), *stride = scalarInt(ramp->stride);
    if (!base || !stride)
      return false;
    int64_t last = base->value + stride->value * (ramp->lanes - 1);
    return std::min(base->value, last) >= 0 && std::max(base->value, last) < it->second;
  }

  Expr load(const Load *n, const Expr &self) {
    if (n->type.isVector() && !predicate && !dependsOnLanes(self))
      return self; // A vector load of the schedule's own, the same for every lane.
    Buffer buffer = n->buffer;
    Expr index = expr(n->index);
    Expr pred = n->predicate ? expr(n->predicate) : nullptr;
    if (auto it = privates.find(buffer.get()); it != privates.end()) {
      buffer = it->second;
      index = privateIndex(index);
    }
    if (!index->type.isVector() && !(pred && pred->type.isVector())) {
      // One load for all lanes; it happens only if some lane would have made it.
      pred = conjoin(pred, anyLane(predicate));
      if (buffer == n->buffer && index == n->index && pred == n->predicate)
        return self;
      return Load::make(buffer, index, pred);
    }
    index = broadcast(index, lanes);
    pred = conjoin(pred ? broadcast(pred, lanes) : nullptr, predicate);
    if (pred && allLanesInStack(buffer, index)) {
      Expr whole = Load::make(buffer, index);
      return Select::make(pred, whole, zeroOf(whole->type));
    }
    return Load::make(buffer, index, pred);
  }

  // ---- Statements.

  Stmt under(const Expr &pred, const Stmt &s) {
    Expr saved = predicate;
    predicate = pred;
    Stmt result = stmt(s);
    predicate = saved;
    return result;
  }

  Stmt stmt(const Stmt &s) {
    switch (s->kind) {
    case StmtKind::For:
      return forLoop(s->as<For>(), s);
    case StmtKind::Block: {
      const Block *n = s->as<Block>();
      std::vector<Stmt> stmts;
      bool changed = false;
      for (const Stmt &c : n->stmts) {
        stmts.push_back(stmt(c));
        changed |= stmts.back() != c;
      }
      return changed ? Block::make(std::move(stmts)) : s;
    }
    case StmtKind::Store:
      return store(s->as<Store>(), s);
    case StmtKind::Allocate:
      return allocate(s->as<Allocate>());
    case StmtKind::LetStmt:
      return letStmt(s->as<LetStmt>(), s);
    case StmtKind::IfThenElse:
      return ifThenElse(s->as<IfThenElse>(), s);
    case StmtKind::Barrier:
    case StmtKind::GpuIntrinsic:
    case StmtKind::GpuLaunch:
      break;
    }
    TDSL_UNREACHABLE("unknown statement kind");
  }

  Stmt forLoop(const For *n, const Stmt &self) {
    TDSL_CHECK(n->kind != ForKind::Vectorized)
        << "vectorize: nested vectorized loops (" << n->var->name << " inside " << where() << ")";
    TDSL_CHECK(n->kind == ForKind::Serial || n->kind == ForKind::Unrolled)
        << "vectorize: a " << forKindName(n->kind) << " loop " << n->var->name << " inside "
        << where();
    Expr extent = expr(n->extent);
    if (!extent->type.isVector()) {
      Stmt body = stmt(n->body);
      return extent == n->extent && body == n->body ? self
                                                    : For::make(n->var, extent, n->kind, body);
    }
    // The lanes need different trip counts: run the longest, masking each lane past its own.
    Var lanesExtent = makeVar(n->var->name + ".extent", extent->type, VarKind::Let);
    Expr perLane = ir::ref(lanesExtent);
    Expr active = predicate ? Select::make(predicate, perLane, zeroOf(perLane->type)) : perLane;
    Expr inRange = Binary::make(BinaryOp::Lt, broadcast(ir::ref(n->var), lanes), perLane);
    Stmt body = under(conjoin(predicate, inRange), n->body);
    Stmt loop = For::make(n->var, VectorReduce::make(ReduceOp::Max, active), ForKind::Serial, body);
    return LetStmt::make(lanesExtent, extent, loop);
  }

  Stmt store(const Store *n, const Stmt &self) {
    Buffer buffer = n->buffer;
    Expr index = expr(n->index), value = expr(n->value);
    Expr pred = n->predicate ? expr(n->predicate) : nullptr;
    if (auto it = privates.find(buffer.get()); it != privates.end()) {
      buffer = it->second;
      index = privateIndex(index);
    }
    if (!index->type.isVector()) {
      TDSL_CHECK(!value->type.isVector())
          << "vectorize: the store " << toString(self, 0) << "in " << where()
          << " writes a value that differs between lanes to one location (a scalar "
             "accumulator); the schedule must give each lane its own accumulator";
      // The same value to the same place from every lane: once, if any lane stores.
      pred = anyLane(conjoin(pred && predicate ? broadcast(pred, lanes) : pred, predicate));
      if (buffer == n->buffer && index == n->index && value == n->value && pred == n->predicate)
        return self;
      return Store::make(buffer, index, value, pred);
    }
    value = broadcast(value, lanes);
    pred = conjoin(pred ? broadcast(pred, lanes) : nullptr, predicate);
    if (pred && allLanesInStack(buffer, index)) {
      // A blend rather than a masked store: the buffer stays promotable to registers.
      return Store::make(buffer, index, Select::make(pred, value, Load::make(buffer, index)));
    }
    return Store::make(buffer, index, value, pred);
  }

  Stmt allocate(const Allocate *n) {
    const Buffer &buf = n->buffer;
    Expr count = intImm(lanes);
    for (const Expr &d : buf->shape)
      count = mul(count, d);
    count = simplify(count);
    Buffer wide = makeBuffer(buf->name, buf->dtype, {count}, buf->role, buf->span);
    privates[buf.get()] = wide;
    if (const IntImm *size = scalarInt(count); size && n->scope == MemoryScope::Stack)
      stackSizes[wide.get()] = size->value;
    Stmt body = stmt(n->body);
    privates.erase(buf.get());
    stackSizes.erase(wide.get());
    return Allocate::make(wide, n->scope, body);
  }

  Stmt letStmt(const LetStmt *n, const Stmt &self) {
    Expr value = expr(n->value);
    if (!value->type.isVector()) {
      Stmt body = stmt(n->body);
      return value == n->value && body == n->body ? self : LetStmt::make(n->var, value, body);
    }
    Var wide = makeVar(n->var->name, value->type, VarKind::Let);
    vars[n->var.get()] = ir::ref(wide);
    Stmt body = stmt(n->body);
    vars.erase(n->var.get());
    return LetStmt::make(wide, value, body);
  }

  Stmt ifThenElse(const IfThenElse *n, const Stmt &self) {
    Expr cond = expr(n->cond);
    if (!cond->type.isVector()) { // The same branch for every lane: stays a branch.
      Stmt thenCase = stmt(n->thenCase);
      Stmt elseCase = n->elseCase ? stmt(n->elseCase) : nullptr;
      if (cond == n->cond && thenCase == n->thenCase && elseCase == n->elseCase)
        return self;
      return IfThenElse::make(cond, thenCase, elseCase);
    }
    if (!n->elseCase && !readsMemory(cond)) {
      if (Expr all = allLanes(cond)) // The remainder guard: masks only in the last iteration.
        return IfThenElse::make(simplify(all), under(predicate, n->thenCase),
                                under(conjoin(predicate, cond), n->thenCase));
    }
    // Predication. A condition that reads memory is evaluated once, before either branch
    // can write what it reads.
    Var bound;
    Expr lanesTrue = cond;
    if (readsMemory(cond)) {
      bound = makeVar("cond", cond->type, VarKind::Let);
      lanesTrue = ir::ref(bound);
    }
    std::vector<Stmt> branches{under(conjoin(predicate, lanesTrue), n->thenCase)};
    if (n->elseCase)
      branches.push_back(
          under(conjoin(predicate, Unary::make(UnaryOp::Not, lanesTrue)), n->elseCase));
    Stmt body = Block::make(std::move(branches));
    return bound ? LetStmt::make(bound, cond, body) : body;
  }
};

/// Finds the vectorized loops, keeping track of the stack buffers around them.
class LoopVectorizer : public IRMutator {
protected:
  Stmt visitAllocate(const Allocate *n, const Stmt &self) override {
    Expr count = intImm(1);
    for (const Expr &d : n->buffer->shape)
      count = mul(count, d);
    Expr simplifiedCount = simplify(count); // Keeps the node scalarInt points into alive.
    const IntImm *size = scalarInt(simplifiedCount);
    bool known = size && n->scope == MemoryScope::Stack;
    if (known)
      stackSizes[n->buffer.get()] = size->value;
    Stmt result = IRMutator::visitAllocate(n, self);
    if (known)
      stackSizes.erase(n->buffer.get());
    return result;
  }

  Stmt visitFor(const For *n, const Stmt &self) override {
    if (n->kind != ForKind::Vectorized)
      return IRMutator::visitFor(n, self);
    Expr extent = simplify(n->extent); // Keeps the node scalarInt points into alive.
    const IntImm *width = scalarInt(extent);
    if (!width) // Not a vector width: the loop stays a loop.
      return For::make(n->var, n->extent, ForKind::Serial, mutate(n->body));
    if (width->value <= 0)
      return Block::make({});
    if (width->value == 1)
      return mutate(substitute(n->body, {{n->var, intImm(0)}}));
    TDSL_CHECK(width->value <= maxLanes)
        << "vectorize: " << width->value << " lanes for loop " << n->var->name;
    BodyVectorizer body(n->var, static_cast<int>(width->value), stackSizes);
    return simplify(body.run(n->body));
  }

private:
  std::unordered_map<const BufferNode *, int64_t> stackSizes;
};

} // namespace

// Requires: simplified loop IR; vectorized loops not nested in one another; inside a vectorized
// loop, no store of a lane-dependent value to a lane-independent location outside memory
// allocated in the loop (checked: an internal error). Gives: no For of kind Vectorized with a
// constant extent (one with a symbolic extent becomes Serial). Keeps: every value stored, lane by
// lane, assuming the loop's iterations are independent (what the schedule promises).
Stmt vectorize(const Stmt &s) { return LoopVectorizer().mutate(s); }

} // namespace tdsl::passes
