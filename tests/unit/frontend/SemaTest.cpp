// Sema on valid programs: every example of the language spec compiles, and the tensor IR has
// the expected shape (definitions, extents, broadcasting, typing, inlined calls).
#include "SemaTestUtil.h"

#include "ir/Verifier.h"

namespace tdsl::frontend {
namespace {

using testing::compile;
using testing::irOf;

const char *kFirstLook = R"(
# softmax.tdsl — one kernel per file is common, several are allowed.
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

TEST(Sema, FirstLookExamplesCompile) {
  auto c = compile(kFirstLook);
  ASSERT_FALSE(c.diags.hasErrors()) << c.diags.render();
  ASSERT_EQ(c.module->kernels.size(), 3u);
  EXPECT_EQ(c.text("softmax"), "kernel softmax(x: f32[N, D]) -> (y: f32[N, D])\n"
                               "  e[i < N, j < D]: f32 = exp(x[i, j] - max(x[i, k] for k < D))\n"
                               "  y[i < N, j < D]: f32 = e[i, j] / sum(e[i, k] for k < D)\n");
  EXPECT_EQ(c.text("matmul"), "kernel matmul(a: f32[M, K], b: f32[K, N]) -> (c: f32[M, N])\n"
                              "  c[i < M, j < N]: f32 = sum(a[i, k] * b[k, j] for k < K)\n");
  // Whole-array statements become index form over d0, d1; bias broadcasts along rows; the
  // literals adopt f32 (the exponent 3 too).
  EXPECT_EQ(c.text("gelu"),
            "kernel gelu(x: f32[N, D], bias: f32[D]) -> (y: f32[N, D])\n"
            "  t[d0 < N, d1 < D]: f32 = x[d0, d1] + bias[d1]\n"
            "  y[d0 < N, d1 < D]: f32 = 0.5 * t[d0, d1] * (1.0 + tanh(0.7978846 * (t[d0, d1] + "
            "0.044715 * t[d0, d1] ** 3.0)))\n");
}

TEST(Sema, MustRunExamplesCompileWithSoftmaxDefinedFirst) {
  auto c = compile(std::string(kFirstLook) + kMustRun);
  ASSERT_FALSE(c.diags.hasErrors()) << c.diags.render();
  EXPECT_EQ(c.module->kernels.size(), 8u);
  for (const ir::Kernel &k : c.module->kernels)
    EXPECT_NO_THROW(ir::verify(k)) << k.name;
  EXPECT_EQ(c.text("layernorm"),
            "kernel layernorm(x: f32[N, D], g: f32[D], b: f32[D]) -> (y: f32[N, D])\n"
            "  mu[i < N]: f32 = mean(x[i, j] for j < D)\n"
            "  var[i < N]: f32 = mean((x[i, j] - mu[i]) ** 2.0 for j < D)\n"
            "  y[i < N, j < D]: f32 = (x[i, j] - mu[i]) * rsqrt(var[i] + 1e-05) * g[j] + b[j]\n");
  EXPECT_EQ(c.text("blur3"),
            "kernel blur3(x: f32[H, W]) -> (y: f32[H, W])\n"
            "  y[i < H, j < W]: f32 = (x[i - 1, j] ?? 0.0 + x[i, j] + x[i + 1, j] ?? 0.0) / 3.0\n");
  EXPECT_EQ(c.text("causal_mask"), "kernel causal_mask(s: f32[T, T]) -> (y: f32[T, T])\n"
                                   "  y[t < T, u < T]: f32 = select(u <= t, s[t, u], -inf)\n");
}

TEST(Sema, Conv2dExtentsComeFromTheOutputAndTheWeights) {
  auto c = compile(std::string(kFirstLook) + kMustRun);
  ASSERT_FALSE(c.diags.hasErrors()) << c.diags.render();
  const ir::Kernel &k = c.kernel("conv2d");
  ASSERT_EQ(k.defs.size(), 1u);
  EXPECT_EQ(ir::toString(k),
            "kernel conv2d(x: f32[B, C, H, W], w: f32[O, C, R, S]) -> (y: f32[B, O, H - R + 1, "
            "W - S + 1])\n"
            "  y[n < B, o < O, h < H - R + 1, q < W - S + 1]: f32 = sum(x[n, c, h + r, q + s] * "
            "w[o, c, r, s] for c < C, r < R, s < S)\n");
  // Symbols in order of first appearance among the inputs.
  std::vector<std::string> names;
  for (const ir::Var &s : k.symbols) {
    names.push_back(s->name);
    EXPECT_EQ(s->kind, ir::VarKind::Symbol);
    EXPECT_EQ(s->type, ir::Type::i64());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"B", "C", "H", "W", "O", "R", "S"}));
}

