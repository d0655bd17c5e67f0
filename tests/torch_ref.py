#!/usr/bin/python3
"""PyTorch reference checks for the C tests (tests/test_optim.c, test_sched.c,
test_layers.c write a text file of their inputs and results; this script
recomputes them with torch and compares).

  torch_ref.py optim FILE   line 1: "KIND key=value ...", line 2: the start
                            parameters, then per step one line of gradients
                            and one of the parameters after the step
  torch_ref.py sched FILE   line 1: "onecycle max_lr=.. total_steps=..", then
                            one rate per line: the rate of step 0, 1, ...
  torch_ref.py xent FILE    line 1: "B K smoothing", then B lines of K logits
                            and the label, then the mean loss, then B lines
                            of K dlogits (of the mean loss)

Values are printed with 9 (float) or 17 (double) significant digits, so they
round-trip exactly.  Exit 0 = match, 1 = mismatch, 77 = torch not installed.
"""
import sys

try:
    import torch
except ImportError:
    print("torch_ref.py: torch is not installed for", sys.executable)
    sys.exit(77)


def floats(line):
    return [float(x) for x in line.split()]


def header(line):
    words = line.split()
    return words[0], {k: float(v) for k, v in (w.split("=") for w in words[1:])}


def fail(msg):
    print("torch_ref.py: MISMATCH:", msg)
    sys.exit(1)


def check_optim(lines):
    kind, h = header(lines[0])
    p = torch.nn.Parameter(torch.tensor(floats(lines[1]), dtype=torch.float32))
    if kind == "adadelta":
        opt = torch.optim.Adadelta([p], lr=h["lr"], rho=h["rho"], eps=h["eps"], weight_decay=h["wd"])
    elif kind == "sgd":
        opt = torch.optim.SGD([p], lr=h["lr"], momentum=h["momentum"], weight_decay=h["wd"],
                              nesterov=bool(h["nesterov"]))
    elif kind in ("adam", "adamw"):
        cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
        opt = cls([p], lr=h["lr"], weight_decay=h["wd"])
    else:
        fail("unknown optimizer " + kind)
    worst = 0.0
    steps = (len(lines) - 2) // 2
    for t in range(steps):
        p.grad = torch.tensor(floats(lines[2 + 2 * t]), dtype=torch.float32)
        opt.step()
        got = torch.tensor(floats(lines[3 + 2 * t]), dtype=torch.float32)
        # float32 on both sides; torch's CPU add-with-alpha may fuse a
        # multiply-add where C rounds twice, so allow a few ulps of |p| plus
        # 1e-7 absolute for parameters that cancel towards 0
        err = ((got - p.detach()).abs() / (p.detach().abs() * 1e-6 + 1e-7)).max().item()
        worst = max(worst, err)
        if worst > 1.0:
            fail("%s step %d: C %s vs torch %s (%.3g x tolerance)" % (kind, t + 1, got.tolist(), p.detach().tolist(), worst))
    print("torch_ref.py: %s matches torch over %d steps (worst diff %.3g of the tolerance)" % (kind, steps, worst))


def check_sched(lines):
    kind, h = header(lines[0])
    if kind != "onecycle":
        fail("unknown schedule " + kind)
    total = int(h["total_steps"])
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=h["max_lr"])
    sch = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=h["max_lr"], total_steps=total, pct_start=0.3,
                                              anneal_strategy="cos", cycle_momentum=False, div_factor=25.0,
                                              final_div_factor=1e4, three_phase=False)
    got = [float(x) for x in lines[1:]]
    if len(got) != total:
        fail("%d rates for %d steps" % (len(got), total))
    worst = 0.0
    for t in range(total):
        want = opt.param_groups[0]["lr"]
        rel = abs(got[t] - want) / abs(want)
        worst = max(worst, rel)
        if rel > 1e-12:
            fail("onecycle step %d of %d: C %.17g vs torch %.17g" % (t, total, got[t], want))
        opt.step()
        if t + 1 < total:  # torch raises past total_steps
            sch.step()
    print("torch_ref.py: onecycle matches torch over %d steps (max rel diff %.3g)" % (total, worst))


def check_xent(lines):
    B, K, ls = lines[0].split()
    B, K, ls = int(B), int(K), float(ls)
    rows = [floats(lines[1 + i]) for i in range(B)]
    z = torch.tensor([r[:K] for r in rows], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([int(r[K]) for r in rows])
    loss = torch.nn.functional.cross_entropy(z, y, label_smoothing=ls)
    loss.backward()
    got_loss = float(lines[1 + B])
    got_d = torch.tensor([floats(lines[2 + B + i]) for i in range(B)], dtype=torch.float64)
    if abs(got_loss - loss.item()) > 1e-6 * (1 + abs(loss.item())):
        fail("loss (smoothing %g): C %.9g vs torch %.9g" % (ls, got_loss, loss.item()))
    derr = (got_d - z.grad).abs().max().item()
    if derr > 1e-7:
        fail("dlogits (smoothing %g): max |C - torch| = %.3g" % (ls, derr))
    print("torch_ref.py: cross-entropy with label smoothing %g matches torch (loss %.9g, max |d dlogits| %.3g)"
          % (ls, loss.item(), derr))


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("optim", "sched", "xent"):
        print(__doc__)
        sys.exit(2)
    with open(sys.argv[2]) as f:
        lines = [l for l in f.read().splitlines() if l.strip()]
    {"optim": check_optim, "sched": check_sched, "xent": check_xent}[sys.argv[1]](lines)


if __name__ == "__main__":
    main()
