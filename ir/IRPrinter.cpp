// The stable text forms of both IR levels. Golden tests compare this text, so every choice here
// (spacing, parentheses, literal spelling, name disambiguation) is part of the contract.
//
// Conventions:
//   - Expressions are infix with the language's precedences (or < and < not < comparisons <
//     + - < * / // % < unary - < ** < atoms) and only the parentheses that precedence and
//     associativity require. Binary Min and Max print as calls `min(a, b)`, Select as
//     `select(c, a, b)`, a Cast as `f32(x)` (a vector cast keeps its operand's lanes).
//   - Literals of the default types print bare: i64 `3`, f32 `0.5`, bool `true`. Any other type
//     carries a suffix: `3:i32`, `0.5:f64`, `1.0:f16`, `0.0:<16 x f32>` (a vector immediate).
//   - Floats print in the shortest form that reads back to the same value in their own type
//     (std::to_chars), always with a `.` or an exponent: `1.0`, `1e-05`, `inf`, `-inf`, `nan`.
//   - Variables and buffers are told apart by identity (pointer), within one printout: a
//     variable prints as its plain name unless a different variable of that name is in scope
//     where it is bound, and then as `i.1`, `i.2`... (the first free one). Scopes: a definition
//     (its indices), a reduction (its axes), For, LetStmt, and Allocate (for buffers, which
//     are named in their own namespace). So every definition may use `i` again, while a
//     reduction axis `k` nested in another `k`'s scope reads `k.1`.
#include "ir/IRPrinter.h"

#include "support/Check.h"

#include <charconv>
#include <cmath>
#include <unordered_map>

