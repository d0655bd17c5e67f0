#!/usr/bin/env bash
# CLI contract: exit codes, one-line errors naming the option or file,
# JSON Lines on stdout, config precedence, signals, and a smoke run.
# Usage: MT_BIN=/path/to/mnist-train bash tests/test_cli.sh
. "$(dirname "$0")/lib.sh" cli
cd "$T" || exit 1 # training writes predictions.png into the current directory
# expect CODE "description" cmd...   (stderr saved in $T/err, stdout in $T/out)
python3 "$HERE/make_fixture.py" "$T/d" 2>/dev/null || { mkdir -p "$T/d"; python3 "$HERE/make_fixture.py" "$T/d"; }
D="$T/d"

# --- help and version
expect 0 "--help" "$BIN" --help
for o in --epochs --batch-size --lr --seed --data --log-interval --json --config --isa --threads; do
    grep -q -- "$o" "$T/out" || bad "--help lacks $o"
done
grep -q 'default: 64' "$T/out" && ok "  --help shows defaults" || bad "  --help shows no defaults"
expect 0 "train --help" "$BIN" train --help
expect 0 "--version" "$BIN" --version
grep -q '^mnist-train [0-9]' "$T/out" && grep -q 'kernels:' "$T/out" && ok "  version names kernels" || bad "  version output: $(cat "$T/out")"

# --- usage errors: exit 2, one line naming the option
expect 2 "--epochs -1" "$BIN" --epochs -1 --data "$D"; err_has "--epochs"; err_lines
expect 2 "--lr abc" "$BIN" --lr abc; err_has "--lr: expected a number"; err_lines
expect 2 "--batch-size 0" "$BIN" --batch-size 0; err_has "--batch-size"
expect 2 "--epochs 99999999999" "$BIN" --epochs 99999999999; err_has "99999999999"
expect 2 "unknown option" "$BIN" --frobnicate; err_has "unknown option '--frobnicate'"
expect 2 "missing value" "$BIN" --epochs; err_has "'--epochs' needs a value"
expect 2 "unknown command" "$BIN" frobnicate; err_has "unknown command 'frobnicate'"
expect 2 "stray argument" "$BIN" train extra; err_has "unexpected argument 'extra'"
expect 2 "bad --isa" "$BIN" --isa sse9 --data "$D"; err_has "--isa"
expect 2 "bad --hidden" "$BIN" --hidden 12,,3 --data "$D"; err_has "--hidden"
grep -q 'Try .mnist-train --help' "$T/err" && ok "  usage hint" || bad "  no usage hint"

# --- config files
echo '{"training": {"epochs": 3, "epohcs": 4}}' > "$T/typo.json"
expect 2 "config unknown key" "$BIN" --config "$T/typo.json"; err_has "typo.json: training.epohcs: unknown key"
printf '{\n "training": {"epochs": }\n}\n' > "$T/syntax.json"
expect 2 "config syntax error" "$BIN" --config "$T/syntax.json"; err_has "syntax.json: line 2"
expect 2 "config missing" "$BIN" --config "$T/none.json"; err_has "none.json: cannot open config"
echo '{"training": {"epochs": 3, "batch_size": 32}}' > "$T/c.json"
expect 0 "print-config" "$BIN" --config "$T/c.json" --epochs 4 --print-config
if python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); assert c["training"]["epochs"]==4 and c["training"]["batch_size"]==32, c' "$T/out"; then
    ok "  precedence: defaults < config < command line"; else bad "  precedence wrong: $(cat "$T/out")"; fi
cp "$T/out" "$T/eff.json"
expect 0 "printed config loads back" "$BIN" --config "$T/eff.json" --print-config
cmp -s "$T/out" "$T/eff.json" && ok "  --print-config round trip" || bad "  round trip differs"

