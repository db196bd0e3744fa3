// The verifiers of both IR levels. They re-check the typing rules that `make()` enforces (a pass
// could build a node directly), the nodes allowed at each level, variable scoping and buffer
// visibility. A failure is a compiler bug: it throws InternalError showing the offending node.
#include "ir/Verifier.h"

#include "ir/GpuFunc.h"
#include "ir/IRPrinter.h"
#include "support/Check.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <unordered_map>
#include <unordered_set>

// A check's message is built only when the check fails: the verifier runs after every pass of
// every compile, and concatenating the messages of the checks that hold cost a measurable share
// of a fast-tier compile.
#define TDSL_VERIFY(cond, ...) ((cond) ? void() : fail(__VA_ARGS__))
#define TDSL_VERIFY_HERE(cond, ...) ((cond) ? void() : failHere(__VA_ARGS__))
#define TDSL_VERIFY_IN(cond, ...) ((cond) ? void() : failIn(__VA_ARGS__))

namespace tdsl::ir {

namespace {

bool isStorageType(DType t) { return t == DType::F16 || t == DType::BF16; }

/// What both levels share: per-node typing, and the scope of variables.
class ExprChecker {
public:
  explicit ExprChecker(std::string where) : where(std::move(where)) {}

protected:
  [[noreturn]] void fail(const std::string &what, const Expr &node) {
    std::string msg = where + ": " + what;
    if (node)
      msg += "\n  in: " + toString(node);
    if (context)
      msg += "\n  within: " + toString(context);
    TDSL_UNREACHABLE(("verifier: " + msg).c_str());
  }

