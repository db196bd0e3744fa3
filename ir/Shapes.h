// Binding shape symbols at call time and evaluating shapes from them.
#pragma once

#include "ir/Kernel.h"

#include <cstdint>
#include <string>
#include <vector>

namespace tdsl::ir {

/// Values of `kernel.symbols` read from the input shapes. Throws tdsl::RuntimeError naming the
/// parameter(s) on a rank mismatch, a literal dim mismatch, two inputs that disagree on a symbol
/// (naming both), an output dim that comes out negative, or a shape expression (an output dim,
/// or one of nonlinearExtents) that overflows i64: the bounds proofs assume exact integers.
std::vector<int64_t> bindSymbols(const Kernel &kernel,
                                 const std::vector<std::vector<int64_t>> &inputShapes);

/// The extents of the kernel's definitions and reductions that are not linear in the symbols
/// (`H * W`, `H // 2`), which only bindSymbols checks.
std::vector<Expr> nonlinearExtents(const Kernel &kernel);

/// An i64 expression over shape symbols (and other variables given in `vars`), evaluated.
int64_t evalInt(const Expr &e, const std::vector<Var> &vars, const std::vector<int64_t> &values);

/// The type of `buffer` as the source writes it: "f32[N, D]".
std::string typeString(const Buffer &buffer);

/// The concrete shape of `buffer` for these symbol values.
std::vector<int64_t> evalShape(const Buffer &buffer, const std::vector<Var> &symbols,
                               const std::vector<int64_t> &values);

} // namespace tdsl::ir
