// The IR nodes shared by both levels. The tensor level (ir::Kernel) uses Access and Reduce over
// index variables; the loop level (ir::LoweredFunc) uses Load/Store on flat buffers, statements
// and vectors. Each level's verifier says which nodes may appear there. Nodes are immutable and
// built only through `make()`, which checks their typing invariants.
#pragma once

#include "tdsl/DType.h"
#include "tdsl/Diagnostics.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tdsl::ir {

/// A scalar dtype, or a vector of `lanes` of them.
struct Type {
  DType dtype = DType::F32;
  uint16_t lanes = 1;

  static Type scalar(DType d) { return Type{d, 1}; }
  static Type i64() { return Type{DType::I64, 1}; }
  static Type boolean() { return Type{DType::Bool, 1}; }

  bool isVector() const { return lanes > 1; }
  bool isFloat() const { return tdsl::isFloat(dtype); }
  bool isInt() const { return tdsl::isInt(dtype); }
  bool isBool() const { return dtype == DType::Bool; }
  Type element() const { return Type{dtype, 1}; }
  Type withLanes(int n) const { return Type{dtype, static_cast<uint16_t>(n)}; }
  Type withDType(DType d) const { return Type{d, lanes}; }
  bool operator==(const Type &) const = default;
  /// "f32", or "<16 x f32>" for vectors.
  std::string str() const;
};

enum class ExprKind : uint8_t {
#define TDSL_EXPR_NODE(Name) Name,
#include "ir/IRNodes.def"
};
enum class StmtKind : uint8_t {
#define TDSL_STMT_NODE(Name) Name,
#include "ir/IRNodes.def"
};

struct ExprNode {
  const ExprKind kind;
  const Type type;
  virtual ~ExprNode() = default;
  template <typename T> const T *as() const {
    return kind == T::Kind ? static_cast<const T *>(this) : nullptr;
  }

protected:
  ExprNode(ExprKind k, Type t) : kind(k), type(t) {}
};
using Expr = std::shared_ptr<const ExprNode>;

struct StmtNode {
  const StmtKind kind;
  virtual ~StmtNode() = default;
  template <typename T> const T *as() const {
    return kind == T::Kind ? static_cast<const T *>(this) : nullptr;
  }

protected:
  explicit StmtNode(StmtKind k) : kind(k) {}
};
using Stmt = std::shared_ptr<const StmtNode>;

template <typename T> const T *as(const Expr &e) { return e ? e->as<T>() : nullptr; }
template <typename T> const T *as(const Stmt &s) { return s ? s->as<T>() : nullptr; }

// ---------------------------------------------------------------------------------------------
// Variables and buffers. Identity is the pointer: two variables may share a printed name.

enum class VarKind : uint8_t {
  Index,  // An index variable of a tensor-level definition or reduction.
  Symbol, // A shape symbol, bound at call time; i64.
  Loop,   // A loop counter at the loop level.
  Let,    // Bound by LetStmt.
};

struct VarNode {
  std::string name;
  Type type;
  VarKind kind;
};
using Var = std::shared_ptr<const VarNode>;
Var makeVar(std::string name, Type type, VarKind kind);

enum class BufferRole : uint8_t {
  Input,        // A kernel parameter; never written.
  Output,       // A kernel result; written exactly once per element.
  Intermediate, // A tensor defined inside the kernel.
};

/// A dense row-major tensor. `shape` holds i64 expressions over shape symbols (empty for 0-d).
struct BufferNode {
  std::string name;
  DType dtype;
  std::vector<Expr> shape;
  BufferRole role;
  SourceSpan span; // Where the user named it; may be empty for compiler temporaries.
  /// A contraction operand's panels laid out for the micro-kernel (passes/Tile.cpp): a copy of
  /// values held elsewhere, which Kernel::profile counts apart from the intermediates.
  bool packedPanels = false;
};
using Buffer = std::shared_ptr<const BufferNode>;
Buffer makeBuffer(std::string name, DType dtype, std::vector<Expr> shape, BufferRole role,
                  SourceSpan span = {});
/// An f32 buffer of packed panels (BufferNode::packedPanels).
Buffer makePanelBuffer(std::string name, std::vector<Expr> shape);

// ---------------------------------------------------------------------------------------------
// Expressions.

template <typename T, ExprKind K> struct ExprBase : ExprNode {
  static constexpr ExprKind Kind = K;

protected:
  explicit ExprBase(Type t) : ExprNode(K, t) {}
};