  /// Typing rules shared by both levels; children are checked by the caller.
  void checkTyping(const Expr &e) {
    const Type &t = e->type;
    switch (e->kind) {
    case ExprKind::IntImm:
      TDSL_VERIFY(t.isInt() || t.isBool(), "integer immediate of type " + t.str(), e);
      return;
    case ExprKind::FloatImm:
      TDSL_VERIFY(t.isFloat(), "float immediate of type " + t.str(), e);
      return;
    case ExprKind::VarRef: {
      const VarRef *n = e->as<VarRef>();
      TDSL_VERIFY(n->var != nullptr, "reference to a null variable", e);
      TDSL_VERIFY(
          n->var->type == t,
          "variable reference typed " + t.str() + " for a " + n->var->type.str() + " variable", e);
      return;
    }
    case ExprKind::Unary: {
      const Unary *n = e->as<Unary>();
      TDSL_VERIFY(n->a != nullptr, "null operand", e);
      TDSL_VERIFY(n->a->type == t, "unary result type differs from its operand", e);
      if (n->op == UnaryOp::Not)
        TDSL_VERIFY(t.isBool(), "not of " + t.str(), e);
      else
        TDSL_VERIFY(!t.isBool() && !isStorageType(t.dtype), "negation of " + t.str(), e);
      return;
    }
    case ExprKind::Binary: {
      const Binary *n = e->as<Binary>();
      TDSL_VERIFY(n->a && n->b, "null operand", e);
      TDSL_VERIFY(n->a->type == n->b->type,
                  "operands of different types " + n->a->type.str() + " and " + n->b->type.str(),
                  e);
      const Type &in = n->a->type;
      TDSL_VERIFY(!isStorageType(in.dtype),
                  "arithmetic on the storage type " + in.str() + " (cast to f32 first)", e);
      if (isComparison(n->op))
        TDSL_VERIFY(t == in.withDType(DType::Bool), "comparison typed " + t.str(), e);
      else if (n->op == BinaryOp::And || n->op == BinaryOp::Or)
        TDSL_VERIFY(t == in && t.isBool(), "and/or of " + in.str(), e);
      else
        TDSL_VERIFY(t == in && !t.isBool() && !(n->op == BinaryOp::Div && t.isInt()),
                    std::string("'") + std::string(opName(n->op)) + "' on " + in.str() +
                        " giving " + t.str(),
                    e);
      return;
    }
    case ExprKind::Call: {
      const Call *n = e->as<Call>();
      TDSL_VERIFY(n->args.size() == 1 && n->args[0], "intrinsic with a bad argument list", e);
      const Type &in = n->args[0]->type;
      TDSL_VERIFY(in == t, "intrinsic result type differs from its argument", e);
      TDSL_VERIFY(!isStorageType(t.dtype), "math on the storage type " + t.str(), e);
      if (n->fn == Intrinsic::Abs || n->fn == Intrinsic::Relu)
        TDSL_VERIFY(!t.isBool(), "abs/relu of bool", e);
      else
        TDSL_VERIFY(t.isFloat(), std::string(intrinsicName(n->fn)) + " of " + t.str(), e);
      return;
    }
    case ExprKind::Select: {
      const Select *n = e->as<Select>();
      TDSL_VERIFY(n->cond && n->a && n->b, "null operand", e);
      TDSL_VERIFY(n->a->type == t && n->b->type == t, "select arms typed differently", e);
      TDSL_VERIFY(n->cond->type == t.withDType(DType::Bool),
                  "select condition of type " + n->cond->type.str(), e);
      return;
    }
    case ExprKind::Cast: {
      const Cast *n = e->as<Cast>();
      TDSL_VERIFY(n->a != nullptr, "null operand", e);
      TDSL_VERIFY(n->a->type.lanes == t.lanes, "cast changes the number of lanes", e);
      return;
    }
    case ExprKind::Access: {
      const Access *n = e->as<Access>();
      TDSL_VERIFY(n->buffer != nullptr, "access to a null buffer", e);
      TDSL_VERIFY(n->indices.size() == n->buffer->shape.size(),
                  "access with " + std::to_string(n->indices.size()) + " indices to a rank-" +
                      std::to_string(n->buffer->shape.size()) + " tensor",
                  e);
      for (const Expr &i : n->indices)
        TDSL_VERIFY(i && i->type == Type::i64(), "access index that is not i64", e);
      TDSL_VERIFY(t == Type::scalar(n->buffer->dtype), "access typed " + t.str(), e);
      if (n->fallback)
        TDSL_VERIFY(n->fallback->type == t, "fallback of type " + n->fallback->type.str(), e);
      return;
    }
    case ExprKind::Reduce: {
      const Reduce *n = e->as<Reduce>();
      bool arg = isArgReduction(n->op);
      TDSL_VERIFY(n->body && (arg || n->body->type == t),
                  "reduction typed differently from its body", e);
      TDSL_VERIFY(!n->body->type.isVector(), "reduction of a vector", e);
      TDSL_VERIFY(!n->axes.empty(), "reduction over no axes", e);
      TDSL_VERIFY(!isStorageType(n->body->type.dtype),
                  "reduction in the storage type " + n->body->type.str(), e);
      if (arg)
        TDSL_VERIFY(t == Type::i64() && n->axes.size() == 1 && !n->body->type.isBool(),
                    "arg reduction not i64, of bool or over several axes", e);
      if (n->op == ReduceOp::Mean)
        TDSL_VERIFY(t.isFloat(), "mean of " + t.str(), e);
      for (const IterVar &iv : n->axes)
        TDSL_VERIFY(iv.var && iv.extent && iv.extent->type == Type::i64() &&
                        iv.var->type == Type::i64(),
                    "bad reduction axis", e);
      return;
    }
    case ExprKind::Load: {
      const Load *n = e->as<Load>();
      TDSL_VERIFY(n->buffer && n->index, "incomplete load", e);
      TDSL_VERIFY(n->index->type.dtype == DType::I64, "load index of type " + n->index->type.str(),
                  e);
      TDSL_VERIFY((t == Type{n->buffer->dtype, n->index->type.lanes}),
                  "load typed " + t.str() + " from a " + std::string(dtypeName(n->buffer->dtype)) +
                      " buffer with index " + n->index->type.str(),
                  e);
      if (n->predicate)
        TDSL_VERIFY(n->predicate->type == t.withDType(DType::Bool),
                    "load predicate of type " + n->predicate->type.str(), e);
      return;
    }
    case ExprKind::Ramp: {
      const Ramp *n = e->as<Ramp>();
      TDSL_VERIFY(n->base && n->stride && !n->base->type.isVector() &&
                      n->base->type == n->stride->type,
                  "ramp of bad operands", e);
      TDSL_VERIFY(n->lanes > 1 && t == n->base->type.withLanes(n->lanes), "ramp typed " + t.str(),
                  e);
      return;
    }
    case ExprKind::Broadcast: {
      const Broadcast *n = e->as<Broadcast>();
      TDSL_VERIFY(n->value && !n->value->type.isVector(), "broadcast of a vector", e);
      TDSL_VERIFY(n->lanes > 1 && t == n->value->type.withLanes(n->lanes),
                  "broadcast typed " + t.str(), e);
      return;
    }
    case ExprKind::VectorReduce: {
      const VectorReduce *n = e->as<VectorReduce>();
      TDSL_VERIFY(n->value && n->value->type.isVector(), "vector reduction of a scalar", e);
      TDSL_VERIFY(n->op != ReduceOp::Mean && !isArgReduction(n->op), "vector mean or arg reduction",
                  e);
      TDSL_VERIFY(t == n->value->type.element(), "vector reduction typed " + t.str(), e);
      TDSL_VERIFY(!isStorageType(t.dtype), "reduction in the storage type " + t.str(), e);
      return;
    }
    case ExprKind::WarpShuffle: {
      const WarpShuffle *n = e->as<WarpShuffle>();
      TDSL_VERIFY(n->value && !n->value->type.isVector() && t == n->value->type,
                  "warp shuffle typed " + t.str(), e);
      TDSL_VERIFY(n->xorMask >= 1 && n->xorMask <= 31, "warp shuffle mask out of range", e);
      return;
    }
    case ExprKind::BufferAligned: {
      const BufferAligned *n = e->as<BufferAligned>();
      TDSL_VERIFY(n->buffer && t == Type::boolean() && n->bytes > 0 &&
                      (n->bytes & (n->bytes - 1)) == 0,
                  "bad alignment test", e);
      return;
    }
    case ExprKind::Shuffle: {
      const Shuffle *n = e->as<Shuffle>();
      TDSL_VERIFY(n->a && n->b && n->a->type.isVector() && n->a->type == n->b->type,
                  "shuffle of bad operands", e);
      TDSL_VERIFY(t == n->a->type.withLanes(static_cast<int>(n->indices.size())),
                  "shuffle typed " + t.str(), e);
      for (int i : n->indices)
        TDSL_VERIFY(i >= 0 && i < 2 * n->a->type.lanes, "shuffle index out of range", e);
      return;
    }
    }
  }

