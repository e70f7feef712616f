#!/usr/bin/python3
"""Checks a train run on the hostile corpus against the corpus manifest (see
tests/tools/make_hostile_corpus.py) and optionally writes the corpus table (markdown).
Exit 0 when every case did what the manifest says. Used by hostile_corpus.sh."""
import argparse
import csv
import glob
import json
import os
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--out", required=True, help="the CLI's stdout")
    ap.add_argument("--refusals", required=True)
    ap.add_argument("--dropped", type=int, default=1, help="1: the CLI ran without root's read-anything")
    ap.add_argument("--peak-kb", type=int, default=0)
    ap.add_argument("--rss-limit-mb", type=float, default=1000)
    ap.add_argument("--full-disk", default="skipped")
    ap.add_argument("--full-disk-xfail", default="", help="the branch whose fix the full-disk case awaits")
    ap.add_argument("--pending", help="jsonl: the xfail cases' own runs (case, rc, reason, stderr)")
    ap.add_argument("--table")
    a = ap.parse_args()

    manifest = json.load(open(os.path.join(a.corpus, "manifest.json")))
    ds_root = os.path.join(a.corpus, "ds")
    failures = []

    def fail(msg):
        failures.append(msg)
        print("FAIL  " + msg)

    try:
        d = json.load(open(os.path.join(a.run, "dataset.json")))
    except (OSError, ValueError) as e:
        print("FAIL  no readable dataset.json in the run: %s" % e)
        return 1
    skipped = {}
    for s in d["skipped"]:
        rel = os.path.relpath(s["path"], ds_root)
        if rel in skipped:
            fail("listed twice: %s" % rel)
        skipped[rel] = s["reason"]

    # Class names round-trip exactly: folder -> dataset.json -> predictions CSV.
    classes = manifest["classes"]
    if d["classes"] != classes:
        fail("dataset.json classes %r != the folder names %r" % (d["classes"], classes))
    for path in glob.glob(os.path.join(a.run, "predictions_*.csv")):
        rows = list(csv.reader(open(path, newline="", encoding="utf-8")))
        header_classes = [h[2:] for h in rows[0][3:-1]]
        if header_classes != classes:
            fail("%s header classes %r" % (os.path.basename(path), header_classes))
        if not {r[1] for r in rows[1:]} <= set(classes):
            fail("%s true_class values outside the classes" % os.path.basename(path))

    rows = []
    expected_counts = [manifest["good_per_class"]] * len(classes)
    expected_ignored = 0
    pending = {}
    if a.pending and os.path.exists(a.pending):
        pending = {p["case"]: p for p in (json.loads(x) for x in open(a.pending) if x.strip())}
    for c in manifest["cases"]:
        expect = c["expect"]
        if c.get("xfail"):
            p = pending.get(c["case"], {"rc": -1, "reason": None, "stderr": "not run"})
            if p["rc"] == 0 and p["reason"]:
                fail("%s now passes (skipped: %s): move it back into the corpus (drop its xfail)" %
                     (c["case"], p["reason"]))
                rows.append((c["case"], c["kind"], expect, "skipped: " + p["reason"], False))
            else:
                rows.append((c["case"], c["kind"], expect, "KNOWN FAILURE, awaits branch %s: exit %d, %s" %
                             (c["xfail"].split(":")[0], p["rc"], p["stderr"]), True))
                print("xfail %s: exit %d (%s)" % (c["case"], p["rc"], c["xfail"]))
            continue
        if c.get("needs_root_drop") and not a.dropped:
            expect = "trained"  # root reads a chmod 000 file
        rel = c["path"]
        if expect == "skipped":
            did = "skipped: " + skipped[rel] if rel in skipped else "not listed"
            ok = rel in skipped and skipped[rel] != "" and c.get("reason", "") in skipped[rel]
        elif expect == "trained":
            expected_counts[c["label"]] += c["images"]
            ok = rel not in skipped
            did = "trained (%d image%s)" % (c["images"], "s" if c["images"] > 1 else "") if ok else \
                "skipped: " + skipped[rel]
        else:
            expected_ignored += 1
            ok = rel not in skipped
            did = "ignored (not a class, not counted, not listed)" if ok else "skipped: " + skipped[rel]
        if not ok:
            fail("%s (%s): expected %s, got %s%s" % (c["case"], rel, expect, did,
                                                      " [decoder fix: branch decode]" if c.get("needs") else ""))
        rows.append((c["case"], c["kind"], expect, did, ok))
    listed = {c["path"] for c in manifest["cases"] if not c.get("xfail")}
    for rel, reason in skipped.items():
        if rel not in listed:
            fail("listed but not a corpus case: %s: %s" % (rel, reason))

    got = [sum(d["counts"][s][k] for s in d["counts"]) for k in range(len(classes))]
    if got != expected_counts:
        fail("images trained per class %r (train+val), expected %r (good + valid odd cases)" % (got, expected_counts))
    if d.get("skipped_count") != len(d["skipped"]):
        fail("skipped_count %r != %d listed" % (d.get("skipped_count"), len(d["skipped"])))
    if d.get("ignored_count") != expected_ignored:
        fail("ignored_count %r, expected %d OS junk entries" % (d.get("ignored_count"), expected_ignored))

    out = open(a.out, encoding="utf-8", errors="replace").read()
    if "skipped %d files" % len(d["skipped"]) not in out:
        fail("the CLI summary does not say 'skipped %d files'" % len(d["skipped"]))

    peak_mb = a.peak_kb / 1024.0
    if peak_mb == 0:
        try:
            peak_mb = json.load(open(os.path.join(a.run, "metrics.json"))).get("peak_rss_mb", 0)
        except (OSError, ValueError):
            pass
    if peak_mb > a.rss_limit_mb:
        fail("peak RSS %.0f MB over the bound %.0f MB" % (peak_mb, a.rss_limit_mb))

    refusals = [json.loads(line) for line in open(a.refusals) if line.strip()]
    by_case = {r["case"]: r for r in manifest["refusals"]}
    for r in refusals:
        ok = r["rc"] == 2 and by_case[r["case"]]["grep"].lower() in r["message"].lower()
        rows.append((r["case"], "folder-level: " + by_case[r["case"]]["note"], "refused",
                     "exit %d: %s" % (r["rc"], r["message"].replace("error: ", "", 1)), ok))
        if not ok:
            fail("refusal %s: exit %d, %s" % (r["case"], r["rc"], r["message"]))
    if a.full_disk != "skipped":
        rc = int(a.full_disk.split(":")[0].split()[-1])
        ok = 0 < rc < 128
        did = a.full_disk
        if a.full_disk_xfail and not ok:
            did = "KNOWN FAILURE, awaits branch %s: %s" % (a.full_disk_xfail, a.full_disk)
            print("xfail output-on-full-disk: " + a.full_disk)
        elif a.full_disk_xfail and ok:
            fail("the full-disk case now passes: clear FULLDISK_XFAIL in hostile_corpus.sh")
        elif not ok:
            fail("full disk: " + a.full_disk)
        rows.append(("output-on-full-disk", "file system: 1 MB tmpfs, 32 KB free", "reported, exit != 0", did,
                     ok or bool(a.full_disk_xfail)))

    n_cases = len(manifest["cases"]) + len(refusals)
    summary = ("%d cases: %d trained, %d skipped with a reason, %d ignored, %d refused; "
               "counts per class %r; peak RSS %.0f MB (bound %.0f MB)"
               % (n_cases, sum(1 for r in rows if r[2] == "trained"), sum(1 for r in rows if r[2] == "skipped"),
                  expected_ignored, len(refusals), got, peak_mb, a.rss_limit_mb))
    print(summary)
    if a.table:
        with open(a.table, "w", encoding="utf-8") as f:
            f.write("<!-- generated by tests/e2e/hostile_corpus.sh; do not edit by hand -->\n")
            f.write(summary + ".\n\n")
            f.write("| case | kind | expected | what AmpBench did | ok |\n|---|---|---|---|---|\n")
            for case, kind, expect, did, ok in rows:
                did = did.replace("|", "\\|").replace(ds_root + "/", "")
                mark = "known" if did.startswith("KNOWN") else ("yes" if ok else "**NO**")
                f.write("| %s | %s | %s | %s | %s |\n" % (case, kind, expect, did, mark))
    print("%d failures" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
