// Inline f32 exp, cos, tanh, log and erf. Why: libmvec's AVX-512 expf and cosf are about the same
// arithmetic as below, but each call realigns the stack, reloads its constants from memory, and
// forces every vector the loop keeps live across it into memory (all zmm registers are
// caller-saved); inline, the constants stay in registers and LLVM schedules the polynomial together
// with the loop's loads and stores. exp also uses a 16-entry table (one vpermps) so that its
// polynomial is of degree 3 instead of 5. The constants are f32: each is written as the f32 it
// rounds to.
//
// Both start from the "shifter" trick: t = fma(x, c, 1.5 * 2^23) rounds x * c to an integer k
// held in the low bits of t's significand (bits(t) = bits(1.5 * 2^23) + k for |k| < 2^22), and
// t - 1.5 * 2^23 is k as a float, exactly. No float-to-int conversion, so no lane can be poison,
// whatever its value (a NaN or an infinity gives a meaningless t, and that lane is replaced by
// the fallback).
#include "codegen/llvm/InlineMath.h"

#include "support/Check.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/IntrinsicsX86.h>
#include <llvm/IR/MDBuilder.h>

#include <bit>
#include <cmath>
#include <limits>
#include <vector>

namespace tdsl::codegen {
namespace {

constexpr float kShifter = 12582912.0f; // 1.5 * 2^23
// ln 2 in two parts: the first has 16 significant bits, so k * kLn2Hi is exact for |k| < 2^8.
constexpr float kLn2Hi = 0.693145751953125f;
constexpr float kLn2Lo = 1.428606765330187e-06f;

struct Emitter {
  llvm::IRBuilderBase &b;
  llvm::FixedVectorType *ty; // <L x float>
  llvm::FixedVectorType *intTy;

  Emitter(llvm::IRBuilderBase &builder, llvm::Value *x)
      : b(builder), ty(llvm::cast<llvm::FixedVectorType>(x->getType())),
        intTy(llvm::FixedVectorType::get(builder.getInt32Ty(), ty->getNumElements())) {}

  llvm::Constant *f(float v) { return llvm::ConstantFP::get(ty, static_cast<double>(v)); }
  llvm::Constant *i(uint32_t v) { return llvm::ConstantInt::get(intTy, v); }
  llvm::Value *fma(llvm::Value *m, llvm::Value *n, llvm::Value *a) {
    return b.CreateIntrinsic(llvm::Intrinsic::fma, {ty}, {m, n, a});
  }
  llvm::Value *bits(llvm::Value *v) { return b.CreateBitCast(v, intTy); }
  llvm::Value *real(llvm::Value *v) { return b.CreateBitCast(v, ty); }

  /// `fast` where every lane of `x` has |x| <= bound; else a slow block that computes
  /// `fallback(x)` and takes it in the lanes outside (and in NaN lanes).
  llvm::Value *guard(llvm::Value *x, float bound, llvm::Value *fast, const MathFallback &fallback) {
    llvm::Value *abs = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
    return guardLanes(b.CreateFCmpOLE(abs, f(bound)), x, fast, fallback); // False for NaN.
  }

