// The text every kernel's CUDA C starts with, and the Hopper helpers only wgmma kernels need.
#include "codegen/cuda/CudaPrelude.h"

namespace tdsl::codegen {

namespace {

// The prelude. Integer helpers compute in unsigned arithmetic, where C++ defines wrap-around.
constexpr const char *kPrelude =
    R"CUDA(// ---- tdsl prelude: the scalar semantics every tdsl backend shares ----
typedef unsigned short tdsl_f16;  // IEEE binary16 bits: a storage type, arithmetic is in f32.
typedef unsigned short tdsl_bf16; // bfloat16 bits: a storage type, arithmetic is in f32.
#define TDSL_FN static __device__ __forceinline__

// Integer add/sub/mul/neg wrap in two's complement.
TDSL_FN int tdsl_add(int a, int b) { return (int)((unsigned)a + (unsigned)b); }
TDSL_FN int tdsl_sub(int a, int b) { return (int)((unsigned)a - (unsigned)b); }
TDSL_FN int tdsl_mul(int a, int b) { return (int)((unsigned)a * (unsigned)b); }
TDSL_FN int tdsl_neg(int a) { return (int)(0u - (unsigned)a); }
TDSL_FN long long tdsl_add(long long a, long long b) {
  return (long long)((unsigned long long)a + (unsigned long long)b);
}
TDSL_FN long long tdsl_sub(long long a, long long b) {
  return (long long)((unsigned long long)a - (unsigned long long)b);
}
TDSL_FN long long tdsl_mul(long long a, long long b) {
  return (long long)((unsigned long long)a * (unsigned long long)b);
}
TDSL_FN long long tdsl_neg(long long a) { return (long long)(0ull - (unsigned long long)a); }

// Python floor division and modulo: x // 0 == x % 0 == 0; MIN // -1 wraps to MIN.
template <typename T> TDSL_FN T tdsl_floordiv_int(T a, T b) {
  if (b == 0) return 0;
  if (b == -1) return tdsl_neg(a);
  T q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0))) q = q - 1;
  return q;
}
template <typename T> TDSL_FN T tdsl_mod_int(T a, T b) {
  if (b == 0 || b == -1) return 0;
  T r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r = r + b;
  return r;
}
TDSL_FN int tdsl_floordiv(int a, int b) { return tdsl_floordiv_int(a, b); }
TDSL_FN int tdsl_mod(int a, int b) { return tdsl_mod_int(a, b); }
// Index arithmetic divides non-negative values below 2^32 nearly always: divide in 32 bits then,
// several times faster than a 64-bit division.
TDSL_FN long long tdsl_floordiv(long long a, long long b) {
  if ((((unsigned long long)a | (unsigned long long)b) >> 32) == 0)
    return b == 0 ? 0 : (long long)((unsigned)a / (unsigned)b);
  return tdsl_floordiv_int(a, b);
}
TDSL_FN long long tdsl_mod(long long a, long long b) {
  if ((((unsigned long long)a | (unsigned long long)b) >> 32) == 0)
    return b == 0 ? 0 : (long long)((unsigned)a % (unsigned)b);
  return tdsl_mod_int(a, b);
}
TDSL_FN float tdsl_floordiv(float a, float b) { return floorf(a / b); }
TDSL_FN double tdsl_floordiv(double a, double b) { return floor(a / b); }
TDSL_FN float tdsl_mod(float a, float b) {
  float r = fmodf(a, b);
  if (r != 0.0f && ((r < 0.0f) != (b < 0.0f))) r += b;
  return r;
}
TDSL_FN double tdsl_mod(double a, double b) {
  double r = fmod(a, b);
  if (r != 0.0 && ((r < 0.0) != (b < 0.0))) r += b;
  return r;
}

