// Vector math through glibc's libmvec. A vector of L lanes is cut into the widest variants the
// target can call (AVX-512 `e`, AVX2 `d`, SSE `b`), the last cut padded with zeros, and the
// results are shuffled back together; the JIT finds the functions because libmvec is loaded into
// the process (RTLD_GLOBAL) the first time codegen asks for it. Every variant is looked up before
// it is used, so a glibc without one (older than 2.35 lacks tanh, erf, exp2, log2, tan) falls
// back to libm per lane instead of failing to link.
#include "codegen/llvm/VectorMath.h"

#include "codegen/llvm/InlineMath.h"

#include "support/Check.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/DynamicLibrary.h>
#include <llvm/TargetParser/Triple.h>
#include <llvm/TargetParser/X86TargetParser.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace tdsl::codegen {
namespace {

const char *baseName(MathFn fn) {
  switch (fn) {
  case MathFn::Exp:
    return "exp";
  case MathFn::Exp2:
    return "exp2";
  case MathFn::Log:
    return "log";
  case MathFn::Log2:
    return "log2";
  case MathFn::Sin:
    return "sin";
  case MathFn::Cos:
    return "cos";
  case MathFn::Tan:
    return "tan";
  case MathFn::Tanh:
    return "tanh";
  case MathFn::Erf:
    return "erf";
  case MathFn::Pow:
    return "pow";
  }
  TDSL_UNREACHABLE("unknown math function");
}

bool listed(const std::string &features, const std::string &flagged) {
  for (size_t at = 0; (at = features.find(flagged, at)) != std::string::npos;
       at += flagged.size()) {
    size_t end = at + flagged.size();
    if ((at == 0 || features[at - 1] == ',') && (end == features.size() || features[end] == ','))
      return true;
  }
  return false;
}

/// Whether `target` has `feature`: listed with `+`, or implied by its CPU and not removed
/// with `-` (`--cpu=x86-64-v4` may name a level and no features).
bool hasFeature(const LlvmTargetInfo &target, const std::string &feature) {
  if (listed(target.features, "+" + feature))
    return true;
  if (listed(target.features, "-" + feature))
    return false;
  llvm::SmallVector<llvm::StringRef, 64> implied;
  llvm::X86::getFeaturesForCPU(target.cpu, implied);
  return std::find(implied.begin(), implied.end(), feature) != implied.end();
}

/// A family of libmvec variants: the vector-ABI letter and its register width.
struct Isa {
  char letter;
  int bits;
};

/// The families `target` can call, widest first. AVX-512 variants only where the code also
/// treats 512-bit vectors as legal: otherwise LLVM would pass a <16 x float> in two registers,
/// which is not the vector ABI.
std::vector<Isa> callableIsas(const LlvmTargetInfo &target) {
  std::vector<Isa> isas;
  if (hasFeature(target, "avx512f") && target.vectorBits >= 512)
    isas.push_back({'e', 512});
  if (hasFeature(target, "avx2") && target.vectorBits >= 256)
    isas.push_back({'d', 256});
  isas.push_back({'b', 128}); // SSE2, the x86-64 baseline.
  return isas;
}

/// Marks a value every lane of which is in [-1, 1] or NaN (an inline cos, tanh or erf).
constexpr const char *kBoundedByOne = "tdsl.bounded_by_one";

bool symbolExists(const std::string &name) {
  return llvm::sys::DynamicLibrary::SearchForAddressOfSymbol(name) != nullptr;
}

/// `x ** y` for an exponent that is the same small integer in every lane, by multiplication:
/// 0, 1, -1 and 2 are exact (as pow is: one rounding or none), 3, 4 and -2 round twice (within
/// 1.5 ulp, better than libmvec's 4) and keep pow's special values. Null for anything else.
llvm::Value *powByMultiplying(llvm::IRBuilderBase &b, llvm::Value *x, llvm::Value *y) {
  auto *constant = llvm::dyn_cast<llvm::Constant>(y);
  auto *splat =
      constant ? llvm::dyn_cast_or_null<llvm::ConstantFP>(constant->getSplatValue()) : nullptr;
  if (!splat)
    return nullptr;
  const llvm::APFloat &e = splat->getValueAPF();
  llvm::Constant *one = llvm::ConstantFP::get(x->getType(), 1.0);
  auto is = [&](double v) {
    llvm::APFloat w(v);
    bool lost = false;
    w.convert(e.getSemantics(), llvm::APFloat::rmNearestTiesToEven, &lost);
    return e.compare(w) == llvm::APFloat::cmpEqual;
  };
  if (is(0)) // pow(x, +-0) is 1 for every x, NaN included.
    return one;
  if (is(1))
    return x;
  if (is(-1))
    return b.CreateFDiv(one, x);
  if (is(2))
    return b.CreateFMul(x, x);
  if (is(-2))
    return b.CreateFDiv(one, b.CreateFMul(x, x));
  if (is(3))
    return b.CreateFMul(b.CreateFMul(x, x), x);
  if (is(4)) {
    llvm::Value *square = b.CreateFMul(x, x);
    return b.CreateFMul(square, square);
  }
  return nullptr;
}

/// Whether every lane of `x` is known to lie in [-1, 1] (or be NaN): it is the result of a
/// libmvec call whose function is bounded by 1 (sin, cos, tanh, erf), or lanes of such results
/// shuffled together with constants in [-1, 1] (the cuts of a vector wider than one call).
bool boundedByOne(llvm::Value *x, int depth = 0) {
  if (auto *constant = llvm::dyn_cast<llvm::Constant>(x)) {
    auto *vecTy = llvm::dyn_cast<llvm::FixedVectorType>(x->getType());
    for (unsigned i = 0; vecTy && i < vecTy->getNumElements(); ++i) {
      llvm::Constant *lane = constant->getAggregateElement(i);
      if (!lane || llvm::isa<llvm::UndefValue>(lane))
        continue;
      auto *fp = llvm::dyn_cast<llvm::ConstantFP>(lane);
      if (!fp || !(std::fabs(fp->getValueAPF().convertToFloat()) <= 1.0f))
        return false;
    }
    return vecTy != nullptr;
  }
  if (depth > 8)
    return false;
  if (auto *inst = llvm::dyn_cast<llvm::Instruction>(x); inst && inst->getMetadata(kBoundedByOne))
    return true; // An inline cos, tanh or erf (InlineMath.h).
  if (auto *shuffle = llvm::dyn_cast<llvm::ShuffleVectorInst>(x))
    return boundedByOne(shuffle->getOperand(0), depth + 1) &&
           boundedByOne(shuffle->getOperand(1), depth + 1);
  auto *call = llvm::dyn_cast<llvm::CallInst>(x);
  llvm::Function *callee = call ? call->getCalledFunction() : nullptr;
  if (!callee)
    return false;
  llvm::StringRef name = callee->getName();
  if (!name.starts_with("_ZGV"))
    return false;
  for (const char *bounded : {"_sinf", "_cosf", "_tanhf", "_erff"})
    if (name.ends_with(bounded))
      return true;
  return false;
}

/// f32 cos(y) for |y| <= 1, no argument reduction: 1 + u * (-1/2 + u * P(u)), u = y * y, with
/// P of degree 3 fitted (relative-error minimax) on [0, 1]; every step one fused multiply-add.
/// Exhaustively over the f32 values of [-1, 1] it is within 0.99 ulp of the exact cosine (a
/// little past 1, as where libmvec's own results land, the error grows smoothly); NaN gives NaN.
/// Six vector operations instead of libmvec's cosf with its range reduction (about 20).
llvm::Value *cosOnUnitInterval(llvm::IRBuilderBase &b, llvm::Value *y) {
  llvm::Type *ty = y->getType();
  auto c = [&](float v) { return llvm::ConstantFP::get(ty, static_cast<double>(v)); };
  auto fma = [&](llvm::Value *m, llvm::Value *n, llvm::Value *a) {
    return b.CreateIntrinsic(llvm::Intrinsic::fma, {ty}, {m, n, a});
  };
  llvm::Value *u = b.CreateFMul(y, y);
  llvm::Value *p = c(-2.698391199373873e-07f);
  p = fma(p, u, c(2.4795903300400823e-05f));
  p = fma(p, u, c(-0.0013888864777982235f));
  p = fma(p, u, c(0.0416666679084301f));
  p = fma(p, u, c(-0.5f));
  return fma(p, u, c(1.0f));
}

} // namespace

