// Parser tests: precedence and associativity (through printAst), every spec example, kernel and
// statement forms, spans, error messages with their locations, recovery from several errors in
// one file, and hostile input that must give errors, never a crash.
#include "frontend/Parser.h"

#include <gtest/gtest.h>

#include <random>

using namespace tdsl;
using namespace tdsl::frontend;

namespace {

struct Parsed {
  std::shared_ptr<SourceFile> source;
  DiagnosticEngine diags;
  ast::File file;
  std::string text; // printAst(file)

  /// "line:col: message" for every error (notes left out).
  std::vector<std::string> errors() const {
    std::vector<std::string> out;
    for (const Diagnostic &d : diags.diagnostics()) {
      if (d.severity != Severity::Error)
        continue;
      std::string where = d.span.str();
      out.push_back(where.substr(where.find(':') + 1) + ": " + d.message);
    }
    return out;
  }
  const Diagnostic &first() const { return diags.diagnostics().at(0); }
};

std::unique_ptr<Parsed> parse(std::string text) {
  auto p = std::make_unique<Parsed>();
  p->source = std::make_shared<SourceFile>(SourceFile{"t.tdsl", std::move(text)});
  p->file = parseFile(p->source, p->diags);
  p->text = printAst(p->file);
  return p;
}

/// The printed form of `y = EXPR` inside a kernel; fails the test on any diagnostic.
std::string expr(const std::string &e) {
  auto p = parse("kernel f(x: f32) -> y: f32 {\n  y = " + e + "\n}\n");
  EXPECT_EQ(p->diags.render(), "") << e;
  std::string prefix = "kernel f(x: f32) -> y: f32\n  y = ";
  if (p->text.compare(0, prefix.size(), prefix) != 0)
    return "<bad print: " + p->text + ">";
  return p->text.substr(prefix.size(), p->text.size() - prefix.size() - 1);
}

/// The errors of a kernel body made of `body`, numbered from line 2.
std::unique_ptr<Parsed> parseBody(const std::string &body) {
  return parse("kernel f(x: f32[N]) -> y: f32[N] {\n" + body + "\n}\n");
}

// --- Precedence and associativity -------------------------------------------------------------

TEST(ParserPrecedence, TableOfTheSpec) {
  EXPECT_EQ(expr("a or b and c"), "(or a (and b c))");
  EXPECT_EQ(expr("a and b or c"), "(or (and a b) c)");
  EXPECT_EQ(expr("a or b or c"), "(or (or a b) c)");
  EXPECT_EQ(expr("not a and b"), "(and (not a) b)");
  EXPECT_EQ(expr("not a == b"), "(not (== a b))");
  EXPECT_EQ(expr("not not a"), "(not (not a))");
  EXPECT_EQ(expr("a < b and c >= d"), "(and (< a b) (>= c d))");
  EXPECT_EQ(expr("a + 1 < b * 2"), "(< (+ a 1) (* b 2))");
  EXPECT_EQ(expr("a == b"), "(== a b)");
  EXPECT_EQ(expr("a != b"), "(!= a b)");
  EXPECT_EQ(expr("a <= b"), "(<= a b)");
  EXPECT_EQ(expr("a > b"), "(> a b)");
  EXPECT_EQ(expr("(a < b) == c"), "(== (< a b) c)"); // Explicit grouping is not a chain.
  EXPECT_EQ(expr("a < b or c < d"), "(or (< a b) (< c d))");
  EXPECT_EQ(expr("a + b * c"), "(+ a (* b c))");
  EXPECT_EQ(expr("a * b + c"), "(+ (* a b) c)");
  EXPECT_EQ(expr("a - b - c"), "(- (- a b) c)");
  EXPECT_EQ(expr("a - b + c"), "(+ (- a b) c)");
  EXPECT_EQ(expr("a / b // c % d @ e * f"), "(* (@ (% (// (/ a b) c) d) e) f)");
  EXPECT_EQ(expr("a @ b + c"), "(+ (@ a b) c)");
  EXPECT_EQ(expr("-a * b"), "(* (- a) b)");
  EXPECT_EQ(expr("a * -b"), "(* a (- b))");
  EXPECT_EQ(expr("- - a"), "(- (- a))");
  EXPECT_EQ(expr("a - -b"), "(- a (- b))");
  EXPECT_EQ(expr("(a + b) * c"), "(* (+ a b) c)");
}

TEST(ParserPrecedence, Power) {
  EXPECT_EQ(expr("-x ** 2"), "(- (** x 2))");
  EXPECT_EQ(expr("2 ** -1"), "(** 2 (- 1))");
  EXPECT_EQ(expr("a ** b ** c"), "(** a (** b c))");
  EXPECT_EQ(expr("a ** -b ** c"), "(** a (- (** b c)))");
  EXPECT_EQ(expr("2 * x ** 3"), "(* 2 (** x 3))");
  EXPECT_EQ(expr("x[i] ** 2"), "(** x[i] 2)");
  EXPECT_EQ(expr("(-x) ** 2"), "(** (- x) 2)");
  EXPECT_EQ(expr("f(x) ** 0.5"), "(** (f x) 0.5)");
}

TEST(ParserPrecedence, DefaultBindsTighterThanEveryOperator) {
  EXPECT_EQ(expr("x[i - 1] ?? 0.0 + y[i]"), "(+ (?? x[(- i 1)] 0.0) y[i])");
  EXPECT_EQ(expr("x[i] ?? 0.0 ** 2"), "(** (?? x[i] 0.0) 2)");
  EXPECT_EQ(expr("-x[i] ?? 1"), "(- (?? x[i] 1))");
  EXPECT_EQ(expr("2 * x[i] ?? 1"), "(* 2 (?? x[i] 1))");
  EXPECT_EQ(expr("x[i] ?? -1.0"), "(?? x[i] (- 1.0))");
  EXPECT_EQ(expr("x[i] ?? -inf"), "(?? x[i] (- inf))");
  EXPECT_EQ(expr("x[i] ?? inf"), "(?? x[i] inf)");
  EXPECT_EQ(expr("x[i] ?? -3"), "(?? x[i] (- 3))");
  EXPECT_EQ(expr("x[i] ?? pad"), "(?? x[i] pad)");
  EXPECT_EQ(expr("x[i] ?? (a + b) * 2"), "(* (?? x[i] (+ a b)) 2)");
  EXPECT_EQ(expr("x[i]??0.0"), "(?? x[i] 0.0)");
  EXPECT_EQ(expr("x[i] ?? true"), "(?? x[i] true)");
}

TEST(ParserPrecedence, CallsAccessesAndReductions) {
  EXPECT_EQ(expr("max(a, b)"), "(max a b)");
  EXPECT_EQ(expr("max(x[i, k] for k)"), "(max x[i, k] for k)");
  EXPECT_EQ(expr("sum(x[i, k, j] for k < 3, j)"), "(sum x[i, k, j] for k < 3, j)");
  EXPECT_EQ(expr("sum(x[k] for k < N - 1)"), "(sum x[k] for k < (- N 1))");
  EXPECT_EQ(expr("prod(x[k] for k)"), "(prod x[k] for k)");
  EXPECT_EQ(expr("min(x[k] for k)"), "(min x[k] for k)");
  EXPECT_EQ(expr("mean(x[k] for k)"), "(mean x[k] for k)");
  EXPECT_EQ(expr("mean(a, b)"), "(mean a b)"); // Not a reduction without 'for'; sema judges.
  EXPECT_EQ(expr("sum(a * b for k) / 2"), "(/ (sum (* a b) for k) 2)");
  EXPECT_EQ(expr("where(c, a, b)"), "(where c a b)");
  EXPECT_EQ(expr("clamp(x, 0.0, 1.0)"), "(clamp x 0.0 1.0)");
  EXPECT_EQ(expr("f32(E)"), "(f32 E)");
  EXPECT_EQ(expr("bool(x)"), "(bool x)");
  EXPECT_EQ(expr("f()"), "(f)");
  EXPECT_EQ(expr("f(a, b,)"), "(f a b)");
  EXPECT_EQ(expr("x[i, j + 1, 2 * k]"), "x[i, (+ j 1), (* 2 k)]");
  EXPECT_EQ(expr("x[N - 1 - i]"), "x[(- (- N 1) i)]");
  EXPECT_EQ(expr("sum(sum(x[i, j] for i) for j)"), "(sum (sum x[i, j] for i) for j)");
}

TEST(ParserPrecedence, Literals) {
  EXPECT_EQ(expr("0"), "0");
  EXPECT_EQ(expr("42"), "42");
  EXPECT_EQ(expr("1.0"), "1.0");
  EXPECT_EQ(expr(".5"), "0.5");
  EXPECT_EQ(expr("3."), "3.0");
  EXPECT_EQ(expr("1e-5"), "1e-05");
  EXPECT_EQ(expr("2.5E3"), "2500.0");
  EXPECT_EQ(expr("0.7978845608"), "0.7978845608");
  EXPECT_EQ(expr("true"), "true");
  EXPECT_EQ(expr("false"), "false");
  EXPECT_EQ(expr("inf"), "inf");
  EXPECT_EQ(expr("-inf"), "(- inf)");
  EXPECT_EQ(expr("9223372036854775807"), "9223372036854775807");
}

TEST(ParserPrecedence, LineBreaksInsideBrackets) {
  EXPECT_EQ(expr("(a +\n  b)"), "(+ a b)");
  EXPECT_EQ(expr("x[i,\n  j]"), "x[i, j]");
  EXPECT_EQ(expr("f(a,\n\n  # comment\n  b\n)"), "(f a b)");
  EXPECT_EQ(expr("sum(x[k]\n for k\n)"), "(sum x[k] for k)");
}

// --- Kernels and statements -------------------------------------------------------------------

TEST(Parser, EmptyAndCommentOnlyFiles) {
  for (std::string text : {"", "\n\n", "# just a comment", "# a\n\n# b\n", ";;\n"}) {
    auto p = parse(text);
    EXPECT_FALSE(p->diags.hasErrors()) << text;
    EXPECT_TRUE(p->file.kernels.empty());
    EXPECT_EQ(p->text, "");
  }
}

TEST(Parser, StatementForms) {
  auto p = parse("kernel f(x: f32[N]) -> (y: f32[N], z: f32) {\n"
                 "  a[i] = x[i]; b[i < N - 1, j < 3] = x[i + 1]\n"
                 "  c = a\n"
                 "  (d, e) = g(x)\n"
                 "  (h) = g1(x)\n"
                 "  (k, l,) = g(x)\n"
                 "}\n");
  EXPECT_EQ(p->diags.render(), "");
  EXPECT_EQ(p->text, "kernel f(x: f32[N]) -> (y: f32[N], z: f32)\n"
                     "  a[i] = x[i]\n"
                     "  b[i < (- N 1), j < 3] = x[(+ i 1)]\n"
                     "  c = a\n"
                     "  (d, e) = (g x)\n"
                     "  (h) = (g1 x)\n"
                     "  (k, l) = (g x)\n");
  const ast::Kernel &k = p->file.kernels.at(0);
  ASSERT_EQ(k.body.size(), 6u);
  EXPECT_TRUE(k.body[0].indexed);
  EXPECT_FALSE(k.body[0].tuple);
  ASSERT_EQ(k.body[1].indices.size(), 2u);
  EXPECT_NE(k.body[1].indices[0].extent, nullptr);
  EXPECT_FALSE(k.body[2].indexed);
  EXPECT_TRUE(k.body[3].tuple);
  EXPECT_EQ(k.body[3].targets.size(), 2u);
  EXPECT_TRUE(k.body[4].tuple);
  EXPECT_EQ(k.body[4].targets.size(), 1u);
  EXPECT_TRUE(k.tupleOutputs);
}

TEST(Parser, KernelHeaderForms) {
  auto p = parse("kernel a() -> y: f32 { y = 1.0 }\n"
                 "kernel b(x: bf16[2, N], s: i64,\n"
                 "         t: bool) ->\n"
                 "    (y: f64[2 * N], z: i32[N - 2],)\n"
                 "{\n"
                 "}\n"
                 "kernel c(x: f16[N],) -> (y: f16[N]) {}\n");
  EXPECT_EQ(p->diags.render(), "");
  EXPECT_EQ(p->text, "kernel a() -> y: f32\n"
                     "  y = 1.0\n"
                     "\n"
                     "kernel b(x: bf16[2, N], s: i64, t: bool) -> (y: f64[(* 2 N)], z: "
                     "i32[(- N 2)])\n"
                     "\n"
                     "kernel c(x: f16[N]) -> (y: f16[N])\n");
  ASSERT_EQ(p->file.kernels.size(), 3u);
  EXPECT_EQ(p->file.kernels[1].params[0].type.dtype, DType::BF16);
  EXPECT_EQ(p->file.kernels[1].params[1].type.dtype, DType::I64);
  EXPECT_TRUE(p->file.kernels[1].params[1].type.dims.empty());
  EXPECT_FALSE(p->file.kernels[0].tupleOutputs);
  EXPECT_TRUE(p->file.kernels[2].tupleOutputs);
}

TEST(Parser, PrintOneKernel) {
  auto p = parse("kernel a(x: f32) -> y: f32 { y = x }\nkernel b(x: f32) -> y: f32 { y = -x }\n");
  EXPECT_EQ(printAst(p->file, "b"), "kernel b(x: f32) -> y: f32\n  y = (- x)\n");
  EXPECT_EQ(printAst(p->file, "nope"), "");
}

TEST(Parser, Spans) {
  auto p = parse("kernel soft(x: f32[N, D]) -> y: f32[N, D] {\n"
                 "  y[i, j] = x[i, j] / sum(x[i, k] for k < D)\n"
                 "}\n");
  ASSERT_FALSE(p->diags.hasErrors());
  const std::string &src = p->source->text;
  auto text = [&](const SourceSpan &s) { return src.substr(s.begin, s.end - s.begin); };
  const ast::Kernel &k = p->file.kernels.at(0);
  EXPECT_EQ(text(k.nameSpan), "soft");
  EXPECT_EQ(text(k.span).substr(0, 6), "kernel");
  EXPECT_EQ(text(k.span).back(), '}');
  EXPECT_EQ(text(k.params[0].span), "x");
  EXPECT_EQ(text(k.params[0].type.span), "f32[N, D]");
  EXPECT_EQ(text(k.params[0].type.dims[1]->span), "D");
  EXPECT_EQ(text(k.outputs[0].span), "y");
  const ast::Stmt &s = k.body.at(0);
  EXPECT_EQ(text(s.span), "y[i, j] = x[i, j] / sum(x[i, k] for k < D)");
  EXPECT_EQ(text(s.targets[0].span), "y");
  EXPECT_EQ(text(s.indices[1].span), "j");
  const ast::Expr &div = *s.value;
  EXPECT_EQ(text(div.span), "x[i, j] / sum(x[i, k] for k < D)");
  EXPECT_EQ(text(div.args[0]->span), "x[i, j]");
  EXPECT_EQ(text(div.args[0]->nameSpan), "x");
  EXPECT_EQ(text(div.args[0]->args[1]->span), "j");
  const ast::Expr &red = *div.args[1];
  EXPECT_EQ(red.kind, ast::Expr::Kind::Reduce);
  EXPECT_EQ(text(red.span), "sum(x[i, k] for k < D)");
  EXPECT_EQ(text(red.nameSpan), "sum");
  EXPECT_EQ(text(red.vars[0].span), "k");
  EXPECT_EQ(text(red.vars[0].extent->span), "D");
  EXPECT_EQ(red.args[0]->span.str(), "t.tdsl:2:27");
}

TEST(Parser, SpansOfUnaryParenthesesAndDefaults) {
  auto p = parseBody("  y[i] = -(x[i - 1] ?? -1.0) + 2 ** -x[i]");
  ASSERT_FALSE(p->diags.hasErrors());
  const std::string &src = p->source->text;
  auto text = [&](const SourceSpan &s) { return src.substr(s.begin, s.end - s.begin); };
  const ast::Expr &add = *p->file.kernels.at(0).body.at(0).value;
  EXPECT_EQ(text(add.span), "-(x[i - 1] ?? -1.0) + 2 ** -x[i]");
  const ast::Expr &neg = *add.args[0];
  EXPECT_EQ(text(neg.span), "-(x[i - 1] ?? -1.0)");
  EXPECT_EQ(text(neg.args[0]->span), "(x[i - 1] ?? -1.0)"); // Parentheses included.
  EXPECT_EQ(text(neg.args[0]->args[1]->span), "-1.0");
  EXPECT_EQ(text(add.args[1]->args[1]->span), "-x[i]");
}

TEST(Parser, NodeFields) {
  auto p = parseBody("  y = f(7, 2.5, true, inf, n) + sum(a[k] for k)");
  ASSERT_FALSE(p->diags.hasErrors());
  const ast::Expr &add = *p->file.kernels.at(0).body.at(0).value;
  EXPECT_EQ(add.kind, ast::Expr::Kind::Binary);
  EXPECT_EQ(add.binaryOp, ast::BinaryOp::Add);
  const ast::Expr &call = *add.args[0];
  EXPECT_EQ(call.kind, ast::Expr::Kind::Call);
  EXPECT_EQ(call.name, "f");
  ASSERT_EQ(call.args.size(), 5u);
  EXPECT_EQ(call.args[0]->kind, ast::Expr::Kind::IntLit);
  EXPECT_EQ(call.args[0]->intValue, 7);
  EXPECT_EQ(call.args[1]->kind, ast::Expr::Kind::FloatLit);
  EXPECT_EQ(call.args[1]->floatValue, 2.5);
  EXPECT_EQ(call.args[2]->kind, ast::Expr::Kind::BoolLit);
  EXPECT_TRUE(call.args[2]->boolValue);
  EXPECT_EQ(call.args[3]->kind, ast::Expr::Kind::Inf);
  EXPECT_EQ(call.args[4]->kind, ast::Expr::Kind::Name);
  EXPECT_EQ(call.args[4]->name, "n");
  const ast::Expr &red = *add.args[1];
  EXPECT_EQ(red.kind, ast::Expr::Kind::Reduce);
  EXPECT_EQ(red.reduceKind, ast::ReduceKind::Sum);
  EXPECT_EQ(red.args.size(), 1u);
  EXPECT_EQ(red.vars.size(), 1u);
  EXPECT_EQ(red.vars[0].extent, nullptr);
}

TEST(Parser, OperatorSpellings) {
  EXPECT_EQ(ast::binaryOpSpelling(ast::BinaryOp::FloorDiv), "//");
  EXPECT_EQ(ast::binaryOpSpelling(ast::BinaryOp::MatMul), "@");
  EXPECT_EQ(ast::binaryOpSpelling(ast::BinaryOp::Pow), "**");
  EXPECT_EQ(ast::binaryOpSpelling(ast::BinaryOp::And), "and");
  EXPECT_EQ(ast::binaryOpSpelling(ast::BinaryOp::Ne), "!=");
  EXPECT_EQ(ast::reduceKindName(ast::ReduceKind::Sum), "sum");
  EXPECT_EQ(ast::reduceKindName(ast::ReduceKind::Mean), "mean");
}

// --- The spec's programs -----------------------------------------------------------------------

const char *kFirstLook = R"(# softmax.tdsl — one kernel per file is common, several are allowed.
kernel softmax(x: f32[N, D]) -> y: f32[N, D] {
    e[i, j] = exp(x[i, j] - max(x[i, k] for k))
    y[i, j] = e[i, j] / sum(e[i, k] for k)
}

kernel matmul(a: f32[M, K], b: f32[K, N]) -> c: f32[M, N] {
    c[i, j] = sum(a[i, k] * b[k, j] for k)
}

kernel gelu(x: f32[N, D], bias: f32[D]) -> y: f32[N, D] {
    t = x + bias                                   # whole-array form, broadcasting
    y = 0.5 * t * (1 + tanh(0.7978845608 * (t + 0.044715 * t ** 3)))
}
)";

