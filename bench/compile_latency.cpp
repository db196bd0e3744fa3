// Compile latency of the CPU backend and what the kernel cache saves (issue 6):
//   cold    a fresh optimized-only Jit, disk cache off: parse, passes, LLVM -O3, object code, link;
//           first call
//   cold-O0 the same with Tiering::FastOnly: EarlyCSE only, fast instruction selection
//   disk    a fresh Jit whose disk cache holds the kernel: parse, load the object, first call
//   memory  the same Jit compiling the same source again: parse, first call
//   split   the cold compile's parts: frontend, passes (schedule + lowering), LLVM to object (O3
//           and O0), link
//   run     a whole `tdsl run FILE --shape N=8,D=16 --random` process with a warm disk cache
//           (wall time)
//   tiered  a fresh tiered Jit (the default), disk cache off: frontend, passes, the fast tier,
//           link, first call; for softmax, layernorm and a tiled matmul, each beside its `cold`
//           (optimized-only) first call. The background compile's end (and the Jit's, which
//           waits for it) is not timed.
//   steady  time per call once the kernels run their final tier: optimized-only, tiered after
//           its swap, fast-only (Kernel::profile, the modes alternated, median of each)
//   startup 200 distinct small kernels compiled and called once each by a fresh Jit, tiered and
//           optimized-only (the background compiles still queued are dropped, untimed)
// Each figure is the median (and minimum) of --runs samples of wall time, and the median of the
// calling thread's CPU time (steadier on a busy machine; without `run`'s child processes), after
// one untimed warm-up that pays LLVM's one-time initialization (the `run` figure includes it: each
// process pays it).
//
//   build-release/bin/bench_compile_latency [--runs 20] [--tdsl build-release/bin/tdsl]
//   build-release/bin/bench_compile_latency --first-calls 1   (only the cold, cold-O0 and tiered
//                                                             lines: a quick check)
//   build-release/bin/bench_compile_latency --dump-ir softmax.ll   (the unoptimized LLVM IR, to
//                                                                  profile with opt/llc)
#include "codegen/llvm/LlvmBackend.h"
#include "codegen/llvm/LlvmOptions.h"
#include "frontend/Frontend.h"
#include "passes/Pipeline.h"
#include "tdsl/tdsl.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char **environ;

namespace {

using namespace tdsl;
namespace fs = std::filesystem;

const char *kSoftmax = R"(kernel softmax(x: f32[N, D]) -> y: f32[N, D] {
    e[i, j] = exp(x[i, j] - max(x[i, k] for k))
    y[i, j] = e[i, j] / sum(e[i, k] for k)
}
)";

const char *kLayernorm = R"(kernel layernorm(x: f32[N, D], g: f32[D], b: f32[D]) -> y: f32[N, D] {
    mu[i] = mean(x[i, j] for j)
    var[i] = mean((x[i, j] - mu[i]) ** 2 for j)
    y[i, j] = (x[i, j] - mu[i]) * rsqrt(var[i] + 1e-5) * g[j] + b[j]
}
)";

const char *kMatmul = R"(kernel matmul(a: f32[N, D], b: f32[D, D]) -> c: f32[N, D] {
    c[i, j] = sum(a[i, k] * b[k, j] for k)
}
)";

/// One of the benchmark's kernels, compiled from `source`, with inputs of N = `rows`, D = `cols`.
struct Case {
  const char *name;
  const char *source;
};
const Case kCases[] = {{"softmax", kSoftmax}, {"layernorm", kLayernorm}, {"matmul", kMatmul}};

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// CPU time of the calling thread (compiling and linking run on it): on a busy machine it varies
/// far less than wall time. Child processes (`run`) are not counted.
double threadCpuTime() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

struct Figure {
  double median, min, cpuMedian;
};

/// `after`, when given, runs untimed after each sample (a tiered Jit's destruction, which waits
/// for its background compile).
Figure measure(int runs, const std::function<void()> &sample,
               const std::function<void()> &after = {}) {
  sample(); // Warm-up.
  if (after)
    after();
  std::vector<double> times, cpu;
  for (int i = 0; i < runs; ++i) {
    double t0 = now(), c0 = threadCpuTime();
    sample();
    times.push_back(now() - t0);
    cpu.push_back(threadCpuTime() - c0);
    if (after)
      after();
  }
  std::sort(times.begin(), times.end());
  std::sort(cpu.begin(), cpu.end());
  return {times[times.size() / 2], times.front(), cpu[cpu.size() / 2]};
}

void firstCall(const Jit &jit) {
  Kernel k = jit.compile(kSoftmax, "softmax.tdsl").kernel("softmax");
  Tensor y = k({Tensor::randn({8, 16}, DType::F32, 1)})[0];
  if (y.numel() != 128)
    std::abort();
}

void print(const char *name, Figure f, const std::string &what) {
  std::printf("%-7s median %8.3f ms   min %8.3f ms   cpu %8.3f ms   %s\n", name, f.median * 1e3,
              f.min * 1e3, f.cpuMedian * 1e3, what.c_str());
}

