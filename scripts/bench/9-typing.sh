#!/usr/bin/env bash
# Scenario 9 — typing fan-out cost: SUBSCRIBERS (100) watch one room's
# activity while TYPISTS (10) send RATE (1000) typing signals per second in
# all (TYPING_RATE=0), for SECONDS (10). Needs e2e/node_modules
# (`npm ci` in e2e/). SQLite by default (typing stores nothing).
#
#   scripts/bench/9-typing.sh
source "$(dirname "$0")/lib.sh"
flag=()
[[ "$PROFILE" == release ]] && flag=(--release)
(cd "$ROOT" && cargo build "${flag[@]}" --bin parley >&2)
PARLEY="$ROOT/target/$PROFILE/parley"
export TYPING_RATE=0
start_server
PARLEY="http://127.0.0.1:$PORT" SERVER_PID="$SERVER_PID" node "$ROOT/scripts/bench/typing.mjs" || STATUS=$?
stop_server
exit "$STATUS"
