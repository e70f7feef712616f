#!/bin/bash
# The scripted mode under Xvfb: ampbench trains on generated data, saves a screenshot of
# the whole window and exits 0; the PNG must be the requested size and not blank.
# Usage: scripted_mode_test.sh AMPBENCH UI_TEST_TOOL
set -euo pipefail
ampbench=$1
tool=$2
if ! command -v xvfb-run >/dev/null; then
  echo "xvfb-run not installed: skipping"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDG_CONFIG_HOME=$work/config XDG_DATA_HOME=$work/data
QT_QPA_PLATFORM=offscreen "$tool" make-data "$work/images"
QT_QPA_PLATFORM=xcb xvfb-run -a -s '-screen 0 1600x1000x24' \
  "$ampbench" --data "$work/images" --precision bf16 --model small_cnn --epochs 2 --batch-size 8 \
  --image-size 16 --out "$work/run" --start --screenshot "$work/shot.png" --window-size 1280x800 \
  --exit-when-done
test -f "$work/run/epochs.csv"
QT_QPA_PLATFORM=offscreen "$tool" check-png "$work/shot.png" 1280 800
# A bad dataset ends with exit code 2 and the reason on stderr.
mkdir -p "$work/empty"
set +e
QT_QPA_PLATFORM=xcb xvfb-run -a -s '-screen 0 1600x1000x24' "$ampbench" --data "$work/empty" --start --exit-when-done 2>"$work/err.txt"
rc=$?
set -e
cat "$work/err.txt"
test "$rc" -eq 2
test -s "$work/err.txt"
# --show precision: the Precision tab of a run reopened from its grad_stats.csv / overflows.csv.
QT_QPA_PLATFORM=offscreen "$tool" make-precision-run "$work/precision-run"
QT_QPA_PLATFORM=xcb xvfb-run -a -s '-screen 0 1600x1000x24' \
  "$ampbench" --open "$work/precision-run" --show precision --screenshot "$work/precision.png" --window-size 1280x800 \
  --exit-when-done
QT_QPA_PLATFORM=offscreen "$tool" check-png "$work/precision.png" 1280 800
# --show results: the Results tab of the first run (its evaluation files, or evaluated on a
# worker); the screenshot waits until the tab has loaded and decoded its thumbnails.
QT_QPA_PLATFORM=xcb xvfb-run -a -s '-screen 0 1600x1000x24' \
  "$ampbench" --open "$work/run" --show results --screenshot "$work/results.png" --window-size 1280x800 \
  --exit-when-done 2>"$work/results-err.txt" || { cat "$work/results-err.txt"; exit 1; }
cat "$work/results-err.txt"
test ! -s "$work/results-err.txt" || ! grep -q "results:" "$work/results-err.txt"
test -f "$work/run/evaluation_val.json"
test -f "$work/run/predictions_val.csv"
QT_QPA_PLATFORM=offscreen "$tool" check-png "$work/results.png" 1280 800
# An unknown --show view is refused (exit 2) with the valid ones named.
set +e
QT_QPA_PLATFORM=offscreen "$ampbench" --open "$work/run" --show plots --exit-when-done 2>"$work/err.txt"
rc=$?
set -e
cat "$work/err.txt"
test "$rc" -eq 2
grep -q "live, precision, comparison" "$work/err.txt"
# --follow: a finished run (metrics.json newer than its logs) is followed to its end at
# once: exit 0 and a screenshot; a folder that is not there: exit 2 with the reason.
QT_QPA_PLATFORM=xcb xvfb-run -a -s '-screen 0 1600x1000x24' \
  "$ampbench" --follow "$work/run" --screenshot "$work/follow.png" --window-size 1280x800 --exit-when-done
QT_QPA_PLATFORM=offscreen "$tool" check-png "$work/follow.png" 1280 800
set +e
QT_QPA_PLATFORM=offscreen timeout 60 "$ampbench" --follow "$work/no-such-run" --exit-when-done 2>"$work/err.txt"
rc=$?
set -e
cat "$work/err.txt"
test "$rc" -eq 2
grep -q "no-such-run is not a folder" "$work/err.txt"
echo "scripted mode ok"
