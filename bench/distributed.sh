#!/usr/bin/env bash
# 1 process vs 2 data-parallel ranks (c10d/Gloo on loopback), the same global batch: step
# time, the share of a step blocked on the gradient all-reduce (rank 0's "distributed:"
# line), scaling efficiency = (2-rank img/s) / (2 x 1-process img/s).
#   bench/distributed.sh PATH/TO/ampbench-cli [MODEL SIZE GLOBAL_BATCH IMAGES EPOCHS]...
#   AMPBENCH_BENCH_DATA=DIR bench/distributed.sh ...   a real dataset instead of generated
#     images (IMAGES is then ignored; decoded once into a cache the runs share); the table
#     then also has 1 process x 2 threads and 2 ranks with --sync-bn.
# Figures are medians of the epochs after the first (epochs.csv's images_per_s; the first
# when there is only one).
set -eu
CLI=${1:?usage: distributed.sh PATH/TO/ampbench-cli}
shift
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
REAL=${AMPBENCH_BENCH_DATA:-}
[ $# -eq 0 ] && set -- small_cnn 32 32 512 3 resnet18 32 16 128 3
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
median_ips() { /usr/bin/python3 -c "import csv,statistics,sys; r=list(csv.DictReader(open(sys.argv[1]))); print(statistics.median(float(x['images_per_s']) for x in r[1:] or r))" "$1"; }
free_port() { /usr/bin/python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"; }
ms() { echo "1000*$1/$2" | bc -l; }
two_ranks() {  # two_ranks OUT ARGS...: 2 ranks x 1 thread, rank 0's stderr in OUT.err
  local out=$1; shift
  local port; port=$(free_port)
  for r in 1 0; do
    RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
      "$CLI" train "$@" --threads 1 --distributed --out "$out" 2>"$out.$r.err" &
  done
  wait
}
while [ $# -ge 5 ]; do
  model=$1 size=$2 gb=$3 n=$4 epochs=$5; shift 5
  if [ -n "$REAL" ]; then
    data=$REAL; cache=(--cache "$T/real-$size.cache")
  else
    data=$T/data; cache=()
    rm -rf "$data"; /usr/bin/python3 "$HERE/../tests/e2e/make_dataset.py" "$data" $((n / 2)) "$size"
  fi
  common=(--data "$data" "${cache[@]}" --model "$model" --image-size "$size" --epochs "$epochs" --no-augment
          --checkpoint-minutes 0 --eval-every 1000 --quiet --val-fraction 0.1 --seed 1)
  rm -rf "$T/one" "$T/two" "$T/one2" "$T/sync"
  "$CLI" train "${common[@]}" --threads 1 --batch-size "$gb" --out "$T/one" >/dev/null
  two_ranks "$T/two" "${common[@]}" --batch-size $((gb / 2))
  one=$(median_ips "$T/one/epochs.csv"); two=$(median_ips "$T/two/epochs.csv")
  steps=$(awk -F, 'NR > 1 && $1 == 1' "$T/one/steps.csv" | wc -l)
  printf '%s %spx global batch %s (%s steps/epoch): 1 process x 1 thread %.1f img/s (%.0f ms/step), 2 ranks x 1 thread %.1f img/s (%.0f ms/step), efficiency %.2f\n' \
    "$model" "$size" "$gb" "$steps" "$one" "$(ms "$gb" "$one")" "$two" "$(ms "$gb" "$two")" "$(echo "$two/(2*$one)" | bc -l)"
  grep "^distributed:" "$T/two.0.err" | sed 's/^/  /'
  if [ -n "$REAL" ]; then
    "$CLI" train "${common[@]}" --threads 2 --batch-size "$gb" --out "$T/one2" >/dev/null
    two_ranks "$T/sync" "${common[@]}" --batch-size $((gb / 2)) --sync-bn
    one2=$(median_ips "$T/one2/epochs.csv"); sync=$(median_ips "$T/sync/epochs.csv")
    printf '  1 process x 2 threads %.1f img/s (%.0f ms/step); 2 ranks x 1 thread --sync-bn %.1f img/s (%.0f ms/step); 2 ranks / (1 x 2 threads) = %.2f\n' \
      "$one2" "$(ms "$gb" "$one2")" "$sync" "$(ms "$gb" "$sync")" "$(echo "$two/$one2" | bc -l)"
    grep "^distributed:" "$T/sync.0.err" | sed 's/^/  /'
    for d in one one2 two sync; do
      printf '  %-4s final val: %s\n' "$d" "$(tail -n 1 "$T/$d/epochs.csv" | cut -d, -f4-6)"
    done
  fi
  echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
done
