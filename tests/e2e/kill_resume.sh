#!/usr/bin/env bash
# Exact resume through the CLI: a run killed with SIGKILL inside epoch 2 and continued with
# `ampbench-cli train --resume DIR` alone ends with the uninterrupted run's numbers, in fp32
# and in fp16 with the loss scaler (scale and growth tracker restored): steps.csv, epochs.csv
# (all but the timing columns) and metrics.json's validation metrics compared as text.
#   kill_resume.sh PATH/TO/ampbench-cli
# The kill is deterministic: the run checkpoints after step K (AMPBENCH_TEST_CHECKPOINT_AT_STEP)
# and pauses after step P > K (AMPBENCH_TEST_PAUSE_AT_STEP); the script waits for step P's row
# in steps.csv and kills -9, so the logs hold rows past the checkpoint, as after a real kill.
set -u
CLI=${1:?usage: kill_resume.sh PATH/TO/ampbench-cli}
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
# The columns that do not depend on timing.
steps_cols() { cut -d, -f1-7 "$1"; }
epoch_cols() { cut -d, -f1-6,9,10 "$1"; }
val_of() { $PY -c "import json,sys; print(json.dumps(json.load(open(sys.argv[1]))['val'], sort_keys=True))" "$1"; }

$PY "$HERE/make_dataset.py" "$T/data" 48 16 || { echo "cannot generate data"; exit 1; }
# A low learning rate keeps the losses far from 0 after 3 epochs: a comparison of real digits.
COMMON=(--data "$T/data" --model small_cnn --epochs 3 --batch-size 8 --image-size 16 --seed 5 --threads 2
        --lr 0.002 --checkpoint-minutes 0)

for mode in fp32 fp16; do
  EXTRA=()
  # fp16: a scale that overflows first and grows every 4 clean steps, so the scale and the
  # growth tracker both matter after the resume.
  [ "$mode" = fp16 ] && EXTRA=(--precision fp16 --init-scale 1048576 --growth-interval 4)
  "$CLI" train "${COMMON[@]}" "${EXTRA[@]}" --quiet --out "$T/$mode-full" >"$T/$mode-full.out" 2>&1; rc=$?
  check "$mode: the uninterrupted run exits 0 ($rc)" '[ $rc -eq 0 ]'
  spe=$(awk -F, 'NR > 1 && $1 == 1' "$T/$mode-full/steps.csv" | wc -l)
  K=$((spe + 3)); P=$((spe + 6))  # checkpoint after epoch 2's step 3, killed after its step 6
  check "$mode: epoch 2 has room for the kill ($spe steps per epoch)" '[ $spe -ge 8 ]'

  AMPBENCH_TEST_CHECKPOINT_AT_STEP=$K AMPBENCH_TEST_PAUSE_AT_STEP=$P \
    "$CLI" train "${COMMON[@]}" "${EXTRA[@]}" --quiet --out "$T/$mode-kill" >"$T/$mode-kill.out" 2>&1 &
  pid=$!; PIDS+=("$pid")
  for _ in $(seq 1 1200); do  # up to 2 minutes: a bound that only catches a hang
    awk -F, -v p="$P" 'NR > 1 && $2 == p { found = 1 } END { exit !found }' "$T/$mode-kill/steps.csv" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rc=$?
  check "$mode: killed with SIGKILL at step $P, inside epoch 2 (rc $rc)" '[ $rc -eq 137 ]'
  check "$mode: the killed run left no metrics.json" '[ ! -e "$T/$mode-kill/metrics.json" ]'
  check "$mode: its steps.csv runs past the checkpoint (step $K) to step $P" \
    '[ "$(tail -n 1 "$T/$mode-kill/steps.csv" | cut -d, -f2)" = "$P" ]'
  printf '2,%s,0.69' "$((P + 1))" >>"$T/$mode-kill/steps.csv"  # and a row cut mid-write

  "$CLI" train --resume "$T/$mode-kill" >"$T/$mode-resume.out" 2>&1; rc=$?
  check "$mode: train --resume DIR alone exits 0 ($rc)" '[ $rc -eq 0 ]'
  check "$mode: it says where it continues" \
    'grep -q "resuming at epoch 2, step $((K - spe + 1)) of $spe (checkpoint inside the epoch), global step $((K + 1))" "$T/$mode-resume.out"'
  check "$mode: steps.csv equals the uninterrupted run's (loss, lr, loss scale per step)" \
    'diff <(steps_cols "$T/$mode-full/steps.csv") <(steps_cols "$T/$mode-kill/steps.csv") >/dev/null'
  check "$mode: epochs.csv equals it (train and val loss, accuracy, AUC, overflows, scale)" \
    'diff <(epoch_cols "$T/$mode-full/epochs.csv") <(epoch_cols "$T/$mode-kill/epochs.csv") >/dev/null'
  check "$mode: metrics.json's validation metrics are identical" \
    '[ "$(val_of "$T/$mode-full/metrics.json")" = "$(val_of "$T/$mode-kill/metrics.json")" ]'
  # The figures of docs/reliability/resume.md: epoch 3's row and the final validation loss.
  for run in full kill; do
    echo "      $mode $run: epoch 3 $(epoch_cols "$T/$mode-$run/epochs.csv" | tail -n 1); val loss" \
      "$($PY -c "import json,sys; print(repr(json.load(open(sys.argv[1]))['val']['loss']))" "$T/$mode-$run/metrics.json")"
  done
done
check "fp16: the loss scale moved during the run" \
  '[ "$(tail -n +2 "$T/fp16-full/steps.csv" | cut -d, -f5 | sort -u | wc -l)" -ge 3 ]'

echo "kill_resume: $pass passed, $fail failed"
[ $fail -eq 0 ]
