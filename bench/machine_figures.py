"""Where bench/run's figures stand against the machine (issue 16): the CPU's FMA peak
(bench/fma_peak, all cores), each model's training FLOPs per image (conv and linear
multiply-adds counted from the shapes), and the share of oneDNN's execution time that
goes to reorders (ONEDNN_VERBOSE=1 of a short run per variant).

Achieved GFLOP/s = FLOPs per image x images/s. A training step counts 3 x the forward
multiply-adds x 2 flops (forward, gradient of the input, gradient of the weights; the stem's
input gradient is counted too, as the issue's 114 GFLOP per ResNet-18 step does), batch norm,
ReLU, pooling and the optimizer not at all: the figure is the FMA work the step must do.
"""

import json
import os
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

_FLOPS_SCRIPT = r"""
import json, sys, torch
sys.path.insert(0, %(here)r)
from reference_train import make_model
model, size, channels = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
m = make_model(model, channels)
macs = [0]
def conv(mod, inp, out):
    k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
    macs[0] += out.numel() * k
def lin(mod, inp, out):
    macs[0] += out.numel() * mod.in_features
for mod in m.modules():
    if isinstance(mod, torch.nn.Conv2d):
        mod.register_forward_hook(conv)
    elif isinstance(mod, torch.nn.Linear):
        mod.register_forward_hook(lin)
with torch.no_grad():
    m.eval()(torch.zeros(1, channels, size, size))
print(json.dumps({"forward_macs": macs[0], "train_flops": 6 * macs[0]}))
"""

_flops_cache = {}


def train_flops_per_image(py, model, size, channels=1):
    """FLOPs of one image's training step (6 x forward multiply-adds), or None."""
    k = (model, size, channels)
    if k not in _flops_cache:
        p = subprocess.run([py, "-c", _FLOPS_SCRIPT % {"here": HERE}, model, str(size), str(channels)],
                           capture_output=True, text=True)
        _flops_cache[k] = json.loads(p.stdout.strip().splitlines()[-1])["train_flops"] if p.returncode == 0 else None
    return _flops_cache[k]


def fma_peak(build_dir, threads=None):
    """fp32 FMA peak in GFLOP/s of `threads` threads (bench/fma_peak; default every core): the
    threads the training runs use, so % of peak compares like with like. The widest FMA the
    CPU has ("isa": avx2 or avx512) and, on a CPU with native bf16, the peak of the unit oneDNN
    runs it on ("bf16_gflops_all"; "bf16_unit": amx, else avx512_bf16).
    None when it is not built."""
    exe = os.path.join(build_dir, "bench", "fma_peak")
    if not os.access(exe, os.X_OK):
        return None
    cmd = [exe, "--json"] + (["--threads", str(threads)] if threads else [])
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def onednn_times(cmd, env=None):
    """oneDNN's execution time by primitive kind (ms) in a run of `cmd`, from ONEDNN_VERBOSE=1."""
    e = dict(os.environ, **(env or {}))
    e["ONEDNN_VERBOSE"] = "1"
    e["DNNL_VERBOSE"] = "1"  # the older name, for older oneDNN
    p = subprocess.run(cmd, capture_output=True, text=True, env=e)
    by_kind = {}
    for line in p.stdout.splitlines():
        f = line.split(",")
        # onednn_verbose,exec,cpu,<kind>,<impl>,...,<time ms>
        if len(f) > 5 and f[0] in ("onednn_verbose", "dnnl_verbose") and f[1] == "exec":
            try:
                by_kind[f[3]] = by_kind.get(f[3], 0.0) + float(f[-1])
            except ValueError:
                pass
    return {"returncode": p.returncode, "ms_by_kind": by_kind}


def reorder_share(times):
    total = sum(times["ms_by_kind"].values())
    return times["ms_by_kind"].get("reorder", 0.0) / total if total > 0 else None


def ours_cmd(cli, cfg, out, images, batch):
    cmd = [cli, "train", "--data", f"synthetic:{images}", "--model", cfg["model"], "--precision", cfg["mode"],
           "--batch-size", str(batch), "--image-size", str(cfg["size"]), "--threads", str(cfg["threads"]),
           "--optimizer", "sgd", "--schedule", "constant", "--epochs", "1", "--eval-every", "1000000",
           "--quiet", "--out", out]
    if not cfg["augment"]:
        cmd.append("--no-augment")
    return cmd


def reference_cmd(py, reference, cfg, fmt, images, batch):
    cmd = [py, reference, "--data", f"synthetic:{images}", "--model", cfg["model"], "--precision", cfg["mode"],
           "--batch-size", str(batch), "--image-size", str(cfg["size"]), "--threads", str(cfg["threads"]),
           "--memory-format", fmt, "--epochs", "1"]
    if not cfg["augment"]:
        cmd.append("--no-augment")
    return cmd


def measure_reorders(cli, py, reference, cfg, batch, work, steps=10, ours_blocked=False, ours_extra=()):
    """Reorder share of oneDNN time per variant: ours (and ours on the blocked layout), and the
    reference in each memory format, over `steps` steps including the first (whose one-off
    reorders and thread wake-ups weigh on a short run: 3 steps read small_cnn's 6-8 % as 17 %)."""
    images = steps * batch
    out = {}
    d = tempfile.mkdtemp(prefix="verbose-", dir=work)
    # `ours_extra`: the arguments of the "ours" throughput runs (bench/run pins channels_last
    # beside a blocked column), so the share belongs to the same runs as the figure.
    t = onednn_times(ours_cmd(cli, cfg, os.path.join(d, "run"), images, batch) + list(ours_extra))
    out["ours"] = {"reorder_share": reorder_share(t), "ms_by_kind": t["ms_by_kind"]}
    if ours_blocked:
        t = onednn_times(ours_cmd(cli, cfg, os.path.join(d, "blocked"), images, batch) + ["--memory-format", "blocked"])
        out["ours blocked"] = {"reorder_share": reorder_share(t), "ms_by_kind": t["ms_by_kind"]}
    for fmt in sorted({f.partition("+")[0] for f in cfg["formats"]}):
        t = onednn_times(reference_cmd(py, reference, cfg, fmt, images, batch))
        out["pytorch " + fmt] = {"reorder_share": reorder_share(t), "ms_by_kind": t["ms_by_kind"]}
    return out
