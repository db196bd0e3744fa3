// The public C++ API: ties the frontend, the passes, the backends and the runtime together.
// Kernels are compiled lazily, once, on first use, so a file with many kernels costs nothing for
// the ones never called.
#include "tdsl/tdsl.h"

#include "api/CallPlan.h"
#include "api/CudaProgram.h"
#include "api/Inspect.h"
#include "api/KernelCache.h"
#include "api/TierUp.h"
#include "codegen/cuda/CudaBackend.h"
#include "codegen/cuda/CudaEmulator.h"
#include "codegen/cuda/CudaLaunch.h"
#include "codegen/cuda/CudaPrelude.h"
#include "frontend/Frontend.h"
#include "ir/GpuFunc.h"
#include "ir/IRPrinter.h"
#include "ir/Interpreter.h"
#include "ir/Shapes.h"
#include "passes/Pipeline.h"
#include "runtime/Arena.h"
#include "runtime/Cuda.h"
#include "runtime/KernelAbi.h"
#include "runtime/Random.h"
#include "runtime/ThreadPool.h"
#include "support/Check.h"
#ifdef TDSL_HAVE_LLVM
#include "codegen/llvm/LlvmBackend.h"
#include "codegen/llvm/LlvmOptions.h"
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <tuple>
#include <unistd.h>

namespace tdsl {

std::optional<Stage> parseStage(std::string_view name) {
  static const std::pair<std::string_view, Stage> stages[] = {
      {"ast", Stage::Ast},           {"tensor", Stage::Tensor}, {"fused", Stage::Fused},
      {"schedule", Stage::Schedule}, {"loops", Stage::Loops},   {"llvm", Stage::Llvm},
      {"asm", Stage::Asm},           {"cuda", Stage::Cuda},     {"ptx", Stage::Ptx}};
  for (const auto &[spelling, stage] : stages)
    if (spelling == name)
      return stage;
  return std::nullopt;
}

namespace detail {

int64_t hostCacheBytes(int level) {
  for (int index = 0;; ++index) {
    std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    std::ifstream levelFile(dir + "level"), typeFile(dir + "type"), sizeFile(dir + "size");
    if (!levelFile || !typeFile || !sizeFile)
      break;
    int found = 0;
    std::string type, size;
    levelFile >> found;
    typeFile >> type;
    sizeFile >> size; // "32K", "1024K", "32768K" (or "32M").
    if (found != level || type == "Instruction" || size.empty())
      continue;
    int64_t scale = size.back() == 'K' ? 1024 : size.back() == 'M' ? 1024 * 1024 : 1;
    int64_t value = std::strtoll(size.c_str(), nullptr, 10);
    if (value > 0)
      return value * scale;
  }
  const int name = level == 1   ? _SC_LEVEL1_DCACHE_SIZE
                   : level == 2 ? _SC_LEVEL2_CACHE_SIZE
                                : _SC_LEVEL3_CACHE_SIZE;
  return std::max<long>(sysconf(name), 0);
}

/// Rows of the fast tier's tiled micro-kernels (KernelState::scheduleTarget says why).
constexpr int kFastTierMicroKernelRows = 2;

passes::CpuTarget cpuTargetFor(const Target &target, int threads) {
  passes::CpuTarget t;
  if (target.cpuLevel == "host") {
#ifdef TDSL_HAVE_LLVM
    codegen::CpuInfo info = codegen::hostCpuInfo();
    t.name = "host (" + info.cpuName + ")";
    t.vectorBits = info.vectorBits;
#else
    t.name = "host";
#endif
    if (int64_t l1 = hostCacheBytes(1); l1 > 0)
      t.l1Bytes = l1;
    if (int64_t l2 = hostCacheBytes(2); l2 > 0)
      t.l2Bytes = l2;
    if (int64_t l3 = hostCacheBytes(3); l3 > 0)
      t.l3Bytes = l3;
  } else {
    t = passes::cpuTargetForLevel(target.cpuLevel);
    if (t.name.empty())
      throw RuntimeError(ErrorCode::BadFlag, "unknown CPU level '" + target.cpuLevel +
                                                 "' (known: host, x86-64-v3, x86-64-v4)");
  }
  t.threads = threads;
  return t;
}

#ifdef TDSL_HAVE_LLVM
/// The code a kernel's calls run: one tier's compiled kernel.
struct CompiledTier {
  std::shared_ptr<codegen::CompiledCpuKernel> code;
  Tier tier = Tier::None;
};

/// A kernel's current code, swapped atomically, and when its tiers arrived (for explain). Shared
/// by the kernel and its queued background compile, which holds it weakly: a kernel dropped
/// before its turn is not compiled.
///
/// A call loads `current` (one acquire load, as cheap as before tiers) and runs it. Every tier
/// published stays owned here until the kernel is destroyed, so a call that started on the fast
/// code finishes on it after the swap: calls hold the kernel, which holds both tiers. (Freeing the
/// fast code at the swap would need a count of the calls in it, an atomic read-modify-write on a
/// shared line per call; libstdc++ 12's std::atomic<std::shared_ptr> is such a count but not
/// clean under TSan. The fast code is a few kilobytes.)
struct TierSlot {
  using Clock = std::chrono::steady_clock;
  std::atomic<const CompiledTier *> current{nullptr};

  std::mutex mutex; // Publishers, the owners and the history below.
  std::shared_ptr<const CompiledTier> fast, optimized; // The tiers `current` may point to.
  Clock::time_point firstCall;
  double firstCompileSeconds = 0;
  Tier firstTier = Tier::None;
  bool cached = false;             // The first call found the optimized code in the kernel cache.
  std::optional<double> swapAfter; // Seconds from the first call to the optimized tier's swap.
  std::string tierUpError;         // Why the optimized tier failed to compile, if it did.

