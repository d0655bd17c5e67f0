#!/usr/bin/env python3
"""Writes tests/golden/mlp_ref.bin: a small MLP's forward, loss, gradients and
five Adam steps computed by PyTorch, the specification of the default recipe
(seed_mnist.py: Linear/ReLU MLP, CrossEntropyLoss, torch.optim.Adam).

Layout (little-endian): b"MTGOLD01", int32 n_layers, int32 dims[n_layers+1],
int32 B, int32 steps, float32 lr, float32 params (state_dict order, flat),
float32 x (B, dims[0]), int32 labels (B), float32 logits (B, K), float32 loss,
float32 grads (same layout as params), float32 losses[steps] (loss before
each step), float32 params after the steps.

Run with `make golden` (needs python3-torch); review a regenerated file like
any other change."""
import struct
import sys

import torch

DIMS = [20, 16, 12, 10]
B, STEPS, LR = 8, 5, 1e-2

def main(out):
    torch.manual_seed(0)
    layers = []
    for i in range(len(DIMS) - 1):
        layers.append(torch.nn.Linear(DIMS[i], DIMS[i + 1]))
        if i < len(DIMS) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    x = torch.randn(B, DIMS[0])
    y = torch.randint(0, DIMS[-1], (B,))
    params0 = torch.cat([p.detach().flatten() for p in model.parameters()])
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits, y)
    loss.backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters()])
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        l = torch.nn.functional.cross_entropy(model(x), y)
        losses.append(l.item())
        l.backward()
        opt.step()
    params1 = torch.cat([p.detach().flatten() for p in model.parameters()])
    f32 = lambda t: struct.pack(f"<{t.numel()}f", *t.flatten().tolist())
    with open(out, "wb") as f:
        f.write(b"MTGOLD01")
        f.write(struct.pack(f"<{len(DIMS) + 1}i", len(DIMS) - 1, *DIMS))
        f.write(struct.pack("<iif", B, STEPS, LR))
        f.write(f32(params0) + f32(x) + struct.pack(f"<{B}i", *y.tolist()))
        f.write(f32(logits.detach()) + struct.pack("<f", loss.item()) + f32(grads))
        f.write(struct.pack(f"<{STEPS}f", *losses) + f32(params1))

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/golden/mlp_ref.bin")
