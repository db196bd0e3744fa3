#include "codegen/cuda/CudaSyntax.h"

#include "support/Check.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace tdsl::codegen {

std::string cType(DType t) {
  switch (t) {
  case DType::F16:
    return "tdsl_f16";
  case DType::BF16:
    return "tdsl_bf16";
  case DType::F32:
    return "float";
  case DType::F64:
    return "double";
  case DType::I32:
    return "int";
  case DType::I64:
    return "long long";
  case DType::I16:
    return "short";
  case DType::I8:
    return "signed char";
  case DType::U8:
    return "unsigned char";
  case DType::Bool:
    return "bool";
  }
  TDSL_UNREACHABLE("unknown dtype");
}

namespace {
bool sameBits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }
} // namespace

std::string floatLiteral(double value, bool isF32) {
  if (isF32) // An f32 immediate holds an f32 value; make sure of it.
    value = static_cast<double>(static_cast<float>(value));
  std::string text;
  char buf[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, value);
    double back =
        isF32 ? static_cast<double>(std::strtof(buf, nullptr)) : std::strtod(buf, nullptr);
    if (sameBits(back, value))
      break;
  }
  text = buf;
  if (text.find_first_of(".e") == std::string::npos)
    text += ".0";
  return isF32 ? text + "f" : text;
}

uint16_t floatToHalfBits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u)
    return static_cast<uint16_t>(sign | (ax > 0x7f800000u ? 0x7e00u : 0x7c00u));
  if (ax >= 0x477ff000u)
    return static_cast<uint16_t>(sign | 0x7c00u);
  if (ax >= 0x38800000u)
    return static_cast<uint16_t>(sign | ((ax - 0x38000000u + 0xfffu + ((ax >> 13) & 1u)) >> 13));
  int shift = 126 - static_cast<int>(ax >> 23);
  if (shift > 24)
    return static_cast<uint16_t>(sign);
  uint32_t m = (ax & 0x7fffffu) | 0x800000u;
  uint32_t q = m >> shift, rest = m & ((1u << shift) - 1u), half = 1u << (shift - 1);
  if (rest > half || (rest == half && (q & 1u)))
    q += 1u;
  return static_cast<uint16_t>(sign | q);
}

uint16_t floatToBf16Bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u)
    return static_cast<uint16_t>((x >> 16) | 0x40u);
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

const std::set<std::string> &reservedNames() {
  static const std::set<std::string> names = {
      // C++ keywords and alternative tokens.
      "alignas", "alignof", "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break",
      "case", "catch", "char", "char8_t", "char16_t", "char32_t", "class", "compl", "concept",
      "const", "consteval", "constexpr", "constinit", "const_cast", "continue", "co_await",
      "co_return", "co_yield", "decltype", "default", "delete", "do", "double", "dynamic_cast",
      "else", "enum", "explicit", "export", "extern", "false", "float", "for", "friend", "goto",
      "if", "inline", "int", "long", "mutable", "namespace", "new", "noexcept", "not", "not_eq",
      "nullptr", "operator", "or", "or_eq", "private", "protected", "public", "register",
      "reinterpret_cast", "requires", "return", "short", "signed", "sizeof", "static",
      "static_assert", "static_cast", "struct", "switch", "template", "this", "thread_local",
      "throw", "true", "try", "typedef", "typeid", "typename", "union", "unsigned", "using",
      "virtual", "void", "volatile", "wchar_t", "while", "xor", "xor_eq", "restrict", "main",
      // CUDA built-in variables and names the emitted code calls.
      "blockIdx", "threadIdx", "blockDim", "gridDim", "warpSize", "exp", "expf", "exp2", "exp2f",
      "log", "logf", "log2", "log2f", "sqrt", "sqrtf", "sin", "sinf", "cos", "cosf", "tan", "tanf",
      "tanh", "tanhf", "floor", "floorf", "ceil", "ceilf", "rint", "rintf", "erf", "erff", "fabs",
      "fabsf", "fmod", "fmodf", "pow", "powf", "min", "max", "printf", "assert",
      // Object-like macros NVRTC's built-in headers may define.
      "NULL", "INFINITY", "NAN", "HUGE_VAL", "HUGE_VALF", "FLT_MAX", "DBL_MAX", "INT_MAX",
      "INT_MIN", "LLONG_MAX", "LLONG_MIN", "CHAR_BIT", "EOF"};
  return names;
}

std::string paren(const CExpr &e, int minPrec) {
  return e.prec >= minPrec ? e.text : "(" + e.text + ")";
}

CExpr infix(const std::string &op, int prec, const CExpr &a, const CExpr &b) {
  // Left-associative: the right operand of the same precedence needs parentheses.
  return {paren(a, prec) + " " + op + " " + paren(b, prec + 1), prec};
}

CExpr call(const std::string &fn, const std::vector<CExpr> &args) {
  std::string text = fn + "(";
  for (size_t i = 0; i < args.size(); ++i)
    text += (i ? ", " : "") + args[i].text;
  return {text + ")", PrecAtom};
}

CExpr prefix(const std::string &op, const CExpr &a) {
  std::string operand = paren(a, PrecUnary);
  if (!operand.empty() && operand[0] == op[0]) // `- -x` reads badly; `--x` is wrong.
    operand = "(" + operand + ")";
  return {op + operand, PrecUnary};
}

CExpr cCast(DType to, const CExpr &a) {
  return {"(" + cType(to) + ")" + paren(a, PrecUnary), PrecUnary};
}

CExpr intLiteral(int64_t v, DType t) {
  switch (t) {
  case DType::Bool:
    return {v ? "true" : "false", PrecAtom};
  case DType::I32:
    if (v == INT32_MIN)
      return {"(-2147483647 - 1)", PrecAtom};
    return {std::to_string(v), v < 0 ? PrecUnary : PrecAtom};
  case DType::U8:
  case DType::I8:
  case DType::I16:
    return {"(" + cType(t) + ")" + (v < 0 ? "(" + std::to_string(v) + ")" : std::to_string(v)),
            PrecUnary};
  default:
    if (v == INT64_MIN)
      return {"(-9223372036854775807LL - 1)", PrecAtom};
    return {std::to_string(v) + "LL", v < 0 ? PrecUnary : PrecAtom};
  }
}

CExpr floatLiteralExpr(double v, DType t) {
  if (t == DType::F16 || t == DType::BF16) {
    float f = static_cast<float>(v);
    uint16_t bits = t == DType::F16 ? floatToHalfBits(f) : floatToBf16Bits(f);
    char buf[64];
    std::snprintf(buf, sizeof buf, "(%s)0x%04x /* %s */", cType(t).c_str(), bits,
                  floatLiteral(v, true).c_str());
    return {buf, PrecUnary};
  }
  bool f32 = t == DType::F32;
  if (std::isnan(v))
    return {f32 ? "__int_as_float(0x7fc00000)" : "__longlong_as_double(0x7ff8000000000000LL)",
            PrecAtom};
  if (std::isinf(v)) {
    std::string inf =
        f32 ? "__int_as_float(0x7f800000)" : "__longlong_as_double(0x7ff0000000000000LL)";
    return v < 0 ? CExpr{"-" + inf, PrecUnary} : CExpr{inf, PrecAtom};
  }
  std::string text = floatLiteral(v, f32);
  return {text, text[0] == '-' ? PrecUnary : PrecAtom};
}

CExpr zeroOf(DType t) { return isFloat(t) ? floatLiteralExpr(0.0, t) : intLiteral(0, t); }

} // namespace tdsl::codegen
