// Loading a kernel's cubin on the GPU at hand and launching it.
#include "codegen/cuda/CudaLaunch.h"

#include "ir/Shapes.h"
#include "tdsl/Diagnostics.h"

#include <algorithm>
#include <climits>
#include <numeric>

namespace tdsl::codegen {

namespace cu = runtime::cuda;

CudaKernel::CudaKernel(const ir::LoweredFunc &func, std::vector<passes::GpuKernel> kernels,
                       std::vector<ir::Buffer> heap, const std::string &cubin, std::string location)
    : mapped_(func), kernels_(std::move(kernels)), heap_(std::move(heap)),
      location_(std::move(location)) {
  const cu::DeviceInfo &dev = cu::device();
  // 256 threads a block (8 warps) where the device allows: enough blocks per SM to hide latency;
  // grid-stride loops let the grid stop at a few waves.
  threadsPerBlock_ = std::max(32, std::min(256, dev.maxThreadsPerBlock) / 32 * 32);
  int blocksPerSm = std::max(1, dev.maxThreadsPerMultiprocessor / threadsPerBlock_);
  maxGrid_ = std::max<int64_t>(1, int64_t(dev.multiprocessors) * blocksPerSm * 8);
  module_ = std::make_unique<cu::Module>(cubin, "kernel " + func.name + " (" + location_ + ")");
  for (const passes::GpuKernel &k : kernels_) {
    functions_.push_back(module_->function(k.name));
    // Dynamic shared memory past the default needs the kernel's opt-in.
    if (k.sharedBytes && k.sharedLimit > dev.sharedBytesPerBlock)
      cu::allowDynamicShared(functions_.back(), static_cast<int>(k.sharedLimit), k.name);
  }
  workspace_.assign(heap_.size(), 0);
  workspaceBytes_.assign(heap_.size(), 0);
}

bool CudaKernel::usesTensorCores() const {
  return std::any_of(kernels_.begin(), kernels_.end(),
                     [](const passes::GpuKernel &k) { return k.tensorCoreType != DType::F32; });
}

CudaKernel::~CudaKernel() {
  bool any = std::any_of(workspace_.begin(), workspace_.end(), [](auto p) { return p != 0; });
  if (any) {
    try {
      cu::synchronize("freeing the workspace of " + mapped_.name);
    } catch (const std::exception &) {
    }
  }
  for (cu::DevicePtr p : workspace_)
    cu::release(p);
}

size_t CudaKernel::workspaceBytes() const {
  std::lock_guard<std::mutex> lock(workspaceMutex_);
  return std::accumulate(workspaceBytes_.begin(), workspaceBytes_.end(), size_t{0});
}

void CudaKernel::launch(const cu::DevicePtr *buffers, const int64_t *symbols) const {
  std::lock_guard<std::mutex> lock(workspaceMutex_);
  // Sizes of the heap intermediates for these symbols.
  if (!heap_.empty()) {
    std::vector<int64_t> values(symbols, symbols + mapped_.symbols.size());
    for (size_t h = 0; h < heap_.size(); ++h) {
      std::vector<ir::Var> vars = mapped_.symbols;
      std::vector<int64_t> vals = values;
      for (const passes::GpuKernel &k : kernels_)
        if (std::find(k.allocations.begin(), k.allocations.end(), heap_[h]) !=
            k.allocations.end()) {
          for (const auto &[var, value] : k.lets) {
            vals.push_back(ir::evalInt(value, vars, vals));
            vars.push_back(var);
          }
          break;
        }
      size_t bytes = byteSize(heap_[h]->dtype);
      for (const ir::Expr &d : heap_[h]->shape)
        bytes *= static_cast<size_t>(std::max<int64_t>(0, ir::evalInt(d, vars, vals)));
      if (bytes > workspaceBytes_[h]) {
        if (workspace_[h]) {
          cu::synchronize("in kernel " + mapped_.name + " (" + location_ + ")");
          cu::release(workspace_[h]);
          workspace_[h] = 0;
          workspaceBytes_[h] = 0;
        }
        workspace_[h] = cu::allocate(bytes, "intermediate '" + heap_[h]->name + "' of kernel " +
                                                mapped_.name + " (" + location_ + ")");
        workspaceBytes_[h] = bytes;
      }
    }
  }

  size_t numParams = mapped_.params.size(), numSymbols = mapped_.symbols.size();
  std::vector<void *> args;
  args.reserve(numParams + heap_.size() + numSymbols);
  std::vector<int64_t> symbolCopy(symbols, symbols + numSymbols);
  for (size_t i = 0; i < numParams; ++i)
    args.push_back(const_cast<cu::DevicePtr *>(&buffers[i]));
  for (cu::DevicePtr &p : workspace_)
    args.push_back(&p);
  for (int64_t &s : symbolCopy)
    args.push_back(&s);

  for (size_t i = 0; i < kernels_.size(); ++i) {
    const passes::GpuKernel &k = kernels_[i];
    std::vector<ir::Var> vars = mapped_.symbols;
    std::vector<int64_t> values = symbolCopy;
    for (const auto &[var, value] : k.lets) {
      values.push_back(ir::evalInt(value, vars, values));
      vars.push_back(var);
    }
    int64_t blocks = ir::evalInt(k.blocks, vars, values);
    int64_t threads = ir::evalInt(k.threads, vars, values);
    if (blocks <= 0 || threads <= 0)
      continue;
    cu::LaunchConfig config;
    config.grid = static_cast<unsigned>(std::min<int64_t>({blocks, maxGrid_, INT_MAX}));
    config.block = static_cast<unsigned>(threads);
    if (k.sharedBytes)
      config.sharedBytes = static_cast<unsigned>(ir::evalInt(k.sharedBytes, vars, values));
    cu::launch(functions_[i], config, args.data(), k.name, location_);
  }
}

namespace {
/// Device buffers freed on every path out.
struct DeviceBuffers {
  std::vector<cu::DevicePtr> ptrs;
  ~DeviceBuffers() {
    for (cu::DevicePtr p : ptrs)
      cu::release(p);
  }
};
} // namespace

void runOnHostTensors(const CudaKernel &kernel, const std::vector<Tensor> &inputs,
                      const std::vector<Tensor> &outputs, const int64_t *symbols) {
  const ir::LoweredFunc &f = kernel.mapped();
  DeviceBuffers device;
  for (size_t i = 0; i < inputs.size() + outputs.size(); ++i) {
    const Tensor &t = i < inputs.size() ? inputs[i] : outputs[i - inputs.size()];
    device.ptrs.push_back(cu::allocate(t.nbytes(), "tensor '" + f.params[i]->name + "' of " +
                                                       f.name + " (" + t.typeString() + ")"));
    if (i < inputs.size())
      cu::copyToDevice(device.ptrs.back(), t.data(), t.nbytes());
  }
  kernel.launch(device.ptrs.data(), symbols);
  cu::synchronize("in kernel " + f.name + " (" + kernel.location() + ")");
  for (size_t o = 0; o < outputs.size(); ++o)
    cu::copyToHost(outputs[o].data(), device.ptrs[inputs.size() + o], outputs[o].nbytes());
}

} // namespace tdsl::codegen
