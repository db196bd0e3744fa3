// tile: a contraction as a packed, cache-blocked GEMM with a register-blocked micro-kernel.
//
// The loop nest (names as printed by `tdsl emit --stage=loops`):
//
//   for ot in outer points:                       (batch indices, and indices only B reads)
//     for kb in k blocks of KC:                   (an MR x KC panel of A stays in L1)
//       Ap = A[:, k block] packed into row panels: Ap[(ib * KC + kk) * MR + r], 0 past M
//            (unless a.in.place: see below)
//       for jb in n blocks of NC columns:         (a KC x NC block of B stays in L2)
//         Bp = B[k block, n block] packed into column panels: Bp[(p * KC + kk) * NR + v]
//              (unless b.in.place: see below)
//         for ib in row panels of MR:             (parallel: a static split of the panels)
//           for p in column panels of NR:
//             acc[MR x NR] = 0                    (MR * NR / lanes vector registers;
//                                                  TAIL x NR for a last panel of <= TAIL rows)
//             for kk in k block: acc[r, :] += broadcast(Ap[.., r]) * Bp[.., :]   (r unrolled)
//             C[tile] = (kb == 0 ? 0 : C[tile]) + acc        (rows and columns masked)
//
// An A that every outer point shares (a convolution's weights) is packed whole before the
// outer points instead, Ap[(ib * K + k) * MR + r], and the loops run jb then kb.
//
// Packing makes every operand layout the same to the micro-kernel: a transposed operand, a
// convolution window or a strided view costs only in the packing loops, which touch each
// element of A once (per outer point when A reads one) and each element of B once per block.
// Copying A pays only where reading it in place would cost more: when A is one tensor read
// contiguous along k (`a @ b`, batched or not), the micro-kernel reads its rows where they lie
// unless they would crowd one set of L1 (lhsInPlaceCondition, decided at run time from the row
// stride); at K = 64 the copy cost about as much as the products. Copying B pays only where B
// is larger than one KC x NC block: when all of B (of an outer point) is one block of whole
// NR-column panels, read contiguous along n, the micro-kernel loads its rows where they lie
// (rhsInPlaceCondition), since every row panel sweeps the same bytes from L2 either way. A last
// row panel of at most TAIL rows (8 of 14 with AVX-512) takes a kernel of TAIL rows: M = 64 is
// 4 x 14 + 8. The padding rows and lanes of the packed panels are stored as zeros. Each
// output element is summed in the same order (k blocks in order, k inside a block in order, one
// partial sum per block) whatever the thread count, so results are bit-identical across runs and
// threads.
#include "passes/Tile.h"

#include "ir/Affine.h"
#include "ir/ExprEqual.h"
#include "ir/IRPrinter.h"
#include "ir/IRVisitor.h"
#include "passes/Pipeline.h"
#include "support/Check.h"

#include <algorithm>
#include <map>

