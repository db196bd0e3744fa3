// The CUDA driver API through dlopen. The few functions used are declared here as function
// pointer types (from cuda.h), so no CUDA header or library is needed at build time.
#include "runtime/Cuda.h"
#include "runtime/CudaDriverTypes.h"

#include "tdsl/Diagnostics.h"

#include <algorithm>
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
  CUresult (*ctxGetCurrent)(CUcontext *) = nullptr;
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

  /// Whether the driver could be loaded and initialized and sees a device, and if not, why.
  Status loaded;
  int count = 0;
  bool syncEveryLaunch = false;
  /// One per device ordinal, each set up on first use (device()).
  struct Slot {
    std::once_flag once;
    std::unique_ptr<Device> device;
    std::string failure; // Why it could not be set up.
  };
  std::unique_ptr<Slot[]> slots;

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

void loadDriver(Driver &d) {
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL); // Never closed.
  if (!lib) {
    d.loaded.reason = "libcuda.so.1 not found (no NVIDIA driver on this machine)";
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
  need("cuCtxGetCurrent", d.ctxGetCurrent);
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
    d.loaded.reason = std::string("libcuda.so.1 does not export ") + missing;
    return;
  }
  if (CUresult r = d.init(0); r != 0) {
    d.loaded.reason = "cuInit failed: " + d.describe(r) + " (no usable NVIDIA GPU?)";
    return;
  }
  d.deviceGetCount(&d.count);
  if (d.count <= 0) {
    d.count = 0;
    d.loaded.reason = "the NVIDIA driver sees no CUDA device";
    return;
  }
  d.slots = std::make_unique<Driver::Slot[]>(static_cast<size_t>(d.count));
  const char *sync = std::getenv("TDSL_CUDA_SYNC");
  d.syncEveryLaunch = sync && *sync && std::string(sync) != "0";
  d.loaded.available = true;
}

/// Never destroyed: modules and device memory of objects destroyed at exit are released through
/// it.
Driver &driver() {
  static Driver &d = *new Driver;
  static std::once_flag loaded;
  std::call_once(loaded, [] { loadDriver(d); });
  return d;
}

void check(const Driver &d, CUresult r, const std::string &what) {
  if (r != 0)
    throw RuntimeError(what + " failed: " + d.describe(r));
}

/// Makes `context` current on the calling thread while it lives (see Device): a different
/// context the thread had is current again afterwards; none is left as is.
class CurrentContext {
public:
  CurrentContext(const Driver &d, void *context) : d(d) {
    CUcontext previous = nullptr;
    check(d, d.ctxGetCurrent(&previous), "cuCtxGetCurrent");
    if (previous == context)
      return;
    check(d, d.ctxSetCurrent(static_cast<CUcontext>(context)), "cuCtxSetCurrent");
    restore = previous;
  }
  ~CurrentContext() {
    if (restore)
      d.ctxSetCurrent(restore);
  }
  CurrentContext(const CurrentContext &) = delete;
  CurrentContext &operator=(const CurrentContext &) = delete;

private:
  const Driver &d;
  CUcontext restore = nullptr;
};

/// The driver, loaded, with a device; else throws.
Driver &usable() {
  Driver &d = driver();
  if (!d.loaded.available)
    throw RuntimeError("CUDA is not available: " + d.loaded.reason);
  return d;
}

std::string megabytes(size_t bytes) {
  return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB";
}

} // namespace

const Status &status() {
  static const Status status = [] {
    if (!driver().loaded.available)
      return driver().loaded;
    try {
      (void)device();
    } catch (const RuntimeError &e) {
      return Status{false, e.what()};
    }
    return Status{true, ""};
  }();
  return status;
}

int deviceCount() { return driver().count; }

int defaultOrdinal() {
  const char *env = std::getenv("TDSL_CUDA_DEVICE");
  return env && *env ? std::max(std::atoi(env), 0) : 0;
}

int resolveOrdinal(int ordinal) { return ordinal == -1 ? defaultOrdinal() : ordinal; }

