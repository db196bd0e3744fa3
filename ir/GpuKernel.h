// A GPU kernel at the loop level: its nest of gpu_block and gpu_thread loops with what its launch
// needs, as the GPU schedules (passes/GpuSchedule.h) build it and the CUDA backend prints and
// launches it; and the one rule by which a kernel's run-time sized shared allocations are laid
// out, read by the printer (each buffer's place) and the launcher (the bytes to ask for).
#pragma once

#include "ir/IR.h"
#include "ir/Kernel.h"

#include <string>
#include <utility>
#include <vector>

namespace tdsl::ir {

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
  Stmt nest;
  Expr blocks;  // Its extent: i64 over the symbols and `lets`.
  Expr threads; // The extent of its gpu_thread loop.
  /// Top-level LetStmts enclosing the nest, outermost first: the launcher evaluates them before
  /// `blocks`, and the kernel recomputes them.
  std::vector<std::pair<Var, Expr>> lets;
  /// Non-stack Allocates enclosing the nest (intermediates), outermost first.
  std::vector<Buffer> allocations;

  GpuScheduleKind schedule = GpuScheduleKind::Generic;
  /// The schedule's choices in words, beyond what the nest shows at a glance (Rows).
  std::vector<std::string> details;
  /// Dynamic shared memory at launch (dynamicSharedBytes of the nest); null: none. The
  /// launcher lets a kernel use up to `sharedLimit` bytes where the device's default is less.
  Expr sharedBytes;
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

/// `kernels` (of the plain func `plain`, in launch order) as one func over its params and
/// symbols: each kernel's nest inside its lets and heap allocations, one after another. What
/// the verifier checks and `--print-after=gpu-schedule` shows.
LoweredFunc gpuFunc(const LoweredFunc &plain, const std::vector<GpuKernel> &kernels);

/// "vector", "rows", ... for comments in the emitted code and the schedule in words.
std::string scheduleName(GpuScheduleKind kind);

/// The heap intermediates of these kernels (the union of their `allocations`, in order of first
/// appearance). Every emitted kernel takes them as pointer parameters after the func's buffers
/// and before the symbols; the runtime allocates them on the device for each call.
std::vector<Buffer> gpuHeapBuffers(const std::vector<GpuKernel> &kernels);

/// Whether `a` is a shared allocation whose size is known only at run time (it lives in the
/// kernel's dynamic shared memory; a constant size is a static `__shared__` array).
bool isDynamicShared(const Allocate *a);

/// The dynamic shared allocations of `nest` (a gpu_block loop) in program order, each with its
/// byte offset: each starts at the next 16-byte boundary after the one before, from 0. The sizes
/// must be free of the kernel's loop and let variables (the launcher evaluates them).
std::vector<std::pair<Buffer, Expr>> dynamicSharedLayout(const Stmt &nest);

/// The bytes of dynamic shared memory `nest` needs (0 when none), an i64 over the symbols.
Expr dynamicSharedBytes(const Stmt &nest);

} // namespace tdsl::ir
