"""Renders a run.sh result file (JSON lines) as the Markdown table of README.md."""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
print("| store | N | put/s (one per call) | put/s (batch 1,000) | get/s | get p50 µs | search/s | search p50 ms | search p99 ms | peak RSS MB |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    if "store" not in r:
        continue
    batch = f"{r['put_batch_per_s']:,.0f}" if r.get("put_batch_per_s") else "–"
    searches = f" ({r['searches']} searches)" if r.get("searches", 200) < 200 else ""
    print(
        f"| {r['store']} | {r['n']:,} | {r['put_per_s']:,.0f} | {batch} | {r['get_per_s']:,.0f} | {r['get_p50_us']:.1f} "
        f"| {r['search_per_s']:,.1f}{searches} | {r['search_p50_us'] / 1000:.2f} | {r['search_p99_us'] / 1000:.2f} | {r['peak_rss_mb']:.0f} |"
    )
