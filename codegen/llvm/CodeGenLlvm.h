// Translation of one loop-level function into an LLVM module: no optimization, no JIT (the
// driver in LlvmBackend.cpp does both). Internal to codegen/llvm: it exposes LLVM types.
#pragma once

#include "ir/Kernel.h"

#include <memory>
#include <string>

namespace llvm {
class LLVMContext;
class Module;
class TargetMachine;
} // namespace llvm

namespace tdsl::codegen {

/// What code generation needs to know about the machine it generates for.
struct LlvmTargetInfo {
  std::string cpu;      // "znver4"
  std::string features; // "+avx2,+avx512f,..."
  int vectorBits = 128; // Preferred vector register width.
  /// Convert f16 <-> f32 through LLVM `half` (F16C's vcvtph2ps / vcvtps2ph). When false, the
  /// conversions are integer bit operations, which need no instruction or runtime helper.
  bool hardwareHalf = false;
  /// Check every load and store against its buffer's extent (`--checks=bounds`, BoundsChecks.h).
  bool boundsChecks = false;
};

/// Builds a module holding `symbol`, the kernel entry point with the calling convention of
/// ir::LoweredFunc, and internal helpers. The module carries the target machine's triple and
/// data layout and is verified. Throws tdsl::InternalError on malformed IR (a bug upstream).
std::unique_ptr<llvm::Module> generateLlvmModule(const ir::LoweredFunc &func,
                                                 const std::string &symbol,
                                                 llvm::LLVMContext &context,
                                                 const llvm::TargetMachine &machine,
                                                 const LlvmTargetInfo &target);

} // namespace tdsl::codegen
