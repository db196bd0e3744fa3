// The fast call path (api/CallPlan): the same results and the same detailed errors as the general
// path, and no heap allocation in Kernel::run once compiled. Timing lives in
// bench/call_overhead.cpp, never in tests.
#include "api/CallPlan.h"
#include "frontend/Frontend.h"
#include "ir/Shapes.h"
#include "tdsl/tdsl.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <new>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

// Counts this thread's operator new calls while `tCounting` is set (replaces the global one for
// the test_api executable; it only counts).
namespace {
thread_local bool tCounting = false;
thread_local long tAllocations = 0;
} // namespace

void *operator new(std::size_t size) {
  if (tCounting)
    ++tAllocations;
  if (void *p = std::malloc(size ? size : 1))
    return p;
  throw std::bad_alloc();
}
void *operator new[](std::size_t size) { return operator new(size); }
// The nothrow forms too (std::stable_sort's temporary buffer uses them), so that every pointer
// reaching the free()-based deletes below came from malloc.
void *operator new(std::size_t size, const std::nothrow_t &) noexcept {
  if (tCounting)
    ++tAllocations;
  return std::malloc(size ? size : 1);
}
void *operator new[](std::size_t size, const std::nothrow_t &tag) noexcept {
  return operator new(size, tag);
}
// GCC 12 cannot see that these deletes pair with the malloc-based operator new above.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void *p) noexcept { std::free(p); }
void operator delete[](void *p) noexcept { std::free(p); }
void operator delete(void *p, std::size_t) noexcept { std::free(p); }
void operator delete[](void *p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace {

using namespace tdsl;

const char *kKernels = R"(
kernel add(a: f32[N], b: f32[N]) -> y: f32[N] {
    y = a + b
}
kernel window_sum(x: f32[N]) -> y: f32[N - 2] {
    y[i] = x[i] + x[i + 1] + x[i + 2]
}
kernel mixed(x: f32[B, 3, N], w: f64[3, M]) -> (y: f32[B, 2 * N + 1], z: f64[M]) {
    y[b, i] = x[b, 0, 0] ?? 0.0
    z[m] = w[0, m] + w[2, m]
}
)";

/// The message of the RuntimeError `f` throws, or "" if it throws none.
template <typename F> std::string errorOf(F &&f) {
  try {
    f();
  } catch (const RuntimeError &e) {
    return e.what();
  }
  return "";
}

TEST(CallOverhead, FastRunMatchesTheReference) {
  Module m = Jit().compile(kKernels);
  Kernel add = m.kernel("add"), window = m.kernel("window_sum"), mixed = m.kernel("mixed");
  Tensor a = Tensor::randn({5}, DType::F32, 1), b = Tensor::randn({5}, DType::F32, 2);
  Tensor y = Tensor::zeros({5}, DType::F32);
  add.run({a, b}, {y});
  for (int64_t i = 0; i < 5; ++i)
    EXPECT_EQ(y.at(i), double(float(a.at(i)) + float(b.at(i))));

  Tensor x = Tensor::randn({9}, DType::F32, 3);
  std::vector<Tensor> w = window({x});
  ASSERT_EQ(w[0].shape(), (std::vector<int64_t>{7}));
  std::vector<Tensor> ref = window.interpret({x});
  for (int64_t i = 0; i < 7; ++i)
    EXPECT_EQ(w[0].at(i), ref[0].at(i));

  Tensor xm = Tensor::randn({2, 3, 4}, DType::F32, 4), wm = Tensor::randn({3, 6}, DType::F64, 5);
  std::vector<Tensor> outs = mixed({xm, wm});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[0].shape(), (std::vector<int64_t>{2, 9}));
  EXPECT_EQ(outs[1].shape(), (std::vector<int64_t>{6}));
  std::vector<Tensor> refs = mixed.interpret({xm, wm});
  for (size_t o = 0; o < 2; ++o)
    for (int64_t i = 0; i < outs[o].numel(); ++i)
      EXPECT_EQ(outs[o].at(i), refs[o].at(i)) << "output " << o << " at " << i;
  Tensor y0 = Tensor::zeros({2, 9}, DType::F32), z0 = Tensor::zeros({6}, DType::F64);
  mixed.run({xm, wm}, {y0, z0});
  EXPECT_EQ(std::memcmp(y0.data(), outs[0].data(), y0.nbytes()), 0);
  EXPECT_EQ(std::memcmp(z0.data(), outs[1].data(), z0.nbytes()), 0);

  Tensor empty = Tensor::zeros({0}, DType::F32);
  EXPECT_EQ(add({empty, empty})[0].numel(), 0);
}