/// The first call of `c`'s kernel on small inputs (N = 8, D = 64: a D x D matmul is tiled).
void firstCallOf(const Jit &jit, const Case &c) {
  Kernel k = jit.compile(c.source, std::string(c.name) + ".tdsl").kernel(c.name);
  std::vector<Tensor> y = k(k.randomInputs({{"N", 8}, {"D", 64}}, 1));
  if (y.at(0).numel() != 8 * 64)
    std::abort();
}

/// 200 distinct small kernels (four families, each constant different) in one source.
std::string manyKernels(int count) {
  std::string source;
  for (int v = 0; v < count; ++v) {
    std::string n = std::to_string(v), c = std::to_string(1.0 + v / 64.0);
    switch (v % 4) {
    case 0:
      source += "kernel k" + n + "(x: f32[N, D], w: f32[D]) -> y: f32[N, D] {\n" +
                "    y[i, j] = tanh(x[i, j] * " + c + " + w[j])\n}\n";
      break;
    case 1:
      source += "kernel k" + n + "(x: f32[N, D]) -> y: f32[N] {\n" +
                "    y[i] = sum(x[i, j] * x[i, j] for j) * " + c + "\n}\n";
      break;
    case 2:
      source += "kernel k" + n + "(x: f32[N, D]) -> y: f32[N, D] {\n" +
                "    e[i, j] = exp(x[i, j] * " + c + " - max(x[i, k] for k))\n" +
                "    y[i, j] = e[i, j] / sum(e[i, k] for k)\n}\n";
      break;
    default:
      source += "kernel k" + n + "(x: f32[N, D], b: f32[D]) -> y: f32[N, D] {\n" +
                "    y[i, j] = max(x[i, j] + b[j], 0.0) * " + c + "\n}\n";
      break;
    }
  }
  return source;
}

void startUp(const Jit &jit, const std::string &source) {
  Module m = jit.compile(source, "many.tdsl");
  for (const std::string &name : m.kernelNames()) {
    Kernel k = m.kernel(name);
    k(k.randomInputs({{"N", 4}, {"D", 32}}, 1));
  }
}

} // namespace

