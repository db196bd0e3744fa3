// Python arrays as tdsl tensors and back (Arrays.h).
#include "python/src/Arrays.h"

#include <algorithm>
#include <cstdlib>

namespace tdsl::python {

namespace {

using nb::dlpack::dtype_code;

constexpr nb::dlpack::dtype dlpackDType(dtype_code code, int bits) {
  return nb::dlpack::dtype{static_cast<uint8_t>(code), static_cast<uint8_t>(bits), 1};
}

std::vector<int64_t> toByteStrides(const int64_t *elementStrides, size_t rank, int64_t itemSize) {
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
/// What the NumPy fast paths use, looked up at import (findNumPy): most arguments are NumPy
/// arrays, and most results are made by numpy.empty.
PyTypeObject *numpyArrayType = nullptr;
PyObject *numpyEmpty = nullptr;
PyObject *numpyDTypes[10] = {}; // By DType: numpy.dtype of its NumPy stand-in.

/// The DLPack dtype of a buffer's struct-module format ("f", "<i8", "?", ...); code 255 for
/// one tdsl cannot read (big-endian, unsigned wider than 16 bits, complex, records, ...).
nb::dlpack::dtype dtypeOfFormat(const char *format, Py_ssize_t itemSize) {
  constexpr nb::dlpack::dtype unknown{255, 0, 1};
  if (!format)
    return dlpackDType(dtype_code::UInt, 8); // Plain bytes.
  if (*format == '@' || *format == '=' || *format == '<' || *format == '|')
    ++format;
  if (format[0] == 0 || format[1] != 0)
    return unknown;
  int bits = static_cast<int>(itemSize * 8);
  switch (format[0]) {
  case 'e':
  case 'f':
  case 'd':
    return dlpackDType(dtype_code::Float, bits);
  case '?':
    return dlpackDType(dtype_code::Bool, bits);
  case 'b':
  case 'h':
  case 'i':
  case 'l':
  case 'q':
  case 'n':
    return dlpackDType(dtype_code::Int, bits);
  case 'B':
  case 'H':
    return dlpackDType(dtype_code::UInt, bits);
  default:
    return unknown;
  }
}
} // namespace

void findNumPy() {
  nb::module_ numpy = nb::module_::import_("numpy");
  numpyArrayType =
      reinterpret_cast<PyTypeObject *>(nb::object(numpy.attr("ndarray")).release().ptr());
  numpyEmpty = nb::object(numpy.attr("empty")).release().ptr();
  const char *names[] = {"float16", "uint16", "float32", "float64", "int32",
                         "int64",   "bool",   "uint8",   "int8",    "int16"};
  static_assert(static_cast<int>(DType::F16) == 0 && static_cast<int>(DType::BF16) == 1 &&
                static_cast<int>(DType::I16) == 9);
  for (int d = 0; d < 10; ++d)
    numpyDTypes[d] = numpy.attr("dtype")(names[d]).release().ptr();
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

HeldArray::HeldArray(HeldArray &&other) noexcept
    : buffer_(other.buffer_), hasBuffer_(other.hasBuffer_), dlpack_(std::move(other.dlpack_)),
      dlpackByteStrides_(std::move(other.dlpackByteStrides_)), data_(other.data_),
      rank_(other.rank_), shape_(other.shape_), byteStrides_(other.byteStrides_),
      dtype_(other.dtype_), deviceType_(other.deviceType_), deviceId_(other.deviceId_) {
  other.hasBuffer_ = false;
}

HeldArray::~HeldArray() {
  if (hasBuffer_)
    PyBuffer_Release(&buffer_);
}

HeldArray::Status HeldArray::acquire(nb::handle object, bool writable) {
  static_assert(sizeof(Py_ssize_t) == sizeof(int64_t));
  PyObject *o = object.ptr();
  if (PyObject_CheckBuffer(o)) {
    if (PyObject_GetBuffer(o, &buffer_, writable ? PyBUF_RECORDS : PyBUF_RECORDS_RO) != 0) {
      PyErr_Clear();
      if (writable && PyObject_GetBuffer(o, &buffer_, PyBUF_RECORDS_RO) == 0) {
        PyBuffer_Release(&buffer_);
        return Status::ReadOnly;
      }
      PyErr_Clear();
      return Status::NotAnArray;
    }
    hasBuffer_ = true;
    data_ = buffer_.buf;
    dtype_ = dtypeOfFormat(buffer_.format, buffer_.itemsize);
    rank_ = static_cast<size_t>(buffer_.ndim);
    shape_ = reinterpret_cast<const int64_t *>(buffer_.shape);
    byteStrides_ = reinterpret_cast<const int64_t *>(buffer_.strides);
    return Status::Ok;
  }
  nb::ndarray<nb::ro> readOnly;
  if (writable ? !nb::try_cast(object, dlpack_, /*convert=*/false)
               : !nb::try_cast(object, readOnly, /*convert=*/false)) {
    return writable && nb::try_cast(object, readOnly, false) ? Status::ReadOnly
                                                             : Status::NotAnArray;
  }
  if (!writable)
    dlpack_ = nb::ndarray<>(readOnly);
  data_ = const_cast<void *>(static_cast<const void *>(dlpack_.data()));
  dtype_ = dlpack_.dtype();
  deviceType_ = dlpack_.device_type();
  deviceId_ = dlpack_.device_id();
  rank_ = dlpack_.ndim();
  shape_ = dlpack_.shape_ptr();
  dlpackByteStrides_ = toByteStrides(dlpack_.stride_ptr(), rank_, (dtype_.bits + 7) / 8);
  byteStrides_ = dlpackByteStrides_.data();
  return Status::Ok;
}

bool HeldArray::isRowMajor() const {
  int64_t expected = (dtype_.bits + 7) / 8;
  for (size_t d = rank_; d-- > 0;) {
    if (shape_[d] == 0)
      return true;
    if (shape_[d] != 1 && byteStrides_[d] != expected)
      return false;
    expected *= shape_[d];
  }
  return true;
}

std::optional<std::vector<int64_t>> HeldArray::elementStrides() const {
  int64_t itemSize = (dtype_.bits + 7) / 8;
  std::vector<int64_t> strides(rank_);
  for (size_t d = 0; d < rank_; ++d) {
    if (itemSize == 0 || byteStrides_[d] % itemSize != 0)
      return std::nullopt;
    strides[d] = byteStrides_[d] / itemSize;
  }
  return strides;
}

nb::object newArray(const std::vector<int64_t> &shape, DType dtype, Framework framework,
                    Tensor &tensor) {
  if (framework == Framework::NumPy) { // numpy.empty: the cheapest NumPy array there is.
    nb::object dims = nb::steal(PyTuple_New(static_cast<Py_ssize_t>(shape.size())));
    for (size_t d = 0; d < shape.size(); ++d)
      PyTuple_SET_ITEM(dims.ptr(), d, PyLong_FromLongLong(shape[d]));
    PyObject *args[] = {dims.ptr(), numpyDTypes[static_cast<int>(dtype)]};
    nb::object array = nb::steal(PyObject_Vectorcall(numpyEmpty, args, 2, nullptr));
    if (!array.is_valid())
      throw nb::python_error();
    Py_buffer buffer;
    if (PyObject_GetBuffer(array.ptr(), &buffer, PyBUF_SIMPLE | PyBUF_WRITABLE) != 0)
      throw nb::python_error();
    void *data = buffer.buf; // Stays valid: the array owns its memory and lives on.
    PyBuffer_Release(&buffer);
    tensor = Tensor::view(data, shape, dtype);
    return array;
  }
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
