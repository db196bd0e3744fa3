// Loop IR -> LLVM IR.
//
// The kernel becomes two functions: the entry point `void SYM(ptr buffers, ptr symbols, ptr rt)`
// that unpacks its arrays, and an internal `SYM.body` taking each buffer as a `noalias`
// parameter and each symbol as an i64, which the optimizer inlines (turning `noalias` into alias
// scopes, so loops over distinct buffers vectorize).
//
// Values in registers: bool is i1, f16 and bf16 are their bits in i16 (they are storage types:
// any arithmetic on them widens to f32 and rounds back). In memory bool is one byte, 0 or 1.
// Every operation follows the shared semantics of the language without undefined behaviour:
// division selects a safe divisor first, float-to-int casts saturate, and predicated memory
// accesses never touch memory for a false lane.
#include "codegen/llvm/CodeGenLlvm.h"
#include "codegen/llvm/BoundsChecks.h"

#include "codegen/llvm/ParallelFor.h"
#include "codegen/llvm/VectorMath.h"
#include "ir/Affine.h"
#include "ir/ExprEqual.h"
#include "ir/HeapAllocations.h"
#include "ir/IRVisitor.h"
#include "support/Check.h"

#include <llvm/ADT/APFloat.h>
#include <llvm/Analysis/VectorUtils.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/IntrinsicsX86.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/MDBuilder.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Triple.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace tdsl::codegen {
namespace {

using ir::BinaryOp;
using ir::Intrinsic;
using ir::ReduceOp;
using ir::Type;

bool isStorageFloat(DType d) { return d == DType::F16 || d == DType::BF16; }

/// Outputs at least this large are written with non-temporal (streaming) stores: they cannot
/// stay in this machine's caches (32 MiB of L3) anyway, and a streaming store skips the read
/// that a plain store of a missing line does first (write-allocate), so an elementwise kernel
/// moves 2 arrays' worth of traffic per input and output instead of 3 (docs/performance.md).
constexpr int64_t kStreamingBytes = 16 * 1024 * 1024;

/// How far ahead of its loads a compute-bound loop streaming through an input prefetches it
/// (CodeGenLlvm::prefetchAhead): 32 lines, about 20 iterations' time of such a loop at 16 f32
/// lanes. bce_logits at 4096 x 4096 took the same time with 1, 2 and 4 KiB, 5% more with 512 B.
constexpr int64_t kPrefetchAheadBytes = 2048;

/// The buffers read by a Load anywhere in a statement, and the variables an expression uses.
class UseFinder : public ir::IRVisitor {
public:
  std::unordered_set<const ir::BufferNode *> loaded;
  std::unordered_set<const ir::VarNode *> used;

protected:
  void visitLoad(const ir::Load *n) override {
    loaded.insert(n->buffer.get());
    IRVisitor::visitLoad(n);
  }
  void visitVarRef(const ir::VarRef *n) override { used.insert(n->var.get()); }
};

/// Whether the lanes of an i32 stack buffer `acc` of `lanes` lanes are seen only through their
/// total: every read of it is in an accumulation `acc + d` stored back into it (lane by lane,
/// `d` free of acc), or is the sum of all its lanes. Moving an addend from one lane to another
/// then changes nothing observable, as integer sums wrap alike in every order: an integer dot
/// product may add its products in pairs (CodeGenLlvm::integerDotAccumulate).
class SumOnlyUses : public ir::IRVisitor {
public:
  SumOnlyUses(const ir::BufferNode *acc, int lanes) : acc(acc), lanes(lanes) {}
  bool ok = true;

protected:
  void visitStore(const ir::Store *n) override {
    if (n->buffer.get() != acc)
      return IRVisitor::visitStore(n);
    if (n->predicate || !wholeVector(n->index) || !(accumulates(n->value) || isFree(n->value)))
      ok = false;
  }
  void visitVectorReduce(const ir::VectorReduce *n) override {
    const auto *load = n->value->as<ir::Load>();
    if (n->op == ReduceOp::Sum && load && whole(load))
      return;
    IRVisitor::visitVectorReduce(n);
  }
  void visitLoad(const ir::Load *n) override {
    if (n->buffer.get() == acc)
      ok = false;
    IRVisitor::visitLoad(n);
  }

private:
  const ir::BufferNode *acc;
  int lanes;

  bool wholeVector(const ir::Expr &index) const {
    const auto *ramp = index->as<ir::Ramp>();
    if (!ramp || ramp->lanes != lanes)
      return false;
    const auto *base = ramp->base->as<ir::IntImm>();
    const auto *stride = ramp->stride->as<ir::IntImm>();
    return base && base->value == 0 && stride && stride->value == 1;
  }
  bool whole(const ir::Load *load) const {
    return load->buffer.get() == acc && !load->predicate && wholeVector(load->index);
  }
  bool isFree(const ir::Expr &e) const {
    UseFinder uses;
    uses.visit(e);
    return !uses.loaded.count(acc);
  }
  static bool isZero(const ir::Expr &e) {
    const auto *broadcast = e->as<ir::Broadcast>();
    const auto *imm = (broadcast ? broadcast->value : e)->as<ir::IntImm>();
    return imm && imm->value == 0;
  }
  /// Whether `e` is acc + d lane by lane, d free of acc.
  bool accumulates(const ir::Expr &e) const {
    if (const auto *load = e->as<ir::Load>())
      return whole(load);
    if (const auto *add = e->as<ir::Binary>(); add && add->op == BinaryOp::Add)
      return (accumulates(add->a) && isFree(add->b)) || (isFree(add->a) && accumulates(add->b));
    const auto *select = e->as<ir::Select>();
    if (!select || !isFree(select->cond))
      return false;
    if (accumulates(select->a) && accumulates(select->b))
      return true;
    // A vector tail's select(m, select(m, acc, 0) + d, acc): acc + d where m holds, else acc.
    const auto *add = select->a->as<ir::Binary>();
    const auto *masked = add && add->op == BinaryOp::Add ? add->a->as<ir::Select>() : nullptr;
    return masked && isZero(masked->b) && ir::structurallyEqual(masked->cond, select->cond) &&
           accumulates(masked->a) && isFree(add->b) && accumulates(select->b);
  }
};

/// Whether `fn` is a transcendental function (exp, cos, tanh, ...): tens of instructions a
/// value, where sqrt, abs, floor and the like take one.
bool transcendental(Intrinsic fn) {
  switch (fn) {
  case Intrinsic::Sqrt:
  case Intrinsic::Rsqrt:
  case Intrinsic::Relu:
  case Intrinsic::Abs:
  case Intrinsic::Floor:
  case Intrinsic::Ceil:
  case Intrinsic::Round:
    return false;
  default:
    return true;
  }
}

/// Whether an expression calls a transcendental function (exp, cos, tanh, float **, ...): a store
/// of such a value is compute-bound, and a streaming store there costs more than it saves.
class MathCallFinder : public ir::IRVisitor {
public:
  bool found = false;

protected:
  void visitCall(const ir::Call *n) override {
    found |= transcendental(n->fn);
    IRVisitor::visitCall(n);
  }
  void visitBinary(const ir::Binary *n) override {
    found |= n->op == BinaryOp::Pow && n->type.isFloat();
    IRVisitor::visitBinary(n);
  }
};

/// The loops directly in a statement (not those nested in them).
class InnerLoopCounter : public ir::IRVisitor {
public:
  int loops = 0;

protected:
  void visitFor(const ir::For *) override { ++loops; }
};

/// Whether a statement allocates a tiled contraction's accumulators ("tile.acc", passes/Tile.h)
/// outside any loop of its own: it is the body of a micro-kernel's tile loop.
class AccumulatorFinder : public ir::IRVisitor {
public:
  bool found = false;

protected:
  void visitFor(const ir::For *) override {}
  void visitAllocate(const ir::Allocate *n) override {
    found |= n->buffer->name.starts_with("tile.acc");
    IRVisitor::visitAllocate(n);
  }
};

/// Whether a statement holds a micro-kernel (see AccumulatorFinder) at any depth.
class HoldsMicroKernel : public ir::IRVisitor {
public:
  bool found = false;

protected:
  void visitAllocate(const ir::Allocate *n) override {
    found |= n->buffer->name.starts_with("tile.acc");
    IRVisitor::visitAllocate(n);
  }
};
bool holdsMicroKernel(const ir::Stmt &s) {
  HoldsMicroKernel finder;
  finder.visit(s);
  return finder.found;
}

/// Whether a statement holds a loop nest that stores a value other than a tiled contraction's
/// (an elementwise group in a row chain's block), outside the nests of micro-kernels. LLVM hoists
/// such a nest's vector constants (tanh's, GELU's) out of the loops around it, where they would
/// hold registers through the micro-kernels' loops too: with MR x NR / lanes accumulators
/// (28 of the 32 AVX-512 registers), the accumulators then spill at every step of k.
class HoldsOtherNests : public ir::IRVisitor {
public:
  bool found = false;

protected:
  void visitFor(const ir::For *n) override {
    if (!holdsMicroKernel(n->body))
      inLoop_ = true, IRVisitor::visitFor(n), inLoop_ = false;
  }
  void visitStore(const ir::Store *n) override {
    found |= inLoop_ && !n->buffer->name.starts_with("tile.");
    IRVisitor::visitStore(n);
  }

private:
  bool inLoop_ = false;
};
bool holdsOtherNests(const ir::Stmt &s) {
  HoldsOtherNests finder;
  finder.visit(s);
  return finder.found;
}

/// The buffers loaded in a statement outside micro-kernel tiles (see AccumulatorFinder), where
/// no load prefetches a next row.
class LoadsOutsideTiles : public UseFinder {
protected:
  void visitFor(const ir::For *n) override {
    AccumulatorFinder tile;
    tile.visit(n->body);
    if (!tile.found)
      UseFinder::visitFor(n);
  }
};

/// For each buffer loaded in a loop's direct inner loops (its passes, numbered from 1 in order),
/// the last pass that loads it (outside micro-kernel tiles).
/// The base index when `index` is a stride-1 ramp (a contiguous access), else null.
const ir::Expr *contiguousBase(const ir::Expr &index) {
  const auto *ramp = ir::as<ir::Ramp>(index);
  if (!ramp)
    return nullptr;
  const auto *stride = ir::as<ir::IntImm>(ramp->stride);
  return stride && stride->value == 1 ? &ramp->base : nullptr;
}

/// The floating-point operations of a statement: what a loop body computes, for comparing the
/// passes of a row loop (a transcendental function counts as the dozen operations it inlines to).
class FloatOpCounter : public ir::IRVisitor {
public:
  int ops = 0;

protected:
  void visitUnary(const ir::Unary *n) override {
    ops += n->type.isFloat();
    IRVisitor::visitUnary(n);
  }
  void visitBinary(const ir::Binary *n) override {
    ops += n->type.isFloat();
    IRVisitor::visitBinary(n);
  }
  void visitCall(const ir::Call *n) override {
    ops += n->type.isFloat() ? (transcendental(n->fn) ? 12 : 1) : 0;
    IRVisitor::visitCall(n);
  }
};

/// The passes of a multi-pass row loop (its direct inner loops, counted from 1) and the innermost
/// loops inside them: which pass loads each buffer last, and where each kernel input's next row
/// is best prefetched (CodeGenLlvm::prefetchNextRow).
class RowPasses : public ir::IRVisitor {
public:
  std::unordered_map<const ir::BufferNode *, int> last;

  /// A contiguous vector load of a kernel input in an innermost loop: its ramp's base and lanes.
  struct InputLoad {
    ir::Buffer buffer;
    ir::Expr base;
    int lanes = 0;
  };
  struct InnermostLoop {
    const ir::For *loop = nullptr;
    /// The variables of the loops between the row loop and this one.
    std::vector<ir::Var> enclosing;
    int floatOps = 0;
    bool loadsInput = false;
    int storeLanes = 0;
    std::vector<InputLoad> inputLoads;
  };
  std::vector<InnermostLoop> innermost;

  /// Where an input's next row is prefetched instead of in its own loop: `carrier`, an
  /// innermost loop that loads no kernel input and computes from cache, prefetches what
  /// `loading` (the loop loading the input last) reads at the next row, mapping `loading`'s
  /// variables to its own.
  struct CarriedLoad {
    const InnermostLoop *carrier = nullptr;
    const InnermostLoop *loading = nullptr;
    InputLoad load;
  };
  /// The inputs' loads whose next rows are better prefetched by the loop computing the most
  /// from cache: a short, memory-bound loop loading an input would issue its next row's
  /// prefetches in a burst on top of its own loads, and the memory would then idle while the
  /// compute passes run (Harris's gray value, then its gradients, sums and response). Empty
  /// where the inputs' own loops compute the most (a softmax row's exp pass): they prefetch
  /// there. Spreading the prefetches over every loop computing from cache, by arithmetic,
  /// measured slower on Harris than putting them all in its costliest loop.
  std::vector<CarriedLoad> carriedLoads() const {
    const InnermostLoop *carrier = nullptr;
    for (const InnermostLoop &l : innermost)
      if (!l.loadsInput && l.storeLanes > 1 && (!carrier || l.floatOps > carrier->floatOps))
        carrier = &l;
    std::unordered_map<const ir::BufferNode *, const InnermostLoop *> lastLoop;
    for (const InnermostLoop &l : innermost)
      for (const InputLoad &load : l.inputLoads)
        lastLoop[load.buffer.get()] = &l;
    std::vector<CarriedLoad> carried;
    if (!carrier)
      return carried;
    for (const InnermostLoop &loading : innermost)
      for (const InputLoad &load : loading.inputLoads)
        if (lastLoop.at(load.buffer.get()) == &loading && loading.floatOps < carrier->floatOps &&
            load.lanes == carrier->storeLanes)
          carried.push_back({carrier, &loading, load});
    return carried;
  }

protected:
  void visitFor(const ir::For *n) override {
    bool pass = enclosing.empty();
    if (pass)
      ++passes;
    AccumulatorFinder tile;
    tile.visit(n->body);
    if (tile.found)
      return;
    if (pass) {
      LoadsOutsideTiles uses;
      uses.visit(n->body);
      for (const ir::BufferNode *buffer : uses.loaded)
        last[buffer] = passes;
    }
    InnerLoopCounter inner;
    inner.visit(n->body);
    if (inner.loops > 0) {
      enclosing.push_back(n->var);
      IRVisitor::visitFor(n);
      enclosing.pop_back();
      return;
    }
    InnermostLoop loop;
    loop.loop = n;
    loop.enclosing = enclosing;
    FloatOpCounter ops;
    ops.visit(n->body);
    loop.floatOps = ops.ops;
    BodyAccesses accesses(loop);
    accesses.visit(n->body);
    innermost.push_back(std::move(loop));
  }

private:
  /// The loads and stores of an innermost loop's body.
  class BodyAccesses : public ir::IRVisitor {
  public:
    explicit BodyAccesses(InnermostLoop &loop) : loop(loop) {}

