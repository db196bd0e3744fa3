// The CUDA driver API's types and the constants tdsl uses, with cuda.h's values, so that the
// runtime loads libcuda.so.1 when it runs without needing the CUDA headers to build. Shared by
// the JIT's device runtime (Cuda.cpp) and the loader of kernels compiled ahead of time
// (AotCuda.cpp).
#pragma once

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

} // namespace tdsl::runtime::cuda_driver
