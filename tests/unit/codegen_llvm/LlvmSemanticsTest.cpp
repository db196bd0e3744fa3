// Every operator, math function and cast, compiled for the host in scalar and vector form, against
// a C++ reference of the shared semantics (floor division, wrapping, NaN-propagating min/max,
// saturating casts, f16/bf16 rounding to nearest even).
#include "LlvmTestUtil.h"

#include "codegen/llvm/LlvmOptions.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace tdsl::test {
namespace {

// ---------------------------------------------------------------------------------------------
// Binary operators.

const BinaryOp kArithmetic[] = {BinaryOp::Add, BinaryOp::Sub,      BinaryOp::Mul,
                                BinaryOp::Div, BinaryOp::FloorDiv, BinaryOp::Mod,
                                BinaryOp::Pow, BinaryOp::Min,      BinaryOp::Max};
const BinaryOp kComparisons[] = {BinaryOp::Eq, BinaryOp::Ne, BinaryOp::Lt,
                                 BinaryOp::Le, BinaryOp::Gt, BinaryOp::Ge};

/// Vector math (pow, exp, log, sin...) on more than one lane goes through glibc's libmvec, which
/// is within 4 ulp of libm rather than identical to it (docs/numerics.md); special values
/// (NaN, infinities, zeros) still match exactly.
template <typename T> bool withinVectorMathUlps(T got, T want, int lanes) {
  if (lanes == 1 || std::isnan(want) || std::isinf(want) || want == 0)
    return sameValue(got, want);
  if (std::isnan(got) || std::isinf(got) || std::signbit(got) != std::signbit(want))
    return false;
  using I = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  I a = std::bit_cast<I>(std::fabs(got)), b = std::bit_cast<I>(std::fabs(want));
  return (a > b ? a - b : b - a) <= 4;
}

template <typename T> T refArithmetic(BinaryOp op, T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    switch (op) {
    case BinaryOp::Add:
      return refAdd(a, b);
    case BinaryOp::Sub:
      return refSub(a, b);
    case BinaryOp::Mul:
      return refMul(a, b);
    case BinaryOp::FloorDiv:
      return refFloorDiv(a, b);
    case BinaryOp::Mod:
      return refMod(a, b);
    case BinaryOp::Pow:
      return refIntPow(a, b);
    case BinaryOp::Min:
      return std::min(a, b);
    case BinaryOp::Max:
      return std::max(a, b);
    default:
      break;
    }
  } else {
    switch (op) {
    case BinaryOp::Add:
      return a + b;
    case BinaryOp::Sub:
      return a - b;
    case BinaryOp::Mul:
      return a * b;
    case BinaryOp::Div:
      return a / b;
    case BinaryOp::FloorDiv:
      return std::floor(a / b);
    case BinaryOp::Mod:
      return refFloatMod(a, b);
    case BinaryOp::Pow:
      return std::pow(a, b);
    case BinaryOp::Min:
      return refMinimum(a, b);
    case BinaryOp::Max:
      return refMaximum(a, b);
    default:
      break;
    }
  }
  ADD_FAILURE() << "no reference for this operator";
  return T{};
}

template <typename T> bool refCompare(BinaryOp op, T a, T b) {
  switch (op) {
  case BinaryOp::Eq:
    return a == b;
  case BinaryOp::Ne:
    return a != b;
  case BinaryOp::Lt:
    return a < b;
  case BinaryOp::Le:
    return a <= b;
  case BinaryOp::Gt:
    return a > b;
  default:
    return a >= b;
  }
}

template <typename T> std::vector<T> interestingValues() {
  if constexpr (std::is_integral_v<T>) {
    using L = std::numeric_limits<T>;
    return {0,  1,  -1,  2,   -2,       3,        -3,           7,
            -7, 31, -64, 100, L::max(), L::min(), L::max() - 1, L::min() + 1};
  } else {
    using L = std::numeric_limits<T>;
    return {T(0),           T(-0.0),        T(1),     T(-1),   T(0.5),    T(-2.5),
            T(3),           T(-7),          T(10.25), T(1e30), T(-1e-30), L::infinity(),
            -L::infinity(), L::quiet_NaN(), T(2),     T(-0.75)};
  }
}

template <typename T> constexpr DType dtypeOf() {
  if constexpr (std::is_same_v<T, float>)
    return DType::F32;
  else if constexpr (std::is_same_v<T, double>)
    return DType::F64;
  else if constexpr (std::is_same_v<T, int32_t>)
    return DType::I32;
  else
    return DType::I64;
}

