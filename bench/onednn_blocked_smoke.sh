#!/usr/bin/env bash
# Smoke test of bench_onednn_blocked (CTest bench_onednn_blocked_smoke): tiny shapes, two
# rounds. Checks that it exits 0, that the three layouts agreed numerically, that each
# variant has a row in the table and both ceiling lines are printed; and that a bad
# argument is refused with exit 2 and a one-line message. Times are never checked.
set -u
BIN=$1
fail() { echo "FAIL: $*"; echo "--- output ---"; echo "$out"; exit 1; }

out=$("$BIN" --batch 2 --size 32 --rounds 2 2>&1); rc=$?
[ $rc -eq 0 ] || fail "exit status $rc, expected 0"
grep -q '^check: .*(ok)$' <<<"$out" || fail "no agreeing numerical check"
for v in nchw nhwc blocked; do
  grep -Eq "^$v +[0-9.]+ +[0-9.]+ \.\. +[0-9.]+" <<<"$out" || fail "no timing row for $v"
  grep -Eq "^  $v .*reorders per step$" <<<"$out" || fail "no implementation summary for $v"
done
grep -Eq '^  blocked vs nchw .* of a step' <<<"$out" || fail "no ceiling against nchw"
grep -Eq '^  blocked vs nhwc .* of a step' <<<"$out" || fail "no ceiling against nhwc"
grep -q 'ISA ' <<<"$out" || fail "the ISA oneDNN dispatches is not reported"

out=$("$BIN" --size 16 2>&1); rc=$?
[ $rc -eq 2 ] || fail "--size 16: exit status $rc, expected 2"
[ "$(wc -l <<<"$out")" -eq 1 ] || fail "--size 16: expected a one-line message"
grep -q -- '--size' <<<"$out" || fail "--size 16: the message does not name the option"
echo "ok"
