// The kernel cache: memory and disk hits, keys, corrupt and truncated entries, LRU eviction,
// several processes compiling into one cache directory at once, and directories or entries that
// another user could have written, which are never loaded.
#include "api/KernelCache.h"
#include "tdsl/tdsl.h"
#include "tests/unit/common/ApiTestSupport.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using namespace tdsl;
using namespace tdsl::testing_support;
namespace fs = std::filesystem;

/// A Jit compiling only optimized code (the tier the disk cache stores), at the first call.
Jit jitWithCache(const std::string &dir, int threads = 1) {
  JitOptions options;
  options.tiering = Tiering::OptimizedOnly;
  options.threads = threads;
  options.cacheDir = dir;
  return Jit(options);
}

/// Runs softmax on fixed random data; checks it against the interpreter; returns the output.
std::vector<float> runSoftmax(const Jit &jit) {
  Kernel k = jit.compile(kSoftmaxSource, "softmax.tdsl").kernel("softmax");
  Tensor x = Tensor::randn({7, 33}, DType::F32, 42);
  Tensor y = k({x})[0];
  Tensor ref = k.interpret({x})[0];
  std::vector<float> out(y.data<float>(), y.data<float>() + y.numel());
  for (int64_t i = 0; i < y.numel(); ++i)
    EXPECT_NEAR(y.at(i), ref.at(i), 1e-6) << "at " << i << " of " << ref.typeString();
  return out;
}

TEST(Cache, SecondJitLoadsTheObjectFromDisk) {
  std::string dir = freshTestDir("cache", "disk");
  CounterSnapshot start = CounterSnapshot::now();
  std::vector<float> first = runSoftmax(jitWithCache(dir));
  CounterSnapshot afterFirst = CounterSnapshot::now().since(start);
  EXPECT_EQ(afterFirst.misses, 1u);
  EXPECT_EQ(afterFirst.stores, 1u);
  ASSERT_EQ(entryFiles(dir).size(), 1u);
  EXPECT_TRUE(entryFiles(dir)[0].starts_with("cpu-") && entryFiles(dir)[0].ends_with(".tko"));

  CounterSnapshot mid = CounterSnapshot::now();
  std::vector<float> second = runSoftmax(jitWithCache(dir));
  CounterSnapshot afterSecond = CounterSnapshot::now().since(mid);
  EXPECT_EQ(afterSecond.diskHits, 1u);
  EXPECT_EQ(afterSecond.misses, 0u);
  EXPECT_EQ(first, second); // Bit-identical.
  fs::remove_all(dir);
}

TEST(Cache, OneJitCompilesAKernelOnce) {
  std::string dir = freshTestDir("cache", "memory");
  Jit jit = jitWithCache(dir);
  CounterSnapshot start = CounterSnapshot::now();
  std::vector<float> a = runSoftmax(jit);
  std::vector<float> b = runSoftmax(jit); // A second compile() of the same source.
  CounterSnapshot d = CounterSnapshot::now().since(start);
  EXPECT_EQ(d.misses, 1u);
  EXPECT_EQ(d.memoryHits, 1u);
  EXPECT_EQ(a, b);
  fs::remove_all(dir);
}

TEST(Cache, DisabledDiskCacheWritesNothing) {
  std::string dir = freshTestDir("cache", "off");
  JitOptions options;
  options.threads = 1;
  options.cacheDir = dir;
  options.diskCache = false;
  runSoftmax(Jit(options));
  EXPECT_TRUE(entryFiles(dir).empty());
  fs::remove_all(dir);
}

TEST(Cache, ThreadCountIsPartOfTheKey) {
  std::string dir = freshTestDir("cache", "threads");
  runSoftmax(jitWithCache(dir, 1));
  runSoftmax(jitWithCache(dir, 2));
  EXPECT_EQ(entryFiles(dir).size(), 2u);
  fs::remove_all(dir);
}

void flipByteNearEnd(const std::string &path) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(-10, std::ios::end);
  char c;
  f.get(c);
  f.seekp(-10, std::ios::end);
  f.put(static_cast<char>(c ^ 0x5a));
}