std::optional<MathFn> vectorMathFunction(ir::Intrinsic fn) {
  switch (fn) {
  case ir::Intrinsic::Exp:
    return MathFn::Exp;
  case ir::Intrinsic::Exp2:
    return MathFn::Exp2;
  case ir::Intrinsic::Log:
    return MathFn::Log;
  case ir::Intrinsic::Log2:
    return MathFn::Log2;
  case ir::Intrinsic::Sin:
    return MathFn::Sin;
  case ir::Intrinsic::Cos:
    return MathFn::Cos;
  case ir::Intrinsic::Tan:
    return MathFn::Tan;
  case ir::Intrinsic::Tanh:
    return MathFn::Tanh;
  case ir::Intrinsic::Erf:
    return MathFn::Erf;
  default:
    return std::nullopt;
  }
}

std::string libmName(MathFn fn, bool isDouble) {
  return std::string(baseName(fn)) + (isDouble ? "" : "f");
}

std::string libmvecName(MathFn fn, bool isDouble, char isa, int lanes) {
  std::string params = fn == MathFn::Pow ? "vv" : "v";
  return "_ZGV" + std::string(1, isa) + "N" + std::to_string(lanes) + params + "_" +
         libmName(fn, isDouble);
}

bool libmvecAvailable() {
  // Once per process, like LLVM's target registration; the library stays loaded.
  static const bool loaded = [] {
    std::string error;
    return !llvm::sys::DynamicLibrary::LoadLibraryPermanently("libmvec.so.1", &error);
  }();
  return loaded;
}

