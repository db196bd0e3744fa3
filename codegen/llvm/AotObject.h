// Object code for ahead-of-time compilation (`tdsl aot`): several kernels, each in versions for
// several CPU levels, with the description the kernel runtime checks calls against and a plain C
// entry per kernel (runtime/AotKernel.h), in one ELF object; and the static library around it.
#pragma once

#include "codegen/llvm/LlvmOptions.h"

#include <string>
#include <vector>

namespace tdsl::codegen {

/// One machine code version of a kernel.
struct AotVersion {
  const ir::LoweredFunc *func = nullptr; // Lowered for this version's CPU level.
  LlvmCodeGenOptions options;            // Its CPU and features.
  std::string features; // What the CPU must have to run it: LLVM's names, comma separated.
};

struct AotKernelCode {
  /// The C functions: `int function(T *t0, const int64_t *t0_shape, ..., int64_t s0, ...,
  /// const tdsl_call_options *options)`, one pointer pair per input and output, and
  /// `function`_strided, the same with `const int64_t *t0_strides` after each shape.
  std::string function;
  size_t numTensors = 0;
  size_t numSymbols = 0;
  std::string description;          // runtime::aot::KernelDescription::encode().
  std::vector<AotVersion> versions; // Best first: the first the CPU can run is used.
};

/// One GPU architecture's code of a CUDA kernel (runtime/AotKernel.h, tdsl_aot_cuda_image).
struct AotCudaImage {
  std::string arch; // "sm_80", "sm_90a".
  int64_t computeCapability = 0;
  bool archSpecific = false;
  std::string ptx, cubin; // cubin: empty when NVRTC could not make one.
  std::string launches;   // runtime::aot::GpuDescription::encode().
};

struct AotCudaKernelCode {
  /// The C function: `int function(T *t0, const int64_t *t0_shape, ..., int64_t s0, ...,
  /// void *stream)`, one pointer pair per input and output (device pointers).
  std::string function;
  size_t numTensors = 0;
  size_t numSymbols = 0;
  std::string description; // runtime::aot::KernelDescription::encode().
  std::vector<AotCudaImage> images;
};

/// One relocatable ELF object holding every kernel. Throws tdsl::InternalError if LLVM rejects
/// a module (a bug).
std::string compileAotObject(const std::vector<AotKernelCode> &kernels);
/// One relocatable ELF object (for the host) holding every CUDA kernel's images and C function.
std::string compileAotCudaObject(const std::vector<AotCudaKernelCode> &kernels);
/// A static library (an ar archive with a symbol index) whose one member is `object`.
std::string staticLibrary(const std::string &object, const std::string &memberName);

} // namespace tdsl::codegen
