#!/usr/bin/env bash
# Scenario 3 — latency at fixed load: 1 room, 100 subscribers, 1 publisher
# at 300 and then 500 messages/s (open loop), 15 s measured. Each JSON line
# also carries "stages": the server's own p50/p99 per stage of a message's
# way (scripts/bench/stages.py; BENCHMARKS.md, "Reproducing").
#
#   scripts/bench/3-latency.sh
#   SUBS=20 RATES="50 100" DURATION=3 PROFILE=debug scripts/bench/3-latency.sh
source "$(dirname "$0")/lib.sh"
build
for rate in ${RATES:-300 500}; do
    start_server
    bench_stages --rooms 1 --subs-per-room "${SUBS:-100}" --pubs-per-room 1 \
        --rate "$rate" --size "${SIZE:-100}" \
        --warmup "${WARMUP:-3}" --duration "${DURATION:-15}" --users 16
    stop_server
done
exit "$STATUS"
