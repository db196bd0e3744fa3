// GPU schedules: classify each top-level nest of a plain lowered func (elementwise, row-wise
// group, full reduction, other) and build each kernel as a GpuLaunch of GPU loop IR.
#include "passes/GpuSchedule.h"

#include "ir/Affine.h"
#include "ir/ExprEqual.h"
#include "ir/GpuFunc.h"
#include "ir/IRPrinter.h"
#include "ir/IRVisitor.h"
#include "passes/Pipeline.h"
#include "support/Check.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>

namespace tdsl::passes {

using namespace ir;

const Load *contiguousLoad(const Expr &e, const Var &v) {
  const Load *l = as<Load>(e);
  const Binary *add = l && !l->predicate ? as<Binary>(l->index) : nullptr;
  if (!add || add->op != BinaryOp::Add)
    return nullptr;
  auto isV = [&](const Expr &x) {
    const VarRef *r = as<VarRef>(x);
    return r && r->var == v;
  };
  if ((isV(add->b) && !usesAny(add->a, {v})) || (isV(add->a) && !usesAny(add->b, {v})))
    return l;
  return nullptr;
}

namespace {

std::string kiB(int64_t bytes) {
  return bytes % 1024 == 0 ? std::to_string(bytes / 1024) + " KiB" : std::to_string(bytes) + " B";
}

/// The shared allocations of a kernel's nest, "name: f32[32]".
std::vector<std::string> sharedArrays(const Stmt &nest) {
  struct Finder : IRVisitor {
    std::vector<std::string> found;
    void visitAllocate(const Allocate *n) override {
      if (n->scope == MemoryScope::Shared) {
        std::string shape;
        for (const Expr &d : n->buffer->shape)
          shape += (shape.empty() ? "" : ", ") + toString(d);
        found.push_back(n->buffer->name + ": " + std::string(dtypeName(n->buffer->dtype)) + "[" +
                        shape + "]");
      }
      IRVisitor::visitAllocate(n);
    }
  } finder;
  finder.visit(nest);
  return finder.found;
}

/// The lines of one kernel's schedule in words, after its header.
std::vector<std::string> describe(const GpuLaunch *k) {
  std::vector<std::string> lines;
  auto names = [](const auto &buffers, auto name) {
    std::string s;
    for (const auto &b : buffers)
      s += (s.empty() ? "" : ", ") + name(b);
    return s;
  };
  std::vector<std::string> shared = sharedArrays(blockLoop(k));
  if (!shared.empty())
    lines.push_back("shared memory: " + names(shared, [](const std::string &s) { return s; }));
  switch (k->schedule) {
  case GpuScheduleKind::Generic:
    lines.push_back("one thread a point");
    break;
  case GpuScheduleKind::Vector:
    lines.push_back("4 consecutive points a thread through 16-byte loads and stores when the "
                    "pointers are 16-byte aligned, else one at a time");
    break;
  case GpuScheduleKind::Permutation:
    lines.push_back("32x32 tiles through shared memory: reads coalesced along the read's "
                    "contiguous dim, stores along the output's");
    break;
  case GpuScheduleKind::ReducePartials:
    lines.push_back("each block reduces a fixed slice of the points; the block's threads combine "
                    "by warp shuffles, then by warp in order");
    break;
  case GpuScheduleKind::ReduceFinal:
    lines.push_back("one block reduces the partials in a fixed order");
    break;
  case GpuScheduleKind::ColumnPartials:
    lines.push_back("a thread an output (consecutive threads on consecutive outputs) and a chunk "
                    "of the reduced loop, chunks enough for every SM");
    break;
  case GpuScheduleKind::ColumnFinal:
    lines.push_back("a thread an output: its chunks combined in order, then its final store");
    break;
  case GpuScheduleKind::Rows:
  case GpuScheduleKind::Contraction:
  case GpuScheduleKind::FlashChain:
    break; // In its details.
  }
  lines.insert(lines.end(), k->details.begin(), k->details.end());
  std::vector<Buffer> heap = launchHeap(k);
  if (!heap.empty())
    lines.push_back("device intermediates: " +
                    names(heap, [](const Buffer &b) { return b->name; }));
  return lines;
}

std::string header(const GpuLaunch *k) {
  return k->name + ": " + std::string(scheduleName(k->schedule)) + ", " +
         toString(launchBlocks(k)) + " blocks of " + toString(launchThreads(k)) + " threads" +
         (k->condition ? ", launched when " + toString(k->condition) : "");
}

} // namespace

std::vector<std::string> writtenBuffers(const GpuLaunch *launch) {
  struct Stores : IRVisitor {
    std::set<const BufferNode *> local;
    std::vector<std::string> names;
    void visitAllocate(const Allocate *n) override {
      local.insert(n->buffer.get());
      IRVisitor::visitAllocate(n);
    }
    void visitStore(const Store *n) override {
      if (!local.count(n->buffer.get()) &&
          std::find(names.begin(), names.end(), n->buffer->name) == names.end())
        names.push_back(n->buffer->name);
      IRVisitor::visitStore(n);
    }
  } stores;
  stores.visit(blockLoop(launch));
  return stores.names;
}

std::string toString(const LoweredFunc &gpu, const GpuTarget &target) {
  std::string out = "gpu schedule for " + target.name + ": " +
                    std::to_string(target.multiprocessors) + " SMs, " +
                    kiB(target.sharedBytesPerBlockOptin) + " of shared memory a block\n";
  for (const GpuLaunch *k : gpuLaunches(gpu)) {
    out += "kernel " + header(k) + "\n";
    for (const std::string &line : describe(k))
      out += "  " + line + "\n";
  }
  return out;
}

std::string loopsToString(const LoweredFunc &gpu) {
  std::string params;
  for (const Buffer &b : gpu.params)
    params += (params.empty() ? "" : ", ") + b->name;
  std::vector<const GpuLaunch *> launches = gpuLaunches(gpu);
  std::string out = "gpu func " + gpu.name + "(" + params +
                    "): " + std::to_string(launches.size()) + " kernel(s), launched in order\n";
  for (const GpuLaunch *k : launches) {
    out += "kernel " + header(k) + "\n";
    for (const auto &[var, value] : launchLets(k))
      out += "  let " + var->name + " = " + toString(value) + "\n";
    out += toString(blockLoop(k), 1);
  }
  return out;
}

namespace {

/// Every Load and Store of a statement, with the buffers it allocates itself.
class Accesses : public IRVisitor {
public:
  struct Access {
    Buffer buffer;
    Expr index;
    bool store;
  };
  std::vector<Access> list;
  std::set<const BufferNode *> local;

  bool loads(const Buffer &b) const {
    return std::any_of(list.begin(), list.end(),
                       [&](const Access &a) { return !a.store && a.buffer == b; });
  }
  std::set<const BufferNode *> stored() const {
    std::set<const BufferNode *> s;
    for (const Access &a : list)
      if (a.store)
        s.insert(a.buffer.get());
    return s;
  }

protected:
  void visitLoad(const Load *n) override {
    list.push_back({n->buffer, n->index, false});
    IRVisitor::visitLoad(n);
  }
  void visitStore(const Store *n) override {
    list.push_back({n->buffer, n->index, true});
    IRVisitor::visitStore(n);
  }
  void visitAllocate(const Allocate *n) override {
    local.insert(n->buffer.get());
    IRVisitor::visitAllocate(n);
  }
};

Accesses accessesOf(const Stmt &s) {
  Accesses a;
  a.visit(s);
  return a;
}

bool equal(const Expr &a, const Expr &b) { return ExprEqual()(a, b); }

Expr mulFold(const Expr &a, const Expr &b) {
  const IntImm *x = as<IntImm>(a), *y = as<IntImm>(b);
  int64_t p = 0;
  if (x && y && !__builtin_mul_overflow(x->value, y->value, &p))
    return intImm(p);
  if (x && x->value == 1)
    return b;
  if (y && y->value == 1)
    return a;
  return mul(a, b);
}

Expr ceilDiv(const Expr &a, int64_t b) {
  if (const IntImm *x = as<IntImm>(a); x && x->value >= 0)
    return intImm((x->value + b - 1) / b);
  return Binary::make(BinaryOp::FloorDiv, add(a, intImm(b - 1)), intImm(b));
}

/// The perfectly nested Serial/Parallel loops at the top of `s` (at most `limit`), whose extents
/// do not depend on each other, and what is inside them.
struct Chain {
  std::vector<const For *> loops;
  Stmt body;
  std::vector<Var> vars() const {
    std::vector<Var> v;
    for (const For *f : loops)
      v.push_back(f->var);
    return v;
  }
  std::vector<Expr> extents() const {
    std::vector<Expr> e;
    for (const For *f : loops)
      e.push_back(f->extent);
    return e;
  }
};

Chain peel(const Stmt &s, size_t limit = SIZE_MAX) {
  Chain c;
  c.body = s;
  std::vector<Var> vars;
  while (c.loops.size() < limit) {
    const For *f = as<For>(c.body);
    if (!f || (f->kind != ForKind::Serial && f->kind != ForKind::Parallel) ||
        usesAny(f->extent, vars))
      break;
    c.loops.push_back(f);
    vars.push_back(f->var);
    c.body = f->body;
  }
  return c;
}

/// ((v0 * E1 + v1) * E2 + v2) ...: the row-major position of the loop variables.
Expr linear(const std::vector<Expr> &index, const std::vector<Expr> &extents) {
  Expr e = index[0];
  for (size_t k = 1; k < index.size(); ++k)
    e = add(mul(e, extents[k]), index[k]);
  return e;
}

Expr product(const std::vector<Expr> &extents) {
  Expr total = intImm(1);
  for (const Expr &e : extents)
    total = mulFold(total, e);
  return total;
}

/// `body` with the loop variables `vars` (extents `extents`) bound from the flat position
/// `flat` by LetStmts (i_k = rest // stride_k), or replaced by `flat` for a single loop.
Stmt bindFlat(const std::vector<Var> &vars, const std::vector<Expr> &extents, const Stmt &body,
              const Expr &flat) {
  size_t n = vars.size();
  if (n == 0)
    return body;
  if (n == 1)
    return substitute(body, {{vars[0], flat}});
  std::vector<Expr> strides(n);
  Expr total = intImm(1);
  for (size_t k = n; k-- > 0;) {
    strides[k] = total;
    total = mulFold(extents[k], total);
  }
  std::vector<std::pair<Var, Expr>> lets, replacements;
  Expr rest = flat;
  for (size_t k = 0; k < n; ++k) {
    Var v = makeVar(vars[k]->name, Type::i64(), VarKind::Let);
    Expr index = k + 1 < n ? Binary::make(BinaryOp::FloorDiv, rest, strides[k]) : rest;
    if (const IntImm *s = as<IntImm>(strides[k]); s && s->value == 1)
      index = rest;
    lets.push_back({v, index});
    replacements.push_back({vars[k], ref(v)});
    if (k + 1 < n)
      rest = sub(rest, mulFold(ref(v), strides[k]));
  }
  Stmt inner = substitute(body, replacements);
  // Only the lets something uses (a later let, or the body).
  std::vector<Expr> users;
  for (size_t k = lets.size(); k-- > 0;) {
    bool used = usesAny(inner, {lets[k].first});
    for (const Expr &u : users)
      used |= usesAny(u, {lets[k].first});
    if (!used)
      continue;
    users.push_back(lets[k].second);
    inner = LetStmt::make(lets[k].first, lets[k].second, inner);
  }
  return inner;
}

/// A top-level statement with the lets and heap allocations around it.
struct Item {
  Stmt stmt;
  std::vector<std::pair<Var, Expr>> lets;
  std::vector<Buffer> allocations;
};

bool hasLoad(const Expr &e) {
  Accesses a;
  a.visit(e);
  return !a.list.empty();
}

bool containsLoop(const Stmt &s) {
  struct Finder : IRVisitor {
    bool found = false;
    void visitFor(const For *) override { found = true; }
  } finder;
  finder.visit(s);
  return finder.found;
}

void flatten(const Stmt &s, std::vector<std::pair<Var, Expr>> &lets,
             std::vector<Buffer> &allocations, std::vector<Item> &out) {
  if (const Block *b = s->as<Block>()) {
    for (const Stmt &child : b->stmts)
      flatten(child, lets, allocations, out);
  } else if (const Allocate *a = s->as<Allocate>(); a && a->scope != MemoryScope::Stack) {
    allocations.push_back(a->buffer);
    flatten(a->body, lets, allocations, out);
    allocations.pop_back();
  } else if (const LetStmt *l = s->as<LetStmt>(); l && !hasLoad(l->value)) {
    lets.push_back({l->var, l->value});
    flatten(l->body, lets, allocations, out);
    lets.pop_back();
  } else {
    out.push_back(Item{s, lets, allocations});
  }
}

/// The ops whose partial results threads may combine in another grouping (reductions, scans).
bool combinable(BinaryOp op) {
  switch (op) {
  case BinaryOp::Add:
  case BinaryOp::Mul:
  case BinaryOp::Min:
  case BinaryOp::Max:
  case BinaryOp::And:
  case BinaryOp::Or:
    return true;
  default:
    return false;
  }
}

/// A reduction into a stack scalar: allocate acc { acc[0] = init; for ... { acc[0] = acc[0] op
/// rhs }; post }.
struct Reduction {
  Buffer acc;
  BinaryOp op = BinaryOp::Add;
  Stmt pre, post;
  Chain inner; // Loops of the reduction; body is the update store.
  Buffer at;   // An argmax (argmin) only: the position; `acc` holds the best value.
  bool argMax = false;
};

bool isAccLoad(const Expr &e, const Buffer &acc) {
  const Load *l = as<Load>(e);
  if (!l || l->buffer != acc || l->predicate)
    return false;
  const IntImm *i = as<IntImm>(l->index);
  return i && i->value == 0;
}

bool parseReduction(const Stmt &s, Reduction &r) {
  const Allocate *a = as<Allocate>(s);
  if (!a || a->scope != MemoryScope::Stack)
    return false;
  for (const Expr &d : a->buffer->shape) {
    const IntImm *c = as<IntImm>(d);
    if (!c || c->value != 1)
      return false;
  }
  const Block *b = as<Block>(a->body);
  if (!b || b->stmts.size() < 3)
    return false;
  const Store *init = as<Store>(b->stmts[0]);
  if (!init || init->buffer != a->buffer || init->predicate)
    return false;
  Chain inner = peel(b->stmts[1]);
  if (inner.loops.empty())
    return false;
  const Store *update = as<Store>(inner.body);
  if (!update || update->buffer != a->buffer || update->predicate)
    return false;
  const Binary *bin = as<Binary>(update->value);
  if (!bin)
    return false;
  if (!combinable(bin->op))
    return false;
  Expr rhs;
  if (isAccLoad(bin->a, a->buffer))
    rhs = bin->b;
  else if (isAccLoad(bin->b, a->buffer))
    rhs = bin->a;
  else
    return false;
  Accesses rhsAccess;
  rhsAccess.visit(rhs);
  for (const auto &acc : rhsAccess.list)
    if (acc.buffer == a->buffer)
      return false;
  std::vector<Stmt> post(b->stmts.begin() + 2, b->stmts.end());
  Stmt postStmt = Block::make(post);
  // The post runs once, after the combine; it must not feed the accumulator again.
  for (const auto &acc : accessesOf(postStmt).list)
    if (acc.store && acc.buffer == a->buffer)
      return false;
  r.acc = a->buffer;
  r.op = bin->op;
  r.pre = b->stmts[0];
  r.post = postStmt;
  r.inner = inner;
  return true;
}

/// Whether `value` beats `best` in an argmax (argmin), as the loop nests write it (LoopNest's
/// argBeats): value > best (value < best), or, for floats, value is NaN and best is not.
Expr argBeats(bool isMax, const Expr &value, const Expr &best) {
  if (!value->type.isFloat())
    return Binary::make(isMax ? BinaryOp::Gt : BinaryOp::Lt, value, best);
  return Binary::make(
      BinaryOp::And, Binary::make(BinaryOp::Eq, best, best),
      Unary::make(UnaryOp::Not, Binary::make(isMax ? BinaryOp::Le : BinaryOp::Ge, value, best)));
}

/// The value dtypes whose pairs the rows schedule combines by warp shuffles.
bool shufflable(DType t) {
  return t == DType::F32 || t == DType::F64 || t == DType::I32 || t == DType::I64 ||
         t == DType::Bool;
}

/// An argmax (argmin) as the loop nests build it (LoopNest's argReduction):
///   allocate best { allocate at { best[0] = 0; at[0] = -1
///     for k { let v = body; if (at[0] < 0 or v beats best[0]) { best[0] = v; at[0] = k } }
///     post } }
/// parsed into `r` with `acc` the best value and `at` the position.
bool parseArgReduction(const Stmt &s, Reduction &r) {
  auto scalar = [](const Allocate *a) {
    if (!a || a->scope != MemoryScope::Stack || a->buffer->shape.size() != 1)
      return false;
    const IntImm *c = as<IntImm>(a->buffer->shape[0]);
    return c && c->value == 1;
  };
  const Allocate *outer = as<Allocate>(s);
  const Allocate *inner = outer ? as<Allocate>(outer->body) : nullptr;
  if (!scalar(outer) || !scalar(inner) || inner->buffer->dtype != DType::I64 ||
      !shufflable(outer->buffer->dtype))
    return false;
  const Buffer &best = outer->buffer, &at = inner->buffer;
  const Block *b = as<Block>(inner->body);
  if (!b || b->stmts.size() < 4)
    return false;
  const Store *initBest = as<Store>(b->stmts[0]), *initAt = as<Store>(b->stmts[1]);
  const IntImm *none = initAt ? as<IntImm>(initAt->value) : nullptr;
  if (!initBest || initBest->buffer != best || initBest->predicate || !initAt ||
      initAt->buffer != at || initAt->predicate || !none || none->value != -1)
    return false;
  Chain loop = peel(b->stmts[2]);
  if (loop.loops.size() != 1)
    return false;
  const LetStmt *let = as<LetStmt>(loop.body);
  const IfThenElse *update = let ? as<IfThenElse>(let->body) : nullptr;
  if (!update || update->elseCase)
    return false;
  const Block *take = as<Block>(update->thenCase);
  if (!take || take->stmts.size() != 2)
    return false;
  const Store *setBest = as<Store>(take->stmts[0]), *setAt = as<Store>(take->stmts[1]);
  const VarRef *position = setAt ? as<VarRef>(setAt->value) : nullptr;
  if (!setBest || setBest->buffer != best || !equal(setBest->value, ref(let->var)) || !setAt ||
      setAt->buffer != at || !position || position->var != loop.loops[0]->var)
    return false;
  Expr zero = intImm(0);
  bool found = false;
  for (bool isMax : {true, false}) {
    Expr want = Binary::make(BinaryOp::Or, Binary::make(BinaryOp::Lt, Load::make(at, zero), zero),
                             argBeats(isMax, ref(let->var), Load::make(best, zero)));
    if (equal(update->cond, want)) {
      r.argMax = isMax;
      found = true;
    }
  }
  if (!found)
    return false;
  Accesses valueAccess;
  valueAccess.visit(let->value);
  for (const auto &acc : valueAccess.list)
    if (acc.buffer == best || acc.buffer == at)
      return false;
  Stmt post = Block::make(std::vector<Stmt>(b->stmts.begin() + 3, b->stmts.end()));
  for (const auto &acc : accessesOf(post).list)
    if (acc.store && (acc.buffer == best || acc.buffer == at))
      return false;
  r.acc = best;
  r.at = at;
  r.op = BinaryOp::Max; // Unused: the pair's combine is pairWins.
  r.pre = Block::make({b->stmts[0], b->stmts[1]});
  r.post = post;
  r.inner = loop;
  return true;
}

/// Whether every load in `s` that moves with `v` reads consecutive elements as `v` counts up
/// (index `x + v` or `v`): what makes the loop over v coalesced across a row's threads.
bool contiguousIn(const Stmt &s, const Var &v) {
  for (const auto &a : accessesOf(s).list) {
    if (a.store || !usesAny(a.index, {v}))
      continue;
    if (const VarRef *r = as<VarRef>(a.index); r && r->var == v)
      continue;
    const Binary *b = as<Binary>(a.index);
    const VarRef *r = b ? as<VarRef>(b->b) : nullptr;
    if (!b || b->op != BinaryOp::Add || !r || r->var != v || usesAny(b->a, {v}))
      return false;
  }
  return true;
}

/// Whether the statement reads a non-local buffer it also writes (its iterations might depend on
/// each other).
bool selfDependent(const Stmt &s) {
  Accesses a = accessesOf(s);
  for (const BufferNode *b : a.stored())
    if (!a.local.count(b))
      for (const auto &acc : a.list)
        if (!acc.store && acc.buffer.get() == b)
          return true;
  return false;
}

/// The store of the perfectly nested elementwise nest `c` when it writes the nest's own
/// row-major position (each iteration its own element) and reads nothing the nest writes;
/// else null.
const Store *storeAtOwnPosition(const Chain &c) {
  const Store *st = c.loops.empty() ? nullptr : as<Store>(c.body);
  if (!st || st->predicate || st->value->type.isVector())
    return nullptr;
  std::vector<Expr> index;
  for (const Var &v : c.vars())
    index.push_back(ref(v));
  return equal(st->index, linear(index, c.extents())) && !selfDependent(c.body) ? st : nullptr;
}

/// One member of a row group, with its outer loop variables replaced by the group's row lets.
struct RowMember {
  bool reduction = false;
  bool perRow = false; // No inner loop: one value per row (`r[i] = rsqrt(ms[i] + eps)`).
  Reduction red;       // When a reduction (outer vars replaced).
  Chain inner;         // The inner loops (elementwise: body is the store).
  Stmt body;           // Everything inside the outer loops (outer vars replaced).
};

/// Accesses `b[row * E + q]` of the row buffers become `local[q]`.
class RowAccess : public IRMutator {
public:
  RowAccess(const std::map<const BufferNode *, Buffer> &local, Expr rowLinear)
      : local(local), rowLinear(std::move(rowLinear)) {}
  Var q;
  std::map<const BufferNode *, Buffer> scalars; // Per-row values: buffer -> register.

protected:
  Expr visitLoad(const Load *n, const Expr &self) override {
    if (auto it = scalars.find(n->buffer.get()); it != scalars.end()) {
      TDSL_CHECK(ExprEqual()(n->index, rowLinear)) << "per-row value at another index";
      return Load::make(it->second, intImm(0));
    }
    if (Expr i = localIndex(n->buffer, n->index))
      return Load::make(local.at(n->buffer.get()), i,
                        n->predicate ? mutate(n->predicate) : n->predicate);
    return IRMutator::visitLoad(n, self);
  }
  Stmt visitStore(const Store *n, const Stmt &self) override {
    if (auto it = scalars.find(n->buffer.get()); it != scalars.end()) {
      TDSL_CHECK(ExprEqual()(n->index, rowLinear)) << "per-row value at another index";
      return Store::make(it->second, intImm(0), mutate(n->value),
                         n->predicate ? mutate(n->predicate) : n->predicate);
    }
    if (Expr i = localIndex(n->buffer, n->index))
      return Store::make(local.at(n->buffer.get()), i, mutate(n->value),
                         n->predicate ? mutate(n->predicate) : n->predicate);
    return IRMutator::visitStore(n, self);
  }

private:
  const std::map<const BufferNode *, Buffer> &local;
  Expr rowLinear;