/// An integer or bool constant (bool: 0 or 1), possibly broadcast to vector lanes.
struct IntImm final : ExprBase<IntImm, ExprKind::IntImm> {
  const int64_t value;
  static Expr make(Type type, int64_t value);
  IntImm(Type t, int64_t v) : ExprBase(t), value(v) {}
};

/// A floating-point constant; for f16/bf16/f32 the value is exactly representable in that type.
struct FloatImm final : ExprBase<FloatImm, ExprKind::FloatImm> {
  const double value;
  static Expr make(Type type, double value);
  FloatImm(Type t, double v) : ExprBase(t), value(v) {}
};

struct VarRef final : ExprBase<VarRef, ExprKind::VarRef> {
  const Var var;
  static Expr make(Var var);
  explicit VarRef(Var v) : ExprBase(v->type), var(std::move(v)) {}
};

enum class UnaryOp : uint8_t { Neg, Not };

struct Unary final : ExprBase<Unary, ExprKind::Unary> {
  const UnaryOp op;
  const Expr a;
  static Expr make(UnaryOp op, Expr a);
  Unary(Type t, UnaryOp o, Expr x) : ExprBase(t), op(o), a(std::move(x)) {}
};

/// Operands have equal types. Comparisons give bool; And/Or take bool. FloorDiv and Mod follow
/// Python (floor, sign of the divisor); integer x // 0 and x % 0 give 0. Min/Max propagate NaN.
enum class BinaryOp : uint8_t {
  Add,
  Sub,
  Mul,
  Div,
  FloorDiv,
  Mod,
  Pow,
  Min,
  Max,
  Eq,
  Ne,
  Lt,
  Le,
  Gt,
  Ge,
  And,
  Or,
};
bool isComparison(BinaryOp op);

struct Binary final : ExprBase<Binary, ExprKind::Binary> {
  const BinaryOp op;
  const Expr a, b;
  static Expr make(BinaryOp op, Expr a, Expr b);
  Binary(Type t, BinaryOp o, Expr x, Expr y)
      : ExprBase(t), op(o), a(std::move(x)), b(std::move(y)) {}
};

/// Math functions of one argument. All take floats; Abs and Relu also take integers.
/// Round is half-to-even (as NumPy).
enum class Intrinsic : uint8_t {
  Exp,
  Exp2,
  Log,
  Log2,
  Sqrt,
  Rsqrt,
  Sin,
  Cos,
  Tan,
  Tanh,
  Sigmoid,
  Relu,
  Abs,
  Floor,
  Ceil,
  Round,
  Erf,
};

struct Call final : ExprBase<Call, ExprKind::Call> {
  const Intrinsic fn;
  const std::vector<Expr> args;
  static Expr make(Intrinsic fn, std::vector<Expr> args);
  Call(Type t, Intrinsic f, std::vector<Expr> xs) : ExprBase(t), fn(f), args(std::move(xs)) {}
};

/// cond ? a : b, elementwise; `cond` is bool with the lanes of a and b.
struct Select final : ExprBase<Select, ExprKind::Select> {
  const Expr cond, a, b;
  static Expr make(Expr cond, Expr a, Expr b);
  Select(Type t, Expr c, Expr x, Expr y)
      : ExprBase(t), cond(std::move(c)), a(std::move(x)), b(std::move(y)) {}
};

/// Conversion to `type`'s dtype. Float to narrower float rounds to nearest even; float to int
/// truncates toward zero and saturates, NaN giving 0; to bool is `!= 0`; bool is 0 or 1.
struct Cast final : ExprBase<Cast, ExprKind::Cast> {
  const Expr a;
  static Expr make(Type type, Expr a);
  Cast(Type t, Expr x) : ExprBase(t), a(std::move(x)) {}
};

/// Reads tensor `buffer` at one index per dimension (tensor level). With a `fallback`, an
/// out-of-bounds point reads the fallback instead (the language's `??`); without one the access
/// has been proven in bounds.
struct Access final : ExprBase<Access, ExprKind::Access> {
  const Buffer buffer;
  const std::vector<Expr> indices;
  const Expr fallback;
  static Expr make(Buffer buffer, std::vector<Expr> indices, Expr fallback = nullptr);
  Access(Type t, Buffer b, std::vector<Expr> i, Expr f)
      : ExprBase(t), buffer(std::move(b)), indices(std::move(i)), fallback(std::move(f)) {}
};

