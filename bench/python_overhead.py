#!/usr/bin/env python3
"""The cost of calling a tiny kernel from Python on NumPy arrays: tdsl's kernel object against
numexpr's evaluate, PyTorch eager and NumPy's own ufunc, in one process, alternating.

    PYTHONPATH=build/python .venv/bin/python bench/python_overhead.py [--n 16] [--repeats 15]

Each figure is the median over `--repeats` rounds of the mean time of a call over a timed loop
(`--loops` calls). numexpr and torch are optional (`.venv/bin/pip install numexpr torch`); a
peer that is not installed is left out. The load average is printed with the numbers: the
machine may be shared.
"""
import argparse
import os
import statistics
import timeit

import numpy as np

import tdsl

SOURCE = "kernel add(a: f32[N], b: f32[N]) -> c: f32[N] {\n    c[i] = a[i] + b[i]\n}\n"


def candidates(n):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    c = np.empty_like(a)
    add = tdsl.compile(SOURCE, threads=1, tiering="optimized").add
    add(a, b)
    expected = a + b
    result = {
        "tdsl add(a, b)": lambda: add(a, b),
        "tdsl add(a, b, out=c)": lambda: add(a, b, out=c),
        "numpy np.add(a, b, out=c)": lambda: np.add(a, b, out=c),
    }
    try:
        import numexpr

        numexpr.set_num_threads(1)
        names = {"a": a, "b": b}
        result["numexpr evaluate('a + b')"] = lambda: numexpr.evaluate("a + b", local_dict=names)
        result["numexpr evaluate('a + b', out=c)"] = lambda: numexpr.evaluate(
            "a + b", local_dict=names, out=c)
    except ImportError:
        pass
    try:
        import torch

        torch.set_num_threads(1)
        ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
        result["torch a + b"] = lambda: ta + tb
        result["torch.add(a, b, out=c)"] = lambda: torch.add(ta, tb, out=tc)
    except ImportError:
        pass
    for name, call in result.items():
        call()
        check = add(a, b) if name.startswith("tdsl") else None
        if check is not None:
            np.testing.assert_allclose(check, expected)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=16, help="elements per array")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--loops", type=int, default=20000)
    args = parser.parse_args()
    calls = candidates(args.n)
    times = {name: [] for name in calls}
    for _ in range(args.repeats):
        for name, call in calls.items():  # Alternating: every peer sees the same noise.
            times[name].append(timeit.timeit(call, number=args.loops) / args.loops)
    load = os.getloadavg()
    print(f"call overhead, f32[{args.n}] + f32[{args.n}], one thread; median of {args.repeats} "
          f"rounds of {args.loops} calls; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'call':36} {'median us':>10} {'min us':>8}")
    for name, t in times.items():
        print(f"{name:36} {statistics.median(t) * 1e6:10.3f} {min(t) * 1e6:8.3f}")


if __name__ == "__main__":
    main()
