// transposeInRegisters: strided vector reads whose lines a loop walks across become whole-line
// reads transposed in registers.
#pragma once

#include "ir/Kernel.h"

namespace tdsl::passes {

/// In a serial loop `for c in [0, W)` (W a constant power of two), a read of W lanes at
/// `ramp(base, stride, W)` with base advancing by one element per step of c reads a W x W block
/// whose rows are contiguous: lane r at step c is element c of row r. Each such read is replaced
/// by W row loads before the loop and a transpose of W log2 W two-vector shuffles (log2 W rounds
/// of perfect shuffles), and the loop is unrolled, step c taking column c. A gather from W cache
/// lines becomes one contiguous load per line, however the lines collide in the cache. A loop
/// whose body is an if on a condition that does not depend on c is first unswitched (the
/// vectorizer's guard of a remainder). Only reads outside conditional code are moved, and only
/// unpredicated ones: they are the reads the loop makes at every step anyway. Requires:
/// vectorized, simplified loop IR. Keeps: every value stored.
[[nodiscard]] ir::Stmt transposeInRegisters(const ir::Stmt &s);

} // namespace tdsl::passes