TEST(Sema, AttentionInlinesSoftmaxWithPrefixedTemporaries) {
  auto c = compile(std::string(kFirstLook) + kMustRun);
  ASSERT_FALSE(c.diags.hasErrors()) << c.diags.render();
  const ir::Kernel &k = c.kernel("attention");
  ASSERT_EQ(k.defs.size(), 4u);
  EXPECT_EQ(k.defs[1].target->name, "softmax.e");
  EXPECT_EQ(k.defs[1].target->role, ir::BufferRole::Intermediate);
  EXPECT_EQ(k.defs[2].target->name, "p");
  EXPECT_EQ(k.defs[3].target->role, ir::BufferRole::Output);
  EXPECT_EQ(ir::toString(k),
            "kernel attention(q: f32[T, E], k: f32[S, E], v: f32[S, E]) -> (o: f32[T, E])\n"
            "  s[t < T, u < S]: f32 = sum(q[t, e] * k[u, e] for e < E) * rsqrt(f32(E))\n"
            "  softmax.e[i < T, j < S]: f32 = exp(s[i, j] - max(s[i, k] for k < S))\n"
            "  p[i < T, j < S]: f32 = softmax.e[i, j] / sum(softmax.e[i, k] for k < S)\n"
            "  o[t < T, e < E]: f32 = sum(p[t, u] * v[u, e] for u < S)\n");
}

TEST(Sema, BufferRolesAndOutputs) {
  auto c = compile(kFirstLook);
  const ir::Kernel &k = c.kernel("softmax");
  ASSERT_EQ(k.inputs.size(), 1u);
  EXPECT_EQ(k.inputs[0]->role, ir::BufferRole::Input);
  ASSERT_EQ(k.outputs.size(), 1u);
  EXPECT_EQ(k.outputs[0]->role, ir::BufferRole::Output);
  EXPECT_EQ(k.defs[0].target->role, ir::BufferRole::Intermediate);
  EXPECT_EQ(k.defs[1].target, k.outputs[0]);
  EXPECT_EQ(k.defs[1].span.str(), "test.tdsl:5:5");
}

TEST(Sema, BroadcastingAlignsRightAndIndexesLiteralOnesAtZero) {
  EXPECT_EQ(irOf(R"(
kernel f(a: f32[N, 1], b: f32[1, D], c: f32[D], s: f32) -> y: f32[N, D] {
    y = a * b + c - s
})",
                 "f"),
            "kernel f(a: f32[N, 1], b: f32[1, D], c: f32[D], s: f32) -> (y: f32[N, D])\n"
            "  y[d0 < N, d1 < D]: f32 = a[d0, 0] * b[0, d1] + c[d1] - s\n");
}

TEST(Sema, OutputBroadcastFromLowerRankAndScalars) {
  EXPECT_EQ(irOf(R"(
kernel f(c: f32[D], x: f32[N, D]) -> (y: f32[N, D], z: f64[D, 3], t: f32[N, 1]) {
    y = c
    z = 0.0
    t = sum(x[i, j] for i, j)
}
)",
                 "f"),
            "kernel f(c: f32[D], x: f32[N, D]) -> (y: f32[N, D], z: f64[D, 3], t: f32[N, 1])\n"
            "  y[d0 < N, d1 < D]: f32 = c[d1]\n"
            "  z[d0 < D, d1 < 3]: f64 = 0.0:f64\n"
            "  t[d0 < N, d1 < 1]: f32 = sum(x[i, j] for i < N, j < D)\n");
}

