#!/usr/bin/env bash
# Datasets larger than memory (issue 19): peak resident memory and epoch time of training at
# 1x, 4x and 16x a generated reference set, images held in memory vs --cache-memory-mb CAP
# (decoded a chunk at a time into an unnamed file in the run folder and read back through
# a CAP-MiB LRU). Data: synthetic:N (random images; with the cap they are generated in
# chunks straight into the file, as a decode streams). One process, small_cnn, 1 epoch.
#   bench/bigdata.sh PATH/TO/ampbench-cli [REF_IMAGES SIZE CHANNELS CAP_MB THREADS]
# Peak RSS: tests/e2e/peak_rss.py (VmHWM over the whole process); epoch time: epochs.csv.
set -eu
CLI=${1:?usage: bigdata.sh PATH/TO/ampbench-cli [REF_IMAGES SIZE CHANNELS CAP_MB THREADS]}
REF=${2:-1000} SIZE=${3:-64} CH=${4:-3} CAP=${5:-16} THREADS=${6:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "reference set: $REF images, ${SIZE} px, $CH channel(s), small_cnn, batch 64, $THREADS thread(s), 1 epoch"
printf '%-6s %8s %12s %10s %14s %12s\n' scale images decoded_MiB mode peak_rss_MiB epoch_s
for scale in 1 4 16; do
  n=$((REF * scale))
  mib=$(/usr/bin/python3 -c "print(round(($n + max($n // 8, 2)) * $CH * $SIZE * $SIZE / 2**20, 1))")
  for mode in memory capped; do
    extra=(); [ "$mode" = capped ] && extra=(--cache-memory-mb "$CAP")
    rm -rf "$T/run"
    peak=$(/usr/bin/python3 "$HERE/../tests/e2e/peak_rss.py" "$CLI" train --data "synthetic:$n" --image-size "$SIZE" \
      --channels "$CH" --model small_cnn --epochs 1 --batch-size 64 --threads "$THREADS" --no-augment \
      --checkpoint-minutes 0 --quiet --out "$T/run" "${extra[@]}")
    secs=$(awk -F, 'NR == 2 { print $7 }' "$T/run/epochs.csv")
    label=$mode; [ "$mode" = capped ] && label="cap $CAP"
    printf '%-6s %8s %12s %10s %14s %12s\n' "${scale}x" "$n" "$mib" "$label" "$peak" "$secs"
  done
done
