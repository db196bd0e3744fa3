// The two program levels. A tensor-level Kernel is what sema produces and the interpreter runs;
// a LoweredFunc is the loop-level program that backends translate.
#pragma once

#include "ir/IR.h"

#include <cstdint>
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

/// A subscript checked when the kernel runs (a gather: not affine, so not proven in bounds by
/// sema). The access reads its tensor with a fallback, so it never touches memory out of range;
/// `result`, a scalar i64 defined by a definition of the kernel, is the smallest index out of
/// [0, dim `dim` of `gathered`) that the access met, or INT64_MAX when there was none. The call
/// fails with the first check (in this order) that found one.
struct GatherCheck {
  Buffer result;      // Role Output, shape []; not among the kernel's outputs.
  Buffer gathered;    // The tensor read.
  size_t dim = 0;     // The checked subscript's position.
  std::string access; // The access as written: "table[ids[t], d]".
  SourceSpan span;    // The access in the .tdsl source.
  /// The input whose elements are the subscript (`ids` in table[ids[t], d], also through a cast
  /// to i64), or null when the subscript computes more than a read. Random inputs of such an
  /// input hold indices in range (tdsl::Kernel::randomInputs).
  Buffer source;
};

/// The value of a GatherCheck's result when every index was in range.
inline constexpr int64_t kNoGatherViolation = INT64_MAX;

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
  /// The run-time checks of its gathers, in source order (an access's own subscripts first).
  std::vector<GatherCheck> checks;
};

/// The message of the run-time error (E093) of `check`, a check of `kernel`, finding `index`
/// outside a dim of `size` elements.
std::string gatherErrorMessage(const Kernel &kernel, const GatherCheck &check,
                               const std::string &index, const std::string &size);

/// Throws the run-time error (E093) of the first of `kernel`'s checks whose result (`results`, in
/// the order of `kernel.checks`) is an index out of range; `symbols` holds the call's symbol
/// values. Returns when every result is kNoGatherViolation.
void throwIfGatherFailed(const Kernel &kernel, const std::vector<int64_t> &symbols,
                         const int64_t *results);

/// Every kernel of one .tdsl file, in source order.
struct Module {
  std::vector<Kernel> kernels;
  const Kernel *find(const std::string &name) const;
};

/// The loop-level program of one kernel.
///
/// Calling convention, shared by every backend and the runtime:
///   void NAME(void *const *buffers, const int64_t *symbols, void *runtime)
/// `buffers` holds the data pointers of `params` in order (the inputs, the outputs, then the
/// results of the kernel's gather checks), `symbols` the values of `symbols` in
/// order, and `runtime` is an opaque handle for runtime services (the thread pool).
struct LoweredFunc {
  std::string name;
  std::vector<Buffer> params; // The kernel's inputs, its outputs, its gather checks' results.
  std::vector<Var> symbols;
  Stmt body;
};

} // namespace tdsl::ir
