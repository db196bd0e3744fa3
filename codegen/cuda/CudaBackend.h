// The CUDA backend: loop IR -> CUDA C source -> NVRTC -> PTX. NVRTC is loaded at run time, so
// tdsl builds and runs on machines without CUDA; there, PTX generation reports why it cannot run.
#pragma once

#include "ir/Kernel.h"

#include <optional>
#include <string>
#include <vector>

namespace tdsl::codegen {

/// CUDA C for `gpu`, a func lowered for the GPU (passes::lowerForGpu): one `extern "C"
/// __global__` function for each of its GpuLaunch kernels, named as the launch says (`<func>_k0`,
/// ...). Every function takes the func's buffers' pointers (inputs const), the heap
/// intermediates' pointers (ir::gpuHeapBuffers), then the symbols as `long long`.
std::string emitCuda(const ir::LoweredFunc &gpu);

/// Whether NVRTC could be loaded, and if not, why (for skip messages and errors).
struct NvrtcStatus {
  bool available;
  std::string reason; // Empty when available; else e.g. "libnvrtc.so not found (searched ...)".
  int versionMajor = 0, versionMinor = 0;
};
NvrtcStatus nvrtcStatus();

/// Compiles CUDA source to PTX for `arch`, a virtual architecture such as "compute_90a" (the
/// default, for the default GPU target: Hopper, whose wgmma needs the arch-specific variant).
/// Throws tdsl::RuntimeError with NVRTC's log on failure, or with the reason NVRTC is unavailable.
std::string compileToPtx(const std::string &cudaSource, const std::string &name,
                         const std::string &arch = "compute_90a");

/// Compiles CUDA source to a cubin for `arch`, a real architecture such as "sm_90" (no driver
/// JIT at load). Throws like compileToPtx.
std::string compileToCubin(const std::string &cudaSource, const std::string &name,
                           const std::string &arch);

} // namespace tdsl::codegen