namespace tdsl::ir {

std::string_view opName(BinaryOp op) {
  switch (op) {
  case BinaryOp::Add:
    return "+";
  case BinaryOp::Sub:
    return "-";
  case BinaryOp::Mul:
    return "*";
  case BinaryOp::Div:
    return "/";
  case BinaryOp::FloorDiv:
    return "//";
  case BinaryOp::Mod:
    return "%";
  case BinaryOp::Pow:
    return "**";
  case BinaryOp::Min:
    return "min";
  case BinaryOp::Max:
    return "max";
  case BinaryOp::Eq:
    return "==";
  case BinaryOp::Ne:
    return "!=";
  case BinaryOp::Lt:
    return "<";
  case BinaryOp::Le:
    return "<=";
  case BinaryOp::Gt:
    return ">";
  case BinaryOp::Ge:
    return ">=";
  case BinaryOp::And:
    return "and";
  case BinaryOp::Or:
    return "or";
  }
  return "?";
}

std::string_view opName(UnaryOp op) { return op == UnaryOp::Neg ? "-" : "not"; }

std::string_view intrinsicName(Intrinsic fn) {
  switch (fn) {
  case Intrinsic::Exp:
    return "exp";
  case Intrinsic::Exp2:
    return "exp2";
  case Intrinsic::Log:
    return "log";
  case Intrinsic::Log2:
    return "log2";
  case Intrinsic::Sqrt:
    return "sqrt";
  case Intrinsic::Rsqrt:
    return "rsqrt";
  case Intrinsic::Sin:
    return "sin";
  case Intrinsic::Cos:
    return "cos";
  case Intrinsic::Tan:
    return "tan";
  case Intrinsic::Tanh:
    return "tanh";
  case Intrinsic::Sigmoid:
    return "sigmoid";
  case Intrinsic::Relu:
    return "relu";
  case Intrinsic::Abs:
    return "abs";
  case Intrinsic::Floor:
    return "floor";
  case Intrinsic::Ceil:
    return "ceil";
  case Intrinsic::Round:
    return "round";
  case Intrinsic::Erf:
    return "erf";
  }
  return "?";
}

std::string_view reduceName(ReduceOp op) {
  switch (op) {
  case ReduceOp::Sum:
    return "sum";
  case ReduceOp::Prod:
    return "prod";
  case ReduceOp::Max:
    return "max";
  case ReduceOp::Min:
    return "min";
  case ReduceOp::Mean:
    return "mean";
  case ReduceOp::ArgMax:
    return "argmax";
  case ReduceOp::ArgMin:
    return "argmin";
  }
  return "?";
}

std::string_view forKindName(ForKind kind) {
  switch (kind) {
  case ForKind::Serial:
    return "serial";
  case ForKind::Parallel:
    return "parallel";
  case ForKind::Vectorized:
    return "vectorized";
  case ForKind::Unrolled:
    return "unrolled";
  case ForKind::GpuBlock:
    return "gpu_block";
  case ForKind::GpuThread:
    return "gpu_thread";
  }
  return "?";
}

std::string_view scheduleName(GpuScheduleKind kind) {
  switch (kind) {
  case GpuScheduleKind::Generic:
    return "generic";
  case GpuScheduleKind::Vector:
    return "vector";
  case GpuScheduleKind::Permutation:
    return "permutation";
  case GpuScheduleKind::Rows:
    return "rows";
  case GpuScheduleKind::ReducePartials:
    return "reduce-partials";
  case GpuScheduleKind::ReduceFinal:
    return "reduce-final";
  case GpuScheduleKind::ColumnPartials:
    return "column-partials";
  case GpuScheduleKind::ColumnFinal:
    return "column-final";
  case GpuScheduleKind::Contraction:
    return "contraction";
  case GpuScheduleKind::FlashChain:
    return "flash-chain";
  }
  return "?";
}

std::string_view gpuOpName(GpuOp op) {
  switch (op) {
  case GpuOp::MmaSync:
    return "mma_sync";
  case GpuOp::CopyAsync:
    return "cp_async";
  case GpuOp::StoreSwizzled:
    return "st_swizzled";
  case GpuOp::CommitAsync:
    return "cp_async_commit";
  case GpuOp::WaitAsync:
    return "cp_async_wait";
  case GpuOp::FenceAsync:
    return "fence_async";
  case GpuOp::WgmmaFence:
    return "wgmma_fence";
  case GpuOp::Wgmma:
    return "wgmma";
  case GpuOp::WgmmaCommit:
    return "wgmma_commit";
  case GpuOp::WgmmaWait:
    return "wgmma_wait";
  case GpuOp::Dp4a:
    return "dp4a";
  case GpuOp::RoundPair:
    return "round_pair";
  case GpuOp::Exp2Approx:
    return "ex2_approx";
  case GpuOp::MaxNaN:
    return "max_nan";
  case GpuOp::LoadMatrix:
    return "ldmatrix";
  case GpuOp::LoadMatrixTrans:
    return "ldmatrix_trans";
  }
  return "?";
}

namespace {

std::string_view scopeName(MemoryScope scope) {
  switch (scope) {
  case MemoryScope::Stack:
    return "stack";
  case MemoryScope::Heap:
    return "heap";
  case MemoryScope::Shared:
    return "shared";
  }
  return "?";
}

// Precedence levels, lowest first, as in the language; Predicated marks `x[i] if (p)`, which
// needs parentheses anywhere but at the top of an expression or inside brackets.
enum Prec : int {
  Predicated = 0,
  POr = 1,
  PAnd = 2,
  PNot = 3,
  PCmp = 4,
  PAdd = 5,
  PMul = 6,
  PUnary = 7,
  PPow = 8,
  PAtom = 9,
};

int binaryPrec(BinaryOp op) {
  switch (op) {
  case BinaryOp::Or:
    return POr;
  case BinaryOp::And:
    return PAnd;
  case BinaryOp::Add:
  case BinaryOp::Sub:
    return PAdd;
  case BinaryOp::Mul:
  case BinaryOp::Div:
  case BinaryOp::FloorDiv:
  case BinaryOp::Mod:
    return PMul;
  case BinaryOp::Pow:
    return PPow;
  case BinaryOp::Min:
  case BinaryOp::Max:
    return PAtom;
  default:
    return PCmp;
  }
}

std::string formatFloat(double v, DType dtype) {
  if (std::isnan(v))
    return "nan";
  if (std::isinf(v))
    return v < 0 ? "-inf" : "inf";
  char buf[64];
  std::to_chars_result r = dtype == DType::F64
                               ? std::to_chars(buf, buf + sizeof buf, v)
                               : std::to_chars(buf, buf + sizeof buf, static_cast<float>(v));
  std::string s(buf, r.ptr);
  if (s.find_first_of(".e") == std::string::npos)
    s += ".0";
  return s;
}

/// Names by identity, scoped: a variable takes its plain name unless a different variable
/// holding that name is in scope, in which case it gets the first free `name.1`, `name.2`...
/// An owner keeps its name for the whole printout, so a variable always reads the same.
class Namer {
public:
  /// Names `owner` on entering its scope.
  const std::string &bind(const void *owner, const std::string &base) {
    auto it = names.find(owner);
    if (it != names.end()) {
      auto h = holders.find(it->second);
      if (h == holders.end() || h->second == owner) {
        holders[it->second] = owner;
        return it->second;
      }
    }
    std::string root = base.empty() ? "_" : base, n = root;
    for (int k = 1; holders.count(n); ++k)
      n = root + "." + std::to_string(k);
    holders[n] = owner;
    return names[owner] = n;
  }
  /// A reference: the owner's name, or a name held for the rest of the printout when it has no
  /// binder here (a symbol, a parameter, a free variable).
  const std::string &ref(const void *owner, const std::string &base) {
    auto it = names.find(owner);
    return it != names.end() ? it->second : bind(owner, base);
  }
  /// Leaves the owner's scope: its name may be given to another owner.
  void release(const void *owner) {
    auto it = names.find(owner);
    if (it == names.end())
      return;
    auto h = holders.find(it->second);
    if (h != holders.end() && h->second == owner)
      holders.erase(h);
  }

private:
  std::unordered_map<const void *, std::string> names;
  std::unordered_map<std::string, const void *> holders;
};

class Printer {
public:
  std::string var(const Var &v) { return v ? vars.ref(v.get(), v->name) : "<null var>"; }
  std::string bindVar(const Var &v) { return v ? vars.bind(v.get(), v->name) : "<null var>"; }
  void releaseVar(const Var &v) { vars.release(v.get()); }
  std::string buffer(const Buffer &b) { return b ? bufs.ref(b.get(), b->name) : "<null buffer>"; }

