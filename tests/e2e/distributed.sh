#!/usr/bin/env bash
# Data-parallel training over c10d/Gloo on loopback, 2 processes x 1 thread, started with
# the launchers' environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT):
#  a) 2 ranks x batch 8 against 1 process x batch 16 run as 2 micro-batches of 8
#     (AMPBENCH_TEST_MICROBATCHES=2: batch-norm statistics per half, gradients summed as
#     loss_i / 2, which is what the ranks' averaged all-reduce computes): same weights
#     within 1e-5 relative, same loss per step within 1e-4. A plain 1 x 16 run differs by
#     batch-norm's per-rank statistics; its distance is printed, not asserted.
#  b) fp16 with an inf injected into rank 1's gradient only: both ranks skip that step and
#     halve the scale (their steps.csv scale/overflow/skipped columns are identical, and
#     the ranks' scales and weights are checked equal after every step).
#  c) only rank 0 writes; config.json's "distributed" block.
#  d) a killed rank makes the other exit non-zero with a clear message, quickly; a rank
#     that hangs, within --dist-timeout; a rank out of memory, quickly.
#  e) the 2-rank run resumed on 1 rank (epoch-end checkpoint, per-rank batch 16).
#  f) bad launcher input: exit 2 and one line. g) torchrun --no_python, where installed.
#  h) --sync-bn: 2 ranks x 8 against a plain 1 process x 16 (batch norm over the global
#     batch): same weights and running statistics within 1e-5, same losses within 1e-4;
#     without --sync-bn the same pair differs by more (so the check can fail).
#  i) sharded validation (an odd validation split, 15 images: ranks take 7 and 8): the
#     2-rank run's validation figures equal the 1-process reference's, on both ranks.
#   distributed.sh PATH/TO/ampbench-cli
set -u
CLI=${1:?usage: distributed.sh PATH/TO/ampbench-cli}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT
pass=0; fail=0
check() {
  if eval "$2"; then echo "ok    $1"; pass=$((pass + 1)); else echo "FAIL  $1"; fail=$((fail + 1)); fi
}
free_port() { $PY -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"; }
mkdir -p "$T/tmp"

$PY "$HERE/make_dataset.py" "$T/data" 40 16 --splits || { echo "cannot generate data"; exit 1; }
rm "$T/data/val/NORMAL/img0039.pgm"  # 15 validation images: the ranks' shards differ in size
# 64 training images: 4 global batches of 16.
COMMON=(--data "$T/data" --model small_cnn --epochs 2 --image-size 16 --seed 5 --threads 1 --lr 0.02
        --no-augment --checkpoint-minutes 0 --quiet)

# launch2 NAME OUT0 OUT1 ARGS...: both ranks in the background; rank i's pid in PID_i.
launch2() {
  local name=$1 out0=$2 out1=$3; shift 3
  local port; port=$(free_port)
  for r in 0 1; do
    local out=$out0; [ $r -eq 1 ] && out=$out1
    env RANK=$r WORLD_SIZE=2 LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$port TMPDIR="$T/tmp" \
      "$CLI" train "$@" --distributed --out "$out" >"$T/$name.$r.out" 2>&1 &
    eval "PID_$r=$!"; PIDS+=("$!")
  done
}

# --- a) and c): equivalence, rank 0 alone writes -----------------------------------------
AMPBENCH_TEST_MICROBATCHES=2 "$CLI" train "${COMMON[@]}" --batch-size 16 --export --out "$T/ref" \
  >"$T/ref.out" 2>&1; rc=$?
check "reference: 1 process x 16 as 2 micro-batches exits 0 ($rc)" '[ $rc -eq 0 ]'
"$CLI" train "${COMMON[@]}" --batch-size 16 --export --out "$T/plain" >"$T/plain.out" 2>&1
launch2 fp32 "$T/dist" "$T/rank1-out" "${COMMON[@]}" --batch-size 8 --export
wait $PID_0; rc0=$?; wait $PID_1; rc1=$?
check "2 ranks x 8 (fp32) exit 0 ($rc0, $rc1)" '[ $rc0 -eq 0 ] && [ $rc1 -eq 0 ]'
check "rank 0 reports the all-reduce's share" 'grep -q "distributed: 2 ranks (gloo)" "$T/fp32.0.out"'
check "4 steps per epoch, 2 epochs in rank 0's steps.csv" '[ "$(tail -n +2 "$T/dist/steps.csv" | wc -l)" -eq 8 ]'
cat >"$T/compare.py" <<'EOF'
import csv, sys, torch
BUFFERS = len(sys.argv) > 3 and sys.argv[3] == "buffers"
def params(d):
    s = torch.jit.load(d + "/model.pt").state_dict()
    skip = ("num_batches_tracked",) if BUFFERS else ("running_mean", "running_var", "num_batches_tracked")
    return {k: v.float() for k, v in s.items() if not k.endswith(skip)}
def losses(d):
    return [float(r["loss"]) for r in csv.DictReader(open(d + "/steps.csv"))]
a, b = params(sys.argv[1]), params(sys.argv[2])
assert a.keys() == b.keys(), (a.keys() ^ b.keys())
rel = max(float((a[k] - b[k]).norm() / a[k].norm().clamp_min(1e-12)) for k in a)
la, lb = losses(sys.argv[1]), losses(sys.argv[2])
dl = max(abs(x - y) for x, y in zip(la, lb)) if len(la) == len(lb) else float("inf")
print("%.3g %.3g" % (rel, dl))
EOF
read -r rel dloss <<<"$($PY "$T/compare.py" "$T/ref" "$T/dist" || echo "inf inf")"
echo "      2 ranks x 8 vs 1 x 16 in 2 micro-batches: weights $rel relative, losses $dloss"
check "the same weights within 1e-5 relative ($rel)" "$PY -c 'import sys; sys.exit(not float(\"$rel\") <= 1e-5)'"
check "the same loss per step within 1e-4 ($dloss)" "$PY -c 'import sys; sys.exit(not float(\"$dloss\") <= 1e-4)'"
read -r prel pdloss <<<"$($PY "$T/compare.py" "$T/plain" "$T/dist" 2>/dev/null || echo "? ?")"
echo "      2 ranks x 8 vs plain 1 x 16 (batch-norm over 16, not 2 x 8): weights $prel relative, losses $pdloss"
cat >"$T/val.py" <<'EOF'
import csv, sys
def val(d):
    return [(float(r["val_loss"]), float(r["val_acc"]), float(r["val_auc"])) for r in csv.DictReader(open(d + "/epochs.csv"))]
a, b = val(sys.argv[1]), val(sys.argv[2])
print("%.3g" % (max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb)) if len(a) == len(b) and a else float("inf")))
EOF
check "i) validation was sharded over the ranks" 'grep -q "validation: 15 images over 2 ranks (rank 0 evaluated 7)" "$T/fp32.0.out"'
check "rank 1 wrote nothing at its --out" '[ ! -e "$T/rank1-out" ]'
check "rank 1's scratch folder is gone" '[ -z "$(ls -A "$T/tmp")" ]'
check "config.json records world size, backend and per-rank batch" \
  "$PY -c 'import json,sys; d=json.load(open(\"$T/dist/config.json\"))[\"distributed\"]; sys.exit(not (d[\"world_size\"]==2 and d[\"backend\"]==\"gloo\" and d[\"per_rank_batch\"]==8))'"