const char *kMustRun = R"(
kernel layernorm(x: f32[N, D], g: f32[D], b: f32[D]) -> y: f32[N, D] {
    mu[i]  = mean(x[i, j] for j)
    var[i] = mean((x[i, j] - mu[i]) ** 2 for j)
    y[i, j] = (x[i, j] - mu[i]) * rsqrt(var[i] + 1e-5) * g[j] + b[j]
}

kernel conv2d(x: f32[B, C, H, W], w: f32[O, C, R, S]) -> y: f32[B, O, H - R + 1, W - S + 1] {
    y[n, o, h, q] = sum(x[n, c, h + r, q + s] * w[o, c, r, s] for c, r, s)
}

kernel blur3(x: f32[H, W]) -> y: f32[H, W] {
    y[i, j] = (x[i - 1, j] ?? 0.0 + x[i, j] + x[i + 1, j] ?? 0.0) / 3.0
}

kernel attention(q: f32[T, E], k: f32[S, E], v: f32[S, E]) -> o: f32[T, E] {
    s[t, u] = sum(q[t, e] * k[u, e] for e) * rsqrt(f32(E))
    p = softmax(s)
    o[t, e] = sum(p[t, u] * v[u, e] for u)
}

kernel causal_mask(s: f32[T, T]) -> y: f32[T, T] {
    y[t, u] = where(u <= t, s[t, u], -inf)
}
)";

