#!/usr/bin/env python3
"""Checks that `tdsl check FILE` reports exactly the errors the file marks.

A line ending in `# expected-error {{text}}` expects an error on that line whose message
contains `text`; `# expected-error[E030] {{text}}` also requires the error's code (see
docs/errors.md), `# expected-error@+N {{text}}` / `@-N` points N lines down / up, and
`# expected-error:COL {{text}}` also pins the column (in that order: `[E030]@+1:5`). Several
markers may share a line. Every reported error must be expected and every expected error
reported, every reported error must carry a code (`error[E0xx]:`), and `tdsl check` must exit
non-zero exactly when errors are expected.
"""
import re
import subprocess
import sys

MARK = re.compile(r"expected-(error|note)(?:\[(E\d{3})\])?(@[+-]\d+)?(:\d+)?\s*\{\{(.*?)\}\}")
REPORTED = re.compile(r"^(.*?):(\d+):(\d+): (error|note)(?:\[(E\d{3})\])?: (.*)$")


def main() -> int:
    tdsl, path = sys.argv[1], sys.argv[2]
    expected = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, start=1):
            for kind, code, offset, col, text in MARK.findall(line):
                target = lineno + (int(offset[1:]) if offset else 0)
                expected.append((kind, code, target, int(col[1:]) if col else None, text))
    proc = subprocess.run([tdsl, "check", path], capture_output=True, text=True, timeout=60)
    reported = []
    for line in proc.stderr.splitlines():
        m = REPORTED.match(line)
        if m and m.group(1) == path:
            reported.append((m.group(4), int(m.group(2)), int(m.group(3)), m.group(6),
                             m.group(5) or ""))
    if "internal error" in proc.stderr or proc.returncode not in (0, 1):
        print(f"tdsl check crashed or hit an internal error (exit {proc.returncode}):\n{proc.stderr}")
        return 1

    failures = []
    unmatched = list(reported)
    for kind, line, col, text, code in reported:
        if kind == "error" and not code:
            failures.append(f"error without a code at line {line}:{col}: {text}")
    for kind, code, line, col, text in expected:
        match = next((r for r in unmatched if r[0] == kind and r[1] == line
                      and (col is None or r[2] == col) and text in r[3]
                      and (not code or r[4] == code)), None)
        if match is None:
            failures.append(f"expected {kind}" + (f"[{code}]" if code else "")
                            + f" not reported: line {line}"
                            + (f":{col}" if col else "") + f" {{{{{text}}}}}")
        else:
            unmatched.remove(match)
    for kind, line, col, text, code in unmatched:
        if kind == "error":
            failures.append(f"unexpected error[{code}] at line {line}:{col}: {text}")
    wants_errors = any(k == "error" for k, *_ in expected)
    if wants_errors != (proc.returncode != 0):
        failures.append(f"exit code {proc.returncode} but errors expected: {wants_errors}")
    if failures:
        print("\n".join(failures))
        print("--- tdsl check output ---")
        print(proc.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
