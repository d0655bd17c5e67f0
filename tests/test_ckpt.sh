#!/usr/bin/env bash
# Checkpoints and subcommands through the CLI: exact resume, --init,
# --save-every, states written on SIGINT, bad checkpoints (exit 3, one line),
# eval / info / predict, reading our files with NumPy (and PyTorch), the man
# page against --help, and `make install PREFIX=...`.
# Usage: MT_BIN=/path/to/mnist-train [MNIST_DATA=...] bash tests/test_ckpt.sh
. "$(dirname "$0")/lib.sh" ckpt
ROOT=$(cd "$HERE/.." && pwd)
cd "$T" || exit 1 # training and eval write predictions.png into the current directory
PY=/usr/bin/python3
have_numpy() { [ -x $PY ] && $PY -c 'import numpy' 2>/dev/null; }
# tensors NAME-PREFIX A B: the tensors (all, or those starting with PREFIX) are byte-identical.
# Reads safetensors with json + struct only.
same_tensors() {
    python3 - "$@" <<'PY'
import json, struct, sys
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); h.pop("__metadata__", None)
    return {k: b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in h.items()}
pre, a, b = sys.argv[1], load(sys.argv[2]), load(sys.argv[3])
ka = sorted(k for k in a if k.startswith(pre)); kb = sorted(k for k in b if k.startswith(pre))
assert ka == kb and ka, (ka, kb)
diff = [k for k in ka if a[k] != b[k]]
assert not diff, diff
PY
}
# losses FILE...: the (epoch, batch, loss) of batch events and (epoch, train_loss) of epoch events
losses() { python3 -c '
import json, sys
for f in sys.argv[1:]:
    for l in open(f):
        e = json.loads(l)
        if e["event"] == "batch": print(e["epoch"], e["batch"], e["loss"])
        if e["event"] == "epoch": print(e["epoch"], "avg", e["train_loss"], e["steps"])' "$@"; }

python3 "$HERE/make_fixture.py" "$T/d" 600 200 8 8 4
D="$T/d"

# --- the resume test: 2 epochs + resume to 5 == 5 uninterrupted
"$BIN" --data "$D" --epochs 5 --log-interval 3 --json --save "$T/full.st" --save-state "$T/full_state.st" >"$T/full.jl" 2>/dev/null
"$BIN" --data "$D" --epochs 2 --log-interval 3 --json --save-state "$T/s2.st" >"$T/a.jl" 2>/dev/null
expect 0 "resume from epoch 2 to 5" "$BIN" --resume "$T/s2.st" --epochs 5 --json --save "$T/resumed.st" --save-state "$T/s5.st"
cp "$T/out" "$T/b.jl"
grep -q 'resuming from .*: 2 epochs done' "$T/err" && ok "  says it resumes" || bad "  no resume line: $(head -2 "$T/err")"
same_tensors fc "$T/full.st" "$T/resumed.st" && ok "  weights bit-identical to the uninterrupted run" || bad "  weights differ"
same_tensors "" "$T/full_state.st" "$T/s5.st" && ok "  whole state (moments, step, PRNG, order) identical" || bad "  state differs"
losses "$T/full.jl" > "$T/l_full"; losses "$T/a.jl" "$T/b.jl" > "$T/l_parts"
[ -s "$T/l_full" ] && cmp -s "$T/l_full" "$T/l_parts" && ok "  identical logged losses ($(wc -l < "$T/l_full") lines)" || bad "  logged losses differ: $(diff "$T/l_full" "$T/l_parts" | head -4)"
grep -q '"event":"test"' "$T/b.jl" && [ "$(grep '"event":"test"' "$T/full.jl" | sed 's/"seconds.*//')" = "$(grep '"event":"test"' "$T/b.jl" | sed 's/"seconds.*//')" ] \
    && ok "  identical test result" || bad "  test result differs"

# --- stopped inside an epoch (--max-steps), resumed: still exact
"$BIN" --data "$D" --epochs 3 --max-steps 13 --save-state "$T/m13.st" >/dev/null 2>&1
expect 0 "resume inside an epoch" "$BIN" --resume "$T/m13.st" --max-steps 0 --save-state "$T/m_end.st"
"$BIN" --data "$D" --epochs 3 --save-state "$T/m_full.st" >/dev/null 2>&1
same_tensors "" "$T/m_full.st" "$T/m_end.st" && ok "  mid-epoch resume identical" || bad "  mid-epoch resume differs"

# --- interrupted by SIGINT: state saved, exit 130, resume completes identically
python3 "$HERE/make_fixture.py" "$T/big" 6000 100 16 16 10
"$BIN" --data "$T/big" --epochs 2 --hidden 512,256 --isa scalar --save-state "$T/int.st" >/dev/null 2>"$T/err" &
pid=$!; sleep 1; kill -s INT $pid; wait $pid; rc=$?
[ $rc = 130 ] && ok "SIGINT with --save-state exits 130" || bad "SIGINT: exit $rc"
grep -q 'saved training state' "$T/err" && ok "  state saved on interrupt" || bad "  no state saved: $(tail -3 "$T/err")"
"$BIN" --resume "$T/int.st" --save-state "$T/int_end.st" >/dev/null 2>&1 && ok "  interrupted run resumes" || bad "  resume after interrupt failed"
"$BIN" --data "$T/big" --epochs 2 --hidden 512,256 --isa scalar --save-state "$T/int_full.st" >/dev/null 2>&1
same_tensors "" "$T/int_full.st" "$T/int_end.st" && ok "  interrupted + resumed == uninterrupted" || bad "  interrupted + resumed differs"

# --- --save-every
expect 0 "--save-every 2 over 3 epochs" "$BIN" --data "$D" --epochs 3 --save-every 2 --save-state "$T/every.st" --json
[ "$(grep -c '"event":"checkpoint"' "$T/out")" = 2 ] && ok "  two states written (epoch 2 and the end)" || bad "  checkpoint events: $(grep checkpoint "$T/out")"

# --- --init: weights only, fresh optimizer
expect 0 "--init from a model file" "$BIN" --data "$D" --epochs 1 --init "$T/full.st" --json
python3 -c 'import json,sys; t=[json.loads(l) for l in open(sys.argv[1]) if "\"test\"" in l][0]; sys.exit(t["accuracy"] < 0.9)' "$T/out" \
    && ok "  starts from the trained weights" || bad "  --init accuracy low"
expect 0 "--init from a state file" "$BIN" --data "$D" --epochs 1 --init "$T/s2.st"
expect 3 "--init with another architecture" "$BIN" --data "$D" --epochs 1 --init "$T/full.st" --hidden 32,64
err_has "'fc1.weight': shape [128,64] in the file, the model needs [32,64]"; err_lines
expect 3 "--init with fewer layers" "$BIN" --data "$D" --epochs 1 --init "$T/full.st" --hidden 32
err_has "the file's model is 64-128-64-4 (3 layers), this run's is 64-32-4 (2 layers)"
expect 3 "--resume from a model file" "$BIN" --resume "$T/full.st"; err_has "use --init"; err_lines
expect 2 "--resume with --init" "$BIN" --resume "$T/s2.st" --init "$T/full.st"; err_has "exclude each other"
expect 3 "--resume with another --train-limit" "$BIN" --resume "$T/s2.st" --train-limit 100 --epochs 3
err_has "orders 600 training samples, this run has 100"; err_lines
expect 0 "--print-config shows the stored recipe" "$BIN" --resume "$T/s2.st" --epochs 7 --print-config
python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); assert c["training"]["epochs"]==7 and c["training"]["log_interval"]==3 and c["data"]["dir"]==sys.argv[2], c' "$T/out" "$D" \
    && ok "  stored recipe < command line" || bad "  resumed config wrong: $(head -c 300 "$T/out")"

# --- format-level corruption through the CLI: exit 3, one line naming the file
head -c 100 "$T/full.st" > "$T/trunc.st"
expect 3 "truncated checkpoint" "$BIN" eval --checkpoint "$T/trunc.st" --data "$D"; err_has "trunc.st"; err_lines
python3 -c 'import struct,sys; open(sys.argv[1],"wb").write(struct.pack("<Q", 1<<60) + b"{}")' "$T/huge.st"
expect 3 "header length huge" "$BIN" eval --checkpoint "$T/huge.st" --data "$D"; err_has "huge.st"; err_lines
python3 - "$T/full.st" "$T/ovl.st" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
h["fc1.bias"]["data_offsets"] = [0, 512]          # overlaps fc1.weight
hj = json.dumps(h).encode(); hj += b" " * (-len(hj) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(hj)) + hj + b[8 + n:])
PY
expect 3 "overlapping offsets" "$BIN" predict --checkpoint "$T/ovl.st" "$T/nothing.png"; err_has "ovl.st"; err_lines
expect 3 "missing checkpoint" "$BIN" eval --checkpoint "$T/none.st" --data "$D"; err_has "none.st"
expect 3 "resume from garbage" "$BIN" --resume "$D/t10k-labels-idx1-ubyte"; err_lines
expect 2 "eval without a checkpoint" "$BIN" eval --data "$D"; err_has "no checkpoint given"

