// Vector math through libmvec: vector calls of exp, log, sin, tanh, erf, pow... become one call
// per 512-, 256- or 128-bit piece (never one libm call per lane) for both vector widths and for
// lane counts that are not a register's; the results stay within a few ulp of libm, and special
// values (NaN, infinities, signed zeros, overflow) come out exactly as libm gives them.
#include "LlvmTestUtil.h"

#include "codegen/llvm/VectorMath.h"
#include "ir/IRPrinter.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

namespace tdsl::test {
namespace {

using codegen::MathFn;

codegen::LlvmCodeGenOptions avx512() {
  codegen::LlvmCodeGenOptions o;
  o.cpu = "x86-64-v4";
  o.features = "+avx512f,+avx512vl,+avx512bw,+avx512dq,+avx512cd,+avx2,+avx,+fma,+f16c,+bmi,"
               "+bmi2,+lzcnt,+popcnt,+sse4.2,+movbe";
  return o;
}

codegen::LlvmCodeGenOptions avx2() {
  codegen::LlvmCodeGenOptions o;
  o.cpu = "x86-64-v3";
  o.features = "+avx2,+avx,+fma,+f16c,+bmi,+bmi2,+lzcnt,+popcnt,+sse4.2,+movbe";
  return o;
}

bool hostHasAvx512() { return codegen::hostCpuInfo().vectorBits >= 512; }
bool hostHasAvx2() { return codegen::hostCpuInfo().vectorBits >= 256; }

/// The math functions of one argument that go through libmvec, and sigmoid (built on exp).
const Intrinsic kVectorMath[] = {Intrinsic::Exp, Intrinsic::Exp2,   Intrinsic::Log, Intrinsic::Log2,
                                 Intrinsic::Sin, Intrinsic::Cos,    Intrinsic::Tan, Intrinsic::Tanh,
                                 Intrinsic::Erf, Intrinsic::Sigmoid};

template <typename T> T libm(Intrinsic fn, T x) {
  switch (fn) {
  case Intrinsic::Exp:
    return std::exp(x);
  case Intrinsic::Exp2:
    return std::exp2(x);
  case Intrinsic::Log:
    return std::log(x);
  case Intrinsic::Log2:
    return std::log2(x);
  case Intrinsic::Sin:
    return std::sin(x);
  case Intrinsic::Cos:
    return std::cos(x);
  case Intrinsic::Tan:
    return std::tan(x);
  case Intrinsic::Tanh:
    return std::tanh(x);
  case Intrinsic::Erf:
    return std::erf(x);
  case Intrinsic::Sigmoid:
    return T(1) / (T(1) + std::exp(-x));
  default:
    return T{};
  }
}

/// Distance in units in the last place, counting the representable values between a and b
/// (across zero, +0 and -0 being one value apart); NaN against NaN is 0, NaN against a number
/// is huge.
template <typename T> uint64_t ulps(T a, T b) {
  if (std::isnan(a) || std::isnan(b))
    return std::isnan(a) && std::isnan(b) ? 0 : UINT64_MAX;
  using I = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  auto ordered = [](T v) {
    I bits = std::bit_cast<I>(v);
    return bits < 0 ? int64_t(std::numeric_limits<I>::min()) - int64_t(bits) : int64_t(bits);
  };
  int64_t x = ordered(a), y = ordered(b);
  return x > y ? uint64_t(x - y) : uint64_t(y - x);
}

template <typename T> constexpr DType dtypeOf() { return sizeof(T) == 4 ? DType::F32 : DType::F64; }

/// y = fn(x) for each function, in `lanes`-lane vectors over N elements.
LoweredFunc mathKernel(DType dtype, int lanes, const std::vector<Intrinsic> &fns) {
  Var n = symbolVar("N");
  Buffer x = makeBuffer("x", dtype, {ir::ref(n)}, BufferRole::Input);
  std::vector<ElementwiseOutput> outs;
  for (Intrinsic fn : fns)
    outs.push_back(
        {makeBuffer(std::string(intrinsicName(fn)), dtype, {ir::ref(n)}, BufferRole::Output),
         [fn](const std::vector<Expr> &v) { return Call::make(fn, {v[0]}); }});
  return elementwiseKernel("math", {x}, outs, lanes, n);
}

LoweredFunc powKernel(DType dtype, int lanes) {
  Var n = symbolVar("N");
  Buffer x = makeBuffer("x", dtype, {ir::ref(n)}, BufferRole::Input);
  Buffer p = makeBuffer("p", dtype, {ir::ref(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", dtype, {ir::ref(n)}, BufferRole::Output);
  return elementwiseKernel(
      "power", {x, p},
      {{y, [](const std::vector<Expr> &v) { return bin(BinaryOp::Pow, v[0], v[1]); }}}, lanes, n);
}

int count(const std::string &text, const std::string &needle) {
  int n = 0;
  for (size_t at = 0; (at = text.find(needle, at)) != std::string::npos; at += needle.size())
    ++n;
  return n;
}

TEST(VectorMath, NamesFollowTheX86VectorAbi) {
  EXPECT_EQ(codegen::libmvecName(MathFn::Exp, false, 'e', 16), "_ZGVeN16v_expf");
  EXPECT_EQ(codegen::libmvecName(MathFn::Tanh, true, 'd', 4), "_ZGVdN4v_tanh");
  EXPECT_EQ(codegen::libmvecName(MathFn::Pow, false, 'b', 4), "_ZGVbN4vv_powf");
  EXPECT_EQ(codegen::libmName(MathFn::Erf, false), "erff");
  EXPECT_EQ(codegen::vectorMathFunction(Intrinsic::Log2), MathFn::Log2);
  EXPECT_FALSE(codegen::vectorMathFunction(Intrinsic::Sqrt)); // An instruction, not a call.
}

TEST(VectorMath, LibmvecIsLoadedIntoTheProcess) {
  ASSERT_TRUE(codegen::libmvecAvailable()) << "glibc's libmvec.so.1 is missing";
}

TEST(VectorMath, SixteenLanesCallTheAvx512VariantsOncePerVector) {
  if (!codegen::libmvecAvailable())
    GTEST_SKIP() << "no libmvec";
  std::vector<Intrinsic> fns(std::begin(kVectorMath), std::end(kVectorMath));
  std::string ir = codegen::emitLlvmIr(mathKernel(DType::F32, 16, fns), true, avx512());
  for (const char *name :
       {"expf", "exp2f", "logf", "log2f", "sinf", "cosf", "tanf", "tanhf", "erff"}) {
    EXPECT_GE(count(ir, "call <16 x float> @_ZGVeN16v_" + std::string(name) + "("), 1)
        << name << "\n"
        << ir;
    EXPECT_EQ(count(ir, "@" + std::string(name) + "("), 0) << "scalar " << name << "\n" << ir;
  }
  // sigmoid's exp and exp itself: the optimizer may merge neither, so two calls.
  EXPECT_EQ(count(ir, "call <16 x float> @_ZGVeN16v_expf("), 2) << ir;
  EXPECT_EQ(count(ir, "llvm.exp."), 0) << ir;
}

TEST(VectorMath, EachWidthUsesItsRegisterSizedVariant) {
  if (!codegen::libmvecAvailable())
    GTEST_SKIP() << "no libmvec";
  std::vector<Intrinsic> exp = {Intrinsic::Exp};
  // Unoptimized IR: one loop. (Optimized, a large output's loop comes in two versions, with
  // streaming and with plain stores, each with its calls.)
  // f32 x 16: one AVX-512 call, two AVX2 calls, four SSE calls.
  std::string v4 = codegen::emitLlvmIr(mathKernel(DType::F32, 16, exp), false, avx512());
  std::string v3 = codegen::emitLlvmIr(mathKernel(DType::F32, 16, exp), false, avx2());
  std::string v1 = codegen::emitLlvmIr(mathKernel(DType::F32, 16, exp), false, baselineX86());
  EXPECT_EQ(count(v4, "call <16 x float> @_ZGVeN16v_expf("), 1) << v4;
  EXPECT_EQ(count(v3, "call <8 x float> @_ZGVdN8v_expf("), 2) << v3;
  EXPECT_EQ(count(v1, "call <4 x float> @_ZGVbN4v_expf("), 4) << v1;
  // f64 x 8 with AVX-512; f64 x 4 with AVX2.
  std::string d4 = codegen::emitLlvmIr(mathKernel(DType::F64, 8, exp), false, avx512());
  std::string d3 = codegen::emitLlvmIr(mathKernel(DType::F64, 4, exp), false, avx2());
  EXPECT_EQ(count(d4, "call <8 x double> @_ZGVeN8v_exp("), 1) << d4;
  EXPECT_EQ(count(d3, "call <4 x double> @_ZGVdN4v_exp("), 1) << d3;
  // Odd lane counts: 12 = 8 + 4; 3 is padded to one 4-lane call; pow takes two vectors.
  std::string odd = codegen::emitLlvmIr(mathKernel(DType::F32, 12, exp), false, avx512());
  EXPECT_EQ(count(odd, "call <8 x float> @_ZGVdN8v_expf("), 1) << odd;
  EXPECT_EQ(count(odd, "call <4 x float> @_ZGVbN4v_expf("), 1) << odd;
  std::string three = codegen::emitLlvmIr(mathKernel(DType::F32, 3, exp), false, avx512());
  EXPECT_EQ(count(three, "call <4 x float> @_ZGVbN4v_expf("), 1) << three;
  std::string pow = codegen::emitLlvmIr(powKernel(DType::F32, 16), false, avx512());
  EXPECT_EQ(count(pow, "call <16 x float> @_ZGVeN16vv_powf(<16 x float>"), 1) << pow;
}

/// Inputs where functions are interesting: around zero, the reduction boundaries, overflow and
/// underflow thresholds, huge arguments, and the special values.
template <typename T> std::vector<T> specialInputs() {
  using L = std::numeric_limits<T>;
  std::vector<T> xs = {T(0),
                       T(-0.0),
                       T(1),
                       T(-1),
                       T(0.5),
                       T(-0.5),
                       T(2),
                       T(-2),
                       T(3.14159265358979),
                       T(1.5707963267949),
                       T(10),
                       T(-10),
                       T(88.7),
                       T(-103.9),
                       T(89),
                       T(-104),
                       T(709.7),
                       T(-745.1),
                       T(1000),
                       T(-1000),
                       T(1e-30),
                       T(-1e-30),
                       T(1e20),
                       T(-1e20),
                       L::infinity(),
                       -L::infinity(),
                       L::quiet_NaN(),
                       L::denorm_min(),
                       L::min(),
                       L::max(),
                       L::lowest(),
                       T(1e-6)};
  while (xs.size() % 48) // Whole vectors of 16, 12, 8 and 3 lanes.
    xs.push_back(T(0.25) * T(xs.size()));
  return xs;
}

/// Numbers spread over the ranges a kernel sees in practice.
template <typename T> std::vector<T> spreadInputs() {
  std::vector<T> xs;
  for (int i = 0; i < 4800; ++i)
    xs.push_back(T(-30.0 + 60.0 * i / 4800.0 + 1e-3 * (i % 7)));
  return xs;
}

template <typename T>
void checkAgainstLibm(int lanes, const codegen::LlvmCodeGenOptions &options,
                      const std::vector<T> &xs, uint64_t maxUlps) {
  std::vector<Intrinsic> fns(std::begin(kVectorMath), std::end(kVectorMath));
  auto kernel = codegen::compileForHost(mathKernel(dtypeOf<T>(), lanes, fns), options);
  std::vector<T> input = xs;
  std::vector<std::vector<T>> out(fns.size(), std::vector<T>(xs.size()));
  std::vector<void *> buffers = {input.data()};
  for (auto &o : out)
    buffers.push_back(o.data());
  runKernel(*kernel, buffers, {int64_t(xs.size())});
  for (size_t k = 0; k < fns.size(); ++k) {
    int failures = 0;
    for (size_t i = 0; i < xs.size() && failures < 5; ++i) {
      T want = libm(fns[k], xs[i]), got = out[k][i];
      // Exact where the answer is a special value: NaN, infinities, zeros (with sign).
      bool exactExpected = std::isnan(want) || std::isinf(want) || want == 0 || xs[i] == 0;
      uint64_t bound = exactExpected ? 0 : maxUlps;
      if (!std::isnan(want) && !std::isnan(got) && want == 0 && got == 0 &&
          std::signbit(want) != std::signbit(got))
        bound = 0; // +0 and -0 are one ulp apart: must still match.
      if (ulps(got, want) > bound) {
        ++failures;
        ADD_FAILURE() << intrinsicName(fns[k]) << "(" << xs[i] << "): got " << got << ", libm "
                      << want << ", " << ulps(got, want) << " ulp (lanes " << lanes << ", "
                      << (options.cpu.empty() ? "host" : options.cpu) << ")";
      }
    }
  }
}

class VectorMathLanes : public ::testing::TestWithParam<int> {};

TEST_P(VectorMathLanes, F32WithinFourUlpOfLibmAndSpecialValuesExact) {
  int lanes = GetParam();
  checkAgainstLibm<float>(lanes, {}, specialInputs<float>(), 4);
  checkAgainstLibm<float>(lanes, {}, spreadInputs<float>(), 4);
  if (hostHasAvx2())
    checkAgainstLibm<float>(lanes, avx2(), specialInputs<float>(), 4);
  checkAgainstLibm<float>(lanes, baselineX86(), specialInputs<float>(), 4);
}

TEST_P(VectorMathLanes, F64WithinFourUlpOfLibmAndSpecialValuesExact) {
  int lanes = GetParam();
  checkAgainstLibm<double>(lanes, {}, specialInputs<double>(), 4);
  checkAgainstLibm<double>(lanes, {}, spreadInputs<double>(), 4);
  if (hostHasAvx2())
    checkAgainstLibm<double>(lanes, avx2(), specialInputs<double>(), 4);
  checkAgainstLibm<double>(lanes, baselineX86(), specialInputs<double>(), 4);
}

INSTANTIATE_TEST_SUITE_P(Lanes, VectorMathLanes, ::testing::Values(16, 12, 8, 3),
                         [](const auto &info) { return "x" + std::to_string(info.param); });

template <typename T> void checkPow(int lanes, const codegen::LlvmCodeGenOptions &options) {
  using L = std::numeric_limits<T>;
  std::vector<T> bases = {T(0),           T(-0.0),        T(1),    T(-1), T(2),
                          T(-2),          T(0.5),         T(10),   T(-8), L::infinity(),
                          -L::infinity(), L::quiet_NaN(), T(1e-3), T(3.7)};
  std::vector<T> exps = {T(0),           T(-0.0),        T(1),    T(-1),      T(2),
                         T(3),           T(0.5),         T(-2.5), T(1.0 / 3), L::infinity(),
                         -L::infinity(), L::quiet_NaN(), T(100),  T(-100)};
  std::vector<T> xs, ps;
  for (T x : bases)
    for (T p : exps) {
      xs.push_back(x);
      ps.push_back(p);
    }
  while (xs.size() % 48) {
    xs.push_back(T(1.1) + T(xs.size()) / 64);
    ps.push_back(T(0.3) * T(xs.size() % 9));
  }
  std::vector<T> out(xs.size());
  auto kernel = codegen::compileForHost(powKernel(dtypeOf<T>(), lanes), options);
  runKernel(*kernel, {xs.data(), ps.data(), out.data()}, {int64_t(xs.size())});
  for (size_t i = 0; i < xs.size(); ++i) {
    T want = std::pow(xs[i], ps[i]);
    bool exact = std::isnan(want) || std::isinf(want) || want == 0 || want == 1;
    EXPECT_LE(ulps(out[i], want), exact ? 0u : 4u)
        << "pow(" << xs[i] << ", " << ps[i] << "): got " << out[i] << ", libm " << want
        << " (lanes " << lanes << ")";
  }
}

TEST(VectorMath, PowFollowsC99SpecialCases) {
  for (int lanes : {16, 8, 3}) {
    checkPow<float>(lanes, {});
    checkPow<double>(lanes, {});
  }
}

TEST(VectorMath, SmallConstantExponentsMultiplyInsteadOfCallingPow) {
  using L = std::numeric_limits<float>;
  std::vector<float> xs = {0.0f,           -0.0f,           1.0f,          -1.0f,
                           3.7f,           -2.5f,           1e-20f,        -1e-20f,
                           1e13f,          -1e13f,          L::infinity(), -L::infinity(),
                           L::quiet_NaN(), L::denorm_min(), L::max(),      0.1f};
  for (double e : {0.0, 1.0, -1.0, 2.0, -2.0, 3.0, 4.0}) {
    Var n = symbolVar("N");
    Buffer x = makeBuffer("x", DType::F32, {ir::ref(n)}, BufferRole::Input);
    Buffer y = makeBuffer("y", DType::F32, {ir::ref(n)}, BufferRole::Output);
    LoweredFunc f =
        elementwiseKernel("power", {x},
                          {{y,
                            [e](const std::vector<Expr> &v) {
                              return bin(BinaryOp::Pow, v[0], FloatImm::make(v[0]->type, e));
                            }}},
                          16, n);
    std::string ir = codegen::emitLlvmIr(f);
    EXPECT_EQ(count(ir, "llvm.pow") + count(ir, "powf"), 0) << "x ** " << e << "\n" << ir;
    std::vector<float> out(xs.size());
    auto kernel = codegen::compileForHost(f);
    runKernel(*kernel, {xs.data(), out.data()}, {int64_t(xs.size())});
    for (size_t i = 0; i < xs.size(); ++i) {
      float want = std::pow(xs[i], static_cast<float>(e));
      bool exact = e == 0 || e == 1 || e == -1 || e == 2 || std::isnan(want) || std::isinf(want) ||
                   want == 0;
      EXPECT_LE(ulps(out[i], want), exact ? 0u : 2u)
          << xs[i] << " ** " << e << ": got " << out[i] << ", libm " << want;
    }
  }
}

TEST(VectorMath, Avx512CodeWhereTheHostHasIt) {
  if (!hostHasAvx512())
    GTEST_SKIP() << "the host has no AVX-512";
  checkAgainstLibm<float>(16, avx512(), specialInputs<float>(), 4);
  checkAgainstLibm<double>(8, avx512(), specialInputs<double>(), 4);
  checkPow<float>(16, avx512());
}

TEST(VectorMath, ScalarCodeStillCallsLibm) {
  std::string ir = codegen::emitLlvmIr(mathKernel(DType::F32, 1, {Intrinsic::Tanh}), false);
  EXPECT_GE(count(ir, "@tanhf("), 1) << ir;
  EXPECT_EQ(count(ir, "_ZGV"), 0) << ir;
}

} // namespace
} // namespace tdsl::test
