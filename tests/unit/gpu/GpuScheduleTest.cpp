// The GPU schedules (passes/GpuSchedule.h): which kernels the CUDA C shows for each kind of nest
// (checked everywhere, PTX where NVRTC loads), and on a GPU, results against the interpreter at
// odd sizes: row lengths 1, 31, 33, 1000 and 4097 (warp and block per row) and around every
// bound of the register bands, element counts not divisible by 4 (the vector path's scalar tail),
// full reductions over sizes around the stage boundaries; every result bit-identical over two runs.
#include "passes/GpuSchedule.h"
#include "api/Numerics.h"
#include "codegen/cuda/CudaBackend.h"
#include "codegen/cuda/CudaEmulator.h"
#include "frontend/Frontend.h"
#include "ir/GpuFunc.h"
#include "ir/IRPrinter.h"
#include "ir/Verifier.h"
#include "passes/Pipeline.h"
#include "runtime/Convert.h"
#include "runtime/Cuda.h"
#include "tdsl/tdsl.h"
#include "tests/unit/gpu/GpuTestSupport.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <tuple>
#include <vector>

namespace {

using namespace tdsl;
using namespace tdsl::testing_support;

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
kernel wsum(x: f32[R, C], w: f32[C]) -> s: f32[R] {
    t[i, j] = x[i, j] * w[j]
    s[i] = sum(t[i, j] for j)
}
kernel rmsnorm(x: f32[R, C], w: f32[C]) -> y: f32[R, C] {
    r[i] = rsqrt(mean(x[i, j] * x[i, j] for j) + 1e-6)
    y[i, j] = x[i, j] * r[i] * w[j]
}
kernel logsumexp(x: f32[R, C]) -> y: f32[R] {
    y[i] = log(sum(exp(x[i, j] - max(x[i, k] for k)) for j)) + max(x[i, k] for k)
}
kernel mm(a: f32[M, K], b: f32[K, N], bias: f32[N]) -> c: f32[M, N] {
    c[i, j] = relu(sum(a[i, k] * b[k, j] for k) + bias[j])
}
kernel mmgelu(a: f32[M, K], b: f32[K, N], bias: f32[N]) -> y: f32[M, N] {
    h[i, j] = sum(a[i, k] * b[k, j] for k) + bias[j]
    y[i, j] = 0.5 * h[i, j] * (1 + tanh(0.7978845608 * (h[i, j] + 0.044715 * h[i, j] * h[i, j] * h[i, j])))
}
kernel mmkept(a: f32[M, K], b: f32[K, N]) -> (h: f32[M, N], y: f32[M, N]) {
    h[i, j] = sum(a[i, k] * b[k, j] for k)
    y[i, j] = h[i, j] * 2
}
kernel mmswap(a: f32[N, K], b: f32[K, N]) -> y: f32[N, N] {
    h[i, j] = sum(a[i, k] * b[k, j] for k)
    y[i, j] = h[i, j] - h[j, i]
}
kernel mmt(a: bf16[M, K], b: bf16[N, K]) -> c: f32[M, N] {
    c[i, j] = sum(f32(a[i, k]) * f32(b[j, k]) for k)
}
kernel mmh(a: f16[M, K], b: f16[K, N], bias: f32[N]) -> c: f32[M, N] {
    c[i, j] = relu(sum(f32(a[i, k]) * f32(b[k, j]) for k) + bias[j])
}
kernel mmb(a: bf16[M, K], b: bf16[K, N]) -> c: f32[M, N] {
    c[i, j] = sum(f32(a[i, k]) * f32(b[k, j]) for k)
}
kernel mmta(a: bf16[K, M], b: bf16[K, N]) -> c: f32[M, N] {
    c[i, j] = sum(f32(a[k, i]) * f32(b[k, j]) for k)
}
kernel bmm(a: f32[B, M, K], b: f32[B, K, N]) -> c: f32[B, M, N] {
    c[z, i, j] = sum(a[z, i, k] * b[z, k, j] for k)
}
kernel bmmb(a: bf16[B, M, K], b: bf16[B, K, N]) -> c: f32[B, M, N] {
    c[z, i, j] = sum(f32(a[z, i, k]) * f32(b[z, k, j]) for k)
}
kernel bmmw(x: bf16[B, M, K], w: bf16[N, K]) -> c: f32[B, M, N] {
    c[z, i, j] = sum(f32(x[z, i, k]) * f32(w[j, k]) for k)
}
kernel total(x: f32[N]) -> t: f32 {
    t = sum(x[i] for i)
}
kernel colsum(x: f32[R, C]) -> s: f32[C] {
    s[j] = sum(x[i, j] for i)
}
kernel atx(a: f32[R, C], x: f32[R]) -> y: f32[C] {
    y[j] = relu(sum(a[i, j] * x[i] for i))
}
kernel colstats(x: f32[R, C], n: i32[R, C]) -> (mx: f32[C], mn: i32[C], avg: f32[C]) {
    mx[j] = max(x[i, j] for i)
    mn[j] = min(n[i, j] for i)
    avg[j] = mean(x[i, j] for i)
}
kernel transpose(x: f32[R, C]) -> y: f32[C, R] {
    y[j, i] = x[i, j]
}
kernel nhwc(x: f16[B, C, H, W]) -> y: f16[B, H, W, C] {
    y[b, h, w, c] = x[b, c, h, w]
}
kernel symm(x: f32[R, R], s: f32[R]) -> y: f32[R, R] {
    y[i, j] = x[i, j] * s[j] + x[j, i]
}
kernel attn(q: bf16[B, T, E], k: bf16[B, T, E], v: bf16[B, T, E]) -> o: f32[B, T, E] {
    s[b, t, u] = sum(f32(q[b, t, e]) * f32(k[b, u, e]) for e) * rsqrt(f32(E))
    p[b, t, u] = exp(s[b, t, u] - max(s[b, t, w] for w))
    o[b, t, e] = sum(p[b, t, u] * f32(v[b, u, e]) for u) / sum(p[b, t, u] for u)
}
kernel attnmasked(q: bf16[B, T, E], k: bf16[B, T, E], v: bf16[B, T, E]) -> o: f32[B, T, E] {
    s[b, t, u] = where(u <= t, sum(f32(q[b, t, e]) * f32(k[b, u, e]) for e) * rsqrt(f32(E)), -inf)
    p[b, t, u] = exp(s[b, t, u] - max(s[b, t, w] for w))
    o[b, t, e] = sum(p[b, t, u] * f32(v[b, u, e]) for u) / sum(p[b, t, u] for u)
}
kernel attnh(q: f16[T, E], k: f16[T, E], v: f16[T, E]) -> o: f32[T, E] {
    s[t, u] = sum(f32(q[t, e]) * f32(k[u, e]) for e)
    m[t] = max(s[t, u] for u <= t)
    p[t, u < T] = where(u <= t, exp(s[t, u] - m[t]), 0.0)
    o[t, e] = sum(p[t, u] * f32(v[u, e]) for u <= t) / sum(p[t, u] for u <= t)
}
kernel attncrossb(q: bf16[S, D], k: bf16[T, D], v: bf16[T, E]) -> o: f32[S, E] {
    s[i, j] = sum(f32(q[i, d]) * f32(k[j, d]) for d)
    p[i, j] = exp(s[i, j] - max(s[i, w] for w))
    o[i, e] = sum(p[i, j] * f32(v[j, e]) for j) / sum(p[i, j] for j) + 1
}
kernel attnwide(q: bf16[T, E], k: bf16[T, E], v: bf16[T, E]) -> o: f32[T, E] {
    s[t, u] = sum(f32(q[t, e]) * f32(k[u, e]) for e)
    p[t, u] = exp(s[t, u] - max(s[t, w] for w))
    o[t, e] = sum(p[t, u] * f32(v[u, e]) for u <= t) / sum(p[t, u] for u <= t)
}
kernel attnmixed(q: bf16[T, E], k: bf16[T, E], v: f32[T, E]) -> o: f32[T, E] {
    s[t, u] = sum(f32(q[t, e]) * f32(k[u, e]) for e)
    p[t, u] = exp(s[t, u] - max(s[t, w] for w))
    o[t, e] = sum(p[t, u] * v[u, e] for u) / sum(p[t, u] for u)
}
kernel attncausal(q: f32[T, E], k: f32[T, E], v: f32[T, E]) -> o: f32[T, E] {
    s[t, u] = sum(q[t, e] * k[u, e] for e) * rsqrt(f32(E))
    m[t] = max(s[t, u] for u <= t)
    p[t, u < T] = where(u <= t, exp(s[t, u] - m[t]), 0.0)
    o[t, e] = sum(p[t, u] * v[u, e] for u <= t) / sum(p[t, u] for u <= t)
}
kernel attnanti(q: f32[T, E], k: f32[T, E], v: f32[T, E]) -> o: f32[T, E] {
    s[t, u] = where(u >= t, sum(q[t, e] * k[u, e] for e), -inf)
    p[t, u] = exp(s[t, u] - max(s[t, w] for w))
    o[t, e] = sum(p[t, u] * v[u, e] for u) / sum(p[t, u] for u)
}
kernel attncross(q: f32[S, D], k: f32[T, D], v: f32[T, E]) -> o: f32[S, E] {
    s[i, j] = sum(q[i, d] * k[j, d] for d)
    p[i, j] = exp(s[i, j] - max(s[i, w] for w))
    o[i, e] = sum(p[i, j] * v[j, e] for j) / sum(p[i, j] for j) + 1
}
kernel attnkept(q: f32[T, E], k: f32[T, E], v: f32[T, E]) -> (p: f32[T, T], o: f32[T, E]) {
    s[t, u] = sum(q[t, e] * k[u, e] for e)
    p[t, u] = exp(s[t, u] - max(s[t, w] for w))
    o[t, e] = sum(p[t, u] * v[u, e] for u) / sum(p[t, u] for u)
}
kernel notexp(q: f32[T, E], k: f32[T, E], v: f32[T, E]) -> o: f32[T, E] {
    s[t, u] = sum(q[t, e] * k[u, e] for e)
    p[t, u] = exp(s[t, u] - 2 * max(s[t, w] for w))
    o[t, e] = sum(p[t, u] * v[u, e] for u) / sum(p[t, u] for u)
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
    EXPECT_TRUE(contains(cuda, "((unsigned long long)y & 15ull) == 0")) << cuda;
  }
  EXPECT_TRUE(contains(m.kernel("gelu").dump(Stage::Cuda),
                       "const float4 tdsl_v = *(const float4 *)(x + v * 4LL);"));
  EXPECT_TRUE(contains(m.kernel("addi").dump(Stage::Cuda), "*(int4 *)(y + v * 4LL) = tdsl_v;"));
  // The bias is read at another position: a scalar load per point, not a vector.
  std::string bias = m.kernel("bias").dump(Stage::Cuda);
  EXPECT_TRUE(contains(bias, "*(const float4 *)(x + v * 4LL)")) << bias;
  EXPECT_FALSE(contains(bias, "*(const float4 *)(b")) << bias;
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
  EXPECT_TRUE(contains(cuda, "const long long row_threads = C <= 1024LL ? 32LL : 256LL;")) << cuda;
  // Every lane runs each shuffle: it is a value of its own, never inside `a || shuffle(a)`.
  EXPECT_TRUE(contains(cuda, "const float other = tdsl_shfl_xor(s_acc[0LL], 16);\n"
                             "        s_acc[0LL] = s_acc[0LL] + other;"))
      << cuda;
  // The warps of a long row combine through shared memory.
  EXPECT_TRUE(contains(cuda, "if (row_threads > 32LL) {\n          __syncthreads();")) << cuda;
  EXPECT_FALSE(contains(cuda, "rowsum_k1")) << cuda;
  // A producer the CPU inlines into its reader is no kernel of its own on the GPU either.
  std::string wsum = m.kernel("wsum").dump(Stage::Cuda);
  EXPECT_TRUE(contains(wsum, "1 __global__ function(s)")) << wsum;
  EXPECT_TRUE(contains(wsum, "// wsum_k0 (rows)")) << wsum;
  // A value per row after a reduction (a named r[i]) joins the group: one launch, as inlined;
  // what becomes registers is no longer a device allocation.
  std::string rms = m.kernel("rmsnorm").dump(Stage::Cuda);
  EXPECT_TRUE(contains(rms, "// rmsnorm_k0 (rows)")) << rms;
  EXPECT_FALSE(contains(rms, "rmsnorm_k1")) << rms;
  EXPECT_TRUE(contains(rms, "float r_r[1];")) << rms;
  EXPECT_FALSE(contains(rms, "float *r,")) << rms;
  // Softmax and layernorm: the whole group in one kernel, members separated by barriers.
  for (const char *name : {"softmax", "layernorm"}) {
    std::string text = m.kernel(name).dump(Stage::Cuda);
    EXPECT_TRUE(contains(text, std::string("// ") + name + "_k0 (rows)")) << text;
    EXPECT_FALSE(contains(text, std::string(name) + "_k1")) << text;
    EXPECT_TRUE(contains(text, "__syncthreads();\n        } else {\n          __syncwarp();"))
        << text;
  }
  // Past the register bands (32 * 1024 points), softmax's rows take more than the shared memory
  // has room for: its intermediate row in global memory, the row's maximum in a register of
  // every thread of the row.
  std::string softmax = m.kernel("softmax").dump(Stage::Cuda);
  EXPECT_FALSE(contains(softmax, "copies_fit")) << softmax;
  EXPECT_TRUE(contains(softmax, "e[i * C + j] = expf(x[i * C + j] - e_max0_r[0LL]);")) << softmax;
  // With 16-bit rows, those of 32769 points fit: layernorm copies its input row to shared
  // memory (read from global memory once), softmax keeps its intermediate row there.
  Module half = Jit(Target::cuda()).compile(R"(
kernel softmax(x: f16[R, C]) -> y: f32[R, C] {
    e[i, j] = f16(exp(f32(x[i, j]) - max(f32(x[i, k]) for k)))
    y[i, j] = f32(e[i, j]) / sum(f32(e[i, k]) for k)
}
kernel layernorm(x: bf16[R, C]) -> y: f32[R, C] {
    mu[i] = mean(f32(x[i, j]) for j)
    var[i] = mean((f32(x[i, j]) - mu[i]) * (f32(x[i, j]) - mu[i]) for j)
    y[i, j] = (f32(x[i, j]) - mu[i]) * rsqrt(var[i] + 1e-5)
}
)");
  std::string copied = half.kernel("layernorm").dump(Stage::Cuda);
  EXPECT_TRUE(contains(copied, "if (copies_fit) {")) << copied;
  EXPECT_TRUE(contains(copied, "x_rows[row_slot * C + q] = x[i * C + q];")) << copied;
  std::string scratch = half.kernel("softmax").dump(Stage::Cuda);
  EXPECT_FALSE(contains(scratch, "copies_fit")) << scratch;
  EXPECT_TRUE(contains(scratch, "if (scratch_fits) {")) << scratch;
  EXPECT_TRUE(contains(scratch, "e_rows[row_slot * C + j] = tdsl_f2h(expf(tdsl_h2f(x[i * C + j]) "
                                "- e_max0_r[0LL]));"))
      << scratch;
  // Intermediates are not __restrict__ (written and read by one kernel); the per-row values
  // live in registers only, not in device memory.
  EXPECT_TRUE(contains(softmax, "float *__restrict__ y, float *e, long long R")) << softmax;
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

TEST(GpuSchedule, ShortEnoughRowsStayInRegisters) {
  Module m = module();
  // Rows of up to 32 * L points (L = 32 threads up to 1024 points, else 256) keep the input row
  // and the intermediates in registers: a kernel for each band (F * L, S * L], launched where
  // the row length is in it; the memory kernel takes the other rows.
  std::string softmax = m.kernel("softmax").dump(Stage::Cuda);
  for (auto [s, f] : {std::pair{4, 0}, {7, 4}, {8, 7}, {15, 8}, {16, 15}, {31, 16}, {32, 31}}) {
    std::string lower = f ? "C > " + std::to_string(f) + " * row_threads" : "C > 0";
    EXPECT_TRUE(contains(softmax, "// softmax_k0_s" + std::to_string(s) + " (rows): (R + " +
                                      "rows_per_block - 1) // rows_per_block blocks of 256 " +
                                      "threads, launched when " + lower +
                                      " and C <= " + std::to_string(s) + " * row_threads.\n"))
        << s << softmax;
  }
  // Past them, rows of up to 32 * 1024 points in registers too, a row a block of 512 threads up
  // to 32 * 512 points (two blocks an SM), then of 1024.
  for (auto [s, threads, above] :
       {std::tuple{31, 512, 8192}, {32, 512, 15872}, {31, 1024, 16384}, {32, 1024, 31744}})
    EXPECT_TRUE(contains(softmax, "// softmax_k0_s" + std::to_string(s) + "x" +
                                      std::to_string(threads) + " (rows): (R + rows_per_block - " +
                                      "1) // rows_per_block blocks of " + std::to_string(threads) +
                                      " threads, launched when C > " + std::to_string(above) +
                                      " and C <= " + std::to_string(s * threads) + ".\n"))
        << s << softmax;
  // At most 64 registers a thread: two blocks of 512 an SM, one of 1024.
  EXPECT_TRUE(contains(softmax, "__launch_bounds__(512, 2) softmax_k0_s32x512(")) << softmax;
  EXPECT_TRUE(contains(softmax, "__launch_bounds__(1024) softmax_k0_s32x1024(")) << softmax;
  EXPECT_TRUE(contains(softmax, "launched when C == 0 or C > 32768.\n")) << softmax;
  // The one-guard bands (the tuned lengths: 4096 and 8192 with 256 threads a row) test the last
  // slot's point, as when they were the only register variants.
  EXPECT_TRUE(contains(softmax, "float x_reg[32];\n"
                                "        #pragma unroll\n"
                                "        for (long long m = 0; m < 32LL; ++m) {\n"
                                "          const long long q = lane + m * row_threads;\n"
                                "          if (m < 31LL || q < C) {\n"
                                "            x_reg[m] = x[i * C + q];"))
      << softmax;
  // Several guarded slots compare m with the thread's count of slots in the row.
  EXPECT_TRUE(contains(softmax, "const long long row_slots = tdsl_floordiv(C + row_threads - "
                                "lane - 1LL, row_threads);\n"
                                "        float e_reg[31];"))
      << softmax;
  EXPECT_TRUE(contains(softmax, "if (m < 16LL || m < row_slots) {")) << softmax;
  EXPECT_TRUE(contains(softmax, "e_reg[m_2] = expf(x_reg[m_2] - e_max0_r[0LL]);")) << softmax;
  std::string layernorm = m.kernel("layernorm").dump(Stage::Cuda);
  EXPECT_TRUE(contains(layernorm, "float x_reg[32];")) << layernorm;
  // Row sums read each input element once anyway: no row buffer, one kernel always launched.
  std::string rowsum = m.kernel("rowsum").dump(Stage::Cuda);
  EXPECT_FALSE(contains(rowsum, "launched when")) << rowsum;
  if (!codegen::nvrtcStatus().available)
    GTEST_SKIP() << "NVRTC not available: " << codegen::nvrtcStatus().reason;
  // Every band's kernel compiles, its slots registers: fully unrolled, nothing in local memory.
  for (const char *name : {"softmax", "layernorm", "rmsnorm", "logsumexp"}) {
    std::string ptx = m.kernel(name).dump(Stage::Ptx);
    EXPECT_TRUE(contains(ptx, ".entry " + std::string(name) + "_k0_s31(")) << name;
    EXPECT_TRUE(contains(ptx, ".entry " + std::string(name) + "_k0_s32x1024(")) << name;
    EXPECT_FALSE(contains(ptx, ".local")) << name << "\n" << ptx;
  }
}

TEST(GpuSchedule, FullReductionsRunInTwoStages) {
  Module m = module();
  std::string cuda = m.kernel("total").dump(Stage::Cuda);
  EXPECT_TRUE(contains(cuda, "// total_k0 (reduce-partials)")) << cuda;
  EXPECT_TRUE(contains(cuda, "// total_k1 (reduce-final): 1 blocks")) << cuda;
  EXPECT_TRUE(contains(cuda, "t_acc_partials[block] = t_acc[0LL];")) << cuda;
  EXPECT_FALSE(contains(cuda, "atomic")) << cuda;
  std::string three = m.kernel("totals").dump(Stage::Cuda);
  EXPECT_TRUE(contains(three, "// totals_k5 (reduce-final)")) << three;
}

TEST(GpuSchedule, ReductionsAlongAStridedDimSplitTheReducedLoop) {
  Module m = module();
  std::string t = m.kernel("colsum").dump(Stage::Cuda);
  EXPECT_TRUE(contains(t, "// colsum_k0 (column-partials): tiles * chunks blocks of 256 threads."))
      << t;
  EXPECT_TRUE(contains(t, "// colsum_k1 (column-final): tiles blocks of 256 threads.")) << t;
  // Enough chunks of i for the device's partialBlocks() blocks; consecutive threads on
  // consecutive columns, so each load is coalesced; the chunks combined in order.
  EXPECT_TRUE(contains(
      t, "const long long chunks = tdsl_max(1LL, tdsl_min(R, tdsl_floordiv(1056LL + (tiles - "
         "1LL), tiles)));"))
      << t;
  EXPECT_TRUE(contains(t, "s_acc[0LL] = s_acc[0LL] + x[i * C + output];")) << t;
  EXPECT_TRUE(contains(t, "s_acc[0LL] = s_acc[0LL] + s_acc_partials[chunk * C + output];")) << t;
  EXPECT_FALSE(contains(t, "atomic")) << t;
  // The epilogue runs once an output, after the chunks; several reductions: two kernels each.
  std::string a = m.kernel("atx").dump(Stage::Cuda);
  EXPECT_TRUE(contains(a, "y_sum0[output] = y_sum0_acc[0LL];")) << a;
  EXPECT_TRUE(contains(a, "// atx_k2 (vector)")) << a;
  EXPECT_TRUE(contains(m.kernel("colstats").dump(Stage::Cuda), "// colstats_k5 (column-final)"));
}

TEST(GpuSchedule, PermutationsGoThroughSharedMemoryTiles) {
  Module m = module();
  std::string t = m.kernel("transpose").dump(Stage::Cuda);
  EXPECT_TRUE(contains(t, "// transpose_k0 (permutation): (C + 31) // 32 * ((R + 31) // 32) "
                          "blocks of 256 threads."))
      << t;
  // Read with consecutive threads along j (x's contiguous dim), padded rows of 33.
  EXPECT_TRUE(contains(t, "__shared__ float x_tile[1056];")) << t;
  EXPECT_TRUE(contains(
      t, "x_tile[row * 33LL + step * 264LL + lane] = x[(tile_i * 32LL + row + step * 8LL) * C "
         "+ tile_j * 32LL + lane];"))
      << t;
  EXPECT_TRUE(contains(t, "= x_tile[lane * 33LL + row + step_1 * 8LL];")) << t;
  EXPECT_TRUE(contains(t, "__syncthreads();")) << t;
  // A layout change over 4 dims: the other loops become blocks; 16-bit tiles.
  std::string n = m.kernel("nhwc").dump(Stage::Cuda);
  EXPECT_TRUE(contains(n, "// nhwc_k0 (permutation)")) << n;
  EXPECT_TRUE(contains(n, "__shared__ tdsl_f16 x_tile[1056];")) << n;
  // Only the transposed read goes through the tile; the others stay direct and coalesced.
  std::string y = m.kernel("symm").dump(Stage::Cuda);
  EXPECT_TRUE(contains(y, "x[(tile_i * 32LL + row + step_1 * 8LL) * R + tile_j * 32LL + lane] * "
                          "s[tile_j * 32LL + lane] + x_tile[lane * 33LL + row + step_1 * 8LL]"))
      << y;
  if (!codegen::nvrtcStatus().available)
    GTEST_SKIP() << "NVRTC not available: " << codegen::nvrtcStatus().reason;
  for (const char *name : {"transpose", "nhwc", "symm"}) {
    std::string ptx = m.kernel(name).dump(Stage::Ptx);
    EXPECT_TRUE(contains(ptx, "bar.sync")) << name;
    EXPECT_TRUE(contains(ptx, ".shared")) << name;
  }
}

TEST(GpuSchedule, ContractionsUseSharedMemoryTiles) {
  Module m = module();
  for (const char *name : {"mm", "mmt", "mmh", "mmb", "mmta", "bmm", "bmmb", "bmmw"}) {
    std::string cuda = m.kernel(name).dump(Stage::Cuda);
    EXPECT_TRUE(contains(cuda, std::string("// ") + name + "_k0 (contraction)")) << cuda;
  }
  // A batch dim: its points' tiles side by side in the grid, the point and tile of a block
  // bound from its index; tensor cores for 16-bit factors.
  std::string bmmb = m.kernel("bmmb").dump(Stage::Cuda);
  EXPECT_TRUE(contains(bmmb, "const long long z = tdsl_floordiv(block, ")) << bmmb;
  EXPECT_TRUE(contains(bmmb, "wgmma.mma_async")) << bmmb;
  // f32 factors: CUDA cores, at most 128 registers a thread (two blocks an SM).
  std::string mm = m.kernel("mm").dump(Stage::Cuda);
  EXPECT_TRUE(contains(mm, "__shared__ __align__(16) float a_tile[2112];")) << mm;
  EXPECT_TRUE(contains(mm, "__launch_bounds__(256, 2) mm_k0(")) << mm;
  // Both factors are plain loads contiguous in k (a) and j (b): 16-byte loads when aligned.
  EXPECT_TRUE(contains(mm, "const float4 tdsl_v = *(const float4 *)(a + i * K + k);")) << mm;
  EXPECT_TRUE(contains(mm, "const float4 tdsl_v = *(const float4 *)(b + k_1 * N + j);")) << mm;
  // 16-bit factors that are plain loads, a contiguous in k, on Hopper (the default target):
  // warpgroup MMA from swizzled shared memory that cp.async fills, 128x256 tiles.
  std::string mmt = m.kernel("mmt").dump(Stage::Cuda);
  EXPECT_TRUE(contains(mmt, "// mmt_k0 (contraction): (M + 127) // 128 * ((N + 255) // 256) "
                            "blocks of 256 threads."))
      << mmt;
  // The ring of stages is dynamic shared memory (past 48 KiB), on a 1024-byte boundary.
  EXPECT_TRUE(contains(mmt, "tdsl_bf16 *stages = (tdsl_bf16 *)(tdsl_smem + 0LL + "
                            "tdsl_to_1024(tdsl_smem + 0LL));"))
      << mmt;
  EXPECT_TRUE(contains(mmt, "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {%0, %1,"))
      << mmt;
  EXPECT_TRUE(contains(mmt, "cp.async.cg.shared.global [%0], [%1], 16;")) << mmt;
  EXPECT_TRUE(contains(mmt, "const unsigned stages_at = tdsl_shared_address(stages);")) << mmt;
  EXPECT_TRUE(contains(mmt, "tdsl_cp_async(stages_at + (unsigned)(s * 24576LL + row_1 * 64LL + "
                            "kc_1 * 8LL + 8192LL) * 2u, b + j * K + k_1);"))
      << mmt;
  // Tiles inside both factors with aligned rows copy without a test a chunk; the others test.
  EXPECT_TRUE(contains(mmt, "if (K % 64LL == 0LL && m0 + 128LL <= M && n0 + 256LL <= N && "
                            "((unsigned long long)a & 15ull) == 0 && ((unsigned long long)b & "
                            "15ull) == 0 && K * m0 % 8LL == 0LL && K % 8LL == 0LL && K * n0 % 8LL "
                            "== 0LL) {"))
      << mmt;
  EXPECT_TRUE(contains(mmt, "if (j_2 < N && k_5 + 8LL <= K && ((unsigned long long)b & 15ull) == "
                            "0 && (j_2 * K + k_5) % 8LL == 0LL) {"))
      << mmt;
  EXPECT_TRUE(contains(mmt, "tdsl_wgmma_bf16_kmajor(sums + 0LL, stages_at + (unsigned)(st + wg * "
                            "4096LL + kk * 16LL) * 2u, stages_at + (unsigned)(st + kk * 16LL + "
                            "8192LL) * 2u);"))
      << mmt;
  // b[k, j] is contiguous in j: wgmma reads it transposed (the last immediate).
  std::string mmh = m.kernel("mmh").dump(Stage::Cuda);
  EXPECT_TRUE(contains(mmh, "wgmma.mma_async.sync.aligned.m64n256k16.f32.f16.f16")) << mmh;
  EXPECT_TRUE(contains(mmh, "TDSL_FN void tdsl_wgmma_f16_jmajor(")) << mmh;
  EXPECT_TRUE(contains(mmh, "%128, %129, p, 1, 1, 0, 1; }")) << mmh;
  EXPECT_TRUE(contains(mmh, "tdsl_wgmma_f16_jmajor(sums + 0LL, ")) << mmh;
  EXPECT_FALSE(contains(mmh, "tdsl_wgmma_f16_kmajor(sums")) << mmh;
  // a[k, i] is not contiguous in k: mma.sync m16n8k16 on tiles the threads transpose.
  std::string mmta = m.kernel("mmta").dump(Stage::Cuda);
  EXPECT_TRUE(contains(mmta, "__shared__ __align__(16) tdsl_bf16 b_tile[10240];")) << mmta;
  EXPECT_TRUE(contains(mmta, "tdsl_mma_sync_bf16(sums + ")) << mmta;
  EXPECT_TRUE(contains(mmta, "__launch_bounds__(256) mmta_k0(")) << mmta;
  // b[k, j] is read 8 values of j at a time, stored transposed (rows of 40 values of k).
  EXPECT_TRUE(contains(mmta, "*(uint4 *)(b_next + r_2 * 8LL) = *(const uint4 *)(b + k_1 * N + j);"))
      << mmta;
  EXPECT_TRUE(contains(mmta, "+ u_1 * 40LL + e_3 % 32LL] = b_next[r_4 * 8LL + u_1];")) << mmta;
  if (!codegen::nvrtcStatus().available)
    GTEST_SKIP() << "NVRTC not available: " << codegen::nvrtcStatus().reason;
  std::string ptx = m.kernel("mm").dump(Stage::Ptx);
  EXPECT_TRUE(contains(ptx, "ld.shared.v4.f32")) << ptx;
  std::string mmaPtx = m.kernel("mmta").dump(Stage::Ptx);
  EXPECT_TRUE(contains(mmaPtx, "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32")) << mmaPtx;
  std::string wgmmaPtx = m.kernel("mmb").dump(Stage::Ptx);
  EXPECT_TRUE(contains(wgmmaPtx, ".target sm_90a")) << wgmmaPtx;
  EXPECT_TRUE(contains(wgmmaPtx, "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16"))
      << wgmmaPtx;
}

/// The CUDA C of `name` in kSource for `target`.
std::string cudaFor(const std::string &name, const passes::GpuTarget &target) {
  DiagnosticEngine diags;
  auto source = std::make_shared<const SourceFile>(SourceFile{"gpu.tdsl", kSource});
  std::optional<ir::Module> module = frontend::compileSource(source, diags);
  for (const ir::Kernel &kernel : module.value().kernels)
    if (kernel.name == name) {
      ir::LoweredFunc plain = passes::lowerKernel(kernel);
      return codegen::emitCuda(passes::scheduleForGpu(plain, target));
    }
  return "";
}

/// The loop IR nests of the kernels of `name` in kSource for `target`, each verified as a func
/// of its own (its launch: its lets and intermediates around it).
std::vector<std::string> verifiedNests(const std::string &name, const passes::GpuTarget &target) {
  DiagnosticEngine diags;
  auto source = std::make_shared<const SourceFile>(SourceFile{"gpu.tdsl", kSource});
  std::optional<ir::Module> module = frontend::compileSource(source, diags);
  std::vector<std::string> nests;
  for (const ir::Kernel &kernel : module.value().kernels)
    if (kernel.name == name) {
      ir::LoweredFunc plain = passes::lowerKernel(kernel);
      ir::LoweredFunc gpu = passes::scheduleForGpu(plain, target);
      const ir::Block *launches = gpu.body->as<ir::Block>();
      for (const ir::Stmt &s : launches ? launches->stmts : std::vector<ir::Stmt>{gpu.body}) {
        ir::LoweredFunc one = plain;
        one.body = s;
        ir::verify(one);
        nests.push_back(ir::toString(ir::blockLoop(s->as<ir::GpuLaunch>())));
      }
    }
  return nests;
}

TEST(GpuSchedule, ContractionNestsVerify) {
  passes::GpuTarget hopper, ampere;
  ampere.computeCapability = 80;
  for (const passes::GpuTarget &target : {hopper, ampere})
    for (const char *name : {"mm", "mmt", "mmh", "mmb", "mmta"})
      verifiedNests(name, target);
  std::vector<std::string> mm = verifiedNests("mm", hopper);
  ASSERT_FALSE(mm.empty());
  EXPECT_TRUE(contains(mm[0], "allocate a_tile: f32[2112] shared")) << mm[0];
  std::vector<std::string> mmb = verifiedNests("mmb", ampere);
  ASSERT_FALSE(mmb.empty());
  EXPECT_TRUE(contains(mmb[0], "mma_sync(sums[r * 32 + s * 4], a_frag[r * 8], b_frag[s * 4])"))
      << mmb[0];
  std::vector<std::string> wgmma = verifiedNests("mmb", hopper);
  ASSERT_FALSE(wgmma.empty());
  EXPECT_TRUE(contains(wgmma[0], "allocate stages: bf16[98816] shared")) << wgmma[0];
  EXPECT_TRUE(contains(wgmma[0], "wgmma(sums[0], stages[st + wg * 4096 + kk * 16], stages[st + kk "
                                 "* 1024 + 8192], 1)"))
      << wgmma[0];
}

TEST(GpuSchedule, WarpgroupMmaOnlyOnHopperWithRoomForItsStages) {
  passes::GpuTarget hopper;
  EXPECT_TRUE(contains(cudaFor("mmb", hopper), "wgmma.mma_async")) << cudaFor("mmb", hopper);
  // Ampere and Blackwell have no wgmma; a device without 193 KiB of shared memory a block has
  // no room for four stages: mma.sync there.
  passes::GpuTarget ampere = hopper, blackwell = hopper, small = hopper;
  ampere.computeCapability = 80;
  blackwell.computeCapability = 100;
  small.sharedBytesPerBlockOptin = 160 * 1024;
  for (const passes::GpuTarget &target : {ampere, blackwell, small}) {
    std::string cuda = cudaFor("mmb", target);
    EXPECT_FALSE(contains(cuda, "wgmma")) << cuda;
    EXPECT_TRUE(contains(cuda, "tdsl_mma_sync_bf16(")) << cuda;
  }
}

// Attention written as a user writes it (scores, row maximum, exp, row sum, second contraction,
// division; a `where` mask on the scores, on P with triangular sums, or none) is one flash-chain
// kernel; a chain whose P is an output, or whose exp is not of (score - maximum), keeps its
// nests.
TEST(GpuSchedule, AttentionChainsAreOneFlashKernel) {
  Module m = module();
  // 16-bit factors and values of one dtype: both products on tensor cores; else CUDA cores.
  auto tensorCoreProducts = [](const std::string &cuda) {
    return contains(cuda, "tdsl_mma_sync_bf16(acc") || contains(cuda, "tdsl_mma_sync_f16(acc");
  };
  for (const auto &[name, tensorCores] : {std::pair{"attn", true},
                                          {"attnmasked", true},
                                          {"attnh", true},
                                          {"attncrossb", true},
                                          {"attnwide", true},
                                          {"attnmixed", false},
                                          {"attncausal", false},
                                          {"attnanti", false},
                                          {"attncross", false}}) {
    std::string cuda = m.kernel(name).dump(Stage::Cuda);
    EXPECT_TRUE(contains(cuda, std::string("// ") + name + "_k0 (flash-chain)")) << cuda;
    EXPECT_FALSE(contains(cuda, std::string(name) + "_k1")) << cuda;
    EXPECT_EQ(contains(cuda, "__shared__ float q_tile[4160];"), !tensorCores) << cuda;
    EXPECT_EQ(tensorCoreProducts(cuda), tensorCores) << cuda;
  }
  for (const char *name : {"attnkept", "notexp"}) {
    std::string cuda = m.kernel(name).dump(Stage::Cuda);
    EXPECT_FALSE(contains(cuda, "flash-chain")) << cuda;
  }
  passes::GpuTarget hopper, ampere, turing;
  ampere.computeCapability = 80;
  turing.computeCapability = 75; // No bf16 mma.sync: CUDA cores.
  EXPECT_FALSE(tensorCoreProducts(cudaFor("attn", turing)));
  for (const passes::GpuTarget &target : {hopper, ampere})
    for (const char *name : {"attn", "attnmasked", "attnh", "attncrossb", "attncausal"})
      verifiedNests(name, target);
  if (!codegen::nvrtcStatus().available)
    GTEST_SKIP() << "NVRTC not available: " << codegen::nvrtcStatus().reason;
  for (const auto &[target, arch] :
       {std::pair{ampere, "compute_80"}, std::pair{hopper, "compute_90"}})
    for (const char *name : {"attn", "attnh", "attncausal"}) {
      std::string ptx = codegen::compileToPtx(cudaFor(name, target), name, arch);
      EXPECT_TRUE(contains(ptx, std::string(".entry ") + name + "_k0(")) << ptx;
      // Scores, maxima, sums, fragments and outputs in registers: no local memory.
      EXPECT_FALSE(contains(ptx, ".local")) << ptx;
      EXPECT_TRUE(contains(ptx, "shfl.sync.bfly.b32")) << ptx;
      EXPECT_EQ(contains(ptx, "mma.sync.aligned.m16n8k16.row.col.f32"),
                std::string(name) != "attncausal")
          << ptx;
    }
}

/// Runs `name` on the GPU twice and on the interpreter: equal within tolerance (that of
/// `judged` where given: a kernel that rounds an f32 intermediate to bf16 on purpose), and the
/// two GPU runs bit-identical.
void expectMatches(const Kernel &k, const std::vector<Tensor> &inputs, const std::string &what,
                   std::optional<DType> judged = std::nullopt) {
  std::vector<Tensor> got = k(inputs), again = k(inputs), want = k.interpret(inputs);
  ASSERT_EQ(got.size(), want.size());
  auto at = [&](const Tensor &t) { return judged ? runtime::convertTo(t, *judged) : t; };
  for (size_t o = 0; o < got.size(); ++o) {
    EXPECT_TRUE(withinTolerance(at(got[o]), at(want[o])))
        << what << " output " << o << ": "
        << describe(runtime::compare(got[o], want[o]), got[o].shape());
    EXPECT_EQ(std::memcmp(got[o].data(), again[o].data(), got[o].nbytes()), 0)
        << what << " output " << o << " differs between two runs";
  }
}

// The 16-bit contractions an sm_80 runs by mma.sync (every one, also those an sm_90 gives to
// wgmma), on edge tiles and whole ones: on the GPU, or on the emulation, whose mma.sync follows
// the PTX ISA's fragment layout (a layout the schedule got wrong would fail here).
TEST(GpuSchedule, MmaSyncContractionsMatchTheInterpreter) {
  if (!canLaunch())
    GTEST_SKIP() << "no GPU launches: " << runtime::cuda::status().reason;
  Target ampere = Target::cuda();
  ampere.gpu = "sm_80";
  Module m = Jit(ampere).compile(kSource);
  uint64_t seed = 11;
  for (auto [mm, kk, nn] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1},
                            {33, 70, 45},
                            {129, 9, 257},
                            {128, 64, 128}}) {
    std::map<std::string, int64_t> shape = {{"M", mm}, {"K", kk}, {"N", nn}};
    std::string at = " " + std::to_string(mm) + "x" + std::to_string(kk) + "x" + std::to_string(nn);
    for (const char *name : {"mmt", "mmh", "mmb", "mmta"}) {
      Kernel k = m.kernel(name);
      std::string cuda = k.dump(Stage::Cuda);
      EXPECT_TRUE(contains(cuda, "tdsl_mma_sync_bf16(sums") ||
                  contains(cuda, "tdsl_mma_sync_f16(sums"))
          << cuda;
      expectMatches(k, k.randomInputs(shape, seed++), name + at);
    }
  }
  for (auto [bb, mm, kk, nn] :
       {std::tuple<int64_t, int64_t, int64_t, int64_t>{3, 33, 70, 45}, {2, 128, 64, 128}}) {
    std::map<std::string, int64_t> shape = {{"B", bb}, {"M", mm}, {"K", kk}, {"N", nn}};
    for (const char *name : {"bmmb", "bmmw"}) {
      Kernel k = m.kernel(name);
      EXPECT_TRUE(contains(k.dump(Stage::Cuda), "tdsl_mma_sync_bf16(sums")) << name;
      expectMatches(k, k.randomInputs(shape, seed++),
                    name + std::string(" ") + std::to_string(bb) + "x" + std::to_string(mm));
    }
  }
}

