"""The PyTorch peers of bench/gpu/bench_gpu.cpp: eager, torch.compile, cuBLAS (through
torch.matmul) and a device-to-device copy, at the same sizes, timed with CUDA events (median after
warm-up). Prints the same CSV: workload,ms,GB/s,TFLOP/s,note.

    python3 bench/gpu/peers.py [--quick] [--only NAME,NAME...]

--only measures the named workloads (the names printed before the @, such as softmax_4096,
sgemm_4096 or attention_bf16) and skips the others, torch.compile's compilations included.
"""
import math
import sys

import torch


def median_ms(fn, warmup=3, repeats=20):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    times.sort()
    return times[len(times) // 2]


ONLY = None  # The workloads --only names, or None for all.


def wanted(name):
    return ONLY is None or name in ONLY


def row(name, ms, nbytes, flops, note):
    print(f"{name},{ms:.4f},{nbytes / ms / 1e6:.1f},{flops / ms / 1e9:.3f},{note}", flush=True)


def coscos(x):
    return torch.cos(torch.cos(x))


def gelu_tanh(x):
    return 0.5 * x * (1 + torch.tanh(0.7978845608 * (x + 0.044715 * x * x * x)))


def softmax(x):
    return torch.softmax(x, dim=1)


def layernorm(x):
    return torch.nn.functional.layer_norm(x, (x.shape[1],), eps=1e-5)


def rowsum(x):
    return x.sum(dim=1)


def colsum(x):
    return x.sum(dim=0)


def transpose(x):
    return x.t().contiguous()


def total(x):
    return x.sum()


def cumsum(x):
    return torch.cumsum(x, dim=1)


def argmax_rows(x):
    return torch.argmax(x, dim=1)


def embedding(table, ids):
    return torch.nn.functional.embedding(ids, table)


def main():
    global ONLY
    quick = "--quick" in sys.argv
    if "--only" in sys.argv:
        ONLY = set(sys.argv[sys.argv.index("--only") + 1].split(","))
    torch.manual_seed(0)
    n = (1 << 24) if quick else (1 << 28)
    R, C = (1024 if quick else 16384), 8192
    print(f"# torch {torch.__version__}, {torch.cuda.get_device_name()}")
    print("workload,ms,GB/s,TFLOP/s,note")
    x = torch.randn(n, device="cuda")
    y = torch.empty_like(x)
    if wanted("copy_d2d"):
        row("copy_d2d", median_ms(lambda: y.copy_(x)), 2 * x.numel() * 4, 0, "torch copy_")
    xr = torch.randn(R, C, device="cuda")
    s = 4096 if quick else 8192
    xs = torch.randn(s, s, device="cuda")
    cases = [("coscos", coscos, x, 2 * x.numel() * 4),
             ("gelu_tanh", gelu_tanh, x, 2 * x.numel() * 4),
             ("softmax", softmax, xr, 2 * xr.numel() * 4),
             ("layernorm", layernorm, xr, 2 * xr.numel() * 4),
             ("rowsum", rowsum, xr, xr.numel() * 4 + R * 4),
             ("colsum", colsum, xr, xr.numel() * 4 + C * 4),
             ("transpose", transpose, xs, 2 * xs.numel() * 4),
             ("total", total, x, x.numel() * 4)]
    for name, fn, inp, nbytes in cases:
        if not wanted(name):
            continue
        row(name + "@eager", median_ms(lambda: fn(inp)), nbytes, 0, "torch eager")
        compiled = torch.compile(fn)
        row(name + "@compile", median_ms(lambda: compiled(inp)), nbytes, 0, "torch.compile")
    long_rows = torch.randn(R * C // 65536, 65536, device="cuda")
    for name, fn, inp, nbytes in [("cumsum", cumsum, xr, 2 * xr.numel() * 4),
                                  ("cumsum_65536", cumsum, long_rows, 2 * xr.numel() * 4),
                                  ("argmax_rows", argmax_rows, xr, xr.numel() * 4 + R * 8)]:
        if not wanted(name):
            continue
        row(name + "@eager", median_ms(lambda: fn(inp)), nbytes, 0, "torch eager")
        compiled = torch.compile(fn)
        row(name + "@compile", median_ms(lambda: compiled(inp)), nbytes, 0, "torch.compile")
    def rmsnorm(x, g):
        return x * torch.rsqrt((x * x).mean(dim=1, keepdim=True) + 1e-6) * g

    def logsumexp(x):
        return torch.logsumexp(x, dim=1)

    # Rows of other lengths (issue 19): (rows, columns) as in bench_gpu.cpp.
    for rows, cols in [(65536, 1536), (16384, 4096), (16384, 6000), (16384, 8192), (8192, 16384),
                       (4096, 32768)]:
        xc = torch.randn(rows // 16 if quick else rows, cols, device="cuda")
        g = torch.randn(cols, device="cuda")
        nbytes = 2 * xc.numel() * 4
        for name, fn, args in [("softmax", softmax, (xc,)), ("layernorm", layernorm, (xc,)),
                               ("rmsnorm", rmsnorm, (xc, g))]:
            if cols == C and name != "rmsnorm":
                continue
            key = f"{name}_{cols}"
            if not wanted(key):
                continue
            row(key + "@eager", median_ms(lambda: fn(*args)), nbytes, 0, "torch eager")
            compiled = torch.compile(fn)
            row(key + "@compile", median_ms(lambda: compiled(*args)), nbytes, 0, "torch.compile")
        del xc
    if wanted("logsumexp_32000"):
        xv = torch.randn(256 if quick else 4096, 32000, device="cuda")
        nbytes = xv.numel() * 4 + xv.shape[0] * 4
        row("logsumexp_32000@eager", median_ms(lambda: logsumexp(xv)), nbytes, 0, "torch eager")
        compiled_lse = torch.compile(logsumexp)
        row("logsumexp_32000@compile", median_ms(lambda: compiled_lse(xv)), nbytes, 0,
            "torch.compile")
        del xv
    if wanted("embedding"):
        tokens = 8192 if quick else 65536
        table = torch.randn(50000, 1024, device="cuda")
        ids = torch.randint(0, 50000, (tokens,), device="cuda", dtype=torch.int32)
        nbytes = 2 * tokens * 1024 * 4 + tokens * 4
        row("embedding@eager", median_ms(lambda: embedding(table, ids)), nbytes, 0, "torch eager")
        compiled_embedding = torch.compile(embedding)
        row("embedding@compile", median_ms(lambda: compiled_embedding(table, ids)), nbytes, 0,
            "torch.compile")
        del table
    for s in ([1024] if quick else [4096, 8192]):
        if not wanted(f"sgemm_{s}"):
            continue
        a, b = torch.randn(s, s, device="cuda"), torch.randn(s, s, device="cuda")
        torch.backends.cuda.matmul.allow_tf32 = False
        row(f"sgemm_{s}@cublas", median_ms(lambda: a @ b, 2, 5), 3 * s * s * 4, 2.0 * s ** 3,
            "cuBLAS fp32")
    s = 1024 if quick else 8192
    if wanted(f"bf16_gemm_{s}"):
        a = torch.randn(s, s, device="cuda", dtype=torch.bfloat16)
        b = torch.randn(s, s, device="cuda", dtype=torch.bfloat16)
        row(f"bf16_gemm_{s}@cublas", median_ms(lambda: a @ b, 2, 5), 3 * s * s * 2, 2.0 * s ** 3,
            "cuBLAS bf16")
    # Issue 19's contractions: GEMM + bias + GELU (fp32), small batched bf16 products, attention.
    s = 1024 if quick else 4096
    torch.backends.cuda.matmul.allow_tf32 = False

    def gemm_bias_gelu(a, b, bias):
        h = a @ b + bias
        return 0.5 * h * (1 + torch.tanh(0.7978845608 * (h + 0.044715 * h * h * h)))

    if wanted(f"gemm_bias_gelu_{s}"):
        a, b = torch.randn(s, s, device="cuda"), torch.randn(s, s, device="cuda")
        bias = torch.randn(s, device="cuda")
        fl = 2.0 * s ** 3
        row(f"gemm_bias_gelu_{s}@eager", median_ms(lambda: gemm_bias_gelu(a, b, bias), 2, 5),
            3 * s * s * 4, fl, "torch eager (cuBLAS fp32)")
        compiled_gbg = torch.compile(gemm_bias_gelu)
        row(f"gemm_bias_gelu_{s}@compile", median_ms(lambda: compiled_gbg(a, b, bias), 2, 5),
            3 * s * s * 4, fl, "torch.compile")
    if wanted("batched_bf16") or wanted("batched_bf16_out"):  # The peer of both: bf16 output.
        a = torch.randn(64, 512, 64, device="cuda", dtype=torch.bfloat16)
        b = torch.randn(64, 64, 512, device="cuda", dtype=torch.bfloat16)
        row("batched_bf16@cublas", median_ms(lambda: torch.bmm(a, b)), 2 * 64 * 512 * 64 * 2 +
            64 * 512 * 512 * 2, 2.0 * 64 * 512 * 64 * 512, "cuBLAS bmm bf16 (bf16 output)")
    heads = 8 if quick else 64
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def attention(suffix, length, dim):
        q, k, v = (torch.randn(1, heads, length, dim, device="cuda", dtype=torch.bfloat16)
                   for _ in range(3))
        fl = 4.0 * heads * length * length * dim
        row(f"attention_bf16{suffix}@sdpa", median_ms(lambda: sdpa(q, k, v)), 4 * q.numel() * 2,
            fl, "scaled_dot_product_attention (bf16 output)")
        row(f"attention_causal_bf16{suffix}@sdpa",
            median_ms(lambda: sdpa(q, k, v, is_causal=True)), 4 * q.numel() * 2, fl / 2,
            "scaled_dot_product_attention, is_causal (bf16 output)")

    if wanted("attention_bf16") or wanted("attention_causal_bf16"):
        attention("", 1024, 64)
    if wanted("attention_shapes"):
        for length, dim in ((4096, 64), (1024, 128), (4096, 128)):
            attention(f"_{length}x{dim}", length, dim)
    if not wanted("launch_overhead_us"):
        return
    t = torch.randn(1, device="cuda")
    for _ in range(1000):
        t + 1
    torch.cuda.synchronize()
    import time
    start = time.perf_counter()
    for _ in range(20000):
        t + 1
    host = (time.perf_counter() - start) / 20000 * 1e6
    torch.cuda.synchronize()
    row("launch_overhead_us@eager", host / 1000.0, 0, 0, f"host us/call {host:.3f}")


if __name__ == "__main__":
    main()
