// Calling a function of a generated header (tdsl aot) from tensors, whatever its signature:
// each parameter is taken by position (a data pointer and a shape per input and output, and
// strides for the _strided functions, then the symbols, then the options or, for CUDA, the
// stream), so one template serves every kernel of the e2e suite.
#pragma once

#include "tdsl/AotRuntime.h"

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

namespace tdsl::testing_support {

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
  int (*callStrided)(const AotCall &); // Null for CUDA kernels, which take no strides.
};

} // namespace tdsl::testing_support

/// An AotEntry from a header's NAME_KERNELS(X) list.
#define TDSL_AOT_ENTRY(function, kernel)                                                           \
  tdsl::testing_support::AotEntry{                                                                 \
      #kernel,                                                                                     \
      [](const tdsl::testing_support::AotCall &call) { return callAot(&function, call); },         \
      [](const tdsl::testing_support::AotCall &call) {                                             \
        return callAot<3>(&function##_strided, call);                                              \
      }},

/// An AotEntry from a CUDA header's NAME_KERNELS(X) list.
#define TDSL_AOT_CUDA_ENTRY(function, kernel)                                                      \
  tdsl::testing_support::AotEntry{                                                                 \
      #kernel,                                                                                     \
      [](const tdsl::testing_support::AotCall &call) { return callAot(&function, call); },         \
      nullptr},
