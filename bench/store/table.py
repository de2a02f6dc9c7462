"""Renders result files (JSON lines from run.sh or `store_bench ann`) as the Markdown tables
of README.md."""
import json
import sys

rows = [json.loads(line) for path in sys.argv[1:] for line in open(path) if line.strip()]
stores = [r for r in rows if "put_per_s" in r]
if stores:
    print("| store | N | put/s (one per call) | put/s (batch 1,000) | get/s | get p50 µs | search/s | search p50 ms "
          "| search p99 ms | keyword p50 ms | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
for r in stores:
    batch = f"{r['put_batch_per_s']:,.0f}" if r.get("put_batch_per_s") else "–"
    searches = f" ({r['searches']} searches)" if r.get("searches", 200) < 200 else ""
    keyword = f"{r['keyword_p50_us'] / 1000:.2f}" if "keyword_p50_us" in r else "–"
    print(
        f"| {r['store']} | {r['n']:,} | {r['put_per_s']:,.0f} | {batch} | {r['get_per_s']:,.0f} | {r['get_p50_us']:.1f} "
        f"| {r['search_per_s']:,.1f}{searches} | {r['search_p50_us'] / 1000:.2f} | {r['search_p99_us'] / 1000:.2f} "
        f"| {keyword} | {r['peak_rss_mb']:.0f} |"
    )
ann = [r for r in rows if "recall_at_10" in r]
if ann:
    print()
    print("| N | search | ef_search | p50 ms | p99 ms | recall@10 | build s | peak RSS MB | load (before; after build) |")
    print("|---|---|---|---|---|---|---|---|---|")
for r in ann:
    print(
        f"| {r['n']:,} | {r['search']} | {r['ef_search']} | {r['search_p50_ms']:.2f} | {r['search_p99_ms']:.2f} "
        f"| {r['recall_at_10']:.3f} | {r['build_s']:.0f} | {r['peak_rss_mb']:.0f} | {r['load_before']}; {r['load_after_build']} |"
    )
