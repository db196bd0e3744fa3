// fuse: decides which definitions of a normalized kernel disappear into their consumers
// (inlining) and which of the rest share one loop nest (fused groups), so that an elementwise
// chain or a row-wise normalization reads its inputs once. The policy is written in
// docs/fusion.md; every decision is recorded with its reason.
#pragma once

#include "ir/Kernel.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tdsl::passes {

/// Where a definition's values live once fused.
enum class Storage : uint8_t {
  Tensor, // The whole tensor in memory: outputs, and intermediates read outside their group.
  Local,  // Only the remaining dims (after the group's shared ones), per shared iteration.
  Window, // A block of rows, computed per block of the reader's rows: with a halo, by the
          // next group (see FusedGroup::halo); or inside a RowChain, by its own group.
};

/// Consecutive definitions that run inside one nest of shared loops over their leading
/// `sharedDims` index variables (equal extents). Inside, each member has its own nest over its
/// remaining dims and reduction axes, in order.
struct FusedGroup {
  std::vector<size_t> members; // Indices into FusedKernel::kernel.defs, increasing, consecutive.
  size_t sharedDims = 0;
  /// A stencil across rows (see fuseStencils): the previous group's members, each stored as a
  /// Window, are computed per block of this group's rows, from `below` rows before the block
  /// (an offset <= 0) to `above` rows after its last (>= 0), and read from there.
  struct Halo {
    int64_t below = 0, above = 0;
  };
  std::optional<Halo> halo;
};

/// Groups `first` to `last` that fusion made one group over shared rows and that
/// isolateContractions split around their contractions: they run together per block of rows
/// (dim `rowDim` of every member; the dims before it are single points of a block), each group
/// over the block's rows in turn, so an intermediate read only inside the chain is a Window of
/// the block's rows instead of a whole tensor (Halide's compute_at of a producer read row-wise).
struct RowChain {
  size_t first = 0, last = 0;
  size_t rowDim = 0;
};

struct FusedKernel {
  /// The normalized kernel with inlined definitions substituted into their readers and removed
  /// (outputs are never removed). It is a valid tensor-level kernel with the original meaning.
  ir::Kernel kernel;
  std::vector<FusedGroup> groups; // A partition of kernel.defs, in order.
  std::vector<Storage> storage;   // Per definition of `kernel`.
  std::vector<RowChain> chains;   // Disjoint, in order.
  /// One line per decision, in the order taken: "t: inlined into y: ...", "y: joins group 0: ...".
  std::vector<std::string> decisions;
};

/// Whether the nests built from the fusion have stencil windows (fuseStencils, in the CPU's
/// schedule) or not (the plain nest of lowerKernel, which the GPU maps). With them, a cheap
/// producer read across rows at many places is kept for a window instead of inlined.
enum class StencilWindows : uint8_t { On, Off };

/// Groups and inlines the definitions of `kernel`. Requires: a normalized kernel (see
/// normalize). Keeps: the kernel's meaning, inputs, outputs and symbols; the relative order of
/// the definitions kept. Gives: every inlined read is replaced by the producer's value at the
/// read's indices (a read with a `??` default becomes a select on the producer's bounds whose
/// inner reads carry a default, so nothing is read out of bounds).
[[nodiscard]] FusedKernel fuse(const ir::Kernel &kernel,
                               StencilWindows windows = StencilWindows::On);

/// Producer-consumer fusion with overlap (Halide's compute_at): the elementwise intermediates
/// of a group, stored whole only because the next group reads them at other rows (`bx[i - 1, j]
/// ?? 0.0 + bx[i, j] + bx[i + 1, j] ?? 0.0`, each row offset a constant of at most 8), become
/// Windows of that group: computed together per block of its rows with the halo the offsets
/// need, so they stay in cache instead of going through memory. A producer group that reads a
/// window itself can be one too: the windows nest (a chain of stencils), and the last reader's
/// blocks slide every level's window along its rows (lowerScheduled). Requires: the groups of fuse
/// (after isolateContractions). Keeps: every value (the producers' rows are the same
/// computation).
[[nodiscard]] FusedKernel fuseStencils(const FusedKernel &fused);

/// Whether some member of `group` is a Window: of the next group's blocks (fuseStencils), whose
/// reader computes the group's rows, or of its row chain's.
bool hasWindows(const FusedKernel &fused, const FusedGroup &group);

/// The stable text of `tdsl emit --stage=fused`: the groups with their definitions and storage,
/// then the decisions.
std::string toString(const FusedKernel &fused);

// ---------------------------------------------------------------------------------------------
// Analyses shared with the schedule.

/// A rough cost of evaluating an expression once: one per operation and memory read, a few for
/// a division or square root. `transcendental` names the first libm-class call found (exp, tanh,
/// float `**`, ...), which makes the value expensive to recompute however few its operations.
struct ExprCost {
  int64_t ops = 0;
  std::string transcendental;
};
ExprCost exprCost(const ir::Expr &e);

/// How the flat address of `access` moves when `var` advances by one.
enum class AccessStride : uint8_t {
  Uniform,    // It does not depend on var.
  Contiguous, // By one element.
  Strided,    // By anything else (or by an amount known only at run time).
};
AccessStride strideOf(const ir::Access &access, const ir::Var &var);

/// How many of `accesses` move by one element, and how many by more, when `var` advances.
struct StrideCount {
  int contiguous = 0, strided = 0;
  std::string stridedName; // The first strided access's tensor.
};
StrideCount countStrides(const std::vector<const ir::Access *> &accesses, const ir::Var &var);

/// The axis a definition's inner loop would best be vectorized along, independent of the
/// vector width: its innermost index (Spatial; stores are contiguous there) unless it is a
/// reduction whose innermost reduction axis reads contiguously while the spatial one does not
/// (Reduction, e.g. row sums). Rank-0 reductions can only use their reduction axis.
enum class VectorAxis : uint8_t { None, Spatial, Reduction };
struct VectorChoice {
  VectorAxis axis = VectorAxis::None;
  std::string reason;
};
VectorChoice preferredVectorAxis(const ir::Definition &def);

/// Every tensor read in `e`, outermost first.
std::vector<const ir::Access *> accessesIn(const ir::Expr &e);

/// The top-level reduction of a normalized definition's value (looking through the one Cast
/// that rounds into f16/bf16 storage), or null when the definition is elementwise.
const ir::Reduce *topReduce(const ir::Definition &def);

} // namespace tdsl::passes