  Expr localIndex(const Buffer &b, const Expr &index) const {
    if (!local.count(b.get()))
      return nullptr;
    const Binary *add = as<Binary>(index);
    TDSL_CHECK(add && add->op == BinaryOp::Add)
        << "row buffer " << b->name << " at a non-row index";
    const VarRef *r = as<VarRef>(add->b);
    TDSL_CHECK(r && q && r->var == q) << "row buffer " << b->name << " at a non-row index";
    return add->b;
  }
};

/// A kernel in loop IR, simplified: for block in [0, blocks) gpu_block { <shared> for thread in
/// [0, threads) gpu_thread { body } }.
Stmt kernelNest(const Var &block, Expr blocks, const Var &thread, int threads, Stmt body,
                const std::vector<Buffer> &shared = {}) {
  Stmt inner = For::make(thread, intImm(threads), ForKind::GpuThread, std::move(body));
  for (auto it = shared.rbegin(); it != shared.rend(); ++it)
    inner = Allocate::make(*it, MemoryScope::Shared, inner);
  return simplify(For::make(block, std::move(blocks), ForKind::GpuBlock, inner));
}

/// `nest` (a kernel's block loop over `tiles` blocks) once for every point of `batch` (of
/// `extent`): blocks of one point side by side, each binding `batch` and its tile.
Stmt overBatch(const Stmt &nest, const Var &batch, const Expr &extent) {
  const For *grid = as<For>(nest);
  TDSL_CHECK(grid && grid->kind == ForKind::GpuBlock) << "a kernel nest without its block loop";
  Var block = makeVar("block", Type::i64(), VarKind::Loop);
  Var tile = makeVar("tile", Type::i64(), VarKind::Let);
  Var point = makeVar(batch->name, Type::i64(), VarKind::Let);
  // The lets go inside the thread loop (under the shared allocations), as every kernel's do.
  std::function<Stmt(const Stmt &)> bind = [&](const Stmt &s) -> Stmt {
    if (const Allocate *a = as<Allocate>(s))
      return Allocate::make(a->buffer, a->scope, bind(a->body));
    const For *threads = as<For>(s);
    TDSL_CHECK(threads && threads->kind == ForKind::GpuThread) << "a kernel without its threads";
    Stmt body = substitute(threads->body, {{grid->var, ref(tile)}, {batch, ref(point)}});
    body = LetStmt::make(
        point, Binary::make(BinaryOp::FloorDiv, ref(block), grid->extent),
        LetStmt::make(tile, Binary::make(BinaryOp::Mod, ref(block), grid->extent), body));
    return For::make(threads->var, threads->extent, ForKind::GpuThread, body);
  };
  return For::make(block, mulFold(grid->extent, extent), ForKind::GpuBlock, bind(grid->body));
}

Expr isZero(const Var &v) { return Binary::make(BinaryOp::Eq, ref(v), intImm(0)); }

/// `body` for q = first, first + step, ... below `end`, 8 points an iteration (unrolled, so that
/// 8 loads are in flight) and still in increasing order of q; `span` bounds end - first.
Stmt stridedLoop(const Var &q, const Expr &first, const Expr &step, const Expr &end,
                 const Expr &span, const Stmt &body) {
  constexpr int64_t unroll = 8;
  Var group = makeVar("g", Type::i64(), VarKind::Loop);
  Var slot = makeVar("u", Type::i64(), VarKind::Loop);
  Expr m = add(mul(ref(group), intImm(unroll)), ref(slot));
  Stmt point = LetStmt::make(q, add(first, mul(m, step)),
                             IfThenElse::make(Binary::make(BinaryOp::Lt, ref(q), end), body));
  Expr groups =
      Binary::make(BinaryOp::FloorDiv, add(span, sub(mul(intImm(unroll), step), intImm(1))),
                   mul(intImm(unroll), step));
  return For::make(group, groups, ForKind::Serial,
                   For::make(slot, intImm(unroll), ForKind::Unrolled, point));
}

/// Shared memory for one value per warp of a block (the exchange of combineOverBlock).
Buffer warpResults(DType dtype) {
  return makeBuffer("warp_results", dtype, {intImm(32)}, BufferRole::Intermediate);
}

/// `acc[0]` combined with `op` over each warp's 32 lanes by xor shuffles, in a fixed order:
/// every lane ends with its warp's value.
Stmt combineInWarp(const Buffer &acc, BinaryOp op) {
  Expr value = Load::make(acc, intImm(0));
  std::vector<Stmt> steps;
  // Each shuffle is a let of its own: every lane must run it, which `a || shuffle(a)` would not.
  for (int mask = 16; mask > 0; mask /= 2) {
    Var other = makeVar("other", value->type, VarKind::Let);
    steps.push_back(
        LetStmt::make(other, WarpShuffle::make(value, mask),
                      Store::make(acc, intImm(0), Binary::make(op, value, ref(other)))));
  }
  return Block::make(steps);
}

/// The warps' values of `acc[0]` (after combineInWarp) combined with `op` over the block's
/// threads (`thread` < T, T a multiple of 32 and at most 1024) through `exchange` (shared, 32
/// elements), in warp order. Every thread ends with the same value.
Stmt combineWarps(const Buffer &acc, BinaryOp op, const Var &thread, int threads,
                  const Buffer &exchange) {
  Expr value = Load::make(acc, intImm(0));
  Expr lane = Binary::make(BinaryOp::Mod, ref(thread), intImm(32));
  Expr warp = Binary::make(BinaryOp::FloorDiv, ref(thread), intImm(32));
  std::vector<Stmt> steps;
  // The first barrier keeps a block that runs again from overwriting what others still read.
  steps.push_back(Barrier::make(BarrierScope::Block));
  steps.push_back(IfThenElse::make(Binary::make(BinaryOp::Eq, lane, intImm(0)),
                                   Store::make(exchange, warp, value)));
  steps.push_back(Barrier::make(BarrierScope::Block));
  steps.push_back(Store::make(acc, intImm(0), Load::make(exchange, intImm(0))));
  Var w = makeVar("w", Type::i64(), VarKind::Loop);
  steps.push_back(For::make(
      w, intImm(threads / 32 - 1), ForKind::Serial,
      Store::make(acc, intImm(0),
                  Binary::make(op, value, Load::make(exchange, add(ref(w), intImm(1)))))));
  return Block::make(steps);
}

/// `acc[0]` combined with `op` over the block's threads: combineInWarp, then combineWarps.
Stmt combineOverBlock(const Buffer &acc, BinaryOp op, const Var &thread, int threads,
                      const Buffer &exchange) {
  return Block::make({combineInWarp(acc, op), combineWarps(acc, op, thread, threads, exchange)});
}

/// Whether the argmax (argmin) pair (ov, oa) wins over (v, a): `a` holds no position yet (-1),
/// or `oa` does and ov beats v, or neither beats the other (a tie, or two NaNs) and oa comes
/// first. The pairs are ordered by value, then by position: any order of combines gives the
/// first position of the winning value, as the sequential scan does.
Expr pairWins(bool isMax, const Expr &ov, const Expr &oa, const Expr &v, const Expr &a) {
  Expr zero = intImm(0);
  Expr better =
      Binary::make(BinaryOp::Or, argBeats(isMax, ov, v),
                   Binary::make(BinaryOp::And, Unary::make(UnaryOp::Not, argBeats(isMax, v, ov)),
                                Binary::make(BinaryOp::Lt, oa, a)));
  return Binary::make(BinaryOp::Or, Binary::make(BinaryOp::Lt, a, zero),
                      Binary::make(BinaryOp::And, Binary::make(BinaryOp::Ge, oa, zero), better));
}

/// `(best, at) = (ov, oa)` where that pair wins.
Stmt takePair(bool isMax, const Buffer &best, const Buffer &at, const Expr &ov, const Expr &oa) {
  Expr zero = intImm(0);
  return IfThenElse::make(pairWins(isMax, ov, oa, Load::make(best, zero), Load::make(at, zero)),
                          Block::make({Store::make(best, zero, ov), Store::make(at, zero, oa)}));
}

/// The argmax (argmin) pair (best[0], at[0]) combined over each warp's 32 lanes by xor
/// shuffles: every lane ends with its warp's winner.
Stmt combinePairInWarp(bool isMax, const Buffer &best, const Buffer &at) {
  std::vector<Stmt> steps;
  for (int mask = 16; mask > 0; mask /= 2) {
    Var ov = makeVar("other", Type::scalar(best->dtype), VarKind::Let);
    Var oa = makeVar("other_at", Type::i64(), VarKind::Let);
    steps.push_back(
        LetStmt::make(ov, WarpShuffle::make(Load::make(best, intImm(0)), mask),
                      LetStmt::make(oa, WarpShuffle::make(Load::make(at, intImm(0)), mask),
                                    takePair(isMax, best, at, ref(ov), ref(oa)))));
  }
  return Block::make(steps);
}

/// The warps' pairs (after combinePairInWarp) combined over the block's threads through
/// `values` and `positions` (shared, 32 elements each), in warp order: every thread ends with
/// the block's winner.
Stmt combinePairWarps(bool isMax, const Buffer &best, const Buffer &at, const Var &thread,
                      int threads, const Buffer &values, const Buffer &positions) {
  Expr lane = Binary::make(BinaryOp::Mod, ref(thread), intImm(32));
  Expr warp = Binary::make(BinaryOp::FloorDiv, ref(thread), intImm(32));
  Expr zero = intImm(0);
  std::vector<Stmt> steps;
  steps.push_back(Barrier::make(BarrierScope::Block));
  steps.push_back(
      IfThenElse::make(Binary::make(BinaryOp::Eq, lane, zero),
                       Block::make({Store::make(values, warp, Load::make(best, zero)),
                                    Store::make(positions, warp, Load::make(at, zero))})));
  steps.push_back(Barrier::make(BarrierScope::Block));
  steps.push_back(Store::make(best, zero, Load::make(values, zero)));
  steps.push_back(Store::make(at, zero, Load::make(positions, zero)));
  Var w = makeVar("w", Type::i64(), VarKind::Loop);
  Expr next = add(ref(w), intImm(1));
  steps.push_back(
      For::make(w, intImm(threads / 32 - 1), ForKind::Serial,
                takePair(isMax, best, at, Load::make(values, next), Load::make(positions, next))));
  return Block::make(steps);
}

/// One member of a row group: `inner` runs for q in [0, innerCount) split over the row's
/// threads; for a reduction, `pre` initializes the stack accumulator `acc` before, the threads'
/// accumulators are combined with `op` after, and `post` (which reads acc[0]) runs on every
/// thread of the row (all hold the combined value).
struct RowItem {
  bool reduction = false;
  Buffer acc;
  BinaryOp op = BinaryOp::Add;
  Buffer at; // An argmax (argmin): the position, `acc` the best value (combined as pairs).
  bool argMax = false;
  Stmt pre, post;
  Var q;           // The member's element of the row, bound by the variant's loop.
  Expr innerCount; // Extent of q.
  Stmt inner;      // Body for one q (inner loop variables replaced by lets of q).
};

/// A buffer a row group accesses only at `row * length + q` (q in [0, length)). The members'
/// bodies access `local[q]`; each variant of the kernel places it in registers, in shared
/// memory or in the global buffer's row. A `copyIn` buffer (read by several members, written by
/// none) is read from global memory once a row; the others are intermediates of the group.
struct RowBuffer {
  Buffer global, local;
  Expr length;
  bool copyIn = false;
};

/// A register variant of a row group: S = `slots` values of each row buffer a thread, for the
/// rows of (F * L, S * L] points, F = `full` (L threads a row): every row of the band fills the
/// slots below F, so only the slots from F on are guarded. A wide band runs a row a block of
/// `threads` (L = threads; 0: the narrow mapping) for rows longer than the narrower bands
/// reach: its lower bound raised to `above` points.
struct RegisterBand {
  int slots, full;
  int threads = 0;
  int64_t above = 0;
};

/// A row group ready to be built: `rowCount` rows, `row` (their linear index) bound by the
/// kernel, `rowLets` binding the outer loop variables from it; the members in order, their row
/// buffers, and the per-row values kept in registers.
struct RowGroup {
  Var row;
  Expr rowCount, rowLength, rowIndex;
  std::vector<std::pair<Var, Expr>> rowLets;
  std::vector<RowItem> items;
  std::vector<RowBuffer> buffers;
  std::vector<Buffer> registers;
  /// The most values a thread of a register variant keeps of each row buffer (every row buffer
  /// must have the row's length); 0: no register variants.
  int registerSlots = 0;
};

/// The accesses `local[q]` of row buffers moved to where a kernel variant keeps them:
/// `place(local, q)` gives the buffer and index.
class RowPlacement : public IRMutator {
public:
  using Place = std::function<std::pair<Buffer, Expr>(const Buffer &local, const Expr &q)>;
  RowPlacement(const std::vector<RowBuffer> &buffers, Place place)
      : buffers(buffers), place(std::move(place)) {}

protected:
  Expr visitLoad(const Load *n, const Expr &self) override {
    if (!isLocal(n->buffer))
      return IRMutator::visitLoad(n, self);
    auto [b, i] = place(n->buffer, mutate(n->index));
    return Load::make(b, i, n->predicate ? mutate(n->predicate) : n->predicate);
  }
  Stmt visitStore(const Store *n, const Stmt &self) override {
    if (!isLocal(n->buffer))
      return IRMutator::visitStore(n, self);
    auto [b, i] = place(n->buffer, mutate(n->index));
    return Store::make(b, i, mutate(n->value), n->predicate ? mutate(n->predicate) : n->predicate);
  }

private:
  const std::vector<RowBuffer> &buffers;
  Place place;
  bool isLocal(const Buffer &b) const {
    return std::any_of(buffers.begin(), buffers.end(),
                       [&](const RowBuffer &rb) { return rb.local == b; });
  }
};

/// The register bands for up to `maxSlots` values a thread, by increasing S: together they
/// cover the row lengths 1 to maxSlots * L. The cost rule: a kernel's registers grow with its
/// slots and its guarded slots (ptxas, sm_90a, softmax: 32 slots take 64 registers with 1
/// guarded, 31 slots 80 with 15), so each power of two P >= 8 keeps the band ((P - 1) * L,
/// P * L] of one guarded slot (the tuned lengths: rows of 4096 and 8192 with 256 threads a row,
/// 512 and 1024 with 32), and one kernel of P - 1 slots takes the gap below it, (P / 2 * L,
/// (P - 1) * L]; rows of up to 4 * L have 4 slots, all guarded. Each band is a kernel of its own
/// compiled by NVRTC: 7 for 32 slots, their slots 113 in all (the tuned bands alone had 56).
std::vector<RegisterBand> registerBands(int maxSlots) {
  std::vector<RegisterBand> bands;
  if (maxSlots >= 4)
    bands.push_back({4, 0});
  for (int p = 8; p <= maxSlots; p *= 2) {
    bands.push_back({p - 1, p / 2});
    bands.push_back({p, p - 1});
  }
  return bands;
}

/// A kernel while the scheduler builds it; run() turns each into a GpuLaunch.
struct KernelPlan {
  std::vector<std::pair<Var, Expr>> lets;
  std::vector<Buffer> allocations; // Heap intermediates.
  GpuScheduleKind schedule = GpuScheduleKind::Generic;
  std::vector<std::string> details;
  Expr blocks;
  Stmt nest; // The gpu_block loop.
  /// One of alternatives for the same work: launched where `condition` holds (null: always).
  /// The alternatives are consecutive, the last one named without a `variant` suffix.
  Expr condition;
  std::string variant;
  /// Blocks each SM must hold at once (GpuLaunch::blocksPerSm; 0: the compiler's choice).
  int blocksPerSm = 0;
};

class Scheduler {
public:
  Scheduler(const LoweredFunc &func, const GpuTarget &target)
      : func(func), target(target), threads(target.threadsPerBlock()) {}

  LoweredFunc run() {
    std::vector<std::pair<Var, Expr>> lets;
    std::vector<Buffer> allocations;
    flatten(func.body, lets, allocations, items);
    for (size_t i = 0; i < items.size();) {
      size_t used = tryFlashChain(i);
      if (used == 0)
        used = tryContraction(i);
      if (used == 0)
        used = tryRows(i);
      if (used == 0)
        used = tryScanRows(i) ? 1 : 0;
      if (used == 0)
        used = tryColumnReduction(i) ? 1 : 0;
      if (used == 0)
        used = tryFullReduction(i) ? 1 : 0;
      if (used == 0)
        used = tryTiledPermutation(i) ? 1 : 0;
      if (used == 0)
        used = tryVector(i) ? 1 : 0;
      if (used == 0) {
        generic(items[i]);
        used = 1;
      }
      i += used;
    }
    // Lets outermost: they read no memory, and heap shapes may use them (a partials buffer).
    std::vector<Stmt> launches;
    int work = 0; // Alternatives share their number: f_k0_s8, f_k0_s16, f_k0.
    for (const KernelPlan &k : kernels) {
      Stmt s = k.nest;
      for (auto it = k.allocations.rbegin(); it != k.allocations.rend(); ++it)
        s = Allocate::make(*it, MemoryScope::Heap, s);
      for (auto it = k.lets.rbegin(); it != k.lets.rend(); ++it)
        s = LetStmt::make(it->first, it->second, s);
      std::string name = func.name + "_k" + std::to_string(work) + k.variant;
      if (k.variant.empty())
        ++work;
      launches.push_back(
          GpuLaunch::make(name, k.schedule, k.details, s, k.condition, k.blocksPerSm));
    }
    LoweredFunc gpu = func;
    gpu.body = Block::make(launches);
    return gpu;
  }

private:
  const LoweredFunc &func;
  const GpuTarget &target;
  int threads;
  std::vector<Item> items;
  std::vector<KernelPlan> kernels;

  KernelPlan start(const Item &item) {
    KernelPlan k;
    k.lets = item.lets;
    k.allocations = item.allocations;
    return k;
  }

  void generic(const Item &item) {
    LoweredFunc one = func;
    one.body = item.stmt;
    KernelPlan k = start(item);
    k.nest = mapToGpu(one, threads).body;
    const For *f = k.nest->as<For>();
    TDSL_CHECK(f && f->kind == ForKind::GpuBlock) << "mapping one nest gave no gpu_block loop";
    k.blocks = f->extent;
    kernels.push_back(std::move(k));
  }

  // ---- elementwise ----

  bool tryVector(size_t i) {
    const Item &item = items[i];
    Chain c = peel(item.stmt);
    const Store *st = storeAtOwnPosition(c);
    if (!st || byteSize(st->buffer->dtype) != 4)
      return false;

    KernelPlan k = start(item);
    k.schedule = GpuScheduleKind::Vector;
    constexpr int lanes = 4;
    Expr total = product(c.extents());
    k.blocks = ceilDiv(ceilDiv(total, lanes), threads);
    Var block = makeVar("block", Type::i64(), VarKind::Loop);
    Var thread = makeVar("thread", Type::i64(), VarKind::Loop);
    Var v = makeVar("v", Type::i64(), VarKind::Let);
    Buffer out = makeBuffer(st->buffer->name + ".out", st->buffer->dtype, {intImm(lanes)},
                            BufferRole::Intermediate);
    auto lanesAt = [&](const Expr &first) { return Ramp::make(first, intImm(1), lanes); };

    // The loads at the store's own position come from 16-byte vector loads into stack copies.
    class LaneLoads : public IRMutator {
    public:
      explicit LaneLoads(const Store *st) : st(st) {}
      int lane = 0;
      std::vector<std::pair<Buffer, Buffer>> copies; // (global, stack copy)

    protected:
      Expr visitLoad(const Load *n, const Expr &self) override {
        if (n->predicate || n->buffer == st->buffer || byteSize(n->buffer->dtype) != 4 ||
            !ExprEqual()(n->index, st->index))
          return IRMutator::visitLoad(n, self);
        for (const auto &[global, copy] : copies)
          if (global == n->buffer)
            return Load::make(copy, intImm(lane));
        Buffer copy = makeBuffer(n->buffer->name + ".in", n->buffer->dtype, {intImm(lanes)},
                                 BufferRole::Intermediate);
        copies.push_back({n->buffer, copy});
        return Load::make(copy, intImm(lane));
      }

    private:
      const Store *st;
    };
    LaneLoads laneLoads(st);
    std::vector<Stmt> laneStores;
    for (int l = 0; l < lanes; ++l) {
      laneLoads.lane = l;
      Stmt store = Store::make(out, intImm(l), laneLoads.mutate(st->value));
      Expr flat = add(mul(ref(v), intImm(lanes)), intImm(l));
      laneStores.push_back(bindFlat(c.vars(), c.extents(), store, flat));
    }
    Expr first = mul(ref(v), intImm(lanes));
    Stmt vectorBody = Allocate::make(
        out, MemoryScope::Stack,
        Block::make({Block::make(laneStores), Store::make(st->buffer, lanesAt(first),
                                                          Load::make(out, lanesAt(intImm(0))))}));
    Expr aligned = BufferAligned::make(st->buffer, 16);
    for (auto it = laneLoads.copies.rbegin(); it != laneLoads.copies.rend(); ++it) {
      const auto &[global, copy] = *it;
      vectorBody = Allocate::make(
          copy, MemoryScope::Stack,
          Block::make({Store::make(copy, lanesAt(intImm(0)), Load::make(global, lanesAt(first))),
                       vectorBody}));
      aligned = Binary::make(BinaryOp::And, BufferAligned::make(global, 16), aligned);
    }
    // Every point runs the scalar path when a pointer is not 16-byte aligned (a caller's view),
    // else only the points past the last whole vector: 4 a thread at most, coalesced.
    Var vectors = makeVar("vectors", Type::i64(), VarKind::Let);
    Var point =
        makeVar(c.loops.size() == 1 ? c.loops[0]->var->name : "flat", Type::i64(), VarKind::Let);
    Var m = makeVar("m", Type::i64(), VarKind::Loop);
    Expr spread = add(mul(add(mul(ref(m), k.blocks), ref(block)), intImm(threads)), ref(thread));
    Stmt tail = For::make(
        m, intImm(lanes), ForKind::Unrolled,
        LetStmt::make(point, add(mul(ref(vectors), intImm(lanes)), spread),
                      IfThenElse::make(Binary::make(BinaryOp::Lt, ref(point), total),
                                       bindFlat(c.vars(), c.extents(), c.body, ref(point)))));
    Stmt body = LetStmt::make(
        vectors,
        Select::make(aligned, Binary::make(BinaryOp::FloorDiv, total, intImm(lanes)), intImm(0)),
        LetStmt::make(
            v, add(mul(ref(block), intImm(threads)), ref(thread)),
            Block::make(
                {IfThenElse::make(Binary::make(BinaryOp::Lt, ref(v), ref(vectors)), vectorBody),
                 tail})));
    k.nest = kernelNest(block, k.blocks, thread, threads, body);
    kernels.push_back(std::move(k));
    return true;
  }

  // ---- permutations ----

  /// An elementwise nest (stored at its row-major position) with reads strided along its
  /// innermost loop but contiguous along another loop `r` (a transpose, NCHW to NHWC): each
  /// block takes a 32x32 tile of (r, innermost) through shared memory, reading it with
  /// consecutive threads along r and storing with consecutive threads along the innermost loop,
  /// so that both sides are coalesced. The tile's rows are padded to 33 elements: the column
  /// reads of the second phase fall in distinct banks.
  bool tryTiledPermutation(size_t i) {
    constexpr int64_t tile = 32;
    const Item &item = items[i];
    Chain c = peel(item.stmt);
    if (c.loops.size() < 2 || threads % tile != 0 || (tile * tile) % threads != 0)
      return false;
    const Store *st = storeAtOwnPosition(c);
    if (!st)
      return false;
    std::vector<Var> vars = c.vars();

    // The reads to tile: strided along the innermost loop, contiguous along one other loop (the
    // loop most such reads share).
    const Var &innermost = vars.back();
    Accesses reads;
    reads.visit(st->value);
    std::map<size_t, std::vector<Expr>> byLoop;
    for (const Accesses::Access &a : reads.list) {
      if (!usesAny(a.index, {innermost}))
        continue;
      Expr load = Load::make(a.buffer, a.index);
      if (contiguousLoad(load, innermost))
        continue;
      for (size_t r = 0; r + 1 < vars.size(); ++r)
        if (contiguousLoad(load, vars[r])) {
          std::vector<Expr> &tiled = byLoop[r];
          if (std::none_of(tiled.begin(), tiled.end(),
                           [&](const Expr &t) { return equal(t, load); }))
            tiled.push_back(load);
        }
    }
    if (byLoop.empty())
      return false;
    auto best = std::max_element(byLoop.begin(), byLoop.end(), [](const auto &a, const auto &b) {
      return a.second.size() < b.second.size();
    });
    size_t r = best->first;
    const std::vector<Expr> &tiled = best->second;
    if (tiled.size() > 4) // Shared memory for at most 4 tiles (17 KiB in f32).
      return false;

    KernelPlan k = start(item);
    k.schedule = GpuScheduleKind::Permutation;
    Var block = makeVar("block", Type::i64(), VarKind::Loop);
    Var thread = makeVar("thread", Type::i64(), VarKind::Loop);
    // Blocks over the other loops and the tiles of (r, innermost), row-major.
    std::vector<Var> blockVars;
    std::vector<Expr> blockExtents;
    for (size_t l = 0; l + 1 < vars.size(); ++l)
      if (l != r) {
        blockVars.push_back(vars[l]);
        blockExtents.push_back(c.loops[l]->extent);
      }
    Var tileR = makeVar("tile_" + vars[r]->name, Type::i64(), VarKind::Let);
    Var tileI = makeVar("tile_" + innermost->name, Type::i64(), VarKind::Let);
    Expr extentR = c.loops[r]->extent, extentI = c.loops.back()->extent;
    blockVars.insert(blockVars.end(), {tileR, tileI});
    blockExtents.insert(blockExtents.end(), {ceilDiv(extentR, tile), ceilDiv(extentI, tile)});
    k.blocks = product(blockExtents);

    std::vector<Buffer> tiles;
    for (const Expr &load : tiled)
      tiles.push_back(makeBuffer(as<Load>(load)->buffer->name + ".tile", load->type.dtype,
                                 {intImm(tile * (tile + 1))}, BufferRole::Intermediate));
    Var lane = makeVar("lane", Type::i64(), VarKind::Let);
    Var row = makeVar("row", Type::i64(), VarKind::Let);
    // Each phase covers the tile in steps of threads / 32 rows; `rows` is a thread's row.
    Var step1 = makeVar("step", Type::i64(), VarKind::Loop),
        step2 = makeVar("step", Type::i64(), VarKind::Loop);
    auto rowsAt = [&](const Var &step) {
      return add(ref(row), mul(ref(step), intImm(threads / tile)));
    };
    auto at = [&](const Var &tileVar, const Expr &offset) {
      return add(mul(ref(tileVar), intImm(tile)), offset);
    };
    auto inside = [&](const Expr &posR, const Expr &posI) {
      return Binary::make(BinaryOp::And, Binary::make(BinaryOp::Lt, posR, extentR),
                          Binary::make(BinaryOp::Lt, posI, extentI));
    };
    auto steps = [&](const Var &step, const Stmt &body) {
      return For::make(step, intImm(tile * tile / threads), ForKind::Unrolled, body);
    };
    // Phase 1: tile[ii][rr] = read at (r = tile_r * 32 + rr, innermost = tile_i * 32 + ii), rr
    // the lane.
    Expr rows = rowsAt(step1);
    Expr posR1 = at(tileR, ref(lane)), posI1 = at(tileI, rows);
    std::vector<Stmt> fill;
    for (size_t t = 0; t < tiled.size(); ++t)
      fill.push_back(Store::make(tiles[t], add(mul(rows, intImm(tile + 1)), ref(lane)),
                                 substitute(tiled[t], {{vars[r], posR1}, {innermost, posI1}})));
    Stmt phase1 = steps(step1, IfThenElse::make(inside(posR1, posI1), Block::make(fill)));
    // Phase 2: the point (r = tile_r * 32 + rr, innermost = tile_i * 32 + lane), the tiled
    // reads from tile[lane][rr].
    class FromTiles : public IRMutator {
    public:
      FromTiles(const std::vector<Expr> &tiled, const std::vector<Buffer> &tiles, Expr at)
          : tiled(tiled), tiles(tiles), at(std::move(at)) {}

    protected:
      Expr visitLoad(const Load *n, const Expr &self) override {
        for (size_t t = 0; t < tiled.size(); ++t)
          if (ExprEqual()(self, tiled[t]))
            return Load::make(tiles[t], at);
        return IRMutator::visitLoad(n, self);
      }

    private:
      const std::vector<Expr> &tiled;
      const std::vector<Buffer> &tiles;
      Expr at;
    };
    rows = rowsAt(step2);
    Expr posR2 = at(tileR, rows), posI2 = at(tileI, ref(lane));
    FromTiles fromTiles(tiled, tiles, add(mul(ref(lane), intImm(tile + 1)), rows));
    Stmt point = Store::make(st->buffer, st->index, fromTiles.mutate(st->value));
    Stmt phase2 =
        steps(step2, IfThenElse::make(inside(posR2, posI2),
                                      substitute(point, {{vars[r], posR2}, {innermost, posI2}})));
    // The last barrier keeps a block that runs again from refilling tiles still being read.
    Stmt body = LetStmt::make(
        lane, Binary::make(BinaryOp::Mod, ref(thread), intImm(tile)),
        LetStmt::make(row, Binary::make(BinaryOp::FloorDiv, ref(thread), intImm(tile)),
                      Block::make({phase1, Barrier::make(BarrierScope::Block), phase2,
                                   Barrier::make(BarrierScope::Block)})));
    body = bindFlat(blockVars, blockExtents, body, ref(block));
    k.nest = kernelNest(block, k.blocks, thread, threads, body, tiles);
    kernels.push_back(std::move(k));
    return true;
  }

  // ---- contractions ----

  /// One stage of the wgmma ring in shared memory: a 128x64 tile of A and a 256x64 tile of B,
  /// 16-bit values.
  static constexpr int64_t kWgmmaStageBytes = (128 + 256) * 64 * 2;

  /// for i, for j: allocate acc { acc = 0; for k: acc = acc + A(i, k) * B(k, j); post(i, j) }
  /// in f32: 128x128 output tiles of 256 threads, 8x8 outputs a thread, k in steps of 8 through
  /// double-buffered shared memory (16 KiB), the epilogue fused.
  /// The items a contraction kernel takes from i on (its own and an epilogue's), or 0.
  // ---- flash chain (attention) ----

  /// The definitions of an attention chain, the CPU's row chain on the loop nests: scores
  /// S[.., t, u] = post(sum(A(t, e) * B(u, e) for e)), elementwise maps of the scores at their own
  /// point, M[.., t] = max(X(t, w) for w < ext), P[.., t, u] = [cond *] exp(X(t, u) - M[.., t]),
  /// O0[.., t, e] = sum(P[.., t, u] * Y(u, e) for u < ext0), O1[.., t] = sum(P[.., t, u] for u <
  /// ext1), then out[.., t, e] = F(O0[.., t, e], O1[.., t]). Every value is an expression over the
  /// scores' loop variables (the leading ones, t, u), the output's column `e` and the lets `dot`,
  /// `m`, `o` and `l`.
  struct FlashChain {
    std::vector<Var> lead;
    std::vector<Expr> leadExtents;
    Var t, u, k, e, dot, m, o, l;
    Expr extentT, extentU, extentK, extentE;
    Expr factorA, factorB;   // A(t, k), B(u, k).
    Expr score;              // X(t, u) over `dot`.
    Expr pCond;              // P's `where` condition (null: none), over t and u.
    Expr y;                  // Y(u, e).
    Expr extMax, extO, extL; // Each key loop's extent, over t.
    Stmt out;                // The final store, over `o` and `l`.
    std::vector<Buffer> buffers;
    size_t items = 0;
  };

  /// Loads of the chain's buffers replaced by their values at the point (`index` the expected
  /// index); any other access to one of them fails the match.
  struct PointValues : IRMutator {
    struct Value {
      Buffer buffer;
      Expr index, value;
    };
    std::vector<Value> values;
    bool failed = false;
    Expr visitLoad(const Load *n, const Expr &self) override {
      for (const Value &v : values)
        if (v.buffer == n->buffer) {
          if (n->predicate || !ExprEqual()(n->index, v.index))
            failed = true;
          return v.value;
        }
      return IRMutator::visitLoad(n, self);
    }
  };

  /// `r`'s init stores `value` and its post is `buffer[index] = acc[0]`, buffer an intermediate
  /// of the item: that buffer, else null.
  static const Store *plainReduction(const Reduction &r, const Item &item, double init) {
    const Store *pre = as<Store>(r.pre);
    const FloatImm *start = pre ? as<FloatImm>(pre->value) : nullptr;
    const Store *post = as<Store>(r.post);
    if (!start || start->value != init || !post || post->predicate ||
        !isAccLoad(post->value, r.acc) || post->buffer->role != BufferRole::Intermediate ||
        std::find(item.allocations.begin(), item.allocations.end(), post->buffer) ==
            item.allocations.end())
      return nullptr;
    return post;
  }

  /// The reduction's update value other than the accumulator.
  static Expr updateTerm(const Reduction &r) {
    const Binary *b = as<Binary>(as<Store>(r.inner.body)->value);
    return isAccLoad(b->a, r.acc) ? b->b : b->a;
  }

