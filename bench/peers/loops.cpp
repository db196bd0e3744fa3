// Plain C++ loops for the bench/cpu.tdsl workloads: what a careful programmer writes without
// intrinsics, libraries or -ffast-math. run_cpu.py compiles this with g++ -O3 -march=native, so
// the elementwise loops of + - * vectorize while libm calls (cosf, tanhf, expf) and float
// reductions (which need reassociation) stay scalar: the "scalar C++ loop with libm" peer.
//
//   loops KERNEL SIZE... [--min-time SECONDS] [--min-runs N]
//   loops poly 16777216        loops softmax 4096 4096
//
// Prints one JSON line: {"kernel": ..., "median_ms": ..., "min_ms": ..., "runs": ..., "check":
// ...}.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <sys/mman.h>

namespace {

using Clock = std::chrono::steady_clock;

/// Float storage first touched (page-faulted) at creation; in transparent huge pages when large,
/// as tdsl's and NumPy's tensors are, so the loops are compared on the same memory.
struct Array {
  float *data = nullptr;
  size_t size = 0;
  explicit Array(size_t n) : size(n) {
    constexpr size_t kHuge = size_t{2} << 20;
    size_t bytes = n * sizeof(float);
    size_t alignment = bytes >= 2 * kHuge ? kHuge : 64;
    size_t rounded = (bytes + alignment - 1) / alignment * alignment;
    data = static_cast<float *>(std::aligned_alloc(alignment, rounded == 0 ? 64 : rounded));
    if (alignment == kHuge)
      (void)madvise(data, rounded, MADV_HUGEPAGE);
    std::memset(data, 0, bytes);
  }
  ~Array() { std::free(data); }
  Array(const Array &) = delete;
  Array &operator=(const Array &) = delete;
};

void fillNormal(Array &a, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (size_t i = 0; i < a.size; ++i)
    a.data[i] = normal(rng);
}

__attribute__((noinline)) void poly(const float *__restrict x, const float *__restrict y,
                                    const float *__restrict z, float *__restrict out, size_t n) {
  for (size_t i = 0; i < n; ++i)
    out[i] = x[i] * y[i] + z[i] * x[i] - y[i] * z[i] + 2.5f * x[i];
}

__attribute__((noinline)) void rowsum(const float *__restrict x, float *__restrict s, size_t rows,
                                      size_t cols) {
  for (size_t i = 0; i < rows; ++i) {
    float acc = 0.0f;
    for (size_t j = 0; j < cols; ++j)
      acc += x[i * cols + j];
    s[i] = acc;
  }
}

__attribute__((noinline)) void coscos(const float *__restrict x, float *__restrict y, size_t n) {
  for (size_t i = 0; i < n; ++i)
    y[i] = std::cos(std::cos(x[i]));
}

__attribute__((noinline)) void geluTanh(const float *__restrict x, float *__restrict y, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    float v = x[i];
    y[i] = 0.5f * v * (1.0f + std::tanh(0.7978845608f * (v + 0.044715f * v * v * v)));
  }
}

__attribute__((noinline)) void softmax(const float *__restrict x, float *__restrict y, size_t rows,
                                       size_t cols) {
  for (size_t i = 0; i < rows; ++i) {
    const float *row = x + i * cols;
    float *out = y + i * cols;
    float m = -INFINITY;
    for (size_t j = 0; j < cols; ++j)
      m = std::max(m, row[j]);
    float sum = 0.0f;
    for (size_t j = 0; j < cols; ++j) {
      out[j] = std::exp(row[j] - m);
      sum += out[j];
    }
    for (size_t j = 0; j < cols; ++j)
      out[j] /= sum;
  }
}

__attribute__((noinline)) void layernorm(const float *__restrict x, const float *__restrict g,
                                         const float *__restrict b, float *__restrict y,
                                         size_t rows, size_t cols) {
  for (size_t i = 0; i < rows; ++i) {
    const float *row = x + i * cols;
    float *out = y + i * cols;
    float sum = 0.0f;
    for (size_t j = 0; j < cols; ++j)
      sum += row[j];
    float mu = sum / static_cast<float>(cols);
    float sq = 0.0f;
    for (size_t j = 0; j < cols; ++j)
      sq += (row[j] - mu) * (row[j] - mu);
    float rstd = 1.0f / std::sqrt(sq / static_cast<float>(cols) + 1e-5f);
    for (size_t j = 0; j < cols; ++j)
      out[j] = (row[j] - mu) * rstd * g[j] + b[j];
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t mid = v.size() / 2;
  return v.size() % 2 ? v[mid] : 0.5 * (v[mid - 1] + v[mid]);
}

double checksum(const Array &a) {
  double s = 0;
  for (size_t i = 0; i < a.size; ++i)
    s += a.data[i];
  return s;
}

int usage() {
  std::fprintf(stderr, "usage: loops poly|coscos|gelu_tanh N | rowsum|softmax|layernorm R C "
                       "[--min-time S] [--min-runs N]\n");
  return 2;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 3)
    return usage();
  std::string kernel = argv[1];
  std::vector<size_t> sizes;
  double minTime = 0.5;
  int minRuns = 5;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--min-time" && i + 1 < argc)
      minTime = std::atof(argv[++i]);
    else if (arg == "--min-runs" && i + 1 < argc)
      minRuns = std::atoi(argv[++i]);
    else
      sizes.push_back(std::strtoull(arg.c_str(), nullptr, 10));
  }
  bool rowWise = kernel == "rowsum" || kernel == "softmax" || kernel == "layernorm";
  if (sizes.size() != (rowWise ? 2u : 1u))
    return usage();
  size_t n = rowWise ? sizes[0] * sizes[1] : sizes[0];
  size_t rows = rowWise ? sizes[0] : 0, cols = rowWise ? sizes[1] : 0;

  Array x(n), y(n), z(n), g(cols), b(cols), out(kernel == "rowsum" ? rows : n);
  fillNormal(x, 1);
  if (kernel == "poly") {
    fillNormal(y, 2);
    fillNormal(z, 3);
  }
  if (kernel == "layernorm") {
    fillNormal(g, 2);
    fillNormal(b, 3);
  }

  auto call = [&] {
    if (kernel == "poly")
      poly(x.data, y.data, z.data, out.data, n);
    else if (kernel == "rowsum")
      rowsum(x.data, out.data, rows, cols);
    else if (kernel == "coscos")
      coscos(x.data, out.data, n);
    else if (kernel == "gelu_tanh")
      geluTanh(x.data, out.data, n);
    else if (kernel == "softmax")
      softmax(x.data, out.data, rows, cols);
    else if (kernel == "layernorm")
      layernorm(x.data, g.data, b.data, out.data, rows, cols);
    else
      return false;
    return true;
  };
  if (!call())
    return usage();
  call(); // warm-up

  std::vector<double> times;
  Clock::time_point began = Clock::now();
  while (times.size() < static_cast<size_t>(minRuns) ||
         std::chrono::duration<double>(Clock::now() - began).count() < minTime) {
    Clock::time_point t0 = Clock::now();
    call();
    times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::printf("{\"kernel\": \"%s\", \"median_ms\": %.6g, \"min_ms\": %.6g, \"runs\": %zu, "
              "\"check\": %.6g}\n",
              kernel.c_str(), median(times), *std::min_element(times.begin(), times.end()),
              times.size(), checksum(out));
  return 0;
}
