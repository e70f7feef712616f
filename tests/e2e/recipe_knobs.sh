#!/usr/bin/env bash
# The recipe's knobs from the command line (issue 17): augmentation, label smoothing, the
# weight average and test-time augmentation reach config.json and the model card; evaluate
# and predict take --tta and the evaluation file records it; out-of-range values are
# refused with exit 2 and a message naming the flag.
#   recipe_knobs.sh PATH/TO/ampbench-cli
set -u
CLI=${1:?usage: recipe_knobs.sh PATH/TO/ampbench-cli}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
check() {
  if eval "$2"; then echo "ok    $1"; pass=$((pass + 1)); else echo "FAIL  $1"; fail=$((fail + 1)); fi
}
json() { $PY -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

$PY "$HERE/make_dataset.py" "$T/data" 24 16 || { echo "cannot generate data"; exit 1; }
COMMON=(--data "$T/data" --model small_cnn --epochs 2 --batch-size 8 --image-size 16 --seed 5 --threads 2 --quiet)
"$CLI" train "${COMMON[@]}" --out "$T/run" --max-translate 0.05 --brightness 0.1 --contrast 0.1 --gamma 0.15 \
  --label-smoothing 0.1 --ema-decay 0.99 --tta 3 --export >"$T/train.out" 2>&1; rc=$?
check "training with every knob exits 0 ($rc)" '[ $rc -eq 0 ]'
check "config.json records them" \
  '[ "$(json "$T/run/config.json" "d[\"optim\"][\"ema_decay\"], d[\"optim\"][\"label_smoothing\"], d[\"data\"][\"augment\"][\"gamma\"], d[\"evaluation\"][\"tta_views\"]")" = "(0.99, 0.1, 0.15, 3)" ]'
check "the end-of-run evaluation used 3 views" 'grep -q "\"tta\": \"3 views" "$T/run/evaluation_val.json"'
check "the model card records the weight average and the augmentation" \
  '[ "$(json "$T/run/model.json" "d[\"training\"][\"ema_decay\"], d[\"training\"][\"augmentation\"][\"max_translate\"]")" = "(0.99, 0.05)" ]'
check "... and says the exported weights are the average" 'grep -q "the exported weights are the average" "$T/run/MODEL_CARD.md"'

"$CLI" evaluate --run "$T/run" --tta 1 --resamples 0 --json >"$T/eval1.out" 2>&1; rc=$?
check "evaluate --tta 1 exits 0 ($rc)" '[ $rc -eq 0 ]'
check "... and says none" 'grep -q "\"tta\": \"none\"" "$T/eval1.out"'
"$CLI" evaluate --run "$T/run" --tta 4 --resamples 0 --json >"$T/eval4.out" 2>&1; rc=$?
check "evaluate --tta 4 says 4 views ($rc)" '[ $rc -eq 0 ] && grep -q "\"tta\": \"4 views" "$T/eval4.out"'
IMG=$(find "$T/data" -name '*.pgm' | head -n 1)
"$CLI" predict --run "$T/run" --tta 2 "$IMG" >"$T/predict.out" 2>&1; rc=$?
check "predict --tta 2 exits 0 ($rc)" '[ $rc -eq 0 ]'
"$CLI" predict --run "$T/run" --tta 0 "$IMG" >"$T/predict0.out" 2>&1; rc=$?
check "predict --tta 0 is refused ($rc)" '[ $rc -ne 0 ] && grep -q -- "--tta" "$T/predict0.out"'

for bad in "--ema-decay 1" "--label-smoothing 1.5" "--max-translate 0.6" "--gamma=-0.1" "--tta 0"; do
  # shellcheck disable=SC2086
  "$CLI" train "${COMMON[@]}" --out "$T/bad" $bad >"$T/bad.out" 2>&1; rc=$?
  flag=${bad%% *}; flag=${flag%%=*}
  check "train $bad: exit 2 naming $flag ($rc)" '[ $rc -eq 2 ] && grep -q -- "$flag" "$T/bad.out"'
done
"$CLI" train --resume "$T/run" --epochs 3 --ema-decay 0.9 --quiet >"$T/resume.out" 2>&1; rc=$?
check "changing --ema-decay on resume is refused ($rc)" '[ $rc -eq 2 ] && grep -q "ema_decay" "$T/resume.out"'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