  std::optional<FlashChain> matchFlashChain(size_t i) const {
    const Item &first = items[i];
    Chain outer = peel(first.stmt);
    size_t n = outer.loops.size();
    Reduction r;
    if (n < 2 || !parseReduction(outer.body, r) || r.op != BinaryOp::Add ||
        r.acc->dtype != DType::F32 || r.inner.loops.size() != 1 || selfDependent(first.stmt))
      return std::nullopt;
    FlashChain c;
    std::vector<Var> vars = outer.vars();
    std::vector<Expr> extents = outer.extents();
    c.lead.assign(vars.begin(), vars.end() - 2);
    c.leadExtents.assign(extents.begin(), extents.end() - 2);
    c.t = vars[n - 2];
    c.u = vars[n - 1];
    c.k = r.inner.loops[0]->var;
    c.extentT = extents[n - 2];
    c.extentU = extents[n - 1];
    c.extentK = r.inner.loops[0]->extent;
    if (usesAny(c.extentK, vars))
      return std::nullopt;
    const Binary *product = as<Binary>(updateTerm(r));
    if (!product || product->op != BinaryOp::Mul)
      return std::nullopt;
    c.factorA = product->a;
    c.factorB = product->b;
    if (usesAny(c.factorA, {c.u}) || usesAny(c.factorB, {c.t}))
      std::swap(c.factorA, c.factorB);
    if (usesAny(c.factorA, {c.u}) || usesAny(c.factorB, {c.t}) || !usesAny(c.factorA, {c.k}) ||
        !usesAny(c.factorB, {c.k}))
      return std::nullopt;
    const Store *scores = plainReduction(r, first, 0.0);
    if (!scores)
      return std::nullopt;
    std::vector<Expr> rowIndex(c.lead.size() + 1), pointIndex(vars.size());
    for (size_t d = 0; d < vars.size(); ++d)
      pointIndex[d] = ref(vars[d]);
    rowIndex.assign(pointIndex.begin(), pointIndex.end() - 1);
    std::vector<Expr> rowExtents(extents.begin(), extents.end() - 1);
    Expr point = linear(pointIndex, extents), row = linear(rowIndex, rowExtents);
    if (!equal(scores->index, point))
      return std::nullopt;
    c.dot = letVar("dot", DType::F32);
    c.m = letVar("m", DType::F32);
    c.o = letVar("numerator", DType::F32);
    c.l = letVar("denominator", DType::F32);
    PointValues atPoint;
    atPoint.values.push_back({scores->buffer, point, ref(c.dot)});
    c.buffers.push_back(scores->buffer);

    // The loops of item j as the chain's: `count` loops with the chain's leading extents (then
    // `more` further extents, checked by the caller), renamed to `to`.
    size_t j = i + 1;
    auto loopsOf = [&](const Item &item, size_t count, const std::vector<Var> &to,
                       Chain &chain) -> bool {
      if (item.lets.size() != first.lets.size())
        return false;
      chain = peel(item.stmt, count);
      if (chain.loops.size() != count)
        return false;
      for (size_t d = 0; d < std::min(count, rowExtents.size()); ++d)
        if (!equal(chain.loops[d]->extent, rowExtents[d]))
          return false;
      std::vector<std::pair<Var, Expr>> renames;
      for (size_t d = 0; d < count; ++d)
        renames.push_back({chain.loops[d]->var, ref(to[d])});
      chain.body = substitute(chain.body, renames);
      return true;
    };
    auto replaced = [&](PointValues &values, const Expr &e) -> Expr {
      Expr out = values.mutate(e);
      return values.failed ? nullptr : out;
    };
    // Elementwise maps of the scores at their own point (a mask written with `where`).
    Chain chain;
    while (j < items.size() && loopsOf(items[j], n, vars, chain) &&
           equal(chain.loops[n - 1]->extent, c.extentU)) {
      const Store *st = as<Store>(chain.body);
      if (!st || st->predicate || !equal(st->index, point) ||
          st->buffer->role != BufferRole::Intermediate)
        break;
      Expr value = replaced(atPoint, st->value);
      if (!value)
        return std::nullopt;
      atPoint.values.push_back({st->buffer, point, value});
      c.buffers.push_back(st->buffer);
      ++j;
    }
    // The row maximum.
    std::vector<Var> rowVars(vars.begin(), vars.end() - 1);
    Reduction max;
    if (j >= items.size() || !loopsOf(items[j], n - 1, rowVars, chain) ||
        !parseReduction(chain.body, max) || max.op != BinaryOp::Max || max.inner.loops.size() != 1)
      return std::nullopt;
    const Store *maxStore = plainReduction(max, items[j], -std::numeric_limits<double>::infinity());
    if (!maxStore || !equal(maxStore->index, row))
      return std::nullopt;
    c.extMax = max.inner.loops[0]->extent;
    c.score = replaced(atPoint, substitute(updateTerm(max), {{max.inner.loops[0]->var, ref(c.u)}}));
    if (!c.score || usesAny(c.extMax, {c.u}))
      return std::nullopt;
    Buffer maxBuffer = maxStore->buffer;
    c.buffers.push_back(maxBuffer);
    ++j;
    // P = [cond *] exp(X - M): the form the running maximum may rescale.
    if (j >= items.size() || !loopsOf(items[j], n, vars, chain) ||
        !equal(chain.loops[n - 1]->extent, c.extentU))
      return std::nullopt;
    const Store *pStore = as<Store>(chain.body);
    if (!pStore || pStore->predicate || !equal(pStore->index, point) ||
        pStore->buffer->role != BufferRole::Intermediate)
      return std::nullopt;
    PointValues withMax = atPoint;
    withMax.values.push_back({maxBuffer, row, ref(c.m)});
    Expr core = replaced(withMax, pStore->value);
    if (!core)
      return std::nullopt;
    if (const Select *s = as<Select>(core)) {
      const FloatImm *zero = as<FloatImm>(s->b);
      if (!zero || zero->value != 0.0 || usesAny(s->cond, {c.m, c.dot}))
        return std::nullopt;
      c.pCond = s->cond;
      core = s->a;
    }
    const Call *ex = as<Call>(core);
    const Binary *diff = ex && ex->fn == Intrinsic::Exp ? as<Binary>(ex->args[0]) : nullptr;
    const VarRef *mRef = diff && diff->op == BinaryOp::Sub ? as<VarRef>(diff->b) : nullptr;
    if (!mRef || mRef->var != c.m || !equal(diff->a, c.score))
      return std::nullopt;
    c.buffers.push_back(pStore->buffer);
    ++j;
    // The two sums over the keys, in either order: O0 = sum(P * Y) per column e, O1 = sum(P).
    PointValues ofP;
    ofP.values.push_back({pStore->buffer, point, ref(c.dot)}); // `dot` stands for P here.
    Buffer o0, o1; // The chain's nests are renamed copies: keep buffers, not their stores.
    std::vector<Var> columnVars = rowVars;
    std::vector<Expr> columnIndex = rowIndex, columnExtents = rowExtents;
    for (int member = 0; member < 2; ++member, ++j) {
      if (j >= items.size())
        return std::nullopt;
      Chain rows = peel(items[j].stmt);
      bool perColumn = rows.loops.size() == n;
      if (perColumn ? o0 != nullptr : o1 != nullptr)
        return std::nullopt;
      if (perColumn) {
        c.e = rows.loops[n - 1]->var;
        c.extentE = rows.loops[n - 1]->extent;
        columnVars.push_back(c.e);
        columnIndex.push_back(ref(c.e));
        columnExtents.push_back(c.extentE);
      }
      Reduction sum;
      if (!loopsOf(items[j], rows.loops.size(), perColumn ? columnVars : rowVars, chain) ||
          !parseReduction(chain.body, sum) || sum.op != BinaryOp::Add ||
          sum.inner.loops.size() != 1)
        return std::nullopt;
      const Store *st = plainReduction(sum, items[j], 0.0);
      if (!st || !equal(st->index, perColumn ? linear(columnIndex, columnExtents) : row))
        return std::nullopt;
      Expr extent = sum.inner.loops[0]->extent;
      PointValues values = ofP;
      Expr term =
          replaced(values, substitute(updateTerm(sum), {{sum.inner.loops[0]->var, ref(c.u)}}));
      if (!term || usesAny(extent, {c.u}) || (perColumn && usesAny(extent, {c.e})))
        return std::nullopt;
      if (perColumn) {
        const Binary *pv = as<Binary>(term);
        if (!pv || pv->op != BinaryOp::Mul)
          return std::nullopt;
        const VarRef *pa = as<VarRef>(pv->a);
        c.y = pa && pa->var == c.dot ? pv->b : pv->a;
        const VarRef *pRef = as<VarRef>(c.y == pv->b ? pv->a : pv->b);
        if (!pRef || pRef->var != c.dot || usesAny(c.y, {c.dot, c.t}))
          return std::nullopt;
        c.extO = extent;
        o0 = st->buffer;
      } else {
        const VarRef *pRef = as<VarRef>(term);
        if (!pRef || pRef->var != c.dot)
          return std::nullopt;
        c.extL = extent;
        o1 = st->buffer;
      }
      c.buffers.push_back(st->buffer);
    }
    // The division (or any expression of the two sums at the output's point).
    if (j >= items.size() || !loopsOf(items[j], n, columnVars, chain) ||
        !equal(chain.loops[n - 1]->extent, c.extentE))
      return std::nullopt;
    const Store *st = as<Store>(chain.body);
    Expr at = linear(columnIndex, columnExtents);
    if (!st || st->predicate || !equal(st->index, at) || selfDependent(chain.body))
      return std::nullopt;
    PointValues sums;
    sums.values.push_back({o0, at, ref(c.o)});
    sums.values.push_back({o1, row, ref(c.l)});
    Expr value = replaced(sums, st->value);
    if (!value)
      return std::nullopt;
    c.out = Store::make(st->buffer, st->index, value);
    c.items = j + 1 - i;
    // The chain's buffers live only in it, and nothing outside its definitions reads them.
    std::set<const BufferNode *> outside = outsideBuffers(i, c.items);
    Accesses rest = accessesOf(c.out);
    for (const Expr &e : {c.factorA, c.factorB, c.score, c.pCond, c.y})
      if (e)
        rest.visit(e);
    for (const Buffer &b : c.buffers)
      if (outside.count(b.get()) || rest.loads(b) ||
          std::find(items[j].allocations.begin(), items[j].allocations.end(), b) ==
              items[j].allocations.end())
        return std::nullopt;
    return c;
  }

  /// The attention chain as one kernel (FlashAttention's order of work): a block a tile of 64
  /// query rows t (of one point of the leading dims), 256 threads, a thread 4 rows and 4 key
  /// columns of each 64 x 64 score tile and 4 rows x 4 columns of the output in registers. For
  /// each tile of 64 keys the scores' factors go through shared memory in steps of 64 of k; then
  /// each row's running maximum (xor shuffles over the row's 16 threads) rescales its running
  /// sum and outputs by exp(m_old - m_new), and P·Y takes P and Y's tile through shared memory.
  /// The output's columns go in chunks of 64, each a pass over the keys. A running maximum of
  /// -inf (no key yet, or every key masked) stands as 0 where it is subtracted, so that a masked
  /// key's exp(-inf - m) is 0, never NaN.
  /// `bound` (an upper bound on t's keys) when it cannot shrink as t grows: affine, every term
  /// that mentions t being t itself with a positive coefficient; else null.
  static Expr growingInT(const Expr &bound, const FlashChain &c) {
    if (usesAny(bound, {c.u, c.e, c.dot, c.m}))
      return nullptr;
    std::optional<AffineExpr> form = toAffine(bound);
    if (!form)
      return nullptr;
    for (const auto &[atom, coefficient] : form->terms)
      if (atom.mentions(c.t) && !(atom.isVar() && coefficient > 0))
        return nullptr;
    return bound;
  }

  /// The keys u < bound(t) that `cond` keeps when it is `u <= a`, `u < a`, `a >= u` or `a > u`
  /// with `a` growing in t (a causal mask); else null.
  static Expr keysKept(const Expr &cond, const FlashChain &c) {
    const Binary *b = as<Binary>(cond);
    auto isU = [&](const Expr &e) {
      const VarRef *r = as<VarRef>(e);
      return r && r->var == c.u;
    };
    if (!b)
      return nullptr;
    Expr limit;
    bool inclusive = false;
    if (isU(b->a) && (b->op == BinaryOp::Le || b->op == BinaryOp::Lt)) {
      limit = b->b;
      inclusive = b->op == BinaryOp::Le;
    } else if (isU(b->b) && (b->op == BinaryOp::Ge || b->op == BinaryOp::Gt)) {
      limit = b->a;
      inclusive = b->op == BinaryOp::Ge;
    } else {
      return nullptr;
    }
    if (!growingInT(limit, c))
      return nullptr;
    return inclusive ? plus(limit, 1) : limit;
  }

  /// The keys the score's mask keeps (`where(u <= t, ..., -inf)`: u < t + 1), as keysKept;
  /// null where the score has no such mask.
  static Expr scoreMaskBound(const FlashChain &c) {
    const Select *s = as<Select>(c.score);
    const FloatImm *masked = s ? as<FloatImm>(s->b) : nullptr;
    if (!masked || masked->value != -std::numeric_limits<double>::infinity())
      return nullptr;
    return keysKept(s->cond, c);
  }

  /// A bound over t, growing in t, at or past which a key adds nothing to row t's sums: past
  /// both sums' extents, or where P is exactly 0 (its `where` is false, or the score is masked to
  /// -inf). Null when there is none. Past it only the running maximum would see more keys, which
  /// changes the result by rounding alone (the maximum cancels in the division).
  static Expr keyBound(const FlashChain &c) {
    std::vector<Expr> bounds;
    Expr o = growingInT(c.extO, c), l = growingInT(c.extL, c);
    if (o && l)
      bounds.push_back(equal(o, l) ? o : Binary::make(BinaryOp::Max, o, l));
    if (c.pCond)
      if (Expr kept = keysKept(c.pCond, c))
        bounds.push_back(kept);
    if (Expr kept = scoreMaskBound(c))
      bounds.push_back(kept);
    std::erase_if(bounds, [&](const Expr &b) { return !usesAny(b, {c.t}); });
    if (bounds.empty())
      return nullptr;
    Expr bound = bounds[0];
    for (size_t b = 1; b < bounds.size(); ++b)
      bound = Binary::make(BinaryOp::Min, bound, bounds[b]);
    return bound;
  }

  /// The chain without its masks that grow with t (a causal mask: keys at or below the row),
  /// and their bounds on the keys: a key tile below every bound at its first row needs no test
  /// of them. No bounds where no mask grows with t.
  static std::pair<FlashChain, std::vector<Expr>> withoutGrowingMasks(const FlashChain &c) {
    FlashChain clear = c;
    std::vector<Expr> bounds;
    if (Expr kept = scoreMaskBound(c); kept && usesAny(kept, {c.t})) {
      clear.score = as<Select>(c.score)->a;
      bounds.push_back(kept);
    }
    if (Expr kept = c.pCond ? keysKept(c.pCond, c) : nullptr; kept && usesAny(kept, {c.t})) {
      clear.pCond = nullptr;
      bounds.push_back(kept);
    }
    for (const Expr &bound : {c.extMax, c.extL, c.extO})
      if (usesAny(bound, {c.t}) && growingInT(bound, c))
        bounds.push_back(bound);
    return {std::move(clear), std::move(bounds)};
  }

  size_t tryFlashChain(size_t i) {
    if (threads != kFlashThreads || target.sharedBytesPerBlock < 2 * kFlashTileFloats * 4)
      return 0;
    std::optional<FlashChain> c = matchFlashChain(i);
    if (!c)
      return 0;
    // 16-bit factors and values of one dtype: both products on tensor cores (sm_80+).
    Expr a16 = sixteenBit(c->factorA), b16 = sixteenBit(c->factorB), y16 = sixteenBit(c->y);
    bool tensorCores = a16 && b16 && y16 && a16->type.dtype == b16->type.dtype &&
                       y16->type.dtype == a16->type.dtype && target.computeCapability >= 80 &&
                       target.sharedBytesPerBlockOptin >= flashMmaSharedBytes(128);
    int64_t rows = tensorCores ? kFlashMmaRows : kFlashRows;
    Expr tiles = ceilDiv(c->extentT, rows);
    // On tensor cores, output columns in chunks of 64 where E <= 64, with two blocks an SM;
    // else of 128, so that heads of 128 take one pass over the keys (alternatives where E is
    // known only at run time).
    std::vector<int64_t> widths = {64};
    if (tensorCores) {
      const IntImm *e = as<IntImm>(simplify(c->extentE));
      widths = e ? std::vector<int64_t>{e->value <= 64 ? 64 : 128} : std::vector<int64_t>{64, 128};
    }
    for (int64_t width : widths) {
      KernelPlan k = start(items[i + c->items - 1]);
      std::erase_if(k.allocations, [&](const Buffer &b) {
        return std::find(c->buffers.begin(), c->buffers.end(), b) != c->buffers.end();
      });
      k.schedule = GpuScheduleKind::FlashChain;
      k.blocks = mulFold(product(c->leadExtents), tiles);
      k.nest = tensorCores ? flashMmaKernel(*c, a16, b16, y16, k.blocks, tiles, width)
                           : flashKernel(*c, k.blocks, tiles);
      if (widths.size() > 1) {
        k.condition =
            Binary::make(width == 64 ? BinaryOp::Le : BinaryOp::Gt, c->extentE, intImm(64));
        k.variant = width == 64 ? "_e64" : "";
      }
      // Two blocks of 8 warps an SM hide the latency of the warps' chains of products and
      // exponentials: 1.3 times faster on an H100, though at 128 registers a thread ptxas
      // spills a few accumulators (no tile goes through registers).
      if (tensorCores && width == 64)
        k.blocksPerSm = 2;
      k.details.push_back("attention chain in one kernel: a block " + std::to_string(rows) +
                          " query rows, key tiles of 64 through shared memory, online softmax "
                          "(running maximum and sum a row), the scores never stored");
      if (tensorCores)
        k.details.push_back(
            "a warp 16 rows: scores and outputs by mma.sync on tensor cores (f32 accumulation), "
            "P in registers rounded to " +
            std::string(dtypeName(a16->type.dtype)) + ", output columns in chunks of " +
            std::to_string(width) + ", a pass over the keys each, k in steps of " +
            std::to_string(width) + " (Q's tile copied once where E <= " + std::to_string(width) +
            "); tiles copied by cp.async, K's next during the softmax, Y's during the scores, "
            "untested where whole");
      else
        k.details.push_back("4x4 scores and 4x4 outputs a thread on CUDA cores (f32), output "
                            "columns in chunks of 64, a pass over the keys each");
      if (Expr bound = keyBound(*c))
        k.details.push_back("keys u >= " + toString(simplify(bound)) +
                            " add nothing to row t: key tiles past the block's last row skipped" +
                            (tensorCores ? ", the last rows' blocks first" : ""));
      if (tensorCores)
        if (std::vector<Expr> bounds = withoutGrowingMasks(*c).second; !bounds.empty()) {
          std::string tests;
          for (const Expr &bound : bounds)
            tests += (tests.empty() ? "u < " : ", u < ") + toString(simplify(bound));
          k.details.push_back("key tiles whose keys all pass " + tests +
                              " at a warp's first row t: those tests left out");
        }
      kernels.push_back(std::move(k));
    }
    return c->items;
  }

  /// A row's running maximum for the online softmax's rescaling: -inf (a row with no key yet)
  /// as 0, so that exp(old - new) of a row still empty is 1, not NaN.
  static Expr finiteMax(const Expr &m) {
    Expr negInf = floatImm(-std::numeric_limits<double>::infinity());
    return Select::make(Binary::make(BinaryOp::Eq, m, negInf), floatImm(0.0), m);
  }
  /// The online softmax's step for row `r` after a key tile whose maximum is reduced[0]: the
  /// row's new maximum into rowMax[r], and into scale[r] exp(old - new), the factor its running
  /// sum and outputs are rescaled by (2^(old - new) for scores in the base-2 domain).
  static Stmt onlineMaxStep(const Buffer &rowMax, const Buffer &scale, const Buffer &reduced,
                            const Expr &r, bool base2 = false) {
    Var mOld = letVar("m_old", DType::F32), mNew = letVar("m_new", DType::F32);
    Expr exp = Call::make(base2 ? Intrinsic::Exp2 : Intrinsic::Exp,
                          {sub(finiteMax(ref(mOld)), finiteMax(ref(mNew)))});
    return LetStmt::make(
        mOld, Load::make(rowMax, r),
        LetStmt::make(
            mNew, Binary::make(BinaryOp::Max, ref(mOld), Load::make(reduced, intImm(0))),
            Block::make({Store::make(scale, r, exp), Store::make(rowMax, r, ref(mNew))})));
  }

  /// A score X in the base-2 domain, X * log2(e), so that exp(X - m) is 2^(X' - m') and one
  /// hardware exp2 computes it. A score dot * c (c free of the point) takes the product c *
  /// log2(e), which the compiler hoists; a masked score keeps its -inf.
  static Expr toBase2(const Expr &score, const FlashChain &c) {
    const Expr log2e = floatImm(1.4426950408889634);
    if (const Select *s = as<Select>(score))
      return Select::make(s->cond, toBase2(s->a, c), toBase2(s->b, c));
    if (const FloatImm *f = as<FloatImm>(score); f && std::isinf(f->value))
      return score;
    if (const Binary *b = as<Binary>(score); b && b->op == BinaryOp::Mul)
      for (auto [x, y] : {std::pair{b->a, b->b}, std::pair{b->b, b->a}})
        if (const VarRef *v = as<VarRef>(x); v && v->var == c.dot && !usesAny(y, {c.dot, c.t, c.u}))
          return mul(x, mul(y, log2e));
    return mul(score, log2e);
  }

  /// A score's unnormalized probability against its row's running maximum rowMax[r]:
  /// exp(score - max), 0 where the chain's mask on P says so.
  static Expr probability(const FlashChain &c, const Expr &score, const Buffer &rowMax,
                          const Expr &r) {
    Expr p = Call::make(Intrinsic::Exp, {sub(score, finiteMax(Load::make(rowMax, r)))});
    return c.pCond ? Select::make(c.pCond, p, floatImm(0.0)) : p;
  }

  static constexpr int kFlashThreads = 256;
  static constexpr int64_t kFlashRows = 64, kFlashKeys = 64, kFlashStep = 64, kFlashPad = 65;
  static constexpr int64_t kFlashTileFloats = 64 * kFlashPad;
  // The tensor-core kernel's: 128 query rows, four running values a row.
  static constexpr int64_t kFlashMmaRows = 128, kFlashPartials = 4;
  /// Its shared tiles' bytes with output columns in chunks of `width` and k in steps of
  /// `width`: Q's rows, K's and Y's keys, each of `width` 16-bit values padded by 8.
  static constexpr int64_t flashMmaSharedBytes(int64_t width) {
    return (kFlashMmaRows + 2 * kFlashKeys) * (width + 8) * 2;
  }

  Stmt flashKernel(const FlashChain &c, const Expr &blocks, const Expr &tiles) {
    const Expr negInf = floatImm(-std::numeric_limits<double>::infinity());
    const Expr zero = floatImm(0.0);
    Var block = loopVar("block"), thread = loopVar("thread");
    // q_tile holds the rows' factor values, then P; k_tile the keys' factor values, then Y.
    Buffer rowTile = local("q_tile", DType::F32, kFlashTileFloats);
    Buffer keyTile = local("k_tile", DType::F32, kFlashTileFloats);
    Buffer scores = local("scores", DType::F32, 16), acc = local("acc", DType::F32, 16);
    Buffer rowMax = local("row_max", DType::F32, 4), rowSum = local("row_sum", DType::F32, 4);
    Buffer scale = local("scale", DType::F32, 4), reduced = local("reduced", DType::F32, 1);
    Buffer pNow = local("p_now", DType::F32, 1);
    Buffer af = local("a_step", DType::F32, 4), bf = local("b_step", DType::F32, 4);
    Var tx = letVar("tx"), ty = letVar("ty"), q0 = letVar("q0"), k0 = letVar("k0");
    // The slot of row r of this thread's 4 rows, column s, in a padded 64-row tile.
    auto threadRowSlot = [&](const Expr &r, const Expr &s) {
      return add(times(add(times(ref(ty), 4), r), kFlashPad), s);
    };
    Var chunk = loopVar("chunk"), keyStep = loopVar("key_tile"), kStep = loopVar("k_step");
    auto rowOf = [&](const Expr &r) { return add(ref(q0), add(times(ref(ty), 4), r)); };
    auto keyOf = [&](const Expr &cc) { return add(ref(k0), add(ref(tx), times(cc, 16))); };
    auto colOf = [&](const Expr &cc) {
      return add(times(ref(chunk), kFlashStep), add(ref(tx), times(cc, 16)));
    };
    auto at = [](const Expr &r, const Expr &cc) { return add(times(r, 4), cc); };
    // 64 rows of `tile` from `f` (rows `rowVar` = base + 0..63, columns `colVar` = colBase +
    // 0..63; 0 outside), 16 points a thread, consecutive threads on consecutive columns.
    auto fill = [&](const Buffer &tile, const Var &rowVar, const Expr &base, const Expr &rowEnd,
                    const Var &colVar, const Expr &colBase, const Expr &colEnd, const Expr &f) {
      Var r = loopVar("r"), idx = letVar("idx");
      Expr slot = add(times(div(ref(idx), 64), kFlashPad), mod(ref(idx), 64));
      return unrolled(
          r, 16,
          LetStmt::make(idx, add(ref(thread), times(ref(r), kFlashThreads)),
                        LetStmt::make(rowVar, add(base, div(ref(idx), 64)),
                                      LetStmt::make(colVar, add(colBase, mod(ref(idx), 64)),
                                                    valueOrZero(tile, slot, f,
                                                                both(lt(ref(rowVar), rowEnd),
                                                                     lt(ref(colVar), colEnd)))))));
    };
    // acc[r, cc] += sum over s < 64 of a(r, s) * b(cc, s), both from shared memory.
    auto products = [&](const Buffer &dst, const std::function<Expr(const Expr &, const Expr &)> &a,
                        const std::function<Expr(const Expr &, const Expr &)> &b) {
      Var s = loopVar("s"), r = loopVar("r"), cc = loopVar("c"), r2 = loopVar("r"),
          c2 = loopVar("c");
      Expr cell = at(ref(r2), ref(c2));
      return For::make(
          s, intImm(64), ForKind::Serial,
          Block::make(
              {unrolled(r, 4, Store::make(af, ref(r), Load::make(rowTile, a(ref(r), ref(s))))),
               unrolled(cc, 4, Store::make(bf, ref(cc), Load::make(keyTile, b(ref(cc), ref(s))))),
               unrolled(r2, 4,
                        unrolled(c2, 4,
                                 Store::make(
                                     dst, cell,
                                     add(Load::make(dst, cell), mul(Load::make(af, ref(r2)),
                                                                    Load::make(bf, ref(c2)))))))}));
    };
    auto rowCombine = [&](BinaryOp op) {
      std::vector<Stmt> steps;
      for (int mask = 8; mask > 0; mask /= 2) {
        Var other = letVar("other", DType::F32);
        Expr value = Load::make(reduced, intImm(0));
        steps.push_back(
            LetStmt::make(other, WarpShuffle::make(value, mask),
                          Store::make(reduced, intImm(0), Binary::make(op, value, ref(other)))));
      }
      return Block::make(steps);
    };
    auto forCells = [&](const std::function<Stmt(const Var &, const Var &)> &body) {
      Var r = loopVar("r"), cc = loopVar("c");
      return unrolled(r, 4, unrolled(cc, 4, body(r, cc)));
    };

    // The scores of the key tile: the dot products over k in steps of 64.
    Stmt dots = Block::make(
        {forCells([&](const Var &r, const Var &cc) {
           return Store::make(scores, at(ref(r), ref(cc)), zero);
         }),
         For::make(kStep, ceilDiv(c.extentK, kFlashStep), ForKind::Serial,
                   Block::make({Barrier::make(BarrierScope::Block),
                                fill(rowTile, c.t, ref(q0), c.extentT, c.k,
                                     times(ref(kStep), kFlashStep), c.extentK, c.factorA),
                                fill(keyTile, c.u, ref(k0), c.extentU, c.k,
                                     times(ref(kStep), kFlashStep), c.extentK, c.factorB),
                                Barrier::make(BarrierScope::Block),
                                products(scores, threadRowSlot, [&](const Expr &cc, const Expr &s) {
                                  return add(times(add(ref(tx), times(cc, 16)), kFlashPad), s);
                                })}))});
    // Each cell's score X(t, u), -inf outside the rows and keys.
    Stmt toScores = forCells([&](const Var &r, const Var &cc) {
      Expr cell = at(ref(r), ref(cc));
      return LetStmt::make(
          c.t, rowOf(ref(r)),
          LetStmt::make(
              c.u, keyOf(ref(cc)),
              LetStmt::make(c.dot, Load::make(scores, cell),
                            IfThenElse::make(both(lt(ref(c.t), c.extentT), lt(ref(c.u), c.extentU)),
                                             Store::make(scores, cell, c.score),
                                             Store::make(scores, cell, negInf)))));
    });
    // Per row: the tile's maximum over the keys the maximum reads, the new running maximum, the
    // tile's P, the running sum and the outputs rescaled; P (the keys O0 reads) into scores.
    std::vector<Stmt> perRow;
    {
      Var r = loopVar("r"), cc = loopVar("c"), cc2 = loopVar("c"), cc3 = loopVar("c");
      auto cellLets = [&](const Var &col, Stmt body) {
        return LetStmt::make(c.t, rowOf(ref(r)),
                             LetStmt::make(c.u, keyOf(ref(col)), std::move(body)));
      };
      Stmt tileMax = Block::make(
          {Store::make(reduced, intImm(0), negInf),
           unrolled(
               cc, 4,
               cellLets(cc, Store::make(
                                reduced, intImm(0),
                                Binary::make(BinaryOp::Max, Load::make(reduced, intImm(0)),
                                             Select::make(lt(ref(c.u), c.extMax),
                                                          Load::make(scores, at(ref(r), ref(cc))),
                                                          negInf))))),
           rowCombine(BinaryOp::Max)});
      Stmt update = onlineMaxStep(rowMax, scale, reduced, ref(r));
      Expr cell = at(ref(r), ref(cc2));
      Expr p = probability(c, Load::make(scores, cell), rowMax, ref(r));
      Expr inRange = both(lt(ref(c.t), c.extentT), lt(ref(c.u), c.extentU));
      Stmt tileP = Block::make(
          {Store::make(reduced, intImm(0), zero),
           unrolled(
               cc2, 4,
               cellLets(cc2, Block::make(
                                 {IfThenElse::make(inRange, Store::make(pNow, intImm(0), p),
                                                   Store::make(pNow, intImm(0), zero)),
                                  Store::make(reduced, intImm(0),
                                              add(Load::make(reduced, intImm(0)),
                                                  Select::make(lt(ref(c.u), c.extL),
                                                               Load::make(pNow, intImm(0)), zero))),
                                  Store::make(scores, cell,
                                              Select::make(lt(ref(c.u), c.extO),
                                                           Load::make(pNow, intImm(0)), zero))}))),
           rowCombine(BinaryOp::Add),
           Store::make(rowSum, ref(r),
                       add(mul(Load::make(rowSum, ref(r)), Load::make(scale, ref(r))),
                           Load::make(reduced, intImm(0)))),
           unrolled(cc3, 4,
                    Store::make(
                        acc, at(ref(r), ref(cc3)),
                        mul(Load::make(acc, at(ref(r), ref(cc3))), Load::make(scale, ref(r)))))});
      perRow.push_back(unrolled(r, 4, Block::make({tileMax, update, tileP})));
    }
    // P·Y: P into q_tile, Y's tile (keys x 64 columns) into k_tile.
    Stmt pv = Block::make(
        {Barrier::make(BarrierScope::Block), forCells([&](const Var &r, const Var &cc) {
           return Store::make(rowTile, threadRowSlot(ref(r), add(ref(tx), times(ref(cc), 16))),
                              Load::make(scores, at(ref(r), ref(cc))));
         }),
         fill(keyTile, c.u, ref(k0), c.extentU, c.e, times(ref(chunk), kFlashStep), c.extentE, c.y),
         Barrier::make(BarrierScope::Block),
         products(acc, threadRowSlot, [&](const Expr &cc, const Expr &s) {
           return add(times(s, kFlashPad), add(ref(tx), times(cc, 16)));
         })});
    // Keys past every row's bound (a causal mask) are skipped a whole tile at a time.
    Expr keys = c.extentU;
    if (Expr bound = keyBound(c)) {
      Expr lastRow =
          Binary::make(BinaryOp::Min, plus(ref(q0), kFlashRows - 1), sub(c.extentT, intImm(1)));
      keys =
          Binary::make(BinaryOp::Min, c.extentU,
                       Binary::make(BinaryOp::Max, intImm(0), substitute(bound, {{c.t, lastRow}})));
    }
    Stmt keyLoop = For::make(keyStep, ceilDiv(keys, kFlashKeys), ForKind::Serial,
                             LetStmt::make(k0, times(ref(keyStep), kFlashKeys),
                                           Block::make({dots, toScores, Block::make(perRow), pv})));
    Stmt init = Block::make({forCells([&](const Var &r, const Var &cc) {
                               return Store::make(acc, at(ref(r), ref(cc)), zero);
                             }),
                             [&] {
                               Var r = loopVar("r");
                               return unrolled(r, 4,
                                               Block::make({Store::make(rowMax, ref(r), negInf),
                                                            Store::make(rowSum, ref(r), zero)}));
                             }()});
    Stmt epilogue = forCells([&](const Var &r, const Var &cc) {
      return LetStmt::make(
          c.t, rowOf(ref(r)),
          LetStmt::make(c.e, colOf(ref(cc)),
                        IfThenElse::make(
                            both(lt(ref(c.t), c.extentT), lt(ref(c.e), c.extentE)),
                            LetStmt::make(c.o, Load::make(acc, at(ref(r), ref(cc))),
                                          LetStmt::make(c.l, Load::make(rowSum, ref(r)), c.out)))));
    });
    Stmt body = For::make(chunk, ceilDiv(c.extentE, kFlashStep), ForKind::Serial,
                          Block::make({init, keyLoop, epilogue}));
    for (const Buffer &b : {bf, af, pNow, reduced, scale, rowSum, rowMax, acc, scores})
      body = Allocate::make(b, MemoryScope::Stack, body);
    body = LetStmt::make(
        q0, times(Binary::make(BinaryOp::Mod, ref(block), tiles), kFlashRows),
        LetStmt::make(tx, mod(ref(thread), 16), LetStmt::make(ty, div(ref(thread), 16), body)));
    body =
        bindFlat(c.lead, c.leadExtents, body, Binary::make(BinaryOp::FloorDiv, ref(block), tiles));
    return kernelNest(block, blocks, thread, kFlashThreads, body, {rowTile, keyTile});
  }

