// The inline f32 exp, cos, tanh, log and erf of AVX-512 vectors (codegen/llvm/InlineMath.h): where
// they are used, their accuracy against the exact value (long double libm), their special values,
// and that a lane's result never depends on the other lanes of its vector (a lane out of range
// sends the vector to libmvec, which only that lane's result may come from).
#include "LlvmTestUtil.h"

#include "codegen/llvm/InlineMath.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace tdsl::test {
namespace {

/// AVX-512 (x86-64-v4) or AVX2 (x86-64-v3) with their features spelled out.
codegen::LlvmCodeGenOptions cpu(const std::string &name) {
  codegen::LlvmCodeGenOptions options;
  options.cpu = name;
  options.features = "+avx2,+avx,+fma,+f16c,+bmi,+bmi2,+lzcnt,+popcnt,+sse4.2,+movbe";
  if (name == "x86-64-v4")
    options.features += ",+avx512f,+avx512vl,+avx512bw,+avx512dq,+avx512cd";
  return options;
}

/// y = fn(x) (or fn(fn(x)) with `twice`) over [N] f32, `lanes` lanes.
LoweredFunc mathKernel(Intrinsic fn, int lanes, bool twice = false) {
  Var n = symbolVar("N");
  Buffer x = makeBuffer("x", DType::F32, {ir::ref(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {ir::ref(n)}, BufferRole::Output);
  return elementwiseKernel("f", {x},
                           {{y,
                             [&](const std::vector<Expr> &v) {
                               Expr e = Call::make(fn, {v[0]});
                               return twice ? Call::make(fn, {e}) : e;
                             }}},
                           lanes, n);
}

bool hostHasAvx512() { return codegen::hostCpuInfo().vectorBits >= 512; }

/// Runs y = fn(x) compiled for this machine with 16 lanes (x's size a multiple of 16).
std::vector<float> run(const codegen::CompiledCpuKernel &kernel, const std::vector<float> &x) {
  std::vector<float> y(x.size());
  std::vector<float> in = x;
  runKernel(kernel, {in.data(), y.data()}, {static_cast<int64_t>(x.size())});
  return y;
}

std::vector<float> run(Intrinsic fn, const std::vector<float> &x) {
  return run(*codegen::compileForHost(mathKernel(fn, 16)), x);
}

/// |got - exact| in ulps of the f32 format at `exact` (subnormal results in subnormal ulps).
double ulps(float got, long double exact) {
  int e = exact == 0 ? -149 : std::max(std::ilogb(exact) - 23, -149);
  return static_cast<double>(fabsl(static_cast<long double>(got) - exact) / std::ldexp(1.0L, e));
}

/// Every `stride`-th f32 of [-bound, bound] (by bit pattern, both signs), padded to 16.
std::vector<float> sweep(float bound, uint32_t stride) {
  std::vector<float> x;
  for (uint32_t bits = 0; bits <= std::bit_cast<uint32_t>(bound); bits += stride) {
    x.push_back(std::bit_cast<float>(bits));
    x.push_back(-std::bit_cast<float>(bits));
  }
  while (x.size() % 16)
    x.push_back(0.0f);
  return x;
}

struct Worst {
  double ulps = 0;
  float at = 0;
};

long double exact(Intrinsic fn, long double v) {
  switch (fn) {
  case Intrinsic::Exp:
    return expl(v);
  case Intrinsic::Cos:
    return cosl(v);
  case Intrinsic::Tanh:
    return tanhl(v);
  case Intrinsic::Log:
    return logl(v);
  case Intrinsic::Erf:
    return erfl(v);
  default:
    ADD_FAILURE() << "no reference";
    return 0;
  }
}

Worst worstError(Intrinsic fn, const std::vector<float> &x) {
  std::vector<float> y = run(fn, x);
  Worst w;
  for (size_t i = 0; i < x.size(); ++i) {
    double e = ulps(y[i], exact(fn, x[i]));
    if (e > w.ulps)
      w = {e, x[i]};
  }
  return w;
}

/// The sweep's stride: `fallback`, or every f32 (1) with TDSL_INLINE_MATH_STRIDE=1 (minutes).
uint32_t sweepStride(uint32_t fallback) {
  const char *env = std::getenv("TDSL_INLINE_MATH_STRIDE");
  return env ? static_cast<uint32_t>(std::max(1, std::atoi(env))) : fallback;
}

/// The worst error over every `stride`-th f32 of [low, high] (by bit pattern, both >= 0), and
/// of their negatives with `mirrored`, a million at a time.
Worst sweepError(Intrinsic fn, float low, float high, uint32_t stride, bool mirrored) {
  auto kernel = codegen::compileForHost(mathKernel(fn, 16));
  Worst w;
  uint32_t last = std::bit_cast<uint32_t>(high);
  std::vector<float> x;
  for (uint64_t bits = std::bit_cast<uint32_t>(low); bits <= last; bits += stride) {
    x.push_back(std::bit_cast<float>(static_cast<uint32_t>(bits)));
    if (mirrored)
      x.push_back(-x.back());
    if (x.size() < (1u << 20) && bits + stride <= last)
      continue;
    while (x.size() % 16)
      x.push_back(1.0f);
    std::vector<float> y = run(*kernel, x);
    for (size_t i = 0; i < x.size(); ++i) {
      double e = ulps(y[i], exact(fn, x[i]));
      if (e > w.ulps)
        w = {e, x[i]};
    }
    x.clear();
  }
  return w;
}

/// The worst error of an odd `fn` over every `stride`-th f32 of [-bound, bound]
/// (`sweepStride(509)`), 2^20 points of +-[from, to], where its error is largest, and 2^20
/// uniform ones.
Worst oddFunctionError(Intrinsic fn, float bound, float from, float to, uint64_t seed) {
  Worst w = sweepError(fn, 0.0f, bound, sweepStride(509), true);
  std::vector<float> x;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> hard(from, to), u(-bound, bound);
  for (int i = 0; i < (1 << 20); ++i) {
    x.push_back(i % 2 ? hard(rng) : -hard(rng));
    x.push_back(u(rng));
  }
  Worst random = worstError(fn, x);
  return random.ulps > w.ulps ? random : w;
}

TEST(InlineMath, Avx512ExpIsATableAndAPolynomialWithLibmvecForLanesOutOfRange) {
  std::string ir = codegen::emitLlvmIr(mathKernel(Intrinsic::Exp, 16), false, cpu("x86-64-v4"));
  EXPECT_EQ(occurrences(ir, "call <16 x float> @llvm.x86.avx512.permvar.sf.512("), 1u) << ir;
  EXPECT_EQ(occurrences(ir, "call <16 x float> @_ZGVeN16v_expf("), 1u) << ir; // In math.slow.
  EXPECT_NE(ir.find("math.slow"), std::string::npos) << ir;
  // 64 lanes (a reduction's 4 x 16 accumulators): four table lookups, libmvec calls only slow.
  std::string wide = codegen::emitLlvmIr(mathKernel(Intrinsic::Exp, 64), false, cpu("x86-64-v4"));
  EXPECT_EQ(occurrences(wide, "call <16 x float> @llvm.x86.avx512.permvar.sf.512("), 4u) << wide;
}

TEST(InlineMath, OtherTargetsAndWidthsKeepLibmvec) {
  std::string avx2 = codegen::emitLlvmIr(mathKernel(Intrinsic::Exp, 16), false, cpu("x86-64-v3"));
  EXPECT_EQ(occurrences(avx2, "permvar"), 0u) << avx2;
  EXPECT_EQ(occurrences(avx2, "call <8 x float> @_ZGVdN8v_expf("), 2u) << avx2;
  std::string odd = codegen::emitLlvmIr(mathKernel(Intrinsic::Cos, 12), false, cpu("x86-64-v4"));
  EXPECT_EQ(occurrences(odd, "math.slow"), 0u) << odd;
  EXPECT_EQ(occurrences(odd, "call <8 x float> @_ZGVdN8v_cosf("), 1u) << odd;
}

TEST(InlineMath, CosOfCosIsTwoPolynomialsAndOneFallback) {
  std::string ir =
      codegen::emitLlvmIr(mathKernel(Intrinsic::Cos, 16, true), false, cpu("x86-64-v4"));
  // The inner cos falls back to libmvec out of range; the outer one's argument is in [-1, 1].
  EXPECT_EQ(occurrences(ir, "call <16 x float> @_ZGVeN16v_cosf("), 1u) << ir;
  EXPECT_EQ(occurrences(ir, "\nmath.slow:"), 1u) << ir;
}

TEST(InlineMath, ComputeBoundStoresArePlainStores) {
  // A large write-only output is stored with streaming stores when the loop is memory-bound; a
  // value with a transcendental call per element is compute-bound, where streaming stores made
  // the kernel slower (docs/performance.md), so it is stored plainly.
  std::string sqrtIr =
      codegen::emitLlvmIr(mathKernel(Intrinsic::Sqrt, 16), false, cpu("x86-64-v4"));
  EXPECT_EQ(occurrences(sqrtIr, "!nontemporal"), 1u) << sqrtIr;
  for (Intrinsic fn : {Intrinsic::Exp, Intrinsic::Cos, Intrinsic::Tanh}) {
    std::string ir = codegen::emitLlvmIr(mathKernel(fn, 16), false, cpu("x86-64-v4"));
    EXPECT_EQ(occurrences(ir, "!nontemporal"), 0u) << ir;
  }
}

TEST(InlineMath, ExpWithinOneUlp) {
  if (!hostHasAvx512())
    GTEST_SKIP() << "the inline exp is for AVX-512 hosts";
  // Every 1021st f32 of [-86, 86] (about 2M) and 2^20 uniform points. Exhaustively over every
  // f32 of [-86, 86] the maximum is 0.999 ulp (docs/numerics.md).
  std::vector<float> x = sweep(86.0f, 1021);
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<float> u(-86.0f, 86.0f);
  for (int i = 0; i < (1 << 20); ++i)
    x.push_back(u(rng));
  Worst w = worstError(Intrinsic::Exp, x);
  EXPECT_LE(w.ulps, 1.0) << "at exp(" << w.at << ")";
  RecordProperty("max_ulp", std::to_string(w.ulps));
}

TEST(InlineMath, CosWithinTwoUlp) {
  if (!hostHasAvx512())
    GTEST_SKIP() << "the inline cos is for AVX-512 hosts";
  std::vector<float> x = sweep(8192.0f, 1021);
  // The hardest arguments: the f32 values nearest to the zeros (k + 1/2) pi and their neighbours,
  // where the result is tiny and the reduction must cancel exactly.
  for (int k = 0; (k + 0.5) * M_PI <= 8192.0; ++k) {
    float z = static_cast<float>((k + 0.5L) * 3.14159265358979323846264338327950288L);
    for (int d = -2; d <= 2; ++d) {
      float v = std::bit_cast<float>(std::bit_cast<uint32_t>(z) + d);
      x.push_back(v);
      x.push_back(-v);
    }
  }
  std::mt19937_64 rng(6);
  std::uniform_real_distribution<float> u(-8192.0f, 8192.0f);
  while (x.size() % 16 || x.size() < (3u << 20))
    x.push_back(u(rng));
  Worst w = worstError(Intrinsic::Cos, x);
  EXPECT_LE(w.ulps, 2.0) << "at cos(" << w.at << ")";
  RecordProperty("max_ulp", std::to_string(w.ulps));
}

TEST(InlineMath, Avx512TanhIsInlineWithLibmvecOnlyForNaN) {
  std::string ir = codegen::emitLlvmIr(mathKernel(Intrinsic::Tanh, 16), false, cpu("x86-64-v4"));
  // exp(2|x|) - 1 without a table, one division, libmvec only in the slow block.
  EXPECT_EQ(occurrences(ir, "permvar"), 0u) << ir;
  EXPECT_EQ(occurrences(ir, "fdiv <16 x float>"), 1u) << ir;
  EXPECT_EQ(occurrences(ir, "call <16 x float> @_ZGVeN16v_tanhf("), 1u) << ir;
  EXPECT_EQ(occurrences(ir, "\nmath.slow:"), 1u) << ir;
  EXPECT_EQ(occurrences(ir, "@tanhf("), 0u) << ir;
  std::string avx2 = codegen::emitLlvmIr(mathKernel(Intrinsic::Tanh, 16), false, cpu("x86-64-v3"));
  EXPECT_EQ(occurrences(avx2, "call <8 x float> @_ZGVdN8v_tanhf("), 2u) << avx2;
}

TEST(InlineMath, TanhWithinTwoAndAHalfUlp) {
  if (!hostHasAvx512())
    GTEST_SKIP() << "the inline tanh is for AVX-512 hosts";
  // Every 509th f32 of [-10, 10] (about 4M; past 9.01 tanh rounds to +-1), then 2^20 points
  // below 0.5, where the error is largest, and 2^20 uniform ones. Exhaustively (stride 1) the
  // maximum is 2.48 ulp (docs/numerics.md).
  Worst w = oddFunctionError(Intrinsic::Tanh, 10.0f, 0.0f, 0.5f, 7);
  EXPECT_LE(w.ulps, 2.5) << "at tanh(" << w.at << ")";
  RecordProperty("max_ulp", std::to_string(w.ulps));
}

TEST(InlineMath, Avx512LogIsInlineWithLibmvecForLanesOutOfRange) {
  std::string ir = codegen::emitLlvmIr(mathKernel(Intrinsic::Log, 16), false, cpu("x86-64-v4"));
  EXPECT_EQ(occurrences(ir, "call <16 x float> @_ZGVeN16v_logf("), 1u) << ir; // In math.slow.
  EXPECT_EQ(occurrences(ir, "\nmath.slow:"), 1u) << ir;
  EXPECT_EQ(occurrences(ir, "fdiv"), 0u) << ir;
  std::string avx2 = codegen::emitLlvmIr(mathKernel(Intrinsic::Log, 16), false, cpu("x86-64-v3"));
  EXPECT_EQ(occurrences(avx2, "call <8 x float> @_ZGVdN8v_logf("), 2u) << avx2;
}

TEST(InlineMath, LogWithinOneUlp) {
  if (!hostHasAvx512())
    GTEST_SKIP() << "the inline log is for AVX-512 hosts";
  // Every 509th positive normal f32 (about 4M), then 2^20 points on either side of 1, where
  // log(x) is small and cancels most. Exhaustively (stride 1) the maximum is 0.931 ulp
  // (docs/numerics.md).
  Worst w = sweepError(Intrinsic::Log, std::numeric_limits<float>::min(),
                       std::numeric_limits<float>::max(), sweepStride(509), false);
  std::vector<float> x;
  std::mt19937_64 rng(8);
  std::uniform_real_distribution<float> nearOne(0.5f, 2.0f);
  for (int i = 0; i < (1 << 20); ++i)
    x.push_back(nearOne(rng));
  Worst random = worstError(Intrinsic::Log, x);
  if (random.ulps > w.ulps)
    w = random;
  EXPECT_LE(w.ulps, 1.0) << "at log(" << w.at << ")";
  RecordProperty("max_ulp", std::to_string(w.ulps));
}

TEST(InlineMath, Avx512ErfIsAPolynomialAndTheInlineExpWithLibmvecOnlyForNaN) {
  std::string ir = codegen::emitLlvmIr(mathKernel(Intrinsic::Erf, 16), false, cpu("x86-64-v4"));
  EXPECT_EQ(occurrences(ir, "call <16 x float> @llvm.x86.avx512.permvar.sf.512("), 1u) << ir;
  EXPECT_EQ(occurrences(ir, "call <16 x float> @_ZGVeN16v_erff("), 1u) << ir; // In math.slow.
  EXPECT_EQ(occurrences(ir, "\nmath.slow:"), 1u) << ir;
  EXPECT_EQ(occurrences(ir, "fdiv"), 0u) << ir;
  std::string avx2 = codegen::emitLlvmIr(mathKernel(Intrinsic::Erf, 16), false, cpu("x86-64-v3"));
  EXPECT_EQ(occurrences(avx2, "call <8 x float> @_ZGVdN8v_erff("), 2u) << avx2;
}

TEST(InlineMath, ErfWithinOneAndAHalfUlp) {
  if (!hostHasAvx512())
    GTEST_SKIP() << "the inline erf is for AVX-512 hosts";
  // Every 509th f32 of [-4, 4] (about 4M; from 3.9192 erf rounds to +-1), then 2^20 points around
  // the switch to exp at |x| = 1 and 2^20 uniform ones. Exhaustively (stride 1) the maximum is
  // 1.136 ulp (docs/numerics.md).
  Worst w = oddFunctionError(Intrinsic::Erf, 4.0f, 0.75f, 1.25f, 10);
  EXPECT_LE(w.ulps, 1.5) << "at erf(" << w.at << ")";
  RecordProperty("max_ulp", std::to_string(w.ulps));
}

TEST(InlineMath, SpecialValuesAndLanesOutOfRange) {
  if (!hostHasAvx512())
    GTEST_SKIP() << "the inline functions are for AVX-512 hosts";
  const float inf = INFINITY, nan = NAN;
  std::vector<float> x = {0.0f,   -0.0f,   nan,     inf,     -inf,    88.72f, 88.73f, 100.0f,
                          -87.5f, -100.0f, -103.9f, -104.0f, -200.0f, 1.0f,   86.0f,  -86.0f};
  std::vector<float> e = run(Intrinsic::Exp, x);
  EXPECT_EQ(e[0], 1.0f);
  EXPECT_EQ(e[1], 1.0f);
  EXPECT_TRUE(std::isnan(e[2]));
  EXPECT_EQ(e[3], inf);
  EXPECT_EQ(e[4], 0.0f);
  EXPECT_EQ(e[6], inf); // Past f32's largest exp, 88.7228.
  EXPECT_EQ(e[7], inf);
  EXPECT_EQ(e[12], 0.0f);
  for (int i : {5, 8, 9, 10, 13, 14, 15}) // libmvec's lanes (subnormal results): within 4.5.
    EXPECT_LE(ulps(e[i], expl(x[i])), 4.5) << "exp(" << x[i] << ") = " << e[i];
  std::vector<float> c = run(Intrinsic::Cos, x);
  EXPECT_EQ(c[0], 1.0f);
  EXPECT_EQ(c[1], 1.0f);
  EXPECT_TRUE(std::isnan(c[2]));
  EXPECT_TRUE(std::isnan(c[3]));
  EXPECT_TRUE(std::isnan(c[4]));
  // tanh: odd (-0 stays -0), +-1 from 9.01 on and at the infinities, NaN from libmvec.
  std::vector<float> t = run(Intrinsic::Tanh, x);
  EXPECT_EQ(std::bit_cast<uint32_t>(t[0]), std::bit_cast<uint32_t>(0.0f));
  EXPECT_EQ(std::bit_cast<uint32_t>(t[1]), std::bit_cast<uint32_t>(-0.0f));
  EXPECT_TRUE(std::isnan(t[2]));
  EXPECT_EQ(t[3], 1.0f);
  EXPECT_EQ(t[4], -1.0f);
  for (int i : {5, 6, 7, 14})
    EXPECT_EQ(t[i], 1.0f) << "tanh(" << x[i] << ")";
  for (int i : {8, 9, 10, 11, 12, 15})
    EXPECT_EQ(t[i], -1.0f) << "tanh(" << x[i] << ")";
  // log: 1 gives +0; zero, negatives, subnormals, inf and NaN from libmvec.
  const float fmin = std::numeric_limits<float>::min(), fmax = std::numeric_limits<float>::max();
  std::vector<float> lx = {1.0f, 0.0f, -0.0f, -1.0f, inf,        -inf,        nan,  1e-40f,
                           fmin, fmax, 2.0f,  0.5f,  1.0000001f, 0.99999994f, 3.0f, 1e30f};
  std::vector<float> l = run(Intrinsic::Log, lx);
  EXPECT_EQ(std::bit_cast<uint32_t>(l[0]), 0u);
  EXPECT_EQ(l[1], -inf);
  EXPECT_EQ(l[2], -inf);
  EXPECT_TRUE(std::isnan(l[3]));
  EXPECT_EQ(l[4], inf);
  EXPECT_TRUE(std::isnan(l[5]));
  EXPECT_TRUE(std::isnan(l[6]));
  EXPECT_LE(ulps(l[7], logl(lx[7])), 4.5) << l[7]; // libmvec's lane.
  for (int i = 8; i < 16; ++i)
    EXPECT_LE(ulps(l[i], logl(lx[i])), 1.0) << "log(" << lx[i] << ") = " << l[i];
  // erf: odd, +-1 from 3.9192 on and at the infinities, NaN from libmvec.
  std::vector<float> ex = {0.0f,   -0.0f,  nan,    inf,     -inf, 3.92f, -4.5f, 1e30f,
                           -10.0f, 1e-30f, 1e-40f, -1e-45f, 0.5f, 1.0f,  -1.0f, 2.0f};
  std::vector<float> er = run(Intrinsic::Erf, ex);
  EXPECT_EQ(std::bit_cast<uint32_t>(er[0]), std::bit_cast<uint32_t>(0.0f));
  EXPECT_EQ(std::bit_cast<uint32_t>(er[1]), std::bit_cast<uint32_t>(-0.0f));
  EXPECT_TRUE(std::isnan(er[2]));
  for (int i : {3, 5, 7})
    EXPECT_EQ(er[i], 1.0f) << "erf(" << ex[i] << ")";
  for (int i : {4, 6, 8})
    EXPECT_EQ(er[i], -1.0f) << "erf(" << ex[i] << ")";
  for (int i = 9; i < 16; ++i) // Subnormal results in subnormal ulps.
    EXPECT_LE(ulps(er[i], erfl(ex[i])), 1.5) << "erf(" << ex[i] << ") = " << er[i];
  std::vector<float> tiny = {1e-30f, -1e-30f, 1e-40f, -1e-45f, 0x1p-126f, 9.0f, 9.1f,  -9.1f,
                             1e30f,  -1e30f,  1.0f,   -1.0f,   0.5f,      2.0f, 3e-4f, -3e-4f};
  std::vector<float> tt = run(Intrinsic::Tanh, tiny);
  for (int i = 0; i < 5; ++i) // tanh(x) rounds to x below 2^-12; subnormals come back exactly.
    EXPECT_EQ(std::bit_cast<uint32_t>(tt[i]), std::bit_cast<uint32_t>(tiny[i])) << tiny[i];
  for (int i : {6, 8})
    EXPECT_EQ(tt[i], 1.0f);
  for (int i : {7, 9})
    EXPECT_EQ(tt[i], -1.0f);
  for (int i : {5, 10, 11, 12, 13, 14, 15})
    EXPECT_LE(ulps(tt[i], tanhl(tiny[i])), 2.5) << "tanh(" << tiny[i] << ") = " << tt[i];

  // A lane out of range (NaN, an infinity, a huge argument) sends its vector to libmvec; every
  // other lane's result must stay bit for bit what it is when its whole vector is in range.
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<float> u(-80.0f, 80.0f);
  std::vector<float> in(4096);
  for (float &v : in)
    v = u(rng);
  for (Intrinsic fn :
       {Intrinsic::Exp, Intrinsic::Cos, Intrinsic::Tanh, Intrinsic::Log, Intrinsic::Erf}) {
    std::vector<float> positive = in;
    for (float &v : positive)
      v = std::fabs(v);
    const std::vector<float> &arguments = fn == Intrinsic::Log ? positive : in;
    std::vector<float> plain = run(fn, arguments);
    std::vector<float> spoiled = arguments;
    for (size_t i = 5; i < spoiled.size(); i += 16)
      spoiled[i] = (i / 16) % 3 == 0 ? nan : (i / 16) % 3 == 1 ? -inf : 1e30f;
    std::vector<float> mixed = run(fn, spoiled);
    size_t differ = 0;
    for (size_t i = 0; i < in.size(); ++i)
      if (i % 16 != 5)
        differ += std::bit_cast<uint32_t>(plain[i]) != std::bit_cast<uint32_t>(mixed[i]);
    EXPECT_EQ(differ, 0u) << static_cast<int>(fn);
  }
}

} // namespace
} // namespace tdsl::test
