// tdsl::calibrate (`tdsl calibrate`): peak FLOP/s from a loop of independent FMAs in the
// widest vectors (twelve accumulators hide the FMA latency on two ports), copy bandwidth from
// copying a 128 MiB array, each the best of several tries, on one thread and on every hardware
// thread. Measured once and cached (calibration.json in the kernel cache's directory) with a
// fingerprint of the machine; measured again when the fingerprint changes. Compiled at -O2
// whatever the build type (api/CMakeLists.txt): the accumulators must live in registers for the
// peak to mean anything.
#include "api/Inspect.h"

#include "api/KernelCache.h"
#include "tdsl/Tensor.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace tdsl {
namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

constexpr int kAccumulators = 12;

// Each returns a value depending on every accumulator so nothing is optimized away.
__attribute__((target("avx512f"))) float fmaLoop512(long iterations) {
  __m512 acc[kAccumulators];
#pragma GCC unroll 12
  for (int i = 0; i < kAccumulators; ++i)
    acc[i] = _mm512_set1_ps(1.0f + 0.001f * i);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (long n = 0; n < iterations; ++n)
#pragma GCC unroll 12
    for (int i = 0; i < kAccumulators; ++i)
      acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  __m512 sum = acc[0];
#pragma GCC unroll 12
  for (int i = 1; i < kAccumulators; ++i)
    sum = _mm512_add_ps(sum, acc[i]);
  float lanes[16];
  _mm512_storeu_ps(lanes, sum);
  return lanes[0] + lanes[15];
}

__attribute__((target("avx2,fma"))) float fmaLoop256(long iterations) {
  __m256 acc[kAccumulators];
#pragma GCC unroll 12
  for (int i = 0; i < kAccumulators; ++i)
    acc[i] = _mm256_set1_ps(1.0f + 0.001f * i);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (long n = 0; n < iterations; ++n)
#pragma GCC unroll 12
    for (int i = 0; i < kAccumulators; ++i)
      acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  __m256 sum = acc[0];
#pragma GCC unroll 12
  for (int i = 1; i < kAccumulators; ++i)
    sum = _mm256_add_ps(sum, acc[i]);
  float lanes[8];
  _mm256_storeu_ps(lanes, sum);
  return lanes[0] + lanes[7];
}

float mulAddLoop128(long iterations) { // No FMA: a multiply and an add (2 FLOPs) per lane.
  __m128 acc[kAccumulators];
#pragma GCC unroll 12
  for (int i = 0; i < kAccumulators; ++i)
    acc[i] = _mm_set1_ps(1.0f + 0.001f * i);
  const __m128 a = _mm_set1_ps(0.999999f), b = _mm_set1_ps(1e-7f);
  for (long n = 0; n < iterations; ++n)
#pragma GCC unroll 12
    for (int i = 0; i < kAccumulators; ++i)
      acc[i] = _mm_add_ps(_mm_mul_ps(acc[i], a), b);
  __m128 sum = acc[0];
#pragma GCC unroll 12
  for (int i = 1; i < kAccumulators; ++i)
    sum = _mm_add_ps(sum, acc[i]);
  float lanes[4];
  _mm_storeu_ps(lanes, sum);
  return lanes[0] + lanes[3];
}

struct Isa {
  std::string name;
  int lanes;
  float (*loop)(long);
};

Isa widestIsa() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f"))
    return {"avx512f", 16, fmaLoop512};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return {"avx2+fma", 8, fmaLoop256};
  return {"sse2", 4, mulAddLoop128};
}

/// Runs `work(thread)` on `threads` threads at once; the wall time of the slowest.
double onThreads(int threads, const std::function<void(int)> &work) {
  std::vector<std::thread> pool;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      ready++;
      while (!go.load())
        std::this_thread::yield();
      work(t);
    });
  while (ready.load() < threads)
    std::this_thread::yield();
  Clock::time_point start = Clock::now();
  go = true;
  for (std::thread &th : pool)
    th.join();
  return seconds(start, Clock::now());
}

