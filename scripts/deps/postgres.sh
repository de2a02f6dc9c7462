#!/usr/bin/env bash
# A throwaway PostgreSQL + pgvector for the test suite (the PostgreSQL store's tests).
#
# Usage: scripts/deps/postgres.sh [env|start|stop|restart|status]
#   env (default)  When DATABASE_URL is set: prints nothing and does nothing. Otherwise as `start`.
#   start          Installs what is missing, starts the cluster, creates the database and the
#                  `vector` extension, then prints `export DATABASE_URL=…` and
#                  `export AGENT_MEMORY_TEST_PG_URL=…` on stdout. A no-op (< 1 s) when it is up.
#   stop           Stops the cluster (fast shutdown); does nothing when it is not running.
#   restart        Stops then starts the cluster (used by the store's server-restart test).
#   status         Exits 0 when the cluster accepts connections, 1 otherwise.
#
# Environment:
#   AGENT_MEMORY_PG_DIR   where the cluster lives (default /tmp/agent-memory-pg; outside the repo).
#   AGENT_MEMORY_PG_PORT  its TCP port on 127.0.0.1 (default 55432).
#   AGENT_MEMORY_PG_SOURCE  auto (default), debian or pgserver: where PostgreSQL comes from (below).
#
# How PostgreSQL and pgvector are obtained, in order:
#   1. Debian's postgresql-15 with pgvector already installed: used as is.
#   2. As root: apt installs postgresql-15 + postgresql-server-dev-15, and pgvector is built from
#      Debian trixie's *source* package (bookworm has no pgvector); the trixie deb-src entry lives
#      in a private apt directory, so the system's apt sources are left untouched.
#   3. Otherwise (not root, or step 2 failed): the `pgserver` wheel from PyPI, which ships
#      PostgreSQL 16 and pgvector 0.6 as plain binaries, unpacked under the cache directory.
# The cluster runs as a dedicated non-root user (`agent-memory-pg`, created when run as root),
# listens on 127.0.0.1 only and trusts local connections: it is for tests, never for data.
# Durability settings are off (fsync, synchronous_commit) because the data is throwaway; a clean
# stop still writes everything out.
#
# Logs go to stderr; only `export` lines go to stdout. Anything that cannot be set up fails loudly.
set -euo pipefail

PG_MAJOR=15
PG_DIR=${AGENT_MEMORY_PG_DIR:-/tmp/agent-memory-pg}
PG_PORT=${AGENT_MEMORY_PG_PORT:-55432}
PG_SOURCE=${AGENT_MEMORY_PG_SOURCE:-auto}
PG_DATA=$PG_DIR/data
PG_LOG=$PG_DIR/server.log
PG_DB=agent_memory_test
PG_SUPERUSER=postgres
PG_OS_USER=agent-memory-pg
PGSERVER_VERSION=0.1.4
DEBIAN_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
if [ "$(id -u)" = 0 ]; then
    CACHE_DIR=/var/cache/agent-memory
else
    CACHE_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/agent-memory
fi
PGSERVER_BIN=$CACHE_DIR/pgserver-$PGSERVER_VERSION/pgserver/pginstall/bin
URL="postgres://$PG_SUPERUSER@127.0.0.1:$PG_PORT/$PG_DB"

log() { echo "postgres.sh: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

print_env() {
    echo "export DATABASE_URL=$URL"
    echo "export AGENT_MEMORY_TEST_PG_URL=$URL"
}

# The binary directory of a PostgreSQL that has pgvector, or nothing.
find_bin() {
    local bin candidates=("$DEBIAN_BIN" "$PGSERVER_BIN")
    case "$PG_SOURCE" in
    debian) candidates=("$DEBIAN_BIN") ;;
    pgserver) candidates=("$PGSERVER_BIN") ;;
    esac
    for bin in "${candidates[@]}"; do
        if [ -x "$bin/pg_ctl" ] && [ -x "$bin/initdb" ] && [ -x "$bin/psql" ] &&
            [ -f "$("$bin/pg_config" --sharedir 2>/dev/null)/extension/vector.control" ]; then
            echo "$bin"
            return 0
        fi
    done
    return 1
}

