// The tdsl C++ API: compile .tdsl source, call its kernels on tensors, inspect every stage.
//
//   tdsl::Jit jit;                      // or tdsl::Jit{tdsl::JitOptions{.threads = 4}}
//   tdsl::Module mod = jit.compileFile("softmax.tdsl");
//   tdsl::Kernel softmax = mod.kernel("softmax");
//   tdsl::Tensor y = softmax({x})[0];
//   std::string ir = softmax.dump(tdsl::Stage::Llvm);
#pragma once

#include "tdsl/DType.h"
#include "tdsl/Diagnostics.h"
#include "tdsl/Inspect.h"
#include "tdsl/Tensor.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tdsl {

/// The stages `dump` and `tdsl emit --stage` can print. Fused and Schedule show the fused
/// groups and the CPU schedule, each decision with its reason.
enum class Stage { Ast, Tensor, Fused, Schedule, Loops, Llvm, Asm, Cuda, Ptx };
std::optional<Stage> parseStage(std::string_view name);

struct Target {
  enum class Kind { Cpu, Cuda };
  Kind kind = Kind::Cpu;
  /// The CPU the schedule is chosen for: "host" (this machine's vector width and caches), or a
  /// named level, "x86-64-v3" (AVX2) or "x86-64-v4" (AVX-512), which gives the same schedule on
  /// every machine, compiled for that level when this machine has it (the same bits on every
  /// machine that runs the level, and those of an AOT library's version for it), else for this
  /// machine (LLVM splits vectors wider than it has).
  std::string cpuLevel = "host";
  /// The GPU the CUDA schedule is chosen for: "device" (the Jit's GPU, JitOptions::cudaDevice;
  /// with none, sm_90), or a named architecture, "sm_80", "sm_86", "sm_89" or "sm_90", which gives
  /// the same schedule on every machine (for `tdsl emit --gpu`; the code is still compiled for the
  /// Jit's GPU).
  std::string gpu = "device";
  static Target cpu() { return Target{Kind::Cpu}; }
  static Target cuda() { return Target{Kind::Cuda}; }
};

/// How much of LLVM's work a CPU kernel's code gets (JitOptions::tiering). tdsl's passes make
/// the same loops for both tiers (but for a tiled contraction's micro-kernel, of fewer rows in
/// the fast tier, which sums each output in the same order), and every floating-point decision
/// (each FMA, each reduction tree) is explicit in the IR tdsl gives LLVM, so both tiers compute
/// bit-identical results.
/// - Fast: EarlyCSE as the only LLVM IR pass, fast instruction selection (its -O0 code
///   generator): a kernel compiles several times faster (softmax: ~8 ms instead of ~40) into
///   code ~2x slower.
/// - Optimized: LLVM's O3 pipeline (without its loop unrolling), aggressive code generation.
enum class Tier { None, Fast, Optimized }; // None: not compiled yet.
std::string_view tierName(Tier tier);      // "none", "fast", "optimized"

/// When a Jit compiles which tier (docs/api.md, "Tiers"):
/// - Tiered: a kernel's first call compiles the fast tier on the calling thread and runs it,
///   and queues the optimized tier for the Jit's background thread, which swaps it in
///   atomically once compiled (calls already running finish on the code they started with).
///   A kernel whose optimized code is in the disk cache loads it and never tiers. Destroying
///   the Jit cancels the compiles still queued and waits for the one running; kernels keep the
///   code they have.
/// - OptimizedOnly: the first call compiles the optimized tier and waits for it.
/// - FastOnly (`tdsl run -O0`): only the fast tier, for fuzzing, debugging and scripts.
/// Only optimized code goes to the disk cache; fast code is cached in memory, per Jit.
enum class Tiering { Tiered, OptimizedOnly, FastOnly };

namespace detail {
struct ModuleState;
struct KernelState;
struct DeviceStorage;
class TierUp;
} // namespace detail