  std::string expr(const Expr &e, int minPrec = 0) {
    std::string out;
    print(e, minPrec, out);
    return out;
  }

  /// "f32[N, D]", or "f32" for 0-d.
  std::string bufferType(const Buffer &b) {
    std::string s(dtypeName(b->dtype));
    if (!b->shape.empty())
      s += "[" + exprList(b->shape) + "]";
    return s;
  }

  std::string exprList(const std::vector<Expr> &es) {
    std::string s;
    for (size_t i = 0; i < es.size(); ++i) {
      if (i)
        s += ", ";
      print(es[i], 0, s);
    }
    return s;
  }

  void stmt(const Stmt &s, int indent, std::string &out) {
    std::string pad(2 * indent, ' ');
    if (!s) {
      out += pad + "<null stmt>\n";
      return;
    }
    switch (s->kind) {
    case StmtKind::For: {
      const For *f = s->as<For>();
      std::string extent = expr(f->extent);
      out += pad + "for " + bindVar(f->var) + " in [0, " + extent + ") " +
             std::string(forKindName(f->kind)) + "\n";
      stmt(f->body, indent + 1, out);
      releaseVar(f->var);
      return;
    }
    case StmtKind::Block:
      for (const Stmt &c : s->as<Block>()->stmts)
        stmt(c, indent, out);
      return;
    case StmtKind::Store: {
      const Store *st = s->as<Store>();
      out += pad + buffer(st->buffer) + "[" + expr(st->index) + "] = ";
      if (st->predicate)
        out += expr(st->value, POr) + " if (" + expr(st->predicate) + ")";
      else
        out += expr(st->value);
      out += "\n";
      return;
    }
    case StmtKind::Allocate: {
      const Allocate *a = s->as<Allocate>();
      std::string type = a->buffer ? bufferType(a->buffer) : "?";
      out += pad + "allocate " + (a->buffer ? bufs.bind(a->buffer.get(), a->buffer->name) : "?") +
             ": " + type + " " + std::string(scopeName(a->scope)) + "\n";
      stmt(a->body, indent + 1, out);
      bufs.release(a->buffer.get());
      return;
    }
    case StmtKind::LetStmt: {
      const LetStmt *l = s->as<LetStmt>();
      // The value is printed before the variable is named, so `let x = x + 1` reads correctly.
      std::string value = expr(l->value);
      out += pad + "let " + bindVar(l->var) + " = " + value + "\n";
      stmt(l->body, indent + 1, out);
      releaseVar(l->var);
      return;
    }
    case StmtKind::Barrier:
      out += pad + (s->as<Barrier>()->scope == BarrierScope::Block ? "barrier" : "warp_barrier") +
             "\n";
      return;
    case StmtKind::GpuIntrinsic: {
      // mma_sync(d[at], a[at], b[at]): each operand's buffer at its offset, then the immediate
      // of the ops that have one.
      const GpuIntrinsic *g = s->as<GpuIntrinsic>();
      std::string operands;
      for (size_t i = 0; i < g->buffers.size(); ++i)
        operands += (i ? ", " : "") + buffer(g->buffers[i]) + "[" + expr(g->offsets[i]) + "]";
      if (g->op == GpuOp::WaitAsync || g->op == GpuOp::Wgmma || g->op == GpuOp::WgmmaWait ||
          g->op == GpuOp::LoadMatrix || g->op == GpuOp::LoadMatrixTrans)
        operands += (operands.empty() ? "" : ", ") + std::to_string(g->immediate);
      out += pad + std::string(gpuOpName(g->op)) + "(" + operands + ")\n";
      return;
    }
    case StmtKind::GpuLaunch: {
      // `launch f_k0: rows [when cond] [(2 blocks an SM)]`, the schedule's choices as comments,
      // then the kernel.
      const GpuLaunch *l = s->as<GpuLaunch>();
      out += pad + "launch " + l->name + ": " + std::string(scheduleName(l->schedule)) +
             (l->condition ? " when " + expr(l->condition) : "") +
             (l->blocksPerSm ? " (" + std::to_string(l->blocksPerSm) + " blocks an SM)" : "") +
             "\n";
      for (const std::string &d : l->details)
        out += pad + "  # " + d + "\n";
      stmt(l->body, indent + 1, out);
      return;
    }
    case StmtKind::IfThenElse: {
      const IfThenElse *i = s->as<IfThenElse>();
      out += pad + "if (" + expr(i->cond) + ")\n";
      stmt(i->thenCase, indent + 1, out);
      if (i->elseCase) {
        out += pad + "else\n";
        stmt(i->elseCase, indent + 1, out);
      }
      return;
    }
    }
  }

private:
  static int precOf(const Expr &e) {
    switch (e->kind) {
    case ExprKind::IntImm:
      return e->as<IntImm>()->value < 0 ? PUnary : PAtom;
    case ExprKind::FloatImm: {
      double v = e->as<FloatImm>()->value;
      return std::signbit(v) && !std::isnan(v) ? PUnary : PAtom;
    }
    case ExprKind::Unary:
      return e->as<Unary>()->op == UnaryOp::Neg ? PUnary : PNot;
    case ExprKind::Binary:
      return binaryPrec(e->as<Binary>()->op);
    case ExprKind::Load:
      return e->as<Load>()->predicate ? Predicated : PAtom;
    default:
      return PAtom;
    }
  }

