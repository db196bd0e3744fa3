// A tdsl kernel compiled for the GPU at hand and launched through the driver API
// (runtime/Cuda.h): loop IR -> mapToGpu (sized from the device) -> CUDA C -> NVRTC cubin for the
// device's sm_XX -> module, with a module cache in memory and on disk.
#pragma once

#include "ir/Kernel.h"
#include "passes/GpuMap.h"
#include "runtime/Cuda.h"
#include "tdsl/Tensor.h"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tdsl::codegen {

/// Where a compiled module came from.
enum class CudaCacheHit { None, Memory, Disk };

/// The on-disk cache folder: $TDSL_CACHE_DIR, else $XDG_CACHE_HOME/tdsl, else ~/.cache/tdsl;
/// empty when TDSL_CACHE_DIR is set to the empty string (no disk cache).
std::string cudaDiskCacheDir();

/// A cubin for `source` on the current device: from the in-memory cache, else from the disk
/// cache, else compiled by NVRTC (and stored in both). The key hashes the source, the NVRTC
/// options, the NVRTC version, and the device's name and compute capability. A folder or entry
/// another user could have written is neither read nor written (support/PrivateDir.h).
std::string cachedCubin(const std::string &source, const std::string &name, CudaCacheHit *hit);
/// Empties the in-memory module cache (benchmarks time the disk cache with it).
void clearCudaMemoryCache();

class CudaKernel {
public:
  /// Compiles `plain` (loop IR before GPU mapping) for runtime::cuda::device(); `location` is the
  /// kernel's .tdsl location, "file:line:col", for errors. Throws RuntimeError when there is no
  /// GPU or NVRTC, with NVRTC's log when compilation fails.
  CudaKernel(const ir::LoweredFunc &plain, std::string location);

  /// Launches every GPU kernel in order on the process's stream. `buffers` holds the device
  /// pointers of the func's params, `symbols` the values of its symbols. Heap intermediates live
  /// in a workspace kept by this object (grown as needed). Returns without waiting for the GPU.
  void launch(const runtime::cuda::DevicePtr *buffers, const int64_t *symbols) const;

  const ir::LoweredFunc &mapped() const { return mapped_; }
  const std::string &source() const { return source_; }
  const std::string &location() const { return location_; }
  CudaCacheHit cacheHit() const { return hit_; }
  /// Threads per block chosen for this device.
  int threadsPerBlock() const { return threadsPerBlock_; }
  /// Whether a contraction's products run on tensor cores (16-bit factors).
  bool usesTensorCores() const;
  /// The bytes of the workspace for heap intermediates now (the most any launch needed).
  size_t workspaceBytes() const;

private:
  ir::LoweredFunc mapped_;
  std::vector<passes::GpuKernel> kernels_;
  std::vector<ir::Buffer> heap_;
  std::string source_, location_;
  CudaCacheHit hit_ = CudaCacheHit::None;
  int threadsPerBlock_ = 256;
  int64_t maxGrid_ = 1;
  std::unique_ptr<runtime::cuda::Module> module_;
  std::vector<void *> functions_;
  /// Workspace for heap intermediates: one allocation each, reused while large enough.
  mutable std::mutex workspaceMutex_;
  mutable std::vector<runtime::cuda::DevicePtr> workspace_;
  mutable std::vector<size_t> workspaceBytes_;

public:
  ~CudaKernel();
  CudaKernel(const CudaKernel &) = delete;
  CudaKernel &operator=(const CudaKernel &) = delete;
};

/// One call on host tensors: copies the inputs to fresh device buffers, launches, waits, and
/// copies the outputs back. Shapes and dtypes were checked by the caller; `symbols` are bound.
void runOnHostTensors(const CudaKernel &kernel, const std::vector<Tensor> &inputs,
                      const std::vector<Tensor> &outputs, const int64_t *symbols);

} // namespace tdsl::codegen
