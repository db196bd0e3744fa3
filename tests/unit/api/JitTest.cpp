// The public API: compiling, calling on owned tensors and views, errors, and stage dumps.
#include "tdsl/tdsl.h"

#include <gtest/gtest.h>

#include <cmath>

namespace {

using namespace tdsl;

const char *kAddRelu = R"(
kernel add_relu(a: f32[N], b: f32[N]) -> y: f32[N] {
    y = relu(a + b)
}
)";

TEST(Jit, RunsOnOwnedTensorsAndViews) {
  Jit jit;
  Kernel k = jit.compile(kAddRelu, "add_relu.tdsl").kernel("add_relu");
  EXPECT_EQ(k.inputNames(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(k.outputNames(), (std::vector<std::string>{"y"}));

  std::vector<float> a = {1, -2, 3, -4, 5}, b = {0.5f, 0.5f, -4, 5, -5}, y(5, -99.0f);
  Tensor ta = Tensor::view(a.data(), {5}, DType::F32);
  Tensor tb = Tensor::view(b.data(), {5}, DType::F32);
  k.run({ta, tb}, {Tensor::view(y.data(), {5}, DType::F32)});
  EXPECT_EQ(y, (std::vector<float>{1.5f, 0, 0, 1, 0}));

  Tensor owned = k({ta, tb})[0];
  EXPECT_EQ(owned.shape(), (std::vector<int64_t>{5}));
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(owned.at(i), y[i]);
}

TEST(Jit, SmallIntegersWrapAndFloatCastsSaturate) {
  // Expected values from NumPy (uint8/int8 arithmetic), except the float casts, which saturate
  // where NumPy's astype is undefined.
  Jit jit;
  Kernel k = jit.compile(R"(
kernel small(a: u8[N], b: u8[N], x: f32[N], c: i8[N]) -> (s: u8[N], d: u8[N], p: u8[N], n: u8[N], lt: bool[N], mx: u8[N], sat: u8[N], c2: i8[N], total: u8) {
    s = a + b
    d = a - b
    p = a * b
    n = -a
    lt = a < b
    mx = max(a, b)
    sat = u8(x)
    c2 = -c * 2
    total = sum(a[i] for i)
}
)")
                 .kernel("small");
  std::vector<uint8_t> a = {200, 255, 0, 17, 128, 99, 1}, b = {100, 1, 255, 3, 128, 200, 0};
  std::vector<float> x = {-3.5f, 300.0f, NAN, 255.9f, -0.9f, 1e10f, 127.5f};
  std::vector<int8_t> c = {-128, 127, -1, 50, 100, -100, 7};
  std::vector<Tensor> in = {
      Tensor::view(a.data(), {7}, DType::U8), Tensor::view(b.data(), {7}, DType::U8),
      Tensor::view(x.data(), {7}, DType::F32), Tensor::view(c.data(), {7}, DType::I8)};
  const std::vector<std::vector<int64_t>> expected = {{44, 0, 255, 20, 0, 43, 1},
                                                      {100, 254, 1, 14, 0, 155, 1},
                                                      {32, 255, 0, 51, 0, 88, 0},
                                                      {56, 1, 0, 239, 128, 157, 255},
                                                      {0, 0, 1, 0, 0, 1, 0},
                                                      {200, 255, 255, 17, 128, 200, 1},
                                                      {0, 255, 0, 255, 0, 255, 127},
                                                      {0, 2, 2, -100, 56, -56, -14},
                                                      {188}};
  for (const std::vector<Tensor> &out : {k(in), k.interpret(in)}) {
    ASSERT_EQ(out.size(), expected.size());
    for (size_t o = 0; o < out.size(); ++o)
      for (int64_t i = 0; i < out[o].numel(); ++i)
        EXPECT_EQ(out[o].atInt(i), expected[o][size_t(i)]) << k.outputNames()[o] << "[" << i << "]";
  }
  EXPECT_EQ(k.outputDType(0), DType::U8);
  EXPECT_EQ(k.outputDType(7), DType::I8);
}

TEST(Jit, InPlaceCallsSeeTheirInputsWhole) {
  // reversed() reads x[N - 1 - i] while writing y[i]: computed in place, a naive kernel would
  // overwrite the elements it has yet to read.
  Jit jit;
  Kernel k = jit.compile("kernel reversed(x: f32[N]) -> y: f32[N] {\n    y[i] = x[N - 1 - i]\n}\n")
                 .kernel("reversed");
  std::vector<float> data = {1, 2, 3, 4, 5};
  Tensor view = Tensor::view(data.data(), {5}, DType::F32);
  k.run({view}, {view});
  EXPECT_EQ(data, (std::vector<float>{5, 4, 3, 2, 1}));
}

TEST(Jit, CompileErrorCarriesEveryDiagnostic) {
  Jit jit;
  try {
    jit.compile("kernel k(x: f32[N]) -> y: f32[N] {\n    y = x + zz\n}\n"
                "kernel k2(x: f32[N]) -> y: f32[N] {\n    y[i] = x[i + 1]\n}\n",
                "bad.tdsl");
    FAIL() << "expected a CompileError";
  } catch (const CompileError &e) {
    ASSERT_GE(e.diagnostics().size(), 2u);
    EXPECT_EQ(e.diagnostics()[0].span.str(), "bad.tdsl:2:13");
    EXPECT_NE(std::string(e.what()).find("^"), std::string::npos);
  }
}

TEST(Jit, ShapeMismatchNamesBothParameters) {
  Jit jit;
  Kernel k = jit.compile(kAddRelu).kernel("add_relu");
  try {
    k({Tensor::zeros({3}, DType::F32), Tensor::zeros({4}, DType::F32)});
    FAIL() << "expected a RuntimeError";
  } catch (const RuntimeError &e) {
    std::string message = e.what();
    EXPECT_NE(message.find("a"), std::string::npos) << message;
    EXPECT_NE(message.find("b"), std::string::npos) << message;
  }
}

TEST(Jit, DtypeMismatchIsAnError) {
  Jit jit;
  Kernel k = jit.compile(kAddRelu).kernel("add_relu");
  EXPECT_THROW(k({Tensor::zeros({3}, DType::F64), Tensor::zeros({3}, DType::F32)}), RuntimeError);
  EXPECT_THROW(k({Tensor::zeros({3}, DType::F32)}), RuntimeError);
}

TEST(Jit, UnknownKernelListsTheKnownOnes) {
  Jit jit;
  Module m = jit.compile(kAddRelu);
  try {
    m.kernel("nope");
    FAIL();
  } catch (const RuntimeError &e) {
    EXPECT_NE(std::string(e.what()).find("add_relu"), std::string::npos);
  }
}

TEST(Jit, DumpsEveryCpuStage) {
  Jit jit;
  Kernel k = jit.compile(kAddRelu).kernel("add_relu");
  EXPECT_NE(k.dump(Stage::Ast).find("add_relu"), std::string::npos);
  EXPECT_NE(k.dump(Stage::Tensor).find("add_relu"), std::string::npos);
  EXPECT_NE(k.dump(Stage::Loops).find("for"), std::string::npos);
  EXPECT_NE(k.dump(Stage::Llvm).find("define"), std::string::npos);
  EXPECT_NE(k.dump(Stage::Asm).find("add_relu"), std::string::npos);
  EXPECT_NE(k.dump(Stage::Cuda).find("__global__"), std::string::npos);
}

TEST(Jit, RandomInputsFollowTheGivenSymbolSizes) {
  Jit jit;
  Kernel k = jit.compile("kernel f(x: f32[N, 3], y: i32[M]) -> z: f32[N] {\n"
                         "    z[i] = x[i, 0] + f32(sum(y[j] for j))\n}\n")
                 .kernel("f");
  EXPECT_EQ(k.symbolNames(), (std::vector<std::string>{"N", "M"}));
  std::vector<Tensor> inputs = k.randomInputs({{"N", 5}, {"M", 2}}, 9);
  ASSERT_EQ(inputs.size(), 2u);
  EXPECT_EQ(inputs[0].typeString(), "f32[5, 3]");
  EXPECT_EQ(inputs[1].typeString(), "i32[2]");
  EXPECT_EQ(inputs[0].at(4), Tensor::randn({5, 3}, DType::F32, 9).at(4));
  try {
    k.inputShape(1, {{"N", 5}});
    FAIL() << "expected a RuntimeError";
  } catch (const RuntimeError &e) {
    EXPECT_EQ(std::string(e.what()), "the size of M (a dim of input y) is not given");
  }
}

TEST(Jit, InterpreterAgreesOnScalars) {
  Jit jit;
  Kernel k = jit.compile("kernel dot(a: f32[N], b: f32[N]) -> d: f32 {\n"
                         "    d = sum(a[i] * b[i] for i)\n}\n")
                 .kernel("dot");
  Tensor a = Tensor::randn({37}, DType::F32, 1), b = Tensor::randn({37}, DType::F32, 2);
  Tensor d = k({a, b})[0];
  EXPECT_EQ(d.rank(), 0);
  double expected = 0;
  for (int i = 0; i < 37; ++i)
    expected += a.at(i) * b.at(i);
  EXPECT_NEAR(d.at(0), expected, 1e-4);
  EXPECT_NEAR(k.interpret({a, b})[0].at(0), expected, 1e-9);
}

} // namespace
