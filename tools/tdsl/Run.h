// `tdsl run`: compiles one kernel, fills its inputs from exactly what the command line gives,
// runs it, and prints or saves the outputs (with --check, against the reference interpreter).
// It never guesses: an input left out, a --shape that names no symbol or contradicts a file,
// and a number its parameter's dtype cannot hold are errors (E087-E090); random data is there
// only when asked for (--random, --in x=random).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace tdsl {
class Kernel;
}

namespace tdsl::tool {

struct RunOptions {
  std::string file, kernel, target = "cpu";
  std::vector<std::string> inputs, outputs, shapes;
  bool check = false;
  bool random = false; // Inputs left out get seeded random data instead of an error.
  uint64_t seed = 1;
  int threads = 0;             // 0: every hardware thread.
  std::string checks = "none"; // --checks=bounds: generated code checks every load and store.
  int opt = 3;                 // -O0: Tiering::FastOnly.
};

/// Registers `tdsl run` and its flags on `app`, storing them in `opts`.
CLI::App *addRunCommand(CLI::App &app, RunOptions &opts);

/// Runs `tdsl run`. Throws CompileError, RuntimeError or UsageError; returns the exit status.
int runCommand(const RunOptions &opts);

/// `--shape N=4096,D=1024` (repeatable) -> {N: 4096, D: 1024}; a malformed one is E083.
std::map<std::string, int64_t> parseShapes(const std::vector<std::string> &specs);

/// Each --shape must name a shape symbol of one of `kernels` (E089, with a did-you-mean).
void checkShapeSymbols(const std::vector<Kernel> &kernels,
                       const std::map<std::string, int64_t> &shapes);

} // namespace tdsl::tool
