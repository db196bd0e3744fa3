// Sema's diagnostics: one test per class of error, checking the message, where it points
// (line:column) and the hint; then recovery (all independent errors, no cascades).
#include "SemaTestUtil.h"

namespace tdsl::frontend {
namespace {

using testing::compile;
using testing::expectError;

// --- Names and single assignment --------------------------------------------------------------

TEST(SemaErrors, UndefinedNameSuggestsACloseOne) {
  expectError(R"(kernel f(x: f32[N]) -> y: f32[N] {
    total = sum(x[i] for i)
    y = x / totl
})",
              "undefined name 'totl'", "3:13", "did you mean 'total'?");
}

TEST(SemaErrors, UndefinedIndexVariableHintsWhereToDeclareIt) {
  expectError(R"(kernel f(x: f32[N, D]) -> y: f32[N] {
    y[i] = x[i, j]
})",
              "undefined name 'j'", "2:17", "sum(... for j)");
}

TEST(SemaErrors, NameUsedBeforeItsDefinition) {
  expectError(R"(kernel f(x: f32[N]) -> y: f32[N] {
    y = t * 2.0
    t = x
})",
              "'t' is used before it is defined", "2:9", "move its definition above");
}

TEST(SemaErrors, NameDefinedTwice) {
  expectError(R"(kernel f(x: f32[N]) -> y: f32[N] {
    t = x
    t = x * 2.0
    y = t
})",
              "'t' is already defined", "3:5", "single assignment");
}

TEST(SemaErrors, AssignmentToAnInput) {
  expectError(R"(kernel f(x: f32[N]) -> y: f32[N] {
    x = x * 2.0
    y = x
})",
              "cannot assign to input 'x'", "2:5", "inputs are read-only");
}

TEST(SemaErrors, OutputNeverAssigned) {
  expectError(R"(kernel f(x: f32[N]) -> (y: f32[N], z: f32[N]) {
    y = x
})",
              "output 'z' is never assigned", "1:36", "z = ...");
}

TEST(SemaErrors, OutputAssignedTwice) {
  expectError(R"(kernel f(x: f32[N]) -> y: f32[N] {
    y = x
    y[i] = x[i]
})",
              "output 'y' is assigned twice", "3:5");
}

TEST(SemaErrors, OutputReadInItsOwnDefinition) {
  expectError(R"(kernel f(x: f32[N]) -> y: f32[N] {
    y[i] = x[i] + y[i - 1] ?? 0.0
})",
              "output 'y' is used in its own definition", "2:19", "recurrences");
}

TEST(SemaErrors, LocalUsedInItsOwnDefinition) {
  expectError(R"(kernel f(x: f32[N]) -> y: f32[N] {
    t = x + t
    y = x
})",
              "'t' is used in its own definition", "2:13");
}

TEST(SemaErrors, AssignmentToAShapeSymbol) {
  expectError(R"(kernel f(x: f32[N]) -> y: f32[N] {
    N = 3
    y = x
})",
              "'N' is a shape symbol and cannot be assigned", "2:5");
}

// --- Signatures ---------------------------------------------------------------------------------

TEST(SemaErrors, OutputSymbolMustComeFromAnInput) {
  expectError(R"(kernel f(x: f32[N]) -> y: f32[M] {
    y = x
})",
              "shape symbol 'M' of output 'y' does not appear as a dim of any input", "1:31",
              "bound from an input's shape");
}

TEST(SemaErrors, InputDimsAreLiteralsOrSymbols) {
  expectError(R"(kernel f(x: f32[N - 1]) -> y: f32[N] {
    y = 0.0
})",
              "an input's dim must be an integer or a shape symbol", "1:17",
              "allowed only in outputs");
}

TEST(SemaErrors, OutputDimsAreIntegerExpressionsOfSymbols) {
  expectError(R"(kernel f(x: f32[N, M]) -> y: f32[N ** 2] {
    y = 0.0
})",
              "an output's dim must be an integer expression of shape symbols", "1:34");
}

