// The named CPU levels of `--cpu=x86-64-v3|x86-64-v4` and GPU architectures of `--gpu=sm_XX`:
// fixed widths, caches and device limits, so that a schedule printed for one is the same on
// every machine.
#include "passes/Target.h"

#include <algorithm>

namespace tdsl::passes {

CpuTarget cpuTargetForLevel(const std::string &level) {
  CpuTarget t; // x86-64-v4: AVX-512, 32 KiB L1d, 1 MiB L2, 32 MiB L3.
  if (level == "x86-64-v4")
    return t;
  if (level == "x86-64-v3") {
    t.name = level;
    t.vectorBits = 256;
    t.l2Bytes = 512 * 1024;
    return t;
  }
  t.name.clear();
  return t;
}

int GpuTarget::threadsPerBlock() const {
  int t = std::min(256, maxThreadsPerBlock);
  return std::max(warpSize, t - t % warpSize);
}

int64_t GpuTarget::partialBlocks() const {
  int perSm = std::max(1, maxThreadsPerMultiprocessor / threadsPerBlock());
  return std::clamp<int64_t>(int64_t(multiprocessors) * perSm, 1, 4096);
}

int64_t GpuTarget::rowSharedLimit() const {
  int64_t limit = std::max(sharedBytesPerBlock, sharedBytesPerBlockOptin) - 8 * 1024;
  return std::clamp<int64_t>(limit, 0, 96 * 1024);
}

int64_t GpuTarget::rowCopyLimit() const {
  // Measured on an H200 (softmax 16384x8192): copying the input row as well (64 KiB a block,
  // 3 blocks an SM) ran 1.7x faster than reading it twice with more blocks an SM.
  return rowSharedLimit();
}

GpuTarget gpuTargetForArch(const std::string &arch) {
  GpuTarget t; // sm_90: an H100 SXM.
  if (arch == "sm_90")
    return t;
  if (arch == "sm_80") { // An A100 SXM.
    t.name = "sm_80 (A100)";
    t.multiprocessors = 108;
    t.sharedBytesPerBlockOptin = 163 * 1024;
    t.sharedBytesPerMultiprocessor = 164 * 1024;
    t.computeCapability = 80;
    return t;
  }
  if (arch == "sm_86" || arch == "sm_89") { // An RTX 3090; an L40S.
    bool ada = arch == "sm_89";
    t.name = ada ? "sm_89 (L40S)" : "sm_86 (RTX 3090)";
    t.multiprocessors = ada ? 142 : 82;
    t.maxThreadsPerMultiprocessor = 1536;
    t.sharedBytesPerBlockOptin = 99 * 1024;
    t.sharedBytesPerMultiprocessor = 100 * 1024;
    t.computeCapability = ada ? 89 : 86;
    return t;
  }
  t.name.clear();
  return t;
}

} // namespace tdsl::passes
