// A tdsl kernel on one GPU, launched through the driver API (runtime/Cuda.h): the module of a
// cubin that the API compiled from the kernel's CUDA C for that GPU (api/CudaProgram.h, through
// the kernel cache), its functions, and the workspace of its heap intermediates.
#pragma once

#include "ir/GpuFunc.h"
#include "ir/Kernel.h"
#include "runtime/Cuda.h"
#include "runtime/CudaDriverTypes.h"
#include "tdsl/Tensor.h"

#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tdsl::codegen {

/// The launch of one GPU kernel for these symbol values: its blocks (the grid may stop short:
/// every kernel strides over its blocks; 0 where the launch's condition fails: not launched),
/// threads a block and dynamic shared bytes.
struct LaunchShape {
  int64_t blocks = 0, threads = 0, sharedBytes = 0;
};

/// What a launcher computes on every call, gathered once from a kernel's loop IR: each launch's
/// geometry and the heap intermediates' sizes, as expressions over the symbols and the launch's
/// lets, so that a call evaluates them without walking the IR.
class LaunchPlan {
public:
  explicit LaunchPlan(const ir::LoweredFunc &gpu);

  const std::vector<const ir::GpuLaunch *> &launches() const { return launches_; }
  /// The shape of launch `i` for these symbol values.
  LaunchShape shape(size_t i, const int64_t *symbols) const;
  /// The heap intermediates (ir::gpuHeapBuffers, in order), and the bytes of each.
  size_t heapCount() const { return heap_.size(); }
  const ir::Buffer &heapBuffer(size_t h) const { return heap_[h].buffer; }
  std::vector<size_t> heapBytes(const int64_t *symbols) const;

private:
  struct Geometry {
    std::vector<ir::Var> vars;       // The symbols, then the launch's lets.
    std::vector<ir::Expr> letValues; // Each over the vars before its own.
    ir::Expr condition;              // Null: always launched.
    ir::Expr blocks, threads, sharedBytes;
  };
  struct Heap {
    size_t launch; // The first launch that allocates it: its lets may appear in its shape.
    ir::Buffer buffer;
  };
  /// The symbols' values followed by launch `i`'s lets.
  std::vector<int64_t> values(size_t i, const int64_t *symbols) const;

  size_t numSymbols_;
  std::vector<const ir::GpuLaunch *> launches_; // Nodes of the func the plan was made from.
  std::vector<Geometry> geometry_;
  std::vector<Heap> heap_;
};

/// A tensor whose strides (in elements) are not row-major, passed to CudaKernel::launch, which
/// copies it through contiguous device scratch: an input before the kernel's launches, an output
/// after them.
struct StridedTensor {
  size_t param = 0; // Among the func's params: the inputs, then the outputs.
  bool output = false;
  std::vector<int64_t> shape, strides; // At most 8 dims (the copies' limit).
  size_t elementBytes = 4;
};

/// The copies between a strided view and contiguous memory (stridedCopyKernels(), compiled to
/// `cubin`), loaded on `device`.
class StridedCopies {
public:
  static constexpr size_t kMaxRank = runtime::cuda_driver::StridedCopyArgs::kMaxRank;
  StridedCopies(runtime::cuda::Device &device, const std::string &cubin);
  /// Enqueues on `stream` the copy of `t`'s elements from `view` into `contiguous`, or back
  /// when `toView`.
  void copy(runtime::cuda::DevicePtr contiguous, runtime::cuda::DevicePtr view,
            const StridedTensor &t, bool toView, void *stream) const;

private:
  std::unique_ptr<runtime::cuda::Module> module_;
  std::array<void *, 4> functions_{}; // By element bytes: 1, 2, 4, 8.
  int64_t maxGrid_ = 1;
};

class CudaKernel {
public:
  /// Loads `cubin`, compiled from emitCuda(gpu) for `device`, on it: `gpu` is the func lowered
  /// for the GPU (passes::lowerForGpu). `location` is the kernel's .tdsl location,
  /// "file:line:col", for errors. Throws RuntimeError when the driver rejects the cubin.
  CudaKernel(runtime::cuda::Device &device, const ir::LoweredFunc &gpu, const std::string &cubin,
             std::string location);

  /// Launches every GPU kernel in order on `stream` (a CUstream of the kernel's device; null:
  /// the device's own stream). `buffers` holds the device pointers of the func's params,
  /// `symbols` the values of its symbols. Heap intermediates live in a workspace kept by this
  /// object (grown as needed, which waits for `stream` and the device's stream first; calls on
  /// other streams must not overlap a call that grows it). Returns without waiting for the GPU.
  void launch(const runtime::cuda::DevicePtr *buffers, const int64_t *symbols,
              void *stream = nullptr) const;
  /// The same, where the params of `strided` are views with those strides: each goes through
  /// contiguous scratch kept by this object (grown like the workspace), copied by `copies` on
  /// `stream`.
  void launch(const runtime::cuda::DevicePtr *buffers, const int64_t *symbols, void *stream,
              const std::vector<StridedTensor> &strided, const StridedCopies &copies) const;

  const ir::LoweredFunc &mapped() const { return mapped_; }
  runtime::cuda::Device &device() const { return device_; }
  const std::string &location() const { return location_; }
  /// Whether a contraction's products run on tensor cores (16-bit factors).
  bool usesTensorCores() const;
  /// The bytes of the workspace for heap intermediates now (the most any launch needed).
  size_t workspaceBytes() const;

private:
  runtime::cuda::Device &device_;
  ir::LoweredFunc mapped_;
  LaunchPlan plan_; // Of mapped_.
  std::string location_;
  int64_t maxGrid_ = 1;
  std::unique_ptr<runtime::cuda::Module> module_;
  std::vector<void *> functions_;
  /// The dynamic shared memory each function was allowed so far.
  mutable std::vector<int64_t> sharedAllowed_;
  /// Workspace for heap intermediates: one allocation each, reused while large enough.
  mutable std::mutex workspaceMutex_;
  mutable std::vector<runtime::cuda::DevicePtr> workspace_;
  mutable std::vector<size_t> workspaceBytes_;
  /// Contiguous scratch of the params passed strided, one a param (0: none yet).
  mutable std::vector<runtime::cuda::DevicePtr> scratch_;
  mutable std::vector<size_t> scratchBytes_;

  /// Replaces `buffer` (of `bytes`, smaller than `needed`; holding `what`) with an allocation
  /// of `needed` bytes, once the earlier calls that may still use it (on `stream` and the
  /// device's stream) are done. Called under workspaceMutex_.
  void grow(runtime::cuda::DevicePtr &buffer, size_t &bytes, size_t needed, const std::string &what,
            void *stream) const;
  void launchLocked(const runtime::cuda::DevicePtr *buffers, const int64_t *symbols,
                    void *stream) const;

public:
  ~CudaKernel();
  CudaKernel(const CudaKernel &) = delete;
  CudaKernel &operator=(const CudaKernel &) = delete;
};

/// One call on host tensors: copies the inputs to fresh buffers on the kernel's device,
/// launches, waits, and copies the outputs back. Shapes and dtypes were checked by the caller;
/// `symbols` are bound.
void runOnHostTensors(const CudaKernel &kernel, const std::vector<Tensor> &inputs,
                      const std::vector<Tensor> &outputs, const int64_t *symbols);

} // namespace tdsl::codegen