  static std::string suffix(const Type &t, DType bare) {
    if (t.dtype == bare && !t.isVector())
      return "";
    return ":" + t.str();
  }

  void print(const Expr &e, int minPrec, std::string &out) {
    if (!e) {
      out += "<null>";
      return;
    }
    bool parens = precOf(e) < minPrec;
    if (parens)
      out += "(";
    printBare(e, out);
    if (parens)
      out += ")";
  }

  void printBare(const Expr &e, std::string &out) {
    switch (e->kind) {
    case ExprKind::IntImm: {
      const IntImm *n = e->as<IntImm>();
      if (n->type.isBool())
        out += n->value ? "true" : "false";
      else
        out += std::to_string(n->value);
      out += suffix(n->type, n->type.isBool() ? DType::Bool : DType::I64);
      return;
    }
    case ExprKind::FloatImm: {
      const FloatImm *n = e->as<FloatImm>();
      out += formatFloat(n->value, n->type.dtype) + suffix(n->type, DType::F32);
      return;
    }
    case ExprKind::VarRef:
      out += var(e->as<VarRef>()->var);
      return;
    case ExprKind::Unary: {
      const Unary *n = e->as<Unary>();
      if (n->op == UnaryOp::Not) {
        out += "not ";
        print(n->a, PNot, out);
      } else {
        out += "-";
        // `-(-x)` rather than `--x`.
        bool nestedMinus = precOf(n->a) == PUnary;
        print(n->a, nestedMinus ? PAtom : PUnary, out);
      }
      return;
    }
    case ExprKind::Binary: {
      const Binary *n = e->as<Binary>();
      if (n->op == BinaryOp::Min || n->op == BinaryOp::Max) {
        out += std::string(opName(n->op)) + "(";
        print(n->a, 0, out);
        out += ", ";
        print(n->b, 0, out);
        out += ")";
        return;
      }
      int p = binaryPrec(n->op);
      int left = p, right = p + 1; // Left-associative.
      if (p == PCmp)
        left = p + 1; // Comparisons do not chain.
      if (p == PPow)
        left = p + 1, right = p; // Right-associative.
      print(n->a, left, out);
      out += " " + std::string(opName(n->op)) + " ";
      print(n->b, right, out);
      return;
    }
    case ExprKind::Call: {
      const Call *n = e->as<Call>();
      out += std::string(intrinsicName(n->fn)) + "(" + exprList(n->args) + ")";
      return;
    }
    case ExprKind::Select: {
      const Select *n = e->as<Select>();
      out += "select(";
      print(n->cond, 0, out);
      out += ", ";
      print(n->a, 0, out);
      out += ", ";
      print(n->b, 0, out);
      out += ")";
      return;
    }
    case ExprKind::Cast: {
      const Cast *n = e->as<Cast>();
      out += std::string(dtypeName(n->type.dtype)) + "(";
      print(n->a, 0, out);
      out += ")";
      return;
    }
    case ExprKind::Access: {
      const Access *n = e->as<Access>();
      out += buffer(n->buffer);
      if (!n->indices.empty())
        out += "[" + exprList(n->indices) + "]";
      if (n->fallback) {
        out += " ?? ";
        // The language's default is a literal, a name, or a parenthesized expression.
        const Expr &f = n->fallback;
        bool bare = (f->as<VarRef>() || f->as<IntImm>() || f->as<FloatImm>()) && precOf(f) == PAtom;
        print(f, bare ? 0 : PAtom + 1, out);
      }
      return;
    }
    case ExprKind::Reduce: {
      const Reduce *n = e->as<Reduce>();
      out += std::string(reduceName(n->op)) + "(";
      // Extents are outside the axes' scope; the axes are named before the body is printed.
      std::vector<std::string> extents;
      for (const IterVar &iv : n->axes)
        extents.push_back(expr(iv.extent));
      std::string axes;
      for (size_t i = 0; i < n->axes.size(); ++i)
        axes += (i ? ", " : "") + bindVar(n->axes[i].var) + " < " + extents[i];
      print(n->body, 0, out);
      for (const IterVar &iv : n->axes)
        releaseVar(iv.var);
      out += " for " + axes + ")";
      return;
    }
    case ExprKind::Load: {
      const Load *n = e->as<Load>();
      out += buffer(n->buffer) + "[";
      print(n->index, 0, out);
      out += "]";
      if (n->predicate) {
        out += " if (";
        print(n->predicate, 0, out);
        out += ")";
      }
      return;
    }
    case ExprKind::Ramp: {
      const Ramp *n = e->as<Ramp>();
      out += "ramp(";
      print(n->base, 0, out);
      out += ", ";
      print(n->stride, 0, out);
      out += ", " + std::to_string(n->lanes) + ")";
      return;
    }
    case ExprKind::Broadcast: {
      const Broadcast *n = e->as<Broadcast>();
      out += "broadcast(";
      print(n->value, 0, out);
      out += ", " + std::to_string(n->lanes) + ")";
      return;
    }
    case ExprKind::VectorReduce: {
      const VectorReduce *n = e->as<VectorReduce>();
      out += "vector_" + std::string(reduceName(n->op)) + "(";
      print(n->value, 0, out);
      out += ")";
      return;
    }
    case ExprKind::WarpShuffle: {
      const WarpShuffle *n = e->as<WarpShuffle>();
      out += "warp_xor(";
      print(n->value, 0, out);
      out += ", " + std::to_string(n->xorMask) + ")";
      return;
    }
    case ExprKind::BufferAligned: {
      const BufferAligned *n = e->as<BufferAligned>();
      out += "aligned(" + buffer(n->buffer) + ", " + std::to_string(n->bytes) + ")";
      return;
    }
    case ExprKind::Shuffle: {
      const Shuffle *n = e->as<Shuffle>();
      out += "shuffle(";
      print(n->a, 0, out);
      out += ", ";
      print(n->b, 0, out);
      out += ", [";
      for (size_t k = 0; k < n->indices.size(); ++k)
        out += (k ? ", " : "") + std::to_string(n->indices[k]);
      out += "])";
      return;
    }
    }
  }

