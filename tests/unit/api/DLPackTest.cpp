// DLPack interop (tdsl/DLPack.h): every dtype round-trips without a copy, capsules' deleters run
// exactly once, read-only and strided capsules, device capsules and their device ordinals, and the
// errors that leave the capsule with its caller.
#ifdef TDSL_HAVE_DLPACK
#include "tdsl/DLPack.h"

#include <gtest/gtest.h>

#include <functional>
#include <vector>

namespace {

using namespace tdsl;

constexpr DType kAll[] = {DType::F16, DType::BF16, DType::F32, DType::F64, DType::I8,
                          DType::U8,  DType::I16,  DType::I32, DType::I64, DType::Bool};

std::string errorOf(const std::function<void()> &f) {
  try {
    f();
  } catch (const RuntimeError &e) {
    return e.what();
  }
  return "";
}

/// A producer's capsule over `data`, counting its deleter's calls.
struct Producer {
  std::vector<int64_t> shape, strides;
  int deleted = 0;
  DLManagedTensor legacy{};
  DLManagedTensorVersioned versioned{};

  Producer(void *data, std::vector<int64_t> shapeIn, DLDataType type,
           std::vector<int64_t> stridesIn = {}, DLDevice device = {kDLCPU, 0})
      : shape(std::move(shapeIn)), strides(std::move(stridesIn)) {
    DLTensor t{};
    t.data = data;
    t.device = device;
    t.ndim = static_cast<int>(shape.size());
    t.dtype = type;
    t.shape = shape.data();
    t.strides = strides.empty() ? nullptr : strides.data();
    legacy.dl_tensor = t;
    legacy.manager_ctx = this;
    legacy.deleter = [](DLManagedTensor *self) {
      ++static_cast<Producer *>(self->manager_ctx)->deleted;
    };
    versioned.version = {1, 0};
    versioned.dl_tensor = t;
    versioned.manager_ctx = this;
    versioned.deleter = [](DLManagedTensorVersioned *self) {
      ++static_cast<Producer *>(self->manager_ctx)->deleted;
    };
  }
};

TEST(DLPack, EveryDTypeRoundTripsWithoutACopy) {
  for (DType dtype : kAll) {
    Tensor original = Tensor::randn({3, 5}, dtype, 11);
    DLManagedTensorVersioned *capsule = toDLPack(original);
    EXPECT_EQ(capsule->version.major, 1u);
    EXPECT_EQ(capsule->dl_tensor.data, original.data());
    EXPECT_EQ(capsule->dl_tensor.ndim, 2);
    EXPECT_EQ(capsule->dl_tensor.strides[0], 5);
    EXPECT_EQ(fromDLDataType(capsule->dl_tensor.dtype), dtype);
    const void *data = original.data();
    original = Tensor(); // The capsule keeps the memory alive.
    Tensor back = fromDLPack(capsule);
    EXPECT_EQ(back.data(), data);
    EXPECT_EQ(back.dtype(), dtype);
    EXPECT_EQ(back.shape(), (std::vector<int64_t>{3, 5}));
    Tensor expected = Tensor::randn({3, 5}, dtype, 11);
    for (int64_t i = 0; i < 15; ++i)
      ASSERT_EQ(back.atInt(i), expected.atInt(i)) << dtypeName(dtype);
  }
}

TEST(DLPack, TypeCodesFollowTheStandard) {
  auto same = [](DLDataType a, DLDataType b) {
    return a.code == b.code && a.bits == b.bits && a.lanes == b.lanes;
  };
  EXPECT_TRUE(same(toDLDataType(DType::Bool), DLDataType{kDLPackBoolCode, 8, 1}));
  EXPECT_TRUE(same(toDLDataType(DType::BF16), DLDataType{kDLBfloat, 16, 1}));
  EXPECT_TRUE(same(toDLDataType(DType::U8), DLDataType{kDLUInt, 8, 1}));
  EXPECT_TRUE(same(toDLDataType(DType::I16), DLDataType{kDLInt, 16, 1}));
  EXPECT_TRUE(same(toDLDataType(DType::F16), DLDataType{kDLFloat, 16, 1}));
}

TEST(DLPack, TheDeleterRunsOnceWhenTheLastTensorDies) {
  std::vector<float> data = {1, 2, 3, 4};
  for (bool versioned : {false, true}) {
    Producer producer(data.data(), {4}, {kDLFloat, 32, 1});
    {
      Tensor t = versioned ? fromDLPack(&producer.versioned) : fromDLPack(&producer.legacy);
      EXPECT_EQ(t.data(), data.data());
      EXPECT_FALSE(t.readOnly());
      Tensor copy = t;
      std::vector<Tensor> more(3, copy);
      t = Tensor();
      EXPECT_EQ(producer.deleted, 0);
    }
    EXPECT_EQ(producer.deleted, 1);
  }
}

TEST(DLPack, ReadOnlyCapsulesGiveReadOnlyViewsAndExportTheFlag) {
  std::vector<int32_t> data = {1, 2, 3};
  Producer producer(data.data(), {3}, {kDLInt, 32, 1});
  producer.versioned.flags = DLPACK_FLAG_BITMASK_READ_ONLY;
  Tensor t = fromDLPack(&producer.versioned);
  EXPECT_TRUE(t.readOnly());
  Kernel add = Jit(JitOptions{Target::cpu(), 1})
                   .compile("kernel add(a: i32[N], b: i32[N]) -> y: i32[N] { y = a + b }")
                   .kernel("add");
  EXPECT_EQ(add({t, t})[0].atInt(2), 6);
  EXPECT_NE(errorOf([&] { add.run({t, t}, {t}); }).find("read-only"), std::string::npos);
  DLManagedTensorVersioned *again = toDLPack(t);
  EXPECT_EQ(again->flags & DLPACK_FLAG_BITMASK_READ_ONLY, DLPACK_FLAG_BITMASK_READ_ONLY);
  again->deleter(again);
  t = Tensor();
  EXPECT_EQ(producer.deleted, 1); // The export held the import until its deleter ran.
}

TEST(DLPack, ATransposedCapsuleGivesTheRightResults) {
  // b^T stored row-major, handed over as b with strides {1, K}: matmul reads it strided.
  const int64_t m = 5, k = 7, n = 3;
  Tensor a = Tensor::randn({m, k}, DType::F32, 1), bT = Tensor::randn({n, k}, DType::F32, 2);
  Producer producer(bT.data(), {k, n}, {kDLFloat, 32, 1}, {1, k});
  Tensor b = fromDLPack(&producer.versioned);
  EXPECT_FALSE(b.isContiguous());
  Kernel matmul = Jit(JitOptions{Target::cpu(), 1})
                      .compile("kernel matmul(a: f32[M, K], b: f32[K, N]) -> c: f32[M, N] {\n"
                               "    c[i, j] = sum(a[i, k] * b[k, j] for k)\n}\n")
                      .kernel("matmul");
  Tensor c = matmul({a, b})[0];
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double expected = 0;
      for (int64_t p = 0; p < k; ++p)
        expected += a.at(i * k + p) * bT.at(j * k + p);
      EXPECT_NEAR(c.at(i * n + j), expected, 1e-4);
    }
  // Exported back: the same strides.
  DLManagedTensorVersioned *out = toDLPack(b);
  EXPECT_EQ(out->dl_tensor.strides[0], 1);
  EXPECT_EQ(out->dl_tensor.strides[1], k);
  out->deleter(out);
}

