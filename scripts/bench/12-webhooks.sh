#!/usr/bin/env bash
# Scenario 12 — outgoing webhooks (README, "Bots and webhooks"): deliveries
# per second to a local receiver (Python, on loopback) with one webhook and
# with HOOKS (100) webhooks on a room, and the added cost of a stored
# message with 10 webhooks on its room (scripts/bench/webhooks.py).
# DATABASE_URL: default a fresh SQLite file; a Postgres URL works too.
#
#   scripts/bench/12-webhooks.sh
#   PROFILE=debug MESSAGES=200 HOOKS=10 MESSAGES_MANY=20 POSTS=50 scripts/bench/12-webhooks.sh   # quick check
source "$(dirname "$0")/lib.sh"
flag=()
[[ "$PROFILE" == release ]] && flag=(--release)
[[ -n "${PARLEY_UNDER_TEST:-}" ]] || (cd "$ROOT" && cargo build "${flag[@]}" --bin parley >&2)
PARLEY="${PARLEY_UNDER_TEST:-$ROOT/target/$PROFILE/parley}"
RECEIVER_PORT="$(free_port)"
spawn "$WORK/receiver.log" python3 "$ROOT/scripts/bench/webhooks.py" receive "$RECEIVER_PORT"
start_parley "$PORT" WEBHOOK_ALLOWED_HOSTS="127.0.0.1:$RECEIVER_PORT"
SERVER_PID=$SPAWNED_PID
PARLEY="http://127.0.0.1:$PORT" SERVER_PID="$SERVER_PID" RECEIVER="http://127.0.0.1:$RECEIVER_PORT" \
    python3 "$ROOT/scripts/bench/webhooks.py" run || STATUS=$?
stop_server
exit "$STATUS"
