// Element types of tensors, shared by the compiler and the runtime. f16 and bf16 are storage
// types: arithmetic on them happens in f32.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace tdsl {

enum class DType : uint8_t { F16, BF16, F32, F64, I32, I64, Bool };

constexpr bool isFloat(DType t) {
  return t == DType::F16 || t == DType::BF16 || t == DType::F32 || t == DType::F64;
}
constexpr bool isInt(DType t) { return t == DType::I32 || t == DType::I64; }

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
    return 1;
  }
  return 0;
}

/// The spelling used in the language: "f32", "bool", ...
std::string_view dtypeName(DType t);
std::optional<DType> parseDType(std::string_view name);

/// The type arithmetic on `t` happens in: f32 for the storage types f16 and bf16, else `t`.
constexpr DType computeType(DType t) {
  return (t == DType::F16 || t == DType::BF16) ? DType::F32 : t;
}

} // namespace tdsl
