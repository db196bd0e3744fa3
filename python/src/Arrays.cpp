// Python arrays as tdsl tensors and back (Arrays.h).
#include "python/src/Arrays.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace tdsl::python {

namespace {

using nb::dlpack::dtype_code;

constexpr nb::dlpack::dtype dlpackDType(dtype_code code, int bits) {
  return nb::dlpack::dtype{static_cast<uint8_t>(code), static_cast<uint8_t>(bits), 1};
}

/// Row-major strides in bytes of `shape` for elements of `itemSize` bytes.
std::vector<int64_t> denseByteStrides(const int64_t *shape, size_t rank, int64_t itemSize) {
  std::vector<int64_t> strides(rank);
  int64_t stride = itemSize;
  for (size_t d = rank; d-- > 0;) {
    strides[d] = stride;
    stride *= shape[d];
  }
  return strides;
}

/// Copies every element between two layouts of one shape (strides in bytes).
void copyElements(char *to, const int64_t *toStrides, const char *from, const int64_t *fromStrides,
                  const int64_t *shape, size_t rank, size_t itemSize) {
  for (size_t d = 0; d < rank; ++d)
    if (shape[d] == 0)
      return;
  if (rank == 0) {
    std::memcpy(to, from, itemSize);
    return;
  }
  std::vector<int64_t> index(rank, 0);
  const int64_t inner = shape[rank - 1];
  while (true) {
    char *t = to;
    const char *f = from;
    for (size_t d = 0; d + 1 < rank; ++d) {
      t += index[d] * toStrides[d];
      f += index[d] * fromStrides[d];
    }
    for (int64_t i = 0; i < inner; ++i)
      std::memcpy(t + i * toStrides[rank - 1], f + i * fromStrides[rank - 1], itemSize);
    size_t d = rank - 1;
    while (d > 0 && ++index[d - 1] == shape[d - 1])
      index[--d] = 0;
    if (d == 0)
      return;
  }
}

std::vector<int64_t> byteStrides(const int64_t *elementStrides, size_t rank, int64_t itemSize) {
  std::vector<int64_t> strides(rank);
  for (size_t d = 0; d < rank; ++d)
    strides[d] = elementStrides[d] * itemSize;
  return strides;
}

template <typename FrameworkTag>
nb::object exportArray(void *data, const std::vector<size_t> &shape, nb::handle owner,
                       nb::dlpack::dtype dtype) {
  nb::ndarray<FrameworkTag> array(data, shape.size(), shape.data(), owner, nullptr, dtype,
                                  nb::device::cpu::value);
  return nb::cast(array);
}

nb::object exportArray(void *data, const std::vector<int64_t> &shape, nb::handle owner, DType dtype,
                       Framework framework) {
  std::vector<size_t> dims(shape.begin(), shape.end());
  nb::dlpack::dtype dl = dtypeToDLPack(dtype, framework);
  switch (framework) {
  case Framework::NumPy:
    return exportArray<nb::numpy>(data, dims, owner, dl);
  case Framework::Torch:
    return exportArray<nb::pytorch>(data, dims, owner, dl);
  case Framework::Jax:
    return exportArray<nb::jax>(data, dims, owner, dl);
  }
  return {};
}

} // namespace

namespace {
/// numpy.ndarray, looked up once when the module is imported: most arguments are NumPy arrays.
PyTypeObject *numpyArrayType = nullptr;
} // namespace

void findNumPy() {
  nb::object type = nb::module_::import_("numpy").attr("ndarray");
  numpyArrayType = reinterpret_cast<PyTypeObject *>(type.release().ptr());
}

Framework frameworkOf(nb::handle array) {
  if (Py_TYPE(array.ptr()) == numpyArrayType)
    return Framework::NumPy;
  nb::object module = nb::getattr(array.type(), "__module__", nb::none());
  if (!nb::isinstance<nb::str>(module))
    return Framework::NumPy;
  std::string name = nb::cast<std::string>(module);
  if (name.rfind("torch", 0) == 0)
    return Framework::Torch;
  if (name.rfind("jax", 0) == 0)
    return Framework::Jax;
  return Framework::NumPy;
}

