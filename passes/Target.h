// What the schedule needs to know about the machine it compiles for. Filled from the host by the
// API (codegen::hostCpuInfo, sysconf), or from a named CPU level (`--cpu=x86-64-v3|x86-64-v4`)
// so that golden tests print the same schedule on every machine.
#pragma once

#include <cstdint>
#include <string>

namespace tdsl::passes {

struct CpuTarget {
  std::string name = "x86-64-v4"; // For printing; the LLVM CPU is chosen by the backend.
  int vectorBits = 512;           // 512 with AVX-512, 256 with AVX2, 128 otherwise.
  int threads = 1;                // Threads the kernel may use (the pool's size).
  int64_t l1Bytes = 32 * 1024;    // Per core, data.
  int64_t l2Bytes = 1024 * 1024;  // Per core.
  int64_t l3Bytes = 32 * 1024 * 1024;

  /// Lanes of a vector of `elementBytes`-sized elements.
  int lanes(int elementBytes) const { return vectorBits / 8 / elementBytes; }
};

/// x86-64-v3 (AVX2, 256-bit) or x86-64-v4 (AVX-512); nullopt-like empty name for unknown levels.
CpuTarget cpuTargetForLevel(const std::string &level);

} // namespace tdsl::passes
