// CUDA binaries in the one kernel cache, without a GPU: a kernel scheduled for a named device
// (the default GpuTarget, sm_90) and compiled by NVRTC, stored and loaded beside CPU objects in
// one folder under one key scheme, honouring every cache option, counted, cleared and explained
// like CPU entries, and never loaded from an entry another user could have written. With a GPU,
// tests/unit/gpu runs the same path through Jit(Target::cuda()).
#include "api/CudaProgram.h"
#include "api/KernelCache.h"
#include "codegen/cuda/CudaBackend.h"
#include "frontend/Frontend.h"
#include "passes/Pipeline.h"
#include "tdsl/tdsl.h"
#include "tests/unit/common/ApiTestSupport.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

namespace {

using namespace tdsl;
using namespace tdsl::testing_support;
namespace fs = std::filesystem;

/// The CUDA program of the only kernel of `source` for a device named, not present: "tdsl test
/// GPU", an H100/H200's properties (the default GpuTarget) on sm_90.
detail::CudaProgram programOf(const std::string &source) {
  detail::GpuDevice device{"tdsl test GPU", "sm_90", passes::GpuTarget{}};
  auto file = std::make_shared<const SourceFile>(SourceFile{"cuda.tdsl", source});
  DiagnosticEngine diags;
  std::optional<ir::Module> module = frontend::compileSource(file, diags);
  EXPECT_TRUE(module && !diags.hasErrors());
  return detail::buildCudaProgram(passes::lowerKernel(module->kernels.at(0)), device);
}

/// A kernel quick to compile for the GPU, and one of the same name computing something else.
constexpr const char *kScale = R"(
kernel scale(x: f32[N]) -> y: f32[N] {
    y[i] = 2.0 * x[i] + 1.0
}
)";
constexpr const char *kOtherScale = R"(
kernel scale(x: f32[N]) -> y: f32[N] {
    y[i] = 3.0 * x[i]
}
)";

/// Runs scale on the CPU with a Jit whose disk cache is `dir` (optimized only: the first call
/// stores the entry).
void runCpu(const std::string &dir) {
  JitOptions options;
  options.tiering = Tiering::OptimizedOnly;
  options.threads = 1;
  options.cacheDir = dir;
  Kernel k = Jit(options).compile(kScale, "scale.tdsl").kernel("scale");
  k({Tensor::randn({5}, DType::F32, 1)});
}

class CudaCache : public testing::Test {
protected:
  void SetUp() override {
    if (!codegen::nvrtcStatus().available)
      GTEST_SKIP() << "NVRTC not available: " << codegen::nvrtcStatus().reason;
  }
};

TEST_F(CudaCache, KeyNamesWhatMadeTheCubin) {
  detail::CudaProgram program = programOf(kScale);
  const cache::CacheKey &key = program.key;
  codegen::NvrtcStatus nvrtc = codegen::nvrtcStatus();
  EXPECT_EQ(*key.field("target"), "cuda");
  EXPECT_EQ(*key.field("tdsl build"), cache::buildId());
  EXPECT_EQ(*key.field("nvrtc"),
            std::to_string(nvrtc.versionMajor) + "." + std::to_string(nvrtc.versionMinor));
  EXPECT_EQ(*key.field("gpu"), "tdsl test GPU");
  EXPECT_EQ(*key.field("arch"), "sm_90");
  EXPECT_EQ(*key.field("options"), "-default-device --std=c++17");
  EXPECT_EQ(*key.field("kernel"), "scale");
  EXPECT_EQ(*key.field("cuda"), program.source);
  EXPECT_EQ(cache::makeCudaKey("scale", program.source, "tdsl test GPU", "sm_90").hash(),
            key.hash());
  EXPECT_NE(cache::makeCudaKey("scale", program.source, "another GPU", "sm_90").hash(), key.hash());
  EXPECT_NE(cache::makeCudaKey("scale", program.source, "tdsl test GPU", "sm_80").hash(),
            key.hash());
  EXPECT_NE(programOf(kOtherScale).key.hash(), key.hash());
}

