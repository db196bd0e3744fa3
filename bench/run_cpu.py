#!/usr/bin/python3
"""The issue-3 CPU benchmark suite: tdsl against a plain C++ loop, NumPy and the machine's memory
bandwidth, all measured in the same run, single-threaded (plus tdsl on two threads).

    /usr/bin/python3 bench/run_cpu.py                    # print the table
    /usr/bin/python3 bench/run_cpu.py --write            # ... and put it in docs/performance.md
    /usr/bin/python3 bench/run_cpu.py --quick            # small sizes, to try the script

Every time is a median over repeated runs (at least --min-runs, at least --min-time seconds);
the machine is shared and noisy. See bench/README.md for what each column means.
"""
import os

# Single-threaded NumPy: set before NumPy (and any BLAS under it) is loaded.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
             "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import datetime
import json
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from doc_section import write_section

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(BENCH_DIR)
KERNELS_FILE = os.path.join(BENCH_DIR, "cpu.tdsl")
DOC_BEGIN = "<!-- bench/run_cpu.py: begin (generated; do not edit by hand) -->"
DOC_END = "<!-- bench/run_cpu.py: end -->"

# Target thresholds of issue 3.
FLOOR_BANDWIDTH = 0.85   # x*y + z*x - y*z + 2.5*x, row sums: fraction of the bandwidth floor
MATH_NUMPY, MATH_CPP = 4.0, 10.0   # cos(cos(x)), GELU-tanh: x NumPy, x scalar C++ loop
ROW_NUMPY, ROW_FLOOR = 5.0, 0.60   # softmax, layernorm: x NumPy, fraction of the floor
TWO_THREADS = 1.6        # 2-thread speedup wherever 1 thread is below the floor (< 85% of it)


# ---------------------------------------------------------------------------------------------
# The workloads: the tdsl kernel in bench/cpu.tdsl, the C++ peer (bench/peers/loops.cpp), and
# the NumPy code a user would write.

def np_poly(x, y, z):
    return x * y + z * x - y * z + np.float32(2.5) * x


def np_rowsum(x):
    return x.sum(axis=1)


def np_coscos(x):
    return np.cos(np.cos(x))


def np_gelu_tanh(x):
    f = np.float32
    return f(0.5) * x * (f(1) + np.tanh(f(0.7978845608) * (x + f(0.044715) * x * x * x)))


def np_softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def np_layernorm(x, g, b):
    mu = x.mean(axis=1, keepdims=True)
    d = x - mu
    var = (d ** 2).mean(axis=1, keepdims=True)
    return d / np.sqrt(var + np.float32(1e-5)) * g + b


class Workload:
    def __init__(self, kernel, label, group, numpy_fn, inputs):
        self.kernel = kernel      # name in bench/cpu.tdsl and in the C++ peer
        self.label = label        # as the issue names it
        self.group = group        # "bandwidth", "math" or "rowwise": which targets apply
        self.numpy_fn = numpy_fn
        self.inputs = inputs      # input shapes, in symbols "N" or ("R", "C") / ("C",)


