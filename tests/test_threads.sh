#!/usr/bin/env bash
# Issue 3 at the command line: --threads 1, 2 and 3 give the same losses and
# test results (as printed: 6 significant digits; tests/test_engine.c
# compares losses and weights bit for bit), for both first-layer paths; --isa refuses an
# ISA the CPU or build lacks (exit 2); --version names the kernels and path.
# Usage: MT_BIN=/path/to/mnist-train bash tests/test_threads.sh
. "$(dirname "$0")/lib.sh" thr

python3 "$HERE/make_fixture.py" "$T/d" 600 200 28 28 10 >/dev/null 2>&1 \
    || { echo "FAIL - make_fixture.py"; exit 1; }
for path in dense sparse auto; do
    for th in 1 2 3; do
        "$BIN" --data "$T/d" --epochs 2 --json --log-interval 1 --threads "$th" --first-layer "$path" \
            2>/dev/null > "$T/r$th" || bad "run --threads $th --first-layer $path failed"
    done
    python3 - "$T/r1" "$T/r2" "$T/r3" <<'PY' && ok "--first-layer $path: threads 1, 2, 3 give identical losses and test results" \
                                              || bad "--first-layer $path: results depend on --threads"
import json, sys
skip = ("seconds", "samples_per_sec", "train_seconds", "load_seconds", "threads", "config", "single_thread_steps")
runs = [[{k: v for k, v in json.loads(l).items() if k not in skip} for l in open(f)] for f in sys.argv[1:]]
assert len(runs[0]) > 5 and any(e.get("event") == "test" for e in runs[0]), runs[0][:3]
assert runs[0] == runs[1] == runs[2]
PY
done
grep -q '"first_layer":"auto"' "$T/r1" && grep -q '"threads":3' "$T/r3" \
    && ok "start event names the first-layer path and thread count" || bad "start event lacks first_layer/threads: $(grep start "$T/r3")"

"$BIN" --version > "$T/v" 2>&1
grep -q '^kernels: ' "$T/v" && grep -q '^first layer: ' "$T/v" && ok "--version names kernels and first-layer path" \
    || bad "--version: $(cat "$T/v")"
case "$(uname -m)" in
    x86_64) other=neon ;;
    *) other=avx2 ;;
esac
"$BIN" --data "$T/d" --epochs 1 --isa "$other" >/dev/null 2>"$T/err"; rc=$?
[ "$rc" = 2 ] && grep -q "isa $other" "$T/err" && ok "--isa $other refused (exit 2)" || bad "--isa $other: exit $rc, $(cat "$T/err")"
"$BIN" --data "$T/d" --epochs 1 --threads 0 --first-layer fast >/dev/null 2>"$T/err"; rc=$?
[ "$rc" = 2 ] && ok "--first-layer fast refused (exit 2)" || bad "--first-layer fast: exit $rc"

finish