TEST(CallOverhead, ErrorsKeepTheirDetailedMessages) {
  Module m = Jit().compile(kKernels);
  Kernel add = m.kernel("add"), window = m.kernel("window_sum"), mixed = m.kernel("mixed");
  Tensor a5 = Tensor::zeros({5}, DType::F32), a6 = Tensor::zeros({6}, DType::F32);
  Tensor y5 = Tensor::zeros({5}, DType::F32);
  EXPECT_EQ(errorOf([&] { add.run({a5}, {y5}); }), "kernel add takes 2 inputs, got 1");
  EXPECT_NE(errorOf([&] { add.run({a5, a6}, {y5}); }).find("disagree on N"), std::string::npos);
  EXPECT_NE(errorOf([&] {
              add.run({a5, Tensor::zeros({5}, DType::F64)}, {y5});
            }).find("input b of kernel add: expected f32, got f64"),
            std::string::npos);
  EXPECT_NE(errorOf([&] {
              add.run({a5, a5}, {a6});
            }).find("output y of kernel add: expected f32[5], got f32[6]"),
            std::string::npos);
  EXPECT_NE(errorOf([&] {
              add.run({a5, a5}, {});
            }).find("has 1 outputs, got 0"),
            std::string::npos);
  EXPECT_NE(errorOf([&] {
              add({Tensor::zeros({5, 1}, DType::F32), a5});
            }).find("rank"),
            std::string::npos);
  EXPECT_NE(errorOf([&] {
              window({Tensor::zeros({1}, DType::F32)});
            }).find("output y would have dim N - 2 = -1 for N=1"),
            std::string::npos);
  EXPECT_NE(errorOf([&] {
              mixed({Tensor::zeros({2, 4, 4}, DType::F32), Tensor::zeros({3, 6}, DType::F64)});
            }).find("dim 1 is 4, not 3"),
            std::string::npos);
}

TEST(CallOverhead, InPlaceCallsStillTakeTheSafePath) {
  Kernel k = Jit()
                 .compile("kernel reversed(x: f32[N]) -> y: f32[N] {\n    y[i] = x[N - 1 - i]\n}\n")
                 .kernel("reversed");
  std::vector<float> data = {1, 2, 3, 4, 5};
  Tensor view = Tensor::view(data.data(), {5}, DType::F32);
  k.run({view}, {view});
  EXPECT_EQ(data, (std::vector<float>{5, 4, 3, 2, 1}));
}

TEST(CallOverhead, RunAllocatesNothingOnceCompiled) {
  Module m = Jit().compile(kKernels);
  Kernel add = m.kernel("add"), mixed = m.kernel("mixed");
  std::vector<Tensor> inputs = {Tensor::randn({8}, DType::F32, 1),
                                Tensor::randn({8}, DType::F32, 2)};
  std::vector<Tensor> outputs = {Tensor::zeros({8}, DType::F32)};
  std::vector<Tensor> mixedIn = {Tensor::randn({2, 3, 4}, DType::F32, 4),
                                 Tensor::randn({3, 6}, DType::F64, 5)};
  std::vector<Tensor> mixedOut = {Tensor::zeros({2, 9}, DType::F32),
                                  Tensor::zeros({6}, DType::F64)};
  add.run(inputs, outputs); // Compiles.
  mixed.run(mixedIn, mixedOut);
  Kernel parallelHandle = add.withThreads(2);
  parallelHandle.run(inputs, outputs); // May create the shared pool.
  tAllocations = 0;
  tCounting = true;
  for (int i = 0; i < 100; ++i) {
    add.run(inputs, outputs);
    mixed.run(mixedIn, mixedOut);
    parallelHandle.run(inputs, outputs);
  }
  tCounting = false;
  EXPECT_EQ(tAllocations, 0);
}

TEST(CallOverhead, OperatorCallAllocatesOnlyItsOutputs) {
  Kernel add = Jit().compile(kKernels).kernel("add");
  std::vector<Tensor> inputs = {Tensor::randn({8}, DType::F32, 1),
                                Tensor::randn({8}, DType::F32, 2)};
  add(inputs);
  tAllocations = 0;
  tCounting = true;
  std::vector<Tensor> y = add(inputs);
  tCounting = false;
  // The result vector, the output's shape and its storage's control block.
  EXPECT_LE(tAllocations, 3);
  EXPECT_EQ(y[0].shape(), (std::vector<int64_t>{8}));
}

