// The C syntax the CUDA printer builds from: operator precedence, types, literals that read back
// exactly, and the names the printed code must not take.
#pragma once

#include "tdsl/DType.h"

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace tdsl::codegen {

// C operator precedence, higher binds tighter.
enum Prec : int {
  PrecTernary = 3,
  PrecOr = 4,
  PrecAnd = 5,
  PrecEq = 9,
  PrecRel = 10,
  PrecAdd = 12,
  PrecMul = 13,
  PrecUnary = 15,
  PrecAtom = 16,
};

/// An emitted C expression and the precedence of its outermost operator.
struct CExpr {
  std::string text;
  int prec = PrecAtom;
};

/// The C type of a tdsl dtype's elements (f16/bf16 are the prelude's 16-bit storage types).
std::string cType(DType t);

/// The shortest decimal spelling that reads back as exactly `value` in its type.
std::string floatLiteral(double value, bool isF32);

/// Host versions of the prelude's rounding, for f16/bf16 constants.
uint16_t floatToHalfBits(float f);
uint16_t floatToBf16Bits(float f);

/// `e`, parenthesized when its operator binds less tightly than `minPrec`.
std::string paren(const CExpr &e, int minPrec);
/// `a op b` for a left-associative operator of precedence `prec`.
CExpr infix(const std::string &op, int prec, const CExpr &a, const CExpr &b);
/// `fn(args...)`.
CExpr call(const std::string &fn, const std::vector<CExpr> &args);
/// `op a` (`-x`, `!x`), never `--x`.
CExpr prefix(const std::string &op, const CExpr &a);
/// `(T)a`: C's conversion to dtype `to`.
CExpr cCast(DType to, const CExpr &a);
/// The integer `v` as a literal of dtype `t` (bool, or an integer type).
CExpr intLiteral(int64_t v, DType t);
/// The float `v` as a literal of dtype `t`: exact, NaN and infinities as bit patterns, f16 and
/// bf16 as their bits with the value in a comment.
CExpr floatLiteralExpr(double v, DType t);
/// Zero of dtype `t`.
CExpr zeroOf(DType t);

/// C++ keywords, CUDA built-ins and the prelude's macros: never a variable's name.
const std::set<std::string> &reservedNames();

} // namespace tdsl::codegen