TEST(DLPack, ByteOffsetsAndScalars) {
  std::vector<double> data = {1, 2, 3, 4};
  Producer producer(data.data(), {2}, {kDLFloat, 64, 1});
  producer.legacy.dl_tensor.byte_offset = 2 * sizeof(double);
  EXPECT_EQ(fromDLPack(&producer.legacy).at(1), 4);
  Producer scalar(data.data(), {}, {kDLFloat, 64, 1});
  Tensor s = fromDLPack(&scalar.versioned);
  EXPECT_EQ(s.rank(), 0);
  EXPECT_EQ(s.at(0), 1);
}

TEST(DLPack, ErrorsLeaveTheCapsuleWithItsCaller) {
  std::vector<float> data(8);
  auto expectError = [&](Producer &p, const std::string &what, bool versioned = true) {
    std::string error = versioned ? errorOf([&] { fromDLPack(&p.versioned); })
                                  : errorOf([&] { fromDLPack(&p.legacy); });
    EXPECT_NE(error.find(what), std::string::npos) << error;
    EXPECT_EQ(p.deleted, 0);
  };
  Producer complex(data.data(), {2}, {kDLComplex, 64, 1});
  expectError(complex, "complex64: tdsl has no such dtype");
  Producer lanes(data.data(), {2}, {kDLFloat, 32, 4});
  expectError(lanes, "float32x4");
  Producer u16(data.data(), {2}, {kDLUInt, 16, 1});
  expectError(u16, "uint16");
  Producer misaligned(data.data(), {2}, {kDLFloat, 32, 1});
  misaligned.legacy.dl_tensor.byte_offset = 3;
  expectError(misaligned, "byte offset 3 is not a multiple", false);
  Producer onGpu(data.data(), {2}, {kDLFloat, 32, 1}, {}, {kDLCUDA, 0});
  expectError(onGpu, "the tensor is in cuda:0");
  Producer future(data.data(), {2}, {kDLFloat, 32, 1});
  future.versioned.version = {2, 0};
  expectError(future, "version 2.0");
  EXPECT_NE(errorOf([] { fromDLPack(static_cast<DLManagedTensor *>(nullptr)); }), "");
}