/// ArgMax and ArgMin give the i64 position of the largest (smallest) value over one axis: ties go
/// to the first, a NaN beats every number and the first NaN wins (NumPy); no points give -1.
enum class ReduceOp : uint8_t { Sum, Prod, Max, Min, Mean, ArgMax, ArgMin };
inline bool isArgReduction(ReduceOp op) { return op == ReduceOp::ArgMax || op == ReduceOp::ArgMin; }

/// An index variable with its extent: it ranges over [0, extent).
struct IterVar {
  Var var;
  Expr extent; // i64, over shape symbols.
};

/// Reduces `body` over every point of `axes` (tensor level). Zero points give the identity
/// (0, 1, -inf, inf; NaN for Mean; -1 for ArgMax and ArgMin, which have one axis, a number body
/// and the type i64).
struct Reduce final : ExprBase<Reduce, ExprKind::Reduce> {
  const ReduceOp op;
  const std::vector<IterVar> axes;
  const Expr body;
  static Expr make(ReduceOp op, std::vector<IterVar> axes, Expr body);
  Reduce(Type t, ReduceOp o, std::vector<IterVar> a, Expr b)
      : ExprBase(t), op(o), axes(std::move(a)), body(std::move(b)) {}
};

/// Reads `buffer` at a flat element index (loop level). A vector index reads one element per
/// lane. With a `predicate`, lanes where it is false read nothing and yield 0.
struct Load final : ExprBase<Load, ExprKind::Load> {
  const Buffer buffer;
  const Expr index;
  const Expr predicate;
  static Expr make(Buffer buffer, Expr index, Expr predicate = nullptr);
  Load(Type t, Buffer b, Expr i, Expr p)
      : ExprBase(t), buffer(std::move(b)), index(std::move(i)), predicate(std::move(p)) {}
};

/// The vector <base, base + stride, ..., base + (lanes - 1) * stride>.
struct Ramp final : ExprBase<Ramp, ExprKind::Ramp> {
  const Expr base, stride;
  const int lanes;
  static Expr make(Expr base, Expr stride, int lanes);
  Ramp(Type t, Expr b, Expr s, int n)
      : ExprBase(t), base(std::move(b)), stride(std::move(s)), lanes(n) {}
};

/// A scalar repeated in every lane.
struct Broadcast final : ExprBase<Broadcast, ExprKind::Broadcast> {
  const Expr value;
  const int lanes;
  static Expr make(Expr value, int lanes);
  Broadcast(Type t, Expr v, int n) : ExprBase(t), value(std::move(v)), lanes(n) {}
};

/// Reduces the lanes of a vector to a scalar (Sum, Prod, Max or Min; never Mean or an arg).
struct VectorReduce final : ExprBase<VectorReduce, ExprKind::VectorReduce> {
  const ReduceOp op;
  const Expr value;
  static Expr make(ReduceOp op, Expr value);
  VectorReduce(Type t, ReduceOp o, Expr v) : ExprBase(t), op(o), value(std::move(v)) {}
};

/// Lanes picked from the concatenation of two vectors of one type: lane l of the result is lane
/// `indices[l]` of `a` when it is below a's lanes, else of `b` (loop level; an in-register
/// transpose is a few of these).
struct Shuffle final : ExprBase<Shuffle, ExprKind::Shuffle> {
  const Expr a, b;
  const std::vector<int> indices;
  static Expr make(Expr a, Expr b, std::vector<int> indices);
  Shuffle(Type t, Expr x, Expr y, std::vector<int> i)
      : ExprBase(t), a(std::move(x)), b(std::move(y)), indices(std::move(i)) {}
};

/// Lane `lane ^ xorMask` of the enclosing warp's value of `value` (GPU only: a warp shuffle; the
/// whole warp must execute it, so it appears only where all 32 lanes run it).
struct WarpShuffle final : ExprBase<WarpShuffle, ExprKind::WarpShuffle> {
  const Expr value;
  const int xorMask; // In [1, 31].
  static Expr make(Expr value, int xorMask);
  WarpShuffle(Type t, Expr v, int m) : ExprBase(t), value(std::move(v)), xorMask(m) {}
};

/// Whether the address of `buffer`'s first element is a multiple of `bytes` (a power of two):
/// a schedule that reads several elements in one wide access checks it at run time, since a
/// caller's buffer need not be aligned (GPU only).
struct BufferAligned final : ExprBase<BufferAligned, ExprKind::BufferAligned> {
  const Buffer buffer;
  const int bytes;
  static Expr make(Buffer buffer, int bytes);
  BufferAligned(Type t, Buffer b, int n) : ExprBase(t), buffer(std::move(b)), bytes(n) {}
};

