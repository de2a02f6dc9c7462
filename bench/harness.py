"""Runs agent-memory and the Python peers side by side on the same inputs; writes the table.

Called by `bench/run` once the Rust binary is built, the virtualenv set up, tiktoken's
cache seeded and the inputs generated. Each (workload, implementation) pair runs in a
fresh process, the implementations of one workload one after the other, so that they
meet the same machine load; the peak memory is that process's.

    python3 bench/harness.py --bin PATH --python PATH --inputs DIR [--quick]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
README = os.path.join(HERE, "README.md")
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"

OURS = "agent-memory"
REFS = "agent-memory-refs"
NAMES = {OURS: "agent-memory", REFS: "agent-memory", "tiktoken": "tiktoken", "langchain_core": "langchain-core", "ai_infra": "ai-infra"}


def plan(manifest: dict) -> list[dict]:
    """The benchmark: each entry is one workload, its options and who runs it."""
    mib = manifest["corpus_bytes"] / 2**20
    n_messages = manifest["params"]["messages"]
    n_conversation = manifest["params"]["conversation"]
    counting = [OURS, "tiktoken"]
    trimming = [OURS, REFS, "langchain_core", "ai_infra"]
    fitting = [OURS, "ai_infra"]
    entries = []
    for encoding in ("o200k_base", "cl100k_base"):
        entries.append(
            {
                "workload": "count-text",
                "options": {"encoding": encoding},
                "label": f"count {mib:.1f} MiB of text as one string, {encoding}",
                "impls": counting,
            }
        )
    for encoding in ("o200k_base", "cl100k_base"):
        entries.append(
            {
                "workload": "count-messages",
                "options": {"encoding": encoding},
                "label": f"count {n_messages:,} short texts one by one, {encoding}",
                "impls": counting,
            }
        )
    entries.append(
        {
            "workload": "count-chat",
            "options": {"encoding": "o200k_base"},
            "label": f"count {n_messages:,} user messages as one chat (OpenAI framing), o200k_base",
            "impls": counting,
        }
    )
    entries += [
        {
            "workload": "trim-last",
            "options": {"max_messages": 1000},
            "label": f"trim a {n_conversation:,}-message conversation to its last 1,000 messages",
            "impls": trimming,
        },
        {
            "workload": "trim-tokens-approx",
            "options": {"max_tokens": 100_000},
            "label": f"trim a {n_conversation:,}-message conversation to 100k tokens, approximate counter",
            "impls": trimming,
        },
        {
            "workload": "trim-tokens-exact",
            "options": {"max_tokens": 100_000, "encoding": "o200k_base"},
            "label": f"trim a {n_conversation:,}-message conversation to 100k tokens, exact o200k_base counter",
            "impls": trimming,
        },
        {
            "workload": "fit-trim",
            "options": {"max_tokens": 100_000},
            "label": f"fit_context: a {n_conversation:,}-message conversation into 100k tokens, trimming",
            "impls": fitting,
        },
        {
            "workload": "fit-summarize",
            "options": {"max_tokens": 100_000, "keep": 10},
            "label": f"fit_context: a {n_conversation:,}-message conversation into 100k tokens, "
            "summarizing (instant summarizer), keep 10",
            "impls": fitting,
        },
    ]
    return entries


def loadavg() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def run_one(args, impl: str, entry: dict) -> dict:
    options = []
    for key, value in entry["options"].items():
        options += [f"--{key.replace('_', '-')}", str(value)]
    if args.quick:
        options += ["--min-reps", "1", "--min-seconds", "0.2"]
    if impl in (OURS, REFS):
        command = [args.bin, entry["workload"], "--inputs", args.inputs, *options]
        command += ["--api", "refs" if impl == REFS else "owned"]
    else:
        command = [args.python, os.path.join(HERE, "peers.py"), impl, entry["workload"], "--inputs", args.inputs]
        command += options
    load = loadavg()
    env = {**os.environ, "RUST_BACKTRACE": "0", "TIKTOKEN_CACHE_DIR": args.tiktoken_cache}
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or ["(no message)"]
        error = next((line for line in lines if line.startswith(("Error:", "error:"))), lines[-1])[:200]
        print(f"  {NAMES[impl]:15} FAILED: {error}", file=sys.stderr)
        return {"impl": impl, "workload": entry["workload"], "error": error, "load_before": load}
    out = json.loads(proc.stdout)
    out["load_before"] = load
    print(
        f"  {NAMES[impl]:15} median {fmt_seconds(out['median_s']):>9} over {out['reps']:>5} calls "
        f"(first {fmt_seconds(out['first_s'])}), load {load:.2f}",
        file=sys.stderr,
    )
    return out


def fmt_seconds(s: float) -> str:
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} µs"


def fmt_mib(kb: int) -> str:
    return f"{kb / 1024:.0f} MiB"


def same_counts(a: dict, b: dict) -> bool:
    keys = ("tokens", "digest")
    return all(a["result"].get(k) == b["result"].get(k) for k in keys)


def describe(entry: dict, run: dict, manifest: dict) -> tuple[str, str]:
    """(throughput, result) cells for one run."""
    result = run["result"]
    median = run["median_s"]
    workload = entry["workload"]
    if workload == "count-text":
        mb_s = manifest["corpus_bytes"] / 1e6 / median
        return f"{mb_s:.1f} MB/s, {result['tokens'] / 1e6 / median:.2f} M tok/s", f"{result['tokens']:,} tokens"
    if workload in ("count-messages", "count-chat"):
        return f"{result['items'] / median / 1e3:,.0f} k msg/s", f"{result['tokens']:,} tokens"
    cell = f"kept {result['kept']:,} msgs"
    if result.get("after_system"):
        cell += f", first after system: {result['after_system']}"
    cell += ", tool pairs intact" if result.get("valid") else ", **orphaned tool messages**"
    if "action" in result:
        cell = f"{result['action']}, {cell}, {result['tokens']:,} tokens"
    return "—", cell


def table(entries: list[dict], runs: dict, manifest: dict) -> tuple[str, dict]:
    lines = [
        "| workload | implementation | median (fastest) | throughput | result | peak RSS | agent-memory speed-up |",
        "|---|---|---:|---:|---|---:|---:|",
    ]
    goals = {"identical": [], "count_ratio": [], "trim_ratio": [], "trim_refs_ratio": []}
    for i, entry in enumerate(entries):
        ours = runs[i].get(OURS, {})
        refs = runs[i].get(REFS, {})
        for impl in entry["impls"]:
            run = runs[i][impl]
            name = NAMES[impl] + (f" {run['version']}" if impl not in (OURS, REFS) and "version" in run else "")
            if REFS in entry["impls"] and impl in (OURS, REFS):
                name += " `trim_message_refs`" if impl == REFS else " `trim_messages`"
            label = entry["label"] if impl == entry["impls"][0] else ""
            if "error" in run:
                lines.append(f"| {label} | {name} | failed | | {run['error']} | | |")
                continue
            throughput, result = describe(entry, run, manifest)
            ratio = "—"
            if impl not in (OURS, REFS) and "median_s" in ours:
                speedup = run["median_s"] / ours["median_s"]
                ratio = f"**{speedup:,.1f}×**"
                if "median_s" in refs:
                    refs_speedup = run["median_s"] / refs["median_s"]
                    ratio += f" / **{refs_speedup:,.1f}×**"
                if impl == "tiktoken":
                    identical = same_counts(ours, run)
                    goals["identical"].append((entry["label"], identical))
                    goals["count_ratio"].append((entry["label"], speedup))
                    result += " (identical ✓)" if identical else " (**DIFFERENT ✗**)"
                if impl == "langchain_core":
                    goals["trim_ratio"].append((entry["label"], speedup))
                    if "median_s" in refs:
                        goals["trim_refs_ratio"].append((entry["label"], refs_speedup))
            lines.append(
                f"| {label} | {name} | {fmt_seconds(run['median_s'])} ({fmt_seconds(run['min_s'])}) "
                f"| {throughput} | {result} "
                f"| {fmt_mib(run['peak_rss_kb'])} | {ratio} |"
            )
    return "\n".join(lines), goals


def goals_text(goals: dict) -> str:
    out = []
    identical = goals["identical"]
    if identical:
        bad = [label for label, ok in identical if not ok]
        verdict = "**met**" if not bad else "**not met**: " + "; ".join(bad)
        out.append(f"* Counts identical to tiktoken (totals and a sha256 of every per-item count): {verdict}.")
    if goals["count_ratio"]:
        label, worst = min(goals["count_ratio"], key=lambda x: x[1])
        verdict = "**met**" if worst >= 3 else "**not met**"
        out.append(f"* ≥ 3× tiktoken's throughput: {verdict}; the smallest speed-up is {worst:.1f}× ({label}).")
    if goals["trim_ratio"]:
        label, worst = min(goals["trim_ratio"], key=lambda x: x[1])
        verdict = "**met**" if worst >= 50 else "**not met**"
        line = f"* Trimming ≥ 50× langchain-core: {verdict} with `trim_messages`; the smallest speed-up is {worst:,.1f}× ({label})"
        if goals["trim_refs_ratio"]:
            label, worst = min(goals["trim_refs_ratio"], key=lambda x: x[1])
            verdict = "**met**" if worst >= 50 else "**not met**"
            line += f"; {verdict} with `trim_message_refs`, smallest {worst:,.1f}× ({label})"
        out.append(line + ".")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="the release agent-memory-bench binary")
    parser.add_argument("--python", required=True, help="the virtualenv's python")
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--results", default=os.path.join(HERE, "results"))
    parser.add_argument(
        "--tiktoken-cache",
        default=os.environ.get("TIKTOKEN_CACHE_DIR", os.path.join(HERE, ".cache", "tiktoken")),
        help="tiktoken's BPE cache, seeded by seed_tiktoken_cache.py",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer calls, README untouched")
    parser.add_argument("--command", default="bench/run", help="the command line to print in the README")
    args = parser.parse_args()

    with open(os.path.join(args.inputs, "manifest.json")) as f:
        manifest = json.load(f)
    entries = plan(manifest)
    started = datetime.datetime.now(datetime.timezone.utc)
    load_start = loadavg()
    runs: list[dict] = []
    for entry in entries:
        print(f"{entry['label']}:", file=sys.stderr)
        runs.append({impl: run_one(args, impl, entry) for impl in entry["impls"]})
    load_end = loadavg()

    body, goals = table(entries, runs, manifest)
    loads = [r["load_before"] for per in runs for r in per.values()]
    machine = f"{cpu_model()}, {os.cpu_count()} cores, Linux {platform.release()}"
    inputs = (
        f"{manifest['corpus_bytes']:,} bytes of text from {len(manifest['sources'])} files "
        f"({manifest['corpus_generated_bytes']:,} generated); {manifest['params']['messages']:,} short texts "
        f"(mean {manifest['messages_mean_chars']} chars); a {manifest['params']['conversation']:,}-message "
        f"conversation with {manifest['conversation_tool_calls']:,} tool calls; seed {manifest['params']['seed']}"
    )
    section = "\n".join(
        [
            BEGIN,
            f"Run on {started:%Y-%m-%d %H:%M} UTC with `{args.command}`" + (" (quick: not for comparison)" if args.quick else "") + ".",
            f"Machine: {machine}. Load average (1 min) before each process: {min(loads):.2f} to {max(loads):.2f}; "
            f"{load_start:.2f} at the start, {load_end:.2f} at the end (the benchmark itself adds about 1); "
            f"niceness {os.nice(0)}.",
            f"Inputs: {inputs}.",
            "",
            "Speed-up: the peer's median time over agent-memory's; on trimming rows, over "
            "`trim_messages` (which returns clones) / over `trim_message_refs` (which borrows, as the Python peers do).",
            "",
            body,
            "",
            goals_text(goals),
            END,
        ]
    )
    print("\n" + section)

    os.makedirs(args.results, exist_ok=True)
    stem = "quick" if args.quick else "latest"
    with open(os.path.join(args.results, f"{stem}.json"), "w") as f:
        record = {
            "started": started.isoformat(timespec="seconds"),
            "command": args.command,
            "machine": machine,
            "load": {"start": load_start, "end": load_end, "min": min(loads), "max": max(loads)},
            "inputs": {k: v for k, v in manifest.items() if k != "sources"},
            "plan": entries,
            "runs": runs,
        }
        json.dump(record, f, indent=1, ensure_ascii=False)
    with open(os.path.join(args.results, f"{stem}.md"), "w") as f:
        f.write(section + "\n")
    if not args.quick:
        with open(README) as f:
            readme = f.read()
        if BEGIN in readme and END in readme:
            head, rest = readme.split(BEGIN, 1)
            readme = head + section + rest.split(END, 1)[1]
            with open(README, "w") as f:
                f.write(readme)
            print(f"harness: wrote the table into {README}", file=sys.stderr)
    failed = any("error" in r for per in runs for r in per.values())
    different = any(not ok for _, ok in goals["identical"])
    return 1 if failed or different else 0


if __name__ == "__main__":
    sys.exit(main())
