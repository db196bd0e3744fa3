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

} // namespace tdsl::passes
