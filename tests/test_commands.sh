#!/usr/bin/env bash
# The command layer as a new user meets it: each command takes only its own
# options, exact names with a "did you mean", every error through one
# reporter (a JSON error event too), checkpoints that carry their data set,
# and the behaviours a first run trips on (a typo'd --data, Ctrl-C without
# --save-state, --resume with fewer epochs, early stopping's best epoch...).
# Every check here failed on the command layer before its redesign.
. "$(dirname "$0")/lib.sh" commands
cd "$T" || exit 1
python3 "$HERE/make_fixture.py" "$T/d" 400 100 28 28 10 >/dev/null
D="$T/d"
has() { if grep -qF -- "$2" "$T/$1"; then ok "  $1 has '$2'"; else bad "  $1 lacks '$2': $(head -c 300 "$T/$1")"; fi; }
lacks() { if grep -qF -- "$2" "$T/$1"; then bad "  $1 has '$2'"; else ok "  $1 lacks '$2'"; fi; }

# --- each command accepts only its own options
expect 2 "predict with a training option" "$BIN" predict --checkpoint m.st --epochs 99 --lr 5 d.png
err_has "'--epochs' is not an option of 'predict'"; err_lines
expect 2 "eval --save (it would write nothing)" "$BIN" eval --checkpoint m.st --save foo.st
err_has "'--save' is not an option of 'eval'"
expect 2 "info --lr" "$BIN" info --lr 9 f.st; err_has "'--lr' is not an option of 'info'"
expect 2 "fetch --epochs" "$BIN" fetch --epochs 3; err_has "not an option of 'fetch'"
expect 0 "train --help" "$BIN" train --help; lacks out "--checkpoint"; has out "--epochs"
expect 0 "predict --help" "$BIN" predict --help; lacks out "--epochs"; has out "--class-names"
expect 0 "fetch --help lists --verify" "$BIN" fetch --help; has out "--verify"
# --- exact names, did-you-mean for options, commands and config keys
expect 2 "--epoch is not --epochs" "$BIN" --epoch 3 --data "$D"; err_has "did you mean '--epochs'"
expect 2 "--lr-patince" "$BIN" --lr-patince 3; err_has "did you mean '--lr-patience'"
expect 2 "a misspelt command" "$BIN" evl; err_has "did you mean 'eval'"
printf '{"training": {"epocks": 2}}' >"$T/typo.json"
expect 2 "a misspelt config key" "$BIN" --config "$T/typo.json" --data "$D"; err_has "did you mean 'training.epochs'"
# --- option errors reach --json users as error events
expect 2 "parse error with --json" "$BIN" --json --epoch 3
grep -q '"event":"error".*"exit_code":2' "$T/out" && ok "  error event on stdout" || bad "  no error event: $(cat "$T/out")"
expect 2 "predict parse error with --json" "$BIN" predict --json --lr 1
grep -q '"event":"error"' "$T/out" && ok "  error event on stdout" || bad "  no error event: $(cat "$T/out")"

# --- a list in a config, and configs found by name
printf '{"model": {"hidden": [32, 16]}}' >"$T/list.json"
expect 0 "\"hidden\": [32,16] in a config" "$BIN" --config "$T/list.json" --print-config
has out '"hidden":	"32,16"'
mkdir -p "$T/inst/bin" "$T/inst/share/mnist-train/configs" "$T/elsewhere"
cp "$BIN" "$T/inst/bin/mnist-train"
printf '{"training": {"epochs": 7}}' >"$T/inst/share/mnist-train/configs/mine.json"
(cd "$T/elsewhere" && "$T/inst/bin/mnist-train" --config mine --print-config >"$T/out" 2>"$T/err"); rc=$?
[ $rc = 0 ] && grep -q '"epochs":	7' "$T/out" && ok "an installed binary finds its configs by name" \
    || bad "installed --config mine: exit $rc: $(head -2 "$T/err")"
expect 2 "--config with an unknown name" "$BIN" --config nosuch; err_has "no such file"

# --- a mistyped --data is not created and downloaded into
expect 3 "--data that does not exist" "$BIN" --data "$T/nope/mnst" --epochs 1 --mirror http://127.0.0.1:9/
err_has "no such folder"; err_has "mnist-train fetch"; err_lines
[ ! -e "$T/nope" ] && ok "  no folder created" || bad "  $T/nope was created"

