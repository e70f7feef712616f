#!/bin/bash
# CTest e2e_bench_smoke: bench/run works end to end on a tiny configuration (ours and the
# PyTorch reference interleaved, table, JSON, ratios last), and the reference's accuracy
# mode (--val-fraction, --schedule onecycle) reports validation per epoch. Timings are
# not asserted (BENCHMARKS.md: speed is measured, never asserted). Skips (77) without
# Debian's /usr/bin/python3 + torch + torchvision.
# Usage: bench_smoke.sh AMPBENCH_CLI REPO
set -u
CLI="$1"
REPO="$2"
PY=/usr/bin/python3
if ! "$PY" -c "import torch, torchvision" 2>/dev/null; then
  echo "SKIP: $PY with torch and torchvision is needed for the reference loop"
  exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$PY" "$REPO/bench/run" --cli "$CLI" --models small_cnn --sizes 16 --modes fp32 --no-overhead --no-emulation \
  --real-data "$T/none" --formats channels_last contiguous --no-reference-malloc --results "$T/results" \
  >"$T/out" 2>"$T/err" || { cat "$T/out" "$T/err"; fail "bench/run exited $?"; }
cat "$T/out"
grep -q "real data not found" "$T/out" "$T/err" || fail "the skipped real-data configurations are not reported"
# The ratios are the last lines, after the table.
tail -n 3 "$T/out" | grep -q "ours/pytorch   small_cnn/16px/synthetic/fp32" || fail "ratio line missing at the end"
JSON=$(ls "$T"/results/*[0-9].json 2>/dev/null | head -1)  # not the .partial.json
[ -n "$JSON" ] || fail "no results JSON written"
"$PY" - "$JSON" <<'PY' || fail "results JSON incomplete"
import json, sys
r = json.load(open(sys.argv[1]))
(c,) = r["configs"]
assert c["model"] == "small_cnn" and c["size"] == 16 and c["mode"] == "fp32", c
ours, refs = c["ours_runs"], c["reference_runs"]
assert set(refs) == {"channels_last", "contiguous"}, refs.keys()
ref = [run for runs in refs.values() for run in runs]
assert len(ours) == 2 and len(ref) == 2, (len(ours), len(ref))  # ours before each reference format
for run in ours + ref:
    assert run["images_per_s"] > 0 and len(run["epoch_images_per_s"]) == 3, run
    assert run["peak_rss_mb"] > 0, run
ratio = r["ratios"]["ours_over_pytorch"]["small_cnn/16px/synthetic/fp32"]
assert 0.05 < ratio < 20, ratio
assert r["machine"] and r["cli"], r.keys()
PY

# The reference's accuracy mode: a validation split, evaluated after every epoch.
"$PY" "$REPO/bench/reference_train.py" --data synthetic:80 --model small_cnn --image-size 16 --epochs 2 \
  --val-fraction 0.25 --schedule onecycle >"$T/ref.json" 2>"$T/ref.err" || { cat "$T/ref.err"; fail "reference exited"; }
"$PY" - "$T/ref.json" <<'PY' || fail "reference accuracy mode"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["images"] == 60 and r["val_images"] == 20, r       # 25 % of each of the two classes carved
assert len(r["val_accuracy"]) == 2 and all(0.0 <= a <= 1.0 for a in r["val_accuracy"]), r
assert len(r["val_loss"]) == 2 and all(v > 0 for v in r["val_loss"]), r
assert r["schedule"] == "onecycle"
PY
# --save-initial: the engine starts from the reference's initial weights.
"$PY" "$REPO/bench/reference_train.py" --data synthetic:64 --model small_cnn --image-size 16 --epochs 1 \
  --save-initial "$T/init.pt" >/dev/null 2>&1 || fail "reference --save-initial"
"$CLI" train --data synthetic:64 --model small_cnn --image-size 16 --epochs 1 --pretrained "$T/init.pt" \
  --out "$T/from_init" --quiet || fail "the engine does not start from the reference's initial weights"

# An engine cache file (what the GPU matrix trains both sides on): the reference reads the
# same decoded images and labels the engine wrote.
"$PY" "$(dirname "$0")/make_dataset.py" "$T/cdata" 24 16 || fail "cannot generate data"
"$CLI" train --data "$T/cdata" --model small_cnn --image-size 16 --epochs 1 --cache "$T/syn.cache" \
  --out "$T/cached" --quiet || fail "the engine did not write a cache"
"$PY" "$REPO/bench/reference_train.py" --data "cache:$T/syn.cache" --model small_cnn --image-size 16 --epochs 1 \
  >"$T/ref3.json" 2>"$T/ref3.err" || { cat "$T/ref3.err"; fail "reference on an engine cache"; }
"$PY" - "$T/ref3.json" "$T/cached/dataset.json" <<'PY' || fail "reference reads the cache's splits"
import json, sys
r, d = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert r["images"] == sum(d["counts"]["train"]) and r["val_images"] == sum(d["counts"]["val"]) > 0, (r, d["counts"])
PY
"$PY" "$REPO/bench/reference_train.py" --data "cache:$T/syn.cache" --image-size 32 --epochs 1 >/dev/null 2>&1 \
  && fail "a cache of another image size was accepted"

# The GPU matrix's plan (it runs only on a GPU machine: bench/gpu), and its largest-batch
# search against a stand-in CLI that runs out of memory (exit 4) above 700 images (fp32)
# or 1500 (fp16): doubling, then halving the gap to within a quarter.
"$PY" "$REPO/bench/run" --plan --device cuda --real-cache "$T/syn.cache" >"$T/plan" || fail "bench/run --plan"
for m in fp32 fp16 bf16; do
  grep -q "resnet18/224px/synthetic/$m batch 128 on cuda" "$T/plan" || fail "GPU plan lacks synthetic $m"
  grep -q "resnet18/224px/real/$m batch 128 on cuda.*cache $T/syn.cache" "$T/plan" || fail "GPU plan lacks real $m"
done
cat >"$T/fakecli" <<'SH'
#!/bin/bash
while [ $# -gt 0 ]; do case "$1" in --batch-size) b=$2;; --precision) p=$2;; --out) o=$2;; esac; shift; done
limit=700; [ "$p" = fp16 ] && limit=1500
[ "$b" -gt "$limit" ] && { echo "stopped: out of memory"; exit 4; }
mkdir -p "$o"; echo '{"peak_rss_mb": 1}' >"$o/metrics.json"
printf 'epoch,epoch_seconds,images_per_s\n1,1.0,100\n' >"$o/epochs.csv"
SH
chmod +x "$T/fakecli"
"$PY" "$REPO/bench/run" --device cuda --only-max-batch --cli "$T/fakecli" --results "$T/mb" >"$T/mb.out" 2>"$T/mb.err" \
  || { cat "$T/mb.out" "$T/mb.err"; fail "bench/run --only-max-batch"; }
tail -n 3 "$T/mb.out" | grep -q "largest batch  resnet18 fp16" || fail "the largest-batch lines are not last"
"$PY" - "$T"/mb/*[0-9].json <<'PY' || fail "largest-batch search"
import json, sys
r = json.load(open(sys.argv[1]))["max_batch"]
assert r["fp32"]["fits"] <= 700 < r["fp32"]["first_failure"] and r["fp32"]["fits"] >= 0.75 * 700, r
assert r["fp16"]["fits"] <= 1500 < r["fp16"]["first_failure"] and r["fp16"]["fits"] >= 0.75 * 1500, r
print("largest batch:", r)
PY

# The overhead measurement (events, loss scaler, allocator), against a stand-in CLI whose
# speed depends on the flags alone: paired rounds in rotated order, a warm-up run that does
# not count, and medians that recover the stand-in's known ratios.
cat >"$T/fakeover" <<'SH'
#!/bin/bash
ips=100; v=events_off
while [ $# -gt 0 ]; do case "$1" in
  --step-events) [ "$2" = 1 ] && { ips=98; v=events_every_step; };;
  --loss-scaling) [ "$2" = on ] && { ips=99; v=scaler_on; };;
  --grad-stats) ips=97; v=grad_stats;;
  --out) o=$2;; esac; shift; done
[ "${AMPBENCH_CPU_ALLOCATOR:-}" = system ] && { ips=80; v=system_allocator; }
echo "$v" >>"$CALLS"
mkdir -p "$o"; echo '{"peak_rss_mb": 1}' >"$o/metrics.json"
{ echo epoch,epoch_seconds,images_per_s; for e in 1 2 3 4 5 6 7 8; do echo "$e,1.0,$ips"; done; } >"$o/epochs.csv"
SH
chmod +x "$T/fakeover"
CALLS="$T/calls" "$PY" "$REPO/bench/run" --only-overhead --overhead-rounds 5 --cli "$T/fakeover" --results "$T/ov" \
  >"$T/ov.out" 2>"$T/ov.err" || { cat "$T/ov.out" "$T/ov.err"; fail "bench/run --only-overhead"; }
cat "$T/ov.out"
tail -n 3 "$T/ov.out" | grep -q "loss scaler on vs off: *+1.0 % per step  (median of 5 paired rounds" \
  || fail "the overhead lines are not last or not medians of the rounds"
"$PY" - "$T"/ov/*[0-9].json "$T/calls" <<'PY' || fail "overhead rounds"
import json, sys
o = json.load(open(sys.argv[1]))["overhead"]
calls = open(sys.argv[2]).read().split()
assert len(calls) == 1 + 5 * 5, calls                       # one warm-up, then 5 rounds of 5 variants
firsts = [calls[1 + 5 * r] for r in range(5)]
assert len(set(firsts)) == 5, firsts                        # each variant leads one round
assert o["rounds"] == 5 and all(len(v) == 5 for v in o["per_round"].values()), o["per_round"]
assert abs(o["grad_stats_overhead"] - (100 / 97 - 1) * 8 / 50) < 1e-9, o
assert abs(o["events_overhead"] - (100 / 98 - 1)) < 1e-9, o
assert abs(o["scaler_overhead"] - (100 / 99 - 1)) < 1e-9, o
assert abs(o["caching_allocator_speedup"] - 1.25) < 1e-9, o
PY
"$PY" "$REPO/bench/run" --only-overhead --no-overhead --cli "$T/fakeover" >/dev/null 2>&1 \
  && fail "--only-overhead with --no-overhead was accepted"

# The emulated formats' epoch time against fp32 (issue 13), against a stand-in CLI whose
# epoch time depends on the precision flags alone: rotated rounds, medians of the ratios,
# and LibTorch's own bf16 (--bf16-kernels native) measured once where the CPU lacks bf16 units.
cat >"$T/fakeemu" <<'SH'
#!/bin/bash
sec=1.0; v=fp32
while [ $# -gt 0 ]; do case "$1" in
  --precision) case "$2" in fp16) sec=1.2; v=fp16_emulated;; bf16) sec=1.25; v=bf16_emulated;; esac;;
  --bf16-kernels) [ "$2" = native ] && { sec=12; v=bf16_native; };;
  --grad-stats) sec=1.1; v=fp32_grad_stats;;
  --out) o=$2;; esac; shift; done
echo "$v" >>"$CALLS"
mkdir -p "$o"; echo '{"peak_rss_mb": 1}' >"$o/metrics.json"
{ echo epoch,epoch_seconds,images_per_s; for e in 1 2 3; do echo "$e,$sec,$(awk "BEGIN{print 100/$sec}")"; done; } >"$o/epochs.csv"
SH
chmod +x "$T/fakeemu"
CALLS="$T/ecalls" "$PY" "$REPO/bench/run" --only-emulation --emulation-rounds 4 --cli "$T/fakeemu" --results "$T/em" \
  >"$T/em.out" 2>"$T/em.err" || { cat "$T/em.out" "$T/em.err"; fail "bench/run --only-emulation"; }
cat "$T/em.out"
grep -q "fp16 emulated / fp32 epoch time: 1.200x" "$T/em.out" || fail "the emulation ratio line"
"$PY" - "$T"/em/*[0-9].json "$T/ecalls" <<'PY' || fail "emulation rounds"
import json, sys
e = json.load(open(sys.argv[1]))["emulation"]
calls = open(sys.argv[2]).read().split()
rounds = calls[1:17]                                         # after the warm-up: 4 rounds of 4
assert sorted(rounds) == sorted(["fp32", "fp16_emulated", "bf16_emulated", "fp32_grad_stats"] * 4), calls
assert len({rounds[0], rounds[4], rounds[8], rounds[12]}) == 4, rounds   # each variant leads one round
assert abs(e["fp16_emulated_over_fp32_epoch_time"] - 1.2) < 1e-9, e
assert abs(e["bf16_emulated_over_fp32_epoch_time"] - 1.25) < 1e-9, e
# 10 % at one sample per epoch of 4 steps (128 images, batch 32), scaled to every 50th step
assert abs(e["grad_stats_overhead_resnet18"] - 0.1 * 4 / 50) < 1e-9, e
if "bf16_native" in calls:                                   # a CPU without bf16 units
    assert abs(e["bf16_native_over_fp32_epoch_time"] - 12) < 1e-9, e
PY

# A train/ val/ folder: the reference validates on val/ (the engine's split of such a folder).
if "$PY" -c "import cv2" 2>/dev/null; then
  "$PY" "$(dirname "$0")/make_dataset.py" "$T/blobs" 20 16 --splits
  "$PY" "$REPO/bench/reference_train.py" --data "$T/blobs" --model small_cnn --image-size 16 --epochs 3 \
    --schedule onecycle --lr 0.02 >"$T/ref2.json" 2>"$T/ref2.err" || { cat "$T/ref2.err"; fail "reference on train/ val/"; }
  "$PY" - "$T/ref2.json" <<'PY' || fail "reference validation on a val/ folder"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["images"] == 32 and r["val_images"] == 8, r   # make_dataset --splits: every 5th image is val
assert len(r["val_accuracy"]) == 3, r
PY
  # split_folder.py writes the reference's carve as a train/ val/ folder of links.
  "$PY" "$(dirname "$0")/make_dataset.py" "$T/flat" 20 16
  "$PY" "$REPO/bench/split_folder.py" "$T/flat" "$T/split" --val-fraction 0.25 >/dev/null || fail "split_folder.py"
  for cls in NORMAL PNEUMONIA; do
    [ "$(ls "$T/split/train/$cls" | wc -l)" = 15 ] && [ "$(ls "$T/split/val/$cls" | wc -l)" = 5 ] \
      || fail "split_folder.py: wrong counts for $cls"
  done
  "$PY" "$REPO/bench/split_folder.py" "$T/flat" "$T/split" >/dev/null 2>&1 && fail "split_folder.py overwrote a folder"
else
  echo "note: python3-opencv missing, the val/ folder part is not run"
fi
echo "bench smoke: ok"
