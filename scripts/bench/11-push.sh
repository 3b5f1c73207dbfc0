#!/usr/bin/env bash
# Scenario 11 — notifications (README, "Notifications"), SQLite:
#  (a) the cost of a message in a room of MEMBERS (5,000) members at the
#      default level, against a room of 2: POST …/messages p50/p99;
#  (b) pushes per second from one instance to a local push receiver
#      (Python, on loopback): SUBSCRIBERS (200) members at level `all`, each
#      with a subscription, MESSAGES (50) messages.
# Members and subscriptions are written straight into the database (sqlite3).
#
#   PROFILE=debug scripts/bench/11-push.sh
source "$(dirname "$0")/lib.sh"
flag=()
[[ "$PROFILE" == release ]] && flag=(--release)
[[ -n "${PARLEY_UNDER_TEST:-}" ]] || (cd "$ROOT" && cargo build "${flag[@]}" --bin parley >&2)
PARLEY="${PARLEY_UNDER_TEST:-$ROOT/target/$PROFILE/parley}"
DB="$WORK/push.db"
export DATABASE_URL="sqlite://$DB?mode=rwc"
RECEIVER_PORT="$(free_port)"
spawn "$WORK/receiver.log" python3 "$ROOT/scripts/bench/push.py" receive "$RECEIVER_PORT"
start_parley "$PORT" PUSH_ALLOWED_HOSTS="127.0.0.1:$RECEIVER_PORT"
SERVER_PID=$SPAWNED_PID
PARLEY="http://127.0.0.1:$PORT" DB="$DB" RECEIVER="http://127.0.0.1:$RECEIVER_PORT" \
    python3 "$ROOT/scripts/bench/push.py" run || STATUS=$?
stop_server
exit "$STATUS"