  /// Makes `code` the code of later calls, unless they already run this tier or a higher one.
  void publish(std::shared_ptr<codegen::CompiledCpuKernel> code, Tier tier) {
    std::lock_guard<std::mutex> lock(mutex);
    const CompiledTier *old = current.load(std::memory_order_acquire);
    if (old && old->tier >= tier)
      return;
    if (old)
      swapAfter = std::chrono::duration<double>(Clock::now() - firstCall).count();
    std::shared_ptr<const CompiledTier> &owner = tier == Tier::Fast ? fast : optimized;
    owner = std::make_shared<const CompiledTier>(CompiledTier{std::move(code), tier});
    current.store(owner.get(), std::memory_order_release);
  }
};
#endif

struct KernelState {
  std::shared_ptr<const SourceFile> source;
  ir::Kernel kernel;
  Target target;
  int cudaDevice = 0;        // The Jit's JitOptions::cudaDevice, -1 resolved: Target::cuda()'s.
  int threads = 1;           // The Jit's: what the schedule is chosen for.
  bool boundsChecks = false; // JitOptions::boundsChecks: cached in memory, never on disk.
  Tiering tiering = Tiering::Tiered;
  ParallelFor parallelFor; // JitOptions::parallelFor.
  CallPlan plan;           // How calls bind symbols and check tensors without allocating.
  runtime::Arena scratch;  // The CPU code's heap intermediates, reused across calls.

  std::shared_ptr<cache::KernelCache> cache; // The Jit's: in memory, then on disk.
  std::shared_ptr<TierUp> tierUp;            // The Jit's background compiles (Tiered only).

  std::once_flag lowerOnce, fastLowerOnce;
  ir::LoweredFunc lowered, fastLowered;
#ifdef TDSL_HAVE_LLVM
  std::once_flag compileOnce;
  std::shared_ptr<TierSlot> tiers = std::make_shared<TierSlot>();

  /// What the LLVM backend is asked for: the IR and assembly dumps follow it (the final tier).
  codegen::LlvmCodeGenOptions codeGenOptions() const {
    codegen::LlvmCodeGenOptions options;
    std::tie(options.cpu, options.features) = codegen::cpuForCode(target.cpuLevel);
    options.boundsChecks = boundsChecks;
    options.optimize = tiering != Tiering::FastOnly;
    return options;
  }

  /// The cache key of one tier's code. The key is the tensor IR, the schedule's target and the
  /// code generation options: a cache hit skips every pass, and a kernel compiled without
  /// LLVM's optimizations or bounds checks never answers a request for one with them (nor the
  /// reverse). Only optimized code without bounds checks goes to disk.
  cache::CacheKey keyOf(Tier tier) const {
    return cache::makeKey(kernel, scheduleTarget(tier), tier == Tier::Optimized, boundsChecks);
  }

  /// The code calls run now, compiled by the first call; valid while this state lives.
  const CompiledTier *compiledCode() {
    if (const CompiledTier *code = tiers->current.load(std::memory_order_acquire))
      return code;
    std::call_once(compileOnce, [&] { compileFirstTier(); });
    return tiers->current.load(std::memory_order_acquire);
  }

  void compileFirstTier() {
    auto lower = [&]() -> const ir::LoweredFunc & { return loops(); };
    auto lowerFast = [&]() -> const ir::LoweredFunc & { return fastLoops(); };
    tiers->firstCall = TierSlot::Clock::now();
    auto publishFirst = [&](std::shared_ptr<codegen::CompiledCpuKernel> code, Tier tier) {
      tiers->firstCompileSeconds =
          std::chrono::duration<double>(TierSlot::Clock::now() - tiers->firstCall).count();
      tiers->firstTier = tier;
      tiers->publish(std::move(code), tier);
    };
    if (tiering == Tiering::OptimizedOnly)
      return publishFirst(cache->get(keyOf(Tier::Optimized), lower), Tier::Optimized);
    if (tiering == Tiering::FastOnly)
      return publishFirst(cache->get(keyOf(Tier::Fast), lowerFast), Tier::Fast);
    cache::CacheKey optimizedKey = keyOf(Tier::Optimized);
    if (std::shared_ptr<codegen::CompiledCpuKernel> found = cache->find(optimizedKey)) {
      tiers->cached = true; // On disk, or in this Jit's memory: either way, no tiering.
      return publishFirst(std::move(found), Tier::Optimized);
    }
    publishFirst(cache->get(keyOf(Tier::Fast), lowerFast), Tier::Fast);
    // The job owns what it compiles and the cache it compiles into, never this state. It
    // lowers the kernel itself, off the calling thread (a tiled matmul's lowering is ~2 ms).
    tierUp->post([slot = std::weak_ptr<TierSlot>(tiers), kernelCache = cache,
                  key = std::move(optimizedKey), tensorIr = kernel,
                  schedule = scheduleTarget(Tier::Optimized)] {
      std::shared_ptr<TierSlot> target = slot.lock();
      if (!target)
        return; // The kernel is gone.
      try {
        ir::LoweredFunc func;
        auto lower = [&]() -> const ir::LoweredFunc & {
          func = passes::lowerKernel(tensorIr, schedule);
          return func;
        };
        target->publish(kernelCache->get(key, lower), Tier::Optimized);
      } catch (const std::exception &error) { // The kernel keeps its fast code.
        std::lock_guard<std::mutex> lock(target->mutex);
        target->tierUpError = error.what();
      }
    });
  }

  /// Kernel::waitForFinalTier: the optimized code compiled here unless the background thread
  /// has (or is compiling it: the cache then waits for it).
  void waitForFinalTier() {
    if (compiledCode()->tier != Tier::Fast || tiering != Tiering::Tiered)
      return;
    tiers->publish(
        cache->get(keyOf(Tier::Optimized), [&]() -> const ir::LoweredFunc & { return loops(); }),
        Tier::Optimized);
  }
#endif

  // Target::cuda(): scheduled for the GPU the target names (the Jit's device by default),
  // printed on demand, compiled for the Jit's device and loaded on it on first call.
  std::once_flag cudaProgramOnce, cudaOnce;
  GpuDevice gpu;
  CudaProgram gpuProgram;
  std::unique_ptr<codegen::CudaKernel> cuda;

