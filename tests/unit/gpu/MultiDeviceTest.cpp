// Several CUDA devices in one process: Jits of devices 0 and 1 compile softmax each for its own
// GPU, and their calls (interleaved on one thread, or from two threads at once) match the
// interpreter; a tensor of one device is refused by the other's kernel. On one GPU: the default
// device and an explicit device 0 share one device's state, and a device past the count is
// refused. The two-device tests skip on a machine with fewer GPUs.
#include "api/Numerics.h"
#include "tests/unit/gpu/GpuTestSupport.h"

#include <gtest/gtest.h>

#include <array>
#include <thread>

namespace {

using namespace tdsl;
using namespace tdsl::testing_support;

const char *kSoftmax = R"(
kernel softmax(x: f32[N, D]) -> y: f32[N, D] {
    m[i] = max(x[i, j] for j)
    e[i, j] = exp(x[i, j] - m[i])
    y[i, j] = e[i, j] / sum(e[i, k] for k)
}
)";

Kernel softmaxOn(int device) {
  JitOptions options;
  options.target = Target::cuda();
  options.cudaDevice = device;
  return Jit(options).compile(kSoftmax, "multi_device.tdsl").kernel("softmax");
}

bool haveTwoGpus() { return haveGpu() && runtime::cuda::deviceCount() >= 2; }

TEST(MultiDevice, SoftmaxOnTwoDevicesInterleaved) {
  if (!haveTwoGpus())
    GTEST_SKIP() << "fewer than 2 CUDA devices (" << runtime::cuda::deviceCount() << ")";
  std::array<Kernel, 2> softmax = {softmaxOn(0), softmaxOn(1)};
  Tensor x = Tensor::randn({333, 1000}, DType::F32, 5);
  Tensor expected = softmax[0].interpret({x})[0];
  std::array<DeviceTensor, 2> in = {DeviceTensor::fromHost(x, 0), DeviceTensor::fromHost(x, 1)};
  for (int round = 0; round < 3; ++round)
    for (int d = 0; d < 2; ++d) {
      std::vector<DeviceTensor> out = softmax[d].callDevice({in[d]});
      EXPECT_EQ(out[0].device(), d);
      EXPECT_TRUE(withinTolerance(out[0].toHost(), expected)) << "device " << d << ", " << round;
      EXPECT_TRUE(withinTolerance(softmax[d]({x})[0], expected)) << "host tensors on " << d;
    }
  try {
    softmax[0].runDevice({in[1]}, {DeviceTensor::empty({333, 1000}, DType::F32, 0)});
    FAIL() << "a tensor of device 1 was taken by device 0's kernel";
  } catch (const RuntimeError &e) {
    EXPECT_EQ(e.code(), ErrorCode::TensorMismatch);
    EXPECT_NE(std::string(e.what()).find("is on cuda:1, but the kernel runs on cuda:0"),
              std::string::npos)
        << e.what();
  }
}

TEST(MultiDevice, SoftmaxOnTwoDevicesFromTwoThreads) {
  if (!haveTwoGpus())
    GTEST_SKIP() << "fewer than 2 CUDA devices (" << runtime::cuda::deviceCount() << ")";
  std::array<Kernel, 2> softmax = {softmaxOn(0), softmaxOn(1)};
  Tensor x = Tensor::randn({129, 4097}, DType::F32, 6);
  Tensor expected = softmax[0].interpret({x})[0];
  std::array<Tensor, 2> results;
  std::array<std::string, 2> errors;
  std::vector<std::thread> threads;
  for (int d = 0; d < 2; ++d)
    threads.emplace_back([&, d] {
      try {
        DeviceTensor in = DeviceTensor::fromHost(x, d);
        DeviceTensor out = DeviceTensor::empty(x.shape(), DType::F32, d);
        for (int call = 0; call < 50; ++call)
          softmax[d].runDevice({in}, {out});
        results[d] = out.toHost();
      } catch (const std::exception &e) {
        errors[d] = e.what();
      }
    });
  for (std::thread &t : threads)
    t.join();
  for (int d = 0; d < 2; ++d) {
    ASSERT_EQ(errors[d], "") << "device " << d;
    EXPECT_TRUE(withinTolerance(results[d], expected)) << "device " << d;
  }
}

TEST(MultiDevice, TheDefaultDeviceAndAnExplicitDeviceZeroShareItsState) {
  if (!haveGpu())
    GTEST_SKIP() << "no GPU: " << runtime::cuda::status().reason;
  if (runtime::cuda::defaultOrdinal() != 0)
    GTEST_SKIP() << "TDSL_CUDA_DEVICE makes another device the default";
  EXPECT_EQ(&runtime::cuda::device(-1), &runtime::cuda::device(0));
  Kernel byDefault = softmaxOn(-1), explicitZero = softmaxOn(0);
  EXPECT_EQ(byDefault.cudaDevice(), 0);
  Tensor x = Tensor::randn({17, 33}, DType::F32, 7);
  DeviceTensor in = DeviceTensor::fromHost(x); // The default device's.
  DeviceTensor out = explicitZero.callDevice({in})[0];
  Tensor first = out.toHost();
  EXPECT_TRUE(withinTolerance(first, explicitZero.interpret({x})[0]));
  // The default device's kernel takes device 0's tensor as its own.
  EXPECT_TRUE(
      withinTolerance(byDefault.callDevice({out})[0].toHost(), byDefault.interpret({first})[0]));
}

TEST(MultiDevice, ADevicePastTheCountIsRefused) {
  if (!haveGpu())
    GTEST_SKIP() << "no GPU: " << runtime::cuda::status().reason;
  int count = runtime::cuda::deviceCount();
  try {
    (void)softmaxOn(count)({Tensor::randn({2, 3}, DType::F32, 8)});
    FAIL() << "device " << count << " of " << count << " was taken";
  } catch (const RuntimeError &e) {
    std::string text = e.what();
    EXPECT_NE(text.find("CUDA device " + std::to_string(count)), std::string::npos) << text;
    EXPECT_NE(text.find("there " +
                        std::string(count == 1 ? "is 1 CUDA device"
                                               : "are " + std::to_string(count) + " CUDA devices")),
              std::string::npos)
        << text;
  }
}

} // namespace