  /// The 16-bit value `e` converts to f32 (`f32(x)` of a bf16 or f16 x): x; else null.
  static Expr sixteenBit(const Expr &e) {
    const Cast *c = as<Cast>(e);
    if (!c || c->a->type.isVector() ||
        (c->a->type.dtype != DType::BF16 && c->a->type.dtype != DType::F16))
      return nullptr;
    return c->a;
  }

  /// The attention chain on tensor cores (FlashAttention-2's split of the work), for 16-bit factors
  /// and values (`a16`, `b16`, `y16`, one dtype): a block 128 query rows t of one point of the
  /// leading dims, 8 warps of 16 rows. For each tile of 64 keys, `width` values of k a step, the
  /// rows' and the keys' factors go through shared memory (rows padded by 8 values, so that the
  /// fragment loads hit 32 banks; the rows' tile is copied once where K <= width; tiles by
  /// cp.async, the next key tile's while this one computes) and a warp's 16 x 64 scores accumulate
  /// in registers by mma.sync m16n8k16 (f32). Each row's running maximum (over the row's quad: xor
  /// shuffles 1 and 2) rescales its running sum (the thread's own keys, summed over the quad at the
  /// end) and its outputs; P, rounded to the 16-bit type, goes from the scores' accumulators
  /// straight into the A fragments of P·Y (the two layouts agree), with Y's tile row-major in
  /// shared memory, read by ldmatrix.trans. Output columns in chunks of `width`, a pass over the
  /// keys each. Masks, the -inf conventions and the causal skipping are the CUDA-core kernel's
  /// (flashKernel); a tile whose rows and keys are all in range tests only the masks that depend on
  /// t.
  /// The kinds of a key tile, by the tests its code makes: an edge tile tests every row and
  /// key; an interior one only the masks that depend on t; a clear one none of those it can
  /// prove hold (below a causal diagonal).
  enum class Tile { Edge, Interior, Clear };

  /// The tensor-core kernel with output columns in chunks of `width` (64 or 128), a pass over
  /// the keys each.
  Stmt flashMmaKernel(const FlashChain &c, const Expr &a16, const Expr &b16, const Expr &y16,
                      const Expr &blocks, const Expr &tiles, int64_t width) {
    // Q's, K's and Y's tiles in one shared array (past the static limit where width is 128),
    // rows of `row` values: k in steps of `width` as the output columns.
    const int64_t step = width, row = width + 8, accTiles = width / 8;
    const int64_t rowTile = 0, keyTile = kFlashMmaRows * row,
                  valueTile = keyTile + kFlashKeys * row;
    const DType t16 = a16->type.dtype;
    const Expr negInf = floatImm(-std::numeric_limits<double>::infinity());
    const Expr zero = floatImm(0.0);
    Var block = loopVar("block"), thread = loopVar("thread");
    Buffer sharedTiles = local("tiles", t16, flashMmaSharedBytes(width) / 2);
    Buffer scores = local("scores", DType::F32, 32), acc = local("acc", DType::F32, 4 * accTiles);
    Buffer pFrag = local("p_frag", t16, 32), aFrag = local("a_frag", t16, 8);
    Buffer bFrag = local("b_frag", t16, 8);
    Buffer rowMax = local("row_max", DType::F32, 2), rowSum = local("row_sum", DType::F32, 2);
    Buffer scale = local("scale", DType::F32, 2),
           reduced = local("reduced", DType::F32, kFlashPartials);
    Var w = letVar("w"), g = letVar("g"), q = letVar("q"), q0 = letVar("q0"), k0 = letVar("k0");
    Var keyTiles = letVar("key_tiles");
    Var columns = loopVar("chunk"), keyStep = loopVar("key_tile"), kStep = loopVar("k_step");
    // Accumulator i = 4 nt + h of a 16-row tile: row g + 8 (h / 2), column 8 nt + 2 q + h % 2
    // (the PTX ISA's C/D fragment of mma.m16n8k16); 8 n tiles of scores, accTiles of outputs.
    auto rowOf = [&](const Expr &h) {
      return add(ref(q0), add(times(ref(w), 16), add(ref(g), times(div(h, 2), 8))));
    };
    auto columnOf = [&](const Expr &nt, const Expr &h) {
      return add(times(nt, 8), add(times(ref(q), 2), mod(h, 2)));
    };
    auto cell = [](const Expr &nt, const Expr &h) { return add(times(nt, 4), h); };
    auto forCells = [&](const std::function<Stmt(const Var &, const Var &)> &body,
                        int64_t nTiles = 8) {
      Var nt = loopVar("nt"), h = loopVar("h");
      return unrolled(nt, nTiles, unrolled(h, 4, body(nt, h)));
    };
    // `rows` rows of the tile at `tile` from `f`: rows `rowVar` = rowBase + .., columns `colVar`
    // = colBase + 0..width-1, 8 values a thread a step, by cp.async where whole (asyncChunk). A
    // row's chunks are consecutive threads'. Where the whole tile is in range and aligned (the
    // usual case), its chunks are copied without a test each: fewer instructions and registers
    // in the loop.
    auto copyRows = [&](int64_t tile, int64_t rows, const Var &rowVar, const Expr &rowBase,
                        const Expr &rowEnd, const Var &colVar, const Expr &colBase,
                        const Expr &colEnd, const Expr &f) {
      const int64_t chunks = width / 8;
      Var r = loopVar("r"), idx = letVar("idx");
      Expr at = plus(add(times(div(ref(idx), chunks), row), times(mod(ref(idx), chunks), 8)), tile);
      auto eachChunk = [&](Stmt copy) {
        return unrolled(
            r, rows * chunks / kFlashThreads,
            LetStmt::make(
                idx, add(ref(thread), times(ref(r), kFlashThreads)),
                LetStmt::make(rowVar, add(rowBase, div(ref(idx), chunks)),
                              LetStmt::make(colVar, add(colBase, times(mod(ref(idx), chunks), 8)),
                                            std::move(copy)))));
      };
      Stmt tested =
          eachChunk(asyncChunk(sharedTiles, at, f, lt(ref(rowVar), rowEnd), colVar, colEnd));
      const Load *l = contiguousLoad(f, colVar);
      std::optional<std::vector<Expr>> aligned =
          l ? alignedChunks(l, colVar, rowVar, rowBase, c.lead) : std::nullopt;
      if (!aligned)
        return tested;
      std::vector<Expr> whole = {Binary::make(BinaryOp::Le, plus(rowBase, rows), rowEnd),
                                 Binary::make(BinaryOp::Le, plus(colBase, width), colEnd),
                                 BufferAligned::make(l->buffer, 16)};
      whole.insert(whole.end(), aligned->begin(), aligned->end());
      return IfThenElse::make(
          all(whole),
          eachChunk(GpuIntrinsic::make(GpuOp::CopyAsync, {sharedTiles, l->buffer}, {at, l->index})),
          tested);
    };
    // The tiles go through shared memory by cp.async, in FlashAttention-2's order: a key tile's
    // K (with Q where it changes) is copied while the previous tile's softmax and P Y run, its
    // Y while its scores are computed. Q changes with the k step only when K > width.
    Stmt commit = GpuIntrinsic::make(GpuOp::CommitAsync);
    Stmt landed = Block::make(
        {GpuIntrinsic::make(GpuOp::WaitAsync, {}, {}, 0), Barrier::make(BarrierScope::Block)});
    Expr rowsEachStep = lt(intImm(step), c.extentK);
    auto copyFactors = [&](const Expr &keyBase, const Expr &kBase, const Expr &withRows) {
      Stmt keys =
          copyRows(keyTile, kFlashKeys, c.u, keyBase, c.extentU, c.k, kBase, c.extentK, b16);
      Stmt rows =
          copyRows(rowTile, kFlashMmaRows, c.t, ref(q0), c.extentT, c.k, kBase, c.extentK, a16);
      return Block::make({IfThenElse::make(withRows, rows), keys, commit});
    };
    Stmt copyValues = Block::make({copyRows(valueTile, kFlashKeys, c.u, ref(k0), c.extentU, c.e,
                                            times(ref(columns), width), c.extentE, y16),
                                   commit});
    // Fragments come from the tiles by ldmatrix, lane l giving row l % 8 of matrix l / 8.
    Expr lane = mod(ref(thread), 32);
    Expr laneRow = mod(lane, 8), laneMatrix = div(lane, 8);
    // B's fragments of n tiles nt and nt + 1, k from 16 kk, into bFrag[0..4) and [4..8):
    // matrices (nt, k low), (nt, k high), (nt + 1, k low), (nt + 1, k high). K's tile holds
    // rows of n (mma's B fragment of a tile is its rows' values 2 q + {0, 1} and + 8); Y's rows
    // of k, read transposed.
    auto bFragments = [&](int64_t tile, const Expr &nt, const Expr &kk) {
      Expr n = add(times(add(nt, div(laneMatrix, 2)), 8), laneRow);
      Expr k = add(times(kk, 16), times(mod(laneMatrix, 2), 8));
      return GpuIntrinsic::make(GpuOp::LoadMatrix, {bFrag, sharedTiles},
                                {intImm(0), plus(add(times(n, row), k), tile)}, 4);
    };
    auto bFragmentsTrans = [&](int64_t tile, const Expr &nt, const Expr &kk) {
      Expr k = add(times(kk, 16), add(times(mod(laneMatrix, 2), 8), laneRow));
      Expr n = times(add(nt, div(laneMatrix, 2)), 8);
      return GpuIntrinsic::make(GpuOp::LoadMatrixTrans, {bFrag, sharedTiles},
                                {intImm(0), plus(add(times(k, row), n), tile)}, 4);
    };
    // reduced[0] combined over the row's quad by xor shuffles; a maximum by max.NaN, the
    // other lane's value through reduced[1].
    auto quadCombine = [&](BinaryOp op) {
      std::vector<Stmt> steps;
      for (int mask = 1; mask <= 2; mask *= 2) {
        Var other = letVar("other", DType::F32);
        Expr value = Load::make(reduced, intImm(0));
        Stmt combine = op == BinaryOp::Max
                           ? Block::make({Store::make(reduced, intImm(1), ref(other)),
                                          GpuIntrinsic::make(GpuOp::MaxNaN, {reduced, reduced},
                                                             {intImm(0), intImm(1)})})
                           : Store::make(reduced, intImm(0), Binary::make(op, value, ref(other)));
        steps.push_back(LetStmt::make(other, WarpShuffle::make(value, mask), combine));
      }
      return Block::make(steps);
    };

    // A pair of mma.sync on n tiles 2 np and 2 np + 1 from bFrag's two fragments.
    auto mmaPair = [&](const Buffer &d, const Buffer &a, const Expr &aAt, const Var &np) {
      return Block::make(
          {GpuIntrinsic::make(GpuOp::MmaSync, {d, a, bFrag}, {times(ref(np), 8), aAt, intImm(0)}),
           GpuIntrinsic::make(GpuOp::MmaSync, {d, a, bFrag},
                              {plus(times(ref(np), 8), 4), aAt, intImm(4)})});
    };

    // The scores of the key tile: S = A B^T over k in steps of `step`, Y's tile loaded with
    // the first step's.
    Stmt scoreProducts = [&] {
      Var kk = loopVar("kk"), np = loopVar("np");
      // A's fragment, rows 16 w.., k from 16 kk: matrices (rows low, k low), (rows high, k
      // low), (rows low, k high), (rows high, k high).
      Expr aRow = add(times(ref(w), 16), add(laneRow, times(mod(laneMatrix, 2), 8)));
      Expr aAt = add(times(aRow, row), add(times(ref(kk), 16), times(div(laneMatrix, 2), 8)));
      return unrolled(
          kk, step / 16,
          Block::make({GpuIntrinsic::make(GpuOp::LoadMatrix, {aFrag, sharedTiles},
                                          {intImm(0), plus(aAt, rowTile)}, 4),
                       unrolled(np, 4,
                                Block::make({bFragments(keyTile, times(ref(np), 2), ref(kk)),
                                             mmaPair(scores, aFrag, intImm(0), np)}))}));
    }();
    // K's k steps after the first come in the loop (with Q's when K > step); Y's tile once the
    // first step's K has landed and every warp is past the last tile's P Y.
    Stmt dots = Block::make(
        {forCells([&](const Var &nt, const Var &h) {
           return Store::make(scores, cell(ref(nt), ref(h)), zero);
         }),
         For::make(
             kStep, Binary::make(BinaryOp::Max, ceilDiv(c.extentK, step), intImm(1)),
             ForKind::Serial,
             Block::make(
                 {IfThenElse::make(
                      Binary::make(BinaryOp::Gt, ref(kStep), intImm(0)),
                      Block::make({Barrier::make(BarrierScope::Block),
                                   copyFactors(ref(k0), times(ref(kStep), step), rowsEachStep)})),
                  landed,
                  IfThenElse::make(Binary::make(BinaryOp::Eq, ref(kStep), intImm(0)), copyValues),
                  scoreProducts}))});
    auto cellLets = [&](const Var &nt, const Var &h, Stmt body) {
      return LetStmt::make(
          c.t, rowOf(ref(h)),
          LetStmt::make(c.u, add(ref(k0), columnOf(ref(nt), ref(h))), std::move(body)));
    };
    // A tile is interior when all its rows are and its keys are below the key extents that do
    // not depend on t: its code tests only the others. `keyTest(tile, bound)` is the test
    // u < bound, or null where the tile needs none.
    std::vector<Expr> keyBounds = {c.extentU};
    for (const Expr &bound : {c.extMax, c.extL, c.extO})
      if (!usesAny(bound, {c.t}) &&
          std::none_of(keyBounds.begin(), keyBounds.end(),
                       [&](const Expr &known) { return equal(known, bound); }))
        keyBounds.push_back(bound);
    Expr interiorTile = Binary::make(BinaryOp::Le, plus(ref(q0), kFlashMmaRows), c.extentT);
    for (const Expr &bound : keyBounds)
      interiorTile =
          both(interiorTile, Binary::make(BinaryOp::Le, plus(ref(k0), kFlashKeys), bound));
    // A clear tile is an interior one whose keys every row of the warp keeps under the masks
    // that grow with t, which it does not test: the tiles below a causal diagonal.
    const std::pair<FlashChain, std::vector<Expr>> clearing = withoutGrowingMasks(c);
    const FlashChain &clear = clearing.first;
    const std::vector<Expr> &clearBounds = clearing.second;
    Expr clearTile;
    if (!clearBounds.empty()) {
      Expr firstRow = add(ref(q0), times(ref(w), 16));
      clearTile = interiorTile;
      for (const Expr &bound : clearBounds)
        clearTile = both(clearTile, Binary::make(BinaryOp::Le, plus(ref(k0), kFlashKeys),
                                                 substitute(bound, {{c.t, firstRow}})));
    }
    auto keyTest = [&](Tile tile, const Expr &bound) -> Expr {
      bool tested =
          usesAny(bound, {c.t}) ? tile != Tile::Clear || !growingInT(bound, c) : tile == Tile::Edge;
      return tested ? lt(ref(c.u), bound) : nullptr;
    };
    auto where = [](const Expr &test, const Expr &value, const Expr &otherwise) {
      return test ? Select::make(test, value, otherwise) : value;
    };
    // Each cell's score X(t, u), -inf outside the rows and keys.
    auto toScores = [&](Tile tile) {
      return forCells([&](const Var &nt, const Var &h) {
        Expr at = cell(ref(nt), ref(h));
        Stmt score = Store::make(scores, at, toBase2((tile == Tile::Clear ? clear : c).score, c));
        return cellLets(
            nt, h,
            LetStmt::make(
                c.dot, Load::make(scores, at),
                tile != Tile::Edge
                    ? score
                    : IfThenElse::make(both(lt(ref(c.t), c.extentT), lt(ref(c.u), c.extentU)),
                                       score, Store::make(scores, at, negInf))));
      });
    };
    // Per row r of the thread's two (accumulators h = 2 r, 2 r + 1 of each n tile): the tile's
    // maximum, the new running maximum, P and the thread's share of the running sum, the
    // outputs rescaled.
    auto perRow = [&](Tile tile) {
      Var r = loopVar("r"), nt = loopVar("nt"), j = loopVar("j"), nt2 = loopVar("nt"),
          j2 = loopVar("j"), nt3 = loopVar("nt"), j3 = loopVar("j");
      auto h = [&](const Var &jj) { return add(times(ref(r), 2), ref(jj)); };
      auto rowCells = [&](const Var &n, const Var &jj, Stmt body) {
        Var hv = letVar("h");
        return unrolled(
            n, 8,
            unrolled(jj, 2,
                     LetStmt::make(
                         hv, h(jj),
                         LetStmt::make(c.t, rowOf(ref(hv)),
                                       LetStmt::make(c.u, add(ref(k0), columnOf(ref(n), ref(hv))),
                                                     std::move(body))))));
      };
      // The thread's maximum, NaN winning as in max but a zero of either sign: the sign of a
      // zero maximum changes neither 2^(x - m) nor 2^(m_old - m_new). One max.NaN a score where
      // every key counts; else a score replaces it when greater or NaN. The row's 16 cells go
      // into kFlashPartials running values (n tile nt into nt % 4), folded at the end: four
      // short chains of dependent instructions instead of one long one (the sum likewise).
      Var score = letVar("score", DType::F32);
      Expr part = mod(ref(nt), kFlashPartials);
      Expr soFar = Load::make(reduced, part);
      Expr maxTest = keyTest(tile, c.extMax);
      Stmt cellMax =
          maxTest
              ? LetStmt::make(
                    score, Select::make(maxTest, Load::make(scores, cell(ref(nt), h(j))), negInf),
                    IfThenElse::make(
                        Binary::make(BinaryOp::Or, Binary::make(BinaryOp::Gt, ref(score), soFar),
                                     Binary::make(BinaryOp::Ne, ref(score), ref(score))),
                        Store::make(reduced, part, ref(score))))
              : GpuIntrinsic::make(GpuOp::MaxNaN, {reduced, scores}, {part, cell(ref(nt), h(j))});
      auto partials = [&](auto init, auto fold) {
        Var i = loopVar("i");
        std::vector<Stmt> folds;
        for (int64_t width = kFlashPartials / 2; width > 0; width /= 2)
          for (int64_t k = 0; k < width; ++k)
            folds.push_back(fold(k, k + width));
        return std::pair{unrolled(i, kFlashPartials, init(ref(i))), Block::make(folds)};
      };
      auto [maxInit, maxFold] =
          partials([&](const Expr &i) { return Store::make(reduced, i, negInf); },
                   [&](int64_t into, int64_t from) {
                     return GpuIntrinsic::make(GpuOp::MaxNaN, {reduced, reduced},
                                               {intImm(into), intImm(from)});
                   });
      Stmt tileMax =
          Block::make({maxInit, rowCells(nt, j, cellMax), maxFold, quadCombine(BinaryOp::Max)});
      Stmt update = onlineMaxStep(rowMax, scale, reduced, ref(r), /*base2=*/true);
      // P = 2^(X' - m') in place of the scores, by the hardware's exp2: P is rounded to the
      // factors' type for its product with Y (as FlashAttention does), which hides the
      // approximation's 2^-22; the sum takes P unrounded. Then P's pairs rounded at once.
      Expr at = cell(ref(nt2), h(j2));
      Expr p = Load::make(scores, at);
      Expr pCond = (tile == Tile::Clear ? clear : c).pCond;
      Expr inRange = both(lt(ref(c.t), c.extentT), lt(ref(c.u), c.extentU));
      if (tile == Tile::Edge)
        pCond = pCond ? both(inRange, pCond) : inRange;
      std::vector<Stmt> cellP = {
          Store::make(scores, at, sub(p, finiteMax(Load::make(rowMax, ref(r))))),
          GpuIntrinsic::make(GpuOp::Exp2Approx, {scores, scores}, {at, at})};
      if (pCond)
        cellP.push_back(Store::make(scores, at, Select::make(pCond, p, zero)));
      Expr sumPart = mod(ref(nt2), kFlashPartials);
      cellP.push_back(
          Store::make(reduced, sumPart,
                      add(Load::make(reduced, sumPart), where(keyTest(tile, c.extL), p, zero))));
      if (Expr test = keyTest(tile, c.extO))
        cellP.push_back(Store::make(scores, at, Select::make(test, p, zero)));
      Var ntPair = loopVar("nt");
      Expr pair = cell(ref(ntPair), times(ref(r), 2));
      auto [sumInit, sumFold] =
          partials([&](const Expr &i) { return Store::make(reduced, i, zero); },
                   [&](int64_t into, int64_t from) {
                     return Store::make(
                         reduced, intImm(into),
                         add(Load::make(reduced, intImm(into)), Load::make(reduced, intImm(from))));
                   });
      Stmt tileP = Block::make(
          {sumInit, rowCells(nt2, j2, Block::make(cellP)), sumFold,
           unrolled(ntPair, 8, GpuIntrinsic::make(GpuOp::RoundPair, {pFrag, scores}, {pair, pair})),
           Store::make(rowSum, ref(r),
                       add(mul(Load::make(rowSum, ref(r)), Load::make(scale, ref(r))),
                           Load::make(reduced, intImm(0)))),
           unrolled(nt3, accTiles,
                    unrolled(j3, 2,
                             Store::make(acc, cell(ref(nt3), h(j3)),
                                         mul(Load::make(acc, cell(ref(nt3), h(j3))),
                                             Load::make(scale, ref(r))))))});
      return unrolled(r, 2, Block::make({tileMax, update, tileP}));
    };
    // O += P Y: P's A fragment for keys 16 kk.. is accumulators 8 kk .. 8 kk + 7 (n tiles 2 kk
    // and 2 kk + 1), in the same order.
    Stmt valueProducts = [&] {
      Var kk = loopVar("kk"), np = loopVar("np");
      return unrolled(kk, 4,
                      unrolled(np, accTiles / 2,
                               Block::make({bFragmentsTrans(valueTile, times(ref(np), 2), ref(kk)),
                                            mmaPair(acc, pFrag, times(ref(kk), 8), np)})));
    }();
    // Keys past every row's bound (a causal mask) are skipped a whole tile at a time.
    Expr keys = c.extentU;
    if (Expr bound = keyBound(c)) {
      Expr lastRow =
          Binary::make(BinaryOp::Min, plus(ref(q0), kFlashMmaRows - 1), sub(c.extentT, intImm(1)));
      keys =
          Binary::make(BinaryOp::Min, c.extentU,
                       Binary::make(BinaryOp::Max, intImm(0), substitute(bound, {{c.t, lastRow}})));
    }
    auto tileWork = [&](Tile tile) { return Block::make({toScores(tile), perRow(tile)}); };
    Stmt scoresToP = IfThenElse::make(interiorTile, tileWork(Tile::Interior), tileWork(Tile::Edge));
    if (clearTile)
      scoresToP = IfThenElse::make(clearTile, tileWork(Tile::Clear), scoresToP);
    // After a tile's scores: Y's tile landed and every warp is done with K's, whose next tile
    // is copied during this one's softmax and P Y. Every copy is waited for before the chunk's
    // end (a chunk with no key tile has its first copies still in flight).
    Stmt nextKeys =
        IfThenElse::make(lt(plus(ref(keyStep), 1), ref(keyTiles)),
                         copyFactors(plus(ref(k0), kFlashKeys), intImm(0), rowsEachStep));
    Stmt keyLoop = LetStmt::make(
        keyTiles, ceilDiv(keys, kFlashKeys),
        Block::make({copyFactors(intImm(0), intImm(0), boolImm(true)),
                     For::make(keyStep, ref(keyTiles), ForKind::Serial,
                               LetStmt::make(k0, times(ref(keyStep), kFlashKeys),
                                             Block::make({dots, landed, nextKeys, scoresToP,
                                                          valueProducts}))),
                     GpuIntrinsic::make(GpuOp::WaitAsync, {}, {}, 0)}));
    Stmt init = [&] {
      Var r = loopVar("r");
      return Block::make(
          {forCells([&](const Var &nt,
                        const Var &h) { return Store::make(acc, cell(ref(nt), ref(h)), zero); },
                    accTiles),
           unrolled(r, 2,
                    Block::make({Store::make(rowMax, ref(r), negInf),
                                 Store::make(rowSum, ref(r), zero)}))});
    }();
    // The row sums over the quad's keys.
    Stmt sums = [&] {
      Var r = loopVar("r");
      return unrolled(r, 2,
                      Block::make({Store::make(reduced, intImm(0), Load::make(rowSum, ref(r))),
                                   quadCombine(BinaryOp::Add),
                                   Store::make(rowSum, ref(r), Load::make(reduced, intImm(0)))}));
    }();
    Stmt epilogue = forCells(
        [&](const Var &nt, const Var &h) {
          return LetStmt::make(
              c.t, rowOf(ref(h)),
              LetStmt::make(c.e, add(times(ref(columns), width), columnOf(ref(nt), ref(h))),
                            IfThenElse::make(
                                both(lt(ref(c.t), c.extentT), lt(ref(c.e), c.extentE)),
                                LetStmt::make(c.o, Load::make(acc, cell(ref(nt), ref(h))),
                                              LetStmt::make(c.l, Load::make(rowSum, div(ref(h), 2)),
                                                            c.out)))));
        },
        accTiles);
    Stmt body = For::make(columns, ceilDiv(c.extentE, width), ForKind::Serial,
                          Block::make({init, keyLoop, sums, epilogue}));
    for (const Buffer &b : {bFrag, aFrag, pFrag, reduced, scale, rowSum, rowMax, acc, scores})
      body = Allocate::make(b, MemoryScope::Stack, body);
    // A block's row tile and point of the leading dims. Where a row's keys end at a bound
    // growing with t (a causal mask), the tiles of the last rows have the most work: they go
    // first, every point's, so that the light ones fill the last wave.
    Expr rowTileOf = Binary::make(BinaryOp::Mod, ref(block), tiles);
    Expr leadOf = Binary::make(BinaryOp::FloorDiv, ref(block), tiles);
    if (keyBound(c)) {
      Expr leads = product(c.leadExtents);
      rowTileOf = sub(sub(tiles, intImm(1)), Binary::make(BinaryOp::FloorDiv, ref(block), leads));
      leadOf = Binary::make(BinaryOp::Mod, ref(block), leads);
    }
    body = LetStmt::make(
        q0, times(rowTileOf, kFlashMmaRows),
        LetStmt::make(w, div(ref(thread), 32),
                      LetStmt::make(g, div(lane, 4), LetStmt::make(q, mod(lane, 4), body))));
    // The point of the leading dims once, not in every address.
    Var lead = letVar("lead");
    body = LetStmt::make(lead, leadOf, bindFlat(c.lead, c.leadExtents, body, ref(lead)));
    return kernelNest(block, blocks, thread, kFlashThreads, body, {sharedTiles});
  }

