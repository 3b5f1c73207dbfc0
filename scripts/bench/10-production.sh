#!/usr/bin/env bash
# Scenario 10 — production-shaped: INSTANCES (3) Parley instances behind
# nginx (deploy/nginx.conf, least_conn), one Postgres database for all of
# them, Redis relaying between them (REDIS=single: one node, REDIS_URL;
# REDIS=cluster: 3 masters + 3 replicas, REDIS_CLUSTER_NODES, sharded
# pub/sub); ROOMS (200) rooms × (SUBS (5) subscribers, 1 publisher), every
# SEND with a receipt, closed loop per room (MAX_INFLIGHT, 8). Every
# connection goes through nginx, which spreads them over the instances, so a
# room's subscribers and its publisher sit on different instances and
# delivery crosses Redis (checked: relayed_per_stored, per_instance).
#
# Reports delivered/s, stored/s (receipts of the window's SENDs; rows added
# to messages against receipts over the whole run), p50/p99 end to end, the
# CPU of every component in the measured window (each instance, nginx with
# its workers, Postgres with its backends when it runs on this machine, each
# Redis node, the generator) and where the connections and messages went
# (each instance's /metrics). Prints one JSON line (production.py); a table
# on stderr. Redis and nginx are started here on free loopback ports and
# stopped at exit, like the instances.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/prodbench scripts/bench/10-production.sh
#   DATABASE_URL=… REDIS=cluster scripts/bench/10-production.sh
#   DATABASE_URL=… ROOMS=10 DURATION=3 PROFILE=debug scripts/bench/10-production.sh
#
# Needs psql, python3, redis-server and redis-cli, nginx (stack.sh: the
# *_BIN variables). Knobs: REDIS, INSTANCES, ROOMS, SUBS, MAX_INFLIGHT,
# SIZE (100), WARMUP (3), DURATION (15), USERS (32), and lib.sh's.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/stack.sh"
if [[ "${DATABASE_URL:-}" != postgres* ]]; then
    echo "set DATABASE_URL=postgres://… (a database parley may migrate, shared by the instances)" >&2
    exit 1
fi
REDIS="${REDIS:-single}"
INSTANCES="${INSTANCES:-3}"
command -v psql >/dev/null || { echo "psql not found" >&2; exit 1; }
build

case "$REDIS" in
    single) start_redis; relay=(REDIS_URL="$REDIS_URL") ;;
    cluster) start_redis_cluster; relay=(REDIS_CLUSTER_NODES="$REDIS_CLUSTER_NODES") ;;
    *) echo "REDIS=single or REDIS=cluster" >&2; exit 1 ;;
esac

# One key for all: a token issued by one instance is valid on the others.
export JWT_SECRET="${JWT_SECRET:-$(random_secret)}"
ports=()
pids=()
for i in $(seq 1 "$INSTANCES"); do
    port="$(free_port)"
    start_parley "$port" "${relay[@]}"
    ports+=("$port")
    pids+=("$SPAWNED_PID")
done
start_nginx "${ports[@]}"

# The components whose CPU parley-bench measures over the window.
cpu=(--cpu-pid "nginx=$NGINX_PID")
for i in "${!pids[@]}"; do cpu+=(--cpu-pid "parley-$((i + 1))=${pids[i]}"); done
for i in "${!REDIS_PIDS[@]}"; do
    name="redis-$((i + 1))"
    [[ "$REDIS" != cluster ]] || name+="-$(redis_role "${REDIS_PORTS[i]}" | sed 's/slave/replica/')"
    cpu+=(--cpu-pid "$name=${REDIS_PIDS[i]}")
done
pg="$(postmaster_pid)"
if [[ -n "$pg" ]]; then
    cpu+=(--cpu-pid "postgres=$pg")
else
    echo "Postgres does not run on this machine (or is not visible): its CPU is not measured" >&2
fi

rows() { psql "$DATABASE_URL" -Atc 'SELECT count(*) FROM messages'; }
scrape() {
    local i
    for i in "${!ports[@]}"; do
        curl -fsS "http://127.0.0.1:${ports[i]}/metrics" >"$WORK/metrics-$i-$1.txt"
    done
}
rows_before="$(rows)"
scrape before
# Rooms persist in Postgres: a per-run prefix keeps runs apart.
bench_at "ws://127.0.0.1:$NGINX_PORT/ws" "${cpu[@]}" \
    --rooms "${ROOMS:-200}" --subs-per-room "${SUBS:-5}" --pubs-per-room 1 \
    --receipts --max-inflight "${MAX_INFLIGHT:-8}" --size "${SIZE:-100}" \
    --warmup "${WARMUP:-3}" --duration "${DURATION:-15}" --users "${USERS:-32}" \
    --room-prefix "p$(date +%s)-" >"$WORK/bench.json"
scrape after
rows_after="$(rows)"
# nginx logs a WebSocket when it closes: give the last closes a moment.
sleep 1
mapfile -t websockets < <(websockets_per_upstream "${ports[@]}")

if [[ -s "$WORK/bench.json" ]]; then
    args=()
    for i in "${!ports[@]}"; do
        args+=(--instance "${ports[i]}:${websockets[i]}:$WORK/metrics-$i-before.txt:$WORK/metrics-$i-after.txt")
    done
    python3 "$ROOT/scripts/bench/production.py" --bench "$WORK/bench.json" --redis "$REDIS" \
        --rows-before "$rows_before" --rows-after "$rows_after" "${args[@]}"
fi
exit "$STATUS"
