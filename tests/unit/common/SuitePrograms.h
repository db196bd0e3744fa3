// The end-to-end suite shared by the CPU (tests/unit/e2e) and GPU (tests/unit/gpu) tests: every
// program under tests/e2e/ and examples/, and seeded random inputs at a drawn shape.
#pragma once

#include "tdsl/tdsl.h"

#include <algorithm>
#include <filesystem>
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

} // namespace tdsl::testing_support
