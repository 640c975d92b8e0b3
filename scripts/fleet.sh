#!/usr/bin/env bash
# A local fleet: N gateway replicas (separate `revstream serve` processes, each with its own
# home) on one PostgreSQL and one Redis, behind HAProxy from Debian. Runs in the foreground
# until Ctrl-C or SIGTERM, then stops HAProxy and every replica (the trap below).
#
#   scripts/fleet.sh [--replicas N] [--port P] [--config FILE] [--database-url URL]
#                    [--redis-url URL] [--dir DIR]
#
#   --replicas N        gateway replicas (default 3)
#   --port P            the load balancer's port on 127.0.0.1 (default 8000)
#   --config FILE       the replicas' config file (default: the embedded default model)
#   --database-url URL  the shared store (default: $REVSTREAM_DATABASE_URL, else the local
#                       PostgreSQL database revstream_fleet, created when missing)
#   --redis-url URL     the shared rate-limit counters (default: $REVSTREAM_REDIS_URL, else
#                       redis://127.0.0.1:6379/0)
#   --dir DIR           homes, logs and haproxy.cfg (default: a new directory under $TMPDIR;
#                       kept on exit for its logs)
#
# When ready it prints `fleet ready: http://127.0.0.1:P` and writes DIR/fleet.env (shell
# variables: FLEET_URL, FLEET_DIR, FLEET_REPLICAS, HAPROXY_PID, REPLICA_<i>_PID, _URL and _HOME
# for i in 1..N, and REVSTREAM_HOME, REVSTREAM_DATABASE_URL, REVSTREAM_REDIS_URL and
# REVSTREAM_KEYS_DIR (the key directory every replica shares: one log key, one pseudonym
# secret, one end-user key), so that
# `set -a; . DIR/fleet.env; set +a` points every `revstream` command at the fleet's store).
# Every response through the balancer says which replica served it (`x-revstream-replica:
# replica-<i>`). The first replica starts alone (it migrates the store and, on a new store,
# prints the admin token and a demo key, shown here once); the others then start together.
#
# HAProxy is installed the way scripts/browser.sh installs Chromium: apt-get, with `sudo -n`
# when not root.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
REPLICAS=3
PORT=8000
CONFIG=""
DATABASE_URL=${REVSTREAM_DATABASE_URL:-}
REDIS_URL=${REVSTREAM_REDIS_URL:-}
DIR=""
REPLICA_START_S=180      # a replica loading the embedded model on a busy machine takes a while
STOP_WAIT_S=35           # uvicorn's graceful shutdown is 30 s
DEFAULT_DATABASE=revstream_fleet

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit "${1:-0}"; }
step() { printf '==> %s\n' "$*" >&2; }
die() { printf 'fleet: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --replicas) REPLICAS=$2; shift 2 ;;
        --port) PORT=$2; shift 2 ;;
        --config) CONFIG=$(realpath "$2"); shift 2 ;;
        --database-url) DATABASE_URL=$2; shift 2 ;;
        --redis-url) REDIS_URL=$2; shift 2 ;;
        --dir) DIR=$2; shift 2 ;;
        -h|--help) usage 0 ;;
        *) printf "fleet: unknown option %s\n\n" "$1" >&2; usage 2 >&2 ;;
    esac
done
[[ $REPLICAS =~ ^[1-9][0-9]?$ ]] || die "--replicas must be 1 to 99"
[[ $PORT =~ ^[0-9]+$ ]] || die "--port must be a port number"
[ -z "$CONFIG" ] || [ -f "$CONFIG" ] || die "no config file $CONFIG"

REVSTREAM=$REPO/.venv/bin/revstream
PYTHON=$REPO/.venv/bin/python
[ -x "$REVSTREAM" ] || die "no $REVSTREAM: run \`make setup\` first"

# --- HAProxy, PostgreSQL, Redis --------------------------------------------------------
if ! command -v haproxy >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || die "the fleet needs HAProxy: install it with your system's package manager"
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        SUDO=(sudo -n)   # never prompts: CI has no standard input
    fi
    export DEBIAN_FRONTEND=noninteractive
    step "installing Debian's haproxy (the fleet's load balancer)"
    "${SUDO[@]}" apt-get update -q
    "${SUDO[@]}" apt-get install -y --no-install-recommends haproxy
fi
if [ -z "$DATABASE_URL" ] || [ -z "$REDIS_URL" ]; then
    bash "$REPO/scripts/services.sh" >/dev/null   # the local PostgreSQL and Redis, started if needed
fi
if [ -z "$DATABASE_URL" ]; then
    if ! psql -h 127.0.0.1 -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DEFAULT_DATABASE'" | grep -q 1; then
        step "creating the PostgreSQL database $DEFAULT_DATABASE"
        createdb -h 127.0.0.1 "$DEFAULT_DATABASE"
    fi
    DATABASE_URL="postgresql+psycopg://127.0.0.1:5432/$DEFAULT_DATABASE"
fi
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
case "$DATABASE_URL" in
    postgresql*) ;;
    *) die "replicas share one PostgreSQL store; $DATABASE_URL is not a PostgreSQL URL" ;;
esac

if [ -z "$DIR" ]; then
    DIR=$(mktemp -d -t revstream-fleet.XXXXXX)
fi
mkdir -p "$DIR"
DIR=$(realpath "$DIR")

