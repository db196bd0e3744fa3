// The GPU schedules (passes/GpuSchedule.h): which kernels the CUDA C shows for each kind of nest
// (checked everywhere, PTX where NVRTC loads), and on a GPU, results against the interpreter at
// odd sizes: row lengths 1, 31, 33, 1000 and 4097 (warp and block per row), element counts not
// divisible by 4 (the vector path's scalar tail), full reductions over sizes around the stage
// boundaries; every result bit-identical over two runs.
#include "api/Numerics.h"
#include "codegen/cuda/CudaBackend.h"
#include "runtime/Cuda.h"
#include "tdsl/tdsl.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <tuple>

namespace {

using namespace tdsl;

const char *kSource = R"(
kernel gelu(x: f32[N]) -> y: f32[N] {
    y = 0.5 * x * (1 + tanh(0.7978845608 * (x + 0.044715 * x * x * x)))
}
kernel addi(a: i32[R, C], b: i32[R, C]) -> y: i32[R, C] {
    y = a * b + a
}
kernel bias(x: f32[R, C], b: f32[C]) -> y: f32[R, C] {
    y[i, j] = relu(x[i, j] + b[j])
}
kernel half(x: f16[N]) -> y: f16[N] {
    y = x * 2
}
kernel rowsum(x: f32[R, C]) -> s: f32[R] {
    s[i] = sum(x[i, j] for j)
}
kernel rowstats(x: f32[R, C], n: i32[R, C]) -> (mx: f32[R], mn: i32[R], pr: f32[R], any: bool[R]) {
    mx[i] = max(x[i, j] for j)
    mn[i] = min(n[i, j] for j)
    pr[i] = prod(1 + 0.001 * x[i, j] for j)
    any[i] = max(x[i, j] > 2.5 for j)
}
kernel softmax(x: f32[R, C]) -> y: f32[R, C] {
    e[i, j] = exp(x[i, j] - max(x[i, k] for k))
    y[i, j] = e[i, j] / sum(e[i, k] for k)
}
kernel layernorm(x: f32[R, C]) -> y: f32[R, C] {
    mu[i] = mean(x[i, j] for j)
    var[i] = mean((x[i, j] - mu[i]) * (x[i, j] - mu[i]) for j)
    y[i, j] = (x[i, j] - mu[i]) * rsqrt(var[i] + 1e-5)
}
kernel mm(a: f32[M, K], b: f32[K, N], bias: f32[N]) -> c: f32[M, N] {
    c[i, j] = relu(sum(a[i, k] * b[k, j] for k) + bias[j])
}
kernel mmt(a: bf16[M, K], b: bf16[N, K]) -> c: f32[M, N] {
    c[i, j] = sum(f32(a[i, k]) * f32(b[j, k]) for k)
}
kernel total(x: f32[N]) -> t: f32 {
    t = sum(x[i] for i)
}
kernel totals(x: f32[R, C], n: i32[R, C]) -> (m: f32, s: i32, avg: f32) {
    m = max(x[i, j] for i, j)
    s = sum(n[i, j] for i, j)
    avg = mean(x[i, j] for i, j)
}
)";

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

Module module() { return Jit(Target::cuda()).compile(kSource); }

TEST(GpuSchedule, ElementwiseUses16ByteVectors) {
  Module m = module();
  for (const char *name : {"gelu", "addi", "bias"}) {
    std::string cuda = m.kernel(name).dump(Stage::Cuda);
    EXPECT_TRUE(contains(cuda, std::string("// ") + name + "_k0 (vector)")) << cuda;
    EXPECT_TRUE(contains(cuda, "tdsl_aligned")) << cuda;
  }
  EXPECT_TRUE(contains(m.kernel("gelu").dump(Stage::Cuda), "((const float4 *)x)[v]"));
  EXPECT_TRUE(contains(m.kernel("addi").dump(Stage::Cuda), "((int4 *)y)[v] = y_out_v;"));
  // The bias is read at another position: a scalar load per point, not a vector.
  std::string bias = m.kernel("bias").dump(Stage::Cuda);
  EXPECT_TRUE(contains(bias, "((const float4 *)x)[v]")) << bias;
  EXPECT_FALSE(contains(bias, "((const float4 *)b)")) << bias;
  // 2-byte storage stays on the generic mapping.
  EXPECT_TRUE(contains(m.kernel("half").dump(Stage::Cuda), "// half_k0 (generic)"));
  if (!codegen::nvrtcStatus().available)
    GTEST_SKIP() << "NVRTC not available: " << codegen::nvrtcStatus().reason;
  std::string ptx = m.kernel("gelu").dump(Stage::Ptx);
  EXPECT_TRUE(contains(ptx, ".v4.f32")) << ptx;
}

