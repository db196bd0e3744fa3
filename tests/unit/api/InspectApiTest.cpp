// The inspection API behind `tdsl explain`, `tdsl calibrate` and `tdsl bench`: Module::explain
// and Kernel::explain (the CLI's exact text), tdsl::calibrate (ceilings measured once, then read
// from the cache directory) and Kernel::profile (exact bytes and FLOPs, the roofline figures).
// No timing assertions: only that times are positive and ordered.
#include "api/Inspect.h"
#include "codegen/cuda/CudaBackend.h"
#include "tdsl/tdsl.h"
#include "tests/unit/common/ApiTestSupport.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace {

using namespace tdsl;
using namespace tdsl::testing_support;
namespace fs = std::filesystem;

const std::string kFusion = std::string(TDSL_SOURCE_DIR) + "/tests/lit/explain/fusion.tdsl";

std::string readText(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// stdout of a shell command, or nullopt when it fails.
std::optional<std::string> capture(const std::string &command) {
  FILE *pipe = ::popen(command.c_str(), "r");
  if (!pipe)
    return std::nullopt;
  std::string out;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
    out.append(buffer, n);
  return ::pclose(pipe) == 0 ? std::optional<std::string>(out) : std::nullopt;
}

Module compileFusion(int threads = 1) {
  JitOptions options;
  options.target.cpuLevel = "x86-64-v4";
  options.threads = threads;
  options.diskCache = false;
  return Jit(options).compileFile(kFusion);
}

TEST(InspectExplain, MatchesTheGoldenLinesInOrder) {
  // The CHECK lines of tests/lit/explain/fusion.tdsl are literal lines of the text.
  std::string text = compileFusion().explain();
  std::istringstream golden(readText(kFusion));
  std::string line;
  size_t at = 0, checked = 0;
  while (std::getline(golden, line)) {
    for (const char *prefix : {"# CHECK-LABEL: ", "# CHECK-NEXT: "}) {
      if (line.rfind(prefix, 0) != 0)
        continue;
      std::string expected = line.substr(std::string(prefix).size());
      size_t found = text.find(expected, at);
      ASSERT_NE(found, std::string::npos) << "missing, in order: " << expected << "\n" << text;
      at = found + expected.size();
      ++checked;
    }
  }
  EXPECT_GE(checked, 12u);
}

TEST(InspectExplain, EqualsWhatTheCliPrints) {
  std::string cli = std::string(TDSL_BINARY_DIR) + "/bin/tdsl";
  if (!fs::exists(cli))
    GTEST_SKIP() << "the CLI is not built: " << cli;
  Module module = compileFusion();
  std::optional<std::string> all =
      capture(cli + " explain " + kFusion + " --cpu=x86-64-v4 --threads 1");
  ASSERT_TRUE(all);
  EXPECT_EQ(module.explain(), *all);
  std::optional<std::string> one =
      capture(cli + " explain " + kFusion + " --cpu=x86-64-v4 --threads 1 --kernel softmax");
  ASSERT_TRUE(one);
  EXPECT_EQ(module.kernel("softmax").explain(), *one);
}

TEST(InspectExplain, ModuleIsItsKernelsInOrder) {
  Module module = compileFusion(2);
  std::string joined;
  for (const std::string &name : module.kernelNames()) {
    std::string text = module.kernel(name).explain();
    EXPECT_EQ(text.rfind("kernel " + name + " (", 0), 0u) << text;
    EXPECT_EQ(text.back(), '\n');
    joined += (joined.empty() ? "" : "\n") + text;
  }
  EXPECT_EQ(module.explain(), joined);
  EXPECT_THROW(module.kernel("nope").explain(), RuntimeError);
}

TEST(InspectCalibrate, MeasuresOnceThenReadsTheCache) {
  std::string dir = freshTestDir("inspect", "calibrate");
  CalibrationOptions options;
  options.cacheDir = dir;
  std::vector<std::string> statuses;
  options.progress = [&](const std::string &status) { statuses.push_back(status); };
  testing::internal::CaptureStderr();
  testing::internal::CaptureStdout();
  Ceilings measured = calibrate(Target::cpu(), options);
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "");
  EXPECT_EQ(testing::internal::GetCapturedStderr(), ""); // The library prints nothing.
  EXPECT_FALSE(measured.fromCache);
  EXPECT_EQ(statuses.size(), 4u); // Peak and bandwidth, on 1 thread and on all.
  EXPECT_GT(measured.peakGflops1, 0);
  EXPECT_GT(measured.peakGflopsAll, 0);
  EXPECT_GT(measured.bandwidthGbps1, 0);
  EXPECT_GT(measured.bandwidthGbpsAll, 0);
  EXPECT_GE(measured.threads, 1);
  EXPECT_FALSE(measured.fingerprint.empty());
  EXPECT_EQ(measured.path, dir + "/calibration.json");
  EXPECT_EQ(readText(measured.path), measured.json() + "\n");

  statuses.clear();
  Ceilings cached = calibrate(Target::cpu(), options);
  EXPECT_TRUE(cached.fromCache);
  EXPECT_TRUE(statuses.empty()); // Nothing measured.
  EXPECT_EQ(cached.json(), measured.json());
  EXPECT_EQ(cached.path, measured.path);

  // What the cache holds is what a cached call returns (this machine's fingerprint).
  Ceilings edited = measured;
  edited.peakGflops1 = 12.5;
  edited.bandwidthGbpsAll = 3.25;
  {
    std::ofstream out(measured.path);
    out << edited.json() << "\n";
  }
  Ceilings read = calibrate(Target::cpu(), options);
  EXPECT_TRUE(read.fromCache);
  EXPECT_EQ(read.peakGflops1, 12.5);
  EXPECT_EQ(read.bandwidthGbpsAll, 3.25);
  EXPECT_EQ(read.peakGflops(1), 12.5);
  EXPECT_EQ(read.bandwidthGbps(read.threads), read.threads == 1 ? read.bandwidthGbps1 : 3.25);

  // The default cache directory comes from the environment, as the kernel cache's does.
  const char *previous = std::getenv("TDSL_CACHE_DIR");
  std::string saved = previous ? previous : "";
  ::setenv("TDSL_CACHE_DIR", dir.c_str(), 1);
  Ceilings fromEnv = calibrate();
  if (previous)
    ::setenv("TDSL_CACHE_DIR", saved.c_str(), 1);
  else
    ::unsetenv("TDSL_CACHE_DIR");
  EXPECT_TRUE(fromEnv.fromCache);
  EXPECT_EQ(fromEnv.peakGflops1, 12.5);
  fs::remove_all(dir);
}

