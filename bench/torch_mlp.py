#!/usr/bin/python3
"""The same training recipe as mnist-train's default config, in PyTorch, for
`make bench`: MLP 784-128-64-10 with ReLU, Adam lr 1e-3, batch 64,
reshuffled every epoch, pixels normalised with mean 0.1307 / std 0.3081.
PyTorch at its best: the whole training set preloaded as one float tensor, no
DataLoader, batches sliced by a random permutation.  Prints one JSON line per
(threads, repetition) with training samples/s over whole epochs.

usage: torch_mlp.py MNIST_DIR [--threads 1,2] [--epochs 1] [--reps 3] [--steps N]"""
import argparse, json, time

import numpy as np
import torch

from idx_np import find, load_idx


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--steps", type=int, default=0,
                    help="stop each repetition after this many batches (0: whole epochs)")
    a = ap.parse_args()
    x = load_idx(find(a.data, "train-images-idx3-ubyte")).reshape(-1, 784)
    y = load_idx(find(a.data, "train-labels-idx1-ubyte"))
    X = (torch.from_numpy(x.astype(np.float32)) / 255.0 - 0.1307) / 0.3081
    Y = torch.from_numpy(y.astype(np.int64))
    n = X.shape[0]
    for threads in [int(t) for t in a.threads.split(",")]:
        torch.set_num_threads(threads)
        for rep in range(a.reps):
            torch.manual_seed(1 + rep)
            model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(),
                                        torch.nn.Linear(128, 64), torch.nn.ReLU(),
                                        torch.nn.Linear(64, 10))
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            lossf = torch.nn.CrossEntropyLoss()
            t0 = time.perf_counter()
            seen = 0
            for _ in range(a.epochs):
                perm = torch.randperm(n)
                for i in range(0, n, 64):
                    if a.steps and seen >= a.steps * 64:
                        break
                    idx = perm[i:i + 64]
                    seen += idx.shape[0]
                    opt.zero_grad()
                    loss = lossf(model(X[idx]), Y[idx])
                    loss.backward()
                    opt.step()
            dt = time.perf_counter() - t0
            print(json.dumps({"bench": "torch", "threads": threads, "rep": rep,
                              "samples": seen, "epoch_s": round(dt * n / seen, 4),
                              "samples_per_s": round(seen / dt, 1),
                              "last_loss": round(float(loss), 4),
                              "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
