// `tdsl cache`: statistics of the disk cache (CPU objects and CUDA binaries), clearing it, and why
// a file's kernels hit or miss.
#include "Cache.h"
#include "Units.h"

#include "api/KernelCache.h"
#include "tdsl/tdsl.h"

#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>
#include <sstream>

namespace tdsl::tool {

CLI::App *addCacheCommand(CLI::App &app, CacheOptions &opts) {
  CLI::App *cmd = app.add_subcommand(
      "cache", "the on-disk kernel cache ($TDSL_CACHE_DIR, $XDG_CACHE_HOME/tdsl or ~/.cache/tdsl)");
  cmd->require_subcommand(1);
  opts.stats = cmd->add_subcommand("stats", "entries (CPU and CUDA) and size of the cache");
  opts.clear = cmd->add_subcommand("clear", "remove every entry, CPU and CUDA");
  opts.why = cmd->add_subcommand("why", "would `tdsl run FILE` hit the cache, and if not, why");
  opts.why->add_option("file", opts.file, ".tdsl source")->required();
  opts.why->add_option("--kernel", opts.kernel, "kernel to explain (default: all)");
  opts.why->add_option("--threads", opts.threads, "threads, as given to `tdsl run` (default 0)")
      ->check(CLI::Range(0, 4096));
  opts.why->add_option("--target", opts.target, "cpu or cuda (the GPU present)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  return cmd;
}

int cacheCommand(const CacheOptions &opts) {
  std::string dir = cache::defaultDirectory();
  if (dir.empty())
    throw RuntimeError("no cache directory: set TDSL_CACHE_DIR, XDG_CACHE_HOME or HOME");
  cache::DiskCache disk(dir);
  if (opts.stats->parsed()) {
    cache::DiskCache::Stats s = disk.stats();
    std::string byTarget;
    for (const auto &[target, count] : s.entriesByTarget)
      byTarget += (byTarget.empty() ? " (" : ", ") + std::to_string(count) + " " + target;
    std::cout << "directory: " << dir << "\n"
              << "entries: " << s.entries << byTarget << (byTarget.empty() ? "" : ")") << "\n"
              << "size: " << bytesText(s.bytes) << " (" << s.bytes << " bytes)\n"
              << "limit: " << bytesText(s.maxBytes) << " (TDSL_CACHE_MAX_BYTES)\n"
              << "enabled: "
              << (cache::diskCacheEnabledByEnvironment() ? "yes" : "no (TDSL_CACHE=off)") << "\n"
              << "tdsl build: " << cache::buildId() << "\n";
    return 0;
  }
  if (opts.clear->parsed()) {
    uint64_t removed = disk.clear();
    std::cout << "removed " << removed << (removed == 1 ? " entry" : " entries") << " from " << dir
              << "\n";
    return 0;
  }
  JitOptions options;
  options.threads = opts.threads;
  options.target = opts.target == "cuda" ? Target::cuda() : Target::cpu();
  Jit jit(options);
  Module module = jit.compileFile(opts.file);
  std::vector<std::string> names =
      opts.kernel.empty() ? module.kernelNames() : std::vector<std::string>{opts.kernel};
  for (const std::string &name : names)
    std::cout << name << ": " << module.kernel(name).cacheStatus() << "\n";
  return 0;
}

} // namespace tdsl::tool