  protected:
    void visitLoad(const ir::Load *n) override {
      if (n->buffer->role == ir::BufferRole::Input) {
        loop.loadsInput = true;
        const ir::Expr *base = contiguousBase(n->index);
        if (base &&
            std::none_of(loop.inputLoads.begin(), loop.inputLoads.end(), [&](const auto &l) {
              return l.buffer.get() == n->buffer.get() && ir::structurallyEqual(l.base, *base);
            }))
          loop.inputLoads.push_back({n->buffer, *base, n->type.lanes});
      }
      IRVisitor::visitLoad(n);
    }
    void visitStore(const ir::Store *n) override {
      loop.storeLanes = std::max<int>(loop.storeLanes, n->value->type.lanes);
      IRVisitor::visitStore(n);
    }

  private:
    InnermostLoop &loop;
  };

  int passes = 0;
  std::vector<ir::Var> enclosing;
};

/// The bits of `value` in the 16-bit float format `d` (exact: FloatImm values are representable).
uint16_t halfBits(double value, DType d) {
  llvm::APFloat f(value);
  bool lost = false;
  f.convert(d == DType::F16 ? llvm::APFloat::IEEEhalf() : llvm::APFloat::BFloat(),
            llvm::APFloat::rmNearestTiesToEven, &lost);
  return static_cast<uint16_t>(f.bitcastToAPInt().getZExtValue());
}

class CodeGenLlvm {
public:
  CodeGenLlvm(llvm::Module &module, const LlvmTargetInfo &target)
      : ctx(module.getContext()), module(module), target(target), b(ctx) {}

  void emitKernel(const ir::LoweredFunc &func, const std::string &symbol);

private:
  llvm::LLVMContext &ctx;
  llvm::Module &module;
  const LlvmTargetInfo &target;
  std::string kernelName; // For the bounds checks' reports.
  llvm::IRBuilder<> b;
  llvm::Function *function = nullptr; // The body function being emitted.
  llvm::BasicBlock *entryBlock = nullptr;
  llvm::Value *runtime = nullptr; // The runtime handle, in `function`.
  std::unordered_map<const ir::VarNode *, llvm::Value *> vars;
  std::unordered_map<const ir::BufferNode *, llvm::Value *> buffers;
  /// Outputs that are written and never read by this kernel: large ones are stored with
  /// streaming stores (see kStreamingBytes), which need an sfence before each function returns.
  std::unordered_set<const ir::BufferNode *> streamable;
  /// Inside a loop over rows whose body makes several passes (a row-wise group: max, exp, sum,
  /// divide): the row variable. Loads of kernel inputs at this row prefetch the next row.
  ir::Var rowVar;
  /// The passes of that row loop (its direct inner loops) count from 1 as they are emitted;
  /// an input's next row is prefetched only in the last pass that loads the input (see
  /// prefetchNextRow).
  int rowPass = 0;
  int passDepth = 0;
  std::unordered_map<const ir::BufferNode *, int> lastPassLoading;
  /// The inputs' next rows that the row loops being emitted prefetch in loops other than their
  /// own (RowPasses::carriedLoads), each with its row variable; the pointers are into the
  /// RowPasses that emitLoop keeps alive for the row loop.
  std::vector<std::pair<ir::Var, RowPasses::CarriedLoad>> carriedLoads;
  /// The loops around the code being emitted, innermost last, each with its end (the chunk's
  /// end in a parallel loop).
  std::vector<std::pair<const ir::For *, llvm::Value *>> loopEnds;
  /// Loops known to compute a transcendental function (see prefetchAhead).
  std::unordered_map<const ir::For *, bool> computeBoundLoops;
  /// The loop whose body is being emitted and the loads prefetchAhead prefetched in it (the same
  /// element loaded twice, as relu(x) - x * t does, is prefetched once).
  const ir::For *aheadLoop = nullptr;
  std::vector<std::pair<const ir::BufferNode *, ir::Expr>> aheadLoads;
  /// A scalar let in scope whose value reads memory at a loop's row (a gather's index, hoisted:
  /// let ids.index = ids[t]), with variables bound to that loop's next row (clamped to its
  /// last) and the value read there, once per row (see prefetchNextGather).
  struct IndexRead {
    const ir::LetStmt *let;
    ir::Var row;
    ir::Var nextRow;
    ir::Var nextIndex;
  };
  std::vector<IndexRead> indexReads;

  // Binds a name for the duration of a scope, restoring any shadowed binding afterwards.
  template <typename Map, typename Key> class ScopedBinding {
  public:
    ScopedBinding(Map &map, Key key, llvm::Value *value) : map(map), key(key) {
      auto it = map.find(key);
      if (it != map.end())
        previous = it->second;
      map[key] = value;
    }
    ~ScopedBinding() {
      if (previous)
        map[key] = previous;
      else
        map.erase(key);
    }
    ScopedBinding(const ScopedBinding &) = delete;
    ScopedBinding &operator=(const ScopedBinding &) = delete;

  private:
    Map &map;
    Key key;
    llvm::Value *previous = nullptr;
  };
  using VarBinding = ScopedBinding<decltype(vars), const ir::VarNode *>;
  using BufferBinding = ScopedBinding<decltype(buffers), const ir::BufferNode *>;

  // ---- Types.
  llvm::Type *scalarType(DType d) {
    switch (d) {
    case DType::F16:
    case DType::BF16:
      return b.getInt16Ty();
    case DType::F32:
      return b.getFloatTy();
    case DType::F64:
      return b.getDoubleTy();
    case DType::I32:
      return b.getInt32Ty();
    case DType::I64:
      return b.getInt64Ty();
    case DType::I16:
      return b.getInt16Ty();
    case DType::U8:
    case DType::I8:
      return b.getInt8Ty();
    case DType::Bool:
      return b.getInt1Ty();
    }
    TDSL_UNREACHABLE("unknown dtype");
  }
  llvm::Type *withLanes(llvm::Type *scalar, int lanes) {
    return lanes == 1 ? scalar : llvm::FixedVectorType::get(scalar, lanes);
  }
  llvm::Type *regType(Type t) { return withLanes(scalarType(t.dtype), t.lanes); }
  llvm::Type *memType(DType d) { return d == DType::Bool ? b.getInt8Ty() : scalarType(d); }
  static int lanesOf(llvm::Value *v) {
    auto *vt = llvm::dyn_cast<llvm::FixedVectorType>(v->getType());
    return vt ? static_cast<int>(vt->getNumElements()) : 1;
  }
  /// A constant of `v`'s (scalar or vector) integer type.
  llvm::Constant *intLike(llvm::Value *v, uint64_t value) {
    return llvm::ConstantInt::get(v->getType(), value, /*IsSigned=*/true);
  }
  llvm::Constant *fpLike(llvm::Value *v, double value) {
    return llvm::ConstantFP::get(v->getType(), value);
  }
  llvm::Type *intTypeLike(llvm::Value *v, unsigned bits) {
    return withLanes(b.getIntNTy(bits), lanesOf(v));
  }
  llvm::Type *floatTypeLike(llvm::Value *v) { return withLanes(b.getFloatTy(), lanesOf(v)); }

  // ---- Expressions.
  llvm::Value *emit(const ir::Expr &e);
#define TDSL_EXPR_NODE(Name) llvm::Value *emit##Name(const ir::Name &node);
#include "ir/IRNodes.def"

  llvm::Value *unaryOp(ir::UnaryOp op, Type t, llvm::Value *a);
  /// `ramp(base, 1, L) < broadcast(n)` of i64 lanes as a compare of lane numbers; else null.
  llvm::Value *emitLaneMask(const ir::Binary &node);
  llvm::Value *binaryOp(BinaryOp op, Type t, llvm::Value *a, llvm::Value *c);
  llvm::Value *compare(BinaryOp op, Type t, llvm::Value *a, llvm::Value *c);
  llvm::Value *intFloorDivMod(llvm::Value *a, llvm::Value *d, bool wantMod);
  llvm::Value *floatMod(llvm::Value *a, llvm::Value *d);
  llvm::Value *floatMinMax(llvm::Value *a, llvm::Value *c, bool isMax);
  llvm::Value *intPow(llvm::Value *base, llvm::Value *exponent);
  llvm::Value *intPowConstant(llvm::Value *base, int64_t exponent);
  llvm::Function *intPowHelper(llvm::Type *intType);
  llvm::Value *callOp(Intrinsic fn, Type t, llvm::Value *x);
  llvm::Value *callLibm(const char *floatName, const char *doubleName, llvm::Value *x);
  llvm::Value *reduceOp(ReduceOp op, Type t, llvm::Value *v);
  /// The value a store writes (a multiply-add into a contraction's accumulator as one FMA).
  llvm::Value *storedValue(const ir::Store &node);
  /// `acc + i32(x) * i32(y)` stored into a buffer of sumOnlyBuffers, x and y vectors of u8, i8
  /// or i16: the products added in pairs by the target's 16-bit multiply-add (vpmaddwd, and
  /// vpdpwssd with the add where AVX-512 VNNI is present) into the first half of the lanes.
  /// Null where the store is not of this form or the target has no such instruction.
  llvm::Value *integerDotAccumulate(const ir::Store &node);
  /// integerDotAccumulate for bytes (u8 x i8, i8 x i8) with AVX-512 VNNI: four products a
  /// lane (vpdpbusd). Null elsewhere.
  llvm::Value *byteDotAccumulate(const ir::Expr &accumulated, const ir::Expr &x, const ir::Expr &y,
                                 int lanes);
  /// The i32 stack buffers whose lanes are seen only through their total (SumOnlyUses).
  std::unordered_set<const ir::BufferNode *> sumOnlyBuffers;
  llvm::Value *castValue(llvm::Value *v, DType from, DType to);

  // f16 / bf16 conversions (bits in i16 <-> f32), and f64 -> f32 rounding to odd, which makes
  // f64 -> f32 -> f16 a single correctly rounded conversion.
  llvm::Value *widenStorage(llvm::Value *bits, DType from);
  llvm::Value *narrowToStorage(llvm::Value *f32, DType to);
  llvm::Value *halfToFloatBits(llvm::Value *bits);
  llvm::Value *floatToHalfBits(llvm::Value *f32);
  llvm::Value *floatToBFloat16Bits(llvm::Value *f32);
  llvm::Value *roundToOddF32(llvm::Value *f64);

  // ---- Memory.
  llvm::Value *bufferPointer(const ir::Buffer &buffer);
  /// With target.boundsChecks: traps unless every active lane of `index` is inside `buffer`.
  void checkBounds(const ir::Buffer &buffer, llvm::Value *index, llvm::Value *pred);
  /// With target.boundsChecks: adds the variables of the captured buffers' shapes to `captures`.
  void captureShapes(LoopCaptures &captures);
  llvm::Value *fromMemory(llvm::Value *v, DType d);
  llvm::Value *toMemory(llvm::Value *v, DType d);
  /// S when `index` is a ramp of constant stride S from 2 to 4, else 0.
  static int smallStride(const ir::Expr &index);
  /// The i1 run-time test for storing `bytes` at `addr` of `buffer` with a streaming store (the
  /// buffer is large and the address aligned to the store), or null when it never may.
  llvm::Value *streamingTest(const ir::Buffer &buffer, llvm::Value *addr, uint64_t bytes);
  /// Orders the streaming stores of this function before it returns (no-op without any).
  void fenceStreamingStores();
  /// Within a multi-pass row loop: prefetches into L2 the `lanes` elements of a kernel input at
  /// `base` with the row variable one higher, so that the memory-bound first pass over the next
  /// row finds it in cache while this row's compute-bound passes run.
  void prefetchNextRow(const ir::Buffer &buffer, const ir::Expr &base, int lanes);
  /// At the top of an innermost loop's body: prefetches the next rows of the inputs it carries
  /// (RowPasses::carriedLoads) at this iteration's columns.
  void prefetchCarriedRows(const ir::For &loop);
  /// For a contiguous load of a kernel input at `base` (address `addr`) that steps through the
  /// input as the innermost loop runs, in a loop that computes a transcendental function:
  /// prefetches the input kPrefetchAheadBytes ahead, once per element and loop body.
  void prefetchAhead(const ir::Buffer &buffer, const ir::Expr &base, llvm::Value *addr, int lanes);
  /// The IndexRead of `let`, its next row's value emitted here, or none when the let reads no
  /// memory at an enclosing loop's row.
  std::optional<IndexRead> nextIndexRead(const ir::LetStmt &let);
  /// For a contiguous load of a kernel input at a gathered row (`base` uses an IndexRead,
  /// table[ids.index * D + e]): prefetches the same elements of the row that the next row
  /// gathers, which the hardware prefetcher cannot guess.
  void prefetchNextGather(const ir::Buffer &buffer, const ir::Expr &base, int lanes);
  /// Prefetches into L2 the `bytes` from `addr`, a line at a time.
  void prefetchLines(llvm::Value *addr, uint64_t bytes);
  /// Emits `body` only when `pred` holds; yields its value, or `otherwise` when the guard fails.
  template <typename F>
  llvm::Value *guarded(llvm::Value *pred, F &&body, llvm::Constant *otherwise);
  llvm::Value *elementCount(const ir::Buffer &buffer);

  // ---- Statements.
  void emit(const ir::Stmt &s);
#define TDSL_STMT_NODE(Name) void emit##Name(const ir::Name &node);
#include "ir/IRNodes.def"

  /// The counted loop of `node` over [begin, end); begin == 0 except in outlined parallel loops.
  void emitLoop(const ir::For &node, llvm::Value *begin, llvm::Value *end);
  /// Outlines the body of a Parallel loop and calls the runtime (ParallelFor.h), or, for a
  /// Serial one, calls it directly, never inlined (emitOutlinedCall).
  void emitOutlinedFor(const ir::For &node, llvm::Value *extent, bool parallel);
  /// Acquires `buf` from the call's scratch arena, runs `body` with it bound, and releases it.
  void emitHeapAllocation(const ir::Buffer &buf, const std::function<void()> &body);
  /// Inside a loop that holds micro-kernels next to other nests (see HoldsOtherNests): the loops
  /// of micro-kernels there are outlined.
  bool besideOtherNests = false;

