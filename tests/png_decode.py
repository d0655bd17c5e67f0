#!/usr/bin/env python3
"""Decodes a PNG with the standard library only (zlib), checking every chunk
CRC, the IHDR, the IDAT stream and all five row filters, so the CLI tests can
look inside the pictures without PIL.  Handles what mnist-train writes: 8-bit
gray, gray+alpha, RGB or RGBA, non-interlaced.

usage: png_decode.py [--header] FILE [R,G,B ...]
--header stops after checking the chunks and the decompressed size (fast, for
huge pictures).  Prints "W H" and then, for each colour given, the number of pixels that have
exactly that colour.  Exits 1 with a message when the file is not a valid PNG."""
import struct, sys, zlib


def decode(path, header_only=False):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("bad signature")
    pos, idat, ihdr, seen_end = 8, b"", None, False
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError("truncated chunk at %d" % pos)
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if len(body) != length or zlib.crc32(kind + body) != crc:
            raise ValueError("bad CRC or length in %r chunk" % kind)
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            seen_end = True
            break
        pos += 12 + length
    if not ihdr or not seen_end:
        raise ValueError("no IHDR or IEND")
    w, h, depth, ctype, _, _, interlace = ihdr
    channels = {0: 1, 4: 2, 2: 3, 6: 4}.get(ctype)
    if depth != 8 or channels is None or interlace:
        raise ValueError("unsupported PNG (depth %d, colour type %d, interlace %d)" % (depth, ctype, interlace))
    raw = zlib.decompress(idat)
    stride = w * channels
    if len(raw) != h * (stride + 1):
        raise ValueError("IDAT holds %d bytes, expected %d" % (len(raw), h * (stride + 1)))
    if header_only:
        return w, h, channels, None
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if f == 0:
                p = 0
            elif f == 1:
                p = a
            elif f == 2:
                p = b
            elif f == 3:
                p = (a + b) // 2
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            else:
                raise ValueError("bad filter %d in row %d" % (f, y))
            line[i] = (line[i] + p) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, channels, rows


if __name__ == "__main__":
    args = sys.argv[1:]
    header_only = args[:1] == ["--header"]
    if header_only:
        args = args[1:]
    try:
        w, h, ch, rows = decode(args[0], header_only)
    except (OSError, ValueError, zlib.error) as e:
        print("%s: %s" % (args[0], e))
        sys.exit(1)
    print(w, h)
    for spec in args[1:] if rows is not None else []:
        want = bytes(int(x) for x in spec.split(","))
        n = sum(1 for r in rows for x in range(w) if r[x * ch:x * ch + ch] == want)
        print(n)
