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
source scripts/deps/lib/pip-venv.sh

MCP_VERSION=1.30.0
VENV="${AGENT_MEMORY_MCP_VENV:-$PWD/.cache/venv-mcp-client}"

ensure_pip_venv mcp-client.sh "$VENV" "mcp==$MCP_VERSION" \
    "import importlib.metadata as m, mcp.client.stdio, mcp.client.streamable_http; assert m.version('mcp') == '$MCP_VERSION'"

echo "export AGENT_MEMORY_TEST_MCP_PYTHON=$VENV/bin/python"
