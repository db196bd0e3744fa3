// Hand-built tensor-level kernels shared by the passes' tests and the lowering execution tests:
// softmax, matmul, layernorm shapes, nested and duplicated reductions, `??` stencils, integer and
// bool reductions, f16 storage.
#pragma once

#include "KernelBuilder.h"

#include <functional>
#include <limits>
#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace tdsl::testing_passes {

inline Kernel softmaxKernel() {
  KernelBuilder b("softmax");
  Expr N = b.sym("N"), D = b.sym("D");
  Buffer x = b.input("x", DType::F32, {N, D});
  Buffer y = b.output("y", DType::F32, {N, D});
  Buffer e = b.temp("e", DType::F32, {N, D});
  Var i = idx("i"), j = idx("j"), k = idx("k");
  b.def(e, {i, j},
        call(Intrinsic::Exp,
             sub(at(x, {v(i), v(j)}), reduce(ReduceOp::Max, {{k, D}}, at(x, {v(i), v(k)})))));
  Var i2 = idx("i"), j2 = idx("j"), k2 = idx("k");
  b.def(y, {i2, j2},
        bin(BinaryOp::Div, at(e, {v(i2), v(j2)}),
            reduce(ReduceOp::Sum, {{k2, D}}, at(e, {v(i2), v(k2)}))));
  return b.kernel;
}

inline Kernel matmulKernel() {
  KernelBuilder b("matmul");
  Expr M = b.sym("M"), K = b.sym("K"), N = b.sym("N");
  Buffer a = b.input("a", DType::F32, {M, K});
  Buffer bb = b.input("b", DType::F32, {K, N});
  Buffer c = b.output("c", DType::F32, {M, N});
  Var i = idx("i"), j = idx("j"), k = idx("k");
  b.def(c, {i, j}, reduce(ReduceOp::Sum, {{k, K}}, mul(at(a, {v(i), v(k)}), at(bb, {v(k), v(j)}))));
  return b.kernel;
}

/// y[i] = f16(sum(f32(x[i, k]) for k)): a reduction under the rounding into f16 storage.
inline Kernel rowsum16Kernel() {
  KernelBuilder b("rowsum16");
  Expr N = b.sym("N"), D = b.sym("D");
  Buffer x = b.input("x", DType::F16, {N, D});
  Buffer y = b.output("y", DType::F16, {N});
  Var i = idx("i"), k = idx("k");
  b.def(y, {i},
        Cast::make(Type::scalar(DType::F16),
                   reduce(ReduceOp::Sum, {{k, D}},
                          Cast::make(Type::scalar(DType::F32), at(x, {v(i), v(k)})))));
  return b.kernel;
}

/// y[i] = sum(x[i, k] * max(w[k, m] * x[i, k] for m) for k)
inline Kernel nestedKernel() {
  KernelBuilder b("nested");
  Expr N = b.sym("N"), K = b.sym("K"), M = b.sym("M");
  Buffer x = b.input("x", DType::F32, {N, K});
  Buffer w = b.input("w", DType::F32, {K, M});
  Buffer y = b.output("y", DType::F32, {N});
  Var i = idx("i"), k = idx("k"), m = idx("m");
  Expr inner = reduce(ReduceOp::Max, {{m, M}}, mul(at(w, {v(k), v(m)}), at(x, {v(i), v(k)})));
  b.def(y, {i}, reduce(ReduceOp::Sum, {{k, K}}, mul(at(x, {v(i), v(k)}), inner)));
  return b.kernel;
}

/// y[i, j] = x[j, i, j] + min(x[j, i, k] for k)
inline Kernel orderKernel() {
  KernelBuilder b("order");
  Expr N = b.sym("N"), D = b.sym("D");
  Buffer x = b.input("x", DType::F32, {D, N, D});
  Buffer y = b.output("y", DType::F32, {N, D});
  Var i = idx("i"), j = idx("j"), k = idx("k");
  b.def(y, {i, j},
        add(at(x, {v(j), v(i), v(j)}), reduce(ReduceOp::Min, {{k, D}}, at(x, {v(j), v(i), v(k)}))));
  return b.kernel;
}

