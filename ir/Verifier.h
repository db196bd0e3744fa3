// Verifiers between steps: each checks the invariants of its level and which nodes may appear
// there, throwing tdsl::InternalError naming the problem.
#pragma once

#include "ir/Kernel.h"

namespace tdsl::ir {

/// Tensor level: no Load/Ramp/Broadcast/VectorReduce or statements; every Access is to an input
/// or an earlier definition with one index per dim; every variable is bound by an enclosing
/// domain or reduction, or is a symbol; each output is defined exactly once.
void verify(const Kernel &kernel);

/// Loop level: no Access/Reduce; every variable is bound by an enclosing For/LetStmt or is a
/// symbol; every buffer is a parameter or enclosed by its Allocate; loads and stores type-check.
void verify(const LoweredFunc &func);

} // namespace tdsl::ir
