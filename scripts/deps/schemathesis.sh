#!/usr/bin/env bash
# Installs schemathesis (PyPI), the property-based API tester that reads the server's own
# OpenAPI document, into a virtual environment under the repository's git-ignored .cache/
# folder, for crates/agent-memory-cli/tests/openapi_schemathesis.rs, and prints
# `export AGENT_MEMORY_TEST_SCHEMATHESIS=<venv>/bin/schemathesis`.
#
# Idempotent: when the venv already imports the pinned version, nothing is installed.
# Logs go to stderr; only the export line goes to stdout. Any failure makes it fail.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/deps/lib/pip-venv.sh

SCHEMATHESIS_VERSION=4.32.5
VENV="${AGENT_MEMORY_SCHEMATHESIS_VENV:-$PWD/.cache/venv-schemathesis}"

ensure_pip_venv schemathesis.sh "$VENV" "schemathesis==$SCHEMATHESIS_VERSION" \
    "import importlib.metadata as m, schemathesis; assert m.version('schemathesis') == '$SCHEMATHESIS_VERSION'"

echo "export AGENT_MEMORY_TEST_SCHEMATHESIS=$VENV/bin/schemathesis"
