// tdsl::DeviceTensor: a tensor in GPU memory (declared in the public header tdsl/tdsl.h).
#include "runtime/Cuda.h"
#include "tdsl/tdsl.h"

#include <algorithm>
#include <cstdint>
#include <utility>

namespace tdsl {

namespace detail {
/// One allocation on device `device`, freed with the last DeviceTensor that shares it, or a view
/// of memory tdsl does not own (kept alive by `owner`, if any, until then).
struct DeviceStorage {
  runtime::cuda::DevicePtr ptr = 0;
  int device = 0;
  bool owned = true;
  std::shared_ptr<void> owner;
  ~DeviceStorage() {
    if (owned && ptr) // The device was set up by the allocation.
      runtime::cuda::device(device).release(ptr);
  }
};
} // namespace detail

namespace {
void checkSameType(const DeviceTensor &d, const Tensor &h, const char *what) {
  if (d.dtype() != h.dtype() || d.shape() != h.shape())
    throw RuntimeError(std::string(what) + ": device tensor " + d.typeString() +
                       " and host tensor " + h.typeString() + " differ in shape or dtype");
  if (!d.isContiguous())
    throw RuntimeError(std::string(what) + ": the device tensor " + d.typeString() +
                       " is not contiguous; copies between host and device need a contiguous one");
}
} // namespace

DeviceTensor DeviceTensor::empty(std::vector<int64_t> shape, DType dtype, int device) {
  DeviceTensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.storage_ = std::make_shared<detail::DeviceStorage>();
  t.storage_->device = runtime::cuda::resolveOrdinal(device);
  for (int64_t d : t.shape_)
    if (d < 0)
      throw RuntimeError("negative dimension in device tensor shape " + t.typeString());
  runtime::cuda::Device &memory = runtime::cuda::device(device);
  t.storage_->ptr = memory.allocate(t.nbytes(), "device tensor " + t.typeString());
  return t;
}

DeviceTensor DeviceTensor::view(uint64_t devicePointer, std::vector<int64_t> shape, DType dtype,
                                std::vector<int64_t> strides, int device) {
  // The checks and the contiguity of a host view of the same layout (never dereferenced).
  Tensor layout = Tensor::view(reinterpret_cast<void *>(static_cast<uintptr_t>(devicePointer)),
                               shape, dtype, std::move(strides));
  DeviceTensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  if (!layout.isContiguous())
    t.strides_ = layout.strides();
  t.storage_ = std::make_shared<detail::DeviceStorage>();
  t.storage_->ptr = devicePointer;
  t.storage_->device = runtime::cuda::resolveOrdinal(device);
  t.storage_->owned = false;
  return t;
}

DeviceTensor DeviceTensor::withOwner(std::shared_ptr<void> owner) const {
  DeviceTensor t = *this;
  t.storage_ = std::make_shared<detail::DeviceStorage>();
  t.storage_->ptr = devicePointer();
  t.storage_->device = device();
  t.storage_->owned = false;
  // Keeps both this tensor's storage (an allocation, or a view's owner) and the new owner.
  t.storage_->owner = std::make_shared<std::pair<std::shared_ptr<void>, std::shared_ptr<void>>>(
      storage_, std::move(owner));
  return t;
}

std::vector<int64_t> DeviceTensor::strides() const {
  if (!strides_.empty())
    return strides_;
  std::vector<int64_t> rowMajor(shape_.size());
  int64_t step = 1;
  for (size_t d = shape_.size(); d-- > 0;) {
    rowMajor[d] = step;
    step *= std::max<int64_t>(shape_[d], 1);
  }
  return rowMajor;
}

DeviceTensor DeviceTensor::fromHost(const Tensor &host, int device) {
  DeviceTensor t = empty(host.shape(), host.dtype(), device);
  t.copyFrom(host);
  return t;
}

Tensor DeviceTensor::toHost() const {
  Tensor host = Tensor::zeros(shape_, dtype_);
  copyTo(host);
  return host;
}

void DeviceTensor::copyFrom(const Tensor &host) const {
  checkSameType(*this, host, "copyFrom");
  runtime::cuda::device(device()).copyToDevice(devicePointer(), host.contiguous().data(), nbytes());
}

void DeviceTensor::copyTo(const Tensor &host) const {
  checkSameType(*this, host, "copyTo");
  if (host.readOnly())
    throw RuntimeError("copyTo: the host tensor " + host.typeString() + " is a read-only view");
  runtime::cuda::Device &memory = runtime::cuda::device(device());
  if (host.isContiguous())
    return memory.copyToHost(host.data(), devicePointer(), nbytes());
  Tensor dense = Tensor::zeros(shape_, dtype_);
  memory.copyToHost(dense.data(), devicePointer(), nbytes());
  host.copyFrom(dense);
}

int64_t DeviceTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape_)
    n *= d;
  return n;
}

uint64_t DeviceTensor::devicePointer() const { return storage_ ? storage_->ptr : 0; }

int DeviceTensor::device() const { return storage_ ? storage_->device : 0; }

std::string DeviceTensor::typeString() const {
  std::string s = std::string(dtypeName(dtype_)) + "[";
  for (size_t i = 0; i < shape_.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape_[i]);
  return s + "] (cuda:" + std::to_string(device()) + ")";
}

} // namespace tdsl