TEST(InspectCalibrate, DamagedOrForeignCacheIsMeasuredAgain) {
  std::string dir = freshTestDir("inspect", "foreign");
  CalibrationOptions options;
  options.cacheDir = dir;
  {
    std::ofstream out(dir + "/calibration.json");
    out << "{\"fingerprint\": \"another machine\", \"isa\": \"sse2\", \"threads\": 1, "
           "\"peak_gflops_1\": 1, \"peak_gflops_all\": 1, \"bandwidth_gbps_1\": 1, "
           "\"bandwidth_gbps_all\": 1}\n";
  }
  Ceilings c = calibrate(Target::cpu(), options);
  EXPECT_FALSE(c.fromCache);
  EXPECT_NE(c.fingerprint, "another machine");
  EXPECT_EQ(readText(dir + "/calibration.json"), c.json() + "\n");
  // Truncated: measured again too.
  std::string whole = readText(dir + "/calibration.json");
  {
    std::ofstream out(dir + "/calibration.json");
    out << whole.substr(0, whole.find("peak_gflops_all"));
  }
  options.force = false;
  EXPECT_FALSE(calibrate(Target::cpu(), options).fromCache);
  fs::remove_all(dir);
}

Ceilings fakeCeilings() {
  Ceilings c;
  c.fingerprint = "test";
  c.threads = 1;
  c.peakGflops1 = c.peakGflopsAll = 100;
  c.bandwidthGbps1 = c.bandwidthGbpsAll = 10;
  return c;
}

Kernel compileKernel(const char *source, const std::string &name) {
  JitOptions options;
  options.threads = 1;
  options.diskCache = false;
  return Jit(options).compile(source, "inspect.tdsl").kernel(name);
}

