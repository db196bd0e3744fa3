// Two CUDA devices in one process, against tests/aot_cuda_fake_driver.c run with
// FAKE_CUDA_DEVICES=2 and FAKE_CUDA_CC=90,80 (device 0 an sm_90, device 1 an sm_80): Jits of
// devices 0 and 1 side by side, each kernel compiled for its device's architecture, loaded into
// its device's context, launched, allocating and copying with that context current and on that
// device's stream; a caller's current context is left as it was; a tensor of one device passed
// to a kernel of the other is refused, as is a device past the count; DLPack keeps the device.
#include "tdsl/DLPack.h"
#include "tdsl/tdsl.h"

#include "fake_cuda_record.h"

#include <dlfcn.h>

#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace {

int failures = 0;
void expect(bool ok, const std::string &what) {
  if (!ok) {
    std::fprintf(stderr, "FAILED: %s\n", what.c_str());
    ++failures;
  }
}

/// The RuntimeError `f` throws ("" when none), and whether its code is TensorMismatch.
std::string errorOf(const std::function<void()> &f, bool *mismatch = nullptr) {
  try {
    f();
  } catch (const tdsl::RuntimeError &e) {
    if (mismatch)
      *mismatch = e.code() == tdsl::ErrorCode::TensorMismatch;
    return e.what();
  }
  return "";
}

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

const char *kSource = R"(
kernel scale(x: f32[N]) -> y: f32[N] {
    y[i] = 2.0 * x[i] + 1.0
}
)";

/// The driver's context functions, for what a program holding its own contexts does.
struct Contexts {
  int (*retain)(void **, int) = nullptr;
  int (*getCurrent)(void **) = nullptr;
  int (*setCurrent)(void *) = nullptr;
  void *of(int device) const {
    void *context = nullptr;
    retain(&context, device);
    return context;
  }
  void *current() const {
    void *context = nullptr;
    getCurrent(&context);
    return context;
  }
};

} // namespace