TEST(SemaErrors, ParameterDeclaredTwice) {
  expectError(R"(kernel f(x: f32[N], x: f32[N]) -> y: f32[N] {
    y = x
})",
              "parameter 'x' is declared twice", "1:21");
}

TEST(SemaErrors, KernelDefinedTwice) {
  expectError(R"(kernel f(x: f32[N]) -> y: f32[N] {
    y = x
}
kernel f(x: f32[N]) -> y: f32[N] {
    y = x * 2.0
})",
              "kernel 'f' is defined twice", "4:8");
}

TEST(SemaErrors, KernelNamedLikeABuiltin) {
  expectError(R"(kernel exp(x: f32[N]) -> y: f32[N] {
    y = x
})",
              "'exp' is the name of a built-in function", "1:8");
}

// --- Index form and extents ---------------------------------------------------------------------

TEST(SemaErrors, WrongNumberOfSubscripts) {
  expectError(R"(kernel f(x: f32[N, D]) -> y: f32[N] {
    y[i] = x[i]
})",
              "'x' has 2 dims but is read with 1 subscript", "2:12", "x[i, j]");
}

TEST(SemaErrors, WrongNumberOfIndicesForAnOutput) {
  expectError(R"(kernel f(x: f32[N, D]) -> y: f32[N, D] {
    y[i] = sum(x[i, j] for j)
})",
              "output 'y' has 2 dims but the statement gives 1 index", "2:5");
}

TEST(SemaErrors, DuplicateIndexVariable) {
  expectError(R"(kernel f(x: f32[N, N]) -> y: f32[N, N] {
    y[i, i] = x[i, i]
})",
              "index variable 'i' is declared twice", "2:10");
}

TEST(SemaErrors, ReductionVariableMustBeFresh) {
  expectError(R"(kernel f(x: f32[N, N]) -> y: f32[N] {
    y[i] = sum(x[i, i] for i)
})",
              "index variable 'i' is already in use", "2:28", "fresh");
}

TEST(SemaErrors, CannotInferTheExtent) {
  expectError(R"(kernel f(x: f32[N]) -> y: f32 {
    y = sum(x[k + 1] ?? 0.0 for k)
})",
              "cannot infer the extent of k", "2:33", "explicit extent");
}

TEST(SemaErrors, ConflictingExtentsNameBothUses) {
  expectError(R"(kernel f(x: f32[N], w: f32[M]) -> y: f32 {
    y = sum(x[i] * w[i] for i)
})",
              "conflicting extents for i: x[i] gives N but w[i] gives M", "2:22",
              "explicit extent");
}

TEST(SemaErrors, ExplicitExtentOfAnOutputIndexMustMatch) {
  expectError(R"(kernel f(x: f32[N]) -> y: f32[N] {
    y[i < N - 1] = x[i + 1]
})",
              "the extent of 'i' (N - 1) differs from dim 0 of output 'y' (N)", "2:11");
}

TEST(SemaErrors, ExtentsAreExpressionsOfSymbols) {
  expectError(R"(kernel f(x: f32[N]) -> y: f32 {
    y = sum(x[i] for i < x)
})",
              "'x' is a tensor; an extent is an expression of shape symbols", "2:26");
  expectError(R"(kernel f(x: f32[N]) -> y: f32[N] {
    t[i, j < i] = x[j]
    y[i] = t[i, 0] ?? 0.0
})",
              "index variable 'i' cannot be used here", "2:14", "only a reduction's bound");
}

TEST(SemaErrors, ReductionBoundsNameTheVariablesAroundThem) {
  expectError(R"(kernel f(x: f32[N]) -> y: f32[N] {
    y[i] = sum(x[k] for k <= k)
})",
              "the bound of 'k' names 'k', its own variable", "2:30", "nest the reductions");
  expectError(R"(kernel f(x: f32[N]) -> y: f32[N] {
    y[i] = sum(x[k] for k <= i + 1)
})",
              "access x[k] may read past the end of dim 0", "2:18");
  expectError(R"(kernel f(x: f32[N]) -> y: f32[N] {
    y[i] = sum(x[k] for k < i % 3)
})",
              "the bound of 'k' uses index variable 'i' inside a product, '//' or '%'", "2:29");
}