// Convenience constructors for the common cases.
Expr intImm(int64_t value, DType dtype = DType::I64);
Expr floatImm(double value, DType dtype = DType::F32);
Expr boolImm(bool value);
Expr ref(const Var &var);
/// Var is a std::shared_ptr, so argument-dependent lookup also finds std::ref; this overload is
/// the better match for a non-const Var, so `ref(v)` always means this function.
Expr ref(Var &var);
Expr add(Expr a, Expr b);
Expr sub(Expr a, Expr b);
Expr mul(Expr a, Expr b);

// ---------------------------------------------------------------------------------------------
// Statements (loop level).

template <typename T, StmtKind K> struct StmtBase : StmtNode {
  static constexpr StmtKind Kind = K;

protected:
  StmtBase() : StmtNode(K) {}
};

enum class ForKind : uint8_t { Serial, Parallel, Vectorized, Unrolled, GpuBlock, GpuThread };

/// `for var in [0, extent)`. The extent is loop-invariant and evaluated once.
/// On the GPU a kernel is a top-level `gpu_block` loop whose iterations are spread over the
/// grid's blocks (a block may run several when the grid is smaller), with, directly inside, one
/// `gpu_thread` loop of a constant extent: the block's threads, one iteration each.
struct For final : StmtBase<For, StmtKind::For> {
  const Var var;
  const Expr extent;
  const ForKind kind;
  const Stmt body;
  static Stmt make(Var var, Expr extent, ForKind kind, Stmt body);
  For(Var v, Expr e, ForKind k, Stmt b)
      : var(std::move(v)), extent(std::move(e)), kind(k), body(std::move(b)) {}
};

struct Block final : StmtBase<Block, StmtKind::Block> {
  const std::vector<Stmt> stmts;
  /// Flattens nested blocks; a single statement is returned as itself.
  static Stmt make(std::vector<Stmt> stmts);
  explicit Block(std::vector<Stmt> s) : stmts(std::move(s)) {}
};

/// Writes `value` to `buffer` at a flat index; lanes where `predicate` is false write nothing.
struct Store final : StmtBase<Store, StmtKind::Store> {
  const Buffer buffer;
  const Expr index;
  const Expr value;
  const Expr predicate;
  static Stmt make(Buffer buffer, Expr index, Expr value, Expr predicate = nullptr);
  Store(Buffer b, Expr i, Expr v, Expr p)
      : buffer(std::move(b)), index(std::move(i)), value(std::move(v)), predicate(std::move(p)) {}
};

enum class MemoryScope : uint8_t { Stack, Heap, Shared };

/// Memory for `buffer` (product of its shape, elements) live during `body`.
struct Allocate final : StmtBase<Allocate, StmtKind::Allocate> {
  const Buffer buffer;
  const MemoryScope scope;
  const Stmt body;
  static Stmt make(Buffer buffer, MemoryScope scope, Stmt body);
  Allocate(Buffer b, MemoryScope s, Stmt body)
      : buffer(std::move(b)), scope(s), body(std::move(body)) {}
};

struct LetStmt final : StmtBase<LetStmt, StmtKind::LetStmt> {
  const Var var;
  const Expr value;
  const Stmt body;
  static Stmt make(Var var, Expr value, Stmt body);
  LetStmt(Var v, Expr x, Stmt b) : var(std::move(v)), value(std::move(x)), body(std::move(b)) {}
};

/// Waits until every thread of the block (or of the warp) has reached it, and makes their earlier
/// writes to shared and global memory visible to each other (GPU only; every thread of the
/// block, or of the warp, must reach the same barrier).
enum class BarrierScope : uint8_t { Block, Warp };
struct Barrier final : StmtBase<Barrier, StmtKind::Barrier> {
  const BarrierScope scope;
  static Stmt make(BarrierScope scope);
  explicit Barrier(BarrierScope s) : scope(s) {}
};