  /// `fast` where every lane of `inside` is true; else a slow block that computes
  /// `fallback(x)` and takes it in the lanes that are not.
  llvm::Value *guardLanes(llvm::Value *inside, llvm::Value *x, llvm::Value *fast,
                          const MathFallback &fallback) {
    // Frozen: a lane the caller masks off may be poison, and branching on poison is undefined.
    // Whatever a frozen lane reads as, every live lane still gets its own value below.
    llvm::Value *all = b.CreateFreeze(b.CreateAndReduce(inside));
    llvm::BasicBlock *before = b.GetInsertBlock();
    llvm::Function *function = before->getParent();
    llvm::LLVMContext &ctx = b.getContext();
    auto *slow = llvm::BasicBlock::Create(ctx, "math.slow", function);
    auto *done = llvm::BasicBlock::Create(ctx, "math.done", function);
    llvm::MDBuilder md(ctx);
    b.CreateCondBr(all, done, slow, md.createBranchWeights(2000, 1));
    b.SetInsertPoint(slow);
    llvm::Value *slowValue = fallback(x);
    TDSL_CHECK(slowValue && slowValue->getType() == ty) << "math fallback of the wrong type";
    llvm::Value *mixed = b.CreateSelect(inside, fast, slowValue);
    llvm::BasicBlock *slowEnd = b.GetInsertBlock();
    b.CreateBr(done);
    b.SetInsertPoint(done);
    llvm::PHINode *phi = b.CreatePHI(ty, 2, "math");
    phi->addIncoming(fast, before);
    phi->addIncoming(mixed, slowEnd);
    return phi;
  }
};

/// 2^(j/16) for j = 0..15, each rounded to f32.
llvm::Constant *expTable(llvm::IRBuilderBase &b) {
  std::vector<llvm::Constant *> entries;
  for (int j = 0; j < 16; ++j)
    entries.push_back(llvm::ConstantFP::get(
        b.getFloatTy(), static_cast<double>(static_cast<float>(std::exp2(j / 16.0)))));
  return llvm::ConstantVector::get(entries);
}

/// exp(x) in every lane, unguarded: right (within 1 ulp) where |x| <= kInlineExpBound, a
/// meaningless number elsewhere (never poison).
llvm::Value *expInRange(Emitter &e, llvm::Value *x) {
  llvm::IRBuilderBase &b = e.b;
  int lanes = static_cast<int>(e.ty->getNumElements());
  TDSL_CHECK(inlineMathFits(lanes)) << "inline exp of " << lanes << " lanes";
  // k = round(x * 16 / ln 2); x = k ln2/16 + r with ln2/16 in two parts (the first has 13
  // significant bits, so k * hi is exact for |k| < 2^11 and r's first step cancels exactly).
  llvm::Value *t = e.fma(x, e.f(23.083120346069336f), e.f(kShifter));
  llvm::Value *k = b.CreateFSub(t, e.f(kShifter));
  llvm::Value *r = e.fma(k, e.f(-0.0433197021484375f), x);
  r = e.fma(k, e.f(-1.9966364561696537e-06f), r);
  // T[j], j = k mod 16: vpermps reads the low 4 bits of each index lane.
  llvm::Value *tBits = e.bits(t);
  llvm::Constant *table = expTable(b);
  auto *lane16 = llvm::FixedVectorType::get(b.getInt32Ty(), 16);
  llvm::Value *tableValue = llvm::PoisonValue::get(e.ty);
  for (int part = 0; part < lanes / 16; ++part) {
    std::vector<int> take, put;
    for (int l = 0; l < 16; ++l)
      take.push_back(part * 16 + l);
    llvm::Value *index = lanes == 16 ? tBits : b.CreateShuffleVector(tBits, take);
    llvm::Value *looked = b.CreateIntrinsic(llvm::Intrinsic::x86_avx512_permvar_sf_512, {},
                                            {table, b.CreateBitCast(index, lane16)});
    if (lanes == 16) {
      tableValue = looked;
      break;
    }
    for (int l = 0; l < lanes; ++l)
      put.push_back(l < 16 ? l : -1);
    llvm::Value *wide = b.CreateShuffleVector(looked, put);
    std::vector<int> blend;
    for (int l = 0; l < lanes; ++l)
      blend.push_back(l >= part * 16 && l < part * 16 + 16 ? lanes + (l - part * 16) : l);
    tableValue = b.CreateShuffleVector(tableValue, wide, blend);
  }
  // exp(r) - 1 = r + c2 r^2 + c3 r^3 (relative-error minimax on |r| <= ln2/32: 0.03 ulp).
  llvm::Value *p = e.fma(e.f(0.166667178273201f), r, e.f(0.5000161528587341f));
  p = e.fma(p, r, e.f(1.0f));
  p = b.CreateFMul(p, r);
  llvm::Value *mantissa = e.fma(p, tableValue, tableValue); // T[j] * exp(r), in [0.97, 2)
  // Multiply by 2^m, m = k >> 4, by adding m to the exponent: bits(t) << 19 is k << 19 (the
  // shifter's bits shift out), and its bits from 23 up are m << 23.
  llvm::Value *scale = b.CreateAnd(b.CreateShl(tBits, e.i(19)), e.i(0xFF800000u));
  return e.real(b.CreateAdd(e.bits(mantissa), scale));
}

} // namespace

bool inlineMathFits(int lanes) { return lanes > 0 && lanes % 16 == 0; }

llvm::Value *emitInlineExp(llvm::IRBuilderBase &b, llvm::Value *x, const MathFallback &fallback) {
  Emitter e(b, x);
  return e.guard(x, kInlineExpBound, expInRange(e, x), fallback);
}

llvm::Value *emitInlineCos(llvm::IRBuilderBase &b, llvm::Value *x, const MathFallback &fallback) {
  Emitter e(b, x);
  // k = round(x / pi - 1/2), h = k + 1/2, r = h pi - x in three parts: the first, with pi
  // rounded to f32, is exact (h * pi_hi and x are both multiples of 2^-23 when |x| >= 1, and
  // the difference is below 2).
  llvm::Value *q = e.fma(x, e.f(0.31830987334251404f), e.f(-0.5f));
  llvm::Value *t = b.CreateFAdd(q, e.f(kShifter));
  llvm::Value *k = b.CreateFSub(t, e.f(kShifter));
  llvm::Value *h = b.CreateFAdd(k, e.f(0.5f));
  llvm::Value *r = e.fma(h, e.f(3.1415927410125732f), b.CreateFNeg(x));
  r = e.fma(h, e.f(-8.742277657347586e-08f), r);
  r = e.fma(h, e.f(-3.4302490200117637e-15f), r);
  // sin(r) = r + r^3 P(r^2), odd degree 9, relative-error minimax on |r| <= pi/2 (0.1 ulp), each
  // coefficient fitted after the ones before it were rounded to f32.
  llvm::Value *s = b.CreateFMul(r, r);
  llvm::Value *p = e.fma(e.f(2.6060747586598154e-06f), s, e.f(-0.00019809772493317723f));
  p = e.fma(p, s, e.f(0.008333069272339344f));
  p = e.fma(p, s, e.f(-0.16666659712791443f));
  llvm::Value *sine = e.fma(b.CreateFMul(r, s), p, r);
  // Near r = +-pi/2 (cos(x) near +-1) the last rounding may step past 1 by one ulp (2 ulps of the
  // binade below): |cos| <= 1, so clamping only brings such a result closer. Two cheap
  // min/max beside the FMA-bound polynomial; a NaN never gets here (the lane falls back).
  sine = b.CreateMinNum(b.CreateMaxNum(sine, e.f(-1.0f)), e.f(1.0f));
  // cos(x) = (-1)^k sin(r): k's parity is the low bit of t (the shifter's is 0).
  llvm::Value *sign = b.CreateShl(e.bits(t), e.i(31));
  llvm::Value *fast = e.real(b.CreateXor(e.bits(sine), sign));
  return e.guard(x, kInlineCosBound, fast, fallback);
}

llvm::Value *emitInlineTanh(llvm::IRBuilderBase &b, llvm::Value *x, const MathFallback &fallback) {
  Emitter e(b, x);
  // tanh is odd: tanh(|x|), then x's sign bit put back (so tanh(-0) is -0). tanh(a) = h / (1 + h)
  // with h = (exp(2a) - 1) / 2, which keeps its relative accuracy near 0 where exp(2a) - 1 would
  // not. a is clamped to 9.5: past 9.01 tanh rounds to 1, and inf gives 1 too.
  llvm::Value *a = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
  llvm::Value *clamped = b.CreateMinNum(a, e.f(9.5f));
  llvm::Value *y = b.CreateFAdd(clamped, clamped);
  // y = k ln2 + r, |r| <= ln2/2 (k <= 28: r's first step cancels exactly).
  llvm::Value *t = e.fma(y, e.f(1.4426950216293335f), e.f(kShifter));
  llvm::Value *k = b.CreateFSub(t, e.f(kShifter));
  llvm::Value *r = e.fma(k, e.f(-kLn2Hi), y);
  r = e.fma(k, e.f(-kLn2Lo), r);
  // exp(r) - 1 = r + r^2 (1/2 + r Q(r)), Q of degree 3, relative-error minimax on |r| <= ln2/2,
  // each coefficient fitted after the ones before it were rounded to f32.
  llvm::Value *q = e.fma(e.f(0.0013897860189899802f), r, e.f(0.00836597103625536f));
  q = e.fma(q, r, e.f(0.04166685789823532f));
  q = e.fma(q, r, e.f(0.16666549444198608f));
  q = e.fma(q, r, e.f(0.5f));
  llvm::Value *expm1R = e.fma(b.CreateFMul(r, r), q, r);
  // h = 2^(k-1) (exp(r) - 1) + (2^(k-1) - 1/2): 2^(k-1) from k's bits in t (the shifter's shift
  // out), and 2^(k-1) - 1/2 is exact for k <= 24, where it matters; for k = 0, h = expm1(r) / 2.
  llvm::Value *scale = e.real(b.CreateAdd(b.CreateShl(e.bits(t), e.i(23)), e.i(0x3F000000u)));
  llvm::Value *h = e.fma(scale, expm1R, b.CreateFSub(scale, e.f(0.5f)));
  // Near 0 the rounding of 1 + h counts fully in the result (2.5 ulp there, 1.5 from 0.5 on).
  // Writing the result as h - h * ratio below 0.5 brought that to 1.86 ulp, but GELU, whose
  // loop is bound by the multiply-add pipes, took 9% longer for the extra operation.
  llvm::Value *magnitude = b.CreateFDiv(h, b.CreateFAdd(h, e.f(1.0f)));
  llvm::Value *sign = b.CreateAnd(e.bits(x), e.i(0x80000000u));
  llvm::Value *fast = e.real(b.CreateOr(e.bits(magnitude), sign));
  // Only a NaN lane (minnum made it 9.5) is out of range.
  return e.guard(x, std::numeric_limits<float>::infinity(), fast, fallback);
}

llvm::Value *emitInlineLog(llvm::IRBuilderBase &b, llvm::Value *x, const MathFallback &fallback) {
  Emitter e(b, x);
  // x = 2^k m with m in [sqrt(1/2), sqrt(2)): subtracting the bits of sqrt(1/2) leaves k in the
  // exponent field (read by an arithmetic shift) and m - sqrt(1/2) in the fraction field.
  uint32_t root = std::bit_cast<uint32_t>(0.70710677f);
  llvm::Value *offset = b.CreateSub(e.bits(x), e.i(root));
  llvm::Value *k = b.CreateSIToFP(b.CreateAShr(offset, e.i(23)), e.ty);
  llvm::Value *m = e.real(b.CreateAdd(b.CreateAnd(offset, e.i(0x7FFFFFu)), e.i(root)));
  llvm::Value *f = b.CreateFSub(m, e.f(1.0f)); // Exact: m is in [0.5, 2].
  // log(m) = log1p(f) = f - f^2/2 + f^3 P(f), P of degree 7, relative-error minimax on
  // [sqrt(1/2) - 1, sqrt(2) - 1] (0.1 ulp), each coefficient fitted after the ones before it
  // were rounded to f32.
  llvm::Value *p = e.fma(e.f(-0.07634307444095612f), f, e.f(0.1276136189699173f));
  p = e.fma(p, f, e.f(-0.1315992921590805f));
  p = e.fma(p, f, e.f(0.14201706647872925f));
  p = e.fma(p, f, e.f(-0.16623397171497345f));
  p = e.fma(p, f, e.f(0.20001237094402313f));
  p = e.fma(p, f, e.f(-0.2500081956386566f));
  p = e.fma(p, f, e.f(0.3333333134651184f));
  p = e.fma(p, f, e.f(-0.5f));
  llvm::Value *logM = e.fma(b.CreateFMul(f, f), p, f);
  // + k ln2: k * kLn2Hi is exact, so the sum rounds once.
  llvm::Value *fast = e.fma(k, e.f(kLn2Hi), e.fma(k, e.f(kLn2Lo), logM));
  // Normal positive finite lanes only: zero, negatives, subnormals, inf and NaN fall back.
  llvm::Value *inside = b.CreateAnd(b.CreateFCmpOGE(x, e.f(std::numeric_limits<float>::min())),
                                    b.CreateFCmpOLE(x, e.f(std::numeric_limits<float>::max())));
  return e.guardLanes(inside, x, fast, fallback);
}

llvm::Value *emitInlineErf(llvm::IRBuilderBase &b, llvm::Value *x, const MathFallback &fallback) {
  Emitter e(b, x);
  // erf is odd: erf(|x|), then x's sign bit put back (so erf(-0) is -0).
  llvm::Value *a = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
  // a < 1: erf(a) = a + a R(a^2), R of degree 6, relative-error minimax on [0, 1], each
  // coefficient fitted after the ones before it were rounded to f32. R's constant term is
  // 2/sqrt(pi) - 1: 2/sqrt(pi) itself rounded to f32 would be off by up to half an ulp of every
  // result.
  llvm::Value *s = b.CreateFMul(a, a);
  llvm::Value *r = e.fma(e.f(7.806903158780187e-05f), s, e.f(-0.0007997853099368513f));
  r = e.fma(r, s, e.f(0.005187162198126316f));
  r = e.fma(r, s, e.f(-0.026853347197175026f));
  r = e.fma(r, s, e.f(0.11283578723669052f));
  r = e.fma(r, s, e.f(-0.3761262595653534f));
  r = e.fma(r, s, e.f(0.12837916612625122f));
  llvm::Value *small = e.fma(a, r, a);
  // a >= 1: erf(a) = 1 - exp(L(a)), L of degree 8 fitted to log(erfc(a)) on [1, 3.92] with the
  // weight its error has in the result (erfc(a) / erf(a), at most 0.19), then the inline exp.
  // a is clamped to 3.92: from 3.9192 on erf rounds to 1, and inf gives 1 too.
  llvm::Value *clamped = b.CreateMinNum(a, e.f(3.92f));
  llvm::Value *l = e.fma(e.f(2.1020002805016702e-07f), clamped, e.f(-2.4732262318138964e-05f));
  l = e.fma(l, clamped, e.f(0.0004602483531925827f));
  l = e.fma(l, clamped, e.f(-0.004270334728062153f));
  l = e.fma(l, clamped, e.f(0.02534843049943447f));
  l = e.fma(l, clamped, e.f(-0.10860611498355865f));
  l = e.fma(l, clamped, e.f(-0.6330659985542297f));
  l = e.fma(l, clamped, e.f(-1.12964928150177f));
  l = e.fma(l, clamped, e.f(0.00020206313638482243f));
  llvm::Value *big = b.CreateFSub(e.f(1.0f), expInRange(e, l));
  llvm::Value *magnitude = b.CreateSelect(b.CreateFCmpOLT(a, e.f(1.0f)), small, big);
  llvm::Value *sign = b.CreateAnd(e.bits(x), e.i(0x80000000u));
  llvm::Value *fast = e.real(b.CreateOr(e.bits(magnitude), sign));
  // Only a NaN lane (minnum made it 3.92) is out of range.
  return e.guard(x, std::numeric_limits<float>::infinity(), fast, fallback);
}

} // namespace tdsl::codegen
