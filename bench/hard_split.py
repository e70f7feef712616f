#!/usr/bin/python3
"""A harder test split carved from the Kermany chest X-ray training folder (issue 17).

The official test split (624 images: 234 NORMAL, 390 PNEUMONIA = 62.5 % pneumonia) comes
from other patients, taken later, with fewer pneumonia cases than train (74 %). A split
carved from train/ image by image puts one patient's images on both sides and keeps
train's class shares, so it is easy. This writes DST/train/<class>/ and DST/test/<class>/
as symbolic links:

- test holds whole patients only (none of their images is in train): the patient id
  comes from the file name (personN_bacteria_M / personN_virus_M; IM-XXXX-YYYY and
  NORMAL2-IM-XXXX-YYYY, whose XXXX is the patient in each series);
- test's class sizes are the official test split's (234 / 390 by default);
- --hold-out patients: seeded random patients; --hold-out late: the highest patient
  numbers of each series (a proxy for "taken later"); --hold-out exposure: the patients
  whose images are furthest from their class's median brightness (the darkest and the
  brightest first), a shift in acquisition the model never saw.

ampbench-cli then carves its own validation from DST/train/ (image by image, the easy
kind) and evaluates DST/test/ once at the end, so a run shows both side by side.

Usage: hard_split.py SRC DST [--hold-out patients|late|exposure] [--normal 234]
       [--pneumonia 390] [--seed 17]"""
import argparse
import os
import random
import re
import sys

from splits import EXTENSIONS

PATTERNS = [
    (re.compile(r"^person(\d+)_(bacteria|virus)_\d+\."), "person"),
    (re.compile(r"^NORMAL2-IM-(\d+)-\d+\."), "normal2"),
    (re.compile(r"^IM-(\d+)-\d+\."), "im"),
]


def patient_of(name):
    """(series, number) of a file name, or None when the name has no patient in it."""
    for pattern, series in PATTERNS:
        m = pattern.match(name)
        if m:
            return series, int(m.group(1))
    return None


def mean_intensity(path):
    import cv2  # only for --hold-out exposure

    img = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    return float(img.mean()) if img is not None else 128.0


def order_patients(groups, how, base, cls, rng):
    """The patients of one class in the order test takes them."""
    keys = sorted(groups)
    if how == "patients":
        rng.shuffle(keys)
    elif how == "late":
        keys.sort(key=lambda k: (k[0], -k[1]))
        # interleave the series from their latest patients so each series gives some
        by_series = {}
        for k in keys:
            by_series.setdefault(k[0], []).append(k)
        keys = []
        while any(by_series.values()):
            for s in sorted(by_series):
                if by_series[s]:
                    keys.append(by_series[s].pop(0))
    else:  # exposure: the patients furthest from the class's median brightness first
        means = {k: sum(mean_intensity(os.path.join(base, cls, f)) for f in groups[k]) / len(groups[k]) for k in keys}
        median = sorted(means.values())[len(means) // 2]
        keys.sort(key=lambda k: -abs(means[k] - median))
    return keys


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--hold-out", choices=["patients", "late", "exposure"], default="patients")
    ap.add_argument("--normal", type=int, default=234)
    ap.add_argument("--pneumonia", type=int, default=390)
    ap.add_argument("--seed", type=int, default=17)
    a = ap.parse_args(argv)
    base = os.path.join(a.src, "train") if os.path.isdir(os.path.join(a.src, "train")) else a.src
    want = {"NORMAL": a.normal, "PNEUMONIA": a.pneumonia}
    if sorted(d for d in os.listdir(base) if os.path.isdir(os.path.join(base, d))) != sorted(want):
        print(f"{base}: expected the class folders NORMAL and PNEUMONIA", file=sys.stderr)
        return 2
    if os.path.exists(a.dst):
        print(f"{a.dst} exists: choose a new folder", file=sys.stderr)
        return 2
    rng = random.Random(a.seed)
    report = []
    for cls in sorted(want):
        files = sorted(f for f in os.listdir(os.path.join(base, cls)) if f.lower().endswith(EXTENSIONS))
        groups, loose = {}, []
        for f in files:
            p = patient_of(f)
            if p is None:
                loose.append(f)  # no patient in the name: never in test
            else:
                groups.setdefault(p, []).append(f)
        test = []
        for k in order_patients(groups, a.hold_out, base, cls, rng):
            if len(test) >= want[cls]:
                break
            if len(test) + len(groups[k]) <= want[cls] + 2:  # whole patients; a little over is fine
                test.extend(groups.pop(k))
        train = loose + [f for k in sorted(groups) for f in groups[k]]
        for split, names in (("train", train), ("test", test)):
            d = os.path.join(a.dst, split, cls)
            os.makedirs(d, exist_ok=True)
            for f in names:
                os.symlink(os.path.abspath(os.path.join(base, cls, f)), os.path.join(d, f))
        report.append(f"{cls}: train {len(train)}, test {len(test)}")
    print(f"{a.dst} ({a.hold_out}): " + "; ".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
