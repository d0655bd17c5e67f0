#!/usr/bin/env bash
# The pictures of `train` from the command line: every picture
# option on the fixture, the PNGs decoded (tests/png_decode.py) and checked by
# pngcheck, the confusion table and event, clamping, --no-grid, and an
# unwritable path (exit 4 after the results).  Runs inside a temp dir, so the
# default predictions.png never lands in the repository.
# Usage: MT_BIN=/path/to/mnist-train bash tests/test_viz_cli.sh
. "$(dirname "$0")/lib.sh" viz
# run CODE "description" DIR args...: runs the binary in DIR (stdout $T/out, stderr $T/err)
run() {
    local code=$1 desc=$2 dir=$3; shift 3
    mkdir -p "$dir"
    (cd "$dir" && "$BIN" "$@") >"$T/out" 2>"$T/err"; local rc=$?
    if [ "$rc" = "$code" ]; then ok "$desc (exit $rc)"; else bad "$desc: exit $rc, wanted $code; stderr: $(tail -3 "$T/err")"; fi
}
# png [--header] FILE W H: decodes FILE and checks its size (W or H may be '-' for any)
png() {
    local hdr=; [ "$1" = --header ] && { hdr=--header; shift; }
    local got; got=$(python3 "$HERE/png_decode.py" $hdr "$1" | head -1)
    local w=${got% *} h=${got#* }
    if [ -z "$got" ] || { [ "$2" != - ] && [ "$w" != "$2" ]; } || { [ "$3" != - ] && [ "$h" != "$3" ]; }; then
        bad "  $(basename "$1") decodes as '$got', wanted $2 x $3"
    else ok "  $(basename "$1") decodes, ${w}x${h}"; fi
    if [ -n "$PNGCHECK" ]; then
        pngcheck -q "$1" >/dev/null && ok "  pngcheck $(basename "$1")" || bad "  pngcheck $(basename "$1"): $(pngcheck "$1")"
    fi
}
# colour FILE R,G,B MIN: at least MIN pixels of exactly that colour
colour() {
    local c; c=$(python3 "$HERE/png_decode.py" "$1" "$2" | sed -n 2p)
    [ "${c:-0}" -ge "$3" ] && ok "  $(basename "$1") has $c pixels of ($2)" || bad "  $(basename "$1"): ${c:-0} pixels of ($2), wanted >= $3"
}
# event KIND: the first JSON event of that kind in $T/out, as JSON text
event() { python3 -c 'import json,sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["event"] == sys.argv[2]: print(json.dumps(e)); break' "$T/out" "$1"; }

PNGCHECK=$(command -v pngcheck || true)
[ -n "$PNGCHECK" ] || echo "skip - pngcheck is not installed (Debian: pngcheck); PNGs are only decoded"

python3 "$HERE/make_fixture.py" "$T/d" >/dev/null
D="$T/d"
GREEN=0,160,0 RED=220,0,0

# --- every picture option; a small --lr keeps the model weak so there are mistakes
run 0 "all pictures, --curves evaluates every epoch" "$T/all" --data "$D" --epochs 2 --lr 0.0001 --log-interval 0 \
    --classes 4 --grid g.png --grid-count 12 --grid-cols 4 --grid-scale 3 \
    --mistakes m.png --confusion c.png --curves cu.png --json
for f in g m c cu; do [ -s "$T/all/$f.png" ] || bad "  $f.png not written"; done
ls "$T/all" | grep -q '^\.' && bad "  temporary files left: $(ls -A "$T/all")" || ok "  no temporary files left"
python3 - "$T/out" > "$T/sizes" <<'PY' || bad "  JSON events wrong: $(cat "$T/sizes")"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
ep = [e for e in ev if e["event"] == "epoch"]
assert len(ep) == 2, ep
assert all(0 <= e["test_accuracy"] <= 1 and e["test_loss"] > 0 for e in ep), ep
test = [e for e in ev if e["event"] == "test"][0]
c = [e for e in ev if e["event"] == "confusion"][0]
m = c["matrix"]
assert c["classes"] == ["0", "1", "2", "3"] and len(m) == 4 and all(len(r) == 4 for r in m), c
assert sum(map(sum, m)) == test["total"] and sum(m[i][i] for i in range(4)) == test["correct"], (c, test)
pics = {e["kind"]: e for e in ev if e["event"] == "picture"}
assert sorted(pics) == ["confusion", "curves", "grid", "mistakes"], pics
g = pics["grid"]
assert (g["cells"], g["columns"], g["rows"], g["scale"], g["path"]) == (12, 4, 3, 3, "g.png"), g
assert pics["mistakes"]["cells"] == min(12, test["total"] - test["correct"]) > 0, (pics, test)
assert ep[-1]["test_accuracy"] == test["accuracy"] and ep[-1]["test_loss"] == test["loss"], (ep, test)
assert [e["event"] for e in ev].index("test") < [e["event"] for e in ev].index("picture")
for k in ("grid", "mistakes", "confusion", "curves"):
    print(k, pics[k]["width"], pics[k]["height"])
PY
[ -s "$T/sizes" ] && ok "  events: epochs with test loss/accuracy, confusion sums to the test totals, 4 pictures"
while read -r kind w h; do
    case $kind in grid) f=g ;; mistakes) f=m ;; confusion) f=c ;; curves) f=cu ;; esac
    png "$T/all/$f.png" "$w" "$h"