// Integer power by repeated squaring (wrapping); a negative exponent gives 0 except for the
// bases 1 and -1.
TDSL_FN int tdsl_pow(int a, int b) {
  if (b < 0) return a == 1 ? 1 : a == -1 ? ((b & 1) ? -1 : 1) : 0;
  unsigned r = 1u, x = (unsigned)a;
  for (; b != 0; b >>= 1) {
    if (b & 1) r *= x;
    x *= x;
  }
  return (int)r;
}
TDSL_FN long long tdsl_pow(long long a, long long b) {
  if (b < 0) return a == 1 ? 1 : a == -1 ? ((b & 1) ? -1 : 1) : 0;
  unsigned long long r = 1ull, x = (unsigned long long)a;
  for (; b != 0; b >>= 1) {
    if (b & 1) r *= x;
    x *= x;
  }
  return (long long)r;
}

// IEEE 754-2019 maximum/minimum: NaN propagates and -0.0 < +0.0 (fmaxf does neither).
TDSL_FN float tdsl_max(float a, float b) {
  if (a != a || b != b) return a + b;
  if (a == b) return __float_as_int(a) < 0 ? b : a;
  return a > b ? a : b;
}
TDSL_FN float tdsl_min(float a, float b) {
  if (a != a || b != b) return a + b;
  if (a == b) return __float_as_int(a) < 0 ? a : b;
  return a < b ? a : b;
}
TDSL_FN double tdsl_max(double a, double b) {
  if (a != a || b != b) return a + b;
  if (a == b) return __double_as_longlong(a) < 0 ? b : a;
  return a > b ? a : b;
}
TDSL_FN double tdsl_min(double a, double b) {
  if (a != a || b != b) return a + b;
  if (a == b) return __double_as_longlong(a) < 0 ? a : b;
  return a < b ? a : b;
}
TDSL_FN int tdsl_max(int a, int b) { return a > b ? a : b; }
TDSL_FN int tdsl_min(int a, int b) { return a < b ? a : b; }
TDSL_FN long long tdsl_max(long long a, long long b) { return a > b ? a : b; }
TDSL_FN long long tdsl_min(long long a, long long b) { return a < b ? a : b; }

TDSL_FN float tdsl_relu(float x) { return tdsl_max(x, 0.0f); }
TDSL_FN double tdsl_relu(double x) { return tdsl_max(x, 0.0); }
TDSL_FN int tdsl_relu(int x) { return x > 0 ? x : 0; }
TDSL_FN long long tdsl_relu(long long x) { return x > 0 ? x : 0; }
TDSL_FN int tdsl_abs(int x) { return x < 0 ? tdsl_neg(x) : x; }
TDSL_FN long long tdsl_abs(long long x) { return x < 0 ? tdsl_neg(x) : x; }
TDSL_FN float tdsl_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
TDSL_FN double tdsl_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
TDSL_FN float tdsl_rsqrt(float x) { return 1.0f / sqrtf(x); }
TDSL_FN double tdsl_rsqrt(double x) { return 1.0 / sqrt(x); }

// Float to integer: truncate toward zero, saturate, NaN gives 0.
TDSL_FN int tdsl_to_i32(float x) {
  return x != x ? 0 : x >= 2147483648.0f ? 2147483647 : x <= -2147483648.0f ? (-2147483647 - 1) : (int)x;
}
TDSL_FN int tdsl_to_i32(double x) {
  return x != x ? 0 : x >= 2147483648.0 ? 2147483647 : x <= -2147483648.0 ? (-2147483647 - 1) : (int)x;
}
TDSL_FN long long tdsl_to_i64(float x) {
  return x != x ? 0 : x >= 9223372036854775808.0f ? 9223372036854775807LL
       : x <= -9223372036854775808.0f ? (-9223372036854775807LL - 1) : (long long)x;
}
TDSL_FN long long tdsl_to_i64(double x) {
  return x != x ? 0 : x >= 9223372036854775808.0 ? 9223372036854775807LL
       : x <= -9223372036854775808.0 ? (-9223372036854775807LL - 1) : (long long)x;
}