template <typename T>
void checkBinaryOps(int lanes, const codegen::LlvmCodeGenOptions &options = {}) {
  constexpr DType dt = dtypeOf<T>();
  std::vector<T> values = interestingValues<T>();
  std::vector<T> as, bs;
  for (T a : values)
    for (T b : values) {
      as.push_back(a);
      bs.push_back(b);
    }
  while (as.size() % 16) { // Whole vectors for every lane count.
    as.push_back(T(1));
    bs.push_back(T(1));
  }
  const int64_t n = static_cast<int64_t>(as.size());
  Var nv = symbolVar("N");
  Buffer a = makeBuffer("a", dt, {ir::ref(nv)}, BufferRole::Input);
  Buffer b = makeBuffer("b", dt, {ir::ref(nv)}, BufferRole::Input);
  std::vector<BinaryOp> ops;
  std::vector<ElementwiseOutput> outs;
  for (BinaryOp op : kArithmetic) {
    if (op == BinaryOp::Div && isInt(dt))
      continue;
    ops.push_back(op);
    outs.push_back(
        {makeBuffer("r" + std::to_string(ops.size()), dt, {ir::ref(nv)}, BufferRole::Output),
         [op](const std::vector<Expr> &x) { return bin(op, x[0], x[1]); }});
  }
  for (BinaryOp op : kComparisons) {
    ops.push_back(op);
    outs.push_back({makeBuffer("c" + std::to_string(ops.size()), DType::Bool, {ir::ref(nv)},
                               BufferRole::Output),
                    [op](const std::vector<Expr> &x) { return bin(op, x[0], x[1]); }});
  }
  LoweredFunc f = elementwiseKernel("binary_ops", {a, b}, outs, lanes, nv);
  auto kernel = codegen::compileForHost(f, options);

  std::vector<std::vector<T>> arith(ops.size(), std::vector<T>(n));
  std::vector<std::vector<uint8_t>> cmp(ops.size(), std::vector<uint8_t>(n, 7));
  std::vector<void *> buffers = {as.data(), bs.data()};
  for (size_t k = 0; k < ops.size(); ++k)
    buffers.push_back(ir::isComparison(ops[k]) ? static_cast<void *>(cmp[k].data())
                                               : static_cast<void *>(arith[k].data()));
  runKernel(*kernel, buffers, {n});

  for (size_t k = 0; k < ops.size(); ++k) {
    int failures = 0;
    for (int64_t i = 0; i < n && failures < 5; ++i) {
      if (ir::isComparison(ops[k])) {
        uint8_t want = refCompare(ops[k], as[i], bs[i]);
        if (cmp[k][i] != want) {
          ++failures;
          ADD_FAILURE() << "comparison #" << k << " of " << +as[i] << ", " << +bs[i] << ": got "
                        << +cmp[k][i] << ", want " << +want << " (lanes " << lanes << ")";
        }
      } else {
        T want = refArithmetic(ops[k], as[i], bs[i]);
        bool ok = sameValue(arith[k][i], want);
        if constexpr (std::is_floating_point_v<T>)
          if (ops[k] == BinaryOp::Pow)
            ok = withinVectorMathUlps(arith[k][i], want, lanes);
        if (!ok) {
          ++failures;
          ADD_FAILURE() << "operator #" << k << " of " << +as[i] << ", " << +bs[i] << ": got "
                        << +arith[k][i] << ", want " << +want << " (lanes " << lanes << ")";
        }
      }
    }
  }
}

class BinaryOpsTest : public ::testing::TestWithParam<int> {};

TEST_P(BinaryOpsTest, I32MatchesReference) { checkBinaryOps<int32_t>(GetParam()); }
TEST_P(BinaryOpsTest, I64MatchesReference) { checkBinaryOps<int64_t>(GetParam()); }
TEST_P(BinaryOpsTest, F32MatchesReference) { checkBinaryOps<float>(GetParam()); }
TEST_P(BinaryOpsTest, F64MatchesReference) { checkBinaryOps<double>(GetParam()); }
INSTANTIATE_TEST_SUITE_P(Lanes, BinaryOpsTest, ::testing::Values(1, 8, 16),
                         [](const auto &info) { return "x" + std::to_string(info.param); });

