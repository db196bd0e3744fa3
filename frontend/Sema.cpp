// Semantic analysis: AST -> checked tensor IR. This file holds the kernel and statement level:
// signatures and shape symbols, single assignment, index extents, the bounds proofs and calls
// (inlined by re-instantiating the callee's already checked IR). Expressions are in
// SemaExpr.cpp; the design is described at the top of SemaChecker.h.
//
// Error recovery: every statement is checked on its own. When one fails, the names it defines
// are "poisoned": later uses fail silently, so one mistake gives one error. A kernel with any
// error is left out of the module (calls to it are then silent too).
#include "frontend/Sema.h"

#include "frontend/SemaChecker.h"
#include "ir/IRVisitor.h"
#include "ir/Verifier.h"
#include "support/Check.h"
#include "support/DidYouMean.h"

#include <algorithm>
#include <cmath>

namespace tdsl::frontend {

namespace sema {

namespace {

/// The canonical form of an affine i64 expression (so extents and dims print alike).
ir::Expr normalize(const ir::Expr &e) {
  std::optional<ir::AffineExpr> a = ir::toAffine(e);
  TDSL_CHECK(a) << "a shape expression is not affine";
  return ir::toExpr(*a);
}

/// Shape arithmetic stays far from overflow: every coefficient and constant of a dim or an
/// extent, and of the forms inside its divisions, is at most 2^40 in magnitude (about 10^12
/// elements).
bool tooLarge(const ir::AffineExpr &a) {
  constexpr int64_t limit = int64_t(1) << 40;
  auto big = [](int64_t v) { return v > limit || v < -limit; };
  if (big(a.constant))
    return true;
  for (const auto &[atom, c] : a.terms) {
    if (big(c))
      return true;
    if (atom.kind() == ir::Atom::Kind::Product) {
      for (const ir::Atom &f : atom.factors())
        if (tooLarge(ir::AffineExpr::of(f)))
          return true;
    } else if (!atom.isVar() && (tooLarge(atom.num()) || tooLarge(atom.den()))) {
      return true;
    }
  }
  return false;
}

/// Every extent of the reductions inside an expression.
class ReduceExtents : public ir::IRVisitor {
public:
  std::vector<ir::Expr> extents;

protected:
  void visitReduce(const ir::Reduce *n) override {
    for (const ir::IterVar &iv : n->axes)
      extents.push_back(iv.extent);
    ir::IRVisitor::visitReduce(n);
  }
};

/// A bound on the numbers in a form: its coefficients times those inside its atoms. Doubles
/// suffice for an estimate with this much margin.
double magnitude(const ir::AffineExpr &a) {
  double m = std::fabs(double(a.constant));
  for (const auto &[atom, c] : a.terms) {
    double inner = 1;
    if (atom.kind() == ir::Atom::Kind::Product)
      for (const ir::Atom &f : atom.factors())
        inner *= std::max(1.0, magnitude(ir::AffineExpr::of(f)));
    else if (!atom.isVar())
      inner = std::max({1.0, magnitude(atom.num()), magnitude(atom.den())});
    m += std::fabs(double(c)) * inner;
  }
  return m;
}

/// Whether every number the prover will see stays far from overflow: the bound on the
/// magnitudes of the bounds it computes over the domain.
bool fitsProver(const ir::AffineExpr &sub, const ir::AffineExpr &dim,
                const std::vector<ir::IterVar> &domain) {
  double extent = 0;
  for (const ir::IterVar &iv : domain)
    extent = std::max(extent, magnitude(*ir::toAffine(iv.extent)));
  return magnitude(sub) * (extent + 1) + magnitude(dim) + 1 < 0x1p60;
}

/// Re-instantiates a callee's IR in the caller: symbols become the caller's expressions,
/// buffers the caller's, and every index variable a fresh one.
class Inliner : public ir::IRMutator {
public:
  std::map<const ir::VarNode *, ir::Expr> vars;
  std::map<const ir::BufferNode *, ir::Buffer> buffers;