std::optional<DType> dtypeFromDLPack(nb::dlpack::dtype dtype) {
  if (dtype.lanes != 1)
    return std::nullopt;
  switch (static_cast<dtype_code>(dtype.code)) {
  case dtype_code::Float:
    if (dtype.bits == 16)
      return DType::F16;
    if (dtype.bits == 32)
      return DType::F32;
    if (dtype.bits == 64)
      return DType::F64;
    break;
  case dtype_code::Bfloat:
    if (dtype.bits == 16)
      return DType::BF16;
    break;
  case dtype_code::Int:
    if (dtype.bits == 8)
      return DType::I8;
    if (dtype.bits == 16)
      return DType::I16;
    if (dtype.bits == 32)
      return DType::I32;
    if (dtype.bits == 64)
      return DType::I64;
    break;
  case dtype_code::UInt:
    if (dtype.bits == 8)
      return DType::U8;
    break;
  case dtype_code::Bool:
    if (dtype.bits == 8)
      return DType::Bool;
    break;
  default:
    break;
  }
  return std::nullopt;
}

nb::dlpack::dtype dtypeToDLPack(DType dtype, Framework framework) {
  switch (dtype) {
  case DType::F16:
    return dlpackDType(dtype_code::Float, 16);
  case DType::BF16:
    return framework == Framework::NumPy ? dlpackDType(dtype_code::UInt, 16)
                                         : dlpackDType(dtype_code::Bfloat, 16);
  case DType::F32:
    return dlpackDType(dtype_code::Float, 32);
  case DType::F64:
    return dlpackDType(dtype_code::Float, 64);
  case DType::I32:
    return dlpackDType(dtype_code::Int, 32);
  case DType::I64:
    return dlpackDType(dtype_code::Int, 64);
  case DType::Bool:
    return dlpackDType(dtype_code::Bool, 8);
  case DType::U8:
    return dlpackDType(dtype_code::UInt, 8);
  case DType::I8:
    return dlpackDType(dtype_code::Int, 8);
  case DType::I16:
    return dlpackDType(dtype_code::Int, 16);
  }
  return {};
}

bool isRowMajor(const nb::ndarray<nb::ro> &array) {
  int64_t expected = 1;
  for (size_t d = array.ndim(); d-- > 0;) {
    int64_t extent = static_cast<int64_t>(array.shape(d));
    if (extent == 0)
      return true;
    if (extent != 1 && array.stride(d) != expected)
      return false;
    expected *= extent;
  }
  return true;
}

void copyToDense(const nb::ndarray<nb::ro> &from, const Tensor &to) {
  const int64_t itemSize = byteSize(to.dtype());
  std::vector<int64_t> fromStrides = byteStrides(from.stride_ptr(), from.ndim(), itemSize);
  std::vector<int64_t> toStrides = denseByteStrides(from.shape_ptr(), from.ndim(), itemSize);
  copyElements(static_cast<char *>(to.data()), toStrides.data(),
               static_cast<const char *>(from.data()), fromStrides.data(), from.shape_ptr(),
               from.ndim(), itemSize);
}

void copyFromDense(const Tensor &from, const nb::ndarray<> &to) {
  const int64_t itemSize = byteSize(from.dtype());
  std::vector<int64_t> toStrides = byteStrides(to.stride_ptr(), to.ndim(), itemSize);
  std::vector<int64_t> fromStrides = denseByteStrides(to.shape_ptr(), to.ndim(), itemSize);
  copyElements(static_cast<char *>(to.data()), toStrides.data(),
               static_cast<const char *>(from.data()), fromStrides.data(), to.shape_ptr(),
               to.ndim(), itemSize);
}

nb::object newArray(const std::vector<int64_t> &shape, DType dtype, Framework framework,
                    Tensor &tensor) {
  constexpr size_t kAlignment = 64; // A cache line, as tdsl's own tensors.
  size_t bytes = byteSize(dtype);
  for (int64_t extent : shape)
    bytes *= static_cast<size_t>(extent);
  size_t padded = (std::max<size_t>(bytes, 1) + kAlignment - 1) / kAlignment * kAlignment;
  void *data = std::aligned_alloc(kAlignment, padded);
  if (!data)
    throw std::bad_alloc();
  nb::capsule owner(data, [](void *p) noexcept { std::free(p); });
  tensor = Tensor::view(data, shape, dtype);
  return exportArray(data, shape, owner, dtype, framework);
}

nb::object arrayOf(const Tensor &tensor, Framework framework) {
  auto *kept = new Tensor(tensor);
  nb::capsule owner(kept, [](void *p) noexcept { delete static_cast<Tensor *>(p); });
  return exportArray(tensor.data(), tensor.shape(), owner, tensor.dtype(), framework);
}

} // namespace tdsl::python
