#!/usr/bin/env python3
"""The "room at the top" table rebuilt on this machine, for an n x n x n f32 matrix product.

/usr/bin/python3 bench/room_at_the_top/run.py [--tdsl build/bin/tdsl] [--n 1024] [--threads 2]

Rows: a Python triple loop (timed at --python-n and extrapolated by n³: it is never run for
hours), naive C loops, loop order i-k-j, tiled C (64³ blocks), tdsl one thread and --threads
threads (`c[i, j] = sum(a[i, k] * b[k, j] for k)`, bench/gemm.tdsl) and OpenBLAS (same thread
counts). Best of a few runs each; prints a Markdown table with speedups over Python.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import random

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
SOURCE = os.path.dirname(BENCH)


def run_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def python_loop(n):
    rng = random.Random(1)
    a = [[rng.gauss(0, 1) for _ in range(n)] for _ in range(n)]
    b = [[rng.gauss(0, 1) for _ in range(n)] for _ in range(n)]
    c = [[0.0] * n for _ in range(n)]
    t0 = time.perf_counter()
    for i in range(n):
        for j in range(n):
            s = 0.0
            for k in range(n):
                s += a[i][k] * b[k][j]
            c[i][j] = s
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tdsl", default=os.path.join(SOURCE, "build", "bin", "tdsl"))
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--python-n", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    n = args.n
    rows = []
    py = python_loop(args.python_n) * (n / args.python_n) ** 3
    rows.append(("Python triple loop (extrapolated from n = %d)" % args.python_n, py))
    with tempfile.TemporaryDirectory() as tmp:
        loops = os.path.join(tmp, "loops")
        subprocess.run(["g++", "-O3", "-march=native", "-std=c++17", os.path.join(HERE, "loops.cpp"),
                        "-o", loops], check=True)
        sgemm = os.path.join(tmp, "sgemm")
        subprocess.run(["g++", "-O2", "-std=c++17", os.path.join(BENCH, "peers", "sgemm_openblas.cpp"),
                        "-o", sgemm, "-lopenblas"], check=True)
        for v, label in (("naive", "C loops i, j, k"), ("order", "C loops i, k, j (loop order)"),
                         ("tiled", "C loops i, k, j in 64³ tiles")):
            rows.append((label + " (g++ -O3 -march=native)",
                         run_json([loops, v, str(n), "1" if v == "naive" else "3"])["seconds"]))
        for t in (1, args.threads):
            r = run_json([args.tdsl, "bench", os.path.join(BENCH, "gemm.tdsl"), "--kernel", "sgemm",
                          "--shape", "M=%d,K=%d,N=%d" % (n, n, n), "--threads", str(t), "--json"])
            rows.append(("tdsl, %d thread%s" % (t, "s" if t > 1 else ""), r["min_ms"] / 1000))
            env = dict(os.environ, OPENBLAS_NUM_THREADS=str(t))
            r = run_json([sgemm, str(n), str(n), str(n), "0.5"], env=env)
            rows.append(("OpenBLAS, %d thread%s" % (t, "s" if t > 1 else ""), r["min_ms"] / 1000))
    flops = 2.0 * n ** 3
    print("| version (n = %d) | seconds | GFLOP/s | speedup over Python |" % n)
    print("|---|---:|---:|---:|")
    for label, s in rows:
        print("| %s | %.4g | %.2f | %.0f× |" % (label, s, flops / s / 1e9, py / s))


if __name__ == "__main__":
    main()
