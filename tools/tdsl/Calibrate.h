// `tdsl calibrate`: this machine's ceilings for the roofline: peak FLOP/s (FMAs in the widest
// vectors the CPU has, on one thread and on every hardware thread) and copy bandwidth (one
// thread and all). Measured once and cached (calibration.json in the kernel cache's directory)
// with a fingerprint of the machine; measured again when the fingerprint changes.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace tdsl::tool {

/// A one-line progress display on stderr, shown only when stderr is a terminal (quiet in pipes
/// and files, and under TERM=dumb); redrawn at most every 0.2 s, erased by done().
class Progress {
public:
  explicit Progress(std::string what);
  ~Progress() { done(); }
  void update(const std::string &status);
  void done();
  /// Whether progress is shown in this process.
  static bool enabled();

private:
  std::string what;
  double last = -1;
  bool shown = false;
};

struct Ceilings {
  std::string fingerprint; // CPU model, features, hardware threads, memory size.
  std::string isa;         // "avx512f", "avx2+fma" or "sse2": the vectors the peak used.
  int threads = 1;         // Hardware threads the "all" figures used.
  double peakGflops1 = 0, peakGflopsAll = 0;       // f32 FMAs, 2 FLOPs each.
  double bandwidthGbps1 = 0, bandwidthGbpsAll = 0; // Bytes read + written per second.

  /// The ceilings for a kernel running on `threads` threads (1, or the all-thread figures).
  double peakGflops(int threads) const { return threads <= 1 ? peakGflops1 : peakGflopsAll; }
  double bandwidthGbps(int threads) const {
    return threads <= 1 ? bandwidthGbps1 : bandwidthGbpsAll;
  }
  std::string json() const;
};

/// This machine's fingerprint.
std::string machineFingerprint();
/// Measures the ceilings now (about a second).
Ceilings measureCeilings();
/// The CUDA device's fingerprint (name, architecture, SMs, memory, driver) and ceilings (peak f32
/// FMA rate on every SM, device-to-device copy bandwidth). Throw RuntimeError without a GPU.
std::string cudaFingerprint();
Ceilings measureCudaCeilings();
/// The cached ceilings of this machine's CPU, or with `cuda` of its GPU, when their fingerprint
/// matches, else measured and cached. `fromCache` says which.
Ceilings loadOrMeasureCeilings(bool force, bool *fromCache = nullptr, bool cuda = false);

struct CalibrateOptions {
  bool force = false, json = false;
  std::string target = "cpu";
};
CLI::App *addCalibrateCommand(CLI::App &app, CalibrateOptions &opts);
int calibrateCommand(const CalibrateOptions &opts);

} // namespace tdsl::tool