TEST(ParserSpec, FirstLook) {
  auto p = parse(kFirstLook);
  EXPECT_EQ(p->diags.render(), "");
  EXPECT_EQ(p->text,
            "kernel softmax(x: f32[N, D]) -> y: f32[N, D]\n"
            "  e[i, j] = (exp (- x[i, j] (max x[i, k] for k)))\n"
            "  y[i, j] = (/ e[i, j] (sum e[i, k] for k))\n"
            "\n"
            "kernel matmul(a: f32[M, K], b: f32[K, N]) -> c: f32[M, N]\n"
            "  c[i, j] = (sum (* a[i, k] b[k, j]) for k)\n"
            "\n"
            "kernel gelu(x: f32[N, D], bias: f32[D]) -> y: f32[N, D]\n"
            "  t = (+ x bias)\n"
            "  y = (* (* 0.5 t) (+ 1 (tanh (* 0.7978845608 (+ t (* 0.044715 (** t 3)))))))\n");
}

TEST(ParserSpec, ExamplesTheImplementationMustRun) {
  auto p = parse(std::string(kFirstLook) + kMustRun);
  EXPECT_EQ(p->diags.render(), "");
  ASSERT_EQ(p->file.kernels.size(), 8u);
  EXPECT_EQ(printAst(p->file, "layernorm"),
            "kernel layernorm(x: f32[N, D], g: f32[D], b: f32[D]) -> y: f32[N, D]\n"
            "  mu[i] = (mean x[i, j] for j)\n"
            "  var[i] = (mean (** (- x[i, j] mu[i]) 2) for j)\n"
            "  y[i, j] = (+ (* (* (- x[i, j] mu[i]) (rsqrt (+ var[i] 1e-05))) g[j]) b[j])\n");
  EXPECT_EQ(printAst(p->file, "conv2d"),
            "kernel conv2d(x: f32[B, C, H, W], w: f32[O, C, R, S]) -> y: f32[B, O, (+ (- H R) "
            "1), (+ (- W S) 1)]\n"
            "  y[n, o, h, q] = (sum (* x[n, c, (+ h r), (+ q s)] w[o, c, r, s]) for c, r, s)\n");
  EXPECT_EQ(printAst(p->file, "blur3"),
            "kernel blur3(x: f32[H, W]) -> y: f32[H, W]\n"
            "  y[i, j] = (/ (+ (+ (?? x[(- i 1), j] 0.0) x[i, j]) (?? x[(+ i 1), j] 0.0)) 3.0)\n");
  EXPECT_EQ(printAst(p->file, "attention"),
            "kernel attention(q: f32[T, E], k: f32[S, E], v: f32[S, E]) -> o: f32[T, E]\n"
            "  s[t, u] = (* (sum (* q[t, e] k[u, e]) for e) (rsqrt (f32 E)))\n"
            "  p = (softmax s)\n"
            "  o[t, e] = (sum (* p[t, u] v[u, e]) for u)\n");
  EXPECT_EQ(printAst(p->file, "causal_mask"), "kernel causal_mask(s: f32[T, T]) -> y: f32[T, T]\n"
                                              "  y[t, u] = (where (<= u t) s[t, u] (- inf))\n");
}

