#!/usr/bin/python3
"""The two CNN recipes of mnist-train, in PyTorch on this machine, for
`make bench`:

  cnn      pytorch/examples mnist/main.py: its Net (conv 1->32 3x3, conv
           32->64 3x3, ReLUs, max-pool 2, dropout 0.25, fc 9216->128, ReLU,
           dropout 0.5, fc 128->10, log_softmax + nll_loss), Adadelta lr 1.0,
           StepLR(step_size=1, gamma=0.7) per epoch, batch 64, 14 epochs
  fastcnn  conv 1->24 5x5, max-pool 2, ReLU, conv 24->32 3x3, max-pool 2, ReLU,
           fc 800->256, ReLU, fc 256->10 (or --model's layer list, as
           mnist-train's --model: configs/fast99.json's net); batch 256, 1
           epoch, Adam lr 1e-2 betas (0.7, 0.9), OneCycleLR (max_lr 1e-2,
           pct_start 0.3, cos) stepped every batch

PyTorch at its best: both sets preloaded as normalised float tensors (mean
0.1307, std 0.3081), no DataLoader, batches sliced by a fresh random
permutation each epoch.  With several --threads it first times a few batches
at each count and trains at the fastest (its best thread count); one JSON line
per probe and per training run (time, samples/s, test accuracy).

usage: torch_cnn.py [MNIST_DIR] [--recipe cnn,fastcnn] [--threads 1,2]
                    [--epochs N] [--seeds 1] [--steps N] [--probe-steps 20]
                    [--label-smoothing X] [--model fastcnn|SPEC]
MNIST_DIR defaults to $MNIST_DATA, else /work/shared/data/mnist."""
import argparse, json, math, os, sys, time

import numpy as np
import torch

from idx_np import find, load_idx
import torch.nn as nn
import torch.nn.functional as F


def load_split(d, prefix):
    x = load_idx(find(d, prefix + "-images-idx3-ubyte"))
    y = load_idx(find(d, prefix + "-labels-idx1-ubyte"))
    X = (torch.from_numpy(x.astype(np.float32)).unsqueeze(1) / 255.0 - 0.1307) / 0.3081
    return X.contiguous(), torch.from_numpy(y.astype(np.int64))


