/* What tests/aot_cuda_fake_driver.c (a stand-in for libcuda.so.1) records of the calls the
 * runtime made, read by the probes (aot_cuda_fake_probe, jit_cuda_fake_probe) through dlsym of
 * `fake_cuda_record`. C, so that the driver and the C++ probes share one layout. */
#ifndef TDSL_TESTS_FAKE_CUDA_RECORD_H
#define TDSL_TESTS_FAKE_CUDA_RECORD_H

#include <stdint.h>

struct fake_cuda_record {
  int loadedCubin;    /* The last image loaded was a cubin (else PTX). */
  char ptxTarget[16]; /* The PTX's ".target". */
  int launches;
  unsigned grid, block, shared; /* The first launch's. */
  void *stream;
  uint64_t firstArgument;
  char function[64];
  int moduleLoads;        /* Images loaded, into any context. */
  void *launchContext;    /* The context current at the last launch. */
  int launchesElsewhere;  /* Launches of a function whose module another context loaded. */
  void *lastLaunchStream; /* The stream of the last launch. */
  int streamSyncs;        /* cuStreamSynchronize calls, and the last one's stream. */
  void *lastSyncStream;
  char launched[256];         /* The functions launched, in order, each followed by a space. */
  int copies;                 /* Launches of the strided copies, which run here on host memory. */
  uint64_t copyScratch[4];    /* The contiguous side of the first four copies. */
  uint64_t kernelPointers[2]; /* The first two arguments of the last other launch. */
  /* By the device of the context current: images loaded, launches, cuMemAlloc calls. */
  int moduleLoadsOn[4], launchesOn[4], allocationsOn[4];
  /* Uses of an allocation, a driver-made stream or a module with another context current than
   * the one it was made in (copies, frees, launches, synchronizations, unloads). */
  int wrongContext;
};

#endif
