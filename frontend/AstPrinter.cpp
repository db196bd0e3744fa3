// The stable text form of the AST (`tdsl emit --stage=ast`). Every operator application is
// printed prefix and parenthesized, S-expression style, so precedence is explicit:
//   kernel softmax(x: f32[N, D]) -> y: f32[N, D]
//     e[i, j] = (exp (- x[i, j] (max x[i, k] for k)))
// Accesses keep their brackets (x[(- i 1), j]); a default is (?? x[i] 0.0); a reduction is
// (sum BODY for k, j < 3); a call is (NAME ARG...); unary minus is (- x), subtraction (- a b).
#include "frontend/Parser.h"

#include <charconv>
#include <cmath>

namespace tdsl::frontend {

namespace {

std::string floatText(double v) {
  if (std::isinf(v))
    return v > 0 ? "inf" : "-inf";
  if (std::isnan(v))
    return "nan";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v); // Shortest round-trip form.
  std::string s(buf, ec == std::errc() ? end : buf);
  if (s.find_first_of(".e") == std::string::npos)
    s += ".0"; // Keep floats visibly distinct from integers.
  return s;
}

void printExpr(const ast::Expr &e, std::string &out);

void printIndexDecls(const std::vector<ast::IndexDecl> &decls, std::string &out) {
  for (size_t i = 0; i < decls.size(); ++i) {
    if (i)
      out += ", ";
    out += decls[i].name;
    if (decls[i].extent) {
      out += decls[i].inclusive ? " <= " : " < ";
      printExpr(*decls[i].extent, out);
    }
  }
}

void printList(const std::vector<ast::ExprPtr> &exprs, std::string_view separator,
               std::string &out) {
  for (size_t i = 0; i < exprs.size(); ++i) {
    if (i)
      out += separator;
    printExpr(*exprs[i], out);
  }
}

void printExpr(const ast::Expr &e, std::string &out) {
  using Kind = ast::Expr::Kind;
  switch (e.kind) {
  case Kind::IntLit:
    out += std::to_string(e.intValue);
    return;
  case Kind::FloatLit:
    out += floatText(e.floatValue);
    return;
  case Kind::BoolLit:
    out += e.boolValue ? "true" : "false";
    return;
  case Kind::Inf:
    out += "inf";
    return;
  case Kind::Name:
    out += e.name;
    return;
  case Kind::Access:
    out += e.name;
    out += '[';
    printList(e.args, ", ", out);
    out += ']';
    return;
  case Kind::Call:
    out += '(';
    out += e.name;
    for (const ast::ExprPtr &a : e.args) {
      out += ' ';
      printExpr(*a, out);
    }
    out += ')';
    return;
  case Kind::Reduce:
    out += '(';
    out += ast::reduceKindName(e.reduceKind);
    out += ' ';
    if (!e.args.empty())
      printExpr(*e.args[0], out);
    out += " for ";
    printIndexDecls(e.vars, out);
    out += ')';
    return;
  case Kind::Unary:
    out += e.unaryOp == ast::UnaryOp::Neg ? "(- " : "(not ";
    printExpr(*e.args.at(0), out);
    out += ')';
    return;
  case Kind::Binary:
    out += '(';
    out += ast::binaryOpSpelling(e.binaryOp);
    out += ' ';
    printList(e.args, " ", out);
    out += ')';
    return;
  case Kind::Default:
    out += "(?? ";
    printList(e.args, " ", out);
    out += ')';
    return;
  }
}

void printType(const ast::TypeSpec &type, std::string &out) {
  out += dtypeName(type.dtype);
  if (!type.dims.empty()) {
    out += '[';
    printList(type.dims, ", ", out);
    out += ']';
  }
}

void printParams(const std::vector<ast::Param> &params, std::string &out) {
  for (size_t i = 0; i < params.size(); ++i) {
    if (i)
      out += ", ";
    out += params[i].name;
    out += ": ";
    printType(params[i].type, out);
  }
}

void printStmt(const ast::Stmt &stmt, std::string &out) {
  out += "  ";
  if (stmt.tuple)
    out += '(';
  for (size_t i = 0; i < stmt.targets.size(); ++i) {
    if (i)
      out += ", ";
    out += stmt.targets[i].name;
  }
  if (stmt.tuple)
    out += ')';
  if (stmt.indexed) {
    out += '[';
    printIndexDecls(stmt.indices, out);
    out += ']';
  }
  out += " = ";
  if (stmt.value)
    printExpr(*stmt.value, out);
  out += '\n';
}

void printKernel(const ast::Kernel &kernel, std::string &out) {
  out += "kernel " + kernel.name + "(";
  printParams(kernel.params, out);
  out += ") -> ";
  if (kernel.tupleOutputs)
    out += '(';
  printParams(kernel.outputs, out);
  if (kernel.tupleOutputs)
    out += ')';
  out += '\n';
  for (const ast::Stmt &stmt : kernel.body)
    printStmt(stmt, out);
}

} // namespace

std::string printAst(const ast::File &file, const std::string &kernel) {
  std::string out;
  for (const ast::Kernel &k : file.kernels) {
    if (!kernel.empty() && k.name != kernel)
      continue;
    if (!out.empty())
      out += '\n';
    printKernel(k, out);
  }
  return out;
}

} // namespace tdsl::frontend
