#!/usr/bin/env bash
# Scenario 2 — many rooms: 200 rooms × (5 subscribers, 1 publisher), closed
# loop per room (at most MAX_INFLIGHT undelivered messages per room).
#
#   scripts/bench/2-rooms.sh
#   ROOMS=10 DURATION=3 PROFILE=debug scripts/bench/2-rooms.sh   # quick check
source "$(dirname "$0")/lib.sh"
build
start_server
bench --rooms "${ROOMS:-200}" --subs-per-room "${SUBS:-5}" --pubs-per-room 1 \
    --max-inflight "${MAX_INFLIGHT:-4}" --size "${SIZE:-100}" \
    --warmup "${WARMUP:-3}" --duration "${DURATION:-15}" --users 32
stop_server
exit "$STATUS"
