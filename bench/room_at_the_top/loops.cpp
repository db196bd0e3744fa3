// The C rows of the "room at the top" table (Leiserson et al., Science 2020, Table 1) for an
// n x n x n f32 matrix product: `naive` (i, j, k loops), `order` (i, k, j: the inner loop walks
// rows of b and c), `tiled` (i, k, j in 64 x 64 x 64 blocks). Plain C++, g++ -O3 -march=native.
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

void tiled(int n, const float *a, const float *b, float *c) {
  constexpr int T = 64;
  std::memset(c, 0, sizeof(float) * n * n);
  for (int i0 = 0; i0 < n; i0 += T)
    for (int k0 = 0; k0 < n; k0 += T)
      for (int j0 = 0; j0 < n; j0 += T)
        for (int i = i0; i < std::min(n, i0 + T); ++i)
          for (int k = k0; k < std::min(n, k0 + T); ++k)
            for (int j = j0; j < std::min(n, j0 + T); ++j)
              c[i * n + j] += a[i * n + k] * b[k * n + j];
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
  auto fn = !std::strcmp(variant, "naive") ? naive : !std::strcmp(variant, "order") ? order : tiled;
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
