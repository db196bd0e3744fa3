// The scratch arena behind kernels' heap intermediates: blocks reused across calls (the
// allocation counter stays put), best fit, alignment and huge pages, the bound on free blocks,
// failure as null, many threads at once (run under ThreadSanitizer by the `tsan` preset), and the
// C ABI that generated code calls.
#include "runtime/Arena.h"
#include "runtime/KernelAbi.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <thread>
#include <vector>

namespace tdsl::runtime {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

uintptr_t address(const void *p) { return reinterpret_cast<uintptr_t>(p); }

TEST(Arena, ASecondRoundOfTheSameRequestsAllocatesNothing) {
  Arena arena;
  auto round = [&] {
    void *whole = arena.acquire(40 * kMiB); // Held while the slices come and go, like bx.
    std::vector<void *> slices;
    for (int t = 0; t < 3; ++t)
      slices.push_back(arena.acquire(1000));
    for (void *s : slices)
      arena.release(s);
    arena.release(whole);
    return whole;
  };
  void *first = round();
  EXPECT_EQ(arena.stats().systemAllocations, 4);
  size_t held = arena.stats().heldBytes;
  EXPECT_EQ(round(), first);
  EXPECT_EQ(arena.stats().systemAllocations, 4);
  EXPECT_EQ(arena.stats().heldBytes, held);
  EXPECT_EQ(arena.stats().inUseBytes, 0u);
}

TEST(Arena, TakesTheSmallestFreeBlockThatFits) {
  Arena arena;
  void *small = arena.acquire(100), *large = arena.acquire(10000);
  arena.release(small);
  arena.release(large);
  void *a = arena.acquire(64);
  EXPECT_EQ(a, small);
  void *b = arena.acquire(5000);
  EXPECT_EQ(b, large);
  void *c = arena.acquire(64); // Both taken: a fresh block.
  EXPECT_NE(c, small);
  EXPECT_NE(c, large);
  EXPECT_EQ(arena.stats().systemAllocations, 3);
  for (void *p : {a, b, c})
    arena.release(p);
}

TEST(Arena, BlocksAreAlignedAndLargeOnesOnHugePageBoundaries) {
  Arena arena;
  void *small = arena.acquire(1), *empty = arena.acquire(0), *large = arena.acquire(4 * kMiB);
  ASSERT_NE(small, nullptr);
  ASSERT_NE(empty, nullptr);
  ASSERT_NE(large, nullptr);
  EXPECT_NE(small, empty); // A zero-byte block is still a block of its own while in use.
  EXPECT_EQ(address(small) % 64, 0u);
  EXPECT_EQ(address(empty) % 64, 0u);
  EXPECT_EQ(address(large) % (2 * kMiB), 0u);
  std::memset(large, 1, 4 * kMiB);
  for (void *p : {small, empty, large})
    arena.release(p);
}

TEST(Arena, PeakCountsTheBytesInUseAtOnceUntilReset) {
  Arena arena;
  void *a = arena.acquire(300), *b = arena.acquire(700);
  arena.release(a);
  void *c = arena.acquire(200);
  EXPECT_EQ(arena.stats().peakBytes, 1000u);
  EXPECT_EQ(arena.stats().inUseBytes, 900u);
  arena.resetPeak();
  EXPECT_EQ(arena.stats().peakBytes, 900u);
  arena.release(b);
  arena.release(c);
  EXPECT_EQ(arena.stats().peakBytes, 900u);
}

// Packed panels are counted apart from intermediates, each with its own peak; a block reused for
// the other use moves to its count.
TEST(Arena, PanelsAndIntermediatesHaveTheirOwnPeaks) {
  Arena arena;
  CallRuntime rt{nullptr, 1, &arena};
  void *panels = tdsl_scratch_acquire_panels(&rt, 3000);
  void *a = tdsl_scratch_acquire(&rt, 1000);
  tdsl_scratch_release(&rt, panels);
  void *b = tdsl_scratch_acquire(&rt, 2000); // The panels' block, now an intermediate's.
  EXPECT_EQ(b, panels);
  Arena::Stats s = arena.stats();
  EXPECT_EQ(s.peakPanelBytes, 3000u);
  EXPECT_EQ(s.peakIntermediateBytes, 3000u);
  EXPECT_EQ(s.inUsePanelBytes, 0u);
  EXPECT_EQ(s.inUseIntermediateBytes, 3000u);
  EXPECT_EQ(s.peakBytes, 4000u);
  tdsl_scratch_release(&rt, a);
  tdsl_scratch_release(&rt, b);
  arena.resetPeak();
  EXPECT_EQ(arena.stats().peakPanelBytes, 0u);
  EXPECT_EQ(arena.stats().peakIntermediateBytes, 0u);
}

// A kernel called with growing shapes keeps about one call's worth of blocks, not one per shape.
TEST(Arena, FreeBlocksNeverTotalMoreThanThePeakInUse) {
  Arena arena;
  for (size_t mib = 1; mib <= 6; ++mib)
    arena.release(arena.acquire(mib * kMiB));
  // 5 MiB rounds up to 6 MiB of huge pages, which the request for 6 MiB then reuses.
  EXPECT_EQ(arena.stats().systemAllocations, 5);
  EXPECT_EQ(arena.stats().heldBytes, 6 * kMiB);
  // Two blocks in use at once raise the peak: both stay.
  void *a = arena.acquire(6 * kMiB), *b = arena.acquire(6 * kMiB);
  arena.release(a);
  arena.release(b);
  EXPECT_EQ(arena.stats().heldBytes, 12 * kMiB);
}

// Sizes no allocator can give (a size computed in i64 that overflowed): null, without asking.
TEST(Arena, ARequestLargerThanAnyAllocationIsNull) {
  Arena arena;
  EXPECT_EQ(arena.acquire(std::numeric_limits<size_t>::max() - 10), nullptr);
  EXPECT_EQ(arena.acquire(size_t{1} << 63), nullptr);
  EXPECT_EQ(arena.stats().systemAllocations, 0);
  EXPECT_EQ(arena.stats().inUseBytes, 0u);
}

// Workers of one call and concurrent calls share the arena: no block is handed to two users at
// once, and the blocks end up reused.
TEST(Arena, ManyThreadsAtOnceNeverShareABlock) {
  Arena arena;
  constexpr int kThreads = 8, kRounds = 300;
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        size_t bytes = 64 + 64 * size_t((t + r) % 5);
        auto *block = static_cast<unsigned char *>(arena.acquire(bytes));
        if (!block) {
          ++failures[t];
          continue;
        }
        std::memset(block, t, bytes);
        std::this_thread::yield();
        for (size_t i = 0; i < bytes; ++i)
          failures[t] += block[i] != t;
        arena.release(block);
      }
    });
  for (std::thread &t : threads)
    t.join();
  EXPECT_EQ(failures, std::vector<int>(kThreads, 0));
  EXPECT_EQ(arena.stats().inUseBytes, 0u);
  EXPECT_LE(arena.stats().systemAllocations, kThreads * 5);
}

