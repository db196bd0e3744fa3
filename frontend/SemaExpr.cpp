// Sema for expressions: names, accesses, literals and their typing, operators, broadcasting,
// built-in functions and casts, reductions, and calls to kernels inside expressions.
#include "frontend/SemaChecker.h"

#include "ir/IRVisitor.h"
#include "runtime/FloatFormat.h"
#include "support/Check.h"
#include "tdsl/Tensor.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tdsl::frontend::sema {

namespace {

using ast::BinaryOp;

Val failed() { return Val{}; }

Val typed(DType d, ir::Expr e, const SourceSpan &span) {
  Val v;
  v.ok = true;
  v.dtype = d;
  v.expr = std::move(e);
  v.span = span;
  return v;
}

/// `v` rounded to dtype `d` (a float dtype), as a double.
double roundTo(DType d, double v) {
  switch (d) {
  case DType::F16:
    return halfToFloat(runtime::doubleToHalf(v));
  case DType::BF16:
    return bfloat16ToFloat(runtime::doubleToBFloat16(v));
  case DType::F32:
    return runtime::doubleToFloat(v);
  default:
    return v;
  }
}

/// A float constant of user dtype `d`, held in d's compute type (f32 for f16/bf16: a literal
/// that adopts a storage type keeps f32 precision, as PyTorch's scalars do).
ir::Expr floatConst(DType d, double v) {
  DType c = computeType(d);
  return ir::FloatImm::make(ir::Type::scalar(c), roundTo(c, v));
}

/// An access as a value: f16/bf16 storage is widened to f32 for arithmetic.
ir::Expr loaded(ir::Expr access) {
  DType d = access->type.dtype;
  if (d == DType::F16 || d == DType::BF16)
    return ir::Cast::make(ir::Type::scalar(DType::F32), std::move(access));
  return access;
}

/// Precision order, to suggest casting the narrower operand of a mix.
int dtypeRank(DType d) {
  if (d == DType::Bool)
    return 0;
  if (isInt(d))
    return byteSize(d) + (d == DType::U8 ? 0 : 1);
  return 16 + byteSize(d) + (d == DType::BF16 ? 1 : 0);
}

std::string dtypeStr(DType d) { return std::string(dtypeName(d)); }

/// Python's floor division and modulo on integers; x // 0 == x % 0 == 0.
int64_t floorDiv(int64_t a, int64_t b) {
  if (b == 0)
    return 0;
  if (a == INT64_MIN && b == -1)
    return INT64_MIN; // Wraps, as at run time.
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0)))
    --q;
  return q;
}
int64_t floorMod(int64_t a, int64_t b) {
  if (b == 0 || (a == INT64_MIN && b == -1))
    return 0;
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0)))
    r += b;
  return r;
}
double floatMod(double a, double b) {
  double r = std::fmod(a, b);
  if (r != 0 && ((r < 0) != (b < 0)))
    r += b;
  return r;
}

struct Builtin {
  enum class Kind : uint8_t { Math, IntOk, MinMax, Pow, Where, Clamp, Cast, Reduction };
  std::string_view name;
  Kind kind;
  ir::Intrinsic fn = ir::Intrinsic::Exp;
  DType castTo = DType::F32;
  ir::BinaryOp op = ir::BinaryOp::Min;
};

const std::vector<Builtin> &builtins() {
  using K = Builtin::Kind;
  using I = ir::Intrinsic;
  static const std::vector<Builtin> table = {
      {"exp", K::Math, I::Exp},
      {"exp2", K::Math, I::Exp2},
      {"log", K::Math, I::Log},
      {"log2", K::Math, I::Log2},
      {"sqrt", K::Math, I::Sqrt},
      {"rsqrt", K::Math, I::Rsqrt},
      {"sin", K::Math, I::Sin},
      {"cos", K::Math, I::Cos},
      {"tan", K::Math, I::Tan},
      {"tanh", K::Math, I::Tanh},
      {"sigmoid", K::Math, I::Sigmoid},
      {"erf", K::Math, I::Erf},
      {"floor", K::Math, I::Floor},
      {"ceil", K::Math, I::Ceil},
      {"round", K::Math, I::Round},
      {"relu", K::IntOk, I::Relu},
      {"abs", K::IntOk, I::Abs},
      {"min", K::MinMax, {}, {}, ir::BinaryOp::Min},
      {"max", K::MinMax, {}, {}, ir::BinaryOp::Max},
      {"pow", K::Pow},
      {"where", K::Where},
      {"clamp", K::Clamp},
      {"f16", K::Cast, {}, DType::F16},
      {"bf16", K::Cast, {}, DType::BF16},
      {"f32", K::Cast, {}, DType::F32},
      {"f64", K::Cast, {}, DType::F64},
      {"i32", K::Cast, {}, DType::I32},
      {"i64", K::Cast, {}, DType::I64},
      {"u8", K::Cast, {}, DType::U8},
      {"i8", K::Cast, {}, DType::I8},
      {"i16", K::Cast, {}, DType::I16},
      {"bool", K::Cast, {}, DType::Bool},
      {"sum", K::Reduction},
      {"prod", K::Reduction},
      {"mean", K::Reduction},
      {"argmax", K::Reduction},
      {"argmin", K::Reduction},
  };
  return table;
}

const Builtin *findBuiltin(std::string_view name) {
  for (const Builtin &b : builtins())
    if (b.name == name)
      return &b;
  return nullptr;
}

bool isComparison(BinaryOp op) {
  return op == BinaryOp::Eq || op == BinaryOp::Ne || op == BinaryOp::Lt || op == BinaryOp::Le ||
         op == BinaryOp::Gt || op == BinaryOp::Ge;
}

/// A short excerpt of source for hints ("..." when long).
std::string excerpt(std::string s) {
  if (s.size() > 40)
    s = s.substr(0, 37) + "...";
  return s;
}

} // namespace

ir::BinaryOp irOp(BinaryOp op) {
  switch (op) {
  case BinaryOp::Add:
    return ir::BinaryOp::Add;
  case BinaryOp::Sub:
    return ir::BinaryOp::Sub;
  case BinaryOp::Mul:
    return ir::BinaryOp::Mul;
  case BinaryOp::Div:
    return ir::BinaryOp::Div;
  case BinaryOp::FloorDiv:
    return ir::BinaryOp::FloorDiv;
  case BinaryOp::Mod:
    return ir::BinaryOp::Mod;
  case BinaryOp::Pow:
    return ir::BinaryOp::Pow;
  case BinaryOp::Eq:
    return ir::BinaryOp::Eq;
  case BinaryOp::Ne:
    return ir::BinaryOp::Ne;
  case BinaryOp::Lt:
    return ir::BinaryOp::Lt;
  case BinaryOp::Le:
    return ir::BinaryOp::Le;
  case BinaryOp::Gt:
    return ir::BinaryOp::Gt;
  case BinaryOp::Ge:
    return ir::BinaryOp::Ge;
  case BinaryOp::And:
    return ir::BinaryOp::And;
  case BinaryOp::Or:
    return ir::BinaryOp::Or;
  case BinaryOp::MatMul:
    break;
  }
  TDSL_UNREACHABLE("no IR operator for '@'");
}

