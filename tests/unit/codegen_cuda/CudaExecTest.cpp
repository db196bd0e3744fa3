// Runs generated CUDA on a GPU and compares every output with the reference interpreter:
// tensor IR -> lowerKernel -> mapToGpu -> emitCuda -> NVRTC -> driver API launch. The CUDA
// driver is loaded with dlopen here, so the test builds anywhere and skips without a GPU.
#include "codegen/cuda/CudaBackend.h"
#include "ir/GpuFunc.h"
#include "ir/Interpreter.h"
#include "ir/Shapes.h"
#include "passes/GpuMap.h"
#include "passes/GpuSchedule.h"
#include "passes/Pipeline.h"
#include "tdsl/Tensor.h"

#include <gtest/gtest.h>

#include <chrono>
#include <climits>
#include <cmath>
#include <dlfcn.h>
#include <limits>

namespace tdsl::codegen {
namespace {

using namespace ir;

/// The CUDA C of `func` scheduled for the default GPU target.
std::string cudaOf(const LoweredFunc &func) { return emitCuda(passes::scheduleForGpu(func)); }

/// The few driver API functions a launch needs (from cuda.h).
struct CudaDriver {
  using CUresult = int;
  using CUdeviceptr = unsigned long long;
  CUresult (*init)(unsigned) = nullptr;
  CUresult (*deviceGet)(int *, int) = nullptr;
  CUresult (*deviceGetAttribute)(int *, int, int) = nullptr;
  CUresult (*primaryCtxRetain)(void **, int) = nullptr;
  CUresult (*ctxSetCurrent)(void *) = nullptr;
  CUresult (*moduleLoadData)(void **, const void *) = nullptr;
  CUresult (*moduleUnload)(void *) = nullptr;
  CUresult (*moduleGetFunction)(void **, void *, const char *) = nullptr;
  CUresult (*memAlloc)(CUdeviceptr *, size_t) = nullptr;
  CUresult (*memFree)(CUdeviceptr) = nullptr;
  CUresult (*memcpyHtoD)(CUdeviceptr, const void *, size_t) = nullptr;
  CUresult (*memcpyDtoH)(void *, CUdeviceptr, size_t) = nullptr;
  CUresult (*launchKernel)(void *, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                           unsigned, void *, void **, void **) = nullptr;
  CUresult (*ctxSynchronize)() = nullptr;
  std::string reason; // Empty when usable.
  std::string arch;   // "compute_90"

  static const CudaDriver &get() {
    static const CudaDriver driver = load();
    return driver;
  }

