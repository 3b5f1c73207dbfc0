# shellcheck shell=bash
# shellcheck disable=SC2034 # STATUS is read by the scenario scripts
# Shared helpers for the benchmark scenario scripts (sourced, not run).
#
# Environment knobs (all optional):
#   PROFILE=release|debug   build profile of parley and parley-bench (release)
#   PORT=18080              port the benchmarked parley listens on (127.0.0.1)
#   DATABASE_URL            default: a fresh SQLite file per run in a temp dir
#   JWT_SECRET              default: random (required by parley with Postgres)
#   OUTBOUND_QUEUE=65536    parley's per-connection queue
#   RUST_LOG=warn           parley's log filter (its log goes to a temp file)
#   BENCH_ARGS              extra flags appended to every parley-bench run
#
# Every run prints parley-bench's JSON line on stdout; progress and the
# server's log location go to stderr.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PROFILE="${PROFILE:-release}"
PORT="${PORT:-18080}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/parley-bench.XXXXXX")"
SERVER_PID=""
STATUS=0

build() {
    local flag=()
    [[ "$PROFILE" == release ]] && flag=(--release)
    echo "building parley and parley-bench ($PROFILE)…" >&2
    (cd "$ROOT" && cargo build "${flag[@]}" --bin parley >&2)
    (cd "$ROOT/bench" && cargo build "${flag[@]}" >&2)
    PARLEY="$ROOT/target/$PROFILE/parley"
    BENCH="$ROOT/bench/target/$PROFILE/parley-bench"
}

# start_server: a fresh parley on 127.0.0.1:$PORT.
start_server() {
    local db="${DATABASE_URL:-sqlite://$WORK/bench-$RANDOM.db?mode=rwc}"
    local secret="${JWT_SECRET:-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
    local log="$WORK/parley-$RANDOM.log"
    # Many sockets: the server needs the open-files limit raised.
    ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    env BIND_ADDR="127.0.0.1:$PORT" \
        DATABASE_URL="$db" \
        JWT_SECRET="$secret" \
        JWT_TTL_SECS=3600 \
        SEND_RATE=0 \
        SIGNUPS_PER_IP=1000000000 \
        OUTBOUND_QUEUE="${OUTBOUND_QUEUE:-65536}" \
        ALLOWED_ORIGINS='*' \
        RUST_LOG="${RUST_LOG:-warn}" \
        "$PARLEY" >"$log" 2>&1 &
    SERVER_PID=$!
    echo "parley pid $SERVER_PID, log $log" >&2
    for _ in $(seq 1 240); do
        if curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "parley exited at start:" >&2
            tail -n 20 "$log" >&2
            exit 1
        fi
        sleep 0.5
    done
    echo "parley not ready after 120 s" >&2
    tail -n 20 "$log" >&2
    exit 1
}

stop_server() {
    [[ -n "$SERVER_PID" ]] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 70); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.5
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

cleanup() {
    stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# bench [flags…]: parley-bench against the running server; its JSON line goes
# to stdout. A non-zero exit (2: errors, loss, duplicates…) is remembered in
# STATUS and the script goes on.
bench() {
    ulimit -n 200000 2>/dev/null || true
    local rc=0
    # shellcheck disable=SC2086
    "$BENCH" --url "ws://127.0.0.1:$PORT/ws" --signup --server-pid "$SERVER_PID" \
        "$@" ${BENCH_ARGS:-} || rc=$?
    if [[ $rc -ne 0 ]]; then
        echo "parley-bench exited with $rc" >&2
        STATUS=$rc
    fi
}