Device &device(int ordinal) {
  Driver &d = usable();
  ordinal = resolveOrdinal(ordinal);
  if (ordinal < 0 || ordinal >= d.count)
    throw RuntimeError(
        "CUDA device " + std::to_string(ordinal) +
        " asked for (JitOptions::cudaDevice, TDSL_CUDA_DEVICE or a tensor's "
        "device), but there " +
        (d.count == 1 ? "is 1 CUDA device" : "are " + std::to_string(d.count) + " CUDA devices") +
        " (ordinals from 0)");
  Driver::Slot &slot = d.slots[static_cast<size_t>(ordinal)];
  std::call_once(slot.once, [&] {
    try {
      slot.device.reset(new Device(ordinal));
    } catch (const RuntimeError &e) {
      slot.failure = e.what();
    }
  });
  if (!slot.device)
    throw RuntimeError(slot.failure);
  return *slot.device;
}

Device::Device(int ordinal) {
  Driver &d = driver();
  CUdevice dev = 0;
  check(d, d.deviceGet(&dev, ordinal), "cuDeviceGet of CUDA device " + std::to_string(ordinal));
  DeviceInfo &info = info_;
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
  CUcontext context = nullptr;
  check(d, d.primaryCtxRetain(&context, dev),
        "creating a CUDA context on device " + std::to_string(ordinal) + " (" + info.name + ")");
  context_ = context;
  CurrentContext current(d, context_); // The stream belongs to the context current.
  CUstream stream = nullptr;
  check(d, d.streamCreate(&stream, kStreamNonBlocking),
        "cuStreamCreate on device " + std::to_string(ordinal));
  stream_ = stream;
}

std::string Device::asynchronousCulprit() {
  std::lock_guard<std::mutex> lock(lastLaunchMutex_);
  if (lastLaunchName_.empty())
    return "";
  return "; the last kernel launched before it was " + lastLaunchName_ + " (" +
         lastLaunchLocation_ + ") (a launch's failure surfaces at the next synchronization)";
}

void Device::makeCurrent() {
  Driver &d = driver();
  check(d, d.ctxSetCurrent(static_cast<CUcontext>(context_)), "cuCtxSetCurrent");
}

DevicePtr Device::allocate(size_t bytes, const std::string &what) {
  Driver &d = driver();
  CurrentContext current(d, context_);
  DevicePtr p = 0;
  CUresult r = d.memAlloc(&p, std::max<size_t>(bytes, 1));
  if (r == kOutOfMemory)
    throw RuntimeError("out of GPU memory allocating " + std::to_string(bytes) + " bytes (" +
                       megabytes(bytes) + ") for " + what + " on device " +
                       std::to_string(info_.ordinal) + ", " + info_.name + " (" +
                       megabytes(info_.totalMemory) + " in all)");
  check(d, r, "cuMemAlloc of " + std::to_string(bytes) + " bytes for " + what);
  return p;
}

void Device::release(DevicePtr ptr) noexcept {
  if (!ptr)
    return;
  Driver &d = driver();
  try {
    CurrentContext current(d, context_);
    d.memFree(ptr);
  } catch (const RuntimeError &) { // No context to free it in: the driver is going away.
  }
}

void Device::copyToDevice(DevicePtr dst, const void *src, size_t bytes) {
  if (!bytes)
    return;
  Driver &d = driver();
  CurrentContext current(d, context_);
  CUstream s = static_cast<CUstream>(stream_);
  check(d, d.memcpyHtoDAsync(dst, src, bytes, s),
        "copy of " + std::to_string(bytes) + " bytes to the GPU" + asynchronousCulprit());
  // From pageable memory the copy may still read `src` after the call returns.
  check(d, d.streamSynchronize(s), "copy to the GPU" + asynchronousCulprit());
}

void Device::copyToHost(void *dst, DevicePtr src, size_t bytes) {
  if (!bytes)
    return;
  Driver &d = driver();
  CurrentContext current(d, context_);
  CUstream s = static_cast<CUstream>(stream_);
  check(d, d.memcpyDtoHAsync(dst, src, bytes, s),
        "copy of " + std::to_string(bytes) + " bytes from the GPU" + asynchronousCulprit());
  check(d, d.streamSynchronize(s), "copy from the GPU" + asynchronousCulprit());
}