bool isBuiltinName(std::string_view name) { return findBuiltin(name) != nullptr; }

std::vector<std::string> builtinNames() {
  std::vector<std::string> names;
  for (const Builtin &b : builtins())
    names.emplace_back(b.name);
  return names;
}

/// An expression of literals, operators and built-in functions only (no names, no casts, no
/// kernel calls, no reductions): its dtype comes from literal typing alone.
bool literalOnly(const ast::Expr &e) {
  switch (e.kind) {
  case ast::Expr::Kind::IntLit:
  case ast::Expr::Kind::FloatLit:
  case ast::Expr::Kind::Inf:
    return true;
  case ast::Expr::Kind::Call: {
    const Builtin *b = findBuiltin(e.name);
    if (!b || b->kind == Builtin::Kind::Cast || b->kind == Builtin::Kind::Reduction)
      return false;
    break;
  }
  case ast::Expr::Kind::Unary:
  case ast::Expr::Kind::Binary:
    break;
  default:
    return false;
  }
  return std::all_of(e.args.begin(), e.args.end(),
                     [](const ast::ExprPtr &a) { return a && literalOnly(*a); });
}

// ---------------------------------------------------------------------------------------------
// Literals and typing.

void KernelChecker::defaultType(Val &v) {
  // While retyping (retypeLiteralOnly): the target dtype. An error here (counted, not
  // reported) fails the retyping; the value still gets a well-formed default.
  if (literalDefault && v.isLiteral() && adopt(v, *literalDefault, nullptr, v.span))
    return;
  if (v.lit == LitKind::Int) {
    v.dtype = DType::I64;
    v.expr = ir::intImm(v.intValue);
  } else if (v.lit == LitKind::Float) {
    v.dtype = DType::F32;
    v.expr = floatConst(DType::F32, v.floatValue);
  }
  v.lit = LitKind::None;
}

bool KernelChecker::adopt(Val &v, DType to, const Val *other, const SourceSpan &site) {
  TDSL_CHECK(v.isLiteral()) << "adopting a typed value";
  std::string text = sourceText(v.span);
  if (to == DType::Bool) {
    error(ErrorCode::LiteralTypeMismatch, v.span, "the literal " + text + " is used as a bool",
          "write true or false" +
              (other ? ", or convert the bool: i64(" + excerpt(sourceText(other->span)) + ")"
                     : std::string()));
    return false;
  }
  if (v.lit == LitKind::Int) {
    if (isInt(to) && (v.intValue < intMin(to) || v.intValue > intMax(to))) {
      error(ErrorCode::LiteralOutOfRange, v.span,
            "the integer literal " + text + " does not fit in " + dtypeStr(to));
      return false;
    }
    v.expr = isInt(to) ? ir::intImm(v.intValue, to) : floatConst(to, double(v.intValue));
  } else {
    if (isInt(to)) {
      std::string hint = "cast the integer side to a float";
      if (other)
        hint += ", e.g. f32(" + excerpt(sourceText(other->span)) + ")";
      error(ErrorCode::LiteralTypeMismatch, v.span,
            "the float literal " + text + " is used with " + (to == DType::U8 ? "a " : "an ") +
                dtypeStr(to) + " value",
            hint);
      return false;
    }
    v.expr = floatConst(to, v.floatValue);
  }
  v.dtype = to;
  v.lit = LitKind::None;
  return true;
}

std::optional<DType> KernelChecker::unify(const std::vector<Val *> &ops, const SourceSpan &site,
                                          std::string_view what) {
  // A value of literals only takes the dtype of a typed operand, as a bare literal does.
  const Val *typedOp = nullptr;
  for (const Val *op : ops)
    if (!op->isLiteral() && (!op->source || !literalOnly(*op->source))) {
      typedOp = op;
      break;
    }
  if (typedOp) {
    for (Val *op : ops)
      if (op != typedOp && !op->isLiteral() && op->dtype != typedOp->dtype)
        retypeLiteralOnly(*op, typedOp->dtype);
  } else {
    // Literals and values of literals only: an integer one next to a float one becomes a
    // float, as an integer literal does next to a float literal (`max(1, 2) * 0.25`).
    std::optional<DType> floatType;
    for (const Val *op : ops)
      if (op->lit == LitKind::Float || (!op->isLiteral() && isFloat(op->dtype)))
        floatType = floatType ? floatType : op->isLiteral() ? DType::F32 : op->dtype;
    if (floatType)
      for (Val *op : ops)
        if (!op->isLiteral() && isInt(op->dtype))
          retypeLiteralOnly(*op, *floatType);
  }
  Val *first = nullptr;
  for (Val *op : ops) {
    if (op->isLiteral())
      continue;
    if (!first) {
      first = op;
      continue;
    }
    if (op->dtype != first->dtype) {
      const Val *low = dtypeRank(op->dtype) < dtypeRank(first->dtype) ? op : first;
      DType high = low == op ? first->dtype : op->dtype;
      error(ErrorCode::MismatchedDTypes, site,
            "mismatched dtypes in " + std::string(what) + ": " + dtypeStr(first->dtype) + " and " +
                dtypeStr(op->dtype),
            "convert one side explicitly, e.g. " + dtypeStr(high) + "(" +
                excerpt(sourceText(low->span)) + ")");
      return std::nullopt;
    }
  }
  if (!first) {
    bool anyFloat =
        std::any_of(ops.begin(), ops.end(), [](const Val *v) { return v->lit == LitKind::Float; });
    for (Val *op : ops) {
      if (anyFloat && op->lit == LitKind::Int) {
        op->lit = LitKind::Float;
        op->floatValue = double(op->intValue);
      }
      defaultType(*op);
    }
    return ops.empty() ? DType::I64 : ops.front()->dtype;
  }
  for (Val *op : ops)
    if (op->isLiteral() && !adopt(*op, first->dtype, first, site))
      return std::nullopt;
  return first->dtype;
}

// ---------------------------------------------------------------------------------------------
// Broadcasting.

Val KernelChecker::wholeTensor(const ir::Buffer &buffer, const SourceSpan &span) {
  std::vector<ir::Expr> indices;
  Val v;
  for (size_t j = 0; j < buffer->shape.size(); ++j) {
    v.vars.push_back(freshVar("d" + std::to_string(j)));
    v.shape.push_back(dimOf(buffer->shape[j]));
    indices.push_back(ir::ref(v.vars.back()));
  }
  v.ok = true;
  v.dtype = buffer->dtype;
  v.expr = loaded(ir::Access::make(buffer, std::move(indices)));
  v.span = span;
  return v;
}