# --- training lines: plurals, the schedule's rate in the epoch line, none after the last
expect 0 "one epoch with a step schedule" "$BIN" --data "$D" --epochs 1 --scheduler step --gamma 0.5 --log-interval 0 --no-grid
has err "1 epoch,"; lacks err "1 epochs"; lacks err "learning rate"
expect 0 "two epochs with a step schedule" "$BIN" --data "$D" --epochs 2 --scheduler step --gamma 0.5 --log-interval 0 --no-grid
grep -q '^Epoch 1 finished.*learning rate 0.001 -> 0.0005' "$T/err" && ok "  the cut is in epoch 1's line" \
    || bad "  epoch lines: $(grep Epoch "$T/err")"
grep -q '^Epoch 2 finished.*learning rate' "$T/err" && bad "  a rate after the last epoch" || ok "  no rate after the last epoch"

# --- early stopping: the final test says which weights; --restore-best uses the best
cat >"$T/es.json" <<'J'
{"training": {"epochs": 30, "early_stop": 1, "min_delta": 0.5, "log_interval": 0}, "optimizer": {"lr": 0.01},
 "data": {"val_split": 50}, "pictures": {"grid_enabled": false}}
J
expect 0 "early stopping without --restore-best" "$BIN" --config "$T/es.json" --data "$D"
has err "--restore-best tests and saves those"
expect 0 "early stopping with --restore-best" "$BIN" --config "$T/es.json" --data "$D" --restore-best --save "$T/best.st" --json
grep -q '^Test Loss.*weights of epoch 1, the best' "$T/err" && ok "  tested on the best epoch's weights" \
    || bad "  $(grep -E 'Test Loss|Early' "$T/err")"
grep -q '"event":"test".*"weights_epoch":1' "$T/out" && ok "  test event names the epoch" || bad "  $(grep '"test"' "$T/out")"
expect 0 "--restore-best without early stopping" "$BIN" --data "$D" --epochs 4 --lr 0.05 --val-split 50 \
    --restore-best --log-interval 0 --no-grid --json
grep -q '"event":"test".*"weights_epoch":[1-4]' "$T/out" && ok "  test event names the epoch" || bad "  $(grep '"test"' "$T/out")"
expect 2 "a command after an option" "$BIN" --json eval; err_has "the command comes first"
expect 0 "--print-config --json is one line" "$BIN" --print-config --json
[ "$(wc -l <"$T/out")" = 1 ] && ok "  one line" || bad "  $(wc -l <"$T/out") lines"

# --- Ctrl-C without --save-state says what would have kept the run
python3 "$HERE/make_fixture.py" "$T/big" 20000 100 28 28 10 >/dev/null
"$BIN" --data "$T/big" --epochs 50 --isa scalar --log-interval 0 --no-grid >/dev/null 2>"$T/err" &
pid=$!; sleep 1.5; kill -INT $pid; wait $pid; rc=$?
[ $rc = 130 ] && ok "interrupted: exit 130" || bad "interrupted: exit $rc"
err_has "--save-state FILE keeps a run"

# --- the progress bar's ETA covers the epochs still to come, not only this one
"$BIN" --data "$T/big" --epochs 3 --isa scalar --log-interval 0 --no-grid --progress on >/dev/null 2>"$T/bar"
eta=$(tr '\r' '\n' <"$T/bar" | grep 'epoch 1/3' | tail -1 | grep -o 'ETA [0-9.]*s')
case "$eta" in
    "ETA 0.0s"|"") bad "ETA at the end of epoch 1 of 3: '$eta'" ;;
    *) ok "ETA at the end of epoch 1 of 3 counts the rest: $eta" ;;
esac

# --- --resume: fewer epochs than done is an error; the state keeps being saved to its file
expect 0 "a 2-epoch state" "$BIN" --data "$D" --epochs 2 --save-state "$T/run.st" --log-interval 0 --no-grid
expect 2 "--resume with fewer epochs" "$BIN" --resume "$T/run.st" --epochs 1; err_has "already done 2 epochs"
expect 2 "--resume with as many epochs" "$BIN" --resume "$T/run.st"; err_has "--epochs 3 or higher"
expect 0 "--resume to 3 epochs" "$BIN" --resume "$T/run.st" --epochs 3 --json --no-grid
grep -q '"event":"checkpoint","kind":"state","path":"'"$T/run.st"'","epoch":3' "$T/out" \
    && ok "  the state was saved back to run.st" || bad "  no state saved to run.st: $(grep checkpoint "$T/out")"
