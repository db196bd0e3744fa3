// The thread pool: the static split, every iteration run exactly once, the caller taking chunk 0,
// nested and concurrent loops running serially, exceptions, sleeping workers, and the C ABI.
#include "runtime/ThreadPool.h"
#include "runtime/KernelAbi.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace tdsl::runtime {
namespace {

TEST(StaticChunk, MatchesTheFormulaAndCoversTheRangeInOrder) {
  for (int64_t n : {0, 1, 2, 5, 7, 16, 100, 1001})
    for (int chunks : {1, 2, 3, 4, 7, 8, 16}) {
      int64_t expectedBegin = 0;
      for (int t = 0; t < chunks; ++t) {
        auto [begin, end] = staticChunk(n, chunks, t);
        EXPECT_EQ(begin, t * n / chunks) << n << " " << chunks << " " << t;
        EXPECT_EQ(end, (t + 1) * n / chunks) << n << " " << chunks << " " << t;
        EXPECT_EQ(begin, expectedBegin);
        EXPECT_LE(end - begin, n / chunks + 1);
        EXPECT_GE(end - begin, n / chunks);
        expectedBegin = end;
      }
      EXPECT_EQ(expectedBegin, n);
    }
}

TEST(StaticChunk, DoesNotOverflowOnHugeRanges) {
  const int64_t n = std::numeric_limits<int64_t>::max();
  for (int chunks : {2, 3, 7, 64}) {
    int64_t previous = 0;
    for (int t = 0; t < chunks; ++t) {
      auto [begin, end] = staticChunk(n, chunks, t);
      EXPECT_EQ(begin, previous);
      EXPECT_GT(end, begin);
      previous = end;
    }
    EXPECT_EQ(previous, n);
  }
}

TEST(ThreadPool, ChunksForClampsToThreadsPoolAndIterations) {
  ThreadPool pool(4);
  EXPECT_EQ(pool.chunksFor(100, 1), 1);
  EXPECT_EQ(pool.chunksFor(100, 3), 3);
  EXPECT_EQ(pool.chunksFor(100, 9), 4);
  EXPECT_EQ(pool.chunksFor(2, 4), 2);
  EXPECT_EQ(pool.chunksFor(0, 4), 1);
  EXPECT_EQ(pool.chunksFor(100, 0), 1);
  EXPECT_EQ(pool.chunksFor(100, -3), 1);
}

struct ChunkRecord {
  int64_t begin, end;
  std::thread::id thread;
};

TEST(ThreadPool, RunsEveryIterationOnceWithTheStaticSplit) {
  ThreadPool pool(8); // More threads than this machine may have: the split must not care.
  for (int threads : {1, 2, 3, 7, 8})
    for (int64_t n : {1, 2, 3, 7, 100, 4099}) {
      std::vector<int> hits(static_cast<size_t>(n), 0);
      std::mutex mutex;
      std::vector<ChunkRecord> chunks;
      pool.parallelFor(n, threads, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
          ++hits[static_cast<size_t>(i)];
        std::lock_guard<std::mutex> lock(mutex);
        chunks.push_back({begin, end, std::this_thread::get_id()});
      });
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(hits[static_cast<size_t>(i)], 1) << "i=" << i << " n=" << n << " T=" << threads;
      int expected = pool.chunksFor(n, threads);
      ASSERT_EQ(static_cast<int>(chunks.size()), expected);
      std::sort(chunks.begin(), chunks.end(),
                [](const ChunkRecord &a, const ChunkRecord &b) { return a.begin < b.begin; });
      for (int t = 0; t < expected; ++t) {
        auto [begin, end] = staticChunk(n, expected, t);
        EXPECT_EQ(chunks[t].begin, begin);
        EXPECT_EQ(chunks[t].end, end);
      }
      EXPECT_EQ(chunks[0].thread, std::this_thread::get_id()) << "the caller takes chunk 0";
    }
  EXPECT_LE(pool.startedWorkers(), 7);
}