  void check(CUresult r, const char *what) const {
    ASSERT_EQ(r, 0) << what << " failed with CUDA error " << r;
  }

private:
  static CudaDriver load() {
    CudaDriver d;
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      d.reason = "libcuda.so.1 not found (no NVIDIA driver)";
      return d;
    }
    bool ok = true;
    auto sym = [&](auto &fn, const char *name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      ok &= fn != nullptr;
    };
    sym(d.init, "cuInit");
    sym(d.deviceGet, "cuDeviceGet");
    sym(d.deviceGetAttribute, "cuDeviceGetAttribute");
    sym(d.primaryCtxRetain, "cuDevicePrimaryCtxRetain");
    sym(d.ctxSetCurrent, "cuCtxSetCurrent");
    sym(d.moduleLoadData, "cuModuleLoadData");
    sym(d.moduleUnload, "cuModuleUnload");
    sym(d.moduleGetFunction, "cuModuleGetFunction");
    sym(d.memAlloc, "cuMemAlloc_v2");
    sym(d.memFree, "cuMemFree_v2");
    sym(d.memcpyHtoD, "cuMemcpyHtoD_v2");
    sym(d.memcpyDtoH, "cuMemcpyDtoH_v2");
    sym(d.launchKernel, "cuLaunchKernel");
    sym(d.ctxSynchronize, "cuCtxSynchronize");
    int device = 0, major = 0, minor = 0;
    void *ctx = nullptr;
    if (!ok) {
      d.reason = "libcuda.so.1 lacks a driver API function";
    } else if (d.init(0) != 0 || d.deviceGet(&device, 0) != 0) {
      d.reason = "no CUDA device";
    } else if (d.deviceGetAttribute(&major, 75, device) != 0 ||
               d.deviceGetAttribute(&minor, 76, device) != 0 ||
               d.primaryCtxRetain(&ctx, device) != 0 || d.ctxSetCurrent(ctx) != 0) {
      d.reason = "cannot create a CUDA context";
    } else {
      d.arch = "compute_" + std::to_string(major * 10 + minor);
    }
    return d;
  }
};

// Without NVRTC nothing can be checked; without a GPU the kernels are still lowered, emitted
// and compiled to PTX (for sm_90), but not run.
#define REQUIRE_NVRTC()                                                                            \
  do {                                                                                             \
    if (!nvrtcStatus().available)                                                                  \
      GTEST_SKIP() << nvrtcStatus().reason;                                                        \
  } while (0)

bool haveGpu() { return CudaDriver::get().reason.empty(); }

/// Compiles `kernel` for the GPU, runs it on `inputs`, and returns its outputs.
/// With `secondsPerRun`, also times `repeats` further runs (after the first, which warms up).
std::vector<Tensor> runOnGpu(const Kernel &kernel, const std::vector<Tensor> &inputs,
                             double *secondsPerRun = nullptr, int repeats = 20) {
  const CudaDriver &cu = CudaDriver::get();
  LoweredFunc gpu = passes::scheduleForGpu(passes::mapToGpu(passes::lowerKernel(kernel)));
  std::string ptx = compileToPtx(emitCuda(gpu), kernel.name, cu.arch);

  std::vector<std::vector<int64_t>> shapes;
  for (const Tensor &t : inputs)
    shapes.push_back(t.shape());
  std::vector<int64_t> symbols = bindSymbols(kernel, shapes);
  std::vector<Tensor> outputs;
  for (const Buffer &b : kernel.outputs)
    outputs.push_back(Tensor::zeros(evalShape(b, kernel.symbols, symbols), b->dtype));

  std::vector<Tensor> all = inputs;
  all.insert(all.end(), outputs.begin(), outputs.end());
  std::vector<CudaDriver::CUdeviceptr> device(all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    cu.check(cu.memAlloc(&device[i], std::max<size_t>(all[i].nbytes(), 1)), "cuMemAlloc");
    if (all[i].nbytes())
      cu.check(cu.memcpyHtoD(device[i], all[i].data(), all[i].nbytes()), "cuMemcpyHtoD");
  }

  void *module = nullptr;
  cu.check(cu.moduleLoadData(&module, ptx.c_str()), "cuModuleLoadData");
  auto launchAll = [&] {
    for (const ir::GpuLaunch *k : ir::gpuLaunches(gpu)) {
      std::vector<Var> vars = gpu.symbols;
      std::vector<int64_t> values = symbols;
      for (const auto &[var, value] : ir::launchLets(k)) {
        values.push_back(evalInt(value, vars, values));
        vars.push_back(var);
      }
      int64_t blocks = evalInt(ir::launchBlocks(k), vars, values);
      int64_t threads = evalInt(ir::launchThreads(k), vars, values);
      if (blocks == 0)
        continue;
      void *fn = nullptr;
      cu.check(cu.moduleGetFunction(&fn, module, k->name.c_str()), "cuModuleGetFunction");
      std::vector<void *> args;
      for (auto &p : device)
        args.push_back(&p);
      for (int64_t &s : symbols)
        args.push_back(&s);
      // The kernels stride over the grid, so a capped grid is still correct.
      unsigned grid = static_cast<unsigned>(std::min<int64_t>(blocks, INT_MAX));
      cu.check(cu.launchKernel(fn, grid, 1, 1, static_cast<unsigned>(threads), 1, 1, 0, nullptr,
                               args.data(), nullptr),
               "cuLaunchKernel");
    }
  };
  launchAll();
  if (secondsPerRun) {
    cu.check(cu.ctxSynchronize(), "cuCtxSynchronize");
    auto start = std::chrono::steady_clock::now();
    for (int r = 0; r < repeats; ++r)
      launchAll();
    cu.check(cu.ctxSynchronize(), "cuCtxSynchronize");
    std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    *secondsPerRun = elapsed.count() / repeats;
  }
  cu.check(cu.ctxSynchronize(), "cuCtxSynchronize");
  for (size_t i = 0; i < outputs.size(); ++i)
    if (outputs[i].nbytes())
      cu.check(cu.memcpyDtoH(outputs[i].data(), device[inputs.size() + i], outputs[i].nbytes()),
               "cuMemcpyDtoH");
  cu.moduleUnload(module);
  for (auto p : device)
    cu.memFree(p);
  return outputs;
}

/// Float outputs within `rtol` (relative) or `atol` of the interpreter's f64 values, with NaN
/// matching NaN and infinities matching exactly; integer and bool outputs exactly equal.
void expectMatchesInterpreter(const Kernel &kernel, const std::vector<Tensor> &inputs,
                              double rtol = 1e-5, double atol = 1e-6) {
  if (!haveGpu()) {
    std::string ptx = compileToPtx(cudaOf(passes::lowerKernel(kernel)), kernel.name);
    EXPECT_NE(ptx.find(".entry " + kernel.name + "_k0"), std::string::npos) << ptx;
    return;
  }
  std::vector<Tensor> want = interpret(kernel, inputs);
  std::vector<Tensor> got = runOnGpu(kernel, inputs);
  ASSERT_EQ(got.size(), want.size());
  for (size_t o = 0; o < got.size(); ++o) {
    const std::string &name = kernel.outputs[o]->name;
    ASSERT_EQ(got[o].shape(), want[o].shape()) << name;
    int mismatches = 0;
    for (int64_t i = 0; i < got[o].numel() && mismatches < 5; ++i) {
      if (!isFloat(got[o].dtype())) {
        bool same = got[o].atInt(i) == want[o].atInt(i);
        mismatches += !same;
        EXPECT_TRUE(same) << kernel.name << ": " << name << "[" << i << "] = " << got[o].atInt(i)
                          << ", interpreter " << want[o].atInt(i);
        continue;
      }
      double g = got[o].at(i), w = want[o].at(i);
      if (got[o].dtype() == DType::F32) // The interpreter's f64 value, stored as f32.
        w = static_cast<double>(static_cast<float>(w));
      bool same = (std::isnan(g) && std::isnan(w)) ||
                  (g == w && std::signbit(g) == std::signbit(w)) ||
                  (std::isfinite(w) && w != 0 && std::abs(g - w) <= atol + rtol * std::abs(w));
      mismatches += !same;
      EXPECT_TRUE(same) << kernel.name << ": " << name << "[" << i << "] = " << g
                        << ", interpreter " << w;
    }
  }
}

// ---- building tensor-level kernels ----

Var symbol(const std::string &name) { return makeVar(name, Type::i64(), VarKind::Symbol); }
IterVar iter(const std::string &name, const Expr &extent) {
  return IterVar{makeVar(name, Type::i64(), VarKind::Index), extent};
}
Expr at(const IterVar &v) { return ir::ref(v.var); }
Buffer input(const std::string &name, DType t, std::vector<Expr> shape) {
  return makeBuffer(name, t, std::move(shape), BufferRole::Input);
}
Buffer output(const std::string &name, DType t, std::vector<Expr> shape) {
  return makeBuffer(name, t, std::move(shape), BufferRole::Output);
}
/// An access that reads f16/bf16 storage as f32, as sema writes it.
Expr read(const Buffer &b, std::vector<Expr> idx) {
  Expr e = Access::make(b, std::move(idx));
  return b->dtype == DType::F16 || b->dtype == DType::BF16 ? Cast::make(Type::scalar(DType::F32), e)
                                                           : e;
}
Expr bin(BinaryOp op, Expr a, Expr b) { return Binary::make(op, std::move(a), std::move(b)); }
Expr fn(Intrinsic f, Expr a) { return Call::make(f, {std::move(a)}); }
Expr cast(DType t, Expr a) { return Cast::make(Type::scalar(t), std::move(a)); }

/// A kernel whose outputs are all elementwise over the 1-D domain [0, N) of its inputs.
struct Elementwise1d {
  Kernel k;
  Var n = symbol("N");
  IterVar i = iter("i", ir::ref(n));

