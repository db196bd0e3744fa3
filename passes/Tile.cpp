// tile: a contraction as a packed, cache-blocked GEMM with a register-blocked micro-kernel.
//
// The loop nest (names as printed by `tdsl emit --stage=loops`):
//
//   Ap = A packed into row panels: Ap[(ib * K + k) * MR + r] = A[ib * MR + r, k], 0 past M
//   for ot in outer points:                       (batch indices, and indices only B reads)
//     for jb in n blocks of NC columns:           (a KC x NC block of B stays in L2)
//       for kb in k blocks of KC:                 (an MR x KC panel of A stays in L1)
//         Bp = B[k block, n block] packed into column panels: Bp[(p * KC + kk) * NR + v]
//         for ib in row panels of MR:             (parallel: a static split of the panels)
//           for p in column panels of NR:
//             acc[MR x NR] = 0                    (MR * NR / lanes vector registers)
//             for kk in k block: acc[r, :] += broadcast(Ap[.., r]) * Bp[.., :]   (r unrolled)
//             C[tile] = (kb == 0 ? 0 : C[tile]) + acc        (rows and columns masked)
//
// Packing makes every operand layout the same to the micro-kernel: a transposed operand, a
// convolution window or a strided view costs only in the packing loops, which touch each
// element of A once (per outer point when A reads one) and each element of B once per block.
// Padding lanes of the packed panels are never stored, so they need no zeroing. Each output
// element is summed in the same order (k blocks in order, k inside a block in order, one partial
// sum per block) whatever the thread count, so results are bit-identical across runs and threads.
#include "passes/Tile.h"

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

/// A factor of the contraction as loop-level code: index variables replaced, tensor reads
/// turned into loads (under `predicate` when set).
class FactorLowering : public IRMutator {
public:
  FactorLowering(std::map<const VarNode *, Expr> values, Expr predicate)
      : values(std::move(values)), predicate(std::move(predicate)) {}

protected:
  Expr visitVarRef(const VarRef *n, const Expr &self) override {
    auto it = values.find(n->var.get());
    return it == values.end() ? self : it->second;
  }
  Expr visitAccess(const Access *n, const Expr &) override {
    std::vector<Expr> indices;
    for (const Expr &i : n->indices)
      indices.push_back(mutate(i));
    return Load::make(n->buffer, flatIndex(n->buffer->shape, indices), predicate);
  }

private:
  std::map<const VarNode *, Expr> values;
  Expr predicate;
};

/// An epilogue value: index variables replaced, reads of the group's values replaced by them,
/// other reads turned into loads.
class EpilogueLowering : public IRMutator {
public:
  EpilogueLowering(const std::map<const VarNode *, Expr> &vars,
                   const std::map<const BufferNode *, Expr> &values)
      : vars(vars), values(values) {}

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
    return Load::make(n->buffer, flatIndex(n->buffer->shape, indices));
  }

private:
  const std::map<const VarNode *, Expr> &vars;
  const std::map<const BufferNode *, Expr> &values;
};

Expr lowerFactor(const Expr &factor, const std::map<const VarNode *, Expr> &values,
                 const Expr &predicate = nullptr) {
  return FactorLowering(values, predicate).mutate(factor);
}

struct TileLowering {
  const FusedKernel &fused;
  const TiledGroup &group;
  const Contraction &c;
  const CpuTarget &target;
  TileSizes t;
  const Definition &def;
  std::vector<Expr> mExtents, kExtents, outerExtents;
  Expr mExtent, nExtent, kExtent, outerExtent;
  std::vector<Expr> outerValues; // Per outer position, the value of that index.
  Buffer ap, bp;

  TileLowering(const FusedKernel &fused, const TiledGroup &group, const CpuTarget &target)
      : fused(fused), group(group), c(group.contraction), target(target), t(chooseTiles(target)),
        def(*c.def) {
    for (size_t p : c.m)
      mExtents.push_back(def.indices[p].extent);
    for (size_t p : c.outer)
      outerExtents.push_back(def.indices[p].extent);
    for (const IterVar &axis : c.k)
      kExtents.push_back(axis.extent);
    mExtent = product(mExtents);
    kExtent = product(kExtents);
    outerExtent = product(outerExtents);
    nExtent = def.indices[c.n].extent;
  }

  bool innerParallel = false;
  ForKind parallelKind() const { return innerParallel ? ForKind::Parallel : ForKind::Serial; }

  void bindOuter(std::map<const VarNode *, Expr> &values) const {
    for (size_t i = 0; i < c.outer.size(); ++i)
      values[def.indices[c.outer[i]].var.get()] = outerValues[i];
  }
  void bindK(std::map<const VarNode *, Expr> &values, const Expr &k) const {
    std::vector<Expr> ks = decompose(k, kExtents);
    for (size_t i = 0; i < c.k.size(); ++i)
      values[c.k[i].var.get()] = ks[i];
  }

