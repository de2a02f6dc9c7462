#!/usr/bin/env python3
"""Loads a gen.py items file into a running server: `load.py URL ITEMS.jsonl`.

Posts each line (a batch of 100 puts) to URL/store/batch over one keep-alive connection
and prints the rate."""

import http.client
import sys
import time
import urllib.parse

url, path = urllib.parse.urlparse(sys.argv[1]), sys.argv[2]
connection = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
started, batches = time.monotonic(), 0
with open(path, "rb") as lines:
    for line in lines:
        connection.request("POST", "/store/batch", body=line, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            sys.exit(f"batch {batches} failed: {response.status} {body[:300]!r}")
        batches += 1
elapsed = time.monotonic() - started
print(f"loaded {batches} batches in {elapsed:.1f} s ({batches * 100 / elapsed:.0f} items/s)", file=sys.stderr)
