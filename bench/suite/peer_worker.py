"""A long-lived process that times the suite's kernels in NumPy or Halide for
bench/run_suite.py, which starts one per peer and thread count in bench/.venv (where the
`halide` package is), with the thread count set in the environment before anything loads
(HL_NUM_THREADS for Halide, the BLAS variables for NumPy). Halide's JIT takes seconds per
pipeline, so a worker compiles each kernel once and times it for every round.

It reads one JSON command a line on stdin and answers one JSON line on stdout:

    {"load": "softmax", "shape": "R=4096,C=4096", "verify": true}  -> {"compile_ms": ...}
    {"time": true, "min_runs": 3, "min_time": 0.5}                -> {"median_ms": ..., ...}

`load` makes the kernel's N(0, 1) f32 inputs (seeded) and, for Halide, builds and compiles the
pipeline (dropping the previous kernel's), or answers {"missing": true} where the kernel has no
Halide version; with `verify` it compares the Halide outputs with NumPy's. `time` makes one
untimed call, then times calls: NumPy allocates its outputs as its users do, Halide realizes
into output buffers allocated once. Errors answer {"error": ...}.
"""
import argparse
import json
import os
import statistics
import sys
import time
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kernels  # noqa: E402
import peers_numpy  # noqa: E402


def parse_shape(text):
    return {k: int(v) for k, v in (item.split("=") for item in text.split(","))}


def make_inputs(kernel, sizes):
    rng = np.random.default_rng(1)
    return [rng.standard_normal(s, dtype=np.float32) for s in kernel.input_shapes(sizes)]


def time_calls(fn, min_runs, min_time):
    fn()
    times = []
    began = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - began < min_time:
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "runs": len(times)}


def verify(peer, np_fn, inputs):
    peer.run()
    want = np_fn(*inputs)
    want = want if isinstance(want, tuple) else (want,)
    for i, (got, ref) in enumerate(zip(peer.outputs(), want)):
        ref = np.asarray(ref, dtype=np.float32)
        if got.shape != ref.shape:
            return "output %d has shape %s, NumPy's %s" % (i, got.shape, ref.shape)
        scale = max(1.0, float(np.nanmax(np.abs(ref), initial=0.0)))
        if not np.allclose(got, ref, rtol=1e-3, atol=1e-4 * scale, equal_nan=True):
            return "output %d differs from NumPy's by up to %g" % (
                i, np.nanmax(np.abs(got.astype(np.float64) - ref)))
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer", choices=["numpy", "halide"], required=True)
    args = parser.parse_args()
    if args.peer == "halide":
        import halide as hl
        import peers_halide
    state = {}
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            with np.errstate(all="ignore"):
                if "load" in cmd:
                    state.clear()
                    kernel = kernels.BY_NAME[cmd["load"]]
                    inputs = make_inputs(kernel, parse_shape(cmd["shape"]))
                    np_fn = getattr(peers_numpy, kernel.name)
                    answer = {}
                    if args.peer == "numpy":
                        state["run"] = lambda: np_fn(*inputs)
                    elif kernel.name not in peers_halide.PEERS:
                        answer = {"missing": True}   # no Halide version written
                    else:
                        t0 = time.perf_counter()
                        peer = peers_halide.build(kernel.name, inputs)
                        answer["compile_ms"] = (time.perf_counter() - t0) * 1e3
                        answer["target"] = str(hl.get_jit_target_from_environment())
                        if cmd.get("verify"):
                            error = verify(peer, np_fn, inputs)
                            if error:
                                answer = {"error": error}
                        state["run"] = peer.run
                else:
                    answer = time_calls(state["run"], cmd["min_runs"], cmd["min_time"])
        except Exception as e:  # the run goes on with the other kernels
            answer = {"error": "%s: %s" % (type(e).__name__, str(e).strip()[-1500:]),
                      "trace": traceback.format_exc()[-1500:]}
        print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
