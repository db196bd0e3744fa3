// The JIT's CUDA runtime against tests/aot_cuda_fake_driver.c (a stand-in for libcuda.so.1, found
// through LD_LIBRARY_PATH) on a machine without a GPU: Kernel::runDevice on views of caller
// memory launches on the caller's stream and synchronizes nothing (a kernel with gather checks
// waits for that stream only), a null stream is tdsl's own, and a synchronization that reports an
// asynchronous failure names the kernel launched last (tests/jit_cuda_devices_fake_probe.cpp
// checks several devices).
#include "tdsl/tdsl.h"

#include "fake_cuda_record.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using FakeRecord = fake_cuda_record;

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
  void *driver = dlopen("libcuda.so.1", RTLD_NOW);
  auto *record = driver ? static_cast<FakeRecord *>(dlsym(driver, "fake_cuda_record")) : nullptr;
  if (!record) {
    std::fprintf(stderr, "FAILED: the fake driver was not the one loaded\n");
    return 1;
  }
  Module module = jit.compile(kSource, "fake_probe.tdsl");
  Kernel scale = module.kernel("scale");
  std::string error;

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

  // Views with other strides go through contiguous scratch, copied on the caller's stream
  // without synchronizing: every other element in, every third out (the fake driver runs the
  // copies on host memory, the kernel not at all).
  std::vector<float> wide(2000), wideOut(3000, -1.0f);
  for (size_t i = 0; i < wide.size(); ++i)
    wide[i] = static_cast<float>(i);
  DeviceTensor everyOther =
      DeviceTensor::view(reinterpret_cast<uintptr_t>(wide.data()), {1000}, DType::F32, {2});
  DeviceTensor everyThird =
      DeviceTensor::view(reinterpret_cast<uintptr_t>(wideOut.data()), {1000}, DType::F32, {3});
  syncs = record->streamSyncs;
  int copies = record->copies;
  record->launched[0] = '\0';
  scale.runDevice({everyOther}, {everyThird}, stream);
  std::string launched = record->launched;
  expect(record->copies == copies + 2 && launched.rfind("tdsl_strided_copy_4 ", 0) == 0 &&
             launched.size() > 40 &&
             launched.compare(launched.size() - 20, 20, "tdsl_strided_copy_4 ") == 0,
         "an input copied in, then the kernel, then an output copied out: " + launched);
  expect(record->lastLaunchStream == stream && record->streamSyncs == syncs,
         "the copies on the caller's stream, synchronizing nothing");
  if (copies == 0 && record->copies == 2) {
    expect(record->kernelPointers[0] == record->copyScratch[0] &&
               record->kernelPointers[1] == record->copyScratch[1],
           "the kernel runs on the contiguous scratch");
    const auto *in = reinterpret_cast<const float *>(record->kernelPointers[0]);
    const auto *out = reinterpret_cast<const float *>(record->kernelPointers[1]);
    bool gathered = true, scattered = true;
    for (size_t i = 0; i < 1000; ++i) {
      gathered = gathered && in[i] == wide[2 * i];
      scattered = scattered && std::memcmp(&wideOut[3 * i], &out[i], sizeof(float)) == 0 &&
                  wideOut[3 * i + 1] == -1.0f && wideOut[3 * i + 2] == -1.0f;
    }
    expect(gathered, "the input's elements gathered into the scratch");
    expect(scattered, "the output's scratch scattered into every third element, no other");
  }
  DeviceTensor repeated =
      DeviceTensor::view(reinterpret_cast<uintptr_t>(wideOut.data()), {1000}, DType::F32, {0});
  error = "";
  bool mismatch = false;
  try {
    scale.runDevice({dx}, {repeated}, stream);
  } catch (const RuntimeError &e) {
    error = e.what();
    mismatch = e.code() == ErrorCode::TensorMismatch;
  }
  expect(mismatch && error.find("two elements at one address") != std::string::npos,
         "an output with a zero stride is refused: " + error);

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
