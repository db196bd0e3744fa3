// normalize: reductions hoisted into definitions of their own, innermost first, identical ones
// computed once; the printed tensor IR is checked exactly, every result must verify, and the
// interpreter must give the same values before and after.
#include "PassTestUtil.h"
#include "SampleKernels.h"
#include "ir/IRPrinter.h"
#include "ir/Interpreter.h"
#include "ir/Verifier.h"
#include "passes/Pipeline.h"
#include "runtime/Convert.h"

#include <gtest/gtest.h>

namespace {

using namespace tdsl;
using namespace tdsl::testing_passes;

std::string normalized(const Kernel &k) {
  verify(k);
  Kernel n = passes::normalize(k);
  verify(n);
  return toString(n);
}

TEST(Normalize, SoftmaxHoistsRowReductions) {
  EXPECT_EQ(normalized(softmaxKernel()), "kernel softmax(x: f32[N, D]) -> (y: f32[N, D])\n"
                                         "  e.max0[i < N]: f32 = max(x[i, k] for k < D)\n"
                                         "  e[i < N, j < D]: f32 = exp(x[i, j] - e.max0[i])\n"
                                         "  y.sum0[i < N]: f32 = sum(e[i, k] for k < D)\n"
                                         "  y[i < N, j < D]: f32 = e[i, j] / y.sum0[i]\n");
}

TEST(Normalize, TopLevelReductionStays) {
  Kernel k = matmulKernel();
  Kernel n = passes::normalize(k);
  ASSERT_EQ(n.defs.size(), 1u);
  EXPECT_EQ(n.defs[0].value, k.defs[0].value); // Untouched: the very same node.
}

TEST(Normalize, ReductionUnderStorageCastStays) {
  EXPECT_EQ(normalized(rowsum16Kernel()), "kernel rowsum16(x: f16[N, D]) -> (y: f16[N])\n"
                                          "  y[i < N]: f16 = f16(sum(f32(x[i, k]) for k < D))\n");
}

TEST(Normalize, InnerReductionOverOuterAxisIsHoistedWithIt) {
  // The max depends on i and on the outer reduction's axis k, so it is hoisted over [i, k]
  // before the sum.
  EXPECT_EQ(normalized(nestedKernel()),
            "kernel nested(x: f32[N, K], w: f32[K, M]) -> (y: f32[N])\n"
            "  y.max0[i < N, k < K]: f32 = max(w[k, m] * x[i, k] for m < M)\n"
            "  y[i < N]: f32 = sum(x[i, k] * y.max0[i, k] for k < K)\n");
}

TEST(Normalize, FreeVariablesFollowTheDefinitionsIndexOrder) {
  // The reduction uses j before i; its domain is still [i, j], the definition's order.
  EXPECT_EQ(normalized(orderKernel()), "kernel order(x: f32[D, N, D]) -> (y: f32[N, D])\n"
                                       "  y.min0[i < N, j < D]: f32 = min(x[j, i, k] for k < D)\n"
                                       "  y[i < N, j < D]: f32 = x[j, i, j] + y.min0[i, j]\n");
}

TEST(Normalize, IdenticalReductionsAreComputedOnce) {
  // x[i, j] / sum(x[i, k] for k) * sum(x[i, m] for m): equal up to the axis name.
  EXPECT_EQ(normalized(twiceKernel()),
            "kernel twice(x: f32[N, D]) -> (y: f32[N, D])\n"
            "  y.sum0[i < N]: f32 = sum(x[i, k] for k < D)\n"
            "  y[i < N, j < D]: f32 = x[i, j] / y.sum0[i] * y.sum0[i]\n");
}

TEST(Normalize, DifferentReductionsAreKept) {
  // Same body with a different op, or a different extent and free variable: all kept.
  EXPECT_EQ(normalized(distinctKernel()),
            "kernel distinct(x: f32[N, D]) -> (y: f32[N, D])\n"
            "  y.sum0[i < N]: f32 = sum(x[i, k] for k < D)\n"
            "  y.prod0[i < N]: f32 = prod(x[i, k] for k < D)\n"
            "  y.sum1[j < D]: f32 = sum(x[k, j] for k < N)\n"
            "  y[i < N, j < D]: f32 = y.sum0[i] + y.prod0[i] + y.sum1[j]\n");
}

TEST(Normalize, LayernormInlineSharesTheMean) {
  // The mean inside the variance is the same as the first one: one definition for both.
  EXPECT_EQ(normalized(layernormInlineKernel()),
            "kernel layernorm(x: f32[N, D]) -> (y: f32[N, D])\n"
            "  y.mean0[i < N]: f32 = mean(x[i, k] for k < D)\n"
            "  y.mean1[i < N]: f32 = mean((x[i, l] - y.mean0[i]) ** 2.0 for l < D)\n"
            "  y[i < N, j < D]: f32 = (x[i, j] - y.mean0[i]) * rsqrt(y.mean1[i] + 1e-05)\n");
}

TEST(Normalize, LayernormWithIntermediatesIsAlreadyNormal) {
  Kernel k = layernormKernel();
  Kernel n = passes::normalize(k);
  ASSERT_EQ(n.defs.size(), k.defs.size());
  for (size_t d = 0; d < k.defs.size(); ++d)
    EXPECT_EQ(n.defs[d].value, k.defs[d].value);
}

TEST(Normalize, NestedDuplicatesCollapseInsideOut) {
  // The inner maxes (over [i, k]) are equal up to renaming, and then so are the outer sums.
  EXPECT_EQ(normalized(nested2Kernel()),
            "kernel nested2(x: f32[N, K], w: f32[K, M]) -> (y: f32[N])\n"
            "  y.max0[i < N, k < K]: f32 = max(w[k, m] * x[i, k] for m < M)\n"
            "  y.sum0[i < N]: f32 = sum(y.max0[i, k] for k < K)\n"
            "  y[i < N]: f32 = y.sum0[i] + y.sum0[i]\n");
}

TEST(Normalize, ReductionWithNoFreeVariablesBecomesAScalar) {
  EXPECT_EQ(normalized(normalizeTotalKernel()), "kernel normalize_total(x: f32[N]) -> (y: f32[N])\n"
                                                "  y.sum0: f32 = sum(x[k] for k < N)\n"
                                                "  y[i < N]: f32 = x[i] / y.sum0\n");
}

TEST(Normalize, ReductionInsideAFallbackIsHoisted) {
  EXPECT_EQ(normalized(padKernel()), "kernel pad(x: f32[N]) -> (y: f32[N])\n"
                                     "  y.max0: f32 = max(x[k] for k < N)\n"
                                     "  y[i < N]: f32 = x[i - 1] ?? (y.max0)\n");
}

TEST(Normalize, HoistedDefinitionsGetFreshIndexVariables) {
  Kernel n = passes::normalize(softmaxKernel());
  ASSERT_EQ(n.defs.size(), 4u);
  // e.max0's i is not e's i: each definition binds its own variables.
  EXPECT_NE(n.defs[0].indices[0].var, n.defs[1].indices[0].var);
  EXPECT_EQ(n.defs[0].target->role, BufferRole::Intermediate);
  EXPECT_EQ(n.defs[0].target->dtype, DType::F32);
  EXPECT_EQ(toString(n.defs[0].target->shape[0]), "N");
}

TEST(Normalize, KernelWithoutReductionsIsUnchanged) {
  Kernel k = blur3Kernel();
  Kernel n = passes::normalize(k);
  ASSERT_EQ(n.defs.size(), 1u);
  EXPECT_EQ(n.defs[0].value, k.defs[0].value);
  EXPECT_EQ(n.defs[0].target, k.defs[0].target);
}

class NormalizeKeepsMeaning : public testing::TestWithParam<SampleCase> {};

TEST_P(NormalizeKeepsMeaning, InterpreterAgrees) {
  const SampleCase &c = GetParam();
  Kernel k = c.build();
  Kernel n = passes::normalize(k);
  verify(n);
  std::vector<Tensor> inputs = randomInputs(k, c.sizes, 7);
  std::vector<Tensor> before = interpret(k, inputs);
  std::vector<Tensor> after = interpret(n, inputs);
  ASSERT_EQ(before.size(), after.size());
  // A hoisted reduction is stored in its dtype, which rounds once where the nested form did not.
  for (size_t o = 0; o < before.size(); ++o)
    expectClose(before[o], runtime::convertTo(after[o], k.outputs[o]->dtype), k.outputs[o]->name);
}

INSTANTIATE_TEST_SUITE_P(Samples, NormalizeKeepsMeaning, testing::ValuesIn(sampleCases()),
                         [](const auto &info) { return info.param.label; });

} // namespace