check "one process's config.json has no distributed block" \
  "$PY -c 'import json,sys; sys.exit(\"distributed\" in json.load(open(\"$T/ref/config.json\")))'"

# --- b) fp16, an inf in rank 1's gradient only -----------------------------------------
port=$(free_port)
for r in 0 1; do
  RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port TMPDIR="$T/tmp" AMPBENCH_TEST_KEEP_RANK_DIRS=1 \
    AMPBENCH_TEST_INF_GRADIENT_AT_STEP=3 AMPBENCH_TEST_INF_GRADIENT_RANK=1 AMPBENCH_DIST_CHECK_EVERY=1 \
    "$CLI" train "${COMMON[@]}" --batch-size 8 --precision fp16 --init-scale 1024 --distributed \
    --out "$T/fp16" >"$T/fp16.$r.out" 2>&1 &
  eval "PID_$r=$!"; PIDS+=("$!")
done
wait $PID_0; rc0=$?; wait $PID_1; rc1=$?
check "fp16, inf on rank 1 at step 3: both ranks exit 0, scales checked equal every step ($rc0, $rc1)" \
  '[ $rc0 -eq 0 ] && [ $rc1 -eq 0 ]'
r1dir=$(sed -n 's/^rank 1 writes its own logs to //p' "$T/fp16.1.out")
row() { awk -F, -v s="$2" 'NR > 1 && $2 == s { print $5 "," $6 "," $7 }' "$1/steps.csv"; }
check "rank 0 skipped step 3 as an overflow ($(row "$T/fp16" 3))" '[ "$(row "$T/fp16" 3)" = "1024,1,1" ]'
check "and halved the scale for step 4 ($(row "$T/fp16" 4))" '[ "$(row "$T/fp16" 4)" = "512,0,0" ]'
check "rank 1's scale, overflow and skipped columns equal rank 0's" \
  '[ -n "$r1dir" ] && diff <(cut -d, -f1,2,5-7 "$T/fp16/steps.csv") <(cut -d, -f1,2,5-7 "$r1dir/steps.csv") >/dev/null'