// The same contractions on sm_90's warpgroup MMA (k-major and j-major B, bf16 and f16, batched):
// on the GPU, or on the emulation, whose wgmma reads the swizzled tiles as ir::GpuOp's Wgmma
// says. Edge tiles and whole ones (no test a chunk), and more steps of k than the ring's stages.
TEST(GpuSchedule, WgmmaContractionsMatchTheInterpreter) {
  if (!canLaunch())
    GTEST_SKIP() << "no GPU launches: " << runtime::cuda::status().reason;
  Target hopper = Target::cuda();
  hopper.gpu = "sm_90";
  Module m = Jit(hopper).compile(kSource);
  uint64_t seed = 13;
  for (auto [mm, kk, nn] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1},
                            {33, 70, 45},
                            {128, 64, 256},
                            {130, 320, 260}}) {
    std::map<std::string, int64_t> shape = {{"M", mm}, {"K", kk}, {"N", nn}};
    std::string at = " " + std::to_string(mm) + "x" + std::to_string(kk) + "x" + std::to_string(nn);
    for (const char *name : {"mmt", "mmh", "mmb"}) {
      Kernel k = m.kernel(name);
      EXPECT_TRUE(contains(k.dump(Stage::Cuda), "tdsl_wgmma_")) << name;
      expectMatches(k, k.randomInputs(shape, seed++), name + at);
    }
  }
  for (auto [bb, mm, kk, nn] :
       {std::tuple<int64_t, int64_t, int64_t, int64_t>{3, 33, 70, 45}, {2, 128, 64, 256}}) {
    std::map<std::string, int64_t> shape = {{"B", bb}, {"M", mm}, {"K", kk}, {"N", nn}};
    for (const char *name : {"bmmb", "bmmw"}) {
      Kernel k = m.kernel(name);
      EXPECT_TRUE(contains(k.dump(Stage::Cuda), "tdsl_wgmma_")) << name;
      expectMatches(k, k.randomInputs(shape, seed++),
                    name + std::string(" ") + std::to_string(bb) + "x" + std::to_string(mm));
    }
  }
}

