// Every kernel of every program under tests/e2e/ and examples/, compiled for the CPU and run on
// random inputs at several shapes (odd sizes and size 1 included), must match the reference
// interpreter.
#include "tdsl/tdsl.h"
#include "tests/unit/common/SuitePrograms.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

namespace {

using namespace tdsl;
using namespace tdsl::testing_support;
namespace fs = std::filesystem;

class CompareWithInterpreter : public testing::TestWithParam<fs::path> {};

TEST_P(CompareWithInterpreter, EveryKernelAtSeveralShapes) {
  Jit jit;
  Module module = jit.compileFile(GetParam().string());
  std::mt19937 rng(1234);
  const std::vector<int64_t> sizes = {1, 2, 3, 5, 7, 8, 16, 17};
  forEachSuiteRun(
      module, rng, sizes, 4, 1,
      [](const Kernel &kernel, const std::string &name, const std::vector<Tensor> &inputs) {
        expectMatchesInterpreter(kernel, name, inputs, kernel(inputs));
      });
}

INSTANTIATE_TEST_SUITE_P(Programs, CompareWithInterpreter, testing::ValuesIn(suiteProgramFiles()),
                         programTestName);

} // namespace
