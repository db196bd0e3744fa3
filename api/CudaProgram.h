// A kernel's CUDA program as the API builds it for one GPU: the plain loop IR scheduled for the
// device (passes), printed to CUDA C (codegen/cuda), and the kernel cache's key of its cubin. The
// API takes each step, so codegen/cuda never calls back into passes.
#pragma once

#include "api/KernelCache.h"
#include "ir/Kernel.h"
#include "passes/GpuSchedule.h"

#include <string>
#include <vector>

namespace tdsl::detail {

/// A GPU as the CUDA path sees it.
struct GpuDevice {
  std::string name;         // "NVIDIA H100 80GB HBM3" (part of the cache key).
  std::string arch;         // NVRTC's real architecture, "sm_90a".
  passes::GpuTarget target; // The properties the schedules are chosen from.
};

/// The GPU at hand (runtime::cuda::device()); throws RuntimeError without one.
GpuDevice currentGpu();

/// The GPU that Target::gpu names: for "device", the GPU at hand, or sm_90 when there is none;
/// for a named architecture, its properties (passes::gpuTargetForArch), compiled for the GPU at
/// hand when there is one. Throws RuntimeError for an unknown name.
GpuDevice gpuFor(const std::string &gpu);

struct CudaProgram {
  ir::LoweredFunc gpu; // Lowered for the GPU: its kernels, GpuLaunch nodes in launch order.
  std::string source;  // CUDA C.
  cache::CacheKey key; // Of its cubin (KernelCache::cubin compiles it).
};

/// `plain` (loop IR before GPU mapping) scheduled for `device` and printed to CUDA C. Needs
/// neither a GPU nor NVRTC.
CudaProgram buildCudaProgram(const ir::LoweredFunc &plain, const GpuDevice &device);

} // namespace tdsl::detail