TEST(ParserSpec, CallsSection) {
  auto p = parseBody("  y = softmax(x)\n  (mu, rstd) = stats(x)\n  total = sum(x[i] for i)");
  EXPECT_EQ(p->diags.render(), "");
  EXPECT_EQ(p->text, "kernel f(x: f32[N]) -> y: f32[N]\n"
                     "  y = (softmax x)\n"
                     "  (mu, rstd) = (stats x)\n"
                     "  total = (sum x[i] for i)\n");
}

// --- Errors, one class at a time ----------------------------------------------------------------

struct ErrorCase {
  std::string body;     // Kernel body lines; line 1 of the body is line 2 of the file.
  std::string location; // "line:col"
  std::string message;  // Substring of the message.
  std::string hint;     // Substring of the hint ("" = not checked).
};

void expectError(const ErrorCase &c) {
  auto p = parseBody(c.body);
  std::vector<std::string> errors = p->errors();
  ASSERT_EQ(errors.size(), 1u) << c.body << "\n" << p->diags.render();
  EXPECT_EQ(errors[0].substr(0, c.location.size() + 2), c.location + ": ") << p->diags.render();
  EXPECT_NE(errors[0].find(c.message), std::string::npos) << p->diags.render();
  EXPECT_NE(p->first().hint.find(c.hint), std::string::npos) << p->diags.render();
}

