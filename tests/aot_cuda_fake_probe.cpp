// CUDA kernels compiled ahead of time, called against tests/aot_cuda_fake_driver.c (a stand-in
// for libcuda.so.1, found through LD_LIBRARY_PATH) on a machine without a GPU:
//   aot_cuda_fake_probe cubin|ptx|none|contexts|strided
// checks that the runtime loads the image the compute capability FAKE_CUDA_CC calls for (the
// cubin of sm_90a for 90; sm_80's PTX for 86; none for 75, with the status saying why), and
// that a launch gets the caller's stream and device pointers and the JIT's 256 threads a block.
// A kernel with gather checks reads them back: FAKE_CUDA_CHECK=7 gives the JIT's message.
// `contexts`: a kernel called in two devices' contexts is loaded into each, launches there, and
// leaves the caller's context current. `strided`: the strided function's copies.
#include "aot_cuda_broadcasting.h"
#include "aot_cuda_gathers.h"

#include "fake_cuda_record.h"

#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

using FakeRecord = fake_cuda_record;

int failures = 0;
void expect(bool ok, const std::string &what) {
  if (!ok) {
    std::fprintf(stderr, "FAILED: %s\n", what.c_str());
    ++failures;
  }
}

} // namespace

const FakeRecord *fakeRecord() {
  void *driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  return driver ? static_cast<const FakeRecord *>(dlsym(driver, "fake_cuda_record")) : nullptr;
}

/// Calls `outer` in device 0's context (made current by the first call), then device 1's, then
/// device 0's again: one image load a context, each launch in the caller's context.
int severalContexts() {
  float *x = reinterpret_cast<float *>(0x1000), *y = reinterpret_cast<float *>(0x2000);
  const int64_t xShape[] = {3, 1}, dShape[] = {5}, yShape[] = {3, 5};
  auto outer = [&] {
    return aot_cuda_broadcasting_outer(x, xShape, y + 64, dShape, y, yShape, 3, 5, nullptr);
  };
  expect(outer() == TDSL_OK, "the first call");
  const FakeRecord *record = fakeRecord();
  void *driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  using Retain = int (*)(void **, int);
  using Current = int (*)(void **);
  using SetCurrent = int (*)(void *);
  auto retain =
      driver ? reinterpret_cast<Retain>(dlsym(driver, "cuDevicePrimaryCtxRetain")) : nullptr;
  auto current = driver ? reinterpret_cast<Current>(dlsym(driver, "cuCtxGetCurrent")) : nullptr;
  auto setCurrent =
      driver ? reinterpret_cast<SetCurrent>(dlsym(driver, "cuCtxSetCurrent")) : nullptr;
  if (!record || !retain || !current || !setCurrent) {
    std::fprintf(stderr, "FAILED: the fake driver was not the one loaded\n");
    return 1;
  }
  void *device0 = nullptr, *device1 = nullptr, *now = nullptr;
  retain(&device0, 0);
  retain(&device1, 1);
  current(&now);
  expect(now == device0, "without a context, the first call makes device 0's current");
  expect(record->moduleLoads == 1 && record->launchContext == device0, "loaded and run there");
  setCurrent(device1);
  expect(outer() == TDSL_OK, "the call in device 1's context");
  current(&now);
  expect(now == device1, "the caller's context stays current");
  expect(record->moduleLoads == 2 && record->launchContext == device1,
         "loaded again into device 1's context and run there");
  setCurrent(device0);
  expect(outer() == TDSL_OK && outer() == TDSL_OK, "two more calls in device 0's context");
  expect(record->moduleLoads == 2 && record->launchContext == device0,
         "no third load: device 0's image is kept");
  expect(record->launchesElsewhere == 0, "every launch with the current context's functions");
  std::printf("contexts: %d loads, %d launches\n", record->moduleLoads, record->launches);
  return failures ? 1 : 0;
}

