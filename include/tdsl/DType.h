// Element types of tensors, shared by the compiler and the runtime. f16 and bf16 are storage
// types: arithmetic on them happens in f32. Integers wrap (two's complement); u8 is the one
// unsigned type.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace tdsl {

enum class DType : uint8_t { F16, BF16, F32, F64, I32, I64, Bool, U8, I8, I16 };

constexpr bool isFloat(DType t) {
  return t == DType::F16 || t == DType::BF16 || t == DType::F32 || t == DType::F64;
}
constexpr bool isInt(DType t) {
  return t == DType::I32 || t == DType::I64 || t == DType::U8 || t == DType::I8 || t == DType::I16;
}

/// Bytes one element occupies in memory (bool is one byte, 0 or 1).
constexpr int byteSize(DType t) {
  switch (t) {
  case DType::F16:
  case DType::BF16:
    return 2;
  case DType::F32:
  case DType::I32:
    return 4;
  case DType::F64:
  case DType::I64:
    return 8;
  case DType::Bool:
  case DType::U8:
  case DType::I8:
    return 1;
  case DType::I16:
    return 2;
  }
  return 0;
}

/// The largest and smallest value of integer dtype `t`.
constexpr int64_t intMax(DType t) {
  return t == DType::U8 ? 255 : int64_t((uint64_t(1) << (8 * byteSize(t) - 1)) - 1);
}
constexpr int64_t intMin(DType t) { return t == DType::U8 ? 0 : -intMax(t) - 1; }

/// The low bits of `bits` as a value of integer dtype `t` (sign- or zero-extended): how every
/// integer operation wraps. Bool keeps only whether `bits` is non-zero.
constexpr int64_t wrapInt(DType t, uint64_t bits) {
  switch (t) {
  case DType::Bool:
    return bits != 0;
  case DType::U8:
    return uint8_t(bits);
  case DType::I8:
    return int8_t(uint8_t(bits));
  case DType::I16:
    return int16_t(uint16_t(bits));
  case DType::I32:
    return int32_t(uint32_t(bits));
  default:
    return int64_t(bits);
  }
}

/// The spelling used in the language: "f32", "bool", ...
std::string_view dtypeName(DType t);
std::optional<DType> parseDType(std::string_view name);

/// The type arithmetic on `t` happens in: f32 for the storage types f16 and bf16, else `t`.
constexpr DType computeType(DType t) {
  return (t == DType::F16 || t == DType::BF16) ? DType::F32 : t;
}

} // namespace tdsl
