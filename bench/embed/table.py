"""Turns a bench/embed/results/*.jsonl run into the Markdown table of bench/embed/README.md.

    table.py RESULTS.jsonl

Per implementation: the median over rounds of each process's median pass (sentences/s),
the range over rounds, the peak RSS (largest over rounds) and the 1-minute load average
seen by the processes, and the CPU time (user + system, all threads) per sentence, which
load inflates far less than wall time; "vs torch default" compares sentences/s with torch
at its default threads.
"""

import json
import statistics
import sys


def main() -> None:
    runs, notes = {}, []
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if "impl" in row:
                runs.setdefault(row["impl"], []).append(row)
            else:
                notes.append(row)
    baseline = statistics.median(r["sentences_per_s"] for r in runs.get("torch (default threads)", [{"sentences_per_s": 0}]))
    print("| implementation | threads | sentences/s (median of rounds) | range over rounds | vs torch default | CPU ms per sentence | peak RSS MB | load average seen |")
    print("|---|---|---|---|---|---|---|---|")
    for name, rows in runs.items():
        rates = [r["sentences_per_s"] for r in rows]
        median = statistics.median(rates)
        loads = [r["loadavg"] for r in rows]
        ratio = f"{median / baseline:.2f}×" if baseline else "–"
        print(f"| {name} | {rows[0]['threads']} | {median:,.0f} | {min(rates):,.0f}–{max(rates):,.0f} | {ratio} "
              f"| {statistics.median(r['cpu_ms_per_sentence'] for r in rows):.3g} | {max(r['peak_rss_mb'] for r in rows):.0f} | {min(loads):.1f}–{max(loads):.1f} |")
    for note in notes:
        print()
        print(", ".join(f"{k}: {v}" for k, v in note.items()))


if __name__ == "__main__":
    main()
