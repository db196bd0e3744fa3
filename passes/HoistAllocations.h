// hoistAllocations: a heap intermediate allocated in the body of a serial loop, with a size the
// loop does not change, is allocated once around the loop instead of at every step:
//
//   for i in [0, N) serial                    allocate ix: f32[W - 2] heap
//     for j ... (g)                       =>    for i in [0, N) serial
//     allocate ix: f32[W - 2] heap                for j ... (g)
//       for j ... (ix)                            for j ... (ix)
//
// Every heap allocation is a call into the kernel's scratch arena, which takes a lock shared by
// the kernel's threads: Harris's gradient rows were two acquisitions and releases a row.
#pragma once

#include "ir/Kernel.h"

namespace tdsl::passes {

/// In each serial loop, the heap Allocates that are the loop's body or statements of its body's
/// block, whose shapes do not use the loop's variable, move around the loop (innermost loops
/// first, so an allocation moves out of every serial loop that does not change its size). A
/// heap intermediate holds no value from one step to the next (every step writes what it reads),
/// so one buffer serves every step. Keeps: every value loaded and stored; parallel and GPU loops
/// as they are (each step of a parallel loop needs buffers of its own).
[[nodiscard]] ir::Stmt hoistAllocations(const ir::Stmt &s);

} // namespace tdsl::passes
