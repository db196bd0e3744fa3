// One Jit used from many threads at once (compiling and running the same kernel and different
// kernels, with the kernel cache in memory only and on disk), and the disk cache under faults: a
// writer killed with SIGKILL at random moments, leftover temporary files, damaged entries. Every
// result is checked against the reference interpreter. Run under ThreadSanitizer by the `tsan`
// preset (CMakePresets.json; docs/api.md, "Threads").
#include "api/KernelCache.h"
#include "api/Numerics.h"
#include "tdsl/tdsl.h"
#include "tests/unit/common/ApiTestSupport.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace {

using namespace tdsl;
using namespace tdsl::testing_support;
namespace fs = std::filesystem;

// Several kernels of different kinds: row-wise (softmax), elementwise with vector math,
// reductions, a contraction (the tiled path), integers and a stencil.
const char *kProgram = R"(
kernel softmax(x: f32[N, D]) -> y: f32[N, D] {
    e[i, j] = exp(x[i, j] - max(x[i, k] for k))
    y[i, j] = e[i, j] / sum(e[i, k] for k)
}
kernel gelu(x: f32[N, D]) -> y: f32[N, D] {
    y[i, j] = 0.5 * x[i, j] * (1.0 + tanh(0.7978845608 * (x[i, j] + 0.044715 * x[i, j] * x[i, j] * x[i, j])))
}
kernel rowstats(x: f32[N, D]) -> (m: f32[N], s: f32[N]) {
    m[i] = mean(x[i, j] for j)
    s[i] = max(abs(x[i, j]) for j)
}
kernel matmul(a: f32[N, D], b: f32[D, N]) -> c: f32[N, N] {
    c[i, j] = sum(a[i, k] * b[k, j] for k)
}
kernel ints(a: i32[N, D]) -> r: i32[N, D] {
    r[i, j] = (a[i, j] * 7 + 3) // 5 % 11
}
)";

const std::vector<std::string> kKernels = {"softmax", "gelu", "rowstats", "matmul", "ints"};

/// The inputs of `kernel` at N=13, D=37 (odd sizes: vector tails), fixed seeds.
std::vector<Tensor> inputsOf(const Kernel &kernel) {
  return kernel.randomInputs({{"N", 13}, {"D", 37}}, 5);
}

/// The interpreter's results and the first compiled results of every kernel, computed once on
/// one thread: what every concurrent call must reproduce (compiled: byte for byte).
struct Expected {
  std::map<std::string, std::vector<Tensor>> inputs, reference, compiled;
};

const Expected &expected() {
  static const Expected e = [] {
    Expected result;
    JitOptions options;
    options.threads = 1;
    options.diskCache = false;
    Module m = Jit(options).compile(kProgram, "concurrency.tdsl");
    for (const std::string &name : kKernels) {
      Kernel k = m.kernel(name);
      result.inputs[name] = inputsOf(k);
      result.reference[name] = k.interpret(result.inputs[name]);
      result.compiled[name] = k(result.inputs[name]);
    }
    return result;
  }();
  return e;
}

/// Runs `kernel` and checks the result against the interpreter and the first compiled result;
/// returns an empty string when they agree, else what differs (gtest's EXPECT_* are thread-safe,
/// but a message per thread reads better).
std::string check(const Kernel &kernel) {
  const Expected &e = expected();
  const std::string &name = kernel.name();
  std::vector<Tensor> out = kernel(e.inputs.at(name));
  for (size_t o = 0; o < out.size(); ++o) {
    if (!withinTolerance(out[o], e.reference.at(name)[o]))
      return name + " output " + std::to_string(o) + " differs from the interpreter";
    if (!sameBytes(out[o], e.compiled.at(name)[o]))
      return name + " output " + std::to_string(o) + " differs from the one-thread result";
  }
  return {};
}