namespace tdsl::passes {

using namespace ir;

namespace {

Expr i64(int64_t v) { return intImm(v); }
Expr binary(BinaryOp op, Expr a, Expr b) { return Binary::make(op, std::move(a), std::move(b)); }
Expr ceilDiv(Expr a, Expr b) {
  return binary(BinaryOp::FloorDiv, sub(add(std::move(a), b), i64(1)), b);
}
Expr minOf(Expr a, Expr b) { return binary(BinaryOp::Min, std::move(a), std::move(b)); }
Expr lt(Expr a, Expr b) { return binary(BinaryOp::Lt, std::move(a), std::move(b)); }

Var loopVar(const std::string &name) { return makeVar(name, Type::i64(), VarKind::Loop); }
Var letVar(const std::string &name) { return makeVar(name, Type::i64(), VarKind::Let); }

Expr product(const std::vector<Expr> &factors) {
  Expr p = i64(1);
  for (const Expr &f : factors)
    p = mul(p, f);
  return simplify(p);
}

/// The row-major indices of flat index `flat` into dims `extents`.
std::vector<Expr> decompose(const Expr &flat, const std::vector<Expr> &extents) {
  std::vector<Expr> out(extents.size());
  Expr rest = flat;
  for (size_t d = extents.size(); d-- > 0;) {
    if (d == 0) {
      out[d] = rest;
      break;
    }
    out[d] = binary(BinaryOp::Mod, rest, extents[d]);
    rest = binary(BinaryOp::FloorDiv, rest, extents[d]);
  }
  return out;
}

Expr flatIndex(const std::vector<Expr> &shape, const std::vector<Expr> &indices) {
  Expr flat = i64(0);
  for (size_t d = 0; d < shape.size(); ++d)
    flat = add(mul(flat, shape[d]), indices[d]);
  return flat;
}

/// The extent of each index variable of a contraction: its output indices and reduction axes.
using IndexExtents = std::map<const VarNode *, Expr>;

/// The flat index of element `indices` of `buffer`, and `buffer` replaced by its window when
/// it has one in `windows` (may be null).
Expr addressOf(Buffer &buffer, std::vector<Expr> indices, const RowWindows *windows) {
  if (windows)
    if (auto it = windows->find(buffer.get()); it != windows->end()) {
      const RowWindow &w = it->second;
      indices.erase(indices.begin(), indices.begin() + static_cast<std::ptrdiff_t>(w.drop));
      indices[w.row] = sub(indices[w.row], w.rowBase);
      if (w.colBase)
        indices.back() = sub(indices.back(), w.colBase);
      buffer = w.slice;
    }
  return flatIndex(buffer->shape, indices);
}

/// A factor of the contraction as loop-level code: index variables replaced, tensor reads
/// turned into loads (under `predicate` when set). A read with a `??` default loads only where
/// it is in bounds (a zero-padded convolution's border is packed as zeros).
class FactorLowering : public IRMutator {
public:
  FactorLowering(std::map<const VarNode *, Expr> values, Expr predicate,
                 const IndexExtents &extents, const RowWindows *windows)
      : values(std::move(values)), predicate(std::move(predicate)), extents(extents),
        windows(windows) {}

protected:
  Expr visitVarRef(const VarRef *n, const Expr &self) override {
    auto it = values.find(n->var.get());
    return it == values.end() ? self : it->second;
  }
  Expr visitAccess(const Access *n, const Expr &) override {
    std::vector<Expr> indices;
    for (const Expr &i : n->indices)
      indices.push_back(mutate(i));
    Buffer buffer = n->buffer;
    Expr flat = addressOf(buffer, indices, windows);
    if (!n->fallback)
      return Load::make(buffer, flat, predicate);
    Expr inBounds = predicate;
    for (size_t d = 0; d < indices.size(); ++d) {
      // A bare index variable whose extent is the dim's stays in bounds: no check.
      const VarRef *v = as<VarRef>(n->indices[d]);
      auto it = v ? extents.find(v->var.get()) : extents.end();
      if (it != extents.end() && structurallyEqual(it->second, n->buffer->shape[d]))
        continue;
      Expr in = binary(BinaryOp::And, binary(BinaryOp::Le, i64(0), indices[d]),
                       lt(indices[d], n->buffer->shape[d]));
      inBounds = inBounds ? binary(BinaryOp::And, inBounds, in) : in;
    }
    if (inBounds == predicate)
      return Load::make(buffer, flat, predicate);
    return Select::make(inBounds, Load::make(buffer, flat, inBounds), mutate(n->fallback));
  }

private:
  std::map<const VarNode *, Expr> values;
  Expr predicate;
  const IndexExtents &extents;
  const RowWindows *windows;
};

/// An epilogue value: index variables replaced, reads of the group's values replaced by them,
/// other reads turned into loads.
class EpilogueLowering : public IRMutator {
public:
  EpilogueLowering(const std::map<const VarNode *, Expr> &vars,
                   const std::map<const BufferNode *, Expr> &values, const RowWindows *windows)
      : vars(vars), values(values), windows(windows) {}

protected:
  Expr visitVarRef(const VarRef *n, const Expr &self) override {
    auto it = vars.find(n->var.get());
    return it == vars.end() ? self : it->second;
  }
  Expr visitAccess(const Access *n, const Expr &) override {
    if (auto it = values.find(n->buffer.get()); it != values.end())
      return it->second;
    std::vector<Expr> indices;
    for (const Expr &i : n->indices)
      indices.push_back(mutate(i));
    Buffer buffer = n->buffer;
    Expr index = addressOf(buffer, indices, windows);
    return Load::make(buffer, index);
  }

private:
  const std::map<const VarNode *, Expr> &vars;
  const std::map<const BufferNode *, Expr> &values;
  const RowWindows *windows;
};

/// When `factor` is one tensor read contiguous along `along` (the flat index grows by one with
/// it), the change of its flat index when `row` grows by one, if that depends on the symbols
/// only; else null.
Expr rowStrideOf(const Expr &factor, const Var &along, const Var &row) {
  const Access *a = as<Access>(factor);
  if (!a || a->fallback)
    return nullptr;
  std::optional<AffineExpr> flat = toAffine(flatIndex(a->buffer->shape, a->indices));
  if (!flat)
    return nullptr;
  auto step = [&](const Var &v) -> std::optional<AffineExpr> {
    std::optional<AffineExpr> next = substitute(*flat, v, AffineExpr::of(v) + AffineExpr{1, {}});
    if (!next)
      return std::nullopt;
    return *next - *flat;
  };
  std::optional<AffineExpr> alongStep = step(along);
  std::optional<AffineExpr> rowStep = step(row);
  if (!alongStep || !rowStep || *alongStep != AffineExpr{1, {}} || !rowStep->onlySymbols())
    return nullptr;
  return toExpr(*rowStep);
}

/// The stride in elements between rows m and m + 1 of the lhs, when the lhs is one tensor read
/// with one m index and one k axis, contiguous along k; else null.
Expr lhsRowStrideOf(const Contraction &c) {
  if (c.m.size() != 1 || c.k.size() != 1)
    return nullptr;
  return rowStrideOf(c.lhs, c.k[0].var, c.def->indices[c.m[0]].var);
}

/// The stride in elements between rows k and k + 1 of the rhs, when the rhs is one tensor read
/// with one k axis, contiguous along n; else null.
Expr rhsRowStrideOf(const Contraction &c) {
  if (c.k.size() != 1)
    return nullptr;
  return rowStrideOf(c.rhs, c.def->indices[c.n].var, c.k[0].var);
}

/// When the micro-kernel reads A in place (a bool over the symbols), or null when it always packs
/// A. In place unless the MR rows of a panel crowd one set of L1: rows `stride` floats apart fall
/// on the same sets every `period` rows, period = way / gcd(4 * stride, way) (a power of two),
/// so ceil(MR / period) rows share a set; more than the ways (MR = 14 in 8 ways: rows a multiple
/// of 4 KiB apart, K = 1024) evict each other at every step of k, and packing pays. Otherwise
/// reading in place saves the copy of A (a load and a store per element: about a third of the
/// products' time at N = 64), and measured no slower up to N = 1000 (docs/performance.md).
Expr lhsInPlaceCondition(const Contraction &c, const TileSizes &t, const CpuTarget &target) {
  Expr stride = lhsRowStrideOf(c);
  if (!stride)
    return nullptr;
  int ways = std::max(1, target.l1Ways);
  int64_t way = target.l1Bytes / ways;
  int64_t rowsPerPeriod = (t.mr + ways - 1) / ways; // The period must be at least this.
  if (rowsPerPeriod <= 1 || way <= 0)
    return boolImm(true);
  // period >= rowsPerPeriod <=> (4 * stride * q) % way != 0, q the largest power of two below
  // rowsPerPeriod (period and q are powers of two).
  int64_t q = 1;
  while (2 * q < rowsPerPeriod)
    q *= 2;
  return binary(BinaryOp::Ne, binary(BinaryOp::Mod, mul(stride, i64(4 * q)), i64(way)), i64(0));
}

/// When the micro-kernel reads B in place (a bool over the symbols), or null when it always packs
/// B. In place when B of one outer point is one KC x NC block of whole NR-column panels (K <= KC,
/// N <= NC, N a multiple of NR; rows at most NC floats apart): the row panels then sweep the same
/// bytes from L2 whether B is packed or not, and a copy would only reorder them, at the cost of a
/// load and a store per element per outer point (about 5% at 64 x 64 x 64). A larger B is
/// blocked and packed: read in place, its blocks' rows are far apart (K = N = 512 and 1024 measured
/// 1.1x to 1.4x slower, docs/performance.md). Partial column panels would need masked loads of
/// B at every step of k.
Expr rhsInPlaceCondition(const Contraction &c, const TileSizes &t) {
  Expr stride = rhsRowStrideOf(c);
  if (!stride)
    return nullptr;
  const Expr &n = c.def->indices[c.n].extent;
  Expr fits =
      binary(BinaryOp::And, binary(BinaryOp::Eq, binary(BinaryOp::Mod, n, i64(t.nr)), i64(0)),
             binary(BinaryOp::And, binary(BinaryOp::Le, c.k[0].extent, i64(t.kc)),
                    binary(BinaryOp::Le, n, i64(t.nc))));
  if (!structurallyEqual(simplify(stride), simplify(n)))
    fits = binary(BinaryOp::And, fits, binary(BinaryOp::Le, stride, i64(t.nc)));
  return simplify(fits);
}

/// Whether A is packed one k block at a time, just before the n blocks that read it, rather
/// than whole: wherever each outer point packs its own (no outer points, or A reads them; a split
/// chain's k chunk too). Its KC-column panels then stay in L2 beside B's block, where M x K
/// packed floats went to memory and came back (X^T X, 4096 x 256: 4 MiB twice, on a machine
/// streaming 14 GB/s, about a third of the products' time). An A that every outer point shares
/// (a convolution's weights) is packed whole, once for all of them.
bool aPackedPerKBlock(const Contraction &c) { return c.outer.empty() || c.lhsReadsOuter; }

struct TileLowering {
  const FusedKernel &fused;
  const TiledGroup &group;
  const Contraction &c;
  const CpuTarget &target;
  TileSizes t;
  const Definition &def;
  const RowBlock *block;        // Only these rows (lowerTiledRows), or null: all.
  const OuterBlock *outerBlock; // Only these outer points (lowerTiledOuterBlock), or null: all.
  const RowWindows *windows;
  std::vector<Expr> mExtents, kExtents, outerExtents;
  Expr mExtent, nExtent, kExtent, outerExtent;
  std::vector<Expr> outerValues; // Per outer position, the value of that index.
  IndexExtents indexExtents;
  Buffer ap, bp;
  /// With a block of rows: B packed whole (packWholeB), every block of it in order, `bBase`
  /// the first element of the current one; null when B is packed per block into `bp`.
  Buffer packedB;
  Expr bBase = i64(0);

