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

/// CUDA device `ordinal` (runtime::cuda::device(ordinal); -1: the default one); throws
/// RuntimeError without it.
GpuDevice deviceGpu(int ordinal);

/// The GPU that Target::gpu names, for kernels that run on device `ordinal`: for "device", that
/// device, or sm_90 when the machine has no GPU; for a named architecture, its properties
/// (passes::gpuTargetForArch), compiled for that device when there is a GPU. Throws
/// RuntimeError for an unknown name or a device the machine lacks.
GpuDevice gpuFor(const std::string &gpu, int ordinal);

struct CudaProgram {
  ir::LoweredFunc gpu; // Lowered for the GPU: its kernels, GpuLaunch nodes in launch order.
  std::string source;  // CUDA C.
  cache::CacheKey key; // Of its cubin (KernelCache::cubin compiles it).
};

/// `plain` (loop IR before GPU mapping) scheduled for `device` and printed to CUDA C. Needs
/// neither a GPU nor NVRTC.
CudaProgram buildCudaProgram(const ir::LoweredFunc &plain, const GpuDevice &device);

} // namespace tdsl::detail
