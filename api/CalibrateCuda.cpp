// tdsl::calibrate(Target::cuda()) (`tdsl calibrate --target cuda`): the GPU's ceilings. Peak f32
// FLOP/s from a kernel of independent FMA chains on every SM (compiled with NVRTC for the device),
// copy bandwidth from a device-to-device copy of 1 GiB, each the median of timed repeats after a
// warm-up.
#include "api/Inspect.h"

#include "codegen/cuda/CudaBackend.h"
#include "runtime/Cuda.h"

#include <functional>
#include <string>

namespace tdsl::detail {
namespace {

// Eight independent chains per thread hide the FMA latency; many warps per SM fill the pipes.
constexpr const char *kPeakSource = R"(
extern "C" __global__ void tdsl_fma_peak(float *out, long long iterations) {
  float a0 = threadIdx.x * 1e-3f, a1 = a0 + 1.f, a2 = a0 + 2.f, a3 = a0 + 3.f;
  float a4 = a0 + 4.f, a5 = a0 + 5.f, a6 = a0 + 6.f, a7 = a0 + 7.f;
  const float m = 0.999999f, c = 1e-7f;
#pragma unroll 16
  for (long long i = 0; i < iterations; ++i) {
    a0 = fmaf(a0, m, c); a1 = fmaf(a1, m, c); a2 = fmaf(a2, m, c); a3 = fmaf(a3, m, c);
    a4 = fmaf(a4, m, c); a5 = fmaf(a5, m, c); a6 = fmaf(a6, m, c); a7 = fmaf(a7, m, c);
  }
  out[blockIdx.x * blockDim.x + threadIdx.x] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}
)";
constexpr int kChains = 8;

/// Device memory freed on scope exit.
struct DeviceBuffer {
  runtime::cuda::DevicePtr ptr;
  DeviceBuffer(size_t bytes, const std::string &what) : ptr(runtime::cuda::allocate(bytes, what)) {}
  ~DeviceBuffer() { runtime::cuda::release(ptr); }
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;
};

double peakGflops(const runtime::cuda::DeviceInfo &device) {
  runtime::cuda::Module module(codegen::compileToCubin(kPeakSource, "fma_peak.cu", device.smArch()),
                               "the calibration's FMA kernel");
  void *function = module.function("tdsl_fma_peak");
  const unsigned block = 256, grid = static_cast<unsigned>(device.multiprocessors) * 8;
  DeviceBuffer out(size_t{grid} * block * sizeof(float), "the calibration's FMA results");
  long long iterations = 1 << 16;
  void *args[] = {&out.ptr, &iterations};
  double ms = runtime::cuda::timeMs(
      [&] {
        runtime::cuda::launch(function, {grid, block, 0}, args, "tdsl_fma_peak", "calibrate");
      },
      /*warmup=*/3, /*repeats=*/15);
  double flops = 2.0 * kChains * static_cast<double>(iterations) * grid * block;
  return flops / (ms * 1e-3) / 1e9;
}

double copyGbps() {
  const size_t bytes = size_t{1} << 30;
  DeviceBuffer src(bytes, "the calibration's copy source"), dst(bytes, "the calibration's copy");
  double ms = runtime::cuda::timeMs([&] { runtime::cuda::copyOnDevice(dst.ptr, src.ptr, bytes); },
                                    /*warmup=*/3, /*repeats=*/15);
  return 2.0 * static_cast<double>(bytes) / (ms * 1e-3) / 1e9; // Read + write.
}

} // namespace

std::string cudaFingerprint() {
  const runtime::cuda::DeviceInfo &d = runtime::cuda::device();
  return "cuda: " + d.name + "; " + d.smArch() + "; " + std::to_string(d.multiprocessors) +
         " SMs; " + std::to_string(d.totalMemory >> 20) + " MiB; driver " +
         std::to_string(d.driverVersion);
}

Ceilings measureCudaCeilings(const std::function<void(const std::string &)> &progress) {
  const runtime::cuda::DeviceInfo &device = runtime::cuda::device();
  Ceilings c;
  c.fingerprint = cudaFingerprint();
  c.isa = "cuda " + device.smArch();
  c.threads = 1; // One device: the "1" and "all" figures are the same.
  if (progress)
    progress("peak FLOP/s");
  c.peakGflops1 = c.peakGflopsAll = peakGflops(device);
  if (progress)
    progress("copy bandwidth");
  c.bandwidthGbps1 = c.bandwidthGbpsAll = copyGbps();
  return c;
}

} // namespace tdsl::detail
