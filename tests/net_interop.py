#!/usr/bin/python3
"""Loads a model file written by mt_net_save into the matching PyTorch
module with load_state_dict(strict=True) and compares its evaluation output
with the logits mt_net computed (called by tests/test_net.c).

  net_interop.py MODEL_FILE AUX_FILE
MODEL_FILE's metadata "model" names the module: cnn (pytorch/examples
mnist/main.py's Net, verbatim), fastcnn, or a SPEC (torch.nn.Sequential of
the same modules).  AUX_FILE holds x (B,1,28,28) and logits (B,10).
Exit 0 = ok, 1 = mismatch, 77 = torch missing (skip)."""
import json
import struct
import sys

import numpy as np

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    print("torch is not installed: skipped")
    sys.exit(77)


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data, out = raw[8 + n:], {}
    dt = {"F32": np.float32, "I64": np.int64}
    meta = header.pop("__metadata__", {})
    for k, v in header.items():
        b, e = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(data[b:e], dtype=dt[v["dtype"]]).reshape(v["shape"]).copy())
    return out, meta


class Net(nn.Module):  # pytorch/examples mnist/main.py
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


class FastCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 24, 5)
        self.conv2 = nn.Conv2d(24, 32, 3)
        self.fc1 = nn.Linear(800, 256)
        self.fc2 = nn.Linear(256, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return F.log_softmax(self.fc2(x), dim=1)


def sequential(spec, c, h, w):
    mods, flat = [], False
    for it in spec.split(","):
        f = it.split(":")
        if f[0] == "conv":
            oc, k = int(f[1]), int(f[2])
            pad = (k - 1) // 2 if len(f) > 3 else 0
            mods.append(nn.Conv2d(c, oc, k, padding=pad))
            c, h, w = oc, h + 2 * pad - k + 1, w + 2 * pad - k + 1
        elif f[0] == "linear":
            mods.append(nn.Linear(c, int(f[1])))
            c = int(f[1])
        elif f[0] == "bn":
            mods.append(nn.BatchNorm1d(c) if flat else nn.BatchNorm2d(c))
        elif f[0] == "relu":
            mods.append(nn.ReLU())
        elif f[0] == "maxpool":
            mods.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
        elif f[0] == "dropout":
            mods.append(nn.Dropout(float(f[1])))
        elif f[0] == "flatten":
            mods.append(nn.Flatten())
            c, h, w, flat = c * h * w, 1, 1, True
    return nn.Sequential(*mods)


def main(model_file, aux_file):
    sd, meta = read_safetensors(model_file)
    aux, _ = read_safetensors(aux_file)
    name = meta["model"]
    m = Net() if name == "cnn" else FastCNN() if name == "fastcnn" else sequential(name, 1, 28, 28)
    m.load_state_dict(sd, strict=True)
    m.eval()
    with torch.no_grad():
        out = F.log_softmax(m(aux["x"]), dim=1)
    want = F.log_softmax(aux["logits"], dim=1)
    err = (out - want).abs().max().item()
    print(f"{name}: strict load ok, max |log_softmax difference| {err:.3g}")
    return 0 if err <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
