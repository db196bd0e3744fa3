// schedule: per fused group, parallelism, vectorization, row blocking and the place of local
// values, from the CPU target. Only decisions live here; LoopNest.cpp builds the loops.
#include "passes/Schedule.h"

#include "ir/ExprEqual.h"
#include "ir/IRPrinter.h"
#include "ir/IRVisitor.h"
#include "passes/Contraction.h"
#include "passes/Pipeline.h"
#include "passes/Tile.h"
#include "support/Check.h"

#include <algorithm>
#include <set>

namespace tdsl::passes {

using namespace ir;

namespace {

constexpr int64_t kMaxRowsPerBlock = 64;
/// Rows per block of a split chain (ChainSchedule::splitRows): its windows are a chunk wide, so
/// more rows fit, and every block reads the B operands again.
constexpr int64_t kMaxSplitRows = 256;
constexpr int kAccumulators = 4;
/// Chunks of a reduction to one value over several axes (MemberSchedule::chunks): the same at
/// every thread count, so that the result's bits are too; enough for 8 threads to take 4 each.
constexpr int kTotalChunks = 32;
constexpr int64_t kStackSliceBytes = 32 * 1024;

Expr product(const std::vector<Expr> &factors) {
  Expr p = intImm(1);
  for (const Expr &f : factors)
    p = mul(p, f);
  return simplify(p);
}

/// The widest element (in bytes, arithmetic type) a definition loads, computes or stores; bools
/// count as 4 bytes since they mostly come from comparing 4-byte values.
int elementBytes(const Definition &def) {
  int bytes = std::max(4, byteSize(computeType(def.target->dtype)));
  for (const Access *a : accessesIn(def.value))
    bytes = std::max(bytes, byteSize(computeType(a->buffer->dtype)));
  if (const Reduce *r = topReduce(def))
    bytes = std::max(bytes, byteSize(r->type.dtype));
  return bytes;
}

/// Operations of one definition over its whole domain.
Expr definitionWork(const Definition &def) {
  std::vector<Expr> factors;
  for (const IterVar &iv : def.indices)
    factors.push_back(iv.extent);
  if (const Reduce *r = topReduce(def))
    for (const IterVar &axis : r->axes)
      if (!usesIndexVars(axis.extent)) // A triangular extent counts as one.
        factors.push_back(axis.extent);
  factors.push_back(intImm(exprCost(def.value).ops + 1));
  return product(factors);
}

std::string bytesText(int64_t bytes) {
  return bytes % 1024 ? std::to_string(bytes) + " bytes" : std::to_string(bytes / 1024) + " KiB";
}

std::string lanesText(int lanes) { return std::to_string(lanes) + " lanes"; }

std::string placeName(LocalPlace p) {
  switch (p) {
  case LocalPlace::None:
    return "whole tensor";
  case LocalPlace::Value:
    return "value";
  case LocalPlace::Stack:
    return "stack";
  case LocalPlace::Heap:
    return "heap";
  }
  TDSL_UNREACHABLE("unknown place");
}

/// A vector axis of `extent` with `lanes`: kept unless the extent is a known constant too small
/// to fill one vector.
bool fillsVector(const Expr &extent, int lanes, std::string &why) {
  if (const IntImm *e = as<IntImm>(extent); e && e->value < lanes) {
    why = "extent " + std::to_string(e->value) + " is below " + lanesText(lanes);
    return false;
  }
  return true;
}

/// Whether an argmax (argmin) vectorized along its row k runs in two passes
/// (MemberSchedule::twoPassIf), and why. The pair a lane costs two compares and two blends a
/// vector where a plain max costs one max (a third of the max's speed in L2, and slower than
/// the max's read of L3 on both Zen 4 and Xeon); two passes cost the max's read of the row, then
/// a max a vector up to the first position of the maximum, from the cache when the row read by
/// the body is still there: in half of this thread's share of L3 (the first pass brings it
/// through L2 into L3). Measured faster than one pass for rows in L2 and in L3 alike
/// (docs/performance.md). A row that leaves the cache would be read from memory twice; a body
/// with a call, evaluated twice, would cost more than the blends save.
void chooseTwoPassArg(const Reduce &r, const CpuTarget &target, MemberSchedule &ms) {
  const IterVar &k = r.axes.back();
  ExprCost cost = exprCost(r.body);
  if (!cost.transcendental.empty()) {
    ms.vectorReason += "; one pass: two would call " + cost.transcendental + " twice a point";
    return;
  }
  int bytes = std::max(4, byteSize(computeType(r.body->type.dtype)));
  int64_t pointBytes = 0; // Of the rows read along k, per point.
  for (const Access *a : accessesIn(r.body)) {
    bytes = std::max(bytes, byteSize(computeType(a->buffer->dtype)));
    if (strideOf(*a, k.var) == AccessStride::Contiguous)
      pointBytes += byteSize(a->buffer->dtype);
  }
  int64_t limit = target.l3Bytes / 2 / std::max(1, target.threads);
  std::string cache = "half of L3's share of a thread, " + bytesText(limit);
  Expr rowBytes = simplify(mul(k.extent, intImm(pointBytes)));
  Expr fits = simplify(Binary::make(BinaryOp::Le, rowBytes, intImm(limit)));
  const IntImm *known = as<IntImm>(fits);
  if (known && !known->value) {
    ms.vectorReason +=
        "; one pass: the row (" + bytesText(as<IntImm>(rowBytes)->value) + ") exceeds " + cache;
    return;
  }
  ms.searchLanes = target.lanes(bytes);
  ms.searchVectors = kAccumulators;
  ms.twoPassIf = fits;
  std::string how = "two passes instead: the row's " +
                    std::string(r.op == ReduceOp::ArgMax ? "maximum" : "minimum") + " in " +
                    std::to_string(kAccumulators) + " accumulators of " +
                    std::to_string(ms.searchLanes) + " lanes, then its first position, " +
                    std::to_string(kAccumulators * ms.searchLanes) +
                    " points a step, in the row still cached";
  ms.vectorReason += known ? "; " + how + " (the row in " + cache + ")"
                           : "; when " + toString(fits) + " (the row in " + cache + "), " + how;
}

/// How a prefix reduction runs (ms.lanes, ms.vector) and why: along its scanned index j in blocks
/// prefixed in registers when j is the innermost index (vector None, lanes W), across the
/// innermost index with one accumulator per value of it when j is not (vector Spatial), else
/// one point at a time.
std::string scanReason(const Definition &d, const ScanAxis &scan, const CpuTarget &target,
                       MemberSchedule &ms) {
  const IterVar &j = d.indices[scan.index];
  const IterVar &last = d.indices.back();
  const Reduce *r = topReduce(d);
  std::string what = "prefix scan along " + j.var->name + ": a running " +
                     std::string(reduceName(r->op)) + " over " + r->axes[0].var->name +
                     ", O(length)";
  int bytes = elementBytes(d);
  int wide = target.lanes(bytes);
  bool innermost = scan.index + 1 == d.indices.size();
  const Var &along = innermost ? r->axes[0].var : last.var;
  StrideCount reads = countStrides(accessesIn(r->body), along);
  std::string why;
  if (r->type.isBool())
    why = "bools";
  else if (wide < 2)
    why = "vectors of one " + std::to_string(bytes) + "-byte lane";
  else if (reads.strided > 0)
    why = reads.stridedName + " is strided in " + along->name;
  ms.lanes = why.empty() && fillsVector((innermost ? j : last).extent, wide, why) ? wide : 1;
  if (ms.lanes > 1 && innermost)
    return what + "; blocks of " + lanesText(wide) +
           " prefixed in registers, carried across blocks";
  if (ms.lanes > 1) {
    ms.vector = VectorAxis::Spatial;
    return what + "; vectorize " + last.var->name + " by " + std::to_string(wide) +
           ": one accumulator per " + last.var->name + " in a heap row";
  }
  return what + "; scalar: " + why;
}

/// The locality tile of an elementwise group vectorized along its last shared dim v by `lanes`
/// (see LocalityTile): reads strided in v vote for the shared dim in which they are contiguous;
/// the dim with the most votes is tiled by the lanes, so that each block of lanes x lanes points
/// reads whole lines of the strided tensors.
std::optional<LocalityTile> chooseLocalityTile(const FusedKernel &fused, const FusedGroup &group,
                                               int lanes, std::string &why) {
  const std::vector<Definition> &defs = fused.kernel.defs;
  size_t v = group.sharedDims - 1;
  std::set<const BufferNode *> members;
  for (size_t m : group.members)
    members.insert(defs[m].target.get());
  std::vector<int> votes(v, 0);
  std::vector<std::string> voters(v);
  for (size_t m : group.members) {
    const Definition &d = defs[m];
    for (const Access *a : accessesIn(d.value)) {
      if (members.count(a->buffer.get()) || strideOf(*a, d.indices[v].var) != AccessStride::Strided)
        continue; // A value of the group (in registers), or a read that needs no tile.
      for (size_t u = 0; u < v; ++u)
        if (strideOf(*a, d.indices[u].var) == AccessStride::Contiguous && votes[u]++ == 0)
          voters[u] = a->buffer->name;
    }
  }
  auto best = std::max_element(votes.begin(), votes.end());
  if (best == votes.end() || *best == 0)
    return std::nullopt;
  size_t u = static_cast<size_t>(best - votes.begin());
  const Definition &first = defs[group.members.front()];
  if (const IntImm *e = as<IntImm>(first.indices[u].extent); e && e->value < lanes)
    return std::nullopt; // Too short to fill a block: the lines it reads are few anyway.
  const std::string &across = first.indices[u].var->name;
  const std::string &vector = first.indices[v].var->name;
  std::string block = std::to_string(lanes) + " x " + std::to_string(lanes);
  why = "tile " + across + " by " + std::to_string(lanes) + " inside blocks of " + vector + ": " +
        voters[u] + " is strided in " + vector + " and contiguous in " + across + "; " + block +
        " blocks transposed in registers";
  return LocalityTile{u, lanes};
}

/// Whether a loop over `loop` with `work` (simplified) runs in parallel: at least kParallelWork,
/// decided at run time when the work depends on the shapes.
void decideByWork(const Expr &work, const std::string &loop, bool &parallel, Expr &parallelIf,
                  std::string &reason) {
  const IntImm *known = as<IntImm>(work);
  if (known && known->value < kParallelWork) {
    reason = "serial: work " + std::to_string(known->value) + " < " + std::to_string(kParallelWork);
  } else if (known) {
    parallel = true;
    reason = "parallel over " + loop + ": work " + std::to_string(known->value) +
             " >= " + std::to_string(kParallelWork);
  } else {
    parallel = true;
    parallelIf = Binary::make(BinaryOp::Ge, work, intImm(kParallelWork));
    reason = "parallel over " + loop + " when " + toString(parallelIf) +
             " (shapes known at run time), else serial";
  }
}

GroupSchedule scheduleGroup(const FusedKernel &fused, const FusedGroup &group,
                            const CpuTarget &target) {
  const std::vector<Definition> &defs = fused.kernel.defs;
  GroupSchedule gs;
  gs.members.resize(group.members.size());
  size_t shared = group.sharedDims;
  const Definition &first = defs[group.members.front()];

  // Local places.
  for (size_t m = 0; m < group.members.size(); ++m) {
    const Definition &d = defs[group.members[m]];
    if (fused.storage[group.members[m]] != Storage::Local)
      continue;
    std::vector<Expr> rest;
    for (size_t k = shared; k < d.indices.size(); ++k)
      rest.push_back(d.indices[k].extent);
    if (rest.empty()) {
      gs.members[m].place = topReduce(d) ? LocalPlace::Stack : LocalPlace::Value;
      continue;
    }
    rest.push_back(intImm(byteSize(d.target->dtype)));
    Expr size = product(rest);
    const IntImm *bytes = as<IntImm>(size);
    gs.members[m].place =
        bytes && bytes->value <= kStackSliceBytes ? LocalPlace::Stack : LocalPlace::Heap;
  }

  // Vectorization: the innermost shared loop when the group is elementwise over exactly its
  // shared dims, else each member's own nest.
  bool allElementwise = shared >= 1;
  for (size_t m : group.members)
    allElementwise &= !topReduce(defs[m]) && defs[m].indices.size() == shared;
  if (allElementwise) {
    int bytes = 0;
    for (size_t m : group.members)
      bytes = std::max(bytes, elementBytes(defs[m]));
    int lanes = target.lanes(bytes);
    const IterVar &axis = first.indices[shared - 1];
    std::string why;
    if (lanes < 2) {
      gs.sharedReason = "not vectorized: vectors of one " + std::to_string(bytes) + "-byte lane";
    } else if (!fillsVector(axis.extent, lanes, why)) {
      gs.sharedReason = "not vectorized: " + why;
    } else {
      gs.sharedLanes = lanes;
      gs.sharedReason = "vectorize " + axis.var->name + " by " + std::to_string(lanes) +
                        ": elementwise, stores contiguous in " + axis.var->name;
      bool window = group.halo || hasWindows(fused, group);
      if (shared >= 2 && !window) // A window's rows are blocked already.
        gs.tile = chooseLocalityTile(fused, group, lanes, gs.tileReason);
    }
  } else {
    for (size_t m = 0; m < group.members.size(); ++m) {
      const Definition &d = defs[group.members[m]];
      MemberSchedule &ms = gs.members[m];
      if (std::optional<ScanAxis> scan = recognizeScan(d)) {
        ms.scan = scan;
        ms.vectorReason = scanReason(d, *scan, target, ms);
        continue;
      }
      VectorChoice choice = preferredVectorAxis(d);
      if (choice.axis == VectorAxis::Spatial && d.indices.size() <= shared) {
        ms.vectorReason = "scalar: one value per shared point";
        continue;
      }
      if (choice.axis == VectorAxis::None) {
        ms.vectorReason = "scalar: " + choice.reason;
        continue;
      }
      int bytes = elementBytes(d);
      int lanes = target.lanes(bytes);
      const IterVar &axis =
          choice.axis == VectorAxis::Spatial ? d.indices.back() : topReduce(d)->axes.back();
      std::string why;
      if (lanes < 2) {
        ms.vectorReason = "scalar: vectors of one " + std::to_string(bytes) + "-byte lane";
      } else if (!fillsVector(axis.extent, lanes, why)) {
        ms.vectorReason = "scalar: " + why;
      } else {
        ms.vector = choice.axis;
        ms.lanes = lanes;
        ms.vectorReason = std::string("vectorize ") +
                          (choice.axis == VectorAxis::Reduction ? "reduction " : "") +
                          axis.var->name + " by " + std::to_string(lanes) + ": " + choice.reason;
        const IntImm *e = as<IntImm>(axis.extent);
        const Reduce *r = topReduce(d);
        int64_t strip = 0;
        if (r && choice.axis == VectorAxis::Spatial &&
            countStrides(accessesIn(d.value), r->axes.back().var).strided > 0) {
          // Rows streamed whole: the hardware prefetchers follow one contiguous run per row,
          // where a vector's worth per row starts a new short stream at every step.
          strip = target.l1Bytes / 2 / bytes / lanes * lanes;
          if (e)
            strip = std::min(strip, (e->value + lanes - 1) / lanes * lanes);
        }
        if (strip > int64_t{kAccumulators} * lanes) {
          ms.strip = strip;
          ms.vectorReason += "; accumulators of a strip of " + std::to_string(strip) + " " +
                             axis.var->name + " in L1 (" + bytesText(strip * bytes) +
                             "): reads are strided in " + r->axes.back().var->name +
                             ", each step streams a row";
        } else if (r && exprCost(r->body).transcendental.empty() &&
                   !(e && e->value < kAccumulators * lanes)) {
          // A reduction adds into its accumulator once per step: with one vector, each step
          // waits for the previous one (4 cycles). Several vectors in flight hide that latency
          // (LLVM splits the wide vector into independent registers). A body calling a
          // transcendental is bound by the call, and its vector math comes in one width only.
          ms.lanes = kAccumulators * lanes;
          ms.vectorReason += "; " + std::to_string(kAccumulators) + " accumulators of " +
                             std::to_string(lanes) + " lanes hide the add latency";
        }
        if (r && isArgReduction(r->op) && choice.axis == VectorAxis::Reduction)
          chooseTwoPassArg(*r, target, ms);
      }
    }
  }

  // Row blocks: a heap slice is allocated once per block of rows, not per row.
  bool heap = false;
  for (const MemberSchedule &ms : gs.members)
    heap |= ms.place == LocalPlace::Heap;
  // The window producers feeding this group, nearest first: a producer that reads a window
  // itself computes it per block of the rows its own window needs (the windows nest).
  std::vector<const FusedGroup *> levels;
  for (const FusedGroup *reader = &group; reader->halo;) {
    auto producers = std::find_if(fused.groups.begin(), fused.groups.end(), [&](const auto &p) {
      return p.members.back() + 1 == reader->members.front();
    });
    TDSL_CHECK(producers != fused.groups.end()) << "a halo without the group before it";
    levels.push_back(&*producers);
    reader = &*producers;
  }
  auto producerNames = [&](const FusedGroup &producers) {
    std::string names;
    for (size_t q : producers.members)
      if (fused.storage[q] == Storage::Window) // Not the members local to a row.
        names += (names.empty() ? "" : " and ") + defs[q].target->name;
    return names;
  };
  auto windowsText = [&](const FusedGroup &producers) {
    size_t n = std::count_if(producers.members.begin(), producers.members.end(),
                             [&](size_t q) { return fused.storage[q] == Storage::Window; });
    return n > 1 ? "windows" : "a window";
  };
  bool window = hasWindows(fused, group);
  if (group.halo && window) {
    // Its rows are a block of its reader's (and their halo): its producers' window is computed
    // per such block first.
    gs.blockReason = "row by row as its reader's rows advance, each row after the " +
                     producerNames(*levels.front()) + " rows it reads (" +
                     std::to_string(group.halo->above - group.halo->below) +
                     " more at a block's "
                     "first row) into " +
                     windowsText(*levels.front());
  } else if (group.halo) {
    // Each level's window is a ring of the rows still read (LoopNest's slideWindows), whatever
    // the block's rows: a block only recomputes the halo of every level at its first row.
    std::string names;
    for (const FusedGroup *producers : levels)
      names += (names.empty() ? "" : ", then ") + producerNames(*producers);
    gs.rowsPerBlock = intImm(kMaxRowsPerBlock);
    int64_t first = group.halo->above - group.halo->below;
    gs.blockReason = "blocks of " + std::to_string(kMaxRowsPerBlock) +
                     " rows, each computing its " + producerNames(*levels.front()) + " rows and " +
                     std::to_string(first) + " more into " + windowsText(*levels.front()) +
                     (levels.size() > 1 ? " (" + names + ": windows of windows)" : "") +
                     ", slid along the rows in rings of the rows still read";
  } else if (heap) {
    // Bytes one row of the group touches: its heap slices and the slices of the tensors it
    // reads and writes at the shared indices. A block of rows keeps to half of L2.
    std::vector<Expr> terms;
    std::set<const BufferNode *> counted;
    auto slice = [&](const Buffer &b) {
      if (!counted.insert(b.get()).second || b->shape.size() < shared)
        return;
      std::vector<Expr> dims(b->shape.begin() + static_cast<std::ptrdiff_t>(shared),
                             b->shape.end());
      dims.push_back(intImm(byteSize(b->dtype)));
      terms.push_back(product(dims));
    };
    for (size_t m : group.members) {
      slice(defs[m].target);
      for (const Access *a : accessesIn(defs[m].value)) {
        bool rowSlice = a->indices.size() >= shared;
        for (size_t k = 0; rowSlice && k < shared; ++k) {
          const VarRef *v = as<VarRef>(a->indices[k]);
          rowSlice = v && v->var == defs[m].indices[k].var;
        }
        if (rowSlice)
          slice(a->buffer);
      }
    }
    Expr rowBytes = intImm(0);
    for (const Expr &t : terms)
      rowBytes = add(rowBytes, t);
    Expr rows = Binary::make(BinaryOp::FloorDiv, intImm(target.l2Bytes / 2), simplify(rowBytes));
    rows = Binary::make(BinaryOp::Min, intImm(kMaxRowsPerBlock), rows);
    gs.rowsPerBlock = simplify(Binary::make(BinaryOp::Max, intImm(1), rows));
    gs.blockReason = "blocks of " + toString(gs.rowsPerBlock) + " rows (half of L2 " +
                     std::to_string(target.l2Bytes / 1024) + " KiB per block, at most " +
                     std::to_string(kMaxRowsPerBlock) + "): a heap slice per block";
  }

  // Parallelism over the outermost loop.
  Expr work = intImm(0);
  for (size_t m : group.members)
    work = add(work, definitionWork(defs[m]));
  gs.work = simplify(work);
  const IntImm *outer = shared ? as<IntImm>(first.indices[0].extent) : nullptr;
  // A lone column reduction splits its strips instead, narrowed to give each thread one.
  bool strips = shared == 0 && group.members.size() == 1 && gs.members[0].strip;
  // A lone reduction to one value over several axes splits its first axis into chunks.
  const Reduce *total = shared == 0 && group.members.size() == 1 && first.indices.empty()
                            ? as<Reduce>(first.value)
                            : nullptr;
  bool chunked = total && total->axes.size() >= 2 && !isArgReduction(total->op) &&
                 gs.members[0].vector == VectorAxis::Reduction && !gs.members[0].scan;
  std::string loop =
      strips    ? "the strips of " + first.indices.back().var->name
      : chunked ? std::to_string(kTotalChunks) + " chunks of " + total->axes.front().var->name
      : shared  ? first.indices[0].var->name
                : "";
  if (target.threads <= 1) {
    gs.parallelReason = "serial: one thread";
  } else if (shared == 0 && !strips && !chunked) {
    gs.parallelReason = "serial: no loop to split (a reduction to one value of one axis, or "
                        "not vectorized along its last, stays serial)";
  } else if (outer && outer->value < 2) {
    gs.parallelReason = "serial: the outer loop has one iteration";
  } else {
    decideByWork(gs.work, loop, gs.parallel, gs.parallelIf, gs.parallelReason);
  }
  if (strips && gs.parallel)
    gs.members[0].stripThreads = target.threads;
  if (chunked)
    gs.members[0].chunks = kTotalChunks;
  return gs;
}

/// The chain that group `g` belongs to, or null.
const RowChain *chainOf(const FusedKernel &fused, size_t g) {
  for (const RowChain &c : fused.chains)
    if (c.first <= g && g <= c.last)
      return &c;
  return nullptr;
}

/// Rows per block of a chain: as many as fill half of L2 with one row of every window
/// (`rowBytes`), at most kMaxRowsPerBlock, rounded down to whole row panels of the micro-kernel
/// and at least one panel (below that the GEMMs turn into matrix-vector products).
ChainSchedule scheduleChain(const FusedKernel &fused, const RowChain &chain,
                            const std::vector<GroupSchedule> &groups, const CpuTarget &target) {
  const std::vector<Definition> &defs = fused.kernel.defs;
  ChainSchedule cs;
  Expr rowBytes = intImm(0);
  std::string names;
  Expr work = intImm(0);
  for (size_t g = chain.first; g <= chain.last; ++g) {
    work = add(work, groups[g].work);
    for (size_t m : fused.groups[g].members) {
      if (fused.storage[m] != Storage::Window)
        continue;
      std::vector<Expr> row{intImm(byteSize(defs[m].target->dtype))};
      for (size_t k = chain.rowDim + 1; k < defs[m].indices.size(); ++k)
        row.push_back(defs[m].indices[k].extent);
      rowBytes = add(rowBytes, product(row));
      names += (names.empty() ? "" : ", ") + defs[m].target->name;
    }
  }
  // The B operands that every block reads again (from L3 or memory, when they are larger than
  // L2), against the round trip through memory of the windows' rows that the chain saves.
  Expr operandBytes = intImm(0);
  std::string operands;
  for (size_t g = chain.first; g <= chain.last; ++g) {
    std::string why;
    if (std::optional<TiledGroup> tiled = matchTiledGroup(fused, fused.groups[g], why)) {
      const Contraction &c = tiled->contraction;
      std::vector<Expr> size{intImm(4), c.def->indices[c.n].extent};
      for (const IterVar &axis : c.k)
        size.push_back(axis.extent);
      operandBytes = add(operandBytes, product(size));
      operands += (operands.empty() ? "" : ", ") + c.def->target->name;
    }
  }
  int64_t panel = chooseTiles(target).mr;
  Expr fit = Binary::make(BinaryOp::FloorDiv, intImm(target.l2Bytes / 2),
                          Binary::make(BinaryOp::Max, intImm(1), simplify(rowBytes)));
  Expr rows = Binary::make(BinaryOp::Min, intImm(kMaxRowsPerBlock), fit);
  rows = mul(Binary::make(BinaryOp::FloorDiv, rows, intImm(panel)), intImm(panel));
  cs.rowsPerBlock = simplify(Binary::make(BinaryOp::Max, intImm(panel), rows));
  cs.pays = simplify(Binary::make(BinaryOp::Le, simplify(operandBytes),
                                  mul(mul(intImm(2), cs.rowsPerBlock), simplify(rowBytes))));
  cs.paysReason = "the B operands of " + operands + " (" + toString(simplify(operandBytes)) +
                  " bytes), read again by every block, at most twice a block's window bytes "
                  "(the round trip through memory that the windows save)";
  const Definition &first = defs[fused.groups[chain.first].members.front()];
  const std::string &row = first.indices[chain.rowDim].var->name;
  std::string leadNames;
  for (size_t k = 0; k < chain.rowDim; ++k)
    leadNames += (k == 0 ? "" : ", ") + first.indices[k].var->name;
  cs.blockReason = "blocks of " + toString(cs.rowsPerBlock) + " rows of " + row +
                   (names.empty() ? std::string() : " with windows of " + names) +
                   " (a row of each in half of L2 " + std::to_string(target.l2Bytes / 1024) +
                   " KiB, at most " + std::to_string(kMaxRowsPerBlock) + ", whole panels of " +
                   std::to_string(panel) + " rows); each contraction's B packed whole once per " +
                   (chain.rowDim == 0 ? std::string("call") : "point of " + leadNames) +
                   ", read by every block";
  std::string loop = "the blocks of " + row;
  if (chain.rowDim > 0 && target.threads > 1) {
    // As a tiled contraction splits its outer points: each thread then packs its own points'
    // operands, and every block of a point reuses them.
    Expr points = intImm(1);
    for (size_t k = 0; k < chain.rowDim; ++k)
      points = mul(points, first.indices[k].extent);
    Expr enough = simplify(Binary::make(BinaryOp::Ge, points, intImm(2 * int64_t{target.threads})));
    const IntImm *known = as<IntImm>(enough);
    if (!known) {
      cs.parallelPoints = enough;
      loop = leadNames + " when " + toString(enough) + ", else " + loop;
    } else if (known->value) {
      cs.parallelPoints = enough;
      loop = leadNames;
    }
  }
  if (target.threads <= 1)
    cs.parallelReason = "serial: one thread";
  else
    decideByWork(simplify(work), loop, cs.parallel, cs.parallelIf, cs.parallelReason);
  return cs;
}

/// Whether `chain` can run split along its last contraction's reduction (see
/// ChainSchedule::chunkColumns): that contraction sums over one axis, the last dim of every
/// window, reading them only as its A at its own rows; each group before it is a tiled
/// contraction that reads no window (its n is the windows' columns), or elementwise members
/// stored in windows, vectorized along the columns, reading windows at their own indices. A
/// reduction along the columns (softmax) is not: it needs every column first. Else `why`.
bool splittable(const FusedKernel &fused, const RowChain &chain,
                const std::vector<GroupSchedule> &groups, std::string &why) {
  const std::vector<Definition> &defs = fused.kernel.defs;
  std::string unused;
  std::optional<TiledGroup> last = matchTiledGroup(fused, fused.groups[chain.last], unused);
  if (!last || last->contraction.k.size() != 1) {
    why = "its last group is not a contraction over one axis";
    return false;
  }
  const Contraction &c = last->contraction;
  const IterVar &j = c.k[0];
  std::set<const BufferNode *> windows;
  for (size_t g = chain.first; g <= chain.last; ++g)
    for (size_t m : fused.groups[g].members)
      if (fused.storage[m] == Storage::Window) {
        const Definition &d = defs[m];
        if (d.indices.size() != chain.rowDim + 2 ||
            !structurallyEqual(d.indices.back().extent, j.extent)) {
          why = d.target->name + " is not rows of the " + j.var->name + " columns that " +
                c.def->target->name + " sums over";
          return false;
        }
        windows.insert(d.target.get());
      }
  auto readsWindow = [&](const Expr &e) {
    for (const Access *a : accessesIn(e))
      if (windows.count(a->buffer.get()))
        return true;
    return false;
  };
  // Window reads of `d` only at its own indices (elementwise).
  auto atOwnIndices = [&](const Definition &d) {
    for (const Access *a : accessesIn(d.value)) {
      if (!windows.count(a->buffer.get()))
        continue;
      for (size_t k = 0; k < a->indices.size(); ++k) {
        const VarRef *v = as<VarRef>(a->indices[k]);
        if (a->fallback || !v || k >= d.indices.size() || v->var != d.indices[k].var)
          return false;
      }
    }
    return true;
  };
  const Access *lhs = as<Access>(c.lhs);
  const VarRef *along = lhs ? as<VarRef>(lhs->indices.back()) : nullptr;
  if (!lhs || !windows.count(lhs->buffer.get()) || !along || along->var != j.var ||
      readsWindow(c.rhs)) {
    why = c.def->target->name + " does not read a window as its A along " + j.var->name;
    return false;
  }
  for (size_t e : last->epilogue)
    if (readsWindow(defs[e].value)) {
      why = defs[e].target->name + " reads a window after the sums";
      return false;
    }
  for (size_t g = chain.first; g < chain.last; ++g) {
    const FusedGroup &group = fused.groups[g];
    if (std::optional<TiledGroup> tiled = matchTiledGroup(fused, group, unused)) {
      const Contraction &p = tiled->contraction;
      bool ownEpilogue = std::all_of(tiled->epilogue.begin(), tiled->epilogue.end(),
                                     [&](size_t e) { return atOwnIndices(defs[e]); });
      if (readsWindow(p.lhs) || readsWindow(p.rhs) || !ownEpilogue) {
        why = p.def->target->name + " reads a window across its columns";
        return false;
      }
      continue;
    }
    for (size_t m = 0; m < group.members.size(); ++m) {
      const Definition &d = defs[group.members[m]];
      if (topReduce(d)) {
        why = d.target->name + " is a reduction (all its columns first)";
        return false;
      }
      if (fused.storage[group.members[m]] != Storage::Window ||
          groups[g].members[m].vector != VectorAxis::Spatial || groups[g].members[m].scan ||
          !atOwnIndices(d)) {
        why = d.target->name + " is not a window computed column by column";
        return false;
      }
    }
  }
  return true;
}

/// The split of a chain that can run split (see ChainSchedule::chunkColumns): chunks whose
/// columns of every B operand fill a quarter of L2 (whole NR panels, at most KC: the last
/// contraction's k blocks), and rows as many as fill half of L2 with a row of every A, of the
/// last contraction's output and of every window, at most kMaxSplitRows, in whole panels.
void scheduleSplit(const FusedKernel &fused, const RowChain &chain, const CpuTarget &target,
                   ChainSchedule &cs) {
  const std::vector<Definition> &defs = fused.kernel.defs;
  TileSizes t = chooseTiles(target);
  Expr columnBytes = intImm(0), rowBytes = intImm(0), windowCount = intImm(0);
  std::string unused, names;
  for (size_t g = chain.first; g <= chain.last; ++g) {
    if (std::optional<TiledGroup> tiled = matchTiledGroup(fused, fused.groups[g], unused)) {
      const Contraction &c = tiled->contraction;
      std::vector<Expr> k{intImm(4)};
      for (const IterVar &axis : c.k)
        k.push_back(axis.extent);
      // The last contraction's B: a row of N per column of the chunk; a producer's: K.
      Expr bytes = g == chain.last ? mul(intImm(4), c.def->indices[c.n].extent) : product(k);
      columnBytes = add(columnBytes, bytes);
      rowBytes = add(rowBytes, bytes); // The last's output row; a producer's A row.
    }
    for (size_t m : fused.groups[g].members)
      if (fused.storage[m] == Storage::Window) {
        windowCount = add(windowCount, intImm(byteSize(defs[m].target->dtype)));
        names += (names.empty() ? "" : ", ") + defs[m].target->name;
      }
  }
  auto floorTo = [](Expr e, int64_t unit) {
    return mul(Binary::make(BinaryOp::FloorDiv, std::move(e), intImm(unit)), intImm(unit));
  };
  Expr fit = Binary::make(BinaryOp::FloorDiv, intImm(target.l2Bytes / 4),
                          Binary::make(BinaryOp::Max, intImm(1), simplify(columnBytes)));
  Expr width = Binary::make(BinaryOp::Min, intImm(std::max<int64_t>(t.kc / t.nr, 1) * t.nr),
                            floorTo(fit, t.nr));
  cs.chunkColumns = simplify(Binary::make(BinaryOp::Max, intImm(t.nr), width));
  rowBytes = add(rowBytes, mul(windowCount, cs.chunkColumns));
  Expr rows = Binary::make(BinaryOp::FloorDiv, intImm(target.l2Bytes / 2),
                           Binary::make(BinaryOp::Max, intImm(1), simplify(rowBytes)));
  rows = floorTo(Binary::make(BinaryOp::Min, intImm(kMaxSplitRows), rows), t.mr);
  cs.splitRows = simplify(Binary::make(BinaryOp::Max, intImm(t.mr), rows));
  const Definition &first = defs[fused.groups[chain.first].members.front()];
  const Contraction c = *findContraction(defs[fused.groups[chain.last].members.front()], unused);
  const std::string &j = c.k[0].var->name;
  cs.splitReason = "split along " + j + ", the reduction of " + c.def->target->name +
                   ": blocks of " + toString(cs.splitRows) + " rows of " +
                   first.indices[chain.rowDim].var->name + ", chunks of " +
                   toString(cs.chunkColumns) + " columns of " + j + " (the chunk's columns of " +
                   "the B operands in a quarter of L2 " + std::to_string(target.l2Bytes / 1024) +
                   " KiB, at most KC; a row of each A, of " + c.def->target->name +
                   " and of the windows " + names + " in half of L2, at most " +
                   std::to_string(kMaxSplitRows) + " rows, whole panels of " +
                   std::to_string(t.mr) + "); per chunk, in order, the groups before " +
                   c.def->target->name + " over its columns into windows one chunk wide (a " +
                   "contraction: its n block that is the chunk), then " + c.def->target->name +
                   "'s k block that is the chunk, added to its sums; the B operands packed " +
                   "whole once, read again by every block";
}

/// Consumer rows per tile: as many as keep the producer's windows (halo included) within a
/// quarter of L2, where the consumer reads them right after they are written, at most
/// kMaxRowsPerBlock and at least one.
TileSchedule scheduleTiles(const FusedKernel &fused, const ConsumerTile &tile,
                           const std::vector<GroupSchedule> &groups, const CpuTarget &target) {
  const std::vector<Definition> &defs = fused.kernel.defs;
  TileSchedule ts;
  ts.tile = tile;
  Expr rowBytes = intImm(0);
  std::string names;
  for (size_t m : fused.groups[tile.producer].members) {
    if (fused.storage[m] != Storage::Window)
      continue;
    std::vector<Expr> row{intImm(byteSize(defs[m].target->dtype))};
    for (size_t k = tile.fixedDims; k < defs[m].indices.size(); ++k)
      if (k != tile.rowDim)
        row.push_back(defs[m].indices[k].extent);
    rowBytes = add(rowBytes, product(row));
    names += (names.empty() ? "" : ", ") + defs[m].target->name;
  }
  int64_t reach = tile.hi - tile.lo + 1;
  Expr fit = Binary::make(BinaryOp::FloorDiv, intImm(target.l2Bytes / 4),
                          Binary::make(BinaryOp::Max, intImm(1), simplify(rowBytes)));
  Expr rows =
      Binary::make(BinaryOp::FloorDiv, add(fit, intImm(tile.stride - reach)), intImm(tile.stride));
  rows = Binary::make(BinaryOp::Min, intImm(kMaxRowsPerBlock), rows);
  ts.rowsPerTile = simplify(Binary::make(BinaryOp::Max, intImm(1), rows));
  const Definition &reader = defs[fused.groups[tile.consumer].members.front()];
  const Definition &producer = defs[fused.groups[tile.producer].members.front()];
  std::string fixed;
  for (size_t k = 0; k < tile.fixedDims; ++k)
    fixed += (k == 0 ? "" : ", ") + reader.indices[k].var->name;
  const std::string &row = reader.indices[tile.rowDim].var->name;
  auto at = [&](int64_t offset) {
    return (tile.stride == 1 ? "" : std::to_string(tile.stride) + " * ") + row +
           (offset < 0 ? " - " : " + ") + std::to_string(offset < 0 ? -offset : offset);
  };
  ts.reason = "tiles of " + toString(ts.rowsPerTile) + " rows of " + row +
              (fixed.empty() ? std::string() : " per point of " + fixed) + ", each computing " +
              producer.indices[tile.rowDim].var->name + " rows " + at(tile.lo) + " to " +
              at(tile.hi) + " of group " + std::to_string(tile.producer) +
              "'s tiled contraction (all its m and n) into " + "windows of " + names + " (" +
              std::to_string(tile.windowRows(1)) + " rows a " + row +
              " row, up to a quarter of L2 " + std::to_string(target.l2Bytes / 1024) +
              " KiB, at most " + std::to_string(kMaxRowsPerBlock) +
              "), then this group over the tile's rows";
  if (target.threads <= 1)
    ts.parallelReason = "serial: one thread";
  else
    decideByWork(simplify(add(groups[tile.producer].work, groups[tile.consumer].work)), "the tiles",
                 ts.parallel, ts.parallelIf, ts.parallelReason);
  return ts;
}

} // namespace

Schedule schedule(const FusedKernel &fused, const CpuTarget &target) {
  Schedule s;
  s.target = target;
  for (size_t g = 0; g < fused.groups.size(); ++g) {
    GroupSchedule gs = scheduleGroup(fused, fused.groups[g], target);
    std::string why;
    if (std::optional<TiledGroup> tiled = matchTiledGroup(fused, fused.groups[g], why))
      gs.tiling = describeTiling(fused, *tiled, target);
    s.groups.push_back(std::move(gs));
  }
  for (size_t g = 1; g < fused.groups.size(); ++g) {
    std::string why;
    if (fused.storage[fused.groups[g - 1].members.front()] != Storage::Window)
      continue;
    if (std::optional<ConsumerTile> tile = findConsumerTile(fused, g, why)) {
      s.groups[g].tiles = scheduleTiles(fused, *tile, s.groups, target);
      s.groups[g].rowsPerBlock = nullptr; // The tiles block the rows.
      s.groups[g].blockReason.clear();
    }
  }
  for (const RowChain &chain : fused.chains) {
    ChainSchedule cs = scheduleChain(fused, chain, s.groups, target);
    const IntImm *known = as<IntImm>(cs.pays);
    std::string why;
    if (!(known && known->value) && splittable(fused, chain, s.groups, why))
      scheduleSplit(fused, chain, target, cs);
    s.chains.push_back(std::move(cs));
  }
  return s;
}

std::string toString(const FusedKernel &fused, const Schedule &schedule) {
  const CpuTarget &t = schedule.target;
  std::string out = "schedule " + fused.kernel.name + " for " + t.name + ": " +
                    std::to_string(t.vectorBits) + "-bit vectors, " + std::to_string(t.threads) +
                    " thread" + (t.threads == 1 ? "" : "s") + ", L2 " +
                    std::to_string(t.l2Bytes / 1024) + " KiB\n";
  for (size_t g = 0; g < fused.groups.size(); ++g) {
    const FusedGroup &group = fused.groups[g];
    const GroupSchedule &gs = schedule.groups[g];
    const RowChain *chain = chainOf(fused, g);
    if (chain && chain->first == g) {
      const ChainSchedule &cs = schedule.chains[static_cast<size_t>(chain - fused.chains.data())];
      const Definition &first = fused.kernel.defs[group.members.front()];
      out += "  row chain of groups " + std::to_string(chain->first) + " to " +
             std::to_string(chain->last) + " (per block of " +
             first.indices[chain->rowDim].var->name + "): ";
      const IntImm *known = as<IntImm>(cs.pays);
      std::string serially = "inside a block, each group below runs serially over the block's rows";
      std::string threads = "; " + cs.parallelReason + "; ";
      if (known && !known->value && cs.chunkColumns)
        out += "runs split: the whole rows need " + cs.paysReason + "; " + cs.splitReason +
               threads + serially + "\n";
      else if (known && !known->value)
        out += "not run: needs " + cs.paysReason + "; the groups run whole as below\n";
      else if (known)
        out += "runs" + threads + cs.blockReason + "; " + serially + "\n";
      else if (cs.chunkColumns)
        out += "runs whole when " + toString(cs.pays) + ": " + cs.paysReason + "; " +
               cs.blockReason + "; else " + cs.splitReason + threads + serially + "\n";
      else
        out += "runs when " + toString(cs.pays) + ": " + cs.paysReason +
               "; else the groups run whole as below" + threads + cs.blockReason + "; " + serially +
               "\n";
    }
    std::string names;
    for (size_t m : group.members)
      names += (names.empty() ? "" : ", ") + fused.kernel.defs[m].target->name;
    if (!gs.tiling.empty()) {
      out += "  group " + std::to_string(g) + " (" + names + "): ";
      for (size_t begin = 0, end; begin < gs.tiling.size(); begin = end + 1) {
        end = gs.tiling.find('\n', begin);
        out += (begin == 0 ? "" : "    ") + gs.tiling.substr(begin, end - begin + 1);
      }
      continue;
    }
    out += "  group " + std::to_string(g) + " (" + names + "): ";
    if (hasWindows(fused, group) && !chain)
      out += "a window of group " + std::to_string(g + 1) + ", computed in its blocks";
    else if (gs.tiles)
      out += gs.tiles->parallelReason + "; " + gs.tiles->reason;
    else
      out += gs.parallelReason;
    if (!gs.blockReason.empty())
      out += "; " + gs.blockReason;
    if (!gs.sharedReason.empty())
      out += "; " + gs.sharedReason;
    if (gs.tile)
      out += "; " + gs.tileReason;
    out += "\n";
    for (size_t m = 0; m < group.members.size(); ++m) {
      const MemberSchedule &ms = gs.members[m];
      std::string line = fused.kernel.defs[group.members[m]].target->name + ": ";
      line += ms.vectorReason.empty() ? "in the shared loop" : ms.vectorReason;
      if (ms.place != LocalPlace::None)
        line += "; local: " + placeName(ms.place);
      out += "    " + line + "\n";
    }
  }
  return out;
}

} // namespace tdsl::passes
