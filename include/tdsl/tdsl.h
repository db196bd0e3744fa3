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
#include "tdsl/Tensor.h"

#include <map>
#include <optional>
#include <string_view>
#include <memory>
#include <string>
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
  /// every machine. The code still runs on the host (LLVM splits vectors wider than it has).
  std::string cpuLevel = "host";
  static Target cpu() { return Target{Kind::Cpu}; }
  static Target cuda() { return Target{Kind::Cuda}; }
};

namespace detail {
struct ModuleState;
struct KernelState;
} // namespace detail

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

  /// Runs the kernel, allocating its outputs.
  std::vector<Tensor> operator()(const std::vector<Tensor> &inputs) const;
  /// Runs the kernel into caller-provided outputs (owned tensors or views). On tiny tensors a
  /// call costs tens of nanoseconds beyond the kernel's own work and allocates nothing (a plan
  /// precomputed per kernel binds the shape symbols); the first call compiles the kernel.
  void run(const std::vector<Tensor> &inputs, const std::vector<Tensor> &outputs) const;

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
  /// Any stage as text.
  std::string dump(Stage stage) const;

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

private:
  friend class Jit;
  std::shared_ptr<detail::ModuleState> state;
};

/// The syntax tree of `source` (only `kernel`'s, when not empty) as printed by
/// `tdsl emit --stage=ast`. Needs only a successful parse: sema errors do not stop it.
/// Throws CompileError on syntax errors.
std::string printAst(const std::string &source, const std::string &name = "<string>",
                     const std::string &kernel = {});

/// How a Jit compiles and runs kernels.
struct JitOptions {
  Target target = Target::cpu();
  /// Threads each kernel call may use: the kernels' parallel loops split over this many threads
  /// of one pool shared by every kernel of the process (started on first use). 0 means every
  /// hardware thread this process may run on; more than that is capped to it; 1 runs everything
  /// on the calling thread. The schedule decides which loops are parallel for this count; small
  /// tensors stay on one thread.
  int threads = 0;
};

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
};

} // namespace tdsl