  std::string where;
  Expr context; // The whole expression being checked, shown with a failure.
};

// ---------------------------------------------------------------------------------------------
// Tensor level.

class KernelVerifier : ExprChecker {
public:
  explicit KernelVerifier(const Kernel &k) : ExprChecker("kernel " + k.name), kernel(k) {}

  void run() {
    for (const Var &s : kernel.symbols) {
      TDSL_VERIFY_HERE(s && s->kind == VarKind::Symbol && s->type == Type::i64(),
                       "symbol " + (s ? s->name : "<null>") + " is not an i64 shape symbol");
      TDSL_VERIFY_HERE(symbols.insert(s.get()).second, "symbol " + s->name + " listed twice");
    }
    for (const Buffer &b : kernel.inputs) {
      TDSL_VERIFY_HERE(b && b->role == BufferRole::Input,
                       "input " + (b ? b->name : "<null>") + " does not have the Input role");
      TDSL_VERIFY_HERE(all.insert(b.get()).second, "buffer " + b->name + " listed twice");
      for (const Expr &d : b->shape) {
        const VarRef *v = d->as<VarRef>();
        TDSL_VERIFY_HERE(d->as<IntImm>() || (v && symbols.count(v->var.get())),
                         "input " + b->name + " has dim " + toString(d) +
                             ", neither a literal nor a kernel symbol");
      }
      readable.insert(b.get());
    }
    for (const Buffer &b : kernel.outputs) {
      TDSL_VERIFY_HERE(b && b->role == BufferRole::Output,
                       "output " + (b ? b->name : "<null>") + " does not have the Output role");
      TDSL_VERIFY_HERE(all.insert(b.get()).second, "buffer " + b->name + " listed twice");
      for (const Expr &d : b->shape)
        checkShapeExpr(d, "dim of output " + b->name);
    }
    for (const GatherCheck &c : kernel.checks) {
      const Buffer &b = c.result;
      TDSL_VERIFY_HERE(b && b->role == BufferRole::Output && b->dtype == DType::I64 &&
                           b->shape.empty(),
                       "the result of a gather check is not an i64 scalar output");
      TDSL_VERIFY_HERE(all.insert(b.get()).second, "buffer " + b->name + " listed twice");
      TDSL_VERIFY_HERE(c.gathered && c.dim < c.gathered->shape.size(),
                       "gather check of " + b->name + " names no dim of a tensor");
    }
    for (const Definition &d : kernel.defs)
      checkDefinition(d);
    for (const Buffer &b : kernel.outputs)
      TDSL_VERIFY_HERE(defined.count(b.get()), "output " + b->name + " is never defined");
    for (const GatherCheck &c : kernel.checks)
      TDSL_VERIFY_HERE(defined.count(c.result.get()),
                       "gather check " + c.result->name + " is never defined");
  }

private:
  [[noreturn]] void failHere(const std::string &what) {
    TDSL_UNREACHABLE(("verifier: " + where + ": " + what).c_str());
  }

  /// An i64 expression over the kernel's symbols only.
  void checkShapeExpr(const Expr &e, const std::string &what) {
    TDSL_VERIFY_HERE(e != nullptr, what + " is null");
    context = e;
    check(e);
    context = nullptr;
    TDSL_VERIFY_HERE(e->type == Type::i64(), what + " " + toString(e) + " is not i64");
    TDSL_VERIFY_HERE(!hasAccessOrReduce(e), what + " " + toString(e) + " reads a tensor");
  }

  static bool hasAccessOrReduce(const Expr &e) {
    if (!e)
      return false;
    switch (e->kind) {
    case ExprKind::Access:
    case ExprKind::Reduce:
      return true;
    case ExprKind::Unary:
      return hasAccessOrReduce(e->as<Unary>()->a);
    case ExprKind::Binary:
      return hasAccessOrReduce(e->as<Binary>()->a) || hasAccessOrReduce(e->as<Binary>()->b);
    case ExprKind::Select:
      return hasAccessOrReduce(e->as<Select>()->cond) || hasAccessOrReduce(e->as<Select>()->a) ||
             hasAccessOrReduce(e->as<Select>()->b);
    case ExprKind::Cast:
      return hasAccessOrReduce(e->as<Cast>()->a);
    case ExprKind::Call:
      return hasAccessOrReduce(e->as<Call>()->args[0]);
    default:
      return false;
    }
  }

