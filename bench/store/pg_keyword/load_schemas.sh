#!/bin/bash
# Server time per keyword search on the load test's own data, before (schema version 2:
# gin.sql) and after (version 3, keyword postings: postings.sql): pgbench, one client,
# every statement planned per execution as the backend's sessions do
# (plan_cache_mode = force_custom_plan), the first 300 queries of bench/load/data/queries.txt
# turned into query terms (stopwords out, as keyword::query_terms does).
#
#   bench/store/pg_keyword/load_schemas.sh OLD_SCHEMA NEW_SCHEMA [LIMIT]
#
# The schemas are those bench/load/run.sh leaves behind, for example with
# PG_SCHEMA_PREFIX=kw_old AGENT_MEMORY_BIN=<a session-3 build> and PG_SCHEMA_PREFIX=kw_new.
# DATABASE_URL names the cluster.
set -euo pipefail
cd "$(dirname "$0")"
old=$1 new=$2 limit=${3:-10}
queries=../../load/data/queries.txt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$queries" "$work/terms.tsv" <<'PY'
import re, sys
source = open("../../../crates/agent-memory/src/store/keyword.rs").read()
stopwords = set(re.findall(r'^    "([a-z]+)",$', source, re.M))
with open(sys.argv[2], "w") as out:
    for n, line in enumerate(open(sys.argv[1]).read().splitlines()[:300], 1):
        terms = []
        for token in (t.lower() for t in re.split(r"[^0-9A-Za-z]+", line) if t):
            if token not in terms:
                terms.append(token)
        if any(t not in stopwords for t in terms):
            terms = [t for t in terms if t not in stopwords]
        out.write(f"{n}\t{{{','.join(terms)}}}\n")
PY
psql "$DATABASE_URL" -qc "DROP TABLE IF EXISTS public.pg_keyword_terms_$$" \
    -c "CREATE TABLE public.pg_keyword_terms_$$ (id int PRIMARY KEY, terms text)" \
    -c "\copy public.pg_keyword_terms_$$ FROM $work/terms.tsv"
for variant in "gin $old" "postings $new"; do
    set -- $variant
    {
        echo '\set id random(1, 300)'
        echo "SELECT terms FROM public.pg_keyword_terms_$$ WHERE id = :id \gset"
        sed -e "s/:schema\./$2./g" -e "s/:limit/$limit/g" "$1.sql"
    } >"$work/$1.pgbench"
    printf '%s (%s, limit %s): ' "$1" "$2" "$limit"
    PGOPTIONS="-c plan_cache_mode=force_custom_plan" pgbench -n -M simple -t 300 -c 1 -f "$work/$1.pgbench" "$DATABASE_URL" 2>&1 \
        | grep -E "latency average|error" | head -2
done
psql "$DATABASE_URL" -qc "DROP TABLE public.pg_keyword_terms_$$"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
