#!/usr/bin/env bash
# `ampbench-cli report` end to end on data this script generates: a tiny small_cnn run whose
# test split holds a DICOM with a known patient name (drawn like the other class, so it is
# one of the worst cases) and a broken .dcm. The PDF is read back with poppler-utils: page
# count, the disclaimer on page 1, accuracy and sensitivity exactly as evaluation_test.json
# has them (formatted as the report formats them), no patient identifier ever and no file
# name when pseudonymized, fonts embedded, Letter size; bad input exits 2.
#   report_e2e.sh PATH/TO/ampbench-cli
set -u
CLI=${1:?usage: report_e2e.sh PATH/TO/ampbench-cli}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
for tool in pdftotext pdfinfo pdffonts; do
  command -v "$tool" >/dev/null || { echo "skip: $tool missing (poppler-utils: scripts/install-deps)"; exit 77; }
done
T=$(mktemp -d); [ -n "${KEEP_REPORT_E2E:-}" ] && echo "keeping $T" || trap 'rm -rf "$T"' EXIT
pass=0; fail=0
check() {
  if eval "$2"; then echo "ok    $1"; pass=$((pass + 1)); else echo "FAIL  $1"; fail=$((fail + 1)); fi
}
unset DISPLAY WAYLAND_DISPLAY QT_QPA_PLATFORM  # the CLI must pick the offscreen platform itself

# train/ and test/ folders (validation carved from train/), PGM images.
$PY "$HERE/make_dataset.py" "$T/data" 60 32 --splits || { echo "cannot generate data"; exit 1; }
mv "$T/data/val" "$T/data/test"
NAME='Doe^Jane^Reportcheck'; PID='PID-RPT-4711'; DCM='Doe_Jane_Reportcheck.dcm'
# A NORMAL-labelled DICOM drawn like PNEUMONIA: a confident mistake, shown with its name.
$PY "$HERE/make_dicom.py" "$T/data/test/NORMAL/$DCM" 32 0.7 0.7 "$NAME" "$PID" || { echo "cannot write DICOM"; exit 1; }
printf 'not a dicom file' >"$T/data/test/PNEUMONIA/Roe_Richard_broken.dcm"

"$CLI" train --data "$T/data" --model small_cnn --epochs 3 --batch-size 16 --image-size 32 --seed 1 --quiet \
  --out "$T/run" >"$T/train.out" 2>&1; rc=$?
check "train exits 0 ($rc)" '[ $rc -eq 0 ]'
rm -f "$T/run"/evaluation_test.json "$T/run"/predictions_test.csv

# --- default: the dataset holds DICOMs, so file names are pseudonymized
"$CLI" report --run "$T/run" --out "$T/r.pdf" --worst 50 >"$T/r.out" 2>&1; rc=$?
check "report exits 0 ($rc)" '[ $rc -eq 0 ]'
[ $rc -eq 0 ] || cat "$T/r.out"
check "report evaluated the test split first and wrote its files" \
  '[ -f "$T/run/evaluation_test.json" ] && [ -f "$T/run/predictions_test.csv" ]'
pdftotext -raw "$T/r.pdf" "$T/r.txt"; pdftotext -f 1 -l 1 "$T/r.pdf" "$T/r1.txt"
pages=$(pdfinfo "$T/r.pdf" | awk '/^Pages:/ {print $2}')
check "footer says page 1 of $pages and page $pages of $pages" \
  'grep -q "page 1 of $pages\$" "$T/r.txt" && grep -q "page $pages of $pages\$" "$T/r.txt" && ! grep -q "page [0-9]* of $((pages + 1))" "$T/r.txt"'
check "page 1 says not for diagnosis" 'grep -q "For research and teaching, not for diagnosis" "$T/r1.txt"'
check "the report says the split was evaluated for it" 'grep -q "was evaluated for this report" "$T/r.txt"'
check "accuracy and sensitivity exactly as evaluation_test.json has them" "$PY - '$T/run/evaluation_test.json' '$T/r.txt' <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read()
def fmt(v, ci):  # the report's (and the Results tab's) wording: EvaluationFormat
    return f'{v:.2f} ({ci[0]:.2f}\u2013{ci[1]:.2f})'
acc = 'Accuracy ' + fmt(e['accuracy'], e['accuracy_ci95'])
pos = e['classes'][1]
pc = e['per_class'][pos]
sens = f'Sensitivity ({pos}) ' + fmt(pc['sensitivity'], pc['sensitivity_ci95'])
for want in (acc, sens):
    assert want in text, (want, [l for l in text.splitlines() if l.startswith(want.split()[0])])
