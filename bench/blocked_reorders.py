#!/usr/bin/python3
"""Issue 16: where a blocked training step's oneDNN time goes, from ONEDNN_VERBOSE, and what
that bounds.

    bench/blocked_reorders.py [--precision fp32 --precision bf16] [--model resnet18] [--size 128]
                              [--batch 32] [--channels 1] [--steps 4] [--profile-steps 6]

For each precision, runs `ampbench-cli train --memory-format blocked` (synthetic data, no
evaluation) with ONEDNN_VERBOSE=1 and sums the executed primitives' times per training step,
the first step left out (first-touch). Reorders are split by what they move, told apart by their
layouts, their dims against the convolutions' weight dims, and their first dimension (an
activation's is the batch):
WEIGHTS from the fp32 master copy (OIHW or OHWI) into a kernel's layout (`ABcd8b8a`, `AcdB16b32a2b`, ...),
weights REPACKED from one kernel's layout into another's (the input gradient's, the mosaic's
transposed weights), WEIGHT GRADIENTS back to the weights' layout (OIHW, or OHWI where bf16 holds
them so; from a kernel's layout, or the matmul's OHWI), and activations. A plain fp32 reorder
is a weight gradient when its dims are a convolution weight's (read from the log's convolutions)
and its first dimension is not the batch; where both hold (a --batch equal to a layer's output
channels) the matmul's OHWI -> OIHW direction decides. The weights' share says what
keeping weights in the blocked layout for the optimizer could save at most (issue 16: "or
reordered once per step, whichever measures faster").

With --profile-steps N > 0 a second run of each precision, without the verbose log, gives the
whole step's wall time (the CLI's --profile-steps), so the time outside oneDNN (our code,
ATen, autograd, the optimizer) is the difference. That wall time is measured with the profiler
recording each op, so the difference includes the profiler's own cost (~2,000 op records a step) and
overstates what is outside oneDNN a little. With fp32 and bf16 both given it prints
bf16's speed-up three ways: the whole step, oneDNN's time alone (the ceiling if everything
outside oneDNN cost nothing), and oneDNN's time without bf16's weight packing (into and between
kernels' layouts). The two runs of a precision are separate processes: compare ratios from one
invocation on a quiet machine.
"""

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
WEIGHTS_IN = "reorder: weights to the kernels' layout"
WEIGHTS_REPACKED = "reorder: weights repacked for another kernel"
WEIGHT_GRADIENTS = "reorder: weight gradients back to their layout"
ACTIVATIONS = "reorder: activations"
PLAIN = {"abcd", "acdb"}  # OIHW / OHWI for weights, NCHW / NHWC for activations


def tags(descs):
    """'src_f32::blocked:abcd:f0 dst_f32::blocked:ABcd8b8a:f0' -> {'src': 'abcd', 'dst': 'ABcd8b8a'}"""
    out = {}
    for d in descs.split():
        kind = d.split("_", 1)[0]
        parts = d.split(":")
        if len(parts) >= 4:
            out[kind] = parts[3]
    return out


# 2-D, ungrouped only: a grouped (g..) or 3-D (id..) convolution names its weights with more dims.
CONV_PROBLEM = re.compile(r"^mb(\d+)_ic(\d+)oc(\d+)_ih\d+oh\d+kh(\d+)\D[^_]*_iw\d+ow\d+kw(\d+)")


def weight_dims(problem):
    """A convolution's weight dims as a reorder names them ('64x3x7x7'), from its problem
    descriptor ('mb32_ic3oc64_ih128oh64kh7sh2dh0ph3_iw128ow64kw7sw2dw0pw3'); None if not one."""
    m = CONV_PROBLEM.match(problem)
    return f"{m[3]}x{m[2]}x{m[4]}x{m[5]}" if m else None


def reorder_kind(descs, dims, batch, weights=frozenset()):
    """What a reorder moves, from its memory descriptors, its dims ('512x512x3x3') and the
    dims of the step's convolution weights (`weights`, as weight_dims gives them)."""
    t = tags(descs)
    src, dst = t.get("src", ""), t.get("dst", "")
    # Kernels' weight layouts block the first (O) or second (I) dimension: the tag starts upper case
    # (`ABcd16b16a`, `BcdA16a32b2a`); activations block only C (`aBcd16b`) or are plain.
    if not (src[:1].isupper() or dst[:1].isupper()):
        # A plain pair: weight gradients (the matmul's OHWI -> OIHW) are fp32 both sides and have a
        # convolution weight's dims; an activation's first dimension is the batch. Where both
        # hold (a --batch equal to a layer's output channels), the matmul's direction decides:
        # with today's kernels only an activation with exactly a weight's dims, reordered NHWC -> NCHW,
        # is miscounted.
        gradient_like = "src_f32" in descs and "dst_f32" in descs
        is_weight, is_batch = dims in weights, int(dims.split("x")[0]) == batch
        if gradient_like and is_weight and (not is_batch or (src, dst) == ("acdb", "abcd")):
            return WEIGHT_GRADIENTS
        if gradient_like and not weights and not is_batch:
            return WEIGHT_GRADIENTS  # no convolution seen: the batch alone tells them apart
        return ACTIVATIONS
    if src in PLAIN and "src_f32" in descs and dst not in PLAIN:
        return WEIGHTS_IN  # from the fp32 master weights
    if dst in PLAIN and "src_f32" in descs and "dst_f32" in descs:
        return WEIGHT_GRADIENTS  # from a kernel's layout back to the weights' (OIHW or OHWI)
    return WEIGHTS_REPACKED


