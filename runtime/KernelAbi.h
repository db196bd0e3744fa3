// The runtime services that generated code calls, with a C ABI. A kernel's entry point receives
// `void *runtime` (see ir::LoweredFunc); generated code never looks inside it and only hands it
// back to these functions.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace tdsl::runtime {

class Arena;
class ThreadPool;

/// What the API passes as a kernel call's `runtime` argument: the pool its parallel loops use,
/// how many threads this call may use, and where its heap intermediates come from. A null
/// `runtime`, a null pool or `threads <= 1` runs parallel loops serially; a null `runtime` or
/// `scratch` takes each intermediate from the system allocator.
struct CallRuntime {
  ThreadPool *pool = nullptr;
  int threads = 1;
  Arena *scratch = nullptr;
  /// A caller's pool (tdsl_call_options::parallel_for of ahead-of-time kernels): when set, the
  /// outermost parallel loops run through it instead of `pool`, whatever `threads` says.
  void (*parallelFor)(void *user, int64_t n,
                      void (*body)(void *closure, int64_t begin, int64_t end),
                      void *closure) = nullptr;
  void *parallelForUser = nullptr;
  /// Set when an intermediate could not be allocated (its size in bytes; any one if several
  /// failed): the code that needed it was skipped, so the caller must report the call failed.
  std::atomic<uint64_t> failedBytes{0};
};

} // namespace tdsl::runtime

extern "C" {

/// The body of an outlined parallel loop: runs iterations [begin, end) with the values captured
/// in `closure`.
typedef void (*tdsl_loop_body)(void *closure, int64_t begin, int64_t end);

/// Runs body(closure, begin, end) over a static split of [0, n) (runtime::staticChunk, one chunk
/// per thread, the caller taking chunk 0), or through CallRuntime::parallelFor when set, and
/// returns when all chunks are done. `runtime` is a
/// runtime::CallRuntime or null (serial: one call over [0, n)). Nested calls (from inside a
/// body) run serially. Never throws: a failure to start threads falls back to serial execution.
void tdsl_parallel_for(void *runtime, int64_t n, tdsl_loop_body body, void *closure) noexcept;

/// Memory for a heap intermediate of `bytes` bytes, 64-byte aligned, from the call's scratch
/// arena (runtime::CallRuntime::scratch): no system call and no page fault once the arena holds
/// blocks for the call. Null when no memory is left, recorded in CallRuntime::failedBytes; with
/// a null `runtime` nobody could be told, so that aborts with a message. Thread-safe.
void *tdsl_scratch_acquire(void *runtime, int64_t bytes) noexcept;
/// The same for a contraction operand's packed panels, which the arena counts apart.
void *tdsl_scratch_acquire_panels(void *runtime, int64_t bytes) noexcept;
/// Gives back a non-null `block` from either acquire with the same `runtime`.
void tdsl_scratch_release(void *runtime, void *block) noexcept;

} // extern "C"
