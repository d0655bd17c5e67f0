#!/usr/bin/env bash
# train --seeds: each seed's result equals a separate --seed N run (side by
# side on one thread each or one after another on two), in seed order, with
# a summary whose mean/std/min/max match the seeds' results; pictures and
# --save come from the first seed; bad lists and --resume/--save-state are
# usage errors (exit 2).
# Usage: MT_BIN=/path/to/mnist-train bash tests/test_seeds.sh
. "$(dirname "$0")/lib.sh" seeds

python3 "$HERE/make_fixture.py" "$T/d" 600 200 28 28 10 >/dev/null 2>&1 \
    || { echo "FAIL - make_fixture.py"; exit 1; }
common=(--data "$T/d" --epochs 2 --augment-shift 1 --augment-rotate 5 --json --log-interval 0 --no-grid)

for s in 4 2 7; do
    "$BIN" "${common[@]}" --seed "$s" 2>/dev/null > "$T/one$s" || bad "--seed $s failed"
done
expect 0 "--seeds 4,2,7 side by side (one thread each)" "$BIN" "${common[@]}" --seeds 4,2,7 --threads 1
cp "$T/out" "$T/par"
expect 0 "--seeds 4,2,7 one after another (two threads each)" "$BIN" "${common[@]}" --seeds 4,2,7 --threads 2
cp "$T/out" "$T/seq"
python3 - "$T/par" "$T/seq" "$T/one4" "$T/one2" "$T/one7" <<'PY' && ok "every seed's test result equals its --seed run; summary matches" \
    || bad "seed results differ from separate runs, or the summary is wrong"
import json, statistics as st, sys
def events(f, kind): return [e for e in map(json.loads, open(f)) if e["event"] == kind]
par, seq = events(sys.argv[1], "test"), events(sys.argv[2], "test")
singles = [events(f, "test")[0] for f in sys.argv[3:]]
assert [e["seed"] for e in par] == [4, 2, 7], par          # in the order given
for a, b, one in zip(par, seq, singles):
    for k in ("loss", "accuracy", "correct", "total"):
        assert a[k] == b[k] == one[k], (k, a, b, one)
summ = events(sys.argv[1], "seeds")[0]
acc = [e["accuracy"] for e in par]; loss = [e["loss"] for e in par]
assert summ["seeds"] == [4, 2, 7]
assert abs(summ["accuracy"]["mean"] - st.mean(acc)) < 1e-5, summ
assert abs(summ["accuracy"]["std"] - st.stdev(acc)) < 1e-5, summ
assert summ["accuracy"]["min"] == min(acc) and summ["accuracy"]["max"] == max(acc)
assert abs(summ["loss"]["mean"] - st.mean(loss)) < 1e-5 * max(1, st.mean(loss))
assert summ["parallel"] >= 1 and summ["threads"] == 1
assert events(sys.argv[2], "seeds")[0]["threads"] == 2
PY
grep -q '^Seed 4: Test Loss' "$T/err" && grep -q '^3 seeds: Test Accuracy: .* ± ' "$T/err" \
    && ok "a line per seed and a summary line" || bad "seed lines: $(cat "$T/err")"

# a layer-list model: every seed trains that model, not the plain MLP
net=(--data "$T/d" --epochs 1 --model conv:4:5,maxpool,relu,flatten,linear:10 --json --log-interval 0 --no-grid --threads 1)
for s in 3 8; do
    "$BIN" "${net[@]}" --seed "$s" 2>/dev/null > "$T/net$s" || bad "--model ... --seed $s failed"
done
expect 0 "--model conv... --seeds 3,8" "$BIN" "${net[@]}" --seeds 3,8
python3 - "$T/out" "$T/net3" "$T/net8" <<'PY' && ok "  each seed's result equals its --seed run" \
    || bad "  a layer-list model's seeds differ from separate runs"
import json, sys
def events(f, kind): return [e for e in map(json.loads, open(f)) if e["event"] == kind]
both = events(sys.argv[1], "test")
for a, f in zip(both, sys.argv[2:]):
    one = events(f, "test")[0]
    for k in ("loss", "accuracy", "correct"):
        assert a[k] == one[k], (k, a, one)
PY

expect 0 "--seeds 5,6 --save --grid: the first seed's model and picture" \
    "$BIN" --data "$T/d" --epochs 1 --log-interval 0 --seeds 5,6 --save "$T/s56.safetensors" --grid "$T/g.png"
"$BIN" --data "$T/d" --epochs 1 --log-interval 0 --seed 5 --save "$T/s5.safetensors" --no-grid >/dev/null 2>&1
[ -s "$T/g.png" ] && python3 - "$T/s56.safetensors" "$T/s5.safetensors" <<'PY' && ok "  saved model is seed 5's; grid written" \
    || bad "  --save/--grid with --seeds"
import json, struct, sys
def tensors(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    return {k: b[8 + n + v["data_offsets"][0]: 8 + n + v["data_offsets"][1]] for k, v in h.items() if k != "__metadata__"}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
assert a and a == b
PY

expect 2 "--seeds 5-2 refused" "$BIN" --data "$T/d" --seeds 5-2
err_has "--seeds: seed list '5-2': range 5-2 runs backwards"
expect 2 "--seeds 1,1 refused" "$BIN" --data "$T/d" --seeds 1,1
err_has "seed 1 appears twice"
expect 2 "--seeds x refused" "$BIN" --data "$T/d" --seeds x
err_lines
expect 2 "--seeds with --save-state refused" "$BIN" --data "$T/d" --seeds 1-2 --save-state "$T/st"
err_has "not with --resume or --save-state"
finish
