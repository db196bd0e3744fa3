// Aligned host allocation with huge pages for large blocks (see HostMemory.h).
#include "runtime/HostMemory.h"

#include <cstddef>
#include <cstdlib>
#include <limits>

#include <sys/mman.h>

namespace tdsl::runtime {
namespace {
constexpr size_t kHugePageBytes = size_t{2} << 20;
constexpr size_t kHugePageThreshold = size_t{4} << 20;
} // namespace

HostBlock allocateHost(size_t bytes) {
  // Large blocks live in transparent huge pages, as NumPy's arrays do: the hardware prefetchers
  // stop at page boundaries, so streaming through 4 KiB pages reads well below the bandwidth that
  // 2 MiB pages give (row sums over 64 MiB: 16 against 24 GB/s on one Zen 4 core).
  // Beyond PTRDIFF_MAX no allocator can give it (glibc refuses too); a size computed in i64 that
  // overflowed lands here.
  if (bytes > size_t(std::numeric_limits<std::ptrdiff_t>::max()))
    return {};
  const size_t alignment = bytes >= kHugePageThreshold ? kHugePageBytes : 64;
  const size_t capacity = bytes == 0 ? 64 : (bytes + alignment - 1) / alignment * alignment;
  void *data = std::aligned_alloc(alignment, capacity);
  if (!data)
    return {};
  if (alignment == kHugePageBytes)
    (void)::madvise(data, capacity, MADV_HUGEPAGE); // Advice only: ignore where unsupported.
  return {data, capacity};
}

} // namespace tdsl::runtime
