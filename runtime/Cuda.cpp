// The CUDA driver API through dlopen. The few functions used are declared here as function
// pointer types (from cuda.h), so no CUDA header or library is needed at build time.
#include "runtime/Cuda.h"
#include "runtime/CudaDriverTypes.h"

#include "tdsl/Diagnostics.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <dlfcn.h>
#include <mutex>

namespace tdsl::runtime::cuda {

namespace {

using namespace cuda_driver;

struct Driver {
  CUresult (*init)(unsigned) = nullptr;
  CUresult (*driverGetVersion)(int *) = nullptr;
  CUresult (*getErrorName)(CUresult, const char **) = nullptr;
  CUresult (*getErrorString)(CUresult, const char **) = nullptr;
  CUresult (*deviceGetCount)(int *) = nullptr;
  CUresult (*deviceGet)(CUdevice *, int) = nullptr;
  CUresult (*deviceGetName)(char *, int, CUdevice) = nullptr;
  CUresult (*deviceGetAttribute)(int *, int, CUdevice) = nullptr;
  CUresult (*deviceTotalMem)(size_t *, CUdevice) = nullptr;
  CUresult (*primaryCtxRetain)(CUcontext *, CUdevice) = nullptr;
  CUresult (*ctxSetCurrent)(CUcontext) = nullptr;
  CUresult (*streamCreate)(CUstream *, unsigned) = nullptr;
  CUresult (*streamSynchronize)(CUstream) = nullptr;
  CUresult (*memAlloc)(DevicePtr *, size_t) = nullptr;
  CUresult (*memFree)(DevicePtr) = nullptr;
  CUresult (*memcpyHtoDAsync)(DevicePtr, const void *, size_t, CUstream) = nullptr;
  CUresult (*memcpyDtoHAsync)(void *, DevicePtr, size_t, CUstream) = nullptr;
  CUresult (*memcpyDtoDAsync)(DevicePtr, DevicePtr, size_t, CUstream) = nullptr;
  CUresult (*moduleLoadData)(CUmodule *, const void *) = nullptr;
  CUresult (*moduleUnload)(CUmodule) = nullptr;
  CUresult (*moduleGetFunction)(CUfunction *, CUmodule, const char *) = nullptr;
  CUresult (*launchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                           unsigned, CUstream, void **, void **) = nullptr;
  CUresult (*funcSetAttribute)(CUfunction, int, int) = nullptr; // Optional.
  CUresult (*eventCreate)(CUevent *, unsigned) = nullptr;
  CUresult (*eventRecord)(CUevent, CUstream) = nullptr;
  CUresult (*eventSynchronize)(CUevent) = nullptr;
  CUresult (*eventElapsedTime)(float *, CUevent, CUevent) = nullptr;
  CUresult (*eventDestroy)(CUevent) = nullptr;

  Status status;
  DeviceInfo info;
  CUcontext context = nullptr;
  CUstream stream = nullptr;
  bool syncEveryLaunch = false;
  /// The last kernel launched and its location (file:line:col): named by the synchronization
  /// that reports an asynchronous failure. Assigned on every launch, so kept apart: copying into
  /// their buffers allocates nothing once they are long enough.
  std::mutex lastLaunchMutex;
  std::string lastLaunchName, lastLaunchLocation;

  std::string asynchronousCulprit() {
    std::lock_guard<std::mutex> lock(lastLaunchMutex);
    if (lastLaunchName.empty())
      return "";
    return "; the last kernel launched before it was " + lastLaunchName + " (" +
           lastLaunchLocation + ") (a launch's failure surfaces at the next synchronization)";
  }