# --- eval and info
expect 0 "eval" "$BIN" eval --checkpoint "$T/full.st" --data "$D"
grep -q 'Test Accuracy: ' "$T/err" && grep -q 'Confusion' "$T/err" && ok "  accuracy and confusion table" || bad "  eval output: $(head -3 "$T/err")"
[ -s "$T/predictions.png" ] && ok "  eval writes the prediction grid" || bad "  eval wrote no predictions.png"
expect 0 "eval --json" "$BIN" eval --checkpoint "$T/full.st" --data "$D" --json
python3 - "$T/out" "$T/full.jl" <<'PY' && ok "  same loss and accuracy as training's test; confusion sums to the test set" || bad "  eval disagrees with training"
import json, sys
e = [json.loads(l) for l in open(sys.argv[1]) if json.loads(l)["event"] == "eval"][0]; t = [json.loads(l) for l in open(sys.argv[2]) if '"test"' in l][0]
assert e["correct"] == t["correct"] and e["total"] == t["total"] == 200 and e["loss"] == t["loss"], (e, t)
assert sum(map(sum, e["confusion"])) == 200 and sum(e["confusion"][i][i] for i in range(len(e["confusion"]))) == e["correct"]
PY
for th in 1 2 3; do
    "$BIN" eval --checkpoint "$T/full.st" --data "$D" --json --threads $th 2>/dev/null | grep '"event":"eval"' >"$T/eval.$th"
