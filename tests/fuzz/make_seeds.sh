#!/usr/bin/env bash
# Writes the seed corpora of the fuzz harnesses into OUT/<harness>/ from
# fixtures made here: a tiny IDX data set (tests/make_fixture.py), a model and
# a training state saved by the real binary from it (one per optimizer), the
# configs/ files, small PNGs of every colour type (make_png.py) and gzip files
# with their size and CRC for the verifier.  usage: make_seeds.sh OUT BIN
set -eu
OUT=$1 BIN=$2
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
T=$(mktemp -d /tmp/mt_seeds.XXXXXX)
trap 'rm -rf "$T"' EXIT
rm -rf "$OUT"
mkdir -p "$OUT"/{fuzz_idx,fuzz_st,fuzz_ckpt,fuzz_config,fuzz_png,fuzz_verify}

python3 "$ROOT/tests/make_fixture.py" "$T/d" 48 16 6 6 4
# fuzz_idx: first byte = mode (bit 0 images, bit 1 gzip the rest), then the file
i=0
for f in "$T"/d/*; do
    raw=$T/raw
    case $f in *.gz) gunzip -c "$f" >"$raw" ;; *) cp "$f" "$raw" ;; esac
    case $f in *images*) m=1 ;; *) m=0 ;; esac
    { printf "\\x0$m"; cat "$raw"; } >"$OUT/fuzz_idx/plain$i"
    { printf "\\x0$((m + 2))"; cat "$raw"; } >"$OUT/fuzz_idx/gz$i"
    { printf "\\x0$m"; cat "$f"; } >"$OUT/fuzz_idx/file$i"   # a .gz as the raw file
    i=$((i + 1))
done

# checkpoints: a model and states for each optimizer (tiny: 36-3-4)
for opt in adam adamw sgd; do
    "$BIN" train --data "$T/d" --hidden 3 --epochs 1 --batch-size 16 --no-grid --progress off \
        --optimizer "$opt" --save "$T/m_$opt.safetensors" --save-state "$T/s_$opt.safetensors" \
        >/dev/null 2>&1
    cp "$T/m_$opt.safetensors" "$T/s_$opt.safetensors" "$OUT/fuzz_ckpt/"
done
# the last byte of a fuzz_ckpt input picks the optimizer (0 adam, 1 adamw, 2 sgd)
{ cat "$T/s_adamw.safetensors"; printf '\x01'; } >"$OUT/fuzz_ckpt/s_adamw_kind"
{ cat "$T/s_sgd.safetensors"; printf '\x02'; } >"$OUT/fuzz_ckpt/s_sgd_kind"
cp "$OUT"/fuzz_ckpt/* "$OUT/fuzz_st/"

# configs: first byte < 0x80 = a JSON file; >= 0x80 = option (byte & 0x7f) set from the text
for f in "$ROOT"/configs/*.json; do
    { printf ' '; cat "$f"; } >"$OUT/fuzz_config/$(basename "$f")"
done
printf ' {"training":{"epochs":3,"batch_size":32},"model":{"hidden":"16,8"}}' >"$OUT/fuzz_config/small"
for v in 5 -3 1e3 0x10 " 5" 0.5 inf nan true 128,64 adam; do
    printf '\x88%s' "$v" >"$OUT/fuzz_config/opt_$(printf %s "$v" | od -An -tx1 | tr -d ' \n')"
done

python3 "$HERE/make_png.py" "$OUT/fuzz_png"

# verifier: u64 size, u32 CRC (little-endian), then the .gz
python3 - "$OUT/fuzz_verify" "$T/d" <<'PY'
import gzip, os, struct, sys, zlib
out, d = sys.argv[1], sys.argv[2]
for i, name in enumerate(sorted(os.listdir(d))):
    raw = open(os.path.join(d, name), "rb").read()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    gz = gzip.compress(raw, 9)
    open(f"{out}/ok{i}", "wb").write(struct.pack("<QI", len(raw), zlib.crc32(raw)) + gz)
    open(f"{out}/badcrc{i}", "wb").write(struct.pack("<QI", len(raw), zlib.crc32(raw) ^ 1) + gz)
open(f"{out}/html", "wb").write(struct.pack("<QI", 5, 0) + b"<html>not found</html>")
PY
echo "seeds: $(find "$OUT" -type f | wc -l) files in $OUT"