/// Starts `count` threads running `body(thread index)` at the same moment; returns their
/// failure messages (empty strings for success).
std::vector<std::string> runTogether(int count, const std::function<std::string(int)> &body) {
  std::mutex mutex;
  std::condition_variable go;
  bool started = false;
  std::vector<std::string> failures(count);
  std::vector<std::thread> threads;
  for (int t = 0; t < count; ++t)
    threads.emplace_back([&, t] {
      {
        std::unique_lock<std::mutex> lock(mutex);
        go.wait(lock, [&] { return started; });
      }
      try {
        failures[t] = body(t);
      } catch (const std::exception &error) {
        failures[t] = std::string("exception: ") + error.what();
      }
    });
  {
    std::lock_guard<std::mutex> lock(mutex);
    started = true;
  }
  go.notify_all();
  for (std::thread &t : threads)
    t.join();
  return failures;
}

void expectNoFailures(const std::vector<std::string> &failures) {
  for (size_t t = 0; t < failures.size(); ++t)
    EXPECT_EQ(failures[t], "") << "thread " << t;
}

constexpr int kThreads = 8;

class Concurrency : public ::testing::TestWithParam<bool> { // true: with a disk cache.
protected:
  void SetUp() override {
    expected(); // Computed before the threads start.
    options.threads = 1;
    options.diskCache = GetParam();
    if (GetParam())
      options.cacheDir = dir = freshTestDir(
          "concurrency", ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override {
    if (!dir.empty())
      fs::remove_all(dir);
  }
  JitOptions options;
  std::string dir;
};

// Every thread compiles the same source itself and runs the same kernel: the Jit's cache must
// compile it once and hand every thread the same code.
TEST_P(Concurrency, ManyThreadsCompileAndRunTheSameKernel) {
  JitOptions optimizedOnly = options; // One tier: one compile to count.
  optimizedOnly.tiering = Tiering::OptimizedOnly;
  Jit jit(optimizedOnly);
  cache::Counters &c = cache::counters();
  uint64_t misses = c.misses.load();
  expectNoFailures(runTogether(kThreads, [&](int) {
    Kernel k = jit.compile(kProgram, "concurrency.tdsl").kernel("softmax");
    for (int round = 0; round < 3; ++round)
      if (std::string failure = check(k); !failure.empty())
        return failure;
    return std::string();
  }));
  EXPECT_EQ(c.misses.load() - misses, 1u) << "one key, compiled once";
}

// Every thread compiles and runs every kernel, each thread in a different order, both from its
// own Module and from one Module shared by all threads.
TEST_P(Concurrency, ManyThreadsCompileAndRunDifferentKernels) {
  Jit jit(options);
  Module shared = jit.compile(kProgram, "concurrency.tdsl");
  expectNoFailures(runTogether(kThreads, [&](int t) {
    Module own = jit.compile(kProgram, "concurrency.tdsl");
    for (size_t i = 0; i < kKernels.size(); ++i) {
      const std::string &name = kKernels[(i + t) % kKernels.size()];
      const Module &m = t % 2 ? own : shared;
      if (std::string failure = check(m.kernel(name)); !failure.empty())
        return failure;
    }
    return std::string();
  }));
}

// Several Jits at once (one per thread, as separate embedders of one process would have):
// 1-thread, 2-thread (the calls share the process's thread pool) and bounds-checked ones, sharing
// the disk cache directory when there is one. Each Jit is destroyed (its kernels' code removed
// from the process's JIT) while other threads still compile and link.
TEST_P(Concurrency, SeveralJitsAndThreadPoolsAtOnce) {
  JitOptions two = options, checked = options;
  two.threads = 2;
  checked.boundsChecks = true; // Compiled apart from the cache, every access checked.
  expectNoFailures(runTogether(kThreads, [&](int t) {
    Jit jit(t % 3 == 0 ? options : t % 3 == 1 ? two : checked);
    Module m = jit.compile(kProgram, "concurrency.tdsl");
    for (int round = 0; round < 2; ++round)
      for (const std::string &name : {kKernels[t % kKernels.size()], std::string("softmax")})
        if (std::string failure = check(m.kernel(name)); !failure.empty())
          return failure;
    return std::string();
  }));
}

// Dumps (which build LLVM modules of their own) while other threads compile and run.
TEST_P(Concurrency, DumpsWhileOtherThreadsCompile) {
  Jit jit(options);
  Module m = jit.compile(kProgram, "concurrency.tdsl");
  expectNoFailures(runTogether(4, [&](int t) {
    Kernel k = m.kernel(kKernels[t % kKernels.size()]);
    if (t % 2)
      return check(k);
    std::string ir = k.dump(Stage::Llvm);
    return ir.find("define") == std::string::npos ? "no function in the LLVM IR" : std::string();
  }));
}

INSTANTIATE_TEST_SUITE_P(Cache, Concurrency, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool> &info) {
                           return info.param ? "MemoryAndDisk" : "MemoryOnly";
                         });

// ---------------------------------------------------------------------------------------------
// Faults: processes killed while they compile into a shared directory, leftovers, damage.

std::vector<std::string> filesIn(const std::string &dir) {
  std::vector<std::string> names;
  for (const auto &e : fs::directory_iterator(dir))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

/// The source of `count` distinct small kernels (each a separate cache entry).
std::string manyKernels(int first, int count) {
  std::string source;
  for (int i = first; i < first + count; ++i)
    source += "kernel k" + std::to_string(i) +
              "(x: f32[N]) -> y: f32[N] {\n    y[i] = exp(x[i] * " + std::to_string(i + 1) +
              ".0) + " + std::to_string(i) + ".0\n}\n";
  return source;
}

/// Compiles (and runs, checking against the interpreter) every kernel of `source` with a disk
/// cache in `dir`; returns the number of mismatches.
int compileAll(const std::string &dir, const std::string &source) {
  JitOptions options;
  options.threads = 1;
  options.cacheDir = dir;
  options.tiering = Tiering::OptimizedOnly; // Stored on disk by the first call.
  Module m = Jit(options).compile(source, "many.tdsl");
  int bad = 0;
  for (const std::string &name : m.kernelNames()) {
    Kernel k = m.kernel(name);
    std::vector<Tensor> in = k.randomInputs({{"N", 19}}, 3);
    bad += !withinTolerance(k(in)[0], k.interpret(in)[0]);
  }
  return bad;
}

// The child of CacheFaults.WriterKilledAtRandomMomentsLeavesNoDamage: compiles kernels into the
// directory in a loop until it is killed.
TEST(CacheFaultsChild, CompileUntilKilled) {
  const char *dir = std::getenv("TDSL_FAULT_TEST_DIR");
  if (!dir)
    GTEST_SKIP() << "run by CacheFaults.WriterKilledAtRandomMomentsLeavesNoDamage";
  for (int round = 0;; ++round)
    ASSERT_EQ(compileAll(dir, manyKernels((round * 3) % 24, 3)), 0);
}

TEST(CacheFaults, WriterKilledAtRandomMomentsLeavesNoDamage) {
  std::string dir = freshTestDir("concurrency", "killed");
  std::mt19937 random(7); // Fixed: the kill times vary with the machine's speed anyway.
  for (int kill = 0; kill < 12; ++kill) {
    std::vector<pid_t> writers;
    for (int w = 0; w < 2; ++w) {
      pid_t pid = spawnTest("CacheFaultsChild.CompileUntilKilled", "TDSL_FAULT_TEST_DIR", dir);
      ASSERT_GE(pid, 0);
      writers.push_back(pid);
    }
    // Long enough for start-up and a few compiles and stores; different every round.
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + random() % 600));
    for (pid_t pid : writers) {
      ::kill(pid, SIGKILL);
      int status = 0;
      ASSERT_EQ(::waitpid(pid, &status, 0), pid);
      // Killed, not failed: a child that stopped by itself found a wrong result or crashed.
      EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
    }
  }
  // Whatever the kills left, every entry is whole: all 24 kernels compile or load, correctly,
  // with no corrupt entry found.
  cache::Counters &c = cache::counters();
  uint64_t corrupt = c.corrupt.load(), hits = c.diskHits.load();
  EXPECT_EQ(compileAll(dir, manyKernels(0, 24)), 0);
  EXPECT_EQ(c.corrupt.load() - corrupt, 0u);
  EXPECT_GT(c.diskHits.load() - hits, 0u) << "the writers stored nothing before their kills";
  for (const std::string &name : filesIn(dir))
    EXPECT_TRUE(name.ends_with(".tko") || name.ends_with(".tmp")) << name;
  fs::remove_all(dir);
}

