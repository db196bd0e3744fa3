#!/usr/bin/python3
"""The suite of kernels users write (bench/suite/, issue 12): tdsl on one and two threads against
the machine's roofline, NumPy and Halide 21, all measured in one run.

    /usr/bin/python3 bench/run_suite.py                 # print a Markdown table per class
    /usr/bin/python3 bench/run_suite.py --write         # ... and put them in docs/performance.md
    /usr/bin/python3 bench/run_suite.py --quick         # small shapes, to try it
    /usr/bin/python3 bench/run_suite.py --only softmax,harris --rounds 5

It first runs `tdsl calibrate --force` into a private cache directory, so the roofline of every
`tdsl bench` of the run is against ceilings measured in the same run. The peers run in
bench/.venv, which the script creates and fills with `pip install "halide==21.*"` (NumPy comes
with it) on first use. Per kernel it starts nothing new: one NumPy worker (single-threaded BLAS)
and two Halide workers (HL_NUM_THREADS=1 and 2) compile each kernel once and time it each
round. Per kernel and round: tdsl 1 thread, NumPy, Halide 1 thread, tdsl 2 threads, Halide 2
threads; each figure is the median of its round medians. See bench/README.md.
"""
import argparse
import datetime
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(BENCH_DIR)
SUITE_DIR = os.path.join(BENCH_DIR, "suite")
VENV = os.path.join(BENCH_DIR, ".venv")
HALIDE_REQUIREMENT = "halide==21.*"
DOC_BEGIN = "<!-- bench/run_suite.py: begin (generated; do not edit by hand) -->"
DOC_END = "<!-- bench/run_suite.py: end -->"
DOC_HEADING = "## Suite of kernels users write"

