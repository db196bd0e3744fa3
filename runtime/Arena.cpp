// The scratch arena (Arena.h) and the C ABI through which generated code uses it (KernelAbi.h).
#include "runtime/Arena.h"

#include "runtime/HostMemory.h"
#include "runtime/KernelAbi.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <utility>

namespace tdsl::runtime {

Arena::~Arena() {
  for (const Block &b : blocks_)
    std::free(b.data);
}

namespace {
/// The in-use and peak counters of `use` in `stats`.
std::pair<size_t &, size_t &> countersOf(Arena::Stats &stats, Arena::Use use) {
  if (use == Arena::Use::PackedPanels)
    return {stats.inUsePanelBytes, stats.peakPanelBytes};
  return {stats.inUseIntermediateBytes, stats.peakIntermediateBytes};
}
} // namespace

void *Arena::acquire(size_t bytes, Use use) noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  Block *best = nullptr;
  for (Block &b : blocks_)
    if (b.requested == 0 && b.capacity >= bytes && (!best || b.capacity < best->capacity))
      best = &b;
  if (!best) {
    HostBlock fresh = allocateHost(bytes);
    if (!fresh.data)
      return nullptr;
    try {
      blocks_.push_back({fresh.data, fresh.capacity, 0, use});
    } catch (const std::bad_alloc &) {
      std::free(fresh.data);
      return nullptr;
    }
    best = &blocks_.back();
    ++stats_.systemAllocations;
    stats_.heldBytes += fresh.capacity;
  }
  // A zero-byte intermediate still holds its block: `requested` 0 marks a free one.
  best->requested = std::max<size_t>(bytes, 1);
  best->use = use;
  stats_.inUseBytes += best->requested;
  stats_.peakBytes = std::max(stats_.peakBytes, stats_.inUseBytes);
  auto [inUse, peak] = countersOf(stats_, use);
  inUse += best->requested;
  peak = std::max(peak, inUse);
  inUseCapacity_ += best->capacity;
  peakCapacity_ = std::max(peakCapacity_, inUseCapacity_);
  return best->data;
}

void Arena::release(void *block) noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = std::find_if(blocks_.begin(), blocks_.end(),
                         [&](const Block &b) { return b.data == block && b.requested != 0; });
  if (it == blocks_.end()) {
    std::fprintf(stderr, "tdsl: internal error: a scratch block released twice or never taken\n");
    std::abort();
  }
  stats_.inUseBytes -= it->requested;
  countersOf(stats_, it->use).first -= it->requested;
  inUseCapacity_ -= it->capacity;
  it->requested = 0;
  trim();
}

void Arena::trim() {
  size_t freeBytes = stats_.heldBytes - inUseCapacity_;
  while (freeBytes > peakCapacity_) {
    auto smallest = blocks_.end();
    for (auto it = blocks_.begin(); it != blocks_.end(); ++it)
      if (it->requested == 0 && (smallest == blocks_.end() || it->capacity < smallest->capacity))
        smallest = it;
    std::free(smallest->data);
    freeBytes -= smallest->capacity;
    stats_.heldBytes -= smallest->capacity;
    blocks_.erase(smallest);
  }
}

Arena::Stats Arena::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void Arena::resetPeak() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.peakBytes = stats_.inUseBytes;
  stats_.peakIntermediateBytes = stats_.inUseIntermediateBytes;
  stats_.peakPanelBytes = stats_.inUsePanelBytes;
}

} // namespace tdsl::runtime

namespace {
void *acquireScratch(void *runtime, int64_t bytes, tdsl::runtime::Arena::Use use) noexcept {
  using tdsl::runtime::CallRuntime;
  auto *rt = static_cast<CallRuntime *>(runtime);
  const size_t size = static_cast<size_t>(bytes);
  void *block =
      rt && rt->scratch ? rt->scratch->acquire(size, use) : tdsl::runtime::allocateHost(size).data;
  if (block)
    return block;
  if (!rt) {
    std::fprintf(stderr, "tdsl: cannot allocate %lld bytes for an intermediate\n",
                 static_cast<long long>(bytes));
    std::abort();
  }
  rt->failedBytes.store(size, std::memory_order_relaxed);
  return nullptr;
}
} // namespace

extern "C" void *tdsl_scratch_acquire(void *runtime, int64_t bytes) noexcept {
  return acquireScratch(runtime, bytes, tdsl::runtime::Arena::Use::Intermediate);
}

extern "C" void *tdsl_scratch_acquire_panels(void *runtime, int64_t bytes) noexcept {
  return acquireScratch(runtime, bytes, tdsl::runtime::Arena::Use::PackedPanels);
}

extern "C" void tdsl_scratch_release(void *runtime, void *block) noexcept {
  auto *rt = static_cast<tdsl::runtime::CallRuntime *>(runtime);
  if (rt && rt->scratch)
    rt->scratch->release(block);
  else
    std::free(block);
}