  static bool sameExpr(const Expr &a, const Expr &b) {
    if (a == b)
      return true;
    if (!a || !b || a->kind != b->kind || !(a->type == b->type))
      return false;
    switch (a->kind) {
    case ExprKind::IntImm:
      return a->as<IntImm>()->value == b->as<IntImm>()->value;
    case ExprKind::VarRef:
      return a->as<VarRef>()->var == b->as<VarRef>()->var;
    case ExprKind::Unary:
      return a->as<Unary>()->op == b->as<Unary>()->op &&
             sameExpr(a->as<Unary>()->a, b->as<Unary>()->a);
    case ExprKind::Binary:
      return a->as<Binary>()->op == b->as<Binary>()->op &&
             sameExpr(a->as<Binary>()->a, b->as<Binary>()->a) &&
             sameExpr(a->as<Binary>()->b, b->as<Binary>()->b);
    case ExprKind::Select:
      return sameExpr(a->as<Select>()->cond, b->as<Select>()->cond) &&
             sameExpr(a->as<Select>()->a, b->as<Select>()->a) &&
             sameExpr(a->as<Select>()->b, b->as<Select>()->b);
    case ExprKind::Cast:
      return sameExpr(a->as<Cast>()->a, b->as<Cast>()->a);
    default:
      return false;
    }
  }

  void checkDefinition(const Definition &d) {
    where = "kernel " + kernel.name + ", definition of " + (d.target ? d.target->name : "<null>");
    TDSL_VERIFY_HERE(d.target != nullptr, "null target");
    const Buffer &t = d.target;
    TDSL_VERIFY_HERE(t->role != BufferRole::Input, "writes the input " + t->name);
    TDSL_VERIFY_HERE(defined.insert(t.get()).second, t->name + " is defined twice");
    if (t->role == BufferRole::Intermediate)
      TDSL_VERIFY_HERE(all.insert(t.get()).second,
                       "intermediate " + t->name + " is also a parameter");
    else
      TDSL_VERIFY_HERE(all.count(t.get()),
                       "output " + t->name + " is not one of the kernel's outputs");
    TDSL_VERIFY_HERE(d.indices.size() == t->shape.size(),
                     std::to_string(d.indices.size()) + " indices for a rank-" +
                         std::to_string(t->shape.size()) + " tensor");
    scope.clear();
    for (size_t i = 0; i < d.indices.size(); ++i) {
      const IterVar &iv = d.indices[i];
      TDSL_VERIFY_HERE(iv.var && iv.var->type == Type::i64(), "index variable that is not i64");
      TDSL_VERIFY_HERE(iv.var->kind == VarKind::Index,
                       "index " + iv.var->name + " is not an Index var");
      checkShapeExpr(iv.extent, "extent of " + iv.var->name);
      TDSL_VERIFY_HERE(sameExpr(iv.extent, t->shape[i]),
                       "extent " + toString(iv.extent) + " of index " + iv.var->name +
                           " differs from dim " + std::to_string(i) + " of " + t->name + " (" +
                           toString(t->shape[i]) + ")");
    }
    for (const IterVar &iv : d.indices)
      TDSL_VERIFY_HERE(scope.insert(iv.var.get()).second && !symbols.count(iv.var.get()),
                       "index " + iv.var->name + " bound twice");
    TDSL_VERIFY_HERE(d.value != nullptr, "null value");
    TDSL_VERIFY_HERE(d.value->type == Type::scalar(t->dtype),
                     "value of type " + d.value->type.str() + " stored into " +
                         std::string(dtypeName(t->dtype)) + " tensor " + t->name + ": " +
                         toString(d.value));
    context = d.value;
    check(d.value);
    context = nullptr;
    readable.insert(t.get());
  }

  void check(const Expr &e) {
    TDSL_VERIFY(e != nullptr, "null expression", e);
    checkTyping(e);
    TDSL_VERIFY(!e->type.isVector(), "vector type " + e->type.str() + " at the tensor level", e);
    switch (e->kind) {
    case ExprKind::IntImm:
    case ExprKind::FloatImm:
      return;
    case ExprKind::VarRef: {
      const VarNode *v = e->as<VarRef>()->var.get();
      TDSL_VERIFY(
          symbols.count(v) || scope.count(v),
          "variable " + v->name + " is not bound here (not a symbol nor an enclosing index)", e);
      return;
    }
    case ExprKind::Unary:
      return check(e->as<Unary>()->a);
    case ExprKind::Binary:
      check(e->as<Binary>()->a);
      return check(e->as<Binary>()->b);
    case ExprKind::Call:
      return check(e->as<Call>()->args[0]);
    case ExprKind::Select:
      check(e->as<Select>()->cond);
      check(e->as<Select>()->a);
      return check(e->as<Select>()->b);
    case ExprKind::Cast:
      return check(e->as<Cast>()->a);
    case ExprKind::Access: {
      const Access *n = e->as<Access>();
      TDSL_VERIFY(readable.count(n->buffer.get()),
                  "reads " + n->buffer->name + ", which is neither an input nor defined earlier",
                  e);
      for (const Expr &i : n->indices)
        check(i);
      if (n->fallback)
        check(n->fallback);
      return;
    }
    case ExprKind::Reduce: {
      const Reduce *n = e->as<Reduce>();
      // Extents may use the enclosing indices (a triangular reduction), not its own axes.
      for (const IterVar &iv : n->axes)
        check(iv.extent);
      std::vector<const VarNode *> added;
      for (const IterVar &iv : n->axes) {
        TDSL_VERIFY(iv.var->kind == VarKind::Index,
                    "reduction variable " + iv.var->name + " is not an Index var", e);
        TDSL_VERIFY(scope.insert(iv.var.get()).second && !symbols.count(iv.var.get()),
                    "reduction variable " + iv.var->name + " is already bound", e);
        added.push_back(iv.var.get());
      }
      check(n->body);
      for (const VarNode *v : added)
        scope.erase(v);
      return;
    }
    case ExprKind::Load:
    case ExprKind::Ramp:
    case ExprKind::Broadcast:
    case ExprKind::VectorReduce:
    case ExprKind::Shuffle:
    case ExprKind::WarpShuffle:
    case ExprKind::BufferAligned:
      fail("loop-level node at the tensor level", e);
    }
  }