TEST(GpuSchedule, OddSizesMatchTheInterpreter) {
  if (!canLaunch())
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
                            {200, 300, 130},
                            {256, 96, 384},
                            {256, 640, 512},
                            {384, 128, 640}, // Interior tiles and edge tiles, whole steps of k.
                            {131, 520, 300}}) {
    std::map<std::string, int64_t> shape = {{"M", mm}, {"K", kk}, {"N", nn}};
    std::string at = " " + std::to_string(mm) + "x" + std::to_string(kk) + "x" + std::to_string(nn);
    for (const char *name : {"mm", "mmt", "mmh", "mmb", "mmta"}) {
      Kernel k = m.kernel(name);
      expectMatches(k, k.randomInputs(shape, seed++), name + at);
    }
  }
  // Batched: each point of the leading dim a contraction of its own, every point's tiles in
  // the grid (CUDA cores for f32, tensor cores for bf16, weights shared by every point).
  for (auto [bb, mm, kk, nn] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{1, 1, 1, 1},
                                {3, 33, 70, 45},
                                {2, 129, 64, 257},
                                {2, 256, 128, 256}, // Whole tiles of every kernel.
                                {0, 5, 5, 5}}) {
    std::map<std::string, int64_t> shape = {{"B", bb}, {"M", mm}, {"K", kk}, {"N", nn}};
    std::string at = " " + std::to_string(bb) + "x" + std::to_string(mm) + "x" +
                     std::to_string(kk) + "x" + std::to_string(nn);
    for (const char *name : {"bmm", "bmmb", "bmmw"}) {
      Kernel k = m.kernel(name);
      expectMatches(k, k.randomInputs(shape, seed++), name + at);
    }
  }
  // Permutations and reductions along a strided dim: edge tiles, one row or column, none.
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1},
                            {1, 70},
                            {31, 33},
                            {65, 47},
                            {256, 96},
                            {33, 1},
                            {0, 40},
                            {40, 0},
                            {3000, 5}}) {
    std::string at = " " + std::to_string(rows) + "x" + std::to_string(cols);
    std::map<std::string, std::map<std::string, int64_t>> shapes = {
        {"transpose", {{"R", rows}, {"C", cols}}},
        {"nhwc", {{"B", 2}, {"C", cols}, {"H", 3}, {"W", rows}}},
        {"symm", {{"R", rows}}},
        {"colsum", {{"R", rows}, {"C", cols}}},
        {"atx", {{"R", rows}, {"C", cols}}},
        {"colstats", {{"R", rows}, {"C", cols}}}};
    for (const auto &[name, shape] : shapes) {
      Kernel k = m.kernel(name);
      expectMatches(k, k.randomInputs(shape, seed++), name + at);
    }
  }
  for (int64_t rows : {1, 3, 37}) {
    for (int64_t cols : {1, 31, 33, 1000, 4097}) {
      std::string at = " " + std::to_string(rows) + "x" + std::to_string(cols);
      std::map<std::string, int64_t> shape = {{"R", rows}, {"C", cols}};
      for (const char *name : {"addi", "bias", "rowsum", "rowstats", "softmax", "layernorm",
                               "rmsnorm", "wsum", "totals"}) {
        Kernel k = m.kernel(name);
        expectMatches(k, k.randomInputs(shape, seed++), name + at);
      }
    }
  }
}