TEST(BinaryOps, BoolLogicAndComparisons) {
  std::vector<uint8_t> as = {0, 0, 1, 1, 0, 0, 1, 1}, bs = {0, 1, 0, 1, 0, 1, 0, 1};
  const BinaryOp ops[] = {BinaryOp::And, BinaryOp::Or, BinaryOp::Eq, BinaryOp::Ne,
                          BinaryOp::Lt,  BinaryOp::Le, BinaryOp::Gt, BinaryOp::Ge};
  for (int lanes : {1, 8}) {
    Var nv = symbolVar("N");
    Buffer a = makeBuffer("a", DType::Bool, {ir::ref(nv)}, BufferRole::Input);
    Buffer b = makeBuffer("b", DType::Bool, {ir::ref(nv)}, BufferRole::Input);
    std::vector<ElementwiseOutput> outs;
    for (BinaryOp op : ops)
      outs.push_back({makeBuffer("r", DType::Bool, {ir::ref(nv)}, BufferRole::Output),
                      [op](const std::vector<Expr> &x) { return bin(op, x[0], x[1]); }});
    outs.push_back({makeBuffer("not_a", DType::Bool, {ir::ref(nv)}, BufferRole::Output),
                    [](const std::vector<Expr> &x) { return Unary::make(UnaryOp::Not, x[0]); }});
    auto kernel = codegen::compileForHost(elementwiseKernel("bools", {a, b}, outs, lanes, nv));
    std::vector<std::vector<uint8_t>> results(outs.size(), std::vector<uint8_t>(8, 7));
    std::vector<void *> buffers = {as.data(), bs.data()};
    for (auto &r : results)
      buffers.push_back(r.data());
    runKernel(*kernel, buffers, {8});
    for (int i = 0; i < 8; ++i) {
      bool x = as[i], y = bs[i];
      std::vector<bool> want = {x && y, x || y, x == y, x != y, x<y, x <= y, x> y, x >= y, !x};
      for (size_t k = 0; k < want.size(); ++k)
        EXPECT_EQ(results[k][i], uint8_t(want[k])) << "op #" << k << " of " << x << ", " << y;
    }
  }
}

TEST(BinaryOps, IntegerPowWithConstantExponents) {
  std::vector<int32_t> xs = {0, 1, -1, 2, -2, 3, 7, -7, 46341, std::numeric_limits<int32_t>::min()};
  xs.resize(16, 5);
  const int32_t exponents[] = {0, 1, 2, 3, 5, 13, 31, 40, -1, -2, -3};
  for (int lanes : {1, 8}) {
    Var nv = symbolVar("N");
    Buffer x = makeBuffer("x", DType::I32, {ir::ref(nv)}, BufferRole::Input);
    std::vector<ElementwiseOutput> outs;
    for (int32_t e : exponents)
      outs.push_back({makeBuffer("p", DType::I32, {ir::ref(nv)}, BufferRole::Output),
                      [e, lanes](const std::vector<Expr> &v) {
                        Expr c = intImm(e, DType::I32);
                        return bin(BinaryOp::Pow, v[0], lanes > 1 ? Broadcast::make(c, lanes) : c);
                      }});
    auto kernel = codegen::compileForHost(elementwiseKernel("ipow", {x}, outs, lanes, nv));
    std::vector<std::vector<int32_t>> results(outs.size(), std::vector<int32_t>(xs.size()));
    std::vector<void *> buffers = {xs.data()};
    for (auto &r : results)
      buffers.push_back(r.data());
    runKernel(*kernel, buffers, {int64_t(xs.size())});
    for (size_t k = 0; k < outs.size(); ++k)
      for (size_t i = 0; i < xs.size(); ++i)
        EXPECT_EQ(results[k][i], refIntPow(xs[i], exponents[k]))
            << xs[i] << " ** " << exponents[k] << " (lanes " << lanes << ")";
  }
}

// ---------------------------------------------------------------------------------------------
// Math functions.

const Intrinsic kFloatIntrinsics[] = {
    Intrinsic::Exp,     Intrinsic::Exp2, Intrinsic::Log, Intrinsic::Log2,  Intrinsic::Sqrt,
    Intrinsic::Rsqrt,   Intrinsic::Sin,  Intrinsic::Cos, Intrinsic::Tan,   Intrinsic::Tanh,
    Intrinsic::Sigmoid, Intrinsic::Relu, Intrinsic::Abs, Intrinsic::Floor, Intrinsic::Ceil,
    Intrinsic::Round,   Intrinsic::Erf};

template <typename T> T refIntrinsic(Intrinsic fn, T x) {
  switch (fn) {
  case Intrinsic::Exp:
    return std::exp(x);
  case Intrinsic::Exp2:
    return std::exp2(x);
  case Intrinsic::Log:
    return std::log(x);
  case Intrinsic::Log2:
    return std::log2(x);
  case Intrinsic::Sqrt:
    return std::sqrt(x);
  case Intrinsic::Rsqrt:
    return T(1) / std::sqrt(x);
  case Intrinsic::Sin:
    return std::sin(x);
  case Intrinsic::Cos:
    return std::cos(x);
  case Intrinsic::Tan:
    return std::tan(x);
  case Intrinsic::Tanh:
    return std::tanh(x);
  case Intrinsic::Sigmoid:
    return T(1) / (T(1) + std::exp(-x));
  case Intrinsic::Relu:
    return refMaximum(x, T(0));
  case Intrinsic::Abs:
    return std::fabs(x);
  case Intrinsic::Floor:
    return std::floor(x);
  case Intrinsic::Ceil:
    return std::ceil(x);
  case Intrinsic::Round:
    return std::nearbyint(x); // Half to even in the default rounding mode.
  case Intrinsic::Erf:
    return std::erf(x);
  }
  return T{};
}