int main() {
  using namespace tdsl;
  void *driver = dlopen("libcuda.so.1", RTLD_NOW);
  auto *record =
      driver ? static_cast<fake_cuda_record *>(dlsym(driver, "fake_cuda_record")) : nullptr;
  Contexts cu;
  if (driver) {
    cu.retain = reinterpret_cast<int (*)(void **, int)>(dlsym(driver, "cuDevicePrimaryCtxRetain"));
    cu.getCurrent = reinterpret_cast<int (*)(void **)>(dlsym(driver, "cuCtxGetCurrent"));
    cu.setCurrent = reinterpret_cast<int (*)(void *)>(dlsym(driver, "cuCtxSetCurrent"));
  }
  if (!record || !cu.retain || !cu.getCurrent || !cu.setCurrent) {
    std::fprintf(stderr, "FAILED: the fake driver was not the one loaded\n");
    return 1;
  }
  void *context0 = cu.of(0), *context1 = cu.of(1);

  auto kernelOn = [](int device) {
    JitOptions options;
    options.target = Target::cuda();
    options.diskCache = false;
    options.cudaDevice = device;
    return Jit(options).compile(kSource, "devices_probe.tdsl").kernel("scale");
  };
  Kernel scale0 = kernelOn(0), scale1 = kernelOn(1), scaleDefault = kernelOn(-1);
  expect(scale0.cudaDevice() == 0 && scale1.cudaDevice() == 1 && scaleDefault.cudaDevice() == 0,
         "each kernel's device, -1 resolved to 0");

  // Each kernel is compiled for its own device's architecture.
  expect(contains(scale0.dump(Stage::Ptx), ".target sm_90a"), "device 0's code is for sm_90a");
  expect(contains(scale1.dump(Stage::Ptx), ".target sm_80"), "device 1's code is for sm_80");

  Tensor host = Tensor::randn({1000}, DType::F32, 1);
  DeviceTensor x0 = DeviceTensor::fromHost(host, 0), x1 = DeviceTensor::fromHost(host, 1);
  expect(x0.device() == 0 && x1.device() == 1, "owned tensors on the devices asked for");
  expect(record->allocationsOn[0] == 1 && record->allocationsOn[1] == 1,
         "each allocated with its device's context current");
  expect(x1.typeString() == "f32[1000] (cuda:1)", "the type names the device: " + x1.typeString());

  std::vector<DeviceTensor> y0 = scale0.callDevice({x0});
  void *stream0 = record->lastLaunchStream;
  expect(record->moduleLoadsOn[0] == 1 && record->moduleLoadsOn[1] == 0,
         "device 0's kernel loaded into device 0's context");
  expect(record->launchesOn[0] == 1 && record->launchContext == context0, "and launched there");
  std::vector<DeviceTensor> y1 = scale1.callDevice({x1});
  void *stream1 = record->lastLaunchStream;
  expect(record->moduleLoadsOn[1] == 1, "device 1's kernel loaded into device 1's context");
  expect(record->launchesOn[1] == 1 && record->launchContext == context1, "and launched there");
  expect(stream0 && stream1 && stream0 != stream1, "each device has a stream of its own");
  expect(y0[0].device() == 0 && y1[0].device() == 1, "outputs on their kernel's device");
  expect(record->allocationsOn[0] == 2 && record->allocationsOn[1] == 2,
         "outputs allocated in their device's context");

  // Interleaved calls switch contexts; the default device is device 0, with its state.
  scale0.runDevice({x0}, y0);
  scale1.runDevice({x1}, y1);
  scaleDefault.runDevice({x0}, y0);
  expect(record->launchesOn[0] == 3 && record->launchesOn[1] == 2, "interleaved launches");
  expect(record->lastLaunchStream == stream0, "the default device's stream is device 0's");
  expect(record->moduleLoadsOn[0] == 2, "the default device's kernel loaded on device 0");
  (void)y1[0].toHost();
  expect(record->lastSyncStream == stream1, "device 1's copies on device 1's stream");

  // A context the caller made current is current again after a call on another device.
  cu.setCurrent(context1);
  scale0.runDevice({x0}, y0);
  expect(record->launchContext == context0, "launched in device 0's context");
  expect(cu.current() == context1, "the caller's context is current again");
  cu.setCurrent(nullptr);
  scale1.runDevice({x1}, y1);
  expect(cu.current() == context1, "a thread without a context keeps the device's");

  // Another thread has contexts of its own: its first call makes the device's current there.
  std::string threadError;
  void *threadContext = nullptr;
  std::thread([&] {
    threadError = errorOf([&] { scale0.runDevice({x0}, y0); });
    threadContext = cu.current();
  }).join();
  expect(threadError.empty() && record->launchContext == context0 && threadContext == context0,
         "a call from another thread runs in device 0's context: " + threadError);
  expect(cu.current() == context1, "this thread's context is untouched");

  // Tensors of another device are refused before anything runs.
  int launches = record->launches;
  bool mismatch = false;
  std::string error = errorOf([&] { scale0.runDevice({x1}, y0); }, &mismatch);
  expect(mismatch && contains(error, "input x of kernel scale is on cuda:1, but the kernel runs "
                                     "on cuda:0"),
         "an input of device 1 is refused by device 0's kernel: " + error);
  error = errorOf([&] { scale1.runDevice({x1}, y0); }, &mismatch);
  expect(mismatch && contains(error, "output y of kernel scale is on cuda:0, but the kernel runs "
                                     "on cuda:1"),
         "an output of device 0 is refused by device 1's kernel: " + error);
  error = errorOf([&] { (void)scale1.callDevice({x0}); }, &mismatch);
  expect(mismatch && contains(error, "input x"), "callDevice refuses too: " + error);
  expect(record->launches == launches, "nothing launched");

  // A device past the count.
  error = errorOf([&] { (void)kernelOn(2)({host}); });
  expect(contains(error, "CUDA device 2") && contains(error, "there are 2 CUDA devices"),
         "a kernel of device 2 of 2: " + error);
  error = errorOf([&] { (void)DeviceTensor::empty({4}, DType::F32, 3); });
  expect(contains(error, "CUDA device 3") && contains(error, "there are 2 CUDA devices"),
         "a tensor on device 3 of 2: " + error);
  error = errorOf([&] {
    JitOptions options;
    options.target = Target::cuda();
    options.cudaDevice = -2;
    Jit{options};
  });
  expect(contains(error, "JitOptions::cudaDevice is -2"), "a negative ordinal: " + error);

  // DLPack: the device ordinal goes out and comes back.
  DLManagedTensorVersioned *capsule = toDLPack(x1);
  expect(capsule->dl_tensor.device.device_type == kDLCUDA &&
             capsule->dl_tensor.device.device_id == 1,
         "exported with device_id 1");
  DeviceTensor back = deviceFromDLPack(capsule);
  expect(back.device() == 1 && back.devicePointer() == x1.devicePointer(), "imported on device 1");
  error = errorOf([&] { scale0.runDevice({back}, y0); });
  expect(contains(error, "is on cuda:1"), "and refused by device 0's kernel: " + error);
  expect(record->wrongContext == 0 && record->launchesElsewhere == 0,
         "every call with its device's context current: " + std::to_string(record->wrongContext) +
             " uses of another context's memory, " + "stream or module, " +
             std::to_string(record->launchesElsewhere) + " launches of another context's function");
  std::printf("two devices on a fake driver: %d + %d launches, %d + %d loads; %s\n",
              record->launchesOn[0], record->launchesOn[1], record->moduleLoadsOn[0],
              record->moduleLoadsOn[1], failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}
