// The two program levels. A tensor-level Kernel is what sema produces and the interpreter runs;
// a LoweredFunc is the loop-level program that backends translate.
#pragma once

#include "ir/IR.h"

#include <string>
#include <vector>

namespace tdsl::ir {

/// `target[indices...] = value` for every point of the domain `indices`. `value` has the scalar
/// type of the target's dtype (an explicit Cast rounds f32 arithmetic into f16/bf16 storage).
struct Definition {
  Buffer target; // Role Output or Intermediate; its shape is the extents of `indices`.
  std::vector<IterVar> indices;
  Expr value;
  SourceSpan span; // The statement in the .tdsl source.
};

/// One kernel after sema: calls inlined, whole-array statements turned into index form.
struct Kernel {
  std::string name;
  /// Shape symbols in order of first appearance among the inputs' dims. Inputs' dims are only
  /// integer literals or plain symbols, so the caller binds every symbol from the inputs.
  std::vector<Var> symbols;
  std::vector<Buffer> inputs;
  std::vector<Buffer> outputs;  // Output dims are integer expressions of the symbols (H // 2).
  std::vector<Definition> defs; // In dependency order; each output is defined exactly once.
  SourceSpan span;
};

/// Every kernel of one .tdsl file, in source order.
struct Module {
  std::vector<Kernel> kernels;
  const Kernel *find(const std::string &name) const;
};

/// The loop-level program of one kernel.
///
/// Calling convention, shared by every backend and the runtime:
///   void NAME(void *const *buffers, const int64_t *symbols, void *runtime)
/// `buffers` holds the data pointers of `params` in order, `symbols` the values of `symbols` in
/// order, and `runtime` is an opaque handle for runtime services (the thread pool).
struct LoweredFunc {
  std::string name;
  std::vector<Buffer> params; // The kernel's inputs, then its outputs.
  std::vector<Var> symbols;
  Stmt body;
};

} // namespace tdsl::ir
