#!/usr/bin/env python3
"""Checks a screenshot of a roofline plot: a PNG of the expected size whose pixels show the
roofline (red) and at least N kernel points (blue), on a mostly white page. Standard library only.
Usage: check_png.py FILE.png WIDTH HEIGHT MIN_POINTS"""
import struct
import sys
import zlib


def read_png(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, f"unsupported PNG {header}"
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev, at = [], bytearray(stride), 0
    for _ in range(height):
        kind, line = raw[at], bytearray(raw[at + 1:at + 1 + stride])
        at += 1 + stride
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 255
        rows.append(line)
        prev = line
    return width, height, bpp, rows


def near(pixel, rgb, tolerance=40):
    return all(abs(p - q) <= tolerance for p, q in zip(pixel, rgb))


def main():
    path, want_w, want_h, min_points = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    width, height, bpp, rows = read_png(path)
    red = blue = white = 0
    colors = set()
    for line in rows:
        for x in range(width):
            pixel = tuple(line[x * bpp:x * bpp + 3])
            colors.add(pixel)
            if near(pixel, (0xc0, 0x39, 0x2b)):
                red += 1
            elif near(pixel, (0x2c, 0x7f, 0xb8)):
                blue += 1
            elif pixel == (255, 255, 255):
                white += 1
    total = width * height
    print(f"size {width}x{height}")
    print("roofline drawn", red > 500)          # A 3-pixel line across most of the plot.
    print("points drawn", blue >= 60 * min_points)  # Each point is a disc of radius 6.
    print("mostly white", white > total // 2)
    print("detailed", len(colors) > 20)          # Text and antialiasing, not a blank page.
    ok = (width, height) == (want_w, want_h) and red > 500 and blue >= 60 * min_points
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