  const CudaProgram &cudaProgram() {
    std::call_once(cudaProgramOnce, [&] {
      gpu = gpuFor(target.gpu, cudaDevice);
      gpuProgram = buildCudaProgram(plainLoops(), gpu);
    });
    return gpuProgram;
  }
  const codegen::CudaKernel &cudaKernel() {
    std::call_once(cudaOnce, [&] {
      // Throws, saying why, without the GPU to run on.
      runtime::cuda::Device &device = runtime::cuda::device(cudaDevice);
      const CudaProgram &program = cudaProgram();
      std::shared_ptr<const std::string> cubin = cache->cubin(program.key);
      cuda = std::make_unique<codegen::CudaKernel>(device, program.gpu, *cubin,
                                                   kernel.name + " at " + kernel.span.str());
    });
    return *cuda;
  }
  /// The copies of device tensors passed with strides that are not row-major: compiled on the
  /// first such call.
  std::once_flag stridedOnce;
  std::unique_ptr<codegen::StridedCopies> strided;
  const codegen::StridedCopies &stridedCopies() {
    std::call_once(stridedOnce, [&] {
      (void)cudaProgram(); // Picks `gpu`.
      std::shared_ptr<const std::string> cubin = cache->cubin(cache::makeCudaKey(
          "tdsl_strided_copy", codegen::stridedCopyKernels(), gpu.name, gpu.arch));
      strided = std::make_unique<codegen::StridedCopies>(runtime::cuda::device(cudaDevice), *cubin);
    });
    return *strided;
  }
  /// Where no GPU is present and TDSL_CUDA_EMULATE=1 asks for it: the same program on the CPU.
  std::once_flag emulatedOnce;
  std::unique_ptr<codegen::EmulatedCudaKernel> emulated;
  const codegen::EmulatedCudaKernel &emulatedKernel() {
    std::call_once(emulatedOnce, [&] {
      const CudaProgram &program = cudaProgram();
      emulated = std::make_unique<codegen::EmulatedCudaKernel>(
          program.gpu, program.source, kernel.name + " at " + kernel.span.str());
    });
    return *emulated;
  }

  std::once_flag scheduleOnce;
  passes::ScheduledKernel scheduled;
  std::once_flag plainOnce;
  ir::LoweredFunc plain;

  /// What the CPU schedule of `tier` is chosen for. The fast tier's tiled contractions get a
  /// micro-kernel of a few rows: the full one, its packing and its masked edges unrolled over 14
  /// rows were most of a tiled matmul's fast compile (47.6 -> 10.3 ms of CPU for its first call;
  /// fast-only, it runs ~1.2-1.7x slower: docs/performance.md), and the rows do not change any
  /// output's summation order.
  passes::CpuTarget scheduleTarget(Tier tier) const {
    passes::CpuTarget t = cpuTargetFor(target, threads);
    if (tier == Tier::Fast)
      t.microKernelRows = kFastTierMicroKernelRows;
    return t;
  }

  /// The loops the target runs: scheduled for the CPU, plain for CUDA (mapped by its backend).
  const ir::LoweredFunc &loops() {
    if (target.kind == Target::Kind::Cuda)
      return plainLoops();
    std::call_once(lowerOnce,
                   [&] { lowered = passes::lowerKernel(kernel, scheduleTarget(Tier::Optimized)); });
    return lowered;
  }
  /// The loops of the CPU's fast tier (scheduleTarget).
  const ir::LoweredFunc &fastLoops() {
    std::call_once(fastLowerOnce,
                   [&] { fastLowered = passes::lowerKernel(kernel, scheduleTarget(Tier::Fast)); });
    return fastLowered;
  }
  /// The loops of the last tier calls run: what `emit` prints and dumps as LLVM IR or assembly.
  const ir::LoweredFunc &finalLoops() {
    return target.kind == Target::Kind::Cpu && tiering == Tiering::FastOnly ? fastLoops() : loops();
  }
  const ir::LoweredFunc &plainLoops() {
    std::call_once(plainOnce, [&] { plain = passes::lowerKernel(kernel); });
    return plain;
  }
  const passes::ScheduledKernel &schedule() {
    std::call_once(scheduleOnce, [&] {
      scheduled = passes::scheduleKernel(kernel, cpuTargetFor(target, threads));
    });
    return scheduled;
  }
};

struct ModuleState {
  std::vector<std::shared_ptr<KernelState>> kernels;
};

const ir::Kernel &kernelIR(const KernelState &state) { return state.kernel; }
const Target &kernelTarget(const KernelState &state) { return state.target; }
std::vector<GpuLaunch> gpuLaunches(KernelState &state) {
  std::vector<GpuLaunch> launches;
  for (const ir::GpuLaunch *l : ir::gpuLaunches(state.cudaProgram().gpu))
    launches.push_back({l->name, std::string(ir::scheduleName(l->schedule)),
                        passes::writtenBuffers(l), l->condition != nullptr});
  return launches;
}

bool usesTensorCores(KernelState &state) {
  return state.target.kind == Target::Kind::Cuda && state.cudaKernel().usesTensorCores();
}

std::string tierHistory(KernelState &state) {
#ifdef TDSL_HAVE_LLVM
  if (state.target.kind == Target::Kind::Cuda)
    return {};
  if (!state.tiers->current.load(std::memory_order_acquire))
    return {}; // Not called yet: nothing compiled.
  TierSlot &t = *state.tiers;
  std::lock_guard<std::mutex> lock(t.mutex);
  auto ms = [](double seconds) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f ms", seconds * 1e3);
    return std::string(text);
  };
  if (t.cached)
    return "tier: the first call found the optimized code in the kernel cache (" +
           ms(t.firstCompileSeconds) + "); no tiering\n";
  std::string first = "tier: the first call compiled the " + std::string(tierName(t.firstTier)) +
                      " tier in " + ms(t.firstCompileSeconds);
  if (state.tiering != Tiering::Tiered)
    return first + " (" + (state.tiering == Tiering::FastOnly ? "FastOnly" : "OptimizedOnly") +
           ": no tiering)\n";
  if (t.swapAfter)
    return first + "; the optimized tier was swapped in " + ms(*t.swapAfter) +
           " after the first call\n";
  if (!t.tierUpError.empty())
    return first +
           "; the optimized tier failed to compile, so calls keep the fast code: " + t.tierUpError +
           "\n";
  return first + "; the optimized tier is compiling in the background\n";
#else
  (void)state;
  return {};
#endif
}

void resetIntermediatePeak(KernelState &state) { state.scratch.resetPeak(); }
int64_t intermediatePeakBytes(KernelState &state) {
  if (state.target.kind == Target::Kind::Cuda)
    return static_cast<int64_t>(state.cudaKernel().workspaceBytes());
  return static_cast<int64_t>(state.scratch.stats().peakIntermediateBytes);
}
int64_t packedPanelPeakBytes(KernelState &state) {
  if (state.target.kind == Target::Kind::Cuda)
    return 0;
  return static_cast<int64_t>(state.scratch.stats().peakPanelBytes);
}

} // namespace detail