  explicit Elementwise1d(const std::string &name) {
    k.name = name;
    k.symbols = {n};
  }
  Expr in(const std::string &name, DType t) {
    k.inputs.push_back(input(name, t, {ir::ref(n)}));
    return read(k.inputs.back(), {at(i)});
  }
  void out(const std::string &name, Expr value) {
    DType t = value->type.dtype;
    k.outputs.push_back(output(name, t, {ir::ref(n)}));
    k.defs.push_back(Definition{k.outputs.back(), {i}, std::move(value), {}});
  }
  /// Random inputs of `n` elements, with special values written over the first ones.
  std::vector<Tensor> inputs(int64_t count, const std::vector<double> &specials = {}) const {
    std::vector<Tensor> ts;
    uint64_t seed = 1;
    for (const Buffer &b : k.inputs) {
      Tensor t = Tensor::randn({count}, b->dtype, seed++);
      // Input m holds special s at index s * (m + 1), so that pairs of inputs meet different
      // pairs of special values.
      int64_t stride = static_cast<int64_t>(ts.size()) + 1;
      for (size_t s = 0; isFloat(b->dtype) && s < specials.size(); ++s)
        if (static_cast<int64_t>(s) * stride < count)
          t.set(static_cast<int64_t>(s) * stride, specials[s]);
      ts.push_back(t);
    }
    return ts;
  }
};

TEST(CudaExec, ElementwiseAddOnOddAndEmptyShapes) {
  REQUIRE_NVRTC();
  Var n = symbol("N"), d = symbol("D");
  IterVar i = iter("i", ir::ref(n)), j = iter("j", ir::ref(d));
  Buffer a = input("a", DType::F32, {ir::ref(n), ir::ref(d)});
  Buffer bias = input("bias", DType::F32, {ir::ref(d)});
  Buffer y = output("y", DType::F32, {ir::ref(n), ir::ref(d)});
  Expr value =
      fn(Intrinsic::Relu, bin(BinaryOp::Add, read(a, {at(i), at(j)}), read(bias, {at(j)})));
  Kernel k{"bias_relu", {n, d}, {a, bias}, {y}, {Definition{y, {i, j}, value, {}}}, {}, {}};
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{37, 53}, {1, 1}, {0, 5}, {300, 1000}})
    expectMatchesInterpreter(
        k, {Tensor::randn({rows, cols}, DType::F32, 1), Tensor::randn({cols}, DType::F32, 2)});
}