template <typename T>
void checkFloatIntrinsics(int lanes, const codegen::LlvmCodeGenOptions &options = {}) {
  using L = std::numeric_limits<T>;
  std::vector<T> xs = {T(0),           T(-0.0),        T(1),    T(-1),    T(0.5),  T(-0.5),
                       T(1.5),         T(2.5),         T(-2.5), T(3.7),   T(-4.2), T(1e-3),
                       T(100),         T(-100),        T(20),   T(-20),   T(1e10), L::infinity(),
                       -L::infinity(), L::quiet_NaN(), T(0.75), T(1e-40), T(-3.5), T(6.25)};
  const int64_t n = static_cast<int64_t>(xs.size()); // 24: a multiple of 8.
  Var nv = symbolVar("N");
  Buffer x = makeBuffer("x", dtypeOf<T>(), {ir::ref(nv)}, BufferRole::Input);
  std::vector<ElementwiseOutput> outs;
  for (Intrinsic fn : kFloatIntrinsics)
    outs.push_back({makeBuffer("y", dtypeOf<T>(), {ir::ref(nv)}, BufferRole::Output),
                    [fn](const std::vector<Expr> &v) { return Call::make(fn, {v[0]}); }});
  auto kernel = codegen::compileForHost(elementwiseKernel("math", {x}, outs, lanes, nv), options);
  std::vector<std::vector<T>> results(outs.size(), std::vector<T>(n));
  std::vector<void *> buffers = {xs.data()};
  for (auto &r : results)
    buffers.push_back(r.data());
  runKernel(*kernel, buffers, {n});
  for (size_t k = 0; k < outs.size(); ++k)
    for (int64_t i = 0; i < n; ++i)
      EXPECT_TRUE(
          withinVectorMathUlps(results[k][i], refIntrinsic(kFloatIntrinsics[k], xs[i]), lanes))
          << "intrinsic #" << k << " of " << xs[i] << ": got " << results[k][i] << ", want "
          << refIntrinsic(kFloatIntrinsics[k], xs[i]) << " (lanes " << lanes << ")";
}

class IntrinsicsTest : public ::testing::TestWithParam<int> {};
TEST_P(IntrinsicsTest, F32MatchesLibm) { checkFloatIntrinsics<float>(GetParam()); }
TEST_P(IntrinsicsTest, F64MatchesLibm) { checkFloatIntrinsics<double>(GetParam()); }
INSTANTIATE_TEST_SUITE_P(Lanes, IntrinsicsTest, ::testing::Values(1, 8),
                         [](const auto &info) { return "x" + std::to_string(info.param); });

template <typename T>
void checkIntegerIntrinsics(int lanes, const codegen::LlvmCodeGenOptions &options = {}) {
  using L = std::numeric_limits<T>;
  std::vector<T> xs = {0, 1, -1, 5, -5, L::max(), L::min(), L::min() + 1};
  Var nv = symbolVar("N");
  Buffer x = makeBuffer("x", dtypeOf<T>(), {ir::ref(nv)}, BufferRole::Input);
  std::vector<ElementwiseOutput> outs = {
      {makeBuffer("abs", dtypeOf<T>(), {ir::ref(nv)}, BufferRole::Output),
       [](const std::vector<Expr> &v) { return Call::make(Intrinsic::Abs, {v[0]}); }},
      {makeBuffer("relu", dtypeOf<T>(), {ir::ref(nv)}, BufferRole::Output),
       [](const std::vector<Expr> &v) { return Call::make(Intrinsic::Relu, {v[0]}); }},
      {makeBuffer("neg", dtypeOf<T>(), {ir::ref(nv)}, BufferRole::Output),
       [](const std::vector<Expr> &v) { return Unary::make(UnaryOp::Neg, v[0]); }}};
  auto kernel =
      codegen::compileForHost(elementwiseKernel("int_math", {x}, outs, lanes, nv), options);
  std::vector<T> absOut(xs.size()), reluOut(xs.size()), negOut(xs.size());
  runKernel(*kernel, {xs.data(), absOut.data(), reluOut.data(), negOut.data()},
            {int64_t(xs.size())});
  for (size_t i = 0; i < xs.size(); ++i) {
    T neg = refSub<T>(0, xs[i]);
    EXPECT_EQ(absOut[i], xs[i] < 0 ? neg : xs[i]) << "abs " << xs[i]; // abs(MIN) wraps.
    EXPECT_EQ(reluOut[i], std::max<T>(xs[i], 0)) << "relu " << xs[i];
    EXPECT_EQ(negOut[i], neg) << "neg " << xs[i];
  }
}

