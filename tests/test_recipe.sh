#!/usr/bin/env bash
# The practitioner's recipe from the command line: validation split, learning
# rate schedules (step, cosine, plateau), early stopping, and their exact
# resume from a training-state checkpoint.
# Usage: MT_BIN=/path/to/mnist-train bash tests/test_recipe.sh
. "$(dirname "$0")/lib.sh" recipe
cd "$T" || exit 1
run() { "$BIN" --data "$T/d" --no-grid --log-interval 0 --json "$@" >"$T/out" 2>"$T/err"; }
py()  { python3 - "$T/out" "$@"; }

python3 "$HERE/make_fixture.py" "$T/d" 600 200 8 8 4

run --epochs 2 --val-split 100
rc=$?; [ $rc = 0 ] && ok "--val-split runs" || bad "--val-split: exit $rc: $(tail -2 "$T/err")"
py <<'PY' && ok "  epochs report val_loss/val_accuracy; 500 training samples" || bad "  validation events wrong"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
st = [e for e in ev if e["event"] == "start"][0]
assert st["train_samples"] == 500, st
ep = [e for e in ev if e["event"] == "epoch"]
assert len(ep) == 2 and all(0 <= e["val_accuracy"] <= 1 and e["val_loss"] > 0 for e in ep), ep
PY
grep -q 'Val Loss: ' "$T/err" && ok "  epoch line shows the validation loss" || bad "  no Val Loss on the epoch line"
run --epochs 1 --val-split 600; rc=$?
[ $rc = 2 ] && grep -q -- '--val-split 600: must be smaller than the 600 training samples' "$T/err" \
    && ok "--val-split too large: exit 2, named" || bad "--val-split 600: exit $rc: $(tail -1 "$T/err")"

run --epochs 4 --lr 0.008 --scheduler step --step-size 2 --gamma 0.5
py <<'PY' && ok "step schedule: lr 0.008, 0.008, 0.004, 0.004" || bad "step schedule wrong: $(grep epoch "$T/out")"
import json, sys
lr = [json.loads(l)["lr"] for l in open(sys.argv[1]) if '"epoch"' in l and '"event":"epoch"' in l]
assert lr == [0.008, 0.008, 0.004, 0.004], lr
PY

run --epochs 4 --lr 0.01 --scheduler cosine --min-lr 0.001
py <<'PY' && ok "cosine schedule over --epochs" || bad "cosine schedule wrong: $(grep '"epoch"' "$T/out")"
import json, math, sys
lr = [json.loads(l)["lr"] for l in open(sys.argv[1]) if '"event":"epoch"' in l]
want = [0.001 + 0.009 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(4)]
assert all(abs(a - b) <= 1e-6 * b for a, b in zip(lr, want)) and len(lr) == 4, (lr, want)
PY

run --epochs 6 --early-stop 1 --min-delta 100
py <<'PY' && ok "early stopping after 2 epochs when nothing counts as improvement" || bad "early stopping wrong"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
ep = [e["epoch"] for e in ev if e["event"] == "epoch"]
es = [e for e in ev if e["event"] == "early_stop"]
assert ep == [1, 2] and es and es[0]["best_epoch"] == 1 and es[0]["monitor"] == "train_loss", (ep, es)
assert [e for e in ev if e["event"] == "test"], "no test after early stopping"
PY
grep -q 'Early stopping after epoch 2' "$T/err" && ok "  says so on stderr" || bad "  no early-stopping line"

