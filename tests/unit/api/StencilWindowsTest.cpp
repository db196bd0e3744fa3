// Windows of windows (docs/fusion.md, "Stencils across rows"): a chain of stencils computed per
// block of the last reader's rows, each level into a window with its own halo. Harris's gray
// value feeds the gradients' windows; a three-level chain nests once more. The results match
// the interpreter on odd shapes and block remainders, do not depend on the thread count, and
// the intermediates held are the windows, not whole tensors. Box reductions reduce by rows first
// into windows of their own.
#include "api/Numerics.h"
#include "tdsl/tdsl.h"
#include "tests/unit/common/ApiTestSupport.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace tdsl;
using namespace tdsl::testing_support;

const char *kProgram = R"(
kernel harris(x: f32[3, H, W]) -> y: f32[H - 4, W - 4] {
    g[i, j] = 0.299 * x[0, i, j] + 0.587 * x[1, i, j] + 0.114 * x[2, i, j]
    ix[i < H - 2, j < W - 2] = ((g[i, j + 2] - g[i, j]) + 2.0 * (g[i + 1, j + 2] - g[i + 1, j])
                                + (g[i + 2, j + 2] - g[i + 2, j]))
    iy[i < H - 2, j < W - 2] = ((g[i + 2, j] - g[i, j]) + 2.0 * (g[i + 2, j + 1] - g[i, j + 1])
                                + (g[i + 2, j + 2] - g[i, j + 2]))
    sxx[i < H - 4, j < W - 4] = sum(ix[i + r, j + s] * ix[i + r, j + s] for r < 3, s < 3)
    syy[i < H - 4, j < W - 4] = sum(iy[i + r, j + s] * iy[i + r, j + s] for r < 3, s < 3)
    sxy[i < H - 4, j < W - 4] = sum(ix[i + r, j + s] * iy[i + r, j + s] for r < 3, s < 3)
    y[i, j] = (sxx[i, j] * syy[i, j] - sxy[i, j] * sxy[i, j]
               - 0.04 * (sxx[i, j] + syy[i, j]) * (sxx[i, j] + syy[i, j]))
}
kernel chain(x: f32[H, W]) -> y: f32[H - 4, W] {
    a[i, j] = (x[i, j] * 0.5 + 0.25) * x[i, j] - 1.0
    b[i < H - 2, j] = (exp(a[i, j] - a[i + 2, j]) + a[i + 1, j] * a[i, j - 1] ?? 1.0
                       + a[i + 1, j + 1] ?? 0.0 - a[i + 2, j - 1] ?? 0.5 + a[i, j + 1] ?? 2.0)
    c[i < H - 2, j] = tanh(b[i - 1, j] ?? 0.0 + b[i, j] + b[i + 1, j] ?? 0.0)
    y[i, j] = c[i, j] * 0.25 + c[i + 1, j] + c[i + 2, j] * 0.25
}
)";

Module compileWithThreads(int threads) {
  return testing_support::compileWithThreads(kProgram, "stencil_windows.tdsl", threads);
}

// Heights and widths of 5, 6, 17 and 100, and heights that leave a partial last block of 64
// rows (and of the blocks the cache allows at a width of 3000).
const std::vector<std::pair<int64_t, int64_t>> kShapes = {
    {5, 5}, {6, 17}, {17, 6}, {100, 100}, {5, 100}, {100, 5}, {131, 37}, {197, 3000}};

TEST(StencilWindows, WindowsOfWindowsMatchTheInterpreterAndTheThreadCount) {
  Module one = compileWithThreads(1), two = compileWithThreads(2);
  for (const char *name : {"harris", "chain"}) {
    Kernel serial = one.kernel(name), parallel = two.kernel(name);
    for (auto [h, w] : kShapes) {
      std::string at = std::string(name) + " " + std::to_string(h) + "x" + std::to_string(w);
      std::vector<Tensor> in = serial.randomInputs({{"H", h}, {"W", w}}, uint64_t(h * w));
      expectInterpreterAndThreadsAgree(serial, parallel, in, at);
    }
  }
}