volatile float sink;

double peakGflops(const Isa &isa, int threads) {
  const long iterations = 4'000'000; // 12 * 16 * 2 * 4e6 = 1.5 GFLOP per thread with AVX-512.
  double best = 1e30;
  // Short tries, many of them: on a shared machine the best one is the one not preempted.
  for (int attempt = 0; attempt < 10; ++attempt)
    best = std::min(best, onThreads(threads, [&](int) { sink = isa.loop(iterations); }));
  double flops = 2.0 * kAccumulators * isa.lanes * static_cast<double>(iterations) * threads;
  return flops / best / 1e9;
}

double copyGbps(int threads) {
  const size_t bytes = size_t{128} << 20;
  // Tensors, so the copy runs on the memory kernels get (huge pages for large tensors); zeros()
  // touches every page before timing.
  const int64_t floats = static_cast<int64_t>(bytes / sizeof(float));
  Tensor srcTensor = Tensor::zeros({floats}, DType::F32),
         dstTensor = Tensor::zeros({floats}, DType::F32);
  auto *src = static_cast<char *>(srcTensor.data());
  auto *dst = static_cast<char *>(dstTensor.data());
  std::memset(src, 1, bytes);
  size_t chunk = bytes / threads;
  double best = 1e30;
  for (int attempt = 0; attempt < 4; ++attempt)
    best = std::min(best, onThreads(threads, [&](int t) {
                      std::memcpy(dst + t * chunk, src + t * chunk, chunk);
                    }));
  sink = dst[bytes / 2];
  return 2.0 * static_cast<double>(chunk * threads) / best / 1e9; // Read + write.
}

std::string cpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0)
      return line.substr(line.find(':') + 2);
  return "unknown";
}

std::string num(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.4g", v);
  return text;
}

/// The number after `"key": ` in a flat JSON object (our own file); nullopt when absent.
std::optional<std::string> jsonField(const std::string &text, const std::string &key) {
  std::string needle = "\"" + key + "\": ";
  size_t at = text.find(needle);
  if (at == std::string::npos)
    return std::nullopt;
  at += needle.size();
  if (text[at] == '"') {
    size_t end = text.find('"', at + 1);
    return end == std::string::npos ? std::nullopt
                                    : std::optional<std::string>(text.substr(at + 1, end - at - 1));
  }
  size_t end = text.find_first_of(",}", at);
  return text.substr(at, end - at);
}

std::string quoted(const std::string &s) {
  std::string out = "\"";
  for (char c : s)
    out += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  return out + "\"";
}

/// This machine's fingerprint.
std::string machineFingerprint() {
  long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGESIZE);
  std::string isa = widestIsa().name;
  return cpuModel() + "; " + isa + "; " + std::to_string(std::thread::hardware_concurrency()) +
         " threads; " + std::to_string((pages * pageSize) >> 20) + " MiB";
}

/// Measures the CPU's ceilings now (about a second).
Ceilings measureCeilings(const std::function<void(const std::string &)> &progress) {
  auto status = [&](const std::string &text) {
    if (progress)
      progress(text);
  };
  Ceilings c;
  Isa isa = widestIsa();
  c.fingerprint = machineFingerprint();
  c.isa = isa.name;
  c.threads = std::max(1u, std::thread::hardware_concurrency());
  status("peak FLOP/s, 1 thread");
  c.peakGflops1 = peakGflops(isa, 1);
  status("peak FLOP/s, " + std::to_string(c.threads) + " threads");
  c.peakGflopsAll = c.threads == 1 ? c.peakGflops1 : peakGflops(isa, c.threads);
  status("copy bandwidth, 1 thread");
  c.bandwidthGbps1 = copyGbps(1);
  status("copy bandwidth, " + std::to_string(c.threads) + " threads");
  c.bandwidthGbpsAll = c.threads == 1 ? c.bandwidthGbps1 : copyGbps(c.threads);
  return c;
}