def train_cmd(args, precision, steps, out):
    # synthetic:N makes a validation split too; N sized so the training split fills the steps.
    n = args.batch * steps * 10 // 8 + args.batch
    return [args.cli, "train", "--data", f"synthetic:{n}", "--model", args.model, "--precision", precision,
            "--memory-format", "blocked", "--batch-size", str(args.batch), "--image-size", str(args.size),
            "--threads", str(args.threads), "--channels", str(args.channels), "--optimizer", "sgd",
            "--schedule", "constant", "--epochs", "1",
            "--eval-every", "1000000", "--no-augment", "--out", out]


def run(cmd, env):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)}: exit {p.returncode}\n{p.stderr[-2000:]}")
    return p.stdout


def onednn_per_step(args, precision, work):
    out = run(train_cmd(args, precision, args.steps, os.path.join(work, f"verbose-{precision}")) + ["--quiet"],
              dict(os.environ, ONEDNN_VERBOSE="1"))
    lines = [l.split(",") for l in out.splitlines() if l.startswith("onednn_verbose,exec,cpu,")]
    # A training step ends with the stem's backward-weights (the last gradient autograd computes);
    # the stem is the first convolution run (its shape, folded or not, names it).
    convs = [l for l in lines if l[3] == "convolution" and l[5] == "forward_training"]
    if not convs:
        sys.exit("no convolution in the verbose log; is this oneDNN's verbose format?")
    stem = convs[0][-2]
    ends = [i for i, l in enumerate(lines) if l[3] == "convolution" and l[5] == "backward_weights" and l[-2] == stem]
    if len(ends) < 2:
        sys.exit(f"found {len(ends)} training step(s) in the verbose log; is this oneDNN's verbose format?")
    steady = lines[ends[0] + 1:ends[-1] + 1]
    steps = len(ends) - 1
    weights = frozenset(w for w in (weight_dims(l[-2]) for l in lines if l[3] == "convolution") if w)
    ms = collections.Counter()
    count = collections.Counter()
    for l in steady:
        prim, t = l[3], float(l[-1])
        if prim == "reorder":
            key = reorder_kind(l[6], l[-2], args.batch, weights)
        else:
            key = f"{prim} {l[5]}"
        ms[key] += t / steps
        count[key] += 1 / steps
    return ms, count, steps


def wall_per_step(args, precision, work):
    steps = 3 + args.profile_steps + 1  # the CLI profiles after 3 warm-up steps
    out = run(train_cmd(args, precision, steps, os.path.join(work, f"profile-{precision}"))
              + ["--profile-steps", str(args.profile_steps)], dict(os.environ))
    m = re.search(r"where a training step goes: steps \d+-\d+, ([0-9.]+) ms per step", out)
    if not m:
        sys.exit(f"no profile in the CLI's output:\n{out[-2000:]}")
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", default=os.path.join(HERE, "..", "build", "app", "ampbench-cli"))
    ap.add_argument("--precision", action="append", choices=["fp32", "bf16"],
                    help="repeat for several (default: fp32)")
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--channels", type=int, default=1, choices=[1, 3], help="the images' channels (1: grayscale)")
    ap.add_argument("--steps", type=int, default=4, help="training steps run with the verbose log (the first is left out)")
    ap.add_argument("--profile-steps", type=int, default=6,
                    help="steps profiled for the wall time per step (0: no wall-time run)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.steps < 2:
        sys.exit("--steps >= 2, please (the first step is left out)")
    precisions = args.precision or ["fp32"]
    totals = {}
    with tempfile.TemporaryDirectory(prefix="bench-reorders-") as work:
        for precision in precisions:
            ms, count, steps = onednn_per_step(args, precision, work)
            total = sum(ms.values())
            wall = wall_per_step(args, precision, work) if args.profile_steps > 0 else None
            totals[precision] = (total, ms[WEIGHTS_IN] + ms[WEIGHTS_REPACKED], wall)
            print(f"{args.model} {args.size} px batch {args.batch}, {args.channels} channel(s), {precision} blocked, "
                  f"{args.threads} threads, "
                  f"{steps} steps after the first; load average {os.getloadavg()[0]:.1f}")
            print(f"{'primitive':48s} {'ms/step':>9s} {'calls/step':>10s} {'share':>7s}")
            for key, t in sorted(ms.items(), key=lambda kv: -kv[1]):
                print(f"{key:48s} {t:9.1f} {count[key]:10.1f} {100 * t / total:6.1f}%")
            print(f"{'oneDNN total':48s} {total:9.1f}")
            if wall is not None:
                print(f"{'whole step (--profile-steps, no verbose log)':48s} {wall:9.1f}")
                print(f"{'outside oneDNN (the difference)':48s} {wall - total:9.1f} {'':10s} "
                      f"{100 * (wall - total) / wall:6.1f}% of the step")
            print()
    if "fp32" in totals and "bf16" in totals:
        (f, _, fw), (b, bw_reorders, bw) = totals["fp32"], totals["bf16"]
        print("bf16 over fp32, speed-up of a step:")
        if fw and bw:
            print(f"  whole step                                     {fw / bw:5.2f}x")
        print(f"  oneDNN time alone (all else free)              {f / b:5.2f}x")
        print(f"  oneDNN time, bf16's weight packing free too    {f / (b - bw_reorders):5.2f}x")


if __name__ == "__main__":
    main()
