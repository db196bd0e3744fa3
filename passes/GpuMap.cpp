// Mapping loop nests onto a CUDA grid: flatten each top-level nest's parallel loops into one
// index and split it over blocks and threads. See GpuMap.h for the shape of the result.
#include "passes/GpuMap.h"

#include "ir/IRVisitor.h"
#include "support/Check.h"

#include <algorithm>
#include <set>

namespace tdsl::passes {

using namespace ir;

namespace {

/// The buffers a statement loads from and stores to, and those it allocates itself (private to
/// one iteration of an enclosing loop).
class AccessCollector : public IRVisitor {
public:
  std::set<const BufferNode *> loaded, stored, local;

protected:
  void visitLoad(const Load *n) override {
    loaded.insert(n->buffer.get());
    IRVisitor::visitLoad(n);
  }
  void visitStore(const Store *n) override {
    stored.insert(n->buffer.get());
    IRVisitor::visitStore(n);
  }
  void visitAllocate(const Allocate *n) override {
    local.insert(n->buffer.get());
    IRVisitor::visitAllocate(n);
  }
};

bool hasLoad(const Expr &e) {
  AccessCollector c;
  c.visit(e);
  return !c.loaded.empty();
}

/// A LetStmt that may stay outside the GPU nests: its value reads no memory, so each kernel can
/// recompute it (and the launcher can evaluate it on the host).
bool isWrapperLet(const LetStmt *let) { return !hasLoad(let->value); }

// Index arithmetic that folds constants, so that `E` and the divisors print simply.
Expr mulFold(const Expr &a, const Expr &b) {
  const IntImm *x = as<IntImm>(a), *y = as<IntImm>(b);
  int64_t product = 0;
  if (x && y && !__builtin_mul_overflow(x->value, y->value, &product))
    return intImm(product);
  if (x && x->value == 1)
    return b;
  if (y && y->value == 1)
    return a;
  return mul(a, b);
}

Expr addFold(const Expr &a, const Expr &b) {
  const IntImm *x = as<IntImm>(a), *y = as<IntImm>(b);
  int64_t sum = 0;
  if (x && y && !__builtin_add_overflow(x->value, y->value, &sum))
    return intImm(sum);
  if (y && y->value == 0)
    return a;
  return add(a, b);
}

Expr floorDiv(const Expr &a, const Expr &b) {
  const IntImm *x = as<IntImm>(a), *y = as<IntImm>(b);
  if (x && y && x->value >= 0 && y->value > 0)
    return intImm(x->value / y->value);
  if (y && y->value == 1)
    return a;
  return Binary::make(BinaryOp::FloorDiv, a, b);
}

class GpuMapper {
public:
  explicit GpuMapper(int threadsPerBlock) : threads(threadsPerBlock) {}

  Stmt mapTop(const Stmt &s) {
    if (const Block *b = s->as<Block>()) {
      std::vector<Stmt> stmts;
      for (const Stmt &child : b->stmts)
        stmts.push_back(mapTop(child));
      return Block::make(std::move(stmts));
    }
    if (const Allocate *a = s->as<Allocate>(); a && a->scope != MemoryScope::Stack)
      return Allocate::make(a->buffer, a->scope, mapTop(a->body));
    if (const LetStmt *l = s->as<LetStmt>(); l && isWrapperLet(l))
      return LetStmt::make(l->var, l->value, mapTop(l->body));
    if (const For *f = s->as<For>()) {
      if (f->kind == ForKind::GpuBlock)
        return s;
      if (f->kind == ForKind::Serial || f->kind == ForKind::Parallel)
        return mapNest(s);
    }
    return singleThread(s);
  }

private:
  int threads;

  static bool mappable(const For *f) {
    return f->kind == ForKind::Serial || f->kind == ForKind::Parallel;
  }