/// The ceilings in `path` when they are whole (a CUDA device's with its tensor cores' rate) and
/// of the machine `fingerprint`.
std::optional<Ceilings> readCached(const std::string &path, const std::string &fingerprint,
                                   bool cuda) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string t = text.str();
  if (jsonField(t, "fingerprint") != fingerprint)
    return std::nullopt;
  Ceilings c;
  c.fingerprint = fingerprint;
  c.isa = jsonField(t, "isa").value_or("");
  try {
    c.threads = std::stoi(jsonField(t, "threads").value_or("1"));
    c.peakGflops1 = std::stod(jsonField(t, "peak_gflops_1").value_or("0"));
    c.peakGflopsAll = std::stod(jsonField(t, "peak_gflops_all").value_or("0"));
    c.bandwidthGbps1 = std::stod(jsonField(t, "bandwidth_gbps_1").value_or("0"));
    c.bandwidthGbpsAll = std::stod(jsonField(t, "bandwidth_gbps_all").value_or("0"));
    std::optional<std::string> matrix = jsonField(t, "matrix_peak_gflops");
    if (!matrix && cuda)
      return std::nullopt; // Written before tensor cores were measured.
    c.matrixPeakGflops = std::stod(matrix.value_or("0"));
  } catch (const std::exception &) {
    return std::nullopt;
  }
  if (c.peakGflops1 > 0 && c.peakGflopsAll > 0 && c.bandwidthGbps1 > 0 && c.bandwidthGbpsAll > 0)
    return c;
  return std::nullopt;
}

/// Writes `c` to `path` atomically (a temporary file renamed into place), creating the directory.
void writeCached(const std::string &path, const Ceilings &c) {
  std::string dir = path.substr(0, path.rfind('/'));
  for (size_t at = 1; at <= dir.size(); ++at)
    if (at == dir.size() || dir[at] == '/')
      (void)::mkdir(dir.substr(0, at).c_str(), 0755);
  std::string temp = path + "." + std::to_string(::getpid()) + ".tmp";
  {
    std::ofstream out(temp);
    out << c.json() << "\n";
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0)
    std::remove(temp.c_str());
}

} // namespace

std::string Ceilings::json() const {
  return "{\"fingerprint\": " + quoted(fingerprint) + ", \"isa\": " + quoted(isa) +
         ", \"threads\": " + std::to_string(threads) + ", \"peak_gflops_1\": " + num(peakGflops1) +
         ", \"peak_gflops_all\": " + num(peakGflopsAll) +
         ", \"bandwidth_gbps_1\": " + num(bandwidthGbps1) +
         ", \"bandwidth_gbps_all\": " + num(bandwidthGbpsAll) +
         ", \"matrix_peak_gflops\": " + num(matrixPeakGflops) + "}";
}

Ceilings calibrate(const Target &target, bool force) {
  CalibrationOptions options;
  options.force = force;
  return calibrate(target, options);
}

Ceilings calibrate(const Target &target, const CalibrationOptions &options) {
  const bool cuda = target.kind == Target::Kind::Cuda;
  std::string dir = options.cacheDir.empty() ? cache::defaultDirectory() : options.cacheDir;
  std::string path = dir.empty() ? std::string()
                                 : dir + "/" +
                                       (cuda ? detail::cudaCalibrationFile(options.cudaDevice)
                                             : std::string("calibration.json"));
  std::string fingerprint =
      cuda ? detail::cudaFingerprint(options.cudaDevice) : machineFingerprint();
  if (!options.force && !path.empty())
    if (std::optional<Ceilings> cached = readCached(path, fingerprint, cuda)) {
      cached->path = path;
      cached->fromCache = true;
      return *cached;
    }
  Ceilings c = cuda ? detail::measureCudaCeilings(options.cudaDevice, options.progress)
                    : measureCeilings(options.progress);
  c.path = path;
  c.fromCache = false;
  if (!path.empty())
    writeCached(path, c);
  return c;
}

} // namespace tdsl
