// Semantic analysis: names, dtypes, shapes and broadcasting, index extents, bounds proofs, calls
// (inlined) -> tensor IR.
#pragma once

#include "frontend/AST.h"
#include "ir/Kernel.h"

namespace tdsl::frontend {

/// Checks every kernel of the file and builds its tensor IR. All independent errors are reported
/// to `diags`; the module holds the kernels that checked cleanly.
ir::Module analyze(const ast::File &file, DiagnosticEngine &diags);

} // namespace tdsl::frontend
