// A kernel compiled ahead of time as its object file describes it to the kernel runtime: what
// the generated C function checks a call against (the symbols, the tensors' shapes as programs
// over the symbols, the gather checks' messages) and its machine code, one version per CPU level.
// api/Aot.cpp writes a KernelDescription from the IR; runtime/AotCall.cpp reads it back at the
// kernel's first call, so the run-time side needs no compiler.
#pragma once

#include "tdsl/AotRuntime.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tdsl::runtime::aot {

/// One step of a shape program.
struct Token {
  enum class Op : uint8_t {
    Const,
    Symbol,
    Add,
    Sub,
    Mul,
    FloorDiv,
    Mod,
    Min,
    Max,
    Neg,
    // Comparisons and logic give 0 or 1; Select takes a condition and two values (CUDA launch
    // geometry chooses block sizes with them).
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    Not,
    Select,
  };
  Op op = Op::Const;
  int64_t value = 0; // Const: the value; Symbol: the symbol's position.
};

/// An i64 expression over the kernel's symbols in prefix order (`+ s0 1` is N + 1).
using ShapeProgram = std::vector<Token>;

/// The value of `program` for these symbol values; nullopt where i64 arithmetic would wrap, as
/// the JIT's checks say (ir/Shapes.cpp).
std::optional<int64_t> evaluate(const ShapeProgram &program, const int64_t *symbols);

struct TensorDescription {
  std::string name;
  std::string type;         // As the source writes it, for messages: "f32[N, D]".
  int64_t elementBytes = 0; // What a strided tensor's copy moves per element.
  std::vector<ShapeProgram> dims;
};

struct GatherDescription {
  ShapeProgram size; // The extent of the checked dim.
  /// The error message with "{index}" and "{size}" where the call's values go.
  std::string message;
};

struct KernelDescription {
  std::string name;
  std::vector<std::string> symbols;
  std::vector<TensorDescription> inputs, outputs;
  /// Extents of loops that are not linear in the symbols: a call whose values make one
  /// overflow i64 is refused (the bounds proofs assume exact integers).
  std::vector<ShapeProgram> extents;
  std::vector<GatherDescription> checks; // In the order of the check results' buffers.

  /// A text form, one item a line, that decode reads back.
  std::string encode() const;
  static std::optional<KernelDescription> decode(std::string_view text);
};

/// Sets the message tdsl_last_error() returns on this thread; returns `status`.
int fail(int status, std::string message);

/// Checks a call's symbols, the shapes given (each may be null) and that no output is an
/// input; returns a tdsl_status, with the message set when it is not TDSL_OK.
int checkCall(const KernelDescription &k, void *const *tensors, const int64_t *const *shapes,
              const int64_t *symbols);

/// Whether elements `strides` apart lie where a contiguous row-major tensor of `shape` has them:
/// a dim of extent 1 may have any stride, and an empty tensor is contiguous whatever its strides.
bool isContiguous(const int64_t *shape, const int64_t *strides, size_t rank);

/// The checks of tensor `t`'s strides (inputs, then outputs) for a call with the shape `shape`:
/// its elements' byte offsets fit 64 bits and, for an output, no two elements share an address.
/// Returns a tdsl_status (TDSL_BAD_STRIDES), with the message set when it is not TDSL_OK.
int checkStrides(const KernelDescription &k, size_t t, const int64_t *shape,
                 const int64_t *strides);

/// The status of a call whose gather checks gave `results` (ir::kNoGatherViolation: in range),
/// with the JIT's message for the first that failed.
int reportGatherChecks(const KernelDescription &k, const int64_t *results, const int64_t *symbols);

/// One GPU kernel of a kernel compiled for CUDA, launched in order with the others.
struct LaunchDescription {
  std::string name; // Its `extern "C"` function in the image.
  /// Values the geometry is computed from, in order: each a program over the symbols and the
  /// lets before it (`s<numSymbols + j>` is let j).
  std::vector<ShapeProgram> lets;
  /// Over the symbols and every let: the blocks (the grid may stop short; every kernel strides
  /// over its blocks), threads a block, and dynamic shared memory bytes.
  ShapeProgram blocks, threads, sharedBytes;
  /// Launched only where this is nonzero (one of alternative kernels); empty: always.
  ShapeProgram condition;
};

/// A heap intermediate of a CUDA kernel: one allocation of the workspace, passed to every launch.
struct HeapDescription {
  size_t launch = 0; // The first launch that uses it: its lets may appear in `bytes`.
  ShapeProgram bytes;
};

