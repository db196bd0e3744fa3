// `tdsl bench`: compile once, call on seeded random inputs (untimed warm-up first), then time
// repeated calls into preallocated outputs with steady_clock. Bytes moved are each input read
// once plus each output written once, the floor any implementation must pay; FLOPs are counted on
// the normalized tensor IR (see countFlops) so they do not depend on how the code was scheduled.
#include "Bench.h"

#include "frontend/Frontend.h"
#include "ir/Shapes.h"
#include "passes/Pipeline.h"
#include "support/Check.h"
#include "tdsl/tdsl.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

namespace tdsl::tool {

namespace {

using Clock = std::chrono::steady_clock;

std::string readSource(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw RuntimeError("cannot open " + path);
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
    throw RuntimeError("no kernel named '" + requested + "' (this module has: " + known + ")");
  }
  if (module.kernels.size() == 1)
    return module.kernels[0];
  std::string list;
  for (const ir::Kernel &k : module.kernels)
    list += (list.empty() ? "" : ", ") + k.name;
  throw RuntimeError(file + " defines " + std::to_string(module.kernels.size()) + " kernels (" +
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
        throw RuntimeError("the size of " + symbol->var->name + " (a dim of input " + input->name +
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
  return cmd;
}

int benchCommand(const BenchOptions &opts, const std::map<std::string, int64_t> &shapes) {
  std::string source = readSource(opts.file);

  // The tensor IR, compiled separately from the Jit's copy, for the FLOP count.
  auto file = std::make_shared<const SourceFile>(SourceFile{opts.file, source});
  DiagnosticEngine diags;
  std::optional<ir::Module> module = frontend::compileSource(file, diags);
  if (!module || diags.hasErrors())
    throw CompileError(diags.diagnostics());
  const ir::Kernel &irKernel = findKernel(*module, opts.kernel, opts.file);
  std::vector<std::vector<int64_t>> shapesIn = inputShapes(irKernel, shapes);
  std::vector<int64_t> symbols = ir::bindSymbols(irKernel, shapesIn);
  int64_t flops = countFlops(passes::normalize(irKernel), symbols);

  JitOptions jitOptions;
  jitOptions.target = opts.target == "cuda" ? Target::cuda() : Target::cpu();
  jitOptions.threads = opts.threads;
  Jit jit(jitOptions);
  int threads = jit.threads();
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
  // The first call compiles (the Jit compiles lazily) and warms the caches and the TLB.
  Clock::time_point start = Clock::now();
  kernel.run(inputs, outputs);
  double firstCall = seconds(start, Clock::now());
  for (int i = 0; i < opts.warmup; ++i)
    kernel.run(inputs, outputs);

  std::vector<double> times;
  const size_t maxRuns = 1000000;
  Clock::time_point began = Clock::now();
  auto enough = [&] {
    if (opts.runs > 0)
      return times.size() >= static_cast<size_t>(opts.runs);
    return times.size() >= maxRuns || (times.size() >= static_cast<size_t>(opts.minRuns) &&
                                       seconds(began, Clock::now()) >= opts.minSeconds);
  };
  while (!enough()) {
    Clock::time_point t0 = Clock::now();
    kernel.run(inputs, outputs);
    times.push_back(seconds(t0, Clock::now()));
  }

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
    std::cout << "}" << std::endl;
  }
  return 0;
}

} // namespace tdsl::tool