TEST(Sema, MatrixProductsBecomeSumReductions) {
  EXPECT_EQ(irOf(R"(
kernel f(a: f32[M, K], b: f32[K, N], bias: f32[N], v: f32[K], w: f32[M]) -> (y: f32[M, N], mv: f32[M], vm: f32[N], dot: f32) {
    y = relu(a @ b + bias)
    mv = a @ v
    vm = w @ a @ b
    dot = v @ v
}
)",
                 "f"),
            "kernel f(a: f32[M, K], b: f32[K, N], bias: f32[N], v: f32[K], w: f32[M]) -> (y: "
            "f32[M, N], mv: f32[M], vm: f32[N], dot: f32)\n"
            "  y[d0 < M, d1 < N]: f32 = relu(sum(a[d0, k] * b[k, d1] for k < K) + bias[d1])\n"
            "  mv[d0 < M]: f32 = sum(a[d0, k] * v[k] for k < K)\n"
            "  vm[d0 < N]: f32 = sum(sum(w[k.1] * a[k.1, k] for k.1 < M) * b[k, d0] for k < K)\n"
            "  dot: f32 = sum(v[k] * v[k] for k < K)\n");
}

TEST(Sema, BatchedMatrixProductBroadcastsBatchDims) {
  EXPECT_EQ(irOf(R"(
kernel f(a: f16[B, M, K], b: f16[B, K, N], c: f16[K, N], d: f16[1, K, N]) -> (y: f16[B, M, N], z: f16[B, M, N], u: f16[B, M, N]) {
    y = a @ b
    z = a @ c
    u = a @ d
}
)",
                 "f"),
            "kernel f(a: f16[B, M, K], b: f16[B, K, N], c: f16[K, N], d: f16[1, K, N]) -> (y: "
            "f16[B, M, N], z: f16[B, M, N], u: f16[B, M, N])\n"
            "  y[d0 < B, d1 < M, d2 < N]: f16 = f16(sum(f32(a[d0, d1, k]) * f32(b[d0, k, d2]) for "
            "k < K))\n"
            "  z[d0 < B, d1 < M, d2 < N]: f16 = f16(sum(f32(a[d0, d1, k]) * f32(c[k, d2]) for k < "
            "K))\n"
            "  u[d0 < B, d1 < M, d2 < N]: f16 = f16(sum(f32(a[d0, d1, k]) * f32(d[0, k, d2]) for "
            "k < K))\n");
}

TEST(Sema, WholeArrayReductionGivesAScalar) {
  EXPECT_EQ(irOf(R"(
kernel f(x: f32[N]) -> (total: f32, y: f32[N]) {
    total = sum(x[i] for i)
    y = x / sum(x[i] for i) + total
}
)",
                 "f"),
            "kernel f(x: f32[N]) -> (total: f32, y: f32[N])\n"
            "  total: f32 = sum(x[i] for i < N)\n"
            "  y[d0 < N]: f32 = x[d0] / sum(x[i] for i < N) + total\n");
}

TEST(Sema, ExplicitExtentsAndStencils) {
  EXPECT_EQ(irOf(R"(
kernel f(x: f32[N]) -> (y: f32[N], r: f32[N], d: f32[N - 1], w: f32[N - 2]) {
    t[i < N - 1] = x[i + 1] - x[i]
    y[i] = t[i - 1] ?? 0.0
    r[i] = x[N - 1 - i]
    d[i] = x[i + 1] - x[i]
    w[i] = sum(x[i + k] for k < 3)
}
)",
                 "f"),
            "kernel f(x: f32[N]) -> (y: f32[N], r: f32[N], d: f32[N - 1], w: f32[N - 2])\n"
            "  t[i < N - 1]: f32 = x[i + 1] - x[i]\n"
            "  y[i < N]: f32 = t[i - 1] ?? 0.0\n"
            "  r[i < N]: f32 = x[N - 1 - i]\n"
            "  d[i < N - 1]: f32 = x[i + 1] - x[i]\n"
            "  w[i < N - 2]: f32 = sum(x[i + k] for k < 3)\n");
}

TEST(Sema, StridedAccessesAreProven) {
  EXPECT_EQ(irOf(R"(
kernel f(z: f32[N]) -> y: f32[2 * N] {
    y[i] = z[i - N] ?? 1.0
    u[j < N] = y[2 * j] + y[2 * j + 1]
}
)",
                 "f"),
            "kernel f(z: f32[N]) -> (y: f32[2 * N])\n"
            "  y[i < 2 * N]: f32 = z[i - N] ?? 1.0\n"
            "  u[j < N]: f32 = y[2 * j] + y[2 * j + 1]\n");
}

