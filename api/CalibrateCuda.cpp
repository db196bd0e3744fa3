// tdsl::calibrate(Target::cuda()) (`tdsl calibrate --target cuda`): the GPU's ceilings. Peak f32
// FLOP/s from a kernel of independent FMA chains on every SM, the tensor cores' rate from a
// kernel of back-to-back matrix instructions (both compiled with NVRTC for the device), copy
// bandwidth from a device-to-device copy of 1 GiB, each the median of timed repeats after a
// warm-up.
#include "api/Inspect.h"

#include "codegen/cuda/CudaBackend.h"
#include "codegen/cuda/CudaPrelude.h"
#include "runtime/Cuda.h"

#include <cctype>
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
constexpr int kWgmmaWarpgroups = 3;

namespace cu = runtime::cuda;

/// Device memory freed on scope exit.
struct DeviceBuffer {
  cu::Device &device;
  cu::DevicePtr ptr;
  DeviceBuffer(cu::Device &device, size_t bytes, const std::string &what)
      : device(device), ptr(device.allocate(bytes, what)) {}
  ~DeviceBuffer() { device.release(ptr); }
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;
};

double peakGflops(cu::Device &gpu) {
  const cu::DeviceInfo &device = gpu.info();
  cu::Module module(gpu, codegen::compileToCubin(kPeakSource, "fma_peak.cu", device.smArch()),
                    "the calibration's FMA kernel");
  void *function = module.function("tdsl_fma_peak");
  const unsigned block = 256, grid = static_cast<unsigned>(device.multiprocessors) * 8;
  DeviceBuffer out(gpu, size_t{grid} * block * sizeof(float), "the calibration's FMA results");
  long long iterations = 1 << 16;
  void *args[] = {&out.ptr, &iterations};
  double ms = gpu.timeMs(
      [&] {
        gpu.launch(function, {grid, block, 0}, args, "tdsl_fma_peak", "calibrate");
      },
      /*warmup=*/3, /*repeats=*/15);
  double flops = 2.0 * kChains * static_cast<double>(iterations) * grid * block;
  return flops / (ms * 1e-3) / 1e9;
}

/// Dense 16-bit matrix FLOP/s on tensor cores (0 before sm_80, which tdsl does not use them on).
double matrixPeakGflops(cu::Device &gpu) {
  const cu::DeviceInfo &device = gpu.info();
  const int cc = device.major * 10 + device.minor;
  if (cc < 80)
    return 0;
  const bool wgmma = cc == 90;
  cu::Module module(
      gpu, codegen::compileToCubin(matrixPeakSource(wgmma), "matrix_peak.cu", device.smArch()),
      "the calibration's tensor-core kernel");
  void *function = module.function("tdsl_matrix_peak");
  const unsigned block = wgmma ? 128 * kWgmmaWarpgroups : 256;
  const unsigned grid = static_cast<unsigned>(device.multiprocessors) * (wgmma ? 1 : 4);
  DeviceBuffer out(gpu, size_t{grid} * block * sizeof(float),
                   "the calibration's tensor-core results");
  long long iterations = wgmma ? 1 << 14 : 1 << 16;
  void *args[] = {&out.ptr, &iterations};
  double ms = gpu.timeMs(
      [&] {
        gpu.launch(function, {grid, block, 0}, args, "tdsl_matrix_peak", "calibrate");
      },
      /*warmup=*/3, /*repeats=*/15);
  // Per iteration: a warpgroup's 4 wgmma of 64x256x16, or a warp's 8 mma.sync of 16x8x16.
  double perIteration =
      wgmma ? 4.0 * 2 * 64 * 256 * 16 * (block / 128) : 8.0 * 2 * 16 * 8 * 16 * (block / 32);
  return perIteration * static_cast<double>(iterations) * grid / (ms * 1e-3) / 1e9;
}

double copyGbps(cu::Device &gpu) {
  const size_t bytes = size_t{1} << 30;
  DeviceBuffer src(gpu, bytes, "the calibration's copy source"),
      dst(gpu, bytes, "the calibration's copy");
  double ms = gpu.timeMs([&] { gpu.copyOnDevice(dst.ptr, src.ptr, bytes); },
                         /*warmup=*/3, /*repeats=*/15);
  return 2.0 * static_cast<double>(bytes) / (ms * 1e-3) / 1e9; // Read + write.
}

} // namespace