TEST_F(CudaCache, CompiledOnceThenLoadedFromDisk) {
  std::string dir = freshTestDir("cuda-cache", "disk");
  cache::CacheKey key = programOf(kScale).key;
  CounterSnapshot start = CounterSnapshot::now();
  cache::KernelCache first(dir);
  std::shared_ptr<const std::string> cubin = first.cubin(key);
  EXPECT_EQ(cubin->rfind("\x7f"
                         "ELF",
                         0),
            0u);
  EXPECT_EQ(first.cubin(key), cubin); // From memory: the same bytes, not a copy.
  CounterSnapshot d = CounterSnapshot::now().since(start);
  EXPECT_EQ(d.misses, 1u);
  EXPECT_EQ(d.memoryHits, 1u);
  EXPECT_EQ(d.stores, 1u);
  EXPECT_EQ(entryFiles(dir), std::vector<std::string>{"cuda-" + key.hash() + ".tko"});

  CounterSnapshot mid = CounterSnapshot::now();
  EXPECT_EQ(*cache::KernelCache(dir).cubin(key), *cubin);
  d = CounterSnapshot::now().since(mid);
  EXPECT_EQ(d.diskHits, 1u);
  EXPECT_EQ(d.misses, 0u);
  fs::remove_all(dir);
}

TEST_F(CudaCache, DamagedEntryIsRecompiledAndReplaced) {
  std::string dir = freshTestDir("cuda-cache", "damaged");
  cache::CacheKey key = programOf(kScale).key;
  std::string good = *cache::KernelCache(dir).cubin(key);
  std::string path = cache::DiskCache(dir).pathOf(key);
  fs::resize_file(path, fs::file_size(path) - 100);

  CounterSnapshot start = CounterSnapshot::now();
  EXPECT_EQ(*cache::KernelCache(dir).cubin(key), good);
  CounterSnapshot d = CounterSnapshot::now().since(start);
  EXPECT_EQ(d.corrupt, 1u);
  EXPECT_EQ(d.misses, 1u);
  EXPECT_EQ(d.stores, 1u);
  CounterSnapshot mid = CounterSnapshot::now();
  cache::KernelCache(dir).cubin(key);
  EXPECT_EQ(CounterSnapshot::now().since(mid).diskHits, 1u);
  fs::remove_all(dir);
}

// One folder, one key scheme, one cap: CPU objects and CUDA binaries side by side, counted by
// target, evicted least recently used first whichever their target, cleared together.
TEST_F(CudaCache, OneFolderHoldsCpuAndCudaEntries) {
  std::string dir = freshTestDir("cuda-cache", "both");
  runCpu(dir);
  cache::CacheKey key = programOf(kScale).key;
  cache::KernelCache(dir).cubin(key);
  std::vector<std::string> files = entryFiles(dir);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_TRUE(files[0].starts_with("cpu-") && files[0].ends_with(".tko")) << files[0];
  EXPECT_EQ(files[1], "cuda-" + key.hash() + ".tko");

  cache::DiskCache disk(dir);
  cache::DiskCache::Stats stats = disk.stats();
  EXPECT_EQ(stats.entries, 2u);
  EXPECT_EQ(stats.bytes, fs::file_size(dir + "/" + files[0]) + fs::file_size(dir + "/" + files[1]));
  EXPECT_EQ(stats.entriesByTarget, (std::map<std::string, uint64_t>{{"cpu", 1}, {"cuda", 1}}));
  // An entry of an older tdsl (named by its hash alone) is counted as such, not by its name.
  std::ofstream(dir + "/0123456789abcdef0123456789abcdef.tko") << "older";
  EXPECT_EQ(disk.stats().entriesByTarget,
            (std::map<std::string, uint64_t>{{"cpu", 1}, {"cuda", 1}, {"older", 1}}));
  fs::remove(dir + "/0123456789abcdef0123456789abcdef.tko");

  // The CPU entry was used longest ago: a cap with room for one entry evicts it.
  struct timespec old[2] = {{1000000, 0}, {1000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (dir + "/" + files[0]).c_str(), old, 0), 0);
  cache::DiskCache(dir, fs::file_size(dir + "/" + files[1])).evict();
  EXPECT_EQ(entryFiles(dir), std::vector<std::string>{files[1]});
  // And the CUDA entry once it is the older one.
  runCpu(dir);
  ASSERT_EQ(::utimensat(AT_FDCWD, disk.pathOf(key).c_str(), old, 0), 0);
  cache::DiskCache(dir, fs::file_size(dir + "/" + files[0])).evict();
  EXPECT_EQ(entryFiles(dir), std::vector<std::string>{files[0]});

  cache::KernelCache(dir).cubin(key);
  EXPECT_EQ(disk.clear(), 2u);
  EXPECT_TRUE(entryFiles(dir).empty());
  fs::remove_all(dir);
}

