// GPU loop IR -> CUDA C: each GpuLaunch of a func lowered for the GPU becomes one `extern "C"
// __global__` function, after the prelude (codegen/cuda/CudaPrelude.h).
#include "codegen/cuda/CudaBackend.h"

#include "codegen/cuda/CudaPrelude.h"
#include "codegen/cuda/CudaSyntax.h"
#include "codegen/cuda/IndexRanges.h"

#include "ir/GpuFunc.h"
#include "ir/IRPrinter.h"
#include "ir/IRVisitor.h"
#include "support/Check.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_map>

namespace tdsl::codegen {

using namespace ir;

namespace {

/// Emits the `__global__` functions of a func lowered for the GPU, one GpuLaunch at a time.
class KernelEmitter {
public:
  KernelEmitter(const LoweredFunc &func, std::vector<Buffer> heap, std::ostringstream &os)
      : func(func), heap(std::move(heap)), os(os) {}

  void emit(const GpuLaunch *launch) {
    reset();
    // Every kernel takes the same parameters: the func's buffers, the heap intermediates (device
    // allocations made by the runtime), then the symbols.
    std::vector<std::string> params;
    for (const Buffer &b : func.params) {
      std::string name = bindBuffer(b);
      params.push_back((b->role == BufferRole::Input ? "const " : "") + cType(b->dtype) +
                       " *__restrict__ " + name);
    }
    // Intermediates are written and read by the same kernel (a Rows kernel): no __restrict__,
    // so that the compiler never reads them through the non-coherent read-only cache.
    for (const Buffer &b : heap)
      params.push_back(cType(b->dtype) + " *" + bindBuffer(b));
    for (const Var &s : func.symbols) {
      std::string name = bindVar(s);
      ranges.addCounter(s);
      params.push_back("long long " + name);
    }
    // The top-level lets, recomputed by every kernel.
    std::vector<std::string> letLines;
    for (const auto &[var, value] : launchLets(launch))
      letLines.push_back(emitLet(var, value));

    const Stmt nest = blockLoop(launch);
    const Expr threads = launchThreads(launch);
    os << "\n// " << launch->name << " (" << scheduleName(launch->schedule)
       << "): " << toString(launchBlocks(launch)) << " blocks of " << toString(threads)
       << " threads" << (launch->condition ? ", launched when " + toString(launch->condition) : "")
       << ".\n";
    os << "extern \"C\" __global__ void ";
    // The schedule's blocks an SM cap the registers a thread (__launch_bounds__); a capped
    // contraction also reads its thread index through int (see the gpu_thread loop).
    registerCapped = launch->blocksPerSm > 1 && launch->schedule == GpuScheduleKind::Contraction;
    if (const IntImm *t = as<IntImm>(threads); t && t->value <= 1024)
      os << "__launch_bounds__(" << t->value
         << (launch->blocksPerSm ? ", " + std::to_string(launch->blocksPerSm) : "") << ") ";
    os << launch->name << "(";
    for (size_t i = 0; i < params.size(); ++i)
      os << (i ? ", " : "") << params[i];
    os << ") {\n";
    indent = 1;
    for (const std::string &l : letLines)
      line(l);
    for (const auto &[buffer, offset] : dynamicSharedLayout(nest))
      dynamicOffsets[buffer.get()] = offset;
    emitStmt(nest);
    os << "}\n";
  }

  // ---- schedules ----

  static std::string vectorType(DType t) { return t == DType::F32 ? "float4" : "int4"; }

private:
  const LoweredFunc &func;
  std::vector<Buffer> heap;
  std::ostringstream &os;
  int indent = 0;
  std::unordered_map<const VarNode *, std::string> varNames;
  std::unordered_map<const BufferNode *, std::string> bufferNames;
  std::set<std::string> used;
  IndexRanges ranges;
  /// Arrays allocated on the stack (registers or local memory), as opposed to global memory.
  std::set<const BufferNode *> stackBuffers;
  /// The byte offsets of the kernel's dynamic shared arrays (ir::dynamicSharedLayout).
  std::unordered_map<const BufferNode *, Expr> dynamicOffsets;
  bool dynamicShared = false;  // Whether the pool `tdsl_smem` is declared.
  bool registerCapped = false; // A contraction that asks for two blocks an SM (128 registers).
  /// Arrays in shared memory (their vector offsets print as int: see emitVectorCopy).
  std::set<const BufferNode *> sharedBuffers;
  // The 32-bit shared address of each swizzled tile, the operand of GPU intrinsics.
  std::map<const BufferNode *, std::string> sharedAddresses;

