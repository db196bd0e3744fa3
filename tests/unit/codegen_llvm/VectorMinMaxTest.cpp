// Vector float max/min (and relu) lower to x86's vmaxps/vminps with a one-instruction fix for
// the lanes where the operands compare equal or one is NaN (CodeGenLlvm::floatMinMax): three
// instructions per register instead of the six of LLVM's generic llvm.maximum lowering. The
// results must stay IEEE 754-2019 maximum/minimum exactly: NaN propagates from either operand,
// -0 < +0.
#include "LlvmTestUtil.h"

#include "codegen/llvm/LlvmOptions.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace tdsl::test {
namespace {

/// m = max(a, b) and n = min(a, b) over [N] in vectors of `lanes`.
template <typename T> LoweredFunc minMaxKernel(int lanes, DType dt) {
  Var n = symbolVar("N");
  Buffer a = makeBuffer("a", dt, {ir::ref(n)}, BufferRole::Input);
  Buffer b = makeBuffer("b", dt, {ir::ref(n)}, BufferRole::Input);
  Buffer mx = makeBuffer("mx", dt, {ir::ref(n)}, BufferRole::Output);
  Buffer mn = makeBuffer("mn", dt, {ir::ref(n)}, BufferRole::Output);
  return elementwiseKernel(
      "minmax", {a, b},
      {{mx, [](const std::vector<Expr> &v) { return bin(BinaryOp::Max, v[0], v[1]); }},
       {mn, [](const std::vector<Expr> &v) { return bin(BinaryOp::Min, v[0], v[1]); }}},
      lanes, n);
}

template <typename T> std::vector<T> edgeValues() {
  using L = std::numeric_limits<T>;
  using I = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  I negativeNaNBits = std::bit_cast<I>(L::quiet_NaN()) | (I{1} << (sizeof(T) * 8 - 1));
  I payloadNaNBits = std::bit_cast<I>(L::quiet_NaN()) | I{5};
  return {T(0),
          T(-0.0),
          T(1),
          T(-1),
          T(1.5),
          T(-1.5),
          L::denorm_min(),
          -L::denorm_min(),
          L::min(),
          -L::max(),
          L::max(),
          L::infinity(),
          -L::infinity(),
          L::quiet_NaN(),
          std::bit_cast<T>(negativeNaNBits),
          std::bit_cast<T>(payloadNaNBits)};
}

/// Every ordered pair of edge values, in vectors of 64 lanes (four AVX-512 registers of f32,
/// eight of f64: the accumulators of a vectorized row max) and of 16.
template <typename T> void checkEveryPair(DType dt) {
  std::vector<T> values = edgeValues<T>();
  std::vector<T> as, bs;
  for (T x : values)
    for (T y : values)
      as.push_back(x), bs.push_back(y);
  for (int lanes : {16, 64}) {
    std::vector<T> a = as, b = bs;
    while (a.size() % static_cast<size_t>(lanes)) // pad with a pair of each kind
      a.push_back(T(-0.0)), b.push_back(T(0));
    int64_t n = static_cast<int64_t>(a.size());
    std::vector<T> mx(a.size()), mn(a.size());
    auto kernel = codegen::compileForHost(minMaxKernel<T>(lanes, dt));
    runKernel(*kernel, {a.data(), b.data(), mx.data(), mn.data()}, {n});
    int failures = 0;
    for (size_t i = 0; i < a.size() && failures < 8; ++i) {
      if (!sameValue(mx[i], refMaximum(a[i], b[i]))) {
        ++failures;
        ADD_FAILURE() << "max(" << a[i] << ", " << b[i] << ") = " << mx[i] << " (lanes " << lanes
                      << ")";
      }
      if (!sameValue(mn[i], refMinimum(a[i], b[i]))) {
        ++failures;
        ADD_FAILURE() << "min(" << a[i] << ", " << b[i] << ") = " << mn[i] << " (lanes " << lanes
                      << ")";
      }
    }
  }
}

TEST(VectorMinMax, F32EveryPairOfEdgeValuesIsIeeeMaximumAndMinimum) {
  checkEveryPair<float>(DType::F32);
}

TEST(VectorMinMax, F64EveryPairOfEdgeValuesIsIeeeMaximumAndMinimum) {
  checkEveryPair<double>(DType::F64);
}

TEST(VectorMinMax, Avx512MaxIsVmaxpsPlusOneMaskedTernlog) {
  std::string assembly = codegen::emitAssembly(minMaxKernel<float>(64, DType::F32), x86V4());
  // Four registers: four vmaxps, each fixed by one merge-masked vpternlogd; no sign-bit masks
  // and blends (vpmovd2m, vblendmps) of LLVM's generic lowering.
  EXPECT_GE(occurrences(assembly, "vmaxps"), 4u) << assembly;
  EXPECT_GE(occurrences(assembly, "vpternlogd"), 4u) << assembly;
  EXPECT_EQ(occurrences(assembly, "vpmovd2m"), 0u) << assembly;
  EXPECT_EQ(occurrences(assembly, "vblendmps"), 0u) << assembly;
}

} // namespace
} // namespace tdsl::test
