// `tdsl explain` and `tdsl emit --print-after`: the command line over Module::explain
// (api/Explain.cpp) and Kernel::dumpAfter.
#include "Explain.h"

#include "tdsl/tdsl.h"

#include <CLI/CLI.hpp>

#include <iostream>

namespace tdsl::tool {

CLI::App *addExplainCommand(CLI::App &app, ExplainOptions &opts) {
  CLI::App *cmd =
      app.add_subcommand("explain", "why each definition was fused or not, and each schedule");
  cmd->add_option("file", opts.file, ".tdsl source")->required();
  cmd->add_option("--kernel", opts.kernel, "kernel to explain (default: all)");
  cmd->add_option("--target", opts.target, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--cpu", opts.cpu, "CPU to schedule for: host, x86-64-v3 or x86-64-v4")
      ->check(CLI::IsMember({"host", "x86-64-v3", "x86-64-v4"}));
  cmd->add_option("--gpu", opts.gpu, "GPU to schedule for: device, sm_80, sm_86, sm_89 or sm_90")
      ->check(CLI::IsMember({"device", "sm_80", "sm_86", "sm_89", "sm_90"}));
  cmd->add_option("--threads", opts.threads, "threads to schedule for (default 0: all)")
      ->check(CLI::Range(0, 4096));
  return cmd;
}

int explainCommand(const ExplainOptions &opts) {
  Target target = opts.target == "cuda" ? Target::cuda() : Target::cpu();
  target.cpuLevel = opts.cpu;
  target.gpu = opts.gpu;
  JitOptions options;
  options.target = target;
  options.threads = opts.threads;
  Module module = Jit(options).compileFile(opts.file); // Throws with every diagnostic.
  std::cout << (opts.kernel.empty() ? module.explain() : module.kernel(opts.kernel).explain());
  return 0;
}

int printAfterCommand(const std::string &file, const std::string &kernel, const std::string &pass,
                      const std::string &target, const std::string &cpu, int threads) {
  Target t = target == "cuda" ? Target::cuda() : Target::cpu();
  t.cpuLevel = cpu;
  JitOptions options;
  options.target = t;
  options.threads = threads;
  Module module = Jit(options).compileFile(file);
  std::vector<std::string> names =
      kernel.empty() ? module.kernelNames() : std::vector<std::string>{kernel};
  for (const std::string &name : names)
    std::cout << module.kernel(name).dumpAfter(pass);
  return 0;
}

} // namespace tdsl::tool
