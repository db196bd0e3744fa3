// transposeInRegisters: strided vector reads that a loop walks across become whole-line reads,
// transposed or split in registers.
#pragma once

#include "ir/Kernel.h"

namespace tdsl::passes {

/// In a serial loop `for c in [0, E)` (E a constant), a read at `ramp(base, stride, W)` with
/// base advancing by one element per step of c reads a block whose pieces are contiguous:
///  - W == E a power of two: a W x W block of rows, lane r at step c being element c of row r;
///    replaced by W row loads and a transpose of W log2 W two-vector shuffles (log2 W rounds of
///    perfect shuffles). A gather from W cache lines becomes one contiguous load per line,
///    however the lines collide in the cache;
///  - stride == E <= 4 (2 x 2 pooling, the channels of a pixel): E x W consecutive elements,
///    replaced by E contiguous loads, step c taking lanes c, c + E, ... in E - 1 shuffles.
/// The loop is unrolled, step c taking its column. A loop whose body is an if on a condition
/// that does not depend on c is first unswitched (the vectorizer's guard of a remainder) when
/// its first branch has such reads. Only reads outside conditional code are moved, and only
/// unpredicated ones: they are the reads the loop makes at every step anyway. Requires:
/// vectorized, simplified loop IR. Keeps: every value stored.
[[nodiscard]] ir::Stmt transposeInRegisters(const ir::Stmt &s);

} // namespace tdsl::passes
