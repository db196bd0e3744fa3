// A STREAM-like bandwidth probe: copy (a = b) and triad (a = b + s * c) over arrays much larger
// than the last-level cache, median of repeated runs, on 1 thread and on T threads (a static
// split, one contiguous slice each). Bytes are counted as STREAM does: 2 arrays for copy, 3 for
// triad (the write-allocate read of `a` is not counted), so "bytes / triad bandwidth" is the
// floor for a kernel that reads each input once and writes each output once with plain stores.
//
//   stream [--elements N] [--threads T] [--min-runs N] [--min-time S]
//
// Prints one JSON line: {"elements": ..., "copy_gbps": ..., "triad_gbps": ..., "threads": T,
// "copy_gbps_threads": ..., "triad_gbps_threads": ...}.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <sys/mman.h>

namespace {

/// Arrays in transparent huge pages, as tdsl's and NumPy's large tensors are: the probe measures
/// the bandwidth the machine gives, not the lower one of 4 KiB pages (the prefetchers stop at
/// page boundaries).
void *hugePageAlloc(size_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
  void *p = std::aligned_alloc(kHuge, rounded);
  if (p)
    (void)madvise(p, rounded, MADV_HUGEPAGE);
  return p;
}

using Clock = std::chrono::steady_clock;

// Copy is a plain loop; run_cpu.py compiles with -fno-tree-loop-distribute-patterns so that it
// is not turned into a memcpy call (whose non-temporal stores would measure something else).
__attribute__((noinline)) void copy(double *__restrict a, const double *__restrict b, size_t begin,
                                    size_t end) {
  for (size_t i = begin; i < end; ++i)
    a[i] = b[i];
}

__attribute__((noinline)) void triad(double *__restrict a, const double *__restrict b,
                                     const double *__restrict c, double s, size_t begin,
                                     size_t end) {
  for (size_t i = begin; i < end; ++i)
    a[i] = b[i] + s * c[i];
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t mid = v.size() / 2;
  return v.size() % 2 ? v[mid] : 0.5 * (v[mid - 1] + v[mid]);
}

/// Runs `body(begin, end)` over [0, n) split statically over `threads` threads; the caller
/// takes the first slice.
template <typename F> void splitRun(size_t n, int threads, F body) {
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t)
    workers.emplace_back(body, n * t / threads, n * (t + 1) / threads);
  body(0, n / threads);
  for (std::thread &w : workers)
    w.join();
}

/// Median GB/s of `body` moving `bytes` per run.
template <typename F> double measure(F body, double bytes, int minRuns, double minTime) {
  body(); // warm-up
  std::vector<double> times;
  Clock::time_point began = Clock::now();
  while (times.size() < static_cast<size_t>(minRuns) ||
         std::chrono::duration<double>(Clock::now() - began).count() < minTime) {
    Clock::time_point t0 = Clock::now();
    body();
    times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return bytes / median(times) / 1e9;
}

} // namespace

int main(int argc, char **argv) {
  size_t n = size_t{1} << 25; // 32M doubles: 256 MiB per array, 8x a 32 MiB L3.
  int threads = 2, minRuns = 10;
  double minTime = 0.5;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string arg = argv[i];
    if (arg == "--elements")
      n = std::strtoull(argv[i + 1], nullptr, 10);
    else if (arg == "--threads")
      threads = std::max(1, std::atoi(argv[i + 1]));
    else if (arg == "--min-runs")
      minRuns = std::atoi(argv[i + 1]);
    else if (arg == "--min-time")
      minTime = std::atof(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: stream [--elements N] [--threads T] [--min-runs N] "
                           "[--min-time S]\n");
      return 2;
    }
  }
  size_t bytes = n * sizeof(double);
  auto *a = static_cast<double *>(hugePageAlloc(bytes));
  auto *b = static_cast<double *>(hugePageAlloc(bytes));
  auto *c = static_cast<double *>(hugePageAlloc(bytes));
  // First touch from the threads that will use each slice.
  splitRun(n, threads, [&](size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; ++i) {
      a[i] = 0.0;
      b[i] = 1.0;
      c[i] = 2.0;
    }
  });

  auto copy1 = [&] { copy(a, b, 0, n); };
  auto triad1 = [&] { triad(a, b, c, 3.0, 0, n); };
  auto copyT = [&] { splitRun(n, threads, [&](size_t lo, size_t hi) { copy(a, b, lo, hi); }); };
  auto triadT = [&] {
    splitRun(n, threads, [&](size_t lo, size_t hi) { triad(a, b, c, 3.0, lo, hi); });
  };
  double copyGbps = measure(copy1, 2.0 * bytes, minRuns, minTime);
  double triadGbps = measure(triad1, 3.0 * bytes, minRuns, minTime);
  double copyGbpsT = measure(copyT, 2.0 * bytes, minRuns, minTime);
  double triadGbpsT = measure(triadT, 3.0 * bytes, minRuns, minTime);

  double check = 0;
  for (size_t i = 0; i < n; i += 4096)
    check += a[i];
  std::printf("{\"elements\": %zu, \"copy_gbps\": %.4g, \"triad_gbps\": %.4g, \"threads\": %d, "
              "\"copy_gbps_threads\": %.4g, \"triad_gbps_threads\": %.4g, \"check\": %.6g}\n",
              n, copyGbps, triadGbps, threads, copyGbpsT, triadGbpsT, check);
  std::free(a);
  std::free(b);
  std::free(c);
  return 0;
}