std::optional<std::pair<std::vector<Dim>, std::vector<ir::Var>>>
KernelChecker::broadcast(std::vector<Val *> ops, const SourceSpan &site, std::string_view what) {
  size_t rank = 0;
  for (const Val *op : ops)
    rank = std::max(rank, op->rank());
  if (rank == 0)
    return std::make_pair(std::vector<Dim>{}, std::vector<ir::Var>{});
  std::vector<Dim> result(rank);
  for (size_t p = 0; p < rank; ++p) {
    const Dim *chosen = nullptr;
    for (const Val *op : ops) {
      if (op->rank() + p < rank)
        continue;
      const Dim &d = op->shape[op->rank() + p - rank];
      if (!chosen || (chosen->isOne() && !d.isOne())) {
        chosen = &d;
        continue;
      }
      if (d.isOne() || d.affine == chosen->affine)
        continue;
      std::string shapes;
      for (const Val *o : ops) {
        if (!o->rank() && ops.size() > 2)
          continue;
        shapes += (shapes.empty() ? "" : " and ") + shapeString(o->shape);
      }
      error(ErrorCode::BroadcastMismatch, site,
            "cannot broadcast shapes " + shapes + " in " + std::string(what),
            "aligned from the right, two dims must be equal or one of them 1 (here " +
                chosen->affine.str() + " and " + d.affine.str() + ")");
      return std::nullopt;
    }
    result[p] = *chosen;
  }
  std::vector<ir::Var> vars;
  for (size_t p = 0; p < rank; ++p)
    vars.push_back(freshVar("d" + std::to_string(p)));
  for (Val *op : ops) {
    if (op->rank() == 0)
      continue;
    std::vector<std::pair<ir::Var, ir::Expr>> repl;
    for (size_t j = 0; j < op->rank(); ++j) {
      size_t p = rank - op->rank() + j;
      repl.emplace_back(op->vars[j], op->shape[j].isOne() && !result[p].isOne() ? ir::intImm(0)
                                                                                : ir::ref(vars[p]));
    }
    op->expr = ir::substitute(op->expr, repl);
    op->shape = result;
    op->vars = vars;
  }
  return std::make_pair(result, vars);
}

// ---------------------------------------------------------------------------------------------
// Expressions.

void KernelChecker::readBeforeAssigned(const std::string &name, const SourceSpan &span) {
  if (currentTargets.count(name))
    error(ErrorCode::SelfReference, span,
          "output " + quote(name) + " is used in its own definition",
          "every name is defined once and its value cannot depend on itself (recurrences and "
          "scans are not supported in version 0)");
  else
    error(ErrorCode::UsedBeforeDefinition, span,
          "output " + quote(name) + " is read before it is assigned",
          "an output can be read only after the statement that defines it");
}

void KernelChecker::undefinedName(const std::string &name, const SourceSpan &span, const char *what,
                                  const std::vector<std::string> &candidates) {
  auto later = laterDefinitions.find(name);
  if (later != laterDefinitions.end() && later->second.begin > span.begin) {
    error(ErrorCode::UsedBeforeDefinition, span, quote(name) + " is used before it is defined",
          "statements run in order: move its definition above this use");
    diags.note(later->second, quote(name) + " is defined here");
    return;
  }
  std::string hint = didYouMean(name, candidates);
  if (hint.empty() && inSubscript)
    hint = "declare index variables on the left (y[i, j] = ...) or in a reduction (sum(... for " +
           name + "))";
  error(ErrorCode::UndefinedName, span, "undefined " + std::string(what) + " " + quote(name), hint);
}

Val KernelChecker::check(const ast::Expr &e, bool whole) {
  Val v = checkNode(e, whole);
  v.source = &e;
  v.sourceWhole = whole;
  return v;
}

bool KernelChecker::retypeLiteralOnly(Val &v, DType to) {
  // Where a bare literal could adopt `to`: a float value a float type, an integer one any number
  // type. Bools are never literals.
  if (!v.ok || v.isLiteral() || !v.source || v.dtype == to || v.dtype == DType::Bool ||
      to == DType::Bool || (isFloat(v.dtype) && !isFloat(to)) || !literalOnly(*v.source))
    return false;
  const std::optional<DType> savedDefault = literalDefault;
  const size_t savedErrors = speculativeErrors;
  literalDefault = to;
  ++speculative;
  Val again = check(*v.source, v.sourceWhole);
  --speculative;
  literalDefault = savedDefault;
  const bool clean = speculativeErrors == savedErrors;
  speculativeErrors = savedErrors;
  if (!clean || !again.ok || again.isLiteral() || again.dtype != to)
    return false;
  v = std::move(again);
  return true;
}

Val KernelChecker::checkNode(const ast::Expr &e, bool whole) {
  switch (e.kind) {
  case ast::Expr::Kind::IntLit: {
    Val v;
    v.ok = true;
    v.lit = LitKind::Int;
    v.intValue = e.intValue;
    v.span = e.span;
    return v;
  }
  case ast::Expr::Kind::FloatLit:
  case ast::Expr::Kind::Inf: {
    Val v;
    v.ok = true;
    v.lit = LitKind::Float;
    v.floatValue =
        e.kind == ast::Expr::Kind::Inf ? std::numeric_limits<double>::infinity() : e.floatValue;
    v.span = e.span;
    return v;
  }
  case ast::Expr::Kind::BoolLit:
    return typed(DType::Bool, ir::boolImm(e.boolValue), e.span);
  case ast::Expr::Kind::Name:
    return checkName(e, whole);
  case ast::Expr::Kind::Access:
    return checkAccess(e, nullptr, whole);
  case ast::Expr::Kind::Default:
    // The parser reports a default whose left side is not an access.
    if (e.args.size() != 2 || e.args[0]->kind != ast::Expr::Kind::Access)
      return failed();
    return checkAccess(*e.args[0], e.args[1].get(), whole);
  case ast::Expr::Kind::Call:
    return checkCall(e, whole);
  case ast::Expr::Kind::Reduce:
    return checkReduce(e, whole);
  case ast::Expr::Kind::Unary:
    return checkUnary(e, whole);
  case ast::Expr::Kind::Binary:
    return checkBinary(e, whole);
  }
  return failed();
}