  const Kernel &kernel;
  std::unordered_set<const VarNode *> symbols, scope;
  std::unordered_set<const BufferNode *> all, readable, defined;
};

// ---------------------------------------------------------------------------------------------
// Loop level.

class FuncVerifier : ExprChecker {
public:
  explicit FuncVerifier(const LoweredFunc &f) : ExprChecker("func " + f.name), func(f) {}

  void run() {
    for (const Var &s : func.symbols) {
      TDSL_VERIFY_HERE(s && s->kind == VarKind::Symbol && s->type == Type::i64(),
                       "symbol " + (s ? s->name : "<null>") + " is not an i64 shape symbol");
      TDSL_VERIFY_HERE(scope.insert(s.get()).second, "symbol " + s->name + " listed twice");
    }
    bool seenOutput = false;
    for (const Buffer &b : func.params) {
      TDSL_VERIFY_HERE(b != nullptr, "null parameter");
      TDSL_VERIFY_HERE(b->role == BufferRole::Input || b->role == BufferRole::Output,
                       "parameter " + b->name + " is neither an input nor an output");
      TDSL_VERIFY_HERE(!(seenOutput && b->role == BufferRole::Input),
                       "input " + b->name + " comes after an output");
      seenOutput |= b->role == BufferRole::Output;
      TDSL_VERIFY_HERE(visible.insert(b.get()).second, "parameter " + b->name + " listed twice");
      for (const Expr &d : b->shape) {
        context = d;
        check(d);
        context = nullptr;
      }
    }
    TDSL_VERIFY_HERE(func.body != nullptr, "null body");
    // A func lowered for the GPU is its launches and nothing else.
    const Block *block = func.body->as<Block>();
    for (const Stmt &s : block ? block->stmts : std::vector<Stmt>{func.body})
      if (s)
        topLevel.insert(s.get());
    size_t launches = std::count_if(topLevel.begin(), topLevel.end(), [](const StmtNode *s) {
      return s->kind == StmtKind::GpuLaunch;
    });
    TDSL_VERIFY_HERE(launches == 0 || launches == topLevel.size(),
                     "GPU launches beside other top-level statements");
    check(func.body);
  }

private:
  [[noreturn]] void failHere(const std::string &what) {
    TDSL_UNREACHABLE(("verifier: " + where + ": " + what).c_str());
  }
  [[noreturn]] void failIn(const std::string &what, const Stmt &s) {
    TDSL_UNREACHABLE(("verifier: " + where + ": " + what + "\n  in:\n" + toString(s, 2)).c_str());
  }

  void checkIn(const Expr &e, const Stmt &owner) {
    TDSL_VERIFY_IN(e != nullptr, "null expression", owner);
    context = e;
    check(e);
    context = nullptr;
  }

  void bind(const Var &v, const Stmt &s) {
    TDSL_VERIFY_IN(v != nullptr, "null variable", s);
    TDSL_VERIFY_IN(scope.insert(v.get()).second, "variable " + v->name + " is already bound", s);
  }