TEST(Intrinsics, IntegerAbsReluNeg) {
  for (int lanes : {1, 8}) {
    checkIntegerIntrinsics<int32_t>(lanes);
    checkIntegerIntrinsics<int64_t>(lanes);
  }
}

/// The same operators and functions in code for the SSE2 baseline, where LLVM lowers minimum,
/// maximum, saturating casts and rounding without AVX.
TEST(BaselineX86_64, OperatorsAndMathFunctions) {
  for (int lanes : {1, 8}) {
    checkBinaryOps<int32_t>(lanes, baselineX86());
    checkBinaryOps<int64_t>(lanes, baselineX86());
    checkBinaryOps<float>(lanes, baselineX86());
    checkBinaryOps<double>(lanes, baselineX86());
    checkFloatIntrinsics<float>(lanes, baselineX86());
    checkFloatIntrinsics<double>(lanes, baselineX86());
    checkIntegerIntrinsics<int32_t>(lanes, baselineX86());
    checkIntegerIntrinsics<int64_t>(lanes, baselineX86());
  }
}

// ---------------------------------------------------------------------------------------------
// Casts between every pair of dtypes.

const DType kAllTypes[] = {DType::F16, DType::BF16, DType::F32, DType::F64, DType::I32,
                           DType::I64, DType::Bool, DType::U8,  DType::I8,  DType::I16};

/// A source value: its exact value as a double (floats, bool) or an integer.
struct SourceValue {
  bool isInteger;
  double real;
  int64_t integer;
};

/// One element of `dtype` holding the reference result of casting `v`, as raw bytes.
std::vector<uint8_t> refCast(const SourceValue &v, DType to) {
  std::vector<uint8_t> out(byteSize(to));
  auto put = [&](auto x) { std::memcpy(out.data(), &x, sizeof(x)); };
  double real = v.isInteger ? static_cast<double>(v.integer) : v.real;
  switch (to) {
  case DType::F16:
    put(refToHalf(real));
    break;
  case DType::BF16:
    put(refToBFloat16(real));
    break;
  case DType::F32:
    put(v.isInteger ? static_cast<float>(v.integer) : static_cast<float>(v.real));
    break;
  case DType::F64:
    put(real);
    break;
  case DType::I32:
    put(v.isInteger ? static_cast<int32_t>(v.integer) : refSaturate<int32_t>(v.real));
    break;
  case DType::I64:
    put(v.isInteger ? v.integer : refSaturate<int64_t>(v.real));
    break;
  case DType::I16:
    put(v.isInteger ? static_cast<int16_t>(v.integer) : refSaturate<int16_t>(v.real));
    break;
  case DType::I8:
    put(v.isInteger ? static_cast<int8_t>(v.integer) : refSaturate<int8_t>(v.real));
    break;
  case DType::U8:
    put(v.isInteger ? static_cast<uint8_t>(v.integer) : refSaturate<uint8_t>(v.real));
    break;
  case DType::Bool:
    put(uint8_t(v.isInteger ? v.integer != 0 : v.real != 0)); // NaN != 0.
    break;
  }
  return out;
}

