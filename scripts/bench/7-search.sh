#!/usr/bin/env bash
# Scenario 7 — search latency over MESSAGES (1,000,000) messages, Latin and
# Hangul mixed, in ROOMS (100) rooms: loaded with SQL into the real schema
# (indexes and triggers maintained as in production), then GET
# /api/v1/search timed per kind of query (scripts/bench/search.py). Runs on
# SQLite and on Postgres (BACKENDS="sqlite postgres"); Postgres needs an
# admin URL (PG_ADMIN_URL, else TEST_DATABASE_URL) and gets a fresh
# database with a UTF-8 locale (C.UTF-8), dropped afterwards.
#
#   scripts/bench/7-search.sh
#   BACKENDS=postgres MESSAGES=200000 scripts/bench/7-search.sh
source "$(dirname "$0")/lib.sh"
flag=()
[[ "$PROFILE" == release ]] && flag=(--release)
(cd "$ROOT" && cargo build "${flag[@]}" --bin parley --example bench_sql >&2)
PARLEY="$ROOT/target/$PROFILE/parley"
export BENCH_SQL="$ROOT/target/$PROFILE/examples/bench_sql"
PG_DB=""
drop_pg() {
    [[ -n "$PG_DB" ]] || return 0
    echo "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" | "$BENCH_SQL" "$PG_ADMIN" || true
    PG_DB=""
}
trap 'drop_pg; cleanup' EXIT
for backend in ${BACKENDS:-sqlite postgres}; do
    if [[ "$backend" == postgres ]]; then
        PG_ADMIN="${PG_ADMIN_URL:-${TEST_DATABASE_URL:?set PG_ADMIN_URL to a Postgres admin URL}}"
        PG_DB="parley_bench_search_$RANDOM"
        echo "CREATE DATABASE \"$PG_DB\" TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8'" |
            "$BENCH_SQL" "$PG_ADMIN"
        export DATABASE_URL="${PG_ADMIN%/*}/$PG_DB"
    else
        export DATABASE_URL="sqlite://$WORK/search.db?mode=rwc"
    fi
    start_server
    PARLEY="http://127.0.0.1:$PORT" python3 "$ROOT/scripts/bench/search.py" || STATUS=$?
    stop_server
    drop_pg
done
exit "$STATUS"