  TileLowering(const FusedKernel &fused, const TiledGroup &group, const CpuTarget &target,
               const RowBlock *block, const OuterBlock *outerBlock = nullptr)
      : fused(fused), group(group), c(group.contraction), target(target), t(chooseTiles(target)),
        def(*c.def), block(block), outerBlock(outerBlock),
        windows(block        ? &block->windows
                : outerBlock ? &outerBlock->windows
                             : nullptr) {
    for (size_t p : c.m)
      mExtents.push_back(def.indices[p].extent);
    if (!block && !outerBlock)
      for (size_t p : c.outer)
        outerExtents.push_back(def.indices[p].extent);
    for (const IterVar &axis : c.k) {
      kExtents.push_back(axis.extent);
      indexExtents[axis.var.get()] = axis.extent;
    }
    for (const IterVar &index : def.indices)
      indexExtents[index.var.get()] = index.extent;
    mExtent = block ? block->count : product(mExtents);
    kExtent = product(kExtents);
    outerExtent = outerBlock ? outerBlock->count : product(outerExtents);
    nExtent = def.indices[c.n].extent;
    TDSL_CHECK(!block || (c.m.size() == 1 && c.outer.size() == block->fixed.size()))
        << "a block of rows of a contraction whose rows are not its one m index";
    TDSL_CHECK(!outerBlock || c.outer.size() == outerBlock->fixed.size() + 1)
        << "a block of outer points that does not fix all of them but one";
  }

  Expr lowerFactor(const Expr &factor, const std::map<const VarNode *, Expr> &values,
                   const Expr &predicate = nullptr) const {
    return FactorLowering(values, predicate, indexExtents, windows).mutate(factor);
  }

  /// The m indices of row `m` of the GEMM (of the block's rows, when lowering a block).
  std::vector<Expr> mValues(const Expr &m) const {
    if (block)
      return {add(block->begin, m)};
    return decompose(m, mExtents);
  }

  /// A store of `value` at element `indices` of `buffer` (or of its window).
  Stmt storeAt(Buffer buffer, const std::vector<Expr> &indices, const Expr &value) const {
    Expr index = addressOf(buffer, indices, windows);
    return Store::make(buffer, index, value);
  }

  bool innerParallel = false;
  ForKind parallelKind() const { return innerParallel ? ForKind::Parallel : ForKind::Serial; }

  /// Whether the micro-kernel may read A where it lies instead of from its packed panels: A is one
  /// tensor read contiguous along its one k axis, with rows a symbolic stride apart (lhsRowStride).
  bool lhsInPlaceAllowed() const { return lhsRowStride != nullptr; }
  Expr lhsRowStride = lhsRowStrideOf(c); // Elements between rows m and m + 1 of A; or null.
  Var lhsInPlace = makeVar("a.in.place", Type::boolean(), VarKind::Let); // See lower().
  /// Whether the micro-kernel may read B where it lies instead of from its packed panels: B is
  /// one tensor read contiguous along n with one k axis, and not packed whole by a row chain.
  bool rhsInPlaceAllowed() const { return !packedB && rhsRowStrideOf(c) != nullptr; }
  Var rhsInPlace = makeVar("b.in.place", Type::boolean(), VarKind::Let); // See lower().

  void bindOuter(std::map<const VarNode *, Expr> &values) const {
    for (size_t i = 0; i < c.outer.size(); ++i)
      values[def.indices[c.outer[i]].var.get()] = outerValues[i];
  }
  void bindK(std::map<const VarNode *, Expr> &values, const Expr &k) const {
    std::vector<Expr> ks = decompose(k, kExtents);
    for (size_t i = 0; i < c.k.size(); ++i)
      values[c.k[i].var.get()] = ks[i];
  }

