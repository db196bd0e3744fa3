// The end-to-end suite (every program under tests/e2e/ and examples/) compiled in the fast mode
// (JitOptions::optimize = false: no LLVM IR passes, fast instruction selection) must match the
// reference interpreter, as the optimized code does (CompareWithInterpreterTest.cpp).
#include "tdsl/tdsl.h"
#include "tests/unit/common/SuitePrograms.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

namespace {

using namespace tdsl;
using namespace tdsl::testing_support;
namespace fs = std::filesystem;

class FastModeSuite : public testing::TestWithParam<fs::path> {};

TEST_P(FastModeSuite, EveryKernelMatchesTheInterpreter) {
  JitOptions options;
  options.optimize = false;
  options.diskCache = false;
  Jit jit(options);
  Module module = jit.compileFile(GetParam().string());
  std::mt19937 rng(4321);
  const std::vector<int64_t> sizes = {1, 3, 8, 17};
  forEachSuiteRun(
      module, rng, sizes, 2, 7,
      [](const Kernel &kernel, const std::string &name, const std::vector<Tensor> &inputs) {
        expectMatchesInterpreter(kernel, name, inputs, kernel(inputs));
      });
}

INSTANTIATE_TEST_SUITE_P(Programs, FastModeSuite, testing::ValuesIn(suiteProgramFiles()),
                         programTestName);

} // namespace