  llvm::BasicBlock *newBlock(const std::string &name) {
    return llvm::BasicBlock::Create(ctx, name, function);
  }
  void setFunctionAttributes(llvm::Function *f);
};

// ---------------------------------------------------------------------------------------------
// The entry point and the body function.

void CodeGenLlvm::setFunctionAttributes(llvm::Function *f) {
  f->addFnAttr(llvm::Attribute::NoUnwind);
  f->addFnAttr(llvm::Attribute::MustProgress);
  // Always present, even when empty: the JIT's own target machine describes the host, and these
  // attributes are what make the code follow `target` instead.
  f->addFnAttr("target-cpu", target.cpu);
  f->addFnAttr("target-features", target.features);
  // Without these, LLVM splits 512-bit vectors on CPUs tuned to prefer 256 bits.
  std::string bits = std::to_string(target.vectorBits);
  f->addFnAttr("prefer-vector-width", bits);
  f->addFnAttr("min-legal-vector-width", bits);
}

void CodeGenLlvm::emitKernel(const ir::LoweredFunc &func, const std::string &symbol) {
  kernelName = func.name;
  llvm::Type *ptrTy = b.getPtrTy();
  llvm::Type *i64Ty = b.getInt64Ty();

  // The body: one noalias pointer per buffer, one i64 per symbol, then the runtime handle.
  std::vector<llvm::Type *> paramTypes(func.params.size(), ptrTy);
  paramTypes.insert(paramTypes.end(), func.symbols.size(), i64Ty);
  paramTypes.push_back(ptrTy);
  auto *bodyTy = llvm::FunctionType::get(b.getVoidTy(), paramTypes, false);
  function =
      llvm::Function::Create(bodyTy, llvm::GlobalValue::InternalLinkage, symbol + ".body", module);
  setFunctionAttributes(function);
  for (size_t i = 0; i < func.params.size(); ++i) {
    const ir::Buffer &buf = func.params[i];
    TDSL_CHECK(buf) << "null parameter of " << func.name;
    llvm::Argument *arg = function->getArg(static_cast<unsigned>(i));
    arg->setName(buf->name);
    // Inputs are never written and outputs are distinct memory, so no two parameters through
    // which anything is written alias.
    // Not nocapture: a parallel loop stores them in its closure.
    arg->addAttr(llvm::Attribute::NoAlias);
    if (buf->role == ir::BufferRole::Input)
      arg->addAttr(llvm::Attribute::ReadOnly);
    buffers[buf.get()] = arg;
  }
  for (size_t i = 0; i < func.symbols.size(); ++i) {
    llvm::Argument *arg = function->getArg(static_cast<unsigned>(func.params.size() + i));
    arg->setName(func.symbols[i]->name);
    vars[func.symbols[i].get()] = arg;
  }
  runtime = function->getArg(static_cast<unsigned>(paramTypes.size() - 1));
  runtime->setName("runtime");

  entryBlock = newBlock("entry");
  b.SetInsertPoint(entryBlock);
  TDSL_CHECK(func.body) << "function " << func.name << " has no body";
  if (llvm::Triple(module.getTargetTriple()).getArch() == llvm::Triple::x86_64) {
    UseFinder uses;
    uses.visit(func.body);
    for (const ir::Buffer &buf : func.params)
      if (buf->role == ir::BufferRole::Output && !uses.loaded.count(buf.get()))
        streamable.insert(buf.get());
  }
  emit(func.body);
  fenceStreamingStores();
  b.CreateRetVoid();

  // The entry point unpacks the arrays of the calling convention.
  auto *entryTy = llvm::FunctionType::get(b.getVoidTy(), {ptrTy, ptrTy, ptrTy}, false);
  llvm::Function *entry =
      llvm::Function::Create(entryTy, llvm::GlobalValue::ExternalLinkage, symbol, module);
  setFunctionAttributes(entry);
  llvm::Argument *bufArray = entry->getArg(0), *symArray = entry->getArg(1);
  bufArray->setName("buffers");
  symArray->setName("symbols");
  entry->getArg(2)->setName("runtime");
  for (unsigned i = 0; i < 2; ++i) {
    entry->addParamAttr(i, llvm::Attribute::NoCapture);
    entry->addParamAttr(i, llvm::Attribute::ReadOnly);
  }
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", entry));
  std::vector<llvm::Value *> args;
  for (size_t i = 0; i < func.params.size(); ++i) {
    llvm::Value *slot = b.CreateConstInBoundsGEP1_64(ptrTy, bufArray, i);
    args.push_back(b.CreateAlignedLoad(ptrTy, slot, llvm::Align(8), func.params[i]->name));
  }
  // Shape symbols are extents: never negative.
  llvm::MDNode *nonNegative = llvm::MDBuilder(ctx).createRange(
      llvm::APInt(64, 0), llvm::APInt(64, std::numeric_limits<int64_t>::max()));
  for (size_t i = 0; i < func.symbols.size(); ++i) {
    llvm::Value *slot = b.CreateConstInBoundsGEP1_64(i64Ty, symArray, i);
    llvm::LoadInst *value = b.CreateAlignedLoad(i64Ty, slot, llvm::Align(8), func.symbols[i]->name);
    value->setMetadata(llvm::LLVMContext::MD_range, nonNegative);
    args.push_back(value);
  }
  args.push_back(entry->getArg(2));
  b.CreateCall(function, args);
  b.CreateRetVoid();
}

// ---------------------------------------------------------------------------------------------
// Expressions.

llvm::Value *CodeGenLlvm::emit(const ir::Expr &e) {
  TDSL_CHECK(e) << "null expression";
  switch (e->kind) {
#define TDSL_EXPR_NODE(Name)                                                                       \
  case ir::ExprKind::Name:                                                                         \
    return emit##Name(*static_cast<const ir::Name *>(e.get()));
#include "ir/IRNodes.def"
  }
  TDSL_UNREACHABLE("unknown expression kind");
}

llvm::Value *CodeGenLlvm::emitIntImm(const ir::IntImm &node) {
  return llvm::ConstantInt::get(regType(node.type), static_cast<uint64_t>(node.value),
                                /*IsSigned=*/node.type.dtype != DType::U8);
}

llvm::Value *CodeGenLlvm::emitFloatImm(const ir::FloatImm &node) {
  if (isStorageFloat(node.type.dtype))
    return llvm::ConstantInt::get(regType(node.type), halfBits(node.value, node.type.dtype));
  return llvm::ConstantFP::get(regType(node.type), node.value);
}

llvm::Value *CodeGenLlvm::emitVarRef(const ir::VarRef &node) {
  auto it = vars.find(node.var.get());
  TDSL_CHECK(it != vars.end()) << "variable " << node.var->name << " used out of scope";
  return it->second;
}

llvm::Value *CodeGenLlvm::emitUnary(const ir::Unary &node) {
  llvm::Value *a = emit(node.a);
  Type t = node.a->type;
  if (isStorageFloat(t.dtype))
    return narrowToStorage(unaryOp(node.op, t.withDType(DType::F32), widenStorage(a, t.dtype)),
                           t.dtype);
  return unaryOp(node.op, t, a);
}

llvm::Value *CodeGenLlvm::unaryOp(ir::UnaryOp op, Type t, llvm::Value *a) {
  if (op == ir::UnaryOp::Not)
    return b.CreateNot(a);
  return t.isFloat() ? b.CreateFNeg(a) : b.CreateNeg(a); // Integer negation wraps.
}

llvm::Value *CodeGenLlvm::emitBinary(const ir::Binary &node) {
  if (llvm::Value *mask = emitLaneMask(node))
    return mask;
  llvm::Value *a = emit(node.a), *c = emit(node.b);
  Type t = node.a->type;
  if (isStorageFloat(t.dtype)) {
    llvm::Value *r = binaryOp(node.op, t.withDType(DType::F32), widenStorage(a, t.dtype),
                              widenStorage(c, t.dtype));
    return ir::isComparison(node.op) ? r : narrowToStorage(r, t.dtype);
  }
  return binaryOp(node.op, t, a, c);
}

llvm::Value *CodeGenLlvm::emitLaneMask(const ir::Binary &node) {
  const auto *ramp = ir::as<ir::Ramp>(node.a);
  const auto *bound = ir::as<ir::Broadcast>(node.b);
  const auto *stride = ramp ? ir::as<ir::IntImm>(ramp->stride) : nullptr;
  if (node.op != BinaryOp::Lt || !bound || !stride || stride->value != 1 ||
      ramp->type.dtype != DType::I64)
    return nullptr;
  // ramp(base, 1, L) < broadcast(n): lane l is on when l < n - base. Comparing the lane numbers
  // (32-bit constants) with that count, clamped to [0, L], takes one vector compare of half the
  // width instead of a splat, an add and a 64-bit compare (which LLVM splits into L / 8
  // registers: the remainder masks of a micro-kernel's tile made its fast tier slow to select).
  llvm::Value *count = b.CreateSub(emit(bound->value), emit(ramp->base));
  llvm::Value *lanes = b.getInt64(static_cast<uint64_t>(ramp->lanes));
  count = b.CreateSelect(b.CreateICmpSLT(count, b.getInt64(0)), b.getInt64(0), count);
  count = b.CreateSelect(b.CreateICmpSGT(count, lanes), lanes, count);
  std::vector<llvm::Constant *> laneNumbers;
  for (int i = 0; i < ramp->lanes; ++i)
    laneNumbers.push_back(b.getInt32(static_cast<uint32_t>(i)));
  return b.CreateICmpULT(llvm::ConstantVector::get(laneNumbers),
                         b.CreateVectorSplat(static_cast<unsigned>(ramp->lanes),
                                             b.CreateTrunc(count, b.getInt32Ty())));
}

llvm::Value *CodeGenLlvm::binaryOp(BinaryOp op, Type t, llvm::Value *a, llvm::Value *c) {
  if (ir::isComparison(op))
    return compare(op, t, a, c);
  bool fp = t.isFloat();
  switch (op) {
  case BinaryOp::Add:
    return fp ? b.CreateFAdd(a, c) : b.CreateAdd(a, c);
  case BinaryOp::Sub:
    return fp ? b.CreateFSub(a, c) : b.CreateSub(a, c);
  case BinaryOp::Mul:
    return fp ? b.CreateFMul(a, c) : b.CreateMul(a, c);
  case BinaryOp::Div:
    TDSL_CHECK(fp) << "integer division";
    return b.CreateFDiv(a, c);
  case BinaryOp::FloorDiv:
  case BinaryOp::Mod:
  case BinaryOp::Pow:
    if (t.dtype == DType::U8) // In i16, where every u8 is non-negative; the low byte is the u8.
      return b.CreateTrunc(binaryOp(op, t.withDType(DType::I16),
                                    b.CreateZExt(a, intTypeLike(a, 16)),
                                    b.CreateZExt(c, intTypeLike(c, 16))),
                           a->getType());
    if (op == BinaryOp::FloorDiv)
      return fp ? b.CreateUnaryIntrinsic(llvm::Intrinsic::floor, b.CreateFDiv(a, c))
                : intFloorDivMod(a, c, /*wantMod=*/false);
    if (op == BinaryOp::Mod)
      return fp ? floatMod(a, c) : intFloorDivMod(a, c, /*wantMod=*/true);
    if (!fp)
      return intPow(a, c);
    if (llvm::Value *v = emitVectorMath(b, module, target, MathFn::Pow, a, c))
      return v;
    return b.CreateBinaryIntrinsic(llvm::Intrinsic::pow, a, c);
  case BinaryOp::Min:
    return fp ? floatMinMax(a, c, /*isMax=*/false)
              : b.CreateBinaryIntrinsic(
                    t.dtype == DType::U8 ? llvm::Intrinsic::umin : llvm::Intrinsic::smin, a, c);
  case BinaryOp::Max:
    return fp ? floatMinMax(a, c, /*isMax=*/true)
              : b.CreateBinaryIntrinsic(
                    t.dtype == DType::U8 ? llvm::Intrinsic::umax : llvm::Intrinsic::smax, a, c);
  case BinaryOp::And:
    return b.CreateAnd(a, c);
  case BinaryOp::Or:
    return b.CreateOr(a, c);
  default:
    break;
  }
  TDSL_UNREACHABLE("unknown binary operator");
}

llvm::Value *CodeGenLlvm::floatMinMax(llvm::Value *a, llvm::Value *c, bool isMax) {
  if (!a->getType()->isVectorTy())
    return isMax ? b.CreateMaximum(a, c) : b.CreateMinimum(a, c);
  // IEEE 754-2019 maximum/minimum in three vector instructions where LLVM's generic lowering of
  // llvm.maximum takes six (sign tests and blends around a vmaxps): the max pass of a softmax row
  // was twice the cost of its sum pass. Where the operands are ordered and differ, x86's
  // `a > c ? a : c` (vmaxps, one select) is the answer. Where they compare equal or one is NaN
  // (fcmp ueq, one compare into a mask), the answer is a bitwise function of the two (one
  // vpternlog): equal non-zero operands have the same bits; of two zeros, maximum is -0 only if
  // both are (sign bits ANDed) and minimum is -0 if either is (ORed); a NaN operand makes the
  // exponent all ones and the mantissa non-zero under OR, so the result is a NaN either way.
  auto *vecTy = llvm::cast<llvm::VectorType>(a->getType());
  unsigned bits = vecTy->getScalarSizeInBits();
  llvm::Type *intTy = llvm::VectorType::get(b.getIntNTy(bits), vecTy->getElementCount());
  llvm::Value *ordered =
      b.CreateSelect(isMax ? b.CreateFCmpOGT(a, c) : b.CreateFCmpOLT(a, c), a, c);
  // Where the fix applies, `ordered` is c: combining it rather than c with a lets LLVM emit the
  // fix as one vpternlog merged into vmaxps's result under the mask.
  llvm::Value *ai = b.CreateBitCast(a, intTy), *oi = b.CreateBitCast(ordered, intTy);
  llvm::Value *fix = nullptr;
  unsigned lanes = llvm::cast<llvm::FixedVectorType>(vecTy)->getNumElements();
  unsigned chunk = 512 / bits;
  if (isMax && inlineMathEnabled(target) && (bits == 32 || bits == 64) && lanes % chunk == 0) {
    // LLVM splits the bit logic below into three instructions and a blend; one vpternlog per
    // register (written out here), which LLVM merges into vmaxps's result under the mask.
    // Operands (o, a, ~sign) -> ~sign ? o | a : o & a, i.e. 0xE8 as a truth table.
    llvm::Intrinsic::ID id = bits == 32 ? llvm::Intrinsic::x86_avx512_pternlog_d_512
                                        : llvm::Intrinsic::x86_avx512_pternlog_q_512;
    auto *partTy = llvm::FixedVectorType::get(b.getIntNTy(bits), chunk);
    llvm::Constant *magnitude = llvm::ConstantInt::get(partTy, ~llvm::APInt::getSignMask(bits));
    std::vector<llvm::Value *> parts;
    for (unsigned at = 0; at < lanes; at += chunk) {
      llvm::SmallVector<int, 16> take;
      for (unsigned l = 0; l < chunk; ++l)
        take.push_back(static_cast<int>(at + l));
      parts.push_back(
          b.CreateIntrinsic(id, {},
                            {b.CreateShuffleVector(oi, take), b.CreateShuffleVector(ai, take),
                             magnitude, b.getInt32(0xE8)}));
    }
    fix = parts.size() == 1 ? parts[0] : llvm::concatenateVectors(b, parts);
  } else {
    fix = b.CreateOr(ai, oi);
    if (isMax) // sign bits ANDed, the rest ORed: (a & o) | ((a ^ o) & ~sign).
      fix = b.CreateOr(b.CreateAnd(ai, oi),
                       b.CreateAnd(b.CreateXor(ai, oi),
                                   llvm::ConstantInt::get(intTy, ~llvm::APInt::getSignMask(bits))));
  }
  // The select on the integer bits: the form LLVM folds into a merge-masked vpternlog.
  return b.CreateBitCast(b.CreateSelect(b.CreateFCmpUEQ(a, c), fix, oi), vecTy);
}

llvm::Value *CodeGenLlvm::compare(BinaryOp op, Type t, llvm::Value *a, llvm::Value *c) {
  using P = llvm::CmpInst::Predicate;
  struct Preds {
    P fp, sint, uint;
  };
  // Float comparisons are ordered (false with a NaN) except `!=`, so that NaN != NaN holds.
  // Bool orders false < true, so its comparisons are unsigned, as are u8's.
  Preds p{};
  switch (op) {
  case BinaryOp::Eq:
    p = {P::FCMP_OEQ, P::ICMP_EQ, P::ICMP_EQ};
    break;
  case BinaryOp::Ne:
    p = {P::FCMP_UNE, P::ICMP_NE, P::ICMP_NE};
    break;
  case BinaryOp::Lt:
    p = {P::FCMP_OLT, P::ICMP_SLT, P::ICMP_ULT};
    break;
  case BinaryOp::Le:
    p = {P::FCMP_OLE, P::ICMP_SLE, P::ICMP_ULE};
    break;
  case BinaryOp::Gt:
    p = {P::FCMP_OGT, P::ICMP_SGT, P::ICMP_UGT};
    break;
  case BinaryOp::Ge:
    p = {P::FCMP_OGE, P::ICMP_SGE, P::ICMP_UGE};
    break;
  default:
    TDSL_UNREACHABLE("not a comparison");
  }
  if (t.isFloat())
    return b.CreateFCmp(p.fp, a, c);
  return b.CreateICmp(t.isBool() || t.dtype == DType::U8 ? p.uint : p.sint, a, c);
}

// Python's floor division and modulo, with x // 0 == x % 0 == 0 and INT_MIN // -1 wrapping.
// The hardware divides by a safe divisor (1 where the divisor is 0 or -1), so that neither
// division by zero nor the INT_MIN / -1 overflow can trap.
llvm::Value *CodeGenLlvm::intFloorDivMod(llvm::Value *a, llvm::Value *d, bool wantMod) {
  llvm::Constant *zero = intLike(a, 0), *one = intLike(a, 1), *minusOne = intLike(a, -1);
  llvm::Value *isZero = b.CreateICmpEQ(d, zero);
  llvm::Value *isMinusOne = b.CreateICmpEQ(d, minusOne);
  llvm::Value *safe = b.CreateSelect(b.CreateOr(isZero, isMinusOne), one, d);
  llvm::Value *q = b.CreateSDiv(a, safe);
  llvm::Value *r = b.CreateSRem(a, safe);
  // Truncation rounds toward zero; floor differs when the remainder's sign opposes the divisor's.
  llvm::Value *adjust =
      b.CreateAnd(b.CreateICmpNE(r, zero), b.CreateICmpSLT(b.CreateXor(r, d), zero));
  if (wantMod) {
    llvm::Value *mod = b.CreateSelect(adjust, b.CreateAdd(r, d), r);
    return b.CreateSelect(isZero, zero, mod); // For d == -1 the remainder is already 0.
  }
  llvm::Value *div = b.CreateSub(q, b.CreateZExt(adjust, a->getType()));
  div = b.CreateSelect(isMinusOne, b.CreateNeg(a), div);
  return b.CreateSelect(isZero, zero, div);
}

// r = fmod(a, d); if (r != 0 && (r < 0) != (d < 0)) r += d.
llvm::Value *CodeGenLlvm::floatMod(llvm::Value *a, llvm::Value *d) {
  llvm::Value *r = b.CreateFRem(a, d);
  llvm::Constant *zero = fpLike(a, 0.0);
  llvm::Value *signsDiffer = b.CreateXor(b.CreateFCmpOLT(r, zero), b.CreateFCmpOLT(d, zero));
  llvm::Value *fix = b.CreateAnd(b.CreateFCmpUNE(r, zero), signsDiffer);
  return b.CreateSelect(fix, b.CreateFAdd(r, d), r);
}

// Integer power: repeated squaring with wrapping; a negative exponent gives 0, except for a base
// of 1 (1) and -1 (+-1 by the exponent's parity).
llvm::Value *CodeGenLlvm::intPow(llvm::Value *base, llvm::Value *exponent) {
  llvm::Constant *constant = llvm::dyn_cast<llvm::Constant>(exponent);
  if (constant && constant->getType()->isVectorTy())
    constant = constant->getSplatValue();
  if (auto *ci = llvm::dyn_cast_or_null<llvm::ConstantInt>(constant))
    return intPowConstant(base, ci->getSExtValue());
  llvm::Type *intTy = base->getType()->getScalarType();
  llvm::Function *helper = intPowHelper(intTy);
  int lanes = lanesOf(base);
  if (lanes == 1)
    return b.CreateCall(helper, {base, exponent});
  llvm::Value *result = llvm::PoisonValue::get(base->getType());
  for (int lane = 0; lane < lanes; ++lane) {
    llvm::Value *x = b.CreateCall(
        helper, {b.CreateExtractElement(base, lane), b.CreateExtractElement(exponent, lane)});
    result = b.CreateInsertElement(result, x, lane);
  }
  return result;
}

llvm::Value *CodeGenLlvm::intPowConstant(llvm::Value *base, int64_t exponent) {
  if (exponent < 0) {
    llvm::Constant *one = intLike(base, 1);
    llvm::Value *ofMinusOne = (exponent & 1) ? intLike(base, -1) : one;
    return b.CreateSelect(
        b.CreateICmpEQ(base, one), one,
        b.CreateSelect(b.CreateICmpEQ(base, intLike(base, -1)), ofMinusOne, intLike(base, 0)));
  }
  llvm::Value *result = nullptr;
  llvm::Value *power = base;
  for (uint64_t e = static_cast<uint64_t>(exponent); e != 0; e >>= 1) {
    if (e & 1)
      result = result ? b.CreateMul(result, power) : power;
    if (e > 1)
      power = b.CreateMul(power, power);
  }
  return result ? result : intLike(base, 1);
}

// define internal iN @tdsl.ipow.iN(iN %base, iN %exp): the loop of repeated squaring.
llvm::Function *CodeGenLlvm::intPowHelper(llvm::Type *intTy) {
  std::string name = "tdsl.ipow.i" + std::to_string(intTy->getIntegerBitWidth());
  if (llvm::Function *existing = module.getFunction(name))
    return existing;
  auto *fnTy = llvm::FunctionType::get(intTy, {intTy, intTy}, false);
  auto *fn = llvm::Function::Create(fnTy, llvm::GlobalValue::InternalLinkage, name, module);
  setFunctionAttributes(fn);
  fn->setDoesNotAccessMemory();
  llvm::IRBuilder<> h(ctx);
  llvm::Argument *base = fn->getArg(0), *exp = fn->getArg(1);
  base->setName("base");
  exp->setName("exp");
  auto *entry = llvm::BasicBlock::Create(ctx, "entry", fn);
  auto *negative = llvm::BasicBlock::Create(ctx, "negative", fn);
  auto *head = llvm::BasicBlock::Create(ctx, "loop", fn);
  auto *body = llvm::BasicBlock::Create(ctx, "loop.body", fn);
  auto *exit = llvm::BasicBlock::Create(ctx, "exit", fn);
  llvm::Constant *zero = llvm::ConstantInt::get(intTy, 0), *one = llvm::ConstantInt::get(intTy, 1);
  llvm::Constant *minusOne = llvm::ConstantInt::getSigned(intTy, -1);

  h.SetInsertPoint(entry);
  h.CreateCondBr(h.CreateICmpSLT(exp, zero), negative, head);

  h.SetInsertPoint(negative);
  llvm::Value *odd = h.CreateTrunc(exp, h.getInt1Ty());
  llvm::Value *ofMinusOne = h.CreateSelect(odd, minusOne, one);
  h.CreateRet(h.CreateSelect(h.CreateICmpEQ(base, one), one,
                             h.CreateSelect(h.CreateICmpEQ(base, minusOne), ofMinusOne, zero)));

  h.SetInsertPoint(head);
  llvm::PHINode *acc = h.CreatePHI(intTy, 2, "acc");
  llvm::PHINode *power = h.CreatePHI(intTy, 2, "power");
  llvm::PHINode *rest = h.CreatePHI(intTy, 2, "rest");
  acc->addIncoming(one, entry);
  power->addIncoming(base, entry);
  rest->addIncoming(exp, entry);
  h.CreateCondBr(h.CreateICmpEQ(rest, zero), exit, body);

  h.SetInsertPoint(body);
  llvm::Value *bit = h.CreateTrunc(rest, h.getInt1Ty());
  acc->addIncoming(h.CreateSelect(bit, h.CreateMul(acc, power), acc), body);
  power->addIncoming(h.CreateMul(power, power), body);
  rest->addIncoming(h.CreateLShr(rest, one), body);
  h.CreateBr(head);

  h.SetInsertPoint(exit);
  h.CreateRet(acc);
  return fn;
}

llvm::Value *CodeGenLlvm::emitCall(const ir::Call &node) {
  llvm::Value *x = emit(node.args[0]);
  Type t = node.args[0]->type;
  if (isStorageFloat(t.dtype))
    return narrowToStorage(callOp(node.fn, t.withDType(DType::F32), widenStorage(x, t.dtype)),
                           t.dtype);
  return callOp(node.fn, t, x);
}

llvm::Value *CodeGenLlvm::callOp(Intrinsic fn, Type t, llvm::Value *x) {
  namespace I = llvm::Intrinsic;
  if (t.dtype == DType::U8) {
    TDSL_CHECK(fn == Intrinsic::Abs || fn == Intrinsic::Relu) << "math function of an integer";
    return x; // Never negative.
  }
  if (t.isInt()) {
    if (fn == Intrinsic::Abs) // abs(INT_MIN) wraps to INT_MIN rather than being poison.
      return b.CreateBinaryIntrinsic(I::abs, x, b.getFalse());
    TDSL_CHECK(fn == Intrinsic::Relu) << "math function of an integer";
    return b.CreateBinaryIntrinsic(I::smax, x, intLike(x, 0));
  }
  TDSL_CHECK(t.isFloat()) << "math function of " << t.str();
  if (std::optional<MathFn> vectorFn = vectorMathFunction(fn); vectorFn && t.isVector())
    if (llvm::Value *v = emitVectorMath(b, module, target, *vectorFn, x))
      return v; // libmvec; otherwise LLVM's intrinsic or libm, lane by lane.
  llvm::Constant *one = fpLike(x, 1.0);
  switch (fn) {
  case Intrinsic::Exp:
    return b.CreateUnaryIntrinsic(I::exp, x);
  case Intrinsic::Exp2:
    return b.CreateUnaryIntrinsic(I::exp2, x);
  case Intrinsic::Log:
    return b.CreateUnaryIntrinsic(I::log, x);
  case Intrinsic::Log2:
    return b.CreateUnaryIntrinsic(I::log2, x);
  case Intrinsic::Sqrt:
    return b.CreateUnaryIntrinsic(I::sqrt, x);
  case Intrinsic::Rsqrt:
    return b.CreateFDiv(one, b.CreateUnaryIntrinsic(I::sqrt, x));
  case Intrinsic::Sin:
    return b.CreateUnaryIntrinsic(I::sin, x);
  case Intrinsic::Cos:
    return b.CreateUnaryIntrinsic(I::cos, x);
  case Intrinsic::Tan:
    return callLibm("tanf", "tan", x);
  case Intrinsic::Tanh:
    return callLibm("tanhf", "tanh", x);
  case Intrinsic::Erf:
    return callLibm("erff", "erf", x);
  case Intrinsic::Sigmoid:
    return b.CreateFDiv(one, b.CreateFAdd(one, callOp(Intrinsic::Exp, t, b.CreateFNeg(x))));
  case Intrinsic::Relu: // maximum, not maxnum: NaN propagates.
    return b.CreateMaximum(x, fpLike(x, 0.0));
  case Intrinsic::Abs:
    return b.CreateUnaryIntrinsic(I::fabs, x);
  case Intrinsic::Floor:
    return b.CreateUnaryIntrinsic(I::floor, x);
  case Intrinsic::Ceil:
    return b.CreateUnaryIntrinsic(I::ceil, x);
  case Intrinsic::Round: // Half to even.
    return b.CreateUnaryIntrinsic(I::roundeven, x);
  }
  TDSL_UNREACHABLE("unknown intrinsic");
}

// A libm function of one argument; vectors call it once per lane (no vector math library yet).
llvm::Value *CodeGenLlvm::callLibm(const char *floatName, const char *doubleName, llvm::Value *x) {
  llvm::Type *scalar = x->getType()->getScalarType();
  const char *name = scalar->isFloatTy() ? floatName : doubleName;
  llvm::FunctionCallee callee =
      module.getOrInsertFunction(name, llvm::FunctionType::get(scalar, {scalar}, false));
  if (auto *f = llvm::dyn_cast<llvm::Function>(callee.getCallee())) {
    // Pure as with -fno-math-errno: lets LLVM hoist and drop unused calls.
    f->setDoesNotAccessMemory();
    f->setDoesNotThrow();
    f->setWillReturn();
  }
  int lanes = lanesOf(x);
  if (lanes == 1)
    return b.CreateCall(callee, {x});
  llvm::Value *result = llvm::PoisonValue::get(x->getType());
  for (int lane = 0; lane < lanes; ++lane)
    result = b.CreateInsertElement(result, b.CreateCall(callee, {b.CreateExtractElement(x, lane)}),
                                   lane);
  return result;
}

llvm::Value *CodeGenLlvm::emitSelect(const ir::Select &node) {
  llvm::Value *cond = emit(node.cond);
  llvm::Value *a = emit(node.a);
  llvm::Value *c = emit(node.b);
  return b.CreateSelect(cond, a, c);
}

llvm::Value *CodeGenLlvm::emitCast(const ir::Cast &node) {
  TDSL_CHECK(node.a->type.lanes == node.type.lanes) << "cast changes lanes";
  return castValue(emit(node.a), node.a->type.dtype, node.type.dtype);
}

llvm::Value *CodeGenLlvm::castValue(llvm::Value *v, DType from, DType to) {
  if (from == to)
    return v;
  int lanes = lanesOf(v);
  if (isStorageFloat(from)) { // Widening to f32 is exact; go on from there.
    v = widenStorage(v, from);
    from = DType::F32;
    if (to == DType::F32)
      return v;
  }
  if (isStorageFloat(to)) {
    // Reach f32 with at most one rounding to odd, so that rounding to 16 bits is the only
    // rounding that shows (an int reaches f64 exactly up to 2^53).
    llvm::Value *f32 = v;
    if (from == DType::F64)
      f32 = roundToOddF32(v);
    else if (from == DType::Bool)
      f32 = b.CreateUIToFP(v, floatTypeLike(v));
    else if (from == DType::U8)
      f32 = b.CreateUIToFP(v, floatTypeLike(v)); // Exact.
    else if (isInt(from))
      f32 = roundToOddF32(b.CreateSIToFP(v, withLanes(b.getDoubleTy(), lanes)));
    return narrowToStorage(f32, to);
  }
  llvm::Type *dst = withLanes(scalarType(to), lanes);
  if (to == DType::Bool)
    return isFloat(from) ? b.CreateFCmpUNE(v, fpLike(v, 0.0)) // NaN is true.
                         : b.CreateICmpNE(v, intLike(v, 0));
  if (from == DType::Bool || from == DType::U8)
    return isFloat(to) ? b.CreateUIToFP(v, dst) : b.CreateZExtOrTrunc(v, dst);
  if (isFloat(from) && isFloat(to))
    return b.CreateFPCast(v, dst); // fpext, or fptrunc rounding to nearest even.
  if (isFloat(from))               // Truncates toward zero, saturates, NaN -> 0.
    return b.CreateIntrinsic(to == DType::U8 ? llvm::Intrinsic::fptoui_sat
                                             : llvm::Intrinsic::fptosi_sat,
                             {dst, v->getType()}, {v});
  if (isFloat(to))
    return b.CreateSIToFP(v, dst);
  return b.CreateSExtOrTrunc(v, dst); // Narrowing an integer wraps.
}

llvm::Value *CodeGenLlvm::widenStorage(llvm::Value *bits, DType from) {
  if (from == DType::BF16) {
    llvm::Value *w = b.CreateShl(b.CreateZExt(bits, intTypeLike(bits, 32)), 16);
    return b.CreateBitCast(w, floatTypeLike(bits));
  }
  TDSL_CHECK(from == DType::F16) << "not a storage type";
  if (target.hardwareHalf)
    return b.CreateFPExt(b.CreateBitCast(bits, withLanes(b.getHalfTy(), lanesOf(bits))),
                         floatTypeLike(bits));
  return halfToFloatBits(bits);
}

llvm::Value *CodeGenLlvm::narrowToStorage(llvm::Value *f32, DType to) {
  TDSL_CHECK(f32->getType()->getScalarType()->isFloatTy()) << "narrowing a non-f32 value";
  if (to == DType::BF16)
    return floatToBFloat16Bits(f32);
  TDSL_CHECK(to == DType::F16) << "not a storage type";
  if (target.hardwareHalf)
    return b.CreateBitCast(b.CreateFPTrunc(f32, withLanes(b.getHalfTy(), lanesOf(f32))),
                           intTypeLike(f32, 16));
  return floatToHalfBits(f32);
}

// f16 bits -> f32, exact, branch-free (the method of Maratyszcza's FP16 library): a normal half
// moves into place with a shift and an exponent rebias done by one multiplication; a subnormal
// is formed as the float 0.5 + m * 2^-24 minus 0.5.
llvm::Value *CodeGenLlvm::halfToFloatBits(llvm::Value *bits) {
  llvm::Type *i32 = intTypeLike(bits, 32), *f32 = floatTypeLike(bits);
  llvm::Value *w = b.CreateShl(b.CreateZExt(bits, i32), 16);
  llvm::Value *sign = b.CreateAnd(w, intLike(w, 0x80000000u));
  llvm::Value *twoW = b.CreateAdd(w, w);
  llvm::Value *normalized = b.CreateFMul(
      b.CreateBitCast(b.CreateAdd(b.CreateLShr(twoW, 4), intLike(w, 0xE0u << 23)), f32),
      llvm::ConstantFP::get(f32, 0x1.0p-112));
  llvm::Value *denormalized =
      b.CreateFSub(b.CreateBitCast(b.CreateOr(b.CreateLShr(twoW, 17), intLike(w, 126u << 23)), f32),
                   llvm::ConstantFP::get(f32, 0.5));
  llvm::Value *isDenormal = b.CreateICmpULT(twoW, intLike(w, 1u << 27));
  llvm::Value *magnitude = b.CreateSelect(isDenormal, b.CreateBitCast(denormalized, i32),
                                          b.CreateBitCast(normalized, i32));
  return b.CreateBitCast(b.CreateOr(sign, magnitude), f32);
}

// f32 -> f16 bits, rounding to nearest even, branch-free (FP16 library's method): scaling by
// 2^112 then 2^-110 overflows exactly the values that round to infinity, and adding a power of
// two chosen from the exponent makes the FPU round the mantissa at the half's precision.
llvm::Value *CodeGenLlvm::floatToHalfBits(llvm::Value *x) {
  llvm::Type *i32 = intTypeLike(x, 32), *f32 = floatTypeLike(x);
  llvm::Value *base = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
  base = b.CreateFMul(base, llvm::ConstantFP::get(f32, 0x1.0p+112));
  base = b.CreateFMul(base, llvm::ConstantFP::get(f32, 0x1.0p-110));
  llvm::Value *w = b.CreateBitCast(x, i32);
  llvm::Value *shl1 = b.CreateAdd(w, w);
  llvm::Value *sign = b.CreateAnd(w, intLike(w, 0x80000000u));
  llvm::Value *bias = b.CreateAnd(shl1, intLike(w, 0xFF000000u));
  bias = b.CreateBinaryIntrinsic(llvm::Intrinsic::umax, bias, intLike(w, 0x71000000u));
  llvm::Value *magic =
      b.CreateBitCast(b.CreateAdd(b.CreateLShr(bias, 1), intLike(w, 0x07800000u)), f32);
  llvm::Value *rounded = b.CreateBitCast(b.CreateFAdd(magic, base), i32);
  llvm::Value *expBits = b.CreateAnd(b.CreateLShr(rounded, 13), intLike(w, 0x7C00u));
  llvm::Value *mantBits = b.CreateAnd(rounded, intLike(w, 0x0FFFu));
  llvm::Value *nonSign = b.CreateAdd(expBits, mantBits);
  llvm::Value *isNaN = b.CreateICmpUGT(shl1, intLike(w, 0xFF000000u));
  llvm::Value *result =
      b.CreateOr(b.CreateLShr(sign, 16), b.CreateSelect(isNaN, intLike(w, 0x7E00u), nonSign));
  return b.CreateTrunc(result, intTypeLike(x, 16));
}

// f32 -> bf16 bits, rounding to nearest even; NaN stays a (quiet) NaN.
llvm::Value *CodeGenLlvm::floatToBFloat16Bits(llvm::Value *x) {
  llvm::Value *u = b.CreateBitCast(x, intTypeLike(x, 32));
  llvm::Value *isNaN =
      b.CreateICmpUGT(b.CreateAnd(u, intLike(u, 0x7FFFFFFFu)), intLike(u, 0x7F800000u));
  llvm::Value *lsb = b.CreateAnd(b.CreateLShr(u, 16), intLike(u, 1));
  llvm::Value *rounded = b.CreateLShr(b.CreateAdd(u, b.CreateAdd(lsb, intLike(u, 0x7FFFu))), 16);
  llvm::Value *quietNaN = b.CreateOr(b.CreateLShr(u, 16), intLike(u, 0x40u));
  return b.CreateTrunc(b.CreateSelect(isNaN, quietNaN, rounded), intTypeLike(x, 16));
}

// f64 -> f32 rounding to odd: truncate toward zero, and set the last bit when inexact. Rounding
// that to a format at least two bits narrower equals rounding the f64 directly.
llvm::Value *CodeGenLlvm::roundToOddF32(llvm::Value *x) {
  llvm::Value *t = b.CreateFPTrunc(x, floatTypeLike(x));
  llvm::Value *back = b.CreateFPExt(t, x->getType());
  llvm::Value *inexact = b.CreateFCmpONE(back, x); // False for NaN, which passes through.
  llvm::Value *awayFromZero = b.CreateFCmpOGT(b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, back),
                                              b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x));
  llvm::Type *i32 = intTypeLike(x, 32);
  llvm::Value *bits = b.CreateSub(b.CreateBitCast(t, i32), b.CreateZExt(awayFromZero, i32));
  bits = b.CreateOr(bits, b.CreateZExt(inexact, i32));
  return b.CreateBitCast(bits, floatTypeLike(x));
}