  /// Whether `s` loads or stores `buffer` with a vector index, or passes it to a GPU intrinsic:
  /// accesses of several elements at once.
  static bool vectorAccessed(const Stmt &s, const Buffer &buffer) {
    struct Finder : ir::IRVisitor {
      const BufferNode *buffer;
      bool found = false;
      explicit Finder(const BufferNode *b) : buffer(b) {}
      void visitLoad(const Load *n) override {
        found |= n->buffer.get() == buffer && n->index->type.isVector();
        ir::IRVisitor::visitLoad(n);
      }
      void visitStore(const Store *n) override {
        found |= n->buffer.get() == buffer && n->index->type.isVector();
        ir::IRVisitor::visitStore(n);
      }
      void visitGpuIntrinsic(const GpuIntrinsic *n) override {
        for (const Buffer &b : n->buffers)
          found |= b.get() == buffer;
        ir::IRVisitor::visitGpuIntrinsic(n);
      }
    } finder(buffer.get());
    finder.visit(s);
    return finder.found;
  }

  void reset() {
    varNames.clear();
    bufferNames.clear();
    used.clear();
    ranges.clear();
    stackBuffers.clear();
    dynamicOffsets.clear();
    dynamicShared = false;
    sharedBuffers.clear();
    sharedAddresses.clear();
  }

  void line(const std::string &text) { os << std::string(2 * indent, ' ') << text << "\n"; }
  /// Each line of `text` at the current indent.
  void lines(const std::string &text) {
    std::istringstream in(text);
    for (std::string one; std::getline(in, one);)
      line(one);
  }

  [[noreturn]] void unsupported(const std::string &what) const {
    throw RuntimeError(what + " in kernel " + func.name +
                       " is not supported by the CUDA backend yet");
  }

  // ---- names ----

  std::string freshName(const std::string &hint) {
    std::string base;
    for (char c : hint)
      base += (std::isalnum(static_cast<unsigned char>(c)) || c == '_') ? c : '_';
    // The prelude's names start with tdsl_ or TDSL_; names starting with an underscore may be
    // the compiler's. A prefix keeps clear of both (and of a leading digit).
    if (base.empty() || std::isdigit(static_cast<unsigned char>(base[0])) || base[0] == '_' ||
        base.rfind("tdsl_", 0) == 0 || base.rfind("TDSL_", 0) == 0)
      base = (base.empty() || base[0] != '_' ? "v_" : "v") + base;
    std::string name = base;
    auto clashes = [&](const std::string &n) { return used.count(n) || reservedNames().count(n); };
    for (int i = 1; clashes(name); ++i)
      name = base + "_" + std::to_string(i);
    used.insert(name);
    return name;
  }

  std::string bindVar(const Var &v) { return varNames[v.get()] = freshName(v->name); }
  std::string bindBuffer(const Buffer &b) { return bufferNames[b.get()] = freshName(b->name); }

  const std::string &varName(const Var &v) const {
    auto it = varNames.find(v.get());
    TDSL_CHECK(it != varNames.end()) << "unbound variable " << v->name << " in " << func.name;
    return it->second;
  }
  const std::string &bufferName(const Buffer &b) const {
    auto it = bufferNames.find(b.get());
    TDSL_CHECK(it != bufferNames.end()) << "unknown buffer " << b->name << " in " << func.name;
    return it->second;
  }

  // ---- analyses ----