TEST(Cache, CorruptAndTruncatedEntriesAreRecompiled) {
  for (bool truncate : {false, true}) {
    std::string dir = freshTestDir("cache", truncate ? "truncated" : "corrupt");
    std::vector<float> good = runSoftmax(jitWithCache(dir));
    ASSERT_EQ(entryFiles(dir).size(), 1u);
    std::string path = dir + "/" + entryFiles(dir)[0];
    if (truncate)
      fs::resize_file(path, fs::file_size(path) / 2);
    else
      flipByteNearEnd(path);

    CounterSnapshot start = CounterSnapshot::now();
    std::vector<float> again = runSoftmax(jitWithCache(dir));
    CounterSnapshot d = CounterSnapshot::now().since(start);
    EXPECT_EQ(d.corrupt, 1u) << (truncate ? "truncated" : "flipped byte");
    EXPECT_EQ(d.misses, 1u);
    EXPECT_EQ(d.diskHits, 0u);
    EXPECT_EQ(again, good);

    // The recompiled entry replaced the damaged one.
    CounterSnapshot mid = CounterSnapshot::now();
    EXPECT_EQ(runSoftmax(jitWithCache(dir)), good);
    EXPECT_EQ(CounterSnapshot::now().since(mid).diskHits, 1u);
    fs::remove_all(dir);
  }
}

TEST(Cache, KeyTextRoundTripsAndNamesEveryPart) {
  cache::CacheKey key;
  key.fields = {{"tdsl build", "abc"}, {"threads", "4"}, {"ir", "kernel k()\n  y = 1"}};
  std::optional<cache::CacheKey> parsed = cache::CacheKey::parse(key.text());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->fields, key.fields);
  EXPECT_EQ(parsed->hash(), key.hash());
  EXPECT_EQ(key.hash().size(), 32u);
  cache::CacheKey other = key;
  other.fields[1].second = "8";
  EXPECT_NE(other.hash(), key.hash());
  EXPECT_FALSE(cache::buildId().empty());
}

TEST(Cache, EvictsLeastRecentlyUsedBeyondTheCap) {
  std::string dir = freshTestDir("cache", "lru");
  std::string object(1000, 'x');
  auto keyOf = [](int i) {
    cache::CacheKey key;
    key.fields = {{"target", "cpu"}, {"kernel", "k" + std::to_string(i)}};
    return key;
  };
  cache::DiskCache unlimited(dir, 1ull << 30);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(unlimited.store(keyOf(i), "sym", object));
    // Entry i was used i seconds after the epoch of this test: 0 is the least recent.
    struct timespec times[2] = {{1000000 + i, 0}, {1000000 + i, 0}};
    ::utimensat(AT_FDCWD, unlimited.pathOf(keyOf(i)).c_str(), times, 0);
  }
  cache::Entry entry;
  ASSERT_EQ(unlimited.load(keyOf(0), entry), cache::DiskCache::Found::Hit); // 0 is now the newest.
  EXPECT_EQ(entry.object, object);
  EXPECT_EQ(entry.symbol, "sym");

  cache::DiskCache capped(dir, 2500); // Room for two entries.
  capped.evict();
  EXPECT_EQ(capped.stats().entries, 2u);
  EXPECT_EQ(capped.load(keyOf(1), entry), cache::DiskCache::Found::Miss); // The oldest went.
  EXPECT_EQ(capped.load(keyOf(0), entry), cache::DiskCache::Found::Hit);
  EXPECT_EQ(capped.load(keyOf(2), entry), cache::DiskCache::Found::Hit);
  EXPECT_EQ(capped.clear(), 2u);
  EXPECT_EQ(capped.stats().entries, 0u);
  fs::remove_all(dir);
}

TEST(Cache, WhyNamesTheChangedPartOfTheKey) {
  std::string dir = freshTestDir("cache", "why");
  Jit jit = jitWithCache(dir);
  Kernel k = jit.compile(kSoftmaxSource, "softmax.tdsl").kernel("softmax");
  EXPECT_EQ(k.cacheStatus().rfind("miss: no entry for kernel softmax", 0), 0u) << k.cacheStatus();
  k({Tensor::randn({2, 3}, DType::F32, 1)});
  EXPECT_EQ(k.cacheStatus().rfind("hit (" + dir + "/", 0), 0u) << k.cacheStatus();

  // The same kernel name with other IR.
  std::string changed = kSoftmaxSource;
  changed.replace(changed.find("exp("), 4, "exp(0.5 * ");
  Kernel k2 = jit.compile(changed, "softmax2.tdsl").kernel("softmax");
  EXPECT_EQ(k2.cacheStatus(),
            "miss: the nearest entry of kernel softmax differs in ir (the kernel's tensor IR)");

  // An entry left by another build of tdsl: move the entry under a key with another build id.
  cache::DiskCache disk(dir);
  std::vector<std::string> keys = disk.keyTexts();
  ASSERT_EQ(keys.size(), 1u);
  std::optional<cache::CacheKey> key = cache::CacheKey::parse(keys[0]);
  ASSERT_TRUE(key && key->field("tdsl build"));
  disk.clear();
  for (auto &[name, value] : key->fields)
    if (name == "tdsl build")
      value = "0123abcd";
  ASSERT_TRUE(disk.store(*key, "sym", "object"));
  EXPECT_EQ(k.cacheStatus(), "miss: the nearest entry of kernel softmax differs in tdsl build "
                             "(0123abcd -> " +
                                 cache::buildId() + ")");
  fs::remove_all(dir);
}

