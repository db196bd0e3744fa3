// The named CPU levels of `--cpu=x86-64-v3|x86-64-v4`: fixed vector widths and cache sizes, so
// that a schedule printed for a level is the same on every machine.
#include "passes/Target.h"

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

} // namespace tdsl::passes
