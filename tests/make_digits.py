#!/usr/bin/env python3
"""Writes one hand-drawn-looking digit ("0": a thick ring, "1": a thick slanted
bar) as PNGs in many encodings, for the predict tests.  Only zlib + struct.

usage: make_digits.py DIR DIGIT
writes DIR/<DIGIT>_{wob,bow,rgb,rgba,graya,gray16,palette,large}.png"""
import os, struct, sys, zlib

def png(path, w, h, color_type, bit_depth, rows, plte=None, trns=None):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    raw = b"".join(b"\0" + r for r in rows)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0))
    if plte:
        data += chunk(b"PLTE", plte)
    if trns:
        data += chunk(b"tRNS", trns)
    data += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    open(path, "wb").write(data)

def ink(digit, w, h, x0, y0, s):
    """Coverage 0..1 of pixel (x, y) for a digit drawn in a box of size s at (x0, y0)."""
    def f(x, y):
        u, v = (x + 0.5 - x0) / s, (y + 0.5 - y0) / s   # 0..1 inside the box
        if digit == 0:
            d = ((u - 0.5) / 0.32) ** 2 + ((v - 0.5) / 0.45) ** 2
            return 1.0 if 0.55 <= d <= 1.0 else 0.0
        # "1": a bar from (0.58, 0.05) to (0.42, 0.95), 0.14 wide
        cx = 0.58 - 0.16 * v
        return 1.0 if 0.05 <= v <= 0.95 and abs(u - cx) <= 0.07 else 0.0
    return f

def main():
    out, digit = sys.argv[1], int(sys.argv[2])
    os.makedirs(out, exist_ok=True)
    w = h = 64
    f = ink(digit, w, h, 8, 6, 50)
    cov = [[f(x, y) for x in range(w)] for y in range(h)]
    g = lambda c, fg, bg: int(round(bg + (fg - bg) * c))
    p = lambda name: os.path.join(out, f"{digit}_{name}.png")
    png(p("wob"), w, h, 0, 8, [bytes(g(c, 255, 0) for c in r) for r in cov])
    png(p("bow"), w, h, 0, 8, [bytes(g(c, 0, 255) for c in r) for r in cov])
    png(p("rgb"), w, h, 2, 8, [bytes(v for c in r for v in (g(c, 20, 250), g(c, 20, 250), g(c, 20, 250))) for r in cov])
    png(p("rgba"), w, h, 6, 8, [bytes(v for c in r for v in (0, 0, 0, g(c, 255, 0))) for r in cov])
    png(p("graya"), w, h, 4, 8, [bytes(v for c in r for v in (0, g(c, 255, 0))) for r in cov])  # black ink, alpha = coverage
    png(p("gray16"), w, h, 0, 16, [b"".join(struct.pack(">H", g(c, 0, 65535)) for c in r) for r in cov])
    plte = bytes([255, 255, 255, 0, 0, 0])
    png(p("palette"), w, h, 3, 8, [bytes(1 if c > 0.5 else 0 for c in r) for r in cov], plte=plte)
    W, H = 900, 700
    f2 = ink(digit, W, H, 500, 150, 420)
    png(p("large"), W, H, 0, 8, [bytes(g(f2(x, y), 30, 230) for x in range(W)) for y in range(H)])

if __name__ == "__main__":
    main()