  /// The k range that Ap holds: all of it, or one k block (see aPackedPerKBlock).
  Expr aFrom, aSpan;

  /// for ib: for k: Ap[(ib * K + k) * MR + r] = A[ib * MR + r, aFrom + k] (0 past M), r
  /// unrolled, K = aSpan.
  Stmt packA(const Expr &panels, ForKind kind) const {
    Var ib = loopVar("ib"), k = loopVar("k");
    std::vector<Stmt> rows;
    for (int r = 0; r < t.mr; ++r) {
      Expr m = add(mul(ref(ib), i64(t.mr)), i64(r));
      std::map<const VarNode *, Expr> values;
      bindOuter(values);
      bindK(values, aFrom ? add(aFrom, ref(k)) : ref(k));
      std::vector<Expr> ms = mValues(m);
      for (size_t i = 0; i < c.m.size(); ++i)
        values[def.indices[c.m[i]].var.get()] = ms[i];
      Expr inRange = lt(m, mExtent);
      Expr value = Select::make(inRange, lowerFactor(c.lhs, values, inRange), floatImm(0.0));
      Expr index = add(mul(add(mul(ref(ib), aSpan), ref(k)), i64(t.mr)), i64(r));
      rows.push_back(Store::make(ap, index, value));
    }
    Stmt body = For::make(k, aSpan, ForKind::Serial, Block::make(rows));
    Stmt pack = For::make(ib, panels, kind, body);
    if (!lhsInPlaceAllowed())
      return pack;
    return IfThenElse::make(Unary::make(UnaryOp::Not, ref(lhsInPlace)), pack);
  }

  /// Bp[(p * KC + kk) * NR + v] = B[k0 + kk, n0 + p * NR + v] for the columns below nc, 0 past.
  Stmt packB(const Expr &n0, const Expr &nc, const Expr &k0, const Expr &kc, ForKind kind) const {
    Var p = loopVar("p"), kk = loopVar("kk"), v = loopVar("v");
    Expr col = add(mul(ref(p), i64(t.nr)), ref(v));
    std::map<const VarNode *, Expr> values;
    bindOuter(values);
    bindK(values, add(k0, ref(kk)));
    values[def.indices[c.n].var.get()] = add(n0, col);
    Expr index = add(mul(add(mul(ref(p), ref(kStep)), ref(kk)), i64(t.nr)), ref(v));
    // Lanes past nc hold zeros, not what the buffer held before: old bytes read as denormal
    // floats cost each multiply of the micro-kernel's padding lanes a microcode assist (conv2d
    // with 56 output columns ran 35x slower in a process whose heap had other data).
    Expr inRange = lt(col, nc);
    Expr whole = binary(BinaryOp::Le, add(mul(ref(p), i64(t.nr)), i64(t.nr)), nc);
    Expr padded = Select::make(inRange, lowerFactor(c.rhs, values, inRange), floatImm(0.0));
    Stmt store =
        IfThenElse::make(whole, Store::make(bp, add(bBase, index), lowerFactor(c.rhs, values)),
                         Store::make(bp, add(bBase, index), padded));
    Stmt lanes = For::make(v, i64(t.nr), ForKind::Vectorized, store);
    Stmt body = For::make(kk, kc, ForKind::Serial, lanes);
    return For::make(p, ceilDiv(nc, i64(t.nr)), kind, body);
  }

  /// The n and k blocks: equal ones (rounded up to whole panels) of at most NC and KC, no thin
  /// last block; or, for the axis a split chain's chunk fixes, blocks of the chunk's width.
  struct BlockSteps {
    Expr nBlocks, nStep, kBlocks, kStep;
  };
  /// `lets`: each step in terms of the let of its block count (see withBlockLets).
  BlockSteps blockSteps(bool lets = false) const {
    BlockSteps s;
    RowBlock::ChunkAxis chunked = block ? block->chunkAxis : RowBlock::ChunkAxis::None;
    if (chunked == RowBlock::ChunkAxis::N) {
      s.nStep = block->chunkWidth;
      s.nBlocks = ceilDiv(nExtent, s.nStep);
    } else {
      s.nBlocks = ceilDiv(nExtent, i64(t.nc));
      s.nStep =
          mul(ceilDiv(ceilDiv(nExtent, lets ? ref(nBlocks) : s.nBlocks), i64(t.nr)), i64(t.nr));
    }
    if (chunked == RowBlock::ChunkAxis::K) {
      s.kStep = block->chunkWidth;
      s.kBlocks = binary(BinaryOp::Max, i64(1), ceilDiv(kExtent, s.kStep));
    } else {
      s.kBlocks = binary(BinaryOp::Max, i64(1), ceilDiv(kExtent, i64(t.kc)));
      s.kStep = ceilDiv(kExtent, lets ? ref(kBlocks) : s.kBlocks);
    }
    return s;
  }

  /// Elements of B packed whole: every n and k block (see blockSteps) in order.
  Expr wholeBSize() const {
    BlockSteps s = blockSteps();
    return mul(mul(s.nBlocks, s.kBlocks), mul(s.nStep, s.kStep));
  }

  /// B packed whole into `into` (the layout that the micro-kernel reads with `packedB`), its
  /// column panels split over threads when `kind` is Parallel.
  Stmt packWholeB(const Buffer &into, ForKind kind) {
    TDSL_CHECK(block) << "B packed whole outside a row chain";
    outerValues = block->fixed;
    bp = into;
    Var jb = loopVar("jb"), kb = loopVar("kb");
    Expr n0 = mul(ref(jb), ref(nStep)), k0 = mul(ref(kb), ref(kStep));
    bBase = wholeBOffset(jb, kb);
    Stmt body = packB(n0, minOf(ref(nStep), sub(nExtent, n0)), k0,
                      minOf(ref(kStep), sub(kExtent, k0)), kind);
    body = For::make(kb, ref(kBlocks), ForKind::Serial, body);
    return withBlockLets(For::make(jb, ref(nBlocks), ForKind::Serial, body));
  }
  Expr wholeBOffset(const Var &jb, const Var &kb) const {
    return mul(add(mul(ref(jb), ref(kBlocks)), ref(kb)), mul(ref(kStep), ref(nStep)));
  }

