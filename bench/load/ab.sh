#!/usr/bin/env bash
# A/B two builds on one existing SQLite database: each serves it in turn (A, B, A, B, ...),
# waits until idle, then `wrk -t1 -c16` runs one scenario script against it. Prints req/s,
# p99 and the server's CPU time per request (from /proc/<pid>/stat), which moves less with
# this VM's speed drift than req/s does.
#
#   bench/load/ab.sh DB SCENARIO BIN_A BIN_B [ROUNDS]
#   bench/load/ab.sh /tmp/conv.db conversations ./old/agent-memory ./new/agent-memory 2
#   MODE=hybrid bench/load/ab.sh /tmp/items.db search ./old ./new
#
# SCENARIO is a script of this directory without `.lua` (search, conversations, put: put
# writes, so give each build its own copy of the file). SECS (default 8) is the length of
# each run, MODE the search mode for `search`. Linux only (/proc).
set -euo pipefail

[ $# -ge 4 ] || { sed -n 2,15p "$0"; exit 2; }
db=$1 scenario=$2 bin_a=$3 bin_b=$4 rounds=${5:-2}
here=$(cd "$(dirname "$0")" && pwd)
export BENCH_DIR=$here QUERIES=${QUERIES:-$here/data/queries.txt} MODE=${MODE:-hybrid}
ticks=$(getconf CLK_TCK)
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
pid=

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

serve() {
    "$1" serve --database-url "sqlite:$db" --listen 127.0.0.1:0 > "$work/out" 2> "$work/err" &
    pid=$!
    for _ in $(seq 100); do grep -q '^listening on ' "$work/out" 2>/dev/null && break; sleep 0.1; done
    url=$(sed -n 's/^listening on //p' "$work/out")
    [ -n "$url" ] || { echo "$1 did not start:" >&2; cat "$work/err" >&2; exit 1; }
    # One keyword and one semantic search load the in-process indexes (and start the
    # graph's background build); then wait until the server has been idle for 2 s.
    for mode in keyword semantic; do
        curl -s -o /dev/null -H 'Content-Type: application/json' \
            -d "{\"namespace_prefix\":[],\"query\":\"warm up\",\"limit\":1,\"mode\":\"$mode\"}" "$url/store/items/search"
    done
    wait_idle
    # A second of the scenario itself warms whatever its first requests load, then idle again.
    wrk -t1 -c4 -d1s -s "$here/$scenario.lua" "$url" > /dev/null
    wait_idle
}

wait_idle() {
    local idle=0 last now
    last=$(cpu_ticks "$pid")
    for _ in $(seq 600); do
        sleep 1
        now=$(cpu_ticks "$pid")
        if [ $((now - last)) -le $((ticks / 20)) ]; then idle=$((idle + 1)); else idle=0; fi
        last=$now
        [ $idle -ge 2 ] && break
    done
}

for _ in $(seq "$rounds"); do
    for bin in "$bin_a" "$bin_b"; do
        serve "$bin"
        before=$(cpu_ticks "$pid")
        line=$(wrk -t1 -c16 -d"${SECS:-8}s" -s "$here/$scenario.lua" "$url" | grep '^{' | tail -1)
        after=$(cpu_ticks "$pid")
        python3 - "$line" "$before" "$after" "$ticks" "$bin" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
before, after, ticks = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
us = (after - before) / ticks / r["requests"] * 1e6
print(f'{sys.argv[5]}  req/s {r["rps"]:8.0f}  p99 ms {r["p99_ms"]:7.2f}  server CPU us/request {us:7.1f}  non-2xx {r["non_2xx"]}')
PY
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        sleep 1
    done
done
