#!/usr/bin/env bash
# Installs the official Python MCP SDK (`mcp` on PyPI) into a virtual environment under the
# repository's git-ignored .cache/ folder, for the tests that drive `agent-memory mcp` (stdio)
# and `agent-memory serve`'s /mcp endpoint (streamable HTTP) with the real client
# (crates/agent-memory-cli/tests/mcp_python_client.rs), and prints
# `export AGENT_MEMORY_TEST_MCP_PYTHON=<venv>/bin/python`.
#
# Idempotent: when the venv already imports the pinned version, nothing is installed.
# Logs go to stderr; only the export line goes to stdout. Any failure makes it fail.
set -euo pipefail
cd "$(dirname "$0")/../.."

MCP_VERSION=1.30.0
VENV="${AGENT_MEMORY_MCP_VENV:-$PWD/.cache/venv-mcp-client}"
PYTHON="$VENV/bin/python"

log() { echo "mcp-client.sh: $*" >&2; }

installed() {
    [ -x "$PYTHON" ] &&
        "$PYTHON" -c "import importlib.metadata as m, mcp.client.stdio, mcp.client.streamable_http; assert m.version('mcp') == '$MCP_VERSION'" \
            >/dev/null 2>&1
}

if installed; then
    log "mcp $MCP_VERSION already installed in $VENV"
else
    log "creating $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2
    log "installing mcp==$MCP_VERSION from PyPI"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check "mcp==$MCP_VERSION" >&2
    if ! installed; then
        log "mcp $MCP_VERSION does not import after installation"
        exit 1
    fi
    log "installed in $VENV"
fi

echo "export AGENT_MEMORY_TEST_MCP_PYTHON=$PYTHON"