namespace {

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::vector<std::vector<int64_t>> shapesOf(const std::vector<Tensor> &tensors) {
  std::vector<std::vector<int64_t>> shapes;
  for (const Tensor &t : tensors)
    shapes.push_back(t.shape());
  return shapes;
}

/// Checks the inputs' count and dtypes, then binds the shape symbols (which checks the shapes).
std::vector<int64_t> bindInputs(const ir::Kernel &kernel, const std::vector<Tensor> &inputs) {
  if (inputs.size() != kernel.inputs.size())
    throw RuntimeError(ErrorCode::TensorMismatch,
                       "kernel " + kernel.name + " takes " + std::to_string(kernel.inputs.size()) +
                           " inputs, got " + std::to_string(inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const ir::Buffer &param = kernel.inputs[i];
    if (inputs[i].dtype() != param->dtype)
      throw RuntimeError(ErrorCode::TensorMismatch,
                         "input " + param->name + " of kernel " + kernel.name + ": expected " +
                             std::string(dtypeName(param->dtype)) + ", got " +
                             std::string(dtypeName(inputs[i].dtype())));
  }
  return ir::bindSymbols(kernel, shapesOf(inputs));
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Kernel

const std::string &Kernel::name() const { return state->kernel.name; }

std::vector<std::string> Kernel::inputNames() const {
  std::vector<std::string> names;
  for (const ir::Buffer &b : state->kernel.inputs)
    names.push_back(b->name);
  return names;
}

std::vector<std::string> Kernel::outputNames() const {
  std::vector<std::string> names;
  for (const ir::Buffer &b : state->kernel.outputs)
    names.push_back(b->name);
  return names;
}

DType Kernel::inputDType(size_t input) const { return state->kernel.inputs.at(input)->dtype; }
DType Kernel::outputDType(size_t output) const { return state->kernel.outputs.at(output)->dtype; }

std::vector<std::vector<std::string>> Kernel::inputDims() const {
  std::vector<std::vector<std::string>> dims;
  for (const ir::Buffer &b : state->kernel.inputs) {
    dims.emplace_back();
    for (const ir::Expr &d : b->shape)
      dims.back().push_back(ir::toString(d));
  }
  return dims;
}

std::vector<std::string> Kernel::symbolNames() const {
  std::vector<std::string> names;
  for (const ir::Var &symbol : state->kernel.symbols)
    names.push_back(symbol->name);
  return names;
}

std::vector<int64_t> Kernel::inputShape(size_t input,
                                        const std::map<std::string, int64_t> &sizes) const {
  const ir::Buffer &param = state->kernel.inputs.at(input);
  std::vector<int64_t> shape;
  for (const ir::Expr &dim : param->shape) {
    if (const auto *literal = dim->as<ir::IntImm>()) {
      shape.push_back(literal->value);
      continue;
    }
    // Inputs' dims are integer literals or plain shape symbols (checked by sema).
    const std::string &symbol = dim->as<ir::VarRef>()->var->name;
    auto it = sizes.find(symbol);
    if (it == sizes.end())
      throw RuntimeError(ErrorCode::UnboundSymbol, "the size of " + symbol + " (a dim of input " +
                                                       param->name + ") is not given");
    shape.push_back(it->second);
  }
  return shape;
}

std::vector<Tensor> Kernel::randomInputs(const std::map<std::string, int64_t> &sizes,
                                         uint64_t seed) const {
  const ir::Kernel &k = state->kernel;
  std::vector<Tensor> inputs;
  for (size_t i = 0; i < k.inputs.size(); ++i)
    inputs.push_back(Tensor::randn(inputShape(i, sizes), inputDType(i), seed + i));
  // An input read as a gather's subscript holds indices in range of the smallest dim it indexes.
  std::vector<int64_t> symbols;
  for (const ir::Var &s : k.symbols)
    symbols.push_back(sizes.at(s->name));
  for (size_t i = 0; i < k.inputs.size(); ++i) {
    int64_t range = -1;
    for (const ir::GatherCheck &c : k.checks)
      if (c.source == k.inputs[i]) {
        int64_t dim = ir::evalShape(c.gathered, k.symbols, symbols).at(c.dim);
        range = range < 0 ? dim : std::min(range, dim);
      }
    if (range <= 0)
      continue;
    runtime::Random rng(seed + i);
    for (int64_t e = 0; e < inputs[i].numel(); ++e)
      inputs[i].setInt(e, rng.uniformInt(0, range - 1));
  }
  return inputs;
}

std::vector<std::vector<int64_t>> Kernel::outputShapes(const std::vector<Tensor> &inputs) const {
  const ir::Kernel &k = state->kernel;
  std::vector<int64_t> symbols = bindInputs(k, inputs);
  std::vector<std::vector<int64_t>> shapes;
  for (const ir::Buffer &out : k.outputs)
    shapes.push_back(ir::evalShape(out, k.symbols, symbols));
  return shapes;
}

namespace {

/// 0 means every hardware thread; more than the hardware has is capped.
int resolveThreads(int threads) {
  if (threads < 0)
    throw RuntimeError("the thread count must be at least 0 (0: every hardware thread), got " +
                       std::to_string(threads));
  int hardware = runtime::ThreadPool::hardwareThreads();
  return threads == 0 ? hardware : std::min(threads, hardware);
}

/// A call's parallel loops through a program's ParallelFor: each loop of `n` iterations becomes
/// min(threads, n) chunks of the static split (runtime::staticChunk), as tdsl's pool splits it.
struct HookedLoops {
  ParallelFor hook;
  int threads;

  /// runtime::CallRuntime::parallelFor's signature; `user` is a HookedLoops.
  static void run(void *user, int64_t n, void (*body)(void *closure, int64_t begin, int64_t end),
                  void *closure) {
    const auto &self = *static_cast<const HookedLoops *>(user);
    struct Loop {
      int64_t n;
      int chunks;
      void (*body)(void *, int64_t, int64_t);
      void *closure;
    } loop{n, static_cast<int>(std::clamp<int64_t>(n, 1, std::max(self.threads, 1))), body,
           closure};
    auto chunk = [](void *context, int index) {
      const auto &l = *static_cast<const Loop *>(context);
      auto [begin, end] = runtime::staticChunk(l.n, l.chunks, index);
      l.body(l.closure, begin, end);
    };
    self.hook.fn(loop.chunks, chunk, &loop, self.hook.user);
  }
};

/// Calls the compiled code (compiling it on the first call) with `threads` threads.
void launch(detail::KernelState &state, void *const *buffers, const int64_t *symbols, int threads) {
  if (state.target.kind == Target::Kind::Cuda)
    throw RuntimeError("running kernels on CUDA is not implemented yet; use --target cpu (CUDA "
                       "source and PTX are available with `tdsl emit --stage=cuda|ptx`)");
#ifdef TDSL_HAVE_LLVM
  // A swap meanwhile does not free the code this call runs (TierSlot keeps every tier).
  const detail::CompiledTier *code = state.compiledCode();
  runtime::CallRuntime rt{threads > 1 ? &runtime::ThreadPool::shared() : nullptr, threads,
                          &state.scratch};
  HookedLoops hooked{state.parallelFor, threads};
  if (state.parallelFor.fn) {
    rt.parallelFor = &HookedLoops::run;
    rt.parallelForUser = &hooked;
  }
  code->code->entry()(buffers, symbols, &rt);
  if (uint64_t bytes = rt.failedBytes.load(std::memory_order_relaxed))
    throw RuntimeError("kernel " + state.kernel.name + ": cannot allocate " +
                       std::to_string(bytes) +
                       " bytes for an intermediate (out of memory); its outputs are not valid");
#else
  (void)buffers, (void)symbols, (void)threads;
  throw RuntimeError("this tdsl was built without the LLVM backend (TDSL_ENABLE_LLVM=OFF), so it "
                     "cannot run kernels on the CPU");
#endif
}

/// Fresh i64 scalars for the results of `k`'s gather checks, passed after its outputs.
std::vector<Tensor> gatherCheckResults(const ir::Kernel &k) {
  std::vector<Tensor> results;
  for (size_t c = 0; c < k.checks.size(); ++c)
    results.push_back(Tensor::zeros({}, DType::I64));
  return results;
}

/// Raises the error (E093) of the first gather check that found an index out of range.
void throwIfGatherFailed(const ir::Kernel &k, const std::vector<int64_t> &symbols,
                         const std::vector<Tensor> &results) {
  std::vector<int64_t> values;
  for (const Tensor &t : results)
    values.push_back(t.atInt(0));
  ir::throwIfGatherFailed(k, symbols, values.data());
}

bool anyStrided(const std::vector<Tensor> &inputs, const std::vector<Tensor> &outputs) {
  auto strided = [](const Tensor &t) { return !t.isContiguous(); };
  return std::any_of(inputs.begin(), inputs.end(), strided) ||
         std::any_of(outputs.begin(), outputs.end(), strided);
}

/// A call on tensors of which some are not contiguous (runChecked checked the outputs are
/// writable and their elements distinct): each such input is copied once into a dense tensor,
/// each such output computed into one and copied out once the call succeeded
/// (Kernel::explainCall says which, and the bytes).
void runStrided(const Kernel &self, const std::vector<Tensor> &inputs,
                const std::vector<Tensor> &outputs) {
  std::vector<Tensor> denseInputs, denseOutputs;
  for (const Tensor &t : inputs)
    denseInputs.push_back(t.contiguous());
  for (const Tensor &t : outputs)
    denseOutputs.push_back(t.isContiguous() ? t : Tensor::zeros(t.shape(), t.dtype()));
  self.run(denseInputs, denseOutputs); // Dense now: the fast path, where it applies.
  for (size_t o = 0; o < outputs.size(); ++o)
    if (!outputs[o].isContiguous())
      outputs[o].copyFrom(denseOutputs[o]);
}

/// The general path of Kernel::run: every check with its detailed error message, and in-place
/// calls. Taken when the fast path (CallPlan) says no.
void runChecked(const Kernel &self, detail::KernelState &state, const std::vector<Tensor> &inputs,
                const std::vector<Tensor> &outputs, int threads) {
  const ir::Kernel &k = state.kernel;
  for (size_t i = 0; i < outputs.size() && i < k.outputs.size(); ++i) {
    const std::string &name = k.outputs[i]->name;
    if (outputs[i].readOnly())
      throw RuntimeError(ErrorCode::TensorMismatch,
                         "output " + name + " of kernel " + k.name +
                             " is a read-only view; an output must be writable");
    if (!detail::elementsDistinct(outputs[i]))
      throw RuntimeError(ErrorCode::TensorMismatch,
                         "output " + name + " of kernel " + k.name + ": its strides " +
                             shapeString(outputs[i].strides()) +
                             " put two elements at one address; an output's elements must be "
                             "distinct");
  }
  // The same call on dense tensors, whose checks give the same messages (same shapes and types).
  if (anyStrided(inputs, outputs))
    return runStrided(self, inputs, outputs);
  std::vector<int64_t> symbols = bindInputs(k, inputs);
  if (outputs.size() != k.outputs.size())
    throw RuntimeError(ErrorCode::TensorMismatch,
                       "kernel " + k.name + " has " + std::to_string(k.outputs.size()) +
                           " outputs, got " + std::to_string(outputs.size()));
  std::vector<void *> buffers;
  for (const Tensor &t : inputs)
    buffers.push_back(t.data());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const ir::Buffer &param = k.outputs[i];
    std::vector<int64_t> expected = ir::evalShape(param, k.symbols, symbols);
    if (outputs[i].dtype() != param->dtype || outputs[i].shape() != expected)
      throw RuntimeError(ErrorCode::TensorMismatch,
                         "output " + param->name + " of kernel " + k.name + ": expected " +
                             std::string(dtypeName(param->dtype)) + shapeString(expected) +
                             ", got " + outputs[i].typeString());
    buffers.push_back(outputs[i].data());
  }
  // The gather checks' results follow the outputs.
  std::vector<Tensor> checks = gatherCheckResults(k);
  if (state.target.kind == Target::Kind::Cuda) { // Separate device buffers: in-place is fine.
    std::vector<Tensor> written = outputs;
    written.insert(written.end(), checks.begin(), checks.end());
    if (!runtime::cuda::status().available && codegen::cudaEmulationRequested())
      state.emulatedKernel().run(inputs, written, symbols.data());
    else
      codegen::runOnHostTensors(state.cudaKernel(), inputs, written, symbols.data());
    return throwIfGatherFailed(k, symbols, checks);
  }
  // Compiled code assumes its outputs overlap nothing (noalias): an in-place call computes into
  // fresh tensors and copies.
  if (detail::outputsOverlap(inputs, outputs)) {
    std::vector<Tensor> fresh = self(inputs);
    for (size_t j = 0; j < outputs.size(); ++j)
      std::memcpy(outputs[j].data(), fresh[j].data(), fresh[j].nbytes());
    return;
  }
  for (const Tensor &t : checks)
    buffers.push_back(t.data());
  launch(state, buffers.data(), symbols.data(), threads);
  throwIfGatherFailed(k, symbols, checks);
}

} // namespace

std::vector<Tensor> Kernel::operator()(const std::vector<Tensor> &inputs) const {
  const detail::CallPlan &plan = state->plan;
  int64_t symbols[detail::CallPlan::kMaxSymbols];
  if (state->target.kind != Target::Kind::Cuda && plan.fast() && plan.bindInputs(inputs, symbols)) {
    std::vector<Tensor> outputs;
    outputs.reserve(plan.numOutputs());
    void *buffers[detail::CallPlan::kMaxBuffers];
    size_t count = 0;
    for (const Tensor &t : inputs)
      buffers[count++] = t.data();
    bool valid = true;
    for (size_t o = 0; valid && o < plan.numOutputs(); ++o) {
      std::vector<int64_t> shape(plan.outputRank(o));
      valid = plan.outputShape(o, symbols, shape.data());
      if (valid) {
        outputs.push_back(Tensor::zeros(std::move(shape), plan.outputDType(o)));
        buffers[count++] = outputs.back().data();
      }
    }
    if (valid) { // Fresh outputs overlap nothing.
      launch(*state, buffers, symbols, threads_);
      return outputs;
    }
  }
  std::vector<Tensor> outputs;
  std::vector<std::vector<int64_t>> shapes = outputShapes(inputs);
  for (size_t i = 0; i < shapes.size(); ++i)
    outputs.push_back(Tensor::zeros(shapes[i], outputDType(i)));
  runChecked(*this, *state, inputs, outputs, threads_);
  return outputs;
}

void Kernel::run(const std::vector<Tensor> &inputs, const std::vector<Tensor> &outputs) const {
  // The fast path: no allocation, no string; any doubt goes to the general path.
  const detail::CallPlan &plan = state->plan;
  int64_t symbols[detail::CallPlan::kMaxSymbols];
  if (state->target.kind != Target::Kind::Cuda && plan.fast() && plan.bindInputs(inputs, symbols) &&
      plan.checkOutputs(outputs, symbols) && !detail::outputsOverlap(inputs, outputs)) {
    void *buffers[detail::CallPlan::kMaxBuffers];
    size_t count = 0;
    for (const Tensor &t : inputs)
      buffers[count++] = t.data();
    for (const Tensor &t : outputs)
      buffers[count++] = t.data();
    return launch(*state, buffers, symbols, threads_);
  }
  runChecked(*this, *state, inputs, outputs, threads_);
}

std::string Kernel::explainCall(const std::vector<Tensor> &inputs,
                                const std::vector<Tensor> &outputs) const {
  std::vector<std::string> lines = detail::layoutCopies(state->kernel, inputs, outputs);
  if (lines.empty())
    return "every tensor is contiguous: the compiled code reads and writes them in place\n";
  std::string text;
  for (const std::string &line : lines)
    text += line + "\n";
  return text;
}

namespace {
/// Notes `t`, param `param` of the kernel, in `strided` when its strides are not row-major (and
/// it has elements): the call copies it through contiguous scratch. An output's elements must
/// be distinct.
void noteLayout(const ir::Kernel &k, size_t param, const DeviceTensor &t,
                std::vector<codegen::StridedTensor> &strided) {
  if (t.isContiguous() || t.numel() == 0)
    return;
  bool output = param >= k.inputs.size();
  const ir::BufferNode &node = output ? *k.outputs[param - k.inputs.size()] : *k.inputs[param];
  std::string what = std::string(output ? "output " : "input ") + node.name + " of kernel " +
                     k.name + ": " + t.typeString() + " with strides " + shapeString(t.strides());
  if (t.shape().size() > codegen::StridedCopies::kMaxRank)
    throw RuntimeError(ErrorCode::TensorMismatch,
                       what + " has more than " + std::to_string(codegen::StridedCopies::kMaxRank) +
                           " dims; a device tensor of that rank must be contiguous");
  // A host view of the layout, never dereferenced.
  Tensor layout = Tensor::view(reinterpret_cast<const void *>(t.devicePointer()), t.shape(),
                               t.dtype(), t.strides());
  if (output && !detail::elementsDistinct(layout))
    throw RuntimeError(ErrorCode::TensorMismatch,
                       what + " puts two elements at one address; an output's elements must be "
                              "distinct");
  strided.push_back(
      {param, output, t.shape(), t.strides(), static_cast<size_t>(byteSize(t.dtype()))});
}

/// Refuses device tensor `t`, argument `what` of the kernel, when it lives on another device than
/// the kernel's: the kernel's context cannot use that memory (nor a stream of that device).
void checkDevice(const detail::KernelState &state, const std::string &what, const DeviceTensor &t) {
  if (t.device() == state.cudaDevice)
    return;
  std::string kernelDevice = "cuda:" + std::to_string(state.cudaDevice);
  std::string tensorDevice = "cuda:" + std::to_string(t.device());
  throw RuntimeError(ErrorCode::TensorMismatch,
                     what + " of kernel " + state.kernel.name + " is on " + tensorDevice +
                         ", but the kernel runs on " + kernelDevice +
                         " (the device of its Jit, JitOptions::cudaDevice); copy the tensor to " +
                         kernelDevice + " or call a kernel compiled for " + tensorDevice);
}

/// Checks device tensors against the kernel like bindInputs/runChecked do for host tensors.
std::vector<int64_t> bindDeviceInputs(const detail::KernelState &state,
                                      const std::vector<DeviceTensor> &inputs) {
  const ir::Kernel &k = state.kernel;
  if (state.target.kind != Target::Kind::Cuda)
    throw RuntimeError("kernel " + k.name +
                       " was compiled for the CPU; device tensors need a "
                       "Jit with Target::cuda()");
  if (inputs.size() != k.inputs.size())
    throw RuntimeError(ErrorCode::TensorMismatch,
                       "kernel " + k.name + " takes " + std::to_string(k.inputs.size()) +
                           " inputs, got " + std::to_string(inputs.size()));
  std::vector<std::vector<int64_t>> shapes;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].dtype() != k.inputs[i]->dtype)
      throw RuntimeError(ErrorCode::TensorMismatch, "input " + k.inputs[i]->name + " of kernel " +
                                                        k.name + ": expected " +
                                                        std::string(dtypeName(k.inputs[i]->dtype)) +
                                                        ", got " + inputs[i].typeString());
    checkDevice(state, "input " + k.inputs[i]->name, inputs[i]);
    shapes.push_back(inputs[i].shape());
  }
  return ir::bindSymbols(k, shapes);
}
} // namespace

