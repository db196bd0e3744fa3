#!/usr/bin/env python3
"""Keeps bench/suite from rotting: runs every kernel of the suite at its small, odd shape with
`tdsl run --check` (compiled code against the reference interpreter) and, where NumPy is
installed, on random inputs passed as .npy files, comparing the outputs with its NumPy peer
(bench/suite/peers_numpy.py) too, so the peer timed beside it computes the same thing. One
`tdsl run` a kernel: under the sanitizers of CI each compile takes seconds.

    tests/suite/check_suite.py build/bin/tdsl [--only k1,k2]
"""
import argparse
import os
import subprocess
import sys
import tempfile

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(SOURCE_DIR, "bench", "suite"))
import kernels  # noqa: E402

try:
    import numpy as np
    import peers_numpy
except ImportError:
    np = None


def output_names(kernel):
    """The kernel's output names, read from its header in the .tdsl file."""
    text = open(kernel.file).read()
    header = text.split("kernel %s(" % kernel.name, 1)[1].split("{", 1)[0]
    outs = header.split("->", 1)[1].strip()
    if outs.startswith("("):
        outs = outs[1:outs.rindex(")")]
    names, depth, current = [], 0, ""
    for ch in outs:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            names.append(current)
            current = ""
        else:
            current += ch
    names.append(current)
    return [n.split(":")[0].strip() for n in names]


def check_interpreter(tdsl, k):
    cmd = [tdsl, "run", k.file, "--kernel", k.name, "--shape", k.shape_arg(k.small), "--random",
           "--check"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        return "%s: exit %d\n%s" % (" ".join(cmd), proc.returncode, proc.stdout + proc.stderr)
    return None


def check_numpy(tdsl, k, tmp):
    rng = np.random.default_rng(7)
    inputs = [rng.standard_normal(s, dtype=np.float32) for s in k.input_shapes(k.small)]
    cmd = [tdsl, "run", k.file, "--kernel", k.name, "--check"]
    for (name, _), arr in zip(k.inputs, inputs):
        path = os.path.join(tmp, "%s.%s.npy" % (k.name, name))
        np.save(path, arr)
        cmd += ["--in", "%s=%s" % (name, path)]
    outs = output_names(k)
    for name in outs:
        cmd += ["--out", "%s=%s" % (name, os.path.join(tmp, "%s.out.%s.npy" % (k.name, name)))]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        return "%s: exit %d\n%s" % (" ".join(cmd), proc.returncode, proc.stdout + proc.stderr)
    with np.errstate(all="ignore"):
        want = getattr(peers_numpy, k.name)(*inputs)
    if len(outs) == 1:
        want = (want,)
    for name, w in zip(outs, want):
        got = np.load(os.path.join(tmp, "%s.out.%s.npy" % (k.name, name)))
        w = np.asarray(w, dtype=np.float32)
        if got.shape != w.shape:
            return "%s: output %s has shape %s, NumPy's %s" % (k.name, name, got.shape, w.shape)
        # Random inputs make some values NaN (adam's sqrt of a negative second moment):
        # they must be NaN at the same places.
        scale = max(1.0, float(np.nanmax(np.abs(w), initial=0.0)))
        if not np.allclose(got, w, rtol=1e-4, atol=1e-4 * scale, equal_nan=True):
            err = np.nanmax(np.abs(got.astype(np.float64) - w), initial=np.inf)
            return "%s: output %s differs from NumPy's by up to %g" % (k.name, name, err)
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tdsl")
    parser.add_argument("--only", help="comma-separated kernels (default: all)")
    args = parser.parse_args()
    chosen = [k for k in kernels.KERNELS if not args.only or k.name in args.only.split(",")]
    failures = []
    with tempfile.TemporaryDirectory(prefix="tdsl-suite-check-") as tmp:
        for k in chosen:
            if np is None:
                error = check_interpreter(args.tdsl, k)
            else:
                error = check_numpy(args.tdsl, k, tmp)
            print("%-16s %s" % (k.name, "ok" if error is None else "FAILED"), flush=True)
            if error:
                failures.append(error)
    if np is None:
        print("NumPy not installed: compared with the interpreter only")
    for error in failures:
        print(error, file=sys.stderr)
    print("%d of %d kernels failed" % (len(failures), len(chosen)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
