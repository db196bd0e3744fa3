// Kernel calls on strided and read-only views: transposed, broadcast, reversed and sliced
// inputs and outputs give the interpreter's results, explainCall and profile say what is
// copied, and outputs that are read-only or overlap themselves are refused.
#include "tdsl/tdsl.h"

#include <gtest/gtest.h>

#include <functional>

namespace {

using namespace tdsl;

const char *kSource = R"(
kernel matmul(a: f32[M, K], b: f32[K, N]) -> c: f32[M, N] {
    c[i, j] = sum(a[i, k] * b[k, j] for k)
}
kernel softmax(x: f32[N, D]) -> y: f32[N, D] {
    m[i] = max(x[i, k] for k)
    e[i, j] = exp(x[i, j] - m[i])
    y[i, j] = e[i, j] / sum(e[i, k] for k)
}
kernel add(a: i32[N], b: i32[N]) -> y: i32[N] {
    y = a + b
}
)";

Module &module() {
  static Module m = [] {
    JitOptions options;
    options.threads = 2;
    return Jit(options).compile(kSource, "strided.tdsl");
  }();
  return m;
}

std::string errorOf(const std::function<void()> &f) {
  try {
    f();
  } catch (const RuntimeError &e) {
    return e.what();
  }
  return "";
}

void expectNear(const Tensor &actual, const Tensor &expected) {
  ASSERT_EQ(actual.shape(), expected.shape());
  for (int64_t i = 0; i < actual.numel(); ++i)
    ASSERT_NEAR(actual.at(i), expected.at(i), 1e-4 * (1 + std::abs(expected.at(i)))) << i;
}

TEST(StridedViews, TransposedInputsMatchTheInterpreter) {
  Kernel matmul = module().kernel("matmul");
  for (auto [m, k, n] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {3, 17, 5}, {33, 9, 40}}) {
    // a and b stored transposed (column-major), as NumPy's x.T gives them.
    Tensor aT = Tensor::randn({k, m}, DType::F32, 1), bT = Tensor::randn({n, k}, DType::F32, 2);
    Tensor a = Tensor::view(aT.data(), {m, k}, DType::F32, {1, m});
    Tensor b = Tensor::view(static_cast<const void *>(bT.data()), {k, n}, DType::F32, {1, k});
    Tensor expected = matmul.interpret({a.contiguous(), b.contiguous()})[0];
    expectNear(matmul({a, b})[0], expected);
    // Into a transposed output too.
    Tensor cT = Tensor::zeros({n, m}, DType::F32);
    Tensor c = Tensor::view(cT.data(), {m, n}, DType::F32, {1, m});
    matmul.run({a, b}, {c});
    expectNear(c, expected);
    expectNear(matmul.interpret({a, b})[0], expected); // The interpreter reads strides too.
  }
}

TEST(StridedViews, BroadcastReversedAndSlicedViews) {
  Kernel add = module().kernel("add");
  std::vector<int32_t> one = {7}, ramp = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  Tensor broadcast = Tensor::view(one.data(), {5}, DType::I32, {0});
  Tensor reversed = Tensor::view(ramp.data() + 9, {5}, DType::I32, {-2}); // 9, 7, 5, 3, 1
  std::vector<int32_t> out(10, -1);
  Tensor everyOther = Tensor::view(out.data(), {5}, DType::I32, {2});
  add.run({broadcast, reversed}, {everyOther});
  EXPECT_EQ(out, (std::vector<int32_t>{16, -1, 14, -1, 12, -1, 10, -1, 8, -1}));
  Tensor y = add({reversed, reversed})[0];
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(y.atInt(i), 2 * (9 - 2 * i));
}

TEST(StridedViews, SoftmaxOfAColumnSlice) {
  Kernel softmax = module().kernel("softmax");
  Tensor wide = Tensor::randn({6, 20}, DType::F32, 5);
  // Columns 3..14 of each row: contiguous rows, a row stride of 20.
  Tensor slice = Tensor::view(wide.data<float>() + 3, {6, 11}, DType::F32, {20, 1});
  EXPECT_FALSE(slice.isContiguous());
  expectNear(softmax({slice})[0], softmax.interpret({slice.contiguous()})[0]);
}

TEST(StridedViews, ExplainCallAndProfileSayWhatIsCopied) {
  Kernel softmax = module().kernel("softmax");
  Tensor x = Tensor::randn({4, 8}, DType::F32, 1);
  Tensor y = Tensor::zeros({4, 8}, DType::F32);
  EXPECT_EQ(softmax.explainCall({x}, {y}),
            "every tensor is contiguous: the compiled code reads and writes them in place\n");
  Tensor xT = Tensor::view(x.data(), {4, 8}, DType::F32, {1, 4});
  Tensor yT = Tensor::view(y.data(), {4, 8}, DType::F32, {1, 4});
  EXPECT_EQ(softmax.explainCall({xT}, {yT}),
            "input x: f32[4, 8] with strides [1, 4] is not contiguous: copied into a dense buffer "
            "before each call (128 bytes)\n"
            "output y: f32[4, 8] with strides [1, 4] is not contiguous: computed into a dense "
            "buffer and copied out after each call (128 bytes)\n");
  ProfileOptions options;
  options.runs = 2;
  options.roofline = false;
  Profile p = softmax.profile({xT}, options);
  ASSERT_EQ(p.layoutCopies.size(), 1u);
  EXPECT_NE(p.layoutCopies[0].find("input x"), std::string::npos);
  EXPECT_TRUE(softmax.profile({x}, options).layoutCopies.empty());
}

TEST(StridedViews, ReadOnlyInputsRunAndReadOnlyOutputsThrow) {
  Kernel add = module().kernel("add");
  const std::vector<int32_t> a = {1, 2, 3}, b = {10, 20, 30};
  Tensor ta = Tensor::view(a.data(), {3}, DType::I32), tb = Tensor::view(b.data(), {3}, DType::I32);
  EXPECT_EQ(add({ta, tb})[0].atInt(2), 33);
  std::string error = errorOf([&] { add.run({ta, tb}, {ta}); });
  EXPECT_NE(error.find("output y of kernel add is a read-only view"), std::string::npos) << error;
}

TEST(StridedViews, OutputsWhoseElementsCollideThrow) {
  Kernel add = module().kernel("add");
  Tensor a = Tensor::randn({4}, DType::I32, 1);
  int32_t slot = 0;
  std::string error = errorOf([&] {
    add.run({a, a}, {Tensor::view(&slot, {4}, DType::I32, {0})});
  });
  EXPECT_NE(error.find("put two elements at one address"), std::string::npos) << error;
  // A zero stride on a dim of extent 1 is fine.
  Tensor b = Tensor::randn({1}, DType::I32, 2);
  add.run({b, b}, {Tensor::view(&slot, {1}, DType::I32, {0})});
  EXPECT_EQ(slot, 2 * b.atInt(0));
}

TEST(StridedViews, AnInPlaceStridedOutputReadsItsInputFirst) {
  // y = a + b written over a reversed view of a itself.
  Kernel add = module().kernel("add");
  std::vector<int32_t> a = {1, 2, 3, 4};
  Tensor ta = Tensor::view(a.data(), {4}, DType::I32);
  Tensor reversed = Tensor::view(a.data() + 3, {4}, DType::I32, {-1});
  add.run({ta, ta}, {reversed});
  EXPECT_EQ(a, (std::vector<int32_t>{8, 6, 4, 2}));
}

} // namespace
