// The end-to-end suite shared by the CPU (tests/unit/e2e) and GPU (tests/unit/gpu) tests: every
// program under tests/e2e/ and examples/, and seeded random inputs at a drawn shape.
#pragma once

#include "api/Numerics.h"
#include "tdsl/tdsl.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace tdsl::testing_support {

/// Every `.tdsl` file of tests/e2e/ and examples/, sorted.
inline std::vector<std::filesystem::path> suiteProgramFiles() {
  std::vector<std::filesystem::path> files;
  for (const char *dir : {"/tests/e2e", "/examples"})
    for (const auto &entry :
         std::filesystem::directory_iterator(std::string(TDSL_SOURCE_DIR) + dir))
      if (entry.path().extension() == ".tdsl")
        files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

/// Seeded random inputs of `kernel`, each shape symbol taking one size drawn from `sizes`.
inline std::vector<Tensor> randomSuiteInputs(const Kernel &kernel, std::mt19937 &rng,
                                             const std::vector<int64_t> &sizes, uint64_t seed) {
  std::map<std::string, int64_t> chosen;
  for (const std::string &symbol : kernel.symbolNames())
    chosen[symbol] = sizes[rng() % sizes.size()];
  return kernel.randomInputs(chosen, seed);
}

/// Expects each output in `actual` to match the interpreter's for `inputs` within the tolerance
/// of api/Numerics.h, naming the kernel, output and input shapes on a mismatch.
inline void expectMatchesInterpreter(const Kernel &kernel, const std::string &name,
                                     const std::vector<Tensor> &inputs,
                                     const std::vector<Tensor> &actual) {
  std::vector<Tensor> reference = kernel.interpret(inputs);
  ASSERT_EQ(actual.size(), reference.size());
  std::string shapes;
  for (const Tensor &t : inputs)
    shapes += " " + t.typeString();
  for (size_t o = 0; o < actual.size(); ++o)
    EXPECT_TRUE(withinTolerance(actual[o], reference[o]))
        << name << " output " << kernel.outputNames()[o] << " inputs" << shapes << ": "
        << describe(runtime::compare(actual[o], reference[o]), actual[o].shape());
}

/// Runs every kernel of `module` on up to `runs` seeded random inputs (each shape symbol drawn
/// from `sizes`; attempt a uses seed seedBase + 100 a), skipping inputs with no valid output
/// shape and those `skip(inputs, ran so far)` rejects, and hands each to `check(kernel, name,
/// inputs)`. Stops at a fatal failure; expects every kernel to have run at least once.
inline void forEachSuiteRun(
    const Module &module, std::mt19937 &rng, const std::vector<int64_t> &sizes, int runs,
    uint64_t seedBase,
    const std::function<void(const Kernel &, const std::string &, const std::vector<Tensor> &)>
        &check,
    const std::function<bool(const Kernel &, const std::vector<Tensor> &, int)> &skip = {}) {
  for (const std::string &name : module.kernelNames()) {
    Kernel kernel = module.kernel(name);
    int ran = 0;
    for (int attempt = 0; attempt < 40 && ran < runs; ++attempt) {
      std::vector<Tensor> inputs = randomSuiteInputs(kernel, rng, sizes, attempt * 100 + seedBase);
      if (skip && skip(kernel, inputs, ran))
        continue;
      try {
        kernel.outputShapes(inputs);
      } catch (const RuntimeError &) {
        continue; // e.g. a filter larger than the image: no valid output shape.
      }
      ++ran;
      check(kernel, name, inputs);
      if (::testing::Test::HasFatalFailure())
        return;
    }
    EXPECT_GT(ran, 0) << name << ": no valid shapes tried";
  }
}

/// A test name from a program's file name (its stem, non-alphanumerics as '_').
inline std::string programTestName(const ::testing::TestParamInfo<std::filesystem::path> &info) {
  std::string name = info.param.stem().string();
  for (char &c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)))
      c = '_';
  return name;
}

} // namespace tdsl::testing_support
