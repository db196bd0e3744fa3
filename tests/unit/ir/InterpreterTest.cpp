// The reference interpreter: values of hand-built kernels against hand-computed results, with
// every semantic rule the backends must share (wrapping, floor division, casts, NaN, identities).
#include "ir/Interpreter.h"
#include "IrTestUtil.h"
#include "ir/IRPrinter.h"
#include "support/Check.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

namespace tdsl::ir {
namespace {

using namespace test;

constexpr double inf = std::numeric_limits<double>::infinity();
constexpr int64_t i32Min = std::numeric_limits<int32_t>::min();
constexpr int64_t i32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t i64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t i64Max = std::numeric_limits<int64_t>::max();

/// A kernel `y[i] = f(a[i], b[i])` over one symbol N, for elementwise semantics.
struct Elementwise {
  KernelBuilder kb{"elementwise"};
  Var n = kb.sym("N");
  Var i = KernelBuilder::index("i");
  Buffer a, b;
  Elementwise(DType in) {
    a = kb.input("a", in, {vr(n)});
    b = kb.input("b", in, {vr(n)});
  }
  Expr A() const { return at(a, {vr(i)}); }
  Expr B() const { return at(b, {vr(i)}); }
  /// Adds output `name[i] = value`.
  void out(const std::string &name, Expr value) {
    Buffer y = kb.output(name, value->type.dtype, {vr(n)});
    kb.def(y, {i}, std::move(value));
  }
};

TEST(Interpreter, ElementwiseWithBroadcastAccess) {
  KernelBuilder kb("bias_add");
  Var n = kb.sym("N"), d = kb.sym("D");
  Buffer x = kb.input("x", DType::F32, {vr(n), vr(d)});
  Buffer bias = kb.input("bias", DType::F32, {vr(d)});
  Buffer y = kb.output("y", DType::F32, {vr(n), vr(d)});
  Var i = KernelBuilder::index("i"), j = KernelBuilder::index("j");
  kb.def(y, {i, j}, add(at(x, {vr(i), vr(j)}), at(bias, {vr(j)})));
  Tensor tx = tensorOf({2, 3}, DType::F32, {1, 2, 3, 4, 5, 6});
  Tensor tb = tensorOf({3}, DType::F32, {10, 20, 30});
  std::vector<Tensor> out = interpret(kb.k, {tx, tb});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].dtype(), DType::F64); // Float outputs come back unrounded, in f64.
  EXPECT_EQ(out[0].shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(valuesOf(out[0]), (std::vector<double>{11, 22, 33, 14, 25, 36}));
}

TEST(Interpreter, SoftmaxMatchesDirectComputation) {
  KernelBuilder kb("softmax");
  Var n = kb.sym("N"), d = kb.sym("D");
  Buffer x = kb.input("x", DType::F32, {vr(n), vr(d)});
  Buffer y = kb.output("y", DType::F32, {vr(n), vr(d)});
  Buffer e = KernelBuilder::temp("e", DType::F32, {vr(n), vr(d)});
  Var i = KernelBuilder::index("i"), j = KernelBuilder::index("j"), k = KernelBuilder::index("k");
  kb.def(e, {i, j},
         call(Intrinsic::Exp, sub(at(x, {vr(i), vr(j)}),
                                  reduceOver(ReduceOp::Max, {{k, vr(d)}}, at(x, {vr(i), vr(k)})))));
  Var i2 = KernelBuilder::index("i"), j2 = KernelBuilder::index("j"),
      k2 = KernelBuilder::index("k");
  kb.def(y, {i2, j2},
         bin(BinaryOp::Div, at(e, {vr(i2), vr(j2)}),
             reduceOver(ReduceOp::Sum, {{k2, vr(d)}}, at(e, {vr(i2), vr(k2)}))));
  Tensor tx = Tensor::randn({5, 7}, DType::F32, 42);
  Tensor y0 = interpret(kb.k, {tx})[0];
  for (int r = 0; r < 5; ++r) {
    double m = -inf, s = 0;
    for (int c = 0; c < 7; ++c)
      m = std::max(m, tx.at(r * 7 + c));
    for (int c = 0; c < 7; ++c)
      s += std::exp(tx.at(r * 7 + c) - m);
    for (int c = 0; c < 7; ++c)
      EXPECT_NEAR(y0.at(r * 7 + c), std::exp(tx.at(r * 7 + c) - m) / s, 1e-6);
  }
}

Kernel matmulKernel() {
  KernelBuilder kb("matmul");
  Var m = kb.sym("M"), kk = kb.sym("K"), n = kb.sym("N");
  Buffer a = kb.input("a", DType::F32, {vr(m), vr(kk)});
  Buffer b = kb.input("b", DType::F32, {vr(kk), vr(n)});
  Buffer c = kb.output("c", DType::F32, {vr(m), vr(n)});
  Var i = KernelBuilder::index("i"), j = KernelBuilder::index("j"), k = KernelBuilder::index("k");
  kb.def(
      c, {i, j},
      reduceOver(ReduceOp::Sum, {{k, vr(kk)}}, mul(at(a, {vr(i), vr(k)}), at(b, {vr(k), vr(j)}))));
  return kb.k;
}

TEST(Interpreter, Matmul) {
  Tensor a = tensorOf({2, 3}, DType::F32, {1, 2, 3, 4, 5, 6});
  Tensor b = tensorOf({3, 2}, DType::F32, {7, 8, 9, 10, 11, 12});
  EXPECT_EQ(valuesOf(interpret(matmulKernel(), {a, b})[0]),
            (std::vector<double>{58, 64, 139, 154}));
}

TEST(Interpreter, Matmul64SumsInF64AndStoresF32) {
  Tensor a = Tensor::randn({64, 64}, DType::F32, 1), b = Tensor::randn({64, 64}, DType::F32, 2);
  Tensor c = interpret(matmulKernel(), {a, b})[0];
  double expect = 0;
  for (int k = 0; k < 64; ++k)
    expect += a.at(5 * 64 + k) * b.at(k * 64 + 9);
  EXPECT_EQ(c.at(5 * 64 + 9), static_cast<double>(static_cast<float>(expect)));
}

/// out[i] = op(x[i, k] for k < K), for every reduction kind.
struct RowReduce {
  KernelBuilder kb{"row_reduce"};
  Var n = kb.sym("N"), kdim = kb.sym("K");
  Buffer x;
  explicit RowReduce(DType t) {
    x = kb.input("x", t, {vr(n), vr(kdim)});
    for (ReduceOp op :
         {ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Max, ReduceOp::Min, ReduceOp::Mean}) {
      if (op == ReduceOp::Mean && !isFloat(t))
        continue;
      Var i = KernelBuilder::index("i"), k = KernelBuilder::index("k");
      Buffer y = kb.output(std::string(reduceName(op)), t, {vr(n)});
      kb.def(y, {i}, reduceOver(op, {{k, vr(kdim)}}, at(x, {vr(i), vr(k)})));
    }
  }
};

TEST(Interpreter, FloatReductionsWithNaNAndSignedZero) {
  RowReduce r(DType::F64);
  double nan = std::nan("");
  Tensor x = tensorOf({3, 3}, DType::F64, {1, -2, 4, nan, 1, 2, -0.0, 0.0, -0.0});
  std::vector<Tensor> out = interpret(r.kb.k, {x});
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0].at(0), 3);  // sum
  EXPECT_EQ(out[1].at(0), -8); // prod
  EXPECT_EQ(out[2].at(0), 4);  // max
  EXPECT_EQ(out[3].at(0), -2); // min
  EXPECT_EQ(out[4].at(0), 1);  // mean
  for (int k = 0; k < 5; ++k)
    EXPECT_TRUE(std::isnan(out[k].at(1))) << reduceName(static_cast<ReduceOp>(k));
  EXPECT_EQ(out[2].at(2), 0.0);
  EXPECT_FALSE(std::signbit(out[2].at(2))); // max(-0, 0, -0) = +0
  EXPECT_TRUE(std::signbit(out[3].at(2)));  // min(-0, 0, -0) = -0
}

