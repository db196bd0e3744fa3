// `tdsl aot`: the command line over tdsl::compileAheadOfTime (api/Aot.cpp).
#include "Aot.h"

#include "Usage.h"

#include <CLI/CLI.hpp>

#include <iostream>

namespace tdsl::tool {

CLI::App *addAotCommand(CLI::App &app, AotCommandOptions &opts) {
  CLI::App *cmd = app.add_subcommand(
      "aot", "compile kernels ahead of time into NAME.o, libNAME.a and a C header NAME.h");
  cmd->add_option("file", opts.file, ".tdsl source")->required();
  cmd->add_option("--kernel", opts.aot.kernels, "a kernel to compile (repeatable; default: all)");
  cmd->add_option("--target", opts.target, "cpu (cuda is not supported yet)")
      ->check(CLI::IsMember({"cpu"}));
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

int aotCommand(AotCommandOptions opts) {
  opts.aot.cpus.clear();
  for (size_t at = 0; at <= opts.cpu.size();) {
    size_t end = std::min(opts.cpu.find(',', at), opts.cpu.size());
    std::string level = opts.cpu.substr(at, end - at);
    if (level != "host" && level != "x86-64-v3" && level != "x86-64-v4")
      throw UsageError(ErrorCode::BadFlag, "--cpu: unknown CPU level '" + level + "'",
                       "the levels are host, x86-64-v3 and x86-64-v4, comma separated");
    opts.aot.cpus.push_back(level);
    at = end + 1;
  }
  AotFiles files = compileAheadOfTime(opts.file, opts.aot);
  std::cout << "wrote " << files.header << ", " << files.object << " and " << files.library << "\n";
  return 0;
}

} // namespace tdsl::tool
