#!/usr/bin/env bash
# The hostile dataset corpus through the CLI: `train` on a two-class folder of good images
# with ~100 hostile cases mixed in must exit 0, train the good (and odd but valid) images,
# list every bad file with its reason, ignore OS junk, write nothing into the dataset and
# stay within a peak RSS bound; folder-level problems are refused (exit 2 + what to do);
# an output folder on a full disk is reported, not a crash.
#   hostile_corpus.sh PATH/TO/ampbench-cli [TABLE.md]
# TABLE.md (optional) receives the corpus table for docs/reliability/scan.md.
set -u
CLI=$(realpath "${1:?usage: hostile_corpus.sh PATH/TO/ampbench-cli [TABLE.md]}")
TABLE=${2:-}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
RSS_LIMIT_MB=${AMPBENCH_CORPUS_RSS_MB:-1000}  # a 20000x20000 RGB PNG decoded in full is 1.2 GB
$PY -c 'import numpy, PIL' 2>/dev/null || { echo "skip: /usr/bin/python3 lacks numpy or PIL (python3-pil)"; exit 77; }
T=$(mktemp -d)
cleanup() { umount "$T/full" 2>/dev/null; chmod -R u+rwX "$T" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
chmod 755 "$T"
pass=0; fail=0
check() {
  if eval "$2"; then echo "ok    $1"; pass=$((pass + 1)); else echo "FAIL  $1"; fail=$((fail + 1)); fi
}

$PY "$HERE/../tools/make_hostile_corpus.py" "$T/c" || { echo "cannot generate the corpus"; exit 1; }
mkdir -p "$T/work" "$T/home"

# As root (tests run as root, which reads anything) the CLI runs as nobody through setpriv:
# chmod 000 then really denies, and the root-owned corpus is read-only to it. Otherwise the
# corpus is made read-only for the user running the test.
RUNAS=()
DROPPED=0
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  RUNAS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  chown -R 65534:65534 "$T/work" "$T/home"
  DROPPED=1
elif [ "$(id -u)" != 0 ]; then
  chmod -R a-w "$T/c/ds" 2>/dev/null
  DROPPED=1
fi
# Everything on the path to the CLI and its libraries must be reachable for nobody.
if [ $DROPPED = 1 ] && [ "$(id -u)" = 0 ] && ! "${RUNAS[@]}" test -x "$CLI"; then
  echo "note: nobody cannot run $CLI; running as root (unreadable-permission cases then train)"
  RUNAS=(); DROPPED=0
fi
snapshot() { (cd "$T/c" && find . -printf '%p %s %m %T@\n' 2>/dev/null | LC_ALL=C sort); }
snapshot >"$T/before"

TIME=()
[ -x /usr/bin/time ] && TIME=(/usr/bin/time -v -o "$T/time.txt")
COMMON=(--model small_cnn --image-size 32 --epochs 1 --batch-size 16 --seed 1 --threads 2)
# A guard for the shared machine, not the assertion: a decoder that believes a header's
# claim (65535 x 65535 DICOM) would take 13 GB. Under the cap such an allocation fails and
# is skipped; the RSS bound and the per-case reasons below still catch it.
VMEM_KB=${AMPBENCH_CORPUS_VMEM_KB:-3145728}
( ulimit -v "$VMEM_KB"; HOME="$T/home" exec "${TIME[@]}" "${RUNAS[@]}" "$CLI" train --data "$T/c/ds" \
  --out "$T/work/run" --cache "$T/work/cache.pt" "${COMMON[@]}" >"$T/out" 2>"$T/err" ); rc=$?
snapshot >"$T/after"
check "train on the hostile corpus exits 0 ($rc)" '[ $rc -eq 0 ]'
[ $rc -eq 0 ] || { tail -n 20 "$T/out" "$T/err"; }
check "nothing in the dataset folder was written or changed (read-only dataset)" 'diff -q "$T/before" "$T/after" >/dev/null'
check "the cache went where --cache said, not into the dataset" '[ -s "$T/work/cache.pt" ]'
check "the CLI summary gives the count, the first few and the file holding the list" \
  'grep -q "skipped [0-9]* files that cannot be used (all listed with the reason in .*dataset.json)" "$T/out" && [ "$(grep -c "^    " "$T/out")" -ge 5 ] && grep -q "and [0-9]* more" "$T/out"'
check "the CLI summary counts the ignored OS junk" 'grep -q "ignored [0-9]* OS or hidden entries" "$T/out"'
# (OpenCV logs the exceptions it turns into failed decodes, "(-215:Assertion failed)": not a crash)
check "no crash or internal error on stderr" '! grep -qai "internal error\|terminate called\|Segmentation\|Assertion \`" "$T/err"'

# --- a second run trains from the same folder and the cache it wrote (the cache round trip)
( ulimit -v "$VMEM_KB"; HOME="$T/home" exec "${RUNAS[@]}" "$CLI" train --data "$T/c/ds" --out "$T/work/run2" \
  --cache "$T/work/cache.pt" "${COMMON[@]}" --quiet >"$T/out2" 2>&1 ); rc=$?
check "a second run from the cache exits 0 with the same counts ($rc)" \
  "[ $rc -eq 0 ] && $PY -c 'import json,sys; a,b=(json.load(open(p)) for p in sys.argv[1:]); sys.exit(a[\"counts\"]!=b[\"counts\"] or a[\"skipped_count\"]!=b[\"skipped_count\"])' '$T/work/run/dataset.json' '$T/work/run2/dataset.json'"

# --- folder-level problems: refused up front, exit 2, one line saying what to do
: >"$T/refusals.jsonl"
while IFS=$'\t' read -r name dir grep batch; do
  "$CLI" train --data "$T/c/$dir" --out "$T/r_$name" "${COMMON[@]}" --batch-size "$batch" --quiet \
    >"$T/ro_$name" 2>"$T/re_$name"; rc=$?
  msg=$(grep -a -m1 "^error:" "$T/re_$name")
  check "$name: refused with exit 2 and '$grep' ($rc)" \
    '[ $rc -eq 2 ] && grep -qi -- "$grep" "$T/re_$name" && [ "$(wc -l <"$T/re_$name")" -eq 1 ]'
  $PY -c 'import json,sys; m=sys.argv[3].encode("utf-8","surrogateescape").decode("utf-8","replace")
print(json.dumps({"case":sys.argv[1],"rc":int(sys.argv[2]),"message":m}))' \
    "$name" "$rc" "$msg" >>"$T/refusals.jsonl"
done < <($PY -c 'import json,sys
for r in json.load(open(sys.argv[1]))["refusals"]:
    print("\t".join([r["case"], r["dir"], r["grep"], str(r["batch"])]))' "$T/c/manifest.json")

# --- cases that still end the process (xfail in the manifest): each in a dataset of its own
: >"$T/pending.jsonl"
for d in "$T"/c/pending/*/; do
  [ -d "$d" ] || continue
  name=$(basename "$d")
  ( ulimit -v "$VMEM_KB"; exec "$CLI" train --data "$d" --out "$T/p_$name" "${COMMON[@]}" --batch-size 2 --quiet \
    >"$T/po_$name" 2>"$T/pe_$name" ); rc=$?
  $PY -c 'import json,sys
rc, run, err = int(sys.argv[2]), sys.argv[3], sys.argv[4]
try:
    reason = json.load(open(run + "/dataset.json"))["skipped"][0]["reason"]
except Exception:
    reason = None
lines = [l.strip() for l in open(err, errors="replace") if l.strip()]
print(json.dumps({"case": sys.argv[1], "rc": rc, "reason": reason, "stderr": (lines[-1] if lines else "")[:160]}))' \
    "$name" "$rc" "$T/p_$name" "$T/pe_$name" >>"$T/pending.jsonl" 2>/dev/null
done

# --- an output folder on a full disk (a 1 MB tmpfs, 32 KB left): the write failure is
# reported, exit != 0, no crash. Skipped where mounting is not permitted.
# (Before branch `resume`, LibTorch's checkpoint writer threw from a destructor here:
# std::terminate, exit 134. FULLDISK_XFAIL=BRANCH marks such a known failure; the check
# then fails once it passes.)
FULLDISK_XFAIL=
FULLDISK=skipped
mkdir -p "$T/full"
if mount -t tmpfs -o size=1m tmpfs "$T/full" 2>/dev/null; then
  dd if=/dev/zero of="$T/full/fill" bs=1k count=992 status=none 2>/dev/null
  "$CLI" train --data "$T/c/refuse/fewer-images-than-a-batch" --out "$T/full/run" "${COMMON[@]}" \
    --batch-size 2 --epochs 2 --quiet >"$T/fo" 2>"$T/fe"; rc=$?
  cat "$T/fo" "$T/fe" >"$T/fboth"  # the run's end ("stopped: ...") is on stdout, errors on stderr
  FULLDISK="exit $rc: $(grep -a -m1 -v '^$' "$T/fboth" | cut -c1-200 | tr '|' '/')"
  if [ -z "$FULLDISK_XFAIL" ]; then
    check "full disk: exit != 0, not a signal ($rc)" '[ $rc -ne 0 ] && [ $rc -lt 128 ]'
    check "full disk: the message names the write failure" 'grep -qi "space\|write\|disk" "$T/fboth"'
  fi
  umount "$T/full"
else
  echo "note: cannot mount a tmpfs here; the full-disk case is skipped"
fi

# --- the per-case verdicts, the round trip of the class names and the RSS bound
peak_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$T/time.txt" 2>/dev/null)
$PY "$HERE/hostile_corpus_check.py" --corpus "$T/c" --run "$T/work/run" --out "$T/out" \
  --refusals "$T/refusals.jsonl" --dropped "$DROPPED" --peak-kb "${peak_kb:-0}" --rss-limit-mb "$RSS_LIMIT_MB" \
  --full-disk "$FULLDISK" --full-disk-xfail "$FULLDISK_XFAIL" --pending "$T/pending.jsonl" \
  ${TABLE:+--table "$TABLE"}; rc=$?
check "every case did what the manifest says (see above)" '[ $rc -eq 0 ]'

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
