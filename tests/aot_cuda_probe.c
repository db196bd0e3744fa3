/* A C program of CUDA kernels compiled ahead of time (tests/CMakeLists.txt, aot_cuda_probe): it
 * links the generated library and tdsl's kernel runtime only. With a GPU, one call of an
 * elementwise kernel on device memory of no elements (no allocation needed) returns TDSL_OK;
 * without, it returns TDSL_CUDA_UNAVAILABLE with a message naming the cause. Anything else
 * fails. */
#include "aot_cuda_broadcasting.h"

#include <stdio.h>
#include <string.h>

int main(void) {
  int status = aot_cuda_broadcasting_outer(NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL);
  printf("status %d: %s\n", status, status ? tdsl_last_error() : "ok");
  if (status == TDSL_OK)
    return 0;
  return status == TDSL_CUDA_UNAVAILABLE && strstr(tdsl_last_error(), "kernel outer") ? 0 : 1;
}
