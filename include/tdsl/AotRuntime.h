/* The C interface of kernels compiled ahead of time (`tdsl aot`): the call options, the status
 * codes and the last error's message that every generated header shares. Plain C; the functions
 * live in tdsl's kernel runtime library (tdsl::tdsl_kernel_runtime), which links no LLVM. */
#ifndef TDSL_AOT_RUNTIME_H
#define TDSL_AOT_RUNTIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a generated function returns: 0 when the call computed its outputs, else one of these,
 * with a message in tdsl_last_error(). */
enum tdsl_status {
  TDSL_OK = 0,
  /* A shape given disagrees with the symbols, a symbol is negative, an output would overlap an
   * input, or an extent would overflow 64 bits. Nothing was computed. */
  TDSL_SHAPE_MISMATCH = 1,
  /* A gathered index was outside its tensor's range (error E093); the outputs are unspecified. */
  TDSL_INDEX_OUT_OF_RANGE = 2,
  /* An intermediate could not be allocated; the outputs are unspecified. */
  TDSL_OUT_OF_MEMORY = 3,
  /* This CPU lacks the features of every version the kernel was compiled for. */
  TDSL_UNSUPPORTED_CPU = 4,
  /* A tensor's strides address bytes past 64 bits, or put two elements of an output at one
   * address. Nothing was computed. */
  TDSL_BAD_STRIDES = 5,
  /* A CUDA kernel cannot run here: no NVIDIA driver, no device, or no image for this device's
   * compute capability (the message says which). Nothing was computed. */
  TDSL_CUDA_UNAVAILABLE = 6,
  /* The CUDA driver refused a launch or a copy; the outputs are unspecified. */
  TDSL_CUDA_ERROR = 7
};

/* The body of a parallel loop: runs iterations [begin, end) of it. */
typedef void (*tdsl_loop_body)(void *closure, int64_t begin, int64_t end);

/* A caller's thread pool: must call body(closure, begin, end) over ranges that together cover
 * [0, n) once each (any number of ranges, on any threads, concurrently or not) and return when
 * all are done. `user` is tdsl_call_options::parallel_for_user. Loops started inside a body run
 * serially on that thread and never reach the hook. */
typedef void (*tdsl_parallel_for_fn)(void *user, int64_t n, tdsl_loop_body body, void *closure);

/* Options of one call; a null pointer means the defaults (every field zero). */
typedef struct tdsl_call_options {
  /* Threads the call's parallel loops may use: 0 means every hardware thread this process may
   * run on, 1 the calling thread only. Ignored when parallel_for is set. */
  int threads;
  /* Runs the parallel loops on the caller's pool; null: tdsl's own pool of threads. */
  tdsl_parallel_for_fn parallel_for;
  void *parallel_for_user;
} tdsl_call_options;

/* The message of the last call on this thread that returned a non-zero status (an empty string
 * if none did). Valid until the next failing call on this thread. */
const char *tdsl_last_error(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TDSL_AOT_RUNTIME_H */
