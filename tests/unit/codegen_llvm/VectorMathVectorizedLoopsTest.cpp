// Vectorized loops executed: loop IR of the shapes the schedule emits (guarded elementwise loops,
// vector accumulators, `??` loads, per-lane accumulators, lane-dependent trip counts, branches),
// run once with its Vectorized loops as plain serial loops and once through passes::vectorize
// and the LLVM backend's vector code, on sizes that leave every possible remainder, with each
// buffer ending at an unmapped page so that a lane reading or writing past the end faults. The
// values must agree bit for bit (up to libmvec's ulps for transcendental functions and the
// reassociated order of a float sum), and the vector code must really be vector code.
#include "LlvmTestUtil.h"

#include "ir/IRPrinter.h"
#include "ir/IRVisitor.h"
#include "ir/Verifier.h"
#include "passes/Pipeline.h"
#include "passes/Vectorize.h"

#include <gtest/gtest.h>

#include <functional>
#include <random>

namespace tdsl::test {
namespace {

/// The same loops with every Vectorized loop run serially: the reference.
class Serialize : public IRMutator {
protected:
  Stmt visitFor(const For *n, const Stmt &self) override {
    Stmt body = mutate(n->body);
    if (n->kind != ForKind::Vectorized && body == n->body)
      return self;
    return For::make(n->var, n->extent, ForKind::Serial, body);
  }
};

Expr v(const Var &var) { return ir::ref(var); }
Expr f32(double x) { return floatImm(x, DType::F32); }

/// The schedule's split of an axis of extent `extent` into `lanes`: an outer serial loop, an
/// inner vectorized one, and the guard `index < extent` unless `guard` is false. `body` gets the
/// index and the lane.
Stmt splitLoop(const std::string &name, Expr extent, int lanes, bool guard,
               const std::function<Stmt(Expr, Expr)> &body) {
  Var outer = loopVar(name + ".outer"), inner = loopVar(name + ".inner");
  Expr index = add(mul(v(outer), i64(lanes)), v(inner));
  Stmt s = body(index, v(inner));
  if (guard)
    s = IfThenElse::make(bin(BinaryOp::Lt, index, extent), s);
  Expr trips = bin(BinaryOp::FloorDiv, add(extent, i64(lanes - 1)), i64(lanes));
  return For::make(outer, trips, ForKind::Serial,
                   For::make(inner, i64(lanes), ForKind::Vectorized, s));
}

/// One buffer per parameter, each ending at a guard page, filled from a seed.
struct Buffers {
  std::vector<std::unique_ptr<GuardedBuffer>> memory;
  std::vector<void *> pointers;