TEST(InspectProfile, ScaleKernelBytesFlopsAndBound) {
  Kernel scale = compileKernel("kernel scale(x: f32[N]) -> y: f32[N] {\n"
                               "    y = x * 2.0\n"
                               "}\n",
                               "scale");
  Tensor x = Tensor::randn({1000}, DType::F32, 1);
  ProfileOptions options;
  options.runs = 5;
  options.warmup = 1;
  options.ceilings = fakeCeilings();
  size_t progressCalls = 0;
  options.progress = [&](size_t runs, double seconds) {
    EXPECT_EQ(runs, ++progressCalls);
    EXPECT_GE(seconds, 0);
  };
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  Profile p = scale.profile({x}, options);
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "");
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(p.kernel, "scale");
  EXPECT_EQ(p.target, "cpu");
  EXPECT_EQ(p.threads, 1);
  ASSERT_EQ(p.shape.size(), 1u);
  EXPECT_EQ(p.shape[0].first, "N");
  EXPECT_EQ(p.shape[0].second, 1000);
  EXPECT_EQ(p.bytes, 8000); // x read once, y written once.
  EXPECT_EQ(p.flops, 1000); // One multiply per point.
  EXPECT_EQ(p.runs, 5u);
  EXPECT_EQ(p.times.size(), 5u);
  EXPECT_EQ(progressCalls, 5u);
  EXPECT_EQ(p.warmup, 1);
  EXPECT_GT(p.minSeconds, 0);
  EXPECT_LE(p.minSeconds, p.medianSeconds);
  EXPECT_GT(p.firstCallSeconds, 0);
  EXPECT_DOUBLE_EQ(p.intensity, 0.125);
  EXPECT_DOUBLE_EQ(p.gbps, 8000 / p.medianSeconds / 1e9);
  EXPECT_DOUBLE_EQ(p.gflops, 1000 / p.medianSeconds / 1e9);
  ASSERT_TRUE(p.ceilings);
  EXPECT_EQ(p.ceilings->fingerprint, "test");
  EXPECT_DOUBLE_EQ(p.ceilingGflops, 1.25); // min(100, 0.125 * 10).
  // Memory time 8000 B / 10 GB/s = 0.8 us beats compute time 1000 / 100 GFLOP/s = 0.01 us.
  EXPECT_DOUBLE_EQ(p.rooflineFraction, 8e-7 / p.medianSeconds);
  EXPECT_TRUE(p.bound == "memory" || p.bound == "overhead") << p.bound;
  EXPECT_EQ(p.bound == "overhead", p.rooflineFraction < 0.25 && p.medianSeconds < 50e-6);
}

TEST(InspectProfile, ComputeBoundByTheCeilingsAndMatmulFlops) {
  Kernel matmul = compileKernel("kernel matmul(a: f32[M, K], b: f32[K, N]) -> c: f32[M, N] {\n"
                                "    c[i, j] = sum(a[i, k] * b[k, j] for k)\n"
                                "}\n",
                                "matmul");
  ProfileOptions options;
  options.runs = 2;
  Ceilings slow = fakeCeilings();
  slow.peakGflops1 = slow.peakGflopsAll = 1e-6; // So low that compute must bound.
  options.ceilings = slow;
  Profile p = matmul.profile(
      {Tensor::randn({3, 5}, DType::F32, 1), Tensor::randn({5, 7}, DType::F32, 2)}, options);
  EXPECT_EQ(p.flops, 2 * 3 * 5 * 7);
  EXPECT_EQ(p.bytes, (3 * 5 + 5 * 7 + 3 * 7) * 4);
  EXPECT_EQ(p.bound, "compute"); // 210 FLOPs at 1 kFLOP/s: far over the measured time.
  EXPECT_GT(p.rooflineFraction, 1);
  EXPECT_DOUBLE_EQ(p.ceilingGflops, 1e-6);
}

TEST(InspectProfile, WithoutRooflineAndWithBadInputs) {
  Kernel scale = compileKernel("kernel scale(x: f32[N]) -> y: f32[N] {\n"
                               "    y = x * 2.0\n"
                               "}\n",
                               "scale");
  ProfileOptions options;
  options.runs = 1;
  options.warmup = 0;
  options.roofline = false;
  Profile p = scale.profile({Tensor::randn({16}, DType::F32, 3)}, options);
  EXPECT_FALSE(p.ceilings);
  EXPECT_EQ(p.bound, "");
  EXPECT_EQ(p.runs, 1u);
  EXPECT_EQ(p.bytes, 128);
  EXPECT_THROW(scale.profile({Tensor::randn({16}, DType::F64, 3)}, options), RuntimeError);
  EXPECT_THROW(scale.profile({}, options), RuntimeError);
  options.runs = -1;
  EXPECT_THROW(scale.profile({Tensor::randn({16}, DType::F32, 3)}, options), RuntimeError);
}

} // namespace

TEST(InspectCalibrate, TensorCoreKernelsCompileForTheirArchitectures) {
  if (!codegen::nvrtcStatus().available)
    GTEST_SKIP() << "NVRTC not available: " << codegen::nvrtcStatus().reason;
  std::string wgmma =
      codegen::compileToPtx(detail::matrixPeakSource(true), "peak.cu", "compute_90a");
  EXPECT_NE(wgmma.find("wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16"), std::string::npos);
  std::string mma = codegen::compileToPtx(detail::matrixPeakSource(false), "peak.cu", "compute_80");
  EXPECT_NE(mma.find("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"), std::string::npos);
  // Its rate is part of the ceilings' JSON (and so of the cache).
  Ceilings c;
  c.matrixPeakGflops = 1234;
  EXPECT_NE(c.json().find("\"matrix_peak_gflops\": 1234"), std::string::npos) << c.json();
}
