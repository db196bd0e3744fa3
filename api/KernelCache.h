// The kernel cache: compiled kernels, CPU objects and CUDA binaries alike, kept in memory per Jit
// and on disk across processes.
//
// An entry is keyed by everything that decides its code, each part a named field (CacheKey): the
// target ("cpu" or "cuda") and the build id of tdsl itself, then for the CPU the printed tensor
// IR of the kernel, the schedule's target (vector width, caches, threads), the host CPU and its
// features, the LLVM version and the code generation options (LLVM's O3, or none:
// JitOptions::tiering), and for CUDA the kernel's CUDA C (scheduled for the device's
// properties), the device's name and architecture, and the NVRTC version and options. On disk
// ($TDSL_CACHE_DIR, else $XDG_CACHE_HOME/tdsl, else ~/.cache/tdsl) each entry is one file,
// <target>-<hash>.tko, holding the key's text, the entry symbol (CPU) and the object code or
// cubin with a checksum; it is written to a temporary file and renamed into place, so readers in
// other processes see a whole entry or none. A damaged or truncated entry fails its checksum, is
// removed and recompiled. The directory is capped in size (TDSL_CACHE_MAX_BYTES, default
// 256 MiB): after each store the least recently used entries of either target (by modification
// time, which a hit refreshes) are removed, and so are temporary files an hour old (left by
// writers killed before their rename). TDSL_CACHE=off or JitOptions::diskCache = false turns the
// disk cache off for both targets; JitOptions::cacheDir moves it. Only optimized CPU code goes to
// disk: the fast tier's code and bounds-checked code stay in the memory cache of their Jit, so a
// process that finds a kernel on disk runs its optimized code from the first call.
//
// An entry is native code that the process (or the GPU) runs, so the cache never loads what
// another user could have written: tdsl creates the directory with mode 0700 and its entries
// 0600, and a directory or entry not owned by the effective user, writable by group or others,
// or (an entry) not a regular file is refused with a one-line warning, once per directory; the
// kernel is then compiled in memory and not written back (nothing is written to a refused
// directory; support/PrivateDir.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tdsl {
struct JitOptions;
}
namespace tdsl::ir {
struct Kernel;
struct LoweredFunc;
} // namespace tdsl::ir
namespace tdsl::passes {
struct CpuTarget;
}
namespace tdsl::codegen {
class CompiledCpuKernel;
}

namespace tdsl::cache {

/// The parts of a key, in a fixed order, each named ("llvm", "cpu", "ir", ...), so that
/// `tdsl cache why` can say which part changed.
struct CacheKey {
  std::vector<std::pair<std::string, std::string>> fields;

  /// "name: value" per line; multi-line values (the IR) are indented by two spaces.
  std::string text() const;
  /// 32 hex digits identifying text(); names the entry file.
  std::string hash() const;
  /// Parses text() back (for `why`); nullopt if it is not a key's text.
  static std::optional<CacheKey> parse(const std::string &text);
  const std::string *field(const std::string &name) const;
  /// Whether the key's code is compiled with LLVM's optimizations, and with bounds checks (its
  /// "options" field; see makeKey). KernelCache::get compiles as the key says, so a key and its
  /// code always agree.
  bool optimized() const;
  bool boundsChecked() const;
};

/// The key of `kernel` scheduled for `target` on this host with this build of tdsl, compiled
/// with LLVM's optimizations or without (the optimized or the fast tier: fast code is cached in
/// memory only), with bounds checks or without (JitOptions::boundsChecks: such keys are cached
/// in memory only, never on disk).
CacheKey makeKey(const ir::Kernel &kernel, const passes::CpuTarget &target, bool optimize = true,
                 bool boundsChecks = false);
/// The key of the cubin of `source`, the CUDA C of tdsl kernel `kernel`, compiled by this NVRTC
/// with tdsl's options for the GPU named `gpu` of architecture `arch` ("sm_90a"), by this build of
/// tdsl. Needs no GPU: the device is named, not asked for.
CacheKey makeCudaKey(const std::string &kernel, const std::string &source, const std::string &gpu,
                     const std::string &arch);

/// The build id of the code running tdsl (its ELF build-id; else its file's size and time).
const std::string &buildId();
/// The directory of the disk cache from the environment (see the header comment).
std::string defaultDirectory();
/// The directory of the disk cache of a Jit made with `options` (its CPU and CUDA kernels
/// alike): options.cacheDir, else defaultDirectory(); empty, no disk cache, when
/// options.diskCache is false or the environment turns the cache off.
std::string directoryFor(const JitOptions &options);
/// False when TDSL_CACHE is "off", "0" or "false".
bool diskCacheEnabledByEnvironment();
/// TDSL_CACHE_MAX_BYTES, else 256 MiB.
uint64_t defaultMaxBytes();

/// Process-wide counts of what lookups found (tests and `tdsl cache stats` read them).
struct Counters {
  std::atomic<uint64_t> memoryHits{0}, diskHits{0}, misses{0}, corrupt{0}, stores{0}, evictions{0};
};
Counters &counters();

/// One entry read from disk.
struct Entry {
  std::string keyText;
  std::string symbol;
  std::string object;
};

/// The files of one cache directory. Every operation tolerates other processes working on the
/// same directory at the same time; failures to read or write make lookups miss, never throw.
class DiskCache {
public:
  explicit DiskCache(std::string directory, uint64_t maxBytes = defaultMaxBytes());
  const std::string &directory() const { return dir; }

