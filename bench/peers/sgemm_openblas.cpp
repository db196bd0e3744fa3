// The OpenBLAS peer of bench/run_gemm.py: times cblas_sgemm (row-major, C = A * B) on seeded
// random inputs and prints one JSON line {"median_ms", "min_ms", "runs", "gflops"}. Threads come
// from OPENBLAS_NUM_THREADS, set by the caller. Build:
//   g++ -O2 -std=c++17 sgemm_openblas.cpp -lopenblas
// Usage: sgemm_openblas M N K [min_time_s]
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

int main(int argc, char **argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s M N K [min_time_s]\n", argv[0]);
    return 2;
  }
  const long m = std::atol(argv[1]), n = std::atol(argv[2]), k = std::atol(argv[3]);
  const double minTime = argc > 4 ? std::atof(argv[4]) : 1.0;
  std::vector<float> a(m * k), b(k * n), c(m * n);
  std::mt19937 gen(42);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (float &x : a)
    x = dist(gen);
  for (float &x : b)
    x = dist(gen);
  auto call = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a.data(), k, b.data(),
                n, 0.0f, c.data(), n);
  };
  for (int i = 0; i < 2; ++i)
    call();
  std::vector<double> times;
  double total = 0;
  while (total < minTime || times.size() < 5) {
    auto t0 = std::chrono::steady_clock::now();
    call();
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                    .count();
    times.push_back(ms);
    total += ms / 1000;
  }
  std::sort(times.begin(), times.end());
  double median = times[times.size() / 2];
  std::printf("{\"median_ms\": %.4f, \"min_ms\": %.4f, \"runs\": %zu, \"gflops\": %.3f}\n", median,
              times.front(), times.size(), 2.0 * m * n * k / median / 1e6);
  return 0;
}