mode_t modeOf(const std::string &path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(CacheSecurity, FreshDirectoryIsPrivateAndEntriesOwnerOnly) {
  std::string root = freshTestDir("cache", "private");
  std::string dir = root + "/tdsl/kernels";
  runSoftmax(jitWithCache(dir));
  ASSERT_EQ(entryFiles(dir).size(), 1u);
  EXPECT_EQ(modeOf(root + "/tdsl"), 0700u);
  EXPECT_EQ(modeOf(dir), 0700u);
  EXPECT_EQ(modeOf(dir + "/" + entryFiles(dir)[0]), 0600u);
  fs::remove_all(root);
}

TEST(CacheSecurity, DirectoryWritableByOthersIsNeitherReadNorWritten) {
  std::string dir = freshTestDir("cache", "world-writable");
  runSoftmax(jitWithCache(dir)); // A good entry, which must not be loaded once others can write.
  std::vector<std::string> before = entryFiles(dir);
  ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);

  ::testing::internal::CaptureStderr();
  CounterSnapshot start = CounterSnapshot::now();
  runSoftmax(jitWithCache(dir, 1));
  runSoftmax(jitWithCache(dir, 2)); // A new key: nothing may be written either.
  CounterSnapshot d = CounterSnapshot::now().since(start);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(),
            warningFor(dir, "it is writable by others (mode 0777)")); // Once.
  EXPECT_EQ(d.diskHits, 0u);
  EXPECT_EQ(d.misses, 2u);
  EXPECT_EQ(d.stores, 0u);
  EXPECT_EQ(entryFiles(dir), before);

  Jit jit = jitWithCache(dir);
  Kernel k = jit.compile(kSoftmaxSource, "softmax.tdsl").kernel("softmax");
  EXPECT_EQ(k.cacheStatus(), "miss: the disk cache in " + dir +
                                 " is not used: it is writable by others (mode 0777)");
  fs::remove_all(dir);
}

// An entry with the right name and key for softmax, holding another kernel's valid object code,
// given to another user or made writable by all: loading it would compute the wrong kernel.
TEST(CacheSecurity, ForeignEntryIsNotLoaded) {
  std::string otherDir = freshTestDir("cache", "foreign-source");
  std::string other = kSoftmaxSource;
  other.replace(other.find("exp("), 4, "exp(0.5 * ");
  Jit otherJit = jitWithCache(otherDir);
  otherJit.compile(other, "other.tdsl").kernel("softmax")({Tensor::randn({2, 3}, DType::F32, 1)});
  cache::Entry foreign;
  ASSERT_EQ(cache::DiskCache(otherDir).load(onlyKey(otherDir), foreign),
            cache::DiskCache::Found::Hit);

  for (bool otherOwner : {false, true}) {
    if (otherOwner && ::geteuid() != 0)
      continue; // Only root can give a file to another user.
    std::string dir = freshTestDir("cache", otherOwner ? "foreign-owner" : "foreign-mode");
    runSoftmax(jitWithCache(dir));
    cache::CacheKey key = onlyKey(dir);
    cache::DiskCache disk(dir);
    ASSERT_TRUE(disk.store(key, foreign.symbol, foreign.object));
    std::string path = disk.pathOf(key);
    std::string name = fs::path(path).filename().string();
    std::string problem;
    if (otherOwner) {
      ASSERT_EQ(::chown(path.c_str(), 12345, 12345), 0);
      problem = "the entry " + name + " is owned by uid 12345, not 0";
    } else {
      ASSERT_EQ(::chmod(path.c_str(), 0666), 0);
      problem = "the entry " + name + " is writable by others (mode 0666)";
    }

    ::testing::internal::CaptureStderr();
    CounterSnapshot start = CounterSnapshot::now();
    runSoftmax(jitWithCache(dir)); // Checks softmax's values against the interpreter.
    CounterSnapshot d = CounterSnapshot::now().since(start);
    EXPECT_EQ(::testing::internal::GetCapturedStderr(), warningFor(dir, problem));
    EXPECT_EQ(d.diskHits, 0u);
    EXPECT_EQ(d.corrupt, 0u);
    EXPECT_EQ(d.misses, 1u);
    EXPECT_EQ(d.stores, 0u);
    // Left as it was: neither loaded nor replaced.
    struct stat st {};
    ASSERT_EQ(::lstat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, otherOwner ? 12345u : ::geteuid());
    EXPECT_EQ(st.st_mode & 07777, otherOwner ? 0600u : 0666u);
    fs::remove_all(dir);
  }
  fs::remove_all(otherDir);
}