# Runs a command as the cluster's OS user (root cannot run PostgreSQL).
as_pg_user() {
    if [ "$(id -u)" = 0 ]; then
        (cd / && runuser -u "$PG_OS_USER" -- "$@")
    else
        "$@"
    fi
}

is_up() {
    local bin=$1
    [ -f "$PG_DATA/postmaster.pid" ] &&
        "$bin/psql" "$URL" -XtAqc "SELECT 1 FROM pg_extension WHERE extname = 'vector'" 2>/dev/null | grep -qx 1
}

install_debian() {
    [ "$(id -u)" = 0 ] || {
        log "not root: cannot install Debian packages"
        return 1
    }
    command -v apt-get >/dev/null || {
        log "no apt-get: not a Debian system"
        return 1
    }
    export DEBIAN_FRONTEND=noninteractive
    log "installing postgresql-$PG_MAJOR, postgresql-server-dev-$PG_MAJOR and build tools (apt)"
    apt-get update -qq >&2 || return 1
    apt-get install -y -qq "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" dpkg-dev make gcc >&2 || return 1

    # A private apt configuration that only knows trixie's sources, so that `apt-get source` can
    # fetch pgvector without adding anything to the system's sources.
    local apt_dir=$CACHE_DIR/apt-trixie-src
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/sources.list.d"
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
        >"$apt_dir/sources.list"
    local apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
        -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::Archives=$apt_dir/archives")
    log "fetching pgvector's source package from Debian trixie"
    apt-get "${apt_opts[@]}" update -qq >&2 || return 1
    local build_dir
    build_dir=$(mktemp -d "$CACHE_DIR/pgvector-build.XXXXXX")
    (cd "$build_dir" && apt-get "${apt_opts[@]}" source -qq pgvector >&2) || return 1
    local src
    src=$(find "$build_dir" -mindepth 1 -maxdepth 1 -type d -name 'pgvector-*' | head -n1)
    [ -n "$src" ] || {
        log "apt-get source pgvector produced no source directory"
        return 1
    }
    log "building $(basename "$src") against PostgreSQL $PG_MAJOR"
    # OPTFLAGS="" keeps -march=native out, so the build runs on any x86-64 machine.
    make -s -C "$src" OPTFLAGS="" PG_CONFIG="$DEBIAN_BIN/pg_config" >&2 || return 1
    make -s -C "$src" OPTFLAGS="" PG_CONFIG="$DEBIAN_BIN/pg_config" install >&2 || return 1
    rm -rf "$build_dir"
}

