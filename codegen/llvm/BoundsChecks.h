// `--checks=bounds`: a debug mode in which the CPU backend checks every load and store against
// its buffer's extent before it happens. The static bounds proofs of sema make these checks
// redundant; the mode exists to confirm that they hold (the fuzzers and the differential tester
// run with it). Internal to codegen/llvm: it exposes LLVM types.
#pragma once

#include <cstdint>
#include <string>

namespace llvm {
class Value;
class Module;
class IRBuilderBase;
namespace orc {
class LLJIT;
}
} // namespace llvm

namespace tdsl::codegen {

/// Emits at the builder's insert point: when any active lane of `index` (an i64 or a vector of
/// i64; a lane is active where `predicate`, an i1 or a vector of i1, holds, every lane when
/// it is null) is outside [0, `bound`), a call to tdsl_bounds_violation naming `kernel`,
/// `buffer`, the first such lane's index and the bound. The call does not return.
void emitBoundsCheck(llvm::IRBuilderBase &b, llvm::Module &module, const std::string &kernel,
                     const std::string &buffer, llvm::Value *index, llvm::Value *bound,
                     llvm::Value *predicate);

/// Defines tdsl_bounds_violation in the JIT (generated code with bounds checks calls it).
void defineBoundsCheckSymbols(llvm::orc::LLJIT &jit);

} // namespace tdsl::codegen

/// The run-time hook: prints "tdsl: bounds check failed: kernel K, buffer B: index I is outside
/// [0, BOUND)" to stderr and aborts the process (the mode is for debugging; a violation means
/// a compiler bug, and the access must not happen).
extern "C" [[noreturn]] void tdsl_bounds_violation(const char *kernel, const char *buffer,
                                                   int64_t index, int64_t bound);
