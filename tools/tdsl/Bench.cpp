// `tdsl bench`: seeded random inputs, Kernel::profile (api/Profile.cpp: untimed warm-up, then
// timed calls; bytes are each input read once plus each output written once, FLOPs counted on
// the normalized tensor IR), the report in text and JSON, and the roofline as SVG.
#include "Bench.h"
#include "Calibrate.h"
#include "Run.h"
#include "Units.h"

#include "tdsl/tdsl.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

namespace tdsl::tool {

namespace {

std::string readSource(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw RuntimeError(ErrorCode::CannotReadSource, "cannot open " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Kernel findKernel(const Module &module, const std::string &requested, const std::string &file) {
  if (!requested.empty())
    return module.kernel(requested); // Throws, naming the kernels, when there is none.
  std::vector<std::string> names = module.kernelNames();
  if (names.size() == 1)
    return module.kernel(names[0]);
  std::string list;
  for (const std::string &name : names)
    list += (list.empty() ? "" : ", ") + name;
  throw RuntimeError(ErrorCode::BadFlag, file + " defines " + std::to_string(names.size()) +
                                             " kernels (" + list + "); choose one with --kernel");
}

std::string jsonString(const std::string &text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", value);
  return text;
}

} // namespace

CLI::App *addBenchCommand(CLI::App &app, BenchOptions &opts) {
  CLI::App *cmd = app.add_subcommand("bench", "time a compiled kernel on random inputs");
  cmd->add_option("file", opts.file, ".tdsl source")->required();
  cmd->add_option("--kernel", opts.kernel, "kernel to time (optional with one kernel)");
  cmd->add_option("--shape", opts.shapes, "SYM=INT,... sizes of shape symbols")->take_all();
  cmd->add_option("--threads", opts.threads,
                  "threads the kernel may use (default 0: every hardware thread)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--target", opts.target, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--cpu", opts.cpu,
                  "CPU level to compile for: host, x86-64-v3 (AVX2) or x86-64-v4 (AVX-512); "
                  "the machine must run it")
      ->check(CLI::IsMember({"host", "x86-64-v3", "x86-64-v4"}));
  cmd->add_option("--runs", opts.runs, "timed runs (default: enough for --min-time)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--warmup", opts.warmup, "untimed runs after the first (compiling) one")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--min-time", opts.minSeconds, "seconds of timed runs when --runs is not given")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--min-runs", opts.minRuns, "timed runs at least, when --runs is not given")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seed", opts.seed, "seed of the random inputs");
  cmd->add_option("--bandwidth", opts.bandwidthGbps,
                  "memory bandwidth in GB/s (e.g. STREAM triad): report the floor bytes / GBPS")
      ->check(CLI::PositiveNumber);
  cmd->add_option("-O,--opt", opts.opt,
                  "LLVM optimization: 3 (default: the fast tier first, the optimized one swapped "
                  "in once compiled) or 0 (only the fast tier: no LLVM passes, fast instruction "
                  "selection; tdsl's passes run either way)")
      ->check(CLI::IsMember({0, 3}));
  cmd->add_flag("--json", opts.json, "end with one line of JSON holding the results");
  cmd->add_option("--plot", opts.plot,
                  "write the roofline with each kernel as a point to this .svg (without "
                  "--kernel: every kernel of the file)");
  cmd->add_option("--plot-size", opts.plotSize, "the plot's WIDTHxHEIGHT in pixels (800x560)")
      ->check(CLI::Validator(
          [](std::string &text) {
            return parsePlotSize(text) ? "" : "expected WIDTHxHEIGHT, at least 320x240";
          },
          "WIDTHxHEIGHT"));
  cmd->add_flag("!--no-roofline", opts.roofline,
                "skip the roofline figures (and the one-time calibration they need)");
  return cmd;
}

RooflinePoint benchKernel(const BenchOptions &opts, const Kernel &kernel,
                          const std::map<std::string, int64_t> &shapes,
                          const std::optional<Ceilings> &ceilings);

int benchCommand(const BenchOptions &opts, const std::map<std::string, int64_t> &shapes) {
  std::string source = readSource(opts.file);
  JitOptions jitOptions;
  jitOptions.target = opts.target == "cuda" ? Target::cuda() : Target::cpu();
  jitOptions.target.cpuLevel = opts.cpu;
  jitOptions.threads = opts.threads;
  jitOptions.tiering = opts.opt == 0 ? Tiering::FastOnly : Tiering::Tiered;
  Jit jit(jitOptions);
  Module module = jit.compile(source, opts.file); // Throws with every diagnostic.
  std::vector<Kernel> kernels;
  if (opts.kernel.empty() && !opts.plot.empty())
    for (const std::string &name : module.kernelNames())
      kernels.push_back(module.kernel(name));
  else
    kernels.push_back(findKernel(module, opts.kernel, opts.file));
  checkShapeSymbols(kernels, shapes);
  std::optional<Ceilings> ceilings;
  if (opts.roofline || !opts.plot.empty())
    ceilings = calibrateShowingProgress(jitOptions.target, /*force=*/false);
  std::vector<RooflinePoint> points;
  for (const Kernel &k : kernels)
    points.push_back(benchKernel(opts, k, shapes, ceilings));
  const int threadsUsed = jit.threads();
  if (!opts.plot.empty()) {
    if (!ceilings)
      throw RuntimeError("--plot needs the ceilings (drop --no-roofline)");
    std::ofstream out(opts.plot, std::ios::binary);
    if (!out)
      throw RuntimeError("cannot write " + opts.plot);
    out << rooflineSvg(
        points, ceilings->peakGflops(threadsUsed), ceilings->bandwidthGbps(threadsUsed),
        std::filesystem::path(opts.file).filename().string() + " on " + ceilings->fingerprint +
            ", " + std::to_string(threadsUsed) + (threadsUsed == 1 ? " thread" : " threads"),
        *parsePlotSize(opts.plotSize));
  }
  return 0;
}

RooflinePoint benchKernel(const BenchOptions &opts, const Kernel &kernel,
                          const std::map<std::string, int64_t> &shapes,
                          const std::optional<Ceilings> &ceilings) {
  // Random data; an input read as a gather's subscript holds valid indices.
  std::vector<Tensor> inputs = kernel.randomInputs(shapes, opts.seed);

  ProfileOptions options;
  options.runs = opts.runs;
  options.warmup = opts.warmup;
  options.minSeconds = opts.minSeconds;
  options.minRuns = opts.minRuns;
  options.roofline = ceilings.has_value();
  options.ceilings = ceilings;
  // Progress on a terminal only (stderr a TTY), at most every 0.2 s; nothing in pipes or files.
  Progress progress("timing " + kernel.name());
  options.progress = [&](size_t runs, double seconds) {
    progress.update(std::to_string(runs) + " runs, " + durationText(seconds));
  };
  Profile p = kernel.profile(inputs, options);
  progress.done();

  const double med = p.medianSeconds;
  double floorSeconds =
      opts.bandwidthGbps > 0 ? static_cast<double>(p.bytes) / opts.bandwidthGbps / 1e9 : 0;
  std::string shapeText;
  for (size_t i = 0; i < p.shape.size(); ++i)
    shapeText += (i ? ", " : "") + p.shape[i].first + "=" + std::to_string(p.shape[i].second);
  std::cout << "kernel " << p.kernel << " (" << p.target << ", " << p.threads
            << (p.threads == 1 ? " thread" : " threads") << ")"
            << (shapeText.empty() ? "" : " at " + shapeText) << "\n"
            << "  runs     " << p.runs << " timed, after " << p.warmup
            << " warm-up; first call (compiles) " << durationText(p.firstCallSeconds) << "\n";
  if (!p.tier.empty())
    std::cout << "  tier     first call " << p.firstCallTier << ", timed calls " << p.tier
              << (p.firstCallTier == p.tier
                      ? std::string()
                      : " (waited " + durationText(p.finalTierWaitSeconds) + " for it)")
              << "\n";
  std::cout << "  median   " << durationText(med) << "   min " << durationText(p.minSeconds) << "\n"
            << "  bytes    " << p.bytes << " (" << bytesText(static_cast<uint64_t>(p.bytes))
            << ")   " << byteRateText(p.gbps * 1e9) << "\n"
            << "  flops    " << p.flops << "   " << flopRateText(p.gflops * 1e9) << "\n"
            << "  scratch  " << bytesText(static_cast<uint64_t>(p.intermediateBytes))
            << " of intermediates at the peak";
  if (p.packedPanelBytes > 0)
    std::cout << ", " << bytesText(static_cast<uint64_t>(p.packedPanelBytes))
              << " of packed panels";
  std::cout << "\n";
  if (p.cacheResident)
    std::cout << "  cache    the data ("
              << bytesText(
                     static_cast<uint64_t>(p.bytes + p.intermediateBytes + p.packedPanelBytes))
              << ") fits in the " << bytesText(static_cast<uint64_t>(p.lastLevelCacheBytes))
              << " last-level cache: timed calls read it from there, not from memory\n";
  if (floorSeconds > 0)
    std::cout << "  floor    " << durationText(floorSeconds) << " at "
              << byteRateText(opts.bandwidthGbps * 1e9) << "; reached "
              << significant(100 * floorSeconds / med) << "%\n";
  if (p.ceilings)
    std::cout << "  roofline " << significant(p.intensity) << " FLOP/byte, " << p.bound << "-bound"
              << (p.cacheResident && p.bound == "memory" ? " (from cache)" : "") << ": "
              << significant(100 * p.rooflineFraction) << "% of the roofline (ceilings "
              << flopRateText((p.tensorCores ? p.ceilings->matrixPeakGflops
                                             : p.ceilings->peakGflops(p.threads)) *
                              1e9)
              << (p.tensorCores ? " on tensor cores, " : ", ")
              << byteRateText(p.ceilings->bandwidthGbps(p.threads) * 1e9) << ")\n";

  if (opts.json) {
    std::string shapeJson;
    for (size_t i = 0; i < p.shape.size(); ++i)
      shapeJson +=
          (i ? ", " : "") + jsonString(p.shape[i].first) + ": " + std::to_string(p.shape[i].second);
    std::cout << "{\"kernel\": " << jsonString(p.kernel) << ", \"target\": " << jsonString(p.target)
              << ", \"threads\": " << p.threads << ", \"median_ms\": " << number(med * 1e3)
              << ", \"min_ms\": " << number(p.minSeconds * 1e3) << ", \"runs\": " << p.runs
              << ", \"bytes\": " << p.bytes << ", \"flops\": " << p.flops
              << ", \"intermediate_bytes\": " << p.intermediateBytes
              << ", \"packed_panel_bytes\": " << p.packedPanelBytes
              << ", \"gbps\": " << number(p.gbps) << ", \"gflops\": " << number(p.gflops)
              << ", \"first_call_ms\": " << number(p.firstCallSeconds * 1e3)
              << ", \"first_call_tier\": " << jsonString(p.firstCallTier)
              << ", \"tier\": " << jsonString(p.tier)
              << ", \"final_tier_wait_ms\": " << number(p.finalTierWaitSeconds * 1e3)
              << ", \"file\": " << jsonString(opts.file) << ", \"shape\": {" << shapeJson << "}";
    if (floorSeconds > 0)
      std::cout << ", \"floor_ms\": " << number(floorSeconds * 1e3)
                << ", \"floor_frac\": " << number(floorSeconds / med);
    if (p.ceilings)
      std::cout << ", \"intensity\": " << number(p.intensity)
                << ", \"bound\": " << jsonString(p.bound)
                << ", \"roofline_fraction\": " << number(p.rooflineFraction)
                << ", \"ceiling_gflops\": " << number(p.ceilingGflops)
                << (p.tensorCores ? ", \"tensor_cores\": true" : "");
    if (p.lastLevelCacheBytes > 0)
      std::cout << ", \"llc_bytes\": " << p.lastLevelCacheBytes
                << ", \"cache_resident\": " << (p.cacheResident ? "true" : "false");
    std::cout << "}" << std::endl;
  }
  return RooflinePoint{p.kernel, p.intensity, p.gflops, p.gbps};
}

} // namespace tdsl::tool
