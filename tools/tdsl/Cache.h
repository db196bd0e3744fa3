// `tdsl cache stats|clear|why FILE`: the disk kernel cache (CPU and CUDA) seen from the command
// line.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace tdsl::tool {

struct CacheOptions {
  std::string file, kernel;   // `why` only.
  int threads = 0;            // `why`: the thread count `tdsl run --threads` would use.
  std::string target = "cpu"; // `why`: cpu, or cuda for the GPU present.
  CLI::App *stats = nullptr, *clear = nullptr, *why = nullptr;
};

/// Registers `tdsl cache` and its three subcommands on `app`.
CLI::App *addCacheCommand(CLI::App &app, CacheOptions &opts);

/// Runs the parsed subcommand; returns the exit status.
int cacheCommand(const CacheOptions &opts);

} // namespace tdsl::tool
