// The CUDA driver API's types and the constants tdsl uses, with cuda.h's values, so that the
// runtime loads libcuda.so.1 when it runs without needing the CUDA headers to build; the launch
// geometry of every tdsl kernel; and the argument of the strided views' copy kernels. Shared by the
// JIT's device runtime (Cuda.cpp) and launcher (codegen/cuda/CudaLaunch.cpp) and the loader of
// kernels compiled ahead of time (AotCuda.cpp).
#pragma once

#include <dlfcn.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace tdsl::runtime::cuda_driver {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = uint64_t;
using CUcontext = struct CUctxOpaque *;
using CUstream = struct CUstreamOpaque *;
using CUmodule = struct CUmodOpaque *;
using CUfunction = struct CUfuncOpaque *;
using CUevent = struct CUeventOpaque *;

/// CUdevice_attribute values.
enum : int {
  kMaxThreadsPerBlock = 1,
  kMaxSharedPerBlock = 8,
  kWarpSize = 10,
  kMaxRegistersPerBlock = 12,
  kMultiprocessorCount = 16,
  kL2CacheSize = 38,
  kMaxThreadsPerMultiprocessor = 39,
  kComputeCapabilityMajor = 75,
  kComputeCapabilityMinor = 76,
  kMaxSharedPerMultiprocessor = 81,
  kMaxSharedPerBlockOptin = 97,
};
/// CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, a CUfunction_attribute.
constexpr int kMaxDynamicSharedSizeBytes = 8;
constexpr CUresult kOutOfMemory = 2;
constexpr unsigned kStreamNonBlocking = 1;

/// The driver's function `name` from the dlopen()ed `lib` into `fn`; false when it is missing.
template <typename Fn> bool loadSymbol(void *lib, const char *name, Fn &fn) {
  fn = reinterpret_cast<Fn>(dlsym(lib, name));
  return fn != nullptr;
}

/// The most blocks a launch's grid has: 8 waves of the blocks of 256 threads (the schedules'
/// usual block) that fit, as the kernels' grid-stride loops cover the rest.
inline int64_t maxGridBlocks(int maxThreadsPerBlock, int maxThreadsPerMultiprocessor,
                             int multiprocessors) {
  int threads = std::max(32, std::min(256, maxThreadsPerBlock) / 32 * 32);
  int blocksPerSm = std::max(1, maxThreadsPerMultiprocessor / threads);
  return std::max<int64_t>(1, int64_t(multiprocessors) * blocksPerSm * 8);
}

/// The argument of the strided copy kernels, laid out as their tdsl_strided_copy_args
/// (codegen/cuda/CudaPrelude.cpp): a view's shape and strides, in elements.
struct StridedCopyArgs {
  static constexpr size_t kMaxRank = 8;
  int64_t shape[kMaxRank], strides[kMaxRank];
  int64_t count; // 0: no copy (the tensor is contiguous).
  int32_t rank, toView;
};

} // namespace tdsl::runtime::cuda_driver
