// Binding shape symbols from the inputs' shapes at call time, and evaluating i64 shape
// expressions. Every mistake a caller can make here is a tdsl::RuntimeError naming the parameter.
#include "ir/Shapes.h"

#include "ir/IntArith.h"

#include "ir/Affine.h"
#include "ir/IRPrinter.h"
#include "ir/IRVisitor.h"
#include "support/Check.h"

#include <algorithm>
#include <limits>
#include <optional>

namespace tdsl::ir {

std::string typeString(const Buffer &b) {
  std::string s(dtypeName(b->dtype));
  if (!b->shape.empty()) {
    s += "[";
    for (size_t i = 0; i < b->shape.size(); ++i)
      s += (i ? ", " : "") + toString(b->shape[i]);
    s += "]";
  }
  return s;
}

namespace {

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// Symbols that `e` mentions, in the order of `symbols`.
std::vector<size_t> symbolsIn(const Expr &e, const std::vector<Var> &symbols) {
  std::vector<size_t> found;
  std::vector<const ExprNode *> stack{e.get()};
  while (!stack.empty()) {
    const ExprNode *n = stack.back();
    stack.pop_back();
    if (!n)
      continue;
    if (const VarRef *v = n->as<VarRef>()) {
      for (size_t i = 0; i < symbols.size(); ++i)
        if (symbols[i] == v->var && std::find(found.begin(), found.end(), i) == found.end())
          found.push_back(i);
    } else if (const Unary *u = n->as<Unary>()) {
      stack.push_back(u->a.get());
    } else if (const Binary *b = n->as<Binary>()) {
      stack.push_back(b->a.get());
      stack.push_back(b->b.get());
    } else if (const Select *s = n->as<Select>()) {
      stack.push_back(s->cond.get());
      stack.push_back(s->a.get());
      stack.push_back(s->b.get());
    } else if (const Cast *c = n->as<Cast>()) {
      stack.push_back(c->a.get());
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

/// A shape expression evaluated as exact integers: nullopt where i64 arithmetic would wrap.
std::optional<int64_t> evalExact(const Expr &e, const std::vector<Var> &vars,
                                 const std::vector<int64_t> &values) {
  const Unary *u = e->as<Unary>();
  const Binary *b = e->as<Binary>();
  if (u && u->op == UnaryOp::Neg) {
    std::optional<int64_t> a = evalExact(u->a, vars, values);
    int64_t r;
    return a && !__builtin_sub_overflow(int64_t(0), *a, &r) ? std::optional(r) : std::nullopt;
  }
  if (!b || e->type != Type::i64())
    return evalInt(e, vars, values);
  std::optional<int64_t> x = evalExact(b->a, vars, values);
  std::optional<int64_t> y = x ? evalExact(b->b, vars, values) : std::nullopt;
  if (!y)
    return std::nullopt;
  int64_t r;
  switch (b->op) {
  case BinaryOp::Add:
    return __builtin_add_overflow(*x, *y, &r) ? std::nullopt : std::optional(r);
  case BinaryOp::Sub:
    return __builtin_sub_overflow(*x, *y, &r) ? std::nullopt : std::optional(r);
  case BinaryOp::Mul:
    return __builtin_mul_overflow(*x, *y, &r) ? std::nullopt : std::optional(r);
  case BinaryOp::FloorDiv:
    if (*x == std::numeric_limits<int64_t>::min() && *y == -1)
      return std::nullopt;
    return floorDiv(*x, *y);
  case BinaryOp::Mod:
    return floorMod(*x, *y);
  default:
    return evalInt(e, vars, values);
  }
}

/// " for H=3, W=4": the symbols `e` uses, with their values.
std::string symbolValues(const Expr &e, const std::vector<Var> &symbols,
                         const std::vector<int64_t> &values) {
  std::string s;
  std::vector<size_t> used = symbolsIn(e, symbols);
  for (size_t i = 0; i < used.size(); ++i)
    s += (i ? ", " : " for ") + symbols[used[i]]->name + "=" + std::to_string(values[used[i]]);
  return s;
}

/// Every extent of the reductions inside an expression, with the variable it bounds.
class ReduceExtents : public IRVisitor {
public:
  std::vector<IterVar> axes;

protected:
  void visitReduce(const Reduce *n) override {
    axes.insert(axes.end(), n->axes.begin(), n->axes.end());
    IRVisitor::visitReduce(n);
  }
};

} // namespace

std::vector<Expr> nonlinearExtents(const Kernel &kernel) {
  std::vector<Expr> found;
  auto consider = [&](const Expr &extent) {
    std::optional<AffineExpr> a = toAffine(extent);
    if (!a || !a->isLinear())
      found.push_back(extent);
  };
  for (const Definition &def : kernel.defs) {
    for (const IterVar &iv : def.indices)
      consider(iv.extent);
    ReduceExtents r;
    r.visit(def.value);
    for (const IterVar &iv : r.axes)
      consider(iv.extent);
  }
  return found;
}

int64_t evalInt(const Expr &e, const std::vector<Var> &vars, const std::vector<int64_t> &values) {
  TDSL_CHECK(e) << "evalInt of a null expression";
  TDSL_CHECK(!e->type.isVector() && (e->type.isInt() || e->type.isBool()))
      << "evalInt of a " << e->type.str() << " expression: " << toString(e);
  DType t = e->type.dtype;
  auto eval = [&](const Expr &x) { return evalInt(x, vars, values); };
  switch (e->kind) {
  case ExprKind::IntImm:
    return wrapInt(t, static_cast<uint64_t>(e->as<IntImm>()->value));
  case ExprKind::VarRef: {
    const Var &v = e->as<VarRef>()->var;
    for (size_t i = 0; i < vars.size() && i < values.size(); ++i)
      if (vars[i] == v)
        return values[i];
    TDSL_UNREACHABLE(("evalInt: no value for variable " + v->name).c_str());
  }
  case ExprKind::Unary: {
    const Unary *n = e->as<Unary>();
    int64_t a = eval(n->a);
    if (n->op == UnaryOp::Not)
      return a == 0;
    return wrapInt(t, 0 - static_cast<uint64_t>(a));
  }
  case ExprKind::Binary: {
    const Binary *n = e->as<Binary>();
    int64_t a = eval(n->a), b = eval(n->b);
    uint64_t ua = static_cast<uint64_t>(a), ub = static_cast<uint64_t>(b);
    switch (n->op) {
    case BinaryOp::Add:
      return wrapInt(t, ua + ub);
    case BinaryOp::Sub:
      return wrapInt(t, ua - ub);
    case BinaryOp::Mul:
      return wrapInt(t, ua * ub);
    case BinaryOp::FloorDiv:
      return wrapInt(t, static_cast<uint64_t>(floorDiv(a, b)));
    case BinaryOp::Mod:
      return floorMod(a, b);
    case BinaryOp::Min:
      return std::min(a, b);
    case BinaryOp::Max:
      return std::max(a, b);
    case BinaryOp::Eq:
      return a == b;
    case BinaryOp::Ne:
      return a != b;
    case BinaryOp::Lt:
      return a < b;
    case BinaryOp::Le:
      return a <= b;
    case BinaryOp::Gt:
      return a > b;
    case BinaryOp::Ge:
      return a >= b;
    case BinaryOp::And:
      return a && b;
    case BinaryOp::Or:
      return a || b;
    case BinaryOp::Div:
    case BinaryOp::Pow:
      break;
    }
    TDSL_UNREACHABLE(("evalInt: unsupported operator in " + toString(e)).c_str());
  }
  case ExprKind::Select: {
    const Select *n = e->as<Select>();
    return eval(n->cond) ? eval(n->a) : eval(n->b);
  }
  case ExprKind::Cast: {
    const Cast *n = e->as<Cast>();
    TDSL_CHECK(n->a->type.isInt() || n->a->type.isBool())
        << "evalInt: cast from " << n->a->type.str() << " in " << toString(e);
    return wrapInt(t, static_cast<uint64_t>(eval(n->a)));
  }
  default:
    break;
  }
  TDSL_UNREACHABLE(("evalInt: not an integer shape expression: " + toString(e)).c_str());
}

std::vector<int64_t> evalShape(const Buffer &buffer, const std::vector<Var> &symbols,
                               const std::vector<int64_t> &values) {
  std::vector<int64_t> shape;
  shape.reserve(buffer->shape.size());
  for (const Expr &d : buffer->shape)
    shape.push_back(evalInt(d, symbols, values));
  return shape;
}

std::vector<int64_t> bindSymbols(const Kernel &kernel,
                                 const std::vector<std::vector<int64_t>> &inputShapes) {
  if (inputShapes.size() != kernel.inputs.size())
    throw RuntimeError(ErrorCode::TensorMismatch,
                       "kernel " + kernel.name + " takes " + std::to_string(kernel.inputs.size()) +
                           " input" + (kernel.inputs.size() == 1 ? "" : "s") + ", got " +
                           std::to_string(inputShapes.size()));
  const std::vector<Var> &symbols = kernel.symbols;
  constexpr int64_t unbound = std::numeric_limits<int64_t>::min();
  std::vector<int64_t> values(symbols.size(), unbound);
  // Where each symbol was bound: (input, dim), for the message when another input disagrees.
  std::vector<std::pair<size_t, size_t>> boundAt(symbols.size());

  for (size_t p = 0; p < kernel.inputs.size(); ++p) {
    const Buffer &in = kernel.inputs[p];
    const std::vector<int64_t> &shape = inputShapes[p];
    auto expected = [&] { return "input " + in->name + ": expected " + typeString(in); };
    if (shape.size() != in->shape.size())
      throw RuntimeError(ErrorCode::TensorMismatch, expected() + " (rank " +
                                                        std::to_string(in->shape.size()) +
                                                        "), got shape " + shapeString(shape));
    for (size_t d = 0; d < shape.size(); ++d) {
      if (shape[d] < 0)
        throw RuntimeError(ErrorCode::TensorMismatch, expected() + ", got shape " +
                                                          shapeString(shape) +
                                                          " with a negative dim");
      const Expr &dim = in->shape[d];
      if (const IntImm *lit = dim->as<IntImm>()) {
        if (lit->value != shape[d])
          throw RuntimeError(ErrorCode::TensorMismatch,
                             expected() + ", got shape " + shapeString(shape) + " (dim " +
                                 std::to_string(d) + " is " + std::to_string(shape[d]) + ", not " +
                                 std::to_string(lit->value) + ")");
        continue;
      }
      const VarRef *ref = dim->as<VarRef>();
      TDSL_CHECK(ref) << "input " << in->name << " has a dim that is neither a literal nor a "
                      << "symbol: " << toString(dim);
      auto it = std::find(symbols.begin(), symbols.end(), ref->var);
      TDSL_CHECK(it != symbols.end())
          << "input " << in->name << " uses " << ref->var->name << ", not a kernel symbol";
      size_t s = static_cast<size_t>(it - symbols.begin());
      if (values[s] == unbound) {
        values[s] = shape[d];
        boundAt[s] = {p, d};
      } else if (values[s] != shape[d]) {
        const Buffer &first = kernel.inputs[boundAt[s].first];
        throw RuntimeError(ErrorCode::TensorMismatch,
                           "inputs " + first->name + " and " + in->name + " disagree on " +
                               ref->var->name + ": " + first->name + ": " + typeString(first) +
                               " has " + ref->var->name + " = " + std::to_string(values[s]) +
                               " (shape " + shapeString(inputShapes[boundAt[s].first]) + "), " +
                               in->name + ": " + typeString(in) + " has " + ref->var->name + " = " +
                               std::to_string(shape[d]) + " (shape " + shapeString(shape) + ")");
      }
    }
  }
  for (size_t s = 0; s < symbols.size(); ++s)
    TDSL_CHECK(values[s] != unbound)
        << "symbol " << symbols[s]->name << " is not a dim of any input of " << kernel.name;

  for (const Buffer &out : kernel.outputs) {
    for (const Expr &dim : out->shape) {
      std::optional<int64_t> v = evalExact(dim, symbols, values);
      if (!v)
        throw RuntimeError(ErrorCode::TensorMismatch,
                           "output " + out->name + " would have dim " + toString(dim) +
                               ", which overflows 64 bits" + symbolValues(dim, symbols, values));
      if (*v >= 0)
        continue;
      throw RuntimeError(ErrorCode::TensorMismatch, "output " + out->name + " would have dim " +
                                                        toString(dim) + " = " + std::to_string(*v) +
                                                        symbolValues(dim, symbols, values));
    }
  }
  for (const Expr &extent : nonlinearExtents(kernel))
    if (!evalExact(extent, symbols, values))
      throw RuntimeError(ErrorCode::TensorMismatch, "kernel " + kernel.name + " would loop over " +
                                                        toString(extent) +
                                                        " points, which overflows 64 bits" +
                                                        symbolValues(extent, symbols, values));
  return values;
}

} // namespace tdsl::ir