Val KernelChecker::checkName(const ast::Expr &e, bool whole) {
  bool hidden = false;
  if (IndexVar *iv = lookupIndex(e.name, &hidden))
    return typed(DType::I64, ir::ref(iv->var), e.span);
  if (hidden) {
    error(ErrorCode::IndexVariableMisplaced, e.span,
          "index variable " + quote(e.name) + " cannot be used here",
          inExtent ? "a tensor's extents are expressions of shape symbols and integers; only a "
                     "reduction's bound may use index variables (sum(x[i, k] for k <= j))"
                   : "a kernel call's arguments are whole tensors; compute the value in its own "
                     "statement first");
    return failed();
  }
  auto it = tensors.find(e.name);
  if (it != tensors.end()) {
    TensorEntry &t = it->second;
    if (t.poisoned)
      return failed();
    if (inExtent) {
      error(ErrorCode::InvalidExtent, e.span,
            quote(e.name) + " is a tensor; an extent is an expression of shape symbols");
      return failed();
    }
    if (t.kind == TensorEntry::Kind::Output && !t.assigned) {
      readBeforeAssigned(e.name, e.span);
      return failed();
    }
    const ir::Buffer &b = t.buffer;
    if (b->shape.empty())
      return typed(b->dtype, loaded(ir::Access::make(b, {})), e.span);
    if (whole)
      return wholeTensor(b, e.span);
    std::string example;
    const char *letters[] = {"i", "j", "k", "l", "m", "n"};
    std::vector<std::string> names;
    if (!scopes.empty() && scopes.front().vars.size() == b->shape.size())
      for (const IndexVar *iv : scopes.front().vars)
        names.push_back(iv->name);
    for (size_t j = names.size(); j < b->shape.size(); ++j)
      names.push_back(j < 6 ? letters[j] : "i" + std::to_string(j));
    for (size_t j = 0; j < names.size(); ++j)
      example += (j ? ", " : "") + names[j];
    error(ErrorCode::MissingSubscripts, e.span,
          "tensor " + quote(e.name) + " (" + std::to_string(b->shape.size()) +
              "-d) is used without subscripts in an index-form expression",
          "read one element: " + e.name + "[" + example + "]");
    return failed();
  }
  auto sym = symbols.find(e.name);
  if (sym != symbols.end())
    return typed(DType::I64, ir::ref(sym->second), e.span);
  if (currentTargets.count(e.name)) {
    error(ErrorCode::SelfReference, e.span, quote(e.name) + " is used in its own definition",
          "every name is defined once; its value cannot depend on itself");
    return failed();
  }
  if (file.positions.count(e.name)) {
    error(ErrorCode::WrongKindOfName, e.span, quote(e.name) + " is a kernel, not a value",
          "call it: " + e.name + "(...)");
    return failed();
  }
  if (isBuiltinName(e.name)) {
    error(ErrorCode::WrongKindOfName, e.span,
          quote(e.name) + " is a built-in function, not a value", "call it: " + e.name + "(...)");
    return failed();
  }
  undefinedName(e.name, e.span, "name", visibleNames());
  return failed();
}

Val KernelChecker::checkAccess(const ast::Expr &e, const ast::Expr *fallback, bool whole) {
  // The tensor.
  ir::Buffer buffer;
  bool ok = true;
  bool hidden = false;
  if (inExtent) {
    error(ErrorCode::InvalidExtent, e.span, "an extent cannot read a tensor",
          "extents are expressions of shape symbols and integers");
    return failed();
  }
  if (lookupIndex(e.name, &hidden) || hidden) {
    error(ErrorCode::WrongKindOfName, e.nameSpan,
          quote(e.name) + " is an index variable, not a tensor");
    ok = false;
  } else if (symbols.count(e.name)) {
    error(ErrorCode::WrongKindOfName, e.nameSpan,
          quote(e.name) + " is a shape symbol, not a tensor");
    ok = false;
  } else if (auto it = tensors.find(e.name); it != tensors.end()) {
    TensorEntry &t = it->second;
    if (t.poisoned) {
      ok = false;
    } else if (t.kind == TensorEntry::Kind::Output && !t.assigned) {
      readBeforeAssigned(e.name, e.nameSpan);
      ok = false;
    } else {
      buffer = t.buffer;
    }
  } else if (currentTargets.count(e.name)) {
    error(ErrorCode::SelfReference, e.nameSpan, quote(e.name) + " is used in its own definition",
          "every name is defined once; its value cannot depend on itself");
    ok = false;
  } else {
    std::vector<std::string> names;
    for (const auto &[name, t] : tensors)
      if (name.find('.') == std::string::npos)
        names.push_back(name);
    undefinedName(e.name, e.nameSpan, "tensor", names);
    ok = false;
  }
  if (buffer && e.args.size() != buffer->shape.size()) {
    size_t rank = buffer->shape.size();
    error(ErrorCode::RankMismatch, e.span,
          quote(e.name) + " has " + std::to_string(rank) + (rank == 1 ? " dim" : " dims") +
              " but is read with " + std::to_string(e.args.size()) +
              (e.args.size() == 1 ? " subscript" : " subscripts"),
          rank == 0 ? "read a scalar by its name alone: " + e.name
                    : "give one subscript per dim, as in " + e.name + "[" +
                          std::string(rank == 1   ? "i"
                                      : rank == 2 ? "i, j"
                                                  : "i, j, ...") +
                          "]");
    ok = false;
  }

  // The subscripts: integer expressions. Affine ones (in index variables, symbols and integers)
  // are proven in bounds; the others (gathers) are checked when the kernel runs.
  std::vector<ir::Expr> indices;
  std::vector<ir::AffineExpr> affines;
  std::vector<bool> gathered;
  std::vector<SourceSpan> spans;
  for (size_t j = 0; j < e.args.size(); ++j) {
    const ast::Expr &a = *e.args[j];
    IndexVar *lone = a.kind == ast::Expr::Kind::Name ? lookupIndex(a.name) : nullptr;
    if (lone) {
      if (ok)
        lone->uses.push_back({dimOf(buffer->shape[j]), sourceText(e.span), a.span});
      else
        lone->sawFailedUse = true;
    }
    bool saved = inSubscript;
    inSubscript = true;
    Val s = check(a, /*whole=*/false);
    inSubscript = saved;
    if (!s.ok) {
      ok = false;
      continue;
    }
    if (s.lit == LitKind::Int) {
      s.expr = ir::intImm(s.intValue);
      s.dtype = DType::I64;
    } else if (s.lit == LitKind::Float || !isInt(s.dtype)) {
      error(ErrorCode::InvalidSubscript, a.span,
            "a subscript must be an integer, but " + sourceText(a.span) + " is " +
                (s.isLiteral() ? std::string("a float literal") : dtypeStr(s.dtype)),
            "subscripts are integer expressions (index variables, shape symbols, integers, "
            "values read from integer tensors); convert a float explicitly: i64(floor(x))");
      ok = false;
      continue;
    } else if (s.dtype != DType::I64) {
      s.expr = ir::Cast::make(ir::Type::i64(), s.expr);
    }
    std::optional<ir::AffineExpr> aff = ir::toAffine(s.expr);
    indices.push_back(s.expr);
    affines.push_back(aff ? *aff : ir::AffineExpr{});
    gathered.push_back(!aff);
    spans.push_back(a.span);
  }

  // The default, for `x[...] ?? d`.
  ir::Expr fb;
  if (fallback) {
    Val f = check(*fallback, whole);
    if (!f.ok || !ok)
      return failed();
    DType d = buffer->dtype;
    if (f.rank() > 0) {
      error(ErrorCode::DefaultNotScalar, fallback->span,
            "the default after ?? must be a scalar, but " + sourceText(fallback->span) +
                " has shape " + shapeString(f.shape));
      return failed();
    }
    if (f.isLiteral()) {
      double value = f.lit == LitKind::Float ? f.floatValue : double(f.intValue);
      if (!adopt(f, d, nullptr, fallback->span))
        return failed();
      // The default is stored in the tensor's own dtype, exactly.
      fb = d == DType::F16 || d == DType::BF16
               ? ir::FloatImm::make(ir::Type::scalar(d), roundTo(d, value))
               : f.expr;
    } else {
      if (f.dtype != d) {
        error(ErrorCode::MismatchedDTypes, fallback->span,
              "the default has dtype " + dtypeStr(f.dtype) + " but " + quote(e.name) + " is " +
                  dtypeStr(d),
              "convert it: " + dtypeStr(d) + "(" + excerpt(sourceText(fallback->span)) + ")");
        return failed();
      }
      fb = toStorage(f, d);
    }
  }
  if (!ok)
    return failed();
  if (!fallback) {
    PendingAccess p;
    p.buffer = buffer;
    p.subscripts = affines;
    p.gathered = gathered;
    p.subscriptSpans = spans;
    p.span = e.span;
    for (const Scope &sc : scopes)
      p.domain.insert(p.domain.end(), sc.vars.begin(), sc.vars.end());
    // Only the variables inside the innermost barrier are bound here.
    for (size_t k = scopes.size(); k-- > 0;)
      if (scopes[k].barrier) {
        p.domain.clear();
        for (size_t m = k; m < scopes.size(); ++m)
          p.domain.insert(p.domain.end(), scopes[m].vars.begin(), scopes[m].vars.end());
        break;
      }
    // A gather without a default reads with one all the same (a zero, never used: the call
    // fails), so that no compiled code touches memory out of range; its check reports.
    for (size_t j = 0; j < gathered.size(); ++j) {
      if (!gathered[j])
        continue;
      const ir::Expr &read =
          indices[j]->as<ir::Cast>() ? indices[j]->as<ir::Cast>()->a : indices[j];
      const auto *access = read->as<ir::Access>();
      ir::Buffer source =
          access && access->buffer->role == ir::BufferRole::Input ? access->buffer : nullptr;
      pendingGathers.push_back(PendingGather{buffer, j, indices[j], p.domain, e.span, source});
      if (!fb)
        fb = buffer->dtype == DType::Bool ? ir::boolImm(false)
             : isFloat(buffer->dtype)     ? ir::FloatImm::make(ir::Type::scalar(buffer->dtype), 0.0)
                                          : ir::intImm(0, buffer->dtype);
    }
    pending.push_back(std::move(p));
  }
  return typed(buffer->dtype, loaded(ir::Access::make(buffer, std::move(indices), fb)),
               fallback ? e.span.to(fallback->span) : e.span);
}

