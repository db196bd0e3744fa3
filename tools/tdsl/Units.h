// Quantities as a person reads them: each with the unit that keeps its number between 1 and
// 1000 and three significant digits ("2.29 µs", "14.3 GB/s", "32 KiB"), for every report of
// the command line.
#pragma once

#include <cstdint>
#include <string>

namespace tdsl::tool {

/// `value` with `digits` significant digits, without an exponent and without trailing zeros
/// after the point ("0.625", "117", "1.5").
std::string significant(double value, int digits = 3);

/// A duration: ns, µs, ms or s.
std::string durationText(double seconds);

/// A size in bytes: B, KiB, MiB or GiB (powers of 1024, as caches and pages are counted).
std::string bytesText(uint64_t bytes);

/// A bandwidth: MB/s, GB/s or TB/s (powers of 1000, as bandwidths are quoted).
std::string byteRateText(double bytesPerSecond);

/// An arithmetic rate: MFLOP/s, GFLOP/s or TFLOP/s.
std::string flopRateText(double flopsPerSecond);

} // namespace tdsl::tool
