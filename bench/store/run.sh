#!/usr/bin/env bash
# The store benchmark of issue 3, side by side in one run: agent-memory (memory, SQLite)
# against ai-infra 1.19.0's MemoryStore (memory, SQLite) and LangGraph's InMemoryStore and
# SqliteStore, on the same precomputed 384-d vectors (and agent-memory on PostgreSQL when
# DATABASE_URL is set). See bench/store/README.md.
#
#   bench/store/run.sh [N ...]          (default: 10000 100000)
#
# PY_SQLITE_MAX (default 10000): the Python SQLite stores commit every put (ai-infra: ~176
# puts/s), so they run only up to this size. PY_BUDGET_S (default 60): time cap for each
# Python get/search phase (the rate is over the calls made).
set -euo pipefail
cd "$(dirname "$0")/../.."
here=bench/store
venv=$here/.venv
data=${STORE_BENCH_DATA:-$here/data}
sizes=${*:-10000 100000}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'ai-infra==1.19.0' 'langgraph==1.2.24' 'langgraph-checkpoint-sqlite==3.1.2' 'numpy==2.4.6' pysqlite3-binary
fi
mkdir -p "$data" "$here/results"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target}
cargo bench -q -p agent-memory --bench store --no-run
out=$here/results/$(date -u +%Y%m%dT%H%M%SZ).jsonl
{
    echo "{\"machine\": \"$(nproc) cores, $(uname -m)\", \"load_before\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
    echo "{\"python\": \"$("$venv/bin/pip" freeze | grep -iE '^(ai-infra|langgraph|langgraph-checkpoint-sqlite|sqlite-vec)==' | tr '\n' ' ')\"}"
} | tee "$out"
for n in $sizes; do
    [ -f "$data/vectors-$n.f32" ] || "$venv/bin/python" $here/gen_vectors.py "$n" 384 "$data"
    args=("$n" "$data/vectors-$n.f32" "$data/queries-$n.f32" 384)
    for backend in memory sqlite ${DATABASE_URL:+postgres}; do
        cargo bench -q -p agent-memory --bench store -- $backend "${args[@]}" | tee -a "$out"
    done
    for store in ai-infra-memory langgraph-memory ai-infra-sqlite langgraph-sqlite; do
        case $store in *sqlite) [ "$n" -le "${PY_SQLITE_MAX:-10000}" ] || continue ;; esac
        "$venv/bin/python" $here/python_bench.py $store "${args[@]}" "${PY_BUDGET_S:-60}" | tee -a "$out"
    done
done
echo "{\"load_after\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" | tee -a "$out"
