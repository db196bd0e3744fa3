// Loading a kernel's cubin on its GPU and launching it.
#include "codegen/cuda/CudaLaunch.h"

#include "ir/Shapes.h"
#include "runtime/CudaDriverTypes.h"
#include "support/Check.h"
#include "tdsl/Diagnostics.h"

#include <algorithm>
#include <bit>
#include <climits>
#include <numeric>

namespace tdsl::codegen {

namespace cu = runtime::cuda;

LaunchPlan::LaunchPlan(const ir::LoweredFunc &gpu)
    : numSymbols_(gpu.symbols.size()), launches_(ir::gpuLaunches(gpu)) {
  for (const ir::GpuLaunch *l : launches_) {
    Geometry &g = geometry_.emplace_back();
    g.vars = gpu.symbols;
    for (const auto &[var, value] : ir::launchLets(l)) {
      g.letValues.push_back(value);
      g.vars.push_back(var);
    }
    g.condition = l->condition;
    g.blocks = ir::launchBlocks(l);
    g.threads = ir::launchThreads(l);
    g.sharedBytes = ir::dynamicSharedBytes(ir::blockLoop(l));
  }
  for (const ir::Buffer &b : ir::gpuHeapBuffers(gpu)) {
    size_t first = 0;
    while (first + 1 < launches_.size()) {
      std::vector<ir::Buffer> heap = ir::launchHeap(launches_[first]);
      if (std::find(heap.begin(), heap.end(), b) != heap.end())
        break;
      ++first;
    }
    TDSL_CHECK(!launches_.empty()) << "heap intermediate " << b->name << " without a launch";
    heap_.push_back({first, b});
  }
}

std::vector<int64_t> LaunchPlan::values(size_t i, const int64_t *symbols) const {
  const Geometry &g = geometry_[i];
  std::vector<int64_t> values(symbols, symbols + numSymbols_);
  values.reserve(g.vars.size());
  for (const ir::Expr &value : g.letValues)
    values.push_back(ir::evalInt(value, g.vars, values));
  return values;
}

LaunchShape LaunchPlan::shape(size_t i, const int64_t *symbols) const {
  const Geometry &g = geometry_[i];
  std::vector<int64_t> v = values(i, symbols);
  LaunchShape shape;
  if (g.condition && !ir::evalInt(g.condition, g.vars, v))
    return shape;
  shape.blocks = ir::evalInt(g.blocks, g.vars, v);
  shape.threads = ir::evalInt(g.threads, g.vars, v);
  shape.sharedBytes = ir::evalInt(g.sharedBytes, g.vars, v);
  return shape;
}

std::vector<size_t> LaunchPlan::heapBytes(const int64_t *symbols) const {
  std::vector<size_t> bytes;
  for (const Heap &h : heap_) {
    std::vector<int64_t> v = values(h.launch, symbols);
    size_t n = byteSize(h.buffer->dtype);
    for (const ir::Expr &d : h.buffer->shape)
      n *= static_cast<size_t>(std::max<int64_t>(0, ir::evalInt(d, geometry_[h.launch].vars, v)));
    bytes.push_back(n);
  }
  return bytes;
}

CudaKernel::CudaKernel(cu::Device &device, const ir::LoweredFunc &gpu, const std::string &cubin,
                       std::string location)
    : device_(device), mapped_(gpu), plan_(mapped_), location_(std::move(location)) {
  const cu::DeviceInfo &dev = device.info();
  maxGrid_ = runtime::cuda_driver::maxGridBlocks(
      dev.maxThreadsPerBlock, dev.maxThreadsPerMultiprocessor, dev.multiprocessors);
  module_ =
      std::make_unique<cu::Module>(device, cubin, "kernel " + gpu.name + " (" + location_ + ")");
  for (const ir::GpuLaunch *l : plan_.launches())
    functions_.push_back(module_->function(l->name));
  sharedAllowed_.assign(functions_.size(), 0);
  workspace_.assign(plan_.heapCount(), 0);
  workspaceBytes_.assign(plan_.heapCount(), 0);
  scratch_.assign(mapped_.params.size(), 0);
  scratchBytes_.assign(mapped_.params.size(), 0);
}

StridedCopies::StridedCopies(cu::Device &device, const std::string &cubin) {
  const cu::DeviceInfo &dev = device.info();
  maxGrid_ = runtime::cuda_driver::maxGridBlocks(
      dev.maxThreadsPerBlock, dev.maxThreadsPerMultiprocessor, dev.multiprocessors);
  module_ = std::make_unique<cu::Module>(device, cubin, "the strided copies");
  for (size_t i = 0; i < functions_.size(); ++i)
    functions_[i] = module_->function("tdsl_strided_copy_" + std::to_string(1 << i));
}

void StridedCopies::copy(cu::DevicePtr contiguous, cu::DevicePtr view, const StridedTensor &t,
                         bool toView, void *stream) const {
  runtime::cuda_driver::StridedCopyArgs args{};
  TDSL_CHECK(t.shape.size() <= kMaxRank && t.strides.size() == t.shape.size())
      << "a strided copy of rank " << t.shape.size();
  args.count = 1;
  for (size_t d = 0; d < t.shape.size(); ++d) {
    args.shape[d] = t.shape[d];
    args.strides[d] = t.strides[d];
    args.count *= t.shape[d];
  }
  args.rank = static_cast<int32_t>(t.shape.size());
  args.toView = toView;
  void *params[] = {&contiguous, &view, &args};
  cu::LaunchConfig config;
  config.grid =
      static_cast<unsigned>(std::min<int64_t>({(args.count + 255) / 256, maxGrid_, INT_MAX}));
  config.block = 256;
  config.stream = stream;
  int log2 = std::countr_zero(t.elementBytes);
  TDSL_CHECK(t.elementBytes == size_t{1} << log2 && log2 < 4) << t.elementBytes << "-byte elements";
  module_->device().launch(functions_[log2], config, params,
                           "tdsl_strided_copy_" + std::to_string(t.elementBytes),
                           "a strided tensor's copy");
}

bool CudaKernel::usesTensorCores() const { return ir::tensorCoreType(mapped_.body) != DType::F32; }

CudaKernel::~CudaKernel() {
  auto used = [](auto p) { return p != 0; };
  bool any = std::any_of(workspace_.begin(), workspace_.end(), used) ||
             std::any_of(scratch_.begin(), scratch_.end(), used);
  if (any) {
    try {
      device_.synchronize("freeing the workspace of " + mapped_.name);
    } catch (const std::exception &) {
    }
  }
  for (cu::DevicePtr p : workspace_)
    device_.release(p);
  for (cu::DevicePtr p : scratch_)
    device_.release(p);
}

size_t CudaKernel::workspaceBytes() const {
  std::lock_guard<std::mutex> lock(workspaceMutex_);
  return std::accumulate(workspaceBytes_.begin(), workspaceBytes_.end(), size_t{0});
}

void CudaKernel::grow(cu::DevicePtr &buffer, size_t &bytes, size_t needed, const std::string &what,
                      void *stream) const {
  if (buffer) { // Earlier calls may still use it.
    device_.synchronize("in kernel " + mapped_.name + " (" + location_ + ")");
    if (stream)
      device_.synchronize("in kernel " + mapped_.name + " (" + location_ + ")", stream);
    device_.release(buffer);
    buffer = 0;
    bytes = 0;
  }
  buffer = device_.allocate(needed, what + " of kernel " + mapped_.name + " (" + location_ + ")");
  bytes = needed;
}

void CudaKernel::launch(const cu::DevicePtr *buffers, const int64_t *symbols, void *stream) const {
  std::lock_guard<std::mutex> lock(workspaceMutex_);
  launchLocked(buffers, symbols, stream);
}

void CudaKernel::launch(const cu::DevicePtr *buffers, const int64_t *symbols, void *stream,
                        const std::vector<StridedTensor> &strided,
                        const StridedCopies &copies) const {
  std::lock_guard<std::mutex> lock(workspaceMutex_);
  std::vector<cu::DevicePtr> contiguous(buffers, buffers + mapped_.params.size());
  for (const StridedTensor &t : strided) {
    size_t count = 1;
    for (int64_t d : t.shape)
      count *= static_cast<size_t>(d);
    if (count == 0)
      continue;
    if (count * t.elementBytes > scratchBytes_[t.param])
      grow(scratch_[t.param], scratchBytes_[t.param], count * t.elementBytes,
           "a contiguous copy of '" + mapped_.params[t.param]->name + "'", stream);
    contiguous[t.param] = scratch_[t.param];
    if (!t.output)
      copies.copy(contiguous[t.param], buffers[t.param], t, /*toView=*/false, stream);
  }
  launchLocked(contiguous.data(), symbols, stream);
  for (const StridedTensor &t : strided)
    if (t.output && contiguous[t.param] != buffers[t.param])
      copies.copy(contiguous[t.param], buffers[t.param], t, /*toView=*/true, stream);
}

void CudaKernel::launchLocked(const cu::DevicePtr *buffers, const int64_t *symbols,
                              void *stream) const {
  std::vector<size_t> bytes = plan_.heapBytes(symbols);
  for (size_t h = 0; h < plan_.heapCount(); ++h)
    if (bytes[h] > workspaceBytes_[h])
      grow(workspace_[h], workspaceBytes_[h], bytes[h],
           "intermediate '" + plan_.heapBuffer(h)->name + "'", stream);

  size_t numParams = mapped_.params.size(), numSymbols = mapped_.symbols.size();
  std::vector<void *> args;
  args.reserve(numParams + plan_.heapCount() + numSymbols);
  std::vector<int64_t> symbolCopy(symbols, symbols + numSymbols);
  for (size_t i = 0; i < numParams; ++i)
    args.push_back(const_cast<cu::DevicePtr *>(&buffers[i]));
  for (cu::DevicePtr &p : workspace_)
    args.push_back(&p);
  for (int64_t &s : symbolCopy)
    args.push_back(&s);

  for (size_t i = 0; i < functions_.size(); ++i) {
    const std::string &name = plan_.launches()[i]->name;
    LaunchShape shape = plan_.shape(i, symbols);
    if (shape.blocks <= 0 || shape.threads <= 0)
      continue;
    // Past the default (48 KiB with the static arrays), a block's shared memory needs the
    // kernel's opt-in: allowed up to what this launch asks, where the driver can.
    if (shape.sharedBytes > sharedAllowed_[i] && cu::canAllowDynamicShared()) {
      device_.allowDynamicShared(functions_[i], static_cast<int>(shape.sharedBytes), name);
      sharedAllowed_[i] = shape.sharedBytes;
    }
    cu::LaunchConfig config;
    config.grid = static_cast<unsigned>(std::min<int64_t>({shape.blocks, maxGrid_, INT_MAX}));
    config.block = static_cast<unsigned>(shape.threads);
    config.sharedBytes = static_cast<unsigned>(shape.sharedBytes);
    config.stream = stream;
    device_.launch(functions_[i], config, args.data(), name, location_);
  }
}

namespace {
/// Device buffers freed on every path out.
struct DeviceBuffers {
  cu::Device &device;
  std::vector<cu::DevicePtr> ptrs;
  ~DeviceBuffers() {
    for (cu::DevicePtr p : ptrs)
      device.release(p);
  }
};
} // namespace

void runOnHostTensors(const CudaKernel &kernel, const std::vector<Tensor> &inputs,
                      const std::vector<Tensor> &outputs, const int64_t *symbols) {
  const ir::LoweredFunc &f = kernel.mapped();
  cu::Device &device = kernel.device();
  DeviceBuffers buffers{device, {}};
  for (size_t i = 0; i < inputs.size() + outputs.size(); ++i) {
    const Tensor &t = i < inputs.size() ? inputs[i] : outputs[i - inputs.size()];
    buffers.ptrs.push_back(device.allocate(t.nbytes(), "tensor '" + f.params[i]->name + "' of " +
                                                           f.name + " (" + t.typeString() + ")"));
    if (i < inputs.size())
      device.copyToDevice(buffers.ptrs.back(), t.data(), t.nbytes());
  }
  kernel.launch(buffers.ptrs.data(), symbols);
  device.synchronize("in kernel " + f.name + " (" + kernel.location() + ")");
  for (size_t o = 0; o < outputs.size(); ++o)
    device.copyToHost(outputs[o].data(), buffers.ptrs[inputs.size() + o], outputs[o].nbytes());
}

} // namespace tdsl::codegen