  std::string describe(CUresult r) const {
    const char *name = nullptr, *text = nullptr;
    if (getErrorName)
      getErrorName(r, &name);
    if (getErrorString)
      getErrorString(r, &text);
    std::string s = name ? name : "CUDA error " + std::to_string(r);
    if (text)
      s += std::string(" (") + text + ")";
    return s;
  }
};

/// JitOptions::cudaDevice of the first Jit that asked, before the driver was loaded; -1: none.
std::atomic<int> requestedOrdinal{-1};

void loadDriver(Driver &d) {
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL); // Never closed.
  if (!lib) {
    d.status.reason = "libcuda.so.1 not found (no NVIDIA driver on this machine)";
    return;
  }
  const char *missing = nullptr;
  auto need = [&](const char *name, auto &fn) {
    if (!missing && !loadSymbol(lib, name, fn))
      missing = name;
  };
  need("cuInit", d.init);
  need("cuDriverGetVersion", d.driverGetVersion);
  need("cuGetErrorName", d.getErrorName);
  need("cuGetErrorString", d.getErrorString);
  need("cuDeviceGetCount", d.deviceGetCount);
  need("cuDeviceGet", d.deviceGet);
  need("cuDeviceGetName", d.deviceGetName);
  need("cuDeviceGetAttribute", d.deviceGetAttribute);
  need("cuDeviceTotalMem_v2", d.deviceTotalMem);
  need("cuDevicePrimaryCtxRetain", d.primaryCtxRetain);
  need("cuCtxSetCurrent", d.ctxSetCurrent);
  need("cuStreamCreate", d.streamCreate);
  need("cuStreamSynchronize", d.streamSynchronize);
  need("cuMemAlloc_v2", d.memAlloc);
  need("cuMemFree_v2", d.memFree);
  need("cuMemcpyHtoDAsync_v2", d.memcpyHtoDAsync);
  need("cuMemcpyDtoHAsync_v2", d.memcpyDtoHAsync);
  need("cuMemcpyDtoDAsync_v2", d.memcpyDtoDAsync);
  need("cuModuleLoadData", d.moduleLoadData);
  need("cuModuleUnload", d.moduleUnload);
  need("cuModuleGetFunction", d.moduleGetFunction);
  need("cuLaunchKernel", d.launchKernel);
  loadSymbol(lib, "cuFuncSetAttribute", d.funcSetAttribute);
  need("cuEventCreate", d.eventCreate);
  need("cuEventRecord", d.eventRecord);
  need("cuEventSynchronize", d.eventSynchronize);
  need("cuEventElapsedTime", d.eventElapsedTime);
  need("cuEventDestroy_v2", d.eventDestroy);
  if (missing) {
    d.status.reason = std::string("libcuda.so.1 does not export ") + missing;
    return;
  }
  if (CUresult r = d.init(0); r != 0) {
    d.status.reason = "cuInit failed: " + d.describe(r) + " (no usable NVIDIA GPU?)";
    return;
  }
  int count = 0;
  d.deviceGetCount(&count);
  int ordinal = requestedOrdinal.load();
  if (const char *env = std::getenv("TDSL_CUDA_DEVICE"); ordinal < 0 && env && *env)
    ordinal = std::atoi(env);
  ordinal = std::max(ordinal, 0);
  if (count <= 0) {
    d.status.reason = "the NVIDIA driver sees no CUDA device";
    return;
  }
  if (ordinal >= count) {
    d.status.reason = "CUDA device " + std::to_string(ordinal) +
                      " asked for (TDSL_CUDA_DEVICE or JitOptions::cudaDevice) but there are " +
                      std::to_string(count) + " CUDA device(s)";
    return;
  }
  CUdevice dev = 0;
  if (CUresult r = d.deviceGet(&dev, ordinal); r != 0) {
    d.status.reason = "cuDeviceGet failed: " + d.describe(r);
    return;
  }
  DeviceInfo &info = d.info;
  info.ordinal = ordinal;
  char name[256] = {};
  d.deviceGetName(name, sizeof name, dev);
  info.name = name;
  auto attr = [&](int which, int &out) {
    int v = 0;
    if (d.deviceGetAttribute(&v, which, dev) == 0)
      out = v;
  };
  attr(kComputeCapabilityMajor, info.major);
  attr(kComputeCapabilityMinor, info.minor);
  attr(kMultiprocessorCount, info.multiprocessors);
  attr(kWarpSize, info.warpSize);
  attr(kMaxThreadsPerBlock, info.maxThreadsPerBlock);
  attr(kMaxThreadsPerMultiprocessor, info.maxThreadsPerMultiprocessor);
  attr(kMaxSharedPerBlock, info.sharedBytesPerBlock);
  attr(kMaxSharedPerBlockOptin, info.sharedBytesPerBlockOptin);
  attr(kMaxSharedPerMultiprocessor, info.sharedBytesPerMultiprocessor);
  attr(kMaxRegistersPerBlock, info.registersPerBlock);
  attr(kL2CacheSize, info.l2Bytes);
  d.deviceTotalMem(&info.totalMemory, dev);
  d.driverGetVersion(&info.driverVersion);
  if (CUresult r = d.primaryCtxRetain(&d.context, dev); r != 0) {
    d.status.reason = "cannot create a CUDA context on " + info.name + ": " + d.describe(r);
    return;
  }
  if (CUresult r = d.ctxSetCurrent(d.context); r != 0) {
    d.status.reason = "cuCtxSetCurrent failed: " + d.describe(r);
    return;
  }
  if (CUresult r = d.streamCreate(&d.stream, kStreamNonBlocking); r != 0) {
    d.status.reason = "cuStreamCreate failed: " + d.describe(r);
    return;
  }
  const char *sync = std::getenv("TDSL_CUDA_SYNC");
  d.syncEveryLaunch = sync && *sync && std::string(sync) != "0";
  d.status.available = true;
}

Driver &driver() {
  static Driver d;
  static std::once_flag loaded;
  std::call_once(loaded, [] { loadDriver(d); });
  return d;
}

/// The driver, usable, with its context current on this thread; else throws.
Driver &use() {
  Driver &d = driver();
  if (!d.status.available)
    throw RuntimeError("CUDA is not available: " + d.status.reason);
  thread_local bool current = false;
  if (!current) {
    if (CUresult r = d.ctxSetCurrent(d.context); r != 0)
      throw RuntimeError("cuCtxSetCurrent failed: " + d.describe(r));
    current = true;
  }
  return d;
}

void check(const Driver &d, CUresult r, const std::string &what) {
  if (r != 0)
    throw RuntimeError(what + " failed: " + d.describe(r));
}

std::string megabytes(size_t bytes) {
  return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB";
}

} // namespace