  /// for ib: for k: Ap[(ib * K + k) * MR + r] = A[ib * MR + r, k] (0 past M), r unrolled.
  Stmt packA(const Expr &panels, ForKind kind) const {
    Var ib = loopVar("ib"), k = loopVar("k");
    std::vector<Stmt> rows;
    for (int r = 0; r < t.mr; ++r) {
      Expr m = add(mul(ref(ib), i64(t.mr)), i64(r));
      std::map<const VarNode *, Expr> values;
      bindOuter(values);
      bindK(values, ref(k));
      std::vector<Expr> ms = decompose(m, mExtents);
      for (size_t i = 0; i < c.m.size(); ++i)
        values[def.indices[c.m[i]].var.get()] = ms[i];
      Expr inRange = lt(m, mExtent);
      Expr value = Select::make(inRange, lowerFactor(c.lhs, values, inRange), floatImm(0.0));
      Expr index = add(mul(add(mul(ref(ib), kExtent), ref(k)), i64(t.mr)), i64(r));
      rows.push_back(Store::make(ap, index, value));
    }
    Stmt body = For::make(k, kExtent, ForKind::Serial, Block::make(rows));
    return For::make(ib, panels, kind, body);
  }

  /// Bp[(p * KC + kk) * NR + v] = B[k0 + kk, n0 + p * NR + v] for the columns below nc.
  Stmt packB(const Expr &n0, const Expr &nc, const Expr &k0, const Expr &kc) const {
    Var p = loopVar("p"), kk = loopVar("kk"), v = loopVar("v");
    Expr col = add(mul(ref(p), i64(t.nr)), ref(v));
    std::map<const VarNode *, Expr> values;
    bindOuter(values);
    bindK(values, add(k0, ref(kk)));
    values[def.indices[c.n].var.get()] = add(n0, col);
    Expr index = add(mul(add(mul(ref(p), ref(kStep)), ref(kk)), i64(t.nr)), ref(v));
    Stmt store = Store::make(bp, index, lowerFactor(c.rhs, values));
    Stmt lanes = For::make(v, i64(t.nr), ForKind::Vectorized, IfThenElse::make(lt(col, nc), store));
    Stmt body = For::make(kk, kc, ForKind::Serial, lanes);
    return For::make(p, ceilDiv(nc, i64(t.nr)), parallelKind(), body);
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
      stores.push_back(Store::make(def.target, flatIndex(def.target->shape, indices), sum));
    for (size_t e : group.epilogue) {
      const Definition &d = defs[e];
      std::map<const VarNode *, Expr> vars;
      for (size_t i = 0; i < d.indices.size(); ++i)
        vars[d.indices[i].var.get()] = indices[i];
      Expr value = EpilogueLowering(vars, values).mutate(d.value);
      Var let = makeVar(d.target->name, value->type, VarKind::Let);
      lets.emplace_back(let, value);
      values[d.target.get()] = ref(let);
      if (fused.storage[e] == Storage::Tensor)
        stores.push_back(Store::make(d.target, flatIndex(d.target->shape, indices), ref(let)));
    }
    Stmt body = Block::make(stores);
    for (size_t i = lets.size(); i-- > 0;)
      body = LetStmt::make(lets[i].first, lets[i].second, body);
    return body;
  }