TEST(Sema, LiteralsAdoptTheOtherOperandsDtype) {
  EXPECT_EQ(irOf(R"(
kernel f(x: f64[N], n: i32[N]) -> (y: f64[N], m: i32[N], c: i64[N], b: bool[N]) {
    y = x * 2 + 0.5
    m = n * 3 // 2 - 1
    c[i] = i + 1 + N
    b = x > 0 and n != 0
}
)",
                 "f"),
            "kernel f(x: f64[N], n: i32[N]) -> (y: f64[N], m: i32[N], c: i64[N], b: bool[N])\n"
            "  y[d0 < N]: f64 = x[d0] * 2.0:f64 + 0.5:f64\n"
            "  m[d0 < N]: i32 = n[d0] * 3:i32 // 2:i32 - 1:i32\n"
            "  c[i < N]: i64 = i + 1 + N\n"
            "  b[d0 < N]: bool = x[d0] > 0.0:f64 and n[d0] != 0:i32\n");
}

TEST(Sema, LiteralOnlyCallsAdoptTheOtherOperandsDtype) {
  // Calls on literals only adopt a typed operand's dtype (or an output's) like a bare literal:
  // evaluated in that dtype, not computed in f32 / i64 and then mismatched.
  EXPECT_EQ(irOf(R"(
kernel f(x: f64[N], n: i32[N]) -> (y: f64[N], z: f64[N], m: i32[N], w: f64, v: f64[N]) {
    y = x * (abs(1e-3) + 0.75)
    z = max(1.0, exp(2.0)) + x
    m = n + abs(-3)
    w = sqrt(2.0)
    v = x + max(1, 2) * 0.25
}
)",
                 "f"),
            "kernel f(x: f64[N], n: i32[N]) -> (y: f64[N], z: f64[N], m: i32[N], w: f64, v: "
            "f64[N])\n"
            "  y[d0 < N]: f64 = x[d0] * (abs(0.001:f64) + 0.75:f64)\n"
            "  z[d0 < N]: f64 = max(1.0:f64, exp(2.0:f64)) + x[d0]\n"
            "  m[d0 < N]: i32 = n[d0] + abs(-3:i32)\n"
            "  w: f64 = sqrt(2.0:f64)\n"
            "  v[d0 < N]: f64 = x[d0] + max(1.0:f64, 2.0:f64) * 0.25:f64\n");
}

TEST(Sema, LiteralOnlyValuesKeepTheRulesOfBareLiterals) {
  // A float value of literals does not become an integer (as a float literal does not), an
  // explicit cast is typed, and a literal out of the target's range is not retyped.
  auto errorsOf = [](const std::string &source) { return compile(source).diags.render(); };
  EXPECT_NE(errorsOf(R"(
kernel f(n: i32[N]) -> m: i32[N] {
    m = n + abs(1.5)
}
)")
                .find("error[E040]: mismatched dtypes in '+': i32 and f32"),
            std::string::npos);
  EXPECT_NE(errorsOf(R"(
kernel f(x: f64[N]) -> y: f64[N] {
    y = x + f32(exp(1.0))
}
)")
                .find("error[E040]: mismatched dtypes in '+': f64 and f32"),
            std::string::npos);
  EXPECT_NE(errorsOf(R"(
kernel f(n: i32[N]) -> m: i32[N] {
    m = n + abs(-3000000000)
}
)")
                .find("error[E040]: mismatched dtypes in '+': i32 and i64"),
            std::string::npos);
}

TEST(Sema, LiteralsFoldAmongThemselves) {
  EXPECT_EQ(irOf(R"(
kernel f(x: f32[N]) -> (y: f32[N], a: i64, b: f32, c: f64) {
    y = x * (1 / 4) + 2 ** 3 - -1
    a = 7 // -2 + 7 % -2
    b = 1 + 0.5
    c = 3
}
)",
                 "f"),
            "kernel f(x: f32[N]) -> (y: f32[N], a: i64, b: f32, c: f64)\n"
            "  y[d0 < N]: f32 = x[d0] * 0.25 + 8.0 - -1.0\n"
            "  a: i64 = -5\n"
            "  b: f32 = 1.5\n"
            "  c: f64 = 3.0:f64\n");
}

