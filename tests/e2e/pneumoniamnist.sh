#!/usr/bin/env bash
# Trains small_cnn on the reference PneumoniaMNIST folder when it is present (skip: 77).
#   pneumoniamnist.sh PATH/TO/ampbench-cli SHARED_DATA_DIR
set -u
CLI=${1:?}; DATA=${2:?}/pneumoniamnist
[ -d "$DATA/train" ] || { echo "skipped: $DATA not present"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
"$CLI" train --data "$DATA" --model small_cnn --precision auto --epochs 3 --batch-size 64 --image-size 28 \
  --seed 1 --out "$T/run" --quiet || exit 1
/usr/bin/python3 - "$T/run/metrics.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
acc, auc = m["val"]["accuracy"], m["val"]["auc"]
print(f"pneumoniamnist val accuracy {acc:.3f}, AUC {auc:.3f} ({m['precision']['label']})")
sys.exit(0 if acc >= 0.85 and auc >= 0.9 else 1)
PY