TEST(ParserErrors, ChainedComparison) {
  expectError({"  y[i] = a < b < c", "2:16", "comparison operators cannot be chained",
               "`a < b and b < c`"});
  expectError({"  y[i] = 0 <= x[i] == true", "2:20", "cannot be chained", "'and'"});
}

TEST(ParserErrors, MissingCloseBracketPointsAfterTheLastToken) {
  auto p = parseBody("  y[i] = x[i\n  z = 1");
  ASSERT_EQ(p->errors(), std::vector<std::string>{"2:13: expected ']' to close '[', found 'z'"});
  ASSERT_EQ(p->diags.diagnostics().size(), 2u);
  EXPECT_EQ(p->diags.diagnostics()[1].severity, Severity::Note);
  EXPECT_EQ(p->diags.diagnostics()[1].span.str(), "t.tdsl:2:11");
  EXPECT_EQ(p->diags.diagnostics()[1].message, "'[' opened here");
  // Recovery resumes at the line break, so `z = 1` is kept.
  EXPECT_NE(p->text.find("  z = 1\n"), std::string::npos);
}

TEST(ParserErrors, MissingCloseParen) {
  expectError({"  y = (x + 1\n", "2:13", "expected ')' to close '(', found '}'", ""});
  expectError({"  y = f(x, 1 2)", "2:14", "expected ')' to close '(', found '2'", ""});
  expectError({"  y = x[i)", "2:10", "expected ']' to close '[', found ')'", ""});
}

TEST(ParserErrors, StatementShape) {
  expectError({"  y == x", "2:5", "expected '=' after the statement's target, found '=='",
               "'==' compares"});
  expectError(
      {"  y += x", "2:5", "expected '=' after the statement's target", "compound assignment"});
  expectError({"  y: f32 = x", "2:4", "expected '='", "type annotation"});
  expectError({"  f(x)", "2:4", "expected '='", "must define a name"});
  expectError({"  y\n", "2:4", "expected '=' after the statement's target, found end of line", ""});
  expectError({"  1 = x", "2:3", "expected a statement, found '1'", "NAME = EXPR"});
  expectError({"  for i in x", "2:3", "expected a statement, found 'for'", "no loops"});
  expectError(
      {"  y = x z", "2:9", "unexpected 'z' after the end of the statement", "operator missing"});
  expectError({"  y = x)", "2:8", "unmatched ')'", ""});
  expectError({"  y = a if c else b", "2:9", "unexpected 'if'", "where(cond, a, b)"});
  expectError({"  (a, b) = x + 1", "2:12", "a list of targets must be assigned a kernel call", ""});
  expectError({"  (a, 1) = f(x)", "2:7", "expected a name in the list of targets", ""});
}

TEST(ParserErrors, TargetIndices) {
  expectError({"  y[i + 1] = x[i]", "2:7", "expected ',', '<' or ']' after index variable 'i'",
               "fresh index variables"});
  expectError({"  y[0] = x[0]", "2:5", "expected an index variable, found '0'", ""});
  expectError({"  y[] = 1", "2:5", "expected an index variable", "by its name alone"});
  expectError({"  y[i <= N] = x[i]", "2:7", "after index variable 'i'", "exclusive"});
}

