// CUDA kernels compiled ahead of time, called against tests/aot_cuda_fake_driver.c (a stand-in
// for libcuda.so.1, found through LD_LIBRARY_PATH) on a machine without a GPU:
//   aot_cuda_fake_probe cubin|ptx|none
// checks that the runtime loads the image the compute capability FAKE_CUDA_CC calls for (the
// cubin of sm_90a for 90; sm_80's PTX for 86; none for 75, with the status saying why), and
// that a launch gets the caller's stream and device pointers and the JIT's 256 threads a block.
// A kernel with gather checks reads them back: FAKE_CUDA_CHECK=7 gives the JIT's message.
#include "aot_cuda_broadcasting.h"
#include "aot_cuda_gathers.h"

#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

struct FakeRecord { // tests/aot_cuda_fake_driver.c's fake_cuda_record.
  int loadedCubin;
  char ptxTarget[16];
  int launches;
  unsigned grid, block, shared;
  void *stream;
  uint64_t firstArgument;
  char function[64];
};

int failures = 0;
void expect(bool ok, const std::string &what) {
  if (!ok) {
    std::fprintf(stderr, "FAILED: %s\n", what.c_str());
    ++failures;
  }
}

} // namespace

int main(int argc, char **argv) {
  std::string image = argc > 1 ? argv[1] : "";
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
  void *driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  const auto *record =
      driver ? static_cast<const FakeRecord *>(dlsym(driver, "fake_cuda_record")) : nullptr;
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
