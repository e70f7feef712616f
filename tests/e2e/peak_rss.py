#!/usr/bin/python3
"""Runs a command and prints its peak resident memory in MiB, the larger of: the highest
VmHWM read from /proc/PID/status every few milliseconds (the whole process: decoding
included; VmHWM only grows between reads, so a short peak is not missed) and the child's
ru_maxrss at exit. The engine restarts the high-water mark when training starts
(resetPeakRss), so neither figure can exceed the true peak.
Usage: peak_rss.py COMMAND [ARGS...]; exits with the command's status."""
import os
import subprocess
import sys
import time


def main():
    child = subprocess.Popen(sys.argv[1:])
    peak_kb = 0
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            peak_kb = max(peak_kb, usage.ru_maxrss)
            break
        try:
            with open(f"/proc/{child.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak_kb = max(peak_kb, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.003)
    print(f"{peak_kb / 1024:.1f}")
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