TEST(SemaErrors, BareTensorInIndexForm) {
  expectError(R"(kernel f(x: f32[N, D]) -> y: f32[N, D] {
    y[a, b] = x * 2.0
})",
              "tensor 'x' (2-d) is used without subscripts in an index-form expression", "2:15",
              "x[a, b]");
}

// --- Subscripts and bounds ----------------------------------------------------------------------

TEST(SemaErrors, SubscriptMustBeAnInteger) {
  // Any integer subscript is allowed (a gather, checked when the kernel runs); a float or a bool
  // is not, and is never converted implicitly.
  expectError(R"(kernel f(x: f32[N], p: f32[N]) -> y: f32[N] {
    y[i] = x[p[i]] ?? 0.0
})",
              "a subscript must be an integer, but p[i] is f32", "2:14", "i64(floor(x))");
  expectError(R"(kernel f(x: f32[N], b: bool[N]) -> y: f32[N] {
    y[i] = x[b[i]]
})",
              "a subscript must be an integer, but b[i] is bool", "2:14");
  expectError(R"(kernel f(x: f32[N]) -> y: f32[N] {
    y[i] = x[1.5]
})",
              "a subscript must be an integer, but 1.5 is a float literal", "2:14");
}

TEST(SemaErrors, ReadPastTheEnd) {
  expectError(R"(kernel f(x: f32[N, D]) -> y: f32[N, D] {
    y[i, j] = x[i + 1, j]
})",
              "access x[i + 1, j] may read past the end of dim 0: i + 1 can reach N but x has N "
              "rows",
              "2:17",
              "use x[i + 1, j] ?? 0.0 for zero padding, or give i an explicit extent (i < N - 1)");
}

TEST(SemaErrors, ReadBeforeTheStart) {
  expectError(R"(kernel f(x: i32[N]) -> y: i32[N] {
    y[i] = x[i - 2]
})",
              "access x[i - 2] may read before the start of dim 0: i - 2 can be -2", "2:14",
              "x[i - 2] ?? 0 for zero padding");
}

TEST(SemaErrors, ConstantSubscriptOfAPossiblyEmptyTensor) {
  expectError(R"(kernel f(x: f32[N]) -> y: f32 {
    y = x[0]
})",
              "x has N elements, and nothing guarantees N > 0", "2:11");
}

TEST(SemaErrors, WindowTooLarge) {
  expectError(R"(kernel f(x: f32[H], w: f32[R]) -> y: f32[H - R + 1] {
    y[h] = sum(x[h + r + 1] * w[r] for r)
})",
              "x[h + r + 1] may read past the end of dim 0: h + r + 1 can reach H", "2:18");
}

TEST(SemaErrors, DefaultMustMatchTheTensorsDtype) {
  expectError(R"(kernel f(x: f32[N], z: f64) -> y: f32[N] {
    y[i] = x[i - 1] ?? z
})",
              "the default has dtype f64 but 'x' is f32", "2:24", "f32(z)");
  expectError(R"(kernel f(x: i32[N]) -> y: i32[N] {
    y[i] = x[i - 1] ?? 0.5
})",
              "the float literal 0.5 is used with an i32 value", "2:24");
}

// --- Whole-array form ---------------------------------------------------------------------------

TEST(SemaErrors, IncompatibleBroadcastShowsBothShapes) {
  expectError(R"(kernel f(x: f32[N, D], b: f32[N]) -> y: f32[N, D] {
    y = x + b
})",
              "cannot broadcast shapes [N, D] and [N] in '+'", "2:9", "equal or one of them 1");
}

TEST(SemaErrors, ValueDoesNotBroadcastToTheOutput) {
  expectError(R"(kernel f(x: f32[N, D], b: f32[N]) -> y: f32[N, D] {
    y = b * 2.0
})",
              "the value's shape [N] does not broadcast to the shape [N, D] of output 'y'", "2:9");
}

