// tile: lowers a contraction (passes/Contraction.h) as a cache-blocked, packed GEMM with a
// register-blocked micro-kernel, instead of the generic nest of lowerScheduled.
#pragma once

#include "ir/Kernel.h"
#include "passes/Contraction.h"
#include "passes/Target.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tdsl::passes {

/// Tile sizes from the target: MR x NR accumulators (NR = two vectors, MR as many rows as the
/// vector registers hold next to two B vectors and one broadcast), KC so that an MR x KC panel
/// of A fills half of L1, NC so that a KC x NC block of B fills half of L2.
struct TileSizes {
  int mr = 14, nr = 32, vectorLanes = 16;
  /// Rows of the kernel for a last panel with at most that many rows (0: none): the largest
  /// power of two below MR, so that M = 64 is 4 x 14 + 8 rows, none wasted.
  int tailRows = 8;
  int64_t kc = 256, nc = 512;
  std::string str() const;
};
TileSizes chooseTiles(const CpuTarget &target);

/// The schedule of a tiled group as `tdsl emit --stage=schedule` prints it: the GEMM view of the
/// contraction, the tile sizes and where they come from, packing, threads and the epilogue, one
/// decision per line (each line without indentation, ending in a newline).
std::string describeTiling(const FusedKernel &fused, const TiledGroup &group,
                           const CpuTarget &target);

/// The loop nest of a contraction: A packed once into MR-row panels (per outer point if it reads
/// one; or read in place, see Tile.cpp), then per (outer, n block, k block) B packed into
/// NR-column panels (or read in place when all of it is one block, see Tile.cpp), and per MR x NR
/// tile (TAIL x NR for a short last row panel) of the output an accumulator block updated with
/// broadcast multiply-adds over the k block, added into the output (masked at the edges). Parallel
/// over A's row panels when `target.threads` > 1; each output element is summed in the same order
/// whatever the thread count. The accumulator buffer is named "tile.acc": the LLVM backend
/// contracts its multiply-adds into FMAs. The group's epilogue (see TiledGroup) runs on the
/// finished sums before they are stored. Returns null when `group` is not a TiledGroup.
[[nodiscard]] ir::Stmt lowerTiledGroup(const FusedKernel &fused, const FusedGroup &group,
                                       const CpuTarget &target);

/// Where a tensor of a row chain (see RowChain) or of a consumer's tile (see ConsumerTile) lives
/// during one block of rows: `slice` holds its rows from `rowBase` on, indexed by its dims from
/// `drop` on, the one at `row` among them (0: the first) less `rowBase`; in a split chain (see
/// ChainSchedule::chunkColumns), only the columns of one chunk, the last dim less `colBase`.
struct RowWindow {
  ir::Buffer slice;
  size_t drop = 0;
  ir::Expr rowBase;
  size_t row = 0;
  ir::Expr colBase;
};
using RowWindows = std::map<const ir::BufferNode *, RowWindow>;

/// One block of a row chain: the dims before the rows at the points `fixed` (a null point: the
/// whole dim, looped over, in a consumer's tile), the rows [begin, begin + count), and the windows
/// of the chain's intermediates.
struct RowBlock {
  std::vector<ir::Expr> fixed;
  ir::Expr begin, count;
  RowWindows windows;
  /// In a split chain: the chunk of the windows' columns [colBegin, colBegin + colCount), the
  /// `chunk`-th of `chunkWidth` columns. Null: every column.
  ir::Expr colBegin, colCount, chunk, chunkWidth;
  /// Which block loop of the contraction lowered over the block the chunk fixes: its n blocks
  /// (a producer of the windows, computing the chunk's columns) or its k blocks (the chain's
  /// last contraction, summing over the windows' columns); both then step by chunkWidth.
  enum class ChunkAxis : uint8_t { None, N, K } chunkAxis = ChunkAxis::None;
};

/// The B operand (the factor that does not read the rows) of a row chain's contraction, packed
/// whole for the point `block.fixed` of the dims before the rows, so that every block of rows
/// reads it without packing it again: `pack` fills `buffer` (its column panels split over
/// threads when `kind` is Parallel). Requires: as lowerTiledRows.
struct PackedOperand {
  ir::Buffer buffer;
  ir::Stmt pack;
};
[[nodiscard]] PackedOperand packTiledOperand(const FusedKernel &fused, const FusedGroup &group,
                                             const CpuTarget &target, const RowBlock &block,
                                             ir::ForKind kind);

/// The nest of lowerTiledGroup over one block of rows only, reading B from `packedB` (filled by
/// packTiledOperand at the same point), serial whatever `target.threads` (the chain's blocks or
/// points are the parallel loop). Requires: the contraction's rows are its only m index, after
/// its outer indices (the conditions of a RowChain).
[[nodiscard]] ir::Stmt lowerTiledRows(const FusedKernel &fused, const FusedGroup &group,
                                      const CpuTarget &target, const RowBlock &block,
                                      const ir::Buffer &packedB);

/// One tile of a ConsumerTile: the contraction's outer indices at the points `fixed`, but its
/// last outer index (the row) over [begin, begin + count), every m and n, stored into `windows`.
struct OuterBlock {
  std::vector<ir::Expr> fixed; // Per outer index but the last.
  ir::Expr begin, count;
  RowWindows windows;
};

/// The nest of lowerTiledGroup over the outer points of `block` only, serial whatever
/// `target.threads` (the consumer's tiles are the parallel loop); A and B are packed inside.
[[nodiscard]] ir::Stmt lowerTiledOuterBlock(const FusedKernel &fused, const FusedGroup &group,
                                            const CpuTarget &target, const OuterBlock &block);

/// The name prefix of accumulator buffers whose float `a * b + c` may become an FMA.
inline constexpr const char *kContractBufferPrefix = "tile.acc";

} // namespace tdsl::passes
