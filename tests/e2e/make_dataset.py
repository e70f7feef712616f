#!/usr/bin/python3
"""Writes a small two-class image folder a CNN separates easily (bright blob top-left vs
bottom-right, plus noise), as 8-bit PGM files: ROOT/NORMAL/*.pgm, ROOT/PNEUMONIA/*.pgm.
Usage: make_dataset.py ROOT PER_CLASS SIZE [--splits]"""
import os
import sys

import numpy as np


def main():
    root, per_class, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    splits = "--splits" in sys.argv
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:size, 0:size]
    for label, (cx, cy) in enumerate([(0.3, 0.3), (0.7, 0.7)]):
        name = ["NORMAL", "PNEUMONIA"][label]
        for i in range(per_class):
            jx, jy = rng.uniform(-0.06, 0.06, 2)
            d2 = (xx - size * (cx + jx)) ** 2 + (yy - size * (cy + jy)) ** 2
            img = 60 + 170 * np.exp(-d2 / (2 * (size * 0.12) ** 2)) + rng.normal(0, 18, (size, size))
            img = np.clip(img, 0, 255).astype(np.uint8)
            sub = ("val" if i % 5 == 4 else "train") if splits else ""
            folder = os.path.join(root, sub, name)
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"img{i:04d}.pgm"), "wb") as f:
                f.write(b"P5\n%d %d\n255\n" % (size, size))
                f.write(img.tobytes())


if __name__ == "__main__":
    main()
