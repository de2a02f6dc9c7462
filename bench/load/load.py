#!/usr/bin/env python3
"""Loads a gen.py file into a running server: `load.py URL FILE.jsonl [PATH]`.

Posts each line to URL + PATH (default `/store/batch`: a batch of 100 puts per line; use
`/conversations` for a conversations file, one session per line) over one keep-alive
connection and prints the rate."""

import http.client
import sys
import time
import urllib.parse

url, path = urllib.parse.urlparse(sys.argv[1]), sys.argv[2]
endpoint = sys.argv[3] if len(sys.argv) > 3 else "/store/batch"
connection = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
started, requests = time.monotonic(), 0
with open(path, "rb") as lines:
    for line in lines:
        connection.request("POST", endpoint, body=line, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            sys.exit(f"request {requests} to {endpoint} failed: {response.status} {body[:300]!r}")
        requests += 1
elapsed = time.monotonic() - started
print(f"posted {requests} lines to {endpoint} in {elapsed:.1f} s ({requests / elapsed:.0f}/s)", file=sys.stderr)