  Stmt singleThread(const Stmt &body) const {
    Var block = makeVar("block", Type::i64(), VarKind::Loop);
    Var thread = makeVar("thread", Type::i64(), VarKind::Loop);
    return For::make(block, intImm(1), ForKind::GpuBlock,
                     For::make(thread, intImm(1), ForKind::GpuThread, body));
  }

  Stmt mapNest(const Stmt &nest) const {
    // The perfectly nested parallelizable loops, outermost first. An extent that depends on an
    // enclosing loop of the chain (not produced today) ends the chain there.
    std::vector<const For *> loops;
    std::vector<Var> loopVars;
    Stmt body = nest;
    while (const For *f = as<For>(body)) {
      if (!mappable(f) || usesAny(f->extent, loopVars))
        break;
      loops.push_back(f);
      loopVars.push_back(f->var);
      body = f->body;
    }
    TDSL_CHECK(!loops.empty()) << "mapNest of a statement that is not a loop";

    // Iterations must be independent: a buffer both read and written by the nest (other than a
    // per-iteration local) could carry a dependence, so such a nest stays on one thread.
    AccessCollector access;
    access.visit(body);
    for (const BufferNode *b : access.stored)
      if (access.loaded.count(b) && !access.local.count(b))
        return singleThread(nest);

    // strides[k] = E(k+1) * ... * E(n-1); total = E0 * ... * E(n-1).
    size_t n = loops.size();
    std::vector<Expr> strides(n);
    Expr total = intImm(1);
    for (size_t k = n; k-- > 0;) {
      strides[k] = total;
      total = mulFold(loops[k]->extent, total);
    }

    Var block = makeVar("block", Type::i64(), VarKind::Loop);
    Var thread = makeVar("thread", Type::i64(), VarKind::Loop);
    Var flat = makeVar(n == 1 ? loops[0]->var->name : "flat", Type::i64(), VarKind::Let);
    Expr flatRef = ir::ref(flat);

    // Innermost first, so that each let wraps the ones after it.
    std::vector<std::pair<Var, Expr>> replacements;
    std::vector<std::pair<Var, Expr>> lets;
    if (n == 1) {
      replacements.push_back({loops[0]->var, flatRef});
    } else {
      // i_k = rest // stride_k, then rest -= i_k * stride_k: one division per dimension but the
      // last, rather than a division and a modulo each.
      Expr rest = flatRef;
      for (size_t k = 0; k < n; ++k) {
        Var v = makeVar(loops[k]->var->name, Type::i64(), VarKind::Let);
        Expr index = k + 1 < n ? floorDiv(rest, strides[k]) : rest;
        lets.push_back({v, index});
        replacements.push_back({loops[k]->var, ir::ref(v)});
        if (k + 1 < n)
          rest = sub(rest, mulFold(ir::ref(v), strides[k]));
      }
    }
    Stmt inner = substitute(body, replacements);
    for (size_t k = lets.size(); k-- > 0;)
      inner = LetStmt::make(lets[k].first, lets[k].second, inner);
    inner = IfThenElse::make(Binary::make(BinaryOp::Lt, flatRef, total), inner);

    Expr t = intImm(threads);
    inner = LetStmt::make(flat, addFold(mulFold(ir::ref(block), t), ir::ref(thread)), inner);
    Expr blocks = floorDiv(addFold(total, intImm(threads - 1)), t);
    return For::make(block, blocks, ForKind::GpuBlock,
                     For::make(thread, t, ForKind::GpuThread, inner));
  }
};

} // namespace

LoweredFunc mapToGpu(const LoweredFunc &func, int threadsPerBlock) {
  TDSL_CHECK(threadsPerBlock >= 1 && threadsPerBlock <= 1024)
      << "threads per block " << threadsPerBlock << " outside [1, 1024]";
  LoweredFunc result = func;
  result.body = GpuMapper(threadsPerBlock).mapTop(func.body);
  return result;
}

} // namespace tdsl::passes