TEST(GpuSchedule, RowReductionsAreAWarpOrABlockPerRow) {
  Module m = module();
  std::string cuda = m.kernel("rowsum").dump(Stage::Cuda);
  EXPECT_TRUE(contains(cuda, "// rowsum_k0 (rows)")) << cuda;
  EXPECT_TRUE(contains(cuda, "const int tdsl_L = C <= 1024 ? 32 : (int)blockDim.x;")) << cuda;
  EXPECT_TRUE(contains(cuda, "tdsl_shfl_xor(s_acc[0LL], tdsl_o)")) << cuda;
  EXPECT_FALSE(contains(cuda, "rowsum_k1")) << cuda;
  // Softmax and layernorm: the whole group in one kernel, members separated by barriers.
  for (const char *name : {"softmax", "layernorm"}) {
    std::string text = m.kernel(name).dump(Stage::Cuda);
    EXPECT_TRUE(contains(text, std::string("// ") + name + "_k0 (rows)")) << text;
    EXPECT_FALSE(contains(text, std::string(name) + "_k1")) << text;
    EXPECT_TRUE(contains(text, "if (tdsl_L > 32) __syncthreads(); else __syncwarp();")) << text;
  }
  // The row is read from global memory once: softmax keeps its intermediate row and a copy of
  // the input row in shared memory when they fit (else the slices point into global memory).
  std::string softmax = m.kernel("softmax").dump(Stage::Cuda);
  EXPECT_TRUE(contains(softmax, "float *e_row = tdsl_smem_ok ? (float *)(tdsl_slice + 0LL)"))
      << softmax;
  EXPECT_TRUE(contains(softmax, "x_row[tdsl_q] = x[i * C + tdsl_q];")) << softmax;
  // The row's maximum stays in a register of every thread of the row.
  EXPECT_TRUE(contains(softmax, "e_row[j] = expf(x_row[j] - e_max0_r[0LL]);")) << softmax;
  // Intermediates are not __restrict__ (written and read by one kernel).
  EXPECT_TRUE(contains(softmax, "float *e_max0, float *e, float *y_sum0")) << softmax;
  // Several reductions of several types over the same rows: one kernel.
  std::string stats = m.kernel("rowstats").dump(Stage::Cuda);
  EXPECT_TRUE(contains(stats, "// rowstats_k0 (rows)")) << stats;
  EXPECT_FALSE(contains(stats, "rowstats_k1")) << stats;
  if (!codegen::nvrtcStatus().available)
    GTEST_SKIP() << "NVRTC not available: " << codegen::nvrtcStatus().reason;
  for (const char *name : {"softmax", "rowstats"}) {
    std::string ptx = m.kernel(name).dump(Stage::Ptx);
    EXPECT_TRUE(contains(ptx, "shfl.sync.bfly")) << ptx;
  }
}

TEST(GpuSchedule, FullReductionsRunInTwoStages) {
  Module m = module();
  std::string cuda = m.kernel("total").dump(Stage::Cuda);
  EXPECT_TRUE(contains(cuda, "// total_k0 (reduce-partials)")) << cuda;
  EXPECT_TRUE(contains(cuda, "// total_k1 (reduce-final): 1 blocks")) << cuda;
  EXPECT_TRUE(contains(cuda, "t_acc_partials[blockIdx.x] = t_acc[0LL];")) << cuda;
  EXPECT_FALSE(contains(cuda, "atomic")) << cuda;
  std::string three = m.kernel("totals").dump(Stage::Cuda);
  EXPECT_TRUE(contains(three, "// totals_k5 (reduce-final)")) << three;
}