llvm::Value *CodeGenLlvm::emitAccess(const ir::Access &) {
  TDSL_UNREACHABLE("tensor-level Access in loop IR");
}

llvm::Value *CodeGenLlvm::emitReduce(const ir::Reduce &) {
  TDSL_UNREACHABLE("tensor-level Reduce in loop IR");
}

// ---------------------------------------------------------------------------------------------
// Memory.

llvm::Value *CodeGenLlvm::bufferPointer(const ir::Buffer &buffer) {
  auto it = buffers.find(buffer.get());
  TDSL_CHECK(it != buffers.end()) << "buffer " << buffer->name << " used outside its allocation";
  return it->second;
}

void CodeGenLlvm::checkBounds(const ir::Buffer &buffer, llvm::Value *index, llvm::Value *pred) {
  if (!target.boundsChecks)
    return;
  // Parallel bodies capture the symbols of their buffers' shapes (captureShapes), so every
  // shape is in scope here.
  emitBoundsCheck(b, module, kernelName, buffer->name, index, elementCount(buffer), pred);
}

void CodeGenLlvm::captureShapes(LoopCaptures &captures) {
  struct Collect : ir::IRVisitor {
    std::vector<ir::Var> found;
    void visitVarRef(const ir::VarRef *n) override { found.push_back(n->var); }
  } collect;
  for (const ir::Buffer &buffer : captures.buffers)
    for (const ir::Expr &dim : buffer->shape)
      collect.visit(dim);
  std::unordered_set<const ir::VarNode *> have;
  for (const ir::Var &var : captures.vars)
    have.insert(var.get());
  for (const ir::Var &var : collect.found)
    if (vars.count(var.get()) && have.insert(var.get()).second)
      captures.vars.push_back(var);
}

