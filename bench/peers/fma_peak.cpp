// The machine's fp32 peak for bench/run_gemm.py: independent chains of AVX-512 (or AVX2) FMAs,
// enough of them to hide the FMA latency, on each of T threads. Prints one JSON line
// {"threads", "gflops", "best_gflops"}: the median and the best of repeated runs. Build:
//   g++ -O2 -march=native -std=c++17 -pthread fma_peak.cpp
// Usage: fma_peak [threads]
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

#ifdef __AVX512F__
using Vec = __m512;
constexpr int kLanes = 16;
inline Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline Vec splat(float x) { return _mm512_set1_ps(x); }
inline float first(Vec v) { return _mm512_cvtss_f32(v); }
#else
using Vec = __m256;
constexpr int kLanes = 8;
inline Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec splat(float x) { return _mm256_set1_ps(x); }
inline float first(Vec v) { return _mm256_cvtss_f32(v); }
#endif

constexpr int kChains = 12;
constexpr long kIters = 20'000'000;

float chains(float seed) {
  Vec acc[kChains];
  for (int c = 0; c < kChains; ++c)
    acc[c] = splat(seed + c);
  Vec x = splat(0.999999f), y = splat(1e-7f);
  for (long i = 0; i < kIters; ++i)
#pragma GCC unroll 16
    for (int c = 0; c < kChains; ++c)
      acc[c] = fma(acc[c], x, y);
  float s = 0;
  for (int c = 0; c < kChains; ++c)
    s += first(acc[c]);
  return s;
}

} // namespace

int main(int argc, char **argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  std::vector<double> rates;
  volatile float sink = 0;
  for (int rep = 0; rep < 15; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    std::vector<float> out(threads);
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] { out[t] = chains(static_cast<float>(t)); });
    for (std::thread &t : pool)
      t.join();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (float v : out)
      sink = sink + v;
    rates.push_back(2.0 * kLanes * kChains * kIters * threads / s / 1e9);
  }
  std::sort(rates.begin(), rates.end());
  // The best run is the machine's peak; on a shared machine the median is what was left of it.
  std::printf("{\"threads\": %d, \"gflops\": %.3f, \"best_gflops\": %.3f}\n", threads,
              rates[rates.size() / 2], rates.back());
  return 0;
}
