// The stable text forms of both IR levels, printed by `tdsl emit --stage=tensor|loops` and
// checked by golden tests.
#pragma once

#include "ir/Kernel.h"

#include <string>

namespace tdsl::ir {

std::string toString(const Expr &e);
std::string toString(const Stmt &s, int indent = 0);
std::string toString(const Kernel &k);
std::string toString(const LoweredFunc &f);
std::string_view opName(BinaryOp op);
std::string_view opName(UnaryOp op);
std::string_view intrinsicName(Intrinsic fn);
std::string_view reduceName(ReduceOp op);
std::string_view forKindName(ForKind kind);
std::string_view gpuOpName(GpuOp op);
/// "vector", "rows", ...: a GPU schedule as printed and explained.
std::string_view scheduleName(GpuScheduleKind kind);

} // namespace tdsl::ir
