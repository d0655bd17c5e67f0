#!/usr/bin/env python3
"""Writes small PNG seeds of every colour type and bit depth the reader
handles (gray 1/8/16, gray+alpha, RGB, RGBA, palette with tRNS, interlaced),
each showing a digit-like stroke.  usage: make_png.py OUT_DIR"""
import os, struct, sys, zlib

def chunk(t, data):
    return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data))

def adam7(rows):  # 8-bit gray rows -> the seven passes' rows, in order
    out = []
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):
        out += [bytes(r[x0::dx]) for r in rows[y0::dy] if len(r) > x0]
    return out

def png(w, h, depth, ctype, rows, extra=b"", interlace=0):
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace)
    raw = b"".join(b"\0" + r for r in (adam7(rows) if interlace else rows))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")

def ink(x, y, w, h):  # a ring: something for the digit preparation to find
    dx, dy = x - w / 2, y - h / 2
    return abs((dx * dx + dy * dy) ** 0.5 - min(w, h) / 3) < 1.5

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
w, h = 12, 10
g8 = [bytes(255 if ink(x, y, w, h) else 0 for x in range(w)) for y in range(h)]
files = {
    "gray8": png(w, h, 8, 0, g8),
    "gray8_black_on_white": png(w, h, 8, 0, [bytes(255 - v for v in r) for r in g8]),
    "gray16": png(w, h, 16, 0, [b"".join(struct.pack(">H", v * 257) for v in r) for r in g8]),
    "gray1": png(16, h, 1, 0, [bytes([sum((1 << (7 - b)) for b in range(8) if ink(8 * i + b, y, 16, h)) for i in range(2)]) for y in range(h)]),
    "graya": png(w, h, 8, 4, [b"".join(bytes([v, 255 if v else 128]) for v in r) for r in g8]),
    "rgb": png(w, h, 8, 2, [b"".join(bytes([v, v // 2, 255 - v]) for v in r) for r in g8]),
    "rgba": png(w, h, 8, 6, [b"".join(bytes([v, v, v, 200]) for v in r) for r in g8]),
    "palette_trns": png(w, h, 8, 3, [bytes(1 if v else 0 for v in r) for r in g8],
                        chunk(b"PLTE", bytes([0, 0, 0, 255, 255, 255])) + chunk(b"tRNS", bytes([255, 255]))),
    "interlaced": png(w, h, 8, 0, g8, interlace=1),
    "blank": png(4, 4, 8, 0, [bytes(4)] * 4),
}
for name, data in files.items():
    open(os.path.join(out, name), "wb").write(data)
