// Calling a function of a generated header (tdsl aot) from tensors, whatever its signature:
// each parameter is taken by position (a data pointer and a shape per input and output, and
// strides for the _strided functions, then the symbols, then the options or, for CUDA, the
// stream), so one template serves every kernel of the e2e suite.
#pragma once

#include "tdsl/AotRuntime.h"
#include "tdsl/tdsl.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace tdsl::testing_support {

/// The values of `kernel`'s symbols for a call on `inputs`, in its order.
inline std::vector<int64_t> symbolsOf(const Kernel &kernel, const std::vector<Tensor> &inputs) {
  std::map<std::string, int64_t> values;
  std::vector<std::vector<std::string>> dims = kernel.inputDims();
  for (size_t i = 0; i < inputs.size(); ++i)
    for (size_t d = 0; d < dims[i].size(); ++d)
      values[dims[i][d]] = inputs[i].shape()[d];
  std::vector<int64_t> symbols;
  for (const std::string &name : kernel.symbolNames())
    symbols.push_back(values.at(name));
  return symbols;
}

/// The arguments of one call: every tensor's data and shape, inputs then outputs, and for the
/// _strided functions every tensor's strides (empty: null, contiguous).
struct AotCall {
  std::vector<void *> data;
  std::vector<std::vector<int64_t>> shapes;
  std::vector<std::vector<int64_t>> strides;
  std::vector<int64_t> symbols;
  const tdsl_call_options *options = nullptr;
  void *stream = nullptr; // For CUDA kernels: a CUstream.
};

/// The argument at `position` of a function taking `perTensor` pointers a tensor.
template <typename T, size_t perTensor> T aotArgument(const AotCall &call, size_t position) {
  if constexpr (std::is_same_v<T, const tdsl_call_options *>) {
    return call.options;
  } else if constexpr (std::is_same_v<T, void *>) {
    return call.stream;
  } else if constexpr (std::is_pointer_v<T>) {
    size_t t = position / perTensor;
    const std::vector<int64_t> *dims = nullptr;
    switch (position % perTensor) {
    case 0:
      return static_cast<T>(call.data[t]);
    case 1:
      dims = &call.shapes[t];
      break;
    default:
      dims = call.strides.empty() || call.strides[t].empty() ? nullptr : &call.strides[t];
    }
    return static_cast<T>(
        static_cast<void *>(dims ? const_cast<int64_t *>(dims->data()) : nullptr));
  } else {
    return call.symbols.at(position - perTensor * call.data.size());
  }
}

template <size_t perTensor, typename... Args, size_t... Position>
int callAot(int (*function)(Args...), const AotCall &call, std::index_sequence<Position...>) {
  return function(aotArgument<Args, perTensor>(call, Position)...);
}

/// Calls `function` (a contiguous one, or a _strided one when perTensor is 3) with `call`'s
/// arguments; returns its status.
template <size_t perTensor = 2, typename... Args>
int callAot(int (*function)(Args...), const AotCall &call) {
  return callAot<perTensor>(function, call, std::index_sequence_for<Args...>{});
}

/// A kernel of a generated library: its name and callers of its functions.
struct AotEntry {
  const char *kernel;
  int (*call)(const AotCall &);
  int (*callStrided)(const AotCall &);
};

/// Where a tensor's elements lie in a buffer of its own.
enum class Layout {
  Contiguous, // Passed with null strides.
  Transposed, // Dims in reverse order: the first dim's elements adjacent (column-major).
  Padded,     // Every element 2 apart, every row 3 elements past its last (a slice of a view).
};

/// A tensor's elements at `layout`'s strides in a buffer whose other bytes are kPadding.
struct StridedBuffer {
  static constexpr std::byte kPadding{0xa5};
  std::vector<int64_t> shape, strides;
  int64_t elementBytes = 0;
  std::vector<std::byte> bytes;

  StridedBuffer(const std::vector<int64_t> &shape, DType dtype, Layout layout)
      : shape(shape), strides(shape.size()), elementBytes(byteSize(dtype)) {
    size_t rank = shape.size();
    int64_t step = layout == Layout::Padded ? 2 : 1, last = 0;
    for (size_t i = 0; i < rank; ++i) {
      size_t d = layout == Layout::Transposed ? i : rank - 1 - i; // Innermost first.
      strides[d] = step;
      last += (std::max<int64_t>(shape[d], 1) - 1) * step;
      step = step * std::max<int64_t>(shape[d], 1) + (layout == Layout::Padded ? 3 : 0);
    }
    bytes.assign(static_cast<size_t>((last + 1) * elementBytes), kPadding);
  }

  /// Calls visit(index in a contiguous tensor, index in this buffer) for every element.
  template <typename Visit> void forEachElement(Visit visit) const {
    int64_t count = 1;
    for (int64_t extent : shape)
      count *= extent;
    for (int64_t flat = 0; flat < count; ++flat) {
      int64_t rest = flat, offset = 0;
      for (size_t d = shape.size(); d-- > 0;) {
        offset += rest % shape[d] * strides[d];
        rest /= shape[d];
      }
      visit(flat, offset);
    }
  }
  void copyFrom(const Tensor &t) {
    forEachElement([&](int64_t flat, int64_t offset) {
      std::memcpy(&bytes[offset * elementBytes],
                  static_cast<const std::byte *>(t.data()) + flat * elementBytes, elementBytes);
    });
  }
  /// The elements as a contiguous tensor.
  Tensor gather(DType dtype) const {
    Tensor t = Tensor::zeros(shape, dtype);
    forEachElement([&](int64_t flat, int64_t offset) {
      std::memcpy(static_cast<std::byte *>(t.data()) + flat * elementBytes,
                  &bytes[offset * elementBytes], elementBytes);
    });
    return t;
  }
  /// Whether every byte outside the elements still holds kPadding.
  bool paddingUntouched() const {
    std::vector<std::byte> rest = bytes;
    forEachElement([&](int64_t, int64_t offset) {
      std::fill_n(&rest[offset * elementBytes], elementBytes, kPadding);
    });
    return std::all_of(rest.begin(), rest.end(), [](std::byte b) { return b == kPadding; });
  }
};

} // namespace tdsl::testing_support

/// An AotEntry from a header's NAME_KERNELS(X) list (CPU or CUDA: the same signatures but the
/// last parameter).
#define TDSL_AOT_ENTRY(function, kernel)                                                           \
  tdsl::testing_support::AotEntry{                                                                 \
      #kernel,                                                                                     \
      [](const tdsl::testing_support::AotCall &call) { return callAot(&function, call); },         \
      [](const tdsl::testing_support::AotCall &call) {                                             \
        return callAot<3>(&function##_strided, call);                                              \
      }},
