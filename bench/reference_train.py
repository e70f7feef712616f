#!/usr/bin/python3
"""PyTorch's own Python training loop, built to match AmpBench's engine step for step.

Run it with Debian's interpreter (/usr/bin/python3: python3-torch 1.13, python3-torchvision).
It mirrors engine/train/Trainer.cpp (trainPrepared) and engine/data/Loader.cpp:

- models: torchvision resnet18 with conv1 = Conv2d(C, 64, 7, 2, 3, bias=False) and
  fc = Linear(512, 2) (what engine/models/ResNet.cpp builds for C input channels), or a
  copy of engine/models/SmallCnn.cpp; kaiming-normal(fan_out) conv init as torchvision;
- data: synthetic uint8 images (N random images, 2 classes, mean 0.5 / std 0.29 as the
  engine's synthetic data) or a dataset folder decoded once with OpenCV exactly as the
  engine (grayscale, INTER_AREA shrink then INTER_LINEAR enlarge), normalised with the
  training split's mean/std; batches: seeded shuffle, index_select, float, x*scale+shift,
  the engine's augmentation (one affine_grid + grid_sample per batch: random resized crop
  + small rotation, border padding), channels_last when asked, prepared by a prefetch
  thread two batches ahead (as BatchLoader);
- step: zero_grad (set-to-none by default), forward under torch.autocast('cpu',
  bfloat16) for bf16, logits.float(), cross-entropy in fp32 outside autocast, backward,
  SGD(momentum 0.9, weight decay 5e-4), per-step loss accumulation (no .item() per step
  unless --item-per-step).

It times the training phase of each epoch (loader start to the last step's values read)
and prints one JSON object: images_per_s = median of the epochs after the first (the
engine's rule: the first epoch is dropped when there are three or more).

On a GPU (--device cuda, a PyTorch 2.x install): TF32 off as in the engine's fp32, the
prefetch thread uploads each uint8 batch (pinned) and converts, normalises and augments it
on the GPU (as the engine's loader),
fp16 = torch.autocast('cuda', float16) + GradScaler, bf16 = autocast bfloat16; the peak is
torch.cuda.max_memory_allocated (peak_cuda_mb). --data cache:FILE reads an engine cache
file (ampbench-cli --cache), so both sides train on the same decoded images. A batch that
does not fit prints {"out_of_memory": true} and exits 4, as ampbench-cli does.
"""

import argparse
import json
import math
import os
import queue
import random
import statistics
import sys
import threading
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from splits import EXTENSIONS, SPLIT_SEED, carve_positions


# ---------------------------------------------------------------- models

class SmallCnn(nn.Module):
    """engine/models/SmallCnn.cpp: 4 x (conv3x3 no-bias -> BN -> ReLU -> maxpool 2 while > 1 px)."""

    def __init__(self, in_channels=1, num_classes=2):
        super().__init__()
        widths = [16, 32, 64, 128]
        c = in_channels
        for i, w in enumerate(widths):
            setattr(self, f"conv{i + 1}", nn.Conv2d(c, w, 3, padding=1, bias=False))
            setattr(self, f"bn{i + 1}", nn.BatchNorm2d(w))
            c = w
        self.fc = nn.Linear(c, num_classes)
        init_like_torchvision(self)

    def forward(self, x):
        for i in range(4):
            x = F.relu(getattr(self, f"bn{i + 1}")(getattr(self, f"conv{i + 1}")(x)), inplace=True)
            if x.size(2) > 1 and x.size(3) > 1:
                x = F.max_pool2d(x, 2, 2)
        x = F.adaptive_avg_pool2d(x, (1, 1)).flatten(1)
        return self.fc(x)


def init_like_torchvision(model):
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def make_model(name, in_channels, num_classes=2):
    if name == "small_cnn":
        return SmallCnn(in_channels, num_classes)
    if name in ("resnet18", "resnet34"):
        import torchvision
        m = getattr(torchvision.models, name)(weights=None, num_classes=num_classes)
        if in_channels != 3:
            m.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
            nn.init.kaiming_normal_(m.conv1.weight, mode="fan_out", nonlinearity="relu")
        return m
    raise SystemExit(f"unknown model {name!r}: small_cnn, resnet18 or resnet34")


# ---------------------------------------------------------------- data

def synthetic(n, channels, size, seed):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, channels, size, size), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, 2, (n,), generator=g, dtype=torch.long)
    return images, labels, [0.5] * channels, [0.29] * channels


