#!/usr/bin/env python3
"""Runs `tdsl check` and `tdsl run` on every hostile input: each must exit non-zero (not by a
signal) with an error message that carries its code (`error[E0xx]`, docs/errors.md) on stderr
(except `check` of the valid_* files), and finish (a hang guard of --timeout seconds; the
figures printed are the times measured).

    run_hostile.py TDSL_BINARY CORPUS_DIR [--timeout S]
"""
import os
import subprocess
import sys
import time


def main():
    tdsl, corpus = sys.argv[1], sys.argv[2]
    timeout = float(sys.argv[sys.argv.index("--timeout") + 1]) if "--timeout" in sys.argv else 20.0
    here = os.path.dirname(os.path.abspath(__file__))
    files = sorted(os.path.join(corpus, f) for f in os.listdir(corpus))
    files += sorted(os.path.join(here, f) for f in os.listdir(here) if f.endswith(".tdsl"))
    failures = []
    slowest = (0.0, "")
    for path in files:
        for mode in (["check"], ["run", "--shape", "N=3", "--random"]):
            cmd = [tdsl, mode[0], path] + mode[1:]
            start = time.monotonic()
            try:
                proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                failures.append(f"{os.path.basename(path)} ({mode[0]}): no exit within {timeout} s")
                continue
            elapsed = time.monotonic() - start
            slowest = max(slowest, (elapsed, f"{os.path.basename(path)} ({mode[0]})"))
            err = proc.stderr.decode("utf-8", "replace")
            name = f"{os.path.basename(path)} ({mode[0]})"
            if proc.returncode == 0 and os.path.basename(path).startswith("valid_") \
                    and mode[0] == "check":
                pass  # An empty file is a valid one.
            elif proc.returncode == 0:
                failures.append(f"{name}: exit status 0")
            elif proc.returncode < 0 or proc.returncode > 125:
                failures.append(f"{name}: killed by signal / crashed (status {proc.returncode})\n{err[-2000:]}")
            elif "error" not in err:
                failures.append(f"{name}: status {proc.returncode} without an error message: {err[:300]!r}")
            elif "error[E" not in err:
                failures.append(f"{name}: an error without a code: {err[:300]!r}")
            elif "internal" in err.lower() or "assert" in err.lower():
                failures.append(f"{name}: internal error: {err[:500]}")
            print(f"{elapsed:7.3f} s  status {proc.returncode}  {name}  {err.splitlines()[0][:100] if err else ''}")
    print(f"{len(files)} inputs; slowest {slowest[0]:.3f} s ({slowest[1]})")
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