  /// `e` printed in int arithmetic: each variable cast to int, literals plain, when every
  /// variable and every partial result lies in [0, 2^31); else nullopt. Shared memory offsets
  /// print so: in int arithmetic, which may not overflow, the compiler folds a term of an
  /// unrolled loop into the access's immediate offset, where the offset cast to int as a whole
  /// needs an address register each (NVRTC's f32 contraction ran 6% slower so).
  std::optional<CExpr> smallIndex(const Expr &e) const {
    std::optional<int64_t> bound = ranges.bound(e);
    if (!bound || *bound > (int64_t(1) << 31))
      return std::nullopt;
    if (const IntImm *i = as<IntImm>(e))
      return CExpr{std::to_string(i->value), PrecAtom};
    if (const VarRef *v = as<VarRef>(e))
      return CExpr{"(int)" + varNames.at(v->var.get()), PrecUnary};
    const Binary *b = as<Binary>(e);
    std::optional<CExpr> x = smallIndex(b->a), y = smallIndex(b->b);
    if (!x || !y)
      return std::nullopt;
    switch (b->op) {
    case BinaryOp::Add:
      return infix("+", PrecAdd, *x, *y);
    case BinaryOp::Mul:
      return infix("*", PrecMul, *x, *y);
    case BinaryOp::FloorDiv:
      return infix("/", PrecMul, *x, *y);
    case BinaryOp::Mod:
      return infix("%", PrecMul, *x, *y);
    default:
      return std::nullopt;
    }
  }

  // ---- expressions ----

  /// `x` of dtype `from` converted to `to`, with the shared cast semantics.
  CExpr convert(const CExpr &x, DType from, DType to) {
    if (from == to)
      return x;
    if (from == DType::F16 || from == DType::BF16) // Decoding to f32 is exact.
      return convert(call(from == DType::F16 ? "tdsl_h2f" : "tdsl_bf2f", {x}), DType::F32, to);
    if (to == DType::Bool)
      return infix("!=", PrecEq, x, zeroOf(from));
    if (from == DType::Bool && (to == DType::F16 || to == DType::BF16)) {
      CExpr one = floatLiteralExpr(1.0, to), zero = floatLiteralExpr(0.0, to);
      return {paren(x, PrecTernary + 1) + " ? " + one.text + " : " + zero.text, PrecTernary};
    }
    if (to == DType::F16 || to == DType::BF16) {
      bool half = to == DType::F16;
      if (from == DType::F32)
        return call(half ? "tdsl_f2h" : "tdsl_f2bf", {x});
      // From f64 directly (one rounding); integers through f64, exact below 2^53, and any
      // larger magnitude overflows f16 anyway.
      CExpr d = from == DType::F64 ? x : cCast(DType::F64, x);
      return call(half ? "tdsl_d2h" : "tdsl_d2bf", {d});
    }
    if (isInt(to) && isFloat(from) && byteSize(to) < 4) // Saturated in i32, then clamped.
      return cCast(
          to,
          call("min", {call("max", {call("tdsl_to_i32", {x}), intLiteral(intMin(to), DType::I32)}),
                       intLiteral(intMax(to), DType::I32)}));
    if (isInt(to) && isFloat(from))
      return call(to == DType::I32 ? "tdsl_to_i32" : "tdsl_to_i64", {x});
    // int <-> int (wraps), int/bool -> float (rounds to nearest), f64 <-> f32, bool -> int.
    return cCast(to, x);
  }

  /// Arithmetic on u8, i8 and i16 runs in int (C's promotion, and the prelude's int helpers):
  /// its result is cast back, so that it wraps at the dtype's width as the language says.
  static CExpr narrowed(const Expr &e, const CExpr &value) {
    if (!e->type.isInt() || byteSize(e->type.dtype) >= 4)
      return value;
    return cCast(e->type.dtype, value);
  }