TEST(Interpreter, EmptyReductionsGiveIdentities) {
  RowReduce f(DType::F32);
  std::vector<Tensor> out = interpret(f.kb.k, {Tensor::zeros({2, 0}, DType::F32)});
  EXPECT_EQ(out[0].at(1), 0.0);
  EXPECT_EQ(out[1].at(1), 1.0);
  EXPECT_EQ(out[2].at(1), -inf);
  EXPECT_EQ(out[3].at(1), inf);
  EXPECT_TRUE(std::isnan(out[4].at(1)));

  RowReduce i32(DType::I32);
  out = interpret(i32.kb.k, {Tensor::zeros({1, 0}, DType::I32)});
  EXPECT_EQ(out[0].dtype(), DType::I32);
  EXPECT_EQ(intValuesOf(out[0])[0], 0);
  EXPECT_EQ(intValuesOf(out[1])[0], 1);
  EXPECT_EQ(intValuesOf(out[2])[0], i32Min);
  EXPECT_EQ(intValuesOf(out[3])[0], i32Max);

  RowReduce i64(DType::I64);
  out = interpret(i64.kb.k, {Tensor::zeros({1, 0}, DType::I64)});
  EXPECT_EQ(intValuesOf(out[2])[0], i64Min);
  EXPECT_EQ(intValuesOf(out[3])[0], i64Max);

  RowReduce b(DType::Bool);
  out = interpret(b.kb.k, {Tensor::zeros({1, 0}, DType::Bool)});
  EXPECT_EQ(intValuesOf(out[2])[0], 0); // max = or: false
  EXPECT_EQ(intValuesOf(out[3])[0], 1); // min = and: true
}

