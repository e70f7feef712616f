#!/usr/bin/env bash
# A full disk never loses a run: while a checkpoint or a CSV log is written, the run stops
# with a message naming the file and "No space left on device (disk full)", exit 1; no
# partial file is left under a real name; the previous checkpoint stays loadable, and with
# space again `train --resume DIR` finishes the run with the uninterrupted run's numbers.
#   full_disk.sh PATH/TO/ampbench-cli
# Two ways: a write budget injected through AtomicFile/AppendFile
# (AMPBENCH_FAIL_WRITES_AFTER_BYTES), and a real small tmpfs where mounting is permitted
# (root; skipped with a note elsewhere).
set -u
CLI=${1:?usage: full_disk.sh PATH/TO/ampbench-cli}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d)
MNT=""
cleanup() { [ -n "$MNT" ] && umount "$MNT" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
pass=0; fail=0
check() {
  if eval "$2"; then echo "ok    $1"; pass=$((pass + 1)); else echo "FAIL  $1"; fail=$((fail + 1)); fi
}
size() { stat -c %s "$1"; }
epoch_cols() { cut -d, -f1-6,9,10 "$1"; }
no_temporaries() { ! ls "$1" | grep -q '\.tmp'; }

$PY "$HERE/make_dataset.py" "$T/data" 48 16 || { echo "cannot generate data"; exit 1; }
COMMON=(--data "$T/data" --model small_cnn --epochs 3 --batch-size 8 --image-size 16 --seed 5 --threads 2
        --checkpoint-minutes 0 --select-metric last --quiet)  # no best.pt: the budgets below are checkpoints
"$CLI" train "${COMMON[@]}" --out "$T/full-0" >"$T/full.out" 2>&1; rc=$?
check "the uninterrupted run exits 0 ($rc)" '[ $rc -eq 0 ]'
CKPT=$(size "$T/full-0/checkpoint.pt")
# Everything a run writes before its first steps.csv rows: the CSV headers, config.json, dataset.json.
BEFORE=$(( $(head -n 1 "$T/full-0/steps.csv" | wc -c) + $(head -n 1 "$T/full-0/epochs.csv" | wc -c) +
           $(head -n 1 "$T/full-0/validation.csv" | wc -c) +
           $(size "$T/full-0/config.json") + $(size "$T/full-0/dataset.json") ))

# --- 1. injected: the disk fills while epoch 2's checkpoint is written (epoch 1's fits)
AMPBENCH_FAIL_WRITES_AFTER_BYTES=$((BEFORE + 4000 + CKPT + CKPT / 2)) \
  "$CLI" train "${COMMON[@]}" --out "$T/ckpt-0" >"$T/ckpt.out" 2>&1; rc=$?
check "checkpoint write refused: exit 1 ($rc)" '[ $rc -eq 1 ]'
check "the message names checkpoint.pt and the disk full" \
  'grep -q "cannot write $T/ckpt-0/checkpoint.pt: No space left on device (disk full)" "$T/ckpt.out"'
check "it says the last good checkpoint (epoch 1) is kept and how to continue" \
  'grep -q "the last good checkpoint (epoch 1) is kept" "$T/ckpt.out" && grep -q -- "--resume" "$T/ckpt.out"'
check "no partial file left" 'no_temporaries "$T/ckpt-0"'
"$CLI" train --resume "$T/ckpt-0" --quiet >"$T/ckpt-resume.out" 2>&1; rc=$?
check "with space again, --resume finishes the run ($rc)" '[ $rc -eq 0 ]'
check "... with the uninterrupted run's numbers" \
  'diff <(epoch_cols "$T/full-0/epochs.csv") <(epoch_cols "$T/ckpt-0/epochs.csv") >/dev/null'

# --- 2. injected: the disk fills while steps.csv is written (before any checkpoint)
AMPBENCH_FAIL_WRITES_AFTER_BYTES=$((BEFORE + 60)) \
  "$CLI" train "${COMMON[@]}" --out "$T/csv-00" >"$T/csv.out" 2>&1; rc=$?
check "CSV write refused: exit 1 ($rc)" '[ $rc -eq 1 ]'
check "the message names steps.csv and the disk full" \
  'grep -q "cannot write $T/csv-00/steps.csv: No space left on device (disk full)" "$T/csv.out"'
check "no partial file left" 'no_temporaries "$T/csv-00"'

# --- 3. a real full file system: a tmpfs with room for one checkpoint and a half
MNT="$T/mnt"
mkdir -p "$MNT"
if mount -t tmpfs -o size=$(( (BEFORE + 20000 + CKPT + CKPT / 2) / 1024 + 1 ))k tmpfs "$MNT" 2>/dev/null; then
  "$CLI" train "${COMMON[@]}" --out "$MNT/run" >"$T/tmpfs.out" 2>&1; rc=$?
  check "tmpfs full: exit 1 ($rc)" '[ $rc -eq 1 ]'
  check "the message names the file and the disk full" 'grep -q "No space left on device (disk full)" "$T/tmpfs.out"'
  check "no partial file left" 'no_temporaries "$MNT/run"'
  check "a checkpoint survived" '[ -s "$MNT/run/checkpoint.pt" ]'
  mount -o remount,size=64m "$MNT"
  "$CLI" train --resume "$MNT/run" --quiet >"$T/tmpfs-resume.out" 2>&1; rc=$?
  check "with space again, --resume finishes the run ($rc)" '[ $rc -eq 0 ]'
  check "... with the uninterrupted run's numbers" \
    'diff <(epoch_cols "$T/full-0/epochs.csv") <(epoch_cols "$MNT/run/epochs.csv") >/dev/null'
  sed -n 's/^stopped: /      tmpfs message: /p' "$T/tmpfs.out"
else
  echo "skip  a real tmpfs: mount is not permitted here (needs root or CAP_SYS_ADMIN)"
fi
sed -n 's/^stopped: /      injected message (checkpoint): /p' "$T/ckpt.out"
sed -n 's/^stopped: /      injected message (steps.csv): /p' "$T/csv.out"

echo "full_disk: $pass passed, $fail failed"
[ $fail -eq 0 ]
