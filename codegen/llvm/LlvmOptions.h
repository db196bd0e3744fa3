// Knobs of the CPU backend that tests and tools may override; the functions of LlvmBackend.h use
// the defaults, which follow the host. No LLVM header here: tests include it.
#pragma once

#include "codegen/llvm/LlvmBackend.h"

namespace tdsl::codegen {

struct LlvmCodeGenOptions {
  /// Use F16C's conversion instructions for f16 when the target has them. When false (or on a
  /// target without F16C), f16 <-> f32 conversions are integer bit operations.
  bool hardwareHalf = true;
  /// Generate for this CPU and LLVM feature string instead of the host's (when `cpu` is not
  /// empty), e.g. "x86-64" and "" for the SSE2 baseline. The code must still run on the host.
  std::string cpu;
  std::string features;
  /// Check every load and store against its buffer's extent at run time; a violation reports
  /// the kernel, buffer, index and bound and aborts (`tdsl run --checks=bounds`).
  bool boundsChecks = false;
  /// LLVM's share of the work (the optimized or the fast tier, tdsl::Tier): when true, LLVM's O3
  /// pipeline (without its loop unrolling) and aggressive instruction selection; when false,
  /// EarlyCSE as the only IR pass and fast instruction selection (CodeGenOptLevel::None: FastISel,
  /// the fast register allocator), which compiles a small kernel several times faster into
  /// slower code. tdsl's own passes (fusion, tiling, vectorization, bounds checks) run either way.
  bool optimize = true;
};

/// The textual LLVM IR; after LLVM's pipeline when both `optimized` and `options.optimize`.
std::string emitLlvmIr(const ir::LoweredFunc &func, bool optimized,
                       const LlvmCodeGenOptions &options);
std::string emitAssembly(const ir::LoweredFunc &func, const LlvmCodeGenOptions &options);
std::unique_ptr<CompiledCpuKernel> compileForHost(const ir::LoweredFunc &func,
                                                  const LlvmCodeGenOptions &options);
/// compileToObject (LlvmBackend.h) with these options: the kernel cache compiles so, with the
/// options in its key.
std::string compileToObject(const ir::LoweredFunc &func, const std::string &symbol,
                            const LlvmCodeGenOptions &options);

} // namespace tdsl::codegen
