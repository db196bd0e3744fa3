// Gathers through the API: results on the CPU, and the run-time error (E093) of an index out of
// range, with its message, from compiled code and from the interpreter alike, on every call path.
#include "tdsl/tdsl.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace tdsl;

const char *kSource = R"(kernel embed(table: f32[V, D], ids: i32[T]) -> y: f32[T, D] {
    y[t, d] = table[ids[t], d]
}
kernel padded(table: f32[V, D], ids: i64[T]) -> y: f32[T, D] {
    y[t, d] = table[ids[t], d] ?? -1.0
}
kernel bag(table: f32[V, D], ids: i64[T]) -> y: f32[D] {
    y[d] = sum(table[ids[t], d] * 2.0 for t)
}
)";

Tensor ids32(const std::vector<int64_t> &values) {
  Tensor t = Tensor::zeros({static_cast<int64_t>(values.size())}, DType::I32);
  for (size_t i = 0; i < values.size(); ++i)
    t.setInt(static_cast<int64_t>(i), values[i]);
  return t;
}

Tensor ids64(const std::vector<int64_t> &values) {
  Tensor t = Tensor::zeros({static_cast<int64_t>(values.size())}, DType::I64);
  for (size_t i = 0; i < values.size(); ++i)
    t.setInt(static_cast<int64_t>(i), values[i]);
  return t;
}

/// The message of the RuntimeError that `call` throws, after checking its code is E093.
template <typename Call> std::string gatherError(Call call) {
  try {
    call();
  } catch (const RuntimeError &e) {
    EXPECT_EQ(e.code(), ErrorCode::IndexOutOfRange) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(Gathers, EmbeddingReadsTheRows) {
  Jit jit{JitOptions{.threads = 1}};
  Kernel embed = jit.compile(kSource, "gathers.tdsl").kernel("embed");
  Tensor table = Tensor::randn({5, 19}, DType::F32, 1);
  Tensor ids = ids32({4, 0, 0, 3, 1, 2, 4});
  Tensor y = embed({table, ids})[0];
  ASSERT_EQ(y.shape(), (std::vector<int64_t>{7, 19}));
  for (int64_t t = 0; t < 7; ++t)
    for (int64_t d = 0; d < 19; ++d)
      EXPECT_EQ(y.at(t * 19 + d), table.at(ids.atInt(t) * 19 + d)) << t << ", " << d;
}

TEST(Gathers, AnIndexOutOfRangeFailsTheCall) {
  Jit jit{JitOptions{.threads = 1}};
  Kernel embed = jit.compile(kSource, "gathers.tdsl").kernel("embed");
  Tensor table = Tensor::randn({4, 3}, DType::F32, 1);
  std::string message = gatherError([&] { embed({table, ids32({1, 9, 2})}); });
  // The kernel, the access as written, its line (and column), the index, the valid range.
  EXPECT_EQ(message, "kernel embed: table[ids[t], d] (gathers.tdsl:2:15) reads index 9 of dim 0 "
                     "of table, outside its range [0, 4); check the index data, or write "
                     "table[ids[t], d] ?? 0.0 to read a default where the index is out of range");
  // The same from the interpreter, and from a call into given outputs.
  EXPECT_EQ(gatherError([&] { embed.interpret({table, ids32({1, 9, 2})}); }), message);
  Tensor y = Tensor::zeros({3, 3}, DType::F32);
  EXPECT_EQ(gatherError([&] { embed.run({table, ids32({1, 9, 2})}, {y}); }), message);
  // An index is never wrapped.
  EXPECT_NE(gatherError([&] {
              embed({table, ids32({-1})});
            }).find("reads index -1 of dim 0"),
            std::string::npos);
  // No row: nothing is read, nothing fails.
  EXPECT_NO_THROW(embed({Tensor::zeros({0, 3}, DType::F32), ids32({})}));
}

TEST(Gathers, TheSmallestIndexOutOfRangeIsReportedWhateverTheThreads) {
  // Large enough for a parallel loop: the check is a deterministic reduction.
  const int64_t n = 1 << 16;
  std::vector<int64_t> values(n, 1);
  values[100] = 70;
  values[n - 3] = -4;
  values[n / 2] = 5000;
  for (int threads : {1, 2}) {
    Jit jit{JitOptions{.threads = threads}};
    Kernel bag = jit.compile(kSource, "gathers.tdsl").kernel("bag");
    std::string message = gatherError([&] {
      bag({Tensor::randn({64, 8}, DType::F32, 2), ids64(values)});
    });
    EXPECT_NE(message.find("table[ids[t], d] (gathers.tdsl:8:16) reads index -4 of dim 0 of "
                           "table, outside its range [0, 64)"),
              std::string::npos)
        << message;
  }
}

TEST(Gathers, ADefaultReplacesAnIndexOutOfRange) {
  Jit jit;
  Kernel padded = jit.compile(kSource, "gathers.tdsl").kernel("padded");
  Tensor table = Tensor::randn({3, 17}, DType::F32, 3);
  Tensor ids = ids64({-1, 2, 3, 0, 1000000000000});
  Tensor y = padded({table, ids})[0];
  for (int64_t t = 0; t < 5; ++t)
    for (int64_t d = 0; d < 17; ++d) {
      int64_t i = ids.atInt(t);
      double expected = i >= 0 && i < 3 ? table.at(i * 17 + d) : -1.0;
      EXPECT_EQ(y.at(t * 17 + d), expected) << t << ", " << d;
    }
}

TEST(Gathers, RandomInputsHoldValidIndices) {
  Jit jit;
  Kernel embed = jit.compile(kSource, "gathers.tdsl").kernel("embed");
  std::vector<Tensor> inputs = embed.randomInputs({{"V", 3}, {"D", 2}, {"T", 200}}, 7);
  bool seen[3] = {false, false, false};
  for (int64_t t = 0; t < 200; ++t) {
    int64_t i = inputs[1].atInt(t);
    ASSERT_TRUE(i >= 0 && i < 3) << i;
    seen[i] = true;
  }
  EXPECT_TRUE(seen[0] && seen[1] && seen[2]);
  EXPECT_NO_THROW(embed(inputs));
}

} // namespace
