#!/usr/bin/python3
"""Export interop: the peers load AmpBench's exported files and compute the same outputs.

Self-test (CTest e2e_export_interop: --part export; e2e_export_pretrained: --part pretrained):
    export_interop.py AMPBENCH_CLI [--part all|export|pretrained]
  generates a tiny two-class PNG dataset, trains small_cnn and resnet18 for one short
  epoch, exports them, and checks:
  - onnx.checker.check_model(full_check=True) passes; input "input" (N,C,S,S) with a
    dynamic N, output "logits";
  - OpenCV's cv2.dnn runs model.onnx;
  - torch.jit.load reads model.pt; its state dict loads with strict=True into
    torchvision.models.resnet18(num_classes=2) (conv1 adapted to 1 channel) and into a
    Python SmallCnn; their logits match cv2.dnn's and the engine's (predict --json);
  - `ampbench-cli predict --model EXPORT_DIR` gives the class probabilities of
    `ampbench-cli predict --run RUN_DIR`;
  - `train --pretrained` takes a TorchScript-scripted torchvision resnet18 and a
    torch.save(state_dict) file, and refuses a mismatching one naming the parameter.

Report mode (the note on issue 5):
    export_interop.py AMPBENCH_CLI --run RUN_DIR --images DIR [--count 32]
  exports RUN_DIR and prints the max abs logit differences engine vs OpenCV DNN vs
  Python torchvision on the first COUNT images under DIR (sorted, across class folders).

Exit codes: 0 ok, 1 a check failed, 77 skipped (a Python peer module is missing).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

SKIP = 77
TOL = 1e-4


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def run(cmd, expect=0):
    start = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if os.environ.get("AMPBENCH_TEST_VERBOSE"):
        print(f"  [{time.time() - start:5.1f} s] {' '.join(os.path.basename(c) for c in cmd[:4])}")
    if expect is not None and p.returncode != expect:
        fail(f"{' '.join(cmd)} exited {p.returncode} (expected {expect})\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def make_dataset(root, cv2, np, per_class_train=24, per_class_val=6, size=28, seed=5):
    """Two classes a small net separates: a bright blob top-left (A) or bottom-right (B)."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", per_class_train), ("val", per_class_val)):
        for k, cls in enumerate(("A_normal", "B_blob")):
            d = os.path.join(root, split, cls)
            os.makedirs(d, exist_ok=True)
            for i in range(n):
                img = rng.normal(90, 25, (size, size))
                cy, cx = (8, 8) if k == 0 else (19, 19)
                cy += rng.integers(-2, 3)
                cx += rng.integers(-2, 3)
                yy, xx = np.mgrid[0:size, 0:size]
                img += 120 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 12.0)
                cv2.imwrite(os.path.join(d, f"{cls}_{i:03d}.png"), np.clip(img, 0, 255).astype(np.uint8))


def list_images(root, count):
    out = []
    for dirpath, _, files in sorted(os.walk(root)):
        for f in sorted(files):
            if f.lower().endswith((".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".tif", ".tiff")):
                out.append(os.path.join(dirpath, f))
    # Take from every class folder in turn so both classes are represented.
    by_dir = {}
    for p in out:
        by_dir.setdefault(os.path.dirname(p), []).append(p)
    picked, lists = [], list(by_dir.values())
    i = 0
    while len(picked) < count and any(i < len(l) for l in lists):
        for l in lists:
            if i < len(l) and len(picked) < count:
                picked.append(l[i])
        i += 1
    return picked


def preprocess(paths, card, cv2, np):
    """The model card's preprocessing, in Python."""
    inp = card["input"]
    size, channels = inp["image_size"], inp["channels"]
    mean = np.array(inp["mean"], dtype=np.float32).reshape(1, channels, 1, 1)
    std = np.array(inp["std"], dtype=np.float32).reshape(1, channels, 1, 1)
    batch = []
    for p in paths:
        img = cv2.imread(p, cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR)
        if img is None:
            fail("cannot read " + p)
        if channels == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        if img.shape[0] != size or img.shape[1] != size:
            shrink = (min(img.shape[1], size), min(img.shape[0], size))
            if shrink != (img.shape[1], img.shape[0]):
                img = cv2.resize(img, shrink, interpolation=cv2.INTER_AREA)
            if shrink != (size, size):
                img = cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)
        img = img.reshape(size, size, -1).transpose(2, 0, 1)
        batch.append(img)
    x = np.stack(batch).astype(np.float32) / np.float32(255.0)
    return ((x - mean) / std).astype(np.float32)


def small_cnn_class(torch):
    nn, F = torch.nn, torch.nn.functional

    class SmallCnn(nn.Module):
        """AmpBench's small_cnn in PyTorch, same parameter names."""

        def __init__(self, channels, num_classes):
            super().__init__()
            widths, inp = [16, 32, 64, 128], channels
            for i, w in enumerate(widths, 1):
                setattr(self, f"conv{i}", nn.Conv2d(inp, w, 3, padding=1, bias=False))
                setattr(self, f"bn{i}", nn.BatchNorm2d(w))
                inp = w
            self.fc = nn.Linear(inp, num_classes)

        def forward(self, x):
            for i in range(1, 5):
                x = F.relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x)))
                if x.shape[2] > 1 and x.shape[3] > 1:
                    x = F.max_pool2d(x, 2, 2)
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    return SmallCnn