/// The kernels of `path` as the frontend produces them.
std::vector<ir::Kernel> kernelsOf(const std::string &name, const std::string &text) {
  DiagnosticEngine diags;
  auto source = std::make_shared<const SourceFile>(SourceFile{name, text});
  std::optional<ir::Module> module = frontend::compileSource(source, diags);
  EXPECT_TRUE(module && !diags.hasErrors()) << name;
  return module ? module->kernels : std::vector<ir::Kernel>{};
}

TEST(CallPlan, PlansEveryKernelOfTheExamples) {
  for (const char *file : {"softmax.tdsl", "spec_examples.tdsl"}) {
    std::string path = std::string(TDSL_SOURCE_DIR) + "/examples/" + file;
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    std::vector<ir::Kernel> kernels = kernelsOf(path, text.str());
    EXPECT_FALSE(kernels.empty());
    for (const ir::Kernel &kernel : kernels)
      EXPECT_TRUE(detail::CallPlan(kernel).fast()) << kernel.name;
  }
}

TEST(CallPlan, BindsLikeBindSymbols) {
  std::vector<ir::Kernel> kernels = kernelsOf("k.tdsl", kKernels);
  ASSERT_EQ(kernels.size(), 3u);
  detail::CallPlan plan(kernels[2]); // mixed
  ASSERT_TRUE(plan.fast());
  int64_t symbols[detail::CallPlan::kMaxSymbols];
  std::vector<Tensor> inputs = {Tensor::zeros({2, 3, 4}, DType::F32),
                                Tensor::zeros({3, 6}, DType::F64)};
  ASSERT_TRUE(plan.bindInputs(inputs, symbols));
  EXPECT_EQ(symbols[0], 2); // B
  EXPECT_EQ(symbols[1], 4); // N
  EXPECT_EQ(symbols[2], 6); // M
  int64_t shape[2];
  ASSERT_TRUE(plan.outputShape(0, symbols, shape));
  EXPECT_EQ(shape[0], 2);
  EXPECT_EQ(shape[1], 9);
  EXPECT_FALSE(plan.bindInputs({inputs[0]}, symbols));
  EXPECT_FALSE(plan.bindInputs({inputs[1], inputs[0]}, symbols));
  EXPECT_FALSE(plan.bindInputs(
      {Tensor::zeros({2, 3, 4}, DType::F32), Tensor::zeros({4, 6}, DType::F64)}, symbols));
  EXPECT_TRUE(plan.checkOutputs({Tensor::zeros({2, 9}, DType::F32), Tensor::zeros({6}, DType::F64)},
                                symbols));
  EXPECT_FALSE(plan.checkOutputs(
      {Tensor::zeros({2, 9}, DType::F32), Tensor::zeros({6}, DType::F32)}, symbols));
  EXPECT_FALSE(plan.checkOutputs({Tensor::zeros({2, 9}, DType::F32)}, symbols));
}

TEST(CallPlan, EvaluatesShapeArithmeticLikeBindSymbols) {
  std::vector<ir::Kernel> kernels = kernelsOf("k.tdsl", R"(
kernel pool(x: f32[H, W], e: f32[A, 0]) -> y: f32[(H + 1) // 2, H * W - W % 3] {
    t[i < A * A] = 1.0
    u[i < H * W] = x[i // W, i % W] + sum(t[k] for k)
    y[i, j] = u[0] ?? 0.0
}
)");
  ASSERT_EQ(kernels.size(), 1u);
  const ir::Kernel &k = kernels[0];
  detail::CallPlan plan(k);
  ASSERT_TRUE(plan.fast());
  int64_t symbols[detail::CallPlan::kMaxSymbols];
  std::vector<Tensor> inputs = {Tensor::zeros({7, 5}, DType::F32),
                                Tensor::zeros({3, 0}, DType::F32)};
  ASSERT_TRUE(plan.bindInputs(inputs, symbols));
  int64_t shape[2];
  ASSERT_TRUE(plan.outputShape(0, symbols, shape));
  std::vector<int64_t> values = ir::bindSymbols(k, {{7, 5}, {3, 0}});
  EXPECT_EQ(std::vector<int64_t>(shape, shape + 2), ir::evalShape(k.outputs[0], k.symbols, values));
  EXPECT_EQ(shape[0], 4);
  EXPECT_EQ(shape[1], 33);
  // Where an extent overflows, the plan says no and bindSymbols gives the error.
  inputs[1] = Tensor::zeros({int64_t(1) << 32, 0}, DType::F32);
  EXPECT_FALSE(plan.bindInputs(inputs, symbols));
  EXPECT_THROW(ir::bindSymbols(k, {{7, 5}, {int64_t(1) << 32, 0}}), RuntimeError);
}

} // namespace
