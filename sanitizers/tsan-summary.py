#!/usr/bin/python3
"""Groups ThreadSanitizer reports from test logs: one line per kind of report, with the top
frames of the two accesses (the library where the frame is in an uninstrumented one), so a
run's reports can be read as a handful of classes. Usage: tsan-summary.py LOG..."""
import collections
import re
import sys


def frames(block, n=3):
    out = []
    for line in block.splitlines():
        m = re.match(r"\s*#\d+ (.*)", line)
        if not m:
            continue
        text = m.group(1)
        lib = re.search(r"\((lib[^+)]+)\+", text)
        name = re.sub(r"\s+(/|<null>|\().*", "", text)
        name = re.sub(r"\(.*", "", name)[:60]
        out.append(name + ("@" + lib.group(1) if lib and name == "<null>" else ""))
        if len(out) == n:
            break
    return " <- ".join(out)


def main(paths):
    classes = collections.Counter()
    per_log = {}
    for path in paths:
        text = open(path, errors="replace").read()
        reports = re.split(r"WARNING: ThreadSanitizer: ", text)[1:]
        per_log[path] = len(reports)
        for r in reports:
            kind = r.split(" (pid")[0]
            blocks = [b for b in re.split(r"\n\s*\n", r) if b.strip()]
            key = kind + ": " + " || ".join(frames(b) for b in blocks[:2])
            classes[key] += 1
    print(f"tsan-summary: {sum(per_log.values())} reports in {len(per_log)} logs, {len(classes)} kinds")
    for key, n in classes.most_common():
        print(f"{n:5d}  {key}")


if __name__ == "__main__":
    main(sys.argv[1:])