TEST(SemaErrors, MatrixProductDimsMustAgree) {
  expectError(R"(kernel f(a: f32[M, K], b: f32[N, K]) -> y: f32[M, K] {
    y = a @ b
})",
              "the dims of '@' do not agree: [M, K] @ [N, K] contracts K with N", "2:9",
              "[M, K] @ [K, N]");
}

TEST(SemaErrors, MatrixProductInIndexForm) {
  expectError(R"(kernel f(a: f32[M, K]) -> y: f32[M, K] {
    y[i, j] = a[i, j] @ a[i, j]
})",
              "'@' multiplies whole tensors", "2:15", "sum(a[i, k] * b[k, j] for k)");
}

TEST(SemaErrors, MatrixProductOfAScalar) {
  expectError(R"(kernel f(a: f32[M, K], s: f32) -> y: f32[M, K] {
    y = a @ s
})",
              "'@' needs tensors of rank 1 or more, but s is a scalar", "2:9", "'*'");
}

// --- Typing -------------------------------------------------------------------------------------

TEST(SemaErrors, MixedDtypesSuggestACast) {
  expectError(R"(kernel f(x: f32[N], n: i64[N]) -> y: f32[N] {
    y[i] = x[i] * n[i]
})",
              "mismatched dtypes in '*': f32 and i64", "2:12", "f32(n[i])");
  expectError(R"(kernel f(x: f32[N]) -> y: f32[N] {
    y[i] = x[i] * i
})",
              "mismatched dtypes in '*': f32 and i64", "2:12", "f32(i)");
  expectError(R"(kernel f(x: f16[N], z: f32[N]) -> y: f32[N] {
    y = x + z
})",
              "mismatched dtypes in '+': f16 and f32", "2:9", "f32(x)");
}

TEST(SemaErrors, FloatLiteralWithAnInteger) {
  expectError(R"(kernel f(n: i32[N]) -> y: i32[N] {
    y = n * 0.5
})",
              "the float literal 0.5 is used with an i32 value", "2:13", "f32(n)");
}

TEST(SemaErrors, LiteralOutOfRangeForI32) {
  expectError(R"(kernel f(n: i32[N]) -> y: i32[N] {
    y = n + 3000000000
})",
              "the integer literal 3000000000 does not fit in i32", "2:13");
}

TEST(SemaErrors, IntegerDivision) {
  expectError(R"(kernel f(n: i64[N]) -> y: i64[N] {
    y = n / 2
})",
              "'/' on integers (i64)", "2:9", "//");
}

TEST(SemaErrors, ArithmeticOnBool) {
  expectError(R"(kernel f(b: bool[N]) -> y: bool[N] {
    y = b + b
})",
              "arithmetic on bool values in '+'", "2:9", "i64(c)");
}

TEST(SemaErrors, OutputDtypeMismatch) {
  expectError(R"(kernel f(x: f32[N]) -> y: f64[N] {
    y = x * 2.0
})",
              "the value is f32 but output 'y' is f64", "2:9", "f64(...)");
}

TEST(SemaErrors, LogicNeedsBools) {
  expectError(R"(kernel f(x: f32[N]) -> y: bool[N] {
    y = not x
})",
              "'not' needs a bool operand, but x is f32", "2:9", "!= 0");
  expectError(R"(kernel f(x: f32[N]) -> y: bool[N] {
    y = x > 0.0 and x
})",
              "'and' needs bool operands, but x is f32", "2:21");
  expectError(R"(kernel f(x: f32[N]) -> y: f32[N] {
    y = where(x, x, 0.0)
})",
              "the condition of 'where' must be bool, but x is f32", "2:15", "where(x > 0, a, b)");
}

TEST(SemaErrors, MathFunctionOfAnInteger) {
  expectError(R"(kernel f(n: i32[N]) -> y: f32[N] {
    y = exp(n)
})",
              "'exp' needs a float argument, but n is i32", "2:9", "exp(f32(n))");
}