/// The strided function: x read through a view with a step of 2 and y written column-major,
/// each through contiguous scratch (the copies run in the fake driver, on host memory); an
/// output whose strides collide is refused before anything is launched.
int stridedViews() {
  float xData[6] = {1, -1, 2, -1, 3, -1}, d[5] = {0, 10, 20, 30, 40}, y[15] = {};
  const int64_t xShape[] = {3, 1}, xStrides[] = {2, 1}, dShape[] = {5}, yShape[] = {3, 5};
  const int64_t yStrides[] = {1, 3};
  int status = aot_cuda_broadcasting_outer_strided(xData, xShape, xStrides, d, dShape, nullptr, y,
                                                   yShape, yStrides, 3, 5, nullptr);
  expect(status == TDSL_OK, std::string("the strided call: ") + tdsl_last_error());
  const FakeRecord *record = fakeRecord();
  if (!record) {
    std::fprintf(stderr, "FAILED: the fake driver was not the one loaded\n");
    return 1;
  }
  std::printf("strided: launched %s\n", record->launched);
  expect(std::strncmp(record->launched, "tdsl_strided_copy_4 outer_k", 27) == 0 &&
             std::string(record->launched).ends_with(" tdsl_strided_copy_4 "),
         "x copied in, the kernel, y copied out");
  expect(record->copies == 2, "two copies");
  const float *xCopy = reinterpret_cast<const float *>(record->copyScratch[0]);
  expect(xCopy[0] == 1 && xCopy[1] == 2 && xCopy[2] == 3, "x's elements in row-major order");
  expect(record->kernelPointers[0] == record->copyScratch[0] &&
             record->kernelPointers[1] == reinterpret_cast<uint64_t>(d),
         "the kernel reads x's copy and d itself");
  const float *yCopy = reinterpret_cast<const float *>(record->copyScratch[1]);
  bool copiedOut = true;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 5; ++j)
      copiedOut &= std::memcmp(&y[i + 3 * j], &yCopy[i * 5 + j], sizeof(float)) == 0;
  expect(copiedOut, "y[i, j] at y + i + 3 j holds the kernel's element [i, j]");

  const int64_t colliding[] = {1, 1};
  int launches = record->launches;
  status = aot_cuda_broadcasting_outer_strided(xData, xShape, xStrides, d, dShape, nullptr, y,
                                               yShape, colliding, 3, 5, nullptr);
  expect(status == TDSL_BAD_STRIDES && std::strstr(tdsl_last_error(), "two elements at one"),
         "colliding output strides: TDSL_BAD_STRIDES");
  expect(record->launches == launches, "nothing launched");
  return failures ? 1 : 0;
}

int main(int argc, char **argv) {
  std::string image = argc > 1 ? argv[1] : "";
  if (image == "contexts")
    return severalContexts();
  if (image == "strided")
    return stridedViews();
  void *stream = reinterpret_cast<void *>(0x5eed);
  float *x = reinterpret_cast<float *>(0x1000), *y = reinterpret_cast<float *>(0x2000);
  const int64_t xShape[] = {3, 1}, dShape[] = {5}, yShape[] = {3, 5};
  int status = aot_cuda_broadcasting_outer(x, xShape, y + 64, dShape, y, yShape, 3, 5, stream);
  std::printf("outer: status %d: %s\n", status, status ? tdsl_last_error() : "ok");
  if (image == "none") {
    expect(status == TDSL_CUDA_UNAVAILABLE, "status TDSL_CUDA_UNAVAILABLE");
    expect(std::strcmp(tdsl_last_error(),
                       "kernel outer has no image for this GPU (compute capability 7.5); it was "
                       "compiled for sm_80, sm_90a") == 0,
           "the message names the capability and the images");
    return failures ? 1 : 0;
  }
  expect(status == TDSL_OK, "status TDSL_OK");
  const FakeRecord *record = fakeRecord();
  if (!record) {
    std::fprintf(stderr, "FAILED: the fake driver was not the one loaded\n");
    return 1;
  }
  std::printf("image: %s %s; first launch %s: grid %u, block %u, shared %u\n",
              record->loadedCubin ? "cubin" : "PTX", record->ptxTarget, record->function,
              record->grid, record->block, record->shared);
  expect(record->loadedCubin == (image == "cubin"), "the image kind");
  if (image == "ptx")
    expect(std::strcmp(record->ptxTarget, "sm_80") == 0, "sm_80's PTX");
  expect(record->launches >= 1 && std::strncmp(record->function, "outer_k", 7) == 0,
         "a launch of outer's kernel");
  expect(record->stream == stream, "the caller's stream");
  expect(record->firstArgument == reinterpret_cast<uint64_t>(x), "the first device pointer");
  expect(record->block == 256 && record->grid >= 1, "256 threads a block");

  // A gather's checks: read back after the launches, with the JIT's message on a violation.
  const int32_t *ids = reinterpret_cast<const int32_t *>(0x3000);
  status = aot_cuda_gathers_embed(x, nullptr, ids, nullptr, y, nullptr, 4, 2, 3, stream);
  std::printf("embed: status %d: %s\n", status, status ? tdsl_last_error() : "ok");
  bool violated = std::getenv("FAKE_CUDA_CHECK") != nullptr;
  expect(status == (violated ? TDSL_INDEX_OUT_OF_RANGE : TDSL_OK), "embed's status");
  if (violated)
    expect(std::strstr(tdsl_last_error(),
                       "reads index 7 of dim 0 of table, outside its range [0, 4)") != nullptr,
           "the gather message");
  return failures ? 1 : 0;
}