TEST(Interpreter, IntegerAndBoolReductions) {
  RowReduce i32(DType::I32);
  Tensor x = intTensorOf({2, 3}, DType::I32, {3, -5, 7, i32Max, 1, 1});
  std::vector<Tensor> out = interpret(i32.kb.k, {x});
  EXPECT_EQ(intValuesOf(out[0]), (std::vector<int64_t>{5, i32Min + 1})); // i32 sum wraps
  EXPECT_EQ(intValuesOf(out[1]), (std::vector<int64_t>{-105, i32Max}));
  EXPECT_EQ(intValuesOf(out[2]), (std::vector<int64_t>{7, i32Max}));
  EXPECT_EQ(intValuesOf(out[3]), (std::vector<int64_t>{-5, 1}));

  RowReduce b(DType::Bool);
  Tensor bx = intTensorOf({3, 2}, DType::Bool, {0, 1, 1, 1, 0, 0});
  out = interpret(b.kb.k, {bx});
  EXPECT_EQ(out[2].dtype(), DType::Bool);
  EXPECT_EQ(intValuesOf(out[2]), (std::vector<int64_t>{1, 1, 0})); // or
  EXPECT_EQ(intValuesOf(out[3]), (std::vector<int64_t>{0, 1, 0})); // and
}

/// hi[i] = argmax(x[i, k] for k < K), lo[i] = argmin(x[i, k] for k < K).
struct RowArg {
  KernelBuilder kb{"row_arg"};
  Var n = kb.sym("N"), kdim = kb.sym("K");
  explicit RowArg(DType t) {
    Buffer x = kb.input("x", t, {vr(n), vr(kdim)});
    for (ReduceOp op : {ReduceOp::ArgMax, ReduceOp::ArgMin}) {
      Var i = KernelBuilder::index("i"), k = KernelBuilder::index("k");
      Buffer y = kb.output(std::string(reduceName(op)), DType::I64, {vr(n)});
      kb.def(y, {i}, reduceOver(op, {{k, vr(kdim)}}, at(x, {vr(i), vr(k)})));
    }
  }
};

