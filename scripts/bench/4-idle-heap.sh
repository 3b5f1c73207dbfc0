#!/usr/bin/env bash
# Scenario 4's heap profile: parley built with the system allocator
# (`--features system-allocator`; heaptrack does not see mimalloc) under
# heaptrack, IDLE idle connections opened by parley-bench as in
# 4-idle.sh, then the peak heap per connection by component
# (scripts/bench/heap-summary.py). Needs heaptrack (apt-get install heaptrack).
#
#   IDLE=5000 scripts/bench/4-idle-heap.sh [OUT_PREFIX]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
IDLE="${IDLE:-5000}"
PORT="${PORT:-18080}"
OUT="${1:-$(mktemp -d "${TMPDIR:-/tmp}/parley-heap.XXXXXX")/heap}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/parley-heap-run.XXXXXX")"
(cd "$ROOT" && cargo build --release --bin parley --features system-allocator >&2)
(cd "$ROOT/bench" && cargo build --release >&2)
cp "$ROOT/target/release/parley" "$WORK/parley-system-allocator"
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
env BIND_ADDR="127.0.0.1:$PORT" DATABASE_URL="sqlite://$WORK/bench.db?mode=rwc" \
    JWT_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" JWT_TTL_SECS=3600 \
    SEND_RATE=0 SIGNUPS_PER_IP=1000000000 OUTBOUND_QUEUE=65536 ALLOWED_ORIGINS='*' \
    MAX_CONNECTIONS_PER_USER=1000000 RUST_LOG=warn \
    heaptrack -o "$OUT" "$WORK/parley-system-allocator" >"$WORK/log" 2>&1 &
TRACKER=$!
for _ in $(seq 1 240); do
    curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz" 2>/dev/null && break
    sleep 0.5
done
PID="$(pgrep -n -f "^$WORK/parley-system-allocator")"
"$ROOT/bench/target/release/parley-bench" --url "ws://127.0.0.1:$PORT/ws" --signup \
    --server-pid "$PID" --idle "$IDLE" --rooms 100 --subs-per-room 0 --pubs-per-room 0 \
    --warmup 0 --duration 2 --users 16 --connect-concurrency 128 --quiet
kill -TERM "$PID"
wait "$TRACKER" || true
heaptrack_print -f "$OUT.zst" -a 0 -T 0 -l 0 -p 0 -F "$OUT.stacks" \
    --flamegraph-cost-type peak >/dev/null
"$ROOT/scripts/bench/heap-summary.py" "$OUT.stacks" "$IDLE" "parley $(git -C "$ROOT" rev-parse --short HEAD)"
rm -rf "$WORK"