PY"
check "no patient name, ID, institution or birth date" \
  '! grep -Eq "Doe|Jane|Reportcheck|RPT-4711|Test Institution|19700101|Roe_Richard" "$T/r.txt"'
check "pseudonymous ids instead, and the output says so" 'grep -q "image-0" "$T/r.txt" && grep -q pseudonymized "$T/r.out"'
check "every font is embedded" \
  '[ "$(pdffonts "$T/r.pdf" | tail -n +3 | wc -l)" -gt 0 ] && ! pdffonts "$T/r.pdf" | tail -n +3 | awk "{print \$(NF-4)}" | grep -vq yes'
check "A4 unless asked (LANG=C)" 'pdfinfo "$T/r.pdf" | grep -q "595 x 842 pts"'

# --- file names shown: the DICOM is among the worst cases (so the check above can fail),
# and still no header field
"$CLI" report --run "$T/run" --out "$T/names.pdf" --worst 50 --no-pseudonymize --page-size letter >"$T/n.out" 2>&1; rc=$?
check "report --no-pseudonymize --page-size letter exits 0 ($rc)" '[ $rc -eq 0 ]'
pdftotext -raw "$T/names.pdf" "$T/names.txt"
check "the DICOM's and the broken file's names are there without pseudonyms" \
  'grep -q "$DCM" "$T/names.txt" && grep -q "Roe_Richard_broken.dcm" "$T/names.txt"'
check "still no patient name or ID" '! grep -Eq "Doe\^Jane|RPT-4711|Test Institution|19700101" "$T/names.txt"'
check "Letter pages are 612 x 792 pt" 'pdfinfo "$T/names.pdf" | grep -q "612 x 792 pts"'

# --- bad input: exit 2 with a message, nothing written
touch "$T/a-file"
for out in /nonexistent-dir/r.pdf "$T/a-file/r.pdf" "$T"; do
  "$CLI" report --run "$T/run" --out "$out" >"$T/bad.out" 2>&1; rc=$?
  check "unwritable --out $out exits 2 ($rc) with a message" '[ $rc -eq 2 ] && grep -q "cannot write\|not a file name" "$T/bad.out"'
done
"$CLI" report --run "$T/data" --out "$T/x.pdf" >"$T/bad.out" 2>&1; rc=$?
check "a folder that is not a run exits 2 ($rc)" '[ $rc -eq 2 ] && grep -q "neither a run nor a comparison" "$T/bad.out" && [ ! -e "$T/x.pdf" ]'
"$CLI" report --run "$T/missing" --out "$T/x.pdf" >"$T/bad.out" 2>&1; rc=$?
check "a missing folder exits 2 ($rc)" '[ $rc -eq 2 ]'
cp -r "$T/run" "$T/bare"; rm -f "$T/bare"/checkpoint.pt "$T/bare"/evaluation_* "$T/bare"/predictions_*
"$CLI" report --run "$T/bare" --out "$T/x.pdf" >"$T/bad.out" 2>&1; rc=$?
check "a run with neither evaluation nor checkpoint exits 2 ($rc), saying what to do" \
  '[ $rc -eq 2 ] && grep -q "no checkpoint.pt" "$T/bad.out" && [ ! -e "$T/x.pdf" ]'
"$CLI" report --run "$T/run" --out "$T/x.pdf" --page-size a5 >"$T/bad.out" 2>&1; rc=$?
check "--page-size a5 exits 2 ($rc)" '[ $rc -eq 2 ]'

# --- a comparison: the FP32-vs-mixed table, the verdict, each mode's metrics
"$CLI" compare --data "$T/data" --model small_cnn --modes fp32,fp16 --epochs 2 --batch-size 16 --image-size 32 \
  --seed 1 --quiet --out "$T/cmp" >"$T/cmp.out" 2>&1; rc=$?
check "compare exits 0 ($rc)" '[ $rc -eq 0 ]'
"$CLI" report --run "$T/cmp" --out "$T/c.pdf" --worst 2 >"$T/c.out" 2>&1; rc=$?
check "comparison report exits 0 ($rc)" '[ $rc -eq 0 ]'
pdftotext -raw "$T/c.pdf" "$T/c.txt"
check "comparison report: table, verdict, both modes' metrics" \
  'grep -q "FP32 vs mixed precision" "$T/c.txt" && grep -q "^Verdict" "$T/c.txt" && [ "$(grep -c "^Metrics on the test split" "$T/c.txt")" -eq 2 ]'
check "comparison report: emulated FP16 says so" 'grep -q "FP16 mixed (emulated)" "$T/c.txt"'

echo "report e2e: $pass passed, $fail failed"
[ $fail -eq 0 ]