  Buffers(const LoweredFunc &f, const std::vector<int64_t> &counts, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> normal;
    for (size_t k = 0; k < f.params.size(); ++k) {
      DType d = f.params[k]->dtype;
      size_t bytes = static_cast<size_t>(counts[k]) * byteSize(d);
      memory.push_back(std::make_unique<GuardedBuffer>(bytes));
      char *p = memory.back()->as<char>();
      for (int64_t i = 0; i < counts[k]; ++i) {
        double x = normal(rng) * 4;
        switch (d) {
        case DType::F32:
          reinterpret_cast<float *>(p)[i] = static_cast<float>(x);
          break;
        case DType::F64:
          reinterpret_cast<double *>(p)[i] = x;
          break;
        case DType::I32:
          reinterpret_cast<int32_t *>(p)[i] = static_cast<int32_t>(x * 1000);
          break;
        case DType::I64:
          reinterpret_cast<int64_t *>(p)[i] = static_cast<int64_t>(x * 1000);
          break;
        case DType::F16:
          reinterpret_cast<uint16_t *>(p)[i] = refToHalf(x);
          break;
        case DType::BF16:
          reinterpret_cast<uint16_t *>(p)[i] = refToBFloat16(x);
          break;
        case DType::Bool:
          reinterpret_cast<uint8_t *>(p)[i] = x > 0;
          break;
        case DType::U8: // Integer narrowing wraps: every value of the dtype may come.
          reinterpret_cast<uint8_t *>(p)[i] = static_cast<uint8_t>(static_cast<int32_t>(x * 30));
          break;
        case DType::I8:
          reinterpret_cast<int8_t *>(p)[i] = static_cast<int8_t>(static_cast<int32_t>(x * 30));
          break;
        case DType::I16:
          reinterpret_cast<int16_t *>(p)[i] = static_cast<int16_t>(static_cast<int32_t>(x * 1000));
          break;
        }
      }
      pointers.push_back(p);
    }
  }
};

/// Compares the outputs of the serial reference and the vectorized code: floats within `ulps`
/// (0: bit for bit; NaN equals NaN), everything else exactly.
template <typename T> uint64_t ulpsApart(T a, T b) {
  if (std::isnan(a) || std::isnan(b))
    return std::isnan(a) && std::isnan(b) ? 0 : UINT64_MAX;
  using I = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  auto ordered = [](T x) {
    I bits = std::bit_cast<I>(x);
    return bits < 0 ? int64_t(std::numeric_limits<I>::min()) - int64_t(bits) : int64_t(bits);
  };
  int64_t x = ordered(a), y = ordered(b);
  return x > y ? uint64_t(x - y) : uint64_t(y - x);
}

struct Case {
  LoweredFunc func;
  /// Element counts of the parameters for a given size.
  std::function<std::vector<int64_t>(int64_t)> counts;
  /// Symbol values for a given size.
  std::function<std::vector<int64_t>(int64_t)> symbols;
  uint64_t maxUlps = 0;
};

/// Runs `c` at every size, reference against vectorized; `text` receives the vectorized loop IR.
void checkCase(const Case &c, const std::vector<int64_t> &sizes, std::string *text = nullptr) {
  LoweredFunc reference = c.func;
  reference.body = passes::simplify(Serialize().mutate(c.func.body));
  LoweredFunc vectorized = c.func;
  vectorized.body = passes::simplify(passes::vectorize(passes::simplify(c.func.body)));
  verify(vectorized);
  if (text)
    *text = toString(vectorized);
  auto refKernel = codegen::compileForHost(reference);
  auto vecKernel = codegen::compileForHost(vectorized);
  for (int64_t n : sizes) {
    std::vector<int64_t> counts = c.counts(n), symbols = c.symbols(n);
    Buffers want(c.func, counts, 42 + n), got(c.func, counts, 42 + n);
    runKernel(*refKernel, want.pointers, symbols);
    runKernel(*vecKernel, got.pointers, symbols);
    for (size_t k = 0; k < c.func.params.size(); ++k) {
      if (c.func.params[k]->role != BufferRole::Output)
        continue;
      DType d = c.func.params[k]->dtype;
      for (int64_t i = 0; i < counts[k]; ++i) {
        auto where = [&] {
          return c.func.params[k]->name + "[" + std::to_string(i) + "] at size " +
                 std::to_string(n) + "\n" + toString(vectorized);
        };
        if (d == DType::F32) {
          float a = static_cast<float *>(want.pointers[k])[i];
          float b = static_cast<float *>(got.pointers[k])[i];
          ASSERT_LE(ulpsApart(a, b), c.maxUlps) << a << " vs " << b << " " << where();
        } else if (d == DType::F64) {
          double a = static_cast<double *>(want.pointers[k])[i];
          double b = static_cast<double *>(got.pointers[k])[i];
          ASSERT_LE(ulpsApart(a, b), c.maxUlps) << a << " vs " << b << " " << where();
        } else {
          size_t bytes = byteSize(d);
          ASSERT_EQ(std::memcmp(static_cast<char *>(want.pointers[k]) + i * bytes,
                                static_cast<char *>(got.pointers[k]) + i * bytes, bytes),
                    0)
              << where();
        }
      }
    }
  }
}

const std::vector<int64_t> kSizes = {1, 2, 7, 15, 16, 17, 31, 33, 100, 257};

TEST(VectorizedLoops, GuardedElementwiseMatchesBitForBit) {
  Var n = symbolVar("N");
  Buffer x = makeBuffer("x", DType::F32, {v(n)}, BufferRole::Input);
  Buffer z = makeBuffer("z", DType::F32, {v(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {v(n)}, BufferRole::Output);
  Case c;
  c.func.name = "triad";
  c.func.params = {x, z, y};
  c.func.symbols = {n};
  c.func.body = splitLoop("j", v(n), 16, true, [&](Expr j, Expr) {
    Expr xj = Load::make(x, j), zj = Load::make(z, j);
    Expr value = sub(add(mul(xj, f32(2.5)), mul(zj, xj)), Call::make(Intrinsic::Relu, {zj}));
    return Store::make(y, j, value);
  });
  c.counts = [](int64_t n) { return std::vector<int64_t>{n, n, n}; };
  c.symbols = [](int64_t n) { return std::vector<int64_t>{n}; };
  std::string text;
  checkCase(c, kSizes, &text);
  EXPECT_NE(text.find("if (j.outer * 16 + 16 <= N)"), std::string::npos) << text;
  LoweredFunc f = c.func;
  f.body = passes::simplify(passes::vectorize(f.body));
  std::string ir = codegen::emitLlvmIr(f);
  EXPECT_NE(ir.find("fmul <16 x float>"), std::string::npos) << ir;
  EXPECT_NE(ir.find("llvm.masked.load.v16f32"), std::string::npos) << ir;
  EXPECT_NE(ir.find("llvm.masked.store.v16f32"), std::string::npos) << ir;
}

TEST(VectorizedLoops, TranscendentalChainWithinLibmvecUlps) {
  // y = exp(sin(x)) * erf(0.5 + x * x) / (1 + tanh(x) ** 2), f64 in 8 lanes: well-conditioned,
  // so each function's few ulps add up to a few more.
  Var n = symbolVar("N");
  Buffer x = makeBuffer("x", DType::F64, {v(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F64, {v(n)}, BufferRole::Output);
  auto d = [](double c) { return floatImm(c, DType::F64); };
  auto call = [](Intrinsic fn, Expr a) { return Call::make(fn, {std::move(a)}); };
  Case c;
  c.func.name = "chain";
  c.func.params = {x, y};
  c.func.symbols = {n};
  c.func.body = splitLoop("j", v(n), 8, true, [&](Expr j, Expr) {
    Expr t = Load::make(x, j);
    Expr num = mul(call(Intrinsic::Exp, call(Intrinsic::Sin, t)),
                   call(Intrinsic::Erf, add(d(0.5), mul(t, t))));
    Expr den = add(d(1.0), bin(BinaryOp::Pow, call(Intrinsic::Tanh, t), d(2.0)));
    return Store::make(y, j, bin(BinaryOp::Div, num, den));
  });
  c.counts = [](int64_t n) { return std::vector<int64_t>{n, n}; };
  c.symbols = [](int64_t n) { return std::vector<int64_t>{n}; };
  c.maxUlps = 16;
  checkCase(c, kSizes);
}

TEST(VectorizedLoops, VectorAccumulatorSumMaxAndMeanOverRows) {
  // s[i] = sum(x[i, k] for k); m[i] = max(x[i, k] for k), each in a 16-lane accumulator.
  Var n = symbolVar("N"), dsym = symbolVar("D");
  Buffer x = makeBuffer("x", DType::F32, {v(n), v(dsym)}, BufferRole::Input);
  Buffer s = makeBuffer("s", DType::F32, {v(n)}, BufferRole::Output);
  Buffer m = makeBuffer("m", DType::F32, {v(n)}, BufferRole::Output);
  Var i = loopVar("i");
  auto reduction = [&](const Buffer &out, ReduceOp op, BinaryOp combine, double identity) {
    Buffer acc = makeBuffer(out->name + ".acc", DType::F32, {i64(16)}, BufferRole::Intermediate);
    Var init = loopVar("k.init");
    Stmt update = splitLoop("k", v(dsym), 16, true, [&](Expr k, Expr lane) {
      Expr value = Load::make(x, add(mul(v(i), v(dsym)), k));
      return Store::make(acc, lane, bin(combine, Load::make(acc, lane), value));
    });
    return Allocate::make(
        acc, MemoryScope::Stack,
        Block::make({For::make(init, i64(16), ForKind::Vectorized,
                               Store::make(acc, v(init), f32(identity))),
                     update,
                     Store::make(out, v(i),
                                 VectorReduce::make(
                                     op, Load::make(acc, Ramp::make(i64(0), i64(1), 16))))}));
  };
  Case c;
  c.func.name = "rows";
  c.func.params = {x, s, m};
  c.func.symbols = {n, dsym};
  c.func.body = For::make(i, v(n), ForKind::Serial,
                          Block::make({reduction(s, ReduceOp::Sum, BinaryOp::Add, 0.0),
                                       reduction(m, ReduceOp::Max, BinaryOp::Max,
                                                 -std::numeric_limits<double>::infinity())}));
  c.counts = [](int64_t d) { return std::vector<int64_t>{3 * d, 3, 3}; };
  c.symbols = [](int64_t d) { return std::vector<int64_t>{3, d}; };
  // The serial reference also runs the lanes' partial sums (the loop IR fixes the order), so
  // even the float sum must match bit for bit.
  checkCase(c, kSizes);
  // The accumulator is blended, not masked, in the remainder: it can live in a register.
  LoweredFunc f = c.func;
  f.body = passes::simplify(passes::vectorize(f.body));
  std::string ir = codegen::emitLlvmIr(f);
  EXPECT_EQ(ir.find("alloca"), std::string::npos) << ir;
  // The sum of the lanes is tdsl's halving tree in plain fadds (no `reassoc` for LLVM to
  // regroup at one optimization level and not at another), as the serial reference sums them.
  EXPECT_EQ(ir.find("llvm.vector.reduce.fadd"), std::string::npos) << ir;
  EXPECT_EQ(ir.find("reassoc"), std::string::npos) << ir;
  EXPECT_NE(ir.find("fadd <8 x float>"), std::string::npos) << ir;
  // The max combines halves of the accumulator with the vector max of the loop body
  // (docs/numerics.md, "Vector max and min"), not LLVM's generic maximum reduction.
  EXPECT_EQ(ir.find("llvm.vector.reduce.fmaximum"), std::string::npos) << ir;
  EXPECT_EQ(ir.find("@llvm.maximum"), std::string::npos) << ir;
}

TEST(VectorizedLoops, FallbackLoadsNeverTouchMemoryOutsideTheBuffer) {
  // y[j] = (x[j - 1] ?? 0.0) + x[j] + (x[j + 1] ?? 0.0), as buildLoopNest lowers `??`.
  Var n = symbolVar("N");
  Buffer x = makeBuffer("x", DType::F32, {v(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {v(n)}, BufferRole::Output);
  Case c;
  c.func.name = "blur";
  c.func.params = {x, y};
  c.func.symbols = {n};
  c.func.body = splitLoop("j", v(n), 16, true, [&](Expr j, Expr) {
    Expr before = sub(j, i64(1)), after = add(j, i64(1));
    Expr lowOk = bin(BinaryOp::Le, i64(0), before), highOk = bin(BinaryOp::Lt, after, v(n));
    Expr left = Select::make(lowOk, Load::make(x, before, lowOk), f32(0.0));
    Expr right = Select::make(highOk, Load::make(x, after, highOk), f32(0.0));
    return Store::make(y, j, add(add(left, Load::make(x, j)), right));
  });
  c.counts = [](int64_t n) { return std::vector<int64_t>{n, n}; };
  c.symbols = [](int64_t n) { return std::vector<int64_t>{n}; };
  checkCase(c, kSizes);
}

TEST(VectorizedLoops, PerLaneAccumulatorsAndLaneDependentTripCounts) {
  // c[j] = sum(x[k, j] for k < N) and t[j] = sum(x[k, j] for k < j % 5): the accumulator is
  // allocated inside the vectorized loop, so every lane has its own.
  Var n = symbolVar("N");
  Buffer x = makeBuffer("x", DType::F32, {v(n), i64(40)}, BufferRole::Input);
  Buffer col = makeBuffer("col", DType::F32, {i64(40)}, BufferRole::Output);
  Buffer tri = makeBuffer("tri", DType::F32, {i64(40)}, BufferRole::Output);
  auto columnSum = [&](const Buffer &out, Expr j, Expr extent) {
    Buffer acc = makeBuffer(out->name + ".acc", DType::F32, {i64(1)}, BufferRole::Intermediate);
    Var k = loopVar("k");
    Expr clamped = bin(BinaryOp::Min, extent, v(n));
    return Allocate::make(
        acc, MemoryScope::Stack,
        Block::make({Store::make(acc, i64(0), f32(0.0)),
                     For::make(k, clamped, ForKind::Serial,
                               Store::make(acc, i64(0),
                                           add(Load::make(acc, i64(0)),
                                               Load::make(x, add(mul(v(k), i64(40)), j))))),
                     Store::make(out, j, Load::make(acc, i64(0)))}));
  };
  Case c;
  c.func.name = "columns";
  c.func.params = {x, col, tri};
  c.func.symbols = {n};
  c.func.body = splitLoop("j", i64(40), 16, true, [&](Expr j, Expr) {
    return Block::make({columnSum(col, j, v(n)), columnSum(tri, j, bin(BinaryOp::Mod, j, i64(5)))});
  });
  c.counts = [](int64_t n) { return std::vector<int64_t>{n * 40, 40, 40}; };
  c.symbols = [](int64_t n) { return std::vector<int64_t>{n}; };
  std::string text;
  checkCase(c, {1, 3, 8}, &text);
  EXPECT_NE(text.find("vector_max("), std::string::npos) << text;
}

TEST(VectorizedLoops, BranchesOnLoadedValuesWithElse) {
  // y[j] = x[j]; if (y[j] > 0) { y[j] = -y[j]; z[j] = 1 } else { z[j] = j // 3 }: the condition
  // reads what the then-branch writes, so it is evaluated once, first.
  Var n = symbolVar("N");
  Buffer x = makeBuffer("x", DType::I32, {v(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::I32, {v(n)}, BufferRole::Output);
  Buffer z = makeBuffer("z", DType::I64, {v(n)}, BufferRole::Output);
  Case c;
  c.func.name = "branches";
  c.func.params = {x, y, z};
  c.func.symbols = {n};
  c.func.body = splitLoop("j", v(n), 8, true, [&](Expr j, Expr) {
    Expr zero = intImm(0, DType::I32);
    return Block::make(
        {Store::make(y, j, Load::make(x, j)),
         IfThenElse::make(
             bin(BinaryOp::Gt, Load::make(y, j), zero),
             Block::make({Store::make(y, j, Unary::make(UnaryOp::Neg, Load::make(y, j))),
                          Store::make(z, j, i64(1))}),
             Store::make(z, j, bin(BinaryOp::FloorDiv, j, i64(3))))});
  });
  c.counts = [](int64_t n) { return std::vector<int64_t>{n, n, n}; };
  c.symbols = [](int64_t n) { return std::vector<int64_t>{n}; };
  std::string text;
  checkCase(c, kSizes, &text);
  EXPECT_NE(text.find("let cond = "), std::string::npos) << text;
}

TEST(VectorizedLoops, StorageTypesBoolsGathersAndScatters) {
  // h[j] = f16(f32(a[j]) * 3), b[j] = a[j] > 0, r[7 - j % 8 + j // 8 * 8] = f32(a[3 * j % N]).
  Var n = symbolVar("N");
  Buffer a = makeBuffer("a", DType::F16, {v(n)}, BufferRole::Input);
  Buffer h = makeBuffer("h", DType::F16, {v(n)}, BufferRole::Output);
  Buffer b = makeBuffer("b", DType::Bool, {v(n)}, BufferRole::Output);
  Buffer g = makeBuffer("g", DType::F32, {v(n)}, BufferRole::Output);
  Case c;
  c.func.name = "mixed";
  c.func.params = {a, h, b, g};
  c.func.symbols = {n};
  c.func.body = splitLoop("j", v(n), 16, true, [&](Expr j, Expr) {
    Type f32t = Type::scalar(DType::F32);
    Expr aj = Cast::make(f32t, Load::make(a, j));
    Expr gathered = Cast::make(f32t, Load::make(a, bin(BinaryOp::Mod, mul(j, i64(3)), v(n))));
    return Block::make({Store::make(h, j, Cast::make(Type::scalar(DType::F16), mul(aj, f32(3.0)))),
                        Store::make(b, j, bin(BinaryOp::Gt, aj, f32(0.0))),
                        Store::make(g, sub(sub(v(n), i64(1)), j), gathered)});
  });
  c.counts = [](int64_t n) { return std::vector<int64_t>{n, n, n, n}; };
  c.symbols = [](int64_t n) { return std::vector<int64_t>{n}; };
  std::string text;
  checkCase(c, kSizes, &text);
  EXPECT_NE(text.find("ramp(N - j.outer * 16 - 1, -1, 16)"), std::string::npos) << text;
}

TEST(VectorizedLoops, Avx2WidthOfEightLanes) {
  if (codegen::hostCpuInfo().vectorBits < 256)
    GTEST_SKIP() << "the host has no AVX2";
  Var n = symbolVar("N");
  Buffer x = makeBuffer("x", DType::F32, {v(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {v(n)}, BufferRole::Output);
  LoweredFunc f;
  f.name = "exp8";
  f.params = {x, y};
  f.symbols = {n};
  f.body = passes::vectorize(splitLoop("j", v(n), 8, true, [&](Expr j, Expr) {
    return Store::make(y, j, Call::make(Intrinsic::Exp, {Load::make(x, j)}));
  }));
  codegen::LlvmCodeGenOptions options;
  options.cpu = "x86-64-v3";
  options.features = "+avx2,+avx,+fma,+f16c,+bmi,+bmi2,+lzcnt,+popcnt,+sse4.2,+movbe";
  std::string ir = codegen::emitLlvmIr(f, true, options);
  EXPECT_NE(ir.find("call <8 x float> @_ZGVdN8v_expf(<8 x float>"), std::string::npos) << ir;
  EXPECT_NE(ir.find("llvm.masked.load.v8f32"), std::string::npos) << ir;
  auto kernel = codegen::compileForHost(f, options);
  for (int64_t size : {5, 8, 13}) {
    GuardedBuffer in(size * 4), out(size * 4);
    for (int64_t i = 0; i < size; ++i)
      in.as<float>()[i] = 0.25f * float(i) - 1;
    runKernel(*kernel, {in.as<char>(), out.as<char>()}, {size});
    for (int64_t i = 0; i < size; ++i)
      EXPECT_LE(ulpsApart(out.as<float>()[i], std::exp(in.as<float>()[i])), 4u) << i;
  }
}

} // namespace
} // namespace tdsl::test
