// The textual outputs of the CPU backend: LLVM IR before and after O3, host assembly, and the
// host description that schedules read.
#include "LlvmTestUtil.h"

#include "codegen/llvm/LlvmOptions.h"

#include <gtest/gtest.h>

#include <string>

namespace tdsl::test {
namespace {

/// Passes when `text` contains `needle`; on failure prints the text.
::testing::AssertionResult contains(const std::string &text, const std::string &needle) {
  if (text.find(needle) != std::string::npos)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "no \"" << needle << "\" in:\n" << text;
}

/// y[i*16 .. i*16+15] = a[...] * 2 + b[...], with 16-lane ramps over N / 16 vectors.
LoweredFunc vectorKernel(const std::string &name, DType dtype = DType::F32) {
  Var n = symbolVar("N");
  Buffer a = makeBuffer("a", dtype, {ir::ref(n)}, BufferRole::Input);
  Buffer b = makeBuffer("b", dtype, {ir::ref(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {ir::ref(n)}, BufferRole::Output);
  return elementwiseKernel(name, {a, b},
                           {{y,
                             [](const std::vector<Expr> &v) {
                               Type f32 = v[0]->type.withDType(DType::F32);
                               Expr x = Cast::make(f32, v[0]), z = Cast::make(f32, v[1]);
                               return add(mul(x, Broadcast::make(floatImm(2.0), 16)), z);
                             }}},
                           16, n);
}

TEST(LlvmEmit, UnoptimizedIrFollowsTheCallingConvention) {
  std::string ir = codegen::emitLlvmIr(vectorKernel("axpy"), /*optimized=*/false);
  EXPECT_TRUE(contains(ir, "define void @axpy(ptr"));
  EXPECT_TRUE(contains(ir, "define internal void @axpy.body(ptr noalias"));
  EXPECT_TRUE(contains(ir, "load <16 x float>"));
  EXPECT_TRUE(contains(ir, "store <16 x float>"));
  EXPECT_TRUE(contains(ir, "\"target-cpu\"=\"" + codegen::hostCpuInfo().cpuName + "\""));
}

TEST(LlvmEmit, OptimizedIrKeepsSixteenLaneVectors) {
  std::string ir = codegen::emitLlvmIr(vectorKernel("axpy"));
  EXPECT_TRUE(contains(ir, "define void @axpy("));
  EXPECT_TRUE(contains(ir, "<16 x float>"));
  EXPECT_FALSE(contains(ir, "@axpy.body")); // Inlined into the entry point.
}

TEST(LlvmEmit, ScalarLoopIsVectorizedWithoutAliasChecks) {
  Var n = symbolVar("N");
  Buffer a = makeBuffer("a", DType::F32, {ir::ref(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {ir::ref(n)}, BufferRole::Output);
  std::string ir = codegen::emitLlvmIr(elementwiseKernel(
      "scale", {a}, {{y, [](const std::vector<Expr> &v) { return mul(v[0], floatImm(3.0)); }}}, 1,
      n));
  EXPECT_TRUE(contains(ir, "fmul <"));
  // noalias buffers: the vectorizer needs no runtime overlap test.
  EXPECT_FALSE(contains(ir, "vector.memcheck"));
}

TEST(LlvmEmit, PredicatesBecomeMaskedIntrinsics) {
  Var n = symbolVar("N"), i = loopVar("i");
  Buffer a = makeBuffer("a", DType::F32, {ir::ref(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {ir::ref(n)}, BufferRole::Output);
  Expr idx = Ramp::make(mul(ir::ref(i), i64(8)), i64(1), 8);
  Expr strided = Ramp::make(ir::ref(i), i64(3), 8);
  Expr pred = bin(BinaryOp::Lt, idx, Broadcast::make(ir::ref(n), 8));
  Stmt body =
      For::make(i, ir::ref(n), ForKind::Serial,
                Store::make(y, idx, add(Load::make(a, idx, pred), Load::make(a, strided)), pred));
  std::string ir = codegen::emitLlvmIr(LoweredFunc{"masked", {a, y}, {n}, body}, false);
  EXPECT_TRUE(contains(ir, "@llvm.masked.load.v8f32"));
  EXPECT_TRUE(contains(ir, "@llvm.masked.gather.v8f32"));
  EXPECT_TRUE(contains(ir, "@llvm.masked.store.v8f32"));
}

TEST(LlvmEmit, GuardedStridedReadsAreMaskedLoadsOfTheirSpan) {
  // A guarded read of every 2nd element (pooling a padded tensor): one masked load of the 16
  // elements it spans and a shuffle, not a gather; an unguarded one stays a gather.
  Var n = symbolVar("N"), i = loopVar("i");
  Buffer a = makeBuffer("a", DType::F32, {ir::ref(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {ir::ref(n)}, BufferRole::Output);
  Expr idx = Ramp::make(mul(ir::ref(i), i64(8)), i64(1), 8);
  Expr strided = Ramp::make(mul(ir::ref(i), i64(16)), i64(2), 8);
  Expr pred = bin(BinaryOp::Lt, strided, Broadcast::make(ir::ref(n), 8));
  Stmt body = For::make(i, ir::ref(n), ForKind::Serial,
                        Store::make(y, idx, Load::make(a, strided, pred), pred));
  std::string ir = codegen::emitLlvmIr(LoweredFunc{"pool", {a, y}, {n}, body}, false);
  EXPECT_TRUE(contains(ir, "@llvm.masked.load.v16f32"));
  EXPECT_FALSE(contains(ir, "gather"));
}

TEST(LlvmEmit, HalfConversionsUseF16CWhenAllowed) {
  LoweredFunc f = vectorKernel("from_f16", DType::F16);
  EXPECT_FALSE(contains(codegen::emitLlvmIr(f, false, baselineX86()), "half")); // No F16C.
  codegen::LlvmCodeGenOptions bitOps;
  bitOps.hardwareHalf = false;
  EXPECT_FALSE(contains(codegen::emitLlvmIr(f, false, bitOps), "half"));
  if (codegen::hostCpuInfo().features.find("+f16c") != std::string::npos) {
    EXPECT_TRUE(contains(codegen::emitLlvmIr(f, false), "fpext <16 x half>"));
  }
}

TEST(LlvmEmit, AssemblyNamesTheFunction) {
  std::string assembly = codegen::emitAssembly(vectorKernel("axpy"));
  EXPECT_TRUE(contains(assembly, "axpy:"));
  if (codegen::hostCpuInfo().vectorBits == 512) {
    EXPECT_TRUE(contains(assembly, "zmm"));
  } else if (codegen::hostCpuInfo().vectorBits == 256) {
    EXPECT_TRUE(contains(assembly, "ymm"));
  }
}

TEST(LlvmEmit, BaselineAssemblyUsesOnlySse) {
  std::string assembly = codegen::emitAssembly(vectorKernel("axpy"), baselineX86());
  EXPECT_TRUE(contains(assembly, "xmm"));
  EXPECT_FALSE(contains(assembly, "ymm"));
  EXPECT_FALSE(contains(assembly, "zmm"));
}

TEST(LlvmEmit, NamesAreSanitized) {
  std::string ir = codegen::emitLlvmIr(vectorKernel("my-kernel.v2"), false);
  EXPECT_TRUE(contains(ir, "define void @my_kernel_v2("));
  ir = codegen::emitLlvmIr(vectorKernel("2d"), false);
  EXPECT_TRUE(contains(ir, "define void @k_2d("));
}

TEST(LlvmEmit, HostCpuInfoIsConsistent) {
  codegen::CpuInfo info = codegen::hostCpuInfo();
  EXPECT_FALSE(info.cpuName.empty());
  bool avx512 =
      info.features.find("+avx512f,") != std::string::npos || info.features.ends_with("+avx512f");
  bool avx2 = info.features.find("+avx2,") != std::string::npos || info.features.ends_with("+avx2");
  EXPECT_EQ(info.vectorBits, avx512 ? 512 : avx2 ? 256 : 128);
}

} // namespace
} // namespace tdsl::test