/// A GPU instruction that plain loop IR cannot say (GPU only: inside a gpu_thread loop; the
/// tensor-core ops are run by every thread of the warp or warpgroup). The CUDA backend prints
/// each op as a call of an inline-PTX helper of its prelude. The operands are buffers, each at
/// an i64 element offset (`offsets`), and a constant `immediate`, checked per op by the
/// verifier. 16-bit means bf16 or f16, one dtype for all of an op's 16-bit operands.
///   MmaSync {d, a, b}: d[0..4) += A x B on tensor cores (mma.sync m16n8k16, row.col, f32
///     accumulation; sm_80+): d f32, a and b 16-bit, all Stack buffers holding the thread's
///     fragments in mma's register layout: a[0..8) the 16x16 A tile's, b[0..4) the 16x8 B
///     tile's (two values a register).
///   LoadMatrix {d, s} immediate 4: the warp's four 8x8 matrices of 16-bit values from shared s
///     into the Stack d[0..8) (ldmatrix.m8n8.x4; sm_75+): lane l's offset into s starts row
///     l % 8 of matrix l / 8 (8 contiguous values, 16-byte aligned), and d[2i], d[2i + 1] are
///     row l / 4, columns 2 (l % 4) and 2 (l % 4) + 1 of matrix i: mma.sync's fragments of
///     tiles read a row at a time.
///   LoadMatrixTrans {d, s} immediate 4: as LoadMatrix, each matrix transposed (.trans): d[2i],
///     d[2i + 1] are rows 2 (l % 4) and 2 (l % 4) + 1 at column l / 4 of matrix i — B's
///     fragments of a tile stored k-major (rows of k, columns of n).
/// Hopper's warpgroup MMA (sm_90a) reads its factors from swizzled shared buffers (swizzled
/// tiles: those a Wgmma or StoreSwizzled names, in dynamic shared memory): 16-bit Shared
/// buffers that start on a 1024-byte boundary and hold rows of 128 bytes whose 16-byte chunks
/// are permuted by the row's index mod 8 (the byte at offset o lives at o ^ ((o >> 3) & 0x70)),
/// so that neither the copies nor the tensor cores meet bank conflicts. Offsets into them are
/// the unswizzled ones.
///   CopyAsync {dst, src}: 16 bytes from global src (16-bit) into shared dst (swizzled where
///     dst is a swizzled tile; 16-byte aligned), asynchronously (cp.async.cg, sm_80+): part of
///     the thread's next commit group.
///   CommitAsync {}: the thread's pending copies form a group (none: an empty group).
///   WaitAsync {} immediate n: waits until at most n of the thread's groups are in flight; the
///     copies of the others are then visible to the thread (to others after a barrier).
///   StoreSwizzled {dst, src}: 16 bytes from the Stack array src into swizzled dst.
///   FenceAsync {}: the thread's shared memory writes become visible to the tensor cores.
///   WgmmaFence {d}: orders the warpgroup's accesses of the accumulators d[0..128) (Stack f32)
///     before the next wgmma.
///   Wgmma {d, a, b} immediate t: d[0..128) += A x B for the warpgroup's 64x256 tile, A 64x16
///     and B 16x256 in swizzled buffers a (64 rows of k) and b (256 rows of k; t = 1: 16 rows
///     of k, in blocks of 64 values of j 8 KiB apart), asynchronously in the next wgmma group.
///   WgmmaCommit {}: the warpgroup's pending wgmmas form a group.
///   WgmmaWait {d} immediate n: waits until at most n wgmma groups are in flight; d's values
///     are the finished groups' from there on.
/// An integer dot product of packed bytes (dp4a, sm_61+):
///   Dp4a {d, a, b}: d[0] += a[0] * b[0] + ... + a[3] * b[3], i8 x i8 products summed into the
///     i32 d, wrapping as i32 addition does; d a Stack buffer, a and b global memory (a
///     parameter or a heap intermediate) read as one 4-byte word each, so each operand's
///     address must be a multiple of 4.
/// Cheaper arithmetic for values that are rounded to 16 bits next (sm_80+), both on Stack
/// buffers at offsets that are multiples of the count they touch:
///   RoundPair {d, s}: d[0..2) (16-bit) = s[0..2) (f32) rounded to nearest even in one
///     instruction (cvt.rn.bf16x2.f32 / cvt.rn.f16x2.f32); a NaN becomes some NaN.
///   Exp2Approx {d, s}: d[0] = 2^s[0] (f32) by the hardware's approximation (ex2.approx.ftz):
///     relative error below 2^-22, results below 2^-126 flushed to 0.
///   MaxNaN {d, s}: d[0] = the maximum of d[0] and s[0] (f32) in one instruction (max.NaN.f32):
///     NaN when either is NaN; of two zeros, either (for maxima whose zero's sign cannot matter).
enum class GpuOp : uint8_t {
  MmaSync,
  CopyAsync,
  StoreSwizzled,
  CommitAsync,
  WaitAsync,
  FenceAsync,
  WgmmaFence,
  Wgmma,
  WgmmaCommit,
  WgmmaWait,
  Dp4a,
  RoundPair,
  Exp2Approx,
  MaxNaN,
  LoadMatrix,
  LoadMatrixTrans,
};
struct GpuIntrinsic final : StmtBase<GpuIntrinsic, StmtKind::GpuIntrinsic> {
  const GpuOp op;
  const std::vector<Buffer> buffers;
  const std::vector<Expr> offsets; // One a buffer.
  const int64_t immediate;
  static Stmt make(GpuOp op, std::vector<Buffer> buffers = {}, std::vector<Expr> offsets = {},
                   int64_t immediate = 0);
  GpuIntrinsic(GpuOp o, std::vector<Buffer> b, std::vector<Expr> x, int64_t i)
      : op(o), buffers(std::move(b)), offsets(std::move(x)), immediate(i) {}
};

