#!/usr/bin/env bash
# End-to-end tests of ampbench-cli on data this script generates.
#   cli_e2e.sh PATH/TO/ampbench-cli [PATH/TO/make_test_dicom]
# Without make_test_dicom (a build without GDCM) the DICOM privacy checks are skipped.
set -u
CLI=${1:?usage: cli_e2e.sh PATH/TO/ampbench-cli [PATH/TO/make_test_dicom]}
MAKE_DICOM=${2:-}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
pass=0; fail=0
check() {
  if eval "$2"; then echo "ok    $1"; pass=$((pass + 1)); else echo "FAIL  $1"; fail=$((fail + 1)); fi
}
json() { $PY -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

$PY "$HERE/make_dataset.py" "$T/data" 120 28 || { echo "cannot generate data"; exit 1; }
COMMON=(--data "$T/data" --model small_cnn --epochs 4 --batch-size 32 --image-size 28 --seed 1 --quiet)

# --- every precision mode learns the generated task
for mode in fp32 fp16 bf16 auto; do
  "$CLI" train "${COMMON[@]}" --precision "$mode" --out "$T/run_$mode" >"$T/out_$mode" 2>&1; rc=$?
  check "train --precision $mode exits 0 ($rc)" '[ $rc -eq 0 ]'
  acc=$(json "$T/run_$mode/metrics.json" 'd["val"]["accuracy"]' 2>/dev/null || echo 0)
  check "train --precision $mode reaches val accuracy >= 0.9 ($acc)" "$PY -c 'import sys; sys.exit(0 if $acc >= 0.9 else 1)'"
done
check "fp16 on CPU is labelled emulated" '[ "$(json "$T/run_fp16/config.json" "d[\"resolved\"][\"precision\"][\"emulated\"]")" = True ]'
check "fp16 steps.csv starts at loss scale 65536" \
  '[ "$(sed -n 2p "$T/run_fp16/steps.csv" | cut -d, -f5)" = 65536 ]'

# --- compare: comparison.json agrees with the run dirs
"$CLI" compare --data "$T/data" --model small_cnn --modes fp32,bf16 --epochs 3 --batch-size 32 --image-size 28 \
  --seed 1 --out "$T/cmp" --quiet >"$T/out_cmp" 2>&1; rc=$?
check "compare exits 0 ($rc)" '[ $rc -eq 0 ]'
check "compare prints the table and a verdict" 'grep -q "speed-up" "$T/out_cmp" && grep -Eq "^BF16 mixed( \(emulated\))?: " "$T/out_cmp"'
check "comparison.json matches the run dirs" "$PY - '$T/cmp' <<'PY'
import json, sys
root = sys.argv[1]
c = json.load(open(f'{root}/comparison.json'))
modes = {m['mode']: m for m in c['modes']}
assert list(modes) == ['fp32', 'bf16'], list(modes)
for name, m in modes.items():
    run = json.load(open(f'{root}/{name}/metrics.json'))
    assert abs(run['images_per_s'] - m['images_per_s']) < 1e-6 * max(1, m['images_per_s']), name
    assert abs(run['val']['accuracy'] - m['val_accuracy']) < 1e-9, name
    assert abs(run['val']['auc'] - m['val_auc']) < 1e-9, name
    assert run['overflow_steps'] == m['overflow_steps'], name
    assert abs(run['peak_rss_mb'] - m['peak_rss_mb']) < 1e-6, name
b = modes['bf16']
assert abs(b['speedup_vs_fp32'] - b['images_per_s'] / modes['fp32']['images_per_s']) < 1e-9
# the differences carry their noise: paired over every validation image, intervals around the estimates
d = b['accuracy_diff']
assert d['n'] == json.load(open(f'{root}/bf16/metrics.json'))['val']['count'], d
assert d['ci95'][0] <= d['value'] <= d['ci95'][1] and 0 <= d['mcnemar_p'] <= 1, d
assert b['auc_diff']['ci95'][0] <= b['auc_diff']['value'] <= b['auc_diff']['ci95'][1]
lo, hi = b['speedup_range']  # three epochs: two timed after warm-up
assert lo <= b['speedup_vs_fp32'] <= hi, (lo, hi)
assert 'accuracy_diff' not in modes['fp32']
PY"

# --- what-if modes: a divergence with a fix switched off is a result, not a failure
"$CLI" compare --data "$T/data" --model small_cnn --modes fp16,fp16-noscale --epochs 2 --batch-size 32 \
  --image-size 28 --seed 1 --inject-nan-at-step 5 --out "$T/whatif" --quiet >"$T/out_whatif" 2>&1; rc=$?
check "compare: only a what-if mode diverged → exit 0 ($rc)" '[ $rc -eq 0 ]'
check "the what-if run records diverged at its step; the loss-scaled run skipped the step and finished" "$PY - '$T/whatif' <<'PY'
import json, sys
c = json.load(open(sys.argv[1] + '/comparison.json'))
m = {x['mode']: x for x in c['modes']}
assert m['fp16-noscale']['status'] == 'diverged', m['fp16-noscale']['status']
assert m['fp16-noscale']['precision']['what_if'] is True
assert 'step 5' in m['fp16-noscale']['message'], m['fp16-noscale']['message']
assert m['fp16']['status'] == 'finished' and m['fp16']['skipped_steps'] >= 1, m['fp16']
PY"
"$CLI" compare --data "$T/data" --modes fp32,fp8 --out "$T/badmodes" >"$T/obm" 2>&1; rc=$?
check "compare with an unknown mode → exit 2 naming the valid ones ($rc)" \
  '[ $rc -eq 2 ] && grep -q "fp16-noscale" "$T/obm" && grep -q "fp16-pure" "$T/obm"'
"$CLI" compare --data "$T/data" --modes fp32,fp32 --out "$T/dupmodes" >"$T/odm" 2>&1; rc=$?
check "compare with a mode twice → exit 2 ($rc)" '[ $rc -eq 2 ] && grep -q "twice" "$T/odm"'
"$CLI" train "${COMMON[@]}" --epochs 1 --precision bf16 --bf16-kernels emulated --out "$T/bfe" >/dev/null 2>&1; rc=$?
check "--bf16-kernels emulated is recorded ($rc)" \
  '[ $rc -eq 0 ] && [ "$(json "$T/bfe/config.json" "d[\"resolved\"][\"precision\"][\"emulated\"]")" = True ] && [ "$(json "$T/bfe/config.json" "d[\"precision\"][\"bf16_kernels\"]")" = emulated ]'

# --- bad input: exit 2 with a one-line message
mkdir -p "$T/one/NORMAL" && cp "$T"/data/NORMAL/img000*.pgm "$T/one/NORMAL/"
"$CLI" train --data "$T/one" --out "$T/r1" >"$T/o1" 2>&1; rc=$?
check "one class → exit 2 ($rc)" '[ $rc -eq 2 ] && grep -q "only one class" "$T/o1"'
"$CLI" train --data "$T/nope" --out "$T/r2" >"$T/o2" 2>&1; rc=$?
check "missing folder → exit 2 ($rc)" '[ $rc -eq 2 ] && grep -q "does not exist" "$T/o2"'
mkdir -p "$T/empty"
"$CLI" train --data "$T/empty" --out "$T/r3" >"$T/o3" 2>&1; rc=$?
check "empty folder → exit 2 ($rc)" '[ $rc -eq 2 ] && grep -q "class folders" "$T/o3"'
"$CLI" train --data "$T/data" --model vgg99 --out "$T/r4" >"$T/o4" 2>&1; rc=$?
check "unknown model → exit 2 naming the choices ($rc)" '[ $rc -eq 2 ] && grep -q "resnet18" "$T/o4"'
"$CLI" train --data "$T/data" --precision fp8 --out "$T/r5" >"$T/o5" 2>&1; rc=$?
check "unknown precision → exit 2 ($rc)" '[ $rc -eq 2 ] && grep -q "bf16" "$T/o5"'
"$CLI" train --data "$T/data" --batch-size 4096 --image-size 28 --out "$T/r6" >"$T/o6" 2>&1; rc=$?
check "fewer images than a batch → exit 2 ($rc)" '[ $rc -eq 2 ] && grep -q "batch-size" "$T/o6"'
"$CLI" train --data "$T/data" --precision fp16 --strict --out "$T/r7" >"$T/o7" 2>&1; rc=$?
check "fp16 --strict on CPU → exit 2 saying emulated ($rc)" '[ $rc -eq 2 ] && grep -q "emulated" "$T/o7"'
"$CLI" train "${COMMON[@]}" --device cpu --precision bf16 --bf16-kernels native --memory-format blocked \
  --out "$T/rblk" >"$T/oblk" 2>&1; rc=$?
"$CLI" info --json >"$T/info.json" 2>/dev/null
if [ "$(json "$T/info.json" 'd["cpu"]["native_bf16"]')" = True ]; then
  # bf16 units (AMX/AVX512-BF16): the blocked path runs bf16 on oneDNN's bf16 kernels.
  check "--memory-format blocked in bf16 with bf16 units → trains blocked ($rc)" \
    '[ $rc -eq 0 ] && [ "$(json "$T/rblk/config.json" "d[\"resolved\"][\"memory_format\"]")" = blocked ]'
else
  check "--memory-format blocked with bf16 forced onto a CPU without bf16 units → exit 2, one line, no checkpoint ($rc)" \
    '[ $rc -eq 2 ] && [ "$(grep -c . "$T/oblk")" = 1 ] && grep -q "memory-format blocked: .*AVX512-BF16/AMX" "$T/oblk" && [ ! -e "$T/rblk/checkpoint.pt" ]'
fi
"$CLI" train --data "$T/data" --out /proc/ampbench-nope >"$T/o8" 2>&1; rc=$?
check "unwritable output → exit 2 ($rc)" '[ $rc -eq 2 ] && grep -q "writ" "$T/o8"'
# corrupt files are skipped and listed, never fatal
cp -r "$T/data" "$T/dirty" && echo garbage >"$T/dirty/NORMAL/bad.png" && : >"$T/dirty/PNEUMONIA/zero.jpg"
"$CLI" train --data "$T/dirty" --epochs 1 --image-size 28 --out "$T/r9" >"$T/o9" 2>&1; rc=$?
check "corrupt images are skipped, listed, not fatal ($rc)" \
  '[ $rc -eq 0 ] && [ "$(json "$T/r9/dataset.json" "d[\"skipped_count\"]")" = 2 ] && grep -q "skipped 2" "$T/o9"'

# --- NaN loss stops cleanly (exit 3) and keeps the last good checkpoint
"$CLI" train "${COMMON[@]}" --epochs 3 --inject-nan-at-step 9 --out "$T/nan" >"$T/onan" 2>&1; rc=$?
check "NaN loss → exit 3 ($rc)" '[ $rc -eq 3 ]'
check "NaN run keeps the epoch-1 checkpoint and says so" \
  '[ -s "$T/nan/checkpoint.pt" ] && [ "$(json "$T/nan/metrics.json" "d[\"status\"]")" = diverged ] && grep -q "last good checkpoint" "$T/nan/metrics.json"'
"$CLI" train "${COMMON[@]}" --epochs 3 --inject-nan-at-step 9 --detect-anomaly --out "$T/anomaly" >"$T/oanomaly" 2>&1; rc=$?
check "--detect-anomaly: exit 3, the operation named, no C++ stack printed ($rc)" \
  '[ $rc -eq 3 ] && grep -q "anomaly mode: Function .MulBackward" "$T/oanomaly" && ! grep -q "^frame #" "$T/oanomaly"'

# --- a batch that does not fit: a real allocation failure under an address-space limit
# (the first conv's output alone is 8 GiB), exit 4 with a message that says what to lower
(ulimit -v 6000000; exec "$CLI" train --data synthetic:64 --model small_cnn --image-size 1024 --batch-size 64 \
  --epochs 1 --out "$T/oom") >"$T/ooom" 2>&1; rc=$?
check "out of memory → exit 4 ($rc)" '[ $rc -eq 4 ]'
check "out of memory says where and what to lower, in one line" \
  'grep -q "out of memory in epoch 1, step 1 of 1 (batch 64 at 1024 px" "$T/ooom" && grep -q "Lower the batch size (--batch-size)" "$T/ooom" && grep -q "mixed precision" "$T/ooom" && ! grep -qi "internal error" "$T/ooom"'
check "out-of-memory run dir: metrics.json says so" \
  '[ "$(json "$T/oom/metrics.json" "d[\"status\"] + str(d[\"out_of_memory\"])")" = failedTrue ]'

# --- --profile-steps: where a step goes, printed and in the run folder
"$CLI" train --data "$T/data" --model small_cnn --epochs 1 --batch-size 32 --image-size 28 --profile-steps 2 \
  --out "$T/prof" >"$T/oprof" 2>&1; rc=$?
check "--profile-steps prints the per-op table ($rc)" \
  '[ $rc -eq 0 ] && grep -Eq "where a training step goes: steps ([0-9]+)-([0-9]+), [0-9.]+ ms per step" "$T/oprof" && grep -Eq "^ +[0-9.]+ +[0-9.]+%  backward$" "$T/oprof"'
check "--profile-steps writes profile.csv and a trace" \
  '[ "$(head -1 "$T/prof/profile.csv")" = "op,calls_per_step,self_ms_per_step,total_ms_per_step,share" ] && $PY -c "import json,sys; sys.exit(0 if isinstance(json.load(open(sys.argv[1])), list) else 1)" "$T/prof/profile.trace.json"'
"$CLI" train --data "$T/data" --profile-steps -1 --out "$T/prof2" >"$T/oprof2" 2>&1; rc=$?
check "--profile-steps -1 is refused with exit 2 ($rc)" '[ $rc -eq 2 ] && grep -q "profile-steps" "$T/oprof2"'
for n in 0 -3; do
  "$CLI" train --data "$T/data" --grad-stats "$n" --out "$T/gs" >"$T/ogs" 2>&1; rc=$?
  check "--grad-stats $n is refused with exit 2 and says what it takes ($rc)" \
    '[ $rc -eq 2 ] && grep -q "grad-stats" "$T/ogs" && grep -q "N >= 1" "$T/ogs" && [ ! -e "$T/gs" ]'
done

# --- json events: one JSON object per line
"$CLI" train "${COMMON[@]}" --epochs 1 --json-events --out "$T/je" >"$T/oje" 2>&1; rc=$?
check "--json-events prints only JSON lines ($rc)" "[ $rc -eq 0 ] && $PY -c \"
import json,sys
ev=[json.loads(l)['event'] for l in open('$T/oje') if l.strip()]
sys.exit(0 if ev[0] in ('data_progress','run_started') and ev[-1]=='finished' and 'step' in ev and 'epoch' in ev else 1)\""

# --- evaluate and predict agree with the run
"$CLI" evaluate --run "$T/run_fp32" --data "$T/data" --split val --out "$T/eval.json" >"$T/oev" 2>&1; rc=$?
check "evaluate matches the run's final val accuracy ($rc)" \
  "[ $rc -eq 0 ] && $PY -c \"
import json
e = json.load(open('$T/eval.json')); m = json.load(open('$T/run_fp32/metrics.json'))['val']
assert abs(e['accuracy'] - m['accuracy']) < 1e-9 and e['count'] == m['count'], (e['accuracy'], m['accuracy'])
assert e['accuracy_ci95'][0] <= e['accuracy'] <= e['accuracy_ci95'][1] and e['bootstrap']['resamples'] == 2000
assert e['threshold'] == 0.5 and e['positive_class'] == 'PNEUMONIA' and e['threshold_source'] == 'default'
\""
check "evaluate prints the table with intervals and the confusion matrix" \
  'grep -q "95 % interval" "$T/oev" && grep -q "^  sensitivity " "$T/oev" && grep -q "^confusion matrix" "$T/oev"'

# --- the evaluation files of a run: val and a carved test split, at the decision threshold
"$CLI" train "${COMMON[@]}" --epochs 2 --test-fraction 0.2 --out "$T/evrun" >/dev/null 2>&1; rc=$?
check "a run with --test-fraction writes evaluation_val/test.json, predictions_*.csv, decision.json ($rc)" \
  "[ $rc -eq 0 ] && $PY - '$T/evrun' '$T/data' <<'PY'
import csv, json, os, sys
run, data = sys.argv[1], sys.argv[2]
d = json.load(open(f'{run}/decision.json'))
assert d == {'threshold': 0.5, 'positive_class': 'PNEUMONIA', 'positive_class_index': 1, 'source': 'default'}, d
for split in ('val', 'test'):
    e = json.load(open(f'{run}/evaluation_{split}.json'))
    rows = list(csv.DictReader(open(f'{run}/predictions_{split}.csv', newline='')))
    assert len(rows) == e['count'] > 0, split
    classes = e['classes']
    conf = [[0] * len(classes) for _ in classes]
    for r in rows:
        conf[classes.index(r['true_class'])][classes.index(r['predicted_class'])] += 1
        assert os.path.exists(os.path.join(data, r['file'])), r['file']
        assert r['correct'] == str(int(r['true_class'] == r['predicted_class']))
        assert (float(r['p_PNEUMONIA']) >= e['threshold']) == (r['predicted_class'] == 'PNEUMONIA')
    assert conf == e['confusion'], (split, conf, e['confusion'])
    for name, pc in e['per_class'].items():
        assert pc['support'] == sum(r['true_class'] == name for r in rows)
        assert pc['roc'][0]['fpr'] == 0 and pc['roc'][-1]['tpr'] == 1
m = json.load(open(f'{run}/metrics.json'))['val']
v = json.load(open(f'{run}/evaluation_val.json'))
assert v['count'] == m['count'] and abs(v['auc'] - m['auc']) < 1e-6
PY"
"$CLI" evaluate --run "$T/evrun" --choose-threshold youden --resamples 0 --json >"$T/evyj" 2>"$T/evye"; rc=$?
check "evaluate --choose-threshold youden stores it and evaluates at it ($rc)" \
  "[ $rc -eq 0 ] && $PY -c \"
import json
d = json.load(open('$T/evrun/decision.json')); e = json.load(open('$T/evyj'))
t = json.load(open('$T/evrun/evaluation_test.json'))
assert d['source'] == 'youden on val' and e['threshold'] == d['threshold'] == t['threshold'], (d, e['threshold'])
assert e['threshold_source'] == t['threshold_source'] == 'youden on val' and e['accuracy_ci95'] is None
\""
mkdir -p "$T/onecls/NORMAL" && cp "$T"/data/NORMAL/img000*.pgm "$T/onecls/NORMAL/"
"$CLI" evaluate --run "$T/evrun" --folder "$T/onecls" --out "$T/onecls.json" >"$T/oone" 2>&1; rc=$?
check "evaluate --folder of one class: the other class is undefined, never 0 ($rc)" \
  "[ $rc -eq 0 ] && grep -q 'undefined (no PNEUMONIA images' '$T/oone' && $PY -c \"
import json
e = json.load(open('$T/onecls.json'))
assert e['split'] == 'folder' and e['count'] == 10
assert e['per_class']['PNEUMONIA']['sensitivity'] is None and e['auc'] is None and e['confusion_normalised'][1] is None
assert any('no PNEUMONIA images' in n for n in e['notes'])
\""
"$CLI" evaluate --run "$T/run_fp32" --split test >"$T/oet" 2>&1; rc=$?
check "evaluate --split test without a test split → exit 2 ($rc)" '[ $rc -eq 2 ] && grep -q "no .test. split" "$T/oet"'
"$CLI" evaluate --run "$T/run_fp32" --split holdout >"$T/oeh" 2>&1; rc=$?
check "evaluate --split holdout → exit 2 ($rc)" '[ $rc -eq 2 ] && grep -q "unknown split" "$T/oeh"'
"$CLI" evaluate --run "$T/run_fp32" --resamples 10 >"$T/oer" 2>&1; rc=$?
check "evaluate --resamples 10 → exit 2 ($rc)" '[ $rc -eq 2 ] && grep -q "at least 1000" "$T/oer"'
mkdir -p "$T/nockpt" && cp "$T/run_fp32/config.json" "$T/run_fp32/dataset.json" "$T/nockpt/"
"$CLI" evaluate --run "$T/nockpt" >"$T/oen" 2>&1; rc=$?
check "evaluate a run without a checkpoint → exit 2 ($rc)" '[ $rc -eq 2 ] && grep -q "checkpoint" "$T/oen"'
"$CLI" predict --run "$T/run_fp32" --json "$T/data/NORMAL/img0000.pgm" "$T/data/PNEUMONIA/img0000.pgm" >"$T/pred.json" 2>"$T/opred"; rc=$?
check "predict classifies one image of each class ($rc)" "[ $rc -eq 0 ] && $PY -c \"
import json,sys
p=json.load(open('$T/pred.json'))['predictions']
sys.exit(0 if [x['predicted'] for x in p]==['NORMAL','PNEUMONIA'] and abs(sum(p[0]['probabilities'])-1)<1e-5 else 1)\""

# --- predict and gradcam on bad input: a reason per file, exit 2 only when nothing was read
printf 'not an image\n' >"$T/notes.png"
"$CLI" predict --run "$T/run_fp32" "$T/notes.png" "$T/data/NORMAL/img0000.pgm" >"$T/opb" 2>"$T/opb_err"; rc=$?
check "predict with one unreadable file still predicts the other, exit 0 ($rc)" \
  '[ $rc -eq 0 ] && grep -q "img0000.pgm: NORMAL" "$T/opb" && [ "$(grep -c "notes.png: cannot read" "$T/opb_err")" -eq 1 ]'
"$CLI" predict --run "$T/run_fp32" "$T/notes.png" "$T/missing.png" >"$T/opb2" 2>"$T/opb2_err"; rc=$?
check "predict with no readable file exits 2 with a line per file ($rc)" \
  '[ $rc -eq 2 ] && grep -q "notes.png: cannot read" "$T/opb2_err" && grep -q "missing.png: cannot read" "$T/opb2_err"'

# --- gradcam: overlays named <stem>_gradcam_<class>.png, one line per image
G="$T/gc"
"$CLI" gradcam --run "$T/run_fp32" "$T/data/PNEUMONIA/img0000.pgm" "$T/data/NORMAL/img0001.pgm" --out "$G" \
  >"$T/ogc" 2>"$T/ogc_err"; rc=$?
check "gradcam writes one overlay per image, named by the predicted class ($rc)" \
  '[ $rc -eq 0 ] && [ -s "$G/img0000_gradcam_PNEUMONIA.png" ] && [ -s "$G/img0001_gradcam_NORMAL.png" ] && [ "$(grep -c " -> " "$T/ogc")" -eq 2 ]'
check "gradcam prints the predicted class, its probability and the class explained" \
  'grep -Eq "img0000.pgm: predicted PNEUMONIA [01]\.[0-9]{4}, explained PNEUMONIA -> .*img0000_gradcam_PNEUMONIA.png" "$T/ogc"'
check "gradcam overlays are 28 px RGB PNGs" "$PY - '$G/img0000_gradcam_PNEUMONIA.png' <<'PY'
import struct, sys
b = open(sys.argv[1], 'rb').read(32)
w, h = struct.unpack('>II', b[16:24])
sys.exit(0 if b[:8] == b'\x89PNG\r\n\x1a\n' and (w, h) == (28, 28) and b[24] == 8 and b[25] == 2 else 1)
PY"
"$CLI" gradcam --run "$T/run_fp32" --class NORMAL --colormap turbo --alpha 0.6 "$T/data/PNEUMONIA/img0000.pgm" \
  --out "$G" >"$T/ogc2" 2>&1; rc=$?
check "gradcam --class NORMAL explains that class ($rc)" \
  '[ $rc -eq 0 ] && [ -s "$G/img0000_gradcam_NORMAL.png" ] && grep -q "explained NORMAL" "$T/ogc2"'
"$CLI" gradcam --run "$T/run_fp16" "$T/data/PNEUMONIA/img0000.pgm" --out "$T/gc16" >"$T/ogc16" 2>&1; rc=$?
check "gradcam of an fp16 run computes in emulated FP16 and says so ($rc)" \
  '[ $rc -eq 0 ] && grep -q "emulated" "$T/ogc16" && [ -s "$T/gc16/img0000_gradcam_PNEUMONIA.png" ]'
"$CLI" gradcam --run "$T/run_fp32" --class COVID "$T/data/NORMAL/img0000.pgm" --out "$G" >"$T/ogc3" 2>&1; rc=$?
check "gradcam --class unknown exits 2 naming the classes ($rc)" '[ $rc -eq 2 ] && grep -q "NORMAL, PNEUMONIA" "$T/ogc3"'
"$CLI" gradcam --run "$T/run_fp32" "$T/notes.png" "$T/data/NORMAL/img0002.pgm" --out "$G" >"$T/ogc4" 2>"$T/ogc4_err"; rc=$?
check "gradcam with one unreadable file writes the other, exit 0 ($rc)" \
  '[ $rc -eq 0 ] && [ -s "$G/img0002_gradcam_NORMAL.png" ] && [ "$(wc -l <"$T/ogc4_err")" -eq 1 ] && grep -q "notes.png: cannot read" "$T/ogc4_err" && [ ! -e "$G/notes_gradcam_NORMAL.png" ]'
"$CLI" gradcam --run "$T/run_fp32" "$T/notes.png" --out "$G" >"$T/ogc5" 2>&1; rc=$?
check "gradcam with no readable file exits 2 ($rc)" '[ $rc -eq 2 ] && grep -q "notes.png: cannot read" "$T/ogc5"'
mkdir -p "$T/nockpt" && cp "$T/run_fp32/config.json" "$T/run_fp32/dataset.json" "$T/nockpt/"
"$CLI" gradcam --run "$T/nockpt" "$T/data/NORMAL/img0000.pgm" --out "$G" >"$T/ogc6" 2>&1; rc=$?
check "gradcam on a run without a checkpoint exits 2 saying so ($rc)" '[ $rc -eq 2 ] && grep -q "checkpoint" "$T/ogc6"'
"$CLI" predict --run "$T/nockpt" "$T/data/NORMAL/img0000.pgm" >"$T/opb3" 2>&1; rc=$?
check "predict on a run without a checkpoint exits 2 saying so ($rc)" '[ $rc -eq 2 ] && grep -q "checkpoint" "$T/opb3"'
"$CLI" gradcam --run "$T/run_fp32" "$T/data/NORMAL/img0000.pgm" --out "$T/notes.png/cams" >"$T/ogc7" 2>&1; rc=$?
check "gradcam into an unwritable --out exits 2 ($rc)" '[ $rc -eq 2 ] && grep -q "output folder" "$T/ogc7"'

# --- patient privacy: identifiers in a DICOM header reach no run file, prediction or overlay
if [ -n "$MAKE_DICOM" ] && [ -x "$MAKE_DICOM" ]; then
  cp -r "$T/data" "$T/data_dcm"
  "$MAKE_DICOM" "$T/data_dcm/PNEUMONIA/patient.dcm" 28 --print-identifiers >"$T/ids"
  check "the generated DICOM holds the patient's name" 'grep -aq "DOE^JANE^PRIVACY" "$T/data_dcm/PNEUMONIA/patient.dcm" && [ "$(wc -l <"$T/ids")" -eq 5 ]'
  "$CLI" train --data "$T/data_dcm" --model small_cnn --epochs 1 --batch-size 32 --image-size 28 --seed 1 --quiet \
    --out "$T/run_dcm" >"$T/odcm" 2>&1; rc=$?
  check "a run on a dataset with a DICOM trains and skips nothing ($rc)" \
    '[ $rc -eq 0 ] && [ "$(json "$T/run_dcm/dataset.json" "d[\"skipped_count\"]")" = 0 ]'
  "$CLI" predict --run "$T/run_dcm" --json "$T/data_dcm/PNEUMONIA/patient.dcm" >"$T/pdcm" 2>&1; rc1=$?
  "$CLI" gradcam --run "$T/run_dcm" "$T/data_dcm/PNEUMONIA/patient.dcm" --out "$T/gdcm" >"$T/gdcm_out" 2>&1; rc2=$?
  check "predict and gradcam read the DICOM ($rc1, $rc2)" \
    '[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && grep -q "patient.dcm" "$T/pdcm" && ls "$T"/gdcm/patient_gradcam_*.png >/dev/null'
  leaks=$(grep -rlaF -f "$T/ids" "$T/run_dcm" "$T/pdcm" "$T/gdcm_out" "$T/gdcm" "$T/odcm")
  check "no identifier in the run's files, predict's output, gradcam's PNG or stdout (${leaks:-none})" '[ -z "$leaks" ]'
else
  echo "skip  DICOM privacy checks (no make_test_dicom: a build without GDCM)"
fi

# --- resume continues a run
"$CLI" train "${COMMON[@]}" --epochs 2 --out "$T/res" >/dev/null 2>&1
"$CLI" train "${COMMON[@]}" --epochs 3 --resume "$T/res" --out "$T/res" >"$T/ores" 2>&1; rc=$?
check "resume adds the missing epoch ($rc)" '[ $rc -eq 0 ] && [ "$(tail -n +2 "$T/res/epochs.csv" | wc -l)" -eq 3 ]'

# --- resume alone continues the recorded run (its size, batch, epochs schedule), not the defaults
"$CLI" train --data "$T/data" --model small_cnn --epochs 2 --batch-size 32 --image-size 28 --seed 1 --quiet \
  --out "$T/res2" >/dev/null 2>&1
"$CLI" train --resume "$T/res2" --epochs 3 --quiet >"$T/ores2" 2>&1; rc=$?
check "train --resume DIR alone continues at the run's 28 px ($rc)" \
  '[ $rc -eq 0 ] && [ "$(json "$T/res2/config.json" "d[\"data\"][\"image_size\"]")" = 28 ] && [ "$(tail -n +2 "$T/res2/epochs.csv" | wc -l)" -eq 3 ]'
"$CLI" train --resume "$T/res2" --epochs 4 --image-size 64 >"$T/ores3" 2>&1; rc=$?
check "a resume with a changed setting is refused naming it ($rc)" \
  '[ $rc -eq 2 ] && grep -q "image_size 28 -> 64" "$T/ores3" && [ "$(tail -n +2 "$T/res2/epochs.csv" | wc -l)" -eq 3 ]'

# --- export at the end of a run
"$CLI" train "${COMMON[@]}" --epochs 1 --export --out "$T/ex" >"$T/oex" 2>&1; rc=$?
check "train --export writes model.pt and model.json ($rc)" '[ $rc -eq 0 ] && [ -s "$T/ex/model.pt" ] && [ -s "$T/ex/model.json" ]'

# --- info: the machine and what each precision mode does here
"$CLI" info >"$T/oinfo" 2>&1; rc=$?
check "info exits 0 and prints the CPU and the mode table ($rc)" \
  '[ $rc -eq 0 ] && grep -q "^CPU " "$T/oinfo" && grep -q "LibTorch" "$T/oinfo" && grep -Eq "^  bf16 +(native|emulated)" "$T/oinfo"'
"$CLI" info --json >"$T/info.json" 2>"$T/oinfo_err"; rc=$?
check "info --json parses and has the keys ($rc)" "[ $rc -eq 0 ] && $PY -c \"
import json, sys
d = json.load(open('$T/info.json'))
for k in ('cpu', 'gpu', 'versions', 'auto', 'precision_modes', 'any_mixed_format_faster'):
    assert k in d, k
assert d['cpu']['brand'] and 'avx512_bf16' in d['cpu']['features'] and d['versions']['libtorch']
modes = [m['mode'] for m in d['precision_modes']['cpu']]
assert modes == ['fp32', 'fp16', 'bf16', 'fp16-noscale', 'fp16-pure', 'bf16-pure'], modes
assert all(m['support'] in ('native', 'emulated', 'unavailable') and m['reason'] for m in d['precision_modes']['cpu'])
bf16 = d['precision_modes']['cpu'][2]['support']
assert (bf16 == 'native') == d['cpu']['native_bf16'], bf16
\""
check "config.json records resolved.hardware like info --json" "$PY -c \"
import json
c = json.load(open('$T/ex/config.json'))['resolved']['hardware']
i = json.load(open('$T/info.json'))
assert c['cpu']['brand'] == i['cpu']['brand'] and c['precision_modes'] == i['precision_modes']
\""

echo
echo "e2e: $pass passed, $fail failed"
[ $fail -eq 0 ]