// An elementwise definition that reads a contraction only at its own point is the contraction's
// epilogue: one launch, the sums never stored. Not when the sums are an output, nor when they
// are read elsewhere (at the transposed point).
TEST(GpuSchedule, EveryFusedEpilogueMatchesTheInterpreter) {
  Module m = module();
  auto launches = [&](const char *name) {
    std::string cuda = m.kernel(name).dump(Stage::Cuda);
    size_t n = 0;
    for (size_t at = cuda.find("extern \"C\" __global__"); at != std::string::npos;
         at = cuda.find("extern \"C\" __global__", at + 1))
      ++n;
    return n;
  };
  EXPECT_EQ(launches("mmgelu"), 1u);
  EXPECT_TRUE(contains(m.kernel("mmgelu").dump(Stage::Schedule),
                       "epilogue fused: y on the sums in registers"));
  EXPECT_EQ(launches("mmkept"), 2u);
  EXPECT_EQ(launches("mmswap"), 2u);
  if (!canLaunch())
    GTEST_SKIP() << "no GPU launches: " << runtime::cuda::status().reason;
  uint64_t seed = 7;
  for (auto [mm, kk, nn] :
       {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {33, 70, 45}, {129, 9, 257}, {0, 5, 3}}) {
    std::string at = " " + std::to_string(mm) + "x" + std::to_string(kk) + "x" + std::to_string(nn);
    for (const char *name : {"mmgelu", "mmkept"}) {
      Kernel k = m.kernel(name);
      expectMatches(k, k.randomInputs({{"M", mm}, {"K", kk}, {"N", nn}}, seed++), name + at);
    }
    Kernel k = m.kernel("mmswap");
    expectMatches(k, k.randomInputs({{"N", nn}, {"K", kk}}, seed++), "mmswap" + at);
  }
}