  Namer vars, bufs;
};

} // namespace

std::string toString(const Expr &e) { return Printer().expr(e); }

std::string toString(const Stmt &s, int indent) {
  std::string out;
  Printer().stmt(s, indent, out);
  return out;
}

std::string toString(const Kernel &k) {
  Printer p;
  for (const Var &s : k.symbols)
    p.var(s);
  auto params = [&](const std::vector<Buffer> &bs) {
    std::string s;
    for (size_t i = 0; i < bs.size(); ++i)
      s += (i ? ", " : "") + p.buffer(bs[i]) + ": " + p.bufferType(bs[i]);
    return s;
  };
  std::string out =
      "kernel " + k.name + "(" + params(k.inputs) + ") -> (" + params(k.outputs) + ")\n";
  for (const Definition &d : k.defs) {
    std::string line = "  " + p.buffer(d.target);
    // The index variables are local to their definition.
    if (!d.indices.empty()) {
      line += "[";
      for (size_t i = 0; i < d.indices.size(); ++i) {
        std::string extent = p.expr(d.indices[i].extent);
        line += (i ? ", " : "") + p.bindVar(d.indices[i].var) + " < " + extent;
      }
      line += "]";
    }
    line += ": " + std::string(d.target ? dtypeName(d.target->dtype) : "?") + " = " +
            p.expr(d.value) + "\n";
    for (const IterVar &iv : d.indices)
      p.releaseVar(iv.var);
    out += line;
  }
  return out;
}

std::string toString(const LoweredFunc &f) {
  Printer p;
  for (const Var &s : f.symbols)
    p.var(s);
  std::string out = "func " + f.name + "(";
  for (size_t i = 0; i < f.params.size(); ++i)
    out += (i ? ", " : "") + p.buffer(f.params[i]) + ": " + p.bufferType(f.params[i]);
  out += ")";
  if (!f.symbols.empty()) {
    out += " symbols(";
    for (size_t i = 0; i < f.symbols.size(); ++i)
      out += (i ? ", " : "") + p.var(f.symbols[i]);
    out += ")";
  }
  out += "\n";
  p.stmt(f.body, 1, out);
  return out;
}

} // namespace tdsl::ir
