// The end-to-end suite on the GPU: every kernel of every program under tests/e2e/ and examples/,
// compiled with Target::cuda() and run on random inputs at several shapes, must match the
// reference interpreter. Without a GPU (CI), every kernel is still compiled to PTX through NVRTC
// and the launches are skipped with the reason; without NVRTC, everything is skipped.
#include "api/Numerics.h"
#include "codegen/cuda/CudaBackend.h"
#include "codegen/cuda/CudaLaunch.h"
#include "runtime/Cuda.h"
#include "tdsl/tdsl.h"
#include "tests/unit/common/SuitePrograms.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

namespace {

using namespace tdsl;
using namespace tdsl::testing_support;
namespace fs = std::filesystem;

bool haveGpu() { return runtime::cuda::status().available; }

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
  if (!haveGpu())
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
        expectMatchesInterpreter(kernel, name, inputs, actual);
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

TEST(GpuRuntime, ModuleCacheOnDisk) {
  if (!haveGpu())
    GTEST_SKIP() << "no GPU launches: " << runtime::cuda::status().reason;
  fs::path dir = fs::temp_directory_path() / ("tdsl-gpu-cache-test-" + std::to_string(getpid()));
  fs::remove_all(dir);
  setenv("TDSL_CACHE_DIR", dir.c_str(), 1);
  std::string source =
      "// unique " + std::to_string(getpid()) + "\nextern \"C\" __global__ void k() {}\n";
  codegen::CudaCacheHit hit;
  std::string first = codegen::cachedCubin(source, "k", &hit);
  EXPECT_EQ(hit, codegen::CudaCacheHit::None);
  EXPECT_EQ(codegen::cachedCubin(source, "k", &hit), first);
  EXPECT_EQ(hit, codegen::CudaCacheHit::Memory);
  size_t files = 0;
  for ([[maybe_unused]] const auto &e : fs::directory_iterator(dir))
    ++files;
  EXPECT_EQ(files, 1u);
  unsetenv("TDSL_CACHE_DIR");
  fs::remove_all(dir);
}

// A cubin is code the GPU runs: an entry that others can write, holding garbage here, is never
// loaded (the rule of support/PrivateDir.h, tested on its own in PrivateDirTest).
TEST(GpuRuntime, ModuleCacheRefusesAnEntryOthersCanWrite) {
  if (!haveGpu())
    GTEST_SKIP() << "no GPU launches: " << runtime::cuda::status().reason;
  fs::path dir = fs::temp_directory_path() / ("tdsl-gpu-cache-foreign-" + std::to_string(getpid()));
  fs::remove_all(dir);
  setenv("TDSL_CACHE_DIR", dir.c_str(), 1);
  std::string source =
      "// foreign " + std::to_string(getpid()) + "\nextern \"C\" __global__ void k() {}\n";
  codegen::CudaCacheHit hit;
  codegen::cachedCubin(source, "k", &hit);
  std::vector<fs::path> entries(fs::directory_iterator(dir), fs::directory_iterator{});
  ASSERT_EQ(entries.size(), 1u);
  std::ofstream(entries[0], std::ios::binary | std::ios::trunc) << "not a cubin";
  fs::permissions(entries[0], fs::perms::owner_read | fs::perms::owner_write |
                                  fs::perms::group_read | fs::perms::group_write |
                                  fs::perms::others_read | fs::perms::others_write);
  codegen::clearCudaMemoryCache();
  ::testing::internal::CaptureStderr();
  EXPECT_NE(codegen::cachedCubin(source, "k", &hit), "not a cubin");
  EXPECT_EQ(hit, codegen::CudaCacheHit::None);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(),
            "tdsl: warning: not using the kernel cache in " + dir.string() + ": the entry " +
                entries[0].filename().string() +
                " is writable by others (mode 0666); compiling in memory\n");
  unsetenv("TDSL_CACHE_DIR");
  fs::remove_all(dir);
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