free_port() { "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --- stopping: whatever happens, nothing is left running -------------------------------
PIDS=()
HAPROXY_PID=""
stop() {
    trap - EXIT INT TERM
    if [ -n "$HAPROXY_PID" ]; then kill -TERM "$HAPROXY_PID" 2>/dev/null || true; fi
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    local deadline=$((SECONDS + STOP_WAIT_S))
    for pid in "$HAPROXY_PID" "${PIDS[@]}"; do
        [ -n "$pid" ] || continue
        while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    step "fleet stopped; logs in $DIR"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

wait_healthy() {  # URL PID LOG
    local deadline=$((SECONDS + REPLICA_START_S))
    until curl -fsS -o /dev/null --max-time 2 "$1/health" 2>/dev/null; do
        kill -0 "$2" 2>/dev/null || { tail -n 40 "$3" >&2; die "$1 exited before it was healthy (log: $3)"; }
        [ $SECONDS -lt $deadline ] || { tail -n 40 "$3" >&2; die "$1 not healthy within ${REPLICA_START_S}s (log: $3)"; }
        sleep 0.2
    done
}

# --- replicas ---------------------------------------------------------------------------
PORTS=()
start_replica() {  # i
    local home=$DIR/replica-$1 port
    port=$(free_port)
    mkdir -p "$home"
    local args=("$REVSTREAM" serve)
    if [ -n "$CONFIG" ]; then args+=(--config "$CONFIG"); fi
    REVSTREAM_HOME=$home REVSTREAM_DATABASE_URL=$DATABASE_URL REVSTREAM_REDIS_URL=$REDIS_URL \
        REVSTREAM_KEYS_DIR=$DIR/keys \
        "${args[@]}" --host 127.0.0.1 --port "$port" --workers 1 >"$home/server.log" 2>&1 &
    PIDS[$1]=$!
    PORTS[$1]=$port
}

step "replica 1 of $REPLICAS (migrates the store) on $DATABASE_URL, Redis $REDIS_URL; files in $DIR"
start_replica 1
wait_healthy "http://127.0.0.1:${PORTS[1]}" "${PIDS[1]}" "$DIR/replica-1/server.log"
if grep -q 'first start' "$DIR/replica-1/server.log"; then   # a new store: its secrets, shown once
    sed -n '/first start/,/admin token rotate/p' "$DIR/replica-1/server.log"
    echo "(the addresses above are replica 1's own; the fleet answers at http://127.0.0.1:$PORT)"
fi
if [ "$REPLICAS" -gt 1 ]; then
    step "replicas 2 to $REPLICAS"
    for i in $(seq 2 "$REPLICAS"); do start_replica "$i"; done
    for i in $(seq 2 "$REPLICAS"); do
        wait_healthy "http://127.0.0.1:${PORTS[$i]}" "${PIDS[$i]}" "$DIR/replica-$i/server.log"
    done
fi

# --- the load balancer ------------------------------------------------------------------
# Least connections (streams are long and uneven); a replica leaves the pool after 2 failed
# health checks a second apart. Only a request whose connection was refused is retried on
# another replica: one that reached a replica may have been served, and is never sent twice.
{
    cat <<EOF
global
    maxconn 4096

defaults
    mode http
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-request 30s
    timeout http-keep-alive 30s
    option redispatch
    retries 2
    retry-on conn-failure

frontend revstream
    bind 127.0.0.1:$PORT
    option forwardfor
    default_backend replicas

backend replicas
    balance leastconn
    option httpchk GET /health
    http-check expect status 200
    default-server inter 1s fall 2 rise 2
    http-response set-header x-revstream-replica %s
EOF
    for i in $(seq 1 "$REPLICAS"); do
        echo "    server replica-$i 127.0.0.1:${PORTS[$i]} check"
    done
} >"$DIR/haproxy.cfg"
haproxy -c -q -f "$DIR/haproxy.cfg" || die "haproxy rejects $DIR/haproxy.cfg"
haproxy -db -f "$DIR/haproxy.cfg" >"$DIR/haproxy.log" 2>&1 &
HAPROXY_PID=$!
wait_healthy "http://127.0.0.1:$PORT" "$HAPROXY_PID" "$DIR/haproxy.log"

{
    echo "FLEET_URL=http://127.0.0.1:$PORT"
    echo "FLEET_DIR=$DIR"
    echo "FLEET_REPLICAS=$REPLICAS"
    echo "REVSTREAM_HOME=$DIR/replica-1"
    printf 'REVSTREAM_DATABASE_URL=%q\n' "$DATABASE_URL"
    printf 'REVSTREAM_REDIS_URL=%q\n' "$REDIS_URL"
    echo "REVSTREAM_KEYS_DIR=$DIR/keys"
    echo "HAPROXY_PID=$HAPROXY_PID"
    for i in $(seq 1 "$REPLICAS"); do
        echo "REPLICA_${i}_PID=${PIDS[$i]}"
        echo "REPLICA_${i}_URL=http://127.0.0.1:${PORTS[$i]}"
        echo "REPLICA_${i}_HOME=$DIR/replica-$i"
    done
} >"$DIR/fleet.env.tmp"
mv "$DIR/fleet.env.tmp" "$DIR/fleet.env"
echo "fleet ready: http://127.0.0.1:$PORT ($REPLICAS replicas; $DIR/fleet.env; Ctrl-C stops it)"

# Until Ctrl-C, SIGTERM or the balancer's end; a replica that dies is left to HAProxy's checks.
wait "$HAPROXY_PID" || true