int Kernel::cudaDevice() const { return state->cudaDevice; }

std::vector<DeviceTensor> Kernel::callDevice(const std::vector<DeviceTensor> &inputs,
                                             void *stream) const {
  const ir::Kernel &k = state->kernel;
  std::vector<int64_t> symbols = bindDeviceInputs(*state, inputs);
  std::vector<DeviceTensor> outputs;
  for (const ir::Buffer &out : k.outputs)
    outputs.push_back(
        DeviceTensor::empty(ir::evalShape(out, k.symbols, symbols), out->dtype, state->cudaDevice));
  runDevice(inputs, outputs, stream);
  return outputs;
}

void Kernel::runDevice(const std::vector<DeviceTensor> &inputs,
                       const std::vector<DeviceTensor> &outputs, void *stream) const {
  const ir::Kernel &k = state->kernel;
  std::vector<int64_t> symbols = bindDeviceInputs(*state, inputs);
  if (outputs.size() != k.outputs.size())
    throw RuntimeError(ErrorCode::TensorMismatch,
                       "kernel " + k.name + " has " + std::to_string(k.outputs.size()) +
                           " outputs, got " + std::to_string(outputs.size()));
  std::vector<uint64_t> buffers;
  for (const DeviceTensor &t : inputs)
    buffers.push_back(t.devicePointer());
  for (size_t i = 0; i < outputs.size(); ++i) {
    std::vector<int64_t> expected = ir::evalShape(k.outputs[i], k.symbols, symbols);
    if (outputs[i].dtype() != k.outputs[i]->dtype || outputs[i].shape() != expected)
      throw RuntimeError(ErrorCode::TensorMismatch,
                         "output " + k.outputs[i]->name + " of kernel " + k.name + ": expected " +
                             std::string(dtypeName(k.outputs[i]->dtype)) + shapeString(expected) +
                             ", got " + outputs[i].typeString());
    checkDevice(*state, "output " + k.outputs[i]->name, outputs[i]);
    for (const DeviceTensor &in : inputs) // Compiled code assumes noalias outputs.
      if (in.nbytes() && in.devicePointer() == outputs[i].devicePointer())
        throw RuntimeError(
            ErrorCode::TensorMismatch,
            "output " + k.outputs[i]->name + " of kernel " + k.name +
                " is also an input; in-place calls on device tensors are not supported");
    buffers.push_back(outputs[i].devicePointer());
  }
  std::vector<DeviceTensor> checks;
  for (size_t c = 0; c < k.checks.size(); ++c) {
    checks.push_back(DeviceTensor::empty({}, DType::I64, state->cudaDevice));
    buffers.push_back(checks.back().devicePointer());
  }
  // Views with other strides go through contiguous scratch, copied on the same stream.
  std::vector<codegen::StridedTensor> strided;
  for (size_t i = 0; i < inputs.size(); ++i)
    noteLayout(k, i, inputs[i], strided);
  for (size_t o = 0; o < outputs.size(); ++o)
    noteLayout(k, inputs.size() + o, outputs[o], strided);
  if (strided.empty())
    state->cudaKernel().launch(buffers.data(), symbols.data(), stream);
  else
    state->cudaKernel().launch(buffers.data(), symbols.data(), stream, strided,
                               state->stridedCopies());
  if (checks.empty())
    return;
  if (stream) // The results are read on tdsl's stream, which the caller's is not ordered with.
    state->cudaKernel().device().synchronize("in kernel " + k.name, stream);
  std::vector<Tensor> results;
  for (const DeviceTensor &t : checks)
    results.push_back(t.toHost());
  throwIfGatherFailed(k, symbols, results);
}

