// The CUDA side of ahead-of-time kernels (runtime/AotKernel.h): the driver API loaded with
// dlopen at the first call (a program that never calls a CUDA kernel needs no NVIDIA driver),
// the image for the device picked and loaded into each context the kernel is called in (the
// context current on the calling thread; device 0's primary context when none is), and every
// call's launches on the caller's stream.
// Nothing here compiles: the images were made by NVRTC at build time, and PTX is compiled by the
// driver. No exception leaves tdsl_aot_cuda_call.
#include "runtime/AotKernel.h"
#include "runtime/CudaDriverTypes.h"

#include <dlfcn.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <climits>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tdsl::runtime::aot {
namespace {

using namespace cuda_driver;

struct Driver {
  std::string unavailable; // Why the driver cannot be used; empty when it can.
  CUresult (*init)(unsigned) = nullptr;
  CUresult (*getErrorString)(CUresult, const char **) = nullptr;
  CUresult (*deviceGet)(CUdevice *, int) = nullptr;
  CUresult (*deviceGetAttribute)(int *, int, CUdevice) = nullptr;
  CUresult (*primaryCtxRetain)(CUcontext *, CUdevice) = nullptr;
  CUresult (*ctxGetCurrent)(CUcontext *) = nullptr;
  CUresult (*ctxSetCurrent)(CUcontext) = nullptr;
  CUresult (*ctxGetDevice)(CUdevice *) = nullptr;
  CUresult (*ctxSynchronize)() = nullptr;
  CUresult (*moduleLoadData)(CUmodule *, const void *) = nullptr;
  CUresult (*moduleGetFunction)(CUfunction *, CUmodule, const char *) = nullptr;
  CUresult (*funcSetAttribute)(CUfunction, int, int) = nullptr;
  CUresult (*launchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                           unsigned, CUstream, void **, void **) = nullptr;
  CUresult (*memAlloc)(CUdeviceptr *, size_t) = nullptr;
  CUresult (*memFree)(CUdeviceptr) = nullptr;
  CUresult (*memcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream) = nullptr;
  CUresult (*streamSynchronize)(CUstream) = nullptr;

  std::string describe(CUresult r) const {
    const char *text = nullptr;
    getErrorString(r, &text);
    return text ? std::string(text) : "CUDA error " + std::to_string(r);
  }
};

Driver loadDriver() {
  Driver d;
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL); // Never closed.
  if (!lib) {
    d.unavailable = "libcuda.so.1 cannot be loaded (no NVIDIA driver on this machine?)";
    return d;
  }
  const char *missing = nullptr;
  auto need = [&](const char *name, auto &fn) {
    if (!missing && !loadSymbol(lib, name, fn))
      missing = name;
  };
  need("cuInit", d.init);
  need("cuGetErrorString", d.getErrorString);
  need("cuDeviceGet", d.deviceGet);
  need("cuDeviceGetAttribute", d.deviceGetAttribute);
  need("cuDevicePrimaryCtxRetain", d.primaryCtxRetain);
  need("cuCtxGetCurrent", d.ctxGetCurrent);
  need("cuCtxSetCurrent", d.ctxSetCurrent);
  need("cuCtxGetDevice", d.ctxGetDevice);
  need("cuCtxSynchronize", d.ctxSynchronize);
  need("cuModuleLoadData", d.moduleLoadData);
  need("cuModuleGetFunction", d.moduleGetFunction);
  need("cuFuncSetAttribute", d.funcSetAttribute);
  need("cuLaunchKernel", d.launchKernel);
  need("cuMemAlloc_v2", d.memAlloc);
  need("cuMemFree_v2", d.memFree);
  need("cuMemcpyDtoHAsync_v2", d.memcpyDtoHAsync);
  need("cuStreamSynchronize", d.streamSynchronize);
  if (missing)
    d.unavailable = std::string("libcuda.so.1 does not export ") + missing;
  else if (CUresult r = d.init(0); r != 0)
    d.unavailable = "cuInit failed: " + d.describe(r) + " (no usable NVIDIA GPU?)";
  return d;
}

const Driver &driver() {
  static const Driver d = loadDriver();
  return d;
}