  void check(const Stmt &s) {
    TDSL_VERIFY_HERE(s != nullptr, "null statement");
    switch (s->kind) {
    case StmtKind::For: {
      const For *f = s->as<For>();
      TDSL_VERIFY_IN(f->extent && f->extent->type == Type::i64() && f->var &&
                         f->var->type == Type::i64() && f->body,
                     "for loop with a non-i64 counter or extent", s);
      checkIn(f->extent, s);
      checkGpuLoop(f, s);
      bind(f->var, s);
      bool outerBlock = inGpuBlock, outerThread = inGpuThread;
      inGpuBlock |= f->kind == ForKind::GpuBlock;
      inGpuThread |= f->kind == ForKind::GpuThread;
      check(f->body);
      inGpuBlock = outerBlock;
      inGpuThread = outerThread;
      scope.erase(f->var.get());
      return;
    }
    case StmtKind::Barrier:
      TDSL_VERIFY_IN(inGpuThread, "barrier outside a gpu_thread loop", s);
      return;
    case StmtKind::GpuIntrinsic:
      return checkGpuIntrinsic(s->as<GpuIntrinsic>(), s);
    case StmtKind::GpuLaunch:
      return checkGpuLaunch(s->as<GpuLaunch>(), s);
    case StmtKind::Block:
      for (const Stmt &c : s->as<Block>()->stmts)
        check(c);
      return;
    case StmtKind::Store: {
      const Store *st = s->as<Store>();
      TDSL_VERIFY_IN(st->buffer && st->index && st->value, "incomplete store", s);
      TDSL_VERIFY_IN(
          visible.count(st->buffer.get()),
          "store to " + st->buffer->name + ", which is neither a parameter nor allocated here", s);
      TDSL_VERIFY_IN(st->buffer->role != BufferRole::Input,
                     "store to the input " + st->buffer->name, s);
      TDSL_VERIFY_IN(st->value->type.dtype == st->buffer->dtype,
                     "store of " + st->value->type.str() + " into " +
                         std::string(dtypeName(st->buffer->dtype)) + " buffer " + st->buffer->name,
                     s);
      TDSL_VERIFY_IN(st->index->type == st->value->type.withDType(DType::I64),
                     "store index of type " + st->index->type.str() + " for a value of type " +
                         st->value->type.str(),
                     s);
      if (st->predicate)
        TDSL_VERIFY_IN(st->predicate->type == st->value->type.withDType(DType::Bool),
                       "store predicate of type " + st->predicate->type.str(), s);
      checkIn(st->index, s);
      checkIn(st->value, s);
      if (st->predicate)
        checkIn(st->predicate, s);
      return;
    }
    case StmtKind::Allocate: {
      const Allocate *a = s->as<Allocate>();
      TDSL_VERIFY_IN(a->buffer && a->body, "incomplete allocate", s);
      TDSL_VERIFY_IN(a->buffer->role == BufferRole::Intermediate,
                     "allocation of " + a->buffer->name + ", which is not an intermediate", s);
      // Shared memory belongs to a block: allocated once for all its threads.
      if (a->scope == MemoryScope::Shared)
        TDSL_VERIFY_IN(inGpuBlock && !inGpuThread,
                       "shared allocation of " + a->buffer->name + " outside a block's scope", s);
      for (const Expr &d : a->buffer->shape)
        checkIn(d, s);
      TDSL_VERIFY_IN(visible.insert(a->buffer.get()).second,
                     "buffer " + a->buffer->name + " is already visible here", s);
      scopes[a->buffer.get()] = a->scope;
      check(a->body);
      visible.erase(a->buffer.get());
      scopes.erase(a->buffer.get());
      return;
    }
    case StmtKind::LetStmt: {
      const LetStmt *l = s->as<LetStmt>();
      TDSL_VERIFY_IN(l->var && l->value && l->body, "incomplete let", s);
      TDSL_VERIFY_IN(l->var->type == l->value->type,
                     "let " + l->var->name + " of type " + l->var->type.str() + " bound to " +
                         l->value->type.str(),
                     s);
      letValue = l->value.get();
      checkIn(l->value, s);
      letValue = nullptr;
      bind(l->var, s);
      check(l->body);
      scope.erase(l->var.get());
      return;
    }
    case StmtKind::IfThenElse: {
      const IfThenElse *i = s->as<IfThenElse>();
      TDSL_VERIFY_IN(i->cond && i->thenCase, "incomplete if", s);
      TDSL_VERIFY_IN(i->cond->type == Type::boolean(),
                     "if condition of type " + i->cond->type.str(), s);
      checkIn(i->cond, s);
      check(i->thenCase);
      if (i->elseCase)
        check(i->elseCase);
      return;
    }
    }
  }

