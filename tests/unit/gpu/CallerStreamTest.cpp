// Caller-owned device memory and the caller's CUDA stream: Kernel::runDevice on DeviceTensor
// views enqueues on a non-default stream without synchronizing it (the stream is still busy
// when the call returns) and computes the interpreter's results; strided device views too
// (through contiguous scratch); an output with repeated elements is refused with a clear error.
#include "GpuTestSupport.h"

#include <gtest/gtest.h>

#include <dlfcn.h>

#include <cmath>

namespace {

using namespace tdsl;
using namespace tdsl::testing_support;

const char *kSource = R"(
kernel scale(x: f32[N]) -> y: f32[N] {
    y[i] = 2.0 * x[i] + 1.0
}
kernel matmul(a: f32[M, K], b: f32[K, N]) -> c: f32[M, N] {
    c[i, j] = sum(a[i, k] * b[k, j] for k)
}
)";

/// The driver functions the test calls itself, as a program holding its own CUDA memory and
/// streams would.
struct Driver {
  using Result = int;
  Result (*streamCreate)(void **, unsigned);
  Result (*streamQuery)(void *);
  Result (*streamSynchronize)(void *);
  Result (*streamDestroy)(void *);
  Result (*eventCreate)(void **, unsigned);
  Result (*eventRecord)(void *, void *);
  Result (*eventQuery)(void *);
  Result (*eventDestroy)(void *);
  Result (*memAlloc)(uint64_t *, size_t);
  Result (*memFree)(uint64_t);
  Result (*memcpyHtoD)(uint64_t, const void *, size_t);
  Result (*memcpyDtoH)(void *, uint64_t, size_t);

  static constexpr Result kNotReady = 600; // CUDA_ERROR_NOT_READY

  Driver() {
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    auto load = [&](const char *name, auto &fn) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      if (!fn)
        ADD_FAILURE() << "libcuda.so.1 lacks " << name;
    };
    load("cuStreamCreate", streamCreate);
    load("cuStreamQuery", streamQuery);
    load("cuStreamSynchronize", streamSynchronize);
    load("cuStreamDestroy_v2", streamDestroy);
    load("cuEventCreate", eventCreate);
    load("cuEventRecord", eventRecord);
    load("cuEventQuery", eventQuery);
    load("cuEventDestroy_v2", eventDestroy);
    load("cuMemAlloc_v2", memAlloc);
    load("cuMemFree_v2", memFree);
    load("cuMemcpyHtoD_v2", memcpyHtoD);
    load("cuMemcpyDtoH_v2", memcpyDtoH);
  }
};

TEST(CallerStream, CallerMemoryOnANonDefaultStreamWithoutSynchronizing) {
  if (!haveGpu())
    GTEST_SKIP() << "no GPU launches: " << runtime::cuda::status().reason;
  runtime::cuda::device().makeCurrent(); // tdsl's context, for the driver calls below.
  Driver cu;
  Module module = Jit(Target::cuda()).compile(kSource, "caller_stream.tdsl");
  Kernel scale = module.kernel("scale"), matmul = module.kernel("matmul");

  // The caller's memory and stream.
  const int64_t n = 1 << 20;
  Tensor x = Tensor::randn({n}, DType::F32, 3);
  uint64_t xPtr = 0, yPtr = 0;
  ASSERT_EQ(cu.memAlloc(&xPtr, x.nbytes()), 0);
  ASSERT_EQ(cu.memAlloc(&yPtr, x.nbytes()), 0);
  ASSERT_EQ(cu.memcpyHtoD(xPtr, x.data(), x.nbytes()), 0);
  void *stream = nullptr, *done = nullptr;
  ASSERT_EQ(cu.streamCreate(&stream, 1), 0); // CU_STREAM_NON_BLOCKING
  ASSERT_EQ(cu.eventCreate(&done, 0), 0);
  DeviceTensor dx = DeviceTensor::view(xPtr, {n}, DType::F32);
  DeviceTensor dy = DeviceTensor::view(yPtr, {n}, DType::F32);

  // Compiled and warmed up first, so that the timed part below only enqueues.
  const int64_t big = 2048;
  DeviceTensor a = DeviceTensor::fromHost(Tensor::randn({big, big}, DType::F32, 1));
  DeviceTensor c = DeviceTensor::empty({big, big}, DType::F32);
  matmul.runDevice({a, a}, {c}, stream);
  scale.runDevice({dx}, {dy}, stream);
  ASSERT_EQ(cu.streamSynchronize(stream), 0);

  // Milliseconds of matmuls ahead of the scale on the stream: had runDevice synchronized the
  // stream, it would be idle when the call returns.
  for (int i = 0; i < 8; ++i)
    matmul.runDevice({a, a}, {c}, stream);
  scale.runDevice({dx}, {dy}, stream);
  EXPECT_EQ(cu.streamQuery(stream), Driver::kNotReady) << "runDevice waited for the stream";
  ASSERT_EQ(cu.eventRecord(done, stream), 0);
  EXPECT_EQ(cu.eventQuery(done), Driver::kNotReady);
  ASSERT_EQ(cu.streamSynchronize(stream), 0);
  EXPECT_EQ(cu.eventQuery(done), 0);

  Tensor y = Tensor::zeros({n}, DType::F32);
  ASSERT_EQ(cu.memcpyDtoH(y.data(), yPtr, y.nbytes()), 0);
  Tensor expected = scale.interpret({x})[0];
  for (int64_t i = 0; i < n; i += 997)
    ASSERT_NEAR(y.at(i), expected.at(i), 1e-5 * (1 + std::abs(expected.at(i)))) << i;

  // The views never free the caller's memory; the caller does.
  dx = DeviceTensor();
  dy = DeviceTensor();
  EXPECT_EQ(cu.memFree(xPtr), 0);
  EXPECT_EQ(cu.memFree(yPtr), 0);
  cu.eventDestroy(done);
  cu.streamDestroy(stream);
}

