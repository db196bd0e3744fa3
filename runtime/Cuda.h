// The CUDA driver API, loaded at run time with dlopen("libcuda.so.1"): tdsl builds without CUDA
// and its CPU path runs on machines without an NVIDIA driver; there, the first CUDA call throws a
// RuntimeError saying why. One device (ordinal 0, TDSL_CUDA_DEVICE, or the first
// JitOptions::cudaDevice), its primary context, and one stream of its own per process (kernels
// may also be launched on a caller's stream); every function here may be called from any thread
// (the context is made current on the calling thread first).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tdsl::runtime::cuda {

/// Whether the driver and a device could be used, and if not, why.
struct Status {
  bool available = false;
  std::string reason; // Empty when available, e.g. "libcuda.so.1 not found (no NVIDIA driver)".
};
/// Loads the driver and creates the context on first call; never throws.
const Status &status();

/// What the schedules are chosen from.
struct DeviceInfo {
  int ordinal = 0;
  std::string name;
  int major = 0, minor = 0; // Compute capability.
  int multiprocessors = 0;
  int warpSize = 32;
  int maxThreadsPerBlock = 1024;
  int maxThreadsPerMultiprocessor = 2048;
  int sharedBytesPerBlock = 48 * 1024;      // Without opting in.
  int sharedBytesPerBlockOptin = 48 * 1024; // With cuFuncSetAttribute.
  int sharedBytesPerMultiprocessor = 0;
  int registersPerBlock = 65536;
  int l2Bytes = 0;
  size_t totalMemory = 0;
  int driverVersion = 0; // e.g. 13000.
  /// "sm_90"; NVRTC's --gpu-architecture for a cubin.
  /// The real architecture kernels are compiled for: sm_90a on Hopper, whose warpgroup MMA
  /// (wgmma) exists only in its arch-specific variant, else sm_XY.
  std::string smArch() const {
    return "sm_" + std::to_string(major * 10 + minor) + (major == 9 && minor == 0 ? "a" : "");
  }
};
/// Throws RuntimeError when status() is not available.
const DeviceInfo &device();
/// Asks for device `ordinal` (JitOptions::cudaDevice): used when the driver is not loaded yet
/// (before TDSL_CUDA_DEVICE), else it must be the device in use: tdsl runs one device per
/// process, so a different one throws RuntimeError saying so. Without a usable driver it does
/// nothing (status() says why).
void requireDevice(int ordinal);

/// The process's stream (a CUstream), for code that launches on it itself: the kernels that
/// `tdsl aot` compiled, which take a stream. Throws like device().
void *stream();

using DevicePtr = uint64_t; // CUdeviceptr

/// Device memory; throws RuntimeError naming `what` and the size (out of memory included).
DevicePtr allocate(size_t bytes, const std::string &what);
void release(DevicePtr ptr) noexcept;
/// Copies on the process's stream; host→device returns once `host` may be reused,
/// device→host once the data is in `host`.
void copyToDevice(DevicePtr dst, const void *src, size_t bytes);
void copyToHost(void *dst, DevicePtr src, size_t bytes);
void copyOnDevice(DevicePtr dst, DevicePtr src, size_t bytes);
/// Waits for `stream` (a CUstream; null: the process's stream). An asynchronous failure is
/// reported with `context` and the last kernel launched before it (its name and .tdsl location),
/// the likeliest culprit; so do the copies above.
void synchronize(const std::string &context, void *stream = nullptr);

/// A loaded module (cubin or PTX image); unloaded on destruction.
class Module {
public:
  /// `image` is a cubin or NUL-free PTX text; `what` names it in errors.
  Module(const std::string &image, const std::string &what);
  ~Module();
  Module(const Module &) = delete;
  Module &operator=(const Module &) = delete;
  /// The CUfunction of an `extern "C"` kernel; throws when absent.
  void *function(const std::string &name) const;

private:
  void *handle = nullptr;
  std::string what;
};

struct LaunchConfig {
  unsigned grid = 1, block = 1, sharedBytes = 0;
  void *stream = nullptr; // A CUstream; null: the process's stream.
};
/// Launches on `config.stream` without waiting. A failure names `kernelName` and `location`. With
/// TDSL_CUDA_SYNC=1 every launch is followed by a synchronize (pins asynchronous faults on the
/// kernel that caused them).
void launch(void *function, const LaunchConfig &config, void **args, const std::string &kernelName,
            const std::string &location);

/// Lets `function` use up to `bytes` of dynamic shared memory (past the 48 KiB default, up to
/// DeviceInfo::sharedBytesPerBlockOptin); throws naming `kernelName` when the driver refuses.
void allowDynamicShared(void *function, int bytes, const std::string &kernelName);
/// Whether the driver has cuFuncSetAttribute (allowDynamicShared can work).
bool canAllowDynamicShared();

/// Times `fn` with events on the process's stream: the median milliseconds of `repeats` runs
/// after `warmup` runs.
double timeMs(const std::function<void()> &fn, int warmup, int repeats);

} // namespace tdsl::runtime::cuda