expect 0 "info on the state" "$BIN" info "$T/run.st"
lacks out "0x1."; lacks out "adam/adamw"; has out "optimizer adam"

# --- checkpoints carry their data set; the wrong kind of file is named for what it is
expect 0 "a model trained on the fixture as fashion-mnist" "$BIN" --data "$D" --dataset fashion-mnist --epochs 1 \
    --save "$T/fm.st" --log-interval 0 --no-grid
expect 2 "eval with a --dataset that disagrees" "$BIN" eval --checkpoint "$T/fm.st" --dataset mnist --data "$D"
err_has "was trained on fashion-mnist"
rm -f predictions.png
expect 0 "eval writes no picture unless asked" "$BIN" eval --checkpoint "$T/fm.st" --data "$D"
[ ! -e predictions.png ] && ok "  no predictions.png" || bad "  eval wrote predictions.png"
expect 0 "eval --grid writes it" "$BIN" eval --checkpoint "$T/fm.st" --data "$D" --grid "$T/g.png"
[ -s "$T/g.png" ] && ok "  g.png written" || bad "  no g.png"
python3 - "$T/digit.png" <<'PY'
import struct, sys, zlib
w = h = 28
rows = b"".join(b"\0" + bytes(255 if 8 < x < 20 and 4 < y < 24 else 0 for x in range(w)) for y in range(h))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
PY
expect 0 "predict names Fashion-MNIST classes" "$BIN" predict --checkpoint "$T/fm.st" "$T/digit.png"
grep -qE 'digit.png: (T-shirt/top|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle boot) ' "$T/out" \
    && ok "  answer by name" || bad "  $(cat "$T/out")"
expect 0 "predict --class-names" "$BIN" predict --checkpoint "$T/fm.st" --class-names a,b,c,d,e,f,g,h,i,j "$T/digit.png"
grep -qE 'digit.png: [a-j] ' "$T/out" && ok "  answer by the given name" || bad "  $(cat "$T/out")"
expect 3 "a PNG as a checkpoint" "$BIN" eval --checkpoint "$T/digit.png" --data "$D"
err_has "looks like a PNG image"; err_lines
expect 3 "an IDX file as a checkpoint" "$BIN" predict --checkpoint "$D/t10k-labels-idx1-ubyte" "$T/digit.png"
err_has "looks like an IDX data file"
expect 3 "a checkpoint as a picture" "$BIN" predict --checkpoint "$T/fm.st" "$T/fm.st"
err_has "looks like a safetensors checkpoint"
expect 3 "info on a PNG" "$BIN" info "$T/digit.png"; err_has "looks like a PNG image"
expect 3 "info on an unreadable file" "$BIN" info "$T/nosuch.st"; err_has "No such file or directory"

# --- an eval of a Fashion-MNIST model reads Fashion-MNIST, wherever MNIST_DATA points
FS=/usr/share/datasets/fashion-mnist
if [ -f "$FS/t10k-labels-idx1-ubyte.gz" ] || [ -f "$FS/t10k-labels-idx1-ubyte" ]; then
    MNIST_DATA="$D" expect 0 "eval of a fashion-mnist model without --data" "$BIN" eval "$T/fm.st" --test-limit 100 --json
    grep -q '"event":"eval".*"data":"'"$FS"'"' "$T/out" && ok "  read $FS" || bad "  $(grep '"eval"' "$T/out" | head -c 300)"
else
    echo "skip - Fashion-MNIST eval: $FS is not installed (Debian: dataset-fashion-mnist)"
fi

# --- repository hygiene the redesign asked for
if git -C "$HERE/.." rev-parse >/dev/null 2>&1; then
    git -C "$HERE/.." check-ignore -q run.st && ok "run.st (the README's state file) is ignored" || bad "run.st is not ignored"
fi
if grep -rnE '\(issue [0-9]+\)|issue [0-9]+[:)]' "$HERE/../src" "$HERE/../include" >"$T/issues"; then
    bad "code comments name issues: $(head -3 "$T/issues")"
else
    ok "no issue numbers in code comments"
fi
finish
