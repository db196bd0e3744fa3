// The tdsl C++ API: compile .tdsl source, call its kernels on tensors, inspect every stage.
//
//   tdsl::Jit jit;
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

/// The stages `dump` and `tdsl emit --stage` can print.
enum class Stage { Ast, Tensor, Loops, Llvm, Asm, Cuda, Ptx };
std::optional<Stage> parseStage(std::string_view name);

struct Target {
  enum class Kind { Cpu, Cuda };
  Kind kind = Kind::Cpu;
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
  /// Runs the kernel into caller-provided outputs (owned tensors or views).
  void run(const std::vector<Tensor> &inputs, const std::vector<Tensor> &outputs) const;
  /// The reference interpreter's result (f64 arithmetic, stored in the outputs' dtypes).
  std::vector<Tensor> interpret(const std::vector<Tensor> &inputs) const;
  /// Any stage as text.
  std::string dump(Stage stage) const;

private:
  friend class Module;
  std::shared_ptr<detail::KernelState> state;
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

class Jit {
public:
  explicit Jit(Target target = Target::cpu());
  /// Throws CompileError with every diagnostic when the source has errors.
  Module compile(const std::string &source, const std::string &name = "<string>") const;
  Module compileFile(const std::string &path) const;
  const Target &target() const { return target_; }

private:
  Target target_;
};

} // namespace tdsl