llvm::Value *CodeGenLlvm::fromMemory(llvm::Value *v, DType d) {
  return d == DType::Bool ? b.CreateICmpNE(v, intLike(v, 0)) : v;
}

llvm::Value *CodeGenLlvm::toMemory(llvm::Value *v, DType d) {
  return d == DType::Bool ? b.CreateZExt(v, intTypeLike(v, 8)) : v;
}

int CodeGenLlvm::smallStride(const ir::Expr &index) {
  const auto *ramp = ir::as<ir::Ramp>(index);
  const auto *stride = ramp ? ir::as<ir::IntImm>(ramp->stride) : nullptr;
  return stride && stride->value >= 2 && stride->value <= 4 ? int(stride->value) : 0;
}

template <typename F>
llvm::Value *CodeGenLlvm::guarded(llvm::Value *pred, F &&body, llvm::Constant *otherwise) {
  llvm::BasicBlock *before = b.GetInsertBlock();
  llvm::BasicBlock *then = newBlock("guard.then");
  llvm::BasicBlock *merge = newBlock("guard.end");
  b.CreateCondBr(pred, then, merge);
  b.SetInsertPoint(then);
  llvm::Value *value = body();
  llvm::BasicBlock *thenEnd = b.GetInsertBlock();
  b.CreateBr(merge);
  b.SetInsertPoint(merge);
  if (!otherwise)
    return nullptr;
  llvm::PHINode *phi = b.CreatePHI(otherwise->getType(), 2);
  phi->addIncoming(value, thenEnd);
  phi->addIncoming(otherwise, before);
  return phi;
}

llvm::Value *CodeGenLlvm::emitLoad(const ir::Load &node) {
  DType d = node.buffer->dtype;
  llvm::Value *ptr = bufferPointer(node.buffer);
  llvm::Type *elem = memType(d);
  llvm::Align align(byteSize(d));
  int lanes = node.type.lanes;
  llvm::Value *pred = node.predicate ? emit(node.predicate) : nullptr;

  if (lanes == 1) {
    auto load = [&] {
      llvm::Value *index = emit(node.index);
      checkBounds(node.buffer, index, nullptr);
      llvm::Value *addr = b.CreateInBoundsGEP(elem, ptr, index);
      return fromMemory(b.CreateAlignedLoad(elem, addr, align), d);
    };
    if (!pred)
      return load();
    // The index is computed under the guard too: it may only be meaningful where pred holds.
    return guarded(pred, load, llvm::Constant::getNullValue(regType(node.type)));
  }

  auto *vecTy = llvm::FixedVectorType::get(elem, lanes);
  llvm::Constant *zeros = llvm::Constant::getNullValue(vecTy);
  llvm::Value *v;
  if (target.boundsChecks)
    checkBounds(node.buffer, emit(node.index), pred);
  if (const ir::Expr *base = contiguousBase(node.index)) {
    llvm::Value *addr = b.CreateInBoundsGEP(elem, ptr, emit(*base));
    prefetchNextRow(node.buffer, *base, lanes);
    if (!pred)
      prefetchAhead(node.buffer, *base, addr, lanes);
    prefetchNextGather(node.buffer, *base, lanes);
    if (pred)
      v = b.CreateMaskedLoad(vecTy, addr, align, pred, zeros);
    else
      v = b.CreateAlignedLoad(vecTy, addr, align);
  } else if (const auto *bc = ir::as<ir::Broadcast>(node.index); bc && !pred) {
    llvm::Value *addr = b.CreateInBoundsGEP(elem, ptr, emit(bc->value));
    v = b.CreateVectorSplat(lanes, b.CreateAlignedLoad(elem, addr, align));
  } else if (int stride = smallStride(node.index); stride > 1 && pred) {
    // A guarded read of every S-th element (2 x 2 pooling of a padded tensor): the S * lanes
    // elements it spans, loaded under the predicate spread to every S-th lane, then every S-th
    // picked out. Masked-off lanes touch no memory, as in a gather, which was 8x slower on
    // Zen 4 (docs/performance.md, "Guarded strided reads").
    const int span = lanes * stride;
    std::vector<int> spread(span), pick(lanes);
    for (int e = 0; e < span; ++e)
      spread[e] = e % stride == 0 ? e / stride : lanes; // Lane `lanes`: the false of the 2nd.
    for (int l = 0; l < lanes; ++l)
      pick[l] = l * stride;
    llvm::Value *mask =
        b.CreateShuffleVector(pred, llvm::Constant::getNullValue(pred->getType()), spread);
    auto *wideTy = llvm::FixedVectorType::get(elem, span);
    llvm::Value *addr = b.CreateInBoundsGEP(elem, ptr, emit(ir::as<ir::Ramp>(node.index)->base));
    llvm::Value *wide =
        b.CreateMaskedLoad(wideTy, addr, align, mask, llvm::Constant::getNullValue(wideTy));
    v = b.CreateShuffleVector(wide, pick);
  } else {
    llvm::Value *addrs = b.CreateInBoundsGEP(elem, ptr, emit(node.index));
    v = b.CreateMaskedGather(vecTy, addrs, align, pred, zeros);
  }
  return fromMemory(v, d);
}

