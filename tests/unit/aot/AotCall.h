// Calling a function of a generated header (tdsl aot) from tensors, whatever its signature:
// each parameter is taken by position (a data pointer and a shape per input and output, then
// the symbols, then the options), so one template serves every kernel of the e2e suite.
#pragma once

#include "tdsl/AotRuntime.h"

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

namespace tdsl::testing_support {

/// The arguments of one call: every tensor's data and shape, inputs then outputs.
struct AotCall {
  std::vector<void *> data;
  std::vector<std::vector<int64_t>> shapes;
  std::vector<int64_t> symbols;
  const tdsl_call_options *options = nullptr;
};

template <typename T> T aotArgument(const AotCall &call, size_t position) {
  if constexpr (std::is_same_v<T, const tdsl_call_options *>) {
    return call.options;
  } else if constexpr (std::is_pointer_v<T>) {
    void *pointer = position % 2 == 0 ? call.data[position / 2]
                                      : const_cast<int64_t *>(call.shapes[position / 2].data());
    return static_cast<T>(pointer);
  } else {
    return call.symbols.at(position - 2 * call.data.size());
  }
}

template <typename... Args, size_t... Position>
int callAot(int (*function)(Args...), const AotCall &call, std::index_sequence<Position...>) {
  return function(aotArgument<Args>(call, Position)...);
}

/// Calls `function` with `call`'s arguments; returns its status.
template <typename... Args> int callAot(int (*function)(Args...), const AotCall &call) {
  return callAot(function, call, std::index_sequence_for<Args...>{});
}

/// A kernel of a generated library: its name and a caller of its function.
struct AotEntry {
  const char *kernel;
  int (*call)(const AotCall &);
};

} // namespace tdsl::testing_support

/// An AotEntry from a header's NAME_KERNELS(X) list.
#define TDSL_AOT_ENTRY(function, kernel)                                                           \
  tdsl::testing_support::AotEntry{#kernel, [](const tdsl::testing_support::AotCall &call) {        \
                                    return callAot(&function, call);                               \
                                  }},
