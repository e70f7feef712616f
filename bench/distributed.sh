#!/usr/bin/env bash
# 1 process vs 2 data-parallel ranks (c10d/Gloo on loopback), each process 1 thread, the same
# global batch: step time, the share of a step blocked on the gradient all-reduce (rank
# 0's "distributed:" line), scaling efficiency = (2-rank img/s) / (2 x 1-process img/s).
#   bench/distributed.sh PATH/TO/ampbench-cli [MODEL SIZE GLOBAL_BATCH IMAGES EPOCHS]...
# Figures are medians of the epochs after the first (epochs.csv's images_per_s).
set -eu
CLI=${1:?usage: distributed.sh PATH/TO/ampbench-cli}
shift
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
[ $# -eq 0 ] && set -- small_cnn 32 32 512 3 resnet18 32 16 128 3
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
median_ips() { /usr/bin/python3 -c "import csv,statistics,sys; r=list(csv.DictReader(open(sys.argv[1]))); print(statistics.median(float(x['images_per_s']) for x in r[1:] or r))" "$1"; }
while [ $# -ge 5 ]; do
  model=$1 size=$2 gb=$3 n=$4 epochs=$5; shift 5
  rm -rf "$T/data"; /usr/bin/python3 "$HERE/../tests/e2e/make_dataset.py" "$T/data" $((n / 2)) "$size"
  common=(--data "$T/data" --model "$model" --image-size "$size" --epochs "$epochs" --threads 1 --no-augment
          --checkpoint-minutes 0 --eval-every 1000 --quiet --val-fraction 0.1)
  "$CLI" train "${common[@]}" --batch-size "$gb" --out "$T/one" >/dev/null
  port=$(/usr/bin/python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
  for r in 1 0; do
    RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
      "$CLI" train "${common[@]}" --batch-size $((gb / 2)) --distributed --out "$T/two" 2>"$T/two.$r.err" &
  done
  wait
  one=$(median_ips "$T/one/epochs.csv"); two=$(median_ips "$T/two/epochs.csv")
  steps=$(awk -F, 'NR > 1 && $1 == 1' "$T/one/steps.csv" | wc -l)
  printf '%s %spx global batch %s (%s steps/epoch): 1 process %.1f img/s (%.0f ms/step), 2 ranks %.1f img/s (%.0f ms/step), efficiency %.2f\n' \
    "$model" "$size" "$gb" "$steps" "$one" "$(echo "1000*$gb/$one" | bc -l)" "$two" "$(echo "1000*$gb/$two" | bc -l)" \
    "$(echo "$two/(2*$one)" | bc -l)"
  grep "^distributed:" "$T/two.0.err" | sed 's/^/  /'
done
