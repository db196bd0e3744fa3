// The CUDA path run on the CPU: a kernel's CUDA C, compiled by the host's C++ compiler against a
// small model of the CUDA execution model (blocks one after another; a block's threads as
// cooperative fibers that switch only at barriers and shuffles), launched as the GPU launcher
// would. It checks the GPU schedules and their printed code where there is no GPU (CI): the
// same source, the same launch shapes, barriers and warp shuffles with their real semantics, and
// a clear error for threads that wait at different barriers, mma.sync as the warp-collective
// operation it is (the PTX ISA's fragment layout), and warpgroup MMA (wgmma) on swizzled tiles
// as ir::GpuOp describes it. A kernel that brings inline PTX of its own it cannot run.
#pragma once

#include "codegen/cuda/CudaLaunch.h"
#include "ir/Kernel.h"
#include "tdsl/Tensor.h"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tdsl::codegen {

/// Whether the environment asks for the emulation: TDSL_CUDA_EMULATE=1. The API then runs
/// Target::cuda() kernels on the CPU when no GPU is present.
bool cudaEmulationRequested();

/// Whether the emulation can run CUDA C `source`: not when its kernels bring inline PTX of their
/// own; the prelude's helpers (mma.sync, ldmatrix, wgmma and the rest) run on the model.
bool emulationCanRun(const std::string &source);

class EmulatedCudaKernel {
public:
  /// Compiles `source` (emitCuda(gpu)) with the host's C++ compiler ($CXX, else c++) into a
  /// shared object and loads it. `gpu` is as for CudaKernel; `location` is the kernel's .tdsl
  /// location for errors. Throws RuntimeError when the source uses inline PTX or does not compile
  /// (with the compiler's log).
  EmulatedCudaKernel(const ir::LoweredFunc &gpu, const std::string &source, std::string location);
  ~EmulatedCudaKernel();
  EmulatedCudaKernel(const EmulatedCudaKernel &) = delete;
  EmulatedCudaKernel &operator=(const EmulatedCudaKernel &) = delete;

  /// One call: every GPU kernel in order over the tensors' memory (the outputs computed into
  /// fresh buffers, so an output may alias an input). `symbols` are bound. Throws RuntimeError
  /// when threads of a block wait at different barriers.
  void run(const std::vector<Tensor> &inputs, const std::vector<Tensor> &outputs,
           const int64_t *symbols) const;

private:
  ir::LoweredFunc func_;
  LaunchPlan plan_; // Of func_.
  std::string location_;
  void *library_ = nullptr;
  using Run = int (*)(void (*)(void *const *), void *const *, unsigned, unsigned, long long, char *,
                      unsigned long);
  Run run_ = nullptr;
  std::vector<void (*)(void *const *)> entries_;
  mutable std::mutex mutex_; // The model runs one launch at a time.
};

} // namespace tdsl::codegen