/// Compiles the scale cubin through a cache set up as a Jit made with `options` sets up its
/// own (cache::directoryFor), the directory its CUDA kernels use too.
void compileWith(const JitOptions &options) {
  cache::KernelCache(cache::directoryFor(options)).cubin(programOf(kScale).key);
}

TEST_F(CudaCache, CacheOptionsAreHonoured) {
  std::string dir = freshTestDir("cuda-cache", "options");
  std::string envDir = freshTestDir("cuda-cache", "options-env");
  ::setenv("TDSL_CACHE_DIR", envDir.c_str(), 1);
  JitOptions options;

  options.diskCache = false;
  options.cacheDir = dir;
  compileWith(options);
  EXPECT_TRUE(entryFiles(dir).empty());
  EXPECT_TRUE(entryFiles(envDir).empty());

  options.diskCache = true;
  ::setenv("TDSL_CACHE", "off", 1);
  compileWith(options);
  ::unsetenv("TDSL_CACHE");
  EXPECT_TRUE(entryFiles(dir).empty());
  EXPECT_TRUE(entryFiles(envDir).empty());

  compileWith(options); // cacheDir, over TDSL_CACHE_DIR.
  EXPECT_EQ(entryFiles(dir).size(), 1u);
  EXPECT_TRUE(entryFiles(envDir).empty());

  options.cacheDir.clear(); // TDSL_CACHE_DIR.
  compileWith(options);
  EXPECT_EQ(entryFiles(envDir).size(), 1u);
  ::unsetenv("TDSL_CACHE_DIR");
  fs::remove_all(dir);
  fs::remove_all(envDir);
}

// `tdsl cache why` for CUDA: the nearest entry of the same kernel on the same target, and the
// fields that differ (a CPU entry of the kernel in the same folder is not a CUDA one's nearest).
TEST_F(CudaCache, WhyNamesTheChangedPartOfACudaKey) {
  std::string dir = freshTestDir("cuda-cache", "why");
  runCpu(dir);
  cache::DiskCache disk(dir);
  cache::CacheKey key = programOf(kScale).key;
  EXPECT_EQ(cache::explainLookup(key, &disk)
                .rfind("miss: no entry for kernel scale on cuda among "
                       "the 1 entries of " +
                           dir,
                       0),
            0u)
      << cache::explainLookup(key, &disk);
  cache::KernelCache(dir).cubin(key);
  EXPECT_EQ(cache::explainLookup(key, &disk), "hit (" + disk.pathOf(key) + ")");
  const std::string &source = *key.field("cuda");
  EXPECT_EQ(
      cache::explainLookup(cache::makeCudaKey("scale", source, "another GPU", "sm_90"), &disk),
      "miss: the nearest entry of kernel scale differs in gpu (tdsl test GPU -> another "
      "GPU)");
  EXPECT_EQ(
      cache::explainLookup(cache::makeCudaKey("scale", source, "tdsl test GPU", "sm_80"), &disk),
      "miss: the nearest entry of kernel scale differs in arch (sm_90 -> sm_80)");
  EXPECT_EQ(cache::explainLookup(programOf(kOtherScale).key, &disk),
            "miss: the nearest entry of kernel scale differs in cuda (the kernel's CUDA C)");
  EXPECT_EQ(cache::explainLookup(key, nullptr),
            "no disk cache (turned off by JitOptions::diskCache or TDSL_CACHE=off)");
  fs::remove_all(dir);
}