TEST(SemaErrors, MeanOfIntegersAndSumOfBools) {
  expectError(R"(kernel f(n: i32[N]) -> y: f32 {
    y = mean(n[i] for i)
})",
              "mean of integers (i32)", "2:9", "mean(f32(n[i]) for i)");
  expectError(R"(kernel f(b: bool[N]) -> y: i64 {
    y = sum(b[i] for i)
})",
              "sum of bool values", "2:9", "sum(i64(b[i]) for i)");
}

TEST(SemaErrors, WrongArity) {
  expectError(R"(kernel f(x: f32[N]) -> y: f32[N] {
    y = max(x)
})",
              "'max' takes 2 arguments but 1 was given", "2:9", "max(x[i] for i)");
  expectError(R"(kernel f(x: f32[N]) -> y: f32[N] {
    y = exp(x, x)
})",
              "'exp' takes 1 argument but 2 were given", "2:9");
}

TEST(SemaErrors, UnknownFunctionSuggestsACloseOne) {
  expectError(R"(kernel f(x: f32[N]) -> y: f32[N] {
    y = sigmod(x)
})",
              "unknown function 'sigmod'", "2:9", "did you mean 'sigmoid'?");
}

// --- Calls --------------------------------------------------------------------------------------

const char *kLib = R"(kernel softmax(x: f32[N, D]) -> y: f32[N, D] {
    e[i, j] = exp(x[i, j] - max(x[i, k] for k))
    y[i, j] = e[i, j] / sum(e[i, k] for k)
}
kernel stats(x: f32[N, D]) -> (mu: f32[N], rstd: f32[N]) {
    mu[i] = mean(x[i, j] for j)
    rstd[i] = rsqrt(mean((x[i, j] - mu[i]) ** 2 for j) + 1e-5)
}
kernel pair(a: f32[N], b: f32[N]) -> y: f32[N] {
    y = a + b
}
kernel total(x: f32[N]) -> y: f32 {
    y = sum(x[i] for i)
}
)";

TEST(SemaErrors, CallArgumentCount) {
  expectError(std::string(kLib) + R"(kernel f(x: f32[N, D]) -> y: f32[N, D] {
    y = softmax(x, x)
})",
              "'softmax' takes 1 argument but 2 were given", "16:9");
}

TEST(SemaErrors, CallArgumentDtypeAndRankNameTheParameter) {
  expectError(std::string(kLib) + R"(kernel f(x: f64[N, D]) -> y: f32[N, D] {
    y = softmax(x)
})",
              "argument 'x' of 'softmax' must be f32, but x is f64", "16:17", "f32(x)");
  expectError(std::string(kLib) + R"(kernel f(x: f32[N]) -> y: f32[N] {
    y = softmax(x)
})",
              "argument 'x' of 'softmax' must have 2 dims, but x has shape [N]", "16:17");
}

TEST(SemaErrors, CallSymbolBindingsMustAgree) {
  expectError(std::string(kLib) + R"(kernel f(x: f32[N], w: f32[M]) -> y: f32[N] {
    y = pair(x, w)
})",
              "shape symbol 'N' of 'pair' is N for 'a' but M for 'b'", "16:17");
}

TEST(SemaErrors, CallTargetCount) {
  expectError(std::string(kLib) + R"(kernel f(x: f32[N, D]) -> y: f32[N] {
    y = stats(x)
})",
              "'stats' returns 2 outputs but 1 name is assigned", "16:5", "(a, b, ...) = stats");
}

TEST(SemaErrors, CallOfALaterKernelOrItself) {
  expectError(R"(kernel f(x: f32[N]) -> y: f32[N] {
    y = g(x)
}
kernel g(x: f32[N]) -> y: f32[N] {
    y = x
})",
              "kernel 'g' is defined later in the file", "2:9", "move 'g' above 'f'");
  expectError(R"(kernel f(x: f32[N]) -> y: f32[N] {
    y = f(x)
})",
              "kernel 'f' cannot call itself", "2:9");
}

