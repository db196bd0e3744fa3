// The end-to-end suite (every program under tests/e2e/ and examples/) at both tiers of CPU code:
// the fast tier (Tiering::FastOnly: EarlyCSE only, fast instruction selection, micro-kernels of
// fewer rows) must match the reference interpreter, and give bit for bit the optimized tier's
// results (LLVM's O3 and code generator may not change a floating-point decision), on one thread
// and on two.
#include "tdsl/tdsl.h"
#include "tests/unit/common/SuitePrograms.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>

namespace {

using namespace tdsl;
using namespace tdsl::testing_support;
namespace fs = std::filesystem;

Jit jitFor(Tiering tiering, int threads) {
  JitOptions options;
  options.tiering = tiering;
  options.threads = threads;
  options.diskCache = false;
  return Jit(options);
}

/// The index of the first element whose bytes differ, or -1.
int64_t firstDifference(const Tensor &a, const Tensor &b) {
  size_t size = byteSize(a.dtype());
  const auto *x = static_cast<const unsigned char *>(a.data());
  const auto *y = static_cast<const unsigned char *>(b.data());
  for (int64_t i = 0; i < a.numel(); ++i)
    if (std::memcmp(x + i * size, y + i * size, size) != 0)
      return i;
  return -1;
}

class TierSuite : public testing::TestWithParam<fs::path> {};

TEST_P(TierSuite, FastTierMatchesTheInterpreter) {
  Module module = jitFor(Tiering::FastOnly, 0).compileFile(GetParam().string());
  std::mt19937 rng(4321);
  forEachSuiteRun(
      module, rng, {1, 3, 8, 17}, 2, 7,
      [](const Kernel &kernel, const std::string &name, const std::vector<Tensor> &inputs) {
        expectMatchesInterpreter(kernel, name, inputs, kernel(inputs));
      });
}

// Compiled for two threads (parallel loops outlined), called on one thread and on two.
TEST_P(TierSuite, TiersAreBitIdentical) {
  Module fast = jitFor(Tiering::FastOnly, 2).compileFile(GetParam().string());
  Module optimized = jitFor(Tiering::OptimizedOnly, 2).compileFile(GetParam().string());
  std::mt19937 rng(97);
  forEachSuiteRun(
      fast, rng, {1, 3, 8, 17, 33}, 3, 11,
      [&](const Kernel &kernel, const std::string &name, const std::vector<Tensor> &inputs) {
        std::string shapes;
        for (const Tensor &t : inputs)
          shapes += " " + t.typeString();
        for (int threads : {1, 2}) {
          std::vector<Tensor> a = kernel.withThreads(threads)(inputs),
                              b = optimized.kernel(name).withThreads(threads)(inputs);
          ASSERT_EQ(kernel.tier(), Tier::Fast);
          ASSERT_EQ(optimized.kernel(name).tier(), Tier::Optimized);
          ASSERT_EQ(a.size(), b.size());
          for (size_t o = 0; o < a.size(); ++o) {
            int64_t at = firstDifference(a[o], b[o]);
            EXPECT_EQ(at, -1) << name << " output " << kernel.outputNames()[o] << " inputs"
                              << shapes << ", " << threads << " threads: fast "
                              << (at >= 0 ? a[o].at(at) : 0) << " vs optimized "
                              << (at >= 0 ? b[o].at(at) : 0) << " at " << at;
          }
        }
      });
}

INSTANTIATE_TEST_SUITE_P(Programs, TierSuite, testing::ValuesIn(suiteProgramFiles()),
                         programTestName);

} // namespace
