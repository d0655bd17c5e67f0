#!/usr/bin/env bash
# The model in users' hands: predict on PNG/JPEG/stdin/folders with
# --show-input and the not-sure flag, export to ONNX (onnx.checker and
# onnxruntime agree with eval), per-class metrics, and the HTML report opened
# in headless chromium.  Real-MNIST checks need $MNIST_DATA; onnxruntime and
# chromium checks skip with a message when their tools are missing.
# Usage: MT_BIN=/path/to/mnist-train [MT_TOOLS=build/rel/tests/tools] [MNIST_DATA=...] bash tests/test_users_cli.sh
. "$(dirname "$0")/lib.sh" users
ROOT=$(cd "$HERE/.." && pwd)
PY=/usr/bin/python3
TOOLS=${MT_TOOLS:-$ROOT/build/rel/tests/tools}
cd "$T" || exit 1

# --- a model: real MNIST when there (1 epoch), else a 28x28 fixture
if [ -n "${MNIST_DATA:-}" ] && [ -e "$MNIST_DATA/t10k-images-idx3-ubyte.gz" ]; then
    D=$MNIST_DATA; REAL=1
    TRAIN=(--epochs 1)
else
    echo "note - MNIST_DATA is not set: a 28x28 fixture model (predict accuracy not checked)"
    python3 "$HERE/make_fixture.py" "$T/d" 600 200 28 28 10
    D=$T/d; REAL=0
    TRAIN=(--epochs 2)
fi
expect 0 "train with --save, --save-onnx and --report" "$BIN" --data "$D" "${TRAIN[@]}" --no-grid --json \
    --save "$T/m.st" --save-onnx "$T/m.onnx" --report "$T/train.html"
cp "$T/out" "$T/train.jl"
[ -s "$T/m.onnx" ] && ok "  m.onnx written" || bad "  no m.onnx"
grep -q '"event":"onnx".*"input":"\[N,1,28,28\]"' "$T/train.jl" && ok "  onnx event with the input shape" || bad "  no onnx event"
grep -q '"event":"report"' "$T/train.jl" && ok "  report event" || bad "  no report event"

# --- per-class metrics: the event matches the confusion event, by hand
$PY - "$T/train.jl" <<'PYEOF' && ok "  metrics event = precision/recall/F1 of the confusion matrix" || bad "  metrics event wrong"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
conf = next(e for e in ev if e["event"] == "confusion")["matrix"]
met = next(e for e in ev if e["event"] == "metrics")
K = len(conf)
ps, rs, fs = [], [], []
for k in range(K):
    tp = conf[k][k]; col = sum(conf[t][k] for t in range(K)); row = sum(conf[k])
    p = tp / col if col else 0.0; r = tp / row if row else 0.0; f = 2 * p * r / (p + r) if p + r else 0.0
    m = met["per_class"][k]
    assert m["class"] == k and m["support"] == row, m
    assert abs(m["precision"] - p) < 1e-5 and abs(m["recall"] - r) < 1e-5 and abs(m["f1"] - f) < 1e-5, (m, p, r, f)
    if row or col: ps.append(p); rs.append(r); fs.append(f)
mac = met["macro"]
assert abs(mac["precision"] - sum(ps) / len(ps)) < 1e-5 and abs(mac["f1"] - sum(fs) / len(fs)) < 1e-5, mac
assert met["split"] == "test"
PYEOF
expect 0 "eval prints per-class metrics and writes a report" "$BIN" eval --checkpoint "$T/m.st" --data "$D" --report "$T/eval.html"
grep -q "Per-class metrics" "$T/err" && grep -q "macro avg" "$T/err" && ok "  per-class table on stderr" || bad "  no per-class table: $(tail -3 "$T/err")"
EVAL_ACC=$(grep -o 'Test Accuracy: [0-9.]*' "$T/err" | grep -o '[0-9.]*$')
expect 0 "eval --json has the metrics event" "$BIN" eval --checkpoint "$T/m.st" --data "$D" --json
grep -q '"event":"metrics","split":"test","per_class":\[{"class":0' "$T/out" && ok "  metrics event" || bad "  no metrics event"

# --- the reports in a real browser
for r in train eval; do
    grep -q 'data:image/png;base64,' "$T/$r.html" && ! grep -q '<script' "$T/$r.html" && ! grep -qE 'src="https?:' "$T/$r.html" \
        && ok "  $r.html is self-contained" || bad "  $r.html loads something"
    if command -v node >/dev/null; then
        ids="summary predictions mistakes confusion-heatmap confusion metrics timing config"
        [ $r = train ] && ids="$ids curves"
        node "$HERE/js/report_check.js" "$T/$r.html" $ids > "$T/chk" 2>&1; rc=$?
        if [ $rc = 77 ]; then cat "$T/chk"
        elif [ $rc = 0 ]; then ok "  $r report loads in chromium: $(head -1 "$T/chk")"
        else bad "  $r report in chromium: $(cat "$T/chk")"; fi
    else
        echo "skip - node is not installed (Debian: nodejs)"
    fi