done < "$T/sizes"
colour "$T/all/g.png" $GREEN 100
colour "$T/all/m.png" $RED 100
python3 "$HERE/png_decode.py" "$T/all/m.png" $GREEN | sed -n 2p | grep -qx 0 && ok "  mistakes grid has no green frame" || bad "  green in the mistakes grid"
colour "$T/all/cu.png" 31,119,180 50     # train curve (MT_VIZ_TRAIN_RGB)
colour "$T/all/cu.png" 230,110,0 50      # test curve (MT_VIZ_TEST_RGB)

# --- the confusion table on stderr: a header and one aligned row per class
run 0 "confusion table on stderr" "$T/tab" --data "$D" --epochs 1 --classes 4 --log-interval 0 --no-grid
if python3 - "$T/err" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines()
i = [k for k, l in enumerate(lines) if l.startswith("Confusion matrix")][0]
head, rows = lines[i + 1], lines[i + 2:i + 6]
assert head.split() == ["true\\pred", "0", "1", "2", "3"], head
assert [r.split()[0] for r in rows] == ["0", "1", "2", "3"], rows
assert len({len(r) for r in rows + [head]}) == 1, "rows not aligned"
assert sum(int(x) for r in rows for x in r.split()[1:]) == 200
PY
then ok "  table: header, 4 aligned rows summing to 200"; else bad "  table wrong: $(grep -A5 Confusion "$T/err")"; fi
grep -q '^Test Loss: ' "$T/err" && ! grep -q 'Test Loss: .*Epoch' "$T/err" && ok "  no per-epoch test without --curves" || bad "  test lines"
grep -q 'Epoch 1 finished. Average Loss: [0-9.]* ([^)]*)$' "$T/err" && ok "  epoch line unchanged without --curves" || bad "  epoch line: $(grep finished "$T/err")"

# --- the default file name, in the current directory
run 0 "default grid is predictions.png in the cwd" "$T/def" --data "$D" --epochs 1 --classes 4 --log-interval 0
[ -s "$T/def/predictions.png" ] && ok "  predictions.png written" || bad "  no predictions.png: $(ls -A "$T/def")"
png "$T/def/predictions.png" - -
grep -q '^Wrote predictions.png (64 test images' "$T/err" && ok "  'Wrote' line" || bad "  no 'Wrote' line: $(tail -2 "$T/err")"

# --- --grid-count larger than the test set clamps
run 0 "--grid-count 10000 on 200 test images" "$T/clamp" --data "$D" --epochs 1 --classes 4 --log-interval 0 \
    --grid-count 10000 --grid all.png --json
[ "$(event picture | python3 -c 'import json,sys; print(json.load(sys.stdin)["cells"])')" = 200 ] \
    && ok "  200 cells" || bad "  cells: $(event picture)"
png "$T/clamp/all.png" - -

# --- --no-grid (and "grid": "" / grid_enabled false in a config) writes nothing
run 0 "--no-grid" "$T/none1" --data "$D" --epochs 1 --classes 4 --log-interval 0 --no-grid
[ -z "$(ls -A "$T/none1")" ] && ok "  nothing written" || bad "  files written: $(ls -A "$T/none1")"
grep -q '^Wrote' "$T/err" && bad "  says Wrote" || ok "  no 'Wrote' line"
echo '{"pictures": {"grid": ""}}' > "$T/nogrid.json"
run 0 "config pictures.grid \"\"" "$T/none2" --data "$D" --epochs 1 --classes 4 --log-interval 0 --config "$T/nogrid.json"
[ -z "$(ls -A "$T/none2")" ] && ok "  nothing written" || bad "  files written: $(ls -A "$T/none2")"
echo '{"pictures": {"grid_enabled": false, "grid": "x.png"}}' > "$T/off.json"
run 0 "config pictures.grid_enabled false" "$T/none3" --data "$D" --epochs 1 --classes 4 --log-interval 0 --config "$T/off.json"
[ -z "$(ls -A "$T/none3")" ] && ok "  nothing written" || bad "  files written: $(ls -A "$T/none3")"
run 0 "--print-config shows the pictures group" "$T/pc" --print-config --grid-count 9
python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["pictures"]; assert p["grid"]=="predictions.png" and p["grid_count"]==9 and p["grid_enabled"] and p["curves"]=="", p' "$T/out" \
    && ok "  pictures.grid, grid_count, grid_enabled, curves" || bad "  print-config: $(cat "$T/out")"
