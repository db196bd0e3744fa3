/* A stand-in for the CUDA driver (libcuda.so.1) for machines without a GPU: it answers the calls
 * the kernel runtime makes for ahead-of-time CUDA kernels (runtime/AotCuda.cpp) and those of the
 * JIT's runtime (runtime/Cuda.cpp), and records what they asked, for aot_cuda_fake_probe and
 * jit_cuda_fake_probe to check. FAKE_CUDA_SYNC_FAIL makes stream synchronizations report an
 * illegal address (a kernel's asynchronous failure). FAKE_CUDA_DEVICES sets the device count (1
 * to 4, default 4); FAKE_CUDA_CC the compute capability (major * 10 + minor), one for every
 * device or a comma-separated list, one a device ("90,80"); device memory is host memory; gather
 * checks read back as FAKE_CUDA_CHECK (or "no violation"). Each device has a primary context,
 * current per thread as in the real driver; a module, an allocation and a stream belong to the
 * context current when they were made, and the record counts the calls that use them with
 * another context current. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;

#include "fake_cuda_record.h"

struct fake_cuda_record fake_cuda_record;

static int deviceCount(void) {
  const char *count = getenv("FAKE_CUDA_DEVICES");
  int n = count ? atoi(count) : 4;
  return n < 1 ? 1 : n > 4 ? 4 : n;
}
/* FAKE_CUDA_CC's entry for `device`, the last one for the devices past the list. */
static int computeCapability(int device) {
  const char *cc = getenv("FAKE_CUDA_CC");
  if (!cc)
    return 90;
  for (int i = 0; i < device && strchr(cc, ','); ++i)
    cc = strchr(cc, ',') + 1;
  return atoi(cc);
}
/* A primary context a device (0 to 3), a module a load (up to 16), a stream a device. */
static int contexts[4], modules[16], ownStreams[4];
static void *moduleContexts[16];
static _Thread_local void *current;
/* The device of the context current, -1 for none. */
static int currentDevice(void) { return current ? (int)((int *)current - contexts) : -1; }
/* Allocations and their contexts (up to 256 live ones). */
static struct {
  uint64_t pointer;
  void *context;
} allocations[256];
/* Counts a use of memory `pointer`, when tdsl allocated it, with another context current. */
static void useMemory(uint64_t pointer) {
  for (int i = 0; i < 256; ++i)
    if (allocations[i].pointer == pointer && allocations[i].context != current)
      ++fake_cuda_record.wrongContext;
}
/* Counts a use of a driver-made stream of another context than the current one (a caller's own
 * stream, or null, is the caller's business). */
static void useStream(void *stream) {
  for (int i = 0; i < 4; ++i)
    if (stream == &ownStreams[i] && currentDevice() != i)
      ++fake_cuda_record.wrongContext;
}

CUresult cuInit(unsigned flags) { return (int)flags; }
CUresult cuGetErrorString(CUresult r, const char **text) {
  *text = r ? "fake failure" : "no error";
  return 0;
}
CUresult cuDeviceGet(int *device, int ordinal) {
  *device = ordinal;
  return 0;
}
CUresult cuDeviceGetAttribute(int *value, int attribute, int device) {
  switch (attribute) {
  case 1: /* Threads a block. */
    *value = 1024;
    break;
  case 16: /* Multiprocessors. */
    *value = 2;
    break;
  case 39: /* Threads a multiprocessor. */
    *value = 2048;
    break;
  case 8: /* Shared memory a block, and with the opt-in. */
    *value = 48 * 1024;
    break;
  case 97:
    *value = 227 * 1024;
    break;
  case 81: /* Shared memory a multiprocessor. */
    *value = 228 * 1024;
    break;
  case 10:
    *value = 32;
    break;
  case 12:
    *value = 65536;
    break;
  case 75:
    *value = computeCapability(device) / 10;
    break;
  case 76:
    *value = computeCapability(device) % 10;
    break;
  default:
    *value = 0;
  }
  return 0;
}
CUresult cuDevicePrimaryCtxRetain(void **ctx, int device) {
  if (device < 0 || device >= deviceCount())
    return 101; /* CUDA_ERROR_INVALID_DEVICE */
  *ctx = &contexts[device];
  return 0;
}
CUresult cuCtxGetCurrent(void **ctx) {
  *ctx = current;
  return 0;
}
CUresult cuCtxSetCurrent(void *ctx) {
  current = ctx;
  return 0;
}
CUresult cuCtxGetDevice(int *device) {
  if (!current)
    return 201; /* CUDA_ERROR_INVALID_CONTEXT */
  *device = (int)((int *)current - contexts);
  return 0;
}
CUresult cuCtxSynchronize(void) { return 0; }
CUresult cuModuleLoadData(void **loaded, const void *image) {
  const char *text = image;
  fake_cuda_record.loadedCubin = memcmp(text, "\177ELF", 4) == 0;
  if (!fake_cuda_record.loadedCubin) {
    const char *target = strstr(text, ".target ");
    size_t n = target ? strcspn(target + 8, " \n,") : 0;
    memcpy(fake_cuda_record.ptxTarget, target ? target + 8 : "", n < 15 ? n : 15);
  }
  if (!current || fake_cuda_record.moduleLoads == 16)
    return 201;
  moduleContexts[fake_cuda_record.moduleLoads] = current;
  ++fake_cuda_record.moduleLoadsOn[currentDevice()];
  *loaded = &modules[fake_cuda_record.moduleLoads++];
  return 0;
}
/* A function is its module, then its name. */
/* Function handles: the module, then the function's name; from a pool, as the real driver's
 * live as long as the process here (modules are never really unloaded). */
