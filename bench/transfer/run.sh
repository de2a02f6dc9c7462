#!/usr/bin/env bash
# Peak memory and time of `agent-memory export` on a SQLite database of N items (random
# 384-d vectors written directly) and S sessions of 10 messages. See bench/transfer/README.md.
#
#   bench/transfer/run.sh [N] [S] [BINARY ...]     (default: 100000 10000 target/release/agent-memory)
#
# Each binary exports the same database to /dev/null three times; the line printed per run
# has its peak RSS (the number /usr/bin/time -v prints), its peak anonymous RSS (heap and
# stacks: the SQLite reader maps the database file, whose touched pages count in the first
# number), the wall time and the export's summary (bench/transfer/peak.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-100000}
sessions=${2:-10000}
shift $(( $# > 2 ? 2 : $# ))
target=${CARGO_TARGET_DIR:-target}
binaries=("${@:-$target/release/agent-memory}")
data=${TRANSFER_BENCH_DATA:-bench/transfer/data}
mkdir -p "$data"
db=$data/export-$n-$sessions.db
if [ ! -f "$db" ]; then
    # The schema comes from the binary: one put creates the store's tables, one append the
    # session tables; both are removed again before the rows are written directly.
    "${binaries[0]}" store put --db "sqlite:$db" --embedding-provider none bench seed '{"text": "seed"}' > /dev/null
    "${binaries[0]}" store delete --db "sqlite:$db" --embedding-provider none bench seed > /dev/null
    "${binaries[0]}" sessions --db "sqlite:$db" list > /dev/null
    python3 bench/transfer/gen_db.py "$db" "$n" "$sessions" 10
fi
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); database $(du -h "$db" | cut -f1)"
for binary in "${binaries[@]}"; do
    for round in 1 2 3; do
        echo "$binary round $round: $(python3 bench/transfer/peak.py "$binary" export --db "sqlite:$db" --embedder none --out /dev/null)"
    done
done