TEST(CallerStream, AStridedHostViewMatchesTheInterpreter) {
  // Host tensors of any strides on a CUDA kernel: copied dense before the device copies.
  Kernel scale = Jit(Target::cuda()).compile(kSource).kernel("scale");
  if (!canLaunch())
    GTEST_SKIP() << "no GPU launches: " << runtime::cuda::status().reason;
  Tensor wide = Tensor::randn({34}, DType::F32, 5);
  Tensor everyOther = Tensor::view(static_cast<const void *>(wide.data()), {17}, DType::F32, {2});
  Tensor outWide = Tensor::zeros({51}, DType::F32);
  Tensor everyThird = Tensor::view(outWide.data(), {17}, DType::F32, {3});
  scale.run({everyOther}, {everyThird});
  Tensor expected = scale.interpret({everyOther})[0];
  for (int64_t i = 0; i < 17; ++i) {
    EXPECT_NEAR(everyThird.at(i), expected.at(i), 1e-5 * (1 + std::abs(expected.at(i)))) << i;
    EXPECT_EQ(outWide.at(3 * i + 1), 0); // Between the elements: untouched.
  }
}

TEST(CallerStream, StridedDeviceViewsMatchTheInterpreter) {
  if (!haveGpu())
    GTEST_SKIP() << "no GPU launches: " << runtime::cuda::status().reason;
  runtime::cuda::device().makeCurrent();
  Driver cu;
  Kernel matmul = Jit(Target::cuda()).compile(kSource).kernel("matmul");
  // A read through the memory of its transpose (strides {1, m}); C written into every other
  // column of a wider block (strides {2 n, 2}), on the caller's stream.
  const int64_t m = 37, k = 53, n = 29;
  Tensor aT = Tensor::randn({k, m}, DType::F32, 11), b = Tensor::randn({k, n}, DType::F32, 12);
  Tensor wide = Tensor::zeros({m, 2 * n}, DType::F32);
  uint64_t aPtr = 0, bPtr = 0, cPtr = 0;
  ASSERT_EQ(cu.memAlloc(&aPtr, aT.nbytes()), 0);
  ASSERT_EQ(cu.memAlloc(&bPtr, b.nbytes()), 0);
  ASSERT_EQ(cu.memAlloc(&cPtr, wide.nbytes()), 0);
  ASSERT_EQ(cu.memcpyHtoD(aPtr, aT.data(), aT.nbytes()), 0);
  ASSERT_EQ(cu.memcpyHtoD(bPtr, b.data(), b.nbytes()), 0);
  ASSERT_EQ(cu.memcpyHtoD(cPtr, wide.data(), wide.nbytes()), 0);
  void *stream = nullptr;
  ASSERT_EQ(cu.streamCreate(&stream, 1), 0); // CU_STREAM_NON_BLOCKING
  DeviceTensor a = DeviceTensor::view(aPtr, {m, k}, DType::F32, {1, m});
  DeviceTensor c = DeviceTensor::view(cPtr, {m, n}, DType::F32, {2 * n, 2});
  Tensor expected = matmul.interpret(
      {Tensor::view(static_cast<const void *>(aT.data()), {m, k}, DType::F32, {1, m}), b})[0];
  for (int call = 0; call < 2; ++call) { // The second reuses the scratch.
    matmul.runDevice({a, DeviceTensor::view(bPtr, {k, n}, DType::F32)}, {c}, stream);
    ASSERT_EQ(cu.streamSynchronize(stream), 0);
    ASSERT_EQ(cu.memcpyDtoH(wide.data(), cPtr, wide.nbytes()), 0);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double want = expected.at(i * n + j);
        ASSERT_NEAR(wide.at(i * 2 * n + 2 * j), want, 1e-4 * (1 + std::abs(want))) << i << "," << j;
        ASSERT_EQ(wide.at(i * 2 * n + 2 * j + 1), 0) << "between the columns: untouched";
      }
  }
  EXPECT_EQ(cu.memFree(aPtr), 0);
  EXPECT_EQ(cu.memFree(bPtr), 0);
  EXPECT_EQ(cu.memFree(cPtr), 0);
  cu.streamDestroy(stream);
}

TEST(CallerStream, AnOutputWithRepeatedElementsIsRefused) {
  // Checked before anything reaches the driver: runs without a GPU too.
  Kernel scale = Jit(Target::cuda()).compile(kSource).kernel("scale");
  DeviceTensor repeated = DeviceTensor::view(0x20000, {8}, DType::F32, {0});
  try {
    scale.runDevice({DeviceTensor::view(0x10000, {8}, DType::F32)}, {repeated});
    FAIL() << "expected a RuntimeError";
  } catch (const RuntimeError &e) {
    EXPECT_EQ(e.code(), ErrorCode::TensorMismatch);
    std::string device = "(cuda:" + std::to_string(runtime::cuda::defaultOrdinal()) + ")";
    EXPECT_NE(std::string(e.what()).find("output y of kernel scale: f32[8] " + device +
                                         " with strides [0] puts two elements at one address"),
              std::string::npos)
        << e.what();
  }
}

} // namespace