static char functions[256][sizeof(void *) + 128];
static int functionCount;
CUresult cuModuleGetFunction(void **function, void *m, const char *name) {
  if (functionCount == 256 || strlen(name) >= 128)
    return 500; /* CUDA_ERROR_NOT_FOUND */
  char *f = functions[functionCount++];
  memcpy(f, &m, sizeof m);
  strcpy(f + sizeof m, name);
  *function = f;
  return 0;
}
CUresult cuFuncSetAttribute(void *function, int attribute, int value) {
  (void)function;
  (void)attribute;
  (void)value;
  return 0;
}
CUresult cuLaunchKernel(void *function, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                        unsigned by, unsigned bz, unsigned shared, void *stream, void **params,
                        void **extra) {
  (void)gy, (void)gz, (void)by, (void)bz, (void)extra;
  int *module;
  memcpy(&module, function, sizeof module);
  fake_cuda_record.launchesElsewhere += moduleContexts[module - modules] != current;
  fake_cuda_record.launchContext = current;
  if (current)
    ++fake_cuda_record.launchesOn[currentDevice()];
  useStream(stream);
  const char *name = (const char *)function + sizeof(void *);
  size_t used = strlen(fake_cuda_record.launched);
  if (used + strlen(name) + 2 < sizeof fake_cuda_record.launched) {
    strcpy(fake_cuda_record.launched + used, name);
    strcat(fake_cuda_record.launched, " ");
  }
  if (strncmp(name, "tdsl_strided_copy_", 18) == 0) {
    /* codegen/cuda/CudaPrelude.cpp's tdsl_strided_copy_args, and its copy, run here. */
    struct copy_args {
      long long shape[8], strides[8];
      long long count;
      int rank, to_view;
    };
    size_t bytes = (size_t)atoi(name + 18);
    char *contiguous = *(char **)params[0], *view = *(char **)params[1];
    const struct copy_args *a = (const struct copy_args *)params[2];
    for (long long i = 0; i < a->count; ++i) {
      long long rest = i, offset = 0;
      for (int d = a->rank - 1; d >= 0; --d) {
        offset += rest % a->shape[d] * a->strides[d];
        rest /= a->shape[d];
      }
      if (a->to_view)
        memcpy(view + offset * (long long)bytes, contiguous + i * (long long)bytes, bytes);
      else
        memcpy(contiguous + i * (long long)bytes, view + offset * (long long)bytes, bytes);
    }
    if (fake_cuda_record.copies < 4)
      fake_cuda_record.copyScratch[fake_cuda_record.copies] = (uint64_t)(uintptr_t)contiguous;
    ++fake_cuda_record.copies;
  } else {
    for (int i = 0; i < 2; ++i) { /* Every kernel has an input and an output. */
      fake_cuda_record.kernelPointers[i] = *(const uint64_t *)params[i];
      useMemory(fake_cuda_record.kernelPointers[i]);
    }
  }
  fake_cuda_record.lastLaunchStream = stream;
  if (fake_cuda_record.launches++ == 0) {
    strncpy(fake_cuda_record.function, (const char *)function + sizeof(void *),
            sizeof fake_cuda_record.function - 1);
    fake_cuda_record.grid = gx;
    fake_cuda_record.block = bx;
    fake_cuda_record.shared = shared;
    fake_cuda_record.stream = stream;
    fake_cuda_record.firstArgument = *(const uint64_t *)params[0];
  }
  return 0;
}
CUresult cuMemAlloc_v2(uint64_t *pointer, size_t bytes) {
  if (!current)
    return 201;
  *pointer = (uint64_t)(uintptr_t)malloc(bytes);
  if (!*pointer)
    return 2;
  ++fake_cuda_record.allocationsOn[currentDevice()];
  for (int i = 0; i < 256; ++i)
    if (!allocations[i].pointer) {
      allocations[i].pointer = *pointer;
      allocations[i].context = current;
      break;
    }
  return 0;
}
CUresult cuMemFree_v2(uint64_t pointer) {
  useMemory(pointer);
  for (int i = 0; i < 256; ++i)
    if (allocations[i].pointer == pointer)
      allocations[i].pointer = 0;
  free((void *)(uintptr_t)pointer);
  return 0;
}
CUresult cuMemcpyDtoHAsync_v2(void *host, uint64_t device, size_t bytes, void *stream) {
  useMemory(device);
  useStream(stream);
  const char *check = getenv("FAKE_CUDA_CHECK");
  for (size_t i = 0; i < bytes / sizeof(int64_t); ++i)
    ((int64_t *)host)[i] = check ? atoll(check) : INT64_MAX;
  return 0;
}
CUresult cuStreamSynchronize(void *stream) {
  useStream(stream);
  fake_cuda_record.streamSyncs++;
  fake_cuda_record.lastSyncStream = stream;
  return getenv("FAKE_CUDA_SYNC_FAIL") ? 700 : 0; /* CUDA_ERROR_ILLEGAL_ADDRESS */
}

