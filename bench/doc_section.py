"""Writes a generated section into a Markdown file between its own begin and end markers,
leaving the rest of the file as it is (bench/run_cpu.py, bench/run_suite.py)."""
import os


def write_section(path, begin, end, section, heading=None):
    """Replaces the text between `begin` and `end` in `path` with `section`; where the markers
    are missing, appends them with the section (after `heading`, if given) at the end."""
    text = open(path).read() if os.path.exists(path) else "# Performance\n"
    block = begin + "\n" + section + end
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + (heading + "\n\n" if heading else "") + block + "\n"
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)