# --- h) --sync-bn against one process with the global batch ------------------------------
port=$(free_port)
for r in 0 1; do
  RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port TMPDIR="$T/tmp" AMPBENCH_TEST_KEEP_RANK_DIRS=1 \
    AMPBENCH_DIST_CHECK_EVERY=1 "$CLI" train "${COMMON[@]}" --batch-size 8 --export --distributed --sync-bn \
    --out "$T/syncbn" >"$T/syncbn.$r.out" 2>&1 &
  eval "PID_$r=$!"; PIDS+=("$!")
done
wait $PID_0; rc0=$?; wait $PID_1; rc1=$?
check "h) 2 ranks x 8 --sync-bn exit 0 ($rc0, $rc1)" '[ $rc0 -eq 0 ] && [ $rc1 -eq 0 ]'
read -r srel sdloss <<<"$($PY "$T/compare.py" "$T/plain" "$T/syncbn" buffers || echo "inf inf")"
echo "      --sync-bn 2 ranks x 8 vs plain 1 x 16: weights and running statistics $srel relative, losses $sdloss"
check "h) the same weights and running statistics as 1 x 16 within 1e-5 ($srel)" \
  "$PY -c 'import sys; sys.exit(not float(\"$srel\") <= 1e-5)'"
check "h) the same loss per step within 1e-4 ($sdloss)" "$PY -c 'import sys; sys.exit(not float(\"$sdloss\") <= 1e-4)'"
check "h) without --sync-bn the same pair differs by more than 1e-4 ($prel)" \
  "$PY -c 'import sys; sys.exit(not float(\"$prel\") > 1e-4)'"
check "h) config.json records sync_bn" \
  "$PY -c 'import json,sys; sys.exit(json.load(open(\"$T/syncbn/config.json\"))[\"distributed\"][\"sync_bn\"] is not True)'"
# The micro-batch reference's running statistics are updated twice a step, the ranks' once:
# only --sync-bn's model (weights and statistics) is the 1-process model to validate.
dval=$($PY "$T/val.py" "$T/plain" "$T/syncbn" || echo inf)
check "i) sharded validation: val loss/accuracy/AUC per epoch equal the 1-process run's within 1e-4 ($dval)" \
  "$PY -c 'import sys; sys.exit(not float(\"$dval\") <= 1e-4)'"
s1dir=$(sed -n 's/^rank 1 writes its own logs to //p' "$T/syncbn.1.out")
check "i) rank 1's validation figures equal rank 0's (all-reduced)" \
  '[ -n "$s1dir" ] && diff <(cut -d, -f1,4-6 "$T/syncbn/epochs.csv") <(cut -d, -f1,4-6 "$s1dir/epochs.csv") >/dev/null'
# An overflow replay (fp16, an inf on rank 1 at step 3) with one image per rank at 8 px:
# small_cnn's last batch norm sees one value per channel per rank, which only the global
# statistics can normalise; the replay must reuse them (a per-rank batch norm throws).
port=$(free_port)
for r in 0 1; do
  RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port TMPDIR="$T/tmp" AMPBENCH_TEST_INF_GRADIENT_AT_STEP=3 \
    AMPBENCH_TEST_INF_GRADIENT_RANK=1 "$CLI" train "${COMMON[@]}" --epochs 1 --image-size 8 --batch-size 1 \
    --precision fp16 --distributed --sync-bn --out "$T/syncbn1" >"$T/syncbn1.$r.out" 2>&1 &
  eval "PID_$r=$!"; PIDS+=("$!")
done
wait $PID_0; rc0=$?; wait $PID_1; rc1=$?
check "h) --sync-bn, 1 image per rank, an overflow replayed: both ranks exit 0 ($rc0, $rc1)" \
  '[ $rc0 -eq 0 ] && [ $rc1 -eq 0 ] && [ -s "$T/syncbn1/overflows.csv" ]'
