#!/usr/bin/env bash
# What PostgreSQL is doing right now, for a stalled request: every other session of this
# database (state, wait event, how long its statement has run, whom it waits for) and every
# lock that is waited for or held by a session that waits.
#
#   bench/load/pg_snapshot.sh [DATABASE_URL]      (default: $DATABASE_URL)
set -euo pipefail
url=${1:-${DATABASE_URL:?set DATABASE_URL}}
# libpq rejects the store's own ?schema= parameter: drop the query string.
url=${url%%\?*}
psql "$url" -X -P pager=off -c "
SELECT pid, state, wait_event_type, wait_event, pg_blocking_pids(pid) AS blocked_by,
       round(extract(epoch FROM now() - xact_start)::numeric, 1) AS xact_s,
       round(extract(epoch FROM now() - query_start)::numeric, 1) AS query_s,
       left(regexp_replace(query, '\s+', ' ', 'g'), 160) AS query
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
ORDER BY query_start" -c "
SELECT l.pid, l.locktype, l.mode, l.granted, c.relname, l.page, l.tuple, l.transactionid
FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation
WHERE l.pid IN (SELECT pid FROM pg_locks WHERE NOT granted)
   OR (l.locktype = 'transactionid' AND l.transactionid IN (SELECT transactionid FROM pg_locks WHERE NOT granted))
ORDER BY l.granted, l.pid" -c "
SELECT checkpoints_timed, checkpoints_req, buffers_checkpoint, buffers_backend FROM pg_stat_bgwriter"
