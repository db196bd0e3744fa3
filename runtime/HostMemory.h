// Host memory for tensors and kernel scratch (runtime/Arena.h): one rule for alignment and huge
// pages, so an intermediate streams as fast as the tensors it is computed from.
#pragma once

#include <cstddef>

namespace tdsl::runtime {

/// A block of host memory from allocateHost: `data` is null when the system had none to give.
struct HostBlock {
  void *data = nullptr;
  size_t capacity = 0; // The bytes asked for, rounded up to the block's alignment.
};

/// At least `bytes` (and at least 64) of uninitialized memory, 64-byte aligned; from 4 MiB on,
/// 2 MiB-aligned and advised into transparent huge pages. Free with std::free. Null data when
/// the system has no memory, and for sizes over PTRDIFF_MAX without asking it.
HostBlock allocateHost(size_t bytes);

} // namespace tdsl::runtime
