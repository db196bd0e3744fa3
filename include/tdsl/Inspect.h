// Inspection and roofline profiling: the machine's ceilings (`tdsl calibrate`) and one kernel's
// measured time, bytes, FLOPs and place on the roofline (`tdsl bench`). Included by tdsl.h; the
// functions using them are tdsl::calibrate and Kernel::profile.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tdsl {

/// A machine's ceilings for the roofline. On the CPU: peak f32 FMA rate in the widest vectors it
/// has and copy bandwidth, each on one thread and on every hardware thread. On a CUDA device:
/// peak f32 FMA rate on every SM and device-to-device copy bandwidth (the "1" and "all" figures
/// are then the same).
struct Ceilings {
  std::string fingerprint; // CPU model, vectors, hardware threads, memory (or the GPU's).
  std::string isa;         // "avx512f", "avx2+fma", "sse2", or "cuda sm_90": what the peak used.
  int threads = 1;         // Hardware threads the "all" figures used.
  double peakGflops1 = 0, peakGflopsAll = 0;       // f32 FMAs, 2 FLOPs each.
  double bandwidthGbps1 = 0, bandwidthGbpsAll = 0; // Bytes read + written per second.
  /// Dense matrix products of 16-bit factors with f32 accumulation on tensor cores (a CUDA
  /// device of sm_80 or later); 0 where there are none. The compute ceiling of kernels whose
  /// products run there (Profile::tensorCores).
  double matrixPeakGflops = 0;
  /// Where they are cached ("" without a cache directory), and whether this value came from
  /// there (else it was measured now). Not part of json().
  std::string path;
  bool fromCache = false;

  /// The ceilings for a kernel running on `threads` threads (1, or the all-thread figures).
  double peakGflops(int threads) const { return threads <= 1 ? peakGflops1 : peakGflopsAll; }
  double bandwidthGbps(int threads) const {
    return threads <= 1 ? bandwidthGbps1 : bandwidthGbpsAll;
  }
  /// One flat JSON object (the cache file's content and `tdsl calibrate --json`).
  std::string json() const;
};

/// How tdsl::calibrate finds or measures the ceilings.
struct CalibrationOptions {
  /// Measure again even when the cache holds ceilings of this machine.
  bool force = false;
  /// The cache's directory; empty: the kernel cache's ($TDSL_CACHE_DIR, else
  /// $XDG_CACHE_HOME/tdsl, else ~/.cache/tdsl).
  std::string cacheDir{};
  /// The CUDA device measured for Target::cuda() (-1: TDSL_CUDA_DEVICE, else 0); each device
  /// name has its own file.
  int cudaDevice = -1;
  /// Called with a short status ("peak FLOP/s, 1 thread", ...) as measuring proceeds; tdsl
  /// itself prints nothing.
  std::function<void(const std::string &status)> progress{};
};

/// How Kernel::profile times a kernel.
struct ProfileOptions {
  int runs = 0;            // Timed runs; 0: at least `minRuns` and `minSeconds` of them.
  int warmup = 2;          // Untimed calls after the first (which may compile).
  double minSeconds = 0.5; // With runs == 0.
  int minRuns = 5;         // With runs == 0.
  /// Place the kernel on the roofline (intensity, bound, roofline_fraction, ceiling_gflops),
  /// with `ceilings` when given, else tdsl::calibrate() of the kernel's target (measured once,
  /// then cached on disk).
  bool roofline = true;
  std::optional<Ceilings> ceilings{};
  /// Called after each timed run with the runs so far and the seconds since timing began.
  std::function<void(size_t runs, double seconds)> progress{};
};

/// One kernel's measured performance on given inputs (Kernel::profile; `tdsl bench`).
struct Profile {
  std::string kernel;
  std::string target; // "cpu" or "cuda".
  int threads = 1;    // Threads the calls used.
  /// The shape symbols' values, in the kernel's order.
  std::vector<std::pair<std::string, int64_t>> shape;
  size_t runs = 0; // Timed runs.
  int warmup = 0;
  double firstCallSeconds = 0; // The first call (which compiles, unless compiled before).
  /// The CPU code tier (tdsl::tierName: "fast" or "optimized") the first call ran, and the one
  /// the timed calls ran: the final tier, waited for after the first call for
  /// `finalTierWaitSeconds` (a tiered Jit's background compile). Empty on CUDA.
  std::string firstCallTier, tier;
  double finalTierWaitSeconds = 0;
  double medianSeconds = 0, minSeconds = 0;
  std::vector<double> times; // Each timed run, in seconds, in order.
  /// Bytes every implementation must move (each input read once, each output written once) and
  /// operations performed, counted on the normalized tensor IR so that they do not depend on
  /// the schedule: per point of each definition, one per arithmetic, min/max, comparison or
  /// select and one per math function; casts, reads and subscript arithmetic count 0; a
  /// reduction counts its body plus 1 per point of its axes (a matmul is 2*M*N*K), `mean` one
  /// division more per result; a prefix scan (`sum(x[k] for k <= j)`) counts one point per
  /// result, the work of its running accumulator.
  int64_t bytes = 0, flops = 0;
  double gbps = 0, gflops = 0; // At the median time.
  /// The most bytes of intermediates held in memory at once during the calls: definitions
  /// stored whole, row slices too large for the stack (on CUDA, the kernel's device
  /// workspace). Registers and the stack do not count. With several threads, each thread's
  /// slices count while they overlap, so the figure can vary between runs; so do calls of the
  /// same kernel from other threads meanwhile (they share its scratch).
  int64_t intermediateBytes = 0;
  /// The same for the contractions' packed panels: copies of their operands (inputs or
  /// intermediates) laid out for the micro-kernel, such as a weight matrix packed once a call
  /// and read by every block of rows. 0 on CUDA.
  int64_t packedPanelBytes = 0;
  /// The last-level cache the calls' data can stay in between calls: on the CPU the L3 of the
  /// cores running them (else the L2), on a CUDA device its L2; 0 when unknown. The data is
  /// `cacheResident` when `bytes`, `intermediateBytes` and `packedPanelBytes` together fit in it:
  /// timed calls after
  /// the first then read it from the cache, faster than the bandwidth ceiling (a copy through
  /// main memory) allows, and a memory-bound `rooflineFraction` above 1 means that, not a
  /// miscount. Time a working set several times this size to measure memory.
  int64_t lastLevelCacheBytes = 0;
  bool cacheResident = false;
  double intensity = 0; // FLOPs per byte.
  /// With ProfileOptions::roofline: the ceilings used, the attainable rate at this intensity
  /// (min(peak, intensity * bandwidth)), the roofline time max(flops / peak, bytes / bandwidth)
  /// over the median time, and the bound: "overhead" (under a quarter of the roofline and the
  /// whole call under 50 us: fixed costs dominate), else "compute" or "memory", whichever
  /// ceiling limits the roofline time. `bound` is empty without roofline figures.
  std::optional<Ceilings> ceilings;
  /// The kernel's products run on tensor cores (16-bit factors on a CUDA device): its compute
  /// ceiling is Ceilings::matrixPeakGflops, not the f32 FMA peak.
  bool tensorCores = false;
  double ceilingGflops = 0, rooflineFraction = 0;
  std::string bound;
  /// One line per input that is not contiguous (a strided view): the compiled code reads dense
  /// tensors, so each timed call includes copying it (Kernel::explainCall's lines).
  std::vector<std::string> layoutCopies;
};

} // namespace tdsl
