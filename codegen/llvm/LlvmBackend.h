// The CPU backend: loop IR -> LLVM IR -> machine code in-process through ORC LLJIT, for the
// host CPU's features (AVX2 / AVX-512 where present).
#pragma once

#include "ir/Kernel.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

namespace tdsl::codegen {

/// The calling convention of ir::LoweredFunc.
using KernelEntry = void (*)(void *const *buffers, const int64_t *symbols, void *runtime);

/// A function compiled into executable memory; keeps the JIT alive while it exists.
class CompiledCpuKernel {
public:
  virtual ~CompiledCpuKernel() = default;
  virtual KernelEntry entry() const = 0;
};

/// Facts about the host CPU that code generation and schedules use.
struct CpuInfo {
  std::string cpuName;  // e.g. "znver4"
  std::string features; // LLVM feature string, e.g. "+avx2,+avx512f,..."
  int vectorBits;       // 512 with AVX-512, 256 with AVX2, else 128.
};
CpuInfo hostCpuInfo();
/// LLVM's CPU name and feature string ("+avx2,+fma,...") for `level` ("x86-64-v3",
/// "x86-64-v4", or "host": this machine's), as LlvmCodeGenOptions::cpu and ::features take them.
std::pair<std::string, std::string> cpuForLevel(const std::string &level);
/// What the JIT compiles code scheduled for `level` for: this machine's CPU with exactly the
/// level's features when it has them all, so that a kernel gives the same bits on every machine
/// that runs the level, and those of an AOT library's version for it; else (the level "host",
/// or one above this machine) empty: this machine's CPU and features.
std::pair<std::string, std::string> cpuForCode(const std::string &level);

/// The textual LLVM IR of the function, after LLVM's -O3 pipeline when `optimized`.
std::string emitLlvmIr(const ir::LoweredFunc &func, bool optimized = true);
/// The host assembly of the function.
std::string emitAssembly(const ir::LoweredFunc &func);
/// Compiles for the host. Throws tdsl::InternalError if LLVM rejects the module (a bug).
std::unique_ptr<CompiledCpuKernel> compileForHost(const ir::LoweredFunc &func);

/// Relocatable object code for the host (what the kernel cache stores): the optimized function,
/// exported as `symbol`, in an ELF object (LlvmOptions.h has an overload taking the options,
/// e.g. the fast mode's). Throws tdsl::InternalError if LLVM rejects the module.
std::string compileToObject(const ir::LoweredFunc &func, const std::string &symbol);
/// Links object code made by compileToObject (in this process or another) into a fresh JIT.
/// Returns null when the object cannot be loaded or lacks `symbol` (a damaged cache entry).
std::unique_ptr<CompiledCpuKernel> loadObject(const std::string &object, const std::string &symbol);
/// The LLVM release this backend was built with, e.g. "19.1.7".
std::string llvmVersion();

} // namespace tdsl::codegen
