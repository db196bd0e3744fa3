// Host tensors: owned 64-byte-aligned storage or views over caller memory, element access that
// converts like the language's casts, and seeded random data.
#include "tdsl/Tensor.h"

#include "runtime/FloatFormat.h"
#include "runtime/HostMemory.h"
#include "runtime/Random.h"
#include "tdsl/Diagnostics.h"

#include <bit>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace tdsl {

using namespace runtime;

namespace {

std::string formatType(const std::vector<int64_t> &shape, DType dtype) {
  std::string out(dtypeName(dtype));
  if (shape.empty())
    return out;
  out += '[';
  for (size_t i = 0; i < shape.size(); ++i)
    out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + ']';
}

/// The element count of a valid shape; throws for negative dimensions and for sizes whose byte
/// count (rounded up to the 64-byte alignment) does not fit 63 bits.
int64_t checkedNumel(const std::vector<int64_t> &shape, DType dtype) {
  bool empty = false;
  for (int64_t d : shape) {
    if (d < 0)
      throw RuntimeError("invalid tensor shape " + formatType(shape, dtype) +
                         ": dimensions must not be negative");
    empty |= d == 0;
  }
  if (empty)
    return 0;
  const int64_t maxBytes = std::numeric_limits<int64_t>::max() - 63;
  const int64_t maxNumel = maxBytes / byteSize(dtype);
  int64_t n = 1;
  for (int64_t d : shape) {
    if (n > maxNumel / d)
      throw RuntimeError("tensor " + formatType(shape, dtype) +
                         " is too large: its size in bytes overflows 64 bits");
    n *= d;
  }
  return n;
}

template <typename T> T load(const void *data, int64_t i) {
  T value;
  std::memcpy(&value, static_cast<const char *>(data) + i * int64_t(sizeof(T)), sizeof(T));
  return value;
}

template <typename T> void store(void *data, int64_t i, T value) {
  std::memcpy(static_cast<char *>(data) + i * int64_t(sizeof(T)), &value, sizeof(T));
}

} // namespace

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape_)
    n *= d; // Checked when the tensor was made.
  return n;
}

Tensor Tensor::zeros(std::vector<int64_t> shape, DType dtype) {
  const int64_t n = checkedNumel(shape, dtype);
  const size_t bytes = size_t(n) * size_t(byteSize(dtype));
  // Never zero bytes, so an owned tensor always has a data pointer (allocateHost gives 64).
  auto [memory, allocated] = allocateHost(bytes);
  if (!memory)
    throw RuntimeError("cannot allocate " + std::to_string(bytes) + " bytes for " +
                       formatType(shape, dtype));
  std::memset(memory, 0, allocated);
  Tensor t;
  t.storage_ = std::shared_ptr<void>(memory, std::free);
  t.data_ = memory;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::randn(std::vector<int64_t> shape, DType dtype, uint64_t seed) {
  Tensor t = zeros(std::move(shape), dtype);
  Random rng(seed);
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    if (isFloat(dtype))
      t.set(i, rng.normal()); // One rounding from double, also for f16 and bf16.
    else if (dtype == DType::Bool)
      t.setInt(i, int64_t(rng.next() >> 63));
    else if (byteSize(dtype) <= 2) // Small integers span their range, as pixels do.
      t.setInt(i, rng.uniformInt(intMin(dtype), intMax(dtype)));
    else
      t.setInt(i, rng.uniformInt(-8, 8));
  }
  return t;
}

Tensor Tensor::scalar(double value, DType dtype) {
  Tensor t = zeros({}, dtype);
  t.set(0, value);
  return t;
}

Tensor Tensor::view(void *data, std::vector<int64_t> shape, DType dtype) {
  const int64_t n = checkedNumel(shape, dtype);
  if (!data && n > 0)
    throw RuntimeError("cannot make a view of " + formatType(shape, dtype) + " over null data");
  Tensor t;
  t.data_ = data;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  return t;
}

std::string Tensor::typeString() const { return formatType(shape_, dtype_); }

