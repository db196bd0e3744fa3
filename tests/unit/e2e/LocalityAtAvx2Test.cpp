// The locality schedules (tiles transposed in registers, column strips, stencil windows) at the
// AVX2 level: 8 f32 lanes give 8 x 8 blocks in 3 rounds of shuffles and narrower strips. The
// schedule is chosen for x86-64-v3 and the code runs on the host, against the interpreter.
#include "tdsl/tdsl.h"
#include "tests/unit/common/SuitePrograms.h"

#include <gtest/gtest.h>

#include <random>

namespace {

using namespace tdsl;
using namespace tdsl::testing_support;

class LocalityAtAvx2 : public testing::TestWithParam<std::string> {};

TEST_P(LocalityAtAvx2, EveryKernelAtSeveralShapes) {
  Target avx2 = Target::cpu();
  avx2.cpuLevel = "x86-64-v3";
  Jit jit(avx2);
  Module module = jit.compileFile(std::string(TDSL_SOURCE_DIR) + "/tests/e2e/" + GetParam());
  std::mt19937 rng(99);
  const std::vector<int64_t> sizes = {1, 3, 8, 9, 16, 17};
  forEachSuiteRun(
      module, rng, sizes, 3, 7,
      [](const Kernel &kernel, const std::string &name, const std::vector<Tensor> &inputs) {
        expectMatchesInterpreter(kernel, name, inputs, kernel(inputs));
      });
}

INSTANTIATE_TEST_SUITE_P(Programs, LocalityAtAvx2,
                         testing::Values("permutations.tdsl", "stencils.tdsl"),
                         [](const testing::TestParamInfo<std::string> &info) {
                           return info.param.substr(0, info.param.find('.'));
                         });

} // namespace