// f16 and bf16, round to nearest even. A double is first rounded to float toward zero with a
// sticky last bit (round to odd), which makes the second rounding exact.
TDSL_FN tdsl_f16 tdsl_f2h(float f) {
  unsigned x = __float_as_uint(f);
  unsigned sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return (tdsl_f16)(sign | (ax > 0x7f800000u ? 0x7e00u : 0x7c00u));
  if (ax >= 0x477ff000u) return (tdsl_f16)(sign | 0x7c00u); // rounds to >= 65520: inf
  if (ax >= 0x38800000u)                                    // normal: rebias, round, shift
    return (tdsl_f16)(sign | ((ax - 0x38000000u + 0xfffu + ((ax >> 13) & 1u)) >> 13));
  int shift = 126 - (int)(ax >> 23);                        // subnormal: units of 2^-24
  if (shift > 24) return (tdsl_f16)sign;
  unsigned m = (ax & 0x7fffffu) | 0x800000u;
  unsigned q = m >> shift, rest = m & ((1u << shift) - 1u), half = 1u << (shift - 1);
  if (rest > half || (rest == half && (q & 1u))) q += 1u;
  return (tdsl_f16)(sign | q);
}
TDSL_FN float tdsl_h2f(tdsl_f16 h) {
  unsigned sign = ((unsigned)h & 0x8000u) << 16, e = ((unsigned)h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0x1fu) return __uint_as_float(sign | 0x7f800000u | (m << 13));
  if (e == 0u) {
    float v = (float)m * 5.9604644775390625e-8f; // m * 2^-24, exact
    return sign ? -v : v;
  }
  return __uint_as_float(sign | ((e + 112u) << 23) | (m << 13));
}
TDSL_FN tdsl_bf16 tdsl_f2bf(float f) {
  unsigned x = __float_as_uint(f);
  tdsl_bf16 nan = (tdsl_bf16)((x >> 16) | 0x40u); // Quieted, its sign and payload kept.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  // The same rounding in one instruction; NaN becomes the canonical one there, so not for NaN.
  tdsl_bf16 r;
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(r) : "f"(f));
  return (x & 0x7fffffffu) > 0x7f800000u ? nan : r;
#else
  if ((x & 0x7fffffffu) > 0x7f800000u) return nan;
  return (tdsl_bf16)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
#endif
}
TDSL_FN float tdsl_bf2f(tdsl_bf16 b) { return __uint_as_float((unsigned)b << 16); }
TDSL_FN float tdsl_round_to_odd(double d) {
  float f = __double2float_rz(d);
  if ((double)f != d && d == d) f = __uint_as_float(__float_as_uint(f) | 1u);
  return f;
}
TDSL_FN tdsl_f16 tdsl_d2h(double d) { return tdsl_f2h(tdsl_round_to_odd(d)); }
TDSL_FN tdsl_bf16 tdsl_d2bf(double d) { return tdsl_f2bf(tdsl_round_to_odd(d)); }

// Warp shuffles for combining the threads' partial reductions.
TDSL_FN float tdsl_shfl_xor(float v, int m) { return __shfl_xor_sync(0xffffffffu, v, m); }
TDSL_FN double tdsl_shfl_xor(double v, int m) { return __shfl_xor_sync(0xffffffffu, v, m); }
TDSL_FN int tdsl_shfl_xor(int v, int m) { return __shfl_xor_sync(0xffffffffu, v, m); }
TDSL_FN long long tdsl_shfl_xor(long long v, int m) { return __shfl_xor_sync(0xffffffffu, v, m); }
TDSL_FN bool tdsl_shfl_xor(bool v, int m) { return __shfl_xor_sync(0xffffffffu, (int)v, m) != 0; }

