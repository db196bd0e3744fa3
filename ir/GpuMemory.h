// Dynamic shared memory of a GPU kernel: the one rule by which a kernel's run-time sized shared
// allocations are laid out, read by the CUDA printer (each buffer's place) and the launcher (the
// bytes to ask for).
#pragma once

#include "ir/IR.h"

#include <utility>
#include <vector>

namespace tdsl::ir {

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