TEST(Arena, TheAbiTakesBlocksFromTheCallsArena) {
  Arena arena;
  CallRuntime rt{nullptr, 1, &arena};
  void *block = tdsl_scratch_acquire(&rt, 4096);
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(arena.stats().inUseBytes, 4096u);
  tdsl_scratch_release(&rt, block);
  EXPECT_EQ(tdsl_scratch_acquire(&rt, 100), block);
  tdsl_scratch_release(&rt, block);
  EXPECT_EQ(arena.stats().systemAllocations, 1);
  EXPECT_EQ(rt.failedBytes.load(), 0u);
}

TEST(Arena, TheAbiRecordsAFailureInTheCallAndReturnsNull) {
  Arena arena;
  CallRuntime withArena{nullptr, 1, &arena}, withoutArena{nullptr, 1, nullptr};
  const int64_t overflowed = std::numeric_limits<int64_t>::min() + 64;
  EXPECT_EQ(tdsl_scratch_acquire(&withArena, overflowed), nullptr);
  EXPECT_EQ(withArena.failedBytes.load(), uint64_t(overflowed));
  EXPECT_EQ(tdsl_scratch_acquire(&withoutArena, overflowed), nullptr);
  EXPECT_EQ(withoutArena.failedBytes.load(), uint64_t(overflowed));
  // Without an arena, blocks come from the system and go back to it.
  void *block = tdsl_scratch_acquire(&withoutArena, 256);
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(address(block) % 64, 0u);
  tdsl_scratch_release(&withoutArena, block);
  EXPECT_EQ(arena.stats().systemAllocations, 0);
}

} // namespace
} // namespace tdsl::runtime