// The flash chain at odd shapes: one query row, rows and keys past a tile of 64 (and of the
// tensor-core kernel's 128 rows, and whole ones), E of 1..256 (several output chunks and k steps),
// masks that leave whole key tiles empty for a row; on CUDA cores (f32) and tensor cores (bf16,
// f16).
TEST(GpuSchedule, EveryAttentionChainMatchesTheInterpreter) {
  if (!canLaunch())
    GTEST_SKIP() << "no GPU launches: " << runtime::cuda::status().reason;
  Module m = module();
  uint64_t seed = 7;
  for (auto [b, t, e] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 64},
                         {2, 17, 5},
                         {1, 64, 64},
                         {1, 65, 128},
                         {2, 130, 64},
                         {1, 256, 64},  // Whole tiles of the tensor-core kernel: no tests in them.
                         {1, 192, 128}, // Whole and partial tiles, one step of k.
                         {1, 128, 256}, // Whole tiles, two steps of k and two output chunks.
                         {1, 3, 129},
                         {1, 200, 1}}) {
    std::string at = " " + std::to_string(b) + "x" + std::to_string(t) + "x" + std::to_string(e);
    // The tensor-core kernels round P to bf16 (8 bits) or f16 before its product with v: judged
    // at f16's tolerance (1e-2 relative to the largest output), tighter than bf16's.
    for (const char *name : {"attn", "attnmasked"}) {
      Kernel k = m.kernel(name);
      expectMatches(k, k.randomInputs({{"B", b}, {"T", t}, {"E", e}}, seed++), name + at,
                    DType::F16);
    }
    for (const char *name : {"attnh", "attnmixed", "attncausal", "attnanti"}) {
      Kernel k = m.kernel(name);
      expectMatches(k, k.randomInputs({{"T", t}, {"E", e}}, seed++), name + at,
                    name == std::string("attnh") ? std::optional(DType::F16) : std::nullopt);
    }
    for (const char *name : {"attncross", "attncrossb"}) {
      Kernel cross = m.kernel(name);
      expectMatches(
          cross, cross.randomInputs({{"S", t}, {"T", t + 70}, {"D", e + 3}, {"E", e}}, seed++),
          name + at, name == std::string("attncrossb") ? std::optional(DType::F16) : std::nullopt);
    }
  }
  // A NaN factor makes its row's scores, maximum and outputs NaN, on either kernel; a NaN key
  // that only the maximum reads (attnwide: the sums stop at t) still makes the rows before it
  // NaN.
  for (const auto &[name, input] :
       {std::pair{"attn", 0}, {"attnmixed", 0}, {"attnh", 0}, {"attnwide", 1}, {"attnwide", 0}}) {
    Kernel k = m.kernel(name);
    std::vector<Tensor> inputs = k.randomInputs({{"B", 1}, {"T", 130}, {"E", 64}}, seed++);
    inputs[input].set(100 * 64 + 5, std::numeric_limits<double>::quiet_NaN());
    expectMatches(k, inputs, name + std::string(" with a NaN"), DType::F16);
  }
  // Empty extents: no keys (0 / 0, as the interpreter's), no queries, an empty dot, no columns.
  for (const char *name : {"attncross", "attncrossb"}) {
    Kernel cross = m.kernel(name);
    for (auto [qs, ks, d, e] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{5, 0, 3, 4},
                                {0, 5, 3, 4},
                                {5, 5, 0, 4},
                                {5, 7, 3, 0}})
      expectMatches(cross, cross.randomInputs({{"S", qs}, {"T", ks}, {"D", d}, {"E", e}}, seed++),
                    name + std::string(" ") + std::to_string(qs) + "x" + std::to_string(ks) + "x" +
                        std::to_string(d) + "x" + std::to_string(e),
                    name == std::string("attncrossb") ? std::optional(DType::F16) : std::nullopt);
  }
}

