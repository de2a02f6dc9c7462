#!/usr/bin/env bash
# Installs the official LangGraph Python SDK (`langgraph-sdk` on PyPI) into a virtual
# environment under the repository's git-ignored .cache/ folder, for the test that drives
# `agent-memory serve` with the real client (crates/agent-memory-cli/tests/serve_langgraph_sdk.rs),
# and prints `export AGENT_MEMORY_TEST_LANGGRAPH_PYTHON=<venv>/bin/python`.
#
# Idempotent: when the venv already imports the pinned version, nothing is installed.
# Logs go to stderr; only the export line goes to stdout. Any failure makes it fail.
set -euo pipefail
cd "$(dirname "$0")/../.."

SDK_VERSION=0.4.14
VENV="${AGENT_MEMORY_LANGGRAPH_VENV:-$PWD/.cache/venv-langgraph-sdk}"
PYTHON="$VENV/bin/python"

log() { echo "langgraph-sdk.sh: $*" >&2; }

installed() {
    [ -x "$PYTHON" ] &&
        "$PYTHON" -c "import importlib.metadata as m, langgraph_sdk; assert m.version('langgraph-sdk') == '$SDK_VERSION'" \
            >/dev/null 2>&1
}

if installed; then
    log "langgraph-sdk $SDK_VERSION already installed in $VENV"
else
    log "creating $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2
    log "installing langgraph-sdk==$SDK_VERSION from PyPI"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check "langgraph-sdk==$SDK_VERSION" >&2
    if ! installed; then
        log "langgraph-sdk $SDK_VERSION does not import after installation"
        exit 1
    fi
    log "installed in $VENV"
fi

echo "export AGENT_MEMORY_TEST_LANGGRAPH_PYTHON=$PYTHON"
