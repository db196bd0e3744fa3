// JitOptions::parallelFor: a program's own pool runs the kernels' parallel loops, each chunk of
// the static split exactly once, with results bit-identical to tdsl's pool, whichever thread
// runs which chunk and in whatever order.
#include "tdsl/tdsl.h"
#include "tests/unit/common/ApiTestSupport.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace {

using namespace tdsl;
using namespace tdsl::testing_support;

const char *kSoftmax = R"(
kernel softmax(x: f32[N, D]) -> y: f32[N, D] {
    m[i] = max(x[i, k] for k)
    e[i, j] = exp(x[i, j] - m[i])
    y[i, j] = e[i, j] / sum(e[i, k] for k)
}
)";

/// What a hook saw: the loops it ran, and per loop how often each chunk ran.
struct HookLog {
  std::mutex mutex;
  std::vector<std::vector<int>> runsPerChunk; // One entry per loop.
};

/// Runs each chunk on a std::thread of its own.
void onThreads(int chunks, void (*chunk)(void *, int), void *closure, void *user) {
  auto &log = *static_cast<HookLog *>(user);
  std::vector<std::atomic<int>> runs(static_cast<size_t>(chunks));
  std::vector<std::thread> threads;
  for (int i = 0; i < chunks; ++i)
    threads.emplace_back([&, i] {
      chunk(closure, i);
      runs[static_cast<size_t>(i)].fetch_add(1);
    });
  for (std::thread &t : threads)
    t.join();
  std::lock_guard<std::mutex> lock(log.mutex);
  log.runsPerChunk.emplace_back();
  for (const std::atomic<int> &r : runs)
    log.runsPerChunk.back().push_back(r.load());
}

/// Runs the chunks on the calling thread, last first.
void serialReversed(int chunks, void (*chunk)(void *, int), void *closure, void *user) {
  auto &log = *static_cast<HookLog *>(user);
  std::vector<int> runs(static_cast<size_t>(chunks), 0);
  for (int i = chunks; i-- > 0;) {
    chunk(closure, i);
    ++runs[static_cast<size_t>(i)];
  }
  log.runsPerChunk.push_back(runs);
}

Kernel softmaxWith(ParallelFor hook) {
  JitOptions options;
  options.threads = 2;
  options.parallelFor = hook;
  options.diskCache = false;
  return Jit(options).compile(kSoftmax).kernel("softmax");
}

TEST(ParallelForHook, EveryChunkRunsOnceAndResultsAreBitIdentical) {
  Tensor x = Tensor::randn({513, 301}, DType::F32, 7);
  JitOptions plain;
  plain.threads = 2;
  plain.diskCache = false;
  Kernel reference = Jit(plain).compile(kSoftmax).kernel("softmax");
  Tensor expected = reference({x})[0];
  Tensor serial = reference.withThreads(1)({x})[0];
  ASSERT_TRUE(sameBytes(serial, expected));

  for (ParallelFor::Fn fn : {&onThreads, &serialReversed}) {
    HookLog log;
    Kernel k = softmaxWith({fn, &log});
    Tensor got = k({x})[0];
    EXPECT_TRUE(sameBytes(got, expected));
    if (k.threads() < 2)
      continue; // One hardware thread: the schedule has no parallel loop.
    ASSERT_FALSE(log.runsPerChunk.empty()) << "the kernel's parallel loops never reached the hook";
    for (const std::vector<int> &loop : log.runsPerChunk) {
      EXPECT_EQ(loop.size(), static_cast<size_t>(k.threads()));
      for (int runs : loop)
        EXPECT_EQ(runs, 1);
    }
  }
}

TEST(ParallelForHook, SmallLoopsGetNoMoreChunksThanIterations) {
  HookLog log;
  Kernel k = softmaxWith({&serialReversed, &log});
  Tensor x = Tensor::randn({1, 3}, DType::F32, 1);
  Tensor got = k({x})[0];
  EXPECT_TRUE(sameBytes(got, k.withThreads(1)({x})[0]));
  for (const std::vector<int> &loop : log.runsPerChunk)
    EXPECT_EQ(loop.size(), 1u);
}

} // namespace
