#!/usr/bin/env python3
"""Keeps the errors catalogue, its documentation and its tests in step.

    check_error_codes.py TDSL_BINARY SOURCE_DIR

Fails when a code of include/tdsl/ErrorCodes.def has no section in docs/errors.md, when the docs
list a code that is not in the catalogue (or give it another summary), when a code has no golden
test (a `expected-error[E0xx]` marker or an `error[E0xx]` check line under tests/lit), or when a
documented example program (or command, where it needs no .npy file) no longer gives exactly
the message the docs show with its exit status.
"""
import os
import re
import subprocess
import sys
import tempfile

DEF = re.compile(r'^TDSL_ERROR\((\d+),\s*(\w+),\s*"(.*)"\)\s*$', re.M)
SECTION = re.compile(r"^## (E\d{3}): (.*)$", re.M)
# The codes of errors in the command line, which exit with status 2 (tools/tdsl/Usage.cpp) unless
# reported as a compile error, with a source location.
USAGE_CODES = {"E074", "E082", "E083", "E087", "E088", "E089", "E090", "E091", "E092"}
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.M | re.S)


def main() -> int:
    tdsl, root = sys.argv[1], sys.argv[2]
    failures = []
    with open(os.path.join(root, "include/tdsl/ErrorCodes.def"), encoding="utf-8") as f:
        catalogue = {f"E{int(n):03d}": summary.replace("\\?", "?")
                     for n, _, summary in DEF.findall(f.read())}
    if not catalogue:
        failures.append("no TDSL_ERROR entries in include/tdsl/ErrorCodes.def")

    with open(os.path.join(root, "docs/errors.md"), encoding="utf-8") as f:
        docs = f.read()
    headings = SECTION.findall(docs)
    documented = {code: summary for code, summary in headings}
    if len(documented) != len(headings):
        failures.append("docs/errors.md has a code twice")
    for code, summary in catalogue.items():
        if code not in documented:
            failures.append(f"{code} is in the catalogue but has no section in docs/errors.md")
        elif documented[code] != summary:
            failures.append(f"{code}: docs/errors.md says '{documented[code]}', the catalogue '{summary}'")
    for code in documented:
        if code not in catalogue:
            failures.append(f"docs/errors.md documents {code}, which is not in the catalogue")

    tested = set()
    for dirpath, _, files in os.walk(os.path.join(root, "tests/lit")):
        for name in files:
            if name.endswith(".tdsl"):
                with open(os.path.join(dirpath, name), encoding="utf-8", errors="replace") as f:
                    tested.update(re.findall(r"error\[(E\d{3})\]", f.read()))
    for code in catalogue:
        if code not in tested:
            failures.append(f"{code} has no golden test under tests/lit "
                            f"(an expected-error[{code}] marker or an error[{code}] check)")

    # Every documented example program gives exactly the documented message.
    starts = [m.start() for m in SECTION.finditer(docs)] + [len(docs)]
    with tempfile.TemporaryDirectory() as tmp:
        for (code, _), begin, end in zip(headings, starts, starts[1:]):
            blocks = BLOCK.findall(docs[begin:end])
            kinds = [kind for kind, _ in blocks]
            if "text" not in kinds:
                failures.append(f"{code}: docs/errors.md shows no message (a ```text block)")
                continue
            message = blocks[kinds.index("text")][1]
            if not message.startswith(("example.tdsl:", "error[")) or f"error[{code}]" not in message.splitlines()[0]:
                failures.append(f"{code}: the documented message does not start with its code")
            if "tdsl" not in kinds:
                continue
            source = re.sub(rb"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]),
                            blocks[kinds.index("tdsl")][1].encode("utf-8"))
            with open(os.path.join(tmp, "example.tdsl"), "wb") as f:
                f.write(source)
            command, status = ["check", "example.tdsl"], 1
            if "sh" in kinds:
                # A command: run here unless it needs files (.npy) or its message has
                # placeholders (PID); those have golden tests in runtime_errors.tdsl.
                words = blocks[kinds.index("sh")][1].split()
                if ".npy" in " ".join(words) or "PID" in message:
                    continue
                usage = code in USAGE_CODES and message.startswith("error[")
                command, status = words[1:], 2 if usage else 1
            proc = subprocess.run([tdsl] + command, cwd=tmp, capture_output=True, timeout=60)
            got = proc.stderr.decode("utf-8", "replace")
            if proc.returncode != status or got != message:
                failures.append(f"{code}: the example gives (exit {proc.returncode}):\n{got}"
                                f"but docs/errors.md shows:\n{message}")

    for failure in failures:
        print("FAIL", failure)
    print(f"{len(catalogue)} codes; {len(documented)} documented; {len(tested & set(catalogue))} tested")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
