// What the API tests (tests/unit/api, the e2e tests of threads, and the GPU tests of the cache)
// share: a Jit of one tier, a module compiled for some threads, a bitwise comparison of results,
// fresh cache directories, a look at their entries and the cache's counters, the softmax
// program that the cache and fast-mode tests compile, and child processes running one test.
#pragma once

#include "api/KernelCache.h"
#include "api/Numerics.h"
#include "tdsl/tdsl.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

namespace tdsl::testing_support {

/// Starts this test binary again in a child process, running only the tests of `filter`, with
/// `variable` set to `value` (which the child test reads to know it is the child) and its stdout
/// discarded. Returns the child's pid (the caller waits for it or kills it), or -1.
inline pid_t spawnTest(const std::string &filter, const char *variable, const std::string &value) {
  std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  pid_t pid = ::fork();
  if (pid != 0)
    return pid;
  ::setenv(variable, value.c_str(), 1);
  int devnull = ::open("/dev/null", O_WRONLY);
  if (devnull >= 0)
    ::dup2(devnull, STDOUT_FILENO);
  std::string gtestFilter = "--gtest_filter=" + filter;
  ::execl(self.c_str(), self.c_str(), gtestFilter.c_str(), static_cast<char *>(nullptr));
  ::_exit(127);
}

/// A Jit of one thread at `tiering`, with the disk cache in `cacheDir` (none when empty).
inline Jit jitFor(Tiering tiering, const std::string &cacheDir = {}) {
  JitOptions options;
  options.tiering = tiering;
  options.threads = 1;
  options.diskCache = !cacheDir.empty();
  options.cacheDir = cacheDir;
  return Jit(options);
}

/// `source` compiled for `threads` threads, without the disk cache (`file` names it in errors).
inline Module compileWithThreads(const std::string &source, const std::string &file, int threads) {
  JitOptions options;
  options.threads = threads;
  options.diskCache = false;
  return Jit(options).compile(source, file);
}

/// Whether two tensors hold the same dtype, shape and bytes (bit-identical results).
inline bool sameBytes(const Tensor &a, const Tensor &b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         (a.nbytes() == 0 || std::memcmp(a.data(), b.data(), a.nbytes()) == 0);
}

/// Runs `serial` on `in` and expects its first output within tolerance of the interpreter's and
/// bit-identical to `parallel`'s (the same kernel compiled for more threads); `at` names the case.
inline void expectInterpreterAndThreadsAgree(const Kernel &serial, const Kernel &parallel,
                                             const std::vector<Tensor> &in, const std::string &at) {
  Tensor y = serial(in)[0];
  EXPECT_TRUE(withinTolerance(y, serial.interpret(in)[0])) << at;
  EXPECT_TRUE(sameBytes(y, parallel(in)[0])) << at;
}

/// A fresh, empty directory <tmp>/tdsl-<suite>-test-<pid>-<name>, mode 0700 whatever the umask
/// (the kernel cache refuses a directory that group or others can write).
inline std::string freshTestDir(const std::string &suite, const std::string &name) {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      ("tdsl-" + suite + "-test-" + std::to_string(::getpid()) + "-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
  return dir.string();
}

/// The names of the files of `dir`, sorted.
inline std::vector<std::string> entryFiles(const std::string &dir) {
  std::vector<std::string> files;
  for (const auto &e : std::filesystem::directory_iterator(dir))
    files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  return files;
}

/// The key of the only entry of the cache directory `dir`.
inline cache::CacheKey onlyKey(const std::string &dir) {
  std::vector<std::string> keys = cache::DiskCache(dir).keyTexts();
  EXPECT_EQ(keys.size(), 1u) << dir;
  return cache::CacheKey::parse(keys.at(0)).value();
}

/// The warning a cache prints when it refuses `dir` for `problem`.
inline std::string warningFor(const std::string &dir, const std::string &problem) {
  return "tdsl: warning: not using the kernel cache in " + dir + ": " + problem +
         "; compiling in memory\n";
}

/// The cache's process-wide counters at one moment, and what they counted since another.
struct CounterSnapshot {
  uint64_t memoryHits, diskHits, misses, corrupt, stores;
  static CounterSnapshot now() {
    cache::Counters &c = cache::counters();
    return {c.memoryHits.load(), c.diskHits.load(), c.misses.load(), c.corrupt.load(),
            c.stores.load()};
  }
  CounterSnapshot since(const CounterSnapshot &before) const {
    return {memoryHits - before.memoryHits, diskHits - before.diskHits, misses - before.misses,
            corrupt - before.corrupt, stores - before.stores};
  }
};

/// Softmax with the maximum inside the exponent's definition: two definitions, two reductions.
inline constexpr const char *kSoftmaxSource = R"(
kernel softmax(x: f32[N, D]) -> y: f32[N, D] {
    e[i, j] = exp(x[i, j] - max(x[i, k] for k))
    y[i, j] = e[i, j] / sum(e[i, k] for k)
}
)";

} // namespace tdsl::testing_support
