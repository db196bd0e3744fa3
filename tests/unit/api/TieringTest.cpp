// Tiered compilation (JitOptions::tiering): what each mode runs, the optimized tier swapped in
// by the background thread while many threads call the kernel (run under TSan: the `tsan`
// preset builds this binary), a disk cache that holds only optimized code, Jits and kernels
// destroyed while their optimized tiers are queued or compiling, and processes that exit then.
#include "api/KernelCache.h"
#include "tdsl/tdsl.h"
#include "tests/unit/common/ApiTestSupport.h"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace tdsl;
using namespace tdsl::testing_support;
namespace fs = std::filesystem;

bool sameBits(const Tensor &a, const Tensor &b) {
  return a.nbytes() == b.nbytes() && std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
}

/// Calls `k` until its calls run the optimized tier (at most a minute).
void callUntilOptimized(const Kernel &k, const Tensor &x) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  while (k.tier() != Tier::Optimized && std::chrono::steady_clock::now() < deadline) {
    k({x});
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

TEST(Tiering, EachModeRunsItsTiers) {
  Tensor x = Tensor::randn({5, 19}, DType::F32, 3);
  Tensor reference =
      jitFor(Tiering::OptimizedOnly).compile(kSoftmaxSource).kernel("softmax")({x})[0];

  Kernel optimized = jitFor(Tiering::OptimizedOnly).compile(kSoftmaxSource).kernel("softmax");
  EXPECT_EQ(optimized.tier(), Tier::None);
  EXPECT_TRUE(sameBits(optimized({x})[0], reference));
  EXPECT_EQ(optimized.tier(), Tier::Optimized);

  Kernel fast = jitFor(Tiering::FastOnly).compile(kSoftmaxSource).kernel("softmax");
  EXPECT_TRUE(sameBits(fast({x})[0], reference));
  EXPECT_EQ(fast.tier(), Tier::Fast);
  fast.waitForFinalTier(); // Fast is final here.
  EXPECT_EQ(fast.tier(), Tier::Fast);

  Jit tieredJit = jitFor(Tiering::Tiered);
  Kernel tiered = tieredJit.compile(kSoftmaxSource).kernel("softmax");
  EXPECT_EQ(tiered.tier(), Tier::None);
  EXPECT_TRUE(sameBits(tiered({x})[0], reference));
  EXPECT_NE(tiered.tier(), Tier::None);
  tiered.waitForFinalTier();
  EXPECT_EQ(tiered.tier(), Tier::Optimized);
  EXPECT_TRUE(sameBits(tiered({x})[0], reference));
  std::string explained = tiered.explain();
  EXPECT_NE(explained.find("tier: the first call compiled the fast tier in"), std::string::npos)
      << explained;
  EXPECT_NE(explained.find("the optimized tier was swapped in"), std::string::npos) << explained;
}

// The fast tier tiles a contraction with a micro-kernel of fewer rows (less code to compile);
// the k blocks stay those of the optimized tier, so with K over several of them (KC is 288 on
// AVX-512, 256 at most elsewhere) and M, N past several partial tiles the bits are the same.
TEST(Tiering, FastTierTilesWithFewerRowsAndTheSameBits) {
  const char *source = R"(kernel matmul(a: f32[M, K], b: f32[K, N]) -> c: f32[M, N] {
    c[i, j] = sum(a[i, k] * b[k, j] for k)
}
)";
  Kernel fast = jitFor(Tiering::FastOnly).compile(source).kernel("matmul");
  Kernel optimized = jitFor(Tiering::OptimizedOnly).compile(source).kernel("matmul");
  EXPECT_NE(fast.dump(Stage::Loops), optimized.dump(Stage::Loops));
  EXPECT_LT(fast.dump(Stage::Loops).size(), optimized.dump(Stage::Loops).size() / 2);
  std::vector<Tensor> inputs = fast.randomInputs({{"M", 37}, {"K", 700}, {"N", 75}}, 5);
  Tensor a = fast(inputs)[0], b = optimized(inputs)[0];
  EXPECT_EQ(fast.tier(), Tier::Fast);
  EXPECT_EQ(optimized.tier(), Tier::Optimized);
  EXPECT_TRUE(sameBits(a, b));
}

TEST(Tiering, BackgroundThreadSwapsInTheOptimizedTier) {
  Tensor x = Tensor::randn({4, 40}, DType::F32, 5);
  Jit jit = jitFor(Tiering::Tiered);
  Kernel k = jit.compile(kSoftmaxSource).kernel("softmax");
  k({x});
  callUntilOptimized(k, x); // Nobody waits: the background thread compiles and swaps.
  EXPECT_EQ(k.tier(), Tier::Optimized);
}

// Many threads call one kernel from its first call through the swap: every call gives the
// optimized-only Jit's bits, and the calls see the fast tier, then the optimized one.
TEST(Tiering, SwapUnderConcurrentCalls) {
  Tensor x = Tensor::randn({16, 67}, DType::F32, 11);
  Tensor reference =
      jitFor(Tiering::OptimizedOnly).compile(kSoftmaxSource).kernel("softmax")({x})[0];
  Jit jit = jitFor(Tiering::Tiered);
  Kernel k = jit.compile(kSoftmaxSource).kernel("softmax");
  std::atomic<bool> sawFast{false}, wrong{false};
  std::atomic<int> optimizedCalls{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      Tensor y = Tensor::zeros({16, 67}, DType::F32);
      auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
      while (optimizedCalls.load() < 200 && std::chrono::steady_clock::now() < deadline) {
        Tier before = k.tier();
        k.run({x}, {y});
        if (!sameBits(y, reference))
          wrong = true;
        if (before == Tier::Fast)
          sawFast = true;
        if (before == Tier::Optimized)
          optimizedCalls++;
      }
    });
  for (std::thread &t : threads)
    t.join();
  EXPECT_FALSE(wrong) << "a call during the swap gave other bits";
  EXPECT_TRUE(sawFast);
  EXPECT_GE(optimizedCalls.load(), 200);
}

