// Kernels compiled ahead of time against the JIT, in one process on the same data: the cost of a
// call of a tiny kernel (add of 1 and 16 floats, one thread, shapes checked and not) beside
// Kernel::run's, and softmax 4096 x 4096 on one thread and on every hardware thread, the two
// sides' calls interleaved. Medians of repeated runs.
//
//   build/bin/bench_aot
#include "bench_aot_kernels.h"
#include "tdsl/tdsl.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

/// The median over `repetitions` of the seconds per call of `calls` calls of `body`.
double medianSeconds(int repetitions, int64_t calls, const std::function<void()> &body) {
  std::vector<double> times;
  for (int r = 0; r < repetitions; ++r) {
    Clock::time_point start = Clock::now();
    for (int64_t c = 0; c < calls; ++c)
      body();
    times.push_back(std::chrono::duration<double>(Clock::now() - start).count() / calls);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

} // namespace

int main() {
  using namespace tdsl;
  Module module = Jit(JitOptions{.threads = 0, .tiering = Tiering::OptimizedOnly})
                      .compileFile(std::string(TDSL_SOURCE_DIR) + "/bench/aot.tdsl");
  Kernel add = module.kernel("add").withThreads(1);
  tdsl_call_options oneThread = {};
  oneThread.threads = 1;
  for (int64_t n : {1, 16}) {
    std::vector<float> a(n, 1.0f), b(n, 2.0f), y(n);
    std::vector<Tensor> in = {Tensor::view(a.data(), {n}, DType::F32),
                              Tensor::view(b.data(), {n}, DType::F32)};
    std::vector<Tensor> out = {Tensor::view(y.data(), {n}, DType::F32)};
    add.run(in, out); // Compiles.
    const int64_t shape[] = {n};
    double jit = medianSeconds(15, 200000, [&] { add.run(in, out); });
    double aot = medianSeconds(15, 200000, [&] {
      bench_aot_kernels_add(a.data(), shape, b.data(), shape, y.data(), shape, n, &oneThread);
    });
    double unchecked = medianSeconds(15, 200000, [&] {
      bench_aot_kernels_add(a.data(), nullptr, b.data(), nullptr, y.data(), nullptr, n, &oneThread);
    });
    std::printf("add of %lld floats, one thread: JIT run %.1f ns, AOT %.1f ns (shapes checked), "
                "%.1f ns (shapes not given)\n",
                static_cast<long long>(n), jit * 1e9, aot * 1e9, unchecked * 1e9);
  }

  const int64_t rows = 4096, cols = 4096;
  Tensor x = Tensor::randn({rows, cols}, DType::F32, 1),
         y = Tensor::zeros({rows, cols}, DType::F32);
  auto *xs = static_cast<const float *>(x.data());
  auto *ys = static_cast<float *>(y.data());
  for (int threads : {1, 0}) {
    Kernel softmax = module.kernel("softmax").withThreads(threads);
    tdsl_call_options options = {};
    options.threads = threads;
    softmax.run({x}, {y});
    bench_aot_kernels_softmax(xs, nullptr, ys, nullptr, rows, cols, &options);
    // Interleaved, so that neither side gains from running first or last.
    std::vector<double> jitTimes, aotTimes;
    for (int r = 0; r < 31; ++r) {
      jitTimes.push_back(medianSeconds(1, 1, [&] { softmax.run({x}, {y}); }));
      aotTimes.push_back(medianSeconds(1, 1, [&] {
        bench_aot_kernels_softmax(xs, nullptr, ys, nullptr, rows, cols, &options);
      }));
    }
    std::sort(jitTimes.begin(), jitTimes.end());
    std::sort(aotTimes.begin(), aotTimes.end());
    std::printf("softmax %lld x %lld, %d thread%s: JIT %.2f ms, AOT %.2f ms (medians)\n",
                static_cast<long long>(rows), static_cast<long long>(cols), softmax.threads(),
                softmax.threads() == 1 ? "" : "s", jitTimes[jitTimes.size() / 2] * 1e3,
                aotTimes[aotTimes.size() / 2] * 1e3);
  }
  return 0;
}
