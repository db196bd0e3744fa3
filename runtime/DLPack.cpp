// DLPack import and export (tdsl/DLPack.h): a capsule's DLTensor becomes a strided view that
// owns the capsule, and a tensor becomes a capsule that owns a copy of the Tensor handle.
#include "tdsl/DLPack.h"

#include <memory>
#include <string>
#include <vector>

namespace tdsl {

namespace {

std::string typeName(DLDataType type) {
  std::string code;
  switch (type.code) {
  case kDLInt:
    code = "int";
    break;
  case kDLUInt:
    code = "uint";
    break;
  case kDLFloat:
    code = "float";
    break;
  case kDLBfloat:
    code = "bfloat";
    break;
  case kDLComplex:
    code = "complex";
    break;
  case kDLPackBoolCode:
    code = "bool";
    break;
  default:
    code = "type code " + std::to_string(type.code) + " of ";
  }
  std::string name = code + std::to_string(type.bits);
  return type.lanes == 1 ? name : name + "x" + std::to_string(type.lanes);
}

std::string deviceName(DLDevice device) {
  switch (device.device_type) {
  case kDLCPU:
    return "cpu";
  case kDLCUDA:
    return "cuda:" + std::to_string(device.device_id);
  case kDLCUDAHost:
    return "cuda pinned host memory";
  case kDLCUDAManaged:
    return "cuda managed memory";
  default:
    return "device type " + std::to_string(int(device.device_type));
  }
}

/// The first element's address, its byte offset applied; throws for an offset that leaves
/// elements misaligned.
uint64_t firstElement(const DLTensor &t, DType dtype) {
  if (t.byte_offset % uint64_t(byteSize(dtype)) != 0)
    throw RuntimeError("DLPack tensor of " + typeName(t.dtype) + ": its byte offset " +
                       std::to_string(t.byte_offset) +
                       " is not a multiple of the element size; tdsl needs aligned elements");
  return reinterpret_cast<uintptr_t>(t.data) + t.byte_offset;
}

struct Layout {
  std::vector<int64_t> shape, strides; // Strides empty: row-major.
  DType dtype;
};

Layout layoutOf(const DLTensor &t) {
  if (t.ndim < 0)
    throw RuntimeError("DLPack tensor with a negative rank (" + std::to_string(t.ndim) + ")");
  Layout layout{{}, {}, fromDLDataType(t.dtype)};
  if (t.ndim > 0 && !t.shape)
    throw RuntimeError("DLPack tensor of rank " + std::to_string(t.ndim) + " without a shape");
  layout.shape.assign(t.shape, t.shape + t.ndim);
  if (t.strides) // Null: compact row-major (DLPack before 1.0).
    layout.strides.assign(t.strides, t.strides + t.ndim);
  return layout;
}

/// Calls the capsule's deleter when the last tensor sharing it is gone.
template <typename Capsule> std::shared_ptr<void> ownerOf(Capsule *capsule) {
  return std::shared_ptr<void>(capsule, [](void *p) {
    auto *c = static_cast<Capsule *>(p);
    if (c->deleter)
      c->deleter(c);
  });
}

void checkVersion(const DLManagedTensorVersioned *capsule) {
  if (capsule->version.major != kDLPackMajorVersion)
    throw RuntimeError("DLPack capsule of version " + std::to_string(capsule->version.major) + "." +
                       std::to_string(capsule->version.minor) + ": tdsl reads version " +
                       std::to_string(kDLPackMajorVersion) + ".x");
}

template <typename Capsule> Tensor hostTensor(Capsule *capsule, const DLTensor &t, bool readOnly) {
  if (!capsule)
    throw RuntimeError("fromDLPack: null capsule");
  if (t.device.device_type != kDLCPU && t.device.device_type != kDLCUDAHost)
    throw RuntimeError("fromDLPack: the tensor is in " + deviceName(t.device) +
                       "; a host tensor needs cpu (or cuda pinned host) memory (deviceFromDLPack "
                       "takes cuda memory)");
  Layout layout = layoutOf(t);
  void *data = reinterpret_cast<void *>(static_cast<uintptr_t>(firstElement(t, layout.dtype)));
  Tensor view = readOnly ? Tensor::view(static_cast<const void *>(data), layout.shape, layout.dtype,
                                        layout.strides)
                         : Tensor::view(data, layout.shape, layout.dtype, layout.strides);
  return view.withOwner(ownerOf(capsule)); // Nothing throws past this point.
}

template <typename Capsule> DeviceTensor deviceTensor(Capsule *capsule, const DLTensor &t) {
  if (!capsule)
    throw RuntimeError("deviceFromDLPack: null capsule");
  if (t.device.device_type != kDLCUDA && t.device.device_type != kDLCUDAManaged)
    throw RuntimeError("deviceFromDLPack: the tensor is in " + deviceName(t.device) +
                       "; a device tensor needs cuda memory (fromDLPack takes host memory)");
  if (t.device.device_id < 0)
    throw RuntimeError("deviceFromDLPack: the tensor is on " + deviceName(t.device) +
                       ", a negative device ordinal");
  Layout layout = layoutOf(t);
  DeviceTensor view = DeviceTensor::view(firstElement(t, layout.dtype), layout.shape, layout.dtype,
                                         layout.strides, t.device.device_id);
  return view.withOwner(ownerOf(capsule));
}

/// A capsule's storage: the capsule itself, the shape and strides it points to, and what keeps
/// the memory alive.
template <typename TensorType> struct Exported {
  DLManagedTensorVersioned capsule{};
  std::vector<int64_t> shape, strides;
  TensorType tensor;
};

template <typename TensorType>
DLManagedTensorVersioned *exportTensor(const TensorType &tensor, void *data, DLDevice device,
                                       bool readOnly) {
  auto holder = std::make_unique<Exported<TensorType>>();
  holder->tensor = tensor;
  holder->shape = tensor.shape();
  holder->strides = tensor.strides();
  DLManagedTensorVersioned &c = holder->capsule;
  c.version = {kDLPackMajorVersion, 0};
  c.manager_ctx = holder.get();
  c.deleter = [](DLManagedTensorVersioned *self) {
    delete static_cast<Exported<TensorType> *>(self->manager_ctx);
  };
  c.flags = readOnly ? DLPACK_FLAG_BITMASK_READ_ONLY : 0;
  c.dl_tensor.data = data;
  c.dl_tensor.device = device;
  c.dl_tensor.ndim = static_cast<int>(holder->shape.size());
  c.dl_tensor.dtype = toDLDataType(tensor.dtype());
  c.dl_tensor.shape = holder->shape.data();
  c.dl_tensor.strides = holder->strides.data();
  c.dl_tensor.byte_offset = 0;
  return &holder.release()->capsule;
}

} // namespace

DLDataType toDLDataType(DType dtype) {
  const uint8_t bits = static_cast<uint8_t>(8 * byteSize(dtype));
  switch (dtype) {
  case DType::F16:
  case DType::F32:
  case DType::F64:
    return {kDLFloat, bits, 1};
  case DType::BF16:
    return {kDLBfloat, bits, 1};
  case DType::I8:
  case DType::I16:
  case DType::I32:
  case DType::I64:
    return {kDLInt, bits, 1};
  case DType::U8:
    return {kDLUInt, bits, 1};
  case DType::Bool:
    return {kDLPackBoolCode, bits, 1};
  }
  throw RuntimeError("toDLDataType: unknown dtype");
}

DType fromDLDataType(DLDataType type) {
  if (type.lanes == 1) {
    for (DType d : {DType::F16, DType::BF16, DType::F32, DType::F64, DType::I32, DType::I64,
                    DType::Bool, DType::U8, DType::I8, DType::I16}) {
      DLDataType candidate = toDLDataType(d);
      if (candidate.code == type.code && candidate.bits == type.bits)
        return d;
    }
  }
  throw RuntimeError("DLPack tensor of " + typeName(type) +
                     ": tdsl has no such dtype (it has f16, bf16, f32, f64, i8, i16, i32, i64, "
                     "u8 and bool, one lane each)");
}

Tensor fromDLPack(DLManagedTensor *capsule) {
  return hostTensor(capsule, capsule ? capsule->dl_tensor : DLTensor{}, false);
}

Tensor fromDLPack(DLManagedTensorVersioned *capsule) {
  if (capsule)
    checkVersion(capsule);
  return hostTensor(capsule, capsule ? capsule->dl_tensor : DLTensor{},
                    capsule && (capsule->flags & DLPACK_FLAG_BITMASK_READ_ONLY));
}

DeviceTensor deviceFromDLPack(DLManagedTensor *capsule) {
  return deviceTensor(capsule, capsule ? capsule->dl_tensor : DLTensor{});
}

DeviceTensor deviceFromDLPack(DLManagedTensorVersioned *capsule) {
  if (capsule)
    checkVersion(capsule);
  return deviceTensor(capsule, capsule ? capsule->dl_tensor : DLTensor{});
}

DLManagedTensorVersioned *toDLPack(const Tensor &tensor) {
  return exportTensor(tensor, tensor.data(), DLDevice{kDLCPU, 0}, tensor.readOnly());
}

DLManagedTensorVersioned *toDLPack(const DeviceTensor &tensor) {
  return exportTensor(tensor,
                      reinterpret_cast<void *>(static_cast<uintptr_t>(tensor.devicePointer())),
                      DLDevice{kDLCUDA, tensor.device()}, false);
}

} // namespace tdsl