run 2 "--grid-scale 0 is a usage error" "$T/u" --grid-scale 0
grep -q -- '--grid-scale' "$T/err" && ok "  names --grid-scale" || bad "  message: $(cat "$T/err")"

# --- an unwritable path: results first, one error line naming the file, exit 4,
#     and the other pictures still written
touch "$T/afile"
run 4 "unwritable --grid" "$T/unw" --data "$D" --epochs 1 --classes 4 --log-interval 0 \
    --grid "$T/afile/p.png" --confusion c.png --json
grep -q '^Test Loss: .*Test Accuracy: ' "$T/err" && ok "  test line still printed" || bad "  no test line: $(cat "$T/err")"
[ "$(grep -c '^mnist-train: ' "$T/err")" = 1 ] && grep '^mnist-train: ' "$T/err" | grep -qF "$T/afile/p.png" \
    && ok "  one error line naming the file" || bad "  error lines: $(grep '^mnist-train: ' "$T/err")"
[ -s "$T/unw/c.png" ] && ok "  the confusion PNG is still written" || bad "  c.png missing"
python3 -c 'import json,sys
ev = [json.loads(l) for l in open(sys.argv[1])]
k = [e["event"] for e in ev]
assert k.index("test") < k.index("error"), k
err = [e for e in ev if e["event"] == "error"][0]
assert err["exit_code"] == 4, err' "$T/out" && ok "  JSON: test event, then an error event with exit_code 4" || bad "  JSON: $(cat "$T/out")"
run 4 "unwritable --curves" "$T/unw2" --data "$D" --epochs 1 --classes 4 --log-interval 0 --no-grid \
    --curves /nonexistent-dir/cu.png
grep -q '^Test Loss: ' "$T/err" && grep -q '^mnist-train: /nonexistent-dir/cu.png' "$T/err" \
    && ok "  test line, then the error naming the file" || bad "  stderr: $(cat "$T/err")"

# --- real data, where available: the whole MNIST test set in one grid; class names
if [ -n "${MNIST_DATA:-}" ] && [ -d "$MNIST_DATA" ]; then
    run 0 "real MNIST: --grid-count 10000" "$T/real" --config "$HERE/../configs/smoke.json" --data "$MNIST_DATA" \
        --test-limit 0 --log-interval 0 --grid-count 10000 --grid all.png --json
    ev=$(event picture)
    python3 -c 'import json,sys; e=json.loads(sys.argv[1]); assert (e["cells"], e["columns"], e["rows"], e["scale"]) == (10000, 100, 100, 1), e' "$ev" \
        && ok "  10000 cells, 100 x 100, scale lowered to 1" || bad "  event: $ev"
    grep -q 'scale lowered from 4 to 1' "$T/err" && ok "  says the scale was lowered" || bad "  $(grep Wrote "$T/err")"
    png --header "$T/real/all.png" "$(echo "$ev" | python3 -c 'import json,sys; print(json.load(sys.stdin)["width"])')" \
        "$(echo "$ev" | python3 -c 'import json,sys; print(json.load(sys.stdin)["height"])')"
else
    echo "skip - real MNIST grid: MNIST_DATA is not set"
fi
FASHION=${FASHION_MNIST_DATA:-/usr/share/datasets/fashion-mnist}
if [ -d "$FASHION" ]; then
    run 0 "Fashion-MNIST: class names" "$T/fashion" --data "$FASHION" --dataset fashion-mnist --train-limit 1000 \
        --test-limit 100 --epochs 1 --log-interval 0 --grid-count 8 --json
    event confusion | grep -qF '"classes": ["T-shirt/top", "Trouser", "Pullover"' && ok "  confusion event has class names" \
        || bad "  confusion event: $(event confusion)"
    grep -q '^9 Ankle boot ' "$T/err" && ok "  table rows are named" || bad "  table: $(grep -A11 Confusion "$T/err")"
    png "$T/fashion/predictions.png" - -
else
    echo "skip - Fashion-MNIST names: no $FASHION (set FASHION_MNIST_DATA)"
fi

finish
