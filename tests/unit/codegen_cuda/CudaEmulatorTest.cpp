// The CPU's model of the CUDA execution model (codegen/cuda/CudaEmulator.h) on hand-built GPU
// kernels: barriers and warp shuffles with their CUDA meaning, and threads that wait at
// different barriers reported instead of hanging.
#include "codegen/cuda/CudaEmulator.h"
#include "codegen/cuda/CudaBackend.h"
#include "tdsl/Diagnostics.h"

#include <gtest/gtest.h>

namespace tdsl::codegen {
namespace {

using namespace ir;

// The model's fibers switch stacks behind the sanitizers' back.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

/// One block of 64 threads over y: f32[64] from x: f32[64]; `body(thread)` is its threads' code.
struct OneBlock {
  Buffer x = makeBuffer("x", DType::F32, {intImm(64)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {intImm(64)}, BufferRole::Output);
  Var block = makeVar("block", Type::i64(), VarKind::Loop);
  Var thread = makeVar("thread", Type::i64(), VarKind::Loop);

  /// Runs the kernel on x = 0, 1, ..., 63 and returns y.
  std::vector<float> run(const Stmt &body, const std::vector<Buffer> &shared = {}) {
    Stmt inner = For::make(thread, intImm(64), ForKind::GpuThread, body);
    for (const Buffer &b : shared)
      inner = Allocate::make(b, MemoryScope::Shared, inner);
    Stmt nest = For::make(block, intImm(1), ForKind::GpuBlock, inner);
    LoweredFunc func{"k", {x, y}, {}, GpuLaunch::make("k_k0", GpuScheduleKind::Generic, {}, nest)};
    EmulatedCudaKernel kernel(func, emitCuda(func), "test");
    Tensor in = Tensor::zeros({64}, DType::F32), out = Tensor::zeros({64}, DType::F32);
    for (int i = 0; i < 64; ++i)
      static_cast<float *>(in.data())[i] = static_cast<float>(i);
    kernel.run({in}, {out}, nullptr);
    const float *o = static_cast<const float *>(out.data());
    return std::vector<float>(o, o + 64);
  }
};

TEST(CudaEmulator, ShufflesExchangeWithinAWarp) {
  if (kSanitized)
    GTEST_SKIP() << "not under the sanitizers";
  OneBlock b;
  Expr mine = Load::make(b.x, ref(b.thread));
  Var other = makeVar("other", Type::scalar(DType::F32), VarKind::Let);
  std::vector<float> y = b.run(LetStmt::make(other, WarpShuffle::make(mine, 1),
                                             Store::make(b.y, ref(b.thread), ref(other))));
  for (int t = 0; t < 64; ++t)
    EXPECT_EQ(y[t], static_cast<float>(t ^ 1)) << "thread " << t;
}

TEST(CudaEmulator, ABarrierMakesSharedWritesVisible) {
  if (kSanitized)
    GTEST_SKIP() << "not under the sanitizers";
  OneBlock b;
  Buffer tile = makeBuffer("tile", DType::F32, {intImm(64)}, BufferRole::Intermediate);
  Expr reversed = sub(intImm(63), ref(b.thread));
  // Each thread reads what another one wrote: right only after the barrier.
  std::vector<float> y =
      b.run(Block::make({Store::make(tile, ref(b.thread), Load::make(b.x, ref(b.thread))),
                         Barrier::make(BarrierScope::Block),
                         Store::make(b.y, ref(b.thread), Load::make(tile, reversed))}),
            {tile});
  for (int t = 0; t < 64; ++t)
    EXPECT_EQ(y[t], static_cast<float>(63 - t)) << "thread " << t;
}

TEST(CudaEmulator, ThreadsAtDifferentBarriersAreAnError) {
  if (kSanitized)
    GTEST_SKIP() << "not under the sanitizers";
  OneBlock b;
  // Half the block waits at a barrier the other half never reaches.
  Stmt divergent = Block::make(
      {IfThenElse::make(Binary::make(BinaryOp::Lt, ref(b.thread), intImm(16)),
                        Barrier::make(BarrierScope::Block), Barrier::make(BarrierScope::Warp)),
       Store::make(b.y, ref(b.thread), Load::make(b.x, ref(b.thread)))});
  try {
    (void)b.run(divergent);
    FAIL() << "no error";
  } catch (const RuntimeError &e) {
    EXPECT_NE(std::string(e.what()).find("wait at different barriers"), std::string::npos)
        << e.what();
  }
}

// The prelude's helpers run, the wgmma helpers after it among them (their PTX is the GPU's
// branch; GpuSchedule.MmaSyncContractionsMatchTheInterpreter and
// WgmmaContractionsMatchTheInterpreter check the model's layouts through the contractions);
// inline PTX in a kernel does not.
TEST(CudaEmulator, KernelsWithInlinePtxAreRefused) {
  EXPECT_TRUE(emulationCanRun("// ---- end of prelude ----\nextern \"C\" void k() {}"));
  EXPECT_TRUE(emulationCanRun("// ---- end of prelude ----\n  tdsl_mma_sync_bf16(d, a, b);"));
  EXPECT_TRUE(emulationCanRun("// ---- end of prelude ----\n  asm volatile(\"wgmma\");\n"
                              "// ---- end of prelude ----\n  tdsl_wgmma_bf16_kmajor(d, a, b);"));
  EXPECT_FALSE(emulationCanRun("// ---- end of prelude ----\n  asm volatile(\"wgmma\");"));
}

} // namespace
} // namespace tdsl::codegen
