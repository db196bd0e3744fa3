// Sema's internals, shared by Sema.cpp (kernels, statements, extents, bounds, calls) and
// SemaExpr.cpp (expressions: typing, broadcasting, built-ins, reductions, accesses).
//
// One KernelChecker checks one kernel. Expressions are checked bottom-up into `Val`s: the IR of
// the expression (in its compute type: f32 for f16/bf16 values) plus its user-visible dtype. A
// literal stays untyped until it meets a typed operand. In whole-array form a Val also has a
// shape and one variable per dim: its IR is written over those variables, and combining two
// operands substitutes them by the result's variables (or by 0 where a dim of 1 broadcasts).
// Index extents are inferred from uses, so bounds proofs wait until the statement is complete.
#pragma once

#include "frontend/AST.h"
#include "ir/Affine.h"
#include "ir/BoundsProver.h"
#include "ir/Kernel.h"

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace tdsl::frontend::sema {

/// What the file has produced so far: the kernels that can be called.
struct FileState {
  ir::Module module;
  /// Name -> index in module.kernels, for kernels that checked cleanly.
  std::map<std::string, size_t> available;
  /// Kernels whose proofs needed "every output dim >= 0": a caller must prove that of the
  /// inlined outputs, since nothing checks it at run time once the call is inlined.
  std::set<std::string> reliesOnOutputDims;
  /// Kernels whose proofs needed "every shape symbol >= 0" (likewise).
  std::set<std::string> reliesOnSymbols;
  /// Every kernel name of the file with where it is first defined (to say "defined later").
  std::map<std::string, size_t> positions;
  /// Errors the kernel checkers reported; after kMaxErrors, checking stops (TooManyErrors).
  size_t errors = 0;
};

/// Like the parser, sema reports at most this many errors per file (thousands of errors in one
/// file would otherwise cost time for diagnostics nobody reads).
constexpr size_t kMaxErrors = 100;
/// Thrown by KernelChecker::error past kMaxErrors; analyze() stops there.
struct TooManyErrors {};

/// A dim of a whole-array value: its i64 expression and affine form.
struct Dim {
  ir::Expr expr;
  ir::AffineExpr affine;
  bool isOne() const { return affine.isConstant() && affine.constant == 1; }
};

enum class LitKind : uint8_t { None, Int, Float };

/// A checked expression.
struct Val {
  bool ok = false; // False after an error (already reported) or a poisoned name.
  LitKind lit = LitKind::None;
  int64_t intValue = 0;      // Untyped integer literal.
  double floatValue = 0;     // Untyped float literal.
  DType dtype = DType::F32;  // The user-visible dtype (f16 stays f16); meaningless for literals.
  ir::Expr expr;             // In computeType(dtype); null for an untyped literal.
  std::vector<Dim> shape;    // Whole-array form only; empty for scalars.
  std::vector<ir::Var> vars; // One per dim: `expr` is written over them.
  SourceSpan span;
  const ast::Expr *source = nullptr; // The expression checked, to check it again with another
  bool sourceWhole = false;          // literal type (retypeLiteralOnly).

  bool isLiteral() const { return lit != LitKind::None; }
  size_t rank() const { return shape.size(); }
};

/// An index variable of a statement or a reduction, while its extent is being inferred.
struct IndexVar {
  std::string name;
  SourceSpan span;
  ir::Var var;
  bool reduction = false;
  /// An explicit extent (`i < E`) or, for an output's index, the output's dim.
  ir::Expr fixedExtent;
  /// Uses as a lone subscript: `x[i, j]` gives i the extent of x's dim 0.
  struct Use {
    Dim dim;
    std::string what; // "x[i, j]"
    SourceSpan span;
  };
  std::vector<Use> uses;
  bool sawFailedUse = false; // A lone use in an access that failed: no "cannot infer" then.
  ir::Expr extent;           // Decided when its scope closes; null while open or after an error.
  bool failed = false;
};

/// An access without a default, proven in bounds once every extent is known. Its gathered
/// subscripts (not affine) are checked when the kernel runs instead (PendingGather).
struct PendingAccess {
  ir::Buffer buffer;
  std::vector<ir::AffineExpr> subscripts; // Zero where `gathered`.
  std::vector<bool> gathered;
  std::vector<SourceSpan> subscriptSpans;
  std::vector<IndexVar *> domain;
  SourceSpan span; // The access t[...].
};

/// A gathered subscript of an access without a default: once every extent is known, a
/// definition computes its run-time check over the access's domain (ir::GatherCheck).
struct PendingGather {
  ir::Buffer buffer;
  size_t dim = 0;
  ir::Expr index; // i64.
  std::vector<IndexVar *> domain;
  SourceSpan span;   // The access t[...].
  ir::Buffer source; // The input read as the subscript, if it is only that (ir::GatherCheck).
};

/// A tensor name visible in the kernel.
struct TensorEntry {
  enum class Kind : uint8_t { Input, Output, Local };
  Kind kind = Kind::Local;
  ir::Buffer buffer;     // Null when its definition failed (poisoned) for locals.
  bool assigned = false; // Outputs: defined by a statement already.
  SourceSpan assignedAt; // Outputs: the statement that defined it.
  bool poisoned = false; // Its definition failed: uses are not reported.
  SourceSpan span;       // Declaration or definition.
};

/// A call to an earlier kernel, checked and bound, before its definitions are emitted.
struct CallPlan {
  const ir::Kernel *callee = nullptr;
  std::string prefix; // "softmax", "softmax.2", ...: names the callee's temporaries.
  std::vector<ir::Buffer> args;
  std::vector<std::pair<ir::Var, ir::Expr>> symbols; // Callee symbol -> caller expression.
  std::vector<std::vector<Dim>> outputShapes;        // In the caller's symbols.
  SourceSpan span;
};

class KernelChecker {
public:
  /// `position`: the kernel's index in the file (it may call only kernels before it).
  KernelChecker(FileState &file, const ast::Kernel &kernel, size_t position,
                DiagnosticEngine &diags);
  /// The checked kernel, or nullopt when it had errors (all reported).
  std::optional<ir::Kernel> run();
  bool reliesOnOutputDims() const { return usedOutputDims; }
  bool reliesOnSymbols() const { return usedSymbols; }

  // --- Expressions (SemaExpr.cpp) -----------------------------------------------------------
  /// Checks `e`. In whole-array form (`whole`), tensor names denote whole tensors; otherwise
  /// every value is a scalar at the current point of the index domain.
  Val check(const ast::Expr &e, bool whole);

private:
  Val checkNode(const ast::Expr &e, bool whole);
  /// A typed value computed from literals only (`abs(1e-3) + 0.75`, `exp(1.0)`) takes the dtype
  /// `to` where a bare literal of its kind would adopt it: checked again with `to` as the
  /// literals' type. False (and `v` unchanged, nothing reported) where it cannot.
  bool retypeLiteralOnly(Val &v, DType to);
  /// While set, literals default to this dtype instead of i64 / f32 (retypeLiteralOnly).
  std::optional<DType> literalDefault;
  /// While > 0, errors are counted in speculativeErrors, not reported (retypeLiteralOnly).
  int speculative = 0;
  size_t speculativeErrors = 0;
  Val checkName(const ast::Expr &e, bool whole);
  Val checkAccess(const ast::Expr &e, const ast::Expr *fallback, bool whole);
  Val checkCall(const ast::Expr &e, bool whole);
  Val checkKernelCall(const ast::Expr &e, bool whole);
  Val checkCast(const ast::Expr &e, DType to, Val arg);
  Val checkReduce(const ast::Expr &e, bool whole);
  Val checkUnary(const ast::Expr &e, bool whole);
  Val checkBinary(const ast::Expr &e, bool whole);
  Val checkMatMul(const ast::Expr &e, Val a, Val b);
  Val foldLiterals(ast::BinaryOp op, const Val &a, const Val &b, const SourceSpan &span);
  /// `+ - * / // % **` and pow() on checked operands.
  Val arith(ast::BinaryOp op, Val a, Val b, const SourceSpan &span, std::string what);
  /// Gives the operands one dtype (literals adopt it); nullopt after an error. With only
  /// literals, they take their default types (i64, or f32 when one is a float).
  std::optional<DType> unify(const std::vector<Val *> &ops, const SourceSpan &site,
                             std::string_view what);
  /// Gives a literal the dtype `to`; false (reported) when it cannot take it.
  bool adopt(Val &v, DType to, const Val *other, const SourceSpan &site);
  /// A literal's default type: i64 or f32.
  void defaultType(Val &v);
  /// Broadcasts the operands to one shape and rewrites them over the result's variables.
  std::optional<std::pair<std::vector<Dim>, std::vector<ir::Var>>>
  broadcast(std::vector<Val *> ops, const SourceSpan &site, std::string_view what);
  Val wholeTensor(const ir::Buffer &buffer, const SourceSpan &span);

  // --- Statements and kernel (Sema.cpp) -----------------------------------------------------
public:
  void declareSignature();
  /// Declares every name in an input's dim as a shape symbol (in order of appearance).
  void declareSymbolsIn(const ast::Expr &e);
  void checkStatement(const ast::Stmt &s);

  struct Target {
    enum class Kind : uint8_t { Output, Local, Invalid };
    Kind kind = Kind::Invalid;
    std::string name;
    SourceSpan span;
    ir::Buffer output; // Kind::Output
  };
  Target prepareTarget(const ast::Stmt::Target &t);
  // Each returns whether the statement defined its targets.
  bool checkIndexStatement(const ast::Stmt &s, const Target &target);
  bool checkWholeStatement(const ast::Stmt &s, const Target &target);
  bool checkCallStatement(const ast::Stmt &s, std::vector<Target> targets);
  /// Defines `target` from a whole-array value (broadcast to an output's shape).
  bool defineFromVal(const Target &target, Val v, const SourceSpan &stmtSpan);
  /// The storage form of a value for a tensor of dtype `to` (f16: Cast to f16).
  static ir::Expr toStorage(const Val &v, DType to);

  // Calls.
  std::optional<CallPlan> planCall(const ast::Expr &call);
  /// Emits the callee's definitions; `dests[k]`, when set, receives output k. Returns the
  /// buffers holding the outputs.
  std::vector<ir::Buffer> emitCall(const CallPlan &plan, const std::vector<ir::Buffer> &dests,
                                   const std::vector<std::string> &names);
  std::string uniqueBufferName(const std::string &base);

  // Index variables and extents.
  /// A reduction variable's explicit extent is not checked here but by checkReduceBound, before
  /// the reduction's scope opens.
  IndexVar *declareIndex(const ast::IndexDecl &decl, bool reduction);
  /// An explicit extent `i < E`: an i64 expression of symbols with an affine form; null after an
  /// error. With `indices` (a reduction's bound), E may also use the index variables in scope,
  /// each as a plain term (`j + 1`, `t - 2`, `j + k`: a triangular reduction).
  ir::Expr checkExtent(const ast::Expr &e, const std::string &varName, bool indices = false);
  /// The extent of reduction variable `decl` of a reduction over `axes`: its bound (plus one for
  /// `<=`), which must not name any of `axes` (E066); null after an error.
  ir::Expr checkReduceBound(const ast::IndexDecl &decl, const std::vector<ast::IndexDecl> &axes);
  /// An output's dim: an integer expression of the inputs' symbols; null after an error.
  ir::Expr checkOutputDim(const ast::Expr &e, const std::string &output);
  std::optional<ir::Expr> outputDimExpr(const ast::Expr &e, const std::string &output);
  IndexVar *lookupIndex(const std::string &name, bool *hidden = nullptr) const;
  /// Decides the extents of the innermost scope's variables (reporting conflicts and missing
  /// extents) and closes it. False when some extent is missing.
  bool closeScope();
  void resolveBounds();
  /// Adds the run-time check of each pending gather (a definition and an ir::GatherCheck).
  void resolveGathers();
  /// Proves `e >= 0` over `domain` from `extra` and, where those do not suffice, also from every
  /// symbol >= 0 and then every output dim >= 0 (recording that the kernel relies on them).
  ir::Proof prove(const ir::AffineExpr &e, const std::vector<ir::IterVar> &domain,
                  const std::vector<ir::AffineExpr> &extra);
  /// Reports a `//` or `%` by a constant <= 0 in a shape expression (E065).
  void badDivisor(const ast::Expr &division, int64_t divisor);

  // Names.
  std::vector<std::string> visibleNames() const;
  std::string sourceText(const SourceSpan &span) const;
  size_t errorCount() const;
  void error(ErrorCode code, const SourceSpan &span, std::string message, std::string hint = {});
  Dim dimOf(const ir::Expr &e) const;

  FileState &file;
  const ast::Kernel &kernel;
  size_t position;
  DiagnosticEngine &diags;

  ir::Kernel out;
  std::map<std::string, ir::Var> symbols;
  std::map<std::string, TensorEntry> tensors;
  std::vector<ir::AffineExpr> symbolAssumptions; // Every symbol >= 0.
  std::vector<ir::AffineExpr> outputAssumptions; // Every output dim >= 0.
  bool usedOutputDims = false;
  bool usedSymbols = false;
  bool anyStatementFailed = false;
  std::map<std::string, int> callCounts;
  std::set<std::string> bufferNames;

  // Per statement.
  std::vector<std::unique_ptr<IndexVar>> indexStorage;
  struct Scope {
    bool barrier = false; // A kernel call's arguments: outer index variables are hidden.
    std::vector<IndexVar *> vars;
    bool failed = false; // A declaration in it failed.
  };
  std::vector<Scope> scopes;
  std::vector<PendingAccess> pending;
  std::vector<PendingGather> pendingGathers;
  size_t statementErrors = 0; // The error count when the statement began.
  /// Every statement target of the kernel with where it is defined, to tell "used before it
  /// is defined" from "undefined".
  std::map<std::string, SourceSpan> laterDefinitions;
  /// Reports a name that is not defined (yet); `candidates` feed "did you mean".
  void undefinedName(const std::string &name, const SourceSpan &span, const char *what,
                     const std::vector<std::string> &candidates);
  void readBeforeAssigned(const std::string &name, const SourceSpan &span);
  ir::Buffer lastDefined;               // The buffer of defineFromVal's last definition.
  std::set<std::string> currentTargets; // The statement's targets, not yet defined.
  bool inSubscript = false;             // Checking a subscript (for the undefined-name hint).
  bool inExtent = false;                // Checking an extent: only symbols and integers.
  ir::Var freshVar(const std::string &name);
};

/// "[N, D]"
std::string shapeString(const std::vector<Dim> &shape);
/// The IR operator of a binary operator other than `@`.
ir::BinaryOp irOp(ast::BinaryOp op);
/// A name in quotes, shortened when long (a hostile file can hold megabyte names).
std::string quote(std::string_view s);
/// "did you mean 'x'?" for the nearest of `candidates` (tdsl::nearestName), or empty.
std::string didYouMean(const std::string &name, const std::vector<std::string> &candidates);
/// Whether a name is a built-in function, cast or reduction (kernels may not take these names).
bool isBuiltinName(std::string_view name);
std::vector<std::string> builtinNames();

} // namespace tdsl::frontend::sema
