// Compile latency of the CPU backend and what the kernel cache saves (issue 6):
//   cold    a fresh Jit, disk cache off: parse, passes, LLVM -O3, object code, link; first call
//   cold-O0 the same with JitOptions::optimize off: no LLVM IR passes, fast instruction selection
//   disk    a fresh Jit whose disk cache holds the kernel: parse, load the object, first call
//   memory  the same Jit compiling the same source again: parse, first call
//   split   the cold compile's parts: frontend, passes (schedule + lowering), LLVM to object (O3
//           and O0), link
//   run     a whole `tdsl run FILE --shape N=8,D=16 --random` process with a warm disk cache
//           (wall time)
// Each figure is the median (and minimum) of --runs samples of wall time, and the median of the
// calling thread's CPU time (steadier on a busy machine; without `run`'s child processes), after
// one untimed warm-up that pays LLVM's one-time initialization (the `run` figure includes it: each
// process pays it).
//
//   build-release/bin/bench_compile_latency [--runs 20] [--tdsl build-release/bin/tdsl]
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

Figure measure(int runs, const std::function<void()> &sample) {
  sample(); // Warm-up.
  std::vector<double> times, cpu;
  for (int i = 0; i < runs; ++i) {
    double t0 = now(), c0 = threadCpuTime();
    sample();
    times.push_back(now() - t0);
    cpu.push_back(threadCpuTime() - c0);
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

void print(const char *name, Figure f, const char *what) {
  std::printf("%-7s median %8.3f ms   min %8.3f ms   cpu %8.3f ms   %s\n", name, f.median * 1e3,
              f.min * 1e3, f.cpuMedian * 1e3, what);
}

} // namespace

int main(int argc, char **argv) {
  int runs = 20;
  std::string tdslPath, dumpIr;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--runs")
      runs = std::atoi(argv[i + 1]);
    else if (flag == "--tdsl")
      tdslPath = argv[i + 1];
    else if (flag == "--dump-ir")
      dumpIr = argv[i + 1];
  }
  fs::path dir = fs::temp_directory_path() / ("tdsl-latency-" + std::to_string(::getpid()));
  fs::remove_all(dir);

  JitOptions cold;
  cold.threads = 1;
  cold.diskCache = false;
  if (dumpIr.empty())
    print("cold", measure(runs, [&] { firstCall(Jit(cold)); }),
          "fresh Jit, no disk cache: frontend + passes + LLVM O3 + link + first call");
  JitOptions coldFast = cold;
  coldFast.optimize = false;
  if (dumpIr.empty())
    print("cold-O0", measure(runs, [&] { firstCall(Jit(coldFast)); }),
          "the same, JitOptions::optimize = false: no LLVM IR passes, fast codegen");

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
  firstCall(Jit(disk)); // Fills the cache.
  print("disk", measure(runs, [&] { firstCall(Jit(disk)); }),
        "fresh Jit, disk-cache hit: frontend + load object + link + first call");

  Jit shared(disk);
  print("memory", measure(runs, [&] { firstCall(shared); }),
        "same Jit, memory-cache hit: frontend + first call");

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
