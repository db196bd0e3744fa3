#include "api/Numerics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace tdsl {

double relativeTolerance(DType dtype) {
  switch (dtype) {
  case DType::F16:
    return 1e-2;
  case DType::BF16:
    return 5e-2;
  case DType::F32:
    return 2e-4;
  case DType::F64:
    return 1e-9;
  default:
    return 0;
  }
}

namespace {

/// The largest finite |reference| element: the absolute part of the tolerance.
double referenceScale(const Tensor &reference) {
  double scale = 0;
  for (int64_t i = 0; i < reference.numel(); ++i) {
    double r = reference.at(i);
    if (std::isfinite(r))
      scale = std::max(scale, std::fabs(r));
  }
  return scale;
}

} // namespace

std::string describeTolerance(const Tensor &actual, const Tensor &reference) {
  if (!isFloat(actual.dtype()))
    return "exact";
  char text[96];
  std::snprintf(text, sizeof text, "|error| <= %.3g * (|reference| + %.3g)",
                relativeTolerance(actual.dtype()), referenceScale(reference));
  return text;
}

bool withinTolerance(const Tensor &actual, const Tensor &reference) {
  if (actual.shape() != reference.shape())
    return false;
  int64_t n = actual.numel();
  if (!isFloat(actual.dtype())) {
    for (int64_t i = 0; i < n; ++i)
      if (actual.atInt(i) != reference.atInt(i))
        return false;
    return true;
  }
  double scale = referenceScale(reference);
  double rtol = relativeTolerance(actual.dtype());
  for (int64_t i = 0; i < n; ++i) {
    double a = actual.at(i), r = reference.at(i);
    if (std::isnan(r) || std::isnan(a)) {
      if (std::isnan(r) != std::isnan(a))
        return false;
      continue;
    }
    if (std::isinf(r) || std::isinf(a)) {
      // A reference beyond the output type's range rounds to infinity when stored.
      if (a != r && !(std::isinf(a) && std::fabs(r) > 6.5e4 && std::signbit(a) == std::signbit(r)))
        return false;
      continue;
    }
    if (std::fabs(a - r) > rtol * (std::fabs(r) + scale))
      return false;
  }
  return true;
}

namespace {

/// Both results converted to `judged` and compared at its tolerance.
bool withinToleranceAt(DType judged, const Tensor &actual, const Tensor &reference) {
  return withinTolerance(runtime::convertTo(actual, judged), runtime::convertTo(reference, judged));
}

/// The dtype compiled output `output` is judged at: its own, or f32 (`asF32`).
DType judgedType(const Kernel &kernel, size_t output, bool asF32) {
  return asF32 ? DType::F32 : kernel.outputDType(output);
}

/// `inputs` with every float element scaled by 1 + e, or alternately by 1 + e and 1 - e, with e
/// a few ulps of its dtype.
std::vector<Tensor> perturbed(const std::vector<Tensor> &inputs, bool alternate) {
  std::vector<Tensor> out;
  for (const Tensor &t : inputs) {
    DType d = t.dtype();
    double e = d == DType::F32    ? 0x1p-20
               : d == DType::F64  ? 0x1p-40
               : d == DType::F16  ? 0x1p-9
               : d == DType::BF16 ? 0x1p-6
                                  : 0.0;
    Tensor copy = Tensor::zeros(t.shape(), d);
    if (t.nbytes())
      std::memcpy(copy.data(), t.data(), t.nbytes());
    if (e != 0)
      for (int64_t i = 0; i < copy.numel(); ++i)
        copy.set(i, copy.at(i) * (1 + ((alternate && i % 2) ? -e : e)));
    out.push_back(copy);
  }
  return out;
}

} // namespace

bool withinTolerance(const Tensor &actual, const Tensor &reference, bool asF32) {
  return asF32 ? withinToleranceAt(DType::F32, actual, reference)
               : withinTolerance(actual, reference);
}

bool illConditioned(const Kernel &kernel, const std::vector<Tensor> &inputs,
                    const std::vector<Tensor> &reference, size_t output, bool asF32) {
  // Judged as a compiled result is (the interpreter returns floats as f64, whose tolerance is
  // far tighter).
  DType judged = judgedType(kernel, output, asF32);
  for (bool alternate : {false, true}) {
    std::vector<Tensor> moved = kernel.interpret(perturbed(inputs, alternate));
    if (!withinToleranceAt(judged, moved.at(output), reference.at(output)))
      return true;
  }
  return false;
}

namespace {
/// mathFunctionSensitive, given the f32 model's output with correctly rounded math functions.
bool movesWithMathFunctions(const Kernel &kernel, const std::vector<Tensor> &inputs, size_t output,
                            DType judged, const Tensor &correctlyRounded) {
  for (int ulps : {2, -2})
    if (!withinToleranceAt(judged, kernel.interpretRoundingF32(inputs, ulps).at(output),
                           correctlyRounded))
      return true;
  return false;
}
} // namespace

bool mathFunctionSensitive(const Kernel &kernel, const std::vector<Tensor> &inputs, size_t output,
                           bool asF32) {
  return movesWithMathFunctions(kernel, inputs, output, judgedType(kernel, output, asF32),
                                kernel.interpretRoundingF32(inputs).at(output));
}

std::string excuseForMismatch(const Kernel &kernel, const std::vector<Tensor> &inputs,
                              const Tensor &actual, const std::vector<Tensor> &reference,
                              size_t output, bool asF32) {
  DType judged = judgedType(kernel, output, asF32);
  Tensor roundedF32 = kernel.interpretRoundingF32(inputs).at(output);
  if (withinToleranceAt(judged, actual, roundedF32))
    return "f32 rounding";
  if (illConditioned(kernel, inputs, reference, output, asF32))
    return "ill-conditioned";
  if (movesWithMathFunctions(kernel, inputs, output, judged, roundedF32))
    return "math-function rounding";
  return "";
}

std::string describe(const runtime::ErrorStats &stats, const std::vector<int64_t> &shape) {
  std::string where;
  if (stats.worstIndex >= 0) {
    std::vector<int64_t> index(shape.size());
    int64_t rest = stats.worstIndex;
    for (size_t d = shape.size(); d-- > 0;) {
      index[d] = shape[d] ? rest % shape[d] : 0;
      rest = shape[d] ? rest / shape[d] : 0;
    }
    where = " (at [";
    for (size_t d = 0; d < index.size(); ++d)
      where += (d ? ", " : "") + std::to_string(index[d]);
    where += "])";
  }
  char text[160];
  std::snprintf(text, sizeof text, "max abs error %.3g, max rel error %.3g, max ulp %lld",
                stats.maxAbs, stats.maxRel, static_cast<long long>(stats.maxUlp));
  return text + where;
}

} // namespace tdsl
