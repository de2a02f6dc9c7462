#!/bin/bash
# PostgreSQL keyword search before (BM25 statistics counted per query, old.sql) and after
# (statistics read from the trigger-maintained tables, new.sql), on synthetic items shaped
# like the store's (setup.sql): server-side execution time (EXPLAIN ANALYZE), median of 30
# two-word queries. Needs psql and the test cluster (source /work/prompts2/env.sh or set U).
cd "$(dirname "$0")"
U=${U:-"-h 127.0.0.1 -p 55432 -U postgres -d agent_memory_test -q"}
for n in 10000 100000; do
  psql $U -v n=$n -f setup.sql >/dev/null
  for variant in old new; do
    times=()
    for i in $(seq 1 30); do
      a=$(( (RANDOM % 60) + 1 )); b=$(( (RANDOM % 800) + 1 ))
      ms=$(psql $U -At -c "EXPLAIN (ANALYZE, FORMAT JSON) $(sed "s/:'q'/'{w$a,w$b}'/g" $variant.sql)" | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['Execution Time'])")
      times+=($ms)
    done
    printf '%s\n' "${times[@]}" | sort -n | awk -v n=$n -v v=$variant '{a[NR]=$1} END {print "n=" n, v, "median_ms=" a[int((NR+1)/2)], "max_ms=" a[NR]}'
  done
done
psql $U -c "DROP SCHEMA ann_kw CASCADE" >/dev/null
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