  void check(const Expr &e) {
    TDSL_VERIFY(e != nullptr, "null expression", e);
    checkTyping(e);
    switch (e->kind) {
    case ExprKind::IntImm:
    case ExprKind::FloatImm:
      return;
    case ExprKind::VarRef: {
      const VarNode *v = e->as<VarRef>()->var.get();
      TDSL_VERIFY(scope.count(v),
                  "variable " + v->name + " is not bound here (not a symbol, loop or let)", e);
      return;
    }
    case ExprKind::Unary:
      return check(e->as<Unary>()->a);
    case ExprKind::Binary:
      check(e->as<Binary>()->a);
      return check(e->as<Binary>()->b);
    case ExprKind::Call:
      return check(e->as<Call>()->args[0]);
    case ExprKind::Select:
      check(e->as<Select>()->cond);
      check(e->as<Select>()->a);
      return check(e->as<Select>()->b);
    case ExprKind::Cast:
      return check(e->as<Cast>()->a);
    case ExprKind::Load: {
      const Load *n = e->as<Load>();
      TDSL_VERIFY(
          visible.count(n->buffer.get()),
          "load from " + n->buffer->name + ", which is neither a parameter nor allocated here", e);
      check(n->index);
      if (n->predicate)
        check(n->predicate);
      return;
    }
    case ExprKind::Ramp:
      check(e->as<Ramp>()->base);
      return check(e->as<Ramp>()->stride);
    case ExprKind::Broadcast:
      return check(e->as<Broadcast>()->value);
    case ExprKind::VectorReduce:
      return check(e->as<VectorReduce>()->value);
    case ExprKind::Shuffle:
      check(e->as<Shuffle>()->a);
      return check(e->as<Shuffle>()->b);
    case ExprKind::WarpShuffle:
      TDSL_VERIFY(inGpuThread, "warp shuffle outside a gpu_thread loop", e);
      // Every lane of the warp must run it: inside an expression, `a || shuffle(b)` or a select
      // could skip it on some lanes.
      TDSL_VERIFY(e.get() == letValue, "warp shuffle that is not a let's whole value", e);
      return check(e->as<WarpShuffle>()->value);
    case ExprKind::BufferAligned: {
      const Buffer &b = e->as<BufferAligned>()->buffer;
      TDSL_VERIFY(visible.count(b.get()), "alignment of " + b->name + ", which is not visible here",
                  e);
      return;
    }
    case ExprKind::Access:
    case ExprKind::Reduce:
      fail("tensor-level node at the loop level", e);
    }
  }

  /// A GPU intrinsic: inside a gpu_thread loop, its operands visible, of the op's number, dtypes
  /// and memory scopes (see GpuIntrinsic), at i64 offsets.
  void checkGpuIntrinsic(const GpuIntrinsic *g, const Stmt &s) {
    TDSL_VERIFY_IN(inGpuThread, "GPU intrinsic outside a gpu_thread loop", s);
    TDSL_VERIFY_IN(g->buffers.size() == g->offsets.size(), "GPU intrinsic operands without offsets",
                   s);
    for (size_t i = 0; i < g->buffers.size(); ++i) {
      const Buffer &b = g->buffers[i];
      TDSL_VERIFY_IN(b && visible.count(b.get()), "GPU intrinsic operand not visible here", s);
      TDSL_VERIFY_IN(g->offsets[i] && g->offsets[i]->type == Type::i64(),
                     "GPU intrinsic offset of " + b->name + " not an i64", s);
      checkIn(g->offsets[i], s);
    }
    auto in = [&](size_t i, std::optional<MemoryScope> scope) {
      auto it = scopes.find(g->buffers[i].get());
      return scope ? it != scopes.end() && it->second == *scope : it == scopes.end();
    };
    auto half = [&](size_t i) {
      DType t = g->buffers[i]->dtype;
      return (t == DType::BF16 || t == DType::F16) && t == g->buffers.back()->dtype;
    };
    const std::string name(gpuOpName(g->op));
    auto operands = [&](size_t n) {
      TDSL_VERIFY_IN(g->buffers.size() == n,
                     name + " with other than " + std::to_string(n) + " operands", s);
    };
    const auto stack = MemoryScope::Stack, shared = MemoryScope::Shared;
    switch (g->op) {
    case GpuOp::MmaSync:
    case GpuOp::Wgmma:
      operands(3);
      TDSL_VERIFY_IN(g->buffers[0]->dtype == DType::F32 && half(1) && half(2),
                     name + " operands not f32 += (bf16|f16) x the same", s);
      if (g->op == GpuOp::MmaSync)
        TDSL_VERIFY_IN(in(0, stack) && in(1, stack) && in(2, stack),
                       "mma_sync operands not stack fragments", s);
      else
        TDSL_VERIFY_IN(in(0, stack) && in(1, shared) && in(2, shared) &&
                           (g->immediate == 0 || g->immediate == 1),
                       "wgmma operands not stack accumulators and shared tiles", s);
      return;
    case GpuOp::CopyAsync:
    case GpuOp::StoreSwizzled:
      operands(2);
      // cp.async reads global memory: a parameter or a heap intermediate (a device allocation).
      TDSL_VERIFY_IN(half(0) && half(1) && in(0, shared) &&
                         (g->op == GpuOp::CopyAsync
                              ? in(1, std::nullopt) || in(1, MemoryScope::Heap)
                              : in(1, stack)),
                     name + " operands not a shared tile and 16-bit " +
                         (g->op == GpuOp::CopyAsync ? "global memory" : "stack values"),
                     s);
      return;
    case GpuOp::CommitAsync:
    case GpuOp::FenceAsync:
    case GpuOp::WgmmaCommit:
      operands(0);
      return;
    case GpuOp::WaitAsync:
      operands(0);
      TDSL_VERIFY_IN(g->immediate >= 0, "cp_async_wait for a negative count", s);
      return;
    case GpuOp::WgmmaFence:
    case GpuOp::WgmmaWait:
      operands(1);
      TDSL_VERIFY_IN(g->buffers[0]->dtype == DType::F32 && in(0, stack) && g->immediate >= 0,
                     name + " on other than stack f32 accumulators", s);
      return;
    case GpuOp::Dp4a: {
      operands(3);
      auto global = [&](size_t i) {
        return g->buffers[i]->dtype == DType::I8 &&
               (in(i, std::nullopt) || in(i, MemoryScope::Heap));
      };
      TDSL_VERIFY_IN(g->buffers[0]->dtype == DType::I32 && in(0, stack) && global(1) && global(2),
                     "dp4a operands not a stack i32 += i8 x i8 of global memory", s);
      return;
    }
    case GpuOp::RoundPair:
      operands(2);
      TDSL_VERIFY_IN((g->buffers[0]->dtype == DType::BF16 || g->buffers[0]->dtype == DType::F16) &&
                         g->buffers[1]->dtype == DType::F32 && in(0, stack) && in(1, stack),
                     "round_pair operands not stack 16-bit values from stack f32 values", s);
      return;
    case GpuOp::LoadMatrix:
    case GpuOp::LoadMatrixTrans:
      operands(2);
      TDSL_VERIFY_IN(half(0) && half(1) && in(0, stack) && in(1, shared) && g->immediate == 4,
                     name + " operands not 4 matrices of a shared 16-bit tile into stack values "
                            "of its type",
                     s);
      return;
    case GpuOp::Exp2Approx:
    case GpuOp::MaxNaN:
      operands(2);
      TDSL_VERIFY_IN(g->buffers[0]->dtype == DType::F32 && g->buffers[1]->dtype == DType::F32 &&
                         in(0, stack) && in(1, stack),
                     name + " operands not stack f32 values", s);
      return;
    }
    TDSL_VERIFY_IN(false, "unknown GPU intrinsic", s);
  }

