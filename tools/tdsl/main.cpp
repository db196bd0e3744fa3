// The tdsl command-line driver: run, check, emit and bench .tdsl programs.
#include "Bench.h"
#include "Cache.h"
#include "Calibrate.h"
#include "Explain.h"
#include "api/Numerics.h"
#include "runtime/Convert.h"
#include "support/Check.h"
#include "tdsl/tdsl.h"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

namespace {

using namespace tdsl;

/// A user error of the command line itself (bad flag value): reported like a runtime error.
struct UsageError : RuntimeError {
  explicit UsageError(const std::string &message, ErrorCode code = ErrorCode::BadFlag)
      : RuntimeError(code, message) {}
};

std::pair<std::string, std::string> splitAssignment(const std::string &text, const char *flag) {
  size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw UsageError(std::string(flag) + " expects NAME=VALUE, got '" + text + "'");
  return {text.substr(0, eq), text.substr(eq + 1)};
}

std::optional<double> parseNumber(const std::string &text) {
  if (text.empty())
    return std::nullopt;
  char *end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size())
    return std::nullopt;
  return value;
}

/// `--shape N=4096,D=1024` (repeatable) -> {N: 4096, D: 1024}.
std::map<std::string, int64_t> parseShapes(const std::vector<std::string> &specs) {
  std::map<std::string, int64_t> shapes;
  for (const std::string &spec : specs) {
    std::stringstream parts(spec);
    std::string part;
    while (std::getline(parts, part, ',')) {
      if (part.empty())
        continue;
      auto [name, value] = splitAssignment(part, "--shape");
      char *end = nullptr;
      long long n = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || n < 0)
        throw UsageError("--shape " + name + ": expected a non-negative integer, got '" + value +
                         "'");
      shapes[name] = n;
    }
  }
  return shapes;
}

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw RuntimeError(ErrorCode::CannotReadSource, "cannot open " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Kernel selectKernel(const Module &module, const std::string &requested, const std::string &file) {
  if (!requested.empty())
    return module.kernel(requested);
  std::vector<std::string> names = module.kernelNames();
  if (names.size() == 1)
    return module.kernel(names[0]);
  std::string list;
  for (const std::string &n : names)
    list += (list.empty() ? "" : ", ") + n;
  throw UsageError(file + " defines " + std::to_string(names.size()) + " kernels (" + list +
                   "); choose one with --kernel");
}

/// The concrete shape of input `index` from its declared dims and the --shape values.
std::vector<int64_t> inputShape(const Kernel &kernel, size_t index,
                                const std::map<std::string, int64_t> &shapes) {
  try {
    return kernel.inputShape(index, shapes);
  } catch (const RuntimeError &e) {
    throw UsageError(std::string(e.what()) + "; pass --shape SYMBOL=SIZE or --in " +
                         kernel.inputNames()[index] + "=FILE.npy",
                     e.code());
  }
}

struct RunOptions {
  std::string file, kernel, target = "cpu";
  std::vector<std::string> inputs, outputs, shapes;
  bool check = false;
  uint64_t seed = 1;
  int threads = 0;             // 0: every hardware thread.
  std::string checks = "none"; // --checks=bounds: generated code checks every load and store.
  int opt = 3;                 // -O0: JitOptions::optimize off.
};

int runCommand(const RunOptions &opts) {
  JitOptions jitOptions;
  jitOptions.target = opts.target == "cuda" ? Target::cuda() : Target::cpu();
  jitOptions.threads = opts.threads;
  jitOptions.boundsChecks = opts.checks == "bounds";
  jitOptions.optimize = opts.opt != 0;
  Jit jit(jitOptions);
  Module module = jit.compile(readFile(opts.file), opts.file);
  Kernel kernel = selectKernel(module, opts.kernel, opts.file);
  std::map<std::string, int64_t> shapes = parseShapes(opts.shapes);

  std::vector<std::string> inputNames = kernel.inputNames();
  std::map<std::string, std::string> given;
  for (const std::string &spec : opts.inputs) {
    auto [name, value] = splitAssignment(spec, "--in");
    if (std::find(inputNames.begin(), inputNames.end(), name) == inputNames.end())
      throw UsageError("--in " + name + ": kernel " + kernel.name() + " has no input named " +
                       name);
    given[name] = value;
  }
  std::vector<std::string> outputNames = kernel.outputNames();
  std::map<std::string, std::string> saved;
  for (const std::string &spec : opts.outputs) {
    auto [name, path] = splitAssignment(spec, "--out");
    if (std::find(outputNames.begin(), outputNames.end(), name) == outputNames.end())
      throw UsageError("--out " + name + ": kernel " + kernel.name() + " has no output named " +
                       name);
    saved[name] = path;
  }

  std::vector<Tensor> inputs;
  for (size_t i = 0; i < inputNames.size(); ++i) {
    DType dtype = kernel.inputDType(i);
    auto it = given.find(inputNames[i]);
    if (it == given.end()) {
      inputs.push_back(Tensor::randn(inputShape(kernel, i, shapes), dtype, opts.seed + i));
    } else if (std::optional<double> number = parseNumber(it->second)) {
      Tensor filled = Tensor::zeros(inputShape(kernel, i, shapes), dtype);
      for (int64_t e = 0; e < filled.numel(); ++e)
        filled.set(e, *number);
      inputs.push_back(filled);
    } else {
      Tensor loaded = readNpy(it->second);
      if (loaded.dtype() != dtype) {
        // NumPy has no bf16: a bf16 parameter accepts f32 data, rounded.
        if (dtype == DType::BF16 && loaded.dtype() == DType::F32)
          loaded = runtime::convertTo(loaded, DType::BF16);
        else
          throw RuntimeError(ErrorCode::NpyDTypeMismatch,
                             "--in " + inputNames[i] + ": " + it->second + " holds " +
                                 loaded.typeString() + " but the parameter is " +
                                 std::string(dtypeName(dtype)) + "; convert it first (e.g. " +
                                 "x.astype(np." +
                                 (dtype == DType::F32   ? "float32"
                                  : dtype == DType::F64 ? "float64"
                                  : dtype == DType::F16 ? "float16"
                                  : dtype == DType::I32 ? "int32"
                                  : dtype == DType::I64 ? "int64"
                                  : dtype == DType::I16 ? "int16"
                                  : dtype == DType::I8  ? "int8"
                                  : dtype == DType::U8  ? "uint8"
                                                        : "bool_") +
                                 "))");
      }
      inputs.push_back(loaded);
    }
  }

  std::vector<Tensor> outputs = kernel(inputs);
  int status = 0;
  std::vector<Tensor> reference;
  if (opts.check)
    reference = kernel.interpret(inputs);
  for (size_t i = 0; i < outputs.size(); ++i) {
    auto it = saved.find(outputNames[i]);
    if (it != saved.end())
      writeNpy(it->second, outputs[i]);
    else
      std::cout << outputNames[i] << ": " << runtime::summarize(outputs[i]) << "\n";
    if (opts.check) {
      runtime::ErrorStats stats = runtime::compare(outputs[i], reference[i]);
      bool ok = withinTolerance(outputs[i], reference[i]);
      std::cout << "check " << outputNames[i] << ": " << describe(stats, outputs[i].shape())
                << (ok ? "  ok" : "  MISMATCH") << "\n";
      if (!ok)
        status = 1;
    }
  }
  return status;
}

int checkCommand(const std::string &file) {
  Jit jit;
  jit.compile(readFile(file), file);
  return 0;
}

int emitCommand(const std::string &file, const std::string &kernelName, const std::string &stage,
                const std::string &target, const std::string &cpu, const std::string &gpu,
                int threads, int opt) {
  std::optional<Stage> parsed = parseStage(stage);
  if (!parsed)
    throw UsageError("unknown stage '" + stage +
                     "' (stages: ast, tensor, fused, schedule, loops, llvm, asm, cuda, ptx)");
  std::string source = readFile(file);
  if (*parsed == Stage::Ast) {
    std::cout << printAst(source, file, kernelName);
    return 0;
  }
  Target t = target == "cuda" ? Target::cuda() : Target::cpu();
  t.cpuLevel = cpu;
  t.gpu = gpu;
  JitOptions jitOptions;
  jitOptions.target = t;
  jitOptions.threads = threads;   // The schedule's parallel loops depend on it.
  jitOptions.optimize = opt != 0; // --stage=llvm / asm show the code -O0 compiles.
  Jit jit(jitOptions);
  Module module = jit.compile(source, file);
  std::vector<std::string> names =
      kernelName.empty() ? module.kernelNames() : std::vector<std::string>{kernelName};
  for (const std::string &name : names) {
    std::string text = module.kernel(name).dump(*parsed);
    std::cout << text << (text.empty() || text.back() != '\n' ? "\n" : "");
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"tdsl: a JIT compiler for a tiny tensor language"};
  app.require_subcommand(1);

  RunOptions run;
  CLI::App *runCmd = app.add_subcommand("run", "compile and run a kernel");
  runCmd->add_option("file", run.file, ".tdsl source")->required();
  runCmd->add_option("--kernel", run.kernel, "kernel to run (optional with one kernel)");
  runCmd->add_option("--in", run.inputs, "NAME=PATH.npy or NAME=NUMBER")->take_all();
  runCmd->add_option("--out", run.outputs, "NAME=PATH.npy")->take_all();
  runCmd->add_option("--shape", run.shapes, "SYM=INT,... sizes of shape symbols")->take_all();
  runCmd->add_option("--target", run.target, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  runCmd->add_flag("--check", run.check, "compare every output with the reference interpreter");
  runCmd->add_option("--seed", run.seed, "seed of the random inputs");
  runCmd->add_option("--threads", run.threads, "threads to use (default 0: every hardware thread)")
      ->check(CLI::Range(0, 4096));
  runCmd
      ->add_option("--checks", run.checks,
                   "bounds: the CPU code checks every load and store (a debug mode)")
      ->check(CLI::IsMember({"none", "bounds"}));
  runCmd
      ->add_option("-O,--opt", run.opt,
                   "LLVM optimization: 3 (default) or 0 (no LLVM passes, fast instruction "
                   "selection: compiles faster, runs slower; tdsl's passes run either way)")
      ->check(CLI::IsMember({0, 3}));

  std::string checkFile;
  CLI::App *checkCmd = app.add_subcommand("check", "report diagnostics only");
  checkCmd->add_option("file", checkFile, ".tdsl source")->required();

  std::string emitFile, emitKernel, emitStage, emitTarget = "cpu", emitCpu = "host",
                                               emitGpu = "device";
  int emitThreads = 0;
  CLI::App *emitCmd = app.add_subcommand("emit", "print a compilation stage");
  emitCmd->add_option("file", emitFile, ".tdsl source")->required();
  emitCmd->add_option("--kernel", emitKernel, "kernel to print (default: all)");
  emitCmd->add_option("--stage", emitStage, "ast|tensor|fused|schedule|loops|llvm|asm|cuda|ptx");
  std::string printAfter;
  emitCmd->add_option("--print-after", printAfter,
                      "print the IR after this pass (normalize, fuse, lower-scheduled, simplify, "
                      "vectorize, or all) instead of a stage");
  emitCmd->add_option("--target", emitTarget, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  emitCmd->add_option("--cpu", emitCpu, "CPU to schedule for: host, x86-64-v3 or x86-64-v4")
      ->check(CLI::IsMember({"host", "x86-64-v3", "x86-64-v4"}));
  emitCmd
      ->add_option("--gpu", emitGpu,
                   "GPU to schedule --stage=cuda|ptx (and --target=cuda) for: device, sm_80, "
                   "sm_86, sm_89 or sm_90")
      ->check(CLI::IsMember({"device", "sm_80", "sm_86", "sm_89", "sm_90"}));
  emitCmd->add_option("--threads", emitThreads, "threads to schedule for (default 0: all)")
      ->check(CLI::Range(0, 4096));
  int emitOpt = 3;
  emitCmd
      ->add_option("-O,--opt", emitOpt,
                   "LLVM optimization of --stage=llvm and asm: 3 (default) or 0 (the IR as "
                   "generated, and -O0 assembly)")
      ->check(CLI::IsMember({0, 3}));

  tool::BenchOptions bench;
  CLI::App *benchCmd = tool::addBenchCommand(app, bench);

  tool::CacheOptions cacheOpts;
  CLI::App *cacheCmd = tool::addCacheCommand(app, cacheOpts);

  tool::CalibrateOptions calibrateOpts;
  CLI::App *calibrateCmd = tool::addCalibrateCommand(app, calibrateOpts);

  tool::ExplainOptions explainOpts;
  CLI::App *explainCmd = tool::addExplainCommand(app, explainOpts);

  CLI11_PARSE(app, argc, argv);

  try {
    if (runCmd->parsed())
      return runCommand(run);
    if (checkCmd->parsed())
      return checkCommand(checkFile);
    if (emitCmd->parsed() && !printAfter.empty())
      return tool::printAfterCommand(emitFile, emitKernel, printAfter, emitTarget, emitCpu,
                                     emitThreads);
    if (emitCmd->parsed() && emitStage.empty())
      throw UsageError("tdsl emit needs --stage or --print-after");
    if (emitCmd->parsed())
      return emitCommand(emitFile, emitKernel, emitStage, emitTarget, emitCpu, emitGpu, emitThreads,
                         emitOpt);
    if (benchCmd->parsed())
      return tool::benchCommand(bench, parseShapes(bench.shapes));
    if (cacheCmd->parsed())
      return tool::cacheCommand(cacheOpts);
    if (explainCmd->parsed())
      return tool::explainCommand(explainOpts);
    if (calibrateCmd->parsed())
      return tool::calibrateCommand(calibrateOpts);
  } catch (const CompileError &e) {
    std::cerr << e.what();
    return 1;
  } catch (const InternalError &e) {
    std::cerr << "tdsl: " << e.what() << "\nthis is a bug in tdsl; please report it\n";
    return 2;
  } catch (const RuntimeError &e) {
    std::string code = errorCodeString(e.code());
    std::cerr << "error" << (code.empty() ? "" : "[" + code + "]") << ": " << e.what() << "\n";
    return 1;
  } catch (const std::exception &e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