TEST(ParserErrors, Reductions) {
  expectError({"  y[i] = exp(x[i] for k)", "2:19", "'exp' is not a reduction",
               "sum, prod, max, min, mean, argmax and argmin"});
  expectError({"  y = argmax(x[k, m] for k, m)", "2:29",
               "'argmax' takes one reduction variable, not 2", "argmax(x[i, k] for k)"});
  expectError({"  y[i] = max(a, x[i] for k)", "2:22", "'for' after several arguments",
               "one expression before 'for'"});
  expectError(
      {"  y = sum(x[k] for k in N)", "2:22", "after reduction variable 'k'", "`for k < N`"});
  expectError({"  y = sum(x[k] for 1)", "2:20", "expected a reduction variable, found '1'", ""});
}

TEST(ParserErrors, Expressions) {
  expectError(
      {"  y = x +\n", "2:10", "expected an expression, found end of line", "inside ( ) or [ ]"});
  expectError({"  y = * x", "2:7", "expected an expression, found '*'", ""});
  expectError({"  y = ()", "2:8", "expected an expression inside '( )'", ""});
  expectError({"  y = (a, b)", "2:9", "unexpected ',' in parentheses", "targets of a kernel call"});
  expectError({"  y = a == not b", "2:12", "'not' binds more loosely", "(not x)"});
  expectError({"  y = +x", "2:7", "unary '+' is not supported", "remove it"});
  expectError({"  y = x[i][j]", "2:11", "all its subscripts in one pair of brackets", "x[i, j]"});
  expectError({"  y = (x)[i]", "2:10", "only a tensor name can be subscripted", ""});
  expectError(
      {"  y = 2(x)", "2:8", "only a function or kernel name can be called", "operator missing"});
  expectError({"  y = x[]", "2:9", "expected a subscript", "name alone"});
  expectError({"  y = sum(x[k] for k <)", "2:23", "expected an expression, found ')'", ""});
}

TEST(ParserErrors, Defaults) {
  expectError({"  y = x ?? 0.0", "2:7", "the left side of '?\?' must be a tensor access",
               "x[i - 1] ?\? 0.0"});
  expectError({"  y = f(x) ?? 0.0", "2:7", "must be a tensor access", ""});
  expectError({"  y[i] = x[i] ?? y[i] ?? 0.0", "2:10", "must be a tensor access",
               "a[i] ?\? (b[i] ?\? 0.0)"});
  expectError({"  y[i] = x[i] ?? -z", "2:19", "the default after '?\?' must be a literal", "(-y)"});
  expectError({"  y[i] = x[i] ?? * 2", "2:18", "expected an expression, found '*'", ""});
}

TEST(ParserErrors, KernelHeaders) {
  struct Case {
    std::string text, location, message, hint;
  };
  for (const Case &c : {
           Case{"kernel (x: f32) -> y: f32 { y = x }", "1:8",
                "expected the kernel's name after 'kernel', found '('", "kernel NAME("},
           Case{"kernel f x: f32 -> y: f32 { y = x }", "1:10",
                "expected '(' and the parameter list", ""},
           Case{"kernel f(x) -> y: f32 { y = x }", "1:11",
                "expected ':' and a type after parameter 'x', found ')'", "`x: f32[N]`"},
           Case{"kernel f(f32[N]) -> y: f32 { y = x }", "1:10",
                "this parameter has a type but no name", "`x: f32[N]`"},
           Case{"kernel f(x: f32) -> f32 { y = x }", "1:21", "this output has a type but no name",
                "`y: f32[N]`"},
           Case{"kernel f(x: float[N]) -> y: f32 { y = x }", "1:13", "unknown dtype 'float'",
                "did you mean 'f32'?"},
           Case{"kernel f(x: int64) -> y: f32 { y = x }", "1:13", "unknown dtype 'int64'", "'i64'"},
           Case{"kernel f(x: 3) -> y: f32 { y = x }", "1:13", "expected a dtype, found '3'",
                "f16, bf16, f32"},
           Case{"kernel f(x: f32[]) -> y: f32 { y = x }", "1:17", "expected a dimension",
                "dtype alone"},
           Case{"kernel f(x: f32[N) -> y: f32 { y = x }", "1:18",
                "expected ']' to close '[', found ')'", ""},
           Case{"kernel f(x: f32[N] -> y: f32 { y = x }", "1:20",
                "expected ')' to close '(', found '->'", "separated by ','"},
           Case{"kernel f(x: f32) y: f32 { y = x }", "1:18",
                "expected '->' and the kernel's outputs", ""},
           Case{"kernel f(x: f32) -> y: f32, z: f32 { y = x }", "1:27",
                "expected '{' to start the body of kernel 'f', found ','", "in parentheses"},
           Case{"kernel f(x: f32) -> (y: f32 { y = x }", "1:29", "expected ')' to close '('", ""},
           Case{"kernel f(x: f32) -> y: f32\n  y = x\n}", "1:27",
                "expected '{' to start the body of kernel 'f', found 'y'", ""},
           Case{"kernel f(x: f32) -> y: f32 {\n  y = x\n", "2:8",
                "expected '}' to close the body of kernel 'f', found end of file", ""},
           Case{"y = x", "1:1", "expected 'kernel' at the top level, found 'y'",
                "sequence of kernels"},
           Case{"kernel f(x: f32) -> y: f32 { y = x }}", "1:37",
                "expected 'kernel' at the top level, found '}'", "no kernel body open"},
       }) {
    auto p = parse(c.text);
    std::vector<std::string> errors = p->errors();
    ASSERT_EQ(errors.size(), 1u) << c.text << "\n" << p->diags.render();
    EXPECT_EQ(errors[0].substr(0, c.location.size() + 2), c.location + ": ") << p->diags.render();
    EXPECT_NE(errors[0].find(c.message), std::string::npos) << p->diags.render();
    EXPECT_NE(p->first().hint.find(c.hint), std::string::npos) << p->diags.render();
  }
}