/// Raw bytes of interesting values of `dtype`, and their exact values.
void castSources(DType dtype, std::vector<uint8_t> &bytes, std::vector<SourceValue> &values) {
  auto add = [&](auto raw, SourceValue v) {
    const auto *p = reinterpret_cast<const uint8_t *>(&raw);
    bytes.insert(bytes.end(), p, p + sizeof(raw));
    values.push_back(v);
  };
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> reals = {0.0,
                               -0.0,
                               1.0,
                               -1.0,
                               0.5,
                               1.5,
                               2.5,
                               -2.5,
                               0.1,
                               1e10,
                               -1e10,
                               3e9,
                               -3e9,
                               2147483520.0,
                               2147483648.0,
                               -2147483648.0,
                               -2147483904.0,
                               9.3e18,
                               -9.3e18,
                               inf,
                               -inf,
                               nan,
                               65504.0,
                               65520.0,
                               65519.99,
                               1e-8,
                               6e-8,
                               3e-5,
                               1e-40,
                               3.4e38,
                               1.0 + 0x1p-11,
                               1.0 + 0x1p-11 + 0x1p-40,
                               1.0 + 0x1p-8 + 0x1p-30,
                               1.0 + 0x1p-8,
                               1e300,
                               -1e-300,
                               0x1.ffffffp127,
                               12345.678};
  switch (dtype) {
  case DType::F32:
    for (double r : reals) {
      float f = static_cast<float>(r);
      add(f, {false, double(f), 0});
    }
    break;
  case DType::F64:
    for (double r : reals)
      add(r, {false, r, 0});
    break;
  case DType::F16:
    for (uint16_t h : {0x0000, 0x8000, 0x3c00, 0xbc00, 0x7bff, 0xfbff, 0x0001, 0x03ff, 0x0400,
                       0x7c00, 0xfc00, 0x7e00, 0x3555, 0xc900, 0x5640, 0x3800, 0x4100, 0x8001})
      add(uint16_t(h), {false, refFromHalf(h), 0});
    break;
  case DType::BF16:
    for (uint16_t h : {0x0000, 0x8000, 0x3f80, 0xbf80, 0x7f7f, 0x0001, 0x7f80, 0xff80, 0x7fc0,
                       0xc2f7, 0x4f00, 0x5f00, 0xdf00, 0x4780, 0x477f, 0x3fc0, 0x4020, 0x0080})
      add(uint16_t(h), {false, refFromBFloat16(h), 0});
    break;
  case DType::I32:
    for (int32_t i : {0, 1, -1, 7, -7, 2047, 2049, 65504, 65520, 100000, 16777217, -16777219,
                      std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min()})
      add(i, {true, 0, i});
    break;
  case DType::I64:
    for (int64_t i : {int64_t(0), int64_t(1), int64_t(-1), int64_t(65519), int64_t(65520),
                      int64_t(1) << 31, (int64_t(1) << 40) + 1, (int64_t(1) << 53) + 2,
                      -(int64_t(1) << 33) - 5, int64_t(16777217),
                      std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()})
      add(i, {true, 0, i});
    break;
  case DType::I16:
    for (int16_t i : {0, 1, -1, 255, 256, -129, 2049, 32767, -32768})
      add(i, {true, 0, i});
    break;
  case DType::I8:
    for (int8_t i : {0, 1, -1, 7, -7, 127, -128})
      add(i, {true, 0, i});
    break;
  case DType::U8:
    for (uint8_t i : {0, 1, 7, 127, 128, 200, 255})
      add(i, {true, 0, i});
    break;
  case DType::Bool:
    add(uint8_t(0), {true, 0, 0});
    add(uint8_t(1), {true, 0, 1});
    break;
  }
}

bool sameCastResult(DType to, const uint8_t *got, const std::vector<uint8_t> &want) {
  uint16_t g16, w16;
  switch (to) {
  case DType::F16:
  case DType::BF16: {
    std::memcpy(&g16, got, 2);
    std::memcpy(&w16, want.data(), 2);
    double g = to == DType::F16 ? refFromHalf(g16) : refFromBFloat16(g16);
    double w = to == DType::F16 ? refFromHalf(w16) : refFromBFloat16(w16);
    return std::isnan(w) ? std::isnan(g) : g16 == w16;
  }
  case DType::F32: {
    float g, w;
    std::memcpy(&g, got, 4);
    std::memcpy(&w, want.data(), 4);
    return sameValue(g, w);
  }
  case DType::F64: {
    double g, w;
    std::memcpy(&g, got, 8);
    std::memcpy(&w, want.data(), 8);
    return sameValue(g, w);
  }
  default:
    return std::memcmp(got, want.data(), want.size()) == 0;
  }
}

std::string describe(DType t, const SourceValue &v) {
  std::string value = v.isInteger ? std::to_string(v.integer) : std::to_string(v.real);
  char exact[64];
  if (!v.isInteger) {
    std::snprintf(exact, sizeof exact, " (%a)", v.real);
    value += exact;
  }
  return std::string(dtypeName(t)) + " " + value;
}

struct CastCase {
  int lanes;
  bool hardwareHalf;
  bool baseline = false; // For the x86-64 baseline rather than the host.
  friend void PrintTo(const CastCase &c, std::ostream *os) {
    *os << c.lanes << " lanes, f16 by " << (c.hardwareHalf ? "F16C" : "bit operations")
        << (c.baseline ? ", x86-64 baseline" : "");
  }
};

class CastsTest : public ::testing::TestWithParam<CastCase> {};

