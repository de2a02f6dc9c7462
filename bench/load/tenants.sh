#!/usr/bin/env bash
# Several tenants on one server: what a tenant's searches cost when other tenants with
# similar content share the server (issue 7, tenancy). See bench/load/README.md.
#
#   bench/load/tenants.sh [TENANTS ...]            (default: 1 2 4)
#
# For each count T: `agent-memory serve` on a fresh SQLite file with T API keys, each
# tenant given ITEMS_PER_TENANT (default 25000) of the generated memories (its own slice of
# data/items-100000.jsonl, same templates as the others'), then `wrk -t1 -c16` search
# (keyword, semantic, hybrid; SCENARIOS) as tenant 1 over its `["users"]` prefix. Prints one
# JSON line per scenario with the server's CPU time per request. DURATION (default 8s),
# AGENT_MEMORY_BIN as for run.sh. Linux only (/proc).
set -euo pipefail
cd "$(dirname "$0")/../.."
here=$PWD/bench/load
counts=${*:-1 2 4}
per_tenant=${ITEMS_PER_TENANT:-25000}
duration=${DURATION:-8s}
scenarios=${SCENARIOS:-keyword semantic hybrid}
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
source "$here/server.sh"
find_bin
data=$here/data
mkdir -p "$data"
[ -f "$data/queries.txt" ] || python3 "$here/gen.py" queries 5000 "$data/queries.txt"
[ -f "$data/items-100000.jsonl" ] || python3 "$here/gen.py" items 100000 "$data/items-100000.jsonl"
lines=$((per_tenant / 100)) # 100 puts per line
ticks=$(getconf CLK_TCK)
key() { printf 'tenant-%02d-bench-key-0123456789' "$1"; }

for count in $counts; do
    if [ $((count * lines)) -gt 1000 ]; then
        echo "$count tenants of $per_tenant items need more than the 100,000 generated" >&2
        exit 2
    fi
    keys=$(for t in $(seq "$count"); do printf 't%02d:%s,' "$t" "$(key "$t")"; done)
    AGENT_MEMORY_API_KEYS=${keys%,} start_server "sqlite:$work/tenants-$count.db"
    for t in $(seq "$count"); do
        python3 "$here/load.py" "$url" "$data/items-100000.jsonl" --api-key "$(key "$t")" \
            --skip $(((t - 1) * lines)) --lines "$lines"
    done
    export BENCH_DIR=$here QUERIES=$data/queries.txt API_KEY=$(key 1)
    for mode in keyword semantic; do
        curl -sf -o /dev/null -H "x-api-key: $API_KEY" -H 'Content-Type: application/json' \
            -d "{\"namespace_prefix\":[],\"query\":\"warm up\",\"limit\":1,\"mode\":\"$mode\"}" "$url/store/items/search"
    done
    wait_until_idle
    for scenario in $scenarios; do
        before=$(awk '{print $14 + $15}' "/proc/$server/stat")
        result=$(MODE=$scenario wrk -t1 -c16 -d"$duration" -s "$here/search.lua" "$url" | tail -1)
        after=$(awk '{print $14 + $15}' "/proc/$server/stat")
        TENANTS=$count PER_TENANT=$per_tenant SCENARIO=$scenario CPU_TICKS=$((after - before)) TICKS=$ticks \
            python3 -c '
import json, os, sys
r = json.loads(sys.argv[1])
cpu_us = int(os.environ["CPU_TICKS"]) / int(os.environ["TICKS"]) / max(r["requests"], 1) * 1e6
print(json.dumps({"tenants": int(os.environ["TENANTS"]), "items_per_tenant": int(os.environ["PER_TENANT"]),
                  "scenario": os.environ["SCENARIO"], "rps": r["rps"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"],
                  "server_us_per_request": round(cpu_us), "non_2xx": r["non_2xx"], "socket_errors": r["socket_errors"]}))' "$result"
    done
    stop_server
done
