// Heap intermediates come from the kernel's scratch arena (runtime/Arena.h): a second call takes
// no page fault, results match the interpreter on odd shapes and from concurrent callers (run
// under ThreadSanitizer by the `tsan` preset), Kernel::profile reports the intermediates' bytes,
// and running out of memory is a RuntimeError rather than a crash.
#include "api/Numerics.h"
#include "tdsl/tdsl.h"
#include "tests/unit/common/ApiTestSupport.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

namespace {

using namespace tdsl;
using namespace tdsl::testing_support;

// bx is stored whole (y reads it at mirrored rows); outer's t is stored whole (s reads it at two
// sites in another group) and so is s.sum0, which is allocated while t is held.
const char *kProgram = R"(
kernel blur(x: f32[H, W]) -> y: f32[H, W] {
    bx[i, j] = x[i, j - 2] ?? 0.0 + x[i, j - 1] ?? 0.0 + x[i, j] + x[i, j + 1] ?? 0.0 + x[i, j + 2] ?? 0.0
    y[i, j] = bx[i, j] + bx[H - 1 - i, j]
}
kernel outer(x: f32[N], y: f32[M]) -> s: f32[M] {
    t[i, j] = exp(x[i] * y[j])
    s[j] = sum(t[i, j] for i) + t[0, j] ?? 0.0
}
kernel axpy(x: f32[N], y: f32[N]) -> z: f32[N] {
    z = 2.0 * x + y
}
)";

Module compileWithThreads(int threads) {
  return testing_support::compileWithThreads(kProgram, "scratch.tdsl", threads);
}

long minorFaultsOfThisThread() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_minflt;
}

TEST(Scratch, ASecondCallTakesNoPageFault) {
  Kernel blur = compileWithThreads(1).kernel("blur");
  // A 36 MiB intermediate: above glibc's largest mmap threshold, so a malloc per call would map
  // fresh pages every time (9216 faults on 4 KiB pages, 18 on 2 MiB ones).
  Tensor x = Tensor::randn({3072, 3072}, DType::F32, 1);
  Tensor first = Tensor::zeros({3072, 3072}, DType::F32);
  Tensor second = Tensor::zeros({3072, 3072}, DType::F32);
  blur.run({x}, {first});
  long before = minorFaultsOfThisThread();
  blur.run({x}, {second});
  long faults = minorFaultsOfThisThread() - before;
  EXPECT_LE(faults, 4);
  EXPECT_TRUE(sameBytes(first, second));
}

TEST(Scratch, ResultsMatchTheInterpreterOnAnyShapeAndThreadCount) {
  for (int threads : {1, 2}) {
    Module m = compileWithThreads(threads);
    Kernel blur = m.kernel("blur"), outer = m.kernel("outer");
    // Shrinking and growing shapes reuse dirty blocks: every element is written before it is read.
    for (auto [h, w] :
         {std::pair<int64_t, int64_t>{37, 53}, {1, 1}, {5, 200}, {300, 7}, {37, 53}}) {
      Tensor x = Tensor::randn({h, w}, DType::F32, uint64_t(h * w));
      Tensor y = blur({x})[0];
      EXPECT_TRUE(withinTolerance(y, blur.interpret({x})[0])) << h << "x" << w << ", " << threads;
      EXPECT_TRUE(sameBytes(y, blur({x})[0])) << h << "x" << w << ", " << threads;
    }
    for (auto [n, k] : {std::pair<int64_t, int64_t>{17, 33}, {1, 70}, {64, 1}}) {
      std::vector<Tensor> in = outer.randomInputs({{"N", n}, {"M", k}}, 3);
      EXPECT_TRUE(withinTolerance(outer(in)[0], outer.interpret(in)[0])) << n << "x" << k;
    }
  }
}

TEST(Scratch, ProfileReportsThePeakBytesOfIntermediates) {
  Module m = compileWithThreads(1);
  ProfileOptions options;
  options.runs = 2;
  options.roofline = false;
  Kernel blur = m.kernel("blur"), outer = m.kernel("outer"), axpy = m.kernel("axpy");
  EXPECT_EQ(blur.profile({Tensor::randn({40, 30}, DType::F32, 1)}, options).intermediateBytes,
            40 * 30 * 4);
  // t and s.sum0 are held at once.
  EXPECT_EQ(outer.profile(outer.randomInputs({{"N", 20}, {"M", 50}}, 1), options).intermediateBytes,
            20 * 50 * 4 + 50 * 4);
  EXPECT_EQ(axpy.profile(axpy.randomInputs({{"N", 100}}, 1), options).intermediateBytes, 0);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TDSL_SANITIZED 1
#endif

TEST(Scratch, AnIntermediateTooLargeForMemoryIsARuntimeError) {
#ifdef TDSL_SANITIZED
  GTEST_SKIP() << "sanitizers reserve terabytes of address space: no room for an RLIMIT_AS";
#else
  Kernel outer = compileWithThreads(1).kernel("outer");
  std::vector<Tensor> big = outer.randomInputs({{"N", 16384}, {"M", 16384}}, 1);
  (void)outer(outer.randomInputs({{"N", 2}, {"M", 2}}, 1)); // Compiles before the limit.
  // Room for 256 MiB more: t needs 1 GiB.
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_AS, &saved), 0);
  long pages = 0;
  {
    FILE *statm = std::fopen("/proc/self/statm", "r");
    ASSERT_NE(statm, nullptr);
    ASSERT_EQ(std::fscanf(statm, "%ld", &pages), 1);
    std::fclose(statm);
  }
  rlimit limited = saved;
  limited.rlim_cur = rlim_t(pages) * rlim_t(sysconf(_SC_PAGESIZE)) + (rlim_t{256} << 20);
  ASSERT_EQ(setrlimit(RLIMIT_AS, &limited), 0);
  std::string message;
  try {
    (void)outer(big);
  } catch (const RuntimeError &e) {
    message = e.what();
  }
  ASSERT_EQ(setrlimit(RLIMIT_AS, &saved), 0);
  EXPECT_EQ(message, "kernel outer: cannot allocate 1073741824 bytes for an intermediate (out of "
                     "memory); its outputs are not valid");
#endif
}

// Several callers of one kernel at once, each call's parallel loops taking slices on the pool's
// workers too: every result is the one-thread result, byte for byte.
TEST(ScratchConcurrency, CallersAndWorkersShareTheArena) {
  Module m = compileWithThreads(2);
  Kernel blur = m.kernel("blur"), outer = m.kernel("outer");
  Tensor x = Tensor::randn({300, 517}, DType::F32, 7);
  std::vector<Tensor> outerIn = outer.randomInputs({{"N", 90}, {"M", 300}}, 8);
  Tensor blurred = blur.withThreads(1)({x})[0], summed = outer.withThreads(1)(outerIn)[0];
  std::vector<int> ok(6, 0);
  std::vector<std::thread> callers;
  for (int c = 0; c < 6; ++c)
    callers.emplace_back([&, c] {
      bool good = true;
      for (int round = 0; round < 4; ++round)
        good &= c % 2 ? sameBytes(blur({x})[0], blurred) : sameBytes(outer(outerIn)[0], summed);
      ok[c] = good;
    });
  for (std::thread &t : callers)
    t.join();
  EXPECT_EQ(ok, std::vector<int>(6, 1));
}

} // namespace