// An entry under scale's key holding another kernel's valid cubin (same kernel name, other
// code), given to another user or made writable by group or others: loading it would run the
// wrong kernel. It is neither loaded nor replaced; the right cubin is compiled in memory.
TEST_F(CudaCache, ForeignEntryIsNotLoaded) {
  std::string foreign = *cache::KernelCache("").cubin(programOf(kOtherScale).key);
  cache::CacheKey key = programOf(kScale).key;
  enum class Foreign { OtherOwner, GroupWritable, OthersWritable };
  for (Foreign how : {Foreign::OtherOwner, Foreign::GroupWritable, Foreign::OthersWritable}) {
    if (how == Foreign::OtherOwner && ::geteuid() != 0)
      continue; // Only root can give a file to another user.
    std::string dir = freshTestDir("cuda-cache", "foreign-" + std::to_string(int(how)));
    std::string good = *cache::KernelCache(dir).cubin(key);
    ASSERT_NE(good, foreign);
    cache::DiskCache disk(dir);
    ASSERT_TRUE(disk.store(key, "", foreign));
    std::string path = disk.pathOf(key);
    std::string name = fs::path(path).filename().string();
    uintmax_t plantedBytes = fs::file_size(path);
    std::string problem;
    mode_t mode = 0600;
    if (how == Foreign::OtherOwner) {
      ASSERT_EQ(::chown(path.c_str(), 12345, 12345), 0);
      problem = "the entry " + name + " is owned by uid 12345, not 0";
    } else {
      mode = how == Foreign::GroupWritable ? 0660 : 0666;
      ASSERT_EQ(::chmod(path.c_str(), mode), 0);
      problem = "the entry " + name + " is writable by " +
                (how == Foreign::GroupWritable ? "group (mode 0660)" : "others (mode 0666)");
    }

    ::testing::internal::CaptureStderr();
    CounterSnapshot start = CounterSnapshot::now();
    EXPECT_EQ(*cache::KernelCache(dir).cubin(key), good);
    CounterSnapshot d = CounterSnapshot::now().since(start);
    EXPECT_EQ(::testing::internal::GetCapturedStderr(), warningFor(dir, problem));
    EXPECT_EQ(d.diskHits, 0u);
    EXPECT_EQ(d.misses, 1u);
    EXPECT_EQ(d.stores, 0u);
    EXPECT_EQ(cache::explainLookup(key, &disk),
              "miss: the disk cache in " + dir + " is not used: " + problem);
    struct stat st {}; // Left as it was: neither loaded nor replaced.
    ASSERT_EQ(::lstat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, how == Foreign::OtherOwner ? 12345u : ::geteuid());
    EXPECT_EQ(st.st_mode & 07777, mode);
    EXPECT_EQ(fs::file_size(path), plantedBytes);
    fs::remove_all(dir);
  }
}

TEST_F(CudaCache, DirectoryWritableByOthersIsNeitherReadNorWritten) {
  std::string dir = freshTestDir("cuda-cache", "world-writable");
  cache::CacheKey key = programOf(kScale).key;
  cache::KernelCache(dir).cubin(key);
  ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);
  ::testing::internal::CaptureStderr();
  CounterSnapshot start = CounterSnapshot::now();
  cache::KernelCache(dir).cubin(key);
  cache::KernelCache(dir).cubin(programOf(kOtherScale).key); // Nothing written either.
  CounterSnapshot d = CounterSnapshot::now().since(start);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(),
            warningFor(dir, "it is writable by others (mode 0777)"));
  EXPECT_EQ(d.diskHits, 0u);
  EXPECT_EQ(d.misses, 2u);
  EXPECT_EQ(d.stores, 0u);
  EXPECT_EQ(entryFiles(dir), std::vector<std::string>{"cuda-" + key.hash() + ".tko"});
  fs::remove_all(dir);
}

} // namespace