install_pgserver() {
    command -v python3 >/dev/null || {
        log "no python3 to fetch the pgserver wheel"
        return 1
    }
    local dest=$CACHE_DIR/pgserver-$PGSERVER_VERSION tmp
    log "fetching the pgserver $PGSERVER_VERSION wheel (PostgreSQL 16 + pgvector) from PyPI"
    tmp=$(mktemp -d)
    python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" "pgserver==$PGSERVER_VERSION" >&2 || return 1
    rm -rf "$dest"
    mkdir -p "$dest"
    python3 - "$tmp" "$dest" <<'PY' || return 1
import glob, os, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "pgserver-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        # The binaries and the shared libraries auditwheel put beside them (pgserver.libs/).
        if not info.filename.startswith(("pgserver/pginstall/", "pgserver.libs/")):
            continue
        path = z.extract(info, sys.argv[2])
        mode = (info.external_attr >> 16) & 0o777
        if mode:
            os.chmod(path, mode)
PY
    chmod -R a+rX "$dest"
    chmod a+x "$dest"/pgserver/pginstall/bin/*
    rm -rf "$tmp"
}

ensure_installed() {
    local bin
    if bin=$(find_bin); then
        echo "$bin"
        return 0
    fi
    mkdir -p "$CACHE_DIR"
    if [ "$PG_SOURCE" != pgserver ] && install_debian && bin=$(find_bin); then
        echo "$bin"
        return 0
    fi
    [ "$PG_SOURCE" = debian ] && die "could not install PostgreSQL with pgvector from Debian packages"
    log "using the pgserver wheel"
    if install_pgserver && bin=$(find_bin); then
        echo "$bin"
        return 0
    fi
    die "could not install PostgreSQL with pgvector (neither Debian packages nor the pgserver wheel); set DATABASE_URL to a PostgreSQL server with pgvector instead"
}

ensure_os_user() {
    [ "$(id -u)" = 0 ] || return 0
    id "$PG_OS_USER" >/dev/null 2>&1 && return 0
    log "creating the system user $PG_OS_USER"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_OS_USER" >&2
}

start_cluster() {
    local bin=$1 owner
    owner=$(id -un)
    [ "$(id -u)" = 0 ] && owner=$PG_OS_USER
    mkdir -p "$PG_DIR"
    chown "$owner" "$PG_DIR"
    chmod 700 "$PG_DIR"
    # A data directory made by another PostgreSQL (say, the pgserver fallback) is thrown away.
    if [ -f "$PG_DATA/PG_VERSION" ] && [ "$(cat "$PG_DATA/PG_VERSION")" != "$("$bin/pg_config" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')" ]; then
        log "discarding $PG_DATA (made by PostgreSQL $(cat "$PG_DATA/PG_VERSION"))"
        rm -rf "$PG_DATA"
    fi
    if [ ! -f "$PG_DATA/PG_VERSION" ]; then
        rm -rf "$PG_DATA"
        log "initdb $PG_DATA"
        as_pg_user "$bin/initdb" -D "$PG_DATA" -U "$PG_SUPERUSER" -A trust -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 ||
            die "initdb failed: $(tail -n 20 "$PG_DIR/initdb.log")"
    fi
    if ! as_pg_user "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
        log "starting PostgreSQL on 127.0.0.1:$PG_PORT ($PG_DATA)"
        as_pg_user "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 -o \
            "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
            start >&2 9>&- || die "PostgreSQL did not start; last lines of $PG_LOG: $(tail -n 20 "$PG_LOG" 2>/dev/null)"
    fi
    local admin="postgres://$PG_SUPERUSER@127.0.0.1:$PG_PORT/postgres" tries=0
    until "$bin/psql" "$admin" -XtAqc "SELECT 1" >/dev/null 2>&1; do
        tries=$((tries + 1))
        [ "$tries" -lt 60 ] || die "PostgreSQL on 127.0.0.1:$PG_PORT accepts no connections; see $PG_LOG"
        sleep 0.5
    done
    if [ "$("$bin/psql" "$admin" -XtAqc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != 1 ]; then
        "$bin/psql" "$admin" -Xqc "CREATE DATABASE $PG_DB" >&2 || die "cannot create database $PG_DB"
    fi
    PGOPTIONS="-c client_min_messages=warning" "$bin/psql" "$URL" -Xqc "CREATE EXTENSION IF NOT EXISTS vector" >&2 || die "cannot create extension vector"
    log "ready: $URL (pgvector $("$bin/psql" "$URL" -XtAqc "SELECT extversion FROM pg_extension WHERE extname = 'vector'"))"
}

stop_cluster() {
    local bin
    bin=$(find_bin) || return 0
    [ -f "$PG_DATA/PG_VERSION" ] || return 0
    if as_pg_user "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
        log "stopping PostgreSQL ($PG_DATA)"
        as_pg_user "$bin/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >&2 || die "PostgreSQL did not stop"
    fi
}

# Serializes concurrent runs (say, two test binaries starting the cluster at once). The server
# must not inherit the lock's descriptor (see `9>&-` where it starts), or it would hold the lock.
with_lock() {
    mkdir -p "$(dirname "$PG_DIR")"
    exec 9>"$PG_DIR.lock"
    flock 9
    "$@"
}

cmd_start() {
    local bin
    # Fast path: already up (no lock, no install check beyond finding the binaries).
    if bin=$(find_bin) && is_up "$bin"; then
        print_env
        return 0
    fi
    with_lock start_locked
    print_env
}

start_locked() {
    local bin
    bin=$(ensure_installed)
    ensure_os_user
    start_cluster "$bin"
}

case "${1:-env}" in
env)
    if [ -n "${DATABASE_URL:-}" ]; then
        exit 0
    fi
    cmd_start
    ;;
start) cmd_start ;;
stop) with_lock stop_cluster ;;
restart)
    with_lock stop_cluster
    with_lock start_locked
    ;;
status)
    bin=$(find_bin) || exit 1
    is_up "$bin"
    ;;
*) die "unknown command '$1' (expected env, start, stop, restart or status)" ;;
esac