/// A kernel loaded into one context: what its first call there prepared for every later one.
struct CudaState {
  std::string unavailable; // Why the kernel cannot run here; empty when it can.
  KernelDescription description;
  GpuDescription gpu;
  CUcontext context = nullptr;
  CUmodule module = nullptr;
  std::vector<CUfunction> functions; // One a launch.
  /// tdsl_strided_copy_1, _2, _4, _8 (codegen/cuda/CudaPrelude.h): copies through contiguous
  /// scratch for the strided functions.
  std::array<CUfunction, 4> stridedCopies{};
  int64_t maxGrid = 1;
  std::vector<int> sharedAllowed; // The dynamic shared memory each function was allowed so far.
  /// Heap intermediates, the gather checks' results, then a contiguous copy of each tensor
  /// passed with strides that are not: grown as calls need, under `mutex`.
  std::mutex mutex;
  std::vector<CUdeviceptr> workspace;
  std::vector<size_t> workspaceBytes;
};

/// The image for a device of compute capability `cc`: a cubin of that capability, else the
/// PTX of the newest architecture at or below it that is not architecture-specific (the driver
/// compiles PTX for newer devices), else an architecture-specific one of exactly `cc`.
const tdsl_aot_cuda_image *pickImage(const tdsl_aot_cuda_kernel &kernel, int64_t cc,
                                     bool &useCubin) {
  const tdsl_aot_cuda_image *best = nullptr;
  for (int64_t i = 0; i < kernel.numImages; ++i) {
    const tdsl_aot_cuda_image &image = kernel.images[i];
    if (image.computeCapability == cc && image.cubin) {
      useCubin = true;
      return &image;
    }
    bool runs = image.archSpecific ? image.computeCapability == cc : image.computeCapability <= cc;
    if (runs && (!best || image.computeCapability > best->computeCapability))
      best = &image;
  }
  useCubin = false;
  return best;
}

std::unique_ptr<CudaState> prepare(const tdsl_aot_cuda_kernel &kernel, CUcontext context) {
  auto state = std::make_unique<CudaState>();
  state->context = context;
  std::optional<KernelDescription> description = KernelDescription::decode(kernel.description);
  if (!description) { // Only a damaged object file gets here.
    state->unavailable = "the kernel's description in its object file is damaged";
    return state;
  }
  state->description = std::move(*description);
  const std::string kernelName = "kernel " + state->description.name;
  const Driver &d = driver();
  CUdevice device = 0;
  if (CUresult r = d.ctxGetDevice(&device); r != 0) { // `context` is current.
    state->unavailable = kernelName + ": no device for its CUDA context: " + d.describe(r);
    return state;
  }
  auto attribute = [&](int which) {
    int value = 0;
    d.deviceGetAttribute(&value, which, device);
    return value;
  };
  int64_t cc = attribute(kComputeCapabilityMajor) * 10 + attribute(kComputeCapabilityMinor);
  bool useCubin = false;
  const tdsl_aot_cuda_image *image = pickImage(kernel, cc, useCubin);
  if (!image) {
    std::string archs;
    for (int64_t i = 0; i < kernel.numImages; ++i)
      archs += (i ? ", " : "") + std::string(kernel.images[i].arch);
    state->unavailable = kernelName + " has no image for this GPU (compute capability " +
                         std::to_string(cc / 10) + "." + std::to_string(cc % 10) +
                         "); it was compiled for " + archs;
    return state;
  }
  std::optional<GpuDescription> gpu =
      GpuDescription::decode(image->launches, state->description.symbols.size());
  if (!gpu) {
    state->unavailable = kernelName + ": the launches of its " + image->arch +
                         " image in its object file are damaged";
    return state;
  }
  state->gpu = std::move(*gpu);
  if (CUresult r = d.moduleLoadData(&state->module, useCubin ? image->cubin : image->ptx); r != 0) {
    state->unavailable = kernelName + ": the driver refused its " + image->arch +
                         (useCubin ? " cubin: " : " PTX: ") + d.describe(r);
    return state;
  }
  for (const LaunchDescription &l : state->gpu.launches) {
    CUfunction f = nullptr;
    if (CUresult e = d.moduleGetFunction(&f, state->module, l.name.c_str()); e != 0) {
      state->unavailable =
          kernelName + ": no function " + l.name + " in its image: " + d.describe(e);
      return state;
    }
    state->functions.push_back(f);
  }
  for (size_t i = 0; i < state->stridedCopies.size(); ++i) {
    std::string name = "tdsl_strided_copy_" + std::to_string(1 << i);
    if (CUresult e = d.moduleGetFunction(&state->stridedCopies[i], state->module, name.c_str());
        e != 0) {
      state->unavailable = kernelName + ": no function " + name + " in its image: " + d.describe(e);
      return state;
    }
  }
  state->sharedAllowed.assign(state->functions.size(), 0);
  state->maxGrid =
      maxGridBlocks(attribute(kMaxThreadsPerBlock), attribute(kMaxThreadsPerMultiprocessor),
                    attribute(kMultiprocessorCount));
  return state;
}