sys.path.insert(0, SUITE_DIR)
import kernels  # noqa: E402
from doc_section import write_section  # noqa: E402


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def run_json(cmd, env=None, timeout=1800):
    """Runs `cmd` and parses the last line of its stdout as JSON."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (shlex.join(cmd), proc.returncode,
                                                   (proc.stderr or proc.stdout).strip()[-1500:]))
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# The peers' environment and workers.

def venv_python(no_halide):
    """bench/.venv's python with NumPy and (unless --no-halide) Halide 21, created on first use.
    Returns (python, has_halide); falls back to /usr/bin/python3 for NumPy alone."""
    python = os.path.join(VENV, "bin", "python")

    def importable(module):
        return os.path.exists(python) and subprocess.run(
            [python, "-c", "import " + module], capture_output=True).returncode == 0

    if not no_halide and not importable("halide"):
        log("creating %s with %s (once)" % (os.path.relpath(VENV, SOURCE_DIR), HALIDE_REQUIREMENT))
        try:
            if not os.path.exists(python):
                subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
            subprocess.run([python, "-m", "pip", "install", "-q", HALIDE_REQUIREMENT, "numpy"],
                           check=True)
        except (subprocess.CalledProcessError, OSError) as e:
            log("could not install Halide (%s): its columns will read —" % e)
    if importable("halide") and importable("numpy") and not no_halide:
        return python, True
    if importable("numpy"):
        return python, False
    return "/usr/bin/python3", False


class Worker:
    """A bench/suite/peer_worker.py process: one peer, one thread count."""

    def __init__(self, python, peer, threads):
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "BLIS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "HL_NUM_THREADS"):
            env[var] = str(threads)
        self.proc = subprocess.Popen(
            [python, os.path.join(SUITE_DIR, "peer_worker.py"), "--peer", peer],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def ask(self, command):
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            return {"error": "the worker exited (%s)" % self.proc.poll()}
        return json.loads(line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


# ---------------------------------------------------------------------------------------------
# Measurements.

def calibrate(args, env):
    log("tdsl calibrate --force (the ceilings of this run)")
    return run_json([args.tdsl, "calibrate", "--force", "--json"], env=env)


def tdsl_bench(args, env, k, sizes, threads):
    cmd = [args.tdsl, "bench", k.file, "--kernel", k.name, "--shape", k.shape_arg(sizes),
           "--threads", str(threads), "--warmup", "1", "--min-runs", str(args.min_runs),
           "--min-time", str(args.min_time), "--json"]
    return run_json(cmd, env=env)


def combine(runs):
    """One figure from its rounds: the median of the round medians, the least minimum."""
    merged = dict(runs[-1])
    merged["median_ms"] = statistics.median(r["median_ms"] for r in runs)
    merged["min_ms"] = min(r["min_ms"] for r in runs)
    merged["round_medians_ms"] = [r["median_ms"] for r in runs]
    return merged


def measure_kernel(args, env, workers, k, sizes):
    """Every measurement of one kernel: {"tdsl1", "tdsl2", "numpy", "halide1", "halide2"}, each
    a combined figure or {"error": ...}; absent where not measured."""
    shape = k.shape_arg(sizes)
    peers = {}
    for key, worker in workers.items():
        answer = worker.ask({"load": k.name, "shape": shape, "verify": key == "halide1"})
        if answer.get("missing"):
            continue
        if "error" in answer:
            log("  %s %s: %s" % (k.name, key, answer["error"]))
            peers[key] = answer
            continue
        peers[key] = None
    samples = {}
    errors = {}
    order = ["tdsl1", "numpy", "halide1", "tdsl2", "halide2"]
    for _ in range(args.rounds):
        for key in order:
            if key in errors:
                continue
            try:
                if key.startswith("tdsl"):
                    got = tdsl_bench(args, env, k, sizes, int(key[-1]))
                elif key in peers and peers[key] is None:
                    got = workers[key].ask({"time": True, "min_runs": args.min_runs,
                                            "min_time": args.min_time})
                    if "error" in got:
                        raise RuntimeError(got["error"])
                else:
                    continue
            except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
                errors[key] = {"error": str(e).replace("\n", " ")}
                log("  %s %s: %s" % (k.name, key, errors[key]["error"][:300]))
                continue
            samples.setdefault(key, []).append(got)
    result = {key: combine(v) for key, v in samples.items()}
    result.update(errors)
    for key, answer in peers.items():
        if answer is not None:
            result[key] = answer
    return result


def roofline(calib, t, threads):
    """(fraction, bound) of one tdsl figure against this run's ceilings: max(FLOPs / peak,
    bytes / bandwidth) over the median time, as `tdsl bench` computes it. Like `tdsl bench`,
    the ceilings of more than one thread are those of every hardware thread (2 here)."""
    suffix = "1" if threads == 1 else "all"
    peak = calib["peak_gflops_" + suffix] * 1e9
    bandwidth = calib["bandwidth_gbps_" + suffix] * 1e9
    compute_s, memory_s = t["flops"] / peak, t["bytes"] / bandwidth
    seconds = t["median_ms"] / 1e3
    return max(compute_s, memory_s) / seconds, "compute" if compute_s > memory_s else "memory"


# ---------------------------------------------------------------------------------------------
# The report.

def machine_info(tdsl):
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = dict(re.findall(r"^([^:\n]+):\s*(.*)$", lscpu, re.M))
    flags = set(fields.get("Flags", "").split())
    rev = subprocess.run(["git", "-C", SOURCE_DIR, "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "model": fields.get("Model name", "unknown CPU"),
        "cpus": fields.get("CPU(s)", str(os.cpu_count())),
        "flags": " ".join(f for f in ("avx2", "fma", "avx512f") if f in flags),
        "load": os.getloadavg()[0],
        "revision": rev or "unknown",
        "tdsl_built": datetime.datetime.fromtimestamp(
            os.path.getmtime(tdsl), datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def fmt_ms(ms):
    return "%.1f" % ms if ms >= 10 else "%.2f" % ms if ms >= 1 else "%.3f" % ms


def ratio(peer, tdsl):
    """peer time ÷ tdsl time: above 1, tdsl is faster."""
    if not peer or not tdsl or "median_ms" not in peer or "median_ms" not in tdsl:
        return "—"
    return "%.2f×" % (peer["median_ms"] / tdsl["median_ms"])


def time_cell(m):
    if not m:
        return "—"
    if "median_ms" not in m:
        return "failed"
    return fmt_ms(m["median_ms"])


def roof_cell(calib, m, threads):
    if not m or "median_ms" not in m:
        return "—"
    frac, bound = roofline(calib, m, threads)
    return "%d%% %s" % (round(100 * frac), "mem" if bound == "memory" else "comp")


def class_table(calib, cls, rows):
    lines = [
        "#### %s" % kernels.TITLES[cls],
        "",
        "| kernel | inputs (f32) | tdsl 1T ms | roofline 1T | tdsl 2T ms | roofline 2T "
        "| NumPy ms | ×NumPy | Halide 1T ms | ×Halide 1T | Halide 2T ms | ×Halide 2T |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for k, sizes, r in rows:
        t1, t2 = r.get("tdsl1"), r.get("tdsl2")
        lines.append("| `%s` | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            k.name, k.describe(sizes), time_cell(t1), roof_cell(calib, t1, 1), time_cell(t2),
            roof_cell(calib, t2, 2), time_cell(r.get("numpy")), ratio(r.get("numpy"), t1),
            time_cell(r.get("halide1")), ratio(r.get("halide1"), t1),
            time_cell(r.get("halide2")), ratio(r.get("halide2"), t2)))
    return "\n".join(lines) + "\n"


def report(info, calib, calib_end, results, command, args, versions):
    lines = [
        "### Results, %s" % info["date"],
        "",
        "- Machine: %s, %s CPUs (%s); load average %.1f at the start, %.1f at the end." % (
            info["model"], info["cpus"], info["flags"], info["load"], os.getloadavg()[0]),
        "- Ceilings (`tdsl calibrate --force` at the start of the run): peak %.1f GFLOP/s and "
        "copy bandwidth %.1f GB/s on 1 thread, %.1f GFLOP/s and %.1f GB/s on all %d%s." % (
            calib["peak_gflops_1"], calib["bandwidth_gbps_1"], calib["peak_gflops_all"],
            calib["bandwidth_gbps_all"], calib.get("threads", 0),
            "; at the end of the run: %.1f / %.1f GB/s on 1 thread" % (
                calib_end["peak_gflops_1"], calib_end["bandwidth_gbps_1"]) if calib_end else ""),
        "- Source tree %s, driver built %s; %s." % (info["revision"], info["tdsl_built"],
                                                     versions),
        "- %d round%s; each figure the median of its round medians. Command: `%s`" % (
            args.rounds, "" if args.rounds == 1 else "s", command),
        "",
        "Roofline: the fraction of the roofline reached by the median time (`mem`: bound by "
        "memory bandwidth, `comp`: by peak FLOP/s). ×NumPy = NumPy's time ÷ tdsl's on 1 thread; "
        "×Halide = Halide's time ÷ tdsl's on the same thread count; above 1× tdsl is faster. "
        "— : not measured (no Halide version written).",
        "",
    ]
    for cls in kernels.CLASSES:
        rows = [(k, s, r) for k, s, r in results if k.cls == cls]
        if rows:
            lines.append(class_table(calib, cls, rows))
    failures = [(k, key, m["error"]) for k, _, r in results for key, m in r.items()
                if isinstance(m, dict) and "error" in m]
    if failures:
        lines.append("Failures:\n")
        for k, key, error in failures:
            lines.append("- `%s` %s: %s" % (k.name, key, error[:300]))
        lines.append("")
    return "\n".join(lines)


def write_doc(path, section):
    write_section(path, DOC_BEGIN, DOC_END, section, DOC_HEADING)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tdsl", default=os.path.join(SOURCE_DIR, "build", "bin", "tdsl"),
                        help="the tdsl driver to measure (default: build/bin/tdsl)")
    parser.add_argument("--quick", action="store_true",
                        help="small shapes, one round of 0.1 s measurements: about a minute")
    parser.add_argument("--only", help="comma-separated kernels (default: all)")
    parser.add_argument("--rounds", type=int,
                        help="rounds over every measurement of a kernel (default 3; --quick: 1)")
    parser.add_argument("--min-time", type=float,
                        help="seconds of timed runs per measurement and round (default 0.5; "
                             "--quick: 0.1)")
    parser.add_argument("--min-runs", type=int, default=3,
                        help="timed runs per measurement and round, at least (default 3)")
    parser.add_argument("--no-halide", action="store_true", help="skip the Halide peers")
    parser.add_argument("--write", action="store_true",
                        help="replace the suite's results in docs/performance.md")
    parser.add_argument("--doc", default=os.path.join(SOURCE_DIR, "docs", "performance.md"))
    parser.add_argument("--json-out", help="also save every measurement as JSON here")
    args = parser.parse_args()
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if args.min_time is None:
        args.min_time = 0.1 if args.quick else 0.5

    chosen = [k for k in kernels.KERNELS if not args.only or k.name in args.only.split(",")]
    unknown = set(args.only.split(",")) - set(kernels.BY_NAME) if args.only else set()
    if unknown:
        sys.exit("run_suite.py: no kernel %s in bench/suite" % ", ".join(sorted(unknown)))
    if not os.access(args.tdsl, os.X_OK):
        sys.exit("run_suite.py: no tdsl driver at %s (build it: ninja -C build tdsl_cli, or "
                 "pass --tdsl)" % args.tdsl)
    # The command as the doc records it: without --write and where the JSON went.
    shown, skip = [], False
    for a in sys.argv[1:]:
        if skip or a == "--write" or a.startswith("--json-out"):
            skip = a == "--json-out"
            continue
        shown.append(shlex.quote(a))
    command = " ".join(["/usr/bin/python3 bench/run_suite.py"] + shown)
    started = time.time()
    info = machine_info(args.tdsl)
    python, has_halide = venv_python(args.no_halide)
    versions = subprocess.run(
        [python, "-c", "import numpy; v = 'NumPy ' + numpy.__version__\n"
         "try:\n import importlib.metadata as m; v += ', Halide ' + m.version('halide')\n"
         "except Exception: pass\nprint(v)"], capture_output=True, text=True).stdout.strip()
    log("suite: %d kernels on %s (%s CPUs), load %.1f; %s" % (
        len(chosen), info["model"], info["cpus"], info["load"], versions))

    with tempfile.TemporaryDirectory(prefix="tdsl-suite-") as cache:
        # A private cache: calibrate --force writes this run's ceilings where every tdsl bench
        # of the run reads them, and leaves the user's cache alone.
        env = dict(os.environ, TDSL_CACHE_DIR=cache)
        calib = calibrate(args, env)
        workers = {"numpy": Worker(python, "numpy", 1)}
        if has_halide:
            workers["halide1"] = Worker(python, "halide", 1)
            workers["halide2"] = Worker(python, "halide", 2)
        results = []
        try:
            for k in chosen:
                sizes = k.quick if args.quick else k.full
                r = measure_kernel(args, env, workers, k, sizes)
                results.append((k, sizes, r))
                log("  %-15s tdsl %s / %s ms (1T / 2T), NumPy %s, Halide %s / %s" % (
                    k.name, *(time_cell(r.get(key)) for key in
                              ("tdsl1", "tdsl2", "numpy", "halide1", "halide2"))))
        finally:
            for worker in workers.values():
                worker.close()
        calib_end = calibrate(args, env) if len(chosen) > 3 else None

    section = report(info, calib, calib_end, results, command, args, versions)
    section += "\nThe whole run took %.0f s.\n" % (time.time() - started)
    print(section)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"machine": info, "calibration": calib, "calibration_end": calib_end,
                       "results": {k.name: {"sizes": s, **r} for k, s, r in results}}, f,
                      indent=1)
    if args.write:
        write_doc(args.doc, section)
        log("wrote %s" % args.doc)


if __name__ == "__main__":
    main()
