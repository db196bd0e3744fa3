// `tdsl bench`: seeded random inputs, Kernel::profile (api/Profile.cpp: untimed warm-up, then
// timed calls; bytes are each input read once plus each output written once, FLOPs counted on
// the normalized tensor IR), the report in text and JSON, and the roofline as SVG.
#include "Bench.h"
#include "Calibrate.h"
#include "Run.h"

#include "tdsl/tdsl.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
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

/// Concrete shape of input `index` from its declared dims and the --shape values.
std::vector<int64_t> inputShape(const Kernel &kernel, size_t index,
                                const std::map<std::string, int64_t> &shapes) {
  std::vector<int64_t> shape;
  const std::vector<std::vector<std::string>> dims = kernel.inputDims();
  for (const std::string &dim : dims[index]) {
    if (!dim.empty() && (std::isdigit(static_cast<unsigned char>(dim[0])) != 0)) {
      shape.push_back(std::strtoll(dim.c_str(), nullptr, 10)); // A literal dim.
      continue;
    }
    auto it = shapes.find(dim);
    if (it == shapes.end())
      throw RuntimeError(ErrorCode::UnboundSymbol,
                         "the size of " + dim + " (a dim of input " + kernel.inputNames()[index] +
                             ") is not known; pass --shape " + dim + "=SIZE");
    shape.push_back(it->second);
  }
  return shape;
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
                  "LLVM optimization: 3 (default) or 0 (no LLVM passes, fast instruction "
                  "selection: compiles faster, runs slower; tdsl's passes run either way)")
      ->check(CLI::IsMember({0, 3}));
  cmd->add_flag("--json", opts.json, "end with one line of JSON holding the results");
  cmd->add_option("--plot", opts.plot,
                  "write the roofline with each kernel as a point to this .svg (without "
                  "--kernel: every kernel of the file)");
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
  jitOptions.threads = opts.threads;
  jitOptions.optimize = opts.opt != 0;
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
        opts.file + " on " + ceilings->fingerprint + ", " + std::to_string(threadsUsed) +
            (threadsUsed == 1 ? " thread" : " threads"));
  }
  return 0;
}

RooflinePoint benchKernel(const BenchOptions &opts, const Kernel &kernel,
                          const std::map<std::string, int64_t> &shapes,
                          const std::optional<Ceilings> &ceilings) {
  for (size_t i = 0; i < kernel.inputNames().size(); ++i)
    inputShape(kernel, i, shapes); // Names a missing size first.
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
    progress.update(std::to_string(runs) + " runs, " + number(seconds) + " s");
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
            << " warm-up; first call (compiles) " << number(p.firstCallSeconds * 1e3) << " ms\n"
            << "  median   " << number(med * 1e3) << " ms   min " << number(p.minSeconds * 1e3)
            << " ms\n"
            << "  bytes    " << p.bytes << "   " << number(p.gbps) << " GB/s\n"
            << "  flops    " << p.flops << "   " << number(p.gflops) << " GFLOP/s\n"
            << "  scratch  " << p.intermediateBytes << " bytes of intermediates at the peak\n";
  if (floorSeconds > 0)
    std::cout << "  floor    " << number(floorSeconds * 1e3) << " ms at "
              << number(opts.bandwidthGbps) << " GB/s; reached " << number(100 * floorSeconds / med)
              << "%\n";
  if (p.ceilings)
    std::cout << "  roofline intensity " << number(p.intensity) << " FLOP/byte; bound " << p.bound
              << "; roofline_fraction " << number(p.rooflineFraction) << " (ceilings "
              << number(p.tensorCores ? p.ceilings->matrixPeakGflops
                                      : p.ceilings->peakGflops(p.threads))
              << (p.tensorCores ? " GFLOP/s on tensor cores, " : " GFLOP/s, ")
              << number(p.ceilings->bandwidthGbps(p.threads)) << " GB/s)\n";

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
              << ", \"gbps\": " << number(p.gbps) << ", \"gflops\": " << number(p.gflops)
              << ", \"first_call_ms\": " << number(p.firstCallSeconds * 1e3)
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
    std::cout << "}" << std::endl;
  }
  return RooflinePoint{p.kernel, p.intensity, p.gflops, p.gbps};
}

namespace {

std::string xmlEscape(const std::string &text) {
  std::string out;
  for (char c : text)
    out += c == '<'   ? "&lt;"
           : c == '>' ? "&gt;"
           : c == '&' ? "&amp;"
           : c == '"' ? "&quot;"
                      : std::string(1, c);
  return out;
}

std::string fmt(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", v);
  return text;
}

} // namespace

