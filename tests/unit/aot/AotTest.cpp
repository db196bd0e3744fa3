// Kernels compiled ahead of time (tdsl aot) and called through their generated headers: every
// kernel of the e2e suite, at several shapes (odd and empty ones included), gives bit for bit
// the JIT's results on the same inputs; bad calls return a status and the JIT's message; a
// caller's pool runs the parallel loops.
#include "AotCall.h"
#include "AotLibraries.h"
#include "examples/aot/Inputs.h"
#include "tdsl/tdsl.h"
#include "tests/unit/common/SuitePrograms.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

namespace {

using namespace tdsl;
using namespace tdsl::testing_support;

struct AotLibrary {
  const char *program;
  std::vector<AotEntry> kernels;
};

const std::vector<AotLibrary> &e2eLibraries() {
  static const std::vector<AotLibrary> libraries = {TDSL_AOT_E2E_TABLE};
  return libraries;
}

/// The version of the libraries that runs: x86-64-v4 (the best on this machine), or the level
/// TDSL_AOT_MAX_CPU caps them at (ctest's aot_e2e_x86-64-v3 runs the suite so).
std::string libraryLevel() {
  const char *cap = std::getenv("TDSL_AOT_MAX_CPU");
  return cap ? cap : "x86-64-v4";
}

/// The JIT the libraries are compared with: the same CPU level and thread count (the machine's)
/// as the version that runs.
Jit jitLikeTheLibraries() {
  JitOptions options;
  options.target.cpuLevel = libraryLevel();
  options.tiering = Tiering::OptimizedOnly;
  options.diskCache = false;
  return Jit(options);
}

bool canRunLibraryLevel() {
  if (libraryLevel() == "x86-64-v3")
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
}

const std::string kCannotRun = "this CPU cannot run the libraries' version compared";

/// The call of `kernel` on `inputs` into `outputs`.
AotCall callOf(const Kernel &kernel, const std::vector<Tensor> &inputs,
               const std::vector<Tensor> &outputs) {
  AotCall call;
  for (const std::vector<Tensor> *tensors : {&inputs, &outputs})
    for (const Tensor &t : *tensors) {
      call.data.push_back(t.data());
      call.shapes.push_back(t.shape());
    }
  call.symbols = symbolsOf(kernel, inputs);
  return call;
}

std::vector<Tensor> freshOutputs(const Kernel &kernel, const std::vector<Tensor> &inputs) {
  std::vector<Tensor> outputs;
  std::vector<std::vector<int64_t>> shapes = kernel.outputShapes(inputs);
  for (size_t o = 0; o < shapes.size(); ++o)
    outputs.push_back(Tensor::zeros(shapes[o], kernel.outputDType(o)));
  return outputs;
}

void expectBitIdentical(const Tensor &expected, const Tensor &actual, const std::string &what) {
  ASSERT_EQ(expected.shape(), actual.shape()) << what;
  EXPECT_EQ(std::memcmp(expected.data(), actual.data(), expected.nbytes()), 0)
      << what << ": the AOT result differs from the JIT's";
}

class AotSuite : public testing::TestWithParam<size_t> {};

TEST_P(AotSuite, BitIdenticalToTheJit) {
  if (!canRunLibraryLevel())
    GTEST_SKIP() << kCannotRun << " (" << libraryLevel() << ")";
  const AotLibrary &library = e2eLibraries()[GetParam()];
  Module module = jitLikeTheLibraries().compileFile(library.program);
  ASSERT_EQ(module.kernelNames().size(), library.kernels.size()) << library.program;
  std::map<std::string, const AotEntry *> entries;
  for (const AotEntry &entry : library.kernels)
    entries[entry.kernel] = &entry;
  std::mt19937 rng(2024);
  forEachSuiteRun(
      module, rng, {0, 1, 3, 8, 17, 33}, 3, 13,
      [&](const Kernel &kernel, const std::string &name, const std::vector<Tensor> &inputs) {
        ASSERT_TRUE(entries.count(name)) << name << " is missing from the library";
        std::vector<Tensor> outputs = freshOutputs(kernel, inputs);
        int status = entries[name]->call(callOf(kernel, inputs, outputs));
        std::vector<Tensor> expected;
        try {
          expected = kernel(inputs);
        } catch (const RuntimeError &error) { // A gather out of range: the same message.
          EXPECT_EQ(status, TDSL_INDEX_OUT_OF_RANGE) << name;
          EXPECT_EQ(tdsl_last_error(), std::string(error.what())) << name;
          return;
        }
        ASSERT_EQ(status, TDSL_OK) << name << ": " << tdsl_last_error();
        for (size_t o = 0; o < outputs.size(); ++o)
          expectBitIdentical(expected[o], outputs[o], name + " output " + std::to_string(o));
      });
}

// The _strided functions on views (transposed, padded, and contiguous ones beside them, empty
// extents included) give bit for bit the JIT's results on the same data made contiguous, and
// write nothing outside an output's elements.
TEST_P(AotSuite, StridedViewsGiveTheJitsBits) {
  if (!canRunLibraryLevel())
    GTEST_SKIP() << kCannotRun << " (" << libraryLevel() << ")";
  const AotLibrary &library = e2eLibraries()[GetParam()];
  Module module = jitLikeTheLibraries().compileFile(library.program);
  std::map<std::string, const AotEntry *> entries;
  for (const AotEntry &entry : library.kernels)
    entries[entry.kernel] = &entry;
  const std::pair<Layout, Layout> layouts[] = {{Layout::Transposed, Layout::Contiguous},
                                               {Layout::Padded, Layout::Padded},
                                               {Layout::Contiguous, Layout::Transposed}};
  std::mt19937 rng(2025);
  for (const auto &[inputLayout, outputLayout] : layouts)
    forEachSuiteRun(
        module, rng, {0, 3, 17}, 2, 29,
        [&](const Kernel &kernel, const std::string &name, const std::vector<Tensor> &inputs) {
          std::vector<Tensor> outputs = freshOutputs(kernel, inputs);
          std::vector<StridedBuffer> buffers;
          for (size_t t = 0; t < inputs.size() + outputs.size(); ++t) {
            bool input = t < inputs.size();
            const Tensor &tensor = input ? inputs[t] : outputs[t - inputs.size()];
            buffers.emplace_back(tensor.shape(), tensor.dtype(),
                                 input ? inputLayout : outputLayout);
            if (input)
              buffers.back().copyFrom(tensor);
          }
          AotCall call = callOf(kernel, inputs, outputs);
          for (size_t t = 0; t < buffers.size(); ++t) {
            bool contiguous =
                (t < inputs.size() ? inputLayout : outputLayout) == Layout::Contiguous;
            call.strides.push_back(contiguous ? std::vector<int64_t>{} : buffers[t].strides);
            if (!contiguous)
              call.data[t] = buffers[t].bytes.data();
          }
          int status = entries.at(name)->callStrided(call);
          std::vector<Tensor> expected;
          try {
            expected = kernel(inputs);
          } catch (const RuntimeError &error) {
            EXPECT_EQ(status, TDSL_INDEX_OUT_OF_RANGE) << name;
            EXPECT_EQ(tdsl_last_error(), std::string(error.what())) << name;
            return;
          }
          ASSERT_EQ(status, TDSL_OK) << name << ": " << tdsl_last_error();
          for (size_t o = 0; o < outputs.size(); ++o) {
            std::string what = name + " output " + std::to_string(o);
            if (outputLayout == Layout::Contiguous) {
              expectBitIdentical(expected[o], outputs[o], what);
              continue;
            }
            const StridedBuffer &out = buffers[inputs.size() + o];
            expectBitIdentical(expected[o], out.gather(outputs[o].dtype()), what);
            EXPECT_TRUE(out.paddingUntouched()) << what << " was written outside its elements";
          }
        });
}

INSTANTIATE_TEST_SUITE_P(E2e, AotSuite, testing::Range<size_t>(0, e2eLibraries().size()),
                         [](const testing::TestParamInfo<size_t> &info) {
                           std::string stem =
                               std::filesystem::path(e2eLibraries()[info.param].program).stem();
                           for (char &c : stem)
                             c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return stem;
                         });

/// examples/aot's kernels on its inputs (examples/aot/Inputs.h).
struct ExampleRun {
  std::vector<float> x = aot_example::softmaxInput(), y = std::vector<float>(x.size());
  Tensor xTensor = Tensor::view(x.data(), {aot_example::kRows, aot_example::kCols}, DType::F32);
};

Module exampleModule() {
  return jitLikeTheLibraries().compileFile(std::string(TDSL_SOURCE_DIR) +
                                           "/examples/aot/kernels.tdsl");
}

TEST(AotExample, MatchesTheJit) {
  if (!canRunLibraryLevel())
    GTEST_SKIP() << kCannotRun << " (" << libraryLevel() << ")";
  using namespace aot_example;
  Module module = exampleModule();
  ExampleRun run;
  const int64_t shape[] = {kRows, kCols};
  ASSERT_EQ(aot_example_nn_softmax(run.x.data(), shape, run.y.data(), shape, kRows, kCols, nullptr),
            TDSL_OK);
  expectBitIdentical(module.kernel("softmax")({run.xTensor})[0],
                     Tensor::view(run.y.data(), {kRows, kCols}, DType::F32), "softmax");

  std::vector<float> a = matmulA(), b = matmulB(), c(kM * kN);
  ASSERT_EQ(aot_example_nn_matmul(a.data(), nullptr, b.data(), nullptr, c.data(), nullptr, kM, kK,
                                  kN, nullptr),
            TDSL_OK);
  expectBitIdentical(module.kernel("matmul")({Tensor::view(a.data(), {kM, kK}, DType::F32),
                                              Tensor::view(b.data(), {kK, kN}, DType::F32)})[0],
                     Tensor::view(c.data(), {kM, kN}, DType::F32), "matmul");
}

// The x86-64-v3 version (the only one of aot_example_nn_v3) runs on any AVX2 machine; its math
// is AVX2's, so it is held to the interpreter's tolerance rather than to this host's JIT.
TEST(AotExample, AvxTwoVersionMatchesTheInterpreter) {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
    GTEST_SKIP() << "this CPU cannot run x86-64-v3 code";
  Module module = exampleModule();
  std::mt19937 rng(7);
  for (int64_t rows : {1, 5, 64})
    for (int64_t cols : {1, 7, 33, 300}) {
      std::vector<Tensor> x = {Tensor::randn({rows, cols}, DType::F32, rng())};
      Tensor y = Tensor::zeros({rows, cols}, DType::F32);
      ASSERT_EQ(aot_example_nn_v3_softmax(static_cast<const float *>(x[0].data()), nullptr,
                                          static_cast<float *>(y.data()), nullptr, rows, cols,
                                          nullptr),
                TDSL_OK);
      expectMatchesInterpreter(module.kernel("softmax"), "softmax", x, {y});
      std::vector<Tensor> ab = {Tensor::randn({rows, cols}, DType::F32, rng()),
                                Tensor::randn({cols, 9}, DType::F32, rng())};
      Tensor c = Tensor::zeros({rows, 9}, DType::F32);
      ASSERT_EQ(aot_example_nn_v3_matmul(static_cast<const float *>(ab[0].data()), nullptr,
                                         static_cast<const float *>(ab[1].data()), nullptr,
                                         static_cast<float *>(c.data()), nullptr, rows, cols, 9,
                                         nullptr),
                TDSL_OK);
      expectMatchesInterpreter(module.kernel("matmul"), "matmul", ab, {c});
    }
}

// The x86-64-v3 version gives bit for bit what the JIT compiled for that level gives, on this
// machine whatever its own level (JitOptions' Target::cpuLevel).
TEST(AotExample, AvxTwoVersionMatchesTheJitAtItsLevel) {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
    GTEST_SKIP() << "this CPU cannot run x86-64-v3 code";
  JitOptions options;
  options.target.cpuLevel = "x86-64-v3";
  options.tiering = Tiering::OptimizedOnly;
  options.diskCache = false;
  Module module =
      Jit(options).compileFile(std::string(TDSL_SOURCE_DIR) + "/examples/aot/kernels.tdsl");
  std::mt19937 rng(11);
  for (int64_t rows : {0, 1, 5, 64})
    for (int64_t cols : {1, 7, 33, 300}) {
      Tensor x = Tensor::randn({rows, cols}, DType::F32, rng());
      Tensor y = Tensor::zeros({rows, cols}, DType::F32);
      ASSERT_EQ(aot_example_nn_v3_softmax(static_cast<const float *>(x.data()), nullptr,
                                          static_cast<float *>(y.data()), nullptr, rows, cols,
                                          nullptr),
                TDSL_OK);
      expectBitIdentical(module.kernel("softmax")({x})[0], y, "softmax");
      Tensor a = Tensor::randn({rows, cols}, DType::F32, rng());
      Tensor b = Tensor::randn({cols, 9}, DType::F32, rng());
      Tensor c = Tensor::zeros({rows, 9}, DType::F32);
      ASSERT_EQ(aot_example_nn_v3_matmul(static_cast<const float *>(a.data()), nullptr,
                                         static_cast<const float *>(b.data()), nullptr,
                                         static_cast<float *>(c.data()), nullptr, rows, cols, 9,
                                         nullptr),
                TDSL_OK);
      expectBitIdentical(module.kernel("matmul")({a, b})[0], c, "matmul");
    }
}

TEST(AotErrors, MismatchedShapeReturnsAnErrorAndComputesNothing) {
  ExampleRun run;
  const int64_t shape[] = {3, 5}, wrong[] = {3, 4};
  EXPECT_EQ(aot_example_nn_softmax(run.x.data(), shape, run.y.data(), wrong, 3, 5, nullptr),
            TDSL_SHAPE_MISMATCH);
  EXPECT_STREQ(tdsl_last_error(), "output y of kernel softmax: expected f32[N, D] = [3, 5] for "
                                  "N=3, D=5, got shape [3, 4]");
  EXPECT_EQ(run.y, std::vector<float>(run.y.size(), 0.0f));
  EXPECT_EQ(aot_example_nn_softmax(run.x.data(), wrong, run.y.data(), shape, 3, 5, nullptr),
            TDSL_SHAPE_MISMATCH);
  EXPECT_STREQ(tdsl_last_error(), "input x of kernel softmax: expected f32[N, D] = [3, 5] for "
                                  "N=3, D=5, got shape [3, 4]");
}

// A TDSL_AOT_MAX_CPU that names no CPU level refuses every call with the reason. ctest's
// aot_cpu_cap_unknown runs this with the variable set so; without it there is nothing to check.
TEST(AotCpuCap, NoCpuLevelIsRefusedWithTheReason) {
  const char *cap = std::getenv("TDSL_AOT_MAX_CPU");
  if (!cap || std::string(cap) != "x86-64-v9")
    GTEST_SKIP() << "run with TDSL_AOT_MAX_CPU=x86-64-v9";
  ExampleRun run;
  EXPECT_EQ(aot_example_nn_softmax(run.x.data(), nullptr, run.y.data(), nullptr, 3, 5, nullptr),
            TDSL_UNSUPPORTED_CPU);
  EXPECT_STREQ(tdsl_last_error(),
               "TDSL_AOT_MAX_CPU=x86-64-v9 is not a CPU level (x86-64-v3, x86-64-v4 or host)");
}

TEST(AotErrors, NegativeSymbolAndOverlappingOutputAreRefused) {
  ExampleRun run;
  EXPECT_EQ(aot_example_nn_softmax(run.x.data(), nullptr, run.y.data(), nullptr, -1, 5, nullptr),
            TDSL_SHAPE_MISMATCH);
  EXPECT_STREQ(tdsl_last_error(), "kernel softmax: symbol N is -1; sizes are at least 0");
  EXPECT_EQ(aot_example_nn_softmax(run.x.data(), nullptr, run.x.data(), nullptr, 3, 5, nullptr),
            TDSL_SHAPE_MISMATCH);
  EXPECT_STREQ(tdsl_last_error(),
               "output y of kernel softmax is also input x; outputs must not overlap inputs");
}

TEST(AotErrors, GatherOutOfRangeGivesTheJitsMessage) {
  Module module =
      jitLikeTheLibraries().compileFile(std::string(TDSL_SOURCE_DIR) + "/tests/e2e/gathers.tdsl");
  Kernel embed = module.kernel("embed");
  std::vector<float> table(4 * 2, 1.0f), y(3 * 2);
  std::vector<int32_t> ids = {0, 7, 1};
  std::vector<Tensor> inputs = {Tensor::view(table.data(), {4, 2}, DType::F32),
                                Tensor::view(ids.data(), {3}, DType::I32)};
  std::string expected;
  try {
    embed(inputs);
  } catch (const RuntimeError &error) {
    expected = error.what();
  }
  ASSERT_FALSE(expected.empty()) << "the JIT accepted index 7 of a 4-row table";
  EXPECT_EQ(aot_e2e_gathers_embed(table.data(), nullptr, ids.data(), nullptr, y.data(), nullptr, 4,
                                  2, 3, nullptr),
            TDSL_INDEX_OUT_OF_RANGE);
  EXPECT_EQ(tdsl_last_error(), expected);
}

TEST(AotErrors, BadStridesAreRefused) {
  ExampleRun run;
  const int64_t shape[] = {3, 5}, overlapping[] = {1, 1}, huge[] = {INT64_MAX / 2, 1};
  EXPECT_EQ(aot_example_nn_softmax_strided(run.x.data(), shape, nullptr, run.y.data(), shape,
                                           overlapping, 3, 5, nullptr),
            TDSL_BAD_STRIDES);
  EXPECT_STREQ(tdsl_last_error(),
               "output y of kernel softmax: strides [1, 1] for shape [3, 5] put two elements at "
               "one address; an output's elements must be distinct");
  EXPECT_EQ(run.y, std::vector<float>(run.y.size(), 0.0f));
  EXPECT_EQ(aot_example_nn_softmax_strided(run.x.data(), shape, huge, run.y.data(), shape, nullptr,
                                           3, 5, nullptr),
            TDSL_BAD_STRIDES);
  EXPECT_STREQ(tdsl_last_error(), "input x of kernel softmax: strides [4611686018427387903, 1] "
                                  "for shape [3, 5] address bytes past 64 bits");
  const int64_t wrong[] = {3, 4}, rowMajor[] = {5, 1};
  EXPECT_EQ(aot_example_nn_softmax_strided(run.x.data(), wrong, rowMajor, run.y.data(), shape,
                                           rowMajor, 3, 5, nullptr),
            TDSL_SHAPE_MISMATCH);
  EXPECT_STREQ(tdsl_last_error(), "input x of kernel softmax: expected f32[N, D] = [3, 5] for "
                                  "N=3, D=5, got shape [3, 4]");
}

// An input's zero stride repeats its elements (a broadcast row), as DLPack and numpy allow.
TEST(AotStrides, ZeroStrideInputBroadcasts) {
  if (!canRunLibraryLevel())
    GTEST_SKIP() << kCannotRun << " (" << libraryLevel() << ")";
  const int64_t rows = 4, cols = 9;
  std::vector<float> row = aot_example::filled(cols, 0.25f), y(rows * cols);
  const int64_t strides[] = {0, 1};
  ASSERT_EQ(aot_example_nn_softmax_strided(row.data(), nullptr, strides, y.data(), nullptr, nullptr,
                                           rows, cols, nullptr),
            TDSL_OK);
  std::vector<float> repeated;
  for (int64_t r = 0; r < rows; ++r)
    repeated.insert(repeated.end(), row.begin(), row.end());
  expectBitIdentical(exampleModule().kernel("softmax")(
                         {Tensor::view(repeated.data(), {rows, cols}, DType::F32)})[0],
                     Tensor::view(y.data(), {rows, cols}, DType::F32),
                     "softmax of a broadcast row");
}

/// A caller's pool that runs each loop as chunks of at most 7 iterations, last chunk first.
std::atomic<int> hookedLoops{0};
void reversedChunks(void *user, int64_t n, tdsl_loop_body body, void *closure) {
  EXPECT_EQ(user, &hookedLoops);
  ++hookedLoops;
  for (int64_t end = n; end > 0; end -= 7)
    body(closure, std::max<int64_t>(0, end - 7), end);
}

TEST(AotThreads, CallerPoolRunsTheParallelLoopsWithTheSameResults) {
  const int64_t rows = 512, cols = 1024;
  std::vector<float> x = aot_example::filled(rows * cols, 0.01f), serial(x.size()),
                     hooked(x.size()), pooled(x.size());
  tdsl_call_options one = {};
  one.threads = 1;
  ASSERT_EQ(aot_example_nn_softmax(x.data(), nullptr, serial.data(), nullptr, rows, cols, &one),
            TDSL_OK);
  tdsl_call_options hook = {};
  hook.parallel_for = reversedChunks;
  hook.parallel_for_user = &hookedLoops;
  ASSERT_EQ(aot_example_nn_softmax(x.data(), nullptr, hooked.data(), nullptr, rows, cols, &hook),
            TDSL_OK);
  ASSERT_EQ(aot_example_nn_softmax(x.data(), nullptr, pooled.data(), nullptr, rows, cols, nullptr),
            TDSL_OK);
  EXPECT_GT(hookedLoops.load(), 0) << "the softmax of 512 rows ran no loop through the hook";
  EXPECT_EQ(serial, hooked);
  EXPECT_EQ(serial, pooled);
}

} // namespace
