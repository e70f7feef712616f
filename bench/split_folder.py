#!/usr/bin/python3
"""Writes DST/train/<class>/ and DST/val/<class>/ as symbolic links to the images of a
class-folder dataset SRC (or SRC/train/), carving VAL_FRACTION of each class exactly as
bench/reference_train.py --val-fraction does (same seeded shuffle). Both sides then train
and validate on one split: ampbench-cli reads a train/ val/ folder as it is, and
reference_train.py validates on DST/val/ (see BENCHMARKS.md, chest X-ray bf16 vs fp32).

Usage: split_folder.py SRC DST [--val-fraction 0.15] [--split-seed 20180215]"""
import argparse
import os
import sys

from splits import EXTENSIONS, SPLIT_SEED, carve_positions


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--val-fraction", type=float, default=0.15)
    ap.add_argument("--split-seed", type=int, default=SPLIT_SEED)
    a = ap.parse_args(argv)
    base = os.path.join(a.src, "train") if os.path.isdir(os.path.join(a.src, "train")) else a.src
    classes = sorted(d for d in os.listdir(base) if os.path.isdir(os.path.join(base, d)))
    if len(classes) < 2:
        print(f"{base}: needs at least two class folders", file=sys.stderr)
        return 2
    if os.path.exists(a.dst):
        print(f"{a.dst} exists: choose a new folder", file=sys.stderr)
        return 2
    files_of = [sorted(f for f in os.listdir(os.path.join(base, cls)) if f.lower().endswith(EXTENSIONS))
                for cls in classes]
    chosen = carve_positions([len(f) for f in files_of], a.val_fraction, a.split_seed)
    for cls, files, val in zip(classes, files_of, chosen):
        take = len(val)
        for split in ("train", "val"):
            os.makedirs(os.path.join(a.dst, split, cls))
        for i, f in enumerate(files):
            split = "val" if i in val else "train"
            os.symlink(os.path.abspath(os.path.join(base, cls, f)), os.path.join(a.dst, split, cls, f))
        print(f"{cls}: {len(files) - take} train, {take} val")
    return 0


if __name__ == "__main__":
    sys.exit(main())