namespace {

/// One libmvec call of a vector: lanes [offset, offset + width), the last one padded.
struct Cut {
  int offset, width;
  std::string name;
};

/// The calls that compute `total` lanes, widest variants first; empty when a variant is missing.
std::vector<Cut> planCuts(const LlvmTargetInfo &target, MathFn fn, bool isDouble, int total) {
  int elemBits = isDouble ? 64 : 32;
  std::vector<Isa> isas = callableIsas(target);
  std::vector<Cut> cuts;
  for (int offset = 0; offset < total;) {
    int remaining = total - offset;
    Isa isa = isas.back(); // Narrowest, padded, when none fits.
    for (const Isa &candidate : isas)
      if (candidate.bits / elemBits <= remaining) {
        isa = candidate;
        break;
      }
    int width = isa.bits / elemBits;
    std::string name = libmvecName(fn, isDouble, isa.letter, width);
    if (!symbolExists(name))
      return {};
    cuts.push_back({offset, width, name});
    offset += std::min(width, remaining);
  }
  return cuts;
}

/// `fn(x)` (or `fn(x, y)`) through the libmvec calls of `cuts`.
llvm::Value *callLibmvec(llvm::IRBuilderBase &b, llvm::Module &module, const std::vector<Cut> &cuts,
                         llvm::Value *x, llvm::Value *y) {
  auto *vecTy = llvm::cast<llvm::FixedVectorType>(x->getType());
  llvm::Type *elem = vecTy->getElementType();
  int total = static_cast<int>(vecTy->getNumElements());
  llvm::Constant *zeros = llvm::Constant::getNullValue(vecTy);
  llvm::Value *result = llvm::PoisonValue::get(vecTy);
  for (const Cut &cut : cuts) {
    auto *cutTy = llvm::FixedVectorType::get(elem, static_cast<unsigned>(cut.width));
    std::vector<llvm::Type *> params(y ? 2 : 1, cutTy);
    llvm::FunctionCallee callee =
        module.getOrInsertFunction(cut.name, llvm::FunctionType::get(cutTy, params, false));
    if (auto *f = llvm::dyn_cast<llvm::Function>(callee.getCallee())) {
      f->setDoesNotAccessMemory();
      f->setDoesNotThrow();
      f->setWillReturn();
    }
    bool whole = cut.offset == 0 && cut.width == total;
    // Lanes [offset, offset + width) of an argument; lanes past the end read zeros.
    auto slice = [&](llvm::Value *v) -> llvm::Value * {
      if (whole)
        return v;
      std::vector<int> mask;
      for (int i = 0; i < cut.width; ++i)
        mask.push_back(std::min(cut.offset + i, total));
      return b.CreateShuffleVector(v, zeros, mask);
    };
    std::vector<llvm::Value *> args{slice(x)};
    if (y)
      args.push_back(slice(y));
    llvm::Value *part = b.CreateCall(callee, args);
    if (whole)
      return part;
    // Widen the part to `total` lanes, then take its live lanes into the result.
    std::vector<int> widen, blend;
    for (int i = 0; i < total; ++i)
      widen.push_back(i < cut.width ? i : -1);
    int live = std::min(cut.width, total - cut.offset);
    for (int i = 0; i < total; ++i)
      blend.push_back(i >= cut.offset && i < cut.offset + live ? total + (i - cut.offset) : i);
    llvm::Value *wide = cut.width == total ? part : b.CreateShuffleVector(part, widen);
    result = b.CreateShuffleVector(result, wide, blend);
  }
  return result;
}

} // namespace