TEST(GpuSchedule, LongRowsAndManyRows) {
  if (!canLaunch())
    GTEST_SKIP() << "no GPU launches: " << runtime::cuda::status().reason;
  Module m = module();
  // More rows than one grid of blocks covers at once (grid-stride over rows), long rows, and
  // lengths around the bounds of the register bands (EveryRowLengthMatchesTheInterpreter has
  // them all).
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{20000, 7},
                            {9000, 40},
                            {7, 224},
                            {7, 225},
                            {6, 992},
                            {6, 993},
                            {5, 1024},
                            {5, 1025},
                            {4, 1793},
                            {3, 3841},
                            {3, 4096},
                            {3, 7937},
                            {3, 8192},
                            {3, 8193},
                            // The wide register bands (EveryRowLengthMatchesTheInterpreter
                            // has the memory kernel past them).
                            {2, 20000},
                            {2, 30000}}) {
    std::map<std::string, int64_t> shape = {{"R", rows}, {"C", cols}};
    for (const char *name : {"softmax", "layernorm", "rowsum"}) {
      Kernel k = m.kernel(name);
      expectMatches(k, k.randomInputs(shape, 99),
                    std::string(name) + " " + std::to_string(rows) + "x" + std::to_string(cols));
    }
  }
}

// Each register band (F * L, S * L] of the rows schedule is a kernel launched for its band (S =
// 4, 7, 8, 15, 16, 31, 32 slots a thread; L = 32 threads a row up to 1024 points, else 256),
// the memory kernel for the rest: both sides of every bound, lengths between them, past the
// registers, no points and no rows. A wrong launch condition runs a row on no kernel, two, or
// one whose slots miss points.
TEST(GpuSchedule, EveryRowLengthMatchesTheInterpreter) {
  if (!canLaunch())
    GTEST_SKIP() << "no GPU launches: " << runtime::cuda::status().reason;
  Module m = module();
  uint64_t seed = 900;
  std::vector<std::pair<int64_t, int64_t>> shapes = {{0, 40}, {3, 0}, {0, 0}};
  for (int64_t cols : {1,    31,   32,   33,   128,  129,  224,  225,  255,  256,  257,  480,
                       481,  512,  513,  992,  993,  1023, 1024, 1025, 1536, 1792, 1793, 2048,
                       2049, 3840, 3841, 4095, 4096, 4097, 6000, 7936, 7937, 8192, 8193})
    shapes.push_back({cols <= 1024 ? 9 : 2, cols}); // A block holds 8 warp rows: 9 spill over.
  for (auto [rows, cols] : shapes)
    for (const char *name : {"softmax", "layernorm", "rmsnorm", "logsumexp"}) {
      Kernel k = m.kernel(name);
      expectMatches(k, k.randomInputs({{"R", rows}, {"C", cols}}, seed++),
                    std::string(name) + " " + std::to_string(rows) + "x" + std::to_string(cols));
    }
  // The wide bands (a row a block of 512, then 1024 threads) up to 32 * 1024 points, then
  // the memory kernel. The maximum named once a row: the interpreter takes C steps a row, not C^2.
  Module named = Jit(Target::cuda()).compile(R"(
kernel softmax(x: f32[R, C]) -> y: f32[R, C] {
    m[i] = max(x[i, j] for j)
    e[i, j] = exp(x[i, j] - m[i])
    y[i, j] = e[i, j] / sum(e[i, k] for k)
}
kernel logsumexp(x: f32[R, C]) -> y: f32[R] {
    m[i] = max(x[i, j] for j)
    y[i] = m[i] + log(sum(exp(x[i, j] - m[i]) for j))
}
)");
  for (int64_t cols : {15872, 15873, 16384, 16385, 31744, 31745, 32768, 32769})
    for (Module *source : {&m, &named})
      for (const char *name : source == &m ? std::vector<const char *>{"layernorm", "rmsnorm"}
                                           : std::vector<const char *>{"softmax", "logsumexp"}) {
        Kernel k = source->kernel(name);
        expectMatches(k, k.randomInputs({{"R", 1}, {"C", cols}}, seed++),
                      std::string(name) + " 1x" + std::to_string(cols));
      }
}

