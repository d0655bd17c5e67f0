#!/usr/bin/python3
"""Writes tests/golden/cnn_ref.safetensors: for each case (the named models
cnn, fastcnn and mlp, and SPEC models exercising every layer) PyTorch's
forward, loss, every gradient, a few Adam steps, the batch-norm buffers and
the evaluation logits -- the specification mt_net is tested against
(tests/test_net.c).

The file is not allowed to hold fc1's million weights, so both sides derive
the weights from a seed: this script re-implements mt_rng (xoshiro256**
seeded by splitmix64) and mt_net_init's draws (PyTorch's bounds
U(-1/sqrt(fan_in), 1/sqrt(fan_in)), layer by layer, weight then bias), and
dropout's per-sample masks (mt_dropout_seed).  Tensors of more than 4096
elements are stored as every stride-th element, stride = n // 2048 + 1.

Per case C (metadata "cases" lists them; "C.model", "C.hidden", "C.dropout",
"C.input" = "c,h,w", "C.seed", "C.steps", "C.lr" describe it):
  C.x (B,c,h,w) F32, C.y (B) I64, C.p0.<name> initial parameters (sampled),
  C.logits (B,K), C.loss (), C.g.<name> gradients (sampled) of the first
  step, C.losses (S) loss before each Adam step, C.p1.<name> parameters
  after S steps (sampled), C.b1.<name> batch-norm buffers after them,
  C.eval_logits (B,K) in evaluation mode after them.
Step t (0-based) draws dropout masks with mt_dropout_seed(C.seed, layer, t, sample).

Run with `make golden` (needs python3-torch); review a regenerated file like
any other change."""
import json
import struct
import sys

import numpy as np
import torch

M64 = (1 << 64) - 1


# ---- mt_rng ----------------------------------------------------------------

def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return x, z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M64


class Rng:
    def __init__(self, seed):
        x, self.s = seed & M64, []
        for _ in range(4):
            x, z = splitmix64(x)
            self.s.append(z)

    def u64(self):
        s = self.s
        out = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return out

    def uniform(self, n, lo, hi):
        """n floats as mt_rng_uniform: lo + (hi - lo) * u in float32."""
        u = np.array([self.u64() >> 40 for _ in range(n)], dtype=np.float32)
        u = u * np.float32(1.0 / 16777216.0)
        lo, hi = np.float32(lo), np.float32(hi)
        return (lo + (np.float32(hi - lo) * u).astype(np.float32)).astype(np.float32)


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def dropout_seed(seed, layer, step, sample):
    h = mix64((seed ^ 0x6472706F7574) & M64)
    h = mix64(h ^ layer)
    h = mix64(h ^ step)
    return mix64(h ^ sample)


def dropout_mask(n, p, sseed):
    """keep * 1/(1-p) as float32 in mt_dropout_forward's element order."""
    r = Rng(sseed)
    p32 = np.float32(p)
    scale = np.float32(1.0) / (np.float32(1.0) - p32)
    m = np.empty(n, dtype=np.float32)
    bits = 0
    for i in range(n):
        if i % 2 == 0:
            bits = r.u64()
        u = (bits >> (8 if i % 2 else 40)) & 0xFFFFFF
        m[i] = scale if np.float32(u) * np.float32(1.0 / 16777216.0) >= p32 else 0.0
    return m


# ---- models ----------------------------------------------------------------

def parse_spec(spec):
    items = []
    for it in spec.split(","):
        f = it.split(":")
        items.append((f[0], f[1:]))
    return items


class SpecNet(torch.nn.Module):
    """The SPEC's layers in order; parameterised ones registered under
    names[i] (or the item index, as nn.Sequential).  Dropout multiplies by
    the masks set in self.masks[layer] (B, ...) in training mode."""

    def __init__(self, spec, in_shape, names=None):
        super().__init__()
        self.items = parse_spec(spec)
        self.kinds, self.mods = [], []
        c, h, w = in_shape
        flat = False
        self.shapes = []
        for i, (kind, a) in enumerate(self.items):
            name = names[i] if names else str(i)
            mod = None
            self.shapes.append((c, h, w, flat))
            if kind == "conv":
                oc, k = int(a[0]), int(a[1])
                pad = (k - 1) // 2 if len(a) > 2 else 0
                mod = torch.nn.Conv2d(c, oc, k, padding=pad)
                c, h, w = oc, h + 2 * pad - k + 1, w + 2 * pad - k + 1
            elif kind == "linear":
                mod = torch.nn.Linear(c, int(a[0]))
                c = int(a[0])
            elif kind == "bn":
                mod = torch.nn.BatchNorm1d(c) if flat else torch.nn.BatchNorm2d(c)
            elif kind == "maxpool":
                h, w = h // 2, w // 2
            elif kind == "flatten":
                c, h, w, flat = c * h * w, 1, 1, True
            if mod is not None:
                self.add_module(name, mod)
            self.kinds.append(kind)
            self.mods.append(mod)
        self.masks = {}

    def forward(self, x):
        for i, (kind, a) in enumerate(self.items):
            if kind in ("conv", "linear", "bn"):
                x = self.mods[i](x)
            elif kind == "relu":
                x = torch.relu(x)
            elif kind == "maxpool":
                x = torch.nn.functional.max_pool2d(x, 2)
            elif kind == "flatten":
                x = torch.flatten(x, 1)
            elif kind == "dropout" and self.training:
                x = x * self.masks[i]
        return x

    def set_masks(self, seed, step, B):
        for i, (kind, a) in enumerate(self.items):
            if kind != "dropout":
                continue
            c, h, w, flat = self.shapes[i]
            ms = []
            for b in range(B):
                m = dropout_mask(c * h * w, float(a[0]), dropout_seed(seed, i, step, b))
                if not flat:  # NHWC element order -> NCHW
                    m = m.reshape(h, w, c).transpose(2, 0, 1)
                ms.append(m.reshape((c,) if flat else (c, h, w)))
            self.masks[i] = torch.from_numpy(np.stack(ms))

    def init_like_mt(self, seed):
        r = Rng(seed)
        with torch.no_grad():
            for mod in self.mods:
                if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
                    fan_in = mod.weight[0].numel()
                    bound = np.float32(1.0) / np.sqrt(np.float32(fan_in)).astype(np.float32)
                    wv = r.uniform(mod.weight.numel(), -bound, bound)
                    mod.weight.copy_(torch.from_numpy(wv.reshape(mod.weight.shape)))
                    mod.bias.copy_(torch.from_numpy(r.uniform(mod.bias.numel(), -bound, bound)))


