// The verifiers accept well-formed IR of their level and reject broken IR with a message that
// names the problem and shows the offending node.
#include "ir/Verifier.h"
#include "IrTestUtil.h"
#include "ir/IRPrinter.h"
#include "support/Check.h"

#include <gtest/gtest.h>

namespace tdsl::ir {
namespace {

using namespace test;

/// The message of the InternalError that `f` throws, or "" when it does not throw.
template <typename F> std::string failure(F f) {
  try {
    f();
  } catch (const InternalError &e) {
    return e.what();
  }
  return "";
}

#define EXPECT_REJECTED(call, ...)                                                                 \
  do {                                                                                             \
    std::string msg = failure([&] { call; });                                                      \
    for (const char *part : {__VA_ARGS__})                                                         \
      EXPECT_NE(msg.find(part), std::string::npos) << "missing \"" << part << "\" in: " << msg;    \
  } while (0)

/// y[i] = x[i] + 1 over N, with hooks to break it.
struct Simple {
  KernelBuilder kb{"simple"};
  Var n = kb.sym("N");
  Buffer x = kb.input("x", DType::F32, {vr(n)});
  Buffer y = kb.output("y", DType::F32, {vr(n)});
  Var i = KernelBuilder::index("i");
};

TEST(Verifier, AcceptsWellFormedKernel) {
  Simple s;
  Buffer t = KernelBuilder::temp("t", DType::F16, {vr(s.n)});
  Var k = KernelBuilder::index("k"), j = KernelBuilder::index("j");
  s.kb.def(t, {s.i}, cast(DType::F16, at(s.x, {vr(s.i)})));
  Expr tk = cast(DType::F32, at(t, {vr(k)}, floatImm(0.0, DType::F16)));
  s.kb.def(s.y, {j},
           add(cast(DType::F32, at(t, {vr(j)})), reduceOver(ReduceOp::Max, {{k, vr(s.n)}}, tk)));
  EXPECT_EQ(failure([&] { verify(s.kb.k); }), "");
}

TEST(Verifier, RejectsUnboundVariable) {
  Simple s;
  Var stray = KernelBuilder::index("k");
  s.kb.def(s.y, {s.i}, at(s.x, {vr(stray)}));
  EXPECT_REJECTED(verify(s.kb.k), "kernel simple, definition of y", "variable k is not bound here",
                  "in: k", "within: x[k]");
}

TEST(Verifier, RejectsLoopNodesAtTensorLevel) {
  Simple s;
  s.kb.def(s.y, {s.i}, Load::make(s.x, vr(s.i)));
  EXPECT_REJECTED(verify(s.kb.k), "loop-level node at the tensor level", "in: x[i]");
}

TEST(Verifier, RejectsOutputsDefinedTwiceOrNever) {
  Simple twice;
  twice.kb.def(twice.y, {twice.i}, at(twice.x, {vr(twice.i)}));
  twice.kb.def(twice.y, {twice.i}, at(twice.x, {vr(twice.i)}));
  EXPECT_REJECTED(verify(twice.kb.k), "y is defined twice");
  Simple never;
  EXPECT_REJECTED(verify(never.kb.k), "output y is never defined");
}

TEST(Verifier, RejectsReadingALaterDefinition) {
  Simple s;
  Buffer t = KernelBuilder::temp("t", DType::F32, {vr(s.n)});
  Var j = KernelBuilder::index("j");
  s.kb.def(s.y, {s.i}, at(t, {vr(s.i)}));
  s.kb.def(t, {j}, at(s.x, {vr(j)}));
  EXPECT_REJECTED(verify(s.kb.k), "reads t, which is neither an input nor defined earlier");
}

TEST(Verifier, RejectsValueOfTheWrongType) {
  Simple s;
  Buffer h = s.kb.output("h", DType::F16, {vr(s.n)});
  Var j = KernelBuilder::index("j");
  s.kb.def(s.y, {s.i}, at(s.x, {vr(s.i)}));
  s.kb.def(h, {j}, at(s.x, {vr(j)})); // Needs Cast(f16, ...).
  EXPECT_REJECTED(verify(s.kb.k), "definition of h", "value of type f32 stored into f16 tensor h");
}

TEST(Verifier, RejectsArithmeticOnStorageTypes) {
  KernelBuilder kb("half");
  Var n = kb.sym("N");
  Buffer x = kb.input("x", DType::F16, {vr(n)});
  Buffer y = kb.output("y", DType::F16, {vr(n)});
  Var i = KernelBuilder::index("i");
  kb.def(y, {i}, add(at(x, {vr(i)}), at(x, {vr(i)})));
  EXPECT_REJECTED(verify(kb.k), "arithmetic on the storage type f16", "in: x[i] + x[i]");
}

TEST(Verifier, RejectsExtentThatDiffersFromTheTargetShape) {
  Simple s;
  Definition d;
  d.target = s.y;
  d.indices = {IterVar{s.i, add(vr(s.n), imm(1))}};
  d.value = at(s.x, {vr(s.i)}, fimm(0.0));
  s.kb.k.defs.push_back(d);
  EXPECT_REJECTED(verify(s.kb.k), "extent N + 1 of index i differs from dim 0 of y (N)");
}

TEST(Verifier, RejectsReboundReductionVariable) {
  Simple s;
  Expr inner = reduceOver(ReduceOp::Sum, {{s.i, vr(s.n)}}, at(s.x, {vr(s.i)}));
  s.kb.def(s.y, {s.i}, inner);
  EXPECT_REJECTED(verify(s.kb.k), "reduction variable i is already bound");
}

TEST(Verifier, RejectsNodesBuiltAroundMake) {
  // A pass that bypasses make() can build ill-typed nodes; the verifier still catches them.
  Simple s;
  Expr bad = std::make_shared<const Binary>(Type::scalar(DType::F32), BinaryOp::Add,
                                            at(s.x, {vr(s.i)}), imm(1));
  s.kb.def(s.y, {s.i}, bad);
  EXPECT_REJECTED(verify(s.kb.k), "operands of different types f32 and i64", "in: x[i] + 1");
}

// ---------------------------------------------------------------------------------------------
// Loop level.

struct Func {
  Var n = makeVar("N", Type::i64(), VarKind::Symbol);
  Buffer x = makeBuffer("x", DType::F32, {vr(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {vr(n)}, BufferRole::Output);
  Buffer t = makeBuffer("t", DType::F32, {vr(n)}, BufferRole::Intermediate);
  Var i = makeVar("i", Type::i64(), VarKind::Loop);
  LoweredFunc with(Stmt body) { return LoweredFunc{"f", {x, y}, {n}, std::move(body)}; }
};

TEST(Verifier, AcceptsWellFormedFunc) {
  Func f;
  Var j = makeVar("j", Type::i64(), VarKind::Loop),
      v = makeVar("v", Type::scalar(DType::F32), VarKind::Let);
  Stmt fill = For::make(f.i, vr(f.n), ForKind::Parallel,
                        Store::make(f.t, vr(f.i), Load::make(f.x, vr(f.i))));
  Stmt use = For::make(j, vr(f.n), ForKind::Serial,
                       LetStmt::make(v, Load::make(f.t, vr(j)),
                                     IfThenElse::make(bin(BinaryOp::Gt, vr(v), fimm(0.0)),
                                                      Store::make(f.y, vr(j), vr(v)),
                                                      Store::make(f.y, vr(j), fimm(0.0)))));
  Stmt vec = For::make(
      makeVar("i", Type::i64(), VarKind::Loop), imm(1), ForKind::Vectorized,
      Store::make(f.y, Ramp::make(imm(0), imm(1), 4), Broadcast::make(fimm(1.0), 4),
                  bin(BinaryOp::Lt, Ramp::make(imm(0), imm(1), 4), Broadcast::make(vr(f.n), 4))));
  EXPECT_EQ(failure([&] {
              verify(f.with(Allocate::make(f.t, MemoryScope::Heap, Block::make({fill, use, vec}))));
            }),
            "");
}

TEST(Verifier, RejectsUnboundLoopVariable) {
  Func f;
  Var j = makeVar("j", Type::i64(), VarKind::Loop);
  Stmt s = For::make(f.i, vr(f.n), ForKind::Serial, Store::make(f.y, vr(j), fimm(1.0)));
  EXPECT_REJECTED(verify(f.with(s)), "func f", "variable j is not bound here", "in: j");
}

TEST(Verifier, RejectsBufferOutsideItsAllocation) {
  Func f;
  Stmt s =
      For::make(f.i, vr(f.n), ForKind::Serial, Store::make(f.y, vr(f.i), Load::make(f.t, vr(f.i))));
  EXPECT_REJECTED(verify(f.with(s)), "load from t, which is neither a parameter nor allocated here",
                  "in: t[i]");
}

TEST(Verifier, RejectsStoreToInput) {
  Func f;
  Stmt s = For::make(f.i, vr(f.n), ForKind::Serial, Store::make(f.x, vr(f.i), fimm(0.0)));
  EXPECT_REJECTED(verify(f.with(s)), "store to the input x", "x[i] = 0.0");
}

TEST(Verifier, RejectsTensorNodesAtLoopLevel) {
  Func f;
  Stmt s = For::make(f.i, vr(f.n), ForKind::Serial, Store::make(f.y, vr(f.i), at(f.x, {vr(f.i)})));
  EXPECT_REJECTED(verify(f.with(s)), "tensor-level node at the loop level", "in: x[i]");
}

TEST(Verifier, RejectsRebindingAVariableInItsOwnScope) {
  Func f;
  Stmt s =
      For::make(f.i, vr(f.n), ForKind::Serial,
                For::make(f.i, vr(f.n), ForKind::Serial, Store::make(f.y, vr(f.i), fimm(0.0))));
  EXPECT_REJECTED(verify(f.with(s)), "variable i is already bound", "for i in [0, N) serial");
}

} // namespace
} // namespace tdsl::ir

namespace tdsl::ir {
namespace {

/// A GPU kernel over y: for block in [0, N) gpu_block { <shared> for thread in [0, threads)
/// gpu_thread { body } }.
struct GpuFunc : Func {
  Var block = makeVar("block", Type::i64(), VarKind::Loop);
  Var thread = makeVar("thread", Type::i64(), VarKind::Loop);
  Buffer shared = makeBuffer("s", DType::F32, {imm(32)}, BufferRole::Intermediate);