void Device::copyOnDevice(DevicePtr dst, DevicePtr src, size_t bytes) {
  if (!bytes)
    return;
  Driver &d = driver();
  CurrentContext current(d, context_);
  check(d, d.memcpyDtoDAsync(dst, src, bytes, static_cast<CUstream>(stream_)),
        "device-to-device copy of " + std::to_string(bytes) + " bytes");
}

void Device::synchronize(const std::string &context, void *stream) {
  Driver &d = driver();
  CurrentContext current(d, context_);
  CUstream s = static_cast<CUstream>(stream ? stream : stream_);
  if (CUresult r = d.streamSynchronize(s); r != 0)
    throw RuntimeError("CUDA failure " + context + ": " + d.describe(r) + asynchronousCulprit());
}

void Device::launch(void *function, const LaunchConfig &config, void **args,
                    const std::string &kernelName, const std::string &location) {
  Driver &d = driver();
  CurrentContext current(d, context_);
  CUstream stream = static_cast<CUstream>(config.stream ? config.stream : stream_);
  CUresult r = d.launchKernel(static_cast<CUfunction>(function), config.grid, 1, 1, config.block, 1,
                              1, config.sharedBytes, stream, args, nullptr);
  {
    std::lock_guard<std::mutex> lock(lastLaunchMutex_);
    lastLaunchName_ = kernelName;
    lastLaunchLocation_ = location;
  }
  if (r != 0)
    throw RuntimeError("launch of CUDA kernel " + kernelName + " (" + location + ") with " +
                       std::to_string(config.grid) + " blocks of " + std::to_string(config.block) +
                       " threads failed: " + d.describe(r));
  if (d.syncEveryLaunch)
    synchronize("in CUDA kernel " + kernelName + " (" + location + ")", stream);
}

void Device::allowDynamicShared(void *function, int bytes, const std::string &kernelName) {
  Driver &d = driver();
  if (!d.funcSetAttribute)
    throw RuntimeError("CUDA kernel " + kernelName + " needs " + std::to_string(bytes) +
                       " bytes of shared memory, but the driver has no cuFuncSetAttribute");
  CurrentContext current(d, context_);
  check(d, d.funcSetAttribute(static_cast<CUfunction>(function), kMaxDynamicSharedSizeBytes, bytes),
        "allowing " + std::to_string(bytes) + " bytes of dynamic shared memory to CUDA kernel " +
            kernelName);
}

double Device::timeMs(const std::function<void()> &fn, int warmup, int repeats) {
  Driver &d = driver();
  CurrentContext current(d, context_);
  for (int i = 0; i < warmup; ++i)
    fn();
  std::vector<float> times;
  CUevent start = nullptr, stop = nullptr;
  CUstream s = static_cast<CUstream>(stream_);
  check(d, d.eventCreate(&start, 0), "cuEventCreate");
  check(d, d.eventCreate(&stop, 0), "cuEventCreate");
  for (int i = 0; i < repeats; ++i) {
    d.eventRecord(start, s);
    fn();
    d.eventRecord(stop, s);
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

bool canAllowDynamicShared() {
  Driver &d = driver();
  return d.loaded.available && d.funcSetAttribute != nullptr;
}

Module::Module(Device &device, const std::string &image, const std::string &what)
    : device_(device), what(what) {
  Driver &d = driver();
  CurrentContext current(d, device.context_);
  CUmodule m = nullptr;
  check(d, d.moduleLoadData(&m, image.c_str()),
        "loading the CUDA module of " + what + " on device " + std::to_string(device.ordinal()));
  handle = m;
}

Module::~Module() {
  Driver &d = driver();
  try {
    CurrentContext current(d, device_.context_);
    d.moduleUnload(static_cast<CUmodule>(handle));
  } catch (const RuntimeError &) { // No context to unload it from: the driver is going away.
  }
}

void *Module::function(const std::string &name) const {
  Driver &d = driver();
  CurrentContext current(d, device_.context_);
  CUfunction f = nullptr;
  check(d, d.moduleGetFunction(&f, static_cast<CUmodule>(handle), name.c_str()),
        "finding __global__ function " + name + " in the module of " + what);
  return f;
}

} // namespace tdsl::runtime::cuda