TEST_P(CastsTest, EveryPairMatchesReference) {
  const int lanes = GetParam().lanes;
  codegen::LlvmCodeGenOptions options =
      GetParam().baseline ? baselineX86() : codegen::LlvmCodeGenOptions{};
  options.hardwareHalf = GetParam().hardwareHalf;
  for (DType from : kAllTypes) {
    std::vector<uint8_t> bytes;
    std::vector<SourceValue> values;
    castSources(from, bytes, values);
    while (values.size() % 16) { // Whole vectors: repeat the first value.
      values.push_back(values[0]);
      bytes.insert(bytes.end(), bytes.begin(), bytes.begin() + byteSize(from));
    }
    const int64_t n = static_cast<int64_t>(values.size());
    Var nv = symbolVar("N");
    Buffer x = makeBuffer("x", from, {ir::ref(nv)}, BufferRole::Input);
    std::vector<ElementwiseOutput> outs;
    for (DType to : kAllTypes)
      outs.push_back(
          {makeBuffer("to_" + std::string(dtypeName(to)), to, {ir::ref(nv)}, BufferRole::Output),
           [to](const std::vector<Expr> &v) {
             return Cast::make(v[0]->type.withDType(to), v[0]);
           }});
    auto kernel =
        codegen::compileForHost(elementwiseKernel("casts", {x}, outs, lanes, nv), options);
    std::vector<std::vector<uint8_t>> results;
    std::vector<void *> buffers = {bytes.data()};
    for (DType to : kAllTypes)
      results.emplace_back(static_cast<size_t>(n) * byteSize(to), 0xAB);
    for (auto &r : results)
      buffers.push_back(r.data());
    runKernel(*kernel, buffers, {n});
    for (size_t k = 0; k < std::size(kAllTypes); ++k) {
      DType to = kAllTypes[k];
      for (int64_t i = 0; i < n; ++i) {
        std::vector<uint8_t> want = refCast(values[i], to);
        const uint8_t *got = results[k].data() + i * byteSize(to);
        EXPECT_TRUE(sameCastResult(to, got, want))
            << describe(from, values[i]) << " -> " << dtypeName(to) << " (lanes " << lanes
            << (options.hardwareHalf ? "" : ", f16 by bit operations") << ")";
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Casts, CastsTest,
                         ::testing::Values(CastCase{1, true}, CastCase{8, true}, CastCase{1, false},
                                           CastCase{16, false}, CastCase{1, true, true},
                                           CastCase{8, true, true}),
                         [](const auto &info) {
                           return "x" + std::to_string(info.param.lanes) +
                                  (info.param.hardwareHalf ? "_hw" : "_bitops") +
                                  (info.param.baseline ? "_baseline" : "");
                         });

/// Every f16 bit pattern widens exactly and rounds back to itself; the same for bf16.
TEST(Casts, ExhaustiveStorageRoundTrips) {
  for (bool hardwareHalf : {true, false}) {
    codegen::LlvmCodeGenOptions options;
    options.hardwareHalf = hardwareHalf;
    for (DType storage : {DType::F16, DType::BF16}) {
      const int64_t n = 1 << 16;
      Var nv = symbolVar("N");
      Buffer x = makeBuffer("x", storage, {ir::ref(nv)}, BufferRole::Input);
      std::vector<ElementwiseOutput> outs = {
          {makeBuffer("wide", DType::F32, {ir::ref(nv)}, BufferRole::Output),
           [](const std::vector<Expr> &v) {
             return Cast::make(v[0]->type.withDType(DType::F32), v[0]);
           }},
          {makeBuffer("back", storage, {ir::ref(nv)}, BufferRole::Output),
           [storage](const std::vector<Expr> &v) {
             Expr wide = Cast::make(v[0]->type.withDType(DType::F32), v[0]);
             return Cast::make(v[0]->type.withDType(storage), wide);
           }}};
      auto kernel = codegen::compileForHost(elementwiseKernel("trip", {x}, outs, 16, nv), options);
      std::vector<uint16_t> bits(n), back(n);
      std::vector<float> wide(n);
      for (int64_t i = 0; i < n; ++i)
        bits[i] = uint16_t(i);
      runKernel(*kernel, {bits.data(), wide.data(), back.data()}, {n});
      int failures = 0;
      for (int64_t i = 0; i < n && failures < 10; ++i) {
        double want = storage == DType::F16 ? refFromHalf(bits[i]) : refFromBFloat16(bits[i]);
        bool ok = sameValue(double(wide[i]), want) &&
                  (std::isnan(want) ? (back[i] & 0x7fff) > (storage == DType::F16 ? 0x7c00 : 0x7f80)
                                    : back[i] == bits[i]);
        if (!ok) {
          ++failures;
          ADD_FAILURE() << dtypeName(storage) << " bits 0x" << std::hex << bits[i] << ": wide "
                        << wide[i] << ", back 0x" << back[i]
                        << (hardwareHalf ? "" : " (bit operations)");
        }
      }
    }
  }
}

/// Rounding f32 to f16 and bf16 over many random bit patterns, against the reference.
TEST(Casts, RandomF32NarrowingMatchesReference) {
  const int64_t n = 1 << 16;
  std::vector<float> xs(n);
  uint64_t state = 12345;
  for (int64_t i = 0; i < n; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    uint32_t b = uint32_t(state >> 32);
    if (i % 2) // Half of them in f16's range, where the interesting roundings are.
      b = (b & 0x80000000u) | (0x33000000u + (b & 0x0FFFFFFFu) % 0x14800000u);
    std::memcpy(&xs[i], &b, 4);
  }
  for (bool hardwareHalf : {true, false}) {
    codegen::LlvmCodeGenOptions options;
    options.hardwareHalf = hardwareHalf;
    Var nv = symbolVar("N");
    Buffer x = makeBuffer("x", DType::F32, {ir::ref(nv)}, BufferRole::Input);
    std::vector<ElementwiseOutput> outs;
    for (DType to : {DType::F16, DType::BF16})
      outs.push_back({makeBuffer("y", to, {ir::ref(nv)}, BufferRole::Output),
                      [to](const std::vector<Expr> &v) {
                        return Cast::make(v[0]->type.withDType(to), v[0]);
                      }});
    auto kernel = codegen::compileForHost(elementwiseKernel("narrow", {x}, outs, 8, nv), options);
    std::vector<uint16_t> half(n), bf(n);
    runKernel(*kernel, {xs.data(), half.data(), bf.data()}, {n});
    int failures = 0;
    for (int64_t i = 0; i < n && failures < 10; ++i) {
      if (std::isnan(xs[i]))
        continue;
      if (half[i] != refToHalf(xs[i]) || bf[i] != refToBFloat16(xs[i])) {
        ++failures;
        ADD_FAILURE() << std::hexfloat << xs[i] << ": f16 0x" << std::hex << half[i] << " want 0x"
                      << refToHalf(xs[i]) << ", bf16 0x" << bf[i] << " want 0x"
                      << refToBFloat16(xs[i]) << (hardwareHalf ? "" : " (bit operations)");
      }
    }
  }
}

/// Arithmetic on storage types happens in f32 and rounds back.
TEST(StorageTypes, ArithmeticWidensToF32) {
  std::vector<uint16_t> a, b;
  for (double x : {1.0, 0.1, 65504.0, -3.5, 1e-6, 2048.0, 0.333, -0.0})
    for (double y : {1.0, 1e-3, 65504.0, 2.0}) {
      a.push_back(refToHalf(x));
      b.push_back(refToHalf(y));
    }
  const int64_t n = static_cast<int64_t>(a.size());
  for (int lanes : {1, 8}) {
    Var nv = symbolVar("N");
    Buffer ba = makeBuffer("a", DType::F16, {ir::ref(nv)}, BufferRole::Input);
    Buffer bb = makeBuffer("b", DType::F16, {ir::ref(nv)}, BufferRole::Input);
    std::vector<ElementwiseOutput> outs = {
        {makeBuffer("sum", DType::F16, {ir::ref(nv)}, BufferRole::Output),
         [](const std::vector<Expr> &v) { return add(v[0], v[1]); }},
        {makeBuffer("lt", DType::Bool, {ir::ref(nv)}, BufferRole::Output),
         [](const std::vector<Expr> &v) { return bin(BinaryOp::Lt, v[0], v[1]); }},
        {makeBuffer("sq", DType::F16, {ir::ref(nv)}, BufferRole::Output),
         [](const std::vector<Expr> &v) { return Call::make(Intrinsic::Sqrt, {v[0]}); }}};
    auto kernel = codegen::compileForHost(elementwiseKernel("f16_math", {ba, bb}, outs, lanes, nv));
    std::vector<uint16_t> sum(n), sq(n);
    std::vector<uint8_t> lt(n);
    runKernel(*kernel, {a.data(), b.data(), sum.data(), lt.data(), sq.data()}, {n});
    for (int64_t i = 0; i < n; ++i) {
      float x = float(refFromHalf(a[i])), y = float(refFromHalf(b[i]));
      EXPECT_EQ(sum[i], refToHalf(x + y)) << x << " + " << y;
      EXPECT_EQ(lt[i], uint8_t(x < y)) << x << " < " << y;
      double s = std::sqrt(x);
      if (!std::isnan(s)) {
        EXPECT_EQ(sq[i], refToHalf(std::sqrt(x))) << "sqrt " << x;
      }
    }
  }
}

} // namespace
} // namespace tdsl::test