std::string rooflineSvg(const std::vector<RooflinePoint> &points, double peakGflops,
                        double bandwidthGbps, const std::string &title) {
  const double width = 800, height = 560, left = 80, right = 30, top = 50, bottom = 70;
  double ridge = peakGflops / bandwidthGbps;
  // Axes: powers of two covering the ridge, every point and some room.
  double xMin = std::min(1.0 / 16, ridge / 64), xMax = std::max(64.0, ridge * 16);
  double yMax = peakGflops * 2, yMin = std::min(xMin * bandwidthGbps, peakGflops / 1024);
  for (const RooflinePoint &p : points) {
    if (p.intensity > 0) {
      xMin = std::min(xMin, p.intensity / 2);
      xMax = std::max(xMax, p.intensity * 2);
    }
    if (p.gflops > 0)
      yMin = std::min(yMin, p.gflops / 2);
  }
  xMin = std::exp2(std::floor(std::log2(xMin)));
  xMax = std::exp2(std::ceil(std::log2(xMax)));
  yMin = std::pow(10, std::floor(std::log10(yMin)));
  yMax = std::pow(10, std::ceil(std::log10(yMax)));
  auto X = [&](double v) {
    return left + (std::log(v) - std::log(xMin)) / (std::log(xMax) - std::log(xMin)) *
                      (width - left - right);
  };
  auto Y = [&](double v) {
    return height - bottom -
           (std::log(v) - std::log(yMin)) / (std::log(yMax) - std::log(yMin)) *
               (height - top - bottom);
  };
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << width << " " << height
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << width / 2
      << "\" y=\"24\" text-anchor=\"middle\" font-size=\"14\">Roofline: " << xmlEscape(title)
      << "</text>\n";
  // Grid and tick labels.
  for (double x = xMin; x <= xMax * 1.001; x *= 2) {
    svg << "<line x1=\"" << fmt(X(x)) << "\" y1=\"" << top << "\" x2=\"" << fmt(X(x)) << "\" y2=\""
        << height - bottom << "\" stroke=\"#e4e4e4\"/>\n";
    char label[32];
    std::snprintf(label, sizeof label, x < 1 ? "1/%g" : "%g", x < 1 ? 1 / x : x);
    svg << "<text x=\"" << fmt(X(x)) << "\" y=\"" << height - bottom + 18
        << "\" text-anchor=\"middle\">" << label << "</text>\n";
  }
  for (double y = yMin; y <= yMax * 1.001; y *= 10) {
    svg << "<line x1=\"" << left << "\" y1=\"" << fmt(Y(y)) << "\" x2=\"" << width - right
        << "\" y2=\"" << fmt(Y(y)) << "\" stroke=\"#e4e4e4\"/>\n";
    char label[32];
    std::snprintf(label, sizeof label, "%g", y);
    svg << "<text x=\"" << left - 8 << "\" y=\"" << fmt(Y(y) + 4) << "\" text-anchor=\"end\">"
        << label << "</text>\n";
  }
  svg << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << width - left - right
      << "\" height=\"" << height - top - bottom << "\" fill=\"none\" stroke=\"black\"/>\n"
      << "<text x=\"" << (left + width - right) / 2 << "\" y=\"" << height - 22
      << "\" text-anchor=\"middle\">arithmetic intensity (FLOP/byte)</text>\n"
      << "<text transform=\"translate(20," << (top + height - bottom) / 2
      << ") rotate(-90)\" text-anchor=\"middle\">GFLOP/s</text>\n";
  // The roofline: bandwidth slope up to the ridge, then the peak.
  double xStart = std::max(xMin, yMin / bandwidthGbps);
  svg << "<polyline fill=\"none\" stroke=\"#c0392b\" stroke-width=\"3\" points=\"" << fmt(X(xStart))
      << "," << fmt(Y(xStart * bandwidthGbps)) << " " << fmt(X(ridge)) << "," << fmt(Y(peakGflops))
      << " " << fmt(X(xMax)) << "," << fmt(Y(peakGflops)) << "\"/>\n";
  char ceilingText[96];
  std::snprintf(ceilingText, sizeof ceilingText, "peak %.4g GFLOP/s", peakGflops);
  svg << "<text x=\"" << fmt(X(xMax) - 6) << "\" y=\"" << fmt(Y(peakGflops) - 8)
      << "\" text-anchor=\"end\" fill=\"#c0392b\">" << ceilingText << "</text>\n";
  std::snprintf(ceilingText, sizeof ceilingText, "%.4g GB/s", bandwidthGbps);
  svg << "<text x=\"" << fmt(X(xStart) + 8) << "\" y=\"" << fmt(Y(xStart * bandwidthGbps) - 8)
      << "\" fill=\"#c0392b\">" << ceilingText << "</text>\n";
  // The kernels.
  for (const RooflinePoint &p : points) {
    double x = std::clamp(p.intensity > 0 ? p.intensity : xMin, xMin, xMax);
    double y = std::clamp(p.gflops > 0 ? p.gflops : yMin, yMin, yMax);
    svg << "<circle cx=\"" << fmt(X(x)) << "\" cy=\"" << fmt(Y(y))
        << "\" r=\"6\" fill=\"#2c7fb8\" stroke=\"black\"/>\n"
        << "<text x=\"" << fmt(X(x) + 9) << "\" y=\"" << fmt(Y(y) + 4) << "\">" << xmlEscape(p.name)
        << "</text>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

} // namespace tdsl::tool
