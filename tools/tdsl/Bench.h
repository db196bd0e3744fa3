// `tdsl bench`: times one compiled kernel on seeded random inputs and reports its median and
// minimum time, the bytes it must move, the FLOPs it performs, and the rates they give.
#pragma once

#include "ir/Kernel.h"

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
  bool roofline = true; // Report intensity, bound and roofline_fraction (calibrates once).
};

/// One timed kernel on the roofline.
struct RooflinePoint {
  std::string name;
  double intensity = 0; // FLOPs per byte moved.
  double gflops = 0, gbps = 0;
};

/// The SVG of a roofline: log-log axes, the ceilings, each point labelled.
std::string rooflineSvg(const std::vector<RooflinePoint> &points, double peakGflops,
                        double bandwidthGbps, const std::string &title);

/// Registers `tdsl bench` and its flags on `app`, storing them in `opts`.
CLI::App *addBenchCommand(CLI::App &app, BenchOptions &opts);

/// Runs `tdsl bench` with the shape symbols already parsed from `opts.shapes`. Throws
/// tdsl::CompileError / tdsl::RuntimeError on bad input. Returns the exit status.
int benchCommand(const BenchOptions &opts, const std::map<std::string, int64_t> &shapes);

/// Floating-point (and other value) operations of one call, counted on the normalized tensor IR:
/// per point of each definition's domain, one per arithmetic, min/max, comparison or select
/// operation and one per math-function call (transcendentals count 1 each); casts, reads, index
/// arithmetic inside subscripts and `and/or/not` count 0. A reduction counts, per point of its
/// axes, its body's operations plus 1 for the combine (so a matmul is 2*M*N*K), and `mean` adds
/// 1 division per result. `symbols` are the values of `kernel.symbols`.
int64_t countFlops(const ir::Kernel &kernel, const std::vector<int64_t> &symbols);

} // namespace tdsl::tool