"$CLI" train "${COMMON[@]}" --batch-size 16 --sync-bn --out "$T/syncbn-alone" >"$T/syncbn-alone.out" 2>&1; rc=$?
check "h) --sync-bn without --distributed: exit 2 and says so ($rc)" \
  '[ $rc -eq 2 ] && grep -q "add --distributed" "$T/syncbn-alone.out"'

# --- e) the 2-rank run resumed on 1 rank --------------------------------------------------
"$CLI" train --resume "$T/dist" --epochs 3 --batch-size 16 >"$T/resume.out" 2>&1; rc=$?
check "the 2-rank run continues on 1 rank x 16 ($rc)" '[ $rc -eq 0 ]'
check "it says the world changed" 'grep -q "was 2 rank(s) x batch 8, now 1 x 16" "$T/resume.out"'
check "epochs.csv has the third epoch" '[ "$(tail -n +2 "$T/dist/epochs.csv" | wc -l)" -eq 3 ]'

# --- d) a killed rank, a hung rank ----------------------------------------------------------
for how in kill hang; do
  port=$(free_port)
  RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
    "$CLI" train "${COMMON[@]}" --epochs 50 --batch-size 8 --distributed --dist-timeout 8 --out "$T/$how" \
    >"$T/$how.0.out" 2>&1 &
  p0=$!; PIDS+=("$p0")
  RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port TMPDIR="$T/tmp" AMPBENCH_TEST_PAUSE_AT_STEP=6 \
    "$CLI" train "${COMMON[@]}" --epochs 50 --batch-size 8 --distributed --dist-timeout 8 --out "$T/$how" \
    >"$T/$how.1.out" 2>&1 &
  p1=$!; PIDS+=("$p1")
  for _ in $(seq 1 1200); do  # the pause: up to 2 minutes, a bound that only catches a hang
    grep -q "paused after step" "$T/$how.1.out" && break
    kill -0 "$p1" 2>/dev/null || break
    sleep 0.1
  done
  [ $how = kill ] && kill -9 "$p1"
  start=$(date +%s)
  for _ in $(seq 1 600); do kill -0 "$p0" 2>/dev/null || break; sleep 0.1; done
  took=$(( $(date +%s) - start ))
  kill -0 "$p0" 2>/dev/null && { kill -9 "$p0"; echo "      rank 0 still running after ${took}s"; }
  wait $p0; rc0=$?
  check "$how: rank 0 stops non-zero ($rc0) within 60 s (${took} s)" '[ $rc0 -ne 0 ] && [ $rc0 -ne 137 ]'
  check "$how: with a message naming the collective and the timeout" \
    'grep -q "rank 0 of 2: the .* failed (.*): another rank stopped or did not answer within 8 s" "$T/$how.0.out"'
  grep "^error" "$T/$how.0.out" | head -n 1 | cut -c1-240 | sed 's/^/      /'
  kill -9 "$p1" 2>/dev/null; wait "$p1" 2>/dev/null
done

# An out-of-memory on one rank (a setting to change, not a crash: that rank stops with its
# message) stops the other at once, not after --dist-timeout (60 s here).
port=$(free_port)
for r in 0 1; do
  RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port TMPDIR="$T/tmp" AMPBENCH_TEST_OOM_AT_STEP=6 \
    AMPBENCH_TEST_OOM_RANK=1 "$CLI" train "${COMMON[@]}" --batch-size 8 --distributed --dist-timeout 60 \
    --out "$T/oom" >"$T/oom.$r.out" 2>&1 &
  eval "PID_$r=$!"; PIDS+=("$!")
done
start=$(date +%s)
wait $PID_0; rc0=$?; wait $PID_1; rc1=$?
took=$(( $(date +%s) - start ))
check "out of memory on rank 1: it says so and exits non-zero ($rc1)" \
  '[ $rc1 -ne 0 ] && grep -q "out of memory in epoch 2, step 2 of 4" "$T/oom.1.out"'
check "and rank 0 stops non-zero well before the 60 s timeout ($rc0, ${took} s)" '[ $rc0 -ne 0 ] && [ $took -lt 45 ]'
check "rank 0 keeps its epoch-1 checkpoint" '[ -s "$T/oom/checkpoint.pt" ]'

