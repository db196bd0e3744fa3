// The tdsl command-line driver: run, check, emit, explain, bench, calibrate and cache .tdsl
// programs. Every error, of the program or of the command line, is printed as the compiler's are
// (`error[E0xx]: message`, a hint) and the exit status says which kind it was (Usage.h).
#include "Aot.h"
#include "Bench.h"
#include "Cache.h"
#include "Calibrate.h"
#include "Completion.h"
#include "Explain.h"
#include "Run.h"
#include "Terminal.h"
#include "Usage.h"
#include "Version.h"
#include "support/Check.h"
#include "tdsl/tdsl.h"

#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>
#include <sstream>

namespace {

using namespace tdsl;
using tool::UsageError;

constexpr const char *kExitStatusHelp =
    "Exit status: 0 success; 1 an error in the program or its data (compile errors, .npy files, "
    "a --check mismatch); 2 an error in the command line (an unknown command or option, a "
    "missing or bad argument, an input not given); 3 an internal error (a bug in tdsl: please "
    "report it).\n";

const std::vector<std::string> kStages = {"ast",  "tensor", "fused", "schedule", "loops",
                                          "llvm", "asm",    "cuda",  "ptx"};

/// The text of `path`, or of standard input for "-".
std::string readSource(const std::string &path) {
  std::ostringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
    return text.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw RuntimeError(ErrorCode::CannotReadSource, "cannot open " + path);
  text << in.rdbuf();
  return text.str();
}

std::string sourceName(const std::string &path) { return path == "-" ? "<stdin>" : path; }

/// Checks every file (`-`: standard input), reporting each one's errors; 1 when any had one.
int checkCommand(const std::vector<std::string> &files, bool colour) {
  Jit jit;
  int status = tool::kSuccess;
  for (const std::string &file : files) {
    try {
      jit.compile(readSource(file), sourceName(file));
    } catch (const CompileError &e) {
      std::cerr << tool::formatDiagnostics(e, colour);
      status = tool::kProgramError;
    } catch (const RuntimeError &e) { // A file that cannot be read: the others are checked.
      std::cerr << tool::formatError(e.code(), e.what(), {}, colour);
      status = tool::kProgramError;
    }
  }
  return status;
}

int emitCommand(const std::string &file, const std::string &kernelName, const std::string &stage,
                const std::string &target, const std::string &cpu, const std::string &gpu,
                int threads, int opt) {
  std::optional<Stage> parsed = parseStage(stage);
  if (!parsed)
    throw UsageError(
        ErrorCode::BadFlag, "unknown stage '" + stage + "'",
        tool::didYouMean(stage, kStages, "the stages are " + tool::listWords(kStages)));
  std::string source = readSource(file);
  if (*parsed == Stage::Ast) {
    std::cout << printAst(source, sourceName(file), kernelName);
    return 0;
  }
  Target t = target == "cuda" ? Target::cuda() : Target::cpu();
  t.cpuLevel = cpu;
  t.gpu = gpu;
  JitOptions jitOptions;
  jitOptions.target = t;
  jitOptions.threads = threads; // The schedule's parallel loops depend on it.
  // --stage=llvm / asm show the final tier's code: the fast one with -O0.
  jitOptions.tiering = opt == 0 ? Tiering::FastOnly : Tiering::Tiered;
  Jit jit(jitOptions);
  Module module = jit.compile(source, sourceName(file));
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
  app.require_subcommand(0, 1);
  app.fallthrough(); // --color may follow the command: `tdsl check x.tdsl --color=always`.
  std::string colourMode = "auto";
  app.add_option("--color", colourMode,
                 "colour in error messages: auto (default: on a terminal, unless NO_COLOR is "
                 "set), always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  bool showVersion = false;
  app.add_flag("--version", showVersion,
               "print the version, git commit and LLVM version, and whether NVRTC and a CUDA "
               "device were found");

  tool::RunOptions run;
  CLI::App *runCmd = tool::addRunCommand(app, run);

  std::vector<std::string> checkFiles;
  CLI::App *checkCmd = app.add_subcommand("check", "report diagnostics only");
  checkCmd->add_option("file", checkFiles, ".tdsl sources; - reads standard input")->required();

  std::string emitFile, emitKernel, emitStage, emitTarget = "cpu", emitCpu = "host",
                                               emitGpu = "device";
  int emitThreads = 0;
  CLI::App *emitCmd = app.add_subcommand("emit", "print a compilation stage");
  emitCmd->add_option("file", emitFile, ".tdsl source; - reads standard input")->required();
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

  tool::AotCommandOptions aotOpts;
  CLI::App *aotCmd = tool::addAotCommand(app, aotOpts);

  std::string completionShell;
  CLI::App *completionCmd = app.add_subcommand(
      "completion", "print a shell completion script: source <(tdsl completion bash)");
  completionCmd->add_option("shell", completionShell, "bash or zsh")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh"}));
  app.footer(kExitStatusHelp);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success &e) {
    return app.exit(e); // --help.
  } catch (const CLI::ParseError &e) {
    UsageError error = tool::translateParseError(e, app);
    std::cerr << tool::formatError(error.code(), error.what(), error.hint,
                                   tool::colourFor(colourMode));
    return tool::kUsageError;
  }

  bool colour = tool::colourFor(colourMode);
  try {
    if (showVersion) {
      std::cout << tool::versionText();
      return 0;
    }
    if (runCmd->parsed())
      return tool::runCommand(run);
    if (checkCmd->parsed())
      return checkCommand(checkFiles, colour);
    if (emitCmd->parsed() && !printAfter.empty())
      return tool::printAfterCommand(emitFile, emitKernel, printAfter, emitTarget, emitCpu,
                                     emitThreads);
    if (emitCmd->parsed() && emitStage.empty())
      throw UsageError(ErrorCode::MissingArgument, "tdsl emit needs --stage or --print-after",
                       "the stages are " + tool::listWords(kStages));
    if (emitCmd->parsed())
      return emitCommand(emitFile, emitKernel, emitStage, emitTarget, emitCpu, emitGpu, emitThreads,
                         emitOpt);
    if (benchCmd->parsed())
      return tool::benchCommand(bench, tool::parseShapes(bench.shapes));
    if (cacheCmd->parsed())
      return tool::cacheCommand(cacheOpts);
    if (explainCmd->parsed())
      return tool::explainCommand(explainOpts);
    if (calibrateCmd->parsed())
      return tool::calibrateCommand(calibrateOpts);
    if (aotCmd->parsed())
      return tool::aotCommand(aotOpts);
    if (completionCmd->parsed()) {
      std::cout << tool::completionScript(app, completionShell);
      return 0;
    }
    throw UsageError(ErrorCode::MissingArgument, "tdsl needs a command",
                     "see 'tdsl --help' for the commands");
  } catch (const CompileError &e) {
    std::cerr << tool::formatDiagnostics(e, colour);
    return tool::kProgramError;
  } catch (const InternalError &e) {
    std::cerr << "tdsl: " << e.what() << "\nthis is a bug in tdsl; please report it\n";
    return tool::kInternalError;
  } catch (const UsageError &e) {
    std::cerr << tool::formatError(e.code(), e.what(), e.hint, colour);
    return tool::kUsageError;
  } catch (const RuntimeError &e) {
    std::cerr << tool::formatError(e.code(), e.what(), {}, colour);
    return tool::isUsageCode(e.code()) ? tool::kUsageError : tool::kProgramError;
  } catch (const std::exception &e) {
    std::cerr << tool::formatError(ErrorCode::None, e.what(), {}, colour);
    return tool::kProgramError;
  }
}