  Stmt microKernel(const Var &ib, const Var &p, const Expr &n0, const Expr &nc, const Expr &k0,
                   const Expr &kc, const Var &kb, const Expr &kBlocks) const {
    Buffer acc = makeBuffer(std::string(kContractBufferPrefix), DType::F32,
                            {i64(int64_t{t.mr} * t.nr)}, BufferRole::Intermediate);
    auto lanes = [&](const Var &v, Stmt body) {
      return For::make(v, i64(t.nr), ForKind::Vectorized, std::move(body));
    };
    std::vector<Stmt> init, update;
    for (int r = 0; r < t.mr; ++r) {
      Var v = loopVar("v");
      init.push_back(lanes(v, Store::make(acc, add(i64(r * t.nr), ref(v)), floatImm(0.0))));
    }
    Var kk = loopVar("kk");
    for (int r = 0; r < t.mr; ++r) {
      Var v = loopVar("v");
      Expr slot = add(i64(r * t.nr), ref(v));
      Expr a =
          Load::make(ap, add(mul(add(mul(ref(ib), kExtent), add(k0, ref(kk))), i64(t.mr)), i64(r)));
      Expr b = Load::make(bp, add(mul(add(mul(ref(p), ref(kStep)), ref(kk)), i64(t.nr)), ref(v)));
      update.push_back(lanes(v, Store::make(acc, slot, add(Load::make(acc, slot), mul(a, b)))));
    }
    Stmt loop = For::make(kk, kc, ForKind::Serial, Block::make(update));

    // Per row r, per lane: partial sums into `group.partial` for every k block but the last;
    // in the last, the finished sum through the epilogue into each stored tensor.
    auto stores = [&](bool first, bool last) {
      std::vector<Stmt> rows;
      for (int r = 0; r < t.mr; ++r) {
        Var v = loopVar("v");
        Expr m = add(mul(ref(ib), i64(t.mr)), i64(r));
        Expr col = add(mul(ref(p), i64(t.nr)), ref(v));
        std::vector<Expr> indices(def.indices.size(), i64(0));
        for (size_t i = 0; i < c.outer.size(); ++i)
          indices[c.outer[i]] = outerValues[i];
        std::vector<Expr> ms = decompose(m, mExtents);
        for (size_t i = 0; i < c.m.size(); ++i)
          indices[c.m[i]] = ms[i];
        indices[c.n] = add(n0, col);
        Expr partialIndex = flatIndex(group.partial->shape, indices);
        Expr sum = Load::make(acc, add(i64(r * t.nr), ref(v)));
        if (!first)
          sum = add(Load::make(group.partial, partialIndex), sum);
        Stmt body;
        if (!last)
          body = Store::make(group.partial, partialIndex, sum);
        else
          body = epilogueStores(sum, indices);
        Stmt store = IfThenElse::make(lt(col, nc), body);
        rows.push_back(IfThenElse::make(lt(m, mExtent), lanes(v, store)));
      }
      return Block::make(rows);
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
    Expr panels = ref(panelsVar);
    ap = makeBuffer("tile.a", DType::F32, {mul(mul(panels, i64(t.mr)), kExtent)},
                    BufferRole::Intermediate);
    // One block of B: at most KC x NC, less for a small contraction.
    bp = makeBuffer("tile.b", DType::F32, {mul(ref(kStep), ref(nStep))}, BufferRole::Intermediate);
    Var ot = loopVar("ot"), chunk = letVar("ot.chunk"), thread = loopVar("thread");
    Expr point = ref(ot);
    if (outerParallel)
      point = add(mul(ref(thread), ref(chunk)), ref(ot));
    outerValues = decompose(point, outerExtents);

    // Blocks of equal size (rounded up to whole panels): no thin last block.
    Var jb = loopVar("jb"), kb = loopVar("kb"), ib = loopVar("ib"), p = loopVar("p");
    Expr n0 = mul(ref(jb), ref(nStep)), k0 = mul(ref(kb), ref(kStep));
    Var ncVar = letVar("nc"), kcVar = letVar("kc");
    Expr nc = ref(ncVar), kc = ref(kcVar);

    Stmt tile = For::make(p, ceilDiv(nc, i64(t.nr)), ForKind::Serial,
                          microKernel(ib, p, n0, nc, k0, kc, kb, ref(kBlocks)));
    Stmt kBody = Block::make({packB(n0, nc, k0, kc), For::make(ib, panels, parallelKind(), tile)});
    kBody = LetStmt::make(kcVar, minOf(ref(kStep), sub(kExtent, k0)), kBody);
    Stmt nBody = For::make(kb, ref(kBlocks), ForKind::Serial, kBody);
    nBody = LetStmt::make(ncVar, minOf(ref(nStep), sub(nExtent, n0)), nBody);
    Stmt outerBody = For::make(jb, ref(nBlocks), ForKind::Serial, nBody);
    if (c.lhsReadsOuter)
      outerBody = Block::make({packA(panels, parallelKind()), outerBody});
    if (!outerParallel) {
      Stmt body = For::make(ot, outerExtent, ForKind::Serial, outerBody);
      body = Allocate::make(bp, MemoryScope::Heap, body);
      if (c.lhsReadsOuter)
        return Allocate::make(ap, MemoryScope::Heap, body);
      ForKind kind = target.threads > 1 ? ForKind::Parallel : ForKind::Serial;
      return Allocate::make(ap, MemoryScope::Heap, Block::make({packA(panels, kind), body}));
    }
    Expr count = minOf(ref(chunk), sub(outerExtent, mul(ref(thread), ref(chunk))));
    Stmt body = For::make(ot, count, ForKind::Serial, outerBody);
    body = Allocate::make(bp, MemoryScope::Heap, body);
    if (c.lhsReadsOuter)
      body = Allocate::make(ap, MemoryScope::Heap, body);
    body = For::make(thread, i64(target.threads), ForKind::Parallel, body);
    body = LetStmt::make(chunk, ceilDiv(outerExtent, i64(target.threads)), body);
    if (!c.lhsReadsOuter)
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
    Expr nb = ceilDiv(nExtent, i64(t.nc));
    Expr kbs = binary(BinaryOp::Max, i64(1), ceilDiv(kExtent, i64(t.kc)));
    body = LetStmt::make(kStep, ceilDiv(kExtent, ref(kBlocks)), body);
    body = LetStmt::make(kBlocks, kbs, body);
    body = LetStmt::make(nStep, mul(ceilDiv(ceilDiv(nExtent, ref(nBlocks)), i64(t.nr)), i64(t.nr)),
                         body);
    body = LetStmt::make(nBlocks, nb, body);
    return LetStmt::make(panelsVar, ceilDiv(mExtent, i64(t.mr)), body);
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
  out += "packing: A in " + std::to_string(t.mr) + "-row panels " +
         (c.lhsReadsOuter ? "per outer point" : "once") + ", B in " + std::to_string(t.nr) +
         "-column panels per KC x NC block; edges masked\n";
  if (target.threads <= 1)
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
  return TileLowering(fused, *tg, target).lower();
}

} // namespace tdsl::passes