// Tensor cores, 16-bit factors and f32 accumulation, on random bf16 values (the power they draw,
// and so the clock, depends on the data). On sm_90: three warpgroups a block, one block an SM,
// each issuing wgmma m64n256k16 from shared memory (128-byte swizzled tiles, as the contraction
// kernels read them) with one group in flight while the next is issued. Elsewhere (sm_80+):
// mma.sync m16n8k16, 8 independent accumulators a warp.
std::string matrixPeakSource(bool wgmma) {
  if (!wgmma)
    return R"(
extern "C" __global__ void tdsl_matrix_peak(float *out, long long iterations) {
  unsigned h = (blockIdx.x * blockDim.x + threadIdx.x) * 2654435761u;
  unsigned a[4], b[2];
  for (int r = 0; r < 4; ++r) a[r] = 0x3e003e00u | ((h >> r) & 0x01ff01ffu);
  for (int r = 0; r < 2; ++r) b[r] = 0x3e003e00u | ((h >> (r + 7)) & 0x01ff01ffu);
  float c[8][4] = {};
  for (long long i = 0; i < iterations; ++i)
#pragma unroll
    for (int t = 0; t < 8; ++t)
      asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
                   "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
                   : "+f"(c[t][0]), "+f"(c[t][1]), "+f"(c[t][2]), "+f"(c[t][3])
                   : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  float s = 0;
  for (int t = 0; t < 8; ++t) s += c[t][0] + c[t][1] + c[t][2] + c[t][3];
  out[blockIdx.x * blockDim.x + threadIdx.x] = s;
}
)";
  // A: 64 rows of 64 k (shared by the warpgroups), B: 256 rows of 64 k; 1 KiB to align.
  return R"(
extern "C" __global__ void __launch_bounds__()" +
         std::to_string(128 * kWgmmaWarpgroups) +
         R"(, 1) tdsl_matrix_peak(float *out, long long iterations) {
  __shared__ __align__(1024) unsigned short tdsl_tile[320 * 64 + 512];
  for (int e = threadIdx.x; e < 320 * 64 + 512; e += blockDim.x)
    tdsl_tile[e] = (unsigned short)(0x3e00u | (((unsigned)e * 2654435761u) >> 23));
  )" + codegen::alignedSharedBase("base", "tdsl_tile") +
         R"(
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
  __syncthreads();
  float tdsl_d[128];
  for (int r = 0; r < 128; ++r) tdsl_d[r] = 0.0f;
  for (long long i = 0; i < iterations; ++i) {
    asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      const unsigned long long da = )" +
         codegen::wgmmaDescriptor("(base + kk * 32)", 16, 1024) + R"(;
      const unsigned long long db = )" +
         codegen::wgmmaDescriptor("(base + 8192 + kk * 32)", 16, 1024) + R"(;
      )" +
         codegen::wgmmaStatement("bf16", false, "tdsl_d", "da", "db") +
         R"(
    }
    asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
    asm volatile("wgmma.wait_group.sync.aligned 1;" ::: "memory");
  }
  asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
  float s = 0;
  for (int r = 0; r < 128; ++r) s += tdsl_d[r];
  out[blockIdx.x * blockDim.x + threadIdx.x] = s;
}
)";
}

std::string cudaFingerprint(int ordinal) {
  const cu::DeviceInfo &d = cu::device(ordinal).info();
  return "cuda: " + d.name + "; " + d.smArch() + "; " + std::to_string(d.multiprocessors) +
         " SMs; " + std::to_string(d.totalMemory >> 20) + " MiB; driver " +
         std::to_string(d.driverVersion);
}

std::string cudaCalibrationFile(int ordinal) {
  std::string name;
  for (char c : cu::device(ordinal).info().name) {
    bool alnum = std::isalnum(static_cast<unsigned char>(c));
    if (alnum)
      name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else if (!name.empty() && name.back() != '-')
      name += '-';
  }
  while (!name.empty() && name.back() == '-')
    name.pop_back();
  return "calibration-cuda-" + name + ".json";
}

Ceilings measureCudaCeilings(int ordinal,
                             const std::function<void(const std::string &)> &progress) {
  cu::Device &gpu = cu::device(ordinal);
  const cu::DeviceInfo &device = gpu.info();
  Ceilings c;
  c.fingerprint = cudaFingerprint(ordinal);
  c.isa = "cuda " + device.smArch();
  c.threads = 1; // One device: the "1" and "all" figures are the same.
  if (progress)
    progress("peak FLOP/s");
  c.peakGflops1 = c.peakGflopsAll = peakGflops(gpu);
  if (progress)
    progress("tensor-core FLOP/s");
  c.matrixPeakGflops = matrixPeakGflops(gpu);
  if (progress)
    progress("copy bandwidth");
  c.bandwidthGbps1 = c.bandwidthGbpsAll = copyGbps(gpu);
  return c;
}

} // namespace tdsl::detail