TEST(CudaExec, MatmulReductionPerThread) {
  REQUIRE_NVRTC();
  Var m = symbol("M"), kk = symbol("K"), n = symbol("N");
  IterVar i = iter("i", ir::ref(m)), j = iter("j", ir::ref(n)), r = iter("k", ir::ref(kk));
  Buffer a = input("a", DType::F32, {ir::ref(m), ir::ref(kk)});
  Buffer b = input("b", DType::F32, {ir::ref(kk), ir::ref(n)});
  Buffer c = output("c", DType::F32, {ir::ref(m), ir::ref(n)});
  Expr value = Reduce::make(ReduceOp::Sum, {r},
                            bin(BinaryOp::Mul, read(a, {at(i), at(r)}), read(b, {at(r), at(j)})));
  Kernel k{"matmul", {m, kk, n}, {a, b}, {c}, {Definition{c, {i, j}, value, {}}}, {}, {}};
  expectMatchesInterpreter(
      k, {Tensor::randn({33, 17}, DType::F32, 1), Tensor::randn({17, 65}, DType::F32, 2)});
  expectMatchesInterpreter(
      k, {Tensor::randn({3, 0}, DType::F32, 1), Tensor::randn({0, 4}, DType::F32, 2)});
}

TEST(CudaExec, EveryReductionKindAndEmptyExtents) {
  REQUIRE_NVRTC();
  Var n = symbol("N"), d = symbol("D");
  IterVar i = iter("i", ir::ref(n));
  Buffer x = input("x", DType::F32, {ir::ref(n), ir::ref(d)});
  Buffer xi = input("xi", DType::I32, {ir::ref(n), ir::ref(d)});
  Buffer xb = input("xb", DType::Bool, {ir::ref(n), ir::ref(d)});
  Kernel k{"reductions", {n, d}, {x, xi, xb}, {}, {}, {}, {}};
  auto reduction = [&](const std::string &name, ReduceOp op, const Buffer &src) {
    IterVar r = iter("k", ir::ref(d));
    Expr value = Reduce::make(op, {r}, Access::make(src, {at(i), at(r)}));
    k.outputs.push_back(output(name, value->type.dtype, {ir::ref(n)}));
    k.defs.push_back(Definition{k.outputs.back(), {i}, value, {}});
  };
  for (auto [name, op] : {std::pair<std::string, ReduceOp>{"sum", ReduceOp::Sum},
                          {"prod", ReduceOp::Prod},
                          {"max", ReduceOp::Max},
                          {"min", ReduceOp::Min},
                          {"mean", ReduceOp::Mean}}) {
    reduction(name, op, x);
    if (op != ReduceOp::Mean)
      reduction(name + "_i32", op, xi);
    if (op == ReduceOp::Max || op == ReduceOp::Min)
      reduction(name + "_bool", op, xb);
  }
  // A 0-d total over both axes runs on a single thread.
  IterVar r1 = iter("r", ir::ref(n)), r2 = iter("s", ir::ref(d));
  Expr total = Reduce::make(ReduceOp::Sum, {r1, r2}, Access::make(x, {at(r1), at(r2)}));
  k.outputs.push_back(output("total", DType::F32, {}));
  k.defs.push_back(Definition{k.outputs.back(), {}, total, {}});

  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{29, 31}, {4, 0}}) {
    Tensor xs = Tensor::randn({rows, cols}, DType::F32, 3);
    if (rows * cols > 40)
      xs.set(40, NAN); // Max and min propagate NaN.
    expectMatchesInterpreter(k,
                             {xs, Tensor::randn({rows, cols}, DType::I32, 4),
                              Tensor::randn({rows, cols}, DType::Bool, 5)},
                             1e-4, 1e-5);
  }
}

