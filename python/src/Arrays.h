// Python arrays as tdsl tensors and back. Arguments arrive through nanobind's ndarray, which
// reads NumPy arrays through the buffer protocol and any other array through `__dlpack__`
// (PyTorch, JAX, CuPy): the caller's memory, never copied, unless its layout is one the kernel
// cannot read in place (then it is copied once, into or out of a dense tensor). Results are
// made for the caller's array library.
#pragma once

#include "tdsl/Tensor.h"

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <optional>
#include <string>
#include <vector>

namespace tdsl::python {

namespace nb = nanobind;

/// The array library whose arrays a call's results are: the first array argument's.
enum class Framework { NumPy, Torch, Jax };

/// Looks up numpy.ndarray (at import, under the GIL), so that frameworkOf knows NumPy's arrays
/// by their type alone.
void findNumPy();
/// The library `array` belongs to; anything that is not torch's or JAX's gets NumPy results.
Framework frameworkOf(nb::handle array);

/// The tdsl dtype of a DLPack dtype; nullopt for dtypes tdsl has not (u16, complex, ...).
std::optional<DType> dtypeFromDLPack(nb::dlpack::dtype dtype);
/// The DLPack dtype an array of `dtype` has in `framework`. NumPy has no bf16: a bf16 tensor is
/// a NumPy uint16 array of its bits (tdsl has no u16, so the two never meet otherwise).
nb::dlpack::dtype dtypeToDLPack(DType dtype, Framework framework);

/// Whether an array of these element strides is dense and row-major (a dim of extent 1 may
/// have any stride, and an array with no elements is dense).
bool isRowMajor(const nb::ndarray<nb::ro> &array);

/// Copies between a strided array and a dense row-major tensor of the same shape and dtype.
void copyToDense(const nb::ndarray<nb::ro> &from, const Tensor &to);
void copyFromDense(const Tensor &from, const nb::ndarray<> &to);

/// A dense row-major array of `shape` and `dtype` for `framework`, 64-byte aligned, freed
/// with the last Python reference to it; `tensor` is set to a view of its memory.
nb::object newArray(const std::vector<int64_t> &shape, DType dtype, Framework framework,
                    Tensor &tensor);
/// `tensor`'s data in an array of `framework`; the array keeps a copy of `tensor` (owned data
/// stays alive as long as the array).
nb::object arrayOf(const Tensor &tensor, Framework framework);

} // namespace tdsl::python