// GPU intrinsics of loop IR (ir::GpuIntrinsic). mma_sync (sm_80+): d[0..4) += A x B for one
// m16n8k16 tile, f32 accumulation, the fragments two 16-bit values a register. The CPU's model
// of the GPU (CudaEmulator.cpp) runs the same warp-collective operation.
#ifdef TDSL_CUDA_EMULATION
TDSL_FN void tdsl_mma_sync_bf16(float *d, const unsigned short *a, const unsigned short *b) {
  tdsl_emu_mma_m16n8k16(d, a, b, tdsl_bf2f);
}
TDSL_FN void tdsl_mma_sync_f16(float *d, const unsigned short *a, const unsigned short *b) {
  tdsl_emu_mma_m16n8k16(d, a, b, tdsl_h2f);
}
#else
#define TDSL_MMA_SYNC(name, type)                                                                  \
  TDSL_FN void name(float *d, const unsigned short *a, const unsigned short *b) {                 \
    const unsigned *x = (const unsigned *)a, *y = (const unsigned *)b;                             \
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32." type "." type                            \
                 ".f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"            \
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])                                  \
                 : "r"(x[0]), "r"(x[1]), "r"(x[2]), "r"(x[3]), "r"(y[0]), "r"(y[1]));              \
  }
TDSL_MMA_SYNC(tdsl_mma_sync_bf16, "bf16")
TDSL_MMA_SYNC(tdsl_mma_sync_f16, "f16")
#undef TDSL_MMA_SYNC
#endif
// ldmatrix.m8n8.x4 (sm_75+): lane l's pointer starts row l % 8 of matrix l / 8; d[2i], d[2i + 1]
// get row l / 4, columns 2 (l % 4) + {0, 1} of matrix i (.trans: rows 2 (l % 4) + {0, 1} at
// column l / 4). Emulated as an exchange of the row pointers within the warp.
#ifdef TDSL_CUDA_EMULATION
template <bool Trans> TDSL_FN void tdsl_emu_ldmatrix(unsigned short *d, const unsigned short *s) {
  unsigned me = threadIdx.x, warp = me & ~31u, lane = me & 31u;
  tdsl_emu_lanes[me] = (unsigned long long)(size_t)s;
  __syncwarp();
  auto row = [&](unsigned from) {
    return from < blockDim.x ? (const unsigned short *)(size_t)tdsl_emu_lanes[from] : nullptr;
  };
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j) {
      const unsigned short *r = Trans ? row(warp + 8 * i + 2 * (lane % 4) + j) : row(warp + 8 * i + lane / 4);
      d[2 * i + j] = r ? r[Trans ? lane / 4 : 2 * (lane % 4) + j] : 0; // A lane short: zeros.
    }
  __syncwarp(); // Nobody publishes its next row before every lane has read this one.
}
TDSL_FN void tdsl_ldmatrix_x4(unsigned short *d, const unsigned short *s) { tdsl_emu_ldmatrix<false>(d, s); }
TDSL_FN void tdsl_ldmatrix_trans_x4(unsigned short *d, const unsigned short *s) { tdsl_emu_ldmatrix<true>(d, s); }
#else
// volatile and a memory clobber: the shared tile is written by other threads before a barrier,
// so the load stays after it.
TDSL_FN void tdsl_ldmatrix_x4(unsigned short *d, const unsigned short *s) {
  unsigned *r = (unsigned *)d, at = (unsigned)__cvta_generic_to_shared(s);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(at) : "memory");
}
TDSL_FN void tdsl_ldmatrix_trans_x4(unsigned short *d, const unsigned short *s) {
  unsigned *r = (unsigned *)d, at = (unsigned)__cvta_generic_to_shared(s);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(at) : "memory");
}
#endif
// cp.async into a plain shared tile (sm_80+): 16 bytes, in flight until the thread's wait for
// its group; commit and wait serve the swizzled tiles' copies too. Emulated as a copy at once
// (a copy may land any time before the wait).
#ifdef TDSL_CUDA_EMULATION
TDSL_FN void tdsl_cp_async(void *dst, const void *src) { __builtin_memcpy(dst, src, 16); }
TDSL_FN void tdsl_cp_async_commit() {}
template <int N> TDSL_FN void tdsl_cp_async_wait() {}
#else
TDSL_FN void tdsl_cp_async(void *dst, const void *src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" :: "r"((unsigned)__cvta_generic_to_shared(dst)), "l"(src) : "memory");
}
TDSL_FN void tdsl_cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N> TDSL_FN void tdsl_cp_async_wait() {
  asm volatile("cp.async.wait_group %0;" :: "n"(N) : "memory");
}
#endif
// round_pair and ex2_approx (sm_80+): for values rounded to 16 bits next. The emulation rounds
// as the casts do and flushes 2^x below 2^-126 to 0 as the hardware does. max_nan (sm_80+):
// NaN propagates.
#ifdef TDSL_CUDA_EMULATION
TDSL_FN void tdsl_round_pair_bf16(unsigned short *d, const float *s) {
  d[0] = tdsl_f2bf(s[0]);
  d[1] = tdsl_f2bf(s[1]);
}
TDSL_FN void tdsl_round_pair_f16(unsigned short *d, const float *s) {
  d[0] = tdsl_f2h(s[0]);
  d[1] = tdsl_f2h(s[1]);
}
TDSL_FN void tdsl_ex2_approx(float *d, const float *s) {
  float r = exp2f(s[0]);
  *d = r < 1.17549435e-38f ? 0.0f : r;
}
TDSL_FN void tdsl_max_nan(float *d, const float *s) {
  *d = *d != *d || s[0] != s[0] ? *d + s[0] : fmaxf(*d, s[0]);
}
#else
// cvt's first operand goes to the upper half: s[1] there, s[0] in the lower (d[0]).
TDSL_FN void tdsl_round_pair_bf16(unsigned short *d, const float *s) {
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(*(unsigned *)d) : "f"(s[1]), "f"(s[0]));
}
TDSL_FN void tdsl_round_pair_f16(unsigned short *d, const float *s) {
  asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(*(unsigned *)d) : "f"(s[1]), "f"(s[0]));
}
TDSL_FN void tdsl_ex2_approx(float *d, const float *s) {
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(*d) : "f"(s[0]));
}
TDSL_FN void tdsl_max_nan(float *d, const float *s) {
  asm("max.NaN.f32 %0, %0, %1;" : "+f"(*d) : "f"(s[0]));
}
#endif
// dp4a (sm_61+): d[0] += the dot product of the 4 i8 at a and the 4 at b (each 4-byte aligned),
// wrapping as i32 addition does.
TDSL_FN void tdsl_dp4a(int *d, const signed char *a, const signed char *b) {
  *d = __dp4a(*(const int *)a, *(const int *)b, *d);
}
// ---- end of prelude ----
)CUDA";

