"""IDX files as NumPy arrays, for the PyTorch side of `make bench`
(torch_mlp.py, torch_cnn.py): the same files mnist-train reads."""
import gzip, os, struct, sys

import numpy as np


def load_idx(path):
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(d, stem):
    """d/stem.gz or d/stem; exits naming the calling script when neither is there."""
    for name in (stem + ".gz", stem):
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    sys.exit(f"{os.path.basename(sys.argv[0])}: {stem}[.gz] not found in {d}")
