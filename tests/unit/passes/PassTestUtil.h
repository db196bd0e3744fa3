// Inputs and comparisons for the tests that run kernels before and after lowering.
#pragma once

#include "ir/Kernel.h"
#include "ir/Shapes.h"
#include "tdsl/Tensor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

namespace tdsl::testing_passes {

/// The values of `kernel.symbols`, in order, from a name -> size map.
inline std::vector<int64_t> symbolValues(const ir::Kernel &kernel,
                                         const std::map<std::string, int64_t> &sizes) {
  std::vector<int64_t> values;
  for (const ir::Var &s : kernel.symbols)
    values.push_back(sizes.at(s->name));
  return values;
}

/// Seeded random inputs of the kernel at the given sizes.
inline std::vector<Tensor>
randomInputs(const ir::Kernel &kernel, const std::map<std::string, int64_t> &sizes, uint64_t seed) {
  std::vector<int64_t> values = symbolValues(kernel, sizes);
  std::vector<Tensor> inputs;
  for (size_t k = 0; k < kernel.inputs.size(); ++k)
    inputs.push_back(Tensor::randn(ir::evalShape(kernel.inputs[k], kernel.symbols, values),
                                   kernel.inputs[k]->dtype, seed + k));
  return inputs;
}

/// Same shape and the same values bit for bit (floats compared as f64; NaN equals NaN).
inline void expectIdentical(const Tensor &a, const Tensor &b, const std::string &what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  ASSERT_EQ(a.dtype(), b.dtype()) << what;
  for (int64_t k = 0; k < a.numel(); ++k) {
    if (isFloat(a.dtype())) {
      double x = a.at(k), y = b.at(k);
      if (std::isnan(x) && std::isnan(y))
        continue;
      ASSERT_EQ(x, y) << what << " element " << k;
      ASSERT_EQ(std::signbit(x), std::signbit(y)) << what << " element " << k;
    } else {
      ASSERT_EQ(a.atInt(k), b.atInt(k)) << what << " element " << k;
    }
  }
}

/// `actual` (a compiled result, in its own dtype) against `expected` (the interpreter's, f64 for
/// floats): integers exactly, floats within a relative tolerance suited to the dtype.
inline void expectClose(const Tensor &expected, const Tensor &actual, const std::string &what) {
  ASSERT_EQ(expected.shape(), actual.shape()) << what;
  double rtol = 0, atol = 0;
  switch (actual.dtype()) {
  case DType::F16:
  case DType::BF16:
    rtol = 1e-2, atol = 1e-2;
    break;
  case DType::F32:
    rtol = 1e-5, atol = 1e-5;
    break;
  case DType::F64:
    rtol = 1e-12, atol = 1e-12;
    break;
  default:
    break;
  }
  for (int64_t k = 0; k < actual.numel(); ++k) {
    if (!isFloat(actual.dtype())) {
      ASSERT_EQ(expected.atInt(k), actual.atInt(k)) << what << " element " << k;
      continue;
    }
    double want = expected.at(k), got = actual.at(k);
    if (std::isnan(want) || std::isnan(got)) {
      ASSERT_TRUE(std::isnan(want) && std::isnan(got))
          << what << " element " << k << ": want " << want << ", got " << got;
      continue;
    }
    if (std::isinf(want) || std::isinf(got)) {
      ASSERT_EQ(want, got) << what << " element " << k;
      continue;
    }
    ASSERT_LE(std::fabs(want - got), atol + rtol * std::fabs(want))
        << what << " element " << k << ": want " << want << ", got " << got;
  }
}

} // namespace tdsl::testing_passes