# --- data errors: exit 3 naming the file
expect 3 "missing data" "$BIN" --data "$T/nowhere" --epochs 1 --no-download; err_has "$T/nowhere: train-images-idx3-ubyte not found"; err_lines
mkdir -p "$T/bad"; cp "$D"/* "$T/bad/"
printf 'garbage!' | gzip > "$T/bad/train-images-idx3-ubyte.gz"
expect 3 "bad magic" "$BIN" --data "$T/bad" --epochs 1; err_has "train-images-idx3-ubyte.gz: bad magic"; err_lines
head -c 100 "$D/t10k-images-idx3-ubyte" > "$T/bad/t10k-images-idx3-ubyte"; cp "$D/train-images-idx3-ubyte.gz" "$T/bad/"
expect 3 "truncated" "$BIN" --data "$T/bad" --epochs 1; err_has "t10k-images-idx3-ubyte: truncated: header says"
printf 'not gzip at all, just text' > "$T/bad/t10k-labels-idx1-ubyte"; cp "$D/t10k-images-idx3-ubyte" "$T/bad/"
expect 3 "text as labels" "$BIN" --data "$T/bad" --epochs 1; err_has "t10k-labels-idx1-ubyte: bad magic"

# --- a smoke run on the fixture: exit 0, falling loss, JSON Lines
expect 0 "smoke run (json)" "$BIN" --data "$D" --epochs 3 --batch-size 16 --log-interval 10 --json
if python3 - "$T/out" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
assert all("event" in e for e in ev), "event key missing"
kinds = [e["event"] for e in ev]
assert kinds[0] == "config", kinds
ep = [e for e in ev if e["event"] == "epoch"]
assert [e["epoch"] for e in ep] == [1, 2, 3] and all(e["epochs"] == 3 for e in ep)
assert ep[-1]["train_loss"] < ep[0]["train_loss"], "loss did not fall"
for e in ep: assert e["seconds"] >= 0 and e["samples_per_sec"] > 0
t = [e for e in ev if e["event"] == "test"][0]
assert t["total"] == 200 and t["correct"] == round(t["accuracy"] * 200) and t["accuracy"] >= 0.9, t
PY
then ok "  JSON events: config, epochs with falling loss, test >= 90%"; else bad "  JSON events wrong"; fi
grep -q 'Epoch \[1/3\], Batch \[10/38\], Loss: ' "$T/err" && ok "  seed-style loss lines on stderr" || bad "  no loss lines: $(head -5 "$T/err")"
grep -q 'Epoch 3 finished. Average Loss: ' "$T/err" && ok "  epoch averages" || bad "  no epoch average"
grep -q 'Test Accuracy: ' "$T/err" && ok "  test accuracy line" || bad "  no test line"
grep -q $'\r' "$T/err" && bad "  progress bar drawn on a non-terminal" || ok "  no progress bar when stderr is not a terminal"

# --- same seed, same result
"$BIN" --data "$D" --epochs 2 --json 2>/dev/null | grep -v seconds > "$T/r1"
"$BIN" --data "$D" --epochs 2 --json 2>/dev/null | grep -v seconds > "$T/r2"
"$BIN" --data "$D" --epochs 2 --json --seed 9 2>/dev/null | grep '"test"' > "$T/r3"
python3 - "$T/r1" "$T/r2" <<'PY' && ok "same seed gives the same losses" || bad "runs with the same seed differ"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]; b = [json.loads(l) for l in open(sys.argv[2])]
strip = lambda e: {k: v for k, v in e.items() if k not in ("seconds", "samples_per_sec", "train_seconds", "load_seconds", "single_thread_steps")}
assert [strip(e) for e in a] == [strip(e) for e in b]
PY

# --- divergence: exit 6
expect 6 "divergence" "$BIN" --data "$D" --epochs 3 --lr 100 --optimizer sgd --momentum 0.99; err_has "training diverged"

# --- signals: 130 / 143, and the run stops promptly
python3 "$HERE/make_fixture.py" "$T/big" 60000 100 28 28 10
for sig in INT TERM; do
    "$BIN" --data "$T/big" --epochs 50 --isa scalar >/dev/null 2>"$T/err" &
    pid=$!; sleep 1.5; kill -s $sig $pid; wait $pid; rc=$?
    want=$([ $sig = INT ] && echo 130 || echo 143)
    [ $rc = $want ] && ok "SIG$sig exits $rc" || bad "SIG$sig: exit $rc, wanted $want"
    grep -q 'interrupted' "$T/err" && ok "  says interrupted" || bad "  no interrupted message: $(tail -2 "$T/err")"
done

# --- real MNIST smoke (configs/smoke.json), where the data is available
if [ -n "${MNIST_DATA:-}" ] && [ -d "$MNIST_DATA" ]; then
    expect 0 "real MNIST smoke (configs/smoke.json)" "$BIN" --config "$HERE/../configs/smoke.json" --data "$MNIST_DATA" --json
    acc=$(python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if "\"test\"" in l][0]["accuracy"])' "$T/out")
    echo "     real MNIST smoke accuracy: $acc"
    python3 -c "import sys; sys.exit(0 if $acc >= 0.80 else 1)" && ok "  accuracy $acc >= 0.80" || bad "  accuracy $acc < 0.80"
else
    echo "skip - real MNIST smoke: MNIST_DATA is not set"
fi

finish
