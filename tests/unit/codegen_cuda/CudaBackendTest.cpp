// CUDA C emission from hand-built loop IR, and its compilation to PTX with NVRTC (skipped where
// NVRTC cannot be loaded).
#include "codegen/cuda/CudaBackend.h"
#include "passes/GpuMap.h"
#include "passes/GpuSchedule.h"
#include "support/Check.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace tdsl::codegen {
namespace {

using namespace ir;

/// The CUDA C of `func` scheduled for the default GPU target.
std::string cudaOf(const LoweredFunc &func) { return emitCuda(passes::scheduleForGpu(func)); }

#define REQUIRE_NVRTC()                                                                            \
  do {                                                                                             \
    if (!nvrtcStatus().available)                                                                  \
      GTEST_SKIP() << nvrtcStatus().reason;                                                        \
  } while (0)

Var symbol(const std::string &name) { return makeVar(name, Type::i64(), VarKind::Symbol); }
Var loopVar(const std::string &name) { return makeVar(name, Type::i64(), VarKind::Loop); }
Expr lt(Expr a, Expr b) { return Binary::make(BinaryOp::Lt, std::move(a), std::move(b)); }
Expr ge(Expr a, Expr b) { return Binary::make(BinaryOp::Ge, std::move(a), std::move(b)); }
Expr f32(Expr e) { return Cast::make(Type::scalar(DType::F32), std::move(e)); }

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

/// Compiles and checks that the PTX has an entry for every kernel.
std::string ptxFor(const std::string &source, const std::string &name, int kernels = 1) {
  std::string ptx = compileToPtx(source, name);
  for (int k = 0; k < kernels; ++k)
    EXPECT_TRUE(contains(ptx, ".entry " + name + "_k" + std::to_string(k)))
        << "no entry " << name << "_k" << k << " in:\n"
        << ptx;
  return ptx;
}

/// `y = f(x...)` elementwise over [N, D]: the loops around one store of `value(i * D + j)`.
struct Elementwise2d {
  Var n = symbol("N"), d = symbol("D"), i = loopVar("i"), j = loopVar("j");
  Expr idx = add(mul(ir::ref(i), ir::ref(d)), ir::ref(j));
  std::vector<Expr> shape = {ir::ref(n), ir::ref(d)};