const Status &status() { return driver().status; }

const DeviceInfo &device() { return use().info; }

void requireDevice(int ordinal) {
  int none = -1;
  requestedOrdinal.compare_exchange_strong(none, ordinal);
  Driver &d = driver();
  if (d.status.available && d.info.ordinal != ordinal)
    throw RuntimeError("CUDA device " + std::to_string(ordinal) +
                       " asked for (JitOptions::cudaDevice), but this process already runs on "
                       "device " +
                       std::to_string(d.info.ordinal) +
                       ": tdsl uses one CUDA device per process, the first asked for (or "
                       "TDSL_CUDA_DEVICE)");
}

void *stream() { return use().stream; }

DevicePtr allocate(size_t bytes, const std::string &what) {
  Driver &d = use();
  DevicePtr p = 0;
  CUresult r = d.memAlloc(&p, std::max<size_t>(bytes, 1));
  if (r == kOutOfMemory)
    throw RuntimeError("out of GPU memory allocating " + std::to_string(bytes) + " bytes (" +
                       megabytes(bytes) + ") for " + what + " on " + d.info.name + " (" +
                       megabytes(d.info.totalMemory) + " in all)");
  check(d, r, "cuMemAlloc of " + std::to_string(bytes) + " bytes for " + what);
  return p;
}

void release(DevicePtr ptr) noexcept {
  Driver &d = driver();
  if (ptr && d.status.available)
    d.memFree(ptr);
}

void copyToDevice(DevicePtr dst, const void *src, size_t bytes) {
  if (!bytes)
    return;
  Driver &d = use();
  check(d, d.memcpyHtoDAsync(dst, src, bytes, d.stream),
        "copy of " + std::to_string(bytes) + " bytes to the GPU" + d.asynchronousCulprit());
  // From pageable memory the copy may still read `src` after the call returns.
  check(d, d.streamSynchronize(d.stream), "copy to the GPU" + d.asynchronousCulprit());
}

