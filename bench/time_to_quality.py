#!/usr/bin/python3
"""Time to quality (issue 17): how long a user waits until validation stops improving,
FP32 vs a mixed mode, per model: the curve of validation AUC and balanced accuracy over
wall time (training + validation), and the time each run first comes within a tolerance
of its own plateau.

Each model runs as one `ampbench-cli compare` (same data, split, seed and initial
weights in every mode; modes run one after the other, each with every core), so the
two curves differ only by precision. The plateau of a run is the best value it reaches;
"time to plateau" is the wall time at the end of the first epoch within --tol-auc
(AUC) / --tol-bacc (balanced accuracy) of it.

    bench/time_to_quality.py --data DIR [--models small_cnn,resnet18] [--modes fp32,auto]
        [--recipe chest-xray] [--epochs N] [--cli build/app/ampbench-cli] [--out DIR]
        [-- EXTRA TRAIN ARGS]

Prints a table per model (the curve and the times) and the CPU it ran on, and writes
time_to_quality.json in --out.
"""

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def curve(run_dir):
    """[(wall seconds so far, val AUC, val balanced accuracy, epoch)] of a run: epochs.csv's
    training time and AUC, validation.csv's validation time and balanced accuracy."""
    validation = {}
    path = os.path.join(run_dir, "validation.csv")
    if os.path.exists(path):
        with open(path) as f:
            validation = {int(r["epoch"]): r for r in csv.DictReader(f)}
    out, wall = [], 0.0
    with open(os.path.join(run_dir, "epochs.csv")) as f:
        for row in csv.DictReader(f):
            v = validation.get(int(row["epoch"]), {})
            wall += float(row["epoch_seconds"]) + float(v.get("eval_seconds") or 0.0)
            if row.get("val_auc") and v.get("val_balanced_acc"):
                out.append((wall, float(row["val_auc"]), float(v["val_balanced_acc"]), int(row["epoch"])))
    return out


def time_to(points, index, tol):
    """Wall time (and epoch) at which column `index` first comes within tol of its best."""
    if not points:
        return None, None, float("nan")  # the run never validated
    best = max(p[index] for p in points)
    for p in points:
        if p[index] >= best - tol:
            return p[0], p[3], best
    return None


def main(argv=None):
    if argv is None:
        argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--models", default="small_cnn,resnet18")
    ap.add_argument("--modes", default="fp32,auto")
    ap.add_argument("--recipe", default="chest-xray")
    ap.add_argument("--epochs", type=int, default=0, help="0: the recipe's")
    ap.add_argument("--cli", default=os.path.join(REPO, "build/app/ampbench-cli"))
    ap.add_argument("--cache", default="", help="decoded-image cache file (shared by the runs)")
    ap.add_argument("--out", default="ttq-" + time.strftime("%Y%m%d-%H%M%S"))
    ap.add_argument("--tol-auc", type=float, default=0.005)
    ap.add_argument("--tol-bacc", type=float, default=0.01)
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    report = {"cpu": cpu_name(), "cores": os.cpu_count(), "data": a.data, "recipe": a.recipe, "models": {}}
    print(f"CPU: {report['cpu']} ({report['cores']} logical CPUs); load at start {os.getloadavg()[0]:.1f}")
    for model in a.models.split(","):
        out = os.path.join(a.out, model)
        cmd = [a.cli, "compare", "--data", a.data, "--model", model, "--modes", a.modes, "--out", out, "--quiet"]
        if a.recipe:
            cmd += ["--recipe", a.recipe]
        if a.epochs:
            cmd += ["--epochs", str(a.epochs)]
        if a.cache:
            cmd += ["--cache", a.cache]
        cmd += extra
        print("$ " + " ".join(cmd), flush=True)
        start = time.time()
        rc = subprocess.call(cmd)
        if rc != 0:
            print(f"{model}: compare exited {rc}", file=sys.stderr)
            return rc
        with open(os.path.join(out, "comparison.json")) as f:
            comparison = json.load(f)
        entry = {"wall_seconds": time.time() - start, "modes": {}}
        print(f"\n{model}: validation over wall time (training + validation), per mode")
        for m in comparison["modes"]:
            run_dir = os.path.join(out, m["run_dir"])
            points = curve(run_dir)
            auc = time_to(points, 1, a.tol_auc)
            bacc = time_to(points, 2, a.tol_bacc)
            label = m["precision"]["label"]
            entry["modes"][m["mode"]] = {
                "label": label,
                "curve": [{"wall_s": p[0], "val_auc": p[1], "val_balanced_acc": p[2], "epoch": p[3]} for p in points],
                "auc_plateau": auc[2], "auc_time_s": auc[0], "auc_epoch": auc[1],
                "bacc_plateau": bacc[2], "bacc_time_s": bacc[0], "bacc_epoch": bacc[1],
            }
            print(f"  {m['mode']} ({label})")
            print("    epoch  wall s   val AUC  val bal.acc")
            for p in points:
                print(f"    {p[3]:5d} {p[0]:7.0f}   {p[1]:.4f}   {p[2]:.4f}")
            if not points:
                print("    no validated epoch")
                continue
            print(f"    AUC plateau {auc[2]:.4f}, within {a.tol_auc} after {auc[0]:.0f} s (epoch {auc[1]}); "
                  f"balanced accuracy plateau {bacc[2]:.4f}, within {a.tol_bacc} after {bacc[0]:.0f} s (epoch {bacc[1]})")
        report["models"][model] = entry
        print(f"  verdict: {comparison.get('verdict', '')}")
    with open(os.path.join(a.out, "time_to_quality.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(f"\nwritten: {os.path.join(a.out, 'time_to_quality.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
