#!/usr/bin/python3
"""GUI tax: a training run through the real MainWindow vs the CLI run of the same configuration.

    QT_QPA_PLATFORM=offscreen bench/gui_tax.py [--rounds 4] [--data DIR] [--epochs 3] [--old]

Each round runs the CLI, the GUI as it is (step events batched every
TrainingController::kStepDeliveryMs, replots at most every PlotsPanel::kMinReplotIntervalMs)
and, with --old, the GUI as it was before issue 16 (a queued event per step, up to 20
replots/s), in an order rotated round to round. Figure per run: the median images/s of the
epochs after the first (epochs.csv: the engine's one throughput definition, training time
only); per round, each GUI variant's ratio to that round's CLI run. The two runs' config.json
are compared, so "the same configuration" is checked, not assumed. PneumoniaMNIST, small_cnn,
fp16 (emulated on this CPU), batch 32, 2 threads by default: issue 16's configuration.
"""

import argparse
import csv
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.normpath(os.path.join(REPO, "..", "shared", "data", "pneumoniamnist"))
IGNORED = {"out", "created", "hardware"}  # where and when, not what


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def epoch_rate(run_dir):
    with open(os.path.join(run_dir, "epochs.csv")) as f:
        rows = list(csv.DictReader(f))
    ips = [float(r["images_per_s"]) for r in rows]
    return statistics.median(ips[1:] if len(ips) >= 3 else ips)  # the engine's rule (metrics.json)


def config(run_dir):
    with open(os.path.join(run_dir, "config.json")) as f:
        return json.load(f)


def diff(a, b, prefix=""):
    out = []
    for k in sorted(set(a) | set(b)):
        if k in IGNORED:
            continue
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += diff(va, vb, prefix + k + ".")
        elif va != vb:
            out.append(f"{prefix}{k}: cli {va!r} gui {vb!r}")
    return out


def median_interval(values, level=0.95):
    """Distribution-free interval of the median: the order statistics k and n+1-k with
    P(k <= Binomial(n, 1/2) <= n-k) >= level; None where n is too small for that level."""
    v = sorted(values)
    n = len(v)
    pmf = [math.comb(n, i) / 2 ** n for i in range(n + 1)]
    best = None
    for k in range(1, n // 2 + 1):
        if sum(pmf[k:n - k + 1]) >= level:
            best = k
    return (v[best - 1], v[n - best]) if best else (None, None)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--precision", default="fp16")
    ap.add_argument("--image-size", type=int, default=28)
    ap.add_argument("--old", action="store_true", help="also the GUI's event delivery and replot rate before issue 16")
    ap.add_argument("--gui-before", metavar="EXE",
                    help="also this gui_tax binary (another build, e.g. the commit before a change) in the same rounds")
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    a = ap.parse_args()
    cli = os.path.join(a.build, "app", "ampbench-cli")
    gui = os.path.join(a.build, "bench", "gui_tax")
    for exe in (cli, gui):
        if not os.access(exe, os.X_OK):
            sys.exit(f"{exe} is missing: build the ampbench-cli and gui_tax targets")
    common = ["--model", "small_cnn", "--precision", a.precision, "--batch-size", "32",
              "--image-size", str(a.image_size), "--epochs", str(a.epochs), "--threads", "2"]
    variants = [("cli", None, None), ("gui", gui, [])]
    if a.old:
        variants.append(("gui_old", gui, ["--step-delivery-ms", "0", "--replot-ms", "50"]))
    if a.gui_before:
        variants.append(("gui_before", os.path.abspath(a.gui_before), []))
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    work = tempfile.mkdtemp(prefix="ampbench-guitax-")
    rates = {n: [] for n, _, _ in variants}
    gui_share = {n: [] for n, _, _ in variants}  # GUI thread CPU s / process CPU s, per GUI run
    configs = {}
    print(f"load average before: {loadavg()}", flush=True)
    try:
        for r in range(a.rounds):
            order = variants[r % len(variants):] + variants[:r % len(variants)]
            for name, exe, extra in order:
                out = os.path.join(work, f"{name}-{r}")
                if extra is None:
                    cmd = [cli, "train", "--data", a.data, "--out", out, "--quiet"] + common
                else:
                    cmd = [exe, "--data", a.data, "--out", out] + common + extra
                p = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if p.returncode != 0:
                    sys.exit(f"{name}: exit {p.returncode}: {(p.stderr or p.stdout)[-1500:]}")
                rates[name].append(epoch_rate(out))
                for line in p.stdout.splitlines():
                    if line.startswith("gui_thread_cpu_s="):
                        f = dict(kv.split("=") for kv in line.split())
                        gui_share[name].append(float(f["gui_thread_cpu_s"]) / float(f["process_cpu_s"]))
                configs.setdefault(name, config(out))
                print(f"round {r + 1} {name}: {rates[name][-1]:.0f} img/s (load {loadavg()})", flush=True)
                shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    d = diff(configs["cli"], configs["gui"])
    print("config.json differences, cli vs gui: " + ("; ".join(d) if d else "none"))
    print(f"{a.rounds} paired rounds, load average after: {loadavg()}")
    print("| variant | img/s median (range) | vs CLI, per round: median (range) | ~95 % interval of that median | "
          "GUI thread's share of the run's CPU time: median (range) |")
    print("|---|---|---|---|---|")
    for name, _, _ in variants:
        v = rates[name]
        rat = [x / c for x, c in zip(v, rates["cli"])]
        lo, hi = median_interval(rat)
        print(f"| {name} | {statistics.median(v):.0f} ({min(v):.0f}–{max(v):.0f}) | "
              f"{statistics.median(rat):.3f}x ({min(rat):.3f}–{max(rat):.3f}) | "
              + (f"{lo:.3f}–{hi:.3f}" if lo is not None else "—") + " | " +
              (f"{100 * statistics.median(gui_share[name]):.2f} % ({100 * min(gui_share[name]):.2f}–"
               f"{100 * max(gui_share[name]):.2f})" if gui_share[name] else "—") + " |")


if __name__ == "__main__":
    main()