def read_engine_cache(path):
    """An ampbench-cli --cache file. Format 2 (engine/data/CacheFile.h): "ampbench-cache-2",
    4096-aligned blocks per split (uint8 NCHW images, int64 labels), the metadata JSON, then a
    trailer (uint64 JSON length, "AMPBCEND"); its images are memory-mapped. Format 1 (older
    engines): a torch::serialize archive with <split>_images, <split>_labels and meta.
    Returns {split: (images, labels)} and the meta."""
    import numpy as np
    with open(path, "rb") as f:
        head = f.read(16)
        if head == b"ampbench-cache-2":
            f.seek(-16, os.SEEK_END)
            trailer = f.read(16)
            if trailer[8:] != b"AMPBCEND":
                raise SystemExit(f"{path}: the cache file is cut short")
            length = int.from_bytes(trailer[:8], "little")
            f.seek(-16 - length, os.SEEK_END)
            meta = json.loads(f.read(length).decode())
            size, ch = meta["image_size"], meta["channels"]
            splits = {}
            for name, s in meta["splits"].items():
                n = s["count"]
                images = np.memmap(path, dtype=np.uint8, mode="r", offset=s["images_offset"],
                                   shape=(n, ch, size, size)) if n else np.zeros((0, ch, size, size), np.uint8)
                labels = np.fromfile(path, dtype="<i8", count=n, offset=s["labels_offset"])
                splits[name] = (torch.from_numpy(np.array(images)), torch.from_numpy(labels))  # copied: writable
            return splits, meta
    archive = torch.jit.load(path, map_location="cpu")
    meta = json.loads(bytes(archive.meta.tolist()).decode())
    if meta.get("format") != "ampbench-cache-1":
        raise SystemExit(f"{path}: not an AmpBench cache file")
    splits = {name: (getattr(archive, f"{name}_images"), getattr(archive, f"{name}_labels"))
              for name in meta.get("ids", {})}
    return splits, meta


def decode_folder(root, channels, size, limit, split_seed=SPLIT_SEED):
    """The engine's decode: class folders under train/, grayscale/RGB, area-shrink then linear-enlarge."""
    import cv2
    import numpy as np
    train = os.path.join(root, "train")
    base = train if os.path.isdir(train) else root
    classes = sorted(d for d in os.listdir(base) if os.path.isdir(os.path.join(base, d)))
    per_class = []
    for k, cls in enumerate(classes):
        d = os.path.join(base, cls)
        files = sorted(os.path.join(d, f) for f in os.listdir(d)
                       if f.lower().endswith(EXTENSIONS))
        per_class.append([(f, k) for f in files])
    items = []
    if limit and limit > 0:
        # stratified: each class keeps its share of `limit` (seeded shuffle)
        total = sum(len(p) for p in per_class)
        rng = random.Random(split_seed)
        for p in per_class:
            p = list(p)
            rng.shuffle(p)
            items += p[:max(1, round(limit * len(p) / total))]
    else:
        for p in per_class:
            items += p
    images = np.empty((len(items), channels, size, size), dtype=np.uint8)
    labels = []
    flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
    for i, (f, k) in enumerate(items):
        img = cv2.imread(f, flag)
        h, w = img.shape[:2]
        mw, mh = min(w, size), min(h, size)
        if (mw, mh) != (w, h):
            img = cv2.resize(img, (mw, mh), interpolation=cv2.INTER_AREA)
        if (mw, mh) != (size, size):
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)
        if channels == 1:
            images[i, 0] = img
        else:
            images[i] = cv2.cvtColor(img, cv2.COLOR_BGR2RGB).transpose(2, 0, 1)
        labels.append(k)
    images = torch.from_numpy(images)
    mean, std = mean_std(images)
    return images, torch.tensor(labels, dtype=torch.long), mean, std


def augment_batch(x, rng, min_crop_area=0.80, max_rotation_deg=7.0):
    """engine/data/Loader.cpp augmentBatch: random resized crop + rotation, one grid_sample."""
    n = x.size(0)
    theta = torch.empty(n, 2, 3)
    t = theta.view(n, 6)
    for i in range(n):
        side = math.sqrt(min_crop_area + (1.0 - min_crop_area) * rng.random())
        angle = (2.0 * rng.random() - 1.0) * max_rotation_deg * math.pi / 180.0
        tx = (2.0 * rng.random() - 1.0) * (1.0 - side)
        ty = (2.0 * rng.random() - 1.0) * (1.0 - side)
        c, s = math.cos(angle) * side, math.sin(angle) * side
        t[i, 0], t[i, 1], t[i, 2], t[i, 3], t[i, 4], t[i, 5] = c, -s, tx, s, c, ty
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def batches_per_epoch(n, batch_size):
    """The engine's count: partial last batch kept, except a batch of one (batch norm)."""
    nb = (n + batch_size - 1) // batch_size
    return nb - 1 if nb > 1 and n % batch_size == 1 else nb


