// The run-time side of ahead-of-time kernels (runtime/AotKernel.h): the first call reads the
// kernel's description and picks the version for this CPU; every call checks its shapes and
// symbols, runs the code on tdsl's pool or the caller's, and turns failures into a status and a
// message. No exception leaves tdsl_aot_call.
#include "runtime/AotKernel.h"

#include "runtime/Arena.h"
#include "runtime/KernelAbi.h"
#include "runtime/ThreadPool.h"
#include "support/Strings.h"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>

namespace tdsl::runtime::aot {

thread_local std::string tlsLastError;

int fail(int status, std::string message) {
  tlsLastError = std::move(message);
  return status;
}

namespace {

/// Whether this CPU has the LLVM-named feature. Features outside the table are not checked:
/// the levels tdsl compiles for (x86-64-v3, x86-64-v4) need none beyond it.
bool cpuHas(std::string_view feature) {
  __builtin_cpu_init();
#define TDSL_CPU_FEATURE(name)                                                                     \
  if (feature == name)                                                                             \
    return __builtin_cpu_supports(name);
  TDSL_CPU_FEATURE("sse3")
  TDSL_CPU_FEATURE("ssse3")
  TDSL_CPU_FEATURE("sse4.1")
  TDSL_CPU_FEATURE("sse4.2")
  TDSL_CPU_FEATURE("popcnt")
  TDSL_CPU_FEATURE("avx")
  TDSL_CPU_FEATURE("avx2")
  TDSL_CPU_FEATURE("fma")
  TDSL_CPU_FEATURE("bmi")
  TDSL_CPU_FEATURE("bmi2")
  TDSL_CPU_FEATURE("avx512f")
  TDSL_CPU_FEATURE("avx512bw")
  TDSL_CPU_FEATURE("avx512cd")
  TDSL_CPU_FEATURE("avx512dq")
  TDSL_CPU_FEATURE("avx512vl")
  TDSL_CPU_FEATURE("avx512vnni")
  TDSL_CPU_FEATURE("avx512bf16")
  TDSL_CPU_FEATURE("avx512vbmi")
  TDSL_CPU_FEATURE("avx512vbmi2")
  TDSL_CPU_FEATURE("avx512ifma")
  TDSL_CPU_FEATURE("avx512bitalg")
  TDSL_CPU_FEATURE("avx512vpopcntdq")
#undef TDSL_CPU_FEATURE
  return true;
}

/// The CPU level `TDSL_AOT_MAX_CPU` caps the choice of versions at, so that one machine can run
/// (and test) each of them: "x86-64-v3" takes no AVX-512 version, as on a CPU without it.
enum class CpuCap { None, AvxTwo, Unknown };
CpuCap cpuCap() {
  const char *cap = std::getenv("TDSL_AOT_MAX_CPU");
  if (!cap || std::string_view(cap) == "x86-64-v4" || std::string_view(cap) == "host")
    return CpuCap::None;
  return std::string_view(cap) == "x86-64-v3" ? CpuCap::AvxTwo : CpuCap::Unknown;
}

/// The features of `list` ("avx2,fma") this CPU lacks, or that the cap takes away, comma
/// separated; empty when it has all.
std::string missingFeatures(std::string_view list, CpuCap cap) {
  std::string missing;
  for (std::string_view feature : splitList(list)) {
    bool capped = cap == CpuCap::AvxTwo && feature.starts_with("avx512");
    if (capped || !cpuHas(feature))
      missing += (missing.empty() ? "" : ", ") + std::string(feature) +
                 (capped ? " (above TDSL_AOT_MAX_CPU)" : "");
  }
  return missing;
}

/// What the first call of a kernel prepares for every later one.
struct KernelState {
  KernelDescription description;
  /// Every tensor's dims, inputs then outputs, as the checks of each call read them: most dims
  /// are one symbol or a constant, which need no program.
  struct Dim {
    int64_t symbol = -1; // -1: `constant`, or `program` when it is not null.
    int64_t constant = 0;
    const ShapeProgram *program = nullptr;
  };
  std::vector<std::vector<Dim>> dims;
  tdsl_kernel_entry entry = nullptr; // Null: no version runs on this CPU (`unsupported` says).
  std::string unsupported;
  Arena scratch; // Its heap intermediates, reused across calls.
};

std::unique_ptr<KernelState> prepare(const tdsl_aot_kernel &kernel) {
  auto state = std::make_unique<KernelState>();
  std::optional<KernelDescription> description = KernelDescription::decode(kernel.description);
  if (!description) { // Only a damaged object file gets here.
    state->unsupported = "the kernel's description in its object file is damaged";
    return state;
  }
  state->description = std::move(*description);
  for (const auto *tensors : {&state->description.inputs, &state->description.outputs})
    for (const TensorDescription &t : *tensors) {
      state->dims.emplace_back();
      for (const ShapeProgram &p : t.dims) {
        KernelState::Dim dim;
        if (p.size() == 1 && p[0].op == Token::Op::Symbol)
          dim.symbol = p[0].value;
        else if (p.size() == 1 && p[0].op == Token::Op::Const)
          dim.constant = p[0].value;
        else
          dim.program = &p;
        state->dims.back().push_back(dim);
      }
    }
  CpuCap cap = cpuCap();
  if (cap == CpuCap::Unknown) {
    state->unsupported = "TDSL_AOT_MAX_CPU=" + std::string(std::getenv("TDSL_AOT_MAX_CPU")) +
                         " is not a CPU level (x86-64-v3, x86-64-v4 or host)";
    return state;
  }
  for (int64_t v = 0; v < kernel.numVersions && !state->entry; ++v) {
    std::string missing = missingFeatures(kernel.versions[v].features, cap);
    if (missing.empty())
      state->entry = kernel.versions[v].entry;
    else
      state->unsupported += (state->unsupported.empty() ? "" : "; ") + std::string("version ") +
                            std::to_string(v) + " needs " + missing;
  }
  if (!state->entry)
    state->unsupported = "kernel " + state->description.name + " has no version for this CPU (" +
                         state->unsupported + ")";
  return state;
}

KernelState &stateOf(tdsl_aot_kernel &kernel) {
  return publishedOnce<KernelState>(kernel.state, [&] { return prepare(kernel); });
}

std::string shapeString(const int64_t *shape, size_t rank) {
  std::string s = "[";
  for (size_t d = 0; d < rank; ++d)
    s += (d ? ", " : "") + std::to_string(shape[d]);
  return s + "]";
}

std::string symbolValues(const KernelDescription &k, const int64_t *symbols) {
  std::string s;
  for (size_t i = 0; i < k.symbols.size(); ++i)
    s += (i ? ", " : " for ") + k.symbols[i] + "=" + std::to_string(symbols[i]);
  return s;
}

std::string replace(std::string text, std::string_view placeholder, const std::string &value) {
  for (size_t at = 0; (at = text.find(placeholder, at)) != std::string::npos; at += value.size())
    text.replace(at, placeholder.size(), value);
  return text;
}

} // namespace

int reportGatherChecks(const KernelDescription &k, const int64_t *results, const int64_t *symbols) {
  for (size_t c = 0; c < k.checks.size(); ++c) {
    if (results[c] == INT64_MAX) // ir::kNoGatherViolation: every index was in range.
      continue;
    std::optional<int64_t> size = evaluate(k.checks[c].size, symbols);
    std::string message = replace(k.checks[c].message, "{index}", std::to_string(results[c]));
    return fail(TDSL_INDEX_OUT_OF_RANGE,
                replace(std::move(message), "{size}", std::to_string(size.value_or(0))));
  }
  return TDSL_OK;
}

int checkCall(const KernelDescription &k, void *const *tensors, const int64_t *const *shapes,
              const int64_t *symbols) {
  for (size_t s = 0; s < k.symbols.size(); ++s)
    if (symbols[s] < 0)
      return fail(TDSL_SHAPE_MISMATCH, "kernel " + k.name + ": symbol " + k.symbols[s] + " is " +
                                           std::to_string(symbols[s]) + "; sizes are at least 0");
  size_t numInputs = k.inputs.size();
  for (size_t t = 0; t < numInputs + k.outputs.size(); ++t) {
    bool input = t < numInputs;
    const TensorDescription &desc = input ? k.inputs[t] : k.outputs[t - numInputs];
    int64_t expected[64];
    for (size_t d = 0; d < desc.dims.size(); ++d) {
      std::optional<int64_t> extent = evaluate(desc.dims[d], symbols);
      if (!extent || *extent < 0)
        return fail(TDSL_SHAPE_MISMATCH,
                    std::string(input ? "input " : "output ") + desc.name + ": " + desc.type +
                        " has dim " + std::to_string(d) +
                        (extent ? " = " + std::to_string(*extent) : " overflowing 64 bits") +
                        symbolValues(k, symbols));
      expected[d] = *extent;
    }
    const int64_t *shape = shapes ? shapes[t] : nullptr;
    if (shape && std::memcmp(shape, expected, desc.dims.size() * sizeof(int64_t)) != 0)
      return fail(TDSL_SHAPE_MISMATCH, std::string(input ? "input " : "output ") + desc.name +
                                           " of kernel " + k.name + ": expected " + desc.type +
                                           " = " + shapeString(expected, desc.dims.size()) +
                                           symbolValues(k, symbols) + ", got shape " +
                                           shapeString(shape, desc.dims.size()));
    if (!input)
      for (size_t i = 0; i < numInputs; ++i)
        if (tensors[t] && tensors[t] == tensors[i])
          return fail(TDSL_SHAPE_MISMATCH, "output " + desc.name + " of kernel " + k.name +
                                               " is also input " + k.inputs[i].name +
                                               "; outputs must not overlap inputs");
  }
  for (const ShapeProgram &extent : k.extents)
    if (!evaluate(extent, symbols))
      return fail(TDSL_SHAPE_MISMATCH, "kernel " + k.name +
                                           " would loop over more points than 64 bits count" +
                                           symbolValues(k, symbols));
  return TDSL_OK;
}

/// Whether elements `strides` apart are where a contiguous row-major tensor of `shape` has them:
/// a dim of extent 1 may have any stride, and an empty tensor is contiguous whatever its strides.
bool isContiguous(const int64_t *shape, const int64_t *strides, size_t rank) {
  int64_t expected = 1;
  bool contiguous = true;
  for (size_t d = rank; d-- > 0;) {
    if (shape[d] == 0)
      return true;
    contiguous &= shape[d] == 1 || strides[d] == expected;
    expected *= shape[d]; // Cannot wrap: the checks bounded every extent's product.
  }
  return contiguous;
}

/// A strided tensor's checks: its elements' byte offsets fit 64 bits and, for an output, no two
/// elements share an address (writes must not collide). Returns a status.
int checkStrides(const KernelDescription &k, size_t t, const int64_t *shape,
                 const int64_t *strides) {
  bool input = t < k.inputs.size();
  const TensorDescription &desc = input ? k.inputs[t] : k.outputs[t - k.inputs.size()];
  size_t rank = desc.dims.size();
  std::string what = std::string(input ? "input " : "output ") + desc.name + " of kernel " +
                     k.name + ": strides " + shapeString(strides, rank) + " for shape " +
                     shapeString(shape, rank);
  for (size_t d = 0; d < rank; ++d)
    if (shape[d] == 0)
      return TDSL_OK; // No element is addressed.
  // Dims by increasing |stride|: an output's elements are distinct when each stride steps past
  // everything the smaller strides reach (the condition Halide's and numpy's checks use).
  std::vector<size_t> order;
  for (size_t d = 0; d < rank; ++d)
    if (shape[d] > 1)
      order.push_back(d);
  auto magnitude = [&](size_t d) {
    return strides[d] == INT64_MIN ? INT64_MAX : std::abs(strides[d]);
  };
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return magnitude(a) < magnitude(b); });
  int64_t reach = 0; // The largest distance, in elements, between two elements so far.
  for (size_t d : order) {
    if (!input && magnitude(d) <= reach)
      return fail(TDSL_BAD_STRIDES, what + " put two elements at one address; an output's "
                                           "elements must be distinct");
    int64_t span, reachBytes;
    if (strides[d] == INT64_MIN || __builtin_mul_overflow(shape[d] - 1, magnitude(d), &span) ||
        __builtin_add_overflow(reach, span, &reach) ||
        __builtin_mul_overflow(reach, desc.elementBytes, &reachBytes))
      return fail(TDSL_BAD_STRIDES, what + " address bytes past 64 bits");
  }
  return TDSL_OK;
}