TEST(Sema, StorageTypesComputeInF32AndRoundWhenStored) {
  EXPECT_EQ(irOf(R"(
kernel f(x: f16[N], y: bf16[N]) -> (z: f16[N], w: f32[N], v: bf16[N]) {
    h = x * 2 + x
    z = h
    w = f32(y) + f32(h)
    v[i] = y[i - 1] ?? 0.1 + bf16(x[i])
}
)",
                 "f"),
            "kernel f(x: f16[N], y: bf16[N]) -> (z: f16[N], w: f32[N], v: bf16[N])\n"
            "  h[d0 < N]: f16 = f16(f32(x[d0]) * 2.0 + f32(x[d0]))\n"
            "  z[d0 < N]: f16 = h[d0]\n"
            "  w[d0 < N]: f32 = f32(y[d0]) + f32(h[d0])\n"
            "  v[i < N]: bf16 = bf16(f32(y[i - 1] ?? 0.100097656:bf16) + f32(bf16(f32(x[i]))))\n");
}

TEST(Sema, CastsAndBuiltins) {
  EXPECT_EQ(irOf(R"(
kernel f(x: f32[N], n: i32[N]) -> (a: i64[N], b: f32[N], c: i32[N], d: f64) {
    a = i64(n) + i64(x) + abs(i64(n))
    b = clamp(x, 0, 6) + max(x, 1) + pow(x, 2) + where(n > 0, x, -inf) + f32(N)
    c = relu(n) + i32(2.9) + i32(true)
    d = f64(1e300) + f64(f16(70000.0))
}
)",
                 "f"),
            "kernel f(x: f32[N], n: i32[N]) -> (a: i64[N], b: f32[N], c: i32[N], d: f64)\n"
            "  a[d0 < N]: i64 = i64(n[d0]) + i64(x[d0]) + abs(i64(n[d0]))\n"
            "  b[d0 < N]: f32 = min(max(x[d0], 0.0), 6.0) + max(x[d0], 1.0) + x[d0] ** 2.0 + "
            "select(n[d0] > 0:i32, x[d0], -inf) + f32(N)\n"
            "  c[d0 < N]: i32 = relu(n[d0]) + 2:i32 + i32(true)\n"
            "  d: f64 = 1e+300:f64 + f64(inf)\n");
}

TEST(Sema, MultiOutputCallsAndNestedCalls) {
  auto c = compile(R"(
kernel stats(x: f32[N, D]) -> (mu: f32[N], rstd: f32[N]) {
    mu[i] = mean(x[i, j] for j)
    rstd[i] = rsqrt(mean((x[i, j] - mu[i]) ** 2 for j) + 1e-5)
}
kernel scale(x: f32[N], s: f32) -> y: f32[N] {
    y = x * s
}
kernel norm(x: f32[N, D]) -> (y: f32[N, D], r2: f32[1, N]) {
    (m, r) = stats(x * 2.0)
    y[i, j] = (x[i, j] - m[i]) * r[i]
    r2 = scale(scale(r, 3), 0.5)
}
)");
  ASSERT_FALSE(c.diags.hasErrors()) << c.diags.render();
  EXPECT_EQ(c.text("norm"),
            "kernel norm(x: f32[N, D]) -> (y: f32[N, D], r2: f32[1, N])\n"
            "  stats.x[d0 < N, d1 < D]: f32 = x[d0, d1] * 2.0\n"
            "  m[i < N]: f32 = mean(stats.x[i, j] for j < D)\n"
            "  r[i < N]: f32 = rsqrt(mean((stats.x[i, j] - m[i]) ** 2.0 for j < D) + 1e-05)\n"
            "  y[i < N, j < D]: f32 = (x[i, j] - m[i]) * r[i]\n"
            "  scale.s: f32 = 3.0\n"
            "  scale.y[d0 < N]: f32 = r[d0] * scale.s\n"
            "  scale.2.s: f32 = 0.5\n"
            "  scale.2.y[d0 < N]: f32 = scale.y[d0] * scale.2.s\n"
            "  r2[d0 < 1, d1 < N]: f32 = scale.2.y[d1]\n");
}

TEST(Sema, CallsBindSymbolsToCallerExpressions) {
  auto c = compile(R"(
kernel diff(x: f32[N]) -> y: f32[N - 1] {
    y[i] = x[i + 1] - x[i]
}
kernel twice(x: f32[N]) -> y: f32[N - 2] {
    y = diff(diff(x))
}
kernel fixed(x: f32[4, D]) -> y: f32[4, D] {
    y = x
}
kernel usefixed(x: f32[4, 8]) -> y: f32[4, 8] {
    y = fixed(x)
}
)");
  ASSERT_FALSE(c.diags.hasErrors()) << c.diags.render();
  EXPECT_EQ(c.text("twice"), "kernel twice(x: f32[N]) -> (y: f32[N - 2])\n"
                             "  diff.y[i < N - 1]: f32 = x[i + 1] - x[i]\n"
                             "  y[i < N - 2]: f32 = diff.y[i + 1] - diff.y[i]\n");
  EXPECT_EQ(c.text("usefixed"), "kernel usefixed(x: f32[4, 8]) -> (y: f32[4, 8])\n"
                                "  y[d0 < 4, d1 < 8]: f32 = x[d0, d1]\n");
}

