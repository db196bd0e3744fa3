// Two CPU code generation choices of language version 1 kernels, checked in the LLVM IR for a
// named CPU (not the host, so that every machine checks the same thing); tests/e2e runs both
// kernels against the interpreter on the host.
// - An i8, u8 or i16 dot product accumulating in i32 adds its products in groups
//   (CodeGenLlvm::integerDotAccumulate): where AVX-512 VNNI is present, four at a time for
//   u8 x i8 and i8 x i8 (vpdpbusd) and two for the others (vpdpwssd); two (vpmaddwd) with
//   AVX-512BW or AVX2; the plain multiply elsewhere. A sum of i32 lanes that is seen lane by
//   lane keeps the plain form.
// - A gather's row copy prefetches the row the next index names (prefetchNextGather).
#include "codegen/llvm/LlvmOptions.h"
#include "frontend/Frontend.h"
#include "passes/Pipeline.h"
#include "passes/Target.h"
#include "tdsl/Diagnostics.h"
#include "tdsl/tdsl.h"
#include "tests/unit/common/SuitePrograms.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <tuple>

namespace {

using namespace tdsl;

ir::LoweredFunc lowered(const std::string &text) {
  DiagnosticEngine diags;
  auto source = std::make_shared<const SourceFile>(SourceFile{"test.tdsl", text});
  std::optional<ir::Module> module = frontend::compileSource(source, diags);
  EXPECT_TRUE(module && !diags.hasErrors()) << text;
  passes::CpuTarget target; // x86-64-v4 (512-bit vectors), one thread
  return passes::lowerKernel(module->kernels.front(), target);
}

/// The unoptimized IR for a CPU and its features (the vector width follows the features).
std::string irFor(const ir::LoweredFunc &func, const std::string &cpu,
                  const std::string &features) {
  codegen::LlvmCodeGenOptions options;
  options.cpu = cpu;
  options.features = features;
  return codegen::emitLlvmIr(func, /*optimized=*/false, options);
}

const std::string kAvx512 = "+avx2,+avx512f,+avx512bw";
const std::string kVnni = kAvx512 + ",+avx512vnni";

constexpr const char *kDotI8 = R"(
kernel dot(w: i8[R, C], x: i8[C]) -> y: i32[R] {
    y[i] = sum(i32(w[i, k]) * i32(x[k]) for k)
}
)";

TEST(IntegerDot, InstructionsFollowTheCpu) {
  ir::LoweredFunc func = lowered(kDotI8);
  std::string vnni = irFor(func, "znver4", kVnni);
  EXPECT_NE(vnni.find("@llvm.x86.avx512.vpdpbusd.512("), std::string::npos) << vnni;
  std::string avx512 = irFor(func, "x86-64-v4", kAvx512);
  EXPECT_EQ(avx512.find("vpdp"), std::string::npos);
  EXPECT_NE(avx512.find("@llvm.x86.avx512.pmaddw.d.512("), std::string::npos) << avx512;
  std::string avx2 = irFor(func, "x86-64-v3", "+avx2");
  EXPECT_NE(avx2.find("@llvm.x86.avx2.pmadd.wd("), std::string::npos) << avx2;
  std::string baseline = irFor(func, "x86-64", "");
  EXPECT_EQ(baseline.find("pmadd"), std::string::npos) << baseline;
  EXPECT_EQ(baseline.find("vpdp"), std::string::npos) << baseline;
}

TEST(IntegerDot, SmallIntegerDtypesGroupToo) {
  // Bytes with one signed side four at a time; u8 x u8 and i16 (no such byte instruction) two.
  for (auto [a, b, instruction] : {std::tuple{"u8", "i8", "vpdpbusd"},
                                   {"i8", "u8", "vpdpbusd"},
                                   {"i16", "i16", "vpdpwssd"},
                                   {"u8", "u8", "vpdpwssd"}}) {
    ir::LoweredFunc func = lowered(std::string("kernel dot(w: ") + a + "[R, C], x: " + b +
                                   "[C]) -> y: i32[R] {\n"
                                   "    y[i] = sum(i32(w[i, k]) * i32(x[k]) for k)\n}\n");
    EXPECT_NE(irFor(func, "znver4", kVnni).find(instruction), std::string::npos) << a << b;
  }
}

TEST(IntegerDot, MatchesTheInterpreterOnTheHost) {
  // Rows long enough for whole vectors and a tail; i16 values over their whole range, so that
  // the pairs' sums and the row sums wrap.
  Jit jit;
  Module module = jit.compile(R"(
kernel dots(a: i8[R, C], b: i8[C], u: u8[R, C], h: i16[R, C], g: i16[C]) -> (s: i32[R], m: i32[R], n: i32[R], w: i32[R]) {
    s[i] = sum(i32(a[i, k]) * i32(b[k]) for k)
    m[i] = sum(i32(u[i, k]) * i32(b[k]) for k)
    n[i] = sum(i32(u[i, k]) * i32(u[0, k]) for k)
    w[i] = sum(i32(h[i, k]) * i32(g[k]) for k) + 1
}
)",
                              "dots.tdsl");
  Kernel kernel = module.kernel("dots");
  for (int64_t columns : {31, 64, 65, 200, 1000})
    for (int64_t rows : {1, 3}) {
      std::vector<Tensor> inputs = kernel.randomInputs({{"R", rows}, {"C", columns}}, columns);
      testing_support::expectMatchesInterpreter(kernel, "dots C=" + std::to_string(columns), inputs,
                                                kernel(inputs));
    }
}

TEST(IntegerDot, LanesSeenOneByOneKeepTheirProducts) {
  // A column sum keeps a lane per column: its products may not move between lanes.
  ir::LoweredFunc func = lowered(R"(
kernel columns(w: i8[R, C], x: i8[R]) -> y: i32[C] {
    y[j] = sum(i32(w[k, j]) * i32(x[k]) for k)
}
)");
  std::string ir = irFor(func, "znver4", kVnni);
  EXPECT_EQ(ir.find("vpdp"), std::string::npos) << ir;
  EXPECT_EQ(ir.find("pmaddw"), std::string::npos) << ir;
}

TEST(GatherPrefetch, EmbeddingPrefetchesTheNextRowsLines) {
  ir::LoweredFunc func = lowered(R"(
kernel embed(table: f32[V, D], ids: i32[T]) -> y: f32[T, D] {
    y[t, e] = table[ids[t], e]
}
)");
  std::string ir = irFor(func, "x86-64-v4", kAvx512);
  EXPECT_NE(ir.find("@llvm.prefetch.p0("), std::string::npos) << ir;
  // Without a gather, a one-pass copy prefetches nothing.
  std::string copy = irFor(lowered("kernel copy(x: f32[T, D]) -> y: f32[T, D] {\n"
                                   "    y = 2 * x\n}\n"),
                           "x86-64-v4", kAvx512);
  EXPECT_EQ(copy.find("@llvm.prefetch.p0("), std::string::npos) << copy;
}

} // namespace
