// Tensors on the host: owned (dense, row-major, 64-byte aligned) or views over caller memory
// with any strides, writable or read-only.
#pragma once

#include "tdsl/DType.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
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
  /// A view over caller memory; the caller keeps it alive and correctly sized. `strides` are in
  /// elements, one per dim (empty: row-major); `data` is the address of the first element (index
  /// 0 in every dim), so a negative stride reaches below it. Zero strides (a broadcast) and
  /// negative ones (a reversed view) are fine for inputs; an output's elements must be distinct
  /// (Kernel::run checks). Throws RuntimeError for a rank mismatch or null data.
  static Tensor view(void *data, std::vector<int64_t> shape, DType dtype,
                     std::vector<int64_t> strides = {});
  /// A read-only view: a kernel reads it, and passing it as an output (or `set` on it) throws.
  static Tensor view(const void *data, std::vector<int64_t> shape, DType dtype,
                     std::vector<int64_t> strides = {});
  /// A view over no memory (valid for empty shapes); a null pointer picks neither overload above.
  static Tensor view(std::nullptr_t, std::vector<int64_t> shape, DType dtype,
                     std::vector<int64_t> strides = {}) {
    return view(static_cast<void *>(nullptr), std::move(shape), dtype, std::move(strides));
  }
  /// This view, also holding `owner` until the last tensor sharing it is gone: for memory that
  /// another library owns (a DLPack capsule, a Python array), released exactly once.
  Tensor withOwner(std::shared_ptr<void> owner) const;

  bool defined() const { return data_ != nullptr || numel() == 0; }
  DType dtype() const { return dtype_; }
  const std::vector<int64_t> &shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const;
  /// The bytes of its elements (numel times the element size), whatever the strides.
  size_t nbytes() const { return static_cast<size_t>(numel()) * byteSize(dtype_); }
  /// The first element's address (see view); a dense tensor's elements follow it in order.
  void *data() const { return data_; }
  template <typename T> T *data() const { return static_cast<T *>(data_); }
  /// Whether the tensor owns (or shares ownership of, see withOwner) its memory.
  bool ownsData() const { return storage_.use_count() > 0; }
  /// Strides in elements, one per dim (row-major ones for a contiguous tensor).
  std::vector<int64_t> strides() const;
  /// Whether the elements lie in row-major order without gaps (dims of extent 1 may have any
  /// stride; an empty tensor is contiguous): what compiled code reads and writes in place.
  bool isContiguous() const { return strides_.empty(); }
  bool readOnly() const { return readOnly_; }
  /// The tensor itself when contiguous, else a dense owned copy of its elements.
  Tensor contiguous() const;
  /// Copies `source`'s elements (same shape and dtype, any strides) into this tensor.
  void copyFrom(const Tensor &source) const;
  /// The lowest and one past the highest byte its elements occupy ({data, data} when empty).
  std::pair<const char *, const char *> byteRange() const;

  /// Element `flatIndex` (its position in row-major order, whatever the strides) converted to
  /// double (f16/bf16 decoded, bool 0/1).
  double at(int64_t flatIndex) const;
  /// Stores `value` converted to the dtype (rounded to nearest even; ints truncate and saturate).
  void set(int64_t flatIndex, double value);
  /// Exact integer read for i32/i64/bool tensors (doubles lose precision above 2^53).
  int64_t atInt(int64_t flatIndex) const;
  void setInt(int64_t flatIndex, int64_t value);

  /// "f32[4, 8]"
  std::string typeString() const;

private:
  /// The byte offset of element `flatIndex` from data_ (in range: checked by the callers).
  int64_t byteOffset(int64_t flatIndex) const;

  std::shared_ptr<void> storage_;
  void *data_ = nullptr;
  std::vector<int64_t> shape_;
  std::vector<int64_t> strides_; // Empty when contiguous.
  DType dtype_ = DType::F32;
  bool readOnly_ = false;
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
