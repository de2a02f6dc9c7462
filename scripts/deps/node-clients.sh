#!/usr/bin/env bash
# Installs the official JavaScript clients, pinned by scripts/deps/node-clients/package-lock.json,
# into the repository's git-ignored .cache/ folder, for the test that drives
# `agent-memory serve` and `agent-memory mcp` with them
# (crates/agent-memory-cli/tests/node_clients.rs):
#   * @langchain/langgraph-sdk: LangGraph's JavaScript SDK (`client.store.*`);
#   * @modelcontextprotocol/sdk: the official TypeScript MCP SDK (stdio and streamable HTTP).
# Prints `export AGENT_MEMORY_TEST_NODE_CLIENTS=<folder holding node_modules>`.
#
# Needs Node.js 20 or later and npm (on the machine, or from the distribution's packages).
# Idempotent: when the folder already holds the locked versions, nothing is installed.
# Logs go to stderr; only the export line goes to stdout. Any failure makes it fail.
set -euo pipefail
cd "$(dirname "$0")/../.."

log() { echo "node-clients.sh: $*" >&2; }
SOURCE="$PWD/scripts/deps/node-clients"
TARGET="${AGENT_MEMORY_NODE_CLIENTS:-$PWD/.cache/node-clients}"

command -v node >/dev/null && command -v npm >/dev/null || {
    log "node and npm are required (Node.js 20 or later)"
    exit 1
}
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || {
    log "Node.js $(node --version) is too old: the MCP SDK needs 20 or later"
    exit 1
}

installed() {
    # Every locked top-level dependency is installed at its locked version.
    (cd "$TARGET" && node -e '
        const fs = require("fs");
        const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
        for (const name of Object.keys(lock.packages[""].dependencies)) {
            const want = lock.packages["node_modules/" + name].version;
            const have = JSON.parse(fs.readFileSync("node_modules/" + name + "/package.json", "utf8")).version;
            if (have !== want) process.exit(1);
        }') 2>/dev/null
}

mkdir -p "$TARGET"
if ! cmp -s "$SOURCE/package-lock.json" "$TARGET/package-lock.json" || ! installed; then
    log "installing the locked clients into $TARGET"
    cp "$SOURCE/package.json" "$SOURCE/package-lock.json" "$TARGET/"
    (cd "$TARGET" && npm ci --no-audit --no-fund --loglevel=error >&2)
    installed || { log "the installed versions differ from the lock file"; exit 1; }
fi
echo "export AGENT_MEMORY_TEST_NODE_CLIENTS=$TARGET"
