// contraction: recognizes the definitions that are tensor contractions, `c[...] = sum(x * y for
// k...)` with each factor reading its own subset of the indices, whatever the operands' layout
// (matmul, batched, transposed operands, conv2d in index form, attention's q·kᵀ and p·v). The
// tiling pass (passes/Tile.h) lowers them as a packed, register-blocked GEMM.
#pragma once

#include "ir/Kernel.h"
#include "passes/Fuse.h"

#include <optional>
#include <string>
#include <vector>

namespace tdsl::passes {

/// `def` seen as a GEMM C[outer, m, n] += A[outer, m, k] * B[outer, k, n]: the output's last
/// index is `n` (stores are contiguous along it); the other output indices read only by `lhs`
/// form `m` (flattened in order); the rest (read by both factors, by `rhs` only, or by neither)
/// are `outer` loops around the GEMM; all reduction axes form `k` (flattened in order).
struct Contraction {
  const ir::Definition *def = nullptr;
  ir::Expr lhs, rhs;            // The two factors; lhs never reads n, rhs never reads m.
  std::vector<size_t> outer, m; // Positions in def->indices, in order.
  size_t n = 0;                 // The last position of def->indices.
  std::vector<ir::IterVar> k;   // The reduction axes.
  bool lhsReadsOuter = false;   // lhs depends on an outer index (packed per outer point).
};

/// `def` as a contraction, or nullopt with `why` saying which condition failed. Requires: a
/// normalized definition. Only f32 sums of a product of two reduction-free f32 factors qualify
/// (reads with `??` defaults included: a zero-padded convolution), with at least one m index, and
/// reduction extents over symbols only.
std::optional<Contraction> findContraction(const ir::Definition &def, std::string &why);

/// A fused group that the tiling pass lowers: a contraction, then an epilogue of elementwise
/// definitions over the same domain that read the contraction (and each other) only at their
/// own indices, evaluated on the finished sums before they are stored (`relu(a @ b + bias)`).
struct TiledGroup {
  Contraction contraction;
  std::vector<size_t> epilogue;  // Indices into FusedKernel::kernel.defs, in order.
  bool storeContraction = false; // Not Local: its sums are stored too (whole or in a window).
  /// Where partial sums of all k blocks but the last are kept: the contraction's own tensor, or
  /// the first stored epilogue tensor (f32, same shape).
  ir::Buffer partial;
};

/// `group` as a tiled contraction, or nullopt with `why`.
std::optional<TiledGroup> matchTiledGroup(const FusedKernel &fused, const FusedGroup &group,
                                          std::string &why);

/// Splits every fused group that holds a contraction but is not a TiledGroup, so that the
/// contraction is a group of its own and the definitions before and after it keep their fusion:
/// e.g. `e = t @ d` fused with `t = a @ b` row by row (2mm), or a row softmax after `q·kᵀ`. The
/// parts of one group form a RowChain when every contraction's rows are its only m index after
/// its outer indices, and some value is read across them: those values become Windows (else
/// they are stored whole). Keeps: the kernel, the order of definitions; each decision is
/// recorded.
[[nodiscard]] FusedKernel isolateContractions(const FusedKernel &fused);

/// A tiled contraction computed per tile of the group after it (Halide's compute_at of a
/// convolution per tile of the pooling that reads it): the consumer reads the producer group's
/// stored tensors at its own indices in the dims before `fixedDims`, and in dim `rowDim`, one of
/// the contraction's outer indices, at `stride * row + offset` with `row` its own index there and
/// the offsets in [lo, hi] (constants, or reduction axes of constant extent: 2 x 2 pooling reads
/// rows 2p to 2p + 1). Per point of the fixed dims and block of the consumer's rows, the
/// contraction computes the producer rows the block reads, all m and n, into Windows, and the
/// consumer reads them there. The outer indices are the fixed dims and the row only.
struct ConsumerTile {
  size_t producer = 0, consumer = 0; // Groups; consumer == producer + 1.
  size_t fixedDims = 0, rowDim = 0;  // fixedDims <= rowDim.
  int64_t stride = 1, lo = 0, hi = 0;
  /// Rows of the producer a block of `rows` consumer rows reads, halo included.
  int64_t windowRows(int64_t rows) const { return stride * (rows - 1) + hi - lo + 1; }
};

/// The tile of consumer group `consumer` over the tiled contraction in the group before it, or
/// nullopt with `why`. Requires: the groups of isolateContractions (and fuseStencils).
std::optional<ConsumerTile> findConsumerTile(const FusedKernel &fused, size_t consumer,
                                             std::string &why);

/// Makes every tiled contraction whose only reader is the next group, per findConsumerTile, a
/// Window of that group's tiles: its stored tensors become Windows, and the consumer shares its
/// dims up to the row, so a block of rows is a range of its shared loops. Each decision is
/// recorded. Keeps: the kernel, the groups' members.
[[nodiscard]] FusedKernel tileContractionConsumers(const FusedKernel &fused);

} // namespace tdsl::passes
