#!/usr/bin/env python3
"""Writes a small, learnable IDX data set (train + t10k) for the CLI tests.

usage: make_fixture.py DIR [N_TRAIN N_TEST ROWS COLS CLASSES]
Class c lights the pixels where (r + 3q) % classes == c, plus noise."""
import gzip, os, random, struct, sys

def write(path, magic, dims, data, gz):
    raw = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)
    (gzip.open if gz else open)(path, "wb").write(raw)

def split(d, name, n, rows, cols, k, rng, gz):
    img, lbl = bytearray(), bytearray()
    for _ in range(n):
        c = rng.randrange(k)
        lbl.append(c)
        for r in range(rows):
            for q in range(cols):
                on = (r + 3 * q) % k == c
                img.append(255 - rng.randrange(60) if on else rng.randrange(20))
    ext = ".gz" if gz else ""
    write(f"{d}/{name}-images-idx3-ubyte{ext}", 0x803, (n, rows, cols), img, gz)
    write(f"{d}/{name}-labels-idx1-ubyte{ext}", 0x801, (n,), lbl, gz)

if __name__ == "__main__":
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    n_train, n_test, rows, cols, k = (int(x) for x in (sys.argv[2:] + ["600", "200", "8", "8", "4"][len(sys.argv) - 2:]))
    rng = random.Random(7)
    split(d, "train", n_train, rows, cols, k, rng, True)
    split(d, "t10k", n_test, rows, cols, k, rng, False)
