#!/usr/bin/python3
"""Writes the hostile dataset corpus: a small two-class image folder of good images with
hostile cases mixed in (broken, odd and huge files, OS junk, symbolic link loops, odd
names), plus folder-level cases that must be refused, and a manifest saying what AmpBench
must do with each case. tests/e2e/hostile_corpus.sh trains on it and checks the manifest.

Usage: make_hostile_corpus.py OUT_DIR [--good N] [--size PX]

OUT_DIR/ds/                the dataset (classes NORMAL and CLASS_B below)
OUT_DIR/outside/           images a symlink inside the dataset points to (out of the tree)
OUT_DIR/refuse/<case>/     folders that must be refused (exit 2)
OUT_DIR/manifest.json      {"classes": [...], "good_per_class": N, "cases": [...], "refusals": [...]}

A case: {"case", "kind", "path" (relative to ds/, or null), "label", "expect": "trained" |
"skipped" | "ignored", "images" (files it adds when trained), "reason" (a substring the
listed reason must hold, optional), "needs_root_drop" (the case only bites without root)}.
"""
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from make_dicom import element  # noqa: E402  (the DICOM element writer the e2e tests share)

# A class name with a space, a comma, a quote and non-ASCII: it must round-trip exactly
# through config/dataset JSON and the predictions CSV.
CLASS_B = 'pneumonia, "viral" 肺炎 ü'
CLASSES = ["NORMAL", CLASS_B]

rng = np.random.default_rng(15)


def blob(size, label, channels=1, dtype=np.uint8):
    """The make_dataset.py picture: a bright blob top-left (NORMAL) or bottom-right."""
    cx, cy = [(0.3, 0.3), (0.7, 0.7)][label]
    yy, xx = np.mgrid[0:size, 0:size]
    jx, jy = rng.uniform(-0.06, 0.06, 2)
    d2 = (xx - size * (cx + jx)) ** 2 + (yy - size * (cy + jy)) ** 2
    img = 60 + 170 * np.exp(-d2 / (2 * (size * 0.12) ** 2)) + rng.normal(0, 18, (size, size))
    img = np.clip(img, 0, 255)
    if dtype == np.uint16:
        img = img * 257
    elif dtype == np.float32:
        img = img / 255.0
    img = img.astype(dtype)
    if channels > 1:
        img = np.stack([img] * channels, axis=-1)
    return img


def png_bytes(img, mode=None, **kw):
    buf = io.BytesIO()
    Image.fromarray(img, mode).save(buf, "PNG", **kw)
    return buf.getvalue()