/// A kernel's states, one a CUDA context it was called in (a program that drives several GPUs
/// has a context for each): read without a lock on every call, added under `mutex`.
struct ContextStates {
  static constexpr size_t kMaxContexts = 64;
  std::array<std::atomic<CudaState *>, kMaxContexts> states{};
  std::atomic<size_t> count = 0;
  std::mutex mutex;
  std::vector<std::unique_ptr<CudaState>> owned;

  /// The state for `context`, prepared at its first call there; null past kMaxContexts.
  CudaState *find(const tdsl_aot_cuda_kernel &kernel, CUcontext context) {
    auto lookup = [&](size_t n) -> CudaState * {
      for (size_t i = 0; i < n; ++i)
        if (CudaState *s = states[i].load(std::memory_order_acquire); s->context == context)
          return s;
      return nullptr;
    };
    if (CudaState *s = lookup(count.load(std::memory_order_acquire)))
      return s;
    std::lock_guard<std::mutex> lock(mutex);
    size_t n = count.load(std::memory_order_relaxed);
    if (CudaState *s = lookup(n))
      return s;
    if (n == kMaxContexts)
      return nullptr;
    owned.push_back(prepare(kernel, context));
    states[n].store(owned.back().get(), std::memory_order_release);
    count.store(n + 1, std::memory_order_release);
    return owned.back().get();
  }
};

/// The context a call runs in: the calling thread's current one, else device 0's primary
/// context, made current (as the CUDA runtime does); null with `error` set when there is none.
CUcontext callingContext(std::string &error) {
  const Driver &d = driver();
  CUcontext context = nullptr;
  CUresult r = d.ctxGetCurrent(&context);
  if (r == 0 && !context) {
    CUdevice device = 0;
    r = d.deviceGet(&device, 0);
    if (r == 0)
      r = d.primaryCtxRetain(&context, device);
    if (r == 0)
      r = d.ctxSetCurrent(context);
  }
  if (r != 0)
    error = "no CUDA context: " + d.describe(r);
  return r == 0 ? context : nullptr;
}

/// Grows workspace slot `w` to `bytes`; returns a status.
int reserve(CudaState &state, size_t w, size_t bytes, const std::string &what) {
  if (bytes <= state.workspaceBytes[w])
    return TDSL_OK;
  const Driver &d = driver();
  if (state.workspace[w]) { // Launches queued on any stream may still use it.
    if (CUresult r = d.ctxSynchronize(); r != 0)
      return fail(TDSL_CUDA_ERROR, what + ": " + d.describe(r));
    d.memFree(state.workspace[w]);
    state.workspace[w] = 0;
    state.workspaceBytes[w] = 0;
  }
  if (CUresult r = d.memAlloc(&state.workspace[w], bytes); r != 0)
    return fail(TDSL_OUT_OF_MEMORY, what + ": cannot allocate " + std::to_string(bytes) +
                                        " bytes of device memory: " + d.describe(r));
  state.workspaceBytes[w] = bytes;
  return TDSL_OK;
}

/// The copy that tensor `t` (inputs, then outputs), passed with `strides`, needs: its count 0
/// when the layout is contiguous. Returns a tdsl_status.
int stridedCopyOf(const KernelDescription &k, size_t t, const int64_t *strides,
                  const int64_t *symbols, StridedCopyArgs &copy) {
  const TensorDescription &desc =
      t < k.inputs.size() ? k.inputs[t] : k.outputs[t - k.inputs.size()];
  size_t rank = desc.dims.size();
  int64_t shape[64];
  for (size_t d = 0; d < rank; ++d)
    shape[d] = *evaluate(desc.dims[d], symbols); // checkCall evaluated each one.
  copy = {};
  if (isContiguous(shape, strides, rank))
    return TDSL_OK;
  if (int status = checkStrides(k, t, shape, strides))
    return status;
  if (rank > StridedCopyArgs::kMaxRank)
    return fail(TDSL_BAD_STRIDES, desc.name + " of kernel " + k.name + ": a CUDA tensor of " +
                                      std::to_string(rank) + " dims must be contiguous (strides " +
                                      "are copied for at most 8)");
  copy.rank = static_cast<int32_t>(rank);
  copy.count = 1;
  for (size_t d = 0; d < rank; ++d) {
    copy.shape[d] = shape[d];
    copy.strides[d] = strides[d];
    copy.count *= shape[d]; // checkCall bounded the product.
  }
  return TDSL_OK;
}

