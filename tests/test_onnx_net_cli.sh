#!/usr/bin/env bash
# ONNX export of layer-list models through the CLI: train --save-onnx and
# export write the same file for a named model, a layer list with batch norm
# and 'same' padding, and the mlp with dropout (also under --seeds);
# onnx.checker accepts them and onnxruntime's accuracy on the test split is
# eval's.  (tests/test_onnx.c compares the logits themselves.)  onnx.checker
# and onnxruntime checks skip with a message when their tools are missing.
# Usage: MT_BIN=/path/to/mnist-train bash tests/test_onnx_net_cli.sh
. "$(dirname "$0")/lib.sh" onnxnet
PY=/usr/bin/python3
cd "$T" || exit 1
python3 "$HERE/make_fixture.py" "$T/d" 400 200 28 28 10
D=$T/d
# the test split as raw pixels in [0,1] and labels, for onnxruntime
python3 - "$D" "$T" <<'PYEOF'
import array, gzip, os, sys
d, t = sys.argv[1], sys.argv[2]
def read(name):  # the fixture writes the test split gzipped or plain
    p = os.path.join(d, name)
    return gzip.open(p + ".gz").read() if os.path.exists(p + ".gz") else open(p, "rb").read()
x = read("t10k-images-idx3-ubyte")[16:]
array.array("f", (b / 255 for b in x)).tofile(open(os.path.join(t, "pix.f32"), "wb"))
open(os.path.join(t, "lab.u8"), "wb").write(read("t10k-labels-idx1-ubyte")[8:])
PYEOF
N=$(stat -c %s "$T/lab.u8")

check_model() { # NAME FILE.st FILE.onnx
    local name=$1 st=$2 onnx=$3
    expect 0 "$name: export --checkpoint --onnx" "$BIN" export --checkpoint "$st" --onnx "$T/e.onnx"
    cmp -s "$T/e.onnx" "$onnx" && ok "  identical to train's --save-onnx" || bad "  export differs from --save-onnx"
    $PY "$HERE/onnx_check.py" "$T/e.onnx" 1 28 28 10 > "$T/chk" 2>&1; local rc=$?
    if [ $rc = 77 ]; then cat "$T/chk"
    elif [ $rc = 0 ]; then ok "  $(cat "$T/chk")"; else bad "  onnx.checker: $(tail -3 "$T/chk")"; fi
    expect 0 "  eval of it" "$BIN" eval --checkpoint "$st" --data "$D"
    local acc; acc=$(grep -o 'Test Accuracy: [0-9.]*' "$T/err" | grep -o '[0-9.]*$')
    if command -v node >/dev/null; then
        node "$HERE/js/onnx_run.js" "$T/e.onnx" "$T/pix.f32" - "$N" 1 28 28 10 0 "$T/lab.u8" > "$T/chk" 2>&1; rc=$?
        if [ $rc = 77 ]; then cat "$T/chk"
        elif [ $rc = 0 ] && grep -q "accuracy ${acc}%" "$T/chk"; then ok "  onnxruntime: $(cat "$T/chk") = eval's ${acc}%"
        else bad "  onnxruntime accuracy differs from eval's ${acc}%: $(cat "$T/chk")"; fi
    else
        echo "skip - node is not installed (Debian: nodejs)"
    fi
}

SPEC="conv:6:5:same,bn,relu,maxpool,conv:8:3,relu,maxpool,dropout:0.25,flatten,linear:24,bn,relu,linear:10"
for m in fastcnn "$SPEC"; do
    expect 0 "train --model $m --save-onnx" "$BIN" --data "$D" --model "$m" --epochs 1 --batch-size 32 --no-grid \
        --json --save "$T/m.st" --save-onnx "$T/m.onnx"
    grep -q '"event":"onnx".*"input":"\[N,1,28,28\]","output":"\[N,10\]"' "$T/out" && ok "  onnx event with the shapes" \
        || bad "  no onnx event: $(grep onnx "$T/out")"
    check_model "$m" "$T/m.st" "$T/m.onnx"
done
expect 0 "the mlp with --dropout --save-onnx" "$BIN" --data "$D" --hidden 32 --dropout 0.3 --epochs 1 --no-grid \
    --save "$T/m.st" --save-onnx "$T/m.onnx"
check_model "mlp with dropout" "$T/m.st" "$T/m.onnx"
expect 0 "--seeds writes --save-onnx (the first seed's model)" "$BIN" --data "$D" --model fastcnn --epochs 1 \
    --seeds 1,2 --no-grid --save "$T/s.st" --save-onnx "$T/s.onnx"
check_model "--seeds" "$T/s.st" "$T/s.onnx"
expect 4 "--save-onnx to an unwritable path" "$BIN" --data "$D" --model fastcnn --epochs 1 --no-grid \
    --save-onnx "$T/no/such/x.onnx"
err_has "no/such/x.onnx"
finish
