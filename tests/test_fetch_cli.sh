#!/usr/bin/env bash
# `mnist-train fetch` and the automatic download before training, end to end
# and without internet: tests/fetch_server.py on 127.0.0.1 plays the mirrors.
# Generated files are served with their sizes/CRCs injected through
# MNIST_TRAIN_TEST_SPEC (a test-only hook, README "Tests"); where MNIST_DATA
# is set, the real MNIST files are also served and checked against the real
# known values, and Debian's Fashion-MNIST copy is verified when installed.
# Usage: MT_BIN=/path/to/mnist-train bash tests/test_fetch_cli.sh
. "$(dirname "$0")/lib.sh" fetch_cli
SRV_PID=
cleanup() { [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
unset MNIST_MIRROR
REAL_MNIST=${MNIST_DATA:-}
unset MNIST_DATA

one_error() {
    local k; k=$(grep -c '^mnist-train: ' "$T/err")
    [ "$k" = 1 ] && ok "  one error line" || bad "  $k error lines"
}
# no_data DIR: no file the loader could take, no .part
no_data() {
    local left; left=$(ls -A "$1" 2>/dev/null | tr '\n' ' ')
    [ -z "$left" ] && ok "  nothing left in $(basename "$1")" || bad "  left in $1: $left"
}
# start_server ROOT: sets U (base URL) and SRV_PID
start_server() {
    [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
    : > "$T/log"; rm -f "$T/port"
    python3 "$HERE/fetch_server.py" --root "$1" --log "$T/log" > "$T/port" &
    SRV_PID=$!
    for _ in $(seq 100); do grep -q PORT "$T/port" 2>/dev/null && break; sleep 0.05; done
    U=http://127.0.0.1:$(awk '/PORT/ {print $2}' "$T/port")
}
gets() { grep -c "^GET $1" "$T/log"; }

# --- the served files: a small learnable data set, all four gzipped
python3 "$HERE/make_fixture.py" "$T/src" 3000 200 8 8 4
gzip -n "$T/src/t10k-images-idx3-ubyte" "$T/src/t10k-labels-idx1-ubyte"
python3 - "$T/src" > "$T/spec" <<'PY'
import gzip, sys, zlib
for f in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
    b = gzip.open(f"{sys.argv[1]}/{f}").read()
    print(f, len(b), "%08x" % zlib.crc32(b))
PY
export MNIST_TRAIN_TEST_SPEC=$T/spec
start_server "$T/src"

# --- fetch then train on a machine with no data (./data/mnist under a fresh cwd)
mkdir -p "$T/home"; cd "$T/home"
expect 0 "fetch from a local mirror into ./data/mnist" "$BIN" fetch --mirror "$U/ok/" --json
python3 - "$T/out" <<'PY' && ok "  four download events, status downloaded" || bad "  download events: $(cat "$T/out")"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
d = [e for e in ev if e["event"] == "download"]
assert len(d) == 4 and all(e["status"] == "downloaded" and e["bytes"] > 0 and e["url"].startswith("http") for e in d), d
assert ev[-1]["event"] == "fetch" and ev[-1]["downloaded"] == 4, ev[-1]
PY
[ "$(ls data/mnist | wc -l)" = 4 ] && ! ls data/mnist | grep -q part && ok "  four files, no .part" || bad "  data/mnist: $(ls data/mnist)"
grep -q $'\r' "$T/err" && bad "  progress bar on a non-terminal" || ok "  plain lines on a non-terminal"
grep -q 'train-images-idx3-ubyte.gz: .* verified' "$T/err" && ok "  says verified" || bad "  no verified line: $(cat "$T/err")"
expect 0 "then train --epochs 1 on it" "$BIN" --epochs 1 --no-download
grep -q 'Test Accuracy' "$T/err" && ok "  trained and tested" || bad "  no test line"
expect 0 "fetch again: nothing downloaded" "$BIN" fetch --mirror "$U/ok/" --json
[ "$(gets /ok/)" = 4 ] && ok "  no new requests" || bad "  $(gets /ok/) requests in all"
grep -c '"status":"present"' "$T/out" | grep -q '^4$' && ok "  four 'present' events" || bad "  events: $(cat "$T/out")"

# --- fetch --verify
expect 0 "fetch --verify on good files" "$BIN" fetch --verify --data "$T/home/data/mnist" --json
[ "$(grep -c '"event":"verify","dataset":"mnist","file":"[a-z0-9-]*.gz","ok":true' "$T/out")" = 4 ] && ok "  four verify events, ok" || bad "  verify events: $(cat "$T/out")"
cp -r "$T/home/data/mnist" "$T/vbad"
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2]^=0x55; open(p,"wb").write(b)' "$T/vbad/t10k-images-idx3-ubyte.gz"
expect 3 "fetch --verify on a corrupted file" "$BIN" fetch --verify --data "$T/vbad"; err_has "t10k-images-idx3-ubyte.gz"; one_error
rm "$T/vbad/train-labels-idx1-ubyte.gz"
expect 3 "fetch --verify with a missing file" "$BIN" fetch --verify --data "$T/vbad"
grep -q 'train-labels-idx1-ubyte.gz: missing' "$T/err" && ok "  names the missing file" || bad "  $(cat "$T/err")"
expect 0 "fetch repairs it" "$BIN" fetch --data "$T/vbad" --mirror "$U/ok/"
grep -q 'present but invalid' "$T/err" && ok "  the bad file was replaced" || bad "  $(cat "$T/err")"
expect 0 "  and then verifies" "$BIN" fetch --verify --data "$T/vbad"

# --- a corrupted download is rejected and leaves nothing (exit 5)
expect 5 "corrupt mirror" "$BIN" fetch --data "$T/d_corrupt" --mirror "$U/corrupt/"
err_has "cannot download train-images-idx3-ubyte.gz"; one_error; no_data "$T/d_corrupt"
expect 5 "HTML page served as .gz" "$BIN" fetch --data "$T/d_html" --mirror "$U/html/"
err_has "not a gzip file"; no_data "$T/d_html"

# --- 404 on the first mirror: the second is used (--mirror and MNIST_MIRROR)
: > "$T/log"
expect 0 "404 then a good mirror (--mirror twice)" "$BIN" fetch --data "$T/d_404" --mirror "$U/404/" --mirror "$U/ok/"
[ "$(gets /404/)" = 4 ] && [ "$(gets /ok/)" = 4 ] && ok "  each file: one 404, then the second mirror" || bad "  log: $(cat "$T/log")"
: > "$T/log"
MNIST_MIRROR="$U/404/,$U/redirect/" expect 0 "MNIST_MIRROR list, 404 then a redirect" "$BIN" fetch --data "$T/d_env"
[ "$(gets /redirect/)" = 4 ] && ok "  MNIST_MIRROR used in order" || bad "  log: $(cat "$T/log")"
MNIST_MIRROR="$U/404/" expect 0 "--mirror wins over MNIST_MIRROR" "$BIN" fetch --data "$T/d_env2" --mirror "$U/ok/"
expect 2 "a mirror that is not http(s)" "$BIN" fetch --data "$T/d_ftp" --mirror ftp://example.org/mnist/; err_has "--mirror"
expect 0 "--mirror in --print-config" "$BIN" --mirror http://a.example/x/ --mirror http://b.example/y/ --print-config
python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); assert c["data"]["mirrors"]=="http://a.example/x/,http://b.example/y/" and c["data"]["download"] is True, c["data"]' "$T/out" \
    && ok "  data.mirrors is the comma-joined list" || bad "  $(cat "$T/out")"
cp "$T/out" "$T/eff.json"
expect 0 "  and loads back" "$BIN" --config "$T/eff.json" --print-config
cmp -s "$T/out" "$T/eff.json" && ok "  round trip" || bad "  round trip differs"

# --- server down: exit 5, one line listing every mirror and the by-hand way
DOWN=http://127.0.0.1:9
expect 5 "server down (fetch)" "$BIN" fetch --data "$T/d_down" --mirror "$DOWN/a/" --mirror "$DOWN/b/"
err_has "$DOWN/a/"; err_has "$DOWN/b/"; err_has "MNIST_DATA"; err_has "ossci-datasets"; one_error; no_data "$T/d_down"
expect 5 "server down (train downloads automatically)" "$BIN" --data "$T/d_down" --mirror "$DOWN/a/" --epochs 1 --json
err_has "cannot download"; one_error
grep -q '"event":"error","kind":"network error"' "$T/out" && ok "  JSON error event" || bad "  $(cat "$T/out")"

# --- train downloads what is missing, and only that
mkdir -p "$T/d_part"; cp "$T/src/train-images-idx3-ubyte.gz" "$T/src/t10k-images-idx3-ubyte.gz" "$T/d_part/"
: > "$T/log"
expect 0 "train fetches the two missing files" "$BIN" --data "$T/d_part" --mirror "$U/ok/" --epochs 1 --json
[ "$(gets /ok/)" = 2 ] && ok "  two requests" || bad "  log: $(cat "$T/log")"
[ "$(grep -c '"event":"download"' "$T/out")" = 2 ] && ok "  two download events" || bad "  $(grep download "$T/out")"
grep -q '4 classes' "$T/err" && ok "  classes from the labels with --data" || bad "  $(grep classes "$T/err")"

# --- --no-download: exit 3 naming the file
expect 3 "--no-download with missing files" "$BIN" --data "$T/d_none" --no-download --epochs 1
err_has "$T/d_none: train-images-idx3-ubyte not found"; err_has "--no-download"; one_error
[ "$(gets /)" = 2 ] && ok "  no request" || bad "  requests: $(cat "$T/log")"

# --- killed midway: no usable-looking file; the rerun succeeds (resume or restart)
for sig in KILL TERM; do
    d=$T/d_kill_$sig
    "$BIN" fetch --data "$d" --mirror "$U/slow/" >/dev/null 2>"$T/err" &
    pid=$!
    for _ in $(seq 100); do [ -s "$d/train-images-idx3-ubyte.gz.part" ] && break; sleep 0.05; done
    sleep 0.5; kill -s $sig $pid; { wait $pid; } 2>/dev/null; rc=$?
    want=$([ $sig = KILL ] && echo 137 || echo 143)
    [ $rc = $want ] && ok "fetch killed with SIG$sig (exit $rc)" || bad "SIG$sig: exit $rc, wanted $want"
    [ -e "$d/train-images-idx3-ubyte.gz" ] && bad "  a final-named file after SIG$sig" || ok "  no final-named file"
    if [ $sig = TERM ]; then
        [ -e "$d/train-images-idx3-ubyte.gz.part" ] && bad "  .part left after SIGTERM" || ok "  .part removed after SIGTERM"
    fi
    : > "$T/log"
    expect 0 "  rerun succeeds" "$BIN" fetch --data "$d" --mirror "$U/ok/"
    if [ $sig = KILL ]; then
        grep -q '^GET /ok/train-images-idx3-ubyte.gz bytes=[1-9]' "$T/log" && ok "  resumed with a Range request" || bad "  no Range: $(cat "$T/log")"
    fi
    expect 0 "  and verifies" "$BIN" fetch --verify --data "$d"
done

# --- a progress bar when asked (a terminal would get it by default)
expect 0 "--progress on draws a bar" "$BIN" fetch --data "$T/d_bar" --mirror "$U/ok/" --progress on
grep -q $'\r' "$T/err" && grep -q 'kB' "$T/err" && ok "  bar with sizes" || bad "  no bar"

# --- the real MNIST files and their real known values, where available
unset MNIST_TRAIN_TEST_SPEC
if [ -n "$REAL_MNIST" ] && [ -f "$REAL_MNIST/train-images-idx3-ubyte.gz" ]; then
    start_server "$REAL_MNIST"
    expect 0 "real MNIST: fetch from a local mirror" "$BIN" fetch --data "$T/real" --mirror "$U/ok/" --json
    [ "$(grep -c '"status":"downloaded"' "$T/out")" = 4 ] && ok "  four files downloaded and verified" || bad "  $(cat "$T/out")"
    expect 0 "real MNIST: --verify the shared copy" "$BIN" fetch --verify --data "$REAL_MNIST"
    cp "$T/src/t10k-labels-idx1-ubyte.gz" "$T/real/"
    expect 3 "real MNIST: a wrong file fails --verify" "$BIN" fetch --verify --data "$T/real"; err_has "t10k-labels-idx1-ubyte.gz"
else
    echo "skip - real MNIST end to end: MNIST_DATA is not set"
fi

# --- Fashion-MNIST: Debian's copy is found before anything is downloaded
FS=/usr/share/datasets/fashion-mnist
if [ -f "$FS/train-images-idx3-ubyte.gz" ]; then
    mkdir -p "$T/home2"; cd "$T/home2"
    expect 0 "fashion-mnist: --verify Debian's copy (real known values)" "$BIN" fetch --dataset fashion-mnist --verify
    grep -q "$FS" "$T/err" && ok "  found in $FS" || bad "  $(cat "$T/err")"
    expect 0 "fashion-mnist: fetch downloads nothing" "$BIN" fetch --dataset fashion-mnist --mirror http://127.0.0.1:9/ --json
    [ "$(grep -c '"status":"present"' "$T/out")" = 4 ] && ok "  all present" || bad "  $(cat "$T/out")"
    expect 0 "fashion-mnist: train uses it (--no-download)" "$BIN" --dataset fashion-mnist --no-download --epochs 1 \
        --train-limit 2000 --test-limit 500 --mean 0.286 --std 0.353
    grep -q "from $FS" "$T/err" && ok "  trained from $FS" || bad "  $(head -2 "$T/err")"
    [ ! -e data ] && ok "  nothing written to ./data" || bad "  ./data created"
else
    echo "skip - Fashion-MNIST: $FS is not installed (Debian package dataset-fashion-mnist)"
fi

finish