  size_t tryContraction(size_t i) {
    static constexpr int64_t kSharedBytes = 2 * 2 * 8 * 128 * 4;
    static constexpr int64_t kMmaSharedBytes = 2 * 2 * 128 * 40 * 2;
    if (threads != 256 || target.sharedBytesPerBlock < kSharedBytes)
      return 0;
    const Item &item = items[i];
    Chain outer = peel(item.stmt, 3);
    // A leading batch loop (`c[z, i, j] = sum(a[z, i, k] * b[z, k, j] for k)`): each of its
    // points a contraction of its own, the blocks over the points' tiles.
    const For *batch = outer.loops.size() == 3 ? outer.loops[0] : nullptr;
    if (batch)
      outer = peel(batch->body, 2);
    Reduction r;
    if (outer.loops.size() != 2 || !parseReduction(outer.body, r) || r.op != BinaryOp::Add ||
        r.acc->dtype != DType::F32 || r.inner.loops.size() != 1 || selfDependent(item.stmt))
      return 0;
    const Store *update = as<Store>(r.inner.body);
    const Binary *sum = as<Binary>(update->value);
    Expr rhs = isAccLoad(sum->a, r.acc) ? sum->b : sum->a;
    const Binary *product = as<Binary>(rhs);
    if (!product || product->op != BinaryOp::Mul || product->type != Type::scalar(DType::F32))
      return 0;
    Var vi = outer.loops[0]->var, vj = outer.loops[1]->var, vk = r.inner.loops[0]->var;
    if (usesAny(r.inner.loops[0]->extent, {vi, vj}) ||
        (batch && usesAny(r.inner.loops[0]->extent, {batch->var})))
      return 0;
    Expr fa = product->a, fb = product->b;
    auto onlyIK = [&](const Expr &e) { return !usesAny(e, {vj}); };
    auto onlyKJ = [&](const Expr &e) { return !usesAny(e, {vi}); };
    if (!(onlyIK(fa) && onlyKJ(fb))) {
      std::swap(fa, fb);
      if (!(onlyIK(fa) && onlyKJ(fb)))
        return 0;
    }
    // Both factors must move with k (else this is not a contraction worth tiling).
    if (!usesAny(fa, {vk}) || !usesAny(fb, {vk}))
      return 0;
    KernelPlan k = start(item);
    k.schedule = GpuScheduleKind::Contraction;
    const bool fused = !batch && fuseEpilogue(i, outer, r, k);
    auto finish = [&] {
      if (fused)
        k.details.push_back("epilogue fused: " + epilogueName(items[i + 1]) +
                            " on the sums in registers (they never reach memory)");
      if (batch) {
        k.nest = overBatch(k.nest, batch->var, batch->extent);
        k.blocks = mulFold(k.blocks, batch->extent);
        k.details.push_back("a batch of " + toString(batch->extent) +
                            " contractions: every one's output tiles side by side in the grid");
      }
      kernels.push_back(std::move(k));
      return fused ? 2 : 1;
    };
    Contraction c{vi,
                  vj,
                  vk,
                  outer.loops[0]->extent,
                  outer.loops[1]->extent,
                  r.inner.loops[0]->extent,
                  fa,
                  fb,
                  r,
                  batch ? std::optional<Var>(batch->var) : std::nullopt};
    // 16-bit factors: tensor cores (mma.sync m16n8k16, f32 accumulation; 40 KiB of tiles).
    Expr na = sixteenBit(fa), nb = sixteenBit(fb);
    if (!(na && nb && na->type.dtype == nb->type.dtype && target.computeCapability >= 80 &&
          target.sharedBytesPerBlock >= kMmaSharedBytes)) {
      k.blocks = mul(ceilDiv(c.extentI, 128), ceilDiv(c.extentJ, 128));
      k.nest = cudaCoreContraction(c, k.blocks);
      // At most 128 registers a thread, so that two blocks share an SM (149 otherwise: one
      // block, 8 warps, every barrier idling the SM's FMA pipes).
      k.blocksPerSm = 2;
      k.details.push_back("output tiles through shared memory, 8x8 outputs a thread on CUDA cores");
      return finish();
    }
    // wgmma is sm_90's alone (the code is compiled for sm_90a); four stages keep two in flight
    // while two are read.
    static constexpr int kWgmmaStages = 4;
    static constexpr int64_t kWgmmaSharedBytes = kWgmmaStages * kWgmmaStageBytes + 1024;
    if (target.computeCapability == 90 && target.sharedBytesPerBlockOptin >= kWgmmaSharedBytes &&
        contiguousLoad(na, vk) && (contiguousLoad(nb, vk) || contiguousLoad(nb, vj))) {
      k.blocks = mul(ceilDiv(c.extentI, 128), ceilDiv(c.extentJ, 256));
      k.nest = wgmmaContraction(c, na, nb, k.blocks, kWgmmaStages);
      k.details.push_back("output tiles through shared memory, warpgroup MMA (wgmma) on tensor "
                          "cores, " +
                          std::to_string(kWgmmaStages) + " cp.async stages");
    } else {
      k.blocks = mul(ceilDiv(c.extentI, 128), ceilDiv(c.extentJ, 128));
      k.nest = mmaContraction(c, na, nb, k.blocks);
      k.details.push_back("output tiles through shared memory, mma.sync on tensor cores");
    }
    return finish();
  }

  static Expr all(const std::vector<Expr> &terms) {
    Expr result = terms.at(0);
    for (size_t i = 1; i < terms.size(); ++i)
      result = both(result, terms[i]);
    return result;
  }

  /// For a load contiguous along `moving` (index = part + moving), the tests that the chunks of
  /// 8 values it copies start on a multiple of 8 in every row from `first` on: `part` is affine in
  /// `row` and both its value at `first` and its step from row to row are multiples of 8 (no test
  /// where either is a constant that is). None where `part` is not affine in `row` (a gathered
  /// row, say) or a constant is not a multiple: no test of the tile covers those.
  static std::optional<std::vector<Expr>> alignedChunks(const Load *l, const Var &moving,
                                                        const Var &row, const Expr &first,
                                                        const std::vector<Var> &uniform) {
    const Binary *sum = as<Binary>(l->index);
    const VarRef *last = as<VarRef>(sum->b);
    Expr part = last && last->var == moving ? sum->a : sum->b;
    std::optional<AffineExpr> form = toAffine(part);
    if (!form)
      return std::nullopt;
    auto isRow = [&](const Atom &a) { return a.isVar() && a.var() == row; };
    // Symbols, and the batch point (one a block): the same in every row of the tile.
    auto isFixed = [&](const Atom &a) {
      return a.onlySymbols() ||
             (a.isVar() && std::find(uniform.begin(), uniform.end(), a.var()) != uniform.end());
    };
    for (const auto &term : form->terms) {
      const Atom &atom = term.first;
      if (isFixed(atom) || isRow(atom))
        continue;
      if (atom.kind() != Atom::Kind::Product)
        return std::nullopt;
      // A symbolic stride times the row or the batch point: the other factors symbols.
      int rows = 0;
      for (const Atom &factor : atom.factors()) {
        if (isRow(factor))
          ++rows;
        else if (!isFixed(factor))
          return std::nullopt;
      }
      if (rows > 1)
        return std::nullopt;
    }
    std::optional<AffineExpr> start = toAffine(first), next = toAffine(plus(first, 1));
    std::optional<AffineExpr> at = start ? substitute(*form, row, *start) : std::nullopt;
    std::optional<AffineExpr> after = next ? substitute(*form, row, *next) : std::nullopt;
    if (!at || !after)
      return std::nullopt;
    std::vector<Expr> tests;
    for (const AffineExpr &value : {*at, *after - *at}) {
      if (value.isConstant() && value.constant % 8 != 0)
        return std::nullopt;
      if (!value.isConstant())
        tests.push_back(Binary::make(BinaryOp::Eq, mod(toExpr(value), 8), intImm(0)));
    }
    return tests;
  }

  /// The name the epilogue's store writes.
  static std::string epilogueName(const Item &item) {
    return as<Store>(peel(item.stmt).body)->buffer->name;
  }

  /// Item i + 1 as the epilogue of contraction i, as the CPU's tiling does: an elementwise nest
  /// over the same (i, j) that reads the sums' buffer only at its own position, when no other
  /// item reads that buffer. The post's store of the sums then becomes the epilogue's store,
  /// with the sums' value in place of each load, and the buffer goes.
  bool fuseEpilogue(size_t i, const Chain &outer, Reduction &r, KernelPlan &k) const {
    if (i + 1 >= items.size())
      return false;
    const Item &next = items[i + 1];
    const Store *sums = as<Store>(r.post);
    if (!sums || sums->predicate || sums->buffer->role != BufferRole::Intermediate ||
        std::find(k.allocations.begin(), k.allocations.end(), sums->buffer) ==
            k.allocations.end() ||
        next.lets.size() != items[i].lets.size() || next.allocations != items[i].allocations)
      return false;
    Chain c = peel(next.stmt);
    const Store *st = storeAtOwnPosition(c);
    if (!st || c.loops.size() != 2 || !equal(c.loops[0]->extent, outer.loops[0]->extent) ||
        !equal(c.loops[1]->extent, outer.loops[1]->extent) ||
        outsideBuffers(i, 2).count(sums->buffer.get()))
      return false;
    Stmt body = substitute(c.body, {{c.loops[0]->var, ref(outer.loops[0]->var)},
                                    {c.loops[1]->var, ref(outer.loops[1]->var)}});
    for (const auto &a : accessesOf(body).list)
      if (a.buffer == sums->buffer && (a.store || !equal(a.index, sums->index)))
        return false;
    struct SumsInPlace : IRMutator {
      const Store *sums;
      explicit SumsInPlace(const Store *s) : sums(s) {}
      Expr visitLoad(const Load *n, const Expr &self) override {
        return n->buffer == sums->buffer ? sums->value : IRMutator::visitLoad(n, self);
      }
    } inPlace(sums);
    r.post = inPlace.mutate(body);
    std::erase(k.allocations, sums->buffer);
    return true;
  }

  /// A recognized contraction: c[i, j] = post(sum(factorA(i, k) * factorB(k, j) for k)).
  struct Contraction {
    Var i, j, k;
    Expr extentI, extentJ, extentK, factorA, factorB;
    Reduction r;
    std::optional<Var> batch; // A leading loop whose points are contractions apart.
  };

  static Expr lt(const Expr &a, const Expr &b) { return Binary::make(BinaryOp::Lt, a, b); }
  static Expr both(const Expr &a, const Expr &b) { return Binary::make(BinaryOp::And, a, b); }
  static Expr div(const Expr &a, int64_t b) {
    return Binary::make(BinaryOp::FloorDiv, a, intImm(b));
  }
  static Expr mod(const Expr &a, int64_t b) { return Binary::make(BinaryOp::Mod, a, intImm(b)); }
  static Expr plus(const Expr &a, int64_t b) { return add(a, intImm(b)); }
  static Expr times(const Expr &a, int64_t b) { return mul(a, intImm(b)); }
  static Stmt unrolled(const Var &v, int64_t extent, Stmt body) {
    return For::make(v, intImm(extent), ForKind::Unrolled, std::move(body));
  }
  static Var loopVar(const std::string &name) { return makeVar(name, Type::i64(), VarKind::Loop); }
  static Var letVar(const std::string &name, DType t = DType::I64) {
    return makeVar(name, Type::scalar(t), VarKind::Let);
  }

  /// The k loop of a double-buffered contraction, `stepK` values of k a step: the next step's
  /// factors are loaded (`load(first k)`, into registers) while this step's `compute` reads the
  /// shared buffer `buf`, then stored into the other one (`store(buffer)`); a barrier ends the
  /// step. `compute` may use the lets `k0` (the step's first k) and `buf`.
  static Stmt doubleBufferedK(const Var &step, const Var &k0, const Var &buf, const Expr &extentK,
                              int64_t stepK, const std::function<Stmt(const Expr &)> &load,
                              const Stmt &compute, const std::function<Stmt(const Expr &)> &store) {
    Var more = letVar("more", DType::Bool);
    Stmt body = Block::make({IfThenElse::make(ref(more), load(plus(ref(k0), stepK))), compute,
                             IfThenElse::make(ref(more), store(mod(plus(ref(step), 1), 2))),
                             Barrier::make(BarrierScope::Block)});
    return For::make(
        step, ceilDiv(extentK, stepK), ForKind::Serial,
        LetStmt::make(k0, times(ref(step), stepK),
                      LetStmt::make(buf, mod(ref(step), 2),
                                    LetStmt::make(more, lt(plus(ref(k0), stepK), extentK), body))));
  }
  static Buffer local(const std::string &name, DType t, int64_t size) {
    return makeBuffer(name, t, {intImm(size)}, BufferRole::Intermediate);
  }

  /// `dst[at]` = the factor value `f` where `inside` holds, else 0: a predicated load when `f`
  /// is a plain load (one select, the access itself guarded), else a branch.
  static Stmt valueOrZero(const Buffer &dst, const Expr &at, const Expr &f, const Expr &inside) {
    if (const Load *l = as<Load>(f); l && !l->predicate)
      return Store::make(dst, at, Load::make(l->buffer, l->index, inside));
    return IfThenElse::make(inside, Store::make(dst, at, f),
                            Store::make(dst, at, floatImm(0.0, dst->dtype)));
  }

  /// `dst[at ..]` = the 16 bytes of factor `f` (of dst's dtype) at `moving` + 0, 1, ..., a
  /// load a value, 0 out of range (`fixedOk`, `moving` + i < `bound`).
  static Stmt valuesOrZero(const Buffer &dst, const Expr &at, const Expr &f, const Expr &fixedOk,
                           const Var &moving, const Expr &bound) {
    Var u = loopVar("u");
    Expr value = add(ref(moving), ref(u));
    return unrolled(u, 16 / byteSize(dst->dtype),
                    valueOrZero(dst, add(ref(u), at), substitute(f, {{moving, value}}),
                                both(fixedOk, lt(value, bound))));
  }
  /// Whether the 16 bytes of the load `l` at `moving` + 0, 1, ... are in range (`fixedOk`,
  /// `moving` + lanes <= `bound`) and 16-byte aligned: the buffer is, and the index is a multiple
  /// of the lanes.
  static Expr wholeChunk(const Load *l, const Expr &fixedOk, const Var &moving, const Expr &bound) {
    const int lanes = 16 / byteSize(l->buffer->dtype);
    return both(both(fixedOk, Binary::make(BinaryOp::Le, plus(ref(moving), lanes), bound)),
                both(BufferAligned::make(l->buffer, 16),
                     Binary::make(BinaryOp::Eq, mod(l->index, lanes), intImm(0))));
  }

  /// `dst[at ..]` = the 16 bytes of factor `f` (of dst's dtype) at `moving` + 0, 1, ..., the
  /// other index variable bound: one 16-byte load when `f` is a plain load contiguous along
  /// `moving` (`l`), in range and aligned (wholeChunk), else valuesOrZero. `moving` is bound by
  /// the caller.
  static Stmt chunk(const Buffer &dst, const Expr &at, const Load *l, const Expr &f,
                    const Expr &fixedOk, const Var &moving, const Expr &bound) {
    const int lanes = 16 / byteSize(dst->dtype);
    return IfThenElse::make(
        wholeChunk(l, fixedOk, moving, bound),
        Store::make(dst, Ramp::make(at, intImm(1), lanes),
                    Load::make(l->buffer, Ramp::make(l->index, intImm(1), lanes))),
        valuesOrZero(dst, at, f, fixedOk, moving, bound));
  }

  /// As chunk, into the shared tile `dst` by cp.async (in the thread's next commit group) where
  /// `f` is a plain load contiguous along `moving`, in range and aligned; the other chunks are
  /// stored at once.
  static Stmt asyncChunk(const Buffer &dst, const Expr &at, const Expr &f, const Expr &fixedOk,
                         const Var &moving, const Expr &bound) {
    Stmt values = valuesOrZero(dst, at, f, fixedOk, moving, bound);
    const Load *l = contiguousLoad(f, moving);
    if (!l)
      return values;
    return IfThenElse::make(wholeChunk(l, fixedOk, moving, bound),
                            GpuIntrinsic::make(GpuOp::CopyAsync, {dst, l->buffer}, {at, l->index}),
                            values);
  }

  /// The f32 contraction on CUDA cores: a block computes a 128x128 tile of the output, a thread
  /// 8x8 of it (rows ty*4 + {0..3} and 64 + ty*4 + {0..3}, columns likewise with tx), k in steps
  /// of 8 through double-buffered shared memory (A transposed, its rows padded to 132 so that the
  /// transposing stores spread over the banks); the next step's factors are loaded into
  /// registers while the current step computes. Points outside the output or past K read as 0.
  /// The epilogue (the reduction's final store) runs on each output point from registers.
  Stmt cudaCoreContraction(const Contraction &c, const Expr &blocks) {
    constexpr int64_t aRow = 132, aStage = 8 * aRow, bRow = 128, bStage = 8 * bRow;
    Var tile = loopVar("tile"), t = loopVar("t");
    Buffer as = local("a_tile", DType::F32, 2 * aStage),
           bs = local("b_tile", DType::F32, 2 * bStage);
    Buffer acc = c.r.acc, sums = local("sums", DType::F32, 64);
    Buffer ra = local("a_next", DType::F32, 4), rb = local("b_next", DType::F32, 4);
    Buffer af = local("a_step", DType::F32, 8), bf = local("b_step", DType::F32, 8);
    Var tx = letVar("tx"), ty = letVar("ty"), m0 = letVar("m0"), n0 = letVar("n0");
    Var step = loopVar("step"), k0 = letVar("k0"), buf = letVar("buf");
    Expr tn = ceilDiv(c.extentJ, 128);
    const Expr &M = c.extentI, &N = c.extentJ, &K = c.extentK;
    // A factor that is a plain load contiguous along k (A) or j (B): one 16-byte load of 4
    // values a thread, else 4 scalar loads a thread at scattered points.
    const Load *vecA = contiguousLoad(c.factorA, c.k);
    const Load *vecB = contiguousLoad(c.factorB, c.j);
    // The factors of the step at k0 = `first` into registers.
    auto load = [&](const Expr &first) {
      std::vector<Stmt> s;
      Var r = loopVar("r"), e = letVar("e");
      Expr spread = add(ref(t), times(ref(r), 256));
      if (vecA)
        s.push_back(LetStmt::make(
            c.i, add(ref(m0), div(ref(t), 2)),
            LetStmt::make(c.k, add(first, times(mod(ref(t), 2), 4)),
                          chunk(ra, intImm(0), vecA, c.factorA, lt(ref(c.i), M), c.k, K))));
      else
        s.push_back(unrolled(
            r, 4,
            LetStmt::make(e, spread,
                          LetStmt::make(c.i, add(ref(m0), div(ref(e), 8)),
                                        LetStmt::make(c.k, add(first, mod(ref(e), 8)),
                                                      valueOrZero(ra, ref(r), c.factorA,
                                                                  both(lt(ref(c.i), M),
                                                                       lt(ref(c.k), K))))))));
      r = loopVar("r");
      e = letVar("e");
      spread = add(ref(t), times(ref(r), 256));
      if (vecB)
        s.push_back(LetStmt::make(
            c.k, add(first, div(ref(t), 32)),
            LetStmt::make(c.j, add(ref(n0), times(mod(ref(t), 32), 4)),
                          chunk(rb, intImm(0), vecB, c.factorB, lt(ref(c.k), K), c.j, N))));
      else
        s.push_back(unrolled(
            r, 4,
            LetStmt::make(e, spread,
                          LetStmt::make(c.k, add(first, div(ref(e), 128)),
                                        LetStmt::make(c.j, add(ref(n0), mod(ref(e), 128)),
                                                      valueOrZero(rb, ref(r), c.factorB,
                                                                  both(lt(ref(c.k), K),
                                                                       lt(ref(c.j), N))))))));
      return Block::make(s);
    };
    // The registers into the tiles of stage `into`.
    auto store = [&](const Expr &into) {
      Var r = loopVar("r"), e = letVar("e");
      Expr aAt = times(into, aStage), bAt = times(into, bStage);
      std::vector<Stmt> s;
      if (vecA)
        s.push_back(Store::make(
            as, add(aAt, add(times(add(times(mod(ref(t), 2), 4), ref(r)), aRow), div(ref(t), 2))),
            Load::make(ra, ref(r))));
      else
        s.push_back(Store::make(as, add(aAt, add(times(mod(ref(e), 8), aRow), div(ref(e), 8))),
                                Load::make(ra, ref(r))));
      if (!vecB)
        s.push_back(Store::make(bs, add(bAt, add(times(div(ref(e), 128), bRow), mod(ref(e), 128))),
                                Load::make(rb, ref(r))));
      Stmt perR = Block::make(s);
      if (!vecA || !vecB)
        perR = LetStmt::make(e, add(ref(t), times(ref(r), 256)), perR);
      std::vector<Stmt> all = {unrolled(r, 4, perR)};
      if (vecB)
        all.push_back(Store::make(
            bs,
            Ramp::make(add(bAt, add(times(div(ref(t), 32), bRow), times(mod(ref(t), 32), 4))),
                       intImm(1), 4),
            Load::make(rb, Ramp::make(intImm(0), intImm(1), 4))));
      return Block::make(all);
    };
    // One step: af = A's 8 rows of the thread at kk, bf = B's 8 columns, 64 FMAs.
    Var kk = loopVar("kk"), rr = loopVar("r"), ss = loopVar("s");
    auto four = [&](const Buffer &dst, int64_t at, const Buffer &tiles, const Expr &from) {
      return Store::make(dst, Ramp::make(intImm(at), intImm(1), 4),
                         Load::make(tiles, Ramp::make(from, intImm(1), 4)));
    };
    Expr aRowAt = add(times(ref(buf), aStage), times(ref(kk), aRow));
    Expr bRowAt = add(times(ref(buf), bStage), times(ref(kk), bRow));
    Expr cAt = add(times(ref(rr), 8), ref(ss));
    Stmt fma = Store::make(
        sums, cAt,
        add(Load::make(sums, cAt), mul(Load::make(af, ref(rr)), Load::make(bf, ref(ss)))));
    Stmt compute = unrolled(kk, 8,
                            Block::make({four(af, 0, as, add(aRowAt, times(ref(ty), 4))),
                                         four(af, 4, as, add(aRowAt, plus(times(ref(ty), 4), 64))),
                                         four(bf, 0, bs, add(bRowAt, times(ref(tx), 4))),
                                         four(bf, 4, bs, add(bRowAt, plus(times(ref(tx), 4), 64))),
                                         unrolled(rr, 8, unrolled(ss, 8, fma))}));
    Stmt mainLoop = doubleBufferedK(step, k0, buf, K, 8, load, compute, store);
    // Initial sums: the reduction's init value, for each of the thread's points.
    Var r0 = loopVar("r"), s0 = loopVar("s");
    Stmt init = unrolled(
        r0, 8,
        unrolled(s0, 8,
                 Store::make(sums, add(times(ref(r0), 8), ref(s0)), Load::make(acc, intImm(0)))));
    // The epilogue on each of the thread's points: row (r / 4) * 64 + ty * 4 + r % 4 of the
    // tile, column likewise with s and tx.
    Var re = loopVar("r"), se = loopVar("s");
    Stmt point = LetStmt::make(
        c.i, add(ref(m0), add(times(div(ref(re), 4), 64), add(times(ref(ty), 4), mod(ref(re), 4)))),
        LetStmt::make(
            c.j,
            add(ref(n0), add(times(div(ref(se), 4), 64), add(times(ref(tx), 4), mod(ref(se), 4)))),
            IfThenElse::make(
                both(lt(ref(c.i), M), lt(ref(c.j), N)),
                Block::make(
                    {Store::make(acc, intImm(0), Load::make(sums, add(times(ref(re), 8), ref(se)))),
                     c.r.post}))));
    Stmt epilogue = unrolled(re, 8, unrolled(se, 8, point));
    Stmt body = Block::make({c.r.pre, init, load(intImm(0)), store(intImm(0)),
                             Barrier::make(BarrierScope::Block), mainLoop, epilogue});
    for (const Buffer &b : {bf, af, rb, ra, sums, acc})
      body = Allocate::make(b, MemoryScope::Stack, body);
    body = LetStmt::make(
        tx, mod(ref(t), 16),
        LetStmt::make(
            ty, div(ref(t), 16),
            LetStmt::make(
                m0, times(Binary::make(BinaryOp::FloorDiv, ref(tile), tn), 128),
                LetStmt::make(n0, times(Binary::make(BinaryOp::Mod, ref(tile), tn), 128), body))));
    return kernelNest(tile, blocks, t, threads, body, {as, bs});
  }

