// `tdsl aot`: the command line over tdsl::compileAheadOfTime (api/Aot.cpp).
#include "Aot.h"

#include "Usage.h"

#include <CLI/CLI.hpp>

#include <iostream>
#include <string>
#include <vector>

namespace tdsl::tool {

CLI::App *addAotCommand(CLI::App &app, AotCommandOptions &opts) {
  CLI::App *cmd = app.add_subcommand(
      "aot", "compile kernels ahead of time into NAME.o, libNAME.a and a C header NAME.h");
  cmd->add_option("file", opts.file, ".tdsl source")->required();
  cmd->add_option("--kernel", opts.aot.kernels, "a kernel to compile (repeatable; default: all)");
  cmd->add_option("--target", opts.aot.target,
                  "cpu, or cuda: PTX and cubins launched through the CUDA driver")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--gpu", opts.gpu,
                  "GPU architectures for --target cuda, comma separated: sm_80, sm_86, sm_89, "
                  "sm_90 (default sm_80,sm_90)");
  cmd->add_option("--cpu", opts.cpu,
                  "CPU levels, comma separated: host, x86-64-v3, x86-64-v4; each kernel is "
                  "compiled once per level and the first call picks the best this CPU runs");
  cmd->add_option("--threads", opts.aot.threads,
                  "threads the schedules are chosen for (default 0: this machine's)")
      ->check(CLI::Range(0, 4096));
  cmd->add_option("--name", opts.aot.name,
                  "NAME of the files and the prefix of the functions (default: FILE's name)");
  cmd->add_option("-o,--output", opts.aot.outputDir, "folder for the files")->required();
  return cmd;
}

namespace {

std::vector<std::string> commaSeparated(const std::string &list) {
  std::vector<std::string> items;
  for (size_t at = 0; at <= list.size();) {
    size_t end = std::min(list.find(',', at), list.size());
    items.push_back(list.substr(at, end - at));
    at = end + 1;
  }
  return items;
}

} // namespace

int aotCommand(AotCommandOptions opts) {
  opts.aot.cpus = commaSeparated(opts.cpu);
  for (const std::string &level : opts.aot.cpus)
    if (level != "host" && level != "x86-64-v3" && level != "x86-64-v4")
      throw UsageError(ErrorCode::BadFlag, "--cpu: unknown CPU level '" + level + "'",
                       "the levels are host, x86-64-v3 and x86-64-v4, comma separated");
  opts.aot.gpus = commaSeparated(opts.gpu);
  for (const std::string &arch : opts.aot.gpus)
    if (arch != "sm_80" && arch != "sm_86" && arch != "sm_89" && arch != "sm_90")
      throw UsageError(ErrorCode::BadFlag, "--gpu: unknown GPU architecture '" + arch + "'",
                       "the architectures are sm_80, sm_86, sm_89 and sm_90, comma separated");
  AotFiles files = compileAheadOfTime(opts.file, opts.aot);
  std::cout << "wrote " << files.header << ", " << files.object << " and " << files.library << "\n";
  return 0;
}

} // namespace tdsl::tool
