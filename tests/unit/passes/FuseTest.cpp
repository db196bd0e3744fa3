// fuse: which definitions are inlined, how the rest are grouped and stored, and why, for the
// spec's kernels built by hand (softmax, layernorm, gelu, matmul with an epilogue, stencils);
// every fused kernel must verify and interpret to the same values as the original.
#include "passes/Fuse.h"
#include "PassTestUtil.h"
#include "SampleKernels.h"
#include "ir/IRPrinter.h"
#include "ir/Interpreter.h"
#include "ir/Verifier.h"
#include "passes/Pipeline.h"

#include <gtest/gtest.h>

namespace {

using namespace tdsl;
using namespace tdsl::testing_passes;
using passes::FusedKernel;
using passes::Storage;

FusedKernel fused(const Kernel &k) {
  verify(k);
  FusedKernel f = passes::fuse(passes::normalize(k));
  verify(f.kernel);
  return f;
}

std::vector<std::string> names(const FusedKernel &f, const passes::FusedGroup &g) {
  std::vector<std::string> out;
  for (size_t m : g.members)
    out.push_back(f.kernel.defs[m].target->name);
  return out;
}

/// The decision line about `name` that contains `phrase`, or "" when there is none.
std::string decision(const FusedKernel &f, const std::string &name, const std::string &phrase) {
  for (const std::string &d : f.decisions)
    if (d.rfind(name + ": ", 0) == 0 && d.find(phrase) != std::string::npos)
      return d;
  return "";
}

Storage storageOf(const FusedKernel &f, const std::string &name) {
  for (size_t k = 0; k < f.kernel.defs.size(); ++k)
    if (f.kernel.defs[k].target->name == name)
      return f.storage[k];
  ADD_FAILURE() << "no definition " << name;
  return Storage::Tensor;
}

/// The fused kernel computes what the original does (the interpreter on both). The interpreter
/// rounds every store to its tensor's dtype, so an inlined f32 intermediate skips one rounding:
/// values agree to a few f32 ulps, integers exactly.
void expectSameValues(const Kernel &k, const std::map<std::string, int64_t> &sizes) {
  FusedKernel f = fused(k);
  std::vector<Tensor> inputs = randomInputs(k, sizes, 7);
  std::vector<Tensor> before = ir::interpret(k, inputs);
  std::vector<Tensor> after = ir::interpret(f.kernel, inputs);
  ASSERT_EQ(before.size(), after.size());
  for (size_t o = 0; o < before.size(); ++o) {
    ASSERT_EQ(before[o].shape(), after[o].shape());
    for (int64_t e = 0; e < before[o].numel(); ++e) {
      if (!isFloat(before[o].dtype())) {
        EXPECT_EQ(before[o].atInt(e), after[o].atInt(e)) << k.name << " element " << e;
        continue;
      }
      double want = before[o].at(e), got = after[o].at(e);
      EXPECT_LE(std::fabs(want - got), 1e-6 * (1 + std::fabs(want)))
          << k.name << " output " << k.outputs[o]->name << " element " << e;
    }
  }
}

/// gelu: t = x + bias; y = 0.5 * t * (1 + tanh(0.79788456 * (t + 0.044715 * t ** 3)))
Kernel geluKernel() {
  KernelBuilder b("gelu");
  Expr N = b.sym("N"), D = b.sym("D");
  Buffer x = b.input("x", DType::F32, {N, D});
  Buffer bias = b.input("bias", DType::F32, {D});
  Buffer y = b.output("y", DType::F32, {N, D});
  Buffer t = b.temp("t", DType::F32, {N, D});
  Var i = idx("i"), j = idx("j");
  b.def(t, {i, j}, add(at(x, {v(i), v(j)}), at(bias, {v(j)})));
  Var i2 = idx("i"), j2 = idx("j");
  Expr tt = at(t, {v(i2), v(j2)});
  Expr cube = bin(BinaryOp::Pow, tt, f32(3.0));
  Expr inner = mul(f32(0.7978846f), add(tt, mul(f32(0.044715f), cube)));
  b.def(y, {i2, j2}, mul(mul(f32(0.5), tt), add(f32(1.0), call(Intrinsic::Tanh, inner))));
  return b.kernel;
}

/// c[i, j] = sum(a[i, k] * b[k, j] for k); y[i, j] = relu(c[i, j] + bias[j])
Kernel matmulEpilogueKernel() {
  KernelBuilder b("matmul_relu");
  Expr M = b.sym("M"), K = b.sym("K"), N = b.sym("N");
  Buffer a = b.input("a", DType::F32, {M, K});
  Buffer bb = b.input("b", DType::F32, {K, N});
  Buffer bias = b.input("bias", DType::F32, {N});
  Buffer y = b.output("y", DType::F32, {M, N});
  Buffer c = b.temp("c", DType::F32, {M, N});
  Var i = idx("i"), j = idx("j"), k = idx("k");
  b.def(c, {i, j}, reduce(ReduceOp::Sum, {{k, K}}, mul(at(a, {v(i), v(k)}), at(bb, {v(k), v(j)}))));
  Var i2 = idx("i"), j2 = idx("j");
  b.def(y, {i2, j2}, call(Intrinsic::Relu, add(at(c, {v(i2), v(j2)}), at(bias, {v(j2)}))));
  return b.kernel;
}

/// t = f(x); y[i, j] = t[i + di, j + dj] ?? 0 summed over `offsets` (a stencil on an
/// intermediate), with f = exp when `costly`, else x * x + 1.
Kernel stencilKernel(bool costly, const std::vector<std::pair<int, int>> &offsets) {
  KernelBuilder b(costly ? "costly_stencil" : "cheap_stencil");
  Expr H = b.sym("H"), W = b.sym("W");
  Buffer x = b.input("x", DType::F32, {H, W});
  Buffer y = b.output("y", DType::F32, {H, W});
  Buffer t = b.temp("t", DType::F32, {H, W});
  Var i = idx("i"), j = idx("j");
  Expr xi = at(x, {v(i), v(j)});
  b.def(t, {i, j}, costly ? call(Intrinsic::Exp, xi) : add(mul(xi, xi), f32(1.0)));
  Var i2 = idx("i"), j2 = idx("j");
  Expr sum;
  for (auto [di, dj] : offsets) {
    Expr read = di == 0 && dj == 0 ? at(t, {v(i2), v(j2)})
                                   : at(t, {add(v(i2), i64(di)), add(v(j2), i64(dj))}, f32(0.0));
    sum = sum ? add(sum, read) : read;
  }
  b.def(y, {i2, j2}, sum);
  return b.kernel;
}

TEST(Fuse, SoftmaxIsOneRowGroupWithLocalRowAndScalars) {
  FusedKernel f = fused(softmaxKernel());
  ASSERT_EQ(f.groups.size(), 1u);
  EXPECT_EQ(names(f, f.groups[0]), (std::vector<std::string>{"e.max0", "e", "y.sum0", "y"}));
  EXPECT_EQ(f.groups[0].sharedDims, 1u);
  EXPECT_EQ(storageOf(f, "e.max0"), Storage::Local);
  EXPECT_EQ(storageOf(f, "e"), Storage::Local);
  EXPECT_EQ(storageOf(f, "y.sum0"), Storage::Local);
  EXPECT_EQ(storageOf(f, "y"), Storage::Tensor);
  // exp is read by two definitions: recomputing it would double the transcendental work.
  EXPECT_NE(decision(f, "e", "materialized: read at 2 places (y.sum0, y)"), "");
  EXPECT_NE(decision(f, "e", "calls exp"), "");
  EXPECT_NE(decision(f, "y.sum0", "joins group 0 (1 shared dim): reads e at its own leading index"),
            "");
}

TEST(Fuse, LayernormSharesTheRowLoopAndKeepsStatisticsPerRow) {
  FusedKernel f = fused(layernormKernel());
  ASSERT_EQ(f.groups.size(), 1u);
  EXPECT_EQ(names(f, f.groups[0]), (std::vector<std::string>{"mu", "var", "y"}));
  EXPECT_EQ(f.groups[0].sharedDims, 1u);
  EXPECT_EQ(storageOf(f, "mu"), Storage::Local);
  EXPECT_EQ(storageOf(f, "var"), Storage::Local);
  EXPECT_NE(decision(f, "mu", "local to group 0: one value per shared iteration"), "");
}

TEST(Fuse, GeluInlinesTheBiasAdd) {
  FusedKernel f = fused(geluKernel());
  ASSERT_EQ(f.kernel.defs.size(), 1u);
  EXPECT_EQ(f.kernel.defs[0].target->name, "y");
  EXPECT_NE(decision(f, "t", "inlined into y: read once per element at its own indices"), "");
  // Every read of t became x + bias.
  EXPECT_EQ(toString(f.kernel.defs[0].value).find("t["), std::string::npos);
  EXPECT_EQ(f.groups.size(), 1u);
  EXPECT_EQ(f.groups[0].sharedDims, 2u);
}

TEST(Fuse, MatmulEpilogueKeepsTheProductRowLocal) {
  FusedKernel f = fused(matmulEpilogueKernel());
  ASSERT_EQ(f.groups.size(), 1u);
  EXPECT_EQ(names(f, f.groups[0]), (std::vector<std::string>{"c", "y"}));
  // c is vectorized along j, so only i is shared; its row lives per iteration of i.
  EXPECT_EQ(f.groups[0].sharedDims, 1u);
  EXPECT_EQ(storageOf(f, "c"), Storage::Local);
  EXPECT_NE(decision(f, "c", "kept: a reduction"), "");
}

TEST(Fuse, PlainMatmulSharesOnlyItsRows) {
  FusedKernel f = fused(matmulKernel());
  ASSERT_EQ(f.groups.size(), 1u);
  EXPECT_EQ(f.groups[0].sharedDims, 1u);
}

TEST(Fuse, CheapStencilValueIsRecomputedAtEachOffset) {
  FusedKernel f = fused(stencilKernel(false, {{0, -1}, {0, 0}, {0, 1}, {-1, 0}}));
  ASSERT_EQ(f.kernel.defs.size(), 1u);
  EXPECT_NE(decision(f, "t", "inlined into y: cheap (4 ops), recomputed at 4 reads"), "");
  // The default survives as a select on t's bounds; reads inside it carry defaults.
  std::string value = toString(f.kernel.defs[0].value);
  EXPECT_NE(value.find("select("), std::string::npos) << value;
  EXPECT_NE(value.find("?? 0.0"), std::string::npos) << value;
}

TEST(Fuse, CheapStencilReadAtManyRowsIsKeptForAWindow) {
  // Six reads of a 4-op value across rows: 24 ops recomputed against 2 x (4 + 1 + 6) from a
  // window, so t is kept and becomes a window of y's rows.
  Kernel k = stencilKernel(false, {{-1, -1}, {-1, 0}, {-1, 1}, {1, -1}, {1, 0}, {1, 1}});
  FusedKernel f = passes::fuseStencils(fused(k));
  EXPECT_NE(decision(f, "t",
                     "materialized for a window: read at 6 places (y) at rows -1 to +1 of theirs; "
                     "recomputed there 24 ops, from a window 11"),
            "");
  EXPECT_EQ(storageOf(f, "t"), Storage::Window);
  // Without windows (the plain nest, the GPU) it is recomputed at each read, as rule 2 says.
  FusedKernel plain = passes::fuse(passes::normalize(k), passes::StencilWindows::Off);
  EXPECT_NE(decision(plain, "t", "inlined into y: cheap (4 ops), recomputed at 6 reads"), "");
  // Five reads (20 against 20) do not pay.
  FusedKernel five = fused(stencilKernel(false, {{-1, -1}, {-1, 0}, {-1, 1}, {1, -1}, {1, 0}}));
  EXPECT_NE(decision(five, "t", "inlined into y: cheap (4 ops), recomputed at 5 reads"), "");
}

TEST(Fuse, CostlyStencilAlongTheRowStaysLocalAcrossRowsWhole) {
  FusedKernel along = fused(stencilKernel(true, {{0, -1}, {0, 0}, {0, 1}}));
  EXPECT_NE(decision(along, "t", "materialized: read at 3 places"), "");
  ASSERT_EQ(along.groups.size(), 1u);
  EXPECT_EQ(along.groups[0].sharedDims, 1u);
  EXPECT_EQ(storageOf(along, "t"), Storage::Local);

  FusedKernel across = fused(stencilKernel(true, {{-1, 0}, {0, 0}, {1, 0}}));
  ASSERT_EQ(across.groups.size(), 2u);
  EXPECT_EQ(storageOf(across, "t"), Storage::Tensor);
  EXPECT_NE(decision(across, "y", "starts group 1: reads t at another leading index"), "");
  EXPECT_NE(decision(across, "t", "stored whole: read by y in another group"), "");
}

TEST(Fuse, OutputsAreNeverRemovedButCheapOnesAreStillInlined) {
  KernelBuilder b("outs");
  Expr N = b.sym("N");
  Buffer x = b.input("x", DType::F32, {N});
  Buffer a = b.output("a", DType::F32, {N});
  Buffer c = b.output("c", DType::F32, {N});
  Buffer e = b.output("e", DType::F32, {N});
  Var i = idx("i"), i2 = idx("i"), i3 = idx("i");
  b.def(a, {i}, mul(at(x, {v(i)}), f32(2.0)));
  b.def(e, {i2}, call(Intrinsic::Exp, at(a, {v(i2)})));
  b.def(c, {i3}, add(at(a, {v(i3)}), mul(at(e, {v(i3)}), at(e, {v(i3)}))));
  FusedKernel f = fused(b.kernel);
  ASSERT_EQ(f.kernel.defs.size(), 3u);
  EXPECT_NE(
      decision(f, "a", "inlined into e, c: cheap (2 ops), recomputed at 2 reads; also stored"), "");
  EXPECT_NE(decision(f, "e", "stored (an output); read by c"), "");
  // c reads e from memory and a is recomputed from x.
  std::string value = toString(f.kernel.defs[2].value);
  EXPECT_NE(value.find("e[i]"), std::string::npos) << value;
  EXPECT_EQ(value.find("a[i]"), std::string::npos) << value;
  ASSERT_EQ(f.groups.size(), 1u);
  EXPECT_EQ(f.groups[0].members.size(), 3u);
}

TEST(Fuse, BroadcastReadsRecomputeOnlyTrivialValues) {
  KernelBuilder b("broadcast");
  Expr N = b.sym("N"), D = b.sym("D");
  Buffer x = b.input("x", DType::F32, {N, D});
  Buffer w = b.input("w", DType::F32, {D});
  Buffer y = b.output("y", DType::F32, {N, D});
  Buffer z = b.output("z", DType::F32, {N, D});
  Buffer s = b.temp("s", DType::F32, {D});
  Buffer q = b.temp("q", DType::F32, {D});
  Var j = idx("j"), j2 = idx("j"), i = idx("i"), jj = idx("j"), i2 = idx("i"), jj2 = idx("j");
  b.def(s, {j}, mul(at(w, {v(j)}), f32(2.0)));                                       // 2 ops
  b.def(q, {j2}, bin(BinaryOp::Div, at(w, {v(j2)}), add(at(w, {v(j2)}), f32(1.0)))); // 7 ops
  b.def(y, {i, jj}, add(at(x, {v(i), v(jj)}), at(s, {v(jj)})));
  b.def(z, {i2, jj2}, mul(at(x, {v(i2), v(jj2)}), at(q, {v(jj2)})));
  FusedKernel f = fused(b.kernel);
  EXPECT_NE(decision(f, "s", "inlined into y: cheap (2 ops), recomputed along i"), "");
  EXPECT_NE(decision(f, "q", "materialized: read broadcast along i by z and costs 7 ops"), "");
}

TEST(Fuse, SiblingReductionsOverTheSameRowsShareALoop) {
  KernelBuilder b("siblings");
  Expr N = b.sym("N"), D = b.sym("D");
  Buffer x = b.input("x", DType::F32, {N, D});
  Buffer s = b.output("s", DType::F32, {N});
  Buffer m = b.output("m", DType::F32, {N});
  Var i = idx("i"), k = idx("k"), i2 = idx("i"), k2 = idx("k");
  b.def(s, {i}, reduce(ReduceOp::Sum, {{k, D}}, at(x, {v(i), v(k)})));
  b.def(m, {i2}, reduce(ReduceOp::Max, {{k2, D}}, at(x, {v(i2), v(k2)})));
  FusedKernel f = fused(b.kernel);
  ASSERT_EQ(f.groups.size(), 1u);
  EXPECT_NE(decision(f, "m", "reads the same rows of x as s"), "");
}

TEST(Fuse, StencilSiblingsShareALoopAndTheirProducersBecomeWindows) {
  // a and b (one group: they read the same rows of x) are read by p and q over rows i .. i + 2;
  // p reads only a, q only b, so they are siblings through the group that computes both.
  KernelBuilder bld("stencil_siblings");
  Expr H = bld.sym("H"), W = bld.sym("W");
  Buffer x = bld.input("x", DType::F32, {H, W});
  Buffer a = bld.temp("a", DType::F32, {H, W});
  Buffer b = bld.temp("b", DType::F32, {H, W});
  Buffer p = bld.temp("p", DType::F32, {sub(H, i64(2)), W});
  Buffer q = bld.temp("q", DType::F32, {sub(H, i64(2)), W});
  Buffer y = bld.output("y", DType::F32, {sub(H, i64(2)), W});
  Var i1 = idx("i"), j1 = idx("j"), i2 = idx("i"), j2 = idx("j"), i3 = idx("i"), j3 = idx("j");
  Var i4 = idx("i"), j4 = idx("j"), i5 = idx("i"), j5 = idx("j"), r3 = idx("r"), r4 = idx("r");
  bld.def(a, {i1, j1}, call(Intrinsic::Exp, at(x, {v(i1), v(j1)})));
  bld.def(b, {i2, j2}, call(Intrinsic::Tanh, at(x, {v(i2), v(j2)})));
  bld.def(p, {i3, j3}, reduce(ReduceOp::Sum, {{r3, i64(3)}}, at(a, {add(v(i3), v(r3)), v(j3)})));
  bld.def(q, {i4, j4}, reduce(ReduceOp::Sum, {{r4, i64(3)}}, at(b, {add(v(i4), v(r4)), v(j4)})));
  bld.def(y, {i5, j5}, mul(at(p, {v(i5), v(j5)}), at(q, {v(i5), v(j5)})));
  FusedKernel f = passes::fuseStencils(fused(bld.kernel));
  ASSERT_EQ(f.groups.size(), 2u);
  EXPECT_EQ(names(f, f.groups[0]), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(names(f, f.groups[1]), (std::vector<std::string>{"p", "q", "y"}));
  EXPECT_NE(decision(f, "q", "reads rows near its own of b, as p does of a"), "");
  EXPECT_EQ(storageOf(f, "a"), Storage::Window);
  EXPECT_EQ(storageOf(f, "b"), Storage::Window);
  ASSERT_TRUE(f.groups[1].halo);
  EXPECT_EQ(f.groups[1].halo->below, 0);
  EXPECT_EQ(f.groups[1].halo->above, 2);
  expectSameValues(bld.kernel, {{"H", 5}, {"W", 3}});
}

TEST(Fuse, ProducersAlsoReadByALaterGroupStayWhole) {
  // As above, but z reads a at another row after the siblings' group: a and b stay whole.
  KernelBuilder bld("read_later");
  Expr H = bld.sym("H"), W = bld.sym("W");
  Buffer x = bld.input("x", DType::F32, {H, W});
  Buffer a = bld.temp("a", DType::F32, {H, W});
  Buffer b = bld.temp("b", DType::F32, {H, W});
  Buffer p = bld.output("p", DType::F32, {sub(H, i64(2)), W});
  Buffer q = bld.output("q", DType::F32, {sub(H, i64(2)), W});
  Buffer z = bld.output("z", DType::F32, {W});
  Var i1 = idx("i"), j1 = idx("j"), i2 = idx("i"), j2 = idx("j"), i3 = idx("i"), j3 = idx("j");
  Var i4 = idx("i"), j4 = idx("j"), j5 = idx("j"), r3 = idx("r"), r4 = idx("r");
  bld.def(a, {i1, j1}, call(Intrinsic::Exp, at(x, {v(i1), v(j1)})));
  bld.def(b, {i2, j2}, call(Intrinsic::Tanh, at(x, {v(i2), v(j2)})));
  bld.def(p, {i3, j3}, reduce(ReduceOp::Sum, {{r3, i64(3)}}, at(a, {add(v(i3), v(r3)), v(j3)})));
  bld.def(q, {i4, j4}, reduce(ReduceOp::Sum, {{r4, i64(3)}}, at(b, {add(v(i4), v(r4)), v(j4)})));
  bld.def(z, {j5}, at(a, {i64(0), v(j5)}));
  FusedKernel f = passes::fuseStencils(fused(bld.kernel));
  EXPECT_EQ(storageOf(f, "a"), Storage::Tensor);
  EXPECT_EQ(storageOf(f, "b"), Storage::Tensor);
}

TEST(Fuse, UnrelatedOrDifferentlyShapedDefinitionsStartNewGroups) {
  KernelBuilder b("apart");
  Expr N = b.sym("N"), M = b.sym("M");
  Buffer x = b.input("x", DType::F32, {N});
  Buffer z = b.input("z", DType::F32, {M});
  Buffer y1 = b.output("y1", DType::F32, {N});
  Buffer y2 = b.output("y2", DType::F32, {M});
  Buffer total = b.output("total", DType::F32, {});
  Var i = idx("i"), k = idx("k"), j = idx("j");
  b.def(y1, {i}, call(Intrinsic::Exp, at(x, {v(i)})));
  b.def(y2, {j}, call(Intrinsic::Exp, at(z, {v(j)})));
  b.def(total, {}, reduce(ReduceOp::Sum, {{k, N}}, at(y1, {v(k)})));
  FusedKernel f = fused(b.kernel);
  ASSERT_EQ(f.groups.size(), 3u);
  EXPECT_NE(decision(f, "y2", "starts group 1: its leading extents differ"), "");
  EXPECT_NE(decision(f, "total", "starts group 2: it has no loop to share"), "");
}

TEST(Fuse, UnreadIntermediatesAreRemoved) {
  KernelBuilder b("dead");
  Expr N = b.sym("N");
  Buffer x = b.input("x", DType::F32, {N});
  Buffer y = b.output("y", DType::F32, {N});
  Buffer t = b.temp("t", DType::F32, {N});
  Buffer u = b.temp("u", DType::F32, {N});
  Buffer s = b.temp("s", DType::F32, {});
  Var i = idx("i"), i2 = idx("i"), i3 = idx("i"), k = idx("k");
  b.def(t, {i}, call(Intrinsic::Exp, at(x, {v(i)})));
  b.def(s, {}, reduce(ReduceOp::Sum, {{k, N}}, at(t, {v(k)})));
  b.def(u, {i2}, mul(at(t, {v(i2)}), at(s, {})));
  b.def(y, {i3}, at(x, {v(i3)}));
  FusedKernel f = fused(b.kernel);
  ASSERT_EQ(f.kernel.defs.size(), 1u);
  EXPECT_NE(decision(f, "t", "removed: nothing that is kept reads it"), "");
  EXPECT_NE(decision(f, "s", "removed: nothing that is kept reads it"), "");
  EXPECT_NE(decision(f, "u", "removed: nothing that is kept reads it"), "");
}

TEST(Fuse, FusedKernelsComputeTheSameValues) {
  expectSameValues(softmaxKernel(), {{"N", 5}, {"D", 7}});
  expectSameValues(layernormKernel(), {{"N", 3}, {"D", 9}});
  expectSameValues(geluKernel(), {{"N", 4}, {"D", 6}});
  expectSameValues(matmulEpilogueKernel(), {{"M", 3}, {"K", 5}, {"N", 4}});
  expectSameValues(stencilKernel(false, {{0, -1}, {0, 0}, {0, 1}, {-1, 0}, {2, 1}}),
                   {{"H", 4}, {"W", 5}});
  expectSameValues(stencilKernel(true, {{-1, 0}, {0, 0}, {1, 0}}), {{"H", 3}, {"W", 4}});
  expectSameValues(blur3Kernel(), {{"H", 3}, {"W", 4}});
  expectSameValues(intOpsKernel(), {{"N", 6}});
  expectSameValues(rowsum16Kernel(), {{"N", 3}, {"D", 5}});
}

TEST(Fuse, PrintsGroupsStorageAndDecisions) {
  std::string text = passes::toString(fused(softmaxKernel()));
  EXPECT_EQ(text.substr(0, text.find("  decisions:")),
            "kernel softmax(x: f32[N, D]) -> (y: f32[N, D])\n"
            "  group 0: 1 shared dim\n"
            "    e.max0[i < N]: f32 = max(x[i, k] for k < D)  [local]\n"
            "    e[i < N, j < D]: f32 = exp(x[i, j] - e.max0[i])  [local]\n"
            "    y.sum0[i < N]: f32 = sum(e[i, k] for k < D)  [local]\n"
            "    y[i < N, j < D]: f32 = e[i, j] / y.sum0[i]\n");
  EXPECT_NE(text.find("    e: materialized: read at 2 places (y.sum0, y)"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// The analyses the schedule shares.

TEST(FuseAnalysis, CostCountsOperationsAndNamesTranscendentals) {
  Buffer x = makeBuffer("x", DType::F32, {i64(8)}, BufferRole::Input);
  Var i = idx("i");
  Expr xi = at(x, {v(i)});
  passes::ExprCost cheap = passes::exprCost(add(mul(xi, xi), f32(1.0)));
  EXPECT_EQ(cheap.ops, 4);
  EXPECT_EQ(cheap.transcendental, "");
  EXPECT_EQ(passes::exprCost(bin(BinaryOp::Div, xi, f32(3.0))).ops, 5);
  EXPECT_EQ(passes::exprCost(call(Intrinsic::Tanh, xi)).transcendental, "tanh");
  EXPECT_EQ(passes::exprCost(bin(BinaryOp::Pow, xi, f32(3.0))).transcendental, "**");
  EXPECT_EQ(passes::exprCost(bin(BinaryOp::Pow, xi, f32(2.0))).transcendental, "");
}

TEST(FuseAnalysis, StridesOfFlatAddresses) {
  Expr N = VarRef::make(makeVar("N", Type::i64(), VarKind::Symbol));
  Buffer x = makeBuffer("x", DType::F32, {N, i64(4)}, BufferRole::Input);
  Buffer col = makeBuffer("col", DType::F32, {N, i64(1)}, BufferRole::Input);
  Var i = idx("i"), j = idx("j");
  auto stride = [](const Expr &e, const Var &var) { return passes::strideOf(*as<Access>(e), var); };
  using passes::AccessStride;
  EXPECT_EQ(stride(at(x, {v(i), v(j)}), j), AccessStride::Contiguous);
  EXPECT_EQ(stride(at(x, {v(i), v(j)}), i), AccessStride::Strided); // By 4.
  EXPECT_EQ(stride(at(x, {v(i), i64(0)}), j), AccessStride::Uniform);
  EXPECT_EQ(stride(at(x, {v(i), add(v(j), i64(1))}), j), AccessStride::Contiguous);
  EXPECT_EQ(stride(at(x, {v(i), mul(v(j), i64(2))}), j), AccessStride::Strided);
  EXPECT_EQ(stride(at(col, {v(i), i64(0)}), i), AccessStride::Contiguous); // A [N, 1] column.
  Buffer y = makeBuffer("y", DType::F32, {i64(4), N}, BufferRole::Input);
  EXPECT_EQ(stride(at(y, {v(j), v(i)}), j), AccessStride::Strided); // By N: unknown.
}

TEST(FuseAnalysis, PreferredVectorAxes) {
  Kernel sm = passes::normalize(softmaxKernel());
  EXPECT_EQ(passes::preferredVectorAxis(sm.defs[0]).axis, passes::VectorAxis::Reduction);
  EXPECT_EQ(passes::preferredVectorAxis(sm.defs[1]).axis, passes::VectorAxis::Spatial);
  EXPECT_EQ(passes::preferredVectorAxis(matmulKernel().defs[0]).axis, passes::VectorAxis::Spatial);
  EXPECT_EQ(passes::preferredVectorAxis(passes::normalize(normalizeTotalKernel()).defs[0]).axis,
            passes::VectorAxis::Reduction);
}

} // namespace