  CExpr emitExpr(const Expr &e) {
    if (e->type.isVector())
      unsupported("vector expression of type " + e->type.str());
    switch (e->kind) {
    case ExprKind::IntImm:
      return intLiteral(e->as<IntImm>()->value, e->type.dtype);
    case ExprKind::FloatImm:
      return floatLiteralExpr(e->as<FloatImm>()->value, e->type.dtype);
    case ExprKind::VarRef:
      return {varName(e->as<VarRef>()->var), PrecAtom};
    case ExprKind::Unary:
      return narrowed(e, emitUnary(e->as<Unary>(), e));
    case ExprKind::Binary:
      return narrowed(e, emitBinary(e->as<Binary>(), e));
    case ExprKind::Call:
      return narrowed(e, emitCall(e->as<Call>()));
    case ExprKind::Select: {
      const Select *s = e->as<Select>();
      CExpr c = emitExpr(s->cond), a = emitExpr(s->a), b = emitExpr(s->b);
      return {paren(c, PrecTernary + 1) + " ? " + paren(a, PrecTernary + 1) + " : " +
                  paren(b, PrecTernary + 1),
              PrecTernary};
    }
    case ExprKind::Cast: {
      const Cast *c = e->as<Cast>();
      return convert(emitExpr(c->a), c->a->type.dtype, c->type.dtype);
    }
    case ExprKind::Load: {
      const Load *l = e->as<Load>();
      CExpr load{bufferName(l->buffer) + "[" + emitExpr(l->index).text + "]", PrecAtom};
      if (!l->predicate)
        return load;
      // The predicate guards the memory access itself: a false lane touches no memory.
      CExpr p = emitExpr(l->predicate);
      return {paren(p, PrecTernary + 1) + " ? " + load.text + " : " +
                  paren(zeroOf(l->type.dtype), PrecTernary + 1),
              PrecTernary};
    }
    case ExprKind::WarpShuffle: {
      const WarpShuffle *w = e->as<WarpShuffle>();
      return call("tdsl_shfl_xor", {emitExpr(w->value), {std::to_string(w->xorMask), PrecAtom}});
    }
    case ExprKind::BufferAligned: {
      const BufferAligned *a = e->as<BufferAligned>();
      return {"((unsigned long long)" + bufferName(a->buffer) + " & " +
                  std::to_string(a->bytes - 1) + "ull) == 0",
              PrecEq};
    }
    case ExprKind::Ramp:
    case ExprKind::Broadcast:
    case ExprKind::VectorReduce:
    case ExprKind::Shuffle:
      unsupported("vector expression");
    case ExprKind::Access:
    case ExprKind::Reduce:
      TDSL_UNREACHABLE("tensor-level expression in loop IR");
    }
    TDSL_UNREACHABLE("unknown expression kind");
  }

  CExpr emitUnary(const Unary *u, const Expr &self) {
    CExpr a = emitExpr(u->a);
    if (u->op == UnaryOp::Not)
      return prefix("!", a);
    if (u->type.isFloat() || ranges.isIndexArith(self))
      return prefix("-", a);
    return call("tdsl_neg", {a});
  }

  CExpr emitBinary(const Binary *b, const Expr &self) {
    CExpr x = emitExpr(b->a), y = emitExpr(b->b);
    bool isFloatOp = b->a->type.isFloat();
    bool plainInt = ranges.isIndexArith(self);
    switch (b->op) {
    case BinaryOp::Add:
      return isFloatOp || plainInt ? infix("+", PrecAdd, x, y) : call("tdsl_add", {x, y});
    case BinaryOp::Sub:
      return isFloatOp || plainInt ? infix("-", PrecAdd, x, y) : call("tdsl_sub", {x, y});
    case BinaryOp::Mul:
      return isFloatOp || plainInt ? infix("*", PrecMul, x, y) : call("tdsl_mul", {x, y});
    case BinaryOp::Div:
      return infix("/", PrecMul, x, y);
    case BinaryOp::FloorDiv:
      if (!isFloatOp && ranges.isNonNegative(b->a) && isPositiveConstant(b->b))
        return infix("/", PrecMul, x, y);
      return call("tdsl_floordiv", {x, y});
    case BinaryOp::Mod:
      if (!isFloatOp && ranges.isNonNegative(b->a) && isPositiveConstant(b->b))
        return infix("%", PrecMul, x, y);
      return call("tdsl_mod", {x, y});
    case BinaryOp::Pow:
      if (isFloatOp)
        return call(b->type.dtype == DType::F32 ? "powf" : "pow", {x, y});
      return call("tdsl_pow", {x, y});
    case BinaryOp::Min:
      return call("tdsl_min", {x, y});
    case BinaryOp::Max:
      return call("tdsl_max", {x, y});
    case BinaryOp::Eq:
      return infix("==", PrecEq, {paren(x, PrecRel), PrecAtom}, {paren(y, PrecRel), PrecAtom});
    case BinaryOp::Ne:
      return infix("!=", PrecEq, {paren(x, PrecRel), PrecAtom}, {paren(y, PrecRel), PrecAtom});
    case BinaryOp::Lt:
      return infix("<", PrecRel, {paren(x, PrecAdd), PrecAtom}, {paren(y, PrecAdd), PrecAtom});
    case BinaryOp::Le:
      return infix("<=", PrecRel, {paren(x, PrecAdd), PrecAtom}, {paren(y, PrecAdd), PrecAtom});
    case BinaryOp::Gt:
      return infix(">", PrecRel, {paren(x, PrecAdd), PrecAtom}, {paren(y, PrecAdd), PrecAtom});
    case BinaryOp::Ge:
      return infix(">=", PrecRel, {paren(x, PrecAdd), PrecAtom}, {paren(y, PrecAdd), PrecAtom});
    case BinaryOp::And:
      // Mixed && and || always get parentheses.
      return infix("&&", PrecAnd, {paren(x, x.prec == PrecOr ? PrecAtom : PrecAnd), PrecAtom},
                   {paren(y, y.prec == PrecOr ? PrecAtom : PrecAnd), PrecAtom});
    case BinaryOp::Or:
      return infix("||", PrecOr, {paren(x, x.prec == PrecAnd ? PrecAtom : PrecOr), PrecAtom},
                   {paren(y, y.prec == PrecAnd ? PrecAtom : PrecOr), PrecAtom});
    }
    TDSL_UNREACHABLE("unknown binary operator");
  }

