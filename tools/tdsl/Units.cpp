#include "Units.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tdsl::tool {

namespace {

struct Unit {
  double scale;
  const char *name;
};

/// `value` in the largest unit (they are given smallest first) that keeps it at least 1.
template <size_t N> std::string scaled(double value, const Unit (&units)[N], int digits = 3) {
  const Unit *chosen = &units[0];
  for (const Unit &u : units)
    if (std::fabs(value) >= u.scale)
      chosen = &u;
  return significant(value / chosen->scale, digits) + " " + chosen->name;
}

} // namespace

std::string significant(double value, int digits) {
  if (value == 0 || !std::isfinite(value)) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", value);
    return text;
  }
  // Decimals after the point that leave `digits` significant ones (none for large values).
  int magnitude = static_cast<int>(std::floor(std::log10(std::fabs(value))));
  int decimals = std::max(0, digits - 1 - magnitude);
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  std::string out = text;
  if (out.find('.') != std::string::npos) {
    out.erase(out.find_last_not_of('0') + 1);
    if (out.back() == '.')
      out.pop_back();
  }
  return out;
}

std::string durationText(double seconds) {
  static constexpr Unit units[] = {{1e-9, "ns"}, {1e-6, "µs"}, {1e-3, "ms"}, {1, "s"}};
  return scaled(seconds, units);
}

std::string bytesText(uint64_t bytes) {
  static constexpr Unit units[] = {
      {1, "B"}, {1024.0, "KiB"}, {1024.0 * 1024, "MiB"}, {1024.0 * 1024 * 1024, "GiB"}};
  return scaled(static_cast<double>(bytes), units);
}

std::string byteRateText(double bytesPerSecond) {
  static constexpr Unit units[] = {{1e6, "MB/s"}, {1e9, "GB/s"}, {1e12, "TB/s"}};
  return scaled(bytesPerSecond, units);
}

std::string flopRateText(double flopsPerSecond) {
  static constexpr Unit units[] = {{1e6, "MFLOP/s"}, {1e9, "GFLOP/s"}, {1e12, "TFLOP/s"}};
  return scaled(flopsPerSecond, units);
}

} // namespace tdsl::tool
