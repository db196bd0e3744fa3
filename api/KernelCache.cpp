// The kernel cache (see KernelCache.h): keys, the entry file format, checksums, least-recently-used
// eviction and the per-Jit memory cache, for CPU objects and CUDA binaries alike. Entries are read
// and written (atomically, 0600) through support/PrivateDir, which refuses a folder or entry
// another user could have written.
//
// Entry file: "TDSLKC01", then four little-endian u64 (key length, symbol length, object length,
// FNV-1a 64 checksum of key + symbol + object), then the three byte strings. A CUDA entry's
// object is its cubin and its symbol is empty (the kernels' names are in the CUDA C).
#include "api/KernelCache.h"

#include "codegen/cuda/CudaBackend.h"
#include "codegen/cuda/Nvrtc.h"
#include "ir/IRPrinter.h"
#include "ir/Kernel.h"
#include "passes/Target.h"
#include "support/Check.h"
#include "support/PrivateDir.h"
#include "tdsl/tdsl.h"
#ifdef TDSL_HAVE_LLVM
#include "codegen/llvm/LlvmBackend.h"
#include "codegen/llvm/LlvmOptions.h"
#endif

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sstream>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <tuple>
#include <unistd.h>

namespace tdsl::cache {
namespace {

constexpr char kMagic[8] = {'T', 'D', 'S', 'L', 'K', 'C', '0', '1'};
constexpr size_t kHeaderBytes = 8 + 4 * 8;
constexpr const char *kSuffix = ".tko";
constexpr int64_t kOrphanAgeNs = 3600ll * 1000000000; // A temporary file this old is an orphan.

uint64_t fnv1a(const void *data, size_t size, uint64_t hash = 0xcbf29ce484222325ull) {
  const auto *bytes = static_cast<const unsigned char *>(data);
  for (size_t i = 0; i < size; ++i) {
    hash ^= bytes[i];
    hash *= 0x100000001b3ull;
  }
  return hash;
}

uint64_t checksumOf(const std::string &key, const std::string &symbol, const std::string &object) {
  uint64_t h = fnv1a(key.data(), key.size());
  h = fnv1a(symbol.data(), symbol.size(), h);
  return fnv1a(object.data(), object.size(), h);
}

std::string hex(uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

void putU64(std::string &out, uint64_t value) {
  for (int i = 0; i < 8; ++i)
    out += static_cast<char>((value >> (8 * i)) & 0xff);
}

uint64_t getU64(const char *in) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i)
    value |= static_cast<uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  return value;
}

bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Parses an entry file's bytes; nullopt when truncated, damaged or not an entry.
std::optional<Entry> parseEntry(const std::string &data, bool headerOnly = false) {
  if (data.size() < kHeaderBytes || std::memcmp(data.data(), kMagic, 8) != 0)
    return std::nullopt;
  uint64_t keyLen = getU64(data.data() + 8), symbolLen = getU64(data.data() + 16),
           objectLen = getU64(data.data() + 24), checksum = getU64(data.data() + 32);
  uint64_t body = data.size() - kHeaderBytes;
  if (keyLen > body || symbolLen > body - keyLen || objectLen != body - keyLen - symbolLen)
    return std::nullopt;
  Entry entry;
  entry.keyText = data.substr(kHeaderBytes, keyLen);
  entry.symbol = data.substr(kHeaderBytes + keyLen, symbolLen);
  if (headerOnly)
    return entry;
  entry.object = data.substr(kHeaderBytes + keyLen + symbolLen);
  if (checksumOf(entry.keyText, entry.symbol, entry.object) != checksum)
    return std::nullopt;
  return entry;
}

struct FileInfo {
  std::string path;
  uint64_t bytes;
  int64_t mtimeNs;
};

std::vector<FileInfo> listEntries(const std::string &dir, bool temporaries = false) {
  std::vector<FileInfo> files;
  DIR *d = ::opendir(dir.c_str());
  if (!d)
    return files;
  while (dirent *e = ::readdir(d)) {
    std::string name = e->d_name;
    bool isTemp = name.size() > 1 && name[0] == '.' && endsWith(name, ".tmp");
    if (temporaries ? !isTemp : !endsWith(name, kSuffix))
      continue;
    std::string path = dir + "/" + name;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
      continue; // Removed meanwhile by another process.
    files.push_back({path, static_cast<uint64_t>(st.st_size),
                     static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec});
  }
  ::closedir(d);
  return files;
}

// The ELF build-id note of the loaded object that contains this function.
struct BuildIdSearch {
  uintptr_t address;
  std::string id;
  std::string path;
  bool found = false;
};

int findBuildId(dl_phdr_info *info, size_t, void *data) {
  auto *search = static_cast<BuildIdSearch *>(data);
  bool contains = false;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr) &ph = info->dlpi_phdr[i];
    uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_LOAD && search->address >= start && search->address < start + ph.p_memsz)
      contains = true;
  }
  if (!contains)
    return 0;
  search->found = true;
  search->path = info->dlpi_name;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr) &ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE)
      continue;
    const char *at = reinterpret_cast<const char *>(info->dlpi_addr + ph.p_vaddr);
    const char *end = at + ph.p_memsz;
    while (at + sizeof(ElfW(Nhdr)) <= end) {
      const auto *note = reinterpret_cast<const ElfW(Nhdr) *>(at);
      const char *name = at + sizeof(ElfW(Nhdr));
      const char *desc = name + ((note->n_namesz + 3) & ~3u);
      if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 &&
          std::memcmp(name, "GNU", 4) == 0 && desc + note->n_descsz <= end) {
        for (unsigned j = 0; j < note->n_descsz; ++j) {
          char byte[3];
          std::snprintf(byte, sizeof byte, "%02x", static_cast<unsigned char>(desc[j]));
          search->id += byte;
        }
        return 1;
      }
      at = desc + ((note->n_descsz + 3) & ~3u);
    }
  }
  return 1;
}