std::string_view tierName(Tier tier) {
  switch (tier) {
  case Tier::None:
    return "none";
  case Tier::Fast:
    return "fast";
  case Tier::Optimized:
    return "optimized";
  }
  TDSL_UNREACHABLE("unknown tier");
}

Tier Kernel::tier() const {
#ifdef TDSL_HAVE_LLVM
  if (state->target.kind == Target::Kind::Cpu)
    if (const detail::CompiledTier *code = state->tiers->current.load(std::memory_order_acquire))
      return code->tier;
#endif
  return Tier::None;
}

void Kernel::waitForFinalTier() const {
  if (state->target.kind == Target::Kind::Cuda)
    throw RuntimeError("waitForFinalTier: CUDA kernels have one tier");
#ifdef TDSL_HAVE_LLVM
  state->waitForFinalTier();
#else
  throw RuntimeError("this tdsl was built without the LLVM backend");
#endif
}

Kernel Kernel::withThreads(int threads) const {
  Kernel copy = *this;
  copy.threads_ = resolveThreads(threads);
  return copy;
}

std::vector<Tensor> Kernel::interpret(const std::vector<Tensor> &inputs) const {
  bindInputs(state->kernel, inputs);
  return ir::interpret(state->kernel, inputs);
}

std::vector<Tensor> Kernel::interpretRoundingF32(const std::vector<Tensor> &inputs,
                                                 int mathFunctionUlps) const {
  bindInputs(state->kernel, inputs);
  return ir::interpret(state->kernel, inputs, /*roundEachF32=*/true, mathFunctionUlps);
}