done
[ -s "$T/eval.1" ] && cmp -s "$T/eval.1" "$T/eval.2" && cmp -s "$T/eval.1" "$T/eval.3" \
    && ok "  eval --threads 1, 2 and 3 agree to the bit" || bad "  eval differs between thread counts"
expect 0 "eval of a state file" "$BIN" eval "$T/s5.st" --data "$D"
expect 0 "info on model, state and IDX" "$BIN" info "$T/full.st" "$T/s2.st" "$D/t10k-images-idx3-ubyte" "$D/train-labels-idx1-ubyte.gz"
grep -q 'MLP 64-128-64-4' "$T/out" && grep -q '2 epochs done' "$T/out" && grep -q 'IDX images, 200 items of 8x8' "$T/out" \
    && grep -q 'IDX labels, 600 items' "$T/out" && ok "  describes all four" || bad "  info output: $(cat "$T/out")"
expect 0 "info --json" "$BIN" info --json "$T/s2.st"
python3 -c 'import json,sys; e=json.loads(open(sys.argv[1]).read()); assert e["kind"]=="state" and e["epochs_done"]==2 and e["steps"]==20 and e["meta.config"]["training"]["epochs"]==2, e' "$T/out" \
    && ok "  JSON description" || bad "  info JSON: $(cat "$T/out")"
