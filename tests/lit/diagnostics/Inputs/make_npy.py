#!/usr/bin/env python3
"""Writes the .npy files of runtime_errors.tdsl and runtime_gathers.tdsl into OUT_DIR (without NumPy):
w5.npy (f32, shape (5,)), x4.npy (f32, shape (4,)), i32.npy (int32, shape (3,)), truncated.npy (header says 3 floats,
holds 1), junk.npy (no .npy magic), gather_ids.npy (int64 indices, shape (5,), some out of range)."""
import os
import struct
import sys


def npy(descr, shape, payload):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, "".join("%d," % d for d in shape))
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


def main():
    out = sys.argv[1]
    files = {
        "w5.npy": npy("<f4", (5,), struct.pack("<5f", *range(5))),
        "x4.npy": npy("<f4", (4,), struct.pack("<4f", *range(4))),
        "i32.npy": npy("<i4", (3,), struct.pack("<3i", 1, 2, 3)),
        "truncated.npy": npy("<f4", (3,), struct.pack("<f", 1.0)),
        "junk.npy": b"this is not a .npy file\n",
        "gather_ids.npy": npy("<i8", (5,), struct.pack("<5q", 2, 9, -3, 5, -1)),
    }
    for name, data in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
