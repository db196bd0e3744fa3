// The runtime services that generated code calls, with a C ABI. A kernel's entry point receives
// `void *runtime` (see ir::LoweredFunc); generated code never looks inside it and only hands it
// back to these functions.
#pragma once

#include <cstdint>

namespace tdsl::runtime {

class ThreadPool;

/// What the API passes as a kernel call's `runtime` argument: the pool its parallel loops use and
/// how many threads this call may use. A null `runtime`, a null pool or `threads <= 1` runs
/// parallel loops serially.
struct ParallelRuntime {
  ThreadPool *pool = nullptr;
  int threads = 1;
};

} // namespace tdsl::runtime

extern "C" {

/// The body of an outlined parallel loop: runs iterations [begin, end) with the values captured
/// in `closure`.
typedef void (*tdsl_loop_body)(void *closure, int64_t begin, int64_t end);

/// Runs body(closure, begin, end) over a static split of [0, n) (runtime::staticChunk, one chunk
/// per thread, the caller taking chunk 0) and returns when all chunks are done. `runtime` is a
/// runtime::ParallelRuntime or null (serial: one call over [0, n)). Nested calls (from inside a
/// body) run serially. Never throws: a failure to start threads falls back to serial execution.
void tdsl_parallel_for(void *runtime, int64_t n, tdsl_loop_body body, void *closure) noexcept;

} // extern "C"