  /// One MR x NR tile: accumulate over the k block, then add into the output.
  /// The finished sum at output `indices`: stored if the contraction is, then each epilogue
  /// definition evaluated (reads of the group's values replaced by them) and stored if stored.
  Stmt epilogueStores(const Expr &sum, const std::vector<Expr> &indices) const {
    const std::vector<Definition> &defs = fused.kernel.defs;
    std::vector<std::pair<Var, Expr>> lets;
    std::vector<Stmt> stores;
    std::map<const BufferNode *, Expr> values{{def.target.get(), sum}};
    if (group.storeContraction)
      stores.push_back(storeAt(def.target, indices, sum));
    for (size_t e : group.epilogue) {
      const Definition &d = defs[e];
      std::map<const VarNode *, Expr> vars;
      for (size_t i = 0; i < d.indices.size(); ++i)
        vars[d.indices[i].var.get()] = indices[i];
      Expr value = EpilogueLowering(vars, values, windows).mutate(d.value);
      Var let = makeVar(d.target->name, value->type, VarKind::Let);
      lets.emplace_back(let, value);
      values[d.target.get()] = ref(let);
      if (fused.storage[e] != Storage::Local)
        stores.push_back(storeAt(d.target, indices, ref(let)));
    }
    Stmt body = Block::make(stores);
    for (size_t i = lets.size(); i-- > 0;)
      body = LetStmt::make(lets[i].first, lets[i].second, body);
    return body;
  }

  /// `rows` (at most MR) rows of the panel: the last panel's, when fewer rows cover it.
  Stmt microKernel(const Var &ib, const Var &p, const Expr &n0, const Expr &nc, const Expr &k0,
                   const Expr &kc, const Var &kb, const Expr &kBlocks, int rows) const {
    Buffer acc = makeBuffer(std::string(kContractBufferPrefix), DType::F32,
                            {i64(int64_t{rows} * t.nr)}, BufferRole::Intermediate);
    auto lanes = [&](const Var &v, Stmt body) {
      return For::make(v, i64(t.nr), ForKind::Vectorized, std::move(body));
    };
    std::vector<Stmt> init;
    for (int r = 0; r < rows; ++r) {
      Var v = loopVar("v");
      init.push_back(lanes(v, Store::make(acc, add(i64(r * t.nr), ref(v)), floatImm(0.0))));
    }
    // The k loop, reading A from its packed panel or (inPlace) where it lies: rows past M read
    // row M - 1, whose sums are never stored.
    auto kLoop = [&](bool inPlace, bool bInPlace) {
      Var kk = loopVar("kk");
      std::vector<Stmt> update;
      for (int r = 0; r < rows; ++r) {
        Var v = loopVar("v");
        Expr slot = add(i64(r * t.nr), ref(v));
        Expr a;
        if (inPlace) {
          std::map<const VarNode *, Expr> values;
          bindOuter(values);
          bindK(values, add(k0, ref(kk)));
          Expr m = minOf(add(mul(ref(ib), i64(t.mr)), i64(r)), sub(mExtent, i64(1)));
          std::vector<Expr> ms = mValues(m);
          for (size_t i = 0; i < c.m.size(); ++i)
            values[def.indices[c.m[i]].var.get()] = ms[i];
          a = lowerFactor(c.lhs, values);
        } else {
          // Ap holds k from aFrom on: a split chain's chunk starts at k0.
          Expr kInA = aFrom ? ref(kk) : add(k0, ref(kk));
          a = Load::make(ap, add(mul(add(mul(ref(ib), aSpan), kInA), i64(t.mr)), i64(r)));
        }
        Expr b;
        if (bInPlace) {
          std::map<const VarNode *, Expr> values;
          bindOuter(values);
          bindK(values, add(k0, ref(kk)));
          Expr col = add(mul(ref(p), i64(t.nr)), ref(v));
          values[def.indices[c.n].var.get()] = add(n0, col);
          b = lowerFactor(c.rhs, values);
        } else {
          b = Load::make(
              bp, add(bBase, add(mul(add(mul(ref(p), ref(kStep)), ref(kk)), i64(t.nr)), ref(v))));
        }
        update.push_back(lanes(v, Store::make(acc, slot, add(Load::make(acc, slot), mul(a, b)))));
      }
      return For::make(kk, kc, ForKind::Serial, Block::make(update));
    };
    // B in place with A packed only where A is never read in place (b.in.place implies
    // a.in.place otherwise, see lower()): three k loops at most.
    auto kLoops = [&](bool aInPlace) {
      return rhsInPlaceAllowed()
                 ? IfThenElse::make(ref(rhsInPlace), kLoop(aInPlace, true), kLoop(aInPlace, false))
                 : kLoop(aInPlace, false);
    };
    Stmt loop = lhsInPlaceAllowed()
                    ? IfThenElse::make(ref(lhsInPlace), kLoops(true), kLoop(false, false))
                    : kLoops(false);

    // Per row r, per lane: partial sums into `group.partial` for every k block but the last;
    // in the last, the finished sum through the epilogue into each stored tensor.
    auto stores = [&](bool first, bool last) {
      std::vector<Stmt> perRow;
      for (int r = 0; r < rows; ++r) {
        Var v = loopVar("v");
        Expr m = add(mul(ref(ib), i64(t.mr)), i64(r));
        Expr col = add(mul(ref(p), i64(t.nr)), ref(v));
        std::vector<Expr> indices(def.indices.size(), i64(0));
        for (size_t i = 0; i < c.outer.size(); ++i)
          indices[c.outer[i]] = outerValues[i];
        std::vector<Expr> ms = mValues(m);
        for (size_t i = 0; i < c.m.size(); ++i)
          indices[c.m[i]] = ms[i];
        indices[c.n] = add(n0, col);
        Buffer partial = group.partial;
        Expr partialIndex = addressOf(partial, indices, windows);
        Expr sum = Load::make(acc, add(i64(r * t.nr), ref(v)));
        if (!first)
          sum = add(Load::make(partial, partialIndex), sum);
        Stmt body;
        if (!last)
          body = Store::make(partial, partialIndex, sum);
        else
          body = epilogueStores(sum, indices);
        Stmt store = IfThenElse::make(lt(col, nc), body);
        perRow.push_back(IfThenElse::make(lt(m, mExtent), lanes(v, store)));
      }
      return Block::make(perRow);
    };
    Expr isFirst = binary(BinaryOp::Eq, ref(kb), i64(0));
    Expr isLast = binary(BinaryOp::Eq, ref(kb), sub(kBlocks, i64(1)));
    Stmt finish =
        IfThenElse::make(isLast, IfThenElse::make(isFirst, stores(true, true), stores(false, true)),
                         IfThenElse::make(isFirst, stores(true, false), stores(false, false)));
    return Allocate::make(acc, MemoryScope::Stack, Block::make({Block::make(init), loop, finish}));
  }