  CExpr emitCall(const Call *c) {
    TDSL_CHECK(c->args.size() == 1) << "intrinsic with " << c->args.size() << " arguments";
    CExpr x = emitExpr(c->args[0]);
    DType t = c->type.dtype;
    TDSL_CHECK(t != DType::F16 && t != DType::BF16)
        << "math on a storage type (f16/bf16 values must be cast to f32 first)";
    if (c->fn == Intrinsic::Abs && isInt(t))
      return call("tdsl_abs", {x});
    if (c->fn == Intrinsic::Relu)
      return call("tdsl_relu", {x});
    TDSL_CHECK(isFloat(t)) << "math function of " << c->type.str();
    const char *name = nullptr;
    switch (c->fn) {
    case Intrinsic::Exp:
      name = "exp";
      break;
    case Intrinsic::Exp2:
      name = "exp2";
      break;
    case Intrinsic::Log:
      name = "log";
      break;
    case Intrinsic::Log2:
      name = "log2";
      break;
    case Intrinsic::Sqrt:
      name = "sqrt";
      break;
    case Intrinsic::Sin:
      name = "sin";
      break;
    case Intrinsic::Cos:
      name = "cos";
      break;
    case Intrinsic::Tan:
      name = "tan";
      break;
    case Intrinsic::Tanh:
      name = "tanh";
      break;
    case Intrinsic::Abs:
      name = "fabs";
      break;
    case Intrinsic::Floor:
      name = "floor";
      break;
    case Intrinsic::Ceil:
      name = "ceil";
      break;
    case Intrinsic::Round:
      name = "rint";
      break; // Half to even in the default rounding mode.
    case Intrinsic::Erf:
      name = "erf";
      break;
    case Intrinsic::Rsqrt:
      return call("tdsl_rsqrt", {x});
    case Intrinsic::Sigmoid:
      return call("tdsl_sigmoid", {x});
    case Intrinsic::Relu:
      break;
    }
    TDSL_CHECK(name) << "unknown intrinsic";
    return call(std::string(name) + (t == DType::F32 ? "f" : ""), {x});
  }

  // ---- statements ----

  /// `const T name = value;`, binding `var`.
  std::string emitLet(const Var &var, const Expr &value) {
    std::string text = emitExpr(value).text;
    ranges.addLet(var, value);
    std::string name = bindVar(var);
    return "const " + cType(var->type.dtype) + " " + name + " = " + text + ";";
  }

  template <typename F>
  void emitGridLoop(const For *loop, const char *start, const char *step, F body) {
    // A grid-stride loop: correct for any launch size, one iteration for the intended one.
    std::string extent = paren(emitExpr(loop->extent), PrecAdd);
    std::string name = bindVar(loop->var);
    ranges.addCounter(loop->var);
    line("for (long long " + name + " = " + start + "; " + name + " < " + extent + "; " + name +
         " += " + step + ") {");
    ++indent;
    body();
    --indent;
    line("}");
  }

