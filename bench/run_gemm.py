#!/usr/bin/env python3
"""Contractions against OpenBLAS (issue 4): sgemm at several shapes and conv2d against the fp32 peak.

/usr/bin/python3 bench/run_gemm.py [--tdsl build/bin/tdsl] [--rounds 3] [--quick] [--write]

In one run it builds the peers (bench/peers/sgemm_openblas.cpp with Debian's libopenblas,
bench/peers/fma_peak.cpp), then for each shape and for one and two threads alternates tdsl
(`tdsl bench --json`, bench/gemm.tdsl) and cblas_sgemm (OPENBLAS_NUM_THREADS set) for
`--rounds` rounds; each figure is the median over the rounds of each tool's own median. The
conv2d (B=8, C=64, 58x58 input, O=64, 3x3: a 56x56 output) is reported as a fraction of the FMA
peak measured in the same run
(the best rate of bench/peers/fma_peak.cpp, probed at the start and the end). With --write the table replaces the section between the
`<!-- gemm-table -->` markers of docs/performance.md.
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(BENCH_DIR)
KERNELS_FILE = os.path.join(BENCH_DIR, "gemm.tdsl")
DOC = os.path.join(SOURCE_DIR, "docs", "performance.md")
BEGIN, END = "<!-- gemm-table:begin -->", "<!-- gemm-table:end -->"

SHAPES = [(1000, 1000, 1000), (1024, 1024, 1024), (2048, 2048, 2048), (512, 4096, 512)]
BIG = (4096, 4096, 4096)
CONV = dict(B=8, C=64, H=58, W=58, O=64)


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def run_json(cmd, env=None, timeout=1200):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (shlex.join(cmd), proc.returncode,
                                                   (proc.stderr or proc.stdout).strip()[-2000:]))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def build_peers(tmp):
    if not os.path.exists("/usr/include/x86_64-linux-gnu/cblas.h") and \
            not os.path.exists("/usr/include/cblas.h"):
        sys.exit("cblas.h not found: apt-get install libopenblas-dev")
    sgemm = os.path.join(tmp, "sgemm_openblas")
    subprocess.run(["g++", "-O2", "-std=c++17", os.path.join(BENCH_DIR, "peers", "sgemm_openblas.cpp"),
                    "-o", sgemm, "-lopenblas"], check=True)
    peak = os.path.join(tmp, "fma_peak")
    subprocess.run(["g++", "-O2", "-march=native", "-std=c++17", "-pthread",
                    os.path.join(BENCH_DIR, "peers", "fma_peak.cpp"), "-o", peak], check=True)
    return sgemm, peak


def tdsl_bench(args, kernel, shape, threads):
    cmd = [args.tdsl, "bench", KERNELS_FILE, "--kernel", kernel,
           "--shape", ",".join("%s=%d" % kv for kv in shape.items()), "--threads", str(threads),
           "--warmup", "1", "--min-runs", "3", "--min-time", str(args.min_time), "--json"]
    return run_json(cmd)


def openblas(sgemm, m, n, k, threads, min_time):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    return run_json([sgemm, str(m), str(n), str(k), str(min_time)], env=env)


def machine():
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((l.split(":", 1)[1].strip() for l in lscpu.splitlines()
                  if l.startswith("Model name")), "?")
    load = open("/proc/loadavg").read().split()[:3]
    date = subprocess.run(["date", "-u", "+%Y-%m-%d %H:%M UTC"], capture_output=True,
                          text=True).stdout.strip()
    rev = subprocess.run(["git", "-C", SOURCE_DIR, "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip()
    return "%s, %d CPUs, %s, tdsl %s, load average %s at the start" % (
        model, os.cpu_count(), date, rev, " ".join(load))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tdsl", default=os.path.join(SOURCE_DIR, "build", "bin", "tdsl"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--big", action="store_true", help="also 4096^3")
    ap.add_argument("--quick", action="store_true", help="one round, 1000^3 and conv only")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    shapes = SHAPES + ([BIG] if args.big else [])
    if args.quick:
        args.rounds, shapes = 1, SHAPES[:1]
    info = machine()
    log(info)
    with tempfile.TemporaryDirectory() as tmp:
        sgemm, peak_bin = build_peers(tmp)
        # The peak is the best FMA rate seen, probed at the start and again at the end.
        peak = {t: run_json([peak_bin, str(t)])["best_gflops"] for t in threads}
        log("fma peak", peak)
        rows = []
        for (m, n, k) in shapes:
            for t in threads:
                ours, theirs = [], []
                for r in range(args.rounds):
                    res = tdsl_bench(args, "sgemm", dict(M=m, K=k, N=n), t)
                    ours.append(res["median_ms"])
                    theirs.append(openblas(sgemm, m, n, k, t, args.min_time)["median_ms"])
                    log("%dx%dx%d t=%d round %d: tdsl %.2f ms, OpenBLAS %.2f ms" %
                        (m, n, k, t, r, ours[-1], theirs[-1]))
                a, b = statistics.median(ours), statistics.median(theirs)
                fl = 2.0 * m * n * k
                rows.append(("sgemm %d×%d×%d" % (m, n, k) if m != n or n != k else
                             "sgemm %d³" % m, t, a, fl / a / 1e6, b, fl / b / 1e6, b / a))
        for t in threads:
            peak[t] = max(peak[t], run_json([peak_bin, str(t)])["best_gflops"])
        log("fma peak (best of start and end)", peak)
        conv = []
        for t in threads:
            runs = [tdsl_bench(args, "conv2d", CONV, t) for _ in range(args.rounds)]
            ms = statistics.median(r["median_ms"] for r in runs)
            gf = runs[0]["flops"] / ms / 1e6
            conv.append((t, ms, gf, peak[t], gf / peak[t]))
            log("conv2d t=%d: %.2f ms, %.1f GFLOP/s, %.0f%% of peak" % (t, ms, gf, 100 * gf / peak[t]))

    out = ["Measured %s; medians of %d rounds, tdsl and OpenBLAS alternating." % (info, args.rounds),
           "",
           "| workload | threads | tdsl ms | tdsl GFLOP/s | OpenBLAS ms | OpenBLAS GFLOP/s | tdsl / OpenBLAS speed |",
           "|---|---|---|---|---|---|---|"]
    for name, t, a, ga, b, gb, ratio in rows:
        out.append("| %s | %d | %.2f | %.1f | %.2f | %.1f | %.2f× %s |" %
                   (name, t, a, ga, b, gb, ratio, "✓" if ratio >= 0.9 else "✗ (target 0.9×)"))
    out += ["", "| conv2d B=8, C=64, 56×56 out, O=64, 3×3 | threads | tdsl ms | GFLOP/s | FMA peak GFLOP/s | fraction of peak |",
            "|---|---|---|---|---|---|"]
    for t, ms, gf, pk, frac in conv:
        out.append("| | %d | %.2f | %.1f | %.1f | %.0f%% %s |" %
                   (t, ms, gf, pk, 100 * frac, "✓" if frac >= 0.5 else "✗ (target 50%)"))
    table = "\n".join(out)
    print(table)
    if args.write:
        doc = open(DOC).read()
        if BEGIN not in doc:
            sys.exit("markers %s ... %s not in %s" % (BEGIN, END, DOC))
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        open(DOC, "w").write(head + BEGIN + "\n" + table + "\n" + END + tail)
        log("wrote", DOC)


if __name__ == "__main__":
    main()
