#!/usr/bin/env bash
# Scenario 6 — history page latency in a large room: fills one room with
# EVENTS (100,000) events through the REST API (MIX=log: messages, 10%
# edited, 5% deleted, 20% reacted; MIX=plain: messages only), then times
# PAGES (500) random 200-event history pages. SQLite by default; set
# DATABASE_URL=postgres://… for Postgres.
#
#   scripts/bench/6-history.sh
#   DATABASE_URL=postgres://… MIX=plain scripts/bench/6-history.sh
source "$(dirname "$0")/lib.sh"
flag=()
[[ "$PROFILE" == release ]] && flag=(--release)
(cd "$ROOT" && cargo build "${flag[@]}" --bin parley >&2)
PARLEY="$ROOT/target/$PROFILE/parley"
start_server
PARLEY="http://127.0.0.1:$PORT" python3 "$ROOT/scripts/bench/history.py" || STATUS=$?
stop_server
exit "$STATUS"
