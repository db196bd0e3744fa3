// GPU schedules: which way each top-level loop nest of a plain lowered func runs on the GPU,
// chosen from the nest's shape and the device's properties, each kernel built as GPU loop IR
// (a GpuLaunch, ir/GpuFunc.h) that the CUDA backend prints.
#pragma once

#include "passes/GpuMap.h"
#include "passes/Target.h"

#include <string>
#include <vector>

namespace tdsl::passes {

/// `func` (plain loop IR) lowered for the GPU: its body is its kernels, one GpuLaunch each named
/// `<func>_k<i>`, in launch order:
///  - a perfectly nested elementwise nest whose store index is its row-major position: Vector
///    (4 consecutive points a thread, 16-byte loads/stores of the 4-byte buffers read at that
///    same position, a scalar tail and a scalar path for misaligned pointers);
///  - a run of nests over the same outer loops (rows) with at least one reduction over a
///    contiguous inner loop, communicating only through the current row of their intermediates
///    (softmax, layernorm, row sums): one Rows kernel, a warp per row when the row is short and a
///    block per row when it is long, the nests' loops split over the row's threads, the
///    reductions combined with warp shuffles (and shared memory across warps), the nests
///    separated by barriers; an argmax (argmin) member is a reduction of (value, position)
///    pairs, combined so that ties and NaNs give the sequential scan's first position;
///  - a prefix scan along a contiguous row: a Rows kernel of its own, the row in chunks of L x 8
///    points (registers, then warp shuffles, then shared memory across warps, plus a carry);
///  - a reduction to a single point: ReducePartials then ReduceFinal, two deterministic stages;
///  - attention's chain (a contraction, at its rows a maximum over the keys, exp of the score
///    minus it, its row sum, a second contraction over the keys, the two sums combined): one
///    FlashChain kernel, online softmax over tiles of keys, the scores never in memory;
///  - anything else: Generic (mapToGpu).
/// Requires: the heap intermediates are Allocates around the nests (as buildLoopNest makes them).
ir::LoweredFunc scheduleForGpu(const ir::LoweredFunc &func, const GpuTarget &target = {});

/// `e` when it is a plain (unpredicated) load whose index is `base + v` with `base` free of `v`:
/// consecutive values of `v` read consecutive elements.
const ir::Load *contiguousLoad(const ir::Expr &e, const ir::Var &v);

/// The names of the buffers a kernel stores to outside its own stack and shared memory, in order.
std::vector<std::string> writtenBuffers(const ir::GpuLaunch *launch);

/// The GPU schedule in words, a few lines a kernel (`tdsl emit --stage=schedule --target=cuda`):
/// the device it was chosen for, then each kernel's schedule, launch, shared memory and
/// intermediates.
std::string toString(const ir::LoweredFunc &gpu, const GpuTarget &target);
/// The kernels of a func lowered for the GPU as GPU loop IR (`tdsl emit --stage=loops
/// --target=cuda`), each after its lets.
std::string loopsToString(const ir::LoweredFunc &gpu);

} // namespace tdsl::passes
