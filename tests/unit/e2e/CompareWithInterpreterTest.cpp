// Every kernel of every program under tests/e2e/ and examples/, compiled for the CPU and run on
// random inputs at several shapes (odd sizes and size 1 included), must match the reference
// interpreter.
#include "api/Numerics.h"
#include "tdsl/tdsl.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <random>

namespace {

using namespace tdsl;
namespace fs = std::filesystem;

std::vector<fs::path> programFiles() {
  std::vector<fs::path> files;
  for (const char *dir : {"/tests/e2e", "/examples"})
    for (const auto &entry : fs::directory_iterator(std::string(TDSL_SOURCE_DIR) + dir))
      if (entry.path().extension() == ".tdsl")
        files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

/// Seeded random inputs, each shape symbol taking one size drawn from `sizes`.
std::vector<Tensor> randomInputs(const Kernel &kernel, std::mt19937 &rng,
                                 const std::vector<int64_t> &sizes, uint64_t seed) {
  std::map<std::string, int64_t> chosen;
  for (const std::string &symbol : kernel.symbolNames())
    chosen[symbol] = sizes[rng() % sizes.size()];
  return kernel.randomInputs(chosen, seed);
}

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
      std::vector<Tensor> inputs = randomInputs(kernel, rng, sizes, attempt * 100 + 1);
      try {
        kernel.outputShapes(inputs);
      } catch (const RuntimeError &) {
        continue; // e.g. a filter larger than the image: no valid output shape.
      }
      ++ran;
      std::vector<Tensor> actual = kernel(inputs);
      std::vector<Tensor> reference = kernel.interpret(inputs);
      ASSERT_EQ(actual.size(), reference.size());
      for (size_t o = 0; o < actual.size(); ++o) {
        std::string shapes;
        for (const Tensor &t : inputs)
          shapes += " " + t.typeString();
        EXPECT_TRUE(withinTolerance(actual[o], reference[o]))
            << name << " output " << kernel.outputNames()[o] << " inputs" << shapes << ": "
            << describe(runtime::compare(actual[o], reference[o]), actual[o].shape());
      }
    }
    EXPECT_GT(ran, 0) << name << ": no valid shapes tried";
  }
}

INSTANTIATE_TEST_SUITE_P(Programs, CompareWithInterpreter, testing::ValuesIn(programFiles()),
                         [](const testing::TestParamInfo<fs::path> &info) {
                           std::string name = info.param.stem().string();
                           for (char &c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c)))
                               c = '_';
                           return name;
                         });

} // namespace