TEST(SemaErrors, CallResultShapeMustFitTheOutput) {
  expectError(std::string(kLib) + R"(kernel f(x: f32[N, D]) -> y: f32[D, N] {
    y = softmax(x)
})",
              "the value's shape [N, D] does not broadcast to the shape [D, N] of output 'y'",
              "16:9");
}

TEST(SemaErrors, MultiOutputCallInsideAnExpression) {
  expectError(std::string(kLib) + R"(kernel f(x: f32[N, D]) -> y: f32[N] {
    y = stats(x) * 2.0
})",
              "'stats' returns 2 outputs; a call inside an expression must return one", "16:9");
}

TEST(SemaErrors, IndexVariablesDoNotReachCallArguments) {
  expectError(std::string(kLib) + R"(kernel f(x: f32[N]) -> y: f32[N] {
    y[i] = x[i] * total(x * f32(i))
})",
              "index variable 'i' cannot be used here", "16:33", "whole tensors");
}

// --- Recovery -----------------------------------------------------------------------------------

TEST(SemaErrors, AllIndependentErrorsAreReported) {
  auto c = compile(R"(kernel f(x: f32[N], n: i32[N]) -> y: f32[N] {
    a = x + n
    b = n / 2
    y = exp(n)
}
kernel g(x: f32[N]) -> y: f32[N] {
    y = q
})");
  auto errors = c.errors();
  ASSERT_EQ(errors.size(), 4u) << c.diags.render();
  EXPECT_EQ(errors[0].span.str(), "test.tdsl:2:9");
  EXPECT_EQ(errors[1].span.str(), "test.tdsl:3:9");
  EXPECT_EQ(errors[2].span.str(), "test.tdsl:4:9");
  EXPECT_EQ(errors[3].span.str(), "test.tdsl:7:9");
}

TEST(SemaErrors, FailedDefinitionsArePoisonedNotCascaded) {
  // One mistake in `t` must not produce errors for t's uses, the output fed by it, or a
  // call to the kernel that failed.
  auto c = compile(R"(kernel f(x: f32[N]) -> (y: f32[N], z: f32[N]) {
    t[i] = x[i] * undefined_thing
    u[i] = t[i] + 1.0
    y = u * t
    z[i] = t[i + 5]
}
kernel g(x: f32[N]) -> y: f32[N] {
    (a, b) = f(x)
    y = a + b
})");
  auto errors = c.errors();
  ASSERT_EQ(errors.size(), 1u) << c.diags.render();
  EXPECT_NE(errors[0].message.find("undefined name 'undefined_thing'"), std::string::npos);
}

TEST(SemaErrors, ErrorsInsideOneExpressionAreAllReported) {
  auto c = compile(R"(kernel f(x: f32[N]) -> y: f32[N] {
    y = aaa + bbb * x
})");
  ASSERT_EQ(c.errors().size(), 2u) << c.diags.render();
}

TEST(SemaErrors, SignatureErrorsDoNotCascadeIntoTheBody) {
  auto c = compile(R"(kernel f(x: f32[N - 1]) -> y: f32[M] {
    y = x * 2.0
})");
  ASSERT_EQ(c.errors().size(), 2u) << c.diags.render();
}

TEST(SemaErrors, RenderedDiagnosticPointsAtTheSpot) {
  auto c = compile(R"(kernel f(x: f32[N]) -> y: f32[N] {
    y[i] = x[i + 1]
})");
  ASSERT_EQ(c.errors().size(), 1u);
  EXPECT_EQ(
      c.errors()[0].render(),
      "test.tdsl:2:14: error[E055]: access x[i + 1] may read past the end of dim 0: i + 1 can "
      "reach N but x has N elements\n"
      "        y[i] = x[i + 1]\n"
      "                 ^~~~~\n"
      "    hint: use x[i + 1] ?? 0.0 for zero padding, or give i an explicit extent (i < N - "
      "1)\n");
}

} // namespace
} // namespace tdsl::frontend
