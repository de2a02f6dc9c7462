#!/bin/bash
# The store search scenarios of run.sh (wrk -t1 -c16, DURATION default 10s, SCENARIOS default
# "keyword hybrid semantic") against a PostgreSQL schema that run.sh already loaded, without
# reloading it: an A/B of two builds on the same data in minutes instead of a 100k load each.
#
#   bench/load/rescan.sh BIN SCHEMA      (DATABASE_URL names the cluster)
: "${DATABASE_URL:?set DATABASE_URL}"
bin=$1 schema=$2 here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
"$bin" serve --database-url "$DATABASE_URL?schema=$schema" --listen 127.0.0.1:0 >"$work/out" 2>"$work/err" &
server=$!
for _ in $(seq 100); do grep -q '^listening on ' "$work/out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$work/out")
for mode in keyword semantic; do curl -s -o /dev/null -H 'Content-Type: application/json' -d "{\"namespace_prefix\":[\"users\"],\"query\":\"warm up\",\"limit\":10,\"mode\":\"$mode\"}" "$url/store/items/search"; done
sleep 3
for scenario in ${SCENARIOS:-keyword hybrid semantic}; do
  r=$(BENCH_DIR=$here QUERIES=$here/data/queries.txt MODE=$scenario wrk -t1 -c16 -d${DURATION:-10s} -s "$here/search.lua" "$url" | tail -1)
  echo "{\"bin\": \"$(basename $bin)\", \"schema\": \"$schema\", \"scenario\": \"$scenario\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"result\": $r}"
done
kill $server; wait $server 2>/dev/null; rm -rf "$work"
