// `tdsl bench`: times one compiled kernel on seeded random inputs and reports its median and
// minimum time, the bytes it must move, the FLOPs it performs, and the rates they give: the
// command line over Kernel::profile (api/Profile.cpp), and the roofline plot.
#pragma once

#include "RooflinePlot.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace tdsl::tool {

struct BenchOptions {
  std::string file, kernel, target = "cpu";
  std::string cpu = "host";        // The CPU level the kernels are compiled for (Target::cpuLevel).
  std::vector<std::string> shapes; // Raw `--shape` values; the caller parses them.
  int threads = 0;                 // 0: every hardware thread (JitOptions::threads).
  int runs = 0;                    // 0: as many as fit in `minSeconds` (at least `minRuns`).
  int warmup = 2;                  // Untimed calls after the first (compiling) one.
  double minSeconds = 0.5;
  int minRuns = 5;
  uint64_t seed = 1;
  double bandwidthGbps = 0; // With a value: also report the bandwidth floor and its fraction.
  bool json = false;
  /// Write the roofline (this machine's ceilings from `tdsl calibrate`, each kernel timed a
  /// labelled point) as SVG. Without --kernel, every kernel of the file is timed.
  std::string plot;
  std::string plotSize = "800x560"; // WIDTHxHEIGHT, checked by parsePlotSize.
  bool roofline = true; // Report intensity, bound and roofline_fraction (calibrates once).
  int opt = 3;          // `-O0`: Tiering::FastOnly (times the unoptimized code).
};

/// Registers `tdsl bench` and its flags on `app`, storing them in `opts`.
CLI::App *addBenchCommand(CLI::App &app, BenchOptions &opts);

/// Runs `tdsl bench` with the shape symbols already parsed from `opts.shapes`. Throws
/// tdsl::CompileError / tdsl::RuntimeError on bad input. Returns the exit status.
int benchCommand(const BenchOptions &opts, const std::map<std::string, int64_t> &shapes);

} // namespace tdsl::tool
