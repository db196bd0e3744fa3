// The CUDA backend: loop IR -> CUDA C source -> NVRTC -> PTX. NVRTC is loaded at run time, so
// tdsl builds and runs on machines without CUDA; there, PTX generation reports why it cannot run.
#pragma once

#include "ir/Kernel.h"
#include "passes/GpuMap.h"

#include <optional>
#include <string>
#include <vector>

namespace tdsl::codegen {

/// CUDA C for one kernel: one `extern "C" __global__` function per top-level loop nest, named
/// `<kernel>_k0`, `<kernel>_k1`, ..., launched in that order. Parameters are the buffers'
/// pointers (inputs const) then the symbols as `long long`. Each nest is scheduled by
/// passes::scheduleForGpu for the default passes::GpuTarget (an H100/H200).
std::string emitCuda(const ir::LoweredFunc &func);
/// CUDA C for `kernels`, the GPU kernels of `func` as passes::scheduleForGpu chose them (for a
/// device's own properties).
std::string emitCuda(const ir::LoweredFunc &func, const std::vector<passes::GpuKernel> &kernels);

/// One warpgroup MMA statement (CUDA C inline PTX, sm_90a): D += A * B for a 64x256 tile of f32
/// accumulators `acc`[0..127] (an array of this thread's 128 floats) from 64x16 and 16x256
/// factors of `type` ("bf16" or "f16") in shared memory, given by the 64-bit descriptor
/// expressions `descA` and `descB`; B is read k-major, or j-major (transposed) when
/// `transposeB`.
std::string wgmmaStatement(const std::string &type, bool transposeB, const std::string &acc,
                           const std::string &descA, const std::string &descB);

/// The 64-bit wgmma matrix descriptor (a C expression) of a tile at the shared-memory address
/// `address` (an expression) in 128-byte swizzled rows, with wgmma's leading and stride byte
/// offsets (multiples of 16).
std::string wgmmaDescriptor(const std::string &address, int leadingBytes, int strideBytes);

/// Statements declaring `unsigned name`: the shared-memory address of `array` rounded up to
/// 1024 bytes, where the 128-byte swizzle's pattern starts (it is a function of the address).
std::string alignedSharedBase(const std::string &name, const std::string &array);

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