constexpr const char *kStridedCopyKernels = R"CUDA(
// ---- strided copies (tdsl aot) ----
// runtime/AotCuda.cpp's StridedCopyArgs has this layout.
struct tdsl_strided_copy_args {
  long long shape[8], strides[8]; // The view's, strides in elements.
  long long count;                // Elements: the product of the shape.
  int rank;
  int to_view; // 1: contiguous -> view (an output copied out); 0: view -> contiguous.
};
template <typename T>
static __device__ __forceinline__ void tdsl_strided_copy(T *contiguous, T *view,
                                                         const tdsl_strided_copy_args &a) {
  long long step = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < a.count; i += step) {
    long long rest = i, offset = 0;
    for (int d = a.rank - 1; d >= 0; --d) {
      offset += rest % a.shape[d] * a.strides[d];
      rest /= a.shape[d];
    }
    if (a.to_view)
      view[offset] = contiguous[i];
    else
      contiguous[i] = view[offset];
  }
}
#define TDSL_STRIDED_COPY(bytes, type)                                                             \
  extern "C" __global__ void tdsl_strided_copy_##bytes(type *c, type *v,                           \
                                                       tdsl_strided_copy_args a) {                 \
    tdsl_strided_copy(c, v, a);                                                                    \
  }
TDSL_STRIDED_COPY(1, unsigned char)
TDSL_STRIDED_COPY(2, unsigned short)
TDSL_STRIDED_COPY(4, unsigned int)
TDSL_STRIDED_COPY(8, unsigned long long)
#undef TDSL_STRIDED_COPY
)CUDA";