  /// Contractions of 16-bit factors on tensor cores (`a16`, `b16`: the factors' 16-bit
  /// values): a block computes a 128x128 tile of the output with 8 warps of 32x64 (2x8
  /// mma.sync m16n8k16 tiles a warp, f32 accumulators in registers), k in steps of 32 through
  /// double-buffered shared memory holding the 16-bit values (A as [m][k], B transposed as
  /// [n][k], rows padded to 40 values so that the fragment loads hit 32 distinct banks); the
  /// next step's values are loaded into registers while this one computes. Points outside the
  /// output or past K read as 0. The epilogue runs on each output point from registers.
  Stmt mmaContraction(const Contraction &c, const Expr &a16, const Expr &b16, const Expr &blocks) {
    constexpr int64_t row = 40, stage = 128 * row;
    const DType t16 = a16->type.dtype;
    Var tile = loopVar("tile"), t = loopVar("t");
    Buffer as = local("a_tile", t16, 2 * stage), bs = local("b_tile", t16, 2 * stage);
    Buffer acc = c.r.acc, sums = local("sums", DType::F32, 2 * 8 * 4);
    Buffer ra = local("a_next", t16, 16), rb = local("b_next", t16, 16);
    Buffer fa = local("a_frag", t16, 2 * 8), fb = local("b_frag", t16, 8 * 4);
    Var g = letVar("g"), q = letVar("q"), wm = letVar("wm"), wn = letVar("wn");
    Var m0 = letVar("m0"), n0 = letVar("n0");
    Var step = loopVar("step"), k0 = letVar("k0"), buf = letVar("buf");
    Expr tn = ceilDiv(c.extentJ, 128);
    const Expr &M = c.extentI, &N = c.extentJ, &K = c.extentK;
    // Each side's values: 16-byte loads of 8 consecutive values where the factor is a plain
    // load contiguous along the tile's inner loop, else 16 scalar loads a thread.
    const Load *vecA = contiguousLoad(a16, c.k);
    const Load *vecBk = contiguousLoad(b16, c.k);
    const Load *vecBj = vecBk ? nullptr : contiguousLoad(b16, c.j);
    auto spread = [&](const Var &r) { return add(ref(t), times(ref(r), 256)); };
    // The values of the step at k0 = `first` into registers.
    auto load = [&](const Expr &first) {
      std::vector<Stmt> s;
      Var r = loopVar("r"), e = letVar("e");
      if (vecA)
        s.push_back(unrolled(
            r, 2,
            LetStmt::make(e, spread(r),
                          LetStmt::make(c.i, add(ref(m0), div(ref(e), 4)),
                                        LetStmt::make(c.k, add(first, times(mod(ref(e), 4), 8)),
                                                      chunk(ra, times(ref(r), 8), vecA, a16,
                                                            lt(ref(c.i), M), c.k, K))))));
      else
        s.push_back(unrolled(
            r, 16,
            LetStmt::make(e, spread(r),
                          LetStmt::make(c.i, add(ref(m0), div(ref(e), 32)),
                                        LetStmt::make(c.k, add(first, mod(ref(e), 32)),
                                                      valueOrZero(ra, ref(r), a16,
                                                                  both(lt(ref(c.i), M),
                                                                       lt(ref(c.k), K))))))));
      r = loopVar("r");
      e = letVar("e");
      if (vecBk || vecBj) {
        Stmt at = vecBk ? LetStmt::make(c.j, add(ref(n0), div(ref(e), 4)),
                                        LetStmt::make(c.k, add(first, times(mod(ref(e), 4), 8)),
                                                      chunk(rb, times(ref(r), 8), vecBk, b16,
                                                            lt(ref(c.j), N), c.k, K)))
                        // A warp reads 32 rows of k at one column chunk, so that its transposing
                        // stores into shared memory (below) hit 32 consecutive values.
                        : LetStmt::make(c.k, add(first, mod(ref(e), 32)),
                                        LetStmt::make(c.j, add(ref(n0), times(div(ref(e), 32), 8)),
                                                      chunk(rb, times(ref(r), 8), vecBj, b16,
                                                            lt(ref(c.k), K), c.j, N)));
        s.push_back(unrolled(r, 2, LetStmt::make(e, spread(r), at)));
      } else {
        s.push_back(unrolled(
            r, 16,
            LetStmt::make(e, spread(r),
                          LetStmt::make(c.k, add(first, div(ref(e), 128)),
                                        LetStmt::make(c.j, add(ref(n0), mod(ref(e), 128)),
                                                      valueOrZero(rb, ref(r), b16,
                                                                  both(lt(ref(c.k), K),
                                                                       lt(ref(c.j), N))))))));
      }
      return Block::make(s);
    };
    auto eight = [](const Expr &at) { return Ramp::make(at, intImm(1), 8); };
    // The registers into the tiles of stage `into`.
    auto store = [&](const Expr &into) {
      Expr base = times(into, stage);
      std::vector<Stmt> s;
      Var r = loopVar("r"), e = letVar("e");
      // A chunk of 8 values of row e / 4, from value e % 4 * 8 (A, and B read along k).
      auto rowChunk = [&](const Buffer &tiles, const Buffer &regs) {
        Var rc = loopVar("r"), ec = letVar("e");
        Expr at = add(base, add(times(div(ref(ec), 4), row), times(mod(ref(ec), 4), 8)));
        return unrolled(rc, 2,
                        LetStmt::make(ec, spread(rc),
                                      Store::make(tiles, eight(at),
                                                  Load::make(regs, eight(times(ref(rc), 8))))));
      };
      if (vecA)
        s.push_back(rowChunk(as, ra));
      else
        s.push_back(unrolled(
            r, 16,
            LetStmt::make(e, spread(r),
                          Store::make(as,
                                      add(base, add(times(div(ref(e), 32), row), mod(ref(e), 32))),
                                      Load::make(ra, ref(r))))));
      r = loopVar("r");
      e = letVar("e");
      if (vecBk) {
        s.push_back(rowChunk(bs, rb));
      } else if (vecBj) {
        // Row kr = e % 32 of k, columns jc = e / 32 * 8 + 0..7: stored transposed.
        Var u = loopVar("u");
        Expr at =
            add(base, add(times(add(times(div(ref(e), 32), 8), ref(u)), row), mod(ref(e), 32)));
        s.push_back(unrolled(
            r, 2,
            LetStmt::make(
                e, spread(r),
                unrolled(u, 8,
                         Store::make(bs, at, Load::make(rb, add(times(ref(r), 8), ref(u))))))));
      } else {
        s.push_back(unrolled(
            r, 16,
            LetStmt::make(
                e, spread(r),
                Store::make(bs, add(base, add(times(mod(ref(e), 128), row), div(ref(e), 128))),
                            Load::make(rb, ref(r))))));
      }
      return Block::make(s);
    };
    // One step of 16 k: the warp's fragments from the tiles (two values a register, in
    // mma.sync's layout: row g, values kk + 2 q + {0, 1} and + 8), then 2x8 MMAs.
    Var kk = loopVar("kk"), r = loopVar("r"), s = loopVar("s"), r2 = loopVar("r"),
        s2 = loopVar("s");
    auto two = [&](const Buffer &frag, const Expr &to, const Buffer &tiles, const Expr &from) {
      return Store::make(frag, Ramp::make(to, intImm(1), 2),
                         Load::make(tiles, Ramp::make(from, intImm(1), 2)));
    };
    Expr colAt = add(times(ref(kk), 16), times(ref(q), 2));
    Expr aAt = add(times(ref(buf), stage),
                   add(times(add(ref(wm), add(times(ref(r), 16), ref(g))), row), colAt));
    Expr bAt = add(times(ref(buf), stage),
                   add(times(add(ref(wn), add(times(ref(s), 8), ref(g))), row), colAt));
    Expr aTo = times(ref(r), 8), bTo = times(ref(s), 4);
    Stmt compute = unrolled(
        kk, 2,
        Block::make(
            {unrolled(
                 r, 2,
                 Block::make({two(fa, aTo, as, aAt), two(fa, plus(aTo, 2), as, plus(aAt, 8 * row)),
                              two(fa, plus(aTo, 4), as, plus(aAt, 8)),
                              two(fa, plus(aTo, 6), as, plus(aAt, 8 * row + 8))})),
             unrolled(
                 s, 8,
                 Block::make({two(fb, bTo, bs, bAt), two(fb, plus(bTo, 2), bs, plus(bAt, 8))})),
             unrolled(r2, 2,
                      unrolled(s2, 8,
                               GpuIntrinsic::make(GpuOp::MmaSync, {sums, fa, fb},
                                                  {add(times(ref(r2), 32), times(ref(s2), 4)),
                                                   times(ref(r2), 8), times(ref(s2), 4)})))}));
    Stmt mainLoop = doubleBufferedK(step, k0, buf, K, 32, load, compute, store);
    Var ri = loopVar("r"), si = loopVar("s"), hi = loopVar("h");
    Stmt init = unrolled(
        ri, 2,
        unrolled(
            si, 8,
            unrolled(hi, 4,
                     Store::make(sums, add(add(times(ref(ri), 32), times(ref(si), 4)), ref(hi)),
                                 Load::make(acc, intImm(0))))));
    // The epilogue: accumulator h of tile (r, s) is row g + 8 * (h / 2), column 2 q + h % 2.
    Var re = loopVar("r"), se = loopVar("s"), he = loopVar("h");
    Stmt point = LetStmt::make(
        c.i,
        add(ref(m0), add(ref(wm), add(times(ref(re), 16), add(ref(g), times(div(ref(he), 2), 8))))),
        LetStmt::make(
            c.j,
            add(ref(n0),
                add(ref(wn), add(times(ref(se), 8), add(times(ref(q), 2), mod(ref(he), 2))))),
            IfThenElse::make(both(lt(ref(c.i), M), lt(ref(c.j), N)),
                             Block::make({Store::make(acc, intImm(0),
                                                      Load::make(sums, add(add(times(ref(re), 32),
                                                                               times(ref(se), 4)),
                                                                           ref(he)))),
                                          c.r.post}))));
    Stmt epilogue = unrolled(re, 2, unrolled(se, 8, unrolled(he, 4, point)));
    Stmt body = Block::make({c.r.pre, init, load(intImm(0)), store(intImm(0)),
                             Barrier::make(BarrierScope::Block), mainLoop, epilogue});
    for (const Buffer &b : {fb, fa, rb, ra, sums, acc})
      body = Allocate::make(b, MemoryScope::Stack, body);
    Expr lane = mod(ref(t), 32);
    body = LetStmt::make(
        g, div(lane, 4),
        LetStmt::make(
            q, mod(ref(t), 4),
            LetStmt::make(
                wm, times(div(ref(t), 64), 32),
                LetStmt::make(
                    wn, times(mod(div(ref(t), 32), 2), 64),
                    LetStmt::make(
                        m0, times(Binary::make(BinaryOp::FloorDiv, ref(tile), tn), 128),
                        LetStmt::make(n0, times(Binary::make(BinaryOp::Mod, ref(tile), tn), 128),
                                      body))))));
    return kernelNest(tile, blocks, t, threads, body, {as, bs});
  }

  /// Contractions of 16-bit factors on Hopper's warpgroup MMA, where both are plain loads, A
  /// contiguous along k and B along k or j: a block of two warpgroups computes a 128x256 output
  /// tile, each warpgroup 64x256 with one wgmma per 16 values of k (128 f32 accumulators a
  /// thread). k advances in steps of 64 through a ring of `stages` shared-memory stages of 48 KiB
  /// that cp.async fills two steps ahead, so that two steps' loads are in flight while the
  /// tensor cores read the current step and may still finish the previous one. Each stage holds
  /// A as 128 rows of 64 k and B as 256 rows of 64 k (b[j, k]) or 64 rows of 256 j (b[k, j],
  /// which wgmma reads transposed), swizzled (see ir::GpuOp). A chunk that is out of range,
  /// partly or wholly, or misaligned is assembled by the thread itself (zeros past the edges).
  /// Tiles go in groups of 8 tile rows, column by column within a group: the blocks that run at
  /// once share the rows of A and the columns of B they read in L2. The epilogue runs on each
  /// output point from registers.
  Stmt wgmmaContraction(const Contraction &c, const Expr &a16, const Expr &b16, const Expr &blocks,
                        int stages) {
    const DType t16 = a16->type.dtype;
    const int64_t stage = kWgmmaStageBytes / 2, bAt = 128 * 64; // In 16-bit values.
    const Load *vecA = contiguousLoad(a16, c.k);
    const Load *vecBk = contiguousLoad(b16, c.k);
    const Load *vecBj = vecBk ? nullptr : contiguousLoad(b16, c.j);
    TDSL_CHECK(vecA && (vecBk || vecBj)) << "wgmma needs contiguous factors";
    Var tile = loopVar("tile"), t = loopVar("t");
    // The stages, and 1024 bytes for the printer to start them on a 1024-byte boundary.
    Buffer ring = local("stages", t16, stages * stage + 512);
    Buffer acc = c.r.acc, sums = local("sums", DType::F32, 128);
    Buffer gathered = local("gathered", t16, 8);
    Var wg = letVar("wg"), w = letVar("w"), g = letVar("g"), q = letVar("q");
    Var gr = letVar("group_row"), rows = letVar("rows"), m0 = letVar("m0"), n0 = letVar("n0");
    const Expr &M = c.extentI, &N = c.extentJ, &K = c.extentK;
    Expr tm = ceilDiv(M, 128), tn = ceilDiv(N, 256), steps = ceilDiv(K, 64);
    // The 8 values at `moving` + 0..7 into the ring at `to`: one asynchronous 16-byte copy when
    // in range and aligned (always, unless `checked`), else gathered by the thread and stored.
    auto chunk = [&](bool checked, const Expr &to, const Load *l, const Expr &f,
                     const Expr &fixedOk, const Var &moving, const Expr &bound) {
      Stmt copy = GpuIntrinsic::make(GpuOp::CopyAsync, {ring, l->buffer}, {to, l->index});
      if (!checked)
        return copy;
      Var u = loopVar("u");
      Expr value = add(ref(moving), ref(u));
      Expr whole = both(both(fixedOk, Binary::make(BinaryOp::Le, plus(ref(moving), 8), bound)),
                        both(BufferAligned::make(l->buffer, 16),
                             Binary::make(BinaryOp::Eq, mod(l->index, 8), intImm(0))));
      Stmt gather = Block::make(
          {unrolled(u, 8,
                    valueOrZero(gathered, ref(u), substitute(f, {{moving, value}}),
                                both(fixedOk, lt(value, bound)))),
           GpuIntrinsic::make(GpuOp::StoreSwizzled, {ring, gathered}, {to, intImm(0)})});
      return IfThenElse::make(whole, copy, gather);
    };
    // Copies step `step` of k into the stage at `at`.
    auto load = [&](const Expr &step, const Expr &at, bool checked) {
      Var r = loopVar("r"), e = letVar("e"), row = letVar("row"), kc = letVar("kc");
      Expr k0 = times(step, 64);
      // 128 rows of A, 8 chunks of 8 values a row.
      Stmt a = unrolled(
          r, 4,
          LetStmt::make(
              e, add(ref(t), times(ref(r), 256)),
              LetStmt::make(
                  row, div(ref(e), 8),
                  LetStmt::make(
                      kc, mod(ref(e), 8),
                      LetStmt::make(
                          c.i, add(ref(m0), ref(row)),
                          LetStmt::make(c.k, add(k0, times(ref(kc), 8)),
                                        chunk(checked,
                                              add(at, add(times(ref(row), 64), times(ref(kc), 8))),
                                              vecA, a16, lt(ref(c.i), M), c.k, K)))))));
      Var rb = loopVar("r"), eb = letVar("e"), rowB = letVar("row"), cb = letVar("kc");
      Stmt b;
      if (vecBk) {
        b = LetStmt::make(
            rowB, div(ref(eb), 8),
            LetStmt::make(
                cb, mod(ref(eb), 8),
                LetStmt::make(
                    c.j, add(ref(n0), ref(rowB)),
                    LetStmt::make(
                        c.k, add(k0, times(ref(cb), 8)),
                        chunk(checked,
                              add(at, plus(add(times(ref(rowB), 64), times(ref(cb), 8)), bAt)),
                              vecBk, b16, lt(ref(c.j), N), c.k, K)))));
      } else {
        // 64 rows of k, each four 128-byte blocks of 64 j (8 KiB apart).
        cb = letVar("jc");
        b = LetStmt::make(
            rowB, div(ref(eb), 32),
            LetStmt::make(
                cb, mod(ref(eb), 32),
                LetStmt::make(c.k, add(k0, ref(rowB)),
                              LetStmt::make(c.j, add(ref(n0), times(ref(cb), 8)),
                                            chunk(checked,
                                                  add(at, plus(add(times(div(ref(cb), 8), 4096),
                                                                   add(times(ref(rowB), 64),
                                                                       times(mod(ref(cb), 8), 8))),
                                                               bAt)),
                                                  vecBj, b16, lt(ref(c.k), K), c.j, N)))));
      }
      return Block::make(
          {a, unrolled(rb, 8, LetStmt::make(eb, add(ref(t), times(ref(rb), 256)), b))});
    };
    auto op = [&](GpuOp o, int64_t immediate = 0) {
      return GpuIntrinsic::make(o, {}, {}, immediate);
    };
    auto onSums = [&](GpuOp o, int64_t immediate = 0) {
      return GpuIntrinsic::make(o, {sums}, {intImm(0)}, immediate);
    };
    const int ahead = stages - 2;
    // The copies of the tile's steps, two ahead, and the wgmmas; a copy tests its chunk only
    // where `checked`.
    auto pipeline = [&](bool checked) {
      Var s0 = loopVar("s"), ks = loopVar("ks"), kk = loopVar("kk"), st = letVar("st");
      Stmt prologue =
          For::make(s0, intImm(ahead), ForKind::Serial,
                    Block::make({IfThenElse::make(lt(ref(s0), steps),
                                                  load(ref(s0), times(ref(s0), stage), checked)),
                                 op(GpuOp::CommitAsync)}));
      // k-major tiles: 1 KiB between groups of 8 rows; j-major B: 8 KiB between blocks of 64 j,
      // 1 KiB between groups of 8 k.
      Stmt mma =
          unrolled(kk, 4,
                   GpuIntrinsic::make(GpuOp::Wgmma, {sums, ring, ring},
                                      {intImm(0),
                                       add(ref(st), add(times(ref(wg), 4096), times(ref(kk), 16))),
                                       plus(add(ref(st), times(ref(kk), vecBk ? 16 : 1024)), bAt)},
                                      vecBk ? 0 : 1));
      // Step ks has landed (this thread's copies; the barrier makes it everyone's, and visible
      // to the tensor cores). Past the barrier every warpgroup has finished step ks - 2, whose
      // stage the copies of step ks + stages - 2 now overwrite.
      Expr next = plus(ref(ks), ahead);
      Stmt mainLoop = For::make(
          ks, steps, ForKind::Serial,
          Block::make(
              {op(GpuOp::WaitAsync, stages - 3), op(GpuOp::FenceAsync),
               Barrier::make(BarrierScope::Block),
               IfThenElse::make(lt(next, steps),
                                load(next, times(mod(next, stages), stage), checked)),
               op(GpuOp::CommitAsync),
               LetStmt::make(st, times(mod(ref(ks), stages), stage),
                             Block::make({onSums(GpuOp::WgmmaFence), mma, op(GpuOp::WgmmaCommit),
                                          onSums(GpuOp::WgmmaWait, 1)}))}));
      return Block::make({prologue, mainLoop});
    };
    // A tile inside both factors, with whole steps of k and every chunk 16-byte aligned (the
    // usual case), copies without a test a chunk: fewer instructions and registers in the
    // producer, which shares its warps with the wgmma issue.
    const Load *vecB = vecBk ? vecBk : vecBj;
    std::vector<Var> batch;
    if (c.batch)
      batch.push_back(*c.batch);
    std::optional<std::vector<Expr>> alignedA = alignedChunks(vecA, c.k, c.i, ref(m0), batch);
    std::optional<std::vector<Expr>> alignedB =
        vecBk ? alignedChunks(vecBk, c.k, c.j, ref(n0), batch)
              : alignedChunks(vecBj, c.j, c.k, intImm(0), batch);
    Expr interior;
    if (alignedA && alignedB) {
      std::vector<Expr> tests = {Binary::make(BinaryOp::Eq, mod(K, 64), intImm(0)),
                                 Binary::make(BinaryOp::Le, plus(ref(m0), 128), M),
                                 Binary::make(BinaryOp::Le, plus(ref(n0), 256), N),
                                 BufferAligned::make(vecA->buffer, 16),
                                 BufferAligned::make(vecB->buffer, 16)};
      for (const std::vector<Expr> *more : {&*alignedA, &*alignedB})
        for (const Expr &test : *more) // B's are often A's again (`K % 8 == 0`).
          if (std::none_of(tests.begin(), tests.end(),
                           [&](const Expr &t) { return structurallyEqual(t, test); }))
            tests.push_back(test);
      interior = all(tests);
    }
    Var ri = loopVar("r");
    Stmt init = unrolled(ri, 128, Store::make(sums, ref(ri), Load::make(acc, intImm(0))));
    // The epilogue: accumulator 4 n + h is row 16 w + g + 8 (h / 2), column 8 n + 2 q + h % 2.
    Var ne = loopVar("n"), he = loopVar("h");
    Stmt point = LetStmt::make(
        c.i,
        add(ref(m0), add(times(ref(wg), 64),
                         add(times(ref(w), 16), add(ref(g), times(div(ref(he), 2), 8))))),
        LetStmt::make(
            c.j, add(ref(n0), add(times(ref(ne), 8), add(times(ref(q), 2), mod(ref(he), 2)))),
            IfThenElse::make(
                both(lt(ref(c.i), M), lt(ref(c.j), N)),
                Block::make(
                    {Store::make(acc, intImm(0), Load::make(sums, add(times(ref(ne), 4), ref(he)))),
                     c.r.post}))));
    // No copy may still land in a stage the next tile's copies write.
    Stmt copies =
        interior ? IfThenElse::make(interior, pipeline(false), pipeline(true)) : pipeline(true);
    Stmt body =
        Block::make({c.r.pre, init, copies, onSums(GpuOp::WgmmaWait, 0), op(GpuOp::WaitAsync, 0),
                     Barrier::make(BarrierScope::Block), unrolled(ne, 32, unrolled(he, 4, point))});
    for (const Buffer &b : {gathered, sums, acc})
      body = Allocate::make(b, MemoryScope::Stack, body);
    Expr gs = times(tn, 8);
    body = LetStmt::make(
        gr, times(Binary::make(BinaryOp::FloorDiv, ref(tile), gs), 8),
        LetStmt::make(
            // At least 1 (the last group is never empty), which also shows the printer that
            // the positions below are non-negative.
            rows,
            Binary::make(BinaryOp::Max, Binary::make(BinaryOp::Min, sub(tm, ref(gr)), intImm(8)),
                         intImm(1)),
            LetStmt::make(
                m0,
                times(add(ref(gr),
                          Binary::make(BinaryOp::Mod, Binary::make(BinaryOp::Mod, ref(tile), gs),
                                       ref(rows))),
                      128),
                LetStmt::make(
                    n0,
                    times(Binary::make(BinaryOp::FloorDiv,
                                       Binary::make(BinaryOp::Mod, ref(tile), gs), ref(rows)),
                          256),
                    body))));
    body = LetStmt::make(wg, div(ref(t), 128),
                         LetStmt::make(w, mod(div(ref(t), 32), 4),
                                       LetStmt::make(g, div(mod(ref(t), 32), 4),
                                                     LetStmt::make(q, mod(ref(t), 4), body))));
    return kernelNest(tile, blocks, t, threads, body, {ring});
  }

  // ---- full reductions ----

  bool tryFullReduction(size_t i) {
    const Item &item = items[i];
    Reduction r;
    if (!parseReduction(item.stmt, r) || selfDependent(item.stmt))
      return false;
    int64_t parts = target.partialBlocks();
    Buffer partials = makeBuffer(r.acc->name + ".partials", r.acc->dtype, {intImm(parts)},
                                 BufferRole::Intermediate);
    Var q = makeVar(r.inner.loops.size() == 1 ? r.inner.loops[0]->var->name : "q", Type::i64(),
                    VarKind::Let);
    Expr count = product(r.inner.extents());
    Stmt inner = bindFlat(r.inner.vars(), r.inner.extents(), r.inner.body, ref(q));
    Expr acc = Load::make(r.acc, intImm(0));

    // Stage 1: block b's thread t reduces the points b * T + t + m * (P * T), in order; the
    // block's threads combine; thread 0 writes partial b.
    KernelPlan stage1 = start(item);
    stage1.schedule = GpuScheduleKind::ReducePartials;
    stage1.allocations.push_back(partials);
    stage1.blocks = intImm(parts);
    {
      Var block = makeVar("block", Type::i64(), VarKind::Loop);
      Var thread = makeVar("thread", Type::i64(), VarKind::Loop);
      Buffer red = warpResults(r.acc->dtype);
      Expr first = add(mul(ref(block), intImm(threads)), ref(thread));
      Stmt body = Allocate::make(
          r.acc, MemoryScope::Stack,
          Block::make({r.pre, stridedLoop(q, first, intImm(parts * threads), count, count, inner),
                       combineOverBlock(r.acc, r.op, thread, threads, red),
                       IfThenElse::make(isZero(thread), Store::make(partials, ref(block), acc))}));
      stage1.nest = kernelNest(block, stage1.blocks, thread, threads, body, {red});
    }
    // Stage 2: one block reduces the partials the same way; thread 0 runs the final store.
    KernelPlan stage2 = start(item);
    stage2.schedule = GpuScheduleKind::ReduceFinal;
    stage2.allocations.push_back(partials);
    stage2.blocks = intImm(1);
    {
      Var block = makeVar("block", Type::i64(), VarKind::Loop);
      Var thread = makeVar("thread", Type::i64(), VarKind::Loop);
      Buffer red = warpResults(r.acc->dtype);
      Var p = makeVar("p", Type::i64(), VarKind::Let);
      Stmt update =
          Store::make(r.acc, intImm(0), Binary::make(r.op, acc, Load::make(partials, ref(p))));
      Stmt body = Allocate::make(r.acc, MemoryScope::Stack,
                                 Block::make({r.pre,
                                              stridedLoop(p, ref(thread), intImm(threads),
                                                          intImm(parts), intImm(parts), update),
                                              combineOverBlock(r.acc, r.op, thread, threads, red),
                                              IfThenElse::make(isZero(thread), r.post)}));
      stage2.nest = kernelNest(block, stage2.blocks, thread, threads, body, {red});
    }
    kernels.push_back(std::move(stage1));
    kernels.push_back(std::move(stage2));
    return true;
  }

  // ---- reductions along a strided dim ----

  /// for o...: allocate acc { acc = init; for i: acc = acc op f(i, o); post(o) } where f reads
  /// along the innermost output loop (column sums, A^T x): in two deterministic stages. Stage 1
  /// gives each thread an output and a chunk of i (consecutive threads on consecutive outputs,
  /// so each load is coalesced) and enough chunks that every SM has blocks; stage 2 combines an
  /// output's chunks in order and runs its final store.
  bool tryColumnReduction(size_t i) {
    const Item &item = items[i];
    Chain outer = peel(item.stmt);
    Reduction r;
    if (outer.loops.empty() || !parseReduction(outer.body, r) || r.inner.loops.size() != 1 ||
        selfDependent(item.stmt))
      return false;
    std::vector<Var> outerVars = outer.vars();
    const Var &along = outerVars.back();
    const For *reduced = r.inner.loops[0];
    if (usesAny(reduced->extent, outerVars) || !usesAny(r.inner.body, {along}) ||
        !contiguousIn(r.inner.body, along) || contiguousIn(r.inner.body, reduced->var))
      return false;
    // Outputs in tiles of a block's threads; chunks of i for about partialBlocks() blocks. Both
    // kernels (and the launcher) compute these from the symbols first.
    Expr outputs = product(outer.extents()), length = reduced->extent;
    Var tiles = makeVar("tiles", Type::i64(), VarKind::Let);
    Var chunks = makeVar("chunks", Type::i64(), VarKind::Let);
    Var chunkLength = makeVar("chunk_length", Type::i64(), VarKind::Let);
    Expr perTile =
        Binary::make(BinaryOp::FloorDiv,
                     add(intImm(target.partialBlocks()), sub(ref(tiles), intImm(1))), ref(tiles));
    std::vector<std::pair<Var, Expr>> sizes = {
        {tiles, ceilDiv(outputs, threads)},
        {chunks,
         Binary::make(BinaryOp::Max, intImm(1), Binary::make(BinaryOp::Min, length, perTile))},
        {chunkLength,
         Binary::make(BinaryOp::FloorDiv, add(length, sub(ref(chunks), intImm(1))), ref(chunks))}};
    Buffer partials = makeBuffer(r.acc->name + ".partials", r.acc->dtype,
                                 {mul(ref(chunks), outputs)}, BufferRole::Intermediate);
    Expr acc = Load::make(r.acc, intImm(0));
    Var output = makeVar("output", Type::i64(), VarKind::Let);
    auto eachOutput = [&](const Var &block, const Var &thread, const Expr &tile, const Stmt &body) {
      return LetStmt::make(
          output, add(mul(tile, intImm(threads)), ref(thread)),
          IfThenElse::make(Binary::make(BinaryOp::Lt, ref(output), outputs),
                           bindFlat(outerVars, outer.extents(), body, ref(output))));
    };

    KernelPlan stage1 = start(item);
    stage1.schedule = GpuScheduleKind::ColumnPartials;
    stage1.lets.insert(stage1.lets.end(), sizes.begin(), sizes.end());
    stage1.allocations.push_back(partials);
    stage1.blocks = mul(ref(tiles), ref(chunks));
    {
      Var block = makeVar("block", Type::i64(), VarKind::Loop);
      Var thread = makeVar("thread", Type::i64(), VarKind::Loop);
      Var chunk = makeVar("chunk", Type::i64(), VarKind::Let);
      Var q = makeVar(reduced->var->name, Type::i64(), VarKind::Let);
      Expr first = mul(ref(chunk), ref(chunkLength));
      Expr end = Binary::make(BinaryOp::Min, add(first, ref(chunkLength)), length);
      Stmt inner = substitute(r.inner.body, {{reduced->var, ref(q)}});
      Stmt body = Allocate::make(
          r.acc, MemoryScope::Stack,
          Block::make({r.pre, stridedLoop(q, first, intImm(1), end, ref(chunkLength), inner),
                       Store::make(partials, add(mul(ref(chunk), outputs), ref(output)), acc)}));
      Expr tile = sub(ref(block), mul(ref(chunk), ref(tiles)));
      stage1.nest =
          kernelNest(block, stage1.blocks, thread, threads,
                     LetStmt::make(chunk, Binary::make(BinaryOp::FloorDiv, ref(block), ref(tiles)),
                                   eachOutput(block, thread, tile, body)));
    }
    KernelPlan stage2 = start(item);
    stage2.schedule = GpuScheduleKind::ColumnFinal;
    stage2.lets.insert(stage2.lets.end(), sizes.begin(), sizes.end());
    stage2.allocations.push_back(partials);
    stage2.blocks = ref(tiles);
    {
      Var block = makeVar("block", Type::i64(), VarKind::Loop);
      Var thread = makeVar("thread", Type::i64(), VarKind::Loop);
      Var c = makeVar("chunk", Type::i64(), VarKind::Loop);
      Stmt update = Store::make(
          r.acc, intImm(0),
          Binary::make(r.op, acc, Load::make(partials, add(mul(ref(c), outputs), ref(output)))));
      Stmt body = Allocate::make(
          r.acc, MemoryScope::Stack,
          Block::make({r.pre, For::make(c, ref(chunks), ForKind::Serial, update), r.post}));
      stage2.nest = kernelNest(block, stage2.blocks, thread, threads,
                               eachOutput(block, thread, ref(block), body));
    }
    kernels.push_back(std::move(stage1));
    kernels.push_back(std::move(stage2));
    return true;
  }

  // ---- row groups ----

  /// `item` as a member of a row group whose outer loops have `extents`, the outer variables
  /// replaced by `rowVars`; false when it does not fit.
  bool member(const Item &item, const std::vector<Expr> &extents, const std::vector<Var> &rowVars,
              RowMember &m) {
    Chain outer = peel(item.stmt, extents.size());
    if (outer.loops.size() != extents.size())
      return false;
    for (size_t k = 0; k < extents.size(); ++k)
      if (!equal(outer.loops[k]->extent, extents[k]))
        return false;
    std::vector<std::pair<Var, Expr>> repl;
    for (size_t k = 0; k < rowVars.size(); ++k)
      repl.push_back({outer.loops[k]->var, ref(rowVars[k])});
    m.body = substitute(outer.body, repl);
    if (selfDependent(m.body))
      return false;
    if (parseReduction(m.body, m.red) || parseArgReduction(m.body, m.red)) {
      m.reduction = true;
      if (m.red.inner.loops.size() != 1 || usesAny(m.red.inner.loops[0]->extent, rowVars))
        return false;
      return contiguousIn(m.red.inner.body, m.red.inner.loops[0]->var);
    }
    m.inner = peel(m.body);
    if (m.inner.loops.empty()) {
      // A value per row: it joins the final stores of the reduction before it.
      m.perRow = !containsLoop(m.body);
      return m.perRow;
    }
    if (m.inner.loops.size() != 1 || !as<Store>(m.inner.body))
      return false;
    return !usesAny(m.inner.loops[0]->extent, rowVars);
  }