done
expect 4 "an unwritable --report is exit 4" "$BIN" eval --checkpoint "$T/m.st" --data "$D" --report "$T/no/such/r.html"
err_has "no/such/r.html"

# --- export: the same file as --save-onnx; checker and onnxruntime agree with eval
expect 0 "export --checkpoint --onnx" "$BIN" export --checkpoint "$T/m.st" --onnx "$T/e.onnx"
cmp -s "$T/e.onnx" "$T/m.onnx" && ok "  identical to train's --save-onnx" || bad "  export differs from --save-onnx"
expect 2 "export without --onnx" "$BIN" export --checkpoint "$T/m.st"; err_has "--onnx FILE is required"
expect 2 "export rejects training options" "$BIN" export --checkpoint "$T/m.st" --onnx x.onnx --epochs 3; err_has "--epochs"
expect 3 "export of a non-checkpoint" "$BIN" export --checkpoint "$T/m.onnx" --onnx x.onnx
expect 4 "export to an unwritable path" "$BIN" export --checkpoint "$T/m.st" --onnx "$T/no/such/x.onnx"
$PY "$HERE/onnx_check.py" "$T/e.onnx" 1 28 28 10 > "$T/chk" 2>&1; rc=$?
if [ $rc = 77 ]; then cat "$T/chk"
elif [ $rc = 0 ]; then ok "  $(cat "$T/chk")"; else bad "  onnx.checker: $(tail -3 "$T/chk")"; fi
if command -v node >/dev/null; then
    # the test set as raw pixels in [0,1] and labels; onnxruntime's accuracy must be eval's
    $PY - "$D" "$T" <<'PYEOF'
import gzip, os, struct, sys
import numpy as np
d, t = sys.argv[1], sys.argv[2]
op = lambda p: gzip.open(p) if p.endswith(".gz") else open(p, "rb")
im = next(os.path.join(d, f) for f in ("t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte") if os.path.exists(os.path.join(d, f)))
lb = im.replace("images-idx3", "labels-idx1")
x = np.frombuffer(op(im).read(), np.uint8, offset=16)
(x.astype(np.float32) / 255).tofile(os.path.join(t, "pix.f32"))
open(os.path.join(t, "lab.u8"), "wb").write(op(lb).read()[8:])
PYEOF
    N=$(( $(stat -c %s "$T/lab.u8") ))
    node "$HERE/js/onnx_run.js" "$T/e.onnx" "$T/pix.f32" - "$N" 1 28 28 10 0 "$T/lab.u8" > "$T/chk" 2>&1; rc=$?
    if [ $rc = 77 ]; then cat "$T/chk"
    elif [ $rc = 0 ] && grep -q "accuracy ${EVAL_ACC}%" "$T/chk"; then ok "  onnxruntime: $(cat "$T/chk") = eval's ${EVAL_ACC}%"
    else bad "  onnxruntime accuracy differs from eval's ${EVAL_ACC}%: $(cat "$T/chk")"; fi
    # a layer-list model (conv, batch norm, max-pool, dropout): --save-onnx and export, same accuracy
    expect 0 "train a layer-list model with --save-onnx" "$BIN" --data "$D" --train-limit 2000 --epochs 1 --no-grid \
        --model conv:4:3:same,bn,relu,maxpool,dropout:0.2,flatten,linear:10 --save "$T/c.st" --save-onnx "$T/c.onnx"
    expect 0 "eval it" "$BIN" eval --checkpoint "$T/c.st" --data "$D"
    C_ACC=$(grep -o 'Test Accuracy: [0-9.]*' "$T/err" | grep -o '[0-9.]*$')
    expect 0 "export it" "$BIN" export --checkpoint "$T/c.st" --onnx "$T/c2.onnx"
    cmp -s "$T/c.onnx" "$T/c2.onnx" && ok "  identical to --save-onnx" || bad "  export differs from --save-onnx"
    node "$HERE/js/onnx_run.js" "$T/c.onnx" "$T/pix.f32" - "$N" 1 28 28 10 0 "$T/lab.u8" > "$T/chk" 2>&1; rc=$?
    if [ $rc = 77 ]; then cat "$T/chk"
    elif [ $rc = 0 ] && grep -q "accuracy ${C_ACC}%" "$T/chk"; then ok "  onnxruntime: $(cat "$T/chk") = eval's ${C_ACC}%"
    else bad "  onnxruntime accuracy of the layer-list model differs from eval's ${C_ACC}%: $(cat "$T/chk")"; fi
else
    echo "skip - node is not installed (Debian: nodejs)"
fi

# --- predict: every kind of file, stdin, folders, --show-input, not sure
mkdir -p "$T/pics"
if [ $REAL = 1 ]; then
    $PY "$HERE/make_user_digits.py" "$MNIST_DATA" "$T/pics" 80 3 3000 || bad "make_user_digits.py failed"
