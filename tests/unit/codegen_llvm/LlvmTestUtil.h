// Helpers for the LLVM backend's tests: hand-built loop IR, guarded memory, reference semantics.
#pragma once

#include "codegen/llvm/LlvmBackend.h"
#include "codegen/llvm/LlvmOptions.h"
#include "ir/Kernel.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <sys/mman.h>
#include <type_traits>
#include <unistd.h>
#include <vector>

namespace tdsl::test {

using namespace tdsl::ir;

inline Var symbolVar(const std::string &name) {
  return makeVar(name, Type::i64(), VarKind::Symbol);
}
inline Var loopVar(const std::string &name) { return makeVar(name, Type::i64(), VarKind::Loop); }
inline Expr i64(int64_t v) { return intImm(v, DType::I64); }
inline Expr bin(BinaryOp op, Expr a, Expr b) {
  return Binary::make(op, std::move(a), std::move(b));
}

/// Code for the x86-64 baseline (SSE2, no F16C): what a host without AVX gets. It runs here too.
inline codegen::LlvmCodeGenOptions baselineX86() {
  codegen::LlvmCodeGenOptions options;
  options.cpu = "x86-64";
  options.features = "";
  return options;
}

/// Code for x86-64-v4 (AVX-512); the features come with the CPU name.
inline codegen::LlvmCodeGenOptions x86V4() {
  codegen::LlvmCodeGenOptions options;
  options.cpu = "x86-64-v4";
  options.features = "";
  return options;
}

/// How many times `needle` occurs in `text` (overlaps counted).
inline size_t occurrences(const std::string &text, const std::string &needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++n;
  return n;
}

inline void runKernel(const codegen::CompiledCpuKernel &kernel, std::vector<void *> buffers,
                      std::vector<int64_t> symbols = {}) {
  kernel.entry()(buffers.data(), symbols.data(), nullptr);
}

/// `count` elements ending exactly at a PROT_NONE page: touching one element past the end faults.
class GuardedBuffer {
public:
  GuardedBuffer(size_t bytes) {
    page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    pages = (bytes + page - 1) / page + 1;
    base = static_cast<char *>(
        mmap(nullptr, pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    mprotect(base + (pages - 1) * page, page, PROT_NONE);
    ptr = base + (pages - 1) * page - bytes;
  }
  ~GuardedBuffer() { munmap(base, pages * page); }
  GuardedBuffer(const GuardedBuffer &) = delete;
  GuardedBuffer &operator=(const GuardedBuffer &) = delete;
  template <typename T> T *as() { return reinterpret_cast<T *>(ptr); }

private:
  size_t page = 0, pages = 0;
  char *base = nullptr;
  char *ptr = nullptr;
};

/// A kernel over flat [N] buffers: for each output, out[i] = value(loads of the inputs at i).
/// With lanes > 1, i steps over N / lanes vectors with stride-1 ramps (N must be a multiple).
struct ElementwiseOutput {
  Buffer buffer;
  std::function<Expr(const std::vector<Expr> &)> value;
};
inline LoweredFunc elementwiseKernel(const std::string &name, const std::vector<Buffer> &inputs,
                                     const std::vector<ElementwiseOutput> &outputs, int lanes,
                                     const Var &n) {
  Var i = loopVar("i");
  Expr index = ir::ref(i);
  Expr extent = ir::ref(n);
  if (lanes > 1) {
    index = Ramp::make(mul(ir::ref(i), i64(lanes)), i64(1), lanes);
    extent = bin(BinaryOp::FloorDiv, ir::ref(n), i64(lanes));
  }
  std::vector<Expr> loads;
  for (const Buffer &in : inputs)
    loads.push_back(Load::make(in, index));
  std::vector<Stmt> stores;
  for (const ElementwiseOutput &out : outputs)
    stores.push_back(Store::make(out.buffer, index, out.value(loads)));
  LoweredFunc f;
  f.name = name;
  f.params = inputs;
  for (const ElementwiseOutput &out : outputs)
    f.params.push_back(out.buffer);
  f.symbols = {n};
  f.body = For::make(i, extent, ForKind::Serial, Block::make(stores));
  return f;
}

// ---- Reference semantics (the shared rules every backend follows).

template <typename T> T wrap(std::make_unsigned_t<T> v) { return static_cast<T>(v); }
template <typename T> T refAdd(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return wrap<T>(U(a) + U(b));
}
template <typename T> T refSub(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return wrap<T>(U(a) - U(b));
}
template <typename T> T refMul(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return wrap<T>(U(a) * U(b));
}
template <typename T> T refFloorDiv(T a, T b) {
  if (b == 0)
    return 0;
  if (b == -1)
    return refSub<T>(0, a);
  T q = a / b, r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? q - 1 : q;
}
template <typename T> T refMod(T a, T b) {
  if (b == 0 || b == -1)
    return 0;
  T r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
template <typename T> T refIntPow(T base, T e) {
  if (e < 0)
    return base == 1 ? 1 : base == -1 ? ((e & 1) ? -1 : 1) : 0;
  T result = 1;
  for (auto u = static_cast<std::make_unsigned_t<T>>(e); u; u >>= 1) {
    if (u & 1)
      result = refMul(result, base);
    base = refMul(base, base);
  }
  return result;
}
template <typename T> T refFloatMod(T a, T b) {
  T r = std::fmod(a, b);
  if (r != 0 && ((r < 0) != (b < 0)))
    r += b;
  return r;
}
/// IEEE 754-2019 maximum / minimum: NaN propagates, -0 < +0.
template <typename T> T refMaximum(T a, T b) {
  if (std::isnan(a) || std::isnan(b))
    return std::numeric_limits<T>::quiet_NaN();
  if (a == b)
    return std::signbit(a) ? b : a;
  return a > b ? a : b;
}
template <typename T> T refMinimum(T a, T b) {
  if (std::isnan(a) || std::isnan(b))
    return std::numeric_limits<T>::quiet_NaN();
  if (a == b)
    return std::signbit(a) ? a : b;
  return a < b ? a : b;
}
/// Float -> int: truncate toward zero, saturate, NaN -> 0.
template <typename I> I refSaturate(double x) {
  if (std::isnan(x))
    return 0;
  if (x >= std::ldexp(1.0, std::numeric_limits<I>::digits))
    return std::numeric_limits<I>::max();
  if (std::trunc(x) <= double(std::numeric_limits<I>::min())) // 0 for unsigned types.
    return std::numeric_limits<I>::min();
  return static_cast<I>(std::trunc(x));
}

/// Correct rounding (nearest even) of a double to a binary format with `expBits` exponent and
/// `mantBits` stored mantissa bits, as bits; NaN becomes the quiet NaN with the sign kept.
inline uint16_t refNarrow(double x, int expBits, int mantBits) {
  uint16_t sign = std::signbit(x) ? uint16_t(1u << (expBits + mantBits)) : 0;
  uint16_t expMask = uint16_t(((1u << expBits) - 1) << mantBits);
  if (std::isnan(x))
    return sign | expMask | uint16_t(1u << (mantBits - 1));
  double a = std::fabs(x);
  int bias = (1 << (expBits - 1)) - 1;
  double overflow = std::ldexp(2.0 - std::ldexp(1.0, -(mantBits + 1)), bias);
  if (a >= overflow)
    return sign | expMask;
  int minExp = 1 - bias;
  if (a < std::ldexp(1.0, minExp)) // Subnormal (or rounds up to the smallest normal).
    return sign | uint16_t(std::nearbyint(std::ldexp(a, mantBits - minExp)));
  int e;
  std::frexp(a, &e);
  e -= 1; // a in [2^e, 2^(e+1))
  double m = std::nearbyint(std::ldexp(a, mantBits - e));
  if (m == std::ldexp(1.0, mantBits + 1)) {
    m /= 2;
    e += 1;
  }
  return sign | uint16_t((e + bias) << mantBits) | uint16_t(m - std::ldexp(1.0, mantBits));
}
inline uint16_t refToHalf(double x) { return refNarrow(x, 5, 10); }
inline uint16_t refToBFloat16(double x) { return refNarrow(x, 8, 7); }

inline double refDecode(uint16_t bits, int expBits, int mantBits) {
  bool negative = bits >> (expBits + mantBits);
  int e = (bits >> mantBits) & ((1 << expBits) - 1);
  int m = bits & ((1 << mantBits) - 1);
  int bias = (1 << (expBits - 1)) - 1;
  double v;
  if (e == (1 << expBits) - 1)
    v = m ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  else if (e == 0)
    v = std::ldexp(m, 1 - bias - mantBits);
  else
    v = std::ldexp(m + (1 << mantBits), e - bias - mantBits);
  return negative ? -v : v;
}
inline double refFromHalf(uint16_t bits) { return refDecode(bits, 5, 10); }
inline double refFromBFloat16(uint16_t bits) { return refDecode(bits, 8, 7); }

/// Equal values, or both NaN; zeros compare by sign too.
template <typename T> bool sameValue(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a) || std::isnan(b))
      return std::isnan(a) && std::isnan(b);
    return a == b && std::signbit(a) == std::signbit(b);
  } else {
    return a == b;
  }
}

} // namespace tdsl::test