def encode(img, fmt, mode=None, **kw):
    buf = io.BytesIO()
    im = Image.fromarray(img) if mode is None else Image.fromarray(img).convert(mode)
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def huge_png(width, height, color_type=2, data_rows=None):
    """A PNG of width x height zero pixels written row by row (tiny on disk, big decoded).
    data_rows limits the rows actually written (a header that claims more than it holds)."""
    bpp = {0: 1, 2: 3}[color_type]
    comp = zlib.compressobj(9)
    rows = height if data_rows is None else data_rows
    block = b"\0" * ((1 + width * bpp) * min(rows, 64))  # 64 rows a call: fast, bounded memory
    parts = []
    for start in range(0, rows, 64):
        n = min(64, rows - start)
        parts.append(comp.compress(block if n == 64 else block[: (1 + width * bpp) * n]))
    parts.append(comp.flush())
    idat = b"".join(parts)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def dicom(size=32, bits=8, pixels=True, ts="1.2.840.10008.1.2.1", rows=None, cols=None, pixel_bytes=None,
          photometric="MONOCHROME2"):
    img = blob(size, 0, dtype=np.uint16 if bits == 16 else np.uint8)
    data = img.tobytes() if pixel_bytes is None else pixel_bytes
    sop_class = "1.2.840.10008.5.1.4.1.1.7"
    uid = "1.2.826.0.1.3680043.8.498.%d" % rng.integers(1, 1 << 30)
    meta = b"".join([
        element(0x0002, 0x0001, b"OB", b"\x00\x01"),
        element(0x0002, 0x0002, b"UI", sop_class),
        element(0x0002, 0x0003, b"UI", uid),
        element(0x0002, 0x0010, b"UI", ts),
        element(0x0002, 0x0012, b"UI", "1.2.826.0.1.3680043.8.498.1"),
    ])
    body = [
        element(0x0008, 0x0016, b"UI", sop_class),
        element(0x0008, 0x0018, b"UI", uid),
        element(0x0028, 0x0002, b"US", struct.pack("<H", 1)),
        element(0x0028, 0x0004, b"CS", photometric),
        element(0x0028, 0x0010, b"US", struct.pack("<H", size if rows is None else rows)),
        element(0x0028, 0x0011, b"US", struct.pack("<H", size if cols is None else cols)),
        element(0x0028, 0x0100, b"US", struct.pack("<H", bits)),
        element(0x0028, 0x0101, b"US", struct.pack("<H", bits)),
        element(0x0028, 0x0102, b"US", struct.pack("<H", bits - 1)),
        element(0x0028, 0x0103, b"US", struct.pack("<H", 0)),
    ]
    if pixels:
        body.append(element(0x7FE0, 0x0010, b"OW", data))
    return (b"\0" * 128 + b"DICM" + element(0x0002, 0x0000, b"UL", struct.pack("<I", len(meta))) + meta +
            b"".join(body))


class Corpus:
    def __init__(self, out):
        self.out = out
        self.ds = os.path.join(out, "ds")
        self.cases = []
        self.refusals = []

    def path(self, rel):
        p = os.path.join(self.ds.encode(), rel if isinstance(rel, bytes) else rel.encode())
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def add(self, case, kind, rel, expect, data=None, label=0, images=1, reason=None, **extra):
        """Writes `data` (bytes) at ds/<class>/<rel> unless data is None (made by the caller).
        A case with xfail="branch: why" (it still ends the process) goes into a dataset of
        its own, pending/<case>/ (two classes of two good images), so the corpus run stays
        meaningful; the test runs it alone and fails once it passes (drop the xfail then)."""
        if extra.get("xfail"):
            d = os.path.join(self.out, "pending", case)
            for k, cls in enumerate("AB"):
                os.makedirs(os.path.join(d, cls), exist_ok=True)
                for i in range(2):
                    with open(os.path.join(d, cls, "good%d.png" % i), "wb") as f:
                        f.write(png_bytes(blob(32, k)))
            with open(os.path.join(d, "A", rel), "wb") as f:
                f.write(data)
            entry = {"case": case, "kind": kind, "path": "A/" + rel, "dataset": "pending/" + case, "label": 0,
                     "expect": expect, "images": images}
            entry.update(extra)
            self.cases.append(entry)
            return None
        full = os.path.join(CLASSES[label], rel) if isinstance(rel, str) else CLASSES[label].encode() + b"/" + rel
        if data is not None:
            with open(self.path(full), "wb") as f:
                f.write(data)
        shown = full if isinstance(full, str) else full.decode("utf-8", "replace")
        entry = {"case": case, "kind": kind, "path": shown, "label": label, "expect": expect, "images": images}
        if reason:
            entry["reason"] = reason
        entry.update(extra)
        self.cases.append(entry)
        return self.path(full)

    def junk(self, case, rel, data=b"junk", label=None):
        """An OS junk entry at ds/<rel> (label None) or ds/<class>/<rel>; valid image bytes
        inside prove it was not counted."""
        full = rel if label is None else os.path.join(CLASSES[label], rel)
        p = self.path(full)
        if data is not None:
            with open(p, "wb") as f:
                f.write(data)
        self.cases.append({"case": case, "kind": "OS junk / hidden", "path": full, "label": label,
                           "expect": "ignored", "images": 0})