  /// Whether every access to a buffer the group writes stays in the current row: index `row`
  /// (a per-row scalar) or `row * E + j` with j the member's inner loop over [0, E).
  static bool rowLocal(const std::vector<RowMember> &members, const Expr &rowLinear) {
    std::set<const BufferNode *> written;
    for (const RowMember &m : members) {
      Accesses a = accessesOf(m.body);
      for (const BufferNode *b : a.stored())
        if (!a.local.count(b))
          written.insert(b);
    }
    for (const RowMember &m : members) {
      const For *loop = m.perRow ? nullptr : m.reduction ? m.red.inner.loops[0] : m.inner.loops[0];
      for (const auto &a : accessesOf(m.body).list) {
        if (!written.count(a.buffer.get()))
          continue;
        if (equal(a.index, rowLinear))
          continue;
        if (!loop || !equal(a.index, add(mul(rowLinear, loop->extent), ref(loop->var))))
          return false;
        // The row's length must be what the buffer's accesses assume everywhere.
      }
    }
    return true;
  }

  /// The func's parameters and the buffers that items outside [first, first + count) access.
  std::set<const BufferNode *> outsideBuffers(size_t first, size_t count) const {
    std::set<const BufferNode *> outside;
    for (const Buffer &b : func.params)
      outside.insert(b.get());
    for (size_t i = 0; i < items.size(); ++i)
      if (i < first || i >= first + count)
        for (const auto &acc : accessesOf(items[i].stmt).list)
          outside.insert(acc.buffer.get());
    return outside;
  }

  /// The group's row buffers (see RowBuffer), intermediates first, then copies of inputs.
  std::vector<RowBuffer> rowBuffers(size_t first, const std::vector<RowMember> &members,
                                    const Expr &rowLinear) const {
    struct Candidate {
      Buffer buffer;
      Expr length;
      bool ok = true, written = false;
      std::set<size_t> readers;
    };
    std::vector<Candidate> candidates;
    auto find = [&](const Buffer &b) -> Candidate & {
      for (Candidate &c : candidates)
        if (c.buffer == b)
          return c;
      candidates.push_back(Candidate{b, nullptr, true, false, {}});
      return candidates.back();
    };
    for (size_t mi = 0; mi < members.size(); ++mi) {
      const RowMember &m = members[mi];
      Accesses a = accessesOf(m.body);
      if (m.perRow) { // Its accesses are per-row values, never a row buffer's elements.
        for (const auto &acc : a.list)
          if (!a.local.count(acc.buffer.get()))
            find(acc.buffer).ok = false;
        continue;
      }
      const For *loop = m.reduction ? m.red.inner.loops[0] : m.inner.loops[0];
      Expr want = add(mul(rowLinear, loop->extent), ref(loop->var));
      for (const auto &acc : a.list) {
        if (a.local.count(acc.buffer.get()))
          continue;
        Candidate &c = find(acc.buffer);
        if (!equal(acc.index, want))
          c.ok = false;
        else if (!c.length)
          c.length = loop->extent;
        else if (!equal(c.length, loop->extent))
          c.ok = false;
        if (acc.store)
          c.written = true;
        else
          c.readers.insert(mi);
      }
    }
    // Buffers the kernels outside the group use must stay in global memory.
    std::set<const BufferNode *> outside = outsideBuffers(first, members.size());
    std::vector<RowBuffer> buffers;
    for (int pass = 0; pass < 2; ++pass) { // Intermediates first, then copies of inputs.
      for (const Candidate &c : candidates) {
        if (!c.ok || !c.length)
          continue;
        bool scratch = c.written && !outside.count(c.buffer.get());
        bool copyIn = !c.written && c.readers.size() >= 2;
        if (pass == 0 ? !scratch : !copyIn)
          continue;
        buffers.push_back(RowBuffer{c.buffer,
                                    makeBuffer(c.buffer->name + ".row", c.buffer->dtype, {c.length},
                                               BufferRole::Intermediate),
                                    c.length, copyIn});
      }
    }
    return buffers;
  }

  // ---- row groups as loop IR ----

  /// The row mapping of a Rows kernel: L threads a row (a warp for rows up to 1024 points, else
  /// the block; kernel lets `row_threads` and `rows_per_block`, which the launcher evaluates
  /// too), the thread's lane in its row and its row's slot in the block; and what the variants
  /// of a row group share: a shared exchange for each reduction dtype.
  struct RowThreads {
    Var block, thread, rowThreads, lane, slot;
    Expr rowsPerBlock;
    int blockThreads = 0;
    std::map<DType, Buffer> exchange;
    Buffer positions; // The warps' argmax (argmin) positions, when a member is one.
  };

  static Expr kernelLet(KernelPlan &k, const std::string &name, const Expr &value) {
    Var v = makeVar(name, value->type, VarKind::Let);
    k.lets.push_back({v, value});
    return ref(v);
  }

  /// The row mapping for rows of `length` points, its lets added to `k`; `wide` threads (0: the
  /// narrow mapping): a row a block of them.
  RowThreads mapRows(KernelPlan &k, const Expr &length, int wide = 0) const {
    RowThreads t;
    t.blockThreads = wide ? wide : threads;
    Expr shortRows = Binary::make(BinaryOp::Le, length, intImm(1024));
    Expr rowThreads = kernelLet(
        k, "row_threads",
        wide ? intImm(wide) : Select::make(shortRows, intImm(target.warpSize), intImm(threads)));
    t.rowThreads = as<VarRef>(rowThreads)->var;
    t.rowsPerBlock = kernelLet(
        k, "rows_per_block", Binary::make(BinaryOp::FloorDiv, intImm(t.blockThreads), rowThreads));
    t.block = makeVar("block", Type::i64(), VarKind::Loop);
    t.thread = makeVar("thread", Type::i64(), VarKind::Loop);
    t.lane = makeVar("lane", Type::i64(), VarKind::Let);
    t.slot = makeVar("row_slot", Type::i64(), VarKind::Let);
    return t;
  }

  /// The most threads a block, whole warps.
  int mostThreads() const {
    return target.maxThreadsPerBlock - target.maxThreadsPerBlock % target.warpSize;
  }

  /// The gpu_block loop of `k`: the row's threads run `rowBody` for `row` (slot of block) when
  /// it is below `rowCount`; `shared` allocated a block.
  void rowKernel(KernelPlan &k, const RowThreads &t, const Var &row, const Expr &rowCount,
                 const Stmt &rowBody, const std::vector<Buffer> &shared) const {
    Stmt body = LetStmt::make(
        t.lane, Binary::make(BinaryOp::Mod, ref(t.thread), ref(t.rowThreads)),
        LetStmt::make(t.slot, Binary::make(BinaryOp::FloorDiv, ref(t.thread), ref(t.rowThreads)),
                      LetStmt::make(row, add(mul(ref(t.block), t.rowsPerBlock), ref(t.slot)),
                                    IfThenElse::make(Binary::make(BinaryOp::Lt, ref(row), rowCount),
                                                     rowBody))));
    k.blocks = Binary::make(BinaryOp::FloorDiv, add(rowCount, sub(t.rowsPerBlock, intImm(1))),
                            t.rowsPerBlock);
    // 256 threads a block for long rows too, but for the wide register bands: blocks of 1024
    // threads ran rowsum and softmax 2-4x slower on an H200 (fewer registers a thread, fewer
    // independent blocks).
    k.nest = kernelNest(t.block, k.blocks, t.thread, t.blockThreads, body, shared);
  }

  /// A barrier over the row's threads: the block's when the row spans it, else the warp's.
  static Stmt rowBarrier(const RowThreads &t) {
    return IfThenElse::make(Binary::make(BinaryOp::Gt, ref(t.rowThreads), intImm(32)),
                            Barrier::make(BarrierScope::Block), Barrier::make(BarrierScope::Warp));
  }

  /// `body` for q = lane, lane + L, ... below `count`.
  static Stmt overRow(const RowThreads &t, const Var &q, const Expr &count, const Stmt &body) {
    return stridedLoop(q, ref(t.lane), ref(t.rowThreads), count, count, body);
  }

  /// `base` when `index` is `base + q` (or `q`: 0) with base free of q; else null.
  static Expr baseAlong(const Expr &index, const Var &q) {
    auto isQ = [&](const Expr &x) {
      const VarRef *v = as<VarRef>(x);
      return v && v->var == q;
    };
    if (isQ(index))
      return intImm(0);
    const Binary *sum = as<Binary>(index);
    if (!sum || sum->op != BinaryOp::Add)
      return nullptr;
    if (isQ(sum->b) && !usesAny(sum->a, {q}))
      return sum->a;
    if (isQ(sum->a) && !usesAny(sum->b, {q}))
      return sum->b;
    return nullptr;
  }

  /// A read of an argmax (argmin) member that moves with its point q: `global[index]`, index
  /// `base + q` (see movingReads).
  struct MovingRead {
    Buffer global;
    Expr index, base;
  };

  /// The reads of `body` that move with `q`, when loadsFirstLoop can take them: each a plain
  /// 4-byte load at `base + q` (or `q`) of a buffer `body` does not allocate. Empty when there
  /// is none or one is of another form.
  static std::vector<MovingRead> movingReads(const Var &q, const Stmt &body) {
    struct MovingLoads : IRVisitor {
      Var q;
      std::vector<const Load *> loads;
      void visitLoad(const Load *n) override {
        if (usesAny(n->index, {q}))
          loads.push_back(n);
        IRVisitor::visitLoad(n);
      }
    } moving;
    moving.q = q;
    moving.visit(body);
    std::set<const BufferNode *> local = accessesOf(body).local;
    std::vector<MovingRead> reads;
    for (const Load *l : moving.loads) {
      if (l->predicate || byteSize(l->buffer->dtype) != 4 || local.count(l->buffer.get()))
        return {};
      Expr base = baseAlong(l->index, q);
      if (!base)
        return {};
      if (std::none_of(reads.begin(), reads.end(), [&](const MovingRead &r) {
            return r.global == l->buffer && equal(r.index, l->index);
          }))
        reads.push_back(MovingRead{l->buffer, l->index, base});
    }
    return reads;
  }

  /// Whether argRowLoop applies to the member `item` of `g`.
  static bool loadsFirst(const RowGroup &g, const RowItem &item) {
    return item.at && !usesRowBuffer(g, item) && !movingReads(item.q, item.inner).empty();
  }

  /// Reads per unrolled group of loadsFirstLoop: 8 loads in flight a thread, as overRow's.
  static constexpr int64_t kLoadsInFlight = 8;

  /// `body` for the points q = p * lanes + l (l < lanes) of p = first, first + step, ... below
  /// `end` (`span` bounds end - first), in increasing q: groups of 8 p, each group first loading
  /// its `reads` (see movingReads) into stack arrays, `lanes` (1, or 4: 16 bytes) values a p at
  /// once, then running `body` on them. A body with branches (an argmax's update) would hold
  /// each load back until the updates before it ran; loaded first, the group's loads are all in
  /// flight together. With 4 lanes every read's global[base + p * 4] must be 16-byte aligned.
  static Stmt loadsFirstLoop(const Var &q, const Expr &first, const Expr &step, const Expr &end,
                             const Expr &span, int64_t lanes, const std::vector<MovingRead> &reads,
                             const Stmt &body) {
    struct Staged {
      const MovingRead *read;
      Buffer copy;
    };
    std::vector<Staged> staged;
    for (const MovingRead &r : reads)
      staged.push_back(
          {&r, makeBuffer(r.global->name + ".ahead", r.global->dtype,
                          {intImm(kLoadsInFlight * lanes)}, BufferRole::Intermediate)});
    class FromCopies : public IRMutator {
    public:
      FromCopies(const std::vector<Staged> &staged, Expr slot)
          : staged(staged), slot(std::move(slot)) {}

    protected:
      Expr visitLoad(const Load *n, const Expr &self) override {
        for (const Staged &s : staged)
          if (!n->predicate && s.read->global == n->buffer && equal(s.read->index, n->index))
            return Load::make(s.copy, slot);
        return IRMutator::visitLoad(n, self);
      }

    private:
      const std::vector<Staged> &staged;
      Expr slot;
    };

    Var group = makeVar("g", Type::i64(), VarKind::Loop);
    Var u = makeVar("u", Type::i64(), VarKind::Loop);
    Var p = makeVar(lanes > 1 ? "p" : q->name, Type::i64(), VarKind::Let);
    auto eachP = [&](const Stmt &s) {
      Expr at = add(first, mul(add(mul(ref(group), intImm(kLoadsInFlight)), ref(u)), step));
      return For::make(u, intImm(kLoadsInFlight), ForKind::Unrolled,
                       LetStmt::make(p, at, IfThenElse::make(lt(ref(p), end), s)));
    };
    Expr slots = mul(ref(u), intImm(lanes));
    std::vector<Stmt> loads;
    for (const Staged &s : staged) {
      Expr at = add(s.read->base, mul(ref(p), intImm(lanes)));
      loads.push_back(
          lanes == 1 ? Store::make(s.copy, slots, Load::make(s.read->global, at))
                     : Store::make(s.copy, Ramp::make(slots, intImm(1), lanes),
                                   Load::make(s.read->global, Ramp::make(at, intImm(1), lanes))));
    }
    std::vector<Stmt> points;
    for (int64_t l = 0; l < lanes; ++l) {
      Var point = makeVar(q->name, Type::i64(), VarKind::Let);
      Stmt s = FromCopies(staged, add(slots, intImm(l))).mutate(body);
      points.push_back(lanes == 1 ? substitute(s, {{q, ref(p)}})
                                  : LetStmt::make(point, add(mul(ref(p), intImm(lanes)), intImm(l)),
                                                  substitute(s, {{q, ref(point)}})));
    }
    Stmt groupBody = Block::make({eachP(Block::make(loads)), eachP(Block::make(points))});
    for (auto it = staged.rbegin(); it != staged.rend(); ++it)
      groupBody = Allocate::make(it->copy, MemoryScope::Stack, groupBody);
    Expr perGroup = mul(intImm(kLoadsInFlight), step);
    Expr groups = Binary::make(BinaryOp::FloorDiv, add(span, sub(perGroup, intImm(1))), perGroup);
    return For::make(group, groups, ForKind::Serial, groupBody);
  }

  /// An argmax (argmin) member's loop over the row (`body` for q in [0, count)), its reads
  /// loaded ahead by loadsFirstLoop: thread `lane` takes the vectors of 4 points p = lane,
  /// lane + L, ... read 16 bytes at a time, then the points past the last whole vector one at a
  /// time. A thread still meets its points in increasing q, so its pair is its first best point,
  /// and the pairs' combine gives the sequential scan's answer whatever the split. A row where a
  /// buffer is not 16-byte aligned or a base not a multiple of 4 reads every point one at a time.
  static Stmt argRowLoop(const RowThreads &t, const Var &q, const Expr &count, const Stmt &body,
                         const std::vector<MovingRead> &reads) {
    constexpr int64_t lanes = 4;
    Expr aligned;
    for (const MovingRead &r : reads) {
      Expr ok =
          Binary::make(BinaryOp::And, BufferAligned::make(r.global, 16),
                       Binary::make(BinaryOp::Eq,
                                    Binary::make(BinaryOp::Mod, r.base, intImm(lanes)), intImm(0)));
      aligned = aligned ? Binary::make(BinaryOp::And, aligned, ok) : ok;
    }
    Var vectors = makeVar("vectors", Type::i64(), VarKind::Let);
    Expr whole = mul(ref(vectors), intImm(lanes));
    Expr lane = ref(t.lane), step = ref(t.rowThreads);
    return LetStmt::make(
        vectors,
        Select::make(aligned, Binary::make(BinaryOp::FloorDiv, count, intImm(lanes)), intImm(0)),
        Block::make(
            {loadsFirstLoop(q, lane, step, ref(vectors), ref(vectors), lanes, reads, body),
             loadsFirstLoop(q, add(whole, lane), step, count, sub(count, whole), 1, reads, body)}));
  }

  /// An i32 sum of i8 x i8 products along the row: `acc[0] = acc[0] + i32(a[baseA + q]) *
  /// i32(b[baseB + q])`.
  struct ByteDot {
    Buffer a, b;
    Expr baseA, baseB;
  };

  /// The sum member `item` of `g` as a ByteDot (the add's and the product's operands in either
  /// order), when it accesses no row buffer; else nullopt.
  static std::optional<ByteDot> byteDot(const RowGroup &g, const RowItem &item) {
    if (!item.reduction || item.at || item.op != BinaryOp::Add || item.acc->dtype != DType::I32 ||
        usesRowBuffer(g, item))
      return std::nullopt;
    const Store *update = as<Store>(item.inner);
    const Binary *sum = update && !update->predicate ? as<Binary>(update->value) : nullptr;
    if (!sum || sum->op != BinaryOp::Add)
      return std::nullopt;
    const Binary *product = as<Binary>(isAccLoad(sum->a, item.acc)   ? sum->b
                                       : isAccLoad(sum->b, item.acc) ? sum->a
                                                                     : nullptr);
    if (!product || product->op != BinaryOp::Mul)
      return std::nullopt;
    auto byteLoad = [&](const Expr &e) -> const Load * {
      const Cast *c = as<Cast>(e);
      const Load *l = c ? as<Load>(c->a) : nullptr;
      return l && !l->predicate && l->buffer->dtype == DType::I8 && l->buffer != item.acc ? l
                                                                                          : nullptr;
    };
    const Load *a = byteLoad(product->a), *b = byteLoad(product->b);
    Expr baseA = a ? baseAlong(a->index, item.q) : nullptr;
    Expr baseB = b ? baseAlong(b->index, item.q) : nullptr;
    if (!baseA || !baseB)
      return std::nullopt;
    return ByteDot{a->buffer, b->buffer, baseA, baseB};
  }

  /// The loop over the row of an i8 dot product (`body` for q in [0, count)), 4 points at a time
  /// by one dp4a on a 4-byte word of each factor: thread `lane` takes the words p = lane, lane +
  /// L, ... (as overRow's points, 8 a group), then the points past the last whole word one at a
  /// time; a row where a factor's row does not start 4-byte aligned takes every point one at a
  /// time. Integer sums wrap alike in every order: the result is the sequential sum's.
  static Stmt dp4aRowLoop(const RowThreads &t, const RowItem &item, const ByteDot &dot) {
    constexpr int64_t lanes = 4;
    auto aligned = [&](const Buffer &b, const Expr &base) {
      return Binary::make(
          BinaryOp::And, BufferAligned::make(b, lanes),
          Binary::make(BinaryOp::Eq, Binary::make(BinaryOp::Mod, base, intImm(lanes)), intImm(0)));
    };
    Var words = makeVar("words", Type::i64(), VarKind::Let);
    Var p = makeVar("p", Type::i64(), VarKind::Let);
    Expr first = mul(ref(p), intImm(lanes));
    Stmt dp4a = GpuIntrinsic::make(GpuOp::Dp4a, {item.acc, dot.a, dot.b},
                                   {intImm(0), add(dot.baseA, first), add(dot.baseB, first)});
    Expr whole = mul(ref(words), intImm(lanes));
    Expr lane = ref(t.lane), step = ref(t.rowThreads);
    return LetStmt::make(
        words,
        Select::make(
            Binary::make(BinaryOp::And, aligned(dot.a, dot.baseA), aligned(dot.b, dot.baseB)),
            Binary::make(BinaryOp::FloorDiv, item.innerCount, intImm(lanes)), intImm(0)),
        Block::make({stridedLoop(p, lane, step, ref(words), ref(words), dp4a),
                     stridedLoop(item.q, add(whole, lane), step, item.innerCount,
                                 sub(item.innerCount, whole), item.inner)}));
  }

  /// Whether `item` accesses one of the group's row buffers (which each variant places).
  static bool usesRowBuffer(const RowGroup &g, const RowItem &item) {
    Accesses a = accessesOf(item.inner);
    return std::any_of(a.list.begin(), a.list.end(), [&](const auto &acc) {
      return std::any_of(g.buffers.begin(), g.buffers.end(),
                         [&](const RowBuffer &rb) { return rb.local == acc.buffer; });
    });
  }

  /// The loop over the row of a member that accesses no row buffer: dp4aRowLoop or argRowLoop
  /// where one applies, else overRow.
  static Stmt rowLoop(const RowGroup &g, const RowThreads &t, const RowItem &item) {
    if (std::optional<ByteDot> dot = byteDot(g, item))
      return dp4aRowLoop(t, item, *dot);
    if (loadsFirst(g, item))
      return argRowLoop(t, item.q, item.innerCount, item.inner, movingReads(item.q, item.inner));
    return overRow(t, item.q, item.innerCount, item.inner);
  }

  /// One member around its loop over the row: a reduction initializes its accumulator, and after
  /// the loop combines the row's threads (shuffles, then across warps when the row spans several)
  /// so that all of them run the final store with the same value.
  Stmt rowMember(const RowThreads &t, const RowItem &item, Stmt loop) const {
    if (!item.reduction)
      return loop;
    if (item.at) {
      Stmt combine = Block::make(
          {combinePairInWarp(item.argMax, item.acc, item.at),
           IfThenElse::make(Binary::make(BinaryOp::Gt, ref(t.rowThreads), intImm(32)),
                            combinePairWarps(item.argMax, item.acc, item.at, t.thread,
                                             t.blockThreads, t.exchange.at(item.acc->dtype),
                                             t.positions))});
      return Allocate::make(
          item.acc, MemoryScope::Stack,
          Allocate::make(item.at, MemoryScope::Stack,
                         Block::make({item.pre, std::move(loop), combine, item.post})));
    }
    Stmt combine =
        Block::make({combineInWarp(item.acc, item.op),
                     IfThenElse::make(Binary::make(BinaryOp::Gt, ref(t.rowThreads), intImm(32)),
                                      combineWarps(item.acc, item.op, t.thread, t.blockThreads,
                                                   t.exchange.at(item.acc->dtype)))});
    return Allocate::make(item.acc, MemoryScope::Stack,
                          Block::make({item.pre, std::move(loop), combine, item.post}));
  }

  /// The variant for rows of (F * L, S * L] points, F = `band.full` < S = `band.slots`: thread
  /// `lane` keeps the elements q = lane + m * L (m < S, the loops over m unrolled) of every row
  /// buffer in a stack array, so the input rows are read once and intermediates never leave
  /// registers. Only the slots from F on can fall outside the row and need a guard: one tests
  /// its point, several compare m with the thread's count of slots in the row, one value against
  /// constants (testing each point, softmax's 32 slots with 16 guarded took 154 registers a
  /// thread; 31 slots with 15 guarded take 80 so). Every member maps q to threads the same way,
  /// so a thread reads only elements it wrote itself: no barriers between members.
  Stmt registerVariant(const RowGroup &g, const RowThreads &t, RegisterBand band) const {
    Var rowSlots = makeVar("row_slots", Type::i64(), VarKind::Let);
    std::map<const BufferNode *, Buffer> regs;
    for (const RowBuffer &rb : g.buffers)
      regs[rb.local.get()] = makeBuffer(rb.global->name + ".reg", rb.global->dtype,
                                        {intImm(band.slots)}, BufferRole::Intermediate);
    Var m = makeVar("m", Type::i64(), VarKind::Loop);
    auto slotLoop = [&](const Var &q, const Expr &count, const Stmt &body) {
      TDSL_CHECK(equal(count, g.rowLength)) << "a register slot loop not over the row";
      Expr inRow = band.slots - band.full == 1 ? Binary::make(BinaryOp::Lt, ref(q), count)
                                               : Binary::make(BinaryOp::Lt, ref(m), ref(rowSlots));
      if (band.full > 0)
        inRow = Binary::make(BinaryOp::Or, Binary::make(BinaryOp::Lt, ref(m), intImm(band.full)),
                             inRow);
      return For::make(m, intImm(band.slots), ForKind::Unrolled,
                       LetStmt::make(q, add(ref(t.lane), mul(ref(m), ref(t.rowThreads))),
                                     IfThenElse::make(inRow, body)));
    };
    RowPlacement place(g.buffers, [&](const Buffer &local, const Expr &) {
      return std::pair{regs.at(local.get()), ref(m)};
    });
    std::vector<Stmt> steps;
    for (const RowBuffer &rb : g.buffers) {
      if (!rb.copyIn)
        continue;
      Var q = makeVar("q", Type::i64(), VarKind::Let);
      steps.push_back(
          slotLoop(q, rb.length,
                   Store::make(regs.at(rb.local.get()), ref(m),
                               Load::make(rb.global, add(mul(g.rowIndex, rb.length), ref(q))))));
    }
    for (const RowItem &item : g.items) {
      Stmt loop = usesRowBuffer(g, item)
                      ? slotLoop(item.q, item.innerCount, place.mutate(item.inner))
                      : rowLoop(g, t, item);
      steps.push_back(rowMember(t, item, std::move(loop)));
    }
    Stmt body = Block::make(steps);
    for (auto it = g.buffers.rbegin(); it != g.buffers.rend(); ++it)
      body = Allocate::make(regs.at(it->local.get()), MemoryScope::Stack, body);
    if (band.slots - band.full > 1) // The slots q = lane + m * L < length.
      body = LetStmt::make(
          rowSlots,
          Binary::make(BinaryOp::FloorDiv,
                       add(sub(g.rowLength, ref(t.lane)), sub(ref(t.rowThreads), intImm(1))),
                       ref(t.rowThreads)),
          body);
    return body;
  }

  /// The variant with the row buffers in memory: those in `shared` (local -> the block's shared
  /// array, a slice a row) there, the others in the global buffer's row. Inputs in shared
  /// memory are copied there first; barriers separate the members.
  Stmt memoryVariant(const RowGroup &g, const RowThreads &t,
                     const std::map<const BufferNode *, Buffer> &shared) const {
    auto slice = [&](const RowBuffer &rb, const Expr &q) {
      return add(mul(ref(t.slot), rb.length), q);
    };
    auto row = [&](const RowBuffer &rb, const Expr &q) {
      return add(mul(g.rowIndex, rb.length), q);
    };
    RowPlacement place(g.buffers, [&](const Buffer &local, const Expr &q) {
      const RowBuffer &rb = *std::find_if(g.buffers.begin(), g.buffers.end(),
                                          [&](const RowBuffer &b) { return b.local == local; });
      if (auto it = shared.find(local.get()); it != shared.end())
        return std::pair{it->second, slice(rb, q)};
      return std::pair{rb.global, row(rb, q)};
    });
    std::vector<Stmt> steps;
    bool copies = false;
    for (const RowBuffer &rb : g.buffers) {
      auto it = shared.find(rb.local.get());
      if (!rb.copyIn || it == shared.end())
        continue;
      Var q = makeVar("q", Type::i64(), VarKind::Let);
      steps.push_back(overRow(
          t, q, rb.length,
          Store::make(it->second, slice(rb, ref(q)), Load::make(rb.global, row(rb, ref(q))))));
      copies = true;
    }
    if (copies)
      steps.push_back(rowBarrier(t));
    for (const RowItem &item : g.items) {
      Stmt loop = usesRowBuffer(g, item)
                      ? overRow(t, item.q, item.innerCount, place.mutate(item.inner))
                      : rowLoop(g, t, item);
      steps.push_back(rowMember(t, item, std::move(loop)));
      // What one member wrote to the row is visible to the row's threads in the next one.
      steps.push_back(rowBarrier(t));
    }
    return Block::make(steps);
  }

