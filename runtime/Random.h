// The seeded generator behind Tensor::randn: xoshiro256** seeded by splitmix64, and normal
// samples by Marsaglia's polar method with a logarithm written in plain IEEE arithmetic, so that
// a seed gives the same bits on every machine, libm and compiler.
#pragma once

#include <cstdint>

namespace tdsl::runtime {

class Random {
public:
  explicit Random(uint64_t seed);

  /// 64 uniformly random bits.
  uint64_t next();
  /// Uniform in [0, 1), 53 random bits.
  double uniform();
  /// Uniform integer in [lo, hi] (no modulo bias).
  int64_t uniformInt(int64_t lo, int64_t hi);
  /// A standard normal sample.
  double normal();

private:
  uint64_t state[4];
  double spareNormal = 0;
  bool hasSpare = false;
};

/// ln(x) for finite x > 0 using only + - * / and exact scaling: the same bits everywhere
/// (accurate to about one ulp; not a replacement for std::log, which may differ between libms).
double portableLog(double x);

} // namespace tdsl::runtime