std::string computeBuildId() {
  BuildIdSearch search{reinterpret_cast<uintptr_t>(&computeBuildId), {}, {}};
  dl_iterate_phdr(findBuildId, &search);
  if (!search.id.empty())
    return search.id;
  // No build-id note: the file's identity stands in (a rebuild changes its size or time).
  std::string path = search.path.empty() ? "/proc/self/exe" : search.path;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0)
    return "file:" + std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
           std::to_string(st.st_mtim.tv_nsec);
  return "unknown";
}

/// "<target>-<hash>.tko": the target in the name lets `tdsl cache stats` count entries of each
/// without reading them.
std::string entryName(const CacheKey &key) {
  const std::string *target = key.field("target");
  TDSL_CHECK(target) << "a cache key without a target field";
  return *target + "-" + key.hash() + kSuffix;
}

std::string indentValue(const std::string &value) {
  if (value.find('\n') == std::string::npos)
    return value;
  std::string out = "\n";
  std::istringstream lines(value);
  std::string line;
  while (std::getline(lines, line))
    out += "  " + line + "\n";
  if (!out.empty() && out.back() == '\n')
    out.pop_back();
  return out;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Keys

std::string CacheKey::text() const {
  std::string out;
  for (const auto &[name, value] : fields)
    out += name + ": " + indentValue(value) + "\n";
  return out;
}

std::string CacheKey::hash() const {
  std::string t = text();
  return hex(fnv1a(t.data(), t.size())) + hex(fnv1a(t.data(), t.size(), 0x84222325cbf29ce4ull));
}

std::optional<CacheKey> CacheKey::parse(const std::string &text) {
  CacheKey key;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("  ", 0) == 0) {
      if (key.fields.empty())
        return std::nullopt;
      std::string &value = key.fields.back().second;
      value += (value.empty() ? "" : "\n") + line.substr(2);
      continue;
    }
    size_t colon = line.find(": ");
    if (colon == std::string::npos) {
      if (line.empty() || line.back() != ':')
        return std::nullopt;
      key.fields.emplace_back(line.substr(0, line.size() - 1), "");
      continue;
    }
    key.fields.emplace_back(line.substr(0, colon), line.substr(colon + 2));
  }
  return key;
}

const std::string *CacheKey::field(const std::string &name) const {
  for (const auto &[n, value] : fields)
    if (n == name)
      return &value;
  return nullptr;
}

const std::string &buildId() {
  static const std::string id = computeBuildId();
  return id;
}

