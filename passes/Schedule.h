// schedule: how each fused group runs on a CPU, chosen by heuristics from the target (vector
// width, threads, cache sizes): which loop is parallel, which axis is vectorized and by how many
// lanes, how rows are blocked and where group-local values live. Printed by
// `tdsl emit --stage=schedule`, one line per group and per member, each decision with its reason.
#pragma once

#include "passes/Contraction.h"
#include "passes/Fuse.h"
#include "passes/Scan.h"
#include "passes/Target.h"

#include <optional>
#include <string>
#include <vector>

namespace tdsl::passes {

/// Where a Local definition (see Storage) lives.
enum class LocalPlace : uint8_t {
  None,  // Not local: the whole tensor (an output, or a heap intermediate around its readers).
  Value, // A scalar per shared point of an elementwise definition: a let, in registers.
  Stack, // A small buffer (a scalar reduction result, or a slice of constant small size).
  Heap,  // A slice of run-time or large size, allocated once per block of rows.
};

struct MemberSchedule {
  /// The axis of this member's own nest that is vectorized (Spatial: its innermost index, which
  /// is then not a shared dim; Reduction: its innermost reduction axis, with a vector
  /// accumulator) and by how many lanes.
  VectorAxis vector = VectorAxis::None;
  int lanes = 1;
  /// A Spatial reduction whose reads are strided along its reduction (column sums, `A^T x`):
  /// the accumulators of `strip` consecutive values of the index (a multiple of the lanes) live
  /// in a stack buffer, so each step of the reduction reads `strip` contiguous values of a row
  /// instead of one vector's worth. 0 when the accumulators are registers.
  int64_t strip = 0;
  /// When the strips run in parallel (the group's only loop): each is narrowed to at most
  /// 1 / stripThreads of the extent, rounded up to the lanes, so every thread gets one.
  int stripThreads = 1;
  /// A reduction to one value over several axes, vectorized along its last: its first axis
  /// split into this many parts, each with its own accumulators (a parallel task when the group
  /// runs in parallel), the parts combined in order afterwards. The split does not depend on
  /// the threads, so neither do the result's bits. 0: one pass.
  int chunks = 0;
  /// An argmax (argmin) vectorized along its row: where this bool over the tensor-level
  /// variables holds (the row fits in the cache), it runs in two passes, the row's maximum
  /// (minimum) in `searchVectors` accumulators of `searchLanes` lanes, as a max reduction,
  /// then the first position that holds it, as many points a step, in the row the first pass
  /// left in the cache; elsewhere (and when null) one pass with a (value, step) pair a lane.
  ir::Expr twoPassIf;
  int searchLanes = 0;
  int searchVectors = 0;
  std::string vectorReason;
  LocalPlace place = LocalPlace::None;
  /// A prefix reduction (see Scan.h) computed with a running accumulator along its scanned
  /// index, the innermost loop of its nest; `lanes` > 1: a block of that many values of the
  /// index at a time, prefixed in registers and added to the carry.
  std::optional<ScanAxis> scan;
};

/// Loop tiling for locality, for an elementwise group with a read that is strided along its
/// vector axis (a transpose, a layout change): the shared dim `across`, in which those reads are
/// contiguous, steps by tiles of `acrossTile` (one vector's lanes) and runs inside the vector
/// axis' blocks. Each block is then a square of lanes x lanes points whose strided reads are
/// whole cache lines, transposed in registers (passes/Transpose.h).
struct LocalityTile {
  size_t across = 0;      // The shared dim tiled beside the vector axis.
  int64_t acrossTile = 0; // Iterations of `across` per tile.
};

/// How a consumer group runs per tile (see ConsumerTile), computing the tiled contraction before
/// it per tile: blocks of `rowsPerTile` of its rows (i64 over the symbols) at each point of the
/// fixed dims, the tiles in parallel when `parallel` (and `parallelIf`, when set, holds).
struct TileSchedule {
  ConsumerTile tile;
  ir::Expr rowsPerTile;
  std::string reason;
  bool parallel = false;
  ir::Expr parallelIf;
  std::string parallelReason;
};

struct GroupSchedule {
  /// Lanes of the innermost shared loop when the whole group is elementwise over its shared dims
  /// (then no member has a nest of its own); 0 when it is not vectorized.
  int sharedLanes = 0;
  std::string sharedReason;
  /// Set when the shared loops are tiled for locality (only with sharedLanes).
  std::optional<LocalityTile> tile;
  std::string tileReason;
  /// The outermost loop (the row-block loop when rows are blocked) runs in parallel; when
  /// `parallelIf` is set, only when it holds at run time (the work depends on the shapes), and a
  /// serial copy of the nest runs otherwise.
  bool parallel = false;
  ir::Expr parallelIf;
  ir::Expr work; // Estimated operations of the group, i64 over the symbols.
  std::string parallelReason;
  /// Rows (iterations of the first shared loop) per block, when a Heap local needs amortizing:
  /// i64 over the symbols; null when rows are not blocked.
  ir::Expr rowsPerBlock;
  std::string blockReason;
  std::vector<MemberSchedule> members; // Parallel to FusedGroup::members.
  /// Non-empty when the tiling pass lowers the group (passes/Tile.h): its decisions, one per
  /// line; then the fields above describe only the generic nest it replaces.
  std::string tiling;
  /// Set on the consumer of a ConsumerTile: the tiles it runs in, the contraction inside each.
  std::optional<TileSchedule> tiles;
};

/// How a RowChain runs: its rows in blocks of `rowsPerBlock` (i64 over the symbols), in
/// parallel when `parallel` (and `parallelIf`, when set, holds at run time). The schedules of
/// its groups say how each runs without the chain, and, made serial, over a block's rows.
struct ChainSchedule {
  ir::Expr rowsPerBlock;
  std::string blockReason;
  bool parallel = false;
  ir::Expr parallelIf;
  /// When parallel: the points of the dims before the rows are the parallel loop when this
  /// holds (enough of them for every thread), else the blocks of each point; null: the blocks.
  ir::Expr parallelPoints;
  std::string parallelReason;
  /// A bool over the symbols: whether the chain runs; else its groups run as without it, the
  /// windows stored whole, or split (below).
  ir::Expr pays;
  std::string paysReason;
  /// Where the chain does not pay, it runs split along its last contraction's reduction when
  /// that sums over the last dim (the columns) of every window, and the groups before compute
  /// each window column by column (elementwise, or a contraction's n): per block of `splitRows`
  /// rows, per chunk of `chunkColumns` columns (a multiple of NR), each group before the last
  /// over the chunk into windows of that many columns, then the last contraction's k block
  /// that is the chunk, adding into its sums (both i64 over the symbols; null: no split).
  ir::Expr chunkColumns, splitRows;
  std::string splitReason;
};

struct Schedule {
  CpuTarget target;
  std::vector<GroupSchedule> groups; // Parallel to FusedKernel::groups.
  std::vector<ChainSchedule> chains; // Parallel to FusedKernel::chains.
};

/// Work (see GroupSchedule::work) from which a group runs in parallel: about 2^16 elements of a
/// simple binary operation, tens of microseconds, well above the cost of waking the pool.
constexpr int64_t kParallelWork = int64_t{1} << 18;

/// Chooses the schedule of every group of `fused` for `target`.
[[nodiscard]] Schedule schedule(const FusedKernel &fused, const CpuTarget &target);

/// The stable text of `tdsl emit --stage=schedule`.
std::string toString(const FusedKernel &fused, const Schedule &schedule);

} // namespace tdsl::passes
