# Sourced by the load scripts (from the repository root). Makes $work (a scratch folder,
# removed on exit with any server still running). `find_bin` sets $bin, the agent-memory
# program that the servers run.
# `start_server DATABASE_URL [SERVE ARGS…]` starts `$bin serve` on a free loopback port and
# sets $server (its pid) and $url; `wait_until_idle` waits for it to settle; `stop_server`
# stops it.

work=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# $AGENT_MEMORY_BIN (an A/B against another build), or a release build of the CLI without
# candle (local models) or OpenTelemetry: the built-in embedder needs neither.
find_bin() {
    if [ -n "${AGENT_MEMORY_BIN:-}" ]; then
        bin=$AGENT_MEMORY_BIN
    else
        export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
        cargo build -q --release -p agent-memory-cli --no-default-features
        bin=$CARGO_TARGET_DIR/release/agent-memory
    fi
}

start_server() { # database-url [serve args…]
    "$bin" serve --database-url "$1" --listen 127.0.0.1:0 "${@:2}" >"$work/serve.out" 2>"$work/serve.err" &
    server=$!
    for _ in $(seq 300); do
        grep -q '^listening on ' "$work/serve.out" 2>/dev/null && break
        sleep 0.1
    done
    url=$(sed -n 's/^listening on //p' "$work/serve.out")
    [ -n "$url" ] || { cat "$work/serve.err"; exit 1; }
}

# Waits until the server has been idle for 2 s (under 5% of a core; at most 300 s): the
# in-process indexes load and the HNSW graph builds in the background after the first
# searches, and a scenario should measure the steady state.
wait_until_idle() {
    local ticks idle=0 last now
    ticks=$(getconf CLK_TCK)
    last=$(awk '{print $14 + $15}' "/proc/$server/stat")
    for _ in $(seq 300); do
        sleep 1
        now=$(awk '{print $14 + $15}' "/proc/$server/stat")
        if [ $((now - last)) -le $((ticks / 20)) ]; then idle=$((idle + 1)); else idle=0; fi
        last=$now
        [ $idle -ge 2 ] && break
    done
}

stop_server() {
    kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    server=
}

# Copies the last server's stderr log (kept in $work until exit) to PATH.
keep_server_log() { # path
    cp "$work/serve.err" "$1"
}
