#!/usr/bin/env python3
"""The "room at the top" table (Leiserson et al., Science 2020) rebuilt on this machine for an
n x n x n f32 matrix product.

/usr/bin/python3 bench/room_at_the_top/run.py [--tdsl build/bin/tdsl] [--n 4096] [--threads 2]

Rows: a Python triple loop (timed at --python-n and extrapolated by n³: never run for hours), naive
C loops (run at min(n, --naive-n) and extrapolated by n³ above that: the naive order is slower per
FLOP at large n, so the extrapolation flatters it), loop order i-k-j, tiled C (64³ blocks), tiled C
with OpenMP over row blocks, tdsl with one and --threads threads (`c[i, j] = sum(a[i, k] * b[k, j]
for k)`, bench/gemm.tdsl) and OpenBLAS with the same thread counts. Best of a few runs each. The
machine's FMA peak and copy bandwidth come from `tdsl calibrate --force` in the same run. Prints a
Markdown table: seconds, GFLOP/s, speedup over Python and over the previous row, fraction of peak.
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
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--python-n", type=int, default=128)
    ap.add_argument("--naive-n", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    n, threads = args.n, args.threads
    calib = run_json([args.tdsl, "calibrate", "--force", "--json"])
    rows = []  # (label, seconds, threads)
    py = python_loop(args.python_n) * (n / args.python_n) ** 3
    rows.append(("Python triple loop (timed at n = %d, scaled by n³)" % args.python_n, py, 1))
    with tempfile.TemporaryDirectory() as tmp:
        loops = os.path.join(tmp, "loops")
        subprocess.run(["g++", "-O3", "-march=native", "-fopenmp", "-std=c++17",
                        os.path.join(HERE, "loops.cpp"), "-o", loops], check=True)
        sgemm = os.path.join(tmp, "sgemm")
        subprocess.run(["g++", "-O2", "-std=c++17", os.path.join(BENCH, "peers", "sgemm_openblas.cpp"),
                        "-o", sgemm, "-lopenblas"], check=True)
        naive_n = min(n, args.naive_n)
        naive = run_json([loops, "naive", str(naive_n), "1"])["seconds"] * (n / naive_n) ** 3
        label = "C loops i, j, k" + (" (timed at n = %d, scaled by n³)" % naive_n if naive_n < n else "")
        rows.append((label, naive, 1))
        for variant, label, t in (("order", "C loops i, k, j (loop order)", 1),
                                  ("tiled", "C loops i, k, j in 64³ tiles", 1),
                                  ("parallel", "tiled C, OpenMP over row blocks", threads)):
            env = dict(os.environ, OMP_NUM_THREADS=str(t))
            rows.append((label, run_json([loops, variant, str(n), "2"], env=env)["seconds"], t))
        for t in (1, threads):
            r = run_json([args.tdsl, "bench", os.path.join(BENCH, "gemm.tdsl"), "--kernel", "sgemm",
                          "--shape", "M=%d,K=%d,N=%d" % (n, n, n), "--threads", str(t), "--json"])
            rows.append(("tdsl (one line of tdsl)", r["min_ms"] / 1000, t))
            env = dict(os.environ, OPENBLAS_NUM_THREADS=str(t))
            r = run_json([sgemm, str(n), str(n), str(n), "0.5"], env=env)
            rows.append(("OpenBLAS", r["min_ms"] / 1000, t))
    flops = 2.0 * n ** 3
    peak = {1: calib["peak_gflops_1"], threads: calib["peak_gflops_%d" % threads]
            if "peak_gflops_%d" % threads in calib else calib.get("peak_gflops_all")}
    print("Machine: %s; FMA peak %.1f GFLOP/s on 1 thread, %.1f on %d (tdsl calibrate, same run)."
          % (calib.get("fingerprint", "?"), peak[1], peak[threads], threads))
    print()
    print("| version (n = %d) | threads | seconds | GFLOP/s | speedup over Python | over previous row | of peak |" % n)
    print("|---|---:|---:|---:|---:|---:|---:|")
    prev = None
    for label, s, t in rows:
        print("| %s | %d | %.4g | %.2f | %.0f× | %s | %.1f%% |" % (
            label, t, s, flops / s / 1e9, py / s, "—" if prev is None else "%.2f×" % (prev / s),
            100 * flops / s / 1e9 / peak[t]))
        prev = s


if __name__ == "__main__":
    main()
