// The CUDA driver API, loaded at run time with dlopen("libcuda.so.1"): tdsl builds without CUDA
// and its CPU path runs on machines without an NVIDIA driver; there, the first CUDA call throws a
// RuntimeError saying why. The driver is loaded once; each device (a Device, by ordinal) is set
// up on its first use: its properties, its primary context, and a stream of its own (kernels may
// also be launched on a caller's stream). Any number of devices may be used by one process, and
// every function here may be called from any thread: each Device operation makes that device's
// context current on the calling thread first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tdsl::runtime::cuda {

/// Whether the driver and the default device could be used, and if not, why.
struct Status {
  bool available = false;
  std::string reason; // Empty when available, e.g. "libcuda.so.1 not found (no NVIDIA driver)".
};
/// Loads the driver and sets up the default device on first call; never throws.
const Status &status();
/// The CUDA devices the driver sees; 0 without a usable driver. Never throws.
int deviceCount();
/// The device that ordinal -1 stands for (JitOptions::cudaDevice's default): TDSL_CUDA_DEVICE,
/// else 0. Needs no driver.
int defaultOrdinal();
/// `ordinal`, or defaultOrdinal() for -1; other negatives are kept (device() refuses them).
int resolveOrdinal(int ordinal);

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

using DevicePtr = uint64_t; // CUdeviceptr

struct LaunchConfig {
  unsigned grid = 1, block = 1, sharedBytes = 0;
  void *stream = nullptr; // A CUstream of the device; null: the device's own stream.
};

/// One CUDA device as tdsl uses it: its properties, its primary context, a non-blocking stream of
/// its own, and the last kernel launched on it. Every operation first makes the device's context
/// current on the calling thread (one cuCtxGetCurrent when it already is); a different context
/// the caller had current is made current again afterwards, so a call never moves a program
/// (PyTorch, CuPy) to another device, while a thread that had none keeps this one's, as the CUDA
/// runtime's first call leaves its primary context. Set up by device() and never destroyed.
class Device {
public:
  const DeviceInfo &info() const { return info_; }
  int ordinal() const { return info_.ordinal; }
  /// The device's own stream (a CUstream), for code that launches on it itself: the kernels
  /// that `tdsl aot` compiled, which take a stream.
  void *stream() const { return stream_; }
  /// Makes the device's context current on the calling thread and leaves it so, for code that
  /// calls the driver itself.
  void makeCurrent();

  /// Device memory; throws RuntimeError naming `what` and the size (out of memory included).
  DevicePtr allocate(size_t bytes, const std::string &what);
  void release(DevicePtr ptr) noexcept;
  /// Copies on the device's stream; host→device returns once `host` may be reused,
  /// device→host once the data is in `host`.
  void copyToDevice(DevicePtr dst, const void *src, size_t bytes);
  void copyToHost(void *dst, DevicePtr src, size_t bytes);
  void copyOnDevice(DevicePtr dst, DevicePtr src, size_t bytes);
  /// Waits for `stream` (a CUstream; null: the device's stream). An asynchronous failure is
  /// reported with `context` and the last kernel launched on this device before it (its name
  /// and .tdsl location), the likeliest culprit; so do the copies above.
  void synchronize(const std::string &context, void *stream = nullptr);

  /// Launches on `config.stream` without waiting. A failure names `kernelName` and `location`.
  /// With TDSL_CUDA_SYNC=1 every launch is followed by a synchronize (pins asynchronous faults
  /// on the kernel that caused them).
  void launch(void *function, const LaunchConfig &config, void **args,
              const std::string &kernelName, const std::string &location);
  /// Lets `function` use up to `bytes` of dynamic shared memory (past the 48 KiB default, up to
  /// DeviceInfo::sharedBytesPerBlockOptin); throws naming `kernelName` when the driver refuses.
  void allowDynamicShared(void *function, int bytes, const std::string &kernelName);
  /// Times `fn` with events on the device's stream: the median milliseconds of `repeats` runs
  /// after `warmup` runs.
  double timeMs(const std::function<void()> &fn, int warmup, int repeats);

  Device(const Device &) = delete;
  Device &operator=(const Device &) = delete;

private:
  friend Device &device(int ordinal);
  friend class Module;
  /// Retains the primary context of device `ordinal` and creates its stream; throws
  /// RuntimeError saying why it cannot.
  explicit Device(int ordinal);
  std::string asynchronousCulprit();

  DeviceInfo info_;
  void *context_ = nullptr; // CUcontext
  void *stream_ = nullptr;  // CUstream
  /// The last kernel launched and its location (file:line:col): named by the synchronization
  /// that reports an asynchronous failure. Assigned on every launch, so kept apart: copying into
  /// their buffers allocates nothing once they are long enough.
  std::mutex lastLaunchMutex_;
  std::string lastLaunchName_, lastLaunchLocation_;
};

/// Device `ordinal` (-1: defaultOrdinal()), set up on its first use. Throws RuntimeError when
/// CUDA is not available, when there is no such device (naming the ordinal and the count), or
/// when its context cannot be created (the same error at every later call).
Device &device(int ordinal = -1);

/// Whether the driver has cuFuncSetAttribute (Device::allowDynamicShared can work).
bool canAllowDynamicShared();

/// A module (cubin or PTX image) loaded into one device's context; unloaded on destruction.
class Module {
public:
  /// `image` is a cubin or NUL-free PTX text; `what` names it in errors.
  Module(Device &device, const std::string &image, const std::string &what);
  ~Module();
  Module(const Module &) = delete;
  Module &operator=(const Module &) = delete;
  /// The CUfunction of an `extern "C"` kernel; throws when absent.
  void *function(const std::string &name) const;
  Device &device() const { return device_; }

private:
  Device &device_;
  void *handle = nullptr;
  std::string what;
};

} // namespace tdsl::runtime::cuda
