// Tiering::FastOnly (`tdsl run -O0`): LLVM runs EarlyCSE only and selects instructions fast;
// results still match the interpreter, dumps show the unoptimized code, the kernel cache never
// serves a kernel compiled at one tier to a request for the other, and fast code never reaches
// the disk.
#include "api/KernelCache.h"
#include "frontend/Frontend.h"
#include "ir/Kernel.h"
#include "passes/Pipeline.h"
#include "passes/Target.h"
#include "tdsl/tdsl.h"
#include "tests/unit/common/ApiTestSupport.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <unistd.h>

namespace {

using namespace tdsl;
using namespace tdsl::testing_support;
namespace fs = std::filesystem;

size_t count(const std::string &text, const std::string &needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++n;
  return n;
}

void expectSoftmaxMatches(const Kernel &k) {
  Tensor x = Tensor::randn({7, 33}, DType::F32, 42);
  Tensor y = k({x})[0];
  Tensor ref = k.interpret({x})[0];
  for (int64_t i = 0; i < y.numel(); ++i)
    ASSERT_NEAR(y.at(i), ref.at(i), 1e-6) << "at " << i;
}

struct Counts {
  uint64_t memoryHits, diskHits, misses;
  static Counts now() {
    cache::Counters &c = cache::counters();
    return {c.memoryHits.load(), c.diskHits.load(), c.misses.load()};
  }
};

TEST(FastMode, TieredIsTheDefault) { EXPECT_EQ(JitOptions{}.tiering, Tiering::Tiered); }

// The generated function calls its internal body, which LLVM's pipeline inlines and deletes: the
// fast mode's IR keeps both functions and has no optimization's traces.
TEST(FastMode, DumpShowsTheUnoptimizedIr) {
  Kernel fast = jitFor(Tiering::FastOnly).compile(kSoftmaxSource).kernel("softmax");
  Kernel full = jitFor(Tiering::OptimizedOnly).compile(kSoftmaxSource).kernel("softmax");
  std::string fastIr = fast.dump(Stage::Llvm), fullIr = full.dump(Stage::Llvm);
  EXPECT_NE(fastIr, fullIr);
  EXPECT_EQ(count(fastIr, "define internal"), count(fullIr, "define internal") + 1) << fastIr;
  EXPECT_EQ(fast.dump(Stage::Loops), full.dump(Stage::Loops)); // tdsl's passes: unchanged.
  EXPECT_NE(fast.dump(Stage::Asm), full.dump(Stage::Asm));
}

TEST(FastMode, ResultsMatchTheInterpreter) {
  expectSoftmaxMatches(jitFor(Tiering::FastOnly).compile(kSoftmaxSource).kernel("softmax"));
  JitOptions checked;
  checked.tiering = Tiering::FastOnly;
  checked.boundsChecks = true; // Compiled apart from the cache, in the fast mode too.
  expectSoftmaxMatches(Jit(checked).compile(kSoftmaxSource).kernel("softmax"));
}

TEST(FastMode, KeysOfTheTwoModesDiffer) {
  std::string dir = freshTestDir("fastmode", "keys");
  Kernel fast = jitFor(Tiering::FastOnly, dir).compile(kSoftmaxSource).kernel("softmax");
  Kernel full = jitFor(Tiering::OptimizedOnly, dir).compile(kSoftmaxSource).kernel("softmax");
  expectSoftmaxMatches(full); // Stores the optimized entry.
  EXPECT_EQ(fast.cacheStatus().rfind("not on disk", 0), 0u) << fast.cacheStatus();
  EXPECT_EQ(full.cacheStatus().rfind("hit", 0), 0u) << full.cacheStatus();
  fs::remove_all(dir);
}

// Fast code is compiled for a fast request even with an optimized entry on disk (and the
// reverse), and only the optimized code is written to disk: a fast-only Jit writes nothing.
TEST(FastMode, DiskCacheHoldsOnlyOptimizedCode) {
  std::string dir = freshTestDir("fastmode", "disk");
  Counts before = Counts::now();
  expectSoftmaxMatches(jitFor(Tiering::FastOnly, dir).compile(kSoftmaxSource).kernel("softmax"));
  EXPECT_TRUE(fs::is_empty(dir));
  expectSoftmaxMatches(
      jitFor(Tiering::OptimizedOnly, dir).compile(kSoftmaxSource).kernel("softmax"));
  expectSoftmaxMatches(jitFor(Tiering::FastOnly, dir).compile(kSoftmaxSource).kernel("softmax"));
  Counts after = Counts::now();
  EXPECT_EQ(after.misses - before.misses, 3u);
  EXPECT_EQ(after.diskHits - before.diskHits, 0u);
  size_t entries = 0;
  for ([[maybe_unused]] const auto &e : fs::directory_iterator(dir))
    ++entries;
  EXPECT_EQ(entries, 1u);
  Counts start = Counts::now();
  expectSoftmaxMatches(
      jitFor(Tiering::OptimizedOnly, dir).compile(kSoftmaxSource).kernel("softmax"));
  EXPECT_EQ(Counts::now().diskHits - start.diskHits, 1u);
  EXPECT_EQ(Counts::now().misses - start.misses, 0u);
  fs::remove_all(dir);
}

// Bounds-checked kernels are cached in memory (a second compile of the same kernel by one Jit
// is a memory hit), keyed apart from unchecked ones, and never written to disk.
TEST(FastMode, BoundsCheckedKernelsStayInMemory) {
  std::string dir = freshTestDir("fastmode", "bounds");
  for (bool optimize : {false, true}) {
    JitOptions options;
    options.threads = 1;
    options.tiering = optimize ? Tiering::OptimizedOnly : Tiering::FastOnly;
    options.boundsChecks = true;
    options.cacheDir = dir;
    Jit jit(options);
    Counts before = Counts::now();
    expectSoftmaxMatches(jit.compile(kSoftmaxSource).kernel("softmax"));
    expectSoftmaxMatches(jit.compile(kSoftmaxSource).kernel("softmax"));
    Counts after = Counts::now();
    EXPECT_EQ(after.misses - before.misses, 1u) << "optimize " << optimize;
    EXPECT_EQ(after.memoryHits - before.memoryHits, 1u) << "optimize " << optimize;
  }
  EXPECT_TRUE(fs::is_empty(dir));
  auto file = std::make_shared<const SourceFile>(SourceFile{"softmax.tdsl", kSoftmaxSource});
  DiagnosticEngine diags;
  std::optional<ir::Module> module = frontend::compileSource(file, diags);
  ASSERT_TRUE(module);
  passes::CpuTarget target = passes::cpuTargetForLevel("x86-64-v3");
  for (bool optimize : {false, true}) {
    cache::CacheKey checked = cache::makeKey(module->kernels.at(0), target, optimize, true);
    cache::CacheKey plain = cache::makeKey(module->kernels.at(0), target, optimize, false);
    EXPECT_TRUE(checked.boundsChecked());
    EXPECT_FALSE(plain.boundsChecked());
    EXPECT_EQ(checked.optimized(), optimize);
    EXPECT_NE(checked.hash(), plain.hash());
  }
  fs::remove_all(dir);
}

// One memory cache asked for both modes of one kernel compiles each once, as its key says.
TEST(FastMode, MemoryCacheKeepsTheModesApart) {
  auto file = std::make_shared<const SourceFile>(SourceFile{"softmax.tdsl", kSoftmaxSource});
  DiagnosticEngine diags;
  std::optional<ir::Module> module = frontend::compileSource(file, diags);
  ASSERT_TRUE(module && !diags.hasErrors());
  const ir::Kernel &kernel = module->kernels.at(0);
  passes::CpuTarget target = passes::cpuTargetForLevel("x86-64-v3");
  ir::LoweredFunc lowered = passes::lowerKernel(kernel, target);
  auto lower = [&]() -> const ir::LoweredFunc & { return lowered; };

  cache::CacheKey fullKey = cache::makeKey(kernel, target),
                  fastKey = cache::makeKey(kernel, target, false);
  EXPECT_TRUE(fullKey.optimized());
  EXPECT_FALSE(fastKey.optimized());
  EXPECT_NE(fullKey.hash(), fastKey.hash());
  EXPECT_NE(*fullKey.field("options"), *fastKey.field("options"));
  std::optional<cache::CacheKey> parsed = cache::CacheKey::parse(fastKey.text());
  ASSERT_TRUE(parsed);
  EXPECT_FALSE(parsed->optimized()); // `tdsl cache why` reads the mode back from the text.

  cache::KernelCache memory(""); // No disk.
  Counts before = Counts::now();
  auto fast = memory.get(fastKey, lower);
  auto full = memory.get(fullKey, lower);
  EXPECT_NE(fast, full);
  EXPECT_EQ(memory.get(fastKey, lower), fast);
  EXPECT_EQ(memory.get(fullKey, lower), full);
  Counts after = Counts::now();
  EXPECT_EQ(after.misses - before.misses, 2u);
  EXPECT_EQ(after.memoryHits - before.memoryHits, 2u);
}

} // namespace