bool inlineMathEnabled(const LlvmTargetInfo &target) {
  return hasFeature(target, "avx512f") && hasFeature(target, "fma") && target.vectorBits >= 512;
}

bool targetHasFma(const LlvmTargetInfo &target) { return hasFeature(target, "fma"); }

int integerPairDotBits(const LlvmTargetInfo &target) {
  if (hasFeature(target, "avx512bw") && target.vectorBits >= 512)
    return 512;
  return hasFeature(target, "avx2") && target.vectorBits >= 256 ? 256 : 0;
}

bool targetHasVnni(const LlvmTargetInfo &target) { return hasFeature(target, "avx512vnni"); }

llvm::Value *emitVectorMath(llvm::IRBuilderBase &b, llvm::Module &module,
                            const LlvmTargetInfo &target, MathFn fn, llvm::Value *x,
                            llvm::Value *y) {
  auto *vecTy = llvm::dyn_cast<llvm::FixedVectorType>(x->getType());
  if (!vecTy)
    return nullptr;
  llvm::Type *elem = vecTy->getElementType();
  if (!elem->isFloatTy() && !elem->isDoubleTy())
    return nullptr;
  TDSL_CHECK((fn == MathFn::Pow) == (y != nullptr)) << "pow takes two arguments, the rest one";
  if (fn == MathFn::Pow)
    if (llvm::Value *v = powByMultiplying(b, x, y))
      return v;
  if (llvm::Triple(module.getTargetTriple()).getArch() != llvm::Triple::x86_64 ||
      !libmvecAvailable())
    return nullptr;
  // cos of a value already in [-1, 1] (cos(cos(x)), cos(tanh(x))): a short polynomial with the
  // hardware's fused multiply-add (docs/numerics.md, "cos on [-1, 1]").
  if (fn == MathFn::Cos && elem->isFloatTy() && hasFeature(target, "fma") && boundedByOne(x))
    return cosOnUnitInterval(b, x);

  bool isDouble = elem->isDoubleTy();
  int total = static_cast<int>(vecTy->getNumElements());
  // Plan the cuts first, so that a missing variant means no call at all.
  std::vector<Cut> cuts = planCuts(target, fn, isDouble, total);
  if (cuts.empty())
    return nullptr;
  // f32 exp, cos, tanh, log and erf inline, with libmvec for the lanes outside their range
  // (InlineMath.h).
  bool inlined = fn == MathFn::Exp || fn == MathFn::Cos || fn == MathFn::Tanh ||
                 fn == MathFn::Log || fn == MathFn::Erf;
  if (inlined && !isDouble && inlineMathEnabled(target) && inlineMathFits(total)) {
    MathFallback fallback = [&](llvm::Value *v) {
      return callLibmvec(b, module, cuts, v, nullptr);
    };
    if (fn == MathFn::Exp)
      return emitInlineExp(b, x, fallback);
    if (fn == MathFn::Log)
      return emitInlineLog(b, x, fallback);
    llvm::Value *c = fn == MathFn::Cos    ? emitInlineCos(b, x, fallback)
                     : fn == MathFn::Tanh ? emitInlineTanh(b, x, fallback)
                                          : emitInlineErf(b, x, fallback);
    if (auto *inst = llvm::dyn_cast<llvm::Instruction>(c))
      inst->setMetadata(kBoundedByOne, llvm::MDNode::get(b.getContext(), {}));
    return c;
  }
  return callLibmvec(b, module, cuts, x, y);
}

} // namespace tdsl::codegen
