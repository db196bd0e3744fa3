#!/usr/bin/env python3
"""Runs one libFuzzer target on a working corpus seeded from the repository's programs.

    run_fuzzer.py FUZZER SOURCE_DIR CORPUS_DIR [libFuzzer flags...]

The seeds: every .tdsl under tests/ and examples/ (e2e programs, lit tests, hostile inputs under
64 KiB) and tests/fuzz/seeds. The corpus directory keeps what the fuzzer adds between runs.
"""
import os
import shutil
import subprocess
import sys


def main():
    fuzzer, source, corpus = sys.argv[1:4]
    flags = sys.argv[4:]
    os.makedirs(corpus, exist_ok=True)
    for root in ("tests", "examples"):
        for dirpath, _, names in os.walk(os.path.join(source, root)):
            for name in names:
                if name.endswith(".tdsl"):
                    path = os.path.join(dirpath, name)
                    if os.path.getsize(path) <= 65536:
                        rel = os.path.relpath(path, source).replace(os.sep, "_")
                        shutil.copyfile(path, os.path.join(corpus, "seed_" + rel))
    cmd = [fuzzer, corpus, "-max_len=4096", "-timeout=120", "-rss_limit_mb=4096",
           "-print_final_stats=1"] + flags
    print(" ".join(cmd), flush=True)
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