  ir::Expr shape(const ir::Expr &e) { return normalize(mutate(e)); }

protected:
  ir::Expr visitVarRef(const ir::VarRef *n, const ir::Expr &) override {
    auto it = vars.find(n->var.get());
    TDSL_CHECK(it != vars.end()) << "unbound variable " << n->var->name << " in an inlined kernel";
    return it->second;
  }
  ir::Expr visitAccess(const ir::Access *n, const ir::Expr &) override {
    auto it = buffers.find(n->buffer.get());
    TDSL_CHECK(it != buffers.end()) << "unknown buffer " << n->buffer->name << " when inlining";
    std::vector<ir::Expr> indices;
    for (const ir::Expr &i : n->indices)
      indices.push_back(mutate(i));
    return ir::Access::make(it->second, std::move(indices), mutate(n->fallback));
  }
  ir::Expr visitReduce(const ir::Reduce *n, const ir::Expr &) override {
    std::vector<ir::IterVar> axes;
    for (const ir::IterVar &iv : n->axes) {
      ir::Var v = ir::makeVar(iv.var->name, iv.var->type, iv.var->kind);
      vars[iv.var.get()] = ir::ref(v);
      axes.push_back(ir::IterVar{v, shape(iv.extent)});
    }
    return ir::Reduce::make(n->op, std::move(axes), mutate(n->body));
  }
};

/// The tensor a whole-array value reads unchanged (`t`, or a call's result), or null.
ir::Buffer wholeBufferOf(const Val &v) {
  ir::Expr e = v.expr;
  if (const ir::Cast *c = ir::as<ir::Cast>(e))
    if (c->a->type.dtype == DType::F16 || c->a->type.dtype == DType::BF16)
      e = c->a;
  const ir::Access *a = ir::as<ir::Access>(e);
  if (!a || a->fallback || a->indices.size() != v.vars.size() || a->buffer->dtype != v.dtype)
    return nullptr;
  for (size_t j = 0; j < v.vars.size(); ++j) {
    const ir::VarRef *r = ir::as<ir::VarRef>(a->indices[j]);
    if (!r || r->var != v.vars[j] || !(a->buffer->shape.size() == v.shape.size()))
      return nullptr;
  }
  return a->buffer;
}

TensorEntry localEntry(ir::Buffer buffer, const SourceSpan &span) {
  TensorEntry e;
  e.kind = TensorEntry::Kind::Local;
  e.buffer = std::move(buffer);
  e.assigned = true;
  e.span = span;
  return e;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Helpers.

std::string quote(std::string_view s) {
  constexpr size_t kMax = 64;
  if (s.size() <= kMax)
    return "'" + std::string(s) + "'";
  size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80)
    --cut;
  return "'" + std::string(s.substr(0, cut)) + "...' (" + std::to_string(s.size()) + " bytes)";
}

std::string shapeString(const std::vector<Dim> &shape) {
  std::string s = "[";
  for (size_t j = 0; j < shape.size(); ++j)
    s += (j ? ", " : "") + shape[j].affine.str();
  return s + "]";
}

std::string didYouMean(const std::string &name, const std::vector<std::string> &candidates) {
  std::string best = nearestName(name, candidates);
  return best.empty() ? std::string() : "did you mean " + quote(best) + "?";
}

KernelChecker::KernelChecker(FileState &file, const ast::Kernel &kernel, size_t position,
                             DiagnosticEngine &diags)
    : file(file), kernel(kernel), position(position), diags(diags) {}

void KernelChecker::error(ErrorCode code, const SourceSpan &span, std::string message,
                          std::string hint) {
  if (speculative > 0) {
    ++speculativeErrors;
    return;
  }
  if (file.errors >= kMaxErrors) {
    diags.note(span, "too many errors; stopping here");
    throw TooManyErrors{};
  }
  ++file.errors;
  diags.error(code, span, std::move(message), std::move(hint));
}

size_t KernelChecker::errorCount() const { return file.errors; }

std::string KernelChecker::sourceText(const SourceSpan &span) const {
  if (!span.valid() || span.begin > span.end || span.end > span.file->text.size())
    return "";
  return span.file->text.substr(span.begin, span.end - span.begin);
}

Dim KernelChecker::dimOf(const ir::Expr &e) const {
  std::optional<ir::AffineExpr> a = ir::toAffine(e);
  TDSL_CHECK(a) << "a tensor dim is not affine";
  return Dim{e, *a};
}

ir::Var KernelChecker::freshVar(const std::string &name) {
  return ir::makeVar(name, ir::Type::i64(), ir::VarKind::Index);
}

std::vector<std::string> KernelChecker::visibleNames() const {
  std::vector<std::string> names;
  for (const auto &[name, t] : tensors)
    if (name.find('.') == std::string::npos)
      names.push_back(name);
  for (const auto &[name, v] : symbols)
    names.push_back(name);
  for (size_t k = scopes.size(); k-- > 0;) {
    for (const IndexVar *iv : scopes[k].vars)
      names.push_back(iv->name);
    if (scopes[k].barrier)
      break;
  }
  return names;
}

std::string KernelChecker::uniqueBufferName(const std::string &base) {
  std::string name = base;
  for (int n = 2; bufferNames.count(name); ++n)
    name = base + "." + std::to_string(n);
  bufferNames.insert(name);
  return name;
}

ir::Expr KernelChecker::toStorage(const Val &v, DType to) {
  if (to == DType::F16 || to == DType::BF16) {
    // A value read from storage of this very dtype needs no round trip.
    if (const ir::Cast *c = ir::as<ir::Cast>(v.expr))
      if (c->a->type == ir::Type::scalar(to))
        return c->a;
    return ir::Cast::make(ir::Type::scalar(to), v.expr);
  }
  TDSL_CHECK(v.expr->type == ir::Type::scalar(to))
      << "storing " << v.expr->type.str() << " as " << dtypeName(to);
  return v.expr;
}

// ---------------------------------------------------------------------------------------------
// The kernel's signature.

std::optional<ir::Expr> KernelChecker::outputDimExpr(const ast::Expr &e,
                                                     const std::string &output) {
  switch (e.kind) {
  case ast::Expr::Kind::IntLit:
    return ir::intImm(e.intValue);
  case ast::Expr::Kind::Name: {
    auto it = symbols.find(e.name);
    if (it != symbols.end())
      return ir::ref(it->second);
    if (tensors.count(e.name)) {
      error(ErrorCode::WrongKindOfName, e.span,
            quote(e.name) + " is a parameter, not a shape symbol",
            "an output's dims are expressions of the shape symbols of the inputs");
      return std::nullopt;
    }
    error(ErrorCode::InvalidDim, e.span,
          "shape symbol " + quote(e.name) + " of output " + quote(output) +
              " does not appear as a dim of any input",
          "every symbol is bound from an input's shape when the kernel is called");
    return std::nullopt;
  }
  case ast::Expr::Kind::Unary:
    if (e.unaryOp == ast::UnaryOp::Neg) {
      auto a = outputDimExpr(*e.args[0], output);
      return a ? std::optional(ir::Unary::make(ir::UnaryOp::Neg, *a)) : std::nullopt;
    }
    break;
  case ast::Expr::Kind::Binary: {
    ast::BinaryOp op = e.binaryOp;
    if (op != ast::BinaryOp::Add && op != ast::BinaryOp::Sub && op != ast::BinaryOp::Mul &&
        op != ast::BinaryOp::FloorDiv && op != ast::BinaryOp::Mod)
      break;
    auto a = outputDimExpr(*e.args[0], output);
    auto b = outputDimExpr(*e.args[1], output);
    if (!a || !b)
      return std::nullopt;
    if (op == ast::BinaryOp::FloorDiv || op == ast::BinaryOp::Mod) {
      std::optional<ir::AffineExpr> d = ir::toAffine(*b);
      if (d && d->isConstant() && d->constant <= 0) {
        badDivisor(e, d->constant);
        return std::nullopt;
      }
    }
    return ir::Binary::make(irOp(op), *a, *b);
  }
  default:
    break;
  }
  error(ErrorCode::InvalidDim, e.span,
        "an output's dim must be an integer expression of shape symbols: +, -, *, // and % of "
        "symbols and integers",
        "for example N, 2 * N, H - R + 1, H // 2 or H * W");
  return std::nullopt;
}

void KernelChecker::badDivisor(const ast::Expr &division, int64_t divisor) {
  const ast::Expr &den = *division.args[1];
  error(ErrorCode::NonPositiveDivisor, den.span,
        "the divisor of " + std::string(ast::binaryOpSpelling(division.binaryOp)) + " in " +
            sourceText(division.span) + " is " + std::to_string(divisor) +
            ", but a shape expression divides only by positive integers or shape symbols",
        divisor == 0 ? "x // 0 and x % 0 are 0 in tdsl; divide by a positive integer or a symbol"
                     : "divide by a positive integer or a symbol, and negate where you mean it");
}

ir::Expr KernelChecker::checkOutputDim(const ast::Expr &e, const std::string &output) {
  std::optional<ir::Expr> d = outputDimExpr(e, output);
  if (!d)
    return nullptr;
  std::optional<ir::AffineExpr> a = ir::toAffine(*d);
  if (!a || tooLarge(*a)) {
    error(ErrorCode::NumbersTooLarge, e.span,
          "the dim " + sourceText(e.span) + " of output " + quote(output) +
              " has numbers too large",
          "the numbers in a dim are limited to 2^40");
    return nullptr;
  }
  if (a->isConstant() && a->constant < 0) {
    error(ErrorCode::InvalidDim, e.span,
          "the dim " + sourceText(e.span) + " of output " + quote(output) + " is negative (" +
              a->str() + ")");
    return nullptr;
  }
  return ir::toExpr(*a);
}

void KernelChecker::declareSymbolsIn(const ast::Expr &e) {
  if (e.kind == ast::Expr::Kind::Name && !symbols.count(e.name)) {
    ir::Var s = ir::makeVar(e.name, ir::Type::i64(), ir::VarKind::Symbol);
    symbols.emplace(e.name, s);
    out.symbols.push_back(s);
    symbolAssumptions.push_back(ir::AffineExpr{0, {{s, 1}}});
  }
  for (const ast::ExprPtr &a : e.args)
    declareSymbolsIn(*a);
}

void KernelChecker::declareSignature() {
  out.name = kernel.name;
  out.span = kernel.span;
  std::map<std::string, SourceSpan> seen;
  auto firstDeclaration = [&](const ast::Param &p, const char *what) {
    auto [it, inserted] = seen.emplace(p.name, p.span);
    if (!inserted) {
      error(ErrorCode::Redefinition, p.span,
            std::string(what) + " " + quote(p.name) + " is declared twice",
            "every parameter and output needs its own name");
      diags.note(it->second, "first declared here");
    }
    return inserted;
  };

  for (const ast::Param &p : kernel.params) {
    if (!firstDeclaration(p, "parameter"))
      continue;
    std::vector<ir::Expr> dims;
    bool ok = true;
    for (const ast::ExprPtr &d : p.type.dims) {
      if (d->kind == ast::Expr::Kind::IntLit) {
        if (tooLarge(ir::AffineExpr{d->intValue, {}})) {
          error(ErrorCode::NumbersTooLarge, d->span,
                "the dim " + sourceText(d->span) + " is too large", "dims are limited to 2^40");
          ok = false;
        }
        dims.push_back(ir::intImm(d->intValue));
      } else if (d->kind == ast::Expr::Kind::Name) {
        declareSymbolsIn(*d);
        dims.push_back(ir::ref(symbols.at(d->name)));
      } else {
        error(ErrorCode::InvalidDim, d->span, "an input's dim must be an integer or a shape symbol",
              "dims such as N - 1 or H // 2 are allowed only in outputs");
        ok = false;
        declareSymbolsIn(*d); // So that the rest of the kernel does not report them.
      }
    }
    TensorEntry t;
    t.kind = TensorEntry::Kind::Input;
    t.assigned = true;
    t.span = p.span;
    if (ok) {
      t.buffer =
          ir::makeBuffer(p.name, p.type.dtype, std::move(dims), ir::BufferRole::Input, p.span);
      out.inputs.push_back(t.buffer);
    } else {
      t.poisoned = true;
    }
    bufferNames.insert(p.name);
    tensors.emplace(p.name, std::move(t));
  }
  for (const ast::Param &p : kernel.params)
    if (symbols.count(p.name) && seen.count(p.name) && seen[p.name].begin == p.span.begin)
      error(ErrorCode::NameClash, p.span, quote(p.name) + " is both a parameter and a shape symbol",
            "rename one of them; by convention shape symbols are upper case");

  for (const ast::Param &o : kernel.outputs) {
    if (!firstDeclaration(o, "output"))
      continue;
    if (symbols.count(o.name))
      error(ErrorCode::NameClash, o.span, quote(o.name) + " is both an output and a shape symbol",
            "rename one of them");
    std::vector<ir::Expr> dims;
    bool ok = true;
    for (const ast::ExprPtr &d : o.type.dims) {
      ir::Expr e = checkOutputDim(*d, o.name);
      ok &= e != nullptr;
      if (e)
        dims.push_back(e);
    }
    TensorEntry t;
    t.kind = TensorEntry::Kind::Output;
    t.span = o.span;
    if (ok) {
      t.buffer = ir::makeBuffer(o.name, o.type.dtype, dims, ir::BufferRole::Output, o.span);
      out.outputs.push_back(t.buffer);
      for (const ir::Expr &d : dims)
        if (!ir::toAffine(d)->isConstant())
          outputAssumptions.push_back(*ir::toAffine(d));
    } else {
      t.poisoned = true;
    }
    bufferNames.insert(o.name);
    tensors.emplace(o.name, std::move(t));
  }
}

std::optional<ir::Kernel> KernelChecker::run() {
  size_t before = errorCount();
  for (const ast::Stmt &s : kernel.body)
    for (const ast::Stmt::Target &t : s.targets)
      laterDefinitions.emplace(t.name, t.span);
  declareSignature();
  for (const ast::Stmt &s : kernel.body)
    checkStatement(s);
  for (const ast::Param &o : kernel.outputs) {
    auto it = tensors.find(o.name);
    if (it != tensors.end() && it->second.kind == TensorEntry::Kind::Output &&
        !it->second.assigned && !it->second.poisoned)
      error(ErrorCode::OutputNeverAssigned, o.span,
            "output " + quote(o.name) + " is never assigned",
            "define it with a statement: " + o.name + " = ... or " + o.name + "[i, ...] = ...");
  }
  // A statement can fail silently (it used a poisoned name, or called a kernel with errors):
  // the kernel is then incomplete even when none of its own errors was reported.
  if (errorCount() > before || anyStatementFailed)
    return std::nullopt;
  return std::move(out);
}

// ---------------------------------------------------------------------------------------------
// Statements.

KernelChecker::Target KernelChecker::prepareTarget(const ast::Stmt::Target &t) {
  Target r;
  r.name = t.name;
  r.span = t.span;
  if (symbols.count(t.name)) {
    error(ErrorCode::AssignToReadOnly, t.span,
          quote(t.name) + " is a shape symbol and cannot be assigned", "define a new name");
    return r;
  }
  auto it = tensors.find(t.name);
  if (it == tensors.end()) {
    r.kind = Target::Kind::Local;
    return r;
  }
  TensorEntry &e = it->second;
  switch (e.kind) {
  case TensorEntry::Kind::Input:
    error(ErrorCode::AssignToReadOnly, t.span, "cannot assign to input " + quote(t.name),
          "inputs are read-only; define a new name, e.g. " + t.name + "2 = ...");
    return r;
  case TensorEntry::Kind::Output:
    if (e.assigned) {
      error(ErrorCode::Redefinition, t.span, "output " + quote(t.name) + " is assigned twice",
            "every name is defined once (single assignment)");
      if (e.assignedAt.valid())
        diags.note(e.assignedAt, "first assigned here");
      return r;
    }
    if (e.poisoned) { // Its declaration failed.
      e.assigned = true;
      return r;
    }
    r.kind = Target::Kind::Output;
    r.output = e.buffer;
    return r;
  case TensorEntry::Kind::Local:
    error(ErrorCode::Redefinition, t.span, quote(t.name) + " is already defined",
          "every name is defined once (single assignment); use a new name");
    diags.note(e.span, "first defined here");
    return r;
  }
  return r;
}

void KernelChecker::checkStatement(const ast::Stmt &s) {
  indexStorage.clear();
  scopes.clear();
  pending.clear();
  pendingGathers.clear();
  currentTargets.clear();
  if (!s.value || s.targets.empty())
    return;
  size_t before = errorCount();
  statementErrors = before;
  const ast::Expr &value = *s.value;
  bool kernelCall = value.kind == ast::Expr::Kind::Call && !isBuiltinName(value.name) &&
                    file.positions.count(value.name);

  std::vector<Target> targets;
  std::set<std::string> names;
  for (const ast::Stmt::Target &t : s.targets) {
    if (!names.insert(t.name).second) {
      error(ErrorCode::Redefinition, t.span,
            quote(t.name) + " is assigned twice in this statement");
      targets.push_back(Target{Target::Kind::Invalid, t.name, t.span, nullptr});
      continue;
    }
    targets.push_back(prepareTarget(t));
    currentTargets.insert(t.name);
  }

  bool ok = false;
  if (kernelCall && s.indexed) {
    error(ErrorCode::InvalidTargets, s.targets[0].span,
          "a kernel call defines whole tensors; it cannot have index variables",
          "write " + s.targets[0].name + " = " + value.name + "(...)");
  } else if (kernelCall) {
    ok = checkCallStatement(s, targets);
  } else if (s.tuple || s.targets.size() > 1) {
    // The parser reports a tuple assigned something other than a call.
    if (value.kind == ast::Expr::Kind::Call)
      error(ErrorCode::InvalidTargets, value.span,
            "only a kernel call can define several names; " + quote(value.name) +
                " is a built-in function");
  } else if (s.indexed) {
    ok = checkIndexStatement(s, targets[0]);
  } else {
    ok = checkWholeStatement(s, targets[0]);
  }
  resolveBounds();

  bool failed = !ok || errorCount() > before;
  anyStatementFailed |= failed;
  for (const Target &t : targets) {
    if (t.kind == Target::Kind::Invalid)
      continue;
    TensorEntry &e = tensors[t.name];
    if (failed) {
      e.poisoned = true;
      e.assigned = true;
      if (t.kind == Target::Kind::Local) {
        e.kind = TensorEntry::Kind::Local;
        e.span = t.span;
      }
    }
    if (t.kind == Target::Kind::Output)
      e.assignedAt = s.span;
  }
  scopes.clear();
  pending.clear();
  indexStorage.clear();
  currentTargets.clear();
}

bool KernelChecker::checkIndexStatement(const ast::Stmt &s, const Target &target) {
  size_t before = errorCount();
  scopes.push_back(Scope{});
  size_t rank = target.kind == Target::Kind::Output ? target.output->shape.size() : 0;
  if (target.kind == Target::Kind::Output && s.indices.size() != rank)
    error(ErrorCode::RankMismatch, s.targets[0].span,
          "output " + quote(target.name) + " has " + std::to_string(rank) +
              (rank == 1 ? " dim" : " dims") + " but the statement gives " +
              std::to_string(s.indices.size()) + (s.indices.size() == 1 ? " index" : " indices"),
          "give one index variable per dim");
  for (size_t j = 0; j < s.indices.size(); ++j) {
    IndexVar *iv = declareIndex(s.indices[j], /*reduction=*/false);
    if (target.kind != Target::Kind::Output || j >= rank)
      continue;
    const ir::Expr &dim = target.output->shape[j];
    if (!iv->fixedExtent) {
      iv->fixedExtent = dim;
    } else if (*ir::toAffine(iv->fixedExtent) != *ir::toAffine(dim)) {
      error(ErrorCode::ConflictingExtents, s.indices[j].extent->span,
            "the extent of " + quote(iv->name) + " (" + ir::toAffine(iv->fixedExtent)->str() +
                ") differs from dim " + std::to_string(j) + " of output " + quote(target.name) +
                " (" + ir::toAffine(dim)->str() + ")",
            "an output is written whole; compute the part in a new tensor first");
    }
  }
  std::vector<IndexVar *> vars = scopes.back().vars;
  Val v = check(*s.value, /*whole=*/false);
  bool extentsOk = closeScope();
  resolveBounds();
  if (!v.ok || !extentsOk || target.kind == Target::Kind::Invalid || errorCount() > before)
    return false;
  TDSL_CHECK(v.rank() == 0) << "an index-form value with a shape";

  ir::Buffer buffer;
  std::vector<ir::IterVar> iters;
  std::vector<ir::Expr> shape;
  for (IndexVar *iv : vars) {
    iters.push_back(ir::IterVar{iv->var, iv->extent});
    shape.push_back(iv->extent);
  }
  if (target.kind == Target::Kind::Output) {
    buffer = target.output;
    if (v.isLiteral()) {
      if (!adopt(v, buffer->dtype, nullptr, v.span))
        return false;
    } else if (v.dtype != buffer->dtype && !retypeLiteralOnly(v, buffer->dtype)) {
      error(ErrorCode::ValueDTypeMismatch, s.value->span,
            "the value is " + std::string(dtypeName(v.dtype)) + " but output " +
                quote(target.name) + " is " + std::string(dtypeName(buffer->dtype)),
            "convert it: " + target.name + "[...] = " + std::string(dtypeName(buffer->dtype)) +
                "(...)");
      return false;
    }
    tensors[target.name].assigned = true;
  } else {
    if (v.isLiteral())
      defaultType(v);
    bufferNames.insert(target.name);
    buffer = ir::makeBuffer(target.name, v.dtype, shape, ir::BufferRole::Intermediate, target.span);
    tensors[target.name] = localEntry(buffer, target.span);
  }
  out.defs.push_back(ir::Definition{buffer, std::move(iters), toStorage(v, buffer->dtype), s.span});
  return true;
}

bool KernelChecker::checkWholeStatement(const ast::Stmt &s, const Target &target) {
  size_t before = errorCount();
  Val v = check(*s.value, /*whole=*/true);
  resolveBounds();
  if (!v.ok || target.kind == Target::Kind::Invalid || errorCount() > before)
    return false;
  return defineFromVal(target, std::move(v), s.span);
}

bool KernelChecker::defineFromVal(const Target &target, Val v, const SourceSpan &stmtSpan) {
  std::vector<ir::IterVar> iters;
  ir::Buffer buffer;
  if (target.kind == Target::Kind::Output) {
    buffer = target.output;
    if (v.isLiteral()) {
      if (!adopt(v, buffer->dtype, nullptr, v.span))
        return false;
    } else if (v.dtype != buffer->dtype && !retypeLiteralOnly(v, buffer->dtype)) {
      error(ErrorCode::ValueDTypeMismatch, v.span,
            "the value is " + std::string(dtypeName(v.dtype)) + " but output " +
                quote(target.name) + " is " + std::string(dtypeName(buffer->dtype)),
            "convert it: " + target.name + " = " + std::string(dtypeName(buffer->dtype)) + "(...)");
      return false;
    }
    std::vector<Dim> dims;
    for (const ir::Expr &d : buffer->shape)
      dims.push_back(dimOf(d));
    bool fits = v.rank() <= dims.size();
    for (size_t j = 0; fits && j < v.rank(); ++j) {
      const Dim &d = dims[dims.size() - v.rank() + j];
      fits = v.shape[j].affine == d.affine || v.shape[j].isOne();
    }
    if (!fits) {
      error(ErrorCode::BroadcastMismatch, v.span,
            "the value's shape " + shapeString(v.shape) + " does not broadcast to the shape " +
                shapeString(dims) + " of output " + quote(target.name),
            "aligned from the right, each dim must equal the output's or be 1");
      return false;
    }
    std::vector<std::pair<ir::Var, ir::Expr>> repl;
    for (size_t p = 0; p < dims.size(); ++p)
      iters.push_back(ir::IterVar{freshVar("d" + std::to_string(p)), dims[p].expr});
    for (size_t j = 0; j < v.rank(); ++j) {
      size_t p = dims.size() - v.rank() + j;
      repl.emplace_back(v.vars[j], v.shape[j].isOne() && !dims[p].isOne() ? ir::intImm(0)
                                                                          : ir::ref(iters[p].var));
    }
    v.expr = ir::substitute(v.expr, repl);
    tensors[target.name].assigned = true;
  } else {
    if (v.isLiteral())
      defaultType(v);
    std::vector<ir::Expr> shape;
    for (size_t j = 0; j < v.rank(); ++j) {
      iters.push_back(ir::IterVar{v.vars[j], v.shape[j].expr});
      shape.push_back(v.shape[j].expr);
    }
    std::string name =
        target.kind == Target::Kind::Local ? target.name : uniqueBufferName(target.name);
    bufferNames.insert(name);
    buffer = ir::makeBuffer(name, v.dtype, shape, ir::BufferRole::Intermediate, target.span);
    if (target.kind == Target::Kind::Local)
      tensors[target.name] = localEntry(buffer, target.span);
  }
  out.defs.push_back(
      ir::Definition{buffer, std::move(iters), toStorage(v, buffer->dtype), stmtSpan});
  lastDefined = buffer;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Index variables, extents and bounds.

IndexVar *KernelChecker::declareIndex(const ast::IndexDecl &decl, bool reduction) {
  auto owned = std::make_unique<IndexVar>();
  IndexVar *iv = owned.get();
  indexStorage.push_back(std::move(owned));
  iv->name = decl.name;
  iv->span = decl.span;
  iv->var = ir::makeVar(decl.name, ir::Type::i64(), ir::VarKind::Index);
  iv->reduction = reduction;
  const Scope &scope = scopes.back(); // Not used after checkExtent, which grows `scopes`.
  bool duplicate = std::any_of(scope.vars.begin(), scope.vars.end(),
                               [&](const IndexVar *o) { return o->name == decl.name; });
  // A repeated name is left out of the scope, so that its uses resolve to the first one and
  // cause no further errors; the scope remembers the failure.
  bool listed = true;
  if (duplicate) {
    error(ErrorCode::Redefinition, decl.span,
          "index variable " + quote(decl.name) + " is declared twice",
          "each index variable needs its own name");
    iv->failed = true;
    listed = false;
  } else if (lookupIndex(decl.name)) {
    error(ErrorCode::Redefinition, decl.span,
          "index variable " + quote(decl.name) + " is already in use in this statement",
          "a reduction's variables must be fresh names");
    iv->failed = true;
    listed = false;
  } else if (tensors.count(decl.name)) {
    error(ErrorCode::NameClash, decl.span, quote(decl.name) + " is already the name of a tensor",
          "an index variable needs a fresh name");
    iv->failed = true;
  } else if (symbols.count(decl.name)) {
    error(ErrorCode::NameClash, decl.span, quote(decl.name) + " is a shape symbol",
          "an index variable needs a fresh name");
    iv->failed = true;
  }
  if (decl.extent && !reduction) {
    iv->fixedExtent = checkExtent(*decl.extent, decl.name);
    if (!iv->fixedExtent)
      iv->failed = true;
  }
  if (listed)
    scopes.back().vars.push_back(iv);
  else
    scopes.back().failed = true;
  return iv;
}

ir::Expr KernelChecker::checkExtent(const ast::Expr &e, const std::string &varName, bool indices) {
  // Index variables are hidden behind a barrier: an extent is a function of the symbols. A
  // reduction's bound sees the index variables around it.
  scopes.push_back(Scope{!indices, {}, false});
  bool saved = inExtent;
  inExtent = true;
  Val v = check(e, /*whole=*/false);
  inExtent = saved;
  scopes.pop_back();
  if (!v.ok)
    return nullptr;
  if (v.lit == LitKind::Int)
    return ir::intImm(v.intValue);
  std::optional<ir::AffineExpr> a;
  if (!v.isLiteral() && v.dtype == DType::I64)
    a = ir::toAffine(v.expr);
  if (a && tooLarge(*a)) {
    error(ErrorCode::NumbersTooLarge, e.span,
          "the extent of " + quote(varName) + " has numbers too large",
          "the numbers in an extent are limited to 2^40");
    return nullptr;
  }
  if (!a) {
    error(ErrorCode::InvalidExtent, e.span,
          "the extent of " + quote(varName) + " must be an integer expression of shape symbols " +
              (indices ? "and index variables (+, -, *, // and % of symbols and integers, plus "
                         "index variables as plain terms), but it is "
                       : "(+, -, *, // and % of symbols and integers), but it is ") +
              sourceText(e.span),
          indices ? "for example N, N - 1, j + 1 or j - K"
                  : "for example N, N - 1, 2 * N + 1 or H // 2");
    return nullptr;
  }
  // Triangular bounds stay linear in the index variables: the bounds prover and the loops
  // handle `j + c`, not `j * j` or `j // 2`.
  for (const auto &[atom, c] : a->terms) {
    if (atom.isVar())
      continue;
    for (const Scope &scope : scopes)
      for (const IndexVar *iv : scope.vars)
        if (atom.mentions(iv->var)) {
          error(ErrorCode::InvalidExtent, e.span,
                "the bound of " + quote(varName) + " uses index variable " + quote(iv->name) +
                    " inside a product, '//' or '%'",
                "a bound is an index variable plus or minus shape symbols and integers, as in "
                "for k <= j or for k < j - K");
          return nullptr;
        }
  }
  return ir::toExpr(*a);
}

namespace {
/// The first name in `e` (outside subscripts' tensors: names only) that is one of `axes`.
const ast::IndexDecl *namedAxis(const ast::Expr &e, const std::vector<ast::IndexDecl> &axes) {
  if (e.kind == ast::Expr::Kind::Name)
    for (const ast::IndexDecl &d : axes)
      if (d.name == e.name)
        return &d;
  for (const ast::ExprPtr &arg : e.args)
    if (arg)
      if (const ast::IndexDecl *d = namedAxis(*arg, axes))
        return d;
  return nullptr;
}
} // namespace

ir::Expr KernelChecker::checkReduceBound(const ast::IndexDecl &decl,
                                         const std::vector<ast::IndexDecl> &axes) {
  if (const ast::IndexDecl *own = namedAxis(*decl.extent, axes)) {
    std::string which =
        own->name == decl.name ? "its own variable" : "another variable of the same reduction";
    error(ErrorCode::ReductionBoundOwnVariable, decl.extent->span,
          "the bound of " + quote(decl.name) + " names " + quote(own->name) + ", " + which,
          "a bound may use the statement's index variables (for k <= j) and those of enclosing "
          "reductions; nest the reductions for a bound on another reduction variable");
    return nullptr;
  }
  ir::Expr extent = checkExtent(*decl.extent, decl.name, /*indices=*/true);
  if (!extent || !decl.inclusive)
    return extent;
  return normalize(ir::add(extent, ir::intImm(1)));
}

IndexVar *KernelChecker::lookupIndex(const std::string &name, bool *hidden) const {
  bool crossed = false;
  for (size_t k = scopes.size(); k-- > 0;) {
    for (IndexVar *iv : scopes[k].vars)
      if (iv->name == name) {
        if (!crossed)
          return iv;
        if (hidden) {
          *hidden = true;
          iv->sawFailedUse = true; // Its misuse is reported; "cannot infer" would repeat it.
        }
        return nullptr;
      }
    if (scopes[k].barrier)
      crossed = true;
  }
  return nullptr;
}

bool KernelChecker::closeScope() {
  Scope scope = std::move(scopes.back());
  scopes.pop_back();
  bool ok = !scope.failed;
  for (IndexVar *iv : scope.vars) {
    if (iv->failed) {
      ok = false;
      continue;
    }
    if (iv->fixedExtent) {
      iv->extent = iv->fixedExtent;
      continue;
    }
    if (iv->uses.empty()) {
      // After another error in the statement, a missing extent is most likely its echo (a
      // use the failed expression would have provided).
      if (!iv->sawFailedUse && errorCount() == statementErrors)
        error(ErrorCode::CannotInferExtent, iv->span, "cannot infer the extent of " + iv->name,
              "give it an explicit extent (" + iv->name +
                  " < N), or use it alone as a subscript of a tensor, as in x[" + iv->name + "]");
      iv->failed = true;
      ok = false;
      continue;
    }
    const IndexVar::Use &first = iv->uses.front();
    for (const IndexVar::Use &u : iv->uses) {
      if (u.dim.affine == first.dim.affine)
        continue;
      error(ErrorCode::ConflictingExtents, u.span,
            "conflicting extents for " + iv->name + ": " + first.what + " gives " +
                first.dim.affine.str() + " but " + u.what + " gives " + u.dim.affine.str(),
            "give " + iv->name + " an explicit extent (" + iv->name + " < ...), or make the " +
                "shapes agree");
      diags.note(first.span, "the extent " + first.dim.affine.str() + " comes from here");
      iv->failed = true;
      ok = false;
      break;
    }
    if (!iv->failed)
      iv->extent = normalize(first.dim.expr);
  }
  return ok;
}

ir::Proof KernelChecker::prove(const ir::AffineExpr &e, const std::vector<ir::IterVar> &domain,
                               const std::vector<ir::AffineExpr> &extra) {
  // Weakest assumptions first, so that a kernel records only the ones its proofs need: callers
  // must then re-establish them for an inlined call (see planCall).
  std::vector<ir::AffineExpr> assumptions = extra;
  ir::Proof p = ir::proveNonNegative(e, domain, assumptions);
  if (p.proved)
    return p;
  assumptions.insert(assumptions.end(), symbolAssumptions.begin(), symbolAssumptions.end());
  p = ir::proveNonNegative(e, domain, assumptions);
  if (p.proved) {
    usedSymbols = true;
    return p;
  }
  if (outputAssumptions.empty())
    return p;
  assumptions.insert(assumptions.end(), outputAssumptions.begin(), outputAssumptions.end());
  ir::Proof withOutputs = ir::proveNonNegative(e, domain, assumptions);
  if (!withOutputs.proved)
    return p;
  usedSymbols = true;
  usedOutputDims = true;
  return withOutputs;
}

void KernelChecker::resolveBounds() {
  resolveGathers();
  std::vector<PendingAccess> work = std::move(pending);
  pending.clear();
  for (const PendingAccess &p : work) {
    std::vector<ir::IterVar> domain;
    std::vector<ir::AffineExpr> extra;
    bool ready = true;
    for (IndexVar *iv : p.domain) {
      if (iv->failed || !iv->extent) {
        ready = false;
        break;
      }
      domain.push_back(ir::IterVar{iv->var, iv->extent});
      extra.push_back(*ir::toAffine(iv->extent) - ir::AffineExpr{1, {}});
    }
    if (!ready)
      continue;
    const std::string name = p.buffer->name;
    const std::string access = sourceText(p.span);
    const size_t rank = p.buffer->shape.size();
    const char *zero = isFloat(p.buffer->dtype)         ? "0.0"
                       : p.buffer->dtype == DType::Bool ? "false"
                                                        : "0";
    const std::string padding = "use " + access + " ?? " + zero + " for zero padding";
    for (size_t j = 0; j < rank; ++j) {
      if (p.gathered[j])
        continue; // Checked when the kernel runs.
      const ir::AffineExpr &sub = p.subscripts[j];
      const ir::AffineExpr dim = *ir::toAffine(p.buffer->shape[j]);
      const std::string subText = sourceText(p.subscriptSpans[j]);
      if (!fitsProver(sub, dim, domain)) {
        error(ErrorCode::NumbersTooLarge, p.subscriptSpans[j],
              "cannot prove access " + access + " in bounds: the numbers in " + subText +
                  " are too large for the bounds prover");
        break;
      }
      // "when W = 0, " for a failure in one case of the prover's split on divisors.
      auto when = [](const ir::Proof &f) { return f.when.empty() ? "" : "when " + f.when + ", "; };
      auto unbounded = [&](const ir::Proof &f, const char *end) {
        error(ErrorCode::OutOfBoundsAccess, p.subscriptSpans[j],
              "access " + access + " may read " + end + " of dim " + std::to_string(j) + ": " +
                  when(f) + "the compiler cannot bound " + f.unbounded +
                  " (its divisor may be negative)",
              padding);
      };
      ir::Proof lower = prove(sub, domain, extra);
      if (!lower.proved) {
        if (!lower.least)
          unbounded(lower, "before the start");
        else
          error(ErrorCode::OutOfBoundsAccess, p.subscriptSpans[j],
                "access " + access + " may read before the start of dim " + std::to_string(j) +
                    ": " + when(lower) + subText + " can be " + lower.least->str(),
                padding);
        break;
      }
      ir::Proof upper = prove(dim - ir::AffineExpr{1, {}} - sub, domain, extra);
      if (!upper.proved) {
        if (!upper.least) {
          unbounded(upper, "past the end");
          break;
        }
        // The upper goal is dim - 1 - sub: its least value gives sub's greatest.
        const ir::AffineExpr caseDim = upper.inCase(dim);
        const ir::AffineExpr hi = caseDim - ir::AffineExpr{1, {}} - *upper.least;
        std::string size = rank == 1             ? caseDim.str() + " elements"
                           : rank == 2 && j == 0 ? caseDim.str() + " rows"
                           : rank == 2           ? caseDim.str() + " columns"
                                       : "size " + caseDim.str() + " in dim " + std::to_string(j);
        std::string hint = padding;
        // Suggest an extent when one index variable with coefficient 1 drives the subscript.
        const ir::IterVar *driver = nullptr;
        int drivers = 0;
        for (const ir::IterVar &iv : domain) {
          if (!sub.mentions(iv.var))
            continue;
          ++drivers;
          auto it = sub.terms.find(iv.var);
          if (it != sub.terms.end() && it->second == 1)
            driver = &iv;
        }
        if (drivers == 1 && driver && sub.isLinear() && upper.when.empty()) {
          ir::AffineExpr rest = sub - ir::AffineExpr{0, {{driver->var, 1}}};
          ir::AffineExpr extent = dim - ir::maxOverDomain(rest, domain);
          if (extent != *ir::toAffine(driver->extent))
            hint += ", or give " + driver->var->name + " an explicit extent (" + driver->var->name +
                    " < " + extent.str() + ")";
        }
        std::string why =
            hi.isConstant() ? name + " has " + size + ", and nothing guarantees " + caseDim.str() +
                                  " > " + hi.str()
                            : subText + " can reach " + hi.str() + " but " + name + " has " + size;
        error(ErrorCode::OutOfBoundsAccess, p.subscriptSpans[j],
              "access " + access + " may read past the end of dim " + std::to_string(j) + ": " +
                  when(upper) + why,
              hint);
        break;
      }
    }
  }
}

void KernelChecker::resolveGathers() {
  std::vector<PendingGather> work = std::move(pendingGathers);
  pendingGathers.clear();
  for (const PendingGather &g : work) {
    // The check: min(where(0 <= index < dim, INT64_MAX, index)) over the domain variables that
    // the index reads, and no violation where another variable of the domain has no points (the
    // access never runs there).
    std::vector<std::pair<ir::Var, ir::Expr>> fresh;
    std::vector<ir::IterVar> axes;
    ir::Expr nonEmpty;
    bool ready = true;
    for (IndexVar *iv : g.domain) {
      if (iv->failed || !iv->extent) {
        ready = false;
        break;
      }
      if (!ir::usesAny(g.index, {iv->var})) {
        ir::Expr c = ir::Binary::make(ir::BinaryOp::Lt, ir::intImm(0), iv->extent);
        nonEmpty = nonEmpty ? ir::Binary::make(ir::BinaryOp::And, nonEmpty, c) : c;
        continue;
      }
      ir::Var v = ir::makeVar(iv->var->name, iv->var->type, iv->var->kind);
      fresh.emplace_back(iv->var, ir::ref(v));
      axes.push_back(ir::IterVar{v, iv->extent});
    }
    if (!ready)
      continue;
    ir::Expr index = ir::substitute(g.index, fresh);
    ir::Expr inRange = ir::Binary::make(
        ir::BinaryOp::And, ir::Binary::make(ir::BinaryOp::Le, ir::intImm(0), index),
        ir::Binary::make(ir::BinaryOp::Lt, index, g.buffer->shape[g.dim]));
    const ir::Expr none = ir::intImm(ir::kNoGatherViolation);
    ir::Expr value = ir::Select::make(inRange, none, index);
    if (!axes.empty())
      value = ir::Reduce::make(ir::ReduceOp::Min, std::move(axes), value);
    if (nonEmpty)
      value = ir::Select::make(nonEmpty, value, none);
    std::string name = uniqueBufferName("check." + g.buffer->name);
    bufferNames.insert(name);
    ir::Buffer result = ir::makeBuffer(name, DType::I64, {}, ir::BufferRole::Output, g.span);
    out.defs.push_back(ir::Definition{result, {}, value, g.span});
    out.checks.push_back(
        ir::GatherCheck{result, g.buffer, g.dim, sourceText(g.span), g.span, g.source});
  }
}

// ---------------------------------------------------------------------------------------------
// Calls.

std::optional<CallPlan> KernelChecker::planCall(const ast::Expr &call) {
  auto avail = file.available.find(call.name);
  size_t where = file.positions.count(call.name) ? file.positions.at(call.name) : SIZE_MAX;
  if (where >= position) {
    if (call.name == kernel.name)
      error(ErrorCode::CallOrder, call.nameSpan,
            "kernel " + quote(call.name) + " cannot call itself",
            "a kernel can call only kernels defined before it");
    else
      error(ErrorCode::CallOrder, call.nameSpan,
            "kernel " + quote(call.name) + " is defined later in the file",
            "a kernel can call only kernels defined before it; move " + quote(call.name) +
                " above " + quote(kernel.name));
    return std::nullopt;
  }
  if (avail == file.available.end())
    return std::nullopt; // It had errors, already reported.
  const ir::Kernel *callee = &file.module.kernels[avail->second];

  CallPlan plan;
  plan.callee = callee;
  plan.span = call.span;

  size_t before = errorCount();
  if (call.args.size() != callee->inputs.size()) {
    size_t want = callee->inputs.size();
    error(ErrorCode::ArgumentCount, call.span,
          quote(call.name) + " takes " + std::to_string(want) +
              (want == 1 ? " argument" : " arguments") + " but " +
              std::to_string(call.args.size()) + (call.args.size() == 1 ? " was" : " were") +
              " given");
  }
  // Arguments are whole tensors: the statement's index variables are out of reach. They are
  // checked first, so that calls nested in them take their prefixes first (in the order the
  // definitions come out).
  scopes.push_back(Scope{true, {}, false});
  std::vector<std::optional<Val>> vals(call.args.size());
  std::vector<ir::Buffer> args(call.args.size());
  for (size_t k = 0; k < call.args.size(); ++k) {
    const ast::Expr &a = *call.args[k];
    auto named = a.kind == ast::Expr::Kind::Name ? tensors.find(a.name) : tensors.end();
    Val v = named != tensors.end() ? checkName(a, /*whole=*/true) : check(a, /*whole=*/true);
    if (!v.ok)
      continue;
    // A tensor name or a nested call's result is already a whole tensor.
    args[k] = named != tensors.end() ? named->second.buffer : wholeBufferOf(v);
    vals[k] = std::move(v);
  }
  int n = ++callCounts[call.name];
  plan.prefix = n == 1 ? call.name : call.name + "." + std::to_string(n);

  std::map<const ir::VarNode *, std::pair<ir::Expr, std::string>> bound;
  for (size_t k = 0; k < call.args.size(); ++k) {
    const ast::Expr &a = *call.args[k];
    const ir::Buffer *param = k < callee->inputs.size() ? &callee->inputs[k] : nullptr;
    if (!vals[k] || !param)
      continue;
    ir::Buffer arg = args[k];
    if (!arg) {
      Val &v = *vals[k];
      if (v.isLiteral() && !adopt(v, (*param)->dtype, nullptr, v.span))
        continue;
      Target temp{Target::Kind::Invalid, plan.prefix + "." + (*param)->name, a.span, nullptr};
      if (!defineFromVal(temp, std::move(v), a.span))
        continue;
      arg = lastDefined;
    }
    const ir::Buffer &p = *param;
    std::string what = "argument " + quote(p->name) + " of " + quote(call.name);
    if (arg->dtype != p->dtype) {
      error(ErrorCode::ArgumentMismatch, a.span,
            what + " must be " + std::string(dtypeName(p->dtype)) + ", but " + sourceText(a.span) +
                " is " + std::string(dtypeName(arg->dtype)),
            "convert it: " + std::string(dtypeName(p->dtype)) + "(" + sourceText(a.span) + ")");
      continue;
    }
    std::vector<Dim> argShape;
    for (const ir::Expr &d : arg->shape)
      argShape.push_back(dimOf(d));
    if (arg->shape.size() != p->shape.size()) {
      error(ErrorCode::ArgumentMismatch, a.span,
            what + " must have " + std::to_string(p->shape.size()) +
                (p->shape.size() == 1 ? " dim" : " dims") + ", but " + sourceText(a.span) +
                " has shape " + shapeString(argShape));
      continue;
    }
    for (size_t j = 0; j < p->shape.size(); ++j) {
      const Dim &ad = argShape[j];
      if (const ir::IntImm *lit = ir::as<ir::IntImm>(p->shape[j])) {
        if (ad.affine != ir::AffineExpr{lit->value, {}}) {
          error(ErrorCode::ArgumentMismatch, a.span,
                "dim " + std::to_string(j) + " of " + what + " must be " +
                    std::to_string(lit->value) + ", but it is " + ad.affine.str());
          break;
        }
        continue;
      }
      const ir::VarRef *sym = ir::as<ir::VarRef>(p->shape[j]);
      TDSL_CHECK(sym) << "an input dim is neither a literal nor a symbol";
      auto [it, inserted] = bound.emplace(sym->var.get(), std::make_pair(ad.expr, p->name));
      if (!inserted && *ir::toAffine(it->second.first) != ad.affine) {
        error(ErrorCode::ArgumentMismatch, a.span,
              "shape symbol " + quote(sym->var->name) + " of " + quote(call.name) + " is " +
                  ir::toAffine(it->second.first)->str() + " for " + quote(it->second.second) +
                  " but " + ad.affine.str() + " for " + quote(p->name),
              "arguments that share a symbol must have equal dims");
        break;
      }
    }
    plan.args.push_back(arg);
  }
  scopes.pop_back();
  if (errorCount() > before || plan.args.size() != callee->inputs.size())
    return std::nullopt;

  for (const ir::Var &s : callee->symbols) {
    auto it = bound.find(s.get());
    TDSL_CHECK(it != bound.end()) << "symbol " << s->name << " not bound by any input";
    plan.symbols.emplace_back(s, normalize(it->second.first));
  }
  // Every shape the inlined definitions will have, in the caller's symbols, must stay small.
  std::vector<ir::Expr> shapes;
  for (const ir::Definition &def : callee->defs) {
    shapes.insert(shapes.end(), def.target->shape.begin(), def.target->shape.end());
    for (const ir::IterVar &iv : def.indices)
      shapes.push_back(iv.extent);
    ReduceExtents r;
    r.visit(def.value);
    shapes.insert(shapes.end(), r.extents.begin(), r.extents.end());
  }
  for (const ir::Expr &d : shapes) {
    std::optional<ir::AffineExpr> a = ir::toAffine(ir::substitute(d, plan.symbols));
    if (!a || tooLarge(*a)) {
      error(ErrorCode::NumbersTooLarge, call.span,
            "the shapes of this call to " + quote(call.name) + " are too large",
            "the numbers in a dim are limited to 2^40");
      return std::nullopt;
    }
  }
  for (const ir::Buffer &o : callee->outputs) {
    std::vector<Dim> shape;
    for (const ir::Expr &d : o->shape)
      shape.push_back(dimOf(normalize(ir::substitute(d, plan.symbols))));
    plan.outputShapes.push_back(std::move(shape));
  }
  // The callee's proofs may rest on its symbols and output dims being >= 0. The run time checks
  // that at a kernel's boundary, but not inside an inlined call, where a symbol may be bound to
  // the extent of an intermediate (N - 1): prove it here instead.
  auto requireNonNegative = [&](const ir::AffineExpr &a, const std::string &what) {
    if (prove(a, {}, {}).proved)
      return true;
    error(ErrorCode::ArgumentMismatch, call.span,
          "cannot call " + quote(call.name) + " here: " + what + " would be " + a.str() +
              ", which may be negative, and its bounds proofs assume it is not",
          "pass tensors whose shapes guarantee it, or give the caller an output with that dim "
          "(a kernel's output dims are checked to be >= 0 when it is called)");
    return false;
  };
  if (file.reliesOnSymbols.count(call.name))
    for (const auto &[s, e] : plan.symbols)
      if (!requireNonNegative(*ir::toAffine(e), "its shape symbol " + quote(s->name)))
        return std::nullopt;
  if (file.reliesOnOutputDims.count(call.name))
    for (size_t k = 0; k < plan.outputShapes.size(); ++k)
      for (const Dim &d : plan.outputShapes[k])
        if (!requireNonNegative(d.affine, "a dim of its output " + quote(callee->outputs[k]->name)))
          return std::nullopt;
  return plan;
}

std::vector<ir::Buffer> KernelChecker::emitCall(const CallPlan &plan,
                                                const std::vector<ir::Buffer> &dests,
                                                const std::vector<std::string> &names) {
  const ir::Kernel &callee = *plan.callee;
  Inliner inl;
  for (const auto &[s, e] : plan.symbols)
    inl.vars[s.get()] = e;
  for (size_t k = 0; k < callee.inputs.size(); ++k)
    inl.buffers[callee.inputs[k].get()] = plan.args[k];
  std::vector<ir::Buffer> outs;
  for (size_t k = 0; k < callee.outputs.size(); ++k) {
    const ir::Buffer &o = callee.outputs[k];
    ir::Buffer b = k < dests.size() ? dests[k] : nullptr;
    if (!b) {
      std::vector<ir::Expr> shape;
      for (const Dim &d : plan.outputShapes[k])
        shape.push_back(d.expr);
      std::string name = k < names.size() && !names[k].empty()
                             ? names[k]
                             : uniqueBufferName(plan.prefix + "." + o->name);
      bufferNames.insert(name);
      b = ir::makeBuffer(name, o->dtype, std::move(shape), ir::BufferRole::Intermediate, plan.span);
    }
    inl.buffers[o.get()] = b;
    outs.push_back(b);
  }
  // The callee's gather checks become the caller's (checked with the caller's tensors).
  for (const ir::GatherCheck &c : callee.checks) {
    std::string name = uniqueBufferName(plan.prefix + "." + c.result->name);
    bufferNames.insert(name);
    inl.buffers[c.result.get()] =
        ir::makeBuffer(name, DType::I64, {}, ir::BufferRole::Output, c.result->span);
  }
  for (const ir::Definition &def : callee.defs) {
    auto it = inl.buffers.find(def.target.get());
    if (it == inl.buffers.end()) {
      std::vector<ir::Expr> shape;
      for (const ir::Expr &d : def.target->shape)
        shape.push_back(inl.shape(d));
      ir::Buffer b =
          ir::makeBuffer(uniqueBufferName(plan.prefix + "." + def.target->name), def.target->dtype,
                         std::move(shape), ir::BufferRole::Intermediate, def.target->span);
      it = inl.buffers.emplace(def.target.get(), b).first;
    }
    std::vector<ir::IterVar> iters;
    for (const ir::IterVar &iv : def.indices) {
      ir::Var v = ir::makeVar(iv.var->name, iv.var->type, iv.var->kind);
      inl.vars[iv.var.get()] = ir::ref(v);
      iters.push_back(ir::IterVar{v, inl.shape(iv.extent)});
    }
    out.defs.push_back(
        ir::Definition{it->second, std::move(iters), inl.mutate(def.value), def.span});
  }
  for (const ir::GatherCheck &c : callee.checks) {
    ir::Buffer source = c.source ? inl.buffers.at(c.source.get()) : nullptr;
    if (source && source->role != ir::BufferRole::Input)
      source = nullptr;
    out.checks.push_back(ir::GatherCheck{inl.buffers.at(c.result.get()),
                                         inl.buffers.at(c.gathered.get()), c.dim, c.access, c.span,
                                         source});
  }
  return outs;
}

bool KernelChecker::checkCallStatement(const ast::Stmt &s, std::vector<Target> targets) {
  const ast::Expr &call = *s.value;
  size_t before = errorCount();
  std::optional<CallPlan> plan = planCall(call);
  resolveBounds();
  if (!plan || errorCount() > before)
    return false;
  size_t n = plan->callee->outputs.size();
  if (targets.size() != n) {
    error(ErrorCode::OutputCountMismatch, s.span,
          quote(call.name) + " returns " + std::to_string(n) + (n == 1 ? " output" : " outputs") +
              " but " + std::to_string(targets.size()) +
              (targets.size() == 1 ? " name is" : " names are") + " assigned",
          n == 1 ? "write y = " + call.name + "(...)"
                 : "assign every output: (a, b, ...) = " + call.name + "(...)");
    return false;
  }
  for (const Target &t : targets)
    if (t.kind == Target::Kind::Invalid)
      return false;
  // An output of the caller receives the callee's output directly when dtype and shape match;
  // otherwise through a copy that broadcasts (or reports the mismatch).
  std::vector<ir::Buffer> dests(n);
  std::vector<std::string> names(n);
  std::vector<bool> viaCopy(n, false);
  for (size_t k = 0; k < n; ++k) {
    const Target &t = targets[k];
    if (t.kind == Target::Kind::Local) {
      names[k] = t.name;
      continue;
    }
    bool same = t.output->dtype == plan->callee->outputs[k]->dtype &&
                t.output->shape.size() == plan->outputShapes[k].size();
    for (size_t j = 0; same && j < t.output->shape.size(); ++j)
      same = dimOf(t.output->shape[j]).affine == plan->outputShapes[k][j].affine;
    if (same)
      dests[k] = t.output;
    else
      viaCopy[k] = true;
  }
  std::vector<ir::Buffer> outs = emitCall(*plan, dests, names);
  bool ok = true;
  for (size_t k = 0; k < n; ++k) {
    const Target &t = targets[k];
    if (t.kind == Target::Kind::Local) {
      tensors[t.name] = localEntry(outs[k], t.span);
    } else if (viaCopy[k]) {
      ok &= defineFromVal(t, wholeTensor(outs[k], call.span), s.span);
    } else {
      tensors[t.name].assigned = true;
    }
  }
  return ok;
}

} // namespace sema

// ---------------------------------------------------------------------------------------------

ir::Module analyze(const ast::File &file, DiagnosticEngine &diags) {
  sema::FileState state;
  for (size_t i = 0; i < file.kernels.size(); ++i)
    state.positions.emplace(file.kernels[i].name, i);
  for (size_t i = 0; i < file.kernels.size(); ++i) {
    const ast::Kernel &k = file.kernels[i];
    bool callable = true;
    if (state.positions.at(k.name) != i) {
      diags.error(ErrorCode::Redefinition, k.nameSpan, "kernel '" + k.name + "' is defined twice",
                  "every kernel of a file needs its own name");
      diags.note(file.kernels[state.positions.at(k.name)].nameSpan, "first defined here");
      callable = false;
    }
    if (sema::isBuiltinName(k.name)) {
      diags.error(ErrorCode::NameClash, k.nameSpan,
                  "'" + k.name + "' is the name of a built-in function",
                  "choose another name for the kernel");
      callable = false;
    }
    sema::KernelChecker checker(state, k, i, diags);
    std::optional<ir::Kernel> kernel;
    try {
      kernel = checker.run();
    } catch (const sema::TooManyErrors &) {
      break;
    }
    if (kernel && callable) {
      ir::verify(*kernel);
      state.available[k.name] = state.module.kernels.size();
      if (checker.reliesOnSymbols())
        state.reliesOnSymbols.insert(k.name);
      if (checker.reliesOnOutputDims())
        state.reliesOnOutputDims.insert(k.name);
      state.module.kernels.push_back(std::move(*kernel));
    }
  }
  return std::move(state.module);
}

} // namespace tdsl::frontend