/// What the launcher needs of a kernel's image for one GPU architecture: its launches and its
/// heap intermediates, in the order of the launched functions' parameters.
struct GpuDescription {
  std::vector<LaunchDescription> launches;
  std::vector<HeapDescription> heap;

  std::string encode() const;
  static std::optional<GpuDescription> decode(std::string_view text, size_t numSymbols);
};

/// The state a kernel's first call prepares (`prepare()` returns a std::unique_ptr<State>),
/// published in the kernel's `state` slot: the first caller to publish wins, and the state lives
/// as long as the process, like the kernel's code.
template <typename State, typename Prepare> State &publishedOnce(void *&slot, Prepare prepare) {
  auto &published = reinterpret_cast<std::atomic<State *> &>(slot);
  if (State *state = published.load(std::memory_order_acquire))
    return *state;
  std::unique_ptr<State> fresh = prepare();
  State *expected = nullptr;
  if (published.compare_exchange_strong(expected, fresh.get(), std::memory_order_acq_rel))
    return *fresh.release();
  return *expected;
}

} // namespace tdsl::runtime::aot

extern "C" {

/// The calling convention of compiled kernels (ir::LoweredFunc).
typedef void (*tdsl_kernel_entry)(void *const *buffers, const int64_t *symbols, void *runtime);

/// One machine code version of a kernel: the CPU features it needs (LLVM's names, comma
/// separated, e.g. "avx2,avx512f,fma") and its entry.
struct tdsl_aot_version {
  const char *features;
  tdsl_kernel_entry entry;
};

/// What the object file holds per kernel (codegen/llvm/LlvmBackend.cpp lays it out so):
/// its description's text (KernelDescription::encode), its versions best first, and a pointer
/// the runtime sets at the first call (null before).
struct tdsl_aot_kernel {
  const char *description;
  const tdsl_aot_version *versions;
  int64_t numVersions;
  void *state;
};

/// The body of every generated C function: checks the call against the kernel's description,
/// runs the version for this CPU, reports gather and memory failures. `tensors` holds the
/// inputs' then the outputs' data, `shapes` their shapes (each may be null: not checked),
/// `strides` their strides in elements (null, or any one null: contiguous), `symbols` the
/// symbols' values. A tensor whose strides are not contiguous goes through contiguous scratch:
/// an input copied in before the code runs, an output copied out after. Returns a tdsl_status;
/// never throws.
int tdsl_aot_call(tdsl_aot_kernel *kernel, void *const *tensors, const int64_t *const *shapes,
                  const int64_t *const *strides, const int64_t *symbols,
                  const tdsl_call_options *options) noexcept;

/// One GPU architecture's code of a CUDA kernel (api/Aot.cpp compiles it with NVRTC).
struct tdsl_aot_cuda_image {
  const char *arch;          // NVRTC's real architecture: "sm_80", "sm_90a".
  int64_t computeCapability; // 80, 90: a cubin runs on exactly this one.
  int64_t archSpecific;      // Non-zero for "sm_90a": its PTX runs on that capability only.
  const char *ptx;           // NUL-terminated PTX for the architecture's virtual one.
  const void *cubin;         // Null when NVRTC could not make one.
  int64_t cubinBytes;
  const char *launches; // GpuDescription::encode().
};

/// What the object file holds per CUDA kernel: its description (checks), its images in the
/// order asked, and a pointer the runtime sets at the first call.
struct tdsl_aot_cuda_kernel {
  const char *description;
  const tdsl_aot_cuda_image *images;
  int64_t numImages;
  void *state;
};

/// The body of every generated CUDA function: checks the call, loads the image for the device
/// at the first call in each context (a cubin of its compute capability, else PTX that the
/// driver compiles), launches on `stream` (a CUstream; null: the default stream) with the device
/// pointers in `tensors`, and reads back the gather checks (then waiting for the stream).
/// `strides` as for tdsl_aot_call: a tensor whose strides are not contiguous is copied on the
/// stream into contiguous device scratch (an input) or out of it (an output) by the image's
/// strided copy kernels. Returns a tdsl_status; never throws.
int tdsl_aot_cuda_call(tdsl_aot_cuda_kernel *kernel, void *const *tensors,
                       const int64_t *const *shapes, const int64_t *const *strides,
                       const int64_t *symbols, void *stream) noexcept;

} // extern "C"