/// How a GpuLaunch's threads share its work (passes/GpuSchedule.h chooses); each kind is built
/// as loop IR.
enum class GpuScheduleKind : uint8_t {
  Generic,        // One thread per output point (mapToGpu).
  Vector,         // Elementwise, 4 consecutive points a thread with 16-byte loads/stores.
  Permutation,    // Elementwise with transposed reads: 32x32 tiles through shared memory.
  Rows,           // A group of nests over the same rows: a warp or a block per row, shuffles.
  ReducePartials, // Full reduction, stage 1: a fixed number of blocks each reduce a slice.
  ReduceFinal,    // Full reduction, stage 2: one block reduces the partials in a fixed order.
  ColumnPartials, // Reduction along a strided dim, stage 1: chunks of it, an output a thread.
  ColumnFinal,    // Stage 2: each output's chunks combined in order.
  Contraction,    // c[i, j] = g(sum(a(i, k) * b(k, j) for k)): shared-memory tiles.
  FlashChain,     // Attention's chain (scores, row softmax, second contraction): one kernel.
};

/// One GPU kernel of a func lowered for the GPU: a top-level statement of its body, the kernels
/// launched in the body's order. `body` is the kernel's lets (free of loads: the launcher
/// evaluates them, the kernel recomputes them), then the Allocates of the heap intermediates it
/// uses (device memory the runtime provides), then its gpu_block loop. What the launch needs
/// beyond that is derived from the IR (ir/GpuFunc.h); what cannot be derived is here: the
/// kernel's `extern "C"` name, the schedule that built it, and that schedule's choices in words
/// (one line each, shown by `tdsl emit --stage=schedule --target=cuda`). A launch with a
/// `condition` is one of several alternatives for the same work (the variants of a Rows kernel,
/// each compiled on its own so that each gets its own registers): the launcher evaluates the
/// condition like the grid, over the symbols and the kernel's lets, and launches the kernel only
/// where it holds; the alternatives' conditions exclude each other. `blocksPerSm`, when not 0,
/// is how many of the kernel's blocks each SM must hold at once: the compiler caps the
/// registers a thread so that they fit (the schedule's choice where a second block hides a
/// block's barriers; `__launch_bounds__`'s second argument).
struct GpuLaunch final : StmtBase<GpuLaunch, StmtKind::GpuLaunch> {
  const std::string name;
  const GpuScheduleKind schedule;
  const std::vector<std::string> details;
  const Stmt body;
  const Expr condition; // A bool, free of loads; null: always launched.
  const int blocksPerSm;
  static Stmt make(std::string name, GpuScheduleKind schedule, std::vector<std::string> details,
                   Stmt body, Expr condition = nullptr, int blocksPerSm = 0);
  GpuLaunch(std::string n, GpuScheduleKind k, std::vector<std::string> d, Stmt b, Expr c,
            int blocks)
      : name(std::move(n)), schedule(k), details(std::move(d)), body(std::move(b)),
        condition(std::move(c)), blocksPerSm(blocks) {}
};

struct IfThenElse final : StmtBase<IfThenElse, StmtKind::IfThenElse> {
  const Expr cond;
  const Stmt thenCase;
  const Stmt elseCase; // May be null.
  static Stmt make(Expr cond, Stmt thenCase, Stmt elseCase = nullptr);
  IfThenElse(Expr c, Stmt t, Stmt e)
      : cond(std::move(c)), thenCase(std::move(t)), elseCase(std::move(e)) {}
};

} // namespace tdsl::ir
