#!/usr/bin/env bash
# Scenario 4 — idle connections: 50,000 authenticated, subscribed, idle
# connections held for DURATION; reports the server's RSS per connection
# (rss_per_idle_connection_kib) and the connect rate.
#
# Needs many file descriptors on both sides: lib.sh raises `ulimit -n` to
# 200000 (as root), and parley-bench spreads its sockets over 127.0.0.1,
# 127.0.0.2, … (one address per 25,000 connections).
#
#   scripts/bench/4-idle.sh
#   IDLE=2000 DURATION=2 PROFILE=debug scripts/bench/4-idle.sh   # quick check
source "$(dirname "$0")/lib.sh"
# 16 users hold all the connections: lift the per-user limit (100 by default).
export MAX_CONNECTIONS_PER_USER="${MAX_CONNECTIONS_PER_USER:-1000000}"
build
start_server
bench --idle "${IDLE:-50000}" --rooms "${ROOMS:-100}" --subs-per-room 0 --pubs-per-room 0 \
    --warmup 0 --duration "${DURATION:-10}" --users 16 \
    --connect-concurrency "${CONNECT_CONCURRENCY:-128}"
stop_server
exit "$STATUS"
