#!/usr/bin/env python3
"""Runs every code block of the user documents, so that they cannot drift from the compiler.

    run_doc_examples.py TDSL_BINARY DOC.md...

Conventions (HTML comments, invisible when rendered, on the lines just before a fence):

- ```tdsl       a program: `tdsl check` must accept it (exit 0).
- <!-- expect-error E055 -->
  ```tdsl       an error example: `tdsl check` must exit 1 and print `error[E055]`.
- <!-- file: softmax.tdsl -->
  ```tdsl       also saved as softmax.tdsl in the document's scratch folder.
- ```sh         run with bash in the document's scratch folder (holding every `file:` block of
                the document, whichever comes first), `tdsl` on PATH, when a line of it starts
                with `tdsl`; it must exit 0 (every command, `set -e`), or:
- <!-- exit 1 -->
  ```sh         the block's last command must exit with that status.
- ```text right after a block that was run (a blank line between): its output. Each line shown
  must appear in the output, in order; a line `...` stands for lines left out. Not compared for
  an sh block marked <!-- output varies --> (timings), nor for `tdsl run` and `tdsl bench` on a
  CPU without AVX-512 (the math functions' last bits differ by path; the page's outputs came from
  an AVX-512 machine).
- ```text, ```cpp, ```cmake ...: otherwise shown, not run. A block with no language is an error
  here, so that every example says what it is.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```[ \t]*$", re.M | re.S)
MARK = re.compile(r"^<!--\s*(expect-error|file|exit|output):?\s*(\S+)\s*-->\s*$")
TIMEOUT = 300


def blocks(text):
    """Yields (first line, last line, language, body, marks) of each fenced block."""
    for m in FENCE.finditer(text):
        start = text.count("\n", 0, m.start()) + 1
        end = text.count("\n", 0, m.end()) + 1
        marks = {}
        for before in reversed(text[:m.start()].rstrip("\n").split("\n")):
            mm = MARK.match(before.strip())
            if not mm:
                break
            marks[mm.group(1)] = mm.group(2)
        yield start, end, m.group(1), m.group(2), marks


def has_avx512():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return " avx512f" in f.read()
    except OSError:
        return False


def compare(shown, actual):
    """None when every line shown appears in `actual` in order ('...' skips), else the first
    line that does not."""
    lines = [l.rstrip() for l in actual.splitlines()]
    pos = 0
    for want in (l.rstrip() for l in shown.splitlines()):
        if want.strip() == "..." or not want:
            continue
        while pos < len(lines) and lines[pos] != want:
            pos += 1
        if pos == len(lines):
            return want
        pos += 1
    return None


def run(cmd, cwd, env, shell=False):
    return subprocess.run(cmd, cwd=cwd, env=env, shell=shell, capture_output=True, text=True,
                          timeout=TIMEOUT, executable="/bin/bash" if shell else None)


def check_doc(tdsl, doc, failures):
    with open(doc, encoding="utf-8") as f:
        text = f.read()
    name = os.path.basename(doc)
    found = list(blocks(text))
    scratch = tempfile.mkdtemp(prefix="tdsl-doc-")
    bindir = os.path.join(scratch, ".bin")
    os.mkdir(bindir)
    os.symlink(os.path.abspath(tdsl), os.path.join(bindir, "tdsl"))
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
               NO_COLOR="1", TDSL_CACHE_DIR=os.path.join(scratch, ".cache"))
    ran = 0
    avx512 = has_avx512()
    last = None  # (last line, output, compare?) of the block run last
    try:
        for line, end, lang, body, marks in found:
            if lang == "tdsl" and "file" in marks:
                with open(os.path.join(scratch, marks["file"]), "w", encoding="utf-8") as f:
                    f.write(body)
        for line, end, lang, body, marks in found:
            where = f"{name}:{line}"
            if lang == "text" and last and line <= last[0] + 2:
                if last[2]:
                    missing = compare(body, last[1])
                    if missing is not None:
                        failures.append(f"{where}: the output shown has a line that the command "
                                        f"does not print:\n  {missing}\nit printed:\n{last[1]}")
                last = None
                continue
            last = None
            if not lang:
                failures.append(f"{where}: a code block with no language (```tdsl, ```sh, ```text...)")
            elif lang == "tdsl":
                path = os.path.join(scratch, marks.get("file", f".block{line}.tdsl"))
                if "file" not in marks:
                    with open(path, "w", encoding="utf-8") as f:
                        f.write(body)
                r = run([tdsl, "check", os.path.basename(path)], scratch, env)
                ran += 1
                code = marks.get("expect-error")
                if code is None and r.returncode != 0:
                    failures.append(f"{where}: `tdsl check` failed (exit {r.returncode}):\n"
                                    f"{r.stdout}{r.stderr}")
                elif code is not None and (r.returncode != 1 or f"error[{code}]" not in r.stderr):
                    failures.append(f"{where}: expected error[{code}] and exit 1, got exit "
                                    f"{r.returncode}:\n{r.stdout}{r.stderr}")
                last = (end, r.stdout + r.stderr, True)
            elif lang == "sh":
                if not any(l.strip().startswith("tdsl ") for l in body.splitlines()):
                    continue
                status = int(marks.get("exit", "0"))
                script = ("set -e\n" if status == 0 else "") + body
                r = run(script, scratch, env, shell=True)
                ran += 1
                if r.returncode != status:
                    failures.append(f"{where}: expected exit {status}, got {r.returncode}:\n"
                                    f"{body}{r.stdout[-2000:]}{r.stderr[-2000:]}")
                machine = re.search(r"^\s*tdsl (run|bench)\b", body, re.M) and not avx512
                last = (end, r.stdout + r.stderr, marks.get("output") != "varies" and not machine)
            elif lang not in ("text", "cpp", "cmake", "console", "json"):
                failures.append(f"{where}: unknown block language '{lang}'")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"{name}: {len(found)} blocks, {ran} run")


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    tdsl, docs = os.path.abspath(sys.argv[1]), sys.argv[2:]
    failures = []
    for doc in docs:
        check_doc(tdsl, doc, failures)
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