namespace {
// The "options" field: what LLVM does to the code, then whether it checks bounds. An O0 entry is
// never an O3 one's; a key with bounds checks never reaches the disk.
constexpr const char *kOptimized = "O3 without loop unrolling";
constexpr const char *kFast = "O0 (EarlyCSE only, fast instruction selection)";
constexpr const char *kBoundsChecks = ", bounds checks";
} // namespace

bool CacheKey::optimized() const {
  const std::string *options = field("options");
  return !options || options->rfind(kFast, 0) != 0;
}

bool CacheKey::boundsChecked() const {
  const std::string *options = field("options");
  return options && options->find(kBoundsChecks) != std::string::npos;
}

namespace {
/// The micro-kernel rows a schedule target asks for, when it asks (keys of the default stay as
/// they were, so the disk cache keeps its entries).
std::string microKernelRows(const passes::CpuTarget &target) {
  return target.microKernelRows > 0
             ? ", micro-kernel rows " + std::to_string(target.microKernelRows)
             : std::string();
}
} // namespace

CacheKey makeKey(const ir::Kernel &kernel, const passes::CpuTarget &target, bool optimize,
                 bool boundsChecks) {
  CacheKey key;
  key.fields.emplace_back("format", "tdsl kernel cache 1");
  key.fields.emplace_back("target", "cpu");
  key.fields.emplace_back("tdsl build", buildId());
#ifdef TDSL_HAVE_LLVM
  codegen::CpuInfo host = codegen::hostCpuInfo();
  key.fields.emplace_back("llvm", codegen::llvmVersion());
  key.fields.emplace_back("cpu", host.cpuName);
  key.fields.emplace_back("cpu features", host.features);
  key.fields.emplace_back("code for", codegen::cpuForCode(target.name).first.empty()
                                          ? std::string("host")
                                          : target.name);
#else
  key.fields.emplace_back("llvm", "none");
#endif
  key.fields.emplace_back("schedule target",
                          target.name + ", vector bits " + std::to_string(target.vectorBits) +
                              ", L1 " + std::to_string(target.l1Bytes) + ", L2 " +
                              std::to_string(target.l2Bytes) + ", L3 " +
                              std::to_string(target.l3Bytes) + microKernelRows(target));
  key.fields.emplace_back("threads", std::to_string(target.threads));
  key.fields.emplace_back("options", std::string(optimize ? kOptimized : kFast) +
                                         (boundsChecks ? kBoundsChecks : "") +
                                         ", hardware half, PIC");
  key.fields.emplace_back("kernel", kernel.name);
  key.fields.emplace_back("ir", ir::toString(kernel));
  return key;
}

CacheKey makeCudaKey(const std::string &kernel, const std::string &source, const std::string &gpu,
                     const std::string &arch) {
  codegen::NvrtcStatus nvrtc = codegen::nvrtcStatus();
  std::string options;
  for (const char *option : codegen::kNvrtcOptions)
    options += (options.empty() ? "" : " ") + std::string(option);
  CacheKey key;
  key.fields.emplace_back("format", "tdsl kernel cache 1");
  key.fields.emplace_back("target", "cuda");
  key.fields.emplace_back("tdsl build", buildId());
  // Without NVRTC nothing is compiled, so no entry has "none".
  key.fields.emplace_back("nvrtc", nvrtc.available ? std::to_string(nvrtc.versionMajor) + "." +
                                                         std::to_string(nvrtc.versionMinor)
                                                   : "none");
  key.fields.emplace_back("gpu", gpu);
  key.fields.emplace_back("arch", arch);
  key.fields.emplace_back("options", options);
  key.fields.emplace_back("kernel", kernel);
  key.fields.emplace_back("cuda", source);
  return key;
}