TEST(ParserErrors, RenderedDiagnosticShowsLineCaretAndHint) {
  auto p = parseBody("  y = a < b < c");
  EXPECT_EQ(p->diags.render(), "t.tdsl:2:13: error[E016]: comparison operators cannot be chained\n"
                               "      y = a < b < c\n"
                               "                ^\n"
                               "    hint: combine two comparisons with 'and': `a < b and b < c`\n");
}

TEST(ParserErrors, MissingBraceBeforeNextKernelKeepsBothKernels) {
  auto p = parse("kernel f(x: f32) -> y: f32 {\n  y = x\n\nkernel g(x: f32) -> y: f32 {\n"
                 "  y = x\n}\n");
  EXPECT_EQ(p->errors(), std::vector<std::string>{
                             "4:1: expected '}' to close the body of kernel 'f', found 'kernel'"});
  EXPECT_EQ(p->diags.diagnostics().at(1).message, "the body of 'f' opened here");
  EXPECT_EQ(p->diags.diagnostics().at(1).span.str(), "t.tdsl:1:28");
  EXPECT_EQ(p->file.kernels.size(), 2u);
}

// --- Recovery: every independent error in one file ------------------------------------------

TEST(ParserRecovery, SeveralErrorsInOneFile) {
  auto p = parse("kernel f(x: f32[N]) -> y: f32[N] {\n"       // 1
                 "    a[i] = x[i] +\n"                        // 2
                 "    b[i] = x[i\n"                           // 3
                 "    c[i] = a < b < c\n"                     // 4
                 "    d = (x + 1\n"                           // 5
                 "    e[i + 1] = x[i]\n"                      // 6
                 "    ok1 = x\n"                              // 7
                 "    f[i] = exp(x[i] for k)\n"               // 8
                 "    y == x\n"                               // 9
                 "    g = x $ 2; ok2 = x\n"                   // 10
                 "    h = (a +\n"                             // 11
                 "         b) ** * 2\n"                       // 12
                 "    k = α + 1\n"                            // 13
                 "    l = 12abc + 99999999999999999999\n"     // 14
                 "    ok3 = x\n"                              // 15
                 "}\n"                                        // 16
                 "kernel g(x: float[N], f32[N]) -> y f32 {\n" // 17
                 "  y = x ?? 1\n"                             // 18
                 "}\n"                                        // 19
                 "junk here\n"                                // 20
                 "kernel h(x: f32) -> y: f32 {\n"             // 21
                 "  y = 1e999\n");                            // 22
  EXPECT_EQ(p->errors(),
            (std::vector<std::string>{
                "2:18: expected an expression, found end of line",
                "3:15: expected ']' to close '[', found 'c'",
                "4:18: comparison operators cannot be chained",
                "5:15: expected ')' to close '(', found 'e'",
                "6:9: expected ',', '<' or ']' after index variable 'i' in the statement's target, "
                "found '+'",
                "8:21: 'exp' is not a reduction",
                "9:7: expected '=' after the statement's target, found '=='",
                "10:11: unexpected character '$'",
                "12:16: expected an expression, found '*'",
                "13:9: unexpected character U+03B1 'α'",
                "14:9: invalid suffix 'abc' on number '12'",
                "14:17: integer literal '99999999999999999999' is too large",
                "17:13: unknown dtype 'float'",
                "17:23: this parameter has a type but no name",
                "18:7: the left side of '?\?' must be a tensor access",
                "20:1: expected 'kernel' at the top level, found 'junk'",
                "22:7: float literal '1e999' is too large for f64",
                "22:12: expected '}' to close the body of kernel 'h', found end of file",
            }))
      << p->diags.render();
  // The statements that parsed are kept (with the non-fatal errors in them).
  std::string body = printAst(p->file, "f");
  EXPECT_NE(body.find("  ok1 = x\n"), std::string::npos);
  EXPECT_NE(body.find("  ok2 = x\n"), std::string::npos);
  EXPECT_NE(body.find("  ok3 = x\n"), std::string::npos);
  EXPECT_EQ(body.find("  a[i]"), std::string::npos);
}

TEST(ParserRecovery, ErrorCountIsCapped) {
  std::string body;
  for (int i = 0; i < 500; ++i)
    body += "  y = * x\n";
  auto p = parseBody(body);
  EXPECT_EQ(p->errors().size(), 100u);
  const Diagnostic &last = p->diags.diagnostics().back();
  EXPECT_EQ(last.severity, Severity::Note);
  EXPECT_EQ(last.message, "too many errors; stopping here");
}

TEST(ParserRecovery, ErrorsInsideBracketsAcrossLines) {
  // The line break inside the call was skipped while parsing; recovery still stops there.
  auto p = parseBody("  y = f(a, b\n  z = 3\n  w = (1 +\n  2) $\n  v = 4");
  EXPECT_EQ(p->errors(), (std::vector<std::string>{"2:13: expected ')' to close '(', found 'z'",
                                                   "5:6: unexpected character '$'"}));
  EXPECT_NE(p->text.find("  z = 3\n"), std::string::npos);
  EXPECT_NE(p->text.find("  v = 4\n"), std::string::npos);
}

// --- Hostile input ----------------------------------------------------------------------------

TEST(ParserHostile, HundredThousandNestedParentheses) {
  auto p = parseBody("  y = " + std::string(100000, '(') + "x" + std::string(100000, ')'));
  ASSERT_EQ(p->errors().size(), 1u);
  EXPECT_NE(p->errors()[0].find("expression nested too deeply"), std::string::npos);
  EXPECT_NE(p->first().hint.find("several statements"), std::string::npos);
}