Val KernelChecker::checkUnary(const ast::Expr &e, bool whole) {
  Val a = check(*e.args[0], whole);
  if (!a.ok)
    return failed();
  if (e.unaryOp == ast::UnaryOp::Neg) {
    if (a.lit == LitKind::Int) {
      if (a.intValue == INT64_MIN) {
        error(ErrorCode::LiteralOutOfRange, e.span, "integer literal arithmetic overflows i64");
        return failed();
      }
      a.intValue = -a.intValue;
      a.span = e.span;
      return a;
    }
    if (a.lit == LitKind::Float) {
      a.floatValue = -a.floatValue;
      a.span = e.span;
      return a;
    }
    if (a.dtype == DType::Bool) {
      error(ErrorCode::BoolNotAllowed, e.span, "cannot negate a bool",
            "use 'not' for logical negation");
      return failed();
    }
    a.expr = ir::Unary::make(ir::UnaryOp::Neg, a.expr);
  } else {
    if (a.isLiteral() || a.dtype != DType::Bool) {
      error(ErrorCode::BoolRequired, e.span,
            "'not' needs a bool operand, but " + sourceText(e.args[0]->span) + " is " +
                (a.isLiteral() ? std::string("a number") : dtypeStr(a.dtype)),
            "compare it first, e.g. not (x != 0)");
      return failed();
    }
    a.expr = ir::Unary::make(ir::UnaryOp::Not, a.expr);
  }
  a.span = e.span;
  return a;
}

Val KernelChecker::foldLiterals(BinaryOp op, const Val &a, const Val &b, const SourceSpan &span) {
  Val r;
  r.ok = true;
  r.span = span;
  bool isFloat = a.lit == LitKind::Float || b.lit == LitKind::Float || op == BinaryOp::Div;
  if (isComparison(op)) {
    bool v = false;
    if (isFloat) {
      double x = a.lit == LitKind::Float ? a.floatValue : double(a.intValue);
      double y = b.lit == LitKind::Float ? b.floatValue : double(b.intValue);
      v = op == BinaryOp::Eq   ? x == y
          : op == BinaryOp::Ne ? x != y
          : op == BinaryOp::Lt ? x < y
          : op == BinaryOp::Le ? x <= y
          : op == BinaryOp::Gt ? x > y
                               : x >= y;
    } else {
      int64_t x = a.intValue, y = b.intValue;
      v = op == BinaryOp::Eq   ? x == y
          : op == BinaryOp::Ne ? x != y
          : op == BinaryOp::Lt ? x < y
          : op == BinaryOp::Le ? x <= y
          : op == BinaryOp::Gt ? x > y
                               : x >= y;
    }
    return typed(DType::Bool, ir::boolImm(v), span);
  }
  if (isFloat) {
    double x = a.lit == LitKind::Float ? a.floatValue : double(a.intValue);
    double y = b.lit == LitKind::Float ? b.floatValue : double(b.intValue);
    double v = 0;
    switch (op) {
    case BinaryOp::Add:
      v = x + y;
      break;
    case BinaryOp::Sub:
      v = x - y;
      break;
    case BinaryOp::Mul:
      v = x * y;
      break;
    case BinaryOp::Div:
      v = x / y;
      break;
    case BinaryOp::FloorDiv:
      v = std::floor(x / y);
      break;
    case BinaryOp::Mod:
      v = floatMod(x, y);
      break;
    case BinaryOp::Pow:
      v = std::pow(x, y);
      break;
    default:
      TDSL_UNREACHABLE("not an arithmetic operator");
    }
    r.lit = LitKind::Float;
    r.floatValue = v;
    return r;
  }
  int64_t x = a.intValue, y = b.intValue, v = 0;
  bool overflow = false;
  switch (op) {
  case BinaryOp::Add:
    overflow = __builtin_add_overflow(x, y, &v);
    break;
  case BinaryOp::Sub:
    overflow = __builtin_sub_overflow(x, y, &v);
    break;
  case BinaryOp::Mul:
    overflow = __builtin_mul_overflow(x, y, &v);
    break;
  case BinaryOp::FloorDiv:
    overflow = x == INT64_MIN && y == -1;
    v = floorDiv(x, y);
    break;
  case BinaryOp::Mod:
    v = floorMod(x, y);
    break;
  case BinaryOp::Pow:
    if (y < 0) {
      v = x == 1 ? 1 : x == -1 ? (y % 2 == 0 ? 1 : -1) : 0;
    } else {
      v = 1;
      for (int64_t k = 0; k < y && !overflow; ++k) {
        overflow = __builtin_mul_overflow(v, x, &v);
        if (v == 0 || v == 1)
          break; // 0 and 1 stay put; also ends huge exponents of small bases quickly.
      }
      if (!overflow && x == -1)
        v = y % 2 == 0 ? 1 : -1;
    }
    break;
  default:
    TDSL_UNREACHABLE("not an arithmetic operator");
  }
  if (overflow) {
    error(ErrorCode::LiteralOutOfRange, span, "integer literal arithmetic overflows i64");
    return failed();
  }
  r.lit = LitKind::Int;
  r.intValue = v;
  return r;
}

