#!/usr/bin/python3
"""Writes docs/RELIABILITY.md from intro.md and the part files beside this script, in the
order below: each part's own title is dropped and its headings are demoted one level."""
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
PARTS = [("scan", "Hostile datasets: folders and the corpus"), ("decode", "Hostile files: the decoders"),
         ("dicom", "DICOM files: a pre-check, and GDCM in a child process"), ("faults", "Numerical faults"),
         ("resume", "Kills, resumes and full disks"), ("gui", "A GUI that never freezes"),
         ("sanitize", "Sanitizers and fuzzing")]

out = [open(os.path.join(HERE, "intro.md")).read().rstrip("\n") + "\n"]
for name, title in PARTS:
    lines = open(os.path.join(HERE, name + ".md")).read().strip("\n").split("\n")
    if lines and lines[0].startswith("#"):
        lines = lines[1:]
    body = "\n".join("#" + l if re.match(r"^#{1,5} ", l) else l for l in lines)
    out.append("\n## %s\n%s\n" % (title, body.rstrip()))
open(os.path.join(HERE, "..", "RELIABILITY.md"), "w").write("\n".join(out))
