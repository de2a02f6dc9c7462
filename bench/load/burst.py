#!/usr/bin/env python3
"""Concurrent batch puts: `burst.py URL FILE.jsonl CONCURRENCY [REQUESTS]`.

Posts REQUESTS lines of a gen.py items file (default: CONCURRENCY) to URL/store/batch,
CONCURRENCY at a time, each on its own connection, all released at once, and prints one
JSON line per request (status, seconds, the start of a failing body) sorted by seconds,
then a summary line. Writers of one PostgreSQL schema queue on the `keyword_totals` row, so
the last of N simultaneous batches waits for the N - 1 before it: this shows how long."""

import http.client
import json
import sys
import threading
import time
import urllib.parse


def main():
    url = urllib.parse.urlparse(sys.argv[1])
    path, concurrency = sys.argv[2], int(sys.argv[3])
    total = int(sys.argv[4]) if len(sys.argv) > 4 else concurrency
    with open(path, "rb") as lines:
        bodies = [line for _, line in zip(range(total), lines)]
    results, lock = [], threading.Lock()
    start = threading.Barrier(min(concurrency, len(bodies)))
    queue = list(enumerate(bodies))

    def worker():
        start.wait()
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=300)
        while True:
            with lock:
                if not queue:
                    return
                number, body = queue.pop(0)
            began = time.monotonic()
            try:
                connection.request("POST", "/store/batch", body=body, headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                status, answer = response.status, response.read()
            except (OSError, http.client.HTTPException) as error:
                status, answer = None, f"{type(error).__name__}: {error}".encode()
                connection = http.client.HTTPConnection(url.hostname, url.port, timeout=300)
            seconds = round(time.monotonic() - began, 3)
            with lock:
                results.append({"line": number + 1, "status": status, "seconds": seconds,
                                "body": "" if status == 200 else answer[:200].decode("utf-8", "replace")})

    threads = [threading.Thread(target=worker) for _ in range(min(concurrency, len(bodies)))]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - began
    for result in sorted(results, key=lambda r: r["seconds"]):
        print(json.dumps(result))
    statuses = {}
    for result in results:
        statuses[str(result["status"])] = statuses.get(str(result["status"]), 0) + 1
    seconds = sorted(r["seconds"] for r in results)
    print(json.dumps({"concurrency": concurrency, "requests": len(results), "statuses": statuses,
                      "min_s": seconds[0], "max_s": seconds[-1], "wall_s": round(wall, 2)}))


if __name__ == "__main__":
    main()
