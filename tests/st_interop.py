#!/usr/bin/python3
"""Interop check for mt_st (called by tests/test_st.c).

The safetensors format in a few lines of numpy + struct + json, independent of
the C code and of the `safetensors` package (not installed here):

  st_interop.py check FILE   read a file written by mt_st_write, check every value;
                             if torch is importable, load it into a state_dict and
                             an nn.Module and compare a forward pass with numpy
  st_interop.py write FILE   write a file the way another implementation might
                             (unpadded header, header order != data order)
Exit 0 = ok, 1 = mismatch.
"""
import json
import struct
import sys

import numpy as np

DT = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "U64": "<u8",
      "I32": "<i4", "U32": "<u4", "I16": "<i2", "U16": "<u2", "I8": "i1",
      "U8": "u1", "BOOL": "?"}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        a = np.frombuffer(data[b:e], dtype=DT[info["dtype"]]).reshape(info["shape"])
        tensors[name] = a
    return tensors, meta, n


def expected():
    """Must match fill_interop() in tests/test_st.c."""
    return {
        "fc1.weight": (np.arange(12, dtype=np.float32) * np.float32(0.25) - 1).reshape(3, 4),
        "fc1.bias": np.array([0.5, -0.5, 1.5], dtype=np.float32),
        "fc2.weight": (np.arange(6, dtype=np.float32) * np.float32(-0.125)).reshape(2, 3),
        "fc2.bias": np.array([0.1, -0.2], dtype=np.float32),
        "train.step": np.array([12345678901234], dtype=np.uint64),
        "train.rng": np.array([0xDEADBEEFCAFEBABE, 1, 2**64 - 1, 0], dtype=np.uint64),
        "hist": np.array([3.141592653589793, -1e300], dtype=np.float64),
        "labels": np.array([0, 7, 255], dtype=np.uint8),
    }


def check(path):
    tensors, meta, n = read_safetensors(path)
    ok = True
    if n % 8 != 0:
        print(f"header length {n} is not a multiple of 8")
        ok = False
    want = expected()
    if sorted(tensors) != sorted(want):
        print(f"tensor names {sorted(tensors)} != {sorted(want)}")
        return False
    for k, v in want.items():
        got = tensors[k]
        if got.dtype != v.dtype or got.shape != v.shape or got.tobytes() != v.tobytes():
            print(f"{k}: got {got.dtype}{got.shape} {got.ravel()[:6]}, want {v.dtype}{v.shape} {v.ravel()[:6]}")
            ok = False
    want_meta = {"format": "pt", "note": 'h\u00e9llo "q"\n'}
    if meta != want_meta:
        print(f"metadata {meta!r} != {want_meta!r}")
        ok = False
    if not ok:
        return False
    print(f"numpy: {len(tensors)} tensors and {len(meta)} metadata entries match")

    try:
        import torch
    except ImportError:
        print("torch not installed: skipping the torch check")
        return True

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(4, 3)
            self.fc2 = torch.nn.Linear(3, 2)

        def forward(self, x):
            return self.fc2(torch.relu(self.fc1(x)))

    sd = {k: torch.from_numpy(v.copy()) for k, v in tensors.items() if k.startswith("fc")}
    net = Net()
    net.load_state_dict(sd, strict=True)
    x = np.array([[1.0, -2.0, 0.5, 3.0]], dtype=np.float32)
    with torch.no_grad():
        y = net(torch.from_numpy(x)).numpy()
    h = np.maximum(x @ want["fc1.weight"].T + want["fc1.bias"], 0)
    y_ref = h @ want["fc2.weight"].T + want["fc2.bias"]
    if not np.allclose(y, y_ref, rtol=1e-6, atol=1e-6):
        print(f"torch forward {y} != numpy {y_ref}")
        return False
    print(f"torch {torch.__version__}: load_state_dict(strict=True) ok, forward matches numpy")
    return True


def write(path):
    """Layout as another writer might choose: header keys in a different order
    from the data, no padding (so the data area is misaligned in the file)."""
    arrays = [
        ("b.i64", np.array([-1, 2**62], dtype="<i8")),
        ("a.f32", np.array([[1.5, -2.25, 3.0]], dtype="<f4")),
        ("c.u8", np.array([9, 8, 7], dtype="u1")),
        ("d.f16", np.array([1.5], dtype="<f2")),
        ("e.f64", np.array([0.1], dtype="<f8")),
    ]
    header, off, blobs = {}, 0, []
    for name, a in arrays:
        header[name] = {"dtype": next(k for k, v in DT.items() if np.dtype(v) == a.dtype),
                        "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
        blobs.append(a.tobytes())
    header = dict(sorted(header.items(), reverse=True))
    header["__metadata__"] = {"written_by": "numpy"}
    h = json.dumps(header).encode()
    if len(h) % 8 == 0:
        h += b" "  # keep it unpadded on purpose
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    return True


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("check", "write"):
        print(__doc__)
        sys.exit(2)
    sys.exit(0 if (check if sys.argv[1] == "check" else write)(sys.argv[2]) else 1)