int main(int argc, char **argv) {
  int runs = 20;
  bool firstCallsOnly = false;
  std::string tdslPath, dumpIr;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--runs")
      runs = std::atoi(argv[i + 1]);
    else if (flag == "--tdsl")
      tdslPath = argv[i + 1];
    else if (flag == "--dump-ir")
      dumpIr = argv[i + 1];
    else if (flag == "--first-calls")
      firstCallsOnly = std::atoi(argv[i + 1]) != 0;
  }
  fs::path dir = fs::temp_directory_path() / ("tdsl-latency-" + std::to_string(::getpid()));
  fs::remove_all(dir);

  JitOptions cold;
  cold.threads = 1;
  cold.diskCache = false;
  cold.tiering = Tiering::OptimizedOnly;
  if (dumpIr.empty())
    print("cold", measure(runs, [&] { firstCall(Jit(cold)); }),
          "fresh Jit, no disk cache: frontend + passes + LLVM O3 + link + first call");
  JitOptions coldFast = cold;
  coldFast.tiering = Tiering::FastOnly;
  if (dumpIr.empty())
    print("cold-O0", measure(runs, [&] { firstCall(Jit(coldFast)); }),
          "the same, Tiering::FastOnly: EarlyCSE only, fast codegen");
  JitOptions coldOptimized = cold, tiered = cold;
  tiered.tiering = Tiering::Tiered;
  std::unique_ptr<Jit> held; // A tiered Jit, destroyed untimed (it waits for its compile).
  auto release = [&] { held.reset(); };
  for (const Case &c : kCases) {
    if (!dumpIr.empty())
      break;
    print("cold", measure(runs, [&] { firstCallOf(Jit(coldOptimized), c); }),
          std::string("fresh Jit, optimized only: first call of ") + c.name);
    print("tiered",
          measure(
              runs,
              [&] {
                held = std::make_unique<Jit>(tiered);
                firstCallOf(*held, c);
              },
              release),
          std::string("fresh Jit, tiered: first call of ") + c.name + " (fast tier)");
  }

  if (firstCallsOnly)
    return 0;

  // The cold compile's parts (the host target as a 1-thread Jit schedules it).
  auto file = std::make_shared<const SourceFile>(SourceFile{"softmax.tdsl", kSoftmax});
  std::optional<ir::Module> module;
  ir::LoweredFunc lowered;
  std::string object;
  passes::CpuTarget target;
  target.name = "host";
  target.vectorBits = codegen::hostCpuInfo().vectorBits;
  target.threads = 1;
  if (!dumpIr.empty()) {
    DiagnosticEngine diags;
    module = frontend::compileSource(file, diags);
    std::ofstream(dumpIr) << codegen::emitLlvmIr(passes::lowerKernel(module->kernels[0], target),
                                                 /*optimized=*/false);
    return 0;
  }
  print("front",
        measure(runs,
                [&] {
                  DiagnosticEngine diags;
                  module = frontend::compileSource(file, diags);
                }),
        "frontend: parse + sema");
  print("passes", measure(runs, [&] { lowered = passes::lowerKernel(module->kernels[0], target); }),
        "normalize, fuse, schedule, lower, simplify, vectorize");
  print("ir", measure(runs, [&] { codegen::emitLlvmIr(lowered, /*optimized=*/false); }),
        "LLVM IR generation only (+ printing it)");
  print("ir+O3", measure(runs, [&] { codegen::emitLlvmIr(lowered, /*optimized=*/true); }),
        "LLVM IR generation and -O3 (+ printing it)");
  print("llvm", measure(runs, [&] { object = codegen::compileToObject(lowered, "k"); }),
        "LLVM IR generation, -O3, code generation to an object");
  codegen::LlvmCodeGenOptions fast;
  fast.optimize = false;
  print("llvm-O0", measure(runs, [&] { codegen::compileToObject(lowered, "k", fast); }),
        "LLVM IR generation, code generation at CodeGenOptLevel::None to an object");
  print("link", measure(runs, [&] { codegen::loadObject(object, "k"); }),
        "link the object into the process's JIT (a fresh JITDylib)");

  JitOptions disk;
  disk.threads = 1;
  disk.cacheDir = (dir / "cache").string();
  JitOptions fill = disk;
  fill.tiering = Tiering::OptimizedOnly;
  firstCall(Jit(fill)); // Fills the cache; the tiered Jits below load it and never tier.
  print("disk", measure(runs, [&] { firstCall(Jit(disk)); }),
        "fresh Jit, disk-cache hit: frontend + load object + link + first call");

  Jit shared(disk);
  print("memory", measure(runs, [&] { firstCall(shared); }),
        "same Jit, memory-cache hit: frontend + first call");

  // Steady state: each mode's final tier, timed by Kernel::profile (single-threaded).
  for (const Case &c : kCases) {
    std::map<std::string, std::vector<double>> medians;
    std::vector<Tensor> inputs;
    for (int round = 0; round < 5; ++round)
      for (auto [label, tiering] :
           {std::pair{"optimized-only", Tiering::OptimizedOnly},
            std::pair{"tiered", Tiering::Tiered}, std::pair{"fast-only", Tiering::FastOnly}}) {
        JitOptions options = cold;
        options.tiering = tiering;
        Jit jit(options);
        Kernel k = jit.compile(c.source, std::string(c.name) + ".tdsl").kernel(c.name);
        if (inputs.empty())
          inputs = k.randomInputs({{"N", 256}, {"D", 512}}, 1);
        ProfileOptions profile;
        profile.roofline = false;
        profile.minSeconds = 0.2;
        Profile p = k.profile(inputs, profile);
        medians[label].push_back(p.medianSeconds);
      }
    std::string line;
    for (const char *label : {"optimized-only", "tiered", "fast-only"}) {
      std::vector<double> &m = medians[label];
      std::sort(m.begin(), m.end());
      char text[96];
      std::snprintf(text, sizeof text, "%s%s %.3f ms", line.empty() ? "" : ", ", label,
                    m[m.size() / 2] * 1e3);
      line += text;
    }
    std::printf("steady  %s N=256 D=512, per call (median of 5 profiles): %s\n", c.name,
                line.c_str());
  }

  std::string many = manyKernels(200);
  int startupRuns = std::max(1, runs / 4);
  print("startup", measure(startupRuns, [&] { startUp(Jit(coldOptimized), many); }),
        "fresh Jit, optimized only: compile and call 200 distinct small kernels");
  print("startup",
        measure(
            startupRuns,
            [&] {
              held = std::make_unique<Jit>(tiered);
              startUp(*held, many);
            },
            release),
        "fresh Jit, tiered: compile and call 200 distinct small kernels");

  if (!tdslPath.empty()) {
    fs::path file = dir / "softmax.tdsl";
    std::ofstream(file) << kSoftmax;
    std::string cacheEnv = "TDSL_CACHE_DIR=" + (dir / "cli-cache").string();
    std::vector<std::string> env;
    for (char **e = environ; *e; ++e)
      if (std::string(*e).rfind("TDSL_CACHE_DIR=", 0) != 0)
        env.push_back(*e);
    env.push_back(cacheEnv);
    std::vector<char *> envp;
    for (std::string &e : env)
      envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string fileArg = file.string();
    std::vector<std::string> args = {tdslPath, "run", fileArg, "--shape", "N=8,D=16", "--random"};
    std::vector<char *> argp;
    for (std::string &a : args)
      argp.push_back(a.data());
    argp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    auto runOnce = [&] {
      pid_t pid;
      if (posix_spawn(&pid, tdslPath.c_str(), &actions, nullptr, argp.data(), envp.data()) != 0)
        std::abort();
      int status = 0;
      waitpid(pid, &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        std::abort();
    };
    print("run", measure(runs, runOnce), "whole `tdsl run` process, small softmax, warm cache");
    posix_spawn_file_actions_destroy(&actions);
  }
  fs::remove_all(dir);
  return 0;
}
