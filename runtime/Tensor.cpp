// Host tensors: owned 64-byte-aligned storage or views over caller memory, element access that
// converts like the language's casts, and seeded random data.
#include "tdsl/Tensor.h"

#include "runtime/FloatFormat.h"
#include "runtime/HostMemory.h"
#include "runtime/Random.h"
#include "tdsl/Diagnostics.h"

#include <algorithm>
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

template <typename T> T load(const void *data, int64_t byteOffset) {
  T value;
  std::memcpy(&value, static_cast<const char *>(data) + byteOffset, sizeof(T));
  return value;
}

template <typename T> void store(void *data, int64_t byteOffset, T value) {
  std::memcpy(static_cast<char *>(data) + byteOffset, &value, sizeof(T));
}

std::string formatList(const std::vector<int64_t> &values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i)
    out += (i ? ", " : "") + std::to_string(values[i]);
  return out + ']';
}

/// Row-major strides of `shape`, in elements.
std::vector<int64_t> rowMajorStrides(const std::vector<int64_t> &shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t step = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    strides[d] = step;
    step *= std::max<int64_t>(shape[d], 1); // The product is bounded by checkedNumel.
  }
  return strides;
}

/// Whether `strides` lay out `shape` row-major without gaps (see Tensor::isContiguous).
bool isRowMajor(const std::vector<int64_t> &shape, const std::vector<int64_t> &strides) {
  if (std::find(shape.begin(), shape.end(), 0) != shape.end())
    return true;
  int64_t expected = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    if (shape[d] != 1 && strides[d] != expected)
      return false;
    expected *= shape[d];
  }
  return true;
}

