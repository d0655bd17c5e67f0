#!/usr/bin/env bash
# make fuzz-smoke: every harness for a fixed number of inputs from its seed
# corpus (read-only: new inputs go to a scratch folder), then every file in
# tests/fuzz/regress/<harness>/ (inputs that once failed) replayed once.
# usage: smoke.sh BUILD_DIR RUNS
set -u
B=$1 RUNS=$2
HERE=$(cd "$(dirname "$0")" && pwd)
fail=0
for h in "$B"/fuzz_*; do
    [ -x "$h" ] || continue
    name=$(basename "$h")
    scratch=$(mktemp -d "/tmp/mt_fuzz_$name.XXXXXX")
    start=$(date +%s.%N)
    runs=$RUNS
    if "$h" -runs="$runs" -seed=1 -max_len=4096 -rss_limit_mb=1024 -malloc_limit_mb=768 \
            -timeout=10 -print_final_stats=1 -artifact_prefix="$scratch/" "$scratch" "$B/corpus/$name" \
            >"$scratch.log" 2>&1; then
        cov=$(grep -o 'cov: [0-9]*' "$scratch.log" | tail -1)
        printf 'ok   - %-12s %s runs, %s, %.1f s\n' "$name" "$runs" "$cov" "$(echo "$(date +%s.%N) - $start" | bc)"
    else
        fail=1
        echo "FAIL - $name: see below"; tail -40 "$scratch.log"
    fi
    if [ -d "$HERE/regress/$name" ] && ls "$HERE/regress/$name"/* >/dev/null 2>&1; then
        if "$h" -runs=1 "$HERE/regress/$name"/* >"$scratch.log" 2>&1; then
            echo "ok   - $name regressions ($(ls "$HERE/regress/$name" | wc -l) inputs)"
        else
            fail=1; echo "FAIL - $name regression input:"; tail -40 "$scratch.log"
        fi
    fi
    rm -rf "$scratch" "$scratch.log"
done
[ $fail = 0 ] && echo "make fuzz-smoke: all harnesses passed" || { echo "make fuzz-smoke: FAILED"; exit 1; }