def normaliser(mean, std):
    """x * scale + shift on uint8 pixels = (x / 255 - mean) / std, per channel."""
    c = len(mean)
    scale = torch.tensor([1.0 / (255.0 * s) for s in std]).view(1, c, 1, 1)
    shift = torch.tensor([-m / s for m, s in zip(mean, std)]).view(1, c, 1, 1)
    return scale, shift


class PrefetchLoader:
    """BatchLoader: a producer thread keeps `depth` batches ready (torch ops release the GIL)."""

    def __init__(self, images, labels, mean, std, batch_size, epoch, seed, augment, channels_last, depth=2,
                 prefetch=True, device="cpu"):
        n = images.size(0)
        g = torch.Generator().manual_seed(seed * 1000003 + epoch * 7919 + 1)
        self.order = torch.randperm(n, generator=g)
        self.nb = batches_per_epoch(n, batch_size)
        self.scale, self.shift = (t.to(device) for t in normaliser(mean, std))
        self.images, self.labels, self.bs, self.device = images, labels, batch_size, device
        self.augment, self.channels_last = augment, channels_last
        self.rng = random.Random(seed * 7 + epoch)
        self.q = queue.Queue(maxsize=depth)
        self.prefetch = prefetch and self.nb > 1
        self.b = 0
        if self.prefetch:
            self.thread = threading.Thread(target=self._produce, daemon=True)
            self.thread.start()

    def make(self, b):
        with torch.no_grad():
            idx = self.order[b * self.bs:(b + 1) * self.bs]
            x = self.images.index_select(0, idx)
            y = self.labels.index_select(0, idx)
            if self.device != "cpu":  # as the engine: upload uint8, the float work runs on the GPU
                x = x.pin_memory().to(self.device, non_blocking=True)
                y = y.pin_memory().to(self.device, non_blocking=True)
            x = x.float()
            x.mul_(self.scale).add_(self.shift)
            if self.augment:
                x = augment_batch(x, self.rng)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            return x, y

    def _produce(self):
        for b in range(self.nb):
            self.q.put(self.make(b))

    def __iter__(self):
        for b in range(self.nb):
            yield self.q.get() if self.prefetch else self.make(b)


def carve_val(images, labels, fraction):
    """A stratified, seeded validation split (splits.py; not the engine's carve: same share,
    other images)."""
    values = labels.tolist()
    classes = sorted(set(values))
    members = [[i for i, v in enumerate(values) if v == k] for k in classes]
    chosen = carve_positions([len(m) for m in members], fraction)
    carved = sorted(i for m, pos in zip(members, chosen) for j, i in enumerate(m) if j in pos)
    keep = sorted(set(range(len(values))) - set(carved))
    keep, carved = torch.tensor(keep), torch.tensor(carved)
    return images[keep], labels[keep], (images[carved], labels[carved])


def mean_std(images):
    """Per-channel mean and std of uint8 images scaled to [0, 1] (the engine's normalisation)."""
    c = images.size(1)
    f = images.double().div_(255.0).transpose(0, 1).reshape(c, -1)
    mean = f.mean(1)
    std = (f.pow(2).mean(1) - mean.pow(2)).clamp_min(1e-6).sqrt()
    return mean.tolist(), std.tolist()


