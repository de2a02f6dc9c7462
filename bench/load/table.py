#!/usr/bin/env python3
"""Prints a results file of bench/load/run.sh as a Markdown table: `table.py RESULTS.jsonl`."""

import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1])]
header = rows[0]
print(f"{header['machine']}; {header['connections']} connections, {header['duration']} per scenario; "
      f"load average before: {header['load_before']}")
print()
print("| backend | items | scenario | req/s | p50 ms | p90 ms | p99 ms | errors | load (1/5/15 min) |")
print("|---|---:|---|---:|---:|---:|---:|---:|---|")
for row in rows:
    if "scenario" not in row:
        continue
    r = row["result"]
    errors = r.get("non_2xx", 0) + r.get("socket_errors", 0) + r.get("failures", 0)
    print(f"| {row['backend']} | {row['items']:,} | {row['scenario']} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | "
          f"{r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {errors} | {row['load']} |")
for row in rows:
    if "load_after" in row:
        print(f"\nload average after: {row['load_after']}")