  enum class Found { Hit, Miss, Corrupt, Refused };
  /// Reads and checks the entry of `key`. A corrupt entry is removed. Refused: the directory or
  /// the entry could have been written by another user (a warning was printed).
  Found load(const CacheKey &key, Entry &entry) const;
  /// Writes the entry atomically (mode 0600; the directory is created 0700), then evicts least
  /// recently used entries beyond the cap. Returns false when the directory cannot be written or
  /// is refused (a warning was printed).
  bool store(const CacheKey &key, const std::string &symbol, const std::string &object) const;

  struct Stats {
    uint64_t entries = 0, bytes = 0, maxBytes = 0;
    std::map<std::string, uint64_t> entriesByTarget; // "cpu", "cuda": from the entry's name.
  };
  Stats stats() const;
  /// Removes every entry (and stray temporary files); returns how many entries it removed.
  uint64_t clear() const;
  /// The key texts of every readable entry (for `why`).
  std::vector<std::string> keyTexts() const;
  /// Removes least recently used entries until the directory holds at most `maxBytes`, and
  /// orphaned temporary files (an hour old).
  void evict() const;
  /// The path of the entry file of `key`.
  std::string pathOf(const CacheKey &key) const;

private:
  std::string dir;
  uint64_t maxBytes;
};

/// What a lookup of `key` in `disk` finds, for `tdsl cache why`: "hit (PATH)", or "miss: ..."
/// naming the parts of the key that differ from the nearest entry of the same kernel and target
/// (one written by another build of tdsl, for another CPU, thread count, GPU or IR), or "no disk
/// cache".
/// Reads the directory only (a corrupt entry is reported, not removed).
std::string explainLookup(const CacheKey &key, const DiskCache *disk);

/// A Jit's cache: compiled kernels in memory by key, in front of an optional DiskCache.
class KernelCache {
public:
  /// `directory` empty: no disk cache.
  explicit KernelCache(std::string directory);
  /// The compiled kernel of `key`: from memory, else from disk, else `lower()` compiled as
  /// key.optimized() and key.boundsChecked() say (and stored on disk). Only optimized code
  /// without bounds checks reaches the disk; the rest stays in memory. Concurrent callers with
  /// one key compile it once (the others wait for it).
  std::shared_ptr<codegen::CompiledCpuKernel>
  get(const CacheKey &key, const std::function<const ir::LoweredFunc &()> &lower);
  /// The compiled kernel of `key` from memory or disk, compiling nothing; null when neither has
  /// it (a tiered kernel's first call asks whether it can skip the fast tier).
  std::shared_ptr<codegen::CompiledCpuKernel> find(const CacheKey &key);
  /// The cubin of `key` (makeCudaKey): from memory, else from disk, else compiled by NVRTC from
  /// the key's CUDA C for its architecture (and stored on disk). Concurrent callers with one key
  /// compile it once. Throws RuntimeError when NVRTC is missing or rejects the source.
  std::shared_ptr<const std::string> cubin(const CacheKey &key);
  const DiskCache *disk() const { return disk_ ? &*disk_ : nullptr; }

private:
  /// One key's value, null until compiled or loaded; its mutex is held while that is done.
  template <typename T> struct Slot {
    std::mutex mutex;
    T value;
  };
  template <typename T> using Slots = std::map<std::string, std::shared_ptr<Slot<T>>>;

  /// The slot of the key hashed `hash` in `slots`, made on first use.
  template <typename T> std::shared_ptr<Slot<T>> slotOf(Slots<T> &slots, const std::string &hash);
  /// The disk's entry of `key`, if it has a good one. Else nullopt, and `mayStore` says whether
  /// a fresh entry may be written (not without a disk cache, nor where the disk refused the
  /// directory or the entry).
  std::optional<Entry> load(const CacheKey &key, bool &mayStore) const;
  /// Whether entries of `key` are read from and written to the disk.
  static bool onDisk(const CacheKey &key);
  /// The disk's entry of `key` linked into the process; null (and `mayStore` as load says) when
  /// there is none or it cannot be linked.
  std::shared_ptr<codegen::CompiledCpuKernel> loadCompiled(const CacheKey &key,
                                                           bool &mayStore) const;

  std::optional<DiskCache> disk_;
  std::mutex mutex;
  Slots<std::shared_ptr<codegen::CompiledCpuKernel>> objects;
  Slots<std::shared_ptr<const std::string>> cubins;
};

} // namespace tdsl::cache