expect 3 "info on a bad file" "$BIN" info "$T/trunc.st"; err_lines
for c in eval predict info train fetch; do
    expect 0 "$c --help" "$BIN" $c --help; cp "$T/out" "$T/help_$c"
done
"$BIN" --help > "$T/help_main"

# --- predict: pictures in many encodings get the same class
python3 "$HERE/make_digits.py" "$T/png" 0; python3 "$HERE/make_digits.py" "$T/png" 1
check_predict() { # MODEL LABEL [must-be-right]
    local model=$1 label=$2 right=${3:-0}
    for dg in 0 1; do
        expect 0 "predict $label: digit $dg in 8 encodings" "$BIN" predict --checkpoint "$model" --json "$T"/png/${dg}_*.png
        python3 - "$T/out" "$dg" "$right" <<'PY' && ok "  all encodings agree" || bad "  encodings disagree: $(cat "$T/out")"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
assert len(ev) == 8 and all(e["event"] == "predict" and len(e["top"]) == 3 for e in ev), ev
classes = {e["file"].rsplit("/", 1)[1]: e["class"] for e in ev}
print("     ", classes)
assert len(set(classes.values())) == 1, classes
assert {e["file"].rsplit("_", 1)[1]: e["inverted"] for e in ev}["bow.png"] is True
if sys.argv[3] == "1": assert ev[0]["class"] == int(sys.argv[2]), "wrong class"
PY
    done
}
check_predict "$T/full.st" "(fixture model, 8x8)"
printf 'not a png' > "$T/bad.png"
expect 3 "predict: bad PNG" "$BIN" predict --checkpoint "$T/full.st" "$T/png/0_wob.png" "$T/bad.png"
err_has "bad.png"; err_lines
grep -q '0_wob.png: ' "$T/out" && ok "  the good file is still classified" || bad "  good file not classified"
python3 -c 'import zlib,struct,sys
c=lambda t,d: struct.pack(">I",len(d))+t+d+struct.pack(">I",zlib.crc32(t+d))
open(sys.argv[1],"wb").write(b"\x89PNG\r\n\x1a\n"+c(b"IHDR",struct.pack(">IIBBBBB",8,8,8,0,0,0,0))+c(b"IDAT",zlib.compress(b"\0\xff\xff\xff\xff\xff\xff\xff\xff"*8))+c(b"IEND",b""))' "$T/blank.png"
expect 3 "predict: blank picture" "$BIN" predict --checkpoint "$T/full.st" "$T/blank.png"; err_has "blank.png: blank image"
expect 2 "predict without images" "$BIN" predict --checkpoint "$T/full.st"

# --- real MNIST: predict classifies drawn digits; NumPy (and PyTorch) read our file
if [ -n "${MNIST_DATA:-}" ] && [ -d "$MNIST_DATA" ]; then
    expect 0 "train on real MNIST (20000 images, 2 epochs) with --save" "$BIN" --data "$MNIST_DATA" --train-limit 20000 \
        --epochs 2 --log-interval 0 --save "$T/mnist.st" --json
    check_predict "$T/mnist.st" "(real MNIST model)" 1
    expect 0 "eval on real MNIST" "$BIN" eval --checkpoint "$T/mnist.st" --json
    cp "$T/out" "$T/eval.json"
    if have_numpy; then
        $PY - "$T/mnist.st" "$MNIST_DATA" "$T/eval.json" <<'PY' && ok "  NumPy alone reads the checkpoint and gets eval's accuracy" || bad "  NumPy accuracy differs"