def build(out, good, size):
    c = Corpus(out)
    os.makedirs(c.ds, exist_ok=True)
    for label, name in enumerate(CLASSES):
        os.makedirs(os.path.join(c.ds, name), exist_ok=True)
        for i in range(good):
            with open(os.path.join(c.ds, name, "good%03d.png" % i), "wb") as f:
                f.write(png_bytes(blob(size, label)))
    g8 = blob(size, 0)
    g8b = blob(size, 1)
    rgb = blob(size, 0, 3)

    # --- odd but valid: must train
    t = "valid, odd format"
    c.add("png-16bit-gray", t, "p16.png", "trained", png_bytes(blob(size, 0, dtype=np.uint16)))
    c.add("png-gray-alpha-2ch", t, "la.png", "trained", encode(np.dstack([g8, np.full_like(g8, 255)]), "PNG"))
    c.add("png-rgb-3ch", t, "rgb.png", "trained", encode(rgb, "PNG"))
    c.add("png-rgba-4ch", t, "rgba.png", "trained", encode(np.dstack([rgb, np.full_like(g8, 200)]), "PNG"))
    c.add("png-16bit-rgb", t, "rgb16.png", "trained", _png16_rgb(size))
    c.add("png-palette", t, "pal.png", "trained", encode(rgb, "PNG", "P"))
    c.add("png-1bit", t, "bw.png", "trained", encode(g8, "PNG", "1"))
    c.add("png-interlaced", t, "adam7.png", "trained", _png_interlaced(g8))
    c.add("png-1x1", t, "one.png", "trained", png_bytes(np.array([[128]], np.uint8)))
    c.add("png-1x1000-strip", t, "strip.png", "trained", png_bytes(np.full((1, 1000), 90, np.uint8)))
    c.add("jpeg-gray", t, "g.jpg", "trained", encode(g8, "JPEG"))
    c.add("jpeg-rgb", t, "rgb.jpeg", "trained", encode(rgb, "JPEG"))
    c.add("jpeg-progressive", t, "prog.jpg", "trained", encode(rgb, "JPEG", progressive=True))
    c.add("jpeg-cmyk", t, "cmyk.jpg", "trained", encode(rgb, "JPEG", "CMYK"))
    c.add("bmp-8bit", t, "g.bmp", "trained", encode(g8, "BMP"))
    c.add("bmp-24bit", t, "rgb.bmp", "trained", encode(rgb, "BMP"))
    c.add("bmp-32bit", t, "rgba.bmp", "trained", encode(np.dstack([rgb, np.full_like(g8, 255)]), "BMP"))
    c.add("tiff-8bit", t, "g.tif", "trained", encode(g8, "TIFF"))
    c.add("tiff-16bit", t, "g16.tiff", "trained", encode(blob(size, 0, dtype=np.uint16), "TIFF"))
    c.add("tiff-float32", t, "f32.tif", "trained", encode(blob(size, 0, dtype=np.float32), "TIFF"))
    c.add("tiff-rgb-lzw", t, "lzw.tif", "trained", encode(rgb, "TIFF", compression="tiff_lzw"))
    c.add("tiff-multipage", t, "pages.tif", "trained", _tiff_pages(g8))
    c.add("pgm-8bit", t, "g.pgm", "trained", b"P5\n%d %d\n255\n" % (size, size) + g8.tobytes())
    c.add("pgm-16bit", t, "g16.pgm", "trained",
          b"P5\n%d %d\n65535\n" % (size, size) + blob(size, 0, dtype=np.uint16).astype(">u2").tobytes())
    c.add("ppm-rgb", t, "rgb.ppm", "trained", b"P6\n%d %d\n255\n" % (size, size) + rgb.tobytes())
    c.add("dicom-8bit", t, "ct.dcm", "trained", dicom(size))
    c.add("dicom-16bit", t, "ct16.dcm", "trained", dicom(size, bits=16))
    c.add("dicom-monochrome1", t, "inv.dcm", "trained", dicom(size, photometric="MONOCHROME1"))
    c.add("png-named-jpg", t, "really_png.jpg", "trained", png_bytes(g8))
    c.add("upper-case-extension", t, "UPPER.PNG", "trained", png_bytes(g8))
    t = "odd names and places"
    c.add("name-non-ascii", t, "Röntgen_肺_ü.png", "trained", png_bytes(g8))
    c.add("name-spaces", t, "a file  with spaces .png", "trained", png_bytes(g8))
    c.add("name-comma-quote", t, 'quo"te, comma.png', "trained", png_bytes(g8))
    c.add("name-invalid-utf8", t, b"caf\xe9 latin1.png", "trained", png_bytes(g8))
    c.add("name-leading-dash", t, "-rf.png", "trained", png_bytes(g8))
    c.add("nested-subfolders", t, "a/b/c/d/deep.png", "trained", png_bytes(g8))
    c.add("folder-named-like-image", t, "folder.png/inside.png", "trained", png_bytes(g8))
    c.add("class-b-non-ascii-class", t, "b.png", "trained", png_bytes(g8b), label=1)
    p = c.add("symlink-to-file-in-tree", t, "link_to_good.png", "trained")
    os.symlink("good000.png", p)
    outside = os.path.join(out, "outside")
    os.makedirs(outside, exist_ok=True)
    for i in range(2):
        with open(os.path.join(outside, "ext%d.png" % i), "wb") as f:
            f.write(png_bytes(g8b))
    p = c.add("symlink-folder-out-of-tree", t, "linked_outside", "trained", label=1, images=2)
    os.symlink(outside, p)

    # --- broken: skipped with a reason
    t = "empty / truncated / corrupt"
    for ext in ["png", "jpg", "tif", "bmp", "dcm", "pgm"]:
        c.add("zero-byte-" + ext, t, "empty." + ext, "skipped", b"", reason="")
    jpg = encode(rgb if size >= 16 else g8, "JPEG", quality=95)
    jpg_big = encode(blob(256, 0, 3), "JPEG", quality=95)
    png_big = png_bytes(blob(256, 0))
    c.add("jpeg-truncated-half", t, "half.jpg", "skipped", jpg_big[: len(jpg_big) // 2], needs="decode")
    c.add("jpeg-truncated-no-eoi", t, "noeoi.jpg", "skipped", jpg_big[:-2], needs="decode")
    c.add("jpeg-header-only", t, "hdr.jpg", "skipped", jpg[:200])
    c.add("jpeg-garbage-scan", t, "garbage.jpg", "skipped",
          jpg_big[:600] + bytes(rng.integers(0, 256, len(jpg_big) - 602, dtype=np.uint8)) + b"\xff\xd9",
          needs="decode")
    c.add("png-truncated-half", t, "half.png", "skipped", png_big[: len(png_big) // 2])
    c.add("png-no-iend", t, "noiend.png", "skipped", png_big[:-12], needs="decode")
    bad_crc = bytearray(png_big)
    bad_crc[40] ^= 0xFF
    c.add("png-bad-crc", t, "crc.png", "skipped", bytes(bad_crc))
    c.add("png-signature-only", t, "sig.png", "skipped", b"\x89PNG\r\n\x1a\n")
    tif = encode(blob(128, 0), "TIFF")
    c.add("tiff-truncated", t, "half.tif", "skipped", tif[: len(tif) // 2])
    c.add("tiff-bad-ifd-offset", t, "ifd.tif", "skipped", b"II*\0" + struct.pack("<I", 0x7FFFFFF0) + tif[8:])
    bmp = encode(blob(128, 0, 3), "BMP")
    c.add("bmp-truncated", t, "half.bmp", "skipped", bmp[: len(bmp) // 2], needs="decode")
    c.add("bmp-huge-header", t, "huge.bmp", "skipped",
          bmp[:18] + struct.pack("<ii", 60000, 60000) + bmp[26:], needs="decode")
    c.add("pgm-truncated", t, "half.pgm", "skipped", b"P5\n64 64\n255\n" + b"\x80" * 100, needs="decode")
    t = "not an image"
    c.add("text-as-png", t, "notes.png", "skipped", b"these are my notes, not a picture\n" * 4)
    c.add("html-as-jpg", t, "page.jpg", "skipped", b"<!doctype html><html><body>404</body></html>")
    c.add("random-as-tif", t, "noise.tif", "skipped", bytes(rng.integers(0, 256, 4096, dtype=np.uint8)))
    c.add("random-as-bmp", t, "noise.bmp", "skipped", b"BM" + bytes(rng.integers(0, 256, 4096, dtype=np.uint8)))
    c.add("random-as-png", t, "noise.png", "skipped", bytes(rng.integers(0, 256, 4096, dtype=np.uint8)))
    c.add("unknown-extension", t, "labels.csv", "skipped", b"a,b\n1,2\n", reason="not an image file")
    c.add("no-extension", t, "README", "skipped", b"read me\n", reason="not an image file")
    c.add("npz-in-class-folder", t, "arrays.npz", "skipped", b"PK\x03\x04", reason="not an image file")
    t = "DICOM"
    c.add("dicom-no-pixel-data", t, "nopix.dcm", "skipped", dicom(size, pixels=False), reason="pixel")
    c.add("dicom-jpeg2000-garbage", t, "j2k.dcm", "skipped",
          dicom(size, ts="1.2.840.10008.1.2.4.90", pixel_bytes=b"\xff\x4f\xff\x51" + b"\0" * 60))
    c.add("dicom-unknown-transfer-syntax", t, "ts.dcm", "skipped", dicom(size, ts="1.2.3.4.5.6.7.8.9"))
    c.add("dicom-truncated", t, "cut.dcm", "skipped", dicom(size)[:-500], needs="decode")
    c.add("dicom-magic-only", t, "magic.dcm", "skipped", b"\0" * 128 + b"DICM", needs="decode")
    c.add("dicom-random", t, "noise.dcm", "skipped", bytes(rng.integers(0, 256, 2048, dtype=np.uint8)))
    c.add("dicom-zero-rows", t, "rows0.dcm", "skipped", dicom(size, rows=0))
    c.add("dicom-huge-claim", t, "claim.dcm", "skipped", dicom(size, rows=65535, cols=65535), reason="pixel",
          needs="decode")
    t = "huge"
    c.add("png-20000x20000-rgb", t, "huge.png", "skipped", huge_png(20000, 20000), reason="pixel", needs="decode")
    c.add("png-claims-100000x100000", t, "claim.png", "skipped", huge_png(100000, 100000, 0, data_rows=2))
    c.add("tiff-claims-huge", t, "claim.tif", "skipped",
          b"II*\0\x08\0\0\0" + _tiff_ifd_claim(70000, 70000), needs="decode")
    t = "file system"
    p = c.add("dangling-symlink", t, "dangling.png", "skipped", reason="broken symbolic link")
    os.symlink("does-not-exist.png", p)
    p = c.add("symlink-self-loop-file", t, "self.png", "skipped", reason="symbolic link loop")
    os.symlink("self.png", p)
    p = c.add("symlink-loop-to-class", t, "loop_up", "skipped", reason="already scanned")
    os.symlink(".", p)  # the class folder itself: ds/NORMAL/loop_up -> ds/NORMAL
    p = c.add("symlink-loop-to-dataset-root", t, "loop_root", "skipped", reason="holding the dataset")
    os.symlink("../..", p)  # ds/NORMAL/loop_root -> OUT (holds the dataset)
    p = c.add("symlink-into-other-class", t, "to_b", "skipped", reason="already scanned")
    os.symlink("../" + CLASS_B, p)
    p = c.add("fifo-named-png", t, "pipe.png", "skipped", reason="not a regular file")
    os.mkfifo(p)
    p = c.add("unreadable-file", t, "secret.png", "skipped", png_bytes(g8), needs_root_drop=True)
    os.chmod(p, 0)
    p = c.add("unreadable-folder", t, "locked", "skipped", reason="cannot list this folder", needs_root_drop=True)
    os.makedirs(p)
    with open(os.path.join(p, b"inside.png"), "wb") as f:
        f.write(png_bytes(g8))
    os.chmod(p, 0)
    c.add("image-outside-class-folders", t, "../stray.png", "skipped", png_bytes(g8),
          reason="outside the class folders")
    c.cases[-1]["path"] = "stray.png"

    # --- OS junk: neither classes, images nor skipped noise (valid images inside prove it)
    goodpng = png_bytes(g8)
    c.junk("macosx-folder", "__MACOSX/NORMAL/._good000.png", None)
    with open(c.path("__MACOSX/NORMAL/._good000.png"), "wb") as f:
        f.write(goodpng)
    c.cases[-1]["path"] = "__MACOSX"
    c.junk("trash-folder", ".Trash-1000/files/old.png", goodpng)
    c.cases[-1]["path"] = ".Trash-1000"
    c.junk("recycle-bin", "$RECYCLE.BIN/x.png", goodpng)
    c.cases[-1]["path"] = "$RECYCLE.BIN"
    c.junk("system-volume-information", "System Volume Information/x.png", goodpng)
    c.cases[-1]["path"] = "System Volume Information"
    c.junk("synology-eadir", "@eaDir/goodpng000.png/SYNOPHOTO_THUMB_S.jpg", encode(g8, "JPEG"), label=0)
    c.cases[-1]["path"] = "NORMAL/@eaDir"
    c.junk("hidden-folder", ".cache/x.png", goodpng, label=1)
    c.cases[-1]["path"] = CLASS_B + "/.cache"
    c.junk("ds-store-root", ".DS_Store", b"\0\0\0\1Bud1")
    c.junk("ds-store-class", ".DS_Store", b"\0\0\0\1Bud1", label=0)
    c.junk("thumbs-db", "Thumbs.db", b"\xd0\xcf\x11\xe0", label=0)
    c.junk("desktop-ini", "desktop.ini", b"[.ShellClassInfo]\r\n", label=1)
    c.junk("appledouble-file", "._good001.png", goodpng, label=0)
    c.junk("hidden-image", ".hidden.png", goodpng, label=1)

    build_refusals(c, size)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"classes": CLASSES, "good_per_class": good, "cases": c.cases, "refusals": c.refusals}, f,
                  indent=1, ensure_ascii=False)
    return c


def build_refusals(c, size):
    """Folders that must be refused up front (exit 2) with a message saying what to do."""
    root = os.path.join(c.out, "refuse")

    def folder(name, classes, per_class=6, files=None, extra=None, grep="", batch=4, note=""):
        d = os.path.join(root, name)
        os.makedirs(d, exist_ok=True)
        for label, cls in enumerate(classes):
            os.makedirs(os.path.join(d, cls), exist_ok=True)
            for i in range(per_class):
                with open(os.path.join(d, cls, "img%02d.png" % i), "wb") as f:
                    f.write(files(label, i) if files else png_bytes(blob(size, label % 2)))
        for rel, data in (extra or {}).items():
            p = os.path.join(d, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            if data is not None:
                with open(p, "wb") as f:
                    f.write(data)
        c.refusals.append({"case": name, "dir": "refuse/" + name, "grep": grep, "batch": batch, "note": note})

    good = png_bytes(blob(size, 0))
    folder("empty-folder", [], grep="no class folders", note="nothing in it")
    folder("only-os-junk", [], extra={"__MACOSX/a/._x.png": good, ".DS_Store": b"x", "@eaDir/t.jpg": good},
           grep="no class folders", note="__MACOSX/, .DS_Store, @eaDir/ only")
    folder("one-class", ["NORMAL"], grep="only one class", note="a single class folder")
    folder("one-class-plus-macosx", ["NORMAL"], extra={"__MACOSX/NORMAL/._img00.png": good},
           grep="only one class", note="the bug: __MACOSX/ taken for a second class")
    folder("class-without-images", ["NORMAL", "EMPTY"], per_class=0,
           extra={**{"NORMAL/img%02d.png" % i: good for i in range(6)}, "EMPTY/notes.txt": b"x",
                  "EMPTY/.DS_Store": b"x"},
           grep="has no training images", note="one class folder holds no image")
    folder("empty-val-split", [], extra={**{"train/A/a%d.png" % i: good for i in range(4)},
                                         **{"train/B/b%d.png" % i: good for i in range(4)},
                                         "val/A/.keep": None, "val/B/.keep": None},
           grep="split", note="train/ and val/ layout, val/ class folders empty")
    os.makedirs(os.path.join(root, "empty-val-split", "val", "A"), exist_ok=True)
    os.makedirs(os.path.join(root, "empty-val-split", "val", "B"), exist_ok=True)
    folder("fewer-images-than-a-batch", ["A", "B"], per_class=3, batch=32, grep="batch-size",
           note="6 images, batch 32")
    folder("all-unreadable", ["A", "B"], files=lambda label, i: b"not an image",
           grep="no readable images", note="every file is text named .png")
    folder("one-class-unreadable", ["A", "B"], files=lambda label, i: good if label == 0 else b"",
           grep="fewer than two classes", note="class B's files are all 0 bytes")
    bad = os.path.join(root, "class-name-not-utf8").encode()
    os.makedirs(os.path.join(bad, b"caf\xe9"), exist_ok=True)
    os.makedirs(os.path.join(bad, b"NORMAL"), exist_ok=True)
    for cls in (b"caf\xe9", b"NORMAL"):
        for i in range(4):
            with open(os.path.join(bad, cls, b"i%d.png" % i), "wb") as f:
                f.write(good)
    c.refusals.append({"case": "class-name-not-utf8", "dir": "refuse/class-name-not-utf8", "grep": "UTF-8",
                       "batch": 4, "note": "a Latin-1 class folder name"})
    os.makedirs(os.path.join(root, "not-a-folder"), exist_ok=True)
    with open(os.path.join(root, "not-a-folder", "x.png"), "wb") as f:
        f.write(good)
    c.refusals.append({"case": "file-instead-of-folder", "dir": "refuse/not-a-folder/x.png",
                       "grep": "not a dataset folder", "batch": 4, "note": "--data names an image file"})
    c.refusals.append({"case": "missing-folder", "dir": "refuse/does-not-exist", "grep": "does not exist",
                       "batch": 4, "note": "--data names nothing"})


def _png16_rgb(size):
    """A 16-bit RGB PNG written by hand (PIL cannot write 48-bit PNGs)."""
    img = blob(size, 0, 3, np.uint16).astype(">u2")
    raw = b"".join(b"\0" + img[y].tobytes() for y in range(size))
    ihdr = struct.pack(">IIBBBBB", size, size, 16, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw)) +
            png_chunk(b"IEND", b""))


def _png_interlaced(g8):
    buf = io.BytesIO()
    Image.fromarray(g8).save(buf, "PNG", interlace=1)  # PIL ignores this on write; still a valid PNG
    return buf.getvalue()


def _tiff_pages(g8):
    buf = io.BytesIO()
    Image.fromarray(g8).save(buf, "TIFF", save_all=True, append_images=[Image.fromarray(255 - g8)])
    return buf.getvalue()


def _tiff_ifd_claim(width, height):
    """A little-endian TIFF IFD claiming width x height 8-bit gray, one strip of 16 bytes."""
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 8 + 2 + 12 * 8 + 4), (277, 3, 1, 1), (279, 4, 1, 16)]
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        ifd += struct.pack("<HHII", tag, typ, count, value)
    return ifd + struct.pack("<I", 0) + b"\x80" * 16


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    out = args[0]
    good = int(args[args.index("--good") + 1]) if "--good" in args else 40
    size = int(args[args.index("--size") + 1]) if "--size" in args else 32
    c = build(out, good, size)
    print("%d cases in %s, %d folder-level refusals" % (len(c.cases), c.ds, len(c.refusals)))


if __name__ == "__main__":
    main()