  /// `dst[ramp(b, 1, n)] = src[ramp(c, 1, n)]` between a global or shared buffer and a stack
  /// array, of 4 4-byte elements or of 2 or 8 16-bit ones: one 16-byte (or 4-byte) access of
  /// that memory (the schedule checked its alignment).
  void emitVectorCopy(const Store *st) {
    const Load *l = as<Load>(st->value);
    const Ramp *to = as<Ramp>(st->index), *from = l ? as<Ramp>(l->index) : nullptr;
    auto dense = [](const Ramp *r) {
      const IntImm *stride = r ? as<IntImm>(r->stride) : nullptr;
      return stride && stride->value == 1;
    };
    const int lanes = st->value->type.lanes, size = byteSize(st->buffer->dtype);
    const bool words = size == 4 && lanes == 4, halves = size == 2 && (lanes == 2 || lanes == 8);
    bool toStack = stackBuffers.count(st->buffer.get()) > 0;
    if (!l || l->predicate || st->predicate || !dense(to) || !dense(from) || !(words || halves) ||
        toStack == (stackBuffers.count(l->buffer.get()) > 0))
      unsupported("vector store to " + st->buffer->name);
    const char *fields[] = {"x", "y", "z", "w"};
    std::string vt = vectorType(st->buffer->dtype);
    auto element = [&](const Ramp *r, int lane) {
      if (const IntImm *c = as<IntImm>(r->base))
        return std::to_string(c->value + lane);
      return paren(emitExpr(r->base), PrecAdd) + " + " + std::to_string(lane);
    };
    // Shared memory is at most 228 KiB: an int offset, which keeps the 16-byte access whole
    // (nvcc splits some stores at long long offsets into four).
    auto offset = [&](const Buffer &b, const Ramp *r) {
      if (!sharedBuffers.count(b.get()))
        return paren(emitExpr(r->base), PrecAdd);
      std::optional<CExpr> small = smallIndex(r->base);
      return small ? paren(*small, PrecUnary) : "(int)" + paren(emitExpr(r->base), PrecUnary);
    };
    if (halves) {
      // 16-bit values move as bits (the stack array is 16-byte aligned, see Allocate).
      std::string bits = lanes == 8 ? "uint4" : "unsigned";
      line("*(" + bits + " *)(" + bufferName(st->buffer) + " + " + offset(st->buffer, to) +
           ") = *(const " + bits + " *)(" + bufferName(l->buffer) + " + " +
           offset(l->buffer, from) + ");");
      return;
    }
    line("{");
    ++indent;
    if (toStack) {
      line("const " + vt + " tdsl_v = *(const " + vt + " *)(" + bufferName(l->buffer) + " + " +
           offset(l->buffer, from) + ");");
      for (int lane = 0; lane < 4; ++lane)
        line(bufferName(st->buffer) + "[" + element(to, lane) + "] = tdsl_v." + fields[lane] + ";");
    } else {
      line(vt + " tdsl_v;");
      for (int lane = 0; lane < 4; ++lane)
        line(std::string("tdsl_v.") + fields[lane] + " = " + bufferName(l->buffer) + "[" +
             element(from, lane) + "];");
      line("*(" + vt + " *)(" + bufferName(st->buffer) + " + " + offset(st->buffer, to) +
           ") = tdsl_v;");
    }
    --indent;
    line("}");
  }

