#!/usr/bin/env python3
"""Differential testing: random programs (generate.py) compiled for the CPU and compared with the
reference interpreter by tdsl-difftest. Every failure (mismatch, nondeterminism, run-time error,
crash, or a generated program that does not compile) is minimized by deleting statements and
saved in --save-dir.

    run.py --driver build/bin/tdsl-difftest [--seed 1] [--count 200] [--batch 50]
           [--save-dir DIR] [--threads N] [--jobs J]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generate  # noqa: E402


BOUNDS = ["--checks=bounds"]  # Every load and store checked: confirms the static bounds proofs.


def run_driver(driver, files, threads, timeout=600):
    """(exit status, stdout, stderr) of the driver; the outputs through files, of which only the
    first 4 MiB are read (a runaway driver must not exhaust this process's memory)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run([driver, "--quiet", "--threads", str(threads)] + BOUNDS + files,
                                  stdout=out, stderr=err, timeout=timeout)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = -1000
        out.seek(0)
        err.seek(0)
        text = [f.read(4 << 20).decode("utf-8", "replace") for f in (out, err)]
    return rc, text[0], text[1] if rc != -1000 else "timeout"


def classify(driver, path, threads):
    """The kind of failure of one program: None, INVALID, MISMATCH, ERROR, NONDETERMINISTIC,
    CRASH or HANG."""
    rc, out, err = run_driver(driver, [path], threads, timeout=120)
    if rc == -1000:
        return "HANG", err
    if rc < 0 or rc > 2:
        return "CRASH", err[-2000:]
    for kind in ("MISMATCH", "NONDETERMINISTIC", "ERROR", "INVALID"):
        for line in out.splitlines():
            if line.startswith(kind):
                return kind, line
    return None, ""


def minimize(driver, path, kind, threads):
    """Deletes statements (and whole kernels) while the program still fails the same way."""
    lines = open(path).read().split("\n")
    changed = True
    tmp = path + ".min.tdsl"
    while changed:
        changed = False
        i = 0
        while i < len(lines):
            line = lines[i]
            candidates = []
            if line.startswith("    ") and "=" in line:
                candidates.append(lines[:i] + lines[i + 1:])
            if line.startswith("kernel helper"):
                end = lines.index("}", i)
                candidates.append(lines[:i] + lines[end + 1:])
            for cand in candidates:
                with open(tmp, "w") as f:
                    f.write("\n".join(cand))
                if classify(driver, tmp, threads)[0] == kind:
                    lines = cand
                    changed = True
                    break
            else:
                i += 1
    os.remove(tmp)
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--save-dir")
    ap.add_argument("--no-bounds-checks", action="store_true")
    args = ap.parse_args()
    if args.no_bounds_checks:
        BOUNDS.clear()

    work = tempfile.mkdtemp(prefix="tdsl-difftest-")
    files = []
    for k in range(args.count):
        path = os.path.join(work, f"prog_{args.seed + k}.tdsl")
        with open(path, "w") as f:
            f.write(generate.gen_program(args.seed + k))
        files.append(path)

    batches = [files[i:i + args.batch] for i in range(0, len(files), args.batch)]
    totals = {"programs": 0, "kernels": 0, "runs": 0}
    suspects = []

    def do_batch(batch):
        return batch, run_driver(args.driver, batch, args.threads)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for batch, (rc, out, err) in pool.map(do_batch, batches):
            m = re.search(r"programs (\d+) invalid \d+ kernels (\d+) runs (\d+)", out)
            if m:
                totals["programs"] += int(m.group(1))
                totals["kernels"] += int(m.group(2))
                totals["runs"] += int(m.group(3))
            print(f"batch {os.path.basename(batch[0])}..{os.path.basename(batch[-1])}: exit {rc}; "
                  f"{m.group(0) if m else 'no summary'}", flush=True)
            if rc in (0,) and m:
                continue
            if rc in (1, 2) and m:
                bad = {line.split()[1].rstrip(":") for line in out.splitlines()
                       if line.split() and line.split()[0] in
                       ("MISMATCH", "NONDETERMINISTIC", "ERROR", "INVALID")}
                suspects += sorted(bad)
            else:  # crashed or hung: look at each program alone
                suspects += batch

    failures = []
    for path in suspects:
        kind, detail = classify(args.driver, path, args.threads)
        if kind is None:
            continue
        small = minimize(args.driver, path, kind, args.threads)
        failures.append((kind, path, detail, small))
        print(f"{kind} {os.path.basename(path)}: {detail}\n--- minimized:\n{small}\n---")
        if args.save_dir:
            os.makedirs(args.save_dir, exist_ok=True)
            name = os.path.join(args.save_dir, f"difftest_{kind.lower()}_{os.path.basename(path)}")
            with open(name, "w") as f:
                f.write(f"# {kind}: {detail}\n" + small + "\n")
    print(f"difftest: {len(files)} programs generated (seed {args.seed}); driver compiled "
          f"{totals['programs']} programs, {totals['kernels']} kernels, {totals['runs']} runs; "
          f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