def torch_model_from_export(export_dir, card, torch, torchvision):
    """model.pt -> a PyTorch model: torchvision's for the ResNets (strict=True)."""
    state = torch.jit.load(os.path.join(export_dir, "model.pt")).state_dict()
    name, channels, k = card["model"], card["input"]["channels"], len(card["classes"])
    if name.startswith("resnet"):
        m = getattr(torchvision.models, name)(num_classes=k)
        if channels != 3:
            m.conv1 = torch.nn.Conv2d(channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    elif name == "small_cnn":
        m = small_cnn_class(torch)(channels, k)
    else:
        fail("no PyTorch reference for model " + name)
    missing = set(m.state_dict()) ^ set(state)
    if missing:
        fail(f"model.pt keys differ from the PyTorch model's: {sorted(missing)[:8]}")
    m.load_state_dict(state, strict=True)
    return m.eval()


def check_onnx(path, card, onnx):
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    g = model.graph
    if [i.name for i in g.input] != ["input"] or [o.name for o in g.output] != ["logits"]:
        fail(f"ONNX input/output names {[i.name for i in g.input]} {[o.name for o in g.output]}")
    dims = g.input[0].type.tensor_type.shape.dim
    size, channels = card["input"]["image_size"], card["input"]["channels"]
    if not dims[0].dim_param or [d.dim_value for d in dims[1:]] != [channels, size, size]:
        fail(f"ONNX input shape {dims}")
    ops = sorted({n.op_type for n in g.node})
    if "Identity" in ops:
        fail("Identity node in the ONNX graph (OpenCV 4.6 rejects it)")
    opset = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")][0]
    if opset < 13:
        fail(f"opset {opset} < 13")
    return ops, opset


def engine_predict(cli, where, paths, flag="--model"):
    p = run([cli, "predict", flag, where, "--json"] + paths)
    return json.loads(p.stdout)


def compare(cli, run_dir, export_dir, paths, mods, verbose=True):
    np, onnx, torch, torchvision, cv2 = mods
    card = json.load(open(os.path.join(export_dir, "model.json")))
    onnx_path = os.path.join(export_dir, "model.onnx")
    ops, opset = check_onnx(onnx_path, card, onnx)

    x = preprocess(paths, card, cv2, np)
    net = cv2.dnn.readNetFromONNX(onnx_path)
    net.setInput(x, "input")
    cv_logits = net.forward("logits").astype(np.float64)

    tm = torch_model_from_export(export_dir, card, torch, torchvision)
    with torch.no_grad():
        tv_logits = tm(torch.from_numpy(x)).double().numpy()

    from_export = engine_predict(cli, export_dir, paths)
    from_run = engine_predict(cli, run_dir, paths, "--run")
    eng_logits = np.array([p["logits"] for p in from_export["predictions"]], dtype=np.float64)
    run_logits = np.array([p["logits"] for p in from_run["predictions"]], dtype=np.float64)
    p_export = np.array([p["probabilities"] for p in from_export["predictions"]])
    p_run = np.array([p["probabilities"] for p in from_run["predictions"]])
    t = torch.from_numpy(tv_logits)
    p_torch = torch.softmax(t, 1).numpy()

    diffs = {
        "engine vs OpenCV DNN": float(np.abs(eng_logits - cv_logits).max()),
        "engine vs torchvision": float(np.abs(eng_logits - tv_logits).max()),
        "OpenCV DNN vs torchvision": float(np.abs(cv_logits - tv_logits).max()),
        "engine run dir vs export dir": float(np.abs(eng_logits - run_logits).max()),
    }
    prob_diffs = {
        "predict export vs run": float(np.abs(p_export - p_run).max()),
        "predict export vs torch softmax": float(np.abs(p_export - p_torch).max()),
    }
    if verbose:
        print(f"{card['model']}: {len(paths)} images, ONNX opset {opset} ops {ops}, onnx.checker (full_check): passed")
        print(f"  logit scale (max |logit|): {np.abs(eng_logits).max():.4f}")
        for k, v in diffs.items():
            print(f"  max abs logit diff {k}: {v:.3g}")
        for k, v in prob_diffs.items():
            print(f"  max abs probability diff {k}: {v:.3g}")
    for k, v in diffs.items():
        if not v <= TOL:
            fail(f"{card['model']}: max abs logit difference {k} = {v} > {TOL}")
    if prob_diffs["predict export vs run"] > 1e-6:
        fail(f"predict from the export differs from predict on the run: {prob_diffs}")
    if prob_diffs["predict export vs torch softmax"] > 1e-5:
        fail(f"predict probabilities differ from PyTorch's: {prob_diffs}")
    if [p["predicted"] for p in from_export["predictions"]] != [p["predicted"] for p in from_run["predictions"]]:
        fail("predicted classes differ between export and run")
    return diffs


def widen_fp16(model, onnx, np):
    """float16 initializers -> float32 (same rounded values), their Casts removed: for
    OpenCV 4.6, which cannot read FLOAT16 tensors."""
    from onnx import numpy_helper
    widened, rename, keep = set(), {}, []
    for init in model.graph.initializer:
        if init.data_type == onnx.TensorProto.FLOAT16:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float32), init.name))
            widened.add(init.name)
    for n in model.graph.node:
        if n.op_type == "Cast" and len(n.input) == 1 and n.input[0] in widened:
            rename[n.output[0]] = n.input[0]
            continue
        for i, name in enumerate(n.input):
            if name in rename:
                n.input[i] = rename[name]
        keep.append(n)
    del model.graph.node[:]
    model.graph.node.extend(keep)
    return model, len(widened)