/// Arithmetic of two checked operands (`+ - * / // % **`, and pow()).
Val KernelChecker::arith(BinaryOp op, Val a, Val b, const SourceSpan &span, std::string what) {
  if (a.isLiteral() && b.isLiteral())
    return foldLiterals(op, a, b, span);
  std::optional<DType> t = unify({&a, &b}, span, what);
  if (!t)
    return failed();
  if (*t == DType::Bool) {
    error(ErrorCode::BoolNotAllowed, span, "arithmetic on bool values in " + what,
          "convert them to numbers first, e.g. i64(c), or use and / or / not");
    return failed();
  }
  if (op == BinaryOp::Div && isInt(*t)) {
    error(ErrorCode::FloatRequired, span, "'/' on integers (" + dtypeStr(*t) + ")",
          "use // for floor division, or convert to a float: f32(a) / f32(b)");
    return failed();
  }
  if (!broadcast({&a, &b}, span, what))
    return failed();
  Val r = typed(*t, ir::Binary::make(irOp(op), a.expr, b.expr), span);
  r.shape = a.rank() ? a.shape : b.shape;
  r.vars = a.rank() ? a.vars : b.vars;
  return r;
}

Val KernelChecker::checkBinary(const ast::Expr &e, bool whole) {
  Val a = check(*e.args[0], whole);
  Val b = check(*e.args[1], whole);
  if (!a.ok || !b.ok)
    return failed();
  BinaryOp op = e.binaryOp;
  std::string what = quote(ast::binaryOpSpelling(op));
  if (op == BinaryOp::MatMul) {
    if (!whole) {
      error(ErrorCode::MatmulMismatch, e.span,
            "'@' multiplies whole tensors; it cannot be used in an index-form expression",
            "write the contraction out: sum(a[i, k] * b[k, j] for k)");
      return failed();
    }
    return checkMatMul(e, std::move(a), std::move(b));
  }
  if (op == BinaryOp::And || op == BinaryOp::Or) {
    for (const Val *v : {&a, &b}) {
      if (v->isLiteral() || v->dtype != DType::Bool) {
        error(ErrorCode::BoolRequired, v->span,
              what + " needs bool operands, but " + sourceText(v->span) + " is " +
                  (v->isLiteral() ? std::string("a number") : dtypeStr(v->dtype)),
              "compare it first, e.g. x != 0");
        return failed();
      }
    }
    if (!broadcast({&a, &b}, e.span, what))
      return failed();
    Val r = typed(DType::Bool, ir::Binary::make(irOp(op), a.expr, b.expr), e.span);
    r.shape = a.rank() ? a.shape : b.shape;
    r.vars = a.rank() ? a.vars : b.vars;
    return r;
  }
  if (isComparison(op)) {
    if (a.isLiteral() && b.isLiteral())
      return foldLiterals(op, a, b, e.span);
    if (!unify({&a, &b}, e.span, what))
      return failed();
    if (!broadcast({&a, &b}, e.span, what))
      return failed();
    Val r = typed(DType::Bool, ir::Binary::make(irOp(op), a.expr, b.expr), e.span);
    r.shape = a.rank() ? a.shape : b.shape;
    r.vars = a.rank() ? a.vars : b.vars;
    return r;
  }
  // Shape expressions divide by positive integers or symbols only (`i // 0` is surely a slip).
  if ((op == BinaryOp::FloorDiv || op == BinaryOp::Mod) && (inSubscript || inExtent) &&
      !a.isLiteral() && b.lit == LitKind::Int && b.intValue <= 0) {
    badDivisor(e, b.intValue);
    return failed();
  }
  return arith(op, std::move(a), std::move(b), e.span, what);
}

Val KernelChecker::checkMatMul(const ast::Expr &e, Val a, Val b) {
  if (a.rank() == 0 || b.rank() == 0) {
    error(ErrorCode::MatmulMismatch, e.span,
          "'@' needs tensors of rank 1 or more, but " + sourceText((a.rank() ? b : a).span) +
              " is a scalar",
          "use '*' to multiply by a scalar");
    return failed();
  }
  std::optional<DType> t = unify({&a, &b}, e.span, "'@'");
  if (!t)
    return failed();
  if (*t == DType::Bool) {
    error(ErrorCode::BoolNotAllowed, e.span, "'@' on bool tensors",
          "convert them to numbers first, e.g. i64(a) @ i64(b)");
    return failed();
  }
  size_t ra = a.rank(), rb = b.rank();
  const Dim &ka = a.shape[ra - 1];
  const Dim &kb = rb == 1 ? b.shape[0] : b.shape[rb - 2];
  if (ka.affine != kb.affine) {
    error(ErrorCode::MatmulMismatch, e.span,
          "the dims of '@' do not agree: " + shapeString(a.shape) + " @ " + shapeString(b.shape) +
              " contracts " + ka.affine.str() + " with " + kb.affine.str(),
          "a matrix product is [M, K] @ [K, N]");
    return failed();
  }
  // Batch dims: all but the last two, broadcast like elementwise operands.
  size_t na = ra >= 2 ? ra - 2 : 0, nb = rb >= 2 ? rb - 2 : 0;
  size_t batch = std::max(na, nb);
  std::vector<Dim> result;
  for (size_t p = 0; p < batch; ++p) {
    const Dim *da = p + na >= batch ? &a.shape[p + na - batch] : nullptr;
    const Dim *db = p + nb >= batch ? &b.shape[p + nb - batch] : nullptr;
    if (da && db && da->affine != db->affine && !da->isOne() && !db->isOne()) {
      error(ErrorCode::MatmulMismatch, e.span,
            "the batch dims of '@' do not agree: " + shapeString(a.shape) + " @ " +
                shapeString(b.shape),
            "batched matrix products are [B, M, K] @ [B, K, N]; batch dims must be equal or 1");
      return failed();
    }
    result.push_back(!da ? *db : !db ? *da : da->isOne() ? *db : *da);
  }
  if (ra >= 2)
    result.push_back(a.shape[ra - 2]);
  if (rb >= 2)
    result.push_back(b.shape[rb - 1]);
  std::vector<ir::Var> vars;
  for (size_t p = 0; p < result.size(); ++p)
    vars.push_back(freshVar("d" + std::to_string(p)));
  ir::Var k = freshVar("k");
  auto batchIndex = [&](const Dim &d, size_t p) {
    return d.isOne() && !result[p].isOne() ? ir::intImm(0) : ir::ref(vars[p]);
  };
  std::vector<std::pair<ir::Var, ir::Expr>> ra_, rb_;
  for (size_t j = 0; j < na; ++j)
    ra_.emplace_back(a.vars[j], batchIndex(a.shape[j], batch - na + j));
  for (size_t j = 0; j < nb; ++j)
    rb_.emplace_back(b.vars[j], batchIndex(b.shape[j], batch - nb + j));
  if (ra >= 2)
    ra_.emplace_back(a.vars[ra - 2], ir::ref(vars[batch]));
  ra_.emplace_back(a.vars[ra - 1], ir::ref(k));
  if (rb >= 2) {
    rb_.emplace_back(b.vars[rb - 2], ir::ref(k));
    rb_.emplace_back(b.vars[rb - 1], ir::ref(vars[result.size() - 1]));
  } else {
    rb_.emplace_back(b.vars[0], ir::ref(k));
  }
  ir::Expr body = ir::mul(ir::substitute(a.expr, ra_), ir::substitute(b.expr, rb_));
  Val r = typed(*t, ir::Reduce::make(ir::ReduceOp::Sum, {ir::IterVar{k, ka.expr}}, body), e.span);
  r.shape = result;
  r.vars = vars;
  return r;
}

