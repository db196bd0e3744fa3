// A kernel compiled ahead of time as its object file describes it to the kernel runtime: what
// the generated C function checks a call against (the symbols, the tensors' shapes as programs
// over the symbols, the gather checks' messages) and its machine code, one version per CPU level.
// api/Aot.cpp writes a KernelDescription from the IR; runtime/AotCall.cpp reads it back at the
// kernel's first call, so the run-time side needs no compiler.
#pragma once

#include "tdsl/AotRuntime.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tdsl::runtime::aot {

/// One step of a shape program.
struct Token {
  enum class Op : uint8_t { Const, Symbol, Add, Sub, Mul, FloorDiv, Mod, Min, Max, Neg };
  Op op = Op::Const;
  int64_t value = 0; // Const: the value; Symbol: the symbol's position.
};

/// An i64 expression over the kernel's symbols in prefix order (`+ s0 1` is N + 1).
using ShapeProgram = std::vector<Token>;

/// The value of `program` for these symbol values; nullopt where i64 arithmetic would wrap, as
/// the JIT's checks say (ir/Shapes.cpp).
std::optional<int64_t> evaluate(const ShapeProgram &program, const int64_t *symbols);

struct TensorDescription {
  std::string name;
  std::string type; // As the source writes it, for messages: "f32[N, D]".
  std::vector<ShapeProgram> dims;
};

struct GatherDescription {
  ShapeProgram size; // The extent of the checked dim.
  /// The error message with "{index}" and "{size}" where the call's values go.
  std::string message;
};

struct KernelDescription {
  std::string name;
  std::vector<std::string> symbols;
  std::vector<TensorDescription> inputs, outputs;
  /// Extents of loops that are not linear in the symbols: a call whose values make one
  /// overflow i64 is refused (the bounds proofs assume exact integers).
  std::vector<ShapeProgram> extents;
  std::vector<GatherDescription> checks; // In the order of the check results' buffers.

  /// A text form, one item a line, that decode reads back.
  std::string encode() const;
  static std::optional<KernelDescription> decode(std::string_view text);
};

} // namespace tdsl::runtime::aot

extern "C" {

/// The calling convention of compiled kernels (ir::LoweredFunc).
typedef void (*tdsl_kernel_entry)(void *const *buffers, const int64_t *symbols, void *runtime);

/// One machine code version of a kernel: the CPU features it needs (LLVM's names, comma
/// separated, e.g. "avx2,avx512f,fma") and its entry.
struct tdsl_aot_version {
  const char *features;
  tdsl_kernel_entry entry;
};

/// What the object file holds per kernel (codegen/llvm/LlvmBackend.cpp lays it out so):
/// its description's text (KernelDescription::encode), its versions best first, and a pointer
/// the runtime sets at the first call (null before).
struct tdsl_aot_kernel {
  const char *description;
  const tdsl_aot_version *versions;
  int64_t numVersions;
  void *state;
};

/// The body of every generated C function: checks the call against the kernel's description,
/// runs the version for this CPU, reports gather and memory failures. `tensors` holds the
/// inputs' then the outputs' data, `shapes` their shapes (each may be null: not checked),
/// `symbols` the symbols' values. Returns a tdsl_status; never throws.
int tdsl_aot_call(tdsl_aot_kernel *kernel, void *const *tensors, const int64_t *const *shapes,
                  const int64_t *symbols, const tdsl_call_options *options) noexcept;

} // extern "C"
