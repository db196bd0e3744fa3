// Vector math for the CPU backend: exp, log, sin, tanh, erf, pow... on whole vectors through
// glibc's libmvec (the `_ZGV<isa>N<lanes>v_<name>` functions of the x86-64 vector ABI) rather
// than one libm call per lane. Internal to codegen/llvm: it exposes LLVM types.
#pragma once

#include "codegen/llvm/CodeGenLlvm.h"
#include "ir/IR.h"

#include <optional>
#include <string>

namespace llvm {
class IRBuilderBase;
class Module;
class Value;
} // namespace llvm

namespace tdsl::codegen {

/// The functions libmvec provides that the language uses (Pow takes two arguments).
enum class MathFn : uint8_t { Exp, Exp2, Log, Log2, Sin, Cos, Tan, Tanh, Erf, Pow };

/// The libmvec function for `fn` of one argument, if it has one.
std::optional<MathFn> vectorMathFunction(ir::Intrinsic fn);

/// libm's name of `fn` ("expf", "exp", ...).
std::string libmName(MathFn fn, bool isDouble);

/// The vector-ABI name of a libmvec variant: `isa` is 'b' (SSE, 128 bits), 'd' (AVX2, 256) or
/// 'e' (AVX-512, 512), e.g. `_ZGVeN16v_expf`.
std::string libmvecName(MathFn fn, bool isDouble, char isa, int lanes);

/// Loads libmvec into the process once (so the JIT resolves its symbols) and says whether it is
/// there. Thread-safe.
bool libmvecAvailable();

/// Whether f32 exp, cos, tanh, log and erf of whole 512-bit vectors are computed inline
/// (InlineMath.h) rather than by libmvec: AVX-512F with FMA, and 512-bit vectors preferred.
bool inlineMathEnabled(const LlvmTargetInfo &target);

/// Whether `target` has FMA instructions (a tiled contraction's multiply-adds are fused there).
bool targetHasFma(const LlvmTargetInfo &target);

/// The width in bits of `target`'s multiply-add of 16-bit integer pairs into 32-bit lanes
/// (vpmaddwd: 512 with AVX-512BW, 256 with AVX2), or 0 where it has none.
int integerPairDotBits(const LlvmTargetInfo &target);

/// Whether `target` has AVX-512 VNNI: the pairs' multiply-add and the accumulation in one
/// instruction (vpdpwssd).
bool targetHasVnni(const LlvmTargetInfo &target);

/// `fn(x)` (or `fn(x, y)` for Pow) on a vector of f32 or f64 through libmvec: split into the
/// widest variants `target` supports, the last one padded. Null when no variant applies (a
/// scalar, another element type, a target other than x86-64, libmvec missing): the caller falls
/// back to libm per lane. The declarations are marked pure: libmvec never sets errno. A pow
/// whose exponent is a constant small integer (0, +-1, +-2, 3, 4) multiplies instead. f32 exp,
/// cos, tanh, log and erf of 16k lanes are inline where `inlineMathEnabled` (with a libmvec call
/// for lanes out of their range), which may add basic blocks: the builder ends in a new block.
llvm::Value *emitVectorMath(llvm::IRBuilderBase &b, llvm::Module &module,
                            const LlvmTargetInfo &target, MathFn fn, llvm::Value *x,
                            llvm::Value *y = nullptr);

} // namespace tdsl::codegen
