#!/usr/bin/env bash
# Scenario 5 — durable ingest on Postgres: 200 rooms, 1 publisher and
# SUBS (1) subscriber per room, every SEND asks for a receipt (a RECEIPT
# means committed); closed loop per room. Reports receipts and their
# latency (receipt_p50_ms/receipt_p99_ms) next to delivery numbers, and
# "stages": the server's own p50/p99 per stage (scripts/bench/stages.py).
#
#   DATABASE_URL=postgres://user:pass@127.0.0.1:5432/parley_bench scripts/bench/5-durable-postgres.sh
#   DATABASE_URL=… ROOMS=10 DURATION=3 PROFILE=debug scripts/bench/5-durable-postgres.sh
source "$(dirname "$0")/lib.sh"
if [[ "${DATABASE_URL:-}" != postgres* ]]; then
    echo "set DATABASE_URL=postgres://… (a database parley may migrate)" >&2
    exit 1
fi
build
start_server
# Rooms persist in Postgres: a per-run prefix keeps runs apart.
bench_stages --rooms "${ROOMS:-200}" --subs-per-room "${SUBS:-1}" --pubs-per-room 1 \
    --receipts --max-inflight "${MAX_INFLIGHT:-8}" --size "${SIZE:-100}" \
    --warmup "${WARMUP:-3}" --duration "${DURATION:-15}" --users 32 \
    --room-prefix "b$(date +%s)-"
stop_server
exit "$STATUS"
