// A row loop that makes several passes over a row prefetches the next row of an input once per
// line, in the last pass that reads that input (CodeGenLlvm::prefetchNextRow): for softmax the
// exp pass, not the max pass, which would issue the whole next row in a burst as fast as it
// reads this one.
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

} // namespace
