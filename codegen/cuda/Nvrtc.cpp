// NVRTC, loaded at run time with dlopen: tdsl builds without CUDA and runs its CPU path on
// machines without it. The few C functions used are declared here as function pointer types.
#include "codegen/cuda/Nvrtc.h"
#include "codegen/cuda/CudaBackend.h"

#include "tdsl/Diagnostics.h"

#include <cstdlib>
#include <dlfcn.h>
#include <string>
#include <vector>

namespace tdsl::codegen {

namespace {

// From nvrtc.h: an enum of status codes (0 is success) and an opaque program handle.
using nvrtcResult = int;
using nvrtcProgram = struct NvrtcProgramOpaque *;
constexpr nvrtcResult kNvrtcSuccess = 0;

struct NvrtcApi {
  using GetErrorStringFn = const char *(*)(nvrtcResult);
  using VersionFn = nvrtcResult (*)(int *major, int *minor);
  using CreateProgramFn = nvrtcResult (*)(nvrtcProgram *prog, const char *src, const char *name,
                                          int numHeaders, const char *const *headers,
                                          const char *const *includeNames);
  using DestroyProgramFn = nvrtcResult (*)(nvrtcProgram *prog);
  using CompileProgramFn = nvrtcResult (*)(nvrtcProgram prog, int numOptions,
                                           const char *const *options);
  using GetSizeFn = nvrtcResult (*)(nvrtcProgram prog, size_t *size);
  using GetTextFn = nvrtcResult (*)(nvrtcProgram prog, char *text);

  NvrtcStatus status{false, "", 0, 0};
  std::string path; // The library that was loaded.
  GetErrorStringFn getErrorString = nullptr;
  VersionFn version = nullptr;
  CreateProgramFn createProgram = nullptr;
  DestroyProgramFn destroyProgram = nullptr;
  CompileProgramFn compileProgram = nullptr;
  GetSizeFn getPtxSize = nullptr;
  GetTextFn getPtx = nullptr;
  GetSizeFn getProgramLogSize = nullptr;
  GetTextFn getProgramLog = nullptr;
  GetSizeFn getCubinSize = nullptr; // Optional (NVRTC 11.1+).
  GetTextFn getCubin = nullptr;

  std::string errorString(nvrtcResult r) const {
    const char *s = getErrorString ? getErrorString(r) : nullptr;
    return s ? s : "NVRTC error " + std::to_string(r);
  }
};

template <typename Fn> bool loadSymbol(void *handle, const char *name, Fn &fn) {
  fn = reinterpret_cast<Fn>(dlsym(handle, name));
  return fn != nullptr;
}

NvrtcApi loadNvrtc() {
  NvrtcApi api;
  std::vector<std::string> candidates = {"libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"};
  if (const char *home = std::getenv("CUDA_HOME"); home && *home)
    candidates.push_back(std::string(home) + "/lib64/libnvrtc.so");
  candidates.push_back("/usr/local/cuda/lib64/libnvrtc.so");

  // Loaded for the life of the process, never closed.
  void *handle = nullptr;
  std::string searched;
  for (const std::string &c : candidates) {
    handle = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle) {
      api.path = c;
      break;
    }
    searched += (searched.empty() ? "" : ", ") + c;
  }
  if (!handle) {
    api.status.reason = "libnvrtc.so not found (searched " + searched + ")";
    return api;
  }

