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

/// How a GpuKernel's threads share its work (passes/GpuSchedule.h chooses); each kind is built
/// as loop IR (`GpuKernel::nest`).
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

/// One GPU kernel of a mapped func, in launch order.
struct GpuKernel {
  std::string name; // "<func>_k<i>", the `extern "C"` name of its __global__ function.
  /// The kernel as loop IR: a gpu_block For, with shared allocations and lets (free of the
  /// thread) around its gpu_thread For.
  ir::Stmt nest;
  ir::Expr blocks;  // Its extent: i64 over the symbols and `lets`.
  ir::Expr threads; // The extent of its gpu_thread loop.
  /// Top-level LetStmts enclosing the nest, outermost first: the launcher evaluates them before
  /// `blocks`, and the kernel recomputes them.
  std::vector<std::pair<ir::Var, ir::Expr>> lets;
  /// Non-stack Allocates enclosing the nest (intermediates), outermost first.
  std::vector<ir::Buffer> allocations;

  GpuScheduleKind schedule = GpuScheduleKind::Generic;
  /// The schedule's choices in words, beyond what the nest shows at a glance (Rows).
  std::vector<std::string> details;
  /// Dynamic shared memory at launch (ir::dynamicSharedBytes of the nest); null: none. The
  /// launcher lets a kernel use up to `sharedLimit` bytes where the device's default is less.
  ir::Expr sharedBytes;
  int64_t sharedLimit = 0;
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