  void emitStmt(const Stmt &s) {
    switch (s->kind) {
    case StmtKind::Block:
      for (const Stmt &child : s->as<Block>()->stmts)
        emitStmt(child);
      return;
    case StmtKind::For: {
      const For *f = s->as<For>();
      if (f->kind == ForKind::GpuBlock) // The launch may have fewer blocks than iterations.
        return emitGridLoop(f, "blockIdx.x", "gridDim.x", [&] { emitStmt(f->body); });
      if (f->kind == ForKind::GpuThread) { // The launch has one thread per iteration.
        std::string name = bindVar(f->var);
        ranges.addCounter(f->var, ranges.bound(f->extent));
        line("{");
        ++indent;
        // Under a register cap, the index read through int fits it: extended from the
        // unsigned threadIdx.x, the f32 contraction's 8x8 tile spilled 112 bytes a thread
        // and ran 12% slower. (Elsewhere ptxas then picks fewer registers and spills.)
        line("const long long " + name + " = " + (registerCapped ? "(int)" : "") + "threadIdx.x;");
        emitStmt(f->body);
        --indent;
        line("}");
        return;
      }
      std::string extent = paren(emitExpr(f->extent), PrecAdd);
      std::string name = bindVar(f->var);
      ranges.addCounter(f->var, ranges.bound(f->extent));
      if (f->kind == ForKind::Unrolled)
        line("#pragma unroll");
      line("for (long long " + name + " = 0; " + name + " < " + extent + "; ++" + name + ") {");
      ++indent;
      emitStmt(f->body);
      --indent;
      line("}");
      return;
    }
    case StmtKind::Store: {
      const Store *st = s->as<Store>();
      if (st->value->type.isVector())
        return emitVectorCopy(st);
      std::string text = bufferName(st->buffer) + "[" + emitExpr(st->index).text +
                         "] = " + emitExpr(st->value).text + ";";
      if (st->predicate)
        text = "if (" + emitExpr(st->predicate).text + ") " + text;
      line(text);
      return;
    }
    case StmtKind::Barrier:
      line(s->as<Barrier>()->scope == BarrierScope::Block ? "__syncthreads();" : "__syncwarp();");
      return;
    case StmtKind::GpuIntrinsic: {
      // A call of the op's prelude helper on pointers to its operands.
      const GpuIntrinsic *g = s->as<GpuIntrinsic>();
      std::string args;
      for (size_t i = 0; i < g->buffers.size(); ++i) {
        const Buffer &b = g->buffers[i];
        auto address = sharedAddresses.find(b.get());
        args += i ? ", " : "";
        if (address == sharedAddresses.end())
          args += bufferName(b) + " + " + paren(emitExpr(g->offsets[i]), PrecAdd);
        else // A swizzled tile's byte address.
          args += address->second + " + (unsigned)" + paren(emitExpr(g->offsets[i]), PrecUnary) +
                  " * " + std::to_string(byteSize(b->dtype)) + "u";
      }
      const std::string n = std::to_string(g->immediate);
      auto typed = [&](const char *fn) {
        return fn + std::string(g->buffers[1]->dtype == DType::BF16 ? "_bf16" : "_f16");
      };
      switch (g->op) {
      case GpuOp::MmaSync:
        return line(typed("tdsl_mma_sync") + "(" + args + ");");
      case GpuOp::CopyAsync:
        return line("tdsl_cp_async(" + args + ");");
      case GpuOp::StoreSwizzled:
        return line("tdsl_st_swizzled(" + args + ");");
      case GpuOp::CommitAsync:
        return line("tdsl_cp_async_commit();");
      case GpuOp::WaitAsync:
        return line("tdsl_cp_async_wait<" + n + ">();");
      case GpuOp::FenceAsync:
        return line("tdsl_fence_async();");
      case GpuOp::WgmmaFence:
        return line("tdsl_wgmma_fence(" + args + ");");
      case GpuOp::Wgmma:
        return line(typed("tdsl_wgmma") + (g->immediate ? "_jmajor(" : "_kmajor(") + args + ");");
      case GpuOp::WgmmaCommit:
        return line("tdsl_wgmma_commit();");
      case GpuOp::WgmmaWait:
        return line("tdsl_wgmma_wait<" + n + ">(" + args + ");");
      case GpuOp::Dp4a:
        return line("tdsl_dp4a(" + args + ");");
      case GpuOp::RoundPair:
        return line(std::string(g->buffers[0]->dtype == DType::BF16 ? "tdsl_round_pair_bf16("
                                                                    : "tdsl_round_pair_f16(") +
                    args + ");");
      case GpuOp::Exp2Approx:
        return line("tdsl_ex2_approx(" + args + ");");
      case GpuOp::MaxNaN:
        return line("tdsl_max_nan(" + args + ");");
      case GpuOp::LoadMatrix:
        return line("tdsl_ldmatrix_x4(" + args + ");");
      case GpuOp::LoadMatrixTrans:
        return line("tdsl_ldmatrix_trans_x4(" + args + ");");
      }
      TDSL_UNREACHABLE("unknown GPU intrinsic");
    }
    case StmtKind::GpuLaunch: // The verifier keeps launches at the top level.
      TDSL_UNREACHABLE("GPU launch inside a kernel");
    case StmtKind::Allocate: {
      const Allocate *a = s->as<Allocate>();
      if (a->scope == MemoryScope::Heap)
        unsupported("heap allocation of '" + a->buffer->name + "' inside a kernel");
      if (isDynamicShared(a)) { // At its place in the launch's dynamic shared memory.
        if (!dynamicShared) {
          dynamicShared = true;
          line("extern __shared__ __align__(16) unsigned char tdsl_smem[];");
        }
        std::string name = bindBuffer(a->buffer);
        std::string type = cType(a->buffer->dtype);
        std::string at = "tdsl_smem + " + emitExpr(dynamicOffsets.at(a->buffer.get())).text;
        // A swizzled tile starts on the next 1024-byte boundary, as the swizzle's pattern is a
        // function of the address; the schedule sized the buffer with that slack.
        bool swizzled = isSwizzledTile(a->body, a->buffer);
        if (swizzled)
          at += " + tdsl_to_1024(" + at + ")";
        sharedBuffers.insert(a->buffer.get());
        line(type + " *" + name + " = (" + type + " *)(" + at + ");");
        if (swizzled) {
          // The intrinsics take 32-bit shared addresses: one conversion here rather than a
          // generic pointer converted at every call (8192^3 bf16 ran 7% slower so).
          std::string address = freshName(name + "_at");
          sharedAddresses[a->buffer.get()] = address;
          line("const unsigned " + address + " = tdsl_shared_address(" + name + ");");
        }
        emitStmt(a->body);
        return;
      }
      int64_t size = 1;
      for (const Expr &d : a->buffer->shape) {
        const IntImm *c = as<IntImm>(d);
        if (!c || c->value < 0 || __builtin_mul_overflow(size, c->value, &size))
          unsupported("allocation of '" + a->buffer->name + "' with a non-constant size");
      }
      // Stack arrays are registers.
      bool shared = a->scope == MemoryScope::Shared;
      if (!shared && size > 4096)
        unsupported("allocation of '" + a->buffer->name + "' with " + std::to_string(size) +
                    " elements");
      std::string name = bindBuffer(a->buffer);
      // Vector accesses need the buffer's alignment: of shared memory always, of a stack array
      // when they move 16-bit values as bits (nvcc aligns float4 fields itself).
      bool vector = vectorAccessed(a->body, a->buffer);
      bool aligned = vector && (shared || byteSize(a->buffer->dtype) == 2);
      line(std::string(shared ? "__shared__ " : "") + (aligned ? "__align__(16) " : "") +
           cType(a->buffer->dtype) + " " + name + "[" + std::to_string(std::max<int64_t>(size, 1)) +
           "];");
      if (a->scope == MemoryScope::Stack)
        stackBuffers.insert(a->buffer.get());
      if (a->scope == MemoryScope::Shared)
        sharedBuffers.insert(a->buffer.get());
      emitStmt(a->body);
      return;
    }
    case StmtKind::LetStmt: {
      const LetStmt *l = s->as<LetStmt>();
      line(emitLet(l->var, l->value));
      emitStmt(l->body);
      return;
    }
    case StmtKind::IfThenElse: {
      const IfThenElse *i = s->as<IfThenElse>();
      line("if (" + emitExpr(i->cond).text + ") {");
      for (;;) {
        ++indent;
        emitStmt(i->thenCase);
        --indent;
        const IfThenElse *next = i->elseCase ? i->elseCase->as<IfThenElse>() : nullptr;
        if (!next)
          break;
        line("} else if (" + emitExpr(next->cond).text + ") {"); // A chain, not a staircase.
        i = next;
      }
      if (i->elseCase) {
        line("} else {");
        ++indent;
        emitStmt(i->elseCase);
        --indent;
      }
      line("}");
      return;
    }
    }
    TDSL_UNREACHABLE("unknown statement kind");
  }
};

} // namespace

std::string emitCuda(const LoweredFunc &gpu) {
  std::vector<const GpuLaunch *> launches = gpuLaunches(gpu);
  std::ostringstream os;
  os << "// CUDA C for tdsl kernel " << gpu.name << ": " << launches.size()
     << " __global__ function(s), launched in order (one with a condition only where it holds); "
        "each takes the buffers, then the symbols.\n";
  os << cudaPrelude();
  // The wgmma helpers (sm_90a; a wgmma has 128 operands) only where a kernel uses them.
  if (usesWgmma(gpu.body))
    os << wgmmaHelpers();
  KernelEmitter emitter(gpu, gpuHeapBuffers(gpu), os);
  for (const GpuLaunch *l : launches)
    emitter.emit(l);
  return os.str();
}

} // namespace tdsl::codegen