int call(tdsl_aot_cuda_kernel &kernel, void *const *tensors, const int64_t *const *shapes,
         const int64_t *const *strides, const int64_t *symbols, CUstream stream) {
  const Driver &d = driver();
  auto unavailable = [&](const std::string &why) { // Messages only: the name decoded again.
    std::optional<KernelDescription> k = KernelDescription::decode(kernel.description);
    return fail(TDSL_CUDA_UNAVAILABLE, "kernel " + (k ? k->name : "?") + why);
  };
  if (!d.unavailable.empty())
    return unavailable(" cannot run on CUDA: " + d.unavailable);
  std::string error;
  CUcontext context = callingContext(error);
  if (!context)
    return unavailable(": " + error);
  CudaState *found = publishedOnce<ContextStates>(kernel.state, [] {
                       return std::make_unique<ContextStates>();
                     }).find(kernel, context);
  if (!found)
    return unavailable(": called in more than " + std::to_string(ContextStates::kMaxContexts) +
                       " CUDA contexts");
  CudaState &state = *found;
  if (!state.unavailable.empty())
    return fail(TDSL_CUDA_UNAVAILABLE, state.unavailable);
  const KernelDescription &k = state.description;
  if (int status = checkCall(k, tensors, shapes, symbols))
    return status;
  const std::string what = "kernel " + k.name;
  // Tensors whose strides are not contiguous run through contiguous device scratch: an input
  // copied into it before the kernel's launches, an output copied out of it after them.
  size_t numTensors = k.inputs.size() + k.outputs.size();
  std::vector<StridedCopyArgs> copies(numTensors);
  for (size_t t = 0; strides && t < numTensors; ++t)
    if (strides[t])
      if (int status = stridedCopyOf(k, t, strides[t], symbols, copies[t]))
        return status;

  std::lock_guard<std::mutex> lock(state.mutex);
  // Each launch's values (symbols, then its lets), and the heap intermediates' sizes.
  size_t numSymbols = k.symbols.size(), numHeap = state.gpu.heap.size();
  std::vector<std::vector<int64_t>> values;
  for (const LaunchDescription &l : state.gpu.launches) {
    values.emplace_back(symbols, symbols + numSymbols);
    for (const ShapeProgram &let : l.lets) {
      std::optional<int64_t> value = evaluate(let, values.back().data());
      if (!value)
        return fail(TDSL_SHAPE_MISMATCH, what + ": a launch's geometry overflows 64 bits");
      values.back().push_back(*value);
    }
  }
  std::vector<size_t> heapBytes;
  for (const HeapDescription &h : state.gpu.heap) {
    std::optional<int64_t> bytes = evaluate(h.bytes, values[h.launch].data());
    if (!bytes)
      return fail(TDSL_SHAPE_MISMATCH, what + ": an intermediate's size overflows 64 bits");
    heapBytes.push_back(static_cast<size_t>(std::max<int64_t>(*bytes, 1)));
  }
  size_t numChecks = k.checks.size();
  size_t firstCopy = numHeap + (numChecks ? 1 : 0); // The workspace of tensor 0's copy.
  if (state.workspace.empty()) {
    state.workspace.assign(firstCopy + numTensors, 0);
    state.workspaceBytes.assign(state.workspace.size(), 0);
  }
  for (size_t h = 0; h < numHeap; ++h)
    if (int status = reserve(state, h, heapBytes[h], what))
      return status;
  if (numChecks)
    if (int status = reserve(state, numHeap, numChecks * sizeof(int64_t), what))
      return status;
  auto elementBytes = [&](size_t t) {
    return t < k.inputs.size() ? k.inputs[t].elementBytes
                               : k.outputs[t - k.inputs.size()].elementBytes;
  };
  for (size_t t = 0; t < numTensors; ++t)
    if (copies[t].count)
      if (int status = reserve(state, firstCopy + t,
                               static_cast<size_t>(copies[t].count * elementBytes(t)), what))
        return status;
  // Copies tensor t between its view and its contiguous scratch.
  auto copy = [&](size_t t, bool toView) -> int {
    StridedCopyArgs args = copies[t];
    args.toView = toView;
    CUdeviceptr contiguous = state.workspace[firstCopy + t];
    CUdeviceptr view = reinterpret_cast<CUdeviceptr>(tensors[t]);
    void *params[] = {&contiguous, &view, &args};
    unsigned grid = static_cast<unsigned>(
        std::min<int64_t>({(args.count + 255) / 256, state.maxGrid, INT_MAX}));
    CUfunction f = state.stridedCopies[std::countr_zero(static_cast<uint64_t>(elementBytes(t)))];
    if (CUresult r = d.launchKernel(f, grid, 1, 1, 256, 1, 1, 0, stream, params, nullptr); r != 0)
      return fail(TDSL_CUDA_ERROR,
                  what + ": the copy of a strided tensor failed: " + d.describe(r));
    return TDSL_OK;
  };

  // The arguments, as codegen/cuda/CudaBackend.h orders them: the tensors, the gather checks'
  // results, the heap intermediates, then the symbols.
  std::vector<CUdeviceptr> pointers;
  for (size_t t = 0; t < numTensors; ++t) {
    pointers.push_back(reinterpret_cast<CUdeviceptr>(tensors[t]));
    if (copies[t].count)
      pointers.back() = state.workspace[firstCopy + t];
    if (t < k.inputs.size() && copies[t].count)
      if (int status = copy(t, /*toView=*/false))
        return status;
  }
  for (size_t c = 0; c < numChecks; ++c)
    pointers.push_back(state.workspace[numHeap] + c * sizeof(int64_t));
  for (size_t h = 0; h < numHeap; ++h)
    pointers.push_back(state.workspace[h]);
  std::vector<int64_t> symbolCopy(symbols, symbols + numSymbols);
  std::vector<void *> args;
  for (CUdeviceptr &p : pointers)
    args.push_back(&p);
  for (int64_t &s : symbolCopy)
    args.push_back(&s);

  for (size_t i = 0; i < state.gpu.launches.size(); ++i) {
    const LaunchDescription &l = state.gpu.launches[i];
    const int64_t *v = values[i].data();
    if (!l.condition.empty()) { // One of alternatives: launched where its condition holds.
      std::optional<int64_t> holds = evaluate(l.condition, v);
      if (!holds)
        return fail(TDSL_SHAPE_MISMATCH, what + ": launch " + l.name + " overflows its limits");
      if (!*holds)
        continue;
    }
    std::optional<int64_t> blocks = evaluate(l.blocks, v), threads = evaluate(l.threads, v),
                           shared = evaluate(l.sharedBytes, v);
    if (!blocks || !threads || !shared || *shared > INT_MAX || *threads > INT_MAX)
      return fail(TDSL_SHAPE_MISMATCH, what + ": launch " + l.name + " overflows its limits");
    if (*blocks <= 0 || *threads <= 0)
      continue;
    // Past the default (48 KiB with the static arrays), a block's shared memory needs the
    // function's opt-in: allowed up to what this launch asks, as the JIT's launcher does.
    if (*shared > state.sharedAllowed[i]) {
      if (CUresult r = d.funcSetAttribute(state.functions[i], kMaxDynamicSharedSizeBytes,
                                          static_cast<int>(*shared));
          r != 0)
        return fail(TDSL_CUDA_ERROR, what + ": launch " + l.name + " needs " +
                                         std::to_string(*shared) +
                                         " bytes of shared memory: " + d.describe(r));
      state.sharedAllowed[i] = static_cast<int>(*shared);
    }
    unsigned grid = static_cast<unsigned>(std::min<int64_t>({*blocks, state.maxGrid, INT_MAX}));
    if (CUresult r =
            d.launchKernel(state.functions[i], grid, 1, 1, static_cast<unsigned>(*threads), 1, 1,
                           static_cast<unsigned>(*shared), stream, args.data(), nullptr);
        r != 0)
      return fail(TDSL_CUDA_ERROR, what + ": launch " + l.name + " failed: " + d.describe(r));
  }
  if (numChecks) {
    std::vector<int64_t> results(numChecks);
    CUresult r = d.memcpyDtoHAsync(results.data(), state.workspace[numHeap],
                                   numChecks * sizeof(int64_t), stream);
    if (r == 0)
      r = d.streamSynchronize(stream);
    if (r != 0)
      return fail(TDSL_CUDA_ERROR, what + ": " + d.describe(r));
    if (int status = reportGatherChecks(k, results.data(), symbols))
      return status;
  }
  for (size_t t = k.inputs.size(); t < numTensors; ++t)
    if (copies[t].count)
      if (int status = copy(t, /*toView=*/true))
        return status;
  return TDSL_OK;
}

} // namespace
} // namespace tdsl::runtime::aot

extern "C" int tdsl_aot_cuda_call(tdsl_aot_cuda_kernel *kernel, void *const *tensors,
                                  const int64_t *const *shapes, const int64_t *const *strides,
                                  const int64_t *symbols, void *stream) noexcept {
  try {
    return tdsl::runtime::aot::call(*kernel, tensors, shapes, strides, symbols,
                                    static_cast<tdsl::runtime::aot::CUstream>(stream));
  } catch (const std::exception &error) { // Only memory for messages or the state can fail.
    return tdsl::runtime::aot::fail(TDSL_OUT_OF_MEMORY, error.what());
  }
}
