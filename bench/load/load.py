#!/usr/bin/env python3
"""Loads a gen.py file into a running server: `load.py URL FILE.jsonl [PATH] [options]`.

Posts each line to URL + PATH (default `/store/batch`: a batch of 100 puts per line; use
`/conversations` for a conversations file, one session per line) over one keep-alive
connection and prints the rate.

Evidence, for failures that happen once in a while (a 408 after a 30 s hang):
  --evidence FILE     append one JSON line per failed request (status, body, seconds, line
                      number, UTC start) and per slow one (over --slow seconds, default 5)
  --on-stall CMD      run CMD (a shell command; its output goes into the evidence line) once
                      a request has been in flight for --stall-after seconds (default 10),
                      e.g. a pg_stat_activity / pg_locks snapshot taken during the hang
  --retries N         send a request that failed with 408, 502, 503 or 504 (or no answer)
                      again, up to N times (default 0; batch puts are idempotent upserts);
                      every failure is recorded all the same
Each evidence line also has `loader_paused_s`: the longest time this process itself did not
run while the request was in flight (a heartbeat thread wakes every 0.25 s). When it is
about as long as the request, the loader was stopped too (the whole machine or session was
paused), and the server's answer says nothing about the server.
Exits 1 on the first request that still fails, after writing its evidence."""

import argparse
import datetime
import http.client
import json
import subprocess
import sys
import threading
import time
import urllib.parse


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


class Evidence:
    """Appends JSON lines to a file (or nowhere) and remembers whether it wrote any."""

    def __init__(self, path):
        self.path, self.written = path, 0

    def write(self, record):
        if self.path:
            with open(self.path, "a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\n")
            self.written += 1


class Heartbeat:
    """A thread that wakes every 0.25 s and keeps the longest gap between wake-ups since the
    last `take()`: how long this process was not scheduled (stopped, or the machine paused)."""

    TICK = 0.25

    def __init__(self):
        self._lock = threading.Lock()
        self._longest = 0.0
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()

    def _run(self):
        last = time.monotonic()
        while True:
            time.sleep(self.TICK)
            now = time.monotonic()
            with self._lock:
                self._longest = max(self._longest, now - last - self.TICK)
            last = now

    def take(self):
        """The longest gap since the previous call (rounded to ms), and starts a new window."""
        with self._lock:
            longest, self._longest = self._longest, 0.0
        return round(longest, 3)


class StallWatch:
    """Runs `command` once while a request has been in flight for `after` seconds."""

    def __init__(self, command, after):
        self.command, self.after = command, after
        self.snapshot = None
        self._timer = None

    def start(self):
        self.snapshot = None
        if self.command:
            self._timer = threading.Timer(self.after, self._take)
            self._timer.daemon = True
            self._timer.start()

    def stop(self):
        if self._timer:
            self._timer.cancel()
            self._timer.join()
            self._timer = None
        return self.snapshot

    def _take(self):
        taken_at = utc_now()
        try:
            run = subprocess.run(self.command, shell=True, capture_output=True, text=True, timeout=60)
            output = run.stdout + run.stderr
        except subprocess.TimeoutExpired as error:
            output = f"snapshot command timed out after 60 s: {error}"
        self.snapshot = {"taken_at": taken_at, "after_s": self.after, "output": output}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("file")
    parser.add_argument("endpoint", nargs="?", default="/store/batch")
    parser.add_argument("--evidence", help="JSON lines file for failed and slow requests")
    parser.add_argument("--slow", type=float, default=5.0, help="seconds from which a 200 is recorded")
    parser.add_argument("--on-stall", help="shell command run once while a request hangs")
    parser.add_argument("--stall-after", type=float, default=10.0)
    parser.add_argument("--retries", type=int, default=0)
    parser.add_argument("--api-key", help="sent as x-api-key (the tenant the lines go to)")
    parser.add_argument("--skip", type=int, default=0, help="lines of FILE to skip first")
    parser.add_argument("--lines", type=int, help="lines to post at most (after --skip)")
    args = parser.parse_args()
    headers = {"Content-Type": "application/json"}
    if args.api_key:
        headers["x-api-key"] = args.api_key
    retryable = {None, 408, 502, 503, 504}

    url = urllib.parse.urlparse(args.url)
    evidence = Evidence(args.evidence)
    watch = StallWatch(args.on_stall, args.stall_after)
    heartbeat = Heartbeat()
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    started, requests = time.monotonic(), 0
    with open(args.file, "rb") as lines:
        for number, line in enumerate(lines, start=1):
            if number <= args.skip:
                continue
            if args.lines is not None and number > args.skip + args.lines:
                break
            for attempt in range(args.retries + 1):
                began_at, began = utc_now(), time.monotonic()
                heartbeat.take()
                watch.start()
                try:
                    connection.request("POST", args.endpoint, body=line, headers=headers)
                    response = connection.getresponse()
                    status, body = response.status, response.read()
                except (OSError, http.client.HTTPException) as error:
                    status, body = None, f"{type(error).__name__}: {error}".encode()
                    connection.close()
                seconds = round(time.monotonic() - began, 3)
                snapshot = watch.stop()
                paused = heartbeat.take()
                failed = status != 200
                if failed or seconds >= args.slow or snapshot:
                    record = {
                        "kind": "failed" if failed else "slow",
                        "endpoint": args.endpoint,
                        "line": number,
                        "attempt": attempt + 1,
                        "line_bytes": len(line),
                        "started_at": began_at,
                        "seconds": seconds,
                        "loader_paused_s": paused,
                        "status": status,
                        "body": body[:2000].decode("utf-8", "replace") if failed else None,
                        "requests_done_before": requests,
                    }
                    if snapshot:
                        record["stall_snapshot"] = snapshot
                    evidence.write(record)
                if not failed or status not in retryable:
                    break
                print(f"line {number}: {status} after {seconds} s (loader paused {paused} s); retrying", file=sys.stderr)
            if failed:
                where = f" (evidence: {args.evidence})" if args.evidence else ""
                sys.exit(
                    f"request {requests} (line {number}) to {args.endpoint} failed after {seconds} s "
                    f"(loader paused {paused} s): {status} {body[:300]!r}{where}"
                )
            requests += 1
    elapsed = time.monotonic() - started
    slow = f", {evidence.written} slow (evidence: {args.evidence})" if evidence.written else ""
    print(f"posted {requests} lines to {args.endpoint} in {elapsed:.1f} s ({requests / elapsed:.0f}/s){slow}", file=sys.stderr)


if __name__ == "__main__":
    main()