/// A tensor in the memory of one GPU (its device, a CUDA ordinal), for keeping data on the
/// device across calls of kernels compiled for Target::cuda() (Kernel::callDevice / runDevice):
/// owned (dense, row-major) or a view of the caller's device memory. Cheap to copy: copies share
/// one allocation, freed with the last. Kernel calls on device tensors are asynchronous (ordered
/// on tdsl's stream of the device, or the caller's); toHost and copyTo wait for them. Throws
/// RuntimeError when there is no GPU, or no device of that ordinal. A `device` of -1 is the
/// default device: TDSL_CUDA_DEVICE, else 0.
class DeviceTensor {
public:
  DeviceTensor() = default;
  /// Uninitialized memory of device `device`.
  static DeviceTensor empty(std::vector<int64_t> shape, DType dtype, int device = -1);
  /// A view of caller-owned memory of device `device` (a CUdeviceptr), never freed by tdsl; the
  /// caller keeps it alive. `strides` in elements as for Tensor::view (empty: row-major). Needs
  /// no driver until a kernel or a copy uses it.
  static DeviceTensor view(uint64_t devicePointer, std::vector<int64_t> shape, DType dtype,
                           std::vector<int64_t> strides = {}, int device = -1);
  /// This view, also holding `owner` until the last tensor sharing it is gone (Tensor::withOwner).
  DeviceTensor withOwner(std::shared_ptr<void> owner) const;
  /// A copy of `host` in the memory of device `device`.
  static DeviceTensor fromHost(const Tensor &host, int device = -1);
  Tensor toHost() const;
  /// Copies between this tensor and a host tensor of the same shape and dtype.
  void copyFrom(const Tensor &host) const;
  void copyTo(const Tensor &host) const;
  DType dtype() const { return dtype_; }
  const std::vector<int64_t> &shape() const { return shape_; }
  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * byteSize(dtype_); }
  /// The CUdeviceptr of the first element (0 for an empty default-constructed tensor).
  uint64_t devicePointer() const;
  /// Strides in elements (row-major ones when contiguous), as for Tensor.
  std::vector<int64_t> strides() const;
  bool isContiguous() const { return strides_.empty(); }
  /// The CUDA device (ordinal) whose memory holds it (0 for a default-constructed tensor).
  int device() const;
  std::string typeString() const; // e.g. "f32[4, 8] (cuda:0)"

private:
  std::shared_ptr<detail::DeviceStorage> storage_;
  std::vector<int64_t> shape_;
  std::vector<int64_t> strides_; // Empty when contiguous.
  DType dtype_ = DType::F32;
};
namespace cache {
class KernelCache;
}

/// One compiled kernel. Cheap to copy; shares the module's compiled code.
class Kernel {
public:
  const std::string &name() const;
  /// Names of the inputs and outputs, in declaration order.
  std::vector<std::string> inputNames() const;
  std::vector<std::string> outputNames() const;
  /// Shapes of the outputs for these input shapes; throws RuntimeError on a shape mismatch.
  std::vector<std::vector<int64_t>> outputShapes(const std::vector<Tensor> &inputs) const;
  DType outputDType(size_t output) const;
  DType inputDType(size_t input) const;
  /// Input shape placeholders, e.g. {"N", "D"} for x: f32[N, D] ("4" for a literal dim).
  std::vector<std::vector<std::string>> inputDims() const;
  /// The shape symbols, in order of first appearance among the inputs' dims.
  std::vector<std::string> symbolNames() const;
  /// The shape of input `input` when each shape symbol has the size `sizes` gives it; throws
  /// RuntimeError naming a symbol that `sizes` lacks.
  std::vector<int64_t> inputShape(size_t input, const std::map<std::string, int64_t> &sizes) const;
  /// Seeded random inputs (Tensor::randn, seeds seed, seed + 1, ...) of the shapes `sizes` gives.
  /// An integer input whose elements are read as a gather's subscript (`ids` in
  /// `table[ids[t], d]`) holds indices drawn uniformly in range instead: [0, size) for the
  /// smallest dim it indexes (random as any other input where that dim has no elements).
  std::vector<Tensor> randomInputs(const std::map<std::string, int64_t> &sizes,
                                   uint64_t seed) const;