def check_variants(cli, run_dir, work, paths, mods, verbose=True):
    """--fold-bn and --fp16-weights: checker passes, cv2.dnn matches PyTorch (for fp16:
    PyTorch with the same conv/fc weights rounded to float16)."""
    np, onnx, torch, torchvision, cv2 = mods
    results = {}
    for variant in ("fold-bn", "fp16-weights"):
        d = os.path.join(work, "variant-" + variant)
        run([cli, "export", "--run", run_dir, "--out", d, "--format", "onnx,torch,card", "--" + variant])
        card = json.load(open(os.path.join(d, "model.json")))
        path = os.path.join(d, "model.onnx")
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        ops = sorted({n.op_type for n in model.graph.node})
        x = preprocess(paths, card, cv2, np)
        tm = torch_model_from_export(d, card, torch, torchvision)
        note = ""
        if variant == "fp16-weights":
            if "Cast" not in ops or not any(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer):
                fail("--fp16-weights wrote no float16 initializers")
            with torch.no_grad():
                for name, p in tm.named_parameters():
                    if name.startswith("conv") or ".conv" in name or "downsample.0" in name or name.startswith("fc"):
                        p.copy_(p.half().float())
            try:
                net = cv2.dnn.readNetFromONNX(path)
            except cv2.error:
                widened, n16 = widen_fp16(model, onnx, np)
                net = cv2.dnn.readNetFromONNX(np.frombuffer(widened.SerializeToString(), np.uint8))
                note = f" (OpenCV {cv2.__version__} cannot read FLOAT16 tensors: {n16} initializers widened in Python)"
        else:
            if "BatchNormalization" in ops:
                fail("--fold-bn left BatchNormalization nodes")
            net = cv2.dnn.readNetFromONNX(path)
        net.setInput(x, "input")
        cv_logits = net.forward("logits").astype(np.float64)
        with torch.no_grad():
            tv_logits = tm(torch.from_numpy(x)).double().numpy()
        d_max = float(np.abs(cv_logits - tv_logits).max())
        size = os.path.getsize(path)
        results[variant] = d_max
        if verbose:
            print(f"  --{variant}: {size / 1e6:.2f} MB, ops {ops}, onnx.checker passed; max abs logit diff "
                  f"OpenCV DNN vs PyTorch{' (fp16-rounded weights)' if variant == 'fp16-weights' else ''}: "
                  f"{d_max:.3g}{note}")
        if not d_max <= TOL:
            fail(f"--{variant}: OpenCV DNN vs PyTorch max abs logit difference {d_max} > {TOL}")
    return results