TEST(CudaExec, PredicatedLoadsForFallbacks) {
  REQUIRE_NVRTC();
  // blur3: y[i, j] = (x[i - 1, j] ?? 0.0 + x[i, j] + x[i + 1, j] ?? 0.0) / 3.0
  Var h = symbol("H"), w = symbol("W");
  IterVar i = iter("i", ir::ref(h)), j = iter("j", ir::ref(w));
  Buffer x = input("x", DType::F32, {ir::ref(h), ir::ref(w)});
  Buffer y = output("y", DType::F32, {ir::ref(h), ir::ref(w)});
  Expr up = Access::make(x, {sub(at(i), intImm(1)), at(j)}, floatImm(0.0));
  Expr down = Access::make(x, {add(at(i), intImm(1)), at(j)}, floatImm(0.0));
  Expr value =
      bin(BinaryOp::Div, add(add(up, Access::make(x, {at(i), at(j)})), down), floatImm(3.0));
  Kernel k{"blur3", {h, w}, {x}, {y}, {Definition{y, {i, j}, value, {}}}, {}, {}};
  expectMatchesInterpreter(k, {Tensor::randn({45, 23}, DType::F32, 1)});
  expectMatchesInterpreter(k, {Tensor::randn({1, 7}, DType::F32, 1)});
}