TEST(Interpreter, ArgReductionsTakeTheFirstWinnerAndTheFirstNaN) {
  RowArg r(DType::F64);
  double nan = std::nan("");
  Tensor x =
      tensorOf({6, 4}, DType::F64, {1,    3,    3,    -2,   // ties: the first 3, the only -2
                                    2,    nan,  5,    nan,  // the first NaN, for argmax and argmin
                                    -inf, -inf, -inf, -inf, // all -inf: 0 for both
                                    nan,  nan,  nan,  nan,  // all NaN: 0
                                    -0.0, 0.0,  inf,  -inf, // infinities; -0.0 and +0.0 tie
                                    0.0,  -0.0, 7,    7});
  std::vector<Tensor> out = interpret(r.kb.k, {x});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].dtype(), DType::I64);
  EXPECT_EQ(intValuesOf(out[0]), (std::vector<int64_t>{1, 1, 0, 0, 2, 2}));
  EXPECT_EQ(intValuesOf(out[1]), (std::vector<int64_t>{3, 1, 0, 0, 3, 0}));

  out = interpret(r.kb.k, {Tensor::zeros({2, 0}, DType::F64)});
  EXPECT_EQ(intValuesOf(out[0]), (std::vector<int64_t>{-1, -1})); // no points
  EXPECT_EQ(intValuesOf(out[1]), (std::vector<int64_t>{-1, -1}));

  RowArg i32(DType::I32);
  out = interpret(i32.kb.k,
                  {intTensorOf({2, 3}, DType::I32, {i32Min, i32Min, 4, 9, i32Max, i32Max})});
  EXPECT_EQ(intValuesOf(out[0]), (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(intValuesOf(out[1]), (std::vector<int64_t>{0, 0}));
}

TEST(Interpreter, NestedReductionAndScalarOutput) {
  // best = max(sum(x[j, k] for k) for j): a reduction inside a reduction, into a 0-d output.
  KernelBuilder kb("nested");
  Var n = kb.sym("N"), d = kb.sym("D");
  Buffer x = kb.input("x", DType::F32, {vr(n), vr(d)});
  Buffer best = kb.output("best", DType::F32, {});
  Var j = KernelBuilder::index("j"), k = KernelBuilder::index("k");
  Expr rowSum = reduceOver(ReduceOp::Sum, {{k, vr(d)}}, at(x, {vr(j), vr(k)}));
  kb.def(best, {}, reduceOver(ReduceOp::Max, {{j, vr(n)}}, rowSum));
  Tensor tx = tensorOf({3, 2}, DType::F32, {1, 2, 10, -4, 0.5, 0.25});
  Tensor out = interpret(kb.k, {tx})[0];
  EXPECT_EQ(out.rank(), 0);
  EXPECT_EQ(out.at(0), 6);
}

TEST(Interpreter, MultiAxisAndTriangularReductions) {
  KernelBuilder kb("tri");
  Var n = kb.sym("N");
  Buffer x = kb.input("x", DType::I64, {vr(n)});
  Buffer cum = kb.output("cum", DType::I64, {vr(n)});
  Buffer pairs = kb.output("pairs", DType::I64, {});
  Var i = KernelBuilder::index("i"), k = KernelBuilder::index("k");
  // cum[i] = sum(x[k] for k < i + 1): an extent that depends on the enclosing index.
  kb.def(cum, {i}, reduceOver(ReduceOp::Sum, {{k, add(vr(i), imm(1))}}, at(x, {vr(k)})));
  Var p = KernelBuilder::index("p"), q = KernelBuilder::index("q");
  kb.def(pairs, {},
         reduceOver(ReduceOp::Sum, {{p, vr(n)}, {q, vr(n)}}, mul(at(x, {vr(p)}), at(x, {vr(q)}))));
  std::vector<Tensor> out = interpret(kb.k, {intTensorOf({4}, DType::I64, {1, 2, 3, 4})});
  EXPECT_EQ(intValuesOf(out[0]), (std::vector<int64_t>{1, 3, 6, 10}));
  EXPECT_EQ(intValuesOf(out[1]), (std::vector<int64_t>{100}));
}

TEST(Interpreter, FallbackAccessPadsOutOfBounds) {
  // blur3: y[i, j] = (x[i - 1, j] ?? 0.0 + x[i, j] + x[i + 1, j] ?? 0.0) / 3.0
  KernelBuilder kb("blur3");
  Var h = kb.sym("H"), w = kb.sym("W");
  Buffer x = kb.input("x", DType::F32, {vr(h), vr(w)});
  Buffer y = kb.output("y", DType::F32, {vr(h), vr(w)});
  Var i = KernelBuilder::index("i"), j = KernelBuilder::index("j");
  Expr up = at(x, {sub(vr(i), imm(1)), vr(j)}, fimm(0.0));
  Expr down = at(x, {add(vr(i), imm(1)), vr(j)}, fimm(0.0));
  kb.def(y, {i, j}, bin(BinaryOp::Div, add(add(up, at(x, {vr(i), vr(j)})), down), fimm(3.0)));
  Tensor tx = tensorOf({3, 2}, DType::F32, {3, 6, 9, 12, 15, 18});
  EXPECT_EQ(valuesOf(interpret(kb.k, {tx})[0]), (std::vector<double>{4, 6, 9, 12, 8, 10}));

  // A fallback that is itself an expression, and an index past the end of the other dim.
  KernelBuilder kb2("shift");
  Var n = kb2.sym("N");
  Buffer a = kb2.input("a", DType::I32, {vr(n)});
  Buffer b = kb2.output("b", DType::I32, {vr(n)});
  Var t = KernelBuilder::index("t");
  kb2.def(b, {t}, at(a, {add(vr(t), imm(2))}, Unary::make(UnaryOp::Neg, at(a, {vr(t)}))));
  EXPECT_EQ(intValuesOf(interpret(kb2.k, {intTensorOf({4}, DType::I32, {1, 2, 3, 4})})[0]),
            (std::vector<int64_t>{3, 4, -3, -4}));
}

TEST(Interpreter, SymbolicAndNonAffineIndices) {
  KernelBuilder kb("gather");
  Var n = kb.sym("N");
  Buffer x = kb.input("x", DType::I64, {vr(n)});
  Buffer rev = kb.output("rev", DType::I64, {vr(n)});
  Buffer half = kb.output("half", DType::I64, {vr(n)});
  Buffer square = kb.output("square", DType::I64, {vr(n)});
  Var i = KernelBuilder::index("i"), j = KernelBuilder::index("j"), k = KernelBuilder::index("k");
  kb.def(rev, {i}, at(x, {sub(sub(vr(n), imm(1)), vr(i))}));          // affine, with a symbol
  kb.def(half, {j}, at(x, {bin(BinaryOp::FloorDiv, vr(j), imm(2))})); // not affine
  kb.def(square, {k}, at(x, {mul(vr(k), vr(k))}, imm(-1)));           // not affine, fallback
  std::vector<Tensor> out = interpret(kb.k, {intTensorOf({4}, DType::I64, {10, 20, 30, 40})});
  EXPECT_EQ(intValuesOf(out[0]), (std::vector<int64_t>{40, 30, 20, 10}));
  EXPECT_EQ(intValuesOf(out[1]), (std::vector<int64_t>{10, 10, 20, 20}));
  EXPECT_EQ(intValuesOf(out[2]), (std::vector<int64_t>{10, 20, -1, -1}));
}

TEST(Interpreter, F16StorageRoundTrip) {
  // e[i]: f16 = f16(f32(x[i]) * 3.0); y[i]: f32 = f32(e[i]) + 0.0
  KernelBuilder kb("half");
  Var n = kb.sym("N");
  Buffer x = kb.input("x", DType::F16, {vr(n)});
  Buffer y = kb.output("y", DType::F32, {vr(n)});
  Buffer h = kb.output("h", DType::F16, {vr(n)});
  Buffer e = KernelBuilder::temp("e", DType::F16, {vr(n)});
  Var i = KernelBuilder::index("i"), i2 = KernelBuilder::index("i"), i3 = KernelBuilder::index("i");
  kb.def(e, {i}, cast(DType::F16, mul(cast(DType::F32, at(x, {vr(i)})), fimm(3.0))));
  kb.def(y, {i2}, add(cast(DType::F32, at(e, {vr(i2)})), fimm(0.0)));
  kb.def(h, {i3}, at(e, {vr(i3)}));
  // 1 + 2^-10 is an f16; times 3 it lies exactly halfway between two f16s and rounds to even.
  // 65504 * 3 overflows to inf; 3 * 2^-24 is an exact subnormal.
  Tensor tx = tensorOf({4}, DType::F16, {1.0009765625, 2.0, 65504.0, 0x1p-24});
  std::vector<Tensor> out = interpret(kb.k, {tx});
  EXPECT_EQ(valuesOf(out[0]), (std::vector<double>{3.00390625, 6.0, inf, 3 * 0x1p-24}));
  EXPECT_EQ(out[1].dtype(), DType::F64); // Even an f16 output comes back in f64, already rounded.
  EXPECT_EQ(valuesOf(out[1]), valuesOf(out[0]));
}

/// y[i] = dst(a[i]) for an f64 input.
std::vector<Tensor> castF64(const std::vector<double> &values, const std::vector<DType> &targets) {
  Elementwise k(DType::F64);
  for (DType t : targets)
    k.out(std::string(dtypeName(t)), cast(t, k.A()));
  Tensor a = tensorOf({static_cast<int64_t>(values.size())}, DType::F64, values);
  return interpret(k.kb.k, {a, a});
}

TEST(Interpreter, NarrowingCastsRoundOnceFromF64) {
  // 1 + 2^-11 + 2^-40 is just above the f16 midpoint 1 + 2^-11: it rounds up to 1 + 2^-10.
  // Through f32 first it would become exactly the midpoint and then round to even, 1.0.
  double justAbove = 1.0 + 0x1p-11 + 0x1p-40;
  std::vector<Tensor> out = castF64({justAbove, 0.1, 65519.0, 65520.0, -0x1p-26, 1e300},
                                    {DType::F16, DType::BF16, DType::F32});
  std::vector<double> f16 = valuesOf(out[0]), bf16 = valuesOf(out[1]), f32 = valuesOf(out[2]);
  EXPECT_EQ(f16[0], 1.0 + 0x1p-10);
  EXPECT_EQ(f16[1], halfToFloat(floatToHalf(0.1f)));
  EXPECT_EQ(f16[2], 65504.0);
  EXPECT_EQ(f16[3], inf); // Halfway to the next binade rounds to even: overflow.
  EXPECT_EQ(f16[4], 0.0);
  EXPECT_TRUE(std::signbit(f16[4]));
  EXPECT_EQ(bf16[0], 1.0);
  EXPECT_EQ(bf16[1], bfloat16ToFloat(floatToBFloat16(0.1f)));
  EXPECT_EQ(bf16[5], inf);
  EXPECT_EQ(f32[1], static_cast<double>(0.1f));
  EXPECT_EQ(f32[5], inf);
}

TEST(Interpreter, NarrowingMatchesRuntimeConversionsOnFloats) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> bits;
  std::vector<double> values;
  while (values.size() < 2000) {
    uint32_t b = bits(rng);
    float f;
    std::memcpy(&f, &b, sizeof f);
    if (std::isfinite(f))
      values.push_back(f);
  }
  std::vector<Tensor> out = castF64(values, {DType::F16, DType::BF16});
  for (size_t i = 0; i < values.size(); ++i) {
    float f = static_cast<float>(values[i]);
    ASSERT_EQ(out[0].at(static_cast<int64_t>(i)), halfToFloat(floatToHalf(f))) << values[i];
    ASSERT_EQ(out[1].at(static_cast<int64_t>(i)), bfloat16ToFloat(floatToBFloat16(f))) << values[i];
  }
}

