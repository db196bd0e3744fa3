// The target-neutral lowering executed: every sample kernel of the passes' tests goes through
// lowerKernel (normalize, build-loop-nest, simplify) and the LLVM backend, runs on random inputs,
// and must match the reference interpreter.
#include "../passes/PassTestUtil.h"
#include "../passes/SampleKernels.h"
#include "codegen/llvm/LlvmBackend.h"
#include "ir/IRPrinter.h"
#include "ir/Interpreter.h"
#include "ir/Shapes.h"
#include "passes/Pipeline.h"

#include <gtest/gtest.h>

namespace {

using namespace tdsl;
using namespace tdsl::testing_passes;

/// Runs the compiled kernel on `inputs`, returning freshly allocated outputs.
std::vector<Tensor> runCompiled(const Kernel &kernel, const LoweredFunc &func,
                                const std::vector<Tensor> &inputs) {
  std::vector<std::vector<int64_t>> shapes;
  for (const Tensor &t : inputs)
    shapes.push_back(t.shape());
  std::vector<int64_t> symbols = bindSymbols(kernel, shapes);
  std::vector<Tensor> outputs;
  for (const Buffer &out : kernel.outputs)
    outputs.push_back(Tensor::zeros(evalShape(out, kernel.symbols, symbols), out->dtype));
  std::vector<void *> buffers;
  for (const Tensor &t : inputs)
    buffers.push_back(t.data());
  for (const Tensor &t : outputs)
    buffers.push_back(t.data());
  std::unique_ptr<codegen::CompiledCpuKernel> compiled = codegen::compileForHost(func);
  compiled->entry()(buffers.data(), symbols.data(), nullptr);
  return outputs;
}

class LoweringExec : public testing::TestWithParam<SampleCase> {};

TEST_P(LoweringExec, MatchesTheInterpreter) {
  const SampleCase &c = GetParam();
  Kernel kernel = c.build();
  LoweredFunc func = passes::lowerKernel(kernel);
  for (uint64_t seed : {1, 2}) {
    std::vector<Tensor> inputs = randomInputs(kernel, c.sizes, seed * 100);
    std::vector<Tensor> expected = interpret(kernel, inputs);
    std::vector<Tensor> actual = runCompiled(kernel, func, inputs);
    ASSERT_EQ(expected.size(), actual.size());
    for (size_t o = 0; o < actual.size(); ++o)
      expectClose(expected[o], actual[o], kernel.outputs[o]->name + "\n" + toString(func));
  }
}

INSTANTIATE_TEST_SUITE_P(Samples, LoweringExec, testing::ValuesIn(sampleCases()),
                         [](const auto &info) { return info.param.label; });

TEST(LoweringExecEdge, FallbackNeverReadsOutOfBounds) {
  // y[i] = x[i + 3] ?? -1.0 over a view whose neighbours would show through if read.
  KernelBuilder b("shift");
  Expr N = b.sym("N");
  Buffer x = b.input("x", DType::F32, {N});
  Buffer y = b.output("y", DType::F32, {N});
  Var i = idx("i");
  b.def(y, {i}, at(x, {add(v(i), i64(3))}, f32(-1.0)));
  std::vector<float> storage = {100, 1, 2, 3, 4, 5, 200};
  Tensor in = Tensor::view(storage.data() + 1, {5}, DType::F32);
  std::vector<Tensor> out = runCompiled(b.kernel, passes::lowerKernel(b.kernel), {in});
  std::vector<float> want = {4, 5, -1, -1, -1};
  for (int64_t k = 0; k < 5; ++k)
    EXPECT_EQ(out[0].at(k), want[k]) << k;
}

TEST(LoweringExecEdge, EmptyReductionsGiveIdentitiesAndNaNMean) {
  KernelBuilder b("empty_reduce");
  Expr N = b.sym("N"), D = b.sym("D");
  Buffer x = b.input("x", DType::F32, {N, D});
  Buffer s = b.output("s", DType::F32, {N});
  Buffer m = b.output("m", DType::F32, {N});
  Buffer hi = b.output("hi", DType::F32, {N});
  ReduceOp ops[] = {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max};
  Buffer outs[] = {s, m, hi};
  for (int o = 0; o < 3; ++o) {
    Var i = idx("i"), k = idx("k");
    b.def(outs[o], {i}, reduce(ops[o], {{k, D}}, at(x, {v(i), v(k)})));
  }
  std::vector<Tensor> out =
      runCompiled(b.kernel, passes::lowerKernel(b.kernel), {Tensor::zeros({2, 0}, DType::F32)});
  for (int64_t r = 0; r < 2; ++r) {
    EXPECT_EQ(out[0].at(r), 0.0);
    EXPECT_TRUE(std::isnan(out[1].at(r)));
    EXPECT_EQ(out[2].at(r), -std::numeric_limits<double>::infinity());
  }
}

} // namespace
