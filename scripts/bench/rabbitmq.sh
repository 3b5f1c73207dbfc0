#!/usr/bin/env bash
# The same generator against RabbitMQ Web-STOMP, for comparison.
#
# Debian's rabbitmq-server with the rabbitmq_web_stomp plugin listens on
# ws://127.0.0.1:15674/ws; the default user guest/guest may log in from
# loopback addresses (all of 127.0.0.0/8). Destinations are /topic/<room>
# (a topic exchange: nothing is stored, a message published while nobody is
# subscribed is dropped; parley-bench subscribes everyone before it starts
# publishing, so that is never counted as loss).
#
# By hand:
#   apt-get install -y rabbitmq-server
#   rabbitmq-plugins --offline enable rabbitmq_web_stomp
#   rabbitmq-server -detached            # Debian's wrapper runs it as user rabbitmq
#   rabbitmqctl eval 'os:getpid().'      # the pid for --server-pid (beam.smp)
#   bench/target/release/parley-bench --url ws://127.0.0.1:15674/ws \
#       --login guest --passcode guest --destination-prefix /topic/ \
#       --rooms 1 --subs-per-room 100 --pubs-per-room 1 --max-inflight 16 \
#       --duration 15 --server-pid "$PID"
#   rabbitmqctl stop
#
# This script does all of that for the scenarios in SCENARIOS (default
# "fanout rooms latency"; also "idle"), with the same shapes and knobs as
# 1-fanout.sh, 2-rooms.sh, 3-latency.sh and 4-idle.sh, then stops RabbitMQ.
# Not comparable: scenario 5 (a RabbitMQ receipt on a topic SEND does not
# mean stored anywhere). Parley-specific checks (seq) do not apply: only the
# per-(publisher, counter) loss/duplicate/order checks do.
#
#   scripts/bench/rabbitmq.sh
#   SCENARIOS=fanout SUBS="20" DURATION=3 scripts/bench/rabbitmq.sh   # quick check
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PROFILE="${PROFILE:-release}"
URL="${RABBITMQ_WS_URL:-ws://127.0.0.1:15674/ws}"
STATUS=0

if ! command -v rabbitmqctl >/dev/null; then
    echo "installing rabbitmq-server…" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >&2
fi
rabbitmq-plugins --offline enable rabbitmq_web_stomp >&2

flag=()
[[ "$PROFILE" == release ]] && flag=(--release)
(cd "$ROOT/bench" && cargo build "${flag[@]}" >&2)
BENCH="$ROOT/bench/target/$PROFILE/parley-bench"

STARTED=""
if ! rabbitmqctl -q status >/dev/null 2>&1; then
    ulimit -n 200000 2>/dev/null || true
    rabbitmq-server -detached >&2
    STARTED=1
fi
# shellcheck disable=SC2317 # called by the EXIT trap
stop_rabbit() {
    if [[ -n "$STARTED" ]]; then
        rabbitmqctl stop >&2 2>/dev/null || true
        # The Erlang port mapper it started (refuses while nodes remain).
        epmd -kill >/dev/null 2>&1 || true
    fi
}
trap stop_rabbit EXIT

for _ in $(seq 1 120); do
    if (exec 3<>/dev/tcp/127.0.0.1/15674) 2>/dev/null; then break; fi
    sleep 1
done
PID="$(rabbitmqctl eval 'os:getpid().' | tr -d '"')"
echo "rabbitmq (beam.smp) pid $PID" >&2

bench() {
    ulimit -n 200000 2>/dev/null || true
    local rc=0
    # shellcheck disable=SC2086
    "$BENCH" --url "$URL" --login guest --passcode guest --destination-prefix /topic/ \
        --server-pid "$PID" "$@" ${BENCH_ARGS:-} || rc=$?
    if [[ $rc -ne 0 ]]; then
        echo "parley-bench exited with $rc" >&2
        STATUS=$rc
    fi
}

for scenario in ${SCENARIOS:-fanout rooms latency}; do
    case "$scenario" in
    fanout)
        for subs in ${SUBS:-100 1000}; do
            bench --rooms 1 --subs-per-room "$subs" --pubs-per-room 1 \
                --max-inflight "${MAX_INFLIGHT:-16}" --size "${SIZE:-100}" \
                --warmup "${WARMUP:-3}" --duration "${DURATION:-15}" --room-prefix fanout
        done
        ;;
    rooms)
        bench --rooms "${ROOMS:-200}" --subs-per-room 5 --pubs-per-room 1 \
            --max-inflight "${MAX_INFLIGHT:-4}" --size "${SIZE:-100}" \
            --warmup "${WARMUP:-3}" --duration "${DURATION:-15}" --room-prefix rooms
        ;;
    latency)
        for rate in ${RATES:-300 500}; do
            bench --rooms 1 --subs-per-room "${SUBS_LATENCY:-100}" --pubs-per-room 1 \
                --rate "$rate" --size "${SIZE:-100}" \
                --warmup "${WARMUP:-3}" --duration "${DURATION:-15}" --room-prefix latency
        done
        ;;
    idle)
        bench --idle "${IDLE:-50000}" --rooms 100 --subs-per-room 0 --pubs-per-room 0 \
            --warmup 0 --duration "${DURATION:-10}" --room-prefix idle
        ;;
    *)
        echo "unknown scenario $scenario (fanout, rooms, latency, idle)" >&2
        exit 1
        ;;
    esac
done
exit "$STATUS"