def check_pretrained(cli, data, work, mods):
    """train --pretrained with files saved by PyTorch from torchvision."""
    np, onnx, torch, torchvision, cv2 = mods
    torch.manual_seed(0)
    m = torchvision.models.resnet18(num_classes=2)
    m.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.normal_(0, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
    m.eval()
    scripted = os.path.join(work, "tv_scripted.pt")
    state_file = os.path.join(work, "tv_state_dict.pt")
    torch.jit.save(torch.jit.script(m), scripted)
    torch.save(m.state_dict(), state_file)
    ref = m.state_dict()
    for label, path in (("TorchScript", scripted), ("state dict", state_file)):
        out = os.path.join(work, "pre_" + label.replace(" ", "_"))
        # A learning rate of 1e-12 keeps the weights where --pretrained put them.
        run([cli, "train", "--data", data, "--model", "resnet18", "--pretrained", path, "--epochs", "1",
             "--limit", "16", "--batch-size", "16", "--image-size", "28", "--lr", "1e-12", "--weight-decay", "0",
             "--no-augment", "--threads", "2", "--quiet", "--out", out])
        run([cli, "export", "--run", out, "--out", out + "/export", "--format", "torch"])
        got = torch.jit.load(out + "/export/model.pt").state_dict()
        for key in ("conv1.weight", "layer3.1.conv2.weight", "layer2.0.downsample.0.weight", "fc.weight", "fc.bias"):
            d = (got[key] - ref[key]).abs().max().item()
            if d > 1e-6:
                fail(f"--pretrained {label}: {key} differs from the torchvision file by {d}")
        print(f"--pretrained {label} file of torchvision resnet18: weights loaded (max diff <= 1e-6)")
    # A mismatching file: 3 classes -> exit 2 naming fc.weight.
    bad = torchvision.models.resnet18(num_classes=3)
    bad.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    bad_file = os.path.join(work, "tv_3classes.pt")
    torch.save(bad.state_dict(), bad_file)
    p = run([cli, "train", "--data", data, "--model", "resnet18", "--pretrained", bad_file, "--epochs", "1",
             "--limit", "16", "--batch-size", "16", "--image-size", "28", "--threads", "2", "--quiet",
             "--out", os.path.join(work, "pre_bad")], expect=2)
    if "fc.weight" not in p.stderr:
        fail("mismatching --pretrained file: the error does not name fc.weight: " + p.stderr)
    print("--pretrained with 3-class weights for 2 classes: exit 2, " + p.stderr.strip().splitlines()[-1][:160])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cli")
    ap.add_argument("--run", help="report mode: a run directory to export and compare")
    ap.add_argument("--images", help="report mode: folder of images (e.g. .../pneumoniamnist/val)")
    ap.add_argument("--count", type=int, default=32)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--part", choices=("all", "export", "pretrained"), default="all",
                    help="self-test: the export round trips, the --pretrained imports, or both")
    args = ap.parse_args()
    try:
        import cv2
        import numpy as np
        import onnx
        import torch
        import torchvision
    except ImportError as e:
        print(f"SKIP: /usr/bin/python3 lacks a peer module ({e}); install python3-onnx python3-torch "
              "python3-torchvision python3-opencv")
        return SKIP
    if not hasattr(cv2, "dnn"):
        print("SKIP: this OpenCV has no dnn module")
        return SKIP
    mods = (np, onnx, torch, torchvision, cv2)
    torch.set_num_threads(2)
    print(f"peers: torch {torch.__version__}, torchvision {torchvision.__version__}, onnx {onnx.__version__}, "
          f"OpenCV {cv2.__version__}")

    work = tempfile.mkdtemp(prefix="ampbench-export-interop-")
    try:
        if args.run:
            export_dir = os.path.join(work, "export")
            run([args.cli, "export", "--run", args.run, "--out", export_dir])
            paths = list_images(args.images, args.count)
            compare(args.cli, args.run, export_dir, paths, mods)
            check_variants(args.cli, args.run, work, paths, mods)
            return 0

        data = os.path.join(work, "data")
        make_dataset(data, cv2, np)
        if args.part == "pretrained":
            check_pretrained(args.cli, data, work, mods)
            print("--pretrained imports: all checks passed")
            return 0
        val = list_images(os.path.join(data, "val"), 12)
        for model in ("small_cnn", "resnet18"):
            run_dir = os.path.join(work, model)
            run([args.cli, "train", "--data", data, "--model", model, "--epochs", "1", "--batch-size", "16",
                 "--image-size", "28", "--threads", "2", "--quiet", "--out", run_dir])
            export_dir = os.path.join(work, model + "-export")
            run([args.cli, "export", "--run", run_dir, "--out", export_dir])
            for f in ("model.onnx", "model.pt", "model.json", "MODEL_CARD.md"):
                if not os.path.isfile(os.path.join(export_dir, f)):
                    fail(f"export did not write {f}")
            leftovers = [f for f in os.listdir(export_dir) if ".tmp" in f]
            if leftovers:
                fail(f"temporary files left behind: {leftovers}")
            compare(args.cli, run_dir, export_dir, val, mods)
            if model == "resnet18":
                check_variants(args.cli, run_dir, work, val, mods)
        # Bad input exits 2.
        p = run([args.cli, "export", "--run", data, "--out", os.path.join(work, "x")], expect=2)
        p = run([args.cli, "export", "--run", os.path.join(work, "resnet18"), "--out", os.path.join(work, "x"),
                 "--format", "onnx,keras"], expect=2)
        if args.part == "all":
            check_pretrained(args.cli, data, work, mods)
        print("export interop: all checks passed")
        return 0
    finally:
        if args.keep:
            print("work folder kept: " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