TEST(ThreadPool, StartsOnlyTheWorkersLoopsAskFor) {
  ThreadPool pool(8);
  EXPECT_EQ(pool.startedWorkers(), 0);
  pool.parallelFor(10, 3, [](int64_t, int64_t) {});
  EXPECT_EQ(pool.startedWorkers(), 2);
  pool.parallelFor(10, 1, [](int64_t, int64_t) {});
  EXPECT_EQ(pool.startedWorkers(), 2);
  pool.parallelFor(10, 5, [](int64_t, int64_t) {});
  EXPECT_EQ(pool.startedWorkers(), 4);
}

TEST(ThreadPool, ChunksRunOnDistinctThreads) {
  ThreadPool pool(4);
  std::mutex mutex;
  std::vector<std::thread::id> ids;
  pool.parallelFor(4, 4, [&](int64_t, int64_t) {
    std::lock_guard<std::mutex> lock(mutex);
    ids.push_back(std::this_thread::get_id());
  });
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::unique(ids.begin(), ids.end()), ids.end());
  EXPECT_EQ(ids.size(), 4u);
}

TEST(ThreadPool, NestedLoopsRunSeriallyOnTheirThread) {
  ThreadPool pool(4);
  std::atomic<int> innerOnOtherThread{0}, innerChunks{0};
  std::vector<int> hits(4 * 10, 0);
  pool.parallelFor(4, 4, [&](int64_t begin, int64_t end) {
    EXPECT_TRUE(ThreadPool::insideChunk());
    std::thread::id outer = std::this_thread::get_id();
    for (int64_t i = begin; i < end; ++i)
      pool.parallelFor(10, 4, [&](int64_t b, int64_t e) {
        innerChunks.fetch_add(1);
        if (std::this_thread::get_id() != outer)
          innerOnOtherThread.fetch_add(1);
        for (int64_t j = b; j < e; ++j)
          ++hits[static_cast<size_t>(i * 10 + j)];
      });
  });
  EXPECT_FALSE(ThreadPool::insideChunk());
  EXPECT_EQ(innerOnOtherThread.load(), 0);
  EXPECT_EQ(innerChunks.load(), 4 * 4) << "nested loops keep the same split, run in order";
  EXPECT_EQ(hits, std::vector<int>(40, 1));
}

TEST(ThreadPool, ConcurrentCallersAllFinishCorrectly) {
  ThreadPool pool(4);
  constexpr int kCallers = 4, kRounds = 200;
  std::vector<int> ok(kCallers, 0);
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c)
    callers.emplace_back([&, c] {
      bool good = true;
      for (int round = 0; round < kRounds; ++round) {
        int64_t n = 17 + round % 13;
        std::vector<int64_t> out(static_cast<size_t>(n), -1);
        pool.parallelFor(n, 3, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i)
            out[static_cast<size_t>(i)] = i * c;
        });
        for (int64_t i = 0; i < n; ++i)
          good &= out[static_cast<size_t>(i)] == i * c;
      }
      ok[c] = good;
    });
  for (std::thread &t : callers)
    t.join();
  EXPECT_EQ(ok, std::vector<int>(kCallers, 1));
}

TEST(ThreadPool, ManyBackToBackLoops) {
  ThreadPool pool(2); // No more threads than this machine's cores, or it takes a while.
  std::vector<int64_t> sums(2);
  int64_t total = 0;
  for (int round = 0; round < 3000; ++round) {
    pool.parallelFor(2, 2, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        sums[static_cast<size_t>(i)] += round;
    });
    total += round;
  }
  EXPECT_EQ(sums, std::vector<int64_t>(2, total));
}

TEST(ThreadPool, WakesWorkersThatFellAsleep) {
  ThreadPool pool(3);
  for (int round = 0; round < 3; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(30)); // Longer than any spin.
    std::atomic<int64_t> sum{0};
    pool.parallelFor(300, 3, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        sum.fetch_add(i);
    });
    EXPECT_EQ(sum.load(), 299 * 300 / 2);
  }
}