std::string defaultDirectory() {
  if (const char *dir = std::getenv("TDSL_CACHE_DIR"); dir && *dir)
    return dir;
  if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::string(xdg) + "/tdsl";
  if (const char *home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.cache/tdsl";
  return {};
}

std::string directoryFor(const JitOptions &options) {
  if (!options.diskCache || !diskCacheEnabledByEnvironment())
    return {};
  return options.cacheDir.empty() ? defaultDirectory() : options.cacheDir;
}

bool diskCacheEnabledByEnvironment() {
  const char *value = std::getenv("TDSL_CACHE");
  if (!value)
    return true;
  std::string v = value;
  return !(v == "off" || v == "0" || v == "false" || v == "OFF");
}

uint64_t defaultMaxBytes() {
  if (const char *value = std::getenv("TDSL_CACHE_MAX_BYTES"); value && *value) {
    char *end = nullptr;
    unsigned long long n = std::strtoull(value, &end, 10);
    if (end && *end == '\0')
      return n;
  }
  return 256ull << 20;
}

Counters &counters() {
  static Counters c;
  return c;
}

// ---------------------------------------------------------------------------------------------
// The disk cache

DiskCache::DiskCache(std::string directory, uint64_t maxBytes)
    : dir(std::move(directory)), maxBytes(maxBytes) {}

std::string DiskCache::pathOf(const CacheKey &key) const { return dir + "/" + entryName(key); }

DiskCache::Found DiskCache::load(const CacheKey &key, Entry &entry) const {
  std::string name = entryName(key); // Hashes the key's text: once per lookup.
  support::PrivateRead read = support::readPrivateFile(dir, name);
  if (read.status == support::PrivateRead::Status::Refused) {
    support::warnUntrustedCache(dir, read.problem);
    return Found::Refused;
  }
  if (read.status == support::PrivateRead::Status::Missing)
    return Found::Miss;
  std::string path = dir + "/" + name;
  std::optional<Entry> parsed = parseEntry(read.data);
  if (!parsed || parsed->keyText != key.text()) {
    ::unlink(path.c_str()); // A rename by another process may have put a good one here since;
    return Found::Corrupt;  // then it is recompiled once more, which is harmless.
  }
  entry = std::move(*parsed);
  ::utimensat(AT_FDCWD, path.c_str(), nullptr, AT_SYMLINK_NOFOLLOW); // Recently used: now.
  return Found::Hit;
}

bool DiskCache::store(const CacheKey &key, const std::string &symbol,
                      const std::string &object) const {
  std::string keyText = key.text();
  std::string data(kMagic, 8);
  putU64(data, keyText.size());
  putU64(data, symbol.size());
  putU64(data, object.size());
  putU64(data, checksumOf(keyText, symbol, object));
  data += keyText;
  data += symbol;
  data += object;

  std::string refusal;
  if (!support::writePrivateFile(dir, entryName(key), data, refusal)) {
    if (!refusal.empty())
      support::warnUntrustedCache(dir, refusal);
    return false;
  }
  counters().stores++;
  evict();
  return true;
}

void DiskCache::evict() const {
  // Temporary files of writers killed before their rename: a live writer renames its file
  // milliseconds after creating it, so one an hour old is an orphan.
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  int64_t nowNs = static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
  for (const FileInfo &f : listEntries(dir, /*temporaries=*/true))
    if (nowNs - f.mtimeNs > kOrphanAgeNs)
      ::unlink(f.path.c_str());

  std::vector<FileInfo> files = listEntries(dir);
  uint64_t total = 0;
  for (const FileInfo &f : files)
    total += f.bytes;
  if (total <= maxBytes)
    return;
  std::sort(files.begin(), files.end(), [](const FileInfo &a, const FileInfo &b) {
    return a.mtimeNs != b.mtimeNs ? a.mtimeNs < b.mtimeNs : a.path < b.path;
  });
  for (const FileInfo &f : files) {
    if (total <= maxBytes)
      break;
    if (::unlink(f.path.c_str()) == 0)
      counters().evictions++;
    total -= f.bytes; // Gone either way (another process may have removed it first).
  }
}

DiskCache::Stats DiskCache::stats() const {
  Stats s;
  s.maxBytes = maxBytes;
  for (const FileInfo &f : listEntries(dir)) {
    s.entries++;
    s.bytes += f.bytes;
    // "<target>-<hash>.tko"; a bare "<hash>.tko" was written by an older tdsl, before entries
    // named their target (never hit now; eviction removes them first, being older).
    std::string name = f.path.substr(dir.size() + 1);
    size_t dash = name.find('-');
    s.entriesByTarget[dash == std::string::npos ? "older" : name.substr(0, dash)]++;
  }
  return s;
}

uint64_t DiskCache::clear() const {
  uint64_t removed = 0;
  for (const FileInfo &f : listEntries(dir))
    removed += ::unlink(f.path.c_str()) == 0;
  for (const FileInfo &f : listEntries(dir, /*temporaries=*/true))
    ::unlink(f.path.c_str());
  return removed;
}

std::vector<std::string> DiskCache::keyTexts() const {
  std::vector<std::string> keys;
  for (const FileInfo &f : listEntries(dir)) {
    support::PrivateRead read = support::readPrivateFile(dir, f.path.substr(dir.size() + 1));
    if (read.status == support::PrivateRead::Status::Read)
      if (std::optional<Entry> entry = parseEntry(read.data, /*headerOnly=*/true))
        keys.push_back(entry->keyText);
  }
  return keys;
}

std::string explainLookup(const CacheKey &key, const DiskCache *disk) {
  if (!disk)
    return "no disk cache (turned off by JitOptions::diskCache or TDSL_CACHE=off)";
  std::string path = disk->pathOf(key);
  support::PrivateRead read = support::readPrivateFile(disk->directory(), entryName(key));
  if (read.status == support::PrivateRead::Status::Refused)
    return "miss: the disk cache in " + disk->directory() + " is not used: " + read.problem;
  if (read.status == support::PrivateRead::Status::Read) {
    std::optional<Entry> entry = parseEntry(read.data);
    if (entry && entry->keyText == key.text())
      return "hit (" + path + ")";
    return "miss: the entry " + path + " is damaged (checksum or size); it will be recompiled";
  }
  // Compared as parsed from text, like the entries' keys (the text drops a trailing newline).
  CacheKey current = CacheKey::parse(key.text()).value_or(key);
  const std::string *kernel = current.field("kernel");
  const std::string *target = current.field("target");
  auto same = [&](const CacheKey &other, const char *name, const std::string *value) {
    const std::string *theirs = other.field(name);
    return value && theirs && *theirs == *value;
  };
  std::vector<std::string> texts = disk->keyTexts();
  std::optional<std::vector<std::string>> nearest;
  for (const std::string &text : texts) {
    std::optional<CacheKey> other = CacheKey::parse(text);
    if (!other || !same(*other, "kernel", kernel) || !same(*other, "target", target))
      continue;
    std::vector<std::string> changed;
    for (const auto &[name, value] : current.fields) {
      const std::string *old = other->field(name);
      if (old && *old == value)
        continue;
      bool shortValues = old && old->size() <= 48 && value.size() <= 48 &&
                         old->find('\n') == std::string::npos &&
                         value.find('\n') == std::string::npos;
      std::string what = name == "ir"     ? " (the kernel's tensor IR)"
                         : name == "cuda" ? " (the kernel's CUDA C)"
                                          : "";
      changed.push_back(shortValues ? name + " (" + *old + " -> " + value + ")" : name + what);
    }
    if (!nearest || changed.size() < nearest->size())
      nearest = changed;
  }
  if (!nearest)
    return "miss: no entry for kernel " + (kernel ? *kernel : std::string("?")) + " on " +
           (target ? *target : std::string("?")) + " among the " + std::to_string(texts.size()) +
           " entries of " + disk->directory();
  std::string list;
  for (const std::string &c : *nearest)
    list += (list.empty() ? "" : ", ") + c;
  return "miss: the nearest entry of kernel " + *kernel + " differs in " + list;
}

// ---------------------------------------------------------------------------------------------
// The memory cache

KernelCache::KernelCache(std::string directory) {
  if (!directory.empty())
    disk_.emplace(std::move(directory));
}

template <typename T>
std::shared_ptr<KernelCache::Slot<T>> KernelCache::slotOf(Slots<T> &slots,
                                                          const std::string &hash) {
  std::lock_guard<std::mutex> lock(mutex);
  std::shared_ptr<Slot<T>> &slot = slots[hash];
  if (!slot)
    slot = std::make_shared<Slot<T>>();
  return slot;
}

std::optional<Entry> KernelCache::load(const CacheKey &key, bool &mayStore) const {
  mayStore = false;
  if (!disk_)
    return std::nullopt;
  Entry entry;
  DiskCache::Found found = disk_->load(key, entry);
  // Another user could have written the folder or the entry: write nothing there either.
  mayStore = found != DiskCache::Found::Refused;
  if (found == DiskCache::Found::Hit)
    return entry;
  if (found == DiskCache::Found::Corrupt)
    counters().corrupt++;
  return std::nullopt;
}

std::shared_ptr<codegen::CompiledCpuKernel>
KernelCache::get(const CacheKey &key, const std::function<const ir::LoweredFunc &()> &lower) {
#ifdef TDSL_HAVE_LLVM
  std::string hash = key.hash();
  std::shared_ptr<Slot<std::shared_ptr<codegen::CompiledCpuKernel>>> slot = slotOf(objects, hash);
  std::lock_guard<std::mutex> lock(slot->mutex);
  if (slot->value) {
    counters().memoryHits++;
    return slot->value;
  }
  bool mayStore = false;
  if (onDisk(key) && (slot->value = loadCompiled(key, mayStore)))
    return slot->value;
  counters().misses++;
  std::string symbol = "tdsl_" + hash.substr(0, 16);
  codegen::LlvmCodeGenOptions options;
  if (const std::string *level = key.field("code for"))
    std::tie(options.cpu, options.features) = codegen::cpuForCode(*level);
  options.optimize = key.optimized();
  options.boundsChecks = key.boundsChecked();
  std::string object = codegen::compileToObject(lower(), symbol, options);
  slot->value = codegen::loadObject(object, symbol);
  TDSL_CHECK(slot->value) << "the JIT cannot load the object code it just compiled";
  if (mayStore)
    disk_->store(key, symbol, object);
  return slot->value;
#else
  (void)key, (void)lower;
  TDSL_UNREACHABLE("the kernel cache needs the LLVM backend");
#endif
}

std::shared_ptr<codegen::CompiledCpuKernel> KernelCache::find(const CacheKey &key) {
#ifdef TDSL_HAVE_LLVM
  std::shared_ptr<Slot<std::shared_ptr<codegen::CompiledCpuKernel>>> slot =
      slotOf(objects, key.hash());
  std::lock_guard<std::mutex> lock(slot->mutex);
  if (slot->value) {
    counters().memoryHits++;
    return slot->value;
  }
  bool mayStore = false;
  if (onDisk(key))
    slot->value = loadCompiled(key, mayStore);
  return slot->value;
#else
  (void)key;
  TDSL_UNREACHABLE("the kernel cache needs the LLVM backend");
#endif
}

bool KernelCache::onDisk(const CacheKey &key) {
  // Debug code and the fast tier's code stay in this process: a process that finds a kernel on
  // disk runs its optimized code at once.
  return key.optimized() && !key.boundsChecked();
}

std::shared_ptr<codegen::CompiledCpuKernel> KernelCache::loadCompiled(const CacheKey &key,
                                                                      bool &mayStore) const {
#ifdef TDSL_HAVE_LLVM
  std::optional<Entry> entry = load(key, mayStore);
  if (!entry)
    return nullptr;
  std::shared_ptr<codegen::CompiledCpuKernel> compiled =
      codegen::loadObject(entry->object, entry->symbol);
  if (compiled)
    counters().diskHits++;
  else
    counters().corrupt++; // Whole, but not loadable: recompile and replace.
  return compiled;
#else
  (void)key, (void)mayStore;
  TDSL_UNREACHABLE("the kernel cache needs the LLVM backend");
#endif
}

std::shared_ptr<const std::string> KernelCache::cubin(const CacheKey &key) {
  const std::string *source = key.field("cuda"), *kernel = key.field("kernel"),
                    *arch = key.field("arch");
  TDSL_CHECK(source && kernel && arch) << "KernelCache::cubin needs a key from makeCudaKey";
  std::shared_ptr<Slot<std::shared_ptr<const std::string>>> slot = slotOf(cubins, key.hash());
  std::lock_guard<std::mutex> lock(slot->mutex);
  if (slot->value) {
    counters().memoryHits++;
    return slot->value;
  }
  bool mayStore = false;
  if (std::optional<Entry> entry = load(key, mayStore)) {
    slot->value = std::make_shared<const std::string>(std::move(entry->object));
    counters().diskHits++;
    return slot->value;
  }
  counters().misses++;
  auto cubin =
      std::make_shared<const std::string>(codegen::compileToCubin(*source, *kernel, *arch));
  if (mayStore)
    disk_->store(key, "", *cubin);
  slot->value = std::move(cubin);
  return slot->value;
}

} // namespace tdsl::cache