TEST(Sema, ScalarsReadByNameAnywhere) {
  EXPECT_EQ(irOf(R"(
kernel f(x: f32[N], s: f32) -> y: f32[N] {
    t = s * 2.0
    y[i] = x[i] * t + s
}
)",
                 "f"),
            "kernel f(x: f32[N], s: f32) -> (y: f32[N])\n"
            "  t: f32 = s * 2.0\n"
            "  y[i < N]: f32 = x[i] * t + s\n");
}

TEST(Sema, BoolReductionsAndOutputsReadAfterAssignment) {
  EXPECT_EQ(irOf(R"(
kernel f(x: f32[N]) -> (any: bool, all: bool, y: f32[N], z: f32[N]) {
    any = max(x[i] > 0.0 for i)
    all = min(x[i] > 0.0 for i)
    y = x * 2.0
    z = y + 1.0
}
)",
                 "f"),
            "kernel f(x: f32[N]) -> (any: bool, all: bool, y: f32[N], z: f32[N])\n"
            "  any: bool = max(x[i] > 0.0 for i < N)\n"
            "  all: bool = min(x[i] > 0.0 for i < N)\n"
            "  y[d0 < N]: f32 = x[d0] * 2.0\n"
            "  z[d0 < N]: f32 = y[d0] + 1.0\n");
}

TEST(Sema, ProofsUsingOutputDimsAreCheckedAtCallSites) {
  // `z[j] = x[j]` with j < K is in bounds only because the output dim N - K is >= 0.
  const char *lib = R"(
kernel split(x: f32[N], w: f32[K]) -> (y: f32[N - K], z: f32[K]) {
    y[i] = x[i + K]
    z[j] = x[j] + w[j]
}
)";
  auto ok = compile(std::string(lib) + R"(
kernel good(x: f32[N], w: f32[K]) -> (y: f32[N - K], z: f32[K]) {
    (y, z) = split(x, w)
}
)");
  EXPECT_FALSE(ok.diags.hasErrors()) << ok.diags.render();
  auto bad = compile(std::string(lib) + R"(
kernel bad(x: f32[N], w: f32[K]) -> z: f32[K] {
    (y, z) = split(x, w)
}
)");
  ASSERT_EQ(bad.errors().size(), 1u) << bad.diags.render();
  EXPECT_NE(bad.errors()[0].message.find("cannot call 'split' here"), std::string::npos);
  EXPECT_EQ(bad.errors()[0].span.str(), "test.tdsl:8:14");
}

TEST(Sema, ProofsUsingSymbolsAreCheckedAtCallSites) {
  // g's read of s[i] with i < K is in bounds only because P >= 0; f binds P to N - 5, which may
  // be negative inside f. Binding P to an input's dim is fine.
  auto c = compile(R"(
kernel g(t: f32[P], w: f32[K]) -> u: f32[K] {
    s[i < K + P] = 1.0
    u[i] = s[i] + w[i]
}
kernel h(x: f32[N], w: f32[K]) -> y: f32[K] {
    y = g(x, w)
}
kernel f(x: f32[N], w: f32[K]) -> y: f32[K] {
    t[i < N - 5] = x[i + 5]
    y = g(t, w)
}
)");
  ASSERT_EQ(c.errors().size(), 1u) << c.diags.render();
  EXPECT_NE(c.errors()[0].message.find("its shape symbol 'P' would be N - 5"), std::string::npos);
  EXPECT_EQ(c.errors()[0].span.str(), "test.tdsl:11:9");
}

TEST(Sema, ModuleHoldsOnlyCleanKernels) {
  auto c = compile(R"(
kernel good(x: f32[N]) -> y: f32[N] {
    y = x
}
kernel bad(x: f32[N]) -> y: f32[N] {
    y = z
}
)");
  EXPECT_FALSE(c.module.has_value());
  EXPECT_EQ(c.errors().size(), 1u);
}

} // namespace
} // namespace tdsl::frontend
