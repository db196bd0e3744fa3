// api/Numerics.h: the ill-conditioning test that the fuzzer and the differential tester apply
// before they call a mismatch a compiler bug.
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
  options.diskCache = false;
  return Jit(options).compile(R"(
kernel remainder(x: f32[N]) -> y: f32[N] {
    y = x % 0.1
}
kernel twice(x: f32[N]) -> y: f32[N] {
    y = x * 2
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

TEST(Numerics, WellConditionedOutputsAreJudged) {
  Kernel k = module().kernel("twice");
  std::vector<Tensor> inputs = {Tensor::randn({100}, DType::F32, 7)};
  EXPECT_FALSE(illConditioned(k, inputs, k.interpret(inputs), 0));
}

TEST(Numerics, JudgingAsF32) {
  Tensor a = Tensor::zeros({1}, DType::F64), b = Tensor::zeros({1}, DType::F64);
  a.set(0, 1.0);
  b.set(0, 1.0 + 1e-8); // Equal in f32, not within f64's tolerance.
  EXPECT_FALSE(withinTolerance(a, b));
  EXPECT_TRUE(withinTolerance(a, b, /*asF32=*/true));
}

} // namespace
