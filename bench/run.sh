#!/usr/bin/env bash
# make bench: the numbers issue 3 asks for, as medians of several runs on this
# machine, printed as a Markdown report (copy it into the README).
#   bash bench/run.sh BIN BENCHDIR
# Env: MNIST_DATA (default /work/shared/data/mnist, else data/mnist),
#      REPS (default 3), TRAIN_REPS (default 9), BENCH_TORCH=0 to skip PyTorch, TORCH_STEPS (batches
#      per PyTorch run, default 500), BENCH_QUICK=1 for a short smoke run,
#      BENCH_TORCH_CNN=0 to skip PyTorch's CNN recipes (bench/torch_cnn.py), CNN_EPOCHS
#      (its cnn recipe's epochs, default 1), CNN_STEPS (batches per CNN run, 0 = whole
#      epochs), TORCH_FAST_SEEDS (seeds of its fastcnn runs, default 1,2,3),
#      FAST_SEEDS (seeds of configs/fast99.json runs, default 1-10).
# Not a test: it never fails on a missed target, it reports it.
set -euo pipefail
BIN=${1:?usage: run.sh BIN BENCHDIR}
BENCHDIR=${2:?usage: run.sh BIN BENCHDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
REPS=${REPS:-3}
DATA=${MNIST_DATA:-}
if [ -z "$DATA" ]; then
    for d in /work/shared/data/mnist "$HERE/../data/mnist"; do
        [ -e "$d/train-images-idx3-ubyte.gz" ] || [ -e "$d/train-images-idx3-ubyte" ] && { DATA=$d; break; }
    done
fi
[ -n "$DATA" ] || { echo "bench: no MNIST found; set MNIST_DATA" >&2; exit 1; }
PY=/usr/bin/python3
T=$(mktemp -d /tmp/mt_bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
QUICK=${BENCH_QUICK:-0}
EPOCHS_E2E=5
[ "$QUICK" = 1 ] && { REPS=1; EPOCHS_E2E=1; }

# a / b as "1.23x" (digits: 2 unless given)
ratio() { awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN{printf "%.*fx", d, a/b}'; }
# median of the numbers on stdin
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# field of the first JSON event of a kind: jget FILE EVENT KEY [nth]
jget() { "$PY" -c 'import json,sys
f,ev,key=sys.argv[1:4]; nth=int(sys.argv[4]) if len(sys.argv)>4 else 0
es=[e for e in (json.loads(l) for l in open(f) if l.startswith("{")) if e.get("event")==ev]
print(es[nth][key] if len(es)>nth else "nan")' "$@"; }

echo "# mnist-train benchmark"
echo
echo "- machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs, $(uname -sr)"
echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (shared machine: medians of $REPS runs; compare ratios within this run)"
echo "- binary: $("$BIN" --version | head -2 | tr '\n' ' ')"
echo "- data: $DATA"
echo

# ---------------------------------------------------------------- GEMMs
echo "## GEMM kernels (1 thread, best of 11 windows per run, median over $REPS runs)"
echo
for r in $(seq "$REPS"); do "$BENCHDIR/gemm" --json > "$T/gemm$r.json"; done
"$PY" - "$T"/gemm*.json <<'PY'
import json, sys, statistics as st
rows = {}
peak = {}
for f in sys.argv[1:]:
    for l in open(f):
        e = json.loads(l)
        if e["bench"] == "fma_peak":
            peak.setdefault(e["isa"], []).append(e["gflops"])
        else:
            rows.setdefault((e["isa"], e["B"], e["C"], e["OC"], e["op"]), []).append((e["us"], e["gflops"], e["pct_peak"]))
print("| ISA | FMA peak probe GFLOP/s (1 core) |")
print("|---|---|")
for isa, v in peak.items():
    if st.median(v) > 0:
        print(f"| {isa} | {st.median(v):.1f} |")
print()
print("| ISA | B,C,OC | op | µs/call | GFLOP/s | % of peak |")
print("|---|---|---|---|---|---|")
for (isa, B, C, OC, op), v in rows.items():
    if isa == "scalar" and op not in ("fwd", "bwd_w"):
        continue
    us = st.median(x[0] for x in v); gf = st.median(x[1] for x in v); pc = st.median(x[2] for x in v)
    gfs = "—" if op == "transpose" else f"{gf:.1f}"
    pcs = "—" if op == "transpose" or isa == "scalar" else f"{pc:.0f} %"
    print(f"| {isa} | {B},{C},{OC} | {op} | {us:.1f} | {gfs} | {pcs} |")
print()
print("Sparse ops are credited with the dense FLOPs they replace (81 % zero pixels).")
print()
PY

# ---------------------------------------------------------------- training
TREPS=${TRAIN_REPS:-9}; [ "$QUICK" = 1 ] && TREPS=1
echo "## Training throughput (full MNIST, batch 64, Adam; samples/s of epoch 1, median of $TREPS)"
echo
echo "The configurations take turns (repetition r of every configuration, then r+1),"
echo "so a change in the shared machine's speed hits them alike."
echo
isas=$("$BIN" --version | sed -n 's/^kernels: [a-z0-9]* (compiled: \(.*\))/\1/p' | tr ' ' '\n' | grep -v unsupported || true)
for r in $(seq "$TREPS"); do
    for isa in $isas; do
        for path in dense sparse; do
            for th in 1 2; do
                extra=()
                [ "$isa" = scalar ] && extra=(--max-steps 150)   # the reference is ~100x slower
                [ "$QUICK" = 1 ] && extra=(--max-steps 150)
                "$BIN" --data "$DATA" --epochs 1 --isa "$isa" --first-layer "$path" --threads "$th" \
                    --json --log-interval 0 "${extra[@]}" 2>/dev/null > "$T/tr.json"
                jget "$T/tr.json" epoch samples_per_sec >> "$T/sps.$isa.$path.$th"
                jget "$T/tr.json" epoch single_thread_steps >> "$T/one.$isa.$path.$th"
            done
        done
    done
done
echo "| ISA | first layer | threads | samples/s (median) | min | max | epoch s | steps on one thread (median, max) |"
echo "|---|---|---|---|---|---|---|---|"
best=0; best_cfg=""
for isa in $isas; do
    for path in dense sparse; do
        for th in 1 2; do
            f="$T/sps.$isa.$path.$th"
            sps=$(median < "$f")
            lo=$(sort -g "$f" | head -1); hi=$(sort -g "$f" | tail -1)
            solo="—"
            [ "$th" -gt 1 ] && solo="$(median < "$T/one.$isa.$path.$th"), $(sort -g "$T/one.$isa.$path.$th" | tail -1)"
            echo "| $isa | $path | $th | $(printf %.0f "$sps") | $(printf %.0f "$lo") | $(printf %.0f "$hi") | $(awk -v s="$sps" 'BEGIN{printf "%.3f", 60000/s}') | $solo |"
            echo "$isa $path $th $sps" >> "$T/train_table"
            if awk -v a="$sps" -v b="$best" 'BEGIN{exit !(a>b)}'; then best=$sps; best_cfg="$isa/$path/$th threads"; fi
        done
    done
done
echo
best_isa=$(awk -v b="$best" '$4==b {print $1; exit}' "$T/train_table")
best_path=$(awk -v b="$best" '$4==b {print $2; exit}' "$T/train_table")
# samples/s of ISA, PATH, THREADS in the training table
sps_of() { awk -v i="$1" -v p="$2" -v t="$3" '$1==i && $2==p && $3==t {print $4}' "$T/train_table"; }
one=$(sps_of "$best_isa" "$best_path" 1)
two=$(sps_of "$best_isa" "$best_path" 2)
echo "Steps on one thread: the thread-count probe's 8, plus the stretches it found one thread faster (of 938 steps; the scalar rows run 150)."
echo
echo "Best: $best_cfg, $(printf %.0f "$best") samples/s.  2 threads / 1 thread ($best_isa, $best_path): $(ratio "$two" "$one")"
echo

# ---------------------------------------------------------------- the step alone
echo "## The training step alone (\`bench/engine\`: default ISA, sparse first layer; 36 windows of 50 steps per run, median over $REPS runs)"
echo
echo "No epoch loop, start-up or thread-count probing: the step itself, steady state."
echo "A window's best is what the code can do; its median, what this machine gave."
echo
for r in $(seq "$REPS"); do
    for th in 1 2; do
        "$BENCHDIR/engine" "$DATA" "$th" sparse | sed -n 's/^train T=\([0-9]*\) sparse: best \([0-9]*\) samples\/s, median \([0-9]*\).*/\1 \2 \3/p' >> "$T/step"
    done
done
echo "| threads | best window samples/s | median window samples/s |"
echo "|---|---|---|"
for th in 1 2; do
    b=$(awk -v t="$th" '$1==t {print $2}' "$T/step" | median); m=$(awk -v t="$th" '$1==t {print $3}' "$T/step" | median)
    echo "$th $b $m" >> "$T/step_med"
    echo "| $th | $(printf %.0f "$b") | $(printf %.0f "$m") |"
done
echo
read -r _ b1 m1 < <(sed -n 1p "$T/step_med"); read -r _ b2 m2 < <(sed -n 2p "$T/step_med")
echo "2 threads / 1 thread: $(ratio "$b2" "$b1") (best windows), $(ratio "$m2" "$m1") (median windows)"
echo

# ---------------------------------------------------------------- end to end
echo "## End to end: \`mnist-train --epochs $EPOCHS_E2E\` (load, train, test; default ISA, path and threads), seeds 1..3"
echo
echo "| seed | wall s | train s | 10k eval ms | test accuracy | peak RSS MB |"
echo "|---|---|---|---|---|---|"
for seed in 1 2 3; do
    /usr/bin/time -v "$BIN" --data "$DATA" --epochs "$EPOCHS_E2E" --seed "$seed" --json --log-interval 0 \
        > "$T/e2e$seed.json" 2> "$T/time$seed.txt"
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$T/time$seed.txt" | awk -F: '{print ($1*60+$2)}')
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$T/time$seed.txt")
    acc=$(jget "$T/e2e$seed.json" test accuracy)
    evs=$(jget "$T/e2e$seed.json" test seconds)
    trs=$(jget "$T/e2e$seed.json" test train_seconds)
    echo "$wall" >> "$T/walls"; echo "$acc" >> "$T/accs"; echo "$evs" >> "$T/evals"; echo "$rss" >> "$T/rss"
    printf '| %s | %.2f | %.2f | %.1f | %.2f %% | %.1f |\n' "$seed" "$wall" "$trs" "$(awk -v s="$evs" 'BEGIN{print s*1000}')" \
        "$(awk -v a="$acc" 'BEGIN{print a*100}')" "$(awk -v r="$rss" 'BEGIN{print r/1024}')"
done
wall_med=$(median < "$T/walls"); eval_med=$(awk '{print $1*1000}' "$T/evals" | median)
acc_mean=$(awk '{s+=$1} END {printf "%.4f", s/NR*100}' "$T/accs"); rss_max=$(awk '{if ($1>m) m=$1} END {print m/1024}' "$T/rss")
echo
echo "Median wall $(printf %.2f "$wall_med") s, median 10k eval $(printf %.1f "$eval_med") ms, mean accuracy $acc_mean %, peak RSS $(printf %.1f "$rss_max") MB."
echo

# ---------------------------------------------------------------- the whole run
echo "## The whole run (issue 17): loading, phases, augmentation, the best recipe"
echo
for r in $(seq "$REPS"); do "$BENCHDIR/load" "$DATA" 9 --json >> "$T/load.json"; done
load_ms=$("$PY" -c 'import json,sys,statistics as s
print(s.median(json.loads(l)["parallel_ms"] for l in open(sys.argv[1])))' "$T/load.json")
load_seq_ms=$("$PY" -c 'import json,sys,statistics as s
print(s.median(json.loads(l)["sequential_ms"] for l in open(sys.argv[1])))' "$T/load.json")
echo "Loading MNIST's four .gz files (\`bench/load\`, libdeflate, medians of $REPS x 9): both splits on parallel"
echo "threads $(printf %.1f "$load_ms") ms, one file after another $(printf %.1f "$load_seq_ms") ms."
echo
"$BENCHDIR/augment" "$DATA" --json > "$T/warp.json"
echo "| warp kernel | µs per 28x28 image (best of 7 x 10000) |"
echo "|---|---|"
"$PY" -c 'import json,sys
for l in open(sys.argv[1]):
    e = json.loads(l); print("| %s | %.2f |" % (e["isa"], e["us_per_image"]))' "$T/warp.json"
echo
# phases of the default run: the e2e runs above give wall, train and test;
# the same runs without the picture give the picture's share
for r in 1 2 3; do
    /usr/bin/time -f %e "$BIN" --data "$DATA" --epochs "$EPOCHS_E2E" --seed "$r" --no-grid --log-interval 0 \
        > /dev/null 2> "$T/nogrid$r.txt"
    tail -1 "$T/nogrid$r.txt" >> "$T/walls_nogrid"
    jget "$T/e2e$r.json" test train_seconds >> "$T/trains"
    jget "$T/e2e$r.json" start load_seconds >> "$T/loads"
done
wall_ng=$(median < "$T/walls_nogrid"); train_med=$(median < "$T/trains")
run_load_ms=$(awk '{print $1*1000}' "$T/loads" | median)
[ "$run_load_ms" = nan ] && run_load_ms=$load_ms   # a binary without load_seconds
pict_ms=$(awk -v a="$wall_med" -v b="$wall_ng" 'BEGIN{printf "%.0f", (a-b)*1000}')
rest_ms=$(awk -v w="$wall_ng" -v l="$run_load_ms" -v t="$train_med" -v e="$eval_med" 'BEGIN{printf "%.0f", w*1000-l-t*1000-e}')
echo "| phase of \`--epochs $EPOCHS_E2E\` (medians) | ms |"
echo "|---|---|"
echo "| load (the start event's load_seconds) | $(printf %.0f "$run_load_ms") |"
echo "| train | $(awk -v t="$train_med" 'BEGIN{printf "%.0f", t*1000}') |"
echo "| test (10k) | $(printf %.0f "$eval_med") |"
echo "| picture (wall with the grid − wall without) | $pict_ms |"
echo "| the rest (start-up, model set-up, the confusion table, exit) | $rest_ms |"
echo "| wall | $(awk -v w="$wall_med" 'BEGIN{printf "%.0f", w*1000}') |"
echo
# augmented against plain: one epoch each, taking turns
for r in $(seq "$TREPS"); do
    for a in plain aug; do
        extra=(); [ "$a" = aug ] && extra=(--augment-shift 2 --augment-rotate 10)
        "$BIN" --data "$DATA" --epochs 1 --json --log-interval 0 --no-grid "${extra[@]}" 2>/dev/null > "$T/$a.json"
        jget "$T/$a.json" epoch samples_per_sec >> "$T/sps_$a"
    done
done
sps_plain=$(median < "$T/sps_plain"); sps_aug=$(median < "$T/sps_aug")
echo "One epoch, default threads, medians of $TREPS taking turns: plain $(printf %.0f "$sps_plain") samples/s,"
echo "augmented (shift 2, rotate 10) $(printf %.0f "$sps_aug") samples/s: $(ratio "$sps_aug" "$sps_plain") of plain."
echo
best_wall=nan; best_acc=nan
if [ "$QUICK" != 1 ] && [ -f "$HERE/../configs/best.json" ]; then
    for r in $(seq "$REPS"); do
        /usr/bin/time -f %e "$BIN" --config "$HERE/../configs/best.json" --data "$DATA" --json --log-interval 0 \
            --no-grid > "$T/best$r.json" 2> "$T/best$r.txt"
        tail -1 "$T/best$r.txt" >> "$T/best_walls"
        jget "$T/best$r.json" test accuracy >> "$T/best_accs"
    done
    best_wall=$(median < "$T/best_walls"); best_acc=$(awk '{print $1*100}' "$T/best_accs" | median)
    echo "configs/best.json end to end: median $(printf %.2f "$best_wall") s, test accuracy $(printf %.2f "$best_acc") % (median of $REPS)."
    echo
fi
seeds_wall=nan
if "$BIN" train --help 2>&1 | grep -q -- '--seeds'; then
    for r in $(seq "$REPS"); do
        /usr/bin/time -f %e "$BIN" --data "$DATA" --seeds 1-10 --no-grid --log-interval 0 > /dev/null 2> "$T/seeds$r.txt"
        tail -1 "$T/seeds$r.txt" >> "$T/seeds_walls"
    done
    seeds_wall=$(median < "$T/seeds_walls")
    echo "\`--seeds 1-10\` (default recipe) end to end: median $(printf %.2f "$seeds_wall") s of $REPS."
    echo
fi

# ---------------------------------------------------------------- PyTorch
torch_best=""
if [ "${BENCH_TORCH:-1}" != 0 ] && "$PY" -c 'import torch' 2>/dev/null; then
    steps=${TORCH_STEPS:-500}; [ "$QUICK" = 1 ] && steps=100
    echo "## PyTorch, same recipe (preloaded float tensors, no DataLoader; $steps batches per run, median of $REPS)"
    echo
    "$PY" "$HERE/torch_mlp.py" "$DATA" --threads 1,2 --reps "$REPS" --steps "$steps" > "$T/torch.json"
    echo "| torch threads | samples/s | epoch s | mnist-train best / torch |"
    echo "|---|---|---|---|"
    for th in 1 2; do
        v=$("$PY" -c 'import json,sys,statistics as s
print(s.median(e["samples_per_s"] for e in map(json.loads, open(sys.argv[1])) if e["threads"]==int(sys.argv[2])))' "$T/torch.json" "$th")
        echo "| $th | $(printf %.0f "$v") | $(awk -v s="$v" 'BEGIN{printf "%.2f", 60000/s}') | $(ratio "$best" "$v" 1) |"
        if [ -z "$torch_best" ] || awk -v a="$v" -v b="$torch_best" 'BEGIN{exit !(a>b)}'; then torch_best=$v; fi
    done
    echo
else
    echo "(PyTorch not installed or BENCH_TORCH=0: no comparison)"
    echo
fi

# ---------------------------------------------------------------- PyTorch CNN recipes
# torch_cnn.py picks its best thread count (a short probe at 1 and 2) and
# prints one JSON line per run; torch_cnn_sps / torch_fast_s / torch_fast_acc
# are the medians for the comparison rows of the CNN recipes.
torch_cnn_sps=""; torch_fast_s=""; torch_fast_acc=""
if [ "${BENCH_TORCH_CNN:-1}" != 0 ] && "$PY" -c 'import torch' 2>/dev/null; then
    cnn_epochs=${CNN_EPOCHS:-1}; cnn_steps=${CNN_STEPS:-0}; fast_seeds=${TORCH_FAST_SEEDS:-1,2,3}
    [ "$QUICK" = 1 ] && { cnn_steps=50; fast_seeds=1; }
    echo "## PyTorch, the CNN recipes (preloaded float tensors; best of 1 and 2 threads)"
    echo
    "$PY" "$HERE/torch_cnn.py" "$DATA" --recipe cnn --epochs "$cnn_epochs" --steps "$cnn_steps" > "$T/torch_cnn.json"
    # the fast recipe as configs/fast99.json has it: its net, epochs and label smoothing
    read -r fast_epochs fast_ls fast_model < <("$PY" -c 'import json, sys
c = json.load(open(sys.argv[1]))
m = c.get("model", {}).get("name", "fastcnn")
print(c.get("training", {}).get("epochs", 1), c.get("training", {}).get("label_smoothing", 0),
      ",".join(m) if isinstance(m, list) else m)' "$HERE/../configs/fast99.json")
    "$PY" "$HERE/torch_cnn.py" "$DATA" --recipe fastcnn --seeds "$fast_seeds" --steps "$cnn_steps" \
        --epochs "$fast_epochs" --label-smoothing "$fast_ls" --model "$fast_model" >> "$T/torch_cnn.json"
    echo "| recipe | torch threads | runs | train s (median) | samples/s (median) | test accuracy (mean) |"
    echo "|---|---|---|---|---|---|"
    "$PY" - "$T/torch_cnn.json" "$T/torch_cnn.vars" <<'PY'
import json, sys, statistics as st
runs = [e for e in map(json.loads, open(sys.argv[1])) if e["bench"] == "torch_cnn"]
out = {}
for name in ("cnn", "fastcnn"):
    rs = [e for e in runs if e["recipe"] == name]
    if not rs:
        continue
    t = st.median(e["train_s"] for e in rs); sps = st.median(e["samples_per_s"] for e in rs)
    acc = sum(e["test_accuracy"] for e in rs) / len(rs)
    e0 = rs[0]
    part = f", {e0['samples']} samples only" if e0["samples"] < e0["epochs"] * 60000 else ""
    desc = f"{name} ({e0['epochs']} epoch{'s' if e0['epochs'] > 1 else ''}, batch {e0['batch_size']}{part})"
    print(f"| {desc} | {rs[0]['threads']} | {len(rs)} | {t:.2f} | {sps:.0f} | {acc * 100:.2f} % |")
    out[name] = (t, sps, acc)
with open(sys.argv[2], "w") as f:
    if "cnn" in out:
        print(f"torch_cnn_sps={out['cnn'][1]}", file=f)
    if "fastcnn" in out:
        print(f"torch_fast_s={out['fastcnn'][0]}; torch_fast_acc={out['fastcnn'][2]}", file=f)
PY
    . "$T/torch_cnn.vars"
    echo
else
    echo "(PyTorch not installed or BENCH_TORCH_CNN=0: no CNN comparison)"
    echo
fi

# ---------------------------------------------------------------- CNNs
# bench/conv: the conv layers' products as % of the FMA peak, and whole cnn /
# fastcnn steps on 1 and 2 threads; then the two recipes end to end
# (configs/fast99.json over FAST_SEEDS, configs/cnn.json for CNN_EPOCHS
# epochs, seed 1): training seconds, test accuracy, peak RSS.
echo "## Convolutions (bench/conv: 1 thread, best of 11 windows; whole steps best of 5)"
echo
"$BENCHDIR/conv" --json > "$T/conv.json"
"$PY" - "$T/conv.json" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
peak = {e["isa"]: e["gflops"] for e in ev if e["bench"] == "fma_peak"}
print("| ISA | layer | op | GFLOP/s | % of FMA peak |")
print("|---|---|---|---|---|")
for e in ev:
    if e["bench"] == "conv":
        print(f"| {e['isa']} | {e['layer']} | {e['op']} | {e['gflops']:.1f} | {e['pct_peak']:.0f} % |")
print()
for e in ev:
    if e["bench"] == "step":
        print(f"- {e['model']} step (batch {e['B']}, {e['isa']}): {e['ms_1t']:.1f} ms on 1 thread, "
              f"{e['ms_2t']:.1f} ms on 2 ({e['speedup']:.2f}x)")
print(f"- FMA peak (1 thread): " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peak.items()))
PY
echo
fast_seeds_list=$(echo "${FAST_SEEDS:-1,2,3,4,5,6,7,8,9,10}" | tr ',' ' ')
[ "$QUICK" = 1 ] && fast_seeds_list=1
recipe() { # recipe NAME CONFIG SEED EXTRA...: one JSON line with train seconds, accuracy, RSS
    local name=$1 cfg=$2 seed=$3; shift 3
    /usr/bin/time -f "%e %M" -o "$T/rss" "$BIN" --config "$HERE/../configs/$cfg" --seed "$seed" --data "$DATA" --json \
        --progress off --grid "" "$@" > "$T/recipe.jl" 2>/dev/null || { echo "{\"recipe\":\"$name\",\"failed\":1}"; return; }
    "$PY" -c 'import json, sys
t = [e for e in map(json.loads, open(sys.argv[1])) if e.get("event") == "test"][0]
wall, rss = open(sys.argv[4]).read().split()[-2:]
print(json.dumps({"recipe": sys.argv[2], "seed": int(sys.argv[3]), "train_s": t["train_seconds"],
                  "wall_s": float(wall), "acc": t["accuracy"], "rss_mb": int(rss) / 1024}))' \
        "$T/recipe.jl" "$name" "$seed" "$T/rss"
}
: > "$T/recipes.json"
for s in $fast_seeds_list; do recipe fast99 fast99.json "$s" >> "$T/recipes.json"; done
recipe cnn cnn.json 1 --epochs "${CNN_EPOCHS:-1}" >> "$T/recipes.json"
echo "## The CNN recipes end to end (mnist-train, default threads)"
echo
"$PY" - "$T/recipes.json" "${torch_fast_s:-}" "${torch_fast_acc:-}" <<'PY'
import json, sys, statistics as st
runs = [json.loads(l) for l in open(sys.argv[1])]
print("| recipe | runs | train s (median) | whole run s (median) | mean test accuracy | peak RSS MB | PyTorch train s |")
print("|---|---|---|---|---|---|---|")
for name in ("fast99", "cnn"):
    r = [x for x in runs if x["recipe"] == name and not x.get("failed")]
    if not r:
        print(f"| {name} | failed | | | | |")
        continue
    torch = sys.argv[2] if name == "fast99" and sys.argv[2] else ""
    print(f"| {name} | {len(r)} | {st.median(x['train_s'] for x in r):.2f} | {st.median(x['wall_s'] for x in r):.2f} | "
          f"{100 * st.mean(x['acc'] for x in r):.2f} % | {max(x['rss_mb'] for x in r):.0f} | {torch} |")
PY
echo

# ---------------------------------------------------------------- targets
echo "## Targets (issue 3)"
echo
yes_no() { if awk "BEGIN{exit !($1)}"; then echo "met"; else echo "**not met**"; fi; }
l1=$("$PY" - "$T"/gemm*.json <<'PY'
import json, sys, statistics as st
v = {}
for f in sys.argv[1:]:
    for l in open(f):
        e = json.loads(l)
        if e["bench"] == "gemm" and e["isa"] == "avx512" and e["B"] == 64 and e["C"] == 784 and e["op"] in ("fwd", "bwd_wt"):
            v.setdefault(e["op"], []).append(e["pct_peak"])
print(min(st.median(x) for x in v.values()) if v else 0)
PY
)
echo "| target | measured | |"
echo "|---|---|---|"
[ -n "$torch_best" ] && echo "| ≥ 10× PyTorch's best samples/s | $(ratio "$best" "$torch_best" 1) | $(yes_no "$best >= 10*$torch_best") |"
echo "| dense first-layer GEMMs ≥ 60 % of FMA peak (AVX-512, worse of fwd and bwd_wt) | $(printf %.0f "$l1") % | $(yes_no "$l1 >= 60") |"
echo "| 2 threads ≥ 1.6× 1 thread (the best configuration: $best_isa, $best_path) | $(ratio "$two" "$one") | $(yes_no "$two >= 1.6*$one") |"
other=$([ "$best_path" = sparse ] && echo dense || echo sparse)
one_o=$(sps_of "$best_isa" "$other" 1)
two_o=$(sps_of "$best_isa" "$other" 2)
[ -n "$one_o" ] && [ -n "$two_o" ] && echo "| 2 threads ≥ 1.6× 1 thread ($best_isa, $other first layer) | $(ratio "$two_o" "$one_o") | $(yes_no "$two_o >= 1.6*$one_o") |"
echo "| \`--epochs 5\` end to end ≤ 1.5 s | $(printf %.2f "$wall_med") s | $(yes_no "$wall_med <= 1.5") |"
echo "| 10k-image evaluation ≤ 20 ms | $(printf %.1f "$eval_med") ms | $(yes_no "$eval_med <= 20") |"
echo "| peak RSS ≤ 80 MB | $(printf %.1f "$rss_max") MB | $(yes_no "$rss_max <= 80") |"
echo "| mean accuracy of 3 seeds ≥ 97.4 % | $acc_mean % | $(yes_no "$acc_mean >= 97.4") |"
echo
echo "## Targets (issue 17)"
echo
echo "| target | measured | |"
echo "|---|---|---|"
echo "| loading MNIST ≤ 50 ms | $(printf %.1f "$load_ms") ms | $(yes_no "$load_ms <= 50") |"
echo "| \`--epochs $EPOCHS_E2E\` end to end ≤ 0.45 s (median) | $(printf %.2f "$wall_med") s | $(yes_no "$wall_med <= 0.45") |"
echo "| augmented training ≥ 50 % of plain samples/s | $(awk -v a="$sps_aug" -v b="$sps_plain" 'BEGIN{printf "%.0f", 100*a/b}') % | $(yes_no "$sps_aug >= 0.5*$sps_plain") |"
[ "$best_wall" != nan ] && echo "| configs/best.json ≤ 4 s at ≥ 98.9 % | $(printf %.2f "$best_wall") s, $(printf %.2f "$best_acc") % | $(yes_no "$best_wall <= 4 && $best_acc >= 98.9") |"
[ "$seeds_wall" != nan ] && echo "| \`--seeds 1-10\` ≤ 5 s on two cores | $(printf %.2f "$seeds_wall") s | $(yes_no "$seeds_wall <= 5") |"
echo "| peak RSS of the default run ≤ 80 MB | $(printf %.1f "$rss_max") MB | $(yes_no "$rss_max <= 80") |"

echo
echo "## Targets (issue 16)"
echo
"$PY" - "$T/conv.json" "$T/recipes.json" "${torch_cnn_sps:-}" "${CNN_EPOCHS:-1}" <<'PY'
import json, sys, statistics as st
conv = [json.loads(l) for l in open(sys.argv[1])]
runs = [json.loads(l) for l in open(sys.argv[2])]
torch_cnn = float(sys.argv[3]) if sys.argv[3] else None
met = lambda ok: "met" if ok else "**not met**"
print("| target | measured | |")
print("|---|---|---|")
for isa in sorted({e["isa"] for e in conv if e["bench"] == "conv"}):
    ops = [e for e in conv if e["bench"] == "conv" and e["isa"] == isa and e.get("in_training", True)]
    worst = min(ops, key=lambda e: e["pct_peak"])
    print(f"| conv layers ≥ 60 % of FMA peak, 1 thread ({isa}, worst op in training) | "
          f"{worst['pct_peak']:.0f} % ({worst['layer']} {worst['op']}) | {met(worst['pct_peak'] >= 60)} |")
for e in conv:
    if e["bench"] == "step" and e["model"] == "cnn":
        print(f"| 2 threads ≥ 1.7× 1 thread on cnn (whole step, {e['isa']}) | {e['speedup']:.2f}x | {met(e['speedup'] >= 1.7)} |")
f = [x for x in runs if x["recipe"] == "fast99" and not x.get("failed")]
if f:
    acc = 100 * st.mean(x["acc"] for x in f)
    tr, wall = st.median(x["train_s"] for x in f), st.median(x["wall_s"] for x in f)
    print(f"| configs/fast99.json: mean accuracy ≥ 99.0 % over {len(f)} seeds (the issue: 10) | {acc:.2f} % | {met(acc >= 99.0)} |")
    print(f"| configs/fast99.json: training ≤ 1.5 s (median) | {tr:.2f} s | {met(tr <= 1.5)} |")
    print(f"| configs/fast99.json: whole run ≤ 2.0 s (median) | {wall:.2f} s | {met(wall <= 2.0)} |")
c = [x for x in runs if x["recipe"] == "cnn" and not x.get("failed")]
if c and torch_cnn:
    sps = 60000 * int(sys.argv[4]) / c[0]["train_s"]
    print(f"| configs/cnn.json: ≥ 3× PyTorch's samples/s | {sps:.0f} vs {torch_cnn:.0f} ({sps / torch_cnn:.2f}x) | {met(sps >= 3 * torch_cnn)} |")
rss = [x["rss_mb"] for x in runs if not x.get("failed")]
if rss:
    print(f"| peak RSS ≤ 150 MB, both recipes | {max(rss):.0f} MB | {met(max(rss) <= 150)} |")
print("| configs/cnn.json: mean ≥ 99.1 % over 3 seeds (14 epochs each) | not run by make bench: see docs/speed.md | |")
PY

