// Tiled contractions computed per tile of their consumer (docs/performance.md, "Contractions"):
// a convolution read only by a 2 x 2 pooling, or by a stencil across its rows, is computed per
// block of the reader's rows into windows of the rows the block reads. The results match the
// interpreter on odd shapes and on every kind of tile remainder, do not depend on the thread
// count, and the intermediates held are one tile's window and packing buffers, not the whole
// convolution.
#include "api/Numerics.h"
#include "tdsl/tdsl.h"
#include "tests/unit/common/ApiTestSupport.h"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

namespace {

using namespace tdsl;
using namespace tdsl::testing_support;

const char *kProgram = R"(
kernel conv_relu_pool(x: f32[B, C, H, W], w: f32[O, C, 3, 3], bias: f32[O], pos: f32[P, Q])
        -> y: f32[B, O, P, Q] {
    a[n, o, h < H, q < W] = relu(sum(x[n, c, h + r - 1, q + s - 1] ?? 0.0 * w[o, c, r, s]
                                     for c, r, s) + bias[o])
    y[n, o, p, q] = max(a[n, o, 2 * p + r, 2 * q + s] ?? 0.0 for r < 2, s < 2) + pos[p, q]
}
kernel conv_blur(x: f32[B, C, H, W], w: f32[O, C, 3, 3]) -> y: f32[B, O, H, W] {
    a[n, o, h < H, q < W] = sum(x[n, c, h + r - 1, q + s - 1] ?? 0.0 * w[o, c, r, s] for c, r, s)
    y[n, o, h, q] = a[n, o, h - 1, q] ?? 0.0 + a[n, o, h, q] + a[n, o, h + 1, q] ?? 0.0
}
)";

Module compile(int threads) {
  return compileWithThreads(kProgram, "conv_pool_tiles.tdsl", threads);
}

// B, C, H, W, O. Heights of 1, 2, 17 and odd (the pooling's last row reads the border's default);
// C = 50 (K = 450: two k blocks, partial sums kept in the window); O = 1, 15, 30 (the 14- and
// 8-row kernels); narrow rows (O * W small) that give tiles of 64 pooled rows, so H = 300 is
// three tiles and a partial one, and the stencil's tiles recompute a row of their neighbours'.
const std::vector<std::array<int64_t, 5>> kShapes = {
    {1, 1, 1, 1, 1},   {2, 3, 2, 5, 15},   {1, 50, 17, 33, 30}, {3, 2, 9, 20, 7},
    {2, 3, 300, 7, 2}, {1, 4, 261, 40, 1}, {0, 2, 8, 8, 3},     {2, 3, 0, 8, 3}};

TEST(ConvPoolTiles, MatchTheInterpreterAndTheThreadCount) {
  Module one = compile(1), two = compile(2);
  for (const char *name : {"conv_relu_pool", "conv_blur"}) {
    Kernel serial = one.kernel(name), parallel = two.kernel(name);
    for (auto [b, c, h, w, o] : kShapes) {
      std::string at = std::string(name) + " B=" + std::to_string(b) + " C=" + std::to_string(c) +
                       " H=" + std::to_string(h) + " W=" + std::to_string(w) +
                       " O=" + std::to_string(o);
      std::vector<Tensor> in = serial.randomInputs({{"B", b},
                                                    {"C", c},
                                                    {"H", h},
                                                    {"W", w},
                                                    {"O", o},
                                                    {"P", (h + 1) / 2},
                                                    {"Q", (w + 1) / 2}},
                                                   uint64_t(b * 1000 + h * w + o));
      expectInterpreterAndThreadsAgree(serial, parallel, in, at);
    }
  }
}

TEST(ConvPoolTiles, TheIntermediatesAreOneTilesWindow) {
  ProfileOptions options;
  options.runs = 1;
  options.roofline = false;
  Module m = compile(1);
  Kernel pool = m.kernel("conv_relu_pool");
  // B = 4, C = 3, H = 512, W = 60, O = 2: tiles of 64 pooled rows (a window row is 480 bytes),
  // so the window holds 128 rows of the convolution, 61440 bytes, where the whole convolution
  // is 983040; beside it, A and B packed (K = 27: 1512 and 6912 bytes with AVX-512's 14 x 32
  // micro-kernel, less with AVX2's).
  std::vector<Tensor> in = pool.randomInputs(
      {{"B", 4}, {"C", 3}, {"H", 512}, {"W", 60}, {"O", 2}, {"P", 256}, {"Q", 30}}, 7);
  int64_t window = 2 * 128 * 60 * 4;
  int64_t held = pool.profile(in, options).intermediateBytes;
  EXPECT_GE(held, window);
  EXPECT_LE(held, window + 1512 + 6912);
}

} // namespace