TEST(DLPack, DeviceCapsulesBecomeDeviceViews) {
  // No driver is needed to wrap a device pointer; only kernels and copies use it.
  const uint64_t fakeDevicePointer = 0x7f0000000000;
  Producer producer(reinterpret_cast<void *>(fakeDevicePointer), {4, 6}, {kDLFloat, 16, 1}, {1, 4},
                    {kDLCUDA, 0});
  producer.versioned.dl_tensor.byte_offset = 8;
  {
    DeviceTensor t = deviceFromDLPack(&producer.versioned);
    EXPECT_EQ(t.devicePointer(), fakeDevicePointer + 8);
    EXPECT_EQ(t.dtype(), DType::F16);
    EXPECT_FALSE(t.isContiguous());
    EXPECT_EQ(t.strides(), (std::vector<int64_t>{1, 4}));
    DLManagedTensorVersioned *out = toDLPack(t);
    EXPECT_EQ(out->dl_tensor.device.device_type, kDLCUDA);
    EXPECT_EQ(reinterpret_cast<uint64_t>(out->dl_tensor.data), fakeDevicePointer + 8);
    t = DeviceTensor();
    EXPECT_EQ(producer.deleted, 0);
    out->deleter(out);
  }
  EXPECT_EQ(producer.deleted, 1);
  Producer host(reinterpret_cast<void *>(fakeDevicePointer), {2}, {kDLFloat, 32, 1});
  EXPECT_NE(errorOf([&] { deviceFromDLPack(&host.legacy); }).find("needs cuda memory"),
            std::string::npos);
  EXPECT_EQ(host.deleted, 0);
}

TEST(DLPack, ADeviceCapsuleKeepsItsDeviceOrdinal) {
  const uint64_t fakeDevicePointer = 0x7f0000000000;
  Producer onDevice3(reinterpret_cast<void *>(fakeDevicePointer), {4}, {kDLFloat, 32, 1}, {},
                     {kDLCUDA, 3});
  DeviceTensor t = deviceFromDLPack(&onDevice3.versioned);
  EXPECT_EQ(t.device(), 3);
  EXPECT_EQ(t.typeString(), "f32[4] (cuda:3)");
  DLManagedTensorVersioned *out = toDLPack(t);
  EXPECT_EQ(out->dl_tensor.device.device_id, 3);
  out->deleter(out);
  DLManagedTensorVersioned *view =
      toDLPack(DeviceTensor::view(fakeDevicePointer, {4}, DType::F32, {}, 2));
  EXPECT_EQ(view->dl_tensor.device.device_id, 2);
  EXPECT_EQ(deviceFromDLPack(view).device(), 2); // The view's capsule, taken back.
  Producer negative(reinterpret_cast<void *>(fakeDevicePointer), {4}, {kDLFloat, 32, 1}, {},
                    {kDLCUDA, -1});
  EXPECT_NE(errorOf([&] { deviceFromDLPack(&negative.legacy); }).find("negative device ordinal"),
            std::string::npos);
  EXPECT_EQ(negative.deleted, 0);
}

} // namespace
#endif
