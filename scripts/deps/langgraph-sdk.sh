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
source scripts/deps/lib/pip-venv.sh

SDK_VERSION=0.4.14
VENV="${AGENT_MEMORY_LANGGRAPH_VENV:-$PWD/.cache/venv-langgraph-sdk}"

ensure_pip_venv langgraph-sdk.sh "$VENV" "langgraph-sdk==$SDK_VERSION" \
    "import importlib.metadata as m, langgraph_sdk; assert m.version('langgraph-sdk') == '$SDK_VERSION'"

echo "export AGENT_MEMORY_TEST_LANGGRAPH_PYTHON=$VENV/bin/python"
