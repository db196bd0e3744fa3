// The abstract syntax tree of a .tdsl file, exactly as written (no types, no desugaring). Every
// node carries its source span so sema can point at it.
#pragma once

#include "tdsl/DType.h"
#include "tdsl/Diagnostics.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tdsl::ast {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class BinaryOp : uint8_t {
  Or, And,
  Eq, Ne, Lt, Le, Gt, Ge,
  Add, Sub,
  Mul, Div, FloorDiv, Mod, MatMul,
  Pow,
};
enum class UnaryOp : uint8_t { Not, Neg };
enum class ReduceKind : uint8_t { Sum, Prod, Max, Min, Mean, ArgMax, ArgMin };

/// A fresh index variable: `i`, or `i < EXTENT` with an explicit extent, or (reduction
/// variables only) `i <= LAST`, whose extent is LAST + 1.
struct IndexDecl {
  std::string name;
  SourceSpan span;        // The name.
  ExprPtr extent;         // Null when not given.
  bool inclusive = false; // Written `<=`: `extent` is the last value, not the bound.
};

struct Expr {
  enum class Kind : uint8_t {
    IntLit,   // intValue (the literal's text is in span)
    FloatLit, // floatValue
    BoolLit,  // boolValue
    Inf,      // the keyword `inf`
    Name,     // name: a tensor, index variable, shape symbol or scalar
    Access,   // name[args...]
    Call,     // name(args...): built-in function, cast, or an earlier kernel
    Reduce,   // reduce(body for vars): reduceKind, body = args[0], vars
    Unary,    // unaryOp args[0]
    Binary,   // args[0] binaryOp args[1]
    Default,  // args[0] ?? args[1] (args[0] is an Access)
  };
  Kind kind;
  SourceSpan span;
  int64_t intValue = 0;
  double floatValue = 0;
  bool boolValue = false;
  std::string name;
  SourceSpan nameSpan; // Access, Call: where the name is.
  BinaryOp binaryOp = BinaryOp::Add;
  UnaryOp unaryOp = UnaryOp::Neg;
  ReduceKind reduceKind = ReduceKind::Sum;
  std::vector<ExprPtr> args;
  std::vector<IndexDecl> vars; // Reduce only.
};

/// `dtype` or `dtype[DIM, ...]`; a scalar has no dims.
struct TypeSpec {
  DType dtype = DType::F32;
  std::vector<ExprPtr> dims;
  SourceSpan span;
};

/// A kernel parameter or output: `name: TYPE`.
struct Param {
  std::string name;
  SourceSpan span; // The name.
  TypeSpec type;
};

/// One statement.
///   Index form:       NAME[IDX, ...] = EXPR          (targets.size() == 1, indexed == true)
///   Whole-array form: NAME = EXPR                    (targets.size() == 1, indexed == false)
///   Call with tuple:  (NAME, NAME, ...) = KERNEL(ARGS) (targets.size() > 1 or parenthesized)
struct Stmt {
  struct Target {
    std::string name;
    SourceSpan span;
  };
  std::vector<Target> targets;
  bool indexed = false;
  bool tuple = false; // Written with parentheses on the left.
  std::vector<IndexDecl> indices; // Index form only.
  ExprPtr value;
  SourceSpan span; // The whole statement.
};

struct Kernel {
  std::string name;
  SourceSpan nameSpan;
  SourceSpan span;
  std::vector<Param> params;
  std::vector<Param> outputs;
  bool tupleOutputs = false; // `-> (a: T, b: T)`
  std::vector<Stmt> body;
};

struct File {
  std::shared_ptr<const SourceFile> source;
  std::vector<Kernel> kernels;
};

std::string_view binaryOpSpelling(BinaryOp op); // "+", "//", "@", "**", "and", ...
std::string_view reduceKindName(ReduceKind k);   // "sum", ...

} // namespace tdsl::ast