/// y[i, j] = x[i, j] / sum(x[i, k] for k) * sum(x[i, m] for m)
inline Kernel twiceKernel() {
  KernelBuilder b("twice");
  Expr N = b.sym("N"), D = b.sym("D");
  Buffer x = b.input("x", DType::F32, {N, D});
  Buffer y = b.output("y", DType::F32, {N, D});
  Var i = idx("i"), j = idx("j"), k = idx("k"), m = idx("m");
  b.def(y, {i, j},
        mul(bin(BinaryOp::Div, at(x, {v(i), v(j)}),
                reduce(ReduceOp::Sum, {{k, D}}, at(x, {v(i), v(k)}))),
            reduce(ReduceOp::Sum, {{m, D}}, at(x, {v(i), v(m)}))));
  return b.kernel;
}

/// y[i, j] = sum(x[i, k] for k) + prod(x[i, k] for k) + sum(x[k, j] for k < N)
inline Kernel distinctKernel() {
  KernelBuilder b("distinct");
  Expr N = b.sym("N"), D = b.sym("D");
  Buffer x = b.input("x", DType::F32, {N, D});
  Buffer y = b.output("y", DType::F32, {N, D});
  Var i = idx("i"), j = idx("j"), k1 = idx("k"), k2 = idx("k"), k3 = idx("k");
  Expr s = reduce(ReduceOp::Sum, {{k1, D}}, at(x, {v(i), v(k1)}));
  Expr p = reduce(ReduceOp::Prod, {{k2, D}}, at(x, {v(i), v(k2)}));
  Expr q = reduce(ReduceOp::Sum, {{k3, N}}, at(x, {v(k3), v(j)}));
  b.def(y, {i, j}, add(add(s, p), q));
  return b.kernel;
}

/// Layernorm written in one statement:
/// y[i, j] = (x[i, j] - mean(x[i, k] for k))
///           * rsqrt(mean((x[i, l] - mean(x[i, m] for m)) ** 2 for l) + 1e-5)
inline Kernel layernormInlineKernel() {
  KernelBuilder b("layernorm");
  Expr N = b.sym("N"), D = b.sym("D");
  Buffer x = b.input("x", DType::F32, {N, D});
  Buffer y = b.output("y", DType::F32, {N, D});
  Var i = idx("i"), j = idx("j"), k = idx("k"), l = idx("l"), m = idx("m");
  Expr mu1 = reduce(ReduceOp::Mean, {{k, D}}, at(x, {v(i), v(k)}));
  Expr mu2 = reduce(ReduceOp::Mean, {{m, D}}, at(x, {v(i), v(m)}));
  Expr var =
      reduce(ReduceOp::Mean, {{l, D}}, bin(BinaryOp::Pow, sub(at(x, {v(i), v(l)}), mu2), f32(2.0)));
  b.def(y, {i, j},
        mul(sub(at(x, {v(i), v(j)}), mu1),
            call(Intrinsic::Rsqrt, add(var, f32(static_cast<float>(1e-5))))));
  return b.kernel;
}

/// The spec's layernorm: mu and var as intermediates, each one top-level mean.
inline Kernel layernormKernel() {
  KernelBuilder b("layernorm3");
  Expr N = b.sym("N"), D = b.sym("D");
  Buffer x = b.input("x", DType::F32, {N, D});
  Buffer g = b.input("g", DType::F32, {D});
  Buffer bias = b.input("b", DType::F32, {D});
  Buffer y = b.output("y", DType::F32, {N, D});
  Buffer mu = b.temp("mu", DType::F32, {N});
  Buffer var = b.temp("var", DType::F32, {N});
  Var i1 = idx("i"), j1 = idx("j");
  b.def(mu, {i1}, reduce(ReduceOp::Mean, {{j1, D}}, at(x, {v(i1), v(j1)})));
  Var i2 = idx("i"), j2 = idx("j");
  b.def(var, {i2},
        reduce(ReduceOp::Mean, {{j2, D}},
               bin(BinaryOp::Pow, sub(at(x, {v(i2), v(j2)}), at(mu, {v(i2)})), f32(2.0))));
  Var i = idx("i"), j = idx("j");
  b.def(y, {i, j},
        add(mul(mul(sub(at(x, {v(i), v(j)}), at(mu, {v(i)})),
                    call(Intrinsic::Rsqrt, add(at(var, {v(i)}), f32(static_cast<float>(1e-5))))),
                at(g, {v(j)})),
            at(bias, {v(j)})));
  return b.kernel;
}