TEST(CacheSecurity, SymbolicLinkEntryIsNotLoaded) {
  std::string target = freshTestDir("cache", "symlink-target");
  runSoftmax(jitWithCache(target));
  ASSERT_EQ(entryFiles(target).size(), 1u);
  std::string name = entryFiles(target)[0];
  std::string dir = freshTestDir("cache", "symlink");
  fs::create_symlink(target + "/" + name, dir + "/" + name);

  ::testing::internal::CaptureStderr();
  CounterSnapshot start = CounterSnapshot::now();
  runSoftmax(jitWithCache(dir));
  CounterSnapshot d = CounterSnapshot::now().since(start);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(),
            warningFor(dir, "the entry " + name + " is a symbolic link"));
  EXPECT_EQ(d.diskHits, 0u);
  EXPECT_EQ(d.misses, 1u);
  EXPECT_EQ(d.stores, 0u);
  EXPECT_TRUE(fs::is_symlink(dir + "/" + name));
  fs::remove_all(dir);
  fs::remove_all(target);
}

// Several processes (this test binary, re-run with a filter) compile the same kernels into one
// empty directory at the same moment: each must get correct results, and the directory must end
// up with whole, loadable entries and no temporary files.
TEST(CacheChild, CompileIntoSharedDirectory) {
  const char *dir = std::getenv("TDSL_CACHE_TEST_CHILD_DIR");
  if (!dir)
    GTEST_SKIP() << "run by Cache.ConcurrentProcessesShareOneDirectory";
  CounterSnapshot start = CounterSnapshot::now();
  std::vector<float> out = runSoftmax(jitWithCache(dir, 1));
  runSoftmax(jitWithCache(dir, 2));
  ASSERT_FALSE(out.empty());
  if (std::getenv("TDSL_CACHE_TEST_EXPECT_HITS")) {
    // A fresh process loads both from disk (libmvec, which the objects call, included).
    CounterSnapshot d = CounterSnapshot::now().since(start);
    EXPECT_EQ(d.diskHits, 2u);
    EXPECT_EQ(d.corrupt, 0u);
    EXPECT_EQ(d.misses, 0u);
  }
}

/// Runs the child test in `count` processes at once; true if every one passed.
void runChildren(const std::string &dir, int count, bool expectHits) {
  std::string self = fs::read_symlink("/proc/self/exe").string();
  std::vector<pid_t> children;
  for (int i = 0; i < count; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::setenv("TDSL_CACHE_TEST_CHILD_DIR", dir.c_str(), 1);
      if (expectHits)
        ::setenv("TDSL_CACHE_TEST_EXPECT_HITS", "1", 1);
      int devnull = ::open("/dev/null", O_WRONLY);
      if (devnull >= 0)
        ::dup2(devnull, STDOUT_FILENO); // The parent's output stays readable.
      ::execl(self.c_str(), self.c_str(), "--gtest_filter=CacheChild.CompileIntoSharedDirectory",
              static_cast<char *>(nullptr));
      ::_exit(127);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  }
}

TEST(Cache, ConcurrentProcessesShareOneDirectory) {
  std::string dir = freshTestDir("cache", "processes");
  runChildren(dir, 6, /*expectHits=*/false);
  // Two keys (1 and 2 threads); no temporaries left.
  EXPECT_EQ(entryFiles(dir).size(), 2u);
  for (const std::string &f : entryFiles(dir))
    EXPECT_TRUE(f.ends_with(".tko")) << f;
  // The children ran this same binary (same build id), so their entries hit here.
  CounterSnapshot start = CounterSnapshot::now();
  runSoftmax(jitWithCache(dir, 1));
  runSoftmax(jitWithCache(dir, 2));
  EXPECT_EQ(CounterSnapshot::now().since(start).diskHits, 2u);
  // And so do fresh processes, several at once.
  runChildren(dir, 3, /*expectHits=*/true);
  fs::remove_all(dir);
}

} // namespace
