"""The reference side's seeded validation carve, shared by reference_train.py (carving
decoded tensors) and split_folder.py (writing the same split as a train/ val/ folder)."""
import random

SPLIT_SEED = 20180215
EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm")  # what decode_folder reads


def carve_positions(class_sizes, fraction, split_seed=SPLIT_SEED):
    """For each class (in order) the set of positions, within that class's sorted items,
    that go to validation: `fraction` of the class (at least one when it has two or more,
    never all of it), drawn by one seeded generator across the classes."""
    rng = random.Random(split_seed)
    out = []
    for n in class_sizes:
        order = list(range(n))
        rng.shuffle(order)
        take = min(max(round(fraction * n), 1), n - 1) if n >= 2 else 0
        out.append(set(order[:take]))
    return out