Val KernelChecker::checkReduce(const ast::Expr &e, bool whole) {
  if (inExtent) {
    error(ErrorCode::InvalidExtent, e.span, "an extent cannot contain a reduction",
          "extents are expressions of shape symbols and integers");
    return failed();
  }
  // The bounds first, outside the reduction's scope: they see the index variables around it.
  std::vector<ir::Expr> bounds;
  for (const ast::IndexDecl &decl : e.vars)
    bounds.push_back(decl.extent ? checkReduceBound(decl, e.vars) : nullptr);
  scopes.push_back(Scope{});
  for (size_t k = 0; k < e.vars.size(); ++k) {
    IndexVar *iv = declareIndex(e.vars[k], /*reduction=*/true);
    if (!e.vars[k].extent)
      continue;
    iv->fixedExtent = bounds[k];
    iv->failed |= !bounds[k];
  }
  std::vector<IndexVar *> axes = scopes.back().vars;
  Val body = check(*e.args[0], /*whole=*/false);
  bool extentsOk = closeScope();
  if (!body.ok || !extentsOk)
    return failed();
  if (body.isLiteral())
    defaultType(body);
  std::string name(ast::reduceKindName(e.reduceKind));
  std::string bodyText = excerpt(sourceText(e.args[0]->span));
  std::string vars;
  for (const ast::IndexDecl &decl : e.vars)
    vars += (vars.empty() ? "" : ", ") + decl.name;
  if (e.reduceKind == ast::ReduceKind::Mean && isInt(body.dtype)) {
    error(ErrorCode::FloatRequired, e.span, "mean of integers (" + dtypeStr(body.dtype) + ")",
          "convert the values to a float: mean(f32(" + bodyText + ") for " + vars + ")");
    return failed();
  }
  bool arg = e.reduceKind == ast::ReduceKind::ArgMax || e.reduceKind == ast::ReduceKind::ArgMin;
  if (arg && axes.size() != 1)
    return failed(); // The parser has reported it (E021).
  if (body.dtype == DType::Bool && e.reduceKind != ast::ReduceKind::Max &&
      e.reduceKind != ast::ReduceKind::Min) {
    std::string hint =
        e.reduceKind == ast::ReduceKind::Sum
            ? "to count, convert to a number: sum(i64(" + bodyText + ") for " + vars + ")"
        : e.reduceKind == ast::ReduceKind::Prod
            ? "for 'all', use min(" + bodyText + " for " + vars + ")"
        : arg ? "convert to a number: " + name + "(i32(" + bodyText + ") for " + vars + ")"
              : "convert to a float: mean(f32(" + bodyText + ") for " + vars + ")";
    error(ErrorCode::BoolNotAllowed, e.span, name + " of bool values", hint);
    return failed();
  }
  ir::ReduceOp op = ir::ReduceOp::Sum;
  switch (e.reduceKind) {
  case ast::ReduceKind::Sum:
    op = ir::ReduceOp::Sum;
    break;
  case ast::ReduceKind::Prod:
    op = ir::ReduceOp::Prod;
    break;
  case ast::ReduceKind::Max:
    op = ir::ReduceOp::Max;
    break;
  case ast::ReduceKind::Min:
    op = ir::ReduceOp::Min;
    break;
  case ast::ReduceKind::Mean:
    op = ir::ReduceOp::Mean;
    break;
  case ast::ReduceKind::ArgMax:
    op = ir::ReduceOp::ArgMax;
    break;
  case ast::ReduceKind::ArgMin:
    op = ir::ReduceOp::ArgMin;
    break;
  }
  std::vector<ir::IterVar> iters;
  for (IndexVar *iv : axes)
    iters.push_back(ir::IterVar{iv->var, iv->extent});
  return typed(arg ? DType::I64 : body.dtype, ir::Reduce::make(op, std::move(iters), body.expr),
               e.span);
}

// ---------------------------------------------------------------------------------------------
// Calls: built-in functions, casts, kernels.

