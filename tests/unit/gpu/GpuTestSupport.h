// What the GPU tests share: whether kernels can be launched here, on a GPU or on the CPU's model
// of one (TDSL_CUDA_EMULATE=1, codegen/cuda/CudaEmulator.h).
#pragma once

#include "codegen/cuda/CudaEmulator.h"
#include "runtime/Cuda.h"
#include "tdsl/tdsl.h"

namespace tdsl::testing_support {

inline bool haveGpu() { return runtime::cuda::status().available; }

/// Host tensors run on the GPU, or without one on the CPU's model of it.
inline bool canLaunch() { return haveGpu() || codegen::cudaEmulationRequested(); }

} // namespace tdsl::testing_support
