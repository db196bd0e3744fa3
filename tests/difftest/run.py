#!/usr/bin/env python3
"""Differential testing: random programs (generate.py) compiled for the CPU or the GPU (--target)
and compared with the reference interpreter by tdsl-difftest. Every failure (mismatch,
nondeterminism, run-time error, CUDA that does not compile, crash, or a generated program that
does not compile) is minimized by deleting statements and saved in --save-dir. Exits 0 when all
is well, 1 on a failure, 77 when --target cuda finds no NVRTC (nothing checked: a test skips).

    run.py --driver build/bin/tdsl-difftest [--target cpu|cuda] [--seed 1] [--count 200]
           [--batch 50] [--save-dir DIR] [--threads N] [--jobs J] [--minimize-seconds S]

With --target cuda and no GPU the driver compiles every kernel to PTX and launches nothing.
--minimize-seconds bounds the time spent minimizing: once it is spent, failures are saved as far
as they were minimized.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generate  # noqa: E402


# Every load and store of CPU code checked: confirms the static bounds proofs.
BOUNDS = ["--checks=bounds"]
TARGET = ["--target", "cpu"]


def run_driver(driver, files, threads, timeout=600):
    """(exit status, stdout, stderr) of the driver; the outputs through files, of which only the
    first 4 MiB are read (a runaway driver must not exhaust this process's memory)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            command = [driver, "--quiet", "--threads", str(threads)] + TARGET + BOUNDS + files
            proc = subprocess.run(command, stdout=out, stderr=err, timeout=timeout)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = -1000
        out.seek(0)
        err.seek(0)
        text = [f.read(4 << 20).decode("utf-8", "replace") for f in (out, err)]
    return rc, text[0], text[1] if rc != -1000 else "timeout"


KINDS = ("MISMATCH", "NONDETERMINISTIC", "ERROR", "INVALID")


def problems(out):
    """(kind, file, text) of each problem the driver reported; the text takes in the indented
    lines under the problem's own (an NVRTC log)."""
    found, current = [], None
    for line in out.splitlines():
        if line.startswith("    ") and current:
            current[2] += "\n" + line
            continue
        current = None
        if line.split(" ")[0] in KINDS:
            current = [line.split(" ")[0], line.split(" ")[1].rstrip(":"), line]
            found.append(current)
    return found


def classify(driver, path, threads):
    """The kind of failure of one program: None, INVALID, MISMATCH, ERROR, NONDETERMINISTIC,
    CRASH or HANG, and what the driver said."""
    rc, out, err = run_driver(driver, [path], threads, timeout=120)
    if rc == -1000:
        return "HANG", err
    if rc < 0 or rc > 2:
        return "CRASH", err[-2000:]
    found = problems(out)
    for kind in KINDS:
        for k, _, text in found:
            if k == kind:
                return kind, text
    return None, ""


def minimize(driver, path, kind, threads, deadline):
    """Deletes statements (and whole kernels) while the program still fails the same way, until
    time.monotonic() passes `deadline`."""
    lines = open(path).read().split("\n")
    changed = True
    tmp = path + ".min.tdsl"
    while changed:
        changed = False
        i = 0
        while i < len(lines) and time.monotonic() < deadline:
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
    ap.add_argument("--target", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--save-dir")
    ap.add_argument("--no-bounds-checks", action="store_true")
    ap.add_argument("--minimize-seconds", type=float, default=float("inf"))
    args = ap.parse_args()
    TARGET[1] = args.target
    if args.no_bounds_checks or args.target == "cuda":
        BOUNDS.clear()

    work = tempfile.mkdtemp(prefix="tdsl-difftest-")
    files = []
    for k in range(args.count):
        path = os.path.join(work, f"prog_{args.seed + k}.tdsl")
        with open(path, "w") as f:
            f.write(generate.gen_program(args.seed + k))
        files.append(path)

    batches = [files[i:i + args.batch] for i in range(0, len(files), args.batch)]
    totals = {"programs": 0, "invalid": 0, "kernels": 0, "runs": 0, "problems": 0, "excused": 0,
              "gather_errors": 0}
    kinds = {kind: 0 for kind in KINDS}
    suspects = []
    notes = set()

    def do_batch(batch):
        return batch, run_driver(args.driver, batch, args.threads)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for batch, (rc, out, err) in pool.map(do_batch, batches):
            if rc == 77:  # The same for every batch: nothing can be checked here.
                print(f"difftest --target {args.target} skipped: {out.strip()}")
                return 77
            for line in out.splitlines():
                if line.startswith("NOTE") and line not in notes:
                    notes.add(line)
                    print(line, flush=True)
                elif line.startswith("EXCUSED"):  # No failure, but its reason is worth a look.
                    print(line, flush=True)
            for kind, _, _ in problems(out):
                kinds[kind] += 1
            m = re.search(r"programs (\d+) invalid (\d+) kernels (\d+) runs (\d+) "
                          r"problems (\d+) excused (\d+) gather_errors (\d+)", out)
            if m:
                for key, group in zip(totals, m.groups()):
                    totals[key] += int(group)
            print(f"batch {os.path.basename(batch[0])}..{os.path.basename(batch[-1])}: exit {rc}; "
                  f"{m.group(0) if m else 'no summary'}", flush=True)
            if rc in (0,) and m:
                continue
            if rc in (1, 2) and m:
                suspects += sorted({path for _, path, _ in problems(out)})
            else:  # crashed or hung: look at each program alone
                suspects += batch

    failures = []
    deadline = time.monotonic() + args.minimize_seconds
    for path in suspects:
        kind, detail = classify(args.driver, path, args.threads)
        if kind is None:
            continue
        small = minimize(args.driver, path, kind, args.threads, deadline)
        how = "minimized" if time.monotonic() < deadline else "minimized until time ran out"
        failures.append((kind, path, detail, small))
        print(f"{kind} {os.path.basename(path)}: {detail}\n--- {how}:\n{small}\n---")
        if args.save_dir:
            os.makedirs(args.save_dir, exist_ok=True)
            name = os.path.join(args.save_dir, f"difftest_{kind.lower()}_{os.path.basename(path)}")
            header = "".join(f"# {line}\n" for line in f"{kind}: {detail}".splitlines())
            with open(name, "w") as f:
                f.write(header + small + "\n")
    print(f"difftest --target {args.target}: {len(files)} programs generated (seed {args.seed}); "
          f"driver compiled {totals['programs']} programs ({totals['invalid']} invalid), "
          f"{totals['kernels']} kernels, {totals['runs']} runs; {kinds['MISMATCH']} mismatches, "
          f"{kinds['NONDETERMINISTIC']} nondeterministic, {kinds['ERROR']} errors, "
          f"{totals['excused']} excused, {totals['gather_errors']} runs failing alike with an index "
          f"out of range; {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