llvm::Value *CodeGenLlvm::emitRamp(const ir::Ramp &node) {
  llvm::Value *base = emit(node.base), *stride = emit(node.stride);
  llvm::Value *baseV = b.CreateVectorSplat(node.lanes, base);
  llvm::Value *strideV = b.CreateVectorSplat(node.lanes, stride);
  std::vector<llvm::Constant *> steps;
  if (node.type.isInt()) {
    for (int i = 0; i < node.lanes; ++i)
      steps.push_back(llvm::ConstantInt::get(base->getType(), i));
    return b.CreateAdd(baseV, b.CreateMul(strideV, llvm::ConstantVector::get(steps)));
  }
  TDSL_CHECK(node.type.dtype == DType::F32 || node.type.dtype == DType::F64)
      << "ramp of " << node.type.str();
  for (int i = 0; i < node.lanes; ++i)
    steps.push_back(llvm::ConstantFP::get(base->getType(), i));
  return b.CreateFAdd(baseV, b.CreateFMul(strideV, llvm::ConstantVector::get(steps)));
}

llvm::Value *CodeGenLlvm::emitBroadcast(const ir::Broadcast &node) {
  return b.CreateVectorSplat(node.lanes, emit(node.value));
}

llvm::Value *CodeGenLlvm::emitShuffle(const ir::Shuffle &node) {
  return b.CreateShuffleVector(emit(node.a), emit(node.b), node.indices);
}

// The GPU's own nodes: a CPU nest never holds them (the CPU lowering makes none).
llvm::Value *CodeGenLlvm::emitWarpShuffle(const ir::WarpShuffle &) {
  TDSL_UNREACHABLE("a warp shuffle in a CPU nest");
}

llvm::Value *CodeGenLlvm::emitBufferAligned(const ir::BufferAligned &) {
  TDSL_UNREACHABLE("an alignment test in a CPU nest");
}

llvm::Value *CodeGenLlvm::emitVectorReduce(const ir::VectorReduce &node) {
  llvm::Value *v = emit(node.value);
  Type t = node.value->type;
  if (isStorageFloat(t.dtype))
    return narrowToStorage(reduceOp(node.op, t.withDType(DType::F32), widenStorage(v, t.dtype)),
                           t.dtype);
  return reduceOp(node.op, t, v);
}

llvm::Value *CodeGenLlvm::reduceOp(ReduceOp op, Type t, llvm::Value *v) {
  if (t.isBool()) {
    TDSL_CHECK(op == ReduceOp::Max || op == ReduceOp::Min) << "sum or product of bools";
    return op == ReduceOp::Max ? b.CreateOrReduce(v) : b.CreateAndReduce(v);
  }
  if (t.isInt()) {
    switch (op) {
    case ReduceOp::Sum:
      return b.CreateAddReduce(v);
    case ReduceOp::Prod:
      return b.CreateMulReduce(v);
    case ReduceOp::Max:
      return b.CreateIntMaxReduce(v, /*IsSigned=*/t.dtype != DType::U8);
    case ReduceOp::Min:
      return b.CreateIntMinReduce(v, /*IsSigned=*/t.dtype != DType::U8);
    case ReduceOp::Mean:
    case ReduceOp::ArgMax:
    case ReduceOp::ArgMin:
      break;
    }
    TDSL_UNREACHABLE("vector mean or arg reduction");
  }
  llvm::Type *elem = v->getType()->getScalarType();
  switch (op) {
  case ReduceOp::Sum:
  case ReduceOp::Prod:
  case ReduceOp::Max: // NaN propagates.
  case ReduceOp::Min: {
    // Halves combined down to one lane: a tree tdsl chose, spelled out in plain instructions
    // without `reassoc`, so that neither LLVM's O3 nor its code generator at either level may
    // regroup the lanes (the tiers give the same bits). For maximum and minimum any tree gives
    // the same value (NaN payloads aside).
    auto combine = [&](llvm::Value *x, llvm::Value *y) -> llvm::Value * {
      if (op == ReduceOp::Sum)
        return b.CreateFAdd(x, y);
      if (op == ReduceOp::Prod)
        return b.CreateFMul(x, y);
      return floatMinMax(x, y, op == ReduceOp::Max);
    };
    auto *vecTy = llvm::dyn_cast<llvm::FixedVectorType>(v->getType());
    unsigned lanes = vecTy ? vecTy->getNumElements() : 0;
    for (; lanes > 1 && lanes % 2 == 0; lanes /= 2) {
      llvm::SmallVector<int, 32> lo, hi;
      for (unsigned l = 0; l < lanes / 2; ++l)
        lo.push_back(static_cast<int>(l)), hi.push_back(static_cast<int>(lanes / 2 + l));
      v = combine(b.CreateShuffleVector(v, lo), b.CreateShuffleVector(v, hi));
    }
    if (vecTy && lanes == 1)
      return b.CreateExtractElement(v, b.getInt64(0));
    // An odd lane count: LLVM's ordered reductions (lane 0 first), strict at every level.
    if (op == ReduceOp::Sum)
      return b.CreateFAddReduce(llvm::ConstantFP::getNegativeZero(elem), v);
    if (op == ReduceOp::Prod)
      return b.CreateFMulReduce(llvm::ConstantFP::get(elem, 1.0), v);
    return op == ReduceOp::Max ? b.CreateFPMaximumReduce(v) : b.CreateFPMinimumReduce(v);
  }
  case ReduceOp::Mean:
  case ReduceOp::ArgMax:
  case ReduceOp::ArgMin:
    break;
  }
  TDSL_UNREACHABLE("vector mean or arg reduction");
}

llvm::Value *CodeGenLlvm::elementCount(const ir::Buffer &buffer) {
  // An intermediate's extent may come out negative at run time (`t[i < N - 1]` with N = 0): such a
  // dim is empty, so it counts as zero.
  llvm::Value *count = b.getInt64(1);
  for (const ir::Expr &dim : buffer->shape)
    count = b.CreateMul(count,
                        b.CreateBinaryIntrinsic(llvm::Intrinsic::smax, emit(dim), b.getInt64(0)));
  return count;
}

// ---------------------------------------------------------------------------------------------
// Statements.

void CodeGenLlvm::emit(const ir::Stmt &s) {
  TDSL_CHECK(s) << "null statement";
  switch (s->kind) {
#define TDSL_STMT_NODE(Name)                                                                       \
  case ir::StmtKind::Name:                                                                         \
    return emit##Name(*static_cast<const ir::Name *>(s.get()));
#include "ir/IRNodes.def"
  }
  TDSL_UNREACHABLE("unknown statement kind");
}

void CodeGenLlvm::emitBarrier(const ir::Barrier &) { TDSL_UNREACHABLE("a barrier in a CPU nest"); }

void CodeGenLlvm::emitGpuIntrinsic(const ir::GpuIntrinsic &) {
  TDSL_UNREACHABLE("a GPU intrinsic in a CPU nest");
}

void CodeGenLlvm::emitGpuLaunch(const ir::GpuLaunch &) {
  TDSL_UNREACHABLE("a GPU launch in a CPU func");
}

// for (v = 0; v < extent; ++v), rotated: the test sits at the bottom, guarded once on entry.
// A parallel loop runs the same loop over each thread's share of [0, extent).
void CodeGenLlvm::emitFor(const ir::For &node) {
  TDSL_CHECK(node.kind != ir::ForKind::GpuBlock && node.kind != ir::ForKind::GpuThread)
      << "GPU loop " << node.var->name << " in CPU code";
  llvm::Value *extent = emit(node.extent);
  if (node.kind == ir::ForKind::Parallel)
    return emitOutlinedFor(node, extent, true);
  // The loops of micro-kernels beside other nests, in functions of their own: the registers of
  // the values live around them stay free for the accumulators.
  if (node.kind == ir::ForKind::Serial && besideOtherNests && holdsMicroKernel(node.body) &&
      !holdsOtherNests(node.body))
    return emitOutlinedFor(node, extent, false);
  emitLoop(node, b.getInt64(0), extent);
}

void CodeGenLlvm::emitLoop(const ir::For &node, llvm::Value *begin, llvm::Value *end) {
  const std::string &name = node.var->name;
  llvm::BasicBlock *preheader = b.GetInsertBlock();
  llvm::BasicBlock *header = newBlock(name + ".loop");
  llvm::BasicBlock *exit = newBlock(name + ".exit");
  b.CreateCondBr(b.CreateICmpSLT(begin, end), header, exit);

  b.SetInsertPoint(header);
  llvm::PHINode *counter = b.CreatePHI(b.getInt64Ty(), 2, name);
  counter->addIncoming(begin, preheader);
  {
    VarBinding bind(vars, node.var.get(), counter);
    loopEnds.emplace_back(&node, end);
    aheadLoop = nullptr; // A body emitted afresh prefetches ahead afresh.
    bool outerBeside = besideOtherNests;
    besideOtherNests |= holdsMicroKernel(node.body) && holdsOtherNests(node.body);
    InnerLoopCounter inner;
    inner.visit(node.body);
    AccumulatorFinder tile;
    tile.visit(node.body);
    if (tile.found) {
      // A micro-kernel's variants of its k loop are not passes over a row: nothing inside is
      // prefetched for a next row (B read in place would prefetch its next column panel, which
      // the micro-kernel reads anyway, once per row of the tile at every step of k).
      ir::Var outerRow = rowVar;
      rowVar = nullptr;
      emit(node.body);
      rowVar = outerRow;
    } else if (inner.loops >= 2) {
      ir::Var outerRow = rowVar;
      int outerPass = rowPass, outerDepth = passDepth;
      auto outerLast = std::move(lastPassLoading);
      rowVar = node.var;
      rowPass = passDepth = 0;
      auto passes = std::make_unique<RowPasses>();
      passes->visit(node.body);
      lastPassLoading = std::move(passes->last);
      // Loops inside a row loop that carries prefetches of its own carry only its rows.
      auto outerCarried = carriedLoads;
      std::vector<RowPasses::CarriedLoad> carried = passes->carriedLoads();
      if (!carried.empty())
        std::erase_if(carriedLoads, [&](const auto &c) {
          return std::any_of(passes->innermost.begin(), passes->innermost.end(),
                             [&](const auto &l) { return l.loop == c.second.carrier->loop; });
        });
      for (RowPasses::CarriedLoad &c : carried)
        carriedLoads.emplace_back(node.var, std::move(c));
      emit(node.body);
      rowVar = outerRow;
      rowPass = outerPass;
      passDepth = outerDepth;
      lastPassLoading = std::move(outerLast);
      carriedLoads = std::move(outerCarried);
    } else {
      // A pass of the enclosing row loop, or a loop inside one.
      if (rowVar && passDepth++ == 0)
        ++rowPass;
      prefetchCarriedRows(node);
      emit(node.body);
      if (rowVar)
        --passDepth;
    }
    besideOtherNests = outerBeside;
    loopEnds.pop_back();
  }
  // The counter stays below extent <= INT64_MAX: the increment cannot wrap.
  llvm::Value *next = b.CreateAdd(counter, b.getInt64(1), name + ".next", /*HasNUW=*/true,
                                  /*HasNSW=*/true);
  counter->addIncoming(next, b.GetInsertBlock());
  llvm::BranchInst *latch = b.CreateCondBr(b.CreateICmpSLT(next, end), header, exit);
  // Full unrolling is only possible (and only asked for) with a constant trip count.
  if (node.kind == ir::ForKind::Unrolled && llvm::isa<llvm::ConstantInt>(end)) {
    llvm::MDNode *unroll =
        llvm::MDNode::get(ctx, llvm::MDString::get(ctx, "llvm.loop.unroll.full"));
    llvm::MDNode *loopId = llvm::MDNode::getDistinct(ctx, {nullptr, unroll});
    loopId->replaceOperandWith(0, loopId);
    latch->setMetadata(llvm::LLVMContext::MD_loop, loopId);
  }
  b.SetInsertPoint(exit);
}