  LoweredFunc kernel(Stmt body, Expr threads = imm(32)) {
    Stmt t = For::make(thread, std::move(threads), ForKind::GpuThread, std::move(body));
    return with(
        For::make(block, vr(n), ForKind::GpuBlock, Allocate::make(shared, MemoryScope::Shared, t)));
  }
};

TEST(Verifier, AcceptsAGpuBlockWithBarriersShuffleAndSharedMemory) {
  GpuFunc f;
  Expr x = Load::make(f.x, vr(f.block));
  Var other = makeVar("other", Type::scalar(DType::F32), VarKind::Let);
  Stmt body = Block::make(
      {LetStmt::make(other, WarpShuffle::make(x, 16),
                     Store::make(f.shared, vr(f.thread), bin(BinaryOp::Add, x, vr(other)))),
       Barrier::make(BarrierScope::Block),
       IfThenElse::make(BufferAligned::make(f.y, 16),
                        Store::make(f.y, vr(f.block), Load::make(f.shared, imm(0))))});
  LoweredFunc k = f.kernel(body);
  EXPECT_EQ(failure([&] { verify(k); }), "");
  std::string text = toString(k);
  EXPECT_NE(text.find("warp_xor(x[block], 16)"), std::string::npos) << text;
  EXPECT_NE(text.find("barrier\n"), std::string::npos) << text;
  EXPECT_NE(text.find("if (aligned(y, 16))"), std::string::npos) << text;
  EXPECT_NE(text.find("allocate s: f32[32] shared"), std::string::npos) << text;
}

TEST(Verifier, RejectsGpuNodesOutsideTheBlocksThreads) {
  Func f;
  Stmt barrier = For::make(f.i, vr(f.n), ForKind::Serial, Barrier::make(BarrierScope::Block));
  EXPECT_REJECTED(verify(f.with(barrier)), "barrier outside a gpu_thread loop");
  Expr x = Load::make(f.x, vr(f.i));
  Var other = makeVar("other", Type::scalar(DType::F32), VarKind::Let);
  Stmt shuffle = For::make(
      f.i, vr(f.n), ForKind::Serial,
      LetStmt::make(other, WarpShuffle::make(x, 1), Store::make(f.y, vr(f.i), vr(other))));
  EXPECT_REJECTED(verify(f.with(shuffle)), "warp shuffle outside a gpu_thread loop");
  Stmt threads = For::make(f.i, imm(32), ForKind::GpuThread, Store::make(f.y, vr(f.i), x));
  EXPECT_REJECTED(verify(f.with(threads)), "gpu_thread loop outside a gpu_block loop");
}

TEST(Verifier, AcceptsGpuLaunchesAndPrintsTheirSchedule) {
  GpuFunc f;
  Stmt body = Store::make(f.y, vr(f.block), Load::make(f.x, vr(f.block)));
  Stmt nest = f.kernel(body).body;
  Var half = makeVar("half", Type::i64(), VarKind::Let);
  Stmt first = GpuLaunch::make("f_k0", GpuScheduleKind::Rows, {"a row a block"},
                               LetStmt::make(half, bin(BinaryOp::FloorDiv, vr(f.n), imm(2)), nest));
  LoweredFunc func = f.with(
      Block::make({first, GpuLaunch::make("f_k1", GpuScheduleKind::Generic, {}, f.kernel(body).body,
                                          bin(BinaryOp::Gt, vr(f.n), imm(0)), 2)}));
  EXPECT_EQ(failure([&] { verify(func); }), "");
  std::string text = toString(func);
  EXPECT_NE(text.find("  launch f_k0: rows\n    # a row a block\n    let half = N // 2\n"),
            std::string::npos)
      << text;
  // A launch's condition, then the blocks each SM must hold.
  EXPECT_NE(text.find("  launch f_k1: generic when N > 0 (2 blocks an SM)\n    for block in [0, N) "
                      "gpu_block\n"),
            std::string::npos)
      << text;
}

TEST(Verifier, RejectsMalformedGpuLaunches) {
  GpuFunc f;
  Stmt nest = f.kernel(Store::make(f.y, vr(f.block), Load::make(f.x, vr(f.block)))).body;
  auto launch = [&](const std::string &name, Stmt body) {
    return GpuLaunch::make(name, GpuScheduleKind::Generic, {}, std::move(body));
  };
  EXPECT_REJECTED(verify(f.with(Block::make({launch("f_k0", nest), launch("f_k0", nest)}))),
                  "two GPU launches named f_k0");
  EXPECT_REJECTED(verify(f.with(launch("f k0", nest))), "not an identifier");
  EXPECT_REJECTED(verify(f.with(Block::make({launch("f_k0", nest), nest}))),
                  "GPU launches beside other top-level statements");
  Stmt serial = For::make(f.i, imm(2), ForKind::Serial, launch("f_k0", nest));
  EXPECT_REJECTED(verify(f.with(serial)), "that is not a top-level statement");
  Stmt plain =
      For::make(f.i, vr(f.n), ForKind::Serial, Store::make(f.y, vr(f.i), Load::make(f.x, vr(f.i))));
  EXPECT_REJECTED(verify(f.with(launch("f_k0", plain))),
                  "whose body is not lets and heap allocations around a gpu_block loop");
  Stmt multiline = GpuLaunch::make("f_k0", GpuScheduleKind::Rows, {"one\ntwo"}, nest);
  EXPECT_REJECTED(verify(f.with(multiline)), "with a detail that is not one line");
}

TEST(Verifier, RejectsAShuffleSomeLanesMightSkip) {
  // `a || shuffle(a)` runs the shuffle only on lanes where a is false: the lanes that skip it
  // leave the others waiting for their values (the emulation found a bool reduction doing so).
  GpuFunc f;
  Buffer flags = makeBuffer("flags", DType::Bool, {imm(32)}, BufferRole::Intermediate);
  Expr a = Load::make(flags, vr(f.thread));
  Stmt body = Allocate::make(
      flags, MemoryScope::Stack,
      Store::make(flags, vr(f.thread), bin(BinaryOp::Or, a, WarpShuffle::make(a, 1))));
  EXPECT_REJECTED(verify(f.kernel(body)), "warp shuffle that is not a let's whole value");
}

TEST(Verifier, RejectsABlockOfThreadsItCannotLaunch) {
  GpuFunc f;
  Stmt store = Store::make(f.y, vr(f.block), fimm(0.0));
  EXPECT_REJECTED(verify(f.kernel(store, vr(f.n))),
                  "gpu_thread loop whose extent is not a constant in [1, 1024]");
  EXPECT_REJECTED(verify(f.kernel(store, imm(2048))),
                  "gpu_thread loop whose extent is not a constant in [1, 1024]");
  // Shared memory belongs to the block, not to one thread.
  Buffer mine = makeBuffer("mine", DType::F32, {imm(4)}, BufferRole::Intermediate);
  Stmt perThread = Allocate::make(mine, MemoryScope::Shared, store);
  EXPECT_REJECTED(verify(f.kernel(perThread)), "shared allocation of mine outside a block's scope");
  // A kernel inside a kernel.
  Stmt nested =
      For::make(makeVar("b2", Type::i64(), VarKind::Loop), imm(2), ForKind::GpuBlock, store);
  EXPECT_REJECTED(verify(f.kernel(nested)), "gpu_block loop inside a GPU loop");
}

/// Stack fragments for mma_sync (d f32[4], a bf16[8], b of `bType`[4]) around a body.
struct MmaOperands {
  Buffer d = makeBuffer("d", DType::F32, {imm(4)}, BufferRole::Intermediate);
  Buffer a = makeBuffer("fa", DType::BF16, {imm(8)}, BufferRole::Intermediate);
  Buffer b;
  explicit MmaOperands(DType bType = DType::BF16)
      : b(makeBuffer("fb", bType, {imm(4)}, BufferRole::Intermediate)) {}
  Stmt mma() const {
    return GpuIntrinsic::make(GpuOp::MmaSync, {d, a, b}, {imm(0), imm(0), imm(0)});
  }
  Stmt around(Stmt body) const {
    return Allocate::make(d, MemoryScope::Stack,
                          Allocate::make(a, MemoryScope::Stack,
                                         Allocate::make(b, MemoryScope::Stack, std::move(body))));
  }
};

TEST(Verifier, AcceptsAnMmaOnStackFragments) {
  GpuFunc f;
  MmaOperands m;
  LoweredFunc k = f.kernel(m.around(m.mma()));
  EXPECT_EQ(failure([&] { verify(k); }), "");
  std::string text = toString(k);
  EXPECT_NE(text.find("mma_sync(d[0], fa[0], fb[0])"), std::string::npos) << text;
}

TEST(Verifier, RejectsAnMmaOutsideTheThreadsOrOnOtherOperands) {
  MmaOperands m;
  Func f;
  Stmt serial = For::make(f.i, vr(f.n), ForKind::Serial, m.around(m.mma()));
  EXPECT_REJECTED(verify(f.with(serial)), "GPU intrinsic outside a gpu_thread loop");
  GpuFunc g;
  MmaOperands mixed(DType::F16);
  EXPECT_REJECTED(verify(g.kernel(mixed.around(mixed.mma()))),
                  "mma_sync operands not f32 += (bf16|f16) x the same");
  // Fragments are registers: a shared tile is no operand.
  Stmt onShared =
      GpuIntrinsic::make(GpuOp::MmaSync, {g.shared, m.a, m.b}, {imm(0), imm(0), imm(0)});
  EXPECT_REJECTED(verify(g.kernel(m.around(onShared))), "mma_sync operands not stack fragments");
  Stmt bare = GpuIntrinsic::make(GpuOp::MmaSync, {m.d, m.a, m.b}, {imm(0), imm(0), imm(0)});
  EXPECT_REJECTED(verify(g.kernel(bare)), "GPU intrinsic operand not visible here");
}

TEST(Verifier, ChecksTheRoundingOpsOperands) {
  GpuFunc g;
  MmaOperands m; // d: f32[4], fa: bf16[8], fb: bf16[4].
  Stmt ops = Block::make({GpuIntrinsic::make(GpuOp::MaxNaN, {m.d, m.d}, {imm(0), imm(3)}),
                          GpuIntrinsic::make(GpuOp::Exp2Approx, {m.d, m.d}, {imm(1), imm(1)}),
                          GpuIntrinsic::make(GpuOp::RoundPair, {m.a, m.d}, {imm(2), imm(2)})});
  LoweredFunc k = g.kernel(m.around(ops));
  EXPECT_EQ(failure([&] { verify(k); }), "");
  std::string text = toString(k);
  EXPECT_NE(text.find("ex2_approx(d[1], d[1])"), std::string::npos) << text;
  EXPECT_NE(text.find("round_pair(fa[2], d[2])"), std::string::npos) << text;
  EXPECT_NE(text.find("max_nan(d[0], d[3])"), std::string::npos) << text;
  EXPECT_REJECTED(
      verify(g.kernel(m.around(GpuIntrinsic::make(GpuOp::MaxNaN, {m.a, m.d}, {imm(0), imm(0)})))),
      "max_nan operands not stack f32 values");
  EXPECT_REJECTED(verify(g.kernel(m.around(
                      GpuIntrinsic::make(GpuOp::RoundPair, {m.d, m.a}, {imm(0), imm(0)})))),
                  "round_pair operands not stack 16-bit values from stack f32 values");
  EXPECT_REJECTED(verify(g.kernel(m.around(
                      GpuIntrinsic::make(GpuOp::RoundPair, {g.shared, m.d}, {imm(0), imm(0)})))),
                  "round_pair operands not stack 16-bit values from stack f32 values");
  EXPECT_REJECTED(verify(g.kernel(m.around(
                      GpuIntrinsic::make(GpuOp::Exp2Approx, {m.d, m.a}, {imm(0), imm(0)})))),
                  "ex2_approx operands not stack f32 values");
}

TEST(Verifier, ChecksTheLdmatrixOperands) {
  GpuFunc g;
  MmaOperands m;
  Buffer tile = makeBuffer("tile", DType::BF16, {imm(512)}, BufferRole::Intermediate);
  auto kernel = [&](Stmt load) {
    Stmt t = For::make(g.thread, imm(32), ForKind::GpuThread, m.around(std::move(load)));
    return g.with(For::make(g.block, vr(g.n), ForKind::GpuBlock,
                            Allocate::make(tile, MemoryScope::Shared, t)));
  };
  LoweredFunc k = kernel(GpuIntrinsic::make(GpuOp::LoadMatrix, {m.a, tile}, {imm(0), imm(8)}, 4));
  EXPECT_EQ(failure([&] { verify(k); }), "");
  std::string text = toString(k);
  EXPECT_NE(text.find("ldmatrix(fa[0], tile[8], 4)"), std::string::npos) << text;
  const char *wrong = "ldmatrix operands not 4 matrices of a shared 16-bit tile into stack values "
                      "of its type";
  EXPECT_REJECTED(
      verify(kernel(GpuIntrinsic::make(GpuOp::LoadMatrix, {m.a, tile}, {imm(0), imm(0)}, 3))),
      wrong);
  EXPECT_REJECTED(
      verify(kernel(GpuIntrinsic::make(GpuOp::LoadMatrix, {m.d, tile}, {imm(0), imm(0)}, 4))),
      wrong);
  EXPECT_REJECTED(
      verify(kernel(GpuIntrinsic::make(GpuOp::LoadMatrix, {m.a, m.b}, {imm(0), imm(0)}, 4))),
      wrong);
  // The transposed load: the same operands.
  LoweredFunc trans =
      kernel(GpuIntrinsic::make(GpuOp::LoadMatrixTrans, {m.a, tile}, {imm(0), imm(16)}, 4));
  EXPECT_EQ(failure([&] { verify(trans); }), "");
  text = toString(trans);
  EXPECT_NE(text.find("ldmatrix_trans(fa[0], tile[16], 4)"), std::string::npos) << text;
  EXPECT_REJECTED(
      verify(kernel(GpuIntrinsic::make(GpuOp::LoadMatrixTrans, {m.a, tile}, {imm(0), imm(0)}, 2))),
      "ldmatrix_trans operands not 4 matrices of a shared 16-bit tile into stack values of its "
      "type");
}

TEST(Verifier, ChecksTheWgmmaOpsOperands) {
  GpuFunc f;
  Buffer tiles = makeBuffer("tiles", DType::BF16, {imm(8192)}, BufferRole::Intermediate);
  Buffer acc = makeBuffer("acc", DType::F32, {imm(128)}, BufferRole::Intermediate);
  Buffer a = makeBuffer("a", DType::BF16, {vr(f.n)}, BufferRole::Input);
  auto kernel = [&](Stmt body) {
    Stmt t = For::make(f.thread, imm(128), ForKind::GpuThread,
                       Allocate::make(acc, MemoryScope::Stack, std::move(body)));
    LoweredFunc k = f.with(For::make(f.block, vr(f.n), ForKind::GpuBlock,
                                     Allocate::make(tiles, MemoryScope::Shared, t)));
    k.params.insert(k.params.begin(), a);
    return k;
  };
  Stmt steps = Block::make(
      {GpuIntrinsic::make(GpuOp::CopyAsync, {tiles, a}, {imm(0), vr(f.block)}),
       GpuIntrinsic::make(GpuOp::CommitAsync), GpuIntrinsic::make(GpuOp::WaitAsync, {}, {}, 0),
       GpuIntrinsic::make(GpuOp::FenceAsync), Barrier::make(BarrierScope::Block),
       GpuIntrinsic::make(GpuOp::WgmmaFence, {acc}, {imm(0)}),
       GpuIntrinsic::make(GpuOp::Wgmma, {acc, tiles, tiles}, {imm(0), imm(0), imm(4096)}, 1),
       GpuIntrinsic::make(GpuOp::WgmmaCommit),
       GpuIntrinsic::make(GpuOp::WgmmaWait, {acc}, {imm(0)}, 0)});
  LoweredFunc k = kernel(steps);
  EXPECT_EQ(failure([&] { verify(k); }), "");
  std::string text = toString(k);
  EXPECT_NE(text.find("wgmma(acc[0], tiles[0], tiles[4096], 1)"), std::string::npos) << text;
  EXPECT_NE(text.find("cp_async_wait(0)"), std::string::npos) << text;
  // A heap intermediate is global memory too: a contraction may read one through cp.async.
  Buffer t = makeBuffer("t", DType::BF16, {vr(f.n)}, BufferRole::Intermediate);
  LoweredFunc fromHeap = f.with(Allocate::make(
      t, MemoryScope::Heap,
      For::make(f.block, vr(f.n), ForKind::GpuBlock,
                Allocate::make(tiles, MemoryScope::Shared,
                               For::make(f.thread, imm(128), ForKind::GpuThread,
                                         GpuIntrinsic::make(GpuOp::CopyAsync, {tiles, t},
                                                            {imm(0), vr(f.block)}))))));
  EXPECT_EQ(failure([&] { verify(fromHeap); }), "");
  // The copy goes from global memory into a shared tile, not the other way.
  Stmt backwards = GpuIntrinsic::make(GpuOp::CopyAsync, {a, tiles}, {vr(f.block), imm(0)});
  EXPECT_REJECTED(verify(kernel(backwards)),
                  "cp_async operands not a shared tile and 16-bit global memory");
  Stmt onStack = GpuIntrinsic::make(GpuOp::Wgmma, {acc, tiles, acc}, {imm(0), imm(0), imm(0)});
  EXPECT_REJECTED(verify(kernel(onStack)), "wgmma operands not f32 += (bf16|f16) x the same");
}

TEST(Verifier, ChecksTheDp4aOperands) {
  GpuFunc f;
  Buffer a = makeBuffer("a", DType::I8, {vr(f.n)}, BufferRole::Input);
  Buffer acc = makeBuffer("acc", DType::I32, {imm(1)}, BufferRole::Intermediate);
  auto kernel = [&](Stmt body) {
    LoweredFunc k = f.kernel(Allocate::make(acc, MemoryScope::Stack, std::move(body)));
    k.params.insert(k.params.begin(), a);
    return k;
  };
  LoweredFunc k = kernel(GpuIntrinsic::make(GpuOp::Dp4a, {acc, a, a}, {imm(0), imm(4), imm(8)}));
  EXPECT_EQ(failure([&] { verify(k); }), "");
  std::string text = toString(k);
  EXPECT_NE(text.find("dp4a(acc[0], a[4], a[8])"), std::string::npos) << text;
  // The sum is a register; the factors are i8 in global memory.
  Stmt intoGlobal = GpuIntrinsic::make(GpuOp::Dp4a, {a, a, a}, {imm(0), imm(0), imm(0)});
  EXPECT_REJECTED(verify(kernel(intoGlobal)),
                  "dp4a operands not a stack i32 += i8 x i8 of global memory");
  Stmt ofFloats = GpuIntrinsic::make(GpuOp::Dp4a, {acc, a, f.x}, {imm(0), imm(0), imm(0)});
  EXPECT_REJECTED(verify(kernel(ofFloats)),
                  "dp4a operands not a stack i32 += i8 x i8 of global memory");
  Stmt two = GpuIntrinsic::make(GpuOp::Dp4a, {acc, a}, {imm(0), imm(0)});
  EXPECT_REJECTED(verify(kernel(two)), "dp4a with other than 3 operands");
}

} // namespace
} // namespace tdsl::ir
