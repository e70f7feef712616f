#!/usr/bin/env bash
# Issue 17 end to end: --recipe chest-xray (defaults in config.json, explicit flags win, refused
# on data it is not for), the run's model (best.pt) and threshold (chosen on validation) used by
# evaluate, predict and export, and validation vs test side by side for a train/ val/ test/ folder.
#   recipe.sh PATH/TO/ampbench-cli
set -u
CLI=${1:?usage: recipe.sh PATH/TO/ampbench-cli}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
pass=0; fail=0
check() {
  if eval "$2"; then echo "ok    $1"; pass=$((pass + 1)); else echo "FAIL  $1"; fail=$((fail + 1)); fi
}
json() { $PY -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

$PY "$HERE/make_dataset.py" "$T/data" 40 24 --splits || { echo "cannot generate data"; exit 1; }
# A test/ folder beside train/ and val/ (the Kaggle layout): the val images again, darker.
$PY - "$T/data" <<'PY'
import os, sys
root = sys.argv[1]
for cls in os.listdir(os.path.join(root, "val")):
    os.makedirs(os.path.join(root, "test", cls), exist_ok=True)
    for name in os.listdir(os.path.join(root, "val", cls)):
        raw = open(os.path.join(root, "val", cls, name), "rb").read()
        head, pixels = raw[:raw.index(b"255\n") + 4], raw[raw.index(b"255\n") + 4:]
        open(os.path.join(root, "test", cls, name), "wb").write(head + bytes(p // 3 for p in pixels))
PY

"$CLI" train --data "$T/data" --recipe chest-xray --image-size 24 --epochs 3 --seed 2 --out "$T/run" \
  >"$T/out" 2>&1; rc=$?
check "train --recipe chest-xray exits 0 ($rc)" '[ $rc -eq 0 ]'
check "config.json records the recipe" '[ "$(json "$T/run/config.json" "d[\"recipe\"]")" = chest-xray ]'
check "the recipe's defaults are in config.json (balance loss, youden, balanced accuracy)" \
  '[ "$(json "$T/run/config.json" "d[\"data\"][\"balance\"], d[\"selection\"][\"threshold_rule\"], d[\"selection\"][\"metric\"]")" = "loss youden balanced_accuracy" ]'
check "an explicit --image-size and --epochs win over the recipe" \
  '[ "$(json "$T/run/config.json" "d[\"data\"][\"image_size\"], d[\"optim\"][\"epochs\"]")" = "24 3" ]'
check "best.pt is written and metrics.json names the selected epoch" \
  '[ -f "$T/run/best.pt" ] && [ "$(json "$T/run/metrics.json" "d[\"selection\"][\"metric\"]")" = balanced_accuracy ]'
check "the threshold was chosen on validation" \
  '[ "$(json "$T/run/decision.json" "d[\"source\"]")" = "youden on val" ]'
check "val_vs_test.json is written and printed" \
  '[ -f "$T/run/val_vs_test.json" ] && grep -q "validation (.* images) vs test" "$T/out"'
check "the darker test images show as an intensity gap" \
  '[ "$(json "$T/run/val_vs_test.json" "[r[\"gap\"] for r in d[\"rows\"] if r[\"key\"] == \"mean_intensity\"][0]")" = True ]'

# evaluate and predict use the run's model and threshold
"$CLI" evaluate --run "$T/run" --split test --json > "$T/eval.json" 2>"$T/eval.err"; rc=$?
check "evaluate exits 0 ($rc)" '[ $rc -eq 0 ]'
thr=$(json "$T/run/decision.json" 'd["threshold"]')
check "evaluate uses the chosen threshold ($thr)" \
  "$PY -c 'import json,sys; e=json.load(open(\"$T/run/evaluation_test.json\")); sys.exit(0 if abs(e[\"threshold\"] - $thr) < 1e-12 else 1)'"
img=$(ls "$T/data/test/PNEUMONIA" | head -1)
"$CLI" predict --model "$T/run" --json "$T/data/test/PNEUMONIA/$img" > "$T/pred.json" 2>"$T/pred.err"; rc=$?
check "predict exits 0 and names the run's rule ($rc)" '[ $rc -eq 0 ] && grep -q "youden on val" "$T/pred.json" "$T/pred.err"'
"$CLI" export --run "$T/run" --out "$T/model" --format torch,card >/dev/null 2>&1; rc=$?
check "export exits 0 ($rc)" '[ $rc -eq 0 ]'
check "model.json carries the chosen threshold and the selected epoch" \
  "$PY -c 'import json,sys; c=json.load(open(\"$T/model/model.json\")); sys.exit(0 if abs(c[\"decision\"][\"threshold\"] - $thr) < 1e-12 and c[\"training\"][\"selected_epoch\"][\"epoch\"] >= 1 else 1)'"

# refused on data the recipe is not for: three classes
mkdir -p "$T/three"; cp -r "$T/data/train/NORMAL" "$T/three/a"; cp -r "$T/data/train/PNEUMONIA" "$T/three/b"
cp -r "$T/data/train/NORMAL" "$T/three/c"
"$CLI" train --data "$T/three" --recipe chest-xray --image-size 24 --epochs 1 --out "$T/run3" >"$T/out3" 2>&1; rc=$?
check "a three-class dataset is refused with exit 2 ($rc)" '[ $rc -eq 2 ] && grep -q "leave out --recipe" "$T/out3"'
"$CLI" train --data "$T/data" --recipe imagenet --out "$T/run4" >"$T/out4" 2>&1; rc=$?
check "an unknown recipe is refused with exit 2 naming the recipes ($rc)" '[ $rc -eq 2 ] && grep -q "chest-xray" "$T/out4"'

echo "recipe: $pass passed, $fail failed"
[ $fail -eq 0 ]
