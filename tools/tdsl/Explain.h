// `tdsl explain FILE`: why the compiler fused what it fused and scheduled what it scheduled.
// One line per producer -> consumer edge between definitions, each with its .tdsl line:column,
// saying whether the producer was inlined, fused into the consumer's loop nest or stored and
// read from memory, and why; then each group's schedule with its reasons. The text is
// Module::explain / Kernel::explain (api/Explain.cpp); this is the command line over it.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace tdsl::tool {

struct ExplainOptions {
  std::string file, kernel, target = "cpu", cpu = "host", gpu = "device";
  int threads = 0;
};

CLI::App *addExplainCommand(CLI::App &app, ExplainOptions &opts);
int explainCommand(const ExplainOptions &opts);

/// `tdsl emit FILE --print-after=PASS`: Kernel::dumpAfter of each kernel (or `kernel`).
int printAfterCommand(const std::string &file, const std::string &kernel, const std::string &pass,
                      const std::string &target, const std::string &cpu, int threads);

} // namespace tdsl::tool
