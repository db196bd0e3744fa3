// Sema's lowering means what the language says: kernels built by sema, run by the reference
// interpreter, against values computed by hand (broadcasting, `@`, calls, stencils, typing).
#include "SemaTestUtil.h"

#include "ir/Interpreter.h"

#include <cmath>

namespace tdsl::frontend {
namespace {

using testing::compile;

Tensor filled(std::vector<int64_t> shape, DType dtype, const std::vector<double> &values) {
  Tensor t = Tensor::zeros(std::move(shape), dtype);
  for (size_t i = 0; i < values.size(); ++i)
    t.set(int64_t(i), values[i]);
  return t;
}

std::vector<double> valuesOf(const Tensor &t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i)
    v.push_back(t.at(i));
  return v;
}

std::vector<Tensor> run(const std::string &source, const std::string &kernel,
                        const std::vector<Tensor> &inputs) {
  auto c = compile(source);
  EXPECT_FALSE(c.diags.hasErrors()) << c.diags.render();
  if (c.diags.hasErrors())
    return {};
  return ir::interpret(c.kernel(kernel), inputs);
}

TEST(SemaInterpret, BroadcastingReadsLiteralOnesAtZero) {
  auto out = run(R"(
kernel f(a: f32[N, 1], b: f32[1, D], c: f32[D]) -> y: f32[N, D] {
    y = a * b + c
})",
                 "f",
                 {filled({2, 1}, DType::F32, {1, 2}), filled({1, 3}, DType::F32, {10, 20, 30}),
                  filled({3}, DType::F32, {1, 2, 3})});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(valuesOf(out[0]), (std::vector<double>{11, 22, 33, 21, 42, 63}));
}

TEST(SemaInterpret, LiteralOnlyCallsComputeInTheAdoptedDtype) {
  // exp(1.0) next to an f64 tensor is the f64 exp, not the f32 one widened.
  auto out = run(R"(
kernel f(x: f64[N]) -> y: f64[N] {
    y = x + exp(1.0)
})",
                 "f", {filled({2}, DType::F64, {0, 1})});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(valuesOf(out[0]), (std::vector<double>{std::exp(1.0), 1 + std::exp(1.0)}));
  EXPECT_NE(double(std::exp(1.0f)), std::exp(1.0));
}

TEST(SemaInterpret, MatrixProducts) {
  const char *src = R"(
kernel f(a: f32[M, K], b: f32[K, N], v: f32[K], w: f32[M]) -> (y: f32[M, N], mv: f32[M], vm: f32[K], dot: f32) {
    y = a @ b
    mv = a @ v
    vm = w @ a
    dot = v @ v
})";
  // a = [[1, 2], [3, 4], [5, 6]] (3x2), b = [[1, 0, 2], [0, 1, 3]] (2x3).
  auto out = run(src, "f",
                 {filled({3, 2}, DType::F32, {1, 2, 3, 4, 5, 6}),
                  filled({2, 3}, DType::F32, {1, 0, 2, 0, 1, 3}), filled({2}, DType::F32, {1, -1}),
                  filled({3}, DType::F32, {1, 0, 2})});
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(valuesOf(out[0]), (std::vector<double>{1, 2, 8, 3, 4, 18, 5, 6, 28}));
  EXPECT_EQ(valuesOf(out[1]), (std::vector<double>{-1, -1, -1}));
  EXPECT_EQ(valuesOf(out[2]), (std::vector<double>{11, 14}));
  EXPECT_EQ(valuesOf(out[3]), (std::vector<double>{2}));
}

TEST(SemaInterpret, BatchedProductBroadcastsABatchOfOne) {
  auto out = run(
      R"(
kernel f(a: f32[B, M, K], b: f32[1, K, N]) -> y: f32[B, M, N] {
    y = a @ b
})",
      "f", {filled({2, 1, 2}, DType::F32, {1, 2, 3, 4}), filled({1, 2, 1}, DType::F32, {10, 1})});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(valuesOf(out[0]), (std::vector<double>{12, 34}));
}

TEST(SemaInterpret, InlinedCallsBindSymbolsAndMaterializeArguments) {
  auto out = run(R"(
kernel diff(x: f32[N]) -> y: f32[N - 1] {
    y[i] = x[i + 1] - x[i]
}
kernel total(x: f32[N]) -> t: f32 {
    t = sum(x[i] for i)
}
kernel f(x: f32[N]) -> (y: f32[N - 2], s: f32) {
    y = diff(diff(x * x))
    s = total(x) + total(diff(x))
})",
                 "f", {filled({5}, DType::F32, {1, 2, 3, 4, 5})});
  ASSERT_EQ(out.size(), 2u);
  // x*x = 1 4 9 16 25; diff = 3 5 7 9; diff = 2 2 2.
  EXPECT_EQ(valuesOf(out[0]), (std::vector<double>{2, 2, 2}));
  EXPECT_EQ(valuesOf(out[1]), (std::vector<double>{15 + 4}));
}

TEST(SemaInterpret, StencilWithDefaultsAndReversal) {
  auto out = run(R"(
kernel f(x: f32[N]) -> (y: f32[N], r: f32[N]) {
    y[i] = x[i - 1] ?? 100.0 + x[i + 1] ?? 1000.0
    r[i] = x[N - 1 - i]
})",
                 "f", {filled({3}, DType::F32, {1, 2, 3})});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(valuesOf(out[0]), (std::vector<double>{102, 4, 1002}));
  EXPECT_EQ(valuesOf(out[1]), (std::vector<double>{3, 2, 1}));
}

TEST(SemaInterpret, LiteralsAndIntegerSemantics) {
  auto out = run(R"(
kernel f(n: i32[N]) -> (q: i32[N], m: i32[N], p: i64, h: f32) {
    q = n // 2
    m = n % -3
    p = 2 ** 10 + 7 // -2
    h = 1 / 4 + f32(N)
})",
                 "f", {filled({3}, DType::I32, {-5, 0, 7})});
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(valuesOf(out[0]), (std::vector<double>{-3, 0, 3}));
  EXPECT_EQ(valuesOf(out[1]), (std::vector<double>{-2, 0, -2}));
  EXPECT_EQ(valuesOf(out[2]), (std::vector<double>{1024 - 4}));
  EXPECT_EQ(valuesOf(out[3]), (std::vector<double>{3.25}));
}

TEST(SemaInterpret, HalfPrecisionStoresRounded) {
  auto out = run(R"(
kernel f(x: f16[N]) -> (y: f16[N], z: f32[N]) {
    y = x + 0.0001
    z = f32(x) + 0.0001
})",
                 "f", {filled({1}, DType::F16, {1.0})});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(valuesOf(out[0]), (std::vector<double>{1.0})); // 1.0001 rounds to 1 in f16.
  EXPECT_NEAR(valuesOf(out[1])[0], 1.0001, 1e-6);
}

TEST(SemaInterpret, SoftmaxRowsSumToOne) {
  auto out = run(R"(
kernel softmax(x: f32[N, D]) -> y: f32[N, D] {
    e[i, j] = exp(x[i, j] - max(x[i, k] for k))
    y[i, j] = e[i, j] / sum(e[i, k] for k)
}
kernel g(x: f32[N, D]) -> s: f32[N] {
    p = softmax(x)
    s[i] = sum(p[i, j] for j)
})",
                 "g", {Tensor::randn({3, 5}, DType::F32, 7)});
  ASSERT_EQ(out.size(), 1u);
  for (double v : valuesOf(out[0]))
    EXPECT_NEAR(v, 1.0, 1e-6);
}

} // namespace
} // namespace tdsl::frontend