void CodeGenLlvm::emitOutlinedFor(const ir::For &node, llvm::Value *extent, bool parallel) {
  LoopCaptures captures = findCaptures(node);
  if (target.boundsChecks)
    captureShapes(captures);
  std::vector<llvm::Value *> bufferValues, varValues;
  for (const ir::Buffer &buf : captures.buffers)
    bufferValues.push_back(bufferPointer(buf));
  for (const ir::Var &var : captures.vars) {
    auto it = vars.find(var.get());
    TDSL_CHECK(it != vars.end()) << "variable " << var->name << " used out of scope";
    varValues.push_back(it->second);
  }
  std::string name = function->getName().str() + "." + node.var->name;
  OutlinedLoop outlined = parallel ? emitParallelCall(b, entryBlock, name + ".par", captures,
                                                      bufferValues, varValues, runtime, extent)
                                   : emitOutlinedCall(b, name + ".out", captures, bufferValues,
                                                      varValues, runtime, extent);

  // Emit the loop into the outlined body, where only the captured names are in scope. Bindings
  // of the enclosing scopes are set aside whole and put back afterwards.
  auto outerVars = std::exchange(vars, {});
  auto outerBuffers = std::exchange(buffers, {});
  auto outerLoops = std::exchange(loopEnds, {});
  auto outerIndexReads = std::exchange(indexReads, {});
  llvm::Function *outerFunction = std::exchange(function, outlined.body);
  llvm::BasicBlock *outerEntry = entryBlock;
  llvm::Value *outerRuntime = std::exchange(runtime, outlined.runtime);
  bool outerBeside = std::exchange(besideOtherNests, false);
  llvm::IRBuilderBase::InsertPoint outerPoint = b.saveIP();
  for (size_t i = 0; i < captures.buffers.size(); ++i)
    buffers[captures.buffers[i].get()] = outlined.buffers[i];
  for (size_t i = 0; i < captures.vars.size(); ++i)
    vars[captures.vars[i].get()] = outlined.vars[i];
  entryBlock = newBlock("entry");
  b.SetInsertPoint(entryBlock);
  // The heap intermediates every step of a parallel loop allocates first, with a size the step
  // does not change, are allocated once per chunk of steps: each step writes them before it reads
  // them, and every allocation takes the arena's lock, which the chunks' threads share.
  ir::PeeledAllocations perChunk =
      ir::peelHeapAllocations(node.body, [&](const ir::Buffer &buffer) {
        UseFinder shape;
        for (const ir::Expr &dim : buffer->shape)
          shape.visit(dim);
        return !shape.used.count(node.var.get()) &&
               std::all_of(shape.used.begin(), shape.used.end(),
                           [&](const ir::VarNode *v) { return vars.count(v) > 0; });
      });
  ir::Stmt chunkLoop = ir::For::make(node.var, node.extent, node.kind, perChunk.body);
  std::function<void(size_t)> allocateFrom = [&](size_t i) {
    if (i == perChunk.buffers.size())
      return emitLoop(*chunkLoop->as<ir::For>(), outlined.begin, outlined.end);
    emitHeapAllocation(perChunk.buffers[i], [&] { allocateFrom(i + 1); });
  };
  allocateFrom(0);
  fenceStreamingStores();
  b.CreateRetVoid();

  vars = std::move(outerVars);
  buffers = std::move(outerBuffers);
  loopEnds = std::move(outerLoops);
  indexReads = std::move(outerIndexReads);
  function = outerFunction;
  entryBlock = outerEntry;
  runtime = outerRuntime;
  besideOtherNests = outerBeside;
  b.restoreIP(outerPoint);
}

void CodeGenLlvm::emitBlock(const ir::Block &node) {
  for (const ir::Stmt &s : node.stmts)
    emit(s);
}

llvm::Value *CodeGenLlvm::storedValue(const ir::Store &node) {
  if (llvm::Value *dot = integerDotAccumulate(node))
    return dot;
  // The micro-kernel of a tiled contraction (passes/Tile.h) accumulates into buffers named
  // "tile.acc": there `acc + a * b` is one FMA where the target has them (docs/performance.md,
  // "Contractions"). An explicit llvm.fma, not a `contract` flag the code generator may or may
  // not act on, so that code compiled at every LLVM level rounds alike. No user name has a dot.
  const auto *sum = node.value->as<ir::Binary>();
  if (!sum || sum->op != BinaryOp::Add || node.value->type.dtype != DType::F32 ||
      !node.buffer->name.starts_with("tile.acc") || !targetHasFma(target))
    return emit(node.value);
  const auto *product = sum->b->as<ir::Binary>();
  if (!product || product->op != BinaryOp::Mul)
    return emit(node.value);
  llvm::Value *acc = emit(sum->a);
  llvm::Value *x = emit(product->a);
  llvm::Value *y = emit(product->b);
  return b.CreateIntrinsic(llvm::Intrinsic::fma, {acc->getType()}, {x, y, acc});
}

llvm::Value *CodeGenLlvm::integerDotAccumulate(const ir::Store &node) {
  int lanes = node.value->type.lanes;
  int pairLanes = integerPairDotBits(target) / 16; // 16-bit lanes a multiply-add takes.
  const auto *sum = node.value->as<ir::Binary>();
  if (!sumOnlyBuffers.count(node.buffer.get()) || pairLanes == 0 || lanes % pairLanes != 0 ||
      !sum || sum->op != BinaryOp::Add)
    return nullptr;
  // acc + x * y in either order (simplification may put the product first).
  bool productFirst = !sum->a->as<ir::Load>();
  const ir::Expr &accumulated = productFirst ? sum->b : sum->a;
  const auto *product = (productFirst ? sum->a : sum->b)->as<ir::Binary>();
  if (!accumulated->as<ir::Load>() || !product || product->op != BinaryOp::Mul)
    return nullptr;
  // The u8, i8 or i16 value under an i32 cast.
  auto narrow = [](const ir::Expr &e) -> const ir::Expr * {
    const auto *cast = e->as<ir::Cast>();
    if (!cast || e->type.dtype != DType::I32)
      return nullptr;
    DType d = cast->a->type.dtype;
    return d == DType::U8 || d == DType::I8 || d == DType::I16 ? &cast->a : nullptr;
  };
  const ir::Expr *x = narrow(product->a), *y = narrow(product->b);
  if (!x || !y)
    return nullptr;
  if (llvm::Value *quads = byteDotAccumulate(accumulated, *x, *y, lanes))
    return quads;
  llvm::Type *wordVector = llvm::FixedVectorType::get(b.getInt16Ty(), lanes);
  auto widen = [&](const ir::Expr &e) {
    llvm::Value *v = emit(e);
    return e->type.dtype == DType::U8 ? b.CreateZExt(v, wordVector) : b.CreateSExt(v, wordVector);
  };
  llvm::Value *acc = emit(accumulated);
  llvm::Value *wx = widen(*x), *wy = widen(*y);
  // The pair sums go into the first half of the lanes; the second half keeps its values.
  llvm::Value *low = b.CreateShuffleVector(acc, llvm::createSequentialMask(0, lanes / 2, 0));
  llvm::Value *high =
      b.CreateShuffleVector(acc, llvm::createSequentialMask(lanes / 2, lanes / 2, 0));
  bool vnni = pairLanes == 32 && targetHasVnni(target);
  llvm::Type *dwords = llvm::FixedVectorType::get(b.getInt32Ty(), pairLanes / 2);
  std::vector<llvm::Value *> parts;
  for (int at = 0; at < lanes; at += pairLanes) {
    llvm::SmallVector<int, 32> part = llvm::createSequentialMask(at, pairLanes, 0);
    llvm::Value *px = b.CreateShuffleVector(wx, part), *py = b.CreateShuffleVector(wy, part);
    if (vnni) {
      // The accumulation inside the instruction: LLVM cannot move the add away from it (past
      // a vector tail's merge, where vpmaddwd and vpaddd stayed two instructions).
      llvm::Value *into = b.CreateShuffleVector(low, llvm::createSequentialMask(at / 2, 16, 0));
      parts.push_back(
          b.CreateIntrinsic(llvm::Intrinsic::x86_avx512_vpdpwssd_512, {},
                            {into, b.CreateBitCast(px, dwords), b.CreateBitCast(py, dwords)}));
    } else {
      llvm::Intrinsic::ID multiplyAdd = pairLanes == 32 ? llvm::Intrinsic::x86_avx512_pmaddw_d_512
                                                        : llvm::Intrinsic::x86_avx2_pmadd_wd;
      parts.push_back(b.CreateIntrinsic(multiplyAdd, {}, {px, py}));
    }
  }
  llvm::Value *sums = llvm::concatenateVectors(b, parts);
  if (!vnni)
    sums = b.CreateAdd(low, sums);
  return b.CreateShuffleVector(sums, high, llvm::createSequentialMask(0, lanes, 0));
}

llvm::Value *CodeGenLlvm::byteDotAccumulate(const ir::Expr &accumulated, const ir::Expr &x,
                                            const ir::Expr &y, int lanes) {
  DType dx = x->type.dtype, dy = y->type.dtype;
  bool bytes = (dx == DType::I8 || dx == DType::U8) && (dy == DType::I8 || dy == DType::U8);
  if (!targetHasVnni(target) || integerPairDotBits(target) != 512 || lanes % 64 != 0 || !bytes ||
      (dx == DType::U8 && dy == DType::U8))
    return nullptr;
  // vpdpbusd multiplies unsigned bytes by signed ones. For i8 x i8 the unsigned side is biased
  // by 128 (x ^ 0x80 is x + 128 as a u8), which adds 128 * y to each product; that is taken off
  // in lanes of its own, as the accumulator is only summed.
  bool bias = dx == DType::I8 && dy == DType::I8;
  const ir::Expr &unsignedSide = dx == DType::U8 ? x : y;
  const ir::Expr &signedSide = dx == DType::U8 ? y : x;
  llvm::Value *u = emit(unsignedSide), *v = emit(signedSide);
  llvm::Type *dwords = llvm::FixedVectorType::get(b.getInt32Ty(), 16);
  if (bias)
    u = b.CreateXor(u, llvm::ConstantInt::get(u->getType(), 0x80));
  llvm::Value *acc = emit(accumulated);
  auto lanesOf = [&](int from, int count) {
    return b.CreateShuffleVector(acc, llvm::createSequentialMask(from, count, 0));
  };
  // Each 64 bytes add into 16 lanes: the products from lane 0, the biases' corrections from
  // lane lanes / 4; the lanes from lanes / 2 keep their values.
  std::vector<llvm::Value *> sums, corrections;
  llvm::Value *biases = llvm::ConstantInt::get(dwords, 0x80808080u);
  for (int at = 0; at < lanes; at += 64) {
    llvm::SmallVector<int, 64> part = llvm::createSequentialMask(at, 64, 0);
    llvm::Value *pu = b.CreateBitCast(b.CreateShuffleVector(u, part), dwords);
    llvm::Value *pv = b.CreateBitCast(b.CreateShuffleVector(v, part), dwords);
    sums.push_back(b.CreateIntrinsic(llvm::Intrinsic::x86_avx512_vpdpbusd_512, {},
                                     {lanesOf(at / 4, 16), pu, pv}));
    llvm::Value *correction = lanesOf(lanes / 4 + at / 4, 16);
    if (bias)
      correction = b.CreateSub(
          correction, b.CreateIntrinsic(llvm::Intrinsic::x86_avx512_vpdpbusd_512, {},
                                        {llvm::Constant::getNullValue(dwords), biases, pv}));
    corrections.push_back(correction);
  }
  llvm::Value *low = llvm::concatenateVectors(b, sums);
  llvm::Value *middle = llvm::concatenateVectors(b, corrections);
  llvm::Value *half =
      b.CreateShuffleVector(low, middle, llvm::createSequentialMask(0, lanes / 2, 0));
  return b.CreateShuffleVector(half, lanesOf(lanes / 2, lanes / 2),
                               llvm::createSequentialMask(0, lanes, 0));
}

void CodeGenLlvm::emitStore(const ir::Store &node) {
  DType d = node.buffer->dtype;
  llvm::Value *ptr = bufferPointer(node.buffer);
  llvm::Type *elem = memType(d);
  llvm::Align align(byteSize(d));
  llvm::Value *pred = node.predicate ? emit(node.predicate) : nullptr;

  if (node.value->type.lanes == 1) {
    auto store = [&]() -> llvm::Value * {
      llvm::Value *value = toMemory(storedValue(node), d);
      llvm::Value *index = emit(node.index);
      checkBounds(node.buffer, index, nullptr);
      b.CreateAlignedStore(value, b.CreateInBoundsGEP(elem, ptr, index), align);
      return nullptr;
    };
    if (pred)
      guarded(pred, store, nullptr);
    else
      store();
    return;
  }

  llvm::Value *value = toMemory(storedValue(node), d);
  if (target.boundsChecks)
    checkBounds(node.buffer, emit(node.index), pred);
  if (const ir::Expr *base = contiguousBase(node.index)) {
    llvm::Value *addr = b.CreateInBoundsGEP(elem, ptr, emit(*base));
    uint64_t bytes = module.getDataLayout().getTypeStoreSize(value->getType());
    // Streaming stores pay where the loop is memory-bound. Where the value is compute-bound (a
    // transcendental call per element), they made `cos(cos(x))` and GELU slower on this
    // machine (Zen 4: 7.7 vs 6.2 ms for a libmvec cos over 16M f32), plain stores faster.
    MathCallFinder math;
    math.visit(node.value);
    llvm::Value *stream = pred || math.found ? nullptr : streamingTest(node.buffer, addr, bytes);
    if (pred) {
      b.CreateMaskedStore(value, addr, align, pred);
    } else if (stream) {
      // LLVM hoists the test out of the loop where it can (unswitching); else the branch is
      // predicted.
      llvm::BasicBlock *streaming = newBlock("store.stream");
      llvm::BasicBlock *plain = newBlock("store.plain");
      llvm::BasicBlock *merge = newBlock("store.end");
      b.CreateCondBr(stream, streaming, plain);
      b.SetInsertPoint(streaming);
      llvm::StoreInst *st =
          b.CreateAlignedStore(value, addr, llvm::Align(std::min<uint64_t>(bytes, 64)));
      st->setMetadata(llvm::LLVMContext::MD_nontemporal,
                      llvm::MDNode::get(ctx, llvm::ConstantAsMetadata::get(b.getInt32(1))));
      b.CreateBr(merge);
      b.SetInsertPoint(plain);
      b.CreateAlignedStore(value, addr, align);
      b.CreateBr(merge);
      b.SetInsertPoint(merge);
    } else {
      b.CreateAlignedStore(value, addr, align);
    }
    return;
  }
  llvm::Value *addrs = b.CreateInBoundsGEP(elem, ptr, emit(node.index));
  b.CreateMaskedScatter(value, addrs, align, pred);
}

llvm::Value *CodeGenLlvm::streamingTest(const ir::Buffer &buffer, llvm::Value *addr,
                                        uint64_t bytes) {
  // Whole vectors of 16 to 64 bytes: one streaming store fills a power-of-two part of a line.
  if (!streamable.count(buffer.get()) || bytes < 16 || bytes > 64 || (bytes & (bytes - 1)))
    return nullptr;
  // The size needs the shape's symbols, which an outlined parallel body may not have captured.
  UseFinder shapeUses;
  for (const ir::Expr &dim : buffer->shape)
    shapeUses.visit(dim);
  for (const ir::VarNode *v : shapeUses.used)
    if (!vars.count(v))
      return nullptr;
  llvm::Value *size = b.CreateMul(elementCount(buffer), b.getInt64(byteSize(buffer->dtype)));
  // One test, not two: LLVM unswitches the loop on it (the offset is the same for every vector
  // of a row) into two versions, streaming and plain; two tests would make three.
  llvm::Value *small =
      b.CreateZExt(b.CreateICmpSLT(size, b.getInt64(kStreamingBytes)), b.getInt64Ty());
  llvm::Value *offset = b.CreateAnd(b.CreatePtrToInt(addr, b.getInt64Ty()), b.getInt64(bytes - 1));
  return b.CreateICmpEQ(b.CreateOr(offset, small), b.getInt64(0));
}