WORKLOADS = [
    Workload("poly", "`x*y + z*x - y*z + 2.5*x`", "bandwidth", np_poly, [("N",)] * 3),
    Workload("rowsum", "row sums", "bandwidth", np_rowsum, [("R", "C")]),
    Workload("coscos", "`cos(cos(x))`", "math", np_coscos, [("N",)]),
    Workload("gelu_tanh", "GELU-tanh", "math", np_gelu_tanh, [("N",)]),
    Workload("softmax", "softmax", "rowwise", np_softmax, [("R", "C")]),
    Workload("layernorm", "layernorm", "rowwise", np_layernorm, [("R", "C"), ("C",), ("C",)]),
]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def run_json(cmd, timeout=600):
    """Runs `cmd` and parses the last line of its stdout as JSON."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (shlex.join(cmd), proc.returncode,
                                                   (proc.stderr or proc.stdout).strip()[-2000:]))
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError("%s printed nothing" % shlex.join(cmd))
    return json.loads(lines[-1])


# ---------------------------------------------------------------------------------------------
# Measurements.

def compile_peers(tmp):
    """g++ -O3 -march=native for each peer; returns {name: path}."""
    peers = {}
    flags = {"loops": [], "stream": ["-fno-tree-loop-distribute-patterns", "-pthread"]}
    for name, extra in flags.items():
        out = os.path.join(tmp, name)
        cmd = ["g++", "-O3", "-march=native", "-std=c++17", *extra,
               os.path.join(BENCH_DIR, "peers", name + ".cpp"), "-o", out]
        subprocess.run(cmd, check=True)
        peers[name] = out
    return peers


def measure_stream(peer, args):
    cmd = [peer, "--threads", "2", "--min-time", str(args.min_time)]
    if args.quick:
        cmd += ["--elements", str(1 << 22)]
    return run_json(cmd)


def measure_tdsl(args, w, sizes, threads):
    symbols = sorted({d for shape in w.inputs for d in shape})
    shape = ",".join("%s=%d" % (d, sizes[d]) for d in symbols)
    cmd = [args.tdsl, "bench", KERNELS_FILE, "--kernel", w.kernel, "--shape", shape,
           "--threads", str(threads), "--warmup", "1", "--min-runs", str(args.min_runs),
           "--min-time", str(args.min_time), "--json"]
    return run_json(cmd)


def measure_cpp(args, peer, w, sizes):
    dims = [sizes["N"]] if w.inputs[0] == ("N",) else [sizes["R"], sizes["C"]]
    cmd = [peer, w.kernel, *map(str, dims), "--min-runs", str(args.min_runs),
           "--min-time", str(args.min_time)]
    return run_json(cmd)


def numpy_data(w, sizes):
    rng = np.random.default_rng(1)
    return [rng.standard_normal(tuple(sizes[d] for d in shape), dtype=np.float32)
            for shape in w.inputs]


def measure_numpy(args, w, inputs):
    w.numpy_fn(*inputs)  # warm-up
    times = []
    began = time.perf_counter()
    while len(times) < args.min_runs or time.perf_counter() - began < args.min_time:
        t0 = time.perf_counter()
        w.numpy_fn(*inputs)
        times.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "runs": len(times)}


# ---------------------------------------------------------------------------------------------
# Machine description and the report.

def machine_info(tdsl):
    info = {"date": subprocess.run(["date", "-u", "+%Y-%m-%d %H:%M UTC"], capture_output=True,
                                   text=True).stdout.strip()}
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = dict(re.findall(r"^([^:\n]+):\s*(.*)$", lscpu, re.M))
    info["model"] = fields.get("Model name", "unknown CPU")
    info["family_model"] = "family %s model %s" % (fields.get("CPU family", "?"),
                                                   fields.get("Model", "?"))
    info["cpus"] = fields.get("CPU(s)", str(os.cpu_count()))
    info["l3"] = fields.get("L3 cache", "?")
    flags = set(fields.get("Flags", "").split())
    info["flags"] = " ".join(f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512vl")
                             if f in flags)
    info["load"] = "%.1f" % os.getloadavg()[0]
    info["gxx"] = subprocess.run(["g++", "--version"], capture_output=True,
                                 text=True).stdout.splitlines()[0]
    info["numpy"] = np.__version__
    rev = subprocess.run(["git", "-C", SOURCE_DIR, "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip()
    info["revision"] = rev or "unknown"
    info["tdsl_built"] = datetime.datetime.fromtimestamp(
        os.path.getmtime(tdsl), datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return info


def fmt_ms(ms):
    return "%.1f" % ms if ms >= 10 else "%.2f" % ms if ms >= 1 else "%.3f" % ms


def mark(ok):
    return "✓" if ok else "✗"


def evaluate(w, r):
    """The target cells of one row, from the measured ratios."""
    cells = []
    frac, x_np, x_cpp = r.get("floor_frac"), r.get("x_numpy"), r.get("x_cpp")
    if frac is None:
        return "not measured"
    if w.group == "bandwidth":
        cells.append("floor ≥ %d%% %s" % (FLOOR_BANDWIDTH * 100, mark(frac >= FLOOR_BANDWIDTH)))
    elif w.group == "math":
        cells.append("≥ %g× NumPy %s" % (MATH_NUMPY, mark(x_np >= MATH_NUMPY)))
        cells.append("≥ %g× C++ %s" % (MATH_CPP, mark(x_cpp >= MATH_CPP)))
    else:
        cells.append("≥ %g× NumPy %s" % (ROW_NUMPY, mark(x_np >= ROW_NUMPY)))
        cells.append("floor ≥ %d%% %s" % (ROW_FLOOR * 100, mark(frac >= ROW_FLOOR)))
    speedup = r.get("speedup2")
    if frac >= FLOOR_BANDWIDTH:
        cells.append("2T: n/a (1T at the floor)")
    elif speedup is None:
        cells.append("2T ≥ %g× not measured" % TWO_THREADS)
    else:
        cells.append("2T ≥ %g× %s" % (TWO_THREADS, mark(speedup >= TWO_THREADS)))
    return "; ".join(cells)


def report(info, bw, rows, sizes, command, rounds):
    triad = bw["triad_gbps"]
    lines = [
        "### Results, %s" % info["date"],
        "",
        "- Machine: %s (%s), %s CPUs, L3 %s; flags: %s; load average at start %s, at end "
        "%.1f (other processes share these cores: expect noise, most in 2-thread runs)." % (
            info["model"], info["family_model"], info["cpus"], info["l3"], info["flags"],
            info["load"], os.getloadavg()[0]),
        "- Bandwidth (STREAM-like probe, 1 thread): copy %.1f GB/s, triad %.1f GB/s, the "
        "median of %d probes spread over the run (triad: %s); 2 threads: copy %.1f, "
        "triad %.1f GB/s." % (
            bw["copy_gbps"], triad, len(bw["triad_all"]),
            ", ".join("%.1f" % t for t in bw["triad_all"]), bw["copy_gbps_threads"],
            bw["triad_gbps_threads"]),
        "- Sizes: N = %d f32 elements; R × C = %d × %d. Source tree %s, driver built %s; "
        "%s; NumPy %s." % (sizes["N"], sizes["R"], sizes["C"], info["revision"],
                          info["tdsl_built"], info["gxx"], info["numpy"]),
        "- Command: `%s`" % command,
        "",
        "| kernel | tdsl ms | GB/s | GFLOP/s | of floor | ×NumPy | ×C++ loop | 2T speedup | targets |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for w, r in rows:
        if "error" in r:
            lines.append("| %s | failed | | | | | | | %s |" % (w.label, r["error"][:120]))
            continue
        t = r["tdsl1"]
        speedup = "%.2f×" % r["speedup2"] if r.get("speedup2") else "—"
        if r.get("speedup2") and r["tdsl2"].get("threads", 2) != 2:
            speedup += " (ran on %d)" % r["tdsl2"]["threads"]
        lines.append("| %s | %s | %.1f | %.2f | %d%% | %s | %s | %s | %s |" % (
            w.label, fmt_ms(t["median_ms"]), t["gbps"], t["gflops"], round(100 * r["floor_frac"]),
            "%.2f×" % r["x_numpy"] if r.get("x_numpy") else "—",
            "%.2f×" % r["x_cpp"] if r.get("x_cpp") else "—", speedup, evaluate(w, r)))
    lines += [
        "",
        "Times in ms: the median of the %d round medians (the least time of any run); "
        "floor = bytes ÷ triad bandwidth:" % rounds,
        "",
        "| kernel | bytes | floor | tdsl 1T | tdsl 2T | C++ loop | NumPy |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for w, r in rows:
        if "error" in r:
            continue

        def cell(key):
            m = r.get(key)
            return "%s (%s)" % (fmt_ms(m["median_ms"]), fmt_ms(m["min_ms"])) if m else "—"

        lines.append("| %s | %d | %s | %s | %s | %s | %s |" % (
            w.label, r["tdsl1"]["bytes"], fmt_ms(r["floor_ms"]), cell("tdsl1"), cell("tdsl2"),
            cell("cpp"), cell("numpy")))
    return "\n".join(lines) + "\n"


def write_doc(path, section):
    write_section(path, DOC_BEGIN, DOC_END, section)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tdsl", default=os.path.join(SOURCE_DIR, "build", "bin", "tdsl"),
                        help="the tdsl driver to measure (default: build/bin/tdsl)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes (1M elements, 1024 x 1024) to try the script")
    parser.add_argument("--write", action="store_true",
                        help="write the results section of docs/performance.md")
    parser.add_argument("--doc", default=os.path.join(SOURCE_DIR, "docs", "performance.md"))
    parser.add_argument("--json-out", help="also save every measurement as JSON here")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds over every measurement; each figure is the median of its "
                             "round medians (default 3)")
    parser.add_argument("--min-time", type=float, default=0.5,
                        help="seconds of timed runs per measurement and round (default 0.5)")
    parser.add_argument("--min-runs", type=int, default=3,
                        help="timed runs per measurement and round, at least (default 3)")
    parser.add_argument("--only", help="comma-separated kernels to run (default: all)")
    args = parser.parse_args()

    sizes = ({"N": 1 << 20, "R": 1024, "C": 1024} if args.quick
             else {"N": 1 << 24, "R": 4096, "C": 4096})
    workloads = [w for w in WORKLOADS if not args.only or w.kernel in args.only.split(",")]
    command = "/usr/bin/python3 bench/run_cpu.py " + " ".join(
        shlex.quote(a) for a in sys.argv[1:])
    started = time.time()
    if not os.access(args.tdsl, os.X_OK):
        sys.exit("run_cpu.py: no tdsl driver at %s (build it: ninja -C build tdsl_cli, or pass "
                 "--tdsl)" % args.tdsl)
    info = machine_info(args.tdsl)
    log("tdsl bench suite on %s (%s CPUs, %s), load %s" % (info["model"], info["cpus"],
                                                          info["flags"], info["load"]))

    with tempfile.TemporaryDirectory(prefix="tdsl-bench-") as tmp:
        peers = compile_peers(tmp)
        streams = []
        samples = {w.kernel: {} for w in workloads}
        errors = {}
        numpy_inputs = {}
        # Rounds interleave everything, so that a burst of load from other processes lands on
        # one round of each measurement rather than on all of one of them.
        for rnd in range(args.rounds):
            streams.append(measure_stream(peers["stream"], args))
            log("round %d/%d: bandwidth copy %.1f GB/s, triad %.1f GB/s (1 thread), load %.1f" % (
                rnd + 1, args.rounds, streams[-1]["copy_gbps"], streams[-1]["triad_gbps"],
                os.getloadavg()[0]))
            for w in workloads:
                if w.kernel in errors:
                    continue
                got = samples[w.kernel]
                try:
                    got.setdefault("tdsl1", []).append(measure_tdsl(args, w, sizes, 1))
                    got.setdefault("cpp", []).append(
                        measure_cpp(args, peers["loops"], w, sizes))
                    if w.kernel not in numpy_inputs:
                        numpy_inputs[w.kernel] = numpy_data(w, sizes)
                    got.setdefault("numpy", []).append(
                        measure_numpy(args, w, numpy_inputs[w.kernel]))
                    got.setdefault("tdsl2", []).append(measure_tdsl(args, w, sizes, 2))
                except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
                    errors[w.kernel] = str(e).replace("\n", " ")
                    log("%s: %s" % (w.kernel, errors[w.kernel]))
                    continue
                log("  %-10s tdsl %s ms, C++ %s ms, NumPy %s ms, tdsl 2T %s ms" % (
                    w.kernel, *(fmt_ms(got[k][-1]["median_ms"])
                                for k in ("tdsl1", "cpp", "numpy", "tdsl2"))))
        numpy_inputs.clear()
        streams.append(measure_stream(peers["stream"], args))

    # Each figure: the median of its per-round medians (and the least minimum).
    def combine(runs):
        merged = dict(runs[0])
        merged["median_ms"] = statistics.median(r["median_ms"] for r in runs)
        merged["min_ms"] = min(r["min_ms"] for r in runs)
        merged["runs"] = sum(r["runs"] for r in runs)
        merged["round_medians_ms"] = [r["median_ms"] for r in runs]
        for key in ("gbps", "gflops"):
            if key in merged:
                merged[key] = runs[0][key] * runs[0]["median_ms"] / merged["median_ms"]
        return merged

    bw = {k: statistics.median(m[k] for m in streams)
          for k in ("copy_gbps", "triad_gbps", "copy_gbps_threads", "triad_gbps_threads")}
    bw["triad_all"] = [m["triad_gbps"] for m in streams]
    rows = []
    for w in workloads:
        if w.kernel in errors:
            rows.append((w, {"error": errors[w.kernel]}))
            continue
        r = {k: combine(v) for k, v in samples[w.kernel].items()}
        t = r["tdsl1"]["median_ms"]
        r["floor_ms"] = r["tdsl1"]["bytes"] / (bw["triad_gbps"] * 1e9) * 1e3
        r["floor_frac"] = r["floor_ms"] / t
        r["x_numpy"] = r["numpy"]["median_ms"] / t
        r["x_cpp"] = r["cpp"]["median_ms"] / t
        r["speedup2"] = t / r["tdsl2"]["median_ms"]
        rows.append((w, r))

    section = report(info, bw, rows, sizes, command, args.rounds)
    section += "\nThe whole run took %.0f s.\n" % (time.time() - started)
    print(section)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"machine": info, "bandwidth": bw, "streams": streams, "sizes": sizes,
                       "results": {w.kernel: r for w, r in rows}}, f, indent=1)
    if args.write:
        write_doc(args.doc, section)
        log("wrote %s" % args.doc)


if __name__ == "__main__":
    main()