TEST(Interpreter, FloatToIntCastsTruncateAndSaturate) {
  double nan = std::nan("");
  std::vector<Tensor> out = castF64({3.7, -3.7, 1e10, -1e10, nan, inf, -inf, 1e19, -0.0},
                                    {DType::I32, DType::I64, DType::Bool});
  EXPECT_EQ(intValuesOf(out[0]),
            (std::vector<int64_t>{3, -3, i32Max, i32Min, 0, i32Max, i32Min, i32Max, 0}));
  EXPECT_EQ(intValuesOf(out[1]),
            (std::vector<int64_t>{3, -3, 10000000000, -10000000000, 0, i64Max, i64Min, i64Max, 0}));
  EXPECT_EQ(intValuesOf(out[2]), (std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1, 1, 0}));
}

TEST(Interpreter, IntegerCasts) {
  Elementwise k(DType::I64);
  k.out("to_i32", cast(DType::I32, k.A()));
  k.out("to_bool", cast(DType::Bool, k.A()));
  k.out("to_f32", cast(DType::F32, k.A()));
  k.out("to_bf16", cast(DType::BF16, k.A()));
  k.out("bool_to_f64", cast(DType::F64, bin(BinaryOp::Lt, k.A(), k.B())));
  int64_t big = (int64_t(1) << 60) + (int64_t(1) << 52) + 1; // Just above a bf16 midpoint.
  Tensor a = intTensorOf({4}, DType::I64, {(int64_t(1) << 32) + 5, -1, 0, big});
  Tensor b = intTensorOf({4}, DType::I64, {0, 0, 0, 0});
  std::vector<Tensor> out = interpret(k.kb.k, {a, b});
  EXPECT_EQ(intValuesOf(out[0]), (std::vector<int64_t>{5, -1, 0, 1})); // wraps
  EXPECT_EQ(intValuesOf(out[1]), (std::vector<int64_t>{1, 1, 0, 1}));
  EXPECT_EQ(out[2].at(3), static_cast<double>(static_cast<float>(big))); // rounded to f32
  EXPECT_EQ(out[3].at(3), 0x1p60 + 0x1p53);                              // rounded once
  EXPECT_EQ(valuesOf(out[4]), (std::vector<double>{0, 1, 0, 0}));
}