// Box reductions that reduce by rows first (docs/fusion.md, "Box reductions by rows"): a "same"
// box with zero padding, a max whose rows' axis comes second, a sum over channels and a box
// (the channel before the row), an integer box (exact either way), and a weighted box that
// stays a reduction, for comparison.
const char *kBoxes = R"(
kernel box_same(x: f32[H, W]) -> y: f32[H, W] {
    y[i, j] = sum(x[i + r - 1, j + s - 1] ?? 0.0 for r < 3, s < 3) / 9.0
}
kernel dilate(x: f32[H, W]) -> y: f32[H - 4, W - 2] {
    y[i, j] = max(x[i + r, j + s] for s < 3, r < 5)
}
kernel channels(x: f32[3, H, W]) -> y: f32[H - 2, W - 1] {
    y[i, j] = sum(x[c, i + r, j + s] * x[c, i + r, j + s] for c < 3, r < 3, s < 2)
}
kernel integers(x: i32[H, W]) -> y: i32[H - 3, W - 2] {
    y[i, j] = sum(x[i + r, j + s] for r < 4, s < 3)
}
kernel weighted(x: f32[H, W], w: f32[3, 3]) -> y: f32[H - 2, W - 2] {
    y[i, j] = sum(x[i + r, j + s] * w[r, s] for r < 3, s < 3)
}
)";

TEST(StencilWindows, BoxReductionsByRowsMatchTheInterpreterAndTheThreadCount) {
  Module one = testing_support::compileWithThreads(kBoxes, "boxes.tdsl", 1);
  Module two = testing_support::compileWithThreads(kBoxes, "boxes.tdsl", 2);
  // Heights of 4 (an empty dilation), 5, 17 and 197 (several blocks of rows and a partial
  // last one), widths of 3 to 3000.
  const std::vector<std::pair<int64_t, int64_t>> shapes = {
      {4, 3}, {5, 5}, {6, 17}, {17, 6}, {100, 100}, {197, 37}, {131, 3000}};
  for (const char *name : {"box_same", "dilate", "channels", "integers", "weighted"}) {
    Kernel serial = one.kernel(name), parallel = two.kernel(name);
    for (auto [h, w] : shapes) {
      std::string at = std::string(name) + " " + std::to_string(h) + "x" + std::to_string(w);
      std::vector<Tensor> in = serial.randomInputs({{"H", h}, {"W", w}}, uint64_t(h + w));
      expectInterpreterAndThreadsAgree(serial, parallel, in, at);
    }
  }
}

TEST(StencilWindows, TheIntermediatesAreTheWindowsOfOneBlock) {
  ProfileOptions options;
  options.runs = 1;
  options.roofline = false;
  Module m = compileWithThreads(1);
  // 1000 x 100, blocks of 64 rows; each window is a ring of the rows still read. The box sums
  // reduce by rows first: their three row sums hold the 3 rows a box reads; g the 5 the
  // gradients read for those; ix and iy, which the row sums read at their own rows, a row each
  // (their group's heap slices), twice: the blocks' prologue and their rows each have theirs,
  // allocated once around the blocks (passes/HoistAllocations.h).
  Kernel harris = m.kernel("harris");
  int64_t windows = 3 * 3 * 96 * 4 + 5 * 100 * 4 + 2 * 2 * 98 * 4;
  EXPECT_EQ(
      harris.profile(harris.randomInputs({{"H", 1000}, {"W", 100}}, 1), options).intermediateBytes,
      windows);
  // Three levels: c's ring of 3 rows, b's of 3 + 2, a's of 5 + 2.
  Kernel chain = m.kernel("chain");
  EXPECT_EQ(
      chain.profile(chain.randomInputs({{"H", 1000}, {"W", 100}}, 1), options).intermediateBytes,
      (3 + 5 + 7) * 100 * 4);
}

} // namespace