// Language version 1 along rows: prefix scans and argmax/argmin.
const char *kScanSource = R"(
kernel cumsum(x: f32[R, C]) -> y: f32[R, C] {
    y[i, j] = sum(x[i, k] for k <= j)
}
kernel scans(x: f32[R, C], n: i32[R, C]) -> (p: f32[R, C], hi: f32[R, C], lo: f32[R, C], mu: f32[R, C], c: i32[R, C], lag: f32[R, C], any: bool[R, C]) {
    p[i, j] = prod(1.0 + 0.01 * x[i, k] for k <= j)
    hi[i, j] = max(x[i, k] for k <= j)
    lo[i, j] = min(sqrt(x[i, k] + 1.5) for k <= j)
    mu[i, j] = mean(x[i, k] for k <= j)
    c[i, j] = sum(n[i, k] for k <= j)
    lag[i, j] = sum(x[i, k] for k < j - 2)
    any[i, j] = max(x[i, k] > 1.5 for k <= j)
}
kernel fusedscan(x: f32[R, C], b: f32[C]) -> y: f32[R, C] {
    e = exp(x - 1.0)
    c[i, j < C] = sum(e[i, k] * b[k] for k <= j)
    y = tanh(c) * x + c
}
kernel argmax_rows(x: f32[R, C]) -> idx: i64[R] {
    idx[i] = argmax(x[i, j] for j)
}
kernel args(x: f32[R, C], n: i32[R, C]) -> (lo: i64[R], tie: i64[R], tielo: i64[R], nan: i64[R], nanlo: i64[R], ilo: i32[R]) {
    lo[i] = argmin(x[i, j] for j)
    tie[i] = argmax(round(x[i, j]) for j)
    tielo[i] = argmin(round(x[i, j]) for j)
    nan[i] = argmax(sqrt(x[i, j] + 1.5) for j)
    nanlo[i] = argmin(sqrt(x[i, j] + 1.5) for j)
    ilo[i] = i32(argmin(n[i, j] for j))
}
kernel sample(x: f32[R, C]) -> (token: i64[R], p: f32[R]) {
    m[i] = max(x[i, j] for j)
    token[i] = argmax(x[i, j] - m[i] for j)
    p[i] = f32(token[i]) + sum(exp(x[i, j] - m[i]) for j)
}
)";

TEST(GpuSchedule, ScansAndArgmaxAlongRowsAreAWarpOrABlockPerRow) {
  Module m = Jit(Target::cuda()).compile(kScanSource);
  std::string cumsum = m.kernel("cumsum").dump(Stage::Cuda);
  EXPECT_TRUE(contains(cumsum, "// cumsum_k0 (rows)")) << cumsum;
  EXPECT_TRUE(contains(cumsum, "const long long row_threads = C <= 1024LL ? 32LL : 256LL;"))
      << cumsum;
  EXPECT_TRUE(contains(cumsum, "tdsl_shfl_xor(y_acc_total[0LL], 1)")) << cumsum;
  EXPECT_TRUE(contains(cumsum, "warp_totals")) << cumsum;
  // Loads and stores coalesced (consecutive lanes on consecutive points) through shared memory.
  EXPECT_TRUE(contains(cumsum,
                       "const long long j = chunk * (row_threads * 8LL) + m * row_threads + "
                       "lane;"))
      << cumsum;
  EXPECT_TRUE(contains(cumsum, "__shared__ float y_acc_chunk[2112];")) << cumsum;
  EXPECT_FALSE(contains(cumsum, "cumsum_k1")) << cumsum;
  std::string schedule = m.kernel("cumsum").dump(Stage::Schedule);
  EXPECT_TRUE(contains(schedule, "a prefix scan")) << schedule;
  // Every scan of the language: its own Rows kernel each.
  std::string scans = m.kernel("scans").dump(Stage::Cuda);
  for (int k = 0; k < 7; ++k)
    EXPECT_TRUE(contains(scans, "// scans_k" + std::to_string(k) + " (rows)")) << scans;
  // Argmax: a Rows kernel whose (value, position) pairs are combined by shuffles of both.
  std::string argmax = m.kernel("argmax_rows").dump(Stage::Cuda);
  EXPECT_TRUE(contains(argmax, "// argmax_rows_k0 (rows)")) << argmax;
  EXPECT_TRUE(contains(argmax, "tdsl_shfl_xor(idx_at[0LL], 16)")) << argmax;
  EXPECT_TRUE(contains(argmax, "warp_positions")) << argmax;
  // In a group with other reductions: one kernel.
  std::string sample = m.kernel("sample").dump(Stage::Cuda);
  EXPECT_TRUE(contains(sample, "// sample_k0 (rows)")) << sample;
  EXPECT_FALSE(contains(sample, "sample_k1")) << sample;
  if (!codegen::nvrtcStatus().available)
    GTEST_SKIP() << "NVRTC not available: " << codegen::nvrtcStatus().reason;
  for (const char *name : {"cumsum", "scans", "fusedscan", "argmax_rows", "args", "sample"}) {
    std::string ptx = m.kernel(name).dump(Stage::Ptx);
    EXPECT_TRUE(contains(ptx, "shfl.sync.bfly")) << name << "\n" << ptx;
    // The thread's values stay in registers.
    EXPECT_FALSE(contains(ptx, "ld.local")) << name << "\n" << ptx;
    EXPECT_FALSE(contains(ptx, "st.local")) << name << "\n" << ptx;
  }
}

// The f32 results of a scan use another association than the CPU's sequential scan (each
// output is at most ceil(C / (L * 8)) carries, log2(L) shuffle levels and 8 register steps from
// its points, fewer roundings than the sequential scan's j), so they meet the interpreter's f64
// result within the tolerance every float result meets (api/Numerics.h); argmax is exact.
TEST(GpuSchedule, EveryScanAndArgmaxAlongRowsMatchesTheInterpreter) {
  if (!canLaunch())
    GTEST_SKIP() << "no GPU launches: " << runtime::cuda::status().reason;
  Module m = Jit(Target::cuda()).compile(kScanSource);
  uint64_t seed = 500;
  for (int64_t rows : {0, 1, 3, 10})
    for (int64_t cols : {0, 1, 31, 33, 255, 256, 257, 1024, 1025, 4097}) {
      // Every length on one and three rows (a warp a row up to 1024 points, a block past it);
      // zero rows and more rows than a block holds at a few.
      bool few = rows == 0 || rows == 10;
      if (few && cols != 0 && cols != 33 && cols != 1025)
        continue;
      std::string at = " R=" + std::to_string(rows) + " C=" + std::to_string(cols);
      std::map<std::string, int64_t> shape = {{"R", rows}, {"C", cols}};
      for (const char *name : {"cumsum", "scans", "fusedscan", "argmax_rows", "args", "sample"}) {
        Kernel k = m.kernel(name);
        expectMatches(k, k.randomInputs(shape, seed++), name + at);
      }
    }
  // Rows a block of 512, then 1024 threads (the wide register bands): the argmax pairs and the
  // sums combined across 16 and 32 warps.
  for (int64_t cols : {12000, 20000})
    for (const char *name : {"args", "sample"}) {
      Kernel k = m.kernel(name);
      expectMatches(k, k.randomInputs({{"R", 2}, {"C", cols}}, seed++),
                    name + std::string(" R=2 C=") + std::to_string(cols));
    }
}