/// sum(max(w[k, m] * x[i, k] for m) for k) twice, with different axis variables.
inline Kernel nested2Kernel() {
  KernelBuilder b("nested2");
  Expr N = b.sym("N"), K = b.sym("K"), M = b.sym("M");
  Buffer x = b.input("x", DType::F32, {N, K});
  Buffer w = b.input("w", DType::F32, {K, M});
  Buffer y = b.output("y", DType::F32, {N});
  Var i = idx("i");
  auto term = [&] {
    Var k = idx("k"), m = idx("m");
    Expr inner = reduce(ReduceOp::Max, {{m, M}}, mul(at(w, {v(k), v(m)}), at(x, {v(i), v(k)})));
    return reduce(ReduceOp::Sum, {{k, K}}, inner);
  };
  b.def(y, {i}, add(term(), term()));
  return b.kernel;
}

/// y[i] = x[i] / sum(x[k] for k)
inline Kernel normalizeTotalKernel() {
  KernelBuilder b("normalize_total");
  Expr N = b.sym("N");
  Buffer x = b.input("x", DType::F32, {N});
  Buffer y = b.output("y", DType::F32, {N});
  Var i = idx("i"), k = idx("k");
  b.def(y, {i}, bin(BinaryOp::Div, at(x, {v(i)}), reduce(ReduceOp::Sum, {{k, N}}, at(x, {v(k)}))));
  return b.kernel;
}

/// y[i] = x[i - 1] ?? (max(x[k] for k))
inline Kernel padKernel() {
  KernelBuilder b("pad");
  Expr N = b.sym("N");
  Buffer x = b.input("x", DType::F32, {N});
  Buffer y = b.output("y", DType::F32, {N});
  Var i = idx("i"), k = idx("k");
  b.def(y, {i}, at(x, {sub(v(i), i64(1))}, reduce(ReduceOp::Max, {{k, N}}, at(x, {v(k)}))));
  return b.kernel;
}

/// The spec's blur3: y[i, j] = (x[i - 1, j] ?? 0.0 + x[i, j] + x[i + 1, j] ?? 0.0) / 3.0
inline Kernel blur3Kernel() {
  KernelBuilder b("blur3");
  Expr H = b.sym("H"), W = b.sym("W");
  Buffer x = b.input("x", DType::F32, {H, W});
  Buffer y = b.output("y", DType::F32, {H, W});
  Var i = idx("i"), j = idx("j");
  Expr up = at(x, {sub(v(i), i64(1)), v(j)}, f32(0.0));
  Expr down = at(x, {add(v(i), i64(1)), v(j)}, f32(0.0));
  b.def(y, {i, j}, bin(BinaryOp::Div, add(add(up, at(x, {v(i), v(j)})), down), f32(3.0)));
  return b.kernel;
}

/// i32 arithmetic: y[i] = (x[i] * 1000000007) // (x[i] - 3) + x[i] % -5 + sum(x[k] * x[k] for k)
/// (the product wraps at 32 bits; x[i] - 3 may be 0).
inline Kernel intOpsKernel() {
  KernelBuilder b("intops");
  Expr N = b.sym("N");
  Buffer x = b.input("x", DType::I32, {N});
  Buffer y = b.output("y", DType::I32, {N});
  Var i = idx("i"), k = idx("k");
  auto c = [](int64_t value) { return intImm(value, DType::I32); };
  Expr xi = at(x, {v(i)});
  Expr q = bin(BinaryOp::FloorDiv, mul(xi, c(1000000007)), sub(xi, c(3)));
  Expr r = bin(BinaryOp::Mod, xi, c(-5));
  Expr s = reduce(ReduceOp::Sum, {{k, N}}, mul(at(x, {v(k)}), at(x, {v(k)})));
  b.def(y, {i}, add(add(q, r), s));
  return b.kernel;
}

/// Bool and integer max/min reductions: any[i] = max(x[i, k] > 0 for k),
/// all[i] = min(x[i, k] > 0 for k), top[i] = max(x[i, k] for k) (i64), low[i] = min(...) (i64).
inline Kernel boolReduceKernel() {
  KernelBuilder b("anyall");
  Expr N = b.sym("N"), D = b.sym("D");
  Buffer x = b.input("x", DType::I64, {N, D});
  Buffer any = b.output("any", DType::Bool, {N});
  Buffer all = b.output("all", DType::Bool, {N});
  Buffer top = b.output("top", DType::I64, {N});
  Buffer low = b.output("low", DType::I64, {N});
  auto positive = [&](const Var &i, const Var &k) {
    return bin(BinaryOp::Gt, at(x, {v(i), v(k)}), i64(0));
  };
  Var i1 = idx("i"), k1 = idx("k");
  b.def(any, {i1}, reduce(ReduceOp::Max, {{k1, D}}, positive(i1, k1)));
  Var i2 = idx("i"), k2 = idx("k");
  b.def(all, {i2}, reduce(ReduceOp::Min, {{k2, D}}, positive(i2, k2)));
  Var i3 = idx("i"), k3 = idx("k");
  b.def(top, {i3}, reduce(ReduceOp::Max, {{k3, D}}, at(x, {v(i3), v(k3)})));
  Var i4 = idx("i"), k4 = idx("k");
  b.def(low, {i4}, reduce(ReduceOp::Min, {{k4, D}}, at(x, {v(i4), v(k4)})));
  return b.kernel;
}

