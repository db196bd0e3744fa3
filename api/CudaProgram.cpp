// Scheduling a kernel for a GPU, printing it and keying its cubin (see CudaProgram.h).
#include "api/CudaProgram.h"

#include "passes/Pipeline.h"

#include "codegen/cuda/CudaBackend.h"
#include "runtime/Cuda.h"

namespace tdsl::detail {

GpuDevice deviceGpu(int ordinal) {
  namespace cu = runtime::cuda;
  const cu::DeviceInfo &dev = cu::device(ordinal).info();
  GpuDevice gpu;
  gpu.name = dev.name;
  gpu.arch = dev.smArch();
  passes::GpuTarget &target = gpu.target;
  target.multiprocessors = dev.multiprocessors;
  target.warpSize = dev.warpSize;
  target.maxThreadsPerBlock = dev.maxThreadsPerBlock;
  target.maxThreadsPerMultiprocessor = dev.maxThreadsPerMultiprocessor;
  target.sharedBytesPerBlock = dev.sharedBytesPerBlock;
  target.sharedBytesPerBlockOptin =
      cu::canAllowDynamicShared() ? dev.sharedBytesPerBlockOptin : dev.sharedBytesPerBlock;
  target.registersPerBlock = dev.registersPerBlock;
  target.computeCapability = dev.major * 10 + dev.minor;
  if (dev.sharedBytesPerMultiprocessor > 0)
    target.sharedBytesPerMultiprocessor = dev.sharedBytesPerMultiprocessor;
  target.name = dev.name + " (" + gpu.arch + ")";
  return gpu;
}

GpuDevice gpuFor(const std::string &gpu, int ordinal) {
  bool present = runtime::cuda::deviceCount() > 0;
  if (gpu == "device" && present)
    return deviceGpu(ordinal);
  std::string arch = gpu == "device" ? "sm_90" : gpu;
  passes::GpuTarget target = passes::gpuTargetForArch(arch);
  if (target.name.empty())
    throw RuntimeError("unknown GPU '" + gpu + "' (expected device, sm_80, sm_86, sm_89 or sm_90)");
  if (present) { // Scheduled for the named GPU, compiled for the one at hand.
    GpuDevice device = deviceGpu(ordinal);
    device.target = target;
    return device;
  }
  // Hopper's warpgroup MMA needs the architecture-specific variant.
  return GpuDevice{target.name, arch == "sm_90" ? "sm_90a" : arch, target};
}

CudaProgram buildCudaProgram(const ir::LoweredFunc &plain, const GpuDevice &device) {
  CudaProgram program;
  program.gpu = passes::lowerForGpu(plain, device.target);
  program.source = codegen::emitCuda(program.gpu);
  program.key = cache::makeCudaKey(plain.name, program.source, device.name, device.arch);
  return program;
}

} // namespace tdsl::detail
