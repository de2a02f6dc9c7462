"""Runs a command and reports its peak memory: the kernel's maximum resident set size (what
`/usr/bin/time -v` prints as "Maximum resident set size", file-backed pages included: the
SQLite backend reads through mmap, so every page of the database file it touches counts)
and the peak of `RssAnon` (the process's own heap and stacks, sampled from /proc every
5 ms), with the wall time and the command's stderr.

    python3 bench/transfer/peak.py COMMAND [ARG ...]
"""
import os
import subprocess
import sys
import time

start = time.monotonic()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
peak_anon = 0
while True:
    pid, status, usage = os.wait4(child.pid, os.WNOHANG)
    if pid != 0:
        break
    try:
        with open(f"/proc/{child.pid}/status") as lines:
            for line in lines:
                if line.startswith("RssAnon:"):
                    peak_anon = max(peak_anon, int(line.split()[1]))
    except OSError:
        pass
    time.sleep(0.005)
wall = time.monotonic() - start
stderr = child.stderr.read().decode().strip()
print(f"peak RSS {usage.ru_maxrss // 1024} MiB, peak RssAnon {peak_anon // 1024} MiB, wall {wall:.1f} s, {stderr}")
sys.exit(os.waitstatus_to_exitcode(status))
