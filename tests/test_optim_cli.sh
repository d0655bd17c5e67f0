#!/usr/bin/env bash
# The recipe pieces from the command line: --optimizer adadelta (and its own
# lr/eps defaults), --nesterov, --scheduler onecycle stepped every batch,
# --label-smoothing; their checks, events, thread invariance and exact resume.
# Usage: MT_BIN=/path/to/mnist-train bash tests/test_optim_cli.sh
. "$(dirname "$0")/lib.sh" optim_cli
cd "$T" || exit 1
run() { "$BIN" --data "$T/d" --no-grid --log-interval 0 --json "$@" >"$T/out" 2>"$T/err"; }

python3 "$HERE/make_fixture.py" "$T/d" 600 200 8 8 4

# --- Adadelta: PyTorch's defaults unless given, on the command line or in a config
"$BIN" --data "$T/d" --optimizer adadelta --print-config >"$T/out" 2>"$T/err"
python3 - "$T/out" <<'PY' && ok "adadelta: lr 1.0, eps 1e-6, rho 0.9 by default" || bad "adadelta defaults: $(cat "$T/out" | head -c 300)"
import json, sys
o = json.load(open(sys.argv[1]))["optimizer"]
assert o["name"] == "adadelta" and o["lr"] == 1.0 and o["eps"] == 1e-6 and o["rho"] == 0.9, o
PY
"$BIN" --data "$T/d" --print-config >"$T/out" 2>"$T/err"
python3 - "$T/out" <<'PY' && ok "adam keeps lr 0.001, eps 1e-8" || bad "adam defaults changed"
import json, sys
o = json.load(open(sys.argv[1]))["optimizer"]
assert o["name"] == "adam" and o["lr"] == 0.001 and o["eps"] == 1e-8, o
PY
echo '{"optimizer": {"name": "adadelta", "lr": 0.001}}' > "$T/c.json"
"$BIN" --data "$T/d" --config "$T/c.json" --eps 1e-5 --print-config >"$T/out" 2>"$T/err"
python3 - "$T/out" <<'PY' && ok "an lr set in a config and an eps on the command line are kept" || bad "explicit lr/eps overridden"
import json, sys
o = json.load(open(sys.argv[1]))["optimizer"]
assert o["lr"] == 0.001 and o["eps"] == 1e-5, o
PY

run --epochs 3 --optimizer adadelta --threads 1; rc=$?; cp "$T/out" "$T/ad1.jl"
[ $rc = 0 ] && ok "adadelta trains" || bad "adadelta: exit $rc: $(tail -2 "$T/err")"
run --epochs 3 --optimizer adadelta --threads 2; cp "$T/out" "$T/ad2.jl"
python3 - "$T/ad1.jl" "$T/ad2.jl" <<'PY' && ok "  loss falls; bit-identical for 1 and 2 threads" || bad "  adadelta: loss not falling or threads differ"
import json, sys
def ep(p): return [e["train_loss"] for e in map(json.loads, open(p)) if e["event"] == "epoch"]
a, b = ep(sys.argv[1]), ep(sys.argv[2])
assert a == b and len(a) == 3 and a[2] < a[0], (a, b)
PY
expect 2 "--rho 1.5 is refused" "$BIN" --data "$T/d" --optimizer adadelta --rho 1.5
err_has "--rho"

# --- Nesterov
expect 2 "--nesterov with adam is refused" "$BIN" --data "$T/d" --no-grid --nesterov
err_has "--nesterov needs --optimizer sgd with --momentum > 0"
err_lines
expect 2 "--nesterov with sgd and no momentum is refused" "$BIN" --data "$T/d" --no-grid --optimizer sgd --nesterov
run --epochs 2 --optimizer sgd --lr 0.05 --momentum 0.9 --nesterov; rc=$?; cp "$T/out" "$T/nest.jl"
run --epochs 2 --optimizer sgd --lr 0.05 --momentum 0.9; cp "$T/out" "$T/heavy.jl"
python3 - "$T/nest.jl" "$T/heavy.jl" <<'PY' && ok "sgd --nesterov trains, differently from heavy-ball momentum" || bad "nesterov (exit $rc)"
import json, sys
def ep(p): return [e["train_loss"] for e in map(json.loads, open(p)) if e["event"] == "epoch"]
a, b = ep(sys.argv[1]), ep(sys.argv[2])
assert len(a) == 2 and a != b and a[1] < a[0], (a, b)
PY