// The fast tier never reaches the disk; the optimized tier does, and a fresh Jit that finds it
// there runs it from its first call on, without tiering.
TEST(Tiering, DiskCacheHoldsOnlyTheOptimizedTier) {
  std::string dir = freshTestDir("tiering", "disk");
  Tensor x = Tensor::randn({3, 21}, DType::F32, 8);
  {
    Kernel fast = jitFor(Tiering::FastOnly, dir).compile(kSoftmaxSource).kernel("softmax");
    fast({x});
    EXPECT_TRUE(entryFiles(dir).empty());
  }
  {
    Jit jit = jitFor(Tiering::Tiered, dir);
    Kernel k = jit.compile(kSoftmaxSource).kernel("softmax");
    k({x});
    k.waitForFinalTier();
    EXPECT_TRUE(onlyKey(dir).optimized());
  }
  Jit jit = jitFor(Tiering::Tiered, dir);
  Kernel k = jit.compile(kSoftmaxSource).kernel("softmax");
  CounterSnapshot start = CounterSnapshot::now();
  k({x});
  EXPECT_EQ(k.tier(), Tier::Optimized);
  CounterSnapshot d = CounterSnapshot::now().since(start);
  EXPECT_EQ(d.diskHits, 1u);
  EXPECT_EQ(d.misses, 0u);
  EXPECT_NE(k.explain().find("found the optimized code in the kernel cache"), std::string::npos)
      << k.explain();
  EXPECT_EQ(entryFiles(dir).size(), 1u);
  fs::remove_all(dir);
}

constexpr const char *kSeveralKernels = R"(
kernel scale(x: f32[N]) -> y: f32[N] {
    y[i] = 3.0 * x[i]
}
kernel total(x: f32[N]) -> y: f32 {
    y = sum(x[i] for i)
}
kernel shifted(x: f32[N]) -> y: f32[N] {
    y[i] = exp(x[i] - max(x[j] for j))
}
kernel square(x: f32[N]) -> y: f32[N] {
    y[i] = x[i] * x[i] + 1.0
}
)";

// Jits and kernels dropped while their optimized tiers are queued or compiling: the queued
// compiles are dropped, the running one finishes, nothing is used after it is freed (ASan,
// TSan). A kernel that outlives its Jit keeps working and still reaches its optimized tier.
TEST(Tiering, DestroyedWhileCompilesAreQueued) {
  Tensor x = Tensor::randn({33}, DType::F32, 2);
  for (int round = 0; round < 3; ++round) {
    Jit jit = jitFor(Tiering::Tiered);
    Module m = jit.compile(kSeveralKernels);
    for (const std::string &name : m.kernelNames())
      m.kernel(name)({x});
  }
  Kernel survivor;
  std::vector<Tensor> expected;
  {
    Jit jit = jitFor(Tiering::Tiered);
    Module m = jit.compile(kSeveralKernels);
    for (const std::string &name : m.kernelNames())
      m.kernel(name)({x});
    survivor = m.kernel("shifted");
    expected = survivor({x});
  }
  survivor.waitForFinalTier();
  EXPECT_EQ(survivor.tier(), Tier::Optimized);
  EXPECT_TRUE(sameBits(survivor({x})[0], expected[0]));
}

TEST(Tiering, ProfileTimesTheOptimizedTier) {
  Jit jit = jitFor(Tiering::Tiered);
  Kernel k = jit.compile(kSoftmaxSource).kernel("softmax");
  ProfileOptions options;
  options.runs = 2;
  options.roofline = false;
  Profile p = k.profile({Tensor::randn({4, 32}, DType::F32, 1)}, options);
  EXPECT_EQ(p.firstCallTier, "fast");
  EXPECT_EQ(p.tier, "optimized");
  EXPECT_GE(p.finalTierWaitSeconds, 0.0);
}

// A process whose static Module's optimized tiers are compiling when it exits: run by
// Tiering.ExitWhileCompilingIsClean in a child process, which exits from inside the test.
TEST(TieringChild, ExitsWhileCompiling) {
  const char *delay = std::getenv("TDSL_TIERING_EXIT_DELAY_US");
  if (!delay)
    GTEST_SKIP() << "run by Tiering.ExitWhileCompilingIsClean";
  static Module module = jitFor(Tiering::Tiered).compile(kSeveralKernels);
  Tensor x = Tensor::randn({33}, DType::F32, 2);
  for (const std::string &name : module.kernelNames())
    module.kernel(name)({x});
  std::this_thread::sleep_for(std::chrono::microseconds(std::atoi(delay)));
  std::exit(0); // The static Module and LLVM's statics are destroyed after this.
}

// The exit waits for the running compile instead of destroying what it uses (a crash in one of
// a few runs before it did), at moments spread over the compiles.
TEST(Tiering, ExitWhileCompilingIsClean) {
  for (int run = 0; run < 12; ++run) {
    pid_t pid = spawnTest("TieringChild.ExitsWhileCompiling", "TDSL_TIERING_EXIT_DELAY_US",
                          std::to_string(run * 2500));
    ASSERT_GE(pid, 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "run " << run << ": status " << status;
  }
}

} // namespace