TEST(Interpreter, FloorDivisionAndModuloFollowPython) {
  Elementwise k(DType::I64);
  k.out("q", bin(BinaryOp::FloorDiv, k.A(), k.B()));
  k.out("r", bin(BinaryOp::Mod, k.A(), k.B()));
  Tensor a = intTensorOf({7}, DType::I64, {7, -7, 7, -7, 5, -5, i64Min});
  Tensor b = intTensorOf({7}, DType::I64, {2, 2, -2, -2, 0, 0, -1});
  std::vector<Tensor> out = interpret(k.kb.k, {a, b});
  EXPECT_EQ(intValuesOf(out[0]), (std::vector<int64_t>{3, -4, -4, 3, 0, 0, i64Min}));
  EXPECT_EQ(intValuesOf(out[1]), (std::vector<int64_t>{1, 1, -1, -1, 0, 0, 0}));

  Elementwise k32(DType::I32);
  k32.out("q", bin(BinaryOp::FloorDiv, k32.A(), k32.B()));
  k32.out("r", bin(BinaryOp::Mod, k32.A(), k32.B()));
  Tensor a32 = intTensorOf({3}, DType::I32, {i32Min, -1, 9});
  Tensor b32 = intTensorOf({3}, DType::I32, {-1, 3, -4});
  out = interpret(k32.kb.k, {a32, b32});
  EXPECT_EQ(intValuesOf(out[0]), (std::vector<int64_t>{i32Min, -1, -3})); // i32Min // -1 wraps
  EXPECT_EQ(intValuesOf(out[1]), (std::vector<int64_t>{0, 2, -3}));

  Elementwise kf(DType::F64);
  kf.out("q", bin(BinaryOp::FloorDiv, kf.A(), kf.B()));
  kf.out("r", bin(BinaryOp::Mod, kf.A(), kf.B()));
  Tensor af = tensorOf({4}, DType::F64, {-7.5, 7.5, 6.0, -6.0});
  Tensor bf = tensorOf({4}, DType::F64, {2, -2, 3, 3});
  out = interpret(kf.kb.k, {af, bf});
  EXPECT_EQ(valuesOf(out[0]), (std::vector<double>{-4, -4, 2, -2}));
  EXPECT_EQ(valuesOf(out[1]), (std::vector<double>{0.5, -0.5, 0, 0}));
}