Val KernelChecker::checkCall(const ast::Expr &e, bool whole) {
  if (inExtent) {
    error(ErrorCode::InvalidExtent, e.span, "an extent cannot call " + quote(e.name),
          "extents are expressions of shape symbols and integers");
    return failed();
  }
  const Builtin *b = findBuiltin(e.name);
  if (!b) {
    if (file.positions.count(e.name))
      return checkKernelCall(e, whole);
    std::string hint;
    if (tensors.count(e.name))
      hint = quote(e.name) + " is a tensor: read it with " + e.name + "[...]";
    else {
      std::vector<std::string> names = builtinNames();
      for (const auto &[name, index] : file.available)
        names.push_back(name);
      hint = didYouMean(e.name, names);
    }
    error(ErrorCode::UnknownFunction, e.nameSpan, "unknown function " + quote(e.name), hint);
    return failed();
  }
  // Check every argument first: their errors are independent of the call's.
  std::vector<Val> args;
  bool ok = true;
  for (const ast::ExprPtr &a : e.args) {
    args.push_back(check(*a, whole));
    ok &= args.back().ok;
  }
  size_t arity = 1;
  using K = Builtin::Kind;
  switch (b->kind) {
  case K::MinMax:
  case K::Pow:
    arity = 2;
    break;
  case K::Where:
  case K::Clamp:
    arity = 3;
    break;
  case K::Reduction:
    error(ErrorCode::InvalidReduction, e.span, quote(e.name) + " is a reduction and needs 'for'",
          "write " + e.name + "(x[i] for i)");
    return failed();
  default:
    break;
  }
  if (args.size() != arity) {
    std::string hint;
    if (b->kind == K::MinMax && args.size() == 1)
      hint = "for a reduction write " + e.name + "(x[i] for i)";
    error(ErrorCode::ArgumentCount, e.span,
          quote(e.name) + " takes " + std::to_string(arity) +
              (arity == 1 ? " argument" : " arguments") + " but " + std::to_string(args.size()) +
              (args.size() == 1 ? " was" : " were") + " given",
          hint);
    return failed();
  }
  if (!ok)
    return failed();
  std::string what = quote(e.name);
  auto withShape = [](Val r, const Val &from) {
    r.shape = from.shape;
    r.vars = from.vars;
    return r;
  };

  switch (b->kind) {
  case K::Cast:
    return checkCast(e, b->castTo, std::move(args[0]));
  case K::Math: {
    Val &a = args[0];
    if (a.isLiteral()) {
      if (a.lit == LitKind::Int)
        a.floatValue = double(a.intValue);
      a.lit = LitKind::Float;
      defaultType(a);
    } else if (!isFloat(a.dtype)) {
      error(ErrorCode::FloatRequired, e.span,
            what + " needs a float argument, but " + sourceText(e.args[0]->span) + " is " +
                dtypeStr(a.dtype),
            "convert it: " + e.name + "(f32(" + excerpt(sourceText(e.args[0]->span)) + "))");
      return failed();
    }
    return withShape(typed(a.dtype, ir::Call::make(b->fn, {a.expr}), e.span), a);
  }
  case K::IntOk: {
    Val &a = args[0];
    if (a.isLiteral())
      defaultType(a);
    if (a.dtype == DType::Bool) {
      error(ErrorCode::BoolNotAllowed, e.span, what + " of a bool",
            "convert it to a number first: i64(...)");
      return failed();
    }
    return withShape(typed(a.dtype, ir::Call::make(b->fn, {a.expr}), e.span), a);
  }
  case K::Pow:
    return arith(BinaryOp::Pow, std::move(args[0]), std::move(args[1]), e.span, what);
  case K::MinMax:
  case K::Clamp: {
    std::vector<Val *> ops;
    for (Val &a : args)
      ops.push_back(&a);
    std::optional<DType> t = unify(ops, e.span, what);
    if (!t)
      return failed();
    if (*t == DType::Bool) {
      error(ErrorCode::BoolNotAllowed, e.span, what + " of bool values",
            b->kind == K::Clamp          ? "convert them to numbers first"
            : b->op == ir::BinaryOp::Max ? "use 'or'"
                                         : "use 'and'");
      return failed();
    }
    if (!broadcast(ops, e.span, what))
      return failed();
    ir::Expr r =
        b->kind == K::MinMax
            ? ir::Binary::make(b->op, args[0].expr, args[1].expr)
            : ir::Binary::make(ir::BinaryOp::Min,
                               ir::Binary::make(ir::BinaryOp::Max, args[0].expr, args[1].expr),
                               args[2].expr);
    Val shaped = *std::max_element(args.begin(), args.end(),
                                   [](const Val &x, const Val &y) { return x.rank() < y.rank(); });
    return withShape(typed(*t, r, e.span), shaped);
  }
  case K::Where: {
    Val &c = args[0];
    if (c.isLiteral() || c.dtype != DType::Bool) {
      error(ErrorCode::BoolRequired, e.args[0]->span,
            "the condition of 'where' must be bool, but " + sourceText(e.args[0]->span) + " is " +
                (c.isLiteral() ? std::string("a number") : dtypeStr(c.dtype)),
            "compare it, e.g. where(x > 0, a, b)");
      return failed();
    }
    std::optional<DType> t = unify({&args[1], &args[2]}, e.span, what);
    if (!t)
      return failed();
    if (!broadcast({&args[0], &args[1], &args[2]}, e.span, what))
      return failed();
    Val shaped = *std::max_element(args.begin(), args.end(),
                                   [](const Val &x, const Val &y) { return x.rank() < y.rank(); });
    return withShape(typed(*t, ir::Select::make(args[0].expr, args[1].expr, args[2].expr), e.span),
                     shaped);
  }
  default:
    break;
  }
  TDSL_UNREACHABLE("unhandled built-in");
}

Val KernelChecker::checkCast(const ast::Expr &e, DType to, Val a) {
  a.span = e.span;
  if (a.isLiteral()) {
    // Fold: the literal at its natural precision, converted as the run time would.
    ir::Expr c;
    if (a.lit == LitKind::Int) {
      int64_t v = a.intValue;
      if (to == DType::Bool)
        c = ir::boolImm(v != 0);
      else if (isInt(to))
        c = ir::intImm(wrapInt(to, uint64_t(v)), to);
      else
        c = floatConst(to, roundTo(to, double(v)));
    } else {
      double v = a.floatValue;
      if (to == DType::Bool)
        c = ir::boolImm(v != 0);
      else if (isInt(to))
        c = ir::intImm(runtime::doubleToIntSaturating(v, to), to);
      else
        c = floatConst(to, roundTo(to, v));
    }
    return typed(to, c, e.span);
  }
  if (a.dtype == to)
    return a;
  if (to == DType::F16 || to == DType::BF16)
    a.expr = ir::Cast::make(ir::Type::scalar(DType::F32), toStorage(a, to));
  else if (!(to == DType::F32 && computeType(a.dtype) == DType::F32))
    a.expr = ir::Cast::make(ir::Type::scalar(to), a.expr);
  a.dtype = to;
  return a;
}

Val KernelChecker::checkKernelCall(const ast::Expr &e, bool whole) {
  std::optional<CallPlan> plan = planCall(e);
  if (!plan)
    return failed();
  if (plan->callee->outputs.size() != 1) {
    error(ErrorCode::OutputCountMismatch, e.span,
          quote(e.name) + " returns " + std::to_string(plan->callee->outputs.size()) +
              " outputs; a call inside an expression must return one",
          "assign them to names first: (a, b) = " + e.name + "(...)");
    return failed();
  }
  std::vector<ir::Buffer> outs = emitCall(*plan, {nullptr}, {""});
  const ir::Buffer &buf = outs[0];
  if (buf->shape.empty())
    return typed(buf->dtype, loaded(ir::Access::make(buf, {})), e.span);
  if (whole)
    return wholeTensor(buf, e.span);
  error(ErrorCode::MissingSubscripts, e.span,
        "the result of " + quote(e.name) + " is a " + std::to_string(buf->shape.size()) +
            "-d tensor, used without subscripts in an index-form expression",
        "assign it to a name first (t = " + e.name + "(...)), then read t[...]");
  return failed();
}

} // namespace tdsl::frontend::sema
