// GPU schedules: which way each top-level loop nest of a plain lowered func runs on the GPU,
// chosen from the nest's shape and the device's properties. The CUDA backend emits each kind.
#pragma once

#include "passes/GpuMap.h"

#include <string>
#include <vector>

namespace tdsl::passes {

/// The device properties the schedules depend on (runtime::cuda::DeviceInfo gives them for the
/// GPU at hand; the defaults describe an H100/H200, for `tdsl emit --stage=cuda` without one).
struct GpuTarget {
  int multiprocessors = 132;
  int warpSize = 32;
  int maxThreadsPerBlock = 1024;
  int maxThreadsPerMultiprocessor = 2048;
  int sharedBytesPerBlock = 48 * 1024;
  int sharedBytesPerBlockOptin = 227 * 1024; // With the kernel's attribute set.
  int sharedBytesPerMultiprocessor = 228 * 1024;
  int registersPerBlock = 65536;
  int computeCapability = 90; // major * 10 + minor: mma.sync with bf16/f16 needs 80.

  /// Threads per block for every schedule: 256 (8 warps) where the device allows.
  int threadsPerBlock() const;
  /// Blocks of the first stage of a full reduction: a few per SM, a fixed number for the device
  /// (so the summation order, and the result, do not change from run to run).
  int64_t partialBlocks() const;
  /// Dynamic shared memory a Rows kernel may use: what the device allows with opt-in, less room
  /// for the static arrays, and at most 96 KiB so that two blocks still share an SM.
  int64_t rowSharedLimit() const;
  /// The bound for copies of input rows (as rowSharedLimit: measured better than reading the
  /// row twice with more blocks an SM).
  int64_t rowCopyLimit() const;
};

/// The GPU kernels of `func` (plain loop IR, or IR already mapped by mapToGpu), in launch order:
///  - a perfectly nested elementwise nest whose store index is its row-major position: Vector
///    (4 consecutive points a thread, 16-byte loads/stores of the 4-byte buffers read at that
///    same position, a scalar tail and a scalar path for misaligned pointers);
///  - a run of nests over the same outer loops (rows) with at least one reduction over a
///    contiguous inner loop, communicating only through the current row of their intermediates
///    (softmax, layernorm, row sums): one Rows kernel, a warp per row when the row is short and a
///    block per row when it is long, the nests' loops split over the row's threads, the
///    reductions combined with warp shuffles (and shared memory across warps), the nests
///    separated by barriers;
///  - a reduction to a single point: ReducePartials then ReduceFinal, two deterministic stages;
///  - anything else: Generic (mapToGpu).
/// Requires: the heap intermediates are Allocates around the nests (as buildLoopNest makes them).
std::vector<GpuKernel> scheduleForGpu(const ir::LoweredFunc &func, const GpuTarget &target = {});

/// `e` when it is a plain (unpredicated) load whose index is `base + v` with `base` free of `v`:
/// consecutive values of `v` read consecutive elements.
const ir::Load *contiguousLoad(const ir::Expr &e, const ir::Var &v);

/// Whether the kernels include a non-generic schedule of `kind` (for tests and `explain`).
bool hasSchedule(const std::vector<GpuKernel> &kernels, GpuScheduleKind kind);

/// "vector", "rows", ... for comments in the emitted code.
std::string scheduleName(GpuScheduleKind kind);

} // namespace tdsl::passes
