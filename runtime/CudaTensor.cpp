// tdsl::DeviceTensor: a tensor in GPU memory (declared in the public header tdsl/tdsl.h).
#include "runtime/Cuda.h"
#include "tdsl/tdsl.h"

namespace tdsl {

namespace detail {
/// One device allocation, freed with the last DeviceTensor that shares it.
struct DeviceStorage {
  runtime::cuda::DevicePtr ptr = 0;
  ~DeviceStorage() { runtime::cuda::release(ptr); }
};
} // namespace detail

namespace {
void checkSameType(const DeviceTensor &d, const Tensor &h, const char *what) {
  if (d.dtype() != h.dtype() || d.shape() != h.shape())
    throw RuntimeError(std::string(what) + ": device tensor " + d.typeString() +
                       " and host tensor " + h.typeString() + " differ in shape or dtype");
}
} // namespace

DeviceTensor DeviceTensor::empty(std::vector<int64_t> shape, DType dtype) {
  DeviceTensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  for (int64_t d : t.shape_)
    if (d < 0)
      throw RuntimeError("negative dimension in device tensor shape " + t.typeString());
  t.storage_ = std::make_shared<detail::DeviceStorage>();
  t.storage_->ptr = runtime::cuda::allocate(t.nbytes(), "device tensor " + t.typeString());
  return t;
}

DeviceTensor DeviceTensor::fromHost(const Tensor &host) {
  DeviceTensor t = empty(host.shape(), host.dtype());
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
  runtime::cuda::copyToDevice(devicePointer(), host.data(), nbytes());
}

void DeviceTensor::copyTo(const Tensor &host) const {
  checkSameType(*this, host, "copyTo");
  runtime::cuda::copyToHost(host.data(), devicePointer(), nbytes());
}

int64_t DeviceTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape_)
    n *= d;
  return n;
}

uint64_t DeviceTensor::devicePointer() const { return storage_ ? storage_->ptr : 0; }

std::string DeviceTensor::typeString() const {
  std::string s = std::string(dtypeName(dtype_)) + "[";
  for (size_t i = 0; i < shape_.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape_[i]);
  return s + "] (cuda)";
}

} // namespace tdsl
