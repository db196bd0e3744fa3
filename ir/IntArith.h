// Python's integer floor division and modulo on i64, as every part of tdsl computes them: the
// interpreter, shape evaluation and constant folding share this one definition.
#pragma once

#include <cstdint>

namespace tdsl::ir {

/// a // b, flooring; x // 0 == 0, and MIN // -1 wraps to MIN (no trap).
inline int64_t floorDiv(int64_t a, int64_t b) {
  if (b == 0)
    return 0;
  if (b == -1)
    return static_cast<int64_t>(0 - static_cast<uint64_t>(a));
  int64_t q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0)))
    --q;
  return q;
}

/// a % b with the sign of the divisor; x % 0 == 0.
inline int64_t floorMod(int64_t a, int64_t b) {
  if (b == 0 || b == -1)
    return 0;
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0)))
    r += b;
  return r;
}

} // namespace tdsl::ir