  const char *missing = nullptr;
  auto need = [&](const char *name, auto &fn) {
    if (!missing && !loadSymbol(handle, name, fn))
      missing = name;
  };
  need("nvrtcGetErrorString", api.getErrorString);
  need("nvrtcVersion", api.version);
  need("nvrtcCreateProgram", api.createProgram);
  need("nvrtcDestroyProgram", api.destroyProgram);
  need("nvrtcCompileProgram", api.compileProgram);
  need("nvrtcGetPTXSize", api.getPtxSize);
  need("nvrtcGetPTX", api.getPtx);
  need("nvrtcGetProgramLogSize", api.getProgramLogSize);
  need("nvrtcGetProgramLog", api.getProgramLog);
  loadSymbol(handle, "nvrtcGetCUBINSize", api.getCubinSize);
  loadSymbol(handle, "nvrtcGetCUBIN", api.getCubin);
  if (missing) {
    api.status.reason = api.path + " does not export " + missing;
    return api;
  }
  if (nvrtcResult r = api.version(&api.status.versionMajor, &api.status.versionMinor);
      r != kNvrtcSuccess) {
    api.status.reason = "nvrtcVersion failed in " + api.path + ": " + api.errorString(r);
    return api;
  }
  api.status.available = true;
  return api;
}

/// Loaded on first use; C++ guarantees the initialization runs once even under concurrent
/// calls.
const NvrtcApi &nvrtc() {
  static const NvrtcApi api = loadNvrtc();
  return api;
}

/// Destroys the program on every path out of compileToPtx.
struct ProgramGuard {
  const NvrtcApi &api;
  nvrtcProgram prog = nullptr;
  ~ProgramGuard() {
    if (prog)
      api.destroyProgram(&prog);
  }
};

std::string programLog(const NvrtcApi &api, nvrtcProgram prog) {
  size_t size = 0;
  if (api.getProgramLogSize(prog, &size) != kNvrtcSuccess || size == 0)
    return "";
  std::string log(size, '\0');
  if (api.getProgramLog(prog, log.data()) != kNvrtcSuccess)
    return "";
  while (!log.empty() && (log.back() == '\0' || log.back() == '\n'))
    log.pop_back();
  return log;
}

/// Creates the program in `guard` and compiles it for `arch`; throws with NVRTC's log.
void compileProgram(const NvrtcApi &api, ProgramGuard &guard, const std::string &cudaSource,
                    const std::string &name, const std::string &arch) {
  std::string fileName = name + ".cu";
  if (nvrtcResult r =
          api.createProgram(&guard.prog, cudaSource.c_str(), fileName.c_str(), 0, nullptr, nullptr);
      r != kNvrtcSuccess)
    throw RuntimeError("nvrtcCreateProgram failed for " + name + ": " + api.errorString(r));
  std::string archOption = "--gpu-architecture=" + arch;
  std::vector<const char *> options = {archOption.c_str()};
  options.insert(options.end(), kNvrtcOptions.begin(), kNvrtcOptions.end());
  if (nvrtcResult r =
          api.compileProgram(guard.prog, static_cast<int>(options.size()), options.data());
      r != kNvrtcSuccess)
    throw RuntimeError("NVRTC failed to compile " + name + " for " + arch + " (" +
                       api.errorString(r) + "):\n" + programLog(api, guard.prog));
}

} // namespace

NvrtcStatus nvrtcStatus() { return nvrtc().status; }

std::string compileToCubin(const std::string &cudaSource, const std::string &name,
                           const std::string &arch) {
  const NvrtcApi &api = nvrtc();
  if (!api.status.available)
    throw RuntimeError("cannot compile CUDA kernel " + name + ": " + api.status.reason);
  if (!api.getCubin || !api.getCubinSize)
    throw RuntimeError(api.path + " cannot produce cubins (NVRTC older than 11.1)");

  ProgramGuard guard{api};
  compileProgram(api, guard, cudaSource, name, arch);
  size_t size = 0;
  if (nvrtcResult r = api.getCubinSize(guard.prog, &size); r != kNvrtcSuccess || size == 0)
    throw RuntimeError("nvrtcGetCUBINSize failed for " + name + " (is '" + arch +
                       "' a real architecture such as sm_90?): " + api.errorString(r));
  std::string cubin(size, '\0');
  if (nvrtcResult r = api.getCubin(guard.prog, cubin.data()); r != kNvrtcSuccess)
    throw RuntimeError("nvrtcGetCUBIN failed for " + name + ": " + api.errorString(r));
  return cubin;
}

std::string compileToPtx(const std::string &cudaSource, const std::string &name,
                         const std::string &arch) {
  const NvrtcApi &api = nvrtc();
  if (!api.status.available)
    throw RuntimeError("cannot compile CUDA kernel " + name + ": " + api.status.reason);

  ProgramGuard guard{api};
  compileProgram(api, guard, cudaSource, name, arch);

  size_t size = 0;
  if (nvrtcResult r = api.getPtxSize(guard.prog, &size); r != kNvrtcSuccess)
    throw RuntimeError("nvrtcGetPTXSize failed for " + name + " (is '" + arch +
                       "' a virtual architecture such as compute_90?): " + api.errorString(r));
  std::string ptx(size, '\0');
  if (nvrtcResult r = api.getPtx(guard.prog, ptx.data()); r != kNvrtcSuccess)
    throw RuntimeError("nvrtcGetPTX failed for " + name + ": " + api.errorString(r));
  while (!ptx.empty() && ptx.back() == '\0')
    ptx.pop_back();
  return ptx;
}

} // namespace tdsl::codegen