/// Makes `path`'s modification time `seconds` ago.
void age(const std::string &path, int seconds) {
  struct timespec times[2];
  ::clock_gettime(CLOCK_REALTIME, &times[0]);
  times[0].tv_sec -= seconds;
  times[1] = times[0];
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

// What a writer killed between writing its temporary file and renaming it leaves: a partial
// temporary file. Lookups ignore it; stores sweep it once it is old (a live writer finishes in
// milliseconds), and leave young ones alone (they may be another process's write in progress).
TEST(CacheFaults, TemporaryFilesOfKilledWritersAreIgnoredThenSwept) {
  std::string dir = freshTestDir("concurrency", "leftovers");
  EXPECT_EQ(compileAll(dir, manyKernels(0, 1)), 0);
  std::vector<std::string> entries = filesIn(dir);
  ASSERT_EQ(entries.size(), 1u);
  std::string entry = dir + "/" + entries[0];
  std::string hash = entries[0].substr(0, entries[0].size() - 4);
  // Half an entry under the writer's temporary name, and the real entry gone.
  std::string oldTemp = dir + "/." + hash + ".999999.0.tmp";
  std::string youngTemp = dir + "/." + hash + ".999998.0.tmp";
  fs::copy_file(entry, oldTemp);
  fs::resize_file(oldTemp, fs::file_size(oldTemp) / 2);
  fs::copy_file(oldTemp, youngTemp);
  age(oldTemp, 2 * 3600);
  fs::remove(entry);

  cache::Counters &c = cache::counters();
  uint64_t corrupt = c.corrupt.load(), misses = c.misses.load();
  EXPECT_EQ(compileAll(dir, manyKernels(0, 1)), 0); // Recompiled, stored, swept.
  EXPECT_EQ(c.corrupt.load() - corrupt, 0u);
  EXPECT_EQ(c.misses.load() - misses, 1u);
  EXPECT_TRUE(fs::exists(entry));
  EXPECT_FALSE(fs::exists(oldTemp)) << "a stale temporary file was not swept";
  EXPECT_TRUE(fs::exists(youngTemp)) << "a young temporary file (a write in progress) was removed";
  fs::remove_all(dir);
}

// An entry cut at every length (a disk that filled up, a copy interrupted) and an entry of
// another key under this key's name: never loaded, always recompiled, always correct.
TEST(CacheFaults, EntryCutAtAnyLengthIsRecompiled) {
  std::string dir = freshTestDir("concurrency", "cut");
  EXPECT_EQ(compileAll(dir, manyKernels(0, 1)), 0);
  std::string entry = dir + "/" + filesIn(dir)[0];
  std::string whole;
  {
    std::ifstream in(entry, std::ios::binary);
    whole.assign(std::istreambuf_iterator<char>(in), {});
  }
  cache::Counters &c = cache::counters();
  for (size_t length :
       {size_t(0), size_t(7), size_t(40), size_t(41), whole.size() / 3, whole.size() - 1}) {
    std::ofstream(entry, std::ios::binary | std::ios::trunc) << whole.substr(0, length);
    uint64_t corrupt = c.corrupt.load(), hits = c.diskHits.load();
    EXPECT_EQ(compileAll(dir, manyKernels(0, 1)), 0) << "cut at " << length;
    EXPECT_EQ(c.corrupt.load() - corrupt, 1u) << "cut at " << length;
    EXPECT_EQ(c.diskHits.load() - hits, 0u) << "cut at " << length;
  }
  // Another kernel's whole entry under this name: its key text differs.
  EXPECT_EQ(compileAll(dir, manyKernels(1, 1)), 0);
  std::vector<std::string> names = filesIn(dir);
  ASSERT_EQ(names.size(), 2u);
  std::string other = dir + "/" + (dir + "/" + names[0] == entry ? names[1] : names[0]);
  fs::copy_file(other, entry, fs::copy_options::overwrite_existing);
  uint64_t corrupt = c.corrupt.load();
  EXPECT_EQ(compileAll(dir, manyKernels(0, 1)), 0);
  EXPECT_EQ(c.corrupt.load() - corrupt, 1u);
  fs::remove_all(dir);
}

} // namespace
