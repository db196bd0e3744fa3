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
  for (const std::string &name : module.kernelNames()) {
    Kernel kernel = module.kernel(name);
    int ran = 0;
    for (int attempt = 0; attempt < 40 && ran < 4; ++attempt) {
      std::vector<Tensor> inputs = randomSuiteInputs(kernel, rng, sizes, attempt * 100 + 1);
      try {
        kernel.outputShapes(inputs);
      } catch (const RuntimeError &) {
        continue; // e.g. a filter larger than the image: no valid output shape.
      }
      ++ran;
      std::vector<Tensor> actual = kernel(inputs);
      expectMatchesInterpreter(kernel, name, inputs, actual);
      if (HasFatalFailure())
        return;
    }
    EXPECT_GT(ran, 0) << name << ": no valid shapes tried";
  }
}

INSTANTIATE_TEST_SUITE_P(Programs, CompareWithInterpreter, testing::ValuesIn(suiteProgramFiles()),
                         programTestName);

} // namespace