TEST(CudaExec, HalfAndBfloat16Storage) {
  REQUIRE_NVRTC();
  Elementwise1d e("half");
  Expr h = e.in("h", DType::F16), b = e.in("b", DType::BF16), f = e.in("f", DType::F32);
  Expr g = e.in("g", DType::F64);
  e.out("h2", cast(DType::F16, add(mul(h, floatImm(3.0)), floatImm(1.0))));
  e.out("b2", cast(DType::BF16, mul(b, b)));
  e.out("fh", cast(DType::F16, mul(f, floatImm(1024.0)))); // Exact product; may overflow f16.
  e.out("fb", cast(DType::BF16, f));
  e.out("gh", cast(DType::F16, mul(g, floatImm(1e-5, DType::F64)))); // Subnormal f16.
  e.out("gb", cast(DType::BF16, g));
  e.out("hb", cast(DType::BF16, h));
  e.out("bh", cast(DType::F16, b));
  e.out("hi", cast(DType::I32, mul(h, floatImm(100.0))));
  e.out("ih", cast(DType::F16, e.in("i", DType::I64)));
  std::vector<Tensor> ins =
      e.inputs(5000, {NAN, INFINITY, -INFINITY, 0.0, -0.0, 65504.0, 65520.0, 1e-8, -6e-8, 3e-8});
  // Both sides round the same f32/f64 value once, so the results agree exactly.
  expectMatchesInterpreter(e.k, ins, 0.0, 0.0);
}

TEST(CudaExec, IntegerSemantics) {
  REQUIRE_NVRTC();
  for (DType t : {DType::I32, DType::I64}) {
    Elementwise1d e(std::string("ints_") + std::string(dtypeName(t)));
    Expr a = e.in("a", t), b = e.in("b", t);
    Expr big = intImm(t == DType::I32 ? INT32_MAX : INT64_MAX, t);
    e.out("add", bin(BinaryOp::Add, a, b));
    e.out("sub", bin(BinaryOp::Sub, a, b));
    e.out("mul", bin(BinaryOp::Mul, a, b));
    e.out("floordiv", bin(BinaryOp::FloorDiv, a, b)); // Random ints include 0 divisors.
    e.out("mod", bin(BinaryOp::Mod, a, b));
    e.out("pow", bin(BinaryOp::Pow, a, b));
    e.out("min", bin(BinaryOp::Min, a, b));
    e.out("max", bin(BinaryOp::Max, a, b));
    e.out("wrap_add", bin(BinaryOp::Add, mul(a, big), big));
    e.out("wrap_mul", bin(BinaryOp::Mul, mul(a, big), mul(b, big)));
    e.out("neg_min", Unary::make(UnaryOp::Neg, bin(BinaryOp::Add, big, intImm(1, t))));
    e.out("abs", fn(Intrinsic::Abs, mul(a, big)));
    e.out("relu", fn(Intrinsic::Relu, a));
    e.out("min_div", bin(BinaryOp::FloorDiv, bin(BinaryOp::Add, big, intImm(1, t)), intImm(-1, t)));
    e.out("min_mod", bin(BinaryOp::Mod, bin(BinaryOp::Add, big, intImm(1, t)), intImm(-1, t)));
    e.out("cmp", bin(BinaryOp::And, bin(BinaryOp::Lt, a, b), bin(BinaryOp::Ne, a, intImm(0, t))));
    e.out("to_f32", cast(DType::F32, mul(a, big)));
    e.out("to_bool", cast(DType::Bool, a));
    e.out("narrow", cast(t == DType::I32 ? DType::I64 : DType::I32, mul(a, big)));
    expectMatchesInterpreter(e.k, e.inputs(4000));
  }
}

