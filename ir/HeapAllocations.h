// The heap intermediates a loop's every step allocates first: what hoistAllocations moves around
// a serial loop (passes/HoistAllocations.h) and what the CPU code of a parallel loop allocates
// once per chunk of steps (codegen/llvm).
#pragma once

#include "ir/IR.h"

#include <functional>
#include <vector>

namespace tdsl::ir {

struct PeeledAllocations {
  /// In nesting order, outermost first.
  std::vector<Buffer> buffers;
  /// The body with those Allocates replaced by their own bodies.
  Stmt body;
};

/// The heap Allocates of `body` that satisfy `movable` (given the buffer): `body` itself and the
/// chain of Allocates it starts, then the statements of the Block it leaves (and their chains).
/// A heap intermediate holds no value from one step of a loop to the next (each step writes what
/// it reads), so one allocation around the steps serves them all.
PeeledAllocations peelHeapAllocations(const Stmt &body,
                                      const std::function<bool(const Buffer &)> &movable);

} // namespace tdsl::ir
