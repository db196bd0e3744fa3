// Python arrays as tdsl tensors and back. An argument is read through the buffer protocol when
// it has one (NumPy arrays: the cheapest way in, a few tens of nanoseconds) and otherwise through
// `__dlpack__` or a DLPack capsule with nanobind's ndarray (PyTorch, JAX, CuPy): the caller's
// memory either way, viewed with its strides (Tensor::view; Kernel::run copies a layout that is not
// row-major once, into or out of a dense buffer). Results are made for the caller's library.
#pragma once

#include "tdsl/Tensor.h"

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <optional>
#include <vector>

namespace tdsl::python {

namespace nb = nanobind;

/// The array library whose arrays a call's results are: the first array argument's.
enum class Framework { NumPy, Torch, Jax };

/// Looks up what the fast paths need from NumPy (numpy.ndarray, numpy.empty, the dtypes), at
/// import under the GIL.
void findNumPy();

/// The library `array` belongs to; anything that is not torch's or JAX's gets NumPy results.
Framework frameworkOf(nb::handle array);

/// The tdsl dtype of a DLPack dtype; nullopt for dtypes tdsl has not (u16, complex, ...).
std::optional<DType> dtypeFromDLPack(nb::dlpack::dtype dtype);
/// The DLPack dtype an array of `dtype` has in `framework`. NumPy has no bf16: a bf16 tensor is
/// a NumPy uint16 array of its bits (tdsl has no u16, so the two never meet otherwise).
nb::dlpack::dtype dtypeToDLPack(DType dtype, Framework framework);

/// One array argument, held (its buffer, or its DLPack tensor) until destroyed: its memory,
/// shape, strides in bytes, dtype and device. Reading one allocates nothing for a buffer.
class HeldArray {
public:
  enum class Status { Ok, NotAnArray, ReadOnly };

  HeldArray() = default;
  HeldArray(HeldArray &&other) noexcept;
  HeldArray &operator=(HeldArray &&) = delete;
  ~HeldArray();

  /// Reads `object` (requiring writable memory when `writable`); on anything but Ok the
  /// Python error state is clear and nothing is held.
  Status acquire(nb::handle object, bool writable);

  void *data() const { return data_; }
  size_t rank() const { return rank_; }
  const int64_t *shape() const { return shape_; }
  std::vector<int64_t> shapeVector() const { return {shape_, shape_ + rank_}; }
  const int64_t *byteStrides() const { return byteStrides_; }
  nb::dlpack::dtype dtype() const { return dtype_; }
  int deviceType() const { return deviceType_; }
  /// The DLPack device_id: the CUDA ordinal of an array in CUDA memory.
  int deviceId() const { return deviceId_; }
  /// Whether the elements are dense and row-major (a dim of extent 1 may have any stride).
  bool isRowMajor() const;
  /// The strides in elements; nullopt where a byte stride is not a multiple of the element size.
  std::optional<std::vector<int64_t>> elementStrides() const;

private:
  Py_buffer buffer_{};
  bool hasBuffer_ = false;
  nb::ndarray<> dlpack_;
  std::vector<int64_t> dlpackByteStrides_; // DLPack's strides count elements.
  void *data_ = nullptr;
  size_t rank_ = 0;
  const int64_t *shape_ = nullptr, *byteStrides_ = nullptr;
  nb::dlpack::dtype dtype_{};
  int deviceType_ = nb::device::cpu::value;
  int deviceId_ = 0;
};

/// A new dense row-major array of `shape` and `dtype` for `framework`; `tensor` is set to a
/// view of its memory, which the array owns.
nb::object newArray(const std::vector<int64_t> &shape, DType dtype, Framework framework,
                    Tensor &tensor);
/// `tensor`'s data in an array of `framework`; the array keeps a copy of `tensor` (owned data
/// stays alive as long as the array).
nb::object arrayOf(const Tensor &tensor, Framework framework);

} // namespace tdsl::python
