// libFuzzer target: the whole pipeline. Arbitrary bytes are compiled with the public API; every
// kernel of a valid program is run, compiled for the CPU, on seeded random inputs with small
// shapes (each shape symbol 1, 2 or 3, chosen from the input's hash) and compared with the
// reference interpreter, with every load and store bounds-checked (JitOptions::boundsChecks). A
// mismatch, a nondeterministic result, an unexpected exception (an index out of range must fail
// both alike), a bounds violation or a crash
// aborts, except a mismatch that f32 arithmetic itself explains (api/Numerics.h,
// excuseForMismatch: the interpreter rounding each f32 operation agrees, or the output is too
// ill-conditioned to judge). Invalid programs must fail with CompileError only.
//
// Kernels are compiled in the fast mode (Tiering::FastOnly: no LLVM IR passes, fast
// instruction selection): LLVM's O3 pipeline and aggressive codegen took ~2/3 of the time, and
// tdsl's own passes, which are what this target fuzzes, run the same in both modes. Set
// TDSL_FUZZ_OPTIMIZE=1 in the environment to fuzz the fully optimized code instead (slower).
// Mutations that leave a kernel's tensor IR unchanged (comments, spacing, names of other
// kernels) hit the Jit's memory cache, which keeps bounds-checked kernels too; the Jit is
// replaced every kJitLifetime inputs so that the cached code does not grow without bound.
#include "api/Numerics.h"
#include "tdsl/tdsl.h"

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace {

/// TDSL_FUZZ_OPTIMIZE=1: compile with LLVM's optimizations (the default mode of tdsl).
bool optimizeFromEnvironment() {
  const char *value = std::getenv("TDSL_FUZZ_OPTIMIZE");
  return value && std::string_view(value) != "" && std::string_view(value) != "0";
}

constexpr int kJitLifetime = 512;

tdsl::Jit &jit() {
  static std::unique_ptr<tdsl::Jit> instance;
  static int uses = 0;
  if (!instance || ++uses > kJitLifetime) {
    tdsl::JitOptions options;
    options.threads = 1;
    options.boundsChecks = true; // Confirms the static bounds proofs: a violation aborts.
    options.diskCache = false;
    options.tiering = optimizeFromEnvironment() ? Tiering::OptimizedOnly : Tiering::FastOnly;
    instance = std::make_unique<tdsl::Jit>(options); // The old one's kernels are gone by now.
    uses = 0;
  }
  return *instance;
}

[[noreturn]] void fail(const std::string &what) {
  std::fprintf(stderr, "fuzz_pipeline: %s\n", what.c_str());
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace tdsl;
  std::string source(reinterpret_cast<const char *>(data), size);
  Module module;
  try {
    module = jit().compile(source, "fuzz.tdsl");
  } catch (const CompileError &) {
    return 0;
  }
  uint64_t hash = std::hash<std::string>{}(source);
  for (const std::string &name : module.kernelNames()) {
    Kernel kernel = module.kernel(name);
    std::map<std::string, int64_t> symbols;
    std::vector<Tensor> inputs;
    std::vector<std::vector<std::string>> dims = kernel.inputDims();
    int64_t elements = 0;
    for (size_t i = 0; i < dims.size(); ++i) {
      std::vector<int64_t> shape;
      int64_t n = 1;
      for (const std::string &dim : dims[i]) {
        int64_t extent;
        if (std::isdigit(static_cast<unsigned char>(dim[0]))) {
          extent = dim.size() > 4 ? 100000 : std::stoll(dim);
        } else {
          auto [it, fresh] = symbols.emplace(dim, 0);
          if (fresh) {
            it->second = int64_t(1 + hash % 3);
            hash = hash * 6364136223846793005ULL + 1442695040888963407ULL;
          }
          extent = it->second;
        }
        shape.push_back(extent);
        n *= extent;
      }
      elements += n;
      inputs.push_back(Tensor::randn(shape, kernel.inputDType(i), 17 + i));
    }
    if (elements > 4096)
      return 0; // Literal dims too large to run quickly.
    try {
      std::vector<std::vector<int64_t>> outShapes = kernel.outputShapes(inputs);
      for (const auto &shape : outShapes) {
        int64_t n = 1;
        for (int64_t d : shape)
          n *= d;
        if (n > 65536)
          return 0;
      }
    } catch (const RuntimeError &) {
      continue; // No valid output shape for these sizes.
    }
    // A gather's index out of range (random integer inputs are in [-8, 8]) fails the compiled
    // call and the interpreter alike (E093, the same message); any other error is a bug.
    std::vector<Tensor> actual, again, reference;
    std::string failed, expected;
    try {
      actual = kernel(inputs);
      again = kernel(inputs);
    } catch (const RuntimeError &e) {
      if (e.code() != ErrorCode::IndexOutOfRange)
        fail("kernel " + name + ": run-time error on valid inputs: " + e.what());
      failed = e.what();
    }
    try {
      reference = kernel.interpret(inputs);
    } catch (const RuntimeError &e) {
      if (e.code() != ErrorCode::IndexOutOfRange)
        fail("kernel " + name + ": run-time error on valid inputs: " + e.what());
      expected = e.what();
    }
    if (failed != expected)
      fail("kernel " + name + ": the compiled call says '" + (failed.empty() ? "ok" : failed) +
           "' but the interpreter '" + (expected.empty() ? "ok" : expected) + "'");
    if (!failed.empty())
      continue;
    // An f64 output computed from narrower floats carries their rounding: compiled code rounds
    // every f32 operation, the interpreter computes in f64 and rounds only at stores (e.g.
    // `d = f64(a * b + max(a, b)) / 3.0` of f32 scalars, tests/e2e/calls.tdsl, differs by one
    // f32 ulp). Such an output is judged at the narrowest input float's precision.
    bool narrowFloatInput = false;
    for (size_t i = 0; i < inputs.size(); ++i) {
      DType d = kernel.inputDType(i);
      narrowFloatInput |= d == DType::F32 || d == DType::F16 || d == DType::BF16;
    }
    for (size_t o = 0; o < actual.size(); ++o) {
      bool judgeAsF32 = narrowFloatInput && kernel.outputDType(o) == DType::F64;
      bool mismatch = !withinTolerance(actual[o], reference[o], judgeAsF32);
      if (mismatch &&
          excuseForMismatch(kernel, inputs, actual[o], reference, o, judgeAsF32).empty())
        fail("kernel " + name + " output " + kernel.outputNames()[o] + " differs from the " +
             "interpreter: " +
             describe(runtime::compare(actual[o], reference[o]), actual[o].shape()));
      if (actual[o].nbytes() && std::memcmp(actual[o].data(), again[o].data(), actual[o].nbytes()))
        fail("kernel " + name + " output " + kernel.outputNames()[o] + " nondeterministic");
    }
  }
  return 0;
}