def evaluate(model, val, mean, std, batch_size, amp_dtype, channels_last, device="cpu"):
    """Accuracy and mean loss on the validation split, in eval mode, under training's autocast."""
    images, labels = val
    scale, shift = normaliser(mean, std)
    model.eval()
    correct, loss_sum = 0, 0.0
    with torch.no_grad():
        for b in range(0, images.size(0), batch_size):
            x = images[b:b + batch_size].float().mul_(scale).add_(shift)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = labels[b:b + batch_size]
            x, y = x.to(device), y.to(device)
            with torch.autocast(device, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
                logits = model(x)
            logits = logits.float()
            loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            correct += int(logits.argmax(1).eq(y).sum())
    model.train()
    n = max(1, images.size(0))
    return correct / n, loss_sum / n


# ---------------------------------------------------------------- training

def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="synthetic:512", help="synthetic:N or a dataset folder")
    ap.add_argument("--limit", type=int, default=0, help="at most N training images (stratified), 0 = all")
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"],
                    help="fp16 (autocast float16 + GradScaler) needs --device cuda")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-format", default="channels_last", choices=["channels_last", "contiguous"])
    ap.add_argument("--epochs", type=int, default=4, help="epochs in all; the first is the warm-up")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--no-prefetch", action="store_true", help="make batches inline instead of in a thread")
    ap.add_argument("--zero-grad", default="none", choices=["none", "zero"],
                    help="optimizer.zero_grad(set_to_none=True) (none) or zero-filled gradients")
    ap.add_argument("--foreach", type=int, default=1, help="SGD(foreach=...) (1.13: multi-tensor update)")
    ap.add_argument("--item-per-step", action="store_true", help="read loss.item() every step (a typical loop)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--profile", default="", help="write a torch.profiler table of one epoch to this file")
    # Accuracy runs (bf16 vs fp32 on the chest X-rays), not the throughput benchmark:
    ap.add_argument("--val-fraction", type=float, default=0.0,
                    help="carve this share of each class as validation (seeded), evaluated after every epoch, "
                         "untimed, under the same autocast as training; without it, a val/ folder beside "
                         "train/ is evaluated the same way")
    ap.add_argument("--schedule", default="constant", choices=["constant", "onecycle"],
                    help="onecycle = engine/train/LrSchedule.cpp: cosine from lr/25 up to lr over --warmup of "
                         "the steps, then cosine down to lr/25e4")
    ap.add_argument("--warmup", type=float, default=0.25)
    ap.add_argument("--save-initial", default="",
                    help="torch.save the initial state dict here (ampbench-cli train --pretrained FILE then "
                         "starts from the same weights)")
    a = ap.parse_args(argv)

    dev = a.device
    if dev == "cuda":
        if not torch.cuda.is_available():
            print(json.dumps({"error": "--device cuda: no CUDA device in this PyTorch/machine"}))
            return 2
        # The engine's fp32 is an honest baseline: no TF32 (its autocast modes do not use it either).
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True  # fixed shapes: autotuned convolutions (the engine too)
    elif a.precision == "fp16":
        print(json.dumps({"error": "fp16 autocast needs --device cuda (CPU fp16 has no kernels here)"}))
        return 2
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    val = None
    if a.data.startswith("cache:"):
        splits, meta = read_engine_cache(a.data[len("cache:"):])
        if meta.get("image_size") != a.image_size or meta.get("channels") != a.channels:
            raise SystemExit(f"{a.data}: {meta.get('image_size')} px, {meta.get('channels')} channel(s); "
                             f"pass --image-size/--channels to match")
        images, labels = splits["train"]
        mean, std = mean_std(images)  # the engine normalises with the training split's statistics
        if "val" in splits and a.val_fraction <= 0:
            val = splits["val"]
    elif a.data.startswith("synthetic") and not os.path.exists(a.data):
        n = int(a.data.split(":", 1)[1]) if ":" in a.data else 1024
        images, labels, mean, std = synthetic(n, a.channels, a.image_size, a.seed)
    else:
        images, labels, mean, std = decode_folder(a.data, a.channels, a.image_size, a.limit)

    if a.val_fraction > 0:
        images, labels, val = carve_val(images, labels, a.val_fraction)
        if not a.data.startswith("synthetic"):
            mean, std = mean_std(images)  # the engine normalises with the training split's statistics
    elif val is None and os.path.isdir(os.path.join(a.data, "val")):
        # A train/ val/ folder: the same split the engine reads (--val-fraction 0 there too).
        v_images, v_labels, _, _ = decode_folder(os.path.join(a.data, "val"), a.channels, a.image_size, 0)
        val = (v_images, v_labels)

    cl = a.memory_format == "channels_last"
    model = make_model(a.model, a.channels)
    if a.save_initial:
        torch.save(model.state_dict(), a.save_initial)
    model = model.to(dev)
    if cl:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum, weight_decay=a.weight_decay,
                          foreach=bool(a.foreach))
    amp_dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[a.precision]
    # fp16 needs loss scaling (gradient underflow); the engine's dynamic scaler has GradScaler's defaults.
    if hasattr(torch.amp, "GradScaler"):  # 2.3+; torch.cuda.amp.GradScaler warns there
        scaler = torch.amp.GradScaler("cuda", enabled=a.precision == "fp16")
    else:
        scaler = torch.cuda.amp.GradScaler(enabled=a.precision == "fp16")

    total_steps = max(1, batches_per_epoch(images.size(0), a.batch_size) * a.epochs)
    warmup = min(max(int(a.warmup * total_steps), 1), total_steps)

    def lr_at(step):
        if a.schedule == "constant":
            return a.lr
        cos = lambda lo, hi, t: hi + (lo - hi) * 0.5 * (1.0 + math.cos(math.pi * t))  # noqa: E731
        initial = a.lr / 25.0
        if step < warmup:
            return cos(initial, a.lr, step / warmup)
        return cos(a.lr, initial / 1e4, (step - warmup) / max(total_steps - warmup, 1))

    reset_peak_rss()
    if dev == "cuda":
        torch.cuda.reset_peak_memory_stats()
    epoch_s, ips, losses, val_acc, val_loss = [], [], [], [], []
    try:
        train_epochs(a, model, opt, scaler, amp_dtype, images, labels, mean, std, val, cl, lr_at, epoch_s, ips,
                     losses, val_acc, val_loss)
    except RuntimeError as e:  # torch.cuda.OutOfMemoryError is one; the CPU allocator's is a plain one
        if not any(m in str(e) for m in ("out of memory", "can't allocate memory", "not enough memory")):
            raise
        print(json.dumps({"error": f"out of memory: {str(e).splitlines()[0][:200]}", "out_of_memory": True,
                          "batch_size": a.batch_size}))
        return 4
    except Diverged as e:
        print(json.dumps({"error": str(e)}))
        return 3

    timed = ips[1:] if len(ips) >= 3 else ips
    result = {
        "side": "pytorch",
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if dev == "cuda" else "cpu",
        "model": a.model, "precision": a.precision, "batch_size": a.batch_size, "image_size": a.image_size,
        "channels": a.channels, "threads": torch.get_num_threads(), "memory_format": a.memory_format,
        "data": a.data, "images": int(images.size(0)), "augment": not a.no_augment,
        "zero_grad": a.zero_grad, "foreach": bool(a.foreach),
        "epoch_seconds": epoch_s, "epoch_images_per_s": ips,
        "images_per_s": statistics.median(timed),
        "median_epoch_seconds": statistics.median(epoch_s[1:] if len(epoch_s) >= 3 else epoch_s),
        "peak_rss_mb": peak_rss_mb(),
    }
    if dev == "cuda":
        result["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    if val is not None:
        result.update({"schedule": a.schedule, "val_images": int(val[0].size(0)),
                       "val_accuracy": val_acc, "val_loss": val_loss})
    print(json.dumps(result))
    return 0


class Diverged(Exception):
    pass


def train_epochs(a, model, opt, scaler, amp_dtype, images, labels, mean, std, val, cl, lr_at, epoch_s, ips, losses,
                 val_acc, val_loss):
    dev = a.device
    step = 0
    for epoch in range(1, a.epochs + 1):
        prof = None
        if a.profile and epoch == a.epochs:
            prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
            prof.__enter__()
        if dev == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        loader = PrefetchLoader(images, labels, mean, std, a.batch_size, epoch, a.seed, not a.no_augment, cl,
                                prefetch=not a.no_prefetch, device=dev)
        loss_sum = torch.zeros((), dtype=torch.double, device=dev)
        correct = torch.zeros((), dtype=torch.long, device=dev)
        seen = 0
        for x, y in loader:
            if a.schedule != "constant":
                for group in opt.param_groups:
                    group["lr"] = lr_at(step)
            step += 1
            opt.zero_grad(set_to_none=a.zero_grad == "none")
            with torch.autocast(dev, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
                logits = model(x)
            logits = logits.float()
            loss = F.cross_entropy(logits, y)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            with torch.no_grad():
                d = loss.detach()
                loss_sum += d.double() * y.size(0)
                correct += logits.argmax(1).eq(y).sum()
                if a.item_per_step:
                    losses.append(d.item())
            seen += y.size(0)
        train_loss = loss_sum.item() / max(1, seen)
        dt = time.perf_counter() - t0
        if prof is not None:
            prof.__exit__(None, None, None)
            with open(a.profile, "w") as f:
                f.write(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=40))
        if not math.isfinite(train_loss):
            raise Diverged(f"loss became {train_loss} in epoch {epoch}")
        epoch_s.append(dt)
        ips.append(seen / dt)
        note = ""
        if val is not None:
            acc, vloss = evaluate(model, val, mean, std, a.batch_size, amp_dtype, cl, dev)
            val_acc.append(acc)
            val_loss.append(vloss)
            note = f", val acc {100 * acc:.1f} %, val loss {vloss:.4f}"
        print(f"epoch {epoch}: {dt:.2f} s, {seen / dt:.1f} img/s, loss {train_loss:.4f}{note}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
