#!/usr/bin/env bash
# scripts/launch-local without torchrun (AMPBENCH_LAUNCH_DIRECT=1):
#  a) 2 ranks x 1 thread train a tiny generated dataset: exit 0, one run dir whose
#     config.json's "distributed" block says world size 2, output prefixed by rank;
#  b) a nonexistent --data: both ranks refuse it, exit 2 propagates;
#  c) a stand-in CLI whose rank 1 fails at once while rank 0 would sleep for minutes: the
#     script stops rank 0 and exits with rank 1's status (3), with --threads cores/N added
#     (read from rank 1's output: rank 0 may be stopped before it prints anything);
#  d) bad usage: exit 2; e) the torchrun path, where torchrun is installed.
#   launch_local.sh PATH/TO/ampbench-cli PATH/TO/scripts/launch-local
set -u
CLI=${1:?usage: launch_local.sh PATH/TO/ampbench-cli PATH/TO/launch-local}
LAUNCH=${2:?usage: launch_local.sh PATH/TO/ampbench-cli PATH/TO/launch-local}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
check() {
  if eval "$2"; then echo "ok    $1"; pass=$((pass + 1)); else echo "FAIL  $1"; fail=$((fail + 1)); fi
}
export AMPBENCH_LAUNCH_DIRECT=1 AMPBENCH_CLI="$CLI" TMPDIR="$T"

$PY "$HERE/make_dataset.py" "$T/data" 24 16 --splits || { echo "cannot generate data"; exit 1; }

# --- a) 2 ranks ---------------------------------------------------------------------------
timeout 600 "$LAUNCH" 2 train --data "$T/data" --model small_cnn --epochs 1 --image-size 16 --batch-size 8 \
  --threads 1 --no-augment --checkpoint-minutes 0 --out "$T/run" >"$T/a.out" 2>&1; rc=$?
check "2 ranks exit 0 ($rc)" '[ $rc -eq 0 ]'
[ $rc -eq 0 ] || tail -n 20 "$T/a.out"
check "config.json's distributed block: world size 2" \
  "$PY -c 'import json,sys; sys.exit(json.load(open(\"$T/run/config.json\"))[\"distributed\"][\"world_size\"] != 2)'"
check "steps.csv and metrics.json written" '[ -s "$T/run/steps.csv" ] && [ -s "$T/run/metrics.json" ]'
check "rank 0's lines are prefixed (the other ranks are quiet)" 'grep -q "^\[rank 0\] epoch 1/1" "$T/a.out"'

# --- b) nonexistent data ------------------------------------------------------------------
timeout 300 "$LAUNCH" 2 train --data "$T/no-such-folder" --model small_cnn --epochs 1 --threads 1 \
  --out "$T/bad" >"$T/b.out" 2>&1; rc=$?
check "a nonexistent --data: exit 2 propagates ($rc)" '[ $rc -eq 2 ]'
check "each rank's reason is shown, prefixed" 'grep -q "^\[rank 0\] error: .*no-such-folder" "$T/b.out" && grep -q "^\[rank 1\] error: .*no-such-folder" "$T/b.out"'

# --- c) one rank fails, the other is stopped ----------------------------------------------
cat >"$T/fake-cli" <<'EOF'
#!/usr/bin/env bash
echo "args: $*"
if [ "$RANK" = 1 ]; then
  echo "rank one gives up"
  exit 3
fi
exec sleep 317
EOF
chmod +x "$T/fake-cli"
start=$SECONDS
AMPBENCH_CLI="$T/fake-cli" AMPBENCH_LAUNCH_GRACE=5 timeout 120 "$LAUNCH" 2 train --data x >"$T/c.out" 2>&1; rc=$?
check "rank 1 exits 3: the script exits 3 ($rc)" '[ $rc -eq 3 ]'
check "and it did not wait for rank 0's sleep ($((SECONDS - start)) s; a hang would be 120 s)" '[ $((SECONDS - start)) -lt 100 ]'
check "it says which rank failed" 'grep -q "rank 1 exited with status 3" "$T/c.out"'
check "rank 1's output is prefixed" 'grep -q "^\[rank 1\] rank one gives up" "$T/c.out"'
per=$(( $(nproc) / 2 )); [ $per -ge 1 ] || per=1
check "--threads cores/N added when not given" "grep -q -- '^\[rank 1\] args: train --distributed --data x --threads $per\$' '$T/c.out'"
check "no rank is left running" '! pgrep -fx "sleep 317" >/dev/null'

# --- e) through torchrun, where Debian's python3-torch installed it ---------------------------
if command -v torchrun >/dev/null 2>&1; then
  AMPBENCH_LAUNCH_DIRECT=0 timeout 300 "$LAUNCH" 2 train --data "$T/data" --model small_cnn --epochs 1 --image-size 16 \
    --batch-size 8 --no-augment --checkpoint-minutes 0 --out "$T/torchrun" >"$T/e.out" 2>&1; rc=$?
  check "through torchrun: exit 0 ($rc)" '[ $rc -eq 0 ]'
  [ $rc -eq 0 ] || tail -n 20 "$T/e.out"
  check "through torchrun: world size 2" \
    "$PY -c 'import json,sys; sys.exit(json.load(open(\"$T/torchrun/config.json\"))[\"distributed\"][\"world_size\"] != 2)'"
else
  echo "skip  torchrun is not installed (python3-torch)"
fi

# --- d) usage -----------------------------------------------------------------------------
"$LAUNCH" 2 >/dev/null 2>&1; rc1=$?
"$LAUNCH" zero train >/dev/null 2>&1; rc2=$?
"$LAUNCH" 2 evaluate --data x >/dev/null 2>&1; rc3=$?
check "bad usage exits 2 ($rc1 $rc2 $rc3)" '[ $rc1 -eq 2 ] && [ $rc2 -eq 2 ] && [ $rc3 -eq 2 ]'

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
