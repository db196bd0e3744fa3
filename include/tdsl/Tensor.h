// Dense row-major tensors on the host: owned (64-byte aligned) or views over caller memory.
#pragma once

#include "tdsl/DType.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tdsl {

class Tensor {
public:
  Tensor() = default;

  /// Owned storage, zero-filled.
  static Tensor zeros(std::vector<int64_t> shape, DType dtype);
  /// Seeded random data: floats ~ N(0, 1); i32 and i64 uniform in [-8, 8], u8 i8 i16 over
  /// their whole range; bool fair coin.
  static Tensor randn(std::vector<int64_t> shape, DType dtype, uint64_t seed);
  /// A 0-d tensor holding `value` converted to `dtype`.
  static Tensor scalar(double value, DType dtype);
  /// A view over caller memory; the caller keeps it alive and correctly sized.
  static Tensor view(void *data, std::vector<int64_t> shape, DType dtype);

  bool defined() const { return data_ != nullptr || numel() == 0; }
  DType dtype() const { return dtype_; }
  const std::vector<int64_t> &shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * byteSize(dtype_); }
  void *data() const { return data_; }
  template <typename T> T *data() const { return static_cast<T *>(data_); }
  bool ownsData() const { return storage_ != nullptr; }

  /// Element `flatIndex` converted to double (f16/bf16 decoded, bool 0/1).
  double at(int64_t flatIndex) const;
  /// Stores `value` converted to the dtype (rounded to nearest even; ints truncate and saturate).
  void set(int64_t flatIndex, double value);
  /// Exact integer read for i32/i64/bool tensors (doubles lose precision above 2^53).
  int64_t atInt(int64_t flatIndex) const;
  void setInt(int64_t flatIndex, int64_t value);

  /// "f32[4, 8]"
  std::string typeString() const;

private:
  std::shared_ptr<void> storage_;
  void *data_ = nullptr;
  std::vector<int64_t> shape_;
  DType dtype_ = DType::F32;
};

/// f16 / bf16 conversions with round-to-nearest-even (NaN stays NaN).
uint16_t floatToHalf(float value);
float halfToFloat(uint16_t bits);
uint16_t floatToBFloat16(float value);
float bfloat16ToFloat(uint16_t bits);

/// Reads a NumPy .npy file (format 1.0-3.0; either byte order; C or Fortran order, returned in C
/// order) of dtype f16, f32, f64, i32, i64 or bool. NumPy has no bf16, so bf16 tensors are
/// written as f32 and never read back as bf16: converting is the caller's job. Malformed,
/// truncated or unsupported files throw tdsl::RuntimeError naming the file and the problem.
Tensor readNpy(const std::string &path);
/// Writes a .npy file whole or not at all (a temporary file renamed into place); bf16 as f32.
void writeNpy(const std::string &path, const Tensor &tensor);

} // namespace tdsl
