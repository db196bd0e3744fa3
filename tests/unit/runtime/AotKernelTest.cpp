// Descriptions of ahead-of-time kernels (runtime/AotKernel.h): the text form read back, shape
// programs evaluated with tdsl's integer semantics and overflow checks, damaged text refused.
#include "runtime/AotKernel.h"

#include <gtest/gtest.h>

#include <limits>

namespace {

using namespace tdsl::runtime::aot;
using Op = Token::Op;

TEST(AotKernel, DescriptionReadsBack) {
  KernelDescription d;
  d.name = "pool";
  d.symbols = {"H", "W"};
  d.inputs.push_back({"x", "f32[H, W]", 4, {{{Op::Symbol, 0}}, {{Op::Symbol, 1}}}});
  d.outputs.push_back(
      {"y", "f32[H // 2]", 4, {{{Op::FloorDiv, 0}, {Op::Symbol, 0}, {Op::Const, 2}}}});
  d.extents.push_back({{Op::Mul, 0}, {Op::Symbol, 0}, {Op::Symbol, 1}});
  d.checks.push_back({{{Op::Symbol, 1}}, "kernel pool: x[i; j] reads {index} of [0, {size})"});
  std::optional<KernelDescription> back = KernelDescription::decode(d.encode());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->encode(), d.encode());
  EXPECT_EQ(back->checks[0].message, d.checks[0].message); // A ';' in a message is kept.
  const int64_t symbols[] = {7, 3};
  EXPECT_EQ(evaluate(back->outputs[0].dims[0], symbols), 3);
  EXPECT_EQ(evaluate(back->extents[0], symbols), 21);
}

TEST(AotKernel, ProgramsFollowTdslIntegerSemantics) {
  const int64_t symbols[] = {-7, 0, std::numeric_limits<int64_t>::max()};
  auto eval = [&](Op op, int64_t a, int64_t b) {
    return evaluate({{op, 0}, {Op::Symbol, a}, {Op::Symbol, b}}, symbols);
  };
  EXPECT_EQ(evaluate({{Op::FloorDiv, 0}, {Op::Symbol, 0}, {Op::Const, 2}}, symbols), -4);
  EXPECT_EQ(evaluate({{Op::Mod, 0}, {Op::Symbol, 0}, {Op::Const, 2}}, symbols), 1);
  EXPECT_EQ(eval(Op::FloorDiv, 0, 1), 0); // x // 0 == 0, as ir/IntArith.h.
  EXPECT_EQ(eval(Op::Mod, 0, 1), 0);
  EXPECT_EQ(eval(Op::Add, 2, 2), std::nullopt); // Overflows.
  EXPECT_EQ(eval(Op::Mul, 2, 0), std::nullopt);
  EXPECT_EQ(evaluate({{Op::Neg, 0}, {Op::Symbol, 2}}, symbols), -symbols[2]);
  EXPECT_EQ(eval(Op::Min, 0, 2), -7);
  EXPECT_EQ(eval(Op::Max, 0, 1), 0);
}

TEST(AotKernel, SelectAndComparisonsChooseLaunchGeometry) {
  const int64_t symbols[] = {1000, 5000};
  // select(s <= 1024, 32, 256), as the GPU schedules pick block sizes.
  auto blockSize = [&](int64_t symbol) {
    return evaluate({{Op::Select, 0},
                     {Op::Le, 0},
                     {Op::Symbol, symbol},
                     {Op::Const, 1024},
                     {Op::Const, 32},
                     {Op::Const, 256}},
                    symbols);
  };
  EXPECT_EQ(blockSize(0), 32);
  EXPECT_EQ(blockSize(1), 256);
  EXPECT_EQ(evaluate({{Op::And, 0},
                      {Op::Gt, 0},
                      {Op::Symbol, 1},
                      {Op::Symbol, 0},
                      {Op::Not, 0},
                      {Op::Eq, 0},
                      {Op::Symbol, 0},
                      {Op::Const, 7}},
                     symbols),
            1);
}

TEST(AotKernel, GpuDescriptionReadsBack) {
  GpuDescription d;
  LaunchDescription l;
  l.name = "f_k0";
  l.lets.push_back({{Op::Select, 0},
                    {Op::Lt, 0},
                    {Op::Symbol, 0},
                    {Op::Const, 9},
                    {Op::Const, 1},
                    {Op::Const, 2}});
  l.blocks = {{Op::Mul, 0}, {Op::Symbol, 1}, {Op::Symbol, 0}}; // s1 is the let.
  l.threads = {{Op::Const, 256}};
  l.sharedBytes = {{Op::Const, 0}};
  d.launches.push_back(l);
  // An alternative, launched where its condition holds.
  l.name = "f_k0_s4";
  l.condition = {{Op::Le, 0}, {Op::Symbol, 0}, {Op::Mul, 0}, {Op::Const, 4}, {Op::Symbol, 1}};
  d.launches.push_back(l);
  d.heap.push_back({0, {{Op::Mul, 0}, {Op::Const, 4}, {Op::Symbol, 1}}});
  std::optional<GpuDescription> back = GpuDescription::decode(d.encode(), 1);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->encode(), d.encode());
  ASSERT_EQ(back->launches.size(), 2u);
  EXPECT_TRUE(back->launches[0].condition.empty());
  EXPECT_EQ(back->launches[1].condition.size(), 5u);
  EXPECT_FALSE(GpuDescription::decode(d.encode(), 0));   // s0 is no symbol then.
  EXPECT_FALSE(GpuDescription::decode("blocks 1\n", 0)); // Before any launch.
  EXPECT_FALSE(GpuDescription::decode("launch f\nblocks 1\nthreads 1\n", 0)); // No shared.
  EXPECT_FALSE(GpuDescription::decode("launch f\nblocks 1\nthreads 1\nshared 0\nheap 1;4\n", 0));
}

TEST(AotKernel, DamagedTextIsRefused) {
  EXPECT_FALSE(KernelDescription::decode("kernel k\nsymbol N\ninput x;f32[N];4;s1\n")); // No s1.
  EXPECT_FALSE(KernelDescription::decode("kernel k\nsymbol N\ninput x;f32[N];4;+ s0\n"));
  EXPECT_FALSE(KernelDescription::decode("kernel k\nsymbol N\ninput x;f32[N];4;s0 s0\n"));
  EXPECT_FALSE(KernelDescription::decode("kernel k\nsymbol N\ninput x;f32[N];0;s0\n")); // 0 B.
  EXPECT_FALSE(KernelDescription::decode("kernel k\nsymbol N\ninput x;f32[N];s0\n"));   // No size.
  EXPECT_FALSE(KernelDescription::decode("kernel k\nunknown line\n"));
  EXPECT_FALSE(KernelDescription::decode("kernel k")); // No final newline.
  EXPECT_TRUE(KernelDescription::decode("kernel k\nsymbol N\ninput x;f32[N];4;s0\n"));
}

} // namespace
