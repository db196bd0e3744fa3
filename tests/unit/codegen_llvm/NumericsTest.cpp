// Accuracy of the compiled math functions, in ulps, on both code paths: the vector path
// (16 f32 / 8 f64 lanes, glibc's libmvec) and the scalar path (one lane, libm). Each function is
// sampled over its useful range and the edges (underflow and overflow thresholds, tiny and huge
// arguments, subnormals) and compared with the reference interpreter's f64 result (for f32) or
// with long double libm (for f64, where the interpreter's f64 cannot resolve an f64 ulp; the f64
// distance to the interpreter is checked too). Each measured maximum must stay under its bound.
//
// The figures in docs/numerics.md come from this test:
//   TDSL_NUMERICS_SAMPLES=1000000 TDSL_NUMERICS_TABLE=/tmp/numerics.md
//   build/tests/test_codegen_llvm --gtest_filter='Numerics.*'
#include "LlvmTestUtil.h"

#include "ir/Interpreter.h"
#include "tdsl/Tensor.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <random>
#include <sstream>

namespace tdsl::test {
namespace {

/// A function under test: its name, how to build it in the IR, its exact value, and the inputs
/// it is sampled on.
struct MathCase {
  const char *name;
  std::function<Expr(Expr x, Expr p)> build;
  std::function<long double(long double x, long double p)> exact;
  /// Samples `count` arguments (and exponents, for pow) for f32 or f64.
  std::function<void(bool isDouble, size_t count, std::mt19937_64 &rng, std::vector<double> &x,
                     std::vector<double> &p)>
      sample;
  /// Largest error accepted, in ulps: vector f32, scalar f32, vector f64, scalar f64. Measured
  /// against the exact value, so a correctly rounded function scores up to 0.5: libmvec's
  /// documented 4 ulp (from the correctly rounded result) is 4.5 here, glibc libm's documented
  /// maximum errors (0 to 2 ulp for these functions on x86-64) likewise plus 0.5 or more.
  double bound[4];
};

Expr unary(Intrinsic fn, Expr x) { return Call::make(fn, {std::move(x)}); }

/// Uniform on [lo, hi].
double uniform(std::mt19937_64 &rng, double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(rng);
}
/// A magnitude log-uniform on [lo, hi], with a random sign when `signed_`.
double logUniform(std::mt19937_64 &rng, double lo, double hi, bool signed_) {
  double m = std::exp2(uniform(rng, std::log2(lo), std::log2(hi)));
  return signed_ && (rng() & 1) ? -m : m;
}

/// Half the samples from `wide` (the whole useful range), a quarter near zero (log-uniform
/// magnitudes from `tiny` to 1), a quarter from `dense` (where the function varies most).
auto mixture(std::function<double(bool, std::mt19937_64 &)> wide, double tiny,
             std::function<double(bool, std::mt19937_64 &)> dense) {
  return [=](bool isDouble, size_t count, std::mt19937_64 &rng, std::vector<double> &x,
             std::vector<double> &p) {
    for (size_t i = 0; i < count; ++i) {
      switch (i % 4) {
      case 0:
      case 1:
        x.push_back(wide(isDouble, rng));
        break;
      case 2:
        x.push_back(logUniform(rng, tiny, 1, true));
        break;
      default:
        x.push_back(dense(isDouble, rng));
      }
      p.push_back(0);
    }
  };
}

auto range(double lo32, double hi32, double lo64, double hi64) {
  return [=](bool isDouble, std::mt19937_64 &rng) {
    return isDouble ? uniform(rng, lo64, hi64) : uniform(rng, lo32, hi32);
  };
}

/// Positive arguments over every binade, subnormals included.
double anyPositive(bool isDouble, std::mt19937_64 &rng) {
  return isDouble ? logUniform(rng, 4.9e-324, DBL_MAX, false)
                  : logUniform(rng, 1.4e-45, FLT_MAX, false);
}

std::vector<MathCase> mathCases() {
  using I = Intrinsic;
  auto fn = [](I f) { return [f](Expr x, Expr) { return unary(f, x); }; };
  std::vector<MathCase> cases;
  // exp: up to the overflow threshold and down through the subnormal results.
  cases.push_back({"exp",
                   fn(I::Exp),
                   [](long double x, long double) { return expl(x); },
                   mixture(range(-104, 89, -746, 710), 1e-10, range(-10, 10, -10, 10)),
                   {4.5, 1, 4.5, 1}});
  cases.push_back({"exp2",
                   fn(I::Exp2),
                   [](long double x, long double) { return exp2l(x); },
                   mixture(range(-150, 128, -1075, 1024), 1e-10, range(-10, 10, -10, 10)),
                   {4.5, 1, 4.5, 1}});
  cases.push_back({"log",
                   fn(I::Log),
                   [](long double x, long double) { return logl(x); },
                   mixture(anyPositive, 1, range(0.5, 2, 0.5, 2)),
                   {4.5, 1, 4.5, 1}});
  cases.push_back({"log2",
                   fn(I::Log2),
                   [](long double x, long double) { return log2l(x); },
                   mixture(anyPositive, 1, range(0.5, 2, 0.5, 2)),
                   {4.5, 1, 4.5, 1}});
  // Trigonometry: a few periods densely, and magnitudes up to 1e6 (argument reduction).
  auto trig = [](bool, std::mt19937_64 &rng) { return logUniform(rng, 1e-3, 1e6, true); };
  cases.push_back({"sin",
                   fn(I::Sin),
                   [](long double x, long double) { return sinl(x); },
                   mixture(trig, 1e-10, range(-20, 20, -20, 20)),
                   {4.5, 1, 4.5, 1}});
  cases.push_back({"cos",
                   fn(I::Cos),
                   [](long double x, long double) { return cosl(x); },
                   mixture(trig, 1e-10, range(-20, 20, -20, 20)),
                   {4.5, 1, 4.5, 1}});
  cases.push_back({"tan",
                   fn(I::Tan),
                   [](long double x, long double) { return tanl(x); },
                   mixture(trig, 1e-10, range(-20, 20, -20, 20)),
                   {4.5, 1.5, 4.5, 1.5}});
  cases.push_back({"tanh",
                   fn(I::Tanh),
                   [](long double x, long double) { return tanhl(x); },
                   mixture(range(-12, 12, -25, 25), 1e-10, range(-2, 2, -2, 2)),
                   {4.5, 2.5, 4.5, 2.5}});
  cases.push_back({"erf",
                   fn(I::Erf),
                   [](long double x, long double) { return erfl(x); },
                   mixture(range(-6, 6, -7, 7), 1e-10, range(-2, 2, -2, 2)),
                   {4.5, 1.5, 4.5, 1.5}});
  // sigmoid = 1 / (1 + exp(-x)): exp's error, then two roundings. Below -88.7 an f32 exp(-x)
  // overflows and the f32 result is 0 (the exact value is below 3e-39): sampled above that.
  cases.push_back({"sigmoid",
                   fn(I::Sigmoid),
                   [](long double x, long double) { return 1.0L / (1.0L + expl(-x)); },
                   mixture(range(-88, 88, -700, 700), 1e-10, range(-10, 10, -10, 10)),
                   {6, 3, 6, 3}});
  // pow: bases over eight decades, exponents that keep the result in range.
  cases.push_back({"pow",
                   [](Expr x, Expr p) { return Binary::make(BinaryOp::Pow, x, p); },
                   [](long double x, long double p) { return powl(x, p); },
                   [](bool isDouble, size_t count, std::mt19937_64 &rng, std::vector<double> &x,
                      std::vector<double> &p) {
                     for (size_t i = 0; i < count; ++i) {
                       x.push_back(logUniform(rng, 1e-4, 1e4, false));
                       p.push_back(isDouble ? uniform(rng, -75, 75) : uniform(rng, -9, 9));
                     }
                   },
                   {4.5, 1, 4.5, 1}});
  return cases;
}

/// Arguments every function sees besides its samples: the special values and the boundaries.
std::vector<double> edgeValues(bool isDouble) {
  double big = isDouble ? DBL_MAX : FLT_MAX, small = isDouble ? DBL_MIN : FLT_MIN;
  double sub = isDouble ? 4.9e-324 : 1.4e-45;
  return {0.0,
          -0.0,
          1.0,
          -1.0,
          0.5,
          -0.5,
          2.0,
          -2.0,
          big,
          -big,
          small,
          -small,
          sub,
          -sub,
          INFINITY,
          -INFINITY,
          NAN,
          88.72,
          -87.33,
          -103.97,
          709.78,
          -708.4,
          -745.1,
          3.14159265358979,
          1.5707963267948966};
}

/// Error of `got` against the exact value in ulps of the format with `precision` bits and
/// smallest normal exponent `minExp`; special values must match exactly (else infinity).
double ulpError(double got, long double exact, int precision, int minExp, double maxFinite) {
  if (std::isnan(got) || std::isnan(static_cast<double>(exact)))
    return std::isnan(got) && std::isnan(static_cast<double>(exact)) ? 0 : INFINITY;
  long double magnitude = fabsl(exact);
  if (std::isinf(got) || magnitude > maxFinite) {
    // Beyond the largest finite value, exact rounds to infinity or to maxFinite.
    long double half = ldexpl(1.0L, std::ilogb(maxFinite) - precision); // Half an ulp there.
    bool roundsToInf = magnitude >= static_cast<long double>(maxFinite) + half;
    double rounded = roundsToInf ? std::copysign(INFINITY, static_cast<double>(exact))
                                 : std::copysign(maxFinite, static_cast<double>(exact));
    if (std::isinf(got) || std::isinf(rounded))
      return got == rounded ? 0 : INFINITY;
  }
  if (got == 0 && exact == 0)
    return std::signbit(got) == std::signbit(static_cast<double>(exact)) ? 0 : INFINITY;
  int e = exact == 0 ? minExp : std::max(static_cast<int>(ilogbl(exact)), minExp);
  long double ulp = ldexpl(1.0L, e - (precision - 1));
  return static_cast<double>(fabsl(static_cast<long double>(got) - exact) / ulp);
}

struct Measured {
  double worst = 0;
  double at = 0, atP = 0; // The argument(s) of the worst error.
  void add(double err, double x, double p) {
    if (err > worst || std::isnan(err)) {
      worst = err;
      at = x;
      atP = p;
    }
  }
};

/// y_k = f_k(x_k) (pow reads a second input) for every case, in `lanes`-lane vectors.
LoweredFunc compiledKernel(const std::vector<MathCase> &cases, DType dtype, int lanes) {
  Var n = symbolVar("N");
  std::vector<Buffer> inputs;
  std::vector<ElementwiseOutput> outputs;
  for (const MathCase &c : cases)
    inputs.push_back(
        makeBuffer(std::string("x_") + c.name, dtype, {ir::ref(n)}, BufferRole::Input));
  inputs.push_back(makeBuffer("p", dtype, {ir::ref(n)}, BufferRole::Input));
  for (size_t k = 0; k < cases.size(); ++k) {
    auto build = cases[k].build;
    size_t pIndex = cases.size();
    outputs.push_back(
        {makeBuffer(std::string("y_") + cases[k].name, dtype, {ir::ref(n)}, BufferRole::Output),
         [build, k, pIndex](const std::vector<Expr> &loads) {
           return build(loads[k], loads[pIndex]);
         }});
  }
  return elementwiseKernel("numerics", inputs, outputs, lanes, n);
}

/// The same functions at the tensor level, each result widened exactly to f64: what the
/// interpreter computes before any rounding to the output's dtype.
Kernel interpreterKernel(const std::vector<MathCase> &cases, DType dtype) {
  Kernel k;
  k.name = "numerics";
  Var n = makeVar("N", Type::i64(), VarKind::Symbol);
  k.symbols = {n};
  for (const MathCase &c : cases)
    k.inputs.push_back(
        makeBuffer(std::string("x_") + c.name, dtype, {ir::ref(n)}, BufferRole::Input));
  Buffer p = makeBuffer("p", dtype, {ir::ref(n)}, BufferRole::Input);
  k.inputs.push_back(p);
  for (size_t j = 0; j < cases.size(); ++j) {
    Buffer y =
        makeBuffer(std::string("y_") + cases[j].name, DType::F64, {ir::ref(n)}, BufferRole::Output);
    k.outputs.push_back(y);
    Var i = makeVar("i", Type::i64(), VarKind::Index);
    Expr value =
        cases[j].build(Access::make(k.inputs[j], {ir::ref(i)}), Access::make(p, {ir::ref(i)}));
    k.defs.push_back(
        Definition{y, {IterVar{i, ir::ref(n)}}, Cast::make(Type::scalar(DType::F64), value), {}});
  }
  return k;
}

size_t sampleCount() {
  const char *env = std::getenv("TDSL_NUMERICS_SAMPLES");
  size_t n = env ? static_cast<size_t>(std::strtoull(env, nullptr, 10)) : 0;
  return n ? n : 1 << 15;
}

/// The measured maxima of one dtype: [case][path], path 0 vector, 1 scalar; and, for f64, the
/// largest distance to the interpreter in whole ulps.
struct Table {
  std::vector<std::array<Measured, 2>> error;
  std::vector<double> toInterpreter;
};

template <typename T> Table measure(const std::vector<MathCase> &cases) {
  constexpr bool isDouble = std::is_same_v<T, double>;
  constexpr DType dtype = isDouble ? DType::F64 : DType::F32;
  constexpr int lanes = isDouble ? 8 : 16;
  const int precision = isDouble ? 53 : 24, minExp = isDouble ? -1022 : -126;
  const double maxFinite = isDouble ? DBL_MAX : FLT_MAX;

  // Inputs, rounded to T, the edge values first; a whole number of vectors.
  std::mt19937_64 rng(isDouble ? 64 : 32);
  size_t samples = sampleCount();
  std::vector<double> edges = edgeValues(isDouble);
  size_t n = (edges.size() + samples + 15) / 16 * 16;
  std::vector<std::vector<T>> xs(cases.size());
  std::vector<T> ps;
  for (size_t k = 0; k < cases.size(); ++k) {
    std::vector<double> x(edges), p(edges.size(), 0.0);
    if (std::string(cases[k].name) == "pow") // pow's edges: every special base with 2 and 0.5.
      for (size_t e = 0; e < edges.size(); ++e)
        p[e] = e % 2 ? 0.5 : 2.0;
    cases[k].sample(isDouble, n - edges.size(), rng, x, p);
    for (double v : x)
      xs[k].push_back(static_cast<T>(v));
    if (std::string(cases[k].name) == "pow")
      for (double v : p)
        ps.push_back(static_cast<T>(v));
  }

  // The interpreter's f64 results.
  std::vector<Tensor> inputs;
  for (auto &x : xs)
    inputs.push_back(Tensor::view(x.data(), {int64_t(n)}, dtype));
  inputs.push_back(Tensor::view(ps.data(), {int64_t(n)}, dtype));
  std::vector<Tensor> interpreted = interpret(interpreterKernel(cases, dtype), inputs);

  Table table;
  table.error.resize(cases.size());
  table.toInterpreter.assign(cases.size(), 0);
  for (int path = 0; path < 2; ++path) {
    auto kernel = codegen::compileForHost(compiledKernel(cases, dtype, path == 0 ? lanes : 1));
    std::vector<std::vector<T>> out(cases.size(), std::vector<T>(n));
    std::vector<void *> buffers;
    for (auto &x : xs)
      buffers.push_back(x.data());
    buffers.push_back(ps.data());
    for (auto &o : out)
      buffers.push_back(o.data());
    runKernel(*kernel, buffers, {int64_t(n)});
    for (size_t k = 0; k < cases.size(); ++k)
      for (size_t i = 0; i < n; ++i) {
        double ref = interpreted[k].data<double>()[i];
        long double exact = isDouble ? cases[k].exact(xs[k][i], ps[i]) : ref;
        double err = ulpError(out[k][i], exact, precision, minExp, maxFinite);
        table.error[k][path].add(err, xs[k][i], ps[i]);
        if (isDouble) // Whole ulps between the compiled result and the interpreter's.
          table.toInterpreter[k] = std::max(table.toInterpreter[k],
                                            ulpError(out[k][i], ref, precision, minExp, maxFinite));
      }
  }
  return table;
}

std::string formatUlps(double u) {
  if (std::isinf(u))
    return "inf";
  std::ostringstream os;
  os << std::fixed << std::setprecision(2) << u;
  return os.str();
}

TEST(Numerics, MaxUlpErrorPerFunctionStaysWithinItsBound) {
  std::vector<MathCase> cases = mathCases();
  Table f32 = measure<float>(cases), f64 = measure<double>(cases);
  std::ostringstream md;
  md << "| function | f32 vector (libmvec, 16 lanes) | f32 scalar (libm) | f64 vector (libmvec, "
        "8 lanes) | f64 scalar (libm) | f64 vs interpreter | bound (vec/scalar) |\n"
     << "|---|---|---|---|---|---|---|\n";
  for (size_t k = 0; k < cases.size(); ++k) {
    const MathCase &c = cases[k];
    const Measured *m[4] = {&f32.error[k][0], &f32.error[k][1], &f64.error[k][0], &f64.error[k][1]};
    md << "| " << c.name;
    for (int j = 0; j < 4; ++j)
      md << " | " << formatUlps(m[j]->worst);
    md << " | " << formatUlps(f64.toInterpreter[k]) << " | " << c.bound[0] << " / " << c.bound[1]
       << " |\n";
    const char *paths[4] = {"f32 vector", "f32 scalar", "f64 vector", "f64 scalar"};
    for (int j = 0; j < 4; ++j)
      EXPECT_LE(m[j]->worst, c.bound[j])
          << c.name << " " << paths[j] << ": " << m[j]->worst
          << " ulp at x = " << std::setprecision(17) << m[j]->at
          << (std::string(c.name) == "pow" ? ", p = " : "")
          << (std::string(c.name) == "pow" ? std::to_string(m[j]->atP) : "");
    // The interpreter's f64 is libm's: within the bound plus its own rounding.
    EXPECT_LE(f64.toInterpreter[k], c.bound[2] + 1) << c.name;
  }
  if (const char *path = std::getenv("TDSL_NUMERICS_TABLE")) {
    std::ofstream out(path);
    out << md.str();
    out << "\nsamples per function and dtype: " << sampleCount() << " + edge values\n";
  }
  RecordProperty("table", md.str());
}

} // namespace
} // namespace tdsl::test