NAMED = {
    "cnn": ("conv:32:3,relu,conv:64:3,relu,maxpool,dropout:0.25,flatten,linear:128,relu,dropout:0.5,linear:10",
            ["conv1", "", "conv2", "", "", "", "", "fc1", "", "", "fc2"]),
    "fastcnn": ("conv:24:5,maxpool,relu,conv:32:3,maxpool,relu,flatten,linear:256,relu,linear:10",
                ["conv1", "", "", "conv2", "", "", "", "fc1", "", "fc2"]),
}


def mlp_spec(hidden, dropout):
    spec, names = ["flatten"], [""]
    for i, hsz in enumerate(hidden + [10]):
        spec.append(f"linear:{hsz}")
        names.append(f"fc{i + 1}")
        if i < len(hidden):
            spec.append("relu")
            names.append("")
            if dropout > 0:
                spec.append(f"dropout:{dropout:g}")
                names.append("")
    return ",".join(spec), names


# ---- cases -----------------------------------------------------------------

CASES = [
    # name, model, input (c,h,w), B, seed, steps, lr
    ("cnn", "cnn", (1, 28, 28), 3, 101, 3, 1e-3),
    ("fastcnn", "fastcnn", (1, 28, 28), 4, 102, 3, 1e-2),
    ("mlp", "mlp", (1, 8, 8), 5, 103, 3, 1e-2),
    ("conv_same", "conv:6:5:same,relu,maxpool,conv:5:3,relu,flatten,linear:10", (1, 12, 11), 4, 104, 3, 1e-2),
    ("bn", "conv:4:3,relu,bn,conv:5:3:same,relu,maxpool,flatten,bn,dropout:0.3,linear:10", (1, 10, 10), 6, 105, 3, 1e-2),
]
MLP_HIDDEN, MLP_DROPOUT = [32, 16], 0.2


def sample(t):
    v = t.detach().flatten().numpy().astype(np.float32)
    stride = 1 if v.size <= 4096 else v.size // 2048 + 1
    return np.ascontiguousarray(v[::stride])


def main(out):
    tensors, meta = [], {"cases": ",".join(c[0] for c in CASES)}
    for name, model, shape, B, seed, steps, lr in CASES:
        if model == "mlp":
            spec, names = mlp_spec(MLP_HIDDEN, MLP_DROPOUT)
            meta[f"{name}.hidden"] = ",".join(map(str, MLP_HIDDEN))
            meta[f"{name}.dropout"] = f"{MLP_DROPOUT:g}"
        elif model in NAMED:
            spec, names = NAMED[model]
        else:
            spec, names = model, None
        meta.update({f"{name}.model": model, f"{name}.input": ",".join(map(str, shape)),
                     f"{name}.seed": str(seed), f"{name}.steps": str(steps), f"{name}.lr": repr(lr)})
        net = SpecNet(spec, shape, names)
        net.init_like_mt(seed)
        g = torch.Generator().manual_seed(seed)
        x = torch.randn((B,) + shape, generator=g)
        y = torch.randint(0, 10, (B,), generator=g)
        tensors += [(f"{name}.x", x.numpy()), (f"{name}.y", y.numpy().astype(np.int64))]
        for pn, p in net.named_parameters():
            tensors.append((f"{name}.p0.{pn}", sample(p)))
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        net.train()
        losses = []
        for t in range(steps):
            opt.zero_grad()
            net.set_masks(seed, t, B)
            logits = net(x)
            loss = torch.nn.functional.cross_entropy(logits, y)
            loss.backward()
            if t == 0:
                tensors += [(f"{name}.logits", logits.detach().numpy()),
                            (f"{name}.loss", np.array(loss.item(), dtype=np.float32))]
                for pn, p in net.named_parameters():
                    tensors.append((f"{name}.g.{pn}", sample(p.grad)))
            losses.append(loss.item())
            opt.step()
        tensors.append((f"{name}.losses", np.array(losses, dtype=np.float32)))
        for pn, p in net.named_parameters():
            tensors.append((f"{name}.p1.{pn}", sample(p)))
        for bn, b in net.named_buffers():
            arr = b.numpy()
            tensors.append((f"{name}.b1.{bn}", arr.astype(np.int64) if arr.dtype == np.int64 else arr))
        net.eval()
        with torch.no_grad():
            tensors.append((f"{name}.eval_logits", net(x).numpy()))
    write_safetensors(out, tensors, meta)


def write_safetensors(path, tensors, meta):
    dt = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}
    header, blobs, off = {"__metadata__": meta}, [], 0
    for n, a in tensors:
        a = np.ascontiguousarray(a)
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[n] = {"dtype": dt[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/golden/cnn_ref.safetensors")
