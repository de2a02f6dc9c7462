#!/usr/bin/env bash
# The service load test of issue 7: `agent-memory serve` on a fresh SQLite file (and on
# PostgreSQL when DATABASE_URL is set), loaded with N seeded synthetic memories, driven by
# wrk from a second process on loopback. See bench/load/README.md.
#
#   bench/load/run.sh [N ...]                      (default: 10000 100000)
#
# DURATION (default 20s) per scenario, CONNECTIONS (default 16), WRK_THREADS (default 1),
# SCENARIOS (default "keyword semantic hybrid put conversations"). Conversation search runs
# against its own server on a fresh database, indexed through POST /conversations.
# BACKENDS (default: sqlite, and postgres when DATABASE_URL is set); PG_SCHEMA_PREFIX
# (default "load"): the PostgreSQL schemas are PREFIX_bench_N and PREFIX_conv_N, dropped and
# recreated, so give each person sharing a cluster their own; AGENT_MEMORY_BIN: run this
# binary instead of building one (an A/B against an older build). SERVE_ARGS: extra
# `agent-memory serve` flags for every server (e.g. "--vector-ef-search 64"); they and any
# exported AGENT_MEMORY_* variable are recorded in the run's first JSON line.
#
# Evidence: a failed bulk-load request (status, body, seconds, how long the loader itself
# was paused; slow ones too) goes to results/<run>-<backend>-<db>.load.jsonl, with a
# pg_snapshot.sh taken while it hung on PostgreSQL; a 408/5xx is retried LOAD_RETRIES times
# (default 2; batch puts are idempotent); the server's stderr log is kept as results/<run>-<backend>-<db>.serve.log
# whenever the load or a scenario saw a failure (or the server died). Both are printed.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=$PWD/bench/load
sizes=${*:-10000 100000}
duration=${DURATION:-20s}
connections=${CONNECTIONS:-16}
threads=${WRK_THREADS:-1}
scenarios=${SCENARIOS:-keyword semantic hybrid put conversations}
if ! command -v wrk >/dev/null; then
    apt-get install -y wrk >/dev/null
fi
source "$here/server.sh"
find_bin
prefix=${PG_SCHEMA_PREFIX:-load}
data=$here/data
mkdir -p "$data" "$here/results"
[ -f "$data/queries.txt" ] || python3 "$here/gen.py" queries 5000 "$data/queries.txt"

run=$here/results/$(date -u +%Y%m%dT%H%M%SZ)
out=$run.jsonl
read -ra serve_args <<<"${SERVE_ARGS:-}"
MACHINE="$(nproc) cores $(uname -m)" BIN=$bin LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)" DURATION_=$duration \
    CONNECTIONS_=$connections SERVE_ARGS_="${SERVE_ARGS:-}" python3 -c '
import json, os
env = {k: v for k, v in sorted(os.environ.items())
       if k.startswith("AGENT_MEMORY_") and not k.startswith(("AGENT_MEMORY_TEST_", "AGENT_MEMORY_BIN"))
       and "KEY" not in k and "DATABASE_URL" not in k}
print(json.dumps({"machine": os.environ["MACHINE"], "bin": os.environ["BIN"], "load_before": os.environ["LOAD_BEFORE"],
                  "duration": os.environ["DURATION_"], "connections": int(os.environ["CONNECTIONS_"]),
                  "serve_args": os.environ["SERVE_ARGS_"], "serve_env": env}))' | tee "$out"


# One search of each kind (loads the in-process indexes and starts the HNSW graph's
# background build), then waits until the server has been idle for 2 s (under 5% of a
# core; at most 300 s), so the scenarios measure the steady state, not the first load.
# `warm_up conversations` warms a conversation server with one conversation search.
warm_up() {
    if [ "${1:-store}" = conversations ]; then
        curl -s -o /dev/null -H 'Content-Type: application/json' \
            -d '{"user_id":"user-000","query":"warm up","limit":5}' "$url/conversations/search"
    else
        for mode in keyword semantic; do
            curl -s -o /dev/null -H 'Content-Type: application/json' \
                -d "{\"namespace_prefix\":[\"users\"],\"query\":\"warm up\",\"limit\":10,\"mode\":\"$mode\"}" \
                "$url/store/items/search"
        done
    fi
    wait_until_idle
}

record() { # backend n scenario json
    echo "{\"backend\": \"$1\", \"items\": $2, \"scenario\": \"$3\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"result\": $4}" | tee -a "$out"
    # A non-2xx answer or a socket error: keep the server's log when it stops.
    if ! python3 -c 'import json, sys; r = json.loads(sys.argv[1]); sys.exit(r["non_2xx"] + r["socket_errors"] > 0)' "$4"; then
        failed="$failed $3"
    fi
}

