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

#include <atomic>
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

/// The JIT the libraries are compared with: the same CPU level (x86-64-v4, the best version on
/// this machine) and thread count (the machine's) as tdsl_add_kernels' defaults.
Jit jitLikeTheLibraries() {
  JitOptions options;
  options.target.cpuLevel = "x86-64-v4";
  options.tiering = Tiering::OptimizedOnly;
  options.diskCache = false;
  return Jit(options);
}

bool haveAvx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
}

/// The symbols' values that `inputs` give `kernel`.
std::vector<int64_t> symbolsOf(const Kernel &kernel, const std::vector<Tensor> &inputs) {
  std::map<std::string, int64_t> values;
  std::vector<std::vector<std::string>> dims = kernel.inputDims();
  for (size_t i = 0; i < inputs.size(); ++i)
    for (size_t d = 0; d < dims[i].size(); ++d)
      values[dims[i][d]] = inputs[i].shape()[d];
  std::vector<int64_t> symbols;
  for (const std::string &name : kernel.symbolNames())
    symbols.push_back(values.at(name));
  return symbols;
}

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
  if (!haveAvx512())
    GTEST_SKIP() << "the JIT is compared at x86-64-v4, which this CPU cannot run";
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
  if (!haveAvx512())
    GTEST_SKIP() << "the JIT is compared at x86-64-v4, which this CPU cannot run";
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