TEST(GpuSchedule, ContractionsUseSharedMemoryTiles) {
  Module m = module();
  for (const char *name : {"mm", "mmt"}) {
    std::string cuda = m.kernel(name).dump(Stage::Cuda);
    EXPECT_TRUE(contains(cuda, std::string("// ") + name + "_k0 (contraction)")) << cuda;
    EXPECT_TRUE(contains(cuda, "__shared__ __align__(16) float tdsl_As[2][8][132];")) << cuda;
  }
  if (!codegen::nvrtcStatus().available)
    GTEST_SKIP() << "NVRTC not available: " << codegen::nvrtcStatus().reason;
  std::string ptx = m.kernel("mm").dump(Stage::Ptx);
  EXPECT_TRUE(contains(ptx, "ld.shared.v4.f32")) << ptx;
}

bool haveGpu() { return runtime::cuda::status().available; }

/// Runs `name` on the GPU twice and on the interpreter: equal within tolerance, and the two GPU
/// runs bit-identical.
void expectMatches(const Kernel &k, const std::vector<Tensor> &inputs, const std::string &what) {
  std::vector<Tensor> got = k(inputs), again = k(inputs), want = k.interpret(inputs);
  ASSERT_EQ(got.size(), want.size());
  for (size_t o = 0; o < got.size(); ++o) {
    EXPECT_TRUE(withinTolerance(got[o], want[o]))
        << what << " output " << o << ": "
        << describe(runtime::compare(got[o], want[o]), got[o].shape());
    EXPECT_EQ(std::memcmp(got[o].data(), again[o].data(), got[o].nbytes()), 0)
        << what << " output " << o << " differs between two runs";
  }
}

TEST(GpuSchedule, OddSizesMatchTheInterpreter) {
  if (!haveGpu())
    GTEST_SKIP() << "no GPU launches: " << runtime::cuda::status().reason;
  Module m = module();
  uint64_t seed = 1;
  for (int64_t n : {1, 2, 3, 4, 5, 31, 33, 1000, 1001, 4097, 100003}) {
    std::string at = " N=" + std::to_string(n);
    expectMatches(m.kernel("gelu"), {Tensor::randn({n}, DType::F32, seed++)}, "gelu" + at);
    expectMatches(m.kernel("half"), m.kernel("half").randomInputs({{"N", n}}, seed++), "half" + at);
    expectMatches(m.kernel("total"), {Tensor::randn({n}, DType::F32, seed++)}, "total" + at);
  }
  for (auto [mm, kk, nn] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1},
                            {33, 70, 45},
                            {129, 9, 257},
                            {200, 300, 130}}) {
    std::map<std::string, int64_t> shape = {{"M", mm}, {"K", kk}, {"N", nn}};
    std::string at = " " + std::to_string(mm) + "x" + std::to_string(kk) + "x" + std::to_string(nn);
    for (const char *name : {"mm", "mmt"}) {
      Kernel k = m.kernel(name);
      expectMatches(k, k.randomInputs(shape, seed++), name + at);
    }
  }
  for (int64_t rows : {1, 3, 37}) {
    for (int64_t cols : {1, 31, 33, 1000, 4097}) {
      std::string at = " " + std::to_string(rows) + "x" + std::to_string(cols);
      std::map<std::string, int64_t> shape = {{"R", rows}, {"C", cols}};
      for (const char *name :
           {"addi", "bias", "rowsum", "rowstats", "softmax", "layernorm", "totals"}) {
        Kernel k = m.kernel(name);
        expectMatches(k, k.randomInputs(shape, seed++), name + at);
      }
    }
  }
}

TEST(GpuSchedule, LongRowsAndManyRows) {
  if (!haveGpu())
    GTEST_SKIP() << "no GPU launches: " << runtime::cuda::status().reason;
  Module m = module();
  // More rows than one grid of blocks covers at once (grid-stride over rows), long rows.
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{20000, 7}, {9000, 40}, {2, 30000}}) {
    std::map<std::string, int64_t> shape = {{"R", rows}, {"C", cols}};
    for (const char *name : {"softmax", "rowsum"}) {
      Kernel k = m.kernel(name);
      expectMatches(k, k.randomInputs(shape, 99),
                    std::string(name) + " " + std::to_string(rows) + "x" + std::to_string(cols));
    }
  }
}

} // namespace
