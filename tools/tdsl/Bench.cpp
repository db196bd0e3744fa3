// `tdsl bench`: compile once, call on seeded random inputs (untimed warm-up first), then time
// repeated calls into preallocated outputs with steady_clock. Bytes moved are each input read
// once plus each output written once, the floor any implementation must pay; FLOPs are counted on
// the normalized tensor IR (see countFlops) so they do not depend on how the code was scheduled.
#include "Bench.h"
#include "Calibrate.h"

#include "frontend/Frontend.h"
#include "ir/Shapes.h"
#include "passes/Pipeline.h"
#include "runtime/Cuda.h"
#include "support/Check.h"
#include "tdsl/tdsl.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>

namespace tdsl::tool {

namespace {

using Clock = std::chrono::steady_clock;

std::string readSource(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw RuntimeError(ErrorCode::CannotReadSource, "cannot open " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

const ir::Kernel &findKernel(const ir::Module &module, const std::string &requested,
                             const std::string &file) {
  if (!requested.empty()) {
    if (const ir::Kernel *k = module.find(requested))
      return *k;
    std::string known;
    for (const ir::Kernel &k : module.kernels)
      known += (known.empty() ? "" : ", ") + k.name;
    throw RuntimeError(ErrorCode::NoSuchKernel,
                       "no kernel named '" + requested + "' (this module has: " + known + ")");
  }
  if (module.kernels.size() == 1)
    return module.kernels[0];
  std::string list;
  for (const ir::Kernel &k : module.kernels)
    list += (list.empty() ? "" : ", ") + k.name;
  throw RuntimeError(ErrorCode::BadFlag, file + " defines " +
                                             std::to_string(module.kernels.size()) + " kernels (" +
                                             list + "); choose one with --kernel");
}

/// Concrete input shapes from the declared dims and the --shape values.
std::vector<std::vector<int64_t>> inputShapes(const ir::Kernel &kernel,
                                              const std::map<std::string, int64_t> &shapes) {
  std::vector<std::vector<int64_t>> result;
  for (const ir::Buffer &input : kernel.inputs) {
    result.emplace_back();
    for (const ir::Expr &dim : input->shape) {
      if (const ir::IntImm *literal = ir::as<ir::IntImm>(dim)) {
        result.back().push_back(literal->value);
        continue;
      }
      const ir::VarRef *symbol = ir::as<ir::VarRef>(dim);
      TDSL_CHECK(symbol) << "an input dim is neither a literal nor a symbol";
      auto it = shapes.find(symbol->var->name);
      if (it == shapes.end())
        throw RuntimeError(ErrorCode::UnboundSymbol,
                           "the size of " + symbol->var->name + " (a dim of input " + input->name +
                               ") is not known; pass --shape " + symbol->var->name + "=SIZE");
      result.back().push_back(it->second);
    }
  }
  return result;
}

int64_t points(const std::vector<ir::IterVar> &vars, const ir::Kernel &kernel,
               const std::vector<int64_t> &symbols) {
  int64_t n = 1;
  for (const ir::IterVar &v : vars)
    n *= std::max<int64_t>(0, ir::evalInt(v.extent, kernel.symbols, symbols));
  return n;
}

/// Operations of one evaluation of `e`, by the rule in Bench.h.
int64_t flopsOf(const ir::Expr &e, const ir::Kernel &kernel, const std::vector<int64_t> &symbols) {
  auto count = [&](const ir::Expr &x) { return flopsOf(x, kernel, symbols); };
  switch (e->kind) {
  case ir::ExprKind::IntImm:
  case ir::ExprKind::FloatImm:
  case ir::ExprKind::VarRef:
    return 0;
  case ir::ExprKind::Unary: {
    const ir::Unary *n = e->as<ir::Unary>();
    return (n->op == ir::UnaryOp::Neg ? 1 : 0) + count(n->a);
  }
  case ir::ExprKind::Binary: {
    const ir::Binary *n = e->as<ir::Binary>();
    bool logical = n->op == ir::BinaryOp::And || n->op == ir::BinaryOp::Or;
    return (logical ? 0 : 1) + count(n->a) + count(n->b);
  }
  case ir::ExprKind::Call: {
    int64_t total = 1;
    for (const ir::Expr &arg : e->as<ir::Call>()->args)
      total += count(arg);
    return total;
  }
  case ir::ExprKind::Select: {
    const ir::Select *n = e->as<ir::Select>();
    return 1 + count(n->cond) + count(n->a) + count(n->b);
  }
  case ir::ExprKind::Cast:
    return count(e->as<ir::Cast>()->a);
  case ir::ExprKind::Access: {
    const ir::Access *n = e->as<ir::Access>();
    return n->fallback ? count(n->fallback) : 0;
  }
  case ir::ExprKind::Reduce: {
    const ir::Reduce *n = e->as<ir::Reduce>();
    int64_t perPoint = count(n->body) + 1;
    return points(n->axes, kernel, symbols) * perPoint + (n->op == ir::ReduceOp::Mean ? 1 : 0);
  }
  default:
    TDSL_UNREACHABLE("a loop-level node in tensor IR");
  }
}

double median(std::vector<double> values) {
  TDSL_CHECK(!values.empty()) << "median of no values";
  std::sort(values.begin(), values.end());
  size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : 0.5 * (values[mid - 1] + values[mid]);
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

int64_t countFlops(const ir::Kernel &kernel, const std::vector<int64_t> &symbols) {
  int64_t total = 0;
  for (const ir::Definition &def : kernel.defs)
    total += points(def.indices, kernel, symbols) * flopsOf(def.value, kernel, symbols);
  return total;
}

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
  cmd->add_flag("--json", opts.json, "end with one line of JSON holding the results");
  cmd->add_option("--plot", opts.plot,
                  "write the roofline with each kernel as a point to this .svg (without "
                  "--kernel: every kernel of the file)");
  cmd->add_flag("!--no-roofline", opts.roofline,
                "skip the roofline figures (and the one-time calibration they need)");
  return cmd;
}

RooflinePoint benchKernel(const BenchOptions &opts, const std::string &source,
                          const ir::Kernel &irKernel, const std::map<std::string, int64_t> &shapes,
                          const std::optional<Ceilings> &ceilings, int &threadsUsed);

int benchCommand(const BenchOptions &opts, const std::map<std::string, int64_t> &shapes) {
  std::string source = readSource(opts.file);

  // The tensor IR, compiled separately from the Jit's copy, for the FLOP count.
  auto file = std::make_shared<const SourceFile>(SourceFile{opts.file, source});
  DiagnosticEngine diags;
  std::optional<ir::Module> module = frontend::compileSource(file, diags);
  if (!module || diags.hasErrors())
    throw CompileError(diags.diagnostics());
  std::optional<Ceilings> ceilings;
  if (opts.roofline || !opts.plot.empty())
    ceilings = loadOrMeasureCeilings(/*force=*/false, nullptr, opts.target == "cuda");
  std::vector<const ir::Kernel *> kernels;
  if (opts.kernel.empty() && !opts.plot.empty())
    for (const ir::Kernel &k : module->kernels)
      kernels.push_back(&k);
  else
    kernels.push_back(&findKernel(*module, opts.kernel, opts.file));
  std::vector<RooflinePoint> points;
  int threadsUsed = 1;
  for (const ir::Kernel *k : kernels)
    points.push_back(benchKernel(opts, source, *k, shapes, ceilings, threadsUsed));
  if (!opts.plot.empty()) {
    if (!ceilings)
      throw RuntimeError("--plot needs the ceilings (drop --no-roofline)");
    std::ofstream out(opts.plot, std::ios::binary);
    if (!out)
      throw RuntimeError("cannot write " + opts.plot);
    out << rooflineSvg(points, ceilings->peakGflops(threadsUsed),
                       ceilings->bandwidthGbps(threadsUsed),
                       opts.file + " on " + ceilings->fingerprint + ", " +
                           std::to_string(threadsUsed) +
                           (threadsUsed == 1 ? " thread" : " threads"));
  }
  return 0;
}

RooflinePoint benchKernel(const BenchOptions &opts, const std::string &source,
                          const ir::Kernel &irKernel, const std::map<std::string, int64_t> &shapes,
                          const std::optional<Ceilings> &ceilings, int &threadsUsed) {
  std::vector<std::vector<int64_t>> shapesIn = inputShapes(irKernel, shapes);
  std::vector<int64_t> symbols = ir::bindSymbols(irKernel, shapesIn);
  int64_t flops = countFlops(passes::normalize(irKernel), symbols);

  JitOptions jitOptions;
  jitOptions.target = opts.target == "cuda" ? Target::cuda() : Target::cpu();
  jitOptions.threads = opts.threads;
  Jit jit(jitOptions);
  int threads = jit.threads();
  threadsUsed = threads;
  Kernel kernel = jit.compile(source, opts.file).kernel(irKernel.name);

  std::vector<Tensor> inputs;
  int64_t bytes = 0;
  for (size_t i = 0; i < shapesIn.size(); ++i) {
    inputs.push_back(Tensor::randn(shapesIn[i], kernel.inputDType(i), opts.seed + i));
    bytes += static_cast<int64_t>(inputs.back().nbytes());
  }
  std::vector<Tensor> outputs;
  std::vector<std::vector<int64_t>> shapesOut = kernel.outputShapes(inputs);
  for (size_t i = 0; i < shapesOut.size(); ++i) {
    outputs.push_back(Tensor::zeros(shapesOut[i], kernel.outputDType(i)));
    bytes += static_cast<int64_t>(outputs.back().nbytes());
  }

  auto seconds = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  };
  // On the GPU the tensors stay on the device and each timed call ends with a synchronize: the
  // time of the kernels and their launches, without host-device copies.
  std::function<void()> runOnce = [&] { kernel.run(inputs, outputs); };
  std::vector<DeviceTensor> deviceInputs, deviceOutputs;
  if (opts.target == "cuda") {
    for (const Tensor &t : inputs)
      deviceInputs.push_back(DeviceTensor::fromHost(t));
    for (const Tensor &t : outputs)
      deviceOutputs.push_back(DeviceTensor::empty(t.shape(), t.dtype()));
    runOnce = [&] {
      kernel.runDevice(deviceInputs, deviceOutputs);
      runtime::cuda::synchronize(irKernel.name);
    };
  }
  // The first call compiles (the Jit compiles lazily) and warms the caches and the TLB.
  Clock::time_point start = Clock::now();
  runOnce();
  double firstCall = seconds(start, Clock::now());
  for (int i = 0; i < opts.warmup; ++i)
    runOnce();

  std::vector<double> times;
  const size_t maxRuns = 1000000;
  Clock::time_point began = Clock::now();
  auto enough = [&] {
    if (opts.runs > 0)
      return times.size() >= static_cast<size_t>(opts.runs);
    return times.size() >= maxRuns || (times.size() >= static_cast<size_t>(opts.minRuns) &&
                                       seconds(began, Clock::now()) >= opts.minSeconds);
  };
  // Progress on a terminal only (stderr a TTY), at most every 0.2 s; nothing in pipes or files.
  Progress progress("timing " + irKernel.name);
  while (!enough()) {
    Clock::time_point t0 = Clock::now();
    runOnce();
    times.push_back(seconds(t0, Clock::now()));
    progress.update(std::to_string(times.size()) + " runs, " +
                    number(seconds(began, Clock::now())) + " s");
  }
  progress.done();

  double med = median(times);
  double best = *std::min_element(times.begin(), times.end());
  double gbps = med > 0 ? static_cast<double>(bytes) / med / 1e9 : 0;
  double gflops = med > 0 ? static_cast<double>(flops) / med / 1e9 : 0;
  double floorSeconds =
      opts.bandwidthGbps > 0 ? static_cast<double>(bytes) / opts.bandwidthGbps / 1e9 : 0;

  std::string shapeText;
  for (size_t i = 0; i < irKernel.symbols.size(); ++i)
    shapeText += (i ? ", " : "") + irKernel.symbols[i]->name + "=" + std::to_string(symbols[i]);
  std::cout << "kernel " << irKernel.name << " (" << opts.target << ", " << threads
            << (threads == 1 ? " thread" : " threads") << ")"
            << (shapeText.empty() ? "" : " at " + shapeText) << "\n"
            << "  runs     " << times.size() << " timed, after " << opts.warmup
            << " warm-up; first call (compiles) " << number(firstCall * 1e3) << " ms\n"
            << "  median   " << number(med * 1e3) << " ms   min " << number(best * 1e3) << " ms\n"
            << "  bytes    " << bytes << "   " << number(gbps) << " GB/s\n"
            << "  flops    " << flops << "   " << number(gflops) << " GFLOP/s\n";
  if (floorSeconds > 0)
    std::cout << "  floor    " << number(floorSeconds * 1e3) << " ms at "
              << number(opts.bandwidthGbps) << " GB/s; reached " << number(100 * floorSeconds / med)
              << "%\n";

  // The roofline: the time the ceilings allow for these FLOPs and bytes, max(flops / peak,
  // bytes / bandwidth), over the time taken. A kernel far from it whose whole call is a few
  // microseconds is bound by fixed costs (the call, the threads' hand-off), not by the machine.
  double intensity = bytes > 0 ? static_cast<double>(flops) / static_cast<double>(bytes) : 0;
  double fraction = 0, ceilingGflops = 0;
  std::string bound;
  if (ceilings) {
    double peak = ceilings->peakGflops(threads) * 1e9, bw = ceilings->bandwidthGbps(threads) * 1e9;
    double computeSeconds = static_cast<double>(flops) / peak;
    double memorySeconds = static_cast<double>(bytes) / bw;
    double rooflineSeconds = std::max(computeSeconds, memorySeconds);
    fraction = med > 0 ? rooflineSeconds / med : 0;
    ceilingGflops = std::min(peak, intensity * bw) / 1e9;
    bound = (fraction < 0.25 && med < 50e-6)         ? "overhead"
            : computeSeconds > memorySeconds         ? "compute"
                                                      : "memory";
    std::cout << "  roofline intensity " << number(intensity) << " FLOP/byte; bound " << bound
              << "; roofline_fraction " << number(fraction) << " (ceilings "
              << number(ceilings->peakGflops(threads)) << " GFLOP/s, "
              << number(ceilings->bandwidthGbps(threads)) << " GB/s)\n";
  }

  if (opts.json) {
    std::string shapeJson;
    for (size_t i = 0; i < irKernel.symbols.size(); ++i)
      shapeJson += (i ? ", " : "") + jsonString(irKernel.symbols[i]->name) + ": " +
                   std::to_string(symbols[i]);
    std::cout << "{\"kernel\": " << jsonString(irKernel.name)
              << ", \"target\": " << jsonString(opts.target) << ", \"threads\": " << threads
              << ", \"median_ms\": " << number(med * 1e3) << ", \"min_ms\": " << number(best * 1e3)
              << ", \"runs\": " << times.size() << ", \"bytes\": " << bytes
              << ", \"flops\": " << flops << ", \"gbps\": " << number(gbps)
              << ", \"gflops\": " << number(gflops)
              << ", \"first_call_ms\": " << number(firstCall * 1e3)
              << ", \"file\": " << jsonString(opts.file) << ", \"shape\": {" << shapeJson << "}";
    if (floorSeconds > 0)
      std::cout << ", \"floor_ms\": " << number(floorSeconds * 1e3)
                << ", \"floor_frac\": " << number(floorSeconds / med);
    if (ceilings)
      std::cout << ", \"intensity\": " << number(intensity) << ", \"bound\": " << jsonString(bound)
                << ", \"roofline_fraction\": " << number(fraction)
                << ", \"ceiling_gflops\": " << number(ceilingGflops);
    std::cout << "}" << std::endl;
  }
  return RooflinePoint{irKernel.name, intensity, gflops, gbps};
}

namespace {

std::string xmlEscape(const std::string &text) {
  std::string out;
  for (char c : text)
    out += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : c == '"' ? "&quot;"
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
    return height - bottom - (std::log(v) - std::log(yMin)) / (std::log(yMax) - std::log(yMin)) *
                                 (height - top - bottom);
  };
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << width << " " << height
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << width / 2 << "\" y=\"24\" text-anchor=\"middle\" font-size=\"14\">Roofline: "
      << xmlEscape(title) << "</text>\n";
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