  Buffer input(const std::string &name, DType t = DType::F32) const {
    return makeBuffer(name, t, shape, BufferRole::Input);
  }
  Buffer output(const std::string &name, DType t = DType::F32) const {
    return makeBuffer(name, t, shape, BufferRole::Output);
  }
  LoweredFunc func(const std::string &name, std::vector<Buffer> params, Stmt store) const {
    Stmt body = For::make(i, ir::ref(n), ForKind::Serial,
                          For::make(j, ir::ref(d), ForKind::Serial, std::move(store)));
    return LoweredFunc{name, std::move(params), {n, d}, body};
  }
};

TEST(CudaEmit, ElementwiseAddOverSymbolicShape) {
  Elementwise2d e;
  Buffer a = e.input("a"), b = e.input("b"), y = e.output("y");
  LoweredFunc f = e.func("add", {a, b, y},
                         Store::make(y, e.idx, add(Load::make(a, e.idx), Load::make(b, e.idx))));
  // The generic mapping (the schedule of nests no other schedule fits; passes through emitCuda).
  std::string cuda = cudaOf(passes::mapToGpu(f));
  EXPECT_TRUE(contains(cuda, "extern \"C\" __global__ void __launch_bounds__(256) add_k0(const "
                             "float *__restrict__ a, const float *__restrict__ b, float "
                             "*__restrict__ y, long long N, long long D) {"))
      << cuda;
  EXPECT_TRUE(contains(cuda, "for (long long block = blockIdx.x; block < (N * D + 255LL) / "
                             "256LL; block += gridDim.x) {"))
      << cuda;
  // The launch has one thread per iteration of the gpu_thread loop.
  EXPECT_TRUE(contains(cuda, "const long long thread = threadIdx.x;")) << cuda;
  EXPECT_TRUE(contains(cuda, "const long long flat = block * 256LL + thread;")) << cuda;
  EXPECT_TRUE(contains(cuda, "if (flat < N * D) {")) << cuda;
  EXPECT_TRUE(contains(cuda, "const long long i = tdsl_floordiv(flat, D);")) << cuda;
  EXPECT_TRUE(contains(cuda, "const long long j = flat - i * D;")) << cuda;
  EXPECT_TRUE(contains(cuda, "y[i * D + j] = a[i * D + j] + b[i * D + j];")) << cuda;
  EXPECT_FALSE(contains(cuda, "add_k1")) << cuda;

  REQUIRE_NVRTC();
  std::string ptx = ptxFor(cuda, "add");
  EXPECT_TRUE(contains(ptx, "ld.global")) << ptx;
  EXPECT_TRUE(contains(ptx, "st.global")) << ptx;
}

TEST(CudaEmit, ElementwiseRelu) {
  Elementwise2d e;
  Buffer x = e.input("x"), y = e.output("y");
  LoweredFunc f = e.func(
      "relu", {x, y}, Store::make(y, e.idx, Call::make(Intrinsic::Relu, {Load::make(x, e.idx)})));
  std::string cuda = cudaOf(f);
  EXPECT_TRUE(contains(cuda, "y[i * D + j] = tdsl_relu(x[i * D + j]);")) << cuda;
  REQUIRE_NVRTC();
  ptxFor(cuda, "relu");
}

TEST(CudaEmit, PerRowSumKeepsTheReductionLoopInTheThread) {
  Var n = symbol("N"), d = symbol("D"), i = loopVar("i"), k = loopVar("k");
  Buffer x = makeBuffer("x", DType::F32, {ir::ref(n), ir::ref(d)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {ir::ref(n)}, BufferRole::Output);
  Buffer acc = makeBuffer("y.acc", DType::F32, {intImm(1)}, BufferRole::Intermediate);
  Expr acc0 = Load::make(acc, intImm(0));
  Stmt reduce = For::make(
      k, ir::ref(d), ForKind::Serial,
      Store::make(acc, intImm(0),
                  add(acc0, Load::make(x, add(mul(ir::ref(i), ir::ref(d)), ir::ref(k))))));
  Stmt body = Allocate::make(acc, MemoryScope::Stack,
                             Block::make({Store::make(acc, intImm(0), floatImm(0.0)), reduce,
                                          Store::make(y, ir::ref(i), acc0)}));
  LoweredFunc f{"rowsum", {x, y}, {n, d}, For::make(i, ir::ref(n), ForKind::Serial, body)};
  // The generic mapping (scheduleForGpu gives a row per warp or block: GpuScheduleTest).
  std::string cuda = cudaOf(passes::mapToGpu(f));
  EXPECT_TRUE(contains(cuda, "const long long i = block * 256LL + thread;")) << cuda;
  EXPECT_TRUE(contains(cuda, "float y_acc[1];\n")) << cuda;
  EXPECT_TRUE(contains(cuda, "y_acc[0LL] = 0.0f;")) << cuda;
  EXPECT_TRUE(contains(cuda, "for (long long k = 0; k < D; ++k) {")) << cuda;
  EXPECT_TRUE(contains(cuda, "y_acc[0LL] = y_acc[0LL] + x[i * D + k];")) << cuda;
  EXPECT_TRUE(contains(cuda, "y[i] = y_acc[0LL];")) << cuda;
  REQUIRE_NVRTC();
  ptxFor(cuda, "rowsum");
}

TEST(CudaEmit, HalfStorageConvertsAtLoadAndStore) {
  Elementwise2d e;
  Buffer x = e.input("x", DType::F16), y = e.output("y", DType::F16);
  Buffer z = e.output("z", DType::BF16);
  Expr value = mul(f32(Load::make(x, e.idx)), floatImm(2.0));
  LoweredFunc f =
      e.func("half2", {x, y, z},
             Block::make({Store::make(y, e.idx, Cast::make(Type::scalar(DType::F16), value)),
                          Store::make(z, e.idx, Cast::make(Type::scalar(DType::BF16), value))}));
  std::string cuda = cudaOf(f);
  EXPECT_TRUE(contains(cuda, "const tdsl_f16 *__restrict__ x, tdsl_f16 *__restrict__ y, "
                             "tdsl_bf16 *__restrict__ z"))
      << cuda;
  EXPECT_TRUE(contains(cuda, "y[i * D + j] = tdsl_f2h(tdsl_h2f(x[i * D + j]) * 2.0f);")) << cuda;
  EXPECT_TRUE(contains(cuda, "z[i * D + j] = tdsl_f2bf(tdsl_h2f(x[i * D + j]) * 2.0f);")) << cuda;
  REQUIRE_NVRTC();
  std::string ptx = ptxFor(cuda, "half2");
  EXPECT_TRUE(contains(ptx, "ld.global.nc.u16") || contains(ptx, "ld.global.u16") ||
              contains(ptx, "ld.global.nc.b16") || contains(ptx, "ld.global.b16"))
      << ptx;
}

TEST(CudaEmit, PredicatedLoadsTouchNoMemoryOutOfBounds) {
  // y[i] = (x[i - 1] ?? 0.0) + x[i]: the predicate guards the access itself.
  Var n = symbol("N"), i = loopVar("i");
  Buffer x = makeBuffer("x", DType::F32, {ir::ref(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {ir::ref(n)}, BufferRole::Output);
  Expr prev = sub(ir::ref(i), intImm(1));
  Expr inBounds = ge(prev, intImm(0));
  Expr left = Select::make(inBounds, Load::make(x, prev, inBounds), floatImm(0.0));
  Stmt body = For::make(i, ir::ref(n), ForKind::Serial,
                        Store::make(y, ir::ref(i), add(left, Load::make(x, ir::ref(i)))));
  std::string cuda = cudaOf(LoweredFunc{"blur", {x, y}, {n}, body});
  EXPECT_TRUE(contains(cuda, "y[i] = (i - 1LL >= 0LL ? (i - 1LL >= 0LL ? x[i - 1LL] : 0.0f) : "
                             "0.0f) + x[i];"))
      << cuda;

  // A predicated store writes nothing where the predicate is false.
  Stmt guarded = For::make(i, ir::ref(n), ForKind::Serial,
                           Store::make(y, ir::ref(i), floatImm(1.0), lt(ir::ref(i), intImm(3))));
  std::string cuda2 = cudaOf(LoweredFunc{"head", {x, y}, {n}, guarded});
  EXPECT_TRUE(contains(cuda2, "if (i < 3LL) y[i] = 1.0f;")) << cuda2;
  REQUIRE_NVRTC();
  ptxFor(cuda, "blur");
  ptxFor(cuda2, "head");
}

/// One output per expression, each `out_k[i] = exprs[k]`, over 1-D inputs of every dtype.
struct ManyOutputs {
  Var n = symbol("N"), i = loopVar("i");
  std::vector<Buffer> params;
  std::vector<Stmt> stores;

  Expr in(DType t) {
    std::string name = "in_" + std::string(dtypeName(t));
    for (const Buffer &b : params)
      if (b->name == name)
        return Load::make(b, ir::ref(i));
    params.push_back(makeBuffer(name, t, {ir::ref(n)}, BufferRole::Input));
    return Load::make(params.back(), ir::ref(i));
  }
  /// A value of compute type `t` (f16/bf16 inputs are cast to f32 on load).
  Expr value(DType t) { return t == DType::F16 || t == DType::BF16 ? f32(in(t)) : in(t); }
  void out(const Expr &e) {
    Buffer b = makeBuffer("out" + std::to_string(stores.size()), e->type.dtype, {ir::ref(n)},
                          BufferRole::Output);
    params.push_back(b);
    stores.push_back(Store::make(b, ir::ref(i), e));
  }
  LoweredFunc func(const std::string &name) {
    // Inputs first, then outputs, as in every LoweredFunc.
    std::stable_partition(params.begin(), params.end(),
                          [](const Buffer &b) { return b->role == BufferRole::Input; });
    return LoweredFunc{
        name, params, {n}, For::make(i, ir::ref(n), ForKind::Serial, Block::make(stores))};
  }
};

TEST(CudaEmit, EveryBinaryOpAndIntrinsicCompiles) {
  ManyOutputs m;
  const BinaryOp arith[] = {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::FloorDiv,
                            BinaryOp::Mod, BinaryOp::Pow, BinaryOp::Min, BinaryOp::Max};
  const BinaryOp compare[] = {BinaryOp::Eq, BinaryOp::Ne, BinaryOp::Lt,
                              BinaryOp::Le, BinaryOp::Gt, BinaryOp::Ge};
  for (DType t : {DType::F32, DType::F64, DType::I32, DType::I64}) {
    for (BinaryOp op : arith)
      m.out(Binary::make(op, m.value(t), m.value(t)));
    for (BinaryOp op : compare)
      m.out(Binary::make(op, m.value(t), m.value(t)));
    m.out(Unary::make(UnaryOp::Neg, m.value(t)));
    if (isFloat(t))
      m.out(Binary::make(BinaryOp::Div, m.value(t), m.value(t)));
  }
  m.out(Binary::make(BinaryOp::And, m.value(DType::Bool),
                     Unary::make(UnaryOp::Not, m.value(DType::Bool))));
  m.out(Binary::make(BinaryOp::Or, m.value(DType::Bool), m.value(DType::Bool)));
  const Intrinsic all[] = {Intrinsic::Exp,  Intrinsic::Exp2,  Intrinsic::Log,     Intrinsic::Log2,
                           Intrinsic::Sqrt, Intrinsic::Rsqrt, Intrinsic::Sin,     Intrinsic::Cos,
                           Intrinsic::Tan,  Intrinsic::Tanh,  Intrinsic::Sigmoid, Intrinsic::Relu,
                           Intrinsic::Abs,  Intrinsic::Floor, Intrinsic::Ceil,    Intrinsic::Round,
                           Intrinsic::Erf};
  for (DType t : {DType::F32, DType::F64})
    for (Intrinsic fn : all)
      m.out(Call::make(fn, {m.value(t)}));
  for (DType t : {DType::I32, DType::I64}) {
    m.out(Call::make(Intrinsic::Abs, {m.value(t)}));
    m.out(Call::make(Intrinsic::Relu, {m.value(t)}));
  }
  m.out(Select::make(m.value(DType::Bool), m.value(DType::F32), floatImm(0.5)));
  std::string cuda = cudaOf(m.func("ops"));

  for (const char *part : {"tdsl_add(in_i32[i], in_i32[i])",
                           "tdsl_mul(in_i64[i], in_i64[i])",
                           "tdsl_floordiv(in_f32[i], in_f32[i])",
                           "tdsl_mod(in_i32[i], in_i32[i])",
                           "powf(in_f32[i], in_f32[i])",
                           "pow(in_f64[i], in_f64[i])",
                           "tdsl_pow(in_i64[i], in_i64[i])",
                           "tdsl_max(in_f64[i], in_f64[i])",
                           "in_f32[i] != in_f32[i]",
                           "-in_f32[i]",
                           "tdsl_neg(in_i32[i])",
                           "in_bool[i] && !in_bool[i]",
                           "in_bool[i] || in_bool[i]",
                           "expf(",
                           "exp2(",
                           "tdsl_rsqrt(",
                           "tdsl_sigmoid(",
                           "rintf(",
                           "erf(",
                           "fabsf(",
                           "tdsl_abs(in_i64[i])",
                           "in_bool[i] ? in_f32[i] : 0.5f"})
    EXPECT_TRUE(contains(cuda, part)) << "missing " << part << " in:\n" << cuda;
  REQUIRE_NVRTC();
  ptxFor(cuda, "ops");
}

TEST(CudaEmit, EveryCastCompiles) {
  ManyOutputs m;
  const DType all[] = {DType::F16, DType::BF16, DType::F32, DType::F64,
                       DType::I32, DType::I64,  DType::Bool};
  for (DType from : all)
    for (DType to : all)
      m.out(Cast::make(Type::scalar(to), m.in(from)));
  std::string cuda = cudaOf(m.func("casts"));
  for (const char *part :
       {"tdsl_to_i32(in_f32[i])", "tdsl_to_i64(in_f64[i])", "tdsl_d2h(in_f64[i])",
        "tdsl_d2bf((double)in_i32[i])", "tdsl_f2h(tdsl_bf2f(in_bf16[i]))",
        "tdsl_to_i32(tdsl_h2f(in_f16[i]))", "in_f32[i] != 0.0f", "(float)in_bool[i]",
        "(int)in_i64[i]", "(float)in_f64[i]"})
    EXPECT_TRUE(contains(cuda, part)) << "missing " << part << " in:\n" << cuda;
  REQUIRE_NVRTC();
  ptxFor(cuda, "casts");
}

TEST(CudaEmit, LiteralsOfEveryType) {
  ManyOutputs m;
  m.out(floatImm(0.1));
  m.out(floatImm(-2.5, DType::F64));
  m.out(floatImm(INFINITY));
  m.out(floatImm(-INFINITY, DType::F64));
  m.out(floatImm(NAN));
  m.out(floatImm(1.0, DType::F16));
  m.out(floatImm(-2.0, DType::BF16));
  m.out(intImm(INT32_MIN, DType::I32));
  m.out(intImm(INT64_MIN));
  m.out(boolImm(true));
  m.out(floatImm(1e20));
  std::string cuda = cudaOf(m.func("lits"));
  for (const char *part :
       {"= 0.1f;", "= -2.5;", "= __int_as_float(0x7f800000);",
        "= -__longlong_as_double(0x7ff0000000000000LL);", "= __int_as_float(0x7fc00000);",
        "= (tdsl_f16)0x3c00 /* 1.0f */;", "= (tdsl_bf16)0xc000 /* -2.0f */;",
        "= (-2147483647 - 1);", "= (-9223372036854775807LL - 1);", "= true;", "= 1e+20f;"})
    EXPECT_TRUE(contains(cuda, part)) << "missing " << part << " in:\n" << cuda;
  REQUIRE_NVRTC();
  ptxFor(cuda, "lits");
}

TEST(CudaEmit, NamesThatAreNotCIdentifiersAreRenamed) {
  // Buffers and variables may be named after C keywords or carry dots; loop variables of
  // different identity may share a name.
  Var n = symbol("N"), i1 = loopVar("int"), i2 = loopVar("int");
  Buffer x = makeBuffer("float", DType::F32, {ir::ref(n)}, BufferRole::Input);
  Buffer y = makeBuffer("y.sum0", DType::F32, {ir::ref(n)}, BufferRole::Output);
  Buffer z = makeBuffer("expf", DType::F32, {ir::ref(n)}, BufferRole::Output);
  Stmt body =
      Block::make({For::make(i1, ir::ref(n), ForKind::Serial,
                             Store::make(y, ir::ref(i1),
                                         Call::make(Intrinsic::Exp, {Load::make(x, ir::ref(i1))}))),
                   For::make(i2, ir::ref(n), ForKind::Serial,
                             Store::make(z, ir::ref(i2), Load::make(x, ir::ref(i2))))});
  std::string cuda = cudaOf(LoweredFunc{"names", {x, y, z}, {n}, body});
  EXPECT_TRUE(contains(cuda, "names_k0(const float *__restrict__ float_1, float *__restrict__ "
                             "y_sum0, float *__restrict__ expf_1, long long N)"))
      << cuda;
  EXPECT_TRUE(contains(cuda, "y_sum0[int_1] = expf(float_1[int_1]);")) << cuda;
  EXPECT_TRUE(contains(cuda, "expf_1[int_1] = float_1[int_1];")) << cuda;
  REQUIRE_NVRTC();
  ptxFor(cuda, "names", 2);
}

TEST(CudaEmit, NamesReservedForThePreludeAreRenamed) {
  Var n = symbol("TDSL_FN"), i = loopVar("__i"), j = loopVar("_j");
  Buffer x = makeBuffer("tdsl_add", DType::F32, {ir::ref(n)}, BufferRole::Input);
  Buffer y = makeBuffer("block", DType::F32, {ir::ref(n)}, BufferRole::Output);
  Stmt body =
      For::make(i, ir::ref(n), ForKind::Serial,
                For::make(j, intImm(2), ForKind::Serial,
                          Store::make(y, ir::ref(i), Load::make(x, add(ir::ref(i), ir::ref(j))))));
  std::string cuda = cudaOf(LoweredFunc{"names", {x, y}, {n}, body});
  EXPECT_TRUE(contains(cuda, "names_k0(const float *__restrict__ v_tdsl_add, float *__restrict__ "
                             "block, long long v_TDSL_FN)"))
      << cuda;
  EXPECT_TRUE(contains(cuda, "for (long long block_1 = blockIdx.x;")) << cuda;
  EXPECT_TRUE(contains(cuda, "block[v__i] = v_tdsl_add[v__i + v_j];")) << cuda;
  REQUIRE_NVRTC();
  ptxFor(cuda, "names");
}

TEST(CudaEmit, HeapIntermediatesArePointerParameters) {
  Var n = symbol("N"), i = loopVar("i");
  Buffer x = makeBuffer("x", DType::F32, {ir::ref(n)}, BufferRole::Input);
  Buffer e = makeBuffer("e", DType::F32, {ir::ref(n)}, BufferRole::Intermediate);
  Buffer y = makeBuffer("y", DType::F32, {ir::ref(n)}, BufferRole::Output);
  Stmt body = Allocate::make(
      e, MemoryScope::Heap,
      Block::make({For::make(i, ir::ref(n), ForKind::Serial,
                             Store::make(e, ir::ref(i), Load::make(x, ir::ref(i)))),
                   For::make(i, ir::ref(n), ForKind::Serial,
                             Store::make(y, ir::ref(i), Load::make(e, ir::ref(i))))}));
  // Every kernel takes the heap intermediates after the func's buffers, before the symbols; the
  // runtime allocates them on the device.
  std::string cuda = cudaOf(LoweredFunc{"soft", {x, y}, {n}, body});
  EXPECT_TRUE(contains(cuda, "soft_k0(const float *__restrict__ x, float *__restrict__ y, "
                             "float *e, long long N)"))
      << cuda;
  EXPECT_TRUE(contains(cuda, "soft_k1(const float *__restrict__ x, float *__restrict__ y, "
                             "float *e, long long N)"))
      << cuda;
  REQUIRE_NVRTC();
  ptxFor(cuda, "soft");
}

TEST(CudaEmit, VectorsAreNotSupportedYet) {
  Var i = loopVar("i");
  Buffer x = makeBuffer("x", DType::F32, {intImm(16)}, BufferRole::Input);
  Buffer y = makeBuffer("y", DType::F32, {intImm(16)}, BufferRole::Output);
  Expr ramp = Ramp::make(intImm(0), intImm(1), 8);
  Stmt body = Store::make(y, ramp, Load::make(x, ramp));
  EXPECT_THROW((void)cudaOf(LoweredFunc{"vec", {x, y}, {}, body}), RuntimeError);
}

TEST(CudaEmit, ScalarKernelAndSeveralNests) {
  // A 0-d output (one thread), then an elementwise nest: two kernels, launched in order.
  Var n = symbol("N"), i = loopVar("i");
  Buffer s = makeBuffer("s", DType::I32, {}, BufferRole::Input);
  Buffer x = makeBuffer("x", DType::I32, {ir::ref(n)}, BufferRole::Input);
  Buffer t = makeBuffer("t", DType::I32, {}, BufferRole::Output);
  Buffer y = makeBuffer("y", DType::I32, {ir::ref(n)}, BufferRole::Output);
  Expr s0 = Load::make(s, intImm(0));
  Stmt body = Block::make(
      {Store::make(t, intImm(0), mul(s0, intImm(3, DType::I32))),
       For::make(i, ir::ref(n), ForKind::Serial,
                 Store::make(y, ir::ref(i),
                             Binary::make(BinaryOp::FloorDiv, Load::make(x, ir::ref(i)), s0)))});
  std::string cuda = cudaOf(LoweredFunc{"two", {s, x, t, y}, {n}, body});
  EXPECT_TRUE(contains(cuda, "__launch_bounds__(1) two_k0(")) << cuda;
  EXPECT_TRUE(contains(cuda, "t[0LL] = tdsl_mul(s[0LL], 3);")) << cuda;
  EXPECT_TRUE(contains(cuda, "__launch_bounds__(256) two_k1(")) << cuda;
  EXPECT_TRUE(contains(cuda, "y[i] = tdsl_floordiv(x[i], s[0LL]);")) << cuda;
  REQUIRE_NVRTC();
  ptxFor(cuda, "two", 2);
}

TEST(Nvrtc, StatusExplainsItself) {
  NvrtcStatus status = nvrtcStatus();
  if (status.available) {
    EXPECT_TRUE(status.reason.empty());
    EXPECT_GE(status.versionMajor, 11);
  } else {
    EXPECT_TRUE(contains(status.reason, "libnvrtc")) << status.reason;
  }
}

TEST(Nvrtc, MalformedSourceReportsTheLog) {
  REQUIRE_NVRTC();
  try {
    (void)compileToPtx("extern \"C\" __global__ void broken_k0() { undeclared_thing = 1; }",
                       "broken");
    FAIL() << "expected an error";
  } catch (const RuntimeError &err) {
    std::string what = err.what();
    EXPECT_TRUE(contains(what, "broken")) << what;
    EXPECT_TRUE(contains(what, "undeclared_thing")) << what;
    EXPECT_TRUE(contains(what, "undefined")) << what;
  }
}

TEST(Nvrtc, UnavailableNvrtcIsAnError) {
  if (nvrtcStatus().available)
    GTEST_SKIP() << "NVRTC is available here";
  EXPECT_THROW((void)compileToPtx("", "empty"), RuntimeError);
}

} // namespace
} // namespace tdsl::codegen