  // Bound once around both copies of the nest.
  Var panelsVar = letVar("m.panels"), nBlocks = letVar("n.blocks"), nStep = letVar("n.step");
  Var kBlocks = letVar("k.blocks"), kStep = letVar("k.step");

  /// The nest. With `outerParallel`, the outer points are split into one contiguous chunk per
  /// thread, each with its own packing buffers; else the packing loops and the row panels of
  /// each block are parallel (when threads > 1).
  Stmt nest(bool outerParallel) {
    innerParallel = target.threads > 1 && !outerParallel;
    RowBlock::ChunkAxis chunked = block ? block->chunkAxis : RowBlock::ChunkAxis::None;
    bool kChunk = chunked == RowBlock::ChunkAxis::K;
    bool aPerBlock = kChunk || aPackedPerKBlock(c);
    Expr panels = ref(panelsVar);
    Expr apSize = mul(mul(panels, i64(t.mr)), aPerBlock ? ref(kStep) : kExtent);
    if (lhsInPlaceAllowed())
      apSize = Select::make(ref(lhsInPlace), i64(1), apSize);
    ap = makePanelBuffer("tile.a", {apSize});
    // One block of B: at most KC x NC, less for a small contraction.
    Expr bpSize = mul(ref(kStep), ref(nStep));
    if (rhsInPlaceAllowed())
      bpSize = Select::make(ref(rhsInPlace), i64(1), bpSize);
    bp = packedB ? packedB : makePanelBuffer("tile.b", {bpSize});
    Var ot = loopVar("ot"), chunk = letVar("ot.chunk"), thread = loopVar("thread");
    Expr point = ref(ot);
    if (outerParallel)
      point = add(mul(ref(thread), ref(chunk)), ref(ot));
    if (block) {
      outerValues = block->fixed;
    } else if (outerBlock) {
      outerValues = outerBlock->fixed;
      outerValues.push_back(add(outerBlock->begin, point));
    } else {
      outerValues = decompose(point, outerExtents);
    }

    // The n and k blocks (see blockSteps); a split chain's chunk is one of them, a let.
    Var jb = chunked == RowBlock::ChunkAxis::N ? letVar("jb") : loopVar("jb");
    Var kb = kChunk ? letVar("kb") : loopVar("kb");
    Var ib = loopVar("ib"), p = loopVar("p");
    Expr n0 = mul(ref(jb), ref(nStep)), k0 = mul(ref(kb), ref(kStep));
    Var ncVar = letVar("nc"), kcVar = letVar("kc");
    Expr nc = ref(ncVar), kc = ref(kcVar);
    if (packedB)
      bBase = wholeBOffset(jb, kb);
    aFrom = aPerBlock ? k0 : nullptr;
    aSpan = aPerBlock ? kc : kExtent;

    auto tileOf = [&](int rows) {
      return For::make(p, ceilDiv(nc, i64(t.nr)), ForKind::Serial,
                       microKernel(ib, p, n0, nc, k0, kc, kb, ref(kBlocks), rows));
    };
    Stmt tile = tileOf(t.mr);
    if (t.tailRows > 0 && t.tailRows < t.mr) {
      // The last panel with the tail kernel when its rows fit in it.
      Expr tail =
          binary(BinaryOp::And, binary(BinaryOp::Eq, ref(ib), sub(panels, i64(1))),
                 binary(BinaryOp::Le, sub(mExtent, mul(ref(ib), i64(t.mr))), i64(t.tailRows)));
      tile = IfThenElse::make(tail, tileOf(t.tailRows), tile);
    }
    Stmt kBody = For::make(ib, panels, parallelKind(), tile);
    if (!packedB) {
      Stmt pack = packB(n0, nc, k0, kc, parallelKind());
      if (rhsInPlaceAllowed())
        pack = IfThenElse::make(Unary::make(UnaryOp::Not, ref(rhsInPlace)), pack);
      kBody = Block::make({pack, kBody});
    }
    Stmt outerBody;
    if (aPerBlock) {
      // Each k block: A's columns of it packed, then every n block.
      Stmt nBody = LetStmt::make(ncVar, minOf(ref(nStep), sub(nExtent, n0)), kBody);
      Stmt nLoop = chunked == RowBlock::ChunkAxis::N
                       ? LetStmt::make(jb, block->chunk, nBody)
                       : For::make(jb, ref(nBlocks), ForKind::Serial, nBody);
      outerBody = Block::make({packA(panels, parallelKind()), nLoop});
      outerBody = LetStmt::make(kcVar, minOf(ref(kStep), sub(kExtent, k0)), outerBody);
      outerBody = kChunk ? LetStmt::make(kb, block->chunk, outerBody)
                         : For::make(kb, ref(kBlocks), ForKind::Serial, outerBody);
    } else {
      kBody = LetStmt::make(kcVar, minOf(ref(kStep), sub(kExtent, k0)), kBody);
      Stmt nBody = For::make(kb, ref(kBlocks), ForKind::Serial, kBody);
      nBody = LetStmt::make(ncVar, minOf(ref(nStep), sub(nExtent, n0)), nBody);
      outerBody = chunked == RowBlock::ChunkAxis::N
                      ? LetStmt::make(jb, block->chunk, nBody)
                      : For::make(jb, ref(nBlocks), ForKind::Serial, nBody);
    }
    if (!outerParallel) {
      Stmt body = For::make(ot, outerExtent, ForKind::Serial, outerBody);
      if (!packedB)
        body = Allocate::make(bp, MemoryScope::Heap, body);
      if (aPerBlock)
        return Allocate::make(ap, MemoryScope::Heap, body);
      ForKind kind = target.threads > 1 ? ForKind::Parallel : ForKind::Serial;
      return Allocate::make(ap, MemoryScope::Heap, Block::make({packA(panels, kind), body}));
    }
    Expr count = minOf(ref(chunk), sub(outerExtent, mul(ref(thread), ref(chunk))));
    Stmt body = For::make(ot, count, ForKind::Serial, outerBody);
    body = Allocate::make(bp, MemoryScope::Heap, body);
    if (aPerBlock)
      body = Allocate::make(ap, MemoryScope::Heap, body);
    body = For::make(thread, i64(target.threads), ForKind::Parallel, body);
    body = LetStmt::make(chunk, ceilDiv(outerExtent, i64(target.threads)), body);
    if (!aPerBlock)
      body = Allocate::make(ap, MemoryScope::Heap,
                            Block::make({packA(panels, ForKind::Parallel), body}));
    return body;
  }

