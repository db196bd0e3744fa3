// Internal to the API library: what Explain.cpp, Calibrate.cpp, CalibrateCuda.cpp and
// Profile.cpp share with each other and with Jit.cpp (which owns the kernels' state).
#pragma once

#include "tdsl/tdsl.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tdsl::ir {
struct Kernel;
}
namespace tdsl::passes {
struct CpuTarget;
}

namespace tdsl::detail {

/// The machine description the CPU schedule is chosen for: `target`'s CPU level (the host's
/// vector width and caches for "host"), for `threads` threads. Throws RuntimeError for an
/// unknown level (Jit.cpp).
passes::CpuTarget cpuTargetFor(const Target &target, int threads);

/// A kernel handle's tensor IR (sema's output) and the target it was compiled for (Jit.cpp).
const ir::Kernel &kernelIR(const KernelState &state);
const Target &kernelTarget(const KernelState &state);
/// A CUDA kernel's GPU kernels, in launch order, each with the buffers it writes (by name) and
/// its schedule's name: scheduled, not compiled (Jit.cpp). A conditional launch is one of
/// consecutive alternatives for the same work, of which one runs.
struct GpuLaunch {
  std::string name, schedule;
  std::vector<std::string> writes;
  bool conditional = false;
};
std::vector<GpuLaunch> gpuLaunches(KernelState &state);
/// Whether the kernel's products run on tensor cores (a CUDA kernel, compiled on first use).
bool usesTensorCores(KernelState &state);

/// For Kernel::explain: which tiers of a CPU kernel's code were compiled and when the optimized
/// one was swapped in, one line; empty before the first call or for CUDA (Jit.cpp).
std::string tierHistory(KernelState &state);

/// The peak bytes of the kernel's intermediates in memory since resetIntermediatePeak (the CPU
/// code's scratch arena; a CUDA kernel's workspace, which only grows): Profile::intermediateBytes;
/// and of its packed panels (the arena's other use): Profile::packedPanelBytes.
void resetIntermediatePeak(KernelState &state);
int64_t intermediatePeakBytes(KernelState &state);
int64_t packedPanelPeakBytes(KernelState &state);

/// The size of the host CPU's data (or unified) cache of `level` (1, 2, 3) in bytes, as the
/// kernel sees it (one core's L1 and L2, its cluster's L3), read from sysfs, else from sysconf;
/// 0 when unknown. sysfs first because glibc's sysconf may report the L3 of every cluster
/// together (320 MiB on a VM whose two cores share one 32 MiB L3).
int64_t hostCacheBytes(int level);

/// Operations of one call on symbol values `symbols` (those of `kernel.symbols`), counted on the
/// given (normalized) tensor IR by the rule in Profile's comment (Profile.cpp).
int64_t countFlops(const ir::Kernel &kernel, const std::vector<int64_t> &symbols);

/// CUDA device `ordinal`'s fingerprint (name, architecture, SMs, memory, driver) and ceilings
/// (CalibrateCuda.cpp; -1: the default device). Throw RuntimeError without that GPU.
std::string cudaFingerprint(int ordinal);
Ceilings measureCudaCeilings(int ordinal, const std::function<void(const std::string &)> &progress);
/// The file in the cache directory holding CUDA device `ordinal`'s ceilings, one a device name:
/// "calibration-cuda-nvidia-h100-80gb-hbm3.json" (devices of one process may differ).
std::string cudaCalibrationFile(int ordinal);
/// The CUDA C of the tensor-core calibration kernel `tdsl_matrix_peak`: wgmma (sm_90a) or
/// mma.sync (sm_80+).
std::string matrixPeakSource(bool wgmma);

} // namespace tdsl::detail