  /// Runs the kernel, allocating its outputs.
  std::vector<Tensor> operator()(const std::vector<Tensor> &inputs) const;
  /// Runs the kernel into caller-provided outputs (owned tensors or views). On tiny tensors a
  /// call costs tens of nanoseconds beyond the kernel's own work and allocates nothing (a plan
  /// precomputed per kernel binds the shape symbols); the first call compiles the kernel.
  /// Tensors of any strides are accepted: the compiled code reads and writes contiguous ones in
  /// place; an input that is not contiguous is copied once into a dense buffer, an output that
  /// is not is computed into one and copied out (explainCall says which). An output must be
  /// writable (not a read-only view) and its elements distinct (no zero stride on a dim of
  /// extent > 1).
  void run(const std::vector<Tensor> &inputs, const std::vector<Tensor> &outputs) const;
  /// How a call on these tensors runs, one line each: every tensor that is not contiguous and
  /// the copy it costs, or that every tensor is read and written in place.
  std::string explainCall(const std::vector<Tensor> &inputs,
                          const std::vector<Tensor> &outputs = {}) const;

  /// Kernels compiled for Target::cuda() only: runs on device tensors (owned, or views of the
  /// caller's memory), allocating the outputs on the kernel's device / into caller-provided
  /// device outputs. Every tensor must be on the kernel's device (cudaDevice()); one on another
  /// throws RuntimeError naming it and both devices. Enqueued on `stream` (a CUstream of the
  /// kernel's device; null: tdsl's own stream of that device) without synchronizing: the call
  /// returns before the GPU is done, and the caller orders later work on that stream. A failure of
  /// the asynchronous launch surfaces at the next synchronization tdsl does (toHost, copyTo, a
  /// later call's copy), naming the kernel last launched. A kernel with gather checks
  /// (`table[ids[t], d]`) waits for its stream to read their results. A view with other strides (up
  /// to 8 dims) is copied on the same stream through contiguous scratch kept by the kernel: an
  /// input before the kernel runs, an output after. An output's elements must be distinct, and
  /// outputs must not be inputs.
  std::vector<DeviceTensor> callDevice(const std::vector<DeviceTensor> &inputs,
                                       void *stream = nullptr) const;
  void runDevice(const std::vector<DeviceTensor> &inputs, const std::vector<DeviceTensor> &outputs,
                 void *stream = nullptr) const;
  /// The CUDA device (ordinal) a Target::cuda() kernel runs on: its Jit's JitOptions::cudaDevice,
  /// -1 resolved.
  int cudaDevice() const;