# --- f) bad launcher input: exit 2, one line ---------------------------------------------
bad() {  # bad NAME PATTERN ENV... -- ARGS
  local name=$1 pattern=$2; shift 2
  local envs=(); while [ "$1" != -- ]; do envs+=("$1"); shift; done; shift
  timeout 60 env -u RANK -u WORLD_SIZE -u SLURM_PROCID -u SLURM_NTASKS "${envs[@]}" \
    "$CLI" train "${COMMON[@]}" --batch-size 8 --distributed --out "$T/bad" "$@" >"$T/bad.out" 2>&1; local rc=$?
  check "$name: exit 2 ($rc) and says so" '[ $rc -eq 2 ] && grep -q "$pattern" "$T/bad.out"'
}
bad "no launcher variables" "needs this process's rank and the world size" --
bad "rank outside the world" "RANK=2 does not fit WORLD_SIZE=2" RANK=2 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 --
bad "Slurm's rank outside the world" "SLURM_PROCID=3 does not fit SLURM_NTASKS=2" SLURM_PROCID=3 SLURM_NTASKS=2 \
  MASTER_ADDR=127.0.0.1 --
bad "nccl on a CPU build" "nccl backend is not built into" RANK=0 WORLD_SIZE=1 -- --backend nccl
bad "an unreachable master" "rank 1 of 2: no rendezvous at 127.0.0.1:" RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 \
  MASTER_PORT=$(free_port) -- --dist-timeout 2
port=$(free_port)
for r in 0 1; do
  RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port TMPDIR="$T/tmp" \
    "$CLI" train "${COMMON[@]}" --batch-size 40 --distributed --out "$T/big" >"$T/big.$r.out" 2>&1 &
  eval "PID_$r=$!"; PIDS+=("$!")
done
wait $PID_0; rc0=$?; wait $PID_1; rc1=$?
check "a global batch larger than the training set: both ranks exit 2 ($rc0, $rc1)" \
  '[ $rc0 -eq 2 ] && [ $rc1 -eq 2 ] && grep -q "do not fill one global batch of 2 ranks x 40" "$T/big.0.out"'

# --- compare --distributed: every mode data-parallel, rank 0 writes ------------------------
port=$(free_port)
for r in 0 1; do
  RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port TMPDIR="$T/tmp" \
    "$CLI" compare "${COMMON[@]}" --epochs 1 --batch-size 8 --modes fp32,fp16 --distributed --out "$T/cmp" \
    >"$T/cmp.$r.out" 2>&1 &
  eval "PID_$r=$!"; PIDS+=("$!")
done
wait $PID_0; rc0=$?; wait $PID_1; rc1=$?
check "compare --distributed fp32,fp16: both ranks exit 0 ($rc0, $rc1)" '[ $rc0 -eq 0 ] && [ $rc1 -eq 0 ]'
check "rank 0 wrote comparison.json and each mode's distributed run dir" \
  "[ -f \"$T/cmp/comparison.json\" ] && grep -q '\"world_size\": 2' \"$T/cmp/fp16/config.json\""

# --- g) torchrun --no_python ---------------------------------------------------------------
if command -v torchrun >/dev/null 2>&1; then
  # --redirects 2 --tee 2: Debian's torchrun 1.13 under Python 3.11 fails on its default
  # "0" (Std.from_str: IntFlag no longer iterates the zero member), so stderr is teed.
  # A free rendezvous port, not --standalone's fixed 29400: e2e_launch_local's torchrun may
  # run at the same time (ctest -j2), and two rendezvous on one port break each other.
  timeout 300 torchrun --nnodes 1 --rdzv_backend c10d --rdzv_endpoint "localhost:$(free_port)" --rdzv_id "e2e-$$" \
    --nproc_per_node 2 --redirects 2 --tee 2 --no_python "$CLI" train "${COMMON[@]}" --epochs 1 \
    --batch-size 8 --distributed --out "$T/torchrun" >"$T/torchrun.out" 2>&1; rc=$?
  check "torchrun --nproc_per_node 2 --no_python (c10d rendezvous on a free port): exit 0 ($rc)" '[ $rc -eq 0 ]'
  check "its run dir says world size 2" \
    "$PY -c 'import json,sys; sys.exit(json.load(open(\"$T/torchrun/config.json\"))[\"distributed\"][\"world_size\"] != 2)'"
  [ $rc -ne 0 ] && tail -n 20 "$T/torchrun.out"
else
  echo "skip  torchrun is not installed (python3-torch)"
fi

echo "distributed: $pass passed, $fail failed"
[ $fail -eq 0 ]
