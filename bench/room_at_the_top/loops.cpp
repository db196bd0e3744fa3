// The C rows of the "room at the top" table (Leiserson et al., Science 2020, Table 1) for an
// n x n x n f32 matrix product: `naive` (i, j, k loops), `order` (i, k, j: the inner loop walks
// rows of b and c), `tiled` (i, k, j in 64 x 64 x 64 blocks) and `parallel` (the tiled loops with
// the row blocks split over OpenMP threads). Plain C++, g++ -O3 -march=native -fopenmp.
// Prints one JSON line {"variant", "n", "seconds"} (the best of `runs`).
// Usage: loops VARIANT N [runs]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

namespace {

void naive(int n, const float *a, const float *b, float *c) {
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      float s = 0;
      for (int k = 0; k < n; ++k)
        s += a[i * n + k] * b[k * n + j];
      c[i * n + j] = s;
    }
}

void order(int n, const float *a, const float *b, float *c) {
  std::memset(c, 0, sizeof(float) * n * n);
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < n; ++k)
      for (int j = 0; j < n; ++j)
        c[i * n + j] += a[i * n + k] * b[k * n + j];
}

// One 64 x 64 x 64 block: c[i0.., j0..] += a[i0.., k0..] * b[k0.., j0..], the j loop vectorized.
void block(int n, int i0, int k0, int j0, const float *__restrict a, const float *__restrict b,
           float *__restrict c) {
  constexpr int T = 64;
  const int iEnd = std::min(n, i0 + T), kEnd = std::min(n, k0 + T), jEnd = std::min(n, j0 + T);
  for (int i = i0; i < iEnd; ++i)
    for (int k = k0; k < kEnd; ++k) {
      const float aik = a[i * n + k];
      for (int j = j0; j < jEnd; ++j)
        c[i * n + j] += aik * b[k * n + j];
    }
}

void tiled(int n, const float *a, const float *b, float *c) {
  std::memset(c, 0, sizeof(float) * n * n);
  for (int i0 = 0; i0 < n; i0 += 64)
    for (int k0 = 0; k0 < n; k0 += 64)
      for (int j0 = 0; j0 < n; j0 += 64)
        block(n, i0, k0, j0, a, b, c);
}

void parallelTiled(int n, const float *a, const float *b, float *c) {
  std::memset(c, 0, sizeof(float) * n * n);
#pragma omp parallel for schedule(static)
  for (int i0 = 0; i0 < n; i0 += 64)
    for (int k0 = 0; k0 < n; k0 += 64)
      for (int j0 = 0; j0 < n; j0 += 64)
        block(n, i0, k0, j0, a, b, c);
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 3)
    return 2;
  const char *variant = argv[1];
  int n = std::atoi(argv[2]), runs = argc > 3 ? std::atoi(argv[3]) : 3;
  std::vector<float> a(size_t(n) * n), b(size_t(n) * n), c(size_t(n) * n);
  std::mt19937 gen(1);
  std::normal_distribution<float> d(0, 1);
  for (float &x : a)
    x = d(gen);
  for (float &x : b)
    x = d(gen);
  auto fn = !std::strcmp(variant, "naive")      ? naive
            : !std::strcmp(variant, "order")    ? order
            : !std::strcmp(variant, "parallel") ? parallelTiled
                                                : tiled;
  double best = 1e30;
  for (int r = 0; r < runs; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    fn(n, a.data(), b.data(), c.data());
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::printf("{\"variant\": \"%s\", \"n\": %d, \"seconds\": %.6f, \"check\": %g}\n", variant, n, best,
              double(c[n + 1]));
  return 0;
}
