#!/usr/bin/env python3
"""The README's quick start, as a newcomer runs it: its commands, taken from the README itself.

    readme_quickstart.py SOURCE_DIR --run N      run the block's N-th command (1-based) there
    readme_quickstart.py SOURCE_DIR --check-ci   check that .ci/run runs every command

The quick start is the first ```sh block under "## Quick start" in README.md, one command a
line. `.ci/run`, which runs on a fresh clone, runs each of them: the test command as it is
written, and the others through `--run N`, so that a command the README shows is a command a
clean clone has run. `--check-ci` (a ctest) fails when the README and `.ci/run` part.
"""
import os
import re
import subprocess
import sys


def quickstart_commands(root):
    with open(os.path.join(root, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("## Quick start", 1)
    if len(section) < 2:
        sys.exit("README.md has no '## Quick start' section")
    block = re.search(r"```sh\n(.*?)```", section[1], re.S)
    if not block:
        sys.exit("README.md's quick start has no ```sh block")
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def main():
    root, mode = sys.argv[1], sys.argv[2]
    commands = quickstart_commands(root)
    if mode == "--run":
        n = int(sys.argv[3])
        print(f"README quick start, command {n}: {commands[n - 1]}", flush=True)
        return subprocess.run(["bash", "-euo", "pipefail", "-c", commands[n - 1]], cwd=root).returncode
    if mode == "--check-ci":
        with open(os.path.join(root, ".ci", "run"), encoding="utf-8") as f:
            ci = [line.strip() for line in f if not line.lstrip().startswith("#")]
        missing = [f"command {n}: {c}" for n, c in enumerate(commands, 1)
                   if c not in ci and
                   f"python3 tests/docs/readme_quickstart.py . --run {n}" not in ci]
        for m in missing:
            print(f".ci/run does not run the README's quick start {m}")
        print(f"{len(commands)} quick start commands, {len(missing)} not run by .ci/run")
        return 1 if missing or not commands else 0
    sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    sys.exit(main())
