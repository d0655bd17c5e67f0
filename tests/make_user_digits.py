#!/usr/bin/env python3
"""Writes user-style digit pictures made from MNIST test digits: the kinds of
files people give `predict` (drawing-app exports with alpha, pen on paper
photos, framed, shadowed, inverted, specked, JPEG-bound).  numpy + zlib only.

usage: make_user_digits.py MNIST_DIR OUT_DIR N [SEED] [FIRST]
  takes test images FIRST.. (default 5000) and writes N files
  OUT_DIR/<label>_<index>_<style>.png; styles cycle through STYLES.  Files of
  style "jpeg" are PNGs meant to be converted to JPEG afterwards (the C tool
  bench/user_digits.c does it with libjpeg, since Python has no encoder here)."""
import gzip, os, struct, sys, zlib
import numpy as np

STYLES = ["alpha_white", "alpha_black", "paper", "frame", "shadow", "jpeg", "inverted", "specks"]

def png(path, arr):
    """arr (h, w) gray, (h, w, 3) RGB or (h, w, 4) RGBA, uint8."""
    h, w = arr.shape[:2]
    ct = 0 if arr.ndim == 2 else {3: 2, 4: 6}[arr.shape[2]]
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    raw = b"".join(b"\0" + arr[y].tobytes() for y in range(h))
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, ct, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(data)

def load(d):
    with gzip.open(os.path.join(d, "t10k-images-idx3-ubyte.gz")) as f:
        im = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(d, "t10k-labels-idx1-ubyte.gz")) as f:
        lb = np.frombuffer(f.read(), np.uint8, offset=8)
    return im, lb

def resize(img, s):
    """Bilinear resize of a float (28, 28) image to (s, s)."""
    n = img.shape[0]
    c = (np.arange(s) + 0.5) * n / s - 0.5
    c = np.clip(c, 0, n - 1)
    i0 = np.floor(c).astype(int); i1 = np.minimum(i0 + 1, n - 1); t = c - i0
    rows = img[i0] * (1 - t)[:, None] + img[i1] * t[:, None]
    return rows[:, i0] * (1 - t)[None, :] + rows[:, i1] * t[None, :]

def ink_map(digit, rng, canvas_w, canvas_h):
    """Coverage 0..1 (canvas_h, canvas_w): the digit scaled to 45..75 % of the
    canvas height, pen-sharpened, placed near the middle."""
    size = int(min(canvas_w, canvas_h) * rng.uniform(0.55, 0.85))
    big = resize(digit.astype(np.float64) / 255.0, size)
    k = rng.uniform(0.35, 0.6)          # pen: a steep curve around k
    big = np.clip((big - k) * 6 + 0.5, 0, 1)
    cov = np.zeros((canvas_h, canvas_w))
    x0 = (canvas_w - size) // 2 + int(rng.integers(-canvas_w // 12, canvas_w // 12 + 1))
    y0 = (canvas_h - size) // 2 + int(rng.integers(-canvas_h // 12, canvas_h // 12 + 1))
    x0 = max(0, min(canvas_w - size, x0)); y0 = max(0, min(canvas_h - size, y0))
    cov[y0:y0 + size, x0:x0 + size] = big
    return cov, (x0, y0, size)

def paper(rng, w, h, level):
    """Paper lightness with a gentle illumination gradient and grain."""
    yy, xx = np.mgrid[0:h, 0:w]
    grad = rng.uniform(-25, 25) * (xx / w - 0.5) + rng.uniform(-25, 25) * (yy / h - 0.5)
    return level + grad + rng.normal(0, 4, (h, w))

def make(digit, style, rng):
    w = int(rng.integers(90, 360)); h = int(w * rng.uniform(0.8, 1.3))
    cov, (x0, y0, size) = ink_map(digit, rng, w, h)
    if style in ("alpha_white", "alpha_black"):
        rgba = np.zeros((h, w, 4), np.uint8)
        rgba[..., :3] = 255 if style == "alpha_white" else 0
        rgba[..., 3] = np.clip(cov * 255 + 0.5, 0, 255).astype(np.uint8)
        return rgba
    inkv = rng.uniform(10, 70)
    if style == "inverted":  # chalk on a dark board
        bg = paper(rng, w, h, rng.uniform(20, 70))
        img = bg + cov * (rng.uniform(180, 240) - bg)
    else:
        bg = paper(rng, w, h, rng.uniform(170, 240) if style == "shadow" else rng.uniform(200, 245))
        img = bg + cov * (inkv - bg)
    if style == "frame":  # a rectangle drawn around the digit
        m = int(rng.integers(3, 12)); t = int(rng.integers(2, 6))
        fx0, fy0 = max(0, x0 - m - t), max(0, y0 - m - t)
        fx1, fy1 = min(w - 1, x0 + size + m + t), min(h - 1, y0 + size + m + t)
        v = inkv
        img[fy0:fy0 + t, fx0:fx1] = v; img[fy1 - t:fy1, fx0:fx1] = v
        img[fy0:fy1, fx0:fx0 + t] = v; img[fy0:fy1, fx1 - t:fx1] = v
    if style == "shadow":  # a band of shadow across part of the page
        yy, xx = np.mgrid[0:h, 0:w]
        a = rng.uniform(0, np.pi)
        d = (xx - w / 2) * np.cos(a) + (yy - h / 2) * np.sin(a)
        off = rng.uniform(-0.3, 0.3) * min(w, h)
        soft = rng.uniform(1, 6)
        mask = 1 / (1 + np.exp(-(d - off) / soft))
        img = img * (1 - mask * rng.uniform(0.3, 0.55))
    if style == "specks":
        for _ in range(int(rng.integers(5, 30))):
            sx, sy = int(rng.integers(0, w)), int(rng.integers(0, h))
            r = int(rng.integers(1, 3))
            img[max(0, sy - r):sy + r, max(0, sx - r):sx + r] = rng.uniform(0, 90)
    if rng.uniform() < 0.5 and style != "inverted":  # blue ballpoint as RGB
        rgb = np.stack([img, img, img], -1)
        rgb[..., 2] = np.clip(rgb[..., 2] + cov * 80, 0, 255)
        return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)

def main():
    mdir, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    first = int(sys.argv[5]) if len(sys.argv) > 5 else 5000
    rng = np.random.default_rng(seed)
    im, lb = load(mdir)
    os.makedirs(out, exist_ok=True)
    for i in range(n):
        idx = first + i
        style = STYLES[i % len(STYLES)]
        png(os.path.join(out, f"{lb[idx]}_{idx:05d}_{style}.png"), make(im[idx], style, rng))

if __name__ == "__main__":
    main()