TEST(ThreadPool, OwnerSleepsUntilSlowWorkersFinish) {
  ThreadPool pool(2);
  std::atomic<int> done{0};
  pool.parallelFor(2, 2, [&](int64_t begin, int64_t) {
    if (begin == 1)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    done.fetch_add(1);
  });
  EXPECT_EQ(done.load(), 2);
}

TEST(ThreadPool, RethrowsTheFirstFailingChunksExceptionAndStaysUsable) {
  ThreadPool pool(4);
  std::atomic<int> finished{0};
  try {
    pool.parallelFor(4, 4, [&](int64_t begin, int64_t) {
      if (begin >= 2)
        throw std::runtime_error("chunk " + std::to_string(begin));
      finished.fetch_add(1);
    });
    FAIL() << "expected an exception";
  } catch (const std::runtime_error &e) {
    EXPECT_STREQ(e.what(), "chunk 2");
  }
  EXPECT_EQ(finished.load(), 2);
  std::atomic<int> calls{0};
  pool.parallelFor(4, 4, [&](int64_t, int64_t) { calls.fetch_add(1); });
  EXPECT_EQ(calls.load(), 4);
  EXPECT_FALSE(ThreadPool::insideChunk());
}

TEST(ThreadPool, DestroysWithSleepingAndNeverStartedWorkers) {
  { ThreadPool unused(8); }
  ThreadPool pool(4);
  pool.parallelFor(8, 4, [](int64_t, int64_t) {});
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // The destructor wakes and joins them; the test would hang otherwise.
}

TEST(ThreadPool, SharedPoolIsSizedToTheHardware) {
  EXPECT_GE(ThreadPool::hardwareThreads(), 1);
  EXPECT_EQ(&ThreadPool::shared(), &ThreadPool::shared());
  EXPECT_EQ(ThreadPool::shared().maxThreads(), ThreadPool::hardwareThreads());
}

// ---- The C ABI.

struct Closure {
  std::vector<int> *hits;
  std::atomic<int> calls{0};
};

void countBody(void *closure, int64_t begin, int64_t end) {
  auto *c = static_cast<Closure *>(closure);
  c->calls.fetch_add(1);
  for (int64_t i = begin; i < end; ++i)
    ++(*c->hits)[static_cast<size_t>(i)];
}

TEST(ParallelAbi, NullRuntimeRunsOneSerialCall) {
  std::vector<int> hits(50, 0);
  Closure c{&hits};
  tdsl_parallel_for(nullptr, 50, countBody, &c);
  EXPECT_EQ(c.calls.load(), 1);
  EXPECT_EQ(hits, std::vector<int>(50, 1));
  tdsl_parallel_for(nullptr, 0, countBody, &c);
  tdsl_parallel_for(nullptr, -5, countBody, &c);
  EXPECT_EQ(c.calls.load(), 1);
}

TEST(ParallelAbi, OneThreadOrNoPoolIsSerial) {
  ThreadPool pool(4);
  std::vector<int> hits(50, 0);
  Closure c{&hits};
  CallRuntime one{&pool, 1}, noPool{nullptr, 4};
  tdsl_parallel_for(&one, 50, countBody, &c);
  tdsl_parallel_for(&noPool, 50, countBody, &c);
  EXPECT_EQ(c.calls.load(), 2);
  EXPECT_EQ(hits, std::vector<int>(50, 2));
  EXPECT_EQ(pool.startedWorkers(), 0);
}

TEST(ParallelAbi, SplitsOverThePoolsThreads) {
  ThreadPool pool(4);
  for (int threads : {2, 3, 4}) {
    std::vector<int> hits(50, 0);
    Closure c{&hits};
    CallRuntime rt{&pool, threads};
    tdsl_parallel_for(&rt, 50, countBody, &c);
    EXPECT_EQ(c.calls.load(), threads);
    EXPECT_EQ(hits, std::vector<int>(50, 1));
  }
}

} // namespace
} // namespace tdsl::runtime
