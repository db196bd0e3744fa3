// The CUDA path on the CPU: the kernel's CUDA C compiled against a model of the CUDA execution
// model and launched as the GPU launcher would (see CudaEmulator.h).
#include "codegen/cuda/CudaEmulator.h"

#include "codegen/cuda/CudaLaunch.h"
#include "tdsl/Diagnostics.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace tdsl::codegen {

namespace {

/// What CUDA C needs beyond C++, and the execution model: blocks run one after another, each
/// block's threads are fibers that run in turn until they finish or wait at a barrier
/// (a __syncthreads, a __syncwarp, the exchange of a shuffle). A barrier lets its threads go on
/// once every thread of its block (or warp) that has not finished waits there; threads that wait
/// at different barriers are an error, reported instead of hanging.
constexpr const char *kModel = R"model(// ---- tdsl: the CUDA execution model on the CPU ----
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define TDSL_CUDA_EMULATION 1 // The prelude's tensor-core helpers then call the model's.

struct tdsl_emu_dim3 { unsigned x = 0, y = 0, z = 0; };
static tdsl_emu_dim3 threadIdx, blockIdx, blockDim, gridDim;
struct __attribute__((aligned(16))) float4 { float x, y, z, w; };
struct __attribute__((aligned(16))) int4 { int x, y, z, w; };
struct __attribute__((aligned(16))) uint4 { unsigned x, y, z, w; }; // 8 16-bit values.
static inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
static inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
// CUDA's integer min and max (floats have fminf and fmaxf).
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline long long min(long long a, long long b) { return a < b ? a : b; }
static inline long long max(long long a, long long b) { return a > b ? a : b; }
// dp4a: c plus the dot product of the 4 signed bytes of a and of b, wrapping.
static inline int __dp4a(int a, int b, int c) {
  unsigned sum = (unsigned)c;
  for (int l = 0; l < 4; ++l)
    sum += (unsigned)((int)(signed char)(a >> (8 * l)) * (int)(signed char)(b >> (8 * l)));
  return (int)sum;
}

template <typename To, typename From> static inline To tdsl_emu_bits(From from) {
  To to;
  std::memcpy(&to, &from, sizeof to);
  return to;
}
static inline float __int_as_float(int i) { return tdsl_emu_bits<float>(i); }
static inline float __uint_as_float(unsigned i) { return tdsl_emu_bits<float>(i); }
static inline int __float_as_int(float f) { return tdsl_emu_bits<int>(f); }
static inline unsigned __float_as_uint(float f) { return tdsl_emu_bits<unsigned>(f); }
static inline long long __double_as_longlong(double d) { return tdsl_emu_bits<long long>(d); }
static inline double __longlong_as_double(long long i) { return tdsl_emu_bits<double>(i); }
static inline float __double2float_rz(double d) { // Rounded toward zero.
  float f = (float)d;
  if (std::isnan(d) || std::isinf(d))
    return f;
  if (std::isinf(f))
    return std::copysign(FLT_MAX, f);
  if (std::fabs((double)f) > std::fabs(d))
    f = std::nextafter(f, 0.0f);
  return f;
}

// The running block's dynamic shared memory (`extern __shared__`); static __shared__ arrays
// are function statics, one per kernel, reused by the blocks in turn.
// Aligned as a swizzled tile's pattern needs (the pattern is a function of the address).
__attribute__((aligned(1024))) unsigned char tdsl_smem[256 * 1024];

enum { TDSL_EMU_READY, TDSL_EMU_AT_BLOCK_BARRIER, TDSL_EMU_AT_WARP_BARRIER, TDSL_EMU_DONE };
struct tdsl_emu_fiber {
  void *stack = nullptr; // Its saved stack pointer while it waits.
  int state = TDSL_EMU_READY;
};

// Fibers switch by hand: saving the callee-saved registers on the stack and swapping stack
// pointers (swapcontext's two system calls a switch made the model 50 times slower).
#if !defined(__x86_64__)
#error "the CUDA emulation switches fibers on x86-64 only"
#endif
extern "C" void tdsl_emu_switch(void **save, void *load);
asm(R"(
  .text
  .globl tdsl_emu_switch
  .hidden tdsl_emu_switch
  .type tdsl_emu_switch, @function
tdsl_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size tdsl_emu_switch, .-tdsl_emu_switch
)");

static std::vector<tdsl_emu_fiber> tdsl_emu_fibers;
static std::unique_ptr<char[]> tdsl_emu_stacks;
static const size_t tdsl_emu_stack_bytes = 256 * 1024;
static void *tdsl_emu_scheduler;
static unsigned tdsl_emu_current;
static void (*tdsl_emu_kernel)(void *const *);
static void *const *tdsl_emu_args;
static unsigned long long tdsl_emu_lanes[1024];

static void tdsl_emu_wait(int state) {
  tdsl_emu_fiber &f = tdsl_emu_fibers[tdsl_emu_current];
  f.state = state;
  tdsl_emu_switch(&f.stack, tdsl_emu_scheduler);
}
static void __syncthreads() { tdsl_emu_wait(TDSL_EMU_AT_BLOCK_BARRIER); }
static void __syncwarp(unsigned = 0xffffffffu) { tdsl_emu_wait(TDSL_EMU_AT_WARP_BARRIER); }
template <typename T> static T __shfl_xor_sync(unsigned, T value, int laneMask) {
  static_assert(sizeof(T) <= sizeof(unsigned long long), "shuffle of a wide type");
  unsigned me = threadIdx.x;
  std::memcpy(&tdsl_emu_lanes[me], &value, sizeof(T));
  __syncwarp();
  unsigned other = (me & ~31u) | ((me ^ (unsigned)laneMask) & 31u);
  T result = value;
  if (other < blockDim.x)
    std::memcpy(&result, &tdsl_emu_lanes[other], sizeof(T));
  __syncwarp(); // Nobody overwrites a lane before every lane has read.
  return result;
}

// mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}.f32 (the prelude's tdsl_mma_sync_*), an
// exchange within the warp like a shuffle: each lane publishes its fragments, then computes its
// own accumulators from everyone's. The fragment layout is the PTX ISA's ("Matrix Fragments for
// mma.m16n8k16 with floating point type"), with lane = 4 * groupID + threadID_in_group, g and q:
//   A (16x16, row-major), a[0..8): a[i] is row g + 8 * (i / 2 % 2),
//     column 2 q + i % 2 + 8 * (i / 4);
//   B (16x8, k by n), b[0..4): b[i] is row 2 q + i % 2 + 8 * (i / 2), column g;
//   C and D (16x8), d[0..4): d[i] is row g + 8 * (i / 2), column 2 q + i % 2.
// The products are exact in f32; they and d are summed in double and rounded once.
static unsigned short tdsl_emu_mma_a[1024][8], tdsl_emu_mma_b[1024][4];
template <typename Widen>
static void tdsl_emu_mma_m16n8k16(float *d, const unsigned short *a, const unsigned short *b,
                                  Widen widen) {
  unsigned me = threadIdx.x, warp = me & ~31u;
  std::memcpy(tdsl_emu_mma_a[me], a, sizeof tdsl_emu_mma_a[me]);
  std::memcpy(tdsl_emu_mma_b[me], b, sizeof tdsl_emu_mma_b[me]);
  __syncwarp();
  unsigned g = (me & 31u) / 4, q = me & 3u;
  for (int i = 0; i < 4; ++i) {
    unsigned row = g + 8 * (i / 2), column = 2 * q + i % 2;
    double sum = d[i];
    for (unsigned k = 0; k < 16; ++k) {
      unsigned aLane = 4 * (row % 8) + k % 8 / 2, bLane = 4 * column + k % 8 / 2;
      int aAt = (int)(k % 2 + 2 * (row / 8) + 4 * (k / 8)), bAt = (int)(k % 2 + 2 * (k / 8));
      if (warp + aLane < blockDim.x && warp + bLane < blockDim.x) // A lane short: zeros.
        sum += (double)widen(tdsl_emu_mma_a[warp + aLane][aAt]) *
               (double)widen(tdsl_emu_mma_b[warp + bLane][bAt]);
    }
    d[i] = (float)sum;
  }
  __syncwarp(); // Nobody overwrites its fragments before every lane has read them.
}

// wgmma.mma_async.m64n256k16.f32 (the wgmma helpers' tdsl_wgmma_*), as ir::GpuOp's Wgmma says:
// d[0..128) += A x B for the thread's warpgroup, A 64x16 and B 16x256 in swizzled tiles of the
// dynamic shared memory at byte addresses a and b: A(m, k) at a + 128 m + 2 k; B(k, j) at
// b + 128 j + 2 k (k-major), or at b + 8192 (j / 64) + 128 k + 2 (j % 64) (j-major); each
// address swizzled by `swizzled` (the prelude's tdsl_swizzled). The accumulators are laid out as mma.sync's, warp w of the
// warpgroup holding rows 16 w..: d[4 n + h] is row 16 w + g + 8 (h / 2), column 8 n + 2 q + h % 2.
// Both tiles are in shared memory, so each thread computes its own accumulators: synchronous,
// summed in double and rounded once as the mma.sync model does.
template <typename Widen, typename Swizzled>
static void tdsl_emu_wgmma(float *d, unsigned a, unsigned b, bool jMajor, Widen widen,
                           Swizzled swizzled) {
  auto at = [&](unsigned address) {
    unsigned short v;
    std::memcpy(&v, tdsl_smem + swizzled(address), sizeof v);
    return v;
  };
  unsigned lane = threadIdx.x & 31u, w = (threadIdx.x & 127u) / 32, g = lane / 4, q = lane & 3u;
  for (unsigned n = 0; n < 32; ++n)
    for (unsigned h = 0; h < 4; ++h) {
      unsigned m = 16 * w + g + 8 * (h / 2), j = 8 * n + 2 * q + h % 2;
      double sum = d[4 * n + h];
      for (unsigned k = 0; k < 16; ++k) {
        unsigned bAt = jMajor ? b + 8192 * (j / 64) + 128 * k + 2 * (j % 64) : b + 128 * j + 2 * k;
        sum += (double)widen(at(a + 128 * m + 2 * k)) * (double)widen(at(bAt));
      }
      d[4 * n + h] = (float)sum;
    }
}

[[noreturn]] static void tdsl_emu_thread() {
  tdsl_emu_kernel(tdsl_emu_args);
  tdsl_emu_fiber &f = tdsl_emu_fibers[tdsl_emu_current];
  f.state = TDSL_EMU_DONE;
  tdsl_emu_switch(&f.stack, tdsl_emu_scheduler); // Never resumed.
  __builtin_unreachable();
}

/// A fiber that starts in tdsl_emu_thread: its stack as tdsl_emu_switch leaves one, with six
/// saved registers and tdsl_emu_thread as the return address, aligned as a call would leave it.
static void *tdsl_emu_new_stack(char *base) {
  void **top = reinterpret_cast<void **>(base + tdsl_emu_stack_bytes);
  *--top = nullptr; // tdsl_emu_thread's own return address: it never returns.
  *--top = reinterpret_cast<void *>(&tdsl_emu_thread);
  for (int r = 0; r < 6; ++r)
    *--top = nullptr;
  return top;
}

/// Releases the threads of [first, last) when every one that has not finished waits in `state`.
static bool tdsl_emu_release(unsigned first, unsigned last, int state) {
  bool any = false;
  for (unsigned t = first; t < last; ++t) {
    int s = tdsl_emu_fibers[t].state;
    if (s == TDSL_EMU_DONE)
      continue;
    if (s != state)
      return false;
    any = true;
  }
  for (unsigned t = first; t < last; ++t)
    if (tdsl_emu_fibers[t].state == state)
      tdsl_emu_fibers[t].state = TDSL_EMU_READY;
  return any;
}

struct tdsl_emu_arg { // A kernel's pointer argument, whatever its type.
  void *p;
  template <typename T> operator T *() const { return static_cast<T *>(p); }
};

extern "C" __attribute__((visibility("default"))) int
tdsl_emu_run(void (*kernel)(void *const *), void *const *args, unsigned grid, unsigned block,
             long long sharedBytes, char *error, unsigned long errorBytes) {
  if (block == 0 || block > 1024 || sharedBytes > (long long)sizeof tdsl_smem) {
    std::snprintf(error, errorBytes, "a launch of %u threads with %lld bytes of shared memory",
                  block, sharedBytes);
    return 1;
  }
  tdsl_emu_kernel = kernel;
  tdsl_emu_args = args;
  gridDim = {grid, 1, 1};
  blockDim = {block, 1, 1};
  tdsl_emu_fibers.assign(block, tdsl_emu_fiber{});
  if (!tdsl_emu_stacks) // Untouched pages cost nothing.
    tdsl_emu_stacks.reset(new char[1024 * tdsl_emu_stack_bytes]);
  for (unsigned b = 0; b < grid; ++b) {
    blockIdx = {b, 0, 0};
    for (unsigned t = 0; t < block; ++t)
      tdsl_emu_fibers[t] = {tdsl_emu_new_stack(tdsl_emu_stacks.get() + t * tdsl_emu_stack_bytes),
                            TDSL_EMU_READY};
    for (;;) {
      for (unsigned t = 0; t < block; ++t) {
        if (tdsl_emu_fibers[t].state != TDSL_EMU_READY)
          continue;
        tdsl_emu_current = t;
        threadIdx = {t, 0, 0};
        tdsl_emu_switch(&tdsl_emu_scheduler, tdsl_emu_fibers[t].stack);
      }
      // Every thread has finished or waits: warps first (their threads may then reach the
      // block's barrier), then the block.
      bool released = false;
      for (unsigned w = 0; w < block; w += 32)
        released |= tdsl_emu_release(w, w + 32 < block ? w + 32 : block, TDSL_EMU_AT_WARP_BARRIER);
      if (!released)
        released = tdsl_emu_release(0, block, TDSL_EMU_AT_BLOCK_BARRIER);
      if (released)
        continue;
      unsigned counts[4] = {0, 0, 0, 0};
      for (const tdsl_emu_fiber &f : tdsl_emu_fibers)
        ++counts[f.state];
      if (counts[TDSL_EMU_DONE] == block)
        break;
      std::snprintf(error, errorBytes,
                    "threads of block %u wait at different barriers (%u at __syncthreads, %u at "
                    "a warp barrier or shuffle, %u finished)",
                    b, counts[TDSL_EMU_AT_BLOCK_BARRIER], counts[TDSL_EMU_AT_WARP_BARRIER],
                    counts[TDSL_EMU_DONE]);
return 1;
}
}
return 0;
}
// ---- the kernel's CUDA C ----
)model";