/// The helpers of the swizzled-tile and wgmma ops (ir::GpuOp) but the wgmmas themselves.
constexpr const char *kWgmmaPrelude = R"CUDA(
// Swizzled shared tiles (sm_80+ for cp.async, sm_90a for wgmma), named by 32-bit shared
// addresses: a pointer's shared address; where the 128-byte swizzle puts the 16 bytes at
// address a; the bytes from p to the next 1024-byte boundary (computed opaquely, so that nvcc
// assumes no alignment it is not given). The CPU's model of the GPU (CudaEmulator.cpp) keeps
// swizzled tiles in its dynamic shared memory, addressed from its start; its wgmma is
// synchronous (a legal schedule of the asynchronous one), so fences and waits do nothing.
TDSL_FN unsigned tdsl_swizzled(unsigned a) { return a ^ ((a >> 3) & 0x70u); }
#ifdef TDSL_CUDA_EMULATION
TDSL_FN unsigned tdsl_shared_address(const void *p) {
  return (unsigned)((const unsigned char *)p - tdsl_smem);
}
TDSL_FN unsigned tdsl_to_1024(const unsigned char *p) { return (0u - tdsl_shared_address(p)) & 1023u; }
TDSL_FN void tdsl_cp_async(unsigned dst, const void *src) {
  __builtin_memcpy(tdsl_smem + tdsl_swizzled(dst), src, 16);
}
TDSL_FN void tdsl_st_swizzled(unsigned dst, const unsigned short *v) {
  __builtin_memcpy(tdsl_smem + tdsl_swizzled(dst), v, 16);
}
TDSL_FN void tdsl_fence_async() {}
TDSL_FN void tdsl_wgmma_fence(float *) {}
TDSL_FN void tdsl_wgmma_commit() {}
template <int N> TDSL_FN void tdsl_wgmma_wait(float *) {}
#else
TDSL_FN unsigned tdsl_shared_address(const void *p) { return (unsigned)__cvta_generic_to_shared(p); }
TDSL_FN unsigned tdsl_to_1024(const unsigned char *p) {
  unsigned a;
  asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
  return (0u - a) & 1023u;
}
TDSL_FN void tdsl_cp_async(unsigned dst, const void *src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" :: "r"(tdsl_swizzled(dst)), "l"(src) : "memory");
}
TDSL_FN void tdsl_st_swizzled(unsigned dst, const unsigned short *v) {
  const unsigned *w = (const unsigned *)v;
  asm volatile("st.shared.v4.b32 [%0], {%1, %2, %3, %4};" :: "r"(tdsl_swizzled(dst)), "r"(w[0]),
               "r"(w[1]), "r"(w[2]), "r"(w[3]) : "memory");
}
TDSL_FN void tdsl_fence_async() { asm volatile("fence.proxy.async.shared::cta;" ::: "memory"); }
// wgmma reads and writes the accumulators asynchronously: the compiler must not move their
// accesses across its fences and waits.
TDSL_FN void tdsl_pin128(float *d) {
#pragma unroll
  for (int r = 0; r < 128; ++r) asm volatile("" : "+f"(d[r]) :: "memory");
}
TDSL_FN void tdsl_wgmma_fence(float *d) {
  tdsl_pin128(d);
  asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
}
TDSL_FN void tdsl_wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
template <int N> TDSL_FN void tdsl_wgmma_wait(float *d) {
  asm volatile("wgmma.wait_group.sync.aligned %0;" :: "n"(N) : "memory");
  tdsl_pin128(d);
}
#endif
)CUDA";

} // namespace

