#!/usr/bin/env bash
# Smoke test of bench_onednn_kernels (CTest bench_onednn_kernels_smoke): tiny shapes, one hot
# round, both data types (bf16 skipped where the tool exits 77: no bf16 kernels below AVX-512).
# Checks that it exits 0, that every timed implementation agreed with the reference, that each
# convolution direction and batch norm has rows and a summary line, that the JSON parses with
# every figure where it belongs, no implementation listed twice in a row and at least one
# alternative compared; and that a bad argument is refused with exit 2 and a one-line message.
# Times are never checked.
set -u
BIN=$1
fail() { echo "FAIL: $*"; echo "--- output ---"; echo "$out"; exit 1; }

for d in f32 bf16; do
  out=$("$BIN" --dtype $d --size 32 --batch 2 --rounds 1 --threads 1 --cache hot 2>&1); rc=$?
  if [ $d = bf16 ] && [ $rc -eq 77 ]; then
    [ "$(wc -l <<<"$out")" -eq 1 ] || fail "--dtype bf16, exit 77: expected a one-line reason"
    echo "bf16 skipped: $out"
    continue
  fi
  [ $rc -eq 0 ] || fail "--dtype $d: exit status $rc, expected 0"
  grep -q '^check: .*(ok)$' <<<"$out" || fail "--dtype $d: no agreeing check"
  grep -q "^oneDNN [0-9.]*, ISA .*, $d, ResNet-18 at 32 px, batch 2" <<<"$out" || fail "--dtype $d: no header"
  for dir in forward backward-data backward-weights; do
    grep -Eq "^  convolution $dir +first +[0-9.]+ +fastest per shape +[0-9.]+ +gain" <<<"$out" ||
      fail "--dtype $d: no summary for convolution $dir"
  done
  grep -Eq '^  batch norm backward +first' <<<"$out" || fail "--dtype $d: no batch-norm summary"
  grep -Eq '^  forward +[a-z_0-9]+:[a-z_0-9]+ +[0-9.]+ ms \[[0-9.]+-[0-9.]+\]  first' <<<"$out" ||
    fail "--dtype $d: no row for the engine's forward kernel"

  out=$("$BIN" --dtype $d --size 32 --batch 2 --rounds 1 --threads 1 --cache hot --json 2>&1); rc=$?
  [ $rc -eq 0 ] || fail "--dtype $d --json: exit status $rc"
  OUT=$out /usr/bin/python3 -c '
import json, os, sys
d = json.loads(os.environ["OUT"])
assert d["agree"] is True and d["dtype"] == sys.argv[1] and d["batch"] == 2, d
convs = [r for r in d["rows"] if r["primitive"] == "convolution"]
# ResNet-18: 11 distinct convolution shapes, 20 layers; the stem has no backward-data.
assert len({r["shape"] for r in convs}) == 11, len(convs)
assert sum(r["direction"] == "backward-data" for r in convs) == 10
assert sum(r["layers"] for r in convs if r["direction"] == "forward") == 20
bn = [r for r in d["rows"] if r["primitive"].startswith("batch norm") and r["direction"] == "forward"]
assert sum(r["layers"] for r in bn if r["engine_layout"]) == 20
assert sum(r["layers"] for r in bn if not r["engine_layout"]) == 20
for r in d["rows"]:
    assert r["impls"] and all(i["ms"] is None or i["ms"] >= 0 for i in r["impls"]), r
    names = [i["name"] for i in r["impls"]]
    assert len(names) == len(set(names)), ("listed twice", r)
    assert all((i["ms"] is None) == (i["ms_min"] is None) for i in r["impls"]), r
# Some alternative was run and compared (not only first kernels).
assert any(i["rel_diff"] is not None for r in d["rows"] for i in r["impls"]), "nothing compared"
' "$d" || fail "--dtype $d --json: the JSON does not hold what it should"
done

out=$("$BIN" --dtype f16 2>&1); rc=$?
[ $rc -eq 2 ] || fail "--dtype f16: exit status $rc, expected 2"
[ "$(wc -l <<<"$out")" -eq 1 ] || fail "--dtype f16: expected a one-line message"
grep -q -- '--dtype' <<<"$out" || fail "--dtype f16: the message does not name the option"
echo "ok"