std::string Kernel::dump(Stage stage) const {
  switch (stage) {
  case Stage::Ast:
    return printAst(state->source->text, state->source->name, name());
  case Stage::Tensor:
    return ir::toString(state->kernel);
  case Stage::Fused:
    return passes::toString(state->schedule().fused);
  case Stage::Schedule:
    if (state->target.kind == Target::Kind::Cuda)
      return passes::toString(state->cudaProgram().gpu, state->gpu.target);
    return passes::toString(state->schedule().fused, state->schedule().schedule);
  case Stage::Loops:
    if (state->target.kind == Target::Kind::Cuda)
      return passes::loopsToString(state->cudaProgram().gpu);
    return ir::toString(state->finalLoops());
  case Stage::Llvm:
#ifdef TDSL_HAVE_LLVM
    return codegen::emitLlvmIr(state->finalLoops(), /*optimized=*/true, state->codeGenOptions());
#else
    throw RuntimeError("this tdsl was built without the LLVM backend");
#endif
  case Stage::Asm:
#ifdef TDSL_HAVE_LLVM
    return codegen::emitAssembly(state->finalLoops(), state->codeGenOptions());
#else
    throw RuntimeError("this tdsl was built without the LLVM backend");
#endif
  case Stage::Cuda:
    return state->cudaProgram().source;
  case Stage::Ptx: { // The virtual architecture of the GPU's: "sm_90a" -> "compute_90a".
    const detail::CudaProgram &program = state->cudaProgram();
    return codegen::compileToPtx(program.source, name(), "compute_" + state->gpu.arch.substr(3));
  }
  }
  TDSL_UNREACHABLE("unknown stage");
}

