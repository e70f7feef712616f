#!/usr/bin/python3
"""Writes a minimal DICOM file (Explicit VR Little Endian, MONOCHROME2, 8 bits) whose header
holds a known patient name and ID, so tests can check that nothing downstream carries them.
The pixels are a bright blob at (cx, cy) (fractions of the size) plus noise, like
make_dataset.py draws. Usage: make_dicom.py OUT.dcm SIZE CX CY PATIENT_NAME PATIENT_ID"""
import struct
import sys
import zlib

import numpy as np


def element(group, elem, vr, value):
    if isinstance(value, str):
        value = value.encode("ascii")
    if len(value) % 2:
        value += b"\0" if vr in (b"UI", b"OB") else b" "
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
        return struct.pack("<HH2sHI", group, elem, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", group, elem, vr, len(value)) + value


def main():
    out, size, cx, cy, name, pid = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
    rng = np.random.default_rng(11)
    yy, xx = np.mgrid[0:size, 0:size]
    d2 = (xx - size * cx) ** 2 + (yy - size * cy) ** 2
    img = np.clip(60 + 170 * np.exp(-d2 / (2 * (size * 0.12) ** 2)) + rng.normal(0, 18, (size, size)), 0, 255)
    pixels = img.astype(np.uint8).tobytes()

    sop_class = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage
    sop_instance = "1.2.826.0.1.3680043.8.498.%d" % zlib.crc32(out.encode())
    explicit_le = "1.2.840.10008.1.2.1"
    meta = b"".join([
        element(0x0002, 0x0001, b"OB", b"\x00\x01"),
        element(0x0002, 0x0002, b"UI", sop_class),
        element(0x0002, 0x0003, b"UI", sop_instance),
        element(0x0002, 0x0010, b"UI", explicit_le),
        element(0x0002, 0x0012, b"UI", "1.2.826.0.1.3680043.8.498.1"),
    ])
    body = b"".join([
        element(0x0008, 0x0016, b"UI", sop_class),
        element(0x0008, 0x0018, b"UI", sop_instance),
        element(0x0008, 0x0050, b"SH", "ACC-" + pid),           # accession number
        element(0x0008, 0x0060, b"CS", "OT"),
        element(0x0008, 0x0080, b"LO", "Test Institution " + pid),  # institution
        element(0x0010, 0x0010, b"PN", name),
        element(0x0010, 0x0020, b"LO", pid),
        element(0x0010, 0x0030, b"DA", "19700101"),               # birth date
        element(0x0020, 0x000D, b"UI", sop_instance + ".1"),
        element(0x0020, 0x000E, b"UI", sop_instance + ".2"),
        element(0x0028, 0x0002, b"US", struct.pack("<H", 1)),
        element(0x0028, 0x0004, b"CS", "MONOCHROME2"),
        element(0x0028, 0x0010, b"US", struct.pack("<H", size)),
        element(0x0028, 0x0011, b"US", struct.pack("<H", size)),
        element(0x0028, 0x0100, b"US", struct.pack("<H", 8)),
        element(0x0028, 0x0101, b"US", struct.pack("<H", 8)),
        element(0x0028, 0x0102, b"US", struct.pack("<H", 7)),
        element(0x0028, 0x0103, b"US", struct.pack("<H", 0)),
        element(0x7FE0, 0x0010, b"OW", pixels),
    ])
    with open(out, "wb") as f:
        f.write(b"\0" * 128 + b"DICM")
        f.write(element(0x0002, 0x0000, b"UL", struct.pack("<I", len(meta))))
        f.write(meta)
        f.write(body)


if __name__ == "__main__":
    main()