/* The rest of what the JIT's runtime loads: one stream of its own, copies within host memory,
 * events that time nothing. */
CUresult cuDriverGetVersion(int *version) {
  *version = 13000;
  return 0;
}
CUresult cuGetErrorName(CUresult r, const char **name) {
  *name = r ? "CUDA_ERROR_FAKE" : "CUDA_SUCCESS";
  return 0;
}
CUresult cuDeviceGetCount(int *count) {
  *count = deviceCount();
  return 0;
}
CUresult cuDeviceGetName(char *name, int length, int device) {
  (void)device;
  strncpy(name, "Fake GPU", (size_t)length);
  return 0;
}
CUresult cuDeviceTotalMem_v2(size_t *bytes, int device) {
  (void)device;
  *bytes = (size_t)1 << 30;
  return 0;
}
CUresult cuStreamCreate(void **stream, unsigned flags) {
  (void)flags;
  if (!current)
    return 201;
  *stream = &ownStreams[currentDevice()];
  return 0;
}
CUresult cuMemcpyHtoDAsync_v2(uint64_t device, const void *host, size_t bytes, void *stream) {
  useMemory(device);
  useStream(stream);
  memcpy((void *)(uintptr_t)device, host, bytes);
  return 0;
}
CUresult cuMemcpyDtoDAsync_v2(uint64_t to, uint64_t from, size_t bytes, void *stream) {
  useMemory(to);
  useMemory(from);
  useStream(stream);
  memcpy((void *)(uintptr_t)to, (const void *)(uintptr_t)from, bytes);
  return 0;
}
CUresult cuModuleUnload(void *m) {
  fake_cuda_record.wrongContext += moduleContexts[(int *)m - modules] != current;
  return 0;
}
static int event;
CUresult cuEventCreate(void **e, unsigned flags) {
  (void)flags;
  *e = &event;
  return 0;
}
CUresult cuEventRecord(void *e, void *stream) {
  (void)e, (void)stream;
  return 0;
}
CUresult cuEventSynchronize(void *e) {
  (void)e;
  return 0;
}
CUresult cuEventElapsedTime(float *ms, void *start, void *stop) {
  (void)start, (void)stop;
  *ms = 0;
  return 0;
}
/* NVRTC (which the JIT loads to compile cubins) asks the driver for its internal tables. */
CUresult cuGetExportTable(const void **table, const void *id) {
  (void)id;
  *table = NULL;
  return 500; /* CUDA_ERROR_NOT_FOUND */
}
CUresult cuEventDestroy_v2(void *e) {
  (void)e;
  return 0;
}