// ---------------------------------------------------------------------------------------------
// Module and Jit

Kernel Module::kernel(const std::string &name) const {
  for (const auto &k : state->kernels)
    if (k->kernel.name == name) {
      Kernel result;
      result.state = k;
      result.threads_ = k->threads;
      return result;
    }
  std::string known;
  for (const auto &k : state->kernels)
    known += (known.empty() ? "" : ", ") + k->kernel.name;
  throw RuntimeError(ErrorCode::NoSuchKernel,
                     "no kernel named '" + name + "' (this module has: " + known + ")");
}

std::vector<std::string> Module::kernelNames() const {
  std::vector<std::string> names;
  for (const auto &k : state->kernels)
    names.push_back(k->kernel.name);
  return names;
}

std::string printAst(const std::string &source, const std::string &name,
                     const std::string &kernel) {
  auto file = std::make_shared<const SourceFile>(SourceFile{name, source});
  DiagnosticEngine diags;
  std::optional<std::string> ast = frontend::dumpAst(file, kernel, diags);
  if (!ast)
    throw CompileError(diags.diagnostics());
  return *ast;
}

std::string Kernel::dumpAfter(const std::string &pass) const {
  std::string out;
  std::vector<std::string> seen;
  auto note = [&](const std::string &name, const std::string &text) {
    if (std::find(seen.begin(), seen.end(), name) == seen.end())
      seen.push_back(name);
    if (pass == "all" || pass == name)
      out += "# after " + name + "\n" + text + (text.empty() || text.back() != '\n' ? "\n" : "");
  };
  passes::PassLog log;
  log.afterTensorPass = [&](const std::string &name, const ir::Kernel &k) {
    note(name, ir::toString(k));
  };
  log.afterLoopPass = [&](const std::string &name, const ir::LoweredFunc &f) {
    note(name, ir::toString(f));
  };
  if (state->target.kind == Target::Kind::Cuda)
    (void)passes::lowerForGpu(state->kernel, (state->cudaProgram(), state->gpu.target), log);
  else
    (void)passes::lowerKernel(state->kernel, detail::cpuTargetFor(state->target, state->threads),
                              log);
  if (out.empty()) {
    std::string names;
    for (const std::string &n : seen)
      names += (names.empty() ? "" : ", ") + n;
    throw RuntimeError(ErrorCode::BadFlag,
                       "no pass named '" + pass + "' (the passes: " + names + ", or all)");
  }
  return out;
}

std::string Kernel::cacheStatus() const {
  if (state->target.kind == Target::Kind::Cuda) {
    // The key holds the CUDA C, which is scheduled for the device's own properties.
    if (runtime::cuda::deviceCount() == 0)
      return "unknown: no GPU to schedule for (" + runtime::cuda::status().reason + ")";
    return cache::explainLookup(state->cudaProgram().key, state->cache->disk());
  }
  if (state->boundsChecks)
    return "not on disk: compiled with bounds checks (JitOptions::boundsChecks; cached in memory "
           "only)";
#ifdef TDSL_HAVE_LLVM
  if (state->tiering == Tiering::FastOnly)
    return "not on disk: fast-tier code (Tiering::FastOnly) is cached in memory only";
  return cache::explainLookup(state->keyOf(Tier::Optimized), state->cache->disk());
#else
  return "no disk cache (built without the LLVM backend)";
#endif
}

Jit::Jit(Target target) : Jit(JitOptions{target}) {}

Jit::Jit(const JitOptions &options)
    : target_(options.target), threads_(resolveThreads(options.threads)),
      boundsChecks_(options.boundsChecks), tiering_(options.tiering),
      parallelFor_(options.parallelFor) {
  if (options.cudaDevice < -1)
    throw RuntimeError("JitOptions::cudaDevice is " + std::to_string(options.cudaDevice) +
                       "; a device ordinal is 0 or more (-1: TDSL_CUDA_DEVICE, else 0)");
  cudaDevice_ = runtime::cuda::resolveOrdinal(options.cudaDevice);
  cache_ = std::make_shared<cache::KernelCache>(cache::directoryFor(options));
  if (tiering_ == Tiering::Tiered && target_.kind == Target::Kind::Cpu)
    tierUp_ = std::make_shared<detail::TierUp>();
}

Module Jit::compile(const std::string &source, const std::string &name) const {
  auto file = std::make_shared<const SourceFile>(SourceFile{name, source});
  DiagnosticEngine diags;
  std::optional<ir::Module> module = frontend::compileSource(file, diags);
  if (!module || diags.hasErrors())
    throw CompileError(diags.diagnostics());
  auto state = std::make_shared<detail::ModuleState>();
  for (ir::Kernel &k : module->kernels) {
    auto ks = std::make_shared<detail::KernelState>();
    ks->source = file;
    ks->kernel = std::move(k);
    ks->target = target_;
    ks->cudaDevice = cudaDevice_;
    ks->threads = threads_;
    ks->boundsChecks = boundsChecks_;
    ks->tiering = tiering_;
    ks->parallelFor = parallelFor_;
    ks->cache = cache_;
    ks->tierUp = tierUp_;
    ks->plan = detail::CallPlan(ks->kernel);
    state->kernels.push_back(std::move(ks));
  }
  Module result;
  result.state = std::move(state);
  return result;
}

Module Jit::compileFile(const std::string &path) const {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw RuntimeError(ErrorCode::CannotReadSource, "cannot open " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return compile(text.str(), path);
}

} // namespace tdsl
