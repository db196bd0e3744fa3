// Mapping loop nests onto a CUDA grid. Each top-level loop nest becomes one GPU kernel whose
// iteration space is flattened and spread over blocks and threads; the CUDA backend emits one
// `__global__` function per such nest, and the runtime launches them in order.
#pragma once

#include "ir/Kernel.h"

#include <string>
#include <utility>
#include <vector>

namespace tdsl::passes {

/// Turns each top-level loop nest of `func` (a direct child of the body, looking through Blocks,
/// non-stack Allocates and Load-free LetStmts) into a GPU nest:
///
///   for block in [0, (E + T - 1) // T) gpu_block
///     for thread in [0, T) gpu_thread
///       let flat = block * T + thread
///       if (flat < E)
///         let i0 = flat // (E1 * ... * En-1)
///         let i1 = (flat - i0 * (E1 * ... * En-1)) // (E2 * ... * En-1)
///         ...
///         let in-1 = flat - i0 * (E1 * ... * En-1) - ... - in-2 * En-1
///         <body of the innermost mapped loop>
///
/// where the mapped loops are the nest's perfectly nested Serial/Parallel loops i0..in-1 with
/// extents E0..En-1 and E = E0 * ... * En-1. A nest whose innermost mapped loop holds more than
/// one statement (a reduction: accumulator init, serial reduction loop, store) keeps that body,
/// serial, inside each thread. A top-level statement that is not such a loop (a 0-d definition),
/// or a nest whose body reads a non-local buffer it also writes (so its iterations may depend on
/// each other), runs on a single thread: `for block in [0, 1) gpu_block / for thread in [0, 1)
/// gpu_thread`.
///
/// Requires: loop IR as built by buildLoopNest (each iteration of a mapped loop writes its own
/// elements; extents do not depend on the nest's loop variables — checked). Keeps: the
/// program's meaning, the order of the nests, and existing gpu_block nests (so mapping twice is
/// the identity). Breaks: nothing; the result still verifies.
[[nodiscard]] ir::LoweredFunc mapToGpu(const ir::LoweredFunc &func, int threadsPerBlock = 256);

/// How a GpuKernel's threads share its work (passes/GpuSchedule.h chooses). All but Rows are
/// loop IR (`GpuKernel::nest`); the CUDA backend still emits Rows from its description.
enum class GpuScheduleKind {
  Generic,        // One thread per output point (mapToGpu).
  Vector,         // Elementwise, 4 consecutive points a thread with 16-byte loads/stores.
  Permutation,    // Elementwise with transposed reads: 32x32 tiles through shared memory.
  Rows,           // A group of nests over the same rows: a warp or a block per row, shuffles.
  ReducePartials, // Full reduction, stage 1: a fixed number of blocks each reduce a slice.
  ReduceFinal,    // Full reduction, stage 2: one block reduces the partials in a fixed order.
  ColumnPartials, // Reduction along a strided dim, stage 1: chunks of it, an output a thread.
  ColumnFinal,    // Stage 2: each output's chunks combined in order.
  Contraction,    // c[i, j] = g(sum(a(i, k) * b(k, j) for k)): shared-memory tiles.
};

/// One row-wise piece of a Rows kernel (or the reduction of a Reduce* kernel): `inner` runs for
/// q in [0, innerCount) split over the row's threads; for a reduction, `pre` initializes the
/// stack accumulator `acc` before, the threads' accumulators are combined with `op` after, and
/// `post` (which reads acc[0]) runs on one thread.
struct GpuRowItem {
  bool reduction = false;
  ir::Buffer acc; // Stack f32[1]-like accumulator (reductions).
  ir::BinaryOp op = ir::BinaryOp::Add;
  ir::Stmt pre, post;  // Reductions: init and final store.
  ir::Var q;           // The flattened inner index, bound by the emitter's loop.
  ir::Expr innerCount; // Extent of q.
  ir::Stmt inner;      // Body for one q (inner loop variables replaced by lets of q).
};

/// A buffer a Rows kernel accesses only at `row * length + q` (q in [0, length)): in the kernel,
/// `local` points at the current row's slice, in dynamic shared memory when the rows of a block
/// fit there (`offset` bytes into a row's part), else in global memory. A `copyIn` buffer (read
/// by several members, written by none) is copied into shared memory at the start of each row,
/// so global memory is read once; otherwise the buffer is an intermediate that lives only there.
struct GpuRowBuffer {
  ir::Buffer global, local;
  ir::Expr length, offset;
  bool copyIn = false;
};

/// One GPU kernel of a mapped func, in launch order.
struct GpuKernel {
  std::string name; // "<func>_k<i>", the `extern "C"` name of its __global__ function.
  /// The kernel as loop IR: a gpu_block For, with shared allocations and lets (free of the
  /// thread) around its gpu_thread For (null for Rows).
  ir::Stmt nest;
  ir::Expr blocks;  // Its extent: i64 over the symbols and `lets`.
  ir::Expr threads; // The extent of its gpu_thread loop.
  /// Top-level LetStmts enclosing the nest, outermost first: the launcher evaluates them before
  /// `blocks`, and the kernel recomputes them.
  std::vector<std::pair<ir::Var, ir::Expr>> lets;
  /// Non-stack Allocates enclosing the nest (intermediates), outermost first.
  std::vector<ir::Buffer> allocations;