class Net(nn.Module):
    """pytorch/examples mnist/main.py's Net, unchanged (names conv1.weight, ...)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return F.log_softmax(self.fc2(x), dim=1)


FASTCNN = "conv:24:5,maxpool,relu,conv:32:3,maxpool,relu,flatten,linear:256,relu,linear:10"


def sequential(spec, c=1, hw=28):
    """nn.Sequential of a mnist-train layer list (docs/models.md), on c x hw x hw inputs."""
    mods, flat = [], None
    for item in spec.split(","):
        f = item.split(":")
        if f[0] == "conv":
            oc, k = int(f[1]), int(f[2])
            pad = (k - 1) // 2 if len(f) > 3 and f[3] == "same" else 0
            mods.append(nn.Conv2d(c, oc, k, padding=pad))
            c, hw = oc, hw + 2 * pad - k + 1
        elif f[0] == "maxpool":
            mods.append(nn.MaxPool2d(2))
            hw //= 2
        elif f[0] == "relu":
            mods.append(nn.ReLU())
        elif f[0] == "dropout":
            mods.append(nn.Dropout(float(f[1])))
        elif f[0] == "bn":
            mods.append(nn.BatchNorm1d(flat) if flat else nn.BatchNorm2d(c))
        elif f[0] == "flatten":
            mods.append(nn.Flatten())
            flat = c * hw * hw
        elif f[0] == "linear":
            mods.append(nn.Linear(flat, int(f[1])))
            flat = int(f[1])
        else:
            sys.exit(f"torch_cnn.py: unknown layer '{item}'")
    return nn.Sequential(*mods)


class Recipe:
    def __init__(self, name, epochs, n_train, label_smoothing, spec=FASTCNN):
        self.name = name
        self.spec = spec
        self.batch = 64 if name == "cnn" else 256
        self.epochs = epochs if epochs else (14 if name == "cnn" else 1)
        self.bpe = math.ceil(n_train / self.batch)
        self.ls = label_smoothing

    def build(self):
        if self.name == "cnn":
            model = Net()
            opt = torch.optim.Adadelta(model.parameters(), lr=1.0)
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
            per_batch = False
        else:
            model = sequential(self.spec)
            opt = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.7, 0.9))
            sched = torch.optim.lr_scheduler.OneCycleLR(
                opt, max_lr=1e-2, total_steps=self.epochs * self.bpe, pct_start=0.3, anneal_strategy="cos",
                cycle_momentum=False, div_factor=25.0, final_div_factor=1e4, three_phase=False)
            per_batch = True
        return model, opt, sched, per_batch

    def loss(self, out, y):
        if self.name == "cnn":  # the model ends in log_softmax, as main.py
            return F.nll_loss(out, y) if not self.ls else F.cross_entropy(out, y, label_smoothing=self.ls)
        return F.cross_entropy(out, y, label_smoothing=self.ls)


def train(r, X, Y, seed, max_steps):
    """Trains one run; returns (samples, seconds, last loss, model)."""
    torch.manual_seed(seed)
    model, opt, sched, per_batch = r.build()
    model.train()
    n, seen, steps, loss = X.shape[0], 0, 0, torch.zeros(())
    t0 = time.perf_counter()
    for _ in range(r.epochs):
        perm = torch.randperm(n)
        for i in range(0, n, r.batch):
            if max_steps and steps >= max_steps:
                break
            idx = perm[i:i + r.batch]
            opt.zero_grad()
            loss = r.loss(model(X[idx]), Y[idx])
            loss.backward()
            opt.step()
            if per_batch and steps + 1 < r.epochs * r.bpe:  # OneCycleLR refuses steps past its total
                sched.step()
            seen += idx.shape[0]
            steps += 1
        if not per_batch:
            sched.step()
    return seen, time.perf_counter() - t0, float(loss), model


def accuracy(model, X, Y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, X.shape[0], 1000):
            correct += int((model(X[i:i + 1000]).argmax(1) == Y[i:i + 1000]).sum())
    return correct / X.shape[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", nargs="?", default=os.environ.get("MNIST_DATA") or "/work/shared/data/mnist")
    ap.add_argument("--recipe", default="cnn,fastcnn", help="comma-separated: cnn, fastcnn")
    ap.add_argument("--threads", default="1,2", help="thread counts to try; training runs at the fastest")
    ap.add_argument("--epochs", type=int, default=0, help="epochs (0: the recipe's, 14 for cnn, 1 for fastcnn)")
    ap.add_argument("--seeds", default="1", help="comma-separated seeds, one training run each")
    ap.add_argument("--steps", type=int, default=0, help="stop each run after this many batches (timing only)")
    ap.add_argument("--probe-steps", type=int, default=20, help="batches timed per thread count when choosing")
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--model", default="fastcnn",
                    help="the fast recipe's net: fastcnn or a mnist-train layer list (conv:OC:K,maxpool,...)")
    a = ap.parse_args()
    X, Y = load_split(a.data, "train")
    Xt, Yt = load_split(a.data, "t10k")
    threads = [int(t) for t in a.threads.split(",")]
    for name in a.recipe.split(","):
        if name not in ("cnn", "fastcnn"):
            sys.exit(f"torch_cnn.py: unknown recipe '{name}' (cnn, fastcnn)")
        r = Recipe(name, a.epochs, X.shape[0], a.label_smoothing, FASTCNN if a.model == "fastcnn" else a.model)
        best, best_rate = threads[0], 0.0
        if len(threads) > 1:
            for th in threads:
                torch.set_num_threads(th)
                train(r, X, Y, 0, 2)  # warm-up: allocator, oneDNN primitives
                seen, dt, _, _ = train(r, X, Y, 0, a.probe_steps)
                rate = seen / dt
                print(json.dumps({"bench": "torch_cnn_probe", "recipe": name, "threads": th,
                                  "samples": seen, "samples_per_s": round(rate, 1)}), flush=True)
                if rate > best_rate:
                    best, best_rate = th, rate
        torch.set_num_threads(best)
        for seed in [int(s) for s in a.seeds.split(",")]:
            seen, dt, last, model = train(r, X, Y, seed, a.steps)
            acc = accuracy(model, Xt, Yt)
            print(json.dumps({"bench": "torch_cnn", "recipe": name, "threads": best, "seed": seed,
                              "epochs": r.epochs, "batch_size": r.batch, "samples": seen,
                              "train_s": round(dt, 3), "samples_per_s": round(seen / dt, 1),
                              "last_loss": round(last, 4), "test_accuracy": round(acc, 4),
                              "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