  /// A launch is a top-level statement with a unique identifier for a name, one-line details,
  /// and a body of lets and heap allocations around one gpu_block loop.
  void checkGpuLaunch(const GpuLaunch *l, const Stmt &s) {
    TDSL_VERIFY_IN(topLevel.count(l),
                   "GPU launch " + l->name + " that is not a top-level statement", s);
    bool identifier = !std::isdigit(static_cast<unsigned char>(l->name[0]));
    for (char c : l->name)
      identifier &= std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    TDSL_VERIFY_IN(identifier, "GPU launch named '" + l->name + "', not an identifier", s);
    TDSL_VERIFY_IN(launchNames.insert(l->name).second, "two GPU launches named " + l->name, s);
    for (const std::string &d : l->details)
      TDSL_VERIFY_IN(!d.empty() && d.find('\n') == std::string::npos,
                     "GPU launch " + l->name + " with a detail that is not one line", s);
    TDSL_VERIFY_IN(blockLoop(l) != nullptr,
                   "GPU launch " + l->name +
                       " whose body is not lets and heap allocations around a "
                       "gpu_block loop",
                   s);
    check(l->body);
    if (!l->condition)
      return;
    // The launcher evaluates the condition as it does the grid: over the symbols and the lets.
    TDSL_VERIFY_IN(l->condition->type == Type::boolean(),
                   "GPU launch " + l->name + " whose condition is not a bool", s);
    std::vector<std::pair<Var, Expr>> lets = launchLets(l);
    for (const auto &[var, value] : lets)
      bind(var, s);
    checkIn(l->condition, s);
    for (const auto &[var, value] : lets)
      scope.erase(var.get());
  }

  /// A gpu_block loop is a kernel: never inside another GPU loop. A gpu_thread loop runs the
  /// block's threads: inside a gpu_block loop, not inside another gpu_thread loop, with a
  /// constant extent a block can have.
  void checkGpuLoop(const For *f, const Stmt &s) {
    if (f->kind == ForKind::GpuBlock)
      TDSL_VERIFY_IN(!inGpuBlock && !inGpuThread, "gpu_block loop inside a GPU loop", s);
    if (f->kind == ForKind::GpuThread) {
      TDSL_VERIFY_IN(inGpuBlock && !inGpuThread, "gpu_thread loop outside a gpu_block loop", s);
      const IntImm *t = as<IntImm>(f->extent);
      TDSL_VERIFY_IN(t && t->value >= 1 && t->value <= 1024,
                     "gpu_thread loop whose extent is not a constant in [1, 1024]", s);
    }
  }

  const LoweredFunc &func;
  std::unordered_set<const VarNode *> scope;
  std::unordered_set<const BufferNode *> visible;
  std::unordered_map<const BufferNode *, MemoryScope> scopes; // Of the allocations in scope.
  bool inGpuBlock = false, inGpuThread = false;
  std::unordered_set<const StmtNode *> topLevel; // The body's statements, looking through a Block.
  std::unordered_set<std::string> launchNames;
  const ExprNode *letValue = nullptr; // The value of the let being checked.
};

} // namespace

void verify(const Kernel &kernel) { KernelVerifier(kernel).run(); }

void verify(const LoweredFunc &func) { FuncVerifier(func).run(); }

} // namespace tdsl::ir
