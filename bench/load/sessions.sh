#!/usr/bin/env bash
# GET /sessions for one tenant among many: N sessions (default 100,000) spread evenly over
# T tenants (default 1,000), the caller's tenant being one of them, so every listing
# returns that tenant's N/T sessions (100: one page at the default limit). `agent-memory
# serve` on a SQLite file (and on PostgreSQL when DATABASE_URL is set), driven by wrk on
# loopback with one connection, so the mean latency is the time per request.
# See bench/load/README.md ("Session listing").
#
#   bench/load/sessions.sh
#
# SESSIONS (default 100000), TENANTS (default 1000), DURATION (default 10s),
# AGENT_MEMORY_BIN (a binary to run instead of building one: an A/B against an older
# build), PG_SCHEMA (default sessions_bench: dropped and recreated).
set -euo pipefail
cd "$(dirname "$0")/../.."
sessions=${SESSIONS:-100000}
tenants=${TENANTS:-1000}
duration=${DURATION:-10s}
schema=${PG_SCHEMA:-sessions_bench}
tenant=$(printf 'tenant%04d' $((tenants / 2)))
key=bench-key-0123456789abcdef
here=$PWD/bench/load
source "$here/server.sh"
find_bin


# One line: backend, sessions returned, req/s, mean and p50/p99 latency.
measure() { # backend
    local listed
    listed=$(curl -sf -H "x-api-key: $key" "$url/sessions" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["sessions"]))')
    wrk -t1 -c1 -d"$duration" --latency -H "x-api-key: $key" "$url/sessions" >"$work/wrk.txt"
    local rps mean p50 p99
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.txt")
    mean=$(awk '$1 == "Latency" {print $2; exit}' "$work/wrk.txt")
    p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")
    p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
    echo "$1 sessions=$sessions tenants=$tenants listed=$listed req/s=$rps mean=$mean p50=$p50 p99=$p99 bin=$bin"
}

# SQLite: the session tables written directly (as SqliteSessions creates them), one
# message per session.
python3 - "$work/sessions.db" "$sessions" "$tenants" <<'EOF'
import json, sqlite3, sys
path, sessions, tenants = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
con = sqlite3.connect(path)
con.executescript("""
CREATE TABLE IF NOT EXISTS session_threads (
    session_id TEXT PRIMARY KEY, message_count INTEGER NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS session_messages (
    session_id TEXT NOT NULL, seq INTEGER NOT NULL, message TEXT NOT NULL, PRIMARY KEY (session_id, seq)) WITHOUT ROWID;
""")
per = sessions // tenants
ids = [f"tenant{t:04d}/session-{s:06d}" for t in range(tenants) for s in range(per)]
con.executemany("INSERT INTO session_threads VALUES (?, 1, 1700000000.0, 1700000000.0)", [(i,) for i in ids])
message = json.dumps({"role": "user", "content": "hello"})
con.executemany("INSERT INTO session_messages VALUES (?, 0, ?)", [(i, message) for i in ids])
con.commit()
EOF
start_server "sqlite:$work/sessions.db" --api-key "$tenant:$key"
measure sqlite
stop_server

if [ -n "${DATABASE_URL:-}" ]; then
    sep='?'
    [[ $DATABASE_URL == *\?* ]] && sep='&'
    PGOPTIONS=--client-min-messages=warning psql "$DATABASE_URL" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null
    start_server "$DATABASE_URL${sep}schema=$schema" --api-key "$tenant:$key"
    per=$((sessions / tenants))
    psql "$DATABASE_URL" -q >/dev/null <<EOF
INSERT INTO $schema.session_threads
SELECT format('tenant%s/session-%s', lpad(t::text, 4, '0'), lpad(s::text, 6, '0')), 1, 1700000000.0, 1700000000.0
FROM generate_series(0, $tenants - 1) AS t, generate_series(0, $per - 1) AS s;
INSERT INTO $schema.session_messages SELECT session_id, 0, '{"role":"user","content":"hello"}' FROM $schema.session_threads;
ANALYZE $schema.session_threads;
ANALYZE $schema.session_messages;
EOF
    measure postgres
    stop_server
    PGOPTIONS=--client-min-messages=warning psql "$DATABASE_URL" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null
fi
