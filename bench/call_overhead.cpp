// What a call of an already-compiled kernel costs beyond the kernel's work: Kernel::run into
// preallocated outputs and operator() (which allocates them), on tiny tensors, with one thread
// and with a multi-thread handle, on DLPack imports and on a strided view (copied first); and
// the thread pool's hand-off for a loop of empty chunks.
//
//   build/bin/bench_call_overhead --benchmark_repetitions=10 --benchmark_report_aggregates_only
#include "runtime/ThreadPool.h"
#include "tdsl/tdsl.h"
#ifdef TDSL_HAVE_DLPACK
#include "tdsl/DLPack.h"
#endif

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <vector>

namespace {

using namespace tdsl;

const char *kSource = R"(
kernel add(a: f32[N], b: f32[N]) -> y: f32[N] {
    y = a + b
}
kernel softmax(x: f32[N, D]) -> y: f32[N, D] {
    m[i] = max(x[i, k] for k)
    e[i, j] = exp(x[i, j] - m[i])
    y[i, j] = e[i, j] / sum(e[i, k] for k)
}
kernel scale3(x: f32[B, C, 4], s: f32) -> y: f32[B, C, 4] {
    y[b, c, k] = x[b, c, k] * s
}
)";

Kernel kernelNamed(const char *name, int threads = 1) {
  static Module module = Jit(JitOptions{Target::cpu(), 1}).compile(kSource, "overhead.tdsl");
  return module.kernel(name).withThreads(threads);
}

void runAdd(benchmark::State &state, int threads) {
  Kernel k = kernelNamed("add", threads);
  int64_t n = state.range(0);
  std::vector<Tensor> inputs = {Tensor::randn({n}, DType::F32, 1),
                                Tensor::randn({n}, DType::F32, 2)};
  std::vector<Tensor> outputs = {Tensor::zeros({n}, DType::F32)};
  k.run(inputs, outputs); // Compiles.
  for (auto _ : state) {
    k.run(inputs, outputs);
    benchmark::DoNotOptimize(outputs[0].data());
  }
}

void BM_RunAdd(benchmark::State &state) { runAdd(state, 1); }
BENCHMARK(BM_RunAdd)->Arg(1)->Arg(16)->Arg(256);

/// The same call through a handle allowed every hardware thread: tiny tensors stay on one.
void BM_RunAddAllThreads(benchmark::State &state) { runAdd(state, 0); }
BENCHMARK(BM_RunAddAllThreads)->Arg(16);

void BM_CallAdd(benchmark::State &state) {
  Kernel k = kernelNamed("add");
  int64_t n = state.range(0);
  std::vector<Tensor> inputs = {Tensor::randn({n}, DType::F32, 1),
                                Tensor::randn({n}, DType::F32, 2)};
  k(inputs);
  for (auto _ : state) {
    std::vector<Tensor> y = k(inputs);
    benchmark::DoNotOptimize(y[0].data());
  }
}
BENCHMARK(BM_CallAdd)->Arg(1)->Arg(16);

/// Three symbols bound from two inputs (one 0-d), an output of rank 3.
void BM_RunScale3(benchmark::State &state) {
  Kernel k = kernelNamed("scale3");
  std::vector<Tensor> inputs = {Tensor::randn({2, 3, 4}, DType::F32, 1),
                                Tensor::scalar(1.5, DType::F32)};
  std::vector<Tensor> outputs = {Tensor::zeros({2, 3, 4}, DType::F32)};
  k.run(inputs, outputs);
  for (auto _ : state) {
    k.run(inputs, outputs);
    benchmark::DoNotOptimize(outputs[0].data());
  }
}
BENCHMARK(BM_RunScale3);

void BM_RunSoftmax4x8(benchmark::State &state) {
  Kernel k = kernelNamed("softmax");
  std::vector<Tensor> inputs = {Tensor::randn({4, 8}, DType::F32, 1)};
  std::vector<Tensor> outputs = {Tensor::zeros({4, 8}, DType::F32)};
  k.run(inputs, outputs);
  for (auto _ : state) {
    k.run(inputs, outputs);
    benchmark::DoNotOptimize(outputs[0].data());
  }
}
BENCHMARK(BM_RunSoftmax4x8);

/// A call whose input is a strided view (every other element of a buffer twice as long): the
/// general path, which copies the input into a dense tensor first.
void BM_RunAddStridedInput(benchmark::State &state) {
  Kernel k = kernelNamed("add");
  int64_t n = state.range(0);
  Tensor wide = Tensor::randn({2 * n}, DType::F32, 1);
  std::vector<Tensor> inputs = {Tensor::view(wide.data(), {n}, DType::F32, {2}),
                                Tensor::randn({n}, DType::F32, 2)};
  std::vector<Tensor> outputs = {Tensor::zeros({n}, DType::F32)};
  k.run(inputs, outputs);
  for (auto _ : state) {
    k.run(inputs, outputs);
    benchmark::DoNotOptimize(outputs[0].data());
  }
}
BENCHMARK(BM_RunAddStridedInput)->Arg(16)->Arg(256);

#ifdef TDSL_HAVE_DLPACK
/// The same call as BM_RunAdd on tensors imported from DLPack capsules (contiguous views that
/// own their capsules): the fast path, as for any view.
void BM_RunAddDLPackViews(benchmark::State &state) {
  Kernel k = kernelNamed("add");
  int64_t n = state.range(0);
  auto imported = [](const Tensor &t) { return fromDLPack(toDLPack(t)); };
  std::vector<Tensor> inputs = {imported(Tensor::randn({n}, DType::F32, 1)),
                                imported(Tensor::randn({n}, DType::F32, 2))};
  std::vector<Tensor> outputs = {imported(Tensor::zeros({n}, DType::F32))};
  k.run(inputs, outputs);
  for (auto _ : state) {
    k.run(inputs, outputs);
    benchmark::DoNotOptimize(outputs[0].data());
  }
}
BENCHMARK(BM_RunAddDLPackViews)->Arg(1)->Arg(16);
#endif

/// The pool's hand-off: a loop of empty chunks over `threads` threads (the caller's included).
void BM_PoolHandOff(benchmark::State &state) {
  static runtime::ThreadPool pool(runtime::ThreadPool::hardwareThreads());
  int threads = static_cast<int>(state.range(0));
  if (threads > pool.maxThreads()) {
    state.SkipWithError("more threads than this machine has");
    return;
  }
  for (auto _ : state)
    pool.parallelFor(threads, threads,
                     [](int64_t begin, int64_t end) { benchmark::DoNotOptimize(begin + end); });
}
BENCHMARK(BM_PoolHandOff)->Arg(2)->Arg(4)->Arg(8)->Arg(16);

} // namespace

BENCHMARK_MAIN();