const char *stridedCopyKernels() { return kStridedCopyKernels; }

const char *cudaPrelude() { return kPrelude; }

std::string wgmmaDescriptor(const std::string &address, int leadingBytes, int strideBytes) {
  return "((" + address + " & 0x3FFFF) >> 4) | (" + std::to_string(leadingBytes >> 4) +
         "ull << 16) | (" + std::to_string(strideBytes >> 4) + "ull << 32) | (1ull << 62)";
}

std::string alignedSharedBase(const std::string &name, const std::string &array) {
  return "unsigned " + name + ";\nasm(\"{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, " +
         "t; }\" : \"=r\"(" + name + ") : \"l\"(" + array + "));\n" + name + " = (" + name +
         " + 1023u) & ~1023u;";
}

std::string wgmmaStatement(const std::string &type, bool transposeB, const std::string &acc,
                           const std::string &descA, const std::string &descB) {
  std::string regs, outs;
  for (int r = 0; r < 128; ++r) {
    regs += (r ? ", %" : "%") + std::to_string(r);
    outs += std::string(r ? ", " : "") + "\"+f\"(" + acc + "[" + std::to_string(r) + "])";
  }
  return "asm volatile(\"{ .reg .pred p; setp.ne.b32 p, %130, 0; "
         "wgmma.mma_async.sync.aligned.m64n256k16.f32." +
         type + "." + type + " {" + regs + "}, %128, %129, p, 1, 1, 0, " +
         (transposeB ? "1" : "0") + "; }\"\n  : " + outs + "\n  : \"l\"(" + descA + "), \"l\"(" +
         descB + "), \"r\"(1) : \"memory\");";
}

/// kWgmmaPrelude, then tdsl_wgmma_<type>_<kmajor|jmajor>(d, a, b) for bf16 and f16: the Wgmma op on
/// the tiles at 32-bit shared addresses a and b (ir::GpuOp): 1 KiB between groups of 8 rows of
/// either; a j-major B has 8 KiB between its blocks of 64 j (the descriptor's leading offset,
/// unused k-major: 16). The model's (tdsl_emu_wgmma) under emulation. Ends with the prelude's
/// closing line.
std::string wgmmaHelpers() {
  std::string out = kWgmmaPrelude;
  out += "#ifdef TDSL_CUDA_EMULATION\n";
  for (const char *type : {"bf16", "f16"})
    for (bool jMajor : {false, true})
      out += "TDSL_FN void tdsl_wgmma_" + std::string(type) + (jMajor ? "_jmajor" : "_kmajor") +
             "(float *d, unsigned a, unsigned b) { tdsl_emu_wgmma(d, a, b, " +
             (jMajor ? "true" : "false") + ", " +
             (type == std::string("bf16") ? "tdsl_bf2f" : "tdsl_h2f") + ", tdsl_swizzled); }\n";
  out += "#else\n";
  for (const char *type : {"bf16", "f16"})
    for (bool jMajor : {false, true}) {
      out += "TDSL_FN void tdsl_wgmma_" + std::string(type) + (jMajor ? "_jmajor" : "_kmajor") +
             "(float *tdsl_d, unsigned a, unsigned b) {\n";
      out += "  const unsigned long long tdsl_da = " + wgmmaDescriptor("a", 16, 1024) + ";\n";
      out +=
          "  const unsigned long long tdsl_db = " + wgmmaDescriptor("b", jMajor ? 8192 : 16, 1024) +
          ";\n";
      out += "  " + wgmmaStatement(type, jMajor, "tdsl_d", "tdsl_da", "tdsl_db") + "\n}\n";
    }
  out += "#endif\n// ---- end of prelude ----\n";
  return out;
}

} // namespace tdsl::codegen
