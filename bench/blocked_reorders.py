#!/usr/bin/python3
"""Issue 16: where a blocked training step's oneDNN time goes, from ONEDNN_VERBOSE.

    bench/blocked_reorders.py [--model resnet18] [--size 128] [--batch 32] [--steps 4]

Runs `ampbench-cli train --memory-format blocked` (fp32, synthetic data, no evaluation) with
ONEDNN_VERBOSE=1 and sums the executed primitives' times per training step, the first step
left out (first-touch). Reorders are split by what they move: WEIGHTS into the kernels'
layouts (plain OIHW -> a tag blocking the output channel, `ABcd8b8a`, `Acdb8a`, ...), WEIGHT
GRADIENTS back to OIHW, and activations. The weights' share says what keeping weights in the
blocked layout for the optimizer could save at most (issue 16: "or reordered once per step,
whichever measures faster").
"""

import argparse
import collections
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def tags(descs):
    """'src_f32::blocked:abcd:f0 dst_f32::blocked:ABcd8b8a:f0' -> {'src': 'abcd', 'dst': 'ABcd8b8a'}"""
    out = {}
    for d in descs.split():
        kind = d.split("_", 1)[0]
        parts = d.split(":")
        if len(parts) >= 4:
            out[kind] = parts[3]
    return out


def blocks_first_dim(tag):
    # Only weights block their first dimension (O); activations block C, never N.
    return bool(tag) and tag[0] == "A"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", default=os.path.join(HERE, "..", "build", "app", "ampbench-cli"))
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=4, help="training steps run (the first is left out)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.steps < 2:
        sys.exit("--steps >= 2, please (the first step is left out)")
    with tempfile.TemporaryDirectory(prefix="bench-reorders-") as work:
        # synthetic:N makes a validation split too; N sized so the training split fills the steps.
        n = args.batch * args.steps * 10 // 8 + args.batch
        cmd = [args.cli, "train", "--data", f"synthetic:{n}", "--model", args.model, "--precision", "fp32",
               "--memory-format", "blocked", "--batch-size", str(args.batch), "--image-size", str(args.size),
               "--threads", str(args.threads), "--optimizer", "sgd", "--schedule", "constant", "--epochs", "1",
               "--eval-every", "1000000", "--no-augment", "--quiet", "--out", os.path.join(work, "run")]
        p = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, ONEDNN_VERBOSE="1"))
        if p.returncode != 0:
            sys.exit(f"{' '.join(cmd)}: exit {p.returncode}\n{p.stderr[-2000:]}")
    lines = [l.split(",") for l in p.stdout.splitlines() if l.startswith("onednn_verbose,exec,cpu,")]
    # A training step ends with the stem's backward-weights (the last gradient autograd computes).
    stem_ic = "ic3" if any("ic3oc64" in l[-2] for l in lines) else "ic1"
    ends = [i for i, l in enumerate(lines) if l[3] == "convolution" and l[5] == "backward_weights"
            and f"_{stem_ic}oc" in l[-2]]
    if len(ends) < 2:
        sys.exit(f"found {len(ends)} training step(s) in the verbose log; is this oneDNN's verbose format?")
    steady = lines[ends[0] + 1:ends[-1] + 1]
    steps = len(ends) - 1
    ms = collections.Counter()
    count = collections.Counter()
    for l in steady:
        prim, t = l[3], float(l[-1])
        if prim == "reorder":
            tg = tags(l[6])
            if blocks_first_dim(tg.get("dst")) and not blocks_first_dim(tg.get("src")):
                key = "reorder: weights to the kernels' layout"
            elif blocks_first_dim(tg.get("src")):
                key = "reorder: weight gradients back to OIHW"
            else:
                key = "reorder: activations"
        else:
            key = f"{prim} {l[5]}"
        ms[key] += t
        count[key] += 1
    total = sum(ms.values())
    print(f"{args.model} {args.size} px batch {args.batch} fp32 blocked, {args.threads} threads, "
          f"{steps} steps after the first; load average {os.getloadavg()[0]:.1f}")
    print(f"{'primitive':48s} {'ms/step':>9s} {'calls/step':>10s} {'share':>7s}")
    for key, t in sorted(ms.items(), key=lambda kv: -kv[1]):
        print(f"{key:48s} {t / steps:9.1f} {count[key] / steps:10.1f} {100 * t / total:6.1f}%")
    print(f"{'oneDNN total':48s} {total / steps:9.1f}")


if __name__ == "__main__":
    main()