namespace {
[[noreturn]] void throwBadIndex(int64_t index, const Tensor &t) {
  if (!t.data())
    throw RuntimeError("cannot access element " + std::to_string(index) + " of a tensor " +
                       t.typeString() + " that has no data");
  throw RuntimeError("element index " + std::to_string(index) + " is out of range for " +
                     t.typeString() + " (" + std::to_string(t.numel()) + " elements)");
}
} // namespace

double Tensor::at(int64_t i) const {
  if (i < 0 || i >= numel() || !data_)
    throwBadIndex(i, *this);
  switch (dtype_) {
  case DType::F16:
    return halfToFloat(load<uint16_t>(data_, i));
  case DType::BF16:
    return bfloat16ToFloat(load<uint16_t>(data_, i));
  case DType::F32:
    return load<float>(data_, i);
  case DType::F64:
    return load<double>(data_, i);
  case DType::I32:
    return load<int32_t>(data_, i);
  case DType::I64:
    return double(load<int64_t>(data_, i));
  case DType::Bool:
    return load<uint8_t>(data_, i) != 0 ? 1.0 : 0.0;
  case DType::U8:
  case DType::I8:
  case DType::I16:
    return double(atInt(i));
  }
  return 0;
}

void Tensor::set(int64_t i, double value) {
  if (i < 0 || i >= numel() || !data_)
    throwBadIndex(i, *this);
  switch (dtype_) {
  case DType::F16:
    return store(data_, i, doubleToHalf(value));
  case DType::BF16:
    return store(data_, i, doubleToBFloat16(value));
  case DType::F32:
    return store(data_, i, doubleToFloat(value));
  case DType::F64:
    return store(data_, i, value);
  case DType::I32:
  case DType::I64:
  case DType::U8:
  case DType::I8:
  case DType::I16:
    return setInt(i, doubleToIntSaturating(value, dtype_));
  case DType::Bool:
    return store(data_, i, uint8_t(value != 0)); // NaN != 0: true, like the language's bool(x).
  }
}

int64_t Tensor::atInt(int64_t i) const {
  if (i < 0 || i >= numel() || !data_)
    throwBadIndex(i, *this);
  switch (dtype_) {
  case DType::I32:
    return load<int32_t>(data_, i);
  case DType::I64:
    return load<int64_t>(data_, i);
  case DType::Bool:
    return load<uint8_t>(data_, i) != 0;
  case DType::U8:
    return load<uint8_t>(data_, i);
  case DType::I8:
    return load<int8_t>(data_, i);
  case DType::I16:
    return load<int16_t>(data_, i);
  default:
    return doubleToIntSaturating(at(i), DType::I64); // Floats read as the cast i64(x) would.
  }
}

void Tensor::setInt(int64_t i, int64_t value) {
  if (i < 0 || i >= numel() || !data_)
    throwBadIndex(i, *this);
  switch (dtype_) {
  case DType::F16:
    return store(data_, i, uint16_t(int64ToFloatBits(kHalf, value)));
  case DType::BF16:
    return store(data_, i, uint16_t(int64ToFloatBits(kBFloat16, value)));
  case DType::F32:
    return store(data_, i, std::bit_cast<float>(uint32_t(int64ToFloatBits(kSingle, value))));
  case DType::F64:
    return store(data_, i, std::bit_cast<double>(int64ToFloatBits(kDouble, value)));
  // Integer narrowing wraps (two's complement), like an integer cast in the language.
  case DType::I32:
    return store(data_, i, int32_t(wrapInt(dtype_, uint64_t(value))));
  case DType::I64:
    return store(data_, i, value);
  case DType::I16:
    return store(data_, i, int16_t(wrapInt(dtype_, uint64_t(value))));
  case DType::I8:
    return store(data_, i, int8_t(wrapInt(dtype_, uint64_t(value))));
  case DType::U8:
    return store(data_, i, uint8_t(wrapInt(dtype_, uint64_t(value))));
  case DType::Bool:
    return store(data_, i, uint8_t(value != 0));
  }
}

} // namespace tdsl