TEST(ParserHostile, DeepNestingOfEveryKind) {
  for (std::string text : {std::string(100000, '-') + "x",
                           [] {
                             std::string s;
                             for (int i = 0; i < 100000; ++i)
                               s += "not ";
                             return s + "x";
                           }(),
                           [] {
                             std::string s;
                             for (int i = 0; i < 100000; ++i)
                               s += "x ** ";
                             return s + "x";
                           }(),
                           [] {
                             std::string s;
                             for (int i = 0; i < 100000; ++i)
                               s += "x[";
                             return s + "i" + std::string(100000, ']');
                           }(),
                           [] {
                             std::string s;
                             for (int i = 0; i < 100000; ++i)
                               s += "sum(";
                             return s + "x";
                           }(),
                           [] {
                             std::string s;
                             for (int i = 0; i < 100000; ++i)
                               s += "x[i] ?? (";
                             return s;
                           }()}) {
    auto p = parseBody("  y = " + text + "\n  z = 1");
    ASSERT_EQ(p->errors().size(), 1u) << text.substr(0, 20) << p->diags.render().substr(0, 500);
    EXPECT_NE(p->errors()[0].find("nested too deeply"), std::string::npos);
  }
}

TEST(ParserHostile, LongOperatorChainIsCapped) {
  // A left-deep chain would make every later tree walk recurse 100,000 deep.
  std::string chain = "x";
  for (int i = 0; i < 100000; ++i)
    chain += " + x";
  auto p = parseBody("  y = " + chain);
  ASSERT_EQ(p->errors().size(), 1u);
  EXPECT_NE(p->errors()[0].find("nested too deeply (more than 1000 levels)"), std::string::npos);
  // A long but reasonable chain is fine.
  std::string ok = "x";
  for (int i = 0; i < 500; ++i)
    ok += " * x";
  EXPECT_FALSE(parseBody("  y = " + ok)->diags.hasErrors());
}

TEST(ParserHostile, NestingJustBelowTheLimitIsFine) {
  auto p = parseBody("  y = " + std::string(200, '(') + "x" + std::string(200, ')'));
  EXPECT_FALSE(p->diags.hasErrors());
}

TEST(ParserHostile, NestingInATypeAndAtTopLevel) {
  auto p = parse(std::string(100000, '[') + "\nkernel f(x: f32[" + std::string(100000, '(') +
                 "]) -> y: f32 { y = x }\nkernel g(x: f32) -> y: f32 { y = x }");
  EXPECT_EQ(p->errors().size(), 2u) << p->diags.render().substr(0, 1000);
  EXPECT_EQ(p->file.kernels.size(), 1u); // g
}

TEST(ParserHostile, MegabyteIdentifier) {
  std::string name(1 << 20, 'n');
  auto p = parseBody("  " + name + " = x + " + name);
  EXPECT_FALSE(p->diags.hasErrors());
  EXPECT_EQ(p->file.kernels.at(0).body.at(0).targets.at(0).name.size(), 1u << 20);
  // In a message the name is shortened.
  auto q = parseBody("  y = x " + name);
  ASSERT_EQ(q->errors().size(), 1u);
  EXPECT_LT(q->errors()[0].size(), 200u);
}

TEST(ParserHostile, FourHundredDigitInteger) {
  auto p = parseBody("  y = x + " + std::string(400, '9'));
  ASSERT_EQ(p->errors().size(), 1u);
  EXPECT_NE(p->errors()[0].find("2:11: integer literal '999"), std::string::npos);
  EXPECT_NE(p->errors()[0].find("is too large"), std::string::npos);
}

TEST(ParserHostile, NulBytesAndInvalidUtf8) {
  std::string text = "kernel f(x: f32) -> y: f32 {\n  y = x";
  text += '\0';
  text += " + 1\n  z = \xff\xfe\n  w = \xc3\x28\n}\n";
  auto p = parse(text);
  EXPECT_EQ(p->errors(),
            (std::vector<std::string>{"2:8: unexpected NUL byte", "3:7: invalid UTF-8 byte 0xFF",
                                      "4:7: invalid UTF-8 byte 0xC3"}));
  std::string rendered = p->diags.render(); // Rendering a line with a NUL must work too.
  EXPECT_NE(rendered.find("y = x? + 1"), std::string::npos);
}

TEST(ParserHostile, BinaryGarbageIsCappedAndNeverCrashes) {
  std::mt19937 rng(7);
  std::string text(1 << 20, '\0');
  for (char &c : text)
    c = static_cast<char>(rng());
  auto p = parse(text);
  EXPECT_TRUE(p->diags.hasErrors());
  EXPECT_LE(p->errors().size(), 100u);
}

/// Random mutations of the spec's programs: parsing must never throw or crash, and whatever
/// parsed must print.
TEST(ParserHostile, MutatedSpecProgramsNeverCrash) {
  const std::string original = std::string(kFirstLook) + kMustRun;
  const std::string pieces[] = {"(",   ")", "[",  "]",    "{",  "}",  ",",    ":",    ";",
                                "->",  "=", "==", "<",    "**", "??", "-",    "for",  "kernel",
                                "not", "x", "1",  "2.5e", "\n", "\0", "\xff", "sum(", "#"};
  std::mt19937 rng(2024);
  for (int round = 0; round < 600; ++round) {
    std::string text = original;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t at = rng() % text.size();
      switch (rng() % 3) {
      case 0:
        text.erase(at, 1 + rng() % 3);
        break;
      case 1: {
        const std::string &piece = pieces[rng() % std::size(pieces)];
        text.insert(at, piece.empty() ? std::string(1, '\0') : piece);
        break;
      }
      default:
        text[at] = static_cast<char>(rng());
        break;
      }
    }
    std::unique_ptr<Parsed> p;
    ASSERT_NO_THROW(p = parse(text)) << text;
    (void)p->diags.render();
  }
}

} // namespace