# Stops the server; keeps its stderr log as $run-$label.serve.log when $failed names a
# failure or the server had already exited.
finish_server() {
    if ! kill -0 "$server" 2>/dev/null || grep -q '^State:.*zombie' "/proc/$server/status" 2>/dev/null; then
        failed="$failed exited"
    fi
    stop_server
    if [ -n "${failed// /}" ]; then
        keep_server_log "$run-$label.serve.log"
        echo "failures ($failed ): the server log is $run-$label.serve.log" >&2
    fi
}

# Starts a server on a fresh database (SQLite file NAME.db, or schema NAME on PostgreSQL,
# dropped first) and posts the lines of FILE to ENDPOINT. Sets $label (BACKEND-NAME) and
# clears $failed for finish_server.
serve_loaded() { # backend name file endpoint
    local database stall=()
    case $1 in
        sqlite) database=sqlite:$work/$2.db ;;
        postgres)
            PGOPTIONS=--client-min-messages=warning psql "$DATABASE_URL" -qc "DROP SCHEMA IF EXISTS $2 CASCADE" >/dev/null
            database="$DATABASE_URL${sep}schema=$2"
            stall=(--on-stall "$here/pg_snapshot.sh") ;;
    esac
    label=$1-$2 failed=
    start_server "$database" "${serve_args[@]}"
    if ! python3 "$here/load.py" "$url" "$3" "$4" --retries "${LOAD_RETRIES:-2}" --evidence "$run-$label.load.jsonl" \
        "${stall[@]}"; then
        failed=load
        finish_server
        echo "the load of $3 failed: evidence in $run-$label.load.jsonl" >&2
        exit 1
    fi
    if grep -qs '"kind": "failed"' "$run-$label.load.jsonl"; then
        failed=load-retried
        echo "load requests failed and were retried: $run-$label.load.jsonl" >&2
    elif [ -f "$run-$label.load.jsonl" ]; then
        echo "slow load requests: $run-$label.load.jsonl" >&2
    fi
    # A bulk-loaded table has no planner statistics until autovacuum's ANALYZE, which may
    # come only after the first scenarios: without them PostgreSQL takes a namespace prefix
    # for 0.5% of the rows and scans it instead of using the HNSW index. Do what an operator
    # does after a bulk load.
    if [ "$1" = postgres ]; then psql "$DATABASE_URL" -qc "ANALYZE $2.items" >/dev/null; fi
}

backends=(sqlite)
sep='?'
if [ -n "${DATABASE_URL:-}" ]; then
    backends+=(postgres)
    [[ $DATABASE_URL == *\?* ]] && sep='&'
fi
if [ -n "${BACKENDS:-}" ]; then
    read -ra backends <<<"$BACKENDS"
fi
for n in $sizes; do
    [ -f "$data/items-$n.jsonl" ] || python3 "$here/gen.py" items "$n" "$data/items-$n.jsonl"
    for backend in "${backends[@]}"; do
        store_scenarios=${scenarios//conversations/}
        if [ -n "${store_scenarios// /}" ]; then
            serve_loaded "$backend" "${prefix}_bench_$n" "$data/items-$n.jsonl" /store/batch
            warm_up
            for scenario in $scenarios; do
                case $scenario in
                    keyword | semantic | hybrid)
                        result=$(BENCH_DIR=$here QUERIES=$data/queries.txt MODE=$scenario \
                            wrk -t"$threads" -c"$connections" -d"$duration" -s "$here/search.lua" "$url" | tail -1) ;;
                    put)
                        result=$(BENCH_DIR=$here QUERIES=$data/queries.txt \
                            wrk -t"$threads" -c"$connections" -d"$duration" -s "$here/put.lua" "$url" | tail -1) ;;
                    *) continue ;;
                esac
                record "$backend" "$n" "$scenario" "$result"
            done
            finish_server
        fi
        case " $scenarios " in *" conversations "*)
            # Sessions of 6 to 16 messages make one or two chunks each: n chunks take ~2n/3 sessions.
            sessions=$((n * 2 / 3))
            [ -f "$data/conversations-$sessions.jsonl" ] || python3 "$here/gen.py" conversations "$sessions" "$data/conversations-$sessions.jsonl"
            serve_loaded "$backend" "${prefix}_conv_$n" "$data/conversations-$sessions.jsonl" /conversations
            warm_up conversations
            result=$(BENCH_DIR=$here QUERIES=$data/queries.txt \
                wrk -t"$threads" -c"$connections" -d"$duration" -s "$here/conversations.lua" "$url" | tail -1)
            record "$backend" "$n" conversations "$result"
            finish_server ;;
        esac
    done
done
echo "{\"load_after\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" | tee -a "$out"
python3 "$here/table.py" "$out"
