#!/usr/bin/env bash
# Scenario 1 — fan-out: 1 room, 1 publisher, 100 and then 1000 subscribers,
# closed loop (the publisher keeps at most MAX_INFLIGHT messages not yet
# delivered to every subscriber), 15 s measured. A fresh server per run.
#
#   scripts/bench/1-fanout.sh
#   SUBS="10 50" DURATION=3 PROFILE=debug scripts/bench/1-fanout.sh   # quick check
source "$(dirname "$0")/lib.sh"
build
for subs in ${SUBS:-100 1000}; do
    start_server
    bench --rooms 1 --subs-per-room "$subs" --pubs-per-room 1 \
        --max-inflight "${MAX_INFLIGHT:-16}" --size "${SIZE:-100}" \
        --warmup "${WARMUP:-3}" --duration "${DURATION:-15}" --users 16
    stop_server
done
exit "$STATUS"
