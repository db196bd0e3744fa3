#!/usr/bin/env python3
"""Keeps the user documents about the project: no notes on how the work went, no machine paths.

    check_docs_clean.py SOURCE_DIR

Greps README.md and docs/*.md for absolute paths of a particular machine (/work/, /tmp/,
/home/), for words of a work log (task, session, helper, TODO, FIXME, "issue 12", "step 3 of")
and fails on each line found. The documents speak to users of tdsl: how it behaves and why, never
who did what when.
"""
import glob
import os
import re
import sys

PATTERNS = [
    (re.compile(r"/(work|tmp|home|root)/"), "a machine path"),
    (re.compile(r"\btasks?\b", re.I), "a work-process word ('task')"),
    (re.compile(r"\bsessions?\b", re.I), "a work-process word ('session')"),
    (re.compile(r"\bhelpers?\b", re.I), "a work-process word ('helper')"),
    (re.compile(r"\b(TODO|FIXME|XXX)\b"), "a TODO note"),
    (re.compile(r"\bissue[- #]*\d+", re.I), "a reference to a work item ('issue N')"),
    (re.compile(r"\bworktree\b|\bbranch(es)? [`']?\w+-\w+", re.I), "a development branch"),
]


def main() -> int:
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    paths = [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "*.md")))
    failures = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                for pattern, what in PATTERNS:
                    m = pattern.search(line)
                    if m:
                        rel = os.path.relpath(path, root)
                        print(f"{rel}:{n}: {what}: '{m.group(0)}' in: {line.strip()[:160]}")
                        failures += 1
    print(f"{len(paths)} documents, {failures} lines to fix")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
