// The inputs of examples/aot: values from a formula, so that the example and the test that
// checks it against the JIT (tests/unit/aot) compute on the same data.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace aot_example {

inline std::vector<float> filled(int64_t count, float scale) {
  std::vector<float> values(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i)
    values[static_cast<size_t>(i)] = std::sin(scale * static_cast<float>(i));
  return values;
}

constexpr int64_t kRows = 3, kCols = 5;   // softmax: x is kRows x kCols.
constexpr int64_t kM = 4, kK = 7, kN = 3; // matmul: a is kM x kK, b is kK x kN.
inline std::vector<float> softmaxInput() { return filled(kRows * kCols, 0.7f); }
inline std::vector<float> matmulA() { return filled(kM * kK, 0.3f); }
inline std::vector<float> matmulB() { return filled(kK * kN, 1.1f); }

} // namespace aot_example