/// Blocks a launch runs at most: grid-stride loops make every kernel correct for any grid, and
/// more than one block checks that a block running again finds its shared memory as it left it.
constexpr int64_t kEmulatedGrid = 3;

void replaceAll(std::string &text, const std::string &from, const std::string &to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
}

std::string readFile(const std::filesystem::path &path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

} // namespace

bool cudaEmulationRequested() {
  const char *value = std::getenv("TDSL_CUDA_EMULATE");
  return value && std::string(value) == "1";
}

bool emulationCanRun(const std::string &source) {
  // The prelude's tensor-core helpers (and the wgmma helpers, which end with the same line) run
  // on the model; the kernels after them must bring no inline PTX of their own.
  size_t end = source.rfind("// ---- end of prelude ----");
  std::string kernels = source.substr(end == std::string::npos ? 0 : end);
  return kernels.find("asm volatile") == std::string::npos;
}

EmulatedCudaKernel::EmulatedCudaKernel(const ir::LoweredFunc &gpu, const std::string &source,
                                       std::string location)
    : func_(gpu), plan_(func_), location_(std::move(location)) {
  auto fail = [&](const std::string &why) {
    throw RuntimeError("CUDA emulation of kernel " + func_.name + " (" + location_ + "): " + why);
  };
  if (!emulationCanRun(source))
    fail("its kernels bring inline PTX of their own, which the emulation cannot run");
  // Block-scope shared arrays are function statics; dynamic shared memory is the model's pool.
  std::string code = source;
  replaceAll(code, "extern __shared__", "extern");
  replaceAll(code, "__shared__", "static");
  std::ostringstream text;
  text << kModel << code << "\n// ---- entry points: the kernels called with an argument array\n";
  size_t buffers = func_.params.size() + plan_.heapCount();
  for (size_t i = 0; i < plan_.launches().size(); ++i) {
    text << "extern \"C\" __attribute__((visibility(\"default\"))) void tdsl_emu_entry_" << i
         << "(void *const *a) {\n  " << plan_.launches()[i]->name << "(";
    for (size_t a = 0; a < buffers + func_.symbols.size(); ++a)
      text << (a ? ", " : "")
           << (a < buffers ? "tdsl_emu_arg{a[" + std::to_string(a) + "]}"
                           : "*(const long long *)a[" + std::to_string(a) + "]");
    text << ");\n}\n";
  }

  namespace fs = std::filesystem;
  std::string pattern = (fs::temp_directory_path() / "tdsl-emulation-XXXXXX").string();
  if (!mkdtemp(pattern.data()))
    fail("cannot create a temporary folder: " + std::string(std::strerror(errno)));
  fs::path dir = pattern;
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
    }
  } cleanup{dir};
  std::ofstream(dir / "kernel.cpp") << text.str();
  // Multiply-adds contract into FMAs, as NVRTC's do by default.
  const char *cxx = std::getenv("CXX");
  std::string command = "'" + std::string(cxx && *cxx ? cxx : "c++") +
                        "' -std=c++17 -O2 -march=native -ffp-contract=fast -fPIC -shared "
                        "-fvisibility=hidden -fno-strict-aliasing -w -o '" +
                        (dir / "kernel.so").string() + "' '" + (dir / "kernel.cpp").string() +
                        "' > '" + (dir / "log").string() + "' 2>&1";
  if (std::system(command.c_str()) != 0)
    fail("the host compiler rejected its CUDA C:\n" + readFile(dir / "log"));
  library_ = dlopen((dir / "kernel.so").c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library_)
    fail("cannot load the compiled kernel: " + std::string(dlerror()));
  run_ = reinterpret_cast<Run>(dlsym(library_, "tdsl_emu_run"));
  for (size_t i = 0; i < plan_.launches().size() && run_; ++i) {
    std::string name = "tdsl_emu_entry_" + std::to_string(i);
    entries_.push_back(reinterpret_cast<void (*)(void *const *)>(dlsym(library_, name.c_str())));
    if (!entries_.back())
      fail("no entry point " + name);
  }
  if (!run_)
    fail("no tdsl_emu_run in the compiled kernel");
}