void CodeGenLlvm::prefetchNextRow(const ir::Buffer &buffer, const ir::Expr &base, int lanes) {
  if (!rowVar || buffer->role != ir::BufferRole::Input || !vars.count(rowVar.get()))
    return;
  // Once per line, in the input's last pass over the row: a softmax row's exp pass, long enough
  // to spread the next row's lines over it. Prefetching in the max pass as well issued them all
  // in a burst as fast as that short pass reads, then again; it measured slower
  // (docs/fusion.md, "Row prefetch").
  auto last = lastPassLoading.find(buffer.get());
  if (last == lastPassLoading.end() || last->second != rowPass)
    return;
  if (std::any_of(carriedLoads.begin(), carriedLoads.end(), [&](const auto &carried) {
        return carried.second.load.buffer.get() == buffer.get();
      }))
    return;
  UseFinder uses;
  uses.visit(base);
  // A gather's address (one that reads memory, table[ids[t] * D + d]) is not prefetched: the
  // next row's would read the index tensor one row further, past its end at the last row.
  if (!uses.used.count(rowVar.get()) || !uses.loaded.empty())
    return;
  ir::Expr next =
      ir::substitute(base, {{rowVar, ir::add(ir::ref(rowVar), ir::intImm(1, DType::I64))}});
  // Not inbounds: past the last row the address is outside the buffer, which a prefetch may be.
  llvm::Value *addr = b.CreateGEP(memType(buffer->dtype), bufferPointer(buffer), emit(next));
  prefetchLines(addr, static_cast<uint64_t>(lanes) * byteSize(buffer->dtype));
}

void CodeGenLlvm::prefetchCarriedRows(const ir::For &loop) {
  for (const auto &[row, carried] : carriedLoads) {
    if (carried.carrier->loop != &loop || !vars.count(row.get()))
      continue;
    // The address the loading loop reads at the next row, in its first iteration of the loops
    // around it and at this iteration's vector of columns.
    std::vector<std::pair<ir::Var, ir::Expr>> to{
        {row, ir::add(ir::ref(row), ir::intImm(1, DType::I64))},
        {carried.loading->loop->var, ir::ref(loop.var)}};
    for (const ir::Var &v : carried.loading->enclosing)
      to.emplace_back(v, ir::intImm(0, DType::I64));
    ir::Expr next = ir::substitute(carried.load.base, to);
    UseFinder uses;
    uses.visit(next);
    if (!uses.loaded.empty() || std::any_of(uses.used.begin(), uses.used.end(),
                                            [&](const ir::VarNode *v) { return !vars.count(v); }))
      continue;
    // Not inbounds: past the last row the address is outside the buffer, which a prefetch may be.
    const ir::Buffer &buffer = carried.load.buffer;
    llvm::Value *addr = b.CreateGEP(memType(buffer->dtype), bufferPointer(buffer), emit(next));
    prefetchLines(addr, static_cast<uint64_t>(carried.load.lanes) * byteSize(buffer->dtype));
  }
}

std::optional<CodeGenLlvm::IndexRead> CodeGenLlvm::nextIndexRead(const ir::LetStmt &let) {
  if (let.value->type.lanes != 1)
    return std::nullopt;
  UseFinder uses;
  uses.visit(let.value);
  // Only reads of the kernel's inputs, which hold at the next row what that row will read.
  if (uses.loaded.empty() ||
      !std::all_of(uses.loaded.begin(), uses.loaded.end(), [](const ir::BufferNode *buffer) {
        return buffer->role == ir::BufferRole::Input;
      }))
    return std::nullopt;
  // The innermost loop that the read depends on: the next gathered row is its next.
  auto loop = std::find_if(loopEnds.rbegin(), loopEnds.rend(), [&](const auto &entry) {
    return uses.used.count(entry.first->var.get()) > 0;
  });
  if (loop == loopEnds.rend())
    return std::nullopt;
  const ir::Var &row = loop->first->var;
  IndexRead next{&let, row, ir::makeVar(row->name + ".next", row->type, ir::VarKind::Let),
                 ir::makeVar(let.var->name + ".next", let.var->type, ir::VarKind::Let)};
  // The next row, or this one at the last: the read stays inside the index tensor.
  llvm::Value *here = vars.at(row.get());
  llvm::Value *after = b.CreateAdd(here, b.getInt64(1));
  vars[next.nextRow.get()] = b.CreateSelect(b.CreateICmpSLT(after, loop->second), after, here);
  vars[next.nextIndex.get()] = emit(ir::substitute(let.value, {{row, ir::ref(next.nextRow)}}));
  return next;
}

void CodeGenLlvm::prefetchNextGather(const ir::Buffer &buffer, const ir::Expr &base, int lanes) {
  if (buffer->role != ir::BufferRole::Input || indexReads.empty())
    return;
  UseFinder uses;
  uses.visit(base);
  auto read = std::find_if(indexReads.rbegin(), indexReads.rend(), [&](const IndexRead &r) {
    return uses.used.count(r.let->var.get()) > 0;
  });
  if (read == indexReads.rend())
    return;
  ir::Expr nextBase = ir::substitute(
      base, {{read->let->var, ir::ref(read->nextIndex)}, {read->row, ir::ref(read->nextRow)}});
  // Not inbounds: an index out of range (whose row the load does not read) gives an address
  // outside the buffer, which a prefetch may be.
  llvm::Value *addr = b.CreateGEP(memType(buffer->dtype), bufferPointer(buffer), emit(nextBase));
  prefetchLines(addr, static_cast<uint64_t>(lanes) * byteSize(buffer->dtype));
}

void CodeGenLlvm::prefetchAhead(const ir::Buffer &buffer, const ir::Expr &base, llvm::Value *addr,
                                int lanes) {
  // In a multi-pass row loop the next row's prefetch streams the input (prefetchNextRow), and
  // the passes after the first read the row from cache.
  if (rowVar || buffer->role != ir::BufferRole::Input || loopEnds.empty())
    return;
  // The innermost loop steps the load by whole vectors (base = lanes * var + terms free of var):
  // a stream the next iterations continue.
  const ir::For &loop = *loopEnds.back().first;
  std::optional<ir::AffineExpr> form = ir::toAffine(base);
  if (!form)
    return;
  auto step = form->terms.find(ir::Atom(loop.var));
  if (step == form->terms.end() || step->second != lanes)
    return;
  for (const auto &[atom, coefficient] : form->terms)
    if (!(atom == step->first) && atom.mentions(loop.var))
      return;
  // Only where the loop is compute-bound (a transcendental function per element): there the
  // out-of-order window spans few iterations, so few lines are in flight and each load waits
  // for memory, which the hardware prefetcher did not hide on the Xeon of issue 12
  // (docs/performance.md, "Prefetch ahead"). A memory-bound loop keeps enough loads in flight.
  auto known = computeBoundLoops.find(&loop);
  if (known == computeBoundLoops.end()) {
    MathCallFinder math;
    math.visit(loop.body);
    known = computeBoundLoops.emplace(&loop, math.found).first;
  }
  if (!known->second)
    return;
  if (aheadLoop != &loop) {
    aheadLoop = &loop;
    aheadLoads.clear();
  }
  for (const auto &[loaded, at] : aheadLoads)
    if (loaded == buffer.get() && ir::structurallyEqual(at, base))
      return;
  aheadLoads.emplace_back(buffer.get(), base);
  // Not inbounds: near the end the address is past the buffer, which a prefetch may be.
  llvm::Value *ahead = b.CreateConstGEP1_64(b.getInt8Ty(), addr, kPrefetchAheadBytes);
  prefetchLines(ahead, static_cast<uint64_t>(lanes) * byteSize(buffer->dtype));
}

void CodeGenLlvm::prefetchLines(llvm::Value *addr, uint64_t bytes) {
  llvm::Function *prefetch =
      llvm::Intrinsic::getDeclaration(&module, llvm::Intrinsic::prefetch, {b.getPtrTy()});
  for (uint64_t offset = 0; offset < bytes; offset += 64)
    b.CreateCall(prefetch, {b.CreateConstGEP1_64(b.getInt8Ty(), addr, offset), b.getInt32(0),
                            b.getInt32(2), b.getInt32(1)});
}

void CodeGenLlvm::fenceStreamingStores() {
  if (!streamable.empty())
    b.CreateCall(llvm::Intrinsic::getDeclaration(&module, llvm::Intrinsic::x86_sse_sfence));
}

void CodeGenLlvm::emitHeapAllocation(const ir::Buffer &buf, const std::function<void()> &body) {
  // From the call's scratch arena (runtime/KernelAbi.h), reused across calls. Where none was
  // left, the body is skipped: the runtime recorded the failure and the caller reports it.
  llvm::Type *i64 = b.getInt64Ty(), *ptrTy = b.getPtrTy();
  llvm::Value *bytes = b.CreateMul(elementCount(buf), b.getInt64(byteSize(buf->dtype)));
  llvm::FunctionCallee acquire = module.getOrInsertFunction(
      buf->packedPanels ? "tdsl_scratch_acquire_panels" : "tdsl_scratch_acquire",
      llvm::FunctionType::get(ptrTy, {ptrTy, i64}, false));
  llvm::FunctionCallee release = module.getOrInsertFunction(
      "tdsl_scratch_release", llvm::FunctionType::get(b.getVoidTy(), {ptrTy, ptrTy}, false));
  if (auto *declaration = llvm::dyn_cast<llvm::Function>(acquire.getCallee())) {
    // Like malloc's: a fresh block no other pointer reaches, aligned for any vector.
    declaration->addFnAttr(llvm::Attribute::NoUnwind);
    declaration->addRetAttr(llvm::Attribute::NoAlias);
    declaration->addRetAttr(llvm::Attribute::getWithAlignment(ctx, llvm::Align(64)));
  }
  if (auto *declaration = llvm::dyn_cast<llvm::Function>(release.getCallee()))
    declaration->addFnAttr(llvm::Attribute::NoUnwind);
  llvm::Value *ptr = b.CreateCall(acquire, {runtime, bytes}, buf->name);
  llvm::BasicBlock *ok = newBlock("scratch.ok"), *done = newBlock("scratch.end");
  llvm::MDNode *likely = llvm::MDBuilder(ctx).createLikelyBranchWeights();
  b.CreateCondBr(b.CreateIsNotNull(ptr), ok, done, likely);
  b.SetInsertPoint(ok);
  {
    BufferBinding bind(buffers, buf.get(), ptr);
    body();
  }
  b.CreateCall(release, {runtime, ptr});
  b.CreateBr(done);
  b.SetInsertPoint(done);
}

void CodeGenLlvm::emitAllocate(const ir::Allocate &node) {
  const ir::Buffer &buf = node.buffer;
  if (const auto *lanes = buf->shape.size() == 1 ? buf->shape[0]->as<ir::IntImm>() : nullptr;
      lanes && buf->dtype == DType::I32 && node.scope == ir::MemoryScope::Stack) {
    SumOnlyUses uses(buf.get(), static_cast<int>(lanes->value));
    uses.visit(node.body);
    if (uses.ok)
      sumOnlyBuffers.insert(buf.get());
  }
  switch (node.scope) {
  case ir::MemoryScope::Stack: {
    llvm::Type *elem = memType(buf->dtype);
    llvm::Value *count = elementCount(buf);
    if (auto *constant = llvm::dyn_cast<llvm::ConstantInt>(count)) {
      // A constant size lives in the entry block, where SROA can promote it to registers.
      uint64_t n = constant->getZExtValue();
      llvm::IRBuilder<> entry(entryBlock, entryBlock->getFirstInsertionPt());
      llvm::Align align(n * byteSize(buf->dtype) >= 64 ? 64 : byteSize(buf->dtype));
      llvm::AllocaInst *slot =
          entry.CreateAlloca(llvm::ArrayType::get(elem, n), nullptr, buf->name);
      slot->setAlignment(align);
      BufferBinding bind(buffers, buf.get(), slot);
      emit(node.body);
      return;
    }
    llvm::Value *saved = b.CreateStackSave();
    llvm::AllocaInst *slot = b.CreateAlloca(elem, count, buf->name);
    slot->setAlignment(llvm::Align(64));
    {
      BufferBinding bind(buffers, buf.get(), slot);
      emit(node.body);
    }
    b.CreateStackRestore(saved);
    return;
  }
  case ir::MemoryScope::Heap:
    emitHeapAllocation(buf, [&] { emit(node.body); });
    return;
  case ir::MemoryScope::Shared:
    break;
  }
  TDSL_UNREACHABLE("GPU shared memory in CPU code");
}

void CodeGenLlvm::emitLetStmt(const ir::LetStmt &node) {
  llvm::Value *value = emit(node.value);
  if (value->getName().empty() && !llvm::isa<llvm::Constant>(value))
    value->setName(node.var->name);
  VarBinding bind(vars, node.var.get(), value);
  std::optional<IndexRead> next = nextIndexRead(node);
  if (next)
    indexReads.push_back(*next);
  emit(node.body);
  if (next) {
    indexReads.pop_back();
    vars.erase(next->nextRow.get());
    vars.erase(next->nextIndex.get());
  }
}

void CodeGenLlvm::emitIfThenElse(const ir::IfThenElse &node) {
  llvm::Value *cond = emit(node.cond);
  llvm::BasicBlock *then = newBlock("if.then");
  llvm::BasicBlock *otherwise = node.elseCase ? newBlock("if.else") : nullptr;
  llvm::BasicBlock *merge = newBlock("if.end");
  b.CreateCondBr(cond, then, otherwise ? otherwise : merge);
  b.SetInsertPoint(then);
  emit(node.thenCase);
  b.CreateBr(merge);
  if (otherwise) {
    b.SetInsertPoint(otherwise);
    emit(node.elseCase);
    b.CreateBr(merge);
  }
  b.SetInsertPoint(merge);
}

} // namespace

std::unique_ptr<llvm::Module> generateLlvmModule(const ir::LoweredFunc &func,
                                                 const std::string &symbol,
                                                 llvm::LLVMContext &context,
                                                 const llvm::TargetMachine &machine,
                                                 const LlvmTargetInfo &target) {
  auto module = std::make_unique<llvm::Module>(symbol, context);
  module->setTargetTriple(machine.getTargetTriple().str());
  module->setDataLayout(machine.createDataLayout());
  CodeGenLlvm(*module, target).emitKernel(func, symbol);
  std::string problems;
  llvm::raw_string_ostream os(problems);
  if (llvm::verifyModule(*module, &os)) {
    std::string text;
    llvm::raw_string_ostream ir(text);
    module->print(ir, nullptr);
    TDSL_CHECK(false) << "LLVM rejects the code generated for " << func.name << ": " << os.str()
                      << "\n"
                      << ir.str();
  }
  return module;
}

} // namespace tdsl::codegen