// The argmax (argmin) members whose reads are loaded ahead (16 bytes a thread where a row starts
// aligned, single values past the last whole vector and in the other rows): rows of few
// distinct values (ties in the vectors, in the tail and across both), NaNs at chosen points
// (the first wins, in a vector or in the tail), all-NaN and all-equal rows, -0.0 against 0.0;
// lengths around multiples of 4 and of the row's threads, no points, and a view that starts 4
// bytes past an aligned address (every row one value at a time).
const char *kArgSource = R"(
kernel amax(x: f32[R, C]) -> idx: i64[R] {
    idx[i] = argmax(x[i, j] for j)
}
kernel amin(x: f32[R, C]) -> idx: i64[R] {
    idx[i] = argmin(x[i, j] for j)
}
kernel aminw(n: i32[R, C], w: i32[C]) -> idx: i64[R] {
    idx[i] = argmin(n[i, j] * w[j] for j)
}
kernel ascale(x: f32[R, C], s: f32[R]) -> idx: i64[R] {
    idx[i] = argmax(x[i, j] * s[i] for j)
}
)";

TEST(GpuSchedule, ArgmaxLoadedAheadMatchesTheInterpreter) {
  if (!canLaunch())
    GTEST_SKIP() << "no GPU launches: " << runtime::cuda::status().reason;
  Module m = Jit(Target::cuda()).compile(kArgSource);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  uint64_t seed = 700;
  for (int64_t cols : {0, 1, 3, 4, 5, 8, 13, 32, 33, 129, 1024, 1028, 1029, 4100, 8195}) {
    const int64_t rows = 6;
    Tensor x = Tensor::randn({rows, cols}, DType::F32, seed++);
    float *v = x.data<float>();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        float &e = v[r * cols + c];
        switch (r) {
        case 0: // Few distinct values: ties everywhere.
          e = std::round(e);
          break;
        case 1: // NaNs, the first in the row's last vector or its tail.
          e = std::round(e);
          if (c == cols - cols % 4 - 1 || c == cols - 1 || c == cols / 2 + 1)
            e = nan;
          break;
        case 2: // All NaN.
          e = nan;
          break;
        case 3: // All equal but for the sign of zero.
          e = c % 3 == 0 ? -0.0f : 0.0f;
          break;
        case 4: // The largest value twice: in the vectors and in the tail.
          e = std::round(e) - 10;
          if (c == 1 || c == cols - 1)
            e = 7;
          break;
        default: // Random.
          break;
        }
      }
    std::string at = " C=" + std::to_string(cols);
    for (const char *name : {"amax", "amin"})
      expectMatches(m.kernel(name), {x}, name + at);
    expectMatches(m.kernel("ascale"), {x, Tensor::randn({rows}, DType::F32, seed++)},
                  "ascale" + at);
    Kernel aminw = m.kernel("aminw");
    std::vector<Tensor> ints = aminw.randomInputs({{"R", rows}, {"C", cols}}, seed++);
    for (int64_t e = 0; e < rows * cols; ++e)
      ints[0].data<int32_t>()[e] %= 3;
    expectMatches(aminw, ints, "aminw" + at);
    // A view 4 bytes past an aligned address: no row starts 16-byte aligned.
    std::vector<float> storage(rows * cols + 4);
    std::memcpy(storage.data() + 1, v, x.nbytes());
    Tensor shifted = Tensor::view(storage.data() + 1, {rows, cols}, DType::F32);
    expectMatches(m.kernel("amax"), {shifted}, "amax (unaligned)" + at);
  }
}

// i8 dot products summed in i32 along a row take 4 points at a time by dp4a where both factors'
// rows start 4-byte aligned (the rest one point at a time); integer sums wrap alike in every
// order, so the results equal the interpreter's bit for bit. A u8 product keeps the plain loop.
const char *kByteDotSource = R"(
kernel gemv8(w: i8[R, C], x: i8[C]) -> y: i32[R] {
    y[i] = sum(i32(w[i, k]) * i32(x[k]) for k)
}
kernel mm8t(a: i8[M, C], b: i8[N, C]) -> c: i32[M, N] {
    c[i, j] = sum(i32(b[j, k]) * i32(a[i, k]) for k) + 1
}
kernel gemvu8(w: u8[R, C], x: u8[C]) -> y: i32[R] {
    y[i] = sum(i32(w[i, k]) * i32(x[k]) for k)
}
)";

TEST(GpuSchedule, EveryByteDotProductMatchesTheInterpreter) {
  Module m = Jit(Target::cuda()).compile(kByteDotSource);
  auto kernels = [&](const char *name) { // The CUDA C after the prelude, which defines tdsl_dp4a.
    std::string cuda = m.kernel(name).dump(Stage::Cuda);
    return cuda.substr(cuda.find("// ---- end of prelude ----"));
  };
  EXPECT_TRUE(
      contains(kernels("gemv8"), "tdsl_dp4a(y_acc + 0LL, w + i * C + p * 4LL, x + p * 4LL);"))
      << kernels("gemv8");
  EXPECT_TRUE(contains(kernels("mm8t"), "tdsl_dp4a(")) << kernels("mm8t");
  EXPECT_FALSE(contains(kernels("gemvu8"), "tdsl_dp4a(")) << kernels("gemvu8");
  if (!canLaunch())
    GTEST_SKIP() << "no GPU launches: " << runtime::cuda::status().reason;
  uint64_t seed = 800;
  for (int64_t cols : {0, 1, 3, 4, 5, 7, 8, 33, 1024, 1028, 1029, 4100}) {
    std::string at = " C=" + std::to_string(cols);
    for (const char *name : {"gemv8", "gemvu8"}) {
      Kernel k = m.kernel(name);
      expectMatches(k, k.randomInputs({{"R", 5}, {"C", cols}}, seed++), name + at);
    }
    Kernel mm = m.kernel("mm8t");
    expectMatches(mm, mm.randomInputs({{"M", 3}, {"N", 5}, {"C", cols}}, seed++), "mm8t" + at);
    // Factors 1 byte past an aligned address: no row starts 4-byte aligned.
    Kernel gemv = m.kernel("gemv8");
    std::vector<Tensor> in = gemv.randomInputs({{"R", 5}, {"C", cols}}, seed++);
    std::vector<int8_t> w(in[0].nbytes() + 4), x(in[1].nbytes() + 4);
    std::memcpy(w.data() + 1, in[0].data(), in[0].nbytes());
    std::memcpy(x.data() + 1, in[1].data(), in[1].nbytes());
    expectMatches(gemv,
                  {Tensor::view(w.data() + 1, {5, cols}, DType::I8),
                   Tensor::view(x.data() + 1, {cols}, DType::I8)},
                  "gemv8 (unaligned)" + at);
  }
  // A sum past 2^31: 140000 products of -128 x -128 wrap in i32 (dp4a's words and the tail).
  Kernel gemv = m.kernel("gemv8");
  const int64_t cols = 140001;
  Tensor w = Tensor::zeros({2, cols}, DType::I8), x = Tensor::zeros({cols}, DType::I8);
  std::memset(w.data(), -128, w.nbytes());
  std::memset(x.data(), -128, x.nbytes());
  expectMatches(gemv, {w, x}, "gemv8 wrapping");
  std::vector<Tensor> got = gemv({w, x});
  EXPECT_EQ(got[0].data<int32_t>()[0], static_cast<int32_t>(static_cast<uint32_t>(cols) * 16384u));
}

TEST(GpuRoofline, TensorCoreKernelsAreJudgedAgainstTheTensorCores) {
  if (!haveGpu())
    GTEST_SKIP() << "no GPU launches: " << runtime::cuda::status().reason;
  CalibrationOptions calibration;
  calibration.cacheDir = testing::TempDir() + "/tdsl-gpu-roofline";
  calibration.force = true;
  Ceilings c = calibrate(Target::cuda(), calibration);
  // bf16 tensor cores: several times the f32 FMA rate on every sm_80+ part (about 15x on H100).
  EXPECT_GT(c.matrixPeakGflops, 4 * c.peakGflops1) << c.json();
  // Cached with the rest, and read back.
  calibration.force = false;
  Ceilings again = calibrate(Target::cuda(), calibration);
  EXPECT_TRUE(again.fromCache);
  EXPECT_NEAR(again.matrixPeakGflops, c.matrixPeakGflops, 1e-3 * c.matrixPeakGflops); // 4 digits.

  Module m = module();
  ProfileOptions options;
  options.runs = 5;
  options.ceilings = c;
  std::map<std::string, int64_t> shape = {{"M", 2048}, {"K", 2048}, {"N", 2048}};
  Kernel bf16 = m.kernel("mmb");
  Profile p = bf16.profile(bf16.randomInputs(shape, 1), options);
  EXPECT_TRUE(p.tensorCores);
  EXPECT_EQ(p.bound, "compute");
  EXPECT_GT(p.rooflineFraction, 0.05);
  EXPECT_LT(p.rooflineFraction, 1.05) << "above the tensor cores' measured peak";
  shape["N"] = 2049; // The f32 kernel (a bias too) on the FMA pipes.
  Kernel f32 = m.kernel("mm");
  Profile q = f32.profile(f32.randomInputs(shape, 2), options);
  EXPECT_FALSE(q.tensorCores);
  EXPECT_LT(q.rooflineFraction, 1.05);
}

} // namespace