  GpuScheduleKind schedule = GpuScheduleKind::Generic;
  /// Rows: `rowCount` rows; `rowLets` bind the outer loop variables from `row`; `rowLength` (the
  /// first reduction's length) picks a warp (short rows) or the whole block (long rows) per row.
  ir::Var row;
  ir::Expr rowCount, rowLength;
  std::vector<std::pair<ir::Var, ir::Expr>> rowLets;
  std::vector<GpuRowItem> items;
  ir::Expr rowIndex; // The row's linear index over the row lets.
  std::vector<GpuRowBuffer> rowBuffers;
  /// Per-row values of the group (intermediates accessed only at `row`): a register each,
  /// declared for each row (every thread of the row computes them: the reductions' final stores
  /// run on all of the row's threads, which hold the same combined value).
  std::vector<ir::Buffer> rowRegisters;
  /// Shared bytes per row (16-byte aligned slices): of the intermediates, and of all the row
  /// buffers. The intermediates go to shared memory when rpb * rowScratchBytes <= sharedLimit;
  /// the input copies too when rpb * rowBytes <= copyLimit (a tighter bound that keeps enough
  /// blocks on an SM: a copy only saves a second read, mostly from L2).
  ir::Expr rowScratchBytes, rowBytes;
  ir::Expr sharedBytes; // Dynamic shared memory at launch; null: none.
  int64_t sharedLimit = 0, copyLimit = 0;
  /// Rows held in registers: when `registerRows` (a bool over the symbols and `lets`) holds,
  /// the row has ((S - 1) * L, S * L] points for one S in registerSlots, registerSlots / 2, ...,
  /// kMinRegisterSlots (L: the row's threads), every row buffer has the row's length, and each
  /// thread keeps its elements q = lane + m * L (m < S, a compile-time bound, the loops over m
  /// fully unrolled) in a local array: the input row is read from global memory once, the
  /// intermediates never leave registers, and no dynamic shared memory is needed (sharedBytes
  /// is 0 then). 0 slots: no register variant.
  static constexpr int kMinRegisterSlots = 8;
  int registerSlots = 0;
  ir::Expr registerRows;
  /// Contraction on tensor cores: when both factors are f32 casts of 16-bit values (bf16 or
  /// f16, the same type; the product of two such values is exact in f32) and the device has
  /// mma.sync (sm_80+), `tensorCoreType` is that type; else F32 (the CUDA-core tiles, which
  /// the launch bounds give two blocks an SM).
  DType tensorCoreType = DType::F32;
  /// Hopper (sm_90) tensor cores: when the 16-bit factors are plain loads, A contiguous along k
  /// and B along k or j, warpgroup MMA (wgmma.mma_async) reads them from shared memory, in
  /// 128x256 output tiles of two warpgroups (64x256 each); k advances in steps of 64 through a
  /// ring of `wgmmaStages` shared-memory stages (48 KiB each, 128-byte swizzled as wgmma reads
  /// them, in dynamic shared memory: `sharedBytes`) that cp.async fills two steps ahead. 0:
  /// mma.sync.
  int wgmmaStages = 0;
  static constexpr int64_t kWgmmaStageBytes = (128 + 256) * 64 * 2;
};

/// The GPU kernels of a func produced by mapToGpu. Throws tdsl::InternalError when the func has
/// a top-level statement that is not a gpu_block nest (it was not mapped).
std::vector<GpuKernel> gpuKernels(const ir::LoweredFunc &mapped);

/// The heap intermediates of these kernels (the union of their `allocations`, in order of first
/// appearance). Every emitted kernel takes them as pointer parameters after the func's buffers
/// and before the symbols; the runtime allocates them on the device for each call.
std::vector<ir::Buffer> gpuHeapBuffers(const std::vector<GpuKernel> &kernels);

} // namespace tdsl::passes
