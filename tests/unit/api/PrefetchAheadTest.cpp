// Loops that compute a transcendental function per element while they stream through their
// inputs prefetch each input 2 KiB ahead of its loads (CodeGenLlvm::prefetchAhead,
// docs/performance.md, "Prefetch ahead"). A prefetch changes no result, and one past the end of
// a buffer (every one in the last 2 KiB, and all of them in a small tensor) faults on nothing:
// the results match the interpreter and the thread count on odd shapes, a single row or column,
// a row longer than the distance ahead, and empty extents.
#include "api/Numerics.h"
#include "tdsl/tdsl.h"
#include "tests/unit/common/ApiTestSupport.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace {

using namespace tdsl;
using namespace tdsl::testing_support;

const char *kProgram = R"(
kernel bce_logits(x: f32[N, C], t: f32[N, C]) -> loss: f32 {
    loss = mean(relu(x[i, j]) - x[i, j] * t[i, j] + log(1 + exp(-abs(x[i, j]))) for i, j)
}
kernel silu(x: f32[N, C]) -> y: f32[N, C] {
    y[i, j] = x[i, j] * sigmoid(x[i, j])
}
kernel col_lse(x: f32[N, C]) -> y: f32[C] {
    y[j] = log(sum(exp(x[i, j]) for i))
}
)";

const std::vector<std::pair<int64_t, int64_t>> kShapes = {{1, 1},    {3, 17},   {17, 3}, {1, 4097},
                                                          {4097, 1}, {33, 600}, {0, 5},  {5, 0}};

TEST(PrefetchAhead, ComputeBoundStreamsMatchTheInterpreterAndTheThreadCount) {
  Module one = compileWithThreads(kProgram, "prefetch_ahead.tdsl", 1);
  Module two = compileWithThreads(kProgram, "prefetch_ahead.tdsl", 2);
  for (const char *name : {"bce_logits", "silu", "col_lse"}) {
    Kernel serial = one.kernel(name), parallel = two.kernel(name);
    for (auto [n, c] : kShapes) {
      std::string at = std::string(name) + " " + std::to_string(n) + "x" + std::to_string(c);
      std::vector<Tensor> in = serial.randomInputs({{"N", n}, {"C", c}}, uint64_t(n * 7919 + c));
      expectInterpreterAndThreadsAgree(serial, parallel, in, at);
    }
  }
}

} // namespace
