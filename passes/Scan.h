// scan: recognizes prefix reductions, the triangular reductions that a running accumulator
// computes in O(length) instead of O(length^2).
//
//   y[i, j] = sum(f(i, k) for k < j + c)        (f does not use j; c is free of index variables)
//      =>   acc = sum(f(i, k) for k < c - 1)
//           for j: acc += f(i, j + c - 1) where j + c - 1 >= 0;  y[i, j] = acc
//
// The value is unchanged (the tensor IR keeps the Reduce, which the interpreter and every other
// pass read as written); the schedule records the recognized scan and the loop nest builders
// lower it as above. Requires: a normalized definition. Keeps: everything (an analysis).
#pragma once

#include "ir/Kernel.h"

#include <optional>

namespace tdsl::passes {

/// A prefix reduction `R(f(k) for k < j + offset)`: the definition's index `index` is j.
struct ScanAxis {
  size_t index = 0;
  ir::Expr offset; // i64 over the symbols: the reduction's extent less j.
};

/// The scan a definition is, or nullopt: its value is one sum, prod, mean, max or min over one
/// axis k whose extent is `j + offset` for one of its indices j, and whose body does not use j.
std::optional<ScanAxis> recognizeScan(const ir::Definition &def);

/// Whether a reduction in the definition's value has an extent that depends on index variables
/// (a triangular reduction; every scan is one).
bool isTriangular(const ir::Definition &def);

} // namespace tdsl::passes
