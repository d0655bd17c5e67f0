#!/usr/bin/env bash
# Long fuzzing runs (not part of any make target): every harness in
# BUILD_DIR, all at once at the lowest priority, for SECONDS each, in fork
# mode so a finding is saved (OUT/<harness>/crash-*, oom-*, timeout-*) and the
# run goes on.  The corpus grows in OUT/<harness>/corpus (seeded from the
# generated seeds); the log is OUT/<harness>.log.
# usage: long.sh BUILD_DIR OUT SECONDS [harness...]
set -u
B=$1 OUT=$2 SECS=$3
shift 3
names=${*:-$(cd "$B" && for f in fuzz_*; do [ -x "$f" ] && echo "$f"; done)}
mkdir -p "$OUT/bin"
for name in $names; do
    cp "$B/$name" "$OUT/bin/$name" # a rebuild during the run must not swap the binary
    mkdir -p "$OUT/$name/corpus"
    cp -n "$B/corpus/$name"/* "$OUT/$name/corpus/" 2>/dev/null
    ( cd "$OUT/$name" && nice -n 19 "../bin/$name" -fork=1 -ignore_crashes=1 -ignore_ooms=1 \
        -ignore_timeouts=1 -max_total_time="$SECS" -max_len=8192 -rss_limit_mb=2200 \
        -malloc_limit_mb=1024 -timeout=20 -print_final_stats=1 corpus >"../$name.log" 2>&1 ) &
done
wait