TEST(Interpreter, I32ArithmeticWraps) {
  Elementwise k(DType::I32);
  k.out("add", add(k.A(), k.B()));
  k.out("mul", mul(k.A(), k.B()));
  k.out("neg", Unary::make(UnaryOp::Neg, k.A()));
  k.out("abs", call(Intrinsic::Abs, k.A()));
  k.out("pow", bin(BinaryOp::Pow, k.A(), k.B()));
  k.out("relu", call(Intrinsic::Relu, k.A()));
  Tensor a = intTensorOf({5}, DType::I32, {i32Max, 65536, i32Min, 2, -3});
  Tensor b = intTensorOf({5}, DType::I32, {1, 65536, 0, 31, 3});
  std::vector<Tensor> out = interpret(k.kb.k, {a, b});
  EXPECT_EQ(out[0].dtype(), DType::I32);
  EXPECT_EQ(intValuesOf(out[0]), (std::vector<int64_t>{i32Min, 131072, i32Min, 33, 0}));
  EXPECT_EQ(intValuesOf(out[1]), (std::vector<int64_t>{i32Max, 0, 0, 62, -9}));
  EXPECT_EQ(intValuesOf(out[2]), (std::vector<int64_t>{-i32Max, -65536, i32Min, -2, 3}));
  EXPECT_EQ(intValuesOf(out[3]), (std::vector<int64_t>{i32Max, 65536, i32Min, 2, 3}));
  EXPECT_EQ(intValuesOf(out[4]), (std::vector<int64_t>{i32Max, 0, 1, i32Min, -27}));
  EXPECT_EQ(intValuesOf(out[5]), (std::vector<int64_t>{i32Max, 65536, 0, 2, 0}));
}

TEST(Interpreter, IntegerPowNegativeExponents) {
  Elementwise k(DType::I64);
  k.out("pow", bin(BinaryOp::Pow, k.A(), k.B()));
  Tensor a = intTensorOf({7}, DType::I64, {2, 3, 1, -1, -1, 0, 0});
  Tensor b = intTensorOf({7}, DType::I64, {10, -1, -5, -3, -2, 0, -1});
  EXPECT_EQ(intValuesOf(interpret(k.kb.k, {a, b})[0]),
            (std::vector<int64_t>{1024, 0, 1, -1, 1, 1, 0}));
}

TEST(Interpreter, FloatMinMaxAndIntrinsics) {
  double nan = std::nan("");
  Elementwise k(DType::F64);
  k.out("max", bin(BinaryOp::Max, k.A(), k.B()));
  k.out("min", bin(BinaryOp::Min, k.A(), k.B()));
  k.out("relu", call(Intrinsic::Relu, k.A()));
  k.out("round", call(Intrinsic::Round, k.A()));
  k.out("sigmoid", call(Intrinsic::Sigmoid, k.A()));
  k.out("rsqrt", call(Intrinsic::Rsqrt, k.B()));
  Tensor a = tensorOf({5}, DType::F64, {-0.0, nan, 2.5, -0.5, 3.5});
  Tensor b = tensorOf({5}, DType::F64, {0.0, 1.0, 4.0, nan, 0.25});
  std::vector<Tensor> out = interpret(k.kb.k, {a, b});
  std::vector<double> mx = valuesOf(out[0]), mn = valuesOf(out[1]), relu = valuesOf(out[2]),
                      rnd = valuesOf(out[3]), sig = valuesOf(out[4]), rs = valuesOf(out[5]);
  EXPECT_FALSE(std::signbit(mx[0]));
  EXPECT_TRUE(std::signbit(mn[0]));
  EXPECT_TRUE(std::isnan(mx[1]) && std::isnan(mn[1]) && std::isnan(mx[3]) && std::isnan(mn[3]));
  EXPECT_EQ(mx[2], 4.0);
  EXPECT_EQ(mn[2], 2.5);
  EXPECT_EQ(relu[0], 0.0);
  EXPECT_FALSE(std::signbit(relu[0]));
  EXPECT_TRUE(std::isnan(relu[1]));
  EXPECT_EQ(relu[3], 0.0);
  EXPECT_EQ(rnd[2], 2.0); // Half to even.
  EXPECT_EQ(rnd[3], -0.0);
  EXPECT_EQ(rnd[4], 4.0);
  EXPECT_DOUBLE_EQ(sig[2], 1.0 / (1.0 + std::exp(-2.5)));
  EXPECT_EQ(rs[2], 0.5);
  EXPECT_EQ(rs[4], 2.0);
}

