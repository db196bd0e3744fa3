// Scratch memory for one compiled kernel's heap intermediates, reused across calls: the first
// call allocates blocks (and takes their page faults), later calls with the same shapes find them
// free again and touch no fresh page. Generated code reaches it through tdsl_scratch_acquire and
// tdsl_scratch_release (runtime/KernelAbi.h); the kernel's state owns it, so the blocks are freed
// with the kernel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace tdsl::runtime {

/// A pool of host blocks (runtime/HostMemory.h: huge pages from 4 MiB) shared by every call of
/// one kernel: its parallel loops' workers and concurrent calls from several threads alike.
///
/// A request takes the smallest free block large enough, else a fresh one. Freed blocks stay for
/// reuse, except that blocks held free never total more than the most bytes ever in use at once:
/// when a release passes that, the smallest free blocks go back to the system. A kernel called
/// with growing shapes so keeps about one call's worth, not one per shape.
class Arena {
public:
  Arena() = default;
  ~Arena();
  Arena(const Arena &) = delete;
  Arena &operator=(const Arena &) = delete;

  /// What a block holds: an intermediate, or a contraction operand's packed panels (a copy of
  /// values held elsewhere, counted apart).
  enum class Use : uint8_t { Intermediate, PackedPanels };

  /// A 64-byte-aligned block of at least `bytes`, or null when the system has no memory for it.
  void *acquire(size_t bytes, Use use = Use::Intermediate) noexcept;
  /// Gives back a block from acquire(), which must be in use.
  void release(void *block) noexcept;

  struct Stats {
    int64_t systemAllocations = 0; // Blocks taken from the system since the arena was made.
    size_t heldBytes = 0;          // Capacity of the blocks held now, in use or free.
    size_t inUseBytes = 0;         // Bytes asked for by the blocks in use now.
    size_t peakBytes = 0;          // Most bytes asked for in use at once since resetPeak().
    // The same two for each Use: the peaks need not fall at the same moment.
    size_t inUseIntermediateBytes = 0, peakIntermediateBytes = 0;
    size_t inUsePanelBytes = 0, peakPanelBytes = 0;
  };
  Stats stats() const;
  /// Starts a new peak from the bytes in use now (Kernel::profile measures its calls' peak).
  void resetPeak();

private:
  struct Block {
    void *data;
    size_t capacity;
    size_t requested; // 0 when free.
    Use use;
  };

  /// Frees the smallest free blocks while the free ones total more than peakCapacity_.
  void trim();

  mutable std::mutex mutex_;
  std::vector<Block> blocks_;
  Stats stats_;
  size_t inUseCapacity_ = 0, peakCapacity_ = 0; // Capacity in use now, and at most ever.
};

} // namespace tdsl::runtime
