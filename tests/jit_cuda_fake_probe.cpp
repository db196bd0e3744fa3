// The JIT's CUDA runtime against tests/aot_cuda_fake_driver.c (a stand-in for libcuda.so.1, found
// through LD_LIBRARY_PATH) on a machine without a GPU: Kernel::runDevice on views of caller
// memory launches on the caller's stream and synchronizes nothing (a kernel with gather checks
// waits for that stream only), a null stream is tdsl's own, a second device is refused, and a
// synchronization that reports an asynchronous failure names the kernel launched last.
#include "tdsl/tdsl.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

struct FakeRecord { // tests/aot_cuda_fake_driver.c's fake_cuda_record.
  int loadedCubin;
  char ptxTarget[16];
  int launches;
  unsigned grid, block, shared;
  void *stream;
  uint64_t firstArgument;
  char function[64];
  int moduleLoads;
  void *launchContext;
  int launchesElsewhere;
  void *lastLaunchStream;
  int streamSyncs;
  void *lastSyncStream;
};

int failures = 0;
void expect(bool ok, const std::string &what) {
  if (!ok) {
    std::fprintf(stderr, "FAILED: %s\n", what.c_str());
    ++failures;
  }
}

std::string errorOf(void (*f)(void *), void *context) {
  try {
    f(context);
  } catch (const tdsl::RuntimeError &e) {
    return e.what();
  }
  return "";
}

const char *kSource = R"(
kernel scale(x: f32[N]) -> y: f32[N] {
    y[i] = 2.0 * x[i] + 1.0
}
kernel embed(table: f32[V, D], ids: i32[T]) -> y: f32[T, D] {
    y[t, d] = table[ids[t], d]
}
)";

} // namespace

int main() {
  using namespace tdsl;
  JitOptions options;
  options.target = Target::cuda();
  options.diskCache = false;
  options.cudaDevice = 0;
  Jit jit(options);
  void *driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  const auto *record =
      driver ? static_cast<const FakeRecord *>(dlsym(driver, "fake_cuda_record")) : nullptr;
  if (!record) {
    std::fprintf(stderr, "FAILED: the fake driver was not the one loaded\n");
    return 1;
  }
  Module module = jit.compile(kSource, "fake_probe.tdsl");
  Kernel scale = module.kernel("scale");

  // Fake device memory is host memory: the caller's buffers, wrapped.
  std::vector<float> x(1000, 1.0f), y(1000, 0.0f);
  DeviceTensor dx = DeviceTensor::view(reinterpret_cast<uintptr_t>(x.data()), {1000}, DType::F32);
  DeviceTensor dy = DeviceTensor::view(reinterpret_cast<uintptr_t>(y.data()), {1000}, DType::F32);
  void *stream = reinterpret_cast<void *>(0xca11e4);
  scale.runDevice({dx}, {dy}, stream); // Compiles (NVRTC), loads, launches.
  int syncs = record->streamSyncs, launches = record->launches;
  scale.runDevice({dx}, {dy}, stream);
  expect(record->launches > launches, "runDevice launched");
  expect(record->lastLaunchStream == stream, "on the caller's stream");
  expect(record->streamSyncs == syncs, "without synchronizing any stream");
  expect(record->firstArgument == reinterpret_cast<uintptr_t>(x.data()) ||
             record->launches > 1, // firstArgument is the process's first launch's.
         "the caller's device pointer");
  scale.runDevice({dx}, {dy});
  expect(record->lastLaunchStream != stream && record->lastLaunchStream != nullptr,
         "a null stream is tdsl's own");

  // Gather checks are read back on tdsl's stream: the caller's is waited for first.
  Kernel embed = module.kernel("embed");
  std::vector<float> table(4 * 3, 0.5f), out(2 * 3);
  std::vector<int32_t> ids = {1, 3};
  embed.runDevice(
      {DeviceTensor::view(reinterpret_cast<uintptr_t>(table.data()), {4, 3}, DType::F32),
       DeviceTensor::view(reinterpret_cast<uintptr_t>(ids.data()), {2}, DType::I32)},
      {DeviceTensor::view(reinterpret_cast<uintptr_t>(out.data()), {2, 3}, DType::F32)}, stream);
  expect(record->lastLaunchStream == stream, "embed on the caller's stream");
  expect(record->streamSyncs > syncs, "a kernel with gather checks synchronizes");

  // One device per process.
  options.cudaDevice = 1;
  std::string error = errorOf([](void *o) { Jit{*static_cast<JitOptions *>(o)}; }, &options);
  expect(error.find("already runs on device 0") != std::string::npos,
         "a second device is refused: " + error);

  // An asynchronous failure surfaces at the next synchronization, naming the last kernel.
  scale.runDevice({dx}, {dy}, stream);
  setenv("FAKE_CUDA_SYNC_FAIL", "1", 1);
  DeviceTensor owned = DeviceTensor::empty({4}, DType::F32);
  error = errorOf([](void *t) { (void)static_cast<DeviceTensor *>(t)->toHost(); }, &owned);
  unsetenv("FAKE_CUDA_SYNC_FAIL");
  expect(error.find("CUDA_ERROR_FAKE") != std::string::npos &&
             error.find("the last kernel launched before it was scale") != std::string::npos &&
             error.find("fake_probe.tdsl") != std::string::npos,
         "the failure names the kernel: " + error);
  std::printf("jit on a fake driver: %d launches, %d stream synchronizations; %s\n",
              record->launches, record->streamSyncs, failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}