  /// The threads this handle's calls may use (its Jit's count unless set with withThreads).
  int threads() const { return threads_; }
  /// A handle to the same compiled kernel whose calls use `threads` threads (0: every hardware
  /// thread; more than the hardware has is capped). Nothing is recompiled: each call passes its
  /// thread count to the compiled code, whose parallel loops split their iterations statically
  /// over that many threads, so results never depend on it. Which loops are parallel was chosen
  /// for the Jit's thread count: a kernel compiled by a one-thread Jit has none.
  Kernel withThreads(int threads) const;
  /// The reference interpreter's result (f64 arithmetic, stored in the outputs' dtypes).
  std::vector<Tensor> interpret(const std::vector<Tensor> &inputs) const;
  /// The interpreter with every f32 operation rounded to f32, as compiled code computes it (math
  /// functions correctly rounded): a model of f32 arithmetic, against which f32's own rounding
  /// (cancellation, `floor` or `%` at a jump) shows up as agreement, and a compiler bug does not.
  /// A nonzero `mathFunctionUlps` moves every approximate f32 math function's result (exp, cos,
  /// tanh, ...) that many ulps up (down when negative), as another conforming math library may.
  std::vector<Tensor> interpretRoundingF32(const std::vector<Tensor> &inputs,
                                           int mathFunctionUlps = 0) const;
  /// Any stage as text.
  std::string dump(Stage stage) const;
  /// The IR after each run of the lowering pass `pass` (tensor IR after "normalize" and "fuse",
  /// loop IR after "lower-scheduled", "simplify", "vectorize"; "build-loop-nest" for CUDA;
  /// "all" for every pass), each headed "# after PASS"; `tdsl emit --print-after=PASS`.
  /// Throws RuntimeError, naming the passes, for a pass the pipeline does not run.
  std::string dumpAfter(const std::string &pass) const;
  /// Whether this kernel's first call would load it from the disk cache: "hit (PATH)", or why
  /// not (which part of the cache key differs from the nearest entry); see `tdsl cache why`.
  std::string cacheStatus() const;
  /// Why the compiler fused what it fused and scheduled what it scheduled: one line per
  /// producer -> consumer edge (with both statements' line:column: inlined, fused into the
  /// consumer's loop nest, or stored and read, and why), then the schedule stage's text.
  std::string explain() const;
  /// The tier the kernel's next call runs (Tier::None before its first call compiles it).
  Tier tier() const;
  /// Compiles the kernel if no call has yet, then waits until its calls run the last tier its
  /// Jit's tiering gives (Optimized; Fast under FastOnly). A tiered kernel whose optimized code
  /// is still queued compiles it on the calling thread. Thread-safe, like calls.
  void waitForFinalTier() const;
  /// Times the kernel on `inputs` (host tensors; on a Target::cuda() kernel they are copied to
  /// the device once and each timed call ends with a synchronize): the first call (which
  /// compiles, unless compiled before), a wait for the final tier (waitForFinalTier), `warmup`
  /// untimed calls, then timed calls into preallocated outputs; median and min time, bytes,
  /// FLOPs, rates and, with ceilings, the roofline figures (see Profile). Prints nothing.
  Profile profile(const std::vector<Tensor> &inputs, const ProfileOptions &options = {}) const;

private:
  friend class Module;
  std::shared_ptr<detail::KernelState> state;
  int threads_ = 1;
};

/// Every kernel of one source file.
class Module {
public:
  Kernel kernel(const std::string &name) const;
  std::vector<std::string> kernelNames() const;
  /// Kernel::explain of every kernel, in source order, separated by blank lines: the text of
  /// `tdsl explain FILE`.
  std::string explain() const;

private:
  friend class Jit;
  std::shared_ptr<detail::ModuleState> state;
};

/// The syntax tree of `source` (only `kernel`'s, when not empty) as printed by
/// `tdsl emit --stage=ast`. Needs only a successful parse: sema errors do not stop it.
/// Throws CompileError on syntax errors.
std::string printAst(const std::string &source, const std::string &name = "<string>",
                     const std::string &kernel = {});

/// A program's own thread pool (TBB, OpenMP, a game engine's job system) running kernels'
/// parallel loops instead of tdsl's threads (JitOptions::parallelFor), as Halide's custom
/// do_par_for does. Each parallel loop of a call is split statically into `chunks` (at most the
/// kernel handle's thread count, at most the loop's iterations) and handed to `fn`, which must
/// call chunk(closure, i) exactly once for each i in [0, chunks) (on any threads, in any order,
/// concurrently or not), return once all have returned, and not throw. Chunk i always gets the
/// same iterations (tdsl's static split), so results are bit-identical to tdsl's own pool and
/// do not depend on which thread runs which chunk. Loops nested inside a chunk run serially on its
/// thread and never reach the hook. `user` is passed through.
struct ParallelFor {
  using Fn = void (*)(int chunks, void (*chunk)(void *closure, int index), void *closure,
                      void *user);
  Fn fn = nullptr; // Null: tdsl's own pool.
  void *user = nullptr;
};