TEST(CudaExec, FloatSemantics) {
  REQUIRE_NVRTC();
  for (DType t : {DType::F32, DType::F64}) {
    Elementwise1d e(std::string("floats_") + std::string(dtypeName(t)));
    Expr a = e.in("a", t), b = e.in("b", t);
    e.out("floordiv", bin(BinaryOp::FloorDiv, a, b));
    e.out("mod", bin(BinaryOp::Mod, a, b));
    e.out("pow", bin(BinaryOp::Pow, a, b));
    e.out("min", bin(BinaryOp::Min, a, b));
    e.out("max", bin(BinaryOp::Max, a, b));
    e.out("div", bin(BinaryOp::Div, a, b));
    e.out("ne", bin(BinaryOp::Ne, a, b));
    e.out("le", bin(BinaryOp::Le, a, b));
    e.out("neg", Unary::make(UnaryOp::Neg, a));
    e.out("select", Select::make(bin(BinaryOp::Gt, a, b), a, b));
    // Scaled by powers of two (exact products), so that the integer results compare exactly;
    // most saturate.
    e.out("to_i32", cast(DType::I32, mul(a, floatImm(std::ldexp(1.0, 33), t))));
    e.out("to_i64", cast(DType::I64, mul(a, floatImm(std::ldexp(1.0, 64), t))));
    e.out("to_i32_small", cast(DType::I32, mul(a, floatImm(1024.0, t))));
    e.out("to_bool", cast(DType::Bool, a));
    e.out("to_other", cast(t == DType::F32 ? DType::F64 : DType::F32, a));
    for (Intrinsic f :
         {Intrinsic::Exp, Intrinsic::Exp2, Intrinsic::Log, Intrinsic::Log2, Intrinsic::Sqrt,
          Intrinsic::Rsqrt, Intrinsic::Sin, Intrinsic::Cos, Intrinsic::Tan, Intrinsic::Tanh,
          Intrinsic::Sigmoid, Intrinsic::Relu, Intrinsic::Abs, Intrinsic::Floor, Intrinsic::Ceil,
          Intrinsic::Round, Intrinsic::Erf})
      e.out(std::string("fn") + std::to_string(static_cast<int>(f)), fn(f, a));
    // Signed zeros: max(+0, -0) is +0 and min is -0, whichever side holds which.
    Expr zero = mul(a, floatImm(0.0, t));
    e.out("max_zero", bin(BinaryOp::Max, zero, Unary::make(UnaryOp::Neg, zero)));
    e.out("min_zero", bin(BinaryOp::Min, zero, Unary::make(UnaryOp::Neg, zero)));
    std::vector<Tensor> ins = e.inputs(
        3000, {NAN, -NAN, INFINITY, -INFINITY, 0.0, -0.0, 0.5, 1.5, 2.5, -2.5, 1e30, -1e30, 3.0});
    expectMatchesInterpreter(e.k, ins, t == DType::F32 ? 2e-6 : 1e-13, 1e-30);
  }
}

// Not a test: prints the bandwidth of generated elementwise and reduction kernels
// (--gtest_also_run_disabled_tests --gtest_filter=*Bandwidth*).
TEST(CudaExec, DISABLED_Bandwidth) {
  REQUIRE_NVRTC();
  if (!haveGpu())
    GTEST_SKIP() << CudaDriver::get().reason;
  Var n = symbol("N"), d = symbol("D");
  IterVar i = iter("i", ir::ref(n)), j = iter("j", ir::ref(d)), k = iter("k", ir::ref(d));
  Buffer a = input("a", DType::F32, {ir::ref(n), ir::ref(d)});
  Buffer b = input("b", DType::F32, {ir::ref(n), ir::ref(d)});
  Buffer y = output("y", DType::F32, {ir::ref(n), ir::ref(d)});
  Buffer s = output("s", DType::F32, {ir::ref(n)});
  Kernel add2{"add2",
              {n, d},
              {a, b},
              {y},
              {Definition{y, {i, j}, add(read(a, {at(i), at(j)}), read(b, {at(i), at(j)})), {}}},
              {},
              {}};
  Kernel rowsum{"rowsum",
                {n, d},
                {a},
                {s},
                {Definition{s, {i}, Reduce::make(ReduceOp::Sum, {k}, read(a, {at(i), at(k)})), {}}},
                {},
                {}};
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{4096, 4096}, {16384, 1000}}) {
    Tensor x1 = Tensor::randn({rows, cols}, DType::F32, 1);
    Tensor x2 = Tensor::randn({rows, cols}, DType::F32, 2);
    double t = 0;
    runOnGpu(add2, {x1, x2}, &t);
    double bytes = 3.0 * rows * cols * 4;
    std::printf("add2   [%lld, %lld]: %8.1f us  %7.1f GB/s\n", static_cast<long long>(rows),
                static_cast<long long>(cols), t * 1e6, bytes / t / 1e9);
    runOnGpu(rowsum, {x1}, &t);
    bytes = 1.0 * rows * cols * 4;
    std::printf("rowsum [%lld, %lld]: %8.1f us  %7.1f GB/s\n", static_cast<long long>(rows),
                static_cast<long long>(cols), t * 1e6, bytes / t / 1e9);
  }
}

} // namespace
} // namespace tdsl::codegen
