// The end-to-end suite on the GPU: every kernel of every program under tests/e2e/ and examples/,
// compiled with Target::cuda() and run on random inputs at several shapes, must match the
// reference interpreter. Without a GPU (CI), every kernel is still compiled to PTX through NVRTC
// and the launches are skipped with the reason; without NVRTC, everything is skipped.
#include "api/KernelCache.h"
#include "api/Numerics.h"
#include "codegen/cuda/CudaBackend.h"
#include "codegen/cuda/CudaEmulator.h"
#include "runtime/Cuda.h"
#include "tdsl/tdsl.h"
#include "tests/unit/common/ApiTestSupport.h"
#include "tests/unit/common/SuitePrograms.h"
#include "tests/unit/gpu/GpuTestSupport.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <sys/stat.h>

namespace {

using namespace tdsl;
using namespace tdsl::testing_support;
namespace fs = std::filesystem;

class GpuSuite : public testing::TestWithParam<fs::path> {};

TEST_P(GpuSuite, EveryKernelCompilesToPtx) {
  if (!codegen::nvrtcStatus().available)
    GTEST_SKIP() << "NVRTC not available: " << codegen::nvrtcStatus().reason;
  Module module = Jit(Target::cuda()).compileFile(GetParam().string());
  for (const std::string &name : module.kernelNames()) {
    std::string ptx = module.kernel(name).dump(Stage::Ptx);
    EXPECT_NE(ptx.find(".entry " + name + "_k0"), std::string::npos) << name;
  }
}

TEST_P(GpuSuite, EveryKernelMatchesTheInterpreterOnTheGpu) {
  if (!canLaunch())
    GTEST_SKIP() << "no GPU launches: " << runtime::cuda::status().reason;
  Module module = Jit(Target::cuda()).compileFile(GetParam().string());
  std::mt19937 rng(1234);
  // Sizes past one warp and one block too, so tails and grid strides are exercised; inputs are
  // capped in size so that the f64 interpreter stays fast.
  const std::vector<int64_t> sizes = {1, 2, 3, 5, 7, 8, 16, 17, 33, 257};
  // Fixed large shapes (fusion.tdsl's big_*) run once at their size.
  auto tooLarge = [](const Kernel &kernel, const std::vector<Tensor> &inputs, int ran) {
    bool hasSymbols = false;
    for (const auto &dims : kernel.inputDims())
      for (const std::string &d : dims)
        hasSymbols |= !std::isdigit(static_cast<unsigned char>(d[0]));
    int64_t elements = 0;
    for (const Tensor &t : inputs)
      elements += t.numel();
    return elements > 40000 && (hasSymbols || ran > 0);
  };
  forEachSuiteRun(
      module, rng, sizes, 5, 1,
      [](const Kernel &kernel, const std::string &name, const std::vector<Tensor> &inputs) {
        std::vector<Tensor> actual = kernel(inputs);
        if (!haveGpu()) {
          // The emulation's host compiler contracts fewer multiply-adds into FMAs than NVRTC:
          // an output that f32 arithmetic step by step reproduces is no schedule's fault.
          std::vector<Tensor> reference = kernel.interpret(inputs);
          for (size_t o = 0; o < actual.size(); ++o) {
            if (!withinTolerance(actual[o], reference[o])) {
              EXPECT_EQ(excuseForMismatch(kernel, inputs, actual[o], reference, o), "f32 rounding")
                  << name << " output " << kernel.outputNames()[o] << ": "
                  << describe(runtime::compare(actual[o], reference[o]), actual[o].shape());
            }
          }
        } else {
          expectMatchesInterpreter(kernel, name, inputs, actual);
        }
        if (HasFatalFailure())
          return;
        // Bit-identical run to run.
        std::vector<Tensor> again = kernel(inputs);
        for (size_t o = 0; o < actual.size(); ++o)
          EXPECT_EQ(std::memcmp(actual[o].data(), again[o].data(), actual[o].nbytes()), 0)
              << name << " output " << o << " differs between two runs";
      },
      tooLarge);
}

INSTANTIATE_TEST_SUITE_P(Programs, GpuSuite, testing::ValuesIn(suiteProgramFiles()),
                         programTestName);

const char *kChain = R"(
kernel scale(x: f32[N]) -> y: f32[N] {
    y[i] = 2.0 * x[i] + 1.0
}
kernel softmax(x: f32[N, D]) -> y: f32[N, D] {
    m[i] = max(x[i, j] for j)
    e[i, j] = exp(x[i, j] - m[i])
    y[i, j] = e[i, j] / sum(e[i, k] for k)
}
)";

TEST(GpuRuntime, DeviceTensorsStayOnTheDeviceAcrossCalls) {
  if (!haveGpu())
    GTEST_SKIP() << "no GPU launches: " << runtime::cuda::status().reason;
  Module module = Jit(Target::cuda()).compile(kChain);
  Kernel scale = module.kernel("scale");
  Tensor x = Tensor::randn({1000}, DType::F32, 7);
  DeviceTensor dx = DeviceTensor::fromHost(x);
  DeviceTensor dy = scale.callDevice({dx})[0];
  DeviceTensor dz = scale.callDevice({dy})[0]; // Input straight from the last call's output.
  Tensor z = dz.toHost();
  Tensor y = dy.toHost();
  EXPECT_TRUE(withinTolerance(y, scale.interpret({x})[0]));
  EXPECT_TRUE(withinTolerance(z, scale.interpret({y})[0]));
  // Into a caller-provided output, and the checks on shapes.
  DeviceTensor out = DeviceTensor::empty({1000}, DType::F32);
  scale.runDevice({dx}, {out});
  EXPECT_TRUE(withinTolerance(out.toHost(), scale.interpret({x})[0]));
  DeviceTensor wrong = DeviceTensor::empty({999}, DType::F32);
  EXPECT_THROW(scale.runDevice({dx}, {wrong}), RuntimeError);
  EXPECT_THROW(scale.runDevice({dx}, {dx}), RuntimeError);
}