  /// The Rows kernels of `g` as loop IR, from `base` (its lets and heap intermediates): a row a
  /// warp (short rows) or a block (long rows). One kernel for each register band, launched for
  /// the rows of its band (each compiled on its own: its registers are its own, where one kernel
  /// with every variant took 154 registers a thread); and the memory kernel for the other rows,
  /// which keeps the row buffers in shared memory when they fit (the input copies within a
  /// tighter bound that keeps enough blocks on an SM: a copy only saves a second read, mostly
  /// from L2), else in global memory.
  void buildRows(const KernelPlan &base, const RowGroup &g) {
    // Which kernel runs is decided at launch by the row length.
    auto inBand = [&](const RowThreads &t, RegisterBand band) {
      Expr atMost = Binary::make(BinaryOp::Le, g.rowLength,
                                 band.threads ? intImm(int64_t(band.slots) * band.threads)
                                              : mul(intImm(band.slots), ref(t.rowThreads)));
      Expr above = band.threads ? intImm(band.above)
                   : band.full  ? mul(intImm(band.full), ref(t.rowThreads))
                                : intImm(0);
      return Binary::make(BinaryOp::And, Binary::make(BinaryOp::Gt, g.rowLength, above), atMost);
    };
    std::vector<RegisterBand> bands = registerBands(g.registerSlots);
    // Past the narrow bands, rows of up to S * W points in registers, a row a block of W =
    // 512, then 1024 threads, each taking the bands past the narrower ones' reach: the row read
    // once (the memory kernel read softmax's rows of 32768 three times, at 0.48x PyTorch's one
    // read into shared memory). At most 64 registers a thread, so that an SM holds two blocks
    // of 512 or one of 1024: softmax (two row buffers, the input dead once its exp is taken),
    // layernorm, RMSNorm and logsumexp took 58-64 with 32 slots.
    // `reach`: the longest row a band takes (a row a block past 1024 points), 0 without bands.
    int64_t reach = bands.empty() ? 0 : int64_t(bands.back().slots) * threads;
    for (int wide = 2 * threads; !bands.empty() && wide <= mostThreads(); wide *= 2) {
      for (RegisterBand band : registerBands(g.registerSlots))
        if (int64_t(band.slots) * wide > reach) {
          band.threads = wide;
          band.above = std::max(int64_t(band.full) * wide, reach);
          bands.push_back(band);
        }
      reach = int64_t(bands.back().slots) * wide;
    }
    std::string len = toString(g.rowLength);
    bool anyArg = std::any_of(g.items.begin(), g.items.end(),
                              [](const RowItem &item) { return item.at != nullptr; });
    bool anyVectorArg = std::any_of(g.items.begin(), g.items.end(),
                                    [&](const RowItem &item) { return loadsFirst(g, item); });
    bool anyByteDot = std::any_of(g.items.begin(), g.items.end(), [&](const RowItem &item) {
      return byteDot(g, item).has_value();
    });
    auto start = [&] {
      KernelPlan k = base;
      k.details.push_back(
          toString(g.rowCount) + " rows of " + len + " points: a warp a row when " + len +
          " <= 1024, else the block; loops a row: " + std::to_string(g.items.size()) +
          ", reductions combined by warp shuffles");
      if (anyArg)
        k.details.push_back("argmax/argmin combined as (value, position) pairs: the larger "
                            "(smaller) value, NaN above every number, ties to the first position");
      if (anyVectorArg)
        k.details.push_back("argmax/argmin reading memory: each thread loads 8 vectors of 4 points "
                            "(16 bytes) before comparing them, where the row starts 16-byte "
                            "aligned; the points past the last whole vector, and every point of "
                            "another row, 8 single loads at a time");
      if (anyByteDot)
        k.details.push_back("i8 x i8 products summed in i32: 4 points a thread by dp4a on a "
                            "4-byte word of each factor where both rows start 4-byte aligned, "
                            "the points past the last whole word (and every point of another "
                            "row) one at a time");
      if (!g.registers.empty())
        k.details.push_back("per-row values in registers: " +
                            names(g.registers, [](const Buffer &b) { return b->name; }));
      return k;
    };
    auto shareExchange = [&](RowThreads &t) {
      for (const RowItem &item : g.items)
        if (item.reduction && !t.exchange.count(item.acc->dtype))
          t.exchange[item.acc->dtype] = warpResults(item.acc->dtype);
      if (anyArg)
        t.positions =
            makeBuffer("warp_positions", DType::I64, {intImm(32)}, BufferRole::Intermediate);
      std::vector<Buffer> shared;
      for (const auto &[dtype, exchange] : t.exchange)
        shared.push_back(exchange);
      if (t.positions)
        shared.push_back(t.positions);
      return shared;
    };
    auto finish = [&](KernelPlan &k, const RowThreads &t, Stmt rowBody,
                      const std::vector<Buffer> &shared) {
      for (auto it = g.registers.rbegin(); it != g.registers.rend(); ++it)
        rowBody = Allocate::make(*it, MemoryScope::Stack, rowBody);
      for (auto it = g.rowLets.rbegin(); it != g.rowLets.rend(); ++it)
        rowBody = LetStmt::make(it->first, it->second, rowBody);
      rowKernel(k, t, g.row, g.rowCount, rowBody, shared);
      kernels.push_back(std::move(k));
    };

    for (RegisterBand band : bands) {
      KernelPlan k = start();
      RowThreads t = mapRows(k, g.rowLength, band.threads);
      std::vector<Buffer> shared = shareExchange(t);
      k.condition = inBand(t, band);
      std::string slots = std::to_string(band.slots);
      k.variant = "_s" + slots + (band.threads ? "x" + std::to_string(band.threads) : "");
      // Two blocks of 512 an SM (at most 64 registers a thread): one row's reductions overlap
      // the next row's loads.
      k.blocksPerSm = band.threads == 512 ? 2 : 0;
      k.details.push_back(
          (band.threads ? "rows of (" + std::to_string(band.above) + ", " +
                              std::to_string(band.slots * band.threads) + "] points, a block of " +
                              std::to_string(band.threads) + " threads a row"
                        : "rows of (" + std::to_string(band.full) + " * L, " + slots +
                              " * L] points (L threads a row)") +
          ": the row buffers in registers, " + slots + " values a thread, the last " +
          std::to_string(band.slots - band.full) + " guarded");
      // The intermediate rows never reach device memory here (a copied row is still read).
      for (const RowBuffer &rb : g.buffers)
        if (!rb.copyIn)
          std::erase(k.allocations, rb.global);
      finish(k, t, registerVariant(g, t, band), shared);
    }

    KernelPlan k = start();
    RowThreads t = mapRows(k, g.rowLength);
    std::vector<Buffer> shared = shareExchange(t);
    // The bands cover the lengths 1 to `reach`: the rest come here, rows of more than `reach`
    // points (or none).
    if (!bands.empty())
      k.condition = Binary::make(BinaryOp::Or, Binary::make(BinaryOp::Eq, g.rowLength, intImm(0)),
                                 Binary::make(BinaryOp::Gt, g.rowLength, intImm(reach)));
    Expr scratchBytes, allBytes;
    auto plus = [](const Expr &sum, const Expr &term) { return sum ? add(sum, term) : term; };
    bool anyCopy = false, anyScratch = false;
    for (const RowBuffer &rb : g.buffers) {
      Expr bytes =
          mul(ceilDiv(mulFold(rb.length, intImm(byteSize(rb.global->dtype))), 16), intImm(16));
      allBytes = plus(allBytes, bytes);
      if (!rb.copyIn)
        scratchBytes = plus(scratchBytes, bytes);
      (rb.copyIn ? anyCopy : anyScratch) = true;
    }
    // A shared variant that no row of more than `reach` points fits is left out.
    auto fitsPastReach = [&](bool copies, int64_t limit) {
      int64_t bytes = 0;
      for (const RowBuffer &rb : g.buffers)
        if (copies || !rb.copyIn)
          bytes += ((reach + 1) * byteSize(rb.global->dtype) + 15) / 16 * 16;
      return bytes <= limit;
    };
    anyCopy = anyCopy && fitsPastReach(true, target.rowCopyLimit());
    anyScratch = anyScratch && fitsPastReach(false, target.rowSharedLimit());
    Expr copiesFit, scratchFits;
    if (anyCopy)
      copiesFit = kernelLet(
          k, "copies_fit",
          Binary::make(BinaryOp::Le, mul(t.rowsPerBlock, allBytes), intImm(target.rowCopyLimit())));
    if (anyScratch) {
      Expr fits = Binary::make(BinaryOp::Le, mul(t.rowsPerBlock, scratchBytes),
                               intImm(target.rowSharedLimit()));
      scratchFits = kernelLet(k, "scratch_fits",
                              copiesFit ? Binary::make(BinaryOp::Or, copiesFit, fits) : fits);
    }
    // The shared arrays: a slice a row of the block, empty in the variants that do not use them.
    std::map<const BufferNode *, Buffer> sharedAll, sharedScratch;
    for (const RowBuffer &rb : g.buffers) {
      if (!(rb.copyIn ? anyCopy : anyScratch))
        continue; // In global memory in every variant.
      Expr size = Select::make(rb.copyIn ? copiesFit : scratchFits, mul(t.rowsPerBlock, rb.length),
                               intImm(0));
      Buffer array =
          makeBuffer(rb.global->name + ".rows", rb.global->dtype, {size}, BufferRole::Intermediate);
      shared.push_back(array);
      sharedAll[rb.local.get()] = array;
      if (!rb.copyIn)
        sharedScratch[rb.local.get()] = array;
    }
    Stmt variants = memoryVariant(g, t, {});
    if (anyScratch)
      variants = IfThenElse::make(scratchFits, memoryVariant(g, t, sharedScratch), variants);
    if (anyCopy)
      variants = IfThenElse::make(copiesFit, memoryVariant(g, t, sharedAll), variants);
    if (!bands.empty())
      k.details.push_back("rows of no register band (0 points or more than " +
                          std::to_string(reach) + ")");
    std::vector<RowBuffer> sharedOrGlobal, global;
    for (const RowBuffer &rb : g.buffers)
      (sharedAll.count(rb.local.get()) ? sharedOrGlobal : global).push_back(rb);
    auto bufferNames = [](const std::vector<RowBuffer> &list) {
      return names(
          list, [](const RowBuffer &b) { return b.global->name + (b.copyIn ? " (a copy)" : ""); });
    };
    if (!sharedOrGlobal.empty())
      k.details.push_back("row buffers in shared memory when they fit (at most " +
                          kiB(target.rowSharedLimit()) +
                          " a block), else in global memory: " + bufferNames(sharedOrGlobal));
    if (!global.empty())
      k.details.push_back("row buffers in global memory: " + bufferNames(global));
    finish(k, t, variants, shared);
  }

  /// Comma-separated `name(x)` of each x of `list`.
  template <typename List, typename Name> static std::string names(const List &list, Name name) {
    std::string s;
    for (const auto &x : list)
      s += (s.empty() ? "" : ", ") + name(x);
    return s;
  }

  // ---- prefix scans along a row ----

  /// Values a thread scans in registers in each chunk of a row (ScanRows).
  static constexpr int64_t kScanValues = 8;

  /// A prefix scan as the loop nests build it (LoopNest's scanNest without a prologue, see
  /// Scan.h), its rows the outer loops:
  ///   for rows...: allocate acc { acc[0] = identity
  ///     for j in [0, E) { [if (guard)] acc[0] = acc[0] op f(j); target[..j..] = g(acc[0], j) } }
  /// with every access that moves with j one element further per step of j. A Rows kernel: a
  /// warp a row up to 1024 points, else a block; the row in chunks of L x V points (L threads a
  /// row, V = kScanValues), read coalesced (point m * L + lane) into shared memory (the identity
  /// past the end); thread `lane` scans the V consecutive points from lane * V of the chunk in
  /// registers; the threads' totals get their
  /// exclusive prefix within the warp by xor shuffles (log2(32) steps, lane l adding the lower
  /// half's total where bit s of l is set), the warps' totals through shared memory in warp
  /// order; each point's result is the carry of the chunks before, then the prefix of the
  /// threads before, then its own, written back to shared memory and stored coalesced. The
  /// association depends only on L and V: deterministic.
  bool tryScanRows(size_t i) {
    const Item &item = items[i];
    if (selfDependent(item.stmt))
      return false;
    Chain outer = peel(item.stmt);
    const Allocate *a = as<Allocate>(outer.body);
    if (!a || a->scope != MemoryScope::Stack || a->buffer->shape.size() != 1)
      return false;
    const IntImm *one = as<IntImm>(a->buffer->shape[0]);
    const Block *b = as<Block>(a->body);
    if (!one || one->value != 1 || !b || b->stmts.size() != 2)
      return false;
    const Buffer &acc = a->buffer;
    if (!shufflable(acc->dtype))
      return false;
    const Store *init = as<Store>(b->stmts[0]);
    const For *loop = as<For>(b->stmts[1]);
    if (!init || init->buffer != acc || init->predicate || hasLoad(init->value) || !loop ||
        loop->kind != ForKind::Serial)
      return false;
    std::vector<Var> rowLoopVars = outer.vars();
    rowLoopVars.push_back(loop->var);
    if (usesAny(loop->extent, rowLoopVars))
      return false;
    const Block *step = as<Block>(loop->body);
    if (!step || step->stmts.size() != 2)
      return false;
    // The update, maybe guarded, then the store.
    const IfThenElse *guard = as<IfThenElse>(step->stmts[0]);
    if (guard && guard->elseCase)
      return false;
    const Store *update = as<Store>(guard ? guard->thenCase : step->stmts[0]);
    const Store *store = as<Store>(step->stmts[1]);
    if (!update || update->buffer != acc || update->predicate || !store || store->buffer == acc)
      return false;
    const Binary *bin = as<Binary>(update->value);
    if (!bin || !isAccLoad(bin->a, acc))
      return false;
    if (!combinable(bin->op))
      return false;
    const Var &j = loop->var;
    Accesses stepAccess = accessesOf(loop->body);
    for (const auto &acc2 : stepAccess.list) {
      if (acc2.buffer == acc) {
        // Only the update reads and writes acc[0]; the store may read it.
        if (!isAccLoad(Load::make(acc, acc2.index), acc))
          return false;
        continue;
      }
      // One element further per step of j: coalesced across a row's threads.
      if (!usesAny(acc2.index, {j}) && !acc2.store)
        continue;
      Expr next = substitute(acc2.index, {{j, add(ref(j), intImm(1))}});
      Expr advance = simplify(sub(next, acc2.index));
      const IntImm *d = as<IntImm>(advance);
      if (!d || d->value != 1)
        return false;
    }
    Accesses valueAccess;
    valueAccess.visit(bin->b);
    valueAccess.visit(store->index);
    for (const auto &acc2 : valueAccess.list)
      if (acc2.buffer == acc)
        return false;

    KernelPlan k = start(item);
    k.schedule = GpuScheduleKind::Rows;
    Expr length = loop->extent;
    Expr rowCount = product(outer.extents());
    RowThreads rows = mapRows(k, length);
    Expr rowThreads = ref(rows.rowThreads);
    const Var &thread = rows.thread, &lane = rows.lane, &slot = rows.slot;
    Var row = makeVar("row", Type::i64(), VarKind::Let);
    Var chunk = makeVar("chunk", Type::i64(), VarKind::Loop);
    Var m = makeVar("m", Type::i64(), VarKind::Loop);
    const int64_t V = kScanValues;
    DType t = acc->dtype;
    Expr identity = init->value;
    BinaryOp op = bin->op;
    Expr zero = intImm(0);
    Buffer vals = makeBuffer(acc->name + ".vals", t, {intImm(V)}, BufferRole::Intermediate);
    Buffer carry = makeBuffer(acc->name + ".carry", t, {intImm(1)}, BufferRole::Intermediate);
    Buffer before = makeBuffer(acc->name + ".before", t, {intImm(1)}, BufferRole::Intermediate);
    Buffer total = makeBuffer(acc->name + ".total", t, {intImm(1)}, BufferRole::Intermediate);
    Buffer totals = makeBuffer("warp_totals", t, {intImm(threads / 32)}, BufferRole::Intermediate);
    // The chunk of each row of the block, padded by one element every 32 so that both the
    // coalesced order (p = m * L + lane) and the thread's own (p = lane * V + m) are free of
    // bank conflicts: a slice of L * V * 33 / 32 a row.
    Buffer stage = makeBuffer(acc->name + ".chunk", t, {intImm(threads * V * 33 / 32)},
                              BufferRole::Intermediate);
    auto value = [&](const Buffer &buf, const Expr &at) { return Load::make(buf, at); };
    auto at0 = [&](const Buffer &buf) { return Load::make(buf, zero); };
    Expr chunkPoints = mul(rowThreads, intImm(V));
    Expr sliceBase = mul(
        ref(slot), Binary::make(BinaryOp::FloorDiv, mul(rowThreads, intImm(V * 33)), intImm(32)));
    auto staged = [&](const Expr &p) {
      return add(sliceBase, add(p, Binary::make(BinaryOp::FloorDiv, p, intImm(32))));
    };
    Expr striped = add(mul(ref(m), rowThreads), ref(lane)); // Coalesced: consecutive lanes.
    Expr own = add(mul(ref(lane), intImm(V)), ref(m));      // The thread's V consecutive points.
    auto stripedPoint = [&]() { return add(mul(ref(chunk), chunkPoints), striped); };
    Stmt rowSync = rowBarrier(rows);
    std::vector<Stmt> steps;
    // Load the chunk coalesced into shared memory (the identity past the end), then scan the
    // thread's V points in registers.
    {
      Var jl = makeVar(j->name, Type::i64(), VarKind::Let);
      Stmt load = Store::make(stage, staged(striped), substitute(bin->b, {{j, ref(jl)}}));
      Expr cond = Binary::make(BinaryOp::Lt, ref(jl), length);
      if (guard)
        cond = Binary::make(BinaryOp::And, cond, substitute(guard->cond, {{j, ref(jl)}}));
      steps.push_back(
          For::make(m, intImm(V), ForKind::Unrolled,
                    LetStmt::make(jl, stripedPoint(),
                                  Block::make({Store::make(stage, staged(striped), identity),
                                               IfThenElse::make(cond, load)}))));
      steps.push_back(rowSync);
      steps.push_back(For::make(m, intImm(V), ForKind::Unrolled,
                                Store::make(vals, ref(m), Load::make(stage, staged(own)))));
      Var n = makeVar("n", Type::i64(), VarKind::Loop);
      Expr next = add(ref(n), intImm(1));
      steps.push_back(For::make(
          n, intImm(V - 1), ForKind::Unrolled,
          Store::make(vals, next, Binary::make(op, value(vals, ref(n)), value(vals, next)))));
    }
    // The threads' totals: exclusive prefix in the warp (before) and the warp's total.
    steps.push_back(Store::make(total, zero, value(vals, intImm(V - 1))));
    steps.push_back(Store::make(before, zero, identity));
    Expr warpLane = Binary::make(BinaryOp::Mod, ref(thread), intImm(32));
    for (int mask = 1; mask < 32; mask *= 2) {
      Var other = makeVar("other", Type::scalar(t), VarKind::Let);
      Expr upper = Binary::make(
          BinaryOp::Eq,
          Binary::make(BinaryOp::Mod, Binary::make(BinaryOp::FloorDiv, warpLane, intImm(mask)),
                       intImm(2)),
          intImm(1));
      steps.push_back(LetStmt::make(
          other, WarpShuffle::make(at0(total), mask),
          IfThenElse::make(
              upper,
              Block::make({Store::make(before, zero, Binary::make(op, ref(other), at0(before))),
                           Store::make(total, zero, Binary::make(op, ref(other), at0(total)))}),
              Store::make(total, zero, Binary::make(op, at0(total), ref(other))))));
    }
    // Across the block's warps (a block a row): the warps before, and the chunk's total.
    {
      Expr warp = Binary::make(BinaryOp::FloorDiv, ref(thread), intImm(32));
      Var w = makeVar("w", Type::i64(), VarKind::Loop);
      std::vector<Stmt> across;
      across.push_back(Barrier::make(BarrierScope::Block));
      across.push_back(IfThenElse::make(Binary::make(BinaryOp::Eq, warpLane, zero),
                                        Store::make(totals, warp, at0(total))));
      across.push_back(Barrier::make(BarrierScope::Block));
      // acc[0] is free until the stores: it holds the warps before this one.
      across.push_back(Store::make(acc, zero, identity));
      across.push_back(Store::make(total, zero, identity));
      across.push_back(For::make(
          w, intImm(threads / 32), ForKind::Serial,
          Block::make(
              {IfThenElse::make(
                   Binary::make(BinaryOp::Lt, ref(w), warp),
                   Store::make(acc, zero, Binary::make(op, at0(acc), value(totals, ref(w))))),
               Store::make(total, zero, Binary::make(op, at0(total), value(totals, ref(w))))})));
      across.push_back(Store::make(before, zero, Binary::make(op, at0(acc), at0(before))));
      steps.push_back(IfThenElse::make(Binary::make(BinaryOp::Gt, rowThreads, intImm(32)),
                                       Block::make(across)));
    }
    // The points' results and stores; the carry moves past the chunk.
    // The results back through shared memory, stored coalesced; the last barrier keeps the
    // next chunk's loads from overwriting results not yet stored.
    steps.push_back(Store::make(before, zero, Binary::make(op, at0(carry), at0(before))));
    steps.push_back(rowSync);
    steps.push_back(For::make(
        m, intImm(V), ForKind::Unrolled,
        Store::make(stage, staged(own), Binary::make(op, at0(before), value(vals, ref(m))))));
    steps.push_back(rowSync);
    {
      Var js = makeVar(j->name, Type::i64(), VarKind::Let);
      Stmt out = substitute(step->stmts[1], {{j, ref(js)}});
      steps.push_back(For::make(
          m, intImm(V), ForKind::Unrolled,
          LetStmt::make(js, stripedPoint(),
                        IfThenElse::make(
                            Binary::make(BinaryOp::Lt, ref(js), length),
                            Block::make({Store::make(acc, zero, Load::make(stage, staged(striped))),
                                         out})))));
    }
    steps.push_back(rowSync);
    steps.push_back(Store::make(carry, zero, Binary::make(op, at0(carry), at0(total))));
    Expr chunks =
        Binary::make(BinaryOp::FloorDiv, add(length, sub(chunkPoints, intImm(1))), chunkPoints);
    Stmt rowBody = Block::make({Store::make(carry, zero, identity),
                                For::make(chunk, chunks, ForKind::Serial, Block::make(steps))});
    for (const Buffer &buf : {acc, vals, carry, before, total})
      rowBody = Allocate::make(buf, MemoryScope::Stack, rowBody);
    // The row lets: `row` decomposed into the outer variables (row-major).
    {
      std::vector<Var> vars = outer.vars();
      std::vector<Expr> extents = outer.extents();
      Expr stride = intImm(1);
      std::vector<Expr> strides(vars.size());
      for (size_t v = vars.size(); v-- > 0;) {
        strides[v] = stride;
        stride = mulFold(extents[v], stride);
      }
      std::vector<std::pair<Var, Expr>> lets;
      Expr rest = ref(row);
      for (size_t v = 0; v < vars.size(); ++v) {
        Var rv = makeVar(vars[v]->name, Type::i64(), VarKind::Let);
        Expr index =
            v + 1 < vars.size() ? Binary::make(BinaryOp::FloorDiv, rest, strides[v]) : rest;
        lets.push_back({rv, index});
        if (v + 1 < vars.size())
          rest = sub(rest, mulFold(ref(rv), strides[v]));
      }
      std::vector<std::pair<Var, Expr>> repl;
      for (size_t v = 0; v < vars.size(); ++v)
        repl.push_back({vars[v], ref(lets[v].first)});
      rowBody = substitute(rowBody, repl);
      for (auto it = lets.rbegin(); it != lets.rend(); ++it)
        rowBody = LetStmt::make(it->first, it->second, rowBody);
    }
    rowKernel(k, rows, row, rowCount, rowBody, {totals, stage});
    std::string len = toString(length);
    k.details.push_back(toString(rowCount) + " rows of " + len +
                        " points, a prefix scan: a warp a row when " + len +
                        " <= 1024, else the block");
    k.details.push_back(
        "the row in chunks of L x " + std::to_string(V) +
        " points (L threads a row), loaded and stored coalesced through shared memory: each "
        "thread scans its " +
        std::to_string(V) +
        " consecutive points in registers, the warp the threads' totals by xor shuffles, the "
        "block the warps' totals through shared memory, plus the carry of the chunks before");
    kernels.push_back(std::move(k));
    return true;
  }

  size_t tryRows(size_t first) {
    // The group's rows: the outer loops of its first member, a reduction.
    Chain head = peel(items[first].stmt);
    Reduction probe;
    size_t outerCount = 0;
    {
      // The outer loops end where the reduction's Allocate begins.
      Chain c;
      c.body = items[first].stmt;
      std::vector<Var> vars;
      while (const For *f = as<For>(c.body)) {
        if ((f->kind != ForKind::Serial && f->kind != ForKind::Parallel) ||
            usesAny(f->extent, vars))
          return 0;
        c.loops.push_back(f);
        vars.push_back(f->var);
        c.body = f->body;
      }
      if (c.loops.empty() || !(parseReduction(c.body, probe) || parseArgReduction(c.body, probe)))
        return 0;
      outerCount = c.loops.size();
    }
    std::vector<Expr> extents = head.extents();
    extents.resize(outerCount);
    std::vector<Var> rowVars;
    for (size_t k = 0; k < outerCount; ++k)
      rowVars.push_back(makeVar(head.loops[k]->var->name, Type::i64(), VarKind::Let));
    std::vector<Expr> rowRefs;
    for (const Var &v : rowVars)
      rowRefs.push_back(ref(v));
    Expr rowLinear = linear(rowRefs, extents);

    std::vector<RowMember> members;
    size_t next = first;
    for (; next < items.size(); ++next) {
      // The kernel recomputes the last member's lets: each member's must start with the
      // previous member's.
      if (next > first) {
        const auto &prev = items[next - 1].lets, &cur = items[next].lets;
        if (cur.size() < prev.size() ||
            !std::equal(prev.begin(), prev.end(), cur.begin(),
                        [](const auto &a, const auto &b) { return a.first == b.first; }))
          break;
      }
      RowMember m;
      if (!member(items[next], extents, rowVars, m) ||
          (m.perRow && (members.empty() || !members.back().reduction)))
        break;
      members.push_back(m);
      if (!rowLocal(members, rowLinear)) {
        members.pop_back();
        break;
      }
    }
    if (members.empty() || !members[0].reduction)
      return 0;

    const Item &last = items[first + members.size() - 1];
    KernelPlan k = start(last);
    for (size_t i = first; i < first + members.size(); ++i)
      for (const Buffer &b : items[i].allocations)
        if (std::find(k.allocations.begin(), k.allocations.end(), b) == k.allocations.end())
          k.allocations.push_back(b);
    k.schedule = GpuScheduleKind::Rows;
    RowGroup g;
    g.row = makeVar("row", Type::i64(), VarKind::Let);
    g.rowCount = product(extents);
    g.rowLength = members[0].red.inner.loops[0]->extent;
    // The row lets: decompose `row` into the outer variables (row-major).
    {
      size_t n = rowVars.size();
      std::vector<Expr> strides(n);
      Expr stride = intImm(1);
      for (size_t v = n; v-- > 0;) {
        strides[v] = stride;
        stride = mulFold(extents[v], stride);
      }
      Expr rest = ref(g.row);
      for (size_t v = 0; v < n; ++v) {
        Expr index = v + 1 < n ? Binary::make(BinaryOp::FloorDiv, rest, strides[v]) : rest;
        g.rowLets.push_back({rowVars[v], index});
        if (v + 1 < n)
          rest = sub(rest, mulFold(ref(rowVars[v]), strides[v]));
      }
    }
    g.rowIndex = rowLinear;
    g.buffers = rowBuffers(first, members, rowLinear);
    std::map<const BufferNode *, Buffer> rowLocal;
    for (const RowBuffer &rb : g.buffers)
      rowLocal[rb.global.get()] = rb.local;
    // Rows of ((S - 1) * L, S * L] points for S = 32, 16, 8 (fewer slots with more buffers, to
    // stay clear of spills) stay in registers; all row buffers must have the row's length.
    size_t n = g.buffers.size();
    g.registerSlots = n <= 2 ? 32 : n <= 4 ? 16 : n <= 8 ? 8 : 0;
    for (const RowBuffer &rb : g.buffers)
      if (!equal(rb.length, g.rowLength))
        g.registerSlots = 0;
    if (g.buffers.empty())
      g.registerSlots = 0; // Nothing to keep in registers.
    RowAccess rewrite(rowLocal, rowLinear);
    // Per-row values written and read only here, always at `row`: registers.
    {
      std::set<const BufferNode *> outside = outsideBuffers(first, members.size());
      // In first-access order, so that the emitted code (and its cache key) is the same in
      // every run.
      std::vector<std::pair<Buffer, bool>> seen; // (buffer, accessed only at the row)
      for (const RowMember &m : members) {
        Accesses a = accessesOf(m.body);
        for (const auto &acc : a.list) {
          if (a.local.count(acc.buffer.get()) || rowLocal.count(acc.buffer.get()))
            continue;
          auto entry = std::find_if(seen.begin(), seen.end(),
                                    [&](const auto &e) { return e.first == acc.buffer; });
          if (entry == seen.end())
            entry = seen.insert(seen.end(), {acc.buffer, true});
          entry->second = entry->second && equal(acc.index, rowLinear);
        }
      }
      for (const auto &[b, onlyAtRow] : seen) {
        const BufferNode *node = b.get();
        if (!onlyAtRow || outside.count(node) || b->role != BufferRole::Intermediate)
          continue;
        bool written = false;
        for (const RowMember &m : members)
          written |= accessesOf(m.body).stored().count(node) > 0;
        if (!written)
          continue;
        Buffer reg = makeBuffer(b->name + ".r", b->dtype, {intImm(1)}, BufferRole::Intermediate);
        rewrite.scalars[node] = reg;
        g.registers.push_back(reg);
        // No longer memory: the kernel neither takes nor allocates it.
        std::erase(k.allocations, b);
      }
    }
    for (const RowMember &m : members) {
      if (m.perRow) { // Every thread of the row holds the reduction's value: all compute it.
        RowItem &reduction = g.items.back();
        reduction.post = Block::make({reduction.post, rewrite.mutate(m.body)});
        continue;
      }
      RowItem ri;
      ri.reduction = m.reduction;
      const Chain &inner = m.reduction ? m.red.inner : m.inner;
      ri.q = makeVar(inner.loops[0]->var->name, Type::i64(), VarKind::Let);
      ri.innerCount = inner.loops[0]->extent;
      ri.inner = substitute(inner.body, {{inner.loops[0]->var, ref(ri.q)}});
      rewrite.q = ri.q;
      if (m.reduction) {
        ri.acc = m.red.acc;
        ri.op = m.red.op;
        ri.at = m.red.at;
        ri.argMax = m.red.argMax;
        ri.pre = rewrite.mutate(m.red.pre);
        ri.post = rewrite.mutate(m.red.post);
      }
      ri.inner = rewrite.mutate(ri.inner);
      g.items.push_back(std::move(ri));
    }
    buildRows(k, g);
    return members.size();
  }
};

} // namespace

LoweredFunc scheduleForGpu(const LoweredFunc &func, const GpuTarget &target) {
  return Scheduler(func, target).run();
}

} // namespace tdsl::passes
