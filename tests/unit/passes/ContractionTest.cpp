// contraction: which fused groups the tiling pass lowers as one contraction with an epilogue, and
// how the others are split so that the contraction is a group of its own.
#include "passes/Contraction.h"
#include "KernelBuilder.h"
#include "ir/Verifier.h"
#include "passes/Fuse.h"
#include "passes/Pipeline.h"

#include <gtest/gtest.h>

namespace {

using namespace tdsl;
using namespace tdsl::testing_passes;
using passes::FusedKernel;

FusedKernel fused(const Kernel &k) {
  verify(k);
  FusedKernel f = passes::fuse(passes::normalize(k));
  verify(f.kernel);
  return f;
}

/// y = x @ w, then `y[i, j] + bias[j]` over y's domain or `x[i, j] + t[j]` over x's ([N, M]):
/// either way both join one group that shares the rows.
Kernel matmulThen(bool sameDomain) {
  KernelBuilder b(sameDomain ? "epilogue" : "sibling");
  Expr N = b.sym("N"), M = b.sym("M"), K = b.sym("K");
  Buffer x = b.input("x", DType::F32, {N, M});
  Buffer w = b.input("w", DType::F32, {M, K});
  Buffer t = b.input("t", DType::F32, {sameDomain ? K : M});
  Buffer y = b.output("y", DType::F32, {N, K});
  Buffer z = b.output("z", DType::F32, {N, sameDomain ? K : M});
  Var i = idx("i"), j = idx("j"), k = idx("k"), i2 = idx("i2"), j2 = idx("j2");
  b.def(y, {i, j}, reduce(ReduceOp::Sum, {{k, M}}, mul(at(x, {v(i), v(k)}), at(w, {v(k), v(j)}))));
  Expr first = sameDomain ? at(y, {v(i2), v(j2)}) : at(x, {v(i2), v(j2)});
  b.def(z, {i2, j2}, add(first, at(t, {v(j2)})));
  return b.kernel;
}

TEST(Contraction, EpilogueOverTheContractionsDomainIsTiledTogether) {
  FusedKernel f = fused(matmulThen(true));
  ASSERT_EQ(f.groups.size(), 1u);
  ASSERT_EQ(f.groups[0].members.size(), 2u);
  std::string why;
  std::optional<passes::TiledGroup> tg = passes::matchTiledGroup(f, f.groups[0], why);
  ASSERT_TRUE(tg) << why;
  EXPECT_EQ(tg->epilogue.size(), 1u);
  EXPECT_EQ(passes::isolateContractions(f).groups.size(), 1u);
}

TEST(Contraction, SiblingOverAnotherDomainOfTheSameRankIsNotAnEpilogue) {
  // z has y's rank but its columns run to M, not K: as an epilogue it would be evaluated at y's
  // columns (reading t and x past their ends). It must not match; the contraction is split off.
  FusedKernel f = fused(matmulThen(false));
  ASSERT_EQ(f.groups.size(), 1u);
  ASSERT_EQ(f.groups[0].members.size(), 2u);
  std::string why;
  EXPECT_FALSE(passes::matchTiledGroup(f, f.groups[0], why));
  EXPECT_NE(why.find("not elementwise over the contraction's domain"), std::string::npos) << why;
  FusedKernel split = passes::isolateContractions(f);
  ASSERT_EQ(split.groups.size(), 2u);
  EXPECT_EQ(split.groups[0].members.size(), 1u);
  EXPECT_EQ(split.groups[1].members.size(), 1u);
}

} // namespace
