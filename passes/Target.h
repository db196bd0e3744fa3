// What the schedule needs to know about the machine it compiles for. Filled from the host (or the
// GPU) by the API, or from a named CPU level (`--cpu=x86-64-v3|x86-64-v4`) or GPU architecture
// (`--gpu=sm_90`), so that golden tests print the same schedule on every machine.
#pragma once

#include <cstdint>
#include <string>

namespace tdsl::passes {

struct CpuTarget {
  std::string name = "x86-64-v4"; // For printing; the LLVM CPU is chosen by the backend.
  int vectorBits = 512;           // 512 with AVX-512, 256 with AVX2, 128 otherwise.
  int threads = 1;                // Threads the kernel may use (the pool's size).
  int64_t l1Bytes = 32 * 1024;    // Per core, data.
  int l1Ways = 8;                 // Associativity of L1d (8 on Zen 4 and on Skylake's 32 KiB).
  int64_t l2Bytes = 1024 * 1024;  // Per core.
  int64_t l3Bytes = 32 * 1024 * 1024;
  /// Rows of a tiled contraction's micro-kernel; 0: as many as the vector registers hold. Fewer
  /// rows make less code to compile (the JIT's fast tier) and keep every output's summation order
  /// (the k blocks stay those of the full micro-kernel), so the results keep their bits.
  int microKernelRows = 0;

  /// Lanes of a vector of `elementBytes`-sized elements.
  int lanes(int elementBytes) const { return vectorBits / 8 / elementBytes; }
};

/// x86-64-v3 (AVX2, 256-bit) or x86-64-v4 (AVX-512); nullopt-like empty name for unknown levels.
CpuTarget cpuTargetForLevel(const std::string &level);

/// The device properties the GPU schedules depend on: read from the GPU at hand, or those of a
/// named architecture (`--gpu=sm_80|sm_86|sm_89|sm_90`), so that a GPU schedule printed for it is
/// the same on every machine. The defaults describe sm_90 (an H100 SXM; an H200 has the same).
struct GpuTarget {
  std::string name = "sm_90 (H100 SXM)"; // For printing: the architecture, or the device.
  int multiprocessors = 132;
  int warpSize = 32;
  int maxThreadsPerBlock = 1024;
  int maxThreadsPerMultiprocessor = 2048;
  int sharedBytesPerBlock = 48 * 1024;
  int sharedBytesPerBlockOptin = 227 * 1024; // With the kernel's attribute set.
  int sharedBytesPerMultiprocessor = 228 * 1024;
  int registersPerBlock = 65536;
  int computeCapability = 90; // major * 10 + minor: mma.sync with bf16/f16 needs 80.

  /// Threads per block for every schedule: 256 (8 warps) where the device allows.
  int threadsPerBlock() const;
  /// Blocks of the first stage of a full reduction: a few per SM, a fixed number for the device
  /// (so the summation order, and the result, do not change from run to run).
  int64_t partialBlocks() const;
  /// Dynamic shared memory a Rows kernel may use: what the device allows with opt-in, less room
  /// for the static arrays, and at most 96 KiB so that two blocks still share an SM.
  int64_t rowSharedLimit() const;
  /// The bound for copies of input rows (as rowSharedLimit: measured better than reading the
  /// row twice with more blocks an SM).
  int64_t rowCopyLimit() const;
};

/// The GPU of a named architecture: sm_80 (an A100), sm_86 (an RTX 3090), sm_89 (an L40S) or
/// sm_90 (an H100 SXM); an empty name for other names.
GpuTarget gpuTargetForArch(const std::string &arch);

} // namespace tdsl::passes
