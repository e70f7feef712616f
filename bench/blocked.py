#!/usr/bin/python3
"""Issue 16: our engine on its plain path vs on oneDNN's blocked layout
(--memory-format blocked) vs PyTorch's own loop, in paired rounds of one run.

    bench/blocked.py [--models resnet18 small_cnn] [--size 128] [--rounds 3] [--images 320]
                     [--cli-before OLD/ampbench-cli]

Each round runs, per model, ours on the plain path (--memory-format channels_last: auto
now takes the blocked path on AVX2), ours with --memory-format blocked, and bench/reference_train.py in
channels_last and contiguous, each also with glibc's malloc tuned ("+malloc", as bench/run;
the fastest of them is PyTorch's figure), in an order that rotates
from round to round so the machine's drift hits every variant alike. Throughput = images/s
of whole epochs, median of the epochs after the first, then the median over rounds. Synthetic
data, fp32 (or --precision bf16), no augmentation, batch 32. It reuses bench/run's runners (same command lines).
--cli-before adds another build's blocked path as a fifth variant in the same rounds (a
change's before/after, each against PyTorch).
"""

import argparse
import importlib.machinery
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def load_run():
    loader = importlib.machinery.SourceFileLoader("bench_run", os.path.join(HERE, "run"))
    spec = importlib.util.spec_from_loader("bench_run", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", default=os.path.join(HERE, "..", "build", "app", "ampbench-cli"))
    ap.add_argument("--models", nargs="+", default=["resnet18", "small_cnn"])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--images", type=int, default=320, help="images per epoch (resnet; small_cnn gets 4x)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cli-before", help="another build's ampbench-cli: its blocked path as a fifth variant")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                    help="bf16: both sides in bf16 mixed precision (needs AVX512-BF16/AMX for real kernels)")
    args = ap.parse_args()
    if args.rounds < 1 or args.images < 32 or args.epochs < 2:
        sys.exit("--rounds >= 1, --images >= 32 and --epochs >= 2, please")
    if not os.access(args.cli, os.X_OK):
        sys.exit(f"--cli {args.cli}: not an executable (cmake --build build --target ampbench-cli)")
    run = load_run()
    ap_pytorch = ["channels_last", "contiguous", "channels_last+malloc", "contiguous+malloc"]
    variants = ["ours plain", "ours blocked"] + [f"pytorch {f}" for f in ap_pytorch]
    if args.cli_before:
        if not os.access(args.cli_before, os.X_OK):
            sys.exit(f"--cli-before {args.cli_before}: not an executable")
        variants.append("ours blocked before")
    results = {m: {v: [] for v in variants} for m in args.models}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-blocked-") as work:
        for r in range(args.rounds):
            for model in args.models:
                n = args.images * (4 if model == "small_cnn" else 1)
                cfg = {"model": model, "size": args.size, "mode": args.precision, "threads": args.threads,
                       "epochs": args.epochs, "augment": False, "limit": 0, "data_arg": f"synthetic:{n}"}
                order = variants[r % len(variants):] + variants[:r % len(variants)]
                for v in order:
                    if v == "ours plain":
                        res = run.run_ours(args.cli, cfg, work, ["--memory-format", "channels_last"])
                    elif v == "ours blocked":
                        res = run.run_ours(args.cli, cfg, work, ["--memory-format", "blocked"])
                    elif v == "ours blocked before":
                        res = run.run_ours(args.cli_before, cfg, work, ["--memory-format", "blocked"])
                    else:
                        res = run.run_reference(cfg, v.split()[1], work)
                    if "error" in res:
                        sys.exit(f"{model} {v}: {res['error']}")
                    ips = res["images_per_s"]
                    results[model][v].append(ips)
                    print(f"round {r + 1} {model:9s} {v:22s} {ips:8.1f} img/s", file=sys.stderr, flush=True)
    load_after = os.getloadavg()
    print(f"CPU: {run.machine().get('cpu', platform.processor())}")
    print(f"load average (1 min) before {load_before[0]:.1f}, after {load_after[0]:.1f}; threads {args.threads}; "
          f"{args.size} px, batch 32, {args.precision}, synthetic, {args.rounds} paired rounds")
    print(f"{'model':10s} {'ours plain':>11s} {'ours blocked':>13s} {'pytorch best':>13s} "
          f"{'blocked/plain':>14s} {'blocked/pytorch':>16s} {'plain/pytorch':>14s}")
    summary = {}
    for model in args.models:
        med = {v: statistics.median(results[model][v]) for v in variants}
        best = max(med[f"pytorch {f}"] for f in ap_pytorch)
        summary[model] = {"median_images_per_s": med, "per_round": results[model]}
        print(f"{model:10s} {med['ours plain']:11.1f} {med['ours blocked']:13.1f} {best:13.1f} "
              f"{med['ours blocked'] / med['ours plain']:14.3f} {med['ours blocked'] / best:16.3f} "
              f"{med['ours plain'] / best:14.3f}")
        if args.cli_before:
            before = med["ours blocked before"]
            pairs = [a / b for a, b in zip(results[model]["ours blocked"], results[model]["ours blocked before"])]
            print(f"{'':10s} blocked before {before:.1f} img/s: after/before {med['ours blocked'] / before:.3f} "
                  f"(per round {', '.join(f'{x:.3f}' for x in pairs)}), before/pytorch {before / best:.3f}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