# --- onecycle: every batch; the epochs' first rates are OneCycleLR's
run --epochs 4 --batch-size 64 --lr 0.01 --scheduler onecycle; rc=$?
python3 - "$T/out" <<'PY' && ok "onecycle: each epoch starts at OneCycleLR's rate of its first batch" || bad "onecycle rates (exit $rc): $(grep '"epoch"' "$T/out" | head -2)"
import json, math, sys
ev = [e for e in map(json.loads, open(sys.argv[1])) if e["event"] == "epoch"]
nb = math.ceil(600 / 64); total = 4 * nb
def onecycle(t, peak=0.01):  # torch.optim.lr_scheduler.OneCycleLR, two phases, cos
    init = peak / 25; low = init / 1e4; e0 = 0.3 * total - 1
    if t <= e0: s, e, a, b = 0, e0, init, peak
    else: s, e, a, b = e0, total - 1, peak, low
    return b + (a - b) / 2 * (math.cos(math.pi * (t - s) / (e - s)) + 1)
lr = [e["lr"] for e in ev]
want = [onecycle(k * nb) for k in range(4)]
assert len(lr) == 4 and all(abs(x - w) <= 1e-6 * w for x, w in zip(lr, want)), (lr, want)
assert ev[0]["next_lr"] == ev[1]["lr"], ev[0]
PY
grep -q 'learning rate 0.0004 -> ' "$T/err" && ok "  the epoch line shows the rate moving" || bad "  no rate on the epoch line: $(grep Epoch "$T/err" | head -1)"

# --- label smoothing: reaches the loss, thread-invariant, plain test loss
run --epochs 2 --label-smoothing 0.2 --threads 1; cp "$T/out" "$T/ls1.jl"
run --epochs 2 --label-smoothing 0.2 --threads 2; cp "$T/out" "$T/ls2.jl"
run --epochs 2 --threads 2; cp "$T/out" "$T/ls0.jl"
python3 - "$T/ls1.jl" "$T/ls2.jl" "$T/ls0.jl" <<'PY' && ok "label smoothing: bit-identical for 1 and 2 threads, a larger training loss" || bad "label smoothing runs wrong"
import json, sys
def ev(p): return [json.loads(l) for l in open(p)]
def ep(p): return [e["train_loss"] for e in ev(p) if e["event"] == "epoch"]
a, b, c = ep(sys.argv[1]), ep(sys.argv[2]), ep(sys.argv[3])
assert a == b and len(a) == 2, (a, b)
assert all(x > y for x, y in zip(a, c)), (a, c)  # smoothing keeps the loss away from 0
t = [e for e in ev(sys.argv[1]) if e["event"] == "test"][0]
assert 0 < t["loss"] < 1.0 and t["accuracy"] > 0.5, t
PY
expect 2 "--label-smoothing 1.5 is refused" "$BIN" --data "$T/d" --label-smoothing 1.5
err_has "--label-smoothing"

# --- exact resume of all three together, stopped inside an epoch (same --epochs: onecycle spans them)
R="--epochs 3 --batch-size 32 --optimizer adadelta --scheduler onecycle --label-smoothing 0.1"
run $R --save-state "$T/full.st"; cp "$T/out" "$T/full.jl"
run $R --max-steps 25 --save-state "$T/half.st"; rc=$?
[ $rc = 0 ] && ok "stopped after 25 steps (inside epoch 2)" || bad "half run: exit $rc: $(tail -2 "$T/err")"
run --resume "$T/half.st" --max-steps 0 --save-state "$T/res.st"; rc=$?
[ $rc = 0 ] && ok "resumed" || bad "resume: exit $rc: $(tail -2 "$T/err")"
python3 - "$T/full.jl" "$T/out" "$T/full.st" "$T/res.st" <<'PY' && ok "  same rates, losses, weights, Adadelta state and schedule step as the uninterrupted run" || bad "  resumed run differs"
import json, struct, sys
def ep(p): return [(e["epoch"], e["lr"], e["train_loss"]) for e in map(json.loads, open(p)) if e["event"] == "epoch"]
def test(p): return [e["loss"] for e in map(json.loads, open(p)) if e["event"] == "test"]
a, b = ep(sys.argv[1]), ep(sys.argv[2])
assert a[2:] == b[-1:] and test(sys.argv[1]) == test(sys.argv[2]), (a, b)
def st(p):
    raw = open(p, "rb").read(); n = struct.unpack("<Q", raw[:8])[0]; h = json.loads(raw[8:8 + n])
    meta = h.pop("__metadata__")
    return {k: raw[8 + n + v["data_offsets"][0]: 8 + n + v["data_offsets"][1]] for k, v in h.items()}, meta["schedule"]
(ta, sa), (tb, sb) = st(sys.argv[3]), st(sys.argv[4])
assert any(k.startswith("optimizer.square_avg.") for k in ta) and any(k.startswith("optimizer.acc_delta.") for k in ta)
assert ta == tb, "tensors differ: " + ", ".join(k for k in ta if ta[k] != tb.get(k))
assert sa == sb and sa.endswith(" step=57"), (sa, sb)  # 3 epochs of ceil(600/32) = 19 batches
PY
"$BIN" info --json "$T/res.st" >"$T/out" 2>"$T/err"
grep -q '"optimizer":"adadelta"' "$T/out" && ok "info names the optimizer" || bad "info: $(head -c 300 "$T/out")"

finish
