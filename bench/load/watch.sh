#!/usr/bin/env bash
# Once a second, until stopped: the thread states (R running, S sleeping, D disk, T stopped)
# and kernel wait channel of every process whose command line matches PATTERN, this
# database's non-idle statements that mention SCHEMA (with wait events and blocking pids),
# and the load average; one line each, timestamped. Run it beside a load test, in its own
# session (`setsid bench/load/watch.sh … > watch.log &`): a gap in its timestamps means this
# watcher was not scheduled either.
#
#   bench/load/watch.sh PATTERN [SCHEMA]       (DATABASE_URL for the statements)
set -uo pipefail
pattern=${1:?usage: watch.sh PATTERN [SCHEMA]} schema=${2:-}
url=${DATABASE_URL:-}
url=${url%%\?*}
while true; do
    ts=$(date -u +%T.%3N)
    for pid in $(pgrep -f -- "$pattern"); do
        [[ "$pid" = $$ || $(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null) == *watch.sh* ]] && continue
        states=$(cat /proc/"$pid"/task/*/stat 2>/dev/null | awk '{printf "%s", $3}')
        echo "$ts pid=$pid states=$states wchan=$(cat /proc/"$pid"/wchan 2>/dev/null)" \
            "$(awk '{print "utime=" $14 " stime=" $15}' /proc/"$pid"/stat 2>/dev/null)" \
            "$(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null | cut -c1-80)"
    done
    if [ -n "$url" ] && [ -n "$schema" ]; then
        psql "$url" -XAtq -c "SELECT '$ts pg', pid, state, wait_event_type, wait_event, pg_blocking_pids(pid),
            round(extract(epoch FROM now() - query_start)::numeric, 1), left(regexp_replace(query, '\s+', ' ', 'g'), 80)
            FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'
            AND pid <> pg_backend_pid() AND state <> 'idle' AND query LIKE '%$schema%'" 2>&1
    fi
    echo "$ts load $(cat /proc/loadavg)"
    sleep 1
done
