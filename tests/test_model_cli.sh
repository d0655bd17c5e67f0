#!/usr/bin/env bash
# --model and --dropout through the CLI: a layer-list model trains, saves,
# resumes bit-exactly inside and across epochs, gives the same bits on 1 and
# 3 threads, and its files work with eval and info; the mlp with --dropout;
# a JSON list in a config; bad models get a one-line usage error (exit 2).
# Usage: MT_BIN=/path/to/mnist-train bash tests/test_model_cli.sh
. "$(dirname "$0")/lib.sh" model
cd "$T" || exit 1 # training writes predictions.png into the current directory
python3 "$HERE/make_fixture.py" "$T/d" 300 100 8 8 4
D="$T/d"
M="conv:4:3:same,bn,relu,maxpool,dropout:0.2,flatten,linear:4"
# same_tensors A B: the files' tensors are byte-identical (json + struct only)
same_tensors() {
    python3 - "$@" <<'PY'
import json, struct, sys
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); h.pop("__metadata__", None)
    return {k: b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in h.items()}
a, b = load(sys.argv[1]), load(sys.argv[2])
assert sorted(a) == sorted(b) and a, (sorted(a), sorted(b))
diff = [k for k in a if a[k] != b[k]]
assert not diff, diff
PY
}
jfield() { python3 -c 'import json,sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("event") == sys.argv[2]: print(e[sys.argv[3]])' "$@"; }

expect 0 "train a layer-list model" "$BIN" --data "$D" --model "$M" --epochs 3 --batch-size 32 --lr 0.01 \
    --threads 2 --json --save "$T/full.st" --save-state "$T/full_state.st"
cp "$T/out" "$T/full.jl"
[ "$(jfield "$T/full.jl" start model)" = "$M" ] && ok "  the start event names the model" || bad "  start event model"
acc=$(jfield "$T/full.jl" test accuracy)
python3 -c "import sys; sys.exit(0 if float('$acc') > 0.5 else 1)" && ok "  it learns ($acc)" || bad "  accuracy $acc"

expect 0 "the same run on 1 and 3 threads" "$BIN" --data "$D" --model "$M" --epochs 3 --batch-size 32 --lr 0.01 \
    --threads 1 --save "$T/t1.st"
expect 0 "  (3 threads)" "$BIN" --data "$D" --model "$M" --epochs 3 --batch-size 32 --lr 0.01 --threads 3 --save "$T/t3.st"
same_tensors "$T/t1.st" "$T/full.st" && same_tensors "$T/t3.st" "$T/full.st" && ok "  identical weights and bn buffers" \
    || bad "  thread counts differ"

# stopped inside epoch 2 (max-steps), resumed to 3 epochs: the same bits
expect 0 "a run stopped inside an epoch" "$BIN" --data "$D" --model "$M" --epochs 3 --batch-size 32 --lr 0.01 \
    --max-steps 14 --save-state "$T/part.st"
expect 0 "  resumed to the end" "$BIN" --resume "$T/part.st" --data "$D" --max-steps 0 --save "$T/resumed.st"
same_tensors "$T/resumed.st" "$T/full.st" && ok "  resumed == uninterrupted" || bad "  resume is not exact"
expect 0 "  the full run's state resumes too" "$BIN" --resume "$T/full_state.st" --data "$D" --epochs 4 \
    --save-state "$T/four_state.st"

expect 0 "eval of the saved model" "$BIN" eval "$T/full.st" --data "$D" --json
[ "$(jfield "$T/out" eval accuracy)" = "$acc" ] && ok "  eval gives training's test accuracy" \
    || bad "  eval accuracy $(jfield "$T/out" eval accuracy) != $acc"
expect 0 "info on the model" "$BIN" info "$T/full.st"
grep -qF "$M" "$T/out" && ok "  info names the layers" || bad "  info: $(head -3 "$T/out")"
expect 0 "info on the state" "$BIN" info "$T/full_state.st"
grep -q "3 epochs done" "$T/out" && ok "  info shows the progress" || bad "  info: $(head -4 "$T/out")"

expect 0 "the mlp with --dropout" "$BIN" --data "$D" --hidden 16 --dropout 0.3 --epochs 1 --save "$T/mlp.st"
expect 0 "  eval of it" "$BIN" eval "$T/mlp.st" --data "$D"
expect 0 "a named model trains on 28x28 data" sh -c "python3 '$HERE/make_fixture.py' '$T/d28' 64 32 28 28 10 >/dev/null && \
    '$BIN' --data '$T/d28' --model fastcnn --epochs 1 --batch-size 32 --save '$T/fast.st'"

printf '{"model": {"name": ["flatten", "linear:8", "relu", "linear:4"]}, "training": {"epochs": 1}}\n' >"$T/list.json"
expect 0 "a JSON list in a config" "$BIN" --config "$T/list.json" --data "$D" --json
[ "$(jfield "$T/out" start model)" = "flatten,linear:8,relu,linear:4" ] && ok "  joined into the layer list" \
    || bad "  start model: $(jfield "$T/out" start model)"

expect 2 "a linear layer on an image" "$BIN" --data "$D" --model "conv:4:3,linear:4"
err_has "needs flat input, got 4x6x6 (add flatten"; err_lines
expect 2 "an unknown item" "$BIN" --data "$D" --model "flatten,lstm:4"
err_has "item 2 'lstm:4' is not one of"; err_lines
expect 2 "the wrong number of classes" "$BIN" --data "$D" --model "flatten,linear:10"
err_has "ends with 10 features, the data has 4 classes"; err_lines
# the command's prefix wraps the library's message once, the model named whole
err_has "mnist-train: --model: model 'flatten,linear:10' ends with"
expect 2 "dropout out of range" "$BIN" --data "$D" --dropout 1
finish
