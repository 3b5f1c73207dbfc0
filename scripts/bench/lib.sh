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
#   PARLEY_UNDER_TEST       a parley binary to run instead of building this checkout's
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
# Processes started with spawn (other than SERVER_PID), stopped at exit
# in reverse order.
SPAWNED=()

build() {
    local flag=()
    [[ "$PROFILE" == release ]] && flag=(--release)
    echo "building parley and parley-bench ($PROFILE)…" >&2
    # PARLEY_UNDER_TEST=path: benchmark that server binary (an A/B against
    # another commit's build) instead of building this checkout's.
    [[ -n "${PARLEY_UNDER_TEST:-}" ]] || (cd "$ROOT" && cargo build "${flag[@]}" --bin parley >&2)
    (cd "$ROOT/bench" && cargo build "${flag[@]}" >&2)
    PARLEY="${PARLEY_UNDER_TEST:-$ROOT/target/$PROFILE/parley}"
    BENCH="$ROOT/bench/target/$PROFILE/parley-bench"
}

# A TCP port that is free on 127.0.0.1 right now (the kernel picks it).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

random_secret() {
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'
}

# spawn LOG CMD…: run CMD in the background (output to LOG), remember it
# for cleanup; its pid is in SPAWNED_PID.
spawn() {
    local log=$1
    shift
    "$@" </dev/null >"$log" 2>&1 &
    SPAWNED_PID=$!
    SPAWNED+=("$SPAWNED_PID")
}

# stop_pid PID: SIGTERM, up to 35 s to exit (a draining parley takes up to
# 30 s; README, "Deploying"), then SIGKILL.
stop_pid() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 70); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    # Forget it, so its pid (which may be reused) is never signalled again.
    local p rest=()
    for p in "${SPAWNED[@]}"; do
        [[ "$p" == "$pid" ]] || rest+=("$p")
    done
    SPAWNED=("${rest[@]}")
}

# wait_http URL PID LOG WHAT: until URL answers 2xx (120 s at most); exits
# the script with LOG's tail if PID dies or time runs out.
wait_http() {
    local url=$1 pid=$2 log=$3 what=$4
    for _ in $(seq 1 240); do
        if curl -fsS -o /dev/null "$url" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$what exited at start:" >&2
            tail -n 20 "$log" >&2
            exit 1
        fi
        sleep 0.5
    done
    echo "$what not ready after 120 s" >&2
    tail -n 20 "$log" >&2
    exit 1
}

# start_parley PORT [VAR=VALUE…]: a parley on 127.0.0.1:PORT with the
# benchmark settings (bench/README.md) and DATABASE_URL (default: a fresh
# SQLite file) and JWT_SECRET (default: random), then VAR=VALUE…; waits for
# /readyz. Its pid is in SPAWNED_PID.
start_parley() {
    local port=$1
    shift
    local db="${DATABASE_URL:-sqlite://$WORK/bench-$RANDOM.db?mode=rwc}"
    local log="$WORK/parley-$port-$RANDOM.log"
    # Many sockets: the server needs the open-files limit raised.
    ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    spawn "$log" env BIND_ADDR="127.0.0.1:$port" \
        DATABASE_URL="$db" \
        JWT_SECRET="${JWT_SECRET:-$(random_secret)}" \
        JWT_TTL_SECS=3600 \
        SEND_RATE=0 \
        SIGNUPS_PER_IP=1000000000 \
        OUTBOUND_QUEUE="${OUTBOUND_QUEUE:-65536}" \
        ALLOWED_ORIGINS='*' \
        RUST_LOG="${RUST_LOG:-warn}" \
        "$@" \
        "$PARLEY"
    echo "parley pid $SPAWNED_PID on port $port, log $log" >&2
    wait_http "http://127.0.0.1:$port/readyz" "$SPAWNED_PID" "$log" "parley on port $port"
}

# start_server: a fresh parley on 127.0.0.1:$PORT.
start_server() {
    start_parley "$PORT"
    SERVER_PID=$SPAWNED_PID
}

stop_server() {
    [[ -n "$SERVER_PID" ]] || return 0
    stop_pid "$SERVER_PID"
    SERVER_PID=""
}

cleanup() {
    stop_server
    while (( ${#SPAWNED[@]} > 0 )); do
        stop_pid "${SPAWNED[-1]}"
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# bench [flags…]: parley-bench against the running server; its JSON line goes
# to stdout. A non-zero exit (2: errors, loss, duplicates…) is remembered in
# STATUS and the script goes on.
bench() {
    bench_at "ws://127.0.0.1:$PORT/ws" --server-pid "$SERVER_PID" "$@"
}

# bench_stages [flags…]: bench, with the server's per-stage latency (p50/p99
# of each histogram between a scrape of /metrics before and after the run)
# added to its JSON line as "stages" (scripts/bench/stages.py).
bench_stages() {
    local metrics="http://127.0.0.1:$PORT/metrics"
    local before="$WORK/metrics-before" after="$WORK/metrics-after" out="$WORK/bench-out"
    python3 "$ROOT/scripts/bench/stages.py" scrape "$metrics" "$before"
    bench "$@" >"$out"
    python3 "$ROOT/scripts/bench/stages.py" scrape "$metrics" "$after"
    python3 "$ROOT/scripts/bench/stages.py" report "$before" "$after" <"$out"
}

# bench_at URL [flags…]: the same against any WebSocket URL (a balancer).
bench_at() {
    local url=$1
    shift
    ulimit -n 200000 2>/dev/null || true
    local rc=0
    # shellcheck disable=SC2086
    "$BENCH" --url "$url" --signup "$@" ${BENCH_ARGS:-} || rc=$?
    if [[ $rc -ne 0 ]]; then
        echo "parley-bench exited with $rc" >&2
        STATUS=$rc
    fi
}
