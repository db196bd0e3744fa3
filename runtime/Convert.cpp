// dtype conversion, summaries and error measurement of tensors (see Convert.h).
#include "runtime/Convert.h"

#include "runtime/FloatFormat.h"
#include "tdsl/Diagnostics.h"

#include <bit>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace tdsl::runtime {

namespace {

bool isIntLike(DType t) { return isInt(t) || t == DType::Bool; }

/// "[0, 5]" for flat index 5 of a [2, 8] tensor; "[]" for a scalar.
std::string indexText(const std::vector<int64_t> &shape, int64_t flat) {
  std::vector<int64_t> index(shape.size());
  for (size_t k = shape.size(); k-- > 0;) {
    index[k] = flat % shape[k];
    flat /= shape[k];
  }
  return fmt::format("[{}]", fmt::join(index, ", "));
}

void checkSameShape(const Tensor &actual, const Tensor &reference, const char *what) {
  if (actual.shape() != reference.shape())
    throw RuntimeError(fmt::format("cannot {} tensors of different shapes: {} and {}", what,
                                   actual.typeString(), reference.typeString()));
}

FloatFormat formatOf(DType t) {
  switch (t) {
  case DType::F16:
    return kHalf;
  case DType::BF16:
    return kBFloat16;
  case DType::F32:
    return kSingle;
  default:
    return kDouble;
  }
}

/// The bits of `value` rounded to `format`, mapped to integers ordered like the values
/// (-0 and +0 both map to 0), so that the difference of two is their distance in ulps.
int64_t orderedBits(FloatFormat format, double value) {
  const uint64_t bits = convertFloatBits(kDouble, format, std::bit_cast<uint64_t>(value));
  const uint64_t signBit = uint64_t(1) << (format.expBits + format.fracBits);
  const int64_t magnitude = int64_t(bits & (signBit - 1));
  return (bits & signBit) ? -magnitude : magnitude;
}

int64_t saturatingDistance(int64_t a, int64_t b) {
  // The true distance is below 2^64, so unsigned wrap-around arithmetic gives it exactly.
  const uint64_t d = a > b ? uint64_t(a) - uint64_t(b) : uint64_t(b) - uint64_t(a);
  return d > uint64_t(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                           : int64_t(d);
}

std::string formatValue(const Tensor &t, int64_t i) {
  if (t.dtype() == DType::Bool)
    return t.atInt(i) ? "true" : "false";
  if (isInt(t.dtype()))
    return fmt::format("{}", t.atInt(i));
  return fmt::format("{:.6g}", t.at(i));
}

} // namespace

Tensor convertTo(const Tensor &t, DType dtype) {
  Tensor out = Tensor::zeros(t.shape(), dtype);
  const int64_t n = t.numel();
  const bool exactInts = isIntLike(t.dtype());
  for (int64_t i = 0; i < n; ++i) {
    if (exactInts)
      out.setInt(i, t.atInt(i));
    else
      out.set(i, t.at(i)); // at() is exact for every float dtype.
  }
  return out;
}

std::string summarize(const Tensor &t) {
  const int64_t n = t.numel();
  std::string values;
  for (int64_t i = 0; i < std::min<int64_t>(n, 6); ++i)
    values += (i ? ", " : "") + formatValue(t, i);
  if (n > 6)
    values += ", ...";
  double checksum = 0;
  for (int64_t i = 0; i < n; ++i)
    checksum += isIntLike(t.dtype()) ? double(t.atInt(i)) : t.at(i);
  return fmt::format("{}  values [{}]  checksum {:.8g}", t.typeString(), values, checksum);
}

bool allClose(const Tensor &actual, const Tensor &expected, double rtol, double atol,
              std::string *report) {
  if (actual.shape() != expected.shape()) {
    if (report)
      *report = fmt::format("shape mismatch: {} against expected {}", actual.typeString(),
                            expected.typeString());
    return false;
  }
  const bool exact = isIntLike(actual.dtype());
  const bool exactBoth = exact && isIntLike(expected.dtype());
  int64_t mismatches = 0, worst = -1;
  double worstError = -1;
  const int64_t n = actual.numel();
  for (int64_t i = 0; i < n; ++i) {
    bool close;
    double error;
    if (exactBoth) {
      const int64_t a = actual.atInt(i), e = expected.atInt(i);
      close = a == e;
      error = double(saturatingDistance(a, e));
    } else {
      const double a = actual.at(i), e = expected.at(i);
      const bool bothNan = std::isnan(a) && std::isnan(e);
      close = a == e || bothNan ||
              (!exact && std::isfinite(a) && std::isfinite(e) &&
               std::fabs(a - e) <= atol + rtol * std::fabs(e));
      error = close               ? 0
              : std::isnan(a - e) ? std::numeric_limits<double>::infinity()
                                  : std::fabs(a - e);
    }
    if (close)
      continue;
    ++mismatches;
    if (error > worstError) {
      worstError = error;
      worst = i;
    }
  }
  if (report) {
    report->clear();
    if (mismatches > 0)
      *report = fmt::format(
          "{} of {} elements differ (rtol {:g}, atol {:g}); worst at {}: actual {}, expected {}",
          mismatches, n, rtol, atol, indexText(actual.shape(), worst), formatValue(actual, worst),
          formatValue(expected, worst));
  }
  return mismatches == 0;
}

ErrorStats compare(const Tensor &actual, const Tensor &reference) {
  checkSameShape(actual, reference, "compare");
  constexpr double inf = std::numeric_limits<double>::infinity();
  constexpr int64_t maxUlp = std::numeric_limits<int64_t>::max();
  ErrorStats stats;
  const int64_t n = actual.numel();
  for (int64_t i = 0; i < n; ++i) {
    double abs = 0, rel = 0;
    int64_t ulp = 0;
    if (isIntLike(actual.dtype())) {
      const int64_t a = actual.atInt(i);
      // An integer result is exact: the reference rounds (as a cast) to the actual's type.
      const int64_t r = reference.atInt(i);
      ulp = saturatingDistance(a, r);
      const double rv = isIntLike(reference.dtype()) ? double(r) : reference.at(i);
      abs = std::isnan(rv) ? inf : std::fabs(double(a) - rv);
      rel = abs == 0 ? 0 : rv == 0 ? inf : abs / std::fabs(rv);
    } else {
      const double a = actual.at(i);
      const double r = isIntLike(reference.dtype()) ? double(reference.atInt(i)) : reference.at(i);
      if (a == r || (std::isnan(a) && std::isnan(r)))
        continue;
      if (std::isnan(a) || std::isnan(r)) {
        abs = rel = inf;
        ulp = maxUlp;
      } else {
        abs = std::fabs(a - r);
        rel = r == 0 ? inf : abs / std::fabs(r);
        const FloatFormat format = formatOf(actual.dtype());
        ulp = saturatingDistance(orderedBits(format, a), orderedBits(format, r));
      }
    }
    if (abs > stats.maxAbs || (stats.worstIndex < 0 && (abs > 0 || ulp > 0))) {
      stats.maxAbs = std::max(stats.maxAbs, abs);
      stats.worstIndex = i;
    }
    stats.maxRel = std::max(stats.maxRel, rel);
    stats.maxUlp = std::max(stats.maxUlp, ulp);
  }
  return stats;
}

} // namespace tdsl::runtime