namespace {

/// checkCall's verdict without its messages, quickly: true when the call may run.
bool passesChecks(const KernelState &state, void *const *tensors, const int64_t *const *shapes,
                  const int64_t *symbols) {
  const KernelDescription &k = state.description;
  for (size_t s = 0; s < k.symbols.size(); ++s)
    if (symbols[s] < 0)
      return false;
  size_t numInputs = k.inputs.size();
  for (size_t t = 0; t < state.dims.size(); ++t) {
    const int64_t *shape = shapes ? shapes[t] : nullptr;
    for (size_t d = 0; d < state.dims[t].size(); ++d) {
      const KernelState::Dim &dim = state.dims[t][d];
      int64_t extent = dim.symbol >= 0 ? symbols[dim.symbol] : dim.constant;
      if (dim.program) {
        std::optional<int64_t> value = evaluate(*dim.program, symbols);
        if (!value || *value < 0)
          return false;
        extent = *value;
      }
      if (shape && shape[d] != extent)
        return false;
    }
    if (t >= numInputs)
      for (size_t i = 0; i < numInputs; ++i)
        if (tensors[t] && tensors[t] == tensors[i])
          return false;
  }
  for (const ShapeProgram &extent : k.extents)
    if (!evaluate(extent, symbols))
      return false;
  return true;
}

/// Runs the kernel's code on `tensors` (contiguous) and reports its failures.
int run(KernelState &state, void *const *tensors, const int64_t *symbols,
        const tdsl_call_options *options) {
  const KernelDescription &k = state.description;
  constexpr size_t kMaxBuffers = 64;
  size_t numTensors = k.inputs.size() + k.outputs.size();
  void *buffers[kMaxBuffers];
  int64_t checks[kMaxBuffers];
  std::memcpy(buffers, tensors, numTensors * sizeof(void *));
  for (size_t c = 0; c < k.checks.size(); ++c)
    buffers[numTensors + c] = &checks[c];

  CallRuntime runtime;
  int threads = options ? options->threads : 0;
  runtime.threads = threads == 0 ? ThreadPool::hardwareThreads()
                                 : std::min(threads, ThreadPool::hardwareThreads());
  runtime.pool = runtime.threads > 1 ? &ThreadPool::shared() : nullptr;
  runtime.scratch = &state.scratch;
  if (options && options->parallel_for) {
    runtime.parallelFor = options->parallel_for;
    runtime.parallelForUser = options->parallel_for_user;
  }
  state.entry(buffers, symbols, &runtime);

  if (uint64_t bytes = runtime.failedBytes.load(std::memory_order_relaxed))
    return fail(TDSL_OUT_OF_MEMORY, "kernel " + k.name + ": cannot allocate " +
                                        std::to_string(bytes) + " bytes for an intermediate");
  return reportGatherChecks(k, checks, symbols);
}

/// Copies the elements of a tensor of `shape` from `src` to `dst`, each with its strides (in
/// elements), innermost dim fastest.
void copyStrided(std::byte *dst, const int64_t *dstStrides, const std::byte *src,
                 const int64_t *srcStrides, const int64_t *shape, size_t rank, int64_t bytes) {
  for (size_t d = 0; d < rank; ++d)
    if (shape[d] == 0)
      return;
  int64_t inner = rank ? shape[rank - 1] : 1;
  int64_t dstInner = rank ? dstStrides[rank - 1] * bytes : 0;
  int64_t srcInner = rank ? srcStrides[rank - 1] * bytes : 0;
  int64_t index[64] = {};
  while (true) {
    std::byte *to = dst;
    const std::byte *from = src;
    for (size_t d = 0; d + 1 < rank; ++d) {
      to += index[d] * dstStrides[d] * bytes;
      from += index[d] * srcStrides[d] * bytes;
    }
    for (int64_t i = 0; i < inner; ++i)
      std::memcpy(to + i * dstInner, from + i * srcInner, static_cast<size_t>(bytes));
    size_t d = rank > 0 ? rank - 1 : 0;
    while (d-- > 0 && ++index[d] == shape[d])
      index[d] = 0;
    if (d == SIZE_MAX)
      return;
  }
}

/// Frees a scratch copy.
struct AlignedFree {
  void operator()(std::byte *p) const { ::operator delete[](p, std::align_val_t{64}); }
};

/// A call with some tensors not contiguous: each such tensor gets contiguous scratch, an input
/// copied in before the code runs and an output copied out after it succeeded.
int runStrided(KernelState &state, void *const *tensors, const int64_t *const *strides,
               const int64_t *symbols, const tdsl_call_options *options) {
  const KernelDescription &k = state.description;
  size_t numInputs = k.inputs.size(), numTensors = numInputs + k.outputs.size();
  void *contiguous[64];
  std::memcpy(contiguous, tensors, numTensors * sizeof(void *));
  std::vector<std::unique_ptr<std::byte[], AlignedFree>> scratch(numTensors);
  std::vector<std::vector<int64_t>> shapes(numTensors), packed(numTensors);
  for (size_t t = 0; t < numTensors; ++t) {
    const TensorDescription &desc = t < numInputs ? k.inputs[t] : k.outputs[t - numInputs];
    for (const ShapeProgram &dim : desc.dims)
      shapes[t].push_back(*evaluate(dim, symbols)); // The checks evaluated each one.
    size_t rank = shapes[t].size();
    if (!strides[t] || isContiguous(shapes[t].data(), strides[t], rank))
      continue;
    if (int status = checkStrides(k, t, shapes[t].data(), strides[t]))
      return status;
    int64_t elements = 1, bytes;
    packed[t].assign(rank, 0);
    for (size_t d = rank; d-- > 0;) {
      packed[t][d] = elements;
      elements *= shapes[t][d];
    }
    if (__builtin_mul_overflow(elements, desc.elementBytes, &bytes))
      bytes = INT64_MAX;
    scratch[t].reset(new (std::align_val_t{64}, std::nothrow) std::byte[bytes]);
    if (!scratch[t])
      return fail(TDSL_OUT_OF_MEMORY, "kernel " + k.name + ": cannot allocate " +
                                          std::to_string(bytes) +
                                          " bytes for a contiguous copy of " + desc.name);
    contiguous[t] = scratch[t].get();
    if (t < numInputs)
      copyStrided(scratch[t].get(), packed[t].data(), static_cast<const std::byte *>(tensors[t]),
                  strides[t], shapes[t].data(), rank, desc.elementBytes);
  }
  if (int status = run(state, contiguous, symbols, options))
    return status;
  for (size_t t = numInputs; t < numTensors; ++t)
    if (scratch[t])
      copyStrided(static_cast<std::byte *>(tensors[t]), strides[t], scratch[t].get(),
                  packed[t].data(), shapes[t].data(), shapes[t].size(),
                  k.outputs[t - numInputs].elementBytes);
  return TDSL_OK;
}

int call(tdsl_aot_kernel &kernel, void *const *tensors, const int64_t *const *shapes,
         const int64_t *const *strides, const int64_t *symbols, const tdsl_call_options *options) {
  KernelState &state = stateOf(kernel);
  if (!state.entry)
    return fail(TDSL_UNSUPPORTED_CPU, state.unsupported);
  const KernelDescription &k = state.description;
  if (!passesChecks(state, tensors, shapes, symbols)) // The detailed checks say what is wrong.
    if (int status = checkCall(k, tensors, shapes, symbols))
      return status;
  if (strides)
    for (size_t t = 0; t < state.dims.size(); ++t)
      if (strides[t])
        return runStrided(state, tensors, strides, symbols, options);
  return run(state, tensors, symbols, options);
}

} // namespace
} // namespace tdsl::runtime::aot

extern "C" int tdsl_aot_call(tdsl_aot_kernel *kernel, void *const *tensors,
                             const int64_t *const *shapes, const int64_t *const *strides,
                             const int64_t *symbols, const tdsl_call_options *options) noexcept {
  try {
    return tdsl::runtime::aot::call(*kernel, tensors, shapes, strides, symbols, options);
  } catch (const std::exception &error) { // Only memory for messages or the state can fail.
    return tdsl::runtime::aot::fail(TDSL_OUT_OF_MEMORY, error.what());
  }
}

extern "C" const char *tdsl_last_error(void) { return tdsl::runtime::aot::tlsLastError.c_str(); }