void copyToHost(void *dst, DevicePtr src, size_t bytes) {
  if (!bytes)
    return;
  Driver &d = use();
  check(d, d.memcpyDtoHAsync(dst, src, bytes, d.stream),
        "copy of " + std::to_string(bytes) + " bytes from the GPU" + d.asynchronousCulprit());
  check(d, d.streamSynchronize(d.stream), "copy from the GPU" + d.asynchronousCulprit());
}

void copyOnDevice(DevicePtr dst, DevicePtr src, size_t bytes) {
  if (!bytes)
    return;
  Driver &d = use();
  check(d, d.memcpyDtoDAsync(dst, src, bytes, d.stream),
        "device-to-device copy of " + std::to_string(bytes) + " bytes");
}

void synchronize(const std::string &context, void *stream) {
  Driver &d = use();
  CUstream s = stream ? static_cast<CUstream>(stream) : d.stream;
  if (CUresult r = d.streamSynchronize(s); r != 0)
    throw RuntimeError("CUDA failure " + context + ": " + d.describe(r) + d.asynchronousCulprit());
}

Module::Module(const std::string &image, const std::string &what) : what(what) {
  Driver &d = use();
  CUmodule m = nullptr;
  check(d, d.moduleLoadData(&m, image.c_str()), "loading the CUDA module of " + what);
  handle = m;
}

Module::~Module() {
  Driver &d = driver();
  if (handle && d.status.available)
    d.moduleUnload(static_cast<CUmodule>(handle));
}

void *Module::function(const std::string &name) const {
  Driver &d = use();
  CUfunction f = nullptr;
  check(d, d.moduleGetFunction(&f, static_cast<CUmodule>(handle), name.c_str()),
        "finding __global__ function " + name + " in the module of " + what);
  return f;
}

void launch(void *function, const LaunchConfig &config, void **args, const std::string &kernelName,
            const std::string &location) {
  Driver &d = use();
  CUstream stream = config.stream ? static_cast<CUstream>(config.stream) : d.stream;
  CUresult r = d.launchKernel(static_cast<CUfunction>(function), config.grid, 1, 1, config.block, 1,
                              1, config.sharedBytes, stream, args, nullptr);
  {
    std::lock_guard<std::mutex> lock(d.lastLaunchMutex);
    d.lastLaunchName = kernelName;
    d.lastLaunchLocation = location;
  }
  if (r != 0)
    throw RuntimeError("launch of CUDA kernel " + kernelName + " (" + location + ") with " +
                       std::to_string(config.grid) + " blocks of " + std::to_string(config.block) +
                       " threads failed: " + d.describe(r));
  if (d.syncEveryLaunch)
    synchronize("in CUDA kernel " + kernelName + " (" + location + ")", stream);
}

bool canAllowDynamicShared() {
  Driver &d = driver();
  return d.status.available && d.funcSetAttribute != nullptr;
}

void allowDynamicShared(void *function, int bytes, const std::string &kernelName) {
  Driver &d = use();
  if (!d.funcSetAttribute)
    throw RuntimeError("CUDA kernel " + kernelName + " needs " + std::to_string(bytes) +
                       " bytes of shared memory, but the driver has no cuFuncSetAttribute");
  check(d, d.funcSetAttribute(static_cast<CUfunction>(function), kMaxDynamicSharedSizeBytes, bytes),
        "allowing " + std::to_string(bytes) + " bytes of dynamic shared memory to CUDA kernel " +
            kernelName);
}

double timeMs(const std::function<void()> &fn, int warmup, int repeats) {
  Driver &d = use();
  for (int i = 0; i < warmup; ++i)
    fn();
  std::vector<float> times;
  CUevent start = nullptr, stop = nullptr;
  check(d, d.eventCreate(&start, 0), "cuEventCreate");
  check(d, d.eventCreate(&stop, 0), "cuEventCreate");
  for (int i = 0; i < repeats; ++i) {
    d.eventRecord(start, d.stream);
    fn();
    d.eventRecord(stop, d.stream);
    check(d, d.eventSynchronize(stop), "timing");
    float ms = 0;
    d.eventElapsedTime(&ms, start, stop);
    times.push_back(ms);
  }
  d.eventDestroy(start);
  d.eventDestroy(stop);
  if (times.empty())
    return 0;
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  return times[times.size() / 2];
}

} // namespace tdsl::runtime::cuda