TEST(GpuRuntime, HeapIntermediatesAreDeviceAllocations) {
  if (!haveGpu())
    GTEST_SKIP() << "no GPU launches: " << runtime::cuda::status().reason;
  Kernel softmax = Jit(Target::cuda()).compile(kChain).kernel("softmax");
  // Growing shapes: the workspace is reallocated; results still match.
  for (int64_t n : {3, 64, 513}) {
    Tensor x = Tensor::randn({n, 37}, DType::F32, uint64_t(n));
    EXPECT_TRUE(withinTolerance(softmax({x})[0], softmax.interpret({x})[0])) << n;
  }
}

Jit cudaJitWithCache(const std::string &dir) {
  JitOptions options;
  options.target = Target::cuda();
  options.cacheDir = dir;
  return Jit(options);
}

/// Compiles `source` with `jit` and checks its kernel `scale` against the interpreter.
void runScale(const Jit &jit, const std::string &source = kChain) {
  Kernel scale = jit.compile(source).kernel("scale");
  Tensor x = Tensor::randn({1000}, DType::F32, 7);
  EXPECT_TRUE(withinTolerance(scale({x})[0], scale.interpret({x})[0]));
}

// The cubin goes through the Jit's kernel cache: compiled once per Jit, then loaded from the
// cache's folder by a fresh Jit.
TEST(GpuRuntime, ModuleCacheOnDisk) {
  if (!haveGpu())
    GTEST_SKIP() << "no GPU launches: " << runtime::cuda::status().reason;
  std::string dir = freshTestDir("gpu", "cache");
  CounterSnapshot start = CounterSnapshot::now();
  Jit jit = cudaJitWithCache(dir);
  runScale(jit);
  runScale(jit); // Compiled again by the same Jit: from memory.
  CounterSnapshot d = CounterSnapshot::now().since(start);
  EXPECT_EQ(d.misses, 1u);
  EXPECT_EQ(d.stores, 1u);
  EXPECT_EQ(d.memoryHits, 1u);
  std::vector<std::string> files = entryFiles(dir);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_TRUE(files[0].starts_with("cuda-") && files[0].ends_with(".tko")) << files[0];

  CounterSnapshot mid = CounterSnapshot::now();
  runScale(cudaJitWithCache(dir));
  EXPECT_EQ(CounterSnapshot::now().since(mid).diskHits, 1u);
  EXPECT_EQ(jit.compile(kChain).kernel("scale").cacheStatus(),
            "hit (" + dir + "/" + files[0] + ")");
  fs::remove_all(dir);
}

// A cubin is code the GPU runs: an entry under scale's key that holds another kernel's valid
// cubin (a `scale` computing 3x), made writable by others, is never loaded (the rule of
// support/PrivateDir.h; on the CPU, CacheSecurity.ForeignEntryIsNotLoaded).
TEST(GpuRuntime, ModuleCacheRefusesAnEntryOthersCanWrite) {
  if (!haveGpu())
    GTEST_SKIP() << "no GPU launches: " << runtime::cuda::status().reason;
  std::string otherDir = freshTestDir("gpu", "foreign-source");
  std::string other = kChain;
  other.replace(other.find("2.0 * x[i] + 1.0"), 16, "3.0 * x[i]");
  runScale(cudaJitWithCache(otherDir), other);
  cache::Entry foreign;
  ASSERT_EQ(cache::DiskCache(otherDir).load(onlyKey(otherDir), foreign),
            cache::DiskCache::Found::Hit);

  std::string dir = freshTestDir("gpu", "foreign");
  runScale(cudaJitWithCache(dir));
  cache::DiskCache disk(dir);
  cache::CacheKey key = onlyKey(dir);
  ASSERT_TRUE(disk.store(key, foreign.symbol, foreign.object));
  std::string path = disk.pathOf(key);
  ASSERT_EQ(::chmod(path.c_str(), 0666), 0);

  CounterSnapshot start = CounterSnapshot::now();
  ::testing::internal::CaptureStderr();
  runScale(cudaJitWithCache(dir)); // 2x + 1, checked against the interpreter.
  CounterSnapshot d = CounterSnapshot::now().since(start);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(),
            warningFor(dir, "the entry " + fs::path(path).filename().string() +
                                " is writable by others (mode 0666)"));
  EXPECT_EQ(d.diskHits, 0u);
  EXPECT_EQ(d.misses, 1u);
  EXPECT_EQ(d.stores, 0u);
  struct stat st {}; // Neither loaded nor replaced.
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0666u);
  fs::remove_all(dir);
  fs::remove_all(otherDir);
}

TEST(GpuRuntime, NoDriverGivesAClearError) {
  if (haveGpu())
    GTEST_SKIP() << "a GPU is present: the no-driver error cannot be seen here";
  Kernel scale = Jit(Target::cuda()).compile(kChain).kernel("scale");
  try {
    scale({Tensor::randn({4}, DType::F32, 1)});
    FAIL() << "expected a RuntimeError";
  } catch (const RuntimeError &e) {
    EXPECT_NE(std::string(e.what()).find("CUDA is not available"), std::string::npos) << e.what();
  }
  EXPECT_THROW(DeviceTensor::empty({4}, DType::F32), RuntimeError);
}

TEST(GpuRuntime, CpuKernelsRejectDeviceTensors) {
  Kernel scale = Jit(Target::cpu()).compile(kChain).kernel("scale");
  EXPECT_THROW(scale.callDevice({DeviceTensor()}), RuntimeError);
}

} // namespace