/// How a Jit compiles and runs kernels.
struct JitOptions {
  Target target = Target::cpu();
  /// Threads each kernel call may use: the kernels' parallel loops split over this many threads
  /// of one pool shared by every kernel of the process (started on first use). 0 means every
  /// hardware thread this process may run on; more than that is capped to it; 1 runs everything
  /// on the calling thread. The schedule decides which loops are parallel for this count; small
  /// tensors stay on one thread.
  int threads = 0;
  /// Keep compiled kernels (CPU objects and CUDA binaries) on disk, shared by every process of
  /// the same tdsl build (TDSL_CACHE=off in the environment turns it off too). Kernels are always
  /// cached in memory, per Jit: compiling the same kernel twice with one Jit compiles it once.
  bool diskCache = true;
  /// The disk cache's directory; empty: $TDSL_CACHE_DIR, else $XDG_CACHE_HOME/tdsl, else
  /// ~/.cache/tdsl.
  std::string cacheDir{};
  /// Debug mode (`tdsl run --checks=bounds`): the CPU code checks every load and store against
  /// its tensor's extent; a violation prints the kernel, tensor, index and bound to stderr and
  /// aborts. Sema proves every access in bounds, so a violation is a compiler bug. Kernels
  /// compiled so are slower, cached in memory apart from unchecked ones, never on disk.
  bool boundsChecks = false;
  /// Which code CPU kernels run (see Tiering). tdsl's own passes (fusion, tiling,
  /// vectorization, bounds checks) run the same in every mode, and results are bit-identical.
  Tiering tiering = Tiering::Tiered;
  /// The CUDA device (ordinal) Target::cuda() kernels run on; -1: TDSL_CUDA_DEVICE, else 0.
  /// Jits of different devices may run side by side in one process (each device has its own
  /// context and stream in tdsl); the kernels are scheduled and compiled for their Jit's device.
  /// A device the machine lacks throws RuntimeError at the first compile or call that needs it.
  int cudaDevice = -1;
  /// Runs the CPU kernels' parallel loops on the program's own pool (see ParallelFor); unset:
  /// tdsl's pool. `threads` still decides which loops are parallel and how many chunks each is
  /// split into.
  ParallelFor parallelFor{};
};

/// This machine's ceilings for `target` (the CPU, or a CUDA device, CalibrationOptions::cudaDevice;
/// throws RuntimeError without a GPU): read from calibration.json (for a GPU,
/// calibration-cuda-NAME.json, NAME its device name) in the cache directory when its fingerprint
/// matches this machine, else measured (about a second) and cached, as `tdsl calibrate` does.
/// `force` measures again.
Ceilings calibrate(const Target &target = Target::cpu(), bool force = false);
Ceilings calibrate(const Target &target, const CalibrationOptions &options);

class Jit {
public:
  explicit Jit(Target target = Target::cpu());
  /// Throws RuntimeError for a negative thread count.
  explicit Jit(const JitOptions &options);
  /// Throws CompileError with every diagnostic when the source has errors.
  Module compile(const std::string &source, const std::string &name = "<string>") const;
  Module compileFile(const std::string &path) const;
  const Target &target() const { return target_; }
  /// The thread count its kernels use (JitOptions::threads with 0 resolved to the hardware's).
  int threads() const { return threads_; }

private:
  Target target_;
  int threads_;
  int cudaDevice_ = 0; // JitOptions::cudaDevice, -1 resolved.
  bool boundsChecks_ = false;
  Tiering tiering_ = Tiering::Tiered;
  ParallelFor parallelFor_;
  std::shared_ptr<cache::KernelCache> cache_;
  std::shared_ptr<detail::TierUp> tierUp_; // The background thread of Tiering::Tiered.
};

} // namespace tdsl
