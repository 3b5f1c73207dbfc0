#!/usr/bin/env bash
# Scenario 8 — GET /api/v1/rooms with unread counts for a reader in ROOMS
# (500) rooms holding MESSAGES (1,000,000) messages: p50/p99 with every
# message unread and with 10 unread per room. SQLite by default; set
# DATABASE_URL=postgres://… for Postgres (a fresh database).
#
#   scripts/bench/8-room-list.sh
#   DATABASE_URL=postgres://… scripts/bench/8-room-list.sh
source "$(dirname "$0")/lib.sh"
flag=()
[[ "$PROFILE" == release ]] && flag=(--release)
(cd "$ROOT" && cargo build "${flag[@]}" --bin parley --example bench_sql >&2)
PARLEY="${PARLEY_UNDER_TEST:-$ROOT/target/$PROFILE/parley}"
export BENCH_SQL="$ROOT/target/$PROFILE/examples/bench_sql"
export DATABASE_URL="${DATABASE_URL:-sqlite://$WORK/room-list.db?mode=rwc}"
start_server
PARLEY="http://127.0.0.1:$PORT" python3 "$ROOT/scripts/bench/roomlist.py" || STATUS=$?
stop_server
exit "$STATUS"