EmulatedCudaKernel::~EmulatedCudaKernel() {
  if (library_)
    dlclose(library_);
}

void EmulatedCudaKernel::run(const std::vector<Tensor> &inputs, const std::vector<Tensor> &outputs,
                             const int64_t *symbols) const {
  std::lock_guard<std::mutex> lock(mutex_);
  // Fresh memory for the outputs (as on the device) and the heap intermediates.
  std::vector<std::vector<unsigned char>> fresh;
  for (const Tensor &t : outputs)
    fresh.emplace_back(t.nbytes());
  for (size_t bytes : plan_.heapBytes(symbols))
    fresh.emplace_back(bytes);
  std::vector<void *> args;
  for (const Tensor &t : inputs)
    args.push_back(t.data());
  for (std::vector<unsigned char> &b : fresh)
    args.push_back(b.data());
  std::vector<int64_t> values(symbols, symbols + func_.symbols.size());
  for (int64_t &v : values)
    args.push_back(&v);

  for (size_t i = 0; i < plan_.launches().size(); ++i) {
    LaunchShape shape = plan_.shape(i, symbols);
    if (shape.blocks <= 0 || shape.threads <= 0)
      continue;
    char error[512] = "";
    if (run_(entries_[i], args.data(), static_cast<unsigned>(std::min(shape.blocks, kEmulatedGrid)),
             static_cast<unsigned>(shape.threads), shape.sharedBytes, error, sizeof error) != 0)
      throw RuntimeError("CUDA emulation of " + plan_.launches()[i]->name + " (" + location_ +
                         "): " + error);
  }
  for (size_t o = 0; o < outputs.size(); ++o)
    if (outputs[o].nbytes() > 0)
      std::memcpy(outputs[o].data(), fresh[o].data(), outputs[o].nbytes());
}

} // namespace tdsl::codegen
