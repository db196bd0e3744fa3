// A tdsl kernel on the GPU at hand, launched through the driver API (runtime/Cuda.h): the module
// of a cubin that the API compiled from the kernel's CUDA C (api/CudaProgram.h, through the
// kernel cache), its functions, and the workspace of its heap intermediates.
#pragma once

#include "ir/GpuFunc.h"
#include "ir/Kernel.h"
#include "runtime/Cuda.h"
#include "tdsl/Tensor.h"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tdsl::codegen {

class CudaKernel {
public:
  /// Loads `cubin`, compiled from emitCuda(gpu), on runtime::cuda::device(): `gpu` is the func
  /// lowered for the GPU (passes::lowerForGpu). `location` is the kernel's .tdsl location,
  /// "file:line:col", for errors. Throws RuntimeError when there is no GPU or the driver rejects
  /// the cubin.
  CudaKernel(const ir::LoweredFunc &gpu, const std::string &cubin, std::string location);

  /// Launches every GPU kernel in order on `stream` (a CUstream; null: the process's stream).
  /// `buffers` holds the device pointers of the func's params, `symbols` the values of its
  /// symbols. Heap intermediates live in a workspace kept by this object (grown as needed, which
  /// waits for `stream` and the process's stream first; calls on other streams must not overlap
  /// a call that grows it). Returns without waiting for the GPU.
  void launch(const runtime::cuda::DevicePtr *buffers, const int64_t *symbols,
              void *stream = nullptr) const;

  const ir::LoweredFunc &mapped() const { return mapped_; }
  const std::string &location() const { return location_; }
  /// Threads per block chosen for this device.
  int threadsPerBlock() const { return threadsPerBlock_; }
  /// Whether a contraction's products run on tensor cores (16-bit factors).
  bool usesTensorCores() const;
  /// The bytes of the workspace for heap intermediates now (the most any launch needed).
  size_t workspaceBytes() const;

private:
  ir::LoweredFunc mapped_;
  std::vector<const ir::GpuLaunch *> launches_; // Nodes of mapped_.
  std::vector<ir::Expr> sharedBytes_;           // Each launch's dynamicSharedBytes.
  std::vector<ir::Buffer> heap_;
  std::string location_;
  int threadsPerBlock_ = 256;
  int64_t maxGrid_ = 1;
  std::unique_ptr<runtime::cuda::Module> module_;
  std::vector<void *> functions_;
  /// The dynamic shared memory each function was allowed so far.
  mutable std::vector<int64_t> sharedAllowed_;
  /// Workspace for heap intermediates: one allocation each, reused while large enough.
  mutable std::mutex workspaceMutex_;
  mutable std::vector<runtime::cuda::DevicePtr> workspace_;
  mutable std::vector<size_t> workspaceBytes_;

public:
  ~CudaKernel();
  CudaKernel(const CudaKernel &) = delete;
  CudaKernel &operator=(const CudaKernel &) = delete;
};

/// The launch of one GPU kernel for these symbol values: its blocks (the grid may stop short:
/// every kernel strides over its blocks; 0 where the launch's condition fails: not launched),
/// threads a block and dynamic shared bytes.
struct LaunchShape {
  int64_t blocks = 0, threads = 0, sharedBytes = 0;
};
/// The shape of `launch`, a kernel of `gpu`, whose dynamic shared memory is `sharedBytes`
/// (ir::dynamicSharedBytes of its gpu_block loop, computed once by the caller).
LaunchShape launchShape(const ir::LoweredFunc &gpu, const ir::GpuLaunch *launch,
                        const ir::Expr &sharedBytes, const int64_t *symbols);

/// The bytes of each heap intermediate of `gpu` (ir::gpuHeapBuffers, in order) for these symbol
/// values.
std::vector<size_t> heapBytes(const ir::LoweredFunc &gpu, const int64_t *symbols);

/// One call on host tensors: copies the inputs to fresh device buffers, launches, waits, and
/// copies the outputs back. Shapes and dtypes were checked by the caller; `symbols` are bound.
void runOnHostTensors(const CudaKernel &kernel, const std::vector<Tensor> &inputs,
                      const std::vector<Tensor> &outputs, const int64_t *symbols);

} // namespace tdsl::codegen