import gzip, json, struct, sys
import numpy as np
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); meta = h.pop("__metadata__")
W = {k: np.frombuffer(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], "<f4").reshape(v["shape"]) for k, v in h.items()}
img = gzip.open(sys.argv[2] + "/t10k-images-idx3-ubyte.gz").read()[16:]; lbl = gzip.open(sys.argv[2] + "/t10k-labels-idx1-ubyte.gz").read()[8:]
x = (np.frombuffer(img, np.uint8).reshape(-1, 784) / 255.0 - float(meta["norm_mean"])) / float(meta["norm_std"])
y = np.frombuffer(lbl, np.uint8)
for i in (1, 2):
    x = np.maximum(x @ W[f"fc{i}.weight"].T + W[f"fc{i}.bias"], 0)
z = x @ W["fc3.weight"].T + W["fc3.bias"]
correct = int((z.argmax(1) == y).sum())
e = [json.loads(l) for l in open(sys.argv[3]) if json.loads(l)["event"] == "eval"][0]
print("      numpy: %d/10000, eval: %d/10000, file says test_accuracy %s" % (correct, e["correct"], meta["test_accuracy"]))
assert abs(correct - e["correct"]) <= 2, (correct, e["correct"])   # float64 vs float32 rounding at ties
assert abs(float(meta["test_accuracy"]) * 10000 - e["correct"]) < 0.5
PY
    else
        echo "skip - NumPy check: /usr/bin/python3 with numpy not found"
    fi
    if [ -x $PY ] && $PY -c 'import torch, numpy' 2>/dev/null; then
        $PY - "$T/mnist.st" <<'PY' && ok "  PyTorch: load_state_dict(strict=True) into the seed's DigitClassifier" || bad "  PyTorch strict load failed"
import json, struct, sys, numpy as np, torch, torch.nn as nn
def load_file(p):   # safetensors.torch.load_file, in a few lines (the package may be absent)
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); h.pop("__metadata__")
    return {k: torch.from_numpy(np.frombuffer(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], "<f4").reshape(v["shape"]).copy())
            for k, v in h.items() if v["dtype"] == "F32"} if all(v["dtype"] == "F32" for v in h.values()) else None
class DigitClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten(); self.fc1 = nn.Linear(784, 128); self.relu = nn.ReLU()
        self.fc2 = nn.Linear(128, 64); self.fc3 = nn.Linear(64, 10)
m = DigitClassifier(); m.load_state_dict(load_file(sys.argv[1]), strict=True)
PY
    else
        echo "skip - PyTorch strict load: torch not importable by /usr/bin/python3"
    fi
else
    echo "skip - real MNIST predict / NumPy / PyTorch checks: MNIST_DATA is not set"
fi

# --- the man page documents every option of every --help
for h in "$T"/help_*; do
    for o in $(grep -oE -- '--[a-z][a-z0-9-]+' "$h" | sort -u); do
        esc=$(printf '%s' "$o" | sed 's/-/\\\\-/g')
        grep -q -- "$esc" "$ROOT/mnist-train.1" || bad "man page lacks $o (from $(basename "$h"))"
    done
done
ok "man page checked against every --help"
for c in train eval predict info fetch; do grep -q "^\.B $c" "$ROOT/mnist-train.1" || bad "man page lacks command $c"; done

# --- make install PREFIX=...
san=; case "$BIN" in */build/san/*) san=SANITIZE=1;; esac
if make -s -C "$ROOT" install PREFIX="$T/inst" $san >"$T/inst.log" 2>&1; then
    [ -x "$T/inst/bin/mnist-train" ] && [ -f "$T/inst/share/man/man1/mnist-train.1" ] && \
        [ -f "$T/inst/share/mnist-train/configs/default.json" ] && [ -f "$T/inst/share/mnist-train/configs/smoke.json" ] \
        && "$T/inst/bin/mnist-train" --version >/dev/null && ok "make install PREFIX=...: binary, man page, configs" \
        || bad "make install: files missing: $(find "$T/inst" | head)"
else
    bad "make install failed: $(tail -3 "$T/inst.log")"
fi

finish