else
    python3 "$HERE/make_digits.py" "$T/pics" 0 && python3 "$HERE/make_digits.py" "$T/pics" 1
fi
if [ -x "$TOOLS/mkjpeg" ]; then
    for f in $(ls "$T/pics" | grep -E '_(jpeg|wob|rgb)\.png$'); do
        "$TOOLS/mkjpeg" 75 "$T/pics/$f" "$T/pics/${f%.png}.jpg" && rm "$T/pics/$f"
    done
    first=$(ls "$T/pics" | grep '\.png$' | head -1)
    "$TOOLS/mkjpeg" 90 "$T/pics/$first" "$T/misnamed.png"
    expect 0 "predict a JPEG named .png (sniffed by content)" "$BIN" predict --checkpoint "$T/m.st" "$T/misnamed.png"
else
    bad "no mkjpeg tool in $TOOLS (make check builds it)"
fi
first=$(ls "$T/pics" | head -1)
n_pics=$(ls "$T/pics" | wc -l)
echo "not a picture" > "$T/pics/notes.txt"
expect 0 "predict a folder ($n_pics pictures and a text file)" "$BIN" predict --checkpoint "$T/m.st" --json "$T/pics"
$PY - "$T/out" "$n_pics" "$REAL" <<'PYEOF' && ok "  one answer per picture, in name order, JPEG included; right answers checked with real MNIST" || bad "  folder answers wrong"
import json, os, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
n, real = int(sys.argv[2]), sys.argv[3] == "1"
files = [e["file"] for e in ev]
assert len(ev) == n and files == sorted(files), files
assert any(f.endswith(".jpg") for f in files)
assert all(e["event"] == "predict" and "confident" in e and "components" in e for e in ev)
if real:
    right = sum(e["class"] == int(os.path.basename(e["file"])[0]) for e in ev)
    print(f"  user-style pictures: {right}/{n} right")
    assert right >= 0.85 * n, right  # a 1-epoch model; docs/predict.md has the 5-epoch numbers
PYEOF
rm "$T/pics/notes.txt"
expect 0 "predict - (stdin)" sh -c "'$BIN' predict --checkpoint '$T/m.st' - < '$T/pics/$first'"
grep -q '^-: ' "$T/out" && ok "  answer for '-'" || bad "  no answer for -: $(cat "$T/out")"
expect 2 "predict - twice" "$BIN" predict --checkpoint "$T/m.st" - -
expect 0 "--show-input FILE" "$BIN" predict --checkpoint "$T/m.st" --show-input "$T/in.png" "$T/pics/$first"
$PY "$HERE/png_decode.py" "$T/in.png" > "$T/dec" 2>&1 && grep -q "224 224" "$T/dec" && ok "  224x224 picture of the input" \
    || bad "  --show-input picture: $(head -2 "$T/dec")"
expect 0 "--show-input DIR/ (created)" "$BIN" predict --checkpoint "$T/m.st" --show-input "$T/shown/" "$T/pics"
[ "$(ls "$T/shown" | grep -c -- '-input\.png$')" = "$n_pics" ] && ok "  one input picture per file" || bad "  shown: $(ls "$T/shown" | head -3)"
expect 2 "--show-input FILE with several pictures" "$BIN" predict --checkpoint "$T/m.st" --show-input "$T/x.png" "$T/pics"
err_has "give a folder"
expect 0 "--min-confidence 1 marks every answer not sure" "$BIN" predict --checkpoint "$T/m.st" --min-confidence 1 "$T/pics/$first"
grep -q "not sure: top probability below 100%" "$T/out" && ok "  'not sure' note" || bad "  no note: $(cat "$T/out")"
# two digits side by side: no single clear component
$PY - "$T/two.png" <<'PYEOF'
import struct, sys, zlib
w, h = 160, 80
def ring(x, y, cx):
    d = ((x - cx) / 22) ** 2 + ((y - 40) / 30) ** 2
    return 0.55 <= d <= 1.0
rows = [bytes(255 if ring(x, y, 40) or ring(x, y, 120) else 0 for x in range(w)) for y in range(h)]
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    + chunk(b"IDAT", zlib.compress(b"".join(b"\0" + r for r in rows))) + chunk(b"IEND", b""))
PYEOF
expect 0 "two digits in one picture" "$BIN" predict --checkpoint "$T/m.st" --json "$T/two.png"
grep -q '"confident":false,"unsure":\[[^]]*"components"' "$T/out" && ok "  flagged: several components" || bad "  not flagged: $(cat "$T/out")"
expect 3 "predict a safetensors file as a picture" "$BIN" predict --checkpoint "$T/m.st" "$T/m.st"
err_has "not a PNG or JPEG image"
mkdir -p "$T/empty"
expect 3 "predict an empty folder" "$BIN" predict --checkpoint "$T/m.st" "$T/empty"; err_has "no PNG or JPEG pictures"
finish