  Stmt lower() {
    Stmt body;
    if (target.threads > 1 && !c.outer.empty()) {
      // Enough outer points for every thread: split them (a convolution's rows, batches);
      // else split each block's row panels.
      Expr enough = binary(BinaryOp::Ge, outerExtent, i64(2 * int64_t{target.threads}));
      body = IfThenElse::make(enough, nest(true), nest(false));
    } else {
      body = nest(false);
    }
    body = withBlockLets(body);
    if (rhsInPlaceAllowed()) {
      // With A packed (its rows would crowd L1: K a multiple of 1024 or 1536, beyond every
      // KC), B is packed too, which spares the micro-kernel a fourth variant.
      Expr inPlace = rhsInPlaceCondition(c, t);
      if (lhsInPlaceAllowed())
        inPlace = binary(BinaryOp::And, ref(lhsInPlace), inPlace);
      body = LetStmt::make(rhsInPlace, inPlace, body);
    }
    if (lhsInPlaceAllowed())
      body = LetStmt::make(lhsInPlace, lhsInPlaceCondition(c, t, target), body);
    return LetStmt::make(panelsVar, ceilDiv(mExtent, i64(t.mr)), body);
  }

  /// `body` under the lets of the n and k blocks (bound once around both copies of the nest).
  Stmt withBlockLets(Stmt body) const {
    BlockSteps s = blockSteps(true);
    body = LetStmt::make(kStep, s.kStep, body);
    body = LetStmt::make(kBlocks, s.kBlocks, body);
    body = LetStmt::make(nStep, s.nStep, body);
    return LetStmt::make(nBlocks, s.nBlocks, body);
  }
};

} // namespace

std::string TileSizes::str() const {
  return "micro-kernel " + std::to_string(mr) + "x" + std::to_string(nr) + " (" +
         std::to_string(mr * nr / vectorLanes) + " vector accumulators), KC " + std::to_string(kc) +
         ", NC " + std::to_string(nc);
}

TileSizes chooseTiles(const CpuTarget &target) {
  TileSizes t;
  t.vectorLanes = std::max(1, target.lanes(4));
  t.nr = 2 * t.vectorLanes;
  int registers = target.vectorBits >= 512 ? 32 : 16;
  // MR rows of two accumulator vectors, plus two vectors of B and one broadcast of A.
  int registerRows = std::max(1, (registers - 3) / 2);
  t.mr = target.microKernelRows > 0 ? std::min(target.microKernelRows, registerRows) : registerRows;
  t.tailRows = 0;
  while (t.mr > 2 && (t.tailRows == 0 ? 1 : 2 * t.tailRows) < t.mr)
    t.tailRows = t.tailRows == 0 ? 1 : 2 * t.tailRows;
  // KC from the full micro-kernel whatever MR is: the k blocks decide the summation order.
  int64_t kc = target.l1Bytes / 2 / (int64_t{registerRows} * 4);
  t.kc = std::clamp<int64_t>(kc / 16 * 16, 16, 1024);
  int64_t nc = target.l2Bytes / 2 / (t.kc * 4);
  t.nc = std::clamp<int64_t>(nc / t.nr * t.nr, t.nr, 4096);
  return t;
}

std::string describeTiling(const FusedKernel &fused, const TiledGroup &group,
                           const CpuTarget &target) {
  const Contraction &c = group.contraction;
  const Definition &def = *c.def;
  auto names = [&](const std::vector<size_t> &positions) {
    std::string out;
    for (size_t p : positions)
      out += (out.empty() ? "" : ", ") + def.indices[p].var->name;
    return out.empty() ? std::string("none") : out;
  };
  std::string k;
  for (const IterVar &axis : c.k)
    k += (k.empty() ? "" : ", ") + axis.var->name;
  const TileSizes t = chooseTiles(target);
  std::string out = "tiled contraction " + def.target->name + ": GEMM with m = " + names(c.m) +
                    ", n = " + def.indices[c.n].var->name + " (contiguous stores), k = " + k +
                    ", outer = " + names(c.outer) + "\n";
  out += t.str() + ": MR x NR accumulators in " + std::to_string(target.vectorBits) +
         "-bit registers with broadcast FMAs, KC from half of L1 (" +
         std::to_string(target.l1Bytes / 1024) + " KiB), NC from half of L2 (" +
         std::to_string(target.l2Bytes / 1024) + " KiB)\n";
  if (t.tailRows > 0 && t.tailRows < t.mr)
    out += "last row panel: the " + std::to_string(t.tailRows) + "x" + std::to_string(t.nr) +
           " micro-kernel when at most " + std::to_string(t.tailRows) +
           " rows remain (fewer rows " + "computed past M)\n";
  // Per operand: read in place always (a true condition), never (false or none), or when the
  // condition holds at run time.
  struct Operand {
    std::string name, packed, why;
    Expr inPlace;
  };
  Operand a{"A",
            "A in " + std::to_string(t.mr) + "-row panels " +
                (!aPackedPerKBlock(c) ? std::string("once")
                 : c.outer.empty()    ? std::string("per KC block")
                                      : std::string("per KC block of each outer point")),
            "its rows do not crowd one set of the " + std::to_string(target.l1Ways) + "-way L1",
            lhsInPlaceCondition(c, t, target)};
  Operand b{"B", "B in " + std::to_string(t.nr) + "-column panels per KC x NC block",
            "one KC x NC block of whole " + std::to_string(t.nr) +
                "-column panels, which every row panel sweeps from L2 packed or not",
            rhsInPlaceCondition(c, t)};
  if (a.inPlace && b.inPlace) { // B in place only with A (see TileLowering::lower).
    b.inPlace = binary(BinaryOp::And, a.inPlace, b.inPlace);
    b.why += ", with A read in place";
  }
  // The condition folded: the constant it may be lives as long as `folded`.
  auto always = [](const Operand &o) {
    Expr folded = o.inPlace ? simplify(o.inPlace) : nullptr;
    const IntImm *known = folded ? as<IntImm>(folded) : nullptr;
    return known && known->value;
  };
  auto text = [&](const Operand &o, const Expr &factor) {
    Expr folded = o.inPlace ? simplify(o.inPlace) : nullptr;
    const IntImm *known = folded ? as<IntImm>(folded) : nullptr;
    if (!o.inPlace || (known && !known->value))
      return o.packed;
    std::string read =
        o.name + " (" + as<Access>(factor)->buffer->name + ") read in place by the micro-kernel";
    if (known)
      return read + ", never packed (" + o.why + ")";
    return read + " when " + toString(folded) + " (" + o.why + "), else " + o.packed;
  };
  if (always(a) && always(b))
    out += "packing: none: A (" + as<Access>(c.lhs)->buffer->name + ") and B (" +
           as<Access>(c.rhs)->buffer->name + ") read in place by the micro-kernel (A: " + a.why +
           "; B: " + b.why + ")\n";
  else
    out += "packing: " + text(a, c.lhs) + "; " + text(b, c.rhs) + "; edges masked\n";
  std::string padded;
  for (const Expr &factor : {c.lhs, c.rhs})
    for (const Access *a : accessesIn(factor))
      if (a->fallback)
        padded += (padded.empty() ? "" : ", ") + a->buffer->name;
  if (!padded.empty())
    out += "border: " + padded +
           " read with its ?? default outside its bounds while packing (a zero-padded window), "
           "so the micro-kernel has no guards\n";
  // A window of the next group's tiles (tileContractionConsumers), outside any row chain.
  size_t at = static_cast<size_t>(c.def - fused.kernel.defs.data());
  bool inTiles = fused.storage[at] == Storage::Window &&
                 std::none_of(fused.chains.begin(), fused.chains.end(), [&](const RowChain &chain) {
                   return fused.groups[chain.first].members.front() <= at &&
                          at <= fused.groups[chain.last].members.back();
                 });
  if (inTiles)
    out += "tiles: computed per tile of the next group, the rows of its outer index " +
           def.indices[c.outer.back()].var->name +
           " that the tile reads, into windows (never stored whole); serial inside a tile, the "
           "tiles being the parallel loop\n";
  else if (target.threads <= 1)
    out += "threads: serial (one thread)\n";
  else if (c.outer.empty())
    out += "threads: the row panels of each block split over " + std::to_string(target.threads) +
           " threads (static; same summation order at any thread count)\n";
  else
    out += "threads: outer points split over " + std::to_string(target.threads) +
           " threads when there are at least " + std::to_string(2 * target.threads) +
           ", else the row panels of each block (static; same summation order at any thread "
           "count)\n";
  if (!group.epilogue.empty()) {
    std::string epilogue;
    for (size_t d : group.epilogue)
      epilogue += (epilogue.empty() ? "" : ", ") + fused.kernel.defs[d].target->name;
    out += "epilogue: " + epilogue + " on the finished sums, before the store" +
           (group.storeContraction ? " (the sums are stored too)" : "") + "\n";
  }
  return out;
}

Stmt lowerTiledGroup(const FusedKernel &fused, const FusedGroup &group, const CpuTarget &target) {
  std::string why;
  std::optional<TiledGroup> tg = matchTiledGroup(fused, group, why);
  if (!tg)
    return nullptr;
  return TileLowering(fused, *tg, target, nullptr).lower();
}

namespace {

TiledGroup tiledGroupOf(const FusedKernel &fused, const FusedGroup &group) {
  std::string why;
  std::optional<TiledGroup> tg = matchTiledGroup(fused, group, why);
  TDSL_CHECK(tg) << "a row chain's contraction that is not tiled: " << why;
  return *tg;
}

CpuTarget serialTarget(const CpuTarget &target) {
  CpuTarget serial = target;
  serial.threads = 1;
  return serial;
}

} // namespace

PackedOperand packTiledOperand(const FusedKernel &fused, const FusedGroup &group,
                               const CpuTarget &target, const RowBlock &block, ForKind kind) {
  TiledGroup tg = tiledGroupOf(fused, group);
  const CpuTarget serial = serialTarget(target); // Outlives `lowering`, which refers to it.
  TileLowering lowering(fused, tg, serial, &block);
  PackedOperand packed;
  packed.buffer = makePanelBuffer("tile.b", {lowering.wholeBSize()});
  packed.pack = lowering.packWholeB(packed.buffer, kind);
  return packed;
}

Stmt lowerTiledOuterBlock(const FusedKernel &fused, const FusedGroup &group,
                          const CpuTarget &target, const OuterBlock &block) {
  TiledGroup tg = tiledGroupOf(fused, group);
  const CpuTarget serial = serialTarget(target); // Outlives `lowering`, which refers to it.
  TileLowering lowering(fused, tg, serial, nullptr, &block);
  return lowering.lower();
}

Stmt lowerTiledRows(const FusedKernel &fused, const FusedGroup &group, const CpuTarget &target,
                    const RowBlock &block, const Buffer &packedB) {
  TiledGroup tg = tiledGroupOf(fused, group);
  const CpuTarget serial = serialTarget(target); // Outlives `lowering`, which refers to it.
  TileLowering lowering(fused, tg, serial, &block);
  lowering.packedB = packedB;
  return lowering.lower();
}

} // namespace tdsl::passes