/// Copies the elements of `shape` from `src` to `dst`, each addressed with its own strides (in
/// elements of `Word`), innermost dim fastest.
template <typename Word>
void copyElements(char *dst, const int64_t *dstStrides, const char *src, const int64_t *srcStrides,
                  const std::vector<int64_t> &shape) {
  const size_t rank = shape.size();
  if (rank == 0) {
    std::memcpy(dst, src, sizeof(Word));
    return;
  }
  std::vector<int64_t> index(rank, 0);
  const int64_t inner = shape[rank - 1];
  const int64_t dstStep = dstStrides[rank - 1], srcStep = srcStrides[rank - 1];
  while (true) {
    int64_t dstAt = 0, srcAt = 0;
    for (size_t d = 0; d + 1 < rank; ++d) {
      dstAt += index[d] * dstStrides[d];
      srcAt += index[d] * srcStrides[d];
    }
    Word *to = reinterpret_cast<Word *>(dst) + dstAt;
    const Word *from = reinterpret_cast<const Word *>(src) + srcAt;
    for (int64_t i = 0; i < inner; ++i) {
      Word w;
      std::memcpy(&w, from + i * srcStep, sizeof(Word));
      std::memcpy(to + i * dstStep, &w, sizeof(Word));
    }
    size_t d = rank - 1;
    while (d-- > 0 && ++index[d] == shape[d])
      index[d] = 0;
    if (d == SIZE_MAX)
      return;
  }
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

Tensor Tensor::view(void *data, std::vector<int64_t> shape, DType dtype,
                    std::vector<int64_t> strides) {
  const int64_t n = checkedNumel(shape, dtype);
  if (!data && n > 0)
    throw RuntimeError("cannot make a view of " + formatType(shape, dtype) + " over null data");
  if (!strides.empty() && strides.size() != shape.size())
    throw RuntimeError("cannot make a view of " + formatType(shape, dtype) + " with strides " +
                       formatList(strides) + ": one stride per dim is needed");
  if (!strides.empty() && n > 0) {
    // The farthest element's byte offset, either side of data, must fit 63 bits.
    int64_t reach = 0;
    for (size_t d = 0; d < shape.size(); ++d) {
      int64_t span;
      if (strides[d] == std::numeric_limits<int64_t>::min() ||
          __builtin_mul_overflow(shape[d] - 1, std::abs(strides[d]), &span) ||
          __builtin_add_overflow(reach, span, &reach) ||
          __builtin_mul_overflow(reach, int64_t(byteSize(dtype)), &span))
        throw RuntimeError("cannot make a view of " + formatType(shape, dtype) + " with strides " +
                           formatList(strides) + ": its elements' addresses overflow 64 bits");
    }
  }
  Tensor t;
  t.data_ = data;
  if (!strides.empty() && !isRowMajor(shape, strides))
    t.strides_ = std::move(strides);
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::view(const void *data, std::vector<int64_t> shape, DType dtype,
                    std::vector<int64_t> strides) {
  // Never written through: set() and kernel outputs check readOnly_.
  Tensor t = view(const_cast<void *>(data), std::move(shape), dtype, std::move(strides));
  t.readOnly_ = true;
  return t;
}

Tensor Tensor::withOwner(std::shared_ptr<void> owner) const {
  Tensor t = *this;
  t.storage_ = std::move(owner);
  return t;
}

std::vector<int64_t> Tensor::strides() const {
  return strides_.empty() ? rowMajorStrides(shape_) : strides_;
}

int64_t Tensor::byteOffset(int64_t flatIndex) const {
  const int64_t size = byteSize(dtype_);
  if (strides_.empty())
    return flatIndex * size;
  int64_t offset = 0;
  for (size_t d = shape_.size(); d-- > 0;) {
    offset += flatIndex % shape_[d] * strides_[d];
    flatIndex /= shape_[d];
  }
  return offset * size;
}

std::pair<const char *, const char *> Tensor::byteRange() const {
  const char *first = static_cast<const char *>(data_);
  if (numel() == 0)
    return {first, first};
  const std::vector<int64_t> steps = strides();
  int64_t low = 0, high = 0; // In elements, from data_.
  for (size_t d = 0; d < shape_.size(); ++d)
    (steps[d] < 0 ? low : high) += steps[d] * (shape_[d] - 1);
  const int64_t size = byteSize(dtype_);
  return {first + low * size, first + (high + 1) * size};
}

Tensor Tensor::contiguous() const {
  if (isContiguous())
    return *this;
  Tensor dense = zeros(shape_, dtype_);
  dense.copyFrom(*this);
  return dense;
}

void Tensor::copyFrom(const Tensor &source) const {
  if (source.shape_ != shape_ || source.dtype_ != dtype_)
    throw RuntimeError("cannot copy a tensor " + source.typeString() + " into " + typeString() +
                       ": shapes and dtypes must be equal");
  if (readOnly_)
    throw RuntimeError("cannot copy into the read-only view " + typeString());
  if (numel() == 0)
    return;
  if (isContiguous() && source.isContiguous()) {
    std::memmove(data_, source.data_, nbytes());
    return;
  }
  const std::vector<int64_t> to = strides(), from = source.strides();
  char *dst = static_cast<char *>(data_);
  const char *src = static_cast<const char *>(source.data_);
  switch (byteSize(dtype_)) {
  case 1:
    return copyElements<uint8_t>(dst, to.data(), src, from.data(), shape_);
  case 2:
    return copyElements<uint16_t>(dst, to.data(), src, from.data(), shape_);
  case 4:
    return copyElements<uint32_t>(dst, to.data(), src, from.data(), shape_);
  default:
    return copyElements<uint64_t>(dst, to.data(), src, from.data(), shape_);
  }
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
  const int64_t offset = byteOffset(i);
  switch (dtype_) {
  case DType::F16:
    return halfToFloat(load<uint16_t>(data_, offset));
  case DType::BF16:
    return bfloat16ToFloat(load<uint16_t>(data_, offset));
  case DType::F32:
    return load<float>(data_, offset);
  case DType::F64:
    return load<double>(data_, offset);
  case DType::I32:
    return load<int32_t>(data_, offset);
  case DType::I64:
    return double(load<int64_t>(data_, offset));
  case DType::Bool:
    return load<uint8_t>(data_, offset) != 0 ? 1.0 : 0.0;
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
  if (readOnly_)
    throw RuntimeError("cannot set element " + std::to_string(i) + " of the read-only view " +
                       typeString());
  const int64_t offset = byteOffset(i);
  switch (dtype_) {
  case DType::F16:
    return store(data_, offset, doubleToHalf(value));
  case DType::BF16:
    return store(data_, offset, doubleToBFloat16(value));
  case DType::F32:
    return store(data_, offset, doubleToFloat(value));
  case DType::F64:
    return store(data_, offset, value);
  case DType::I32:
  case DType::I64:
  case DType::U8:
  case DType::I8:
  case DType::I16:
    return setInt(i, doubleToIntSaturating(value, dtype_));
  case DType::Bool:
    return store(data_, offset,
                 uint8_t(value != 0)); // NaN != 0: true, like the language's bool(x).
  }
}

int64_t Tensor::atInt(int64_t i) const {
  if (i < 0 || i >= numel() || !data_)
    throwBadIndex(i, *this);
  const int64_t offset = byteOffset(i);
  switch (dtype_) {
  case DType::I32:
    return load<int32_t>(data_, offset);
  case DType::I64:
    return load<int64_t>(data_, offset);
  case DType::Bool:
    return load<uint8_t>(data_, offset) != 0;
  case DType::U8:
    return load<uint8_t>(data_, offset);
  case DType::I8:
    return load<int8_t>(data_, offset);
  case DType::I16:
    return load<int16_t>(data_, offset);
  default:
    return doubleToIntSaturating(at(i), DType::I64); // Floats read as the cast i64(x) would.
  }
}

void Tensor::setInt(int64_t i, int64_t value) {
  if (i < 0 || i >= numel() || !data_)
    throwBadIndex(i, *this);
  if (readOnly_)
    throw RuntimeError("cannot set element " + std::to_string(i) + " of the read-only view " +
                       typeString());
  const int64_t offset = byteOffset(i);
  switch (dtype_) {
  case DType::F16:
    return store(data_, offset, uint16_t(int64ToFloatBits(kHalf, value)));
  case DType::BF16:
    return store(data_, offset, uint16_t(int64ToFloatBits(kBFloat16, value)));
  case DType::F32:
    return store(data_, offset, std::bit_cast<float>(uint32_t(int64ToFloatBits(kSingle, value))));
  case DType::F64:
    return store(data_, offset, std::bit_cast<double>(int64ToFloatBits(kDouble, value)));
  // Integer narrowing wraps (two's complement), like an integer cast in the language.
  case DType::I32:
    return store(data_, offset, int32_t(wrapInt(dtype_, uint64_t(value))));
  case DType::I64:
    return store(data_, offset, value);
  case DType::I16:
    return store(data_, offset, int16_t(wrapInt(dtype_, uint64_t(value))));
  case DType::I8:
    return store(data_, offset, int8_t(wrapInt(dtype_, uint64_t(value))));
  case DType::U8:
    return store(data_, offset, uint8_t(wrapInt(dtype_, uint64_t(value))));
  case DType::Bool:
    return store(data_, offset, uint8_t(value != 0));
  }
}

} // namespace tdsl
