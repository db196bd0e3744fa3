// api/Numerics.h and Kernel::interpretRoundingF32: what the fuzzer and the differential tester
// check before they call a mismatch a compiler bug (f32 arithmetic's own rounding, or an output
// too ill-conditioned to judge).
#include "api/Numerics.h"
#include "tdsl/tdsl.h"

#include <gtest/gtest.h>

namespace {

using namespace tdsl;

Tensor f32s(std::vector<float> values) {
  Tensor t = Tensor::zeros({static_cast<int64_t>(values.size())}, DType::F32);
  for (size_t i = 0; i < values.size(); ++i)
    t.set(static_cast<int64_t>(i), values[i]);
  return t;
}

Module module() {
  JitOptions options;
  options.threads = 1;
  options.diskCache = false;
  return Jit(options).compile(R"(
kernel remainder(x: f32[N]) -> y: f32[N] {
    y = x % 0.1
}
kernel twice(x: f32[N]) -> y: f32[N] {
    y = x * 2
}
kernel cancel(x: f32[N]) -> y: f32[N] {
    y = (x + 1.0) - 1.0
}
kernel near_pole(x: f32[N]) -> y: f32[N] {
    t[i] = floor(x[i])
    y[i] = 100.0 / (cos(t[i]) * t[i] + 3.0) % 7.0
}
kernel gelu_tail(x: f32[N]) -> y: f32[N] {
    y = 0.5 * x * (1.0 + tanh(0.7978845608 * (0.044 - 14 * x)))
}
)");
}

TEST(Numerics, FloorModuloNextToItsJumpIsIllConditioned) {
  Kernel k = module().kernel("remainder");
  // f32(0.3) lies 7e-9 above 3 * f32(0.1): a few ulps lower, the remainder is 0.1, not 0.
  std::vector<Tensor> inputs = {f32s({0.25f, 0.3f})};
  std::vector<Tensor> reference = k.interpret(inputs);
  EXPECT_TRUE(illConditioned(k, inputs, reference, 0));
  // Away from a multiple of the divisor, a few ulps move the remainder by a few ulps.
  inputs = {f32s({0.25f, 0.33f})};
  reference = k.interpret(inputs);
  EXPECT_FALSE(illConditioned(k, inputs, reference, 0));
}

TEST(Numerics, QuotientNearAPoleOfCosDependsOnTheMathLibrary) {
  // GPU difftest seed 100665 (2026-12-06): cos(3) * 3 + 3 is 0.03, so 2 ulps of cosf move
  // 100 / it by 0.04, past the tolerance of `% 7`. Moving the inputs does not show it: floor
  // holds t at 3.
  Kernel k = module().kernel("near_pole");
  std::vector<Tensor> inputs = {f32s({3.5f, 3.25f})};
  EXPECT_FALSE(illConditioned(k, inputs, k.interpret(inputs), 0));
  EXPECT_TRUE(mathFunctionSensitive(k, inputs, 0));
  // At t = 1 the denominator is 3.5 and 2 ulps of cos are lost in the tolerance.
  inputs = {f32s({1.5f, 1.25f})};
  EXPECT_FALSE(mathFunctionSensitive(k, inputs, 0));
  // The model moves cos alone here; a result off by more than 2 ulps' worth is not excused.
  std::vector<Tensor> reference = k.interpret(inputs);
  EXPECT_EQ(excuseForMismatch(k, inputs, f32s({1.0f, 1.0f}), reference, 0), "");
}

TEST(Numerics, WellConditionedOutputsAreJudged) {
  Kernel k = module().kernel("twice");
  std::vector<Tensor> inputs = {Tensor::randn({100}, DType::F32, 7)};
  EXPECT_FALSE(illConditioned(k, inputs, k.interpret(inputs), 0));
}

TEST(Numerics, RoundingEachF32OperationModelsCompiledCode) {
  Module m = module();
  Kernel cancel = m.kernel("cancel");
  std::vector<Tensor> inputs = {f32s({1e-9f, 2e-9f})};
  // f64: (1e-9 + 1) - 1 keeps 1e-9; f32: 1e-9 + 1 rounds to 1, and the difference is 0.
  EXPECT_NEAR(cancel.interpret(inputs)[0].at(0), 1e-9, 1e-15);
  EXPECT_EQ(cancel.interpretRoundingF32(inputs)[0].at(0), 0.0);
  EXPECT_EQ(cancel.interpretRoundingF32(inputs)[0].at(1), 0.0);
  std::vector<Tensor> actual = cancel(inputs), reference = cancel.interpret(inputs);
  EXPECT_EQ(actual[0].at(0), 0.0);
  EXPECT_FALSE(withinTolerance(actual[0], reference[0]));
  EXPECT_EQ(excuseForMismatch(cancel, inputs, actual[0], reference, 0), "f32 rounding");
  // A wrong result is excused by neither reference.
  Tensor wrong = f32s({0.0f, 0.75f});
  EXPECT_EQ(excuseForMismatch(cancel, inputs, wrong, reference, 0), "");
}

TEST(Numerics, SaturatedTanhFoundByTheFuzzerIsF32Rounding) {
  // fuzz_pipeline (session 3): 1 + tanh(z) for z below -9 is 0 in f32 and ~1e-10 in f64.
  Kernel k = module().kernel("gelu_tail");
  std::vector<Tensor> inputs = {f32s({1.5f, 2.0f})};
  std::vector<Tensor> actual = k(inputs), reference = k.interpret(inputs);
  EXPECT_FALSE(withinTolerance(actual[0], reference[0]));
  EXPECT_EQ(excuseForMismatch(k, inputs, actual[0], reference, 0), "f32 rounding");
}

TEST(Numerics, JudgingAsF32) {
  Tensor a = Tensor::zeros({1}, DType::F64), b = Tensor::zeros({1}, DType::F64);
  a.set(0, 1.0);
  b.set(0, 1.0 + 1e-8); // Equal in f32, not within f64's tolerance.
  EXPECT_FALSE(withinTolerance(a, b));
  EXPECT_TRUE(withinTolerance(a, b, /*asF32=*/true));
}

} // namespace