TEST(Interpreter, SelectComparisonsAndIndexValues) {
  // causal mask: y[t, u] = where(u <= t, s[t, u], -inf), plus an index used as a value.
  KernelBuilder kb("causal");
  Var tdim = kb.sym("T");
  Buffer s = kb.input("s", DType::F32, {vr(tdim), vr(tdim)});
  Buffer y = kb.output("y", DType::F32, {vr(tdim), vr(tdim)});
  Buffer idx = kb.output("idx", DType::F32, {vr(tdim)});
  Var t = KernelBuilder::index("t"), u = KernelBuilder::index("u"), v = KernelBuilder::index("v");
  kb.def(y, {t, u},
         Select::make(bin(BinaryOp::Le, vr(u), vr(t)), at(s, {vr(t), vr(u)}), fimm(-inf)));
  kb.def(idx, {v}, mul(cast(DType::F32, vr(v)), cast(DType::F32, vr(tdim))));
  std::vector<Tensor> out = interpret(kb.k, {tensorOf({2, 2}, DType::F32, {1, 2, 3, 4})});
  EXPECT_EQ(valuesOf(out[0]), (std::vector<double>{1, -inf, 3, 4}));
  EXPECT_EQ(valuesOf(out[1]), (std::vector<double>{0, 2}));
}

TEST(Interpreter, StoredValuesAreRoundedToTheirDtype) {
  // Arithmetic is f64, but t is an f32 tensor: x + 1e-9 is stored as 1.0f.
  KernelBuilder kb("precise");
  Buffer x = kb.input("x", DType::F32, {});
  Buffer t = KernelBuilder::temp("t", DType::F32, {});
  Buffer y = kb.output("y", DType::F32, {});
  Buffer r = kb.output("r", DType::F32, {});
  kb.def(t, {}, add(at(x, {}), fimm(static_cast<float>(1e-9))));
  kb.def(y, {}, sub(at(t, {}), at(x, {})));
  kb.def(r, {}, cast(DType::F32, cast(DType::F64, at(t, {}))));
  std::vector<Tensor> out = interpret(kb.k, {tensorOf({}, DType::F32, {1.0})});
  EXPECT_EQ(out[0].at(0), 0.0);
  EXPECT_EQ(out[1].at(0), 1.0);
}

TEST(Interpreter, RejectsWrongInputDtype) {
  Tensor a = tensorOf({2, 2}, DType::F64, {1, 2, 3, 4});
  try {
    interpret(matmulKernel(), {a, a});
    FAIL() << "expected a RuntimeError";
  } catch (const RuntimeError &e) {
    EXPECT_EQ(std::string(e.what()), "input a: expected f32 data, got f64[2, 2]");
  }
}

TEST(Interpreter, UnprovenOutOfBoundsAccessIsAnInternalError) {
  KernelBuilder kb("oob");
  Var n = kb.sym("N");
  Buffer x = kb.input("x", DType::F32, {vr(n)});
  Buffer y = kb.output("y", DType::F32, {vr(n)});
  Var i = KernelBuilder::index("i");
  kb.def(y, {i}, at(x, {add(vr(i), imm(1))}));
  try {
    interpret(kb.k, {tensorOf({3}, DType::F32, {1, 2, 3})});
    FAIL() << "expected an InternalError";
  } catch (const InternalError &e) {
    EXPECT_NE(std::string(e.what()).find("x[i + 1] reads index 3 of dim 0 (size 3) of x"),
              std::string::npos)
        << e.what();
  }
}

} // namespace
} // namespace tdsl::ir