# --- exact resume with a plateau schedule and early stopping in the state
R="--epochs 5 --val-split 100 --scheduler plateau --lr-patience 0 --gamma 0.5 --early-stop 4 --batch-size 32 --lr 0.01"
run $R --save-state "$T/full.st"; cp "$T/out" "$T/full.jl"
run $R --epochs 2 --save-state "$T/half.st"
run --resume "$T/half.st" --epochs 5 --save-state "$T/res.st"; rc=$?
[ $rc = 0 ] && ok "resume with a schedule" || bad "resume: exit $rc: $(tail -2 "$T/err")"
python3 - "$T/full.jl" "$T/out" "$T/full.st" "$T/res.st" <<'PY' && ok "  same lr, losses and state as the uninterrupted run" || bad "  resumed run differs"
import json, sys
def ep(p): return [(e["epoch"], e["lr"], e["train_loss"], e["val_loss"]) for e in map(json.loads, open(p)) if e["event"] == "epoch"]
a, b = ep(sys.argv[1]), ep(sys.argv[2])
assert a[2:] == b, (a, b)
assert len(set(x[1] for x in a)) > 1, "the schedule never changed the rate: test is too weak"
import struct
def st(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    meta = h.pop("__metadata__")
    return {k: b[8 + n + v["data_offsets"][0]: 8 + n + v["data_offsets"][1]] for k, v in h.items()}, meta["schedule"]
(ta, sa), (tb, sb) = st(sys.argv[3]), st(sys.argv[4])
assert ta == tb, "tensors differ: " + ", ".join(k for k in ta if ta[k] != tb.get(k))
assert sa == sb and sa.startswith("lr="), (sa, sb)
PY

run --epochs 1 --scheduler linear; rc=$?
[ $rc = 2 ] && grep -q -- "--scheduler: expected one of none|step|cosine|plateau|onecycle, got 'linear'" "$T/err" \
    && ok "unknown scheduler: exit 2" || bad "unknown scheduler: exit $rc"

# --- gradient clipping and augmentation: same results on 1 and 2 threads, exact resume
A="--epochs 3 --augment-shift 2 --augment-rotate 15 --augment-scale 0.1 --clip-grad 0.5"
run $A --threads 1; cp "$T/out" "$T/a1.jl"
run $A --threads 2; rc=$?; cp "$T/out" "$T/a2.jl"
[ $rc = 0 ] && ok "augmentation + clipping run" || bad "augmentation + clipping: exit $rc: $(tail -2 "$T/err")"
run --epochs 3 --threads 1; cp "$T/out" "$T/plain.jl"
python3 - "$T/a1.jl" "$T/a2.jl" "$T/plain.jl" <<'PY' && ok "  bit-identical losses for 1 and 2 threads; differs from the plain run" || bad "  augmented runs differ by thread count (or equal the plain run)"
import json, sys
def ep(p): return [(e["train_loss"], e["lr"]) for e in map(json.loads, open(p)) if e["event"] == "epoch"]
a, b, c = ep(sys.argv[1]), ep(sys.argv[2]), ep(sys.argv[3])
assert a == b and len(a) == 3, (a, b)
assert a != c, "augmentation/clipping changed nothing"
PY
run $A --epochs 1 --save-state "$T/aug.st"
run --resume "$T/aug.st" --epochs 3; rc=$?
python3 - "$T/a1.jl" "$T/out" <<'PY' && ok "  resume continues the augmentation stream exactly" || bad "  resumed augmented run differs (exit $rc)"
import json, sys
def ep(p): return [(e["epoch"], e["train_loss"]) for e in map(json.loads, open(p)) if e["event"] == "epoch"]
a, b = ep(sys.argv[1]), ep(sys.argv[2])
assert a[1:] == b, (a, b)
PY
run --epochs 1 --augment-rotate 500; rc=$?
[ $rc = 2 ] && grep -q -- '--augment-rotate' "$T/err" && ok "--augment-rotate 500: exit 2" || bad "--augment-rotate 500: exit $rc"

# --- every shipped config loads
for c in "$HERE"/../configs/*.json; do
    "$BIN" --config "$c" --print-config >/dev/null 2>"$T/err" && ok "configs/$(basename "$c") loads" \
        || bad "configs/$(basename "$c"): $(head -1 "$T/err")"
done

finish
