// A row loop that makes several passes over a row prefetches the next row of an input once per
// line, in the last pass that reads that input (CodeGenLlvm::prefetchNextRow): for softmax the
// exp pass, not the max pass, which would issue the whole next row in a burst as fast as it
// reads this one. Loops inside a micro-kernel's tile are no such passes.
#include "../passes/PassTestUtil.h"
#include "../passes/SampleKernels.h"
#include "LlvmTestUtil.h"
#include "codegen/llvm/LlvmBackend.h"
#include "codegen/llvm/LlvmOptions.h"
#include "passes/Pipeline.h"
#include "passes/Target.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using namespace tdsl;
using namespace tdsl::testing_passes;
using tdsl::test::occurrences;
using tdsl::test::x86V4;

/// The text of each function defined in `ir`.
std::vector<std::string> functions(const std::string &ir) {
  std::vector<std::string> out;
  for (size_t at = ir.find("\ndefine "); at != std::string::npos;) {
    size_t next = ir.find("\ndefine ", at + 1);
    out.push_back(ir.substr(at, next == std::string::npos ? std::string::npos : next - at));
    at = next;
  }
  return out;
}

TEST(RowPrefetch, SoftmaxPrefetchesTheNextRowInItsExpPassOnly) {
  passes::CpuTarget target; // x86-64-v4, one thread
  LoweredFunc func = passes::lowerKernel(softmaxKernel(), target);
  std::string ir = codegen::emitLlvmIr(func, /*optimized=*/false, x86V4());
  int withPrefetch = 0;
  for (const std::string &f : functions(ir)) {
    size_t prefetch = f.find("@llvm.prefetch.p0(");
    if (prefetch == std::string::npos)
      continue;
    ++withPrefetch;
    // The max pass (and its horizontal reduction) is the only code comparing floats for
    // equal-or-unordered (the NaN and signed-zero lanes of a vector max); every prefetch comes
    // after it, in the exp pass, one per 16-lane load of x (its full and its masked last vector).
    size_t maxPassEnd = f.rfind("fcmp ueq");
    ASSERT_NE(maxPassEnd, std::string::npos) << f;
    EXPECT_GT(prefetch, maxPassEnd) << f;
    EXPECT_EQ(occurrences(f, "call void @llvm.prefetch.p0("), 2u) << f;
  }
  EXPECT_GE(withPrefetch, 1) << ir;
}

TEST(RowPrefetch, NothingInsideAMicroKernelTile) {
  // A matmul's B is read in place when it is one block of whole panels: inside the tile loop of
  // a micro-kernel, whose k loops are variants, not passes over a row, that would prefetch B's
  // next column panel once per row at every step of k. Only the packing of B, before the row
  // panels, prefetches (the next k block's rows).
  passes::CpuTarget target; // x86-64-v4, one thread
  LoweredFunc func = passes::lowerKernel(matmulKernel(), target);
  std::string ir = codegen::emitLlvmIr(func, /*optimized=*/false, x86V4());
  size_t firstTile = ir.find("%tile.acc = alloca");
  size_t lastPrefetch = ir.rfind("call void @llvm.prefetch.p0(");
  ASSERT_NE(firstTile, std::string::npos) << ir;
  ASSERT_NE(lastPrefetch, std::string::npos) << ir;
  EXPECT_LT(lastPrefetch, firstTile) << ir;
  EXPECT_EQ(occurrences(ir, "call void @llvm.prefetch.p0("), 4u) << ir;
}

} // namespace
