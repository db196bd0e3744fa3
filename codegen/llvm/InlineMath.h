// f32 exp, cos, tanh, log and erf written out in LLVM IR, inlined into the loop instead of a
// libmvec call, for AVX-512 vectors whose lanes are all in a moderate range (docs/numerics.md,
// "Inline exp, cos, tanh, log and erf"). Internal to codegen/llvm: it exposes LLVM types.
//
// Each function computes the fast result for every lane, then checks once per vector whether
// every lane is inside the range where the fast result holds its error bound. When one is not
// (a large argument, an infinity, a NaN), a slow block calls `fallback` (libmvec) on the whole
// vector and takes its result for exactly those lanes. So each lane's result depends on that
// lane's argument alone, never on its neighbours, and the same input gives the same bits on
// every run and thread count.
#pragma once

#include <functional>

namespace llvm {
class IRBuilderBase;
class Value;
} // namespace llvm

namespace tdsl::codegen {

/// Computes a function on a whole vector the slow way (a libmvec call); emitted only in the
/// slow block.
using MathFallback = std::function<llvm::Value *(llvm::Value *)>;

/// Lanes with |x| <= this take the inline exp: every result is a normal f32 there.
inline constexpr float kInlineExpBound = 86.0f;
/// Lanes with |x| <= this take the inline cos: the three-part reduction by pi stays accurate.
inline constexpr float kInlineCosBound = 8192.0f;

/// Whether the inline functions apply to a vector of `lanes` f32: whole 512-bit registers
/// (the table lookup of exp is one `vpermps` per 16 lanes).
bool inlineMathFits(int lanes);

/// exp(x) for a vector of f32 (lanes a multiple of 16, AVX-512F): x = (16 m + j) ln2/16 + r,
/// |r| <= ln2/32; exp(x) = 2^m * T[j] * (1 + r + c2 r^2 + c3 r^3), T[j] = 2^(j/16) from a
/// 16-entry table held in one register. Within 1.1 ulp of the exact value for |x| <= 86.
llvm::Value *emitInlineExp(llvm::IRBuilderBase &b, llvm::Value *x, const MathFallback &fallback);

/// cos(x) for a vector of f32 (any lanes; FMA): x = (k + 1/2) pi - r with |r| <= pi/2 by a
/// three-part Cody-Waite reduction, cos(x) = (-1)^k sin(r), sin by an odd degree-9 polynomial.
/// Within 2 ulp of the exact value for |x| <= 8192.
llvm::Value *emitInlineCos(llvm::IRBuilderBase &b, llvm::Value *x, const MathFallback &fallback);

/// tanh(x) for a vector of f32 (any lanes; FMA): tanh(|x|) = h / (1 + h), h =
/// (exp(2|x|) - 1) / 2 with 2|x| = k ln2 + r and exp(r) - 1 by a degree-6 polynomial; |x|
/// clamped to 9.5 (tanh rounds to 1 from 9.01), x's sign put back. Within 2.5 ulp of the exact
/// value for every f32 (1.5 from |x| = 0.5 on); only NaN lanes fall back.
llvm::Value *emitInlineTanh(llvm::IRBuilderBase &b, llvm::Value *x, const MathFallback &fallback);

/// log(x) for a vector of f32 (any lanes; FMA): x = 2^k m with m in [sqrt(1/2), sqrt(2)) from x's
/// bits, log(x) = k ln2 + log1p(m - 1) with log1p by a degree-10 polynomial. Within 1 ulp of
/// the exact value for every positive normal f32; zero, negative, subnormal, infinite and NaN
/// lanes fall back.
llvm::Value *emitInlineLog(llvm::IRBuilderBase &b, llvm::Value *x, const MathFallback &fallback);

/// erf(x) for a vector of f32 (lanes a multiple of 16, AVX-512F): erf(|x|) = |x| + |x| R(x^2)
/// below 1, 1 - exp(L(|x|)) with the inline exp from 1 (|x| clamped to 3.92: erf rounds to 1
/// from 3.9192), x's sign put back. Within 1.5 ulp of the exact value for every f32; only NaN
/// lanes fall back.
llvm::Value *emitInlineErf(llvm::IRBuilderBase &b, llvm::Value *x, const MathFallback &fallback);

} // namespace tdsl::codegen
