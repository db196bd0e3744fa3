// Reproducible random numbers for Tensor::randn (see Random.h).
#include "runtime/Random.h"

#include <cmath>

// Fused multiply-add would change the rounding of portableLog and normal(): keep every product
// and sum rounded on its own. GCC already contracts nothing in ISO mode (-std=c++20).
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

namespace tdsl::runtime {

namespace {

uint64_t splitmix64(uint64_t &x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

} // namespace

Random::Random(uint64_t seed) {
  for (uint64_t &word : state)
    word = splitmix64(seed);
}

uint64_t Random::next() {
  const uint64_t result = rotl(state[1] * 5, 7) * 9;
  const uint64_t t = state[1] << 17;
  state[2] ^= state[0];
  state[3] ^= state[1];
  state[1] ^= state[2];
  state[0] ^= state[3];
  state[2] ^= t;
  state[3] = rotl(state[3], 45);
  return result;
}

double Random::uniform() { return double(next() >> 11) * 0x1.0p-53; }

int64_t Random::uniformInt(int64_t lo, int64_t hi) {
  const uint64_t range = uint64_t(hi) - uint64_t(lo) + 1; // 0 means all 2^64 values.
  if (range == 0)
    return int64_t(next());
  // Reject the top partial copy of [0, range) so every value is equally likely.
  const uint64_t limit = ~uint64_t(0) - (~uint64_t(0) % range + 1) % range;
  uint64_t x;
  do
    x = next();
  while (x > limit);
  return int64_t(uint64_t(lo) + x % range);
}

double Random::normal() {
  if (hasSpare) {
    hasSpare = false;
    return spareNormal;
  }
  double u, v, s;
  do {
    u = 2.0 * uniform() - 1.0;
    v = 2.0 * uniform() - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  const double factor = std::sqrt(-2.0 * portableLog(s) / s); // sqrt is correctly rounded.
  spareNormal = v * factor;
  hasSpare = true;
  return u * factor;
}

double portableLog(double x) {
  // x = m * 2^e with m in [sqrt(1/2), sqrt(2)); ln(m) = 2 atanh(s) with s = (m - 1) / (m + 1),
  // |s| < 0.172, summed as an odd series. frexp and the scaling by 2 are exact.
  int e = 0;
  double m = std::frexp(x, &e);
  if (m < 0.70710678118654752440) {
    m *= 2.0;
    --e;
  }
  const double s = (m - 1.0) / (m + 1.0);
  const double s2 = s * s;
  // 2 / (2k + 1), folded by the compiler with the same correctly rounded division.
  static constexpr double kCoefficients[] = {2.0 / 1,  2.0 / 3,  2.0 / 5,  2.0 / 7,  2.0 / 9,
                                             2.0 / 11, 2.0 / 13, 2.0 / 15, 2.0 / 17, 2.0 / 19,
                                             2.0 / 21, 2.0 / 23, 2.0 / 25};
  double series = kCoefficients[12];
  for (int k = 11; k >= 0; --k)
    series = kCoefficients[k] + s2 * series;
  // ln 2 split in a part exact when multiplied by a small e, and the rest.
  constexpr double ln2Hi = 6.93147180369123816490e-01;
  constexpr double ln2Lo = 1.90821492927058770002e-10;
  const double de = double(e);
  return de * ln2Hi + (s * series + de * ln2Lo);
}

} // namespace tdsl::runtime