/// Every reduction kind over two axes, and a mean in an expression: y[i] = mean(...) + 1.0.
inline Kernel reduceKindsKernel() {
  KernelBuilder b("reduce_kinds");
  Expr N = b.sym("N"), A = b.sym("A"), B = b.sym("B");
  Buffer x = b.input("x", DType::F64, {N, A, B});
  std::vector<Buffer> outs;
  for (const char *name : {"s", "p", "hi", "lo", "avg", "shifted"})
    outs.push_back(b.output(name, DType::F64, {N}));
  ReduceOp ops[] = {ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Max, ReduceOp::Min, ReduceOp::Mean};
  for (size_t o = 0; o < 5; ++o) {
    Var i = idx("i"), a = idx("a"), c = idx("b");
    b.def(outs[o], {i}, reduce(ops[o], {{a, A}, {c, B}}, at(x, {v(i), v(a), v(c)})));
  }
  Var i = idx("i"), a = idx("a"), c = idx("b");
  b.def(outs[5], {i},
        add(reduce(ReduceOp::Mean, {{a, A}, {c, B}}, at(x, {v(i), v(a), v(c)})),
            floatImm(1.0, DType::F64)));
  return b.kernel;
}

/// A kernel with its sizes for a test run.
struct SampleCase {
  std::string label;
  std::function<Kernel()> build;
  std::map<std::string, int64_t> sizes;
};
/// GoogleTest prints a parameter by its label.
inline void PrintTo(const SampleCase &c, std::ostream *os) { *os << c.label; }

/// Every sample kernel at a few sizes, odd ones, 1 and empty reductions included.
inline std::vector<SampleCase> sampleCases() {
  std::vector<SampleCase> cases;
  auto addAll = [&](const std::string &label, std::function<Kernel()> build,
                    std::vector<std::map<std::string, int64_t>> sizes) {
    for (size_t k = 0; k < sizes.size(); ++k)
      cases.push_back({label + "_" + std::to_string(k), build, sizes[k]});
  };
  addAll("softmax", softmaxKernel, {{{"N", 3}, {"D", 5}}, {{"N", 1}, {"D", 17}}});
  addAll("matmul", matmulKernel, {{{"M", 3}, {"K", 7}, {"N", 5}}, {{"M", 2}, {"K", 0}, {"N", 3}}});
  addAll("rowsum16", rowsum16Kernel, {{{"N", 4}, {"D", 9}}});
  addAll("nested", nestedKernel, {{{"N", 3}, {"K", 4}, {"M", 5}}, {{"N", 2}, {"K", 3}, {"M", 0}}});
  addAll("order", orderKernel, {{{"N", 3}, {"D", 4}}});
  addAll("twice", twiceKernel, {{{"N", 3}, {"D", 6}}});
  addAll("distinct", distinctKernel, {{{"N", 4}, {"D", 3}}});
  addAll("layernorm_inline", layernormInlineKernel, {{{"N", 3}, {"D", 8}}, {{"N", 2}, {"D", 0}}});
  addAll("layernorm", layernormKernel, {{{"N", 5}, {"D", 7}}});
  addAll("nested2", nested2Kernel, {{{"N", 3}, {"K", 4}, {"M", 2}}});
  addAll("normalize_total", normalizeTotalKernel, {{{"N", 6}}, {{"N", 1}}});
  addAll("pad", padKernel, {{{"N", 5}}, {{"N", 1}}});
  addAll("blur3", blur3Kernel, {{{"H", 4}, {"W", 3}}, {{"H", 1}, {"W", 2}}});
  addAll("intops", intOpsKernel, {{{"N", 9}}});
  addAll("anyall", boolReduceKernel, {{{"N", 4}, {"D", 3}}, {{"N", 2}, {"D", 0}}});
  addAll("reduce_kinds", reduceKindsKernel,
         {{{"N", 2}, {"A", 3}, {"B", 2}}, {{"N", 2}, {"A", 0}, {"B", 3}}});
  return cases;
}

} // namespace tdsl::testing_passes
