// `tdsl --version`: the build (version, commit, LLVM) and this machine's CUDA (NVRTC, driver).
#include "Version.h"

#include "GitCommit.h"
#include "codegen/cuda/CudaBackend.h"
#include "runtime/Cuda.h"
#ifdef TDSL_HAVE_LLVM
#include "codegen/llvm/LlvmBackend.h"
#endif

namespace tdsl::tool {

std::string versionText() {
  std::string text = "tdsl " TDSL_VERSION " (git " TDSL_GIT_COMMIT ")\n";
#ifdef TDSL_HAVE_LLVM
  text += "LLVM " + codegen::llvmVersion() + " (CPU backend)\n";
#else
  text += "LLVM: none (built with TDSL_ENABLE_LLVM=OFF: no CPU backend)\n";
#endif
  codegen::NvrtcStatus nvrtc = codegen::nvrtcStatus();
  text += nvrtc.available ? "NVRTC " + std::to_string(nvrtc.versionMajor) + "." +
                                std::to_string(nvrtc.versionMinor) + " (CUDA source to PTX)\n"
                          : "NVRTC: not found (" + nvrtc.reason + ")\n";
  const runtime::cuda::Status &cuda = runtime::cuda::status();
  if (!cuda.available)
    return text + "CUDA device: not available (" + cuda.reason + ")\n";
  const runtime::cuda::DeviceInfo &device = runtime::cuda::device().info();
  return text + "CUDA device: " + device.name + " (" + device.smArch() + ", driver " +
         std::to_string(device.driverVersion / 1000) + "." +
         std::to_string(device.driverVersion % 1000 / 10) + ")\n";
}

} // namespace tdsl::tool
